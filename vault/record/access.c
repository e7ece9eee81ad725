/*
 * access.c - reading stored records (see access.h).
 */
#include <string.h>

#include <vault/vault.h>

#include "keys/keyring.h"
#include "vault/alert.h"
#include "vault/keyset.h"
#include "vault/log.h"
#include "vault/services.h"
#include "access.h"

/* Where the epoch sits in the stored form (record_codec.c): format(1),
 * flags(1), reserved(2), data-key version(4). */

void
record_tampered(struct vault_services *svc, const struct key_set *keys, uint64_t id)
{
	log_warn("record %llu failed its authentication: the data file was changed "
	    "outside the service, or is damaged", (unsigned long long)id);
	alert_raise(svc, keys, ALERT_RECORD_TAMPERED, NULL, 0);
}

int
record_check(struct vault_services *svc, const struct key_set *keys, uint64_t id,
    const uint8_t *data, size_t len)
{
	if (keys == NULL)
		return VAULT_E_SEALED;
	const uint8_t *mk = NULL;
	if (len >= RECORD_EPOCH_OFFSET + 4 && data[0] == RECORD_FORMAT)
		mk = key_set_record_mac_key(keys, record_stored_epoch(data, len));
	/* An unknown epoch (or format) is as untrustworthy as a bad MAC. */
	if (mk == NULL || record_verify(data, len, id, mk) != 0) {
		if (svc != NULL)
			record_tampered(svc, keys, id);
		return VAULT_E_CRYPTO;
	}
	return 0;
}

/* Look up id and decode it (into copy if not NULL); *data and *len get
 * the stored form. VAULT_E_CRYPTO only if it does not decode. */
static int
load(struct vault_services *svc, struct store_txn *txn, uint64_t id, struct record *r,
    struct buf *copy, const uint8_t **data, size_t *len)
{
	uint8_t kb[8];
	store_put_id(kb, id);
	struct store_val k = { 8, kb }, v;
	int rc = store_get(txn, STORE_RECORDS, &k, &v);
	if (rc == STORE_NOTFOUND) {
		rc = store_get(txn, STORE_TOMBSTONES, &k, &v);
		if (rc == 0)
			return VAULT_E_DELETED;
		return rc == STORE_NOTFOUND ? VAULT_E_NOT_FOUND : VAULT_E_STORAGE;
	}
	if (rc != 0)
		return store_error(rc);
	*data = v.data;
	*len = v.len;
	if (copy != NULL) {
		buf_clear(copy);
		if ((rc = buf_append(copy, v.data, v.len)) != 0)
			return rc;
		*data = copy->data;
	}
	/* Decoded before the MAC is checked (decoding trusts nothing), so the
	 * epoch, and with it the MAC key, is known. */
	return record_decode(*data, *len, r) == 0 ? 0 : VAULT_E_CRYPTO;
}

int
record_load(struct vault_services *svc, const struct key_set *keys, struct store_txn *txn,
    uint64_t id, struct record *r, struct buf *copy)
{
	const uint8_t *data = NULL;
	size_t len = 0;
	if (keys == NULL)
		return VAULT_E_SEALED;
	int rc = load(svc, txn, id, r, copy, &data, &len);
	if (rc == VAULT_E_CRYPTO)
		record_tampered(svc, keys, id);
	if (rc != 0)
		return rc;
	return record_check(svc, keys, id, data, len);
}

int
record_load_unverified(struct vault_services *svc, struct store_txn *txn, uint64_t id,
    struct record *r, struct buf *copy)
{
	const uint8_t *data;
	size_t len;
	return load(svc, txn, id, r, copy, &data, &len);
}

int
record_unwrap(const struct key_set *keys, uint64_t id, const struct record *r,
    uint8_t *dek)
{
	const uint8_t *kek = keyring_key(keys->ring, KEYRING_KEK, r->kek_epoch);
	if (kek == NULL)
		return VAULT_E_CRYPTO;
	return unwrap_dek(kek, r->kek_epoch, id, r->dek_version, r->wrapped_dek, dek);
}

int
record_open_field(const uint8_t *dek, uint64_t id, const struct record *r,
    const struct record_field *f, struct buf *out, size_t *off, size_t *len)
{
	struct seal_place pl = { id, r->dek_version, f->id, 0, r->gen[f->id] };
	size_t n = f->ct_len - SEAL_OVERHEAD;
	int rc = buf_reserve(out, n + 1);
	if (rc != 0)
		return rc;
	if ((rc = open_field(dek, &pl, f->ct, f->ct_len, out->data + out->len)) != 0)
		return rc;
	*off = out->len;
	*len = n;
	out->len += n;
	return 0;
}

void
document_key(uint64_t id, uint16_t slot, uint8_t key[10])
{
	store_put_id(key, id);
	key[8] = (uint8_t)(slot >> 8);
	key[9] = (uint8_t)slot;
}

int
document_parse(const uint8_t *p, size_t len, uint16_t slot,
    struct document_view *d)
{
	if (len < 4)
		return VAULT_E_CRYPTO;
	d->slot = slot;
	d->name_len = (size_t)p[0] << 8 | p[1];
	if (len - 2 < d->name_len + 2)
		return VAULT_E_CRYPTO;
	d->name = (const char *)p + 2;
	const uint8_t *q = p + 2 + d->name_len;
	d->type_len = (size_t)q[0] << 8 | q[1];
	if ((size_t)(p + len - (q + 2)) < d->type_len)
		return VAULT_E_CRYPTO;
	d->type = (const char *)q + 2;
	d->data = q + 2 + d->type_len;
	d->data_len = (size_t)(p + len - d->data);
	return 0;
}

int
document_open(struct vault_services *svc, struct store_txn *txn, const uint8_t *dek,
    uint64_t id, const struct record *r, uint16_t slot, struct buf *out,
    size_t *off)
{
	uint8_t kb[10];
	document_key(id, slot, kb);
	struct store_val k = { sizeof(kb), kb }, v;
	int rc = store_get(txn, STORE_DOCUMENTS, &k, &v);
	if (rc == STORE_NOTFOUND)
		return VAULT_E_NOT_FOUND;
	if (rc != 0)
		return store_error(rc);
	if (v.len < SEAL_OVERHEAD)
		return VAULT_E_CRYPTO;
	size_t n = v.len - SEAL_OVERHEAD;
	if ((rc = buf_reserve(out, n + 1)) != 0)
		return rc;
	struct seal_place pl = { id, r->dek_version, FIELD_DOCUMENT, slot, 0 };
	if ((rc = open_field(dek, &pl, v.data, v.len, out->data + out->len)) != 0)
		return rc;
	*off = out->len;
	out->len += n;
	return 0;
}
