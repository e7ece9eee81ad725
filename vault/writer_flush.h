/*
 * writer_flush.h - the group commit's flushes (issue 19).
 *
 * A batch is acknowledged only when three things are durable: the store's
 * commit, the batch's audit entries, and its deletions (in the store's
 * tombstones; the deletion journal follows them). With LMDB the store's
 * commit log makes all of it durable in one flush: the batch's changes and
 * the trail's new entries ride in one record (store_txn_carry). With
 * PostgreSQL the writer writes the audit and journal entries (no flush),
 * wakes two flusher threads, one flushing the trail and one the journal,
 * and commits meanwhile; it replies when all three are done.
 *
 * Crash orders with the flusher threads (writer_flush.c has the full
 * reasoning; with LMDB's commit log, store_lmdb.c):
 *   - store durable, entries not: the writes were not acknowledged. A
 *     missing journal entry is added at start from the store's tombstone
 *     (journal_open); missing audit entries leave writes that the trail does
 *     not show, which is what a crash before the reply always allowed (the
 *     anchor stored with the batch is the trail's head before it, so the
 *     trail is not taken for cut).
 *   - entries durable, store not: the writes were not acknowledged and did
 *     not happen. The audit entries say "ok" for them (as a crash between
 *     the trail's write and the commit always could); journal entries the
 *     store lacks are cut off at start (journal_open), so no restore deletes
 *     a record whose deletion never happened, and no reused id is named.
 */
#ifndef VAULT_WRITER_FLUSH_H
#define VAULT_WRITER_FLUSH_H

#include <stddef.h>

struct audit;
struct journal;
struct journal_entry;
struct store;
struct store_txn;
struct writer_flush;

/* Start the flusher threads for trail a (may be NULL) and journal j. */
int writer_flush_start(struct writer_flush **out, struct audit *a, struct journal *j,
    struct store *s);
/* Stop it (NULL: nothing). */
void writer_flush_stop(struct writer_flush *f);

struct commit_result {
	int store;   /* the store's commit: 0 or a store error */
	int audit;   /* 0, or VAULT_E_AUDIT: the entries may not be durable */
	int journal; /* 0, or VAULT_E_IO: the journal lacks the deletions */
	unsigned long long flush_us; /* the store's commit, microseconds */
};

/*
 * Commit txn while the trail (everything written to it so far) and the
 * deletions del[0..ndel) are flushed on the flusher threads; return when
 * all are done. If the commit fails, the deletions are cut back out of the
 * journal.
 */
void writer_flush_commit(struct writer_flush *f, struct store_txn *txn,
    const struct journal_entry *del, size_t ndel, struct commit_result *out);

/* Flush the trail alone (after control operations): 0 or VAULT_E_AUDIT. */
int writer_flush_audit(struct writer_flush *f);

/*
 * When the writer is idle: flush the journal's kept entries and checkpoint
 * the store (store_checkpoint(): LMDB durable in itself, its commit log
 * emptied). 0 or a vault error (logged by the store).
 */
int writer_flush_checkpoint(struct writer_flush *f);

#endif
