/*
 * holds_place.c - "vaultctl holds place RECORD_TOKEN --purpose P --reason
 * TEXT [--expires TIME]": keep a record from deletion for one of the
 * privacy policy's exceptions (hold_place, administrators); prints the
 * hold's id.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "purpose", 1 },
	{ "reason", 1 },
	{ "expires", 1 },
	{ NULL, 0 },
};

static const char *const purposes[] = { "transaction", "security", "error_correction",
	"legal", "internal", NULL };

int
ctl_cmd_holds_place(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *record = NULL, *purpose = NULL, *reason = NULL;
	json_t *args, *res = NULL;
	uint64_t expires = 0;
	int have_expires = 0, rc, argno, ok;
	struct ctl_args a;
	enum ctl_arg_kind k;
	char *val;

	ctl_args_init(&a, argc, argv);
	a.cmd = "holds place";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_POSITIONAL) {
			if (record != NULL || val[0] == '\0')
				return ctl_usage_error(c, "holds place: argument %d: one record "
				    "token only", argno);
			record = val;
		} else if (strcmp(opt->name, "purpose") == 0) {
			ok = 0;
			for (const char *const *p = purposes; *p != NULL; p++)
				ok |= strcmp(*p, val) == 0;
			if (!ok || purpose != NULL)
				return ctl_usage_error(c, "holds place: --purpose wants one of "
				    "transaction, security, error_correction, legal, internal");
			purpose = val;
		} else if (strcmp(opt->name, "reason") == 0) {
			if (reason != NULL || val[0] == '\0' || strlen(val) > 256)
				return ctl_usage_error(c, "holds place: --reason wants one text "
				    "of 1 to 256 bytes");
			reason = val;
		} else {
			if (have_expires || ctl_parse_when(val, &expires) != 0)
				return ctl_usage_error(c, "holds place: --expires wants Unix "
				    "seconds or a date, YYYY-MM-DD (UTC)");
			have_expires = 1;
		}
	}
	if (record == NULL)
		return ctl_usage_error(c, "holds place: which record? (holds place "
		    "RECORD_TOKEN --purpose P --reason TEXT [--expires TIME])");
	if (purpose == NULL || reason == NULL)
		return ctl_usage_error(c, "holds place: --purpose and --reason are required");
	args = json_pack("{s:s, s:s, s:s}", "record", record, "purpose", purpose,
	    "reason", reason);
	if (args == NULL || (have_expires && ctl_json_set_int(args, "expires_at",
	    (json_int_t)expires) != 0)) {
		json_decref(args);
		return ctl_local_error(c, VAULT_E_NOMEM, "holds place: cannot build the "
		    "request (are the arguments UTF-8?)");
	}
	if ((rc = ctl_call(c, "hold_place", 0, args, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json)
		rc = ctl_json_emit(c, json_incref(res));
	else
		printf("hold %" JSON_INTEGER_FORMAT "\n", ctl_jint(res, "hold"));
	json_decref(res);
	return rc;
}
