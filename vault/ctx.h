/*
 * ctx.h - what an operation runs with: its request, its context (services,
 * pinned keys, transaction, scratch buffers), what it touched (the trace)
 * and how it reports an error. Shared by ops/ and the code below them
 * (privacy/, record/), which never include ops/ headers.
 *
 * The strings of a struct op_error are static: they never hold request
 * data (ops/op.h says how a handler reports an error).
 */
#ifndef VAULT_CTX_H
#define VAULT_CTX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <msgpack.h>
#include <vault/vault.h>

#include "common/buf.h"

struct vault_services;
struct key_set;
struct store_txn;
struct journal_entry;
struct audit_batch;
struct policy;

struct op_error {
	int code;
	const char *field;   /* the offending field or argument, if any */
	const char *message; /* static text; NULL: vault_strerror(code) */
	const char *count_name; /* optional number in the error: its key */
	uint64_t count;
	const char *rule;    /* the policy rule behind a denial */
	char text[96];       /* a message built for this error (message may point
	                      * here): never request data but a field name */
};

/* A policy denial, naming the rule that decided it. */
static inline int
op_deny(struct op_error *e, const char *field, const char *rule, const char *message)
{
	e->code = VAULT_E_DENIED;
	e->field = field;
	e->rule = rule;
	e->message = message;
	return VAULT_E_DENIED;
}

static inline int
op_fail(struct op_error *e, int code, const char *field, const char *message)
{
	e->code = code;
	e->field = field;
	e->message = message;
	return code;
}

struct policy_client;

struct request {
	uint64_t id;
	const struct policy_client *client; /* who is asking (policy.h) */
	enum vault_purpose purpose; /* 0 for operations without one */
	const msgpack_object *args; /* the whole request map */
	uid_t uid;
	gid_t gid;
};

/*
 * What a request touched, for its audit entry: record ids and field bits
 * (bit i: field id i; bit FIELD_MAX + 1: documents). Reset per request.
 */
struct op_trace {
	uint64_t *records;
	size_t nrecords, cap;
	uint32_t fields;
};

static inline void
trace_field(struct op_trace *t, unsigned field)
{
	t->fields |= 1u << field;
}

/* Note a record (a repeat of the last one is not noted twice). */
int trace_record(struct op_trace *t, uint64_t id);

/* A record whose data a read gives a client not yet among its recipients
 * (privacy/recipients.h): field bits, and bits of fields given as tokens. */
struct recipient_note {
	uint64_t id;
	uint32_t fields, tokens;
};

/* What a read handler or a write preparer may use (one per worker). */
struct read_ctx {
	struct vault_services *svc; /* the service below the server (services.h) */
	const struct policy_client *client; /* of the connection being served */
	const struct policy *policy; /* client's policy, held by the worker */
	const struct key_set *keys; /* pinned for this request (keyset.h); NULL if sealed */
	unsigned env_gen;    /* generation of the env txn belongs to */
	struct store_txn *txn;        /* a live read transaction */
	uint8_t *dek;        /* DEK_BYTES of secure memory, wiped after use */
	struct buf scratch;  /* plaintext scratch, wiped after each request */
	struct op_trace trace;
	time_t now;
	struct audit_batch *audit; /* the worker's (audit.h); NULL: write each entry */
	uint64_t request_id; /* of the request being dispatched; 0 until known */
	struct recipient_note *notes; /* reset per request (recipients.h) */
	size_t nnotes, capnotes;
};

/* What an apply handler gets (the writer's). */
struct write_ctx {
	struct vault_services *svc; /* the service below the server (services.h) */
	const struct key_set *keys; /* pinned by the writer for this round (keyset.h) */
	struct store_txn *txn;
	uint8_t *dek;        /* DEK_BYTES of secure memory, wiped after use */
	uint8_t *dek2;       /* a second one, for re-encryption */
	struct buf ct;       /* ciphertexts of the record being written */
	struct buf enc;      /* the record's encoding */
	struct buf copy;     /* the record as loaded (map pointers die on write) */
	struct buf doc;      /* a document being sealed */
	uint64_t *next_id;   /* record id allocator */
	struct journal_entry *deleted; /* this batch's deletions, for the journal */
	size_t ndeleted, capdeleted;
	struct op_trace trace;  /* of the op being applied */
	time_t now;
	struct audit_batch *audit; /* the entries of this group commit (audit.h) */
	uint64_t anchored;   /* the audit anchor last committed (writer.c) */
};

/* Remember a deletion of this batch for the journal (record/delete.h). */
int write_ctx_note_deletion(struct write_ctx *ctx, uint64_t id, uint64_t time);

#endif
