/*
 * request_verify.c - "request_verify": does the person behind a request
 * match records in the vault? The claimed data points are normalized as
 * the fields are, hashed into blind-index tags and looked up; each record
 * found scores one point per matching data point (name, email, phone,
 * postal address, last transaction). The reply says how many points each
 * candidate scored, never which ones or what is stored.
 *
 * The lookups run on the worker (prepare); the writer records the outcome
 * (apply), so attempts count even when they fail, and a request that has
 * failed verify_attempts times is rejected. Each client may try at most
 * verify_per_minute times a minute: guessing by repetition is slow and
 * every attempt is in the audit trail.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/policy.h"
#include "vault/privacy/privacy.h"
#include "vault/record/access.h"
#include "vault/record/normalize.h"
#include "vault/server.h"
#include "op.h"
#include "privacy_args.h"

static const char *const args[] = { "request", "claims", NULL };
static const char *const claim_keys[] = {
	"first_name", "last_name", "email", "phone", "postal_address", "transaction", NULL
};
static const char *const txn_keys[] = { "reference", "date", "amount", NULL };

#define LOOKUP_LIMIT 1000      /* records per tag: a common surname stops there */
#define MAX_HITS 16384
#define MAX_CANDIDATES_SHOWN 16
#define CODE_CHARS 10          /* Crockford base32: 50 bits */

struct hit {
	uint64_t id;
	uint32_t bits;             /* 1 << blind kind */
};

struct candidate {
	uint64_t id;
	unsigned points;
};

struct verify_state {
	uint64_t request;
	unsigned threshold;
	int verified;
	size_t ncand;
	struct candidate cand[MAX_CANDIDATES_SHOWN];
	size_t ntargets;
	uint64_t targets[REQUEST_MAX_TARGETS];
	size_t nclaims;
	struct request_claim claims[REQUEST_MAX_CLAIMS];
	char code[CODE_CHARS + 1];
	char client[32];
};

static void
free_state(void *p)
{
	if (p != NULL)
		sodium_memzero(p, sizeof(struct verify_state));
	free(p);
}

/* Fixed one-minute windows per client. */
static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const void *client;
	time_t window;
	unsigned count;
} rates[64];

static int
rate_ok(const void *client, time_t now, unsigned per_minute)
{
	int ok = 1;
	size_t i, free_slot = 64;
	pthread_mutex_lock(&rate_lock);
	for (i = 0; i < 64 && rates[i].client != client; i++)
		if (rates[i].client == NULL && free_slot == 64)
			free_slot = i;
	if (i == 64) {
		i = free_slot < 64 ? free_slot : (size_t)(now % 64);
		rates[i].client = client;
		rates[i].window = 0;
	}
	if (now / 60 != rates[i].window) {
		rates[i].window = now / 60;
		rates[i].count = 0;
	}
	if (rates[i].count >= per_minute)
		ok = 0;
	else
		rates[i].count++;
	pthread_mutex_unlock(&rate_lock);
	return ok;
}

struct collect {
	struct hit *hits;
	size_t n;
	uint32_t bit;
};

static int
collect_one(void *arg, uint64_t id)
{
	struct collect *c = arg;
	if (c->n == MAX_HITS)
		return 1;
	c->hits[c->n].id = id;
	c->hits[c->n].bits = c->bit;
	c->n++;
	return 0;
}

static int
cmp_hit(const void *a, const void *b)
{
	uint64_t x = ((const struct hit *)a)->id, y = ((const struct hit *)b)->id;
	return x < y ? -1 : x > y;
}

static int
cmp_cand(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	if (x->points != y->points)
		return x->points < y->points ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static unsigned
points_of(uint32_t bits)
{
	unsigned p = 0;
	uint32_t name = 1u << BLIND_FIRST_NAME | 1u << BLIND_LAST_NAME;
	uint32_t txn = 1u << BLIND_TXN_REFERENCE | 1u << BLIND_TXN_DATE | 1u << BLIND_TXN_AMOUNT;
	p += (bits & name) == name;
	p += (bits >> BLIND_EMAIL) & 1;
	p += (bits >> BLIND_PHONE) & 1;
	p += (bits >> BLIND_POSTAL_ADDRESS) & 1;
	p += (bits & txn) != 0;
	return p;
}

/* One claim: canonical form, then a lookup under every index key version. */
static int
claim(struct read_ctx *ctx, struct verify_state *st, struct collect *c,
    unsigned kind, const char *name, const msgpack_object *o, struct op_error *err)
{
	char norm[FIELD_VALUE_MAX], canon[BLIND_CANON_MAX];
	size_t nlen, clen;
	int rc;

	if (o->type != MSGPACK_OBJECT_STR)
		return op_fail(err, VAULT_E_PROTO_TYPE, name, "a claim is a string");
	const char *s = o->via.str.ptr;
	size_t len = o->via.str.size;
	if (kind <= BLIND_PHONE) {
		struct normalize_ctx nctx = { ctx->now, ctx->srv->cfg.default_calling_code };
		const struct field_info *fi = field_by_id(kind);
		if (len > fi->max_input)
			return op_fail(err, VAULT_E_TOO_LARGE, name, NULL);
		if ((rc = normalize_field((enum field_id)kind, s, len, norm, sizeof(norm),
		    &nlen, &nctx)) != 0)
			return op_fail(err, rc, name, NULL);
		s = norm;
		len = nlen;
	} else if (len > 64) {
		return op_fail(err, VAULT_E_TOO_LARGE, name, NULL);
	}
	rc = blind_canon(kind, s, len, canon, sizeof(canon), &clen);
	sodium_memzero(norm, sizeof(norm));
	if (rc != 0)
		return op_fail(err, rc, name, NULL);
	size_t nv = keyring_count(ctx->keys->ring, KEYRING_INDEX);
	uint32_t cur = keyring_current(ctx->keys->ring, KEYRING_INDEX);
	c->bit = 1u << kind;
	for (size_t i = 0; i < nv && rc == 0; i++) {
		uint32_t v = keyring_version_at(ctx->keys->ring, KEYRING_INDEX, i);
		uint8_t tag[BLIND_TAG_BYTES];
		if ((rc = blind_tag(ctx->keys, v, kind, canon, clen, tag)) != 0)
			break;
		if (v == cur && st->nclaims < REQUEST_MAX_CLAIMS) {
			struct request_claim *cl = &st->claims[st->nclaims++];
			cl->kind = (uint8_t)kind;
			cl->version = v;
			memcpy(cl->tag, tag, BLIND_TAG_BYTES);
		}
		rc = blind_lookup(&ctx->srv->store, ctx->txn, kind, tag, LOOKUP_LIMIT,
		    collect_one, c);
		if (rc == 1)
			rc = 0; /* the hit table is full: enough to decide */
	}
	sodium_memzero(canon, sizeof(canon));
	return rc ? op_fail(err, rc, NULL, NULL) : 0;
}

/* Crockford base32 without the look-alike letters. */
static void
make_code(char out[CODE_CHARS + 1])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	for (int i = 0; i < CODE_CHARS; i++)
		out[i] = alphabet[randombytes_uniform(32)];
	out[CODE_CHARS] = '\0';
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	struct verify_state *st = calloc(1, sizeof(*st));
	struct collect c = { 0 };
	const msgpack_object_map *claims;
	const msgpack_object *bad;
	struct privacy_request r;
	int rc;

	if (st == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = privacy_check(req, err)) != 0 ||
	    (rc = arg_request_id(req, &st->request, err)) != 0)
		goto fail;
	if ((rc = msg_get_map(req->args, "claims", 1, &claims)) != 0) {
		op_fail(err, rc, "claims", "claims is a map of data points");
		goto fail;
	}
	msgpack_object cm = { .type = MSGPACK_OBJECT_MAP, .via.map = *claims };
	if ((rc = msg_check_keys(&cm, claim_keys, &bad)) != 0) {
		op_fail(err, rc, "claims", "claims are first_name, last_name, email, phone, "
		    "postal_address and transaction");
		goto fail;
	}
	if (claims->size == 0) {
		rc = op_fail(err, VAULT_E_EMPTY, "claims", NULL);
		goto fail;
	}
	if ((rc = request_load(ctx->txn, ctx->srv->store.requests, st->request, &r, NULL)) != 0) {
		op_fail(err, rc, "request", rc == VAULT_E_NOT_FOUND ? "no such request" : NULL);
		goto fail;
	}
	if (r.state != RS_OPEN) {
		rc = op_fail(err, VAULT_E_REQUEST_STATE, "request",
		    "only an open request can be verified");
		goto fail;
	}
	if (!rate_ok(req->client, ctx->now, ctx->srv->cfg.verify_per_minute)) {
		rc = op_fail(err, VAULT_E_RATE_LIMITED, NULL,
		    "too many verification attempts this minute");
		goto fail;
	}
	if ((c.hits = malloc(MAX_HITS * sizeof(*c.hits))) == NULL) {
		rc = op_fail(err, VAULT_E_NOMEM, NULL, NULL);
		goto fail;
	}
	for (uint32_t i = 0; i < claims->size; i++) {
		const msgpack_object *k = &claims->ptr[i].key, *v = &claims->ptr[i].val;
		unsigned kind = msg_str_eq(k, "first_name") ? BLIND_FIRST_NAME :
		    msg_str_eq(k, "last_name") ? BLIND_LAST_NAME :
		    msg_str_eq(k, "email") ? BLIND_EMAIL :
		    msg_str_eq(k, "phone") ? BLIND_PHONE :
		    msg_str_eq(k, "postal_address") ? BLIND_POSTAL_ADDRESS : 0;
		if (kind != 0) {
			if ((rc = claim(ctx, st, &c, kind, field_by_id(kind)->name, v, err)) != 0)
				goto fail;
			continue;
		}
		/* transaction: a map of reference, date, amount */
		if (v->type != MSGPACK_OBJECT_MAP) {
			rc = op_fail(err, VAULT_E_PROTO_TYPE, "transaction",
			    "transaction is a map of reference, date and amount");
			goto fail;
		}
		if ((rc = msg_check_keys(v, txn_keys, &bad)) != 0) {
			op_fail(err, rc, "transaction", "transaction takes reference, date and amount");
			goto fail;
		}
		for (uint32_t j = 0; j < v->via.map.size; j++) {
			const msgpack_object *tk = &v->via.map.ptr[j].key;
			unsigned tkind = msg_str_eq(tk, "reference") ? BLIND_TXN_REFERENCE :
			    msg_str_eq(tk, "date") ? BLIND_TXN_DATE : BLIND_TXN_AMOUNT;
			if ((rc = claim(ctx, st, &c, tkind, "transaction", &v->via.map.ptr[j].val,
			    err)) != 0)
				goto fail;
		}
	}

	/* Merge the hits per record, score, keep the best. */
	qsort(c.hits, c.n, sizeof(*c.hits), cmp_hit);
	struct candidate *all = malloc((c.n + 1) * sizeof(*all));
	size_t nall = 0;
	if (all == NULL) {
		rc = op_fail(err, VAULT_E_NOMEM, NULL, NULL);
		goto fail;
	}
	for (size_t i = 0; i < c.n;) {
		uint64_t id = c.hits[i].id;
		uint32_t bits = 0;
		for (; i < c.n && c.hits[i].id == id; i++)
			bits |= c.hits[i].bits;
		unsigned p = points_of(bits);
		if (p == 0)
			continue;
		if (r.requester == BY_GUARDIAN) {
			/* A guardian acts only for a child's record. */
			struct record rec;
			if (record_load(ctx->srv, ctx->txn, id, &rec, NULL) != 0 ||
			    !(rec.flags & RECORD_FLAG_CHILD))
				continue;
		}
		all[nall].id = id;
		all[nall].points = p;
		nall++;
	}
	qsort(all, nall, sizeof(*all), cmp_cand);
	st->threshold = ctx->srv->cfg.verify_threshold[r.kind - 1];
	for (size_t i = 0; i < nall; i++) {
		if (i < MAX_CANDIDATES_SHOWN)
			st->cand[st->ncand++] = all[i];
		if (all[i].points >= st->threshold && st->ntargets < REQUEST_MAX_TARGETS)
			st->targets[st->ntargets++] = all[i].id;
	}
	free(all);
	st->verified = st->ntargets > 0;
	if (st->verified && r.kind == REQ_DELETE && r.channel == CH_ONLINE)
		make_code(st->code);
	snprintf(st->client, sizeof(st->client), "%s", req->client->name);
	free(c.hits);
	*state = st;
	return 0;
fail:
	free(c.hits);
	free_state(st);
	return rc;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct verify_state *st = state;
	struct privacy_request r;
	struct buf copy = { 0 };
	int rc;

	if ((rc = request_load(ctx->txn, ctx->srv->store.requests, st->request, &r,
	    &copy)) != 0) {
		op_fail(err, rc, "request", NULL);
		goto out;
	}
	if (r.state != RS_OPEN) {
		rc = op_fail(err, VAULT_E_REQUEST_STATE, "request",
		    "only an open request can be verified");
		goto out;
	}
	unsigned max = ctx->srv->cfg.verify_attempts;
	if (st->verified) {
		r.state = RS_VERIFIED;
		r.ntargets = st->ntargets;
		memcpy(r.targets, st->targets, st->ntargets * sizeof(st->targets[0]));
		r.nclaims = st->nclaims;
		memcpy(r.claims, st->claims, st->nclaims * sizeof(st->claims[0]));
		request_note(&r, (uint64_t)ctx->now, EV_VERIFIED, st->client);
		if (st->code[0] != '\0') {
			r.code_issued = 1;
			r.confirmed = 0;
			r.code_version = keyring_current(ctx->keys->ring, KEYRING_INDEX);
			r.code_expires = (uint64_t)ctx->now + REQUEST_CODE_SECONDS;
			if ((rc = secret_hash(ctx->keys, r.code_version, "confirmation", r.id,
			    st->code, CODE_CHARS, r.code_hash)) != 0) {
				op_fail(err, rc, NULL, NULL);
				goto out;
			}
		}
		for (size_t i = 0; i < st->ntargets; i++)
			if (trace_record(&ctx->trace, st->targets[i]) != 0) {
				rc = op_fail(err, VAULT_E_NOMEM, NULL, NULL);
				goto out;
			}
	} else {
		r.verify_failures++;
		request_note(&r, (uint64_t)ctx->now, EV_VERIFY_FAILED, st->client);
		if (r.verify_failures >= max) {
			r.state = RS_REJECTED;
			request_note(&r, (uint64_t)ctx->now, EV_REJECTED, st->client);
		}
	}
	if ((rc = request_save(ctx->txn, ctx->srv->store.requests, &r)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto out;
	}
	char tok[TOKEN_MAX_LEN + 1];
	msgpack_pack_map(pk, st->code[0] ? 6 : 5);
	mp_cstr(pk, "verified");
	st->verified ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "threshold");
	msgpack_pack_uint32(pk, st->threshold);
	mp_cstr(pk, "state");
	mp_cstr(pk, request_state_name(r.state));
	mp_cstr(pk, "candidates");
	msgpack_pack_array(pk, (uint32_t)st->ncand);
	for (size_t i = 0; i < st->ncand; i++) {
		token_record_make(ctx->keys->tokens, st->cand[i].id, tok);
		msgpack_pack_map(pk, 2);
		mp_cstr(pk, "record");
		mp_cstr(pk, tok);
		mp_cstr(pk, "matched");
		msgpack_pack_uint32(pk, st->cand[i].points);
	}
	mp_cstr(pk, "attempts_left");
	msgpack_pack_uint32(pk, st->verified || r.verify_failures >= max ? 0 :
	    max - r.verify_failures);
	if (st->code[0]) {
		mp_cstr(pk, "confirmation_code");
		mp_cstr(pk, st->code);
	}
out:
	buf_free(&copy);
	return rc;
}

const struct op op_request_verify = {
	.name = "request_verify",
	.kind = OP_WRITE,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free_state,
};
