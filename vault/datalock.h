/*
 * datalock.h - one vaultd per data directory.
 *
 * LMDB lets several processes open one environment, so a second vaultd
 * started on the same data directory (with another socket) would run
 * beside the first: two writers' group commits, two audit trails chained
 * from the same head, a deletion journal written twice. Before it opens
 * anything, vaultd (and `vaultd --restore`) takes an exclusive flock(2) on
 * DATA_DIR/vaultd.lock and keeps it for its whole life; the kernel drops it
 * when the process ends however it ends (kill -9 included), so a stale lock
 * file never blocks a restart. The file holds the holder's pid, for the
 * message of the one refused.
 */
#ifndef VAULT_DATALOCK_H
#define VAULT_DATALOCK_H

#include <stddef.h>

#define DATALOCK_FILE "vaultd.lock"

/*
 * Lock data_dir. Returns the lock's descriptor (keep it open: closing it
 * releases the lock), or -1 with a reason in err: VAULT_E_BUSY's case ("in
 * use by vaultd pid N") or an I/O error.
 */
int datalock_acquire(const char *data_dir, char *err, size_t errlen);

#endif
