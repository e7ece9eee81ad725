/*
 * msg.c - decoding and packing of protocol messages (see msg.h).
 */
#include <string.h>

#include <sodium.h>

#include <vault/vault.h>

#include "frame.h"
#include "msg.h"

int
msg_decode(const uint8_t *body, size_t len, const struct mp_limits *lim,
    msgpack_zone *zone, msgpack_object *root)
{
	int rc = mp_check(body, len, lim);
	if (rc != 0)
		return rc;
	size_t off = 0;
	switch (msgpack_unpack((const char *)body, len, &off, zone, root)) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		return VAULT_E_NOMEM;
	default:
		return VAULT_E_PROTO_FRAME;
	}
	if (off != len || root->type != MSGPACK_OBJECT_MAP)
		return VAULT_E_PROTO_FRAME;
	return 0;
}

int
msg_check_text(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		return o->via.str.size > 0 && memchr(o->via.str.ptr, '\0', o->via.str.size) ?
		    VAULT_E_PROTO_TYPE : 0;
	case MSGPACK_OBJECT_ARRAY:
		/* Depth is bounded by mp_check() before unpacking. */
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (msg_check_text(&o->via.array.ptr[i]) != 0)
				return VAULT_E_PROTO_TYPE;
		return 0;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (msg_check_text(&o->via.map.ptr[i].key) != 0 ||
			    msg_check_text(&o->via.map.ptr[i].val) != 0)
				return VAULT_E_PROTO_TYPE;
		return 0;
	default:
		return 0;
	}
}

int
msg_str_eq(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
	    memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *
msg_get(const msgpack_object *map, const char *key)
{
	if (map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		if (msg_str_eq(&kv->key, key))
			return &kv->val;
	}
	return NULL;
}

int
msg_check_keys(const msgpack_object *map, const char *const *allowed,
    const msgpack_object **bad)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type != MSGPACK_OBJECT_STR) {
			*bad = NULL;
			return VAULT_E_PROTO_TYPE;
		}
		const char *const *a;
		for (a = allowed; *a != NULL; a++)
			if (msg_str_eq(k, *a))
				break;
		if (*a == NULL) {
			*bad = k;
			return VAULT_E_PROTO_UNKNOWN_ARG;
		}
		/* A key given twice is ambiguous: refuse it. */
		for (uint32_t j = 0; j < i; j++) {
			const msgpack_object *p = &map->via.map.ptr[j].key;
			if (p->via.str.size == k->via.str.size &&
			    memcmp(p->via.str.ptr, k->via.str.ptr, k->via.str.size) == 0) {
				*bad = k;
				return VAULT_E_PROTO_FRAME;
			}
		}
	}
	return 0;
}

static int
lookup(const msgpack_object *map, const char *key, int required,
    msgpack_object_type type, const msgpack_object **o)
{
	*o = msg_get(map, key);
	if (*o == NULL)
		return required ? VAULT_E_PROTO_MISSING : 0;
	if ((*o)->type != type) {
		/* msgpack-c types small non-negative ints as POSITIVE_INTEGER */
		return VAULT_E_PROTO_TYPE;
	}
	return 0;
}

int
msg_get_str(const msgpack_object *map, const char *key, int required,
    const char **s, size_t *len)
{
	const msgpack_object *o;
	int rc = lookup(map, key, required, MSGPACK_OBJECT_STR, &o);
	if (rc == 0 && o != NULL) {
		*s = o->via.str.ptr;
		*len = o->via.str.size;
	}
	return rc;
}

int
msg_get_uint(const msgpack_object *map, const char *key, int required,
    uint64_t *v)
{
	const msgpack_object *o;
	int rc = lookup(map, key, required, MSGPACK_OBJECT_POSITIVE_INTEGER, &o);
	if (rc == 0 && o != NULL)
		*v = o->via.u64;
	return rc;
}

int
msg_get_bool(const msgpack_object *map, const char *key, int required, int *v)
{
	const msgpack_object *o;
	int rc = lookup(map, key, required, MSGPACK_OBJECT_BOOLEAN, &o);
	if (rc == 0 && o != NULL)
		*v = o->via.boolean;
	return rc;
}

int
msg_get_array(const msgpack_object *map, const char *key, int required,
    const msgpack_object_array **a)
{
	const msgpack_object *o;
	int rc = lookup(map, key, required, MSGPACK_OBJECT_ARRAY, &o);
	if (rc == 0 && o != NULL)
		*a = &o->via.array;
	return rc;
}

int
msg_get_map(const msgpack_object *map, const char *key, int required,
    const msgpack_object_map **m)
{
	const msgpack_object *o;
	int rc = lookup(map, key, required, MSGPACK_OBJECT_MAP, &o);
	if (rc == 0 && o != NULL)
		*m = &o->via.map;
	return rc;
}

void
mp_str(msgpack_packer *pk, const void *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

void
mp_cstr(msgpack_packer *pk, const char *s)
{
	mp_str(pk, s, strlen(s));
}

void
mp_bin(msgpack_packer *pk, const void *p, size_t len)
{
	msgpack_pack_bin(pk, len);
	msgpack_pack_bin_body(pk, p, len);
}

size_t
frame_begin(struct buf *b)
{
	size_t start = b->len;
	static const uint8_t zero[FRAME_HEADER_SIZE];
	int rc = buf_append(b, zero, sizeof(zero));
	if (rc != 0 && b->error == 0)
		b->error = rc;
	return start;
}

int
frame_end(struct buf *b, size_t start, size_t max_body)
{
	int rc = b->error;
	size_t body = b->len - start - FRAME_HEADER_SIZE;
	if (rc == 0 && (body > max_body || body > UINT32_MAX))
		rc = VAULT_E_TOO_LARGE;
	if (rc != 0) {
		/* Drop the partial frame, wiping it. */
		if (b->len > start) {
			sodium_memzero(b->data + start, b->len - start);
			b->len = start;
		}
		b->error = 0;
		return rc;
	}
	frame_put_header(b->data + start, (uint32_t)body);
	return 0;
}
