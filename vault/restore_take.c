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
entry_id(const MDB_val *k, const MDB_val *v, enum idpos pos, uint64_t *id)
{
	const MDB_val *x = pos == ID_VALUE ? v : k;
	if (x->mv_size < 8)
		return -1;
	*id = store_get_id((const uint8_t *)x->mv_data + (pos == ID_SUFFIX ? x->mv_size - 8 : 0));
	return 0;
}

/*
 * With to_txn NULL: delete from (txn, dbi) every entry of a record in t.
 * Else: copy every such entry of (txn, dbi) into (to_txn, to_dbi).
 */
static int
sweep_ids(MDB_txn *txn, MDB_dbi dbi, MDB_txn *to_txn, MDB_dbi to_dbi, enum idpos pos,
    const struct idset *t, struct idset *holds)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t id;
	int g, rc = 0;
	if (t->n == 0)
		return 0;
	if (mdb_cursor_open(txn, dbi, &cur) != 0)
		return VAULT_E_STORAGE;
	for (g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0 && rc == 0;
	    g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (entry_id(&k, &v, pos, &id) != 0 || !idset_has(t, id))
			continue;
		if (to_txn == NULL) {
			rc = mdb_cursor_del(cur, 0) == 0 ? 0 : VAULT_E_STORAGE;
			continue;
		}
		rc = mdb_put(to_txn, to_dbi, &k, &v, 0) == 0 ? 0 : VAULT_E_STORAGE;
		/* record_holds: record id + hold id; the hold comes along. */
		if (rc == 0 && holds != NULL && k.mv_size == 16)
			rc = idset_add(holds, store_get_id((const uint8_t *)k.mv_data + 8));
	}
	mdb_cursor_close(cur);
	return rc != 0 ? rc : g == MDB_NOTFOUND ? 0 : VAULT_E_STORAGE;
}

int
restore_take_live(MDB_txn *to, struct store *rs, MDB_txn *ltxn, struct store *ls,
    struct idset *t)
{
	struct {
		MDB_dbi rdbi, ldbi;
		enum idpos pos;
	} dbs[] = {
		{ rs->records, ls->records, ID_PREFIX },
		{ rs->documents, ls->documents, ID_PREFIX },
		{ rs->blind_record, ls->blind_record, ID_PREFIX },
		{ rs->record_holds, ls->record_holds, ID_PREFIX },
		{ rs->blind_index, ls->blind_index, ID_SUFFIX },
		{ rs->det_index, ls->det_index, ID_SUFFIX },
		{ rs->card_index, ls->card_index, ID_VALUE },
	};
	struct idset holds = { 0 };
	int rc = 0;
	qsort(t->v, t->n, sizeof(t->v[0]), cmp_u64);
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]) && rc == 0; i++)
		rc = sweep_ids(to, dbs[i].rdbi, NULL, 0, dbs[i].pos, t, NULL);
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]) && rc == 0; i++)
		rc = sweep_ids(ltxn, dbs[i].ldbi, to, dbs[i].rdbi, dbs[i].pos, t,
		    dbs[i].ldbi == ls->record_holds ? &holds : NULL);
	for (size_t i = 0; i < holds.n && rc == 0; i++) {
		uint8_t kb[8];
		store_put_id(kb, holds.v[i]);
		MDB_val k = { 8, kb }, v, have;
		if (mdb_get(to, rs->holds, &k, &have) == 0 ||
		    mdb_get(ltxn, ls->holds, &k, &v) != 0)
			continue;
		rc = mdb_put(to, rs->holds, &k, &v, 0) == 0 ? 0 : VAULT_E_STORAGE;
	}
	free(holds.v);
	return rc;
}

