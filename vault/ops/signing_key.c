/*
 * signing_key.c - "signing_key": the Ed25519 public keys that sign receipts
 * and exports, one per index key version (privacy/secrets.h). Public, so
 * every client may ask and it is not audited.
 */
#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/privacy/secrets.h"
#include "op.h"

static const char *const args[] = { NULL };

static int
run(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	const struct keyring *ring = ctx->keys->ring;
	size_t n = keyring_count(ring, KEYRING_INDEX);
	uint8_t pub[SIGN_PUBLIC_BYTES];

	(void)req;
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "current");
	msgpack_pack_uint32(pk, keyring_current(ring, KEYRING_INDEX));
	mp_cstr(pk, "keys");
	msgpack_pack_array(pk, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		uint32_t v = keyring_version_at(ring, KEYRING_INDEX, i);
		int rc = secret_public_key(ctx->keys, v, pub);
		if (rc != 0)
			return op_fail(err, rc, NULL, NULL);
		msgpack_pack_map(pk, 2);
		mp_cstr(pk, "version");
		msgpack_pack_uint32(pk, v);
		mp_cstr(pk, "public_key");
		mp_bin(pk, pub, sizeof(pub));
	}
	return 0;
}

const struct op op_signing_key = {
	.name = "signing_key",
	.kind = OP_READ,
	.args = args,
	.unaudited = 1,
	.read = run,
};
