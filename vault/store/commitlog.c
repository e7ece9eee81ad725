/*
 * commitlog.c - the LMDB backend's commit log (commitlog.h).
 *
 * Written by hand: it is a few hundred lines and must be exactly ours (its
 * crash orders are the vault's durability promise); LMDB has no write-ahead
 * log to borrow and PostgreSQL's is not a library.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "common/bytes.h"
#include "commitlog.h"
#include "store.h"

#define HDR_MAGIC "VAULTCL1"
#define HDR_FIXED 44 /* magic, version, psize, generation, dev, ino, meta length */
#define REC_MAGIC 0x56434c52u /* "VCLR" */
#define REC_HEAD 24
#define HASH 16
#define INITIAL_BYTES (1u << 20)
#define MAX_STEADY_BYTES (16u << 20)
#define MAX_FILE_BYTES ((size_t)1 << 34) /* a log this large is not ours */

struct commitlog {
	int fd;
	uint8_t *hdr;              /* the header's bytes, if valid */
	struct commitlog_header h; /* h.meta points into hdr */
	int have_header;
	uint8_t *found;            /* the records found at open */
	struct commitlog_scan scan;
	uint64_t generation, seq;
	size_t start, pos, last; /* records' start, next record, last record's offset */
	size_t size;             /* bytes written with zeros or records */
};

/* ---- bodies ---------------------------------------------------------------- */

static uint8_t *
body_room(struct commitlog_body *b, size_t n)
{
	if (b->failed || b->over)
		return NULL;
	if (b->limit > 0 && (n > b->limit || b->len > b->limit - n)) {
		b->over = 1;
		return NULL;
	}
	if (n > SIZE_MAX / 2 - b->len) {
		b->failed = 1;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = 1;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	uint8_t *at = b->p + b->len;
	b->len += n;
	return at;
}

void
commitlog_body_put(struct commitlog_body *b, unsigned table, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	uint8_t *p;
	if (klen > UINT16_MAX || vlen > UINT32_MAX) {
		b->failed = 1;
		return;
	}
	if ((p = body_room(b, 8 + klen + vlen)) == NULL)
		return;
	p[0] = COMMITLOG_OP_PUT;
	p[1] = (uint8_t)table;
	be16_put(p + 2, (uint16_t)klen);
	be32_put(p + 4, (uint32_t)vlen);
	memcpy(p + 8, key, klen);
	if (vlen > 0)
		memcpy(p + 8 + klen, val, vlen);
}

void
commitlog_body_del(struct commitlog_body *b, unsigned table, const void *key, size_t klen)
{
	uint8_t *p;
	if (klen > UINT16_MAX) {
		b->failed = 1;
		return;
	}
	if ((p = body_room(b, 4 + klen)) == NULL)
		return;
	p[0] = COMMITLOG_OP_DEL;
	p[1] = (uint8_t)table;
	be16_put(p + 2, (uint16_t)klen);
	memcpy(p + 4, key, klen);
}

void
commitlog_body_file(struct commitlog_body *b, const char *path, uint64_t dev, uint64_t ino,
    uint64_t off, const void *bytes, size_t len)
{
	size_t plen = strlen(path);
	uint8_t *p;
	if (plen > UINT16_MAX || len > UINT32_MAX) {
		b->failed = 1;
		return;
	}
	if ((p = body_room(b, 31 + plen + len)) == NULL)
		return;
	p[0] = COMMITLOG_OP_FILE;
	be16_put(p + 1, (uint16_t)plen);
	be64_put(p + 3, dev);
	be64_put(p + 11, ino);
	be64_put(p + 19, off);
	be32_put(p + 27, (uint32_t)len);
	memcpy(p + 31, path, plen);
	if (len > 0)
		memcpy(p + 31 + plen, bytes, len);
}

void
commitlog_body_free(struct commitlog_body *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* One operation at p (n bytes left): its size, or 0 if malformed. */
static size_t
parse_op(const uint8_t *p, size_t n, struct commitlog_op *op)
{
	memset(op, 0, sizeof(*op));
	if (n < 1)
		return 0;
	op->type = p[0];
	switch (p[0]) {
	case COMMITLOG_OP_PUT:
		if (n < 8)
			return 0;
		op->table = p[1];
		op->klen = be16_get(p + 2);
		op->vlen = be32_get(p + 4);
		if (op->table >= STORE_NTABLES || op->klen == 0 || op->klen > n - 8 ||
		    op->vlen > n - 8 - op->klen)
			return 0;
		op->key = p + 8;
		op->val = p + 8 + op->klen;
		return 8 + op->klen + op->vlen;
	case COMMITLOG_OP_DEL:
		if (n < 4)
			return 0;
		op->table = p[1];
		op->klen = be16_get(p + 2);
		if (op->table >= STORE_NTABLES || op->klen == 0 || op->klen > n - 4)
			return 0;
		op->key = p + 4;
		return 4 + op->klen;
	case COMMITLOG_OP_FILE:
		if (n < 31)
			return 0;
		op->klen = be16_get(p + 1);
		op->dev = be64_get(p + 3);
		op->ino = be64_get(p + 11);
		op->off = be64_get(p + 19);
		op->vlen = be32_get(p + 27);
		/* An absolute path, no NUL in it, and an offset a file can have. */
		if (op->klen < 2 || op->klen > n - 31 || op->vlen > n - 31 - op->klen ||
		    p[31] != '/' || memchr(p + 31, '\0', op->klen) != NULL ||
		    op->off > (uint64_t)INT64_MAX - op->vlen)
			return 0;
		op->key = p + 31;
		op->val = p + 31 + op->klen;
		return 31 + op->klen + op->vlen;
	default:
		return 0;
	}
}

int
commitlog_body_walk(const uint8_t *body, size_t len,
    int (*fn)(void *arg, const struct commitlog_op *op), void *arg)
{
	struct commitlog_op op;
	size_t at = 0, n;
	while (at < len) {
		if ((n = parse_op(body + at, len - at, &op)) == 0)
			return STORE_E_CORRUPT;
		at += n;
	}
	for (at = 0; at < len; at += n) {
		n = parse_op(body + at, len - at, &op);
		int rc = fn(arg, &op);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- the file's layout --------------------------------------------------------- */

size_t
commitlog_records_start(uint32_t psize)
{
	size_t n = HDR_FIXED + 2 * (size_t)psize + HASH;
	return (n + 4095) & ~(size_t)4095;
}

static void
hash16(uint8_t out[HASH], const uint8_t *p, size_t n)
{
	crypto_generichash(out, HASH, p, n, NULL, 0);
}

long
commitlog_scan(const uint8_t *buf, size_t len, struct commitlog_scan *sc)
{
	uint8_t h[HASH];
	memset(sc, 0, sizeof(*sc));
	if (len < HDR_FIXED + HASH || memcmp(buf, HDR_MAGIC, 8) != 0 || be32_get(buf + 8) != 1)
		return -1;
	uint32_t psize = be32_get(buf + 12);
	uint32_t mlen = be32_get(buf + 40);
	if (psize < 512 || psize > 65536 || (psize & (psize - 1)) != 0 || mlen != 2 * psize ||
	    len < commitlog_records_start(psize))
		return -1;
	hash16(h, buf, HDR_FIXED + mlen);
	if (sodium_memcmp(h, buf + HDR_FIXED + mlen, HASH) != 0)
		return -1;
	sc->h.psize = psize;
	sc->h.generation = be64_get(buf + 16);
	sc->h.dev = be64_get(buf + 24);
	sc->h.ino = be64_get(buf + 32);
	sc->h.meta_len = mlen;
	sc->h.meta = buf + HDR_FIXED;
	size_t at = commitlog_records_start(psize);
	sc->end = at;
	for (uint64_t seq = 1;; seq++) {
		if (len - at < REC_HEAD + HASH)
			break;
		const uint8_t *r = buf + at;
		size_t blen = be32_get(r + 4);
		if (be32_get(r) != REC_MAGIC || be64_get(r + 8) != sc->h.generation ||
		    be64_get(r + 16) != seq || blen > len - at - REC_HEAD - HASH)
			break;
		hash16(h, r, REC_HEAD + blen);
		if (sodium_memcmp(h, r + REC_HEAD + blen, HASH) != 0)
			break;
		if (sc->nrec == sc->cap) {
			size_t cap = sc->cap ? sc->cap * 2 : 64;
			size_t *o = realloc(sc->off, cap * sizeof(*o));
			if (o == NULL)
				return -1;
			sc->off = o;
			size_t *l = realloc(sc->len, cap * sizeof(*l));
			if (l == NULL)
				return -1;
			sc->len = l;
			sc->cap = cap;
		}
		sc->off[sc->nrec] = at + REC_HEAD;
		sc->len[sc->nrec] = blen;
		sc->nrec++;
		at += REC_HEAD + blen + HASH;
		sc->end = at;
	}
	return (long)sc->nrec;
}

void
commitlog_scan_free(struct commitlog_scan *sc)
{
	free(sc->off);
	free(sc->len);
	memset(sc, 0, sizeof(*sc));
}

/* ---- the file ------------------------------------------------------------------ */

static int
write_at(int fd, const void *p, size_t n, size_t off)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = pwrite(fd, b, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 && (errno == ENOSPC || errno == EDQUOT) ? STORE_E_DISK_FULL :
			    STORE_E_FAILED;
		b += w;
		n -= (size_t)w;
		off += (size_t)w;
	}
	return 0;
}

/* Write zeros from the file's end to at least want bytes, and flush. */
static int
grow(struct commitlog *cl, size_t want)
{
	static const uint8_t zero[65536];
	size_t to = cl->size ? cl->size : INITIAL_BYTES;
	while (to < want)
		to *= 2;
	for (size_t at = cl->size; at < to; at += sizeof(zero)) {
		size_t n = to - at < sizeof(zero) ? to - at : sizeof(zero);
		int rc = write_at(cl->fd, zero, n, at);
		if (rc != 0) {
			(void)ftruncate(cl->fd, (off_t)cl->size);
			return rc;
		}
	}
	if (fdatasync(cl->fd) != 0)
		return STORE_E_FAILED;
	cl->size = to;
	return 0;
}

int
commitlog_open(struct commitlog **out, const char *path, const char **why)
{
	struct commitlog *cl = calloc(1, sizeof(*cl));
	struct stat st;
	*out = NULL;
	*why = "out of memory";
	if (cl == NULL)
		return STORE_E_NOMEM;
	cl->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	*why = "cannot open the commit log";
	if (cl->fd < 0 || fstat(cl->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		int e = errno;
		if (cl->fd >= 0)
			close(cl->fd);
		free(cl);
		return e == ENOSPC || e == EDQUOT ? STORE_E_DISK_FULL : STORE_E_FAILED;
	}
	*why = "the commit log is larger than any this vault writes";
	if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
		commitlog_close(cl);
		return STORE_E_CORRUPT;
	}
	cl->size = (size_t)st.st_size;
	if (cl->size > 0) {
		*why = "cannot read the commit log";
		if ((cl->found = malloc(cl->size)) == NULL) {
			commitlog_close(cl);
			return STORE_E_NOMEM;
		}
		for (size_t at = 0; at < cl->size;) {
			ssize_t r = pread(cl->fd, cl->found + at, cl->size - at, (off_t)at);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				commitlog_close(cl);
				return STORE_E_FAILED;
			}
			at += (size_t)r;
		}
		if (commitlog_scan(cl->found, cl->size, &cl->scan) >= 0) {
			cl->have_header = 1;
			cl->h = cl->scan.h;
			cl->generation = cl->h.generation;
			/* The first checkpoint overwrites what was found. */
			cl->start = commitlog_records_start(cl->h.psize);
			cl->pos = cl->scan.end;
		}
	}
	*why = "cannot write the commit log";
	int rc = cl->size < INITIAL_BYTES ? grow(cl, INITIAL_BYTES) : 0;
	if (rc != 0) {
		commitlog_close(cl);
		return rc;
	}
	*why = NULL;
	*out = cl;
	return 0;
}

void
commitlog_close(struct commitlog *cl)
{
	if (cl == NULL)
		return;
	if (cl->fd >= 0)
		close(cl->fd);
	commitlog_scan_free(&cl->scan);
	free(cl->found);
	free(cl->hdr);
	free(cl);
}

int
commitlog_header(const struct commitlog *cl, struct commitlog_header *h)
{
	if (!cl->have_header)
		return 0;
	*h = cl->h;
	return 1;
}

size_t
commitlog_records(const struct commitlog *cl)
{
	return cl->found != NULL ? cl->scan.nrec : 0;
}

const uint8_t *
commitlog_record(const struct commitlog *cl, size_t i, size_t *len)
{
	*len = cl->scan.len[i];
	return cl->found + cl->scan.off[i];
}

int
commitlog_checkpoint(struct commitlog *cl, uint32_t psize, const uint8_t *meta,
    uint32_t meta_len, uint64_t dev, uint64_t ino, int wipe)
{
	if (meta_len != 2 * psize || meta_len > COMMITLOG_META_MAX)
		return STORE_E_FAILED;
	size_t n = HDR_FIXED + meta_len + HASH, start = commitlog_records_start(psize);
	uint8_t *hdr = calloc(1, n);
	if (hdr == NULL)
		return STORE_E_NOMEM;
	uint64_t gen = cl->generation + 1;
	memcpy(hdr, HDR_MAGIC, 8);
	be32_put(hdr + 8, 1);
	be32_put(hdr + 12, psize);
	be64_put(hdr + 16, gen);
	be64_put(hdr + 24, dev);
	be64_put(hdr + 32, ino);
	be32_put(hdr + 40, meta_len);
	memcpy(hdr + HDR_FIXED, meta, meta_len);
	hash16(hdr + HDR_FIXED + meta_len, hdr, HDR_FIXED + meta_len);
	int rc = start + REC_HEAD + HASH > cl->size ? grow(cl, start + REC_HEAD + HASH) : 0;
	/*
	 * wipe (a close: a stop, a retire's compaction): zeros over every
	 * record, of every generation, in place. They hold what the batches
	 * wrote (wrapped data keys, ciphertext, keyed tags, trail entries); once
	 * the store is durable without them, a retire must leave no copy of its
	 * epoch's keys here. Other checkpoints leave old records to be
	 * overwritten as the log is reused, as LMDB leaves its freed pages: the
	 * new generation makes them invalid. The zeros ride on the header's
	 * flush; a crash before it leaves the old header with no records, and
	 * the store was flushed first, so nothing is missing.
	 */
	static const uint8_t zero[65536];
	size_t zfrom = cl->start ? cl->start : start, zto = wipe ? cl->size : zfrom;
	for (size_t at = zfrom; rc == 0 && at < zto; at += sizeof(zero))
		rc = write_at(cl->fd, zero, zto - at < sizeof(zero) ? zto - at : sizeof(zero), at);
	/* One write of the header (within the first pages) and one flush: a
	 * torn header fails its hash, and then no record counts either. */
	if (rc == 0)
		rc = write_at(cl->fd, hdr, n, 0);
	if (rc == 0 && fdatasync(cl->fd) != 0)
		rc = STORE_E_FAILED;
	if (rc != 0) {
		free(hdr);
		return rc;
	}
	/* A log a huge batch (a bulk rewrap, a restore) grew goes back to the
	 * largest size steady load grows it to (commitlog_grow). */
	if (cl->size > MAX_STEADY_BYTES && ftruncate(cl->fd, MAX_STEADY_BYTES) == 0)
		cl->size = MAX_STEADY_BYTES;
	/* The records of the open are no longer needed. */
	commitlog_scan_free(&cl->scan);
	free(cl->found);
	cl->found = NULL;
	free(cl->hdr);
	cl->hdr = hdr;
	cl->have_header = 1;
	cl->h = (struct commitlog_header){ psize, gen, dev, ino, meta_len, hdr + HDR_FIXED };
	cl->generation = gen;
	cl->seq = 0;
	cl->start = cl->pos = cl->last = start;
	return 0;
}

int
commitlog_append(struct commitlog *cl, const uint8_t *body, size_t len, int flush)
{
	if (!cl->have_header || cl->start == 0 || len > UINT32_MAX)
		return STORE_E_FAILED;
	size_t n = REC_HEAD + len + HASH;
	/* Room for this record and a following header that fails (zeros). */
	int rc = cl->pos + n + REC_HEAD + HASH > cl->size ?
	    grow(cl, cl->pos + n + REC_HEAD + HASH) : 0;
	if (rc != 0)
		return rc;
	uint8_t head[REC_HEAD], h[HASH];
	be32_put(head, REC_MAGIC);
	be32_put(head + 4, (uint32_t)len);
	be64_put(head + 8, cl->generation);
	be64_put(head + 16, cl->seq + 1);
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, HASH);
	crypto_generichash_update(&st, head, REC_HEAD);
	crypto_generichash_update(&st, body, len);
	crypto_generichash_final(&st, h, HASH);
	struct iovec iov[3] = { { head, REC_HEAD }, { (void *)body, len }, { h, HASH } };
	ssize_t w;
	do
		w = pwritev(cl->fd, iov, 3, (off_t)cl->pos);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return errno == ENOSPC || errno == EDQUOT ? STORE_E_DISK_FULL : STORE_E_FAILED;
	size_t done = (size_t)w;
	if (done < n) {
		/* Finish a short write from a copy. */
		uint8_t *rec = malloc(n);
		if (rec == NULL)
			return STORE_E_NOMEM;
		memcpy(rec, head, REC_HEAD);
		memcpy(rec + REC_HEAD, body, len);
		memcpy(rec + REC_HEAD + len, h, HASH);
		rc = write_at(cl->fd, rec + done, n - done, cl->pos + done);
		free(rec);
		if (rc != 0)
			return rc;
	}
	if (flush && fdatasync(cl->fd) != 0)
		return STORE_E_FAILED;
	cl->last = cl->pos;
	cl->pos += n;
	cl->seq++;
	return 0;
}

int
commitlog_undo(struct commitlog *cl)
{
	static const uint8_t zero[REC_HEAD];
	if (cl->seq == 0 || cl->last >= cl->pos)
		return STORE_E_FAILED;
	/* Zeros over the record's head end the log before it. */
	int rc = write_at(cl->fd, zero, sizeof(zero), cl->last);
	if (rc == 0 && fdatasync(cl->fd) != 0)
		rc = STORE_E_FAILED;
	if (rc != 0)
		return rc;
	cl->pos = cl->last;
	cl->seq--;
	return 0;
}

int
commitlog_grow(struct commitlog *cl)
{
	if (cl->size >= MAX_STEADY_BYTES)
		return 0;
	return grow(cl, cl->size * 2 > MAX_STEADY_BYTES ? MAX_STEADY_BYTES : cl->size * 2);
}

size_t
commitlog_used(const struct commitlog *cl)
{
	return cl->pos > cl->start ? cl->pos - cl->start : 0;
}

size_t
commitlog_room(const struct commitlog *cl)
{
	return cl->size > cl->start ? cl->size - cl->start : 0;
}
