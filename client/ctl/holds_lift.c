/*
 * holds_lift.c - "vaultctl holds lift ID": lift a hold (hold_lift,
 * administrators); prints the deferred deletion requests that completed
 * because of it.
 */
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_holds_lift(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *id_arg = NULL;
	json_t *args, *res = NULL, *done, *e;
	uint64_t id;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc, argno;
	size_t i;
	char *val;

	ctl_args_init(&a, argc, argv);
	a.cmd = "holds lift";
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (id_arg != NULL)
			return ctl_usage_error(c, "holds lift: argument %d: one hold id only",
			    argno);
		id_arg = val;
	}
	if (id_arg == NULL || ctl_parse_id(id_arg, &id) != 0)
		return ctl_usage_error(c, "holds lift: which hold? (holds lift ID; ID a "
		    "number)");
	if ((args = json_pack("{s:I}", "hold", (json_int_t)id)) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "holds lift: out of memory");
	if ((rc = ctl_call(c, "hold_lift", 0, args, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json) {
		rc = ctl_json_emit(c, json_incref(res));
	} else {
		done = json_object_get(res, "completed");
		printf("hold %s lifted", id_arg);
		if (json_array_size(done) > 0) {
			printf("; requests completed:");
			json_array_foreach(done, i, e)
				printf(" %" JSON_INTEGER_FORMAT, json_integer_value(e));
		}
		putchar('\n');
	}
	json_decref(res);
	return rc;
}
