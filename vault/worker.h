/*
 * worker.h - worker threads (see worker.c).
 */
#ifndef VAULT_WORKER_H
#define VAULT_WORKER_H

#include <sys/types.h>

struct server;
struct worker;

struct worker *worker_create(struct server *srv);
int worker_start(struct worker *w);
/* Hand an accepted connection to w (takes the fd). */
int worker_add_conn(struct worker *w, int fd, uid_t uid, gid_t gid);
/* Wait for w to finish after srv->stopping was set. */
void worker_join(struct worker *w);
void worker_destroy(struct worker *w);
/*
 * Abort w's read transaction; it begins a new one on its next request.
 * Only with the env lock held for writing (the env is being replaced).
 */
void worker_drop_txn(struct worker *w);

#endif
