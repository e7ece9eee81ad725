/*
 * secrets.h - the privacy features' keys, derived from the ring's index
 * keys (crypto_kdf, context "vpriv001"), so they rotate with "keys rotate
 * index" and need no storage of their own:
 *
 *   subkey 2  keyed hashes of permission references and confirmation codes
 *   subkey 3  the Ed25519 seed that signs receipts and exports
 *
 * and two from the KEK epochs (context "vreason3"): subkey 1 seals free
 * text an operator types (hold and extension reasons), subkey 2 keys the
 * hash of a permission reference a requester gives. Either may name a
 * person, so it never reaches the store in clear, and a copy of it in a
 * backup must die with the erasure horizon like every other trace of a
 * person (a permission hash is never checked again, so it needs no
 * rehashing at a rotation).
 * The rotation reseals the reasons still kept under the new epoch
 * (privacy/reseal.h), so the retire of the old one leaves none readable.
 *
 * Each product carries the key version (for sealed text: the KEK epoch) it
 * was made with.
 */
#ifndef VAULT_PRIVACY_SECRETS_H
#define VAULT_PRIVACY_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct key_set;

#define SECRET_HASH_BYTES 32
#define SIGN_PUBLIC_BYTES 32
#define SIGN_BYTES 64
#define SEALED_TEXT_OVERHEAD (4 + 24 + 16)

/* Seal text[0..len) under the current KEK epoch, appending to out. */
int secret_seal_text(const struct key_set *ks, const char *text, size_t len,
    struct buf *out);
/* Open a sealed text, appending the plaintext to out. VAULT_E_CRYPTO if it
 * fails authentication, VAULT_E_KEYRING if its key version is gone. */
int secret_open_text(const struct key_set *ks, const uint8_t *sealed,
    size_t len, struct buf *out);
/* The KEK epoch a sealed text was made under (0 if it is too short). */
uint32_t secret_sealed_epoch(const uint8_t *sealed, size_t len);

/* Keyed hash of (domain, id, data) under index key version. */
int secret_hash(const struct key_set *ks, uint32_t version, const char *domain,
    uint64_t id, const void *data, size_t len, uint8_t out[SECRET_HASH_BYTES]);
/* The same under a KEK epoch (subkey 2 of "vreason3"): for what a requester
 * types that may name a person (permission references), so that a copy of
 * the hash dies with the epoch's retire. */
int secret_hash_epoch(const struct key_set *ks, uint32_t epoch, const char *domain,
    uint64_t id, const void *data, size_t len, uint8_t out[SECRET_HASH_BYTES]);

/* Sign msg under index key version; or give that version's public key. */
int secret_sign(const struct key_set *ks, uint32_t version, const void *msg,
    size_t len, uint8_t sig[SIGN_BYTES]);
int secret_public_key(const struct key_set *ks, uint32_t version,
    uint8_t pk[SIGN_PUBLIC_BYTES]);

#endif
