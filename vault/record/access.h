/*
 * access.h - reading stored records inside a transaction: lookup with
 * tombstone check, data-key unwrap, field and document decryption.
 */
#ifndef VAULT_RECORD_ACCESS_H
#define VAULT_RECORD_ACCESS_H

#include <stdint.h>


#include "vault/store/store.h"
#include "common/buf.h"
#include "vault/store/record_codec.h"

struct vault_services;
struct key_set;

/*
 * Find record id and authenticate it: decode, then check its MAC under the
 * record MAC key of its epoch in keys (record_verify()). Every path that
 * acts on a stored record's contents loads it through here (or, for the
 * few that scan without decoding, calls record_check()). On success *r
 * describes it with pointers into the map (valid until the transaction
 * ends or, in a write transaction, until the next write). If copy is not
 * NULL the value is first copied there, and *r points into the copy
 * instead. Returns 0, VAULT_E_NOT_FOUND, VAULT_E_DELETED, VAULT_E_CRYPTO
 * (malformed, or failed its MAC: see record_tampered()) or VAULT_E_STORAGE.
 */
int record_load(struct vault_services *svc, const struct key_set *keys, struct store_txn *txn,
    uint64_t id, struct record *r, struct buf *copy);
/*
 * As record_load() without the MAC: only for erasing the record
 * (record_delete(), delete.h), which must also work where the MAC cannot be
 * checked (a restored backup's record whose epoch was retired since) and
 * trusts nothing in the record to decide whether to erase. A record that
 * does not decode gives VAULT_E_CRYPTO.
 */
int record_load_unverified(struct vault_services *svc, struct store_txn *txn, uint64_t id,
    struct record *r, struct buf *copy);

/*
 * Authenticate the stored form data[0..len) of record id without decoding
 * it all (the epoch is read from its fixed place). Returns 0 or
 * VAULT_E_CRYPTO, after record_tampered() (svc may be NULL: no alert).
 */
int record_check(struct vault_services *svc, const struct key_set *keys, uint64_t id,
    const uint8_t *data, size_t len);

/*
 * Report that stored record id failed its authentication: a log line with
 * its id and the ALERT_RECORD_TAMPERED alert (log, audit entry, counter in
 * status), raised by the service itself: the tampering happened outside
 * it, not through the client whose request found it (that request's own
 * audit entry, with outcome crypto_error, names the client and record).
 */
void record_tampered(struct vault_services *svc, const struct key_set *keys,
    uint64_t id);

/* Unwrap the record's data key into dek (secure memory). */
int record_unwrap(const struct key_set *keys, uint64_t id,
    const struct record *r, uint8_t *dek);

/*
 * Decrypt field f of record id and append the plaintext to out; *off and
 * *len locate it. Returns 0 or VAULT_E_CRYPTO.
 */
int record_open_field(const uint8_t *dek, uint64_t id, const struct record *r,
    const struct record_field *f, struct buf *out, size_t *off, size_t *len);

/* Document plaintext: u16 name length, name, u16 type length, type, data. */
struct document_view {
	uint16_t slot;
	const char *name;
	size_t name_len;
	const char *type;
	size_t type_len;
	const uint8_t *data;
	size_t data_len;
};

/*
 * Decrypt document slot of record id into out (appended) and describe it in
 * *d (pointers into out, valid until out changes). Returns 0,
 * VAULT_E_NOT_FOUND, VAULT_E_CRYPTO or VAULT_E_STORAGE.
 */
int document_open(struct vault_services *svc, struct store_txn *txn, const uint8_t *dek,
    uint64_t id, const struct record *r, uint16_t slot, struct buf *out,
    size_t *off);
int document_parse(const uint8_t *p, size_t len, uint16_t slot,
    struct document_view *d);

/* Key of document slot of record id in the documents database. */
void document_key(uint64_t id, uint16_t slot, uint8_t key[10]);

#endif
