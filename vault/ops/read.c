/*
 * read.c - "read": a record's fields (all or some) and, if asked, its
 * documents.
 */
#include <sodium.h>

#include "common/msg.h"
#include "vault/crypto/seal.h"
#include "vault/record/access.h"
#include "vault/record/input.h"
#include "vault/server.h"
#include "args.h"
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
	struct record r;

	if ((rc = arg_record(ctx->srv, req, &id, err)) != 0)
		return rc;
	if ((rc = msg_get_array(req->args, "fields", 0, &want)) != 0)
		return op_fail(err, rc, "fields", "fields must be an array of field names");
	if ((rc = msg_get_bool(req->args, "documents", 0, &with_docs)) != 0)
		return op_fail(err, rc, "documents", "documents must be a boolean");
	if (want != NULL) {
		if (want->size > ctx->srv->cfg.max_fields_per_request)
			return op_fail(err, VAULT_E_LIMIT, "fields", NULL);
		for (uint32_t i = 0; i < want->size; i++) {
			const struct field_info *fi = input_field_name(&want->ptr[i]);
			if (fi == NULL)
				return op_fail(err, want->ptr[i].type == MSGPACK_OBJECT_STR ?
				    VAULT_E_UNKNOWN_FIELD : VAULT_E_PROTO_TYPE, "fields", NULL);
			wanted |= 1u << fi->id;
		}
	} else {
		wanted = ~0u;
	}

	if ((rc = record_load(ctx->srv, ctx->txn, id, &r, NULL)) != 0)
		return op_fail(err, rc, "record", NULL);
	if ((rc = record_unwrap(ctx->srv, id, &r, ctx->dek)) != 0)
		return op_fail(err, rc, "record", NULL);

	unsigned n = 0;
	for (unsigned i = 0; i < r.nfields; i++)
		n += (wanted >> r.fields[i].id) & 1;
	msgpack_pack_map(pk, with_docs ? 4 : 3);
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
		buf_clear(&ctx->scratch);
		rc = record_open_field(ctx->dek, id, &r, &r.fields[i], &ctx->scratch, &off, &len);
		if (rc == 0) {
			mp_cstr(pk, field_by_id(r.fields[i].id)->name);
			mp_str(pk, ctx->scratch.data + off, len);
		}
	}
	if (with_docs && rc == 0) {
		mp_cstr(pk, "documents");
		msgpack_pack_array(pk, r.ndocs);
		for (unsigned i = 0; i < r.ndocs && rc == 0; i++) {
			struct document_view d;
			size_t off;
			buf_clear(&ctx->scratch);
			rc = document_open(ctx->srv, ctx->txn, ctx->dek, id, &r,
			    r.doc_slots[i], &ctx->scratch, &off);
			if (rc == 0)
				rc = document_parse(ctx->scratch.data + off,
				    ctx->scratch.len - off, r.doc_slots[i], &d);
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
