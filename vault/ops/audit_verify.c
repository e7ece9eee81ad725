/*
 * audit_verify.c - "audit_verify" (admin): check the audit trail's hash
 * chain from its first file to its head (audit.h), and that it holds the
 * entry the data records (the anchor) and, when given one, the entry of a
 * checkpoint (audit_checkpoint). The answer names sequence numbers only,
 * never entry contents.
 */
#include <string.h>

#include <sodium.h>

#include "common/checkpoint.h"
#include "common/msg.h"
#include "vault/audit.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "op.h"

static const char *const args[] = { "checkpoint_seq", "checkpoint_mac", NULL };

/* The checkpoint's entry, if the request names one: 0, 1 if not, or an error. */
static int
checkpoint_arg(const struct request *req, struct audit_anchor *an, struct op_error *err)
{
	const char *mac;
	size_t len = 0;
	int rc;
	if (msg_get(req->args, "checkpoint_seq") == NULL &&
	    msg_get(req->args, "checkpoint_mac") == NULL)
		return 1;
	if ((rc = msg_get_uint(req->args, "checkpoint_seq", 1, &an->seq)) != 0)
		return op_fail(err, rc, "checkpoint_seq", "must be an entry's sequence number");
	if ((rc = msg_get_str(req->args, "checkpoint_mac", 1, &mac, &len)) != 0)
		return op_fail(err, rc, "checkpoint_mac", "must be a string");
	if (an->seq == 0)
		return op_fail(err, VAULT_E_INVALID_VALUE, "checkpoint_seq",
		    "must be an entry's sequence number");
	if (len != CHECKPOINT_MAC_HEX ||
	    sodium_hex2bin(an->mac, sizeof(an->mac), mac, len, NULL, NULL, NULL) != 0)
		return op_fail(err, VAULT_E_INVALID_VALUE, "checkpoint_mac",
		    "must be 64 hexadecimal digits");
	an->what = "checkpoint";
	return 0;
}

static int
audit_verify_op(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct vault_services *svc = ctx->svc;
	struct audit_verify_result r;
	struct audit_anchor need[2];
	size_t nneed = 0;
	int rc;

	if ((rc = checkpoint_arg(req, &need[nneed], err)) == 0)
		nneed++;
	else if (rc != 1)
		return rc;
	/* The data's record of the trail, as of this request's snapshot (no
	 * snapshot: a store-less caller, such as the unit tests). */
	need[nneed].what = "data";
	rc = ctx->txn == NULL ? VAULT_E_NOT_FOUND :
	    store_audit_anchor_get(ctx->txn,
	    store_anchor_node(&svc->store, svc->cfg.node_name), &need[nneed].seq, need[nneed].mac);
	if (rc == 0)
		nneed++;
	else if (rc != VAULT_E_NOT_FOUND)
		return op_fail(err, rc, NULL, "the audit anchor cannot be read");
	/* The open trail is checked up to its current head, while it is written. */
	if (svc->audit != NULL)
		rc = audit_verify_with(svc->audit, ctx->keys, need, nneed, &r);
	else if (svc->audit_cfg.path != NULL && svc->audit_cfg.path[0] != '\0')
		rc = audit_verify_files_with(svc->audit_cfg.path, ctx->keys, need, nneed, &r);
	else
		return op_fail(err, VAULT_E_CONFIG, NULL, "no audit trail is configured");
	if (rc != 0)
		return op_fail(err, rc, NULL, "the audit trail cannot be read");
	msgpack_pack_map(pk, 3 + (r.first_bad_seq != 0) + (!r.ok) + (r.acknowledged != 0));
	mp_cstr(pk, "ok");
	if (r.ok)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	mp_cstr(pk, "files");
	msgpack_pack_uint32(pk, r.files);
	mp_cstr(pk, "entries");
	msgpack_pack_uint64(pk, r.entries);
	if (r.first_bad_seq != 0) {
		mp_cstr(pk, "first_bad_seq");
		msgpack_pack_uint64(pk, r.first_bad_seq);
	}
	if (!r.ok) {
		mp_cstr(pk, "reason");
		mp_cstr(pk, r.reason);
	}
	if (r.acknowledged != 0) {
		mp_cstr(pk, "acknowledged");
		msgpack_pack_uint64(pk, r.acknowledged);
	}
	return 0;
}

const struct op op_audit_verify = {
	.name = "audit_verify",
	.kind = OP_READ,
	.needs_purpose = 0,
	.admin = 1,
	.args = args,
	.read = audit_verify_op,
};
