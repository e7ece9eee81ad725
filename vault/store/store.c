/*
 * store.c - opening the LMDB environment (see store.h).
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <vault/vault.h>

#include "store.h"
#include "vault/log.h"

/*
 * A storage failure the caller only sees as VAULT_E_STORAGE: say which in
 * the log (LMDB's and errno's messages are static text, never data). At
 * most one line a second, with a count of those left out, so a store that
 * fails every request (MDB_PANIC) cannot flood the log.
 */
static void
log_storage_error(int rc)
{
	static _Atomic int64_t last;
	static atomic_uint suppressed;
	int64_t now = (int64_t)time(NULL), prev = atomic_load(&last);
	if (prev == now || !atomic_compare_exchange_strong(&last, &prev, now)) {
		atomic_fetch_add(&suppressed, 1);
		return;
	}
	unsigned n = atomic_exchange(&suppressed, 0);
	if (n > 0)
		log_error("storage: %s (%d); and %u more since the last such line",
		    mdb_strerror(rc), rc, n);
	else
		log_error("storage: %s (%d)", mdb_strerror(rc), rc);
}

int
store_error(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case ENOSPC:
	case EDQUOT:
		return VAULT_E_NO_SPACE;
	case ENOMEM:
		return VAULT_E_NOMEM;
	case MDB_NOTFOUND:
		return VAULT_E_NOT_FOUND;
	default:
		log_storage_error(rc);
		return VAULT_E_STORAGE;
	}
}

static int
open_dbi(MDB_txn *txn, const char *name, MDB_dbi *dbi)
{
	return mdb_dbi_open(txn, name, MDB_CREATE, dbi);
}

int
store_open(struct store *s, const char *dir, size_t map_size,
    unsigned max_readers, const char **why)
{
	MDB_txn *txn = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	*why = "cannot create the LMDB environment";
	if ((rc = mdb_env_create(&s->env)) != 0)
		goto fail;
	mdb_env_set_maxdbs(s->env, 16);
	mdb_env_set_maxreaders(s->env, max_readers);
	if ((rc = mdb_env_set_mapsize(s->env, map_size)) != 0) {
		*why = "invalid map size";
		goto fail;
	}
	/*
	 * MDB_NOTLS: each server worker keeps one read transaction and renews
	 * it per request. Default sync: a commit is durable when it returns.
	 */
	*why = "cannot open the data directory";
	if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600)) != 0)
		goto fail;
	*why = "cannot open the databases";
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = open_dbi(txn, "meta", &s->meta)) != 0 ||
	    (rc = open_dbi(txn, "records", &s->records)) != 0 ||
	    (rc = open_dbi(txn, "documents", &s->documents)) != 0 ||
	    (rc = open_dbi(txn, "tombstones", &s->tombstones)) != 0 ||
	    (rc = open_dbi(txn, "card_index", &s->card_index)) != 0 ||
	    (rc = open_dbi(txn, "det_index", &s->det_index)) != 0 ||
	    (rc = open_dbi(txn, "blind_index", &s->blind_index)) != 0 ||
	    (rc = open_dbi(txn, "blind_record", &s->blind_record)) != 0 ||
	    (rc = open_dbi(txn, "requests", &s->requests)) != 0 ||
	    (rc = open_dbi(txn, "holds", &s->holds)) != 0 ||
	    (rc = open_dbi(txn, "record_holds", &s->record_holds)) != 0 ||
	    (rc = open_dbi(txn, "verify_ids", &s->verify_ids)) != 0)
		goto fail;

	static const uint8_t ver_be[4] = { 0, 0, 0, STORE_SCHEMA_VERSION };
	MDB_val k = { 6, "schema" }, v;
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		v.mv_size = 4;
		v.mv_data = (void *)ver_be;
		if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
			goto fail;
	} else if (rc != 0) {
		goto fail;
	} else if (v.mv_size != 4 || memcmp(v.mv_data, ver_be, 4) != 0) {
		/* Schemas 1 (records without a MAC) and 2 (blind tags under
		 * index keys) are refused, not upgraded: the
		 * format changed before 1.0, with no deployed data to carry over,
		 * and an upgrade would have to trust every unauthenticated
		 * header it found. */
		*why = v.mv_size == 4 && memcmp(v.mv_data, "\0\0\0\1", 4) == 0 ?
		    "the data directory has schema 1 (records without a MAC), which this "
		    "version refuses: create a new one" :
		    v.mv_size == 4 && memcmp(v.mv_data, "\0\0\0\2", 4) == 0 ?
		    "the data directory has schema 2 (token indexes and blind tags keyed by "
		    "keys that outlive the erasure horizon), which this version refuses: create a new one" :
		    "the data directory has an unsupported schema version";
		mdb_txn_abort(txn);
		store_close(s);
		return VAULT_E_CONFIG;
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		goto fail;
	}
	/* A reader that died holding a slot pins old pages: clear such slots. */
	int dead = 0;
	mdb_reader_check(s->env, &dead);
	*why = NULL;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	store_close(s);
	return store_error(rc) == VAULT_E_NO_SPACE ? VAULT_E_NO_SPACE : VAULT_E_STORAGE;
}

void
store_close(struct store *s)
{
	if (s->env != NULL)
		mdb_env_close(s->env);
	s->env = NULL;
}

int
store_next_id(struct store *s, MDB_txn *txn, uint64_t *next)
{
	MDB_val k = { 7, "next_id" }, v;
	int rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		*next = 1;
		return 0;
	}
	if (rc != 0)
		return store_error(rc);
	if (v.mv_size != 8)
		return VAULT_E_CRYPTO;
	*next = store_get_id(v.mv_data);
	return 0;
}

#define AUDIT_HEAD_KEY "audit_head"

int
store_audit_anchor_get(struct store *s, MDB_txn *txn, uint64_t *seq,
    uint8_t mac[STORE_AUDIT_MAC_BYTES])
{
	MDB_val k = { sizeof(AUDIT_HEAD_KEY) - 1, AUDIT_HEAD_KEY }, v;
	int rc = mdb_get(txn, s->meta, &k, &v);
	if (rc != 0)
		return store_error(rc);
	if (v.mv_size != 8 + STORE_AUDIT_MAC_BYTES)
		return VAULT_E_STORAGE;
	*seq = store_get_id(v.mv_data);
	memcpy(mac, (const uint8_t *)v.mv_data + 8, STORE_AUDIT_MAC_BYTES);
	return 0;
}

int
store_audit_anchor_put(struct store *s, MDB_txn *txn, uint64_t seq,
    const uint8_t mac[STORE_AUDIT_MAC_BYTES])
{
	uint8_t b[8 + STORE_AUDIT_MAC_BYTES];
	store_put_id(b, seq);
	memcpy(b + 8, mac, STORE_AUDIT_MAC_BYTES);
	MDB_val k = { sizeof(AUDIT_HEAD_KEY) - 1, AUDIT_HEAD_KEY }, v = { sizeof(b), b };
	return mdb_put(txn, s->meta, &k, &v, 0);
}
