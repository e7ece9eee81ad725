/*
 * test_prom.c - the Prometheus renderer of vaultctl metrics
 * (client/ctl/prom.c) on crafted maps: cumulative buckets ending with +Inf
 * equal to _count, bounds in seconds, escaped label values, every family
 * with HELP and TYPE (tests/prom_check.h), and a malformed map refused
 * naming the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "client/ctl/prom.h"
#include "../prom_check.h"

static const char *const good =
    "{\"sealed\": true, \"uptime_seconds\": 75,"
    " \"connections\": {\"open\": 2, \"accepted\": 12, \"refused\": {\"policy\": 1, \"limit\": 0}},"
    " \"ops\": {\"create\": {\"requests\": 5, \"errors\": {}},"
    "          \"re\\\"ad\\\\\": {\"requests\": 7, \"errors\": {\"VAULT_E_DELETED\": 2, \"VAULT_E_BAD_TOKEN\": 1}}},"
    " \"bad_requests\": {\"requests\": 1, \"errors\": {\"VAULT_E_PROTO_UNKNOWN_OP\": 1}},"
    " \"commit\": {\"unit\": \"microseconds\", \"le\": [50, 2500, 1000000], \"counts\": [1, 0, 3, 2],"
    "   \"sum\": 4500123, \"count\": 6},"
    " \"flush\": {\"unit\": \"microseconds\", \"le\": [50], \"counts\": [0, 0], \"sum\": 0, \"count\": 0},"
    " \"batch\": {\"unit\": \"writes\", \"le\": [1, 2], \"counts\": [4, 1, 1], \"sum\": 9, \"count\": 6},"
    " \"write_queue\": {\"writes\": 3, \"bytes\": 300}, \"records\": 4, \"tombstones\": 1,"
    " \"rotation\": {\"state\": \"stalled\", \"target_epoch\": 2, \"records\": 10,"
    "   \"examined\": 4, \"rewrapped\": 3}}";

static char *
render(const char *json, int *rc, const char **bad)
{
	json_error_t e;
	json_t *m = json_loads(json, 0, &e);
	cr_assert_not_null(m, "%s", e.text);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_not_null(f);
	*bad = NULL;
	*rc = prom_render(f, m, bad);
	fclose(f);
	json_decref(m);
	return text;
}

Test(prom, renders_a_map_that_passes_the_format_check)
{
	int rc;
	const char *bad;
	char *text = render(good, &rc, &bad);
	cr_assert_eq(rc, 0, "bad: %s", bad ? bad : "-");
	struct prom_doc *d = calloc(1, sizeof(*d));
	cr_assert_not_null(d);
	prom_check(d, text);

	/* Cumulative, in seconds, +Inf equal to _count. */
	cr_assert_not_null(strstr(text,
	    "vault_commit_duration_seconds_bucket{le=\"0.00005\"} 1\n"
	    "vault_commit_duration_seconds_bucket{le=\"0.0025\"} 1\n"
	    "vault_commit_duration_seconds_bucket{le=\"1\"} 4\n"
	    "vault_commit_duration_seconds_bucket{le=\"+Inf\"} 6\n"
	    "vault_commit_duration_seconds_sum 4.500123\n"
	    "vault_commit_duration_seconds_count 6\n"), "%s", text);
	cr_assert_not_null(strstr(text, "vault_commit_batch_writes_bucket{le=\"2\"} 5\n"), "%s", text);
	cr_assert_not_null(strstr(text, "vault_flush_duration_seconds_sum 0\n"), "%s", text);
	/* Label values escaped. */
	cr_assert_eq(prom_value(d, "vault_requests_total{op=\"re\\\"ad\\\\\"}"), 7);
	cr_assert_eq(prom_value(d,
	    "vault_request_errors_total{op=\"re\\\"ad\\\\\",error=\"VAULT_E_DELETED\"}"), 2);
	cr_assert_eq(prom_value(d, "vault_bad_requests_total{error=\"VAULT_E_PROTO_UNKNOWN_OP\"}"), 1);
	cr_assert_eq(prom_value(d, "vault_connections_refused_total{reason=\"policy\"}"), 1);
	cr_assert_eq(prom_value(d, "vault_sealed"), 1);
	cr_assert_eq(prom_value(d, "vault_rotation_running"), 1);
	cr_assert_eq(prom_value(d, "vault_rotation_stalled"), 1);
	cr_assert_eq(prom_value(d, "vault_rotation_examined_records"), 4);
	cr_assert_eq(prom_value(d, "vault_write_queue_bytes"), 300);
	free(d);
	free(text);
}

Test(prom, a_malformed_map_is_refused_naming_the_key)
{
	static const struct {
		const char *from, *to, *key;
	} cases[] = {
		{ "\"records\": 4", "\"records\": \"4\"", "records" },
		{ "\"records\": 4", "\"records\": -4", "records" },
		{ "\"ops\": {", "\"opz\": {", "ops" },
		{ "\"counts\": [1, 0, 3, 2]", "\"counts\": [1, 0, 3]", "commit" },
		{ "\"counts\": [4, 1, 1]", "\"counts\": [4, 1, \"x\"]", "batch" },
		{ "\"state\": \"stalled\"", "\"state\": 2", "rotation" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *at = strstr(good, cases[i].from);
		cr_assert_not_null(at, "%s", cases[i].from);
		char json[4096];
		snprintf(json, sizeof(json), "%.*s%s%s", (int)(at - good), good, cases[i].to,
		    at + strlen(cases[i].from));
		int rc;
		const char *bad;
		char *text = render(json, &rc, &bad);
		cr_assert_eq(rc, -1, "case %zu accepted", i);
		cr_assert_not_null(bad);
		cr_assert_str_eq(bad, cases[i].key, "case %zu", i);
		free(text);
	}
}
