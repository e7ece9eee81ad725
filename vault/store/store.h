/*
 * store.h - the storage interface: named tables of ordered byte keys, read
 * snapshots and write batches. Everything above vault/store/ (operations,
 * privacy, rotation, restore, the writer) reaches stored data only through
 * the functions here; a backend (store_lmdb.c, store_pgsql.c) implements the method
 * table below. The model is a sorted key-value map per table, as in
 * Postfix's dict and Dovecot's lib-dict, because that is all the vault
 * needs: every value is already ciphertext, a wrapped key, a keyed tag or a
 * sealed state, so a backend never sees personal data and never has to
 * understand a value.
 *
 * The tables and their layouts:
 *
 *   meta        "schema" -> u32 version; "next_id" -> u64
 *   records     record id (u64 BE) -> encoded record (record_codec.h)
 *   documents   record id (u64 BE) + slot (u16 BE) -> sealed document
 *   tombstones  record id (u64 BE) -> tombstone
 *   card_index  keyed hash of a card token (16), under a subkey of the
 *               record's KEK epoch (a rewrap re-keys it) -> record id (u64 BE)
 *   det_index   KEK epoch (u32 BE) + deterministic tag (16) + record id
 *               (u64 BE) -> field id (u8); the epoch first, so retiring an
 *               epoch deletes its entries as one range
 *   blind_index blind kind (u8) + tag (16) + record id -> KEK epoch of the tag
 *               (u32 BE)
 *   blind_record record id + blind kind (u8) -> KEK epoch (u32 BE), tag (16),
 *               nonce (24), canonical value sealed under the record's DEK: the
 *               same entries by record, so a changed field or a deleted record
 *               drops its own and a rewrap re-derives them (privacy/blind.h)
 *   requests    request id (u64 BE) -> privacy request (privacy/request.h)
 *   holds       hold id (u64 BE) -> hold (privacy/hold.h)
 *   record_holds record id + hold id -> empty: the holds on a record
 *   verify_ids  window (u64 BE) + keyed hash of a claimed name under a KEK
 *               epoch's subkey (32) -> the failed verifications of that
 *               identity in that window, the open requests that tried it
 *               and the name sealed under the epoch (privacy/identity.h)
 *   recipients  record id (u64 BE) -> nonce (24) and the clients that
 *               received the record's data, sealed under its DEK
 *               (privacy/recipients.h)
 *   deletions   hash of a client's name (16) + notice id (u64 BE) -> a
 *               deletion notice of the client's feed (privacy/feed.h)
 *
 * meta also holds "next_request" and "next_hold" (u64 BE), and "audit_head"
 * (on a shared store "audit_head/<node>", one per node):
 * an audit entry's seq (u64 BE) and MAC (32 bytes) the trail must hold: the
 * trail's durable head, stored by each group commit in its transaction
 * (writer.c), and the trail's end at a clean stop (main.c; audit.h, the
 * anchor).
 *
 * Record ids are sequential, so creates append to the records table instead
 * of splitting random pages (FACTS.md: random keys cut durable write
 * throughput several-fold). Only the two token indexes have random keys, and
 * they are written only when such a token is first asked for.
 *
 * Results. Every function returns STORE_OK (0), a logical outcome (positive:
 * STORE_NOTFOUND, STORE_EXISTS) or a failure (negative, STORE_E_*). A
 * backend logs the detail of a failure once, where it happens (its own
 * messages are static text, never stored data); callers turn a result into
 * a vault error with store_error(). Logical outcomes are never logged.
 *
 * Transactions. store_txn_begin() with STORE_RDONLY gives a read snapshot:
 * it sees the state of one commit and nothing written after it, and never
 * blocks or is blocked by the writer. That commit is the latest when the
 * snapshot first reads, at the latest (LMDB: when it begins; PostgreSQL
 * sends BEGIN with the first read, so a snapshot that reads nothing costs
 * nothing). Without it, a write batch: one at a
 * time per store (the vault has one writer thread), applied as a whole by
 * store_txn_commit() and durable when that returns, or not at all. A write
 * batch may have nested batches (a parent given): a nested batch commits
 * into its parent or aborts alone, so one failing write leaves the rest of
 * a group commit intact. A put without STORE_NOOVERWRITE may answer
 * STORE_OK before it is done (PostgreSQL sends it without waiting): its
 * failure is then the answer of the next read or commit of its batch (or
 * nested batch), which fails as if the put had.
 *
 * Lifetimes. A value or key returned by store_get() or store_cursor_get()
 * points into the store's memory and is valid until the transaction ends
 * or the next write in it; copy what must live longer. Never write through
 * it (LMDB maps it read-only).
 */
#ifndef VAULT_STORE_STORE_H
#define VAULT_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

/* 2: records with a MAC (record_codec.h); 3: deterministic, card and blind
 * index entries keyed by KEK-epoch subkeys, det entries carrying their epoch,
 * blind entries carrying their sealed canonical value (privacy/blind.h). */
#define STORE_SCHEMA_VERSION 3

enum store_table {
	STORE_META,
	STORE_RECORDS,
	STORE_DOCUMENTS,
	STORE_TOMBSTONES,
	STORE_CARD_INDEX,
	STORE_DET_INDEX,
	STORE_BLIND_INDEX,
	STORE_BLIND_RECORD,
	STORE_REQUESTS,
	STORE_HOLDS,
	STORE_RECORD_HOLDS,
	STORE_VERIFY_IDS,
	STORE_RECIPIENTS,
	STORE_DELETIONS,
	STORE_NTABLES
};

/* The table's name as the backends store it ("records", ...). */
const char *store_table_name(enum store_table t);

enum {
	STORE_OK = 0,
	STORE_NOTFOUND = 1,     /* no such key, or a cursor moved past the end */
	STORE_EXISTS = 2,       /* STORE_NOOVERWRITE and the key is there */
	STORE_E_FULL = -1,      /* the store's own capacity (LMDB: map or batch full) */
	STORE_E_DISK_FULL = -2, /* the file system under the store is full */
	STORE_E_NOMEM = -3,
	STORE_E_CORRUPT = -4,   /* the store is damaged or not a vault store */
	STORE_E_FAILED = -5,    /* any other failure: the backend logged which */
	/* The store cannot be reached (a database down, failing over, or not
	 * answering in time): nothing was done; a later try may succeed. */
	STORE_E_UNAVAILABLE = -6,
	/* A commit whose outcome is unknown (the connection was lost while
	 * it ran): the batch may or may not be stored; re-read, then retry. */
	STORE_E_UNCERTAIN = -7,
};

/* A byte string: a key, or a value. */
struct store_val {
	size_t len;
	const void *data;
};

/* store_txn_begin() flags */
#define STORE_RDONLY 0x1u

/* store_put() flags */
#define STORE_NOOVERWRITE 0x1u /* STORE_EXISTS if the key is there */
#define STORE_APPEND 0x2u      /* a hint: the key sorts after every key in the table */

enum store_cursor_op {
	STORE_FIRST,     /* the first entry of the table */
	STORE_NEXT,      /* the entry after the current one (the first if none) */
	STORE_SET_RANGE, /* the first entry whose key is >= the key given */
};

struct store;
struct store_txn;
struct store_cursor;

/*
 * A backend's methods. New methods are only ever appended, with the
 * version raised (as SQLite's io_methods). Only store.c calls them.
 */
struct store_methods {
	int version; /* 2: purge; 3: shared; 4: unreachable_since; 5: carry, checkpoint */
	const char *name;
	void (*close)(struct store *s);
	int (*txn_begin)(struct store *s, struct store_txn *parent, unsigned flags,
	    struct store_txn **txn);
	int (*txn_commit)(struct store_txn *txn);
	void (*txn_abort)(struct store_txn *txn);
	void (*txn_reset)(struct store_txn *txn);
	int (*txn_renew)(struct store_txn *txn);
	int (*get)(struct store_txn *txn, enum store_table t, const struct store_val *key,
	    struct store_val *val);
	int (*put)(struct store_txn *txn, enum store_table t, const struct store_val *key,
	    const struct store_val *val, unsigned flags);
	int (*del)(struct store_txn *txn, enum store_table t, const struct store_val *key);
	int (*count)(struct store_txn *txn, enum store_table t, uint64_t *entries);
	int (*cursor_open)(struct store_txn *txn, enum store_table t, struct store_cursor **c);
	int (*cursor_get)(struct store_cursor *c, struct store_val *key, struct store_val *val,
	    enum store_cursor_op op);
	int (*cursor_put)(struct store_cursor *c, const struct store_val *val);
	int (*cursor_del)(struct store_cursor *c);
	void (*cursor_close)(struct store_cursor *c);
	int (*copy)(struct store *s, int fd);
	void (*reader_check)(struct store *s);
	int (*set_durable)(struct store *s, int durable);
	/* version 2 */
	int (*purge)(struct store *s, uint64_t *before, uint64_t *after);
	/* version 3: other processes (vaultd nodes) may write the same store
	 * (store_shared()), and one of them leads (store_lead()) */
	int shared;
	int (*lead)(struct store *s);
	/* version 4 */
	long long (*unreachable_since)(struct store *s);
	/* version 5 */
	int (*carries)(const struct store *s);
	int (*carry)(struct store_txn *txn, const char *path, uint64_t dev, uint64_t ino,
	    uint64_t off, const void *bytes, size_t len);
	int (*checkpoint)(struct store *s);
};

/* The first member of every backend's transaction and cursor. */
struct store_txn {
	const struct store_methods *m;
};

struct store_cursor {
	const struct store_methods *m;
};

struct store {
	const struct store_methods *m; /* NULL: not open */
	void *impl;                    /* the backend's own state */
};

/*
 * Open (creating if needed) the store in directory dir, which must exist,
 * and check its schema. Returns 0, VAULT_E_STORAGE, VAULT_E_NO_SPACE or
 * VAULT_E_CONFIG (schema mismatch), with *why set on failure.
 */
int store_open(struct store *s, const char *dir, size_t map_size,
    unsigned max_readers, const char **why);

/*
 * Open (creating its tables if needed) the PostgreSQL store conninfo names
 * (store_pgsql.h), with at most max_conns connections, and check its schema
 * as store_open() does. conninfo may hold a password: nothing here logs it
 * or puts it in *why. Returns as store_open().
 */
int store_open_pgsql(struct store *s, const char *conninfo, unsigned max_conns,
    const char **why);

/* store_open_file() flags */
#define STORE_FILE_RDONLY 0x1u

/*
 * Open a store kept in one file (a backup, or a compacted copy), with no
 * lock file: only for files no one else has open. Tables the file lacks
 * are created unless STORE_FILE_RDONLY (then store_cursor_open and
 * store_get answer STORE_NOTFOUND for them); the schema is not checked.
 * Returns as store_open().
 */
int store_open_file(struct store *s, const char *path, size_t map_size,
    unsigned flags, const char **why);

/* Close the store (no transaction may be open). Safe on a closed store. */
void store_close(struct store *s);

int store_txn_begin(struct store *s, struct store_txn *parent, unsigned flags,
    struct store_txn **txn);
/* Apply the batch (durable when this returns) and end the transaction,
 * which is freed whatever the result. */
int store_txn_commit(struct store_txn *txn);
/* End the transaction without applying anything; frees it. */
void store_txn_abort(struct store_txn *txn);
/* A read snapshot kept for reuse: release the snapshot, keep the handle;
 * store_txn_renew() takes a new snapshot of the latest commit. */
void store_txn_reset(struct store_txn *txn);
int store_txn_renew(struct store_txn *txn);

int store_get(struct store_txn *txn, enum store_table t, const struct store_val *key,
    struct store_val *val);
int store_put(struct store_txn *txn, enum store_table t, const struct store_val *key,
    const struct store_val *val, unsigned flags);
/* STORE_NOTFOUND if the key was not there. */
int store_del(struct store_txn *txn, enum store_table t, const struct store_val *key);
/* The number of entries in a table, as of the transaction's snapshot. */
int store_count(struct store_txn *txn, enum store_table t, uint64_t *entries);

int store_cursor_open(struct store_txn *txn, enum store_table t, struct store_cursor **c);
/* Move the cursor and return its entry; key is read for STORE_SET_RANGE. */
int store_cursor_get(struct store_cursor *c, struct store_val *key, struct store_val *val,
    enum store_cursor_op op);
/* Replace the value of the cursor's current entry. */
int store_cursor_put(struct store_cursor *c, const struct store_val *val);
/* Delete the cursor's current entry; STORE_NEXT then returns the one after it. */
int store_cursor_del(struct store_cursor *c);
void store_cursor_close(struct store_cursor *c);

/* Write a consistent copy of the latest commit to fd, holding only live
 * data (no freed pages): backups and retire's compaction. */
int store_copy(struct store *s, int fd);
/*
 * Whether the backend reclaims deleted data in place (store_purge()); if
 * not (LMDB), a retire compacts by copying the store (store_copy()).
 */
int store_purges(const struct store *s);
/*
 * Remove what deletions and rewrites left behind (old row versions) from
 * the store's tables and indexes, in place (PostgreSQL: VACUUM); *before
 * and *after: the tables' size in bytes. Snapshots older than the call
 * may keep what they see: end them first. STORE_NOTFOUND where the backend
 * has no such step (store_purges() is 0).
 */
int store_purge(struct store *s, uint64_t *before, uint64_t *after);
/*
 * Whether other vaultd nodes may write this store too (PostgreSQL: yes;
 * LMDB: no, its data directory is locked by one vaultd). Then every write
 * batch holds the store's write lock from its begin to its end (one batch
 * at a time across all nodes, as LMDB's one writer), and whatever a node
 * keeps in memory from meta (next_id, ...) must be read again inside each
 * batch: another node may have moved it (writer.c).
 */
int store_shared(const struct store *s);
/*
 * On a shared store, whether this process is the one that runs the
 * background jobs (rotation's rewrap, scheduled rotations and retires, the
 * privacy sweep and horizon): 1 if it holds the store's lead lock, taking
 * it if no one does (PostgreSQL: a session-level advisory lock on a
 * connection of its own, lost with that connection), else 0. Cheap enough
 * to ask once a second. Always 1 on a store that is not shared.
 */
int store_lead(struct store *s);
/*
 * Since when (Unix time) the store has been unreachable: its database did
 * not answer the last attempt to connect; 0 while it is reachable, and
 * always for a store that cannot be (LMDB). Cheap: no round trip.
 */
long long store_unreachable_since(struct store *s);
/*
 * Whether the store's commits carry file bytes (store_txn_carry()): LMDB
 * with its commit log (commitlog.h) yes, PostgreSQL no.
 */
int store_carries(const struct store *s);
/*
 * Make len bytes written at off of the file at path (absolute; dev and
 * ino identify it) durable with this write batch, in its one flush: the
 * writer carries the audit trail's new entries so that a reply waits for
 * one flush, not two (store_lmdb.c). After a crash the bytes are written
 * again into the file if it is still that file. The caller has written
 * them already; the store makes the file durable at its next checkpoint.
 * STORE_E_FULL: too many files carried since the last checkpoint (flush
 * the file yourself).
 */
int store_txn_carry(struct store_txn *txn, const char *path, uint64_t dev, uint64_t ino,
    uint64_t off, const void *bytes, size_t len);
/*
 * Make every commit durable in the store itself and empty its commit log
 * (LMDB with a log: mdb_env_sync and a new log generation; a no-op
 * elsewhere). The writer calls it when idle; it also runs when the log
 * fills and at close. No write batch may be open.
 */
int store_checkpoint(struct store *s);
/* Release what readers that died left pinned (a no-op where nothing can). */
void store_reader_check(struct store *s);
/* Whether a commit waits for the disk: yes unless turned off, which only
 * fuzzers and benchmarks of the CPU path do (durability is not under test). */
int store_set_durable(struct store *s, int durable);

/* A vault error for a store result (VAULT_E_NOT_FOUND for STORE_NOTFOUND). */
int store_error(int rc);
/* A vault error for an errno of a file operation on the store's files. */
int store_errno(int e);
/*
 * Say in the log which failure a caller only sees as a store result: text
 * is static (LMDB's or errno's message, never data). At most one line a
 * second, with a count of those left out, so a store that fails every
 * request cannot flood the log. For backends and store.c.
 */
void store_log_failure(const char *text, int code);
/* Static text for a store result, for logs. */
const char *store_strerror(int rc);

/* The id the next created record gets (after the largest ever used). */
int store_next_id(struct store_txn *txn, uint64_t *next);

#define STORE_AUDIT_MAC_BYTES 32

/*
 * The audit anchors. Each node keeps its own trail, so a shared store keeps
 * one anchor per node: meta "audit_head/<node>" (node: [server] node_name);
 * node NULL is the one-node key "audit_head" (LMDB; PostgreSQL before
 * several nodes). The value is the same: seq (u64 BE) and MAC.
 */
/* 0, VAULT_E_NOT_FOUND (none yet) or another error. */
int store_audit_anchor_get(struct store_txn *txn, const char *node, uint64_t *seq,
    uint8_t mac[STORE_AUDIT_MAC_BYTES]);
/* A store result (the caller's transaction decides). */
int store_audit_anchor_put(struct store_txn *txn, const char *node, uint64_t seq,
    const uint8_t mac[STORE_AUDIT_MAC_BYTES]);
/*
 * A shared store written by one node before anchors were per node holds
 * "audit_head": make it node's, in one write batch, if node has none yet
 * (the first node started after the upgrade takes it; it was its trail's).
 * 0 or a vault error.
 */
int store_audit_anchor_adopt(struct store *s, const char *node);
/* The anchor key's node for this store: node if the store is shared
 * (store_shared()), else NULL. */
const char *store_anchor_node(const struct store *s, const char *node);

static inline void
store_put_id(uint8_t out[8], uint64_t id)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(id >> (56 - 8 * i));
}

static inline uint64_t
store_get_id(const uint8_t in[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

#endif
