/*
 * audit_query.c - "audit_query" (admin): audit entries selected by record
 * (its token, matched through its pseudonyms), client, purpose and time,
 * oldest first, up to a limit. Entries hold no personal data, so neither
 * does the answer.
 */
#include <string.h>

#include "common/msg.h"
#include "common/names.h"
#include "vault/audit.h"
#include "vault/policy.h"
#include "vault/services.h"
#include "args.h"
#include "op.h"

static const char *const args[] = { "record", "client", "purpose", "from", "to",
    "limit", NULL };

#define QUERY_DEFAULT 1000
#define QUERY_MAX 100000

struct packing {
	msgpack_packer pk;
	size_t n;
};

static void
pack_opt(msgpack_packer *pk, const char *s)
{
	if (s != NULL)
		mp_cstr(pk, s);
	else
		msgpack_pack_nil(pk);
}

static int
pack_entry(void *arg, const struct audit_entry *e)
{
	struct packing *p = arg;
	msgpack_packer *pk = &p->pk;
	msgpack_pack_map(pk, 9);
	mp_cstr(pk, "seq");
	msgpack_pack_uint64(pk, e->seq);
	mp_cstr(pk, "time");
	msgpack_pack_int64(pk, e->time);
	mp_cstr(pk, "client");
	pack_opt(pk, e->client);
	mp_cstr(pk, "uid");
	msgpack_pack_uint64(pk, e->uid);
	mp_cstr(pk, "purpose");
	pack_opt(pk, e->purpose);
	mp_cstr(pk, "op");
	mp_cstr(pk, e->op);
	mp_cstr(pk, "records");
	msgpack_pack_array(pk, e->nrecords);
	for (size_t i = 0; i < e->nrecords; i++)
		mp_cstr(pk, e->records[i]);
	mp_cstr(pk, "fields");
	msgpack_pack_array(pk, e->nfields);
	for (size_t i = 0; i < e->nfields; i++)
		mp_cstr(pk, e->fields[i]);
	mp_cstr(pk, "outcome");
	mp_cstr(pk, e->outcome);
	p->n++;
	/* Past the reply's size limit there is no point reading on. */
	return ((struct buf *)pk->data)->error;
}

/* An optional string argument, copied NUL-terminated into out. */
static int
str_arg(const struct request *req, const char *name, char *out, size_t outlen,
    const char **val, struct op_error *err)
{
	const char *s;
	size_t len = 0;
	int rc = msg_get_str(req->args, name, 0, &s, &len);
	if (rc != 0)
		return op_fail(err, rc, name, "must be a string");
	if (msg_get(req->args, name) == NULL)
		return 0;
	if (len == 0 || len >= outlen || memchr(s, '\0', len) != NULL)
		return op_fail(err, VAULT_E_INVALID_VALUE, name, "not a name the trail can hold");
	memcpy(out, s, len);
	out[len] = '\0';
	*val = out;
	return 0;
}

static int
audit_query_op(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct vault_services *svc = ctx->svc;
	struct audit_filter f = { 0 };
	char client[POLICY_NAME_MAX], purpose[32];
	uint64_t id, limit = QUERY_DEFAULT, from = 0, to = 0;
	struct packing p = { .n = 0 };
	struct buf b = { 0 };
	int rc;

	if (svc->audit_cfg.path == NULL || svc->audit_cfg.path[0] == '\0')
		return op_fail(err, VAULT_E_CONFIG, NULL, "no audit trail is configured");
	if (msg_get(req->args, "record") != NULL) {
		if ((rc = arg_record(ctx->keys, req, &id, err)) != 0)
			return rc;
		f.record = &id;
	}
	if ((rc = str_arg(req, "client", client, sizeof(client), &f.client, err)) != 0 ||
	    (rc = str_arg(req, "purpose", purpose, sizeof(purpose), &f.purpose, err)) != 0)
		return rc;
	if (f.purpose != NULL && names_purpose(f.purpose, strlen(f.purpose)) == 0)
		return op_fail(err, VAULT_E_INVALID_VALUE, "purpose",
		    "purpose is transactional, marketing, maintenance, security or legal");
	if ((rc = msg_get_uint(req->args, "from", 0, &from)) != 0)
		return op_fail(err, rc, "from", "from is Unix seconds");
	if ((rc = msg_get_uint(req->args, "to", 0, &to)) != 0)
		return op_fail(err, rc, "to", "to is Unix seconds");
	if (from > INT64_MAX || to > INT64_MAX || (to != 0 && from > to))
		return op_fail(err, VAULT_E_INVALID_VALUE, "from", "from must not be after to");
	if ((rc = msg_get_uint(req->args, "limit", 0, &limit)) != 0)
		return op_fail(err, rc, "limit", "limit must be an unsigned integer");
	if (limit < 1 || limit > QUERY_MAX)
		return op_fail(err, VAULT_E_LIMIT, "limit", "limit is 1..100000");
	f.from = (int64_t)from;
	f.to = (int64_t)to;
	f.limit = (size_t)limit;

	/* Packed aside first: the array's length is known only at the end. */
	b.limit = svc->cfg.max_frame_bytes;
	msgpack_packer_init(&p.pk, &b, buf_msgpack_write);
	rc = audit_query(svc->audit_cfg.path, ctx->keys, &f, pack_entry, &p);
	if (rc == 0 && b.error != 0)
		rc = b.error;
	if (rc != 0) {
		buf_free(&b);
		return op_fail(err, rc, NULL, rc == VAULT_E_TOO_LARGE ?
		    "the entries do not fit in one reply: narrow the query or lower limit" :
		    "the audit trail cannot be read");
	}
	msgpack_pack_map(pk, 1);
	mp_cstr(pk, "entries");
	msgpack_pack_array(pk, p.n);
	/* The entries are packed already: append their bytes as they are. */
	if (b.len > 0)
		pk->callback(pk->data, (const char *)b.data, b.len);
	buf_free(&b);
	return 0;
}

const struct op op_audit_query = {
	.name = "audit_query",
	.kind = OP_READ,
	.needs_purpose = 0,
	.admin = 1,
	.args = args,
	.read = audit_query_op,
};
