/*
 * commitlog.h - the LMDB backend's commit log: the one flush a durable
 * write batch waits for.
 *
 * LMDB makes a commit durable with two flushes in a row (its data pages,
 * then the meta page that points at them). With the log, LMDB commits
 * without flushing (MDB_NOSYNC) and the batch's changes, already written
 * as they went (keys and values: ciphertext, wrapped keys, tags), plus the
 * audit trail bytes the reply needs durable, go into one record of this
 * file, which is flushed once before LMDB commits. A checkpoint flushes
 * LMDB and the carried files, saves LMDB's two meta pages in the log's
 * header and starts a new generation; store_lmdb.c keeps a read
 * transaction on the checkpoint's snapshot, so LMDB never reuses its pages
 * before the next checkpoint and the saved meta pages stay valid.
 * Recovery after a crash puts the saved meta pages back (LMDB then sees
 * the checkpoint, intact) and applies the records written since, in
 * order. See store_lmdb.c for the whole argument and BENCHMARKS.md for
 * the flush counts.
 *
 * The file (all integers big-endian):
 *
 *   header at 0: "VAULTCL1" (8), version u32 (1), page size u32,
 *     generation u64, device u64 and inode u64 of data.mdb, meta length
 *     u32 (2 pages), LMDB's meta pages, BLAKE2b-128 of all before it.
 *   records from commitlog_records_start(page size) on, back to back:
 *     magic u32 "VCLR", body length u32, generation u64, sequence u64
 *     (1, 2, ... within a generation), body, BLAKE2b-128 of all before it
 *     in the record.
 *   the rest: zeros, or records of older generations (overwritten in
 *     place: the file is written with zeros once and reused, so a record's
 *     flush never has to flush a new file size too).
 *
 * The log ends at the first record whose magic, generation, sequence,
 * length or hash is wrong: a torn write at the end is a batch that was
 * never acknowledged.
 *
 * A record's body is a list of operations:
 *   1 put:  table u8, key length u16, value length u32, key, value
 *   2 del:  table u8, key length u16, key
 *   3 file: path length u16, device u64, inode u64, offset u64,
 *           length u32, path, bytes: write these bytes at this offset of
 *           this file if it is still the same file (a rotated audit file
 *           was flushed when it was rotated)
 *
 * Functions return 0 or a negative STORE_E_* (store.h); *why (static
 * text) says what failed where one is taken.
 */
#ifndef VAULT_STORE_COMMITLOG_H
#define VAULT_STORE_COMMITLOG_H

#include <stddef.h>
#include <stdint.h>

#define COMMITLOG_NAME "commit.log"
#define COMMITLOG_OP_PUT 1
#define COMMITLOG_OP_DEL 2
#define COMMITLOG_OP_FILE 3
#define COMMITLOG_META_MAX (2u * 65536u)

struct commitlog;

/* The checkpoint the header holds. */
struct commitlog_header {
	uint32_t psize;
	uint64_t generation;
	uint64_t dev, ino;
	uint32_t meta_len;
	const uint8_t *meta; /* valid until the next call on the log */
};

/* A growable byte buffer for a record's body. */
struct commitlog_body {
	uint8_t *p;
	size_t len, cap;
	int failed;   /* an append could not allocate: the body is incomplete */
	size_t limit; /* 0, or the most bytes to hold */
	int over;     /* an append would have passed limit: the body is incomplete */
};

void commitlog_body_put(struct commitlog_body *b, unsigned table, const void *key,
    size_t klen, const void *val, size_t vlen);
void commitlog_body_del(struct commitlog_body *b, unsigned table, const void *key,
    size_t klen);
void commitlog_body_file(struct commitlog_body *b, const char *path, uint64_t dev,
    uint64_t ino, uint64_t off, const void *bytes, size_t len);
void commitlog_body_free(struct commitlog_body *b);

/* One operation of a body, as parsed. */
struct commitlog_op {
	unsigned type, table;
	const uint8_t *key, *val; /* file: key is the path (not NUL-ended), val the bytes */
	size_t klen, vlen;
	uint64_t dev, ino, off;
};

/*
 * Call fn for each operation of body, after checking the whole body first:
 * a malformed body calls fn for none and returns STORE_E_CORRUPT. fn's
 * non-zero result stops the walk and is returned.
 */
int commitlog_body_walk(const uint8_t *body, size_t len,
    int (*fn)(void *arg, const struct commitlog_op *op), void *arg);

/*
 * Open (creating, written with zeros) the log at path and read it: the
 * header (absent in a new file) and the records of its generation.
 */
int commitlog_open(struct commitlog **out, const char *path, const char **why);
void commitlog_close(struct commitlog *cl);

/* 1 and *h filled if the file holds a valid header. */
int commitlog_header(const struct commitlog *cl, struct commitlog_header *h);
/* The records found at open (count, then each body in order). */
size_t commitlog_records(const struct commitlog *cl);
const uint8_t *commitlog_record(const struct commitlog *cl, size_t i, size_t *len);

/*
 * Start a new generation with this checkpoint: write and flush the header;
 * the next record goes to the start of the records. wipe: write zeros over
 * every record first (at a close), in the same flush.
 */
int commitlog_checkpoint(struct commitlog *cl, uint32_t psize, const uint8_t *meta,
    uint32_t meta_len, uint64_t dev, uint64_t ino, int wipe);
/*
 * Double the log's room (written with zeros and flushed), up to 16 MiB: the
 * store calls it when the log fills again within a second of the last
 * checkpoint, so under steady load checkpoints come about once a second
 * at most. 0, or a store error (the log keeps its size).
 */
int commitlog_grow(struct commitlog *cl);

/*
 * Append one record and, if flush, make it durable (one fdatasync; the
 * file grows first, written with zeros and flushed, if it lacks room).
 */
int commitlog_append(struct commitlog *cl, const uint8_t *body, size_t len, int flush);
/* Take back the last record appended (its LMDB commit failed): durable. */
int commitlog_undo(struct commitlog *cl);
/* Bytes used by the records of this generation, and the file's room. */
size_t commitlog_used(const struct commitlog *cl);
size_t commitlog_room(const struct commitlog *cl);

/* Where records start for a page size. */
size_t commitlog_records_start(uint32_t psize);

/*
 * Parse a log held in memory (commitlog_open's reader, and the fuzz
 * harness's entry): fills the header and the records' offsets. Never
 * reads outside buf. Returns the number of valid records, or -1 if buf
 * holds no valid header.
 */
struct commitlog_scan {
	struct commitlog_header h;
	size_t nrec, cap;
	size_t *off, *len; /* body offsets and lengths in buf */
	size_t end;        /* offset just past the last valid record */
};
long commitlog_scan(const uint8_t *buf, size_t len, struct commitlog_scan *sc);
void commitlog_scan_free(struct commitlog_scan *sc);

#endif
