/*
 * recipients.c - the sealed set of a record's recipients (recipients.h).
 *
 * Plaintext of the set: per client, u8 name length, the name, u32 BE
 * field bits, u32 BE token bits. Sealed with XChaCha20-Poly1305 under the
 * record's data key; AD 'R', 1, record id, data key version, so an entry
 * moved to another record or kept across a new data key does not open.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/bytes.h"
#include "vault/crypto/seal.h"
#include "vault/ctx.h"
#include "vault/store/store.h"
#include "vault/store/record_codec.h"
#include "recipients.h"

#define AD_BYTES 14
#define ENTRY_MAX (1 + POLICY_NAME_MAX + 8)
#define PLAIN_MAX (RECIPIENTS_MAX * ENTRY_MAX)

static void
seal_ad(uint8_t ad[AD_BYTES], uint64_t id, uint32_t dek_version)
{
	ad[0] = 'R';
	ad[1] = 1;
	store_put_id(ad + 2, id);
	be32_put(ad + 10, dek_version);
}

static int
decode(const uint8_t *p, size_t len, struct recipient_set *out)
{
	out->n = 0;
	while (len > 0) {
		size_t nl = p[0];
		if (nl == 0 || nl >= POLICY_NAME_MAX || len < 1 + nl + 8 ||
		    out->n == RECIPIENTS_MAX)
			return VAULT_E_CRYPTO;
		struct recipient *r = &out->r[out->n++];
		memcpy(r->name, p + 1, nl);
		r->name[nl] = '\0';
		r->fields = be32_get(p + 1 + nl);
		r->tokens = be32_get(p + 5 + nl);
		p += 1 + nl + 8;
		len -= 1 + nl + 8;
	}
	return 0;
}

static size_t
encode(const struct recipient_set *s, uint8_t *p)
{
	size_t n = 0;
	for (unsigned i = 0; i < s->n; i++) {
		size_t nl = strlen(s->r[i].name);
		p[n] = (uint8_t)nl;
		memcpy(p + n + 1, s->r[i].name, nl);
		be32_put(p + n + 1 + nl, s->r[i].fields);
		be32_put(p + n + 5 + nl, s->r[i].tokens);
		n += 1 + nl + 8;
	}
	return n;
}

int
recipients_load(struct store_txn *txn, uint64_t id, uint32_t dek_version,
    const uint8_t *dek, struct recipient_set *out)
{
	uint8_t kb[8], ad[AD_BYTES], plain[PLAIN_MAX];
	struct store_val k = { 8, kb }, v;
	unsigned long long n;
	int rc;

	out->n = 0;
	store_put_id(kb, id);
	rc = store_get(txn, STORE_RECIPIENTS, &k, &v);
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_error(rc);
	if (v.len < SEAL_OVERHEAD || v.len - SEAL_OVERHEAD > PLAIN_MAX)
		return VAULT_E_CRYPTO;
	seal_ad(ad, id, dek_version);
	const uint8_t *nonce = v.data;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &n, NULL,
	    nonce + SEAL_NONCE_BYTES, v.len - SEAL_NONCE_BYTES, ad, sizeof(ad), nonce, dek) != 0)
		return VAULT_E_CRYPTO;
	rc = decode(plain, (size_t)n, out);
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

int
recipients_store(struct store_txn *txn, uint64_t id, uint32_t dek_version,
    const uint8_t *dek, const struct recipient_set *s)
{
	uint8_t kb[8], ad[AD_BYTES], plain[PLAIN_MAX], out[SEAL_OVERHEAD + PLAIN_MAX];
	size_t n = encode(s, plain);
	int rc;

	store_put_id(kb, id);
	seal_ad(ad, id, dek_version);
	randombytes_buf(out, SEAL_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + SEAL_NONCE_BYTES, NULL, plain, n,
	    ad, sizeof(ad), NULL, out, dek);
	sodium_memzero(plain, sizeof(plain));
	struct store_val k = { 8, kb }, v = { SEAL_OVERHEAD + n, out };
	rc = store_put(txn, STORE_RECIPIENTS, &k, &v, 0);
	return rc ? store_error(rc) : 0;
}

int
recipients_add(struct recipient_set *s, const char *client, uint32_t fields,
    uint32_t tokens)
{
	size_t nl = strlen(client);
	if (nl == 0 || nl >= POLICY_NAME_MAX)
		return VAULT_E_INTERNAL;
	for (unsigned i = 0; i < s->n; i++) {
		struct recipient *r = &s->r[i];
		if (strcmp(r->name, client) != 0)
			continue;
		if ((r->fields | fields) == r->fields && (r->tokens | tokens) == r->tokens)
			return 0;
		r->fields |= fields;
		r->tokens |= tokens;
		return 1;
	}
	if (s->n == RECIPIENTS_MAX)
		return VAULT_E_LIMIT;
	struct recipient *r = &s->r[s->n++];
	memcpy(r->name, client, nl + 1);
	r->fields = fields;
	r->tokens = tokens;
	return 1;
}

int
recipients_forget(struct store_txn *txn, uint64_t id)
{
	uint8_t kb[8];
	store_put_id(kb, id);
	struct store_val k = { 8, kb };
	int rc = store_del(txn, STORE_RECIPIENTS, &k);
	return rc == STORE_NOTFOUND ? 0 : rc ? store_error(rc) : 0;
}

int
recipients_reseal(struct store_txn *txn, uint64_t id, uint32_t from_version,
    const uint8_t *from, uint32_t to_version, const uint8_t *to)
{
	struct recipient_set *s = malloc(sizeof(*s));
	int rc;
	if (s == NULL)
		return VAULT_E_NOMEM;
	if ((rc = recipients_load(txn, id, from_version, from, s)) == 0 && s->n > 0)
		rc = recipients_store(txn, id, to_version, to, s);
	free(s);
	return rc;
}

int
recipients_note(struct read_ctx *ctx, uint64_t id, const struct record *r,
    uint32_t fields, uint32_t tokens)
{
	struct recipient_set *s;
	int rc;

	if (fields == 0 || ctx->client == NULL)
		return 0;
	/* A repeat within the request (detokenize of several fields). */
	for (size_t i = 0; i < ctx->nnotes; i++)
		if (ctx->notes[i].id == id) {
			ctx->notes[i].fields |= fields;
			ctx->notes[i].tokens |= tokens;
			return 0;
		}
	if ((s = malloc(sizeof(*s))) == NULL)
		return VAULT_E_NOMEM;
	rc = recipients_load(ctx->txn, id, r->dek_version, ctx->dek, s);
	if (rc == 0)
		rc = recipients_add(s, ctx->client->name, fields, tokens);
	free(s);
	if (rc == 0)
		return 0; /* already recorded: no write */
	/* Changed, or full: the writer stores it, or refuses the read (fail
	 * closed, VAULT_E_LIMIT); anything else is the load's error. */
	if (rc != 1 && rc != VAULT_E_LIMIT)
		return rc;
	if (ctx->nnotes == ctx->capnotes) {
		size_t cap = ctx->capnotes ? ctx->capnotes * 2 : 8;
		struct recipient_note *p = realloc(ctx->notes, cap * sizeof(*p));
		if (p == NULL)
			return VAULT_E_NOMEM;
		ctx->notes = p;
		ctx->capnotes = cap;
	}
	ctx->notes[ctx->nnotes++] = (struct recipient_note){ id, fields, tokens };
	return 0;
}

/* As recipients_record; fresh: the record is new, its set starts empty. */
static int
record_in(struct write_ctx *ctx, uint64_t id, const struct record *r, const uint8_t *dek,
    const char *client, uint32_t fields, uint32_t tokens, int fresh)
{
	struct recipient_set *s;
	int rc;

	if (fields == 0 || client == NULL)
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return VAULT_E_NOMEM;
	rc = fresh ? 0 : recipients_load(ctx->txn, id, r->dek_version, dek, s);
	if (rc == 0 && (rc = recipients_add(s, client, fields, tokens)) == 1)
		rc = recipients_store(ctx->txn, id, r->dek_version, dek, s);
	free(s);
	return rc;
}

int
recipients_record(struct write_ctx *ctx, uint64_t id, const struct record *r,
    const uint8_t *dek, const char *client, uint32_t fields, uint32_t tokens)
{
	return record_in(ctx, id, r, dek, client, fields, tokens, 0);
}

int
recipients_record_new(struct write_ctx *ctx, uint64_t id, const struct record *r,
    const uint8_t *dek, const char *client, uint32_t fields, uint32_t tokens)
{
	return record_in(ctx, id, r, dek, client, fields, tokens, 1);
}
