/*
 * request_list.c - "request_list": privacy requests, oldest first, by state
 * or overdue (open or verified past their due date, or any whose deletion
 * notices a recipient has not acknowledged within deletion_ack_seconds).
 */
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "vault/policy.h"
#include "vault/privacy/feed.h"
#include "vault/privacy/privacy.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "op.h"
#include "privacy_args.h"

static const char *const args[] = { "state", "overdue", NULL };

#define LIST_MAX 1000

struct filter {
	unsigned state;  /* 0: any */
	int overdue;
	const uint64_t *acks; /* requests with overdue deletion acks (feed.h) */
	size_t nacks;
};

static int
acks_overdue(const struct filter *f, uint64_t id)
{
	for (size_t i = 0; i < f->nacks; i++)
		if (f->acks[i] == id)
			return 1;
	return 0;
}

/* Pass 0 counts, pass 1 packs; both see the same read transaction. */
static int
scan(struct read_ctx *ctx, const struct filter *f, msgpack_packer *pk, size_t *n)
{
	struct store_cursor *c;
	struct store_val k, v;
	int rc;

	*n = 0;
	if ((rc = store_cursor_open(ctx->txn, STORE_REQUESTS, &c)) != 0)
		return store_error(rc);
	while (*n < LIST_MAX && (rc = store_cursor_get(c, &k, &v, STORE_NEXT)) == 0) {
		struct privacy_request r;
		if (k.len != 8 || request_decode(v.data, v.len, &r) != 0) {
			rc = VAULT_E_CRYPTO;
			break;
		}
		int late_acks = acks_overdue(f, r.id);
		if ((f->state && r.state != f->state) ||
		    (f->overdue && !request_overdue(&r, (uint64_t)ctx->now) && !late_acks))
			continue;
		if (pk != NULL) {
			msgpack_pack_map(pk, REQUEST_SUMMARY_PAIRS + 1);
			request_pack_summary(pk, &r, (uint64_t)ctx->now);
			mp_cstr(pk, "acks_overdue");
			late_acks ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		}
		(*n)++;
	}
	store_cursor_close(c);
	if (rc == VAULT_E_CRYPTO)
		return rc;
	return rc == 0 || rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

static int
run(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct filter f = { 0, 0, NULL, 0 };
	uint64_t *acks = NULL;
	const char *s = NULL;
	size_t len = 0, n;
	int rc;

	if ((rc = privacy_check(req, err)) != 0)
		return rc;
	if ((rc = msg_get_str(req->args, "state", 0, &s, &len)) != 0)
		return op_fail(err, rc, "state", "state is a string");
	if (s != NULL && (f.state = request_state_from(s, len)) == 0)
		return op_fail(err, VAULT_E_INVALID_VALUE, "state",
		    "state is open, verified, deferred, completed or rejected");
	if ((rc = msg_get_bool(req->args, "overdue", 0, &f.overdue)) != 0)
		return op_fail(err, rc, "overdue", "overdue is a bool");
	/* Completed requests stay overdue while a recipient has not acknowledged. */
	if ((rc = feed_overdue_requests(ctx->txn, (uint64_t)ctx->now,
	    ctx->svc->cfg.deletion_ack_seconds, &acks, &f.nacks)) != 0)
		return op_fail(err, rc, NULL, NULL);
	f.acks = acks;
	if ((rc = scan(ctx, &f, NULL, &n)) == 0) {
		msgpack_pack_map(pk, 1);
		mp_cstr(pk, "requests");
		msgpack_pack_array(pk, (uint32_t)n);
		rc = scan(ctx, &f, pk, &n);
	}
	free(acks);
	return rc ? op_fail(err, rc, NULL, NULL) : 0;
}

const struct op op_request_list = {
	.name = "request_list",
	.kind = OP_READ,
	.args = args,
	.read = run,
};
