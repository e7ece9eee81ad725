/*
 * keys_status.c - "keys_status" (admin): the key ring's epochs and
 * versions, how many data keys each epoch wraps and how many deterministic
 * index entries it keys, rotation progress (and a stall: since when, why),
 * the schedule and the records that block retiring an epoch. Never key
 * material.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/msg.h"
#include "vault/backupfile.h"
#include "keys/keyring.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/record/access.h"
#include "vault/record/tokens.h"
#include "vault/rotation_state.h"
#include "vault/services.h"
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

/* Blockers named in one reply at most; "records" counts them all. */
#define BLOCKERS_LISTED 32

/*
 * "retire_blockers": with no rotation running, every record still on an
 * epoch other than the current one keeps that epoch from being retired
 * (the last rotation could not rewrap it: damaged, or failing for another
 * reason). Named by record token, with the command that resolves it. While
 * a rotation runs, old-epoch records are only waiting for it: none listed.
 */
struct blockers {
	uint64_t records;          /* on old epochs, all of them */
	size_t n;                  /* listed */
	uint32_t epoch[BLOCKERS_LISTED];
	uint8_t damaged[BLOCKERS_LISTED]; /* fails its MAC: no new key can open it */
	char token[BLOCKERS_LISTED][TOKEN_MAX_LEN + 1];
};

/* Find them before anything is packed: the reply cannot fail half-way. */
static int
find_blockers(struct read_ctx *ctx, uint32_t current, struct blockers *b)
{
	struct store_cursor *cur;
	struct store_val k, v;
	int rc;

	b->n = 0;
	if (b->records == 0)
		return 0;
	if ((rc = store_cursor_open(ctx->txn, STORE_RECORDS, &cur)) != 0)
		return store_error(rc);
	for (rc = store_cursor_get(cur, &k, &v, STORE_FIRST); rc == 0 && b->n < BLOCKERS_LISTED;
	    rc = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len != 8 || v.len < RECORD_EPOCH_OFFSET + 4)
			continue;
		uint32_t e = record_stored_epoch(v.data, v.len);
		if (e == current)
			continue;
		if (token_record_make(ctx->keys->tokens, store_get_id(k.data),
		    b->token[b->n]) != 0)
			continue;
		/* Checked without raising record_tampered (svc NULL): the rewrap
		 * raised it already, and a status look is no new evidence. */
		b->damaged[b->n] = record_check(NULL, ctx->keys, store_get_id(k.data),
		    v.data, v.len) != 0;
		b->epoch[b->n++] = e;
	}
	store_cursor_close(cur);
	return rc == 0 || rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

static void
pack_blockers(struct read_ctx *ctx, msgpack_packer *pk, const struct blockers *b)
{
	mp_cstr(pk, "retire_blockers");
	msgpack_pack_map(pk, 3);
	mp_cstr(pk, "records");
	msgpack_pack_uint64(pk, b->records);
	mp_cstr(pk, "after_last_rotation");
	msgpack_pack_uint64(pk, atomic_load(&ctx->svc->rotation.blocked));
	mp_cstr(pk, "listed");
	msgpack_pack_array(pk, (uint32_t)b->n);
	for (size_t i = 0; i < b->n; i++) {
		char cmd[TOKEN_MAX_LEN + 256];
		msgpack_pack_map(pk, 4);
		mp_cstr(pk, "record");
		mp_cstr(pk, b->token[i]);
		mp_cstr(pk, "epoch");
		msgpack_pack_uint32(pk, b->epoch[i]);
		mp_cstr(pk, "damaged");
		b->damaged[i] ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		/* Intact: a new data key under the current epoch. Damaged: nothing
		 * opens it, and delete refuses it (its hold flag cannot be trusted):
		 * put it back from a backup, or erase it by a privacy request. */
		if (b->damaged[i])
			snprintf(cmd, sizeof(cmd), "the record fails its authentication (changed "
			    "outside the service): put it back from a backup (vaultd --restore), or "
			    "erase it with a privacy deletion request; vaultctl delete %s refuses it",
			    b->token[i]);
		else
			snprintf(cmd, sizeof(cmd), "vaultctl keys rotate-record %s", b->token[i]);
		mp_cstr(pk, "resolve");
		mp_cstr(pk, cmd);
	}
}

/*
 * "backups": every file of backup_dir by its trailer (backupfile.h), newest
 * first, and what each is worth with the ring as it is: usable (every
 * record's epoch is in the ring), partial, unusable (since the retire of
 * the epoch it lacks, at the time the store recorded), damaged; the newest
 * usable one; whether none is younger than the rotation interval; a
 * retire refused for its backup. vaultctl backup list prints it.
 */
static int
pack_backups(struct read_ctx *ctx, msgpack_packer *pk)
{
	struct vault_services *svc = ctx->svc;
	const struct rotation *rot = &svc->rotation;
	struct backup_entry *e = NULL;
	size_t n = 0, newest = SIZE_MAX;
	int lmdb = svc->cfg.storage_backend != CONFIG_BACKEND_POSTGRESQL;
	if (lmdb && backupfile_list(&svc->cfg, &e, &n) != 0)
		n = 0;
	mp_cstr(pk, "backups");
	msgpack_pack_map(pk, 10);
	mp_cstr(pk, "applies");
	lmdb ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "dir");
	mp_cstr(pk, svc->cfg.backup_dir);
	mp_cstr(pk, "before_retire");
	svc->cfg.backup_before_retire && lmdb ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_cstr(pk, "retire_refused_since");
	msgpack_pack_int64(pk, atomic_load(&rot->retire_backup_failed_since));
	mp_cstr(pk, "retire_refused_epoch");
	msgpack_pack_uint32(pk, atomic_load(&rot->retire_backup_failed_since) ?
	    atomic_load(&rot->retire_backup_epoch) : 0);
	mp_cstr(pk, "retire_refused_reason");
	const char *why = atomic_load(&rot->retire_backup_why);
	if (atomic_load(&rot->retire_backup_failed_since) && why != NULL)
		mp_cstr(pk, why);
	else
		msgpack_pack_nil(pk);
	mp_cstr(pk, "list");
	msgpack_pack_array(pk, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		const struct backup_info *bi = e[i].bi;
		uint64_t usable = 0, lost = 0, since = 0;
		uint32_t gone = 0;
		msgpack_pack_map(pk, e[i].ok ? 13 : 4);
		mp_cstr(pk, "name");
		mp_cstr(pk, e[i].name);
		mp_cstr(pk, "bytes");
		msgpack_pack_uint64(pk, e[i].bytes);
		if (!e[i].ok) {
			mp_cstr(pk, "state");
			mp_cstr(pk, "damaged");
			mp_cstr(pk, "problem");
			mp_cstr(pk, e[i].why ? e[i].why : "unreadable");
			continue;
		}
		backupfile_usable(bi, ctx->keys->ring, &usable, &lost, &gone);
		if (gone != 0)
			since = rotation_retired_at(ctx->txn, gone);
		if (lost == 0 && newest == SIZE_MAX)
			newest = i;
		mp_cstr(pk, "state");
		mp_cstr(pk, lost == 0 ? "usable" : usable == 0 ? "unusable" : "partial");
		mp_cstr(pk, "created");
		msgpack_pack_uint64(pk, bi->created);
		mp_cstr(pk, "records");
		msgpack_pack_uint64(pk, bi->records);
		mp_cstr(pk, "usable_records");
		msgpack_pack_uint64(pk, usable);
		mp_cstr(pk, "lost_records");
		msgpack_pack_uint64(pk, lost);
		/* The retire that made it (partly) unusable: the newest epoch it
		 * needs that the ring lacks, and when (0: not recorded). */
		mp_cstr(pk, "retired_epoch");
		msgpack_pack_uint32(pk, gone);
		mp_cstr(pk, "unusable_since");
		msgpack_pack_uint64(pk, since);
		mp_cstr(pk, "epochs");
		msgpack_pack_array(pk, bi->nepochs);
		for (uint32_t j = 0; j < bi->nepochs; j++)
			msgpack_pack_uint32(pk, bi->epochs[j]);
		mp_cstr(pk, "epoch_records");
		if (bi->records_known) {
			msgpack_pack_array(pk, bi->nepochs);
			for (uint32_t j = 0; j < bi->nepochs; j++)
				msgpack_pack_uint64(pk, bi->counts[j]);
		} else {
			msgpack_pack_nil(pk);
		}
		mp_cstr(pk, "for_retire");
		msgpack_pack_uint32(pk, bi->for_retire);
		mp_cstr(pk, "format");
		msgpack_pack_uint32(pk, bi->version);
	}
	unsigned interval = svc->cfg.rotation_interval_seconds;
	long long ncreated = newest == SIZE_MAX ? 0 : (long long)e[newest].bi->created;
	mp_cstr(pk, "newest_usable");
	if (newest == SIZE_MAX)
		msgpack_pack_nil(pk);
	else
		mp_cstr(pk, e[newest].name);
	mp_cstr(pk, "newest_usable_created");
	msgpack_pack_int64(pk, ncreated);
	/* As the writer's warning (rotation.c): none younger than the interval. */
	mp_cstr(pk, "stale");
	lmdb && interval != 0 && (ncreated == 0 || (long long)ctx->now - ncreated > (long long)interval) ?
	    msgpack_pack_true(pk) : msgpack_pack_false(pk);
	backupfile_list_free(e, n);
	return 0;
}

static int
keys_status(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct vault_services *svc = ctx->svc;
	const struct keyring *ring = ctx->keys->ring;
	const struct rotation *rot = &svc->rotation;
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
	int rc = epoch_counts(svc, ctx->txn, epochs, counts, n);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = tokens_det_count(ctx->txn, STORE_DET_INDEX, epochs[i], &det[i]);
	if (rc != 0) {
		free(counts);
		return op_fail(err, rc, NULL, NULL);
	}
	/* From the snapshot the counts come from, not the writer's atomics:
	 * "done" must never come with counts from before the last step. */
	uint32_t target = rotation_target_in(svc, ctx->txn);
	if (target != 0 && keyring_key(ring, KEYRING_KEK, target) == NULL)
		target = 0; /* marked, but the epoch never made it into the ring */
	uint32_t current = keyring_current(ring, KEYRING_KEK);
	struct blockers *b = calloc(1, sizeof(*b));
	if (b == NULL) {
		free(counts);
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	}
	for (size_t i = 0; target == 0 && i < n; i++)
		if (epochs[i] != current)
			b->records += counts[i];
	if ((rc = find_blockers(ctx, current, b)) != 0) {
		free(b);
		free(counts);
		return op_fail(err, rc, NULL, NULL);
	}

	msgpack_pack_map(pk, 7);
	pack_backups(ctx, pk);
	mp_cstr(pk, "kek");
	pack_versions(pk, ring, KEYRING_KEK, counts, det);
	mp_cstr(pk, "token");
	pack_versions(pk, ring, KEYRING_TOKEN, NULL, NULL);
	mp_cstr(pk, "index");
	pack_versions(pk, ring, KEYRING_INDEX, NULL, NULL);
	free(counts);
	pack_blockers(ctx, pk, b);
	free(b);

	mp_cstr(pk, "rotation");
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
	/* A stalled rewrap (rotation_state.h): since when (0: not stalled) and why. */
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
	msgpack_pack_uint32(pk, svc->cfg.rotation_interval_seconds);
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
