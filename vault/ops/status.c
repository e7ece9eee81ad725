/*
 * status.c - "status": vaultd's version, protocol version, record and tombstone counts,
 * current key epoch, uptime, whether the audit trail can be written (a full
 * file system, audit.h), a rotation's state (a stall, rotation_state.h), security
 * alerts raised since start (alert.h). No personal data.
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

static const char *const args[] = { NULL };

static int
status(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	uint64_t nrecords, ntombstones;
	int rc;
	if ((rc = store_count(ctx->txn, STORE_RECORDS, &nrecords)) != 0 ||
	    (rc = store_count(ctx->txn, STORE_TOMBSTONES, &ntombstones)) != 0)
		return op_fail(err, store_error(rc), NULL, NULL);
	/* Notices older than deletion_ack_seconds: a scan of the feeds. */
	uint64_t late;
	if ((rc = feed_overdue(ctx->txn, (uint64_t)ctx->now,
	    ctx->svc->cfg.deletion_ack_seconds, &late)) != 0)
		return op_fail(err, rc, NULL, NULL);
	msgpack_pack_map(pk, 11);
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
	mp_cstr(pk, "records");
	msgpack_pack_uint64(pk, nrecords);
	mp_cstr(pk, "tombstones");
	msgpack_pack_uint64(pk, ntombstones);
	mp_cstr(pk, "deletion_acks_overdue");
	msgpack_pack_uint64(pk, late);
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
		char line[256], when[32];
		time_t t = (time_t)stalled;
		struct tm tm;
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(when, sizeof(when), "%lld", stalled);
		snprintf(line, sizeof(line), "stalled since %s: %s", when,
		    rotation_stall_reason(atomic_load(&rot->stall_why)));
		mp_cstr(pk, line);
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
	.args = args,
	.read = status,
};
