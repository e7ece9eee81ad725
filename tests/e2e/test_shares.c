/*
 * test_shares.c - end-to-end: a key ring whose unseal secret is split into
 * Shamir shares (keys/share.h). vault-keytool init --shares 5 --threshold 3
 * writes five share files; vaultd starts sealed and refuses requests with
 * VAULT_E_SEALED; `vaultctl status` counts the shares given; each operator
 * gives one (from a file, or standard input); a duplicate is refused, a
 * mistyped one is caught by its check, and K shares that do not combine
 * are all discarded without saying which was wrong. With a PKCS#11 token
 * (SoftHSM2), the shares are of the PIN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define SOFTHSM2_UTIL "/usr/bin/softhsm2-util"
#define PIN "4711"

static struct vaultd_proc srv;
static char ring[700], shares[700];

static void
teardown(void)
{
	vaultd_finish(&srv);
	unsetenv("SOFTHSM2_CONF");
}

TestSuite(shares, .fini = teardown, .timeout = 120);

static void
ctl(struct proc_run *r, const char *in, const char *const *args)
{
	vaultctl_run(r, srv.socket, in, args, 0);
}

static void
add_config(const char *text)
{
	FILE *f = fopen(srv.config, "a");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

/* The test's directory with keys/ and a shares/ directory for dir's split. */
static void
prepare(void)
{
	char keys[700];
	vaultd_prepare(&srv, NULL);
	vaultd_path(&srv, "keys", keys, sizeof(keys));
	cr_assert_eq(mkdir(keys, 0700), 0);
	vaultd_path(&srv, "keys/keyring", ring, sizeof(ring));
	vaultd_path(&srv, "shares", shares, sizeof(shares));
	cr_assert_eq(mkdir(shares, 0700), 0);
}

/* vault-keytool init RING --shares n --threshold k --share-dir DIR. */
static void
init_shares(const char *path, const char *dir, const char *n, const char *k)
{
	const char *args[] = { "init", path, "--shares", n, "--threshold", k, "--share-dir", dir,
		NULL };
	cr_assert_eq(keytool_run(NULL, args), 0);
}

static char *
share_path(const char *dir, int i)
{
	static char p[1024];
	snprintf(p, sizeof(p), "%s/share-%d", dir, i);
	return p;
}

static char *
share_text(const char *dir, int i)
{
	size_t n;
	char *s = read_file_all(share_path(dir, i), &n);
	cr_assert_not_null(s);
	return s;
}

/* vaultctl unseal --share-file; the run is the caller's to check and free. */
static void
give_file(struct proc_run *r, const char *dir, int i)
{
	const char *args[] = { "unseal", "--share-file", share_path(dir, i), NULL };
	ctl(r, NULL, args);
}

/* vaultctl unseal --share with the share on standard input. */
static void
give_stdin(struct proc_run *r, const char *text)
{
	const char *args[] = { "unseal", "--share", NULL };
	ctl(r, text, args);
}

/* status's exit code; its "unseal shares" line must read want (NULL: none). */
static int
status_shares(const char *want)
{
	struct proc_run r;
	const char *args[] = { "status", NULL };
	ctl(&r, NULL, args);
	int st = r.status;
	if (want != NULL)
		cr_assert_not_null(strstr(r.out, want), "want \"%s\" in\n%s", want, r.out);
	else
		cr_assert_null(strstr(r.out, "unseal shares"), "%s", r.out);
	proc_run_free(&r);
	return st;
}

static char *
create_record(void)
{
	struct proc_run r;
	const char *args[] = { "-p", "transactional", "create", "first_name=Jane",
		"email=jane@example.com", NULL };
	ctl(&r, NULL, args);
	assert_exit(&r, 0);
	char *tok = strndup(r.out, strcspn(r.out, "\n"));
	proc_run_free(&r);
	return tok;
}

static void
expect_reads(const char *tok)
{
	struct proc_run r;
	const char *args[] = { "-p", "transactional", "read", tok, NULL };
	ctl(&r, NULL, args);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "jane@example.com"), "%s", r.out);
	proc_run_free(&r);
}

/* The log must hold no share's payload (the part after "vs1-I-K-"). */
static void
log_holds_no_share(const char *dir, int n)
{
	size_t len;
	char *log = read_file_all(srv.log, &len);
	cr_assert_not_null(log);
	for (int i = 1; i <= n; i++) {
		char *s = share_text(dir, i);
		char *payload = strchr(strchr(strchr(s, '-') + 1, '-') + 1, '-') + 1;
		payload[32] = '\0';
		cr_assert_null(strstr(log, payload), "the log shows share %d", i);
		free(s);
	}
	free(log);
}

Test(shares, three_of_five_operators_unseal)
{
	struct proc_run r;
	prepare();
	init_shares(ring, shares, "5", "3");
	/* The share files are each operator's: 0600, a version, index and check. */
	struct stat st;
	cr_assert_eq(stat(share_path(shares, 5), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	char *s2 = share_text(shares, 2);
	cr_assert_eq(strncmp(s2, "vs1-2-3-", 8), 0, "%s", s2);
	const char *info[] = { "info", ring, NULL };
	proc_run(&r, keytool_path(), NULL, info);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "shares:         3 of 5 unseal"), "%s", r.out);
	proc_run_free(&r);

	vaultd_restart(&srv);
	cr_assert_eq(status_shares("unseal shares: 0 of 3"), 2, "vaultd should start sealed");
	/* Requests are refused with the sealed code until the third share. */
	const char *create[] = { "-p", "transactional", "create", "first_name=Jane", NULL };
	ctl(&r, NULL, create);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "VAULT_E_SEALED"), "%s", r.err);
	proc_run_free(&r);

	give_file(&r, shares, 1);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "share accepted: 1 of 3 given"), "%s", r.out);
	proc_run_free(&r);
	cr_assert_eq(status_shares("unseal shares: 1 of 3"), 2);
	give_stdin(&r, s2);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "2 of 3"), "%s", r.out);
	proc_run_free(&r);
	/* The same share again: refused, and nothing changes. */
	give_stdin(&r, s2);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "VAULT_E_CONFLICT"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "given already"), "%s", r.err);
	proc_run_free(&r);
	cr_assert_eq(status_shares("unseal shares: 2 of 3"), 2);
	/* JSON shows the progress too. */
	const char *json[] = { "--json", "status", NULL };
	ctl(&r, NULL, json);
	cr_assert_not_null(strstr(r.out, "\"unseal_shares\":{\"given\":2,\"needed\":3}"),
	    "%s", r.out);
	proc_run_free(&r);

	give_file(&r, shares, 5);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "unsealed"), "%s", r.out);
	proc_run_free(&r);
	cr_assert_eq(status_shares(NULL), 0);
	char *tok = create_record();
	expect_reads(tok);
	/* Unsealed: one more share is refused. */
	give_file(&r, shares, 3);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "not sealed"), "%s", r.err);
	proc_run_free(&r);

	/* A restart is sealed again; any other three shares open it. */
	cr_assert_eq(vaultd_stop(&srv), 0);
	vaultd_restart(&srv);
	cr_assert_eq(status_shares("unseal shares: 0 of 3"), 2);
	for (int i = 3; i <= 5; i++) {
		give_file(&r, shares, i);
		assert_exit(&r, 0);
		proc_run_free(&r);
	}
	cr_assert_eq(status_shares(NULL), 0);
	expect_reads(tok);
	free(tok);
	free(s2);
	log_holds_no_share(shares, 5);
}

Test(shares, a_wrong_share_discards_all_without_saying_which)
{
	struct proc_run r;
	char other[800];
	prepare();
	init_shares(ring, shares, "5", "3");
	/* Another split of the same shape: well-formed shares that do not belong. */
	vaultd_path(&srv, "other", other, sizeof(other));
	cr_assert_eq(mkdir(other, 0700), 0);
	char otherring[900];
	snprintf(otherring, sizeof(otherring), "%s/ring", other);
	init_shares(otherring, other, "5", "3");
	vaultd_restart(&srv);

	/* A mistyped share is caught by its check and not counted. */
	char *s1 = share_text(shares, 1);
	char *typo = strdup(s1);
	char *c = typo + 20;
	*c = *c == 'a' ? 'b' : 'a';
	give_stdin(&r, typo);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "VAULT_E_INVALID_VALUE"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "mistyped"), "%s", r.err);
	proc_run_free(&r);
	give_stdin(&r, "vs2-1-3-00-00000000");
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "version"), "%s", r.err);
	proc_run_free(&r);
	cr_assert_eq(status_shares("unseal shares: 0 of 3"), 2);

	/* Two good shares and one of the other split: refused, all discarded. */
	give_file(&r, shares, 1);
	assert_exit(&r, 0);
	proc_run_free(&r);
	give_file(&r, other, 2);
	assert_exit(&r, 0);
	proc_run_free(&r);
	give_file(&r, shares, 3);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "VAULT_E_KEYRING"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "all collected shares were discarded"), "%s", r.err);
	/* No hint which: the message names no index. */
	cr_assert_null(strstr(r.err, "share 2"), "%s", r.err);
	cr_assert_null(strstr(r.err, "index 2"), "%s", r.err);
	proc_run_free(&r);
	cr_assert_eq(status_shares("unseal shares: 0 of 3"), 2);

	/* Starting over with three good shares works. */
	for (int i = 1; i <= 3; i++) {
		give_file(&r, shares, i);
		assert_exit(&r, 0);
		proc_run_free(&r);
	}
	cr_assert_eq(status_shares(NULL), 0);
	char *tok = create_record();
	expect_reads(tok);
	free(tok);
	free(typo);
	free(s1);
	log_holds_no_share(shares, 5);
}

/* A SoftHSM2 token "vault" (PIN 4711) in the test's own directory. */
static void
hsm_setup(void)
{
	struct proc_run r;
	char hsm[700], conf[800], tokens[800], text[1000];
	cr_assert_eq(access(MODULE, R_OK), 0, "%s is missing: install softhsm2 "
	    "(scripts/install-deps.sh)", MODULE);
	cr_assert_eq(access(SOFTHSM2_UTIL, X_OK), 0, SOFTHSM2_UTIL " is missing: install "
	    "softhsm2 (scripts/install-deps.sh)");
	vaultd_path(&srv, "hsm", hsm, sizeof(hsm));
	snprintf(tokens, sizeof(tokens), "%s/tokens", hsm);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", hsm);
	cr_assert_eq(mkdir(hsm, 0700), 0);
	cr_assert_eq(mkdir(tokens, 0700), 0);
	FILE *f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
	    tokens);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	const char *args[] = { "--init-token", "--free", "--label", "vault", "--pin", PIN,
		"--so-pin", "5678", NULL };
	proc_run(&r, SOFTHSM2_UTIL, NULL, args);
	assert_exit(&r, 0);
	proc_run_free(&r);
	snprintf(text, sizeof(text), "[keys]\npkcs11_module = " MODULE "\n");
	add_config(text);
}

Test(shares, shares_of_a_pkcs11_pin)
{
	struct proc_run r;
	prepare();
	hsm_setup();
	/* The PIN from standard input, split 2 of 3; the PIN is kept nowhere. */
	const char *init[] = { "init", ring, "--pkcs11", MODULE, "--token", "vault", "--key",
		"vault-root", "--create-key", "--shares", "3", "--threshold", "2",
		"--share-dir", shares, NULL };
	proc_run(&r, keytool_path(), PIN "\n", init);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "the PIN is split"), "%s", r.out);
	proc_run_free(&r);
	const char *info[] = { "info", ring, NULL };
	proc_run(&r, keytool_path(), NULL, info);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "2 of 3 unseal (shares of the PIN)"), "%s", r.out);
	proc_run_free(&r);

	vaultd_restart(&srv);
	cr_assert_eq(status_shares("unseal shares: 0 of 2"), 2);
	give_file(&r, shares, 3);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "1 of 2"), "%s", r.out);
	proc_run_free(&r);
	give_file(&r, shares, 1);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "unsealed"), "%s", r.out);
	proc_run_free(&r);
	cr_assert_eq(status_shares(NULL), 0);
	char *tok = create_record();
	expect_reads(tok);
	free(tok);
	size_t n;
	char *log = read_file_all(srv.log, &n);
	cr_assert_null(strstr(log, "PIN " PIN), "%s", log);
	free(log);
	log_holds_no_share(shares, 3);
}
