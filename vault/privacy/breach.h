/*
 * breach.h - the breach impact report (ops/breach_report.c): which records
 * a client (or a uid, or every client) received, from the audit trail,
 * verified as it is read, and the notification list of the people
 * affected.
 *
 * The trail names records only by keyed pseudonyms (audit.h: "v<kv>:" and
 * a BLAKE2b-128 of the record id under index key kv). A report collects the
 * pseudonyms of the entries selected, then recomputes the pseudonym of
 * every record id the vault has allocated (live records and tombstones)
 * under each key version the entries used, and maps them back. Entries
 * under an index key the ring no longer holds can neither be verified nor
 * mapped: they are counted, not listed.
 *
 * Counted as receiving a record's data (entries with outcome "ok"): read,
 * detokenize, tokenize, create, update, list (record tokens only: no
 * fields) and request_complete (an export to the privacy desk).
 */
#ifndef VAULT_PRIVACY_BREACH_H
#define VAULT_PRIVACY_BREACH_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct read_ctx;
struct op_error;

struct breach_scope {
	const char *client;   /* NULL: any */
	int by_uid;
	uint64_t uid;
	int64_t from, to;     /* the window, Unix seconds, inclusive */
};

struct breach_record {
	uint64_t id;
	uint32_t fields;      /* audit bits: field id i, bit 11 documents */
	uint64_t clients;     /* bit i: breach_report.clients[i] */
	int state;            /* BREACH_LIVE, BREACH_DELETED, BREACH_UNMAPPED */
	uint64_t deleted_at;
	char pseudonym[48];
};

enum { BREACH_UNMAPPED, BREACH_LIVE, BREACH_DELETED };

#define BREACH_CLIENTS_MAX 64

struct breach_report {
	struct breach_record *recs; /* mapped ones sorted by id, unmapped last */
	size_t nrecs, cap;
	char *clients[BREACH_CLIENTS_MAX]; /* names seen in selected entries */
	size_t nclients;
	int clients_truncated;
	uint64_t entries;       /* entries selected and counted */
	uint64_t verified;      /* entries of the trail that verified */
	uint64_t unkeyed;       /* selected entries under a retired index key */
	uint64_t damaged_after; /* damage found beyond the window: its seq; 0 none */
	void *index;            /* pseudonym -> recs slot (breach.c) */
	size_t index_cap;
};

/*
 * Read and verify the trail, collect the scope's records in the window and
 * map them to record ids and states. Refused with VAULT_E_AUDIT (message
 * naming the first entry that cannot be verified and the time after which
 * the trail is unverifiable) when the damage reaches into the window.
 * rep is to be freed with breach_free() either way.
 */
int breach_collect(struct read_ctx *ctx, const struct breach_scope *s,
    struct breach_report *rep, struct op_error *err);
void breach_free(struct breach_report *rep);

/*
 * The notification list (canonical JSON, to be signed): for each live
 * record, its token and the contact channel to use (email, else postal
 * address, else none), with counts by field. Holds personal data: out is
 * the caller's to wipe. Reads the contact fields (noted in ctx's trace).
 */
int breach_notification(struct read_ctx *ctx, const struct breach_scope *s,
    const struct breach_report *rep, struct buf *out, struct op_error *err);

#endif
