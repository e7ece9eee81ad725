/*
 * horizon.c - erasure horizons of completed deletions: the epochs they
 * wait for, the erasure-complete documents, the overdue alert (horizon.h).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "keys/keyring.h"
#include "vault/alert.h"
#include "vault/ctx.h"
#include "vault/keyset.h"
#include "vault/log.h"
#include "vault/rotation_state.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "horizon.h"
#include "privacy.h"

/* The tick's next look at the requests (writer only; 0: at once). */
static _Atomic long long next_look;

void
privacy_horizon_wake(void)
{
	atomic_store(&next_look, 0);
}

void
privacy_horizon_begin(struct write_ctx *ctx, struct privacy_request *r)
{
	const struct keyring *ring = ctx->keys->ring;
	uint32_t cur = keyring_current(ring, KEYRING_KEK);
	size_t n = keyring_count(ring, KEYRING_KEK), skip = 0, k = 0;

	r->horizon_epoch = cur;
	/* Every epoch of the ring is <= the current one; keep the newest few. */
	if (n > REQUEST_MAX_EPOCHS)
		skip = n - REQUEST_MAX_EPOCHS;
	for (size_t i = 0; i < n; i++) {
		uint32_t e = keyring_version_at(ring, KEYRING_KEK, i);
		if (e <= cur && i >= skip)
			r->epochs[k++] = e;
	}
	r->nepochs = k;
	long long est = rotation_horizon_estimate(ctx->svc, ctx->now);
	r->horizon_estimate = est > 0 ? (uint64_t)est : 0;
	r->overdue_alerted = 0;
	privacy_horizon_wake();
}

/* The erasure-complete document of r, as canonical JSON in out. */
static int
make_document(struct write_ctx *ctx, const struct privacy_request *r,
    struct buf *out)
{
	json_t *o = json_object(), *epochs = json_array(), *recs = NULL, *rc_doc = NULL;
	json_error_t je;
	int rc = VAULT_E_NOMEM;

	if (o == NULL || epochs == NULL)
		goto out;
	/* The records by the receipt's own pseudonyms: the ids are gone. */
	if (r->receipt != NULL)
		rc_doc = json_loadb(r->receipt, r->receipt_len, 0, &je);
	recs = rc_doc != NULL ? json_object_get(rc_doc, "records") : NULL;
	if (!json_is_array(recs)) {
		rc = VAULT_E_CRYPTO; /* a completed deletion always has its receipt */
		goto out;
	}
	for (size_t i = 0; i < r->nepochs; i++)
		if (json_array_append_new(epochs, json_integer(r->epochs[i])) != 0)
			goto out;
	if (json_object_set_new(o, "type", json_string("erasure-complete")) ||
	    json_object_set_new(o, "version", json_integer(1)) ||
	    json_object_set_new(o, "request", json_integer((json_int_t)r->id)) ||
	    json_object_set(o, "records", recs) ||
	    json_object_set_new(o, "completed_at", json_integer((json_int_t)r->completed_at)) ||
	    json_object_set_new(o, "kek_epoch", json_integer(r->horizon_epoch)) ||
	    json_object_set(o, "epochs_retired", epochs) ||
	    json_object_set_new(o, "retired_at", json_integer((json_int_t)ctx->now)) ||
	    json_object_set_new(o, "compaction", json_true()) ||
	    json_object_set_new(o, "erasure", json_string(
	    "every key-encryption epoch that could unwrap the deleted records' data keys "
	    "(epochs_retired: those in the ring at completed_at, all <= kek_epoch) is "
	    "destroyed, and the data file was compacted after the last retire: no copy of "
	    "these records (backups, freed pages, old file copies) can be decrypted with "
	    "the vault's keys any more")))
		goto out;
	rc = privacy_json_dump(o, out);
	if (rc == 0 && out->len > REQUEST_RECEIPT_MAX)
		rc = VAULT_E_INTERNAL;
out:
	json_decref(rc_doc);
	json_decref(epochs);
	json_decref(o);
	return rc;
}

/* The lowest KEK epoch left in the ring (the current one if alone). */
static uint32_t
lowest_epoch(const struct keyring *ring)
{
	uint32_t lo = keyring_current(ring, KEYRING_KEK);
	for (size_t i = 0; i < keyring_count(ring, KEYRING_KEK); i++) {
		uint32_t e = keyring_version_at(ring, KEYRING_KEK, i);
		if (e < lo)
			lo = e;
	}
	return lo;
}

/* Issue the owed documents in txn; *n counts them. */
static int
issue_all(struct write_ctx *ctx, struct store_txn *txn, size_t *n)
{
	uint32_t lo = lowest_epoch(ctx->keys->ring);
	uint32_t kv = keyring_current(ctx->keys->ring, KEYRING_INDEX);
	uint64_t *owed = NULL;
	size_t nowed = 0, cap = 0;
	struct store_cursor *c;
	struct store_val k, v;
	int rc;

	*n = 0;
	/* Requests are few next to records: a scan finds the owed ones. */
	if ((rc = store_cursor_open(txn, STORE_REQUESTS, &c)) != 0)
		return store_error(rc);
	while ((rc = store_cursor_get(c, &k, &v, STORE_NEXT)) == 0) {
		struct privacy_request r;
		if (k.len != 8 || request_decode(v.data, v.len, &r) != 0 ||
		    r.horizon_epoch == 0 || r.erasure != NULL || r.horizon_epoch >= lo)
			continue;
		if (nowed == cap) {
			cap = cap ? 2 * cap : 16;
			uint64_t *m = realloc(owed, cap * sizeof(*m));
			if (m == NULL) {
				rc = VAULT_E_NOMEM;
				break;
			}
			owed = m;
		}
		owed[nowed++] = r.id;
	}
	store_cursor_close(c);
	if (rc != STORE_NOTFOUND) {
		free(owed);
		return rc == VAULT_E_NOMEM ? rc : store_error(rc);
	}
	rc = 0;
	for (size_t i = 0; i < nowed && rc == 0; i++) {
		struct privacy_request r;
		struct buf copy = { 0 }, doc = { 0 };
		int made = request_load(txn, STORE_REQUESTS, owed[i], &r, &copy);
		if (made == 0)
			made = make_document(ctx, &r, &doc);
		if (made == 0)
			made = secret_sign(ctx->keys, kv, doc.data, doc.len, r.erasure_signature);
		if (made == 0) {
			r.erasure = (const char *)doc.data;
			r.erasure_len = doc.len;
			r.erasure_key_version = kv;
			if ((rc = request_save(txn, STORE_REQUESTS, &r)) == 0)
				(*n)++;
		} else if (made == VAULT_E_NOMEM) {
			rc = made;
		} else {
			/* One damaged request must not hold back the others' documents. */
			log_error("privacy request %llu: its erasure-complete document cannot be "
			    "made (%s)", (unsigned long long)owed[i], vault_error_name(made));
		}
		buf_free(&doc);
		buf_free(&copy);
	}
	free(owed);
	return rc;
}

/* Issue the owed documents, unless a compaction is still pending. */
static int
issue(struct write_ctx *ctx, size_t *n)
{
	struct vault_services *svc = ctx->svc;
	struct store_txn *txn;
	int rc;

	*n = 0;
	pthread_rwlock_rdlock(&svc->env_lock);
	if ((rc = store_txn_begin(&svc->store, NULL, 0, &txn)) == 0) {
		/* The horizon ends only once the freed pages are gone too. */
		if (rotation_compaction_pending(svc, txn)) {
			store_txn_abort(txn);
			pthread_rwlock_unlock(&svc->env_lock);
			return 0;
		}
		if ((rc = issue_all(ctx, txn, n)) == 0 && *n > 0 &&
		    (rc = services_audit(svc, NULL, ctx->keys, NULL, 0, 0, "erasure_complete",
		    NULL, 0)) != 0)
			rc = VAULT_E_AUDIT;
		if (rc == 0)
			rc = store_txn_commit(txn) == 0 ? 0 : VAULT_E_STORAGE;
		else
			store_txn_abort(txn);
	} else {
		rc = store_error(rc);
	}
	pthread_rwlock_unlock(&svc->env_lock);
	return rc;
}

void
privacy_horizon_retired(struct write_ctx *ctx, uint32_t epoch)
{
	size_t n = 0;
	int rc;

	if (ctx->keys == NULL)
		return;
	rc = issue(ctx, &n);
	if (rc != 0)
		log_error("retire of epoch %u: the erasure-complete documents could not be "
		    "stored (%s); they are tried again within a minute", epoch,
		    vault_error_name(rc > 0 && rc < 1000 ? rc : VAULT_E_STORAGE));
	else if (n > 0)
		log_info("retire of epoch %u ended the erasure horizon of %zu deletion requests; "
		    "their erasure-complete documents are signed", epoch, n);
}

/* Seconds past the estimate before the alert (horizon.h). */
static long long
grace(const struct vault_services *svc)
{
	long long g = svc->cfg.rotation_interval_seconds / 10;
	if (g < HORIZON_GRACE_MIN)
		g = HORIZON_GRACE_MIN;
	return g > 3600 ? 3600 : g;
}

void
privacy_horizon_tick(struct write_ctx *ctx)
{
	struct vault_services *svc = ctx->svc;
	long long now = ctx->now, g = grace(svc), soonest = 0;
	uint64_t overdue[64];
	size_t n = 0, marked = 0, owed = 0;
	uint32_t lo = ctx->keys != NULL ? lowest_epoch(ctx->keys->ring) : 0;
	struct store_txn *txn;
	struct store_cursor *c;
	struct store_val k, v;
	int rc;

	if (ctx->keys == NULL || now < atomic_load(&next_look))
		return;
	pthread_rwlock_rdlock(&svc->env_lock);
	if ((rc = store_txn_begin(&svc->store, NULL, 0, &txn)) != 0)
		goto out;
	if ((rc = store_cursor_open(txn, STORE_REQUESTS, &c)) != 0) {
		store_txn_abort(txn);
		goto out;
	}
	while (store_cursor_get(c, &k, &v, STORE_NEXT) == 0) {
		struct privacy_request r;
		if (k.len != 8 || request_decode(v.data, v.len, &r) != 0 ||
		    r.horizon_epoch == 0 || r.erasure != NULL)
			continue;
		/* Ended, but not issued: the retire's compaction finished only at
		 * a later start, or issuing failed. */
		if (r.horizon_epoch < lo) {
			owed++; /* ended: not overdue, only its document is */
			continue;
		}
		if (r.overdue_alerted || r.horizon_estimate == 0)
			continue;
		long long when = (long long)r.horizon_estimate + g;
		if (now > when && n < sizeof(overdue) / sizeof(overdue[0]))
			overdue[n++] = r.id;
		else if (soonest == 0 || when < soonest)
			soonest = when;
	}
	store_cursor_close(c);
	/* Marked in the store first: at most one alert per request, restarts too. */
	for (size_t i = 0; i < n; i++) {
		struct privacy_request r;
		struct buf copy = { 0 };
		if (request_load(txn, STORE_REQUESTS, overdue[i], &r, &copy) == 0) {
			r.overdue_alerted = 1;
			if (request_save(txn, STORE_REQUESTS, &r) == 0)
				overdue[marked++] = overdue[i];
		}
		buf_free(&copy);
	}
	if (marked == 0 || (rc = store_txn_commit(txn)) != 0) {
		if (marked == 0)
			store_txn_abort(txn);
		marked = 0;
	}
out:
	pthread_rwlock_unlock(&svc->env_lock);
	size_t issued = 0;
	if (owed > 0 && issue(ctx, &issued) == 0 && issued > 0)
		log_info("the erasure horizon of %zu deletion requests had ended (their "
		    "retire's compaction finished later); their erasure-complete documents "
		    "are signed", issued);
	for (size_t i = 0; i < marked; i++) {
		log_warn("privacy request %llu: its erasure horizon is overdue (no retire has "
		    "ended it; see vaultctl keys status)", (unsigned long long)overdue[i]);
		alert_raise(svc, ctx->keys, ALERT_HORIZON_OVERDUE, NULL, 0);
	}
	/* More than one batch overdue: look again at once; else at the soonest,
	 * and at least every minute (a rotation may move the estimates). */
	long long next = n == sizeof(overdue) / sizeof(overdue[0]) ? now :
	    soonest != 0 && soonest < now + 60 ? soonest : now + 60;
	if (rc != 0)
		next = now + 60;
	atomic_store(&next_look, next);
}
