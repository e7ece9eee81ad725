/*
 * recipients.h - which clients received a record's data, kept so that a
 * deletion reaches each of them (feed.h).
 *
 * Per record, one entry in the recipients table: record id (u64 BE) ->
 * nonce (24) and the set sealed under the record's data key with its
 * version in the AD. The set names clients (policy names, no personal
 * data) and, per client, the fields it received in any form and the
 * fields it received as opaque tokens. It dies with the record twice: the
 * entry is deleted with it, and what LMDB's freed pages or an old backup
 * keep of it cannot be opened once the wrapped data key is gone (the
 * same erasure horizon as the fields).
 *
 * Cost: a read opens the set (one get, one XChaCha20 open) to see whether
 * the client is in it; only a client not yet recorded for those fields
 * makes the read a write (the dispatcher hands it to the writer with the
 * reply held until the set is stored: data never leaves unrecorded).
 */
#ifndef VAULT_PRIVACY_RECIPIENTS_H
#define VAULT_PRIVACY_RECIPIENTS_H

#include <stdint.h>

#include "vault/policy.h"

struct store_txn;
struct write_ctx;
struct read_ctx;
struct record;

#define RECIPIENTS_MAX 64

struct recipient {
	char name[POLICY_NAME_MAX];
	uint32_t fields; /* bit i: field id i reached the client (any form) */
	uint32_t tokens; /* bit i: it holds an opaque token of field i */
};

struct recipient_set {
	unsigned n;
	struct recipient r[RECIPIENTS_MAX];
};

/* Record id's set (empty if none), opened with its data key. 0,
 * VAULT_E_CRYPTO or a store error. */
int recipients_load(struct store_txn *txn, uint64_t id, uint32_t dek_version,
    const uint8_t *dek, struct recipient_set *out);
/* Seal and store s for record id. */
int recipients_store(struct store_txn *txn, uint64_t id, uint32_t dek_version,
    const uint8_t *dek, const struct recipient_set *s);
/* Add client's bits to s; 1 if s changed, 0 if not, VAULT_E_LIMIT if full. */
int recipients_add(struct recipient_set *s, const char *client, uint32_t fields,
    uint32_t tokens);
/* Remove record id's entry (deleting the record). */
int recipients_forget(struct store_txn *txn, uint64_t id);
/* Re-seal record id's set under a new data key (keys rotate-record). */
int recipients_reseal(struct store_txn *txn, uint64_t id, uint32_t from_version,
    const uint8_t *from, uint32_t to_version, const uint8_t *to);

/*
 * For read operations: note that the request's client receives fields /
 * tokens of record id (data key in ctx->dek). Nothing is noted if the
 * stored set already covers it; otherwise the dispatcher turns the
 * request into a write (recipients_note_apply) before answering.
 */
int recipients_note(struct read_ctx *ctx, uint64_t id, const struct record *r,
    uint32_t fields, uint32_t tokens);
/* For write operations: add the bits to record id's set now. */
int recipients_record(struct write_ctx *ctx, uint64_t id, const struct record *r,
    const uint8_t *dek, const char *client, uint32_t fields, uint32_t tokens);
/* The same for a record created in this transaction: its set is not looked
 * up (none can exist: record ids are never reused), one store round trip
 * less per create (PostgreSQL: one statement of the batch). */
int recipients_record_new(struct write_ctx *ctx, uint64_t id, const struct record *r,
    const uint8_t *dek, const char *client, uint32_t fields, uint32_t tokens);

#endif
