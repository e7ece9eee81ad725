/*
 * requests_list.c - "vaultctl requests list [--state S] [--overdue]": the
 * privacy requests, oldest first (request_list), as a table:
 *
 *   ID  KIND  CHANNEL  REQUESTER  STATE  RECEIVED  DUE  TARGETS
 *
 * dates in UTC; "+" after the due date marks an extended request, a
 * request past its due date is marked "OVERDUE" in a last column, and one
 * whose deletion notices a recipient has not acknowledged in time
 * "ACKS-OVERDUE".
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "state", 1 },
	{ "overdue", 0 },
	{ NULL, 0 },
};

static const char *
date(json_int_t t, char out[CTL_TIME_LEN])
{
	ctl_time_iso(t, out);
	if (t > 0 && strlen(out) > 10)
		out[10] = '\0';     /* YYYY-MM-DD */
	return out;
}

/* A word for a column: blanks and control bytes shown as '?'. */
static void
word(const char *s, int width)
{
	int n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++, n++)
		putchar(*p <= 0x20 || *p == 0x7f ? '?' : *p);
	if (n == 0) {
		putchar('-');
		n = 1;
	}
	printf("%*s", width > n ? width - n : 0, "");
}

/* "targets": a count, or the list of the records targeted. */
static json_int_t
targets(const json_t *r)
{
	const json_t *t = json_object_get(r, "targets");

	return json_is_array(t) ? (json_int_t)json_array_size(t) : json_integer_value(t);
}

int
ctl_cmd_requests_list(struct ctl *c, int argc, char **argv)
{
	static const char *const states[] = { "open", "verified", "deferred", "completed",
		"rejected", NULL };
	const struct ctl_option *opt;
	const char *state = NULL;
	json_t *args, *res = NULL, *reqs, *r;
	char *val, d1[CTL_TIME_LEN], d2[CTL_TIME_LEN];
	int overdue = 0, rc, argno, ok;
	struct ctl_args a;
	enum ctl_arg_kind k;
	size_t i;

	ctl_args_init(&a, argc, argv);
	a.cmd = "requests list";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_POSITIONAL)
			return ctl_usage_error(c, "requests list: argument %d: requests list "
			    "takes options only", argno);
		if (strcmp(opt->name, "overdue") == 0) {
			overdue = 1;
			continue;
		}
		ok = 0;
		for (const char *const *s = states; *s != NULL; s++)
			ok |= strcmp(*s, val) == 0;
		if (!ok || state != NULL)
			return ctl_usage_error(c, "requests list: --state wants one of open, "
			    "verified, deferred, completed, rejected");
		state = val;
	}
	if ((args = json_object()) == NULL ||
	    (state != NULL && ctl_json_set_str(args, "state", state) != 0) ||
	    (overdue && json_object_set_new(args, "overdue", json_true()) != 0)) {
		json_decref(args);
		return ctl_local_error(c, VAULT_E_NOMEM, "requests list: out of memory");
	}
	if ((rc = ctl_call(c, "request_list", 0, args, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json) {
		rc = ctl_json_emit(c, json_incref(res));
		json_decref(res);
		return rc;
	}
	reqs = json_object_get(res, "requests");
	if (json_array_size(reqs) > 0)
		printf("%-6s %-8s %-7s %-9s %-10s %-10s %-11s %s\n", "ID", "KIND",
		    "CHANNEL", "REQUESTER", "STATE", "RECEIVED", "DUE", "TARGETS");
	json_array_foreach(reqs, i, r) {
		int late = json_is_true(json_object_get(r, "overdue"));
		int late_acks = json_is_true(json_object_get(r, "acks_overdue"));

		printf("%-6" JSON_INTEGER_FORMAT " ", ctl_jint(r, "request"));
		word(ctl_jstr(r, "kind"), 8);
		putchar(' ');
		word(ctl_jstr(r, "channel"), 7);
		putchar(' ');
		word(ctl_jstr(r, "requester"), 9);
		putchar(' ');
		word(ctl_jstr(r, "state"), 10);
		printf(" %-10s %-10s%s %" JSON_INTEGER_FORMAT "%s%s\n",
		    date(ctl_jint(r, "received_at"), d1), date(ctl_jint(r, "due_at"), d2),
		    json_is_true(json_object_get(r, "extended")) ? "+" : " ",
		    targets(r), late ? " OVERDUE" : "", late_acks ? " ACKS-OVERDUE" : "");
	}
	if (json_array_size(reqs) == 0)
		puts(state != NULL || overdue ? "no request matches" : "no requests");
	json_decref(res);
	return CTL_EXIT_OK;
}
