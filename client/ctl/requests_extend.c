/*
 * requests_extend.c - "vaultctl requests extend ID --reason TEXT": move a
 * request's due date 45 days later, once (request_extend); prints the new
 * due date.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "reason", 1 },
	{ NULL, 0 },
};

int
ctl_cmd_requests_extend(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *id_arg = NULL, *reason = NULL;
	json_t *args, *res = NULL;
	char *val, when[CTL_TIME_LEN];
	uint64_t id;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc, argno;

	ctl_args_init(&a, argc, argv);
	a.cmd = "requests extend";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_OPTION && (reason != NULL || val[0] == '\0' ||
		    strlen(val) > 256))
			return ctl_usage_error(c, "requests extend: --reason wants one text of "
			    "1 to 256 bytes");
		if (k == CTL_ARG_OPTION)
			reason = val;
		else if (id_arg == NULL)
			id_arg = val;
		else
			return ctl_usage_error(c, "requests extend: argument %d: one request "
			    "id only", argno);
	}
	if (id_arg == NULL || ctl_parse_id(id_arg, &id) != 0)
		return ctl_usage_error(c, "requests extend: which request? (requests extend "
		    "ID --reason TEXT; ID a number)");
	if (reason == NULL)
		return ctl_usage_error(c, "requests extend: --reason is required");
	if ((args = json_pack("{s:I, s:s}", "request", (json_int_t)id, "reason", reason)) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "requests extend: cannot build the "
		    "request (is the reason UTF-8?)");
	if ((rc = ctl_call(c, "request_extend", 0, args, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json) {
		rc = ctl_json_emit(c, json_incref(res));
	} else if (json_object_get(res, "due_at") != NULL) {
		printf("request %s extended: due %s\n", id_arg,
		    ctl_time_iso(ctl_jint(res, "due_at"), when));
	} else {
		printf("request %s extended\n", id_arg);
	}
	json_decref(res);
	return rc;
}
