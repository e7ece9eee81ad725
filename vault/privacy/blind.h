/*
 * blind.h - blind indexes: keyed hashes of a person's identifying values,
 * so the vault can find the records a privacy request is about without
 * decrypting every record.
 *
 * A tag is BLAKE2b-128 keyed with a subkey of a key-encryption key
 * (crypto_kdf of KEK epoch e, context "vblind02", subkey 1) over the kind
 * byte and the canonical value. A record's entries are made under the
 * record's own epoch; a rotation's rewrap re-derives them under the target
 * epoch (blind_rewrap()), and lookups try every epoch the ring holds. So a
 * tag dies with its epoch at retire, like the record's data key: from a
 * backup or a raw copy of the data file taken before a deletion, once the
 * epoch is retired, no key the vault still holds can confirm a deleted
 * person's value (SECURITY.md, "Deletion and the erasure horizon"). Index
 * keys (KEYRING_INDEX) no longer key blind tags.
 *
 * Re-deriving needs the value: each blind_record entry carries the
 * canonical value sealed under the record's data key (XChaCha20-Poly1305,
 * the associated data binding record id, data-key version and kind), so
 * it too is gone once the record is (crypto-shredding).
 *
 * Stored (store.h):
 *   blind_index  kind (u8) + tag (16) + record id (u64 BE) -> KEK epoch (u32 BE)
 *   blind_record record id (u64 BE) + kind (u8) -> KEK epoch (u32 BE), tag (16),
 *                nonce (24), sealed canonical value (len + 16)
 * One entry per record and kind; blind_record lets a changed field or a
 * deleted record drop its own.
 *
 * What they leak (SECURITY.md): to someone holding the data file but not
 * the ring, that two records share a value of the same kind (within one
 * epoch), and how many records carry each distinct value. Nothing about the
 * values themselves without the KEK of the entry's epoch.
 */
#ifndef VAULT_PRIVACY_BLIND_H
#define VAULT_PRIVACY_BLIND_H

#include <stddef.h>
#include <stdint.h>

#include "vault/store/store.h"


struct key_set;
struct store;
struct write_ctx;

#define BLIND_TAG_BYTES 16
#define BLIND_CANON_MAX 1024

/* Kinds 1-5 are the field ids of the indexed fields (fields.h). */
enum blind_kind {
	BLIND_FIRST_NAME = 1,
	BLIND_LAST_NAME = 2,
	BLIND_POSTAL_ADDRESS = 3,
	BLIND_EMAIL = 4,
	BLIND_PHONE = 5,
	BLIND_TXN_REFERENCE = 16,
	BLIND_TXN_DATE = 17,
	BLIND_TXN_AMOUNT = 18,
};

/* 1 if field id is blind-indexed. */
int blind_field_indexed(unsigned field);

/*
 * The canonical form of a value already normalized as its field is (or, for
 * the transaction kinds, raw): ASCII case and punctuation do not matter for
 * names, addresses and order references; emails compare without case;
 * dates must be YYYY-MM-DD; amounts become whole cents ("12.5" -> "1250").
 * Returns 0 or VAULT_E_INVALID_VALUE (VAULT_E_EMPTY if nothing is left).
 */
int blind_canon(unsigned kind, const char *in, size_t len, char *out,
    size_t cap, size_t *out_len);

/* The tag of canon[0..len) of kind under KEK epoch. VAULT_E_KEYRING if
 * the ring has no such epoch. */
int blind_tag(const struct key_set *ks, uint32_t epoch, unsigned kind,
    const char *canon, size_t len, uint8_t tag[BLIND_TAG_BYTES]);

/*
 * A record's keys as its blind entries need them: its data key and data-key
 * version (the canonical values are sealed under them) and its KEK epoch
 * (the tags are made under it).
 */
struct blind_keys {
	const uint8_t *dek;
	uint32_t dek_version;
	uint32_t epoch;
};

/*
 * Replace record id's entry of kind by the one for canon[0..len) (canonical
 * already; NULL: only remove). Runs in the writer's transaction.
 */
int blind_set(struct write_ctx *ctx, uint64_t id, const struct blind_keys *bk,
    unsigned kind, const char *canon, size_t len);

/* Canonicalize a field's normalized value and blind_set() it (NULL: remove). */
int blind_set_field(struct write_ctx *ctx, uint64_t id, const struct blind_keys *bk,
    unsigned field, const char *value, size_t len);

/*
 * Creates hash their tags on the worker (blind_field_tag, no transaction
 * needed, under the epoch current then) and the writer only seals the value
 * and stores both (blind_add_tag, for a record created in this transaction:
 * nothing to remove first). *have is 0 when the field is not indexed or its
 * value has nothing to match on. blind_add_field() does both in the writer
 * (the epoch changed in between).
 */
int blind_field_tag(const struct key_set *ks, uint32_t epoch, unsigned field,
    const char *value, size_t len, uint8_t tag[BLIND_TAG_BYTES], int *have);
int blind_add_tag(struct write_ctx *ctx, uint64_t id, const struct blind_keys *bk,
    unsigned field, const uint8_t tag[BLIND_TAG_BYTES], const char *value, size_t len);
int blind_add_field(struct write_ctx *ctx, uint64_t id, const struct blind_keys *bk,
    unsigned field, const char *value, size_t len);

/* Remove every entry of record id. */
int blind_forget_record(struct write_ctx *ctx, uint64_t id);

/*
 * Move record id's entries from the keys in from to those in to: open each
 * sealed value with from's data key, re-derive its tag under to's epoch,
 * seal it again under to's data key and replace both entries. A rotation's
 * rewrap calls it with the same data key on both sides and the target
 * epoch; keys rotate-record with the old and the new data key. An entry
 * whose sealed value does not open (damaged) is dropped (its id is logged):
 * it could never be re-derived, and must not stay under the old epoch.
 */
int blind_rewrap(struct write_ctx *ctx, uint64_t id, const struct blind_keys *from,
    const struct blind_keys *to);

/*
 * Call fn(arg, record id) for each record with tag of kind (at most limit
 * of them), whatever the entry's epoch: the caller makes the tag under each
 * epoch it looks in. Returns 0, fn's non-zero value, or a storage error.
 */
int blind_lookup(const struct store *s, struct store_txn *txn, unsigned kind,
    const uint8_t tag[BLIND_TAG_BYTES], size_t limit,
    int (*fn)(void *arg, uint64_t id), void *arg);

#endif
