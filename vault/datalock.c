/*
 * datalock.c - the data directory's lock file (see datalock.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datalock.h"

/* The pid written by the holder, or 0 if the file holds none. */
static long
holder_pid(int fd)
{
	char b[32];
	ssize_t n = pread(fd, b, sizeof(b) - 1, 0);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	char *end;
	long pid = strtol(b, &end, 10);
	return pid > 0 && (*end == '\n' || *end == '\0') ? pid : 0;
}

int
datalock_acquire(const char *data_dir, char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", data_dir, DATALOCK_FILE) >= sizeof(path)) {
		snprintf(err, errlen, "the data directory's path is too long");
		return -1;
	}
	/* O_NOFOLLOW: a symlink planted here must not make us create or
	 * truncate a file elsewhere. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s must be a regular file owned by this user", path);
		close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		long pid = holder_pid(fd);
		if (e == EWOULDBLOCK && pid > 0)
			snprintf(err, errlen, "the data directory %s is in use by vaultd pid %ld "
			    "(one vaultd per data directory)", data_dir, pid);
		else if (e == EWOULDBLOCK)
			snprintf(err, errlen, "the data directory %s is in use by another "
			    "vaultd (one vaultd per data directory)", data_dir);
		else
			snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
		close(fd);
		return -1;
	}
	char b[32];
	int n = snprintf(b, sizeof(b), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, b, (size_t)n, 0) != n) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
