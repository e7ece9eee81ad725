#!/bin/sh
# Issue 7's benchmark in one run (`make bench`): the real release-built
# vaultd on a temporary socket and data directory, the no-op floor over the
# same socket and protocol, and PostgreSQL 15 + pgcrypto doing the same
# create and detokenize work, side by side with ratios and the targets.
#
#   bench/compare.sh
#
# Environment (all optional):
#   SCALE="100000"        records preloaded; a list ("100000 1000000") runs
#                         the vault part once per scale and compares them
#   PG_SCALE=             rows preloaded into PostgreSQL (default: the
#                         smallest SCALE); PG=off skips PostgreSQL
#   PGVAULT=on            vaultd on the PostgreSQL backend (issue 15), one
#                         node then two nodes on one database, on the same
#                         PostgreSQL server; off skips (PG=off does too)
#   PG_VAULT_SCALE=20000  records preloaded for those rows (through vaultd
#                         on PostgreSQL, so slower than LMDB's preload)
#   SECONDS_PER_ROW=5     measuring time of each row
#   BATCH=100             tokens per batched detokenize
#   BUILD=build-bench-rel release build directory (set up here if missing)
#   RESULTS=bench/results where the TSV rows, the log and the PNG go
#   PRELOAD_CONNS=8 PRELOAD_DEPTH=256  preload pipelining
#   AUDIT=on              [audit] enabled; off measures without the trail
#   KEEP=1                keep the temporary directory
# Not part of `make test`: it takes minutes and needs the machine to itself.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
SCALE=${SCALE:-100000}
SECONDS_PER_ROW=${SECONDS_PER_ROW:-5}
BATCH=${BATCH:-100}
BUILD=${BUILD:-build-bench-rel}
RESULTS=${RESULTS:-bench/results}
PRELOAD_CONNS=${PRELOAD_CONNS:-8}
PRELOAD_DEPTH=${PRELOAD_DEPTH:-256}
PG=${PG:-on}
PGVAULT=${PGVAULT:-on}
PG_VAULT_SCALE=${PG_VAULT_SCALE:-20000}
AUDIT=${AUDIT:-on}
scales=$(echo "$SCALE" | tr ',' ' ')
smallest=$(for s in $scales; do echo "$s"; done | sort -n | head -1)
PG_SCALE=${PG_SCALE:-$smallest}
PGBIN=/usr/lib/postgresql/15/bin

# ---- what this needs -------------------------------------------------------
./scripts/install-deps.sh
need=""
for p in postgresql-15 postgresql-contrib gnuplot-nox; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		need="$need $p"
done
if [ -n "$need" ]; then
	echo "installing:$need"
	SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null
fi
[ -f "$BUILD/build.ninja" ] ||
	meson setup "$BUILD" --buildtype=release -Db_ndebug=true -Dwerror=false >/dev/null
ninja -C "$BUILD" vault/vaultd bench/vault-compare >/dev/null

mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-compare-XXXXXX")
chmod 711 "$dir"
vpid=
pgvpids=
pgdata=
cleanup() {
	if [ -n "$vpid" ]; then kill "$vpid" 2>/dev/null || true; wait "$vpid" 2>/dev/null || true; fi
	for p in $pgvpids; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	if [ -n "$pgdata" ] && [ -f "$pgdata/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# PostgreSQL refuses to run as root: use the postgres user then.
if [ "$(id -u)" -eq 0 ]; then
	pguser=postgres
	id "$pguser" >/dev/null 2>&1 || pguser=nobody
	as_pg() { runuser -u "$pguser" -- "$@"; }
else
	as_pg() { "$@"; }
fi

log=$RESULTS/compare.log
: > "$log"
say() { echo "$@" | tee -a "$log"; }

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
say "# vault benchmark: bench/compare.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
say "command: SCALE=\"$SCALE\" PG_SCALE=$PG_SCALE PGVAULT=$PGVAULT PG_VAULT_SCALE=$PG_VAULT_SCALE SECONDS_PER_ROW=$SECONDS_PER_ROW BATCH=$BATCH AUDIT=$AUDIT bench/compare.sh"
say "machine: $cpu; $(nproc) vCPUs; $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM; $(uname -sr)"
say "disk: $(df -h "$dir" | awk 'NR==2 {print $1}') ($(findmnt -no FSTYPE -T "$dir" 2>/dev/null || echo '?'))"
say "source: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- vault common client keys 2>/dev/null || echo ' + uncommitted changes under vault/ common/ client/ keys/')"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the vault, once per scale ---------------------------------------------
start_vaultd() {
	vd=$dir/vault-$1
	mkdir -p "$vd" && mkdir -m 700 "$vd/run"
	{
		echo "[server]"
		echo "socket_path = $vd/run/vaultd.sock"
		echo "max_pending_per_connection = $PRELOAD_DEPTH"
		echo "[storage]"
		echo "data_dir = $vd/data"
		echo "map_size_bytes = ${MAP_SIZE:-64G}"
		echo "[keys]"
		echo "keyring_path = $vd/keys/keyring"
		echo "root_key_path = $vd/keys/root.key"
		if [ "$AUDIT" = off ]; then echo "[audit]"; echo "enabled = false"; fi
	} > "$vd/vaultd.conf"
	"$BUILD/vault/vaultd" --dev -c "$vd/vaultd.conf" 2>"$vd/vaultd.log" &
	vpid=$!
	for _ in $(seq 200); do [ -S "$vd/run/vaultd.sock" ] && break; sleep 0.05; done
	[ -S "$vd/run/vaultd.sock" ] || { cat "$vd/vaultd.log" >&2; exit 1; }
}

stop_vaultd() {
	kill "$vpid"
	wait "$vpid" || true
	vpid=
}

for s in $scales; do
	say ""
	say "## vault at $s records (vaultd $BUILD, release; audit $AUDIT)"
	start_vaultd "$s"
	t0=$(date +%s)
	"$BUILD/bench/vault-compare" -s "$vd/run/vaultd.sock" -o "$RESULTS/vault-$s.tsv" \
		-n "$s" -d "$SECONDS_PER_ROW" -b "$BATCH" -C "$PRELOAD_CONNS" -p "$PRELOAD_DEPTH" \
		-P "$vpid" -f "$vd/data" 2>&1 | tee -a "$log"
	# Pages LMDB actually uses (the file also holds free pages).
	mdb_stat -e "$vd/data" 2>/dev/null |
		awk -F': ' '/Page size/ {ps=$2} /Number of pages used/ {u=$2}
		    END {if (ps && u) printf "#fact\tlmdb_used_bytes_end\t%.0f\n", ps*u}' \
		>> "$RESULTS/vault-$s.tsv"
	printf '#fact\tseconds\t%d\n' $(( $(date +%s) - t0 )) >> "$RESULTS/vault-$s.tsv"
	# The Python client (client/python) against the same vaultd, same run.
	if [ "$s" = "$smallest" ]; then
		py=/usr/bin/python3; [ -x "$py" ] || py=python3
		"$py" bench/python-bench.py -s "$vd/run/vaultd.sock" -o "$RESULTS/python.tsv" \
			-d "$SECONDS_PER_ROW" 2>&1 | tee -a "$log"
		[ -s "$RESULTS/python.tsv" ] || { echo "bench/python-bench.py failed" >&2; exit 1; }
	fi
	stop_vaultd
	rm -rf "$vd"
done

# ---- PostgreSQL 15 + pgcrypto ------------------------------------------------
pgrow() { # name clients tps logprefix -> one TSV row, latencies from the per-transaction logs
	cat "$4".* | awk '{print $3}' | sort -n > "$4.sorted"
	awk -v name="$1" -v c="$2" -v tps="$3" '{v[NR]=$1} END {
		n=NR; if (n == 0) n = 1
		i50=int(0.5*(n-1)+0.5)+1; i99=int(0.99*(n-1)+0.5)+1; i999=int(0.999*(n-1)+0.5)+1
		printf "%s\t%s\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t0\n", name, c, tps, tps, v[i50], v[i99], v[i999]
	}' "$4.sorted"
	rm -f "$4".*
}

# ---- vaultd on the PostgreSQL backend, one node and two (issue 15) ------------
# On the pgcrypto baseline's server, while it runs: each node count gets a
# fresh database of its own (the same preload, no rows left by the other
# run), node A makes the development keys, node B gets copies of A's root
# key and ring (every node needs the same root key; tests/e2e/test_nodes.c)
# and its own socket, data directory, audit trail and node_name.
start_pgnode() { # name database
	nd=$dir/pgvault-$1
	mkdir -p "$nd" && mkdir -m 700 "$nd/run"
	{
		echo "[server]"
		echo "socket_path = $nd/run/vaultd.sock"
		echo "node_name = bench-$1"
		echo "max_pending_per_connection = $PRELOAD_DEPTH"
		echo "[storage]"
		echo "backend = postgresql"
		echo "postgresql = host=$dir/pg user=postgres dbname=$2"
		echo "data_dir = $nd/data"
		echo "[keys]"
		echo "keyring_path = $nd/keys/keyring"
		echo "root_key_path = $nd/keys/root.key"
		if [ "$AUDIT" = off ]; then echo "[audit]"; echo "enabled = false"; fi
	} > "$nd/vaultd.conf"
	"$BUILD/vault/vaultd" --dev -c "$nd/vaultd.conf" 2>"$nd/vaultd.log" &
	npid=$!
	pgvpids="$pgvpids $npid"
	for _ in $(seq 600); do [ -S "$nd/run/vaultd.sock" ] && break; sleep 0.05; done
	[ -S "$nd/run/vaultd.sock" ] || { cat "$nd/vaultd.log" >&2; exit 1; }
}

stop_pgnodes() {
	for p in $pgvpids; do kill "$p"; wait "$p" || true; done
	pgvpids=
}

pgvault_rows() {
	for nodes in 1 2; do
		db=vault_bench_$nodes
		say ""
		say "## vaultd on PostgreSQL, $nodes node(s), $PG_VAULT_SCALE records (database $db on the server above)"
		psql -c "CREATE DATABASE $db"
		start_pgnode a "$db"
		socks="-s $dir/pgvault-a/run/vaultd.sock"; pids="-P $npid"
		if [ "$nodes" = 2 ]; then
			mkdir -m 700 "$dir/pgvault-b" "$dir/pgvault-b/keys"
			cp -p "$dir/pgvault-a/keys/root.key" "$dir/pgvault-a/keys/keyring" "$dir/pgvault-b/keys/"
			start_pgnode b "$db"
			socks="$socks -s $dir/pgvault-b/run/vaultd.sock"; pids="$pids -P $npid"
		fi
		t0=$(date +%s)
		# -f: the fdatasync probe on the same disk (there is no data.mdb).
		"$BUILD/bench/vault-compare" $socks $pids -o "$RESULTS/pgvault-$nodes.tsv" \
			-n "$PG_VAULT_SCALE" -d "$SECONDS_PER_ROW" -b "$BATCH" -C "$PRELOAD_CONNS" \
			-p "$PRELOAD_DEPTH" -f "$dir/pgvault-a/data" 2>&1 | tee -a "$log"
		grep -q '^mixed: the writes' "$RESULTS/pgvault-$nodes.tsv" ||
			{ echo "vault-compare on PostgreSQL failed" >&2; tail -n 20 "$dir/pgvault-a/vaultd.log" >&2; exit 1; }
		printf '#fact\tseconds\t%d\n' $(( $(date +%s) - t0 )) >> "$RESULTS/pgvault-$nodes.tsv"
		printf '#fact\tdb_bytes\t%s\n' "$(psql -At -c "SELECT pg_database_size('$db')")" \
			>> "$RESULTS/pgvault-$nodes.tsv"
		stop_pgnodes
		rm -rf "$dir/pgvault-a" "$dir/pgvault-b"
	done
}

rm -f "$RESULTS/pgvault-1.tsv" "$RESULTS/pgvault-2.tsv"
if [ "$PG" = on ]; then
	say ""
	say "## PostgreSQL 15 + pgcrypto at $PG_SCALE rows"
	pgdata=$dir/pg/data
	mkdir -p "$dir/pg" && chown "${pguser:-$(id -un)}" "$dir/pg" 2>/dev/null || true
	as_pg "$PGBIN/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >/dev/null
	as_pg "$PGBIN/pg_ctl" -D "$pgdata" -l "$dir/pg/log" -w start -o \
		"-c listen_addresses='' -k $dir/pg -c shared_buffers=2GB -c max_wal_size=8GB -c max_connections=200" \
		>/dev/null
	P="-h $dir/pg -U postgres -d postgres"
	psql() { command psql $P -X -q -v ON_ERROR_STOP=1 "$@"; }
	psql -c "CREATE EXTENSION pgcrypto" -c "CREATE TABLE people (
		id bigserial PRIMARY KEY, token uuid NOT NULL,
		first_name bytea, last_name bytea, email bytea, phone bytea, postal_address bytea,
		created timestamptz NOT NULL DEFAULT now())"
	# Preload on both cores; the token is a UUID derived from the row
	# number so that the benchmark can pick one at random (it is as random
	# in the index as gen_random_uuid(), which the creates use).
	t0=$(date +%s)
	half=$((PG_SCALE / 2))
	for range in "1 $half" "$((half + 1)) $PG_SCALE"; do
		set -- $range
		psql -c "INSERT INTO people (token, first_name, last_name, email, phone)
			SELECT md5(g::text)::uuid, pgp_sym_encrypt('Pat', 'bench-key'),
			    pgp_sym_encrypt('Example', 'bench-key'),
			    pgp_sym_encrypt('person' || g || '@example.com', 'bench-key'),
			    pgp_sym_encrypt('+18583755875', 'bench-key')
			FROM generate_series($1, $2) g" &
	done
	wait
	psql -c "CREATE UNIQUE INDEX people_token ON people (token)" -c "VACUUM ANALYZE people"
	say "  preload: $PG_SCALE rows in $(( $(date +%s) - t0 )) s (2 sessions, INSERT ... SELECT)"
	cat > "$dir/pg/detok.sql" <<'SQL'
\set id random(1, :scale)
SELECT pgp_sym_decrypt(email, :key) FROM people WHERE token = md5(:id::text)::uuid;
SQL
	cat > "$dir/pg/create.sql" <<'SQL'
INSERT INTO people (token, first_name, last_name, email, phone, postal_address)
VALUES (gen_random_uuid(), pgp_sym_encrypt('Benchmark', :key), pgp_sym_encrypt('Person', :key),
    pgp_sym_encrypt('bench.person@example.com', :key), pgp_sym_encrypt('+18583755875', :key),
    pgp_sym_encrypt(E'1 Main Street\nSan Diego, CA 92101', :key))
RETURNING token;
SQL
	pgbench_run() { # script clients name
		lp=$dir/pg/lat
		out=$(cd "$dir/pg" && pgbench $P -n -M prepared -c "$2" -j "$2" -T "$SECONDS_PER_ROW" \
			-D scale="$PG_SCALE" -D key=bench-key -f "$1" -l --log-prefix="$lp" 2>&1) ||
			{ echo "$out" >&2; exit 1; }
		tps=$(echo "$out" | awk '/^tps = / {print $3; exit}')
		r=$(pgrow "$3" "$2" "$tps" "$lp")
		echo "$r" >> "$RESULTS/pg.tsv"
		echo "$r" | awk -F'\t' '{printf "  %-24s %-8s %9.0f req/s  p50 %7.1f  p99 %7.1f  p99.9 %7.1f us\n", $1, $2, $3, $5, $6, $7}' | tee -a "$log"
	}
	: > "$RESULTS/pg.tsv"
	for c in 1 4 8 16; do pgbench_run "$dir/pg/detok.sql" "$c" "PG detokenize 1 field"; done
	for c in 1 8 64; do pgbench_run "$dir/pg/create.sql" "$c" "PG create (durable)"; done
	printf '#fact\trows\t%s\n' "$PG_SCALE" >> "$RESULTS/pg.tsv"
	printf '#fact\ttable_bytes\t%s\n' "$(psql -At -c "SELECT pg_total_relation_size('people')")" >> "$RESULTS/pg.tsv"
	if [ "$PGVAULT" = on ]; then pgvault_rows; fi
	as_pg "$PGBIN/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null
	pgdata=
else
	: > "$RESULTS/pg.tsv"
fi

# ---- the table -----------------------------------------------------------------
for s in $scales; do
	say ""
	awk -F'\t' -v scale="$s" -v batch="$BATCH" -v pgscale="$PG_SCALE" -f bench/table.awk \
		"$RESULTS/pg.tsv" "$RESULTS/vault-$s.tsv" | tee -a "$log"
done
if [ -s "$RESULTS/pgvault-1.tsv" ] && [ -s "$RESULTS/pgvault-2.tsv" ]; then
	say ""
	awk -F'\t' -v scale="$smallest" -v pgscale="$PG_SCALE" -v pgvscale="$PG_VAULT_SCALE" -v batch="$BATCH" -v ncpu="$(nproc)" \
		-f bench/pgvault.awk "$RESULTS/pg.tsv" "$RESULTS/vault-$smallest.tsv" \
		"$RESULTS/pgvault-1.tsv" "$RESULTS/pgvault-2.tsv" | tee -a "$log"
fi
say ""
awk -F'\t' -f bench/python.awk "$RESULTS/vault-$smallest.tsv" "$RESULTS/python.tsv" | tee -a "$log"
if [ "$(echo "$scales" | wc -w)" -gt 1 ]; then
	say ""
	awk -F'\t' -f bench/scale.awk $(for s in $scales; do echo "$RESULTS/vault-$s.tsv"; done) | tee -a "$log"
fi
if command -v gnuplot >/dev/null 2>&1; then
	sh bench/plot.sh "$RESULTS/vault-$smallest.tsv" "$RESULTS/pg.tsv" "$RESULTS/compare.png" &&
		say "" && say "plot: $RESULTS/compare.png"
fi
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
