#!/bin/sh
# pg-scratch.sh COMMAND [ARG...] - run COMMAND against a throwaway PostgreSQL
# 15 server: initdb into a temporary directory, listening only on a Unix
# socket in it, one database; VAULT_TEST_PG holds the conninfo. The server is
# stopped and the directory removed whatever the command's result, which is
# this script's. PostgreSQL refuses to run as root: as root, the server runs
# as the postgres user.
#
# With PG_SCRATCH_STANDBY=1, a second server streams from the first as a
# synchronous standby (pg_basebackup -R; synchronous_standby_names = '*'
# and synchronous_commit = on set on the primary only, after the copy, so
# the standby, once promoted, waits for no one), on a socket of its own; VAULT_TEST_PG then
# names both hosts with target_session_attrs=read-write, as a failover
# deployment does. Either way VAULT_TEST_PG_CTL is a script the command
# may run to act on the servers: "stop" and "start" the primary (a clean
# shutdown, then the same server again), "kill-primary" (SIGKILL to the
# primary's postmaster and every one of its processes: a crash), and
# "promote" (the standby becomes the primary; waits until it is).
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
for p in initdb pg_ctl createdb pg_basebackup psql; do
	if [ ! -x "$PGBIN/$p" ]; then
		echo "pg-scratch: $PGBIN/$p is missing: PostgreSQL 15 is not installed;" \
			"run scripts/install-deps.sh" >&2
		exit 1
	fi
done

if ! command -v ps >/dev/null 2>&1; then
	echo "pg-scratch: ps is missing (kill-primary needs it): run scripts/install-deps.sh" >&2
	exit 1
fi

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
	for d in "$dir/data" "$dir/standby"; do
		if [ -f "$d/postmaster.pid" ]; then
			as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
		fi
	done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale \
	>"$dir/initdb.log" 2>&1; then
	cat "$dir/initdb.log" >&2
	exit 1
fi
primary_opts="-c listen_addresses='' -k $dir -c max_connections=60"
if ! as_pg "$PGBIN/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" \
	-o "$primary_opts" start >/dev/null; then
	cat "$dir/server.log" >&2
	exit 1
fi
as_pg "$PGBIN/createdb" -h "$dir" -U postgres vault_test

export VAULT_TEST_PG="host=$dir user=postgres dbname=vault_test"
if [ "${PG_SCRATCH_STANDBY:-0}" = 1 ]; then
	mkdir "$dir/s2"
	[ "$(id -u)" -ne 0 ] || chown postgres "$dir/s2"
	if ! as_pg "$PGBIN/pg_basebackup" -h "$dir" -U postgres -D "$dir/standby" -R \
		-X stream -c fast >"$dir/basebackup.log" 2>&1; then
		cat "$dir/basebackup.log" >&2
		exit 1
	fi
	if ! as_pg "$PGBIN/pg_ctl" -D "$dir/standby" -w -l "$dir/standby.log" \
		-o "-c listen_addresses='' -k $dir/s2 -c max_connections=60" start >/dev/null; then
		cat "$dir/standby.log" >&2
		exit 1
	fi
	# Synchronous from now on (not before: createdb and the base backup
	# would wait for a standby not there yet), on the primary only: an
	# acknowledged commit is then on both servers. Polled, at most 30 s.
	as_pg "$PGBIN/psql" -q -h "$dir" -U postgres -d postgres \
		-c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
		-c "ALTER SYSTEM SET synchronous_commit = on" -c "SELECT pg_reload_conf()" >/dev/null
	n=0
	until [ "$(as_pg "$PGBIN/psql" -h "$dir" -U postgres -d postgres -Atc \
		"SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" = 1 ]; do
		n=$((n + 1))
		if [ "$n" -gt 300 ]; then
			echo "pg-scratch: the standby did not become synchronous" >&2
			tail -n 20 "$dir/standby.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	export VAULT_TEST_PG="host=$dir,$dir/s2 user=postgres dbname=vault_test target_session_attrs=read-write"
fi

# The control script (see the top), with this run's paths written in.
if [ "$(id -u)" -eq 0 ]; then run_pg="runuser -u postgres --"; else run_pg=""; fi
cat >"$dir/ctl" <<EOF_CTL
#!/bin/sh
set -eu
cd "$dir"
case "\$1" in
stop) $run_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ;;
start) $run_pg "$PGBIN/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" -o "$primary_opts" start >/dev/null ;;
kill-primary)
	pid=\$(head -n 1 "$dir/data/postmaster.pid")
	kids=\$(ps -o pid= --ppid "\$pid" || true)
	kill -KILL "\$pid" \$kids ;;
promote) $run_pg "$PGBIN/pg_ctl" -D "$dir/standby" -w promote >/dev/null ;;
*) echo "usage: ctl stop|start|kill-primary|promote" >&2; exit 2 ;;
esac
EOF_CTL
chmod 755 "$dir/ctl"
export VAULT_TEST_PG_CTL="$dir/ctl"
rc=0
"$@" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "pg-scratch: the server's log:" >&2
	tail -n 40 "$dir/server.log" >&2
	if [ -f "$dir/standby.log" ]; then
		echo "pg-scratch: the standby's log:" >&2
		tail -n 40 "$dir/standby.log" >&2
	fi
fi
exit "$rc"
