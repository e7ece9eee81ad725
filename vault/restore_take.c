/*
 * restore_take.c - moving whole records from the live store into a
 * restored one (see restore_take.h).
 */
#include <stdlib.h>

#include <vault/vault.h>

#include "restore_take.h"
#include "store/store.h"

int
idset_add(struct idset *t, uint64_t id)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		uint64_t *p = realloc(t->v, cap * sizeof(*p));
		if (p == NULL)
			return VAULT_E_NOMEM;
		t->v = p;
		t->cap = cap;
	}
	t->v[t->n++] = id;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int
idset_has(const struct idset *t, uint64_t id)
{
	return t->n && bsearch(&id, t->v, t->n, sizeof(id), cmp_u64) != NULL;
}

/* Where a database's entries name their record (store.h). */
enum idpos { ID_PREFIX, ID_SUFFIX, ID_VALUE };

static int
entry_id(const struct store_val *k, const struct store_val *v, enum idpos pos, uint64_t *id)
{
	const struct store_val *x = pos == ID_VALUE ? v : k;
	if (x->len < 8)
		return -1;
	*id = store_get_id((const uint8_t *)x->data + (pos == ID_SUFFIX ? x->len - 8 : 0));
	return 0;
}

/*
 * With to_txn NULL: delete from (txn, dbi) every entry of a record in t.
 * Else: copy every such entry of (txn, dbi) into (to_txn, to_dbi).
 */
static int
sweep_ids(struct store_txn *txn, enum store_table dbi, struct store_txn *to_txn,
    enum store_table to_dbi, enum idpos pos, const struct idset *t, struct idset *holds)
{
	struct store_cursor *cur;
	struct store_val k, v;
	uint64_t id;
	int g, rc = 0;
	if (t->n == 0)
		return 0;
	if (store_cursor_open(txn, dbi, &cur) != 0)
		return VAULT_E_STORAGE;
	for (g = store_cursor_get(cur, &k, &v, STORE_FIRST); g == 0 && rc == 0;
	    g = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
		if (entry_id(&k, &v, pos, &id) != 0 || !idset_has(t, id))
			continue;
		if (to_txn == NULL) {
			rc = store_cursor_del(cur) == 0 ? 0 : VAULT_E_STORAGE;
			continue;
		}
		rc = store_put(to_txn, to_dbi, &k, &v, 0) == 0 ? 0 : VAULT_E_STORAGE;
		/* record_holds: record id + hold id; the hold comes along. */
		if (rc == 0 && holds != NULL && k.len == 16)
			rc = idset_add(holds, store_get_id((const uint8_t *)k.data + 8));
	}
	store_cursor_close(cur);
	return rc != 0 ? rc : g == STORE_NOTFOUND ? 0 : VAULT_E_STORAGE;
}

int
restore_take_live(struct store_txn *to, struct store_txn *ltxn, struct idset *t)
{
	struct {
		enum store_table t;
		enum idpos pos;
	} dbs[] = {
		{ STORE_RECORDS, ID_PREFIX },
		{ STORE_DOCUMENTS, ID_PREFIX },
		{ STORE_BLIND_RECORD, ID_PREFIX },
		{ STORE_RECORD_HOLDS, ID_PREFIX },
		/* sealed under the record's data key: the live one goes with it */
		{ STORE_RECIPIENTS, ID_PREFIX },
		{ STORE_BLIND_INDEX, ID_SUFFIX },
		{ STORE_DET_INDEX, ID_SUFFIX },
		{ STORE_CARD_INDEX, ID_VALUE },
	};
	struct idset holds = { 0 };
	int rc = 0;
	qsort(t->v, t->n, sizeof(t->v[0]), cmp_u64);
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]) && rc == 0; i++)
		rc = sweep_ids(to, dbs[i].t, NULL, dbs[i].t, dbs[i].pos, t, NULL);
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]) && rc == 0; i++)
		rc = sweep_ids(ltxn, dbs[i].t, to, dbs[i].t, dbs[i].pos, t,
		    dbs[i].t == STORE_RECORD_HOLDS ? &holds : NULL);
	for (size_t i = 0; i < holds.n && rc == 0; i++) {
		uint8_t kb[8];
		store_put_id(kb, holds.v[i]);
		struct store_val k = { 8, kb }, v, have;
		if (store_get(to, STORE_HOLDS, &k, &have) == 0 ||
		    store_get(ltxn, STORE_HOLDS, &k, &v) != 0)
			continue;
		rc = store_put(to, STORE_HOLDS, &k, &v, 0) == 0 ? 0 : VAULT_E_STORAGE;
	}
	free(holds.v);
	return rc;
}

