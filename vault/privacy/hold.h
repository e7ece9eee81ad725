/*
 * hold.h - holds: the privacy policy's exceptions to deletion, placed on a
 * record by an administrator with a reason and an optional expiry.
 *
 * While a record has a live hold (not expired), it is readable only for
 * the purposes the holds allow (hold_allows()), it cannot be deleted, and a
 * deletion request that targets it is deferred; the request completes by
 * itself when the last hold is lifted or expires (privacy_resume()).
 * A held record carries RECORD_FLAG_HELD, so reads of other records never
 * look at the holds databases.
 *
 * Stored form (holds database, under the hold id), big-endian:
 *   u8 format (1), u8 purpose, u64 record id, u64 placed_at, u64 expires_at
 *   (0: none), u8 client name length, name, sealed reason (secrets.h).
 */
#ifndef VAULT_PRIVACY_HOLD_H
#define VAULT_PRIVACY_HOLD_H

#include <stddef.h>
#include <stdint.h>

#include <vault/vault.h>

#include "vault/store/store.h"
#include "common/buf.h"

struct vault_services;
struct write_ctx;

enum hold_purpose {
	HOLD_TRANSACTION = 1,
	HOLD_SECURITY = 2,
	HOLD_ERROR_CORRECTION = 3,
	HOLD_LEGAL = 4,
	HOLD_INTERNAL = 5,
};

#define HOLD_EXPIRES_MAX 253402300799ULL /* 9999-12-31T23:59:59Z */

struct hold {
	uint64_t id;
	uint64_t record;
	uint8_t purpose;
	uint64_t placed_at, expires_at;
	char client[32];
	const uint8_t *reason;   /* sealed; points into the stored value */
	size_t reason_len;
};

const char *hold_purpose_name(unsigned p);
unsigned hold_purpose_from(const char *s, size_t len);
/* The data purpose a hold of purpose p allows. */
enum vault_purpose hold_allowed_purpose(unsigned p);

int hold_encode(const struct hold *h, struct buf *out);
int hold_decode(uint64_t id, const uint8_t *p, size_t len, struct hold *h);
int hold_load(struct store_txn *txn, struct vault_services *svc, uint64_t id,
    struct hold *h);

/* 1 if h is live at now. */
static inline int
hold_live(const struct hold *h, uint64_t now)
{
	return h->expires_at == 0 || h->expires_at > now;
}

/*
 * Call fn for each hold on record (live or not), in id order. Returns 0,
 * fn's non-zero value, or an error.
 */
int hold_each_of_record(struct store_txn *txn, struct vault_services *svc, uint64_t record,
    int (*fn)(void *arg, const struct hold *h), void *arg);

/* Whether a record flagged held may be used for purpose at now: 0 or VAULT_E_HELD. */
int hold_allows(struct store_txn *txn, struct vault_services *svc, uint64_t record,
    enum vault_purpose purpose, uint64_t now);

/* Store a new hold (h->id is assigned) and flag its record. */
int hold_put(struct write_ctx *ctx, struct hold *h);
/*
 * Remove hold id; clear its record's flag if no live hold is left.
 * VAULT_E_NOT_FOUND if there is no such hold.
 */
int hold_remove(struct write_ctx *ctx, uint64_t id);
/* Remove every hold of record (its record is being deleted). */
int hold_forget_record(struct write_ctx *ctx, uint64_t record);

/* The earliest expiry of any hold (0: none expires), for the writer's timer. */
int hold_next_expiry(struct store_txn *txn, struct vault_services *svc, uint64_t *when);
/* Remove the holds expired at ctx->now; *removed counts them. */
int hold_sweep(struct write_ctx *ctx, size_t *removed);

#endif
