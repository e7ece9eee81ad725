#!/bin/sh
# Start a real vaultd on a temporary directory, run vault-bench against it,
# stop it. Usage: bench/run.sh [vault-bench options], e.g. -d 5 -c 1,4,8,16
set -eu
cd "$(dirname "$0")/.."
. bench/conf.sh
BUILD=${BUILD:-build}
dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-bench-XXXXXX")
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
vault_conf "$dir"
"$BUILD/vault/vaultd" --dev -c "$dir/vaultd.conf" 2>"$dir/vaultd.log" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/run/vaultd.sock" ] && break; sleep 0.05; done
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
"$BUILD/bench/vault-bench" -s "$dir/run/vaultd.sock" -f "$dir/data" "$@"
