/*
 * delete.c - erasing one record by crypto-shredding (see delete.h).
 */
#include <sodium.h>
#include <vault/vault.h>

#include "vault/ctx.h"
#include "vault/keyset.h"
#include "vault/crypto/seal.h"
#include "vault/privacy/blind.h"
#include "vault/privacy/feed.h"
#include "vault/privacy/recipients.h"
#include "vault/privacy/hold.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "access.h"
#include "delete.h"
#include "tokens.h"
#include "write.h"

int
record_delete(struct write_ctx *ctx, uint64_t id, uint8_t reason,
    struct op_error *err)
{
	return record_delete_for(ctx, id, reason, 0, err);
}

int
record_delete_for(struct write_ctx *ctx, uint64_t id, uint8_t reason,
    uint64_t request, struct op_error *err)
{
	struct record r;
	uint8_t kb[8];
	int rc;

	/* Loaded unverified, because an erasure must go on whatever the record
	 * holds: restore erases records whose epoch's MAC key is gone, and a
	 * privacy request erases a record even if it was changed. Where the
	 * MAC can be checked, a failure still raises record_tampered. What
	 * the unverified header names is only ever removed where it belongs to
	 * this record: index entries are checked to name id (tokens.c), and
	 * documents and blind index entries are keyed by id. */
	if ((rc = record_load_unverified(ctx->svc, ctx->txn, id, &r, &ctx->copy)) != 0)
		return op_fail(err, rc, "record", NULL);
	if (ctx->keys != NULL && key_set_record_mac_key(ctx->keys, r.kek_epoch) != NULL)
		(void)record_check(ctx->svc, ctx->keys, id, ctx->copy.data, ctx->copy.len);
	/* The recipients first, while the data key still unwraps. */
	if (ctx->keys != NULL && record_unwrap(ctx->keys, id, &r, ctx->dek) == 0) {
		rc = feed_notify(ctx, id, &r, ctx->dek, reason, request);
		sodium_memzero(ctx->dek, DEK_BYTES);
		if (rc != 0)
			return op_fail(err, rc, NULL, NULL);
	} else if ((rc = recipients_forget(ctx->txn, id)) != 0) {
		return op_fail(err, rc, NULL, NULL);
	}
	for (uint8_t fid = 1; fid <= FIELD_MAX; fid++)
		if ((rc = tokens_forget_field(ctx, id, &r, fid)) != 0)
			return op_fail(err, rc, NULL, NULL);
	while (r.ndocs > 0)
		if ((rc = document_delete(ctx, id, &r, r.doc_slots[0])) != 0)
			return op_fail(err, rc, NULL, NULL);
	if ((rc = blind_forget_record(ctx, id)) != 0 ||
	    (rc = hold_forget_record(ctx, id)) != 0)
		return op_fail(err, rc, NULL, NULL);
	store_put_id(kb, id);
	struct store_val k = { 8, kb };
	if ((rc = store_del(ctx->txn, STORE_RECORDS, &k)) != 0)
		return op_fail(err, store_error(rc), NULL, NULL);
	struct tombstone t = { reason, (uint64_t)ctx->now };
	uint8_t tb[TOMBSTONE_BYTES];
	tombstone_encode(&t, tb);
	struct store_val v = { sizeof(tb), tb };
	if ((rc = store_put(ctx->txn, STORE_TOMBSTONES, &k, &v, 0)) != 0)
		return op_fail(err, store_error(rc), NULL, NULL);
	if ((rc = write_ctx_note_deletion(ctx, id, t.deleted_at)) != 0)
		return op_fail(err, rc, NULL, NULL);
	return 0;
}
