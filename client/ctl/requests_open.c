/*
 * requests_open.c - "vaultctl requests open --kind delete|know|opt_out
 * --channel online|phone|email|mail --requester self|agent|guardian
 * [--permission REF] [--channels email,phone,mail] [--received-at TIME]":
 * log a person's privacy request (request_open); prints its id and due date.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "kind", 1 },
	{ "channel", 1 },
	{ "requester", 1 },
	{ "permission", 1 },
	{ "channels", 1 },
	{ "received-at", 1 },
	{ NULL, 0 },
};

static int
one_of(const char *s, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcmp(s, *names) == 0)
			return 1;
	return 0;
}

/* "email,phone": each a marketing channel, each once. */
static json_t *
channel_list(const char *s)
{
	json_t *a = json_array();
	int seen[CTL_NCHANNELS] = { 0 };

	while (a != NULL) {
		size_t n = strcspn(s, ",");
		int i = -1;

		for (int k = 0; k < CTL_NCHANNELS; k++)
			if (strlen(ctl_channels[k]) == n && memcmp(ctl_channels[k], s, n) == 0)
				i = k;
		if (i < 0 || seen[i]++ ||
		    json_array_append_new(a, json_string(ctl_channels[i])) != 0) {
			json_decref(a);
			return NULL;
		}
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	return a;
}

int
ctl_cmd_requests_open(struct ctl *c, int argc, char **argv)
{
	static const char *const kinds[] = { "delete", "know", "opt_out", NULL };
	static const char *const chans[] = { "online", "phone", "email", "mail", NULL };
	static const char *const reqs[] = { "self", "agent", "guardian", NULL };
	const char *kind = NULL, *channel = NULL, *requester = NULL, *permission = NULL;
	const struct ctl_option *opt;
	json_t *args = NULL, *res = NULL, *channels = NULL;
	uint64_t received = 0;
	int have_received = 0, rc, argno;
	struct ctl_args a;
	enum ctl_arg_kind k;
	char *val, when[CTL_TIME_LEN];

	ctl_args_init(&a, argc, argv);
	a.cmd = "requests open";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		rc = CTL_EXIT_OK;
		if (k == CTL_ARG_ERROR)
			rc = CTL_EXIT_USAGE;
		else if (k == CTL_ARG_POSITIONAL)
			rc = ctl_usage_error(c, "requests open: argument %d: requests open "
			    "takes options only", argno);
		else if (strcmp(opt->name, "kind") == 0) {
			if (!one_of(val, kinds))
				rc = ctl_usage_error(c, "requests open: --kind wants delete, know "
				    "or opt_out");
			kind = val;
		} else if (strcmp(opt->name, "channel") == 0) {
			if (!one_of(val, chans))
				rc = ctl_usage_error(c, "requests open: --channel wants online, "
				    "phone, email or mail");
			channel = val;
		} else if (strcmp(opt->name, "requester") == 0) {
			if (!one_of(val, reqs))
				rc = ctl_usage_error(c, "requests open: --requester wants self, "
				    "agent or guardian");
			requester = val;
		} else if (strcmp(opt->name, "permission") == 0) {
			if (val[0] == '\0' || strlen(val) > 128)
				rc = ctl_usage_error(c, "requests open: --permission wants a "
				    "reference of 1 to 128 bytes");
			permission = val;
		} else if (strcmp(opt->name, "channels") == 0) {
			json_decref(channels);
			if ((channels = channel_list(val)) == NULL)
				rc = ctl_usage_error(c, "requests open: --channels wants a list "
				    "of email, phone and mail, comma-separated, each once");
		} else {
			if (ctl_parse_when(val, &received) != 0)
				rc = ctl_usage_error(c, "requests open: --received-at wants Unix "
				    "seconds or a date, YYYY-MM-DD (UTC)");
			have_received = 1;
		}
		if (rc != CTL_EXIT_OK)
			goto out;
	}
	if (kind == NULL || channel == NULL || requester == NULL) {
		rc = ctl_usage_error(c, "requests open: --kind, --channel and --requester "
		    "are required");
		goto out;
	}
	/* The server decides the rest (permission rules, channels for opt_out). */
	args = json_pack("{s:s, s:s, s:s}", "kind", kind, "channel", channel,
	    "requester", requester);
	if (args == NULL ||
	    (permission != NULL && ctl_json_set_str(args, "permission", permission) != 0) ||
	    (channels != NULL && json_object_set(args, "channels", channels) != 0) ||
	    (have_received && ctl_json_set_int(args, "received_at",
	    (json_int_t)received) != 0)) {
		json_decref(args);
		rc = ctl_local_error(c, VAULT_E_NOMEM, "requests open: out of memory");
		goto out;
	}
	if ((rc = ctl_call(c, "request_open", 0, args, &res)) != CTL_EXIT_OK)
		goto out;
	if (c->json) {
		rc = ctl_json_emit(c, json_incref(res));
	} else {
		printf("request %" JSON_INTEGER_FORMAT " ", ctl_jint(res, "request"));
		ctl_put_text(ctl_jstr(res, "state"));
		printf(", due %s\n", ctl_time_iso(ctl_jint(res, "due_at"), when));
	}
out:
	json_decref(channels);
	json_decref(res);
	return rc;
}
