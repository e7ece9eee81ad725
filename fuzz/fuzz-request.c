/*
 * fuzz-request.c - the request decoder and dispatcher: dispatch() on the
 * input as one request body, as a worker calls it (vault/dispatch.h),
 * against a real store holding the fixture's records (fuzz-vault.h), once
 * for each of the fixture's policy clients: ops (admin, plain access) and
 * clerk (masked and token access, no admin, delete or list).
 *
 * Invariants:
 *   - either exactly one well-formed reply frame is appended (header length
 *     matches, the body is a map with "id" and "ok", errors carry a known
 *     code and its name) and no write is returned, or a write operation of
 *     a write or control kind is returned and nothing is appended;
 *   - the reply echoes the request's id when the request has one;
 *   - the policy holds: the clerk gets no admin or delete operation past
 *     dispatch, and no reply to it shows a stored value it may only see
 *     masked or as a token;
 *   - an accepted request (a reply with ok, or a write) holds no string
 *     with a NUL byte, and its purpose, delete reason and token kinds are
 *     byte for byte their canonical names (no "legal\0tail" as legal;
 *     token kinds of create and tokenize, the ops that read them);
 *   - after dispatch() the worker's data key buffer is wiped, its scratch
 *     buffer empty, no key set pinned, its read transaction reset
 *     (renewable), and a returned write is counted in the writer's queue
 *     (nothing else is).
 * Writes are freed with write_op_free(), never applied: the store stays as
 * the fixture made it, so every input sees the same records. As ops, admin
 * operations are decoded too ("backup" cannot create its directory: it
 * stops after its checks).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/msg.h"
#include "common/names.h"
#include "vault/crypto/seal.h"
#include "vault/dispatch.h"
#include "vault/keyset.h"
#include "vault/ops/op.h"
#include "vault/ops/recipients_note.h"
#include "vault/policy.h"
#include "vault/privacy/hold.h"
#include "vault/server.h"

#include "fuzz.h"
#include "fuzz-vault.h"

#define MAP_SIZE (1u << 20) /* tiny: the fixture fits, nothing else is written */

static struct fuzz_vault vault;
static struct read_ctx ctx;
static msgpack_zone zone;

static void
teardown(void)
{
	if (ctx.txn != NULL)
		store_txn_abort(ctx.txn);
	ctx.txn = NULL;
	sodium_free(ctx.dek);
	buf_free(&ctx.scratch);
	free(ctx.trace.records);
	msgpack_zone_destroy(&zone);
	fuzz_vault_close(&vault);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_vault_open(&vault, MAP_SIZE);
	ctx.svc = &vault.srv.svc;
	ctx.policy = vault.policy;
	ctx.dek = sodium_malloc(DEK_BYTES);
	fuzz_assert(ctx.dek != NULL, "out of secure memory");
	sodium_memzero(ctx.dek, DEK_BYTES); /* sodium_malloc fills it with 0xdb */
	/* As worker_create() does: a read transaction, begun and reset. */
	fuzz_assert(store_txn_begin(&vault.srv.svc.store, NULL, STORE_RDONLY, &ctx.txn) == 0, "read txn");
	store_txn_reset(ctx.txn);
	fuzz_assert(msgpack_zone_init(&zone, 4096), "out of memory");
	atexit(teardown);
	return 0;
}

/*
 * Plaintexts of the fixture's records that the clerk's policy never shows
 * in plain (normalized, as stored): its replies must not carry them.
 */
static const char *const clerk_never_sees[] = {
	"Lovelace", "St James's Square", "+442079460958", "4111111111111111",
	"5555555555554444", "GB82WEST12345698765432", "c0ffee-1234",
	"%PDF-1.4 fuzz fixture document",
};

static int
contains(const struct buf *b, const char *s)
{
	return b->len > 0 && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* s[0..len) is exactly name (NULL: never). */
static int
is_name(const msgpack_object *o, const char *name)
{
	return name != NULL && msg_str_eq(o, name);
}

/* An accepted request used only canonical names (the invariant above). */
static void
check_names(const uint8_t *data, size_t size)
{
	msgpack_zone z;
	msgpack_object root;
	struct mp_limits lim = { 32, size };
	fuzz_assert(msgpack_zone_init(&z, 1024), "out of memory");
	fuzz_assert(msg_decode(data, size, &lim, &z, &root) == 0,
	    "an accepted request does not decode");
	fuzz_assert(msg_check_text(&root) == 0, "an accepted request holds a string with a NUL");
	const msgpack_object *op = msg_get(&root, "op");
	const msgpack_object *o = msg_get(&root, "purpose");
	/* hold_place's purpose is a hold's (privacy/hold.h), the others' a vault's. */
	if (o != NULL && o->type == MSGPACK_OBJECT_STR && op != NULL && msg_str_eq(op, "hold_place"))
		fuzz_assert(is_name(o, hold_purpose_name(hold_purpose_from(o->via.str.ptr,
		    o->via.str.size))), "an accepted hold purpose is not its canonical name");
	else if (o != NULL && o->type == MSGPACK_OBJECT_STR)
		fuzz_assert(is_name(o, vault_purpose_name(names_purpose(o->via.str.ptr,
		    o->via.str.size))), "an accepted purpose is not its canonical name");
	o = msg_get(&root, "reason");
	if (o != NULL && o->type == MSGPACK_OBJECT_STR && op != NULL && msg_str_eq(op, "delete"))
		fuzz_assert(is_name(o, vault_delete_reason_name(names_delete_reason(
		    o->via.str.ptr, o->via.str.size))), "an accepted reason is not its canonical name");
	/* Token requests ({field, kind}) are create's and tokenize's; detokenize's
	 * "tokens" are strings, and an item of another type only fails itself. */
	o = op != NULL && (msg_str_eq(op, "create") || msg_str_eq(op, "tokenize")) ?
	    msg_get(&root, "tokens") : NULL;
	for (uint32_t i = 0; o != NULL && o->type == MSGPACK_OBJECT_ARRAY && i < o->via.array.size; i++) {
		const msgpack_object *k = msg_get(&o->via.array.ptr[i], "kind");
		if (k != NULL && k->type == MSGPACK_OBJECT_STR)
			fuzz_assert(is_name(k, vault_token_kind_name(names_token_kind(
			    k->via.str.ptr, k->via.str.size))), "an accepted token kind is not canonical");
	}
	msgpack_zone_destroy(&z);
}

/* Dispatch the input as client c and check what comes back. */
static void
run_as(const struct policy_client *c, const uint8_t *data, size_t size)
{
	struct buf out = { 0 };
	struct write_op *wop = NULL;
	int clerk = c == vault.clerk;

	fuzz_random_reset();
	ctx.client = c;
	dispatch(&ctx, data, size, &zone, getuid() + (uid_t)clerk, getgid(), &out, &wop);

	uint64_t want_id = fuzz_request_id(&vault.srv, data, size);
	if (wop != NULL) {
		fuzz_assert(out.len == 0, "a write also appended %zu reply bytes", out.len);
		fuzz_assert(wop->op != NULL && wop->op->kind != OP_READ && wop->state != NULL,
		    "a write operation of a read kind, or without state");
		fuzz_assert(wop->request_id == want_id, "write for id %llu from request id %llu",
		    (unsigned long long)wop->request_id, (unsigned long long)want_id);
		/* A first read turned into a recipients write also holds its
		 * answer (up to a frame), counted in its cost (dispatch.c). */
		if (wop->op == &op_recipients_note)
			fuzz_assert(wop->cost > size &&
			    wop->cost - size <= vault.srv.svc.cfg.max_frame_bytes,
			    "a first read costed %zu bytes for a %zu-byte request", wop->cost, size);
		else
			fuzz_assert(wop->cost == size, "a write costed %zu bytes, not %zu", wop->cost,
			    size);
		fuzz_assert(!clerk || (!wop->op->admin && strcmp(wop->op->name, "delete") != 0),
		    "the clerk got a %s operation past the policy", wop->op->name);
		check_names(data, size);
		/* As the writer does when it hands the reply back. */
		atomic_fetch_sub(&vault.srv.writer.queued_bytes, wop->cost);
		write_op_free(wop);
	} else {
		int ok = 0;
		uint64_t id = fuzz_check_reply(out.data, out.len, &ok);
		fuzz_assert(id == want_id, "reply id %llu to request id %llu",
		    (unsigned long long)id, (unsigned long long)want_id);
		if (ok)
			check_names(data, size);
		/* Bytes the request itself carried (an echoed id) are no leak. */
		for (size_t i = 0; clerk && i < sizeof(clerk_never_sees) / sizeof(clerk_never_sees[0]); i++)
			fuzz_assert(!contains(&out, clerk_never_sees[i]) ||
			    memmem(data, size, clerk_never_sees[i], strlen(clerk_never_sees[i])) != NULL,
			    "a reply to the clerk shows \"%s\", which its policy never grants in plain",
			    clerk_never_sees[i]);
	}
	buf_free(&out);

	fuzz_assert(sodium_is_zero(ctx.dek, DEK_BYTES), "a data key was left in the worker's buffer");
	fuzz_assert(ctx.scratch.len == 0, "%zu bytes left in the scratch buffer", ctx.scratch.len);
	fuzz_assert(ctx.keys == NULL && key_set_pin_depth() == 0, "the key set is still pinned");
	fuzz_assert(atomic_load(&vault.srv.writer.queued_bytes) == 0, "queued write bytes leaked");
	fuzz_assert(ctx.txn != NULL && store_txn_renew(ctx.txn) == 0,
	    "the read transaction was not reset");
	store_txn_reset(ctx.txn);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_as(vault.ops, data, size);
	run_as(vault.clerk, data, size);
	return 0;
}
