/*
 * safedir.c - whether a directory can be replaced by someone other than
 * vaultd's user or root (see safedir.h).
 *
 * A directory is only as private as the path that leads to it: whoever may
 * write to any directory on the way (without the sticky bit) can rename
 * the next step away and put a directory of their own in its place, with a
 * socket or files of their own in it. So the walk checks each step with
 * lstat, and follows a symbolic link by walking its target's path the same
 * way (a link in a chain of links is a step in the walk of the one before).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safedir.h"

static int
trusted_owner(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* One step of the walk: a directory or a link nobody else may replace. */
static int
check_step(const char *path, const struct stat *st, char *err, size_t errlen)
{
	if (!trusted_owner(st->st_uid)) {
		snprintf(err, errlen, "%s is owned by uid %ld, neither root nor vaultd's user",
		    path, (long)st->st_uid);
		return -1;
	}
	if (S_ISLNK(st->st_mode))
		return 0;
	if (!S_ISDIR(st->st_mode)) {
		snprintf(err, errlen, "%s is not a directory", path);
		return -1;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX)) {
		snprintf(err, errlen, "%s is writable by %s (mode %04o) without the sticky "
		    "bit: they could replace what it holds", path,
		    (st->st_mode & S_IWOTH) ? "others" : "its group",
		    (unsigned)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Links followed in one walk, as the kernel's limit (40 in Linux). */
#define MAX_LINKS 40

/*
 * Check every prefix of the absolute path abs ("/", "/a", "/a/b", ...),
 * the whole path too unless skip_last. links: how many were followed to
 * get here.
 */
static int
walk(const char *abs, int skip_last, int *links, char *err, size_t errlen)
{
	char prefix[PATH_MAX], target[PATH_MAX], next_abs[PATH_MAX];
	size_t n = strlen(abs), i = 0;
	struct stat st;

	if (n >= sizeof(prefix) || abs[0] != '/') {
		snprintf(err, errlen, "%.200s: not an absolute path shorter than %d bytes",
		    abs, PATH_MAX);
		return -1;
	}
	if (lstat("/", &st) != 0 || check_step("/", &st, err, errlen) != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "/: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		while (i < n && abs[i] == '/')
			i++;
		if (i == n)
			return 0;
		size_t end = i;
		while (end < n && abs[end] != '/')
			end++;
		size_t next = end;
		while (next < n && abs[next] == '/')
			next++;
		if (next == n && skip_last)
			return 0;
		memcpy(prefix, abs, end);
		prefix[end] = '\0';
		if (lstat(prefix, &st) != 0) {
			snprintf(err, errlen, "%s: %s", prefix, strerror(errno));
			return -1;
		}
		if (check_step(prefix, &st, err, errlen) != 0)
			return -1;
		if (S_ISLNK(st.st_mode)) {
			ssize_t len = readlink(prefix, target, sizeof(target) - 1);
			if (len < 0) {
				snprintf(err, errlen, "%s: %s", prefix, strerror(errno));
				return -1;
			}
			target[len] = '\0';
			if (++*links > MAX_LINKS) {
				snprintf(err, errlen, "%s: too many symbolic links", abs);
				return -1;
			}
			/* A relative target starts from the link's own directory. */
			int w = target[0] == '/' ?
			    snprintf(next_abs, sizeof(next_abs), "%s", target) :
			    snprintf(next_abs, sizeof(next_abs), "%.*s/%s", (int)i, abs, target);
			if (w < 0 || (size_t)w >= sizeof(next_abs)) {
				snprintf(err, errlen, "%s: link target too long", prefix);
				return -1;
			}
			if (walk(next_abs, 0, links, err, errlen) != 0)
				return -1;
		}
		i = end;
	}
}

/* dir as an absolute path: the working directory prepended if relative. */
static int
absolute(const char *dir, char out[PATH_MAX], char *err, size_t errlen)
{
	char cwd[PATH_MAX];

	if (dir[0] == '/') {
		if (strlen(dir) >= PATH_MAX)
			goto too_long;
		memcpy(out, dir, strlen(dir) + 1);
		return 0;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		snprintf(err, errlen, "the working directory: %s", strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", cwd, dir) >= PATH_MAX)
		goto too_long;
	return 0;
too_long:
	snprintf(err, errlen, "%.200s: path longer than %d bytes", dir, PATH_MAX - 1);
	return -1;
}

int
safedir_ancestors(const char *dir, char *err, size_t errlen)
{
	char abs[PATH_MAX];

	err[0] = '\0';
	if (absolute(dir, abs, err, errlen) != 0)
		return -1;
	int links = 0;
	return walk(abs, 1, &links, err, errlen);
}

int
safedir_path(const char *dir, char *err, size_t errlen)
{
	char abs[PATH_MAX];

	err[0] = '\0';
	if (absolute(dir, abs, err, errlen) != 0)
		return -1;
	int links = 0;
	return walk(abs, 0, &links, err, errlen);
}

int
safedir_own(const char *dir, mode_t forbidden, char *err, size_t errlen)
{
	struct stat st;

	err[0] = '\0';
	if (lstat(dir, &st) != 0) {
		if (errno == ENOENT)
			return -2;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "%s is a symbolic link: give the real directory", dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s is owned by uid %ld, not by vaultd's user (uid %ld)",
		    dir, (long)st.st_uid, (long)geteuid());
		return -1;
	}
	if (st.st_mode & forbidden) {
		snprintf(err, errlen, "%s has mode %04o: at most %04o", dir,
		    (unsigned)(st.st_mode & 07777), (unsigned)(07777 & ~forbidden & ~07000));
		return -1;
	}
	return 0;
}

int
safedir_config_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return -1;
	}
	if (!trusted_owner(st.st_uid)) {
		snprintf(err, errlen, "owned by uid %ld: it must belong to root or to "
		    "vaultd's user (uid %ld)", (long)st.st_uid, (long)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "writable by %s (mode %04o): whoever may write it "
		    "decides who may see what; run chmod go-w on it",
		    (st.st_mode & S_IWOTH) ? "others" : "its group",
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}
