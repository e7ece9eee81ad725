/*
 * store_pgsql_rows.c - the PostgreSQL backend's statements: point reads
 * and writes, counts and cursors (keyset pagination over the primary key),
 * all with binary parameters and results, prepared once per connection.
 *
 * A write whose answer the caller does not need (a put without
 * STORE_NOOVERWRITE) is held back with the (nested) batch's other puts to
 * its table, and they go as one multi-row INSERT in the connection's
 * pipeline, without waiting (store_pgsql_pipe.c), when anything else is
 * sent; its failure, if any, is the answer of a later call in its batch:
 * the next read, the nested batch's commit or the batch's.
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
#define BYTEAARRAYOID 1001

#define PUTS_MAX_ROWS 256          /* held back per table, then sent */
#define PUTS_MAX_BYTES (1u << 20)

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
	/* Several puts in one statement (keys distinct: ON CONFLICT DO UPDATE
	 * may touch a row once per statement). */
	[S_PUTN] = ("INSERT INTO @ (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) "
	    "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"),
};

static const Oid stmt_types[S_N][2] = {
	[S_GET] = { BYTEAOID }, [S_PUT] = { BYTEAOID, BYTEAOID },
	[S_PUT_NEW] = { BYTEAOID, BYTEAOID }, [S_DEL] = { BYTEAOID },
	[S_UPD] = { BYTEAOID, BYTEAOID }, [S_FIRST] = { INT8OID },
	[S_AFTER] = { BYTEAOID, INT8OID }, [S_FROM] = { BYTEAOID, INT8OID },
	[S_PUTN] = { BYTEAARRAYOID, BYTEAARRAYOID },
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
send_prepared(struct pg_txn *r, uint32_t owner, enum store_table tb, enum stmt s, int want,
    int n, const char *const *vals, const int *lens)
{
	char name[16];
	int rc;
	struct pg_conn *c = r->conn;
	snprintf(name, sizeof name, "v%u_%u", (unsigned)tb, (unsigned)s);
	if (!(c->prepared[tb] & 1u << s) &&
	    (rc = pipe_prepare(c, owner, tb, s, name, r->ps->sql[tb][s], n, stmt_types[s])) != 0)
		return rc;
	return pipe_exec(c, owner, want, name, n, vals, lens);
}

static int
send_stmt(struct pg_txn *t, enum store_table tb, enum stmt s, int want, int n,
    const char *const *vals, const int *lens)
{
	int rc = pgsql_txn_ready(t);
	if (rc == 0)
		rc = pgsql_puts_flush(t->root);
	if (rc != 0)
		return rc;
	return send_prepared(t->root, t->serial, tb, s, want, n, vals, lens);
}

/* ---- puts held back ------------------------------------------------------ */

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A bytea[] in PostgreSQL's binary array format: dimensions, flags, the
 * element type, length and lower bound, then each element's length and
 * bytes (the keys, or the values, of b's rows). */
static uint8_t *
bytea_array(const struct pg_putbuf *b, int value, int *len)
{
	size_t size = 20;
	for (unsigned i = 0; i < b->n; i++)
		size += 4 + (value ? b->rows[i]->vlen : b->rows[i]->klen);
	uint8_t *a = size <= 0x7fffffff ? malloc(size) : NULL, *p;
	if (a == NULL)
		return NULL;
	put_be32(a, 1);
	put_be32(a + 4, 0);
	put_be32(a + 8, BYTEAOID);
	put_be32(a + 12, b->n);
	put_be32(a + 16, 1);
	p = a + 20;
	for (unsigned i = 0; i < b->n; i++) {
		const struct pg_putrow *r = b->rows[i];
		size_t l = value ? r->vlen : r->klen;
		put_be32(p, (uint32_t)l);
		if (l > 0)
			memcpy(p + 4, r->data + (value ? r->klen : 0), l);
		p += 4 + l;
	}
	*len = (int)size;
	return a;
}

static void
buf_clear(struct pg_putbuf *b, struct pg_txn *r)
{
	for (unsigned i = 0; i < b->n; i++)
		free(b->rows[i]);
	r->nputs -= b->n;
	b->n = 0;
	b->bytes = 0;
}

/* Send one table's held-back puts: one row as S_PUT, more as S_PUTN. */
static int
buf_send(struct pg_txn *r, enum store_table tb)
{
	struct pg_putbuf *b = &r->puts[tb];
	int rc;
	if (b->n == 0)
		return 0;
	if (b->n == 1) {
		const struct pg_putrow *row = b->rows[0];
		const char *vals[2] = { (const char *)row->data,
			(const char *)row->data + row->klen };
		int lens[2] = { (int)row->klen, (int)row->vlen };
		rc = send_prepared(r, b->owner, tb, S_PUT, 0, 2, vals, lens);
	} else {
		int lens[2] = { 0, 0 };
		uint8_t *k = bytea_array(b, 0, &lens[0]), *v = bytea_array(b, 1, &lens[1]);
		const char *vals[2] = { (const char *)k, (const char *)v };
		rc = k && v ? send_prepared(r, b->owner, tb, S_PUTN, 0, 2, vals, lens) : STORE_E_NOMEM;
		free(k);
		free(v);
	}
	buf_clear(b, r);
	return rc;
}

int
pgsql_puts_flush(struct pg_txn *r)
{
	if (r->nputs == 0)
		return 0;
	for (unsigned tb = 0; tb < STORE_NTABLES; tb++) {
		int rc = buf_send(r, tb);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void
pgsql_puts_drop(struct pg_txn *r, uint32_t owner)
{
	if (r->puts == NULL)
		return;
	for (unsigned tb = 0; tb < STORE_NTABLES; tb++) {
		struct pg_putbuf *b = &r->puts[tb];
		if (owner == 0 || b->owner == owner)
			buf_clear(b, r);
		if (owner == 0)
			free(b->rows);
	}
	if (owner == 0) {
		free(r->puts);
		r->puts = NULL;
	}
}

/*
 * Hold a put back: the puts of one (nested) transaction to one table go
 * as one statement when anything else is sent (a read, a SAVEPOINT,
 * RELEASE, COMMIT), in table order: only puts to the same table could
 * conflict, and their order is kept. A key put again replaces its value,
 * as the later put would on the server.
 */
static int
hold_put(struct pg_txn *t, enum store_table tb, const struct store_val *key,
    const struct store_val *val)
{
	struct pg_txn *r = t->root;
	int rc = pgsql_txn_ready(t);
	if (rc != 0)
		return rc;
	if (r->puts == NULL && (r->puts = calloc(STORE_NTABLES, sizeof(*r->puts))) == NULL)
		return STORE_E_NOMEM;
	struct pg_putbuf *b = &r->puts[tb];
	if (b->n > 0 && b->owner != t->serial && (rc = pgsql_puts_flush(r)) != 0)
		return rc;
	if ((b->n >= PUTS_MAX_ROWS || b->bytes >= PUTS_MAX_BYTES) && (rc = buf_send(r, tb)) != 0)
		return rc;
	if (t->conn->qn >= PIPE_MAX && (rc = pgsql_txn_collect(t, NULL)) != 0)
		return rc;
	struct pg_putrow *row = malloc(sizeof(*row) + key->len + val->len);
	if (row == NULL)
		return STORE_E_NOMEM;
	row->klen = key->len;
	row->vlen = val->len;
	if (key->len > 0)
		memcpy(row->data, key->data, key->len);
	if (val->len > 0)
		memcpy(row->data + key->len, val->data, val->len);
	for (unsigned i = 0; i < b->n; i++) {
		struct pg_putrow *o = b->rows[i];
		if (o->klen == key->len && (key->len == 0 || memcmp(o->data, key->data, key->len) == 0)) {
			b->bytes = b->bytes - o->vlen + val->len;
			free(o);
			b->rows[i] = row;
			return 0;
		}
	}
	if (b->n == b->cap) {
		unsigned cap = b->cap ? 2 * b->cap : 16;
		struct pg_putrow **rows = realloc(b->rows, cap * sizeof(*rows));
		if (rows == NULL) {
			free(row);
			return STORE_E_NOMEM;
		}
		b->rows = rows;
		b->cap = cap;
	}
	b->rows[b->n++] = row;
	b->owner = t->serial;
	b->bytes += key->len + val->len;
	r->nputs++;
	return 0;
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
		pgsql_txn_wrote(t);
		if ((rc = hold_put(t, tb, key, val)) != 0)
			return failed(t, rc);
		return 0;
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
