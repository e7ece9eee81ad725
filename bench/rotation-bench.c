/*
 * rotation-bench.c - a KEK rotation of a large vault under client load.
 *
 *   rotation-bench -s SOCKET [-n RECORDS] [-d SECONDS] [-r READERS]
 *       [-w WRITERS] [-S SAMPLE] [-c CONNS] [-p DEPTH] [-i POLL_MS]
 *       [-k] [-t] [-T] [-f DIR] [-P VAULTD_PID]
 *
 * 1. Populates RECORDS records (default 1,000,000) with pipelined "create"
 *    requests, packed here with msgpack-c: CONNS connections (4) with DEPTH
 *    requests in flight each (256), so the group commit batches them.
 *    Keeps the record tokens of SAMPLE records (100,000), spread evenly
 *    over the id range, for the readers.
 * 2. "before": READERS threads (2) doing synchronous vault_read of random
 *    sample records and WRITERS threads (1) doing synchronous vault_create,
 *    for SECONDS (10).
 * 3. "during": vault_keys_rotate("kek"), the same readers and writers keep
 *    going until vault_keys_status says the rewrap is over (polled every
 *    POLL_MS, 100; a progress line each second).
 * 4. A Markdown table, before vs during.
 *
 * With -k the "before" phase polls keys_status at the same rate as the
 * "during" phase (keys_status counts records per epoch, a scan of the whole
 * store, on a worker thread that readers share), so both phases carry the
 * same monitoring load. -T gives each record a card number and asks, at
 * create, for deterministic tokens of email and phone and a card token, so
 * the rewrap has index entries to re-key. -t prints the readers' and
 * writers' latency second by second, before and during the rotation. -f DIR measures the disk's
 * fsync latency first. -P gives vaultd's pid, to report its CPU use. -R then
 * retires epoch 1 (readers and writers stopped) and reports how long it took.
 * Besides the pooled reader percentiles the table shows the most stalled
 * reader: a synchronous reader stuck behind a long request on its worker
 * records one slow sample where it would have made many fast ones, so the
 * pooled p99 understates such stalls.
 * The environment variable BENCH_CMDLINE, if set, is printed as the
 * command line (bench/rotation.sh sets it).
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
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <vault/vault.h>

#include "bench-util.h"

static double t_zero;

/* Seconds since the program started. */
static double
now_rel(void)
{
	return now_s() - t_zero;
}

static void
die(const char *what)
{
	fprintf(stderr, "rotation-bench: %s\n", what);
	exit(1);
}

static double
pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

/* ---------------------------------------------------------------------- */
/* Populate: pipelined creates over raw connections.                      */

struct pop_shared {
	const char *socket;
	size_t n;            /* records to create */
	size_t stride;       /* keep the token of every stride-th record */
	char **sample;       /* n / stride + 1 tokens */
	int depth;
	atomic_size_t created;
};

struct pop_conn {
	struct pop_shared *sh;
	size_t first, end;   /* global record indices [first, end) */
	size_t next;         /* next index never sent */
	size_t *retry;       /* indices refused with VAULT_E_BUSY */
	size_t nretry, capretry;
	size_t inflight, done, errors, busy;
	int fd;
	struct obuf out, in;
	size_t out_off;
	int last_error;
};

/* -T: each created record also holds a card number and asks for
 * deterministic tokens of email and phone and a card token (the index
 * entries a rewrap re-keys, issue 13). */
static int with_tokens;

/* A Luhn-valid 16-digit card number for record index i. */
static void
card_for(size_t i, char out[17])
{
	snprintf(out, 17, "4%014zu", i % 100000000000000u);
	unsigned sum = 0;
	for (int k = 14; k >= 0; k--) {
		unsigned d = (unsigned)(out[k] - '0');
		if ((14 - k) % 2 == 0 && (d *= 2) > 9)
			d -= 9;
		sum += d;
	}
	out[15] = (char)('0' + (10 - sum % 10) % 10);
	out[16] = '\0';
}

/* Append one create frame for record index i (request id i + 1). */
static void
pack_create(struct pop_conn *c, size_t i)
{
	static const char *purpose;
	char email[64];
	msgpack_packer pk;
	if (purpose == NULL)
		purpose = vault_purpose_name(VAULT_PURPOSE_TRANSACTIONAL);
	snprintf(email, sizeof(email), "person%zu@example.com", i);
	obuf_reserve(&c->out, 4);
	size_t start = c->out.len;
	c->out.len += 4;
	msgpack_packer_init(&pk, &c->out, obuf_write);
	msgpack_pack_map(&pk, with_tokens ? 6 : 5);
	pk_str(&pk, "v");
	msgpack_pack_uint32(&pk, VAULT_PROTOCOL_VERSION);
	pk_str(&pk, "id");
	msgpack_pack_uint64(&pk, (uint64_t)i + 1);
	pk_str(&pk, "op");
	pk_str(&pk, "create");
	pk_str(&pk, "purpose");
	pk_str(&pk, purpose);
	if (with_tokens) {
		static const char *const f[3] = { "email", "phone", "card_number" };
		static const char *const k[3] = { "deterministic", "deterministic", "card" };
		pk_str(&pk, "tokens");
		msgpack_pack_array(&pk, 3);
		for (int t = 0; t < 3; t++) {
			msgpack_pack_map(&pk, 2);
			pk_str(&pk, "field");
			pk_str(&pk, f[t]);
			pk_str(&pk, "kind");
			pk_str(&pk, k[t]);
		}
	}
	pk_str(&pk, "fields");
	msgpack_pack_map(&pk, with_tokens ? 5 : 4);
	pk_str(&pk, "first_name");
	pk_str(&pk, "Pat");
	pk_str(&pk, "last_name");
	pk_str(&pk, "Example");
	pk_str(&pk, "email");
	pk_str(&pk, email);
	pk_str(&pk, "phone");
	pk_str(&pk, "+18583755875");
	if (with_tokens) {
		char card[17];
		card_for(i, card);
		pk_str(&pk, "card_number");
		pk_str(&pk, card);
	}
	uint32_t body = (uint32_t)(c->out.len - start - 4);
	uint8_t *h = c->out.data + start;
	h[0] = (uint8_t)(body >> 24);
	h[1] = (uint8_t)(body >> 16);
	h[2] = (uint8_t)(body >> 8);
	h[3] = (uint8_t)body;
}

/* Handle one reply body. */
static void
pop_reply(struct pop_conn *c, const uint8_t *body, size_t len)
{
	struct pop_shared *sh = c->sh;
	msgpack_unpacked u;
	size_t off = 0;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)body, len, &off) != MSGPACK_UNPACK_SUCCESS)
		die("populate: undecodable reply");
	const msgpack_object *id = map_get(&u.data, "id"), *ok = map_get(&u.data, "ok");
	if (id == NULL || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER || id->via.u64 == 0 ||
	    ok == NULL || ok->type != MSGPACK_OBJECT_BOOLEAN)
		die("populate: reply without id or ok");
	size_t i = (size_t)id->via.u64 - 1;
	c->inflight--;
	if (ok->via.boolean) {
		const msgpack_object *rec = map_get(map_get(&u.data, "result"), "record");
		if (rec == NULL || rec->type != MSGPACK_OBJECT_STR)
			die("populate: create result without a record token");
		if (i % sh->stride == 0) {
			char *t = malloc(rec->via.str.size + 1);
			if (t == NULL)
				die("out of memory");
			memcpy(t, rec->via.str.ptr, rec->via.str.size);
			t[rec->via.str.size] = '\0';
			sh->sample[i / sh->stride] = t;
		}
		c->done++;
		atomic_fetch_add_explicit(&sh->created, 1, memory_order_relaxed);
	} else {
		const msgpack_object *code = map_get(map_get(&u.data, "error"), "code");
		int e = code && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER ?
		    (int)code->via.u64 : VAULT_E_PROTO_FRAME;
		if (e == VAULT_E_BUSY) {
			c->busy++;
			if (c->nretry == c->capretry) {
				c->capretry = c->capretry ? c->capretry * 2 : 1024;
				c->retry = xrealloc(c->retry, c->capretry * sizeof(size_t));
			}
			c->retry[c->nretry++] = i;
		} else {
			c->errors++;
			c->last_error = e;
			c->done++; /* not retried */
		}
	}
	msgpack_unpacked_destroy(&u);
}

static void *
pop_main(void *p)
{
	struct pop_conn *c = p;
	size_t quota = c->end - c->first;
	c->next = c->first;
	if ((c->fd = unix_connect(c->sh->socket)) < 0)
		die("populate: cannot connect");
	while (c->done < quota) {
		/* Top up the pipeline. */
		while (c->inflight < (size_t)c->sh->depth && (c->nretry > 0 || c->next < c->end)) {
			size_t i = c->nretry > 0 ? c->retry[--c->nretry] : c->next++;
			pack_create(c, i);
			c->inflight++;
		}
		struct pollfd pf = { c->fd, POLLIN | (c->out_off < c->out.len ? POLLOUT : 0), 0 };
		if (poll(&pf, 1, 10000) <= 0)
			die("populate: no progress for 10 s");
		if (pf.revents & (POLLERR | POLLHUP | POLLNVAL) && !(pf.revents & POLLIN))
			die("populate: connection closed");
		if (c->out_off < c->out.len) {
			ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
			    MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				die("populate: send failed");
			if (n > 0)
				c->out_off += (size_t)n;
			if (c->out_off == c->out.len)
				c->out_off = c->out.len = 0;
		}
		if (pf.revents & POLLIN) {
			for (;;) {
				obuf_reserve(&c->in, 65536);
				ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
				if (n == 0)
					die("populate: the server closed the connection");
				if (n < 0) {
					if (errno == EAGAIN || errno == EINTR)
						break;
					die("populate: recv failed");
				}
				c->in.len += (size_t)n;
			}
			size_t off = 0;
			while (c->in.len - off >= 4) {
				const uint8_t *h = c->in.data + off;
				size_t body = (size_t)h[0] << 24 | (size_t)h[1] << 16 |
				    (size_t)h[2] << 8 | h[3];
				if (c->in.len - off < 4 + body)
					break;
				pop_reply(c, h + 4, body);
				off += 4 + body;
			}
			memmove(c->in.data, c->in.data + off, c->in.len - off);
			c->in.len -= off;
		}
	}
	close(c->fd);
	free(c->out.data);
	free(c->in.data);
	free(c->retry);
	return NULL;
}

static void
populate(struct pop_shared *sh, int nconns)
{
	pthread_t th[64];
	struct pop_conn *cs = calloc((size_t)nconns, sizeof(*cs));
	if (cs == NULL)
		die("out of memory");
	double t0 = now_s();
	for (int i = 0; i < nconns; i++) {
		cs[i].sh = sh;
		cs[i].first = sh->n * (size_t)i / (size_t)nconns;
		cs[i].end = sh->n * (size_t)(i + 1) / (size_t)nconns;
		pthread_create(&th[i], NULL, pop_main, &cs[i]);
	}
	size_t last = 0;
	double tlast = t0;
	for (;;) {
		size_t cur = atomic_load(&sh->created);
		int finished = 1;
		for (int i = 0; i < nconns; i++)
			if (cs[i].done < cs[i].end - cs[i].first)
				finished = 0;
		if (finished)
			break;
		usleep(200000);
		double t = now_s();
		if (t - tlast >= 10) {
			cur = atomic_load(&sh->created);
			printf("  populate: %zu/%zu records, %.0f records/s\n", cur, sh->n,
			    (double)(cur - last) / (t - tlast));
			fflush(stdout);
			last = cur;
			tlast = t;
		}
	}
	size_t errors = 0, busy = 0;
	int last_error = 0;
	for (int i = 0; i < nconns; i++) {
		pthread_join(th[i], NULL);
		errors += cs[i].errors;
		busy += cs[i].busy;
		if (cs[i].last_error)
			last_error = cs[i].last_error;
	}
	double el = now_s() - t0;
	printf("populate: %zu records in %.1f s = %.0f records/s (%d connections x %d in flight; "
	    "%zu busy retries, %zu errors)\n", sh->n, el, (double)sh->n / el, nconns, sh->depth,
	    busy, errors);
	if (errors) {
		fprintf(stderr, "populate: %zu creates failed, last: %s\n", errors,
		    vault_error_name(last_error));
		exit(1);
	}
	free(cs);
}

/* ---------------------------------------------------------------------- */
/* Load: synchronous readers and writers, through the client library.     */

struct sample {
	float t;   /* start, seconds since t_zero */
	float us;  /* latency */
};

struct series {
	struct sample *s;
	size_t n, cap;
	size_t errors;
	int last_error;
};

static void
series_add(struct series *se, double t, double us)
{
	if (se->n == se->cap) {
		se->cap = se->cap ? se->cap * 2 : 65536;
		se->s = xrealloc(se->s, se->cap * sizeof(*se->s));
	}
	se->s[se->n].t = (float)t;
	se->s[se->n].us = (float)us;
	se->n++;
}

static atomic_int stop_load;

struct load_arg {
	const char *socket;
	char **sample;
	size_t nsample;
	int writer;
	unsigned seed;
	struct vault *v;
	struct series se;
};

static void *
load_main(void *p)
{
	struct load_arg *a = p;
	unsigned seed = a->seed;
	while (!atomic_load_explicit(&stop_load, memory_order_relaxed)) {
		int rc;
		double t0 = now_rel();
		if (a->writer) {
			struct vault_record *r;
			char *tok = NULL;
			vault_record_new(&r);
			vault_record_set(r, "first_name", "Benchmark");
			vault_record_set(r, "last_name", "Writer");
			vault_record_set(r, "email", "bench.writer@example.com");
			vault_record_set(r, "phone", "+18583755875");
			rc = vault_create(a->v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
			vault_record_free(r);
			vault_free(tok);
		} else {
			struct vault_record *out;
			size_t i = ((size_t)rand_r(&seed) << 16 ^ (size_t)rand_r(&seed)) % a->nsample;
			rc = vault_read(a->v, VAULT_PURPOSE_TRANSACTIONAL, a->sample[i], NULL, 0, 0,
			    &out);
			if (rc == 0)
				vault_record_free(out);
		}
		double t1 = now_rel();
		if (rc != 0) {
			a->se.errors++;
			a->se.last_error = rc;
		}
		series_add(&a->se, t0, (t1 - t0) * 1e6);
	}
	return NULL;
}

struct stats {
	size_t n, errors;
	double rate, p50, p99, p999, max;
	double stalled;  /* share of the window spent in requests over 10 ms */
	double tmax;     /* when the slowest request started, seconds into the window */
};

/* Requests of the threads that started in [from, to). */
static struct stats
window(struct load_arg *args, int nargs, int writers, double from, double to)
{
	struct stats st = { 0 };
	size_t cap = 0;
	for (int i = 0; i < nargs; i++)
		if (args[i].writer == writers)
			cap += args[i].se.n;
	double *v = malloc((cap ? cap : 1) * sizeof(double));
	if (v == NULL)
		die("out of memory");
	for (int i = 0; i < nargs; i++) {
		if (args[i].writer != writers)
			continue;
		for (size_t j = 0; j < args[i].se.n; j++)
			if (args[i].se.s[j].t >= from && args[i].se.s[j].t < to) {
				if (args[i].se.s[j].us > st.max) {
					st.max = args[i].se.s[j].us;
					st.tmax = args[i].se.s[j].t - from;
				}
				v[st.n++] = args[i].se.s[j].us;
			}
	}
	qsort(v, st.n, sizeof(double), cmp_double);
	for (size_t i = 0; i < st.n; i++)
		if (v[i] > 10000)
			st.stalled += v[i] / 1e6;
	if (to > from)
		st.stalled /= to - from;
	st.rate = to > from ? (double)st.n / (to - from) : 0;
	st.p50 = pct(v, st.n, 0.5);
	st.p99 = pct(v, st.n, 0.99);
	st.p999 = pct(v, st.n, 0.999);
	free(v);
	return st;
}

/*
 * The reader that spent the largest share of [from, to) in reads over
 * 10 ms; among equals, the one with the lowest rate.
 */
static struct stats
worst_reader(struct load_arg *args, int nargs, double from, double to)
{
	struct stats worst = { 0 };
	int first = 1;
	for (int i = 0; i < nargs; i++) {
		if (args[i].writer)
			continue;
		struct stats st = window(&args[i], 1, 0, from, to);
		if (first || st.stalled > worst.stalled ||
		    (st.stalled == worst.stalled && st.rate < worst.rate))
			worst = st;
		first = 0;
	}
	return worst;
}

/* One line per reader: the connections do not share the workers evenly. */
static void
per_reader(struct load_arg *args, int nargs, double from, double to)
{
	printf("  per reader:");
	for (int i = 0; i < nargs; i++) {
		if (args[i].writer)
			continue;
		struct stats st = window(&args[i], 1, 0, from, to);
		printf(" [r%d %.0f/s p99 %.0f us max %.0f us, %.0f%% of the time in reads > 10 ms]",
		    i, st.rate, st.p99, st.max, st.stalled * 100);
	}
	printf("\n");
}

/* Second by second, readers and writers. */
static void
timeline_print(const char *phase, struct load_arg *args, int nargs, double from, double to)
{
	printf("\nsecond by second %s:\n", phase);
	printf("| t (s) | reads/s | read p50 us | read p99 us | read max us | writes/s | "
	    "write max us |\n|---|---|---|---|---|---|---|\n");
	/* A last slice shorter than 0.2 s is left out. */
	for (double t = from; t < to && (t == from || to - t >= 0.2); t += 1) {
		double e = t + 1 < to ? t + 1 : to;
		struct stats r = window(args, nargs, 0, t, e);
		struct stats w = window(args, nargs, 1, t, e);
		printf("| %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", t - from, r.rate,
		    r.p50, r.p99, r.max, w.rate, w.max);
	}
}

/* ---------------------------------------------------------------------- */
/* keys_status polling.                                                   */

struct polls {
	double *us;
	size_t n, cap;
};

static int
poll_status(struct vault *v, struct polls *pl, struct vault_keys_status **out)
{
	double t0 = now_s();
	int rc = vault_keys_status(v, out);
	double us = (now_s() - t0) * 1e6;
	if (pl->n == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 1024;
		pl->us = xrealloc(pl->us, pl->cap * sizeof(double));
	}
	pl->us[pl->n++] = us;
	return rc;
}

static void
polls_summary(const char *phase, struct polls *pl)
{
	if (pl->n == 0)
		return;
	qsort(pl->us, pl->n, sizeof(double), cmp_double);
	printf("  keys_status polls (%s): %zu, p50 %.1f ms, max %.1f ms\n", phase, pl->n,
	    pct(pl->us, pl->n, 0.5) / 1e3, pl->us[pl->n - 1] / 1e3);
}

/* Sleep until the absolute monotonic time t (seconds, now_s() scale). */
static void
sleep_until(double t)
{
	double d = t - now_s();
	if (d > 0)
		usleep((useconds_t)(d * 1e6));
}

/* ---------------------------------------------------------------------- */
/* CPU accounting: vaultd (-P PID), this process, the whole machine.      */

struct cpu_mark {
	double t, vaultd, self, busy; /* seconds of CPU */
};

static double
proc_cpu(const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	/* After the command: state and 10 more fields, then utime and stime. */
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double
machine_busy(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	if (f == NULL)
		return 0;
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
	    &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 8)
		return 0;
	/* user nice system [idle iowait] irq softirq steal */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static int vaultd_pid;

static struct cpu_mark
cpu_mark(void)
{
	struct cpu_mark m = { now_s(), 0, proc_cpu("/proc/self/stat"), machine_busy() };
	if (vaultd_pid > 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/stat", vaultd_pid);
		m.vaultd = proc_cpu(path);
	}
	return m;
}

struct cpu_use {
	double vaultd, self, other; /* cores */
};

static struct cpu_use
cpu_use(struct cpu_mark a, struct cpu_mark b)
{
	double dt = b.t - a.t;
	struct cpu_use u = { 0 };
	if (dt <= 0)
		return u;
	u.vaultd = (b.vaultd - a.vaultd) / dt;
	u.self = (b.self - a.self) / dt;
	u.other = (b.busy - a.busy) / dt - u.vaultd - u.self;
	if (u.other < 0)
		u.other = 0;
	return u;
}

static void
cpu_print(struct cpu_use u)
{
	printf("  CPU (cores of %ld): vaultd %.2f, this bench %.2f, other processes %.2f\n",
	    sysconf(_SC_NPROCESSORS_ONLN), u.vaultd, u.self, u.other);
}

static void
fsync_latency(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/fsync-probe.tmp", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return;
	char block[4096] = { 0 };
	enum { N = 200 };
	double lat[N];
	int n = 0;
	for (; n < N; n++) {
		double t0 = now_s();
		if (pwrite(fd, block, sizeof(block), (off_t)(n % 16) * 4096) < 0 || fdatasync(fd) != 0)
			break;
		lat[n] = (now_s() - t0) * 1e6;
	}
	close(fd);
	unlink(path);
	if (n == 0)
		return;
	qsort(lat, (size_t)n, sizeof(double), cmp_double);
	printf("disk: 4 KiB write + fdatasync in %s: p50 %.0f us, p99 %.0f us (%.0f syncs/s)\n",
	    dir, pct(lat, (size_t)n, 0.5), pct(lat, (size_t)n, 0.99),
	    1e6 / pct(lat, (size_t)n, 0.5));
}

static double
ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

int
main(int argc, char **argv)
{
	const char *socket_path = NULL, *fsync_dir = NULL;
	size_t n = 1000000, nsample = 100000;
	double seconds = 10;
	int readers = 2, writers = 1, conns = 4, depth = 256, poll_ms = 100;
	int poll_before = 0, timeline = 0, retire_after = 0, ch;

	t_zero = now_s();
	while ((ch = getopt(argc, argv, "s:n:d:r:w:S:c:p:i:ktTf:P:R")) != -1) {
		switch (ch) {
		case 's': socket_path = optarg; break;
		case 'n': n = (size_t)atol(optarg); break;
		case 'd': seconds = atof(optarg); break;
		case 'r': readers = atoi(optarg); break;
		case 'w': writers = atoi(optarg); break;
		case 'S': nsample = (size_t)atol(optarg); break;
		case 'c': conns = atoi(optarg); break;
		case 'p': depth = atoi(optarg); break;
		case 'i': poll_ms = atoi(optarg); break;
		case 'k': poll_before = 1; break;
		case 't': timeline = 1; break;
		case 'T': with_tokens = 1; break;
		case 'f': fsync_dir = optarg; break;
		case 'P': vaultd_pid = atoi(optarg); break;
		case 'R': retire_after = 1; break;
		default:
			fprintf(stderr, "usage: rotation-bench -s SOCKET [-n RECORDS] [-d SECONDS] "
			    "[-r READERS] [-w WRITERS] [-S SAMPLE] [-c CONNS] [-p DEPTH] "
			    "[-i POLL_MS] [-k] [-t] [-f DIR] [-P VAULTD_PID]\n");
			return 2;
		}
	}
	if (socket_path == NULL || n < 1 || seconds <= 0 || readers < 1 || readers > 32 ||
	    writers < 0 || writers > 32 || conns < 1 || conns > 64 || depth < 1 ||
	    poll_ms < 1 || nsample < 1) {
		fprintf(stderr, "rotation-bench: -s SOCKET is required; 1..32 readers, "
		    "0..32 writers, 1..64 connections\n");
		return 2;
	}
	if (nsample > n)
		nsample = n;
	const char *cmdline = getenv("BENCH_CMDLINE");

	if (fsync_dir)
		fsync_latency(fsync_dir);

	/* 1. Populate. */
	struct pop_shared ps = { .socket = socket_path, .n = n, .depth = depth };
	ps.stride = n / nsample;
	ps.sample = calloc(n / ps.stride + 1, sizeof(char *));
	if (ps.sample == NULL)
		die("out of memory");
	double t_pop = now_s();
	populate(&ps, conns);
	double pop_seconds = now_s() - t_pop, pop_rate = (double)n / pop_seconds;
	size_t ns = 0;
	for (size_t i = 0; i < n / ps.stride + 1; i++)
		if (ps.sample[i])
			ps.sample[ns++] = ps.sample[i];
	printf("sample: %zu record tokens (every %zu-th record) for the readers\n", ns, ps.stride);

	/* Connections: readers, writers, then the poller. */
	int nargs = readers + writers;
	struct load_arg *args = calloc((size_t)nargs, sizeof(*args));
	pthread_t *th = calloc((size_t)nargs, sizeof(*th));
	struct vault *admin;
	if (args == NULL || th == NULL)
		die("out of memory");
	for (int i = 0; i < nargs; i++) {
		args[i].socket = socket_path;
		args[i].sample = ps.sample;
		args[i].nsample = ns;
		args[i].writer = i >= readers;
		args[i].seed = 4242u + (unsigned)i;
		if (vault_connect(socket_path, &args[i].v) != 0)
			die("cannot connect");
	}
	if (vault_connect(socket_path, &admin) != 0)
		die("cannot connect");
	struct vault_keys_status *ks;
	int rc = vault_keys_status(admin, &ks);
	if (rc != 0) {
		fprintf(stderr, "keys_status: %s (%s)\n", vault_error_name(rc),
		    vault_last_message(admin));
		return 1;
	}
	uint32_t epoch0 = ks->kek_current;
	if (ks->rotating)
		die("a rotation is already under way");
	vault_keys_status_free(ks);

	/* 2. Before: one second of warm-up, then the measured window. */
	for (int i = 0; i < nargs; i++)
		pthread_create(&th[i], NULL, load_main, &args[i]);
	struct polls pl_before = { 0 }, pl_during = { 0 };
	printf("\nphase before: %d readers, %d writers, %.0f s%s\n", readers, writers, seconds,
	    poll_before ? " (keys_status polled as during the rotation)" : "");
	fflush(stdout);
	sleep_until(now_s() + 1);
	struct cpu_mark cb0 = cpu_mark();
	double b_from = now_rel(), b_to = b_from + seconds;
	/* A poll every poll_ms; one that takes longer delays the next (no
	 * catching up). */
	for (double t = now_s(); now_rel() < b_to;) {
		if (poll_before) {
			if (poll_status(admin, &pl_before, &ks) != 0)
				die("keys_status failed");
			vault_keys_status_free(ks);
		}
		t += poll_ms / 1e3;
		if (t < now_s())
			t = now_s();
		sleep_until(t);
	}
	b_to = now_rel();
	struct cpu_use cub = cpu_use(cb0, cpu_mark());
	struct stats rb = window(args, nargs, 0, b_from, b_to);
	struct stats wb = window(args, nargs, 1, b_from, b_to);
	printf("  reads: %.0f/s, p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us "
	    "(at %.1f s)\n", rb.rate, rb.p50, rb.p99, rb.p999, rb.max, rb.tmax);
	if (writers)
		printf("  writes: %.0f/s, p50 %.0f us, p99 %.0f us, max %.0f us (at %.1f s)\n",
		    wb.rate, wb.p50, wb.p99, wb.max, wb.tmax);
	per_reader(args, nargs, b_from, b_to);
	polls_summary("before", &pl_before);
	cpu_print(cub);

	/* 3. During. */
	printf("\nphase during: rotate kek, poll keys_status every %d ms\n", poll_ms);
	fflush(stdout);
	uint32_t epoch1 = 0;
	struct cpu_mark cd0 = cpu_mark();
	double d_from = now_rel();
	rc = vault_keys_rotate(admin, "kek", &epoch1);
	double rotate_call = now_rel() - d_from;
	if (rc != 0) {
		fprintf(stderr, "keys_rotate: %s: %s\n", vault_error_name(rc),
		    vault_last_message(admin));
		return 1;
	}
	printf("  epoch %u -> %u (rotate call %.1f ms)\n", epoch0, epoch1, rotate_call * 1e3);
	uint64_t examined = 0, rewrapped = 0, total = 0;
	double last_print = d_from, d_to;
	uint64_t last_examined = 0;
	for (double t = now_s();;) {
		t += poll_ms / 1e3;
		if (t < now_s())
			t = now_s();
		sleep_until(t);
		if (poll_status(admin, &pl_during, &ks) != 0)
			die("keys_status failed");
		double tr = now_rel();
		int rotating = ks->rotating;
		examined = ks->examined;
		rewrapped = ks->rewrapped;
		total = ks->total;
		vault_keys_status_free(ks);
		if (!rotating) {
			d_to = tr;
			break;
		}
		if (tr - last_print >= 1) {
			struct stats r1 = window(args, nargs, 0, last_print, tr);
			printf("  %6.1f s: examined %8llu/%llu, rewrapped %8llu, %7.0f records/s; "
			    "reads p99 %.0f us\n", tr - d_from, (unsigned long long)examined,
			    (unsigned long long)total, (unsigned long long)rewrapped,
			    (double)(examined - last_examined) / (tr - last_print), r1.p99);
			fflush(stdout);
			last_print = tr;
			last_examined = examined;
		}
	}
	/* The rewrap starts when the rotate call returns (a new epoch is
	 * current and the writer's target set); the phase includes the call. */
	double rewrap_s = d_to - d_from - rotate_call;
	struct cpu_use cud = cpu_use(cd0, cpu_mark());
	atomic_store(&stop_load, 1);
	for (int i = 0; i < nargs; i++)
		pthread_join(th[i], NULL);
	struct stats rd = window(args, nargs, 0, d_from, d_to);
	struct stats wd = window(args, nargs, 1, d_from, d_to);
	printf("  rotation done: %llu rewrapped of %llu in %.2f s after the rotate call = "
	    "%.0f records/s (poll resolution %d ms)\n", (unsigned long long)rewrapped, (unsigned long long)total,
	    rewrap_s, (double)rewrapped / rewrap_s, poll_ms);
	printf("  reads: %.0f/s, p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us "
	    "(at %.1f s)\n", rd.rate, rd.p50, rd.p99, rd.p999, rd.max, rd.tmax);
	if (writers)
		printf("  writes: %.0f/s, p50 %.0f us, p99 %.0f us, max %.0f us (at %.1f s)\n",
		    wd.rate, wd.p50, wd.p99, wd.max, wd.tmax);
	per_reader(args, nargs, d_from, d_to);
	polls_summary("during", &pl_during);
	cpu_print(cud);

	/* Check that the new epoch holds every record now. */
	if (vault_keys_status(admin, &ks) == 0) {
		for (size_t i = 0; i < ks->nkek; i++)
			printf("  epoch %u wraps %llu records\n", ks->kek[i].version,
			    (unsigned long long)ks->kek[i].records);
		vault_keys_status_free(ks);
	}
	/* -R: retire the old epoch, no load running: with backup_before_retire
	 * (the default) that is the backup, its verification, the key's
	 * destruction and the compaction, all in the writer. */
	double retire_s = 0;
	if (retire_after) {
		uint64_t remaining = 0, before = 0, after = 0;
		double r0 = now_s();
		int rrc = vault_keys_retire(admin, 1, &remaining, &before, &after);
		retire_s = now_s() - r0;
		if (rrc != 0)
			fprintf(stderr, "retire: %s: %s\n", vault_error_name(rrc),
			    vault_last_message(admin));
		printf("  retire of epoch 1: %.2f s (%s), data file %llu -> %llu bytes\n", retire_s,
		    rrc == 0 ? "ok" : vault_error_name(rrc), (unsigned long long)before,
		    (unsigned long long)after);
	}
	size_t errors = 0;
	for (int i = 0; i < nargs; i++) {
		errors += args[i].se.errors;
		if (args[i].se.errors)
			fprintf(stderr, "%s thread %d: %zu errors, last %s\n",
			    args[i].writer ? "writer" : "reader", i, args[i].se.errors,
			    vault_error_name(args[i].se.last_error));
	}

	if (timeline) {
		timeline_print("before", args, nargs, b_from, b_to);
		timeline_print("during the rotation", args, nargs, d_from, d_to);
	}

	/* 4. The table. */
	printf("\n");
	if (cmdline)
		printf("`%s`\n\n", cmdline);
	printf("%zu records (populated at %.0f records/s), %d readers (vault_read of %zu "
	    "sample records), %d writers (vault_create), %.0f s before; keys_status polled "
	    "every %d ms during%s.\n"
	    "Rotate call %.3f s, then rewrap of %llu records in %.2f s = %.0f records/s.\n\n",
	    n, pop_rate, readers, ns, writers, seconds, poll_ms,
	    poll_before ? " and before" : "", rotate_call, (unsigned long long)rewrapped, rewrap_s,
	    (double)rewrapped / rewrap_s);
	printf("| metric | before | during rotation | during / before |\n");
	printf("|---|---:|---:|---:|\n");
	printf("| phase length (s) | %.1f | %.1f | |\n", b_to - b_from, d_to - d_from);
	printf("| reads/s | %.0f | %.0f | %.2f |\n", rb.rate, rd.rate, ratio(rd.rate, rb.rate));
	printf("| read p50 (us) | %.0f | %.0f | %.2f |\n", rb.p50, rd.p50, ratio(rd.p50, rb.p50));
	printf("| read p99 (us) | %.0f | %.0f | **%.2f** |\n", rb.p99, rd.p99,
	    ratio(rd.p99, rb.p99));
	printf("| read p99.9 (us) | %.0f | %.0f | %.2f |\n", rb.p999, rd.p999,
	    ratio(rd.p999, rb.p999));
	printf("| read max (us) | %.0f | %.0f | %.2f |\n", rb.max, rd.max, ratio(rd.max, rb.max));
	if (readers > 1) {
		struct stats sb = worst_reader(args, nargs, b_from, b_to);
		struct stats sd = worst_reader(args, nargs, d_from, d_to);
		printf("| most stalled reader: reads/s | %.0f | %.0f | %.2f |\n", sb.rate, sd.rate,
		    ratio(sd.rate, sb.rate));
		printf("| most stalled reader: p99 (us) | %.0f | %.0f | %.2f |\n", sb.p99, sd.p99,
		    ratio(sd.p99, sb.p99));
		printf("| most stalled reader: max (us) | %.0f | %.0f | %.2f |\n", sb.max, sd.max,
		    ratio(sd.max, sb.max));
		printf("| most stalled reader: time in reads > 10 ms | %.1f%% | %.1f%% | |\n",
		    sb.stalled * 100, sd.stalled * 100);
	}
	if (writers) {
		printf("| writes/s | %.0f | %.0f | %.2f |\n", wb.rate, wd.rate,
		    ratio(wd.rate, wb.rate));
		printf("| write p50 (us) | %.0f | %.0f | %.2f |\n", wb.p50, wd.p50,
		    ratio(wd.p50, wb.p50));
		printf("| write p99 (us) | %.0f | %.0f | **%.2f** |\n", wb.p99, wd.p99,
		    ratio(wd.p99, wb.p99));
	}
	if (vaultd_pid > 0)
		printf("| vaultd CPU (cores) | %.2f | %.2f | %.2f |\n", cub.vaultd, cud.vaultd,
		    ratio(cud.vaultd, cub.vaultd));
	printf("| other processes' CPU (cores) | %.2f | %.2f | |\n", cub.other, cud.other);
	printf("| errors (whole run) | %zu | | |\n", errors);
	printf("\ntotal run time: %.1f s\n", now_rel());

	for (int i = 0; i < nargs; i++) {
		vault_close(args[i].v);
		free(args[i].se.s);
	}
	vault_close(admin);
	for (size_t i = 0; i < ns; i++)
		free(ps.sample[i]);
	free(ps.sample);
	free(args);
	free(th);
	free(pl_before.us);
	free(pl_during.us);
	return errors ? 1 : 0;
}
