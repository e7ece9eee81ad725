/*
 * store_lmdb.c - the LMDB backend (store_lmdb.h): one environment, one
 * named database per table, LMDB's transactions as the interface's read
 * snapshots and write batches (nested write transactions for nested
 * batches). It owns every call into LMDB and the mapping of LMDB's
 * return codes to store results.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "store_lmdb.h"
#include "vault/log.h"

struct lmdb_store {
	MDB_env *env;
	MDB_dbi dbi[STORE_NTABLES];
	unsigned char present[STORE_NTABLES]; /* 0: a read-only file lacks it */
};

struct lmdb_txn {
	struct store_txn base;
	MDB_txn *txn;
	struct lmdb_store *ls;
};

struct lmdb_cursor {
	struct store_cursor base;
	MDB_cursor *cur;
};

static const struct store_methods lmdb_methods;

static int
result(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return STORE_OK;
	case MDB_NOTFOUND:
		return STORE_NOTFOUND;
	case MDB_KEYEXIST:
		return STORE_EXISTS;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return STORE_E_FULL;
	case ENOSPC:
	case EDQUOT:
		return STORE_E_DISK_FULL;
	case ENOMEM:
		return STORE_E_NOMEM;
	case MDB_CORRUPTED:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_PAGE_NOTFOUND:
		store_log_failure(mdb_strerror(rc), rc);
		return STORE_E_CORRUPT;
	default:
		store_log_failure(mdb_strerror(rc), rc);
		return STORE_E_FAILED;
	}
}

static inline MDB_val
mval(const struct store_val *v)
{
	return (MDB_val){ v->len, (void *)v->data };
}

static inline void
sval(struct store_val *out, const MDB_val *v)
{
	out->len = v->mv_size;
	out->data = v->mv_data;
}

static void
lmdb_close(struct store *s)
{
	struct lmdb_store *ls = s->impl;
	if (ls == NULL)
		return;
	if (ls->env != NULL)
		mdb_env_close(ls->env);
	free(ls);
}

int
store_lmdb_open(struct store *s, const char *path, size_t map_size,
    unsigned max_readers, unsigned flags, const char **why)
{
	struct lmdb_store *ls = calloc(1, sizeof(*ls));
	MDB_txn *txn = NULL;
	int rc;

	s->m = NULL;
	s->impl = NULL;
	*why = "out of memory";
	if (ls == NULL)
		return STORE_E_NOMEM;
	*why = "cannot create the LMDB environment";
	if ((rc = mdb_env_create(&ls->env)) != 0)
		goto fail;
	mdb_env_set_maxdbs(ls->env, 16);
	mdb_env_set_maxreaders(ls->env, max_readers);
	if ((rc = mdb_env_set_mapsize(ls->env, map_size)) != 0) {
		*why = "invalid map size";
		goto fail;
	}
	/*
	 * MDB_NOTLS: each server worker keeps one read transaction and renews
	 * it per request. Default sync: a commit is durable when it returns.
	 */
	unsigned envflags = MDB_NOTLS | MDB_NORDAHEAD;
	if (flags & STORE_LMDB_FILE)
		envflags |= MDB_NOSUBDIR | MDB_NOLOCK;
	if (flags & STORE_LMDB_RDONLY)
		envflags |= MDB_RDONLY;
	*why = flags & STORE_LMDB_FILE ? "LMDB cannot open the file" :
	    "cannot open the data directory";
	if ((rc = mdb_env_open(ls->env, path, envflags, 0600)) != 0)
		goto fail;
	*why = "cannot open the databases";
	if ((rc = mdb_txn_begin(ls->env, NULL, flags & STORE_LMDB_RDONLY ? MDB_RDONLY : 0,
	    &txn)) != 0)
		goto fail;
	for (unsigned t = 0; t < STORE_NTABLES; t++) {
		rc = mdb_dbi_open(txn, store_table_name(t),
		    flags & STORE_LMDB_RDONLY ? 0 : MDB_CREATE, &ls->dbi[t]);
		if (rc == MDB_NOTFOUND && (flags & STORE_LMDB_RDONLY))
			continue;
		if (rc != 0)
			goto fail;
		ls->present[t] = 1;
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		goto fail;
	}
	s->m = &lmdb_methods;
	s->impl = ls;
	*why = NULL;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (ls->env != NULL)
		mdb_env_close(ls->env);
	free(ls);
	return rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ? STORE_E_CORRUPT : result(rc);
}

static int
lmdb_txn_begin(struct store *s, struct store_txn *parent, unsigned flags,
    struct store_txn **out)
{
	struct lmdb_store *ls = s->impl;
	struct lmdb_txn *t = malloc(sizeof(*t));
	if (t == NULL)
		return STORE_E_NOMEM;
	int rc = mdb_txn_begin(ls->env,
	    parent != NULL ? ((struct lmdb_txn *)parent)->txn : NULL,
	    flags & STORE_RDONLY ? MDB_RDONLY : 0, &t->txn);
	if (rc != 0) {
		free(t);
		return result(rc);
	}
	t->base.m = &lmdb_methods;
	t->ls = ls;
	*out = &t->base;
	return 0;
}

static int
lmdb_txn_commit(struct store_txn *txn)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	int rc = mdb_txn_commit(t->txn);
	free(t);
	return result(rc);
}

static void
lmdb_txn_abort(struct store_txn *txn)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	mdb_txn_abort(t->txn);
	free(t);
}

static void
lmdb_txn_reset(struct store_txn *txn)
{
	mdb_txn_reset(((struct lmdb_txn *)txn)->txn);
}

static int
lmdb_txn_renew(struct store_txn *txn)
{
	return result(mdb_txn_renew(((struct lmdb_txn *)txn)->txn));
}

static int
lmdb_get(struct store_txn *txn, enum store_table tb, const struct store_val *key,
    struct store_val *val)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	if (!t->ls->present[tb])
		return STORE_NOTFOUND;
	MDB_val k = mval(key), v;
	int rc = mdb_get(t->txn, t->ls->dbi[tb], &k, &v);
	if (rc == 0)
		sval(val, &v);
	return result(rc);
}

static int
lmdb_put(struct store_txn *txn, enum store_table tb, const struct store_val *key,
    const struct store_val *val, unsigned flags)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	if (!t->ls->present[tb])
		return STORE_E_FAILED;
	MDB_val k = mval(key), v = mval(val);
	unsigned f = (flags & STORE_NOOVERWRITE ? MDB_NOOVERWRITE : 0) |
	    (flags & STORE_APPEND ? MDB_APPEND : 0);
	return result(mdb_put(t->txn, t->ls->dbi[tb], &k, &v, f));
}

static int
lmdb_del(struct store_txn *txn, enum store_table tb, const struct store_val *key)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	if (!t->ls->present[tb])
		return STORE_NOTFOUND;
	MDB_val k = mval(key);
	return result(mdb_del(t->txn, t->ls->dbi[tb], &k, NULL));
}

static int
lmdb_count(struct store_txn *txn, enum store_table tb, uint64_t *entries)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	MDB_stat st;
	*entries = 0;
	if (!t->ls->present[tb])
		return 0;
	int rc = mdb_stat(t->txn, t->ls->dbi[tb], &st);
	if (rc == 0)
		*entries = st.ms_entries;
	return result(rc);
}

static int
lmdb_cursor_open(struct store_txn *txn, enum store_table tb, struct store_cursor **out)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	if (!t->ls->present[tb])
		return STORE_NOTFOUND;
	struct lmdb_cursor *c = malloc(sizeof(*c));
	if (c == NULL)
		return STORE_E_NOMEM;
	int rc = mdb_cursor_open(t->txn, t->ls->dbi[tb], &c->cur);
	if (rc != 0) {
		free(c);
		return result(rc);
	}
	c->base.m = &lmdb_methods;
	*out = &c->base;
	return 0;
}

static int
lmdb_cursor_get(struct store_cursor *cur, struct store_val *key, struct store_val *val,
    enum store_cursor_op op)
{
	struct lmdb_cursor *c = (struct lmdb_cursor *)cur;
	MDB_val k = { 0, NULL }, v = { 0, NULL };
	MDB_cursor_op mop = MDB_NEXT;
	switch (op) {
	case STORE_FIRST:
		mop = MDB_FIRST;
		break;
	case STORE_NEXT:
		mop = MDB_NEXT;
		break;
	case STORE_SET_RANGE:
		mop = MDB_SET_RANGE;
		k = mval(key);
		break;
	}
	int rc = mdb_cursor_get(c->cur, &k, &v, mop);
	if (rc == 0) {
		if (key != NULL)
			sval(key, &k);
		if (val != NULL)
			sval(val, &v);
	}
	return result(rc);
}

static int
lmdb_cursor_put(struct store_cursor *cur, const struct store_val *val)
{
	struct lmdb_cursor *c = (struct lmdb_cursor *)cur;
	uint8_t kb[512]; /* LMDB's largest key is 511 bytes */
	MDB_val k, v0, v = mval(val);
	int rc = mdb_cursor_get(c->cur, &k, &v0, MDB_GET_CURRENT);
	if (rc != 0)
		return result(rc);
	/* A value of another size makes LMDB delete the node and insert it
	 * again (the cursor stays on it): the key must not point into the
	 * page being changed. */
	if (k.mv_size > sizeof(kb))
		return result(MDB_BAD_VALSIZE);
	memcpy(kb, k.mv_data, k.mv_size);
	k.mv_data = kb;
	return result(mdb_cursor_put(c->cur, &k, &v, MDB_CURRENT));
}

static int
lmdb_cursor_del(struct store_cursor *cur)
{
	return result(mdb_cursor_del(((struct lmdb_cursor *)cur)->cur, 0));
}

static void
lmdb_cursor_close(struct store_cursor *cur)
{
	struct lmdb_cursor *c = (struct lmdb_cursor *)cur;
	mdb_cursor_close(c->cur);
	free(c);
}

static int
lmdb_copy(struct store *s, int fd)
{
	struct lmdb_store *ls = s->impl;
	return result(mdb_env_copyfd2(ls->env, fd, MDB_CP_COMPACT));
}

static void
lmdb_reader_check(struct store *s)
{
	struct lmdb_store *ls = s->impl;
	int dead = 0;
	mdb_reader_check(ls->env, &dead);
}

static int
lmdb_set_durable(struct store *s, int durable)
{
	struct lmdb_store *ls = s->impl;
	return result(mdb_env_set_flags(ls->env, MDB_NOSYNC, !durable));
}

static const struct store_methods lmdb_methods = {
	.version = 1,
	.name = "lmdb",
	.close = lmdb_close,
	.txn_begin = lmdb_txn_begin,
	.txn_commit = lmdb_txn_commit,
	.txn_abort = lmdb_txn_abort,
	.txn_reset = lmdb_txn_reset,
	.txn_renew = lmdb_txn_renew,
	.get = lmdb_get,
	.put = lmdb_put,
	.del = lmdb_del,
	.count = lmdb_count,
	.cursor_open = lmdb_cursor_open,
	.cursor_get = lmdb_cursor_get,
	.cursor_put = lmdb_cursor_put,
	.cursor_del = lmdb_cursor_del,
	.cursor_close = lmdb_cursor_close,
	.copy = lmdb_copy,
	.reader_check = lmdb_reader_check,
	.set_durable = lmdb_set_durable,
};
