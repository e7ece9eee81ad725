#!/bin/sh
# Profile vaultd under one kind of load: start it on a temporary directory,
# preload, then `perf record -g` the server while vault-compare runs the
# rows asked for; prints the top of `perf report`.
#   bench/profile.sh ROWS [RECORDS] [SECONDS]   e.g. bench/profile.sh pipe 100000 5
# ROWS as for vault-compare -r: ping, detok1, detokb, pipe, create, update,
# delete, mixed. Environment: BUILD (build-bench-rel), AUDIT (on), KEEP=1,
# EXTRA (more vault-compare options, e.g. "-w 64"), REPORT (perf report options).
set -eu
cd "$(dirname "$0")/.."
. bench/conf.sh
rows=${1:?rows}; n=${2:-100000}; secs=${3:-5}
BUILD=${BUILD:-build-bench-rel}
command -v perf >/dev/null || apt-get install -y -q linux-perf >/dev/null
dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-profile-XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$dir"' EXIT
vault_conf "$dir"
"$BUILD/vault/vaultd" --dev -c "$dir/vaultd.conf" 2>"$dir/vaultd.log" &
pid=$!
for _ in $(seq 200); do [ -S "$dir/run/vaultd.sock" ] && break; sleep 0.05; done
mkfifo "$dir/go"
( "$BUILD/bench/vault-compare" -s "$dir/run/vaultd.sock" -o "$dir/rows.tsv" -n "$n" -d "$secs" \
	-p 256 -r "$rows" ${EXTRA:-} 2>&1 | while IFS= read -r l; do echo "$l"; case $l in measuring*) echo > "$dir/go";; esac; done ) &
cat "$dir/go" >/dev/null
perf record -q -g -p "$pid" -o "$dir/perf.data" -- sleep "$secs" 2>/dev/null
wait %2 2>/dev/null || true
perf report -i "$dir/perf.data" ${REPORT:---no-children --percent-limit 0.7 --stdio -g none} 2>/dev/null |
	grep -v '^#' | grep -v '^$' | head -${TOP:-45}
