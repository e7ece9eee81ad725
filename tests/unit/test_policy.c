/*
 * test_policy.c - the policy file's join grants and join domains (policy.h):
 * what parses, what is refused, and who may obtain tokens that test
 * equality.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "vault/policy.h"

static char path[64];

static int
load(struct policy *p, const char *text, char *err, size_t errlen)
{
	snprintf(path, sizeof(path), "/tmp/vault-policy-unit-%d.ini", (int)getpid());
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	int rc = policy_load(p, path, 0, err, errlen);
	unlink(path);
	return rc;
}

#define T VAULT_PURPOSE_TRANSACTIONAL

Test(policy, join_grants_and_domains)
{
	struct policy p;
	char err[256] = "";
	int rc = load(&p,
	    "[client a]\nuids = 1\n"
	    "[access a transactional]\n* = masked join\nemail = token\n"
	    "card_number = masked   join\nphone = plain\nfirst_name = token join\n"
	    "[client b]\nuids = 2\ntoken_domain = shared\n"
	    "[access b transactional]\nemail = masked\n", err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	const struct policy_client *a = policy_client(&p, 1, 99), *b = policy_client(&p, 2, 99);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	/* The level is unchanged by join. */
	cr_assert_eq(policy_access(a, T, FIELD_CARD_NUMBER), ACCESS_MASKED);
	cr_assert_eq(policy_access(a, T, FIELD_FIRST_NAME), ACCESS_TOKEN);
	cr_assert_eq(policy_access(a, T, FIELD_LAST_NAME), ACCESS_MASKED);
	/* Join: granted, inherited from "*", replaced by a field without it,
	 * implied by plain, absent elsewhere. */
	cr_assert(policy_may_join(a, T, FIELD_CARD_NUMBER));
	cr_assert(policy_may_join(a, T, FIELD_FIRST_NAME));
	cr_assert(policy_may_join(a, T, FIELD_LAST_NAME));
	cr_assert_not(policy_may_join(a, T, FIELD_EMAIL));
	cr_assert(policy_may_join(a, T, FIELD_PHONE));
	cr_assert_not(policy_may_join(a, VAULT_PURPOSE_MARKETING, FIELD_PHONE));
	cr_assert_not(policy_may_join(b, T, FIELD_EMAIL), "masked alone is no join");
	cr_assert_not(policy_may_join(a, 0, FIELD_PHONE));
	cr_assert_not(policy_may_join(a, T, FIELD_DOCUMENT_SLOT));
	/* Domains: the client's name unless set. */
	cr_assert_str_eq(a->token_domain, "a");
	cr_assert_str_eq(b->token_domain, "shared");
	policy_free(&p);
}

Test(policy, join_forms_that_mean_nothing_are_refused)
{
	static const char *const bad[] = {
		"[client a]\nuids = 1\n[access a transactional]\nemail = none join\n",
		"[client a]\nuids = 1\n[access a transactional]\nemail = join\n",
		"[client a]\nuids = 1\n[access a transactional]\nemail = masked joins\n",
		"[client a]\nuids = 1\n[access a transactional]\nemail = masked join join\n",
		"[client a]\nuids = 1\n[access a transactional]\ndocuments = plain join\n",
		"[client a]\nuids = 1\ntoken_domain = Upper\n",
		"[client a]\nuids = 1\ntoken_domain = \n",
		"[client a]\nuids = 1\ntoken_domain = 0123456789012345678901234567890123\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct policy p;
		char err[256] = "";
		cr_assert_eq(load(&p, bad[i], err, sizeof(err)), VAULT_E_CONFIG, "case %zu loaded", i);
		cr_assert(strncmp(err, "line ", 5) == 0, "case %zu: %s", i, err);
	}
}

Test(policy, the_development_policy_joins_in_its_own_domain)
{
	struct policy p;
	char err[64];
	cr_assert_eq(policy_load(&p, NULL, 1, err, sizeof(err)), 0);
	const struct policy_client *c = policy_client(&p, 1234, 1234);
	cr_assert_str_eq(c->token_domain, "dev");
	cr_assert(policy_may_join(c, T, FIELD_EMAIL));
	policy_free(&p);
}
