/*
 * test_pkcs11.c - the parts of the PKCS#11 root that need no token:
 * reading the PIN (keys/pin.h, from a file and as the systemd credential
 * pkcs11.pin) and the ring's kind 3 header (keys/README.md): its labels,
 * IV and wrapped key round-trip, every byte of it is authenticated, a
 * re-save (rotation, retirement) keeps it, and malformed headers are
 * refused. The token itself is exercised by e2e-pkcs11 against SoftHSM2.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <vault/vault.h>

#include "keys/keyring.h"
#include "keys/pin.h"
#include "keys/pkcs11.h"
#include "vault/credential.h"

/* keys/README.md, "File layout": the kind 3 header. */
#define HDR3 240
#define OFF_KIND 10
#define OFF_NONCE 48
#define OFF_BODY_LEN 72
#define OFF_MECH 76
#define OFF_TLEN 80
#define OFF_KLEN 81
#define OFF_TOKEN 84
#define OFF_KEY 116
#define OFF_IV 180
#define OFF_WRAPPED 192

static char dir[64];
static uint8_t *root;
static char *pin;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
setup(void)
{
	cr_assert_geq(sodium_init(), 0);
	snprintf(dir, sizeof dir, "/tmp/vault-pkcs11-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	root = sodium_malloc(KEYRING_KEY_BYTES);
	pin = sodium_malloc(PKCS11_PIN_BUF);
	cr_assert(root != NULL && pin != NULL);
	randombytes_buf(root, KEYRING_KEY_BYTES);
}

static void
teardown(void)
{
	sodium_free(root);
	sodium_free(pin);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(pkcs11, .init = setup, .fini = teardown);

static const char *
path_of(const char *name)
{
	static char p[128];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static void
write_file(const char *path, const void *data, size_t n, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
}

/* ---- the PIN --------------------------------------------------------------- */

Test(pkcs11, pin_parse_takes_one_line)
{
	static const struct {
		const char *in;
		size_t n;
		const char *want; /* NULL: refused */
	} cases[] = {
		{ "1234", 4, "1234" },
		{ "1234\n", 5, "1234" },
		{ "1234\r\n", 6, "1234" },
		{ "pass word", 9, "pass word" },
		{ "", 0, NULL },
		{ "\n", 1, NULL },
		{ "\r\n", 2, NULL },
		{ "1234\n\n", 6, NULL },
		{ "12\n34", 5, NULL },
		{ "12\r34", 5, NULL },
		{ "12\0" "34", 5, NULL },
	};
	const char *why;
	size_t len;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(pin, 'x', PKCS11_PIN_BUF);
		memcpy(pin, cases[i].in, cases[i].n);
		int rc = pin_parse(pin, cases[i].n, &len, &why);
		if (cases[i].want) {
			cr_assert_eq(rc, 0, "case %zu refused: %s", i, why);
			cr_assert_eq(len, strlen(cases[i].want));
			cr_assert_str_eq(pin, cases[i].want);
		} else {
			cr_assert_eq(rc, VAULT_E_KEYRING, "case %zu accepted", i);
			cr_assert_not_null(why);
			cr_assert_eq(len, 0);
			/* Wiped on refusal. */
			for (size_t j = 0; j < PKCS11_PIN_BUF; j++)
				cr_assert_eq(pin[j], 0, "case %zu: byte %zu not wiped", i, j);
		}
	}
	/* 256 bytes are a PIN, 257 are not. */
	memset(pin, '7', PKCS11_PIN_MAX + 1);
	cr_assert_eq(pin_parse(pin, PKCS11_PIN_MAX, &len, &why), 0);
	cr_assert_eq(len, PKCS11_PIN_MAX);
	memset(pin, '7', PKCS11_PIN_MAX + 1);
	cr_assert_eq(pin_parse(pin, PKCS11_PIN_MAX + 1, &len, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, "the PIN is longer than 256 bytes");
}

Test(pkcs11, pin_file_must_be_private_and_short)
{
	const char *why;
	size_t len;
	char big[400];

	write_file(path_of("pin"), "1234\n", 5, 0600);
	cr_assert_eq(pin_read_file(path_of("pin"), pin, &len, &why), 0, "%s", why);
	cr_assert_str_eq(pin, "1234");
	write_file(path_of("pin"), "1234", 4, 0400);
	cr_assert_eq(pin_read_file(path_of("pin"), pin, &len, &why), 0, "%s", why);
	cr_assert_eq(len, 4);

	write_file(path_of("pin"), "1234\n", 5, 0640);
	cr_assert_eq(pin_read_file(path_of("pin"), pin, &len, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, "the PIN file is accessible to group or others; chmod 600 it");
	write_file(path_of("pin"), "1234\n", 5, 0604);
	cr_assert_eq(pin_read_file(path_of("pin"), pin, &len, &why), VAULT_E_KEYRING);

	cr_assert_eq(pin_read_file(path_of("none"), pin, &len, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, "the PIN file does not exist");
	write_file(path_of("pin"), "1234\n", 5, 0600);
	char target[128];
	snprintf(target, sizeof target, "%s", path_of("pin"));
	cr_assert_eq(symlink(target, path_of("link")), 0);
	cr_assert_eq(pin_read_file(path_of("link"), pin, &len, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, "the PIN file is a symbolic link");
	cr_assert_eq(mkdir(path_of("adir"), 0700), 0);
	cr_assert_neq(pin_read_file(path_of("adir"), pin, &len, &why), 0);

	memset(big, '1', sizeof big);
	write_file(path_of("pin"), big, sizeof big, 0600);
	cr_assert_eq(pin_read_file(path_of("pin"), pin, &len, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, "the PIN is longer than 256 bytes");
	write_file(path_of("pin"), "", 0, 0600);
	cr_assert_eq(pin_read_file(path_of("pin"), pin, &len, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, "the PIN is empty");

	/* Another user's file (as root, chown it away). */
	if (geteuid() == 0) {
		write_file(path_of("pin"), "1234\n", 5, 0600);
		cr_assert_eq(chown(path_of("pin"), 65534, 65534), 0);
		cr_assert_eq(pin_read_file(path_of("pin"), pin, &len, &why), VAULT_E_KEYRING);
		cr_assert_str_eq(why, "the PIN file is owned by another user");
	}
}

Test(pkcs11, pin_credential_is_checked_as_the_root_key_credential)
{
	char creds[128], cred[160];
	const char *why;
	size_t len;
	snprintf(creds, sizeof creds, "%s/creds", dir);
	snprintf(cred, sizeof cred, "%s/pkcs11.pin", creds);
	cr_assert_eq(mkdir(creds, 0700), 0);

	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	char found[256];
	cr_assert_eq(credential_pkcs11_pin_path(found, sizeof found), 0, "no credential yet");
	write_file(cred, "4321", 4, 0400);
	cr_assert_eq(credential_pkcs11_pin_path(found, sizeof found), 1);
	cr_assert_str_eq(found, cred);
	unsetenv("CREDENTIALS_DIRECTORY");
	cr_assert_eq(credential_pkcs11_pin_path(found, sizeof found), 0);

	cr_assert_eq(credential_read_pkcs11_pin(cred, pin, &len, &why), 0, "%s", why);
	cr_assert_str_eq(pin, "4321");
	cr_assert_eq(chmod(cred, 0440), 0);
	cr_assert_eq(credential_read_pkcs11_pin(cred, pin, &len, &why), VAULT_E_KEYRING);
	cr_assert_not_null(strstr(why, "accessible to group or others"), "%s", why);
	cr_assert_eq(chmod(cred, 0400), 0);
	cr_assert_eq(chmod(creds, 0755), 0);
	cr_assert_eq(credential_read_pkcs11_pin(cred, pin, &len, &why), VAULT_E_KEYRING);
	cr_assert_not_null(strstr(why, "credentials directory"), "%s", why);
}

/* ---- the ring's kind 3 header ------------------------------------------------ */

static void
p11_params(struct keyring_root_params *p, const char *token, const char *key)
{
	memset(p, 0, sizeof(*p));
	p->kind = KEYRING_ROOT_PKCS11;
	p->p11.mechanism = PKCS11_MECH_AES_GCM;
	snprintf(p->p11.token, sizeof p->p11.token, "%s", token);
	snprintf(p->p11.key, sizeof p->p11.key, "%s", key);
	randombytes_buf(p->p11.iv, sizeof p->p11.iv);
	randombytes_buf(p->p11.wrapped, sizeof p->p11.wrapped);
}

static struct keyring *
create3(const char *name, struct keyring_root_params *p)
{
	struct keyring *kr = NULL;
	const char *why = NULL;
	p11_params(p, "vault token", "vault-root");
	cr_assert_eq(keyring_create2(path_of(name), root, p, &kr, &why), 0, "%s", why);
	return kr;
}

Test(pkcs11, kind3_header_round_trips)
{
	struct keyring_root_params p, got;
	struct keyring *kr = create3("ring", &p), *loaded = NULL;
	const char *why = NULL;
	size_t n;

	cr_assert_eq(keyring_file_params(path_of("ring"), &got, &why), 0, "%s", why);
	cr_assert_eq(got.kind, KEYRING_ROOT_PKCS11);
	cr_assert_eq(got.p11.mechanism, PKCS11_MECH_AES_GCM);
	cr_assert_str_eq(got.p11.token, "vault token");
	cr_assert_str_eq(got.p11.key, "vault-root");
	cr_assert_arr_eq(got.p11.iv, p.p11.iv, sizeof p.p11.iv);
	cr_assert_arr_eq(got.p11.wrapped, p.p11.wrapped, sizeof p.p11.wrapped);
	cr_assert_eq(got.opslimit, 0);
	cr_assert_eq(got.memlimit, 0);

	/* The layout of keys/README.md. */
	int fd = open(path_of("ring"), O_RDONLY);
	uint8_t h[HDR3];
	cr_assert_eq(read(fd, h, sizeof h), (ssize_t)sizeof h);
	close(fd);
	cr_assert_eq(h[OFF_KIND + 1], 3);
	cr_assert_eq(h[OFF_MECH + 2], 0x10);
	cr_assert_eq(h[OFF_MECH + 3], 0x87);
	cr_assert_eq(h[OFF_TLEN], 11);
	cr_assert_eq(h[OFF_KLEN], 10);
	cr_assert(memcmp(h + OFF_TOKEN, "vault token", 11) == 0);
	cr_assert_eq(h[OFF_TOKEN + 11], 0);
	cr_assert(memcmp(h + OFF_KEY, "vault-root", 10) == 0);
	cr_assert(memcmp(h + OFF_IV, p.p11.iv, 12) == 0);
	cr_assert(memcmp(h + OFF_WRAPPED, p.p11.wrapped, 48) == 0);

	cr_assert_eq(keyring_load(path_of("ring"), root, &loaded, &why), 0, "%s", why);
	cr_assert_eq(keyring_params(loaded)->kind, KEYRING_ROOT_PKCS11);
	cr_assert_str_eq(keyring_params(loaded)->p11.key, "vault-root");
	keyring_free(loaded);

	/* A rotation's save keeps the whole PKCS#11 block; only the nonce changes. */
	char *before = NULL, *after = NULL;
	struct keyring *next = NULL;
	uint32_t v;
	before = (char *)malloc(HDR3);
	memcpy(before, h, HDR3);
	cr_assert_eq(keyring_with_new_key(kr, KEYRING_KEK, &next, &v), 0);
	cr_assert_eq(keyring_save(next, path_of("ring"), root, &why), 0, "%s", why);
	after = (char *)malloc(HDR3);
	fd = open(path_of("ring"), O_RDONLY);
	cr_assert_eq(read(fd, after, HDR3), HDR3);
	close(fd);
	cr_assert(memcmp(before, after, OFF_NONCE) == 0);
	cr_assert(memcmp(before + OFF_MECH, after + OFF_MECH, HDR3 - OFF_MECH) == 0);
	cr_assert_eq(keyring_load(path_of("ring"), root, &loaded, &why), 0, "%s", why);
	cr_assert_eq(keyring_current(loaded, KEYRING_KEK), 2);
	keyring_free(loaded);
	keyring_free(next);
	free(before);
	free(after);

	/* Not a passphrase ring: said so. */
	cr_assert_eq(keyring_load_passphrase(path_of("ring"), "x", 1, root, &loaded, &why),
	    VAULT_E_KEYRING);
	cr_assert_str_eq(why, "the key ring is sealed by a PKCS#11 token, not a passphrase");
	randombytes_buf(root, KEYRING_KEY_BYTES);
	keyring_free(kr);
	(void)n;
}

Test(pkcs11, every_header_byte_of_a_kind3_ring_is_authenticated)
{
	struct keyring_root_params p;
	struct keyring *kr = create3("ring", &p), *o = NULL;
	uint8_t *img = NULL;
	size_t len = 0;
	const char *why = NULL;
	cr_assert_eq(keyring_seal(kr, root, &img, &len), 0);
	cr_assert_eq(keyring_open_image(img, len, root, &o, &why), 0, "%s", why);
	keyring_free(o);
	for (size_t i = 0; i < HDR3; i++) {
		img[i] ^= 0x01;
		o = NULL;
		cr_assert_neq(keyring_open_image(img, len, root, &o, &why), 0,
		    "a flipped bit at header byte %zu was accepted", i);
		cr_assert_null(o);
		img[i] ^= 0x01;
	}
	/* Truncated inside the PKCS#11 block. */
	cr_assert_eq(keyring_open_image(img, 200, root, &o, &why), VAULT_E_KEYRING);
	free(img);
	keyring_free(kr);
}

Test(pkcs11, malformed_kind3_params_are_refused)
{
	struct keyring_root_params p;
	struct keyring *kr = NULL;
	const char *why = NULL;

	p11_params(&p, "vault", "k");
	p.p11.mechanism = 0x210a; /* CKM_AES_KEY_WRAP_PAD: not what we seal with */
	cr_assert_eq(keyring_create2(path_of("r"), root, &p, &kr, &why), VAULT_E_CONFIG);
	cr_assert_str_eq(why, "unsupported PKCS#11 mechanism");
	p11_params(&p, "", "k");
	cr_assert_eq(keyring_create2(path_of("r"), root, &p, &kr, &why), VAULT_E_CONFIG);
	cr_assert_str_eq(why, "invalid PKCS#11 token or key label");
	p11_params(&p, "vault ", "k");
	cr_assert_eq(keyring_create2(path_of("r"), root, &p, &kr, &why), VAULT_E_CONFIG);
	p11_params(&p, "vault", "a\nb");
	cr_assert_eq(keyring_create2(path_of("r"), root, &p, &kr, &why), VAULT_E_CONFIG);
	p11_params(&p, "vault", "k");
	p.opslimit = 1;
	cr_assert_eq(keyring_create2(path_of("r"), root, &p, &kr, &why), VAULT_E_CONFIG);
	cr_assert_str_eq(why, "KDF parameters set for a PKCS#11 root");
	cr_assert_null(kr);
	cr_assert_neq(access(path_of("r"), F_OK), 0);

	/* A header whose label length or padding lies, read without a key. */
	kr = create3("ring", &p);
	keyring_free(kr);
	int fd = open(path_of("ring"), O_RDONLY);
	uint8_t h[HDR3 + 200];
	ssize_t n = read(fd, h, sizeof h);
	close(fd);
	cr_assert_gt(n, HDR3);
	struct keyring_root_params got;
	const struct {
		size_t off;
		uint8_t v;
		const char *why;
	} bad[] = {
		{ OFF_TLEN, 33, "invalid PKCS#11 token or key label" },
		{ OFF_KLEN, 65, "invalid PKCS#11 token or key label" },
		{ OFF_TOKEN + 20, 'x', "invalid PKCS#11 token or key label" },
		{ OFF_KEY + 63, 'x', "invalid PKCS#11 token or key label" },
		{ OFF_TLEN, 0, "invalid PKCS#11 token or key label" },
		{ OFF_KEY + 2, 0, "invalid PKCS#11 token or key label" }, /* "vaNlt-root" */
		{ OFF_TOKEN, 0, "invalid PKCS#11 token or key label" },
		{ 82, 1, "reserved header bytes are not zero" },
		{ OFF_MECH + 3, 0x88, "unsupported PKCS#11 mechanism" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t c[sizeof h];
		memcpy(c, h, (size_t)n);
		c[bad[i].off] = bad[i].v;
		write_file(path_of("bad"), c, (size_t)n, 0600);
		cr_assert_eq(keyring_file_params(path_of("bad"), &got, &why), VAULT_E_KEYRING,
		    "case %zu accepted", i);
		cr_assert_str_eq(why, bad[i].why, "case %zu: %s", i, why);
	}
	/* Cut inside the block: not a ring. */
	write_file(path_of("bad"), h, 100, 0600);
	cr_assert_eq(keyring_file_params(path_of("bad"), &got, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, "not a key ring file");
}

Test(pkcs11, aad_binds_the_labels_and_nothing_that_changes_on_save)
{
	struct keyring_root_params a, b;
	uint8_t x[KEYRING_P11_AAD_MAX], y[KEYRING_P11_AAD_MAX];
	p11_params(&a, "vault", "root");
	b = a;
	size_t n = keyring_pkcs11_aad(&a, x);
	/* IV and wrapped key are not in it (they are its output). */
	randombytes_buf(b.p11.iv, sizeof b.p11.iv);
	randombytes_buf(b.p11.wrapped, sizeof b.p11.wrapped);
	cr_assert_eq(keyring_pkcs11_aad(&b, y), n);
	cr_assert(memcmp(x, y, n) == 0);
	/* Each label is. */
	snprintf(b.p11.key, sizeof b.p11.key, "root2");
	keyring_pkcs11_aad(&b, y);
	cr_assert(memcmp(x, y, n) != 0);
	b = a;
	snprintf(b.p11.token, sizeof b.p11.token, "vaulu");
	keyring_pkcs11_aad(&b, y);
	cr_assert(memcmp(x, y, n) != 0);
}

Test(pkcs11, stable_names)
{
	cr_assert_str_eq(pkcs11_status_name(PKCS11_E_PIN_INCORRECT), "PKCS11_PIN_INCORRECT");
	cr_assert_str_eq(pkcs11_status_name(PKCS11_E_PIN_LOCKED), "PKCS11_PIN_LOCKED");
	cr_assert_str_eq(pkcs11_status_name(PKCS11_E_TOKEN), "PKCS11_TOKEN_NOT_FOUND");
	cr_assert_str_eq(pkcs11_status_name(PKCS11_E_KEY_NOT_FOUND), "PKCS11_KEY_NOT_FOUND");
	cr_assert_str_eq(pkcs11_status_name(PKCS11_E_KEY_TYPE), "PKCS11_KEY_TYPE");
	cr_assert_str_eq(pkcs11_status_name(PKCS11_E_UNWRAP), "PKCS11_UNWRAP_FAILED");
	cr_assert_str_eq(pkcs11_status_name(PKCS11_E_MODULE), "PKCS11_MODULE");
	cr_assert_str_eq(pkcs11_status_name((enum pkcs11_status)99), "PKCS11_UNKNOWN");
	cr_assert_str_eq(pkcs11_ckr_name(0xa0), "CKR_PIN_INCORRECT");
	cr_assert_str_eq(pkcs11_ckr_name(0xa4), "CKR_PIN_LOCKED");
	cr_assert_str_eq(pkcs11_ckr_name(0x12345), "CKR_0x12345");
	cr_assert(pkcs11_label_ok("vault", 32));
	cr_assert(!pkcs11_label_ok("", 32));
	cr_assert(!pkcs11_label_ok("a ", 32));
	cr_assert(!pkcs11_label_ok("a\tb", 32));
	cr_assert(!pkcs11_label_ok("123456789012345678901234567890123", 32));
	cr_assert(pkcs11_label_ok("12345678901234567890123456789012", 32));
}
