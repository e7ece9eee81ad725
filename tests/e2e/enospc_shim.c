/*
 * enospc_shim.c - a full disk without root, for tests only (LD_PRELOAD;
 * e2e-diskfull sets it for the vaultd it starts and for nothing else).
 *
 * While the file $ENOSPC_FLAG exists, writes (write, pwrite, writev,
 * pwritev) to files under $ENOSPC_DIR fail with ENOSPC, and so do
 * fallocate and posix_fallocate there: that file system is full (only
 * bytes past a file's end count: rewriting in place needs no room). Space
 * freed there meanwhile (ftruncate shrinking a file under $ENOSPC_DIR,
 * which is how vaultd releases its audit reserve) becomes room that later
 * writes there use up, byte for byte, before they fail again. Once the
 * flag is removed everything passes through and the room is forgotten.
 * A file's directory is found from /proc/self/fd. statvfs() of a path
 * under $ENOSPC_DIR reports no free blocks while the flag exists (vaultd
 * tells a full disk from a full map by it). Nothing else is touched.
 */
/* Both names of each call are defined below: no redirection to the 64 ones. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long room; /* bytes freed under the directory while full */

/* Whether fd is a file under $ENOSPC_DIR while $ENOSPC_FLAG exists. */
static int
full_for(int fd)
{
	const char *dir = getenv("ENOSPC_DIR"), *flag = getenv("ENOSPC_FLAG");
	char link[64], path[PATH_MAX];
	if (dir == NULL || flag == NULL || *dir == '\0')
		return 0;
	int saved = errno;
	int full = access(flag, F_OK) == 0;
	if (!full) {
		pthread_mutex_lock(&lock);
		room = 0;
		pthread_mutex_unlock(&lock);
	} else {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, path, sizeof(path) - 1);
		size_t dl = strlen(dir);
		full = n > 0 && (size_t)n > dl && strncmp(path, dir, dl) == 0 &&
		    path[dl] == '/';
	}
	errno = saved;
	return full;
}

/* A write of len bytes on a full file system: 1 if the room left takes it. */
static int
take_room(size_t len)
{
	pthread_mutex_lock(&lock);
	int ok = room >= len;
	if (ok)
		room -= len;
	pthread_mutex_unlock(&lock);
	return ok;
}

/*
 * Whether a write of len bytes at off (-1: the file position, or the end
 * with O_APPEND) must fail. Only bytes past the end need new room:
 * rewriting a file in place (LMDB's pages and meta pages) never fails.
 */
static int
refuse(int fd, size_t len, off_t off)
{
	struct stat st;
	if (!full_for(fd))
		return 0;
	int saved = errno;
	if (fstat(fd, &st) == 0) {
		if (off < 0)
			off = (fcntl(fd, F_GETFL) & O_APPEND) ? st.st_size : lseek(fd, 0, SEEK_CUR);
		if (off >= 0 && off + (off_t)len <= st.st_size) {
			errno = saved;
			return 0;
		}
		if (off >= 0 && off < st.st_size)
			len = (size_t)(off + (off_t)len - st.st_size);
	}
	errno = saved;
	if (take_room(len))
		return 0;
	errno = ENOSPC;
	return 1;
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t
write(int fd, const void *buf, size_t n)
{
	if (refuse(fd, n, -1))
		return -1;
	return NEXT(write)(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (refuse(fd, n, off))
		return -1;
	return NEXT(pwrite)(fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	if (refuse(fd, n, (off_t)off))
		return -1;
	return NEXT(pwrite64)(fd, buf, n, off);
}

static size_t
iov_len(const struct iovec *iov, int cnt)
{
	size_t n = 0;
	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	if (refuse(fd, iov_len(iov, cnt), -1))
		return -1;
	return NEXT(writev)(fd, iov, cnt);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (refuse(fd, iov_len(iov, cnt), off))
		return -1;
	return NEXT(pwritev)(fd, iov, cnt, off);
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
	if (full_for(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return NEXT(fallocate)(fd, mode, off, len);
}

int
fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	if (full_for(fd)) {
		errno = ENOSPC;
		return -1;
	}
	return NEXT(fallocate64)(fd, mode, off, len);
}

int
posix_fallocate(int fd, off_t off, off_t len)
{
	if (full_for(fd))
		return ENOSPC;
	return NEXT(posix_fallocate)(fd, off, len);
}

int
posix_fallocate64(int fd, off64_t off, off64_t len)
{
	if (full_for(fd))
		return ENOSPC;
	return NEXT(posix_fallocate64)(fd, off, len);
}

/* Shrinking a file on the full file system frees that much room. */
static void
note_truncate(int fd, off_t len)
{
	struct stat st;
	if (full_for(fd) && fstat(fd, &st) == 0 && st.st_size > len) {
		pthread_mutex_lock(&lock);
		room += (unsigned long long)(st.st_size - len);
		pthread_mutex_unlock(&lock);
	}
}

int
ftruncate(int fd, off_t len)
{
	note_truncate(fd, len);
	return NEXT(ftruncate)(fd, len);
}

int
ftruncate64(int fd, off64_t len)
{
	note_truncate(fd, len);
	return NEXT(ftruncate64)(fd, len);
}

/* Whether path is $ENOSPC_DIR or under it while $ENOSPC_FLAG exists. */
static int
path_full(const char *path)
{
	const char *dir = getenv("ENOSPC_DIR"), *flag = getenv("ENOSPC_FLAG");
	char real[PATH_MAX];
	if (dir == NULL || flag == NULL || *dir == '\0')
		return 0;
	int saved = errno;
	size_t dl = strlen(dir);
	int full = access(flag, F_OK) == 0 && realpath(path, real) != NULL &&
	    strncmp(real, dir, dl) == 0 && (real[dl] == '/' || real[dl] == '\0');
	errno = saved;
	return full;
}

int
statvfs(const char *path, struct statvfs *buf)
{
	int rc = NEXT(statvfs)(path, buf);
	if (rc == 0 && path_full(path))
		buf->f_bavail = buf->f_bfree = 0;
	return rc;
}

int
statvfs64(const char *path, struct statvfs64 *buf)
{
	int rc = NEXT(statvfs64)(path, buf);
	if (rc == 0 && path_full(path))
		buf->f_bavail = buf->f_bfree = 0;
	return rc;
}
