/*
 * backup.c - "backup" (admin): a consistent, compacted copy of the data
 * file, written by the server into [storage] backup_dir under the name
 * given, while it keeps serving (LMDB copies from one read snapshot).
 *
 * The copy holds what the data file holds: ciphertexts and data keys
 * wrapped with the epochs current at backup time. It is readable only
 * while those epochs are in the key ring: retiring them ends the backup's
 * life, and that is what bounds how long a deleted record survives in a
 * backup (SECURITY.md). Restoring is `vaultd --restore FILE`.
 */
#include "common/msg.h"
#include "vault/backupfile.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { "name", NULL };

static int
backup(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct vault_services *svc = ctx->svc;
	const char *name, *why;
	size_t len;
	char path[600];
	uint64_t size = 0;
	int rc = msg_get_str(req->args, "name", 1, &name, &len);
	if (rc != 0)
		return op_fail(err, rc, "name", "name must be a string");
	/* A copy of the store is the database's own job on PostgreSQL. */
	if (svc->cfg.storage_backend == CONFIG_BACKEND_POSTGRESQL)
		return op_fail(err, VAULT_E_CONFIG, NULL,
		    "[storage] backend = postgresql: back up with PostgreSQL's own tools "
		    "(pg_dump, base backups with their WAL), not vaultd; those copies hold "
		    "only ciphertext, wrapped keys and keyed tags, readable only while their "
		    "KEK epochs are in the key ring, so retiring an epoch ends them as it ends "
		    "a vaultd backup (doc/storage-postgresql.md)");
	rc = backupfile_take(&svc->store, &svc->cfg, name, len, 0, path, sizeof(path), &size,
	    NULL, &why);
	if (rc != 0)
		return op_fail(err, rc, rc == VAULT_E_INVALID_VALUE || rc == VAULT_E_CONFLICT ?
		    "name" : NULL, why);
	/* The writer looks at backup_dir again (a stale warning ends). */
	atomic_store(&svc->rotation.backup_checked, 0);
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "path");
	mp_cstr(pk, path);
	mp_cstr(pk, "bytes");
	msgpack_pack_uint64(pk, size);
	return 0;
}

const struct op op_backup = {
	.name = "backup",
	.kind = OP_READ,
	.admin = 1,
	.no_keys = 1,
	.args = args,
	.read = backup,
};
