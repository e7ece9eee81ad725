/*
 * restore.h - bringing a backup back (offline: vaultd must be stopped).
 */
#ifndef VAULT_RESTORE_H
#define VAULT_RESTORE_H

struct server;

/*
 * Replace the data file with the backup at path, keeping what the backup
 * must not bring back out of it:
 *   - every record deleted since (the deletion journal and the live
 *     store's tombstones) is deleted again, and its tombstone kept;
 *   - a record whose data key is wrapped with an epoch no longer in the key
 *     ring takes its wrapped key from the live store if the live record
 *     has the same data key; otherwise it is beyond the erasure horizon
 *     and is deleted (it cannot be read by anyone);
 *   - record ids continue after the largest the live store handed out, so
 *     no token issued since the backup ever names another record.
 * The live data file is kept beside it as data.mdb.pre-restore-<time>.
 * srv holds the configuration and the unsealed keys; prints a summary.
 */
int restore_backup(struct server *srv, const char *path);

#endif
