/*
 * credential.c - reading the root key from systemd's credentials directory
 * (see credential.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "credential.h"
#include "keys/keyring.h"
#include "keys/pin.h"

#define CREDENTIAL_NAME "root.key"
#define PIN_CREDENTIAL_NAME "pkcs11.pin"

static int
credential_path(const char *name, char *out, size_t cap)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	struct stat st;
	/* systemd sets an absolute path; anything else is not its directory. */
	if (dir == NULL || dir[0] != '/')
		return 0;
	int n = snprintf(out, cap, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return lstat(out, &st) == 0;
}

int
credential_root_key_path(char *out, size_t cap)
{
	return credential_path(CREDENTIAL_NAME, out, cap);
}

int
credential_pkcs11_pin_path(char *out, size_t cap)
{
	return credential_path(PIN_CREDENTIAL_NAME, out, cap);
}

/*
 * The file's POSIX access ACL (the xattr layout of linux/posix_acl_xattr.h:
 * u32 version 2, then entries of u16 tag, u16 permissions, u32 id, all
 * little-endian): 1 if it lets no one but the file's owner and vaultd's
 * user read or write (systemd adds user:SERVICE:r--), 0 if it lets anyone
 * else, -1 if the file has none (then its mode bits say it all).
 */
#define ACL_USER_OBJ 0x01
#define ACL_USER 0x02
#define ACL_MASK 0x10
#define ACL_READ_WRITE 0x06

static uint32_t
le(const uint8_t *p, int n)
{
	uint32_t v = 0;
	while (n-- > 0)
		v = (v << 8) | p[n];
	return v;
}

static int
acl_readers_ok(int fd)
{
	uint8_t acl[1024];
	ssize_t n = fgetxattr(fd, "system.posix_acl_access", acl, sizeof(acl));
	if (n < 0)
		return errno == ENODATA || errno == ENOTSUP ? -1 : 0;
	if (n < 4 || (n - 4) % 8 != 0 || le(acl, 4) != 2)
		return 0;
	for (const uint8_t *e = acl + 4; e < acl + n; e += 8) {
		unsigned tag = le(e, 2), perm = le(e + 2, 2);
		uid_t id = (uid_t)le(e + 4, 4);
		if ((perm & ACL_READ_WRITE) == 0 || tag == ACL_USER_OBJ || tag == ACL_MASK)
			continue;
		if (tag != ACL_USER || id != geteuid())
			return 0;
	}
	return 1;
}

static int
owner_ok(const struct stat *st)
{
	return st->st_uid == 0 || st->st_uid == geteuid();
}

/*
 * Open the credential at path after checking its directory, owner and
 * readers (credential.h); 0 with *fd and *st, or an error with *why.
 */
static int
credential_open(const char *path, int *fdp, struct stat *stp, const char **why)
{
	char dir[512];
	struct stat st;
	int fd = -1, rc = VAULT_E_KEYRING;

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir) {
		*why = "not in a credentials directory";
		return VAULT_E_KEYRING;
	}
	*slash = '\0';
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		*why = "the credentials directory is not a directory";
		return VAULT_E_KEYRING;
	}
	if (!owner_ok(&st) || (st.st_mode & (S_IWGRP | S_IRWXO)) != 0) {
		*why = "the credentials directory must be owned by root or vaultd's user "
		    "and closed to others";
		return VAULT_E_KEYRING;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		*why = errno == ELOOP ? "a symbolic link, not a credential" :
		    "cannot open the credential";
		return errno == ELOOP ? VAULT_E_KEYRING : VAULT_E_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		goto out;
	}
	if (!owner_ok(&st)) {
		*why = "owned by another user than root or vaultd's";
		goto out;
	}
	/* With an ACL the group bits are its mask: the entries decide. */
	int acl = acl_readers_ok(fd);
	if (acl == 0) {
		*why = "its ACL lets a group or another user read or write it";
		goto out;
	}
	if (acl < 0 && (st.st_mode & 077) != 0) {
		*why = "accessible to group or others; systemd's LoadCredential= gives "
		    "mode 0400 (the key file it copies may be root's 0400)";
		goto out;
	}
	*fdp = fd;
	*stp = st;
	return 0;
out:
	close(fd);
	return rc;
}

int
credential_read_pkcs11_pin(const char *path, char *pin, size_t *len, const char **why)
{
	struct stat st;
	int fd = -1;
	int rc = credential_open(path, &fd, &st, why);
	if (rc != 0)
		return rc;
	rc = pin_read_fd(fd, pin, len, why);
	close(fd);
	return rc;
}

int
credential_read_root_key(const char *path, uint8_t *root, const char **why)
{
	struct stat st;
	uint8_t extra;
	int fd = -1;
	int rc = credential_open(path, &fd, &st, why);
	if (rc != 0)
		return rc;
	rc = VAULT_E_KEYRING;
	if (st.st_size != KEYRING_KEY_BYTES) {
		*why = "a root key credential must hold exactly 32 bytes";
		goto out;
	}
	ssize_t n = read(fd, root, KEYRING_KEY_BYTES);
	if (n != KEYRING_KEY_BYTES || read(fd, &extra, 1) != 0) {
		sodium_memzero(root, KEYRING_KEY_BYTES);
		*why = n < 0 ? "cannot read the credential" :
		    "a root key credential must hold exactly 32 bytes";
		rc = n < 0 ? VAULT_E_IO : VAULT_E_KEYRING;
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}
