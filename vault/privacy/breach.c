/*
 * breach.c - the breach impact report (breach.h): selected audit entries
 * collected by pseudonym while the trail is verified, mapped back to record
 * ids by recomputing pseudonyms, and the signed notification list's body.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "keys/keyring.h"
#include "vault/audit.h"
#include "vault/crypto/token.h"
#include "vault/ctx.h"
#include "vault/keyset.h"
#include "vault/record/access.h"
#include "vault/record/fields.h"
#include "vault/services.h"
#include "vault/store/record_codec.h"
#include "vault/store/store.h"
#include "breach.h"
#include "privacy.h"

#define DOCUMENTS_BIT (FIELD_MAX + 1)
#define KV_MAX 16

/* The operations whose entries mean the client got the record's data or tokens. */
static int
counted(const char *op)
{
	static const char *const ops[] = { "create", "detokenize", "list", "read",
	    "request_complete", "tokenize", "update", NULL };
	for (size_t i = 0; ops[i] != NULL; i++)
		if (strcmp(op, ops[i]) == 0)
			return 1;
	return 0;
}

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
	return h;
}

/* Open addressing: slots hold rec index + 1 (0: empty). */
static int
index_grow(struct breach_report *rep)
{
	size_t cap = rep->index_cap ? rep->index_cap * 2 : 1024;
	size_t *slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return VAULT_E_NOMEM;
	for (size_t i = 0; i < rep->nrecs; i++) {
		size_t j = hash_str(rep->recs[i].pseudonym) & (cap - 1);
		while (slots[j] != 0)
			j = (j + 1) & (cap - 1);
		slots[j] = i + 1;
	}
	free(rep->index);
	rep->index = slots;
	rep->index_cap = cap;
	return 0;
}

/* The slot of pseudonym pn: its record, or NULL (added if add). */
static struct breach_record *
find(struct breach_report *rep, const char *pn, int add, int *rc)
{
	size_t *slots = rep->index, j;
	*rc = 0;
	if (slots != NULL) {
		for (j = hash_str(pn) & (rep->index_cap - 1); slots[j] != 0;
		    j = (j + 1) & (rep->index_cap - 1))
			if (strcmp(rep->recs[slots[j] - 1].pseudonym, pn) == 0)
				return &rep->recs[slots[j] - 1];
	}
	if (!add || strlen(pn) >= sizeof(rep->recs[0].pseudonym))
		return NULL;
	if (rep->nrecs == rep->cap) {
		size_t cap = rep->cap ? rep->cap * 2 : 256;
		struct breach_record *p = realloc(rep->recs, cap * sizeof(*p));
		if (p == NULL) {
			*rc = VAULT_E_NOMEM;
			return NULL;
		}
		rep->recs = p;
		rep->cap = cap;
	}
	if ((rep->nrecs + 1) * 2 > rep->index_cap && (*rc = index_grow(rep)) != 0)
		return NULL;
	struct breach_record *r = &rep->recs[rep->nrecs];
	memset(r, 0, sizeof(*r));
	snprintf(r->pseudonym, sizeof(r->pseudonym), "%s", pn);
	slots = rep->index;
	for (j = hash_str(pn) & (rep->index_cap - 1); slots[j] != 0;
	    j = (j + 1) & (rep->index_cap - 1))
		;
	slots[j] = ++rep->nrecs;
	return r;
}

static uint64_t
client_bit(struct breach_report *rep, const char *name)
{
	if (name == NULL)
		return 0;
	for (size_t i = 0; i < rep->nclients; i++)
		if (strcmp(rep->clients[i], name) == 0)
			return UINT64_C(1) << i;
	if (rep->nclients == BREACH_CLIENTS_MAX) {
		rep->clients_truncated = 1;
		return 0;
	}
	if ((rep->clients[rep->nclients] = strdup(name)) == NULL)
		return 0;
	return UINT64_C(1) << rep->nclients++;
}

struct collect {
	struct breach_report *rep;
	uint32_t kvs[KV_MAX];
	size_t nkvs;
	int rc;
};

static int
collect_one(void *arg, const struct audit_entry *e)
{
	struct collect *c = arg;
	struct breach_report *rep = c->rep;
	uint32_t bits = 0;
	int rc;

	if (strcmp(e->outcome, "ok") != 0 || !counted(e->op) || e->nrecords == 0)
		return 0;
	rep->entries++;
	for (size_t i = 0; i < e->nfields; i++) {
		const struct field_info *fi = field_by_name(e->fields[i], strlen(e->fields[i]));
		if (fi != NULL)
			bits |= UINT32_C(1) << fi->id;
		else if (strcmp(e->fields[i], "documents") == 0)
			bits |= UINT32_C(1) << DOCUMENTS_BIT;
	}
	size_t k;
	for (k = 0; k < c->nkvs && c->kvs[k] != e->kv; k++)
		;
	if (k == c->nkvs && c->nkvs < KV_MAX)
		c->kvs[c->nkvs++] = e->kv;
	uint64_t cb = client_bit(rep, e->client);
	for (size_t i = 0; i < e->nrecords; i++) {
		struct breach_record *r = find(rep, e->records[i], 1, &rc);
		if (r == NULL) {
			if (rc == 0)
				continue; /* not a pseudonym */
			c->rc = rc;
			return 1;
		}
		r->fields |= bits;
		r->clients |= cb;
	}
	return 0;
}

static int
by_state_id(const void *x, const void *y)
{
	const struct breach_record *a = x, *b = y;
	if ((a->state == BREACH_UNMAPPED) != (b->state == BREACH_UNMAPPED))
		return a->state == BREACH_UNMAPPED ? 1 : -1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Every allocated record id under the key versions seen: pseudonym -> id. */
static int
map_ids(struct read_ctx *ctx, struct collect *c)
{
	struct breach_report *rep = c->rep;
	uint64_t next = 0;
	size_t left = rep->nrecs;
	char pn[AUDIT_PSEUDONYM_MAX];
	int rc;

	if (left == 0)
		return 0;
	if ((rc = store_next_id(ctx->txn, &next)) != 0)
		return store_error(rc);
	for (uint64_t id = 1; id < next && left > 0; id++) {
		for (size_t k = 0; k < c->nkvs; k++) {
			if (audit_pseudonym(ctx->keys, c->kvs[k], id, pn) != 0)
				continue;
			struct breach_record *r = find(rep, pn, 0, &rc);
			if (r == NULL || r->state != BREACH_UNMAPPED)
				continue;
			uint8_t kb[8];
			struct store_val key = { 8, kb }, v;
			store_put_id(kb, id);
			r->id = id;
			rc = store_get(ctx->txn, STORE_RECORDS, &key, &v);
			if (rc == 0) {
				r->state = BREACH_LIVE;
			} else if (rc == STORE_NOTFOUND &&
			    (rc = store_get(ctx->txn, STORE_TOMBSTONES, &key, &v)) == 0) {
				struct tombstone t;
				if (tombstone_decode(v.data, v.len, &t) == 0)
					r->deleted_at = t.deleted_at;
				r->state = BREACH_DELETED;
			} else if (rc != STORE_NOTFOUND) {
				return store_error(rc);
			} else {
				continue; /* no trace of it left: stays unmapped */
			}
			left--;
		}
	}
	free(rep->index); /* slots are positions: sorting below moves records */
	rep->index = NULL;
	rep->index_cap = 0;
	qsort(rep->recs, rep->nrecs, sizeof(*rep->recs), by_state_id);
	return 0;
}

int
breach_collect(struct read_ctx *ctx, const struct breach_scope *s,
    struct breach_report *rep, struct op_error *err)
{
	struct vault_services *svc = ctx->svc;
	struct audit_filter f = { .client = s->client, .by_uid = s->by_uid, .uid = s->uid,
	    .from = s->from, .to = s->to };
	struct collect c = { .rep = rep };
	struct audit_verify_result r;
	struct audit_anchor need = { .what = "data" };
	size_t nneed = 0;
	int rc;

	memset(rep, 0, sizeof(*rep));
	if (svc->audit == NULL && (svc->audit_cfg.path == NULL || svc->audit_cfg.path[0] == '\0'))
		return op_fail(err, VAULT_E_CONFIG, NULL, "no audit trail is configured");
	rc = ctx->txn == NULL ? VAULT_E_NOT_FOUND : store_audit_anchor_get(ctx->txn,
	    store_anchor_node(&svc->store, svc->cfg.node_name), &need.seq, need.mac);
	if (rc == 0)
		nneed = 1;
	else if (rc != VAULT_E_NOT_FOUND)
		return op_fail(err, rc, NULL, "the audit anchor cannot be read");
	rc = audit_verify_select(svc->audit, svc->audit_cfg.path, ctx->keys, &need, nneed, &f,
	    collect_one, &c, &r);
	if (rc == 1)
		rc = c.rc;
	if (rc != 0)
		return op_fail(err, rc, NULL, rc == VAULT_E_NOMEM ? NULL :
		    "the audit trail cannot be read");
	rep->verified = r.entries;
	rep->unkeyed = r.unkeyed_selected;
	if (!r.ok) {
		/* Damage past the window leaves the window's entries verified. */
		if (r.first_bad_seq != 0 && s->to != 0 && r.last_time > s->to) {
			rep->damaged_after = r.first_bad_seq;
		} else {
			snprintf(err->text, sizeof(err->text), "audit trail damaged from entry "
			    "%" PRIu64 " on (after time %" PRId64 "): inside the window",
			    r.first_bad_seq, r.last_time);
			err->count_name = "first_bad_seq";
			err->count = r.first_bad_seq;
			return op_fail(err, VAULT_E_AUDIT, NULL, err->text);
		}
	}
	if ((rc = map_ids(ctx, &c)) != 0)
		return op_fail(err, rc, NULL, NULL);
	return 0;
}

void
breach_free(struct breach_report *rep)
{
	free(rep->recs);
	free(rep->index);
	for (size_t i = 0; i < rep->nclients; i++)
		free(rep->clients[i]);
	memset(rep, 0, sizeof(*rep));
}

/* ---- the notification list ---------------------------------------------- */

static int
set(json_t *o, const char *k, json_t *v)
{
	return v == NULL || json_object_set_new(o, k, v) != 0 ? VAULT_E_NOMEM : 0;
}

/* The contact channel of live record id into o ("channel" and its value). */
static int
contact(struct read_ctx *ctx, uint64_t id, json_t *o)
{
	struct record r;
	int rc, at = -1;

	if ((rc = record_load(ctx->svc, ctx->keys, ctx->txn, id, &r, NULL)) != 0)
		return rc;
	/* The email if there is one, else the postal address. */
	static const uint8_t order[] = { FIELD_EMAIL, FIELD_POSTAL_ADDRESS };
	for (size_t k = 0; k < sizeof(order) && at < 0; k++)
		for (unsigned i = 0; i < r.nfields && at < 0; i++)
			if (r.fields[i].id == order[k])
				at = (int)i;
	if (at < 0)
		return set(o, "channel", json_string("none"));
	if ((rc = record_unwrap(ctx->keys, id, &r, ctx->dek)) != 0)
		return rc;
	size_t off, len;
	buf_clear(&ctx->scratch);
	rc = record_open_field(ctx->dek, id, &r, &r.fields[at], &ctx->scratch, &off, &len);
	sodium_memzero(ctx->dek, DEK_BYTES);
	if (rc != 0)
		return rc;
	uint8_t fid = r.fields[at].id;
	trace_field(&ctx->trace, fid);
	const char *name = field_by_id(fid)->name;
	rc = set(o, "channel", json_string(fid == FIELD_EMAIL ? "email" : "postal")) ||
	    set(o, name, json_stringn((const char *)ctx->scratch.data + off, len)) ?
	    VAULT_E_NOMEM : 0;
	sodium_memzero(ctx->scratch.data, ctx->scratch.len);
	buf_clear(&ctx->scratch);
	return rc;
}

static const char *
bit_name(unsigned b)
{
	if (b == DOCUMENTS_BIT)
		return "documents";
	const struct field_info *fi = field_by_id(b);
	return fi != NULL ? fi->name : NULL;
}

int
breach_notification(struct read_ctx *ctx, const struct breach_scope *s,
    const struct breach_report *rep, struct buf *out, struct op_error *err)
{
	json_t *doc = json_object(), *people = json_array(), *by = json_object();
	json_t *window = json_object(), *counts = json_object(), *scope = json_object();
	uint64_t npeople = 0, nrecords = 0, ndeleted = 0, none = 0;
	int rc = VAULT_E_NOMEM;

	if (!doc || !people || !by || !window || !counts || !scope)
		goto out;
	for (unsigned b = 0; b <= DOCUMENTS_BIT; b++) {
		uint64_t recs = 0, live = 0;
		const char *name = bit_name(b);
		for (size_t i = 0; name != NULL && i < rep->nrecs; i++) {
			const struct breach_record *r = &rep->recs[i];
			if (r->state == BREACH_UNMAPPED || !(r->fields & (UINT32_C(1) << b)))
				continue;
			recs++;
			live += r->state == BREACH_LIVE;
		}
		if (recs == 0)
			continue;
		json_t *c = json_object();
		if (c == NULL || set(c, "records", json_integer((json_int_t)recs)) ||
		    set(c, "people", json_integer((json_int_t)live)) || set(by, name, c))
			goto out;
	}
	for (size_t i = 0; i < rep->nrecs; i++) {
		const struct breach_record *r = &rep->recs[i];
		if (r->state == BREACH_UNMAPPED)
			continue;
		nrecords++;
		if (r->state == BREACH_DELETED) {
			ndeleted++;
			continue; /* nothing of the person is left to contact */
		}
		char tok[TOKEN_MAX_LEN + 1];
		json_t *o = json_object(), *fields = json_array();
		if (o == NULL || fields == NULL) {
			json_decref(o);
			json_decref(fields);
			goto out;
		}
		for (unsigned b = 0; b <= DOCUMENTS_BIT; b++)
			if ((r->fields & (UINT32_C(1) << b)) && bit_name(b) != NULL)
				json_array_append_new(fields, json_string(bit_name(b)));
		token_record_make(ctx->keys->tokens, r->id, tok);
		if (trace_record(&ctx->trace, r->id) != 0 ||
		    set(o, "record", json_string(tok)) || set(o, "fields", fields)) {
			json_decref(o);
			goto out;
		}
		if ((rc = contact(ctx, r->id, o)) != 0) {
			json_decref(o);
			if (rc == VAULT_E_DELETED || rc == VAULT_E_NOT_FOUND) {
				ndeleted++; /* deleted since it was mapped */
				continue;
			}
			goto out;
		}
		none += strcmp(json_string_value(json_object_get(o, "channel")), "none") == 0;
		npeople++;
		if (json_array_append_new(people, o) != 0)
			goto out;
	}
	rc = VAULT_E_NOMEM;
	if (set(window, "from", json_integer(s->from)) || set(window, "to", json_integer(s->to)) ||
	    set(scope, "client", s->client ? json_string(s->client) : json_null()) ||
	    set(scope, "uid", s->by_uid ? json_integer((json_int_t)s->uid) : json_null()) ||
	    set(counts, "people", json_integer((json_int_t)npeople)) ||
	    set(counts, "records", json_integer((json_int_t)nrecords)) ||
	    set(counts, "deleted_records", json_integer((json_int_t)ndeleted)) ||
	    set(counts, "no_contact_channel", json_integer((json_int_t)none)) ||
	    set(counts, "unmapped_entries", json_integer((json_int_t)rep->unkeyed)) ||
	    json_object_set(counts, "by_field", by) ||
	    set(doc, "type", json_string("breach-notification")) ||
	    set(doc, "version", json_integer(1)) ||
	    set(doc, "generated_at", json_integer((json_int_t)ctx->now)) ||
	    json_object_set(doc, "window", window) || json_object_set(doc, "scope", scope) ||
	    json_object_set(doc, "counts", counts) || json_object_set(doc, "people", people))
		goto out;
	rc = privacy_json_dump(doc, out);
out:
	json_decref(doc);
	json_decref(people);
	json_decref(by);
	json_decref(window);
	json_decref(counts);
	json_decref(scope);
	return rc == 0 ? 0 : op_fail(err, rc, NULL, NULL);
}
