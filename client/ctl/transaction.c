/*
 * transaction.c - "vaultctl transaction RECORD_TOKEN [--reference R]
 * [--date YYYY-MM-DD] [--amount A]": record the person's last transaction
 * with the record, for identity verification (op transaction, purpose
 * transactional, implied). The vault keeps only keyed hashes of the
 * values; here they are treated as personal data (V, @PATH or @-; wiped
 * from argv; never printed).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "reference", 1 },
	{ "date", 1 },
	{ "amount", 1 },
	{ NULL, 0 },
};

int
ctl_cmd_transaction(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	struct vault_record *r = NULL;
	const char *record = NULL, *name, *value;
	json_t *args = NULL;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc, argno;
	char *val;

	if ((rc = vault_record_new(&r)) != 0)
		return ctl_vault_error(c, rc, NULL);
	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		rc = CTL_EXIT_OK;
		if (k == CTL_ARG_ERROR)
			rc = CTL_EXIT_USAGE;
		else if (k == CTL_ARG_POSITIONAL && record == NULL && val[0] != '\0')
			record = val;
		else if (k == CTL_ARG_POSITIONAL) {
			explicit_bzero(val, strlen(val));
			rc = ctl_usage_error(c, "transaction: argument %d: one record token "
			    "only; values go with their options", argno);
		} else
			rc = ctl_add_value(c, a.cmd, r, opt->name, val, argno);
		if (rc != CTL_EXIT_OK)
			goto out;
	}
	/* After the arguments: -p may follow the command. */
	if (c->purpose != 0 && c->purpose != VAULT_PURPOSE_TRANSACTIONAL) {
		rc = ctl_usage_error(c, "transaction: the purpose is transactional (-p "
		    "may be left out)");
		goto out;
	}
	if (record == NULL) {
		rc = ctl_usage_error(c, "transaction: which record? (transaction "
		    "RECORD_TOKEN [--reference R] [--date YYYY-MM-DD] [--amount A])");
		goto out;
	}
	if (vault_record_field_count(r) == 0) {
		rc = ctl_usage_error(c, "transaction: give at least one of --reference, "
		    "--date, --amount");
		goto out;
	}
	if ((args = json_pack("{s:s}", "record", record)) == NULL)
		goto nomem;
	for (size_t i = 0; i < vault_record_field_count(r); i++)
		if (vault_record_field_at(r, i, &name, &value) != 0 ||
		    ctl_json_set_str(args, name, value) != 0)
			goto nomem;
	vault_record_free(r);
	r = NULL;
	rc = ctl_call(c, "transaction", VAULT_PURPOSE_TRANSACTIONAL, args, NULL);
	args = NULL;
	if (rc != CTL_EXIT_OK)
		goto out;
	if (c->json)
		rc = ctl_json_emit(c, json_pack("{s:b}", "recorded", 1));
	else
		puts("recorded");
	goto out;
nomem:
	rc = ctl_local_error(c, VAULT_E_NOMEM, "transaction: cannot build the request "
	    "(are the values UTF-8?)");
out:
	json_decref(args);
	vault_record_free(r);
	return rc;
}
