/*
 * writer_flush.c - the group commit's flushes (see writer_flush.h).
 *
 * Two ways, by store:
 *   - LMDB (store_carries()): one flush. The store's commit log
 *     (vault/store/commitlog.h) takes the batch's changes and the trail's
 *     new bytes (audit_carry_take) in one record and one fdatasync; LMDB
 *     itself is flushed at checkpoints, off the replies' path. The journal's
 *     entries are written before the commit and flushed at the next idle
 *     checkpoint (journal_keep): a crash that loses them loses nothing,
 *     since journal_open() adds them back from the tombstones. Why this
 *     over the other ways BENCHMARKS.md weighed ("Flushes on a write's
 *     critical path"): this VM's disk runs flushes one at a time, so only
 *     fewer flushes, not concurrent ones, shorten a commit; LMDB alone
 *     needs two in a row (pages, then the meta page that points at them),
 *     and MDB_NOSYNC is safe only because the log's recovery never trusts
 *     the meta pages LMDB wrote after the last checkpoint (store_lmdb.c).
 *   - PostgreSQL: the trail's and the journal's flushes run on two threads
 *     of their own while the database commits, so a reply waits for the
 *     longest of the three, not their sum (the lanes below).
 *
 * Crash orders with the lanes (PostgreSQL). The trail: its entries are written (write(2)) before the
 * commit starts, as before; only their flush moved. Journal entries go to
 * the file before the commit and are flushed beside it:
 *   - journal durable, store not: the deletions did not happen and were not
 *     acknowledged. journal_open() cuts such entries off the journal's end
 *     (their ids have no tombstone and name a live record or an id not yet
 *     handed out), so a later restore does not delete a live record and a
 *     reused id is never named. A restore run before any start skips
 *     entries that name a live record without a tombstone (restore.c).
 *   - store durable, journal not: the deletions happened and were not
 *     acknowledged; journal_open() appends them from the tombstones (as
 *     before, when the journal was written after the commit).
 *   - the commit fails: journal_cancel() cuts the entries back, durably.
 */
#include <pthread.h>
#include <stdlib.h>

#include <vault/vault.h>

#include "audit.h"
#include "journal.h"
#include "metrics.h"
#include "store/store.h"
#include "writer_flush.h"

/*
 * One lane per file, each a thread that runs its flush on request: the
 * trail's and the journal's flushes run side by side too, so a delete's
 * side chain is one flush deep, like LMDB's is two.
 */
struct lane {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* a request, a result, stop */
	int (*flush)(void *);
	void *arg;
	int started, stop, busy, taken, rc;
};

struct writer_flush {
	struct audit *audit;
	struct journal *journal;
	struct store *store;
	struct lane trail, deletions;
};

static void *
lane_main(void *arg)
{
	struct lane *l = arg;
	pthread_mutex_lock(&l->lock);
	for (;;) {
		while (!l->stop && !l->busy)
			pthread_cond_wait(&l->cond, &l->lock);
		if (!l->busy)
			break;
		l->taken = 1;
		pthread_mutex_unlock(&l->lock);
		int rc = l->flush(l->arg);
		pthread_mutex_lock(&l->lock);
		l->rc = rc;
		l->busy = 0;
		l->taken = 0;
		pthread_cond_broadcast(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static int
lane_start(struct lane *l, int (*flush)(void *), void *arg)
{
	l->flush = flush;
	l->arg = arg;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	if (pthread_create(&l->thread, NULL, lane_main, l) != 0) {
		pthread_cond_destroy(&l->cond);
		pthread_mutex_destroy(&l->lock);
		return VAULT_E_NOMEM;
	}
	l->started = 1;
	return 0;
}

static void
lane_stop(struct lane *l)
{
	if (!l->started)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = 1;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	l->started = 0;
}

static void
lane_begin(struct lane *l)
{
	pthread_mutex_lock(&l->lock);
	l->busy = 1;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

/*
 * The request's result. If the lane's thread has not even started on it
 * (on a busy machine a woken thread can wait long for a CPU), the caller
 * takes the flush back and runs it itself rather than wait for that.
 */
static int
lane_wait(struct lane *l)
{
	pthread_mutex_lock(&l->lock);
	if (l->busy && !l->taken) {
		l->busy = 0;
		pthread_mutex_unlock(&l->lock);
		return l->flush(l->arg);
	}
	while (l->busy)
		pthread_cond_wait(&l->cond, &l->lock);
	int rc = l->rc;
	pthread_mutex_unlock(&l->lock);
	return rc;
}

static int
flush_trail(void *arg)
{
	return audit_flush(arg);
}

static int
flush_journal(void *arg)
{
	return journal_flush(arg);
}

int
writer_flush_start(struct writer_flush **out, struct audit *a, struct journal *j,
    struct store *s)
{
	struct writer_flush *f = calloc(1, sizeof(*f));
	*out = NULL;
	if (f == NULL)
		return VAULT_E_NOMEM;
	f->audit = a;
	f->journal = j;
	f->store = s;
	if ((a != NULL && lane_start(&f->trail, flush_trail, a) != 0) ||
	    lane_start(&f->deletions, flush_journal, j) != 0) {
		writer_flush_stop(f);
		return VAULT_E_NOMEM;
	}
	*out = f;
	return 0;
}

void
writer_flush_stop(struct writer_flush *f)
{
	if (f == NULL)
		return;
	lane_stop(&f->trail);
	lane_stop(&f->deletions);
	free(f);
}

/*
 * A store with a commit log: the trail's new bytes ride in the batch's
 * record, so the commit is the only flush; the journal's entries are kept
 * unflushed (journal_keep) and flushed at the next idle checkpoint.
 */
static void
commit_carried(struct writer_flush *f, struct store_txn *txn,
    const struct journal_entry *del, size_t ndel, struct commit_result *out)
{
	struct audit_carry c;
	int journal = 0, carried = 0, flush_trail = 0;
	if (ndel > 0) {
		if (journal_write(f->journal, del, ndel) == 0)
			journal = 1;
		else
			out->journal = VAULT_E_IO;
	}
	if (f->audit != NULL) {
		if (audit_carry_take(f->audit, &c) != 0)
			flush_trail = 1;
		else if (c.len > 0 && store_txn_carry(txn, c.path, c.dev, c.ino, c.off, c.bytes,
		    c.len) != 0) {
			audit_carry_done(f->audit, &c, 0);
			flush_trail = 1; /* too many files since the checkpoint: flush it */
		} else {
			carried = 1;
		}
	}
	if (flush_trail)
		lane_begin(&f->trail);
	uint64_t t0 = metrics_now_us();
	out->store = store_txn_commit(txn);
	out->flush_us = metrics_now_us() - t0;
	if (carried)
		audit_carry_done(f->audit, &c, out->store == 0);
	if (flush_trail)
		out->audit = lane_wait(&f->trail);
	if (journal) {
		if (out->store == 0)
			journal_keep(f->journal);
		else
			journal_cancel(f->journal); /* the deletions did not happen */
	}
}

void
writer_flush_commit(struct writer_flush *f, struct store_txn *txn,
    const struct journal_entry *del, size_t ndel, struct commit_result *out)
{
	int journal = 0, audit = f->trail.started;
	out->audit = out->journal = 0;
	if (store_carries(f->store)) {
		commit_carried(f, txn, del, ndel, out);
		return;
	}
	if (ndel > 0) {
		/* A write that fails leaves nothing (journal.h): the next start
		 * adds the deletions from the tombstones, as for a crash. */
		if (journal_write(f->journal, del, ndel) == 0)
			journal = 1;
		else
			out->journal = VAULT_E_IO;
	}
	if (audit)
		lane_begin(&f->trail);
	if (journal)
		lane_begin(&f->deletions);
	uint64_t t0 = metrics_now_us();
	out->store = store_txn_commit(txn);
	out->flush_us = metrics_now_us() - t0;
	if (audit)
		out->audit = lane_wait(&f->trail);
	if (journal && (out->journal = lane_wait(&f->deletions)) == 0 && out->store != 0)
		journal_cancel(f->journal); /* the deletions did not happen */
}

int
writer_flush_audit(struct writer_flush *f)
{
	return f != NULL && f->audit != NULL ? audit_flush(f->audit) : 0;
}

int
writer_flush_checkpoint(struct writer_flush *f)
{
	int jrc = journal_flush(f->journal);
	int src = store_checkpoint(f->store);
	return jrc != 0 ? jrc : src != 0 ? store_error(src) : 0;
}
