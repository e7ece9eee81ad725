/*
 * backup.c - "vaultctl backup NAME": the server writes a consistent,
 * compacted copy of its data file into its backup directory under NAME
 * (never replacing one) and says where and how large it is; "vaultctl
 * backup list" lists that directory (a backup cannot be named "list").
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

/*
 * "vaultctl backup list": backup_dir as keys_status reads it (the server's
 * directory, mode 0700: only vaultd reads it), newest first, each with
 * what it is worth with the key ring as it is now.
 */
static int
backup_list(struct ctl *c)
{
	char *raw = NULL, when[CTL_TIME_LEN], since[CTL_TIME_LEN];
	int rc;
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = vault_call_json(c->v, "keys_status", 0, NULL, &raw)) != 0)
		return ctl_vault_error(c, rc, NULL);
	json_t *all = json_loads(raw, 0, NULL);
	vault_free(raw);
	json_t *bk = json_incref(json_object_get(all, "backups"));
	json_decref(all);
	if (!json_is_object(bk)) {
		json_decref(bk);
		return ctl_local_error(c, VAULT_E_PROTO_FRAME,
		    "this vaultd does not list its backups (it is older than vaultctl)");
	}
	if (c->json)
		return ctl_json_emit(c, bk);
	if (!json_is_true(json_object_get(bk, "applies"))) {
		puts("no vaultd backups: [storage] backend = postgresql backs up with PostgreSQL's "
		    "own tools (doc/storage-postgresql.md)");
		json_decref(bk);
		return CTL_EXIT_OK;
	}
	json_t *list = json_object_get(bk, "list"), *e;
	size_t i;
	printf("backups in ");
	ctl_put_text(json_string_value(json_object_get(bk, "dir")));
	printf(" (newest first): %zu\n", json_array_size(list));
	json_array_foreach(list, i, e) {
		const char *state = json_string_value(json_object_get(e, "state"));
		printf("  ");
		ctl_put_text(json_string_value(json_object_get(e, "name")));
		if (state == NULL || strcmp(state, "damaged") == 0) {
			printf(": damaged: ");
			ctl_put_text(json_string_value(json_object_get(e, "problem")));
			putchar('\n');
			continue;
		}
		json_int_t records = json_integer_value(json_object_get(e, "records"));
		json_t *ep = json_object_get(e, "epochs"), *x;
		size_t j;
		printf(": taken %s, %" JSON_INTEGER_FORMAT " %s, epochs needed:",
		    ctl_time_iso(json_integer_value(json_object_get(e, "created")), when), records,
		    ctl_plural((uint64_t)records, "record", "records"));
		json_array_foreach(ep, j, x)
			printf("%s%" JSON_INTEGER_FORMAT, j ? "," : " ", json_integer_value(x));
		if (json_array_size(ep) == 0)
			printf(" none");
		json_int_t gone = json_integer_value(json_object_get(e, "retired_epoch"));
		json_int_t at = json_integer_value(json_object_get(e, "unusable_since"));
		if (at != 0)
			ctl_time_iso(at, since);
		else
			snprintf(since, sizeof(since), "a time not recorded");
		if (strcmp(state, "usable") == 0)
			printf("; usable now\n");
		else if (strcmp(state, "unusable") == 0)
			printf("; unusable since retire of epoch %" JSON_INTEGER_FORMAT " at %s\n",
			    gone, since);
		else
			printf("; partly usable: %" JSON_INTEGER_FORMAT " of its records lost at the "
			    "retire of epoch %" JSON_INTEGER_FORMAT " at %s\n",
			    json_integer_value(json_object_get(e, "lost_records")), gone, since);
	}
	const char *newest = json_string_value(json_object_get(bk, "newest_usable"));
	if (newest != NULL) {
		printf("newest usable: ");
		ctl_put_text(newest);
		printf(" (%s)\n", ctl_time_iso(json_integer_value(json_object_get(bk,
		    "newest_usable_created")), when));
	} else {
		puts("newest usable: none: no backup here can restore every record it holds");
	}
	if (json_is_true(json_object_get(bk, "stale")))
		puts("warning: no usable backup is younger than the rotation interval");
	json_int_t refused = json_integer_value(json_object_get(bk, "retire_refused_since"));
	if (refused != 0) {
		printf("retire of epoch %" JSON_INTEGER_FORMAT " refused since %s: ",
		    json_integer_value(json_object_get(bk, "retire_refused_epoch")),
		    ctl_time_iso(refused, when));
		ctl_put_text(json_string_value(json_object_get(bk, "retire_refused_reason")));
		putchar('\n');
	}
	json_decref(bk);
	return CTL_EXIT_OK;
}

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
		return ctl_usage_error(c, "backup: which name? (backup NAME, or backup list)");
	if (strcmp(name, "list") == 0)
		return backup_list(c);
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
