/*
 * journal.h - the deletion journal: record ids and deletion times, no
 * personal data, in a file beside the key ring.
 *
 * A backup restored later must not bring back a record deleted after the
 * backup was taken; the restore applies this journal (restore.c). The
 * writer writes a batch's deletions and flushes them while the batch
 * commits, and acknowledges them only when both are durable; at start the
 * journal is reconciled with the tombstones in the store both ways: a
 * tombstone the journal lacks is appended, and entries at its end the
 * store never kept (a crash during their commit) are cut off.
 *
 * Layout (PROTOCOL.md, "Deletion journal"): magic "VAULTDJ2", then
 * self-delimiting entries, each
 *   length   u32 BE: bytes of the body (16 today; readers take >= 16,
 *            ignore what follows the fields they know, refuse > 256)
 *   body     record id (u64 BE), deletion time (u64 BE, Unix seconds)
 *   check    16 bytes: BLAKE2b-128 of "vaultdj2" || length || body
 * An entry is valid only whole and with its check, so a short write (a full
 * disk) or a kill mid-append shows as a torn tail: bytes after the last
 * valid entry with no valid entry after them. Appends write at the end of
 * the last valid entry (not O_APPEND) and cut a failed append back, so a
 * later entry never lands after a torn one.
 *
 * The check is NOT keyed, on purpose. It guards against torn writes and
 * damaged media, not against someone who can write the file: such a
 * person could cut whole entries off the end, which no per-entry MAC sees
 * (the store's tombstones, applied by every restore too, cover that). And
 * a key would tie the journal to an epoch: entries must stay checkable
 * after the epoch current when they were written is retired (a restore
 * needs every deletion since the backup), and at a start with a sealed ring.
 *
 * Trust: a damaged entry followed by a valid one means the journal cannot
 * say which deletions it held; vaultd refuses to start on it and a restore
 * refuses it (restore never resurrects). An earlier format ("VAULTDJ1") is
 * refused the same way, with how to rebuild it from the store's tombstones.
 */
#ifndef VAULT_JOURNAL_H
#define VAULT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;

#define JOURNAL_MAGIC "VAULTDJ2"
#define JOURNAL_MAGIC_V1 "VAULTDJ1"
#define JOURNAL_HEADER 8
#define JOURNAL_BODY 16
#define JOURNAL_BODY_MAX 256
#define JOURNAL_CHECK 16
#define JOURNAL_ENTRY (4 + JOURNAL_BODY + JOURNAL_CHECK)

struct journal_entry {
	uint64_t id;
	uint64_t time;
};

struct journal {
	int fd;
	off_t end;  /* end of the last valid entry: where the next one goes */
	int dirty;  /* a failed append could not be cut back */
	off_t pending; /* journal_write: end of entries not yet flushed; 0: none */
	int unsynced;  /* journal_keep: entries kept before end, not yet flushed */
};

enum journal_state {
	JOURNAL_OK,        /* every byte is in a valid entry */
	JOURNAL_TORN,      /* valid entries, then a torn tail (tail_bytes) */
	JOURNAL_MISSING,   /* no file */
	JOURNAL_OLD,       /* the earlier format, VAULTDJ1 */
	JOURNAL_NOT,       /* not a deletion journal (wrong magic, too short) */
	JOURNAL_DAMAGED,   /* a damaged entry with a valid one after it */
	JOURNAL_IO,        /* unreadable */
};

struct journal_scan {
	enum journal_state state;
	off_t valid_end;   /* end of the last valid entry before any damage */
	off_t bad_at;      /* offset of the first damaged entry, or -1 */
	off_t size;        /* file size */
	size_t tail_bytes; /* JOURNAL_TORN: bytes after valid_end */
};

/* Open (creating, mode 0600), cut a torn tail off (logged) and reconcile
 * with the store's tombstones; refuses a damaged or old-format journal. */
int journal_open(struct journal *j, const char *path, struct store *s);
void journal_close(struct journal *j);
/* Append entries and flush them to disk; on failure nothing is left of
 * them in the file (or, if that fails too, the next append cuts it). */
int journal_append(struct journal *j, const struct journal_entry *e, size_t n);
/*
 * journal_append in two steps, for the writer's group commit, which flushes
 * them while the store commits (writer_flush.h): journal_write() writes the
 * entries after the last flushed one without flushing; journal_flush()
 * makes them durable (0, or VAULT_E_IO with them cut back);
 * journal_cancel() cuts them back durably (the store's commit failed, so
 * the deletions did not happen). journal_open() cuts off entries left at
 * the end by a crash during such a commit when the store lacks them.
 */
int journal_write(struct journal *j, const struct journal_entry *e, size_t n);
int journal_flush(struct journal *j);
void journal_cancel(struct journal *j);
/*
 * Keep the entries of the last journal_write() without flushing them
 * (their batch committed; the next journal_flush() makes them durable).
 * The writer does this when the store's commit log made the batch durable:
 * should a crash lose the entries, journal_open() adds them back from the
 * tombstones, as for any deletion whose entry did not reach the disk.
 */
void journal_keep(struct journal *j);
/*
 * Read a journal file whole: *out sorted by id (free it), sc says what was
 * found. Returns 0 for JOURNAL_OK, JOURNAL_TORN and JOURNAL_MISSING (with
 * the valid entries), else VAULT_E_CONFIG (old or not a journal),
 * VAULT_E_STORAGE (damaged) or VAULT_E_IO / VAULT_E_NOMEM.
 */
int journal_read(const char *path, struct journal_entry **out, size_t *n,
    struct journal_scan *sc);
/* One line for a state (no personal data). */
const char *journal_state_text(enum journal_state st);
/* Encode one entry into JOURNAL_ENTRY bytes (tests build journals with it). */
void journal_encode(const struct journal_entry *e, uint8_t out[JOURNAL_ENTRY]);

#endif
