/*
 * vault.h - client library for vaultd, the encrypted personal-data vault.
 *
 * This is the only installed header. A program links -lvaultclient, opens a
 * connection with vault_connect() and calls one function per operation. All
 * calls are synchronous; one connection must not be used by two threads at
 * once (open one connection per thread instead, they are cheap).
 *
 * Errors: every function that can fail returns 0 on success or a positive
 * vault_error code. The same codes travel on the wire (PROTOCOL.md), so a
 * code returned here is either detected locally (VAULT_E_IO, VAULT_E_NOMEM,
 * VAULT_E_PROTO_*, and vault_connect's VAULT_E_SERVER_IDENTITY and
 * VAULT_E_CONFIG) or was sent by the server. vault_strerror() and
 * vault_error_name() describe any code; vault_last_message() returns the
 * server's message for the last failed call, which may name a field but
 * never contains a value.
 *
 * Ownership: strings and objects returned through out-parameters belong to
 * the caller and are released with the matching *_free() function. Values
 * read from the vault are personal data: the free functions wipe them.
 */
#ifndef VAULT_VAULT_H
#define VAULT_VAULT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VAULT_PROTOCOL_VERSION 1

/*
 * Stable error codes, grouped in bands. Never renumber; add at the end of a
 * band. The wire carries the number, its name and a message.
 */
enum vault_error {
	VAULT_OK = 0,

	/* 100-199: framing and protocol */
	VAULT_E_PROTO_FRAME = 100,       /* malformed frame or message encoding */
	VAULT_E_PROTO_FRAME_TOO_LARGE = 101, /* frame larger than the limit */
	VAULT_E_PROTO_VERSION = 102,     /* unsupported protocol version */
	VAULT_E_PROTO_UNKNOWN_OP = 103,  /* no such operation */
	VAULT_E_PROTO_TYPE = 104,        /* an argument has the wrong type */
	VAULT_E_PROTO_MISSING = 105,     /* a required argument is missing */
	VAULT_E_PROTO_UNKNOWN_ARG = 106, /* an argument the operation does not take */

	/* 200-299: request content */
	VAULT_E_PURPOSE = 200,           /* missing or unknown purpose */
	VAULT_E_UNKNOWN_FIELD = 201,     /* no such field */
	VAULT_E_INVALID_VALUE = 202,     /* a value failed validation */
	VAULT_E_TOO_LARGE = 203,         /* a value or document exceeds its size limit */
	VAULT_E_LIMIT = 204,             /* too many fields, documents or tokens */
	VAULT_E_TOKEN_KIND = 205,        /* that token kind does not apply to that field */
	VAULT_E_REASON = 206,            /* unknown deletion reason */
	VAULT_E_EMPTY = 207,             /* the field or document has no value */
	VAULT_E_NO_PERMISSION = 208,     /* an agent's or guardian's request without written permission */

	/* 300-399: records and tokens */
	VAULT_E_BAD_TOKEN = 300,         /* not a token this vault issued */
	VAULT_E_NOT_FOUND = 301,         /* no such record or document */
	VAULT_E_DELETED = 302,           /* the record was deleted */
	VAULT_E_STALE_TOKEN = 303,       /* the field changed since the token was issued */
	VAULT_E_CONFLICT = 304,          /* the record changed meanwhile; retry */
	VAULT_E_REQUEST_STATE = 305,     /* the privacy request's state does not allow this */
	VAULT_E_NOT_VERIFIED = 306,      /* the privacy request is not verified (or confirmed) yet */
	VAULT_E_CONFIRMATION = 307,      /* wrong or expired confirmation code */
	VAULT_E_HELD = 308,              /* the record is under a hold */
	VAULT_E_ALREADY_ACKED = 309,     /* the deletion notice was acknowledged before */

	/* 400-499: authorization (policy) */
	VAULT_E_DENIED = 400,            /* the caller may not do this */
	VAULT_E_SEALED = 401,            /* the vault is sealed */
	VAULT_E_RATE_LIMITED = 402,      /* too many attempts; retry later */
	VAULT_E_SERVER_IDENTITY = 403,   /* the socket's server is not the expected uid (client side only) */

	/* 500-599: server and storage */
	VAULT_E_INTERNAL = 500,          /* a bug; the request had no effect */
	VAULT_E_NOMEM = 501,             /* out of memory */
	VAULT_E_STORAGE = 502,           /* the store failed; the request had no effect */
	VAULT_E_NO_SPACE = 503,          /* map or disk full; the request had no effect */
	VAULT_E_CRYPTO = 504,            /* stored data failed authentication */
	VAULT_E_BUSY = 505,              /* too many pending requests; retry later */
	VAULT_E_SHUTTING_DOWN = 506,     /* the server is stopping */
	VAULT_E_IO = 507,                /* local I/O error (client side: see errno) */
	VAULT_E_CONFIG = 508,            /* bad configuration */
	VAULT_E_KEYRING = 509,           /* key ring missing, unreadable or corrupt */
	VAULT_E_AUDIT = 510,             /* the audit trail cannot be written; nothing returned */
	VAULT_E_UNAVAILABLE = 511,       /* the store cannot be reached; no effect; retry later */
	VAULT_E_UNCERTAIN = 512,         /* a write may or may not be stored: read back, then retry */
	VAULT_E_BACKUP = 513,            /* no verified backup could be taken; the epoch was not retired */
};

/* A short English description of code; never NULL. */
const char *vault_strerror(int code);
/* The stable name of code, such as "VAULT_E_BAD_TOKEN"; never NULL. */
const char *vault_error_name(int code);

/* Why the data is being used: every data request names one (PROTOCOL.md). */
enum vault_purpose {
	VAULT_PURPOSE_TRANSACTIONAL = 1, /* orders and communication about them */
	VAULT_PURPOSE_MARKETING = 2,     /* offers, unless the person opted out */
	VAULT_PURPOSE_MAINTENANCE = 3,   /* service maintenance and diagnosis */
	VAULT_PURPOSE_SECURITY = 4,      /* security and fraud prevention */
	VAULT_PURPOSE_LEGAL = 5,         /* disclosures required by law or courts */
};

/* Field tokens (PROTOCOL.md, "Tokens", says what each reveals). */
enum vault_token_kind {
	VAULT_TOKEN_OPAQUE = 1,        /* random-looking, one per request */
	VAULT_TOKEN_CARD = 2,          /* card number: digits, same length, last four kept */
	VAULT_TOKEN_DETERMINISTIC = 3, /* same value in the same field, same token */
};

/* Why a record was deleted; kept in its tombstone. */
enum vault_delete_reason {
	VAULT_DELETE_SUBJECT_REQUEST = 1, /* the person (or their agent) asked */
	VAULT_DELETE_RETENTION = 2,       /* retention period ended */
	VAULT_DELETE_ADMINISTRATIVE = 3,  /* operator decision (duplicates, tests) */
};

/* One connection to vaultd. */
struct vault;

/*
 * How vault_connect_opts() connects. Zero-initialize it, then set what
 * differs from the defaults ({ 0 } means: all defaults).
 */
struct vault_connect_options {
	/*
	 * The uid vaultd must run as. If has_server_uid is 0, the
	 * VAULT_SERVER_UID environment variable gives it (a decimal uid;
	 * ignored in a setuid or setgid program), and if that is unset or
	 * empty, the owner of the socket's directory (vaultd refuses a
	 * directory it does not own, and nobody else can put a socket in
	 * it). That default trusts whoever created the directory: right
	 * under /run, wrong where anyone may create it first (/tmp); there,
	 * name the uid.
	 */
	int has_server_uid;
	uint32_t server_uid;
};

/*
 * Connect to the vault listening on the Unix socket at socket_path (NULL:
 * the VAULT_SOCKET environment variable, ignored in a setuid or setgid
 * program, else the installed default, /run/vault/vaultd.sock on a build
 * for Debian's layout), and
 * check that the process listening there runs as the expected uid (see
 * struct vault_connect_options) before sending it anything: SO_PEERCRED
 * gives the server's uid as of its listen(), which no other process can
 * fake. opts may be NULL (all defaults). On success *out is a new
 * connection, to be closed with vault_close(); on error *out is left
 * alone. Returns 0 or:
 *   VAULT_E_SERVER_IDENTITY  the server runs as another uid: it may be a
 *                            process that replaced vaultd's socket, and
 *                            nothing was sent to it (errno EPERM)
 *   VAULT_E_CONFIG           VAULT_SERVER_UID is not a decimal uid
 *                            (errno EINVAL)
 *   VAULT_E_IO               connect failed, or the socket's directory
 *                            cannot be examined (errno tells why)
 *   VAULT_E_NOMEM
 * A caller no client of the server's policy matches still connects: the
 * server answers with one refusal and closes, and the first call on the
 * connection (and every later one) returns VAULT_E_DENIED with
 * vault_last_message() "no client of the policy matches this caller (uid
 * U, gid G)". vault_connect() does not wait for that answer, so that
 * connecting costs no round trip.
 */
int vault_connect_opts(const char *socket_path,
    const struct vault_connect_options *opts, struct vault **out);
/* vault_connect_opts(socket_path, NULL, out): the expected uid from
 * VAULT_SERVER_UID or the socket directory's owner. */
int vault_connect(const char *socket_path, struct vault **out);
/* Close the connection and free it. Accepts NULL. */
void vault_close(struct vault *v);
/*
 * The server's message for the last call on v that failed, or "" if the
 * last failure was local or the last call succeeded. Valid until the next
 * call on v.
 */
const char *vault_last_message(const struct vault *v);
/* Set the receive timeout for calls on v, in milliseconds (0: none). */
int vault_set_timeout(struct vault *v, unsigned int timeout_ms);

/*
 * A set of field values and documents: what create and update send and what
 * read returns. Field names are those of PROTOCOL.md ("email", ...).
 */
struct vault_record;

int vault_record_new(struct vault_record **out);
/* Wipe and free. Accepts NULL. */
void vault_record_free(struct vault_record *r);
/* Set field to a NUL-terminated value (copied). Replaces an earlier value. */
int vault_record_set(struct vault_record *r, const char *field, const char *value);
/*
 * Add a document (copied). name and content_type are NUL-terminated;
 * data may hold any bytes.
 */
int vault_record_add_document(struct vault_record *r, const char *name,
    const char *content_type, const void *data, size_t len);
/* The value of field, or NULL if absent. Valid while r lives. */
const char *vault_record_get(const struct vault_record *r, const char *field);
/* Number of fields set, and the i-th field's name and value. */
size_t vault_record_field_count(const struct vault_record *r);
int vault_record_field_at(const struct vault_record *r, size_t i,
    const char **name, const char **value);
/* Number of documents, and the i-th one. Pointers valid while r lives. */
size_t vault_record_document_count(const struct vault_record *r);
int vault_record_document_at(const struct vault_record *r, size_t i,
    uint32_t *slot, const char **name, const char **content_type,
    const void **data, size_t *len);

/*
 * For a record read from the vault: 1 if the person opted out of marketing
 * on channel ("email", "phone" or "mail"), 0 if not, -1 if unknown.
 */
int vault_record_opted_out(const struct vault_record *r, const char *channel);

/*
 * The slots of the documents a record read from the vault holds (whether
 * or not their contents were fetched). *slots is valid while r lives.
 */
size_t vault_record_document_slots(const struct vault_record *r,
    const uint32_t **slots);

/*
 * Store a new record. On success *record_token is the record's token
 * (NUL-terminated, free with vault_free()).
 */
int vault_create(struct vault *v, enum vault_purpose purpose,
    const struct vault_record *fields, char **record_token);

/*
 * Read a record. fields lists the field names wanted (NULL and 0 for all);
 * with_documents also fetches the documents. *out is a new record.
 */
int vault_read(struct vault *v, enum vault_purpose purpose,
    const char *record_token, const char *const *fields, size_t nfields,
    int with_documents, struct vault_record **out);

/*
 * Read one document of a record, by slot (vault_record_document_slots()
 * of a vault_read() result lists them). *out holds just that document.
 * Use this when a record's documents together exceed the frame limit.
 */
int vault_read_document(struct vault *v, enum vault_purpose purpose,
    const char *record_token, uint32_t slot, struct vault_record **out);

/*
 * Update a record: set the fields and add the documents in set (may be
 * NULL), clear the nclear fields named in clear, and remove the documents
 * whose slots are listed in remove_slots. All or nothing.
 */
int vault_update(struct vault *v, enum vault_purpose purpose,
    const char *record_token, const struct vault_record *set,
    const char *const *clear, size_t nclear,
    const uint32_t *remove_slots, size_t nremove);

/*
 * Record a person's marketing choice for one channel: "email", "phone" or
 * "mail"; opt_out 1 stops marketing use of that channel, 0 allows it.
 */
int vault_set_marketing_opt_out(struct vault *v, enum vault_purpose purpose,
    const char *record_token, const char *channel, int opt_out);

/*
 * List record tokens, at most limit (1..1000) from after on (NULL: from
 * the start). For purpose marketing, channel ("email", "phone", "mail")
 * is required and records opted out of it are skipped. *tokens is an
 * array of *n strings (free each with vault_free, then the array with
 * free()); *next, if not NULL, receives the token to pass as after for the
 * next page, or NULL at the end.
 */
int vault_list(struct vault *v, enum vault_purpose purpose, const char *channel,
    const char *after, unsigned limit, char ***tokens, size_t *n, char **next);

/* Delete a record for good (crypto-shredding); see SECURITY.md. */
int vault_delete(struct vault *v, enum vault_purpose purpose,
    const char *record_token, enum vault_delete_reason reason);

/*
 * Issue a token of the given kind for one field of a record. *token is
 * NUL-terminated; free with vault_free(). Deterministic and card tokens
 * need plain access or a join grant (VAULT_E_DENIED otherwise), and count
 * against the client's token_issue_per_minute (VAULT_E_RATE_LIMITED);
 * deterministic ones compare equal only within the client's join domain
 * (PROTOCOL.md 5.2, 10.3).
 */
int vault_tokenize(struct vault *v, enum vault_purpose purpose,
    const char *record_token, const char *field, enum vault_token_kind kind,
    char **token);

/* One answer of vault_detokenize(). */
struct vault_detokenized {
	int error;         /* 0, or why this token did not resolve */
	const char *field; /* the field the token stands for (NULL on error) */
	const char *value; /* its value (NULL on error) */
};

/*
 * Resolve ntokens field tokens in one request. On success *results is an
 * array of ntokens answers in the order asked, each with its own error, to
 * be freed with vault_detokenized_free(*results, ntokens). Tokens that do
 * not resolve (VAULT_E_BAD_TOKEN, VAULT_E_NOT_FOUND) count against the
 * client's token_failures_per_minute: past it the rest answer
 * VAULT_E_RATE_LIMITED, and later calls that minute fail with it whole.
 */
int vault_detokenize(struct vault *v, enum vault_purpose purpose,
    const char *const *tokens, size_t ntokens,
    struct vault_detokenized **results);
void vault_detokenized_free(struct vault_detokenized *results, size_t n);

/* A no-op round trip: checks the connection and the protocol version. */
int vault_ping(struct vault *v);

/* Server facts for vaultctl status. */
struct vault_status {
	uint32_t protocol_version;
	uint64_t records;       /* live records */
	uint64_t tombstones;    /* deleted records */
	uint32_t kek_epoch;     /* current key-encryption key epoch (0 if sealed) */
	uint64_t uptime_seconds;
	int sealed;             /* 1 until an administrator unseals the vault */
	/* Security alerts raised since vaultd started, all kinds together
	 * (the status result's "alerts" map has them by name; SECURITY.md,
	 * "Alerts"). Nonzero deserves a look at the log and the audit trail. */
	uint64_t alerts;
	/* Deletion notices a recipient has not acknowledged within
	 * [privacy] deletion_ack_seconds (PROTOCOL.md, deletion feeds). */
	uint64_t deletion_acks_overdue;
};
int vault_status(struct vault *v, struct vault_status *out);

/*
 * Administration. These need a caller the policy names as admin
 * (admin = true; VAULT_E_DENIED otherwise); SECURITY.md explains the key
 * ring and the audit trail.
 */

/* Open a passphrase-sealed key ring. */
int vault_unseal(struct vault *v, const char *passphrase);

struct vault_key_version {
	uint32_t version;   /* epoch for key-encryption keys */
	uint64_t created;   /* Unix seconds */
	uint64_t records;   /* data keys it wraps (key-encryption keys only) */
	uint64_t det_entries; /* deterministic index entries it keys (KEK only):
	                       * their tokens stop resolving at its retire */
};

struct vault_keys_status {
	uint32_t kek_current, token_current, index_current;
	size_t nkek, ntoken, nindex;
	struct vault_key_version *kek, *token, *index;
	int rotating;              /* a rewrap is under way */
	uint32_t target_epoch;
	uint64_t examined, rewrapped, total;
	int64_t started;           /* Unix seconds */
	uint32_t interval_seconds; /* schedule; 0: off */
	int64_t next_due, last_done;
	/* A stalled rewrap (a full map or disk): since when (Unix seconds; 0:
	 * not stalled) and why; it goes on by itself once space returns. */
	int64_t stalled_since;
	char stall_reason[160];
	/*
	 * Records that keep an epoch from being retired (no rotation running,
	 * yet still on an old epoch): how many, how many the last rotation
	 * could not rewrap, and the first few by record token with the command
	 * that resolves each.
	 */
	uint64_t blocked_records, blocked_after_rotation;
	size_t nblockers;
	struct vault_retire_blocker *blockers;
	/*
	 * Backups in the server's backup_dir (LMDB; backups_apply 0 on
	 * PostgreSQL): the newest the current ring can read whole (name, NULL
	 * if none, and its time), whether none is younger than the rotation
	 * interval, and a retire refused because its backup could not be taken
	 * ([keys] backup_before_retire): since when (0: none), which epoch, why.
	 * The whole list: vault_call_json(v, "keys_status", ...), "backups".
	 */
	int backups_apply;
	char *newest_backup;
	int64_t newest_backup_created;
	int backups_stale;
	int64_t retire_refused_since;
	uint32_t retire_refused_epoch;
	char retire_refused_reason[256];
};
struct vault_retire_blocker {
	char *record;       /* record token */
	uint32_t epoch;
	int damaged;        /* fails its authentication: no new data key opens it */
	char *resolve;      /* e.g. "vaultctl keys rotate-record TOKEN" */
};
int vault_keys_status(struct vault *v, struct vault_keys_status **out);
void vault_keys_status_free(struct vault_keys_status *s);

/*
 * Make a new key current. kind is "kek" (a new epoch: the server then
 * rewraps every data key in the background), "token" or "index".
 */
int vault_keys_rotate(struct vault *v, const char *kind, uint32_t *version);
/*
 * Destroy a retired epoch's key and compact the data file. Refused with
 * VAULT_E_CONFLICT while records depend on it (*remaining says how many).
 */
int vault_keys_retire(struct vault *v, uint32_t epoch, uint64_t *remaining,
    uint64_t *bytes_before, uint64_t *bytes_after);
/* A new data key for one record; its fields re-encrypted. */
int vault_keys_rotate_record(struct vault *v, const char *record_token,
    uint32_t *dek_version);
/* The audit trail's check (admin): every entry's MAC and the chain. */
struct vault_audit_check {
	int ok;                  /* 1: intact */
	unsigned files;
	uint64_t entries;
	uint64_t first_bad_seq;  /* 0: none */
	char reason[192];        /* why not intact ("" if ok) */
};
int vault_audit_verify(struct vault *v, struct vault_audit_check *out);

/* Which audit entries to return (admin); NULL / 0 members match all. */
struct vault_audit_filter {
	const char *record_token; /* entries that touched this record */
	const char *client;       /* policy client name */
	const char *purpose;
	int64_t from, to;         /* Unix seconds, inclusive */
	unsigned limit;           /* 0: the server's default (1000) */
};

/* One audit entry: no personal data, records as pseudonyms. */
struct vault_audit_entry {
	uint64_t seq;
	int64_t time;
	uint64_t uid;
	char *client, *purpose, *op, *outcome; /* purpose NULL if none */
	char **records, **fields;
	size_t nrecords, nfields;
};
int vault_audit_query(struct vault *v, const struct vault_audit_filter *f,
    struct vault_audit_entry **entries, size_t *n);
void vault_audit_entries_free(struct vault_audit_entry *e, size_t n);

/*
 * The calling client's deletion feed: records deleted since it received
 * their data (values, masked values or tokens), to delete its own copies
 * of. A client sees only its own feed.
 */
struct vault_deletion_notice {
	uint64_t id;        /* for vault_deletions_ack */
	int64_t deleted;    /* when the record was deleted (Unix time) */
	uint64_t request;   /* the privacy request behind it, or 0 */
	char *record;       /* the record's token */
	char *reason;       /* "subject_request", "retention", "administrative" */
	size_t nfields;
	char **fields;      /* names of the fields it received ("documents" too) */
	char **tokens;      /* tokens[i]: the opaque token of fields[i] it
	                     * received, or NULL (values, or other token kinds) */
};
/*
 * The pending (unacknowledged) notices with id > after, oldest first, at
 * most limit (0: the server's default, 100; at most 1000); *more says
 * whether more are pending. Free with vault_deletion_notices_free.
 */
int vault_deletions_pending(struct vault *v, uint64_t after, unsigned limit,
    struct vault_deletion_notice **out, size_t *n, int *more);
void vault_deletion_notices_free(struct vault_deletion_notice *d, size_t n);
/*
 * Acknowledge notices ids[0..n) (each once the client deleted its copies):
 * all or none. VAULT_E_NOT_FOUND: an id is not a notice of this client's
 * feed (another client's notice is not found either);
 * VAULT_E_ALREADY_ACKED: one was acknowledged before (the error's "notice"
 * member on the wire names the id). Acknowledgements are audited.
 */
int vault_deletions_ack(struct vault *v, const uint64_t *ids, size_t n);

/*
 * Write a consistent, compacted backup named name into the server's
 * backup directory; *path (free with vault_free) says where.
 */
int vault_backup(struct vault *v, const char *name, char **path, uint64_t *bytes);

/*
 * Any operation, with its arguments and its result as JSON text: for the
 * operations this header has no typed call for (the privacy requests,
 * holds and signing keys of PROTOCOL.md section 8.18, "child" in create
 * and update), and for scripting.
 *
 * op is the operation's name ("request_open"); purpose is one of enum
 * vault_purpose, or 0 for none (operations without a purpose refuse one).
 * args_json is the text of a JSON object whose members become the
 * request's arguments, or NULL for none: objects become maps, arrays
 * arrays, strings str, integers int (negative) or uint, true and false
 * bool, null nil. There is no way to send bin. Refused locally, before
 * anything is sent:
 *   VAULT_E_PROTO_FRAME   args_json is not valid JSON, or gives a key twice
 *   VAULT_E_PROTO_TYPE    args_json is not an object; it holds a real
 *                         number (1.5, 1e3) or an integer beyond 64 bits
 *   VAULT_E_LIMIT         containers nested more than 16 deep (the object
 *                         itself is level 1; the server allows fewer, 6
 *                         counting its own request map, and answers
 *                         VAULT_E_LIMIT as well)
 *   VAULT_E_TOO_LARGE     args_json longer than 16 MiB
 *   VAULT_E_PROTO_UNKNOWN_ARG  a "v", "id" or "op" member (the library
 *                         sets them), or "purpose" when purpose is not 0
 *   VAULT_E_PROTO_UNKNOWN_OP   op is not 1-64 of a-z, 0-9 and _
 *   VAULT_E_PROTO_MISSING op is NULL;  VAULT_E_PURPOSE unknown purpose
 * For these, vault_last_message() is a short static text (a position at
 * most, never a value); every other error comes from the server as for
 * the typed calls, and vault_last_remaining() gives its "remaining".
 *
 * On success, if result_json is not NULL, *result_json is the operation's
 * result as compact JSON (no blanks), object keys sorted bytewise, bin
 * values as standard base64 with padding; NUL-terminated, malloc'd, to be
 * freed with vault_free() (it may hold personal data: vault_free wipes
 * it). On error *result_json is NULL. A result with an integer above
 * 2^63-1, a string that is not UTF-8 or a key given twice is refused with
 * VAULT_E_PROTO_FRAME.
 *
 * The library wipes its own copies of arguments and results. jansson
 * parses and builds them: its internal buffers go through jansson's
 * allocator, so a program that handles personal data should install
 * wiping functions with json_set_alloc_funcs() (vaultctl does).
 */
int vault_call_json(struct vault *v, const char *op, enum vault_purpose purpose,
    const char *args_json, char **result_json);

/*
 * The "remaining" count of the last error on v (0 if it carried none):
 * attempts left after VAULT_E_CONFIRMATION, records still on an epoch
 * after VAULT_E_CONFLICT from keys_retire.
 */
uint64_t vault_last_remaining(const struct vault *v);

/*
 * The field (or argument) the last error on v named, e.g. "phone" for a
 * policy refusal or "epoch" for keys_retire's VAULT_E_CONFLICT; "" if it
 * named none. A name, never a value. Valid until the next call on v.
 */
const char *vault_last_field(const struct vault *v);

/* Free a string returned by this library (wipes it first). Accepts NULL. */
void vault_free(char *s);

/* Names of purposes, token kinds and reasons, and back (0 if unknown). */
const char *vault_purpose_name(enum vault_purpose p);
enum vault_purpose vault_purpose_from_name(const char *name);
const char *vault_token_kind_name(enum vault_token_kind k);
enum vault_token_kind vault_token_kind_from_name(const char *name);
const char *vault_delete_reason_name(enum vault_delete_reason r);
enum vault_delete_reason vault_delete_reason_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
