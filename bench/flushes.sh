#!/bin/sh
# Count the flushes on a write's critical path (issue 19's "measure first"):
# vaultd runs under strace (flush and write system calls of every thread,
# with the file each one acts on), and one client does N creates, N
# updates and N deletes one after another, so each write is a group commit
# of its own; then one KEK rotation of the N records left. Per phase it
# prints the flushes (fsync, fdatasync, msync, sync_file_range) per write
# by file, the writes by file, and the order of the syscalls of one commit
# in the middle of the phase, as the writer thread issued them.
#   bench/flushes.sh [N]     (default 50)
# Environment: BUILD (build-bench-rel), KEEP=1 keeps the traces.
set -eu
cd "$(dirname "$0")/.."
. bench/conf.sh
n=${1:-50}
BUILD=${BUILD:-build-bench-rel}
command -v strace >/dev/null || apt-get install -y -q strace >/dev/null
dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-flushes-XXXXXX")
pid= spid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$dir"' EXIT
vault_conf "$dir"
"$BUILD/vault/vaultd" --dev -c "$dir/vaultd.conf" 2>"$dir/vaultd.log" &
pid=$!
for _ in $(seq 200); do [ -S "$dir/run/vaultd.sock" ] && break; sleep 0.05; done
ctl() { "$BUILD/client/vaultctl" -s "$dir/run/vaultd.sock" "$@"; }

# trace PHASE COMMAND...: run COMMAND with every thread of vaultd traced.
trace() {
	phase=$1; shift
	strace -f -qq -p "$pid" -y -e trace=fsync,fdatasync,msync,sync_file_range,write,writev,pwrite64,pwritev \
		-o "$dir/$phase.trace" &
	spid=$!
	sleep 0.5 # strace attaches to each thread
	"$@"
	sleep 0.2
	kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
}

creates() { i=0; while [ $i -lt "$n" ]; do ctl -p transactional create email=p$i@example.com >> "$dir/tokens"; i=$((i + 1)); done; }
updates() { while read -r t; do ctl -p transactional update "$t" phone=+15555550100 >/dev/null; done < "$dir/tokens"; }
deletes() { head -n $((n / 2)) "$dir/tokens" | while read -r t; do ctl -p transactional delete "$t" --reason administrative >/dev/null; done; }
rotate() { ctl keys rotate kek --wait >/dev/null; }

: > "$dir/tokens"
trace create creates
trace update updates
trace delete deletes
trace rotate rotate

# Per phase: flushes and writes per operation by file (the socket's writes
# are replies, left out), then one commit's sequence from the writer thread
# (the thread that flushes data.mdb). LMDB writes its meta page through a
# second descriptor opened O_DSYNC: that pwrite64 of the meta (120 bytes at
# offset 32 or 4128) is a flush too, and ends a commit. The writer's side
# flushes (audit trail, deletion journal) run on another thread while the
# store commits (vault/writer_flush.h): the sequence shows both.
# The descriptors of data.mdb opened with O_DSYNC (octal 010000 in fdinfo's
# flags): LMDB writes its meta page through one unless it runs without its
# own syncs (MDB_NOSYNC, the commit log: vault/store/store_lmdb.c).
dsync=
for f in /proc/"$pid"/fd/*; do
	case $(readlink "$f") in */data.mdb) ;; *) continue ;; esac
	flags=$(awk '/^flags:/ { print $2 }' "/proc/$pid/fdinfo/${f##*/}")
	[ $((0$flags & 010000)) -ne 0 ] && dsync="$dsync ${f##*/}"
done
for phase in create update delete rotate; do
	ops=$n; [ $phase = delete ] && ops=$((n / 2)); [ $phase = rotate ] && ops=1
	echo "== $phase: $ops operations"
	writer=$(awk '/fdatasync\(.*(data\.mdb|commit\.log)/ { print $1; exit }' "$dir/$phase.trace")
	awk -v ops="$ops" -v w="$writer" -v dsync="$dsync" '
		/^[0-9]+ +(fsync|fdatasync|msync|sync_file_range|write|writev|pwrite64|pwritev)\(/ {
			call = $2; sub(/\(.*/, "", call)
			file = $0; if (!match(file, /<[^>]*>/)) next
			file = substr(file, RSTART + 1, RLENGTH - 2)
			if (file ~ /^(socket|pipe|anon_inode):/ || file ~ /\/dev\/null/) next
			n = split(file, parts, "/"); file = parts[n]
			kind = call ~ /sync/ ? "flush" : "write"
			fd = $0; sub(/^[0-9]+ +[a-z0-9_]+\(/, "", fd); sub(/<.*/, "", fd)
			if (call == "pwrite64" && file == "data.mdb" && index(" " dsync " ", " " fd " ") &&
			    $0 ~ /, 120, (32|4128)(\) = 120| <unfinished \.\.\.>)$/) {
				kind = "flush"; call = "pwrite64(O_DSYNC meta)"
			}
			count[kind " " call " " file ($1 == w ? "" : " (other thread)")]++
		}
		END { for (k in count) printf "  %-58s %8.2f per operation\n", k, count[k] / ops }' \
		"$dir/$phase.trace" | sort
	[ -n "$writer" ] || continue
	echo "  one commit, in order: the writer thread's writes and flushes, and the flushes of other"
	echo "  threads while it runs (a call another thread's call interrupts shows as <unfinished>):"
	awk -v w="$writer" -v ops="$ops" -v dsync="$dsync" '
		/^[0-9]+ +(fsync|fdatasync|msync|sync_file_range|write|writev|pwrite64|pwritev)\(/ {
			call = $2; sub(/\(.*/, "", call)
			fd = $0; sub(/^[0-9]+ +[a-z0-9_]+\(/, "", fd); sub(/<.*/, "", fd)
			if ($1 != w && call !~ /sync/) next
			file = $0; if (!match(file, /<[^>]*>/)) next
			file = substr(file, RSTART + 1, RLENGTH - 2); n = split(file, p, "/"); file = p[n]
			if (file ~ /^(socket|pipe|anon_inode):/ || file ~ /vaultd\.log$/) next
			meta = call == "pwrite64" && file == "data.mdb" && $0 ~ /, 120, (32|4128)(\) = 120| <unfinished \.\.\.>)$/
			ds = meta && index(" " dsync " ", " " fd " ")
			seq[++len] = ($1 == w ? "writer  " : "thread " $1) "  " (ds ? "pwrite64(O_DSYNC meta)" : meta ? "pwrite64(meta)" : call) " " file \
			    ($0 ~ /unfinished/ ? " <unfinished>" : "") (call ~ /sync/ || ds ? "   <- flush" : "")
			if (meta) ends[++nend] = len
		}
		/^[0-9]+ +<\.\.\. (fsync|fdatasync|pwrite64) resumed>/ {
			call = $3
			if ($1 != w && call !~ /sync/) next
			seq[++len] = ($1 == w ? "writer  " : "thread " $1) "  ... " call " returns"
		}
		END {
			if (nend < 3) exit
			m = int(nend / 2); from = ends[m - 1] + 1; to = ends[m]
			while (to < len && seq[to + 1] !~ /^writer +[a-z]/) to++
			for (i = from; i <= to; i++) printf "    %s\n", seq[i]
		}' "$dir/$phase.trace"
done
