# bench/pgvault.awk - bench/compare.sh's table for issue 15: vaultd on the
# PostgreSQL backend with one node and with two nodes on one database, beside
# vaultd on LMDB and PostgreSQL + pgcrypto, from one run. Files, in order:
# pg.tsv (pgcrypto), vault-SCALE.tsv (LMDB), pgvault-1.tsv, pgvault-2.tsv.
# Variables: scale (LMDB records), pgscale (pgcrypto rows), batch, ncpu, pgvscale (records
# preloaded through vaultd on PostgreSQL). Prints the table, the ratios and
# the issue's targets with **met**/**missed**.
function r0(x) { return x == "" ? "" : sprintf("%.0f", x) }
function ratio(a, b) { return a > 0 && b > 0 ? sprintf("%.2f", a / b) : "" }
function verdict(ok) { return ok ? "**met**" : "**missed**" }
FNR == 1 { file++ }
/^#fact/ { fact[file, $2] = $3; next }
file == 1 { pg[$1 "|" $2] = $3; next }
file == 2 { lm[$1 "|" $2] = $3; next }
file == 3 { k = $1 "|" $2; order[++n] = k; one[k] = $3; p99a[k] = $6; cpua[k] = $10; otha[k] = $9; next }
file == 4 { k = $1 "|" $2; two[k] = $3; p99b[k] = $6; cpub[k] = $10; othb[k] = $9; next }
# The pgcrypto row a vault row compares with (same clients), if any.
function pgkey(k,   op, c) {
	op = substr(k, 1, index(k, "|") - 1); c = substr(k, index(k, "|") + 1)
	if (op == "detokenize 1 field") return "PG detokenize 1 field|" c
	if (op == "create (durable)") return "PG create (durable)|" c
	return ""
}
END {
	printf "### vaultd on PostgreSQL: one node and two nodes on one database (issue 15)\n\n"
	printf "PostgreSQL backend: %s records preloaded through node A (PG_VAULT_SCALE); LMDB: %s records; pgcrypto: %s rows. Two nodes: client i (and pipelined connection i) talks to node i %% 2; the preload goes through node A. req/s for the batch rows are requests of %s tokens.\n\n", pgvscale, scale, pgscale, batch
	printf "| operation | clients | LMDB req/s | PG 1 node req/s | p99 us | PG 2 nodes req/s | p99 us | pgcrypto req/s | 1 node / pgcrypto | 2 nodes / pgcrypto | 2 nodes / 1 node | 1 node / LMDB | vaultd CPU 1 / 2 nodes | others' CPU 1 / 2 nodes |\n"
	printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
	for (i = 1; i <= n; i++) {
		k = order[i]
		split(k, f, "|")
		pk = pgkey(k); pv = pk != "" ? pg[pk] : ""
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%% / %s%% | %s%% / %s%% |\n",
		    f[1], f[2], r0(lm[k]), r0(one[k]), p99a[k], r0(two[k]), p99b[k], r0(pv),
		    ratio(one[k], pv), ratio(two[k], pv), ratio(two[k], one[k]), ratio(one[k], lm[k]),
		    cpua[k], cpub[k], otha[k], othb[k]
	}
	printf "\n"
	printf "- disk: 4 KiB write + fdatasync p50 %s us, p99 %s us (probe before the one-node run); %s us, %s us (before the two-node run)\n",
	    fact[3, "fsync_p50_us"], fact[3, "fsync_p99_us"], fact[4, "fsync_p50_us"], fact[4, "fsync_p99_us"]
	printf "- database size at the end: %.1f MiB (one node), %.1f MiB (two nodes)\n",
	    fact[3, "db_bytes"] / 1048576, fact[4, "db_bytes"] / 1048576
	printf "- vaultd CPU is in percent of one CPU (two nodes: their sum); others' CPU (PostgreSQL among them) in percent of the whole machine\n"
	printf "\nTargets (issue 15), this run:\n\n"
	c1 = one["create (durable)|8"]; c2 = two["create (durable)|8"]; pc = pg["PG create (durable)|8"]
	printf "- durable creates, 8 clients >= 3x pgcrypto: one node %s/s = %sx, two nodes %s/s = %sx of %s/s, %s\n",
	    r0(c1), ratio(c1, pc), r0(c2), ratio(c2, pc), r0(pc), verdict(pc > 0 && c1 >= 3 * pc)
	d1 = one["detokenize 1 field|8"]; d2 = two["detokenize 1 field|8"]; pd = pg["PG detokenize 1 field|8"]
	printf "- single-field detokenize, 8 clients >= 2x pgcrypto: one node %s/s = %sx, two nodes %s/s = %sx of %s/s, %s\n",
	    r0(d1), ratio(d1, pd), r0(d2), ratio(d2, pd), r0(pd), verdict(pd > 0 && d1 >= 2 * pd)
	printf "- two nodes >= 1.6x one node on reads (detokenize 1 field, 8 clients): %sx, %s", ratio(d2, d1),
	    verdict(d1 > 0 && d2 >= 1.6 * d1)
	printf " (16 clients: %sx; pipelined 4x32: %sx; on %s vCPUs both nodes, PostgreSQL and the client share the cores)\n",
	    ratio(two["detokenize 1 field|16"], one["detokenize 1 field|16"]),
	    ratio(two["detokenize 1, pipelined|4x32"], one["detokenize 1, pipelined|4x32"]), ncpu
}
