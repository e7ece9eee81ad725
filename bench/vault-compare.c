/*
 * vault-compare.c - the vault half of bench/compare.sh: every figure of
 * issue 7 against one running vaultd, written as TSV rows for the script
 * to put beside PostgreSQL's.
 *
 *   vault-compare -s SOCKET [-s SOCKET2 ...] -o ROWS.tsv [-n RECORDS] [-d SECONDS]
 *       [-c 1,4,8,16] [-w 1,8,64] [-b BATCH] [-S SAMPLE] [-C CONNS] [-p DEPTH]
 *       [-D PIPE_DEPTH] [-P VAULTD_PID] [-f DATA_DIR] [-r ROWS] [-q]
 *
 * -s more than once (up to 4; several vaultd nodes on one PostgreSQL
 * database): the preload goes through the first socket; synchronous client
 * i and pipelined connection i connect to socket i % N, so one run drives
 * every node. With one -s nothing changes. -P may be given once per node:
 * "vaultd CPU" is then their sum (RSS facts: the first).
 *
 * -r picks rows (for profiling): a list of ping, detok1, detokb, pipe
 * (pping, pdetok: one of the two), create, update, delete, mixed; default all.
 *
 * 1. Preload: RECORDS records (each with an opaque email token asked for in
 *    the same create), pipelined over CONNS raw connections with DEPTH
 *    creates in flight each, so the group commit batches them. That rate is
 *    itself a row ("create, pipelined"). Keeps the tokens of SAMPLE records
 *    spread evenly over the whole id range.
 * 2. Synchronous clients through the client library, one thread and one
 *    connection each, for SECONDS per row: ping (the floor), detokenize of
 *    one field, detokenize of BATCH fields, durable create, update, delete,
 *    and a 90% detokenize / 10% update mix.
 * 3. Pipelined ping and detokenize over 4 raw connections with PIPE_DEPTH
 *    (32) requests in flight each (the library is synchronous; the
 *    protocol allows many requests in flight).
 *
 * Rows: op, clients, requests/s, fields/s, p50, p99, p99.9 (microseconds),
 * errors, the share of the machine's CPU that other processes (not vaultd,
 * not this one) used during the row (the machine may be shared), and
 * vaultd's own CPU use in percent of one CPU. Latency is measured per request from just before it is sent to
 * just after its reply is decoded. Facts (RSS, data file bytes) are written
 * as "#fact" rows. Progress goes to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <vault/vault.h>

#include "bench-util.h"

#define MAX_CLIENTS 128
#define MAX_SOCKETS 4

static FILE *rows;
static int quiet;
static long server_pids[MAX_SOCKETS];
static int nserver_pids;

/*
 * CPU time of the whole machine, of vaultd and of this process, in clock
 * ticks: what other processes used during a row is busy - vaultd - us.
 * The machine is shared, so each row says how much of it others took.
 */
struct cpu_mark {
	double busy, server, self, t;
};

static double
proc_ticks(const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* after ") ": state is field 3; utime and stime are fields 14 and 15 */
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		return 0;
	return (double)(ut + st);
}

static struct cpu_mark
cpu_mark(void)
{
	struct cpu_mark m = { 0 };
	char path[64];
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	if (f != NULL) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		    &v[3], &v[4], &v[5], &v[6], &v[7]) == 8)
			m.busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
		fclose(f);
	}
	for (int i = 0; i < nserver_pids; i++) {
		snprintf(path, sizeof(path), "/proc/%ld/stat", server_pids[i]);
		m.server += proc_ticks(path);
	}
	m.self = proc_ticks("/proc/self/stat");
	m.t = now_s();
	return m;
}

/* Share of the machine (all CPUs) other processes used between a and b. */
static double
others_pct(struct cpu_mark a, struct cpu_mark b)
{
	double hz = (double)sysconf(_SC_CLK_TCK), ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN);
	double other = (b.busy - a.busy) - (b.server - a.server) - (b.self - a.self);
	double span = (b.t - a.t) * hz * ncpu;
	if (span <= 0)
		return 0;
	return other < 0 ? 0 : 100 * other / span;
}
/* vaultd's CPU use between a and b, in percent of one CPU. */
static double
server_pct(struct cpu_mark a, struct cpu_mark b)
{
	double hz = (double)sysconf(_SC_CLK_TCK);
	return b.t > a.t ? 100 * (b.server - a.server) / hz / (b.t - a.t) : 0;
}
static struct cpu_mark row_start;

static void
die(const char *what)
{
	fprintf(stderr, "vault-compare: %s\n", what);
	exit(1);
}

static double
pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	return v[(size_t)(p * (double)(n - 1) + 0.5)];
}

/* ---- latency samples ---------------------------------------------------- */

struct lat {
	double *v;
	size_t n, cap;
};

static void
lat_add(struct lat *l, double us)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = xrealloc(l->v, l->cap * sizeof(double));
	}
	l->v[l->n++] = us;
}

static void
lat_merge(struct lat *into, struct lat *from)
{
	for (size_t i = 0; i < from->n; i++)
		lat_add(into, from->v[i]);
	free(from->v);
	from->v = NULL;
	from->n = from->cap = 0;
}

/* One result row, to the TSV file and (unless -q) to stdout. */
static void
row(const char *op, const char *clients, double elapsed, struct lat *l, size_t fields_per,
    size_t errors)
{
	qsort(l->v, l->n, sizeof(double), cmp_double);
	double rps = elapsed > 0 ? (double)l->n / elapsed : 0;
	struct cpu_mark end = cpu_mark();
	double others = others_pct(row_start, end), server = server_pct(row_start, end);
	fprintf(rows, "%s\t%s\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t%zu\t%.0f\t%.0f\n", op, clients, rps,
	    rps * (double)fields_per, pct(l->v, l->n, 0.5), pct(l->v, l->n, 0.99),
	    pct(l->v, l->n, 0.999), errors, others, server);
	fflush(rows);
	if (!quiet)
		fprintf(stderr, "  %-24s %-8s %9.0f req/s %10.0f fields/s  p50 %7.1f  p99 %7.1f  "
		    "p99.9 %7.1f us  errors %zu  vaultd CPU %.0f%%  others' CPU %.0f%%\n", op,
		    clients, rps, rps * (double)fields_per, pct(l->v, l->n, 0.5),
		    pct(l->v, l->n, 0.99), pct(l->v, l->n, 0.999), errors, server, others);
}

static void
fact(const char *key, double v)
{
	fprintf(rows, "#fact\t%s\t%.0f\n", key, v);
	fflush(rows);
}

/* ---- raw protocol: buffers, packing, frames ----------------------------- */

/* Start a frame: reserve the length, return where it starts. */
static size_t
frame_begin(struct obuf *b, msgpack_packer *pk)
{
	obuf_reserve(b, 4);
	size_t start = b->len;
	b->len += 4;
	msgpack_packer_init(pk, b, obuf_write);
	return start;
}

static void
frame_end(struct obuf *b, size_t start)
{
	uint32_t body = (uint32_t)(b->len - start - 4);
	uint8_t *h = b->data + start;
	h[0] = (uint8_t)(body >> 24);
	h[1] = (uint8_t)(body >> 16);
	h[2] = (uint8_t)(body >> 8);
	h[3] = (uint8_t)body;
}

static void
pack_head(msgpack_packer *pk, size_t nkeys, uint64_t id, const char *op, int purpose)
{
	msgpack_pack_map(pk, nkeys);
	pk_str(pk, "v");
	msgpack_pack_uint32(pk, VAULT_PROTOCOL_VERSION);
	pk_str(pk, "id");
	msgpack_pack_uint64(pk, id);
	pk_str(pk, "op");
	pk_str(pk, op);
	if (purpose) {
		pk_str(pk, "purpose");
		pk_str(pk, vault_purpose_name(VAULT_PURPOSE_TRANSACTIONAL));
	}
}

static char *
obj_strdup(const msgpack_object *o)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	char *t = xrealloc(NULL, o->via.str.size + 1);
	memcpy(t, o->via.str.ptr, o->via.str.size);
	t[o->via.str.size] = '\0';
	return t;
}

/* A raw connection with requests in flight. */
struct rconn {
	int fd;
	struct obuf out, in;
	size_t out_off;
};

/* Send what is buffered and read what came; calls fn per reply body. */
static void
rconn_pump(struct rconn *c, void (*fn)(void *, const uint8_t *, size_t), void *arg)
{
	struct pollfd pf = { c->fd, POLLIN | (c->out_off < c->out.len ? POLLOUT : 0), 0 };
	if (poll(&pf, 1, 20000) <= 0)
		die("no progress on a connection for 20 s");
	if (pf.revents & (POLLERR | POLLHUP | POLLNVAL) && !(pf.revents & POLLIN))
		die("connection closed");
	if (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
		    MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			die("send failed");
		if (n > 0)
			c->out_off += (size_t)n;
		if (c->out_off == c->out.len)
			c->out_off = c->out.len = 0;
	}
	if (!(pf.revents & POLLIN))
		return;
	for (;;) {
		obuf_reserve(&c->in, 65536);
		ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
		if (n == 0)
			die("the server closed a connection");
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			die("recv failed");
		}
		c->in.len += (size_t)n;
	}
	size_t off = 0;
	while (c->in.len - off >= 4) {
		const uint8_t *h = c->in.data + off;
		size_t body = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
		if (c->in.len - off < 4 + body)
			break;
		fn(arg, h + 4, body);
		off += 4 + body;
	}
	memmove(c->in.data, c->in.data + off, c->in.len - off);
	c->in.len -= off;
}

/* ---- preload -------------------------------------------------------------- */

struct shared {
	const char *sockets[MAX_SOCKETS];
	int nsockets;
	double seconds;
	int batch;
	size_t n;            /* records preloaded */
	size_t stride;       /* keep every stride-th record's tokens */
	size_t nsample;
	char **rec;          /* sample: record tokens */
	char **tok;          /* sample: opaque email tokens */
	int depth;           /* creates in flight per preload connection */
	int pdepth;          /* requests in flight per pipelined connection */
	atomic_size_t created;
	/* delete pool: records made by the create rows */
	char **pool;
	size_t npool, cappool;
	pthread_mutex_t pool_lock;
	atomic_size_t pool_next;
};

struct pop {
	struct shared *sh;
	struct rconn c;
	size_t first, end, next, inflight, done, errors;
	size_t *retry, nretry, capretry;
	int last_error;
};

static void
pack_create(struct obuf *b, uint64_t id, size_t i, int with_token)
{
	char email[64];
	msgpack_packer pk;
	snprintf(email, sizeof(email), "person%zu@example.com", i);
	size_t start = frame_begin(b, &pk);
	pack_head(&pk, with_token ? 6 : 5, id, "create", 1);
	pk_str(&pk, "fields");
	msgpack_pack_map(&pk, 4);
	pk_str(&pk, "first_name");
	pk_str(&pk, "Pat");
	pk_str(&pk, "last_name");
	pk_str(&pk, "Example");
	pk_str(&pk, "email");
	pk_str(&pk, email);
	pk_str(&pk, "phone");
	pk_str(&pk, "+18583755875");
	if (with_token) {
		pk_str(&pk, "tokens");
		msgpack_pack_array(&pk, 1);
		msgpack_pack_map(&pk, 2);
		pk_str(&pk, "field");
		pk_str(&pk, "email");
		pk_str(&pk, "kind");
		pk_str(&pk, "opaque");
	}
	frame_end(b, start);
}

static void
pop_reply(void *arg, const uint8_t *body, size_t len)
{
	struct pop *p = arg;
	struct shared *sh = p->sh;
	msgpack_unpacked u;
	size_t off = 0;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)body, len, &off) != MSGPACK_UNPACK_SUCCESS)
		die("preload: undecodable reply");
	const msgpack_object *id = map_get(&u.data, "id"), *ok = map_get(&u.data, "ok");
	if (id == NULL || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER || id->via.u64 == 0 ||
	    ok == NULL || ok->type != MSGPACK_OBJECT_BOOLEAN)
		die("preload: reply without id or ok");
	size_t i = (size_t)id->via.u64 - 1;
	p->inflight--;
	if (ok->via.boolean) {
		if (i % sh->stride == 0 && i / sh->stride < sh->nsample) {
			const msgpack_object *res = map_get(&u.data, "result");
			const msgpack_object *toks = map_get(res, "tokens");
			if (toks == NULL || toks->type != MSGPACK_OBJECT_ARRAY || toks->via.array.size != 1)
				die("preload: create result without the token asked for");
			sh->rec[i / sh->stride] = obj_strdup(map_get(res, "record"));
			sh->tok[i / sh->stride] = obj_strdup(map_get(&toks->via.array.ptr[0], "token"));
			if (sh->rec[i / sh->stride] == NULL || sh->tok[i / sh->stride] == NULL)
				die("preload: malformed create result");
		}
		p->done++;
		atomic_fetch_add_explicit(&sh->created, 1, memory_order_relaxed);
	} else {
		const msgpack_object *code = map_get(map_get(&u.data, "error"), "code");
		int e = code && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER ?
		    (int)code->via.u64 : VAULT_E_PROTO_FRAME;
		if (e == VAULT_E_BUSY) {
			if (p->nretry == p->capretry) {
				p->capretry = p->capretry ? p->capretry * 2 : 1024;
				p->retry = xrealloc(p->retry, p->capretry * sizeof(size_t));
			}
			p->retry[p->nretry++] = i;
		} else {
			p->errors++;
			p->last_error = e;
			p->done++;
		}
	}
	msgpack_unpacked_destroy(&u);
}

static void *
pop_main(void *arg)
{
	struct pop *p = arg;
	size_t quota = p->end - p->first;
	p->next = p->first;
	if ((p->c.fd = unix_connect(p->sh->sockets[0])) < 0)
		die("preload: cannot connect");
	while (p->done < quota) {
		while (p->inflight < (size_t)p->sh->depth && (p->nretry > 0 || p->next < p->end)) {
			size_t i = p->nretry > 0 ? p->retry[--p->nretry] : p->next++;
			pack_create(&p->c.out, (uint64_t)i + 1, i, i % p->sh->stride == 0);
			p->inflight++;
		}
		rconn_pump(&p->c, pop_reply, p);
	}
	close(p->c.fd);
	free(p->c.out.data);
	free(p->c.in.data);
	free(p->retry);
	return NULL;
}

static void
preload(struct shared *sh, int nconns)
{
	pthread_t th[MAX_CLIENTS];
	struct pop *ps = calloc((size_t)nconns, sizeof(*ps));
	if (ps == NULL)
		die("out of memory");
	double t0 = now_s(), tlast = t0;
	size_t last = 0;
	struct cpu_mark m0 = cpu_mark();
	for (int i = 0; i < nconns; i++) {
		ps[i].sh = sh;
		ps[i].first = sh->n * (size_t)i / (size_t)nconns;
		ps[i].end = sh->n * (size_t)(i + 1) / (size_t)nconns;
		pthread_create(&th[i], NULL, pop_main, &ps[i]);
	}
	while (atomic_load(&sh->created) < sh->n) {
		int finished = 1;
		for (int i = 0; i < nconns; i++)
			if (ps[i].done < ps[i].end - ps[i].first)
				finished = 0;
		if (finished)
			break;
		usleep(200000);
		double t = now_s();
		if (t - tlast >= 30) {
			size_t cur = atomic_load(&sh->created);
			fprintf(stderr, "  preload: %zu/%zu records, %.0f records/s\n", cur, sh->n,
			    (double)(cur - last) / (t - tlast));
			last = cur;
			tlast = t;
		}
	}
	size_t errors = 0;
	int last_error = 0;
	for (int i = 0; i < nconns; i++) {
		pthread_join(th[i], NULL);
		errors += ps[i].errors;
		if (ps[i].last_error)
			last_error = ps[i].last_error;
	}
	double el = now_s() - t0;
	if (errors) {
		fprintf(stderr, "preload: %zu creates failed, last: %s\n", errors,
		    vault_error_name(last_error));
		exit(1);
	}
	fprintf(stderr, "  preload: %zu records in %.1f s (%d connections x %d in flight)\n",
	    sh->n, el, nconns, sh->depth);
	char clients[32];
	snprintf(clients, sizeof(clients), "%dx%d", nconns, sh->depth);
	/* No per-request latency here: the row carries the rate only. */
	struct lat l = { 0 };
	struct cpu_mark m1 = cpu_mark();
	fprintf(rows, "create, pipelined (preload)\t%s\t%.0f\t%.0f\t0\t0\t0\t0\t%.0f\t%.0f\n",
	    clients, (double)sh->n / el, (double)sh->n / el, others_pct(m0, m1), server_pct(m0, m1));
	fflush(rows);
	free(l.v);
	free(ps);
}

/* ---- synchronous clients ------------------------------------------------ */

enum op { OP_PING, OP_DETOK1, OP_DETOKB, OP_CREATE, OP_UPDATE, OP_DELETE, OP_MIXED };

struct targ {
	struct shared *sh;
	const char *socket;    /* this client's node */
	enum op op;
	unsigned seed;
	struct lat lat, lat_w; /* lat_w: the writes of the mix */
	size_t errors;
	int last_error;
	char **made;           /* records created (for the delete pool) */
	size_t nmade, capmade;
};

static int
do_detok(struct vault *v, struct shared *sh, int n, unsigned *seed)
{
	const char *toks[1024] = { 0 };
	for (int i = 0; i < n; i++)
		toks[i] = sh->tok[(size_t)rand_r(seed) % sh->nsample];
	struct vault_detokenized *res;
	int rc = vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, toks, (size_t)n, &res);
	if (rc == 0) {
		for (int i = 0; i < n; i++)
			if (res[i].error)
				rc = res[i].error;
		vault_detokenized_free(res, (size_t)n);
	}
	return rc;
}

static int
do_update(struct vault *v, struct shared *sh, unsigned *seed)
{
	/* The phone: the email's opaque tokens stay valid for the readers. */
	static const char *const phones[] = { "+18583755875", "+14155550123", "+442079460958" };
	struct vault_record *r;
	vault_record_new(&r);
	vault_record_set(r, "phone", phones[rand_r(seed) % 3]);
	int rc = vault_update(v, VAULT_PURPOSE_TRANSACTIONAL,
	    sh->rec[(size_t)rand_r(seed) % sh->nsample], r, NULL, 0, NULL, 0);
	vault_record_free(r);
	return rc;
}

/* Returns -1 when there is nothing left to do (delete pool empty). */
static int
one_request(struct vault *v, struct targ *a, unsigned *seed, int *is_write)
{
	struct shared *sh = a->sh;
	*is_write = 0;
	switch (a->op) {
	case OP_PING:
		return vault_ping(v);
	case OP_DETOK1:
		return do_detok(v, sh, 1, seed);
	case OP_DETOKB:
		return do_detok(v, sh, sh->batch, seed);
	case OP_CREATE: {
		struct vault_record *r;
		char *tok = NULL;
		vault_record_new(&r);
		vault_record_set(r, "first_name", "Benchmark");
		vault_record_set(r, "last_name", "Person");
		vault_record_set(r, "email", "bench.person@example.com");
		vault_record_set(r, "phone", "+18583755875");
		vault_record_set(r, "postal_address", "1 Main Street\nSan Diego, CA 92101");
		int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
		vault_record_free(r);
		if (rc == 0) {
			if (a->nmade == a->capmade) {
				a->capmade = a->capmade ? a->capmade * 2 : 4096;
				a->made = xrealloc(a->made, a->capmade * sizeof(char *));
			}
			a->made[a->nmade++] = tok;
		}
		return rc;
	}
	case OP_UPDATE:
		return do_update(v, sh, seed);
	case OP_DELETE: {
		size_t i = atomic_fetch_add(&sh->pool_next, 1);
		if (i >= sh->npool)
			return -1;
		return vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, sh->pool[i],
		    VAULT_DELETE_ADMINISTRATIVE);
	}
	case OP_MIXED:
		if (rand_r(seed) % 10 == 0) {
			*is_write = 1;
			return do_update(v, sh, seed);
		}
		return do_detok(v, sh, 1, seed);
	}
	return VAULT_E_INTERNAL;
}

static void *
client_main(void *p)
{
	struct targ *a = p;
	struct vault *v;
	unsigned seed = a->seed;
	if (vault_connect(a->socket, &v) != 0) {
		a->errors++;
		return NULL;
	}
	double end = now_s() + a->sh->seconds;
	for (;;) {
		double t0 = now_s();
		if (t0 >= end)
			break;
		int w, rc = one_request(v, a, &seed, &w);
		if (rc < 0)
			break;
		if (rc != 0) {
			a->errors++;
			a->last_error = rc;
		}
		lat_add(w ? &a->lat_w : &a->lat, (now_s() - t0) * 1e6);
	}
	vault_close(v);
	return NULL;
}

static void
run_sync(struct shared *sh, enum op op, const char *name, int clients)
{
	pthread_t th[MAX_CLIENTS];
	struct targ *args = calloc(MAX_CLIENTS, sizeof(*args));
	row_start = cpu_mark();
	double t0 = now_s();
	for (int i = 0; i < clients; i++) {
		args[i].sh = sh;
		args[i].socket = sh->sockets[i % sh->nsockets];
		args[i].op = op;
		args[i].seed = 12345u + (unsigned)i * 7919u + (unsigned)op;
		pthread_create(&th[i], NULL, client_main, &args[i]);
	}
	struct lat all = { 0 }, w = { 0 };
	size_t errors = 0;
	int last_error = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		errors += args[i].errors;
		if (args[i].last_error)
			last_error = args[i].last_error;
	}
	double elapsed = now_s() - t0;
	for (int i = 0; i < clients; i++) {
		lat_merge(&all, &args[i].lat);
		lat_merge(&w, &args[i].lat_w);
		for (size_t k = 0; k < args[i].nmade; k++) {
			if (sh->npool == sh->cappool) {
				sh->cappool = sh->cappool ? sh->cappool * 2 : 65536;
				sh->pool = xrealloc(sh->pool, sh->cappool * sizeof(char *));
			}
			sh->pool[sh->npool++] = args[i].made[k];
		}
		free(args[i].made);
	}
	if (errors && !quiet)
		fprintf(stderr, "  %s: %zu errors, last %s\n", name, errors,
		    vault_error_name(last_error));
	char c[16];
	snprintf(c, sizeof(c), "%d", clients);
	if (op == OP_MIXED) {
		struct lat both = { 0 };
		for (size_t i = 0; i < all.n; i++)
			lat_add(&both, all.v[i]);
		for (size_t i = 0; i < w.n; i++)
			lat_add(&both, w.v[i]);
		row("mixed 90/10", c, elapsed, &both, 1, errors);
		row("mixed: the reads", c, elapsed, &all, 1, 0);
		row("mixed: the writes", c, elapsed, &w, 1, 0);
		free(both.v);
	} else {
		row(name, c, elapsed, &all, op == OP_DETOKB ? (size_t)sh->batch : 1, errors);
	}
	free(all.v);
	free(w.v);
	free(args);
}

/* ---- pipelined ------------------------------------------------------------ */

struct parg {
	struct shared *sh;
	const char *socket;    /* this connection's node */
	int detok;
	unsigned seed;
	struct rconn c;
	double *sent;          /* send time by id % depth-ring */
	size_t ring;
	uint64_t next_id;
	size_t inflight;
	double end;
	struct lat lat;
	size_t errors;
};

static void
pipe_reply(void *arg, const uint8_t *body, size_t len)
{
	struct parg *a = arg;
	msgpack_unpacked u;
	size_t off = 0;
	double t = now_s();
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)body, len, &off) != MSGPACK_UNPACK_SUCCESS)
		die("pipelined: undecodable reply");
	const msgpack_object *id = map_get(&u.data, "id"), *ok = map_get(&u.data, "ok");
	if (id == NULL || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER || ok == NULL ||
	    ok->type != MSGPACK_OBJECT_BOOLEAN)
		die("pipelined: reply without id or ok");
	int good = ok->via.boolean;
	if (good && a->detok) {
		const msgpack_object *r = map_get(map_get(&u.data, "result"), "results");
		const msgpack_object *r0 = r && r->type == MSGPACK_OBJECT_ARRAY &&
		    r->via.array.size == 1 ? map_get(&r->via.array.ptr[0], "ok") : NULL;
		good = r0 && r0->type == MSGPACK_OBJECT_BOOLEAN && r0->via.boolean;
	}
	if (!good)
		a->errors++;
	if (t < a->end)
		lat_add(&a->lat, (t - a->sent[id->via.u64 % a->ring]) * 1e6);
	a->inflight--;
	msgpack_unpacked_destroy(&u);
}

static void *
pipe_main(void *p)
{
	struct parg *a = p;
	struct shared *sh = a->sh;
	if ((a->c.fd = unix_connect(a->socket)) < 0)
		die("pipelined: cannot connect");
	a->ring = (size_t)sh->pdepth * 2;
	a->sent = calloc(a->ring, sizeof(double));
	a->next_id = 1;
	a->end = now_s() + sh->seconds;
	for (;;) {
		double t = now_s();
		if (t >= a->end && a->inflight == 0)
			break;
		while (t < a->end && a->inflight < (size_t)sh->pdepth) {
			msgpack_packer pk;
			uint64_t id = a->next_id++;
			size_t start = frame_begin(&a->c.out, &pk);
			if (a->detok) {
				pack_head(&pk, 5, id, "detokenize", 1);
				pk_str(&pk, "tokens");
				msgpack_pack_array(&pk, 1);
				pk_str(&pk, sh->tok[(size_t)rand_r(&a->seed) % sh->nsample]);
			} else {
				pack_head(&pk, 3, id, "ping", 0);
			}
			frame_end(&a->c.out, start);
			a->sent[id % a->ring] = t;
			a->inflight++;
		}
		rconn_pump(&a->c, pipe_reply, a);
	}
	close(a->c.fd);
	free(a->c.out.data);
	free(a->c.in.data);
	free(a->sent);
	return NULL;
}

static void
run_pipelined(struct shared *sh, int detok, int conns)
{
	pthread_t th[MAX_CLIENTS];
	struct parg *args = calloc((size_t)conns, sizeof(*args));
	row_start = cpu_mark();
	double t0 = now_s();
	for (int i = 0; i < conns; i++) {
		args[i].sh = sh;
		args[i].socket = sh->sockets[i % sh->nsockets];
		args[i].detok = detok;
		args[i].seed = 777u + (unsigned)i;
		pthread_create(&th[i], NULL, pipe_main, &args[i]);
	}
	for (int i = 0; i < conns; i++)
		pthread_join(th[i], NULL);
	double elapsed = sh->seconds;
	(void)t0;
	struct lat all = { 0 };
	size_t errors = 0;
	for (int i = 0; i < conns; i++) {
		lat_merge(&all, &args[i].lat);
		errors += args[i].errors;
	}
	char c[32];
	snprintf(c, sizeof(c), "%dx%d", conns, sh->pdepth);
	row(detok ? "detokenize 1, pipelined" : "ping, pipelined (floor)", c, elapsed, &all, 1,
	    errors);
	free(all.v);
	free(args);
}

/* ---- facts ------------------------------------------------------------------ */

static double
rss_bytes(long pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	double kb = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = atof(line + 6);
	fclose(f);
	return kb * 1024;
}

static void
facts(const char *when, long pid, const char *data_dir, size_t records)
{
	char key[64];
	if (pid > 0) {
		snprintf(key, sizeof(key), "rss_bytes_%s", when);
		fact(key, rss_bytes(pid));
	}
	if (data_dir) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof(path), "%s/data.mdb", data_dir);
		if (stat(path, &st) == 0) {
			snprintf(key, sizeof(key), "data_bytes_%s", when);
			fact(key, (double)st.st_size);
			snprintf(key, sizeof(key), "data_alloc_bytes_%s", when);
			fact(key, (double)st.st_blocks * 512);
			snprintf(key, sizeof(key), "records_%s", when);
			fact(key, (double)records);
		}
	}
}

/* A 4 KiB write + fdatasync in dir, 200 times: what one durable commit costs at least. */
static void
fsync_latency(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/fsync-probe.tmp", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return;
	char block[4096] = { 0 };
	struct lat l = { 0 };
	for (int i = 0; i < 200; i++) {
		double t0 = now_s();
		if (pwrite(fd, block, sizeof(block), (off_t)(i % 16) * 4096) < 0 || fdatasync(fd) != 0)
			break;
		lat_add(&l, (now_s() - t0) * 1e6);
	}
	close(fd);
	unlink(path);
	qsort(l.v, l.n, sizeof(double), cmp_double);
	fact("fsync_p50_us", pct(l.v, l.n, 0.5));
	fact("fsync_p99_us", pct(l.v, l.n, 0.99));
	free(l.v);
}

/* ---- main ------------------------------------------------------------------- */

static int
parse_list(const char *s, int *out, int max)
{
	int n = 0;
	char *dup = strdup(s), *save = NULL;
	for (char *t = strtok_r(dup, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save)) {
		int v = atoi(t);
		out[n++] = v < 1 ? 1 : v > MAX_CLIENTS ? MAX_CLIENTS : v;
	}
	free(dup);
	return n;
}

int
main(int argc, char **argv)
{
	struct shared sh = { .seconds = 5, .batch = 100, .n = 100000, .depth = 64,
	    .pdepth = 32 };
	const char *clients_arg = "1,4,8,16", *writers_arg = "1,8,64", *out = NULL;
	const char *data_dir = NULL, *only = NULL;
	size_t sample = 1000000;
	int conns = 8, pipe_conns = 4, ch;
	long pid = 0;
	pthread_mutex_init(&sh.pool_lock, NULL);
	while ((ch = getopt(argc, argv, "s:o:n:d:c:w:b:S:C:p:D:P:f:r:q")) != -1) {
		switch (ch) {
		case 's':
			if (sh.nsockets == MAX_SOCKETS)
				die("at most 4 sockets (-s)");
			sh.sockets[sh.nsockets++] = optarg;
			break;
		case 'o': out = optarg; break;
		case 'n': sh.n = (size_t)atoll(optarg); break;
		case 'd': sh.seconds = atof(optarg); break;
		case 'c': clients_arg = optarg; break;
		case 'w': writers_arg = optarg; break;
		case 'b': sh.batch = atoi(optarg); break;
		case 'S': sample = (size_t)atoll(optarg); break;
		case 'C': conns = atoi(optarg); break;
		case 'p': sh.depth = atoi(optarg); break;
		case 'D': sh.pdepth = atoi(optarg); break;
		case 'P':
			if (nserver_pids == MAX_SOCKETS)
				die("at most 4 server pids (-P)");
			server_pids[nserver_pids++] = atol(optarg);
			if (pid == 0)
				pid = server_pids[0];
			break;
		case 'f': data_dir = optarg; break;
		case 'r': only = optarg; break;
		case 'q': quiet = 1; break;
		default:
			fprintf(stderr, "usage: vault-compare -s SOCKET [-s SOCKET...] -o ROWS.tsv [-n RECORDS] "
			    "[-d SECONDS] [-c 1,4,8,16] [-w 1,8,64] [-b BATCH] [-S SAMPLE] "
			    "[-C CONNS] [-p DEPTH] [-D PIPE_DEPTH] [-P PID] [-f DATA_DIR] [-r ROWS] [-q]\n");
			return 2;
		}
	}
	if (sh.nsockets == 0 || out == NULL || sh.n < 1 || sh.batch < 1 || sh.batch > 1024 ||
	    conns < 1 || conns > MAX_CLIENTS || sh.depth < 1 || sh.pdepth < 1 || sample < 1)
		die("-s SOCKET and -o FILE are required; batch 1..1024");
	if ((rows = fopen(out, "w")) == NULL)
		die("cannot open the output file");
	int clients[16], writers[16];
	int nc = parse_list(clients_arg, clients, 16), nw = parse_list(writers_arg, writers, 16);

	sh.nsample = sample < sh.n ? sample : sh.n;
	sh.stride = sh.n / sh.nsample;
	sh.rec = calloc(sh.nsample, sizeof(char *));
	sh.tok = calloc(sh.nsample, sizeof(char *));
	if (data_dir)
		fsync_latency(data_dir);
	facts("empty", pid, data_dir, 0);
	fprintf(stderr, "preloading %zu records\n", sh.n);
	preload(&sh, conns);
	for (size_t i = 0; i < sh.nsample; i++)
		if (sh.rec[i] == NULL || sh.tok[i] == NULL)
			die("preload: a sample record is missing");
	facts("loaded", pid, data_dir, sh.n);

	fprintf(stderr, "measuring, %.1f s per row, %zu sample tokens spread over %zu records\n",
	    sh.seconds, sh.nsample, sh.n);
#define WANT(name) (only == NULL || strstr(only, name) != NULL)
	if (WANT("ping"))
		for (int i = 0; i < nc; i++)
			run_sync(&sh, OP_PING, "ping (floor)", clients[i]);
	if (WANT("detok1"))
		for (int i = 0; i < nc; i++)
			run_sync(&sh, OP_DETOK1, "detokenize 1 field", clients[i]);
	char bname[64];
	snprintf(bname, sizeof(bname), "detokenize batch of %d", sh.batch);
	if (WANT("detokb")) {
		run_sync(&sh, OP_DETOKB, bname, 1);
		run_sync(&sh, OP_DETOKB, bname, 8);
	}
	if (WANT("pipe") || WANT("pping"))
		run_pipelined(&sh, 0, pipe_conns);
	if (WANT("pipe") || WANT("pdetok"))
		run_pipelined(&sh, 1, pipe_conns);
	if (WANT("create"))
		for (int i = 0; i < nw; i++)
			run_sync(&sh, OP_CREATE, "create (durable)", writers[i]);
	if (WANT("update"))
		for (int i = 0; i < nw; i++)
			run_sync(&sh, OP_UPDATE, "update (durable)", writers[i]);
	if (WANT("delete"))
		run_sync(&sh, OP_DELETE, "delete (durable)", writers[nw > 1 ? 1 : 0]);
	if (WANT("mixed")) {
		run_sync(&sh, OP_MIXED, "mixed", 8);
		run_sync(&sh, OP_MIXED, "mixed", 16);
	}
	facts("end", pid, data_dir, sh.n + sh.npool);

	for (size_t i = 0; i < sh.nsample; i++) {
		free(sh.rec[i]);
		free(sh.tok[i]);
	}
	for (size_t i = 0; i < sh.npool; i++)
		vault_free(sh.pool[i]);
	free(sh.pool);
	free(sh.rec);
	free(sh.tok);
	fclose(rows);
	return 0;
}
