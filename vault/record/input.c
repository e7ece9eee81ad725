/*
 * input.c - validating create/update/tokenize arguments (see input.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <vault/vault.h>

#include "common/msg.h"
#include "common/names.h"
#include "vault/ctx.h"
#include "vault/services.h"
#include "input.h"
#include "normalize.h"

struct record_input *
input_new(void)
{
	return calloc(1, sizeof(struct record_input));
}

void
input_free(struct record_input *in)
{
	if (in == NULL)
		return;
	buf_free(&in->data);
	sodium_memzero(in->blind_tag, sizeof(in->blind_tag));
	free(in);
}

const struct field_info *
input_field_name(const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return NULL;
	return field_by_name(o->via.str.ptr, o->via.str.size);
}

int
input_unknown_field(struct op_error *err, const char *arg, const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return op_fail(err, VAULT_E_PROTO_TYPE, arg, "field names are strings");
	const char *p = o->via.str.ptr;
	size_t n = o->via.str.size, i = 0;
	while (i < n && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
	    p[i] == '_'))
		i++;
	if (n == 0 || n > 32 || i != n)
		return op_fail(err, VAULT_E_UNKNOWN_FIELD, arg, "an unknown field name (not "
		    "shown: not 1-32 of a-z, 0-9, _); PROTOCOL.md lists the fields");
	snprintf(err->text, sizeof(err->text), "unknown field \"%.*s\"; PROTOCOL.md "
	    "lists the fields", (int)n, p);
	return op_fail(err, VAULT_E_UNKNOWN_FIELD, arg, err->text);
}

int
input_parse_fields(struct read_ctx *ctx, const char *arg,
    const msgpack_object_map *m, struct record_input *in, struct op_error *err)
{
	struct normalize_ctx nctx = { ctx->now, ctx->svc->cfg.default_calling_code };
	uint32_t seen = 0;

	if (m->size > FIELD_MAX)
		return op_fail(err, VAULT_E_LIMIT, arg, "more fields than a record has");
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
		const struct field_info *fi = input_field_name(k);
		if (fi == NULL)
			return input_unknown_field(err, arg, k);
		if (seen & (1u << fi->id))
			return op_fail(err, VAULT_E_INVALID_VALUE, fi->name, "field given twice");
		seen |= 1u << fi->id;
		if (v->type != MSGPACK_OBJECT_STR)
			return op_fail(err, VAULT_E_PROTO_TYPE, fi->name, "field values are strings");
		int rc = buf_reserve(&in->data, FIELD_VALUE_MAX);
		if (rc != 0)
			return op_fail(err, rc, NULL, NULL);
		size_t n = 0;
		const char *why = NULL;
		rc = normalize_field_why(fi->id, v->via.str.ptr, v->via.str.size,
		    (char *)in->data.data + in->data.len, FIELD_VALUE_MAX, &n, &nctx, &why);
		if (rc != 0)
			return op_fail(err, rc, fi->name, why);
		/* Insert keeping ids ascending (the stored order). */
		unsigned j = in->nvalues;
		while (j > 0 && in->values[j - 1].id > fi->id) {
			in->values[j] = in->values[j - 1];
			j--;
		}
		in->values[j].id = (uint8_t)fi->id;
		in->values[j].off = (uint32_t)in->data.len;
		in->values[j].len = (uint32_t)n;
		in->nvalues++;
		in->data.len += n;
	}
	return 0;
}

int
input_parse_clear(const msgpack_object_array *a, struct record_input *in,
    struct op_error *err)
{
	uint32_t seen = 0;
	if (a->size > FIELD_MAX)
		return op_fail(err, VAULT_E_LIMIT, "clear", "more fields than a record has");
	for (uint32_t i = 0; i < a->size; i++) {
		const struct field_info *fi = input_field_name(&a->ptr[i]);
		if (fi == NULL)
			return input_unknown_field(err, "clear", &a->ptr[i]);
		if (seen & (1u << fi->id))
			continue;
		seen |= 1u << fi->id;
		in->clear[in->nclear++] = (uint8_t)fi->id;
	}
	return 0;
}

static int
media_type_valid(const char *s, size_t n)
{
	int slash = 0;
	if (n == 0 || n > 127)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
		slash += s[i] == '/';
	}
	return slash == 1 && s[0] != '/' && s[n - 1] != '/';
}

static void
put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int
input_parse_documents(struct read_ctx *ctx, const char *arg,
    const msgpack_object_array *a, struct record_input *in, struct op_error *err)
{
	static const char *const allowed[] = { "name", "type", "data", NULL };
	const struct config *cfg = &ctx->svc->cfg;

	if (a->size > cfg->max_documents_per_record)
		return op_fail(err, VAULT_E_LIMIT, arg, "more documents than a record may hold");
	for (uint32_t i = 0; i < a->size; i++) {
		const msgpack_object *d = &a->ptr[i], *bad;
		const char *name, *type;
		size_t name_len, type_len;
		int rc;
		if (d->type != MSGPACK_OBJECT_MAP)
			return op_fail(err, VAULT_E_PROTO_TYPE, arg, "each document is a map");
		if ((rc = msg_check_keys(d, allowed, &bad)) != 0)
			return op_fail(err, rc, arg, "documents take name, type and data");
		if ((rc = msg_get_str(d, "name", 1, &name, &name_len)) != 0)
			return op_fail(err, rc, arg, "document name must be a string");
		if ((rc = msg_get_str(d, "type", 1, &type, &type_len)) != 0)
			return op_fail(err, rc, arg, "document type must be a string");
		const msgpack_object *data = msg_get(d, "data");
		if (data == NULL)
			return op_fail(err, VAULT_E_PROTO_MISSING, arg, "document data missing");
		if (data->type != MSGPACK_OBJECT_BIN)
			return op_fail(err, VAULT_E_PROTO_TYPE, arg, "document data must be binary");
		if (name_len == 0 || name_len > 255 || !utf8_text_valid(name, name_len, 0))
			return op_fail(err, VAULT_E_INVALID_VALUE, arg,
			    "document name must be 1-255 bytes of UTF-8 text");
		if (!media_type_valid(type, type_len))
			return op_fail(err, VAULT_E_INVALID_VALUE, arg,
			    "document type must be a media type such as application/pdf");
		if (data->via.bin.size > cfg->max_document_bytes)
			return op_fail(err, VAULT_E_TOO_LARGE, arg,
			    "document larger than max_document_bytes");
		size_t total = 4 + name_len + type_len + data->via.bin.size;
		if ((rc = buf_reserve(&in->data, total)) != 0)
			return op_fail(err, rc, NULL, NULL);
		uint8_t *p = in->data.data + in->data.len;
		put16(p, name_len);
		memcpy(p + 2, name, name_len);
		put16(p + 2 + name_len, type_len);
		memcpy(p + 4 + name_len, type, type_len);
		if (data->via.bin.size)
			memcpy(p + 4 + name_len + type_len, data->via.bin.ptr, data->via.bin.size);
		in->docs[in->ndocs].off = (uint32_t)in->data.len;
		in->docs[in->ndocs].len = (uint32_t)total;
		in->ndocs++;
		in->data.len += total;
	}
	return 0;
}

int
input_parse_remove(const msgpack_object_array *a, struct record_input *in,
    struct op_error *err)
{
	if (a->size > RECORD_MAX_DOCS)
		return op_fail(err, VAULT_E_LIMIT, "remove_documents", NULL);
	for (uint32_t i = 0; i < a->size; i++) {
		const msgpack_object *o = &a->ptr[i];
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return op_fail(err, VAULT_E_PROTO_TYPE, "remove_documents",
			    "document slots are positive integers");
		if (o->via.u64 == 0 || o->via.u64 > 0xffff)
			return op_fail(err, VAULT_E_NOT_FOUND, "remove_documents", "no such document");
		int seen = 0;
		for (unsigned j = 0; j < in->nremove; j++)
			seen |= in->remove[j] == o->via.u64;
		if (!seen)
			in->remove[in->nremove++] = (uint16_t)o->via.u64;
	}
	return 0;
}

int
input_parse_tokens(struct read_ctx *ctx, const msgpack_object_array *a,
    struct record_input *in, struct op_error *err)
{
	static const char *const allowed[] = { "field", "kind", NULL };
	if (a->size > INPUT_MAX_TOKENS)
		return op_fail(err, VAULT_E_LIMIT, "tokens", "too many tokens in one request");
	for (uint32_t i = 0; i < a->size; i++) {
		const msgpack_object *t = &a->ptr[i], *bad;
		const char *kind;
		size_t kind_len;
		int rc;
		if (t->type != MSGPACK_OBJECT_MAP)
			return op_fail(err, VAULT_E_PROTO_TYPE, "tokens", "each token request is a map");
		if ((rc = msg_check_keys(t, allowed, &bad)) != 0)
			return op_fail(err, rc, "tokens", "token requests take field and kind");
		const msgpack_object *f = msg_get(t, "field");
		if (f == NULL)
			return op_fail(err, VAULT_E_PROTO_MISSING, "tokens", "token request without field");
		const struct field_info *fi = input_field_name(f);
		if (fi == NULL)
			return input_unknown_field(err, "tokens", f);
		if ((rc = msg_get_str(t, "kind", 1, &kind, &kind_len)) != 0)
			return op_fail(err, rc, "tokens", "token kind must be a string");
		enum vault_token_kind k = names_token_kind(kind, kind_len);
		if (k == 0)
			return op_fail(err, VAULT_E_TOKEN_KIND, fi->name, "unknown token kind");
		if (k == VAULT_TOKEN_CARD && fi->id != FIELD_CARD_NUMBER)
			return op_fail(err, VAULT_E_TOKEN_KIND, fi->name,
			    "card tokens are only for card_number");
		in->tokens[in->ntokens].field = (uint8_t)fi->id;
		in->tokens[in->ntokens].kind = (uint8_t)k;
		in->ntokens++;
	}
	(void)ctx;
	return 0;
}

int
input_parse_consent(const msgpack_object_map *m, struct record_input *in,
    struct op_error *err)
{
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
		uint8_t bit = msg_str_eq(k, "email") ? CONSENT_OPT_OUT_EMAIL :
		    msg_str_eq(k, "phone") ? CONSENT_OPT_OUT_PHONE :
		    msg_str_eq(k, "mail") ? CONSENT_OPT_OUT_MAIL : 0;
		if (bit == 0)
			return op_fail(err, VAULT_E_INVALID_VALUE, "marketing_opt_out",
			    "channels are email, phone and mail");
		if (v->type != MSGPACK_OBJECT_BOOLEAN)
			return op_fail(err, VAULT_E_PROTO_TYPE, "marketing_opt_out",
			    "each channel is true (opted out) or false");
		in->consent_set |= bit;
		if (v->via.boolean)
			in->consent_value |= bit;
		else
			in->consent_value &= (uint8_t)~bit;
	}
	return 0;
}

uint8_t
consent_channel_of(unsigned field)
{
	switch (field) {
	case FIELD_EMAIL: return CONSENT_OPT_OUT_EMAIL;
	case FIELD_PHONE: return CONSENT_OPT_OUT_PHONE;
	case FIELD_POSTAL_ADDRESS: return CONSENT_OPT_OUT_MAIL;
	default: return 0;
	}
}
