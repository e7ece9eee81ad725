/*
 * test_keyring.c - the sealed key ring file and the root key file
 * (keyring.h; the layout is in keys/README.md).
 *
 * Covers create/load round trips, refusal of a wrong root key and of every
 * single-byte corruption, truncation or length mismatch of the image,
 * hand-sealed images whose authenticated contents are malformed, and the
 * permission and size checks on the root key file. Each test works in its
 * own temporary directory.
 */
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
