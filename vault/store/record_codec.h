/*
 * record_codec.h - the stored form of a record: the value under its id in
 * the records database.
 *
 * It holds no personal data in clear: the wrapped data key, per-field
 * ciphertexts, field generations (counters that make opaque tokens stale),
 * the card token's index key (under the record's KEK epoch or a newer one)
 * and ciphertext, the deterministic-index entries (epoch and tag) to remove
 * on delete, and document slot numbers (documents are stored
 * under their own keys). Layout, big-endian, in PROTOCOL.md's appendix
 * "Storage". record_decode() trusts nothing: the data file may be damaged.
 *
 * The stored form ends with a MAC (keyed BLAKE2b, RECORD_MAC_BYTES) over the
 * record id and every byte before it, under the record MAC key of the
 * record's epoch (seal.h, record_mac_key()). Flags (hold, opt-outs, child),
 * generations, the wrapped key, the field and card ciphertexts, the
 * deterministic entries and the document slots are thereby authenticated
 * as one: a header flipped, swapped with another record's, or combined with
 * older field ciphertexts fails record_verify(). What a per-record MAC
 * cannot see is the whole value replaced by an older whole value of the
 * same record under the same epoch (SECURITY.md, "Stored records").
 */
#ifndef VAULT_STORE_RECORD_CODEC_H
#define VAULT_STORE_RECORD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "vault/crypto/seal.h"
#include "vault/crypto/token.h"
#include "vault/record/fields.h"

/* 2: with the MAC and generation-bound field AD; 3: deterministic entries
 * carry their KEK epoch. Older formats are refused (the data file's schema
 * version, store.h, went up with each). */
#define RECORD_FORMAT 3
#define RECORD_MAC_BYTES 16
#define RECORD_MAX_DOCS 64   /* hard cap; the configured limit may be lower */
/* Deterministic index entries: one per field, join domain and KEK epoch in
 * use (tokens of an older epoch keep resolving until it is retired). */
#define RECORD_MAX_DET (FIELD_MAX * 4)

struct record_field {
	uint8_t id;
	const uint8_t *ct;   /* sealed value; points into the decoded buffer */
	uint32_t ct_len;
};

struct record_det {
	uint8_t field;
	uint32_t epoch;      /* the KEK epoch whose subkey made the tag */
	uint8_t tag[TOKEN_TAG_BYTES];
};

/* Marketing opt-outs, per channel, in the record's flags. */
#define CONSENT_OPT_OUT_EMAIL 0x01
#define CONSENT_OPT_OUT_PHONE 0x02
#define CONSENT_OPT_OUT_MAIL  0x04
#define CONSENT_MASK          0x07
/* Other flags: a child's record (under 13), a record under a hold. */
#define RECORD_FLAG_CHILD     0x08
#define RECORD_FLAG_HELD      0x10
#define RECORD_FLAGS_MASK     (CONSENT_MASK | RECORD_FLAG_CHILD | RECORD_FLAG_HELD)

struct record {
	uint8_t flags;        /* CONSENT_*, RECORD_FLAG_* */
	uint32_t dek_version;
	uint32_t kek_epoch;
	uint64_t created;
	uint64_t updated;
	uint8_t wrapped_dek[WRAPPED_DEK_BYTES];
	uint32_t gen[FIELD_MAX + 1];          /* by field id; [0] unused */
	uint8_t nfields;
	struct record_field fields[FIELD_MAX]; /* ascending ids */
	int has_card_token;
	uint8_t card_index_key[TOKEN_TAG_BYTES];
	uint32_t card_gen;                    /* card_number generation it stands for */
	const uint8_t *card_ct;               /* the card token, sealed */
	uint32_t card_ct_len;
	uint8_t ndet;
	struct record_det det[RECORD_MAX_DET];
	uint16_t next_slot;                   /* next document slot to hand out */
	uint16_t ndocs;
	uint16_t doc_slots[RECORD_MAX_DOCS];  /* ascending */
	uint8_t mac[RECORD_MAC_BYTES];        /* as decoded (record_encode() with
	                                       * no key writes it back) */
};

/*
 * Decode data[0..len). Pointers in *r point into data. Returns 0 or
 * VAULT_E_CRYPTO (malformed: the stored record cannot be trusted). Decoding
 * does not check the MAC: record_verify() does, with the key of r->kek_epoch
 * (record_load() in record/access.h does both).
 */
__attribute__((warn_unused_result))
int record_decode(const uint8_t *data, size_t len, struct record *r);
/*
 * Check the MAC that ends data[0..len), the stored form of record id, under
 * mac_key (RECORD_MAC_KEY_BYTES). Constant time in the MAC. Returns 0 or
 * VAULT_E_CRYPTO.
 */
__attribute__((warn_unused_result))
int record_verify(const uint8_t *data, size_t len, uint64_t id,
    const uint8_t *mac_key);
/*
 * Append the stored form of r, record id, to out, ending with its MAC under
 * mac_key. mac_key NULL writes r->mac instead: only for re-encoding what
 * record_decode() gave unchanged (tests, fuzzing); anything stored by the
 * server passes the key. Returns 0, VAULT_E_TOO_LARGE or VAULT_E_NOMEM.
 */
int record_encode(const struct record *r, uint64_t id, const uint8_t *mac_key,
    struct buf *out);

/*
 * The KEK epoch of a stored record without decoding it (scans that only
 * sort records by epoch: rotation, keys status, the MAC key lookup); 0 if
 * data is too short to hold one. The format byte is the caller's to check
 * where it matters.
 */
#define RECORD_EPOCH_OFFSET 8
static inline uint32_t
record_stored_epoch(const void *data, size_t len)
{
	const uint8_t *p = (const uint8_t *)data + RECORD_EPOCH_OFFSET;
	if (len < RECORD_EPOCH_OFFSET + 4)
		return 0;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The field entry for id, or NULL. */
const struct record_field *record_field_get(const struct record *r, uint8_t id);

/* Tombstones: what remains of a deleted record. */
#define TOMBSTONE_BYTES 16
struct tombstone {
	uint8_t reason;
	uint64_t deleted_at;
};
void tombstone_encode(const struct tombstone *t, uint8_t out[TOMBSTONE_BYTES]);
int tombstone_decode(const uint8_t *data, size_t len, struct tombstone *t);

#endif
