# bench/table.awk - bench/compare.sh's table: PostgreSQL rows (pg.tsv)
# first, then one scale's vault rows (vault-SCALE.tsv); prints one Markdown
# table with the ratios to the floor and to PostgreSQL, the facts, and
# issue 7's targets. Variables: scale, batch, pgscale.
function r0(x) { return sprintf("%.0f", x) }
function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "" }
function mb(x) { return sprintf("%.1f MiB", x / 1048576) }
function verdict(ok) { return ok ? "**met**" : "**missed**" }
{ file = FILENAME ~ /pg\.tsv$/ ? 1 : 2 }
/^#fact/ { if (file == 1) pgfact[$2] = $3; else fact[$2] = $3; next }
file == 1 { pg[$1 "|" $2] = $3; pgrow[++npg] = $0; next }
{
	key = $1 "|" $2
	rps[key] = $3; fps[key] = $4; p50[key] = $5; p99[key] = $6; p999[key] = $7
	rowv[++nv] = $0
}
END {
	printf "### %s records preloaded (PostgreSQL: %s rows)\n\n", scale, pgscale
	printf "| operation | clients | requests/s | fields/s | p50 us | p99 us | p99.9 us | errors | vs floor | vs PostgreSQL | vaultd CPU | others' CPU |\n"
	printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
	for (i = 1; i <= nv; i++) {
		split(rowv[i], f, "\t")
		floor = ""; vspg = ""
		if (f[1] == "detokenize 1 field" || f[1] ~ /^detokenize batch/ || f[1] == "mixed 90/10") {
			if (f[1] !~ /^detokenize batch/)
			floor = ratio(f[3], rps["ping (floor)|" f[2]])
			if (f[1] == "detokenize 1 field") vspg = ratio(f[3], pg["PG detokenize 1 field|" f[2]])
			if (f[1] ~ /^detokenize batch/) vspg = ratio(f[4], pg["PG detokenize 1 field|" f[2]])
		}
		if (f[1] == "detokenize 1, pipelined")
			for (k in rps) if (k ~ /^ping, pipelined/) floor = ratio(f[3], rps[k])
		if (f[1] == "create (durable)") vspg = ratio(f[3], pg["PG create (durable)|" f[2]])
		if (f[1] ~ /pipelined \(preload\)/)
			printf "| %s | %s | %s | %s | | | | %s | | | %s%% | %s%% |\n", f[1], f[2], r0(f[3]), r0(f[4]), f[8], f[10], f[9]
		else
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%% | %s%% |\n", f[1], f[2], r0(f[3]),
			    r0(f[4]), f[5], f[6], f[7], f[8], floor, vspg, f[10], f[9]
	}
	for (i = 1; i <= npg; i++) {
		split(pgrow[i], f, "\t")
		oc = ""; if (f[9] != "") oc = f[9] "%"
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | | | | %s |\n", f[1], f[2], r0(f[3]), r0(f[4]),
		    f[5], f[6], f[7], f[8], oc
	}
	printf "\n"
	syncs = "?"; if (fact["fsync_p50_us"] > 0) syncs = r0(1e6 / fact["fsync_p50_us"])
	printf "- disk: 4 KiB write + fdatasync p50 %s us, p99 %s us (at most %s serial syncs/s)\n",
	    fact["fsync_p50_us"], fact["fsync_p99_us"], syncs
	n = fact["records_loaded"]
	if (n > 0)
		printf "- after preload: data.mdb %s (%.0f bytes/record), vaultd RSS %s (%.0f bytes/record; empty: %s)\n",
		    mb(fact["data_bytes_loaded"]), fact["data_bytes_loaded"] / n, mb(fact["rss_bytes_loaded"]),
		    fact["rss_bytes_loaded"] / n, mb(fact["rss_bytes_empty"])
	if (fact["records_end"] > 0)
		printf "- at the end (%s records, incl. the ones created and deleted by the rows): data.mdb %s, LMDB pages in use %s (%.0f bytes/record), vaultd RSS %s\n",
		    fact["records_end"], mb(fact["data_bytes_end"]), mb(fact["lmdb_used_bytes_end"]),
		    fact["lmdb_used_bytes_end"] / fact["records_end"], mb(fact["rss_bytes_end"])
	if (pgfact["rows"] > 0)
		printf "- PostgreSQL table + indexes: %s for %s rows (%.0f bytes/row) before the create rows\n",
		    mb(pgfact["table_bytes"]), pgfact["rows"], pgfact["table_bytes"] / pgfact["rows"]
	printf "\nTargets (issue 7), this run:\n\n"
	d = rps["detokenize 1 field|8"]; q = p99["detokenize 1 field|8"]; fl = rps["ping (floor)|8"]
	ok = d >= 100000
	printf "- detokenize, 8 clients >= 100,000 req/s: %s req/s, %s\n", r0(d), verdict(ok)
	ok = q > 0 && q <= 250
	printf "- detokenize, 8 clients, p99 <= 250 us: %s us, %s\n", q, verdict(ok)
	share = 0; if (fl > 0) share = 100 * d / fl
	ok = share >= 70
	printf "- detokenize >= 70%% of the floor (8 clients): %.0f%% of %s req/s, %s\n", share, r0(fl), verdict(ok)
	best = 0
	for (k in fps) if (k ~ /^detokenize batch/ && fps[k] > best) { best = fps[k]; bk = k }
	ok = best >= 600000
	printf "- batched detokenize >= 600,000 fields/s: %s fields/s (%s clients), %s\n", r0(best),
	    substr(bk, index(bk, "|") + 1), verdict(ok)
	best = 0
	for (k in rps) if (k ~ /^create \(durable\)/ && rps[k] > best) { best = rps[k]; bk = k }
	pl = 0
	for (k in rps) if (k ~ /^create, pipelined/) { pl = rps[k]; plk = k }
	ok = best >= 30000 || pl >= 30000
	printf "- durable creates >= 30,000 records/s: synchronous clients %s/s (%s clients); pipelined %s/s (%s); %s\n",
	    r0(best), substr(bk, index(bk, "|") + 1), r0(pl), substr(plk, index(plk, "|") + 1), verdict(ok)
	pd = pg["PG detokenize 1 field|8"]; pc = pg["PG create (durable)|8"]
	ok = d >= 20 * pd
	if (pd > 0)
		printf "- >= 20x PostgreSQL+pgcrypto on detokenize (8 clients): %sx, %s\n", ratio(d, pd), verdict(ok)
	c8 = rps["create (durable)|8"]
	ok = c8 >= 10 * pc
	if (pc > 0)
		printf "- >= 10x PostgreSQL+pgcrypto on create (8 clients): %sx, %s\n", ratio(c8, pc), verdict(ok)
}
