/*
 * blind.h - blind indexes: keyed hashes of a person's identifying values,
 * so the vault can find the records a privacy request is about without
 * decrypting every record.
 *
 * A tag is BLAKE2b-128 keyed with a subkey of an index key (crypto_kdf,
 * context "vblind01", subkey 1) over the kind byte and the canonical value.
 * Entries are written under the current index key version and looked up
 * under every version the ring holds, so rotating the index key needs no
 * rewrite. They leave with the record (blind_forget_record()).
 *
 * What they leak (SECURITY.md): to someone holding the data file but not
 * the ring, that two records share a value of the same kind, and how many
 * records carry each distinct value. Nothing about the values themselves
 * without the index key.
 */
#ifndef VAULT_PRIVACY_BLIND_H
#define VAULT_PRIVACY_BLIND_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

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

/* The tag of canon[0..len) of kind under index key version. */
int blind_tag(const struct key_set *ks, uint32_t version, unsigned kind,
    const char *canon, size_t len, uint8_t tag[BLIND_TAG_BYTES]);

/*
 * Replace record id's entries of kind by the one for value[0..len) (value
 * canonical already; NULL: only remove). Runs in the writer's transaction.
 */
int blind_set(struct write_ctx *ctx, uint64_t id, unsigned kind,
    const char *canon, size_t len);

/* Canonicalize a field's normalized value and blind_set() it. */
int blind_set_field(struct write_ctx *ctx, uint64_t id, unsigned field,
    const char *value, size_t len);
/*
 * The same for a record created in this transaction: nothing of it can be
 * indexed yet, so there is nothing to remove first (one cursor descent
 * fewer per field on the create path).
 */
int blind_add_field(struct write_ctx *ctx, uint64_t id, unsigned field,
    const char *value, size_t len);

/*
 * Creates hash their tags on the worker (blind_field_tag, no transaction
 * needed) and the writer only stores them (blind_add_tag, for a record
 * created in this transaction). *have is 0 when the field is not indexed
 * or its value has nothing to match on.
 */
int blind_field_tag(const struct key_set *ks, uint32_t version, unsigned field,
    const char *value, size_t len, uint8_t tag[BLIND_TAG_BYTES], int *have);
int blind_add_tag(struct write_ctx *ctx, uint64_t id, unsigned kind, uint32_t version,
    const uint8_t tag[BLIND_TAG_BYTES]);

/* Remove every entry of record id. */
int blind_forget_record(struct write_ctx *ctx, uint64_t id);

/*
 * Call fn(arg, record id) for each record with tag of kind (at most limit
 * of them). Returns 0, fn's non-zero value, or a storage error.
 */
int blind_lookup(const struct store *s, MDB_txn *txn, unsigned kind,
    const uint8_t tag[BLIND_TAG_BYTES], size_t limit,
    int (*fn)(void *arg, uint64_t id), void *arg);

#endif
