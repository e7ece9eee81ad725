/*
 * export.c - the right-to-know export (privacy.h) and jansson's wiping
 * allocator.
 *
 * The export is the one place the vault hands a whole record out in clear:
 * to the privacy desk, for the person the request verified. It is built
 * with jansson (canonical: keys sorted, no spaces) so the signature covers
 * exactly the bytes the person receives.
 */
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "keys/keyring.h"
#include "vault/audit.h"
#include "vault/crypto/seal.h"
#include "vault/crypto/token.h"
#include "vault/ctx.h"
#include "vault/keyset.h"
#include "vault/record/access.h"
#include "vault/record/fields.h"
#include "vault/services.h"
#include "hold.h"
#include "privacy.h"

#define HISTORY_MAX 1000

/* A size header in front of each block, so free can wipe it. */
static void *
wipe_malloc(size_t n)
{
	if (n > SIZE_MAX - 16)
		return NULL;
	uint8_t *p = malloc(n + 16);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + 16;
}

static void
wipe_free(void *q)
{
	if (q == NULL)
		return;
	uint8_t *p = (uint8_t *)q - 16;
	size_t n;
	memcpy(&n, p, sizeof(n));
	sodium_memzero(q, n);
	free(p);
}

int
privacy_json_dump(const json_t *j, struct buf *out)
{
	size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;
	if (n == 0)
		return VAULT_E_NOMEM;
	if ((rc = buf_reserve(out, n)) != 0)
		return rc;
	if (json_dumpb(j, (char *)out->data + out->len, n, JSON_COMPACT | JSON_SORT_KEYS) != n)
		return VAULT_E_INTERNAL;
	out->len += n;
	return 0;
}

void
privacy_json_wipe_on_free(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

static int
set(json_t *o, const char *k, json_t *v)
{
	return v == NULL || json_object_set_new(o, k, v) != 0 ? VAULT_E_NOMEM : 0;
}

struct history {
	json_t *arr;
	int rc;
};

static int
history_one(void *arg, const struct audit_entry *e)
{
	struct history *h = arg;
	json_t *fields = json_array(), *o = json_object();
	if (fields == NULL || o == NULL)
		goto nomem;
	for (size_t i = 0; i < e->nfields; i++)
		if (json_array_append_new(fields, json_string(e->fields[i])) != 0)
			goto nomem;
	if (set(o, "time", json_integer(e->time)) ||
	    set(o, "client", e->client ? json_string(e->client) : json_null()) ||
	    set(o, "purpose", e->purpose ? json_string(e->purpose) : json_null()) ||
	    set(o, "op", json_string(e->op)) ||
	    set(o, "outcome", json_string(e->outcome)) ||
	    json_object_set(o, "fields", fields) != 0)
		goto nomem;
	json_decref(fields);
	/* Newest kept: drop the oldest beyond the cap. */
	if (json_array_size(h->arr) == HISTORY_MAX)
		json_array_remove(h->arr, 0);
	if (json_array_append_new(h->arr, o) != 0) {
		h->rc = VAULT_E_NOMEM;
		return 1;
	}
	return 0;
nomem:
	json_decref(fields);
	json_decref(o);
	h->rc = VAULT_E_NOMEM;
	return 1;
}

struct holds_json {
	json_t *arr;
	const struct key_set *ks;
	uint64_t now;
};

static int
hold_one(void *arg, const struct hold *h)
{
	struct holds_json *a = arg;
	if (!hold_live(h, a->now))
		return 0;
	json_t *o = json_object();
	if (o == NULL || set(o, "purpose", json_string(hold_purpose_name(h->purpose))) ||
	    set(o, "placed_at", json_integer((json_int_t)h->placed_at)) ||
	    set(o, "expires_at", h->expires_at ? json_integer((json_int_t)h->expires_at) :
	    json_null()) || json_array_append_new(a->arr, o) != 0) {
		json_decref(o);
		return VAULT_E_NOMEM;
	}
	return 0;
}

/*
 * The deterministic tokens of a field, one per join domain (policy.h) the
 * record holds an index entry for under the current token key: recomputed
 * from the value for each domain the policy names, kept if the record has
 * the tag. Adds {field: [token, ...]} to det when there is any.
 */
static int
export_det(struct read_ctx *ctx, const struct record *r, uint8_t fid,
    const char *value, size_t len, json_t *det)
{
	const struct policy *pol = ctx->policy;
	json_t *list = NULL;
	int has = 0;
	for (unsigned d = 0; d < r->ndet && !has; d++)
		has = r->det[d].field == fid;
	if (!has)
		return 0;
	for (size_t c = 0; c < pol->nclients; c++) {
		const char *dom = pol->clients[c].token_domain;
		int seen = 0;
		for (size_t e = 0; e < c && !seen; e++)
			seen = strcmp(pol->clients[e].token_domain, dom) == 0;
		if (seen)
			continue; /* a domain shared by several clients: once */
		char dt[TOKEN_MAX_LEN + 1];
		uint8_t tag[TOKEN_TAG_BYTES];
		if (token_det_make(ctx->keys->tokens, dom, strlen(dom), fid, value, len,
		    dt, tag) != 0)
			continue;
		for (unsigned d = 0; d < r->ndet; d++) {
			if (r->det[d].field != fid || memcmp(r->det[d].tag, tag, sizeof(tag)) != 0)
				continue;
			if (list == NULL && (list = json_array()) == NULL)
				return VAULT_E_NOMEM;
			if (json_array_append_new(list, json_string(dt)) != 0) {
				json_decref(list);
				return VAULT_E_NOMEM;
			}
			break;
		}
	}
	if (list == NULL)
		return 0;
	return set(det, field_by_id(fid)->name, list);
}

static int
export_record(struct read_ctx *ctx, uint64_t id, uint64_t now, json_t *out)
{
	struct vault_services *svc = ctx->svc;
	struct record r;
	char tok[TOKEN_MAX_LEN + 1], pn[AUDIT_PSEUDONYM_MAX];
	json_t *fields = json_object(), *docs = json_array(), *consent = json_object();
	json_t *holds = json_array(), *hist = json_array(), *o = json_object();
	json_t *tokens = json_object(), *det = json_object();
	int rc = VAULT_E_NOMEM;

	if (!fields || !docs || !consent || !holds || !hist || !o || !tokens || !det)
		goto out;
	if ((rc = record_load(svc, ctx->keys, ctx->txn, id, &r, NULL)) != 0)
		goto out;
	if ((rc = record_unwrap(ctx->keys, id, &r, ctx->dek)) != 0)
		goto out;
	for (unsigned i = 0; i < r.nfields; i++) {
		size_t off, len;
		buf_clear(&ctx->scratch);
		if ((rc = record_open_field(ctx->dek, id, &r, &r.fields[i], &ctx->scratch,
		    &off, &len)) != 0)
			goto out;
		uint8_t fid = r.fields[i].id;
		trace_field(&ctx->trace, fid);
		if ((rc = set(fields, field_by_id(fid)->name,
		    json_stringn((const char *)ctx->scratch.data + off, len))) != 0)
			goto out;
		if ((rc = export_det(ctx, &r, fid, (const char *)ctx->scratch.data + off,
		    len, det)) != 0)
			goto out;
	}
	if (r.has_card_token && r.card_ct_len > SEAL_OVERHEAD &&
	    r.card_ct_len - SEAL_OVERHEAD <= TOKEN_MAX_LEN) {
		char ct[TOKEN_MAX_LEN + 1];
		struct seal_place pl = { id, r.dek_version, FIELD_CARD_TOKEN, 0, 0 };
		if (open_field(ctx->dek, &pl, r.card_ct, r.card_ct_len, (uint8_t *)ct) != 0) {
			rc = VAULT_E_CRYPTO;
			goto out;
		}
		rc = set(tokens, "card", json_stringn(ct, r.card_ct_len - SEAL_OVERHEAD));
		sodium_memzero(ct, sizeof(ct));
		if (rc != 0)
			goto out;
	}
	for (unsigned i = 0; i < r.ndocs; i++) {
		struct document_view d;
		size_t off;
		buf_clear(&ctx->scratch);
		if ((rc = document_open(svc, ctx->txn, ctx->dek, id, &r, r.doc_slots[i],
		    &ctx->scratch, &off)) != 0 ||
		    (rc = document_parse(ctx->scratch.data + off, ctx->scratch.len - off,
		    r.doc_slots[i], &d)) != 0)
			goto out;
		json_t *dj = json_object();
		rc = VAULT_E_NOMEM;
		if (dj == NULL || set(dj, "slot", json_integer(d.slot)) ||
		    set(dj, "name", json_stringn(d.name, d.name_len)) ||
		    set(dj, "type", json_stringn(d.type, d.type_len)) ||
		    set(dj, "bytes", json_integer((json_int_t)d.data_len)) ||
		    json_array_append_new(docs, dj) != 0)
			goto out;
		trace_field(&ctx->trace, FIELD_MAX + 1);
	}
	rc = VAULT_E_NOMEM;
	if (set(consent, "email", json_boolean(r.flags & CONSENT_OPT_OUT_EMAIL)) ||
	    set(consent, "phone", json_boolean(r.flags & CONSENT_OPT_OUT_PHONE)) ||
	    set(consent, "mail", json_boolean(r.flags & CONSENT_OPT_OUT_MAIL)))
		goto out;
	struct holds_json hj = { holds, ctx->keys, now };
	if ((r.flags & RECORD_FLAG_HELD) &&
	    (rc = hold_each_of_record(ctx->txn, svc, id, hold_one, &hj)) != 0)
		goto out;
	/* The access history: what the audit trail says about this record. */
	if (svc->audit_cfg.path != NULL && svc->audit_cfg.path[0] != '\0') {
		struct audit_filter f = { .record = &id };
		struct history h = { hist, 0 };
		rc = audit_query(svc->audit_cfg.path, ctx->keys, &f, history_one, &h);
		if (h.rc != 0 || (rc != 0 && rc != 1)) {
			rc = h.rc ? h.rc : rc;
			goto out;
		}
	}
	token_record_make(ctx->keys->tokens, id, tok);
	audit_pseudonym(ctx->keys, keyring_current(ctx->keys->ring, KEYRING_INDEX), id, pn);
	rc = VAULT_E_NOMEM;
	if (set(tokens, "record", json_string(tok)) || json_object_set(tokens, "deterministic", det) ||
	    json_object_set(o, "tokens", tokens) ||
	    set(o, "record", json_string(tok)) || set(o, "pseudonym", json_string(pn)) ||
	    set(o, "created", json_integer((json_int_t)r.created)) ||
	    set(o, "updated", json_integer((json_int_t)r.updated)) ||
	    set(o, "child", json_boolean(r.flags & RECORD_FLAG_CHILD)) ||
	    json_object_set(o, "fields", fields) || json_object_set(o, "documents", docs) ||
	    json_object_set(o, "marketing_opt_out", consent) ||
	    json_object_set(o, "holds", holds) || json_object_set(o, "access_history", hist) ||
	    set(o, "tokens_note", json_string("opaque field tokens are random per issue and "
	    "not kept, so they cannot be listed; each stays valid until its field changes")) ||
	    json_array_append(out, o) != 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(ctx->dek, DEK_BYTES);
	if (ctx->scratch.data != NULL)
		sodium_memzero(ctx->scratch.data, ctx->scratch.len);
	buf_clear(&ctx->scratch);
	json_decref(fields);
	json_decref(docs);
	json_decref(consent);
	json_decref(holds);
	json_decref(hist);
	json_decref(tokens);
	json_decref(det);
	json_decref(o);
	return rc;
}

int
privacy_export(struct read_ctx *ctx, const struct privacy_request *r,
    uint64_t now, struct buf *out, struct op_error *err)
{
	json_t *doc = json_object(), *recs = json_array();
	int rc = VAULT_E_NOMEM;

	if (doc == NULL || recs == NULL)
		goto out;
	for (size_t i = 0; i < r->ntargets; i++) {
		if (trace_record(&ctx->trace, r->targets[i]) != 0) {
			rc = VAULT_E_NOMEM;
			goto out;
		}
		rc = export_record(ctx, r->targets[i], now, recs);
		if (rc == VAULT_E_DELETED || rc == VAULT_E_NOT_FOUND)
			continue; /* gone since verification: nothing to tell */
		if (rc != 0)
			goto out;
	}
	rc = VAULT_E_NOMEM;
	if (set(doc, "type", json_string("data-export")) || set(doc, "version", json_integer(1)) ||
	    set(doc, "request", json_integer((json_int_t)r->id)) ||
	    set(doc, "generated_at", json_integer((json_int_t)now)) ||
	    json_object_set(doc, "records", recs))
		goto out;
	rc = privacy_json_dump(doc, out);
out:
	json_decref(recs);
	json_decref(doc);
	return rc == 0 ? 0 : op_fail(err, rc, NULL, NULL);
}
