/*
 * metrics.h - the service's counters for monitoring (the "metrics"
 * operation, vaultctl metrics): requests and errors per operation,
 * connections, group commit and flush latency, batch sizes. Queue depths,
 * record and tombstone counts, rotation progress and the sealed state are
 * read when asked (metrics_pack), not counted.
 *
 * Only counts and durations: no request data, no record ids, no client
 * names. The counters are process-wide C11 atomics updated with relaxed
 * ordering (one uncontended add per event on the hot path: each thread
 * counts requests in a copy of its own, metrics.c); a reader sees
 * each counter exact, but counters updated by different threads at the
 * same moment may be a request apart from each other.
 */
#ifndef VAULT_METRICS_H
#define VAULT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "vault/store/store.h"

struct op;
struct server;

/* Room for the operation table (ops/table.c asserts it fits). */
#define METRICS_MAX_OPS 64

enum metrics_hist {
	METRICS_COMMIT_US,  /* a group commit: transaction begin to commit return */
	METRICS_FLUSH_US,   /* the store's commit of a batch (page writes, fdatasync) */
	METRICS_BATCH,      /* writes per group commit */
	METRICS_NHIST,
};

enum metrics_refusal {
	METRICS_REFUSED_POLICY, /* no client of the policy matches the caller */
	METRICS_REFUSED_LIMIT,  /* max_connections, per-uid limit or budget */
	METRICS_NREFUSALS,
};

/* metrics_request's index of a request whose operation is not known. */
#define METRICS_NO_OP SIZE_MAX

/*
 * A request answered: op_index its operation's place in the table
 * (op_lookup_at, op_table_index), or METRICS_NO_OP for one refused before
 * its operation was known (malformed, unknown op); code 0 or its VAULT_E_*
 * error.
 */
void metrics_request(size_t op_index, int code);
void metrics_conn_accepted(void);
void metrics_conn_refused(enum metrics_refusal why);
void metrics_observe(enum metrics_hist h, uint64_t value);
/* CLOCK_MONOTONIC in microseconds, for durations. */
uint64_t metrics_now_us(void);

/*
 * Pack the metrics operation's result (PROTOCOL.md, "metrics") with what
 * is read now: txn (a read transaction) for the record and tombstone
 * counts, srv for queues, rotation and sealed. 0 or a VAULT_E_* code.
 */
int metrics_pack(struct server *srv, struct store_txn *txn, msgpack_packer *pk);

#endif
