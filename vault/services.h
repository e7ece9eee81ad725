/*
 * services.h - the running service's shared state as the layers below the
 * server see it: what an operation, privacy/, record/, the audit and alert
 * code may use (vault/README.md: data flows one way, from the server down).
 *
 * The server owns one (struct server.svc) and hands it to every request
 * context (ctx.h); nothing below the server knows struct server, its
 * workers or its writer. Where an operation must make the server act
 * (rotate or retire keys, wake the writer, report the server's own
 * figures) it calls through the server's struct vault_control.
 */
#ifndef VAULT_SERVICES_H
#define VAULT_SERVICES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <msgpack.h>
#include <vault/vault.h>

#include "keys/keyring.h"
#include "alert.h"
#include "audit.h"
#include "config.h"
#include "journal.h"
#include "policy.h"
#include "rotation_state.h"
#include "store/store.h"

struct key_set;
struct write_ctx;
struct vault_control;

struct vault_services {
	struct config cfg;
	struct store store;
	/* NULL while sealed; keyset.c's alone: pin with key_set_acquire() */
	_Atomic(const struct key_set *) keys;
	uint8_t *root;              /* root key, secure memory: saves the ring */
	pthread_rwlock_t env_lock;  /* read: using the store; write: replacing its file */
	atomic_uint env_gen;        /* bumped when the store's file is replaced */
	struct journal journal;     /* deletions, for restores (journal.h) */
	/* who may do what (policy.h): hold it with policy_current_get() */
	struct policy_current policy;
	struct audit *audit;        /* the audit trail (audit.h); NULL: not open */
	struct audit_config audit_cfg; /* filled by the server; the audit ops read it */
	time_t started;
	_Atomic uint64_t hold_expiry; /* earliest hold expiry (0: none); writer's timer */
	/* Per client (alert.h), limits in [limits] (config.h): deterministic
	 * and card tokens issued, and tokens that failed to resolve. */
	struct ratelimit token_issue_rl;
	struct ratelimit token_fail_rl;
	/* Key rotation's progress (rotation_state.h): the writer changes it,
	 * everyone else reads its atomics. */
	struct rotation rotation;
	/* What the server does on an operation's behalf; set by the server
	 * before it serves (server.c: server_control). */
	const struct vault_control *control;
};

/*
 * The server's side of operations that make it act. Each returns what the
 * server function it stands for returns (0 or a VAULT_E_* code).
 */
struct vault_control {
	/* In the writer, outside any batch (OP_CONTROL): rotation.h. */
	int (*keys_rotate)(struct write_ctx *ctx, enum keyring_kind kind,
	    uint32_t *version, const char **why);
	int (*keys_retire)(struct write_ctx *ctx, uint32_t epoch, uint64_t *remaining,
	    uint64_t *before, uint64_t *after, const char **why);
	/* Keys were just unsealed: let the writer resume an unfinished rotation. */
	void (*keys_arrived)(struct vault_services *svc);
	/* The metrics operation's figures, the server's included (metrics.h). */
	int (*metrics_pack)(struct vault_services *svc, struct store_txn *txn,
	    msgpack_packer *pk);
};

struct policy_client;
struct audit_batch;
struct op_trace;

/*
 * Record a request in the audit trail (audit.h) with what trace says it
 * touched. Returns 0 (also when auditing is off or nothing can chain: a
 * sealed vault) or VAULT_E_AUDIT: then no data may be returned.
 * With a batch the entry is only added to it (audit.h): the caller holds
 * the answer back until the batch is committed.
 * keys: a set the calling thread pins (keyset.h), or NULL: then the entry
 * pins the current set itself. An unpinned set is refused (VAULT_E_INTERNAL).
 */
int services_audit(struct vault_services *svc, struct audit_batch *batch,
    const struct key_set *keys, const struct policy_client *client, uid_t uid,
    enum vault_purpose purpose,
    const char *op, const struct op_trace *trace, int outcome);

/*
 * The audit entry of a security alert (alert.c): operation "alert", outcome
 * the alert's name, written at once (not batched). 0 or VAULT_E_AUDIT;
 * VAULT_E_INTERNAL if the calling thread does not pin keys (keyset.h).
 */
int services_audit_alert(struct vault_services *svc, const struct key_set *keys,
    const struct policy_client *client, uid_t uid, const char *alert);

#endif
