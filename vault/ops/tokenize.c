/*
 * tokenize.c - "tokenize": field tokens for an existing record.
 */
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "common/msg.h"
#include "vault/record/access.h"
#include "vault/record/input.h"
#include "vault/record/tokens.h"
#include "vault/record/write.h"
#include "vault/services.h"
#include "args.h"
#include "vault/policy.h"
#include "vault/privacy/hold.h"
#include "vault/privacy/recipients.h"
#include "op.h"

static const char *const args[] = { "record", "tokens", NULL };

struct tokenize_state {
	enum vault_purpose purpose; /* a hold allows only its own */
	char client[POLICY_NAME_MAX]; /* a recipient of the tokens (recipients.h) */
	uint64_t id;
	struct record_input *in;
};

static void
free_state(void *state)
{
	struct tokenize_state *st = state;
	if (st == NULL)
		return;
	input_free(st->in);
	free(st);
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	const msgpack_object_array *tokens = NULL;
	struct tokenize_state *st = calloc(1, sizeof(*st));
	int rc;

	if (st == NULL || (st->in = input_new()) == NULL) {
		free_state(st);
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	}
	st->purpose = req->purpose;
	snprintf(st->client, sizeof(st->client), "%s", req->client->name);
	if ((rc = arg_record(ctx->keys, req, &st->id, err)) != 0)
		goto fail;
	if ((rc = msg_get_array(req->args, "tokens", 1, &tokens)) != 0) {
		op_fail(err, rc, "tokens", "tokens must be an array of {field, kind}");
		goto fail;
	}
	if ((rc = input_parse_tokens(ctx, tokens, st->in, err)) != 0)
		goto fail;
	/* Tokens of stored values: deterministic and card ones need plain
	 * access or a join grant, else masked access would become an equality
	 * oracle (args.h). */
	if ((rc = arg_check_writes(req, st->in, err)) != 0 ||
	    (rc = arg_check_tokens(req, st->in, 1, err)) != 0)
		goto fail;
	if (st->in->ntokens == 0) {
		rc = op_fail(err, VAULT_E_EMPTY, "tokens", "no tokens asked for");
		goto fail;
	}
	if ((rc = arg_token_budget(ctx, req, st->in, err)) != 0)
		goto fail;
	st->in->token_domain = req->client->token_domain;
	*state = st;
	return 0;
fail:
	free_state(st);
	return rc;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk,
    struct op_error *err)
{
	struct tokenize_state *st = state;
	struct record_input *in = st->in;
	struct plain_values vals = { 0 };
	struct record r;
	uint8_t card_ct[CARD_CT_BYTES];
	int rc, indexed = 0;

	if (trace_record(&ctx->trace, st->id) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	for (unsigned i = 0; i < in->ntokens; i++)
		trace_field(&ctx->trace, in->tokens[i].field);
	if ((rc = record_load(ctx->svc, ctx->keys, ctx->txn, st->id, &r, &ctx->copy)) != 0)
		return op_fail(err, rc, "record", NULL);
	if ((r.flags & RECORD_FLAG_HELD) && (rc = hold_allows(ctx->txn, ctx->svc, st->id,
	    st->purpose, (uint64_t)ctx->now)) != 0)
		return op_fail(err, rc, "record",
		    "the record is under a hold: usable only for the hold's purpose");
	if ((rc = record_unwrap(ctx->keys, st->id, &r, ctx->dek)) != 0)
		return op_fail(err, rc, "record", NULL);

	/* Card and deterministic tokens need the plaintext; opaque ones don't. */
	size_t offs[FIELD_MAX + 1] = { 0 };
	buf_clear(&ctx->doc);
	for (unsigned i = 0; i < r.nfields; i++) {
		const struct record_field *f = &r.fields[i];
		vals.p[f->id] = (const uint8_t *)""; /* present */
		for (unsigned j = 0; j < in->ntokens; j++) {
			if (in->tokens[j].field != f->id || in->tokens[j].kind == VAULT_TOKEN_OPAQUE)
				continue;
			size_t len;
			if ((rc = record_open_field(ctx->dek, st->id, &r, f, &ctx->doc,
			    &offs[f->id], &len)) != 0)
				return op_fail(err, rc, "record", NULL);
			vals.len[f->id] = len;
			indexed = 1;
			break;
		}
	}
	/* Pointers only now: the buffer may have moved while it grew. */
	for (unsigned i = 0; i < r.nfields; i++)
		if (vals.len[r.fields[i].id] != 0)
			vals.p[r.fields[i].id] = ctx->doc.data + offs[r.fields[i].id];
	if ((rc = tokens_check(in->tokens, in->ntokens, &vals, err)) != 0)
		return rc;

	msgpack_pack_map(pk, 1);
	mp_cstr(pk, "tokens");
	if ((rc = tokens_issue(ctx, st->id, &r, ctx->dek, in->tokens, in->ntokens,
	    in->token_domain, &vals, card_ct, pk, err)) != 0)
		return rc;
	if (indexed && (rc = record_store(ctx, st->id, &r, 0)) != 0)
		return op_fail(err, rc, NULL, NULL);
	/* Opaque tokens are named in a deletion notice; the others by field. */
	uint32_t fields = 0, opaque = 0;
	for (unsigned i = 0; i < in->ntokens; i++) {
		fields |= 1u << in->tokens[i].field;
		if (in->tokens[i].kind == VAULT_TOKEN_OPAQUE)
			opaque |= 1u << in->tokens[i].field;
	}
	if ((rc = recipients_record(ctx, st->id, &r, ctx->dek, st->client, fields, opaque)) != 0)
		return op_fail(err, rc, NULL, NULL);
	sodium_memzero(card_ct, sizeof(card_ct));
	return 0;
}

const struct op op_tokenize = {
	.name = "tokenize",
	.kind = OP_WRITE,
	.needs_purpose = 1,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free_state,
};
