/*
 * breach_report.c - "breach_report" (admin): which records a client (or a
 * uid, or every client) received in a time window, and which fields of
 * each, from the audit trail verified as it is read (privacy/breach.h).
 * Refused with VAULT_E_AUDIT, naming the first entry that cannot be
 * verified, when the trail is damaged inside the window.
 *
 * The answer holds record tokens, field and client names, never personal
 * data. With notify (purpose security only) it also carries the
 * notification list: a signed JSON document holding each affected
 * person's contact channel, signed like exports (secrets.h).
 */
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/policy.h"
#include "vault/privacy/breach.h"
#include "vault/privacy/secrets.h"
#include "vault/record/fields.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { "client", "uid", "all", "from", "to", "notify", NULL };

#define DOCUMENTS_BIT (FIELD_MAX + 1)

static int
scope_args(struct read_ctx *ctx, const struct request *req, struct breach_scope *s,
    char client[POLICY_NAME_MAX], int *notify, struct op_error *err)
{
	const char *name;
	size_t len = 0;
	uint64_t from = 0, to = 0;
	int all = 0, rc, n = 0;

	memset(s, 0, sizeof(*s));
	if ((rc = msg_get_str(req->args, "client", 0, &name, &len)) != 0)
		return op_fail(err, rc, "client", "must be a string");
	if (msg_get(req->args, "client") != NULL) {
		if (len == 0 || len >= POLICY_NAME_MAX || memchr(name, '\0', len) != NULL)
			return op_fail(err, VAULT_E_INVALID_VALUE, "client",
			    "not a name the trail can hold");
		memcpy(client, name, len);
		client[len] = '\0';
		s->client = client;
		n++;
	}
	if (msg_get(req->args, "uid") != NULL) {
		if ((rc = msg_get_uint(req->args, "uid", 1, &s->uid)) != 0)
			return op_fail(err, rc, "uid", "uid is an unsigned integer");
		s->by_uid = 1;
		n++;
	}
	if ((rc = msg_get_bool(req->args, "all", 0, &all)) != 0)
		return op_fail(err, rc, "all", "all is true or false");
	n += all;
	if (n != 1)
		return op_fail(err, VAULT_E_INVALID_VALUE, "client",
		    "name exactly one of client, uid or all = true");
	if ((rc = msg_get_uint(req->args, "from", 1, &from)) != 0)
		return op_fail(err, rc, "from", "from is Unix seconds");
	if ((rc = msg_get_uint(req->args, "to", 0, &to)) != 0)
		return op_fail(err, rc, "to", "to is Unix seconds");
	if (msg_get(req->args, "to") == NULL)
		to = (uint64_t)ctx->now;
	if (from > INT64_MAX || to > INT64_MAX || from > to)
		return op_fail(err, VAULT_E_INVALID_VALUE, "from", "from must not be after to");
	s->from = (int64_t)from;
	s->to = (int64_t)to;
	if ((rc = msg_get_bool(req->args, "notify", 0, notify)) != 0)
		return op_fail(err, rc, "notify", "notify is true or false");
	if (req->purpose != VAULT_PURPOSE_SECURITY && (*notify || req->purpose != VAULT_PURPOSE_LEGAL))
		return op_deny(err, "purpose", NULL, *notify ?
		    "the notification list is for purpose security only" :
		    "a breach report is for purpose security or legal");
	return 0;
}

static void
pack_bits(msgpack_packer *pk, uint32_t bits)
{
	unsigned n = 0;
	for (unsigned b = 0; b <= DOCUMENTS_BIT; b++)
		n += (bits >> b) & 1 && (b == DOCUMENTS_BIT || field_by_id(b) != NULL);
	msgpack_pack_array(pk, n);
	for (unsigned b = 0; b <= DOCUMENTS_BIT; b++) {
		if (!((bits >> b) & 1))
			continue;
		if (b == DOCUMENTS_BIT)
			mp_cstr(pk, "documents");
		else if (field_by_id(b) != NULL)
			mp_cstr(pk, field_by_id(b)->name);
	}
}

static void
pack_record(struct read_ctx *ctx, msgpack_packer *pk, const struct breach_report *rep,
    const struct breach_record *r)
{
	char tok[TOKEN_MAX_LEN + 1];
	unsigned nc = 0;
	for (size_t i = 0; i < rep->nclients; i++)
		nc += (r->clients >> i) & 1;
	msgpack_pack_map(pk, 4);
	mp_cstr(pk, "state");
	if (r->state == BREACH_LIVE) {
		mp_cstr(pk, "live");
		mp_cstr(pk, "record");
		token_record_make(ctx->keys->tokens, r->id, tok);
		mp_cstr(pk, tok);
	} else {
		mp_cstr(pk, "deleted");
		mp_cstr(pk, "deleted_at");
		msgpack_pack_uint64(pk, r->deleted_at);
	}
	mp_cstr(pk, "fields");
	pack_bits(pk, r->fields);
	mp_cstr(pk, "clients");
	msgpack_pack_array(pk, nc);
	for (size_t i = 0; i < rep->nclients; i++)
		if ((r->clients >> i) & 1)
			mp_cstr(pk, rep->clients[i]);
}

/* {field: {"records": n, "people": n}} for the fields any record shows. */
static void
pack_by_field(msgpack_packer *pk, const struct breach_report *rep)
{
	uint64_t recs[DOCUMENTS_BIT + 1] = { 0 }, live[DOCUMENTS_BIT + 1] = { 0 };
	unsigned n = 0;
	for (size_t i = 0; i < rep->nrecs; i++)
		for (unsigned b = 0; b <= DOCUMENTS_BIT; b++)
			if (rep->recs[i].state != BREACH_UNMAPPED && (rep->recs[i].fields >> b) & 1 &&
			    (b == DOCUMENTS_BIT || field_by_id(b) != NULL)) {
				recs[b]++;
				live[b] += rep->recs[i].state == BREACH_LIVE;
			}
	for (unsigned b = 0; b <= DOCUMENTS_BIT; b++)
		n += recs[b] != 0;
	msgpack_pack_map(pk, n);
	for (unsigned b = 0; b <= DOCUMENTS_BIT; b++) {
		if (recs[b] == 0)
			continue;
		mp_cstr(pk, b == DOCUMENTS_BIT ? "documents" : field_by_id(b)->name);
		msgpack_pack_map(pk, 2);
		mp_cstr(pk, "records");
		msgpack_pack_uint64(pk, recs[b]);
		mp_cstr(pk, "people");
		msgpack_pack_uint64(pk, live[b]);
	}
}

static int
breach_report_op(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct breach_scope s;
	struct breach_report rep;
	char client[POLICY_NAME_MAX];
	struct buf doc = { 0 };
	uint8_t sig[SIGN_BYTES];
	uint32_t kv = 0;
	uint64_t mapped = 0, live = 0, deleted = 0;
	int notify = 0, rc;

	if ((rc = scope_args(ctx, req, &s, client, &notify, err)) != 0)
		return rc;
	if ((rc = breach_collect(ctx, &s, &rep, err)) != 0)
		goto out;
	for (size_t i = 0; i < rep.nrecs; i++) {
		mapped += rep.recs[i].state != BREACH_UNMAPPED;
		live += rep.recs[i].state == BREACH_LIVE;
		deleted += rep.recs[i].state == BREACH_DELETED;
	}
	if (notify) {
		if ((rc = breach_notification(ctx, &s, &rep, &doc, err)) != 0)
			goto out;
		if (doc.len + 1024 > ctx->svc->cfg.max_frame_bytes) {
			rc = op_fail(err, VAULT_E_TOO_LARGE, "notify",
			    "the notification list exceeds max_frame_bytes: narrow the scope");
			goto out;
		}
		kv = keyring_current(ctx->keys->ring, KEYRING_INDEX);
		if ((rc = secret_sign(ctx->keys, kv, doc.data, doc.len, sig)) != 0) {
			op_fail(err, rc, NULL, NULL);
			goto out;
		}
	}
	msgpack_pack_map(pk, 11 + (rep.damaged_after != 0) + 3 * notify);
	mp_cstr(pk, "from");
	msgpack_pack_int64(pk, s.from);
	mp_cstr(pk, "to");
	msgpack_pack_int64(pk, s.to);
	mp_cstr(pk, "entries");
	msgpack_pack_uint64(pk, rep.entries);
	mp_cstr(pk, "verified_entries");
	msgpack_pack_uint64(pk, rep.verified);
	mp_cstr(pk, "unmapped_entries");
	msgpack_pack_uint64(pk, rep.unkeyed);
	mp_cstr(pk, "unmapped_records");
	msgpack_pack_uint64(pk, rep.nrecs - mapped);
	mp_cstr(pk, "people");
	msgpack_pack_uint64(pk, live);
	mp_cstr(pk, "deleted");
	msgpack_pack_uint64(pk, deleted);
	mp_cstr(pk, "clients_truncated");
	if (rep.clients_truncated)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	mp_cstr(pk, "by_field");
	pack_by_field(pk, &rep);
	mp_cstr(pk, "records");
	msgpack_pack_array(pk, mapped);
	for (size_t i = 0; i < rep.nrecs; i++)
		if (rep.recs[i].state != BREACH_UNMAPPED)
			pack_record(ctx, pk, &rep, &rep.recs[i]);
	if (rep.damaged_after != 0) {
		mp_cstr(pk, "damaged_after_window");
		msgpack_pack_uint64(pk, rep.damaged_after);
	}
	if (notify) {
		mp_cstr(pk, "notification");
		mp_str(pk, doc.data, doc.len);
		mp_cstr(pk, "signature");
		mp_bin(pk, sig, SIGN_BYTES);
		mp_cstr(pk, "key_version");
		msgpack_pack_uint32(pk, kv);
	}
	rc = 0;
out:
	if (doc.data != NULL)
		sodium_memzero(doc.data, doc.len);
	buf_free(&doc);
	breach_free(&rep);
	return rc;
}

const struct op op_breach_report = {
	.name = "breach_report",
	.kind = OP_READ,
	.needs_purpose = 1,
	.admin = 1,
	.args = args,
	.read = breach_report_op,
};
