/*
 * store_pgsql_rows.c - the PostgreSQL backend's statements: point reads
 * and writes, counts and cursors (keyset pagination over the primary key),
 * all with binary parameters and results, prepared once per connection.
 *
 * A write whose answer the caller does not need (a put without
 * STORE_NOOVERWRITE) is sent in the connection's pipeline without waiting
 * (store_pgsql_pipe.c); its failure, if any, is the answer of a later call
 * in its batch: the next read, the nested batch's commit or the batch's.
 * A read, and a write whose answer says something (STORE_EXISTS,
 * STORE_NOTFOUND), waits, and takes the answers of what was sent before it
 * in the same round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store_pgsql_int.h"

#define BYTEAOID 17
#define INT8OID 20

#define PAGE_FIRST 16 /* a cursor's first page; doubles up to PAGE_MAX */
#define PAGE_MAX 256

/* The statements of one table; @ stands for the table's name. */
static const char *const stmt_sql[S_N] = {
	[S_GET] = "SELECT v FROM @ WHERE k = $1",
	[S_PUT] = ("INSERT INTO @ (k, v) VALUES ($1, $2) "
	    "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"),
	/* NOOVERWRITE: no row inserted means the key is there, without an
	 * error that would abort the whole transaction. */
	[S_PUT_NEW] = "INSERT INTO @ (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING",
	[S_DEL] = "DELETE FROM @ WHERE k = $1",
	[S_UPD] = "UPDATE @ SET v = $2 WHERE k = $1",
	/* Keyset pagination: bytea compares bytewise (memcmp, then the shorter
	 * first), never by collation, which is LMDB's default key order. */
	[S_FIRST] = "SELECT k, v FROM @ ORDER BY k LIMIT $1",
	[S_AFTER] = "SELECT k, v FROM @ WHERE k > $1 ORDER BY k LIMIT $2",
	[S_FROM] = "SELECT k, v FROM @ WHERE k >= $1 ORDER BY k LIMIT $2",
	/* O(n) on PostgreSQL (a scan of the table or its index), unlike
	 * LMDB's stored count: for statistics and tests, not per request. */
	[S_COUNT] = "SELECT count(*) FROM @",
};

static const Oid stmt_types[S_N][2] = {
	[S_GET] = { BYTEAOID }, [S_PUT] = { BYTEAOID, BYTEAOID },
	[S_PUT_NEW] = { BYTEAOID, BYTEAOID }, [S_DEL] = { BYTEAOID },
	[S_UPD] = { BYTEAOID, BYTEAOID }, [S_FIRST] = { INT8OID },
	[S_AFTER] = { BYTEAOID, INT8OID }, [S_FROM] = { BYTEAOID, INT8OID },
};

char *
pgsql_stmt_sql(enum stmt s, const char *name)
{
	const char *tmpl = stmt_sql[s];
	const char *at = strchr(tmpl, '@');
	size_t pre = (size_t)(at - tmpl), nlen = strlen(name);
	char *out = malloc(strlen(tmpl) + nlen);
	if (out != NULL) {
		memcpy(out, tmpl, pre);
		memcpy(out + pre, name, nlen);
		strcpy(out + pre + nlen, at + 1);
	}
	return out;
}

/* ---- reads and writes ---------------------------------------------------- */

/* Whether the transaction can run a command; a write also needs a batch. */
static int
usable(struct pg_txn *t, int write)
{
	int failed = t->failed ? t->failed : t->root->failed;
	if (t->state == TX_RESET || failed)
		return failed ? failed : STORE_E_FAILED;
	if (write && (t->flags & STORE_RDONLY)) {
		pgsql_log_failure("write", NULL, "a write in a read snapshot");
		return STORE_E_FAILED;
	}
	return 0;
}

/*
 * Send one of a table's statements with binary parameters and results,
 * preparing it on this connection first if needed (in the same pipeline);
 * t exists on the server before it (pgsql_txn_ready).
 */
static int
send_stmt(struct pg_txn *t, enum store_table tb, enum stmt s, int want, int n,
    const char *const *vals, const int *lens)
{
	char name[16];
	int rc = pgsql_txn_ready(t);
	if (rc != 0)
		return rc;
	struct pg_conn *c = t->conn;
	snprintf(name, sizeof name, "v%u_%u", (unsigned)tb, (unsigned)s);
	if (!(c->prepared[tb] & 1u << s) &&
	    (rc = pipe_prepare(c, t->serial, tb, s, name, t->ps->sql[tb][s], n, stmt_types[s])) != 0)
		return rc;
	return pipe_exec(c, t->serial, want, name, n, vals, lens);
}

/* A failure of t's own: every later call in t returns it. */
static int
failed(struct pg_txn *t, int rc)
{
	if (rc == 0 || rc == PGSQL_RETRY)
		rc = STORE_E_FAILED;
	if (t->failed == 0)
		t->failed = rc < 0 ? rc : STORE_E_FAILED;
	return rc;
}

/*
 * Run a statement and wait for its answer (and for those of everything
 * sent before it). NULL on a failure, which aborts the (sub)transaction:
 * t->failed keeps it.
 */
static PGresult *
run(struct pg_txn *t, enum store_table tb, enum stmt s, int n,
    const char *const *vals, const int *lens, int *rc)
{
	PGresult *res;
	for (;;) {
		if ((*rc = send_stmt(t, tb, s, 1, n, vals, lens)) != 0) {
			/* Unsent: the connection is broken; what was sent fails too. */
			if (t->root->conn != NULL)
				(void)pgsql_txn_collect(t, NULL);
			failed(t, *rc);
			return NULL;
		}
		if ((*rc = pgsql_txn_collect(t, &res)) != PGSQL_RETRY)
			break;
	}
	if (*rc != 0) {
		PQclear(res);
		return NULL;
	}
	if (res == NULL) {
		*rc = failed(t, STORE_E_FAILED);
		return NULL;
	}
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	*rc = failed(t, pgsql_fail(t->conn->pc, res, "statement"));
	PQclear(res);
	return NULL;
}

/*
 * Send a write whose answer only says whether it worked, without waiting:
 * the answers are read by the next statement that waits, or when PIPE_MAX
 * are owed. A failure found then is returned by that call.
 */
static int
queue(struct pg_txn *t, enum store_table tb, enum stmt s, int n,
    const char *const *vals, const int *lens)
{
	int rc = send_stmt(t, tb, s, 0, n, vals, lens);
	pgsql_txn_wrote(t);
	if (rc != 0) {
		if (t->root->conn != NULL)
			(void)pgsql_txn_collect(t, NULL);
		return failed(t, rc);
	}
	if (t->conn->qn >= PIPE_MAX && (rc = pgsql_txn_collect(t, NULL)) != 0)
		return rc;
	return 0;
}

/* libpq reads a NULL parameter as SQL NULL: an empty value is "". */
static inline const char *
param(const struct store_val *v)
{
	return v->data != NULL ? v->data : "";
}

int
pgsql_get(struct store_txn *txn, enum store_table tb, const struct store_val *key,
    struct store_val *val)
{
	struct pg_txn *t = (struct pg_txn *)txn;
	int rc = usable(t, 0);
	if (rc != 0)
		return rc;
	const char *vals[1] = { param(key) };
	int lens[1] = { (int)key->len };
	PGresult *res = run(t, tb, S_GET, 1, vals, lens, &rc);
	if (res == NULL)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return STORE_NOTFOUND;
	}
	val->len = (size_t)PQgetlength(res, 0, 0);
	val->data = PQgetvalue(res, 0, 0);
	return pgsql_arena_keep(t, res);
}

/* A write of one row; STORE_NOTFOUND (or miss) when it touched none.
 * S_PUT is only sent: it always touches one row, or fails. */
static int
write_row(struct pg_txn *t, enum store_table tb, enum stmt s, const struct store_val *key,
    const struct store_val *val, int miss)
{
	int rc = usable(t, 1);
	if (rc != 0)
		return rc;
	const char *vals[2] = { param(key), val ? param(val) : NULL };
	int lens[2] = { (int)key->len, val ? (int)val->len : 0 };
	if (s == S_PUT) {
		t->root->write_gen++;
		return queue(t, tb, s, 2, vals, lens);
	}
	pgsql_txn_wrote(t);
	PGresult *res = run(t, tb, s, val ? 2 : 1, vals, lens, &rc);
	if (res == NULL)
		return rc;
	t->root->write_gen++;
	rc = strcmp(PQcmdTuples(res), "0") == 0 ? miss : 0;
	PQclear(res);
	return rc;
}

int
pgsql_put(struct store_txn *txn, enum store_table tb, const struct store_val *key,
    const struct store_val *val, unsigned flags)
{
	/* STORE_APPEND is only a hint, for LMDB's page splits. */
	return write_row((struct pg_txn *)txn, tb, flags & STORE_NOOVERWRITE ? S_PUT_NEW : S_PUT,
	    key, val, STORE_EXISTS);
}

int
pgsql_del(struct store_txn *txn, enum store_table tb, const struct store_val *key)
{
	return write_row((struct pg_txn *)txn, tb, S_DEL, key, NULL, STORE_NOTFOUND);
}

int
pgsql_count(struct store_txn *txn, enum store_table tb, uint64_t *entries)
{
	struct pg_txn *t = (struct pg_txn *)txn;
	*entries = 0;
	int rc = usable(t, 0);
	if (rc != 0)
		return rc;
	PGresult *res = run(t, tb, S_COUNT, 0, NULL, NULL, &rc);
	if (res == NULL)
		return rc;
	if (PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 8)
		*entries = store_get_id((const uint8_t *)PQgetvalue(res, 0, 0));
	else
		rc = STORE_E_FAILED;
	PQclear(res);
	return rc;
}

/* ---- cursors ------------------------------------------------------------- */

int
pgsql_cursor_open(struct store_txn *txn, enum store_table tb, struct store_cursor **out)
{
	struct pg_txn *t = (struct pg_txn *)txn;
	int rc = usable(t, 0);
	if (rc != 0)
		return rc;
	struct pg_cursor *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return STORE_E_NOMEM;
	c->base.m = &pgsql_methods;
	c->txn = t;
	c->tb = tb;
	c->next = t->cursors;
	t->cursors = c;
	*out = &c->base;
	return 0;
}

/* Read the next page: FIRST, or the keys after (S_AFTER) or from (S_FROM) key. */
static int
fetch(struct pg_cursor *c, enum stmt s, const void *key, size_t klen)
{
	struct pg_txn *t = c->txn;
	uint8_t lim[8];
	int rc = usable(t, 0);
	if (rc != 0)
		return rc;
	store_put_id(lim, (uint64_t)c->limit);
	const char *vals[2] = { key ? key : "", (const char *)lim };
	int lens[2] = { (int)klen, 8 };
	PGresult *res = s == S_FIRST ? run(t, c->tb, s, 1, vals + 1, lens + 1, &rc) :
	    run(t, c->tb, s, 2, vals, lens, &rc);
	if (res == NULL)
		return rc;
	/* Values read from the old page stay valid until the transaction ends. */
	if (c->page != NULL && (rc = pgsql_arena_keep(t, c->page)) != 0) {
		c->page = NULL;
		PQclear(res);
		return rc;
	}
	c->page = res;
	c->nrows = PQntuples(res);
	c->row = 0;
	c->full = c->nrows == c->limit;
	c->gen = t->root->write_gen;
	if (c->limit < PAGE_MAX)
		c->limit *= 2;
	return 0;
}

/* Return the current row and remember its key. */
static int
emit(struct pg_cursor *c, struct store_val *key, struct store_val *val)
{
	if (c->row >= c->nrows)
		return STORE_NOTFOUND;
	size_t klen = (size_t)PQgetlength(c->page, c->row, 0);
	const char *k = PQgetvalue(c->page, c->row, 0);
	if (klen > c->kcap) {
		uint8_t *b = realloc(c->key, klen);
		if (b == NULL)
			return STORE_E_NOMEM;
		c->key = b;
		c->kcap = klen;
	}
	if (klen > 0)
		memcpy(c->key, k, klen);
	c->klen = klen;
	c->positioned = 1;
	if (key != NULL) {
		key->len = klen;
		key->data = k;
	}
	if (val != NULL) {
		val->len = (size_t)PQgetlength(c->page, c->row, 1);
		val->data = PQgetvalue(c->page, c->row, 1);
	}
	return 0;
}

int
pgsql_cursor_get(struct store_cursor *cur, struct store_val *key, struct store_val *val,
    enum store_cursor_op op)
{
	struct pg_cursor *c = (struct pg_cursor *)cur;
	int rc;
	if (c->txn == NULL)
		return STORE_E_FAILED;
	if (op == STORE_NEXT && c->positioned) {
		/* The page holds what follows unless this transaction wrote since
		 * it was read (a write through this cursor keeps it current). */
		if (c->page != NULL && c->gen == c->txn->root->write_gen) {
			if (c->row + 1 < c->nrows) {
				c->row++;
				return emit(c, key, val);
			}
			if (!c->full) {
				c->row = c->nrows;
				return STORE_NOTFOUND;
			}
		}
		rc = fetch(c, S_AFTER, c->key, c->klen);
	} else {
		c->limit = PAGE_FIRST;
		c->positioned = 0;
		rc = op == STORE_SET_RANGE ? fetch(c, S_FROM, key->data, key->len) :
		    fetch(c, S_FIRST, NULL, 0);
	}
	return rc != 0 ? rc : emit(c, key, val);
}

/* cursor_put and cursor_del: a write at the current key. */
static int
cursor_write(struct pg_cursor *c, enum stmt s, const struct store_val *val)
{
	if (c->txn == NULL || !c->positioned || c->row >= c->nrows)
		return c->txn == NULL ? STORE_E_FAILED : STORE_NOTFOUND;
	struct pg_txn *r = c->txn->root;
	int current = c->gen == r->write_gen;
	struct store_val k = { c->klen, c->key };
	int rc = write_row(c->txn, c->tb, s, &k, val, STORE_NOTFOUND);
	/* The rows after this key are unchanged: the page stays current, and
	 * STORE_NEXT continues after the key, deleted or not. */
	if (rc == 0 && current)
		c->gen = r->write_gen;
	return rc;
}

int
pgsql_cursor_put(struct store_cursor *cur, const struct store_val *val)
{
	return cursor_write((struct pg_cursor *)cur, S_UPD, val);
}

int
pgsql_cursor_del(struct store_cursor *cur)
{
	return cursor_write((struct pg_cursor *)cur, S_DEL, NULL);
}

void
pgsql_cursor_close(struct store_cursor *cur)
{
	struct pg_cursor *c = (struct pg_cursor *)cur;
	if (c->txn != NULL) {
		struct pg_cursor **pp = &c->txn->cursors;
		while (*pp != c)
			pp = &(*pp)->next;
		*pp = c->next;
		if (c->page != NULL)
			pgsql_arena_keep(c->txn, c->page);
	}
	free(c->key);
	free(c);
}
