#!/bin/sh
# What privacy requests cost: start a real vaultd (release build unless
# BUILD says otherwise) on a temporary directory, run privacy-bench, print
# the data file's size per record and per database, stop it.
#   bench/privacy.sh [-n RECORDS] [-c CLIENTS] [-v VERIFIES] [-C]
# Baseline: VAULTD=path/to/an/older/vaultd BASELINE=1 bench/privacy.sh -C
# runs the creates alone against a vaultd without blind indexes.
set -eu
cd "$(dirname "$0")/.."
. bench/conf.sh
BUILD=${BUILD:-build}
dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-privacy-bench-XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
vault_conf "$dir"
printf "[storage]\nmap_size_bytes = 8G\n" >> "$dir/vaultd.conf"
[ "${BASELINE:-0}" = 1 ] || printf "[privacy]\nverify_per_minute = 100000\nverify_attempts = 100\n" \
    >> "$dir/vaultd.conf"
"${VAULTD:-$BUILD/vault/vaultd}" --dev -c "$dir/vaultd.conf" 2>"$dir/vaultd.log" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/run/vaultd.sock" ] && break; sleep 0.05; done
echo "machine: $(nproc) CPUs, $(uname -sr), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
"$BUILD/bench/privacy-bench" -s "$dir/run/vaultd.sock" "$@"
kill "$pid"; wait "$pid" 2>/dev/null || true
pid=
records=$(mdb_stat -s records "$dir/data" | awk '/Entries/ {print $2}')
bytes=$(stat -c %s "$dir/data/data.mdb")
echo "data file: $bytes bytes, $records records, $((bytes / records)) bytes per record"
ps=$(getconf PAGESIZE)
dbs="records blind_index blind_record requests"
[ "${BASELINE:-0}" = 1 ] && dbs=records
for db in $dbs; do
	mdb_stat -s "$db" "$dir/data" | awk -v db="$db" -v ps="$ps" '
	    /Branch pages/ {b=$3} /Leaf pages/ {l=$3} /Overflow pages/ {o=$3}
	    /Entries/ {e=$2} END {printf "  %-13s %9d entries %12d bytes\n", db, e, (b+l+o)*ps}'
done
