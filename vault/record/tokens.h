/*
 * tokens.h - a record's field tokens inside the writer's transaction:
 * issued by create and tokenize, rekeyed by rotation, removed with a field
 * or a record (record/delete.h).
 */
#ifndef VAULT_RECORD_TOKENS_H
#define VAULT_RECORD_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "vault/ctx.h"
#include "vault/record/input.h"
#include "vault/store/record_codec.h"
#include "vault/store/store.h"

/* Plaintext values by field id (NULL: the record has no value). */
struct plain_values {
	const uint8_t *p[FIELD_MAX + 1];
	size_t len[FIELD_MAX + 1];
};

#define CARD_CT_BYTES (CARD_MAX_DIGITS + SEAL_OVERHEAD)

/*
 * Check that every request can be served (the field has a value): returns
 * 0 or VAULT_E_EMPTY naming the field. Call before any write.
 */
int tokens_check(const struct token_request *reqs, unsigned n,
    const struct plain_values *vals, struct op_error *err);

/*
 * Issue the tokens, updating r (card token, deterministic entries) and the
 * index databases, and pack an array of {"field", "kind", "token"}.
 * Deterministic tags are keyed by domain, the asking client's join domain
 * (policy.h). The policy was checked in prepare (arg_check_tokens). The
 * caller stores r afterwards; card_ct must live until then.
 */
int tokens_issue(struct write_ctx *ctx, uint64_t id, struct record *r,
    const uint8_t *dek, const struct token_request *reqs, unsigned n,
    const char *domain, const struct plain_values *vals, uint8_t card_ct[CARD_CT_BYTES],
    msgpack_packer *pk, struct op_error *err);

/* det_index key: KEK epoch (u32 BE), tag, record id (u64 BE). */
#define DET_KEY_BYTES (4 + TOKEN_TAG_BYTES + 8)

/* Remove r's index entries for field (card token, deterministic tag). */
int tokens_forget_field(struct write_ctx *ctx, uint64_t id, struct record *r,
    uint8_t field);

/*
 * A record moves to KEK epoch epoch (a rotation's rewrap, a record's new
 * data key): re-key its card index entry under epoch from the sealed card
 * token (dek is the record's data key), replacing the old entry, and drop
 * its deterministic entries (and their index entries) of epochs the ring
 * no longer holds. Entries of epochs still in the ring stay: tokens handed
 * out keep resolving until their epoch is retired. The caller stores r.
 */
int tokens_rekey(struct write_ctx *ctx, uint64_t id, struct record *r,
    const uint8_t *dek, uint32_t epoch);

/*
 * Retiring KEK epoch epoch: delete every det_index entry it keys, and any
 * of another epoch the ring (ctx->keys) no longer holds, in txn (before the
 * key is destroyed). Records keep their copies of the entries until their
 * next rewrap or det token (nothing can check them without the key).
 * *deleted: how many.
 */
int tokens_retire_epoch(struct write_ctx *ctx, struct store_txn *txn, uint32_t epoch,
    uint64_t *deleted);

/* How many det_index entries epoch keys. */
int tokens_det_count(struct store_txn *txn, enum store_table det_index, uint32_t epoch,
    uint64_t *count);

#endif
