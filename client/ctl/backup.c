/*
 * backup.c - "vaultctl backup NAME": the server writes a consistent,
 * compacted copy of its data file into its backup directory under NAME
 * (never replacing one) and says where and how large it is.
 */
#include <inttypes.h>
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_backup(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *name = NULL;
	struct ctl_args a;
	enum ctl_arg_kind k;
	uint64_t bytes = 0;
	char *val, *path = NULL;
	int rc, argno;

	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (name != NULL)
			return ctl_usage_error(c, "backup: one NAME only");
		name = val;
	}
	if (name == NULL)
		return ctl_usage_error(c, "backup: which name? (backup NAME)");
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	/* A copy of a big data file takes a while: a spinner on a terminal. */
	ctl_progress_start(c, "writing the backup");
	rc = vault_backup(c->v, name, &path, &bytes);
	ctl_progress_stop();
	if (rc != 0)
		return ctl_vault_error(c, rc, NULL);
	if (c->json) {
		rc = ctl_json_emit(c, json_pack("{s:s, s:I}", "path", path,
		    "bytes", (json_int_t)bytes));
	} else {
		printf("path: %s\n", path);
		printf("size: %" PRIu64 " bytes\n", bytes);
		rc = CTL_EXIT_OK;
	}
	vault_free(path);
	return rc;
}
