/*
 * tokenize.c - "vaultctl tokenize TOKEN FIELD:KIND...": one field token per
 * pair, one vault_tokenize() call each, printed as they arrive. A failure
 * stops there; the tokens issued before it are still printed (in JSON, as
 * "tokens" in the error object).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

struct pair {
	char *field;
	enum vault_token_kind kind;
};

int
ctl_cmd_tokenize(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *token = NULL;
	struct pair *pairs = NULL;
	size_t npairs = 0;
	json_t *out = NULL;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc = CTL_EXIT_OK, argno;
	char *val, *tok = NULL;

	if ((pairs = calloc((size_t)argc, sizeof(*pairs))) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "tokenize: out of memory");
	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		char *colon;

		if (k == CTL_ARG_ERROR) {
			rc = CTL_EXIT_USAGE;
			goto out;
		}
		if (token == NULL) {
			token = val;
			continue;
		}
		if ((colon = strchr(val, ':')) == NULL || colon == val) {
			rc = ctl_usage_error(c, "tokenize: argument %d is not FIELD:KIND",
			    argno);
			goto out;
		}
		pairs[npairs].kind = vault_token_kind_from_name(colon + 1);
		if (pairs[npairs].kind == 0) {
			rc = ctl_usage_error(c, "tokenize: argument %d: unknown token kind "
			    "(opaque, card or deterministic)", argno);
			goto out;
		}
		pairs[npairs].field = strndup(val, (size_t)(colon - val));
		if (pairs[npairs++].field == NULL) {
			rc = ctl_local_error(c, VAULT_E_NOMEM, "tokenize: out of memory");
			goto out;
		}
	}
	if (token == NULL || npairs == 0) {
		rc = ctl_usage_error(c, "tokenize: wants TOKEN FIELD:KIND...");
		goto out;
	}
	if (c->json && (out = json_array()) == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "tokenize: out of memory");
		goto out;
	}
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		goto out;
	for (size_t i = 0; i < npairs; i++) {
		const char *kind = vault_token_kind_name(pairs[i].kind);

		rc = vault_tokenize(c->v, c->purpose, token, pairs[i].field,
		    pairs[i].kind, &tok);
		if (rc != 0) {
			rc = ctl_vault_error(c, rc,
			    out != NULL ? json_pack("{s:O}", "tokens", out) : NULL);
			goto out;
		}
		if (out == NULL) {
			printf("%s %s %s\n", pairs[i].field, kind, tok);
		} else if (json_array_append_new(out, json_pack("{s:s, s:s, s:s}",
		    "field", pairs[i].field, "kind", kind, "token", tok)) != 0) {
			rc = ctl_local_error(c, VAULT_E_NOMEM, "cannot build the JSON output");
			goto out;
		}
		vault_free(tok);
		tok = NULL;
	}
	if (out != NULL) {
		rc = ctl_json_emit(c, json_pack("{s:O}", "tokens", out));
	}
out:
	vault_free(tok);
	json_decref(out);
	for (size_t i = 0; i < npairs; i++)
		free(pairs[i].field);
	free(pairs);
	return rc;
}
