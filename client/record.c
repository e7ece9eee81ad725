/*
 * record.c - struct vault_record: field values and documents on the client
 * side. Every string and document is wiped when replaced or freed.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "client.h"

static char *
dup_bytes(const void *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s != NULL) {
		if (n)
			memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static void
wipe_free(void *p, size_t n)
{
	if (p != NULL) {
		sodium_memzero(p, n);
		free(p);
	}
}

static void
wipe_str(char *s)
{
	if (s != NULL)
		wipe_free(s, strlen(s));
}

int
vault_record_new(struct vault_record **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : VAULT_E_NOMEM;
}

void
vault_record_free(struct vault_record *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nfields; i++) {
		free(r->fields[i].name);
		wipe_str(r->fields[i].value);
	}
	for (size_t i = 0; i < r->ndocs; i++) {
		wipe_str(r->docs[i].name);
		wipe_str(r->docs[i].type);
		wipe_free(r->docs[i].data, r->docs[i].len);
	}
	free(r->fields);
	free(r->docs);
	free(r->slots);
	free(r);
}

int
record_set_n(struct vault_record *r, const char *field, size_t flen,
    const char *value, size_t vlen)
{
	char *v = dup_bytes(value, vlen);
	if (v == NULL)
		return VAULT_E_NOMEM;
	for (size_t i = 0; i < r->nfields; i++) {
		if (strlen(r->fields[i].name) == flen &&
		    memcmp(r->fields[i].name, field, flen) == 0) {
			wipe_str(r->fields[i].value);
			r->fields[i].value = v;
			return 0;
		}
	}
	if (r->nfields == r->capfields) {
		size_t cap = r->capfields ? r->capfields * 2 : 8;
		void *p = realloc(r->fields, cap * sizeof(*r->fields));
		if (p == NULL) {
			wipe_str(v);
			return VAULT_E_NOMEM;
		}
		r->fields = p;
		r->capfields = cap;
	}
	char *name = dup_bytes(field, flen);
	if (name == NULL) {
		wipe_str(v);
		return VAULT_E_NOMEM;
	}
	r->fields[r->nfields].name = name;
	r->fields[r->nfields].value = v;
	r->nfields++;
	return 0;
}

int
vault_record_set(struct vault_record *r, const char *field, const char *value)
{
	if (r == NULL || field == NULL || value == NULL)
		return VAULT_E_INVALID_VALUE;
	return record_set_n(r, field, strlen(field), value, strlen(value));
}

int
record_add_doc_n(struct vault_record *r, uint32_t slot, const char *name,
    size_t nlen, const char *type, size_t tlen, const void *data, size_t len)
{
	if (r->ndocs == r->capdocs) {
		size_t cap = r->capdocs ? r->capdocs * 2 : 4;
		void *p = realloc(r->docs, cap * sizeof(*r->docs));
		if (p == NULL)
			return VAULT_E_NOMEM;
		r->docs = p;
		r->capdocs = cap;
	}
	struct client_doc *d = &r->docs[r->ndocs];
	d->slot = slot;
	d->name = dup_bytes(name, nlen);
	d->type = dup_bytes(type, tlen);
	d->data = malloc(len ? len : 1);
	d->len = len;
	if (d->name == NULL || d->type == NULL || d->data == NULL) {
		wipe_str(d->name);
		wipe_str(d->type);
		free(d->data);
		return VAULT_E_NOMEM;
	}
	if (len)
		memcpy(d->data, data, len);
	r->ndocs++;
	return 0;
}

int
vault_record_add_document(struct vault_record *r, const char *name,
    const char *content_type, const void *data, size_t len)
{
	if (r == NULL || name == NULL || content_type == NULL || (data == NULL && len))
		return VAULT_E_INVALID_VALUE;
	return record_add_doc_n(r, 0, name, strlen(name), content_type,
	    strlen(content_type), data, len);
}

const char *
vault_record_get(const struct vault_record *r, const char *field)
{
	for (size_t i = 0; r != NULL && i < r->nfields; i++)
		if (strcmp(r->fields[i].name, field) == 0)
			return r->fields[i].value;
	return NULL;
}

size_t
vault_record_field_count(const struct vault_record *r)
{
	return r ? r->nfields : 0;
}

int
vault_record_field_at(const struct vault_record *r, size_t i, const char **name,
    const char **value)
{
	if (r == NULL || i >= r->nfields)
		return VAULT_E_NOT_FOUND;
	*name = r->fields[i].name;
	*value = r->fields[i].value;
	return 0;
}

size_t
vault_record_document_count(const struct vault_record *r)
{
	return r ? r->ndocs : 0;
}

int
vault_record_document_at(const struct vault_record *r, size_t i, uint32_t *slot,
    const char **name, const char **content_type, const void **data, size_t *len)
{
	if (r == NULL || i >= r->ndocs)
		return VAULT_E_NOT_FOUND;
	const struct client_doc *d = &r->docs[i];
	if (slot)
		*slot = d->slot;
	if (name)
		*name = d->name;
	if (content_type)
		*content_type = d->type;
	if (data)
		*data = d->data;
	if (len)
		*len = d->len;
	return 0;
}

void
vault_free(char *s)
{
	wipe_str(s);
}

size_t
vault_record_document_slots(const struct vault_record *r, const uint32_t **slots)
{
	*slots = r ? r->slots : NULL;
	return r ? r->nslots : 0;
}

int
vault_record_opted_out(const struct vault_record *r, const char *channel)
{
	static const char *const names[3] = { "email", "phone", "mail" };
	if (r == NULL || !r->opt_out_known || channel == NULL)
		return -1;
	for (int i = 0; i < 3; i++)
		if (strcmp(channel, names[i]) == 0)
			return r->opt_out[i];
	return -1;
}
