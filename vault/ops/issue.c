/*
 * issue.c - field tokens issued in the writer (see issue.h).
 */
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "vault/crypto/seal.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/server.h"
#include "issue.h"

int
tokens_check(const struct token_request *reqs, unsigned n,
    const struct plain_values *vals, struct op_error *err)
{
	for (unsigned i = 0; i < n; i++)
		if (vals->p[reqs[i].field] == NULL)
			return op_fail(err, VAULT_E_EMPTY, field_by_id(reqs[i].field)->name,
			    "the record has no value for this field");
	return 0;
}

static void
det_key(const uint8_t tag[TOKEN_TAG_BYTES], uint64_t id, uint8_t key[TOKEN_TAG_BYTES + 8])
{
	memcpy(key, tag, TOKEN_TAG_BYTES);
	store_put_id(key + TOKEN_TAG_BYTES, id);
}

/*
 * Drop r's card token and its index entry, if that entry names record id:
 * a record erased without its MAC checked (op_delete_record) must not
 * remove another record's entry through a card_index_key put there.
 */
static int
forget_card_token(struct write_ctx *ctx, uint64_t id, struct record *r)
{
	if (!r->has_card_token)
		return 0;
	MDB_val k = { TOKEN_TAG_BYTES, r->card_index_key }, v;
	int rc = mdb_get(ctx->txn, ctx->srv->store.card_index, &k, &v);
	if (rc == 0 && v.mv_size == 8 && store_get_id(v.mv_data) == id)
		rc = mdb_del(ctx->txn, ctx->srv->store.card_index, &k, NULL);
	else if (rc == 0)
		rc = MDB_NOTFOUND; /* another record's entry: not ours to drop */
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_error(rc);
	r->has_card_token = 0;
	return 0;
}

int
tokens_forget_field(struct write_ctx *ctx, uint64_t id, struct record *r,
    uint8_t field)
{
	int rc;
	if (field == FIELD_CARD_NUMBER && (rc = forget_card_token(ctx, id, r)) != 0)
		return rc;
	for (unsigned i = 0; i < r->ndet; i++) {
		if (r->det[i].field != field)
			continue;
		uint8_t kb[TOKEN_TAG_BYTES + 8];
		det_key(r->det[i].tag, id, kb);
		MDB_val k = { sizeof(kb), kb };
		rc = mdb_del(ctx->txn, ctx->srv->store.det_index, &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return store_error(rc);
		r->det[i] = r->det[--r->ndet];
		i--;
	}
	return 0;
}

/* The record's card token, reusing the one issued for this card if any. */
static int
card_token(struct write_ctx *ctx, uint64_t id, struct record *r,
    const uint8_t *dek, const struct plain_values *vals,
    uint8_t card_ct[CARD_CT_BYTES], char *out)
{
	struct server *srv = ctx->srv;
	struct seal_place pl = { id, r->dek_version, FIELD_CARD_TOKEN, 0, 0 };
	const char *card = (const char *)vals->p[FIELD_CARD_NUMBER];
	size_t len = vals->len[FIELD_CARD_NUMBER];
	int rc;

	if (r->has_card_token && r->card_gen == r->gen[FIELD_CARD_NUMBER] &&
	    r->card_ct_len == len + SEAL_OVERHEAD) {
		if (open_field(dek, &pl, r->card_ct, r->card_ct_len, (uint8_t *)out) != 0)
			return VAULT_E_CRYPTO;
		out[len] = '\0';
		return 0;
	}
	/* A stale card token (the card changed): drop only it, not the
	 * deterministic entries of the current card. */
	if ((rc = forget_card_token(ctx, id, r)) != 0)
		return rc;
	uint8_t ikey[TOKEN_TAG_BYTES], val[8];
	store_put_id(val, id);
	/* Draw until unused and unlike the card: 10^5+ choices per last four. */
	for (int attempt = 0; attempt < 64; attempt++) {
		token_card_make(ctx->keys->tokens, card, len, out);
		if (sodium_memcmp(out, card, len) == 0)
			continue;
		token_card_index_key(ctx->keys->tokens, out, len, ikey);
		MDB_val k = { sizeof(ikey), ikey }, v = { sizeof(val), val };
		rc = mdb_put(ctx->txn, srv->store.card_index, &k, &v, MDB_NOOVERWRITE);
		if (rc == MDB_KEYEXIST)
			continue;
		if (rc != 0)
			return store_error(rc);
		seal_field(dek, &pl, (const uint8_t *)out, len, card_ct);
		r->has_card_token = 1;
		memcpy(r->card_index_key, ikey, sizeof(ikey));
		r->card_gen = r->gen[FIELD_CARD_NUMBER];
		r->card_ct = card_ct;
		r->card_ct_len = (uint32_t)(len + SEAL_OVERHEAD);
		return 0;
	}
	return VAULT_E_INTERNAL;
}

/*
 * The deterministic token of field in domain, indexed for this record. One
 * index entry per (field, domain, token key version) the record was asked
 * for: the tag alone says nothing of the domain, so lookups need no change.
 */
static int
det_token(struct write_ctx *ctx, uint64_t id, struct record *r, uint8_t field,
    const char *domain, const struct plain_values *vals, char *out)
{
	uint8_t tag[TOKEN_TAG_BYTES], kb[TOKEN_TAG_BYTES + 8];
	int rc = token_det_make(ctx->keys->tokens, domain, domain ? strlen(domain) : 0,
	    field, (const char *)vals->p[field], vals->len[field], out, tag);
	if (rc != 0)
		return VAULT_E_INTERNAL; /* no domain: a caller forgot to set it */
	for (unsigned i = 0; i < r->ndet; i++)
		if (r->det[i].field == field && memcmp(r->det[i].tag, tag, sizeof(tag)) == 0)
			return 0; /* already indexed */
	if (r->ndet >= RECORD_MAX_DET)
		return VAULT_E_LIMIT; /* more token key versions in use than kept */
	det_key(tag, id, kb);
	MDB_val k = { sizeof(kb), kb }, v = { 1, &field };
	rc = mdb_put(ctx->txn, ctx->srv->store.det_index, &k, &v, 0);
	if (rc != 0)
		return store_error(rc);
	r->det[r->ndet].field = field;
	memcpy(r->det[r->ndet].tag, tag, sizeof(tag));
	r->ndet++;
	return 0;
}

int
tokens_issue(struct write_ctx *ctx, uint64_t id, struct record *r,
    const uint8_t *dek, const struct token_request *reqs, unsigned n,
    const char *domain, const struct plain_values *vals, uint8_t card_ct[CARD_CT_BYTES],
    msgpack_packer *pk, struct op_error *err)
{
	char tok[TOKEN_MAX_LEN + 1];
	msgpack_pack_array(pk, n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t field = reqs[i].field;
		int rc = 0;
		switch (reqs[i].kind) {
		case VAULT_TOKEN_OPAQUE:
			rc = token_opaque_make(ctx->keys->tokens, id, field, r->gen[field], tok);
			break;
		case VAULT_TOKEN_CARD:
			rc = card_token(ctx, id, r, dek, vals, card_ct, tok);
			break;
		case VAULT_TOKEN_DETERMINISTIC:
			rc = det_token(ctx, id, r, field, domain, vals, tok);
			break;
		default:
			rc = VAULT_E_INTERNAL;
		}
		if (rc != 0)
			return op_fail(err, rc, NULL, NULL);
		msgpack_pack_map(pk, 3);
		mp_cstr(pk, "field");
		mp_cstr(pk, field_by_id(field)->name);
		mp_cstr(pk, "kind");
		mp_cstr(pk, vault_token_kind_name(reqs[i].kind));
		mp_cstr(pk, "token");
		mp_cstr(pk, tok);
	}
	sodium_memzero(tok, sizeof(tok));
	return 0;
}
