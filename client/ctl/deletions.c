/*
 * deletions.c - "vaultctl deletions pending" and "vaultctl deletions ack
 * ID...": the calling client's own deletion feed (deletions_pending,
 * deletions_ack). pending prints one notice a line:
 *
 *   notice ID record TOKEN deleted TIME reason R [request N] fields F[=TOKEN],...
 *
 * then "more pending" if the page of 1000 did not hold them all.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static void
print_notice(json_t *n)
{
	char t[CTL_TIME_LEN];
	const char *key;
	json_t *tok;
	int first = 1;

	printf("notice %" JSON_INTEGER_FORMAT " record %s deleted %s reason %s",
	    json_integer_value(json_object_get(n, "id")),
	    json_string_value(json_object_get(n, "record")),
	    ctl_time_iso(json_integer_value(json_object_get(n, "deleted_at")), t),
	    json_string_value(json_object_get(n, "reason")));
	json_int_t req = json_integer_value(json_object_get(n, "request"));
	if (req != 0)
		printf(" request %" JSON_INTEGER_FORMAT, req);
	printf(" fields ");
	json_object_foreach(json_object_get(n, "fields"), key, tok) {
		printf("%s%s", first ? "" : ",", key);
		if (json_is_string(tok))
			printf("=%s", json_string_value(tok));
		first = 0;
	}
	putchar('\n');
}

int
ctl_cmd_deletions_pending(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	json_t *res = NULL, *notices, *n;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc, argno;
	size_t i;
	char *val;

	ctl_args_init(&a, argc, argv);
	a.cmd = "deletions pending";
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		return ctl_usage_error(c, "deletions pending: argument %d: takes no arguments",
		    argno);
	}
	json_t *args = json_pack("{s:i}", "limit", 1000);
	if (args == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "deletions pending: out of memory");
	if ((rc = ctl_call(c, "deletions_pending", 0, args, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json) {
		rc = ctl_json_emit(c, json_incref(res));
	} else {
		notices = json_object_get(res, "notices");
		json_array_foreach(notices, i, n)
			print_notice(n);
		if (json_array_size(notices) == 0)
			puts("no deletions pending");
		if (json_is_true(json_object_get(res, "more")))
			puts("more pending");
	}
	json_decref(res);
	return rc;
}

int
ctl_cmd_deletions_ack(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	json_t *res = NULL, *ids = json_array();
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc, argno;
	uint64_t id;
	char *val;

	if (ids == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "deletions ack: out of memory");
	ctl_args_init(&a, argc, argv);
	a.cmd = "deletions ack";
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR || ctl_parse_id(val, &id) != 0) {
			json_decref(ids);
			return k == CTL_ARG_ERROR ? CTL_EXIT_USAGE : ctl_usage_error(c,
			    "deletions ack: argument %d: a notice id (a number)", argno);
		}
		json_array_append_new(ids, json_integer((json_int_t)id));
	}
	if (json_array_size(ids) == 0) {
		json_decref(ids);
		return ctl_usage_error(c, "deletions ack: which notices? (deletions ack ID...)");
	}
	size_t n = json_array_size(ids);
	if ((rc = ctl_call(c, "deletions_ack", 0, json_pack("{s:o}", "ids", ids), &res)) !=
	    CTL_EXIT_OK)
		return rc;
	if (c->json)
		rc = ctl_json_emit(c, json_incref(res));
	else
		printf("acknowledged %zu notice%s\n", n, n == 1 ? "" : "s");
	json_decref(res);
	return rc;
}
