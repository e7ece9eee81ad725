/*
 * create.c - "vaultctl create FIELD=VALUE... [--document NAME:TYPE:PATH]...
 * [--child]": store a new record and print its record token.
 *
 * --child (the record of a child under 13) goes through vault_call_json(),
 * which has no way to send documents' bytes: it cannot be combined with
 * --document (add them with update afterwards).
 */
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "document", 1 },
	{ "child", 0 },
	{ NULL, 0 },
};

/* create with "child": true, through vault_call_json(). */
static int
create_child(struct ctl *c, struct vault_record *r)
{
	json_t *fields = json_object(), *args, *res = NULL;
	const char *name, *value;
	int rc;

	for (size_t i = 0; fields != NULL && i < vault_record_field_count(r); i++)
		if (vault_record_field_at(r, i, &name, &value) != 0 ||
		    ctl_json_set_str(fields, name, value) != 0) {
			json_decref(fields);
			fields = NULL;
		}
	if (fields == NULL || (args = json_pack("{s:o, s:b}", "fields", fields,
	    "child", 1)) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "create: cannot build the request "
		    "(are the values UTF-8?)");
	if ((rc = ctl_call(c, "create", c->purpose, args, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json) {
		rc = ctl_json_emit(c, json_pack("{s:s}", "record", ctl_jstr(res, "record")));
	} else {
		puts(ctl_jstr(res, "record"));
		rc = CTL_EXIT_OK;
	}
	json_decref(res);
	return rc;
}

int
ctl_cmd_create(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	struct vault_record *r = NULL;
	struct ctl_args a;
	char *val, *tok = NULL;
	enum ctl_arg_kind k;
	int rc, argno, child = 0;

	if ((rc = vault_record_new(&r)) != 0)
		return ctl_vault_error(c, rc, NULL);
	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			rc = CTL_EXIT_USAGE;
		else if (k == CTL_ARG_POSITIONAL)
			rc = ctl_add_field(c, a.cmd, r, val, argno);
		else if (opt->name[0] == 'c')
			child = 1;
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
	if (child) {
		if (vault_record_document_count(r) > 0)
			rc = ctl_usage_error(c, "create: --child cannot be combined with "
			    "--document yet: create the record, then add documents with update");
		else
			rc = create_child(c, r);
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
