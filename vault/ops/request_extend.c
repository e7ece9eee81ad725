/*
 * request_extend.c - "request_extend": once per request, 45 more days,
 * with a reason (kept sealed: an operator may name the person in it).
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

static const char *const args[] = { "request", "reason", NULL };

struct extend_state {
	uint64_t request;
	char reason[REQUEST_TEXT_MAX];
	size_t len;
	char client[32];
};

static void
free_state(void *p)
{
	if (p != NULL)
		sodium_memzero(p, sizeof(struct extend_state));
	free(p);
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	struct extend_state *st = calloc(1, sizeof(*st));
	const char *s;
	int rc;

	(void)ctx;
	if (st == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = privacy_check(req, err)) != 0 ||
	    (rc = arg_request_id(req, &st->request, err)) != 0 ||
	    (rc = arg_text(req, "reason", 1, REQUEST_TEXT_MAX, &s, &st->len, err)) != 0) {
		free_state(st);
		return rc;
	}
	memcpy(st->reason, s, st->len);
	snprintf(st->client, sizeof(st->client), "%s", req->client->name);
	*state = st;
	return 0;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct extend_state *st = state;
	struct privacy_request r;
	struct buf copy = { 0 }, sealed = { 0 };
	int rc;

	if ((rc = arg_request_load(ctx->txn, ctx->svc, st->request, &r, &copy, err)) != 0)
		goto out;
	if (r.state == RS_COMPLETED || r.state == RS_REJECTED || r.extended) {
		rc = op_fail(err, VAULT_E_REQUEST_STATE, "request", r.extended ?
		    "a request can be extended only once" : "the request is finished");
		goto out;
	}
	if ((rc = secret_seal_text(ctx->keys, st->reason, st->len, &sealed)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto out;
	}
	r.extended = 1;
	r.extension_reason = sealed.data;
	r.extension_reason_len = sealed.len;
	r.due_at += REQUEST_DUE_SECONDS;
	request_note(&r, (uint64_t)ctx->now, EV_EXTENDED, st->client);
	if ((rc = request_save(ctx->txn, STORE_REQUESTS, &r)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto out;
	}
	msgpack_pack_map(pk, 1);
	mp_cstr(pk, "due_at");
	msgpack_pack_uint64(pk, r.due_at);
out:
	buf_free(&sealed);
	buf_free(&copy);
	return rc;
}

const struct op op_request_extend = {
	.name = "request_extend",
	.kind = OP_WRITE,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free_state,
};
