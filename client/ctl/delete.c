/*
 * delete.c - "vaultctl delete TOKEN --reason REASON": delete a record for
 * good (crypto-shredding, see SECURITY.md). --json prints {"ok": true,
 * "deleted_at": TIME}, the result's time as every command prints times.
 */
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "reason", 1 },
	{ NULL, 0 },
};

int
ctl_cmd_delete(struct ctl *c, int argc, char **argv)
{
	enum vault_delete_reason reason = 0;
	const struct ctl_option *opt;
	const char *token = NULL;
	struct ctl_args a;
	enum ctl_arg_kind k;
	char *val;
	int rc, argno;

	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_POSITIONAL) {
			if (token != NULL)
				return ctl_usage_error(c, "delete: one record token only");
			token = val;
		} else {
			if (reason != 0)
				return ctl_usage_error(c, "delete: --reason given twice");
			if ((reason = vault_delete_reason_from_name(val)) == 0)
				return ctl_usage_error(c, "delete: unknown reason (one of "
				    "subject_request, retention, administrative)");
		}
	}
	if (token == NULL)
		return ctl_usage_error(c, "delete: which record? (delete TOKEN --reason "
		    "REASON)");
	if (reason == 0)
		return ctl_usage_error(c, "delete: --reason is required (subject_request, "
		    "retention or administrative)");
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	if (c->json) {
		/* Through the JSON call: the typed one drops deleted_at. */
		json_t *res = NULL;
		rc = ctl_call(c, "delete", c->purpose, json_pack("{s:s, s:s}", "record", token,
		    "reason", vault_delete_reason_name(reason)), &res);
		if (rc != CTL_EXIT_OK)
			return rc;
		rc = ctl_json_emit(c, json_pack("{s:b, s:O?}", "ok", 1, "deleted_at",
		    json_object_get(res, "deleted_at")));
		json_decref(res);
		return rc;
	}
	if ((rc = vault_delete(c->v, c->purpose, token, reason)) != 0)
		return ctl_vault_error(c, rc, NULL);
	puts("ok");
	return CTL_EXIT_OK;
}
