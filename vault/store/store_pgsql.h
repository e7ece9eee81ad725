/*
 * store_pgsql.h - the PostgreSQL backend of the storage interface (store.h):
 * the store of record for more than one machine. Schema, versioning and
 * settings: doc/storage-postgresql.md.
 */
#ifndef VAULT_STORE_STORE_PGSQL_H
#define VAULT_STORE_STORE_PGSQL_H

#include "store.h"

/* The version of the backend's own tables (vault_schema), not of the data. */
#define STORE_PGSQL_SCHEMA_VERSION 1

/*
 * Open the store in the database conninfo names (a libpq connection string
 * or URI; several hosts with target_session_attrs=read-write for failover),
 * creating or migrating the backend's tables. At most max_conns connections
 * (>= 1): one per open transaction. A store result; *why says what failed
 * (static text, the detail is in the log).
 */
int store_pgsql_open(struct store *s, const char *conninfo, unsigned max_conns,
    const char **why);

/*
 * Connect to conninfo and disconnect, creating nothing (vaultd --check). A
 * store result; *why as above. Neither this nor store_pgsql_open() logs
 * the conninfo or libpq's parse errors of it, which may quote a password.
 */
int store_pgsql_ping(const char *conninfo, const char **why);

/* "host H, database D" of an open store (PQhost, PQdb: never the conninfo)
 * into out; "?" for what cannot be known. */
void store_pgsql_describe(struct store *s, char *out, size_t cap);

#endif
