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

#include "vault/ctx.h"
#include "vault/store/store.h"
#include "common/buf.h"

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
	/*
	 * read also runs while the store cannot be reached (STORE_E_UNAVAILABLE),
	 * with ctx->txn NULL: status and metrics, which say so.
	 */
	int store_optional;
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

/* The table, sorted by name for bsearch. */
const struct op *op_lookup(const char *name, size_t len);
/* The same, and its place in the table in *index (metrics.h counts by it). */
const struct op *op_lookup_at(const char *name, size_t len, size_t *index);
/* Its size, its i-th entry, and op's place in it. */
size_t op_table_size(void);
const struct op *op_table_at(size_t i);
size_t op_table_index(const struct op *op);

extern const struct op op_audit_checkpoint, op_audit_query, op_audit_verify,
    op_backup, op_breach_report, op_create, op_delete, op_deletions_ack, op_deletions_pending,
    op_detokenize,
    op_keys_rekey, op_keys_retire, op_keys_rotate, op_keys_rotate_record, op_keys_status,
    op_list, op_ping, op_policy_reload, op_read, op_status, op_tokenize, op_unseal, op_update,
    op_hold_lift, op_hold_list, op_hold_place, op_request_complete,
    op_request_confirm, op_request_extend, op_request_list, op_request_open,
    op_request_show, op_request_verify, op_signing_key, op_transaction,
    op_metrics;

#endif
