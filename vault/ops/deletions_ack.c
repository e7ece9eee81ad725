/*
 * deletions_ack.c - "deletions_ack": the calling client says it deleted
 * its copies for notices of its own feed (privacy/feed.h). All or nothing:
 * an id that is not a notice of this client's feed (another client's
 * included) or one acknowledged before fails the request, naming the id.
 * The audit entry names the notices' records.
 */
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "vault/policy.h"
#include "vault/privacy/feed.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { "ids", NULL };

#define ACK_MAX 1000

struct ack_state {
	char client[POLICY_NAME_MAX];
	size_t n;
	uint64_t ids[];
};

static void
free_state(void *state)
{
	free(state);
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	const msgpack_object_array *ids;
	int rc;
	(void)ctx;

	if ((rc = msg_get_array(req->args, "ids", 1, &ids)) != 0)
		return op_fail(err, rc, "ids", "ids must be an array of notice ids");
	if (ids->size == 0)
		return op_fail(err, VAULT_E_EMPTY, "ids", "no notice ids given");
	if (ids->size > ACK_MAX)
		return op_fail(err, VAULT_E_LIMIT, "ids", "at most 1000 notice ids per request");
	struct ack_state *st = malloc(sizeof(*st) + ids->size * sizeof(uint64_t));
	if (st == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	for (uint32_t i = 0; i < ids->size; i++) {
		if (ids->ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER || ids->ptr[i].via.u64 == 0) {
			free(st);
			return op_fail(err, VAULT_E_PROTO_TYPE, "ids",
			    "ids must be an array of notice ids (positive integers)");
		}
		st->ids[i] = ids->ptr[i].via.u64;
	}
	st->n = ids->size;
	snprintf(st->client, sizeof(st->client), "%s", req->client->name);
	*state = st;
	return 0;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct ack_state *st = state;
	struct feed_notice *n = malloc(sizeof(*n));
	int rc = 0;

	if (n == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	for (size_t i = 0; i < st->n && rc == 0; i++) {
		rc = feed_ack(ctx->txn, st->client, st->ids[i], (uint64_t)ctx->now, n);
		if (rc == VAULT_E_NOT_FOUND) {
			op_fail(err, rc, "ids", "no such notice in this client's deletion feed");
		} else if (rc == VAULT_E_ALREADY_ACKED) {
			op_fail(err, rc, "ids", "that notice was acknowledged before");
		} else if (rc != 0) {
			op_fail(err, rc, NULL, NULL);
		} else if (trace_record(&ctx->trace, n->record_id) != 0) {
			rc = op_fail(err, VAULT_E_NOMEM, NULL, NULL);
		}
		if (rc == VAULT_E_NOT_FOUND || rc == VAULT_E_ALREADY_ACKED) {
			err->count_name = "notice";
			err->count = st->ids[i];
		}
	}
	free(n);
	if (rc != 0)
		return rc;
	msgpack_pack_map(pk, 1);
	mp_cstr(pk, "acknowledged");
	msgpack_pack_uint64(pk, st->n);
	return 0;
}

const struct op op_deletions_ack = {
	.name = "deletions_ack",
	.kind = OP_WRITE,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free_state,
};
