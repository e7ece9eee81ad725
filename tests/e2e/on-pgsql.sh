#!/bin/sh
# on-pgsql.sh E2E-TEST [ARG...] - run an end-to-end suite with every vaultd it
# starts on PostgreSQL: a scratch PostgreSQL 15 server (tests/unit/pg-scratch.sh),
# its conninfo in VAULT_TEST_PGSQL, which the harness turns into a fresh schema
# per vaultd (tests/e2e/harness.h).
set -eu
here=$(dirname "$0")
exec "$here/../unit/pg-scratch.sh" sh -c 'VAULT_TEST_PGSQL=$VAULT_TEST_PG; export VAULT_TEST_PGSQL; exec "$@"' on-pgsql "$@"
