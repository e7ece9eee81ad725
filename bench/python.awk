# The Python client's rows (bench/python-bench.py) beside the C client's of
# the same run (vault-compare): awk -F'\t' -f bench/python.awk VAULT.tsv PYTHON.tsv
FNR == NR { if ($1 !~ /^#/) c[$1 "|" $2] = $3; next }
$1 !~ /^#/ { py[++n] = $1; pc[n] = $2; pr[n] = $3; p99[n] = $6 }
END {
	# Python row -> the C row it stands beside.
	m["python detokenize 1 field"] = "detokenize 1 field|1"
	m["python create (durable)"] = "create (durable)|1"
	m["python detokenize 1, pipelined"] = "detokenize 1, pipelined|4x32"
	m["python create, pipelined"] = "create, pipelined (preload)"
	m["python asyncio detokenize 1"] = "detokenize 1, pipelined|4x32"
	printf "## Python client (client/python) beside the C client, same vaultd, same run\n\n"
	printf "| %-32s | %-7s | %10s | %10s | %-34s | %10s | %7s |\n", "Python row", "clients",
	    "req/s", "p99 us", "C row", "C req/s", "Py/C"
	printf "|%s|%s|%s|%s|%s|%s|%s|\n", "---", "---", "---:", "---:", "---", "---:", "---:"
	for (i = 1; i <= n; i++) {
		key = m[py[i]]; cr = ""; label = key; sub(/\|/, ", clients ", label)
		if (key ~ /\|/) cr = c[key]
		else for (k in c) if (index(k, key "|") == 1) cr = c[k]
		ratio = (cr > 0) ? sprintf("%.2f", pr[i] / cr) : "-"
		printf "| %-32s | %-7s | %10.0f | %10.1f | %-34s | %10s | %7s |\n", py[i], pc[i], pr[i],
		    p99[i], label, cr == "" ? "-" : cr, ratio
	}
}
