#!/bin/sh
# bench/plot.sh VAULT.tsv PG.tsv OUT.png - throughput and p99 against
# synchronous client count: vault detokenize, the no-op floor (ping) and
# PostgreSQL+pgcrypto detokenize. Needs gnuplot (compare.sh installs it).
set -eu
v=$1 pg=$2 png=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk -F'\t' '$1 == "ping (floor)" {print $2, $3, $6}' "$v" > "$tmp/ping"
awk -F'\t' '$1 == "detokenize 1 field" {print $2, $3, $6}' "$v" > "$tmp/detok"
awk -F'\t' '$1 == "PG detokenize 1 field" {print $2, $3, $6}' "$pg" > "$tmp/pg"
gnuplot <<GP
set terminal pngcairo size 1100,460 font ",10"
set output "$png"
set multiplot layout 1,2 title "vaultd detokenize (1 field) vs the no-op floor and PostgreSQL 15 + pgcrypto, synchronous clients"
set xlabel "clients"
set xtics (1, 4, 8, 16)
set grid
set key bottom right
set logscale y
set ylabel "requests/s (log)"
set title "throughput"
plot "$tmp/ping" u 1:2 w lp lw 2 pt 7 t "ping (floor)", \
     "$tmp/detok" u 1:2 w lp lw 2 pt 5 t "vault detokenize", \
     "$tmp/pg" u 1:2 w lp lw 2 pt 9 t "PostgreSQL detokenize"
set key top left
set ylabel "p99 latency, us (log)"
set title "p99 latency"
plot "$tmp/ping" u 1:3 w lp lw 2 pt 7 t "ping (floor)", \
     "$tmp/detok" u 1:3 w lp lw 2 pt 5 t "vault detokenize", \
     "$tmp/pg" u 1:3 w lp lw 2 pt 9 t "PostgreSQL detokenize"
unset multiplot
GP
