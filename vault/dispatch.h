/*
 * dispatch.h - from a request body to a reply or a queued write.
 */
#ifndef VAULT_DISPATCH_H
#define VAULT_DISPATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

#include "common/buf.h"
#include "ops/op.h"

struct write_op;

/* Decoding limits for request bodies (mpcheck.h). */
#define REQUEST_MAX_DEPTH 6

/*
 * Handle one request body. Either appends exactly one reply frame to out
 * and sets *wop to NULL, or, for a valid write, sets *wop to a prepared
 * write operation (its reply comes from the writer). ctx->txn must be NULL
 * or reset; dispatch renews it for read operations and resets it after.
 */
void dispatch(struct read_ctx *ctx, const uint8_t *body, size_t len,
    msgpack_zone *zone, uid_t uid, gid_t gid, struct buf *out,
    struct write_op **wop);

#endif
