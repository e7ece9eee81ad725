/*
 * identity.h - failed identity verifications counted per claimed person,
 * across requests and clients, so that opening a new request never buys a
 * new round of guesses (request_verify.c).
 *
 * The identity is the claimed first and last name (identity_name(): the
 * canonical names, each with its length). It is stored under a keyed hash
 * (identity_hash(): BLAKE2b-256 keyed by crypto_kdf(KEK_e, 1, "vident03"))
 * under a KEK epoch e, so it falls under the erasure horizon as blind tags
 * do: once e is retired no key the vault keeps can test a guessed name
 * against any copy (live file, freed pages, raw copies, backups). So that a
 * KEK rotation does not reset the count (which would hand out a new round
 * of guesses), each entry also holds the canonical name sealed
 * (XChaCha20-Poly1305 under crypto_kdf(KEK_e, 1, "videnc03"); AD: 'I', 1,
 * the key, the epoch): when a rotation's rewrap finishes, identity_rekey()
 * opens every entry of an older epoch and stores it again under the new
 * one, in the transaction that ends the rotation; an entry that cannot be
 * opened is dropped. Until then identity_load() falls back to older epochs
 * the ring still holds, and identity_save() moves what it finds to the
 * current epoch. Retiring an epoch re-keys again first (an older epoch
 * retired while a later rotation runs), so no entry of it is left.
 *
 * Counts live in fixed windows of [privacy] verify_identity_window seconds;
 * an attempt is refused once the failures of the current and of the
 * previous window reach verify_identity_failures, so no span of one window
 * holds more than that many, whatever the window boundaries. Each entry
 * also lists the requests that failed for the identity (at most
 * IDENTITY_MAX_REQUESTS): the caller lets only verify_identity_open of
 * them be open at once.
 *
 * Stored form (verify_ids database; key: u64 BE window, then the hash):
 *   u8 format (2), u32 BE epoch, u32 BE failures, u8 alerted, u8 n,
 *   n x u64 BE request id, 24-byte nonce, sealed name (the identity_name()
 *   bytes, 6..IDENTITY_NAME_MAX, and a 16-byte tag).
 * (Format 1, keyed by an index key that is never retired, was never
 * deployed; the store schema stays 3.) identity_prune() deletes entries
 * older than the previous window, so a claimed name stays in the data file
 * for at most two windows after its last failure, and no longer than its
 * epoch anywhere.
 */
#ifndef VAULT_PRIVACY_IDENTITY_H
#define VAULT_PRIVACY_IDENTITY_H

#include <stddef.h>
#include <stdint.h>


#include "vault/store/store.h"
#include "vault/privacy/blind.h"

#define IDENTITY_HASH_BYTES 32
#define IDENTITY_MAX_REQUESTS 16
#define IDENTITY_KEY_BYTES (8 + IDENTITY_HASH_BYTES)
#define IDENTITY_NAME_MAX (4 + 2 * BLIND_CANON_MAX)
#define IDENTITY_HEAD_BYTES 11
#define IDENTITY_SEAL_OVERHEAD (24 + 16)
#define IDENTITY_VALUE_MAX (IDENTITY_HEAD_BYTES + 8 * IDENTITY_MAX_REQUESTS + \
    IDENTITY_SEAL_OVERHEAD + IDENTITY_NAME_MAX)

struct key_set;

struct identity {
	uint32_t failures;       /* in the current window */
	uint32_t failures_prev;  /* in the previous window (not saved) */
	int alerted;             /* the alert of the current window was raised */
	size_t nrequests;
	uint64_t requests[IDENTITY_MAX_REQUESTS];
};

/* A claimed name as hashed and sealed: personal data (wipe it). */
struct identity_name {
	size_t len;
	uint8_t b[IDENTITY_NAME_MAX];
};

/* The name of canonical (blind_canon()) first and last names.
 * 0 or VAULT_E_INVALID_VALUE (too long or empty). */
int identity_name(const char *first, size_t flen, const char *last, size_t llen,
    struct identity_name *out);

/* The keyed hash of name under KEK epoch. 0 or VAULT_E_KEYRING. */
int identity_hash(const struct key_set *ks, uint32_t epoch, const struct identity_name *name,
    uint8_t out[IDENTITY_HASH_BYTES]);

/*
 * The stored form: head (counts and epoch) then sealed (nonce, ciphertext
 * and tag, IDENTITY_SEAL_OVERHEAD + 6 .. + IDENTITY_NAME_MAX bytes).
 * *len is at most IDENTITY_VALUE_MAX.
 */
void identity_encode(const struct identity *id, uint32_t epoch, const uint8_t *sealed,
    size_t sealed_len, uint8_t out[IDENTITY_VALUE_MAX], size_t *len);
/* 0, or VAULT_E_CRYPTO for a damaged value (sizes are checked before any
 * use). *sealed points into p. */
int identity_decode(const uint8_t *p, size_t len, struct identity *id, uint32_t *epoch,
    const uint8_t **sealed, size_t *sealed_len);

/*
 * The identity name as of window: its failures in window and window - 1,
 * its requests (those of window - 1 carried over while window has no entry
 * of its own yet). Each window's entry is the current epoch's, else that of
 * the newest older epoch in the ring (a rotation not yet finished). None
 * stored: all zero. 0, VAULT_E_CRYPTO, VAULT_E_KEYRING or VAULT_E_STORAGE.
 */
int identity_load(struct store_txn *txn, enum store_table dbi, const struct key_set *ks,
    const struct identity_name *name, uint64_t window, struct identity *id);
/* Store id under (window, name) under the current epoch; entries of the
 * name under older epochs (window and window - 1) move to the current one
 * or go. 0 or a VAULT_E_* of the store or key ring. */
int identity_save(struct store_txn *txn, enum store_table dbi, const struct key_set *ks,
    const struct identity_name *name, uint64_t window, const struct identity *id);
/* Delete at most max entries of windows before window - 1 (and damaged
 * keys); *removed counts them. 0 or a VAULT_E_* of the store. */
int identity_prune(struct store_txn *txn, enum store_table dbi, uint64_t window, size_t max,
    size_t *removed);
/*
 * Store every entry of another epoch than epoch under epoch (new hash, new
 * seal) and delete the old one; one that does not open, or whose epoch is
 * not in the ring, is dropped (a current-epoch entry of the same name and
 * window wins). *moved and *dropped count them. 0 or a VAULT_E_*.
 */
int identity_rekey(struct store_txn *txn, enum store_table dbi, const struct key_set *ks, uint32_t epoch,
    size_t *moved, size_t *dropped);

#endif
