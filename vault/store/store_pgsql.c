/*
 * store_pgsql.c - the PostgreSQL backend (store_pgsql.h), over libpq:
 * connections, schema, transactions; statements and cursors are in
 * store_pgsql_rows.c.
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
 * server. A pooled connection found dead when taken (the server said so
 * before closing it), or lost before anything on it was answered, is
 * replaced at once, as nothing was done on it yet.
 *
 * Round trips (issue 15; doc/storage-postgresql.md, "Round trips"). Every
 * pooled connection is in libpq's pipeline mode (store_pgsql_pipe.c):
 * statements are sent without waiting, and their answers read at a sync
 * point, in order, each failure going to the (nested) transaction that
 * sent the statement. What waits, and what does not:
 *
 *   - a read snapshot sends nothing at store_txn_begin(): its BEGIN goes
 *     with its first statement, in the same round trip (PostgreSQL takes a
 *     REPEATABLE READ snapshot at the first statement anyway), so a request
 *     that reads nothing (ping, a create's worker side) costs PostgreSQL
 *     nothing. Its COMMIT at reset is sent without waiting: a read-only
 *     transaction's COMMIT has nothing to lose, and the connection's next
 *     user reads that answer before its own. Safe for the deletion
 *     guarantee: a snapshot taken later than its begin only sees more. While
 *     the store is unreachable a snapshot connects at begin, as before, so
 *     that begin says so (status, ping).
 *   - a write batch sends BEGIN and the write lock at begin, not waiting;
 *     a nested batch's SAVEPOINT goes with its first statement (a nested
 *     batch that sends nothing sends no SAVEPOINT either). A put without
 *     STORE_NOOVERWRITE is held back and goes with the (nested) batch's
 *     other puts to its table as one multi-row INSERT when anything else
 *     is sent, not waited for (store_pgsql_rows.c); reads, NOOVERWRITE puts
 *     (STORE_EXISTS), deletes (STORE_NOTFOUND) and cursor writes wait, and
 *     take the answers of what was sent before them in the same round trip.
 *   - a nested batch's commit sends RELEASE and reads every answer owed:
 *     a write of it that failed fails it alone (its savepoint is rolled
 *     back), the parent and the other nested batches of the group commit
 *     intact, as when each write was waited for. Aborting one rolls back
 *     to its savepoint without waiting.
 *   - the batch's COMMIT goes alone, after the answers of its last writes
 *     are read: a connection lost before it is STORE_E_UNAVAILABLE (nothing
 *     committed), one lost while it runs is STORE_E_UNCERTAIN, as before.
 *     A batch that is not committed ends with a ROLLBACK not waited for.
 *
 * So a group commit of n creates (one nested batch for a run of creates,
 * writer.c) is about five round trips and a dozen statements, instead of
 * ~16 round trips and ~17 statements per create, and a single-field
 * detokenize two round trips instead of four (bench/pg-statements.sh).
 *
 * Failover (doc/storage-postgresql.md): every failure that a later try
 * may cure (no server, a lost connection, a server in recovery or read
 * only, a statement over statement_timeout) is STORE_E_UNAVAILABLE, and a
 * COMMIT whose answer never came is STORE_E_UNCERTAIN. While connecting
 * fails the pool waits before trying again (100 ms doubling to 2 s), and
 * transactions that ask meanwhile fail at once: a database that is down
 * costs a request no connect timeout, and vaultd reconnects by itself once
 * the database answers. Each attempt is bounded (connect_timeout, TCP
 * keepalives and tcp_user_timeout by default; statement_timeout per
 * session), so no thread waits on a dead server for long.
 *
 * Lifetimes: every PGresult a value or key points into is kept in the
 * transaction's arena until the transaction ends (store.h's promise), so a
 * long walk in one transaction holds all it read: walk in batches.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "store_pgsql.h"
#include "store_pgsql_int.h"
#include "vault/log.h"

#define CONN_WAIT_SECONDS 10 /* for a free connection, then a failure */
#define BACKOFF_FIRST_MS 100 /* after a failed connect; doubles ... */
#define BACKOFF_MAX_MS 2000  /* ... up to this */
#define STMT_TIMEOUT_MS 30000 /* statement_timeout unless the conninfo's options set it */
#define SCHEMA_LOCK "7611409961283085681" /* pg_advisory_xact_lock key of open */
/*
 * The advisory locks of several nodes on one vault (store_shared()), keyed
 * by the vault's schema (its OID, unique in the database) so that vaults in
 * other schemas of the same database neither wait for nor lead each other:
 * WRITE_LOCK, pg_advisory_xact_lock of every write batch (one batch at a
 * time across all the nodes), and LEAD_LOCK, the session-level lock of the
 * node that runs the background jobs (store_lead()).
 */
#define VAULT_SCHEMA_OID "(SELECT oid::int4 FROM pg_namespace WHERE nspname = current_schema())"
#define WRITE_LOCK "761140996, " VAULT_SCHEMA_OID
#define LEAD_LOCK "761140997, " VAULT_SCHEMA_OID

/* ---- failures ------------------------------------------------------------ */

/*
 * What a later try may cure: class 08 (connection exception), the server
 * shutting down or starting (57P01-57P03), too many connections (53300),
 * a cancelled statement (57014: statement_timeout), and a write on a
 * server that turned read only (25006: a standby, or a demoted primary).
 */
static int
retryable(const char *st)
{
	return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 ||
	    strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0 ||
	    strcmp(st, "53300") == 0 || strcmp(st, "57014") == 0 || strcmp(st, "25006") == 0;
}

static int
map_sqlstate(PGconn *pc, const char *st)
{
	if (st == NULL) /* libpq's own: the connection, mostly */
		return pc == NULL || PQstatus(pc) != CONNECTION_OK ? STORE_E_UNAVAILABLE :
		    STORE_E_FAILED;
	if (retryable(st))
		return STORE_E_UNAVAILABLE;
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
void
pgsql_log_failure(const char *what, const char *state, const char *msg)
{
	static struct log_limit limit;
	unsigned n;
	if (!log_limit_pass(&limit, &n))
		return;
	if (msg == NULL || *msg == '\0')
		msg = "no message";
	int len = (int)strcspn(msg, "\n");
	if (n > 0)
		log_error("storage: PostgreSQL %s failed: %s%s%.*s; "
		    "and %u more since the last such line", what, state ? state : "",
		    state ? " " : "", len, msg, n);
	else
		log_error("storage: PostgreSQL %s failed: %s%s%.*s", what, state ? state : "",
		    state ? " " : "", len, msg);
}

/* The store result of a failed command (res may be NULL); logs it. */
int
pgsql_fail(PGconn *pc, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (msg == NULL)
		msg = res ? PQresultErrorMessage(res) : NULL;
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(pc);
	int rc = map_sqlstate(pc, state);
	if (rc < 0)
		pgsql_log_failure(what, state, msg);
	return rc;
}

static int
exec_simple(PGconn *pc, const char *sql, const char *what)
{
	PGresult *res = PQexec(pc, sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pgsql_fail(pc, res, what);
	PQclear(res);
	return rc < 0 ? rc : rc > 0 ? STORE_E_FAILED : 0;
}

/*
 * Notices: CREATE TABLE IF NOT EXISTS and the like need no action, but a
 * WARNING is counted: COMMIT's only one says that the wait for a
 * synchronous standby was cancelled after the commit was made locally
 * (pgsql_txn_commit).
 */
static void
count_warnings(void *arg, const PGresult *res)
{
	struct pg_conn *c = arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	if (sev != NULL && strcmp(sev, "WARNING") == 0)
		c->warnings++;
	/* The server ending an idle session says so before it closes it. */
	if (sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
		c->broken = 1;
}

int
pgsql_lost(PGconn *pc, const char *st)
{
	return PQstatus(pc) != CONNECTION_OK || st == NULL || strncmp(st, "08", 2) == 0 ||
	    strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0;
}

/*
 * Connect with vaultd's bounds as defaults that the connection string
 * overrides (libpq takes the last value of a keyword, and conninfo is
 * expanded in place of dbname, after them): connect_timeout per host, and
 * over TCP keepalives and tcp_user_timeout, so that a server that vanished
 * is noticed within about 30 s instead of the kernel's two hours.
 */
static PGconn *
connect_to(const char *conninfo)
{
	static const char *const keys[] = { "connect_timeout", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname", NULL };
	const char *vals[] = { "5", "10", "5", "3", "30000", conninfo, NULL };
	return PQconnectdbParams(keys, vals, 1);
}

/*
 * statement_timeout for vaultd's sessions: STMT_TIMEOUT_MS, unless the
 * connection string's options set it (then the operator's value, which
 * PostgreSQL applies itself).
 */
static unsigned
stmt_timeout_for(const char *conninfo)
{
	unsigned ms = STMT_TIMEOUT_MS;
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val != NULL &&
		    strstr(o->val, "statement_timeout") != NULL)
			ms = 0;
	PQconninfoFree(opts);
	return ms;
}

/* ---- the pool ------------------------------------------------------------ */

static void
conn_free(struct pg_conn *c)
{
	PQfinish(c->pc);
	free(c->q);
	free(c);
}

static int
conn_new(struct pg_store *ps, struct pg_conn **out)
{
	struct pg_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return STORE_E_NOMEM;
	c->pc = connect_to(ps->conninfo);
	if (c->pc == NULL) {
		free(c);
		return STORE_E_NOMEM;
	}
	if (PQstatus(c->pc) != CONNECTION_OK) {
		pgsql_fail(c->pc, NULL, "connect");
		conn_free(c);
		return STORE_E_UNAVAILABLE;
	}
	PQsetNoticeReceiver(c->pc, count_warnings, c);
	if (ps->stmt_timeout_ms != 0) {
		char sql[48];
		snprintf(sql, sizeof sql, "SET statement_timeout = %u", ps->stmt_timeout_ms);
		int rc = exec_simple(c->pc, sql, "connect");
		if (rc != 0) {
			conn_free(c);
			return rc;
		}
	}
	*out = c;
	return 0;
}

/* Reachable again (a connect or a BEGIN worked): say so once. */
static void
mark_up(struct pg_store *ps)
{
	if (atomic_load(&ps->down_since) == 0)
		return;
	pthread_mutex_lock(&ps->mu);
	long long since = atomic_exchange(&ps->down_since, 0);
	ps->backoff_ms = 0;
	pthread_mutex_unlock(&ps->mu);
	if (since != 0)
		log_info("storage: PostgreSQL is reachable again, after %lld s",
		    (long long)time(NULL) - since);
}

/* No connect before backoff_ms from now (mu held). */
static void
hold_off(struct pg_store *ps)
{
	clock_gettime(CLOCK_MONOTONIC, &ps->retry_at);
	ps->retry_at.tv_sec += ps->backoff_ms / 1000;
	ps->retry_at.tv_nsec += (long)(ps->backoff_ms % 1000) * 1000000L;
	if (ps->retry_at.tv_nsec >= 1000000000L) {
		ps->retry_at.tv_sec++;
		ps->retry_at.tv_nsec -= 1000000000L;
	}
}

/* A connect failed (called with mu held): wait longer before the next. */
static void
mark_down(struct pg_store *ps)
{
	long long expected = 0;
	if (atomic_compare_exchange_strong(&ps->down_since, &expected, (long long)time(NULL)))
		log_error("storage: PostgreSQL is unreachable: requests that need the store "
		    "fail with VAULT_E_UNAVAILABLE until it answers again");
	ps->backoff_ms = ps->backoff_ms == 0 ? BACKOFF_FIRST_MS :
	    ps->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ps->backoff_ms * 2;
	hold_off(ps);
}

/* Whether a connect may be tried now (mu held): not while backing off. */
static int
may_connect(const struct pg_store *ps)
{
	struct timespec now;
	if (atomic_load(&ps->down_since) == 0)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > ps->retry_at.tv_sec || (now.tv_sec == ps->retry_at.tv_sec &&
	    now.tv_nsec >= ps->retry_at.tv_nsec);
}

/*
 * An idle connection, or a new one; *fresh says which. An idle one the
 * server closed meanwhile (a restart, a failover: it said so before
 * closing) is dropped unseen and the next one tried.
 */
static int
pool_get(struct pg_store *ps, struct pg_conn **out, int *fresh)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CONN_WAIT_SECONDS;
	pthread_mutex_lock(&ps->mu);
again:
	while (ps->idle == NULL && ps->nconns >= ps->max_conns) {
		if (pthread_cond_timedwait(&ps->freed, &ps->mu, &until) == ETIMEDOUT &&
		    ps->idle == NULL && ps->nconns >= ps->max_conns) {
			pthread_mutex_unlock(&ps->mu);
			pgsql_log_failure("pool", NULL, "every connection is in use (raise max_conns)");
			return STORE_E_FAILED;
		}
	}
	if (ps->idle != NULL) {
		struct pg_conn *c = ps->idle;
		ps->idle = c->next;
		pthread_mutex_unlock(&ps->mu);
		if (pipe_dead(c)) {
			conn_free(c);
			pthread_mutex_lock(&ps->mu);
			ps->nconns--;
			goto again;
		}
		*out = c;
		*fresh = 0;
		return 0;
	}
	if (!may_connect(ps)) {
		/* Down, and backing off: fail now rather than wait for it. */
		pthread_mutex_unlock(&ps->mu);
		return STORE_E_UNAVAILABLE;
	}
	if (atomic_load(&ps->down_since) != 0)
		hold_off(ps); /* one thread tries; the others fail until it is done */
	ps->nconns++;
	pthread_mutex_unlock(&ps->mu);
	*fresh = 1;
	int rc = conn_new(ps, out);
	if (rc != 0) {
		pthread_mutex_lock(&ps->mu);
		ps->nconns--;
		if (rc == STORE_E_UNAVAILABLE)
			mark_down(ps);
		pthread_cond_signal(&ps->freed);
		pthread_mutex_unlock(&ps->mu);
	} else {
		mark_up(ps);
	}
	return rc;
}

/* Give a connection back; one that broke, is to be dropped (drop: its
 * session failed in a way a new one may not, as a server that turned read
 * only) or whose pipeline is not at a sync point is closed. Its pipeline
 * may still owe answers (a transaction ended without waiting for its
 * COMMIT or ROLLBACK): the next user reads them first. */
static void
pool_release(struct pg_store *ps, struct pg_conn *c, int drop)
{
	int keep = !drop && !c->broken && PQstatus(c->pc) == CONNECTION_OK && c->unsynced == 0 &&
	    (c->qn > 0 || PQtransactionStatus(c->pc) == PQTRANS_IDLE);
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

static void
pool_put(struct pg_store *ps, struct pg_conn *c)
{
	pool_release(ps, c, 0);
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
		rc = pgsql_fail(pc, res, "schema");
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

static void
store_free(struct pg_store *ps)
{
	if (ps->lead != NULL)
		conn_free(ps->lead);
	while (ps->idle != NULL) {
		struct pg_conn *c = ps->idle;
		ps->idle = c->next;
		conn_free(c);
	}
	for (unsigned t = 0; t < STORE_NTABLES; t++)
		for (unsigned i = 0; i < S_N; i++)
			free(ps->sql[t][i]);
	if (ps->conninfo != NULL)
		sodium_memzero(ps->conninfo, strlen(ps->conninfo));
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

/*
 * Whether libpq can parse conninfo. Its parse errors quote the string's
 * words (a password among them), so they are dropped: the caller says
 * only which option is wrong.
 */
static int
conninfo_ok(const char *conninfo, const char **why)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	if (err != NULL) {
		sodium_memzero(err, strlen(err));
		PQfreemem(err);
	}
	if (opts == NULL) {
		*why = "the PostgreSQL connection string cannot be parsed (libpq's reason is "
		    "not shown: it may quote a password)";
		return STORE_E_FAILED;
	}
	PQconninfoFree(opts);
	return 0;
}

int
store_pgsql_ping(const char *conninfo, const char **why)
{
	int rc = conninfo_ok(conninfo, why);
	if (rc != 0)
		return rc;
	PGconn *pc = connect_to(conninfo);
	if (pc == NULL) {
		*why = "out of memory";
		return STORE_E_NOMEM;
	}
	rc = 0;
	*why = NULL;
	if (PQstatus(pc) != CONNECTION_OK) {
		pgsql_fail(pc, NULL, "connect");
		*why = "cannot connect to PostgreSQL (see the log)";
		rc = STORE_E_UNAVAILABLE;
	}
	PQfinish(pc);
	return rc;
}

void
store_pgsql_describe(struct store *s, char *out, size_t cap)
{
	struct pg_store *ps = s->impl;
	struct pg_conn *c;
	int fresh;
	snprintf(out, cap, "host ?, database ?");
	if (ps == NULL || pool_get(ps, &c, &fresh) != 0)
		return;
	const char *host = PQhost(c->pc), *db = PQdb(c->pc);
	snprintf(out, cap, "host %s, database %s", host && *host ? host : "?",
	    db && *db ? db : "?");
	pool_put(ps, c);
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
	if ((rc = conninfo_ok(conninfo, why)) != 0)
		return rc;
	*why = "out of memory";
	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return STORE_E_NOMEM;
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->freed, NULL);
	ps->max_conns = max_conns;
	ps->durable = 1;
	ps->stmt_timeout_ms = stmt_timeout_for(conninfo);
	if ((ps->conninfo = strdup(conninfo)) == NULL) {
		store_free(ps);
		return STORE_E_NOMEM;
	}
	for (unsigned t = 0; t < STORE_NTABLES; t++) {
		char name[40];
		snprintf(name, sizeof name, "vault_%s", store_table_name(t));
		for (unsigned i = 0; i < S_N; i++) {
			if ((ps->sql[t][i] = pgsql_stmt_sql(i, name)) == NULL) {
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

int
pgsql_arena_keep(struct pg_txn *t, PGresult *res)
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
			pgsql_arena_keep(t, c->page);
		c->page = NULL;
		c->txn = NULL;
	}
	t->cursors = NULL;
}

/* For answers no transaction waits for. */
static void
ignore_owner(void *arg, uint32_t owner, int rc, int lost)
{
}

/* The first failure of t's root or of t: what every later call returns. */
static int
txn_failed(const struct pg_txn *t)
{
	return t->failed ? t->failed : t->root->failed;
}

/* A serial for a new transaction: the owner of its statements. */
static uint32_t
new_serial(struct pg_store *ps)
{
	uint32_t s;
	while ((s = atomic_fetch_add(&ps->serials, 1) + 1) == 0)
		;
	return s;
}

/*
 * Begin the root on a connection: the durability setting if it changed,
 * then BEGIN (a batch: and the write lock), all sent without waiting; the
 * answers are read with the first statement's. A pooled connection found
 * dead is replaced in pool_get; one that dies before anything was answered
 * is replaced by pgsql_txn_collect (replayable).
 */
static int
open_root(struct pg_txn *t)
{
	struct pg_store *ps = t->ps;
	struct pg_conn *c;
	int fresh, rc = pool_get(ps, &c, &fresh);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&ps->mu);
	unsigned gen = ps->sync_gen;
	int durable = ps->durable;
	pthread_mutex_unlock(&ps->mu);
	/* The setting on its own, before a sync point: a SET in the
	 * transaction would be undone by a rollback. */
	if (c->sync_gen != gen) {
		rc = pipe_sql(c, t->serial, 0, "begin", durable ? "RESET synchronous_commit" :
		    "SET synchronous_commit = off");
		if (rc == 0)
			rc = pipe_sync(c);
		c->sync_gen = gen;
	}
	if (rc == 0 && (t->flags & STORE_RDONLY))
		rc = pipe_sql(c, t->serial, 0, "begin",
		    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	else if (rc == 0 && (rc = pipe_sql(c, t->serial, 0, "begin", "BEGIN")) == 0)
		rc = pipe_sql(c, t->serial, 0, "begin",
		    "SELECT pg_advisory_xact_lock(" WRITE_LOCK ")");
	if (rc != 0) {
		pool_release(ps, c, 1);
		return rc;
	}
	t->conn = c;
	t->fresh = fresh;
	t->replayable = 1;
	t->state = TX_OPEN;
	return 0;
}

int
pgsql_txn_ready(struct pg_txn *t)
{
	if (t->state == TX_OPEN)
		return 0;
	if (t->state != TX_PENDING)
		return STORE_E_FAILED;
	if (t->depth == 0)
		return open_root(t);
	int rc = pgsql_txn_ready(t->parent);
	if (rc != 0)
		return rc;
	char sql[32];
	snprintf(sql, sizeof sql, "SAVEPOINT s%u", t->depth);
	t->conn = t->root->conn;
	if ((rc = pgsql_puts_flush(t->root)) != 0 ||
	    (rc = pipe_sql(t->conn, t->parent->serial, 0, "savepoint", sql)) != 0) {
		t->parent->failed = rc;
		return rc;
	}
	t->root->replayable = 0;
	t->state = TX_OPEN;
	return 0;
}

void
pgsql_txn_wrote(struct pg_txn *t)
{
	t->root->replayable = 0;
}

/*
 * A statement of owner failed with rc: owner and the nested batches inside
 * it fail (PostgreSQL aborted them all); lost: the connection, so every
 * open one. An owner that already ended (an aborted nested batch, whose
 * savepoint is rolled back) fails no one.
 */
static void
owner_failed(void *arg, uint32_t owner, int rc, int lost)
{
	struct pg_txn *r = arg, *t;
	for (t = r->inner; t != NULL && !lost && t->serial != owner; t = t->parent)
		;
	if (t == NULL && !lost)
		return;
	for (struct pg_txn *u = r->inner; u != NULL; u = u->parent) {
		if (u->failed == 0)
			u->failed = rc;
		if (u == t)
			break;
	}
}

int
pgsql_txn_collect(struct pg_txn *t, PGresult **want)
{
	struct pg_txn *r = t->root;
	struct pg_conn *c = r->conn;
	if (want != NULL)
		*want = NULL;
	if (c == NULL)
		return txn_failed(t) ? txn_failed(t) : STORE_E_FAILED;
	if (c->qn == 0)
		return txn_failed(t);
	if (c->unsynced > 0)
		(void)pipe_sync(c); /* a failure marks c broken: collected below */
	int lost = pipe_collect(c, owner_failed, r, want);
	/* Nothing was answered yet and the connection came from the pool:
	 * it died idle, unseen (or between BEGIN and the first read), and
	 * nothing was done on it. Take another, as a BEGIN would have. */
	if (lost && r->replayable && !r->fresh && r->replays++ < r->ps->max_conns) {
		if (want != NULL && *want != NULL) {
			PQclear(*want);
			*want = NULL;
		}
		pool_release(r->ps, c, 1);
		r->conn = NULL;
		r->state = TX_PENDING;
		r->failed = 0;
		return PGSQL_RETRY;
	}
	r->replayable = 0;
	return txn_failed(t);
}

static int
pgsql_txn_begin(struct store *s, struct store_txn *parent, unsigned flags,
    struct store_txn **out)
{
	struct pg_txn *p = (struct pg_txn *)parent, *t;
	if (p != NULL && p->state != TX_RESET && txn_failed(p) == STORE_E_UNAVAILABLE)
		return STORE_E_UNAVAILABLE; /* said when it failed */
	if (p != NULL && ((p->flags & STORE_RDONLY) || p->state == TX_RESET || p->failed)) {
		pgsql_log_failure("nested batch", NULL, "its parent is a snapshot or failed");
		return STORE_E_FAILED;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return STORE_E_NOMEM;
	t->base.m = &pgsql_methods;
	t->ps = s->impl;
	t->flags = flags;
	t->serial = new_serial(t->ps);
	t->state = TX_PENDING;
	if (p == NULL) {
		t->root = t;
		t->inner = t;
		/* A batch sends BEGIN and takes the write lock now (the answers
		 * come with its first read). A snapshot sends nothing until its
		 * first statement, unless the store is unreachable: then it
		 * tries to connect now, and says so at once, as before. */
		int rc = 0;
		if (!(flags & STORE_RDONLY) || atomic_load(&t->ps->down_since) != 0)
			rc = open_root(t);
		if (rc == 0 && !(flags & STORE_RDONLY) && PQflush(t->conn->pc) != 0)
			t->conn->broken = 1; /* found by the first read or the commit */
		if (rc != 0) {
			free(t);
			return rc;
		}
	} else {
		t->root = p->root;
		t->parent = p;
		t->depth = p->depth + 1;
		t->flags = p->flags;
		t->conn = p->conn;
		t->root->inner = t;
	}
	*out = &t->base;
	return 0;
}

/*
 * End the root's transaction on the server and give the connection back.
 * The end (COMMIT of a snapshot, ROLLBACK of a batch not committed) is
 * sent without waiting for its answer: the server ends the transaction as
 * it reads it, and the connection's next user reads the answer before its
 * own. A read-only transaction's COMMIT cannot lose anything, and a
 * ROLLBACK's failure would only mean the session is gone.
 */
static void
end_root(struct pg_txn *t)
{
	detach_cursors(t);
	arena_free(t);
	pgsql_puts_drop(t, 0);
	if (t->conn != NULL) {
		struct pg_conn *c = t->conn;
		/* A session that failed as a server going away does: a new one
		 * finds the server that now accepts writes (read-write). */
		/* Answers owed by a batch aborted mid-way: read them first (a
		 * PREPARE skipped among them must be known, pipe.c). */
		if (c->unsynced > 0 && !c->broken && pipe_sync(c) == 0)
			(void)pipe_collect(c, ignore_owner, NULL, NULL);
		int drop = t->failed == STORE_E_UNAVAILABLE || t->failed == STORE_E_UNCERTAIN ||
		    c->broken;
		if (!drop && t->state == TX_OPEN &&
		    ((c->unsynced > 0 && pipe_sync(c) != 0) ||
		    pipe_sql(c, 0, 0, "end", (t->flags & STORE_RDONLY) ? "COMMIT" : "ROLLBACK") != 0 ||
		    pipe_sync(c) != 0))
			drop = 1;
		pool_release(t->ps, c, drop);
		t->conn = NULL;
	}
	t->state = TX_RESET;
}

/*
 * A nested batch that failed or is aborted: undo it, keep the parent,
 * without waiting (a failure of the rollback fails the root, at its next
 * read or commit). After a sync point: an earlier statement's failure
 * makes the server skip the rest up to the next one.
 */
static void
rollback_savepoint(struct pg_txn *t)
{
	struct pg_conn *c = t->conn;
	char sql[40];
	int rc = 0;
	pgsql_puts_drop(t->root, t->serial); /* never sent: nothing to undo */
	/* The answers of its writes first (their failures are its own: it is
	 * no longer the innermost), so that a PREPARE the server skipped
	 * after one of them is known before the next statement needs it. */
	if (c->unsynced > 0)
		(void)pgsql_txn_collect(t->parent, NULL);
	if (c->broken)
		rc = STORE_E_UNAVAILABLE;
	snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT s%u", t->depth);
	if (rc == 0)
		rc = pipe_sql(c, t->root->serial, 0, "rollback to savepoint", sql);
	snprintf(sql, sizeof sql, "RELEASE SAVEPOINT s%u", t->depth);
	if (rc == 0)
		rc = pipe_sql(c, t->root->serial, 0, "rollback to savepoint", sql);
	if (rc != 0 && t->root->failed == 0)
		t->root->failed = rc;
}

/* The nested batch t ends: its parent is the innermost again. */
static void
pop_nested(struct pg_txn *t)
{
	detach_cursors(t);
	t->root->inner = t->parent;
}

static void
pgsql_txn_abort(struct store_txn *txn)
{
	struct pg_txn *t = (struct pg_txn *)txn;
	if (t->depth > 0) {
		pop_nested(t);
		if (t->state == TX_OPEN)
			rollback_savepoint(t);
	} else {
		end_root(t);
		free(t->arena);
	}
	free(t);
}

/*
 * A nested batch commits into its parent: RELEASE, and the answers of
 * everything it sent are read now, so that a write of it that failed
 * (found only now: writes are not waited for) fails this batch alone,
 * as if the write had, and leaves the parent intact. One round trip per
 * nested batch that wrote; none for one that sent nothing.
 */
static int
commit_nested(struct pg_txn *t)
{
	if (t->state != TX_OPEN)
		return t->failed;
	if (txn_failed(t) == 0) {
		char sql[32];
		snprintf(sql, sizeof sql, "RELEASE SAVEPOINT s%u", t->depth);
		int rc = pgsql_puts_flush(t->root);
		if (rc == 0)
			rc = pipe_sql(t->conn, t->root->serial, 0, "release savepoint", sql);
		if (rc != 0)
			owner_failed(t->root, 0, rc, 1);
		else
			(void)pgsql_txn_collect(t, NULL); /* never a retry: SAVEPOINT was sent */
	}
	if (t->failed != 0 && t->root->failed == 0)
		rollback_savepoint(t);
	return txn_failed(t);
}

/*
 * COMMIT: durable as synchronous_commit says once it returns. Its outcome
 * is unknown (STORE_E_UNCERTAIN) when the connection was lost before the
 * answer came (the server may have committed and then died), and when the
 * answer came with a WARNING: the wait for a synchronous standby was
 * cancelled (statement_timeout, an administrator), the commit is made on
 * this server but may be on no standby, so a failover can lose it.
 *
 * The answers to the batch's last writes are read first, on their own: a
 * connection lost before COMMIT is sent stays STORE_E_UNAVAILABLE (nothing
 * was committed), as when every write was waited for. That costs a round
 * trip only when writes are unanswered.
 */
static int
commit_root(struct pg_txn *t)
{
	int rc;
	for (;;) {
		if ((rc = pgsql_txn_ready(t)) != 0 || (rc = pgsql_puts_flush(t)) != 0)
			return rc;
		if (t->conn->qn == 0)
			break;
		if ((rc = pgsql_txn_collect(t, NULL)) != PGSQL_RETRY) {
			if (rc != 0)
				return rc;
			break;
		}
	}
	struct pg_conn *c = t->conn;
	PGresult *res = NULL;
	t->replayable = 0;
	c->warnings = 0;
	if (pipe_sql(c, t->serial, 1, "commit (its outcome is unknown: the batch may "
	    "or may not be stored)", "COMMIT") == 0)
		(void)pgsql_txn_collect(t, &res);
	if (res == NULL) {
		/* No answer: the connection was lost after COMMIT may have
		 * reached the server (said in the log by the pipeline). A
		 * definite refusal has a SQLSTATE of its own, below. */
		rc = STORE_E_UNCERTAIN;
	} else if (PQresultStatus(res) == PGRES_COMMAND_OK &&
	    strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		pgsql_log_failure("commit", NULL, "the server rolled the transaction back");
		rc = STORE_E_FAILED;
	} else if (PQresultStatus(res) == PGRES_COMMAND_OK && c->warnings != 0) {
		pgsql_log_failure("commit", NULL, "made on the primary, but the wait for a "
		    "synchronous standby was cancelled: it may be lost by a failover");
		rc = STORE_E_UNCERTAIN;
	} else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = pgsql_fail(c->pc, res, "commit");
		if (rc >= 0)
			rc = STORE_E_FAILED;
	}
	t->state = TX_DONE;
	PQclear(res);
	return rc;
}

static int
pgsql_txn_commit(struct store_txn *txn)
{
	struct pg_txn *t = (struct pg_txn *)txn;
	int rc = t->failed;
	if (t->state == TX_RESET) {
		rc = STORE_E_FAILED; /* a reset snapshot */
	} else if (t->depth > 0) {
		detach_cursors(t);
		rc = commit_nested(t); /* t is still the innermost: its failures are its own */
		pop_nested(t);
		free(t);
		return rc;
	} else if (rc == 0 && !(t->flags & STORE_RDONLY)) {
		rc = commit_root(t);
		t->failed = rc;
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
	end_root(t);
	t->failed = 0;
}

static int
pgsql_txn_renew(struct store_txn *txn)
{
	struct pg_txn *t = (struct pg_txn *)txn;
	if (!(t->flags & STORE_RDONLY) || t->depth > 0 || t->state != TX_RESET)
		return STORE_E_FAILED;
	t->serial = new_serial(t->ps);
	t->state = TX_PENDING;
	t->replays = 0;
	/* As pgsql_txn_begin: nothing is sent before the first statement,
	 * unless the store is unreachable. */
	int rc = atomic_load(&t->ps->down_since) != 0 ? open_root(t) : 0;
	if (rc != 0)
		t->state = TX_RESET;
	return rc;
}

/* ---- the store as a whole ------------------------------------------------ */

static int
pgsql_copy(struct store *s, int fd)
{
	log_error("storage: a PostgreSQL store is not copied by vaultd: back it up with the "
	    "database's own tools (pg_dump, base backups; doc/storage-postgresql.md)");
	return STORE_E_FAILED;
}

/* The vault tables of the current schema, as VACUUM takes them. */
static const char vault_tables_sql[] =
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "WHERE c.relkind = 'r' AND c.relname LIKE 'vault\\_%' "
    "AND c.relnamespace = current_schema()::regnamespace";

static int
tables_size(PGconn *pc, uint64_t *bytes)
{
	PGresult *res = PQexec(pc, vault_tables_sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		rc = pgsql_fail(pc, res, "table sizes");
	else
		*bytes = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc < 0 ? rc : rc > 0 ? STORE_E_FAILED : 0;
}

/*
 * Read the answers every idle connection still owes (the COMMIT of a
 * snapshot ended without waiting): once this returns, no snapshot ended
 * before the call is open on the server.
 */
static void
drain_idle(struct pg_store *ps)
{
	pthread_mutex_lock(&ps->mu);
	struct pg_conn *list = ps->idle;
	ps->idle = NULL;
	pthread_mutex_unlock(&ps->mu);
	while (list != NULL) {
		struct pg_conn *c = list;
		list = c->next;
		int drop = c->qn > 0 && pipe_collect(c, ignore_owner, NULL, NULL) != 0;
		pool_release(ps, c, drop);
	}
}

/*
 * Retire's compaction: VACUUM every vault table, so that old row versions
 * (records as they were before a rewrap, deleted index entries) leave the
 * tables and their indexes. INDEX_CLEANUP ON: the default (auto) may skip
 * the indexes when few pages changed, and the keyed tags live in them.
 * VACUUM runs outside a transaction, on a connection of its own.
 */
static int
pgsql_purge(struct store *s, uint64_t *before, uint64_t *after)
{
	struct pg_store *ps = s->impl;
	struct pg_conn *c;
	char sql[512];
	size_t n = (size_t)snprintf(sql, sizeof sql, "VACUUM (INDEX_CLEANUP ON)");
	for (unsigned t = 0; t < STORE_NTABLES && n < sizeof sql; t++)
		n += (size_t)snprintf(sql + n, sizeof sql - n, "%s vault_%s", t ? "," : "",
		    store_table_name(t));
	if (n >= sizeof sql)
		return STORE_E_FAILED;
	drain_idle(ps);
	int fresh, rc = pool_get(ps, &c, &fresh);
	if (rc != 0)
		return rc;
	/* VACUUM of a large table may take longer than statement_timeout;
	 * the connection is not reused, so the setting goes with it. VACUUM
	 * cannot run in a pipeline. */
	if ((rc = pipe_leave(c)) == 0 && (rc = tables_size(c->pc, before)) == 0 &&
	    (ps->stmt_timeout_ms == 0 ||
	    (rc = exec_simple(c->pc, "SET statement_timeout = 0", "vacuum")) == 0) &&
	    (rc = exec_simple(c->pc, sql, "vacuum")) == 0)
		rc = tables_size(c->pc, after);
	pool_release(ps, c, 1);
	return rc;
}

static void
pgsql_reader_check(struct store *s)
{
	/* Nothing to release: a dead reader's connection ends its snapshot. */
}

static long long
pgsql_unreachable_since(struct store *s)
{
	struct pg_store *ps = s->impl;
	return ps != NULL ? atomic_load(&ps->down_since) : 0;
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

/*
 * The lead lock lives as long as its connection: a node that dies or loses
 * the database gives it up, and another takes it at its next ask. Asked
 * only by the writer thread; a query each time, so a connection that died
 * quietly is found here and not trusted.
 */
static int
pgsql_lead(struct store *s)
{
	struct pg_store *ps = s->impl;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (ps->lead == NULL) {
			/* As the pool: not while backing off from a database
			 * that is down (each try could cost a connect timeout). */
			pthread_mutex_lock(&ps->mu);
			int may = may_connect(ps);
			pthread_mutex_unlock(&ps->mu);
			int rc = may ? conn_new(ps, &ps->lead) : STORE_E_UNAVAILABLE;
			if (rc != 0) {
				ps->lead = NULL;
				if (may && rc == STORE_E_UNAVAILABLE) {
					pthread_mutex_lock(&ps->mu);
					mark_down(ps);
					pthread_mutex_unlock(&ps->mu);
				}
				return 0;
			}
			mark_up(ps);
		}
		PGresult *res = PQexec(ps->lead->pc,
		    "SELECT pg_try_advisory_lock(" LEAD_LOCK ")");
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
			/* A second lock taken by the holder only counts up: one
			 * unlock would not free it, and nothing unlocks but the
			 * connection's end. */
			int held = PQgetvalue(res, 0, 0)[0] == 't';
			PQclear(res);
			return held;
		}
		PQclear(res);
		conn_free(ps->lead);
		ps->lead = NULL;
	}
	return 0;
}

const struct store_methods pgsql_methods = {
	.version = 4,
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
	.purge = pgsql_purge,
	.shared = 1,
	.lead = pgsql_lead,
	.unreachable_since = pgsql_unreachable_since,
};
