/*
 * budget.h - the memory the server buffers on clients' behalf: who holds
 * how much, who must wait, and the reclaimer that wipes and frees large
 * buffers away from the workers' loops.
 *
 * Every byte a connection's buffers hold (requests read, replies not yet
 * sent) is charged to its peer uid and to the whole server. A uid at
 * max_buffered_bytes_per_uid is paused (its connections are not read and
 * their buffered frames not handled) and refused new connections until it
 * drains; when all uids together reach max_buffered_bytes, the uids above
 * an equal share of it are paused and refused too. Nobody else waits: a
 * uid below its share is never paused for another's bytes.
 *
 * Connections are counted here as well (max_connections_per_uid), in one
 * table keyed by uid; an entry lives while the uid has a connection or a
 * buffer waiting for the reclaimer.
 */
#ifndef VAULT_BUDGET_H
#define VAULT_BUDGET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/buf.h"

/* Buffers at least this large are wiped and freed by the reclaimer. */
#define BUDGET_RECLAIM_MIN (256u << 10)

struct uid_budget {
	uid_t uid;
	unsigned conns;       /* open connections; under the table lock */
	unsigned refs;        /* conns + buffers queued; freed at 0; under the lock */
	atomic_size_t bytes;  /* buffered bytes charged to this uid */
	/* The one connection of this uid that may go on over budget to handle
	 * the input it holds (worker.c, conn_paused); NULL: none. */
	_Atomic(const void *) finisher;
};

struct reclaim_node;

struct budget {
	size_t total, per_uid;   /* max_buffered_bytes, max_buffered_bytes_per_uid */
	atomic_size_t bytes;     /* charged, all uids (reclaimer's queue included) */
	atomic_uint nuids;       /* uids in the table: the equal share's divisor */
	pthread_mutex_t lock;    /* the table */
	struct uid_budget **uids;
	size_t n, cap;
	/* The reclaimer: a thread and its queue. */
	pthread_t thread;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct reclaim_node *head, *tail;
	int running, stop;
	atomic_size_t queued;    /* bytes waiting to be wiped */
};

void budget_init(struct budget *b, size_t total, size_t per_uid);
/* Start the reclaimer. Without it budget_reclaim() wipes at once. */
int budget_start(struct budget *b);
/* Wipe what is queued, stop the reclaimer, free the table. */
void budget_destroy(struct budget *b);

/*
 * A new connection of uid: 0, or VAULT_E_BUSY if the uid holds
 * max_conns_per_uid connections or is over its budget (budget_over), or
 * VAULT_E_NOMEM. budget_conn_close() gives the place back.
 */
int budget_conn_open(struct budget *b, uid_t uid, unsigned max_conns_per_uid);
void budget_conn_close(struct budget *b, uid_t uid);
/* The entry of a uid with an open connection (counted by budget_conn_open). */
struct uid_budget *budget_uid(struct budget *b, uid_t uid);

/* Charge (delta > 0) or release (delta < 0) bytes held for u. */
void budget_charge(struct budget *b, struct uid_budget *u, ptrdiff_t delta);
/* 1 if u must wait: over its own budget, or above an equal share of a
 * server that is over its total. */
int budget_over(struct budget *b, const struct uid_budget *u);

/*
 * Hand buf's block (charged to u, buf->cap bytes) to the reclaimer, which
 * wipes it whole, frees it and then releases the charge. buf is left empty
 * (no allocation). Costs the caller O(1), never a wipe of the block.
 */
void budget_reclaim(struct budget *b, struct uid_budget *u, struct buf *buf);

#endif
