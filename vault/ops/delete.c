/*
 * delete.c - "delete": crypto-shredding. In one transaction the record's
 * wrapped data key, field ciphertexts, documents, card token, deterministic
 * index entries go, and a tombstone (id, time, reason; no personal data)
 * takes its place so its tokens answer VAULT_E_DELETED. What survives in
 * freed pages and backups is SECURITY.md's subject.
 */
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "common/names.h"
#include "vault/keyset.h"
#include "vault/record/access.h"
#include "vault/record/write.h"
#include "vault/policy.h"
#include "vault/server.h"
#include "vault/privacy/blind.h"
#include "vault/privacy/hold.h"
#include "args.h"
#include "issue.h"
#include "op.h"

static const char *const args[] = { "record", "reason", NULL };

struct delete_state {
	uint64_t id;
	uint8_t reason;
};

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	const char *s;
	size_t len;
	int rc;
	struct delete_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if (!req->client->may_delete) {
		rc = op_deny(err, NULL, req->client->name,
		    "the policy does not let this client delete records");
		goto fail;
	}
	if ((rc = arg_record(ctx->keys, req, &st->id, err)) != 0)
		goto fail;
	if ((rc = msg_get_str(req->args, "reason", 1, &s, &len)) != 0) {
		op_fail(err, rc, "reason", "reason must be a string");
		goto fail;
	}
	if ((st->reason = (uint8_t)names_delete_reason(s, len)) == 0) {
		rc = op_fail(err, VAULT_E_REASON, "reason",
		    "reason is subject_request, retention or administrative");
		goto fail;
	}
	*state = st;
	return 0;
fail:
	free(st);
	return rc;
}

int
op_delete_record(struct write_ctx *ctx, uint64_t id, uint8_t reason,
    struct op_error *err)
{
	struct record r;
	uint8_t kb[8];
	int rc;

	/* Loaded unverified, because an erasure must go on whatever the record
	 * holds: restore erases records whose epoch's MAC key is gone, and a
	 * privacy request erases a record even if it was changed. Where the
	 * MAC can be checked, a failure still raises record_tampered. What
	 * the unverified header names is only ever removed where it belongs to
	 * this record: index entries are checked to name id (issue.c), and
	 * documents and blind index entries are keyed by id. */
	if ((rc = record_load_unverified(ctx->srv, ctx->txn, id, &r, &ctx->copy)) != 0)
		return op_fail(err, rc, "record", NULL);
	if (ctx->keys != NULL && key_set_record_mac_key(ctx->keys, r.kek_epoch) != NULL)
		(void)record_check(ctx->srv, ctx->keys, id, ctx->copy.data, ctx->copy.len);
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

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk,
    struct op_error *err)
{
	struct delete_state *st = state;
	struct record r;
	int rc;
	if (trace_record(&ctx->trace, st->id) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	/* A hold keeps a record (privacy/hold.h): lift it first. */
	if ((rc = record_load(ctx->srv, ctx->keys, ctx->txn, st->id, &r, NULL)) != 0)
		return op_fail(err, rc, "record", NULL);
	if ((r.flags & RECORD_FLAG_HELD) &&
	    (rc = hold_allows(ctx->txn, ctx->srv, st->id, 0, (uint64_t)ctx->now)) != 0)
		return op_fail(err, rc, "record", "the record is under a hold; lift it first");
	rc = op_delete_record(ctx, st->id, st->reason, err);
	if (rc != 0)
		return rc;
	msgpack_pack_map(pk, 1);
	mp_cstr(pk, "deleted_at");
	msgpack_pack_uint64(pk, (uint64_t)ctx->now);
	return 0;
}

const struct op op_delete = {
	.name = "delete",
	.kind = OP_WRITE,
	.needs_purpose = 1,
	.shares_txn = 1,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free,
};
