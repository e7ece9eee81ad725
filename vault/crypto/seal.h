/*
 * seal.h - encryption of field values and documents under a record's data
 * key, and wrapping of data keys under a key-encryption key.
 *
 * Both use XChaCha20-Poly1305 (192-bit random nonces, so random nonces
 * never collide in practice, and no dependency on AES-NI). The associated
 * data binds every ciphertext to its place: a field ciphertext to its record
 * id, field id, document slot, data-key version and the field's generation;
 * a wrapped data key to its record id, data-key version and epoch. A
 * ciphertext copied to another record or field, an older ciphertext of the
 * same field put back (its generation is behind the record's), or a wrapped
 * key moved to another record, fails to open.
 *
 * A record's stored form as a whole is authenticated separately, by a keyed
 * BLAKE2b MAC (record_codec.h) under a key derived from the key-encryption
 * key of the record's epoch (record_mac_key()).
 */
#ifndef VAULT_CRYPTO_SEAL_H
#define VAULT_CRYPTO_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define DEK_BYTES 32
#define SEAL_NONCE_BYTES 24
#define SEAL_TAG_BYTES 16
#define SEAL_OVERHEAD (SEAL_NONCE_BYTES + SEAL_TAG_BYTES)
#define WRAPPED_DEK_BYTES (DEK_BYTES + SEAL_OVERHEAD)

/* Where a ciphertext belongs. */
struct seal_place {
	uint64_t record_id;
	uint32_t dek_version;
	uint8_t field;   /* field id, or FIELD_DOCUMENT and a slot */
	uint16_t slot;
	uint32_t gen;    /* the field's generation (record.gen[field]); 0 for
	                  * documents (slots are never reused) and the card token */
};

/* Encrypt pt[0..len) to out[0..len + SEAL_OVERHEAD). Returns 0. */
int seal_field(const uint8_t *dek, const struct seal_place *place,
    const uint8_t *pt, size_t len, uint8_t *out);
/*
 * Decrypt ct[0..ct_len) to out[0..ct_len - SEAL_OVERHEAD). Returns 0 or
 * VAULT_E_CRYPTO (wrong key, wrong place, or tampered).
 */
__attribute__((warn_unused_result))
int open_field(const uint8_t *dek, const struct seal_place *place,
    const uint8_t *ct, size_t ct_len, uint8_t *out);

int wrap_dek(const uint8_t *kek, uint32_t epoch, uint64_t record_id,
    uint32_t dek_version, const uint8_t *dek, uint8_t out[WRAPPED_DEK_BYTES]);
__attribute__((warn_unused_result))
int unwrap_dek(const uint8_t *kek, uint32_t epoch, uint64_t record_id,
    uint32_t dek_version, const uint8_t in[WRAPPED_DEK_BYTES], uint8_t *dek);

/*
 * The record MAC key of an epoch: a subkey of that epoch's key-encryption
 * key (crypto_kdf, context "vrecmac1"), so the KEK itself only ever keys the
 * AEAD, and retiring the epoch destroys its MAC key too.
 */
#define RECORD_MAC_KEY_BYTES 32
void record_mac_key(const uint8_t *kek, uint8_t out[RECORD_MAC_KEY_BYTES]);

#endif
