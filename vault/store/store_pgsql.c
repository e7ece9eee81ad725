/*
 * store_pgsql.c - the PostgreSQL backend (store_pgsql.h), over libpq.
 *
 * One table per store table (vault_<name>: k bytea PRIMARY KEY, v bytea NOT
 * NULL), created and migrated at open (doc/storage-postgresql.md). A write
 * batch is BEGIN ... COMMIT on one connection, a nested batch a SAVEPOINT,
 * a read snapshot a REPEATABLE READ, READ ONLY transaction. Keys and values
 * travel only as binary parameters and results, never in SQL text, so no
 * log line (SQLSTATE and the server's primary message) can carry them.
 *
 * Connections: a small pool under a mutex, one connection per open
 * transaction, owned by it until it ends (a reset snapshot gives it back).
 * A connection that broke is dropped when its transaction ends; the next
 * transaction connects again, and libpq's multi-host conninfo picks the
 * server. A pooled connection found dead at BEGIN is replaced at once, as
 * nothing was done on it yet.
 *
 * Lifetimes: every PGresult a value or key points into is kept in the
 * transaction's arena until the transaction ends (store.h's promise), so a
 * long walk in one transaction holds all it read: walk in batches.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "store_pgsql.h"
#include "vault/log.h"

#define BYTEAOID 17
#define INT8OID 20

#define PAGE_FIRST 16 /* a cursor's first page; doubles up to PAGE_MAX */
#define PAGE_MAX 256
#define CONN_WAIT_SECONDS 10 /* for a free connection, then a failure */
#define SCHEMA_LOCK "7611409961283085681" /* pg_advisory_xact_lock key of open */

enum stmt { S_GET, S_PUT, S_PUT_NEW, S_DEL, S_UPD, S_FIRST, S_AFTER, S_FROM, S_COUNT, S_N };

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

struct pg_conn {
	PGconn *pc;
	struct pg_conn *next;              /* the idle list */
	unsigned sync_gen;                 /* the durability last applied */
	uint16_t prepared[STORE_NTABLES];  /* a bit per enum stmt */
};

struct pg_store {
	char *conninfo;
	pthread_mutex_t mu;
	pthread_cond_t freed;
	struct pg_conn *idle;
	unsigned max_conns, nconns;        /* nconns: idle and in use */
	unsigned sync_gen;                 /* raised by set_durable */
	int durable;
	char *sql[STORE_NTABLES][S_N];
};

struct pg_cursor;

struct pg_txn {
	struct store_txn base;
	struct pg_store *ps;
	struct pg_txn *root;
	struct pg_conn *conn;      /* the root's; NULL while a snapshot is reset */
	unsigned flags, depth;     /* depth: the savepoint's number, 0 at the root */
	int failed;                /* the first failure: PostgreSQL aborted the (sub)transaction */
	unsigned write_gen;        /* root: raised by every write */
	PGresult **arena;          /* root: what returned values point into */
	size_t narena, arena_cap;
	struct pg_cursor *cursors; /* open cursors of this transaction */
};

struct pg_cursor {
	struct store_cursor base;
	struct pg_txn *txn;        /* NULL once its transaction ended */
	struct pg_cursor *next;
	enum store_table tb;
	PGresult *page;            /* rows from the current one on */
	int row, nrows, full;      /* full: the page may not be the table's end */
	long long limit;
	unsigned gen;              /* the root's write_gen the page was read at */
	int positioned;
	uint8_t *key;              /* a copy of the current key */
	size_t klen, kcap;
};

static const struct store_methods pgsql_methods;

/* ---- failures ------------------------------------------------------------ */

static int
map_sqlstate(const char *st)
{
	if (st == NULL)
		return STORE_E_FAILED; /* libpq's own: the connection, mostly */
	if (strcmp(st, "23505") == 0)
		return STORE_EXISTS;
	if (strcmp(st, "53100") == 0)
		return STORE_E_DISK_FULL;
	if (strcmp(st, "53200") == 0)
		return STORE_E_NOMEM;
	if (strcmp(st, "XX001") == 0 || strcmp(st, "XX002") == 0)
		return STORE_E_CORRUPT;
	return STORE_E_FAILED;
}

/*
 * Say once a second at most what failed: SQLSTATE and the first line of
 * the server's (or libpq's) message. Keys and values are bound parameters,
 * never in the SQL text, so these hold none of them.
 */
static void
log_failure(const char *what, const char *state, const char *msg)
{
	static _Atomic int64_t last;
	static atomic_uint suppressed;
	int64_t now = (int64_t)time(NULL), prev = atomic_load(&last);
	if (prev == now || !atomic_compare_exchange_strong(&last, &prev, now)) {
		atomic_fetch_add(&suppressed, 1);
		return;
	}
	unsigned n = atomic_exchange(&suppressed, 0);
	if (msg == NULL || *msg == '\0')
		msg = "no message";
	int len = (int)strcspn(msg, "\n");
	if (n > 0)
		log_error("storage: PostgreSQL %s failed: %s%s%.*s; "
		    "and %u more since the last such line", what, state ? state : "", state ? " " : "", len, msg, n);
	else
		log_error("storage: PostgreSQL %s failed: %s%s%.*s", what, state ? state : "",
		    state ? " " : "", len, msg);
}

/* The store result of a failed command (res may be NULL); logs it. */
static int
fail(PGconn *pc, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (msg == NULL)
		msg = res ? PQresultErrorMessage(res) : NULL;
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(pc);
	int rc = map_sqlstate(state);
	if (rc < 0)
		log_failure(what, state, msg);
	return rc;
}

static int
exec_simple(PGconn *pc, const char *sql, const char *what)
{
	PGresult *res = PQexec(pc, sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = fail(pc, res, what);
	PQclear(res);
	return rc < 0 ? rc : rc > 0 ? STORE_E_FAILED : 0;
}

static void
quiet_notices(void *arg, const char *message)
{
	/* CREATE TABLE IF NOT EXISTS and the like: nothing to act on. */
}

/* ---- the pool ------------------------------------------------------------ */

static void
conn_free(struct pg_conn *c)
{
	PQfinish(c->pc);
	free(c);
}

static int
conn_new(struct pg_store *ps, struct pg_conn **out)
{
	struct pg_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return STORE_E_NOMEM;
	c->pc = PQconnectdb(ps->conninfo);
	if (c->pc == NULL) {
		free(c);
		return STORE_E_NOMEM;
	}
	if (PQstatus(c->pc) != CONNECTION_OK) {
		fail(c->pc, NULL, "connect");
		conn_free(c);
		return STORE_E_FAILED;
	}
	PQsetNoticeProcessor(c->pc, quiet_notices, NULL);
	*out = c;
	return 0;
}

/* An idle connection, or a new one; *fresh says which. */
static int
pool_get(struct pg_store *ps, struct pg_conn **out, int *fresh)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CONN_WAIT_SECONDS;
	pthread_mutex_lock(&ps->mu);
	while (ps->idle == NULL && ps->nconns >= ps->max_conns) {
		if (pthread_cond_timedwait(&ps->freed, &ps->mu, &until) == ETIMEDOUT &&
		    ps->idle == NULL && ps->nconns >= ps->max_conns) {
			pthread_mutex_unlock(&ps->mu);
			log_failure("pool", NULL, "every connection is in use (raise max_conns)");
			return STORE_E_FAILED;
		}
	}
	if (ps->idle != NULL) {
		*out = ps->idle;
		ps->idle = ps->idle->next;
		pthread_mutex_unlock(&ps->mu);
		*fresh = 0;
		return 0;
	}
	ps->nconns++;
	pthread_mutex_unlock(&ps->mu);
	*fresh = 1;
	int rc = conn_new(ps, out);
	if (rc != 0) {
		pthread_mutex_lock(&ps->mu);
		ps->nconns--;
		pthread_cond_signal(&ps->freed);
		pthread_mutex_unlock(&ps->mu);
	}
	return rc;
}

/* Give a connection back; one that broke or is still in a transaction is
 * dropped. */
static void
pool_put(struct pg_store *ps, struct pg_conn *c)
{
	int keep = PQstatus(c->pc) == CONNECTION_OK &&
	    PQtransactionStatus(c->pc) == PQTRANS_IDLE;
	if (!keep)
		conn_free(c);
	pthread_mutex_lock(&ps->mu);
	if (keep) {
		c->next = ps->idle;
		ps->idle = c;
	} else {
		ps->nconns--;
	}
	pthread_cond_signal(&ps->freed);
	pthread_mutex_unlock(&ps->mu);
}

/* ---- schema -------------------------------------------------------------- */

/* Migration n takes the backend's tables from version n - 1 to n, and
 * records n in vault_schema (1 inserts the row, later ones update it). */
static int
migrate_to_1(PGconn *pc, struct pg_store *ps)
{
	char sql[160];
	for (unsigned t = 0; t < STORE_NTABLES; t++) {
		snprintf(sql, sizeof sql, "CREATE TABLE vault_%s (k bytea PRIMARY KEY, "
		    "v bytea NOT NULL)", store_table_name(t));
		int rc = exec_simple(pc, sql, "create table");
		if (rc != 0)
			return rc;
	}
	return exec_simple(pc, "INSERT INTO vault_schema (version) VALUES (1)", "schema");
}

static int (*const migrations[STORE_PGSQL_SCHEMA_VERSION + 1])(PGconn *, struct pg_store *) = {
	[1] = migrate_to_1,
};

/*
 * Create or migrate the tables in one transaction, under an advisory lock
 * so that nodes starting together do it once.
 */
static int
schema_check(struct pg_store *ps, PGconn *pc, const char **why)
{
	int rc, version = 0;
	*why = "cannot create or check the PostgreSQL tables (see the log)";
	if ((rc = exec_simple(pc, "BEGIN; SELECT pg_advisory_xact_lock(" SCHEMA_LOCK "); "
	    "CREATE TABLE IF NOT EXISTS vault_schema (version int NOT NULL)", "schema")) != 0)
		goto out;
	PGresult *res = PQexec(pc, "SELECT max(version) FROM vault_schema");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = fail(pc, res, "schema");
		PQclear(res);
		goto out;
	}
	if (!PQgetisnull(res, 0, 0))
		version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (version < 0 || version > STORE_PGSQL_SCHEMA_VERSION) {
		*why = "the database's vault tables have a newer schema than this version knows";
		rc = STORE_E_CORRUPT;
		goto out;
	}
	for (int v = version + 1; v <= STORE_PGSQL_SCHEMA_VERSION; v++)
		if ((rc = migrations[v](pc, ps)) != 0)
			goto out;
	rc = exec_simple(pc, "COMMIT", "schema");
out:
	if (PQtransactionStatus(pc) != PQTRANS_IDLE)
		PQclear(PQexec(pc, "ROLLBACK"));
	return rc;
}

/* ---- open and close ------------------------------------------------------ */

/* A statement for one table: the template with its @ replaced by name. */
static char *
fill_name(const char *tmpl, const char *name)
{
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

static void
store_free(struct pg_store *ps)
{
	while (ps->idle != NULL) {
		struct pg_conn *c = ps->idle;
		ps->idle = c->next;
		conn_free(c);
	}
	for (unsigned t = 0; t < STORE_NTABLES; t++)
		for (unsigned i = 0; i < S_N; i++)
			free(ps->sql[t][i]);
	free(ps->conninfo);
	pthread_cond_destroy(&ps->freed);
	pthread_mutex_destroy(&ps->mu);
	free(ps);
}

static void
pgsql_close(struct store *s)
{
	if (s->impl != NULL)
		store_free(s->impl);
}

int
store_pgsql_open(struct store *s, const char *conninfo, unsigned max_conns,
    const char **why)
{
	struct pg_store *ps;
	struct pg_conn *c;
	int rc;

	s->m = NULL;
	s->impl = NULL;
	*why = "max_conns must be at least 1";
	if (max_conns == 0)
		return STORE_E_FAILED;
	/* Several threads use the pool: libpq must be built thread-safe. */
	*why = "this libpq is not thread-safe";
	if (conninfo == NULL || !PQisthreadsafe()) {
		*why = conninfo == NULL ? "no PostgreSQL connection string" : *why;
		return STORE_E_FAILED;
	}
	*why = "out of memory";
	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return STORE_E_NOMEM;
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->freed, NULL);
	ps->max_conns = max_conns;
	ps->durable = 1;
	if ((ps->conninfo = strdup(conninfo)) == NULL) {
		store_free(ps);
		return STORE_E_NOMEM;
	}
	for (unsigned t = 0; t < STORE_NTABLES; t++) {
		char name[40];
		snprintf(name, sizeof name, "vault_%s", store_table_name(t));
		for (unsigned i = 0; i < S_N; i++) {
			if ((ps->sql[t][i] = fill_name(stmt_sql[i], name)) == NULL) {
				store_free(ps);
				return STORE_E_NOMEM;
			}
		}
	}
	*why = "cannot connect to PostgreSQL (see the log)";
	if ((rc = conn_new(ps, &c)) != 0) {
		store_free(ps);
		return rc;
	}
	ps->nconns = 1;
	rc = schema_check(ps, c->pc, why);
	pool_put(ps, c);
	if (rc != 0) {
		store_free(ps);
		return rc;
	}
	s->m = &pgsql_methods;
	s->impl = ps;
	*why = NULL;
	return 0;
}

/* ---- transactions -------------------------------------------------------- */

static int
arena_keep(struct pg_txn *t, PGresult *res)
{
	struct pg_txn *r = t->root;
	if (r->narena == r->arena_cap) {
		size_t cap = r->arena_cap ? 2 * r->arena_cap : 16;
		PGresult **a = realloc(r->arena, cap * sizeof(*a));
		if (a == NULL) {
			PQclear(res);
			return STORE_E_NOMEM;
		}
		r->arena = a;
		r->arena_cap = cap;
	}
	r->arena[r->narena++] = res;
	return 0;
}

static void
arena_free(struct pg_txn *r)
{
	for (size_t i = 0; i < r->narena; i++)
		PQclear(r->arena[i]);
	r->narena = 0;
}

/* The transaction ends: its cursors keep nothing of it. */
static void
detach_cursors(struct pg_txn *t)
{
	for (struct pg_cursor *c = t->cursors; c != NULL; c = c->next) {
		if (c->page != NULL)
			arena_keep(t, c->page);
		c->page = NULL;
		c->txn = NULL;
	}
	t->cursors = NULL;
}

/*
 * Take a connection and begin the root transaction on it. A read snapshot
 * runs a first statement at once: PostgreSQL takes a REPEATABLE READ
 * snapshot at the first statement, not at BEGIN, and the snapshot must be
 * of the state when store_txn_begin() returned.
 */
static int
begin_root(struct pg_txn *t)
{
	struct pg_store *ps = t->ps;
	for (unsigned attempt = 0;; attempt++) {
		struct pg_conn *c;
		int fresh, rc = pool_get(ps, &c, &fresh);
		if (rc != 0)
			return rc;
		char sql[128];
		pthread_mutex_lock(&ps->mu);
		unsigned gen = ps->sync_gen;
		int durable = ps->durable;
		pthread_mutex_unlock(&ps->mu);
		snprintf(sql, sizeof sql, "%s%s", c->sync_gen == gen ? "" : durable ?
		    "RESET synchronous_commit; " : "SET synchronous_commit = off; ",
		    t->flags & STORE_RDONLY ?
		    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1" : "BEGIN");
		PGresult *res = PQexec(c->pc, sql);
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			PQclear(res);
			c->sync_gen = gen;
			t->conn = c;
			return 0;
		}
		/* A pooled connection the server closed meanwhile: replace it
		 * quietly (nothing was done on it), a bounded number of times. */
		int stale = !fresh && PQstatus(c->pc) != CONNECTION_OK &&
		    attempt <= ps->max_conns;
		if (!stale)
			rc = fail(c->pc, res, "begin");
		PQclear(res);
		if (PQtransactionStatus(c->pc) == PQTRANS_INERROR)
			PQclear(PQexec(c->pc, "ROLLBACK"));
		pool_put(ps, c);
		if (!stale)
			return rc < 0 ? rc : STORE_E_FAILED;
	}
}

static int
pgsql_txn_begin(struct store *s, struct store_txn *parent, unsigned flags,
    struct store_txn **out)
{
	struct pg_txn *p = (struct pg_txn *)parent, *t;
	if (p != NULL && ((p->flags & STORE_RDONLY) || p->conn == NULL || p->failed)) {
		log_failure("nested batch", NULL, "its parent is a snapshot or failed");
		return STORE_E_FAILED;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return STORE_E_NOMEM;
	t->base.m = &pgsql_methods;
	t->ps = s->impl;
	t->flags = flags;
	if (p == NULL) {
		t->root = t;
		int rc = begin_root(t);
		if (rc != 0) {
			free(t);
			return rc;
		}
	} else {
		char sql[32];
		t->root = p->root;
		t->conn = p->conn;
		t->depth = p->depth + 1;
		t->flags = p->flags;
		snprintf(sql, sizeof sql, "SAVEPOINT s%u", t->depth);
		int rc = exec_simple(t->conn->pc, sql, "savepoint");
		if (rc != 0) {
			p->failed = rc;
			free(t);
			return rc;
		}
	}
	*out = &t->base;
	return 0;
}

/* End the root's transaction on the server and give the connection back. */
static void
end_root(struct pg_txn *t)
{
	detach_cursors(t);
	arena_free(t);
	if (t->conn != NULL) {
		if (PQtransactionStatus(t->conn->pc) != PQTRANS_IDLE)
			PQclear(PQexec(t->conn->pc, "ROLLBACK"));
		pool_put(t->ps, t->conn);
		t->conn = NULL;
	}
}

/* A nested batch that failed or is aborted: undo it, keep the parent. */
static void
rollback_savepoint(struct pg_txn *t)
{
	char sql[64];
	snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT s%u; RELEASE SAVEPOINT s%u",
	    t->depth, t->depth);
	PGresult *res = PQexec(t->conn->pc, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		struct pg_txn *r = t->root;
		r->failed = fail(t->conn->pc, res, "rollback to savepoint");
	}
	PQclear(res);
}

static void
pgsql_txn_abort(struct store_txn *txn)
{
	struct pg_txn *t = (struct pg_txn *)txn;
	if (t->depth > 0) {
		detach_cursors(t);
		rollback_savepoint(t);
	} else {
		end_root(t);
		free(t->arena);
	}
	free(t);
}

static int
pgsql_txn_commit(struct store_txn *txn)
{
	struct pg_txn *t = (struct pg_txn *)txn;
	int rc = t->failed;
	if (t->conn == NULL) {
		rc = STORE_E_FAILED; /* a reset snapshot */
	} else if (t->depth > 0) {
		detach_cursors(t);
		if (rc != 0) {
			rollback_savepoint(t);
		} else {
			char sql[32];
			snprintf(sql, sizeof sql, "RELEASE SAVEPOINT s%u", t->depth);
			if ((rc = exec_simple(t->conn->pc, sql, "release savepoint")) != 0)
				t->root->failed = rc;
		}
		free(t);
		return rc;
	} else if (rc == 0) {
		/* Durable as synchronous_commit says once COMMIT returns. A lost
		 * connection here leaves the outcome unknown: STORE_E_FAILED, and
		 * the caller must re-read before retrying. */
		PGresult *res = PQexec(t->conn->pc, "COMMIT");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = fail(t->conn->pc, res, "commit");
		else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
			log_failure("commit", NULL, "the server rolled the transaction back");
			rc = STORE_E_FAILED;
		}
		PQclear(res);
		if (rc > 0)
			rc = STORE_E_FAILED;
	}
	end_root(t);
	free(t->arena);
	free(t);
	return rc;
}

static void
pgsql_txn_reset(struct store_txn *txn)
{
	struct pg_txn *t = (struct pg_txn *)txn;
	if (!(t->flags & STORE_RDONLY) || t->depth > 0)
		return; /* as LMDB: only for read snapshots */
	if (t->conn != NULL)
		PQclear(PQexec(t->conn->pc, "COMMIT"));
	end_root(t);
	t->failed = 0;
}

static int
pgsql_txn_renew(struct store_txn *txn)
{
	struct pg_txn *t = (struct pg_txn *)txn;
	if (!(t->flags & STORE_RDONLY) || t->depth > 0 || t->conn != NULL)
		return STORE_E_FAILED;
	return begin_root(t);
}

/* ---- reads and writes ---------------------------------------------------- */

/* Whether the transaction can run a command; a write also needs a batch. */
static int
usable(struct pg_txn *t, int write)
{
	int failed = t->failed ? t->failed : t->root->failed;
	if (t->conn == NULL || failed)
		return failed ? failed : STORE_E_FAILED;
	if (write && (t->flags & STORE_RDONLY)) {
		log_failure("write", NULL, "a write in a read snapshot");
		return STORE_E_FAILED;
	}
	return 0;
}

/*
 * Run one of a table's statements with binary parameters and results,
 * preparing it on this connection first if needed. NULL on a failure,
 * which aborts the (sub)transaction: t->failed keeps it.
 */
static PGresult *
run(struct pg_txn *t, enum store_table tb, enum stmt s, int n,
    const char *const *vals, const int *lens, int *rc)
{
	static const int formats[2] = { 1, 1 };
	struct pg_conn *c = t->conn;
	char name[16];
	PGresult *res;

	snprintf(name, sizeof name, "v%u_%u", (unsigned)tb, (unsigned)s);
	if (!(c->prepared[tb] & 1u << s)) {
		res = PQprepare(c->pc, name, t->ps->sql[tb][s], n, stmt_types[s]);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			*rc = fail(c->pc, res, "prepare");
			goto failed;
		}
		PQclear(res);
		c->prepared[tb] |= (uint16_t)(1u << s);
	}
	res = PQexecPrepared(c->pc, name, n, vals, lens, formats, 1);
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	*rc = fail(c->pc, res, "statement");
failed:
	PQclear(res);
	if (*rc == 0)
		*rc = STORE_E_FAILED;
	t->failed = *rc < 0 ? *rc : STORE_E_FAILED;
	return NULL;
}

/* libpq reads a NULL parameter as SQL NULL: an empty value is "". */
static inline const char *
param(const struct store_val *v)
{
	return v->data != NULL ? v->data : "";
}

static int
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
	return arena_keep(t, res);
}

/* A write of one row; STORE_NOTFOUND (or miss) when it touched none. */
static int
write_row(struct pg_txn *t, enum store_table tb, enum stmt s, const struct store_val *key,
    const struct store_val *val, int miss)
{
	int rc = usable(t, 1);
	if (rc != 0)
		return rc;
	const char *vals[2] = { param(key), val ? param(val) : NULL };
	int lens[2] = { (int)key->len, val ? (int)val->len : 0 };
	PGresult *res = run(t, tb, s, val ? 2 : 1, vals, lens, &rc);
	if (res == NULL)
		return rc;
	t->root->write_gen++;
	rc = strcmp(PQcmdTuples(res), "0") == 0 ? miss : 0;
	PQclear(res);
	return rc;
}

static int
pgsql_put(struct store_txn *txn, enum store_table tb, const struct store_val *key,
    const struct store_val *val, unsigned flags)
{
	/* STORE_APPEND is only a hint, for LMDB's page splits. */
	return write_row((struct pg_txn *)txn, tb, flags & STORE_NOOVERWRITE ? S_PUT_NEW : S_PUT,
	    key, val, STORE_EXISTS);
}

static int
pgsql_del(struct store_txn *txn, enum store_table tb, const struct store_val *key)
{
	return write_row((struct pg_txn *)txn, tb, S_DEL, key, NULL, STORE_NOTFOUND);
}

static int
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

static int
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
	if (c->page != NULL && (rc = arena_keep(t, c->page)) != 0) {
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

static int
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

static int
pgsql_cursor_put(struct store_cursor *cur, const struct store_val *val)
{
	return cursor_write((struct pg_cursor *)cur, S_UPD, val);
}

static int
pgsql_cursor_del(struct store_cursor *cur)
{
	return cursor_write((struct pg_cursor *)cur, S_DEL, NULL);
}

static void
pgsql_cursor_close(struct store_cursor *cur)
{
	struct pg_cursor *c = (struct pg_cursor *)cur;
	if (c->txn != NULL) {
		struct pg_cursor **pp = &c->txn->cursors;
		while (*pp != c)
			pp = &(*pp)->next;
		*pp = c->next;
		if (c->page != NULL)
			arena_keep(c->txn, c->page);
	}
	free(c->key);
	free(c);
}

/* ---- the store as a whole ------------------------------------------------ */

static int
pgsql_copy(struct store *s, int fd)
{
	log_error("storage: a PostgreSQL store is not copied by vaultd: back it up with the "
	    "database's own tools (pg_dump, base backups; doc/storage-postgresql.md)");
	return STORE_E_FAILED;
}

static void
pgsql_reader_check(struct store *s)
{
	/* Nothing to release: a dead reader's connection ends its snapshot. */
}

/* synchronous_commit for every later transaction: "off" when not durable,
 * else the operator's setting (RESET), applied at each connection's next
 * BEGIN. */
static int
pgsql_set_durable(struct store *s, int durable)
{
	struct pg_store *ps = s->impl;
	pthread_mutex_lock(&ps->mu);
	if (ps->durable != !!durable) {
		ps->durable = !!durable;
		ps->sync_gen++;
	}
	pthread_mutex_unlock(&ps->mu);
	return 0;
}

static const struct store_methods pgsql_methods = {
	.version = 1,
	.name = "postgresql",
	.close = pgsql_close,
	.txn_begin = pgsql_txn_begin,
	.txn_commit = pgsql_txn_commit,
	.txn_abort = pgsql_txn_abort,
	.txn_reset = pgsql_txn_reset,
	.txn_renew = pgsql_txn_renew,
	.get = pgsql_get,
	.put = pgsql_put,
	.del = pgsql_del,
	.count = pgsql_count,
	.cursor_open = pgsql_cursor_open,
	.cursor_get = pgsql_cursor_get,
	.cursor_put = pgsql_cursor_put,
	.cursor_del = pgsql_cursor_del,
	.cursor_close = pgsql_cursor_close,
	.copy = pgsql_copy,
	.reader_check = pgsql_reader_check,
	.set_durable = pgsql_set_durable,
};
