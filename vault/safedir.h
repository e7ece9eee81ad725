/*
 * safedir.h - is a directory vaultd's alone? The walk from / down to a
 * directory, where no step may be one that another user can replace, and
 * the check of the directory itself.
 */
#ifndef VAULT_SAFEDIR_H
#define VAULT_SAFEDIR_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Check every directory from / down to the parent of dir (dir itself is
 * not checked: see safedir_own). Each one, and each symbolic link on the
 * way, must be owned by root or by vaultd's effective uid, and a directory
 * writable by its group or by others must have the sticky bit (as /tmp
 * has): otherwise someone else could rename what it holds and put their
 * own in its place. A symbolic link is followed and its target's whole
 * path checked the same way. A relative dir is taken from the working
 * directory. Returns 0, or -1 with a message (paths, modes and uids only)
 * in err.
 */
int safedir_ancestors(const char *dir, char *err, size_t errlen);
/* The same walk, dir itself included (it may be a link, checked as above). */
int safedir_path(const char *dir, char *err, size_t errlen);

/*
 * Check dir itself: a directory (not a symbolic link to one), owned by
 * vaultd's effective uid, with none of the forbidden mode bits. Returns 0,
 * -1 with a message in err, or -2 (errno ENOENT, nothing in err) if it
 * does not exist.
 */
int safedir_own(const char *dir, mode_t forbidden, char *err, size_t errlen);

/*
 * Check a file vaultd trusts (the configuration, the policy): a regular
 * file (a link to one is followed), owned by root or vaultd's effective
 * uid, writable by neither its group nor others. Returns 0, or -1 with the
 * reason (without the path) in err.
 */
int safedir_config_file(const char *path, char *err, size_t errlen);

#endif
