/*
 * rotation.c - rotate, rewrap, retire, compact (see rotation.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/clock.h"
#include "backupfile.h"
#include "common/tmpfile.h"
#include "crypto/seal.h"
#include "keys/keyring.h"
#include "keyset.h"
#include "log.h"
#include "ops/op.h"
#include "privacy/blind.h"
#include "privacy/horizon.h"
#include "privacy/identity.h"
#include "privacy/reseal.h"
#include "ring_shared.h"
#include "record/access.h"
#include "record/tokens.h"
#include "rotation.h"
#include "sdnotify.h"
#include "server.h"
#include "store/record_codec.h"
#include "worker.h"

/*
 * The compacted copy's temporary name (COMPACT_PENDING: rotation_state.h).
 */
#define COMPACT_TMP_PREFIX "data.mdb.compact."

static int
meta_get_u64(struct server *srv, struct store_txn *txn, const char *key, uint64_t *v)
{
	return rotation_meta_get(txn, key, v);
}

static int
meta_put_u64(struct server *srv, struct store_txn *txn, const char *key, uint64_t v)
{
	uint8_t b[8];
	store_put_id(b, v);
	struct store_val k = { strlen(key), (void *)key }, val = { 8, b };
	return store_put(txn, STORE_META, &k, &val, 0);
}

static int
meta_del(struct server *srv, struct store_txn *txn, const char *key)
{
	struct store_val k = { strlen(key), (void *)key };
	int rc = store_del(txn, STORE_META, &k);
	return rc == STORE_NOTFOUND ? 0 : rc;
}

static void
schedule_next(struct server *srv, time_t from)
{
	unsigned interval = srv->svc.cfg.rotation_interval_seconds;
	atomic_store(&srv->svc.rotation.next_due, interval ? (long long)from + interval : 0);
}

/*
 * In the transaction that marks a rotation (keys_rotate): whether the
 * schedule started it (its retire is owed even across a restart), when the
 * next one is due and when this one started (its rewrap's duration is
 * measured from there).
 */
static int
schedule_mark(struct server *srv, struct store_txn *txn, time_t now)
{
	unsigned interval = srv->svc.cfg.rotation_interval_seconds;
	int rc = meta_put_u64(srv, txn, "rot_sched", srv->svc.rotation.scheduled ? 1 : 0);
	if (rc == 0)
		rc = meta_put_u64(srv, txn, "rot_due", interval ? (uint64_t)now + interval : 0);
	if (rc == 0)
		rc = meta_put_u64(srv, txn, "rot_started", (uint64_t)now);
	return rc;
}

/* In the transaction that ends a rewrap (rotation_step): its duration. */
static int
schedule_done(struct server *srv, struct store_txn *txn, time_t now)
{
	uint64_t started = 0;
	if (meta_get_u64(srv, txn, "rot_started", &started) != 0 || started > (uint64_t)now)
		return 0;
	uint64_t secs = (uint64_t)now - started;
	atomic_store(&srv->svc.rotation.last_seconds, (long long)(secs ? secs : 1));
	return meta_put_u64(srv, txn, "rot_seconds", secs ? secs : 1);
}

/* The schedule's retire is done (or given up): forget that it is owed. */
static void
schedule_clear(struct server *srv)
{
	struct store_txn *txn;
	int rc;
	srv->svc.rotation.scheduled = 0;
	pthread_rwlock_rdlock(&srv->svc.env_lock);
	if ((rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn)) == 0) {
		if ((rc = meta_put_u64(srv, txn, "rot_sched", 0)) == 0)
			rc = store_txn_commit(txn);
		else
			store_txn_abort(txn);
	}
	pthread_rwlock_unlock(&srv->svc.env_lock);
	if (rc != 0)
		log_warn("rotation schedule: cannot store that the retire is done: %s",
		    vault_strerror(store_error(rc)));
}

int
rotation_resume(struct server *srv)
{
	struct rotation *rot = &srv->svc.rotation;
	struct store_txn *txn;
	uint64_t target = 0, cursor = 1, last = 0, sched = 0, due = 0, started = 0, secs = 0;
	int rc = store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn);
	if (rc != 0)
		return store_error(rc);
	/* The writer's round pin when called from there (nested), else ours. */
	const struct key_set *ks = key_set_acquire(&srv->svc);
	if (meta_get_u64(srv, txn, "rot_target", &target) == 0)
		(void)meta_get_u64(srv, txn, "rot_cursor", &cursor);
	(void)meta_get_u64(srv, txn, "rot_last", &last);
	(void)meta_get_u64(srv, txn, "rot_sched", &sched);
	(void)meta_get_u64(srv, txn, "rot_due", &due);
	(void)meta_get_u64(srv, txn, "rot_started", &started);
	(void)meta_get_u64(srv, txn, "rot_seconds", &secs);
	uint64_t nrecords = 0;
	store_count(txn, STORE_RECORDS, &nrecords);
	store_txn_abort(txn);
	atomic_store(&rot->last_done, (long long)last);
	rot->seen_done = (long long)last;
	atomic_store(&rot->last_seconds, (long long)secs);
	/* The stored due time; without one (never rotated), from the current
	 * epoch's creation, so restarts do not keep postponing it. */
	time_t now = time(NULL);
	unsigned interval = srv->svc.cfg.rotation_interval_seconds;
	if (due != 0 && interval != 0) {
		if (due > (uint64_t)now + interval)
			due = (uint64_t)now + interval; /* the interval was shortened */
		atomic_store(&rot->next_due, (long long)due);
	} else {
		uint64_t from = last;
		if (ks != NULL) {
			uint32_t cur = keyring_current(ks->ring, KEYRING_KEK);
			uint64_t created = keyring_key_created(ks->ring, KEYRING_KEK, cur);
			if (created > from)
				from = created;
		}
		schedule_next(srv, from ? (time_t)from : now);
	}
	rot->scheduled = sched != 0;
	/*
	 * Resume an interrupted rotation. A sealed vault resumes once
	 * unsealed (the writer calls this again then).
	 */
	if (target != 0 && ks != NULL &&
	    keyring_key(ks->ring, KEYRING_KEK, (uint32_t)target) == NULL) {
		/* The crash came between marking the rotation and saving the
		 * ring: the epoch never existed, so there is nothing to do. */
		log_warn("dropping an unfinished rotation to epoch %llu, not in the key ring",
		    (unsigned long long)target);
		/* A scheduled one never happened: it is due now, not in an interval. */
		if (rot->scheduled && interval != 0)
			atomic_store(&rot->next_due, (long long)now);
		rot->scheduled = 0;
	} else if (target != 0 && ks != NULL) {
		atomic_store(&rot->target, (unsigned)target);
		atomic_store(&rot->cursor, cursor);
		/* Progress goes on from where it stopped: count what lies behind. */
		uint64_t behind = 0;
		if (store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn) == 0) {
			struct store_cursor *cur;
			struct store_val k, v;
			if (store_cursor_open(txn, STORE_RECORDS, &cur) == 0) {
				for (int g = store_cursor_get(cur, &k, &v, STORE_FIRST);
				    g == 0 && store_get_id(k.data) < cursor;
				    g = store_cursor_get(cur, &k, &v, STORE_NEXT))
					behind++;
				store_cursor_close(cur);
			}
			store_txn_abort(txn);
		}
		atomic_store(&rot->examined, behind);
		atomic_store(&rot->rewrapped, 0);
		atomic_store(&rot->total, nrecords);
		atomic_store(&rot->started, started ? (long long)started : (long long)now);
		log_info("resuming rotation to epoch %llu at record %llu",
		    (unsigned long long)target, (unsigned long long)cursor);
	}
	key_set_release();
	return 0;
}

long long
rotation_wait_ms(struct server *srv)
{
	struct rotation *rot = &srv->svc.rotation;
	if (atomic_load(&rot->stalled_since) == 0)
		return 0;
	long long left = rot->retry_at_ms - clock_ms(CLOCK_MONOTONIC);
	return left > 0 ? left : 0;
}

void
rotation_nudge(struct server *srv)
{
	srv->svc.rotation.retry_at_ms = 0;
}

/*
 * A step failed with code: stall (once: one log line) or stay stalled, and
 * wait longer before the next try. Retrying at once spun the writer at
 * full CPU with thousands of log lines a second on a full map.
 */
static void
stall(struct server *srv, uint32_t target, int code, time_t now)
{
	struct rotation *rot = &srv->svc.rotation;
	int why = ROTATION_STALL_STORAGE;
	if (code == VAULT_E_NO_SPACE) {
		/* A full map and a full disk give the same code: the disk says which. */
		struct statvfs vfs;
		why = statvfs(srv->svc.cfg.data_dir, &vfs) == 0 &&
		    (uint64_t)vfs.f_bavail * vfs.f_frsize < (1u << 20) ?
		    ROTATION_STALL_DISK_FULL : ROTATION_STALL_MAP_FULL;
	}
	if (why == ROTATION_STALL_DISK_FULL)
		(void)audit_release_reserve_for(srv->svc.audit, srv->svc.cfg.data_dir);
	if (atomic_load(&rot->stalled_since) == 0) {
		rot->backoff_ms = ROTATION_BACKOFF_MIN_MS;
		atomic_store(&rot->stall_why, why);
		atomic_store(&rot->stalled_since, (long long)(now ? now : 1));
		log_error("rotation to epoch %u stalled: %s; retrying every %u ms up to "
		    "every %u s until it goes on", target, rotation_stall_reason(why),
		    ROTATION_BACKOFF_MIN_MS, ROTATION_BACKOFF_MAX_MS / 1000);
	} else {
		atomic_store(&rot->stall_why, why);
		rot->backoff_ms = rot->backoff_ms >= ROTATION_BACKOFF_MAX_MS / 2 ?
		    ROTATION_BACKOFF_MAX_MS : rot->backoff_ms * 2;
	}
	rot->retry_at_ms = clock_ms(CLOCK_MONOTONIC) + rot->backoff_ms;
}

static void
unstall(struct server *srv, uint32_t target, time_t now)
{
	struct rotation *rot = &srv->svc.rotation;
	long long since = atomic_exchange(&rot->stalled_since, 0);
	if (since == 0)
		return;
	atomic_store(&rot->stall_why, ROTATION_STALL_NONE);
	rot->backoff_ms = 0;
	rot->retry_at_ms = 0;
	log_info("rotation to epoch %u goes on after a stall of %lld s", target,
	    (long long)now - since);
}

/* Rewrap one record's data key to epoch target; v is the stored value. */
static int
rewrap(struct write_ctx *ctx, uint64_t id, struct store_cursor *cur, struct store_val *k,
    const struct store_val *v, uint32_t target)
{
	struct record r;
	int rc;
	buf_clear(&ctx->copy);
	if ((rc = buf_append(&ctx->copy, v->data, v->len)) != 0)
		return rc;
	if ((rc = record_decode(ctx->copy.data, ctx->copy.len, &r)) != 0) {
		record_tampered(ctx->svc, ctx->keys, id);
		return rc;
	}
	/* Verified under the old epoch before the new MAC: a rewrap must not
	 * launder a tampered record into a valid one. */
	if ((rc = record_check(ctx->svc, ctx->keys, id, ctx->copy.data, ctx->copy.len)) != 0)
		return rc;
	if ((rc = record_unwrap(ctx->keys, id, &r, ctx->dek)) != 0)
		return rc;
	const uint8_t *kek = keyring_key(ctx->keys->ring, KEYRING_KEK, target);
	const uint8_t *mk = key_set_record_mac_key(ctx->keys, target);
	if (kek == NULL || mk == NULL) {
		sodium_memzero(ctx->dek, DEK_BYTES);
		return VAULT_E_INTERNAL;
	}
	/* The card index key and the blind tags move to the target epoch, so
	 * they die with the old epoch at retire; det entries of retired epochs
	 * go (record/tokens.h, privacy/blind.h). */
	struct blind_keys from = { ctx->dek, r.dek_version, r.kek_epoch };
	struct blind_keys to = { ctx->dek, r.dek_version, target };
	if ((rc = tokens_rekey(ctx, id, &r, ctx->dek, target)) != 0 ||
	    (rc = blind_rewrap(ctx, id, &from, &to)) != 0) {
		sodium_memzero(ctx->dek, DEK_BYTES);
		return rc;
	}
	wrap_dek(kek, target, id, r.dek_version, ctx->dek, r.wrapped_dek);
	sodium_memzero(ctx->dek, DEK_BYTES);
	r.kek_epoch = target;
	buf_clear(&ctx->enc);
	if ((rc = record_encode(&r, id, mk, &ctx->enc)) != 0)
		return rc;
	/* Same size unless det entries were dropped (the backend keeps the
	 * cursor on the record either way). */
	struct store_val nv = { ctx->enc.len, ctx->enc.data };
	rc = store_cursor_put(cur, &nv);
	return rc == 0 ? 0 : store_error(rc);
}

int
rotation_step(struct write_ctx *ctx, int *active)
{
	struct server *srv = server_of(ctx->svc);
	struct rotation *rot = &srv->svc.rotation;
	uint32_t target = atomic_load(&rot->target);
	struct store_txn *txn;
	struct store_cursor *cur;
	uint8_t kb[8];
	int rc, done = 0, vrc = 0; /* vrc: a rewrap's VAULT_E_* code */
	uint64_t examined = 0, rewrapped = 0, next = atomic_load(&rot->cursor);

	*active = target != 0;
	if (target == 0 || ctx->keys == NULL)
		return 0;
	if (rotation_wait_ms(srv) > 0)
		return 0; /* stalled: not yet time for the next try */
	if (!ring_shared_rewrap_ok(srv))
		return 0; /* a live node still runs the ring before the rotation */
	pthread_rwlock_rdlock(&srv->svc.env_lock);
	if ((rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn)) != 0)
		goto out;
	if ((rc = store_cursor_open(txn, STORE_RECORDS, &cur)) != 0) {
		store_txn_abort(txn);
		goto out;
	}
	ctx->txn = txn;
	store_put_id(kb, next);
	struct store_val k = { 8, kb }, v;
	rc = store_cursor_get(cur, &k, &v, STORE_SET_RANGE);
	while (rc == 0 && examined < srv->svc.cfg.rotation_batch) {
		uint64_t id = store_get_id(k.data);
		if (record_stored_epoch(v.data, v.len) != target) {
			if ((rc = rewrap(ctx, id, cur, &k, &v, target)) != 0) {
				/* The store failing stalls the whole step (stall()
				 * says so once, not once per try). */
				if (rc == VAULT_E_STORAGE || rc == VAULT_E_NO_SPACE) {
					vrc = rc;
					break;
				}
				/* A record that cannot be rewrapped is damaged: log
				 * its id and go on, so one bad record cannot stall
				 * the rotation; retire will refuse while it remains. */
				log_error("rotation: record %llu: %s", (unsigned long long)id,
				    vault_strerror(rc));
				rc = 0;
			} else {
				rewrapped++;
			}
		}
		examined++;
		next = id + 1;
		rc = store_cursor_get(cur, &k, &v, STORE_NEXT);
	}
	store_cursor_close(cur);
	if (rc == STORE_NOTFOUND) {
		done = 1;
		rc = 0;
	}
	if (rc == 0 && done) {
		/* The identity counts move to the target epoch with the end of
		 * the rewrap, so retire leaves no name an old key could test. */
		size_t moved = 0, dropped = 0;
		int irc = identity_rekey(txn, STORE_VERIFY_IDS, ctx->keys, target, &moved,
		    &dropped);
		size_t resealed = 0, lost = 0;
		if (irc == 0)
			irc = reasons_reseal(txn, &srv->svc, ctx->keys, target, &resealed, &lost);
		if (irc != 0) {
			vrc = irc;
			rc = -1;
		} else {
			if (moved + dropped > 0)
				log_info("rotation to epoch %u: %zu identity counts re-keyed, %zu "
				    "dropped", target, moved, dropped);
			if (resealed + lost > 0)
				log_info("rotation to epoch %u: %zu hold and extension reasons "
				    "resealed, %zu under a retired epoch left unreadable", target,
				    resealed, lost);
		}
	}
	if (rc == 0 && done) {
		if ((rc = meta_del(srv, txn, "rot_target")) == 0 &&
		    (rc = meta_del(srv, txn, "rot_cursor")) == 0)
			if ((rc = meta_put_u64(srv, txn, "rot_last", (uint64_t)ctx->now)) == 0)
				rc = schedule_done(srv, txn, ctx->now);
	} else if (rc == 0) {
		rc = meta_put_u64(srv, txn, "rot_cursor", next);
	}
	if (rc == 0)
		rc = store_txn_commit(txn);
	else
		store_txn_abort(txn);
	ctx->txn = NULL;
out:
	pthread_rwlock_unlock(&srv->svc.env_lock);
	buf_clear(&ctx->copy);
	buf_clear(&ctx->enc);
	if (rc != 0) {
		rc = vrc ? vrc : store_error(rc);
		stall(srv, target, rc, ctx->now);
		return rc;
	}
	unstall(srv, target, ctx->now);
	atomic_store(&rot->cursor, next);
	atomic_fetch_add(&rot->examined, examined);
	atomic_fetch_add(&rot->rewrapped, rewrapped);
	if (done) {
		log_info("rotation to epoch %u done: %llu records rewrapped", target,
		    (unsigned long long)atomic_load(&rot->rewrapped));
		sdnotify_status("serving; rotation to epoch %u done: %llu records rewrapped",
		    target, (unsigned long long)atomic_load(&rot->rewrapped));
		atomic_store(&rot->target, 0);
		atomic_store(&rot->last_done, (long long)ctx->now);
		*active = 0;
	}
	return 0;
}

/* Save a new ring to the ring file, then make it current. */
static int
publish_ring(struct write_ctx *ctx, struct keyring *ring, const char **why)
{
	struct server *srv = server_of(ctx->svc);
	struct key_set *ks;
	/* The database's copy first (shared store): the file follows it, and a
	 * node that fails after this takes it back from there. */
	int rc = ring_shared_publish(ctx, ring, why);
	if (rc == 0)
		rc = keyring_save(ring, srv->svc.cfg.keyring_path, srv->svc.root, why);
	if (rc != 0) {
		keyring_free(ring);
		return rc;
	}
	if ((rc = key_set_new(ring, &ks)) != 0) {
		*why = "cannot derive token keys";
		return rc;
	}
	key_set_publish(&srv->svc, ks, 0);
	ctx->keys = ks;
	return 0;
}

int
keys_rotate(struct write_ctx *ctx, enum keyring_kind kind, uint32_t *version,
    const char **why)
{
	struct server *srv = server_of(ctx->svc);
	struct rotation *rot = &srv->svc.rotation;
	struct keyring *ring;
	struct store_txn *txn;
	int rc;

	if (ctx->keys == NULL) {
		*why = "the vault is sealed";
		return VAULT_E_SEALED;
	}
	if ((rc = ring_shared_may_change(ctx, 0, why)) != 0)
		return rc;
	if (kind == KEYRING_KEK && atomic_load(&rot->target) != 0) {
		switch (atomic_load(&rot->stalled_since) ? atomic_load(&rot->stall_why) : 0) {
		case ROTATION_STALL_MAP_FULL:
			*why = "the rotation in progress is stalled: the data file's map is "
			    "full (keys status says since when); it goes on by itself after a "
			    "restart with a larger [storage] map_size_bytes";
			return VAULT_E_NO_SPACE;
		case ROTATION_STALL_DISK_FULL:
			*why = "the rotation in progress is stalled: the data directory's "
			    "file system is full (keys status says since when); it goes on "
			    "by itself once space is freed";
			return VAULT_E_NO_SPACE;
		case ROTATION_STALL_STORAGE:
			*why = "the rotation in progress is stalled by a storage error "
			    "(keys status, the log); it is retried by itself";
			return VAULT_E_CONFLICT;
		}
		*why = "a rotation is in progress; wait for it to finish";
		return VAULT_E_CONFLICT;
	}
	if ((rc = keyring_with_new_key(ctx->keys->ring, kind, &ring, version)) != 0) {
		*why = "the key ring holds the most keys it may";
		return rc;
	}
	/*
	 * Mark the rotation in the store before the new ring is saved: a
	 * crash in between leaves a rotation to an epoch the ring does not
	 * have, which rotation_resume drops; the other order would leave
	 * records on an old epoch with no rotation to move them.
	 */
	if (kind == KEYRING_KEK) {
		pthread_rwlock_rdlock(&srv->svc.env_lock);
		rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn);
		if (rc == 0) {
			if ((rc = meta_put_u64(srv, txn, "rot_target", *version)) == 0 &&
			    (rc = meta_put_u64(srv, txn, "rot_cursor", 1)) == 0 &&
			    (rc = schedule_mark(srv, txn, ctx->now)) == 0)
				rc = store_txn_commit(txn);
			else
				store_txn_abort(txn);
		}
		pthread_rwlock_unlock(&srv->svc.env_lock);
		if (rc != 0) {
			keyring_free(ring);
			*why = "cannot record the rotation in the store";
			return store_error(rc);
		}
	}
	if ((rc = publish_ring(ctx, ring, why)) != 0)
		return rc;
	if (kind == KEYRING_KEK) {
		uint64_t nrecords = 0;
		pthread_rwlock_rdlock(&srv->svc.env_lock);
		if (store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn) == 0) {
			store_count(txn, STORE_RECORDS, &nrecords);
			atomic_store(&rot->total, nrecords);
			store_txn_abort(txn);
		}
		pthread_rwlock_unlock(&srv->svc.env_lock);
		atomic_store(&rot->cursor, 1);
		atomic_store(&rot->examined, 0);
		atomic_store(&rot->rewrapped, 0);
		atomic_store(&rot->started, (long long)ctx->now);
		atomic_store(&rot->target, *version);
		schedule_next(srv, ctx->now);
		log_info("rotation: epoch %u is current; rewrapping %llu records", *version,
		    (unsigned long long)atomic_load(&rot->total));
		sdnotify_status("serving; rotation to epoch %u: rewrapping %llu records",
		    *version, (unsigned long long)atomic_load(&rot->total));
	} else {
		log_info("rotation: %s key version %u is current",
		    kind == KEYRING_TOKEN ? "token" : "index", *version);
	}
	return 0;
}

/* A retire refused for its backup: remember since when and why (status). */
static void
backup_failed(struct rotation *rot, uint32_t epoch, const char *why)
{
	atomic_store(&rot->retire_backup_why, why);
	atomic_store(&rot->retire_backup_epoch, epoch);
	long long was = 0;
	long long now = (long long)time(NULL);
	atomic_compare_exchange_strong(&rot->retire_backup_failed_since, &was, now ? now : 1);
}

/*
 * [keys] backup_before_retire: after the rewrap (no record left on epoch)
 * and before anything of the retire is changed, a complete backup into
 * backup_dir, opened again and checked (its trailer, its hash, LMDB's
 * record count and epochs), every record of it on an epoch that outlives
 * the retire. The writer takes it, so no write lands between the copy and
 * the key's destruction. 0, or VAULT_E_BACKUP with *why (static); a
 * backup that fails its check is removed.
 */
static int
backup_before_retire(struct write_ctx *ctx, uint32_t epoch, const char **why)
{
	struct server *srv = server_of(ctx->svc);
	struct rotation *rot = &srv->svc.rotation;
	const struct keyring *ring = ctx->keys->ring;
	char name[128], path[600], ts[32] = "0";
	const char *detail = "out of memory";
	uint64_t bytes = 0;
	long long t0 = clock_ms(CLOCK_MONOTONIC);
	time_t now = time(NULL);
	struct tm tm;
	int rc = VAULT_E_NOMEM;
	struct backup_info *bi = malloc(sizeof(*bi));

	rot->retire_backup[0] = '\0';
	if (gmtime_r(&now, &tm) != NULL)
		strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	*why = "backup_before_retire: no backup could be written to [storage] backup_dir "
	    "(the log says why); the epoch is not retired and nothing changed";
	for (int i = 0; bi != NULL && i < 10; i++) {
		snprintf(name, sizeof(name), "retire-%u-%s%s%.0d", epoch, ts, i ? "-" : "", i);
		pthread_rwlock_rdlock(&srv->svc.env_lock);
		rc = backupfile_take(&srv->svc.store, &srv->svc.cfg, name, strlen(name), epoch,
		    path, sizeof(path), &bytes, NULL, &detail);
		pthread_rwlock_unlock(&srv->svc.env_lock);
		if (rc != VAULT_E_CONFLICT)
			break;
	}
	if (rc == VAULT_E_NO_SPACE)
		*why = "backup_before_retire: the backup directory's file system is full; the "
		    "epoch is not retired and nothing changed";
	if (rc != 0)
		goto fail;
	*why = "backup_before_retire: the backup just taken failed its verification (the "
	    "log says why; it was removed); the epoch is not retired and nothing changed";
	if ((rc = backupfile_verify(path, bi, &detail)) != 0) {
		unlink(path);
		goto fail;
	}
	for (uint32_t i = 0; i < bi->nepochs; i++)
		if (bi->counts[i] > 0 && (bi->epochs[i] == epoch ||
		    keyring_key(ring, KEYRING_KEK, bi->epochs[i]) == NULL)) {
			detail = "it holds records whose data keys no epoch outliving the retire wraps";
			unlink(path);
			rc = VAULT_E_BACKUP;
			goto fail;
		}
	if (bi->records_known == 0 || (bi->nepochs == 0 && bi->records > 0)) {
		detail = "its trailer does not say which epochs its records need";
		unlink(path);
		rc = VAULT_E_BACKUP;
		goto fail;
	}
	snprintf(rot->retire_backup, sizeof(rot->retire_backup), "%s", name);
	log_info("retire of epoch %u: backup %s taken and verified (%llu records, %llu bytes, "
	    "%lld ms)", epoch, path, (unsigned long long)bi->records,
	    (unsigned long long)bytes, clock_ms(CLOCK_MONOTONIC) - t0);
	free(bi);
	atomic_store(&rot->backup_checked, 0);
	return 0;
fail:
	free(bi);
	if (atomic_load(&rot->retire_backup_failed_since) == 0 || !rot->scheduled)
		log_error("retire of epoch %u refused (VAULT_E_BACKUP): backup_before_retire: %s "
		    "(backup directory %s); the epoch stays, nothing changed%s", epoch,
		    detail ? detail : vault_strerror(rc), srv->svc.cfg.backup_dir,
		    rot->scheduled ? "; the schedule retries with backoff" : "");
	backup_failed(rot, epoch, *why);
	return VAULT_E_BACKUP;
}

int
keys_retire(struct write_ctx *ctx, uint32_t epoch, uint64_t *remaining,
    uint64_t *before, uint64_t *after, const char **why)
{
	struct server *srv = server_of(ctx->svc);
	struct keyring *ring;
	struct store_txn *txn;
	int rc;

	*remaining = 0;
	if (ctx->keys == NULL) {
		*why = "the vault is sealed";
		return VAULT_E_SEALED;
	}
	if (keyring_key(ctx->keys->ring, KEYRING_KEK, epoch) == NULL) {
		*why = "no such epoch in the key ring";
		return VAULT_E_NOT_FOUND;
	}
	if (epoch == keyring_current(ctx->keys->ring, KEYRING_KEK)) {
		*why = "the current epoch cannot be retired; rotate first";
		return VAULT_E_CONFLICT;
	}
	if ((rc = ring_shared_may_change(ctx, 1, why)) != 0)
		return rc;
	/*
	 * The backup comes first: nothing of the retire may have happened if
	 * it cannot be taken. Counted first too, so a retire refused for its
	 * records costs no backup. PostgreSQL is backed up by its own tools
	 * (doc/storage-postgresql.md): the operator takes a base backup after
	 * the retire.
	 */
	srv->svc.rotation.retire_backup[0] = '\0';
	if (srv->svc.cfg.backup_before_retire &&
	    srv->svc.cfg.storage_backend == CONFIG_BACKEND_POSTGRESQL) {
		log_warn("retiring epoch %u: backup_before_retire does not apply to [storage] "
		    "backend = postgresql; base backups and dumps taken before this retire "
		    "can no longer restore the records they hold: take a new base backup "
		    "(pg_basebackup) once the retire is done (doc/storage-postgresql.md)", epoch);
	} else if (srv->svc.cfg.backup_before_retire) {
		pthread_rwlock_rdlock(&srv->svc.env_lock);
		rc = store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn);
		if (rc == 0) {
			rc = epoch_counts(&srv->svc, txn, &epoch, remaining, 1);
			store_txn_abort(txn);
		} else {
			rc = store_error(rc);
		}
		pthread_rwlock_unlock(&srv->svc.env_lock);
		if (rc == 0 && *remaining > 0) {
			*why = "records still depend on that epoch; let the rotation finish";
			return VAULT_E_CONFLICT;
		}
		if (rc != 0) {
			*why = "cannot count the records of that epoch";
			return rc;
		}
		if ((rc = backup_before_retire(ctx, epoch, why)) != 0)
			return rc;
	}
	/*
	 * No write can add a record on an old epoch: one transaction counts
	 * them and, if none is left, deletes the deterministic index entries
	 * the epoch keys, before its key is destroyed (a crash after the
	 * commit leaves the key: its det tokens then find nothing, as they
	 * would after the retire).
	 */
	uint64_t det_deleted = 0;
	const char *fail = "cannot count the records of that epoch";
	pthread_rwlock_rdlock(&srv->svc.env_lock);
	rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn);
	if (rc == 0) {
		if ((rc = epoch_counts(&srv->svc, txn, &epoch, remaining, 1)) == 0 && *remaining > 0) {
			rc = VAULT_E_CONFLICT;
			fail = "records still depend on that epoch; let the rotation finish";
		} else if (rc == 0) {
			fail = "cannot delete the deterministic index entries of that epoch";
			/* The end of the rewrap re-keyed the identity counts and
			 * resealed the reasons; one of an older epoch retired
			 * during a later rotation is moved here, before its key
			 * goes. */
			size_t moved = 0, dropped = 0, resealed = 0, lost = 0;
			uint32_t cur = keyring_current(ctx->keys->ring, KEYRING_KEK);
			if ((rc = tokens_retire_epoch(ctx, txn, epoch, &det_deleted)) == 0 &&
			    (rc = identity_rekey(txn, STORE_VERIFY_IDS, ctx->keys, cur,
			    &moved, &dropped)) == 0 &&
			    (rc = reasons_reseal(txn, &srv->svc, ctx->keys, cur, &resealed, &lost)) == 0) {
				rc = store_error(store_txn_commit(txn));
				txn = NULL;
			}
		}
		if (txn != NULL && rc != 0)
			store_txn_abort(txn);
	} else {
		rc = store_error(rc);
	}
	pthread_rwlock_unlock(&srv->svc.env_lock);
	if (rc != 0) {
		*why = fail;
		return rc;
	}
	log_info("retiring epoch %u: %llu deterministic index entries deleted", epoch,
	    (unsigned long long)det_deleted);
	if ((rc = keyring_without_key(ctx->keys->ring, KEYRING_KEK, epoch, &ring, why)) != 0)
		return rc;
	/*
	 * Mark the compaction in the store before the ring without the epoch
	 * is saved: from the moment the key is gone the freed pages must go
	 * too, and a crash before the compacted copy replaced data.mdb is
	 * finished at the next start (store_compact_pending()). The copy
	 * itself carries no mark, so the rename ends it.
	 */
	pthread_rwlock_rdlock(&srv->svc.env_lock);
	rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn);
	if (rc == 0) {
		char key[32];
		snprintf(key, sizeof(key), RETIRED_AT_PREFIX "%u", epoch);
		/* When: backup_list says since when a backup needing it is unusable. */
		if ((rc = meta_put_u64(srv, txn, COMPACT_PENDING, epoch)) == 0 &&
		    (rc = meta_put_u64(srv, txn, key, (uint64_t)time(NULL))) == 0)
			rc = store_txn_commit(txn);
		else
			store_txn_abort(txn);
	}
	pthread_rwlock_unlock(&srv->svc.env_lock);
	if (rc != 0) {
		keyring_free(ring);
		*why = "cannot record the retire in the store";
		return store_error(rc);
	}
	if ((rc = publish_ring(ctx, ring, why)) != 0)
		return rc;
	log_info("retired epoch %u: its key is destroyed", epoch);
	/* Backups needing it are unusable from now: look at backup_dir again. */
	atomic_store(&srv->svc.rotation.backup_checked, 0);
	if (atomic_exchange(&srv->svc.rotation.retire_backup_failed_since, 0) != 0)
		log_info("retire of epoch %u: the backup before the retire succeeded; no retire "
		    "is refused any more", epoch);
	sdnotify_status("serving; retired epoch %u", epoch);
	if ((rc = store_compact(srv, before, after)) != 0) {
		/* The mark stays: the next start compacts (store_compact_pending()). */
		*why = "the epoch is retired, but compacting the data file failed; it is "
		    "compacted at the next start";
		return rc;
	}
	privacy_horizon_retired(ctx, epoch);
	return 0;
}

/*
 * Once per finished rotation: the records it could not rewrap (damaged,
 * or failing for another reason) keep their old epoch, and that epoch can
 * then never be retired. Say so once; keys_status names them.
 */
static void
check_blocked(struct write_ctx *ctx)
{
	struct server *srv = server_of(ctx->svc);
	struct rotation *rot = &srv->svc.rotation;
	long long done = atomic_load(&rot->last_done);
	const struct keyring *ring = ctx->keys->ring;
	uint32_t cur = keyring_current(ring, KEYRING_KEK), old[KEYRING_MAX_KEYS];
	uint64_t counts[KEYRING_MAX_KEYS], n = 0, total = 0;
	struct store_txn *txn;

	if (done == rot->seen_done || atomic_load(&rot->target) != 0)
		return;
	rot->seen_done = done;
	atomic_store(&rot->last_seconds, done - atomic_load(&rot->started) > 0 ?
	    done - atomic_load(&rot->started) : 1);
	for (size_t i = 0; i < keyring_count(ring, KEYRING_KEK); i++)
		if (keyring_version_at(ring, KEYRING_KEK, i) != cur)
			old[n++] = keyring_version_at(ring, KEYRING_KEK, i);
	pthread_rwlock_rdlock(&srv->svc.env_lock);
	if (store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn) == 0) {
		if (epoch_counts(&srv->svc, txn, old, counts, n) != 0)
			n = 0;
		store_txn_abort(txn);
	} else {
		n = 0;
	}
	pthread_rwlock_unlock(&srv->svc.env_lock);
	for (size_t i = 0; i < n; i++)
		total += counts[i];
	atomic_store(&rot->blocked, total);
	if (total > 0)
		log_error("rotation to epoch %u finished, but %llu records could not be rewrapped: "
		    "they block retiring their epochs (vaultctl keys status names them and the "
		    "command that resolves each)", cur, (unsigned long long)total);
}

/*
 * Every BACKUP_CHECK_SECONDS (or when a backup or a retire asked for it):
 * the newest backup in backup_dir that the ring can still read whole, and
 * a warning, once each time it becomes so, when none is younger than the
 * rotation interval. Trailers only (backupfile_list()). LMDB only.
 */
static void
check_backups(struct write_ctx *ctx)
{
	struct server *srv = server_of(ctx->svc);
	struct rotation *rot = &srv->svc.rotation;
	unsigned interval = srv->svc.cfg.rotation_interval_seconds;
	long long checked = atomic_load(&rot->backup_checked);
	struct backup_entry *e;
	size_t n;

	if (srv->svc.cfg.storage_backend == CONFIG_BACKEND_POSTGRESQL ||
	    (checked != 0 && ctx->now - checked < BACKUP_CHECK_SECONDS && ctx->now >= checked))
		return;
	atomic_store(&rot->backup_checked, (long long)ctx->now ? (long long)ctx->now : 1);
	/* An unreadable directory holds no usable backup either. */
	if (backupfile_list(&srv->svc.cfg, &e, &n) != 0) {
		e = NULL;
		n = 0;
	}
	long long newest = 0;
	for (size_t i = 0; i < n && newest == 0; i++) {
		uint64_t usable, lost;
		uint32_t gone;
		if (!e[i].ok)
			continue;
		backupfile_usable(e[i].bi, ctx->keys->ring, &usable, &lost, &gone);
		if (lost == 0)
			newest = (long long)e[i].bi->created;
	}
	backupfile_list_free(e, n);
	atomic_store(&rot->newest_usable_backup, newest);
	int stale = interval != 0 && (newest == 0 || ctx->now - newest > (long long)interval);
	if (stale && !atomic_exchange(&rot->backup_stale, 1))
		log_warn("no usable backup in %s is younger than the rotation interval (%u s)%s: "
		    "a disk failure now would lose data (vaultctl backup list; take one with "
		    "vaultctl backup NAME)", srv->svc.cfg.backup_dir, interval,
		    newest == 0 ? "; none can restore every record with the current key ring" : "");
	else if (!stale && atomic_exchange(&rot->backup_stale, 0))
		log_info("a usable backup younger than the rotation interval is in %s again",
		    srv->svc.cfg.backup_dir);
}

void
rotation_tick(struct write_ctx *ctx)
{
	struct server *srv = server_of(ctx->svc);
	struct rotation *rot = &srv->svc.rotation;
	long long due = atomic_load(&rot->next_due);
	const char *why;
	uint32_t v;

	if (ctx->keys == NULL)
		return;
	check_blocked(ctx);
	check_backups(ctx);
	if (rot->scheduled && atomic_load(&rot->target) == 0) {
		/* A retire refused for its backup waits for its next try. */
		if (rot->retire_retry_at_ms != 0 && clock_ms(CLOCK_MONOTONIC) < rot->retire_retry_at_ms)
			return;
		/* The scheduled rotation finished: retire every older epoch. */
		const struct keyring *ring = ctx->keys->ring;
		uint32_t cur = keyring_current(ring, KEYRING_KEK), old[KEYRING_MAX_KEYS];
		size_t n = 0;
		for (size_t i = 0; i < keyring_count(ring, KEYRING_KEK); i++)
			if (keyring_version_at(ring, KEYRING_KEK, i) != cur)
				old[n++] = keyring_version_at(ring, KEYRING_KEK, i);
		for (size_t i = 0; i < n; i++) {
			uint64_t remaining, before, after;
			int rc = keys_retire(ctx, old[i], &remaining, &before, &after, &why);
			if (rc == VAULT_E_BACKUP) {
				/* Still owed: retried with backoff (logged once, at the
				 * first refusal, by backup_before_retire()). */
				rot->retire_backoff_ms = rot->retire_backoff_ms == 0 ?
				    RETIRE_BACKUP_RETRY_MIN_MS :
				    rot->retire_backoff_ms >= RETIRE_BACKUP_RETRY_MAX_MS / 2 ?
				    RETIRE_BACKUP_RETRY_MAX_MS : rot->retire_backoff_ms * 2;
				rot->retire_retry_at_ms = clock_ms(CLOCK_MONOTONIC) + rot->retire_backoff_ms;
				return;
			}
			if (rc != 0)
				log_error("scheduled retire of epoch %u: %s", old[i], why);
		}
		rot->retire_backoff_ms = 0;
		rot->retire_retry_at_ms = 0;
		/* Given up for blocked epochs too: the next scheduled rotation
		 * tries them again; keys_status says what blocks them. */
		schedule_clear(srv);
		return;
	}
	if (due != 0 && ctx->now >= due && atomic_load(&rot->target) == 0) {
		/* Set first: keys_rotate stores it with the rotation's mark. */
		rot->scheduled = 1;
		if (keys_rotate(ctx, KEYRING_KEK, &v, &why) != 0) {
			rot->scheduled = 0;
			log_error("scheduled rotation: %s", why);
		}
		schedule_next(srv, ctx->now);
	}
	privacy_horizon_tick(ctx);
}

static uint64_t
file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/*
 * Clear the compaction mark in the copy at path (a fresh LMDB file, no lock
 * file: no one else has it open), so the file that replaces data.mdb does
 * not ask for another compaction. The commit syncs the copy.
 */
static int
copy_clear_pending(struct server *srv, const char *path)
{
	struct store copy;
	struct store_txn *txn;
	const char *why;
	int rc = store_open_file(&copy, path, srv->svc.cfg.map_size_bytes, 0, &why);
	if (rc != 0)
		return rc;
	if ((rc = store_txn_begin(&copy, NULL, 0, &txn)) == 0) {
		struct store_val k = { strlen(COMPACT_PENDING), COMPACT_PENDING };
		rc = store_del(txn, STORE_META, &k);
		if (rc == STORE_NOTFOUND)
			rc = 0;
		if (rc == 0)
			rc = store_txn_commit(txn);
		else
			store_txn_abort(txn);
		rc = store_error(rc);
	} else {
		rc = store_error(rc);
	}
	store_close(&copy);
	return rc;
}

/*
 * The compacted copy of the live env, under a unique temporary name in the
 * data directory (tmp, cap bytes), synced, without the compaction mark.
 * The caller holds env_lock for reading if workers run.
 */
static int
compact_copy(struct server *srv, char *tmp, size_t cap)
{
	char prefix[512];
	int rc;
	snprintf(prefix, sizeof(prefix), "%s/" COMPACT_TMP_PREFIX, srv->svc.cfg.data_dir);
	int fd = tmpfile_create(prefix, tmp, cap);
	if (fd < 0)
		return store_errno(errno);
	/*
	 * The copy reads a snapshot while workers keep reading; no write can
	 * happen meanwhile, since the writer is the one copying.
	 */
	rc = store_error(store_copy(&srv->svc.store, fd));
	if (rc == 0 && fsync(fd) != 0)
		rc = store_errno(errno);
	close(fd);
	if (rc == 0)
		rc = copy_clear_pending(srv, tmp);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/*
 * Put the compacted copy at tmp in place of data.mdb, with no one in the
 * env (the caller closed it), and make the rename durable.
 */
static int
compact_swap(struct server *srv, const char *tmp, const char *live)
{
	int rc = 0;
	if (rename(tmp, live) != 0) {
		rc = errno;
		log_error("compaction: cannot replace the data file: %s", strerror(errno));
		unlink(tmp);
	}
	int dfd = open(srv->svc.cfg.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return rc;
}

/*
 * A backend that reclaims in place (PostgreSQL: store_purge(), VACUUM)
 * instead of the copy and swap below; STORE_NOTFOUND if it does not. The
 * workers' kept snapshots end first, so none holds back what the retire
 * deleted; the mark is cleared once the purge is done. A vault error.
 */
static int
purge_in_place(struct server *srv, uint64_t *before, uint64_t *after)
{
	struct store_txn *txn;
	if (!store_purges(&srv->svc.store))
		return STORE_NOTFOUND;
	pthread_rwlock_wrlock(&srv->svc.env_lock);
	for (unsigned i = 0; i < srv->nworkers; i++)
		worker_drop_txn(srv->workers[i]);
	pthread_rwlock_unlock(&srv->svc.env_lock);
	int rc = store_purge(&srv->svc.store, before, after);
	if (rc == 0 && (rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn)) == 0) {
		if ((rc = meta_del(srv, txn, COMPACT_PENDING)) == 0)
			rc = store_txn_commit(txn);
		else
			store_txn_abort(txn);
	}
	if (rc != 0) {
		log_error("compaction: purging the store failed: %s", store_strerror(rc));
		return store_error(rc);
	}
	log_info("compacted the store in place (%s): %llu -> %llu bytes",
	    srv->svc.store.m->name, (unsigned long long)*before, (unsigned long long)*after);
	return 0;
}

int
store_compact(struct server *srv, uint64_t *before, uint64_t *after)
{
	char live[512], tmp[600];
	const char *why;
	int rc;

	if ((rc = purge_in_place(srv, before, after)) != STORE_NOTFOUND)
		return rc;

	snprintf(live, sizeof(live), "%s/data.mdb", srv->svc.cfg.data_dir);
	*before = file_size(live);
	pthread_rwlock_rdlock(&srv->svc.env_lock);
	rc = compact_copy(srv, tmp, sizeof(tmp));
	pthread_rwlock_unlock(&srv->svc.env_lock);
	if (rc != 0) {
		log_error("compaction: %s", vault_strerror(rc));
		return rc;
	}

	/* Swap files with every reader out of the env. */
	pthread_rwlock_wrlock(&srv->svc.env_lock);
	for (unsigned i = 0; i < srv->nworkers; i++)
		worker_drop_txn(srv->workers[i]);
	store_close(&srv->svc.store);
	int swapped = compact_swap(srv, tmp, live);
	rc = store_open(&srv->svc.store, srv->svc.cfg.data_dir, srv->svc.cfg.map_size_bytes,
	    srv->svc.cfg.max_connections + 64, &why);
	atomic_fetch_add(&srv->svc.env_gen, 1);
	pthread_rwlock_unlock(&srv->svc.env_lock);
	if (rc != 0) {
		/* Nothing can be served without the store: stop hard. */
		log_error("compaction: cannot reopen the data file: %s", why);
		abort();
	}
	*after = file_size(live);
	if (swapped != 0)
		return store_errno(swapped);
	log_info("compacted the data file: %llu -> %llu bytes",
	    (unsigned long long)*before, (unsigned long long)*after);
	return 0;
}

int
store_compact_pending(struct server *srv)
{
	char live[512], tmp[600];
	uint64_t epoch = 0;
	const char *why;
	struct store_txn *txn;
	int rc = store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn);
	if (rc != 0)
		return store_error(rc);
	rc = meta_get_u64(srv, txn, COMPACT_PENDING, &epoch);
	store_txn_abort(txn);
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_error(rc);
	if (store_purges(&srv->svc.store)) {
		uint64_t pbefore, pafter;
		log_warn("purging the store before serving: the retire of epoch %llu was "
		    "interrupted before its purge", (unsigned long long)epoch);
		return purge_in_place(srv, &pbefore, &pafter);
	}
	log_warn("compacting the data file before serving: the retire of epoch %llu was "
	    "interrupted before its compaction", (unsigned long long)epoch);
	snprintf(live, sizeof(live), "%s/data.mdb", srv->svc.cfg.data_dir);
	sdnotify_extend_for_file(live, "compacting the data file before serving");
	uint64_t before = file_size(live);
	if ((rc = compact_copy(srv, tmp, sizeof(tmp))) != 0) {
		log_error("compaction: %s", vault_strerror(rc));
		return rc;
	}
	store_close(&srv->svc.store);
	int swapped = compact_swap(srv, tmp, live);
	if ((rc = store_open(&srv->svc.store, srv->svc.cfg.data_dir, srv->svc.cfg.map_size_bytes,
	    srv->svc.cfg.max_connections + 64, &why)) != 0) {
		log_error("compaction: cannot reopen the data file: %s", why);
		return rc;
	}
	if (swapped != 0)
		return store_errno(swapped);
	log_info("compacted the data file: %llu -> %llu bytes; the retire of epoch %llu "
	    "is complete", (unsigned long long)before, (unsigned long long)file_size(live),
	    (unsigned long long)epoch);
	return 0;
}
