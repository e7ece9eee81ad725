/*
 * requests_verify.c - "vaultctl requests verify ID [--first-name V]
 * [--last-name V] [--email V] [--phone V] [--address V] [--order-ref V]
 * [--order-date YYYY-MM-DD] [--order-amount V]": check what the person
 * told us against the vault (request_verify).
 *
 * The values are personal data: each may be given as V, @PATH or @- (as
 * FIELD=VALUE), literal ones are wiped from argv once copied, and none is
 * ever printed. Prints whether the request is verified; if so its target
 * records and the confirmation code if one was issued, if not the attempts
 * left (the vault says nothing more of a failure); exits 1 when not
 * verified.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

/* Option, claim name (in the claims map or its "transaction" map). */
static const struct claim {
	const char *option;
	const char *name;
	int transaction;
} claims[] = {
	{ "first-name", "first_name", 0 },
	{ "last-name", "last_name", 0 },
	{ "email", "email", 0 },
	{ "phone", "phone", 0 },
	{ "address", "postal_address", 0 },
	{ "order-ref", "reference", 1 },
	{ "order-date", "date", 1 },
	{ "order-amount", "amount", 1 },
};
#define NCLAIMS (sizeof(claims) / sizeof(claims[0]))

static const struct ctl_option options[] = {
	{ "first-name", 1 },
	{ "last-name", 1 },
	{ "email", 1 },
	{ "phone", 1 },
	{ "address", 1 },
	{ "order-ref", 1 },
	{ "order-date", 1 },
	{ "order-amount", 1 },
	{ NULL, 0 },
};

static int
is_transaction(const char *name)
{
	for (size_t i = 0; i < NCLAIMS; i++)
		if (strcmp(claims[i].name, name) == 0)
			return claims[i].transaction;
	return 0;
}

/* The claims map: values from r (wiped with the tree, output.c). */
static json_t *
claims_json(const struct vault_record *r)
{
	json_t *m = json_object(), *t = json_object();
	const char *name, *value;

	if (m == NULL || t == NULL)
		goto fail;
	for (size_t i = 0; i < vault_record_field_count(r); i++) {
		if (vault_record_field_at(r, i, &name, &value) != 0 ||
		    ctl_json_set_str(is_transaction(name) ? t : m, name, value) != 0)
			goto fail;
	}
	if (json_object_size(t) > 0 && json_object_set(m, "transaction", t) != 0)
		goto fail;
	json_decref(t);
	return m;
fail:
	json_decref(m);
	json_decref(t);
	return NULL;
}

static int
print_result(const json_t *res)
{
	int verified = json_is_true(json_object_get(res, "verified"));
	const json_t *targets = json_object_get(res, "targets"), *e;
	const char *code = ctl_jstr(res, "confirmation_code");
	size_t i;

	if (!verified) {
		/* All the vault says of a failure, whatever did not match. */
		printf("verified: no\nattempts left: %" JSON_INTEGER_FORMAT "%s\n",
		    ctl_jint(res, "attempts_left"), strcmp(ctl_jstr(res, "state"), "rejected") == 0 ?
		    " (the request is rejected)" : "");
		return CTL_EXIT_VAULT;
	}
	printf("verified: yes (threshold %" JSON_INTEGER_FORMAT " points)\n",
	    ctl_jint(res, "threshold"));
	json_array_foreach(targets, i, e) {
		printf("record ");
		ctl_put_text(json_string_value(e) ? json_string_value(e) : "");
		putchar('\n');
	}
	if (code[0] != '\0') {
		printf("confirmation code: ");
		ctl_put_text(code);
		puts(" (send it to the person over the channel they used; valid 24 hours)");
	}
	return CTL_EXIT_OK;
}

int
ctl_cmd_requests_verify(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	struct vault_record *r = NULL;
	json_t *args = NULL, *cl = NULL, *res = NULL;
	const char *id_arg = NULL;
	uint64_t id = 0;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc, argno;
	char *val;

	if ((rc = vault_record_new(&r)) != 0)
		return ctl_vault_error(c, rc, NULL);
	ctl_args_init(&a, argc, argv);
	a.cmd = "requests verify";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		rc = CTL_EXIT_OK;
		if (k == CTL_ARG_ERROR) {
			rc = CTL_EXIT_USAGE;
		} else if (k == CTL_ARG_POSITIONAL && id_arg == NULL) {
			id_arg = val;
		} else if (k == CTL_ARG_POSITIONAL) {
			/* Possibly a value given without its option: wipe it. */
			explicit_bzero(val, strlen(val));
			rc = ctl_usage_error(c, "requests verify: argument %d: one request "
			    "id only; values go with their options", argno);
		} else {
			for (size_t i = 0; i < NCLAIMS; i++)
				if (strcmp(claims[i].option, opt->name) == 0)
					rc = ctl_add_value(c, a.cmd, r, claims[i].name, val, argno);
		}
		if (rc != CTL_EXIT_OK)
			goto out;
	}
	if (id_arg == NULL || ctl_parse_id(id_arg, &id) != 0) {
		rc = ctl_usage_error(c, "requests verify: which request? (requests verify "
		    "ID [--first-name V] ...; ID a number)");
		goto out;
	}
	if (vault_record_field_count(r) == 0) {
		rc = ctl_usage_error(c, "requests verify: give at least one claim "
		    "(--first-name, --last-name, --email, --phone, --address, "
		    "--order-ref, --order-date, --order-amount)");
		goto out;
	}
	if ((cl = claims_json(r)) == NULL ||
	    (args = json_pack("{s:I, s:O}", "request", (json_int_t)id, "claims", cl)) == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "requests verify: out of memory");
		goto out;
	}
	vault_record_free(r);
	r = NULL;
	if ((rc = ctl_call(c, "request_verify", 0, args, &res)) != CTL_EXIT_OK)
		goto out;
	if (c->json) {
		int verified = json_is_true(json_object_get(res, "verified"));

		rc = ctl_json_emit(c, json_incref(res));
		if (rc == CTL_EXIT_OK && !verified)
			rc = CTL_EXIT_VAULT;
	} else {
		rc = print_result(res);
	}
out:
	json_decref(cl);
	json_decref(res);
	vault_record_free(r);
	return rc;
}
