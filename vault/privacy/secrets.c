/*
 * secrets.c - keys derived for the privacy features (secrets.h).
 */
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/bytes.h"
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "secrets.h"

#define CONTEXT "vpriv001"
#define REASON_CONTEXT "vreason3" /* of a KEK epoch */

/* Derive subkey id of index key version into out (secure memory). */
static int
derive(const struct key_set *ks, uint32_t version, uint64_t id, uint8_t *out,
    size_t len)
{
	const uint8_t *ik = keyring_key(ks->ring, KEYRING_INDEX, version);
	if (ik == NULL)
		return VAULT_E_KEYRING;
	crypto_kdf_derive_from_key(out, len, id, CONTEXT, ik);
	return 0;
}

/*
 * Sealed text is keyed by a subkey of a KEK epoch, not of an index key: an
 * operator may type a name into a reason, and a copy of it in a backup
 * must become unreadable with the epoch's retire (secrets.h).
 */
static int
reason_key(const struct key_set *ks, uint32_t epoch, uint8_t *out)
{
	const uint8_t *kek = keyring_key(ks->ring, KEYRING_KEK, epoch);
	if (kek == NULL)
		return VAULT_E_KEYRING;
	crypto_kdf_derive_from_key(out, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, 1,
	    REASON_CONTEXT, kek);
	return 0;
}

int
secret_seal_text(const struct key_set *ks, const char *text, size_t len,
    struct buf *out)
{
	uint32_t v = keyring_current(ks->ring, KEYRING_KEK);
	uint8_t *key = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
	int rc;

	if (key == NULL)
		return VAULT_E_NOMEM;
	if ((rc = reason_key(ks, v, key)) != 0 ||
	    (rc = buf_reserve(out, len + SEALED_TEXT_OVERHEAD)) != 0) {
		sodium_free(key);
		return rc;
	}
	uint8_t *p = out->data + out->len;
	be32_put(p, v);
	randombytes_buf(p + 4, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(p + 28, NULL,
	    (const uint8_t *)text, len, p, 4, NULL, p + 4, key);
	out->len += len + SEALED_TEXT_OVERHEAD;
	sodium_free(key);
	return 0;
}

uint32_t
secret_sealed_epoch(const uint8_t *sealed, size_t len)
{
	if (len < SEALED_TEXT_OVERHEAD)
		return 0;
	return (uint32_t)sealed[0] << 24 | (uint32_t)sealed[1] << 16 |
	    (uint32_t)sealed[2] << 8 | sealed[3];
}

int
secret_open_text(const struct key_set *ks, const uint8_t *sealed, size_t len,
    struct buf *out)
{
	uint8_t *key;
	int rc;

	if (len < SEALED_TEXT_OVERHEAD)
		return VAULT_E_CRYPTO;
	uint32_t v = secret_sealed_epoch(sealed, len);
	if ((key = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)) == NULL)
		return VAULT_E_NOMEM;
	size_t n = len - SEALED_TEXT_OVERHEAD;
	if ((rc = reason_key(ks, v, key)) == 0 &&
	    (rc = buf_reserve(out, n + 1)) == 0) {
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->data + out->len,
		    NULL, NULL, sealed + 28, len - 28, sealed, 4, sealed + 4, key) != 0)
			rc = VAULT_E_CRYPTO;
		else
			out->len += n;
	}
	sodium_free(key);
	return rc;
}

/* The keyed hash of (domain, id, data) under key (wiped here). */
static void
hash_with(uint8_t key[crypto_generichash_KEYBYTES], const char *domain, uint64_t id,
    const void *data, size_t len, uint8_t out[SECRET_HASH_BYTES])
{
	uint8_t idb[8];
	crypto_generichash_state st;
	for (int i = 0; i < 8; i++)
		idb[i] = (uint8_t)(id >> (56 - 8 * i));
	crypto_generichash_init(&st, key, crypto_generichash_KEYBYTES, SECRET_HASH_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain) + 1);
	crypto_generichash_update(&st, idb, sizeof(idb));
	crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, out, SECRET_HASH_BYTES);
	sodium_memzero(key, crypto_generichash_KEYBYTES);
	sodium_memzero(&st, sizeof(st));
}

int
secret_hash(const struct key_set *ks, uint32_t version, const char *domain,
    uint64_t id, const void *data, size_t len, uint8_t out[SECRET_HASH_BYTES])
{
	uint8_t key[crypto_generichash_KEYBYTES];
	int rc;

	if ((rc = derive(ks, version, 2, key, sizeof(key))) != 0)
		return rc;
	hash_with(key, domain, id, data, len, out);
	return 0;
}

/*
 * Under subkey 2 of the KEK epoch's "vreason3" context: text a requester
 * gives (a permission reference) may name a person, and its hash in a
 * backup must stop confirming a guess once the epoch is retired.
 */
int
secret_hash_epoch(const struct key_set *ks, uint32_t epoch, const char *domain,
    uint64_t id, const void *data, size_t len, uint8_t out[SECRET_HASH_BYTES])
{
	uint8_t key[crypto_generichash_KEYBYTES];
	const uint8_t *kek = keyring_key(ks->ring, KEYRING_KEK, epoch);
	if (kek == NULL)
		return VAULT_E_KEYRING;
	crypto_kdf_derive_from_key(key, sizeof(key), 2, REASON_CONTEXT, kek);
	hash_with(key, domain, id, data, len, out);
	return 0;
}

/* The key pair of version: sk is secure memory the caller frees. */
static int
keypair(const struct key_set *ks, uint32_t version, uint8_t pk[SIGN_PUBLIC_BYTES],
    uint8_t **sk)
{
	uint8_t *seed = sodium_malloc(crypto_sign_SEEDBYTES);
	int rc;

	*sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (seed == NULL || *sk == NULL) {
		sodium_free(seed);
		sodium_free(*sk);
		*sk = NULL;
		return VAULT_E_NOMEM;
	}
	if ((rc = derive(ks, version, 3, seed, crypto_sign_SEEDBYTES)) == 0)
		crypto_sign_seed_keypair(pk, *sk, seed);
	sodium_free(seed);
	if (rc != 0) {
		sodium_free(*sk);
		*sk = NULL;
	}
	return rc;
}

int
secret_sign(const struct key_set *ks, uint32_t version, const void *msg,
    size_t len, uint8_t sig[SIGN_BYTES])
{
	uint8_t pk[SIGN_PUBLIC_BYTES], *sk;
	int rc = keypair(ks, version, pk, &sk);
	if (rc != 0)
		return rc;
	crypto_sign_detached(sig, NULL, msg, len, sk);
	sodium_free(sk);
	return 0;
}

int
secret_public_key(const struct key_set *ks, uint32_t version,
    uint8_t pk[SIGN_PUBLIC_BYTES])
{
	uint8_t *sk;
	int rc = keypair(ks, version, pk, &sk);
	if (rc == 0)
		sodium_free(sk);
	return rc;
}
