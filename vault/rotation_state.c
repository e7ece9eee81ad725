/*
 * rotation_state.c - what the store and the writer's published progress say
 * about key rotation (see rotation_state.h).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <vault/vault.h>

#include "rotation_state.h"
#include "services.h"
#include "store/record_codec.h"
#include "store/store.h"

int
rotation_meta_get(struct store_txn *txn, const char *key, uint64_t *v)
{
	struct store_val k = { strlen(key), (void *)key }, val;
	int rc = store_get(txn, STORE_META, &k, &val);
	if (rc != 0)
		return rc;
	if (val.len != 8)
		return STORE_E_CORRUPT;
	*v = store_get_id(val.data);
	return 0;
}

uint64_t
rotation_retired_at(struct store_txn *txn, uint32_t epoch)
{
	char key[32];
	uint64_t when = 0;
	snprintf(key, sizeof(key), RETIRED_AT_PREFIX "%u", epoch);
	return rotation_meta_get(txn, key, &when) == 0 ? when : 0;
}

uint32_t
rotation_target_in(struct vault_services *svc, struct store_txn *txn)
{
	uint64_t target = 0;
	if (rotation_meta_get(txn, "rot_target", &target) != 0 || target > UINT32_MAX)
		return 0;
	return (uint32_t)target;
}

int
epoch_counts(struct vault_services *svc, struct store_txn *txn, const uint32_t *epochs,
    uint64_t *counts, size_t n)
{
	struct store_cursor *cur;
	struct store_val k, v;
	int rc = store_cursor_open(txn, STORE_RECORDS, &cur);
	if (rc != 0)
		return store_error(rc);
	memset(counts, 0, n * sizeof(*counts));
	for (rc = store_cursor_get(cur, &k, &v, STORE_FIRST); rc == 0;
	    rc = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
		uint32_t e = record_stored_epoch(v.data, v.len);
		for (size_t i = 0; i < n; i++)
			if (epochs[i] == e)
				counts[i]++;
	}
	store_cursor_close(cur);
	return rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

int
rotation_compaction_pending(struct vault_services *svc, struct store_txn *txn)
{
	uint64_t epoch;
	return rotation_meta_get(txn, COMPACT_PENDING, &epoch) != STORE_NOTFOUND;
}

long long
rotation_horizon_estimate(struct vault_services *svc, long long now)
{
	const struct rotation *rot = &svc->rotation;
	long long due = atomic_load(&rot->next_due), secs = atomic_load(&rot->last_seconds);
	if (svc->cfg.rotation_interval_seconds == 0 || due == 0)
		return 0;
	if (atomic_load(&rot->target) != 0) {
		long long running = now - atomic_load(&rot->started);
		if (running > secs)
			secs = running;
	}
	/* A due time already past means the rotation starts at the next tick. */
	return (due > now ? due : now) + (secs > 0 ? secs : 0);
}

const char *
rotation_stall_reason(int why)
{
	switch (why) {
	case ROTATION_STALL_MAP_FULL:
		return "the data file's map is full: raise [storage] map_size_bytes "
		    "and restart (or delete records)";
	case ROTATION_STALL_DISK_FULL:
		return "the data directory's file system is full: free space there";
	case ROTATION_STALL_STORAGE:
		return "the store refused the rewrap (storage error; see the log)";
	default:
		return "";
	}
}
