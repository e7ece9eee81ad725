/*
 * audit_checkpoint.c - "audit_checkpoint" (admin): the audit trail's last
 * entry (seq and MAC) and the time, signed with the Ed25519 key of the
 * current index key version (privacy/secrets.h, as receipts), for an
 * administrator to keep off the machine. `audit_verify` with the
 * checkpoint later proves that the trail still holds that entry and goes
 * on from it (audit.h: a trail cut back, or replaced, together with its
 * head file and even the data's anchor, no longer extends it).
 */
#include <time.h>

#include <sodium.h>

#include "common/checkpoint.h"
#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/audit.h"
#include "vault/keyset.h"
#include "vault/privacy/secrets.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { NULL };

static int
checkpoint(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct audit *a = ctx->svc->audit;
	uint8_t mac[AUDIT_MAC_BYTES], sig[SIGN_BYTES];
	char hex[2 * AUDIT_MAC_BYTES + 1], msg[CHECKPOINT_MESSAGE_MAX];
	uint64_t seq;
	int64_t now = (int64_t)time(NULL);
	int n, rc;

	(void)req;
	if (a == NULL)
		return op_fail(err, VAULT_E_CONFIG, NULL, "no audit trail is configured");
	audit_head(a, &seq, mac);
	if (seq == 0)
		return op_fail(err, VAULT_E_NOT_FOUND, NULL, "the audit trail has no entry yet");
	/* A checkpoint a power loss could take back would raise a false alarm. */
	if (audit_sync(a) != 0)
		return op_fail(err, VAULT_E_AUDIT, NULL, "the audit trail cannot be flushed");
	uint32_t kv = keyring_current(ctx->keys->ring, KEYRING_INDEX);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	if ((n = checkpoint_message(msg, seq, hex, now, kv)) < 0)
		return op_fail(err, VAULT_E_INTERNAL, NULL, NULL);
	if ((rc = secret_sign(ctx->keys, kv, msg, (size_t)n, sig)) != 0)
		return op_fail(err, rc, NULL, NULL);
	msgpack_pack_map(pk, 5);
	mp_cstr(pk, "seq");
	msgpack_pack_uint64(pk, seq);
	mp_cstr(pk, "mac");
	mp_cstr(pk, hex);
	mp_cstr(pk, "time");
	msgpack_pack_int64(pk, now);
	mp_cstr(pk, "key_version");
	msgpack_pack_uint32(pk, kv);
	mp_cstr(pk, "signature");
	mp_bin(pk, sig, sizeof(sig));
	return 0;
}

const struct op op_audit_checkpoint = {
	.name = "audit_checkpoint",
	.kind = OP_READ,
	.admin = 1,
	.args = args,
	.read = checkpoint,
};
