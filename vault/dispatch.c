/*
 * dispatch.c - request checks common to every operation, then the handler
 * (see ops/op.h). Like a careful command processor: decode under limits,
 * check the version, look the operation up, check argument names and the
 * purpose centrally, and only then call the operation.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/msg.h"
#include "common/names.h"
#include "dispatch.h"
#include "ops/recipients_note.h"
#include "reply.h"
#include "keyset.h"
#include "metrics.h"
#include "policy.h"
#include "server.h"

static const char *const common_args[] = { "v", "id", "op", "purpose" };
#define NCOMMON 4
#define MAX_ARGS 16

static int
check_args(const msgpack_object *root, const struct op *op)
{
	const char *allowed[NCOMMON + MAX_ARGS + 1];
	size_t n = 0;
	for (size_t i = 0; i < NCOMMON; i++)
		allowed[n++] = common_args[i];
	for (const char *const *a = op->args; *a != NULL && n < NCOMMON + MAX_ARGS; a++)
		allowed[n++] = *a;
	allowed[n] = NULL;
	const msgpack_object *bad;
	return msg_check_keys(root, allowed, &bad);
}

/* 1 if op lists name among its own arguments (audit_query filters by purpose). */
static int
takes_arg(const struct op *op, const char *name)
{
	for (const char *const *a = op->args; *a != NULL; a++)
		if (strcmp(*a, name) == 0)
			return 1;
	return 0;
}

static enum vault_purpose
parse_purpose(const msgpack_object *root, int *rc)
{
	const char *s;
	size_t len;
	*rc = msg_get_str(root, "purpose", 1, &s, &len);
	if (*rc != 0) {
		*rc = VAULT_E_PURPOSE;
		return 0;
	}
	enum vault_purpose p = names_purpose(s, len);
	if (p == 0)
		*rc = VAULT_E_PURPOSE;
	return p;
}

/*
 * The worker's read transaction, renewed; begun afresh when the env was
 * replaced (compaction) since the last request. Called with env_lock held.
 */
static int
read_txn_begin(struct read_ctx *ctx)
{
	/* The env's replacer aborted our transaction (worker_drop_txn). */
	if (ctx->txn == NULL)
		return store_txn_begin(&ctx->svc->store, NULL, STORE_RDONLY, &ctx->txn);
	return store_txn_renew(ctx->txn);
}

/*
 * The read's answer, out[result..), goes into a recipients_note write
 * (ops/recipients_note.c) with the read's trace; the writer stores the
 * new recipients, writes the read's audit entry in its batch (not the
 * worker's: a worker batch that fails must not leave an answer queued in
 * the writer) and sends the answer after the commit. Out of memory: an
 * error, and nothing leaves (nor was anything audited: nothing was given).
 */
static void
as_recipients_write(struct read_ctx *ctx, const struct op *op, const struct request *req,
    struct buf *out, size_t start, size_t result, size_t len, struct write_op **wop)
{
	struct server *srv = server_of(ctx->svc);
	void *state = NULL;
	struct write_op *w = NULL;
	/*
	 * The held answer (up to a frame: a document) is memory no connection's
	 * budget counts: it counts in the write queue's bytes, so a client
	 * pipelining first reads is refused with VAULT_E_BUSY past
	 * max_queued_write_bytes like a writer is, instead of growing vaultd.
	 */
	size_t held = out->error ? 0 : out->len - result;
	if (!out->error && atomic_load(&srv->writer.queued_bytes) + len + held >
	    srv->svc.cfg.max_queued_write_bytes) {
		reply_abandon(out, start);
		reply_error_code(out, req->id, VAULT_E_BUSY, NULL,
		    "too many writes and first reads waiting for the disk; retry later");
		return;
	}
	int rc = out->error ? VAULT_E_NOMEM : recipients_note_state(ctx, req->client->name,
	    out->data + result, held, &state);
	reply_abandon(out, start);
	if (rc == 0 && (w = calloc(1, sizeof(*w))) == NULL) {
		op_recipients_note.free_state(state);
		rc = VAULT_E_NOMEM;
	}
	if (rc != 0) {
		reply_error_code(out, req->id, rc, NULL, NULL);
		return;
	}
	w->op = &op_recipients_note;
	w->counted_as = op;
	w->request_id = req->id;
	w->state = state;
	w->cost = len + held;
	w->client = req->client;
	w->policy = policy_ref(ctx->policy);
	w->uid = req->uid;
	w->purpose = req->purpose;
	atomic_fetch_add(&srv->writer.queued_bytes, w->cost);
	*wop = w;
}

static void
dispatch_request(struct read_ctx *ctx, const uint8_t *body, size_t len,
    msgpack_zone *zone, uid_t uid, gid_t gid, struct buf *out,
    struct write_op **wop, size_t *opi)
{
	struct server *srv = server_of(ctx->svc);
	/* Each container element is an object; tokens dominate large requests. */
	struct mp_limits lim = {
		REQUEST_MAX_DEPTH,
		(size_t)srv->svc.cfg.max_tokens_per_request + 8u * srv->svc.cfg.max_fields_per_request + 256,
	};
	msgpack_object root;
	struct request req = { 0 };
	struct op_error err = { 0 };
	const char *opname;
	size_t oplen;
	uint64_t version = 0;
	int rc;

	*wop = NULL;
	msgpack_zone_clear(zone);
	if ((rc = msg_decode(body, len, &lim, zone, &root)) != 0) {
		reply_error_code(out, 0, rc, NULL, rc == VAULT_E_LIMIT ?
		    "request nests too deep or holds too many items" :
		    "request is not a well-formed msgpack map");
		return;
	}
	ctx->request_id = 0;
	if ((rc = msg_get_uint(&root, "id", 1, &req.id)) != 0) {
		reply_error_code(out, 0, rc, "id", "every request needs an unsigned integer id");
		return;
	}
	ctx->request_id = req.id;
	if ((rc = msg_check_text(&root)) != 0) {
		reply_error_code(out, req.id, rc, NULL,
		    "strings never hold a NUL byte (binary data travels as bin)");
		return;
	}
	if ((rc = msg_get_uint(&root, "v", 1, &version)) != 0) {
		reply_error_code(out, req.id, rc, "v", "every request needs the protocol version v");
		return;
	}
	if (version != VAULT_PROTOCOL_VERSION) {
		reply_error_code(out, req.id, VAULT_E_PROTO_VERSION, "v",
		    "this server speaks protocol version 1");
		return;
	}
	if ((rc = msg_get_str(&root, "op", 1, &opname, &oplen)) != 0) {
		reply_error_code(out, req.id, rc, "op", "every request needs an operation name");
		return;
	}
	const struct op *op = op_lookup_at(opname, oplen, opi);
	if (op == NULL) {
		reply_error_code(out, req.id, VAULT_E_PROTO_UNKNOWN_OP, "op", NULL);
		return;
	}
	if ((rc = check_args(&root, op)) != 0) {
		reply_error_code(out, req.id, rc, NULL, rc == VAULT_E_PROTO_UNKNOWN_ARG ?
		    "the operation does not take one of the arguments given" :
		    "argument names must be strings, each given once");
		return;
	}
	if (op->needs_purpose) {
		req.purpose = parse_purpose(&root, &rc);
		if (rc != 0) {
			reply_error_code(out, req.id, rc, "purpose",
			    "purpose is transactional, marketing, maintenance, security or legal");
			return;
		}
	} else if (msg_get(&root, "purpose") != NULL && !takes_arg(op, "purpose")) {
		reply_error_code(out, req.id, VAULT_E_PROTO_UNKNOWN_ARG, "purpose",
		    "this operation takes no purpose");
		return;
	}
	req.args = &root;
	req.uid = uid;
	req.gid = gid;
	ctx->now = time(NULL);

	req.client = ctx->client;
	ctx->trace.nrecords = 0;
	ctx->trace.fields = 0;
	if (req.client == NULL || (op->admin && !req.client->admin)) {
		struct op_error e = { 0 };
		op_deny(&e, "op", req.client ? req.client->name : NULL,
		    "this operation is for clients with admin = true in the policy");
		/* A refused admin request is worth a line in the trail. */
		if (!op->unaudited && services_audit(&srv->svc, ctx->audit, NULL, req.client, uid, req.purpose,
		    op->name, &ctx->trace, e.code) != 0)
			reply_error_code(out, req.id, VAULT_E_AUDIT, NULL, audit_refusal(srv->svc.audit, 0));
		else
			reply_error(out, req.id, &e);
		return;
	}
	pthread_rwlock_rdlock(&srv->svc.env_lock);
	/* A store that cannot be reached: the ops that say so run without a
	 * snapshot (ctx->txn NULL); the others fail, retryably. */
	struct store_txn *kept = NULL;
	if ((rc = read_txn_begin(ctx)) != 0 && !(op->store_optional && rc == STORE_E_UNAVAILABLE)) {
		pthread_rwlock_unlock(&srv->svc.env_lock);
		reply_error_code(out, req.id, store_error(rc), NULL, rc == STORE_E_UNAVAILABLE ?
		    "the database cannot be reached; retry later" : NULL);
		return;
	} else if (rc != 0) {
		kept = ctx->txn;
		ctx->txn = NULL;
	}
	/* A long operation that needs no keys must not hold back a rotation. */
	ctx->keys = op->no_keys ? NULL : key_set_acquire(&srv->svc);
	if (!op->sealed_ok && key_set_sealed(&srv->svc)) {
		reply_error_code(out, req.id, VAULT_E_SEALED, NULL,
		    "the vault is sealed: an administrator must unseal it");
	} else if (op->kind == OP_READ) {
		msgpack_packer pk;
		size_t start = reply_begin(out, &pk, req.id);
		size_t result = out->len;
		ctx->nnotes = 0;
		rc = op->read(ctx, &req, &pk, &err);
		if (rc == 0 && ctx->nnotes > 0) {
			/* New recipients: the writer stores them and writes this
			 * read's audit entry in its batch, and only then answers. */
			as_recipients_write(ctx, op, &req, out, start, result, len, wop);
		/* The entry is written before the answer can leave (fail closed). */
		} else if (!op->unaudited && services_audit(&srv->svc, ctx->audit, ctx->keys, req.client, uid, req.purpose,
		    op->name, &ctx->trace, rc ? err.code : 0) != 0) {
			reply_abandon(out, start);
			reply_error_code(out, req.id, VAULT_E_AUDIT, NULL,
			    audit_refusal(srv->svc.audit, 0));
		} else if (rc != 0) {
			reply_abandon(out, start);
			reply_error(out, req.id, &err);
		} else {
			reply_end(out, start, req.id, srv->svc.cfg.max_frame_bytes);
		}
	} else if (atomic_load(&srv->writer.queued_bytes) + len > srv->svc.cfg.max_queued_write_bytes) {
		/* Bounded memory: past this, writes are refused until the writer catches up. */
		reply_error_code(out, req.id, VAULT_E_BUSY, NULL,
		    "too many writes waiting for the disk; retry later");
	} else {
		void *state = NULL;
		rc = op->prepare(ctx, &req, &state, &err);
		if (rc != 0) {
			/* Refused before the writer: audited here (denials matter). */
			if (services_audit(&srv->svc, ctx->audit, ctx->keys, req.client, uid, req.purpose, op->name,
			    &ctx->trace, err.code) != 0)
				reply_error_code(out, req.id, VAULT_E_AUDIT, NULL, audit_refusal(srv->svc.audit, 0));
			else
				reply_error(out, req.id, &err);
		} else {
			struct write_op *w = calloc(1, sizeof(*w));
			if (w == NULL) {
				op->free_state(state);
				reply_error_code(out, req.id, VAULT_E_NOMEM, NULL, NULL);
			} else {
				w->op = op;
				w->request_id = req.id;
				w->state = state;
				w->cost = len;
				w->client = req.client;
				w->policy = policy_ref(ctx->policy);
				w->uid = uid;
				w->purpose = req.purpose;
				atomic_fetch_add(&srv->writer.queued_bytes, len);
				*wop = w;
			}
		}
	}
	if (!op->no_keys)
		key_set_release();
	ctx->keys = NULL;
	if (ctx->txn == NULL)
		ctx->txn = kept; /* NULL too if the env's replacer dropped it */
	else
		store_txn_reset(ctx->txn);
	pthread_rwlock_unlock(&srv->svc.env_lock);
	sodium_memzero(ctx->dek, 32);
	buf_clear(&ctx->scratch);
}

/* Counted here once answered; a queued write is counted by the writer. */
void
dispatch(struct read_ctx *ctx, const uint8_t *body, size_t len,
    msgpack_zone *zone, uid_t uid, gid_t gid, struct buf *out,
    struct write_op **wop)
{
	size_t op = METRICS_NO_OP;
	dispatch_request(ctx, body, len, zone, uid, gid, out, wop, &op);
	if (*wop == NULL)
		metrics_request(op, reply_last_code());
}
