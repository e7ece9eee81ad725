/*
 * keys_retire.c - "keys_retire" (admin): destroy a key-encryption key
 * epoch no record depends on any more, then compact the data file; with
 * [keys] backup_before_retire (LMDB) a verified backup is taken first, or
 * nothing is retired (VAULT_E_BACKUP; rotation.h).
 */
#include <stdlib.h>

#include "common/msg.h"
#include "vault/backupfile.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { "epoch", NULL };

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	uint64_t epoch = 0;
	int rc = msg_get_uint(req->args, "epoch", 1, &epoch);
	if (rc != 0)
		return op_fail(err, rc, "epoch", "epoch must be an unsigned integer");
	if (epoch == 0 || epoch > UINT32_MAX)
		return op_fail(err, VAULT_E_NOT_FOUND, "epoch", "no such epoch");
	uint32_t *e = malloc(sizeof(*e));
	if (e == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	*e = (uint32_t)epoch;
	*state = e;
	return 0;
}

static int
control(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	uint32_t epoch = *(uint32_t *)state;
	uint64_t remaining = 0, before = 0, after = 0;
	const char *why = NULL;
	int rc = ctx->svc->control->keys_retire(ctx, epoch, &remaining, &before, &after, &why);
	if (rc != 0) {
		op_fail(err, rc, "epoch", why);
		if (remaining > 0) {
			err->count_name = "remaining"; /* how many records still use it */
			err->count = remaining;
		}
		return rc;
	}
	/* A restore's safety net holds data keys wrapped with the epoch just
	 * retired: it lives only until this retire (backupfile.h). */
	backupfile_drop_pre_restore(&ctx->svc->cfg);
	msgpack_pack_map(pk, 4);
	mp_cstr(pk, "epoch");
	msgpack_pack_uint32(pk, epoch);
	mp_cstr(pk, "file_bytes_before");
	msgpack_pack_uint64(pk, before);
	mp_cstr(pk, "file_bytes_after");
	msgpack_pack_uint64(pk, after);
	/* The backup backup_before_retire took (in backup_dir), nil if none
	 * (off, or PostgreSQL). The writer runs this: its name is current. */
	mp_cstr(pk, "backup");
	if (ctx->svc->rotation.retire_backup[0] != '\0')
		mp_cstr(pk, ctx->svc->rotation.retire_backup);
	else
		msgpack_pack_nil(pk);
	return 0;
}

const struct op op_keys_retire = {
	.name = "keys_retire",
	.kind = OP_CONTROL,
	.admin = 1,
	.args = args,
	.prepare = prepare,
	.control = control,
	.free_state = free,
};
