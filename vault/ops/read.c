/*
 * read.c - "read": a record's fields (all or some), the slots of its
 * documents and, if asked, the documents themselves (all, or the slots
 * listed: several large documents may not fit in one reply frame).
 */
#include <sodium.h>

#include "common/msg.h"
#include "vault/crypto/seal.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/policy.h"
#include "vault/record/access.h"
#include "vault/record/input.h"
#include "vault/record/mask.h"
#include "vault/record/write.h"
#include "vault/services.h"
#include "args.h"
#include "vault/privacy/hold.h"
#include "vault/privacy/recipients.h"
#include "op.h"

static const char *const args[] = { "record", "fields", "documents", NULL };

static int
read_op(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	const msgpack_object_array *want = NULL;
	int with_docs = 0, rc;
	uint64_t id;
	uint32_t wanted = 0;
	int explicit = 0;
	struct record r;

	if ((rc = arg_record(ctx->keys, req, &id, err)) != 0)
		return rc;
	if ((rc = msg_get_array(req->args, "fields", 0, &want)) != 0)
		return op_fail(err, rc, "fields", "fields must be an array of field names");
	/* documents: true for all of them, or an array of slots. */
	uint16_t slots[RECORD_MAX_DOCS];
	unsigned nslots = 0;
	int all_docs = 0;
	const msgpack_object *docs_arg = msg_get(req->args, "documents");
	if (docs_arg != NULL && docs_arg->type == MSGPACK_OBJECT_BOOLEAN) {
		with_docs = all_docs = docs_arg->via.boolean;
	} else if (docs_arg != NULL && docs_arg->type == MSGPACK_OBJECT_ARRAY) {
		const msgpack_object_array *a = &docs_arg->via.array;
		if (a->size > RECORD_MAX_DOCS)
			return op_fail(err, VAULT_E_LIMIT, "documents", NULL);
		for (uint32_t i = 0; i < a->size; i++) {
			if (a->ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
			    a->ptr[i].via.u64 == 0 || a->ptr[i].via.u64 > 0xffff)
				return op_fail(err, VAULT_E_PROTO_TYPE, "documents",
				    "documents is true or an array of document slots");
			slots[nslots++] = (uint16_t)a->ptr[i].via.u64;
		}
		with_docs = 1;
	} else if (docs_arg != NULL) {
		return op_fail(err, VAULT_E_PROTO_TYPE, "documents",
		    "documents is true or an array of document slots");
	}
	if (want != NULL) {
		if (want->size > ctx->svc->cfg.max_fields_per_request)
			return op_fail(err, VAULT_E_LIMIT, "fields", NULL);
		for (uint32_t i = 0; i < want->size; i++) {
			const struct field_info *fi = input_field_name(&want->ptr[i]);
			if (fi == NULL)
				return input_unknown_field(err, "fields", &want->ptr[i]);
			wanted |= 1u << fi->id;
		}
		explicit = 1;
	} else {
		wanted = ~0u;
	}

	if (with_docs && policy_access(req->client, req->purpose, FIELD_DOCUMENT_SLOT) != ACCESS_PLAIN)
		return op_deny(err, "documents", policy_rule(req->client, req->purpose),
		    "the policy grants no access to documents");
	if (trace_record(&ctx->trace, id) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = record_load(ctx->svc, ctx->keys, ctx->txn, id, &r, NULL)) != 0)
		return op_fail(err, rc, "record", NULL);
	if ((r.flags & RECORD_FLAG_HELD) && (rc = hold_allows(ctx->txn, ctx->svc, id,
	    req->purpose, (uint64_t)ctx->now)) != 0)
		return op_fail(err, rc, "record",
		    "the record is under a hold: readable only for the hold's purpose");
	/*
	 * Policy and consent per field: a field named in the request and
	 * denied fails the request, naming the rule; when all fields are
	 * asked for, denied ones are left out.
	 */
	uint8_t acc[FIELD_MAX + 1] = { 0 };
	for (unsigned i = 0; i < r.nfields; i++) {
		uint8_t fid = r.fields[i].id;
		if (!((wanted >> fid) & 1))
			continue;
		acc[fid] = (uint8_t)policy_access(req->client, req->purpose, fid);
		int opted_out = req->purpose == VAULT_PURPOSE_MARKETING &&
		    (r.flags & consent_channel_of(fid));
		if (explicit && acc[fid] == ACCESS_NONE)
			return op_deny(err, field_by_id(fid)->name, policy_rule(req->client, req->purpose),
			    "the policy grants no access to this field");
		if (explicit && opted_out)
			return op_deny(err, field_by_id(fid)->name, "consent",
			    "the person opted out of marketing on this channel");
		if (acc[fid] == ACCESS_NONE || opted_out)
			wanted &= ~(1u << fid);
	}
	if ((rc = record_unwrap(ctx->keys, id, &r, ctx->dek)) != 0)
		return op_fail(err, rc, "record", NULL);

	if (all_docs) {
		for (unsigned i = 0; i < r.ndocs; i++)
			slots[i] = r.doc_slots[i];
		nslots = r.ndocs;
	}
	for (unsigned i = 0; i < nslots; i++)
		if (record_doc_index(&r, slots[i]) < 0)
			return op_fail(err, VAULT_E_NOT_FOUND, "documents",
			    "the record has no document in that slot");

	unsigned n = 0;
	uint32_t given = 0, as_tokens = 0;
	for (unsigned i = 0; i < r.nfields; i++) {
		uint8_t fid = r.fields[i].id;
		if (!((wanted >> fid) & 1))
			continue;
		n++;
		given |= 1u << fid;
		if (acc[fid] == ACCESS_TOKEN)
			as_tokens |= 1u << fid;
	}
	/* Documents count as a field: their deletion must reach the reader too. */
	if (with_docs && nslots > 0)
		given |= 1u << 0;
	if ((rc = recipients_note(ctx, id, &r, given, as_tokens)) != 0) {
		sodium_memzero(ctx->dek, DEK_BYTES);
		return op_fail(err, rc, "record", NULL);
	}
	msgpack_pack_map(pk, with_docs ? 6 : 5);
	mp_cstr(pk, "marketing_opt_out");
	msgpack_pack_map(pk, 3);
	mp_cstr(pk, "email");
	(r.flags & CONSENT_OPT_OUT_EMAIL) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "phone");
	(r.flags & CONSENT_OPT_OUT_PHONE) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "mail");
	(r.flags & CONSENT_OPT_OUT_MAIL) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "created");
	msgpack_pack_uint64(pk, r.created);
	mp_cstr(pk, "updated");
	msgpack_pack_uint64(pk, r.updated);
	mp_cstr(pk, "fields");
	msgpack_pack_map(pk, n);
	for (unsigned i = 0; i < r.nfields && rc == 0; i++) {
		size_t off, len;
		if (!((wanted >> r.fields[i].id) & 1))
			continue;
		uint8_t fid = r.fields[i].id;
		trace_field(&ctx->trace, fid);
		mp_cstr(pk, field_by_id(fid)->name);
		if (acc[fid] == ACCESS_TOKEN) {
			/* A token in place of the value: the client never sees it. */
			char tok[TOKEN_MAX_LEN + 1];
			token_opaque_make(ctx->keys->tokens, id, fid, r.gen[fid], tok);
			mp_cstr(pk, tok);
			continue;
		}
		buf_clear(&ctx->scratch);
		rc = record_open_field(ctx->dek, id, &r, &r.fields[i], &ctx->scratch, &off, &len);
		if (rc == 0 && acc[fid] == ACCESS_MASKED) {
			char masked[FIELD_VALUE_MAX];
			size_t mlen = mask_field(fid, (const char *)ctx->scratch.data + off, len,
			    masked, sizeof(masked));
			mp_str(pk, masked, mlen);
			sodium_memzero(masked, sizeof(masked));
		} else if (rc == 0) {
			mp_str(pk, ctx->scratch.data + off, len);
		}
	}
	/* Even how many documents a record holds is for document readers only. */
	int doc_reader = policy_access(req->client, req->purpose, FIELD_DOCUMENT_SLOT) == ACCESS_PLAIN;
	mp_cstr(pk, "document_slots");
	msgpack_pack_array(pk, doc_reader ? r.ndocs : 0);
	for (unsigned i = 0; doc_reader && i < r.ndocs; i++)
		msgpack_pack_uint16(pk, r.doc_slots[i]);
	if (with_docs && rc == 0) {
		trace_field(&ctx->trace, FIELD_MAX + 1);
		mp_cstr(pk, "documents");
		msgpack_pack_array(pk, nslots);
		for (unsigned i = 0; i < nslots && rc == 0; i++) {
			struct document_view d;
			size_t off;
			buf_clear(&ctx->scratch);
			rc = document_open(ctx->svc, ctx->txn, ctx->dek, id, &r,
			    slots[i], &ctx->scratch, &off);
			if (rc == 0)
				rc = document_parse(ctx->scratch.data + off,
				    ctx->scratch.len - off, slots[i], &d);
			if (rc == 0) {
				msgpack_pack_map(pk, 4);
				mp_cstr(pk, "slot");
				msgpack_pack_uint16(pk, d.slot);
				mp_cstr(pk, "name");
				mp_str(pk, d.name, d.name_len);
				mp_cstr(pk, "type");
				mp_str(pk, d.type, d.type_len);
				mp_cstr(pk, "data");
				mp_bin(pk, d.data, d.data_len);
			}
		}
	}
	sodium_memzero(ctx->dek, DEK_BYTES);
	buf_clear(&ctx->scratch);
	if (rc != 0)
		return op_fail(err, rc, "record", NULL);
	return 0;
}

const struct op op_read = {
	.name = "read",
	.kind = OP_READ,
	.needs_purpose = 1,
	.args = args,
	.read = read_op,
};
