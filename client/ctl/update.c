/*
 * update.c - "vaultctl update TOKEN [FIELD=VALUE...] [--clear FIELD]...
 * [--document NAME:TYPE:PATH]... [--remove-document SLOT]...": one
 * all-or-nothing change to a record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "clear", 1 },
	{ "document", 1 },
	{ "remove-document", 1 },
	{ NULL, 0 },
};

int
ctl_cmd_update(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	struct vault_record *set = NULL;
	const char *token = NULL;
	const char **clear = NULL;
	uint32_t *slots = NULL;
	size_t nclear = 0, nslots = 0;
	struct ctl_args a;
	enum ctl_arg_kind k;
	unsigned long slot;
	int rc, argno;
	char *val;

	clear = calloc((size_t)argc, sizeof(*clear));
	slots = calloc((size_t)argc, sizeof(*slots));
	if (clear == NULL || slots == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "update: out of memory");
		goto out;
	}
	if ((rc = vault_record_new(&set)) != 0) {
		rc = ctl_vault_error(c, rc, NULL);
		goto out;
	}
	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		rc = CTL_EXIT_OK;
		if (k == CTL_ARG_ERROR)
			rc = CTL_EXIT_USAGE;
		else if (k == CTL_ARG_POSITIONAL && token == NULL)
			token = val;
		else if (k == CTL_ARG_POSITIONAL)
			rc = ctl_add_field(c, a.cmd, set, val, argno);
		else if (strcmp(opt->name, "document") == 0)
			rc = ctl_add_document(c, a.cmd, set, val);
		else if (strcmp(opt->name, "clear") == 0 && val[0] == '\0')
			rc = ctl_usage_error(c, "update: --clear wants a field name");
		else if (strcmp(opt->name, "clear") == 0)
			clear[nclear++] = val;
		else if (ctl_parse_uint(val, 1, 65534, &slot) != 0)
			rc = ctl_usage_error(c, "update: --remove-document wants a slot "
			    "number, 1 to 65534");
		else
			slots[nslots++] = (uint32_t)slot;
		if (rc != CTL_EXIT_OK)
			goto out;
	}
	if (token == NULL) {
		rc = ctl_usage_error(c, "update: which record? (update TOKEN ...)");
		goto out;
	}
	if (vault_record_field_count(set) == 0 && vault_record_document_count(set) == 0 &&
	    nclear == 0 && nslots == 0) {
		rc = ctl_usage_error(c, "update: nothing to change");
		goto out;
	}
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		goto out;
	rc = vault_update(c->v, c->purpose, token, set, clear, nclear, slots, nslots);
	if (rc != 0) {
		rc = ctl_vault_error(c, rc, NULL);
		goto out;
	}
	if (c->json) {
		rc = ctl_json_emit(c, json_pack("{s:b}", "ok", 1));
	} else {
		puts("ok");
		rc = CTL_EXIT_OK;
	}
out:
	vault_record_free(set);
	free(clear);
	free(slots);
	return rc;
}
