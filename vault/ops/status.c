/*
 * status.c - "status": vaultd's version, protocol version, record and tombstone counts,
 * current key epoch, uptime, whether the audit trail can be written (a full
 * file system, audit.h), a rotation's state (a stall, rotation_state.h), security
 * alerts raised since start (alert.h), whether the store can be reached (it
 * answers when it cannot, without the counts). No personal data.
 */
#include <stdio.h>
#include <time.h>

#include "common/msg.h"
#include "common/version.h"
#include "keys/keyring.h"
#include "vault/alert.h"
#include "vault/keyset.h"
#include "vault/services.h"
#include "vault/privacy/feed.h"
#include "op.h"
#include "unseal_shares.h"

static const char *const args[] = { NULL };

/* prefix and Unix time t in UTC, ISO 8601, into out. */
static void
utc_time(long long t, char *out, size_t cap, const char *prefix)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char when[32];
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "%lld", t);
	snprintf(out, cap, "%s%s", prefix, when);
}

static int
status(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	uint64_t nrecords = 0, ntombstones = 0;
	int rc = STORE_E_UNAVAILABLE;
	/* No snapshot (ctx->txn NULL): the store cannot be reached, which
	 * status reports instead of failing; the counts are left out. */
	if (ctx->txn != NULL && (rc = store_count(ctx->txn, STORE_RECORDS, &nrecords)) == 0)
		rc = store_count(ctx->txn, STORE_TOMBSTONES, &ntombstones);
	if (rc != 0 && rc != STORE_E_UNAVAILABLE)
		return op_fail(err, store_error(rc), NULL, NULL);
	int reachable = rc == 0;
	/* Notices older than deletion_ack_seconds: a scan of the feeds. */
	uint64_t late = 0;
	if (reachable && (rc = feed_overdue(ctx->txn, (uint64_t)ctx->now,
	    ctx->svc->cfg.deletion_ack_seconds, &late)) != 0)
		return op_fail(err, store_error(rc), NULL, NULL);
	msgpack_pack_map(pk, reachable ? 14 : 11);
	/* The build's version (meson's project version): which vaultd answers. */
	mp_cstr(pk, "version");
	mp_cstr(pk, VAULT_VERSION);
	mp_cstr(pk, "sealed");
	if (ctx->keys == NULL)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	mp_cstr(pk, "protocol_version");
	msgpack_pack_uint32(pk, VAULT_PROTOCOL_VERSION);
	if (reachable) {
		mp_cstr(pk, "records");
		msgpack_pack_uint64(pk, nrecords);
		mp_cstr(pk, "tombstones");
		msgpack_pack_uint64(pk, ntombstones);
		mp_cstr(pk, "deletion_acks_overdue");
		msgpack_pack_uint64(pk, late);
	}
	/* "ok", or "unreachable since T" (the first failed connect). */
	mp_cstr(pk, "storage");
	if (reachable) {
		mp_cstr(pk, "ok");
	} else {
		long long since = store_unreachable_since(&ctx->svc->store);
		char line[64];
		utc_time(since ? since : (long long)ctx->now, line, sizeof(line), "unreachable since ");
		mp_cstr(pk, line);
	}
	mp_cstr(pk, "kek_epoch");
	msgpack_pack_uint32(pk, ctx->keys ? keyring_current(ctx->keys->ring, KEYRING_KEK) : 0);
	mp_cstr(pk, "uptime_seconds");
	msgpack_pack_uint64(pk, (uint64_t)(ctx->now - ctx->svc->started));
	/* Whether entries can be written (audit.h, a full file system). */
	mp_cstr(pk, "audit");
	mp_cstr(pk, ctx->svc->audit == NULL ? "off" :
	    audit_space_name(audit_space(ctx->svc->audit)));
	/* A rotation's state: "none", "running", or "stalled since T: why". */
	const struct rotation *rot = &ctx->svc->rotation;
	long long stalled = atomic_load(&rot->stalled_since);
	mp_cstr(pk, "rotation");
	if (atomic_load(&rot->target) == 0) {
		mp_cstr(pk, "none");
	} else if (stalled == 0) {
		mp_cstr(pk, "running");
	} else {
		char line[256], when[48];
		utc_time(stalled, when, sizeof(when), "");
		snprintf(line, sizeof(line), "stalled since %s: %s", when,
		    rotation_stall_reason(atomic_load(&rot->stall_why)));
		mp_cstr(pk, line);
	}
	/* While sealed by shares: how many operators gave theirs, of how many needed. */
	struct keyring_root_params params;
	const char *why;
	mp_cstr(pk, "unseal_shares");
	if (ctx->keys == NULL &&
	    keyring_file_params(ctx->svc->cfg.keyring_path, &params, &why) == 0 &&
	    params.share_threshold != 0) {
		msgpack_pack_map(pk, 2);
		mp_cstr(pk, "given");
		msgpack_pack_uint32(pk, unseal_shares_given());
		mp_cstr(pk, "needed");
		msgpack_pack_uint32(pk, params.share_threshold);
	} else {
		msgpack_pack_nil(pk);
	}
	/* Backups (rotation_state.h, as the writer last found backup_dir): a
	 * retire refused for its backup, none usable younger than the rotation
	 * interval, or "ok"; PostgreSQL backs up with its own tools. */
	mp_cstr(pk, "backups");
	long long refused = atomic_load(&rot->retire_backup_failed_since);
	if (ctx->svc->cfg.storage_backend == CONFIG_BACKEND_POSTGRESQL) {
		mp_cstr(pk, "not vaultd's (PostgreSQL: base backups)");
	} else if (refused != 0) {
		char line[512], when[48];
		utc_time(refused, when, sizeof(when), "");
		snprintf(line, sizeof(line), "retire of epoch %u refused since %s: %s",
		    atomic_load(&rot->retire_backup_epoch), when,
		    atomic_load(&rot->retire_backup_why));
		mp_cstr(pk, line);
	} else if (atomic_load(&rot->backup_stale)) {
		mp_cstr(pk, "stale: no usable backup is younger than the rotation interval");
	} else {
		mp_cstr(pk, "ok");
	}
	mp_cstr(pk, "alerts");
	msgpack_pack_map(pk, ALERT_KINDS);
	for (unsigned k = 0; k < ALERT_KINDS; k++) {
		mp_cstr(pk, alert_name(k));
		msgpack_pack_uint64(pk, alert_count(k));
	}
	return 0;
}

const struct op op_status = {
	.name = "status",
	.kind = OP_READ,
	.needs_purpose = 0,
	.sealed_ok = 1,
	.unaudited = 1,
	.store_optional = 1,
	.args = args,
	.read = status,
};
