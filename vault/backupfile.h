/*
 * backupfile.h - the backup file: a compacted LMDB copy of the data file
 * followed by a trailer that says what a complete copy is (PROTOCOL.md,
 * "Backup file").
 *
 * The trailer is appended to the copy rather than kept in a sidecar
 * NAME.manifest: one file, written under a temporary name and renamed
 * once, is either complete under its final name or absent; a pair of files
 * can be split by a kill between two renames, or by an operator copying
 * one of them off-site. LMDB reads the copy with the trailer after it
 * (pages past the last one are never looked at), and the restore copies
 * only the first data_size bytes.
 *
 * Layout, big-endian, after the data_size bytes of the LMDB copy:
 *   magic "VAULTBK1" or "VAULTBK2" (the trailer's version), data_size u64,
 *   records u64, created u64 (Unix s), nepochs u32, then
 *     version 1: nepochs x u32 (the KEK epochs the records' data keys are
 *                wrapped with, ascending);
 *     version 2: nepochs x (u32 epoch, u64 records wrapped with it),
 *                ascending, then for_retire u32 (the epoch whose retire
 *                took the backup, backup_before_retire; 0: by hand);
 *   data hash (BLAKE2b-256 of the copy), trailer hash (BLAKE2b-256 of the
 *   trailer from its magic up to here), trailer length u32 (from its magic
 *   through the trailer hash), end magic "VAULTBKE".
 * vaultd writes version 2 and reads both (a version 1 trailer gives no
 * per-epoch counts: records_known is 0).
 * The hashes are not keyed: they tell a complete backup from a torn or
 * damaged one, and a backup is taken while the ring may be sealed (the
 * backup operation needs no keys). The records inside carry their own
 * MACs (record_codec.h).
 */
#ifndef VAULT_BACKUPFILE_H
#define VAULT_BACKUPFILE_H

#include <stddef.h>
#include <stdint.h>

struct store;

struct config;

/* What a backup's temporary name holds after ".NAME" (ops/backup.c). */
#define BACKUP_PARTIAL ".partial-"
/* The live data file kept aside by a restore: DATA_DIR/PRE_RESTORE<time>. */
#define PRE_RESTORE "data.mdb.pre-restore-"

#define BACKUP_MAX_EPOCHS 1024
#define BACKUP_HASH_BYTES 32

struct backup_info {
	uint64_t data_size;
	uint64_t records;
	uint64_t created;
	uint32_t version;      /* the trailer's: 1 or 2 */
	uint32_t for_retire;   /* version 2: the retire that took it; 0: by hand */
	int records_known;     /* counts[] holds per-epoch record counts */
	uint32_t nepochs;
	uint32_t epochs[BACKUP_MAX_EPOCHS];
	uint64_t counts[BACKUP_MAX_EPOCHS];
	uint8_t hash[BACKUP_HASH_BYTES];
};

struct keyring;

/*
 * What a backup is worth with ring: records whose epoch is in the ring
 * (*usable) and those whose epoch is not (*lost; with a version 1 trailer,
 * every record of a backup that needs a missing epoch counts as lost).
 * *gone: the largest needed epoch missing from the ring (0: none).
 */
void backupfile_usable(const struct backup_info *bi, const struct keyring *ring,
    uint64_t *usable, uint64_t *lost, uint32_t *gone);

/* BLAKE2b-256 of the first n bytes of fd. */
int backupfile_hash(int fd, uint64_t n, uint8_t out[BACKUP_HASH_BYTES]);
/*
 * Open the LMDB file at path read-only (no lock file, nothing written) and
 * count its records and the KEK epochs they use into bi. Returns 0 or
 * VAULT_E_STORAGE (*why says what, static).
 */
int backupfile_scan(const char *path, struct backup_info *bi, const char **why);
/* Write bi's trailer (version 2) at offset bi->data_size of fd. */
int backupfile_trailer_write(int fd, const struct backup_info *bi);
/*
 * Read and check the trailer of the backup at path only (its own hash and
 * the file's size; not the copy's hash nor LMDB): cheap enough for every
 * listing. Returns 0 (bi filled), VAULT_E_IO or VAULT_E_STORAGE (*why).
 */
int backupfile_trailer_read(const char *path, struct backup_info *bi, const char **why);
/*
 * Check the backup at path before anything uses it: a trailer that checks,
 * the size it gives, the copy's hash, and LMDB opening the copy read-only
 * with the record count the trailer gives. Returns 0 (bi filled),
 * VAULT_E_IO (unreadable) or VAULT_E_STORAGE (*why says what, static).
 */
int backupfile_verify(const char *path, struct backup_info *bi, const char **why);

/*
 * Write a backup of store into cfg->backup_dir as name (created 0700 if
 * missing; it must be vaultd's, mode 0700, on a safe path), under a
 * temporary name renamed once complete (never replacing a file), with its
 * trailer. for_retire goes into the trailer. On success path (cap bytes)
 * names it, *bytes is its size and bi (may be NULL) its trailer.
 * Errors: VAULT_E_INVALID_VALUE (name), VAULT_E_CONFLICT (name taken),
 * VAULT_E_CONFIG (the directory), VAULT_E_IO, VAULT_E_NO_SPACE, VAULT_E_NOMEM;
 * *why says what (static). Nothing is left behind on failure.
 */
int backupfile_take(struct store *store, const struct config *cfg, const char *name,
    size_t len, uint32_t for_retire, char *path, size_t cap, uint64_t *bytes,
    struct backup_info *bi, const char **why);

/* One file of backup_dir as backupfile_list() found it. */
struct backup_entry {
	char name[256];
	uint64_t bytes;
	int ok;                /* the trailer checks; else why says what is wrong */
	const char *why;
	struct backup_info *bi; /* malloc'd; NULL unless ok */
};
/*
 * Every regular file of cfg->backup_dir not starting with a dot, newest
 * first (by the trailer's time; bad ones last), trailers only. *out is
 * malloc'd (free with backupfile_list_free); a missing directory is an
 * empty list. Returns 0 or VAULT_E_NOMEM / VAULT_E_IO.
 */
int backupfile_list(const struct config *cfg, struct backup_entry **out, size_t *n);
void backupfile_list_free(struct backup_entry *e, size_t n);

/* At start: remove temporaries of interrupted backups in backup_dir
 * (logged). DATA_DIR/restore/ is removed with the other leftovers (main.c). */
void backupfile_cleanup_partials(const struct config *cfg);

/* After a retire: remove the pre-restore files (they hold data keys
 * wrapped with the retired epoch). Returns how many were removed. */
int backupfile_drop_pre_restore(const struct config *cfg);

#endif
