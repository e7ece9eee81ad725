/*
 * restore.h - bringing a backup back (offline: vaultd must be stopped).
 */
#ifndef VAULT_RESTORE_H
#define VAULT_RESTORE_H

#include "backupfile.h"

struct server;

/*
 * Replace the data file with the backup at path. Nothing is touched until
 * the backup checks against its trailer (backupfile.h), the deletion
 * journal can be trusted (journal.h) and the live data file, if any,
 * opens; any failure leaves the live data as it was and no DATA_DIR/restore/.
 * Then, record by record:
 *   - a record deleted since (the journal, the live store's tombstones, the
 *     backup's own) stays deleted: never resurrected;
 *   - the backup's copy is restored when it can be read (its epoch is in
 *     the ring and it passes its MAC), or when the live record has the same
 *     data key under a live epoch (the live wrapped key is taken);
 *   - otherwise, if the live store can read the record (a new data key
 *     since, `keys rotate-record`), the live record is taken whole, with
 *     its documents and index entries: a restore never deletes a record the
 *     live store can read;
 *   - records only the live store has (created since the backup) are kept;
 *   - a record neither copy can read is beyond the erasure horizon and is
 *     deleted;
 *   - record ids continue after the largest the live store handed out, so
 *     no token issued since the backup ever names another record.
 * Before anything is touched it prints how many of the backup's records the
 * current ring can decrypt, how many only with the live store's data keys
 * and how many not at all, and refuses (VAULT_E_BACKUP) a backup with
 * records of which none can be restored, unless force.
 * It prints a count per category. The live data file is kept beside it as
 * DATA_DIR/PRE_RESTORE<time> until the next successful `keys retire`,
 * which removes it (backupfile_drop_pre_restore()).
 */
int restore_backup(struct server *srv, const char *path, int force);

#endif
