/*
 * horizon.h - a completed deletion's erasure horizon, from what actually
 * happens (SECURITY.md, "Deletion and the erasure horizon").
 *
 * At completion a deletion request records the key-encryption epoch then
 * current: every deleted record's data key was wrapped under that epoch or
 * an older one, so copies of it (backups, freed pages, old file copies)
 * open with the ring until no epoch <= it remains. The horizon ends at the
 * first retire after which the ring holds none (and the compaction that
 * follows it finished): then vaultd signs an erasure-complete document for
 * the request and stores it with it. The receipt's unrecoverable_after is
 * only an estimate of that moment (rotation_horizon_estimate()).
 */
#ifndef VAULT_PRIVACY_HORIZON_H
#define VAULT_PRIVACY_HORIZON_H

#include <stdint.h>

struct write_ctx;
struct privacy_request;

/* Grace past the estimate before horizon_overdue: a tenth of the rotation
 * interval, at least this many seconds and at most an hour. */
#define HORIZON_GRACE_MIN 5

/* At completion (ctx's keys): the epoch, the ring's epochs <= it, the estimate. */
void privacy_horizon_begin(struct write_ctx *ctx, struct privacy_request *r);

/*
 * After keys_retire destroyed epoch and compacted the data file: sign and
 * store the erasure-complete document of every completed deletion whose
 * horizon this retire ended. Failures are logged; privacy_horizon_tick()
 * issues what is still owed (also after a start that finished a retire's
 * compaction), so no document is lost.
 */
void privacy_horizon_retired(struct write_ctx *ctx, uint32_t epoch);

/*
 * From the writer's tick: raise horizon_overdue, once per request, for a
 * completed deletion past its estimate (and the grace) with no erasure-
 * complete document; issue documents owed for horizons that ended with no
 * compaction pending. Looks at the requests when the next estimate is due,
 * at least every minute, and at once after a completion.
 */
void privacy_horizon_tick(struct write_ctx *ctx);

/* Make the next tick look (a deletion just completed). */
void privacy_horizon_wake(void);

#endif
