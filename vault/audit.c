/*
 * audit.c - the audit trail (see audit.h): entries built and hash-chained,
 * appended under a lock, rotated by size, flushed by a sync thread that
 * also keeps the head file; recovery of the chain head at open;
 * verification and queries over the files.
 *
 * Nothing here logs or reports entry contents: messages name sequence
 * numbers, key versions and byte counts only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "keys/keyring.h"
#include "keyset.h"
#include "log.h"
#include "record/fields.h"

#define KDF_CONTEXT "vaudit01"
#define SUBKEY_PSEUDONYM 1
#define SUBKEY_CHAIN 2
#define PSEUDONYM_HASH_BYTES 16
#define HEX_MAC (AUDIT_MAC_BYTES * 2)
#define JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)
#define ENTRY_KEYS 12
#define DOCUMENTS_BIT 11
#define LINE_MAX_BYTES ((size_t)64 << 20) /* no entry of ours is this long */
#define TAIL_CHUNK ((size_t)64 << 10)
#define PATH_ROOM 32 /* suffixes we add: ".head.tmp", ".4294967295" */

_Static_assert(DOCUMENTS_BIT == FIELD_MAX + 1, "bit 11 of audit_event.fields is documents");
_Static_assert(crypto_kdf_KEYBYTES == KEYRING_KEY_BYTES, "index keys are KDF master keys");

/* A growable byte buffer for lines (no personal data, so no wiping). */
struct lbuf {
	char *p;
	size_t len, cap;
};

struct audit {
	pthread_mutex_t lock;      /* fd, head, buffers, flags */
	pthread_mutex_t sync_lock; /* one sync (and head file write) at a time */
	pthread_mutex_t solo_lock; /* the batch of audit_log() */
	struct audit_batch *solo;
	pthread_cond_t cond;       /* wakes the sync thread to stop */
	pthread_t thread;
	int thread_running;
	int stop;
	int fd;
	int dirfd;                 /* -1 when path is a device */
	int regular;
	int failed;                /* data may not be durable: refuse entries */
	int dirty;                 /* written since the last sync */
	int head_warned;
	int acknowledging;         /* AUDIT_OPEN_ACKNOWLEDGE: a short trail is no error */
	uint64_t lost_to;          /* the head file's seq, when ahead of the trail */
	char *path, *head_path, *head_tmp;
	size_t max_bytes;
	unsigned interval_ms;
	unsigned next_rot;         /* number for the next rotated file */
	uint64_t size;             /* bytes in the current file */
	uint64_t seq;              /* last entry written; 0: none yet */
	uint8_t mac[AUDIT_MAC_BYTES];
	uint64_t durable_seq;      /* last entry known to be on disk */
	uint8_t durable_mac[AUDIT_MAC_BYTES];
	struct lbuf line, last, synced;
	/* The space reserve (audit.h, a full file system). */
	char *reserve_path;
	int reserve_fd;            /* -1: no reserve */
	size_t reserve_bytes;
	int reserve_held;          /* the reserve file holds its room */
	long long reserve_try_ms;  /* next refill attempt (CLOCK_MONOTONIC) */
	atomic_int in_reserve;     /* the disk filled: the reserve was released */
	atomic_int nospace;        /* the last write failed: file system full */
	atomic_int announced;      /* this fill was logged (and alerted) */
	atomic_int full_news;      /* for audit_disk_full_news() */
	/* Carrying (audit_carry_take): the current file as the store's commit
	 * log names it, a descriptor to read it, and where the next carried
	 * range starts (everything before it is durable or carried). */
	char *carry_path;
	int carry_fd;
	uint64_t carry_dev, carry_ino, carried_off;
};

/* One line, parsed and checked for shape; pointers live as long as root. */
struct parsed {
	json_t *root;
	uint64_t seq;
	int64_t time;
	uint64_t uid;
	uint32_t kv;
	const char *client, *purpose, *op, *outcome, *mac, *prev;
	json_t *records, *fields;
};

/* ---- small helpers ------------------------------------------------------ */

static int
lbuf_reserve(struct lbuf *b, size_t n)
{
	if (n <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 512;
	while (cap < n)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int
lbuf_set(struct lbuf *b, const char *p, size_t n)
{
	if (lbuf_reserve(b, n) != 0)
		return -1;
	memcpy(b->p, p, n);
	b->len = n;
	return 0;
}

static void
lbuf_free(struct lbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int
put(struct lbuf *b, const char *p, size_t n)
{
	if (lbuf_reserve(b, b->len + n) != 0)
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int
put_c(struct lbuf *b, const char *s)
{
	return put(b, s, strlen(s));
}

#define INT_CHARS 24

/* A decimal integer, as jansson's "%lld" writes it; returns its length. */
static size_t
fmt_int(char out[INT_CHARS], int64_t v)
{
	char tmp[INT_CHARS], *e = tmp + sizeof(tmp), *p = e;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	memcpy(out, p, (size_t)(e - p));
	return (size_t)(e - p);
}

static int
put_int(struct lbuf *b, int64_t v)
{
	char tmp[INT_CHARS];
	return put(b, tmp, fmt_int(tmp, v));
}

/* Whether JSON writes s as it is, between quotes. */
static int
plain(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return 0;
	return 1;
}

/*
 * A JSON string exactly as json_dumps() writes it, so that entries are the
 * canonical form the verifier parses back. Printable ASCII other than '"'
 * and '\\' is written as it is (jansson does the same); anything else is
 * left to jansson itself, which also refuses invalid UTF-8.
 */
static int
put_str(struct lbuf *b, const char *s)
{
	size_t n = strlen(s);
	if (plain(s))
		return put(b, "\"", 1) || put(b, s, n) || put(b, "\"", 1) ? -1 : 0;
	json_t *j = json_string(s);
	size_t m = j ? json_dumpb(j, NULL, 0, JSON_FLAGS | JSON_ENCODE_ANY) : 0;
	int rc = -1;
	if (m > 0 && lbuf_reserve(b, b->len + m) == 0 &&
	    json_dumpb(j, b->p + b->len, m, JSON_FLAGS | JSON_ENCODE_ANY) == m) {
		b->len += m;
		rc = 0;
	}
	json_decref(j);
	return rc;
}

__attribute__((format(printf, 3, 4)))
static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *
path_with(const char *path, const char *suffix)
{
	size_t n = strlen(path), m = strlen(suffix);
	char *s = malloc(n + m + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, path, n);
	memcpy(s + n, suffix, m + 1);
	return s;
}

static int
write_all(int fd, const char *p, size_t n, size_t *done)
{
	*done = 0;
	while (*done < n) {
		ssize_t w = write(fd, p + *done, n - *done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		*done += (size_t)w;
	}
	return 0;
}

static int
is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* ---- keys, pseudonyms, the chain MAC ------------------------------------ */

/*
 * Lower-case hex of n bytes, NUL-terminated. Not sodium_bin2hex(), which
 * runs in constant time: what is encoded here (pseudonyms, MACs) is written
 * to the trail in clear anyway, and the constant-time encoder was a tenth
 * of an entry's cost (bench/callgrind.sh).
 */
static void
to_hex(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
subkey(const struct key_set *ks, uint32_t kv, uint64_t id, uint8_t key[crypto_kdf_KEYBYTES])
{
	const uint8_t *ik = ks && ks->ring ? keyring_key(ks->ring, KEYRING_INDEX, kv) : NULL;
	if (ik == NULL)
		return VAULT_E_KEYRING;
	if (crypto_kdf_derive_from_key(key, crypto_kdf_KEYBYTES, id, KDF_CONTEXT, ik) != 0)
		return VAULT_E_KEYRING;
	return 0;
}

static void
pseudonym_with(const uint8_t *key, uint32_t version, uint64_t id, char out[AUDIT_PSEUDONYM_MAX])
{
	uint8_t le[8], h[PSEUDONYM_HASH_BYTES];
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(id >> (8 * i));
	crypto_generichash(h, sizeof(h), le, sizeof(le), key, crypto_kdf_KEYBYTES);
	/* "v<version>:" by hand: snprintf was a fifth of an entry's cost. */
	char digits[10];
	size_t nd = 0, n = 0;
	do
		digits[nd++] = (char)('0' + version % 10);
	while ((version /= 10) != 0);
	out[n++] = 'v';
	while (nd > 0)
		out[n++] = digits[--nd];
	out[n++] = ':';
	to_hex(out + n, h, sizeof(h));
}

int
audit_pseudonym(const struct key_set *ks, uint32_t version, uint64_t record_id,
    char out[AUDIT_PSEUDONYM_MAX])
{
	uint8_t key[crypto_kdf_KEYBYTES];
	if (subkey(ks, version, SUBKEY_PSEUDONYM, key) != 0)
		return VAULT_E_KEYRING;
	pseudonym_with(key, version, record_id, out);
	sodium_memzero(key, sizeof(key));
	return 0;
}

/*
 * The MAC of line s[0..n) (no newline): over prev and the line without its
 * ,"mac":"<hex>" part, i.e. the canonical entry without mac. That text
 * cannot occur inside a string (a quote there is escaped), so the first
 * match is the key. -1 if the line has no such part.
 */
static int
line_mac(const uint8_t *key, const uint8_t prev[AUDIT_MAC_BYTES], const char *s,
    size_t n, uint8_t out[AUDIT_MAC_BYTES])
{
	static const char tag[] = ",\"mac\":\"";
	const size_t tl = sizeof(tag) - 1, cut = tl + HEX_MAC + 1;
	const char *m = memmem(s, n, tag, tl);
	crypto_generichash_state st;
	if (m == NULL || (size_t)(m - s) + cut > n || m[tl + HEX_MAC] != '"')
		return -1;
	size_t before = (size_t)(m - s);
	crypto_generichash_init(&st, key, crypto_kdf_KEYBYTES, AUDIT_MAC_BYTES);
	crypto_generichash_update(&st, prev, AUDIT_MAC_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)s, before);
	crypto_generichash_update(&st, (const unsigned char *)m + cut, n - before - cut);
	crypto_generichash_final(&st, out, AUDIT_MAC_BYTES);
	sodium_memzero(&st, sizeof(st));
	return 0;
}

/* ---- parsing a line ----------------------------------------------------- */

static const char *
opt_str(json_t *v, int *ok)
{
	if (json_is_null(v))
		return NULL;
	if (!json_is_string(v))
		*ok = 0;
	return json_string_value(v);
}

static int
str_array(json_t *a)
{
	size_t i;
	json_t *v;
	if (!json_is_array(a))
		return 0;
	json_array_foreach(a, i, v)
		if (!json_is_string(v))
			return 0;
	return 1;
}

/* Parse s[0..n) (without its newline) into p; 0 or -1 (p->root then NULL). */
static int
parse_line(const char *s, size_t n, struct parsed *p)
{
	json_error_t jerr;
	int ok = 1;
	memset(p, 0, sizeof(*p));
	p->root = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
	if (p->root == NULL)
		return -1;
	json_t *o = p->root;
	json_t *seq = json_object_get(o, "seq"), *tm = json_object_get(o, "time"),
	    *uid = json_object_get(o, "uid"), *kv = json_object_get(o, "kv"),
	    *op = json_object_get(o, "op"), *outcome = json_object_get(o, "outcome"),
	    *mac = json_object_get(o, "mac"), *prev = json_object_get(o, "prev");
	if (!json_is_object(o) || json_object_size(o) != ENTRY_KEYS ||
	    !json_is_integer(seq) || json_integer_value(seq) < 1 ||
	    !json_is_integer(tm) || !json_is_integer(uid) || json_integer_value(uid) < 0 ||
	    !json_is_integer(kv) || json_integer_value(kv) < 1 ||
	    json_integer_value(kv) > UINT32_MAX ||
	    !json_is_string(op) || !json_is_string(outcome) ||
	    !json_is_string(mac) || json_string_length(mac) != HEX_MAC ||
	    !json_is_string(prev) || json_string_length(prev) != HEX_MAC)
		goto bad;
	p->seq = (uint64_t)json_integer_value(seq);
	p->time = (int64_t)json_integer_value(tm);
	p->uid = (uint64_t)json_integer_value(uid);
	p->kv = (uint32_t)json_integer_value(kv);
	p->op = json_string_value(op);
	p->outcome = json_string_value(outcome);
	p->mac = json_string_value(mac);
	p->prev = json_string_value(prev);
	p->client = opt_str(json_object_get(o, "client"), &ok);
	p->purpose = opt_str(json_object_get(o, "purpose"), &ok);
	p->records = json_object_get(o, "records");
	p->fields = json_object_get(o, "fields");
	if (!ok || json_object_get(o, "client") == NULL || json_object_get(o, "purpose") == NULL ||
	    !str_array(p->records) || !str_array(p->fields) ||
	    !is_lower_hex(p->mac, HEX_MAC) || !is_lower_hex(p->prev, HEX_MAC))
		goto bad;
	return 0;
bad:
	json_decref(p->root);
	p->root = NULL;
	return -1;
}

/* ---- building and writing entries --------------------------------------- */

/*
 * An entry in four pieces around what needs the lock (prev, seq, mac); with
 * the keys in sorted order the canonical entry without its mac is
 *   a | b | prev hex | c | seq | d
 * and the line is a | ,"mac":"<hex>" | b | prev hex | c | seq | d.
 * Offsets are into the batch's buffer; the entry begins at start.
 */
struct pieces {
	size_t start, a, b, c, d;
	unsigned slot;      /* its keys in the batch */
};

static int
build(struct lbuf *b, struct pieces *pc, const uint8_t *pkey, uint32_t kv,
    const struct audit_event *ev)
{
	char pn[AUDIT_PSEUDONYM_MAX];
	const char *purpose = ev->purpose ? vault_purpose_name(ev->purpose) : NULL;
	int n = 0, bad;

	pc->start = b->len;
	bad = put_c(b, "{\"client\":") ||
	    (ev->client ? put_str(b, ev->client) : put_c(b, "null")) ||
	    put_c(b, ",\"fields\":[");
	/* Bits beyond the fields and documents name nothing: they are left out. */
	for (unsigned i = 1; !bad && i <= DOCUMENTS_BIT; i++) {
		if (!(ev->fields & (UINT32_C(1) << i)))
			continue;
		const struct field_info *fi = i == DOCUMENTS_BIT ? NULL : field_by_id(i);
		const char *name = i == DOCUMENTS_BIT ? "documents" : fi ? fi->name : NULL;
		if (name != NULL)
			bad = (n++ > 0 && put_c(b, ",")) || put_str(b, name);
	}
	bad = bad || put_c(b, "],\"kv\":") || put_int(b, kv);
	pc->a = b->len;
	bad = bad || put_c(b, ",\"op\":") || put_str(b, ev->op ? ev->op : "") ||
	    put_c(b, ",\"outcome\":") ||
	    put_str(b, ev->outcome_name ? ev->outcome_name :
	        ev->outcome == 0 ? "ok" : vault_error_name(ev->outcome)) ||
	    put_c(b, ",\"prev\":\"");
	pc->b = b->len;
	bad = bad || put_c(b, "\",\"purpose\":") ||
	    (purpose ? put_str(b, purpose) : put_c(b, "null")) || put_c(b, ",\"records\":[");
	for (size_t i = 0; !bad && i < ev->nrecords; i++) {
		pseudonym_with(pkey, kv, ev->records[i], pn);
		bad = (i > 0 && put_c(b, ",")) || put_str(b, pn);
	}
	bad = bad || put_c(b, "],\"seq\":");
	pc->c = b->len;
	bad = bad || put_c(b, ",\"time\":") ||
	    put_int(b, (int64_t)(ev->time ? ev->time : time(NULL))) ||
	    put_c(b, ",\"uid\":") || put_int(b, (int64_t)ev->uid) || put_c(b, "}");
	pc->d = b->len;
	if (bad)
		b->len = pc->start;
	return bad ? -1 : 0;
}

/* ---- a full file system (audit.h) --------------------------------------- */

static long long
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The disk filled: log it and tell the alert, once per fill. */
static void
announce_full(struct audit *a, int released)
{
	if (atomic_exchange(&a->announced, 1))
		return;
	atomic_store(&a->full_news, 1);
	if (released)
		log_error("audit trail: its file system is full; released the %zu-byte "
		    "space reserve, which entries now use: free space on that file "
		    "system before it runs out too", a->reserve_bytes);
	else
		log_error("audit trail: its file system is full and no space reserve is "
		    "left; requests are refused until space is freed");
}

/* Give the reserve's room to the trail; 1 if there was any. Lock held. */
static int
reserve_release(struct audit *a)
{
	if (!a->reserve_held)
		return 0;
	a->reserve_held = 0;
	if (ftruncate(a->reserve_fd, 0) != 0)
		return 0;
	atomic_store(&a->in_reserve, 1);
	announce_full(a, 1);
	return 1;
}

/*
 * Preallocate the reserve (at open; and from the sync thread, at most once
 * a second, while it is not held). Lock held. With room for it only once
 * over, the reserve would take what was just freed: wait for twice.
 */
static void
reserve_fill(struct audit *a, int at_open)
{
	struct statvfs vfs;
	if (a->reserve_fd < 0 || a->reserve_held)
		return;
	long long now = mono_ms();
	if (!at_open && now < a->reserve_try_ms)
		return;
	a->reserve_try_ms = now + 1000;
	if (!at_open && (fstatvfs(a->reserve_fd, &vfs) != 0 ||
	    (uint64_t)vfs.f_bavail * vfs.f_frsize / 2 < a->reserve_bytes))
		return;
	int rc = posix_fallocate(a->reserve_fd, 0, (off_t)a->reserve_bytes);
	if (rc != 0) {
		(void)ftruncate(a->reserve_fd, 0); /* what it got part way */
		if (at_open)
			log_warn("audit trail: the %zu-byte space reserve cannot be "
			    "preallocated (%s); trying again while running",
			    a->reserve_bytes, strerror(rc));
		return;
	}
	a->reserve_held = 1;
	if (atomic_exchange(&a->in_reserve, 0) || atomic_load(&a->announced)) {
		atomic_store(&a->announced, 0);
		log_info("audit trail: space is back; the %zu-byte reserve is in place again",
		    a->reserve_bytes);
	}
}

static void
reserve_open(struct audit *a, size_t bytes)
{
	struct stat st;
	a->reserve_fd = -1;
	if (a->reserve_path == NULL)
		return;
	if (bytes == 0) {
		(void)unlink(a->reserve_path); /* left by a configuration with one */
		return;
	}
	a->reserve_bytes = bytes;
	a->reserve_fd = open(a->reserve_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (a->reserve_fd < 0 || fstat(a->reserve_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_warn("audit trail: %s cannot be opened as a regular file: no space reserve",
		    a->reserve_path);
		if (a->reserve_fd >= 0)
			close(a->reserve_fd);
		a->reserve_fd = -1;
		return;
	}
	if ((uint64_t)st.st_size > bytes)
		(void)ftruncate(a->reserve_fd, (off_t)bytes); /* configured smaller */
	reserve_fill(a, 1);
}

int
audit_release_reserve_for(struct audit *a, const char *dir)
{
	struct stat ds, rs;
	int released = 0;
	if (a == NULL || a->reserve_fd < 0 || stat(dir, &ds) != 0)
		return 0;
	pthread_mutex_lock(&a->lock);
	if (fstat(a->reserve_fd, &rs) == 0 && rs.st_dev == ds.st_dev)
		released = reserve_release(a);
	pthread_mutex_unlock(&a->lock);
	return released;
}

enum audit_space
audit_space(struct audit *a)
{
	if (a == NULL)
		return AUDIT_SPACE_FAILED;
	pthread_mutex_lock(&a->lock);
	int failed = a->failed;
	pthread_mutex_unlock(&a->lock);
	if (failed)
		return AUDIT_SPACE_FAILED;
	if (atomic_load(&a->nospace))
		return AUDIT_SPACE_FULL;
	if (atomic_load(&a->in_reserve))
		return AUDIT_SPACE_RESERVE;
	return AUDIT_SPACE_OK;
}

const char *
audit_space_name(enum audit_space s)
{
	switch (s) {
	case AUDIT_SPACE_OK:
		return "ok";
	case AUDIT_SPACE_RESERVE:
		return "using the space reserve";
	case AUDIT_SPACE_FULL:
		return "file system full";
	default:
		return "failed";
	}
}

int
audit_disk_full_news(struct audit *a)
{
	return a != NULL && atomic_exchange(&a->full_news, 0);
}

const char *
audit_refusal(struct audit *a, int write)
{
	if (a != NULL && atomic_load(&a->nospace))
		return write ? "the audit trail's file system is full; nothing was changed" :
		    "the audit trail's file system is full; nothing is returned";
	return write ? "the audit trail cannot be written; nothing was changed" :
	    "the audit trail cannot be written; nothing is returned";
}

/* A partial line would break every entry after it: cut it off. Lock held. */
static int
cut_partial(struct audit *a, size_t done)
{
	if (done > 0 && a->regular && ftruncate(a->fd, (off_t)a->size) != 0) {
		a->failed = 1;
		log_error("audit trail: a partly written entry could not be removed; "
		    "no further entries are accepted");
		return -1;
	}
	return 0;
}

/*
 * Append one whole line to the current file; called with the lock held. A
 * full file system releases the reserve and tries once more (audit.h).
 */
static int
append(struct audit *a, const char *p, size_t n)
{
	size_t done;
	errno = 0;
	if (write_all(a->fd, p, n, &done) == 0)
		goto written;
	int e = errno;
	if (cut_partial(a, done) != 0 || (e != ENOSPC && e != EDQUOT))
		return -1;
	if (reserve_release(a)) {
		errno = 0;
		if (write_all(a->fd, p, n, &done) == 0)
			goto written;
		(void)cut_partial(a, done);
	}
	announce_full(a, 0);
	atomic_store(&a->nospace, 1);
	return -1;
written:
	a->size += n;
	if (atomic_exchange(&a->nospace, 0)) {
		log_info("audit trail: entries are written again");
		/* With a reserve, its refill ends the fill (reserve_fill). */
		if (a->reserve_fd < 0)
			atomic_store(&a->announced, 0);
	}
	return 0;
}

static int
rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	/* The file system lacks RENAME_NOREPLACE; we are the only writer here. */
	if (access(to, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

/*
 * Move the current file to path.N and start a new one; called with the lock
 * held. A crash after the rename leaves no current file, and audit_open()
 * then takes the head from path.N: the chain survives either way.
 */
static int
rotate(struct audit *a)
{
	char to[PATH_MAX];
	/* A rotated file is final: make it durable before it takes its name. */
	if (fdatasync(a->fd) != 0) {
		a->failed = 1; /* acknowledged entries may be lost (see audit_sync) */
		log_error("audit trail: flushing to disk failed; no further entries are accepted");
		return -1;
	}
	for (;;) {
		if (a->next_rot == UINT_MAX)
			return -1;
		snprintf(to, sizeof(to), "%s.%u", a->path, a->next_rot);
		if (rename_noreplace(a->path, to) == 0)
			break;
		if (errno != EEXIST)
			return -1;
		a->next_rot++;
	}
	a->next_rot++;
	int fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		/* Put it back, so entries keep going where they are looked for. */
		if (rename_noreplace(to, a->path) != 0)
			log_error("audit trail: rotation failed half way; the current "
			    "file was left under its rotated name");
		return -1;
	}
	(void)fsync(a->dirfd);
	close(a->fd);
	a->fd = fd;
	a->size = 0;
	return 0;
}

/* ---- batches: entries built unlocked, chained and written together ------ */

/*
 * A batch's entries are built (pseudonyms, JSON) without the trail's lock;
 * commit chains them under the lock and appends them with one write(2).
 * The subkeys of each index key version used are derived once per batch
 * and kept in secure memory until the commit wipes them. Up to
 * BATCH_KEY_SLOTS versions per batch: the current version changes once per
 * index key rotation, so a batch (one worker loop pass, one group commit)
 * sees one, rarely two.
 */
#define BATCH_KEY_SLOTS 4

struct batch_keys {
	uint8_t chain[BATCH_KEY_SLOTS][crypto_kdf_KEYBYTES];
	uint8_t pseudonym[BATCH_KEY_SLOTS][crypto_kdf_KEYBYTES];
};

struct audit_batch {
	struct lbuf buf;          /* the entries' pieces, back to back */
	struct pieces *e;
	size_t n, cap;
	uint32_t kv[BATCH_KEY_SLOTS];
	unsigned nkeys;
	struct batch_keys *keys;  /* sodium_malloc'd */
};

struct audit_batch *
audit_batch_new(void)
{
	struct audit_batch *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	if ((b->keys = sodium_malloc(sizeof(*b->keys))) == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

void
audit_batch_clear(struct audit_batch *b)
{
	b->n = 0;
	b->buf.len = 0;
	if (b->nkeys > 0)
		sodium_memzero(b->keys, sizeof(*b->keys));
	b->nkeys = 0;
}

void
audit_batch_free(struct audit_batch *b)
{
	if (b == NULL)
		return;
	sodium_free(b->keys); /* wipes */
	lbuf_free(&b->buf);
	free(b->e);
	free(b);
}

size_t
audit_batch_count(const struct audit_batch *b)
{
	return b ? b->n : 0;
}

void
audit_batch_truncate(struct audit_batch *b, size_t n)
{
	if (b != NULL && n < b->n) {
		b->buf.len = b->e[n].start;
		b->n = n;
	}
}

int
audit_batch_add(struct audit_batch *b, const struct key_set *ks, const struct audit_event *ev)
{
	unsigned slot;
	if (b == NULL || ks == NULL || ev == NULL)
		return VAULT_E_AUDIT;
	uint32_t kv = keyring_current(ks->ring, KEYRING_INDEX);
	for (slot = 0; slot < b->nkeys && b->kv[slot] != kv; slot++)
		;
	if (slot == b->nkeys) {
		if (slot == BATCH_KEY_SLOTS ||
		    subkey(ks, kv, SUBKEY_CHAIN, b->keys->chain[slot]) != 0 ||
		    subkey(ks, kv, SUBKEY_PSEUDONYM, b->keys->pseudonym[slot]) != 0)
			return VAULT_E_AUDIT;
		b->kv[slot] = kv;
		b->nkeys++;
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct pieces *e = realloc(b->e, cap * sizeof(*e));
		if (e == NULL)
			return VAULT_E_AUDIT;
		b->e = e;
		b->cap = cap;
	}
	if (build(&b->buf, &b->e[b->n], b->keys->pseudonym[slot], kv, ev) != 0)
		return VAULT_E_AUDIT;
	b->e[b->n].slot = slot;
	b->n++;
	return 0;
}

/*
 * Chain entry pc after the entry whose MAC is mac (hex: its hex) as number
 * seq, appending its line to out; mac and hex become the new entry's.
 */
static int
chain_one(struct lbuf *out, const char *p, const struct pieces *pc,
    const uint8_t *ckey, uint8_t mac[AUDIT_MAC_BYTES], char hex[HEX_MAC + 1],
    uint64_t seq)
{
	char prev[HEX_MAC + 1], seqs[INT_CHARS];
	crypto_generichash_state st;
	size_t seqlen = fmt_int(seqs, (int64_t)seq);
	memcpy(prev, hex, sizeof(prev));
	crypto_generichash_init(&st, ckey, crypto_kdf_KEYBYTES, AUDIT_MAC_BYTES);
	crypto_generichash_update(&st, mac, AUDIT_MAC_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)p + pc->start, pc->b - pc->start);
	crypto_generichash_update(&st, (const unsigned char *)prev, HEX_MAC);
	crypto_generichash_update(&st, (const unsigned char *)p + pc->b, pc->c - pc->b);
	crypto_generichash_update(&st, (const unsigned char *)seqs, seqlen);
	crypto_generichash_update(&st, (const unsigned char *)p + pc->c, pc->d - pc->c);
	crypto_generichash_final(&st, mac, AUDIT_MAC_BYTES);
	sodium_memzero(&st, sizeof(st));
	to_hex(hex, mac, AUDIT_MAC_BYTES);
	return put(out, p + pc->start, pc->a - pc->start) || put_c(out, ",\"mac\":\"") ||
	    put(out, hex, HEX_MAC) || put_c(out, "\"") ||
	    put(out, p + pc->a, pc->b - pc->a) || put(out, prev, HEX_MAC) ||
	    put(out, p + pc->b, pc->c - pc->b) || put(out, seqs, seqlen) ||
	    put(out, p + pc->c, pc->d - pc->c) || put(out, "\n", 1) ? -1 : 0;
}

static int commit_head(struct audit *a, struct audit_batch *b, uint64_t *seq,
    uint8_t out_mac[AUDIT_MAC_BYTES]);

int
audit_batch_commit(struct audit *a, struct audit_batch *b)
{
	return commit_head(a, b, NULL, NULL);
}

/* audit_batch_commit(), giving the last entry written (*seq 0: none). */
static int
commit_head(struct audit *a, struct audit_batch *b, uint64_t *seq,
    uint8_t out_mac[AUDIT_MAC_BYTES])
{
	uint8_t mac[AUDIT_MAC_BYTES];
	char hex[HEX_MAC + 1];
	size_t last = 0;
	int rc = VAULT_E_AUDIT;

	if (seq != NULL)
		*seq = 0;
	if (b == NULL || b->n == 0)
		return 0;
	if (a == NULL)
		goto out;
	pthread_mutex_lock(&a->lock);
	if (a->failed || a->seq >= (uint64_t)INT64_MAX - b->n)
		goto unlock;
	memcpy(mac, a->mac, sizeof(mac));
	to_hex(hex, mac, sizeof(mac));
	a->line.len = 0;
	for (size_t i = 0; i < b->n; i++) {
		last = a->line.len;
		if (chain_one(&a->line, b->buf.p, &b->e[i], b->keys->chain[b->e[i].slot],
		    mac, hex, a->seq + 1 + i) != 0)
			goto unlock;
	}
	/* Room for the head copy first: once written, the entries must count. */
	if (lbuf_reserve(&a->last, a->line.len - last) != 0)
		goto unlock;
	if (a->regular && a->max_bytes > 0 && a->size > 0 &&
	    a->size + a->line.len > a->max_bytes && rotate(a) != 0)
		goto unlock;
	if (append(a, a->line.p, a->line.len) != 0)
		goto unlock;
	a->seq += b->n;
	memcpy(a->mac, mac, sizeof(mac));
	if (seq != NULL) {
		*seq = a->seq;
		memcpy(out_mac, mac, sizeof(mac));
	}
	(void)lbuf_set(&a->last, a->line.p + last, a->line.len - last); /* reserved */
	a->dirty = 1;
	rc = 0;
unlock:
	pthread_mutex_unlock(&a->lock);
out:
	audit_batch_clear(b);
	return rc;
}

int
audit_log(struct audit *a, const struct key_set *ks, const struct audit_event *ev)
{
	if (a == NULL)
		return VAULT_E_AUDIT;
	pthread_mutex_lock(&a->solo_lock);
	int rc = audit_batch_add(a->solo, ks, ev);
	if (rc == 0)
		rc = audit_batch_commit(a, a->solo);
	audit_batch_clear(a->solo);
	pthread_mutex_unlock(&a->solo_lock);
	return rc;
}

void
audit_head(struct audit *a, uint64_t *seq, uint8_t mac[AUDIT_MAC_BYTES])
{
	pthread_mutex_lock(&a->lock);
	*seq = a->seq;
	memcpy(mac, a->mac, AUDIT_MAC_BYTES);
	pthread_mutex_unlock(&a->lock);
}

void
audit_durable_head(struct audit *a, uint64_t *seq, uint8_t mac[AUDIT_MAC_BYTES])
{
	*seq = 0;
	if (a == NULL || !a->regular)
		return;
	pthread_mutex_lock(&a->lock);
	*seq = a->durable_seq;
	memcpy(mac, a->durable_mac, AUDIT_MAC_BYTES);
	pthread_mutex_unlock(&a->lock);
}

uint64_t
audit_lost_to(struct audit *a)
{
	return a ? a->lost_to : 0;
}

int
audit_acknowledge(struct audit *a, const struct key_set *ks, uint64_t data_seq, uid_t uid,
    uint64_t *seq, uint8_t mac[AUDIT_MAC_BYTES])
{
	struct audit_event ev = {
		.uid = uid, .op = AUDIT_ACKNOWLEDGE_OP, .time = time(NULL),
	};
	int rc;
	if (a == NULL || !a->regular)
		return VAULT_E_AUDIT;
	pthread_mutex_lock(&a->solo_lock);
	pthread_mutex_lock(&a->lock);
	/*
	 * The entry takes the number after every one known to have existed
	 * (what the data and the head file record), chained to the last one
	 * still there: no number is handed out twice, and the gap is in the
	 * chain for audit_verify() to report.
	 */
	uint64_t skip = data_seq > a->lost_to ? data_seq : a->lost_to;
	if (skip > a->seq && skip < (uint64_t)INT64_MAX)
		a->seq = skip;
	pthread_mutex_unlock(&a->lock);
	rc = audit_batch_add(a->solo, ks, &ev);
	if (rc == 0)
		rc = commit_head(a, a->solo, seq, mac);
	audit_batch_clear(a->solo);
	pthread_mutex_unlock(&a->solo_lock);
	if (rc == 0) {
		a->lost_to = 0;
		rc = audit_sync(a);
	}
	return rc;
}

/* ---- syncing and the head file ------------------------------------------ */

static int
write_head(struct audit *a)
{
	size_t done;
	int fd = open(a->head_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write_all(fd, a->synced.p, a->synced.len, &done) != 0 || fdatasync(fd) != 0) {
		close(fd);
		unlink(a->head_tmp);
		return -1;
	}
	close(fd);
	if (rename(a->head_tmp, a->head_path) != 0) {
		unlink(a->head_tmp);
		return -1;
	}
	(void)fsync(a->dirfd);
	return 0;
}

int
audit_sync(struct audit *a)
{
	int rc = 0, fd;
	if (a == NULL || !a->regular)
		return 0;
	pthread_mutex_lock(&a->sync_lock);
	pthread_mutex_lock(&a->lock);
	if (!a->dirty) {
		rc = a->failed ? VAULT_E_AUDIT : 0;
		pthread_mutex_unlock(&a->lock);
		goto out;
	}
	/* Sync a duplicate, so rotation may replace a->fd meanwhile. */
	uint64_t snap_seq = a->seq;
	uint8_t snap_mac[AUDIT_MAC_BYTES];
	memcpy(snap_mac, a->mac, sizeof(snap_mac));
	fd = fcntl(a->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0 || lbuf_set(&a->synced, a->last.p, a->last.len) != 0) {
		pthread_mutex_unlock(&a->lock);
		if (fd >= 0)
			close(fd);
		rc = VAULT_E_AUDIT; /* still dirty: the next round retries */
		goto out;
	}
	a->dirty = 0;
	pthread_mutex_unlock(&a->lock);
	if (fdatasync(fd) != 0) {
		/* Acknowledged entries may be lost: stop accepting any (fail closed). */
		pthread_mutex_lock(&a->lock);
		a->failed = 1;
		pthread_mutex_unlock(&a->lock);
		log_error("audit trail: flushing to disk failed; no further entries are accepted");
		rc = VAULT_E_AUDIT;
	} else {
		/* Entries up to snap_seq survive a power loss now (the anchor). */
		pthread_mutex_lock(&a->lock);
		if (snap_seq > a->durable_seq) {
			a->durable_seq = snap_seq;
			memcpy(a->durable_mac, snap_mac, sizeof(snap_mac));
		}
		pthread_mutex_unlock(&a->lock);
		if (write_head(a) != 0) {
			if (!a->head_warned)
				log_warn("audit trail: the head file cannot be written; "
				    "tail truncation will go unnoticed until it can");
			a->head_warned = 1;
		} else {
			a->head_warned = 0;
		}
	}
	close(fd);
out:
	pthread_mutex_unlock(&a->sync_lock);
	return rc;
}

int
audit_flush(struct audit *a)
{
	if (a == NULL || !a->regular)
		return 0;
	pthread_mutex_lock(&a->lock);
	if (a->failed) {
		pthread_mutex_unlock(&a->lock);
		return VAULT_E_AUDIT;
	}
	/* A duplicate, as in audit_sync: rotation may replace a->fd meanwhile
	 * (it flushes the file it retires itself). */
	uint64_t snap_seq = a->seq;
	uint8_t snap_mac[AUDIT_MAC_BYTES];
	memcpy(snap_mac, a->mac, sizeof(snap_mac));
	int fd = snap_seq > a->durable_seq ? fcntl(a->fd, F_DUPFD_CLOEXEC, 0) : -2;
	pthread_mutex_unlock(&a->lock);
	if (fd == -2)
		return 0; /* all durable already */
	if (fd < 0)
		return VAULT_E_AUDIT;
	int rc = fdatasync(fd);
	close(fd);
	pthread_mutex_lock(&a->lock);
	if (rc != 0) {
		a->failed = 1; /* as audit_sync: entries may be lost, fail closed */
	} else if (snap_seq > a->durable_seq) {
		a->durable_seq = snap_seq;
		memcpy(a->durable_mac, snap_mac, sizeof(snap_mac));
	}
	pthread_mutex_unlock(&a->lock);
	if (rc != 0) {
		log_error("audit trail: flushing to disk failed; no further entries are accepted");
		return VAULT_E_AUDIT;
	}
	return 0;
}

int
audit_carry_take(struct audit *a, struct audit_carry *c)
{
	struct stat st;
	int rc = VAULT_E_AUDIT;
	memset(c, 0, sizeof(*c));
	if (a == NULL || !a->regular)
		return 0; /* nothing to carry (a device: never flushed either) */
	pthread_mutex_lock(&a->lock);
	if (a->failed || fstat(a->fd, &st) != 0)
		goto out;
	if (a->carry_path == NULL && (a->carry_path = realpath(a->path, NULL)) == NULL)
		goto out;
	if ((uint64_t)st.st_dev != a->carry_dev || (uint64_t)st.st_ino != a->carry_ino ||
	    a->carry_fd < 0) {
		/* A file not carried before (the first batch, or a rotation):
		 * everything in it so far is made durable here, once, so that
		 * carried ranges always start where the durable file ends. */
		int fd = open(a->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		struct stat fst;
		if (fd < 0 || fstat(fd, &fst) != 0 || fst.st_ino != st.st_ino ||
		    fst.st_dev != st.st_dev || fdatasync(a->fd) != 0) {
			if (fd >= 0)
				close(fd);
			goto out;
		}
		if (a->carry_fd >= 0)
			close(a->carry_fd);
		a->carry_fd = fd;
		a->carry_dev = (uint64_t)st.st_dev;
		a->carry_ino = (uint64_t)st.st_ino;
		a->carried_off = a->size;
		if (a->seq > a->durable_seq) {
			a->durable_seq = a->seq;
			memcpy(a->durable_mac, a->mac, sizeof(a->mac));
		}
	}
	c->path = a->carry_path;
	c->dev = a->carry_dev;
	c->ino = a->carry_ino;
	c->off = a->carried_off;
	c->len = (size_t)(a->size - a->carried_off);
	c->seq = a->seq;
	memcpy(c->mac, a->mac, sizeof(c->mac));
	if (c->len > 0) {
		if ((c->bytes = malloc(c->len)) == NULL)
			goto out;
		for (size_t at = 0; at < c->len;) {
			ssize_t r = pread(a->carry_fd, c->bytes + at, c->len - at, (off_t)(c->off + at));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				free(c->bytes);
				c->bytes = NULL;
				goto out;
			}
			at += (size_t)r;
		}
	}
	rc = 0;
out:
	pthread_mutex_unlock(&a->lock);
	if (rc != 0)
		memset(c, 0, sizeof(*c));
	return rc;
}

void
audit_carry_done(struct audit *a, struct audit_carry *c, int durable)
{
	if (a != NULL && c->path != NULL) {
		pthread_mutex_lock(&a->lock);
		if (durable && c->dev == a->carry_dev && c->ino == a->carry_ino) {
			if (c->off + c->len > a->carried_off)
				a->carried_off = c->off + c->len;
			if (c->seq > a->durable_seq) {
				a->durable_seq = c->seq;
				memcpy(a->durable_mac, c->mac, sizeof(c->mac));
			}
		}
		pthread_mutex_unlock(&a->lock);
	}
	free(c->bytes);
	memset(c, 0, sizeof(*c));
}

static void *
sync_main(void *arg)
{
	struct audit *a = arg;
	struct timespec ts;
	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += a->interval_ms / 1000;
		ts.tv_nsec += (long)(a->interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!a->stop && pthread_cond_timedwait(&a->cond, &a->lock, &ts) != ETIMEDOUT)
			;
		if (a->stop)
			break;
		pthread_mutex_unlock(&a->lock);
		(void)audit_sync(a);
		pthread_mutex_lock(&a->lock);
		reserve_fill(a, 0);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* ---- the files of a trail ----------------------------------------------- */

static int
cmp_uint(const void *x, const void *y)
{
	unsigned a = *(const unsigned *)x, b = *(const unsigned *)y;
	return a < b ? -1 : a > b;
}

/* The numbers N of the existing path.N, ascending (*nums NULL if none). */
static int
list_rotated(const char *path, unsigned **nums, size_t *n)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	size_t blen = strlen(base), cap = 0;
	DIR *d;
	struct dirent *de;

	*nums = NULL;
	*n = 0;
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : VAULT_E_IO;
	while ((de = readdir(d)) != NULL) {
		const char *s = de->d_name;
		if (strncmp(s, base, blen) != 0 || s[blen] != '.')
			continue;
		s += blen + 1;
		if (*s < '1' || *s > '9' || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			unsigned *p = realloc(*nums, cap * sizeof(**nums));
			if (p == NULL) {
				closedir(d);
				free(*nums);
				*nums = NULL;
				*n = 0;
				return VAULT_E_NOMEM;
			}
			*nums = p;
		}
		(*nums)[(*n)++] = (unsigned)strtoul(s, NULL, 10);
	}
	closedir(d);
	if (*n > 0)
		qsort(*nums, *n, sizeof(**nums), cmp_uint);
	return 0;
}

struct trail {
	int *fds;        /* path.N ascending, then path; -1 where absent */
	size_t n;
	int irregular;   /* path is not a regular file */
};

static void
trail_close(struct trail *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->fds[i] >= 0)
			close(t->fds[i]);
	free(t->fds);
	t->fds = NULL;
	t->n = 0;
}

/*
 * Open every file of the trail. A rotation while we list would hide a file
 * (the current one moved after we listed, before we opened): list again
 * afterwards and start over if anything changed. An open file stays valid
 * when renamed, so once the list holds still the set is complete.
 */
static int
trail_open(const char *path, struct trail *t)
{
	char name[PATH_MAX];
	struct stat st;
	memset(t, 0, sizeof(*t));
	for (int tries = 0; tries < 16; tries++) {
		unsigned *nums, *again;
		size_t n, n2;
		int rc = list_rotated(path, &nums, &n);
		if (rc != 0)
			return rc;
		if ((t->fds = calloc(n + 1, sizeof(*t->fds))) == NULL) {
			free(nums);
			return VAULT_E_NOMEM;
		}
		t->n = n + 1;
		for (size_t i = 0; i <= n; i++) {
			if (i < n)
				snprintf(name, sizeof(name), "%s.%u", path, nums[i]);
			else
				snprintf(name, sizeof(name), "%s", path);
			t->fds[i] = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
			if (t->fds[i] < 0 && errno != ENOENT)
				rc = VAULT_E_IO;
			else if (t->fds[i] >= 0 && fstat(t->fds[i], &st) == 0 && !S_ISREG(st.st_mode))
				t->irregular = 1;
		}
		again = NULL;
		n2 = 0;
		if (rc == 0)
			rc = list_rotated(path, &again, &n2);
		int same = rc == 0 && n2 == n && (n == 0 || memcmp(nums, again, n * sizeof(*nums)) == 0);
		free(nums);
		free(again);
		if (rc != 0 || same) {
			if (rc != 0)
				trail_close(t);
			return rc;
		}
		trail_close(t);
	}
	return VAULT_E_IO;
}

/* Calls fn for each line of the trail's files (a last line may lack '\n'). */
typedef int (*line_fn)(void *arg, const char *s, size_t n, int complete);

static int
trail_lines(struct trail *t, unsigned *files, line_fn fn, void *arg)
{
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		if (t->fds[i] < 0)
			continue;
		FILE *f = fdopen(t->fds[i], "r");
		if (f == NULL) {
			rc = VAULT_E_NOMEM;
			break;
		}
		t->fds[i] = -1; /* the stream owns it now */
		if (files)
			(*files)++;
		ssize_t n;
		while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
			int complete = line[n - 1] == '\n';
			rc = fn(arg, line, complete ? (size_t)n - 1 : (size_t)n, complete);
		}
		if (rc == 0 && ferror(f))
			rc = VAULT_E_IO;
		fclose(f);
	}
	free(line);
	return rc;
}

/* ---- opening and recovering --------------------------------------------- */

/*
 * The last complete line of fd (size bytes) into *line, newline included
 * (len 0 if there is none), and in *end the length of the complete part.
 */
static int
last_line(int fd, uint64_t size, struct lbuf *line, uint64_t *end)
{
	struct lbuf b = { 0 };
	size_t chunk = TAIL_CHUNK;
	int rc = 0;
	line->len = 0;
	*end = 0;
	for (;;) {
		if (chunk > size)
			chunk = (size_t)size;
		if (lbuf_reserve(&b, chunk ? chunk : 1) != 0) {
			rc = VAULT_E_NOMEM;
			break;
		}
		uint64_t off = size - chunk;
		ssize_t got = pread(fd, b.p, chunk, (off_t)off);
		if (got < 0 || (size_t)got != chunk) {
			rc = VAULT_E_IO;
			break;
		}
		char *nl = memrchr(b.p, '\n', chunk);
		if (nl == NULL && off == 0)
			break; /* no complete line at all */
		size_t stop = nl ? (size_t)(nl - b.p) + 1 : 0;
		char *prev = stop > 1 ? memrchr(b.p, '\n', stop - 1) : NULL;
		if (prev == NULL && off > 0) {
			/* Read further back; never cut away more than a torn entry. */
			if (chunk >= LINE_MAX_BYTES) {
				rc = VAULT_E_AUDIT;
				break;
			}
			chunk *= 2;
			continue;
		}
		size_t from = prev ? (size_t)(prev - b.p) + 1 : 0;
		*end = off + stop;
		if (lbuf_set(line, b.p + from, stop - from) != 0)
			rc = VAULT_E_NOMEM;
		break;
	}
	lbuf_free(&b);
	return rc;
}

static int
read_small(const char *path, struct lbuf *b)
{
	struct stat st;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > LINE_MAX_BYTES ||
	    lbuf_reserve(b, (size_t)st.st_size + 1) != 0) {
		close(fd);
		return -1;
	}
	while (done < (size_t)st.st_size) {
		ssize_t r = read(fd, b->p + done, (size_t)st.st_size - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	close(fd);
	b->len = done;
	return 0;
}

/*
 * The head file as an entry, its line (without newline) left in b: 0, 1 if
 * absent, -1 if unreadable or malformed.
 */
static int
read_head(const char *head_path, struct parsed *p, struct lbuf *b)
{
	int rc = read_small(head_path, b);
	memset(p, 0, sizeof(*p));
	if (rc == 0) {
		if (b->len < 2 || b->p[b->len - 1] != '\n' || parse_line(b->p, b->len - 1, p) != 0)
			rc = -1;
		else
			b->len--;
	}
	return rc;
}

/* Whether line s[0..n), parsed as p, carries its MAC (-1: key not in ks). */
static int
entry_authentic(const struct key_set *ks, const struct parsed *p, const char *s, size_t n)
{
	uint8_t key[crypto_kdf_KEYBYTES], prev[AUDIT_MAC_BYTES], mac[AUDIT_MAC_BYTES];
	char hex[HEX_MAC + 1];
	int ok = 0;
	if (subkey(ks, p->kv, SUBKEY_CHAIN, key) != 0)
		return -1;
	if (sodium_hex2bin(prev, sizeof(prev), p->prev, HEX_MAC, NULL, NULL, NULL) == 0 &&
	    line_mac(key, prev, s, n, mac) == 0) {
		sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
		ok = strcmp(hex, p->mac) == 0;
	}
	sodium_memzero(key, sizeof(key));
	return ok;
}

static int
recover(struct audit *a, const unsigned *nums, size_t nrot, char *err, size_t errlen)
{
	struct stat st;
	uint64_t end;
	struct parsed p, h;
	char name[PATH_MAX];
	int rc;

	if (fstat(a->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		set_err(err, errlen, "audit trail: not a regular file after opening");
		return VAULT_E_AUDIT;
	}
	if ((rc = last_line(a->fd, (uint64_t)st.st_size, &a->last, &end)) != 0) {
		set_err(err, errlen, "audit trail: the current file cannot be read");
		return rc == VAULT_E_NOMEM ? rc : VAULT_E_AUDIT;
	}
	if (end < (uint64_t)st.st_size) {
		/* A crash cut the last write short: that entry was never acknowledged. */
		if (ftruncate(a->fd, (off_t)end) != 0 || fdatasync(a->fd) != 0) {
			set_err(err, errlen, "audit trail: an incomplete last entry cannot be removed");
			return VAULT_E_AUDIT;
		}
		log_warn("audit trail: removed an incomplete last entry (%" PRIu64 " bytes) "
		    "left by a crash", (uint64_t)st.st_size - end);
	}
	a->size = end;
	/* No entry in the current file: a fresh file, or a crash right after rotating. */
	for (size_t i = nrot; a->last.len == 0 && i > 0; i--) {
		snprintf(name, sizeof(name), "%s.%u", a->path, nums[i - 1]);
		int fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0 ||
		    (rc = last_line(fd, (uint64_t)st.st_size, &a->last, &end)) != 0) {
			if (fd >= 0)
				close(fd);
			set_err(err, errlen, "audit trail: rotated file %u cannot be read", nums[i - 1]);
			return VAULT_E_AUDIT;
		}
		close(fd);
	}
	if (a->last.len > 0) {
		if (parse_line(a->last.p, a->last.len - 1, &p) != 0) {
			set_err(err, errlen, "audit trail: the last entry cannot be read; "
			    "the trail is damaged (keep it for investigation, move it aside "
			    "to start a new one)");
			return VAULT_E_AUDIT;
		}
		a->seq = p.seq;
		if (sodium_hex2bin(a->mac, sizeof(a->mac), p.mac, HEX_MAC, NULL, NULL, NULL) != 0)
			rc = VAULT_E_AUDIT;
		json_decref(p.root);
		if (rc != 0)
			return rc;
	}
	/*
	 * What the trail holds now is the first durable head (the anchor):
	 * after a kill -9 it may still be in the page cache only.
	 */
	if (fdatasync(a->fd) != 0) {
		set_err(err, errlen, "audit trail: flushing to disk failed");
		return VAULT_E_AUDIT;
	}
	a->durable_seq = a->seq;
	memcpy(a->durable_mac, a->mac, sizeof(a->mac));
	/* The head file says how far the trail reached when last synced. */
	struct lbuf hb = { 0 };
	rc = read_head(a->head_path, &h, &hb);
	lbuf_free(&hb);
	if (rc < 0 && a->acknowledging) {
		log_warn("audit trail: the head file %s is damaged; it is rewritten",
		    a->head_path);
		return 0;
	}
	if (rc < 0) {
		set_err(err, errlen, "audit trail: the head file %s is damaged (keep it for "
		    "investigation, then run vaultd --audit-acknowledge)", a->head_path);
		return VAULT_E_AUDIT;
	}
	if (rc == 0) {
		char hex[HEX_MAC + 1];
		sodium_bin2hex(hex, sizeof(hex), a->mac, sizeof(a->mac));
		int behind = h.seq > a->seq, differs = h.seq == a->seq && strcmp(h.mac, hex) != 0;
		uint64_t hseq = h.seq;
		json_decref(h.root);
		if ((behind || differs) && a->acknowledging) {
			/* vaultd --audit-acknowledge: audit_acknowledge() records it. */
			log_warn("audit trail: it ends at seq %" PRIu64 " but its head file "
			    "records seq %" PRIu64 "%s", a->seq, hseq, behind ? "" :
			    " with another MAC");
			a->lost_to = hseq;
			return 0;
		}
		if (behind || differs) {
			set_err(err, errlen, behind ?
			    "audit trail: entries after seq %" PRIu64 " are missing (the head file "
			    "records seq %" PRIu64 "); keep the trail for investigation, then run "
			    "vaultd --audit-acknowledge" :
			    "audit trail: the last entry (seq %" PRIu64 ") differs from the head "
			    "file's copy (seq %" PRIu64 "); keep the trail for investigation, then "
			    "run vaultd --audit-acknowledge",
			    a->seq, hseq);
			return VAULT_E_AUDIT;
		}
	}
	return 0;
}

int
audit_open(struct audit **out, const struct audit_config *cfg,
    const struct key_set *ks, char *err, size_t errlen)
{
	return audit_open_flags(out, cfg, ks, 0, err, errlen);
}

int
audit_open_flags(struct audit **out, const struct audit_config *cfg,
    const struct key_set *ks, int flags, char *err, size_t errlen)
{
	struct audit *a = NULL;
	struct stat st;
	unsigned *nums = NULL;
	size_t nrot = 0;
	int rc = VAULT_E_CONFIG, created;
	pthread_condattr_t ca;

	*out = NULL;
	if (cfg == NULL || cfg->path == NULL || cfg->path[0] == '\0' ||
	    strlen(cfg->path) + PATH_ROOM > PATH_MAX) {
		set_err(err, errlen, "audit trail: a path (shorter than %d bytes) is needed",
		    PATH_MAX - PATH_ROOM);
		return VAULT_E_CONFIG;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto nomem;
	a->fd = a->dirfd = a->reserve_fd = a->carry_fd = -1;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->sync_lock, NULL);
	pthread_mutex_init(&a->solo_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cond, &ca);
	pthread_condattr_destroy(&ca);
	a->path = path_with(cfg->path, "");
	a->head_path = path_with(cfg->path, ".head");
	a->head_tmp = path_with(cfg->path, ".head.tmp");
	a->reserve_path = path_with(cfg->path, ".reserve");
	if (a->path == NULL || a->head_path == NULL || a->head_tmp == NULL ||
	    (a->solo = audit_batch_new()) == NULL)
		goto nomem;
	a->max_bytes = cfg->max_file_bytes;
	a->acknowledging = (flags & AUDIT_OPEN_ACKNOWLEDGE) != 0;
	a->interval_ms = cfg->sync_interval_ms ? cfg->sync_interval_ms : 1000;

	created = lstat(a->path, &st) != 0;
	if (created && errno != ENOENT) {
		set_err(err, errlen, "audit trail: %s cannot be examined", a->path);
		rc = VAULT_E_AUDIT;
		goto fail;
	}
	if (!created && !S_ISREG(st.st_mode)) {
		/* Only a character device (made by root: /dev/full in tests, a
		 * logging device) is written to as it is. A FIFO or socket in
		 * the trail's place could be made by anyone who can write the
		 * audit directory, to read the entries and skip the anchor check
		 * at start: refused like a link or a directory. */
		if (!S_ISCHR(st.st_mode)) {
			set_err(err, errlen, "audit trail: %s is a %s", a->path,
			    S_ISLNK(st.st_mode) ? "symbolic link" : S_ISDIR(st.st_mode) ?
			    "directory" : "FIFO, socket or block device, not a regular file");
			goto fail;
		}
		/* A device: write to it as it is; nothing to recover or rotate. */
		if ((a->fd = open(a->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			set_err(err, errlen, "audit trail: %s cannot be opened for writing", a->path);
			rc = VAULT_E_AUDIT;
			goto fail;
		}
		*out = a;
		return 0;
	}
	a->regular = 1;
	const char *slash = strrchr(a->path, '/');
	char dir[PATH_MAX];
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == a->path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - a->path), a->path);
	if ((a->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		set_err(err, errlen, "audit trail: its directory cannot be opened");
		rc = VAULT_E_AUDIT;
		goto fail;
	}
	if ((rc = list_rotated(a->path, &nums, &nrot)) != 0) {
		set_err(err, errlen, "audit trail: its directory cannot be read");
		goto fail;
	}
	a->next_rot = nrot ? nums[nrot - 1] + 1 : 1;
	a->fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (a->fd < 0) {
		set_err(err, errlen, "audit trail: %s cannot be opened or created", a->path);
		rc = VAULT_E_AUDIT;
		goto fail;
	}
	if (created)
		(void)fsync(a->dirfd);
	/* Resuming needs no keys (ks is unused): audit_verify() checks the MACs. */
	if ((rc = recover(a, nums, nrot, err, errlen)) != 0)
		goto fail;
	free(nums);
	nums = NULL;
	reserve_open(a, cfg->reserve_bytes);
	if (pthread_create(&a->thread, NULL, sync_main, a) != 0) {
		set_err(err, errlen, "audit trail: cannot start the sync thread");
		rc = VAULT_E_NOMEM;
		goto fail;
	}
	a->thread_running = 1;
	*out = a;
	return 0;
nomem:
	set_err(err, errlen, "audit trail: out of memory");
	rc = VAULT_E_NOMEM;
fail:
	free(nums);
	audit_close(a);
	return rc;
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	if (a->thread_running) {
		pthread_mutex_lock(&a->lock);
		a->stop = 1;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->lock);
		pthread_join(a->thread, NULL);
		(void)audit_sync(a);
	}
	if (a->fd >= 0)
		close(a->fd);
	if (a->carry_fd >= 0)
		close(a->carry_fd);
	free(a->carry_path);
	if (a->dirfd >= 0)
		close(a->dirfd);
	if (a->reserve_fd >= 0)
		close(a->reserve_fd);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->sync_lock);
	pthread_mutex_destroy(&a->solo_lock);
	pthread_mutex_destroy(&a->lock);
	audit_batch_free(a->solo);
	lbuf_free(&a->line);
	lbuf_free(&a->last);
	lbuf_free(&a->synced);
	free(a->path);
	free(a->head_path);
	free(a->head_tmp);
	free(a->reserve_path);
	free(a);
}

/* ---- the data's record of the trail -------------------------------------- */

struct find {
	uint64_t seq;            /* wanted */
	uint64_t first;          /* the file's first entry (0: none readable) */
	int found;
	char mac[HEX_MAC + 1];
};

/* Lines that cannot be read are passed over: audit_verify() reports them. */
static int
find_line(void *arg, const char *s, size_t n, int complete)
{
	struct find *f = arg;
	struct parsed p;
	if (!complete || parse_line(s, n, &p) != 0)
		return 0;
	if (f->first == 0)
		f->first = p.seq;
	if (p.seq == f->seq) {
		memcpy(f->mac, p.mac, HEX_MAC + 1);
		f->found = 1;
	}
	uint64_t seq = p.seq;
	json_decref(p.root);
	return seq >= f->seq ? 1 : 0;
}

/*
 * The MAC (hex) of entry seq of a's trail: 0, 1 if there is no such entry,
 * or an error. The files are tried newest first, and only the one whose
 * first entry is at or before seq is read through, so the cost is the
 * entries written since (reads after the last write), not the whole trail.
 */
static int
find_entry(struct audit *a, uint64_t seq, char mac[HEX_MAC + 1])
{
	char name[PATH_MAX];
	unsigned *nums = NULL;
	size_t nrot = 0;
	int rc = list_rotated(a->path, &nums, &nrot);
	if (rc != 0)
		return rc;
	rc = 1;
	for (size_t i = nrot + 1; i > 0; i--) {
		struct find f = { .seq = seq };
		struct trail t = { 0 };
		int fd;
		if (i == nrot + 1)
			snprintf(name, sizeof(name), "%s", a->path);
		else
			snprintf(name, sizeof(name), "%s.%u", a->path, nums[i - 1]);
		if ((fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue;
		t.fds = &fd;
		t.n = 1;
		int lr = trail_lines(&t, NULL, find_line, &f);
		if (fd >= 0)
			close(fd);
		if (lr < 0 || lr > 1) {
			rc = lr;
			break;
		}
		if (f.found) {
			memcpy(mac, f.mac, HEX_MAC + 1);
			rc = 0;
			break;
		}
		if (f.first != 0 && f.first <= seq)
			break; /* it would be in this file */
	}
	free(nums);
	return rc;
}

int
audit_check_anchor(struct audit *a, const struct audit_anchor *an, char *err, size_t errlen)
{
	char want[HEX_MAC + 1], have[HEX_MAC + 1];
	uint8_t mac[AUDIT_MAC_BYTES];
	uint64_t seq;
	int rc;

	if (a == NULL || !a->regular || an == NULL || an->seq == 0)
		return 0;
	audit_head(a, &seq, mac);
	to_hex(want, an->mac, AUDIT_MAC_BYTES);
	if (seq < an->seq) {
		set_err(err, errlen, "the audit trail ends at seq %" PRIu64 " but the data "
		    "records entries up to seq %" PRIu64 ": entries were removed (its tail "
		    "cut, an older copy put in its place, or files of it removed)",
		    seq, an->seq);
		return VAULT_E_AUDIT;
	}
	if (seq == an->seq) {
		to_hex(have, mac, AUDIT_MAC_BYTES);
		rc = 0;
	} else {
		rc = find_entry(a, an->seq, have);
	}
	if (rc == 1) {
		set_err(err, errlen, "entry %" PRIu64 " of the audit trail, which the data "
		    "records, is missing: entries were removed", an->seq);
		return VAULT_E_AUDIT;
	}
	if (rc != 0) {
		set_err(err, errlen, "the audit trail cannot be read");
		return VAULT_E_AUDIT;
	}
	if (strcmp(have, want) != 0) {
		set_err(err, errlen, "entry %" PRIu64 " of the audit trail is not the one the "
		    "data records: the trail was replaced or rewritten", an->seq);
		return VAULT_E_AUDIT;
	}
	return 0;
}

/* ---- verification ------------------------------------------------------- */

struct verify {
	const struct key_set *ks;
	struct audit_verify_result *r;
	uint64_t expect;        /* the seq the next entry must have */
	int bounded;            /* live: check entries up to stop only */
	uint64_t stop;
	uint8_t prev[AUDIT_MAC_BYTES];
	int done;
	uint32_t kv;            /* whose chain key is in key (0: none) */
	uint8_t key[crypto_kdf_KEYBYTES];
	int have_head;          /* the head file was read */
	uint64_t head_seq;
	char head_mac[HEX_MAC + 1];
	int head_match;         /* 0 not seen, 1 equal, -1 different */
	const struct audit_anchor *need; /* entries that must be there */
	size_t nneed;
	/* audit_verify_select(): what to pass on, and how */
	const struct audit_filter *f;
	audit_entry_fn fn;
	void *arg;
	int fn_rc;
	const char **recs, **fields;
	size_t caprecs, capfields;
};

static int grow(const char ***a, size_t *cap, size_t n);
static int str_match(const char *want, const char *have);

static int
selects(const struct audit_filter *f, const struct parsed *p)
{
	return str_match(f->client, p->client) && str_match(f->purpose, p->purpose) &&
	    (!f->by_uid || p->uid == f->uid) && (!f->from || p->time >= f->from) &&
	    (!f->to || p->time <= f->to);
}

/* Hand a verified entry to the selection's callback: 0, or 1 to stop. */
static int
pass_on(struct verify *v, const struct parsed *p)
{
	size_t i, nr = json_array_size(p->records), nf = json_array_size(p->fields);
	json_t *x;
	if (!selects(v->f, p))
		return 0;
	if (grow(&v->recs, &v->caprecs, nr) != 0 || grow(&v->fields, &v->capfields, nf) != 0) {
		v->fn_rc = VAULT_E_NOMEM;
		return 1;
	}
	json_array_foreach(p->records, i, x)
		v->recs[i] = json_string_value(x);
	json_array_foreach(p->fields, i, x)
		v->fields[i] = json_string_value(x);
	struct audit_entry e = {
		.seq = p->seq, .time = p->time, .client = p->client, .uid = p->uid,
		.purpose = p->purpose, .op = p->op, .records = v->recs, .nrecords = nr,
		.fields = v->fields, .nfields = nf, .outcome = p->outcome, .kv = p->kv,
	};
	v->fn_rc = v->fn(v->arg, &e);
	return v->fn_rc != 0;
}

__attribute__((format(printf, 3, 4)))
static void
bad(struct verify *v, uint64_t seq, const char *fmt, ...)
{
	va_list ap;
	v->r->ok = 0;
	v->r->first_bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(v->r->reason, sizeof(v->r->reason), fmt, ap);
	va_end(ap);
	v->done = 1;
}

static int
verify_line(void *arg, const char *s, size_t n, int complete)
{
	struct verify *v = arg;
	struct parsed p;
	char hex[HEX_MAC + 1];
	uint8_t mac[AUDIT_MAC_BYTES];
	uint64_t e = v->expect;
	size_t i;

	if (v->done || (v->bounded && e > v->stop))
		return 1; /* stop reading */
	if (!complete) {
		bad(v, e, "entry %" PRIu64 " is incomplete: the file was cut short", e);
		return 1;
	}
	if (parse_line(s, n, &p) != 0) {
		bad(v, e, "entry %" PRIu64 " cannot be read: it is not a well-formed entry", e);
		return 1;
	}
	/* Only an acknowledgment (audit_acknowledge()) may skip numbers. */
	if (p.seq != e && !(p.seq > e && strcmp(p.op, AUDIT_ACKNOWLEDGE_OP) == 0)) {
		bad(v, e, "seq %" PRIu64 " found where %" PRIu64 " belongs: entries are "
		    "missing or out of order", p.seq, e);
		goto out;
	}
	sodium_bin2hex(hex, sizeof(hex), v->prev, sizeof(v->prev));
	if (strcmp(hex, p.prev) != 0) {
		bad(v, e, "entry %" PRIu64 " does not chain to the entry before it", e);
		goto out;
	}
	if (p.kv != v->kv) {
		int gone = subkey(v->ks, p.kv, SUBKEY_CHAIN, v->key) != 0;
		/*
		 * A retired key: nothing to check it with; chain on from it. Keys
		 * are retired oldest first, so such entries can only come before
		 * every entry under a key the ring holds: one after those is an
		 * edit (its kv changed to dodge the check), and damage.
		 */
		if (gone && v->fn != NULL && v->r->entries == 0) {
			if (sodium_hex2bin(v->prev, sizeof(v->prev), p.mac, HEX_MAC, NULL, NULL,
			    NULL) != 0) {
				bad(v, e, "entry %" PRIu64 " cannot be read: it is not a "
				    "well-formed entry", e);
				goto out;
			}
			v->r->unkeyed++;
			v->r->unkeyed_selected += selects(v->f, &p);
			v->r->acknowledged += p.seq - e;
			v->expect = p.seq + 1;
			v->kv = 0;
			goto out;
		}
		if (gone) {
			bad(v, e, "entry %" PRIu64 " is under index key version %" PRIu32
			    ", which the key ring no longer holds", e, p.kv);
			goto out;
		}
		v->kv = p.kv;
	}
	/* The MAC covers the exact bytes: any other spelling is an edit too. */
	if (line_mac(v->key, v->prev, s, n, mac) != 0) {
		bad(v, e, "entry %" PRIu64 " cannot be read: it is not a well-formed entry", e);
		goto out;
	}
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	if (strcmp(hex, p.mac) != 0) {
		bad(v, e, "entry %" PRIu64 " has been altered (MAC mismatch)", e);
		goto out;
	}
	for (i = 0; i < v->nneed; i++) {
		const struct audit_anchor *an = &v->need[i];
		if (an->seq >= e && an->seq < p.seq) {
			bad(v, an->seq, "entry %" PRIu64 " (which the %s records) is missing: "
			    "its loss was acknowledged at seq %" PRIu64, an->seq, an->what, p.seq);
			goto out;
		}
		to_hex(hex, an->mac, AUDIT_MAC_BYTES);
		if (an->seq == p.seq && strcmp(hex, p.mac) != 0) {
			bad(v, p.seq, "entry %" PRIu64 " is not the one the %s records: the "
			    "trail was replaced or rewritten", p.seq, an->what);
			goto out;
		}
	}
	if (v->have_head && p.seq == v->head_seq)
		v->head_match = strcmp(p.mac, v->head_mac) == 0 ? 1 : -1;
	memcpy(v->prev, mac, sizeof(mac));
	v->r->acknowledged += p.seq - e;
	v->expect = p.seq + 1;
	v->r->entries++;
	v->r->last_time = p.time;
	if (v->fn != NULL && pass_on(v, &p)) {
		json_decref(p.root);
		return 1;
	}
out:
	json_decref(p.root);
	return 0;
}

struct selection {
	const struct audit_filter *f;
	audit_entry_fn fn;
	void *arg;
};

static int
verify_run(const char *path, const struct key_set *ks, uint64_t stop, int live,
    const struct audit_anchor *need, size_t nneed, const struct selection *sel,
    struct audit_verify_result *r)
{
	struct verify v = { 0 };
	struct trail t;
	struct parsed h;
	char *head_path = path_with(path, ".head");
	int head_authentic = 1, rc;

	memset(r, 0, sizeof(*r));
	r->ok = 1;
	if (head_path == NULL)
		return VAULT_E_NOMEM;
	/* The head file holds a synced entry, so entries up to it are all written. */
	struct lbuf hb = { 0 };
	rc = read_head(head_path, &h, &hb);
	free(head_path);
	if (rc < 0) {
		head_authentic = 0;
	} else if (rc == 0) {
		v.have_head = 1;
		v.head_seq = h.seq;
		snprintf(v.head_mac, sizeof(v.head_mac), "%s", h.mac);
		/* -1: its key is gone, so it cannot be told either way */
		head_authentic = entry_authentic(ks, &h, hb.p, hb.len) != 0;
		json_decref(h.root);
	}
	lbuf_free(&hb);
	if (live && stop < v.head_seq)
		stop = v.head_seq;
	if ((rc = trail_open(path, &t)) != 0)
		return rc;
	if (t.irregular) {
		trail_close(&t);
		r->ok = 0;
		snprintf(r->reason, sizeof(r->reason),
		    "the audit trail is not a regular file and cannot be verified");
		return 0;
	}
	v.ks = ks;
	v.r = r;
	v.need = need;
	v.nneed = nneed;
	v.expect = 1;
	v.bounded = live;
	v.stop = stop;
	if (sel != NULL) {
		v.f = sel->f;
		v.fn = sel->fn;
		v.arg = sel->arg;
	}
	rc = trail_lines(&t, &r->files, verify_line, &v);
	trail_close(&t);
	free(v.recs);
	free(v.fields);
	if (v.fn_rc != 0) {
		sodium_memzero(v.key, sizeof(v.key));
		return v.fn_rc;
	}
	if (rc == 1)
		rc = 0;
	uint64_t last = v.expect - 1;
	for (size_t i = 0; rc == 0 && !v.done && i < nneed; i++)
		if (need[i].seq > last)
			bad(&v, last + 1, "entries after seq %" PRIu64 " are missing (the %s "
			    "records seq %" PRIu64 ")", last, need[i].what, need[i].seq);
	if (rc == 0 && !v.done) {
		if (live && last < stop)
			bad(&v, last + 1, "entries after seq %" PRIu64 " are missing", last);
		else if (v.have_head && v.head_seq > last)
			bad(&v, last + 1, "entries after seq %" PRIu64 " are missing (the head "
			    "file records seq %" PRIu64 ")", last, v.head_seq);
		else if (v.have_head && v.head_match < 0)
			bad(&v, v.head_seq, "entry %" PRIu64 " differs from the head file's copy",
			    v.head_seq);
		else if (!head_authentic)
			bad(&v, 0, "the head file has been altered");
	}
	sodium_memzero(v.key, sizeof(v.key));
	return rc;
}

int
audit_verify_files(const char *path, const struct key_set *ks,
    struct audit_verify_result *r)
{
	return audit_verify_files_with(path, ks, NULL, 0, r);
}

int
audit_verify_files_with(const char *path, const struct key_set *ks,
    const struct audit_anchor *need, size_t nneed, struct audit_verify_result *r)
{
	if (path == NULL || path[0] == '\0' || strlen(path) + PATH_ROOM > PATH_MAX)
		return VAULT_E_CONFIG;
	return verify_run(path, ks, 0, 0, need, nneed, NULL, r);
}

int
audit_verify(struct audit *a, const struct key_set *ks, struct audit_verify_result *r)
{
	return audit_verify_with(a, ks, NULL, 0, r);
}

int
audit_verify_with(struct audit *a, const struct key_set *ks,
    const struct audit_anchor *need, size_t nneed, struct audit_verify_result *r)
{
	uint64_t head;
	if (a == NULL)
		return VAULT_E_CONFIG;
	pthread_mutex_lock(&a->lock);
	head = a->seq;
	pthread_mutex_unlock(&a->lock);
	return verify_run(a->path, ks, head, 1, need, nneed, NULL, r);
}

int
audit_verify_select(struct audit *a, const char *path, const struct key_set *ks,
    const struct audit_anchor *need, size_t nneed, const struct audit_filter *f,
    audit_entry_fn fn, void *arg, struct audit_verify_result *r)
{
	struct selection sel = { f, fn, arg };
	uint64_t head;
	if (fn == NULL || f == NULL)
		return VAULT_E_INTERNAL;
	if (a == NULL) {
		if (path == NULL || path[0] == '\0' || strlen(path) + PATH_ROOM > PATH_MAX)
			return VAULT_E_CONFIG;
		return verify_run(path, ks, 0, 0, need, nneed, &sel, r);
	}
	pthread_mutex_lock(&a->lock);
	head = a->seq;
	pthread_mutex_unlock(&a->lock);
	return verify_run(a->path, ks, head, 1, need, nneed, &sel, r);
}

/* ---- queries ------------------------------------------------------------ */

struct query {
	const struct audit_filter *f;
	audit_entry_fn fn;
	void *arg;
	char (*pseudonyms)[AUDIT_PSEUDONYM_MAX];
	size_t npseudonyms;
	const char **recs, **fields;
	size_t caprecs, capfields;
	size_t matched;
};

static int
grow(const char ***a, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	const char **p = realloc(*a, n * sizeof(**a));
	if (p == NULL)
		return -1;
	*a = p;
	*cap = n;
	return 0;
}

static int
str_match(const char *want, const char *have)
{
	return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

static int
query_line(void *arg, const char *s, size_t n, int complete)
{
	struct query *q = arg;
	const struct audit_filter *f = q->f;
	struct parsed p;
	size_t i, j;
	json_t *x;
	int rc = 0;

	if (f->limit && q->matched >= f->limit)
		return 1;
	/* What is searched for must be in the bytes: most lines go unparsed. */
	if (q->npseudonyms > 0) {
		int seen = 0;
		for (j = 0; !seen && j < q->npseudonyms; j++)
			seen = memmem(s, n, q->pseudonyms[j], strlen(q->pseudonyms[j])) != NULL;
		if (!seen)
			return 0;
	} else if (f->record != NULL) {
		return 0; /* no version of the ring could name it */
	}
	if ((f->client && plain(f->client) && memmem(s, n, f->client, strlen(f->client)) == NULL) ||
	    (f->purpose && plain(f->purpose) && memmem(s, n, f->purpose, strlen(f->purpose)) == NULL))
		return 0;
	if (!complete || parse_line(s, n, &p) != 0)
		return 0; /* torn or damaged: audit_verify() reports those */
	if (!str_match(f->client, p.client) || !str_match(f->purpose, p.purpose) ||
	    (f->from && p.time < f->from) || (f->to && p.time > f->to))
		goto out;
	if (f->record != NULL) {
		int hit = 0;
		json_array_foreach(p.records, i, x)
			for (j = 0; !hit && j < q->npseudonyms; j++)
				hit = strcmp(json_string_value(x), q->pseudonyms[j]) == 0;
		if (!hit)
			goto out;
	}
	size_t nr = json_array_size(p.records), nf = json_array_size(p.fields);
	if (grow(&q->recs, &q->caprecs, nr) != 0 || grow(&q->fields, &q->capfields, nf) != 0) {
		rc = VAULT_E_NOMEM;
		goto out;
	}
	json_array_foreach(p.records, i, x)
		q->recs[i] = json_string_value(x);
	json_array_foreach(p.fields, i, x)
		q->fields[i] = json_string_value(x);
	struct audit_entry e = {
		.seq = p.seq, .time = p.time, .client = p.client, .uid = p.uid,
		.purpose = p.purpose, .op = p.op, .records = q->recs, .nrecords = nr,
		.fields = q->fields, .nfields = nf, .outcome = p.outcome, .kv = p.kv,
	};
	q->matched++;
	rc = q->fn(q->arg, &e);
out:
	json_decref(p.root);
	return rc;
}

int
audit_query(const char *path, const struct key_set *ks, const struct audit_filter *f,
    audit_entry_fn fn, void *arg)
{
	struct query q = { .f = f, .fn = fn, .arg = arg };
	struct trail t;
	int rc;

	if (path == NULL || path[0] == '\0' || strlen(path) + PATH_ROOM > PATH_MAX)
		return VAULT_E_CONFIG;
	if (f->record != NULL) {
		/* The record under every index key version: entries span rotations. */
		size_t n = ks ? keyring_count(ks->ring, KEYRING_INDEX) : 0;
		if ((q.pseudonyms = calloc(n ? n : 1, sizeof(*q.pseudonyms))) == NULL)
			return VAULT_E_NOMEM;
		for (size_t i = 0; i < n; i++)
			if (audit_pseudonym(ks, keyring_version_at(ks->ring, KEYRING_INDEX, i),
			    *f->record, q.pseudonyms[q.npseudonyms]) == 0)
				q.npseudonyms++;
	}
	if ((rc = trail_open(path, &t)) == 0) {
		if (t.irregular)
			rc = VAULT_E_IO;
		else
			rc = trail_lines(&t, NULL, query_line, &q);
		trail_close(&t);
	}
	if (rc == 1 && f->limit && q.matched >= f->limit)
		rc = 0;
	free(q.pseudonyms);
	free(q.recs);
	free(q.fields);
	return rc;
}
