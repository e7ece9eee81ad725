/*
 * restore.c - restoring a backup (see restore.h). Deletion reuses the
 * delete operation itself, so a restore removes exactly what a delete
 * removes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "backupfile.h"
#include "config.h"
#include "crypto/seal.h"
#include "journal.h"
#include "keys/keyring.h"
#include "keyset.h"
#include "log.h"
#include "ops/op.h"
#include "privacy/blind.h"
#include "record/access.h"
#include "record/delete.h"
#include "record/tokens.h"
#include "record/write.h"
#include "restore.h"
#include "store/commitlog.h"
#include "restore_take.h"
#include "server.h"
#include "store/record_codec.h"

/* Copy the first n bytes of from to a new file to, and check what was
 * copied against hash (the backup could change between check and copy). */
static int
copy_checked(const char *from, const char *to, uint64_t n, const uint8_t *hash)
{
	int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out = -1, rc = VAULT_E_IO;
	uint8_t *buf = malloc(1 << 16), h[BACKUP_HASH_BYTES];
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, BACKUP_HASH_BYTES);
	if (in < 0 || buf == NULL)
		goto done;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		goto done;
	for (uint64_t off = 0; off < n;) {
		size_t want = n - off < (1 << 16) ? (size_t)(n - off) : (1 << 16);
		ssize_t r = read(in, buf, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto done;
		crypto_generichash_update(&st, buf, (size_t)r);
		for (ssize_t w = 0; w < r;) {
			ssize_t k = write(out, buf + w, (size_t)(r - w));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				goto done;
			w += k;
		}
		off += (uint64_t)r;
	}
	crypto_generichash_final(&st, h, sizeof(h));
	if (sodium_memcmp(h, hash, BACKUP_HASH_BYTES) != 0) {
		rc = VAULT_E_STORAGE;
		goto done;
	}
	rc = fsync(out) == 0 ? 0 : VAULT_E_IO;
done:
	free(buf);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* Delete id in the restored store the way the delete operation does. */
static int
purge(struct write_ctx *ctx, uint64_t id, uint8_t reason, uint64_t when)
{
	struct op_error err = { 0 };
	struct store_txn *parent = ctx->txn, *child;
	int rc = store_txn_begin(&ctx->svc->store, parent, 0, &child);
	if (rc != 0)
		return store_error(rc);
	ctx->txn = child;
	ctx->now = (time_t)when;
	rc = record_delete(ctx, id, reason, &err);
	ctx->txn = parent;
	if (rc == 0)
		return store_txn_commit(child) == 0 ? 0 : VAULT_E_STORAGE;
	store_txn_abort(child);
	if (rc == VAULT_E_NOT_FOUND) {
		/* Never in the backup: a tombstone still makes its tokens say so. */
		uint8_t kb[8], tb[TOMBSTONE_BYTES];
		struct tombstone t = { reason, when };
		store_put_id(kb, id);
		tombstone_encode(&t, tb);
		struct store_val k = { 8, kb }, v = { sizeof(tb), tb };
		return store_put(parent, STORE_TOMBSTONES, &k, &v, 0) == 0 ? 0 :
		    VAULT_E_STORAGE;
	}
	return rc == VAULT_E_DELETED ? 0 : rc;
}

struct live {
	struct store store;
	struct store_txn *txn;
	int open;
};

/* The live record id, if the live store can read it: it passes its MAC
 * (record_check()) and its epoch is in the ring. */
static int
live_readable(struct live *l, const struct key_set *ks, uint64_t id, struct record *out)
{
	uint8_t kb[8];
	struct store_val k = { 8, kb }, v;
	if (!l->open)
		return 0;
	store_put_id(kb, id);
	if (store_get(l->txn, STORE_RECORDS, &k, &v) != 0 ||
	    record_decode(v.data, v.len, out) != 0)
		return 0;
	if (keyring_key(ks->ring, KEYRING_KEK, out->kek_epoch) == NULL)
		return 0;
	if (record_check(NULL, ks, id, v.data, v.len) != 0) {
		log_warn("restore: live record %llu failed its authentication; it is not used",
		    (unsigned long long)id);
		return 0;
	}
	return 1;
}

static int
has(struct store_txn *txn, enum store_table dbi, uint64_t id)
{
	uint8_t kb[8];
	struct store_val k = { 8, kb }, v;
	store_put_id(kb, id);
	return store_get(txn, dbi, &k, &v) == 0;
}

/* Remove DATA_DIR/restore and what it holds. */
static void
remove_restore_dir(const char *dir)
{
	char f[600];
	snprintf(f, sizeof(f), "%s/data.mdb", dir);
	unlink(f);
	snprintf(f, sizeof(f), "%s/lock.mdb", dir);
	unlink(f);
	snprintf(f, sizeof(f), "%s/" COMMITLOG_NAME, dir);
	unlink(f);
	rmdir(dir);
}

/* Can the journal be trusted for this restore? Logs why not. */
static int
journal_usable(const char *path, const struct journal_scan *sc, int rc, int have_live)
{
	switch (sc->state) {
	case JOURNAL_OK:
		return 1;
	case JOURNAL_TORN:
		/* Everything a torn append held is in the live tombstones too. */
		if (have_live) {
			log_warn("restore: the deletion journal %s has a torn tail of %zu bytes "
			    "(an interrupted append); the live store's tombstones cover it",
			    path, sc->tail_bytes);
			return 1;
		}
		log_error("restore refused: the deletion journal %s has a torn tail and there "
		    "is no live data file whose tombstones would cover it; deletions since "
		    "the backup could come back", path);
		return 0;
	case JOURNAL_MISSING:
		log_error("restore refused: the deletion journal %s is missing; without it "
		    "deletions since the backup could come back. If the live data file is "
		    "there, start vaultd once (it rebuilds the journal from the store's "
		    "tombstones), stop it and restore again", path);
		return 0;
	case JOURNAL_DAMAGED:
		log_error("restore refused: the deletion journal %s is damaged at byte %lld "
		    "(an entry fails its check and valid entries follow); it cannot say "
		    "which records were deleted. Nothing was changed", path,
		    (long long)sc->bad_at);
		return 0;
	default:
		log_error("restore refused: the deletion journal %s is %s (%s). Nothing was "
		    "changed", path, journal_state_text(sc->state), vault_strerror(rc));
		return 0;
	}
}

/*
 * One line per phase on stderr, with its counts, when stderr is a terminal
 * (an admin watching a long restore); a pipe, a file or the journal gets
 * none: the summary on stdout and the log say what happened.
 */
static void
phase(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
phase(const char *fmt, ...)
{
	static int tty = -1;
	va_list ap;

	if (tty < 0)
		tty = isatty(STDERR_FILENO);
	if (!tty)
		return;
	va_start(ap, fmt);
	fputs("restore: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stderr);
}

/*
 * Before anything is touched: how many of the backup's records the current
 * ring can decrypt (*ring_ok), how many only with the live store's data
 * key (*via_live, a retired epoch with the record still live), and how
 * many not at all (*none); the missing epochs go into gone (up to 8).
 */
static int
preview(const char *path, const struct key_set *ks, struct live *live, uint64_t *ring_ok,
    uint64_t *via_live, uint64_t *none, uint32_t *gone, size_t *ngone)
{
	struct store copy;
	struct store_txn *txn;
	struct store_cursor *cur;
	struct store_val k, v;
	const char *why;
	int rc;
	*ring_ok = *via_live = *none = 0;
	*ngone = 0;
	if (store_open_file(&copy, path, 0, STORE_FILE_RDONLY, &why) != 0)
		return VAULT_E_STORAGE;
	if ((rc = store_txn_begin(&copy, NULL, STORE_RDONLY, &txn)) != 0) {
		store_close(&copy);
		return store_error(rc);
	}
	uint32_t current = keyring_current(ks->ring, KEYRING_KEK);
	if (store_cursor_open(txn, STORE_RECORDS, &cur) == 0) {
		for (int g = store_cursor_get(cur, &k, &v, STORE_FIRST); g == 0;
		    g = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
			struct record r, lr;
			if (record_decode(v.data, v.len, &r) != 0) {
				(*none)++;
				continue;
			}
			if (keyring_key(ks->ring, KEYRING_KEK, r.kek_epoch) != NULL) {
				(*ring_ok)++;
				continue;
			}
			size_t i;
			for (i = 0; i < *ngone && gone[i] != r.kek_epoch; i++)
				;
			if (i == *ngone && *ngone < 8)
				gone[(*ngone)++] = r.kek_epoch;
			if (r.kek_epoch != 0 && r.kek_epoch < current &&
			    live_readable(live, ks, store_get_id(k.data), &lr) &&
			    lr.dek_version == r.dek_version)
				(*via_live)++;
			else
				(*none)++;
		}
		store_cursor_close(cur);
	}
	store_txn_abort(txn);
	store_close(&copy);
	return 0;
}

int
restore_backup(struct server *srv, const char *path, int force)
{
	const struct config *cfg = &srv->svc.cfg;
	const struct key_set *ks;
	char dir[512], tmpfile[600], live_file[512], aside[600];
	struct journal_entry *journal = NULL;
	struct journal_scan jsc;
	size_t njournal = 0;
	struct live live = { 0 };
	struct write_ctx ctx = { 0 };
	struct backup_info *bi = calloc(1, sizeof(*bi));
	struct idset take = { 0 };
	uint64_t next_id = 1, live_next = 1, inbackup = 0, restored = 0, rekeyed = 0;
	uint64_t from_live = 0, live_only = 0, del_journal = 0, del_tomb = 0, beyond = 0;
	uint64_t damaged = 0;
	const char *why;
	int rc, store_opened = 0;

	snprintf(dir, sizeof(dir), "%s/restore", cfg->data_dir);
	snprintf(tmpfile, sizeof(tmpfile), "%s/data.mdb", dir);
	snprintf(live_file, sizeof(live_file), "%s/data.mdb", cfg->data_dir);
	if (bi == NULL)
		return VAULT_E_NOMEM;
	/* 0. Nothing is touched before the backup, the journal and the live
	 * store are known good. No vaultd runs on this data: main() holds the
	 * data directory's lock (datalock.h). */
	phase("checking the backup %s", path);
	if ((rc = backupfile_verify(path, bi, &why)) != 0) {
		log_error("restore refused: %s is not a complete vault backup: %s. Nothing "
		    "was changed", path, why);
		free(bi);
		return rc;
	}
	if (access(live_file, F_OK) == 0) {
		if ((rc = store_open(&live.store, cfg->data_dir, cfg->map_size_bytes, 8, &why)) != 0) {
			log_error("restore refused: the live data file %s cannot be opened (%s), so "
			    "its deletions cannot be applied. Move it aside to restore without it. "
			    "Nothing was changed", live_file, why);
			free(bi);
			return rc;
		}
		if ((rc = store_txn_begin(&live.store, NULL, STORE_RDONLY, &live.txn)) != 0) {
			store_close(&live.store);
			free(bi);
			return store_error(rc);
		}
		live.open = 1;
		store_next_id(live.txn, &live_next);
	}
	rc = journal_read(cfg->deletion_journal_path, &journal, &njournal, &jsc);
	if (!journal_usable(cfg->deletion_journal_path, &jsc, rc, live.open)) {
		rc = rc ? rc : VAULT_E_CONFIG;
		if (live.open) {
			store_txn_abort(live.txn);
			store_close(&live.store);
		}
		free(journal);
		free(bi);
		return rc;
	}
	/* Offline and single-threaded, but keys are only ever read pinned. */
	ks = key_set_acquire(&srv->svc);
	/* What the backup is worth with this ring, said before anything is
	 * touched; one that can restore nothing needs --force. */
	uint64_t can = 0, via = 0, cannot = 0;
	uint32_t pgone[8];
	size_t npgone = 0;
	if ((rc = preview(path, ks, &live, &can, &via, &cannot, pgone, &npgone)) != 0) {
		log_error("restore refused: %s cannot be opened read-only. Nothing was changed",
		    path);
		goto out;
	}
	char epochs[96] = "";
	for (size_t i = 0; i < npgone; i++)
		snprintf(epochs + strlen(epochs), sizeof(epochs) - strlen(epochs), "%s%u",
		    i ? ", " : "", pgone[i]);
	printf("backup %s holds %llu records: %llu can be decrypted with the current key ring, "
	    "%llu only with the live data file's data keys, %llu cannot be decrypted%s%s%s\n",
	    path, (unsigned long long)bi->records, (unsigned long long)can,
	    (unsigned long long)via, (unsigned long long)cannot,
	    npgone ? " (they need retired key epochs: " : "", epochs, npgone ? ")" : "");
	fflush(stdout);
	if (bi->records > 0 && can + via == 0) {
		if (!force) {
			log_error("restore refused (VAULT_E_BACKUP): %s can restore none of its %llu "
			    "records: the key epochs they need (%s) were retired and %s. A "
			    "newer backup (vaultctl backup list) may; --force restores it anyway, "
			    "deleting its records as beyond the erasure horizon. Nothing was changed",
			    path, (unsigned long long)bi->records, epochs,
			    live.open ? "the live data file holds none of them" :
			    "there is no live data file to take their keys from");
			rc = VAULT_E_BACKUP;
			goto out;
		}
		log_warn("restore: --force: restoring %s, which can restore none of its %llu "
		    "records", path, (unsigned long long)bi->records);
	}
	remove_restore_dir(dir); /* what an interrupted restore left */
	if (mkdir(dir, 0700) != 0) {
		rc = VAULT_E_IO;
		goto out;
	}
	phase("copying the backup (%llu bytes)", (unsigned long long)bi->data_size);
	if ((rc = copy_checked(path, tmpfile, bi->data_size, bi->hash)) != 0) {
		log_error("restore: cannot copy %s (%s)", path,
		    rc == VAULT_E_STORAGE ? "it changed since it was checked" : strerror(errno));
		goto out;
	}
	if ((rc = store_open(&srv->svc.store, dir, cfg->map_size_bytes, 8, &why)) != 0) {
		log_error("restore: %s is not a vault backup: %s", path, why);
		goto out;
	}
	store_opened = 1;

	ctx.svc = &srv->svc;
	ctx.keys = ks;
	ctx.next_id = &next_id;
	ctx.dek = sodium_malloc(DEK_BYTES);
	if (ctx.dek == NULL || (rc = store_txn_begin(&srv->svc.store, NULL, 0, &ctx.txn)) != 0) {
		rc = rc ? store_error(rc) : VAULT_E_NOMEM;
		goto out;
	}
	store_next_id(ctx.txn, &next_id);

	/* 1. Deletions since the backup: the journal and the live tombstones. */
	phase("1/5 applying the deletions since the backup (%zu journal entries%s)",
	    njournal, live.open ? ", the live tombstones" : "");
	for (size_t i = 0; i < njournal && rc == 0; i++) {
		/* A live record without a tombstone: the entry's deletion was
		 * never committed (a crash while it was; writer_flush.c), and
		 * never acknowledged. vaultd's next start cuts such entries. */
		if (live.open && has(live.txn, STORE_RECORDS, journal[i].id) &&
		    !has(live.txn, STORE_TOMBSTONES, journal[i].id))
			continue;
		if (has(ctx.txn, STORE_RECORDS, journal[i].id))
			del_journal++;
		rc = purge(&ctx, journal[i].id, VAULT_DELETE_SUBJECT_REQUEST, journal[i].time);
	}
	if (live.open && rc == 0) {
		struct store_cursor *cur;
		struct store_val k, v;
		store_cursor_open(live.txn, STORE_TOMBSTONES, &cur);
		for (int g = store_cursor_get(cur, &k, &v, STORE_FIRST); g == 0 && rc == 0;
		    g = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
			struct tombstone t;
			if (tombstone_decode(v.data, v.len, &t) != 0)
				continue;
			if (has(ctx.txn, STORE_RECORDS, store_get_id(k.data)))
				del_tomb++;
			rc = purge(&ctx, store_get_id(k.data), t.reason, t.deleted_at);
		}
		store_cursor_close(cur);
	}

	/* 2. The backup's records: its copy, its copy with the live key, the
	 * live record, or beyond the horizon. */
	uint64_t *gone = NULL;
	size_t ngone = 0, capgone = 0;
	if (rc == 0)
		phase("1/5 done: %llu re-deleted by the journal, %llu by a live tombstone; "
		    "2/5 examining the backup's records", (unsigned long long)del_journal,
		    (unsigned long long)del_tomb);
	if (rc == 0) {
		struct store_cursor *cur;
		struct store_val k, v;
		store_cursor_open(ctx.txn, STORE_RECORDS, &cur);
		for (int g = store_cursor_get(cur, &k, &v, STORE_FIRST); g == 0 && rc == 0;
		    g = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
			uint64_t id = store_get_id(k.data);
			struct record r, lr;
			buf_clear(&ctx.copy);
			inbackup++;
			if (buf_append(&ctx.copy, v.data, v.len) != 0) {
				rc = VAULT_E_NOMEM;
				break;
			}
			int decoded = record_decode(ctx.copy.data, ctx.copy.len, &r) == 0;
			int ring = decoded && keyring_key(ks->ring, KEYRING_KEK, r.kek_epoch) != NULL;
			if (ring && record_check(NULL, ks, id, ctx.copy.data, ctx.copy.len) == 0) {
				restored++;
				continue;
			}
			int live_ok = live_readable(&live, ks, id, &lr);
			/* Only an epoch that was issued and has since been retired
			 * (older than the current one) is taken unverified with the
			 * live wrapped key: an epoch no ring ever had is a header
			 * made up to have it re-sealed. */
			if (decoded && !ring && live_ok && r.kek_epoch != 0 &&
			    r.kek_epoch < keyring_current(ks->ring, KEYRING_KEK) &&
			    lr.dek_version == r.dek_version) {
				/* The backup's copy cannot be verified (its epoch's
				 * MAC key went with the epoch): it is taken as the
				 * backup holds it and sealed under the live epoch
				 * (SECURITY.md, "Stored records"). */
				memcpy(r.wrapped_dek, lr.wrapped_dek, WRAPPED_DEK_BYTES);
				uint32_t old_epoch = r.kek_epoch;
				r.kek_epoch = lr.kek_epoch;
				/* Its card index entry and blind tags were keyed under
				 * the retired epoch: re-key them under the live one,
				 * and drop det entries of retired epochs (record/tokens.h,
				 * privacy/blind.h). */
				struct blind_keys bfrom = { ctx.dek, r.dek_version, old_epoch };
				struct blind_keys bto = { ctx.dek, r.dek_version, r.kek_epoch };
				if (record_unwrap(ks, id, &r, ctx.dek) != 0 ||
				    tokens_rekey(&ctx, id, &r, ctx.dek, r.kek_epoch) != 0)
					log_warn("restore: record %llu: its token index entries "
					    "could not be re-keyed", (unsigned long long)id);
				else
					rc = blind_rewrap(&ctx, id, &bfrom, &bto);
				sodium_memzero(ctx.dek, DEK_BYTES);
				if (rc != 0)
					break;
				buf_clear(&ctx.enc);
				if ((rc = record_encode(&r, id, key_set_record_mac_key(ks,
				    r.kek_epoch), &ctx.enc)) == 0) {
					/* The size may change (det entries dropped). */
					struct store_val nv = { ctx.enc.len, ctx.enc.data };
					rc = store_cursor_put(cur, &nv) == 0 ? 0 : VAULT_E_STORAGE;
				}
				rekeyed++;
				continue;
			}
			if (live_ok) {
				/* A new data key since (keys rotate-record): the live
				 * record is readable, so it is what comes back. */
				rc = idset_add(&take, id);
				from_live++;
				continue;
			}
			if (ring) {
				/* Fails its MAC under a live epoch: kept as it is (reads
				 * report it), not deleted on a suspicion. */
				damaged++;
				continue;
			}
			if (ngone == capgone) {
				capgone = capgone ? capgone * 2 : 256;
				uint64_t *p = realloc(gone, capgone * sizeof(*p));
				if (p == NULL) {
					rc = VAULT_E_NOMEM;
					break;
				}
				gone = p;
			}
			gone[ngone++] = id;
		}
		store_cursor_close(cur);
	}
	for (size_t i = 0; i < ngone && rc == 0; i++) {
		rc = purge(&ctx, gone[i], VAULT_DELETE_RETENTION, (uint64_t)time(NULL));
		beyond++;
	}
	free(gone);

	/* 3. Records only the live store has (created since the backup) stay. */
	if (rc == 0)
		phase("2/5 done: %llu records examined, %llu restored, %llu re-keyed, "
		    "%llu beyond the horizon; 3/5 taking the live store's records",
		    (unsigned long long)inbackup, (unsigned long long)restored,
		    (unsigned long long)rekeyed, (unsigned long long)beyond);
	if (live.open && rc == 0) {
		struct store_cursor *cur;
		struct store_val k, v;
		store_cursor_open(live.txn, STORE_RECORDS, &cur);
		for (int g = store_cursor_get(cur, &k, &v, STORE_FIRST); g == 0 && rc == 0;
		    g = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
			uint64_t id = store_get_id(k.data);
			if (has(ctx.txn, STORE_RECORDS, id) ||
			    has(ctx.txn, STORE_TOMBSTONES, id))
				continue;
			rc = idset_add(&take, id);
			live_only++;
		}
		store_cursor_close(cur);
	}
	if (rc == 0 && take.n > 0)
		rc = restore_take_live(ctx.txn, live.txn, &take);

	/* 4. Ids continue after every id handed out, in the backup or since. */
	if (rc == 0)
		phase("3/5 done: %zu records from the live store; 4/5 committing", take.n);
	if (rc == 0) {
		uint8_t b[8];
		store_put_id(b, next_id > live_next ? next_id : live_next);
		struct store_val k = { 7, "next_id" }, v = { 8, b };
		rc = store_put(ctx.txn, STORE_META, &k, &v, 0) == 0 ? 0 : VAULT_E_STORAGE;
	}
	if (rc == 0)
		rc = store_txn_commit(ctx.txn) == 0 ? 0 : VAULT_E_STORAGE;
	else
		store_txn_abort(ctx.txn);
	ctx.txn = NULL;
	if (live.open) {
		store_txn_abort(live.txn);
		store_close(&live.store);
		live.open = 0;
	}
	store_close(&srv->svc.store);
	store_opened = 0;
	if (rc != 0)
		goto out;

	/* 5. Swap files, keeping the live one aside until the next retire. */
	phase("5/5 swapping the data files");
	aside[0] = '\0';
	if (access(live_file, F_OK) == 0) {
		for (int i = 0;; i++) {
			snprintf(aside, sizeof(aside), "%s/" PRE_RESTORE "%lld%s%.0d", cfg->data_dir,
			    (long long)time(NULL), i ? "-" : "", i);
			if (renameat2(AT_FDCWD, live_file, AT_FDCWD, aside, RENAME_NOREPLACE) == 0)
				break;
			if (errno != EEXIST || i == 99) {
				rc = VAULT_E_IO;
				goto out;
			}
		}
	}
	if (rename(tmpfile, live_file) != 0) {
		/* Put the live file back: nothing changed. */
		if (aside[0] != '\0')
			rename(aside, live_file);
		rc = VAULT_E_IO;
		goto out;
	}
	int dfd = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	char when[32] = "?";
	time_t created = (time_t)bi->created;
	struct tm tm;
	if (gmtime_r(&created, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("restored %s (taken %s, %llu records):\n"
	    "  %llu restored from the backup\n"
	    "  %llu restored from the backup with the live store's data key\n"
	    "  %llu taken from the live store (the backup's copy cannot be read)\n"
	    "  %llu kept live-only (created since the backup)\n"
	    "  %llu re-deleted by the deletion journal\n"
	    "  %llu re-deleted by a live tombstone\n"
	    "  %llu beyond the erasure horizon (deleted: no copy can be read)\n"
	    "  %llu kept as they are though they fail their MAC\n",
	    path, when, (unsigned long long)inbackup,
	    (unsigned long long)restored, (unsigned long long)rekeyed,
	    (unsigned long long)from_live, (unsigned long long)live_only,
	    (unsigned long long)del_journal, (unsigned long long)del_tomb,
	    (unsigned long long)beyond, (unsigned long long)damaged);
	if (aside[0] != '\0')
		printf("the previous data file is kept as %s until the next successful "
		    "`keys retire`, which removes it\n", aside);
out:
	if (rc != 0)
		log_error("restore failed: %s; the live data file is untouched",
		    vault_strerror(rc));
	if (ctx.txn != NULL)
		store_txn_abort(ctx.txn);
	if (live.open) {
		store_txn_abort(live.txn);
		store_close(&live.store);
	}
	if (store_opened)
		store_close(&srv->svc.store);
	if (rc != 0)
		unlink(tmpfile);
	remove_restore_dir(dir);
	buf_free(&ctx.copy);
	buf_free(&ctx.enc);
	buf_free(&ctx.ct);
	buf_free(&ctx.doc);
	free(ctx.deleted);
	free(take.v);
	free(bi);
	sodium_free(ctx.dek);
	free(journal);
	key_set_release();
	return rc;
}
