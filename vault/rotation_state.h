/*
 * rotation_state.h - key rotation as the operations see it: the progress
 * the writer publishes (struct rotation, in struct vault_services) and
 * what the store says about a rotation and a retire. Running a rotation
 * is the writer's (rotation.h); this part never calls into the server.
 */
#ifndef VAULT_ROTATION_STATE_H
#define VAULT_ROTATION_STATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct store_txn;
struct vault_services;

/*
 * The store's meta key marking a retire whose compaction has not replaced
 * data.mdb yet (value: the epoch).
 */
#define COMPACT_PENDING "compact_pending"

struct rotation {
	atomic_uint target;              /* epoch being rewrapped to; 0: none */
	atomic_uint_fast64_t cursor;     /* next record id to examine */
	atomic_uint_fast64_t examined;   /* records looked at in this rotation */
	atomic_uint_fast64_t rewrapped;  /* of which rewrapped */
	atomic_uint_fast64_t total;      /* records when it started */
	atomic_llong started;            /* Unix time */
	atomic_llong last_done;          /* Unix time the last rotation finished */
	atomic_llong next_due;           /* scheduled rotation; 0: no schedule */
	atomic_llong last_seconds;       /* how long the last rewrap took; 0: unknown */
	atomic_uint_fast64_t blocked;    /* records the last rotation left on old epochs */
	int scheduled;                   /* started by the schedule (writer only) */
	/*
	 * A rewrap step that fails (a full map, a full disk) stalls the
	 * rotation: the writer retries with backoff (ROTATION_BACKOFF_MIN_MS
	 * doubling to ROTATION_BACKOFF_MAX_MS), logs once when it stalls and
	 * once when it resumes, and keys_status and status show the stall.
	 */
	atomic_llong stalled_since;      /* Unix time; 0: not stalled */
	atomic_int stall_why;            /* enum rotation_stall */
	unsigned backoff_ms;             /* writer only */
	long long retry_at_ms;           /* CLOCK_MONOTONIC ms; writer only */
	long long seen_done;             /* last_done the tick has looked at (writer only) */
	/*
	 * [keys] backup_before_retire (rotation.h): a retire whose backup
	 * could not be written or verified is refused and changes nothing;
	 * the schedule retries it with backoff (RETIRE_BACKUP_RETRY_MIN_MS
	 * doubling to RETIRE_BACKUP_RETRY_MAX_MS), logging once when it starts
	 * failing and once when it succeeds; status, keys_status and metrics
	 * show it. A successful retire clears it.
	 */
	atomic_llong retire_backup_failed_since; /* Unix time; 0: not failing */
	atomic_uint retire_backup_epoch;         /* the epoch whose retire was refused */
	_Atomic(const char *) retire_backup_why; /* static text */
	unsigned retire_backoff_ms;              /* writer only */
	long long retire_retry_at_ms;            /* CLOCK_MONOTONIC ms; writer only */
	char retire_backup[256];                 /* the last retire's backup name (writer only) */
	/*
	 * The newest backup in backup_dir whose every record's epoch is in the
	 * ring (its trailer's time; 0: none), as the writer found it at most
	 * BACKUP_CHECK_SECONDS ago (0 in backup_checked: look again now), and
	 * whether none is younger than the rotation interval (stale: logged
	 * once each time it becomes so).
	 */
	atomic_llong newest_usable_backup;
	atomic_llong backup_checked;
	atomic_int backup_stale;
};

#define RETIRE_BACKUP_RETRY_MIN_MS 5000
#define RETIRE_BACKUP_RETRY_MAX_MS (15 * 60 * 1000)
#define BACKUP_CHECK_SECONDS 60
/* The store's meta key "retired_at:<epoch>": when that epoch was retired (u64). */
#define RETIRED_AT_PREFIX "retired_at:"

#define ROTATION_BACKOFF_MIN_MS 100
#define ROTATION_BACKOFF_MAX_MS 30000

enum rotation_stall {
	ROTATION_STALL_NONE,
	ROTATION_STALL_MAP_FULL,  /* [storage] map_size_bytes reached */
	ROTATION_STALL_DISK_FULL, /* the data directory's file system is full */
	ROTATION_STALL_STORAGE,   /* another storage error */
};

/* Why a rotation is stalled, as keys_status, status and the log say it. */
const char *rotation_stall_reason(int why);
/* A u64 in the store's meta table: 0, or a store result (STORE_NOTFOUND...). */
int rotation_meta_get(struct store_txn *txn, const char *key, uint64_t *v);
/* When epoch was retired (RETIRED_AT_PREFIX); 0: never, or before vaultd kept it. */
uint64_t rotation_retired_at(struct store_txn *txn, uint32_t epoch);
/*
 * The epoch a rotation is rewrapping to as txn sees it (0: none running).
 * The last rewrap step ends the rotation in the same transaction, so this
 * agrees with epoch_counts() over the same txn, where the writer's atomics
 * may already be ahead of the reader's snapshot.
 */
uint32_t rotation_target_in(struct vault_services *svc, struct store_txn *txn);

/* Records per epoch (scan): counts[i] for epochs[i], n of them. */
int epoch_counts(struct vault_services *svc, struct store_txn *txn, const uint32_t *epochs,
    uint64_t *counts, size_t n);

/*
 * The estimated end of the erasure horizon for a deletion completed now
 * (privacy/horizon.c): the next scheduled rotation plus the measured
 * duration of the last rewrap (or of the running one, if longer). 0: no
 * schedule, so no estimate.
 */
long long rotation_horizon_estimate(struct vault_services *svc, long long now);
/* 1 if a retire's compaction is still pending as txn sees it (its mark). */
int rotation_compaction_pending(struct vault_services *svc, struct store_txn *txn);

#endif
