/*
 * metrics.c - "vaultctl metrics": the server's counters (the admin op
 * metrics, PROTOCOL.md 8.19) as Prometheus text (prom.c), or with --json
 * the op's map as it came. Also the counters' summary that "vaultctl
 * status" prints for an administrator.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"
#include "prom.h"

int
ctl_cmd_metrics(struct ctl *c, int argc, char **argv)
{
	json_t *res = NULL;
	const char *bad = NULL;
	int rc;

	if ((rc = ctl_no_args(c, argv[0], argc, argv)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_call(c, "metrics", 0, NULL, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json)
		return ctl_json_emit(c, res);
	rc = prom_render(stdout, res, &bad);
	json_decref(res);
	if (rc != 0)
		return ctl_local_error(c, VAULT_E_PROTO_FRAME,
		    "metrics: the server's reply lacks or mistypes \"%s\"", bad);
	return CTL_EXIT_OK;
}

json_t *
ctl_metrics_fetch(struct ctl *c)
{
	char *raw = NULL;
	json_t *m = NULL;
	if (vault_call_json(c->v, "metrics", 0, NULL, &raw) == 0)
		m = json_loads(raw, 0, NULL);
	vault_free(raw);
	if (!json_is_object(m)) {
		json_decref(m);
		return NULL;
	}
	return m;
}

static json_int_t
num(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* "commits: N (mean X ms, flush mean Y ms, Z writes per batch)" */
static void
print_commits(const json_t *m)
{
	const json_t *commit = json_object_get(m, "commit"), *flush = json_object_get(m, "flush"),
	    *batch = json_object_get(m, "batch");
	json_int_t n = num(commit, "count"), nf = num(flush, "count"), nb = num(batch, "count");
	printf("commits: %" JSON_INTEGER_FORMAT, n);
	if (n > 0 && nf > 0 && nb > 0)
		printf(" (mean %.3f ms, flush mean %.3f ms, %.1f writes per batch)",
		    (double)num(commit, "sum") / (double)n / 1000.0,
		    (double)num(flush, "sum") / (double)nf / 1000.0,
		    (double)num(batch, "sum") / (double)nb);
	putchar('\n');
}

void
ctl_metrics_print(const json_t *m)
{
	const json_t *conn = json_object_get(m, "connections"), *ops = json_object_get(m, "ops");
	const json_t *refused = json_object_get(conn, "refused"), *row, *n, *q;
	json_int_t requests = 0, errors = 0, nrefused = 0;
	const char *op, *code;
	int first;

	json_object_foreach((json_t *)refused, code, n)
		nrefused += json_integer_value(n);
	printf("connections: %" JSON_INTEGER_FORMAT " open, %" JSON_INTEGER_FORMAT
	    " accepted, %" JSON_INTEGER_FORMAT " refused\n", num(conn, "open"),
	    num(conn, "accepted"), nrefused);
	json_object_foreach((json_t *)ops, op, row) {
		requests += num(row, "requests");
		json_object_foreach(json_object_get(row, "errors"), code, n)
			errors += json_integer_value(n);
	}
	/* Only the operations that were called, and the errors that occurred. */
	printf("requests: %" JSON_INTEGER_FORMAT, requests);
	first = 1;
	json_object_foreach((json_t *)ops, op, row) {
		if (num(row, "requests") == 0)
			continue;
		printf("%s%s %" JSON_INTEGER_FORMAT, first ? " (" : ", ", op, num(row, "requests"));
		first = 0;
	}
	printf("%s\n", first ? "" : ")");
	printf("errors: %" JSON_INTEGER_FORMAT, errors);
	first = 1;
	json_object_foreach((json_t *)ops, op, row) {
		json_object_foreach(json_object_get(row, "errors"), code, n) {
			printf("%s%s %s %" JSON_INTEGER_FORMAT, first ? " (" : ", ", op, code,
			    json_integer_value(n));
			first = 0;
		}
	}
	printf("%s\n", first ? "" : ")");
	row = json_object_get(m, "bad_requests");
	printf("bad requests: %" JSON_INTEGER_FORMAT "\n", num(row, "requests"));
	print_commits(m);
	q = json_object_get(m, "write_queue");
	printf("write queue: %" JSON_INTEGER_FORMAT " writes, %" JSON_INTEGER_FORMAT " bytes\n",
	    num(q, "writes"), num(q, "bytes"));
}
