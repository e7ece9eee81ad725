/*
 * detokenize.c - "detokenize": many field tokens resolved in one request,
 * each with its own answer. Every token is authenticated before any
 * storage lookup (token.h).
 *
 * The card and deterministic indexes map tags to record ids outside any
 * record, unauthenticated: an entry pointed at another record in the data
 * file would resolve a token to that record's value. So a record reached
 * through an index must itself (authenticated by its MAC) list the tag:
 * its card index key, or a deterministic entry for that field and tag.
 * Tokens that do not resolve (forged: BAD_TOKEN; authentic but unknown to
 * the deterministic or card index: NOT_FOUND) are counted per client against
 * token_failures_per_minute: card tokens carry only 3-4 MAC digits, so a
 * client could otherwise enumerate the card tokens of a known last four.
 * Past the limit the remaining tokens of the request, and every request of
 * the rest of the minute, answer VAULT_E_RATE_LIMITED unresolved, and the
 * first refusal raises ALERT_TOKEN_FAILURES (alert.h).
 */
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "vault/alert.h"
#include "vault/crypto/seal.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/policy.h"
#include "vault/privacy/hold.h"
#include "vault/record/access.h"
#include "vault/record/input.h"
#include "vault/record/mask.h"
#include "vault/record/tokens.h"
#include "vault/privacy/recipients.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { "tokens", NULL };

/* The record a deterministic tag belongs to: the first live one indexed. */
static int
det_lookup(struct read_ctx *ctx, const struct token_ref *ref, uint64_t *id,
    uint8_t *field)
{
	struct store_cursor *cur;
	uint8_t prefix[4 + TOKEN_TAG_BYTES];
	int rc = store_cursor_open(ctx->txn, STORE_DET_INDEX, &cur);
	if (rc != 0)
		return store_error(rc);
	/* The token's epoch first (record/tokens.h, DET_KEY_BYTES). */
	prefix[0] = (uint8_t)(ref->key_version >> 24);
	prefix[1] = (uint8_t)(ref->key_version >> 16);
	prefix[2] = (uint8_t)(ref->key_version >> 8);
	prefix[3] = (uint8_t)ref->key_version;
	memcpy(prefix + 4, ref->tag, TOKEN_TAG_BYTES);
	struct store_val k = { sizeof(prefix), prefix }, v;
	rc = store_cursor_get(cur, &k, &v, STORE_SET_RANGE);
	int result = VAULT_E_NOT_FOUND;
	if (rc == 0 && k.len == DET_KEY_BYTES && v.len == 1 &&
	    memcmp(k.data, prefix, sizeof(prefix)) == 0) {
		*id = store_get_id((const uint8_t *)k.data + sizeof(prefix));
		*field = *(const uint8_t *)v.data;
		result = 0;
	} else if (rc != 0 && rc != STORE_NOTFOUND) {
		result = store_error(rc);
	}
	store_cursor_close(cur);
	return result;
}

/*
 * A card token's record: its index key under each KEK epoch of the ring
 * (during a rotation an entry is under the old epoch until its record is
 * rewrapped). The key that found it goes to ref->tag, for index_vouched.
 */
static int
card_lookup(struct read_ctx *ctx, const msgpack_object *o, struct token_ref *ref,
    uint64_t *id)
{
	const struct token_keys *tk = ctx->keys->tokens;
	for (size_t i = 0; i < token_keys_nepochs(tk); i++) {
		(void)token_card_index_key(tk, token_keys_epoch_at(tk, i), o->via.str.ptr,
		    o->via.str.size, ref->tag);
		struct store_val k = { TOKEN_TAG_BYTES, ref->tag }, v;
		int rc = store_get(ctx->txn, STORE_CARD_INDEX, &k, &v);
		if (rc == STORE_NOTFOUND)
			continue;
		if (rc != 0)
			return store_error(rc);
		if (v.len != 8)
			return VAULT_E_CRYPTO;
		*id = store_get_id(v.data);
		return 0;
	}
	return VAULT_E_NOT_FOUND;
}

struct cache {
	uint64_t id;   /* record whose key is in ctx->dek; 0: none */
	struct record r;
};

/* Does authenticated record r vouch for the index entry that led to it? */
static int
index_vouched(const struct record *r, const struct token_ref *ref, uint8_t field)
{
	if (ref->type == TOKEN_CARD)
		return r->has_card_token &&
		    sodium_memcmp(r->card_index_key, ref->tag, TOKEN_TAG_BYTES) == 0;
	if (ref->type != TOKEN_DET)
		return 1;
	for (unsigned i = 0; i < r->ndet; i++)
		if (r->det[i].field == field && r->det[i].epoch == ref->key_version &&
		    sodium_memcmp(r->det[i].tag, ref->tag, TOKEN_TAG_BYTES) == 0)
			return 1;
	return 0;
}

/* Resolve one token; on success pack its answer with pk. */
/*
 * Resolve one token; on success pack its answer with pk. *guess is set when
 * the token is one a guesser would get wrong: forged (BAD_TOKEN), or
 * authentic but absent from the deterministic or card index (NOT_FOUND).
 */
static int
resolve(struct read_ctx *ctx, const struct request *req, struct cache *c,
    const msgpack_object *o, msgpack_packer *pk, const char **why, const char **rule,
    int *guess)
{
	struct token_ref ref;
	uint64_t id = 0;
	uint8_t field = 0;
	int rc;

	*why = NULL;
	if (o->type != MSGPACK_OBJECT_STR)
		return VAULT_E_PROTO_TYPE;
	if (token_parse(ctx->keys->tokens, o->via.str.ptr, o->via.str.size, &ref) != 0) {
		*guess = 1;
		if (ref.retired_epoch)
			*why = "deterministic token of a retired key epoch; ask for a new one";
		return VAULT_E_BAD_TOKEN;
	}
	switch (ref.type) {
	case TOKEN_OPAQUE:
		id = ref.record_id;
		field = ref.field;
		break;
	case TOKEN_DET:
		if ((rc = det_lookup(ctx, &ref, &id, &field)) != 0) {
			*guess = rc == VAULT_E_NOT_FOUND;
			*why = "no live record holds this value";
			return rc;
		}
		break;
	case TOKEN_CARD:
		/* The field is known before the lookup: a client that may not
		 * resolve card tokens learns nothing, not even which exist. */
		if (policy_access(req->client, req->purpose, FIELD_CARD_NUMBER) < ACCESS_MASKED) {
			*rule = policy_rule(req->client, req->purpose);
			*why = "the policy lets this client hold card tokens, not resolve them";
			return VAULT_E_DENIED;
		}
		if ((rc = card_lookup(ctx, o, &ref, &id)) != 0) {
			*guess = rc == VAULT_E_NOT_FOUND;
			*why = "card token unknown, or its record was deleted or changed";
			return rc;
		}
		field = FIELD_CARD_NUMBER;
		break;
	default:
		*why = "a record token is not a field token";
		return VAULT_E_TOKEN_KIND;
	}
	if (trace_record(&ctx->trace, id) != 0)
		return VAULT_E_NOMEM;
	trace_field(&ctx->trace, field);
	if (c->id != id) {
		c->id = 0;
		if ((rc = record_load(ctx->svc, ctx->keys, ctx->txn, id, &c->r, NULL)) != 0)
			return rc;
		if ((c->r.flags & RECORD_FLAG_HELD) && (rc = hold_allows(ctx->txn, ctx->svc,
		    id, req->purpose, (uint64_t)ctx->now)) != 0) {
			*why = "the record is under a hold: usable only for the hold's purpose";
			return rc;
		}
		if ((rc = record_unwrap(ctx->keys, id, &c->r, ctx->dek)) != 0)
			return rc;
		c->id = id;
	}
	if (!index_vouched(&c->r, &ref, field)) {
		/* The index and the record disagree: the data file was changed
		 * (a deleted record's entries go with it, in one transaction). */
		record_tampered(ctx->svc, ctx->keys, id);
		*why = "the token index and its record disagree";
		return VAULT_E_CRYPTO;
	}
	/* Policy and consent, before anything is decrypted. */
	enum access acc = policy_access(req->client, req->purpose, field);
	if (acc == ACCESS_NONE || acc == ACCESS_TOKEN) {
		*rule = policy_rule(req->client, req->purpose);
		*why = acc == ACCESS_NONE ? "the policy grants no access to this field" :
		    "the policy lets this client hold tokens of this field, not resolve them";
		return VAULT_E_DENIED;
	}
	if (req->purpose == VAULT_PURPOSE_MARKETING && (c->r.flags & consent_channel_of(field))) {
		*rule = "consent";
		*why = "the person opted out of marketing on this channel";
		return VAULT_E_DENIED;
	}
	const struct record_field *f = record_field_get(&c->r, field);
	if (ref.type == TOKEN_OPAQUE && c->r.gen[field] != ref.field_gen)
		return VAULT_E_STALE_TOKEN;
	if (ref.type == TOKEN_CARD && (!c->r.has_card_token ||
	    c->r.card_gen != c->r.gen[FIELD_CARD_NUMBER]))
		return VAULT_E_STALE_TOKEN;
	if (f == NULL)
		return VAULT_E_STALE_TOKEN;
	size_t off, len;
	buf_clear(&ctx->scratch);
	if ((rc = record_open_field(ctx->dek, id, &c->r, f, &ctx->scratch, &off, &len)) != 0)
		return rc;
	/* The value reaches this client: its deletion must too. */
	if ((rc = recipients_note(ctx, id, &c->r, 1u << field, 0)) != 0)
		return rc;
	msgpack_pack_map(pk, 3);
	mp_cstr(pk, "ok");
	msgpack_pack_true(pk);
	mp_cstr(pk, "field");
	mp_cstr(pk, field_by_id(field)->name);
	mp_cstr(pk, "value");
	if (acc == ACCESS_MASKED) {
		char masked[FIELD_VALUE_MAX];
		size_t mlen = mask_field(field, (const char *)ctx->scratch.data + off, len,
		    masked, sizeof(masked));
		mp_str(pk, masked, mlen);
		sodium_memzero(masked, sizeof(masked));
	} else {
		mp_str(pk, ctx->scratch.data + off, len);
	}
	buf_clear(&ctx->scratch);
	return 0;
}

static int
detokenize(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	const msgpack_object_array *tokens;
	struct cache c = { 0 };
	int rc;

	if ((rc = msg_get_array(req->args, "tokens", 1, &tokens)) != 0)
		return op_fail(err, rc, "tokens", "tokens must be an array of strings");
	if (tokens->size > ctx->svc->cfg.max_tokens_per_request)
		return op_fail(err, VAULT_E_LIMIT, "tokens", "more tokens than max_tokens_per_request");

	struct ratelimit *rl = &ctx->svc->token_fail_rl;
	uint32_t limit = ctx->svc->cfg.token_failures_per_minute;
	uint64_t key = ratelimit_key(req->client->name, strlen(req->client->name));
	int limited = 0;
	if (ratelimit_used(rl, key, ctx->now) >= limit) {
		/* Spent: refused before any token is looked at. */
		if (ratelimit_hit(rl, key, ctx->now, 1, limit) == RATELIMIT_OVER_FIRST)
			alert_raise(ctx->svc, ctx->keys, ALERT_TOKEN_FAILURES, req->client, req->uid);
		return op_fail(err, VAULT_E_RATE_LIMITED, "tokens",
		    "more tokens that did not resolve this minute than token_failures_per_minute");
	}

	msgpack_pack_map(pk, 1);
	mp_cstr(pk, "results");
	msgpack_pack_array(pk, tokens->size);
	for (uint32_t i = 0; i < tokens->size; i++) {
		const char *why = NULL, *rule = NULL;
		int guess = 0;
		rc = limited ? VAULT_E_RATE_LIMITED :
		    resolve(ctx, req, &c, &tokens->ptr[i], pk, &why, &rule, &guess);
		if (rc == 0)
			continue;
		if (guess) {
			enum ratelimit_verdict v = ratelimit_hit(rl, key, ctx->now, 1, limit);
			if (v == RATELIMIT_OVER_FIRST)
				alert_raise(ctx->svc, ctx->keys, ALERT_TOKEN_FAILURES, req->client,
				    req->uid);
			if (v != RATELIMIT_OK) {
				/* This answer too: the failure that crossed the limit
				 * must not tell the caller anything. */
				limited = 1;
				rc = VAULT_E_RATE_LIMITED;
				why = rule = NULL;
			}
		}
		if (rc == VAULT_E_RATE_LIMITED)
			why = "more tokens that did not resolve this minute than "
			    "token_failures_per_minute: not resolved";
		msgpack_pack_map(pk, rule ? 5 : 4);
		if (rule) {
			mp_cstr(pk, "rule");
			mp_cstr(pk, rule);
		}
		mp_cstr(pk, "ok");
		msgpack_pack_false(pk);
		mp_cstr(pk, "code");
		msgpack_pack_int(pk, rc);
		mp_cstr(pk, "name");
		mp_cstr(pk, vault_error_name(rc));
		mp_cstr(pk, "message");
		mp_cstr(pk, why ? why : vault_strerror(rc));
	}
	sodium_memzero(ctx->dek, DEK_BYTES);
	return 0;
}

const struct op op_detokenize = {
	.name = "detokenize",
	.kind = OP_READ,
	.needs_purpose = 1,
	.args = args,
	.read = detokenize,
};
