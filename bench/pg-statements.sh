#!/bin/sh
# pg-statements.sh - what a request costs PostgreSQL on vaultd's PostgreSQL
# backend: the statements vaultd runs per durable create and per
# single-field detokenize, and the round trips, counted (issue 15;
# BENCHMARKS.md, "Round trips"). A diagnosis, not part of `make bench`:
#
#   bench/pg-statements.sh [BUILD]     (BUILD: build-bench-rel by default)
#
# A scratch PostgreSQL 15 (Unix socket only, in a temporary directory) with
# pg_stat_statements loaded, one release vaultd on it, then bench/vault-compare's
# `create` row (8 writers) and `detok1` row (8 clients), each after its own
# preload. The counters are reset when the preload is done, so they hold the
# row only. Statements: pg_stat_statements' calls (BEGIN, COMMIT, SAVEPOINT
# included), per request: per create, divided by the records the row added;
# per detokenize, by the SELECTs from vault_records (one per read). Round trips: the times vaultd's threads
# waited for PostgreSQL's answer, which is what libpq's poll() is (strace
# counts them; each is one round trip), divided the same way; strace slows
# vaultd down, so batches grow a little while it counts.
#
# Environment: SECONDS_PER_ROW=3, RECORDS=2000 (the detokenize row's preload).
set -eu
[ "${DEBUG:-0}" = 1 ] && set -x
cd "$(dirname "$0")/.."
BUILD=${1:-build-bench-rel}
SECONDS_PER_ROW=${SECONDS_PER_ROW:-3}
RECORDS=${RECORDS:-2000}
PGBIN=/usr/lib/postgresql/15/bin
for p in "$PGBIN/initdb" "$PGBIN/pg_ctl" "$BUILD/vault/vaultd" "$BUILD/bench/vault-compare"; do
	[ -x "$p" ] || { echo "pg-statements: $p is missing (scripts/install-deps.sh; ninja -C $BUILD)" >&2; exit 1; }
done
command -v strace >/dev/null || { echo "pg-statements: strace is missing (scripts/install-deps.sh)" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-pgstmt-XXXXXX")
chmod 711 "$dir"
# PostgreSQL refuses to run as root (then as postgres), and vaultd refuses
# directories owned by others: the server gets a directory of its own.
pgd=$dir/pg
mkdir "$pgd"
if [ "$(id -u)" -eq 0 ]; then
	chown postgres "$pgd"
	as_pg() { (cd "$pgd" && runuser -u postgres -- "$@"); }
else
	as_pg() { (cd "$pgd" && "$@"); }
fi
vpid=
cleanup() {
	if [ -n "$vpid" ]; then kill "$vpid" 2>/dev/null || true; wait "$vpid" 2>/dev/null || true; fi
	[ -f "$pgd/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$pgd/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg "$PGBIN/initdb" -D "$pgd/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$pgd/data" -w -l "$pgd/log" -o "-c listen_addresses='' -k $pgd \
-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_utility=on" start >/dev/null
psql() { as_pg /usr/bin/psql -X -q -h "$pgd" -U postgres "$@"; }

# row NAME: a fresh database and vaultd, the preload, the counters reset,
# the row; then the counts per request.
row() {
	db=v_$1
	psql -d postgres -c "CREATE DATABASE $db"
	psql -d "$db" -c "CREATE EXTENSION pg_stat_statements"
	nd=$dir/node-$1
	mkdir -p "$nd" && mkdir -m 700 "$nd/run"
	printf '[server]\nsocket_path = %s\n[storage]\nbackend = postgresql\npostgresql = host=%s user=postgres dbname=%s\ndata_dir = %s\n[keys]\nkeyring_path = %s\nroot_key_path = %s\n' \
		"$nd/run/vaultd.sock" "$pgd" "$db" "$nd/data" "$nd/keys/keyring" "$nd/keys/root.key" > "$nd/vaultd.conf"
	"$BUILD/vault/vaultd" --dev -c "$nd/vaultd.conf" 2>"$nd/vaultd.log" &
	vpid=$!
	for _ in $(seq 600); do [ -S "$nd/run/vaultd.sock" ] && break; sleep 0.05; done
	n=$RECORDS; [ "$1" = create ] && n=8
	"$BUILD/bench/vault-compare" -s "$nd/run/vaultd.sock" -o "$nd/rows.tsv" -n "$n" \
		-d "$SECONDS_PER_ROW" -c 8 -w 8 -r "$1" -P "$vpid" 2>"$nd/compare.log" &
	cpid=$!
	while ! grep -q preload "$nd/rows.tsv" 2>/dev/null; do
		kill -0 "$cpid" 2>/dev/null || { cat "$nd/compare.log" "$nd/vaultd.log" >&2; exit 1; }
		sleep 0.05
	done
	psql -d "$db" -c "SELECT pg_stat_statements_reset()" >/dev/null
	strace -f -qq -c -e trace=poll -p "$vpid" -o "$nd/strace" &
	spid=$!
	wait "$cpid"
	kill -INT "$spid"; wait "$spid" || true
	polls=$(awk '$NF == "poll" {print $4}' "$nd/strace")
	kill "$vpid"; wait "$vpid" || true; vpid=
	# Requests: creates are the records added by the row (puts may go
	# several to a statement); reads, the SELECTs from vault_records.
	nreq="(SELECT sum(calls) FROM s WHERE query LIKE 'SELECT v FROM vault_records%')"
	[ "$1" = create ] && nreq="(SELECT count(*) - $n FROM vault_records)"
	echo "== $1: $(grep -v '^#' "$nd/rows.tsv" | grep -v preload | cut -f1-3 | tr '\t' ' ') req/s (under strace)"
	cte="WITH s AS (SELECT query, calls FROM pg_stat_statements WHERE dbid =
	    (SELECT oid FROM pg_database WHERE datname = current_database())
	    AND query NOT LIKE '%pg_stat_statements%'),
	    n AS (SELECT $nreq AS n)"
	psql -d "$db" -At -F ' | ' -c "$cte
		SELECT round(calls / n, 2), left(regexp_replace(query, '\s+', ' ', 'g'), 90)
		FROM s, n ORDER BY calls DESC"
	psql -d "$db" -At -c "$cte
		SELECT round(sum(calls) / max(n), 1) || ' statements per request; ' ||
		    round(${polls:-0} / max(n), 1) || ' round trips (waits) per request, over ' ||
		    max(n) || ' requests' FROM s, n"
}

row create
row detok1
