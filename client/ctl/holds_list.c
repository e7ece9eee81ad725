/*
 * holds_list.c - "vaultctl holds list [RECORD_TOKEN]": the live holds, of
 * one record or of all (hold_list, administrators), one a line:
 *
 *   hold ID record TOKEN purpose P expires TIME placed TIME by CLIENT reason: TEXT
 */
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_holds_list(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *record = NULL;
	json_t *args, *res = NULL, *holds;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc, argno;
	char *val;

	ctl_args_init(&a, argc, argv);
	a.cmd = "holds list";
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (record != NULL || val[0] == '\0')
			return ctl_usage_error(c, "holds list: argument %d: at most one record "
			    "token", argno);
		record = val;
	}
	args = record != NULL ? json_pack("{s:s}", "record", record) : json_object();
	if (args == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "holds list: out of memory");
	if ((rc = ctl_call(c, "hold_list", 0, args, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json) {
		rc = ctl_json_emit(c, json_incref(res));
	} else {
		holds = json_object_get(res, "holds");
		ctl_print_holds(holds);
		if (json_array_size(holds) == 0)
			puts("no holds");
	}
	json_decref(res);
	return rc;
}
