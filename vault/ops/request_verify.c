/*
 * request_verify.c - "request_verify": does the person behind a request
 * match records in the vault? The claimed data points are normalized as
 * the fields are and hashed into blind-index tags. The person's records
 * are found by name (first and last name must both match: the name is
 * what tells two people of one household apart); each such record then
 * scores one point per matching data point (name, email, phone, postal
 * address, last transaction), each checked with one exact index lookup.
 *
 * Until it succeeds, verification is a yes/no oracle and nothing more: a
 * failed attempt answers "not verified" and the attempts left, the same
 * whether the name belongs to no record, to records that matched no other
 * point, or to one that fell a point short; no candidates, no counts, no
 * record tokens, no error that tells those apart. Only a verified request
 * learns its targets (the records that reached the threshold), and never
 * how many points each matched.
 *
 * Every attempt must claim the name and at least as many data points as
 * the request's threshold, so a privacy client cannot probe one value at a
 * time. Guesses are bounded three ways, all before any lookup (so a refusal
 * cannot depend on what is stored): per request (verify_attempts failures
 * reject it), per client (verify_per_minute attempts, and
 * verify_failures_per_hour failures; in memory), and per claimed identity
 * across requests and clients (verify_identity_failures per
 * verify_identity_window, and verify_identity_open requests at a time;
 * persistent, privacy/identity.h), so opening a new request buys nothing.
 * Reaching a limit raises the verify_failures alert (alert.h). The lookups
 * run on the worker (prepare); the writer checks the identity's limits
 * again and records the outcome (apply), so attempts count even when they
 * fail. Every attempt is audited.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/alert.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/policy.h"
#include "vault/privacy/identity.h"
#include "vault/privacy/privacy.h"
#include "vault/record/access.h"
#include "vault/record/normalize.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "op.h"
#include "privacy_args.h"

static const char *const args[] = { "request", "claims", NULL };
static const char *const claim_keys[] = {
	"first_name", "last_name", "email", "phone", "postal_address", "transaction", NULL
};
static const char *const txn_keys[] = { "reference", "date", "amount", NULL };

/* Records sharing the claimed surname that are looked at: a surname held
 * by more records than this stops there (PROTOCOL.md, known defects). */
#define SURNAME_SCAN_MAX 20000
#define CODE_CHARS 10          /* Crockford base32: 50 bits */
#define KINDS 19               /* blind kinds are below this */

struct candidate {
	uint64_t id;
	unsigned points;
	uint32_t bits;             /* 1 << blind kind of each matching claim */
};

struct verify_state {
	uint64_t request;
	unsigned threshold;
	int verified;
	size_t ntargets;
	uint64_t targets[REQUEST_MAX_TARGETS];
	size_t nclaims;
	struct request_claim claims[REQUEST_MAX_CLAIMS];
	char code[CODE_CHARS + 1];
	char client[32];
	uid_t uid;
	uint64_t window;                     /* of the identity's counts */
	/* The claimed name: the writer hashes it under the epochs its ring
	 * holds then (a rotation may come between). Wiped with the state. */
	struct identity_name name;
};

/* The claims as tags, under every KEK epoch the ring holds (during a
 * rotation a record's entries are under either epoch), and the canonical
 * name, which keys the identity's failure count. */
struct claims {
	uint32_t kinds;            /* 1 << blind kind claimed */
	size_t nv;                 /* KEK epochs */
	uint32_t *versions;        /* the epochs */
	uint8_t (*tags)[KINDS][BLIND_TAG_BYTES]; /* [epoch][kind] */
	size_t name_len[2];        /* first, last */
	char name[2][BLIND_CANON_MAX];
};

static void
free_state(void *p)
{
	if (p != NULL)
		sodium_memzero(p, sizeof(struct verify_state));
	free(p);
}

/* Per client (by name): attempts a minute, failures an hour. */
static struct ratelimit attempts_rl = { .lock = PTHREAD_MUTEX_INITIALIZER, .window_seconds = 60 };
static struct ratelimit failures_rl = { .lock = PTHREAD_MUTEX_INITIALIZER, .window_seconds = 3600 };

/* The alert of a client known by name only (the writer's side). */
static void
alert_client(struct vault_services *svc, const struct key_set *keys, const char *name, uid_t uid)
{
	struct policy_client who;
	memset(&who, 0, sizeof(who));
	snprintf(who.name, sizeof(who.name), "%s", name);
	alert_raise(svc, keys, ALERT_VERIFY_FAILURES, &who, uid);
}

/*
 * May the identity be tried once more (by request)? Its failures in this
 * window and the last must stay under the limit, and at most
 * verify_identity_open other requests that failed for it may be open. Drops
 * from id the requests that are no longer open. Nothing here depends on
 * whether the name belongs to a record.
 */
static int
identity_admit(struct store_txn *txn, struct vault_services *svc, uint64_t request, struct identity *id,
    struct op_error *err)
{
	size_t n = 0, open = 0;
	int listed = 0, rc;

	if (id->failures + id->failures_prev >= svc->cfg.verify_identity_failures)
		return op_fail(err, VAULT_E_RATE_LIMITED, "claims",
		    "too many failed verifications of this identity; try again later");
	for (size_t i = 0; i < id->nrequests; i++) {
		struct privacy_request r;
		if (id->requests[i] == request) {
			listed = 1;
			id->requests[n++] = request;
			continue;
		}
		rc = request_load(txn, STORE_REQUESTS, id->requests[i], &r, NULL);
		if (rc == VAULT_E_NOT_FOUND)
			continue;
		if (rc != 0)
			return op_fail(err, rc, NULL, NULL);
		if (r.state == RS_OPEN) {
			id->requests[n++] = id->requests[i];
			open++;
		}
	}
	id->nrequests = n;
	if (!listed && open >= svc->cfg.verify_identity_open)
		return op_fail(err, VAULT_E_LIMIT, "request",
		    "too many open requests are verifying this identity; go on with one of them");
	return 0;
}

static int
cmp_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
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

static const uint32_t NAME_BITS = 1u << BLIND_FIRST_NAME | 1u << BLIND_LAST_NAME;
static const uint32_t TXN_BITS = 1u << BLIND_TXN_REFERENCE | 1u << BLIND_TXN_DATE |
    1u << BLIND_TXN_AMOUNT;

/* Data points in a set of kinds: the name (both parts), email, phone,
 * address, and the transaction (any of its parts). */
static unsigned
points_of(uint32_t bits)
{
	return ((bits & NAME_BITS) == NAME_BITS) + ((bits >> BLIND_EMAIL) & 1) +
	    ((bits >> BLIND_PHONE) & 1) + ((bits >> BLIND_POSTAL_ADDRESS) & 1) +
	    ((bits & TXN_BITS) != 0);
}

/* One claim: normalized as its field, made canonical, hashed per epoch. */
static int
claim(struct read_ctx *ctx, struct claims *cl, unsigned kind, const char *name,
    const msgpack_object *o, struct op_error *err)
{
	char norm[FIELD_VALUE_MAX], canon[BLIND_CANON_MAX];
	const char *why = NULL;
	size_t nlen, clen;
	int rc = 0;

	if (o->type != MSGPACK_OBJECT_STR)
		return op_fail(err, VAULT_E_PROTO_TYPE, name, "a claim is a string");
	const char *s = o->via.str.ptr;
	size_t len = o->via.str.size;
	if (kind <= BLIND_PHONE) {
		struct normalize_ctx nctx = { ctx->now, ctx->svc->cfg.default_calling_code };
		if (len > field_by_id(kind)->max_input)
			return op_fail(err, VAULT_E_TOO_LARGE, name, NULL);
		rc = normalize_field_why((enum field_id)kind, s, len, norm, sizeof(norm), &nlen,
		    &nctx, &why);
		s = norm;
		len = nlen;
	} else if (len > 64) {
		return op_fail(err, VAULT_E_TOO_LARGE, name, NULL);
	}
	if (rc == 0 && (rc = blind_canon(kind, s, len, canon, sizeof(canon), &clen)) != 0)
		/* As transaction's own checks say it (ops/transaction.c). */
		why = kind == BLIND_TXN_DATE ? "a date is YYYY-MM-DD" :
		    kind == BLIND_TXN_AMOUNT ? "an amount is a decimal number with at most two decimals" :
		    kind == BLIND_TXN_REFERENCE ? "a reference needs letters or digits" :
		    rc == VAULT_E_EMPTY ? "empty (nothing but blanks)" : "too long once normalized";
	for (size_t v = 0; v < cl->nv && rc == 0; v++)
		rc = blind_tag(ctx->keys, cl->versions[v], kind, canon, clen, cl->tags[v][kind]);
	if (rc == 0 && (kind == BLIND_FIRST_NAME || kind == BLIND_LAST_NAME)) {
		memcpy(cl->name[kind - BLIND_FIRST_NAME], canon, clen);
		cl->name_len[kind - BLIND_FIRST_NAME] = clen;
	}
	sodium_memzero(norm, sizeof(norm));
	sodium_memzero(canon, sizeof(canon));
	if (rc != 0)
		return op_fail(err, rc, name, why);
	cl->kinds |= 1u << kind;
	return 0;
}

static int
parse_claims(struct read_ctx *ctx, const msgpack_object_map *claims, struct claims *cl,
    struct op_error *err)
{
	const msgpack_object *bad;
	int rc;

	for (uint32_t i = 0; i < claims->size; i++) {
		const msgpack_object *k = &claims->ptr[i].key, *v = &claims->ptr[i].val;
		unsigned kind = msg_str_eq(k, "first_name") ? BLIND_FIRST_NAME :
		    msg_str_eq(k, "last_name") ? BLIND_LAST_NAME :
		    msg_str_eq(k, "email") ? BLIND_EMAIL :
		    msg_str_eq(k, "phone") ? BLIND_PHONE :
		    msg_str_eq(k, "postal_address") ? BLIND_POSTAL_ADDRESS : 0;
		if (kind != 0) {
			if ((rc = claim(ctx, cl, kind, field_by_id(kind)->name, v, err)) != 0)
				return rc;
			continue;
		}
		/* transaction: a map of reference, date, amount */
		if (v->type != MSGPACK_OBJECT_MAP)
			return op_fail(err, VAULT_E_PROTO_TYPE, "transaction",
			    "transaction is a map of reference, date and amount");
		if ((rc = msg_check_keys(v, txn_keys, &bad)) != 0)
			return op_fail(err, rc, "transaction",
			    "transaction takes reference, date and amount");
		for (uint32_t j = 0; j < v->via.map.size; j++) {
			const msgpack_object *tk = &v->via.map.ptr[j].key;
			unsigned tkind = msg_str_eq(tk, "reference") ? BLIND_TXN_REFERENCE :
			    msg_str_eq(tk, "date") ? BLIND_TXN_DATE : BLIND_TXN_AMOUNT;
			if ((rc = claim(ctx, cl, tkind, "transaction", &v->via.map.ptr[j].val,
			    err)) != 0)
				return rc;
		}
	}
	return 0;
}

/* 1 if record id has an entry of kind for a claimed tag (any epoch). */
static int
has_entry(struct read_ctx *ctx, const struct claims *cl, unsigned kind, uint64_t id,
    int *rc)
{
	uint8_t key[25];
	key[0] = (uint8_t)kind;
	store_put_id(key + 17, id);
	for (size_t v = 0; v < cl->nv; v++) {
		memcpy(key + 1, cl->tags[v][kind], BLIND_TAG_BYTES);
		struct store_val k = { 25, key }, val;
		int r = store_get(ctx->txn, STORE_BLIND_INDEX, &k, &val);
		if (r == 0)
			return 1;
		if (r != STORE_NOTFOUND) {
			*rc = store_error(r);
			return 0;
		}
	}
	return 0;
}

struct scan {
	struct read_ctx *ctx;
	const struct claims *cl;
	int guardian;
	struct candidate *all;
	size_t n;
	int rc;
};

/* A record with the claimed last name: does the first name match too,
 * and which other claims? */
static int
scan_one(void *arg, uint64_t id)
{
	struct scan *sc = arg;
	uint32_t bits = 1u << BLIND_LAST_NAME;

	if (!has_entry(sc->ctx, sc->cl, BLIND_FIRST_NAME, id, &sc->rc))
		return sc->rc;
	bits |= 1u << BLIND_FIRST_NAME;
	if (sc->guardian) {
		/* A guardian acts only for a child's record. */
		struct record rec;
		if (record_load(sc->ctx->svc, sc->ctx->keys, sc->ctx->txn, id, &rec, NULL) != 0 ||
		    !(rec.flags & RECORD_FLAG_CHILD))
			return 0;
	}
	for (unsigned kind = BLIND_POSTAL_ADDRESS; kind < KINDS; kind++)
		if (((sc->cl->kinds >> kind) & 1) && has_entry(sc->ctx, sc->cl, kind, id, &sc->rc))
			bits |= 1u << kind;
	if (sc->rc != 0)
		return sc->rc;
	sc->all[sc->n].id = id;
	sc->all[sc->n].bits = bits;
	sc->all[sc->n].points = points_of(bits);
	sc->n++;
	return 0;
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

static void
claims_free(struct claims *cl)
{
	if (cl->tags != NULL)
		sodium_memzero(cl->tags, cl->nv * sizeof(*cl->tags));
	free(cl->tags);
	free(cl->versions);
	sodium_memzero(cl->name, sizeof(cl->name));
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	struct verify_state *st = calloc(1, sizeof(*st));
	struct claims cl = { 0 };
	struct scan sc = { 0 };
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
	if ((rc = arg_request_load(ctx->txn, ctx->svc, st->request, &r, NULL, err)) != 0)
		goto fail;
	if (r.state != RS_OPEN) {
		rc = op_fail(err, VAULT_E_REQUEST_STATE, "request",
		    "only an open request can be verified");
		goto fail;
	}
	st->threshold = ctx->svc->cfg.verify_threshold[r.kind - 1];
	cl.nv = keyring_count(ctx->keys->ring, KEYRING_KEK);
	cl.versions = calloc(cl.nv, sizeof(*cl.versions));
	cl.tags = calloc(cl.nv, sizeof(*cl.tags));
	if (cl.versions == NULL || cl.tags == NULL) {
		rc = op_fail(err, VAULT_E_NOMEM, NULL, NULL);
		goto fail;
	}
	for (size_t v = 0; v < cl.nv; v++)
		cl.versions[v] = keyring_version_at(ctx->keys->ring, KEYRING_KEK, v);
	if ((rc = parse_claims(ctx, claims, &cl, err)) != 0)
		goto fail;
	/* The name finds the records; the other points verify them. */
	if ((cl.kinds & NAME_BITS) != NAME_BITS || points_of(cl.kinds) < st->threshold) {
		/* Messages are static: one per threshold. */
		static const char *const need[] = { NULL,
			"claim the first and last name",
			"claim the first and last name and at least 2 data points in all",
			"claim the first and last name and at least 3 data points in all",
			"claim the first and last name and at least 4 data points in all",
			"claim the first and last name and all 5 data points",
		};
		rc = op_fail(err, VAULT_E_INVALID_VALUE, "claims",
		    need[st->threshold <= 5 ? st->threshold : 5]);
		goto fail;
	}
	/* The limits, before any lookup: a refusal says nothing of the records. */
	uint64_t ckey = ratelimit_key(req->client->name, strlen(req->client->name));
	enum ratelimit_verdict rv = ratelimit_hit(&attempts_rl, ckey, ctx->now, 1,
	    ctx->svc->cfg.verify_per_minute);
	if (rv == RATELIMIT_OK &&
	    ratelimit_used(&failures_rl, ckey, ctx->now) >= ctx->svc->cfg.verify_failures_per_hour)
		rv = ratelimit_hit(&failures_rl, ckey, ctx->now, 1,
		    ctx->svc->cfg.verify_failures_per_hour);
	if (rv != RATELIMIT_OK) {
		if (rv == RATELIMIT_OVER_FIRST)
			alert_raise(ctx->svc, ctx->keys, ALERT_VERIFY_FAILURES, req->client, req->uid);
		rc = op_fail(err, VAULT_E_RATE_LIMITED, NULL,
		    "too many verification attempts or failures from this client; try again later");
		goto fail;
	}
	rc = identity_name(cl.name[0], cl.name_len[0], cl.name[1], cl.name_len[1], &st->name);
	if (rc != 0) {
		op_fail(err, rc, NULL, NULL);
		goto fail;
	}
	st->window = (uint64_t)ctx->now / ctx->svc->cfg.verify_identity_window;
	struct identity idn;
	if ((rc = identity_load(ctx->txn, STORE_VERIFY_IDS, ctx->keys, &st->name,
	    st->window, &idn)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto fail;
	}
	if ((rc = identity_admit(ctx->txn, ctx->svc, st->request, &idn, err)) != 0)
		goto fail;
	if ((sc.all = malloc(SURNAME_SCAN_MAX * sizeof(*sc.all))) == NULL) {
		rc = op_fail(err, VAULT_E_NOMEM, NULL, NULL);
		goto fail;
	}
	sc.ctx = ctx;
	sc.cl = &cl;
	sc.guardian = r.requester == BY_GUARDIAN;
	/* Each record's entries carry one version per kind: no duplicates. */
	for (size_t v = 0; v < cl.nv && sc.n < SURNAME_SCAN_MAX; v++) {
		rc = blind_lookup(&ctx->svc->store, ctx->txn, BLIND_LAST_NAME,
		    cl.tags[v][BLIND_LAST_NAME], SURNAME_SCAN_MAX - sc.n, scan_one, &sc);
		if (rc != 0) {
			op_fail(err, rc, NULL, NULL);
			goto fail;
		}
	}
	qsort(sc.all, sc.n, sizeof(*sc.all), cmp_cand);
	uint32_t matched = 0;
	for (size_t i = 0; i < sc.n; i++) {
		if (sc.all[i].points >= st->threshold && st->ntargets < REQUEST_MAX_TARGETS) {
			st->targets[st->ntargets++] = sc.all[i].id;
			matched |= sc.all[i].bits;
		}
	}
	st->verified = st->ntargets > 0;
	/* By id: their order must not tell which matched more points. */
	qsort(st->targets, st->ntargets, sizeof(st->targets[0]), cmp_id);
	/* Keep which data points verified, as kinds: never a tag, which a
	 * key the vault keeps could test against a guessed value. */
	for (unsigned kind = 1; kind < KINDS && st->nclaims < REQUEST_MAX_CLAIMS; kind++)
		if ((matched >> kind) & 1)
			st->claims[st->nclaims++].kind = (uint8_t)kind;
	if (st->verified && r.kind == REQ_DELETE && r.channel == CH_ONLINE)
		make_code(st->code);
	snprintf(st->client, sizeof(st->client), "%s", req->client->name);
	st->uid = req->uid;
	free(sc.all);
	claims_free(&cl);
	*state = st;
	return 0;
fail:
	free(sc.all);
	claims_free(&cl);
	free_state(st);
	return rc;
}

/* Stale identity entries removed per attempt: the table never grows
 * beyond two windows of failures for long. */
#define IDENTITY_PRUNE_MAX 64

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct verify_state *st = state;
	struct privacy_request r;
	struct identity idn;
	struct buf copy = { 0 };
	enum store_table ids = STORE_VERIFY_IDS;
	size_t pruned;
	int rc, alert = 0;

	if ((rc = arg_request_load(ctx->txn, ctx->svc, st->request, &r, &copy, err)) != 0)
		goto out;
	if (r.state != RS_OPEN) {
		rc = op_fail(err, VAULT_E_REQUEST_STATE, "request",
		    "only an open request can be verified");
		goto out;
	}
	/* Again, in the writer: attempts prepared at once see one count. */
	if ((rc = identity_load(ctx->txn, ids, ctx->keys, &st->name, st->window, &idn)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto out;
	}
	if ((rc = identity_admit(ctx->txn, ctx->svc, st->request, &idn, err)) != 0)
		goto out;
	if ((rc = identity_prune(ctx->txn, ids, st->window, IDENTITY_PRUNE_MAX, &pruned)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto out;
	}
	unsigned max = ctx->svc->cfg.verify_attempts;
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
		/* The identity's count, whoever tries it next and on whatever
		 * request; this request joins its open ones. */
		idn.failures++;
		size_t i = 0;
		while (i < idn.nrequests && idn.requests[i] != r.id)
			i++;
		if (i == idn.nrequests && idn.nrequests < IDENTITY_MAX_REQUESTS)
			idn.requests[idn.nrequests++] = r.id;
		if (idn.failures + idn.failures_prev >= ctx->svc->cfg.verify_identity_failures &&
		    !idn.alerted)
			alert = idn.alerted = 1;
		if ((rc = identity_save(ctx->txn, ids, ctx->keys, &st->name, st->window,
		    &idn)) != 0) {
			op_fail(err, rc, NULL, NULL);
			goto out;
		}
		uint64_t ckey = ratelimit_key(st->client, strlen(st->client));
		if (ratelimit_hit(&failures_rl, ckey, ctx->now, 1,
		    ctx->svc->cfg.verify_failures_per_hour) == RATELIMIT_OVER_FIRST)
			alert = 1;
	}
	if ((rc = request_save(ctx->txn, STORE_REQUESTS, &r)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto out;
	}
	/* A failure: nothing but the outcome, the state and the attempts left,
	 * so that no two failures can be told apart. */
	msgpack_pack_map(pk, !st->verified ? 3 : st->code[0] ? 6 : 5);
	mp_cstr(pk, "verified");
	st->verified ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "state");
	mp_cstr(pk, request_state_name(r.state));
	mp_cstr(pk, "attempts_left");
	msgpack_pack_uint32(pk, st->verified || r.verify_failures >= max ? 0 :
	    max - r.verify_failures);
	if (st->verified) {
		char tok[TOKEN_MAX_LEN + 1];
		mp_cstr(pk, "threshold");
		msgpack_pack_uint32(pk, st->threshold);
		mp_cstr(pk, "targets");
		msgpack_pack_array(pk, (uint32_t)st->ntargets);
		for (size_t i = 0; i < st->ntargets; i++) {
			token_record_make(ctx->keys->tokens, st->targets[i], tok);
			mp_cstr(pk, tok);
		}
	}
	if (st->code[0]) {
		mp_cstr(pk, "confirmation_code");
		mp_cstr(pk, st->code);
	}
out:
	buf_free(&copy);
	if (rc == 0 && alert)
		alert_client(ctx->svc, ctx->keys, st->client, st->uid);
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
