/*
 * hold_place.c - "hold_place" (admin): keep a record under one of the
 * privacy policy's exceptions (privacy/hold.h), with a reason and an
 * optional expiry.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "vault/policy.h"
#include "vault/privacy/hold.h"
#include "vault/privacy/privacy.h"
#include "vault/record/access.h"
#include "vault/services.h"
#include "args.h"
#include "op.h"
#include "privacy_args.h"

static const char *const args[] = { "record", "purpose", "reason", "expires_at", NULL };

struct place_state {
	struct hold h;
	char reason[REQUEST_TEXT_MAX];
	size_t len;
};

static void
free_state(void *p)
{
	if (p != NULL)
		sodium_memzero(p, sizeof(struct place_state));
	free(p);
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	struct place_state *st = calloc(1, sizeof(*st));
	const char *s;
	size_t len;
	int rc;

	if (st == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = arg_record(ctx->keys, req, &st->h.record, err)) != 0)
		goto fail;
	if ((rc = msg_get_str(req->args, "purpose", 1, &s, &len)) != 0) {
		op_fail(err, rc, "purpose", "purpose is a string");
		goto fail;
	}
	if ((st->h.purpose = (uint8_t)hold_purpose_from(s, len)) == 0) {
		rc = op_fail(err, VAULT_E_INVALID_VALUE, "purpose", "a hold's purpose is "
		    "transaction, security, error_correction, legal or internal");
		goto fail;
	}
	if ((rc = arg_text(req, "reason", 1, REQUEST_TEXT_MAX, &s, &st->len, err)) != 0 ||
	    (rc = arg_uint(req, "expires_at", 0, &st->h.expires_at, err)) != 0)
		goto fail;
	if (st->h.expires_at != 0 && (st->h.expires_at <= (uint64_t)ctx->now ||
	    st->h.expires_at > HOLD_EXPIRES_MAX)) {
		rc = op_fail(err, VAULT_E_INVALID_VALUE, "expires_at",
		    "expires_at must be in the future and before the year 10000");
		goto fail;
	}
	memcpy(st->reason, s, st->len);
	snprintf(st->h.client, sizeof(st->h.client), "%s", req->client->name);
	*state = st;
	return 0;
fail:
	free_state(st);
	return rc;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct place_state *st = state;
	struct buf sealed = { 0 };
	int rc;

	if (trace_record(&ctx->trace, st->h.record) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = secret_seal_text(ctx->keys, st->reason, st->len, &sealed)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto out;
	}
	st->h.reason = sealed.data;
	st->h.reason_len = sealed.len;
	st->h.placed_at = (uint64_t)ctx->now;
	if ((rc = hold_put(ctx, &st->h)) != 0) {
		op_fail(err, rc, "record", NULL);
		goto out;
	}
	/* Wake the writer's sweep in time (an extra early sweep is harmless). */
	uint64_t cur = atomic_load(&ctx->svc->hold_expiry);
	if (st->h.expires_at != 0 && (cur == 0 || st->h.expires_at < cur))
		atomic_store(&ctx->svc->hold_expiry, st->h.expires_at);
	msgpack_pack_map(pk, 1);
	mp_cstr(pk, "hold");
	msgpack_pack_uint64(pk, st->h.id);
out:
	st->h.reason = NULL;
	buf_free(&sealed);
	return rc;
}

const struct op op_hold_place = {
	.name = "hold_place",
	.kind = OP_WRITE,
	.admin = 1,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free_state,
};
