/*
 * request.h - a privacy request as stored: what the person asked for, how
 * it was verified, what it targets and what happened to it.
 *
 * It keeps no more personal data than it needs: of the claims that
 * verified the person only which data points they were (kinds), its
 * targets' record ids only until it is completed or rejected, the agent's permission
 * reference and the confirmation code only as keyed hashes, an extension
 * reason only sealed (secrets.h). A request in a final state (completed,
 * rejected) keeps only what its receipt needs: request_encode() drops the
 * target record ids (their number stays; the receipt names them by
 * pseudonym), the sealed extension reason (that there was one stays), the
 * permission hash and the confirmation code's hash (whether it was
 * confirmed stays). A deferred deletion keeps its targets until it
 * completes. A completed deletion also keeps its erasure horizon: the key-
 * encryption epochs that could unwrap its records' keys and, once they are
 * all retired, the signed erasure-complete document (privacy/horizon.c).
 * The value under its id in the requests
 * database is a msgpack map (request_encode()); request_decode() trusts
 * nothing, the data file may be damaged.
 */
#ifndef VAULT_PRIVACY_REQUEST_H
#define VAULT_PRIVACY_REQUEST_H

#include <stddef.h>
#include <stdint.h>


#include "vault/store/store.h"
#include "common/buf.h"
#include "blind.h"
#include "secrets.h"

#define REQUEST_DUE_SECONDS (45 * 86400)  /* and one extension of as much */
#define REQUEST_MAX_TARGETS 16
#define REQUEST_MAX_CLAIMS 8
#define REQUEST_MAX_HISTORY 64
#define REQUEST_CODE_SECONDS 86400        /* a confirmation code's life */
#define REQUEST_CONFIRM_ATTEMPTS 5
#define REQUEST_TEXT_MAX 256              /* reasons, permission references */
#define REQUEST_RECEIPT_MAX 8192
#define REQUEST_MAX_EPOCHS 16             /* epochs listed in the horizon */

enum request_kind { REQ_DELETE = 1, REQ_KNOW = 2, REQ_OPT_OUT = 3 };
enum request_channel { CH_ONLINE = 1, CH_PHONE = 2, CH_EMAIL = 3, CH_MAIL = 4 };
enum request_requester { BY_SELF = 1, BY_AGENT = 2, BY_GUARDIAN = 3 };
enum request_state {
	RS_OPEN = 1, RS_VERIFIED = 2, RS_DEFERRED = 3, RS_COMPLETED = 4, RS_REJECTED = 5,
};
enum request_event {
	EV_OPENED = 1, EV_VERIFY_FAILED = 2, EV_VERIFIED = 3, EV_CONFIRM_FAILED = 4,
	EV_CONFIRMED = 5, EV_DEFERRED = 6, EV_COMPLETED = 7, EV_REJECTED = 8,
	EV_EXTENDED = 9,
};

/* A data point that verified the person: its kind only, never a tag or
 * the value (a tag could be tested against a guessed value by a key the
 * vault keeps). */
struct request_claim {
	uint8_t kind;          /* enum blind_kind */
};

struct request_history {
	uint64_t time;
	uint8_t event;         /* enum request_event */
	char client[32];
};

struct privacy_request {
	uint64_t id;
	uint8_t kind, channel, requester, state;
	uint8_t opt_out_channels;          /* CONSENT_OPT_OUT_* (opt_out) */
	int has_permission;
	uint32_t permission_version; /* the KEK epoch that keyed the hash */
	uint8_t permission[SECRET_HASH_BYTES];
	uint64_t received_at, due_at, completed_at;
	int extended;
	const uint8_t *extension_reason;   /* sealed; points into the stored value */
	size_t extension_reason_len;
	unsigned verify_failures, confirm_failures;
	int code_issued, confirmed;
	uint32_t code_version;
	uint8_t code_hash[SECRET_HASH_BYTES];
	uint64_t code_expires;
	size_t nclaims;
	struct request_claim claims[REQUEST_MAX_CLAIMS];
	size_t ntargets;
	uint64_t targets[REQUEST_MAX_TARGETS];
	size_t target_count;               /* kept at a final state, when targets go */
	size_t nhistory;
	struct request_history history[REQUEST_MAX_HISTORY];
	const char *receipt;               /* JSON; points into the stored value */
	size_t receipt_len;
	uint8_t signature[SIGN_BYTES];
	uint32_t key_version;
	/* The erasure horizon of a completed deletion (privacy/horizon.c). */
	uint32_t horizon_epoch;            /* KEK epoch current at completion; 0: none */
	size_t nepochs;                    /* ring epochs <= it at completion */
	uint32_t epochs[REQUEST_MAX_EPOCHS];
	uint64_t horizon_estimate;         /* receipt's unrecoverable_after; 0: null */
	int overdue_alerted;               /* horizon_overdue raised for it */
	const char *erasure;               /* erasure-complete JSON; points into the value */
	size_t erasure_len;
	uint8_t erasure_signature[SIGN_BYTES];
	uint32_t erasure_key_version;
};

/* Completed or rejected: what the request no longer needs is dropped. */
int request_final(const struct privacy_request *r);

int request_encode(const struct privacy_request *r, struct buf *out);
/* Decode data[0..len); pointers point into data. 0 or VAULT_E_CRYPTO. */
int request_decode(const uint8_t *data, size_t len, struct privacy_request *r);

/* Load request id (VAULT_E_NOT_FOUND). *r's pointers live in copy if given. */
int request_load(struct store_txn *txn, enum store_table dbi, uint64_t id,
    struct privacy_request *r, struct buf *copy);
int request_save(struct store_txn *txn, enum store_table dbi, const struct privacy_request *r);

/* Append an event (the oldest after the first are dropped when full). */
void request_note(struct privacy_request *r, uint64_t time, uint8_t event,
    const char *client);

/*
 * Pack the summary's 10 key/value pairs (no map header): request, kind,
 * channel, requester, state, received_at, due_at, extended, overdue, targets.
 */
#include <msgpack.h>
#define REQUEST_SUMMARY_PAIRS 10
void request_pack_summary(msgpack_packer *pk, const struct privacy_request *r,
    uint64_t now);
/* Open or verified, and past its due date. */
int request_overdue(const struct privacy_request *r, uint64_t now);

/* Names, for the wire; and back (0: unknown). */
const char *request_kind_name(unsigned k);
const char *request_channel_name(unsigned c);
const char *request_requester_name(unsigned r);
const char *request_state_name(unsigned s);
const char *request_event_name(unsigned e);
unsigned request_kind_from(const char *s, size_t len);
unsigned request_channel_from(const char *s, size_t len);
unsigned request_requester_from(const char *s, size_t len);
unsigned request_state_from(const char *s, size_t len);

#endif
