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
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/bytes.h"
#include "backupfile.h"
#include "common/tmpfile.h"
#include "config.h"
#include "keys/keyring.h"
#include "log.h"
#include "safedir.h"
#include "store/record_codec.h"
#include "store/store.h"

#define MAGIC "VAULTBK1"
#define MAGIC2 "VAULTBK2"
#define END_MAGIC "VAULTBKE"
#define FIXED (8 + 8 + 8 + 8 + 4)      /* magic .. nepochs */
#define TAIL (4 + 8)                   /* trailer length, end magic */

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

/* Ascending epochs, their counts along (a few epochs: insertion sort). */
static void
sort_epochs(struct backup_info *bi)
{
	for (uint32_t i = 1; i < bi->nepochs; i++)
		for (uint32_t j = i; j > 0 && bi->epochs[j - 1] > bi->epochs[j]; j--) {
			uint32_t e = bi->epochs[j];
			uint64_t c = bi->counts[j];
			bi->epochs[j] = bi->epochs[j - 1];
			bi->counts[j] = bi->counts[j - 1];
			bi->epochs[j - 1] = e;
			bi->counts[j - 1] = c;
		}
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
		if (i == bi->nepochs && bi->nepochs < BACKUP_MAX_EPOCHS) {
			bi->epochs[bi->nepochs] = r.kek_epoch;
			bi->counts[bi->nepochs++] = 0;
		}
		if (i < bi->nepochs)
			bi->counts[i]++;
	}
	store_cursor_close(cur);
	if (rc != STORE_NOTFOUND) {
		*why = "LMDB cannot read the copy's records";
		goto fail;
	}
	sort_epochs(bi);
	bi->records_known = 1;
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
	memcpy(t, MAGIC2, 8);
	store_put_id(t + 8, bi->data_size);
	store_put_id(t + 16, bi->records);
	store_put_id(t + 24, bi->created);
	be32_put(t + 32, bi->nepochs);
	n = FIXED;
	for (uint32_t i = 0; i < bi->nepochs; i++, n += 12) {
		be32_put(t + n, bi->epochs[i]);
		store_put_id(t + n + 4, bi->counts[i]);
	}
	be32_put(t + n, bi->for_retire);
	n += 4;
	memcpy(t + n, bi->hash, BACKUP_HASH_BYTES);
	n += BACKUP_HASH_BYTES;
	crypto_generichash(t + n, BACKUP_HASH_BYTES, t, n, NULL, 0);
	n += BACKUP_HASH_BYTES;
	be32_put(t + n, (uint32_t)n);
	memcpy(t + n + 4, END_MAGIC, 8);
	return n + TAIL;
}

#define TRAILER_MAX (FIXED + 12 * BACKUP_MAX_EPOCHS + 4 + 2 * BACKUP_HASH_BYTES + TAIL)

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

/* The trailer of the open file fd (st its stat): bi filled, 0 or VAULT_E_STORAGE. */
static int
trailer_read_fd(int fd, const struct stat *st, struct backup_info *bi, const char **why)
{
	uint8_t tail[TAIL], *t = NULL, h[BACKUP_HASH_BYTES];
	int rc = VAULT_E_STORAGE;
	memset(bi, 0, sizeof(*bi));
	*why = "it has no backup trailer: it is incomplete (a backup interrupted) or not a "
	    "vault backup";
	if (st->st_size < (off_t)(FIXED + 2 * BACKUP_HASH_BYTES + TAIL) ||
	    read_at(fd, tail, TAIL, st->st_size - TAIL) != 0 || memcmp(tail + 4, END_MAGIC, 8) != 0)
		goto out;
	uint32_t tlen = be32_get(tail);
	if (tlen < FIXED + 2 * BACKUP_HASH_BYTES || tlen > TRAILER_MAX - TAIL ||
	    (off_t)(tlen + TAIL) > st->st_size || (t = malloc(tlen)) == NULL ||
	    read_at(fd, t, tlen, st->st_size - TAIL - tlen) != 0)
		goto out;
	if (memcmp(t, MAGIC, 8) == 0)
		bi->version = 1;
	else if (memcmp(t, MAGIC2, 8) == 0)
		bi->version = 2;
	else
		goto out;
	*why = "its trailer fails its check (damaged)";
	crypto_generichash(h, sizeof(h), t, tlen - BACKUP_HASH_BYTES, NULL, 0);
	if (sodium_memcmp(h, t + tlen - BACKUP_HASH_BYTES, BACKUP_HASH_BYTES) != 0)
		goto out;
	bi->data_size = store_get_id(t + 8);
	bi->records = store_get_id(t + 16);
	bi->created = store_get_id(t + 24);
	bi->nepochs = be32_get(t + 32);
	size_t per = bi->version == 1 ? 4 : 12, extra = bi->version == 1 ? 0 : 4;
	if (bi->nepochs > BACKUP_MAX_EPOCHS ||
	    FIXED + per * (size_t)bi->nepochs + extra + 2 * BACKUP_HASH_BYTES != tlen)
		goto out;
	for (uint32_t i = 0; i < bi->nepochs; i++) {
		bi->epochs[i] = be32_get(t + FIXED + per * i);
		if (bi->version == 2)
			bi->counts[i] = store_get_id(t + FIXED + per * i + 4);
	}
	size_t at = FIXED + per * bi->nepochs;
	if (bi->version == 2) {
		bi->for_retire = be32_get(t + at);
		bi->records_known = 1;
		at += 4;
	}
	memcpy(bi->hash, t + at, BACKUP_HASH_BYTES);
	*why = "its size is not the size its trailer gives (truncated or appended to)";
	if (bi->data_size + tlen + TAIL != (uint64_t)st->st_size)
		goto out;
	*why = NULL;
	rc = 0;
out:
	free(t);
	return rc;
}

int
backupfile_trailer_read(const char *path, struct backup_info *bi, const char **why)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = VAULT_E_STORAGE;
	*why = "it cannot be opened";
	if (fd < 0)
		return VAULT_E_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		*why = "it is not a regular file";
	else
		rc = trailer_read_fd(fd, &st, bi, why);
	close(fd);
	return rc;
}

int
backupfile_verify(const char *path, struct backup_info *bi, const char **why)
{
	struct stat st;
	uint8_t h[BACKUP_HASH_BYTES];
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
	if ((rc = trailer_read_fd(fd, &st, bi, why)) != 0)
		goto out;
	*why = "the copy does not match its trailer's hash (damaged)";
	if ((rc = backupfile_hash(fd, bi->data_size, h)) != 0) {
		*why = "it cannot be read";
		goto out;
	}
	rc = VAULT_E_STORAGE;
	if (sodium_memcmp(h, bi->hash, BACKUP_HASH_BYTES) != 0)
		goto out;
	struct backup_info *seen = malloc(sizeof(*seen));
	if (seen == NULL) {
		rc = VAULT_E_NOMEM;
		goto out;
	}
	if (backupfile_scan(path, seen, why) != 0) {
		free(seen);
		goto out;
	}
	*why = "LMDB reads a record count other than its trailer's";
	int same = seen->records == bi->records;
	/* Version 2: the epochs and their counts as the trailer gives them. */
	if (same && bi->version == 2) {
		*why = "LMDB reads records of other key epochs than its trailer gives";
		same = seen->nepochs == bi->nepochs;
		for (uint32_t i = 0; same && i < bi->nepochs; i++)
			same = seen->epochs[i] == bi->epochs[i] && seen->counts[i] == bi->counts[i];
	}
	free(seen);
	if (!same)
		goto out;
	*why = NULL;
	rc = 0;
out:
	close(fd);
	return rc;
}

void
backupfile_usable(const struct backup_info *bi, const struct keyring *ring,
    uint64_t *usable, uint64_t *lost, uint32_t *gone)
{
	uint64_t known = 0;
	*usable = *lost = 0;
	*gone = 0;
	for (uint32_t i = 0; i < bi->nepochs; i++) {
		int in = keyring_key(ring, KEYRING_KEK, bi->epochs[i]) != NULL;
		if (!in && bi->epochs[i] > *gone)
			*gone = bi->epochs[i];
		if (bi->records_known) {
			*(in ? usable : lost) += bi->counts[i];
			known += bi->counts[i];
		}
	}
	if (!bi->records_known) {
		/* Version 1: which record needs which epoch is not written down. */
		*(*gone ? lost : usable) = bi->records;
	} else if (known < bi->records) {
		*lost += bi->records - known; /* undecodable records: no key opens them */
	}
}

static int
name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 128 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

int
backupfile_take(struct store *store, const struct config *cfg, const char *name,
    size_t len, uint32_t for_retire, char *path, size_t cap, uint64_t *bytes,
    struct backup_info *out, const char **why)
{
	char tmp[700];
	struct stat st;
	int rc;
	if (!name_ok(name, len)) {
		*why = "a backup name is 1-128 of [A-Za-z0-9._-], not starting with a dot";
		return VAULT_E_INVALID_VALUE;
	}
	if (stat(cfg->backup_dir, &st) != 0 && mkdir(cfg->backup_dir, 0700) != 0) {
		*why = "cannot create the backup directory";
		return VAULT_E_IO;
	}
	/* Whoever could swap the directory (or one above it) would get the copy. */
	char bad[512] = "";
	if (stat(cfg->backup_dir, &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 077) ||
	    st.st_uid != geteuid() || safedir_path(cfg->backup_dir, bad, sizeof(bad)) != 0) {
		if (bad[0] != '\0')
			log_warn("backup directory %s: %s", cfg->backup_dir, bad);
		*why = "the backup directory must be vaultd's, with mode 0700, on a path "
		    "only root and vaultd's user can change";
		return VAULT_E_CONFIG;
	}
	snprintf(path, cap, "%s/%.*s", cfg->backup_dir, (int)len, name);
	if (lstat(path, &st) == 0) {
		*why = "a backup of that name exists";
		return VAULT_E_CONFLICT;
	}
	/* A unique temporary name; a backup name never starts with a dot, so
	 * the next start knows a leftover one (backupfile_cleanup_partials()). */
	char prefix[sizeof(tmp)];
	snprintf(prefix, sizeof(prefix), "%s/.%.*s" BACKUP_PARTIAL, cfg->backup_dir,
	    (int)len, name);
	int fd = tmpfile_create(prefix, tmp, sizeof(tmp));
	if (fd < 0) {
		*why = "cannot create the backup file (the backup directory is not writable?)";
		return errno == ENOSPC ? VAULT_E_NO_SPACE : VAULT_E_IO;
	}
	const char *fail = "the copy failed";
	struct backup_info *bi = calloc(1, sizeof(*bi));
	rc = bi == NULL ? ENOMEM : store_copy(store, fd);
	if (rc < 0) /* a store result: as the errno the rest of this speaks */
		rc = rc == STORE_E_DISK_FULL ? ENOSPC : EIO;
	if (rc == 0 && fsync(fd) != 0)
		rc = errno;
	if (rc == 0) {
		off_t end = lseek(fd, 0, SEEK_END);
		bi->data_size = end > 0 ? (uint64_t)end : 0;
		bi->created = (uint64_t)time(NULL);
		/* What the trailer says is read back from the copy itself. */
		if (end <= 0 || backupfile_hash(fd, bi->data_size, bi->hash) != 0 ||
		    backupfile_scan(tmp, bi, &fail) != 0)
			rc = EIO;
		bi->for_retire = for_retire;
		if (rc == 0 && (backupfile_trailer_write(fd, bi) != 0 || fsync(fd) != 0))
			rc = errno == ENOSPC ? ENOSPC : EIO;
	}
	off_t fsize = lseek(fd, 0, SEEK_END);
	close(fd);
	if (rc == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
		if (errno == EEXIST) {
			unlink(tmp);
			free(bi);
			*why = "a backup of that name exists";
			return VAULT_E_CONFLICT;
		}
		rc = errno ? errno : EIO;
	}
	if (rc == 0) {
		int dfd = open(cfg->backup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) != 0)
			rc = EIO;
		if (dfd >= 0)
			close(dfd);
	}
	if (rc != 0) {
		log_warn("backup: %s (%s); nothing was kept", fail, strerror(rc > 0 ? rc : EIO));
		unlink(tmp);
		free(bi);
		*why = rc == ENOSPC ? "the backup directory's file system is full; nothing was kept" :
		    "the backup failed; nothing was kept";
		return rc == ENOSPC ? VAULT_E_NO_SPACE : rc == ENOMEM ? VAULT_E_NOMEM : VAULT_E_IO;
	}
	*bytes = fsize > 0 ? (uint64_t)fsize : 0; /* the file, trailer included */
	if (out != NULL)
		*out = *bi;
	free(bi);
	*why = NULL;
	return 0;
}

static int
newest_first(const void *a, const void *b)
{
	const struct backup_entry *x = a, *y = b;
	if (x->ok != y->ok)
		return x->ok ? -1 : 1;
	if (!x->ok)
		return strcmp(x->name, y->name);
	if (x->bi->created != y->bi->created)
		return x->bi->created > y->bi->created ? -1 : 1;
	return strcmp(y->name, x->name);
}

int
backupfile_list(const struct config *cfg, struct backup_entry **out, size_t *n)
{
	DIR *d = opendir(cfg->backup_dir);
	struct dirent *de;
	struct backup_entry *v = NULL;
	size_t cnt = 0, capn = 0;
	char f[1024];
	*out = NULL;
	*n = 0;
	if (d == NULL)
		return errno == ENOENT ? 0 : VAULT_E_IO;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(v->name))
			continue;
		snprintf(f, sizeof(f), "%s/%s", cfg->backup_dir, de->d_name);
		if (lstat(f, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (cnt == capn) {
			capn = capn ? capn * 2 : 16;
			struct backup_entry *p = realloc(v, capn * sizeof(*p));
			if (p == NULL) {
				closedir(d);
				backupfile_list_free(v, cnt);
				return VAULT_E_NOMEM;
			}
			v = p;
		}
		struct backup_entry *e = &v[cnt++];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", de->d_name);
		e->bytes = (uint64_t)st.st_size;
		if ((e->bi = malloc(sizeof(*e->bi))) == NULL) {
			closedir(d);
			backupfile_list_free(v, cnt);
			return VAULT_E_NOMEM;
		}
		e->ok = backupfile_trailer_read(f, e->bi, &e->why) == 0;
		if (!e->ok) {
			free(e->bi);
			e->bi = NULL;
		}
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), newest_first);
	*out = v;
	*n = cnt;
	return 0;
}

void
backupfile_list_free(struct backup_entry *e, size_t n)
{
	for (size_t i = 0; e != NULL && i < n; i++)
		free(e[i].bi);
	free(e);
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
