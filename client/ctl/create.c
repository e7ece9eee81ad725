/*
 * create.c - "vaultctl create FIELD=VALUE... [--document NAME:TYPE:PATH]...":
 * store a new record and print its record token.
 */
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "document", 1 },
	{ NULL, 0 },
};

int
ctl_cmd_create(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	struct vault_record *r = NULL;
	struct ctl_args a;
	char *val, *tok = NULL;
	enum ctl_arg_kind k;
	int rc, argno;

	if ((rc = vault_record_new(&r)) != 0)
		return ctl_vault_error(c, rc, NULL);
	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			rc = CTL_EXIT_USAGE;
		else if (k == CTL_ARG_POSITIONAL)
			rc = ctl_add_field(c, a.cmd, r, val, argno);
		else
			rc = ctl_add_document(c, a.cmd, r, val);
		if (rc != CTL_EXIT_OK)
			goto out;
	}
	if (vault_record_field_count(r) == 0 && vault_record_document_count(r) == 0) {
		rc = ctl_usage_error(c, "create: give at least one FIELD=VALUE or "
		    "--document");
		goto out;
	}
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		goto out;
	if ((rc = vault_create(c->v, c->purpose, r, &tok)) != 0) {
		rc = ctl_vault_error(c, rc, NULL);
		goto out;
	}
	if (c->json) {
		rc = ctl_json_emit(c, json_pack("{s:s}", "record", tok));
	} else {
		puts(tok);
		rc = CTL_EXIT_OK;
	}
out:
	vault_free(tok);
	vault_record_free(r);
	return rc;
}
