/*
 * policy_reload.c - "policy_reload" (admin): read the configured policy
 * file again and put it in force if it is valid (reload.h); otherwise the
 * error names the file, the line and the reason, and the policy in force
 * stays. The dispatcher's audit entry records the outcome (never the
 * file's contents).
 */
#include <stdio.h>
#include <string.h>

#include "vault/reload.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { NULL };

static int
reload(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	/* The reason names a file and a line: kept for this thread's reply. */
	static _Thread_local char why[600];
	char by[32];
	snprintf(by, sizeof(by), "uid %ld", (long)req->uid);
	int rc = policy_reload(ctx->svc, by, why, sizeof(why));
	if (rc != 0)
		return op_fail(err, rc, NULL, why);
	const struct policy *p = policy_current_get(&ctx->svc->policy);
	const char *path = ctx->svc->cfg.policy_file;
	size_t n = strlen(path);
	msgpack_pack_map(pk, 2);
	msgpack_pack_str(pk, 4);
	msgpack_pack_str_body(pk, "file", 4);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, path, n);
	msgpack_pack_str(pk, 7);
	msgpack_pack_str_body(pk, "clients", 7);
	msgpack_pack_uint64(pk, p->nclients);
	policy_unref(p);
	return 0;
}

const struct op op_policy_reload = {
	.name = "policy_reload",
	.kind = OP_READ,
	.admin = 1,
	.sealed_ok = 1,
	.no_keys = 1,
	.args = args,
	.read = reload,
};
