/*
 * fuzz-keyring.c - the sealed key ring image (keys/keyring.h,
 * keys/README.md): keyring_open_image() with a fixed root key.
 *
 * An input that starts with the magic "VAULTKR1" is taken as a whole file
 * image. Anything else is taken as header bytes 8..47 (format version,
 * root key kind, reserved, KDF salt and limits; missing bytes are zero)
 * and then the plaintext body, sealed here under the root key with that
 * header: the fuzzer cannot forge the AEAD tag, and this way it reaches
 * the body parser, and rings with either root kind open. When those bytes
 * name kind 3 (PKCS#11), the next 164 bytes are the header's PKCS#11
 * block (bytes 76..239: mechanism, label lengths, labels, IV, wrapped key).
 *
 * Invariants:
 *   - keyring_open_image() returns 0 with a ring and no reason, or
 *     VAULT_E_KEYRING/VAULT_E_NOMEM with a reason;
 *   - an accepted ring is consistent: 1..KEYRING_MAX_KEYS keys per kind,
 *     versions ascending, the current one present;
 *   - it round-trips: keyring_seal() with the same root key gives an image
 *     of the same size and the same root parameters (header bytes 8..47)
 *     that opens to the same versions and keys, and that a different root
 *     key cannot open.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "keys/keyring.h"

#include "fuzz.h"

/* keys/README.md, "File layout (format version 1)" */
#define MAGIC "VAULTKR1"
#define HEADER_BYTES 76
#define PARAMS_OFF 8  /* version, root kind, reserved, salt, KDF limits */
#define PARAMS_LEN 40
#define NONCE_OFF 48
#define BODY_LEN_OFF 72
#define P11_HEADER_BYTES 240 /* kind 3 */
#define P11_BLOCK_LEN (P11_HEADER_BYTES - HEADER_BYTES)

static const enum keyring_kind kinds[] = { KEYRING_KEK, KEYRING_TOKEN, KEYRING_INDEX };
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static uint8_t *root; /* secure memory, as keyring_root_key_read() gives it */

static void
teardown(void)
{
	sodium_free(root);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	root = sodium_malloc(KEYRING_KEY_BYTES);
	fuzz_assert(root != NULL, "out of secure memory");
	memcpy(root, fuzz_root_key, KEYRING_KEY_BYTES);
	sodium_mprotect_readonly(root);
	atexit(teardown);
	return 0;
}

/* An image with header bytes 8..47 from data, the rest of data as its
 * body, sealed under the root key. */
static uint8_t *
seal_body(const uint8_t *data, size_t size, size_t *len)
{
	size_t nhdr = size < PARAMS_LEN ? size : PARAMS_LEN;
	/* Kind 3 (bytes 10..11 of the header, 2..3 of data): its block follows. */
	size_t hlen = nhdr >= 4 && data[2] == 0 && data[3] == 3 ? P11_HEADER_BYTES : HEADER_BYTES;
	size_t nblock = 0;
	if (hlen == P11_HEADER_BYTES)
		nblock = size - nhdr < P11_BLOCK_LEN ? size - nhdr : P11_BLOCK_LEN;
	const uint8_t *body = data + nhdr + nblock;
	size_t blen = size - nhdr - nblock;
	size_t total = hlen + blen + crypto_aead_xchacha20poly1305_ietf_ABYTES;
	uint8_t *img = calloc(1, total);
	fuzz_assert(img != NULL, "out of memory");
	memcpy(img, MAGIC, 8);
	memcpy(img + PARAMS_OFF, data, nhdr);
	memcpy(img + HEADER_BYTES, data + nhdr, nblock);
	randombytes_buf(img + NONCE_OFF, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	img[BODY_LEN_OFF] = (uint8_t)(blen >> 24);
	img[BODY_LEN_OFF + 1] = (uint8_t)(blen >> 16);
	img[BODY_LEN_OFF + 2] = (uint8_t)(blen >> 8);
	img[BODY_LEN_OFF + 3] = (uint8_t)blen;
	crypto_aead_xchacha20poly1305_ietf_encrypt(img + hlen, NULL, body, blen,
	    img, hlen, NULL, img + NONCE_OFF, root);
	*len = total;
	return img;
}

static void
check_ring(const struct keyring *kr)
{
	for (size_t k = 0; k < NKINDS; k++) {
		size_t n = keyring_count(kr, kinds[k]);
		uint32_t cur = keyring_current(kr, kinds[k]);
		fuzz_assert(n >= 1 && n <= KEYRING_MAX_KEYS, "kind %d has %zu keys", kinds[k], n);
		fuzz_assert(keyring_key(kr, kinds[k], cur) != NULL, "kind %d: current %u missing",
		    kinds[k], cur);
		for (size_t i = 0; i < n; i++) {
			uint32_t v = keyring_version_at(kr, kinds[k], i);
			fuzz_assert(v > 0 && (i == 0 || v > keyring_version_at(kr, kinds[k], i - 1)),
			    "kind %d: versions not ascending", kinds[k]);
			fuzz_assert(keyring_key(kr, kinds[k], v) != NULL, "kind %d: version %u has no key",
			    kinds[k], v);
		}
	}
}

static void
check_same(const struct keyring *a, const struct keyring *b)
{
	for (size_t k = 0; k < NKINDS; k++) {
		size_t n = keyring_count(a, kinds[k]);
		fuzz_assert(keyring_count(b, kinds[k]) == n, "kind %d: %zu keys became %zu",
		    kinds[k], n, keyring_count(b, kinds[k]));
		fuzz_assert(keyring_current(a, kinds[k]) == keyring_current(b, kinds[k]),
		    "kind %d: the current version changed", kinds[k]);
		for (size_t i = 0; i < n; i++) {
			uint32_t v = keyring_version_at(a, kinds[k], i);
			fuzz_assert(keyring_version_at(b, kinds[k], i) == v, "kind %d: versions changed", kinds[k]);
			fuzz_assert(sodium_memcmp(keyring_key(a, kinds[k], v), keyring_key(b, kinds[k], v),
			    KEYRING_KEY_BYTES) == 0, "kind %d version %u: the key changed", kinds[k], v);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyring *kr = NULL, *again = NULL, *wrong = NULL;
	const char *why = NULL;
	uint8_t *image, *sealed = NULL;
	size_t len, sealed_len = 0;

	fuzz_random_reset();
	if (size >= 8 && memcmp(data, MAGIC, 8) == 0) {
		image = fuzz_dup(data, size);
		len = size;
	} else {
		image = seal_body(data, size, &len);
	}

	int rc = keyring_open_image(image, len, root, &kr, &why);
	fuzz_assert(rc == 0 || rc == VAULT_E_KEYRING || rc == VAULT_E_NOMEM,
	    "keyring_open_image returned %d", rc);
	if (rc != 0) {
		fuzz_assert(why != NULL, "refused without a reason");
		free(image);
		return 0;
	}
	fuzz_assert(kr != NULL && why == NULL, "accepted without a ring, or with a reason");
	check_ring(kr);

	fuzz_assert(keyring_seal(kr, root, &sealed, &sealed_len) == 0, "keyring_seal failed");
	fuzz_assert(sealed_len == len, "resealed image has %zu bytes, not %zu", sealed_len, len);
	fuzz_assert(memcmp(sealed, image, NONCE_OFF) == 0,
	    "resealing changed the header's root parameters");
	/* A kind 3 ring keeps its PKCS#11 block (labels, IV, wrapped key). */
	if (keyring_params(kr)->kind == KEYRING_ROOT_PKCS11)
		fuzz_assert(len >= P11_HEADER_BYTES && memcmp(sealed + HEADER_BYTES,
		    image + HEADER_BYTES, P11_BLOCK_LEN) == 0,
		    "resealing changed the PKCS#11 block");
	rc = keyring_open_image(sealed, sealed_len, root, &again, &why);
	fuzz_assert(rc == 0, "a resealed ring does not open: %s", why ? why : "?");
	check_same(kr, again);

	/* Another root key must not open it. */
	sodium_mprotect_readwrite(root);
	root[0] ^= 1;
	rc = keyring_open_image(sealed, sealed_len, root, &wrong, &why);
	root[0] ^= 1;
	sodium_mprotect_readonly(root);
	fuzz_assert(rc == VAULT_E_KEYRING && wrong == NULL, "a ring opened with the wrong root key");

	keyring_free(again);
	keyring_free(kr);
	free(sealed);
	free(image);
	return 0;
}
