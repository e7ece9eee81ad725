/*
 * test_policy.c - end-to-end: who may see what. Three services with their
 * own gids (the README's example policy): shipping reads names and the
 * postal address in plain; payments sees the card masked and holds tokens;
 * marketing reads email only where the person has not opted out. Each
 * service runs in a child process with its own gid, so the server tells
 * them apart by SO_PEERCRED alone. Needs root (to switch gids).
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "harness.h"

#define GID_SHIPPING 52001
#define GID_PAYMENTS 52002
#define GID_MARKETING 52003
#define GID_STRANGER 52999

static struct vaultd_proc srv;
static char policy_path[600];

static const char policy_text[] =
    "# The README's example: three services, one administrator.\n"
    "[client admin]\n"
    "gids = 0\n"
    "admin = true\n"
    "delete = true\n"
    "[access admin transactional]\n"
    "* = plain\n"
    "documents = plain\n"
    "[client shipping]\n"
    "gids = 52001\n"
    "[access shipping transactional]\n"
    "first_name = plain\n"
    "last_name = plain\n"
    "postal_address = plain\n"
    "[client payments]\n"
    "gids = 52002\n"
    "[access payments transactional]\n"
    "card_number = masked\n"
    "card_expiry = plain\n"
    "email = token\n"
    "[client marketing]\n"
    "gids = 52003\n"
    "list = true\n"
    "[access marketing marketing]\n"
    "first_name = plain\n"
    "email = plain\n";

static void
setup(void)
{
	cr_assert_eq(geteuid(), 0, "the policy tests switch gids and need root");
	char ini[700];
	snprintf(policy_path, sizeof(policy_path), "/tmp/vault-policy-%d.ini", (int)getpid());
	FILE *f = fopen(policy_path, "w");
	fputs(policy_text, f);
	fclose(f);
	snprintf(ini, sizeof(ini), "[policy]\nfile = %s\n", policy_path);
	vaultd_start(&srv, ini);
}

static void
teardown(void)
{
	unlink(policy_path);
	vaultd_finish(&srv);
}

TestSuite(policy, .init = setup, .fini = teardown, .timeout = 60);

/* Run fn as a process of group gid (uid stays root, which no client
 * names by uid, so the gid decides); its output comes back as a string. */
static char *
as_group(gid_t gid, void (*fn)(struct vault *v, FILE *out, void *arg), void *arg)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		FILE *out = fdopen(fds[1], "w");
		if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0)
			_exit(90);
		struct vault *v;
		if (vault_connect(srv.socket, &v) != 0) {
			fprintf(out, "connect failed\n");
			_exit(0);
		}
		fn(v, out, arg);
		vault_close(v);
		fclose(out);
		_exit(0);
	}
	close(fds[1]);
	char *buf = calloc(1, 65536);
	size_t n = 0;
	ssize_t r;
	while ((r = read(fds[0], buf + n, 65535 - n)) > 0)
		n += (size_t)r;
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
	return buf;
}

static char *
create_person(int opt_out_email)
{
	struct vault *v;
	struct vault_record *r;
	char *tok;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	vault_record_new(&r);
	vault_record_set(r, "first_name", "Jane");
	vault_record_set(r, "last_name", "Doe");
	vault_record_set(r, "postal_address", "1 Main Street\nSan Diego, CA 92101");
	vault_record_set(r, "email", "jane.doe@example.com");
	vault_record_set(r, "phone", "+18583755875");
	vault_record_set(r, "card_number", "4242 4242 4242 4242");
	vault_record_set(r, "card_expiry", "12/39");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	if (opt_out_email)
		cr_assert_eq(vault_set_marketing_opt_out(v, VAULT_PURPOSE_TRANSACTIONAL, tok,
		    "email", 1), 0, "%s", vault_last_message(v));
	vault_close(v);
	return tok;
}

struct read_arg {
	const char *token;
	enum vault_purpose purpose;
	const char *const *fields;
	size_t nfields;
};

/* Prints "field=value" lines, or "error NAME message". */
static void
do_read(struct vault *v, FILE *out, void *p)
{
	struct read_arg *a = p;
	struct vault_record *r;
	int rc = vault_read(v, a->purpose, a->token, a->fields, a->nfields, 0, &r);
	if (rc != 0) {
		fprintf(out, "error %s %s\n", vault_error_name(rc), vault_last_message(v));
		return;
	}
	for (size_t i = 0; i < vault_record_field_count(r); i++) {
		const char *name, *value;
		vault_record_field_at(r, i, &name, &value);
		fprintf(out, "%s=%s\n", name, value);
	}
	vault_record_free(r);
}

Test(policy, shipping_reads_name_and_address_in_plain_only)
{
	char *tok = create_person(0);
	struct read_arg all = { tok, VAULT_PURPOSE_TRANSACTIONAL, NULL, 0 };
	char *out = as_group(GID_SHIPPING, do_read, &all);
	cr_assert_not_null(strstr(out, "first_name=Jane\n"), "%s", out);
	cr_assert_not_null(strstr(out, "last_name=Doe\n"), "%s", out);
	cr_assert_not_null(strstr(out, "postal_address=1 Main Street\nSan Diego, CA 92101\n"), "%s", out);
	cr_assert_null(strstr(out, "email"), "no email for shipping: %s", out);
	cr_assert_null(strstr(out, "card"), "no card for shipping: %s", out);
	free(out);

	const char *card[] = { "card_number" };
	struct read_arg one = { tok, VAULT_PURPOSE_TRANSACTIONAL, card, 1 };
	out = as_group(GID_SHIPPING, do_read, &one);
	cr_assert_not_null(strstr(out, "error VAULT_E_DENIED"), "%s", out);
	free(out);

	/* Another purpose than the one granted: nothing. */
	const char *name[] = { "first_name" };
	struct read_arg mk = { tok, VAULT_PURPOSE_MARKETING, name, 1 };
	out = as_group(GID_SHIPPING, do_read, &mk);
	cr_assert_not_null(strstr(out, "error VAULT_E_DENIED"), "%s", out);
	free(out);
	vault_free(tok);
}

Test(policy, payments_sees_the_card_masked_and_the_email_as_a_token)
{
	char *tok = create_person(0);
	struct read_arg all = { tok, VAULT_PURPOSE_TRANSACTIONAL, NULL, 0 };
	char *out = as_group(GID_PAYMENTS, do_read, &all);
	cr_assert_not_null(strstr(out, "card_number=**** **** **** 4242\n"), "%s", out);
	cr_assert_not_null(strstr(out, "card_expiry=12/39\n"), "%s", out);
	cr_assert_not_null(strstr(out, "email=tok_1_"), "email as a token: %s", out);
	cr_assert_null(strstr(out, "jane.doe"), "%s", out);
	cr_assert_null(strstr(out, "first_name"), "%s", out);
	free(out);
	vault_free(tok);
}

static void
do_list_marketing(struct vault *v, FILE *out, void *p)
{
	char **toks = NULL;
	size_t n = 0;
	int rc = vault_list(v, VAULT_PURPOSE_MARKETING, "email", NULL, 1000, &toks, &n, NULL);
	if (rc != 0) {
		fprintf(out, "error %s\n", vault_error_name(rc));
		return;
	}
	fprintf(out, "count=%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		const char *want[] = { "email" };
		struct vault_record *r;
		if (vault_read(v, VAULT_PURPOSE_MARKETING, toks[i], want, 1, 0, &r) == 0) {
			fprintf(out, "email=%s\n", vault_record_get(r, "email"));
			vault_record_free(r);
		}
		vault_free(toks[i]);
	}
	free(toks);
}

Test(policy, marketing_reads_email_only_where_not_opted_out)
{
	char *in = create_person(0), *out_tok = create_person(1);
	const char *email[] = { "email" };
	struct read_arg ok = { in, VAULT_PURPOSE_MARKETING, email, 1 };
	struct read_arg refused = { out_tok, VAULT_PURPOSE_MARKETING, email, 1 };
	char *out = as_group(GID_MARKETING, do_read, &ok);
	cr_assert_str_eq(out, "email=jane.doe@example.com\n");
	free(out);
	out = as_group(GID_MARKETING, do_read, &refused);
	cr_assert_not_null(strstr(out, "error VAULT_E_DENIED"), "%s", out);
	cr_assert_not_null(strstr(out, "opted out"), "%s", out);
	free(out);
	/* Listing for marketing by email skips the opted-out record. */
	out = as_group(GID_MARKETING, do_list_marketing, NULL);
	cr_assert_not_null(strstr(out, "count=1\n"), "%s", out);
	free(out);
	/* Transactional use by marketing: not granted. */
	struct read_arg tx = { in, VAULT_PURPOSE_TRANSACTIONAL, email, 1 };
	out = as_group(GID_MARKETING, do_read, &tx);
	cr_assert_not_null(strstr(out, "error VAULT_E_DENIED"), "%s", out);
	free(out);
	vault_free(in);
	vault_free(out_tok);
}

static void
do_ping(struct vault *v, FILE *out, void *p)
{
	int rc = vault_ping(v);
	fprintf(out, "%s\n", vault_error_name(rc));
}

static void
do_create(struct vault *v, FILE *out, void *p)
{
	struct vault_record *r;
	char *tok = NULL;
	vault_record_new(&r);
	vault_record_set(r, "card_number", "4242 4242 4242 4242");
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	fprintf(out, "%s %s\n", vault_error_name(rc), vault_last_message(v));
	vault_record_free(r);
	vault_free(tok);
}

static void
do_delete(struct vault *v, FILE *out, void *p)
{
	int rc = vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, p, VAULT_DELETE_RETENTION);
	fprintf(out, "%s\n", vault_error_name(rc));
}

static void
do_admin(struct vault *v, FILE *out, void *p)
{
	uint32_t e;
	fprintf(out, "%s\n", vault_error_name(vault_keys_rotate(v, "token", &e)));
}

Test(policy, unknown_callers_and_ungranted_operations_are_refused)
{
	char *out = as_group(GID_STRANGER, do_ping, NULL);
	cr_assert_str_eq(out, "VAULT_E_IO\n", "an unknown caller is cut off: %s", out);
	free(out);
	out = as_group(GID_SHIPPING, do_create, NULL);
	cr_assert_not_null(strstr(out, "VAULT_E_DENIED"), "shipping may not write cards: %s", out);
	free(out);
	char *tok = create_person(0);
	out = as_group(GID_PAYMENTS, do_delete, tok);
	cr_assert_str_eq(out, "VAULT_E_DENIED\n");
	free(out);
	out = as_group(GID_PAYMENTS, do_admin, NULL);
	cr_assert_str_eq(out, "VAULT_E_DENIED\n");
	free(out);
	vault_free(tok);
}
