/*
 * request_complete.c - "request_complete": carry out a verified request.
 *
 *   delete   shred every target (deferred while any is held; see
 *            privacy/complete.c) and return a signed receipt;
 *   know     return the signed export of every target (built on the
 *            worker, in prepare, from a read transaction and the audit trail);
 *   opt_out  set the request's marketing opt-outs on every target.
 *
 * An online deletion must have been confirmed first (request_confirm).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/policy.h"
#include "vault/privacy/privacy.h"
#include "vault/record/access.h"
#include "vault/record/write.h"
#include "vault/services.h"
#include "op.h"
#include "privacy_args.h"

static const char *const args[] = { "request", NULL };

struct complete_state {
	uint64_t request;
	char client[32];
	struct buf export;          /* know: the JSON, wiped on free */
	uint8_t signature[SIGN_BYTES];
	uint32_t key_version;
};

static void
free_state(void *p)
{
	struct complete_state *st = p;
	if (st == NULL)
		return;
	if (st->export.data != NULL)
		sodium_memzero(st->export.data, st->export.cap);
	buf_free(&st->export);
	free(st);
}

/* The state checks, the same on the worker and again in the writer. */
static int
check_state(const struct privacy_request *r, struct op_error *err)
{
	if (r->state == RS_COMPLETED || r->state == RS_REJECTED)
		return op_fail(err, VAULT_E_REQUEST_STATE, "request",
		    r->state == RS_COMPLETED ? "the request is completed already" :
		    "the request was rejected");
	if (r->state == RS_OPEN)
		return op_fail(err, VAULT_E_NOT_VERIFIED, "request",
		    "the person's identity is not verified");
	if (r->kind == REQ_DELETE && r->channel == CH_ONLINE && !r->confirmed)
		return op_fail(err, VAULT_E_CONFIRMATION, "request",
		    "an online deletion needs the person's confirmation code first");
	return 0;
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	struct complete_state *st = calloc(1, sizeof(*st));
	struct privacy_request r;
	int rc;

	if (st == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = privacy_check(req, err)) != 0 ||
	    (rc = arg_request_id(req, &st->request, err)) != 0)
		goto fail;
	if ((rc = arg_request_load(ctx->txn, ctx->svc, st->request, &r, NULL, err)) != 0)
		goto fail;
	if ((rc = check_state(&r, err)) != 0)
		goto fail;
	if (r.kind == REQ_KNOW) {
		if ((rc = privacy_export(ctx, &r, (uint64_t)ctx->now, &st->export, err)) != 0)
			goto fail;
		/* Refuse before anything changes if the reply could not carry it. */
		if (st->export.len + 1024 > ctx->svc->cfg.max_frame_bytes) {
			rc = op_fail(err, VAULT_E_TOO_LARGE, "request",
			    "the export exceeds max_frame_bytes; raise it for this request");
			goto fail;
		}
		st->key_version = keyring_current(ctx->keys->ring, KEYRING_INDEX);
		if ((rc = secret_sign(ctx->keys, st->key_version, st->export.data,
		    st->export.len, st->signature)) != 0) {
			op_fail(err, rc, NULL, NULL);
			goto fail;
		}
	}
	snprintf(st->client, sizeof(st->client), "%s", req->client->name);
	*state = st;
	return 0;
fail:
	free_state(st);
	return rc;
}

static int
opt_out(struct write_ctx *ctx, struct privacy_request *r, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < r->ntargets; i++) {
		struct record rec;
		int rc = record_load(ctx->svc, ctx->keys, ctx->txn, r->targets[i], &rec, &ctx->copy);
		if (rc == VAULT_E_DELETED || rc == VAULT_E_NOT_FOUND)
			continue;
		if (rc != 0)
			return rc;
		if (trace_record(&ctx->trace, r->targets[i]) != 0)
			return VAULT_E_NOMEM;
		rec.flags |= r->opt_out_channels;
		rec.updated = (uint64_t)ctx->now;
		if ((rc = record_store(ctx, r->targets[i], &rec, 0)) != 0)
			return rc;
		(*n)++;
	}
	return 0;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct complete_state *st = state;
	struct privacy_request r;
	struct buf copy = { 0 };
	size_t n = 0;
	int rc;

	if ((rc = arg_request_load(ctx->txn, ctx->svc, st->request, &r, &copy, err)) != 0)
		goto out;
	if ((rc = check_state(&r, err)) != 0)
		goto out;
	switch (r.kind) {
	case REQ_DELETE:
		rc = privacy_complete_delete(ctx, &r, st->client, pk, err);
		goto out;
	case REQ_KNOW:
		if (st->export.len == 0) { /* verified after prepare looked: retry */
			rc = op_fail(err, VAULT_E_CONFLICT, "request", "the request changed; retry");
			goto out;
		}
		for (size_t i = 0; i < r.ntargets; i++)
			if (trace_record(&ctx->trace, r.targets[i]) != 0) {
				rc = op_fail(err, VAULT_E_NOMEM, NULL, NULL);
				goto out;
			}
		break;
	default:
		if ((rc = opt_out(ctx, &r, &n)) != 0) {
			op_fail(err, rc, NULL, NULL);
			goto out;
		}
		break;
	}
	r.state = RS_COMPLETED;
	r.completed_at = (uint64_t)ctx->now;
	request_note(&r, (uint64_t)ctx->now, EV_COMPLETED, st->client);
	if ((rc = request_save(ctx->txn, STORE_REQUESTS, &r)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto out;
	}
	if (r.kind == REQ_KNOW) {
		msgpack_pack_map(pk, 4);
		mp_cstr(pk, "state");
		mp_cstr(pk, "completed");
		mp_cstr(pk, "export");
		mp_str(pk, st->export.data, st->export.len);
		mp_cstr(pk, "signature");
		mp_bin(pk, st->signature, SIGN_BYTES);
		mp_cstr(pk, "key_version");
		msgpack_pack_uint32(pk, st->key_version);
	} else {
		msgpack_pack_map(pk, 2);
		mp_cstr(pk, "state");
		mp_cstr(pk, "completed");
		mp_cstr(pk, "records");
		msgpack_pack_uint64(pk, n);
	}
out:
	buf_free(&copy);
	return rc;
}

const struct op op_request_complete = {
	.name = "request_complete",
	.kind = OP_WRITE,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free_state,
};
