/*
 * complete.c - completing deletion requests, now or once their holds are
 * gone, and the signed receipts that prove it (privacy.h).
 */
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/audit.h"
#include "vault/ctx.h"
#include "vault/keyset.h"
#include "vault/log.h"
#include "vault/record/access.h"
#include "vault/record/delete.h"
#include "vault/privacy/feed.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "hold.h"
#include "horizon.h"
#include "privacy.h"

int
privacy_pack_hold(msgpack_packer *pk, const struct key_set *ks,
    const struct hold *h, struct buf *scratch)
{
	char tok[TOKEN_MAX_LEN + 1];
	int rc;

	buf_clear(scratch);
	if ((rc = secret_open_text(ks, h->reason, h->reason_len, scratch)) != 0)
		return rc;
	if ((rc = token_record_make(ks->tokens, h->record, tok)) != 0)
		return rc;
	msgpack_pack_map(pk, 7);
	mp_cstr(pk, "hold");
	msgpack_pack_uint64(pk, h->id);
	mp_cstr(pk, "record");
	mp_cstr(pk, tok);
	mp_cstr(pk, "purpose");
	mp_cstr(pk, hold_purpose_name(h->purpose));
	mp_cstr(pk, "reason");
	mp_str(pk, scratch->data, scratch->len);
	mp_cstr(pk, "placed_at");
	msgpack_pack_uint64(pk, h->placed_at);
	mp_cstr(pk, "expires_at");
	msgpack_pack_uint64(pk, h->expires_at);
	mp_cstr(pk, "client");
	mp_cstr(pk, h->client);
	sodium_memzero(scratch->data, scratch->len);
	buf_clear(scratch);
	return 0;
}

/* The live holds on r's targets: counted, and packed if pk. */
struct held {
	uint64_t now;
	size_t n;
	msgpack_packer *pk;
	const struct key_set *ks;
	struct buf *scratch;
	int pass;          /* 0: count, 1: pack */
};

static int
held_one(void *arg, const struct hold *h)
{
	struct held *a = arg;
	if (!hold_live(h, a->now))
		return 0;
	if (a->pass == 1)
		return privacy_pack_hold(a->pk, a->ks, h, a->scratch);
	a->n++;
	return 0;
}

static int
targets_held(struct write_ctx *ctx, const struct privacy_request *r,
    struct held *a)
{
	for (size_t i = 0; i < r->ntargets; i++) {
		int rc = hold_each_of_record(ctx->txn, ctx->svc, r->targets[i], held_one, a);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The receipt's JSON into out (NUL not included). */
struct notified {
	uint64_t request;
	json_t *list;
};

/* The receipt's "notified": each deletion notice of the request. */
static int
add_notified(const struct feed_notice *n, void *arg)
{
	struct notified *a = arg;
	if (n->request != a->request)
		return 0;
	json_t *o = json_pack("{s:s,s:I}", "client", n->client, "notice", (json_int_t)n->id);
	return o == NULL || json_array_append_new(a->list, o) != 0 ? VAULT_E_NOMEM : 0;
}

static int
make_receipt(struct write_ctx *ctx, const struct privacy_request *r,
    struct buf *out)
{
	uint32_t kv = keyring_current(ctx->keys->ring, KEYRING_INDEX);
	uint64_t horizon = r->horizon_estimate;
	json_t *o = json_object(), *recs = json_array();
	char pn[AUDIT_PSEUDONYM_MAX];
	int rc = VAULT_E_NOMEM;

	if (o == NULL || recs == NULL)
		goto out;
	for (size_t i = 0; i < r->ntargets; i++) {
		if (audit_pseudonym(ctx->keys, kv, r->targets[i], pn) != 0 ||
		    json_array_append_new(recs, json_string(pn)) != 0)
			goto out;
	}
	/* Written in this transaction by record_delete_for. */
	struct notified nt = { r->id, json_array() };
	if (nt.list == NULL || json_object_set_new(o, "notified", nt.list) != 0 ||
	    (rc = feed_scan(ctx->txn, NULL, 0, add_notified, &nt)) != 0) {
		rc = rc ? rc : VAULT_E_NOMEM;
		goto out;
	}
	rc = VAULT_E_NOMEM;
	if (json_object_set_new(o, "type", json_string("deletion-receipt")) ||
	    json_object_set_new(o, "version", json_integer(1)) ||
	    json_object_set_new(o, "request", json_integer((json_int_t)r->id)) ||
	    json_object_set_new(o, "completed_at", json_integer((json_int_t)ctx->now)) ||
	    json_object_set(o, "records", recs) ||
	    json_object_set_new(o, "kek_epoch", json_integer(r->horizon_epoch)) ||
	    json_object_set_new(o, "unrecoverable_after", horizon ?
	    json_integer((json_int_t)horizon) : json_null()) ||
	    json_object_set_new(o, "erasure", json_string(horizon ?
	    "each record's data key was destroyed at completed_at; copies in backups, freed "
	    "pages and old file copies can be unwrapped until every key-encryption epoch <= "
	    "kek_epoch is retired. unrecoverable_after is an estimate: the next scheduled "
	    "rotation plus the measured duration of the last rewrap; the vault signs an "
	    "erasure-complete document for this request when that retire happens" :
	    "each record's data key was destroyed at completed_at; copies in backups, freed "
	    "pages and old file copies can be unwrapped until every key-encryption epoch <= "
	    "kek_epoch is retired: after the next rotate-and-retire (no rotation is "
	    "scheduled); the vault signs an erasure-complete document for this request "
	    "when that retire happens")))
		goto out;
	rc = privacy_json_dump(o, out);
	if (rc == 0 && out->len > REQUEST_RECEIPT_MAX)
		rc = VAULT_E_INTERNAL;
out:
	json_decref(recs);
	json_decref(o);
	return rc;
}

int
privacy_complete_delete(struct write_ctx *ctx, struct privacy_request *r,
    const char *client, msgpack_packer *pk, struct op_error *err)
{
	struct held a = { (uint64_t)ctx->now, 0, pk, ctx->keys, &ctx->doc, 0 };
	struct buf receipt = { 0 };
	int rc;

	if ((rc = targets_held(ctx, r, &a)) != 0)
		return op_fail(err, rc, NULL, NULL);
	if (a.n > 0) {
		if (r->state != RS_DEFERRED) {
			r->state = RS_DEFERRED;
			request_note(r, (uint64_t)ctx->now, EV_DEFERRED, client);
		}
		if ((rc = request_save(ctx->txn, STORE_REQUESTS, r)) != 0)
			return op_fail(err, rc, NULL, NULL);
		if (pk != NULL) {
			msgpack_pack_map(pk, 2);
			mp_cstr(pk, "state");
			mp_cstr(pk, "deferred");
			mp_cstr(pk, "holds");
			msgpack_pack_array(pk, (uint32_t)a.n);
			a.pass = 1;
			if ((rc = targets_held(ctx, r, &a)) != 0)
				return op_fail(err, rc, NULL, NULL);
		}
		return 0;
	}
	for (size_t i = 0; i < r->ntargets; i++) {
		if (trace_record(&ctx->trace, r->targets[i]) != 0)
			return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
		rc = record_delete_for(ctx, r->targets[i], VAULT_DELETE_SUBJECT_REQUEST, r->id, err);
		/* Already gone (deleted by other means meanwhile): nothing left to shred. */
		if (rc == VAULT_E_DELETED || rc == VAULT_E_NOT_FOUND)
			rc = 0;
		if (rc != 0)
			return rc;
	}
	uint32_t kv = keyring_current(ctx->keys->ring, KEYRING_INDEX);
	privacy_horizon_begin(ctx, r);
	if ((rc = make_receipt(ctx, r, &receipt)) != 0 ||
	    (rc = secret_sign(ctx->keys, kv, receipt.data, receipt.len, r->signature)) != 0)
		goto out;
	r->receipt = (const char *)receipt.data;
	r->receipt_len = receipt.len;
	r->key_version = kv;
	r->state = RS_COMPLETED;
	r->completed_at = (uint64_t)ctx->now;
	request_note(r, (uint64_t)ctx->now, EV_COMPLETED, client);
	if ((rc = request_save(ctx->txn, STORE_REQUESTS, r)) != 0)
		goto out;
	if (pk != NULL) {
		msgpack_pack_map(pk, 4);
		mp_cstr(pk, "state");
		mp_cstr(pk, "completed");
		mp_cstr(pk, "receipt");
		mp_str(pk, receipt.data, receipt.len);
		mp_cstr(pk, "signature");
		mp_bin(pk, r->signature, SIGN_BYTES);
		mp_cstr(pk, "key_version");
		msgpack_pack_uint32(pk, kv);
	}
out:
	r->receipt = NULL;
	buf_free(&receipt);
	return rc == 0 ? 0 : op_fail(err, rc, NULL, NULL);
}

int
privacy_resume(struct write_ctx *ctx, const char *client, uint64_t *done,
    size_t cap, size_t *n)
{
	struct store_cursor *c;
	struct store_val k, v;
	uint64_t *deferred = NULL;
	size_t nd = 0, capd = 0;
	int rc;

	*n = 0;
	/* Requests are few next to records; a scan finds the deferred ones. */
	if ((rc = store_cursor_open(ctx->txn, STORE_REQUESTS, &c)) != 0)
		return store_error(rc);
	while ((rc = store_cursor_get(c, &k, &v, STORE_NEXT)) == 0) {
		struct privacy_request r;
		if (k.len != 8 || request_decode(v.data, v.len, &r) != 0 ||
		    r.state != RS_DEFERRED)
			continue;
		/* Still held: leave it alone (no rewrite). */
		struct held a = { (uint64_t)ctx->now, 0, NULL, ctx->keys, NULL, 0 };
		if (targets_held(ctx, &r, &a) == 0 && a.n > 0)
			continue;
		if (nd == capd) {
			capd = capd ? 2 * capd : 16;
			uint64_t *m = realloc(deferred, capd * sizeof(*m));
			if (m == NULL) {
				rc = VAULT_E_NOMEM;
				break;
			}
			deferred = m;
		}
		deferred[nd++] = r.id;
	}
	store_cursor_close(c);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		free(deferred);
		return rc == VAULT_E_NOMEM ? rc : store_error(rc);
	}
	/*
	 * Each in a nested transaction of its own: one request that cannot
	 * complete (a damaged record) must neither leave half its targets
	 * shredded nor keep the others, or the hold being lifted, waiting.
	 */
	struct store_txn *parent = ctx->txn;
	for (size_t i = 0; i < nd; i++) {
		struct privacy_request r;
		struct buf copy = { 0 };
		struct op_error err = { 0 };
		struct store_txn *child;
		size_t ndeleted = ctx->ndeleted, ntrace = ctx->trace.nrecords;
		if ((rc = store_txn_begin(&ctx->svc->store, parent, 0, &child)) != 0) {
			ctx->txn = parent;
			free(deferred);
			return store_error(rc);
		}
		ctx->txn = child;
		if ((rc = request_load(child, STORE_REQUESTS, deferred[i], &r,
		    &copy)) == 0)
			rc = privacy_complete_delete(ctx, &r, client, NULL, &err);
		if (rc == 0 && (rc = store_txn_commit(child)) == 0) {
			if (r.state == RS_COMPLETED && *n < cap)
				done[(*n)++] = r.id;
		} else {
			if (rc != 0)
				store_txn_abort(child);
			ctx->ndeleted = ndeleted;
			ctx->trace.nrecords = ntrace;
			log_error("privacy request %llu: its deletion could not complete (%s); "
			    "it stays deferred", (unsigned long long)deferred[i],
			    vault_error_name(rc > 0 && rc < 1000 ? rc : VAULT_E_STORAGE));
		}
		ctx->txn = parent;
		buf_free(&copy);
	}
	free(deferred);
	return 0;
}
