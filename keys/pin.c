/*
 * pin.c - reading a PKCS#11 PIN from a file into secure memory (see pin.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "pin.h"

int
pin_parse(char *buf, size_t n, size_t *len, const char **why)
{
	*len = 0;
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	*why = "the PIN is empty";
	if (n == 0)
		goto bad;
	*why = "the PIN is longer than 256 bytes";
	if (n > PKCS11_PIN_MAX)
		goto bad;
	*why = "the PIN holds a NUL byte or a line break (one PIN, one line)";
	if (memchr(buf, '\0', n) != NULL || memchr(buf, '\n', n) != NULL ||
	    memchr(buf, '\r', n) != NULL)
		goto bad;
	buf[n] = '\0';
	*len = n;
	*why = NULL;
	return 0;
bad:
	sodium_memzero(buf, PKCS11_PIN_BUF);
	return VAULT_E_KEYRING;
}

int
pin_read_fd(int fd, char *buf, size_t *len, const char **why)
{
	size_t off = 0;
	for (;;) {
		ssize_t r = read(fd, buf + off, PKCS11_PIN_BUF - 1 - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sodium_memzero(buf, PKCS11_PIN_BUF);
			*why = "cannot read the PIN file";
			return VAULT_E_IO;
		}
		if (r == 0)
			break;
		off += (size_t)r;
		if (off == PKCS11_PIN_BUF - 1) {
			char extra;
			if (read(fd, &extra, 1) > 0) {
				sodium_memzero(buf, PKCS11_PIN_BUF);
				*why = "the PIN is longer than 256 bytes";
				return VAULT_E_KEYRING;
			}
			break;
		}
	}
	return pin_parse(buf, off, len, why);
}

int
pin_read_file(const char *path, char *buf, size_t *len, const char **why)
{
	struct stat st;
	int rc = VAULT_E_KEYRING;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		*why = errno == ENOENT ? "the PIN file does not exist" :
		    errno == ELOOP ? "the PIN file is a symbolic link" : "cannot open the PIN file";
		return errno == ENOENT || errno == ELOOP ? VAULT_E_KEYRING : VAULT_E_IO;
	}
	*why = "the PIN file is not a regular file";
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	*why = "the PIN file is accessible to group or others; chmod 600 it";
	if ((st.st_mode & 077) != 0)
		goto out;
	*why = "the PIN file is owned by another user";
	if (st.st_uid != geteuid())
		goto out;
	rc = pin_read_fd(fd, buf, len, why);
out:
	close(fd);
	return rc;
}
