/*
 * identity.c - failed verifications per claimed identity, as stored
 * (identity.h).
 */
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "vault/store/store.h"
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "identity.h"
#include "secrets.h"

void
identity_encode(const struct identity *id, uint8_t out[IDENTITY_VALUE_MAX], size_t *len)
{
	size_t n = id->nrequests < IDENTITY_MAX_REQUESTS ? id->nrequests : IDENTITY_MAX_REQUESTS;
	out[0] = 1;
	out[1] = (uint8_t)(id->failures >> 24);
	out[2] = (uint8_t)(id->failures >> 16);
	out[3] = (uint8_t)(id->failures >> 8);
	out[4] = (uint8_t)id->failures;
	out[5] = id->alerted ? 1 : 0;
	out[6] = (uint8_t)n;
	for (size_t i = 0; i < n; i++)
		store_put_id(out + 7 + 8 * i, id->requests[i]);
	*len = 7 + 8 * n;
}

int
identity_decode(const uint8_t *p, size_t len, struct identity *id)
{
	memset(id, 0, sizeof(*id));
	if (len < 7 || p[0] != 1 || p[5] > 1 || p[6] > IDENTITY_MAX_REQUESTS ||
	    len != 7 + 8 * (size_t)p[6])
		return VAULT_E_CRYPTO;
	id->failures = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	id->alerted = p[5];
	id->nrequests = p[6];
	for (size_t i = 0; i < id->nrequests; i++)
		id->requests[i] = store_get_id(p + 7 + 8 * i);
	return 0;
}

static void
make_key(uint8_t key[IDENTITY_KEY_BYTES], const uint8_t hash[IDENTITY_HASH_BYTES],
    uint64_t window)
{
	store_put_id(key, window);
	memcpy(key + 8, hash, IDENTITY_HASH_BYTES);
}

/* The entry of (window, hash): 0 (found), 1 (none) or an error. */
static int
get(MDB_txn *txn, MDB_dbi dbi, const uint8_t hash[IDENTITY_HASH_BYTES],
    uint64_t window, struct identity *id)
{
	uint8_t key[IDENTITY_KEY_BYTES];
	make_key(key, hash, window);
	MDB_val k = { sizeof(key), key }, v;
	int rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		memset(id, 0, sizeof(*id));
		return 1;
	}
	if (rc != 0)
		return store_error(rc);
	return identity_decode(v.mv_data, v.mv_size, id);
}

int
identity_load(MDB_txn *txn, MDB_dbi dbi, const uint8_t hash[IDENTITY_HASH_BYTES],
    uint64_t window, struct identity *id)
{
	struct identity prev;
	int rc, rp;

	if ((rc = get(txn, dbi, hash, window, id)) != 0 && rc != 1)
		return rc;
	if (window == 0)
		return 0;
	if ((rp = get(txn, dbi, hash, window - 1, &prev)) != 0 && rp != 1)
		return rp;
	id->failures_prev = prev.failures;
	if (rc == 1) {
		/* First look in this window: the requests still count. */
		id->nrequests = prev.nrequests;
		memcpy(id->requests, prev.requests, sizeof(id->requests));
	}
	return 0;
}

int
identity_save(MDB_txn *txn, MDB_dbi dbi, const uint8_t hash[IDENTITY_HASH_BYTES],
    uint64_t window, const struct identity *id)
{
	uint8_t key[IDENTITY_KEY_BYTES], val[IDENTITY_VALUE_MAX];
	size_t len;
	make_key(key, hash, window);
	identity_encode(id, val, &len);
	MDB_val k = { sizeof(key), key }, v = { len, val };
	int rc = mdb_put(txn, dbi, &k, &v, 0);
	return rc == 0 ? 0 : store_error(rc);
}

int
identity_prune(MDB_txn *txn, MDB_dbi dbi, uint64_t window, size_t max, size_t *removed)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	*removed = 0;
	if (window < 2)
		return 0;
	if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
		return store_error(rc);
	/* Keys sort by window first: the stale ones come first. */
	while (*removed < max && (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size == IDENTITY_KEY_BYTES && store_get_id(k.mv_data) >= window - 1)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		(*removed)++;
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_error(rc);
}

int
identity_hash(const struct key_set *ks, const char *first, size_t flen,
    const char *last, size_t llen, uint8_t out[IDENTITY_HASH_BYTES])
{
	/* Lengths first, so that no two names give one input. */
	size_t n = 4 + flen + llen;
	uint8_t *in;
	int rc;

	if (flen > 0xffff || llen > 0xffff)
		return VAULT_E_INVALID_VALUE;
	if ((in = sodium_malloc(n)) == NULL)
		return VAULT_E_NOMEM;
	in[0] = (uint8_t)(flen >> 8);
	in[1] = (uint8_t)flen;
	in[2] = (uint8_t)(llen >> 8);
	in[3] = (uint8_t)llen;
	memcpy(in + 4, first, flen);
	memcpy(in + 4 + flen, last, llen);
	rc = secret_hash(ks, keyring_current(ks->ring, KEYRING_INDEX), "verify_identity2", 0,
	    in, n, out);
	sodium_free(in); /* wipes */
	return rc;
}
