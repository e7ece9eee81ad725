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
 *   magic "VAULTBK1", data_size u64, records u64, created u64 (Unix s),
 *   nepochs u32, nepochs x u32 (the KEK epochs the records' data keys are
 *   wrapped with, ascending), data hash (BLAKE2b-256 of the copy),
 *   trailer hash (BLAKE2b-256 of the trailer from its magic up to here),
 *   trailer length u32 (from its magic through the trailer hash),
 *   end magic "VAULTBKE".
 * The hashes are not keyed: they tell a complete backup from a torn or
 * damaged one, and a backup is taken while the ring may be sealed (the
 * backup operation needs no keys). The records inside carry their own
 * MACs (record_codec.h).
 */
#ifndef VAULT_BACKUPFILE_H
#define VAULT_BACKUPFILE_H

#include <stdint.h>

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
	uint32_t nepochs;
	uint32_t epochs[BACKUP_MAX_EPOCHS];
	uint8_t hash[BACKUP_HASH_BYTES];
};

/* BLAKE2b-256 of the first n bytes of fd. */
int backupfile_hash(int fd, uint64_t n, uint8_t out[BACKUP_HASH_BYTES]);
/*
 * Open the LMDB file at path read-only (no lock file, nothing written) and
 * count its records and the KEK epochs they use into bi. Returns 0 or
 * VAULT_E_STORAGE (*why says what, static).
 */
int backupfile_scan(const char *path, struct backup_info *bi, const char **why);
/* Write bi's trailer at offset bi->data_size of fd. */
int backupfile_trailer_write(int fd, const struct backup_info *bi);
/*
 * Check the backup at path before anything uses it: a trailer that checks,
 * the size it gives, the copy's hash, and LMDB opening the copy read-only
 * with the record count the trailer gives. Returns 0 (bi filled),
 * VAULT_E_IO (unreadable) or VAULT_E_STORAGE (*why says what, static).
 */
int backupfile_verify(const char *path, struct backup_info *bi, const char **why);

/* At start: remove temporaries of interrupted backups in backup_dir
 * (logged). DATA_DIR/restore/ is removed with the other leftovers (main.c). */
void backupfile_cleanup_partials(const struct config *cfg);

/* After a retire: remove the pre-restore files (they hold data keys
 * wrapped with the retired epoch). Returns how many were removed. */
int backupfile_drop_pre_restore(const struct config *cfg);

#endif
