/*
 * feed.c - deletion feeds (feed.h).
 *
 * A notice: version (1) = 1, request (8), time (8), acked (8), reason (1),
 * record id (8), field bits (4), token bits (4), then length-prefixed
 * (u8) texts: the client's name, the record token, and one opaque token
 * per token bit, in field order. Integers big-endian.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/bytes.h"
#include "common/msg.h"
#include "vault/ctx.h"
#include "vault/keyset.h"
#include "vault/log.h"
#include "vault/store/store.h"
#include "feed.h"
#include "privacy.h"
#include "recipients.h"

#define FEED_KEY 24
#define HEAD 42
#define NOTICE_MAX (HEAD + 3 * 256 + FIELD_MAX * 256)

static void
client_prefix(const char *client, uint8_t out[16])
{
	static const char domain[] = "vault deletion feed v1";
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 16);
	crypto_generichash_update(&st, (const uint8_t *)domain, sizeof(domain));
	crypto_generichash_update(&st, (const uint8_t *)client, strlen(client));
	crypto_generichash_final(&st, out, 16);
}

static size_t
put_text(uint8_t *p, const char *s)
{
	size_t n = strlen(s);
	p[0] = (uint8_t)n;
	memcpy(p + 1, s, n);
	return 1 + n;
}

static int
get_text(const uint8_t **p, size_t *left, char *out, size_t cap)
{
	if (*left < 1 || (size_t)(*p)[0] + 1 > *left || (*p)[0] >= cap)
		return VAULT_E_CRYPTO;
	size_t n = (*p)[0];
	memcpy(out, *p + 1, n);
	out[n] = '\0';
	*p += 1 + n;
	*left -= 1 + n;
	return 0;
}

static size_t
encode(const struct feed_notice *n, uint8_t *p)
{
	p[0] = 1;
	be64_put(p + 1, n->request);
	be64_put(p + 9, n->time);
	be64_put(p + 17, n->acked);
	p[25] = n->reason;
	be64_put(p + 26, n->record_id);
	be32_put(p + 34, n->fields);
	be32_put(p + 38, n->tokens);
	size_t len = HEAD;
	len += put_text(p + len, n->client);
	len += put_text(p + len, n->record_token);
	for (unsigned f = 1; f <= FIELD_MAX; f++)
		if ((n->tokens >> f) & 1)
			len += put_text(p + len, n->field_tokens[f]);
	return len;
}

static int
decode(uint64_t id, const uint8_t *p, size_t len, struct feed_notice *n)
{
	if (len < HEAD || p[0] != 1)
		return VAULT_E_CRYPTO;
	memset(n, 0, sizeof(*n));
	n->id = id;
	n->request = store_get_id(p + 1);
	n->time = store_get_id(p + 9);
	n->acked = store_get_id(p + 17);
	n->reason = p[25];
	n->record_id = store_get_id(p + 26);
	n->fields = be32_get(p + 34);
	n->tokens = be32_get(p + 38);
	const uint8_t *q = p + HEAD;
	size_t left = len - HEAD;
	if (get_text(&q, &left, n->client, sizeof(n->client)) != 0 ||
	    get_text(&q, &left, n->record_token, sizeof(n->record_token)) != 0)
		return VAULT_E_CRYPTO;
	for (unsigned f = 1; f <= FIELD_MAX; f++)
		if (((n->tokens >> f) & 1) &&
		    get_text(&q, &left, n->field_tokens[f], sizeof(n->field_tokens[f])) != 0)
			return VAULT_E_CRYPTO;
	return left == 0 ? 0 : VAULT_E_CRYPTO;
}

static int
put_notice(struct store_txn *txn, const struct feed_notice *n)
{
	uint8_t kb[FEED_KEY], vb[NOTICE_MAX];
	client_prefix(n->client, kb);
	be64_put(kb + 16, n->id);
	struct store_val k = { FEED_KEY, kb }, v = { encode(n, vb), vb };
	int rc = store_put(txn, STORE_DELETIONS, &k, &v, 0);
	return rc ? store_error(rc) : 0;
}

int
feed_notify(struct write_ctx *ctx, uint64_t id, const struct record *r,
    const uint8_t *dek, uint8_t reason, uint64_t request)
{
	struct recipient_set *s = malloc(sizeof(*s));
	struct feed_notice *n = malloc(sizeof(*n));
	int rc = VAULT_E_NOMEM;

	if (s == NULL || n == NULL)
		goto out;
	/* A set that does not open (changed outside the service) must not stop
	 * the erasure: no one can be told, and it goes with the record. */
	rc = recipients_load(ctx->txn, id, r->dek_version, dek, s);
	if (rc == VAULT_E_CRYPTO) {
		log_warn("record %llu: its recipient set does not open; its deletion "
		    "notifies no client", (unsigned long long)id);
		s->n = 0;
	} else if (rc != 0)
		goto out;
	for (unsigned i = 0; i < s->n; i++) {
		memset(n, 0, sizeof(*n));
		if ((rc = privacy_next_id(ctx->txn, ctx->svc, "next_notice", &n->id)) != 0)
			goto out;
		n->request = request;
		n->time = (uint64_t)ctx->now;
		n->reason = reason;
		n->record_id = id;
		n->fields = s->r[i].fields;
		memcpy(n->client, s->r[i].name, sizeof(n->client));
		token_record_make(ctx->keys->tokens, id, n->record_token);
		/* Tokens of the field's current generation: the ones a client
		 * holds unless the field changed after it got its token. */
		for (unsigned f = 1; f <= FIELD_MAX; f++)
			if (((s->r[i].tokens >> f) & 1) && token_opaque_make(ctx->keys->tokens,
			    id, (uint8_t)f, r->gen[f], n->field_tokens[f]) == 0)
				n->tokens |= 1u << f;
		if ((rc = put_notice(ctx->txn, n)) != 0)
			goto out;
	}
	rc = recipients_forget(ctx->txn, id);
out:
	free(s);
	free(n);
	return rc;
}

int
feed_get(struct store_txn *txn, const char *client, uint64_t id, struct feed_notice *n)
{
	uint8_t kb[FEED_KEY];
	struct store_val v;
	client_prefix(client, kb);
	be64_put(kb + 16, id);
	struct store_val k = { FEED_KEY, kb };
	int rc = store_get(txn, STORE_DELETIONS, &k, &v);
	if (rc == STORE_NOTFOUND)
		return VAULT_E_NOT_FOUND;
	if (rc != 0)
		return store_error(rc);
	if ((rc = decode(id, v.data, v.len, n)) != 0)
		return rc;
	/* A hash collision of two names must not hand one client's notice to the other. */
	return strcmp(n->client, client) == 0 ? 0 : VAULT_E_NOT_FOUND;
}

int
feed_ack(struct store_txn *txn, const char *client, uint64_t id, uint64_t now,
    struct feed_notice *n)
{
	int rc = feed_get(txn, client, id, n);
	if (rc != 0)
		return rc;
	if (n->acked != 0)
		return VAULT_E_ALREADY_ACKED;
	n->acked = now ? now : 1;
	return put_notice(txn, n);
}

int
feed_scan(struct store_txn *txn, const char *client, uint64_t after,
    int (*fn)(const struct feed_notice *n, void *arg), void *arg)
{
	struct store_cursor *c;
	struct store_val k, v;
	uint8_t kb[FEED_KEY] = { 0 };
	struct feed_notice *n = malloc(sizeof(*n));
	int rc, op = STORE_FIRST;

	if (n == NULL)
		return VAULT_E_NOMEM;
	if ((rc = store_cursor_open(txn, STORE_DELETIONS, &c)) != 0) {
		free(n);
		return rc == STORE_NOTFOUND ? 0 : store_error(rc);
	}
	if (client != NULL) {
		client_prefix(client, kb);
		be64_put(kb + 16, after + 1);
		k = (struct store_val){ FEED_KEY, kb };
		op = STORE_SET_RANGE;
	}
	for (;;) {
		rc = store_cursor_get(c, &k, &v, op);
		op = STORE_NEXT;
		if (rc == STORE_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc != 0) {
			rc = store_error(rc);
			break;
		}
		if (k.len != FEED_KEY) {
			rc = VAULT_E_CRYPTO;
			break;
		}
		if (client != NULL && memcmp(k.data, kb, 16) != 0)
			break;
		uint64_t id = store_get_id((const uint8_t *)k.data + 16);
		if (id <= after)
			continue;
		if ((rc = decode(id, v.data, v.len, n)) != 0)
			break;
		if (client != NULL && strcmp(n->client, client) != 0)
			continue;
		if ((rc = fn(n, arg)) != 0)
			break;
	}
	store_cursor_close(c);
	free(n);
	return rc == 1 ? 0 : rc;
}

struct overdue {
	uint64_t limit, count;
};

static int
count_overdue(const struct feed_notice *n, void *arg)
{
	struct overdue *o = arg;
	if (n->acked == 0 && n->time < o->limit)
		o->count++;
	return 0;
}

int
feed_overdue(struct store_txn *txn, uint64_t now, uint64_t max_age, uint64_t *notices)
{
	struct overdue o = { now > max_age ? now - max_age : 0, 0 };
	int rc = feed_scan(txn, NULL, 0, count_overdue, &o);
	*notices = o.count;
	return rc;
}

struct overdue_ids {
	uint64_t limit, *ids;
	size_t n, cap;
};

static int
collect_overdue(const struct feed_notice *n, void *arg)
{
	struct overdue_ids *o = arg;
	if (n->acked != 0 || n->time >= o->limit || n->request == 0)
		return 0;
	for (size_t i = 0; i < o->n; i++)
		if (o->ids[i] == n->request)
			return 0;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		uint64_t *p = realloc(o->ids, cap * sizeof(*p));
		if (p == NULL)
			return VAULT_E_NOMEM;
		o->ids = p;
		o->cap = cap;
	}
	o->ids[o->n++] = n->request;
	return 0;
}

int
feed_overdue_requests(struct store_txn *txn, uint64_t now, uint64_t max_age,
    uint64_t **ids, size_t *n)
{
	struct overdue_ids o = { now > max_age ? now - max_age : 0, NULL, 0, 0 };
	int rc = feed_scan(txn, NULL, 0, collect_overdue, &o);
	if (rc != 0) {
		free(o.ids);
		o.ids = NULL;
		o.n = 0;
	}
	*ids = o.ids;
	*n = o.n;
	return rc;
}

struct request_pack {
	uint64_t request, limit;
	msgpack_packer *pk; /* NULL: count */
	uint32_t n;
};

static int
pack_notice(const struct feed_notice *n, void *arg)
{
	struct request_pack *p = arg;
	if (n->request != p->request)
		return 0;
	p->n++;
	if (p->pk == NULL)
		return 0;
	msgpack_packer *pk = p->pk;
	msgpack_pack_map(pk, 5);
	mp_cstr(pk, "client");
	mp_cstr(pk, n->client);
	mp_cstr(pk, "notice");
	msgpack_pack_uint64(pk, n->id);
	mp_cstr(pk, "notified_at");
	msgpack_pack_uint64(pk, n->time);
	mp_cstr(pk, "acked_at");
	if (n->acked != 0)
		msgpack_pack_uint64(pk, n->acked);
	else
		msgpack_pack_nil(pk);
	mp_cstr(pk, "overdue");
	(n->acked == 0 && n->time < p->limit) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	return 0;
}

int
feed_pack_request(struct store_txn *txn, uint64_t request, uint64_t now,
    uint64_t max_age, msgpack_packer *pk)
{
	struct request_pack p = { request, now > max_age ? now - max_age : 0, NULL, 0 };
	int rc = feed_scan(txn, NULL, 0, pack_notice, &p);
	if (rc != 0)
		return rc;
	msgpack_pack_array(pk, p.n);
	p.pk = pk;
	p.n = 0;
	return feed_scan(txn, NULL, 0, pack_notice, &p);
}
