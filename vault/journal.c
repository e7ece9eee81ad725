/*
 * journal.c - the deletion journal (see journal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/bytes.h"
#include "journal.h"
#include "log.h"
#include "store/record_codec.h"
#include "store/store.h"

static int
cmp_entry(const void *a, const void *b)
{
	uint64_t x = ((const struct journal_entry *)a)->id;
	uint64_t y = ((const struct journal_entry *)b)->id;
	return x < y ? -1 : x > y;
}

/* The check of an entry: domain, length and body. */
static void
entry_check(const uint8_t *lenbody, size_t n, uint8_t out[JOURNAL_CHECK])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, JOURNAL_CHECK);
	crypto_generichash_update(&st, (const uint8_t *)"vaultdj2", 8);
	crypto_generichash_update(&st, lenbody, n);
	crypto_generichash_final(&st, out, JOURNAL_CHECK);
}

void
journal_encode(const struct journal_entry *e, uint8_t out[JOURNAL_ENTRY])
{
	out[0] = out[1] = out[2] = 0;
	out[3] = JOURNAL_BODY;
	store_put_id(out + 4, e->id);
	store_put_id(out + 12, e->time);
	entry_check(out, 4 + JOURNAL_BODY, out + 4 + JOURNAL_BODY);
}

/* Length of the valid entry at p (n bytes left), or 0. */
static size_t
entry_at(const uint8_t *p, size_t n)
{
	uint8_t c[JOURNAL_CHECK];
	if (n < 4)
		return 0;
	uint32_t len = be32_get(p);
	if (len < JOURNAL_BODY || len > JOURNAL_BODY_MAX || n < 4 + (size_t)len + JOURNAL_CHECK)
		return 0;
	entry_check(p, 4 + len, c);
	if (sodium_memcmp(c, p + 4 + len, JOURNAL_CHECK) != 0)
		return 0;
	return 4 + (size_t)len + JOURNAL_CHECK;
}

const char *
journal_state_text(enum journal_state st)
{
	switch (st) {
	case JOURNAL_OK: return "intact";
	case JOURNAL_TORN: return "intact up to a torn tail (an interrupted append)";
	case JOURNAL_MISSING: return "missing";
	case JOURNAL_OLD: return "in the earlier format VAULTDJ1, which this version does not read";
	case JOURNAL_NOT: return "not a deletion journal (wrong magic)";
	case JOURNAL_DAMAGED: return "damaged: an entry fails its check and valid entries follow it";
	case JOURNAL_IO: return "unreadable";
	}
	return "?";
}

static int
read_whole(int fd, uint8_t **out, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return VAULT_E_IO;
	size_t n = (size_t)st.st_size, got = 0;
	uint8_t *b = malloc(n ? n : 1);
	if (b == NULL)
		return VAULT_E_NOMEM;
	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	*out = b;
	*len = got;
	return 0;
}

int
journal_read(const char *path, struct journal_entry **out, size_t *n,
    struct journal_scan *sc)
{
	*out = NULL;
	*n = 0;
	memset(sc, 0, sizeof(*sc));
	sc->bad_at = -1;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		sc->state = errno == ENOENT ? JOURNAL_MISSING : JOURNAL_IO;
		return errno == ENOENT ? 0 : VAULT_E_IO;
	}
	uint8_t *b;
	size_t len;
	int rc = read_whole(fd, &b, &len);
	close(fd);
	if (rc != 0) {
		sc->state = JOURNAL_IO;
		return rc;
	}
	sc->size = (off_t)len;
	if (len < JOURNAL_HEADER) {
		/* A header cut short: nothing was ever appended after it. */
		sc->state = memcmp(b, JOURNAL_MAGIC, len) == 0 ? JOURNAL_TORN : JOURNAL_NOT;
		sc->tail_bytes = len;
		free(b);
		return sc->state == JOURNAL_TORN ? 0 : VAULT_E_CONFIG;
	}
	if (memcmp(b, JOURNAL_MAGIC, JOURNAL_HEADER) != 0) {
		sc->state = memcmp(b, JOURNAL_MAGIC_V1, JOURNAL_HEADER) == 0 ? JOURNAL_OLD :
		    JOURNAL_NOT;
		free(b);
		return VAULT_E_CONFIG;
	}
	size_t count = 0, off = JOURNAL_HEADER, k;
	for (size_t p = off; (k = entry_at(b + p, len - p)) != 0; p += k)
		count++;
	struct journal_entry *e = calloc(count ? count : 1, sizeof(*e));
	if (e == NULL) {
		free(b);
		sc->state = JOURNAL_IO;
		return VAULT_E_NOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		k = entry_at(b + off, len - off);
		e[i].id = store_get_id(b + off + 4);
		e[i].time = store_get_id(b + off + 12);
		off += k;
	}
	sc->valid_end = (off_t)off;
	sc->state = JOURNAL_OK;
	if (off < len) {
		/* Torn tail or damage: damage if any valid entry follows. */
		sc->state = JOURNAL_TORN;
		sc->tail_bytes = len - off;
		for (size_t p = off + 1; p + JOURNAL_ENTRY <= len; p++)
			if (entry_at(b + p, len - p) != 0) {
				sc->state = JOURNAL_DAMAGED;
				sc->bad_at = (off_t)off;
				break;
			}
	}
	free(b);
	if (sc->state == JOURNAL_DAMAGED) {
		free(e);
		return VAULT_E_STORAGE;
	}
	qsort(e, count, sizeof(*e), cmp_entry);
	*out = e;
	*n = count;
	return 0;
}

static int
pwrite_all(int fd, const uint8_t *p, size_t n, off_t at)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return VAULT_E_IO;
		p += w;
		n -= (size_t)w;
		at += w;
	}
	return 0;
}

/* Cut the file back to its last valid entry (a failed append). */
static void
cut_back(struct journal *j)
{
	j->dirty = ftruncate(j->fd, j->end) != 0;
}

int
journal_write(struct journal *j, const struct journal_entry *e, size_t n)
{
	uint8_t buf[JOURNAL_ENTRY * 64];
	off_t at = j->end;
	if (j->dirty)
		cut_back(j);
	while (n > 0) {
		size_t k = n < 64 ? n : 64;
		for (size_t i = 0; i < k; i++)
			journal_encode(&e[i], buf + i * JOURNAL_ENTRY);
		if (pwrite_all(j->fd, buf, k * JOURNAL_ENTRY, at) != 0) {
			cut_back(j);
			return VAULT_E_IO;
		}
		at += (off_t)(k * JOURNAL_ENTRY);
		e += k;
		n -= k;
	}
	j->pending = at;
	return 0;
}

int
journal_flush(struct journal *j)
{
	if (j->pending <= j->end && !j->unsynced)
		return 0;
	if (fdatasync(j->fd) != 0) {
		/* Whether it reached the disk is unknown: the tombstones say. */
		if (j->pending > j->end)
			cut_back(j);
		j->pending = 0;
		return VAULT_E_IO;
	}
	if (j->pending > j->end)
		j->end = j->pending;
	j->pending = 0;
	j->unsynced = 0;
	return 0;
}

void
journal_keep(struct journal *j)
{
	if (j->pending > j->end) {
		j->end = j->pending;
		j->unsynced = 1;
	}
	j->pending = 0;
}

void
journal_cancel(struct journal *j)
{
	/* Cut back and make the cut durable: the ids may be handed out again. */
	j->pending = 0;
	cut_back(j);
	if (!j->dirty && fdatasync(j->fd) != 0)
		j->dirty = 1;
}

int
journal_append(struct journal *j, const struct journal_entry *e, size_t n)
{
	int rc = journal_write(j, e, n);
	return rc != 0 ? rc : journal_flush(j);
}

/*
 * Cut off the entries at the end that the store never kept: the writer
 * makes a batch's entries durable while LMDB commits (writer_flush.c), so
 * a crash can leave the entries of a batch whose commit did not reach the
 * disk, and whose deletions were never acknowledged. Such an entry names
 * an id with no tombstone that is either a live record (the delete was
 * lost) or at or past next_id (created in the lost batch too: the id will
 * be handed out again). Only a run at the end is cut (one batch in flight
 * at a time), so an entry the store does keep, or a journal from other
 * circumstances, is never touched. Returns the entries cut, or -1.
 */
static long
drop_unstored(struct journal *j, struct store *s)
{
	uint8_t *b;
	size_t len, n = 0, cap = 0;
	off_t *at = NULL;
	long cut = -1;
	struct store_txn *txn;
	uint64_t next_id = 0;
	if (read_whole(j->fd, &b, &len) != 0)
		return -1;
	if ((size_t)j->end < len)
		len = (size_t)j->end;
	for (size_t p = JOURNAL_HEADER, k; p < len && (k = entry_at(b + p, len - p)) != 0; p += k) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			off_t *q = realloc(at, cap * sizeof(*q));
			if (q == NULL)
				goto out;
			at = q;
		}
		at[n++] = (off_t)p;
	}
	if (store_txn_begin(s, NULL, STORE_RDONLY, &txn) != 0)
		goto out;
	if (store_next_id(txn, &next_id) != 0)
		next_id = 0; /* then only live records count */
	size_t keep = n;
	while (keep > 0) {
		uint8_t kb[8];
		struct store_val k = { 8, kb }, v;
		uint64_t id = store_get_id(b + at[keep - 1] + 4);
		store_put_id(kb, id);
		if (store_get(txn, STORE_TOMBSTONES, &k, &v) == 0)
			break;
		if (id < next_id && store_get(txn, STORE_RECORDS, &k, &v) != 0)
			break; /* neither live nor to come: not ours to judge */
		keep--;
	}
	store_txn_abort(txn);
	cut = (long)(n - keep);
	if (cut > 0) {
		if (ftruncate(j->fd, at[keep]) != 0 || fdatasync(j->fd) != 0)
			cut = -1;
		else
			j->end = at[keep];
	}
out:
	free(at);
	free(b);
	return cut;
}

int
journal_open(struct journal *j, const char *path, struct store *s)
{
	struct journal_entry *have = NULL;
	struct journal_scan sc;
	size_t nhave = 0;
	j->fd = -1;
	j->dirty = 0;
	j->pending = 0;
	int rc = journal_read(path, &have, &nhave, &sc);
	if (rc != 0) {
		if (sc.state == JOURNAL_OLD)
			log_error("deletion journal %s is in the format of an earlier version "
			    "(VAULTDJ1, without per-entry checks), which is not read: move it "
			    "aside and start again; the store's tombstones rebuild the journal",
			    path);
		else if (sc.state == JOURNAL_DAMAGED)
			log_error("deletion journal %s is damaged at byte %lld (an entry fails "
			    "its check and valid entries follow): it cannot be trusted. Keep it "
			    "for investigation; to serve again, move it aside and start: the "
			    "store's tombstones rebuild it", path, (long long)sc.bad_at);
		else
			log_error("deletion journal %s is %s", path, journal_state_text(sc.state));
		return rc;
	}
	j->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		free(have);
		return VAULT_E_IO;
	}
	if (sc.state == JOURNAL_TORN)
		log_warn("deletion journal %s: a torn tail of %zu bytes after byte %lld (an "
		    "interrupted append) was cut off; the store's tombstones fill in what it "
		    "held", path, sc.tail_bytes, (long long)sc.valid_end);
	if (sc.valid_end < JOURNAL_HEADER) {
		/* New, or a header cut short. */
		if (ftruncate(j->fd, 0) != 0 ||
		    pwrite_all(j->fd, (const uint8_t *)JOURNAL_MAGIC, JOURNAL_HEADER, 0) != 0) {
			free(have);
			journal_close(j);
			return VAULT_E_IO;
		}
		sc.valid_end = JOURNAL_HEADER;
	} else if (ftruncate(j->fd, sc.valid_end) != 0) {
		free(have);
		journal_close(j);
		return VAULT_E_IO;
	}
	j->end = sc.valid_end;
	if (sc.state == JOURNAL_MISSING) {
		/* A new file: its directory entry must survive a crash too. */
		char dir[512];
		const char *slash = strrchr(path, '/');
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
		    slash ? path : ".");
		int dfd = open(slash == path ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	if (fdatasync(j->fd) != 0) {
		free(have);
		journal_close(j);
		return VAULT_E_IO;
	}
	if (s == NULL) { /* tests: no store to reconcile with */
		free(have);
		return 0;
	}
	long cut = drop_unstored(j, s);
	if (cut < 0) {
		free(have);
		journal_close(j);
		return VAULT_E_IO;
	}
	if (cut > 0) {
		log_warn("deletion journal %s: %ld entries at its end name deletions the store "
		    "never kept (a crash while they were committed; they were not acknowledged): "
		    "cut off", path, cut);
		/* have[] may hold them: read again. */
		free(have);
		have = NULL;
		nhave = 0;
		if ((rc = journal_read(path, &have, &nhave, &sc)) != 0) {
			journal_close(j);
			return rc;
		}
	}
	/* Append tombstones the journal lacks (a crash after a commit). */
	struct store_txn *txn;
	struct store_cursor *cur;
	struct store_val k, v;
	size_t added = 0, cap = 0;
	struct journal_entry *missing = NULL;
	if ((rc = store_txn_begin(s, NULL, STORE_RDONLY, &txn)) != 0) {
		free(have);
		journal_close(j);
		return store_error(rc);
	}
	store_cursor_open(txn, STORE_TOMBSTONES, &cur);
	for (rc = store_cursor_get(cur, &k, &v, STORE_FIRST); rc == 0;
	    rc = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
		struct journal_entry e = { store_get_id(k.data), 0 };
		struct tombstone t;
		/* bsearch() must not be passed NULL, even for no entries. */
		if (nhave > 0 && bsearch(&e, have, nhave, sizeof(e), cmp_entry) != NULL)
			continue;
		if (tombstone_decode(v.data, v.len, &t) == 0)
			e.time = t.deleted_at;
		if (added == cap) {
			cap = cap ? cap * 2 : 1024;
			struct journal_entry *p = realloc(missing, cap * sizeof(*p));
			if (p == NULL) {
				rc = VAULT_E_NOMEM;
				break;
			}
			missing = p;
		}
		missing[added++] = e;
	}
	store_cursor_close(cur);
	store_txn_abort(txn);
	free(have);
	if (rc == VAULT_E_NOMEM) {
		free(missing);
		journal_close(j);
		return rc;
	}
	rc = added ? journal_append(j, missing, added) : 0;
	free(missing);
	if (rc != 0) {
		journal_close(j);
		return rc;
	}
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
