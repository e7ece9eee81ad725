/*
 * feed.h - deletion feeds: each client's list of deleted records whose
 * data it received (recipients.h), to be acknowledged once it deleted its
 * copies.
 *
 * The deletions table: keyed hash of the client's name (16, BLAKE2b,
 * unkeyed: client names are configuration, not secrets; the hash only
 * gives every feed a fixed-length prefix) + notice id (u64 BE, the meta
 * counter "next_notice") -> the notice (feed.c says its layout). A notice
 * holds no personal data: the record's token, the names and opaque tokens
 * of the fields the client received, the time, the reason, the privacy
 * request (0 for none) and, once acknowledged, the time of the ack. It is
 * written in the transaction that deletes the record, so a deletion never
 * commits without its notices. Acknowledged notices stay, as the evidence
 * the request's receipt lists.
 */
#ifndef VAULT_PRIVACY_FEED_H
#define VAULT_PRIVACY_FEED_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "vault/crypto/token.h"
#include "vault/policy.h"
#include "vault/store/record_codec.h"

struct store_txn;
struct write_ctx;
struct record;

struct feed_notice {
	uint64_t id;
	uint64_t request;   /* the privacy request that deleted it; 0: none */
	uint64_t time;      /* of the deletion */
	uint64_t acked;     /* time of the acknowledgement; 0: pending */
	uint64_t record_id; /* for the vault's own use, never shown */
	uint8_t reason;     /* VAULT_DELETE_* */
	uint32_t fields;    /* bit i: field id i reached the client */
	uint32_t tokens;    /* bit i: field_tokens[i] is set */
	char client[POLICY_NAME_MAX];
	char record_token[TOKEN_MAX_LEN + 1];
	char field_tokens[FIELD_MAX + 1][TOKEN_MAX_LEN + 1];
};

/*
 * Post a notice to every recipient of record id (being deleted; its data
 * key in dek), then drop its recipient set. Called by record_delete().
 */
int feed_notify(struct write_ctx *ctx, uint64_t id, const struct record *r,
    const uint8_t *dek, uint8_t reason, uint64_t request);

/* Notice id of client's feed: 0, VAULT_E_NOT_FOUND or a store error. */
int feed_get(struct store_txn *txn, const char *client, uint64_t id,
    struct feed_notice *n);
/*
 * Acknowledge notice id of client's feed at time now: 0,
 * VAULT_E_NOT_FOUND (no such notice in this client's feed: another
 * client's notice is not found either), VAULT_E_ALREADY_ACKED.
 */
int feed_ack(struct store_txn *txn, const char *client, uint64_t id, uint64_t now,
    struct feed_notice *n);

/*
 * Call fn for each notice of client's feed (client NULL: every feed)
 * with id > after, until fn returns non-zero (returned, 1 meaning stop).
 */
int feed_scan(struct store_txn *txn, const char *client, uint64_t after,
    int (*fn)(const struct feed_notice *n, void *arg), void *arg);

/* The number of pending notices older than max_age seconds at now (a
 * scan of every feed). */
int feed_overdue(struct store_txn *txn, uint64_t now, uint64_t max_age,
    uint64_t *notices);

/*
 * The ids of the privacy requests with a pending notice older than
 * max_age at now, ascending, no repeats (malloc'd in *ids; free it).
 */
int feed_overdue_requests(struct store_txn *txn, uint64_t now, uint64_t max_age,
    uint64_t **ids, size_t *n);

/*
 * Pack request's notices as an array of maps {client, notice, notified_at,
 * acked_at (nil: pending), overdue} (max_age: as for feed_overdue); a
 * scan of every feed.
 */
int feed_pack_request(struct store_txn *txn, uint64_t request, uint64_t now,
    uint64_t max_age, msgpack_packer *pk);

#endif
