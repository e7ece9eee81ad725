/*
 * writer_flush.c - the group commit's side flushes (see writer_flush.h).
 *
 * Why concurrent flushes and not one of the other ways to one flush
 * (BENCHMARKS.md, "Flushes on a write's critical path", has the figures):
 *   - LMDB flushes twice per commit by design: the data pages, then the
 *     meta page that points at them. MDB_NOMETASYNC drops the second from
 *     the commit, but a commit that must be durable before its reply then
 *     needs mdb_env_sync(): still two fdatasyncs in a row (strace shows
 *     it). MDB_NOSYNC plus one mdb_env_sync() is one fdatasync, but the
 *     kernel may write the new meta page before the pages it points at, so
 *     a power loss can leave a corrupt file: not safe.
 *   - Holding batch N's replies until batch N+1's data flush (which also
 *     carries N's meta page under MDB_NOMETASYNC) halves the flushes per
 *     batch but not the latency a writer waits, and with few clients (the
 *     case that matters) there is no batch N+1.
 *   - An own append-only log as the only flush per commit, with LMDB synced
 *     at checkpoints, would need LMDB commits that are safe without their
 *     own flushes (they are not: see MDB_NOSYNC), a replay at start, and the
 *     erasure horizon to cover the log (it would hold wrapped data keys and
 *     keyed tags of deleted records until the next checkpoint). Not done.
 * So the store keeps its two flushes, and everything else a reply needs is
 * flushed beside them instead of after them.
 *
 * Crash orders. The trail: its entries are written (write(2)) before the
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

struct writer_flush {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;       /* a request, a result, stop */
	struct audit *audit;
	struct journal *journal;
	int stop;
	int want_audit, want_journal; /* the request; both 0 when done */
	int busy;
	int audit_rc, journal_rc;
};

static void *
flush_main(void *arg)
{
	struct writer_flush *f = arg;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->stop && !f->busy)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->stop && !f->busy)
			break;
		int wa = f->want_audit, wj = f->want_journal;
		pthread_mutex_unlock(&f->lock);
		/* The trail first: every write's reply needs it; deletions' also
		 * the journal. */
		int ar = wa ? audit_flush(f->audit) : 0;
		int jr = wj ? journal_flush(f->journal) : 0;
		pthread_mutex_lock(&f->lock);
		f->audit_rc = ar;
		f->journal_rc = jr;
		f->busy = 0;
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int
writer_flush_start(struct writer_flush **out, struct audit *a, struct journal *j)
{
	struct writer_flush *f = calloc(1, sizeof(*f));
	*out = NULL;
	if (f == NULL)
		return VAULT_E_NOMEM;
	f->audit = a;
	f->journal = j;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	if (pthread_create(&f->thread, NULL, flush_main, f) != 0) {
		pthread_cond_destroy(&f->cond);
		pthread_mutex_destroy(&f->lock);
		free(f);
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
	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static void
begin(struct writer_flush *f, int audit, int journal)
{
	pthread_mutex_lock(&f->lock);
	f->want_audit = audit;
	f->want_journal = journal;
	f->busy = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static void
wait_done(struct writer_flush *f, int *audit_rc, int *journal_rc)
{
	pthread_mutex_lock(&f->lock);
	while (f->busy)
		pthread_cond_wait(&f->cond, &f->lock);
	*audit_rc = f->audit_rc;
	*journal_rc = f->journal_rc;
	pthread_mutex_unlock(&f->lock);
}

void
writer_flush_commit(struct writer_flush *f, struct store_txn *txn,
    const struct journal_entry *del, size_t ndel, struct commit_result *out)
{
	int journal = 0;
	out->audit = out->journal = 0;
	if (ndel > 0) {
		/* A write that fails leaves nothing (journal.h): the next start
		 * adds the deletions from the tombstones, as for a crash. */
		if (journal_write(f->journal, del, ndel) == 0)
			journal = 1;
		else
			out->journal = VAULT_E_IO;
	}
	int audit = f->audit != NULL;
	if (audit || journal)
		begin(f, audit, journal);
	uint64_t t0 = metrics_now_us();
	out->store = store_txn_commit(txn);
	out->flush_us = metrics_now_us() - t0;
	if (audit || journal) {
		int ar, jr;
		wait_done(f, &ar, &jr);
		out->audit = ar;
		if (jr != 0)
			out->journal = jr;
	}
	if (out->store != 0 && journal && out->journal == 0)
		journal_cancel(f->journal); /* the deletions did not happen */
}

int
writer_flush_audit(struct writer_flush *f)
{
	return f != NULL && f->audit != NULL ? audit_flush(f->audit) : 0;
}
