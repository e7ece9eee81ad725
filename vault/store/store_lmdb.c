/*
 * store_lmdb.c - the LMDB backend (store_lmdb.h): one environment, one
 * named database per table, LMDB's transactions as the interface's read
 * snapshots and write batches (nested write transactions for nested
 * batches). It owns every call into LMDB and the mapping of LMDB's
 * return codes to store results.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "common/clock.h"
#include "commitlog.h"
#include "store_lmdb.h"
#include "vault/log.h"

#define CARRIED_MAX 8
/* New pages LMDB may take between checkpoints (4 MiB of 4 KiB pages). */
#define GROWTH_PAGES 1024
/* A batch whose record would pass this commits without one (commit_direct). */
#define DIRECT_BYTES (128u << 10)
/* Free space below which every write batch checkpoints first (tight()). */
#define TIGHT_DISK_BYTES (64ull << 20)

/* A file whose bytes a record since the last checkpoint carried. */
struct carried {
	char *path;
	uint64_t dev, ino;
};

struct lmdb_store {
	MDB_env *env;
	MDB_dbi dbi[STORE_NTABLES];
	unsigned char present[STORE_NTABLES]; /* 0: a read-only file lacks it */
	/* The commit log; NULL: LMDB's own sync (a single file, read-only). */
	struct commitlog *log;
	char data_path[4096];
	MDB_txn *pin;               /* a reader on the checkpoint's snapshot */
	struct commitlog_body body; /* the open top-level batch's changes */
	int durable;
	size_t records;             /* since the last checkpoint */
	int want_checkpoint;        /* the log is three quarters full */
	long long last_checkpoint;  /* CLOCK_MONOTONIC ms */
	size_t checkpoint_pgno;     /* LMDB's last page at the last checkpoint */
	struct carried carried[CARRIED_MAX];
	size_t ncarried;
};

struct lmdb_txn {
	struct store_txn base;
	MDB_txn *txn;
	struct lmdb_store *ls;
	int write;   /* a write batch (readers run on other threads: they
	              * never touch the body) */
	int top;     /* a top-level write batch */
	size_t mark; /* a nested batch: the body's length at its begin */
};

struct lmdb_cursor {
	struct store_cursor base;
	MDB_cursor *cur;
	struct lmdb_txn *t;
	unsigned table;
};

/* Whether a write in t goes into the log's body. */
static inline int
logged(const struct lmdb_txn *t)
{
	return t->write && t->ls->log != NULL;
}

static const struct store_methods lmdb_methods;

static int
result(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return STORE_OK;
	case MDB_NOTFOUND:
		return STORE_NOTFOUND;
	case MDB_KEYEXIST:
		return STORE_EXISTS;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		return STORE_E_FULL;
	case ENOSPC:
	case EDQUOT:
		return STORE_E_DISK_FULL;
	case ENOMEM:
		return STORE_E_NOMEM;
	case MDB_CORRUPTED:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_PAGE_NOTFOUND:
		store_log_failure(mdb_strerror(rc), rc);
		return STORE_E_CORRUPT;
	default:
		store_log_failure(mdb_strerror(rc), rc);
		return STORE_E_FAILED;
	}
}

static inline MDB_val
mval(const struct store_val *v)
{
	return (MDB_val){ v->len, (void *)v->data };
}

static inline void
sval(struct store_val *out, const MDB_val *v)
{
	out->len = v->mv_size;
	out->data = v->mv_data;
}

static int checkpoint(struct lmdb_store *ls, int wipe);

static size_t
last_pgno(struct lmdb_store *ls)
{
	MDB_envinfo info;
	return mdb_env_info(ls->env, &info) == 0 ? info.me_last_pgno : 0;
}

static void
carried_clear(struct lmdb_store *ls)
{
	for (size_t i = 0; i < ls->ncarried; i++)
		free(ls->carried[i].path);
	ls->ncarried = 0;
}

static void
lmdb_close(struct store *s)
{
	struct lmdb_store *ls = s->impl;
	if (ls == NULL)
		return;
	/* A clean stop leaves an empty log, zeros but its header: nothing to
	 * apply at the next open, no copy of any batch (a retire's compaction
	 * closes the store too). */
	if (ls->log != NULL && checkpoint(ls, 1) != 0)
		log_warn("store: the last checkpoint at close failed; the next start "
		    "applies the commit log");
	if (ls->pin != NULL)
		mdb_txn_abort(ls->pin);
	if (ls->env != NULL)
		mdb_env_close(ls->env);
	commitlog_close(ls->log);
	commitlog_body_free(&ls->body);
	carried_clear(ls);
	free(ls);
}

/* fdatasync the file at path if it is still the file (dev, ino). */
static int
sync_if_same(const char *path, uint64_t dev, uint64_t ino)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1; /* renamed by a rotation, which flushed it */
	int rc = 0;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino)
		rc = fdatasync(fd);
	close(fd);
	return rc;
}

/*
 * Make everything committed durable and start a new generation of the
 * log (see the top of this file for the order and why).
 */
static int
checkpoint(struct lmdb_store *ls, int wipe)
{
	MDB_stat ms;
	MDB_txn *pin = NULL;
	struct stat st;
	uint8_t *meta = NULL;
	int rc, fd = -1;

	for (size_t i = 0; i < ls->ncarried; i++) {
		if (sync_if_same(ls->carried[i].path, ls->carried[i].dev, ls->carried[i].ino) != 0) {
			store_log_failure("cannot flush a file the commit log carried", errno);
			return STORE_E_FAILED;
		}
	}
	if ((rc = mdb_env_sync(ls->env, 1)) != 0 || (rc = mdb_env_stat(ls->env, &ms)) != 0)
		return result(rc);
	/* The new pin first, the old one released only once the new header is
	 * durable: until then the old header's snapshot must stay intact. */
	if ((rc = mdb_txn_begin(ls->env, NULL, MDB_RDONLY, &pin)) != 0)
		return result(rc);
	size_t mlen = 2 * (size_t)ms.ms_psize;
	rc = STORE_E_FAILED;
	if (mlen > COMMITLOG_META_MAX || (meta = malloc(mlen)) == NULL)
		goto out;
	if ((fd = open(ls->data_path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0 ||
	    pread(fd, meta, mlen, 0) != (ssize_t)mlen) {
		store_log_failure("cannot read LMDB's meta pages for a checkpoint", errno);
		goto out;
	}
	if ((rc = commitlog_checkpoint(ls->log, ms.ms_psize, meta, (uint32_t)mlen,
	    (uint64_t)st.st_dev, (uint64_t)st.st_ino, wipe)) != 0) {
		store_log_failure("cannot write the commit log's checkpoint", errno);
		goto out;
	}
	if (ls->pin != NULL)
		mdb_txn_abort(ls->pin);
	ls->pin = pin;
	pin = NULL;
	ls->records = 0;
	ls->want_checkpoint = 0;
	ls->last_checkpoint = clock_ms(CLOCK_MONOTONIC);
	ls->checkpoint_pgno = last_pgno(ls);
	carried_clear(ls);
out:
	if (pin != NULL)
		mdb_txn_abort(pin);
	if (fd >= 0)
		close(fd);
	free(meta);
	return rc;
}

/* ---- recovery -------------------------------------------------------------------- */

/*
 * Before LMDB opens the file: if the log holds records, the last run did
 * not stop cleanly; put back the meta pages of its last checkpoint.
 */
static int
restore_meta(struct lmdb_store *ls, const char **why)
{
	struct commitlog_header h;
	struct stat st;
	if (commitlog_records(ls->log) == 0 || !commitlog_header(ls->log, &h))
		return 0;
	*why = "the commit log holds writes for a data file that is not there";
	if (stat(ls->data_path, &st) != 0)
		return STORE_E_CORRUPT;
	*why = "the commit log holds writes for another data file (data.mdb was replaced "
	    "after a crash: move commit.log aside to open it without them)";
	if ((uint64_t)st.st_dev != h.dev || (uint64_t)st.st_ino != h.ino ||
	    (uint64_t)st.st_size < h.meta_len)
		return STORE_E_CORRUPT;
	*why = "cannot write LMDB's meta pages back from the commit log";
	int fd = open(ls->data_path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return STORE_E_FAILED;
	int rc = pwrite(fd, h.meta, h.meta_len, 0) == (ssize_t)h.meta_len && fdatasync(fd) == 0 ?
	    0 : STORE_E_FAILED;
	close(fd);
	return rc;
}

struct replay {
	struct lmdb_store *ls;
	MDB_txn *txn;
};

static int
replay_op(void *arg, const struct commitlog_op *op)
{
	struct replay *r = arg;
	MDB_val k = { op->klen, (void *)op->key }, v = { op->vlen, (void *)op->val };
	int rc;
	switch (op->type) {
	case COMMITLOG_OP_PUT:
		return result(mdb_put(r->txn, r->ls->dbi[op->table], &k, &v, 0));
	case COMMITLOG_OP_DEL:
		rc = mdb_del(r->txn, r->ls->dbi[op->table], &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : result(rc);
	case COMMITLOG_OP_FILE: {
		char path[4096];
		struct stat st;
		if (op->klen >= sizeof(path))
			return STORE_E_CORRUPT;
		memcpy(path, op->key, op->klen);
		path[op->klen] = '\0';
		int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? 0 : STORE_E_FAILED;
		rc = 0;
		/* Only into the same file (a rotated one was flushed at rotation),
		 * and never past its end: a carried range starts where the file
		 * was durable, so a file shorter than that was cut, not crashed,
		 * and is left for its own checks to refuse (audit_open). */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_dev == op->dev &&
		    (uint64_t)st.st_ino == op->ino && (uint64_t)st.st_size >= op->off &&
		    (pwrite(fd, op->val, op->vlen, (off_t)op->off) != (ssize_t)op->vlen ||
		    fdatasync(fd) != 0))
			rc = STORE_E_FAILED;
		close(fd);
		return rc;
	}
	}
	return STORE_E_CORRUPT;
}

/* After LMDB opened the checkpoint: apply the records, in order. */
static int
replay(struct lmdb_store *ls, const char **why)
{
	size_t n = commitlog_records(ls->log);
	struct replay r = { ls, NULL };
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const uint8_t *body = commitlog_record(ls->log, i, &len);
		int rc = mdb_txn_begin(ls->env, NULL, 0, &r.txn);
		if (rc != 0) {
			*why = "cannot apply the commit log";
			return result(rc);
		}
		if ((rc = commitlog_body_walk(body, len, replay_op, &r)) != 0) {
			mdb_txn_abort(r.txn);
			*why = rc == STORE_E_CORRUPT ? "a record of the commit log is malformed" :
			    "cannot apply the commit log";
			return rc;
		}
		if ((rc = mdb_txn_commit(r.txn)) != 0) {
			*why = "cannot apply the commit log";
			return result(rc);
		}
	}
	if (n > 0)
		log_warn("store: applied %zu write batches from the commit log (the last "
		    "run did not stop cleanly)", n);
	return 0;
}

int
store_lmdb_open(struct store *s, const char *path, size_t map_size,
    unsigned max_readers, unsigned flags, const char **why)
{
	struct lmdb_store *ls = calloc(1, sizeof(*ls));
	MDB_txn *txn = NULL;
	int rc;

	s->m = NULL;
	s->impl = NULL;
	*why = "out of memory";
	if (ls == NULL)
		return STORE_E_NOMEM;
	ls->durable = 1;
	if (!(flags & (STORE_LMDB_FILE | STORE_LMDB_RDONLY))) {
		char lp[4096];
		int n1 = snprintf(ls->data_path, sizeof(ls->data_path), "%s/data.mdb", path);
		int n2 = snprintf(lp, sizeof(lp), "%s/" COMMITLOG_NAME, path);
		*why = "the data directory's path is too long";
		rc = STORE_E_FAILED;
		if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(ls->data_path) || (size_t)n2 >= sizeof(lp))
			goto fail_log;
		if ((rc = commitlog_open(&ls->log, lp, why)) != 0 ||
		    (rc = restore_meta(ls, why)) != 0)
			goto fail_log;
	}
	*why = "cannot create the LMDB environment";
	if ((rc = mdb_env_create(&ls->env)) != 0)
		goto fail;
	mdb_env_set_maxdbs(ls->env, 16);
	mdb_env_set_maxreaders(ls->env, max_readers);
	if ((rc = mdb_env_set_mapsize(ls->env, map_size)) != 0) {
		*why = "invalid map size";
		goto fail;
	}
	/*
	 * MDB_NOTLS: each server worker keeps one read transaction and renews
	 * it per request (and the pin is one more). MDB_NOSYNC with a commit
	 * log (the log makes a commit durable); else LMDB's own sync.
	 */
	unsigned envflags = MDB_NOTLS | MDB_NORDAHEAD | (ls->log != NULL ? MDB_NOSYNC : 0);
	if (flags & STORE_LMDB_FILE)
		envflags |= MDB_NOSUBDIR | MDB_NOLOCK;
	if (flags & STORE_LMDB_RDONLY)
		envflags |= MDB_RDONLY;
	*why = flags & STORE_LMDB_FILE ? "LMDB cannot open the file" :
	    "cannot open the data directory";
	if ((rc = mdb_env_open(ls->env, path, envflags, 0600)) != 0)
		goto fail;
	/* Recovering: pin the checkpoint's snapshot before anything writes, so
	 * that no page of it is reused until the checkpoint after the replay
	 * (a crash during the replay starts again from the same snapshot). */
	if (ls->log != NULL && commitlog_records(ls->log) > 0 &&
	    (rc = mdb_txn_begin(ls->env, NULL, MDB_RDONLY, &ls->pin)) != 0)
		goto fail;
	*why = "cannot open the databases";
	if ((rc = mdb_txn_begin(ls->env, NULL, flags & STORE_LMDB_RDONLY ? MDB_RDONLY : 0,
	    &txn)) != 0)
		goto fail;
	for (unsigned t = 0; t < STORE_NTABLES; t++) {
		rc = mdb_dbi_open(txn, store_table_name(t),
		    flags & STORE_LMDB_RDONLY ? 0 : MDB_CREATE, &ls->dbi[t]);
		if (rc == MDB_NOTFOUND && (flags & STORE_LMDB_RDONLY))
			continue;
		if (rc != 0)
			goto fail;
		ls->present[t] = 1;
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		goto fail;
	}
	txn = NULL;
	if (ls->log != NULL) {
		int lrc = replay(ls, why);
		if (lrc == 0 && (lrc = checkpoint(ls, 0)) != 0)
			*why = "cannot write the commit log's first checkpoint";
		if (lrc != 0) {
			if (ls->pin != NULL)
				mdb_txn_abort(ls->pin);
			mdb_env_close(ls->env);
			commitlog_close(ls->log);
			free(ls);
			return lrc;
		}
	}
	s->m = &lmdb_methods;
	s->impl = ls;
	*why = NULL;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (ls->pin != NULL)
		mdb_txn_abort(ls->pin);
	if (ls->env != NULL)
		mdb_env_close(ls->env);
	commitlog_close(ls->log);
	free(ls);
	return rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ? STORE_E_CORRUPT : result(rc);
fail_log:
	commitlog_close(ls->log);
	free(ls);
	return rc;
}

static int tight(struct lmdb_store *ls);

static size_t
pages_since_checkpoint(struct lmdb_store *ls)
{
	size_t now = last_pgno(ls);
	return now > ls->checkpoint_pgno ? now - ls->checkpoint_pgno : 0;
}

/*
 * Before a write batch (no transaction open): checkpoint if the last
 * commit left the log three quarters full, or the store is nearly full.
 * A log that fills within a second of the last checkpoint doubles first
 * (commitlog_grow), so steady load checkpoints about once a second, not
 * once per megabyte. Done here rather than right after the commit that
 * filled the log, so that commit's replies do not wait for it.
 */
static void
checkpoint_if_due(struct lmdb_store *ls)
{
	int near_full = tight(ls);
	if (!ls->want_checkpoint && !near_full)
		return;
	if (ls->want_checkpoint && !near_full &&
	    clock_ms(CLOCK_MONOTONIC) - ls->last_checkpoint < 1000)
		(void)commitlog_grow(ls->log);
	if (checkpoint(ls, 0) != 0)
		store_log_failure("a commit log checkpoint failed; the log grows", 0);
}

/*
 * Whether the map or the file system is nearly full. The pin keeps LMDB
 * from reusing pages freed since the last checkpoint, so the file grows
 * between checkpoints; near either limit a write batch checkpoints first
 * (a few flushes), and LMDB reuses freed pages as it would without a log:
 * a full store still takes deletions.
 */
static int
tight(struct lmdb_store *ls)
{
	MDB_envinfo info;
	MDB_stat ms;
	struct statvfs fs;
	if (mdb_env_info(ls->env, &info) == 0 && mdb_env_stat(ls->env, &ms) == 0 &&
	    (info.me_last_pgno + 1) * (size_t)ms.ms_psize > info.me_mapsize / 4 * 3)
		return 1;
	return statvfs(ls->data_path, &fs) == 0 &&
	    (unsigned long long)fs.f_bavail * fs.f_frsize < TIGHT_DISK_BYTES;
}

static int
lmdb_txn_begin(struct store *s, struct store_txn *parent, unsigned flags,
    struct store_txn **out)
{
	struct lmdb_store *ls = s->impl;
	if (parent == NULL && !(flags & STORE_RDONLY) && ls->log != NULL && ls->records > 0)
		checkpoint_if_due(ls);
	struct lmdb_txn *t = malloc(sizeof(*t));
	if (t == NULL)
		return STORE_E_NOMEM;
	int rc = mdb_txn_begin(ls->env,
	    parent != NULL ? ((struct lmdb_txn *)parent)->txn : NULL,
	    flags & STORE_RDONLY ? MDB_RDONLY : 0, &t->txn);
	if (rc != 0) {
		free(t);
		return result(rc);
	}
	t->base.m = &lmdb_methods;
	t->ls = ls;
	t->write = !(flags & STORE_RDONLY);
	t->top = parent == NULL && t->write;
	if (t->top) {
		ls->body.len = 0;
		ls->body.failed = 0;
		ls->body.over = 0;
		ls->body.limit = DIRECT_BYTES;
	}
	t->mark = t->write ? ls->body.len : 0;
	*out = &t->base;
	return 0;
}

/*
 * A commit's result. LMDB reports a short write as EIO, which is what a
 * full file system gives part-way through writing the pages: if the data
 * directory's file system has (almost) no room left, say that.
 */
static int
commit_result(struct lmdb_store *ls, int rc)
{
	struct statvfs fs;
	if (rc == EIO && ls->data_path[0] != '\0' && statvfs(ls->data_path, &fs) == 0 &&
	    (unsigned long long)fs.f_bavail * fs.f_frsize < (1ull << 20))
		return STORE_E_DISK_FULL;
	return result(rc);
}

/*
 * A batch this large skips the log: LMDB commits and a checkpoint makes it
 * durable (its flushes: the carried files, the data file, the log's new
 * header). Writing its bytes twice (log, then data file) would cost more
 * than the two flushes a log record saves; the pipelined preload's batches
 * of hundreds of creates ran at 0.8x main's rate through the log
 * (BENCHMARKS.md). Until the new header is durable the batch is not in any
 * state a start recovers to, and it is not acknowledged before.
 */
static int
commit_direct(struct lmdb_txn *t)
{
	struct lmdb_store *ls = t->ls;
	int rc = mdb_txn_commit(t->txn);
	ls->body.len = 0;
	if (rc != 0)
		return commit_result(ls, rc);
	if (!ls->durable) {
		ls->want_checkpoint = 1; /* not durable until one, as asked */
		return 0;
	}
	if (checkpoint(ls, 0) != 0) {
		/* Stored in LMDB, durable only if a later checkpoint succeeds. */
		store_log_failure("a checkpoint after a large batch failed", 0);
		return STORE_E_UNCERTAIN;
	}
	return 0;
}

/* A top-level batch with a log: the record first, then LMDB. */
static int
commit_logged(struct lmdb_txn *t)
{
	struct lmdb_store *ls = t->ls;
	int rc, appended = 0;
	/* Large, or incomplete for want of memory: no record needed. */
	if (ls->body.over || ls->body.failed)
		return commit_direct(t);
	if (ls->body.len > 0) {
		if ((rc = commitlog_append(ls->log, ls->body.p, ls->body.len, ls->durable)) != 0) {
			store_log_failure("cannot write the commit log", errno);
			mdb_txn_abort(t->txn);
			return rc;
		}
		appended = 1;
	}
	rc = mdb_txn_commit(t->txn);
	ls->body.len = 0;
	if (rc != 0) {
		int r = commit_result(ls, rc);
		if (appended && commitlog_undo(ls->log) != 0) {
			/* A crash before the next checkpoint would apply it. */
			store_log_failure("cannot take back a commit log record", errno);
			return STORE_E_UNCERTAIN;
		}
		return r;
	}
	if (appended)
		ls->records++;
	/* The next batches need room: a checkpoint before the next batch. So
	 * too when LMDB took many new pages since the last one: the pinned
	 * snapshot keeps it from reusing freed pages until the next checkpoint,
	 * and the file would grow by every commit's copied pages meanwhile. */
	if (commitlog_used(ls->log) > commitlog_room(ls->log) / 4 * 3 ||
	    pages_since_checkpoint(ls) > GROWTH_PAGES)
		ls->want_checkpoint = 1;
	return 0;
}

static int
lmdb_txn_commit(struct store_txn *txn)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	int rc;
	if (t->top && logged(t)) {
		rc = commit_logged(t);
	} else {
		rc = commit_result(t->ls, mdb_txn_commit(t->txn));
		/* A nested batch that failed to commit left nothing in its parent. */
		if (rc != 0 && logged(t) && !t->top && t->mark <= t->ls->body.len)
			t->ls->body.len = t->mark;
	}
	free(t);
	return rc;
}

static void
lmdb_txn_abort(struct store_txn *txn)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	mdb_txn_abort(t->txn);
	if (logged(t) && (t->top || t->mark <= t->ls->body.len))
		t->ls->body.len = t->top ? 0 : t->mark;
	free(t);
}

static void
lmdb_txn_reset(struct store_txn *txn)
{
	mdb_txn_reset(((struct lmdb_txn *)txn)->txn);
}

static int
lmdb_txn_renew(struct store_txn *txn)
{
	return result(mdb_txn_renew(((struct lmdb_txn *)txn)->txn));
}

static int
lmdb_get(struct store_txn *txn, enum store_table tb, const struct store_val *key,
    struct store_val *val)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	if (!t->ls->present[tb])
		return STORE_NOTFOUND;
	MDB_val k = mval(key), v;
	int rc = mdb_get(t->txn, t->ls->dbi[tb], &k, &v);
	if (rc == 0)
		sval(val, &v);
	return result(rc);
}

static int
lmdb_put(struct store_txn *txn, enum store_table tb, const struct store_val *key,
    const struct store_val *val, unsigned flags)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	if (!t->ls->present[tb])
		return STORE_E_FAILED;
	MDB_val k = mval(key), v = mval(val);
	unsigned f = (flags & STORE_NOOVERWRITE ? MDB_NOOVERWRITE : 0) |
	    (flags & STORE_APPEND ? MDB_APPEND : 0);
	int rc = mdb_put(t->txn, t->ls->dbi[tb], &k, &v, f);
	if (rc == 0 && logged(t))
		commitlog_body_put(&t->ls->body, tb, key->data, key->len, val->data, val->len);
	return result(rc);
}

static int
lmdb_del(struct store_txn *txn, enum store_table tb, const struct store_val *key)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	if (!t->ls->present[tb])
		return STORE_NOTFOUND;
	MDB_val k = mval(key);
	int rc = mdb_del(t->txn, t->ls->dbi[tb], &k, NULL);
	if (rc == 0 && logged(t))
		commitlog_body_del(&t->ls->body, tb, key->data, key->len);
	return result(rc);
}

static int
lmdb_count(struct store_txn *txn, enum store_table tb, uint64_t *entries)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	MDB_stat st;
	*entries = 0;
	if (!t->ls->present[tb])
		return 0;
	int rc = mdb_stat(t->txn, t->ls->dbi[tb], &st);
	if (rc == 0)
		*entries = st.ms_entries;
	return result(rc);
}

static int
lmdb_cursor_open(struct store_txn *txn, enum store_table tb, struct store_cursor **out)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	if (!t->ls->present[tb])
		return STORE_NOTFOUND;
	struct lmdb_cursor *c = malloc(sizeof(*c));
	if (c == NULL)
		return STORE_E_NOMEM;
	int rc = mdb_cursor_open(t->txn, t->ls->dbi[tb], &c->cur);
	if (rc != 0) {
		free(c);
		return result(rc);
	}
	c->base.m = &lmdb_methods;
	c->t = t;
	c->table = tb;
	*out = &c->base;
	return 0;
}

static int
lmdb_cursor_get(struct store_cursor *cur, struct store_val *key, struct store_val *val,
    enum store_cursor_op op)
{
	struct lmdb_cursor *c = (struct lmdb_cursor *)cur;
	MDB_val k = { 0, NULL }, v = { 0, NULL };
	MDB_cursor_op mop = MDB_NEXT;
	switch (op) {
	case STORE_FIRST:
		mop = MDB_FIRST;
		break;
	case STORE_NEXT:
		mop = MDB_NEXT;
		break;
	case STORE_SET_RANGE:
		mop = MDB_SET_RANGE;
		k = mval(key);
		break;
	}
	int rc = mdb_cursor_get(c->cur, &k, &v, mop);
	if (rc == 0) {
		if (key != NULL)
			sval(key, &k);
		if (val != NULL)
			sval(val, &v);
	}
	return result(rc);
}

static int
lmdb_cursor_put(struct store_cursor *cur, const struct store_val *val)
{
	struct lmdb_cursor *c = (struct lmdb_cursor *)cur;
	uint8_t kb[512]; /* LMDB's largest key is 511 bytes */
	MDB_val k, v0, v = mval(val);
	int rc = mdb_cursor_get(c->cur, &k, &v0, MDB_GET_CURRENT);
	if (rc != 0)
		return result(rc);
	/* A value of another size makes LMDB delete the node and insert it
	 * again (the cursor stays on it): the key must not point into the
	 * page being changed. */
	if (k.mv_size > sizeof(kb))
		return result(MDB_BAD_VALSIZE);
	memcpy(kb, k.mv_data, k.mv_size);
	k.mv_data = kb;
	rc = mdb_cursor_put(c->cur, &k, &v, MDB_CURRENT);
	if (rc == 0 && logged(c->t))
		commitlog_body_put(&c->t->ls->body, c->table, kb, k.mv_size, val->data, val->len);
	return result(rc);
}

static int
lmdb_cursor_del(struct store_cursor *cur)
{
	struct lmdb_cursor *c = (struct lmdb_cursor *)cur;
	MDB_val k, v;
	size_t before = 0;
	if (logged(c->t)) {
		int rc = mdb_cursor_get(c->cur, &k, &v, MDB_GET_CURRENT);
		if (rc != 0)
			return result(rc);
		before = c->t->ls->body.len;
		commitlog_body_del(&c->t->ls->body, c->table, k.mv_data, k.mv_size);
	}
	int rc = mdb_cursor_del(c->cur, 0);
	if (rc != 0 && logged(c->t) && !c->t->ls->body.failed)
		c->t->ls->body.len = before;
	return result(rc);
}

static void
lmdb_cursor_close(struct store_cursor *cur)
{
	struct lmdb_cursor *c = (struct lmdb_cursor *)cur;
	mdb_cursor_close(c->cur);
	free(c);
}

static int
lmdb_copy(struct store *s, int fd)
{
	struct lmdb_store *ls = s->impl;
	return result(mdb_env_copyfd2(ls->env, fd, MDB_CP_COMPACT));
}

static void
lmdb_reader_check(struct store *s)
{
	struct lmdb_store *ls = s->impl;
	int dead = 0;
	mdb_reader_check(ls->env, &dead);
}

static int
lmdb_set_durable(struct store *s, int durable)
{
	struct lmdb_store *ls = s->impl;
	if (ls->log != NULL) {
		ls->durable = durable; /* the log's flush; LMDB never syncs with a log */
		return 0;
	}
	return result(mdb_env_set_flags(ls->env, MDB_NOSYNC, !durable));
}

static int
lmdb_carries(const struct store *s)
{
	return ((const struct lmdb_store *)s->impl)->log != NULL;
}

static int
lmdb_carry(struct store_txn *txn, const char *path, uint64_t dev, uint64_t ino, uint64_t off,
    const void *bytes, size_t len)
{
	struct lmdb_txn *t = (struct lmdb_txn *)txn;
	struct lmdb_store *ls = t->ls;
	size_t i;
	if (!logged(t) || path[0] != '/')
		return STORE_E_FAILED;
	for (i = 0; i < ls->ncarried; i++)
		if (ls->carried[i].dev == dev && ls->carried[i].ino == ino &&
		    strcmp(ls->carried[i].path, path) == 0)
			break;
	if (i == ls->ncarried) {
		/* The checkpoint flushes each file carried since the last one. */
		if (i == CARRIED_MAX || (ls->carried[i].path = strdup(path)) == NULL)
			return STORE_E_FULL;
		ls->carried[i].dev = dev;
		ls->carried[i].ino = ino;
		ls->ncarried++;
	}
	commitlog_body_file(&ls->body, path, dev, ino, off, bytes, len);
	return ls->body.failed ? STORE_E_NOMEM : 0;
}

static int
lmdb_checkpoint(struct store *s)
{
	struct lmdb_store *ls = s->impl;
	return ls->log != NULL && ls->records > 0 ? checkpoint(ls, 0) : 0;
}

static const struct store_methods lmdb_methods = {
	.version = 5,
	.name = "lmdb",
	.close = lmdb_close,
	.txn_begin = lmdb_txn_begin,
	.txn_commit = lmdb_txn_commit,
	.txn_abort = lmdb_txn_abort,
	.txn_reset = lmdb_txn_reset,
	.txn_renew = lmdb_txn_renew,
	.get = lmdb_get,
	.put = lmdb_put,
	.del = lmdb_del,
	.count = lmdb_count,
	.cursor_open = lmdb_cursor_open,
	.cursor_get = lmdb_cursor_get,
	.cursor_put = lmdb_cursor_put,
	.cursor_del = lmdb_cursor_del,
	.cursor_close = lmdb_cursor_close,
	.copy = lmdb_copy,
	.reader_check = lmdb_reader_check,
	.set_durable = lmdb_set_durable,
	.carries = lmdb_carries,
	.carry = lmdb_carry,
	.checkpoint = lmdb_checkpoint,
};
