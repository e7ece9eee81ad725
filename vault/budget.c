/*
 * budget.c - buffered bytes per uid and in all, connection counts per uid,
 * and the reclaimer thread (see budget.h).
 *
 * Why a reclaimer: buffers carry personal data (requests, replies), so
 * they are wiped before they are freed (buf.h). Wiping and unmapping a
 * few MiB takes milliseconds; a client that closes hundreds of
 * connections holding unread replies used to make its worker spend
 * seconds on that while every other connection of the worker waited.
 * Large blocks are therefore queued (in O(1), the queue's node written
 * into the block itself, so queuing cannot fail) and wiped whole and freed
 * by one background thread. Their bytes stay charged until then, so the
 * budget bounds what is really held, queue included.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "budget.h"

/* Written over the first bytes of a queued block (wiped with it). */
struct reclaim_node {
	struct reclaim_node *next;
	size_t cap;
	struct uid_budget *uid;
};

void
budget_init(struct budget *b, size_t total, size_t per_uid)
{
	memset(b, 0, sizeof(*b));
	b->total = total;
	b->per_uid = per_uid;
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->qlock, NULL);
	pthread_cond_init(&b->qcond, NULL);
}

/* Drop a reference; the entry goes when nothing holds it. Lock held. */
static void
uid_put_locked(struct budget *b, struct uid_budget *u)
{
	if (--u->refs > 0)
		return;
	for (size_t i = 0; i < b->n; i++) {
		if (b->uids[i] == u) {
			b->uids[i] = b->uids[--b->n];
			break;
		}
	}
	atomic_store(&b->nuids, (unsigned)b->n);
	free(u);
}

static void
wipe_block(struct budget *b, uint8_t *data, size_t cap, struct uid_budget *u)
{
	sodium_memzero(data, cap);
	free(data);
	budget_charge(b, u, -(ptrdiff_t)cap);
}

static void *
reclaim_main(void *arg)
{
	struct budget *b = arg;
	pthread_mutex_lock(&b->qlock);
	for (;;) {
		while (b->head == NULL && !b->stop)
			pthread_cond_wait(&b->qcond, &b->qlock);
		struct reclaim_node *node = b->head;
		if (node == NULL)
			break; /* stopping, and everything is wiped */
		b->head = node->next;
		if (b->head == NULL)
			b->tail = NULL;
		pthread_mutex_unlock(&b->qlock);
		size_t cap = node->cap;
		struct uid_budget *u = node->uid;
		atomic_fetch_sub(&b->queued, cap);
		wipe_block(b, (uint8_t *)node, cap, u);
		pthread_mutex_lock(&b->lock);
		uid_put_locked(b, u);
		pthread_mutex_unlock(&b->lock);
		pthread_mutex_lock(&b->qlock);
	}
	pthread_mutex_unlock(&b->qlock);
	return NULL;
}

int
budget_start(struct budget *b)
{
	/*
	 * Blocks of BUDGET_RECLAIM_MIN and more come from their own mappings,
	 * which free() gives back to the system at once. glibc would otherwise
	 * raise this threshold after the first large free and serve later
	 * buffers from its heaps, which keep freed memory: the process would
	 * stay at its peak, well above what the budget counts.
	 */
	mallopt(M_MMAP_THRESHOLD, (int)BUDGET_RECLAIM_MIN);
	if (pthread_create(&b->thread, NULL, reclaim_main, b) != 0)
		return VAULT_E_NOMEM;
	b->running = 1;
	return 0;
}

void
budget_destroy(struct budget *b)
{
	if (b->running) {
		pthread_mutex_lock(&b->qlock);
		b->stop = 1;
		pthread_cond_signal(&b->qcond);
		pthread_mutex_unlock(&b->qlock);
		pthread_join(b->thread, NULL);
		b->running = 0;
	}
	for (size_t i = 0; i < b->n; i++)
		free(b->uids[i]);
	free(b->uids);
	b->uids = NULL;
	b->n = b->cap = 0;
	pthread_cond_destroy(&b->qcond);
	pthread_mutex_destroy(&b->qlock);
	pthread_mutex_destroy(&b->lock);
}

static struct uid_budget *
find_locked(struct budget *b, uid_t uid)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->uids[i]->uid == uid)
			return b->uids[i];
	return NULL;
}

int
budget_conn_open(struct budget *b, uid_t uid, unsigned max_conns_per_uid)
{
	int rc = VAULT_E_BUSY;
	pthread_mutex_lock(&b->lock);
	struct uid_budget *u = find_locked(b, uid);
	if (u == NULL) {
		rc = VAULT_E_NOMEM;
		if (b->n == b->cap) {
			size_t cap = b->cap ? b->cap * 2 : 16;
			struct uid_budget **p = realloc(b->uids, cap * sizeof(*p));
			if (p == NULL)
				goto out;
			b->uids = p;
			b->cap = cap;
		}
		if ((u = calloc(1, sizeof(*u))) == NULL)
			goto out;
		u->uid = uid;
		b->uids[b->n++] = u;
		atomic_store(&b->nuids, (unsigned)b->n);
		rc = VAULT_E_BUSY;
	} else if (u->conns >= max_conns_per_uid || budget_over(b, u)) {
		goto out;
	}
	u->conns++;
	u->refs++;
	rc = 0;
out:
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void
budget_conn_close(struct budget *b, uid_t uid)
{
	pthread_mutex_lock(&b->lock);
	struct uid_budget *u = find_locked(b, uid);
	if (u != NULL) {
		u->conns--;
		uid_put_locked(b, u);
	}
	pthread_mutex_unlock(&b->lock);
}

struct uid_budget *
budget_uid(struct budget *b, uid_t uid)
{
	pthread_mutex_lock(&b->lock);
	struct uid_budget *u = find_locked(b, uid);
	pthread_mutex_unlock(&b->lock);
	return u;
}

void
budget_charge(struct budget *b, struct uid_budget *u, ptrdiff_t delta)
{
	if (delta >= 0) {
		atomic_fetch_add(&u->bytes, (size_t)delta);
		atomic_fetch_add(&b->bytes, (size_t)delta);
	} else {
		atomic_fetch_sub(&u->bytes, (size_t)-delta);
		atomic_fetch_sub(&b->bytes, (size_t)-delta);
	}
}

int
budget_over(struct budget *b, const struct uid_budget *u)
{
	size_t mine = atomic_load(&u->bytes);
	if (mine >= b->per_uid)
		return 1;
	if (atomic_load(&b->bytes) < b->total)
		return 0;
	/* The server is full: only those above an equal share wait. */
	unsigned n = atomic_load(&b->nuids);
	return mine >= b->total / (n ? n : 1);
}

void
budget_reclaim(struct budget *b, struct uid_budget *u, struct buf *buf)
{
	uint8_t *data = buf->data;
	size_t cap = buf->cap;
	buf->data = NULL;
	buf->len = buf->cap = 0;
	buf->error = 0;
	if (data == NULL)
		return;
	if (!b->running || cap < sizeof(struct reclaim_node)) {
		wipe_block(b, data, cap, u);
		return;
	}
	pthread_mutex_lock(&b->lock);
	u->refs++; /* the entry outlives the connection until this is wiped */
	pthread_mutex_unlock(&b->lock);
	struct reclaim_node node = { NULL, cap, u };
	memcpy(data, &node, sizeof(node));
	atomic_fetch_add(&b->queued, cap);
	pthread_mutex_lock(&b->qlock);
	if (b->tail != NULL)
		b->tail->next = (struct reclaim_node *)(void *)data;
	else
		b->head = (struct reclaim_node *)(void *)data;
	b->tail = (struct reclaim_node *)(void *)data;
	pthread_cond_signal(&b->qcond);
	pthread_mutex_unlock(&b->qlock);
}
