#!/bin/sh
# pg-scratch.sh COMMAND [ARG...] - run COMMAND against a throwaway PostgreSQL
# 15 server: initdb into a temporary directory, listening only on a Unix
# socket in it, one database; VAULT_TEST_PG holds the conninfo. The server is
# stopped and the directory removed whatever the command's result, which is
# this script's. PostgreSQL refuses to run as root: as root, the server runs
# as the postgres user.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
for p in initdb pg_ctl createdb; do
	if [ ! -x "$PGBIN/$p" ]; then
		echo "pg-scratch: $PGBIN/$p is missing: PostgreSQL 15 is not installed;" \
			"run scripts/install-deps.sh" >&2
		exit 1
	fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-pg-XXXXXX")
if [ "$(id -u)" -eq 0 ]; then
	if ! id postgres >/dev/null 2>&1; then
		echo "pg-scratch: no postgres user (the postgresql-15 package makes it);" \
			"run scripts/install-deps.sh" >&2
		rm -rf "$dir"
		exit 1
	fi
	chown postgres "$dir"
	as_pg() { (cd "$dir" && runuser -u postgres -- "$@"); }
else
	as_pg() { (cd "$dir" && "$@"); }
fi

cleanup() {
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale \
	>"$dir/initdb.log" 2>&1; then
	cat "$dir/initdb.log" >&2
	exit 1
fi
if ! as_pg "$PGBIN/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" \
	-o "-c listen_addresses='' -k $dir -c max_connections=60" start >/dev/null; then
	cat "$dir/server.log" >&2
	exit 1
fi
as_pg "$PGBIN/createdb" -h "$dir" -U postgres vault_test

export VAULT_TEST_PG="host=$dir user=postgres dbname=vault_test"
rc=0
"$@" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "pg-scratch: the server's log:" >&2
	tail -n 40 "$dir/server.log" >&2
fi
exit "$rc"
