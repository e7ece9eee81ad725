/*
 * store_lmdb.h - the LMDB backend of the storage interface (store.h): the
 * embedded default, one data file per vault.
 */
#ifndef VAULT_STORE_STORE_LMDB_H
#define VAULT_STORE_STORE_LMDB_H

#include <stddef.h>

#include "store.h"

/* store_lmdb_open() flags */
#define STORE_LMDB_FILE 0x1u   /* path is one file with no lock file (MDB_NOSUBDIR | MDB_NOLOCK) */
#define STORE_LMDB_RDONLY 0x2u /* open read-only; missing tables stay missing */

/*
 * Open the environment at path and its tables. A store result; *why says
 * what failed (static text).
 */
int store_lmdb_open(struct store *s, const char *path, size_t map_size,
    unsigned max_readers, unsigned flags, const char **why);

#endif
