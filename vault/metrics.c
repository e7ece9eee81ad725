/*
 * metrics.c - the counters behind the "metrics" operation (metrics.h).
 *
 * The request counters are kept in SHARDS copies, each thread adding to
 * its own (the workers and the writer get different ones while there are
 * no more threads than copies): no cache line bounces between cores on
 * every request. A scrape adds the copies up.
 *
 * Per-operation counters are indexed by the operation's place in the table
 * (ops/table.c), with one more row for requests refused before their
 * operation was known. Errors are kept per operation and per code: a code
 * maps to a slot by its class (code / 100, 1-5) and number (code % 100,
 * below 16), which covers every VAULT_E_* code; anything else counts in a
 * last "other" slot (reported as VAULT_E_INTERNAL, which no code shares it
 * with by accident: it is slot (5, 0)... see error_slot).
 */
#include <stdatomic.h>
#include <time.h>

#include <vault/vault.h>

#include "common/msg.h"
#include "ops/op.h"
#include "keyset.h"
#include "metrics.h"
#include "privacy/feed.h"
#include "server.h"

#define ERROR_CLASSES 5
#define ERROR_NUMBERS 16
#define ERROR_SLOTS (ERROR_CLASSES * ERROR_NUMBERS)
#define BAD_ROW METRICS_MAX_OPS
#define MAX_BOUNDS 20
#define SHARDS 8

typedef _Atomic uint64_t counter;

struct op_row {
	counter requests;
	counter errors[ERROR_SLOTS];
};

struct hist {
	const char *unit;
	const uint64_t *bounds;
	size_t nbounds;
	counter counts[MAX_BOUNDS + 1]; /* the last: above every bound */
	counter sum;
};

/* 50 us to 10 s, about three steps per decade. */
static const uint64_t latency_bounds[] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
static const uint64_t batch_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };

#define NB(a) (sizeof(a) / sizeof((a)[0]))

struct shard {
	_Alignas(64) struct op_row ops[METRICS_MAX_OPS + 1];
};

static struct {
	struct shard shard[SHARDS];
	counter accepted;
	counter refused[METRICS_NREFUSALS];
	struct hist hist[METRICS_NHIST];
} m = {
	.hist = {
		[METRICS_COMMIT_US] = { .unit = "microseconds", .bounds = latency_bounds,
		    .nbounds = NB(latency_bounds) },
		[METRICS_FLUSH_US] = { .unit = "microseconds", .bounds = latency_bounds,
		    .nbounds = NB(latency_bounds) },
		[METRICS_BATCH] = { .unit = "writes", .bounds = batch_bounds,
		    .nbounds = NB(batch_bounds) },
	},
};

_Static_assert(NB(latency_bounds) <= MAX_BOUNDS && NB(batch_bounds) <= MAX_BOUNDS,
    "a histogram has more bounds than MAX_BOUNDS");

static const char *const hist_names[METRICS_NHIST] = {
	[METRICS_COMMIT_US] = "commit",
	[METRICS_FLUSH_US] = "flush",
	[METRICS_BATCH] = "batch",
};

static const char *const refusal_names[METRICS_NREFUSALS] = {
	[METRICS_REFUSED_POLICY] = "policy",
	[METRICS_REFUSED_LIMIT] = "limit",
};

static size_t
error_slot(int code)
{
	int cls = code / 100, num = code % 100;
	if (cls < 1 || cls > ERROR_CLASSES || num >= ERROR_NUMBERS) {
		cls = VAULT_E_INTERNAL / 100;
		num = VAULT_E_INTERNAL % 100;
	}
	return (size_t)(cls - 1) * ERROR_NUMBERS + (size_t)num;
}

static int
slot_code(size_t slot)
{
	return (int)(slot / ERROR_NUMBERS + 1) * 100 + (int)(slot % ERROR_NUMBERS);
}

static void
add(counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
get(counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* This thread's copy of the request counters, taken at its first request. */
static struct shard *
my_shard(void)
{
	static atomic_uint next;
	static _Thread_local struct shard *mine __attribute__((tls_model("initial-exec")));
	if (mine == NULL)
		mine = &m.shard[atomic_fetch_add(&next, 1) % SHARDS];
	return mine;
}

void
metrics_request(size_t op_index, int code)
{
	struct op_row *row = &my_shard()->ops[op_index < METRICS_MAX_OPS ? op_index : BAD_ROW];
	add(&row->requests, 1);
	if (code != 0)
		add(&row->errors[error_slot(code)], 1);
}

void
metrics_conn_accepted(void)
{
	add(&m.accepted, 1);
}

void
metrics_conn_refused(enum metrics_refusal why)
{
	add(&m.refused[why], 1);
}

void
metrics_observe(enum metrics_hist h, uint64_t value)
{
	struct hist *hs = &m.hist[h];
	size_t b = 0;
	while (b < hs->nbounds && value > hs->bounds[b])
		b++;
	add(&hs->counts[b], 1);
	add(&hs->sum, value);
}

uint64_t
metrics_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Row i of every shard, added up. */
static void
pack_row(msgpack_packer *pk, size_t i)
{
	uint64_t requests = 0, errors[ERROR_SLOTS] = { 0 };
	size_t n = 0;
	for (size_t sh = 0; sh < SHARDS; sh++) {
		struct op_row *row = &m.shard[sh].ops[i];
		requests += get(&row->requests);
		for (size_t s = 0; s < ERROR_SLOTS; s++)
			errors[s] += get(&row->errors[s]);
	}
	for (size_t s = 0; s < ERROR_SLOTS; s++)
		n += errors[s] != 0;
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "requests");
	msgpack_pack_uint64(pk, requests);
	/* Only the codes that occurred: the list of codes may grow. */
	mp_cstr(pk, "errors");
	msgpack_pack_map(pk, n);
	for (size_t s = 0; s < ERROR_SLOTS; s++) {
		if (errors[s] == 0)
			continue;
		mp_cstr(pk, vault_error_name(slot_code(s)));
		msgpack_pack_uint64(pk, errors[s]);
	}
}

/* "count" is the sum of the buckets as read, so the two always agree. */
static void
pack_hist(msgpack_packer *pk, struct hist *hs)
{
	uint64_t total = 0;
	msgpack_pack_map(pk, 5);
	mp_cstr(pk, "unit");
	mp_cstr(pk, hs->unit);
	mp_cstr(pk, "le");
	msgpack_pack_array(pk, hs->nbounds);
	for (size_t b = 0; b < hs->nbounds; b++)
		msgpack_pack_uint64(pk, hs->bounds[b]);
	mp_cstr(pk, "counts");
	msgpack_pack_array(pk, hs->nbounds + 1);
	for (size_t b = 0; b <= hs->nbounds; b++) {
		uint64_t c = get(&hs->counts[b]);
		total += c;
		msgpack_pack_uint64(pk, c);
	}
	mp_cstr(pk, "sum");
	msgpack_pack_uint64(pk, get(&hs->sum));
	mp_cstr(pk, "count");
	msgpack_pack_uint64(pk, total);
}

/* Writes waiting for the writer: a walk of its queue under its lock. */
static void
pack_write_queue(msgpack_packer *pk, struct server *srv)
{
	struct writer *w = &srv->writer;
	uint64_t n = 0;
	pthread_mutex_lock(&w->lock);
	for (const struct write_op *op = w->head; op != NULL; op = op->next)
		n++;
	pthread_mutex_unlock(&w->lock);
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "writes");
	msgpack_pack_uint64(pk, n);
	/* Of every write not yet answered, also those being applied. */
	mp_cstr(pk, "bytes");
	msgpack_pack_uint64(pk, atomic_load(&w->queued_bytes));
}

static void
pack_rotation(msgpack_packer *pk, struct server *srv)
{
	const struct rotation *rot = &srv->svc.rotation;
	unsigned target = atomic_load(&rot->target);
	uint64_t total = atomic_load(&rot->total), examined = atomic_load(&rot->examined);
	msgpack_pack_map(pk, 5);
	mp_cstr(pk, "state");
	mp_cstr(pk, target == 0 ? "none" : atomic_load(&rot->stalled_since) != 0 ?
	    "stalled" : "running");
	mp_cstr(pk, "target_epoch");
	msgpack_pack_uint32(pk, target);
	/* As keys_status: records created during the rewrap are examined too. */
	mp_cstr(pk, "records");
	msgpack_pack_uint64(pk, target ? total : 0);
	mp_cstr(pk, "examined");
	msgpack_pack_uint64(pk, target ? (examined < total ? examined : total) : 0);
	mp_cstr(pk, "rewrapped");
	msgpack_pack_uint64(pk, target ? atomic_load(&rot->rewrapped) : 0);
}

int
metrics_pack(struct server *srv, struct store_txn *txn, msgpack_packer *pk)
{
	/* Exact counts from the B-trees' headers: O(1), no state to keep in step. */
	uint64_t nrecords = 0, ntombstones = 0;
	int rc = STORE_E_UNAVAILABLE;
	/* txn NULL: the store cannot be reached; the counts are left out. */
	if (txn != NULL && (rc = store_count(txn, STORE_RECORDS, &nrecords)) == 0)
		rc = store_count(txn, STORE_TOMBSTONES, &ntombstones);
	if (rc != 0 && rc != STORE_E_UNAVAILABLE)
		return store_error(rc);
	int reachable = rc == 0;
	size_t nops = op_table_size();
	if (nops > METRICS_MAX_OPS)
		nops = METRICS_MAX_OPS;

	uint64_t late = 0;
	if (reachable && (rc = feed_overdue(txn, (uint64_t)time(NULL),
	    srv->svc.cfg.deletion_ack_seconds, &late)) != 0)
		return rc;
	msgpack_pack_map(pk, reachable ? 15 : 12);
	mp_cstr(pk, "sealed");
	if (key_set_sealed(&srv->svc))
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	mp_cstr(pk, "uptime_seconds");
	time_t now = time(NULL);
	msgpack_pack_uint64(pk, now > srv->svc.started ? (uint64_t)(now - srv->svc.started) : 0);

	mp_cstr(pk, "connections");
	msgpack_pack_map(pk, 3);
	mp_cstr(pk, "open");
	msgpack_pack_uint32(pk, atomic_load(&srv->connections));
	mp_cstr(pk, "accepted");
	msgpack_pack_uint64(pk, get(&m.accepted));
	mp_cstr(pk, "refused");
	msgpack_pack_map(pk, METRICS_NREFUSALS);
	for (size_t r = 0; r < METRICS_NREFUSALS; r++) {
		mp_cstr(pk, refusal_names[r]);
		msgpack_pack_uint64(pk, get(&m.refused[r]));
	}

	/* Every operation, also those never called: a series that appears
	 * only after its first request breaks rate() over its first minute. */
	mp_cstr(pk, "ops");
	msgpack_pack_map(pk, nops);
	for (size_t i = 0; i < nops; i++) {
		mp_cstr(pk, op_table_at(i)->name);
		pack_row(pk, i);
	}
	mp_cstr(pk, "bad_requests");
	pack_row(pk, BAD_ROW);

	for (size_t h = 0; h < METRICS_NHIST; h++) {
		mp_cstr(pk, hist_names[h]);
		pack_hist(pk, &m.hist[h]);
	}
	mp_cstr(pk, "write_queue");
	pack_write_queue(pk, srv);
	if (reachable) {
		mp_cstr(pk, "records");
		msgpack_pack_uint64(pk, nrecords);
		mp_cstr(pk, "tombstones");
		msgpack_pack_uint64(pk, ntombstones);
		mp_cstr(pk, "deletion_acks_overdue");
		msgpack_pack_uint64(pk, late);
	}
	/* Unix time of the first failed connect of an outage; 0: reachable. */
	mp_cstr(pk, "storage_unreachable_since");
	msgpack_pack_uint64(pk, reachable ? 0 :
	    (uint64_t)store_unreachable_since(&srv->svc.store));
	mp_cstr(pk, "rotation");
	pack_rotation(pk, srv);
	/* backup_before_retire and the backups' freshness (rotation_state.h). */
	const struct rotation *rot = &srv->svc.rotation;
	mp_cstr(pk, "backups");
	msgpack_pack_map(pk, 3);
	mp_cstr(pk, "newest_usable_created");
	msgpack_pack_int64(pk, atomic_load(&rot->newest_usable_backup));
	mp_cstr(pk, "stale");
	msgpack_pack_uint32(pk, atomic_load(&rot->backup_stale) ? 1 : 0);
	mp_cstr(pk, "retire_refused_since");
	msgpack_pack_int64(pk, atomic_load(&rot->retire_backup_failed_since));
	return 0;
}
