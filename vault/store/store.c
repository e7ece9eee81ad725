/*
 * store.c - the storage interface's wrappers, results and the few entries
 * of meta every backend shares (store.h). The wrappers are the only callers
 * of a backend's methods.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vault/vault.h>

#include "store.h"
#include "store_lmdb.h"
#include "store_pgsql.h"
#include "vault/log.h"

static const char *const table_names[STORE_NTABLES] = {
	[STORE_META] = "meta",
	[STORE_RECORDS] = "records",
	[STORE_DOCUMENTS] = "documents",
	[STORE_TOMBSTONES] = "tombstones",
	[STORE_CARD_INDEX] = "card_index",
	[STORE_DET_INDEX] = "det_index",
	[STORE_BLIND_INDEX] = "blind_index",
	[STORE_BLIND_RECORD] = "blind_record",
	[STORE_REQUESTS] = "requests",
	[STORE_HOLDS] = "holds",
	[STORE_RECORD_HOLDS] = "record_holds",
	[STORE_VERIFY_IDS] = "verify_ids",
	[STORE_RECIPIENTS] = "recipients",
	[STORE_DELETIONS] = "deletions",
};

const char *
store_table_name(enum store_table t)
{
	return (unsigned)t < STORE_NTABLES ? table_names[t] : "?";
}

const char *
store_strerror(int rc)
{
	switch (rc) {
	case STORE_OK:
		return "success";
	case STORE_NOTFOUND:
		return "not found";
	case STORE_EXISTS:
		return "the key exists";
	case STORE_E_FULL:
		return "the store is full (raise map_size)";
	case STORE_E_DISK_FULL:
		return "the file system under the store is full";
	case STORE_E_NOMEM:
		return "out of memory";
	case STORE_E_CORRUPT:
		return "the store is damaged";
	case STORE_E_UNAVAILABLE:
		return "the store cannot be reached";
	case STORE_E_UNCERTAIN:
		return "the commit's outcome is unknown (the connection was lost)";
	default:
		return "the store failed (see the log line before this one)";
	}
}

int
store_error(int rc)
{
	switch (rc) {
	case STORE_OK:
		return 0;
	case STORE_NOTFOUND:
		return VAULT_E_NOT_FOUND;
	case STORE_E_FULL:
	case STORE_E_DISK_FULL:
		return VAULT_E_NO_SPACE;
	case STORE_E_NOMEM:
		return VAULT_E_NOMEM;
	case STORE_E_UNAVAILABLE:
		return VAULT_E_UNAVAILABLE;
	case STORE_E_UNCERTAIN:
		return VAULT_E_UNCERTAIN;
	default:
		return VAULT_E_STORAGE;
	}
}

void
store_log_failure(const char *text, int code)
{
	static struct log_limit limit;
	unsigned n;
	if (!log_limit_pass(&limit, &n))
		return;
	if (n > 0)
		log_error("storage: %s (%d); and %u more since the last such line", text, code, n);
	else
		log_error("storage: %s (%d)", text, code);
}

int
store_errno(int e)
{
	switch (e) {
	case 0:
		return 0;
	case ENOSPC:
	case EDQUOT:
		return VAULT_E_NO_SPACE;
	case ENOMEM:
		return VAULT_E_NOMEM;
	default:
		store_log_failure(strerror(e), e);
		return VAULT_E_STORAGE;
	}
}

/* The open result as a vault error, as store_open() promises. */
static int
open_error(int rc)
{
	return rc == STORE_E_FULL || rc == STORE_E_DISK_FULL ? VAULT_E_NO_SPACE :
	    VAULT_E_STORAGE;
}

/*
 * Check the schema, or write it into a new store. Schemas 1 (records
 * without a MAC) and 2 (blind tags under index keys) are refused, not
 * upgraded: the format changed before 1.0, with no deployed data to carry
 * over, and an upgrade would have to trust every unauthenticated header it
 * found.
 */
static int
check_schema(struct store *s, const char **why)
{
	static const uint8_t ver_be[4] = { 0, 0, 0, STORE_SCHEMA_VERSION };
	struct store_txn *txn;
	struct store_val k = { 6, "schema" }, v;
	int rc;

	*why = "cannot open the databases";
	if ((rc = store_txn_begin(s, NULL, 0, &txn)) != 0)
		return open_error(rc);
	rc = store_get(txn, STORE_META, &k, &v);
	if (rc == STORE_NOTFOUND) {
		v.len = 4;
		v.data = ver_be;
		if ((rc = store_put(txn, STORE_META, &k, &v, 0)) != 0) {
			store_txn_abort(txn);
			return open_error(rc);
		}
	} else if (rc != 0) {
		store_txn_abort(txn);
		return open_error(rc);
	} else if (v.len != 4 || memcmp(v.data, ver_be, 4) != 0) {
		*why = v.len == 4 && memcmp(v.data, "\0\0\0\1", 4) == 0 ?
		    "the data directory has schema 1 (records without a MAC), which this "
		    "version refuses: create a new one" :
		    v.len == 4 && memcmp(v.data, "\0\0\0\2", 4) == 0 ?
		    "the data directory has schema 2 (token indexes and blind tags keyed by "
		    "keys that outlive the erasure horizon), which this version refuses: create a new one" :
		    "the data directory has an unsupported schema version";
		store_txn_abort(txn);
		return VAULT_E_CONFIG;
	}
	if ((rc = store_txn_commit(txn)) != 0)
		return open_error(rc);
	*why = NULL;
	return 0;
}

int
store_open(struct store *s, const char *dir, size_t map_size,
    unsigned max_readers, const char **why)
{
	int rc = store_lmdb_open(s, dir, map_size, max_readers, 0, why);
	if (rc != 0)
		return open_error(rc);
	if ((rc = check_schema(s, why)) != 0) {
		store_close(s);
		return rc;
	}
	/* A reader that died holding a slot pins old pages: clear such slots. */
	store_reader_check(s);
	return 0;
}

int
store_open_pgsql(struct store *s, const char *conninfo, unsigned max_conns,
    const char **why)
{
	int rc = store_pgsql_open(s, conninfo, max_conns, why);
	if (rc != 0)
		return open_error(rc);
	if ((rc = check_schema(s, why)) != 0) {
		store_close(s);
		return rc;
	}
	return 0;
}

int
store_open_file(struct store *s, const char *path, size_t map_size,
    unsigned flags, const char **why)
{
	int rc = store_lmdb_open(s, path, map_size, 2, STORE_LMDB_FILE |
	    (flags & STORE_FILE_RDONLY ? STORE_LMDB_RDONLY : 0), why);
	return rc != 0 ? open_error(rc) : 0;
}

void
store_close(struct store *s)
{
	if (s->m != NULL)
		s->m->close(s);
	s->m = NULL;
	s->impl = NULL;
}

int
store_txn_begin(struct store *s, struct store_txn *parent, unsigned flags,
    struct store_txn **txn)
{
	return s->m->txn_begin(s, parent, flags, txn);
}

int
store_txn_commit(struct store_txn *txn)
{
	return txn->m->txn_commit(txn);
}

void
store_txn_abort(struct store_txn *txn)
{
	txn->m->txn_abort(txn);
}

void
store_txn_reset(struct store_txn *txn)
{
	txn->m->txn_reset(txn);
}

int
store_txn_renew(struct store_txn *txn)
{
	return txn->m->txn_renew(txn);
}

int
store_get(struct store_txn *txn, enum store_table t, const struct store_val *key,
    struct store_val *val)
{
	return txn->m->get(txn, t, key, val);
}

int
store_put(struct store_txn *txn, enum store_table t, const struct store_val *key,
    const struct store_val *val, unsigned flags)
{
	return txn->m->put(txn, t, key, val, flags);
}

int
store_del(struct store_txn *txn, enum store_table t, const struct store_val *key)
{
	return txn->m->del(txn, t, key);
}

int
store_count(struct store_txn *txn, enum store_table t, uint64_t *entries)
{
	return txn->m->count(txn, t, entries);
}

int
store_cursor_open(struct store_txn *txn, enum store_table t, struct store_cursor **c)
{
	return txn->m->cursor_open(txn, t, c);
}

int
store_cursor_get(struct store_cursor *c, struct store_val *key, struct store_val *val,
    enum store_cursor_op op)
{
	return c->m->cursor_get(c, key, val, op);
}

int
store_cursor_put(struct store_cursor *c, const struct store_val *val)
{
	return c->m->cursor_put(c, val);
}

int
store_cursor_del(struct store_cursor *c)
{
	return c->m->cursor_del(c);
}

void
store_cursor_close(struct store_cursor *c)
{
	if (c != NULL)
		c->m->cursor_close(c);
}

int
store_copy(struct store *s, int fd)
{
	return s->m->copy(s, fd);
}

int
store_purges(const struct store *s)
{
	return s->m->version >= 2 && s->m->purge != NULL;
}

int
store_shared(const struct store *s)
{
	return s->m->version >= 3 && s->m->shared;
}

int
store_lead(struct store *s)
{
	return store_shared(s) && s->m->lead != NULL ? s->m->lead(s) : 1;
}

int
store_purge(struct store *s, uint64_t *before, uint64_t *after)
{
	*before = *after = 0;
	return store_purges(s) ? s->m->purge(s, before, after) : STORE_NOTFOUND;
}

int
store_carries(const struct store *s)
{
	return s->m != NULL && s->m->version >= 5 && s->m->carries != NULL && s->m->carries(s);
}

int
store_txn_carry(struct store_txn *txn, const char *path, uint64_t dev, uint64_t ino,
    uint64_t off, const void *bytes, size_t len)
{
	if (txn->m->version < 5 || txn->m->carry == NULL)
		return STORE_E_FAILED;
	return txn->m->carry(txn, path, dev, ino, off, bytes, len);
}

int
store_checkpoint(struct store *s)
{
	if (s->m == NULL || s->m->version < 5 || s->m->checkpoint == NULL)
		return 0;
	return s->m->checkpoint(s);
}

void
store_reader_check(struct store *s)
{
	s->m->reader_check(s);
}

int
store_set_durable(struct store *s, int durable)
{
	return s->m->set_durable(s, durable);
}

int
store_next_id(struct store_txn *txn, uint64_t *next)
{
	struct store_val k = { 7, "next_id" }, v;
	int rc = store_get(txn, STORE_META, &k, &v);
	if (rc == STORE_NOTFOUND) {
		*next = 1;
		return 0;
	}
	if (rc != 0)
		return store_error(rc);
	if (v.len != 8)
		return VAULT_E_CRYPTO;
	*next = store_get_id(v.data);
	return 0;
}

#define AUDIT_HEAD_KEY "audit_head"

/* "audit_head" or "audit_head/<node>" into out (sized for a node_name). */
static struct store_val
anchor_key(const char *node, char *out, size_t cap)
{
	int n = node == NULL ? snprintf(out, cap, "%s", AUDIT_HEAD_KEY) :
	    snprintf(out, cap, "%s/%s", AUDIT_HEAD_KEY, node);
	struct store_val k = { n > 0 && (size_t)n < cap ? (size_t)n : 0, out };
	return k;
}

const char *
store_anchor_node(const struct store *s, const char *node)
{
	return store_shared(s) ? node : NULL;
}

int
store_audit_anchor_get(struct store_txn *txn, const char *node, uint64_t *seq,
    uint8_t mac[STORE_AUDIT_MAC_BYTES])
{
	char kb[96];
	struct store_val k = anchor_key(node, kb, sizeof kb), v;
	if (k.len == 0)
		return VAULT_E_INVALID_VALUE;
	int rc = store_get(txn, STORE_META, &k, &v);
	if (rc != 0)
		return store_error(rc);
	if (v.len != 8 + STORE_AUDIT_MAC_BYTES)
		return VAULT_E_STORAGE;
	*seq = store_get_id(v.data);
	memcpy(mac, (const uint8_t *)v.data + 8, STORE_AUDIT_MAC_BYTES);
	return 0;
}

int
store_audit_anchor_put(struct store_txn *txn, const char *node, uint64_t seq,
    const uint8_t mac[STORE_AUDIT_MAC_BYTES])
{
	char kb[96];
	uint8_t b[8 + STORE_AUDIT_MAC_BYTES];
	store_put_id(b, seq);
	memcpy(b + 8, mac, STORE_AUDIT_MAC_BYTES);
	struct store_val k = anchor_key(node, kb, sizeof kb), v = { sizeof(b), b };
	if (k.len == 0)
		return STORE_E_FAILED;
	return store_put(txn, STORE_META, &k, &v, 0);
}

int
store_audit_anchor_adopt(struct store *s, const char *node)
{
	struct store_txn *txn;
	uint64_t seq;
	uint8_t mac[STORE_AUDIT_MAC_BYTES];
	int rc = store_txn_begin(s, NULL, 0, &txn);
	if (rc != 0)
		return store_error(rc);
	rc = store_audit_anchor_get(txn, node, &seq, mac);
	if (rc == VAULT_E_NOT_FOUND) {
		rc = store_audit_anchor_get(txn, NULL, &seq, mac);
		if (rc == 0) {
			struct store_val k = { sizeof(AUDIT_HEAD_KEY) - 1, AUDIT_HEAD_KEY };
			int e = store_audit_anchor_put(txn, node, seq, mac);
			if (e == 0)
				e = store_del(txn, STORE_META, &k);
			if (e == 0)
				e = store_txn_commit(txn);
			else
				store_txn_abort(txn);
			return e == 0 ? 0 : store_error(e);
		}
	}
	store_txn_abort(txn);
	return rc == VAULT_E_NOT_FOUND ? 0 : rc;
}

long long
store_unreachable_since(struct store *s)
{
	if (s->m == NULL || s->m->version < 4 || s->m->unreachable_since == NULL)
		return 0;
	return s->m->unreachable_since(s);
}
