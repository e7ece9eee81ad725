/*
 * store_pgsql_int.h - what the PostgreSQL backend's two files share:
 * store_pgsql.c (connections, schema, transactions) and store_pgsql_rows.c
 * (statements, reads, writes, cursors). Only for those two files.
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

/* The statements every table has (store_pgsql_rows.c), prepared per
 * connection when first run on it. */
enum stmt { S_GET, S_PUT, S_PUT_NEW, S_DEL, S_UPD, S_FIRST, S_AFTER, S_FROM, S_COUNT, S_N };

struct pg_conn {
	PGconn *pc;
	unsigned warnings;                 /* WARNING notices received (COMMIT checks) */
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
	/* Reachability (under mu but down_since): the last connect failed
	 * at down_since (Unix time, 0: reachable); no new connect is tried
	 * before retry_at (CLOCK_MONOTONIC), backoff_ms after the last. */
	_Atomic long long down_since;
	struct timespec retry_at;
	unsigned backoff_ms;
	unsigned stmt_timeout_ms;          /* set on each connection; 0: the server's */
	struct pg_conn *lead;              /* holds LEAD_LOCK (pgsql_lead), outside the pool */
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

extern const struct store_methods pgsql_methods;

/* store_pgsql.c */

/* Log a failure: at most a line a second; the message's first line only. */
void pgsql_log_failure(const char *what, const char *state, const char *msg);
/* The store result of a failed command (res may be NULL); logs failures. */
int pgsql_fail(PGconn *pc, const PGresult *res, const char *what);
/* Keep res until the transaction's root ends (frees it on failure). */
int pgsql_arena_keep(struct pg_txn *t, PGresult *res);

/* store_pgsql_rows.c */

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
