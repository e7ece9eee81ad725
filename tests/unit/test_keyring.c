/*
 * test_keyring.c - the sealed key ring file and the root key file
 * (keyring.h; the layout is in keys/README.md).
 *
 * Covers create/load round trips, refusal of a wrong root key and of every
 * single-byte corruption, truncation or length mismatch of the image,
 * hand-sealed images whose authenticated contents are malformed, and the
 * permission and size checks on the root key file. Each test works in its
 * own temporary directory.
 *
 * Then passphrase roots (Argon2id parameters in the header, read without a
 * key by keyring_file_params), the copy-on-write mutations and
 * keyring_save, and vault-keytool run through fork/exec. The tests use
 * libsodium's minimum KDF costs to stay fast. vault-keytool is found next
 * to this test in the build tree (../keys/vault-keytool from the test's
 * own executable) or in $VAULT_KEYTOOL; if absent, that test is skipped.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <vault/vault.h>

#include "keys/keyring.h"

/* keys/README.md, "File layout". */
#define HDR 76
#define OFF_NONCE 48
#define OFF_BODY_LEN 72
#define ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define ENTRY 48
#define SET_BYTES(n) (8 + (n) * ENTRY)
#define IMAGE_LEN_1KEY (HDR + 3 * SET_BYTES(1) + ABYTES)

static const enum keyring_kind kinds[] = { KEYRING_KEK, KEYRING_TOKEN, KEYRING_INDEX };

static char dir[64];
static uint8_t *root, *other_root; /* secure memory, as keyring.h asks */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
setup(void)
{
	cr_assert_geq(sodium_init(), 0);
	snprintf(dir, sizeof dir, "/tmp/vault-keyring-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	root = sodium_malloc(KEYRING_KEY_BYTES);
	other_root = sodium_malloc(KEYRING_KEY_BYTES);
	cr_assert(root != NULL && other_root != NULL);
	randombytes_buf(root, KEYRING_KEY_BYTES);
	randombytes_buf(other_root, KEYRING_KEY_BYTES);
}

static void
teardown(void)
{
	sodium_free(root);
	sodium_free(other_root);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(keyring, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------- */

static const char *
path_of(const char *name)
{
	static char p[4][128];
	static int next;
	char *s = p[next++ % 4];
	snprintf(s, sizeof p[0], "%s/%s", dir, name);
	return s;
}

static struct keyring *
create(const char *name)
{
	struct keyring *kr = NULL;
	const char *why = NULL;
	int rc = keyring_create(path_of(name), root, &kr, &why);
	cr_assert_eq(rc, 0, "keyring_create: %d %s", rc, why ? why : "");
	cr_assert_not_null(kr);
	return kr;
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0, "open %s", path);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	return st.st_mode & 07777;
}

static void
assert_same_keys(const struct keyring *a, const struct keyring *b)
{
	for (size_t i = 0; i < 3; i++) {
		enum keyring_kind k = kinds[i];
		cr_assert_eq(keyring_count(a, k), keyring_count(b, k), "kind %d", k);
		cr_assert_eq(keyring_current(a, k), keyring_current(b, k), "kind %d", k);
		for (size_t j = 0; j < keyring_count(a, k); j++) {
			uint32_t v = keyring_version_at(a, k, j);
			cr_assert_eq(v, keyring_version_at(b, k, j));
			const uint8_t *ka = keyring_key(a, k, v), *kb = keyring_key(b, k, v);
			cr_assert(ka != NULL && kb != NULL);
			cr_assert_arr_eq(ka, kb, KEYRING_KEY_BYTES, "kind %d version %u", k, v);
		}
	}
}

/* Open image[0..len) from an exact-size copy; expect refusal. */
static void
expect_image_refused(const uint8_t *image, size_t len, const uint8_t *key, const char *what)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct keyring *kr = NULL;
	const char *why = NULL;
	memcpy(copy, image, len);
	int rc = keyring_open_image(copy, len, key, &kr, &why);
	free(copy);
	if (rc == 0)
		keyring_free(kr);
	cr_assert_eq(rc, VAULT_E_KEYRING, "%s: gave %d, want VAULT_E_KEYRING", what, rc);
	cr_assert_not_null(why, "%s: no reason given", what);
}

static struct keyring *
open_image_ok(const uint8_t *image, size_t len)
{
	struct keyring *kr = NULL;
	const char *why = NULL;
	int rc = keyring_open_image(image, len, root, &kr, &why);
	cr_assert_eq(rc, 0, "open_image: %d %s", rc, why ? why : "");
	return kr;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Seal body[0..blen) into an image by the documented layout, as
 * keyring_seal would. Lets a test hand authentic but malformed contents
 * to keyring_open_image().
 */
static uint8_t *
seal_body(const uint8_t *b, size_t blen, size_t *len)
{
	uint8_t *img = calloc(1, HDR + blen + ABYTES);
	cr_assert_not_null(img);
	memcpy(img, "VAULTKR1", 8);
	img[9] = 1;  /* format version */
	img[11] = 1; /* root key kind: key file */
	randombytes_buf(img + OFF_NONCE, 24);
	put32(img + OFF_BODY_LEN, (uint32_t)blen);
	crypto_aead_xchacha20poly1305_ietf_encrypt(img + HDR, NULL, b, blen,
	    img, HDR, NULL, img + OFF_NONCE, root);
	*len = HDR + blen + ABYTES;
	return img;
}

/* A body builder: sets of (current, versions...). */
struct body {
	uint8_t b[4096];
	size_t len;
};

static void
body_set(struct body *bd, uint32_t current, uint32_t count, const uint32_t *versions)
{
	cr_assert_leq(bd->len + SET_BYTES(count), sizeof bd->b);
	uint8_t *p = bd->b + bd->len;
	put32(p, current);
	put32(p + 4, count);
	p += 8;
	for (uint32_t i = 0; i < count; i++, p += ENTRY) {
		put32(p, versions[i]);
		put32(p + 4, 0);
		memset(p + 8, 0, 8);
		memset(p + 16, (int)(0x10 * (bd->len % 7) + i), KEYRING_KEY_BYTES);
	}
	bd->len += SET_BYTES(count);
}

/* ---- create and load -------------------------------------------------- */

Test(keyring, create_then_load_gives_the_same_keys)
{
	struct keyring *kr = create("ring");
	struct keyring *loaded = NULL;
	const char *why = NULL;

	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(keyring_count(kr, kinds[i]), 1);
		cr_assert_eq(keyring_current(kr, kinds[i]), 1);
		cr_assert_eq(keyring_version_at(kr, kinds[i], 0), 1);
		cr_assert_not_null(keyring_key(kr, kinds[i], 1));
		cr_assert_null(keyring_key(kr, kinds[i], 2));
		cr_assert_null(keyring_key(kr, kinds[i], 0));
	}
	/* Three independent random keys. */
	cr_assert(memcmp(keyring_key(kr, KEYRING_KEK, 1), keyring_key(kr, KEYRING_TOKEN, 1), 32) != 0);
	cr_assert(memcmp(keyring_key(kr, KEYRING_KEK, 1), keyring_key(kr, KEYRING_INDEX, 1), 32) != 0);
	cr_assert(memcmp(keyring_key(kr, KEYRING_TOKEN, 1), keyring_key(kr, KEYRING_INDEX, 1), 32) != 0);

	cr_assert_eq(keyring_load(path_of("ring"), root, &loaded, &why), 0, "%s", why);
	assert_same_keys(kr, loaded);
	cr_assert_eq(mode_of(path_of("ring")), 0600, "key ring file mode %o", mode_of(path_of("ring")));
	keyring_free(loaded);
	keyring_free(kr);
}

Test(keyring, two_rings_have_different_keys)
{
	struct keyring *a = create("a"), *b = create("b");
	for (size_t i = 0; i < 3; i++)
		cr_assert(memcmp(keyring_key(a, kinds[i], 1), keyring_key(b, kinds[i], 1),
		    KEYRING_KEY_BYTES) != 0, "kind %d repeated", kinds[i]);
	keyring_free(a);
	keyring_free(b);
}

Test(keyring, unknown_kind_has_no_keys)
{
	struct keyring *kr = create("ring");
	cr_assert_eq(keyring_count(kr, (enum keyring_kind)0), 0);
	cr_assert_eq(keyring_count(kr, (enum keyring_kind)4), 0);
	cr_assert_null(keyring_key(kr, (enum keyring_kind)4, 1));
	cr_assert_eq(keyring_current(kr, (enum keyring_kind)0), 0);
	cr_assert_eq(keyring_version_at(kr, KEYRING_KEK, 1), 0, "index past the end");
	keyring_free(kr);
	keyring_free(NULL);
}

Test(keyring, wrong_root_key_refused)
{
	struct keyring *kr = create("ring"), *loaded = NULL;
	const char *why = NULL;
	cr_assert_eq(keyring_load(path_of("ring"), other_root, &loaded, &why), VAULT_E_KEYRING);
	cr_assert_not_null(why);
	cr_assert_null(loaded);
	/* One bit off is as wrong as any other key. */
	memcpy(other_root, root, KEYRING_KEY_BYTES);
	other_root[31] ^= 1;
	cr_assert_eq(keyring_load(path_of("ring"), other_root, &loaded, &why), VAULT_E_KEYRING);
	keyring_free(kr);
}

Test(keyring, create_refuses_an_existing_path)
{
	const char *why = NULL;
	struct keyring *kr = create("ring"), *again = NULL;
	uint8_t before[IMAGE_LEN_1KEY + 16], after[IMAGE_LEN_1KEY + 16];
	FILE *f = fopen(path_of("ring"), "rb");
	size_t n1 = fread(before, 1, sizeof before, f);
	fclose(f);

	cr_assert_eq(keyring_create(path_of("ring"), root, &again, &why), VAULT_E_KEYRING);
	cr_assert_not_null(why);
	f = fopen(path_of("ring"), "rb");
	size_t n2 = fread(after, 1, sizeof after, f);
	fclose(f);
	cr_assert_eq(n1, n2);
	cr_assert_eq(memcmp(before, after, n1), 0, "existing ring overwritten");

	/* Any existing file, not only a ring. */
	write_file(path_of("other"), "x", 1, 0600);
	cr_assert_eq(keyring_create(path_of("other"), root, &again, &why), VAULT_E_KEYRING);
	keyring_free(kr);
}

Test(keyring, load_refuses_a_readable_or_missing_file)
{
	struct keyring *kr = create("ring"), *loaded = NULL;
	const char *why = NULL;
	cr_assert_eq(chmod(path_of("ring"), 0644), 0);
	cr_assert_eq(keyring_load(path_of("ring"), root, &loaded, &why), VAULT_E_KEYRING,
	    "a world-readable ring was loaded");
	cr_assert_eq(keyring_load(path_of("absent"), root, &loaded, &why), VAULT_E_KEYRING);
	cr_assert_not_null(why);
	keyring_free(kr);
}

/* ---- the sealed image ------------------------------------------------- */

Test(keyring, seal_open_image_round_trip)
{
	struct keyring *kr = create("ring");
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;

	cr_assert_eq(keyring_seal(kr, root, &a, &alen), 0);
	cr_assert_eq(keyring_seal(kr, root, &b, &blen), 0);
	cr_assert_eq(alen, IMAGE_LEN_1KEY, "image of %zu bytes", alen);
	cr_assert_eq(memcmp(a, "VAULTKR1", 8), 0);
	cr_assert(memcmp(a, b, alen) != 0, "two seals identical: nonce reused");

	struct keyring *ka = open_image_ok(a, alen), *kb = open_image_ok(b, blen);
	assert_same_keys(kr, ka);
	assert_same_keys(kr, kb);
	/* No key appears in clear in the image. */
	for (size_t i = 0; i < 3; i++) {
		const uint8_t *k = keyring_key(kr, kinds[i], 1);
		for (size_t off = 0; off + 8 <= alen; off++)
			cr_assert(memcmp(a + off, k, 8) != 0, "key bytes at offset %zu", off);
	}
	keyring_free(ka);
	keyring_free(kb);
	keyring_free(kr);
	free(a);
	free(b);
}

Test(keyring, every_single_byte_corruption_refused)
{
	struct keyring *kr = create("ring");
	uint8_t *img = NULL;
	size_t len = 0;
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };

	cr_assert_eq(keyring_seal(kr, root, &img, &len), 0);
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof masks; m++) {
			img[i] ^= masks[m];
			expect_image_refused(img, len, root, "corrupted byte");
			img[i] ^= masks[m];
		}
	}
	keyring_free(open_image_ok(img, len));
	keyring_free(kr);
	free(img);
}

Test(keyring, corrupted_file_refused_by_load)
{
	struct keyring *kr = create("ring"), *loaded = NULL;
	uint8_t *img = NULL;
	size_t len = 0;
	const char *why = NULL;

	cr_assert_eq(keyring_seal(kr, root, &img, &len), 0);
	img[HDR + 5] ^= 0x20;
	write_file(path_of("damaged"), img, len, 0600);
	cr_assert_eq(keyring_load(path_of("damaged"), root, &loaded, &why), VAULT_E_KEYRING);
	keyring_free(kr);
	free(img);
}

Test(keyring, truncated_or_extended_image_refused)
{
	struct keyring *kr = create("ring");
	uint8_t *img = NULL;
	size_t len = 0;

	cr_assert_eq(keyring_seal(kr, root, &img, &len), 0);
	for (size_t n = 0; n < len; n++)
		expect_image_refused(img, n, root, "truncated image");
	uint8_t *longer = calloc(1, len + 48);
	memcpy(longer, img, len);
	expect_image_refused(longer, len + 1, root, "one trailing byte");
	expect_image_refused(longer, len + 48, root, "a trailing entry");
	free(longer);
	keyring_free(kr);
	free(img);
}

Test(keyring, declared_body_length_mismatch_refused)
{
	struct keyring *kr = create("ring");
	uint8_t *img = NULL;
	size_t len = 0;

	cr_assert_eq(keyring_seal(kr, root, &img, &len), 0);
	const uint32_t real = (uint32_t)(len - HDR - ABYTES);
	const uint32_t lies[] = { 0, 1, real - 1, real + 1, real + ENTRY, 0x7fffffff, UINT32_MAX };
	for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
		put32(img + OFF_BODY_LEN, lies[i]);
		expect_image_refused(img, len, root, "body length lie");
	}
	put32(img + OFF_BODY_LEN, real);
	keyring_free(open_image_ok(img, len));
	keyring_free(kr);
	free(img);
}

Test(keyring, authentic_but_malformed_contents_refused)
{
	static const uint32_t one[] = { 1 }, two[] = { 1, 2 }, desc[] = { 2, 1 },
	    dup[] = { 3, 3 }, zero[] = { 0 };
	struct body bd;
	uint8_t *img;
	size_t len;

	/* The builder is right: a well-formed body with two token keys opens. */
	memset(&bd, 0, sizeof bd);
	body_set(&bd, 1, 1, one);
	body_set(&bd, 2, 2, two);
	body_set(&bd, 1, 1, one);
	img = seal_body(bd.b, bd.len, &len);
	struct keyring *kr = open_image_ok(img, len);
	cr_assert_eq(keyring_count(kr, KEYRING_TOKEN), 2);
	cr_assert_eq(keyring_current(kr, KEYRING_TOKEN), 2);
	cr_assert_eq(keyring_version_at(kr, KEYRING_TOKEN, 1), 2);
	cr_assert_not_null(keyring_key(kr, KEYRING_TOKEN, 2));
	keyring_free(kr);
	free(img);

	static const struct {
		const char *what;
		uint32_t current, count;
		const uint32_t *versions;
	} bad[] = {
		{ "no keys of a kind", 1, 0, one },
		{ "current version absent", 2, 1, one },
		{ "descending versions", 2, 2, desc },
		{ "repeated version", 3, 2, dup },
		{ "version 0", 0, 1, zero },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&bd, 0, sizeof bd);
		body_set(&bd, 1, 1, one);
		body_set(&bd, bad[i].current, bad[i].count, bad[i].versions);
		body_set(&bd, 1, 1, one);
		img = seal_body(bd.b, bd.len, &len);
		expect_image_refused(img, len, root, bad[i].what);
		free(img);
	}

	/* Two sets only, then a set header declaring more keys than present. */
	memset(&bd, 0, sizeof bd);
	body_set(&bd, 1, 1, one);
	body_set(&bd, 1, 1, one);
	img = seal_body(bd.b, bd.len, &len);
	expect_image_refused(img, len, root, "a kind missing");
	free(img);
	memset(&bd, 0, sizeof bd);
	body_set(&bd, 1, 1, one);
	body_set(&bd, 1, 1, one);
	body_set(&bd, 1, 1, one);
	put32(bd.b + 2 * SET_BYTES(1) + 4, 2);
	img = seal_body(bd.b, bd.len, &len);
	expect_image_refused(img, len, root, "count beyond the body");
	free(img);
	/* Count above KEYRING_MAX_KEYS. */
	put32(bd.b + 2 * SET_BYTES(1) + 4, KEYRING_MAX_KEYS + 1);
	img = seal_body(bd.b, bd.len, &len);
	expect_image_refused(img, len, root, "count above KEYRING_MAX_KEYS");
	free(img);
	/* Bytes after the third set. */
	memset(&bd, 0, sizeof bd);
	body_set(&bd, 1, 1, one);
	body_set(&bd, 1, 1, one);
	body_set(&bd, 1, 1, one);
	bd.len += 8;
	img = seal_body(bd.b, bd.len, &len);
	expect_image_refused(img, len, root, "trailing bytes in the body");
	free(img);
	/* An empty body. */
	img = seal_body(bd.b, 0, &len);
	expect_image_refused(img, len, root, "empty body");
	free(img);
}

/* ---- the root key file ------------------------------------------------ */

Test(keyring, root_key_create_and_read)
{
	uint8_t *got = sodium_malloc(KEYRING_KEY_BYTES);
	const char *why = NULL;
	mode_t old = umask(0); /* the code, not the umask, must make it private */

	cr_assert_eq(keyring_root_key_create(path_of("root.key"), root, &why), 0, "%s", why);
	umask(old);
	cr_assert_eq(mode_of(path_of("root.key")), 0600, "mode %o", mode_of(path_of("root.key")));
	cr_assert_eq(keyring_root_key_read(path_of("root.key"), got, &why), 0, "%s", why);
	cr_assert_arr_eq(got, root, KEYRING_KEY_BYTES);

	/* A second create must not replace it. */
	memcpy(other_root, root, KEYRING_KEY_BYTES);
	cr_assert_neq(keyring_root_key_create(path_of("root.key"), root, &why), 0);
	cr_assert_eq(keyring_root_key_read(path_of("root.key"), got, &why), 0);
	cr_assert_arr_eq(got, other_root, KEYRING_KEY_BYTES, "root key file replaced");
	sodium_free(got);
}

Test(keyring, root_key_read_refuses_loose_modes)
{
	static const mode_t bad[] = { 0640, 0604, 0644, 0660, 0602, 0620, 0610, 0601, 0666 };
	static const mode_t good[] = { 0600, 0400 };
	uint8_t *got = sodium_malloc(KEYRING_KEY_BYTES);
	const char *why = NULL;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(path_of("k"), root, KEYRING_KEY_BYTES, bad[i]);
		why = NULL;
		cr_assert_eq(keyring_root_key_read(path_of("k"), got, &why), VAULT_E_KEYRING,
		    "mode %o accepted", bad[i]);
		cr_assert_not_null(why);
		unlink(path_of("k"));
	}
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		write_file(path_of("k"), root, KEYRING_KEY_BYTES, good[i]);
		cr_assert_eq(keyring_root_key_read(path_of("k"), got, &why), 0, "mode %o refused", good[i]);
		cr_assert_arr_eq(got, root, KEYRING_KEY_BYTES);
		unlink(path_of("k"));
	}
	sodium_free(got);
}

Test(keyring, root_key_read_refuses_wrong_sizes)
{
	static const size_t sizes[] = { 0, 1, 31, 33, 64, 4096 };
	uint8_t data[4096];
	uint8_t *got = sodium_malloc(KEYRING_KEY_BYTES);
	const char *why = NULL;

	randombytes_buf(data, sizeof data);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		write_file(path_of("k"), data, sizes[i], 0600);
		why = NULL;
		cr_assert_eq(keyring_root_key_read(path_of("k"), got, &why), VAULT_E_KEYRING,
		    "%zu-byte root key accepted", sizes[i]);
		cr_assert_not_null(why);
		unlink(path_of("k"));
	}
	sodium_free(got);
}

Test(keyring, root_key_read_refuses_non_files)
{
	uint8_t *got = sodium_malloc(KEYRING_KEY_BYTES);
	const char *why = NULL;

	cr_assert_eq(keyring_root_key_read(path_of("absent"), got, &why), VAULT_E_KEYRING);
	cr_assert_eq(mkdir(path_of("d"), 0700), 0);
	cr_assert_eq(keyring_root_key_read(path_of("d"), got, &why), VAULT_E_KEYRING, "a directory");
	/* A symlink to a good key file is not followed. */
	write_file(path_of("real"), root, KEYRING_KEY_BYTES, 0600);
	cr_assert_eq(symlink(path_of("real"), path_of("link")), 0);
	cr_assert_neq(keyring_root_key_read(path_of("link"), got, &why), 0, "a symlink was followed");
	sodium_free(got);
}

/* ---- passphrase roots ------------------------------------------------- */

#define OFF_KIND 10
#define OFF_SALT 16
#define OFF_OPS 32
#define OFF_MEM 40
#define OPEN_FAILED "key ring cannot be opened with this root key or passphrase, or is damaged"

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Fresh passphrase parameters at libsodium's minimum cost, for speed. */
static void
cheap_params(struct keyring_root_params *p)
{
	keyring_params_new_passphrase(p);
	p->opslimit = crypto_pwhash_OPSLIMIT_MIN;
	p->memlimit = crypto_pwhash_MEMLIMIT_MIN;
}

static void
assert_same_params(const struct keyring_root_params *a, const struct keyring_root_params *b)
{
	cr_assert_eq(a->kind, b->kind);
	cr_assert_arr_eq(a->salt, b->salt, KEYRING_SALT_BYTES);
	cr_assert_eq(a->opslimit, b->opslimit);
	cr_assert_eq(a->memlimit, b->memlimit);
}

/* A passphrase ring at name; its root is left in the global root. */
static struct keyring *
create_pass(const char *name, const char *pass, struct keyring_root_params *p)
{
	struct keyring *kr = NULL;
	const char *why = NULL;
	cheap_params(p);
	cr_assert_eq(keyring_root_from_passphrase(pass, strlen(pass), p, root), 0);
	int rc = keyring_create2(path_of(name), root, p, &kr, &why);
	cr_assert_eq(rc, 0, "keyring_create2: %d %s", rc, why ? why : "");
	return kr;
}

static size_t
read_whole(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "fopen %s", path);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* A bare 76-byte header as keys/README.md lays it out. */
static void
make_header(uint8_t *h, uint16_t kind, uint64_t ops, uint64_t mem)
{
	memset(h, 0, HDR);
	memcpy(h, "VAULTKR1", 8);
	h[9] = 1;
	h[OFF_KIND + 1] = (uint8_t)kind;
	if (kind == 2)
		memset(h + OFF_SALT, 0x5a, 16);
	put64(h + OFF_OPS, ops);
	put64(h + OFF_MEM, mem);
}

Test(keyring, default_passphrase_params_are_at_least_moderate)
{
	struct keyring_root_params a, b, k;
	keyring_params_new_passphrase(&a);
	keyring_params_new_passphrase(&b);
	cr_assert_eq(a.kind, KEYRING_ROOT_PASSPHRASE);
	cr_assert_geq(a.opslimit, crypto_pwhash_OPSLIMIT_MODERATE);
	cr_assert_geq(a.memlimit, crypto_pwhash_MEMLIMIT_MODERATE);
	cr_assert(a.opslimit <= KEYRING_OPSLIMIT_MAX && a.memlimit <= KEYRING_MEMLIMIT_MAX);
	cr_assert(memcmp(a.salt, b.salt, KEYRING_SALT_BYTES) != 0, "salt repeated");

	memset(&k, 0xff, sizeof k);
	keyring_params_keyfile(&k);
	cr_assert_eq(k.kind, KEYRING_ROOT_KEYFILE);
	cr_assert_eq(k.opslimit, 0);
	cr_assert_eq(k.memlimit, 0);
	for (size_t i = 0; i < KEYRING_SALT_BYTES; i++)
		cr_assert_eq(k.salt[i], 0);
}

Test(keyring, root_from_passphrase_is_argon2id13)
{
	struct keyring_root_params p, q;
	uint8_t *a = sodium_malloc(KEYRING_KEY_BYTES), *b = sodium_malloc(KEYRING_KEY_BYTES);
	uint8_t want[KEYRING_KEY_BYTES];

	cheap_params(&p);
	cr_assert_eq(keyring_root_from_passphrase("correct horse", 13, &p, a), 0);
	cr_assert_eq(crypto_pwhash_argon2id(want, sizeof want, "correct horse", 13, p.salt,
	    p.opslimit, (size_t)p.memlimit, crypto_pwhash_argon2id_ALG_ARGON2ID13), 0);
	cr_assert_arr_eq(a, want, KEYRING_KEY_BYTES, "not Argon2id13 with the stored parameters");

	/* Each input matters. */
	q = p;
	q.salt[0] ^= 1;
	cr_assert_eq(keyring_root_from_passphrase("correct horse", 13, &q, b), 0);
	cr_assert(memcmp(a, b, KEYRING_KEY_BYTES) != 0, "salt ignored");
	q = p;
	q.opslimit++;
	cr_assert_eq(keyring_root_from_passphrase("correct horse", 13, &q, b), 0);
	cr_assert(memcmp(a, b, KEYRING_KEY_BYTES) != 0, "opslimit ignored");
	cr_assert_eq(keyring_root_from_passphrase("correct horsf", 13, &p, b), 0);
	cr_assert(memcmp(a, b, KEYRING_KEY_BYTES) != 0, "passphrase ignored");

	/* Not a passphrase kind, or costs out of range. */
	keyring_params_keyfile(&q);
	cr_assert_eq(keyring_root_from_passphrase("x", 1, &q, b), VAULT_E_CONFIG);
	q = p;
	q.opslimit = 0;
	cr_assert_eq(keyring_root_from_passphrase("x", 1, &q, b), VAULT_E_CONFIG);
	q = p;
	q.memlimit = KEYRING_MEMLIMIT_MIN - 1;
	cr_assert_eq(keyring_root_from_passphrase("x", 1, &q, b), VAULT_E_CONFIG);
	sodium_free(a);
	sodium_free(b);
}

Test(keyring, passphrase_ring_create_then_load)
{
	struct keyring_root_params p, got;
	struct keyring *kr = create_pass("ring", "hunter2", &p), *loaded = NULL, *again = NULL;
	uint8_t *root2 = sodium_malloc(KEYRING_KEY_BYTES);
	uint8_t img[IMAGE_LEN_1KEY + 16];
	const char *why = NULL;

	assert_same_params(keyring_params(kr), &p);
	cr_assert_eq(mode_of(path_of("ring")), 0600);

	/* The header carries kind 2, the salt and both limits, big-endian. */
	cr_assert_eq(read_whole(path_of("ring"), img, sizeof img), IMAGE_LEN_1KEY);
	cr_assert_eq(img[OFF_KIND], 0);
	cr_assert_eq(img[OFF_KIND + 1], 2);
	cr_assert_arr_eq(img + OFF_SALT, p.salt, 16);
	cr_assert_eq(get64(img + OFF_OPS), p.opslimit);
	cr_assert_eq(get64(img + OFF_MEM), p.memlimit);

	cr_assert_eq(keyring_file_params(path_of("ring"), &got, &why), 0, "%s", why);
	assert_same_params(&got, &p);

	/* With the derived root, and straight from the passphrase. */
	cr_assert_eq(keyring_load(path_of("ring"), root, &loaded, &why), 0, "%s", why);
	assert_same_keys(kr, loaded);
	assert_same_params(keyring_params(loaded), &p);
	cr_assert_eq(keyring_load_passphrase(path_of("ring"), "hunter2", 7, root2, &again, &why),
	    0, "%s", why);
	cr_assert_arr_eq(root2, root, KEYRING_KEY_BYTES, "derived root not returned");
	assert_same_keys(kr, again);
	assert_same_params(keyring_params(again), &p);

	/* A key file ring is not opened by passphrase. */
	keyring_free(loaded);
	loaded = NULL;
	keyring_free(create("plain"));
	cr_assert_eq(keyring_load_passphrase(path_of("plain"), "hunter2", 7, root2, &loaded, &why),
	    VAULT_E_KEYRING);
	cr_assert_null(loaded);
	cr_assert_not_null(why);

	keyring_free(again);
	keyring_free(kr);
	sodium_free(root2);
}

Test(keyring, keyfile_ring_header_unchanged)
{
	struct keyring *kr = create("ring");
	struct keyring_root_params got;
	uint8_t img[IMAGE_LEN_1KEY + 16];
	const char *why = NULL;

	cr_assert_eq(keyring_params(kr)->kind, KEYRING_ROOT_KEYFILE);
	cr_assert_eq(read_whole(path_of("ring"), img, sizeof img), IMAGE_LEN_1KEY);
	cr_assert_eq(img[OFF_KIND + 1], 1);
	for (size_t i = 12; i < 48; i++)
		cr_assert_eq(img[i], 0, "byte %zu of a key file ring's header is not zero", i);
	cr_assert_eq(keyring_file_params(path_of("ring"), &got, &why), 0, "%s", why);
	cr_assert_eq(got.kind, KEYRING_ROOT_KEYFILE);
	cr_assert_eq(got.opslimit, 0);
	keyring_free(kr);
}

Test(keyring, wrong_passphrase_refused_plainly)
{
	struct keyring_root_params p;
	struct keyring *kr = create_pass("ring", "hunter2", &p), *loaded = NULL;
	uint8_t *got = sodium_malloc(KEYRING_KEY_BYTES);
	const char *why = NULL;
	static const char *const wrong[] = { "hunter3", "hunter", "hunter22", "Hunter2", "" };

	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		memset(got, 0xaa, KEYRING_KEY_BYTES);
		why = NULL;
		cr_assert_eq(keyring_load_passphrase(path_of("ring"), wrong[i], strlen(wrong[i]), got,
		    &loaded, &why), VAULT_E_KEYRING, "passphrase \"%s\" accepted", wrong[i]);
		cr_assert_null(loaded);
		cr_assert_str_eq(why, OPEN_FAILED);
		for (size_t j = 0; j < KEYRING_KEY_BYTES; j++)
			cr_assert_eq(got[j], 0, "a failed load left the derived root behind");
	}
	/* The same through keyring_load with the root a wrong passphrase gives. */
	cr_assert_eq(keyring_root_from_passphrase("hunter3", 7, &p, got), 0);
	cr_assert_eq(keyring_load(path_of("ring"), got, &loaded, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, OPEN_FAILED);
	/* And a key file ring under a wrong key says the same. */
	keyring_free(create("plain"));
	cr_assert_eq(keyring_load(path_of("plain"), other_root, &loaded, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, OPEN_FAILED);
	keyring_free(kr);
	sodium_free(got);
}

Test(keyring, file_params_checks_the_header)
{
	static const struct {
		uint16_t kind;
		uint64_t ops, mem;
		int ok;
	} cases[] = {
		{ 2, 1, 8192, 1 },
		{ 2, 4294967295ULL, 4294967296ULL, 1 },
		{ 2, 3, 268435456, 1 },
		{ 2, 0, 8192, 0 },
		{ 2, 4294967296ULL, 8192, 0 },
		{ 2, UINT64_MAX, 8192, 0 },
		{ 2, 1, 8191, 0 },
		{ 2, 1, 0, 0 },
		{ 2, 1, 4294967297ULL, 0 },
		{ 2, 1, UINT64_MAX, 0 },
		{ 1, 0, 0, 1 },
		{ 1, 1, 8192, 0 }, /* a key file ring has no KDF fields */
		{ 0, 0, 0, 0 },
		{ 3, 1, 8192, 0 },
	};
	struct keyring_root_params got;
	const char *why;
	uint8_t h[HDR];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		make_header(h, cases[i].kind, cases[i].ops, cases[i].mem);
		write_file(path_of("hdr"), h, HDR, 0600);
		why = NULL;
		int rc = keyring_file_params(path_of("hdr"), &got, &why);
		if (cases[i].ok) {
			cr_assert_eq(rc, 0, "case %zu refused: %s", i, why);
			cr_assert_eq(got.kind, (enum keyring_root_kind)cases[i].kind);
			cr_assert_eq(got.opslimit, cases[i].ops);
			cr_assert_eq(got.memlimit, cases[i].mem);
		} else {
			cr_assert_eq(rc, VAULT_E_KEYRING, "case %zu accepted", i);
			cr_assert_not_null(why);
			if (cases[i].kind == 2)
				cr_assert_str_eq(why, "KDF parameters out of range");
		}
		unlink(path_of("hdr"));
	}

	/* Magic, version, reserved bytes, length. */
	make_header(h, 2, 1, 8192);
	h[0] = 'W';
	write_file(path_of("hdr"), h, HDR, 0600);
	cr_assert_eq(keyring_file_params(path_of("hdr"), &got, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, "not a key ring file");
	make_header(h, 2, 1, 8192);
	h[9] = 2;
	write_file(path_of("hdr"), h, HDR, 0600);
	cr_assert_eq(keyring_file_params(path_of("hdr"), &got, &why), VAULT_E_KEYRING);
	make_header(h, 2, 1, 8192);
	h[13] = 1;
	write_file(path_of("hdr"), h, HDR, 0600);
	cr_assert_eq(keyring_file_params(path_of("hdr"), &got, &why), VAULT_E_KEYRING);
	make_header(h, 2, 1, 8192);
	write_file(path_of("hdr"), h, HDR - 1, 0600);
	cr_assert_eq(keyring_file_params(path_of("hdr"), &got, &why), VAULT_E_KEYRING);
	write_file(path_of("hdr"), h, 0, 0600);
	cr_assert_eq(keyring_file_params(path_of("hdr"), &got, &why), VAULT_E_KEYRING);

	/* Not a file, a symlink, nothing at all. */
	cr_assert_eq(keyring_file_params(path_of("absent"), &got, &why), VAULT_E_KEYRING);
	cr_assert_eq(mkdir(path_of("d"), 0700), 0);
	cr_assert_neq(keyring_file_params(path_of("d"), &got, &why), 0);
	make_header(h, 2, 1, 8192);
	write_file(path_of("real"), h, HDR, 0600);
	cr_assert_eq(symlink(path_of("real"), path_of("link")), 0);
	cr_assert_neq(keyring_file_params(path_of("link"), &got, &why), 0, "a symlink was followed");
}

Test(keyring, open_image_refuses_out_of_range_params_before_decrypting)
{
	struct keyring_root_params p;
	struct keyring *kr = create_pass("ring", "pw", &p), *o = NULL;
	uint8_t *img = NULL;
	size_t len = 0;
	const char *why = NULL;

	cr_assert_eq(keyring_seal(kr, root, &img, &len), 0);
	put64(img + OFF_MEM, KEYRING_MEMLIMIT_MAX + 1);
	cr_assert_eq(keyring_open_image(img, len, root, &o, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, "KDF parameters out of range");
	keyring_free(kr);
	free(img);
}

Test(keyring, create2_refuses_bad_params)
{
	struct keyring_root_params p;
	struct keyring *kr = NULL;
	const char *why = NULL;

	cheap_params(&p);
	p.opslimit = 0;
	cr_assert_eq(keyring_create2(path_of("ring"), root, &p, &kr, &why), VAULT_E_CONFIG);
	cr_assert_str_eq(why, "KDF parameters out of range");
	keyring_params_keyfile(&p);
	p.salt[3] = 1;
	cr_assert_eq(keyring_create2(path_of("ring"), root, &p, &kr, &why), VAULT_E_CONFIG);
	p.salt[3] = 0;
	p.kind = (enum keyring_root_kind)7;
	cr_assert_eq(keyring_create2(path_of("ring"), root, &p, &kr, &why), VAULT_E_CONFIG);
	cr_assert_null(kr);
	cr_assert_neq(access(path_of("ring"), F_OK), 0, "a ring was written anyway");
}

Test(keyring, every_single_byte_corruption_of_a_passphrase_ring_refused)
{
	struct keyring_root_params p;
	struct keyring *kr = create_pass("ring", "pw", &p), *o = NULL;
	uint8_t *img = NULL, *got = sodium_malloc(KEYRING_KEY_BYTES);
	size_t len = 0;
	const char *why = NULL;
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };

	cr_assert_eq(keyring_seal(kr, root, &img, &len), 0);
	cr_assert_eq(img[OFF_KIND + 1], 2);
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < sizeof masks; m++) {
			img[i] ^= masks[m];
			expect_image_refused(img, len, root, "corrupted byte");
			img[i] ^= masks[m];
		}
	}
	keyring_free(open_image_ok(img, len));

	/*
	 * Through the file and the passphrase: a changed salt or cost derives
	 * another root, which the AEAD refuses like a wrong passphrase.
	 */
	static const size_t at[] = { OFF_SALT, OFF_SALT + 15, OFF_OPS + 7, OFF_MEM + 6, HDR + 1, 0 };
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
		img[at[i]] ^= 0x01;
		write_file(path_of("damaged"), img, len, 0600);
		img[at[i]] ^= 0x01;
		why = NULL;
		cr_assert_eq(keyring_load_passphrase(path_of("damaged"), "pw", 2, got, &o, &why),
		    VAULT_E_KEYRING, "byte %zu", at[i]);
		cr_assert_null(o);
		cr_assert_not_null(why);
	}
	keyring_free(kr);
	free(img);
	sodium_free(got);
}

/* ---- mutations -------------------------------------------------------- */

/* A byte copy of every key of every kind, to check that kr never changes. */
struct snapshot {
	size_t count[3];
	uint32_t current[3];
	uint8_t keys[3][8][KEYRING_KEY_BYTES];
	uint32_t versions[3][8];
};

static void
snap(const struct keyring *kr, struct snapshot *s)
{
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < 3; i++) {
		s->count[i] = keyring_count(kr, kinds[i]);
		s->current[i] = keyring_current(kr, kinds[i]);
		cr_assert_leq(s->count[i], 8);
		for (size_t j = 0; j < s->count[i]; j++) {
			s->versions[i][j] = keyring_version_at(kr, kinds[i], j);
			memcpy(s->keys[i][j], keyring_key(kr, kinds[i], s->versions[i][j]),
			    KEYRING_KEY_BYTES);
		}
	}
}

static void
assert_unchanged(const struct keyring *kr, const struct snapshot *before)
{
	struct snapshot now;
	snap(kr, &now);
	cr_assert_eq(memcmp(&now, before, sizeof now), 0, "the original ring changed");
}

Test(keyring, with_new_key_returns_a_new_ring)
{
	struct keyring *kr = create("ring");
	uint64_t t0 = (uint64_t)time(NULL);

	for (size_t i = 0; i < 3; i++) {
		struct snapshot before;
		struct keyring *next = NULL;
		uint32_t v = 0;
		snap(kr, &before);
		cr_assert_eq(keyring_with_new_key(kr, kinds[i], &next, &v), 0);
		cr_assert(next != NULL && next != kr);
		assert_unchanged(kr, &before);

		cr_assert_eq(v, 2);
		cr_assert_eq(keyring_current(next, kinds[i]), 2);
		cr_assert_eq(keyring_count(next, kinds[i]), 2);
		cr_assert_eq(keyring_version_at(next, kinds[i], 1), 2);
		cr_assert_arr_eq(keyring_key(next, kinds[i], 1), keyring_key(kr, kinds[i], 1),
		    KEYRING_KEY_BYTES, "the old key changed in the new ring");
		cr_assert(memcmp(keyring_key(next, kinds[i], 2), keyring_key(next, kinds[i], 1),
		    KEYRING_KEY_BYTES) != 0, "the new key repeats the old one");
		cr_assert_geq(keyring_key_created(next, kinds[i], 2), t0);
		cr_assert_eq(keyring_key_created(next, kinds[i], 1), keyring_key_created(kr, kinds[i], 1));
		/* Other kinds are copied as they were. */
		for (size_t j = 0; j < 3; j++)
			if (j != i) {
				cr_assert_eq(keyring_count(next, kinds[j]), 1);
				cr_assert_arr_eq(keyring_key(next, kinds[j], 1), keyring_key(kr, kinds[j], 1),
				    KEYRING_KEY_BYTES);
			}
		assert_same_params(keyring_params(next), keyring_params(kr));
		keyring_free(next);
	}
	cr_assert_eq(keyring_with_new_key(kr, (enum keyring_kind)4, &(struct keyring *){ NULL }, NULL),
	    VAULT_E_KEYRING);
	cr_assert_eq(keyring_key_created(kr, KEYRING_KEK, 2), 0);
	keyring_free(kr);
}

/* A mutated ring is as read-only as a loaded one: writing a key faults. */
Test(keyring, a_new_ring_is_read_only, .signal = SIGSEGV)
{
	struct keyring *kr = create("ring"), *next = NULL;
	cr_assert_eq(keyring_with_new_key(kr, KEYRING_KEK, &next, NULL), 0);
	uint8_t *k = (uint8_t *)keyring_key(next, KEYRING_KEK, 2);
	k[0] ^= 1;
	cr_assert_fail("wrote to a sealed key");
}

Test(keyring, with_new_key_stops_at_the_maximum)
{
	struct keyring *kr = create("ring"), *next = NULL;
	const char *why = NULL;
	uint32_t v = 0;

	for (uint32_t n = 1; n < KEYRING_MAX_KEYS; n++) {
		cr_assert_eq(keyring_with_new_key(kr, KEYRING_INDEX, &next, &v), 0, "at %u keys", n);
		cr_assert_eq(v, n + 1);
		keyring_free(kr);
		kr = next;
	}
	cr_assert_eq(keyring_count(kr, KEYRING_INDEX), KEYRING_MAX_KEYS);
	next = NULL;
	cr_assert_eq(keyring_with_new_key(kr, KEYRING_INDEX, &next, &v), VAULT_E_KEYRING);
	cr_assert_null(next);
	/* A full ring still saves and loads. */
	cr_assert_eq(keyring_save(kr, path_of("ring"), root, &why), 0, "%s", why);
	cr_assert_eq(keyring_load(path_of("ring"), root, &next, &why), 0, "%s", why);
	assert_same_keys(kr, next);
	keyring_free(next);
	keyring_free(kr);
}

Test(keyring, without_key_retires_old_epochs_only)
{
	struct keyring *r1 = create("ring"), *r2, *r3, *r4 = NULL, *r5 = NULL, *r6 = NULL;
	const char *why = NULL;
	struct snapshot before;
	uint32_t v;

	cr_assert_eq(keyring_with_new_key(r1, KEYRING_KEK, &r2, &v), 0);
	cr_assert_eq(keyring_with_new_key(r2, KEYRING_KEK, &r3, &v), 0);
	cr_assert_eq(v, 3);
	snap(r3, &before);

	/* The current epoch, and epochs the ring does not hold. */
	cr_assert_eq(keyring_without_key(r3, KEYRING_KEK, 3, &r4, &why), VAULT_E_KEYRING);
	cr_assert_str_eq(why, "the current epoch cannot be retired");
	static const uint32_t unknown[] = { 0, 4, 99, UINT32_MAX };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		why = NULL;
		cr_assert_eq(keyring_without_key(r3, KEYRING_KEK, unknown[i], &r4, &why),
		    VAULT_E_KEYRING, "epoch %u", unknown[i]);
		cr_assert_not_null(why);
	}
	cr_assert_eq(keyring_without_key(r3, (enum keyring_kind)0, 1, &r4, &why), VAULT_E_KEYRING);
	cr_assert_null(r4);

	/* Retire epoch 1: 2 and 3 stay, with their keys; r3 keeps all three. */
	cr_assert_eq(keyring_without_key(r3, KEYRING_KEK, 1, &r4, &why), 0, "%s", why);
	assert_unchanged(r3, &before);
	cr_assert_eq(keyring_count(r4, KEYRING_KEK), 2);
	cr_assert_eq(keyring_version_at(r4, KEYRING_KEK, 0), 2);
	cr_assert_eq(keyring_version_at(r4, KEYRING_KEK, 1), 3);
	cr_assert_eq(keyring_current(r4, KEYRING_KEK), 3);
	cr_assert_null(keyring_key(r4, KEYRING_KEK, 1));
	cr_assert_arr_eq(keyring_key(r4, KEYRING_KEK, 2), keyring_key(r3, KEYRING_KEK, 2), 32);
	cr_assert_arr_eq(keyring_key(r4, KEYRING_KEK, 3), keyring_key(r3, KEYRING_KEK, 3), 32);
	cr_assert_eq(keyring_key_created(r4, KEYRING_KEK, 1), 0);
	cr_assert_not_null(keyring_key(r3, KEYRING_KEK, 1));
	/* Then epoch 2; the next epoch is still highest + 1, never a reused number. */
	cr_assert_eq(keyring_without_key(r4, KEYRING_KEK, 2, &r5, &why), 0, "%s", why);
	cr_assert_eq(keyring_count(r5, KEYRING_KEK), 1);
	cr_assert_eq(keyring_without_key(r5, KEYRING_KEK, 3, &r6, &why), VAULT_E_KEYRING);
	cr_assert_eq(keyring_with_new_key(r5, KEYRING_KEK, &r6, &v), 0);
	cr_assert_eq(v, 4);
	/* Retiring a token version works the same way. */
	keyring_free(r1);
	cr_assert_eq(keyring_with_new_key(r6, KEYRING_TOKEN, &r1, &v), 0);
	keyring_free(r2);
	cr_assert_eq(keyring_without_key(r1, KEYRING_TOKEN, 1, &r2, &why), 0);
	cr_assert_eq(keyring_count(r2, KEYRING_TOKEN), 1);
	cr_assert_eq(keyring_current(r2, KEYRING_TOKEN), 2);

	/* The result saves and loads. */
	cr_assert_eq(keyring_save(r2, path_of("ring"), root, &why), 0, "%s", why);
	struct keyring *loaded = NULL;
	cr_assert_eq(keyring_load(path_of("ring"), root, &loaded, &why), 0, "%s", why);
	assert_same_keys(r2, loaded);
	keyring_free(loaded);
	keyring_free(r1);
	keyring_free(r2);
	keyring_free(r3);
	keyring_free(r4);
	keyring_free(r5);
	keyring_free(r6);
}

static size_t
entries_in(const char *d)
{
	DIR *dp = opendir(d);
	size_t n = 0;
	struct dirent *e;
	cr_assert_not_null(dp);
	while ((e = readdir(dp)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(dp);
	return n;
}

Test(keyring, save_then_load_keeps_keys_and_params)
{
	struct keyring_root_params p;
	struct keyring *kr = create_pass("ring", "pw", &p), *a, *b, *loaded = NULL;
	uint8_t img1[4096], img2[4096];
	const char *why = NULL;
	uint32_t v;

	cr_assert_eq(keyring_with_new_key(kr, KEYRING_KEK, &a, &v), 0);
	cr_assert_eq(keyring_with_new_key(a, KEYRING_TOKEN, &b, &v), 0);
	cr_assert_eq(keyring_save(b, path_of("ring"), root, &why), 0, "%s", why);
	cr_assert_null(why);
	cr_assert_eq(mode_of(path_of("ring")), 0600);
	cr_assert_eq(entries_in(dir), 1, "a temporary file was left behind");

	cr_assert_eq(keyring_load(path_of("ring"), root, &loaded, &why), 0, "%s", why);
	assert_same_keys(b, loaded);
	assert_same_params(keyring_params(loaded), &p);
	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < keyring_count(b, kinds[i]); j++) {
			uint32_t ver = keyring_version_at(b, kinds[i], j);
			cr_assert_eq(keyring_key_created(loaded, kinds[i], ver),
			    keyring_key_created(b, kinds[i], ver));
		}

	/* Saving the loaded ring again keeps the header but not the nonce. */
	size_t n1 = read_whole(path_of("ring"), img1, sizeof img1);
	cr_assert_eq(keyring_save(loaded, path_of("ring"), root, &why), 0, "%s", why);
	size_t n2 = read_whole(path_of("ring"), img2, sizeof img2);
	cr_assert_eq(n1, n2);
	cr_assert_arr_eq(img1, img2, OFF_NONCE, "the header changed");
	cr_assert(memcmp(img1 + OFF_NONCE, img2 + OFF_NONCE, 24) != 0, "nonce reused");

	/* A failed save leaves the old file whole. */
	cr_assert_neq(keyring_save(kr, path_of("no/such/dir/ring"), root, &why), 0);
	cr_assert_not_null(why);
	cr_assert_eq(read_whole(path_of("ring"), img1, sizeof img1), n2);
	cr_assert_arr_eq(img1, img2, n2);

	keyring_free(loaded);
	keyring_free(a);
	keyring_free(b);
	keyring_free(kr);
}

Test(keyring, with_root_params_reseals_under_a_new_salt)
{
	struct keyring_root_params p, q;
	struct keyring *kr = create_pass("ring", "old", &p), *next = NULL, *loaded = NULL;
	uint8_t *new_root = sodium_malloc(KEYRING_KEY_BYTES), *got = sodium_malloc(KEYRING_KEY_BYTES);
	const char *why = NULL;

	cheap_params(&q);
	cr_assert_eq(keyring_with_root_params(kr, &q, &next, &why), 0, "%s", why);
	assert_same_params(keyring_params(kr), &p);
	assert_same_params(keyring_params(next), &q);
	assert_same_keys(kr, next);
	cr_assert_eq(keyring_root_from_passphrase("new", 3, &q, new_root), 0);
	cr_assert_eq(keyring_save(next, path_of("ring"), new_root, &why), 0, "%s", why);

	cr_assert_eq(keyring_load_passphrase(path_of("ring"), "old", 3, got, &loaded, &why),
	    VAULT_E_KEYRING, "the old passphrase still opens the ring");
	cr_assert_eq(keyring_load_passphrase(path_of("ring"), "new", 3, got, &loaded, &why), 0,
	    "%s", why);
	assert_same_keys(kr, loaded);
	keyring_free(loaded);

	/* To a key file root and back is allowed; bad parameters are not. */
	keyring_free(next);
	keyring_params_keyfile(&q);
	cr_assert_eq(keyring_with_root_params(kr, &q, &next, &why), 0);
	cr_assert_eq(keyring_params(next)->kind, KEYRING_ROOT_KEYFILE);
	keyring_free(next);
	next = NULL;
	q.opslimit = 5;
	cr_assert_eq(keyring_with_root_params(kr, &q, &next, &why), VAULT_E_CONFIG);
	cr_assert_null(next);
	keyring_free(kr);
	sodium_free(new_root);
	sodium_free(got);
}

/* ---- vault-keytool ---------------------------------------------------- */

static char keytool[PATH_MAX];

/* ../keys/vault-keytool beside this test in the build tree, or $VAULT_KEYTOOL. */
static int
find_keytool(void)
{
	const char *env = getenv("VAULT_KEYTOOL");
	char self[PATH_MAX];
	if (env != NULL && *env != '\0') {
		snprintf(keytool, sizeof keytool, "%s", env);
	} else {
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n <= 0)
			return 0;
		self[n] = '\0';
		snprintf(keytool, sizeof keytool, "%s/../keys/vault-keytool", dirname(self));
	}
	return access(keytool, X_OK) == 0;
}

/*
 * Run vault-keytool with args in dir, input on its stdin (a pipe, so it
 * reads lines without a terminal); stdout and stderr go to out. Returns
 * the exit status.
 */
static int
keytool_run(const char *input, char *out, size_t cap, const char *const *args)
{
	int in[2], res[2];
	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(pipe(res), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char *argv[16];
		size_t n = 0;
		argv[n++] = keytool;
		while (args[n - 1] != NULL && n < 15) {
			argv[n] = (char *)args[n - 1];
			n++;
		}
		argv[n] = NULL;
		dup2(in[0], 0);
		dup2(res[1], 1);
		dup2(res[1], 2);
		close(in[1]);
		close(res[0]);
		if (chdir(dir) != 0)
			_exit(127);
		execv(keytool, argv);
		_exit(127);
	}
	close(in[0]);
	close(res[1]);
	size_t ilen = strlen(input);
	cr_assert_eq(write(in[1], input, ilen), (ssize_t)ilen);
	close(in[1]);
	size_t off = 0;
	ssize_t r;
	while (off + 1 < cap && (r = read(res[0], out + off, cap - 1 - off)) > 0)
		off += (size_t)r;
	out[off] = '\0';
	close(res[0]);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "vault-keytool died: %s", out);
	return WEXITSTATUS(st);
}

#define KT(input, ...) keytool_run(input, out, sizeof out, (const char *const[]){ __VA_ARGS__, NULL })

Test(keyring, keytool)
{
	char out[8192], hex[2 * KEYRING_KEY_BYTES + 1];
	struct keyring *kr = NULL, *after = NULL;
	uint8_t *got = sodium_malloc(KEYRING_KEY_BYTES);
	struct keyring_root_params p, q;
	const char *why = NULL;

	if (!find_keytool())
		cr_skip_test("vault-keytool not built at %s", keytool);

	/* Usage errors exit 2. */
	cr_assert_eq(KT("", "frobnicate"), 2, "%s", out);
	cr_assert_eq(KT("", "info"), 2, "%s", out);
	cr_assert_eq(KT("", "info", "r", "--passphrase"), 2, "%s", out);
	cr_assert_eq(KT("", "show", "r"), 2, "%s", out);
	cr_assert_eq(KT("", "init", "r", "--passphrase", "--key-file", "k"), 2, "%s", out);
	cr_assert_eq(KT("", "init", "r", "--passphrase", "--opslimit", "0"), 2, "%s", out);
	cr_assert_eq(KT("", "--help"), 0, "%s", out);
	cr_assert_not_null(strstr(out, "change-passphrase"));

	/* A passphrase ring: empty input is refused and leaves nothing. */
	cr_assert_eq(KT("\n", "init", "pr", "--passphrase"), 1, "%s", out);
	cr_assert_not_null(strstr(out, "empty"), "%s", out);
	cr_assert_neq(access(path_of("pr"), F_OK), 0);
	cr_assert_eq(KT("first pass\n", "init", "pr", "--passphrase", "--opslimit", "1",
	    "--memlimit", "8K"), 0, "%s", out);
	cr_assert_eq(mode_of(path_of("pr")), 0600);
	cr_assert_eq(keyring_load_passphrase(path_of("pr"), "first pass", 10, got, &kr, &why), 0,
	    "%s", why);
	p = *keyring_params(kr);
	cr_assert_eq(p.opslimit, 1);
	cr_assert_eq(p.memlimit, 8192);

	cr_assert_eq(KT("", "info", "pr"), 0, "%s", out);
	cr_assert_not_null(strstr(out, "passphrase"), "%s", out);
	cr_assert_not_null(strstr(out, "opslimit:       1\n"), "%s", out);
	cr_assert_not_null(strstr(out, "memlimit:       8192 bytes"), "%s", out);

	cr_assert_eq(KT("first pass\n", "show", "pr", "--passphrase"), 0, "%s", out);
	cr_assert_not_null(strstr(out, "epoch 1"), "%s", out);
	cr_assert_not_null(strstr(out, "(current)"), "%s", out);
	for (size_t i = 0; i < 3; i++) {
		sodium_bin2hex(hex, sizeof hex, keyring_key(kr, kinds[i], 1), KEYRING_KEY_BYTES);
		hex[16] = '\0';
		cr_assert_null(strstr(out, hex), "show printed key bytes");
	}
	cr_assert_eq(KT("wrong pass\n", "show", "pr", "--passphrase"), 1, "%s", out);
	cr_assert_not_null(strstr(out, OPEN_FAILED), "%s", out);
	cr_assert_eq(KT("", "show", "pr", "--key-file", "nope"), 1, "%s", out);

	/* change-passphrase: the same keys under a new salt and passphrase. */
	cr_assert_eq(KT("wrong pass\nsecond pass\n", "change-passphrase", "pr"), 1, "%s", out);
	cr_assert_eq(KT("first pass\nsecond pass\n", "change-passphrase", "pr"), 0, "%s", out);
	cr_assert_eq(keyring_file_params(path_of("pr"), &q, &why), 0);
	cr_assert(memcmp(p.salt, q.salt, KEYRING_SALT_BYTES) != 0, "salt kept");
	cr_assert_eq(q.opslimit, p.opslimit, "costs changed without being asked");
	cr_assert_eq(keyring_load_passphrase(path_of("pr"), "first pass", 10, got, &after, &why),
	    VAULT_E_KEYRING);
	cr_assert_eq(keyring_load_passphrase(path_of("pr"), "second pass", 11, got, &after, &why), 0);
	assert_same_keys(kr, after);
	cr_assert_eq(entries_in(dir), 1, "a temporary file was left behind");
	keyring_free(after);

	/* A key file ring. */
	cr_assert_eq(KT("", "init", "kr", "--key-file", "root.key"), 0, "%s", out);
	cr_assert_eq(mode_of(path_of("root.key")), 0600);
	cr_assert_eq(keyring_root_key_read(path_of("root.key"), got, &why), 0);
	cr_assert_eq(keyring_load(path_of("kr"), got, &after, &why), 0, "%s", why);
	keyring_free(after);
	cr_assert_eq(KT("", "info", "kr"), 0, "%s", out);
	cr_assert_not_null(strstr(out, "key file"), "%s", out);
	cr_assert_eq(KT("", "show", "kr", "--key-file", "root.key"), 0, "%s", out);
	cr_assert_eq(KT("x\n", "show", "kr", "--passphrase"), 1, "%s", out);
	cr_assert_eq(KT("x\ny\n", "change-passphrase", "kr"), 1, "%s", out);
	/* An existing ring is refused before a root key file is made. */
	cr_assert_eq(KT("", "init", "kr", "--key-file", "root2.key"), 1, "%s", out);
	cr_assert_neq(access(path_of("root2.key"), F_OK), 0);
	cr_assert_eq(KT("", "init", "kr2", "--key-file", "root.key"), 1, "%s", out);
	cr_assert_neq(access(path_of("kr2"), F_OK), 0);

	keyring_free(kr);
	sodium_free(got);
}

/* ---- temporaries a crash leaves (common/tmpfile.h) ---------------------- */

static void
touch_file(const char *name)
{
	int fd = open(path_of(name), O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0, "create %s", name);
	cr_assert_eq(write(fd, "stale", 5), 5);
	close(fd);
}

Test(keyring, save_succeeds_past_a_stale_temporary_of_its_pid)
{
	struct keyring *kr, *next;
	const char *why = NULL;
	char name[64];
	uint32_t v;
	cr_assert_eq(keyring_create(path_of("ring"), root, &kr, &why), 0, "%s", why);
	/* Left by a crash of an earlier process with this pid (pid 1 in a container). */
	snprintf(name, sizeof name, "ring.tmp.%ld", (long)getpid());
	touch_file(name);
	cr_assert_eq(keyring_with_new_key(kr, KEYRING_KEK, &next, &v), 0);
	cr_assert_eq(keyring_save(next, path_of("ring"), root, &why), 0, "%s", why);
	cr_assert_eq(entries_in(dir), 2, "the save left a temporary of its own");
	keyring_free(next);
	keyring_free(kr);
}

static void
count_removed(const char *name, void *arg)
{
	cr_assert(strncmp(name, "ring.tmp.", 9) == 0, "%s", name);
	(*(int *)arg)++;
}

Test(keyring, sweep_removes_only_our_temporaries)
{
	struct keyring *kr;
	const char *why = NULL;
	cr_assert_eq(keyring_create(path_of("ring"), root, &kr, &why), 0, "%s", why);
	touch_file("ring.tmp.1");
	touch_file("ring.tmp.4242");
	touch_file("ring.tmp.0123456789abcdef");
	/* Not ours: other names, an empty or non-hex suffix, a link, a directory. */
	touch_file("ring.tmp.");
	touch_file("ring.tmp.ABCDEF");
	touch_file("ring.tmp.12-34");
	touch_file("ring.tmp.0123456789abcdef0123456789abcdef0");
	touch_file("other.tmp.12");
	touch_file("target");
	cr_assert_eq(symlink(path_of("target"), path_of("ring.tmp.77")), 0);
	cr_assert_eq(mkdir(path_of("ring.tmp.88"), 0700), 0);
	int seen = 0;
	cr_assert_eq(keyring_sweep_temps(path_of("ring"), count_removed, &seen), 3);
	cr_assert_eq(seen, 3);
	cr_assert_neq(access(path_of("ring.tmp.1"), F_OK), 0);
	cr_assert_neq(access(path_of("ring.tmp.4242"), F_OK), 0);
	cr_assert_neq(access(path_of("ring.tmp.0123456789abcdef"), F_OK), 0);
	const char *kept[] = { "ring", "ring.tmp.", "ring.tmp.ABCDEF", "ring.tmp.12-34",
		"ring.tmp.0123456789abcdef0123456789abcdef0", "other.tmp.12", "target",
		"ring.tmp.77", "ring.tmp.88" };
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
		cr_assert_eq(access(path_of(kept[i]), F_OK), 0, "%s was removed", kept[i]);
	cr_assert_eq(keyring_sweep_temps(path_of("ring"), NULL, NULL), 0);
	keyring_free(kr);
}

Test(keyring, keytool_removes_stale_temporaries_before_it_writes)
{
	char out[8192];
	if (!find_keytool())
		cr_skip_test("vault-keytool not built at %s", keytool);
	cr_assert_eq(KT("first pass\n", "init", "pr", "--passphrase", "--opslimit", "1",
	    "--memlimit", "8K"), 0, "%s", out);
	touch_file("pr.tmp.1");
	touch_file("pr.tmp.00ff00ff00ff00ff");
	cr_assert_eq(KT("first pass\nsecond pass\n", "change-passphrase", "pr"), 0, "%s", out);
	cr_assert_not_null(strstr(out, "removed ./pr.tmp.00ff00ff00ff00ff"), "%s", out);
	cr_assert_neq(access(path_of("pr.tmp.1"), F_OK), 0);
	cr_assert_neq(access(path_of("pr.tmp.00ff00ff00ff00ff"), F_OK), 0);
	cr_assert_eq(entries_in(dir), 1, "%s", out);
}

/* Kind 4 (Shamir shares) and the share fields in header bytes 12..15. */
Test(keyring, shares_header_fields_are_checked_and_authenticated)
{
	static const struct {
		uint16_t kind, k, n;
		int ok;
	} cases[] = {
		{ 4, 3, 5, 1 },
		{ 4, 2, 2, 1 },
		{ 4, 255, 255, 1 },
		{ 4, 0, 0, 0 },   /* kind 4 needs a threshold */
		{ 4, 1, 5, 0 },   /* K >= 2 */
		{ 4, 6, 5, 0 },   /* K <= N */
		{ 4, 2, 256, 0 }, /* N <= 255 */
		{ 1, 2, 3, 0 },   /* a key file ring is never split */
		{ 2, 2, 3, 0 },   /* nor a passphrase ring */
	};
	struct keyring_root_params got;
	const char *why;
	uint8_t h[HDR];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		make_header(h, cases[i].kind, cases[i].kind == 2 ? 1 : 0,
		    cases[i].kind == 2 ? 8192 : 0);
		h[12] = (uint8_t)(cases[i].k >> 8);
		h[13] = (uint8_t)cases[i].k;
		h[14] = (uint8_t)(cases[i].n >> 8);
		h[15] = (uint8_t)cases[i].n;
		write_file(path_of("hdr"), h, HDR, 0600);
		why = NULL;
		int rc = keyring_file_params(path_of("hdr"), &got, &why);
		if (cases[i].ok) {
			cr_assert_eq(rc, 0, "case %zu refused: %s", i, why);
			cr_assert_eq(got.kind, KEYRING_ROOT_SHARES);
			cr_assert_eq(got.share_threshold, cases[i].k);
			cr_assert_eq(got.share_count, cases[i].n);
		} else {
			cr_assert_eq(rc, VAULT_E_KEYRING, "case %zu accepted", i);
		}
		unlink(path_of("hdr"));
	}

	/* A kind 4 ring: created, loaded with its key, its K and N bound by the AEAD. */
	struct keyring_root_params p;
	struct keyring *kr = NULL, *back = NULL;
	keyring_params_shares(&p, 5, 3);
	cr_assert_eq(keyring_create2(path_of("ring4"), root, &p, &kr, &why), 0, "%s", why);
	cr_assert_eq(keyring_load(path_of("ring4"), root, &back, &why), 0, "%s", why);
	cr_assert_eq(keyring_params(back)->kind, KEYRING_ROOT_SHARES);
	cr_assert_eq(keyring_params(back)->share_threshold, 3);
	cr_assert_eq(keyring_params(back)->share_count, 5);
	keyring_free(back);
	back = NULL;
	uint8_t *img = NULL;
	size_t len = 0;
	cr_assert_eq(keyring_seal(kr, root, &img, &len), 0);
	img[13] = 2; /* K 3 -> 2: still a valid header, but not the one sealed */
	cr_assert_eq(keyring_open_image(img, len, root, &back, &why), VAULT_E_KEYRING);
	cr_assert_null(back);
	free(img);
	keyring_free(kr);
}
