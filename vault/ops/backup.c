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
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "common/msg.h"
#include "common/tmpfile.h"
#include "vault/backupfile.h"
#include "vault/log.h"
#include "vault/safedir.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { "name", NULL };

static int
name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 128 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

static int
backup(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct vault_services *svc = ctx->svc;
	const char *name;
	size_t len;
	char path[600], tmp[700];
	struct stat st;
	int rc = msg_get_str(req->args, "name", 1, &name, &len);
	if (rc != 0)
		return op_fail(err, rc, "name", "name must be a string");
	if (!name_ok(name, len))
		return op_fail(err, VAULT_E_INVALID_VALUE, "name",
		    "a backup name is 1-128 of [A-Za-z0-9._-], not starting with a dot");
	/* A copy of the store is the database's own job on PostgreSQL. */
	if (svc->cfg.storage_backend == CONFIG_BACKEND_POSTGRESQL)
		return op_fail(err, VAULT_E_CONFIG, NULL,
		    "[storage] backend = postgresql: back up with PostgreSQL's own tools "
		    "(pg_dump, base backups with their WAL), not vaultd; those copies hold "
		    "only ciphertext, wrapped keys and keyed tags, readable only while their "
		    "KEK epochs are in the key ring, so retiring an epoch ends them as it ends "
		    "a vaultd backup (doc/storage-postgresql.md)");
	if (stat(svc->cfg.backup_dir, &st) != 0 && mkdir(svc->cfg.backup_dir, 0700) != 0)
		return op_fail(err, VAULT_E_IO, NULL, "cannot create the backup directory");
	/* Whoever could swap the directory (or one above it) would get the copy. */
	char why[512] = "";
	if (stat(svc->cfg.backup_dir, &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 077) ||
	    st.st_uid != geteuid() || safedir_path(svc->cfg.backup_dir, why, sizeof(why)) != 0) {
		if (why[0] != '\0')
			log_warn("backup directory %s: %s", svc->cfg.backup_dir, why);
		return op_fail(err, VAULT_E_CONFIG, NULL,
		    "the backup directory must be vaultd's, with mode 0700, on a path "
		    "only root and vaultd's user can change");
	}
	snprintf(path, sizeof(path), "%s/%.*s", svc->cfg.backup_dir, (int)len, name);
	if (lstat(path, &st) == 0)
		return op_fail(err, VAULT_E_CONFLICT, "name", "a backup of that name exists");
	/* A unique temporary name; a backup name never starts with a dot, so
	 * the next start knows a leftover one (backupfile_cleanup_partials()). */
	char prefix[sizeof(tmp)];
	snprintf(prefix, sizeof(prefix), "%s/.%.*s" BACKUP_PARTIAL, svc->cfg.backup_dir,
	    (int)len, name);
	int fd = tmpfile_create(prefix, tmp, sizeof(tmp));
	if (fd < 0)
		return op_fail(err, VAULT_E_IO, NULL, "cannot create the backup file");
	const char *fail = "the copy failed";
	struct backup_info *bi = calloc(1, sizeof(*bi));
	rc = bi == NULL ? ENOMEM : store_copy(&svc->store, fd);
	if (rc < 0) /* a store result: as the errno the rest of this speaks */
		rc = rc == STORE_E_DISK_FULL ? ENOSPC : EIO;
	if (rc == 0 && fsync(fd) != 0)
		rc = errno;
	if (rc == 0) {
		off_t end = lseek(fd, 0, SEEK_END);
		bi->data_size = end > 0 ? (uint64_t)end : 0;
		bi->created = (uint64_t)time(NULL);
		/* What the trailer says is read back from the copy itself. */
		if (end <= 0 || backupfile_hash(fd, bi->data_size, bi->hash) != 0 ||
		    backupfile_scan(tmp, bi, &fail) != 0 ||
		    backupfile_trailer_write(fd, bi) != 0 || fsync(fd) != 0)
			rc = EIO;
	}
	off_t fsize = lseek(fd, 0, SEEK_END);
	close(fd);
	if (rc == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
		if (errno == EEXIST) {
			unlink(tmp);
			free(bi);
			return op_fail(err, VAULT_E_CONFLICT, "name", "a backup of that name exists");
		}
		rc = errno ? errno : EIO;
	}
	if (rc == 0) {
		int dfd = open(svc->cfg.backup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) != 0)
			rc = EIO;
		if (dfd >= 0)
			close(dfd);
	}
	if (rc != 0) {
		log_warn("backup: %s (%s); nothing was kept", fail, strerror(rc > 0 ? rc : EIO));
		unlink(tmp);
		free(bi);
		return op_fail(err, rc == ENOSPC ? VAULT_E_NO_SPACE : VAULT_E_IO,
		    NULL, "the backup failed; nothing was kept");
	}
	uint64_t size = fsize > 0 ? (uint64_t)fsize : 0; /* the file, trailer included */
	free(bi);
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
