/*
 * deletions.c - a client's deletion feed: the notices of deleted records
 * whose data it received, and their acknowledgement (vault.h).
 */
#include <stdlib.h>
#include <string.h>

#include <vault/vault.h>

#include "common/msg.h"
#include "client.h"

void
vault_deletion_notices_free(struct vault_deletion_notice *d, size_t n)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(d[i].record);
		free(d[i].reason);
		for (size_t j = 0; j < d[i].nfields; j++) {
			free(d[i].fields[j]);
			free(d[i].tokens[j]);
		}
		free(d[i].fields);
		free(d[i].tokens);
	}
	free(d);
}

static int
notice_fields(const msgpack_object *map, struct vault_deletion_notice *d)
{
	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return VAULT_E_PROTO_FRAME;
	uint32_t n = map->via.map.size;
	d->fields = calloc(n + 1, sizeof(char *));
	d->tokens = calloc(n + 1, sizeof(char *));
	if (d->fields == NULL || d->tokens == NULL)
		return VAULT_E_NOMEM;
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		if ((d->fields[i] = obj_strdup(&kv->key)) == NULL)
			return VAULT_E_PROTO_FRAME;
		d->nfields = i + 1;
		if (kv->val.type == MSGPACK_OBJECT_STR &&
		    (d->tokens[i] = obj_strdup(&kv->val)) == NULL)
			return VAULT_E_NOMEM;
	}
	return 0;
}

int
vault_deletions_pending(struct vault *v, uint64_t after, unsigned limit,
    struct vault_deletion_notice **out, size_t *n, int *more)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res, *arr, *m;

	*out = NULL;
	*n = 0;
	msgpack_packer pk = call_begin(v, "deletions_pending", 0, limit ? 2 : 1, &start, &id);
	mp_cstr(&pk, "after");
	msgpack_pack_uint64(&pk, after);
	if (limit) {
		mp_cstr(&pk, "limit");
		msgpack_pack_unsigned_int(&pk, limit);
	}
	int rc = call_roundtrip(v, start, id, &res);
	if (rc != 0)
		return rc;
	arr = msg_get(res, "notices");
	if (arr == NULL || arr->type != MSGPACK_OBJECT_ARRAY)
		return VAULT_E_PROTO_FRAME;
	struct vault_deletion_notice *d = calloc(arr->via.array.size + 1, sizeof(*d));
	if (d == NULL)
		return VAULT_E_NOMEM;
	size_t i;
	for (i = 0; i < arr->via.array.size && rc == 0; i++) {
		const msgpack_object *o = &arr->via.array.ptr[i];
		d[i].id = obj_u64(o, "id");
		d[i].deleted = (int64_t)obj_u64(o, "deleted_at");
		d[i].request = obj_u64(o, "request");
		d[i].record = obj_strdup(msg_get(o, "record"));
		d[i].reason = obj_strdup(msg_get(o, "reason"));
		if (d[i].record == NULL || d[i].reason == NULL)
			rc = VAULT_E_PROTO_FRAME;
		else
			rc = notice_fields(msg_get(o, "fields"), &d[i]);
	}
	if (rc != 0) {
		vault_deletion_notices_free(d, i);
		return rc;
	}
	if (more != NULL)
		*more = (m = msg_get(res, "more")) != NULL &&
		    m->type == MSGPACK_OBJECT_BOOLEAN && m->via.boolean;
	*out = d;
	*n = i;
	return 0;
}

int
vault_deletions_ack(struct vault *v, const uint64_t *ids, size_t n)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	if (n > UINT32_MAX)
		return VAULT_E_LIMIT;
	msgpack_packer pk = call_begin(v, "deletions_ack", 0, 1, &start, &id);
	mp_cstr(&pk, "ids");
	msgpack_pack_array(&pk, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		msgpack_pack_uint64(&pk, ids[i]);
	return call_roundtrip(v, start, id, &res);
}
