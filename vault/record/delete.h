/*
 * delete.h - erasing a record (crypto-shredding) inside the writer's
 * transaction: shared by the delete operation, privacy request completion
 * and restore, so all three remove exactly the same things.
 */
#ifndef VAULT_RECORD_DELETE_H
#define VAULT_RECORD_DELETE_H

#include <stdint.h>

struct write_ctx;
struct op_error;

/*
 * Delete record id in ctx's transaction: its wrapped data key, field
 * ciphertexts, documents, card token, deterministic and blind index
 * entries and holds go, a tombstone (reason, ctx->now) takes its place,
 * and the deletion is noted for the journal. 0, or the error in err.
 */
int record_delete(struct write_ctx *ctx, uint64_t id, uint8_t reason,
    struct op_error *err);
/*
 * The same for privacy request request (0: none): every client that
 * received the record's data gets a notice in its deletion feed, in the
 * same transaction (privacy/feed.h). record_delete() notifies too, with
 * request 0; where the data key cannot be unwrapped (a restore's record of
 * a retired epoch) no one can be told and the set dies with the key.
 */
int record_delete_for(struct write_ctx *ctx, uint64_t id, uint8_t reason,
    uint64_t request, struct op_error *err);

#endif
