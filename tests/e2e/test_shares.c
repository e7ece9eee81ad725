/*
 * test_shares.c - end-to-end: a key ring whose unseal secret is split into
 * Shamir shares (keys/share.h). vault-keytool init --shares 5 --threshold 3
 * writes five share files; vaultd starts sealed and refuses requests with
 * VAULT_E_SEALED; `vaultctl status` counts the shares given; each operator
 * gives one (from a file, or standard input); a duplicate is refused, a
 * mistyped one is caught by its check, and K shares that do not combine
 * are all discarded without saying which was wrong. With a PKCS#11 token
 * (SoftHSM2), the shares are of the PIN.
 *
 * Suite rekey: `vaultctl keys rekey` while vaultd serves, from a root key
 * file to shares, from shares to a passphrase and to new shares (the old
 * shares are refused after a restart), to and from a PKCS#11 token (the
 * old root key no longer opens the ring), and to a root key that systemd
 * hands over as the credential root.key (auto-unseal at start). Records
 * written before and after each rekey stay readable.
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
	/* The offline tool says plainly that it does not take shares. */
	const char *show[] = { "change-passphrase", ring, NULL };
	proc_run(&r, keytool_path(), "x\nx\n", show);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "sealed by Shamir shares"), "%s", r.err);
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

/* vaultd -c CONF --audit-verify (offline), in on standard input. */
static int
offline_verify(const char *in, char **out)
{
	struct proc_run r;
	const char *args[] = { "-c", srv.config, "--audit-verify", NULL };
	proc_run_ex(&r, getenv("VAULTD"), in, strlen(in), NULL, args, 60);
	int st = r.status;
	size_t n = strlen(r.out) + strlen(r.err) + 2;
	*out = malloc(n);
	snprintf(*out, n, "%s\n%s", r.out, r.err);
	proc_run_free(&r);
	return st;
}

Test(shares, offline_commands_take_k_shares_on_standard_input)
{
	struct proc_run r;
	char in[2048], *out;
	prepare();
	init_shares(ring, shares, "5", "3");
	vaultd_restart(&srv);
	for (int i = 1; i <= 3; i++) {
		give_file(&r, shares, i);
		assert_exit(&r, 0);
		proc_run_free(&r);
	}
	char *tok = create_record();
	free(tok);
	cr_assert_eq(vaultd_stop(&srv), 0);
	char *a = share_text(shares, 2), *b = share_text(shares, 4), *c = share_text(shares, 5);
	/* A share repeated: refused, nothing opened. */
	snprintf(in, sizeof(in), "%s%s%s", a, a, b);
	cr_assert_eq(offline_verify(in, &out), 1, "%s", out);
	cr_assert_not_null(strstr(out, "do not unseal"), "%s", out);
	free(out);
	snprintf(in, sizeof(in), "%s%s%s", a, b, c);
	cr_assert_eq(offline_verify(in, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "intact"), "%s", out);
	free(out);
	free(a);
	free(b);
	free(c);
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

/* ---- rekey ---------------------------------------------------------------- */

TestSuite(rekey, .fini = teardown, .timeout = 120);

static void
rekey(struct proc_run *r, const char *in, const char *const *opts)
{
	const char *args[24] = { "keys", "rekey" };
	size_t n = 2;
	for (size_t i = 0; opts[i] != NULL && n < 23; i++)
		args[n++] = opts[i];
	args[n] = NULL;
	ctl(r, in, args);
}

static void
restart(void)
{
	cr_assert_eq(vaultd_stop(&srv), 0);
	vaultd_restart(&srv);
}

Test(rekey, root_file_to_shares_to_passphrase_and_old_shares_refused)
{
	struct proc_run r;
	char d2[800];
	prepare();
	vaultd_path(&srv, "shares2", d2, sizeof(d2));
	cr_assert_eq(mkdir(d2, 0700), 0);
	vaultd_restart(&srv); /* --dev: a root key file and a ring */
	char *tok = create_record();

	/* To shares, while serving: nothing stops, writes go on. */
	const char *to_shares[] = { "--shares", "3", "--threshold", "2", "--share-dir", shares,
		NULL };
	rekey(&r, NULL, to_shares);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "root is now shares"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "share 3 of 3 written"), "%s", r.out);
	proc_run_free(&r);
	cr_assert_eq(status_shares(NULL), 0);
	char *tok2 = create_record();
	/* A rotation after the rekey saves the ring under the new root. */
	const char *rotate[] = { "keys", "rotate", "--wait", NULL };
	ctl(&r, NULL, rotate);
	assert_exit(&r, 0);
	proc_run_free(&r);
	const char *info[] = { "info", ring, NULL };
	proc_run(&r, keytool_path(), NULL, info);
	cr_assert_not_null(strstr(r.out, "2 of 3 unseal"), "%s", r.out);
	proc_run_free(&r);

	/* The root key file is still there, but the ring waits for shares. */
	restart();
	cr_assert_eq(status_shares("unseal shares: 0 of 2"), 2);
	give_file(&r, shares, 3);
	assert_exit(&r, 0);
	proc_run_free(&r);
	give_file(&r, shares, 1);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "unsealed"), "%s", r.out);
	proc_run_free(&r);
	expect_reads(tok);
	expect_reads(tok2);

	/* To a passphrase (low Argon2id costs, to keep the test short). */
	const char *to_pass[] = { "--passphrase", "--opslimit", "1", "--memlimit", "65536", NULL };
	rekey(&r, "correct horse battery\n", to_pass);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "root is now passphrase"), "%s", r.out);
	proc_run_free(&r);
	restart();
	cr_assert_eq(status_shares(NULL), 2, "sealed, waiting for the passphrase");
	give_file(&r, shares, 1);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "not split into shares"), "%s", r.err);
	proc_run_free(&r);
	const char *unseal[] = { "unseal", NULL };
	ctl(&r, "correct horse battery\n", unseal);
	assert_exit(&r, 0);
	proc_run_free(&r);
	expect_reads(tok);

	/* To new shares of the same shape: the old ones no longer combine. */
	const char *to_shares2[] = { "--shares", "3", "--threshold", "2", "--share-dir", d2, NULL };
	rekey(&r, NULL, to_shares2);
	assert_exit(&r, 0);
	proc_run_free(&r);
	restart();
	give_file(&r, shares, 1);
	assert_exit(&r, 0);
	proc_run_free(&r);
	give_file(&r, shares, 2);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "all collected shares were discarded"), "%s", r.err);
	proc_run_free(&r);
	cr_assert_eq(status_shares("unseal shares: 0 of 2"), 2);
	give_file(&r, d2, 2);
	assert_exit(&r, 0);
	proc_run_free(&r);
	give_file(&r, d2, 3);
	assert_exit(&r, 0);
	proc_run_free(&r);
	cr_assert_eq(status_shares(NULL), 0);
	expect_reads(tok);
	expect_reads(tok2);
	free(tok);
	free(tok2);
	log_holds_no_share(d2, 3);
}

/* Make the AES key "vault-root" on the token (init of a throwaway ring). */
static void
hsm_key(const char *pinfile)
{
	char scratch[800];
	vaultd_path(&srv, "scratch-ring", scratch, sizeof(scratch));
	const char *args[] = { "init", scratch, "--pkcs11", MODULE, "--token", "vault", "--key",
		"vault-root", "--create-key", "--pin-file", pinfile, NULL };
	cr_assert_eq(keytool_run(NULL, args), 0);
}

Test(rekey, to_and_from_pkcs11_with_a_split_pin)
{
	struct proc_run r;
	char pinfile[800], rootkey[800], newkey[800], oldcopy[800];
	prepare();
	hsm_setup();
	vaultd_path(&srv, "pin", pinfile, sizeof(pinfile));
	FILE *f = fopen(pinfile, "w");
	cr_assert_not_null(f);
	fputs(PIN "\n", f);
	fclose(f);
	cr_assert_eq(chmod(pinfile, 0600), 0);
	hsm_key(pinfile);
	vaultd_path(&srv, "keys/root.key", rootkey, sizeof(rootkey));
	vaultd_path(&srv, "keys/root.key.new", newkey, sizeof(newkey));
	vaultd_path(&srv, "old-root.key", oldcopy, sizeof(oldcopy));
	vaultd_restart(&srv);
	char *tok = create_record();
	size_t n;
	char *old = read_file_all(rootkey, &n);
	cr_assert_eq(n, 32);
	f = fopen(oldcopy, "w");
	fwrite(old, 1, n, f);
	fclose(f);
	free(old);
	cr_assert_eq(chmod(oldcopy, 0600), 0);

	/* A wrong PIN: refused with the token's code, the ring and its root unchanged. */
	char badpin[800];
	vaultd_path(&srv, "badpin", badpin, sizeof(badpin));
	f = fopen(badpin, "w");
	fputs("0000\n", f);
	fclose(f);
	cr_assert_eq(chmod(badpin, 0600), 0);
	size_t rn0, rn1;
	char *ring0 = read_file_all(ring, &rn0);
	const char *bad[] = { "--pkcs11", "--token", "vault", "--key", "vault-root",
		"--pin-file", badpin, NULL };
	rekey(&r, NULL, bad);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "PKCS11_PIN_INCORRECT"), "%s", r.err);
	proc_run_free(&r);
	char *ring1 = read_file_all(ring, &rn1);
	cr_assert(rn0 == rn1 && memcmp(ring0, ring1, rn0) == 0, "a failed rekey changed the ring");
	free(ring0);
	free(ring1);

	/* To the token, its PIN split 2 of 3 among operators. */
	const char *to_p11[] = { "--pkcs11", "--token", "vault", "--key", "vault-root",
		"--pin-file", pinfile, "--shares", "3", "--threshold", "2", "--share-dir", shares,
		NULL };
	rekey(&r, NULL, to_p11);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "root is now pkcs11"), "%s", r.out);
	proc_run_free(&r);
	char *tok2 = create_record();
	restart();
	cr_assert_eq(status_shares("unseal shares: 0 of 2"), 2, "no PIN configured: sealed");
	give_file(&r, shares, 2);
	assert_exit(&r, 0);
	proc_run_free(&r);
	give_file(&r, shares, 3);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "unsealed"), "%s", r.out);
	proc_run_free(&r);
	expect_reads(tok);
	expect_reads(tok2);
	/* The PIN itself still works for whoever holds it (the token decides). */
	restart();
	const char *unseal[] = { "unseal", NULL };
	ctl(&r, PIN "\n", unseal);
	assert_exit(&r, 0);
	proc_run_free(&r);

	/* Back to a root key file, made by vaultctl; installed at root_key_path. */
	const char *to_file[] = { "--key-file", newkey, NULL };
	rekey(&r, NULL, to_file);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "root is now key_file"), "%s", r.out);
	proc_run_free(&r);
	struct stat st;
	cr_assert_eq(stat(newkey, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(rename(newkey, rootkey), 0);
	restart();
	cr_assert_eq(status_shares(NULL), 0, "the new root key file unseals at start");
	expect_reads(tok);
	expect_reads(tok2);
	/* The first root key no longer opens the ring. */
	const char *show[] = { "show", ring, "--key-file", oldcopy, NULL };
	proc_run(&r, keytool_path(), NULL, show);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "cannot be opened"), "%s", r.err);
	proc_run_free(&r);
	free(tok);
	free(tok2);
}

Test(rekey, to_a_root_key_credential_that_unseals_at_start)
{
	struct proc_run r;
	char creds[800], cred[900];
	prepare();
	vaultd_path(&srv, "creds", creds, sizeof(creds));
	cr_assert_eq(mkdir(creds, 0700), 0);
	snprintf(cred, sizeof(cred), "%s/root.key", creds);
	const char *init[] = { "init", ring, "--shares", "2", "--threshold", "2", "--share-dir",
		shares, NULL };
	cr_assert_eq(keytool_run(NULL, init), 0);
	vaultd_restart(&srv);
	for (int i = 1; i <= 2; i++) {
		give_file(&r, shares, i);
		assert_exit(&r, 0);
		proc_run_free(&r);
	}
	char *tok = create_record();
	/* From shares to a root key that systemd will hand over (LoadCredential=). */
	const char *to_file[] = { "--key-file", cred, NULL };
	rekey(&r, NULL, to_file);
	assert_exit(&r, 0);
	proc_run_free(&r);
	cr_assert_eq(chmod(cred, 0400), 0); /* as LoadCredential= writes it */
	/* As in the unit: no root_key_path, $CREDENTIALS_DIRECTORY set. */
	size_t n;
	char *conf = read_file_all(srv.config, &n);
	char *line = strstr(conf, "root_key_path = ");
	cr_assert_not_null(line);
	char *end = strchr(line, '\n');
	memmove(line, end + 1, strlen(end + 1) + 1);
	FILE *f = fopen(srv.config, "w");
	fputs(conf, f);
	fclose(f);
	free(conf);
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	restart();
	unsetenv("CREDENTIALS_DIRECTORY");
	cr_assert_eq(status_shares(NULL), 0, "the credential unseals at start");
	expect_reads(tok);
	size_t ln;
	char *log = read_file_all(srv.log, &ln);
	cr_assert_not_null(strstr(log, "root key from the systemd credential"), "%s", log);
	free(log);
	free(tok);
}
