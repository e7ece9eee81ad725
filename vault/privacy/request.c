/*
 * request.c - privacy requests as stored (request.h).
 *
 * The stored form is a msgpack map with short keys; it goes through the
 * same bounded pre-check as a request body before msgpack-c unpacks it,
 * and every value is checked for type and range.
 */
#include <stdio.h>
#include <string.h>

#include <msgpack.h>
#include <vault/vault.h>

#include "common/msg.h"
#include "vault/store/store.h"
#include "request.h"

static const char *const kinds[] = { NULL, "delete", "know", "opt_out" };
static const char *const channels[] = { NULL, "online", "phone", "email", "mail" };
static const char *const requesters[] = { NULL, "self", "agent", "guardian" };
static const char *const states[] = {
	NULL, "open", "verified", "deferred", "completed", "rejected",
};
static const char *const events[] = {
	NULL, "opened", "verification_failed", "verified", "confirmation_failed",
	"confirmed", "deferred", "completed", "rejected", "extended",
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *
name_of(const char *const *t, size_t n, unsigned v)
{
	return v > 0 && v < n ? t[v] : "unknown";
}

static unsigned
from(const char *const *t, size_t n, const char *s, size_t len)
{
	for (size_t i = 1; i < n; i++)
		if (strlen(t[i]) == len && memcmp(t[i], s, len) == 0)
			return (unsigned)i;
	return 0;
}

const char *request_kind_name(unsigned k) { return name_of(kinds, N(kinds), k); }
const char *request_channel_name(unsigned c) { return name_of(channels, N(channels), c); }
const char *request_requester_name(unsigned r) { return name_of(requesters, N(requesters), r); }
const char *request_state_name(unsigned s) { return name_of(states, N(states), s); }
const char *request_event_name(unsigned e) { return name_of(events, N(events), e); }
unsigned request_kind_from(const char *s, size_t l) { return from(kinds, N(kinds), s, l); }
unsigned request_channel_from(const char *s, size_t l) { return from(channels, N(channels), s, l); }
unsigned request_requester_from(const char *s, size_t l) { return from(requesters, N(requesters), s, l); }
unsigned request_state_from(const char *s, size_t l) { return from(states, N(states), s, l); }

void
request_note(struct privacy_request *r, uint64_t time, uint8_t event,
    const char *client)
{
	if (r->nhistory == REQUEST_MAX_HISTORY) {
		/* Keep the opening event; drop the oldest after it. */
		memmove(&r->history[1], &r->history[2],
		    (REQUEST_MAX_HISTORY - 2) * sizeof(r->history[0]));
		r->nhistory--;
	}
	struct request_history *h = &r->history[r->nhistory++];
	memset(h, 0, sizeof(*h));
	h->time = time;
	h->event = event;
	if (client != NULL)
		snprintf(h->client, sizeof(h->client), "%s", client);
}

int
request_final(const struct privacy_request *r)
{
	return r->state == RS_COMPLETED || r->state == RS_REJECTED;
}

static int
claim_kind(uint64_t k)
{
	return (k >= BLIND_FIRST_NAME && k <= BLIND_PHONE) ||
	    (k >= BLIND_TXN_REFERENCE && k <= BLIND_TXN_AMOUNT);
}

/* "he": a completed deletion's horizon, nil for any other request. */
static void
pack_horizon(msgpack_packer *pk, const struct privacy_request *r)
{
	if (r->horizon_epoch == 0) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint32(pk, r->horizon_epoch);
	msgpack_pack_array(pk, r->nepochs);
	for (size_t i = 0; i < r->nepochs; i++)
		msgpack_pack_uint32(pk, r->epochs[i]);
	msgpack_pack_uint64(pk, r->horizon_estimate);
	r->overdue_alerted ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

/* "ec": the signed erasure-complete document, nil until it is issued. */
static void
pack_erasure(msgpack_packer *pk, const struct privacy_request *r)
{
	if (r->erasure == NULL) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_array(pk, 3);
	mp_str(pk, r->erasure, r->erasure_len);
	mp_bin(pk, r->erasure_signature, SIGN_BYTES);
	msgpack_pack_uint32(pk, r->erasure_key_version);
}

int
request_encode(const struct privacy_request *r, struct buf *out)
{
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, buf_msgpack_write);
	/* A final state keeps only what the receipt needs (request.h). */
	int fin = request_final(r);

	msgpack_pack_map(&pk, 24);
	mp_cstr(&pk, "v");  msgpack_pack_uint8(&pk, 2);
	mp_cstr(&pk, "k");  msgpack_pack_uint8(&pk, r->kind);
	mp_cstr(&pk, "ch"); msgpack_pack_uint8(&pk, r->channel);
	mp_cstr(&pk, "by"); msgpack_pack_uint8(&pk, r->requester);
	mp_cstr(&pk, "s");  msgpack_pack_uint8(&pk, r->state);
	mp_cstr(&pk, "oc"); msgpack_pack_uint8(&pk, r->opt_out_channels);
	mp_cstr(&pk, "pv");
	msgpack_pack_uint32(&pk, r->has_permission && !fin ? r->permission_version : 0);
	mp_cstr(&pk, "p");
	if (r->has_permission && !fin)
		mp_bin(&pk, r->permission, SECRET_HASH_BYTES);
	else
		msgpack_pack_nil(&pk);
	mp_cstr(&pk, "ra"); msgpack_pack_uint64(&pk, r->received_at);
	mp_cstr(&pk, "du"); msgpack_pack_uint64(&pk, r->due_at);
	mp_cstr(&pk, "ca"); msgpack_pack_uint64(&pk, r->completed_at);
	mp_cstr(&pk, "x");
	if (r->extended && fin)
		msgpack_pack_true(&pk); /* that it was extended; the reason goes */
	else if (r->extended)
		mp_bin(&pk, r->extension_reason, r->extension_reason_len);
	else
		msgpack_pack_nil(&pk);
	mp_cstr(&pk, "vf"); msgpack_pack_uint32(&pk, r->verify_failures);
	mp_cstr(&pk, "cf"); msgpack_pack_uint32(&pk, r->confirm_failures);
	mp_cstr(&pk, "cd");
	if (r->code_issued && fin) {
		/* Whether it was confirmed; the code's hash goes. */
		r->confirmed ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	} else if (r->code_issued) {
		msgpack_pack_array(&pk, 4);
		msgpack_pack_uint32(&pk, r->code_version);
		mp_bin(&pk, r->code_hash, SECRET_HASH_BYTES);
		msgpack_pack_uint64(&pk, r->code_expires);
		r->confirmed ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	} else {
		msgpack_pack_nil(&pk);
	}
	mp_cstr(&pk, "cl");
	msgpack_pack_array(&pk, r->nclaims);
	for (size_t i = 0; i < r->nclaims; i++)
		msgpack_pack_uint8(&pk, r->claims[i].kind);
	/* A finished request keeps no target ids: its receipt names the records
	 * (pseudonyms), and an id would tie the request to a backup's record. */
	mp_cstr(&pk, "t");
	if (fin) {
		/* Their number only: the receipt names them by pseudonym. */
		msgpack_pack_uint32(&pk, (uint32_t)(r->ntargets ? r->ntargets : r->target_count));
	} else {
		msgpack_pack_array(&pk, r->ntargets);
		for (size_t i = 0; i < r->ntargets; i++)
			msgpack_pack_uint64(&pk, r->targets[i]);
	}
	mp_cstr(&pk, "h");
	msgpack_pack_array(&pk, r->nhistory);
	for (size_t i = 0; i < r->nhistory; i++) {
		msgpack_pack_array(&pk, 3);
		msgpack_pack_uint64(&pk, r->history[i].time);
		msgpack_pack_uint8(&pk, r->history[i].event);
		mp_cstr(&pk, r->history[i].client);
	}
	mp_cstr(&pk, "rc");
	if (r->receipt != NULL)
		mp_str(&pk, r->receipt, r->receipt_len);
	else
		msgpack_pack_nil(&pk);
	mp_cstr(&pk, "sg");
	if (r->receipt != NULL)
		mp_bin(&pk, r->signature, SIGN_BYTES);
	else
		msgpack_pack_nil(&pk);
	mp_cstr(&pk, "kv"); msgpack_pack_uint32(&pk, r->key_version);
	mp_cstr(&pk, "id"); msgpack_pack_uint64(&pk, r->id);
	mp_cstr(&pk, "he"); pack_horizon(&pk, r);
	mp_cstr(&pk, "ec"); pack_erasure(&pk, r);
	return out->error;
}

static int
get_u(const msgpack_object *m, const char *key, uint64_t max, uint64_t *v)
{
	const msgpack_object *o = msg_get(m, key);
	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
		return -1;
	*v = o->via.u64;
	return 0;
}

/* A bin of exactly n bytes (n 0: any length up to max); nil gives NULL. */
static int
get_bin(const msgpack_object *o, size_t n, size_t max, const uint8_t **p, size_t *len)
{
	if (o != NULL && o->type == MSGPACK_OBJECT_NIL) {
		*p = NULL;
		*len = 0;
		return 0;
	}
	if (o == NULL || o->type != MSGPACK_OBJECT_BIN ||
	    (n != 0 && o->via.bin.size != n) || o->via.bin.size > max)
		return -1;
	*p = (const uint8_t *)o->via.bin.ptr;
	*len = o->via.bin.size;
	return 0;
}

/* "he" and "ec" (pack_horizon, pack_erasure): only a completed deletion has them. */
static int
decode_horizon(const msgpack_object *m, struct privacy_request *r)
{
	const msgpack_object *o = msg_get(m, "he"), *a;
	const uint8_t *p;
	size_t len;

	if (o == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		a = o->via.array.ptr;
		if (r->kind != REQ_DELETE || r->state != RS_COMPLETED || o->via.array.size != 4 ||
		    a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 == 0 ||
		    a[0].via.u64 > UINT32_MAX || a[1].type != MSGPACK_OBJECT_ARRAY ||
		    a[1].via.array.size > REQUEST_MAX_EPOCHS ||
		    a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    a[3].type != MSGPACK_OBJECT_BOOLEAN)
			return -1;
		r->horizon_epoch = (uint32_t)a[0].via.u64;
		r->nepochs = a[1].via.array.size;
		for (size_t i = 0; i < r->nepochs; i++) {
			const msgpack_object *e = &a[1].via.array.ptr[i];
			if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER || e->via.u64 == 0 ||
			    e->via.u64 > r->horizon_epoch)
				return -1;
			r->epochs[i] = (uint32_t)e->via.u64;
		}
		r->horizon_estimate = a[2].via.u64;
		r->overdue_alerted = a[3].via.boolean;
	} else if (o->type != MSGPACK_OBJECT_NIL) {
		return -1;
	}
	o = msg_get(m, "ec");
	if (o == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	a = o->via.array.ptr;
	if (o->type != MSGPACK_OBJECT_ARRAY || r->horizon_epoch == 0 || o->via.array.size != 3 ||
	    a[0].type != MSGPACK_OBJECT_STR || a[0].via.str.size > REQUEST_RECEIPT_MAX ||
	    get_bin(&a[1], SIGN_BYTES, SIGN_BYTES, &p, &len) || p == NULL ||
	    a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[2].via.u64 > UINT32_MAX)
		return -1;
	r->erasure = a[0].via.str.ptr;
	r->erasure_len = a[0].via.str.size;
	memcpy(r->erasure_signature, p, SIGN_BYTES);
	r->erasure_key_version = (uint32_t)a[2].via.u64;
	return 0;
}

static int
decode_map(const msgpack_object *m, struct privacy_request *r)
{
	uint64_t v;
	const uint8_t *p;
	size_t len;
	const msgpack_object *o;

	/* 2: claims as kinds only (1 kept their tags) */
	if (get_u(m, "v", 2, &v) || v != 2)
		return -1;
	if (get_u(m, "k", N(kinds) - 1, &v) || v == 0) return -1;
	r->kind = (uint8_t)v;
	if (get_u(m, "ch", N(channels) - 1, &v) || v == 0) return -1;
	r->channel = (uint8_t)v;
	if (get_u(m, "by", N(requesters) - 1, &v) || v == 0) return -1;
	r->requester = (uint8_t)v;
	if (get_u(m, "s", N(states) - 1, &v) || v == 0) return -1;
	r->state = (uint8_t)v;
	if (get_u(m, "oc", 7, &v)) return -1;
	r->opt_out_channels = (uint8_t)v;
	int fin = request_final(r);
	if (get_u(m, "pv", UINT32_MAX, &v)) return -1;
	r->permission_version = (uint32_t)v;
	if (get_bin(msg_get(m, "p"), SECRET_HASH_BYTES, SECRET_HASH_BYTES, &p, &len))
		return -1;
	if ((r->has_permission = p != NULL))
		memcpy(r->permission, p, SECRET_HASH_BYTES);
	if (get_u(m, "ra", UINT64_MAX, &r->received_at) ||
	    get_u(m, "du", UINT64_MAX, &r->due_at) ||
	    get_u(m, "ca", UINT64_MAX, &r->completed_at))
		return -1;
	o = msg_get(m, "x");
	if (fin && o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean) {
		p = NULL; /* extended; the reason was dropped at the final state */
		len = 0;
		r->extended = 1;
	} else if (get_bin(o, 0, REQUEST_TEXT_MAX + SEALED_TEXT_OVERHEAD, &p, &len)) {
		return -1;
	} else {
		r->extended = p != NULL;
	}
	r->extension_reason = p;
	r->extension_reason_len = len;
	if (get_u(m, "vf", 1000, &v)) return -1;
	r->verify_failures = (unsigned)v;
	if (get_u(m, "cf", 1000, &v)) return -1;
	r->confirm_failures = (unsigned)v;
	o = msg_get(m, "cd");
	if (o == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		const msgpack_object *a = o->via.array.ptr;
		if (o->via.array.size != 4 || a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    a[0].via.u64 > UINT32_MAX ||
		    get_bin(&a[1], SECRET_HASH_BYTES, SECRET_HASH_BYTES, &p, &len) || p == NULL ||
		    a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    a[3].type != MSGPACK_OBJECT_BOOLEAN)
			return -1;
		r->code_issued = 1;
		r->code_version = (uint32_t)a[0].via.u64;
		memcpy(r->code_hash, p, SECRET_HASH_BYTES);
		r->code_expires = a[2].via.u64;
		r->confirmed = a[3].via.boolean;
	} else if (fin && o->type == MSGPACK_OBJECT_BOOLEAN) {
		r->code_issued = 1; /* the hash was dropped at the final state */
		r->confirmed = o->via.boolean;
	} else if (o->type != MSGPACK_OBJECT_NIL) {
		return -1;
	}
	o = msg_get(m, "cl");
	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > REQUEST_MAX_CLAIMS)
		return -1;
	/* Kinds, each a blind kind, ascending without repeats. */
	r->nclaims = o->via.array.size;
	for (size_t i = 0; i < r->nclaims; i++) {
		const msgpack_object *e = &o->via.array.ptr[i];
		if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER || !claim_kind(e->via.u64) ||
		    (i > 0 && e->via.u64 <= r->claims[i - 1].kind))
			return -1;
		r->claims[i].kind = (uint8_t)e->via.u64;
	}
	o = msg_get(m, "t");
	if (fin && o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= REQUEST_MAX_TARGETS) {
		r->target_count = (size_t)o->via.u64;
		o = NULL; /* the ids were dropped at the final state */
	} else if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.size > REQUEST_MAX_TARGETS) {
		return -1;
	}
	r->ntargets = o != NULL ? o->via.array.size : 0;
	if (o != NULL)
		r->target_count = r->ntargets;
	if (r->ntargets > 0 && fin)
		return -1; /* a final state keeps no ids */
	for (size_t i = 0; i < r->ntargets; i++) {
		const msgpack_object *e = &o->via.array.ptr[i];
		if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return -1;
		r->targets[i] = e->via.u64;
	}
	o = msg_get(m, "h");
	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > REQUEST_MAX_HISTORY)
		return -1;
	r->nhistory = o->via.array.size;
	for (size_t i = 0; i < r->nhistory; i++) {
		const msgpack_object *e = &o->via.array.ptr[i];
		if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 3)
			return -1;
		const msgpack_object *a = e->via.array.ptr;
		if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[1].via.u64 >= N(events) ||
		    a[2].type != MSGPACK_OBJECT_STR || a[2].via.str.size >= sizeof(r->history[i].client))
			return -1;
		r->history[i].time = a[0].via.u64;
		r->history[i].event = (uint8_t)a[1].via.u64;
		memset(r->history[i].client, 0, sizeof(r->history[i].client));
		memcpy(r->history[i].client, a[2].via.str.ptr, a[2].via.str.size);
	}
	o = msg_get(m, "rc");
	if (o == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_STR) {
		if (o->via.str.size > REQUEST_RECEIPT_MAX)
			return -1;
		r->receipt = o->via.str.ptr;
		r->receipt_len = o->via.str.size;
		if (get_bin(msg_get(m, "sg"), SIGN_BYTES, SIGN_BYTES, &p, &len) || p == NULL)
			return -1;
		memcpy(r->signature, p, SIGN_BYTES);
	} else if (o->type != MSGPACK_OBJECT_NIL) {
		return -1;
	}
	if (get_u(m, "kv", UINT32_MAX, &v)) return -1;
	r->key_version = (uint32_t)v;
	if (get_u(m, "id", UINT64_MAX, &r->id)) return -1;
	return decode_horizon(m, r);
}

int
request_decode(const uint8_t *data, size_t len, struct privacy_request *r)
{
	static const struct mp_limits lim = { 6, 4096 };
	msgpack_zone zone;
	msgpack_object root;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!msgpack_zone_init(&zone, 2048))
		return VAULT_E_NOMEM;
	rc = msg_decode(data, len, &lim, &zone, &root);
	if (rc == VAULT_E_NOMEM) {
		msgpack_zone_destroy(&zone);
		return rc;
	}
	if (rc != 0 || decode_map(&root, r) != 0)
		rc = VAULT_E_CRYPTO;
	msgpack_zone_destroy(&zone);
	return rc;
}

int
request_load(struct store_txn *txn, enum store_table dbi, uint64_t id, struct privacy_request *r,
    struct buf *copy)
{
	uint8_t kb[8];
	store_put_id(kb, id);
	struct store_val k = { 8, kb }, v;
	int rc = store_get(txn, dbi, &k, &v);
	if (rc == STORE_NOTFOUND)
		return VAULT_E_NOT_FOUND;
	if (rc != 0)
		return store_error(rc);
	const uint8_t *p = v.data;
	if (copy != NULL) {
		buf_clear(copy);
		if ((rc = buf_append(copy, v.data, v.len)) != 0)
			return rc;
		p = copy->data;
	}
	if ((rc = request_decode(p, v.len, r)) != 0)
		return rc;
	return r->id == id ? 0 : VAULT_E_CRYPTO;
}

int
request_save(struct store_txn *txn, enum store_table dbi, const struct privacy_request *r)
{
	struct buf b = { 0 };
	uint8_t kb[8];
	int rc = request_encode(r, &b);
	if (rc == 0) {
		store_put_id(kb, r->id);
		struct store_val k = { 8, kb }, v = { b.len, b.data };
		if ((rc = store_put(txn, dbi, &k, &v, 0)) != 0)
			rc = store_error(rc);
	}
	buf_free(&b);
	return rc;
}

int
request_overdue(const struct privacy_request *r, uint64_t now)
{
	return (r->state == RS_OPEN || r->state == RS_VERIFIED) && now > r->due_at;
}

void
request_pack_summary(msgpack_packer *pk, const struct privacy_request *r, uint64_t now)
{
	mp_cstr(pk, "request");
	msgpack_pack_uint64(pk, r->id);
	mp_cstr(pk, "kind");
	mp_cstr(pk, request_kind_name(r->kind));
	mp_cstr(pk, "channel");
	mp_cstr(pk, request_channel_name(r->channel));
	mp_cstr(pk, "requester");
	mp_cstr(pk, request_requester_name(r->requester));
	mp_cstr(pk, "state");
	mp_cstr(pk, request_state_name(r->state));
	mp_cstr(pk, "received_at");
	msgpack_pack_uint64(pk, r->received_at);
	mp_cstr(pk, "due_at");
	msgpack_pack_uint64(pk, r->due_at);
	mp_cstr(pk, "extended");
	r->extended ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "overdue");
	request_overdue(r, now) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "targets");
	msgpack_pack_uint32(pk, (uint32_t)(r->ntargets ? r->ntargets : r->target_count));
}
