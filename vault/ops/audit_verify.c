/*
 * audit_verify.c - "audit_verify" (admin): check the audit trail's hash
 * chain from its first file to its head (audit.h). The answer names
 * sequence numbers only, never entry contents.
 */
#include "common/msg.h"
#include "vault/audit.h"
#include "vault/server.h"
#include "op.h"

static const char *const args[] = { NULL };

static int
audit_verify_op(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct server *srv = ctx->srv;
	struct audit_verify_result r;
	int rc;

	/* The open trail is checked up to its current head, while it is written. */
	if (srv->audit != NULL)
		rc = audit_verify(srv->audit, ctx->keys, &r);
	else if (srv->audit_cfg.path != NULL && srv->audit_cfg.path[0] != '\0')
		rc = audit_verify_files(srv->audit_cfg.path, ctx->keys, &r);
	else
		return op_fail(err, VAULT_E_CONFIG, NULL, "no audit trail is configured");
	if (rc != 0)
		return op_fail(err, rc, NULL, "the audit trail cannot be read");
	msgpack_pack_map(pk, 3 + (r.first_bad_seq != 0) + (!r.ok));
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
