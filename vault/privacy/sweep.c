/*
 * sweep.c - the writer's hold expiry timer: holds past their expiry are
 * removed, and deletion requests that waited only for them complete, in a
 * transaction of the writer's own between batches. Audited as op
 * "hold_expiry" by client "vaultd".
 */
#include <stdatomic.h>
#include <string.h>

#include "vault/ctx.h"
#include "vault/log.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "hold.h"
#include "privacy.h"
#include "sweep.h"

void
privacy_timer_init(struct vault_services *svc)
{
	struct store_txn *txn;
	uint64_t when = 0;
	if (store_txn_begin(&svc->store, NULL, STORE_RDONLY, &txn) == 0) {
		if (hold_next_expiry(txn, svc, &when) != 0)
			when = 1; /* unreadable: let the sweep look soon */
		store_txn_abort(txn);
	}
	atomic_store(&svc->hold_expiry, when);
}

void
privacy_sweep(struct write_ctx *ctx)
{
	struct vault_services *svc = ctx->svc;
	uint64_t due = atomic_load(&svc->hold_expiry);
	uint64_t done[64], next = 0;
	size_t removed = 0, n = 0;
	int rc;

	if (due == 0 || (uint64_t)ctx->now < due)
		return;
	if (ctx->keys == NULL)
		return; /* sealed: requests cannot be signed yet (keys: the writer's pin) */
	pthread_rwlock_rdlock(&svc->env_lock);
	ctx->trace.nrecords = 0;
	ctx->trace.fields = 0;
	if ((rc = store_txn_begin(&svc->store, NULL, 0, &ctx->txn)) == 0) {
		if ((rc = hold_sweep(ctx, &removed)) == 0 &&
		    (rc = privacy_resume(ctx, "vaultd", done, 64, &n)) == 0 &&
		    (rc = hold_next_expiry(ctx->txn, svc, &next)) == 0 &&
		    (rc = services_audit(svc, NULL, ctx->keys, NULL, 0, 0, "hold_expiry",
		    &ctx->trace, 0)) == 0)
			rc = store_txn_commit(ctx->txn);
		else
			store_txn_abort(ctx->txn);
		ctx->txn = NULL;
	}
	pthread_rwlock_unlock(&svc->env_lock);
	if (rc != 0) {
		/* Try again in a minute rather than on every wake-up. */
		log_warn("hold expiry: the sweep failed (%d); retrying", rc);
		atomic_store(&svc->hold_expiry, (uint64_t)ctx->now + 60);
		return;
	}
	if (ctx->ndeleted > 0 &&
	    journal_append(&svc->journal, ctx->deleted, ctx->ndeleted) != 0)
		log_error("deletion journal: cannot append %zu entries", ctx->ndeleted);
	ctx->ndeleted = 0;
	atomic_store(&svc->hold_expiry, next);
	if (removed > 0)
		log_info("hold expiry: %zu holds expired, %zu deletion requests completed",
		    removed, n);
}
