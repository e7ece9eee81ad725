/*
 * privacy.h - what the privacy request operations (ops/request_*.c,
 * ops/hold_*.c) and the writer share: id counters, completing a deletion
 * request (now or, once its holds are gone, later), receipts and exports.
 */
#ifndef VAULT_PRIVACY_PRIVACY_H
#define VAULT_PRIVACY_PRIVACY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <msgpack.h>

#include "vault/store/store.h"
#include "common/buf.h"
#include "request.h"

struct vault_services;
struct write_ctx;
struct read_ctx;
struct op_error;

/* The next id of a counter in meta ("next_request", "next_hold"). */
int privacy_next_id(struct store_txn *txn, struct vault_services *svc, const char *counter,
    uint64_t *id);

/*
 * Complete verified deletion request r in ctx's transaction: if a target
 * has a live hold, mark it deferred (result: state and the holds, packed
 * if pk); otherwise shred every target, sign a receipt and mark it
 * completed (result: state, receipt, signature, key_version). r is saved.
 */
int privacy_complete_delete(struct write_ctx *ctx, struct privacy_request *r,
    const char *client, msgpack_packer *pk, struct op_error *err);

/*
 * Complete the deferred deletion requests none of whose targets is held
 * any more (after a hold was lifted or expired). Their ids go to done (at
 * most cap; *n counts them).
 */
int privacy_resume(struct write_ctx *ctx, const char *client, uint64_t *done,
    size_t cap, size_t *n);

/*
 * The right-to-know export of request r's targets, as canonical JSON (keys
 * sorted, no spaces) in out, which the caller wipes. Reads in ctx's read
 * transaction and the audit trail.
 */
int privacy_export(struct read_ctx *ctx, const struct privacy_request *r,
    uint64_t now, struct buf *out, struct op_error *err);

/* Append j as canonical JSON (keys sorted, no spaces) to out. */

int privacy_json_dump(const json_t *j, struct buf *out);

/* Make jansson wipe what it frees (exports hold personal data). Call once
 * before any thread starts. */
void privacy_json_wipe_on_free(void);

/* Pack {"hold", "record", "purpose", "reason", "placed_at", "expires_at",
 * "client"} for h (the reason opened with ks). */
struct hold;
struct key_set;
int privacy_pack_hold(msgpack_packer *pk, const struct key_set *ks,
    const struct hold *h, struct buf *scratch);

#endif
