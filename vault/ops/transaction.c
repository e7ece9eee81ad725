/*
 * transaction.c - "transaction": remember a record's last transaction for
 * identity verification (a privacy request's fifth data point). Only blind
 * entries of the order reference, date and amount are kept (privacy/blind.h):
 * their tags, and the canonical values sealed under the record's data key
 * (for a rotation to re-derive the tags); the vault can tell whether a
 * claimed transaction matches, and reads the values only to re-derive.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "vault/crypto/seal.h"
#include "vault/policy.h"
#include "vault/privacy/blind.h"
#include "vault/record/access.h"
#include "vault/record/write.h"
#include "vault/services.h"
#include "args.h"
#include "op.h"

static const char *const args[] = { "record", "reference", "date", "amount", NULL };
static const char *const names[] = { "reference", "date", "amount" };
static const unsigned kinds[] = { BLIND_TXN_REFERENCE, BLIND_TXN_DATE, BLIND_TXN_AMOUNT };

struct txn_state {
	uint64_t id;
	int given[3];
	char canon[3][64];
	size_t len[3];
};

static void
free_state(void *p)
{
	if (p != NULL)
		sodium_memzero(p, sizeof(struct txn_state));
	free(p);
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	struct txn_state *st = calloc(1, sizeof(*st));
	int rc, any = 0;

	if (st == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	/* The last transaction is a data point that verifies a person: only
	 * the services that take orders may set it. */
	if (!req->client->may_transactions) {
		rc = op_deny(err, NULL, req->client->name,
		    "the policy does not let this client record transactions");
		goto fail;
	}
	if (req->purpose != VAULT_PURPOSE_TRANSACTIONAL) {
		rc = op_fail(err, VAULT_E_PURPOSE, "purpose",
		    "a transaction is recorded with purpose transactional");
		goto fail;
	}
	if ((rc = arg_record(ctx->keys, req, &st->id, err)) != 0)
		goto fail;
	for (int i = 0; i < 3; i++) {
		const char *s = NULL;
		size_t len = 0;
		if ((rc = msg_get_str(req->args, names[i], 0, &s, &len)) != 0) {
			op_fail(err, rc, names[i], "a string is needed");
			goto fail;
		}
		if (s == NULL)
			continue;
		if (len > 64) {
			rc = op_fail(err, VAULT_E_TOO_LARGE, names[i], NULL);
			goto fail;
		}
		if ((rc = blind_canon(kinds[i], s, len, st->canon[i], sizeof(st->canon[i]),
		    &st->len[i])) != 0) {
			op_fail(err, rc, names[i], i == 1 ? "a date is YYYY-MM-DD" :
			    i == 2 ? "an amount is a decimal number with at most two decimals" :
			    "a reference needs letters or digits");
			goto fail;
		}
		st->given[i] = any = 1;
	}
	if (!any) {
		rc = op_fail(err, VAULT_E_EMPTY, NULL,
		    "a transaction needs a reference, a date or an amount");
		goto fail;
	}
	*state = st;
	return 0;
fail:
	free_state(st);
	return rc;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct txn_state *st = state;
	struct record r;
	int rc;

	if (trace_record(&ctx->trace, st->id) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = record_load(ctx->svc, ctx->keys, ctx->txn, st->id, &r, NULL)) != 0)
		return op_fail(err, rc, "record", NULL);
	/* The values are sealed under the record's data key, so a rotation
	 * can re-derive their tags (blind.h). */
	if ((rc = record_unwrap(ctx->keys, st->id, &r, ctx->dek)) != 0)
		return op_fail(err, rc, "record", NULL);
	struct blind_keys bk = { ctx->dek, r.dek_version, r.kek_epoch };
	/* Each call replaces the last transaction as a whole. */
	for (int i = 0; i < 3 && rc == 0; i++)
		rc = blind_set(ctx, st->id, &bk, kinds[i], st->given[i] ? st->canon[i] : NULL,
		    st->len[i]);
	sodium_memzero(ctx->dek, DEK_BYTES);
	if (rc != 0)
		return op_fail(err, rc, NULL, NULL);
	msgpack_pack_map(pk, 1);
	mp_cstr(pk, "recorded");
	msgpack_pack_true(pk);
	return 0;
}

const struct op op_transaction = {
	.name = "transaction",
	.kind = OP_WRITE,
	.needs_purpose = 1,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free_state,
};
