/*
 * blind.c - blind index tags and their entries (blind.h).
 */
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/ops/op.h"
#include "vault/server.h"
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

int
blind_tag(const struct key_set *ks, uint32_t version, unsigned kind,
    const char *canon, size_t len, uint8_t tag[BLIND_TAG_BYTES])
{
	const uint8_t *ik = keyring_key(ks->ring, KEYRING_INDEX, version);
	uint8_t sub[crypto_generichash_KEYBYTES];
	crypto_generichash_state st;
	uint8_t kb = (uint8_t)kind;

	if (ik == NULL)
		return VAULT_E_KEYRING;
	crypto_kdf_derive_from_key(sub, sizeof(sub), 1, "vblind01", ik);
	crypto_generichash_init(&st, sub, sizeof(sub), BLIND_TAG_BYTES);
	crypto_generichash_update(&st, &kb, 1);
	crypto_generichash_update(&st, (const uint8_t *)canon, len);
	crypto_generichash_final(&st, tag, BLIND_TAG_BYTES);
	sodium_memzero(sub, sizeof(sub));
	sodium_memzero(&st, sizeof(st));
	return 0;
}

/* blind_record key: id, kind, tag. */
static void
record_key(uint8_t k[25], uint64_t id, unsigned kind, const uint8_t *tag)
{
	store_put_id(k, id);
	k[8] = (uint8_t)kind;
	if (tag != NULL)
		memcpy(k + 9, tag, BLIND_TAG_BYTES);
}

/* Remove record id's entries of kind (kind 0: all kinds). */
static int
forget(struct write_ctx *ctx, uint64_t id, unsigned kind)
{
	struct store *s = &ctx->srv->store;
	MDB_cursor *c;
	uint8_t kb[25];
	int rc;

	if ((rc = mdb_cursor_open(ctx->txn, s->blind_record, &c)) != 0)
		return store_error(rc);
	record_key(kb, id, kind, NULL);
	MDB_val k = { kind ? 9 : 8, kb }, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 25 && memcmp(k.mv_data, kb, kind ? 9 : 8) == 0) {
		uint8_t ik[25];
		const uint8_t *rk = k.mv_data;
		ik[0] = rk[8];
		memcpy(ik + 1, rk + 9, BLIND_TAG_BYTES);
		memcpy(ik + 17, rk, 8);
		MDB_val key = { 25, ik };
		rc = mdb_del(ctx->txn, s->blind_index, &key, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		/* After a delete the cursor already sits on the next entry,
		 * and MDB_NEXT returns that one. */
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_error(rc);
}

/* fresh: record id is new in this transaction, with no entries to remove. */
static int
set(struct write_ctx *ctx, uint64_t id, unsigned kind, const char *canon,
    size_t len, int fresh)
{
	uint8_t tag[BLIND_TAG_BYTES];
	uint32_t v = keyring_current(ctx->keys->ring, KEYRING_INDEX);
	int rc;

	if (kind == 0 || kind > KIND_MAX)
		return VAULT_E_INTERNAL;
	if ((!fresh && (rc = forget(ctx, id, kind)) != 0) || canon == NULL)
		return fresh ? 0 : rc;
	if ((rc = blind_tag(ctx->keys, v, kind, canon, len, tag)) != 0)
		return rc;
	return blind_add_tag(ctx, id, kind, v, tag);
}

int
blind_add_tag(struct write_ctx *ctx, uint64_t id, unsigned kind, uint32_t version,
    const uint8_t tag[BLIND_TAG_BYTES])
{
	struct store *s = &ctx->srv->store;
	uint8_t rk[25], ik[25], ver[4];
	int rc;

	for (int i = 0; i < 4; i++)
		ver[i] = (uint8_t)(version >> (24 - 8 * i));
	record_key(rk, id, kind, tag);
	ik[0] = (uint8_t)kind;
	memcpy(ik + 1, tag, BLIND_TAG_BYTES);
	store_put_id(ik + 17, id);
	MDB_val k1 = { 25, rk }, k2 = { 25, ik }, val = { 4, ver };
	if ((rc = mdb_put(ctx->txn, s->blind_record, &k1, &val, 0)) != 0 ||
	    (rc = mdb_put(ctx->txn, s->blind_index, &k2, &val, 0)) != 0)
		return store_error(rc);
	return 0;
}

int
blind_field_tag(const struct key_set *ks, uint32_t version, unsigned field,
    const char *value, size_t len, uint8_t tag[BLIND_TAG_BYTES], int *have)
{
	char canon[BLIND_CANON_MAX];
	size_t n;
	int rc = 0;

	*have = 0;
	if (blind_field_indexed(field) &&
	    blind_canon(field, value, len, canon, sizeof(canon), &n) == 0 &&
	    (rc = blind_tag(ks, version, field, canon, n, tag)) == 0)
		*have = 1;
	sodium_memzero(canon, sizeof(canon));
	return rc;
}

int
blind_set(struct write_ctx *ctx, uint64_t id, unsigned kind, const char *canon,
    size_t len)
{
	return set(ctx, id, kind, canon, len, 0);
}

static int
set_field(struct write_ctx *ctx, uint64_t id, unsigned field,
    const char *value, size_t len, int fresh)
{
	char canon[BLIND_CANON_MAX];
	size_t n;
	int rc;

	if (!blind_field_indexed(field))
		return 0;
	if (value == NULL)
		return set(ctx, id, field, NULL, 0, fresh);
	rc = blind_canon(field, value, len, canon, sizeof(canon), &n);
	if (rc == 0)
		rc = set(ctx, id, field, canon, n, fresh);
	else /* a value with nothing to match on (punctuation only) */
		rc = set(ctx, id, field, NULL, 0, fresh);
	sodium_memzero(canon, sizeof(canon));
	return rc;
}

int
blind_set_field(struct write_ctx *ctx, uint64_t id, unsigned field,
    const char *value, size_t len)
{
	return set_field(ctx, id, field, value, len, 0);
}

int
blind_add_field(struct write_ctx *ctx, uint64_t id, unsigned field,
    const char *value, size_t len)
{
	return set_field(ctx, id, field, value, len, 1);
}

int
blind_forget_record(struct write_ctx *ctx, uint64_t id)
{
	return forget(ctx, id, 0);
}

int
blind_lookup(const struct store *s, MDB_txn *txn, unsigned kind,
    const uint8_t tag[BLIND_TAG_BYTES], size_t limit,
    int (*fn)(void *arg, uint64_t id), void *arg)
{
	MDB_cursor *c;
	uint8_t kb[17];
	size_t n = 0;
	int rc;

	kb[0] = (uint8_t)kind;
	memcpy(kb + 1, tag, BLIND_TAG_BYTES);
	if ((rc = mdb_cursor_open(txn, s->blind_index, &c)) != 0)
		return store_error(rc);
	MDB_val k = { 17, kb }, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && n < limit && k.mv_size == 25 && memcmp(k.mv_data, kb, 17) == 0) {
		int r = fn(arg, store_get_id((const uint8_t *)k.mv_data + 17));
		if (r != 0) {
			mdb_cursor_close(c);
			return r;
		}
		n++;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_error(rc);
}
