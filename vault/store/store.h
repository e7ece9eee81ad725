/*
 * store.h - the LMDB environment and its databases.
 *
 *   meta        "schema" -> u32 version; "next_id" -> u64
 *   records     record id (u64 BE) -> encoded record (record_codec.h)
 *   documents   record id (u64 BE) + slot (u16 BE) -> sealed document
 *   tombstones  record id (u64 BE) -> tombstone
 *   card_index  keyed hash of a card token (16), under a subkey of the
 *               record's KEK epoch (a rewrap re-keys it) -> record id (u64 BE)
 *   det_index   KEK epoch (u32 BE) + deterministic tag (16) + record id
 *               (u64 BE) -> field id (u8); the epoch first, so retiring an
 *               epoch deletes its entries as one range
 *   blind_index blind kind (u8) + tag (16) + record id -> KEK epoch of the tag
 *               (u32 BE)
 *   blind_record record id + blind kind (u8) -> KEK epoch (u32 BE), tag (16),
 *               nonce (24), canonical value sealed under the record's DEK: the
 *               same entries by record, so a changed field or a deleted record
 *               drops its own and a rewrap re-derives them (privacy/blind.h)
 *   requests    request id (u64 BE) -> privacy request (privacy/request.h)
 *   holds       hold id (u64 BE) -> hold (privacy/hold.h)
 *   record_holds record id + hold id -> empty: the holds on a record
 *   verify_ids  window (u64 BE) + keyed hash of a claimed name under a KEK
 *               epoch's subkey (32) -> the failed verifications of that
 *               identity in that window, the open requests that tried it
 *               and the name sealed under the epoch (privacy/identity.h)
 *
 * meta also holds "next_request" and "next_hold" (u64 BE), and "audit_head":
 * an audit entry's seq (u64 BE) and MAC (32 bytes) the trail must hold: the
 * trail's durable head, stored by each group commit in its transaction
 * (writer.c), and the trail's end at a clean stop (main.c; audit.h, the
 * anchor).
 *
 * Record ids are sequential, so creates append to the records B-tree
 * instead of splitting random pages (FACTS.md: random keys cut durable write
 * throughput several-fold). Only the two token indexes have random keys, and
 * they are written only when such a token is first asked for.
 */
#ifndef VAULT_STORE_STORE_H
#define VAULT_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

/* 2: records with a MAC (record_codec.h); 3: deterministic, card and blind
 * index entries keyed by KEK-epoch subkeys, det entries carrying their epoch,
 * blind entries carrying their sealed canonical value (privacy/blind.h). */
#define STORE_SCHEMA_VERSION 3

struct store {
	MDB_env *env;
	MDB_dbi meta, records, documents, tombstones, card_index, det_index;
	MDB_dbi blind_index, blind_record, requests, holds, record_holds, verify_ids;
};

/*
 * Open (creating if needed) the environment in directory dir, which must
 * exist. Returns 0, VAULT_E_STORAGE or VAULT_E_CONFIG (schema mismatch).
 */
int store_open(struct store *s, const char *dir, size_t map_size,
    unsigned max_readers, const char **why);
void store_close(struct store *s);

/* A vault error for an LMDB return code. */
int store_error(int mdb_rc);

/* The id the next created record gets (after the largest ever used). */
int store_next_id(struct store *s, MDB_txn *txn, uint64_t *next);

#define STORE_AUDIT_MAC_BYTES 32

/* The audit anchor: 0, VAULT_E_NOT_FOUND (none yet) or another error. */
int store_audit_anchor_get(struct store *s, MDB_txn *txn, uint64_t *seq,
    uint8_t mac[STORE_AUDIT_MAC_BYTES]);
/* An LMDB return code (the caller's transaction decides). */
int store_audit_anchor_put(struct store *s, MDB_txn *txn, uint64_t seq,
    const uint8_t mac[STORE_AUDIT_MAC_BYTES]);

static inline void
store_put_id(uint8_t out[8], uint64_t id)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(id >> (56 - 8 * i));
}

static inline uint64_t
store_get_id(const uint8_t in[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

#endif
