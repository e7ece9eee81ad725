/*
 * write.h - storing records and documents inside the writer's transaction.
 */
#ifndef VAULT_RECORD_WRITE_H
#define VAULT_RECORD_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "vault/store/record_codec.h"

struct write_ctx;

/* Encode r with its MAC (record_codec.h) and put it under id (flags: 0 or
 * STORE_APPEND for a new id). */
int record_store(struct write_ctx *ctx, uint64_t id, const struct record *r,
    unsigned flags);
/*
 * Seal document plaintext pt[0..len) under ctx->dek into the next slot of r
 * and store it. Returns 0, VAULT_E_LIMIT or a storage error.
 */
int document_store(struct write_ctx *ctx, uint64_t id, struct record *r,
    const uint8_t *pt, size_t len);
/* Delete document slot of r (and drop it from r). */
int document_delete(struct write_ctx *ctx, uint64_t id, struct record *r,
    uint16_t slot);
/* Index of slot in r->doc_slots, or -1. */
int record_doc_index(const struct record *r, uint16_t slot);

#endif
