/*
 * backupfile.c - the backup file's trailer (see backupfile.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "backupfile.h"
#include "config.h"
#include "log.h"
#include "store/record_codec.h"
#include "store/store.h"

#define MAGIC "VAULTBK1"
#define END_MAGIC "VAULTBKE"
#define FIXED (8 + 8 + 8 + 8 + 4)      /* magic .. nepochs */
#define TAIL (4 + 8)                   /* trailer length, end magic */

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int
backupfile_hash(int fd, uint64_t n, uint8_t out[BACKUP_HASH_BYTES])
{
	crypto_generichash_state st;
	uint8_t *buf = malloc(1 << 16);
	uint64_t off = 0;
	if (buf == NULL)
		return VAULT_E_NOMEM;
	crypto_generichash_init(&st, NULL, 0, BACKUP_HASH_BYTES);
	while (off < n) {
		size_t want = n - off < (1 << 16) ? (size_t)(n - off) : (1 << 16);
		ssize_t r = pread(fd, buf, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			return VAULT_E_IO;
		}
		crypto_generichash_update(&st, buf, (size_t)r);
		off += (uint64_t)r;
	}
	crypto_generichash_final(&st, out, BACKUP_HASH_BYTES);
	free(buf);
	return 0;
}

static int
cmp32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int
backupfile_scan(const char *path, struct backup_info *bi, const char **why)
{
	struct store copy;
	struct store_txn *txn = NULL;
	struct store_cursor *cur;
	struct store_val k, v;
	const char *open_why;
	int rc;
	*why = "LMDB cannot open the copy read-only";
	bi->records = 0;
	bi->nepochs = 0;
	/* The map only has to cover the file, which LMDB sizes itself from. */
	if (store_open_file(&copy, path, 0, STORE_FILE_RDONLY, &open_why) != 0)
		return VAULT_E_STORAGE;
	if ((rc = store_txn_begin(&copy, NULL, STORE_RDONLY, &txn)) != 0)
		goto fail;
	if ((rc = store_cursor_open(txn, STORE_RECORDS, &cur)) != 0) {
		if (rc == STORE_NOTFOUND)
			*why = "the copy has no records database";
		goto fail;
	}
	for (rc = store_cursor_get(cur, &k, &v, STORE_FIRST); rc == 0;
	    rc = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
		struct record r;
		bi->records++;
		if (record_decode(v.data, v.len, &r) != 0)
			continue;
		uint32_t i;
		for (i = 0; i < bi->nepochs && bi->epochs[i] != r.kek_epoch; i++)
			;
		if (i == bi->nepochs && bi->nepochs < BACKUP_MAX_EPOCHS)
			bi->epochs[bi->nepochs++] = r.kek_epoch;
	}
	store_cursor_close(cur);
	if (rc != STORE_NOTFOUND) {
		*why = "LMDB cannot read the copy's records";
		goto fail;
	}
	qsort(bi->epochs, bi->nepochs, sizeof(bi->epochs[0]), cmp32);
	store_txn_abort(txn);
	store_close(&copy);
	*why = NULL;
	return 0;
fail:
	if (txn != NULL)
		store_txn_abort(txn);
	store_close(&copy);
	return VAULT_E_STORAGE;
}

static size_t
trailer_encode(const struct backup_info *bi, uint8_t *t)
{
	size_t n = 0;
	memcpy(t, MAGIC, 8);
	store_put_id(t + 8, bi->data_size);
	store_put_id(t + 16, bi->records);
	store_put_id(t + 24, bi->created);
	put32(t + 32, bi->nepochs);
	n = FIXED;
	for (uint32_t i = 0; i < bi->nepochs; i++, n += 4)
		put32(t + n, bi->epochs[i]);
	memcpy(t + n, bi->hash, BACKUP_HASH_BYTES);
	n += BACKUP_HASH_BYTES;
	crypto_generichash(t + n, BACKUP_HASH_BYTES, t, n, NULL, 0);
	n += BACKUP_HASH_BYTES;
	put32(t + n, (uint32_t)n);
	memcpy(t + n + 4, END_MAGIC, 8);
	return n + TAIL;
}

#define TRAILER_MAX (FIXED + 4 * BACKUP_MAX_EPOCHS + 2 * BACKUP_HASH_BYTES + TAIL)

int
backupfile_trailer_write(int fd, const struct backup_info *bi)
{
	uint8_t *t = malloc(TRAILER_MAX);
	if (t == NULL)
		return VAULT_E_NOMEM;
	size_t n = trailer_encode(bi, t), done = 0;
	int rc = 0;
	while (done < n) {
		ssize_t w = pwrite(fd, t + done, n - done, (off_t)(bi->data_size + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = VAULT_E_IO;
			break;
		}
		done += (size_t)w;
	}
	free(t);
	return rc;
}

static int
read_at(int fd, uint8_t *p, size_t n, off_t at)
{
	while (n > 0) {
		ssize_t r = pread(fd, p, n, at);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
		at += r;
	}
	return 0;
}

int
backupfile_verify(const char *path, struct backup_info *bi, const char **why)
{
	struct stat st;
	uint8_t tail[TAIL], *t = NULL, h[BACKUP_HASH_BYTES];
	int rc = VAULT_E_STORAGE;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	memset(bi, 0, sizeof(*bi));
	*why = "it cannot be opened";
	if (fd < 0)
		return VAULT_E_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*why = "it is not a regular file";
		goto out;
	}
	*why = "it has no backup trailer: it is incomplete (a backup interrupted) or not a "
	    "vault backup";
	if (st.st_size < (off_t)(FIXED + 2 * BACKUP_HASH_BYTES + TAIL) ||
	    read_at(fd, tail, TAIL, st.st_size - TAIL) != 0 || memcmp(tail + 4, END_MAGIC, 8) != 0)
		goto out;
	uint32_t tlen = get32(tail);
	if (tlen < FIXED + 2 * BACKUP_HASH_BYTES || tlen > TRAILER_MAX - TAIL ||
	    (off_t)(tlen + TAIL) > st.st_size || (t = malloc(tlen)) == NULL ||
	    read_at(fd, t, tlen, st.st_size - TAIL - tlen) != 0 || memcmp(t, MAGIC, 8) != 0)
		goto out;
	*why = "its trailer fails its check (damaged)";
	crypto_generichash(h, sizeof(h), t, tlen - BACKUP_HASH_BYTES, NULL, 0);
	if (sodium_memcmp(h, t + tlen - BACKUP_HASH_BYTES, BACKUP_HASH_BYTES) != 0)
		goto out;
	bi->data_size = store_get_id(t + 8);
	bi->records = store_get_id(t + 16);
	bi->created = store_get_id(t + 24);
	bi->nepochs = get32(t + 32);
	if (bi->nepochs > BACKUP_MAX_EPOCHS ||
	    FIXED + 4 * (size_t)bi->nepochs + 2 * BACKUP_HASH_BYTES != tlen)
		goto out;
	for (uint32_t i = 0; i < bi->nepochs; i++)
		bi->epochs[i] = get32(t + FIXED + 4 * i);
	memcpy(bi->hash, t + FIXED + 4 * bi->nepochs, BACKUP_HASH_BYTES);
	*why = "its size is not the size its trailer gives (truncated or appended to)";
	if (bi->data_size + tlen + TAIL != (uint64_t)st.st_size)
		goto out;
	*why = "the copy does not match its trailer's hash (damaged)";
	if ((rc = backupfile_hash(fd, bi->data_size, h)) != 0) {
		*why = "it cannot be read";
		goto out;
	}
	rc = VAULT_E_STORAGE;
	if (sodium_memcmp(h, bi->hash, BACKUP_HASH_BYTES) != 0)
		goto out;
	struct backup_info seen;
	if (backupfile_scan(path, &seen, why) != 0)
		goto out;
	*why = "LMDB reads a record count other than its trailer's";
	if (seen.records != bi->records)
		goto out;
	*why = NULL;
	rc = 0;
out:
	free(t);
	close(fd);
	return rc;
}

/* Remove the entries of dir whose names start with prefix and contain mid. */
static int
remove_matching(const char *dir, const char *prefix, const char *mid, const char *what)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char f[1024];
	int removed = 0;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
		    (mid != NULL && strstr(de->d_name, mid) == NULL))
			continue;
		snprintf(f, sizeof(f), "%s/%s", dir, de->d_name);
		if (unlink(f) == 0) {
			removed++;
			log_info("removed %s %s", what, f);
		}
	}
	closedir(d);
	if (removed) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return removed;
}

void
backupfile_cleanup_partials(const struct config *cfg)
{
	/* DATA_DIR/restore/ is main.c's remove_leftovers() to remove. */
	remove_matching(cfg->backup_dir, ".", BACKUP_PARTIAL,
	    "the temporary file of an interrupted backup");
}

int
backupfile_drop_pre_restore(const struct config *cfg)
{
	return remove_matching(cfg->data_dir, PRE_RESTORE, NULL,
	    "the data file a restore kept aside (it holds keys of the retired epoch)");
}
