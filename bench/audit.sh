#!/bin/sh
# Read throughput with and without the audit trail, in one run: the same
# vault-bench reads and detokenizes against a vaultd with [audit] enabled,
# then one without. Usage: bench/audit.sh [vault-bench options]
set -eu
cd "$(dirname "$0")/.."
opts="-o detok1,read,detokb -c 1,4,8 -d ${SECONDS_PER_RUN:-3} -n 10000 $*"
echo "## with the audit trail ([audit] enabled = true, sync every 200 ms)"
AUDIT=on ./bench/run.sh $opts
echo
echo "## without ([audit] enabled = false)"
AUDIT=off ./bench/run.sh $opts
