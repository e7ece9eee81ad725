/*
 * server.h - the running service: shared state, workers and the writer.
 *
 * Threads: the main thread accepts connections and handles signals; each
 * of N workers owns a set of connections with its own epoll loop, decodes
 * requests, runs read operations against LMDB itself (reads run in
 * parallel, never blocked by the writer) and prepares write operations;
 * one writer thread applies queued writes from all workers in one LMDB
 * transaction per batch (group commit) and hands each reply back to its
 * worker only after the commit returned, i.e. when the write is durable.
 *
 * The server is the top layer (vault/README.md): it hands operations its
 * services (svc, services.h), never itself.
 */
#ifndef VAULT_SERVER_H
#define VAULT_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/buf.h"
#include "alert.h"
#include "audit.h"
#include "budget.h"
#include "config.h"
#include "journal.h"
#include "policy.h"
#include "rotation.h"
#include "services.h"
#include "store/store.h"

struct key_set;
struct worker;
struct conn;
struct op;
struct op_trace;

/* A write operation on its way from a worker through the writer and back. */
struct write_op {
	struct write_op *next;
	const struct op *op;
	const struct op *counted_as; /* metrics' row and audit name if not op's
	                              * (a read that became a write) */
	struct worker *worker;
	struct conn *conn;
	uint64_t request_id;
	void *state;         /* the operation's prepared arguments */
	size_t cost;         /* request bytes, counted in writer.queued_bytes */
	const struct policy_client *client; /* for the audit entry */
	const struct policy *policy; /* a reference: keeps client alive */
	uid_t uid;
	enum vault_purpose purpose;
	struct buf reply;    /* one complete reply frame, filled by the writer */
	int outcome;         /* its code (0: success), for metrics.h */
};

struct writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct write_op *head, *tail;
	int stop;
	atomic_size_t queued_bytes; /* request bytes of writes not yet answered */
	atomic_int keys_arrived; /* set by unseal, taken by the writer */
	uint64_t next_id;    /* next record id; writer thread only */
	uint64_t commits, ops; /* counters, writer thread only */
	struct audit_batch *audit; /* a group commit's entries; NULL: no trail */
	struct writer_flush *flush; /* flushes beside the commit (writer_flush.h) */
};

struct server {
	/* What the layers below the server use (services.h); svc.control is
	 * &server_control. */
	struct vault_services svc;
	struct writer writer;
	struct worker **workers;
	unsigned nworkers;
	int listen_fd;
	atomic_int stopping;
	atomic_uint connections;
	struct budget budget;       /* buffered bytes and connections per uid (budget.h) */
};

/* The server that owns svc (every vault_services lives in a struct server). */
static inline struct server *
server_of(struct vault_services *svc)
{
	return (struct server *)((char *)svc - offsetof(struct server, svc));
}

/* The server's side of the operations that make it act (services.h). */
extern const struct vault_control server_control;

/*
 * Count a connection of uid against max_connections,
 * max_connections_per_uid and the uid's memory budget (budget.h): returns
 * 0 if it may stay, VAULT_E_BUSY if a limit is reached.
 * server_conn_closed() gives the place back.
 */
int server_conn_opened(struct server *srv, uid_t uid);
void server_conn_closed(struct server *srv, uid_t uid);

/* Start workers and writer; serve until SIGTERM or SIGINT (SIGHUP reloads
 * the policy: reload.h); stop cleanly. */
int server_run(struct server *srv);
/*
 * Is the socket path's directory vaultd's alone (server.c)? Logs each
 * problem; with create, a missing one is made. 0 or VAULT_E_CONFIG.
 */
int server_check_socket_dir(const char *path, int create);

/* Queue a prepared write (called by workers). */
void writer_submit(struct writer *w, struct write_op *op);
int writer_start(struct server *srv);
/* Keys were just unsealed: let the writer resume an unfinished rotation. */
void writer_keys_arrived(struct server *srv);
void writer_stop(struct server *srv);

/* Hand a finished write back to its worker (called by the writer). */
void worker_complete(struct worker *w, struct write_op *op);
void worker_wake(struct worker *w);

void write_op_free(struct write_op *op);

#endif
