/*
 * request_confirm.c - "request_confirm": the second step of an online
 * deletion. The person presents the one-time code request_verify issued;
 * it is compared in constant time against its keyed hash. A wrong code
 * counts (the fifth rejects the request); an expired one sends the request
 * back to open, to be verified again. Nothing is shredded before this.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "vault/policy.h"
#include "vault/privacy/privacy.h"
#include "vault/services.h"
#include "op.h"
#include "privacy_args.h"

static const char *const args[] = { "request", "code", NULL };

struct confirm_state {
	uint64_t request;
	char code[33];
	size_t len;
	char client[32];
};

static void
free_state(void *p)
{
	if (p != NULL)
		sodium_memzero(p, sizeof(struct confirm_state));
	free(p);
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	struct confirm_state *st = calloc(1, sizeof(*st));
	const char *s;
	int rc;

	(void)ctx;
	if (st == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = privacy_check(req, err)) != 0 ||
	    (rc = arg_request_id(req, &st->request, err)) != 0 ||
	    (rc = arg_text(req, "code", 1, 32, &s, &st->len, err)) != 0) {
		free_state(st);
		return rc;
	}
	/* Codes are printed in capitals; accept what a person types. */
	for (size_t i = 0; i < st->len; i++)
		st->code[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
	snprintf(st->client, sizeof(st->client), "%s", req->client->name);
	*state = st;
	return 0;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct confirm_state *st = state;
	struct privacy_request r;
	struct buf copy = { 0 };
	uint8_t h[SECRET_HASH_BYTES];
	int rc, ok = 0, expired = 0;

	if ((rc = arg_request_load(ctx->txn, ctx->svc, st->request, &r, &copy, err)) != 0)
		goto out;
	if (r.state != RS_VERIFIED || !r.code_issued || r.confirmed) {
		rc = op_fail(err, VAULT_E_REQUEST_STATE, "request", r.confirmed ?
		    "the request is confirmed already" :
		    "the request has no confirmation code outstanding");
		goto out;
	}
	if ((uint64_t)ctx->now >= r.code_expires) {
		expired = 1;
		r.state = RS_OPEN;
		r.code_issued = 0;
		r.ntargets = 0;
		r.nclaims = 0;
		request_note(&r, (uint64_t)ctx->now, EV_CONFIRM_FAILED, st->client);
	} else {
		if ((rc = secret_hash(ctx->keys, r.code_version, "confirmation", r.id,
		    st->code, st->len, h)) != 0) {
			op_fail(err, rc, NULL, NULL);
			goto out;
		}
		ok = sodium_memcmp(h, r.code_hash, sizeof(h)) == 0;
		if (ok) {
			r.confirmed = 1;
			request_note(&r, (uint64_t)ctx->now, EV_CONFIRMED, st->client);
		} else {
			r.confirm_failures++;
			request_note(&r, (uint64_t)ctx->now, EV_CONFIRM_FAILED, st->client);
			if (r.confirm_failures >= REQUEST_CONFIRM_ATTEMPTS) {
				r.state = RS_REJECTED;
				request_note(&r, (uint64_t)ctx->now, EV_REJECTED, st->client);
			}
		}
	}
	if ((rc = request_save(ctx->txn, STORE_REQUESTS, &r)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto out;
	}
	msgpack_pack_map(pk, 4);
	mp_cstr(pk, "confirmed");
	ok ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "expired");
	expired ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "state");
	mp_cstr(pk, request_state_name(r.state));
	mp_cstr(pk, "attempts_left");
	msgpack_pack_uint32(pk, ok || expired || r.confirm_failures >= REQUEST_CONFIRM_ATTEMPTS ?
	    0 : REQUEST_CONFIRM_ATTEMPTS - r.confirm_failures);
out:
	sodium_memzero(h, sizeof(h));
	buf_free(&copy);
	return rc;
}

const struct op op_request_confirm = {
	.name = "request_confirm",
	.kind = OP_WRITE,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free_state,
};
