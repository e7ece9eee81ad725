#!/bin/sh
# Count the instructions vaultd spends per request under one kind of load:
# vaultd runs under callgrind with instrumentation off, vault-compare preloads,
# instrumentation is switched on for the measured rows only, and the inclusive
# costs of the functions on the request path are printed. Exact and
# repeatable where perf samples are not (this KVM guest has no PMU: perf
# falls back to timer sampling, which piles samples where interrupts are
# re-enabled).
#   bench/callgrind.sh ROWS [RECORDS] [SECONDS]   e.g. bench/callgrind.sh detokb 5000 10
# Environment: BUILD (build-bench-rel), AUDIT (on), EXTRA (vault-compare
# options, default "-c 1"), TOP (lines of the report, 40), KEEP=1.
set -eu
cd "$(dirname "$0")/.."
. bench/conf.sh
rows=${1:?rows}; n=${2:-5000}; secs=${3:-10}
BUILD=${BUILD:-build-bench-rel}
command -v callgrind_control >/dev/null || apt-get install -y -q valgrind >/dev/null
dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-callgrind-XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$dir"' EXIT
vault_conf "$dir" "request_timeout_seconds = 60"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg.out" \
	"$BUILD/vault/vaultd" --dev -c "$dir/vaultd.conf" 2>"$dir/vaultd.log" &
pid=$!
for _ in $(seq 600); do [ -S "$dir/run/vaultd.sock" ] && break; sleep 0.1; done
mkfifo "$dir/go"
( "$BUILD/bench/vault-compare" -s "$dir/run/vaultd.sock" -o "$dir/rows.tsv" -n "$n" -d "$secs" \
	-p 64 -r "$rows" ${EXTRA:--c 1} 2>&1 | while IFS= read -r l; do echo "$l"; case $l in measuring*)
	callgrind_control -i on "$pid" >/dev/null; echo > "$dir/go";; esac; done ) &
cat "$dir/go" >/dev/null
wait %2 2>/dev/null || true
callgrind_control -i off "$pid" >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
awk -F'\t' -v s="$secs" '{ r += $3 * s; f += $4 * s } END { printf "measured: about %d requests, %d fields (divide the counts below by these)\n", r, f }' "$dir/rows.tsv"
callgrind_annotate --inclusive=yes "$dir"/cg.out* 2>/dev/null | grep -v '^-' | head -"${TOP:-40}"
