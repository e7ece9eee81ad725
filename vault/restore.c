/*
 * restore.c - restoring a backup (see restore.h). Deletion reuses the
 * delete operation itself, so a restore removes exactly what a delete
 * removes.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "crypto/seal.h"
#include "journal.h"
#include "keys/keyring.h"
#include "keyset.h"
#include "log.h"
#include "ops/issue.h"
#include "ops/op.h"
#include "privacy/blind.h"
#include "record/access.h"
#include "record/write.h"
#include "restore.h"
#include "server.h"
#include "store/record_codec.h"

static int
copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = VAULT_E_IO;
	char buf[1 << 16];
	if (in < 0)
		return VAULT_E_IO;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		goto done;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto done;
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w <= 0)
				goto done;
			off += w;
		}
	}
	rc = fsync(out) == 0 ? 0 : VAULT_E_IO;
done:
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
	MDB_txn *parent = ctx->txn, *child;
	int rc = mdb_txn_begin(ctx->srv->store.env, parent, 0, &child);
	if (rc != 0)
		return store_error(rc);
	ctx->txn = child;
	ctx->now = (time_t)when;
	rc = op_delete_record(ctx, id, reason, &err);
	ctx->txn = parent;
	if (rc == 0)
		return mdb_txn_commit(child) == 0 ? 0 : VAULT_E_STORAGE;
	mdb_txn_abort(child);
	if (rc == VAULT_E_NOT_FOUND) {
		/* Never in the backup: a tombstone still makes its tokens say so. */
		uint8_t kb[8], tb[TOMBSTONE_BYTES];
		struct tombstone t = { reason, when };
		store_put_id(kb, id);
		tombstone_encode(&t, tb);
		MDB_val k = { 8, kb }, v = { sizeof(tb), tb };
		return mdb_put(parent, ctx->srv->store.tombstones, &k, &v, 0) == 0 ? 0 :
		    VAULT_E_STORAGE;
	}
	return rc == VAULT_E_DELETED ? 0 : rc;
}

struct live {
	struct store store;
	MDB_txn *txn;
	int open;
};

/* The live store's wrapped key for id, if it has the same data key and
 * passes its MAC (record_check()). */
static int
live_wrapped(struct live *l, const struct key_set *ks, uint64_t id,
    uint32_t dek_version, struct record *out)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	if (!l->open)
		return 0;
	store_put_id(kb, id);
	if (mdb_get(l->txn, l->store.records, &k, &v) != 0 ||
	    record_decode(v.mv_data, v.mv_size, out) != 0)
		return 0;
	if (record_check(NULL, ks, id, v.mv_data, v.mv_size) != 0) {
		log_warn("restore: live record %llu failed its authentication; its key "
		    "is not used", (unsigned long long)id);
		return 0;
	}
	return out->dek_version == dek_version &&
	    keyring_key(ks->ring, KEYRING_KEK, out->kek_epoch) != NULL;
}

int
restore_backup(struct server *srv, const char *path)
{
	const struct config *cfg = &srv->cfg;
	const struct key_set *ks;
	char dir[512], tmpfile[600], live_file[512], aside[600];
	struct journal_entry *journal = NULL;
	size_t njournal = 0;
	struct live live = { 0 };
	struct write_ctx ctx = { 0 };
	uint64_t next_id = 1, live_next = 1, kept = 0, deleted = 0, beyond = 0, rekeyed = 0;
	const char *why;
	int rc;

	/* No vaultd runs on this data: main() holds the data directory's lock
	 * (datalock.h), which a running vaultd would hold instead. */
	if ((rc = journal_read(cfg->deletion_journal_path, &journal, &njournal)) != 0) {
		log_error("restore: cannot read the deletion journal %s", cfg->deletion_journal_path);
		return rc;
	}
	/* Offline and single-threaded, but keys are only ever read pinned. */
	ks = key_set_acquire(srv);
	snprintf(dir, sizeof(dir), "%s/restore", cfg->data_dir);
	snprintf(tmpfile, sizeof(tmpfile), "%s/data.mdb", dir);
	snprintf(live_file, sizeof(live_file), "%s/data.mdb", cfg->data_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		rc = VAULT_E_IO;
		goto out;
	}
	unlink(tmpfile);
	snprintf(aside, sizeof(aside), "%s/lock.mdb", dir);
	unlink(aside);
	if ((rc = copy_file(path, tmpfile)) != 0) {
		log_error("restore: cannot copy %s: %s", path, strerror(errno));
		goto out;
	}
	if ((rc = store_open(&srv->store, dir, cfg->map_size_bytes, 8, &why)) != 0) {
		log_error("restore: %s is not a vault backup: %s", path, why);
		goto out;
	}
	if (access(live_file, F_OK) == 0) {
		if (store_open(&live.store, cfg->data_dir, cfg->map_size_bytes, 8, &why) == 0 &&
		    mdb_txn_begin(live.store.env, NULL, MDB_RDONLY, &live.txn) == 0) {
			live.open = 1;
			store_next_id(&live.store, live.txn, &live_next);
		}
	}

	ctx.srv = srv;
	ctx.keys = ks;
	ctx.next_id = &next_id;
	ctx.dek = sodium_malloc(DEK_BYTES);
	if (ctx.dek == NULL || (rc = mdb_txn_begin(srv->store.env, NULL, 0, &ctx.txn)) != 0) {
		rc = rc ? store_error(rc) : VAULT_E_NOMEM;
		goto out;
	}
	store_next_id(&srv->store, ctx.txn, &next_id);

	/* 1. Deletions since the backup: the journal and the live tombstones. */
	for (size_t i = 0; i < njournal && rc == 0; i++) {
		rc = purge(&ctx, journal[i].id, VAULT_DELETE_SUBJECT_REQUEST, journal[i].time);
		deleted++;
	}
	if (live.open && rc == 0) {
		MDB_cursor *cur;
		MDB_val k, v;
		mdb_cursor_open(live.txn, live.store.tombstones, &cur);
		for (int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0 && rc == 0;
		    g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct tombstone t;
			if (tombstone_decode(v.mv_data, v.mv_size, &t) != 0)
				continue;
			rc = purge(&ctx, store_get_id(k.mv_data), t.reason, t.deleted_at);
		}
		mdb_cursor_close(cur);
	}

	/* 2. Records whose epoch was retired since the backup. */
	uint64_t *gone = NULL;
	size_t ngone = 0, capgone = 0;
	if (rc == 0) {
		MDB_cursor *cur;
		MDB_val k, v;
		mdb_cursor_open(ctx.txn, srv->store.records, &cur);
		for (int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0 && rc == 0;
		    g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			uint64_t id = store_get_id(k.mv_data);
			struct record r, lr;
			buf_clear(&ctx.copy);
			if (buf_append(&ctx.copy, v.mv_data, v.mv_size) != 0 ||
			    record_decode(ctx.copy.data, ctx.copy.len, &r) != 0)
				continue;
			kept++;
			if (keyring_key(ks->ring, KEYRING_KEK, r.kek_epoch) != NULL)
				continue;
			/* Only an epoch that was issued and has since been retired
			 * (older than the current one) is taken unverified: an
			 * epoch no ring ever had is a header made up to have it
			 * re-sealed, and the record is dropped like one beyond
			 * the horizon. */
			if (r.kek_epoch != 0 &&
			    r.kek_epoch < keyring_current(ks->ring, KEYRING_KEK) &&
			    live_wrapped(&live, ks, id, r.dek_version, &lr)) {
				/* The backup's copy cannot be verified (its epoch's
				 * MAC key went with the epoch): it is taken as the
				 * backup holds it and sealed under the live epoch
				 * (SECURITY.md, "Stored records"). */
				memcpy(r.wrapped_dek, lr.wrapped_dek, WRAPPED_DEK_BYTES);
				uint32_t old_epoch = r.kek_epoch;
				r.kek_epoch = lr.kek_epoch;
				/* Its card index entry and blind tags were keyed under
				 * the retired epoch: re-key them under the live one,
				 * and drop det entries of retired epochs (issue.h,
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
					/* The size may change (det entries dropped):
					 * the key must not point into the page. */
					uint8_t kb[8];
					memcpy(kb, k.mv_data, sizeof(kb));
					MDB_val nk = { sizeof(kb), kb }, nv = { ctx.enc.len, ctx.enc.data };
					rc = mdb_cursor_put(cur, &nk, &nv, MDB_CURRENT) == 0 ? 0 :
					    VAULT_E_STORAGE;
				}
				rekeyed++;
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
		mdb_cursor_close(cur);
	}
	for (size_t i = 0; i < ngone && rc == 0; i++) {
		rc = purge(&ctx, gone[i], VAULT_DELETE_RETENTION, (uint64_t)time(NULL));
		beyond++;
	}
	free(gone);

	/* 3. Ids continue after every id handed out, in the backup or since. */
	if (rc == 0) {
		uint8_t b[8];
		store_put_id(b, next_id > live_next ? next_id : live_next);
		MDB_val k = { 7, "next_id" }, v = { 8, b };
		rc = mdb_put(ctx.txn, srv->store.meta, &k, &v, 0) == 0 ? 0 : VAULT_E_STORAGE;
	}
	if (rc == 0)
		rc = mdb_txn_commit(ctx.txn) == 0 ? 0 : VAULT_E_STORAGE;
	else
		mdb_txn_abort(ctx.txn);
	ctx.txn = NULL;
	if (live.open) {
		mdb_txn_abort(live.txn);
		store_close(&live.store);
		live.open = 0;
	}
	store_close(&srv->store);
	if (rc != 0) {
		log_error("restore failed: %s; the live data file is untouched", vault_strerror(rc));
		goto out;
	}

	/* 4. Swap files, keeping the live one aside. */
	snprintf(aside, sizeof(aside), "%s/data.mdb.pre-restore-%lld", cfg->data_dir,
	    (long long)time(NULL));
	if (access(live_file, F_OK) == 0 && rename(live_file, aside) != 0) {
		rc = VAULT_E_IO;
		goto out;
	}
	if (rename(tmpfile, live_file) != 0) {
		rc = VAULT_E_IO;
		goto out;
	}
	int dfd = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	printf("restored %s: %llu records in the backup, %llu deletions applied, "
	    "%llu rekeyed from the live store, %llu beyond the erasure horizon (deleted)\n"
	    "the previous data file is kept as %s\n", path,
	    (unsigned long long)kept, (unsigned long long)deleted,
	    (unsigned long long)rekeyed, (unsigned long long)beyond, aside);
out:
	if (live.open) {
		mdb_txn_abort(live.txn);
		store_close(&live.store);
	}
	snprintf(aside, sizeof(aside), "%s/lock.mdb", dir);
	unlink(aside);
	unlink(tmpfile);
	rmdir(dir);
	buf_free(&ctx.copy);
	buf_free(&ctx.enc);
	buf_free(&ctx.ct);
	buf_free(&ctx.doc);
	free(ctx.deleted);
	sodium_free(ctx.dek);
	free(journal);
	key_set_release();
	return rc;
}
