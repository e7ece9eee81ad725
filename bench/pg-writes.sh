#!/bin/sh
# PostgreSQL 15 + pgcrypto, durable writes only: the baseline rows of issue
# 19 (create, update, delete) with the schema, settings and pgbench use of
# bench/compare.sh, without the vault rows (run bench/ab.sh for those in
# the same session). Prints one line per row: req/s, p50, p99 (us).
#   bench/pg-writes.sh [ROWS] [SECONDS]     (default 50000 rows, 4 s per row)
set -eu
cd "$(dirname "$0")/.."
rows=${1:-50000}; secs=${2:-4}
PGBIN=/usr/lib/postgresql/15/bin
dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-pgw-XXXXXX")
pgdata=$dir/pg/data
if [ "$(id -u)" -eq 0 ]; then
	pguser=postgres; id "$pguser" >/dev/null 2>&1 || pguser=nobody
	as_pg() { runuser -u "$pguser" -- "$@"; }
	chmod 755 "$dir"
else
	pguser=$(id -un); as_pg() { "$@"; }
fi
trap 'as_pg "$PGBIN/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/pg" && chown "$pguser" "$dir/pg"
as_pg "$PGBIN/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$pgdata" -l "$dir/pg/log" -w start -o \
	"-c listen_addresses='' -k $dir/pg -c shared_buffers=2GB -c max_wal_size=8GB -c max_connections=200" >/dev/null
P="-h $dir/pg -U postgres -d postgres"
psql() { command psql $P -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -c "CREATE EXTENSION pgcrypto" -c "CREATE TABLE people (
	id bigserial PRIMARY KEY, token uuid NOT NULL,
	first_name bytea, last_name bytea, email bytea, phone bytea, postal_address bytea,
	created timestamptz NOT NULL DEFAULT now())"
psql -c "INSERT INTO people (token, first_name, last_name, email, phone)
	SELECT md5(g::text)::uuid, pgp_sym_encrypt('Pat', 'bench-key'), pgp_sym_encrypt('Example', 'bench-key'),
	    pgp_sym_encrypt('person' || g || '@example.com', 'bench-key'), pgp_sym_encrypt('+18583755875', 'bench-key')
	FROM generate_series(1, $rows) g" \
	-c "CREATE UNIQUE INDEX people_token ON people (token)" -c "CREATE SEQUENCE del_ids" -c "VACUUM ANALYZE people"
cat > "$dir/pg/create.sql" <<'SQL'
INSERT INTO people (token, first_name, last_name, email, phone, postal_address)
VALUES (gen_random_uuid(), pgp_sym_encrypt('Benchmark', :key), pgp_sym_encrypt('Person', :key),
    pgp_sym_encrypt('bench.person@example.com', :key), pgp_sym_encrypt('+18583755875', :key),
    pgp_sym_encrypt(E'1 Main Street\nSan Diego, CA 92101', :key))
RETURNING token;
SQL
cat > "$dir/pg/update.sql" <<'SQL'
\set id random(1, :scale)
UPDATE people SET phone = pgp_sym_encrypt('+14155550123', :key) WHERE token = md5(:id::text)::uuid;
SQL
cat > "$dir/pg/delete.sql" <<'SQL'
WITH n AS (SELECT nextval('del_ids') AS id) DELETE FROM people p USING n WHERE p.id = n.id;
SQL
run() { # script clients name
	lp=$dir/pg/lat
	out=$(cd "$dir/pg" && pgbench $P -n -M prepared -c "$2" -j "$2" -T "$secs" \
		-D scale="$rows" -D key=bench-key -f "$1" -l --log-prefix="$lp" 2>&1) || { echo "$out" >&2; exit 1; }
	tps=$(echo "$out" | awk '/^tps = / {print $3; exit}')
	cat "$lp".* | awk '{print $3}' | sort -n | awk -v n="$3" -v c="$2" -v t="$tps" '{v[NR]=$1} END {
		i50=int(0.5*(NR-1)+0.5)+1; i99=int(0.99*(NR-1)+0.5)+1
		printf "%-24s %3s clients %9.0f req/s  p50 %8.1f  p99 %8.1f us\n", n, c, t, v[i50], v[i99] }'
	rm -f "$lp".*
}
echo "# bench/pg-writes.sh: PostgreSQL 15 + pgcrypto, $rows rows, ${secs}s per row, $(date -u '+%Y-%m-%d %H:%M UTC')"
for c in 1 8 64; do run "$dir/pg/create.sql" "$c" "PG create (durable)"; done
for c in 1 8 64; do run "$dir/pg/update.sql" "$c" "PG update (durable)"; done
for c in 1 8 64; do run "$dir/pg/delete.sql" "$c" "PG delete (durable)"; done
