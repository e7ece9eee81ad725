/*
 * admin.c - the client library's administration calls (vault.h): unseal,
 * key status, rotation, retirement, per-record rotation, backups.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <vault/vault.h>

#include "common/msg.h"
#include "client.h"

int
vault_unseal(struct vault *v, const char *passphrase)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	msgpack_packer pk = call_begin(v, "unseal", 0, 1, &start, &id);
	mp_cstr(&pk, "passphrase");
	mp_cstr(&pk, passphrase);
	int rc = call_roundtrip(v, start, id, &res);
	buf_clear(&v->out);
	return rc;
}

static int
versions(const msgpack_object *set, uint32_t *current, struct vault_key_version **out,
    size_t *n)
{
	const msgpack_object *arr;
	if (set == NULL || set->type != MSGPACK_OBJECT_MAP ||
	    (arr = msg_get(set, "versions")) == NULL || arr->type != MSGPACK_OBJECT_ARRAY)
		return VAULT_E_PROTO_FRAME;
	*current = (uint32_t)obj_u64(set, "current");
	*n = arr->via.array.size;
	*out = calloc(*n ? *n : 1, sizeof(**out));
	if (*out == NULL)
		return VAULT_E_NOMEM;
	for (size_t i = 0; i < *n; i++) {
		const msgpack_object *e = &arr->via.array.ptr[i];
		if (e->type != MSGPACK_OBJECT_MAP)
			return VAULT_E_PROTO_FRAME;
		(*out)[i].version = (uint32_t)obj_u64(e, "version");
		(*out)[i].created = obj_u64(e, "created");
		(*out)[i].records = obj_u64(e, "records");
		(*out)[i].det_entries = obj_u64(e, "det_entries");
	}
	return 0;
}

static int64_t
obj_i64(const msgpack_object *m, const char *key)
{
	const msgpack_object *o = msg_get(m, key);
	if (o == NULL)
		return 0;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (int64_t)o->via.u64;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return o->via.i64;
	return 0;
}

void
vault_keys_status_free(struct vault_keys_status *s)
{
	if (s == NULL)
		return;
	free(s->kek);
	free(s->token);
	free(s->index);
	for (size_t i = 0; i < s->nblockers; i++) {
		free(s->blockers[i].record);
		free(s->blockers[i].resolve);
	}
	free(s->blockers);
	free(s->newest_backup);
	free(s);
}

static char *
key_strdup(const msgpack_object *m, const char *key)
{
	const msgpack_object *o = msg_get(m, key);
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return strdup("");
	return strndup(o->via.str.ptr, o->via.str.size);
}

/* "retire_blockers" (absent from an older vaultd: none). */
static int
blockers(const msgpack_object *res, struct vault_keys_status *s)
{
	const msgpack_object *b = msg_get(res, "retire_blockers"), *arr;
	if (b == NULL)
		return 0;
	if (b->type != MSGPACK_OBJECT_MAP ||
	    (arr = msg_get(b, "listed")) == NULL || arr->type != MSGPACK_OBJECT_ARRAY)
		return VAULT_E_PROTO_FRAME;
	s->blocked_records = obj_u64(b, "records");
	s->blocked_after_rotation = obj_u64(b, "after_last_rotation");
	if (arr->via.array.size == 0)
		return 0;
	s->blockers = calloc(arr->via.array.size, sizeof(*s->blockers));
	if (s->blockers == NULL)
		return VAULT_E_NOMEM;
	for (size_t i = 0; i < arr->via.array.size; i++) {
		const msgpack_object *e = &arr->via.array.ptr[i];
		if (e->type != MSGPACK_OBJECT_MAP)
			return VAULT_E_PROTO_FRAME;
		struct vault_retire_blocker *x = &s->blockers[s->nblockers++];
		x->record = key_strdup(e, "record");
		x->resolve = key_strdup(e, "resolve");
		x->epoch = (uint32_t)obj_u64(e, "epoch");
		const msgpack_object *dm = msg_get(e, "damaged");
		x->damaged = dm != NULL && dm->type == MSGPACK_OBJECT_BOOLEAN && dm->via.boolean;
		if (x->record == NULL || x->resolve == NULL)
			return VAULT_E_NOMEM;
	}
	return 0;
}

int
vault_keys_status(struct vault *v, struct vault_keys_status **out)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res, *rot, *sched, *active;
	call_begin(v, "keys_status", 0, 0, &start, &id);
	int rc = call_roundtrip(v, start, id, &res);
	if (rc != 0)
		return rc;
	struct vault_keys_status *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return VAULT_E_NOMEM;
	if ((rc = versions(msg_get(res, "kek"), &s->kek_current, &s->kek, &s->nkek)) != 0 ||
	    (rc = versions(msg_get(res, "token"), &s->token_current, &s->token, &s->ntoken)) != 0 ||
	    (rc = versions(msg_get(res, "index"), &s->index_current, &s->index, &s->nindex)) != 0)
		goto fail;
	rc = VAULT_E_PROTO_FRAME;
	if ((rot = msg_get(res, "rotation")) == NULL || rot->type != MSGPACK_OBJECT_MAP ||
	    (sched = msg_get(res, "schedule")) == NULL || sched->type != MSGPACK_OBJECT_MAP)
		goto fail;
	active = msg_get(rot, "active");
	s->rotating = active && active->type == MSGPACK_OBJECT_BOOLEAN && active->via.boolean;
	s->target_epoch = (uint32_t)obj_u64(rot, "target_epoch");
	s->examined = obj_u64(rot, "examined");
	s->rewrapped = obj_u64(rot, "rewrapped");
	s->total = obj_u64(rot, "total");
	s->started = obj_i64(rot, "started");
	s->stalled_since = obj_i64(rot, "stalled_since");
	const msgpack_object *why = msg_get(rot, "stall_reason");
	if (why != NULL && why->type == MSGPACK_OBJECT_STR)
		snprintf(s->stall_reason, sizeof(s->stall_reason), "%.*s",
		    (int)why->via.str.size, why->via.str.ptr);
	s->interval_seconds = (uint32_t)obj_u64(sched, "interval_seconds");
	s->next_due = obj_i64(sched, "next_due");
	s->last_done = obj_i64(sched, "last_done");
	if ((rc = blockers(res, s)) != 0)
		goto fail;
	/* "backups" (absent from an older vaultd: nothing known). */
	const msgpack_object *bk = msg_get(res, "backups");
	if (bk != NULL && bk->type == MSGPACK_OBJECT_MAP) {
		const msgpack_object *o = msg_get(bk, "applies"), *nu = msg_get(bk, "newest_usable");
		s->backups_apply = o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
		o = msg_get(bk, "stale");
		s->backups_stale = o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
		if (nu != NULL && nu->type == MSGPACK_OBJECT_STR &&
		    (s->newest_backup = strndup(nu->via.str.ptr, nu->via.str.size)) == NULL) {
			rc = VAULT_E_NOMEM;
			goto fail;
		}
		s->newest_backup_created = obj_i64(bk, "newest_usable_created");
		s->retire_refused_since = obj_i64(bk, "retire_refused_since");
		s->retire_refused_epoch = (uint32_t)obj_u64(bk, "retire_refused_epoch");
		o = msg_get(bk, "retire_refused_reason");
		if (o != NULL && o->type == MSGPACK_OBJECT_STR)
			snprintf(s->retire_refused_reason, sizeof(s->retire_refused_reason), "%.*s",
			    (int)o->via.str.size, o->via.str.ptr);
	}
	*out = s;
	return 0;
fail:
	vault_keys_status_free(s);
	return rc;
}

int
vault_keys_rotate(struct vault *v, const char *kind, uint32_t *version)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	msgpack_packer pk = call_begin(v, "keys_rotate", 0, kind ? 1 : 0, &start, &id);
	if (kind) {
		mp_cstr(&pk, "kind");
		mp_cstr(&pk, kind);
	}
	int rc = call_roundtrip(v, start, id, &res);
	if (rc == 0 && version)
		*version = (uint32_t)obj_u64(res, "version");
	return rc;
}

int
vault_keys_retire(struct vault *v, uint32_t epoch, uint64_t *remaining,
    uint64_t *bytes_before, uint64_t *bytes_after)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	msgpack_packer pk = call_begin(v, "keys_retire", 0, 1, &start, &id);
	mp_cstr(&pk, "epoch");
	msgpack_pack_uint32(&pk, epoch);
	if (remaining)
		*remaining = 0;
	int rc = call_roundtrip(v, start, id, &res);
	if (rc == VAULT_E_CONFLICT && remaining)
		*remaining = v->last_count;
	if (rc == 0) {
		if (bytes_before)
			*bytes_before = obj_u64(res, "file_bytes_before");
		if (bytes_after)
			*bytes_after = obj_u64(res, "file_bytes_after");
	}
	return rc;
}

int
vault_keys_rotate_record(struct vault *v, const char *record_token,
    uint32_t *dek_version)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	msgpack_packer pk = call_begin(v, "keys_rotate_record", 0, 1, &start, &id);
	mp_cstr(&pk, "record");
	mp_cstr(&pk, record_token);
	int rc = call_roundtrip(v, start, id, &res);
	if (rc == 0 && dek_version)
		*dek_version = (uint32_t)obj_u64(res, "dek_version");
	return rc;
}

int
vault_backup(struct vault *v, const char *name, char **path, uint64_t *bytes)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	msgpack_packer pk = call_begin(v, "backup", 0, 1, &start, &id);
	mp_cstr(&pk, "name");
	mp_cstr(&pk, name);
	int rc = call_roundtrip(v, start, id, &res);
	if (rc != 0)
		return rc;
	if (bytes)
		*bytes = obj_u64(res, "bytes");
	if (path && (*path = obj_strdup(msg_get(res, "path"))) == NULL)
		return VAULT_E_PROTO_FRAME;
	return 0;
}

int
vault_audit_verify(struct vault *v, struct vault_audit_check *out)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res, *ok, *reason;
	call_begin(v, "audit_verify", 0, 0, &start, &id);
	int rc = call_roundtrip(v, start, id, &res);
	if (rc != 0)
		return rc;
	memset(out, 0, sizeof(*out));
	ok = msg_get(res, "ok");
	out->ok = ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
	out->files = (unsigned)obj_u64(res, "files");
	out->entries = obj_u64(res, "entries");
	out->first_bad_seq = obj_u64(res, "first_bad_seq");
	reason = msg_get(res, "reason");
	if (reason && reason->type == MSGPACK_OBJECT_STR)
		snprintf(out->reason, sizeof(out->reason), "%.*s", (int)reason->via.str.size,
		    reason->via.str.ptr);
	return 0;
}

void
vault_audit_entries_free(struct vault_audit_entry *e, size_t n)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(e[i].client);
		free(e[i].purpose);
		free(e[i].op);
		free(e[i].outcome);
		for (size_t j = 0; j < e[i].nrecords; j++)
			free(e[i].records[j]);
		for (size_t j = 0; j < e[i].nfields; j++)
			free(e[i].fields[j]);
		free(e[i].records);
		free(e[i].fields);
	}
	free(e);
}

static char **
str_array(const msgpack_object *a, size_t *n)
{
	*n = 0;
	if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY)
		return NULL;
	char **out = calloc(a->via.array.size + 1, sizeof(*out));
	if (out == NULL)
		return NULL;
	for (uint32_t i = 0; i < a->via.array.size; i++)
		if ((out[(*n)] = obj_strdup(&a->via.array.ptr[i])) != NULL)
			(*n)++;
	return out;
}

int
vault_audit_query(struct vault *v, const struct vault_audit_filter *f,
    struct vault_audit_entry **entries, size_t *n)
{
	static const struct vault_audit_filter all;
	size_t start;
	uint64_t id;
	const msgpack_object *res, *arr;
	if (f == NULL)
		f = &all;
	if (f->from < 0 || f->to < 0)
		return VAULT_E_INVALID_VALUE;
	size_t nargs = (f->record_token != NULL) + (f->client != NULL) + (f->purpose != NULL) +
	    (f->from != 0) + (f->to != 0) + (f->limit != 0);
	msgpack_packer pk = call_begin(v, "audit_query", 0, nargs, &start, &id);
	if (f->record_token) {
		mp_cstr(&pk, "record");
		mp_cstr(&pk, f->record_token);
	}
	if (f->client) {
		mp_cstr(&pk, "client");
		mp_cstr(&pk, f->client);
	}
	if (f->purpose) {
		mp_cstr(&pk, "purpose");
		mp_cstr(&pk, f->purpose);
	}
	if (f->from) {
		mp_cstr(&pk, "from");
		msgpack_pack_uint64(&pk, (uint64_t)f->from);
	}
	if (f->to) {
		mp_cstr(&pk, "to");
		msgpack_pack_uint64(&pk, (uint64_t)f->to);
	}
	if (f->limit) {
		mp_cstr(&pk, "limit");
		msgpack_pack_uint32(&pk, f->limit);
	}
	int rc = call_roundtrip(v, start, id, &res);
	if (rc != 0)
		return rc;
	arr = msg_get(res, "entries");
	if (arr == NULL || arr->type != MSGPACK_OBJECT_ARRAY)
		return VAULT_E_PROTO_FRAME;
	struct vault_audit_entry *e = calloc(arr->via.array.size + 1, sizeof(*e));
	if (e == NULL)
		return VAULT_E_NOMEM;
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		const msgpack_object *o = &arr->via.array.ptr[i];
		e[i].seq = obj_u64(o, "seq");
		e[i].time = (int64_t)obj_u64(o, "time");
		e[i].uid = obj_u64(o, "uid");
		e[i].client = obj_strdup(msg_get(o, "client"));
		e[i].purpose = obj_strdup(msg_get(o, "purpose"));
		e[i].op = obj_strdup(msg_get(o, "op"));
		e[i].outcome = obj_strdup(msg_get(o, "outcome"));
		e[i].records = str_array(msg_get(o, "records"), &e[i].nrecords);
		e[i].fields = str_array(msg_get(o, "fields"), &e[i].nfields);
	}
	*entries = e;
	*n = arr->via.array.size;
	return 0;
}
