/*
 * request_show.c - "request_show": one privacy request with its history,
 * its extension reason and, once a deletion completed, its signed receipt,
 * its erasure horizon and, once the retire that ends it happened, the
 * signed erasure-complete document (privacy/horizon.h).
 */
#include <sodium.h>

#include "common/msg.h"
#include "vault/policy.h"
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/privacy/acks.h"
#include "vault/privacy/feed.h"
#include "vault/privacy/privacy.h"
#include "vault/services.h"
#include "op.h"
#include "privacy_args.h"

static const char *const args[] = { "request", NULL };

static int
run(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct privacy_request r;
	uint64_t id;
	int rc;

	if ((rc = privacy_check(req, err)) != 0 || (rc = arg_request_id(req, &id, err)) != 0)
		return rc;
	if ((rc = arg_request_load(ctx->txn, ctx->svc, id, &r, NULL, err)) != 0)
		return rc;
	buf_clear(&ctx->scratch);
	/* A final request keeps that it was extended, not the reason. */
	if (r.extension_reason != NULL && (rc = secret_open_text(ctx->keys, r.extension_reason,
	    r.extension_reason_len, &ctx->scratch)) != 0)
		return op_fail(err, rc, "request", NULL);
	int receipt = r.receipt != NULL, horizon = r.horizon_epoch != 0;
	/* A completed deletion: who acknowledged its notices so far, signed now. */
	struct buf acks = { 0 };
	uint8_t acks_sig[SIGN_BYTES];
	uint32_t kv = 0;
	if (receipt) {
		kv = keyring_current(ctx->keys->ring, KEYRING_INDEX);
		if ((rc = acks_document(ctx->txn, r.id, (uint64_t)ctx->now, &acks)) != 0 ||
		    (rc = secret_sign(ctx->keys, kv, acks.data, acks.len, acks_sig)) != 0) {
			buf_free(&acks);
			return op_fail(err, rc, NULL, NULL);
		}
	}
	msgpack_pack_map(pk, REQUEST_SUMMARY_PAIRS + 5 + (receipt ? 6 : 0) + (horizon ? 5 : 0));
	request_pack_summary(pk, &r, (uint64_t)ctx->now);
	mp_cstr(pk, "completed_at");
	msgpack_pack_uint64(pk, r.completed_at);
	mp_cstr(pk, "confirmation");
	mp_cstr(pk, !r.code_issued ? "none" : r.confirmed ? "confirmed" : "pending");
	mp_cstr(pk, "extension_reason");
	if (r.extension_reason != NULL)
		mp_str(pk, ctx->scratch.data, ctx->scratch.len);
	else
		msgpack_pack_nil(pk);
	mp_cstr(pk, "history");
	msgpack_pack_array(pk, (uint32_t)r.nhistory);
	for (size_t i = 0; i < r.nhistory; i++) {
		msgpack_pack_map(pk, 3);
		mp_cstr(pk, "time");
		msgpack_pack_uint64(pk, r.history[i].time);
		mp_cstr(pk, "event");
		mp_cstr(pk, request_event_name(r.history[i].event));
		mp_cstr(pk, "client");
		mp_cstr(pk, r.history[i].client);
	}
	/* The clients its deletion reached, and whether they acknowledged. */
	mp_cstr(pk, "recipients");
	if ((rc = feed_pack_request(ctx->txn, r.id, (uint64_t)ctx->now,
	    ctx->svc->cfg.deletion_ack_seconds, pk)) != 0)
		return op_fail(err, rc, NULL, NULL);
	if (receipt) {
		mp_cstr(pk, "receipt");
		mp_str(pk, r.receipt, r.receipt_len);
		mp_cstr(pk, "signature");
		mp_bin(pk, r.signature, SIGN_BYTES);
		mp_cstr(pk, "key_version");
		msgpack_pack_uint32(pk, r.key_version);
		mp_cstr(pk, "acknowledgements");
		mp_str(pk, acks.data, acks.len);
		mp_cstr(pk, "acknowledgements_signature");
		mp_bin(pk, acks_sig, SIGN_BYTES);
		mp_cstr(pk, "acknowledgements_key_version");
		msgpack_pack_uint32(pk, kv);
		buf_free(&acks);
	}
	if (horizon) {
		/* The horizon: pending (with the receipt's estimate) or complete. */
		mp_cstr(pk, "horizon");
		mp_cstr(pk, r.erasure != NULL ? "complete" : "pending");
		mp_cstr(pk, "unrecoverable_after");
		if (r.horizon_estimate != 0)
			msgpack_pack_uint64(pk, r.horizon_estimate);
		else
			msgpack_pack_nil(pk);
		mp_cstr(pk, "erasure_complete");
		if (r.erasure != NULL)
			mp_str(pk, r.erasure, r.erasure_len);
		else
			msgpack_pack_nil(pk);
		mp_cstr(pk, "erasure_signature");
		if (r.erasure != NULL)
			mp_bin(pk, r.erasure_signature, SIGN_BYTES);
		else
			msgpack_pack_nil(pk);
		mp_cstr(pk, "erasure_key_version");
		msgpack_pack_uint32(pk, r.erasure != NULL ? r.erasure_key_version : 0);
	}
	if (ctx->scratch.data != NULL)
		sodium_memzero(ctx->scratch.data, ctx->scratch.len);
	buf_clear(&ctx->scratch);
	return 0;
}

const struct op op_request_show = {
	.name = "request_show",
	.kind = OP_READ,
	.args = args,
	.read = run,
};
