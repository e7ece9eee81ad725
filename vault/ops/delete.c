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
#include "vault/policy.h"
#include "vault/privacy/hold.h"
#include "vault/record/access.h"
#include "vault/record/delete.h"
#include "vault/services.h"
#include "args.h"
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
	if ((rc = record_load(ctx->svc, ctx->keys, ctx->txn, st->id, &r, NULL)) != 0)
		return op_fail(err, rc, "record", NULL);
	if ((r.flags & RECORD_FLAG_HELD) &&
	    (rc = hold_allows(ctx->txn, ctx->svc, st->id, 0, (uint64_t)ctx->now)) != 0)
		return op_fail(err, rc, "record", "the record is under a hold; lift it first");
	rc = record_delete(ctx, st->id, st->reason, err);
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
