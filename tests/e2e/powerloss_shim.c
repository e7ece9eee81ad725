/*
 * powerloss_shim.c - what a power loss would leave, for tests only
 * (LD_PRELOAD; e2e-powerloss sets it for the vaultd it starts and nothing
 * else).
 *
 * For every regular file under $POWERLOSS_DIR it keeps a shadow copy in
 * $POWERLOSS_SHADOW holding only what the program made durable:
 *   - fsync(fd) or fdatasync(fd): the file as it is when the call is made
 *     (what was written before it) becomes the shadow copy, before the
 *     real call runs;
 *   - pwrite(2) on a descriptor opened with O_DSYNC or O_SYNC (LMDB's meta
 *     page): those bytes, once written, go into the shadow copy at their
 *     offset.
 * Every other write is lost. A test kills the program and then puts each
 * shadow copy in place of its file (files never flushed stay as they were):
 * the directory as a power loss at that moment could leave it, dropping
 * every write that was not flushed. Shadow files are named by the path
 * below $POWERLOSS_DIR with '/' as '%'. Directory flushes and renames are
 * not modelled (a renamed file keeps its contents). Nothing else is touched.
 */
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
#include <sys/types.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The shadow path of fd's file into out, or 0 if it is not watched. */
static int
shadow_of(int fd, char *out, size_t len)
{
	const char *dir = getenv("POWERLOSS_DIR"), *shadow = getenv("POWERLOSS_SHADOW");
	char link[64], path[PATH_MAX];
	struct stat st;
	if (dir == NULL || shadow == NULL || *dir == '\0' || fstat(fd, &st) != 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	size_t dl = strlen(dir);
	if (n <= 0 || (size_t)n <= dl + 1 || strncmp(path, dir, dl) != 0 || path[dl] != '/')
		return 0;
	path[n] = '\0';
	int k = snprintf(out, len, "%s/", shadow);
	for (const char *p = path + dl + 1; *p && (size_t)k + 1 < len; p++)
		out[k++] = *p == '/' ? '%' : *p;
	out[k] = '\0';
	return 1;
}

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static void
resolve(void)
{
	if (real_fsync == NULL) {
		real_pwrite = dlsym(RTLD_NEXT, "pwrite");
		real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
		real_fsync = dlsym(RTLD_NEXT, "fsync");
		real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
	}
}

/* The file behind fd, as it is now, becomes its shadow copy. */
static void
snapshot(int fd)
{
	char shadow[PATH_MAX], tmp[PATH_MAX + 8], link[64];
	char buf[1 << 16];
	int saved = errno;
	if (!shadow_of(fd, shadow, sizeof(shadow))) {
		errno = saved;
		return;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	snprintf(tmp, sizeof(tmp), "%s.tmp", shadow);
	pthread_mutex_lock(&lock);
	int in = open(link, O_RDONLY | O_CLOEXEC);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t r = 0;
	off_t at = 0;
	if (in >= 0 && out >= 0) {
		while ((r = pread(in, buf, sizeof(buf), at)) > 0) {
			if (real_pwrite(out, buf, (size_t)r, at) != r) {
				r = -1;
				break;
			}
			at += r;
		}
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (in < 0 || out < 0 || r < 0 || rename(tmp, shadow) != 0)
		abort(); /* a test that cannot model the loss must not pass */
	pthread_mutex_unlock(&lock);
	errno = saved;
}

/* n bytes at off, written to fd: durable now if fd is O_DSYNC. */
static void
dsync_written(int fd, const void *p, ssize_t n, off_t off)
{
	char shadow[PATH_MAX];
	int saved = errno;
	int fl = fcntl(fd, F_GETFL);
	if (n <= 0 || fl < 0 || !(fl & O_DSYNC) || !shadow_of(fd, shadow, sizeof(shadow))) {
		errno = saved;
		return;
	}
	pthread_mutex_lock(&lock);
	int out = open(shadow, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (out < 0 || real_pwrite(out, p, (size_t)n, off) != n)
		abort();
	close(out);
	pthread_mutex_unlock(&lock);
	errno = saved;
}

int
fsync(int fd)
{
	resolve();
	snapshot(fd);
	return real_fsync(fd);
}

int
fdatasync(int fd)
{
	resolve();
	snapshot(fd);
	return real_fdatasync(fd);
}

ssize_t
pwrite(int fd, const void *p, size_t n, off_t off)
{
	resolve();
	ssize_t r = real_pwrite(fd, p, n, off);
	dsync_written(fd, p, r, off);
	return r;
}

ssize_t
pwrite64(int fd, const void *p, size_t n, off64_t off)
{
	resolve();
	ssize_t r = real_pwrite64(fd, p, n, off);
	dsync_written(fd, p, r, (off_t)off);
	return r;
}
