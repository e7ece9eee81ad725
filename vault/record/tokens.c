/*
 * tokens.c - a record's field tokens and their index entries, issued and
 * removed in the writer's transaction (see tokens.h).
 */
#include <string.h>

#include <sodium.h>

#include "common/bytes.h"
#include "common/msg.h"
#include "vault/crypto/seal.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/services.h"
#include "tokens.h"

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

/* det_index key: epoch first, so one epoch's entries form one range. */
static void
det_key(uint32_t epoch, const uint8_t tag[TOKEN_TAG_BYTES], uint64_t id,
    uint8_t key[DET_KEY_BYTES])
{
	be32_put(key, epoch);
	memcpy(key + 4, tag, TOKEN_TAG_BYTES);
	store_put_id(key + 4 + TOKEN_TAG_BYTES, id);
}

/* Drop r's det entry i and its index entry (the entry may be gone already:
 * a retire deletes its epoch's range, leaving the record's copy). */
static int
drop_det(struct write_ctx *ctx, uint64_t id, struct record *r, unsigned i)
{
	uint8_t kb[DET_KEY_BYTES];
	det_key(r->det[i].epoch, r->det[i].tag, id, kb);
	struct store_val k = { sizeof(kb), kb };
	int rc = store_del(ctx->txn, STORE_DET_INDEX, &k);
	if (rc != 0 && rc != STORE_NOTFOUND)
		return store_error(rc);
	r->det[i] = r->det[--r->ndet];
	return 0;
}

/* Drop r's det entries of KEK epochs the ring no longer holds. */
static int
drop_retired_det(struct write_ctx *ctx, uint64_t id, struct record *r)
{
	for (unsigned i = 0; i < r->ndet; i++) {
		if (token_keys_has_epoch(ctx->keys->tokens, r->det[i].epoch))
			continue;
		int rc = drop_det(ctx, id, r, i);
		if (rc != 0)
			return rc;
		i--;
	}
	return 0;
}

/*
 * Drop r's card token and its index entry, if that entry names record id:
 * a record erased without its MAC checked (record_delete) must not
 * remove another record's entry through a card_index_key put there.
 */
static int
forget_card_token(struct write_ctx *ctx, uint64_t id, struct record *r)
{
	if (!r->has_card_token)
		return 0;
	struct store_val k = { TOKEN_TAG_BYTES, r->card_index_key }, v;
	int rc = store_get(ctx->txn, STORE_CARD_INDEX, &k, &v);
	if (rc == 0 && v.len == 8 && store_get_id(v.data) == id)
		rc = store_del(ctx->txn, STORE_CARD_INDEX, &k);
	else if (rc == 0)
		rc = STORE_NOTFOUND; /* another record's entry: not ours to drop */
	if (rc != 0 && rc != STORE_NOTFOUND)
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
		if ((rc = drop_det(ctx, id, r, i)) != 0)
			return rc;
		i--;
	}
	return 0;
}

/*
 * Is a card index entry for token[0..len) under any KEK epoch of the ring?
 * During a rotation the records not yet rewrapped are indexed under the
 * old epoch: a new token must collide with neither.
 */
static int
card_in_use(struct write_ctx *ctx, const char *token, size_t len)
{
	const struct token_keys *tk = ctx->keys->tokens;
	for (size_t i = 0; i < token_keys_nepochs(tk); i++) {
		uint8_t key[TOKEN_TAG_BYTES];
		(void)token_card_index_key(tk, token_keys_epoch_at(tk, i), token, len, key);
		struct store_val k = { sizeof(key), key }, v;
		int rc = store_get(ctx->txn, STORE_CARD_INDEX, &k, &v);
		if (rc == 0)
			return 1;
		if (rc != STORE_NOTFOUND)
			return store_error(rc);
	}
	return 0;
}

/* The record's card token, reusing the one issued for this card if any. */
static int
card_token(struct write_ctx *ctx, uint64_t id, struct record *r,
    const uint8_t *dek, const struct plain_values *vals,
    uint8_t card_ct[CARD_CT_BYTES], char *out)
{
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
		if ((rc = card_in_use(ctx, out, len)) == 1)
			continue;
		if (rc != 0)
			return rc;
		(void)token_card_index_key(ctx->keys->tokens,
		    token_keys_epoch(ctx->keys->tokens), out, len, ikey);
		struct store_val k = { sizeof(ikey), ikey }, v = { sizeof(val), val };
		rc = store_put(ctx->txn, STORE_CARD_INDEX, &k, &v, STORE_NOOVERWRITE);
		if (rc == STORE_EXISTS)
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
 * The deterministic token of field in domain, indexed for this record under
 * the current KEK epoch. One index entry per (field, domain, epoch) the
 * record was asked for: the tag alone says nothing of the domain, so
 * lookups need no change.
 */
static int
det_token(struct write_ctx *ctx, uint64_t id, struct record *r, uint8_t field,
    const char *domain, const struct plain_values *vals, char *out)
{
	uint8_t tag[TOKEN_TAG_BYTES], kb[DET_KEY_BYTES];
	uint32_t epoch = token_keys_epoch(ctx->keys->tokens);
	int rc = token_det_make(ctx->keys->tokens, domain, domain ? strlen(domain) : 0,
	    field, (const char *)vals->p[field], vals->len[field], out, tag);
	if (rc != 0)
		return VAULT_E_INTERNAL; /* no domain: a caller forgot to set it */
	for (unsigned i = 0; i < r->ndet; i++)
		if (r->det[i].field == field && r->det[i].epoch == epoch &&
		    memcmp(r->det[i].tag, tag, sizeof(tag)) == 0)
			return 0; /* already indexed */
	/* Entries of retired epochs resolve nothing: make room first. */
	if ((rc = drop_retired_det(ctx, id, r)) != 0)
		return rc;
	if (r->ndet >= RECORD_MAX_DET)
		return VAULT_E_LIMIT; /* more domains and epochs in use than kept */
	det_key(epoch, tag, id, kb);
	struct store_val k = { sizeof(kb), kb }, v = { 1, &field };
	rc = store_put(ctx->txn, STORE_DET_INDEX, &k, &v, 0);
	if (rc != 0)
		return store_error(rc);
	r->det[r->ndet].field = field;
	r->det[r->ndet].epoch = epoch;
	memcpy(r->det[r->ndet].tag, tag, sizeof(tag));
	r->ndet++;
	return 0;
}

int
tokens_rekey(struct write_ctx *ctx, uint64_t id, struct record *r,
    const uint8_t *dek, uint32_t epoch)
{
	int rc;
	if ((rc = drop_retired_det(ctx, id, r)) != 0)
		return rc;
	if (!r->has_card_token)
		return 0;
	/* The card token itself, from its sealed copy: its old index key
	 * cannot be turned into the new one without it. */
	char tok[CARD_MAX_DIGITS + 1];
	uint8_t ikey[TOKEN_TAG_BYTES], val[8];
	struct seal_place pl = { id, r->dek_version, FIELD_CARD_TOKEN, 0, 0 };
	size_t len = r->card_ct_len - SEAL_OVERHEAD;
	if (r->card_ct_len < SEAL_OVERHEAD || len > CARD_MAX_DIGITS ||
	    open_field(dek, &pl, r->card_ct, r->card_ct_len, (uint8_t *)tok) != 0)
		return VAULT_E_CRYPTO;
	rc = token_card_index_key(ctx->keys->tokens, epoch, tok, len, ikey);
	sodium_memzero(tok, sizeof(tok));
	if (rc != 0)
		return VAULT_E_INTERNAL; /* the target epoch is in the ring */
	if (sodium_memcmp(ikey, r->card_index_key, sizeof(ikey)) == 0)
		return 0; /* issued under this epoch already */
	store_put_id(val, id);
	struct store_val k = { sizeof(ikey), ikey }, v = { sizeof(val), val };
	rc = store_put(ctx->txn, STORE_CARD_INDEX, &k, &v, STORE_NOOVERWRITE);
	if (rc == STORE_EXISTS)
		/* Another record's entry for the same token: the file was
		 * changed (issue checks every epoch for a token in use). */
		return VAULT_E_CRYPTO;
	if (rc != 0)
		return store_error(rc);
	/* The old entry, only if it names this record (forget_card_token). */
	struct store_val ok = { TOKEN_TAG_BYTES, r->card_index_key }, ov;
	rc = store_get(ctx->txn, STORE_CARD_INDEX, &ok, &ov);
	if (rc == 0 && ov.len == 8 && store_get_id(ov.data) == id)
		rc = store_del(ctx->txn, STORE_CARD_INDEX, &ok);
	if (rc != 0 && rc != STORE_NOTFOUND)
		return store_error(rc);
	memcpy(r->card_index_key, ikey, sizeof(ikey));
	return 0;
}

int
tokens_retire_epoch(struct write_ctx *ctx, struct store_txn *txn, uint32_t epoch,
    uint64_t *deleted)
{
	const struct token_keys *tk = ctx->keys->tokens;
	struct store_cursor *cur;
	uint8_t kb[4];
	uint32_t next = 0;
	int rc = store_cursor_open(txn, STORE_DET_INDEX, &cur);
	*deleted = 0;
	if (rc != 0)
		return store_error(rc);
	/*
	 * The epoch's range, and any other epoch's the ring does not hold (a
	 * restored backup can bring back entries of an epoch retired since):
	 * seek each epoch's first entry; keep the ring's other epochs. The
	 * range is sought again after each delete: what a cursor points at
	 * after deleting the last item differs across LMDB versions.
	 */
	for (;;) {
		be32_put(kb, next);
		struct store_val k = { sizeof(kb), kb }, v;
		rc = store_cursor_get(cur, &k, &v, STORE_SET_RANGE);
		if (rc != 0 || k.len < 4)
			break;
		const uint8_t *p = k.data;
		uint32_t e = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (e != epoch && token_keys_has_epoch(tk, e)) {
			if (e == UINT32_MAX)
				break;
			next = e + 1; /* kept: on to the next epoch */
			continue;
		}
		if ((rc = store_cursor_del(cur)) != 0)
			break;
		(*deleted)++;
		next = e;
	}
	store_cursor_close(cur);
	return rc == 0 || rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

int
tokens_det_count(struct store_txn *txn, enum store_table det_index, uint32_t epoch, uint64_t *count)
{
	struct store_cursor *cur;
	uint8_t kb[4];
	int rc = store_cursor_open(txn, det_index, &cur);
	*count = 0;
	if (rc != 0)
		return store_error(rc);
	be32_put(kb, epoch);
	struct store_val k = { sizeof(kb), kb }, v;
	for (rc = store_cursor_get(cur, &k, &v, STORE_SET_RANGE);
	    rc == 0 && k.len >= 4 && memcmp(k.data, kb, 4) == 0;
	    rc = store_cursor_get(cur, &k, &v, STORE_NEXT))
		(*count)++;
	store_cursor_close(cur);
	return rc == 0 || rc == STORE_NOTFOUND ? 0 : store_error(rc);
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
