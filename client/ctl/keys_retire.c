/*
 * keys_retire.c - "vaultctl keys retire EPOCH": destroy a key-encryption
 * key epoch no record depends on any more; the server then compacts the
 * data file. Refused (exit 1) for the current epoch and while records
 * still depend on it, in which case it says how many.
 */
#include <inttypes.h>
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_keys_retire(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *arg = NULL;
	uint64_t remaining = 0, before = 0, after = 0;
	struct ctl_args a;
	enum ctl_arg_kind k;
	unsigned long epoch;
	int rc, argno;
	char *val;

	ctl_args_init(&a, argc, argv);
	a.cmd = "keys retire";
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (arg != NULL)
			return ctl_usage_error(c, "keys retire: one EPOCH only");
		arg = val;
	}
	if (arg == NULL)
		return ctl_usage_error(c, "keys retire: which epoch? (keys retire EPOCH)");
	if (ctl_parse_uint(arg, 1, UINT32_MAX, &epoch) != 0)
		return ctl_usage_error(c, "keys retire: EPOCH is a number, 1 to %" PRIu32,
		    UINT32_MAX);
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	/* The compaction can take minutes on a big file: a spinner on a terminal. */
	char what[64];
	snprintf(what, sizeof(what), "retiring epoch %lu, compacting the data file", epoch);
	ctl_progress_start(c, what);
	rc = vault_keys_retire(c->v, (uint32_t)epoch, &remaining, &before, &after);
	ctl_progress_stop();
	if (rc == VAULT_E_CONFLICT && remaining > 0) {
		if (c->json)
			return ctl_vault_error(c, rc, json_pack("{s:I, s:I}",
			    "epoch", (json_int_t)epoch, "remaining", (json_int_t)remaining));
		ctl_vault_error(c, rc, NULL);
		fprintf(stderr, "vaultctl: %" PRIu64 " %s still depend on epoch %lu\n",
		    remaining, ctl_plural(remaining, "record", "records"), epoch);
		return CTL_EXIT_VAULT;
	}
	if (rc != 0)
		return ctl_vault_error(c, rc, NULL);
	if (c->json)
		return ctl_json_emit(c, json_pack("{s:I, s:I, s:I}",
		    "epoch", (json_int_t)epoch,
		    "file_bytes_before", (json_int_t)before,
		    "file_bytes_after", (json_int_t)after));
	printf("retired epoch %lu\n", epoch);
	printf("data file: %" PRIu64 " bytes before compaction, %" PRIu64 " after\n",
	    before, after);
	return CTL_EXIT_OK;
}
