/*
 * keys_status.c - "keys_status" (admin): the key ring's epochs and
 * versions, how many data keys each epoch wraps and how many deterministic
 * index entries it keys, rotation progress (and a stall: since when, why)
 * and the schedule. Never key material.
 */
#include <stdlib.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/rotation.h"
#include "vault/server.h"
#include "issue.h"
#include "op.h"

static const char *const args[] = { NULL };

static void
pack_versions(msgpack_packer *pk, const struct keyring *ring, enum keyring_kind kind,
    const uint64_t *counts, const uint64_t *det)
{
	size_t n = keyring_count(ring, kind);
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "current");
	msgpack_pack_uint32(pk, keyring_current(ring, kind));
	mp_cstr(pk, "versions");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		uint32_t v = keyring_version_at(ring, kind, i);
		msgpack_pack_map(pk, counts ? 4 : 2);
		mp_cstr(pk, "version");
		msgpack_pack_uint32(pk, v);
		mp_cstr(pk, "created");
		msgpack_pack_uint64(pk, keyring_key_created(ring, kind, v));
		if (counts) {
			mp_cstr(pk, "records");
			msgpack_pack_uint64(pk, counts[i]);
			/* Deterministic index entries keyed by this epoch: their
			 * tokens stop resolving when it is retired. */
			mp_cstr(pk, "det_entries");
			msgpack_pack_uint64(pk, det[i]);
		}
	}
}

static int
keys_status(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct server *srv = ctx->srv;
	const struct keyring *ring = ctx->keys->ring;
	const struct rotation *rot = &srv->writer.rotation;
	size_t n = keyring_count(ring, KEYRING_KEK);
	uint32_t epochs[KEYRING_MAX_KEYS];
	uint64_t *counts = calloc(n ? 2 * n : 1, sizeof(*counts)), *det = counts + n;
	if (counts == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		epochs[i] = keyring_version_at(ring, KEYRING_KEK, i);
	/*
	 * The scan takes a while on a large store; the key set stays pinned
	 * meanwhile (the ring is packed below), which delays a rotation's
	 * publication by as much.
	 */
	int rc = epoch_counts(srv, ctx->txn, epochs, counts, n);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = tokens_det_count(ctx->txn, srv->store.det_index, epochs[i], &det[i]);
	if (rc != 0) {
		free(counts);
		return op_fail(err, rc, NULL, NULL);
	}
	msgpack_pack_map(pk, 5);
	mp_cstr(pk, "kek");
	pack_versions(pk, ring, KEYRING_KEK, counts, det);
	mp_cstr(pk, "token");
	pack_versions(pk, ring, KEYRING_TOKEN, NULL, NULL);
	mp_cstr(pk, "index");
	pack_versions(pk, ring, KEYRING_INDEX, NULL, NULL);
	free(counts);

	mp_cstr(pk, "rotation");
	/* From the snapshot the counts come from, not the writer's atomics:
	 * "done" must never come with counts from before the last step. */
	uint32_t target = rotation_target_in(srv, ctx->txn);
	if (target != 0 && keyring_key(ring, KEYRING_KEK, target) == NULL)
		target = 0; /* marked, but the epoch never made it into the ring */
	msgpack_pack_map(pk, 8);
	mp_cstr(pk, "active");
	if (target)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	mp_cstr(pk, "target_epoch");
	msgpack_pack_uint32(pk, target);
	/* Records created during the rewrap are examined too: cap at total. */
	uint64_t examined = atomic_load(&rot->examined), total = atomic_load(&rot->total);
	mp_cstr(pk, "examined");
	msgpack_pack_uint64(pk, examined < total ? examined : total);
	mp_cstr(pk, "rewrapped");
	msgpack_pack_uint64(pk, atomic_load(&rot->rewrapped));
	mp_cstr(pk, "total");
	msgpack_pack_uint64(pk, atomic_load(&rot->total));
	mp_cstr(pk, "started");
	msgpack_pack_int64(pk, atomic_load(&rot->started));
	/* A stalled rewrap (rotation.h): since when (0: not stalled) and why. */
	long long stalled = target ? atomic_load(&rot->stalled_since) : 0;
	mp_cstr(pk, "stalled_since");
	msgpack_pack_int64(pk, stalled);
	mp_cstr(pk, "stall_reason");
	if (stalled)
		mp_cstr(pk, rotation_stall_reason(atomic_load(&rot->stall_why)));
	else
		msgpack_pack_nil(pk);

	mp_cstr(pk, "schedule");
	msgpack_pack_map(pk, 3);
	mp_cstr(pk, "interval_seconds");
	msgpack_pack_uint32(pk, srv->cfg.rotation_interval_seconds);
	mp_cstr(pk, "next_due");
	msgpack_pack_int64(pk, atomic_load(&rot->next_due));
	mp_cstr(pk, "last_done");
	msgpack_pack_int64(pk, atomic_load(&rot->last_done));
	return 0;
}

const struct op op_keys_status = {
	.name = "keys_status",
	.kind = OP_READ,
	.admin = 1,
	.args = args,
	.read = keys_status,
};
