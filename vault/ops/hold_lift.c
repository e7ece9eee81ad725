/*
 * hold_lift.c - "hold_lift" (admin): end a hold. Deletion requests that
 * waited only for it complete in the same transaction.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/msg.h"
#include "vault/policy.h"
#include "vault/privacy/hold.h"
#include "vault/privacy/privacy.h"
#include "vault/services.h"
#include "op.h"
#include "privacy_args.h"

static const char *const args[] = { "hold", NULL };

struct lift_state {
	uint64_t hold;
	char client[32];
};

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	struct lift_state *st = calloc(1, sizeof(*st));
	int rc;

	(void)ctx;
	if (st == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = arg_uint(req, "hold", 1, &st->hold, err)) != 0) {
		free(st);
		return rc;
	}
	snprintf(st->client, sizeof(st->client), "%s", req->client->name);
	*state = st;
	return 0;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct lift_state *st = state;
	struct hold h;
	uint64_t done[64];
	size_t n;
	int rc;

	if ((rc = hold_load(ctx->txn, ctx->svc, st->hold, &h)) != 0)
		return op_fail(err, rc, "hold", rc == VAULT_E_NOT_FOUND ? "no such hold" : NULL);
	if (trace_record(&ctx->trace, h.record) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = hold_remove(ctx, st->hold)) != 0 ||
	    (rc = privacy_resume(ctx, st->client, done, 64, &n)) != 0)
		return op_fail(err, rc, NULL, NULL);
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "lifted");
	msgpack_pack_true(pk);
	mp_cstr(pk, "completed");
	msgpack_pack_array(pk, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		msgpack_pack_uint64(pk, done[i]);
	return 0;
}

const struct op op_hold_lift = {
	.name = "hold_lift",
	.kind = OP_WRITE,
	.admin = 1,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free,
};
