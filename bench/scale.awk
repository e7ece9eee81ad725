# bench/scale.awk - how the costs grow with the number of records: one
# column per vault-SCALE.tsv given (smallest first, as compare.sh passes
# them), for the rows that matter most, plus data file and RSS per record.
function r0(x) { return sprintf("%.0f", x) }
FNR == 1 { nf++; }
/^#fact/ { fact[nf, $2] = $3; next }
{ rps[nf, $1 "|" $2] = $3; fps[nf, $1 "|" $2] = $4; p99[nf, $1 "|" $2] = $6 }
END {
	split("detokenize 1 field|1,detokenize 1 field|8,detokenize 1 field|16,detokenize batch of 100|8,create (durable)|8,create (durable)|64,update (durable)|8,mixed 90/10|8", keys, ",")
	printf "### How the costs grow with the number of records\n\n| | "
	for (i = 1; i <= nf; i++) printf "%s records | ", fact[i, "records_loaded"]
	printf "last / first |\n|---|"
	for (i = 1; i <= nf; i++) printf "---:|"
	printf "---:|\n"
	for (j = 1; j in keys; j++) {
		k = keys[j]; split(k, kk, "|")
		printf "| %s, %s clients: req/s | ", kk[1], kk[2]
		for (i = 1; i <= nf; i++) printf "%s | ", r0(rps[i, k])
		g = 0; if (rps[1, k] > 0) g = rps[nf, k] / rps[1, k]
		printf "%.2f |\n", g
		printf "| %s, %s clients: p99 us | ", kk[1], kk[2]
		for (i = 1; i <= nf; i++) printf "%s | ", p99[i, k]
		g = 0; if (p99[1, k] > 0) g = p99[nf, k] / p99[1, k]
		printf "%.2f |\n", g
	}
	printf "| create, pipelined (preload): records/s | "
	for (i = 1; i <= nf; i++) for (k in rps) { split(k, sk, SUBSEP); if (sk[1] == i && sk[2] ~ /^create, pipelined/) printf "%s | ", r0(rps[k]) }
	printf "|\n| data.mdb bytes/record after preload | "
	for (i = 1; i <= nf; i++) printf "%.0f | ", fact[i, "data_bytes_loaded"] / fact[i, "records_loaded"]
	printf "|\n| vaultd RSS after preload | "
	for (i = 1; i <= nf; i++) printf "%.0f MiB | ", fact[i, "rss_bytes_loaded"] / 1048576
	printf "|\n| vaultd RSS at the end | "
	for (i = 1; i <= nf; i++) printf "%.0f MiB | ", fact[i, "rss_bytes_end"] / 1048576
	printf "|\n\n"
	q1 = p99[1, "detokenize 1 field|8"]; qn = p99[nf, "detokenize 1 field|8"]
	ok = qn <= 1.5 * q1
	if (q1 > 0)
		printf "- target: detokenize p99 (8 clients) at %s records within 1.5x of %s records: %.2fx, %s\n",
		    fact[nf, "records_loaded"], fact[1, "records_loaded"], qn / q1, ok ? "**met**" : "**missed**"
}
