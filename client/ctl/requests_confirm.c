/*
 * requests_confirm.c - "vaultctl requests confirm ID CODE": the code the
 * person received after an online deletion request was verified
 * (request_confirm). CODE may also be @PATH or @- (as FIELD=VALUE); it is
 * wiped from argv once copied and never printed.
 *
 * A wrong or expired code exits 1 with the attempts left, whether the
 * server answers VAULT_E_CONFIRMATION (with "remaining", as PROTOCOL.md
 * 8.18 says) or a result with "confirmed": false (and "expired", "state",
 * "attempts_left"), which lets it store the failed attempt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_requests_confirm(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *id_arg = NULL, *code = NULL;
	struct vault_record *r = NULL;
	char *val;
	json_t *args, *res = NULL;
	int confirmed;
	uint64_t id;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc = CTL_EXIT_OK, argno;

	if ((rc = vault_record_new(&r)) != 0)
		return ctl_vault_error(c, rc, NULL);
	ctl_args_init(&a, argc, argv);
	a.cmd = "requests confirm";
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR) {
			rc = CTL_EXIT_USAGE;
		} else if (id_arg == NULL) {
			id_arg = val;
		} else if ((code = vault_record_get(r, "code")) == NULL) {
			rc = ctl_add_value(c, a.cmd, r, "code", val, argno);
		} else {
			explicit_bzero(val, strlen(val));
			rc = ctl_usage_error(c, "requests confirm: argument %d: too many "
			    "arguments (requests confirm ID CODE)", argno);
		}
		if (rc != CTL_EXIT_OK)
			goto out;
	}
	code = vault_record_get(r, "code");
	if (id_arg == NULL || code == NULL || ctl_parse_id(id_arg, &id) != 0) {
		rc = ctl_usage_error(c, "requests confirm: wants a request id and the "
		    "confirmation code (requests confirm ID CODE)");
		goto out;
	}
	if ((args = json_pack("{s:I, s:s}", "request", (json_int_t)id, "code", code)) == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "requests confirm: out of memory");
		goto out;
	}
	if ((rc = ctl_call(c, "request_confirm", 0, args, &res)) != CTL_EXIT_OK)
		goto out;
	confirmed = json_is_true(json_object_get(res, "confirmed"));
	if (c->json) {
		rc = ctl_json_emit(c, json_incref(res));
		if (rc == CTL_EXIT_OK && !confirmed)
			rc = CTL_EXIT_VAULT;
	} else if (confirmed) {
		printf("request %s confirmed\n", id_arg);
	} else if (json_is_true(json_object_get(res, "expired"))) {
		printf("request %s NOT confirmed: the code has expired; the request is ",
		    id_arg);
		ctl_put_text(ctl_jstr(res, "state"));
		puts(" again (verify it again for a new code)");
		rc = CTL_EXIT_VAULT;
	} else {
		printf("request %s NOT confirmed: wrong code; attempts left: %"
		    JSON_INTEGER_FORMAT "%s\n", id_arg, ctl_jint(res, "attempts_left"),
		    strcmp(ctl_jstr(res, "state"), "rejected") == 0 ?
		    " (the request is rejected)" : "");
		rc = CTL_EXIT_VAULT;
	}
out:
	json_decref(res);
	vault_record_free(r);
	return rc;
}
