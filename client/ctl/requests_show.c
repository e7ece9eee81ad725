/*
 * requests_show.c - "vaultctl requests show ID": one privacy request
 * (request_show): its summary as "key: value" lines, its history one event
 * a line, the extension reason, and for a completed deletion the receipt
 * and its signature line ("ed25519 KEY_VERSION BASE64", as in FILE.sig),
 * its erasure horizon (pending with the estimate, or complete) and, once
 * complete, the signed erasure-complete document and its signature line.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static void
line(const char *name, const char *value)
{
	printf("%s: ", name);
	ctl_put_text(value[0] != '\0' ? value : "-");
	putchar('\n');
}

static void
time_line(const json_t *res, const char *name, const char *key)
{
	char when[CTL_TIME_LEN];

	printf("%s: %s\n", name, ctl_time_iso(ctl_jint(res, key), when));
}

/* A completed deletion's erasure horizon and erasure-complete document. */
static void
print_horizon(const json_t *res)
{
	char when[CTL_TIME_LEN];
	const json_t *ua = json_object_get(res, "unrecoverable_after");

	if (!json_is_string(json_object_get(res, "horizon")))
		return;
	if (json_is_string(json_object_get(res, "erasure_complete"))) {
		printf("erasure horizon: complete\nerasure-complete: ");
		ctl_put_text(ctl_jstr(res, "erasure_complete"));
		printf("\nerasure signature: " CTL_SIG_ALGORITHM " %" JSON_INTEGER_FORMAT " ",
		    ctl_jint(res, "erasure_key_version"));
		ctl_put_text(ctl_jstr(res, "erasure_signature"));
		putchar('\n');
	} else if (json_is_integer(ua)) {
		printf("erasure horizon: pending, estimated unrecoverable after %s\n",
		    ctl_time_iso(json_integer_value(ua), when));
	} else {
		puts("erasure horizon: pending, after the next rotate-and-retire (no rotation "
		    "is scheduled)");
	}
}

static void
print_request(const json_t *res)
{
	const json_t *t = json_object_get(res, "targets"), *e;
	char when[CTL_TIME_LEN];
	size_t i;

	printf("request: %" JSON_INTEGER_FORMAT "\n", ctl_jint(res, "request"));
	line("kind", ctl_jstr(res, "kind"));
	line("channel", ctl_jstr(res, "channel"));
	line("requester", ctl_jstr(res, "requester"));
	line("state", ctl_jstr(res, "state"));
	time_line(res, "received", "received_at");
	printf("due: %s%s%s\n", ctl_time_iso(ctl_jint(res, "due_at"), when),
	    json_is_true(json_object_get(res, "extended")) ? " (extended)" : "",
	    json_is_true(json_object_get(res, "overdue")) ? " OVERDUE" : "");
	if (json_is_array(t)) {
		printf("targets:");
		json_array_foreach(t, i, e) {
			putchar(' ');
			ctl_put_text(json_is_string(e) ? json_string_value(e) : "?");
		}
		printf("%s\n", json_array_size(t) == 0 ? " none" : "");
	} else {
		printf("targets: %" JSON_INTEGER_FORMAT "\n", json_integer_value(t));
	}
	if (ctl_jint(res, "completed_at") > 0)
		time_line(res, "completed", "completed_at");
	if (json_is_string(json_object_get(res, "confirmation")))
		line("confirmation", ctl_jstr(res, "confirmation"));
	/* The spec names the key only as "the extension reason". */
	if (json_is_string(json_object_get(res, "extension_reason")))
		line("extension reason", ctl_jstr(res, "extension_reason"));
	else if (json_is_string(json_object_get(res, "reason")))
		line("extension reason", ctl_jstr(res, "reason"));
	json_array_foreach(json_object_get(res, "history"), i, e) {
		printf("history: %s ", ctl_time_iso(ctl_jint(e, "time"), when));
		ctl_put_text(ctl_jstr(e, "event"));
		printf(" by ");
		ctl_put_text(ctl_jstr(e, "client")[0] != '\0' ? ctl_jstr(e, "client") : "-");
		putchar('\n');
	}
	/* One line per deletion notice: "notified CLIENT notice N at T, acknowledged T". */
	json_array_foreach(json_object_get(res, "recipients"), i, e) {
		printf("notified: ");
		ctl_put_text(ctl_jstr(e, "client"));
		printf(" notice %" JSON_INTEGER_FORMAT " at %s", ctl_jint(e, "notice"),
		    ctl_time_iso(ctl_jint(e, "notified_at"), when));
		if (json_is_integer(json_object_get(e, "acked_at")))
			printf(", acknowledged %s\n", ctl_time_iso(ctl_jint(e, "acked_at"), when));
		else
			printf(", not acknowledged%s\n",
			    json_is_true(json_object_get(e, "overdue")) ? " OVERDUE" : "");
	}
	if (json_is_string(json_object_get(res, "receipt"))) {
		printf("receipt: ");
		ctl_put_text(ctl_jstr(res, "receipt"));
		printf("\nsignature: " CTL_SIG_ALGORITHM " %" JSON_INTEGER_FORMAT " ",
		    ctl_jint(res, "key_version"));
		ctl_put_text(ctl_jstr(res, "signature"));
		putchar('\n');
	}
	print_horizon(res);
}

int
ctl_cmd_requests_show(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *id_arg = NULL;
	json_t *args, *res = NULL;
	uint64_t id;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc, argno;
	char *val;

	ctl_args_init(&a, argc, argv);
	a.cmd = "requests show";
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (id_arg != NULL)
			return ctl_usage_error(c, "requests show: argument %d: one request id "
			    "only", argno);
		id_arg = val;
	}
	if (id_arg == NULL || ctl_parse_id(id_arg, &id) != 0)
		return ctl_usage_error(c, "requests show: which request? (requests show ID; "
		    "ID a number)");
	if ((args = json_pack("{s:I}", "request", (json_int_t)id)) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "requests show: out of memory");
	if ((rc = ctl_call(c, "request_show", 0, args, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json)
		rc = ctl_json_emit(c, json_incref(res));
	else
		print_request(res);
	json_decref(res);
	return rc;
}
