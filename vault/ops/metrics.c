/*
 * metrics.c - "metrics" (admin): the service's counters for monitoring
 * (vault/metrics.h; PROTOCOL.md gives the reply). Counts and durations
 * only, no personal data; answered while sealed; not audited, like status:
 * a scrape every minute would fill the trail with nothing worth reading.
 */
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { NULL };

static int
metrics(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	int rc = ctx->svc->control->metrics_pack(ctx->svc, ctx->txn, pk);
	return rc ? op_fail(err, rc, NULL, NULL) : 0;
}

const struct op op_metrics = {
	.name = "metrics",
	.kind = OP_READ,
	.needs_purpose = 0,
	.admin = 1,
	.sealed_ok = 1,
	.no_keys = 1,
	.unaudited = 1,
	.store_optional = 1,
	.args = args,
	.read = metrics,
};
