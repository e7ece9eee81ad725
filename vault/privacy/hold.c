/*
 * hold.c - holds on records (hold.h).
 */
#include <string.h>

#include <vault/vault.h>

#include "vault/ctx.h"
#include "vault/record/access.h"
#include "vault/record/write.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "hold.h"
#include "privacy.h"
#include "secrets.h"

static const char *const purposes[] = {
	NULL, "transaction", "security", "error_correction", "legal", "internal",
};
#define NPURPOSES (sizeof(purposes) / sizeof(purposes[0]))
#define FIXED 27 /* format, purpose, record, placed, expires, name length */

const char *
hold_purpose_name(unsigned p)
{
	return p > 0 && p < NPURPOSES ? purposes[p] : "unknown";
}

unsigned
hold_purpose_from(const char *s, size_t len)
{
	for (unsigned i = 1; i < NPURPOSES; i++)
		if (strlen(purposes[i]) == len && memcmp(purposes[i], s, len) == 0)
			return i;
	return 0;
}

enum vault_purpose
hold_allowed_purpose(unsigned p)
{
	switch (p) {
	case HOLD_TRANSACTION: return VAULT_PURPOSE_TRANSACTIONAL;
	case HOLD_SECURITY: return VAULT_PURPOSE_SECURITY;
	case HOLD_LEGAL: return VAULT_PURPOSE_LEGAL;
	default: return VAULT_PURPOSE_MAINTENANCE; /* error correction, internal use */
	}
}

static void
put64(uint8_t *p, uint64_t v)
{
	store_put_id(p, v);
}

int
hold_encode(const struct hold *h, struct buf *out)
{
	size_t n = strnlen(h->client, sizeof(h->client) - 1);
	uint8_t fixed[FIXED];
	fixed[0] = 1;
	fixed[1] = h->purpose;
	put64(fixed + 2, h->record);
	put64(fixed + 10, h->placed_at);
	put64(fixed + 18, h->expires_at);
	fixed[26] = (uint8_t)n;
	int rc = buf_append(out, fixed, FIXED);
	if (rc == 0)
		rc = buf_append(out, h->client, n);
	if (rc == 0)
		rc = buf_append(out, h->reason, h->reason_len);
	return rc;
}

int
hold_decode(uint64_t id, const uint8_t *p, size_t len, struct hold *h)
{
	memset(h, 0, sizeof(*h));
	if (len < FIXED || p[0] != 1 || p[1] == 0 || p[1] >= NPURPOSES)
		return VAULT_E_CRYPTO;
	size_t n = p[26];
	if (n >= sizeof(h->client) || len < FIXED + n + SEALED_TEXT_OVERHEAD ||
	    memchr(p + FIXED, 0, n) != NULL)
		return VAULT_E_CRYPTO;
	h->id = id;
	h->purpose = p[1];
	h->record = store_get_id(p + 2);
	h->placed_at = store_get_id(p + 10);
	h->expires_at = store_get_id(p + 18);
	memcpy(h->client, p + FIXED, n);
	h->reason = p + FIXED + n;
	h->reason_len = len - FIXED - n;
	return 0;
}

int
hold_load(struct store_txn *txn, struct vault_services *svc, uint64_t id, struct hold *h)
{
	uint8_t kb[8];
	store_put_id(kb, id);
	struct store_val k = { 8, kb }, v;
	int rc = store_get(txn, STORE_HOLDS, &k, &v);
	if (rc == STORE_NOTFOUND)
		return VAULT_E_NOT_FOUND;
	if (rc != 0)
		return store_error(rc);
	return hold_decode(id, v.data, v.len, h);
}

int
hold_each_of_record(struct store_txn *txn, struct vault_services *svc, uint64_t record,
    int (*fn)(void *arg, const struct hold *h), void *arg)
{
	struct store_cursor *c;
	uint8_t kb[8];
	int rc;

	store_put_id(kb, record);
	if ((rc = store_cursor_open(txn, STORE_RECORD_HOLDS, &c)) != 0)
		return store_error(rc);
	struct store_val k = { 8, kb }, v;
	rc = store_cursor_get(c, &k, &v, STORE_SET_RANGE);
	while (rc == 0 && k.len == 16 && memcmp(k.data, kb, 8) == 0) {
		struct hold h;
		int r = hold_load(txn, svc, store_get_id((const uint8_t *)k.data + 8), &h);
		if (r == 0)
			r = fn(arg, &h);
		if (r != 0) {
			store_cursor_close(c);
			return r;
		}
		rc = store_cursor_get(c, &k, &v, STORE_NEXT);
	}
	store_cursor_close(c);
	return rc == 0 || rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

struct allow_arg {
	enum vault_purpose purpose;
	uint64_t now;
	int live, allowed;
};

static int
allow_one(void *arg, const struct hold *h)
{
	struct allow_arg *a = arg;
	if (hold_live(h, a->now)) {
		a->live++;
		if (hold_allowed_purpose(h->purpose) == a->purpose)
			a->allowed = 1;
	}
	return 0;
}

int
hold_allows(struct store_txn *txn, struct vault_services *svc, uint64_t record,
    enum vault_purpose purpose, uint64_t now)
{
	struct allow_arg a = { purpose, now, 0, 0 };
	int rc = hold_each_of_record(txn, svc, record, allow_one, &a);
	if (rc != 0)
		return rc;
	return a.live == 0 || a.allowed ? 0 : VAULT_E_HELD;
}

static int
next_counter(struct store_txn *txn, struct vault_services *svc, const char *name, uint64_t *id)
{
	struct store_val k = { strlen(name), (void *)name }, v;
	uint8_t b[8];
	int rc = store_get(txn, STORE_META, &k, &v);
	if (rc == STORE_NOTFOUND)
		*id = 1;
	else if (rc != 0)
		return store_error(rc);
	else if (v.len != 8)
		return VAULT_E_CRYPTO;
	else
		*id = store_get_id(v.data);
	store_put_id(b, *id + 1);
	v.len = 8;
	v.data = b;
	return (rc = store_put(txn, STORE_META, &k, &v, 0)) ? store_error(rc) : 0;
}

int
privacy_next_id(struct store_txn *txn, struct vault_services *svc, const char *counter, uint64_t *id)
{
	return next_counter(txn, svc, counter, id);
}

/* Set or clear RECORD_FLAG_HELD on record. */
static int
flag_record(struct write_ctx *ctx, uint64_t id, int held)
{
	struct record r;
	int rc = record_load(ctx->svc, ctx->keys, ctx->txn, id, &r, &ctx->copy);
	if (rc != 0)
		return rc;
	uint8_t flags = held ? (uint8_t)(r.flags | RECORD_FLAG_HELD) :
	    (uint8_t)(r.flags & ~RECORD_FLAG_HELD);
	if (flags == r.flags)
		return 0;
	r.flags = flags;
	return record_store(ctx, id, &r, 0);
}

int
hold_put(struct write_ctx *ctx, struct hold *h)
{
	struct vault_services *svc = ctx->svc;
	struct buf b = { 0 };
	uint8_t kb[8], rk[16];
	int rc;

	if ((rc = flag_record(ctx, h->record, 1)) != 0 ||
	    (rc = next_counter(ctx->txn, svc, "next_hold", &h->id)) != 0)
		return rc;
	if ((rc = hold_encode(h, &b)) != 0)
		goto out;
	store_put_id(kb, h->id);
	store_put_id(rk, h->record);
	store_put_id(rk + 8, h->id);
	struct store_val k = { 8, kb }, v = { b.len, b.data }, k2 = { 16, rk }, e = { 0, "" };
	if ((rc = store_put(ctx->txn, STORE_HOLDS, &k, &v, 0)) != 0 ||
	    (rc = store_put(ctx->txn, STORE_RECORD_HOLDS, &k2, &e, 0)) != 0)
		rc = store_error(rc);
out:
	buf_free(&b);
	return rc;
}

static int
count_one(void *arg, const struct hold *h)
{
	(void)h;
	(*(size_t *)arg)++;
	return 0;
}

int
hold_remove(struct write_ctx *ctx, uint64_t id)
{
	struct vault_services *svc = ctx->svc;
	struct hold h;
	uint8_t kb[8], rk[16];
	size_t left = 0;
	int rc;

	if ((rc = hold_load(ctx->txn, svc, id, &h)) != 0)
		return rc;
	store_put_id(kb, id);
	store_put_id(rk, h.record);
	store_put_id(rk + 8, id);
	struct store_val k = { 8, kb }, k2 = { 16, rk };
	if ((rc = store_del(ctx->txn, STORE_HOLDS, &k)) != 0 ||
	    ((rc = store_del(ctx->txn, STORE_RECORD_HOLDS, &k2)) != 0 &&
	    rc != STORE_NOTFOUND))
		return store_error(rc);
	if ((rc = hold_each_of_record(ctx->txn, svc, h.record, count_one, &left)) != 0)
		return rc;
	if (left == 0) {
		rc = flag_record(ctx, h.record, 0);
		if (rc == VAULT_E_DELETED || rc == VAULT_E_NOT_FOUND)
			rc = 0;
	}
	return rc;
}

struct id_list {
	uint64_t ids[64];
	size_t n;
};

static int
collect_one(void *arg, const struct hold *h)
{
	struct id_list *l = arg;
	if (l->n == sizeof(l->ids) / sizeof(l->ids[0]))
		return 1;
	l->ids[l->n++] = h->id;
	return 0;
}

int
hold_forget_record(struct write_ctx *ctx, uint64_t record)
{
	struct id_list l;
	int rc;
	do {
		l.n = 0;
		rc = hold_each_of_record(ctx->txn, ctx->svc, record, collect_one, &l);
		if (rc < 0 || (rc != 0 && rc != 1))
			return rc;
		for (size_t i = 0; i < l.n; i++) {
			uint8_t kb[8], rk[16];
			store_put_id(kb, l.ids[i]);
			store_put_id(rk, record);
			store_put_id(rk + 8, l.ids[i]);
			struct store_val k = { 8, kb }, k2 = { 16, rk };
			int r = store_del(ctx->txn, STORE_HOLDS, &k);
			if ((r != 0 && r != STORE_NOTFOUND) ||
			    (r = store_del(ctx->txn, STORE_RECORD_HOLDS, &k2)) != 0)
				return store_error(r);
		}
	} while (rc == 1);
	return 0;
}

int
hold_next_expiry(struct store_txn *txn, struct vault_services *svc, uint64_t *when)
{
	struct store_cursor *c;
	struct store_val k, v;
	int rc;

	*when = 0;
	if ((rc = store_cursor_open(txn, STORE_HOLDS, &c)) != 0)
		return store_error(rc);
	while ((rc = store_cursor_get(c, &k, &v, STORE_NEXT)) == 0) {
		struct hold h;
		if (k.len != 8 || hold_decode(store_get_id(k.data), v.data,
		    v.len, &h) != 0)
			continue;
		if (h.expires_at != 0 && (*when == 0 || h.expires_at < *when))
			*when = h.expires_at;
	}
	store_cursor_close(c);
	return rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

int
hold_sweep(struct write_ctx *ctx, size_t *removed)
{
	struct id_list l = { .n = 0 };
	struct store_cursor *c;
	struct store_val k, v;
	int rc;

	*removed = 0;
	if ((rc = store_cursor_open(ctx->txn, STORE_HOLDS, &c)) != 0)
		return store_error(rc);
	while (l.n < sizeof(l.ids) / sizeof(l.ids[0]) &&
	    (rc = store_cursor_get(c, &k, &v, STORE_NEXT)) == 0) {
		struct hold h;
		if (k.len == 8 && hold_decode(store_get_id(k.data), v.data,
		    v.len, &h) == 0 && !hold_live(&h, (uint64_t)ctx->now))
			l.ids[l.n++] = h.id;
	}
	store_cursor_close(c);
	if (rc != 0 && rc != STORE_NOTFOUND)
		return store_error(rc);
	for (size_t i = 0; i < l.n; i++)
		if ((rc = hold_remove(ctx, l.ids[i])) != 0)
			return rc;
	*removed = l.n;
	return 0;
}
