/*
 * deletions_pending.c - "deletions_pending": the notices of the calling
 * client's own deletion feed not yet acknowledged (privacy/feed.h), oldest
 * first, a page at a time. There is no argument naming a client: a client
 * can only ever see its own feed.
 */
#include "common/msg.h"
#include "vault/policy.h"
#include "vault/privacy/feed.h"
#include "vault/record/fields.h"
#include "op.h"

static const char *const args[] = { "after", "limit", NULL };

#define PENDING_MAX 1000

struct page {
	msgpack_packer *pk;
	uint64_t limit, n, last;
	int more;
};

/* Count first (msgpack needs the array size), then pack: two scans. */
static int
count(const struct feed_notice *n, void *arg)
{
	struct page *p = arg;
	if (n->acked != 0)
		return 0;
	if (p->n == p->limit) {
		p->more = 1;
		return 1;
	}
	p->n++;
	return 0;
}

static int
pack(const struct feed_notice *n, void *arg)
{
	struct page *p = arg;
	msgpack_packer *pk = p->pk;
	if (n->acked != 0)
		return 0;
	if (p->n == p->limit)
		return 1;
	p->n++;
	p->last = n->id;
	unsigned nf = 0;
	for (unsigned f = 0; f <= FIELD_MAX; f++)
		nf += (n->fields >> f) & 1;
	msgpack_pack_map(pk, 6);
	mp_cstr(pk, "id");
	msgpack_pack_uint64(pk, n->id);
	mp_cstr(pk, "record");
	mp_cstr(pk, n->record_token);
	mp_cstr(pk, "fields");
	msgpack_pack_map(pk, nf);
	for (unsigned f = 0; f <= FIELD_MAX; f++) {
		if (!((n->fields >> f) & 1))
			continue;
		mp_cstr(pk, f == 0 ? "documents" : field_by_id(f)->name);
		if ((n->tokens >> f) & 1)
			mp_cstr(pk, n->field_tokens[f]);
		else
			msgpack_pack_nil(pk);
	}
	mp_cstr(pk, "deleted_at");
	msgpack_pack_uint64(pk, n->time);
	mp_cstr(pk, "reason");
	const char *why = vault_delete_reason_name(n->reason);
	mp_cstr(pk, why ? why : "unknown");
	mp_cstr(pk, "request");
	msgpack_pack_uint64(pk, n->request);
	return 0;
}

static int
pending(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	uint64_t after = 0, limit = 100;
	int rc;

	if ((rc = msg_get_uint(req->args, "after", 0, &after)) != 0)
		return op_fail(err, rc, "after", "after is a notice id");
	if ((rc = msg_get_uint(req->args, "limit", 0, &limit)) != 0)
		return op_fail(err, rc, "limit", "limit is an unsigned integer");
	if (limit == 0 || limit > PENDING_MAX)
		return op_fail(err, VAULT_E_LIMIT, "limit", "limit is 1 to 1000");
	struct page p = { pk, limit, 0, 0, 0 };
	if ((rc = feed_scan(ctx->txn, req->client->name, after, count, &p)) != 0)
		return op_fail(err, rc, NULL, NULL);
	int more = p.more;
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "notices");
	msgpack_pack_array(pk, (uint32_t)p.n);
	p.n = 0;
	if ((rc = feed_scan(ctx->txn, req->client->name, after, pack, &p)) != 0)
		return op_fail(err, rc, NULL, NULL);
	mp_cstr(pk, "more");
	more ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	return 0;
}

const struct op op_deletions_pending = {
	.name = "deletions_pending",
	.kind = OP_READ,
	.args = args,
	.no_keys = 1,
	.read = pending,
};
