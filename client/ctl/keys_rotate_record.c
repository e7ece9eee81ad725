/*
 * keys_rotate_record.c - "vaultctl keys rotate-record TOKEN": a new data
 * key for one record, its fields and documents re-encrypted under it;
 * prints the new data-key version. Tokens issued for the record keep
 * working.
 */
#include <inttypes.h>
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_keys_rotate_record(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *token = NULL;
	struct ctl_args a;
	enum ctl_arg_kind k;
	uint32_t version = 0;
	int rc, argno;
	char *val;

	ctl_args_init(&a, argc, argv);
	a.cmd = "keys rotate-record";
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (token != NULL)
			return ctl_usage_error(c, "keys rotate-record: one record token only");
		token = val;
	}
	if (token == NULL)
		return ctl_usage_error(c, "keys rotate-record: which record? "
		    "(keys rotate-record TOKEN)");
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = vault_keys_rotate_record(c->v, token, &version)) != 0)
		return ctl_vault_error(c, rc, NULL);
	if (c->json)
		return ctl_json_emit(c, json_pack("{s:I}", "dek_version",
		    (json_int_t)version));
	printf("data key version %" PRIu32 "\n", version);
	return CTL_EXIT_OK;
}
