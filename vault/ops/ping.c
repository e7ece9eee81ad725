/*
 * ping.c - "ping": a no-op round trip (connection check; the benchmark's
 * floor for the socket and protocol cost).
 */
#include "op.h"

static const char *const args[] = { NULL };

static int
ping(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	msgpack_pack_map(pk, 0);
	return 0;
}

const struct op op_ping = {
	.name = "ping",
	.kind = OP_READ,
	.needs_purpose = 0,
	.sealed_ok = 1,
	.unaudited = 1,
	.args = args,
	.read = ping,
};
