/*
 * hold_list.c - "hold_list" (admin): the holds on one record, or all
 * holds (at most 1000), with their reasons.
 */
#include "common/msg.h"
#include "vault/policy.h"
#include "vault/privacy/hold.h"
#include "vault/privacy/privacy.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "args.h"
#include "op.h"

static const char *const args[] = { "record", NULL };

#define LIST_MAX 1000

struct each {
	struct read_ctx *ctx;
	msgpack_packer *pk;  /* NULL: count only */
	size_t n;
};

static int
one(void *arg, const struct hold *h)
{
	struct each *e = arg;
	if (e->n == LIST_MAX)
		return 1;
	e->n++;
	if (e->pk != NULL)
		return privacy_pack_hold(e->pk, e->ctx->keys, h, &e->ctx->scratch);
	return 0;
}

static int
all(struct read_ctx *ctx, struct each *e)
{
	struct store_cursor *c;
	struct store_val k, v;
	int rc, out = 0;

	if ((rc = store_cursor_open(ctx->txn, STORE_HOLDS, &c)) != 0)
		return store_error(rc);
	while ((rc = store_cursor_get(c, &k, &v, STORE_NEXT)) == 0) {
		struct hold h;
		if (k.len != 8 || hold_decode(store_get_id(k.data), v.data,
		    v.len, &h) != 0) {
			out = VAULT_E_CRYPTO;
			break;
		}
		if ((out = one(e, &h)) != 0)
			break;
	}
	store_cursor_close(c);
	if (out != 0)
		return out == 1 ? 0 : out;
	return rc == 0 || rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

static int
run(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct each e = { ctx, NULL, 0 };
	uint64_t id = 0;
	int by_record = msg_get(req->args, "record") != NULL, rc;

	if (by_record && (rc = arg_record(ctx->keys, req, &id, err)) != 0)
		return rc;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			msgpack_pack_map(pk, 1);
			mp_cstr(pk, "holds");
			msgpack_pack_array(pk, (uint32_t)e.n);
			e.pk = pk;
			e.n = 0;
		}
		rc = by_record ? hold_each_of_record(ctx->txn, ctx->svc, id, one, &e) :
		    all(ctx, &e);
		if (rc == 1)
			rc = 0;
		if (rc != 0)
			return op_fail(err, rc, NULL, NULL);
	}
	if (by_record && trace_record(&ctx->trace, id) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	return 0;
}

const struct op op_hold_list = {
	.name = "hold_list",
	.kind = OP_READ,
	.admin = 1,
	.args = args,
	.read = run,
};
