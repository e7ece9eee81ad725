/*
 * writer.c - the single writer and its group commit.
 *
 * Workers queue prepared writes; the writer takes everything queued (up to
 * group_commit_max), applies it in one LMDB transaction and commits: one
 * pair of fsyncs for the whole batch instead of one per write. While it
 * commits, new writes queue up and form the next batch, so batches grow
 * with load by themselves. Replies go back to the workers only after the
 * commit returned: an acknowledged write is durable.
 *
 * Each operation runs in a nested transaction, so one that fails (a full
 * map, damaged data, a limit found late) leaves nothing behind and the
 * others in the batch still succeed. If the commit itself fails, every
 * operation of the batch gets the error and nothing of it is stored.
 *
 * Consecutive creates, updates and deletes share one nested transaction
 * (apply_run): in LMDB a nested transaction copies again every page it
 * writes that its parent already holds dirty (B-tree roots and branches,
 * the last leaf of the records), so one per write cost a page copy per
 * tree per write. If a write of the run fails, the run is undone and
 * applied again around it (apply_run): the outcome is the same as without
 * sharing.
 *
 * A reply also waits for the batch's audit entries and deletion journal
 * entries to be durable; they are flushed on a thread of their own while
 * the store commits (writer_flush.h, which says why this and not one of
 * the other ways to fewer flushes), so a reply waits for the longer of the
 * two chains, not their sum.
 *
 * Each batch also stores the audit trail's durable head in its transaction
 * (save_anchor): the data then says how far the trail reached, and a trail
 * cut back to before it is found at start (audit.h, the anchor).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/clock.h"
#include "common/msg.h"
#include "crypto/seal.h"
#include "ops/op.h"
#include "privacy/sweep.h"
#include "log.h"
#include "reply.h"
#include "keyset.h"
#include "metrics.h"
#include "ring_shared.h"
#include "server.h"
#include "writer_flush.h"

void
write_op_free(struct write_op *op)
{
	if (op == NULL)
		return;
	if (op->state != NULL)
		op->op->free_state(op->state);
	buf_free(&op->reply);
	policy_unref(op->policy);
	free(op);
}

void
writer_submit(struct writer *w, struct write_op *op)
{
	op->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = op;
	else
		w->head = op;
	w->tail = op;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void
wipe_scratch(struct write_ctx *ctx)
{
	sodium_memzero(ctx->dek, DEK_BYTES);
	buf_clear(&ctx->ct);
	buf_clear(&ctx->enc);
	buf_clear(&ctx->copy);
	buf_clear(&ctx->doc);
}

/*
 * Apply one op in a nested transaction: if it fails at any point, even
 * after some of its writes, only its own changes are dropped and the rest
 * of the batch goes on.
 */
static void
apply_one(struct write_ctx *ctx, struct write_op *op)
{
	struct op_error err = { 0 };
	msgpack_packer pk;
	struct store_txn *parent = ctx->txn, *child;
	uint64_t next_id = *ctx->next_id;
	size_t ndeleted = ctx->ndeleted;
	buf_clear(&op->reply);
	size_t start = reply_begin(&op->reply, &pk, op->request_id);
	int rc = store_txn_begin(&ctx->svc->store, parent, 0, &child);
	ctx->trace.nrecords = 0;
	ctx->trace.fields = 0;
	if (rc != 0) {
		op_fail(&err, store_error(rc), NULL, NULL);
		rc = err.code;
	} else {
		ctx->txn = child;
		rc = op->op->apply(ctx, op->state, &pk, &err);
		ctx->txn = parent;
		/*
		 * The entry joins the batch's (process() writes them before the
		 * batch is kept): if it cannot even be built the change is
		 * dropped (fail closed). Should the batch commit fail later,
		 * fail_all adds an entry saying so.
		 */
		size_t entries = audit_batch_count(ctx->audit);
		const char *name = (op->counted_as ? op->counted_as : op->op)->name;
		if (!op->op->unaudited && services_audit(ctx->svc, ctx->audit, ctx->keys, op->client,
		    op->uid, op->purpose, name, &ctx->trace, rc ? err.code : 0) != 0)
			rc = op_fail(&err, VAULT_E_AUDIT, NULL,
			    audit_refusal(ctx->svc->audit, 1));
		if (rc == 0 && (rc = store_txn_commit(child)) != 0) {
			log_warn("a write was not stored: %s", store_strerror(rc));
			rc = op_fail(&err, store_error(rc), NULL, NULL);
			/* A store may report a write's failure only when its nested
			 * batch commits (PostgreSQL's held-back puts): the entry
			 * says what happened, not "ok". */
			if (!op->op->unaudited) {
				audit_batch_truncate(ctx->audit, entries);
				(void)services_audit(ctx->svc, ctx->audit, ctx->keys, op->client,
				    op->uid, op->purpose, name, &ctx->trace, err.code);
			}
		}
		else if (rc != 0)
			store_txn_abort(child);
	}
	wipe_scratch(ctx);
	op->outcome = rc ? err.code : 0;
	if (rc != 0) {
		*ctx->next_id = next_id;
		ctx->ndeleted = ndeleted;
		reply_abandon(&op->reply, start);
		reply_error(&op->reply, op->request_id, &err);
		return;
	}
	reply_end(&op->reply, start, op->request_id, ctx->svc->cfg.max_frame_bytes);
}

/*
 * Apply op in the current transaction, with no nested transaction of its
 * own; on error nothing is undone here (apply_run undoes the whole run).
 */
static int
apply_shared(struct write_ctx *ctx, struct write_op *op)
{
	struct op_error err = { 0 };
	msgpack_packer pk;
	buf_clear(&op->reply);
	size_t start = reply_begin(&op->reply, &pk, op->request_id);
	ctx->trace.nrecords = 0;
	ctx->trace.fields = 0;
	int rc = op->op->apply(ctx, op->state, &pk, &err);
	if (rc == 0)
		rc = services_audit(ctx->svc, ctx->audit, ctx->keys, op->client, op->uid,
		    op->purpose, op->op->name, &ctx->trace, 0);
	wipe_scratch(ctx);
	if (rc != 0) {
		reply_abandon(&op->reply, start);
		return rc;
	}
	reply_end(&op->reply, start, op->request_id, ctx->svc->cfg.max_frame_bytes);
	return 0;
}

/*
 * ops[0..n), all shares_txn, in one nested transaction (see the top). When
 * ops[i] fails, the run is undone; ops[0..i) are applied again as a run
 * (they succeeded once), ops[i] alone (it fails again, now with its own
 * error reply and audit entry), and the rest as the next run. A run in
 * which nothing fails is applied once; the test a_failing_write_among_
 * queued_writes_fails_alone (e2e protocol) goes through the rest.
 */
static void
apply_run(struct write_ctx *ctx, struct write_op **ops, size_t n)
{
	while (n > 1) {
		struct store_txn *parent = ctx->txn, *child;
		uint64_t next_id = *ctx->next_id;
		size_t ndeleted = ctx->ndeleted, entries = audit_batch_count(ctx->audit), i = 0;

		if (store_txn_begin(&ctx->svc->store, parent, 0, &child) != 0)
			break; /* each on its own, below */
		ctx->txn = child;
		while (i < n && apply_shared(ctx, ops[i]) == 0)
			i++;
		ctx->txn = parent;
		if (i == n && store_txn_commit(child) == 0)
			return;
		if (i < n)
			store_txn_abort(child);
		*ctx->next_id = next_id;
		ctx->ndeleted = ndeleted;
		audit_batch_truncate(ctx->audit, entries);
		if (i == n)
			break; /* the run's commit failed: each on its own */
		apply_run(ctx, ops, i);
		apply_one(ctx, ops[i]);
		ops += i + 1;
		n -= i + 1;
	}
	for (size_t i = 0; i < n; i++)
		apply_one(ctx, ops[i]);
}

static int
save_next_id(struct write_ctx *ctx)
{
	uint8_t v[8];
	store_put_id(v, *ctx->next_id);
	struct store_val k = { 7, "next_id" }, val = { 8, v };
	return store_put(ctx->txn, STORE_META, &k, &val, 0);
}

/*
 * The trail's durable head (audit.h, the anchor) into the batch's
 * transaction, if it moved: at start a trail that lacks it was cut. Not
 * this batch's own entries, which are written but not yet on disk: a power
 * loss would then look like a cut trail. *seq: what was stored (0: none).
 */
static int
save_anchor(struct write_ctx *ctx, uint64_t *seq)
{
	uint8_t mac[AUDIT_MAC_BYTES];
	audit_durable_head(ctx->svc->audit, seq, mac);
	if (*seq <= ctx->anchored) {
		*seq = 0;
		return 0;
	}
	return store_audit_anchor_put(ctx->txn,
	    store_anchor_node(&ctx->svc->store, ctx->svc->cfg.node_name), *seq, mac);
}

static void
fail_all(struct server *srv, const struct key_set *keys, struct write_op **ops,
    size_t n, int code)
{
	for (size_t i = 0; i < n; i++) {
		/* Best effort: the requests fail either way. */
		(void)services_audit(&srv->svc, NULL, keys, ops[i]->client, ops[i]->uid, ops[i]->purpose,
		    ops[i]->op->name, NULL, code);
		buf_clear(&ops[i]->reply);
		ops[i]->outcome = code;
		reply_error_code(&ops[i]->reply, ops[i]->request_id, code, NULL,
		    code == VAULT_E_AUDIT ? audit_refusal(srv->svc.audit, 1) :
		    code == VAULT_E_UNCERTAIN ? "the connection to the database was lost while "
		    "the write was committed: it may have been stored; read it back before retrying" :
		    code == VAULT_E_UNAVAILABLE ? "the database cannot be reached: the write was "
		    "not stored; retry later" : "the write was not stored");
	}
}

/*
 * The writes were stored but their audit entries may not be on disk (the
 * trail's flush failed, and it now refuses entries): not acknowledged as
 * done, since the reply may only say "ok" with the entry durable.
 */
static void
fail_unaudited(struct write_op **ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ops[i]->outcome != 0)
			continue;
		buf_clear(&ops[i]->reply);
		ops[i]->outcome = VAULT_E_AUDIT;
		reply_error_code(&ops[i]->reply, ops[i]->request_id, VAULT_E_AUDIT, NULL,
		    "the write may have been stored, but its audit entry could not be "
		    "made durable; the audit trail accepts no further entries");
	}
}

/* Run a control op alone, outside any batch. */
static void
run_control(struct write_ctx *ctx, struct write_op *op)
{
	struct op_error err = { 0 };
	msgpack_packer pk;
	buf_clear(&op->reply);
	ctx->now = time(NULL);
	size_t start = reply_begin(&op->reply, &pk, op->request_id);
	ctx->trace.nrecords = 0;
	ctx->trace.fields = 0;
	int rc = op->op->control(ctx, op->state, &pk, &err);
	wipe_scratch(ctx);
	if (services_audit(ctx->svc, NULL, ctx->keys, op->client, op->uid,
	    op->purpose, op->op->name, &ctx->trace, rc ? err.code : 0) != 0 && rc == 0)
		/* The operation took effect: not "nothing was changed". */
		rc = op_fail(&err, VAULT_E_AUDIT, NULL,
		    audit_space(ctx->svc->audit) == AUDIT_SPACE_FULL ?
		    "the audit trail's file system is full" : "the audit trail cannot be written");
	op->outcome = rc ? err.code : 0;
	if (rc != 0) {
		reply_abandon(&op->reply, start);
		reply_error(&op->reply, op->request_id, &err);
		return;
	}
	reply_end(&op->reply, start, op->request_id, ctx->svc->cfg.max_frame_bytes);
}

/* Run ops[0..n) in one transaction and commit it. */
static void
process(struct write_ctx *ctx, struct write_op **ops, size_t n)
{
	struct server *srv = server_of(ctx->svc);
	uint64_t first_id = *ctx->next_id;
	if (ctx->keys == NULL) {
		fail_all(srv, NULL, ops, n, VAULT_E_SEALED);
		return;
	}
	pthread_rwlock_rdlock(&srv->svc.env_lock);
	ctx->ndeleted = 0;
	int audit_failed = 0;
	struct commit_result done = { 0 };
	uint64_t audit_seq = 0, t0 = metrics_now_us();
	int rc = store_txn_begin(&srv->svc.store, NULL, 0, &ctx->txn);
	/*
	 * Another node may have created records since our last batch: the
	 * batch holds the store's write lock now (store_shared()), so what
	 * meta says is the latest and stays so until the commit. The other
	 * counters (next_request, next_hold) are read in the batch anyway.
	 */
	if (rc == 0 && store_shared(&srv->svc.store)) {
		int e = store_next_id(ctx->txn, ctx->next_id);
		if (e != 0) {
			store_txn_abort(ctx->txn);
			ctx->txn = NULL;
			/* A database gone meanwhile stays retryable. */
			rc = e == VAULT_E_UNAVAILABLE ? STORE_E_UNAVAILABLE : STORE_E_FAILED;
		}
		first_id = *ctx->next_id;
		/* Under the same lock: the ring another node's rotation made. */
		if (rc == 0 && (e = ring_shared_batch(ctx)) != 0) {
			store_txn_abort(ctx->txn);
			ctx->txn = NULL;
			rc = e == VAULT_E_UNAVAILABLE ? STORE_E_UNAVAILABLE : STORE_E_FAILED;
		}
	}
	if (rc == 0) {
		ctx->now = time(NULL);
		for (size_t i = 0, j; i < n; i = j) {
			for (j = i + 1; ops[i]->op->shares_txn && j < n &&
			    ops[j]->op->shares_txn; j++)
				;
			if (j - i > 1)
				apply_run(ctx, ops + i, j - i);
			else
				apply_one(ctx, ops[i]);
		}
		if (*ctx->next_id != first_id && (rc = save_next_id(ctx)) != 0) {
			store_txn_abort(ctx->txn);
		} else if (audit_batch_commit(srv->svc.audit, ctx->audit) != 0) {
			/* The batch's entries go to the trail in one write before
			 * anything is kept: without them nothing is (fail closed). */
			store_txn_abort(ctx->txn);
			audit_failed = 1;
		} else if ((rc = save_anchor(ctx, &audit_seq)) != 0) {
			store_txn_abort(ctx->txn);
		} else {
			/* The entries and deletions are flushed beside the commit
			 * (writer_flush.h): the reply waits for all three. */
			writer_flush_commit(srv->writer.flush, ctx->txn, ctx->deleted,
			    ctx->ndeleted, &done);
			rc = done.store;
			metrics_observe(METRICS_FLUSH_US, done.flush_us);
			if (rc == 0 && audit_seq != 0)
				ctx->anchored = audit_seq;
		}
		ctx->txn = NULL;
		metrics_observe(METRICS_COMMIT_US, metrics_now_us() - t0);
	}
	pthread_rwlock_unlock(&srv->svc.env_lock);
	audit_batch_clear(ctx->audit); /* what a failed batch left */
	if (audit_disk_full_news(srv->svc.audit))
		alert_raise(&srv->svc, ctx->keys, ALERT_DISK_FULL, NULL, 0);
	if (audit_failed) {
		/* A full file system was said once (audit.c): not per batch. */
		if (audit_space(srv->svc.audit) != AUDIT_SPACE_FULL)
			log_error("audit trail: the entries of %zu writes could not be "
			    "written; none of them was stored", n);
		*ctx->next_id = first_id;
		fail_all(srv, ctx->keys, ops, n, VAULT_E_AUDIT);
	} else if (rc != 0) {
		/* Nothing of the batch is stored: ids may be handed out again;
		 * unless it may be (a lost connection at commit): then never. */
		log_warn("a batch of %zu writes was not stored: %s", n, store_strerror(rc));
		if (rc != STORE_E_UNCERTAIN)
			*ctx->next_id = first_id;
		int code = store_error(rc); /* a full disk: STORE_E_DISK_FULL (store_lmdb.c) */
		/* A full disk (not map): the trail's reserve, if on the same file
		 * system, makes room for the next batch (deletions need pages). */
		if (code == VAULT_E_NO_SPACE && rc != STORE_E_FULL && rc != STORE_E_FULL &&
		    audit_release_reserve_for(srv->svc.audit, srv->svc.cfg.data_dir))
			log_warn("the data directory's file system is full: the audit trail's "
			    "space reserve was released for it");
		fail_all(srv, ctx->keys, ops, n, code);
	} else {
		if (done.audit != 0)
			fail_unaudited(ops, n);
		if (ctx->ndeleted > 0) {
			/* Deletions free pages: a rotation stalled on a full map may go on. */
			rotation_nudge(srv);
			if (done.journal != 0)
				/* Committed all the same; what the append wrote was cut
				 * back (journal.h) and the next start fills it in from
				 * the tombstones. */
				log_error("deletion journal: cannot append %zu entries (disk full?); "
				    "the next start adds them from the store's tombstones",
				    ctx->ndeleted);
		}
	}
	ctx->ndeleted = 0;
	metrics_observe(METRICS_BATCH, n);
	srv->writer.commits++;
	srv->writer.ops += n;
}

/*
 * Seconds to sleep when idle: 1 while a rotation is scheduled (its tick
 * checks the time), else until the earliest hold expiry (at most an hour,
 * so a clock change is noticed).
 */
static time_t
hold_wait(struct server *srv, struct writer *w, time_t now)
{
	uint64_t due = atomic_load(&srv->svc.hold_expiry);
	/* Shared: the key ring's generation and the lead lock, once a second. */
	if (atomic_load(&srv->svc.rotation.next_due) != 0 || srv->svc.rotation.scheduled || due == 0 ||
	    store_shared(&srv->svc.store))
		return 1;
	if (due <= (uint64_t)now + 1)
		return 1;
	return due - (uint64_t)now > 3600 ? 3600 : (time_t)(due - (uint64_t)now);
}

static int
writer_idle(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	int idle = w->head == NULL;
	pthread_mutex_unlock(&w->lock);
	return idle;
}

static void *
writer_main(void *arg)
{
	struct server *srv = arg;
	struct writer *w = &srv->writer;
	struct write_ctx ctx = { 0 };
	size_t cap = srv->svc.cfg.group_commit_max;
	time_t last_reader_check = 0;
	struct write_op **ops = calloc(cap, sizeof(*ops));
	struct write_op **ctl = calloc(cap, sizeof(*ctl));

	ctx.svc = &srv->svc;
	ctx.audit = w->audit;
	ctx.next_id = &w->next_id;
	ctx.dek = sodium_malloc(DEK_BYTES);
	ctx.dek2 = sodium_malloc(DEK_BYTES);
	if (ops == NULL || ctl == NULL || ctx.dek == NULL || ctx.dek2 == NULL)
		abort(); /* checked at start: writer_start allocates nothing else */

	int rotating = atomic_load(&srv->svc.rotation.target) != 0;
	/* When an idle writer checkpoints the store (commitlog.h): a second
	 * after the first commit since the last one, realtime ms; 0: none due. */
	long long checkpoint_due = 0;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		/*
		 * Idle: sleep, but wake for the schedule; rotating: never wait,
		 * unless the rotation is stalled: then until its next try.
		 */
		long long stall_ms = 0;
		while (w->head == NULL && !w->stop &&
		    (!rotating || (stall_ms = rotation_wait_ms(srv)) > 0) &&
		    !atomic_load(&w->keys_arrived)) {
			if (!rotating && atomic_load(&srv->svc.rotation.next_due) == 0 &&
			    !srv->svc.rotation.scheduled && atomic_load(&srv->svc.hold_expiry) == 0 &&
			    !store_shared(&srv->svc.store)) {
				if (checkpoint_due == 0) {
					pthread_cond_wait(&w->cond, &w->lock);
					continue;
				}
				struct timespec ts = { checkpoint_due / 1000,
					(checkpoint_due % 1000) * 1000000L };
				if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0)
					break;
			} else {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				long long ms = (long long)hold_wait(srv, w, ts.tv_sec) * 1000;
				if (rotating && stall_ms < ms)
					ms = stall_ms;
				ts.tv_sec += ms / 1000;
				ts.tv_nsec += (ms % 1000) * 1000000L;
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0)
					break;
			}
		}
		if (w->head == NULL && w->stop) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		size_t n = 0, nc = 0;
		while (w->head != NULL && n + nc < cap) {
			struct write_op *op = w->head;
			w->head = op->next;
			/* Control ops go last, each on its own. */
			if (op->op->kind == OP_CONTROL)
				ctl[nc++] = op;
			else
				ops[n++] = op;
		}
		if (w->head == NULL)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);

		/*
		 * One pin for the whole round (keyset.h): batches, control ops,
		 * the rotation and the sweep all use ctx.keys. A rotation's
		 * publish moves the pin to the set it makes current. Pinned
		 * before keys_arrived is taken: unseal installs the set first.
		 */
		ctx.keys = key_set_acquire(&srv->svc);
		if (atomic_exchange(&w->keys_arrived, 0))
			rotation_resume(srv);
		if (n > 0)
			process(&ctx, ops, n);
		for (size_t i = 0; i < nc; i++)
			run_control(&ctx, ctl[i]);
		/* Their entries too are durable before the replies. */
		if (nc > 0 && writer_flush_audit(w->flush) != 0)
			fail_unaudited(ctl, nc);
		for (size_t i = 0; i < nc; i++)
			ops[n++] = ctl[i];
		/* Hand replies back first: they are durable, and the rewrap step
		 * below must not hold them. Wake each worker once per batch. */
		for (size_t i = 0; i < n; i++) {
			if (ops[i]->state != NULL) {
				ops[i]->op->free_state(ops[i]->state);
				ops[i]->state = NULL;
			}
			atomic_fetch_sub(&w->queued_bytes, ops[i]->cost);
			metrics_request(op_table_index(ops[i]->counted_as ? ops[i]->counted_as :
			    ops[i]->op), ops[i]->outcome);
			worker_complete(ops[i]->worker, ops[i]);
		}
		if (n > 0)
			for (unsigned i = 0; i < srv->nworkers; i++)
				worker_wake(srv->workers[i]);

		ctx.now = time(NULL);
		/* On a shared store one node runs these (ring_shared.h). */
		int lead = ring_shared_round(&ctx);
		if (lead) {
			rotation_step(&ctx, &rotating);
			rotation_tick(&ctx);
			privacy_sweep(&ctx);
		}
		/* A rewrap waiting for other nodes waits as an idle writer does. */
		rotating = lead && atomic_load(&srv->svc.rotation.target) != 0 &&
		    ring_shared_rewrap_ok(srv);
		/*
		 * A process that died inside a read transaction (a backup tool,
		 * mdb_stat) leaves a reader slot that pins old pages, and the
		 * file would grow without bound: clear such slots now and then.
		 */
		if (ctx.now - last_reader_check >= 5) {
			store_reader_check(&srv->svc.store);
			last_reader_check = ctx.now;
		}
		/* Checkpoint when idle: off every reply's path. */
		long long now_ms = clock_ms(CLOCK_REALTIME);
		if (n > 0 && checkpoint_due == 0 && store_carries(&srv->svc.store))
			checkpoint_due = now_ms + 1000;
		if (checkpoint_due != 0 && now_ms >= checkpoint_due && writer_idle(w)) {
			(void)writer_flush_checkpoint(w->flush);
			checkpoint_due = 0;
		}
		key_set_release();
		ctx.keys = NULL;
	}
	/* A clean stop leaves nothing for the next start to apply. */
	(void)writer_flush_checkpoint(w->flush);
	wipe_scratch(&ctx);
	buf_free(&ctx.ct);
	buf_free(&ctx.enc);
	buf_free(&ctx.copy);
	buf_free(&ctx.doc);
	sodium_free(ctx.dek);
	sodium_free(ctx.dek2);
	free(ctx.deleted);
	free(ctx.trace.records);
	free(ops);
	free(ctl);
	return NULL;
}

void
writer_keys_arrived(struct server *srv)
{
	struct writer *w = &srv->writer;
	atomic_store(&w->keys_arrived, 1);
	pthread_mutex_lock(&w->lock);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int
writer_start(struct server *srv)
{
	struct writer *w = &srv->writer;
	struct store_txn *txn;
	int rc = store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn);
	if (rc != 0)
		return store_error(rc);
	rc = store_next_id(txn, &w->next_id);
	store_txn_abort(txn);
	if (rc != 0)
		return rc;
	/*
	 * Before any worker can answer: a keys_status right after a restart
	 * must already see the interrupted rotation the writer will resume.
	 */
	rotation_resume(srv);
	privacy_timer_init(&srv->svc);
	if (srv->svc.audit != NULL && (w->audit = audit_batch_new()) == NULL)
		return VAULT_E_NOMEM;
	if ((rc = writer_flush_start(&w->flush, srv->svc.audit, &srv->svc.journal,
	    &srv->svc.store)) != 0)
		return rc;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, srv) != 0)
		return VAULT_E_NOMEM;
	return 0;
}

void
writer_stop(struct server *srv)
{
	struct writer *w = &srv->writer;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	audit_batch_free(w->audit);
	w->audit = NULL;
	writer_flush_stop(w->flush);
	w->flush = NULL;
}
