/*
 * blind.c - blind index tags and their entries (blind.h).
 */
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/bytes.h"
#include "keys/keyring.h"
#include "vault/crypto/seal.h"
#include "vault/ctx.h"
#include "vault/keyset.h"
#include "vault/log.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "blind.h"

#define KIND_MAX 255

int
blind_field_indexed(unsigned field)
{
	return field >= BLIND_FIRST_NAME && field <= BLIND_PHONE;
}

static int
is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char
lower(unsigned char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* Words: ASCII letters and digits lowercased, other ASCII bytes separate
 * words, bytes of multi-byte UTF-8 kept as they are (no Unicode folding). */
static int
canon_words(const char *in, size_t len, char *out, size_t cap, size_t *n)
{
	size_t o = 0;
	int sep = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x80 && !is_alnum(c)) {
			sep = o > 0;
			continue;
		}
		if (o + 2 > cap)
			return VAULT_E_INVALID_VALUE;
		if (sep)
			out[o++] = ' ';
		sep = 0;
		out[o++] = lower(c);
	}
	*n = o;
	return o > 0 ? 0 : VAULT_E_EMPTY;
}

static int
digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return n > 0;
}

static int
canon_date(const char *in, size_t len, char *out, size_t cap, size_t *n)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (len != 10 || cap < 10 || !digits(in, 4) || in[4] != '-' ||
	    !digits(in + 5, 2) || in[7] != '-' || !digits(in + 8, 2))
		return VAULT_E_INVALID_VALUE;
	int m = (in[5] - '0') * 10 + (in[6] - '0');
	int d = (in[8] - '0') * 10 + (in[9] - '0');
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return VAULT_E_INVALID_VALUE;
	memcpy(out, in, 10);
	*n = 10;
	return 0;
}

/* "12", "12.5", "12.50", "1,234.50" -> whole cents without leading zeros. */
static int
canon_amount(const char *in, size_t len, char *out, size_t cap, size_t *n)
{
	char d[24];
	size_t nd = 0, frac = 0;
	int dot = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == ',' && !dot)
			continue;
		if (c == '.' && !dot) {
			dot = 1;
			continue;
		}
		if (c < '0' || c > '9' || nd + 1 >= sizeof(d) - 2)
			return VAULT_E_INVALID_VALUE;
		if (dot && ++frac > 2)
			return VAULT_E_INVALID_VALUE;
		d[nd++] = c;
	}
	if (nd == 0 || (dot && frac == 0))
		return VAULT_E_INVALID_VALUE;
	while (frac++ < 2)
		d[nd++] = '0';
	size_t z = 0;
	while (z + 1 < nd && d[z] == '0')
		z++;
	if (nd - z > cap)
		return VAULT_E_INVALID_VALUE;
	memcpy(out, d + z, nd - z);
	*n = nd - z;
	return 0;
}

static size_t
drop_spaces(char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ')
			s[o++] = s[i];
	return o;
}

int
blind_canon(unsigned kind, const char *in, size_t len, char *out, size_t cap,
    size_t *out_len)
{
	int rc;

	switch (kind) {
	case BLIND_FIRST_NAME:
	case BLIND_LAST_NAME:
	case BLIND_POSTAL_ADDRESS:
		return canon_words(in, len, out, cap, out_len);
	case BLIND_TXN_REFERENCE:
		/* "A-1042", "a 1042" and "A1042" are the same order. */
		if ((rc = canon_words(in, len, out, cap, out_len)) == 0)
			*out_len = drop_spaces(out, *out_len);
		return rc;
	case BLIND_EMAIL:
		if (len == 0)
			return VAULT_E_EMPTY;
		if (len > cap)
			return VAULT_E_INVALID_VALUE;
		for (size_t i = 0; i < len; i++)
			out[i] = lower((unsigned char)in[i]);
		*out_len = len;
		return 0;
	case BLIND_PHONE:
		if (len == 0)
			return VAULT_E_EMPTY;
		if (len > cap)
			return VAULT_E_INVALID_VALUE;
		memcpy(out, in, len);
		*out_len = len;
		return 0;
	case BLIND_TXN_DATE:
		return canon_date(in, len, out, cap, out_len);
	case BLIND_TXN_AMOUNT:
		return canon_amount(in, len, out, cap, out_len);
	default:
		return VAULT_E_INVALID_VALUE;
	}
}

/* The tag subkey of KEK epoch: derived per call (a BLAKE2b of 32 bytes;
 * caching it per epoch in the key set saved too little to matter). */
static int
tag_key(const struct key_set *ks, uint32_t epoch, uint8_t sub[crypto_generichash_KEYBYTES])
{
	const uint8_t *kek = keyring_key(ks->ring, KEYRING_KEK, epoch);
	if (kek == NULL)
		return VAULT_E_KEYRING;
	crypto_kdf_derive_from_key(sub, crypto_generichash_KEYBYTES, 1, "vblind02", kek);
	return 0;
}

static void
tag_with(const uint8_t sub[crypto_generichash_KEYBYTES], unsigned kind, const char *canon,
    size_t len, uint8_t tag[BLIND_TAG_BYTES])
{
	crypto_generichash_state st;
	uint8_t kb = (uint8_t)kind;

	crypto_generichash_init(&st, sub, crypto_generichash_KEYBYTES, BLIND_TAG_BYTES);
	crypto_generichash_update(&st, &kb, 1);
	crypto_generichash_update(&st, (const uint8_t *)canon, len);
	crypto_generichash_final(&st, tag, BLIND_TAG_BYTES);
	sodium_memzero(&st, sizeof(st));
}

int
blind_tag(const struct key_set *ks, uint32_t epoch, unsigned kind,
    const char *canon, size_t len, uint8_t tag[BLIND_TAG_BYTES])
{
	uint8_t sub[crypto_generichash_KEYBYTES];
	int rc;

	if ((rc = tag_key(ks, epoch, sub)) != 0)
		return rc;
	tag_with(sub, kind, canon, len, tag);
	sodium_memzero(sub, sizeof(sub));
	return 0;
}

/* blind_record: key id + kind; value epoch, tag, nonce, sealed canon. */
#define RKEY_BYTES 9
#define IKEY_BYTES 25
#define RVAL_HEAD (4 + BLIND_TAG_BYTES)
#define RVAL_MIN (RVAL_HEAD + SEAL_OVERHEAD)
#define RVAL_MAX (RVAL_MIN + BLIND_CANON_MAX)
#define AD_BYTES 15 /* "B" version(1) record(8) dekv(4) kind(1) */

static void
record_key(uint8_t k[RKEY_BYTES], uint64_t id, unsigned kind)
{
	store_put_id(k, id);
	k[8] = (uint8_t)kind;
}

static void
index_key(uint8_t k[IKEY_BYTES], uint64_t id, unsigned kind, const uint8_t *tag)
{
	k[0] = (uint8_t)kind;
	memcpy(k + 1, tag, BLIND_TAG_BYTES);
	store_put_id(k + 17, id);
}

/* The domain byte 'B' and the length keep this apart from field and wrap AD. */
static void
seal_ad(uint8_t ad[AD_BYTES], uint64_t id, uint32_t dek_version, unsigned kind)
{
	ad[0] = 'B';
	ad[1] = 1;
	store_put_id(ad + 2, id);
	be32_put(ad + 10, dek_version);
	ad[14] = (uint8_t)kind;
}

/* Both entries of (id, kind): the index one, and the record one with the
 * canonical value sealed (sealed: already sealed under bk, nonce first,
 * as a rewrap that keeps the data key finds it; NULL: seal canon here). */
static int
put_entry(struct write_ctx *ctx, uint64_t id, const struct blind_keys *bk, unsigned kind,
    const uint8_t tag[BLIND_TAG_BYTES], const char *canon, size_t len, const uint8_t *sealed)
{
	uint8_t rk[RKEY_BYTES], ik[IKEY_BYTES], ad[AD_BYTES], ep[4];
	uint8_t rv[RVAL_MAX];
	int rc;

	if (len > BLIND_CANON_MAX || bk->dek == NULL)
		return VAULT_E_INTERNAL;
	record_key(rk, id, kind);
	index_key(ik, id, kind, tag);
	be32_put(ep, bk->epoch);
	memcpy(rv, ep, 4);
	memcpy(rv + 4, tag, BLIND_TAG_BYTES);
	uint8_t *nonce = rv + RVAL_HEAD;
	if (sealed != NULL) {
		memcpy(nonce, sealed, SEAL_OVERHEAD + len);
	} else {
		seal_ad(ad, id, bk->dek_version, kind);
		randombytes_buf(nonce, SEAL_NONCE_BYTES);
		crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + SEAL_NONCE_BYTES, NULL,
		    (const uint8_t *)canon, len, ad, sizeof(ad), NULL, nonce, bk->dek);
	}
	struct store_val k1 = { RKEY_BYTES, rk }, v1 = { RVAL_MIN + len, rv };
	struct store_val k2 = { IKEY_BYTES, ik }, v2 = { 4, ep };
	if ((rc = store_put(ctx->txn, STORE_BLIND_RECORD, &k1, &v1, 0)) != 0 ||
	    (rc = store_put(ctx->txn, STORE_BLIND_INDEX, &k2, &v2, 0)) != 0)
		return store_error(rc);
	return 0;
}

/* Remove record id's entries of kind (kind 0: all kinds). */
static int
forget(struct write_ctx *ctx, uint64_t id, unsigned kind)
{
	struct store_cursor *c;
	uint8_t kb[RKEY_BYTES];
	size_t plen = kind ? RKEY_BYTES : 8;
	int rc;

	if ((rc = store_cursor_open(ctx->txn, STORE_BLIND_RECORD, &c)) != 0)
		return store_error(rc);
	record_key(kb, id, kind);
	struct store_val k = { plen, kb }, v;
	rc = store_cursor_get(c, &k, &v, STORE_SET_RANGE);
	while (rc == 0 && k.len == RKEY_BYTES && memcmp(k.data, kb, plen) == 0) {
		/* A damaged value still goes; its index entry, if it can be named. */
		if (v.len >= RVAL_HEAD) {
			uint8_t ik[IKEY_BYTES];
			index_key(ik, id, ((const uint8_t *)k.data)[8],
			    (const uint8_t *)v.data + 4);
			struct store_val key = { IKEY_BYTES, ik };
			rc = store_del(ctx->txn, STORE_BLIND_INDEX, &key);
			if (rc != 0 && rc != STORE_NOTFOUND)
				break;
		}
		if ((rc = store_cursor_del(c)) != 0)
			break;
		/* After a delete the cursor already sits on the next entry,
		 * and STORE_NEXT returns that one. */
		rc = store_cursor_get(c, &k, &v, STORE_NEXT);
	}
	store_cursor_close(c);
	return rc == 0 || rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

int
blind_set(struct write_ctx *ctx, uint64_t id, const struct blind_keys *bk,
    unsigned kind, const char *canon, size_t len)
{
	uint8_t tag[BLIND_TAG_BYTES];
	int rc;

	if (kind == 0 || kind > KIND_MAX)
		return VAULT_E_INTERNAL;
	if ((rc = forget(ctx, id, kind)) != 0 || canon == NULL)
		return rc;
	if ((rc = blind_tag(ctx->keys, bk->epoch, kind, canon, len, tag)) != 0)
		return rc;
	return put_entry(ctx, id, bk, kind, tag, canon, len, NULL);
}

int
blind_field_tag(const struct key_set *ks, uint32_t epoch, unsigned field,
    const char *value, size_t len, uint8_t tag[BLIND_TAG_BYTES], int *have)
{
	char canon[BLIND_CANON_MAX];
	size_t n;
	int rc = 0;

	*have = 0;
	if (blind_field_indexed(field) &&
	    blind_canon(field, value, len, canon, sizeof(canon), &n) == 0 &&
	    (rc = blind_tag(ks, epoch, field, canon, n, tag)) == 0)
		*have = 1;
	sodium_memzero(canon, sizeof(canon));
	return rc;
}

/* tag: made by the worker already (NULL: make it here). */
static int
add(struct write_ctx *ctx, uint64_t id, const struct blind_keys *bk, unsigned field,
    const uint8_t *tag, const char *value, size_t len)
{
	char canon[BLIND_CANON_MAX];
	uint8_t t[BLIND_TAG_BYTES];
	size_t n;
	int rc = 0;

	/* A value with nothing to match on (punctuation only) gets no entry. */
	if (!blind_field_indexed(field) ||
	    blind_canon(field, value, len, canon, sizeof(canon), &n) != 0)
		return 0;
	if (tag == NULL && (rc = blind_tag(ctx->keys, bk->epoch, field, canon, n, t)) == 0)
		tag = t;
	if (rc == 0)
		rc = put_entry(ctx, id, bk, field, tag, canon, n, NULL);
	sodium_memzero(canon, sizeof(canon));
	return rc;
}

int
blind_add_tag(struct write_ctx *ctx, uint64_t id, const struct blind_keys *bk,
    unsigned field, const uint8_t tag[BLIND_TAG_BYTES], const char *value, size_t len)
{
	return add(ctx, id, bk, field, tag, value, len);
}

int
blind_add_field(struct write_ctx *ctx, uint64_t id, const struct blind_keys *bk,
    unsigned field, const char *value, size_t len)
{
	return add(ctx, id, bk, field, NULL, value, len);
}

int
blind_set_field(struct write_ctx *ctx, uint64_t id, const struct blind_keys *bk,
    unsigned field, const char *value, size_t len)
{
	int rc;

	if (!blind_field_indexed(field))
		return 0;
	if ((rc = forget(ctx, id, field)) != 0 || value == NULL)
		return rc;
	return add(ctx, id, bk, field, NULL, value, len);
}

int
blind_forget_record(struct write_ctx *ctx, uint64_t id)
{
	return forget(ctx, id, 0);
}

/* A record's entries, read with one cursor pass before any is rewritten
 * (a record has at most 8 kinds; more only if damaged: another pass). */
#define REWRAP_BATCH 8

struct held_entry {
	unsigned kind;
	size_t len;
	uint8_t v[RVAL_MAX];
};

/* Up to REWRAP_BATCH entries of record id of kinds >= kind. */
static int
read_entries(struct write_ctx *ctx, uint64_t id, unsigned kind, struct held_entry *e,
    size_t *n)
{
	struct store_cursor *c;
	uint8_t kb[RKEY_BYTES];
	int rc;

	*n = 0;
	if ((rc = store_cursor_open(ctx->txn, STORE_BLIND_RECORD, &c)) != 0)
		return store_error(rc);
	record_key(kb, id, kind);
	struct store_val k = { RKEY_BYTES, kb }, v;
	for (rc = store_cursor_get(c, &k, &v, STORE_SET_RANGE);
	    rc == 0 && *n < REWRAP_BATCH && k.len == RKEY_BYTES &&
	    memcmp(k.data, kb, 8) == 0;
	    rc = store_cursor_get(c, &k, &v, STORE_NEXT)) {
		e[*n].kind = ((const uint8_t *)k.data)[8];
		/* Too long to be ours: kept as damaged (length 0). */
		e[*n].len = v.len <= RVAL_MAX ? v.len : 0;
		memcpy(e[*n].v, v.data, e[*n].len);
		(*n)++;
	}
	store_cursor_close(c);
	return rc == 0 || rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

/* Re-derive one entry under sub (to's epoch), sealing it under to. */
static int
rewrap_one(struct write_ctx *ctx, uint64_t id, const struct blind_keys *from,
    const struct blind_keys *to, const uint8_t *sub, const struct held_entry *e)
{
	uint8_t ad[AD_BYTES], tag[BLIND_TAG_BYTES];
	char canon[BLIND_CANON_MAX];
	unsigned long long n = 0;
	const uint8_t *nonce = e->v + RVAL_HEAD;
	int rc;

	seal_ad(ad, id, from->dek_version, e->kind);
	if (e->len < RVAL_MIN ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)canon, &n, NULL,
	    nonce + SEAL_NONCE_BYTES, e->len - RVAL_HEAD - SEAL_NONCE_BYTES, ad, sizeof(ad),
	    nonce, from->dek) != 0) {
		log_warn("blind index: record %llu: an entry that does not open is dropped",
		    (unsigned long long)id);
		return forget(ctx, id, e->kind);
	}
	tag_with(sub, e->kind, canon, n, tag);
	/* The old index entry goes first: the tag may be the same. */
	uint8_t ik[IKEY_BYTES];
	index_key(ik, id, e->kind, e->v + 4);
	struct store_val key = { IKEY_BYTES, ik };
	rc = store_del(ctx->txn, STORE_BLIND_INDEX, &key);
	if (rc != 0 && rc != STORE_NOTFOUND)
		rc = store_error(rc);
	else if (from->dek == to->dek && from->dek_version == to->dek_version)
		/* The same data key (a rotation's rewrap): the sealed value
		 * stays as it is, only its tag and epoch change. */
		rc = put_entry(ctx, id, to, e->kind, tag, canon, n, nonce);
	else
		rc = put_entry(ctx, id, to, e->kind, tag, canon, n, NULL);
	sodium_memzero(canon, sizeof(canon));
	return rc;
}

int
blind_rewrap(struct write_ctx *ctx, uint64_t id, const struct blind_keys *from,
    const struct blind_keys *to)
{
	struct held_entry e[REWRAP_BATCH];
	uint8_t sub[crypto_generichash_KEYBYTES];
	unsigned kind = 0;
	size_t n;
	int rc;

	/* One subkey for all of the record's entries. */
	if ((rc = tag_key(ctx->keys, to->epoch, sub)) != 0)
		return rc;
	do {
		if ((rc = read_entries(ctx, id, kind, e, &n)) != 0)
			break;
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = rewrap_one(ctx, id, from, to, sub, &e[i]);
		if (n > 0)
			kind = e[n - 1].kind + 1;
	} while (rc == 0 && n == REWRAP_BATCH && kind <= KIND_MAX);
	sodium_memzero(sub, sizeof(sub));
	sodium_memzero(e, sizeof(e));
	return rc;
}

int
blind_lookup(const struct store *s, struct store_txn *txn, unsigned kind,
    const uint8_t tag[BLIND_TAG_BYTES], size_t limit,
    int (*fn)(void *arg, uint64_t id), void *arg)
{
	struct store_cursor *c;
	uint8_t kb[17];
	size_t n = 0;
	int rc;

	kb[0] = (uint8_t)kind;
	memcpy(kb + 1, tag, BLIND_TAG_BYTES);
	if ((rc = store_cursor_open(txn, STORE_BLIND_INDEX, &c)) != 0)
		return store_error(rc);
	struct store_val k = { 17, kb }, v;
	rc = store_cursor_get(c, &k, &v, STORE_SET_RANGE);
	while (rc == 0 && n < limit && k.len == IKEY_BYTES && memcmp(k.data, kb, 17) == 0) {
		int r = fn(arg, store_get_id((const uint8_t *)k.data + 17));
		if (r != 0) {
			store_cursor_close(c);
			return r;
		}
		n++;
		rc = store_cursor_get(c, &k, &v, STORE_NEXT);
	}
	store_cursor_close(c);
	return rc == 0 || rc == STORE_NOTFOUND ? 0 : store_error(rc);
}
