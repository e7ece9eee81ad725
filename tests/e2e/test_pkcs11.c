/*
 * test_pkcs11.c - end-to-end: the key ring's root in a PKCS#11 token
 * (keys/keyring_pkcs11.h), against SoftHSM2 with a fresh token in the
 * test's own directory (SOFTHSM2_CONF names a configuration whose tokendir
 * is there; softhsm2-util --init-token makes the token).
 *
 * vault-keytool init --pkcs11 makes the ring and the token's key; vaultd
 * unseals at start with a PIN file or the systemd credential pkcs11.pin,
 * or starts sealed until `vaultctl unseal` gives the PIN; records written
 * survive a rotation, a retirement and a restart (the ring is re-saved
 * without the token). Each failure is refused with its stable code: wrong
 * PIN, token missing, key missing, a ring sealed by another key of the
 * same label, a key of the wrong type or one that can leave the token (made
 * here through p11-kit), a module that does not load, labels that do not
 * match.
 * SoftHSM2 missing fails the suite, saying how to install it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include "harness.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define PIN "1234"
#define SOFTHSM2_UTIL "/usr/bin/softhsm2-util"

static struct vaultd_proc srv;
static char hsm[600];       /* SoftHSM2's configuration and tokens */
static char ring[700], pinfile[700];

static void
teardown(void)
{
	vaultd_finish(&srv);
	unsetenv("SOFTHSM2_CONF");
	unsetenv("CREDENTIALS_DIRECTORY");
}

TestSuite(pkcs11, .fini = teardown, .timeout = 120);

static void
run(struct proc_run *r, const char *bin, const char *const *args)
{
	proc_run(r, bin, NULL, args);
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
	cr_assert_eq(chmod(path, mode), 0);
}

/* A SoftHSM2 setup of its own under dir/name, with a token "vault" (PIN 1234). */
static void
hsm_setup(const char *name, int with_token)
{
	struct proc_run r;
	char conf[700], tokens[700], text[900];
	cr_assert_eq(access(MODULE, R_OK), 0, "%s is missing: install softhsm2 "
	    "(scripts/install-deps.sh)", MODULE);
	vaultd_path(&srv, name, hsm, sizeof(hsm));
	snprintf(tokens, sizeof(tokens), "%s/tokens", hsm);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", hsm);
	cr_assert_eq(mkdir(hsm, 0700), 0);
	cr_assert_eq(mkdir(tokens, 0700), 0);
	snprintf(text, sizeof(text), "directories.tokendir = %s\nobjectstore.backend = file\n"
	    "log.level = ERROR\n", tokens);
	write_text(conf, text, 0600);
	setenv("SOFTHSM2_CONF", conf, 1);
	if (!with_token)
		return;
	const char *args[] = { "--init-token", "--free", "--label", "vault", "--pin", PIN,
		"--so-pin", "5678", NULL };
	cr_assert_eq(access(SOFTHSM2_UTIL, X_OK), 0, SOFTHSM2_UTIL " is missing: install "
	    "softhsm2 (scripts/install-deps.sh)");
	run(&r, SOFTHSM2_UTIL, args);
	assert_exit(&r, 0);
	proc_run_free(&r);
}

/* The test's directory and configuration, with [keys] pkcs11_* lines. */
static void
prepare(const char *extra_keys)
{
	char ini[2048], keys[700];
	vaultd_prepare(&srv, NULL);
	vaultd_path(&srv, "keys", keys, sizeof(keys));
	cr_assert_eq(mkdir(keys, 0700), 0);
	vaultd_path(&srv, "keys/keyring", ring, sizeof(ring));
	vaultd_path(&srv, "pin", pinfile, sizeof(pinfile));
	snprintf(ini, sizeof(ini), "[keys]\npkcs11_module = " MODULE "\n%s",
	    extra_keys ? extra_keys : "");
	FILE *f = fopen(srv.config, "a");
	cr_assert_not_null(f);
	fputs(ini, f);
	fclose(f);
	write_text(pinfile, PIN "\n", 0600);
}

static void
add_config(const char *text)
{
	FILE *f = fopen(srv.config, "a");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

/* vault-keytool init RING --pkcs11 ... (--create-key if create). */
static void
init_ring(const char *path, const char *key, int create)
{
	struct proc_run r;
	const char *args[] = { "init", path, "--pkcs11", MODULE, "--token", "vault", "--key", key,
		"--pin-file", pinfile, create ? "--create-key" : NULL, NULL };
	run(&r, keytool_path(), args);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "sealed by the key"), "%s", r.out);
	proc_run_free(&r);
}

static char *
log_text(void)
{
	size_t n;
	char *log = read_file_all(srv.log, &n);
	cr_assert_not_null(log);
	return log;
}

static void
ctl(struct proc_run *r, const char *in, const char *const *args)
{
	vaultctl_run(r, srv.socket, in, args, 0);
}

/* A new record; its token (malloc'd). */
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

static int
status_exit(void)
{
	struct proc_run r;
	const char *args[] = { "status", NULL };
	ctl(&r, NULL, args);
	int st = r.status;
	proc_run_free(&r);
	return st;
}

/* Copy SoftHSM's token directory (a snapshot of the token). */
static void
copy_tokens(const char *from, const char *to)
{
	struct proc_run r;
	const char *args[] = { "-c", "rm -rf \"$1\" && cp -a \"$0\" \"$1\"", from, to, NULL };
	run(&r, "/bin/sh", args);
	assert_exit(&r, 0);
	proc_run_free(&r);
}

Test(pkcs11, init_start_rotate_retire_restart_with_a_pin_file)
{
	struct proc_run r;
	char line[800];
	prepare(NULL);
	snprintf(line, sizeof(line), "pkcs11_pin_file = %s\n", pinfile);
	add_config(line);
	hsm_setup("hsm", 1);
	init_ring(ring, "vault-root", 1);

	/* The header names the token and key, and holds no PIN. */
	const char *info[] = { "info", ring, NULL };
	run(&r, keytool_path(), info);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "PKCS#11 token key (CKM_AES_GCM)"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "token:          vault\n"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "key:            vault-root\n"), "%s", r.out);
	proc_run_free(&r);
	size_t n;
	char *img = read_file_all(ring, &n);
	cr_assert_null(memmem(img, n, PIN, 4), "the ring file holds the PIN");
	free(img);

	vaultd_restart(&srv);
	cr_assert_eq(status_exit(), 0, "vaultd did not unseal with the PIN file");
	char *log = log_text();
	cr_assert_not_null(strstr(log, "key ring unsealed by the key \"vault-root\" of PKCS#11 "
	    "token \"vault\""), "%s", log);
	cr_assert_null(strstr(log, PIN), "the log shows the PIN: %s", log);
	free(log);
	char *tok = create_record();
	expect_reads(tok);

	/* Rotation and retirement re-save the ring without the token. */
	const char *rotate[] = { "keys", "rotate", "--wait", NULL };
	ctl(&r, NULL, rotate);
	assert_exit(&r, 0);
	proc_run_free(&r);
	const char *retire[] = { "keys", "retire", "1", NULL };
	ctl(&r, NULL, retire);
	assert_exit(&r, 0);
	proc_run_free(&r);
	char *tok2 = create_record();
	cr_assert_eq(vaultd_stop(&srv), 0);

	/* The saved ring is still sealed by the token, and opens after a restart. */
	const char *show[] = { "show", ring, "--pkcs11", MODULE, "--pin-file", pinfile, NULL };
	run(&r, keytool_path(), show);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "epoch 2"), "%s", r.out);
	cr_assert_null(strstr(r.out, "epoch 1 "), "epoch 1 was retired: %s", r.out);
	proc_run_free(&r);
	vaultd_restart(&srv);
	cr_assert_eq(status_exit(), 0);
	expect_reads(tok);
	expect_reads(tok2);
	free(tok);
	free(tok2);

	/* vaultd --check looks at the module and token but spends no PIN attempt. */
	char *out = NULL;
	cr_assert_eq(vaultd_check(&srv, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "not tried"), "%s", out);
	free(out);
}

Test(pkcs11, pin_from_the_systemd_credential)
{
	char creds[700], cred[800];
	prepare(NULL);
	hsm_setup("hsm", 1);
	init_ring(ring, "vault-root", 1);
	vaultd_path(&srv, "creds", creds, sizeof(creds));
	cr_assert_eq(mkdir(creds, 0700), 0);
	snprintf(cred, sizeof(cred), "%s/pkcs11.pin", creds);
	write_text(cred, PIN, 0400); /* as LoadCredential= writes it; no newline */
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	vaultd_restart(&srv);
	cr_assert_eq(status_exit(), 0, "vaultd did not unseal with the credential");
	char *log = log_text();
	cr_assert_not_null(strstr(log, "(PIN from the systemd credential)"), "%s", log);
	free(log);
	char *tok = create_record();
	cr_assert_eq(vaultd_stop(&srv), 0);

	/* A credential others may read is refused before the token is tried. */
	cr_assert_eq(chmod(cred, 0444), 0);
	char *refusal = NULL;
	cr_assert_eq(vaultd_expect_refusal(&srv, &refusal), 1);
	cr_assert_not_null(strstr(refusal, "PKCS#11 PIN credential"), "%s", refusal);
	cr_assert_not_null(strstr(refusal, "accessible to group or others"), "%s", refusal);
	free(refusal);
	cr_assert_eq(chmod(cred, 0400), 0);
	vaultd_restart(&srv);
	expect_reads(tok);
	free(tok);
}

Test(pkcs11, no_pin_starts_sealed_and_vaultctl_unseal_takes_the_pin)
{
	struct proc_run r;
	prepare(NULL);
	hsm_setup("hsm", 1);
	init_ring(ring, "vault-root", 1);
	vaultd_restart(&srv);
	cr_assert_eq(status_exit(), 2, "vaultd should wait sealed for the PIN");
	char *log = log_text();
	cr_assert_not_null(strstr(log, "no PIN is configured"), "%s", log);
	free(log);

	/* A wrong PIN: refused with its code, still sealed. */
	const char *unseal[] = { "unseal", NULL };
	ctl(&r, "9999\n", unseal);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "VAULT_E_KEYRING"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "PKCS11_PIN_INCORRECT"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "wrong PIN for token \"vault\""), "%s", r.err);
	proc_run_free(&r);
	cr_assert_eq(status_exit(), 2);

	ctl(&r, PIN "\n", unseal);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "unsealed"), "%s", r.out);
	proc_run_free(&r);
	cr_assert_eq(status_exit(), 0);
	char *tok = create_record();
	expect_reads(tok);
	free(tok);
	cr_assert_eq(vaultd_stop(&srv), 0);

	/* Offline commands read the PIN as one line of standard input. */
	const char *verify[] = { "-c", srv.config, "--audit-verify", NULL };
	proc_run(&r, getenv("VAULTD"), PIN "\n", verify);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "audit trail intact"), "%s", r.out);
	proc_run_free(&r);
	proc_run(&r, getenv("VAULTD"), "9999\n", verify);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "PKCS11_PIN_INCORRECT"), "%s", r.err);
	proc_run_free(&r);
}

Test(pkcs11, a_wrong_pin_file_leaves_the_vault_sealed_without_retrying)
{
	struct proc_run r;
	char line[800];
	prepare(NULL);
	snprintf(line, sizeof(line), "pkcs11_pin_file = %s\n", pinfile);
	add_config(line);
	hsm_setup("hsm", 1);
	init_ring(ring, "vault-root", 1);
	write_text(pinfile, "4321\n", 0600);
	vaultd_restart(&srv);
	cr_assert_eq(status_exit(), 2);
	char *log = log_text();
	cr_assert_not_null(strstr(log, "PKCS11_PIN_INCORRECT: wrong PIN for token \"vault\" "
	    "(CKR_PIN_INCORRECT)"), "%s", log);
	cr_assert_not_null(strstr(log, "starting SEALED"), "%s", log);
	cr_assert_null(strstr(log, "4321"), "the log shows the PIN: %s", log);
	free(log);
	const char *unseal[] = { "unseal", NULL };
	ctl(&r, PIN "\n", unseal);
	assert_exit(&r, 0);
	proc_run_free(&r);
	cr_assert_eq(status_exit(), 0);

	/* vault-keytool says the same. */
	const char *show[] = { "show", ring, "--pkcs11", MODULE, "--pin-file", pinfile, NULL };
	run(&r, keytool_path(), show);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "PKCS11_PIN_INCORRECT"), "%s", r.err);
	proc_run_free(&r);
	/* A PIN file others may read is refused before the token is asked. */
	write_text(pinfile, PIN "\n", 0644);
	run(&r, keytool_path(), show);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "accessible to group or others"), "%s", r.err);
	proc_run_free(&r);
}

Test(pkcs11, token_missing_key_missing_and_module_missing_are_refused)
{
	char *log = NULL, line[800], saved[700];
	prepare(NULL);
	snprintf(line, sizeof(line), "pkcs11_pin_file = %s\n", pinfile);
	add_config(line);
	hsm_setup("hsm", 1);
	/* The token as it is before the key exists. */
	vaultd_path(&srv, "hsm-before", saved, sizeof(saved));
	char tokens[700];
	snprintf(tokens, sizeof(tokens), "%s/tokens", hsm);
	copy_tokens(tokens, saved);
	init_ring(ring, "vault-root", 1);

	/* Key missing: the token without it. */
	copy_tokens(saved, tokens);
	cr_assert_eq(vaultd_expect_refusal(&srv, &log), 1);
	cr_assert_not_null(strstr(log, "PKCS11_KEY_NOT_FOUND: token \"vault\" holds no key "
	    "labelled \"vault-root\""), "%s", log);
	free(log);

	/* A ring sealed by another key of the same label (another token's). */
	char other[700];
	vaultd_path(&srv, "keys/other-ring", other, sizeof(other));
	init_ring(other, "vault-root", 1);
	cr_assert_eq(vaultd_expect_refusal(&srv, &log), 1);
	cr_assert_not_null(strstr(log, "PKCS11_UNWRAP_FAILED"), "%s", log);
	cr_assert_not_null(strstr(log, "the ring was sealed by another key"), "%s", log);
	free(log);

	/* Token missing: the module's token directory is empty. */
	hsm_setup("hsm-empty", 0);
	cr_assert_eq(vaultd_expect_refusal(&srv, &log), 1);
	cr_assert_not_null(strstr(log, "PKCS11_TOKEN_NOT_FOUND: no token labelled \"vault\" "
	    "is present in " MODULE), "%s", log);
	free(log);

	/* The module cannot load. */
	add_config("pkcs11_module = /nonexistent/libnone.so\n");
	cr_assert_eq(vaultd_expect_refusal(&srv, &log), 1);
	cr_assert_not_null(strstr(log, "PKCS11_MODULE: cannot load the module "
	    "/nonexistent/libnone.so"), "%s", log);
	free(log);
}

Test(pkcs11, configuration_naming_another_token_is_refused)
{
	char *log = NULL;
	prepare("pkcs11_token = other\n");
	hsm_setup("hsm", 1);
	init_ring(ring, "vault-root", 1);
	cr_assert_eq(vaultd_expect_refusal(&srv, &log), 1);
	cr_assert_not_null(strstr(log, "sealed by the key \"vault-root\" of the PKCS#11 token "
	    "\"vault\", but [keys] names the key \"vault-root\" of the token \"other\""), "%s", log);
	free(log);
}

/*
 * Make a secret key on token "vault" through the module itself (no tool
 * makes these): keygen mechanism, length in bytes, extractable or not.
 */
static void
make_key(const char *label, CK_MECHANISM_TYPE mech, CK_ULONG len, CK_BBOOL extractable)
{
	CK_FUNCTION_LIST *f = p11_kit_module_load(MODULE, 0);
	cr_assert_not_null(f, "%s", p11_kit_message());
	cr_assert_eq(p11_kit_module_initialize(f), CKR_OK);
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8;
	cr_assert_eq(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	CK_SESSION_HANDLE s = 0;
	int found = 0;
	for (CK_ULONG i = 0; i < n && !found; i++) {
		CK_TOKEN_INFO ti;
		if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, "vault ", 6) == 0) {
			cr_assert_eq(f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION,
			    NULL, NULL, &s), CKR_OK);
			found = 1;
		}
	}
	cr_assert(found, "no token \"vault\"");
	cr_assert_eq(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)PIN, 4), CKR_OK);
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &extractable, sizeof(extractable) },
		{ CKA_ENCRYPT, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &yes, sizeof(yes) },
		{ CKA_SIGN, &no, sizeof(no) },
	};
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_OBJECT_HANDLE k;
	/* A generic secret takes no CKA_ENCRYPT/DECRYPT in SoftHSM2: leave them out. */
	CK_ULONG nt = mech == CKM_GENERIC_SECRET_KEY_GEN ? 6 : sizeof(t) / sizeof(t[0]);
	cr_assert_eq(f->C_GenerateKey(s, &m, t, nt, &k), CKR_OK, "C_GenerateKey %s", label);
	f->C_Logout(s);
	f->C_CloseSession(s);
	p11_kit_module_finalize(f);
	p11_kit_module_release(f);
}

Test(pkcs11, keys_of_the_wrong_type_or_that_can_leave_the_token_are_refused)
{
	struct proc_run r;
	char other[700];
	prepare(NULL);
	hsm_setup("hsm", 1);
	make_key("aes128", CKM_AES_KEY_GEN, 16, CK_FALSE);
	make_key("generic", CKM_GENERIC_SECRET_KEY_GEN, 32, CK_FALSE);
	make_key("loose", CKM_AES_KEY_GEN, 32, CK_TRUE);
	static const struct {
		const char *key, *want;
	} cases[] = {
		{ "aes128", "PKCS11_KEY_TYPE: the key \"aes128\" on token \"vault\" is AES-128, "
		    "not AES-256" },
		{ "generic", "PKCS11_KEY_TYPE: the key \"generic\" on token \"vault\" is not an "
		    "AES key" },
		{ "loose", "PKCS11_KEY_TYPE: the key \"loose\" on token \"vault\" can leave the "
		    "token" },
	};
	vaultd_path(&srv, "keys/r", other, sizeof(other));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[] = { "init", other, "--pkcs11", MODULE, "--token", "vault", "--key",
			cases[i].key, "--pin-file", pinfile, NULL };
		run(&r, keytool_path(), args);
		assert_exit(&r, 1);
		cr_assert_not_null(strstr(r.err, cases[i].want), "%s", r.err);
		cr_assert_neq(access(other, F_OK), 0, "a ring was written anyway");
		proc_run_free(&r);
	}
	/* The PIN from standard input, as from a script. */
	const char *args[] = { "init", other, "--pkcs11", MODULE, "--token", "vault", "--key",
		"good", "--create-key", NULL };
	proc_run(&r, keytool_path(), PIN "\n", args);
	assert_exit(&r, 0);
	proc_run_free(&r);
	/* --pkcs11 without the labels, or a PIN on the command line: usage errors. */
	const char *nolabel[] = { "init", ring, "--pkcs11", MODULE, "--key", "x", NULL };
	run(&r, keytool_path(), nolabel);
	assert_exit(&r, 2);
	proc_run_free(&r);
	const char *pinarg[] = { "init", ring, "--pkcs11", MODULE, "--token", "vault", "--key",
		"x", "--pin", PIN, NULL };
	run(&r, keytool_path(), pinarg);
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "unknown option --pin "), "%s", r.err);
	cr_assert_null(strstr(r.err, PIN), "the PIN was printed: %s", r.err);
	proc_run_free(&r);
}

Test(pkcs11, a_locked_pin_is_named_and_leaves_the_vault_sealed)
{
	struct proc_run r;
	char line[1200];
	const char *fake = getenv("FAKE_PKCS11");
	cr_assert_not_null(fake, "FAKE_PKCS11 is not set (run through meson test)");
	prepare(NULL);
	hsm_setup("hsm", 1);
	init_ring(ring, "vault-root", 1);
	/* The same token label, in a module whose PIN is locked. */
	snprintf(line, sizeof(line), "pkcs11_module = %s\npkcs11_pin_file = %s\n", fake, pinfile);
	add_config(line);
	vaultd_restart(&srv);
	cr_assert_eq(status_exit(), 2);
	char *log = log_text();
	cr_assert_not_null(strstr(log, "PKCS11_PIN_LOCKED: the user PIN of token \"vault\" is "
	    "locked: the token's security officer must reset it (CKR_PIN_LOCKED)"), "%s", log);
	cr_assert_not_null(strstr(log, "starting SEALED"), "%s", log);
	free(log);
	cr_assert_eq(vaultd_stop(&srv), 0);

	/* A token that says so in its flags is not even asked to log in. */
	setenv("FAKE_PKCS11_FLAG", "1", 1);
	const char *show[] = { "show", ring, "--pkcs11", fake, "--pin-file", pinfile, NULL };
	run(&r, keytool_path(), show);
	unsetenv("FAKE_PKCS11_FLAG");
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "PKCS11_PIN_LOCKED: the user PIN of token \"vault\" is "
	    "locked (too many wrong PINs)"), "%s", r.err);
	proc_run_free(&r);
}
