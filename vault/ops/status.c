/*
 * status.c - "status": protocol version, record and tombstone counts,
 * current key epoch, uptime, security alerts raised since start (alert.h).
 * No personal data.
 */
#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/alert.h"
#include "vault/keyset.h"
#include "vault/server.h"
#include "op.h"

static const char *const args[] = { NULL };

static int
status(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	MDB_stat rs, ts;
	int rc;
	if ((rc = mdb_stat(ctx->txn, ctx->srv->store.records, &rs)) != 0 ||
	    (rc = mdb_stat(ctx->txn, ctx->srv->store.tombstones, &ts)) != 0)
		return op_fail(err, store_error(rc), NULL, NULL);
	msgpack_pack_map(pk, 7);
	mp_cstr(pk, "sealed");
	if (ctx->keys == NULL)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	mp_cstr(pk, "protocol_version");
	msgpack_pack_uint32(pk, VAULT_PROTOCOL_VERSION);
	mp_cstr(pk, "records");
	msgpack_pack_uint64(pk, rs.ms_entries);
	mp_cstr(pk, "tombstones");
	msgpack_pack_uint64(pk, ts.ms_entries);
	mp_cstr(pk, "kek_epoch");
	msgpack_pack_uint32(pk, ctx->keys ? keyring_current(ctx->keys->ring, KEYRING_KEK) : 0);
	mp_cstr(pk, "uptime_seconds");
	msgpack_pack_uint64(pk, (uint64_t)(ctx->now - ctx->srv->started));
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
