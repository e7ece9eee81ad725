/*
 * journal.c - the deletion journal (see journal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vault/vault.h>

#include "journal.h"
#include "log.h"
#include "store/record_codec.h"
#include "store/store.h"

#define MAGIC "VAULTDJ1"
#define ENTRY 16

static int
cmp_entry(const void *a, const void *b)
{
	uint64_t x = ((const struct journal_entry *)a)->id;
	uint64_t y = ((const struct journal_entry *)b)->id;
	return x < y ? -1 : x > y;
}

int
journal_read(const char *path, struct journal_entry **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : VAULT_E_IO;
	struct stat st;
	uint8_t hdr[8];
	if (fstat(fd, &st) != 0 || st.st_size < 8 || read(fd, hdr, 8) != 8 ||
	    memcmp(hdr, MAGIC, 8) != 0) {
		close(fd);
		return st.st_size == 0 ? 0 : VAULT_E_CONFIG;
	}
	/* A torn last entry (crash mid-append) is ignored. */
	size_t count = (size_t)(st.st_size - 8) / ENTRY;
	struct journal_entry *e = calloc(count ? count : 1, sizeof(*e));
	uint8_t *raw = malloc(count * ENTRY + 1);
	if (e == NULL || raw == NULL) {
		free(e);
		free(raw);
		close(fd);
		return VAULT_E_NOMEM;
	}
	size_t got = 0;
	while (got < count * ENTRY) {
		ssize_t r = read(fd, raw + got, count * ENTRY - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	count = got / ENTRY;
	for (size_t i = 0; i < count; i++) {
		e[i].id = store_get_id(raw + i * ENTRY);
		e[i].time = store_get_id(raw + i * ENTRY + 8);
	}
	free(raw);
	qsort(e, count, sizeof(*e), cmp_entry);
	*out = e;
	*n = count;
	return 0;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return VAULT_E_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
journal_append(struct journal *j, const struct journal_entry *e, size_t n)
{
	uint8_t buf[ENTRY * 64];
	while (n > 0) {
		size_t k = n < 64 ? n : 64;
		for (size_t i = 0; i < k; i++) {
			store_put_id(buf + i * ENTRY, e[i].id);
			store_put_id(buf + i * ENTRY + 8, e[i].time);
		}
		if (write_all(j->fd, buf, k * ENTRY) != 0)
			return VAULT_E_IO;
		e += k;
		n -= k;
	}
	return fdatasync(j->fd) == 0 ? 0 : VAULT_E_IO;
}

int
journal_open(struct journal *j, const char *path, struct store *s)
{
	struct journal_entry *have = NULL;
	size_t nhave = 0;
	int rc = journal_read(path, &have, &nhave);
	if (rc != 0) {
		log_error("deletion journal %s is unreadable or not a journal", path);
		return rc;
	}
	j->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		free(have);
		return VAULT_E_IO;
	}
	struct stat st;
	if (fstat(j->fd, &st) == 0 && st.st_size < 8) {
		if (ftruncate(j->fd, 0) != 0 || write_all(j->fd, (const uint8_t *)MAGIC, 8) != 0) {
			free(have);
			return VAULT_E_IO;
		}
	}
	/* Append tombstones the journal lacks (a crash after a commit). */
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t added = 0, cap = 0;
	struct journal_entry *missing = NULL;
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		free(have);
		return store_error(rc);
	}
	mdb_cursor_open(txn, s->tombstones, &cur);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct journal_entry e = { store_get_id(k.mv_data), 0 };
		struct tombstone t;
		if (bsearch(&e, have, nhave, sizeof(e), cmp_entry) != NULL)
			continue;
		if (tombstone_decode(v.mv_data, v.mv_size, &t) == 0)
			e.time = t.deleted_at;
		if (added == cap) {
			cap = cap ? cap * 2 : 1024;
			struct journal_entry *p = realloc(missing, cap * sizeof(*p));
			if (p == NULL)
				break;
			missing = p;
		}
		missing[added++] = e;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	free(have);
	rc = added ? journal_append(j, missing, added) : 0;
	free(missing);
	if (rc != 0)
		return rc;
	if (added)
		log_info("deletion journal: added %zu deletions found only in the store", added);
	return 0;
}

void
journal_close(struct journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}
