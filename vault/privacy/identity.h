/*
 * identity.h - failed identity verifications counted per claimed person,
 * across requests and clients, so that opening a new request never buys a
 * new round of guesses (request_verify.c).
 *
 * The identity is the claimed first and last name, as a keyed hash
 * (identity_hash(): secret_hash(), domain "verify_identity2", of the
 * canonical names) under the current index key: the table names nobody to
 * whoever lacks the key ring; a KEK rotation leaves it alone (blind tags,
 * which it was once a hash of, now change with every KEK epoch), and
 * rotating the index key starts it afresh. Index keys are never retired,
 * so an entry could confirm a guessed name for as long as it is kept:
 * two windows after its last failure at most (identity_prune()), and in
 * freed pages and backups taken meanwhile. Counts live in fixed
 * windows of [privacy] verify_identity_window seconds; an attempt is refused
 * once the failures of the current and of the previous window reach
 * verify_identity_failures, so no span of one window holds more than that
 * many, whatever the window boundaries. Each entry also lists the requests
 * that failed for the identity (at most IDENTITY_MAX_REQUESTS): the caller
 * lets only verify_identity_open of them be open at once.
 *
 * Stored form (verify_ids database; key: u64 BE window, then the hash):
 *   u8 format (1), u32 BE failures, u8 alerted, u8 n, n x u64 BE request id.
 * identity_prune() deletes entries older than the previous window, so a
 * claimed name stays in the data file for at most two windows after its
 * last failure (and in freed pages and backups as any deleted value does).
 */
#ifndef VAULT_PRIVACY_IDENTITY_H
#define VAULT_PRIVACY_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#define IDENTITY_HASH_BYTES 32
#define IDENTITY_MAX_REQUESTS 16
#define IDENTITY_KEY_BYTES (8 + IDENTITY_HASH_BYTES)
#define IDENTITY_VALUE_MAX (7 + 8 * IDENTITY_MAX_REQUESTS)

struct key_set;

struct identity {
	uint32_t failures;       /* in the current window */
	uint32_t failures_prev;  /* in the previous window (not saved) */
	int alerted;             /* the alert of the current window was raised */
	size_t nrequests;
	uint64_t requests[IDENTITY_MAX_REQUESTS];
};

/* The stored form; *len is at most IDENTITY_VALUE_MAX. */
void identity_encode(const struct identity *id, uint8_t out[IDENTITY_VALUE_MAX],
    size_t *len);
/* 0, or VAULT_E_CRYPTO for a damaged value (failures_prev is left 0). */
int identity_decode(const uint8_t *p, size_t len, struct identity *id);

/*
 * Identity hash as of window: its failures in window and window - 1, its
 * requests (those of window - 1 carried over while window has no entry of
 * its own yet). None stored: all zero. 0, VAULT_E_CRYPTO or VAULT_E_STORAGE.
 */
int identity_load(MDB_txn *txn, MDB_dbi dbi, const uint8_t hash[IDENTITY_HASH_BYTES],
    uint64_t window, struct identity *id);
/* Store id under (window, hash). 0 or a VAULT_E_* of the store. */
int identity_save(MDB_txn *txn, MDB_dbi dbi, const uint8_t hash[IDENTITY_HASH_BYTES],
    uint64_t window, const struct identity *id);
/* Delete at most max entries of windows before window - 1 (and damaged
 * keys); *removed counts them. 0 or a VAULT_E_* of the store. */
int identity_prune(MDB_txn *txn, MDB_dbi dbi, uint64_t window, size_t max,
    size_t *removed);

/*
 * The identity of a claimed name: first[0..flen) and last[0..llen) are
 * canonical (blind_canon()). 0, VAULT_E_NOMEM or VAULT_E_KEYRING.
 */
int identity_hash(const struct key_set *ks, const char *first, size_t flen,
    const char *last, size_t llen, uint8_t out[IDENTITY_HASH_BYTES]);

#endif
