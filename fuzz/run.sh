#!/usr/bin/env bash
# fuzz/run.sh - build the libFuzzer harnesses and run them.
#
#   fuzz/run.sh [SECONDS] [HARNESS...]
#       CI mode: each harness (default: all) runs SECONDS (default 60) on a
#       copy of its corpus and reproducers in a temporary directory, so the
#       repository is not modified. Fails (exit 1) on any crash, leak,
#       timeout, out-of-memory or violated invariant.
#   fuzz/run.sh --long HOURS [HARNESS...]
#       Local runs of several hours: the harnesses share HOURS of wall time,
#       FUZZ_JOBS (default: the number of CPUs) at a time. New corpus entries
#       are kept in fuzz/corpus-new/<harness>/ (ignored by git); fold the
#       useful ones into fuzz/corpus/ with libFuzzer's -merge=1 (printed at
#       the end).
#
# Both modes print a table of executions per harness at the end. Crash
# inputs are copied to fuzz/crashes/ (ignored by git): keep a reproducer as
# fuzz/reproducers/<harness>/<what-it-shows> (see fuzz.h on open bugs).
#
# The build goes to $BUILD_DIR (default build-fuzz/ at the top): clang with
# ASan and UBSan, the libraries compiled with -fsanitize=fuzzer-no-link so
# libFuzzer sees their coverage, and warnings not fatal (a clang-only
# warning elsewhere must not stop fuzzing; the gcc build keeps -Werror).
# Per-harness options (max_len, dict) come from fuzz/<harness>.options.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD_DIR:-$top/build-fuzz}
all_harnesses=(audit commitlog config frame keyring normalize policy privacy record-codec request server share token)

usage() {
	sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

long=0
if [ "${1:-}" = "--long" ]; then
	long=1
	shift
	[ $# -ge 1 ] || usage
	hours=$1
	shift
	case $hours in ''|*[!0-9.]*) usage ;; esac
else
	seconds=${1:-60}
	[ $# -ge 1 ] && shift
	case $seconds in ''|*[!0-9]*) usage ;; esac
fi
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all_harnesses[@]}")
for h in "${harnesses[@]}"; do
	[ -f "$here/fuzz-$h.c" ] || { echo "no harness fuzz-$h" >&2; exit 2; }
done

# ---- build ----
cflags="-fsanitize=fuzzer-no-link"
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$top" -Dfuzzing=true -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dtests=false -Dwerror=false -Dc_args="$cflags" >/dev/null ||
	    { echo "meson setup $build failed" >&2; exit 1; }
else
	meson configure "$build" -Dfuzzing=true -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dwerror=false -Dc_args="$cflags" >/dev/null ||
	    { echo "meson configure $build failed" >&2; exit 1; }
fi
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz/fuzz-$h"); done
ninja -C "$build" "${targets[@]}" >/dev/null ||
    { ninja -C "$build" "${targets[@]}"; echo "build failed" >&2; exit 1; }
for h in "${harnesses[@]}"; do
	[ -x "$build/fuzz/fuzz-$h" ] || { echo "$build/fuzz/fuzz-$h missing: is CC clang?" >&2; exit 1; }
done

# ---- run ----
work=$(mktemp -d "${TMPDIR:-/tmp}/vault-fuzz-run.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/tmp"
export TMPDIR="$work/tmp" # the harnesses' fixtures; removed even after a crash
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

option() { # option HARNESS KEY
	sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$here/fuzz-$1.options" 2>/dev/null | head -n 1
}

if [ $long -eq 1 ]; then
	jobs=${FUZZ_JOBS:-$(nproc)}
	n=${#harnesses[@]}
	[ "$jobs" -gt "$n" ] && jobs=$n
	seconds=$(awk -v h="$hours" -v j="$jobs" -v n="$n" 'BEGIN { s = int(h * 3600 * j / n); print s < 1 ? 1 : s }')
else
	jobs=${FUZZ_JOBS:-1}
fi

run_one() { # run_one HARNESS: runs it, leaves $work/HARNESS.rc
	local h=$1 bin="$build/fuzz/fuzz-$h" corpus max_len dict
	local args=(-rss_limit_mb=2048 -timeout=10 -max_total_time="$seconds" -print_final_stats=1
	    -artifact_prefix="$work/artifacts/fuzz-$h-")
	max_len=$(option "$h" max_len)
	dict=$(option "$h" dict)
	[ -n "$max_len" ] && args+=(-max_len="$max_len")
	[ -n "$dict" ] && [ -f "$here/$dict" ] && args+=(-dict="$here/$dict")
	if [ $long -eq 1 ]; then
		corpus="$here/corpus-new/fuzz-$h"
		mkdir -p "$corpus"
		"$bin" "${args[@]}" "$corpus" "$here/corpus/fuzz-$h" >"$work/$h.log" 2>&1
	else
		corpus="$work/corpus/fuzz-$h"
		mkdir -p "$corpus"
		cp "$here/corpus/fuzz-$h/"* "$corpus/" 2>/dev/null
		cp "$here/reproducers/fuzz-$h/"* "$corpus/" 2>/dev/null
		"$bin" "${args[@]}" "$corpus" >"$work/$h.log" 2>&1
	fi
	echo $? >"$work/$h.rc"
}

mkdir -p "$work/artifacts"
start=$(date +%s)
if [ $long -eq 1 ]; then
	echo "fuzzing ${harnesses[*]}: ${seconds}s each, $jobs at a time; new inputs in fuzz/corpus-new/"
else
	echo "fuzzing ${harnesses[*]}: ${seconds}s each, $jobs at a time"
fi
running=0
for h in "${harnesses[@]}"; do
	echo "  fuzz-$h ..."
	run_one "$h" &
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

# ---- report ----
failed=0
printf '\n%-20s %8s %12s %10s %8s  %s\n' harness seconds executions exec/s new result
for h in "${harnesses[@]}"; do
	log="$work/$h.log"
	rc=$(cat "$work/$h.rc" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	rate='-'
	[ -n "$secs" ] && [ -n "$execs" ] && [ "$secs" -gt 0 ] && rate=$((execs / secs))
	result=ok
	if [ "$rc" != 0 ]; then
		failed=1
		result="FAILED (exit $rc)"
		grep -q 'ERROR: libFuzzer: timeout' "$log" && result="FAILED: timeout"
		grep -q 'out-of-memory' "$log" && result="FAILED: out of memory"
		grep -q 'LeakSanitizer' "$log" && result="FAILED: leak"
		grep -q 'FUZZ INVARIANT VIOLATED' "$log" && result="FAILED: invariant"
		grep -q 'ERROR: AddressSanitizer' "$log" && result="FAILED: AddressSanitizer"
		grep -q 'runtime error:' "$log" && result="FAILED: UndefinedBehaviorSanitizer"
	fi
	printf '%-20s %8s %12s %10s %8s  %s\n' "fuzz-$h" "${secs:--}" "${execs:--}" "$rate" \
	    "${new:--}" "$result"
done
echo "total: $(($(date +%s) - start))s of fuzzing"

for h in "${harnesses[@]}"; do
	rc=$(cat "$work/$h.rc" 2>/dev/null || echo 1)
	[ "$rc" = 0 ] && continue
	echo
	echo "==== fuzz-$h failed; the end of its log:"
	grep -v -E '^#[0-9]+|^\s+NEW_FUNC|^INFO: ' "$work/$h.log" | tail -n 60
done
if ls "$work/artifacts/"* >/dev/null 2>&1; then
	mkdir -p "$here/crashes"
	cp "$work/artifacts/"* "$here/crashes/"
	echo
	echo "crash inputs copied to fuzz/crashes/:"
	for f in "$work/artifacts/"*; do
		echo "  $(basename "$f") ($(wc -c <"$f") bytes): $(base64 -w0 "$f" | cut -c1-200)"
	done
	echo "replay one: $build/fuzz/fuzz-<harness> fuzz/crashes/<file>"
fi
if [ $long -eq 1 ]; then
	echo
	echo "to fold new inputs into the seed corpus (minimized):"
	echo "  $build/fuzz/fuzz-<harness> -merge=1 fuzz/corpus/fuzz-<harness> fuzz/corpus-new/fuzz-<harness>"
fi
exit $failed
