/*
 * store_pgsql_int.h - what the PostgreSQL backend's files share:
 * store_pgsql.c (connections, schema, transactions), store_pgsql_rows.c
 * (statements, reads, writes, cursors) and store_pgsql_pipe.c (a
 * connection's pipeline: statements sent without waiting for their
 * answers). Only for those files.
 */
#ifndef VAULT_STORE_STORE_PGSQL_INT_H
#define VAULT_STORE_STORE_PGSQL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store.h"

/* At most this many statements unanswered on a connection: then the
 * answers are read (store_pgsql_pipe.c, deadlock). */
#define PIPE_MAX 128

/* The statements every table has (store_pgsql_rows.c), prepared per
 * connection when first run on it. */
enum stmt { S_GET, S_PUT, S_PUT_NEW, S_DEL, S_UPD, S_FIRST, S_AFTER, S_FROM, S_COUNT, S_PUTN,
	S_N };

/* What a statement in a connection's pipeline is, for its answer. */
enum pipe_kind {
	P_STMT,    /* only success or failure counts */
	P_PREPARE, /* a PREPARE: a failure leaves the prepared bits wrong */
	P_WANT,    /* the caller waits for this answer (a read, COMMIT) */
	P_SYNC,    /* a sync point: the server answers up to here */
};

/* A statement sent whose answer is not yet read. owner: the serial of
 * the transaction (or nested batch) whose failure it is; 0: no one's (a
 * finished transaction's COMMIT or ROLLBACK). */
struct pg_pending {
	uint32_t owner;
	uint8_t kind;
	uint8_t tb, stmt;          /* P_PREPARE: which statement it prepares */
	const char *what;          /* for the log: "statement", "begin", ... */
};

struct pg_conn {
	PGconn *pc;
	unsigned warnings;                 /* WARNING notices received (COMMIT checks) */
	struct pg_conn *next;              /* the idle list */
	unsigned sync_gen;                 /* the durability last applied */
	uint16_t prepared[STORE_NTABLES];  /* a bit per enum stmt */
	/* The pipeline (store_pgsql_pipe.c): in order, the statements sent
	 * and not yet answered; unsynced: how many of them since the last
	 * sync point. broken: the connection is lost or its state unknown;
	 * it is dropped when its transaction ends. */
	struct pg_pending *q;
	unsigned qhead, qn, qcap, unsynced;
	int broken;
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
	/* Reachability (under mu but down_since): the last connect failed
	 * at down_since (Unix time, 0: reachable); no new connect is tried
	 * before retry_at (CLOCK_MONOTONIC), backoff_ms after the last. */
	_Atomic long long down_since;
	struct timespec retry_at;
	unsigned backoff_ms;
	unsigned stmt_timeout_ms;          /* set on each connection; 0: the server's */
	struct pg_conn *lead;              /* holds LEAD_LOCK (pgsql_lead), outside the pool */
	_Atomic uint32_t serials;          /* the last transaction serial given */
};

struct pg_cursor;

/* Puts to one table held back to go as one multi-row INSERT
 * (store_pgsql_rows.c): a row is its key, then its value. */
struct pg_putrow {
	size_t klen, vlen;
	uint8_t data[];
};

struct pg_putbuf {
	uint32_t owner;            /* the (nested) transaction that put them */
	unsigned n, cap;
	size_t bytes;
	struct pg_putrow **rows;
};

/* Where a transaction is on the server. */
enum txn_state {
	TX_RESET,   /* a snapshot reset: no connection, nothing open */
	TX_PENDING, /* begun here, not yet on the server: a snapshot's BEGIN
	             * goes with its first statement, a nested batch's
	             * SAVEPOINT with its first statement */
	TX_OPEN,    /* BEGIN (or SAVEPOINT) sent */
	TX_DONE,    /* COMMIT answered: nothing left to end */
};

struct pg_txn {
	struct store_txn base;
	struct pg_store *ps;
	struct pg_txn *root;
	struct pg_txn *parent;     /* NULL at the root */
	struct pg_txn *inner;      /* root: the innermost open nested batch (or itself) */
	struct pg_conn *conn;      /* the root's; NULL while a snapshot is reset or pending */
	unsigned flags, depth;     /* depth: the savepoint's number, 0 at the root */
	enum txn_state state;
	uint32_t serial;           /* owner of its statements in the pipeline */
	int fresh;                 /* root: its connection was new (not from the pool) */
	int replayable;            /* root: only BEGIN and reads sent, none answered */
	unsigned replays;          /* root: how many times it moved to another connection */
	int failed;                /* the first failure: PostgreSQL aborted the (sub)transaction */
	unsigned write_gen;        /* root: raised by every write */
	PGresult **arena;          /* root: what returned values point into */
	size_t narena, arena_cap;
	struct pg_cursor *cursors; /* open cursors of this transaction */
	struct pg_putbuf *puts;    /* root: per table, NULL until the first put */
	unsigned nputs;            /* root: rows held in puts */
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

extern const struct store_methods pgsql_methods;

/* store_pgsql.c */

/* Log a failure: at most a line a second; the message's first line only. */
void pgsql_log_failure(const char *what, const char *state, const char *msg);
/* The store result of a failed command (res may be NULL); logs failures. */
int pgsql_fail(PGconn *pc, const PGresult *res, const char *what);
/* Keep res until the transaction's root ends (frees it on failure). */
int pgsql_arena_keep(struct pg_txn *t, PGresult *res);
/* Whether a SQLSTATE (NULL: libpq's own error) says the session is gone. */
int pgsql_lost(PGconn *pc, const char *state);
/*
 * Make t exist on the server before a statement of its own is sent: a
 * snapshot takes its connection and sends BEGIN, a nested batch sends its
 * SAVEPOINT (and its parents' if they are pending too). Nothing waits.
 */
int pgsql_txn_ready(struct pg_txn *t);
/* A write is about to be sent in t: the root can no longer be replayed. */
void pgsql_txn_wrote(struct pg_txn *t);
/*
 * Send a sync point and read every answer up to it, failing the
 * transactions whose statements failed. *want (may be NULL): the answer to
 * the one P_WANT statement sent since the last collect, whatever its
 * status; NULL if an earlier statement failed or the connection was lost
 * before it. Returns 0, the first failure before the P_WANT statement, or
 * PGSQL_RETRY: the connection broke before the root had done anything but
 * begin and read, and it is not new: the root has been moved to another
 * connection (pending again), and the caller sends its statement again.
 */
#define PGSQL_RETRY 100
int pgsql_txn_collect(struct pg_txn *t, PGresult **want);

/* store_pgsql_pipe.c */

/* A statement sent without waiting for its answer (text, no parameters). */
int pipe_sql(struct pg_conn *c, uint32_t owner, int want, const char *what, const char *sql);
/* PREPARE statement s of table tb; its bit in c->prepared is set now,
 * and cleared again if the server did not run it. */
int pipe_prepare(struct pg_conn *c, uint32_t owner, enum store_table tb, enum stmt s,
    const char *name, const char *sql, int n, const Oid *types);
/* A prepared statement with binary parameters and results; want: P_WANT. */
int pipe_exec(struct pg_conn *c, uint32_t owner, int want, const char *name, int n,
    const char *const *vals, const int *lens);
/* A sync point (sent at once): the server answers everything before it. */
int pipe_sync(struct pg_conn *c);
/* How a failure is reported: owner's statement failed with rc (a store
 * result); lost: the connection is gone (owner 0 then). */
typedef void pipe_fail_fn(void *arg, uint32_t owner, int rc, int lost);
/* Read every answer up to the last sync point sent (see pgsql_txn_collect). */
int pipe_collect(struct pg_conn *c, pipe_fail_fn *fail, void *arg, PGresult **want);
/* Whether the connection is known lost, reading what the server sent
 * meanwhile without waiting (a pooled connection before its reuse). */
int pipe_dead(struct pg_conn *c);
/* Read every answer owed, and leave pipeline mode (for PQexec). 0 or a failure. */
int pipe_leave(struct pg_conn *c);

/* store_pgsql_rows.c */

/* Send the puts held back (before any other statement of the root's
 * connection). 0 or the failure of sending. */
int pgsql_puts_flush(struct pg_txn *root);
/* Forget the puts held back for owner (0: all of them; and free). */
void pgsql_puts_drop(struct pg_txn *root, uint32_t owner);

/* Statement s's SQL for the table called name (malloc'd; NULL: no memory). */
char *pgsql_stmt_sql(enum stmt s, const char *name);
int pgsql_get(struct store_txn *txn, enum store_table tb, const struct store_val *key,
    struct store_val *val);
int pgsql_put(struct store_txn *txn, enum store_table tb, const struct store_val *key,
    const struct store_val *val, unsigned flags);
int pgsql_del(struct store_txn *txn, enum store_table tb, const struct store_val *key);
int pgsql_count(struct store_txn *txn, enum store_table tb, uint64_t *entries);
int pgsql_cursor_open(struct store_txn *txn, enum store_table tb, struct store_cursor **out);
int pgsql_cursor_get(struct store_cursor *cur, struct store_val *key, struct store_val *val,
    enum store_cursor_op op);
int pgsql_cursor_put(struct store_cursor *cur, const struct store_val *val);
int pgsql_cursor_del(struct store_cursor *cur);
void pgsql_cursor_close(struct store_cursor *cur);

#endif
