/*
 * detokenize.c - "vaultctl detokenize TOKEN...": resolve field tokens in one
 * request. Each token gets its own answer, in the order given; the command
 * fails (exit 1) if any token did not resolve, after printing all answers.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static json_t *
result_json(const char *token, const struct vault_detokenized *d)
{
	if (d->error == 0)
		return json_pack("{s:s, s:b, s:s, s:s}", "token", token, "ok", 1,
		    "field", d->field, "value", d->value);
	return json_pack("{s:s, s:b, s:s, s:i, s:s}", "token", token, "ok", 0,
	    "error", vault_error_name(d->error), "code", d->error,
	    "message", vault_strerror(d->error));
}

int
ctl_cmd_detokenize(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	struct vault_detokenized *res = NULL;
	const char **tokens = NULL;
	size_t ntokens = 0, failed = 0;
	json_t *out = NULL;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc, argno;
	char *val;

	if ((tokens = calloc((size_t)argc, sizeof(*tokens))) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "detokenize: out of memory");
	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR) {
			rc = CTL_EXIT_USAGE;
			goto out;
		}
		tokens[ntokens++] = val;
	}
	if (ntokens == 0) {
		rc = ctl_usage_error(c, "detokenize: wants at least one TOKEN");
		goto out;
	}
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		goto out;
	if ((rc = vault_detokenize(c->v, c->purpose, tokens, ntokens, &res)) != 0) {
		rc = ctl_vault_error(c, rc, NULL);
		goto out;
	}
	if (c->json && (out = json_array()) == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "cannot build the JSON output");
		goto out;
	}
	for (size_t i = 0; i < ntokens; i++) {
		if (res[i].error != 0)
			failed++;
		if (out != NULL) {
			if (json_array_append_new(out, result_json(tokens[i], &res[i])) != 0) {
				rc = ctl_local_error(c, VAULT_E_NOMEM,
				    "cannot build the JSON output");
				goto out;
			}
		} else if (res[i].error == 0) {
			ctl_print_field(res[i].field, res[i].value);
		} else {
			printf("error %s: %s\n", vault_error_name(res[i].error),
			    vault_strerror(res[i].error));
		}
	}
	if (out != NULL) {
		rc = ctl_json_emit(c, json_pack("{s:O}", "results", out));
		if (rc != CTL_EXIT_OK)
			goto out;
	}
	rc = CTL_EXIT_OK;
	if (failed > 0) {
		if (!c->json) {
			fflush(stdout);
			fprintf(stderr, "vaultctl: %zu of %zu tokens did not resolve\n",
			    failed, ntokens);
		}
		rc = CTL_EXIT_VAULT;
	}
out:
	json_decref(out);
	vault_detokenized_free(res, ntokens);
	free(tokens);
	return rc;
}
