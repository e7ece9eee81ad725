/*
 * audit.h - the audit trail: one entry per request that touches personal
 * data or keys, written before the answer leaves the vault, never holding
 * personal data, hash-chained so that an edited, removed, reordered or
 * truncated entry is found.
 *
 * Entries are appended with write(2) under a lock (one write per batch,
 * below) before the reply is released (so a vaultd crash loses nothing
 * acknowledged). Writes' entries are flushed before their reply, in the
 * same time as the store's commit (audit_flush); reads' entries are
 * flushed by a background thread every sync_interval_ms (so a power loss
 * loses at most that window of reads): those syncs are batched and do not
 * cap reads.
 * If an entry cannot be written the request fails with VAULT_E_AUDIT and
 * no data is returned (fail closed).
 */
#ifndef VAULT_AUDIT_H
#define VAULT_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <vault/vault.h>

struct key_set;
struct audit;

struct audit_event {
	const char *client;        /* policy client name */
	uid_t uid;
	enum vault_purpose purpose; /* 0: none */
	const char *op;            /* operation name */
	const uint64_t *records;   /* record ids touched (pseudonymized) */
	size_t nrecords;
	uint32_t fields;           /* bit i: field id i; bit 11: documents */
	int outcome;               /* 0 or a VAULT_E_* code */
	time_t time;
	const char *outcome_name;  /* instead of outcome's name (alerts); NULL */
};

struct audit_config {
	const char *path;          /* current file; rotated files get .1, .2, ... */
	size_t max_file_bytes;     /* rotate beyond this */
	unsigned sync_interval_ms; /* fdatasync cadence */
	size_t reserve_bytes;      /* space kept for a full disk (below); 0: none */
};

/*
 * A full file system. A regular trail keeps path.reserve, reserve_bytes
 * preallocated (posix_fallocate) on the trail's file system. When a write
 * of the trail fails with ENOSPC, the reserve is released (truncated to
 * nothing) and the write tried once more: entries, so reads and deletions,
 * go on until that room is used up, and an operator has that long to act
 * (one log line; the writer and workers raise the disk_full alert). Past
 * it, writes fail and requests are refused with VAULT_E_AUDIT and a message
 * naming the full file system (fail closed, as before). Every later write
 * tries again, so service resumes by itself when space returns; the sync
 * thread then preallocates the reserve again (when the file system has
 * room for it twice over).
 */
enum audit_space {
	AUDIT_SPACE_OK,        /* writing; the reserve (if any) is held */
	AUDIT_SPACE_RESERVE,   /* the disk filled: writing into the reserve's room */
	AUDIT_SPACE_FULL,      /* the last write failed: the file system is full */
	AUDIT_SPACE_FAILED,    /* no entries are accepted (a flush failed) */
};
enum audit_space audit_space(struct audit *a);
/* "ok", "using the space reserve", "file system full", "failed" (status). */
const char *audit_space_name(enum audit_space s);
/*
 * The data directory dir ran out of space: if it shares the trail's file
 * system, release the reserve for it (LMDB needs pages for deletions too);
 * 1 if released. The write that failed is not retried; the next one finds
 * the room.
 */
int audit_release_reserve_for(struct audit *a, const char *dir);
/* 1 once after the disk filled (the reserve was released or missing). */
int audit_disk_full_news(struct audit *a);
/* The refusal's message for a request whose entry was not written. */
const char *audit_refusal(struct audit *a, int write);

/* Open (creating 0600), recover the chain head from the last entry. */
int audit_open(struct audit **out, const struct audit_config *cfg,
    const struct key_set *ks, char *err, size_t errlen);
/* The same; AUDIT_OPEN_ACKNOWLEDGE: a trail shorter than its head file
 * opens (with a warning), for audit_acknowledge() below. */
#define AUDIT_OPEN_ACKNOWLEDGE 1
int audit_open_flags(struct audit **out, const struct audit_config *cfg,
    const struct key_set *ks, int flags, char *err, size_t errlen);
void audit_close(struct audit *a);
/* Append one entry; thread-safe. Returns 0 or VAULT_E_AUDIT. */
__attribute__((warn_unused_result))
int audit_log(struct audit *a, const struct key_set *ks, const struct audit_event *ev);

/*
 * Batches: a thread that answers many requests at once (a worker's loop
 * pass, the writer's group commit) builds their entries into its own batch
 * without any lock, then commits them together: chained under the trail's
 * lock and appended with one write(2). A batch belongs to one thread.
 *
 *   audit_batch_add() builds one entry (no I/O); 0 or VAULT_E_AUDIT (out
 *   of memory, no key, or more than 4 index key versions in one batch).
 *   audit_batch_commit() writes them all, or none (a partly written tail
 *   is cut off again, as for one entry): 0 or VAULT_E_AUDIT. The batch is
 *   empty afterwards either way, and the subkeys it held are wiped.
 *
 * The caller must hold back every answer whose entry is in the batch until
 * the commit succeeds, and answer VAULT_E_AUDIT instead if it fails.
 */
struct audit_batch;
struct audit_batch *audit_batch_new(void);
void audit_batch_free(struct audit_batch *b);
/* Drop the entries not committed (their requests failed otherwise). */
void audit_batch_clear(struct audit_batch *b);
size_t audit_batch_count(const struct audit_batch *b);
/* Drop the entries added after the first n (their requests were undone). */
void audit_batch_truncate(struct audit_batch *b, size_t n);
__attribute__((warn_unused_result))
int audit_batch_add(struct audit_batch *b, const struct key_set *ks,
    const struct audit_event *ev);
__attribute__((warn_unused_result))
int audit_batch_commit(struct audit *a, struct audit_batch *b);

/*
 * File format (one JSON object per line, keys sorted, no spaces: the bytes
 * are canonical):
 *
 *   {"client":"crm","fields":["email"],"kv":1,"mac":"<64 hex>","op":"read",
 *    "outcome":"ok","prev":"<64 hex>","purpose":"transactional",
 *    "records":["v1:<32 hex>"],"seq":7,"time":1700000000,"uid":1000}
 *
 * seq counts from 1 across rotated files. records holds pseudonyms: "v<kv>:"
 * and a keyed BLAKE2b-128 of the record id. mac is a keyed BLAKE2b-256 over
 * the previous entry's mac (32 zero bytes before the first entry) followed
 * by the line without its mac key. Both keys are derived from index key kv
 * (crypto_kdf, context "vaudit01", subkeys 1 and 2): retiring an index key
 * leaves the entries made under it unverifiable and unsearchable.
 *
 * Files: path is the current file; rotation renames it to path.N (N one more
 * than any in use) once it would grow beyond max_file_bytes (0: never). A
 * batch is never split across files: a file holding one batch may exceed
 * max_file_bytes by that batch.
 * path.head holds the last entry made durable, rewritten atomically by the
 * sync thread: it is what reveals a truncated tail, so tail truncation that
 * stays within one sync interval (and removal of path.head itself) goes
 * unnoticed. audit_open() refuses a trail that ends before its head file.
 * The head file lives beside the trail, so whoever cuts the tail can also
 * rewrite it: what catches that is the anchor the writer commits with the
 * data (audit_check_anchor() at start) and signed checkpoints kept off the
 * machine (audit_verify_with()).
 * A path that is not a regular file (a device) is written to without
 * recovery, rotation, syncing or head file.
 */

/*
 * Make everything written so far durable now and rewrite path.head (the
 * sync thread does this every sync_interval_ms). Returns 0 or VAULT_E_AUDIT.
 */
int audit_sync(struct audit *a);

/*
 * Make the entries written so far durable (one fdatasync of the current
 * file), without the head file, which the sync thread rewrites at its next
 * round. The writer calls it for each group commit, concurrently with the
 * store's commit, and answers only when both are done: the entry of every
 * acknowledged write is durable (writer_flush.h). Thread-safe; 0, or
 * VAULT_E_AUDIT if the flush failed (the trail then accepts no entries).
 */
int audit_flush(struct audit *a);

#define AUDIT_MAC_BYTES 32
#define AUDIT_PSEUDONYM_MAX 48

/*
 * Carrying: the trail's entries made durable by the store's commit log
 * instead of a flush of their own (store_txn_carry(), store_lmdb.c): one
 * flush per group commit instead of two. audit_carry_take() gives the
 * bytes appended to the current file since the last carried range (reads'
 * entries included: the chain has no gaps); the writer hands them to its
 * batch, and after the commit calls audit_carry_done() with whether it
 * succeeded: then the range counts as carried and its entries as durable
 * (the anchor may name them); else the next take starts at the same place.
 * The first take on a file flushes it (once), so a carried range always
 * starts where the durable file ends and a write-back after a crash never
 * leaves a hole. Only the writer takes. 0, or VAULT_E_AUDIT (the caller
 * flushes the trail itself).
 */
struct audit_carry {
	const char *path; /* absolute; NULL: nothing taken */
	uint64_t dev, ino, off;
	uint8_t *bytes;
	size_t len;
	uint64_t seq; /* the last entry in the range */
	uint8_t mac[32];
};
int audit_carry_take(struct audit *a, struct audit_carry *c);
void audit_carry_done(struct audit *a, struct audit_carry *c, int durable); /* "v4294967295:" + 32 hex, with NUL */

/* The last entry written: seq (0: none) and its MAC. */
void audit_head(struct audit *a, uint64_t *seq, uint8_t mac[AUDIT_MAC_BYTES]);
/*
 * The last entry made durable (by audit_open(), audit_sync() or the sync
 * thread): seq (0: none, or a trail that is not a regular file) and MAC.
 * This is what the writer commits as the anchor: a power loss cannot take
 * it back, so a trail found shorter than the anchor was cut, not crashed.
 */
void audit_durable_head(struct audit *a, uint64_t *seq, uint8_t mac[AUDIT_MAC_BYTES]);

/*
 * An entry the trail must hold: the anchor the data holds (store.h
 * "audit_head": each group commit stores the durable head in its own LMDB
 * transaction, and a clean stop the exact end of the trail), or a signed
 * checkpoint shipped off the machine. what names it in messages ("data",
 * "checkpoint").
 *
 * Only the data's anchor binds the trail to the data; nothing binds it
 * to the key ring: anyone who can write the data file can set it to any
 * entry still in the trail. Checkpoints kept elsewhere are what covers that.
 */
struct audit_anchor {
	uint64_t seq;
	uint8_t mac[AUDIT_MAC_BYTES];
	const char *what;
};

/*
 * Whether a's trail still holds entry an->seq with MAC an->mac (at start:
 * a trail cut short, replaced by an older copy, or missing files is shorter
 * than the data says even when its head file was rewritten to match). Reads
 * the files written since that entry, newest first, without keys: the
 * entry's presence, not the chain up to it (audit_verify() checks that).
 * Returns 0, or VAULT_E_AUDIT with the reason (sequence numbers only) in err.
 */
int audit_check_anchor(struct audit *a, const struct audit_anchor *an, char *err,
    size_t errlen);

/*
 * An administrator acknowledges a trail that lost entries (vaultd
 * --audit-acknowledge, vaultd stopped): one entry, op "audit_acknowledge",
 * outcome "ok", uid the caller's, numbered after every entry known to have
 * existed (data_seq, and the head file's seq of a trail opened with
 * AUDIT_OPEN_ACKNOWLEDGE) and chained to the last entry still there. Sequence
 * numbers are thus never reused, and audit_verify() reports the gap as
 * acknowledged (entries before the jump) instead of as damage. The entry
 * is made durable; *seq and mac receive it (for the new anchor).
 */
#define AUDIT_ACKNOWLEDGE_OP "audit_acknowledge"
/* The head file's seq when audit_open() found it ahead of the trail; else 0. */
uint64_t audit_lost_to(struct audit *a);
int audit_acknowledge(struct audit *a, const struct key_set *ks, uint64_t data_seq,
    uid_t uid, uint64_t *seq, uint8_t mac[AUDIT_MAC_BYTES]);

/* The pseudonym of record_id under index key version (NUL-terminated in out). */
int audit_pseudonym(const struct key_set *ks, uint32_t version,
    uint64_t record_id, char out[AUDIT_PSEUDONYM_MAX]);

struct audit_verify_result {
	int ok;                 /* 1: every entry is there, in order, unaltered */
	unsigned files;         /* files read */
	uint64_t entries;       /* entries that verified */
	uint64_t first_bad_seq; /* the first seq found wrong or missing; 0: none */
	uint64_t acknowledged;  /* sequence numbers skipped by acknowledgments */
	char reason[192];       /* when not ok: what is wrong (never entry contents) */
	int64_t last_time;      /* time of the last entry that verified (0: none) */
	uint64_t unkeyed;       /* audit_verify_select(): entries under a retired
	                         * index key, passed over unchecked */
	uint64_t unkeyed_selected; /* of those, the ones the filter selects */
};

/*
 * Verify the trail at path (path.1, path.2, ... then path, then path.head)
 * with the index keys of ks. Returns 0 with the verdict in *r, or
 * VAULT_E_IO / VAULT_E_NOMEM if the files could not be read at all.
 * Entries appended while it runs may be reported as missing: use
 * audit_verify() on a trail that is being written.
 */
int audit_verify_files(const char *path, const struct key_set *ks,
    struct audit_verify_result *r);
/*
 * The same for the open trail a, while it is written: checks the entries
 * up to the head as of the call, and that none of them is missing.
 */
int audit_verify(struct audit *a, const struct key_set *ks,
    struct audit_verify_result *r);
/*
 * Both, also requiring entries need[0..nneed) (the data's anchor, a
 * checkpoint): such an entry missing, inside an acknowledged gap, or with
 * another MAC makes the trail not ok.
 */
int audit_verify_files_with(const char *path, const struct key_set *ks,
    const struct audit_anchor *need, size_t nneed, struct audit_verify_result *r);
int audit_verify_with(struct audit *a, const struct key_set *ks,
    const struct audit_anchor *need, size_t nneed, struct audit_verify_result *r);

/* What audit_query() selects; zero fields match everything. */
struct audit_filter {
	const uint64_t *record; /* entries that touched this record id */
	const char *client;     /* client name */
	const char *purpose;    /* purpose name */
	int64_t from, to;       /* time within [from, to]; 0: unbounded */
	size_t limit;           /* at most this many (0: no limit), oldest first */
	int by_uid;             /* audit_verify_select() only: entries of uid */
	uint64_t uid;
};

/* One entry as read back; every pointer lives only during the callback. */
struct audit_entry;
typedef int (*audit_entry_fn)(void *arg, const struct audit_entry *e);
/*
 * Verification and a query in one pass (the breach report): the trail is
 * verified as audit_verify_with() does (a NULL: the files at path), and fn
 * is called for each entry that verified and that f selects (client,
 * purpose, uid, time; record and limit are ignored), in seq order. An entry
 * under an index key version the ring no longer holds cannot be checked
 * nor its pseudonyms mapped: it is passed over and counted in r->unkeyed
 * (r->unkeyed_selected if f selects it), and the chain goes on from the
 * MAC it states (what follows is still checked against it); only before
 * the first entry under a key the ring holds (keys retire oldest first):
 * one after it is damage. Returns 0 with
 * the verdict in *r (when not ok, fn saw only entries before
 * r->first_bad_seq), fn's non-zero value, VAULT_E_IO or VAULT_E_NOMEM.
 */
int audit_verify_select(struct audit *a, const char *path, const struct key_set *ks,
    const struct audit_anchor *need, size_t nneed, const struct audit_filter *f,
    audit_entry_fn fn, void *arg, struct audit_verify_result *r);


struct audit_entry {
	uint64_t seq;
	int64_t time;
	const char *client;      /* NULL: none */
	uint64_t uid;
	const char *purpose;     /* NULL: none */
	const char *op;
	const char *const *records; /* pseudonyms */
	size_t nrecords;
	const char *const *fields;
	size_t nfields;
	const char *outcome;     /* "ok" or an error name */
	uint32_t kv;
};

/* audit_entry_fn: return 0 to go on, anything else to stop audit_query()
 * (or audit_verify_select()) with that value. */

/*
 * Call fn for each entry of the trail at path that f selects, in seq
 * order. A record is matched by its pseudonym under every index key version
 * ks holds. Lines that cannot be read are skipped (audit_verify() reports
 * them). Returns 0, fn's value, VAULT_E_IO or VAULT_E_NOMEM.
 */
int audit_query(const char *path, const struct key_set *ks,
    const struct audit_filter *f, audit_entry_fn fn, void *arg);

#endif
