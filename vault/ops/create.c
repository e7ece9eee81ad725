/*
 * create.c - "create": store a new record, return its token and any field
 * tokens asked for with it.
 */
#include <sodium.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/crypto/seal.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/policy.h"
#include "vault/privacy/blind.h"
#include "vault/privacy/recipients.h"
#include "vault/record/access.h"
#include "vault/record/input.h"
#include "vault/record/tokens.h"
#include "vault/record/write.h"
#include "vault/services.h"
#include "args.h"
#include "op.h"

static const char *const args[] = {
	"fields", "documents", "tokens", "marketing_opt_out", "child", NULL
};

_Static_assert(INPUT_TAG_BYTES == BLIND_TAG_BYTES, "record_input holds blind tags");
_Static_assert(FIELD_MAX <= 16, "blind_have has a bit per value");

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	const msgpack_object_map *fields = NULL;
	const msgpack_object_array *docs = NULL, *tokens = NULL;
	const msgpack_object_map *consent = NULL;
	struct record_input *in = input_new();
	int rc;

	if (in == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = msg_get_map(req->args, "fields", 1, &fields)) != 0 ||
	    (rc = msg_get_array(req->args, "documents", 0, &docs)) != 0 ||
	    (rc = msg_get_array(req->args, "tokens", 0, &tokens)) != 0 ||
	    (rc = msg_get_map(req->args, "marketing_opt_out", 0, &consent)) != 0) {
		op_fail(err, rc, NULL, "create takes fields and marketing_opt_out (maps), "
		    "documents and tokens (arrays)");
		goto fail;
	}
	int child = 0;
	if ((rc = msg_get_bool(req->args, "child", 0, &child)) != 0) {
		op_fail(err, rc, "child", "child is a bool");
		goto fail;
	}
	if (child && !req->client->may_privacy) {
		rc = op_deny(err, "child", req->client->name,
		    "only a privacy client (privacy = true) flags a child's record");
		goto fail;
	}
	in->child_value = (uint8_t)(child != 0);
	if ((rc = input_parse_fields(ctx, "fields", fields, in, err)) != 0 ||
	    (docs && (rc = input_parse_documents(ctx, "documents", docs, in, err)) != 0) ||
	    (tokens && (rc = input_parse_tokens(ctx, tokens, in, err)) != 0) ||
	    (consent && (rc = input_parse_consent(consent, in, err)) != 0) ||
	    (rc = arg_check_writes(req, in, err)) != 0 ||
	    (rc = arg_check_tokens(req, in, 0, err)) != 0)
		goto fail;
	in->token_domain = req->client->token_domain;
	in->client = req->client->name;
	if (in->nvalues == 0 && in->ndocs == 0) {
		rc = op_fail(err, VAULT_E_EMPTY, "fields", "a record needs a field or a document");
		goto fail;
	}
	struct plain_values vals = { 0 };
	for (unsigned i = 0; i < in->nvalues; i++)
		vals.p[in->values[i].id] = in->data.data + in->values[i].off;
	if ((rc = tokens_check(in->tokens, in->ntokens, &vals, err)) != 0 ||
	    (rc = arg_token_budget(ctx, req, in, err)) != 0)
		goto fail;
	/* Blind index tags are hashed here, off the single writer thread,
	 * under the epoch the record will most likely get. */
	in->blind_version = keyring_current(ctx->keys->ring, KEYRING_KEK);
	for (unsigned i = 0; i < in->nvalues; i++) {
		int have = 0;
		if ((rc = blind_field_tag(ctx->keys, in->blind_version, in->values[i].id,
		    (const char *)in->data.data + in->values[i].off, in->values[i].len,
		    in->blind_tag[i], &have)) != 0) {
			op_fail(err, rc, NULL, NULL);
			goto fail;
		}
		if (have)
			in->blind_have |= (uint16_t)(1u << i);
	}
	*state = in;
	return 0;
fail:
	input_free(in);
	return rc;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk,
    struct op_error *err)
{
	struct record_input *in = state;
	struct record r = { 0 };
	struct plain_values vals = { 0 };
	uint8_t card_ct[CARD_CT_BYTES];
	char tok[TOKEN_MAX_LEN + 1];
	uint64_t id = (*ctx->next_id)++;
	int rc;

	if (trace_record(&ctx->trace, id) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	for (unsigned i = 0; i < in->nvalues; i++)
		trace_field(&ctx->trace, in->values[i].id);
	if (in->ndocs)
		trace_field(&ctx->trace, FIELD_MAX + 1);

	r.flags = (uint8_t)(in->consent_value | (in->child_value ? RECORD_FLAG_CHILD : 0));
	r.dek_version = 1;
	r.kek_epoch = keyring_current(ctx->keys->ring, KEYRING_KEK);
	r.created = r.updated = (uint64_t)ctx->now;
	randombytes_buf(ctx->dek, DEK_BYTES);
	wrap_dek(keyring_key(ctx->keys->ring, KEYRING_KEK, r.kek_epoch), r.kek_epoch,
	    id, r.dek_version, ctx->dek, r.wrapped_dek);

	/* Seal every value into one scratch block sized up front, so the
	 * pointers kept in r stay valid. */
	size_t need = 0;
	for (unsigned i = 0; i < in->nvalues; i++)
		need += in->values[i].len + SEAL_OVERHEAD;
	buf_clear(&ctx->ct);
	if ((rc = buf_reserve(&ctx->ct, need)) != 0)
		return op_fail(err, rc, NULL, NULL);
	uint8_t *ct = ctx->ct.data;
	for (unsigned i = 0; i < in->nvalues; i++) {
		const struct input_value *v = &in->values[i];
		r.gen[v->id] = 1;
		struct seal_place pl = { id, r.dek_version, v->id, 0, r.gen[v->id] };
		seal_field(ctx->dek, &pl, in->data.data + v->off, v->len, ct);
		r.fields[i].id = v->id;
		r.fields[i].ct = ct;
		r.fields[i].ct_len = v->len + SEAL_OVERHEAD;
		vals.p[v->id] = in->data.data + v->off;
		vals.len[v->id] = v->len;
		ct += v->len + SEAL_OVERHEAD;
	}
	r.nfields = in->nvalues;
	ctx->ct.len = need;
	/*
	 * Blind indexes of the identifying fields, for privacy requests, under
	 * the record's epoch: the tags prepare made, unless a rotation made
	 * another epoch current since. The values are sealed here (data key).
	 */
	struct blind_keys bk = { ctx->dek, r.dek_version, r.kek_epoch };
	for (unsigned i = 0; i < in->nvalues; i++) {
		const struct input_value *v = &in->values[i];
		const char *val = (const char *)in->data.data + v->off;
		rc = 0;
		if (r.kek_epoch != in->blind_version)
			rc = blind_add_field(ctx, id, &bk, v->id, val, v->len);
		else if (in->blind_have & (1u << i))
			rc = blind_add_tag(ctx, id, &bk, v->id, in->blind_tag[i], val, v->len);
		if (rc != 0)
			return op_fail(err, rc, NULL, NULL);
	}

	r.next_slot = 1;
	for (unsigned i = 0; i < in->ndocs; i++) {
		if ((rc = document_store(ctx, id, &r, in->data.data + in->docs[i].off,
		    in->docs[i].len)) != 0)
			return op_fail(err, rc, NULL, NULL);
	}

	/* Result: {"record": token, "tokens": [...]} */
	token_record_make(ctx->keys->tokens, id, tok);
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "record");
	mp_cstr(pk, tok);
	mp_cstr(pk, "tokens");
	if ((rc = tokens_issue(ctx, id, &r, ctx->dek, in->tokens, in->ntokens,
	    in->token_domain, &vals, card_ct, pk, err)) != 0)
		return rc;

	/*
	 * The client that sent the values holds them, and the tokens it asked
	 * for: a deletion reaches it as it reaches any other recipient, and its
	 * own reads of them stay reads (no write to note it on first read).
	 */
	uint32_t fields = in->ndocs ? 1u : 0, opaque = 0;
	for (unsigned i = 0; i < in->nvalues; i++)
		fields |= 1u << in->values[i].id;
	for (unsigned i = 0; i < in->ntokens; i++)
		if (in->tokens[i].kind == VAULT_TOKEN_OPAQUE)
			opaque |= 1u << in->tokens[i].field;
	if ((rc = recipients_record_new(ctx, id, &r, ctx->dek, in->client, fields, opaque)) != 0)
		return op_fail(err, rc, NULL, NULL);
	if ((rc = record_store(ctx, id, &r, STORE_APPEND)) != 0)
		return op_fail(err, rc, NULL, NULL);
	return 0;
}

static void
free_state(void *state)
{
	input_free(state);
}

const struct op op_create = {
	.name = "create",
	.kind = OP_WRITE,
	.needs_purpose = 1,
	.shares_txn = 1,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free_state,
};
