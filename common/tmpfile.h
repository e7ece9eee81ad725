/*
 * tmpfile.h - temporary files that a crash may leave behind, and removing
 * them at the next start.
 *
 * A temporary is named PREFIX + 16 random hex digits (for example
 * "keyring.tmp.3f09c1d2a4b5e6f7") in the directory of the file it will
 * replace, created O_EXCL|O_NOFOLLOW with mode 0600: a fixed name (the
 * pid: always 1 in a container) collides with a crash's leftover and a
 * random one does not, and no one can plant a link where we write.
 * Leftovers may hold material the service has since destroyed (an old key
 * ring epoch, freed data pages), so the program that writes them removes
 * every name of its pattern when it starts (tmpfile_sweep()).
 */
#ifndef VAULT_COMMON_TMPFILE_H
#define VAULT_COMMON_TMPFILE_H

#include <stddef.h>

#define TMPFILE_SUFFIX_HEX 16

/*
 * Create PREFIX + 16 random hex digits, O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|
 * O_CLOEXEC (read too: a backup hashes what it wrote), mode 0600, trying new names on EEXIST (a few times). The name
 * goes to path (cap bytes). Returns the descriptor, or -1 with errno set
 * (ENAMETOOLONG if it does not fit).
 */
int tmpfile_create(const char *prefix, char *path, size_t cap);

/*
 * Remove from dir the leftovers named prefix + 1 to 32 hex digits (this
 * covers the random names above and the older "<pid>" names), and the bare
 * prefix too if bare is set. Only regular files owned by the effective uid
 * are removed (never a link, a directory or another user's file); removed()
 * (may be NULL) is told each name removed, so the caller can log it. The
 * directory is synced when something was removed. Returns how many were
 * removed, or -1 with errno if dir cannot be read.
 */
int tmpfile_sweep(const char *dir, const char *prefix, int bare,
    void (*removed)(const char *name, void *arg), void *arg);

#endif
