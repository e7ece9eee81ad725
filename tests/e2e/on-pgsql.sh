#!/bin/sh
# on-pgsql.sh E2E-TEST [ARG...] - run an end-to-end suite with every vaultd it
# starts on PostgreSQL: a scratch PostgreSQL 15 server (tests/unit/pg-scratch.sh),
# its conninfo in VAULT_TEST_PGSQL, which the harness turns into a fresh schema
# per vaultd (tests/e2e/harness.h). on-pgsql.sh --standby E2E-TEST ...: the
# server has a synchronous standby, and the conninfo names both
# (PG_SCRATCH_STANDBY, tests/unit/pg-scratch.sh).
set -eu
here=$(dirname "$0")
if [ "${1:-}" = --standby ]; then
	shift
	PG_SCRATCH_STANDBY=1
	export PG_SCRATCH_STANDBY
fi
exec "$here/../unit/pg-scratch.sh" sh -c 'VAULT_TEST_PGSQL=$VAULT_TEST_PG; export VAULT_TEST_PGSQL; exec "$@"' on-pgsql "$@"
