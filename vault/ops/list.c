/*
 * list.c - "list": record tokens, a page at a time, for clients the policy
 * lets list (list = true). With purpose marketing a channel must be named,
 * and records whose person opted out of marketing on it are skipped.
 *
 * Skipping reads the flags byte, so a listing by channel first checks each
 * scanned record's MAC (record_check(): the MAC key of its epoch, without
 * unwrapping its data key or decoding it): an opt-out cleared in the data
 * file outside the service fails the listing with VAULT_E_CRYPTO and an
 * alert rather than putting the person on a marketing list. A listing
 * without a channel looks at no header and checks nothing.
 */
#include <string.h>

#include "common/msg.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/policy.h"
#include "vault/record/access.h"
#include "vault/services.h"
#include "vault/store/record_codec.h"
#include "args.h"
#include "op.h"

static const char *const args[] = { "after", "limit", "channel", NULL };

#define LIST_MAX 1000

static int
list(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	uint64_t limit = 100, start = 1;
	uint8_t skip = 0;
	const char *ch;
	size_t chlen = 0;
	int rc;

	if (!req->client->may_list)
		return op_deny(err, NULL, req->client->name,
		    "the policy does not let this client list records");
	if ((rc = msg_get_uint(req->args, "limit", 0, &limit)) != 0)
		return op_fail(err, rc, "limit", "limit must be an unsigned integer");
	if (limit < 1 || limit > LIST_MAX)
		return op_fail(err, VAULT_E_LIMIT, "limit", "limit is 1..1000");
	if (msg_get(req->args, "after") != NULL) {
		uint64_t after;
		if ((rc = arg_record_named(ctx->keys, req, "after", &after, err)) != 0)
			return rc;
		start = after + 1;
	}
	if ((rc = msg_get_str(req->args, "channel", 0, &ch, &chlen)) != 0)
		return op_fail(err, rc, "channel", "channel must be a string");
	if (chlen > 0) {
		skip = chlen == 5 && memcmp(ch, "email", 5) == 0 ? CONSENT_OPT_OUT_EMAIL :
		    chlen == 5 && memcmp(ch, "phone", 5) == 0 ? CONSENT_OPT_OUT_PHONE :
		    chlen == 4 && memcmp(ch, "mail", 4) == 0 ? CONSENT_OPT_OUT_MAIL : 0;
		if (skip == 0)
			return op_fail(err, VAULT_E_INVALID_VALUE, "channel", "email, phone or mail");
	}
	if (req->purpose == VAULT_PURPOSE_MARKETING && skip == 0)
		return op_fail(err, VAULT_E_PROTO_MISSING, "channel",
		    "a marketing list names its channel: email, phone or mail");

	struct store_cursor *cur;
	uint8_t kb[8];
	uint64_t ids[LIST_MAX];
	size_t n = 0;
	int more = 0;
	if ((rc = store_cursor_open(ctx->txn, STORE_RECORDS, &cur)) != 0)
		return op_fail(err, store_error(rc), NULL, NULL);
	store_put_id(kb, start);
	struct store_val k = { 8, kb }, v;
	/* Bounded work per request: past this many skipped, hand back a cursor. */
	uint64_t scanned = 0, last = 0, max_scan = 100 * limit + 10000;
	for (rc = store_cursor_get(cur, &k, &v, STORE_SET_RANGE); rc == 0;
	    rc = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
		last = store_get_id(k.data);
		if (++scanned > max_scan) {
			more = 1;
			break;
		}
		/* The flags byte is the second of an encoded record; it counts
		 * only once the record's MAC holds. */
		if (skip && (rc = record_check(ctx->svc, ctx->keys, last, v.data,
		    v.len)) != 0) {
			store_cursor_close(cur);
			return op_fail(err, rc, NULL, "a stored record failed its authentication");
		}
		if (v.len < 2 || (skip && (((const uint8_t *)v.data)[1] & skip)))
			continue;
		if (n == limit) {
			more = 1;
			break;
		}
		ids[n++] = store_get_id(k.data);
	}
	store_cursor_close(cur);
	char tok[TOKEN_MAX_LEN + 1];
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "records");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		token_record_make(ctx->keys->tokens, ids[i], tok);
		mp_cstr(pk, tok);
	}
	mp_cstr(pk, "next");
	if (more && (n > 0 || last > 0)) {
		/* Page full: go on after its last record; scan cut short: after the
		 * last record looked at (which was skipped, or would have been). */
		token_record_make(ctx->keys->tokens, n == limit ? ids[n - 1] : last - 1, tok);
		mp_cstr(pk, tok);
	} else {
		msgpack_pack_nil(pk);
	}
	return 0;
}

const struct op op_list = {
	.name = "list",
	.kind = OP_READ,
	.needs_purpose = 1,
	.args = args,
	.read = list,
};
