#!/bin/sh
# Key rotation under load: start a real vaultd on a temporary directory,
# populate it, measure readers and writers before and during a KEK rotation
# (bench/rotation-bench.c), stop it.
#   bench/rotation.sh [rotation-bench options], e.g. -n 1000000 -d 10 -r 2 -w 1
# Environment: BUILD (build dir, default build), MAP_SIZE (default 16G),
# ROTATION_BATCH (default: vaultd's, 2000), WORKERS (default: vaultd's, 2),
# BACKUP_BEFORE_RETIRE (default: vaultd's, true; with -R),
# KEEP=1 keeps the directory and vaultd.log.
set -eu
cmdline="bench/rotation.sh $*"
[ -n "${BUILD:-}" ] && cmdline="BUILD=$BUILD $cmdline"
[ -n "${ROTATION_BATCH:-}" ] && cmdline="ROTATION_BATCH=$ROTATION_BATCH $cmdline"
[ -n "${WORKERS:-}" ] && cmdline="WORKERS=$WORKERS $cmdline"
[ -n "${BACKUP_BEFORE_RETIRE:-}" ] && cmdline="BACKUP_BEFORE_RETIRE=$BACKUP_BEFORE_RETIRE $cmdline"
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-rotation-XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -m 700 "$dir/run"
{
	echo "[server]"
	echo "socket_path = $dir/run/vaultd.sock"
	# The populate phase keeps 256 creates in flight per connection.
	echo "max_pending_per_connection = 256"
	[ -n "${WORKERS:-}" ] && echo "workers = $WORKERS"
	echo "[storage]"
	echo "data_dir = $dir/data"
	# 1M records take well under 1 GiB; the rewrap copies every page once.
	echo "map_size_bytes = ${MAP_SIZE:-16G}"
	echo "[keys]"
	echo "keyring_path = $dir/keys/keyring"
	echo "root_key_path = $dir/keys/root.key"
	[ -n "${ROTATION_BATCH:-}" ] && echo "rotation_batch = $ROTATION_BATCH"
	[ -n "${BACKUP_BEFORE_RETIRE:-}" ] && echo "backup_before_retire = $BACKUP_BEFORE_RETIRE"
	# -T asks for three tokens per created record.
	echo "[limits]"
	echo "token_issue_per_minute = 100000000"
	true
} > "$dir/vaultd.conf"
"$BUILD/vault/vaultd" --dev -c "$dir/vaultd.conf" 2>"$dir/vaultd.log" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/run/vaultd.sock" ] && break; sleep 0.05; done
[ -S "$dir/run/vaultd.sock" ] || { cat "$dir/vaultd.log" >&2; exit 1; }
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "vaultd: $(grep -v '^\[\|_path\|data_dir' "$dir/vaultd.conf" | tr '\n' ' ')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
rc=0
BENCH_CMDLINE=$cmdline "$BUILD/bench/rotation-bench" -s "$dir/run/vaultd.sock" -f "$dir/data" -P "$pid" "$@" || rc=$?
echo "data file: $(du -h "$dir/data/data.mdb" | cut -f1) on disk, $(stat -c %s "$dir/data/data.mdb") bytes"
grep -E "info: rotation|rotation step|error|retire of epoch|compacted" "$dir/vaultd.log" | tail -6 || true
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wall time (script): $(( $(date +%s) - start )) s"
exit $rc
