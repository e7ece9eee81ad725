#!/bin/sh
# A/B in one run: the same vault-compare rows against two vaultd binaries,
# alternating A B A B so that drift of a shared machine hits both alike.
#   bench/ab.sh BASELINE_VAULTD CANDIDATE_VAULTD [ROWS] [RECORDS] [SECONDS] [ROUNDS]
#   e.g. bench/ab.sh /tmp/base/build-rel/vault/vaultd build-bench-rel/vault/vaultd
# ROWS as for vault-compare -r (default detok1,detokb,pipe,create); EXTRA
# passes more vault-compare options (default "-c 1,8,64"); AUDIT=off runs
# both without the trail; SERVER_A and SERVER_B add lines to the [server]
# section of each (e.g. SERVER_B="busy_poll_us = 100": same binary, two
# settings). Each vaultd gets a fresh temporary directory and
# the same preload; the table after the runs has one line per row and
# binary (requests/s and p99, each round).
set -eu
cd "$(dirname "$0")/.."
. bench/conf.sh
a=${1:?baseline vaultd}; b=${2:?candidate vaultd}
rows=${3:-detok1,detokb,pipe,create}; n=${4:-100000}; secs=${5:-4}; rounds=${6:-2}
BUILD=${BUILD:-build-bench-rel}
out=$(mktemp -d "${TMPDIR:-/tmp}/vault-ab-XXXXXX")
trap 'rm -rf "$out"' EXIT

run() { # run BINARY LABEL ROUND SERVER_LINES
	dir=$(mktemp -d "${TMPDIR:-/tmp}/vault-ab-run-XXXXXX")
	vault_conf "$dir" "$4"
	"$1" --dev -c "$dir/vaultd.conf" 2>"$dir/vaultd.log" &
	pid=$!
	for _ in $(seq 200); do [ -S "$dir/run/vaultd.sock" ] && break; sleep 0.05; done
	"$BUILD/bench/vault-compare" -s "$dir/run/vaultd.sock" -o "$dir/rows.tsv" -n "$n" -d "$secs" \
		-p 256 -P "$pid" -f "$dir/data" -r "$rows" ${EXTRA:--c 1,8,64} -q >/dev/null 2>&1 || true
	kill "$pid"; wait "$pid" 2>/dev/null || true
	awk -F'\t' -v l="$2" -v r="$3" '{ print l "\t" r "\t" $0 }' "$dir/rows.tsv" >> "$out/all.tsv"
	rm -rf "$dir"
}

echo "# bench/ab.sh: A = $a ${SERVER_A:-}, B = $b ${SERVER_B:-}; rows $rows; $n records; ${secs}s per row; $rounds rounds; $(date -u '+%Y-%m-%d %H:%M UTC')"
for r in $(seq "$rounds"); do
	run "$a" A "$r" "${SERVER_A:-}"
	run "$b" B "$r" "${SERVER_B:-}"
done
# The disk as each run measured it (4 KiB write + fdatasync, vault-compare).
awk -F'\t' '$3 == "#fact" && $4 ~ /^fsync_p(50|99)_us$/ { v[$1 " round " $2] = v[$1 " round " $2] " " $4 " " $5 }
	END { for (k in v) print "# disk, " k ":" v[k] }' "$out/all.tsv" | sort
# One line per row and binary: req/s and p99 of each round.
awk -F'\t' '
	$3 ~ /^#/ { next }
	{ k = $3 " | " $4; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	  rate[k, $1] = rate[k, $1] sprintf(" %9.0f", $5); p99[k, $1] = p99[k, $1] sprintf(" %8.1f", $8) }
	END {
		printf "%-40s %-2s %s | %s\n", "row | clients", "", "req/s per round", "p99 us per round"
		for (i = 1; i <= n; i++) for (j = 0; j < 2; j++) {
			l = j ? "B" : "A"; k = order[i]
			printf "%-40s %-2s %s | %s\n", k, l, rate[k, l], p99[k, l]
		}
	}' "$out/all.tsv"
