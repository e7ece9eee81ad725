/*
 * op.h - the operation table and what a handler gets.
 *
 * One file per operation (ops/<name>.c) defines a `const struct op`. The
 * dispatcher (dispatch.c) checks the common arguments, the argument names
 * and the purpose centrally, then calls the handler: read operations run on
 * the worker with a read transaction; write operations are prepared on the
 * worker (arguments validated and normalized, so bad input is refused
 * without touching the writer) and applied by the writer inside its batch
 * transaction.
 *
 * A handler packs exactly one msgpack object, the result, or returns an
 * error code and fills a struct op_error whose strings are static (they
 * never hold request data, so no personal data can reach an error); the
 * one exception, an unknown field's name, goes through input_unknown_field().
 */
#ifndef VAULT_OPS_OP_H
#define VAULT_OPS_OP_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <msgpack.h>
#include <vault/vault.h>

#include "vault/store/store.h"
#include "common/buf.h"

struct server;
struct key_set;
struct journal_entry;

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

/* What a read handler or a write preparer may use (one per worker). */
struct read_ctx {
	struct server *srv;
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
};

/* What an apply handler gets (the writer's). */
struct write_ctx {
	struct server *srv;
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

enum op_kind {
	OP_READ,     /* runs on the worker */
	OP_WRITE,    /* prepared on the worker, applied in the writer's batch */
	OP_CONTROL,  /* prepared on the worker, run by the writer on its own,
	              * outside any batch (key rotation, retirement) */
};

struct op {
	const char *name;
	enum op_kind kind;
	int needs_purpose;
	const char *const *args;  /* allowed arguments besides v, id, op, purpose */
	int admin;                /* only clients with admin = true (policy) */
	int sealed_ok;            /* answered while the vault is sealed */
	int no_keys;              /* never pins the key set (long-running) */
	int unaudited;            /* touches neither personal data nor keys */
	/*
	 * apply changes nothing but its transaction, the id allocator, the
	 * batch's deletion list, its reply, the trace and the audit batch:
	 * consecutive such writes may share one nested transaction (writer.c).
	 */
	int shares_txn;
	int (*read)(struct read_ctx *ctx, const struct request *req,
	    msgpack_packer *pk, struct op_error *err);
	int (*prepare)(struct read_ctx *ctx, const struct request *req,
	    void **state, struct op_error *err);
	/*
	 * Runs in its own nested transaction: on error every write it made
	 * is dropped, so it may fail at any point.
	 */
	int (*apply)(struct write_ctx *ctx, void *state, msgpack_packer *pk,
	    struct op_error *err);
	int (*control)(struct write_ctx *ctx, void *state, msgpack_packer *pk,
	    struct op_error *err);
	void (*free_state)(void *state);
};

/*
 * Delete record id in ctx's transaction (crypto-shredding, delete.c):
 * also used by restore, so both remove exactly the same things.
 */
int op_delete_record(struct write_ctx *ctx, uint64_t id, uint8_t reason,
    struct op_error *err);

/* The table, sorted by name for bsearch. */
const struct op *op_lookup(const char *name, size_t len);
/* The same, and its place in the table in *index (metrics.h counts by it). */
const struct op *op_lookup_at(const char *name, size_t len, size_t *index);
/* Its size, its i-th entry, and op's place in it. */
size_t op_table_size(void);
const struct op *op_table_at(size_t i);
size_t op_table_index(const struct op *op);

extern const struct op op_audit_checkpoint, op_audit_query, op_audit_verify,
    op_backup, op_create, op_delete, op_detokenize,
    op_keys_retire, op_keys_rotate, op_keys_rotate_record, op_keys_status,
    op_list, op_ping, op_policy_reload, op_read, op_status, op_tokenize, op_unseal, op_update,
    op_hold_lift, op_hold_list, op_hold_place, op_request_complete,
    op_request_confirm, op_request_extend, op_request_list, op_request_open,
    op_request_show, op_request_verify, op_signing_key, op_transaction,
    op_metrics;

#endif
