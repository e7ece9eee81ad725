/*
 * table.c - the operation table, sorted by name and searched with bsearch.
 */
#include <stdlib.h>
#include <string.h>

#include "vault/metrics.h"
#include "op.h"

static const struct op *const ops[] = {
	&op_audit_checkpoint,
	&op_audit_query,
	&op_audit_verify,
	&op_backup,
	&op_breach_report,
	&op_create,
	&op_delete,
	&op_deletions_ack,
	&op_deletions_pending,
	&op_detokenize,
	&op_hold_lift,
	&op_hold_list,
	&op_hold_place,
	&op_keys_rekey,
	&op_keys_retire,
	&op_keys_rotate,
	&op_keys_rotate_record,
	&op_keys_status,
	&op_list,
	&op_metrics,
	&op_ping,
	&op_policy_reload,
	&op_read,
	&op_request_complete,
	&op_request_confirm,
	&op_request_extend,
	&op_request_list,
	&op_request_open,
	&op_request_show,
	&op_request_verify,
	&op_signing_key,
	&op_status,
	&op_tokenize,
	&op_transaction,
	&op_unseal,
	&op_update,
};

_Static_assert(sizeof(ops) / sizeof(ops[0]) <= METRICS_MAX_OPS,
    "metrics.h: raise METRICS_MAX_OPS");

struct key {
	const char *name;
	size_t len;
};

static int
cmp(const void *k, const void *e)
{
	const struct key *key = k;
	const char *name = (*(const struct op *const *)e)->name;
	size_t n = strlen(name);
	int c = memcmp(key->name, name, key->len < n ? key->len : n);
	if (c != 0)
		return c;
	return key->len < n ? -1 : key->len > n;
}

const struct op *
op_lookup_at(const char *name, size_t len, size_t *index)
{
	struct key k = { name, len };
	const struct op *const *e = bsearch(&k, ops, sizeof(ops) / sizeof(ops[0]),
	    sizeof(ops[0]), cmp);
	if (e != NULL)
		*index = (size_t)(e - ops);
	return e ? *e : NULL;
}

const struct op *
op_lookup(const char *name, size_t len)
{
	size_t i;
	return op_lookup_at(name, len, &i);
}

size_t
op_table_size(void)
{
	return sizeof(ops) / sizeof(ops[0]);
}

const struct op *
op_table_at(size_t i)
{
	return i < op_table_size() ? ops[i] : NULL;
}

/* A scan of some 30 pointers: for the writer, where a write costs an fsync. */
size_t
op_table_index(const struct op *op)
{
	size_t i = 0;
	while (i < op_table_size() && ops[i] != op)
		i++;
	return i;
}
