/*
 * identity.c - failed verifications per claimed identity, as stored
 * (identity.h).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/bytes.h"
#include "vault/store/store.h"
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/log.h"
#include "identity.h"

#define AD_BYTES (2 + IDENTITY_KEY_BYTES + 4)
#define NAME_MIN 6 /* two lengths and a byte of each name */

int
identity_name(const char *first, size_t flen, const char *last, size_t llen,
    struct identity_name *out)
{
	/* Lengths first, so that no two names give one input. */
	if (flen == 0 || llen == 0 || flen > BLIND_CANON_MAX || llen > BLIND_CANON_MAX)
		return VAULT_E_INVALID_VALUE;
	out->b[0] = (uint8_t)(flen >> 8);
	out->b[1] = (uint8_t)flen;
	out->b[2] = (uint8_t)(llen >> 8);
	out->b[3] = (uint8_t)llen;
	memcpy(out->b + 4, first, flen);
	memcpy(out->b + 4 + flen, last, llen);
	out->len = 4 + flen + llen;
	return 0;
}

/* The subkey of KEK epoch for context ("vident03": hash, "videnc03": seal). */
static int
subkey(const struct key_set *ks, uint32_t epoch, const char *ctx, uint8_t sub[32])
{
	const uint8_t *kek = keyring_key(ks->ring, KEYRING_KEK, epoch);
	if (kek == NULL)
		return VAULT_E_KEYRING;
	crypto_kdf_derive_from_key(sub, 32, 1, ctx, kek);
	return 0;
}

int
identity_hash(const struct key_set *ks, uint32_t epoch, const struct identity_name *name,
    uint8_t out[IDENTITY_HASH_BYTES])
{
	uint8_t sub[32];
	int rc;

	if ((rc = subkey(ks, epoch, "vident03", sub)) != 0)
		return rc;
	crypto_generichash(out, IDENTITY_HASH_BYTES, name->b, name->len, sub, sizeof(sub));
	sodium_memzero(sub, sizeof(sub));
	return 0;
}

void
identity_encode(const struct identity *id, uint32_t epoch, const uint8_t *sealed,
    size_t sealed_len, uint8_t out[IDENTITY_VALUE_MAX], size_t *len)
{
	size_t n = id->nrequests < IDENTITY_MAX_REQUESTS ? id->nrequests : IDENTITY_MAX_REQUESTS;
	size_t at;
	if (sealed_len > IDENTITY_SEAL_OVERHEAD + IDENTITY_NAME_MAX)
		sealed_len = 0; /* not ours: refused by the decoder */
	out[0] = 2;
	be32_put(out + 1, epoch);
	be32_put(out + 5, id->failures);
	out[9] = id->alerted ? 1 : 0;
	out[10] = (uint8_t)n;
	for (size_t i = 0; i < n; i++)
		store_put_id(out + IDENTITY_HEAD_BYTES + 8 * i, id->requests[i]);
	at = IDENTITY_HEAD_BYTES + 8 * n;
	memcpy(out + at, sealed, sealed_len);
	*len = at + sealed_len;
}

int
identity_decode(const uint8_t *p, size_t len, struct identity *id, uint32_t *epoch,
    const uint8_t **sealed, size_t *sealed_len)
{
	memset(id, 0, sizeof(*id));
	if (len < IDENTITY_HEAD_BYTES || p[0] != 2 || p[9] > 1 || p[10] > IDENTITY_MAX_REQUESTS)
		return VAULT_E_CRYPTO;
	size_t at = IDENTITY_HEAD_BYTES + 8 * (size_t)p[10];
	if (len < at + IDENTITY_SEAL_OVERHEAD + NAME_MIN ||
	    len > at + IDENTITY_SEAL_OVERHEAD + IDENTITY_NAME_MAX)
		return VAULT_E_CRYPTO;
	*epoch = be32_get(p + 1);
	id->failures = be32_get(p + 5);
	id->alerted = p[9];
	id->nrequests = p[10];
	for (size_t i = 0; i < id->nrequests; i++)
		id->requests[i] = store_get_id(p + IDENTITY_HEAD_BYTES + 8 * i);
	*sealed = p + at;
	*sealed_len = len - at;
	return 0;
}

static void
make_key(uint8_t key[IDENTITY_KEY_BYTES], const uint8_t hash[IDENTITY_HASH_BYTES],
    uint64_t window)
{
	store_put_id(key, window);
	memcpy(key + 8, hash, IDENTITY_HASH_BYTES);
}

static void
seal_ad(uint8_t ad[AD_BYTES], const uint8_t key[IDENTITY_KEY_BYTES], uint32_t epoch)
{
	ad[0] = 'I';
	ad[1] = 1;
	memcpy(ad + 2, key, IDENTITY_KEY_BYTES);
	be32_put(ad + 2 + IDENTITY_KEY_BYTES, epoch);
}

/* Store id under (window, name) in epoch: a new hash and a new seal. */
static int
put(struct store_txn *txn, enum store_table dbi, const struct key_set *ks, uint32_t epoch,
    const struct identity_name *name, uint64_t window, const struct identity *id)
{
	uint8_t key[IDENTITY_KEY_BYTES], hash[IDENTITY_HASH_BYTES], ad[AD_BYTES], sub[32];
	uint8_t *sealed, *val;
	size_t slen = IDENTITY_SEAL_OVERHEAD + name->len, len;
	int rc;

	if ((rc = identity_hash(ks, epoch, name, hash)) != 0 ||
	    (rc = subkey(ks, epoch, "videnc03", sub)) != 0)
		return rc;
	if ((sealed = malloc(slen + IDENTITY_VALUE_MAX)) == NULL) {
		sodium_memzero(sub, sizeof(sub));
		return VAULT_E_NOMEM;
	}
	val = sealed + slen;
	make_key(key, hash, window);
	seal_ad(ad, key, epoch);
	randombytes_buf(sealed, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + 24, NULL, name->b, name->len,
	    ad, sizeof(ad), NULL, sealed, sub);
	sodium_memzero(sub, sizeof(sub));
	identity_encode(id, epoch, sealed, slen, val, &len);
	struct store_val k = { sizeof(key), key }, v = { len, val };
	rc = store_put(txn, dbi, &k, &v, 0);
	free(sealed);
	return rc == 0 ? 0 : store_error(rc);
}

/* The entry of (window, hash) in epoch: 0 (found), 1 (none) or an error. */
static int
get(struct store_txn *txn, enum store_table dbi, const uint8_t hash[IDENTITY_HASH_BYTES], uint32_t epoch,
    uint64_t window, struct identity *id)
{
	uint8_t key[IDENTITY_KEY_BYTES];
	const uint8_t *sealed;
	size_t slen;
	uint32_t e;
	make_key(key, hash, window);
	struct store_val k = { sizeof(key), key }, v;
	int rc = store_get(txn, dbi, &k, &v);
	if (rc == STORE_NOTFOUND) {
		memset(id, 0, sizeof(*id));
		return 1;
	}
	if (rc != 0)
		return store_error(rc);
	if ((rc = identity_decode(v.data, v.len, id, &e, &sealed, &slen)) != 0)
		return rc;
	if (e != epoch) {
		/* Another epoch's hash that happens to be equal: not ours. */
		memset(id, 0, sizeof(*id));
		return 1;
	}
	return 0;
}

/* The ring's KEK epochs, the current one first, then the newest first. */
static size_t
epochs(const struct key_set *ks, uint32_t *out, size_t cap)
{
	size_t n = 0, count = keyring_count(ks->ring, KEYRING_KEK);
	uint32_t cur = keyring_current(ks->ring, KEYRING_KEK);
	out[n++] = cur;
	for (size_t i = count; i-- > 0 && n < cap;) {
		uint32_t e = keyring_version_at(ks->ring, KEYRING_KEK, i);
		if (e != cur)
			out[n++] = e;
	}
	/* Versions listed in ascending order or not: sort the older ones down. */
	for (size_t i = 2; i < n; i++)
		for (size_t j = i; j > 1 && out[j] > out[j - 1]; j--) {
			uint32_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

#define EPOCHS_MAX 16 /* a ring holds a few KEK epochs; more are not looked at */

/* The entry of window: the first epoch (in epochs() order) that has one. */
static int
find(struct store_txn *txn, enum store_table dbi, const struct key_set *ks, const struct identity_name *name,
    uint64_t window, struct identity *id)
{
	uint32_t ep[EPOCHS_MAX];
	uint8_t hash[IDENTITY_HASH_BYTES];
	size_t n = epochs(ks, ep, EPOCHS_MAX);
	int rc = 1;

	for (size_t i = 0; i < n && rc == 1; i++) {
		if ((rc = identity_hash(ks, ep[i], name, hash)) != 0)
			return rc;
		rc = get(txn, dbi, hash, ep[i], window, id);
	}
	return rc;
}

int
identity_load(struct store_txn *txn, enum store_table dbi, const struct key_set *ks,
    const struct identity_name *name, uint64_t window, struct identity *id)
{
	struct identity prev;
	int rc, rp;

	if ((rc = find(txn, dbi, ks, name, window, id)) != 0 && rc != 1)
		return rc;
	if (window == 0)
		return 0;
	if ((rp = find(txn, dbi, ks, name, window - 1, &prev)) != 0 && rp != 1)
		return rp;
	id->failures_prev = prev.failures;
	if (rc == 1) {
		/* First look in this window: the requests still count. */
		id->nrequests = prev.nrequests;
		memcpy(id->requests, prev.requests, sizeof(id->requests));
	}
	return 0;
}

/* Entries of name in window under older epochs go; with keep, the newest
 * of them moves to the current epoch first (if that has none). */
static int
migrate(struct store_txn *txn, enum store_table dbi, const struct key_set *ks,
    const struct identity_name *name, uint64_t window, int keep)
{
	uint32_t ep[EPOCHS_MAX];
	uint8_t hash[IDENTITY_HASH_BYTES], key[IDENTITY_KEY_BYTES];
	struct identity id;
	size_t n = epochs(ks, ep, EPOCHS_MAX);
	int rc, have = 0;

	for (size_t i = 0; i < n; i++) {
		if ((rc = identity_hash(ks, ep[i], name, hash)) != 0)
			return rc;
		if ((rc = get(txn, dbi, hash, ep[i], window, &id)) == 1)
			continue;
		if (rc != 0)
			return rc;
		if (i > 0) {
			if (keep && !have && (rc = put(txn, dbi, ks, ep[0], name, window, &id)) != 0)
				return rc;
			make_key(key, hash, window);
			struct store_val k = { sizeof(key), key };
			if ((rc = store_del(txn, dbi, &k)) != 0)
				return store_error(rc);
		}
		have = 1;
	}
	return 0;
}

int
identity_save(struct store_txn *txn, enum store_table dbi, const struct key_set *ks,
    const struct identity_name *name, uint64_t window, const struct identity *id)
{
	int rc;

	if (window > 0 && (rc = migrate(txn, dbi, ks, name, window - 1, 1)) != 0)
		return rc;
	if ((rc = migrate(txn, dbi, ks, name, window, 0)) != 0)
		return rc;
	return put(txn, dbi, ks, keyring_current(ks->ring, KEYRING_KEK), name, window, id);
}

int
identity_prune(struct store_txn *txn, enum store_table dbi, uint64_t window, size_t max, size_t *removed)
{
	struct store_cursor *c;
	struct store_val k, v;
	int rc;

	*removed = 0;
	if (window < 2)
		return 0;
	if ((rc = store_cursor_open(txn, dbi, &c)) != 0)
		return store_error(rc);
	/* Keys sort by window first: the stale ones come first. */
	while (*removed < max && (rc = store_cursor_get(c, &k, &v, STORE_FIRST)) == 0) {
		if (k.len == IDENTITY_KEY_BYTES && store_get_id(k.data) >= window - 1)
			break;
		if ((rc = store_cursor_del(c)) != 0)
			break;
		(*removed)++;
	}
	store_cursor_close(c);
	return rc == 0 || rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

/* One entry of another epoch: opened, stored under epoch, deleted.
 * 0 moved, 1 dropped, or an error. */
static int
rekey_one(struct store_txn *txn, enum store_table dbi, const struct key_set *ks, uint32_t epoch,
    const uint8_t key[IDENTITY_KEY_BYTES], const uint8_t *val, size_t len)
{
	struct identity id, have;
	struct identity_name *name;
	const uint8_t *sealed;
	uint8_t ad[AD_BYTES], sub[32], hash[IDENTITY_HASH_BYTES];
	unsigned long long n = 0;
	size_t slen;
	uint32_t e;
	int rc = 1;

	if ((name = sodium_malloc(sizeof(*name))) == NULL)
		return VAULT_E_NOMEM;
	if (identity_decode(val, len, &id, &e, &sealed, &slen) == 0 &&
	    subkey(ks, e, "videnc03", sub) == 0) {
		seal_ad(ad, key, e);
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(name->b, &n, NULL, sealed + 24,
		    slen - 24, ad, sizeof(ad), sealed, sub) == 0)
			rc = 0;
		sodium_memzero(sub, sizeof(sub));
	}
	name->len = (size_t)n;
	uint64_t window = store_get_id(key);
	if (rc == 0 && (rc = identity_hash(ks, epoch, name, hash)) == 0) {
		rc = get(txn, dbi, hash, epoch, window, &have);
		/* The current epoch's entry wins (this one just goes), unless
		 * it is damaged: a rotation must not stall on it. */
		if (rc == 1 || rc == VAULT_E_CRYPTO)
			rc = put(txn, dbi, ks, epoch, name, window, &id);
		else if (rc == 0)
			rc = 1;
	}
	sodium_free(name); /* wipes */
	if (rc != 0 && rc != 1)
		return rc;
	uint8_t kb[IDENTITY_KEY_BYTES];
	memcpy(kb, key, sizeof(kb));
	struct store_val k = { sizeof(kb), kb };
	int d = store_del(txn, dbi, &k);
	if (d != 0 && d != STORE_NOTFOUND)
		return store_error(d);
	return rc;
}

#define BATCH 16

struct held {
	uint8_t key[IDENTITY_KEY_BYTES];
	size_t len;
	uint8_t val[IDENTITY_VALUE_MAX];
};

/*
 * Up to BATCH entries from *from on (the first call: from the start) that
 * are not of epoch, damaged ones included (length 0). Copied out before
 * any change: a put or delete moves the pages under a cursor.
 */
static int
collect(struct store_txn *txn, enum store_table dbi, uint32_t epoch, uint8_t from[IDENTITY_KEY_BYTES],
    int *started, struct held *h, size_t *n, int *end)
{
	struct store_cursor *c;
	struct store_val k, v;
	int rc;

	*n = 0;
	*end = 0;
	if ((rc = store_cursor_open(txn, dbi, &c)) != 0)
		return store_error(rc);
	k.len = IDENTITY_KEY_BYTES;
	k.data = from;
	rc = *started ? store_cursor_get(c, &k, &v, STORE_SET_RANGE) :
	    store_cursor_get(c, &k, &v, STORE_FIRST);
	*started = 1;
	for (; rc == 0 && *n < BATCH; rc = store_cursor_get(c, &k, &v, STORE_NEXT)) {
		const uint8_t *p = v.data;
		int bad = k.len != IDENTITY_KEY_BYTES || v.len < 5 ||
		    v.len > IDENTITY_VALUE_MAX || p[0] != 2;
		uint32_t e = bad ? 0 : be32_get(p + 1);
		if (!bad && e == epoch)
			continue;
		if (k.len != IDENTITY_KEY_BYTES) {
			/* A damaged key: deleted here, where it can be named. */
			if ((rc = store_cursor_del(c)) != 0)
				break;
			continue;
		}
		memcpy(h[*n].key, k.data, IDENTITY_KEY_BYTES);
		h[*n].len = bad ? 0 : v.len;
		memcpy(h[*n].val, v.data, h[*n].len);
		(*n)++;
	}
	if (rc == STORE_NOTFOUND) {
		*end = 1;
		rc = 0;
	} else if (rc == 0 && *n == 0) {
		*end = 1;
	}
	store_cursor_close(c);
	if (*n > 0)
		memcpy(from, h[*n - 1].key, IDENTITY_KEY_BYTES);
	return rc == 0 ? 0 : store_error(rc);
}

int
identity_rekey(struct store_txn *txn, enum store_table dbi, const struct key_set *ks, uint32_t epoch,
    size_t *moved, size_t *dropped)
{
	struct held *h;
	uint8_t from[IDENTITY_KEY_BYTES] = { 0 };
	size_t n;
	int rc, end = 0, started = 0;

	*moved = *dropped = 0;
	if (keyring_key(ks->ring, KEYRING_KEK, epoch) == NULL)
		return VAULT_E_KEYRING;
	if ((h = sodium_malloc(BATCH * sizeof(*h))) == NULL)
		return VAULT_E_NOMEM;
	/* The old entries are deleted as they go; new ones are of epoch and
	 * are passed over, so every pass goes on from the last key seen. */
	while (!end) {
		if ((rc = collect(txn, dbi, epoch, from, &started, h, &n, &end)) != 0)
			break;
		for (size_t i = 0; i < n && (rc == 0 || rc == 1); i++) {
			rc = rekey_one(txn, dbi, ks, epoch, h[i].key, h[i].val, h[i].len);
			if (rc == 0)
				(*moved)++;
			else if (rc == 1)
				(*dropped)++;
		}
		if (rc != 0 && rc != 1)
			break;
		rc = 0;
		if (n < BATCH)
			end = 1;
	}
	sodium_free(h); /* wipes */
	if (rc == 0 && *dropped > 0)
		log_warn("identity counts: %zu entries that do not open dropped at the rekey",
		    *dropped);
	return rc;
}
