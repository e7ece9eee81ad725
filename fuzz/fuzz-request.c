/*
 * fuzz-request.c - the request decoder and dispatcher: dispatch() on the
 * input as one request body, as a worker calls it (vault/dispatch.h),
 * against a real store holding the fixture's records (fuzz-vault.h).
 *
 * Invariants:
 *   - either exactly one well-formed reply frame is appended (header length
 *     matches, the body is a map with "id" and "ok", errors carry a known
 *     code and its name) and no write is returned, or a write operation of
 *     a write or control kind is returned and nothing is appended;
 *   - the reply echoes the request's id when the request has one;
 *   - after dispatch() the worker's data key buffer is wiped, its scratch
 *     buffer empty, no key set pinned, its read transaction reset
 *     (renewable), and a returned write is counted in the writer's queue
 *     (nothing else is).
 * Writes are freed with write_op_free(), never applied: the store stays as
 * the fixture made it, so every input sees the same records. The caller's
 * uid is one of the fixture's admin uids, so admin operations are decoded
 * too ("backup" cannot create its directory: it stops after its checks).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <sodium.h>

#include "vault/crypto/seal.h"
#include "vault/dispatch.h"
#include "vault/ops/op.h"
#include "vault/policy.h"
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
		mdb_txn_abort(ctx.txn);
	ctx.txn = NULL;
	sodium_free(ctx.dek);
	buf_free(&ctx.scratch);
	msgpack_zone_destroy(&zone);
	fuzz_vault_close(&vault);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_vault_open(&vault, MAP_SIZE);
	ctx.srv = &vault.srv;
	ctx.client = policy_client(&vault.srv.policy, 0, 0);
	ctx.dek = sodium_malloc(DEK_BYTES);
	fuzz_assert(ctx.dek != NULL, "out of secure memory");
	sodium_memzero(ctx.dek, DEK_BYTES); /* sodium_malloc fills it with 0xdb */
	/* As worker_create() does: a read transaction, begun and reset. */
	fuzz_assert(mdb_txn_begin(vault.srv.store.env, NULL, MDB_RDONLY, &ctx.txn) == 0, "read txn");
	mdb_txn_reset(ctx.txn);
	fuzz_assert(msgpack_zone_init(&zone, 4096), "out of memory");
	atexit(teardown);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = { 0 };
	struct write_op *wop = NULL;

	fuzz_random_reset();
	dispatch(&ctx, data, size, &zone, getuid(), getgid(), &out, &wop);

	uint64_t want_id = fuzz_request_id(&vault.srv, data, size);
	if (wop != NULL) {
		fuzz_assert(out.len == 0, "a write also appended %zu reply bytes", out.len);
		fuzz_assert(wop->op != NULL && wop->op->kind != OP_READ && wop->state != NULL,
		    "a write operation of a read kind, or without state");
		fuzz_assert(wop->request_id == want_id, "write for id %llu from request id %llu",
		    (unsigned long long)wop->request_id, (unsigned long long)want_id);
		fuzz_assert(wop->cost == size, "a write costed %zu bytes, not %zu", wop->cost, size);
		/* As the writer does when it hands the reply back. */
		atomic_fetch_sub(&vault.srv.writer.queued_bytes, wop->cost);
		write_op_free(wop);
	} else {
		int ok = 0;
		uint64_t id = fuzz_check_reply(out.data, out.len, &ok);
		fuzz_assert(id == want_id, "reply id %llu to request id %llu",
		    (unsigned long long)id, (unsigned long long)want_id);
	}
	buf_free(&out);

	fuzz_assert(sodium_is_zero(ctx.dek, DEK_BYTES), "a data key was left in the worker's buffer");
	fuzz_assert(ctx.scratch.len == 0, "%zu bytes left in the scratch buffer", ctx.scratch.len);
	fuzz_assert(ctx.keys == NULL && atomic_load(&ctx.hazard) == NULL, "the key set is still pinned");
	fuzz_assert(atomic_load(&vault.srv.writer.queued_bytes) == 0, "queued write bytes leaked");
	fuzz_assert(ctx.txn != NULL && mdb_txn_renew(ctx.txn) == 0,
	    "the read transaction was not reset");
	mdb_txn_reset(ctx.txn);
	return 0;
}
