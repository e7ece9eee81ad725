/*
 * rotation.h - key rotation, retirement and compaction, run by the writer
 * (the server's layer; operations start them through struct vault_control
 * and read their progress through rotation_state.h).
 *
 * rotate:  a new key-encryption key epoch becomes current (new records are
 *          wrapped with it at once); a background job in the writer then
 *          rewraps every record's data key to it, a bounded batch per
 *          transaction between client batches, with its cursor stored in
 *          the same transactions, so it resumes after a crash.
 * retire:  once no record's data key is wrapped with an epoch, the store
 *          marks a compaction as pending, its key is removed from the ring
 *          file and from memory, and the data file is replaced by a
 *          compacted copy, so freed pages holding old wrapped keys are gone
 *          too; a crash in between is finished at the next start.
 * schedule: every rotation_interval_seconds the writer rotates and, when
 *          the rewrap is done, retires every older epoch: that interval
 *          (plus the rewrap time) is the erasure horizon (SECURITY.md).
 *          The schedule lives in meta, written in the rotation's own
 *          transactions: "rot_sched" (1: the running or just finished
 *          rotation was started by the schedule, so its retire is still
 *          owed), "rot_due" (next due, Unix seconds), "rot_started" and
 *          "rot_seconds" (the last rewrap's duration). A restart at any
 *          point still retires by itself once the rewrap is done.
 */
#ifndef VAULT_ROTATION_H
#define VAULT_ROTATION_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "vault/rotation_state.h"
#include "vault/store/store.h"
#include "keys/keyring.h"

struct server;
struct write_ctx;

/*
 * Milliseconds until the writer should run a stalled rotation's next step
 * (0: now, or not stalled). Writer only.
 */
long long rotation_wait_ms(struct server *srv);
/* Space may have been freed (records deleted): retry a stalled rewrap now. */
void rotation_nudge(struct server *srv);

/*
 * The functions taking a write_ctx use ctx->keys, which the writer pins
 * for its round (keyset.h); keys_rotate and keys_retire publish a new set
 * and leave it (pinned) in ctx->keys.
 */

/* At writer start: pick up an unfinished rotation from the store. */
int rotation_resume(struct server *srv);
/* Rewrap up to [keys] rotation_batch records. *active is 0 once nothing is left. */
int rotation_step(struct write_ctx *ctx, int *active);
/* The schedule: start a rotation or retire old epochs when due. */
void rotation_tick(struct write_ctx *ctx);

/* New current key of a kind; for KEYRING_KEK also starts the rewrap. */
int keys_rotate(struct write_ctx *ctx, enum keyring_kind kind,
    uint32_t *version, const char **why);
/*
 * Retire a key-encryption key epoch: refused (VAULT_E_CONFLICT, with the
 * count in *remaining) while records still depend on it; then the store
 * commits a "compaction pending" mark, the ring drops the epoch (saved, then
 * published) and the data file is compacted (sizes in *before, *after),
 * which clears the mark. A crash or a failed compaction after the ring was
 * saved leaves the mark, and the next start compacts before serving.
 */
int keys_retire(struct write_ctx *ctx, uint32_t epoch, uint64_t *remaining,
    uint64_t *before, uint64_t *after, const char **why);

/*
 * Replace the data file with a compacted copy while the service runs. The
 * copy is written to data.mdb.compact.<random hex> (common/tmpfile.h),
 * synced, cleared of the retire's "compaction pending" mark (in the copy,
 * so the mark stays in data.mdb until the rename replaces it), then
 * renamed over data.mdb and the directory synced. A crash leaves at most
 * the temporary, removed at the next start.
 */
int store_compact(struct server *srv, uint64_t *before, uint64_t *after);
/*
 * At start, before anything is served (no workers, the store open): if a
 * retire marked a compaction that never replaced data.mdb (a crash or a
 * failed compaction after the epoch's key was destroyed), compact now and
 * log it. 0 if nothing was pending or the compaction is done.
 */
int store_compact_pending(struct server *srv);

#endif
