/*
 * journal.h - the deletion journal: record ids and deletion times, no
 * personal data, in a file beside the key ring.
 *
 * A backup restored later must not bring back a record deleted after the
 * backup was taken; the restore applies this journal (restore.c). The
 * writer appends a batch's deletions right after the batch commits and
 * before acknowledging them; at start the journal is reconciled with the
 * tombstones in the store, so a crash between commit and append loses
 * nothing.
 *
 * Layout: magic "VAULTDJ1", then 16-byte entries: record id (u64 BE),
 * deletion time (u64 BE, Unix seconds).
 */
#ifndef VAULT_JOURNAL_H
#define VAULT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

struct store;

struct journal_entry {
	uint64_t id;
	uint64_t time;
};

struct journal {
	int fd;
};

/* Open (creating, mode 0600) and reconcile with the store's tombstones. */
int journal_open(struct journal *j, const char *path, struct store *s);
void journal_close(struct journal *j);
/* Append entries and flush them to disk. */
int journal_append(struct journal *j, const struct journal_entry *e, size_t n);
/* Read a journal file whole: *out sorted by id (free it). */
int journal_read(const char *path, struct journal_entry **out, size_t *n);

#endif
