/*
 * update.c - "update": set or clear fields, add or remove documents; all or
 * nothing. Every field set or cleared gets a new generation, which makes
 * the opaque tokens issued for its old value stale and drops its card and
 * deterministic index entries.
 */
#include <stdlib.h>

#include <sodium.h>
#include <string.h>

#include "common/msg.h"
#include "vault/crypto/seal.h"
#include "vault/policy.h"
#include "vault/privacy/blind.h"
#include "vault/privacy/hold.h"
#include "vault/record/access.h"
#include "vault/record/input.h"
#include "vault/record/tokens.h"
#include "vault/record/write.h"
#include "vault/services.h"
#include "args.h"
#include "op.h"

static const char *const args[] = {
	"record", "set", "clear", "add_documents", "remove_documents",
	"marketing_opt_out", "child", NULL
};

struct update_state {
	uint64_t id;
	enum vault_purpose purpose; /* a hold allows only its own */
	struct record_input *in;
};

static void
free_state(void *state)
{
	struct update_state *st = state;
	if (st == NULL)
		return;
	input_free(st->in);
	free(st);
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	const msgpack_object_map *set = NULL, *consent = NULL;
	const msgpack_object_array *clear = NULL, *add = NULL, *rm = NULL;
	struct update_state *st = calloc(1, sizeof(*st));
	int rc;

	if (st == NULL || (st->in = input_new()) == NULL) {
		free_state(st);
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	}
	st->purpose = req->purpose;
	if ((rc = arg_record(ctx->keys, req, &st->id, err)) != 0)
		goto fail;
	if ((rc = msg_get_map(req->args, "set", 0, &set)) != 0 ||
	    (rc = msg_get_array(req->args, "clear", 0, &clear)) != 0 ||
	    (rc = msg_get_array(req->args, "add_documents", 0, &add)) != 0 ||
	    (rc = msg_get_array(req->args, "remove_documents", 0, &rm)) != 0 ||
	    (rc = msg_get_map(req->args, "marketing_opt_out", 0, &consent)) != 0) {
		op_fail(err, rc, NULL, "update takes set (map), clear, add_documents and "
		    "remove_documents (arrays)");
		goto fail;
	}
	struct record_input *in = st->in;
	int child = -1;
	if ((rc = msg_get_bool(req->args, "child", 0, &child)) != 0) {
		op_fail(err, rc, "child", "child is a bool");
		goto fail;
	}
	if (child != -1 && !req->client->may_privacy) {
		rc = op_deny(err, "child", req->client->name,
		    "only a privacy client (privacy = true) flags a child's record");
		goto fail;
	}
	if (child != -1) {
		in->child_set = 1;
		in->child_value = (uint8_t)(child != 0);
	}
	if ((set && (rc = input_parse_fields(ctx, "set", set, in, err)) != 0) ||
	    (clear && (rc = input_parse_clear(clear, in, err)) != 0) ||
	    (add && (rc = input_parse_documents(ctx, "add_documents", add, in, err)) != 0) ||
	    (rm && (rc = input_parse_remove(rm, in, err)) != 0) ||
	    (consent && (rc = input_parse_consent(consent, in, err)) != 0) ||
	    (rc = arg_check_writes(req, in, err)) != 0)
		goto fail;
	if (in->nvalues + in->nclear + in->ndocs + in->nremove == 0 && in->consent_set == 0 &&
	    !in->child_set) {
		rc = op_fail(err, VAULT_E_EMPTY, NULL, "update changes nothing");
		goto fail;
	}
	for (unsigned i = 0; i < in->nclear; i++)
		for (unsigned j = 0; j < in->nvalues; j++)
			if (in->clear[i] == in->values[j].id) {
				rc = op_fail(err, VAULT_E_INVALID_VALUE,
				    field_by_id(in->clear[i])->name, "field both set and cleared");
				goto fail;
			}
	*state = st;
	return 0;
fail:
	free_state(st);
	return rc;
}

static int
is_cleared(const struct record_input *in, uint8_t id)
{
	for (unsigned i = 0; i < in->nclear; i++)
		if (in->clear[i] == id)
			return 1;
	return 0;
}

static const struct input_value *
new_value(const struct record_input *in, uint8_t id)
{
	for (unsigned i = 0; i < in->nvalues; i++)
		if (in->values[i].id == id)
			return &in->values[i];
	return NULL;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk,
    struct op_error *err)
{
	struct update_state *st = state;
	struct record_input *in = st->in;
	struct vault_services *svc = ctx->svc;
	struct record r;
	uint64_t id = st->id;
	int rc;

	if (trace_record(&ctx->trace, id) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	for (unsigned i = 0; i < in->nvalues; i++)
		trace_field(&ctx->trace, in->values[i].id);
	for (unsigned i = 0; i < in->nclear; i++)
		trace_field(&ctx->trace, in->clear[i]);
	if (in->ndocs || in->nremove)
		trace_field(&ctx->trace, FIELD_MAX + 1);
	for (unsigned f = 1; f <= FIELD_MAX; f++)
		if (in->consent_set & consent_channel_of(f))
			trace_field(&ctx->trace, f);
	/* Every refusal comes before the first write. */
	if ((rc = record_load(svc, ctx->keys, ctx->txn, id, &r, &ctx->copy)) != 0)
		return op_fail(err, rc, "record", NULL);
	/* A hold keeps the record as it is, except for the hold's own purpose
	 * (error correction is maintenance). */
	if ((r.flags & RECORD_FLAG_HELD) && (rc = hold_allows(ctx->txn, svc, id,
	    st->purpose, (uint64_t)ctx->now)) != 0)
		return op_fail(err, rc, "record",
		    "the record is under a hold: changed only for the hold's purpose");
	for (unsigned i = 0; i < in->nremove; i++)
		if (record_doc_index(&r, in->remove[i]) < 0)
			return op_fail(err, VAULT_E_NOT_FOUND, "remove_documents",
			    "the record has no document in that slot");
	if ((size_t)r.ndocs + in->ndocs > (size_t)svc->cfg.max_documents_per_record + in->nremove)
		return op_fail(err, VAULT_E_LIMIT, "add_documents",
		    "more documents than a record may hold");
	if (r.next_slot + in->ndocs >= 0xffff)
		return op_fail(err, VAULT_E_LIMIT, "add_documents", "document slots exhausted");
	if ((rc = record_unwrap(ctx->keys, id, &r, ctx->dek)) != 0)
		return op_fail(err, rc, "record", NULL);

	/* Merge the stored fields with the changes, in ascending id order. */
	size_t need = 0;
	for (unsigned i = 0; i < in->nvalues; i++)
		need += in->values[i].len + SEAL_OVERHEAD;
	buf_clear(&ctx->ct);
	if ((rc = buf_reserve(&ctx->ct, need)) != 0)
		return op_fail(err, rc, NULL, NULL);
	struct record_field merged[FIELD_MAX];
	unsigned n = 0, changed = 0;
	uint8_t *ct = ctx->ct.data;
	for (uint8_t fid = 1; fid <= FIELD_MAX; fid++) {
		const struct record_field *old = record_field_get(&r, fid);
		const struct input_value *v = new_value(in, fid);
		if (v != NULL) {
			/* The new generation is in the ciphertext's AD: an
			 * older ciphertext of this field no longer opens. */
			r.gen[fid]++;
			struct seal_place pl = { id, r.dek_version, fid, 0, r.gen[fid] };
			seal_field(ctx->dek, &pl, in->data.data + v->off, v->len, ct);
			merged[n].id = fid;
			merged[n].ct = ct;
			merged[n].ct_len = v->len + SEAL_OVERHEAD;
			ct += v->len + SEAL_OVERHEAD;
			n++;
			changed |= 1u << fid;
		} else if (old != NULL && is_cleared(in, fid)) {
			r.gen[fid]++;
			changed |= 1u << fid;
		} else if (old != NULL) {
			merged[n++] = *old;
		}
	}
	ctx->ct.len = need;
	if (n == 0 && (size_t)r.ndocs + in->ndocs <= in->nremove)
		return op_fail(err, VAULT_E_EMPTY, NULL,
		    "the update would leave the record empty; delete it instead");
	memcpy(r.fields, merged, n * sizeof(merged[0]));
	r.nfields = (uint8_t)n;

	struct blind_keys bk = { ctx->dek, r.dek_version, r.kek_epoch };
	for (uint8_t fid = 1; fid <= FIELD_MAX; fid++) {
		if (!((changed >> fid) & 1))
			continue;
		if ((rc = tokens_forget_field(ctx, id, &r, fid)) != 0)
			return op_fail(err, rc, NULL, NULL);
		const struct input_value *v = new_value(in, fid);
		if ((rc = blind_set_field(ctx, id, &bk, fid,
		    v ? (const char *)in->data.data + v->off : NULL, v ? v->len : 0)) != 0)
			return op_fail(err, rc, NULL, NULL);
	}
	for (unsigned i = 0; i < in->nremove; i++)
		if ((rc = document_delete(ctx, id, &r, in->remove[i])) != 0 &&
		    rc != VAULT_E_NOT_FOUND) /* the same slot listed twice */
			return op_fail(err, rc, NULL, NULL);
	uint16_t first_slot = r.next_slot ? r.next_slot : 1;
	for (unsigned i = 0; i < in->ndocs; i++)
		if ((rc = document_store(ctx, id, &r, in->data.data + in->docs[i].off,
		    in->docs[i].len)) != 0)
			return op_fail(err, rc, NULL, NULL);
	r.flags = (uint8_t)((r.flags & ~in->consent_set) | in->consent_value);
	if (in->child_set)
		r.flags = (uint8_t)(in->child_value ? r.flags | RECORD_FLAG_CHILD :
		    r.flags & ~RECORD_FLAG_CHILD);
	r.updated = (uint64_t)ctx->now;
	if ((rc = record_store(ctx, id, &r, 0)) != 0)
		return op_fail(err, rc, NULL, NULL);

	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "fields_changed");
	msgpack_pack_uint32(pk, (uint32_t)__builtin_popcount(changed));
	mp_cstr(pk, "documents_added");
	msgpack_pack_array(pk, in->ndocs);
	for (unsigned i = 0; i < in->ndocs; i++)
		msgpack_pack_uint16(pk, (uint16_t)(first_slot + i));
	return 0;
}

const struct op op_update = {
	.name = "update",
	.kind = OP_WRITE,
	.needs_purpose = 1,
	.shares_txn = 1,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free_state,
};
