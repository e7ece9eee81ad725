/*
 * tmpfile.c - unique temporary names and removing a crash's leftovers
 * (see tmpfile.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tmpfile.h"

int
tmpfile_create(const char *prefix, char *path, size_t cap)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		uint8_t r[TMPFILE_SUFFIX_HEX / 2];
		char hex[TMPFILE_SUFFIX_HEX + 1];
		randombytes_buf(r, sizeof(r));
		sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
		if (snprintf(path, cap, "%s%s", prefix, hex) >= (int)cap) {
			errno = ENAMETOOLONG;
			return -1;
		}
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1; /* errno is EEXIST: someone keeps making our names */
}

static int
suffix_matches(const char *s, int bare)
{
	size_t n = strlen(s);
	if (n == 0)
		return bare;
	if (n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int
tmpfile_sweep(const char *dir, const char *prefix, int bare,
    void (*removed)(const char *name, void *arg), void *arg)
{
	size_t plen = strlen(prefix);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		int e = errno;
		close(dfd);
		errno = e;
		return -1;
	}
	int count = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (strncmp(de->d_name, prefix, plen) != 0 ||
		    !suffix_matches(de->d_name + plen, bare))
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid != geteuid())
			continue;
		if (unlinkat(dfd, de->d_name, 0) != 0)
			continue;
		count++;
		if (removed != NULL)
			removed(de->d_name, arg);
	}
	if (count > 0)
		fsync(dfd);
	closedir(d); /* closes dfd */
	return count;
}
