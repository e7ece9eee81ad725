/*
 * vault-bench.c - throughput and latency of a running vaultd, through the
 * client library, with N synchronous clients (one connection per thread).
 *
 *   vault-bench -s SOCKET [-d SECONDS] [-c CLIENTS,...] [-b BATCH] [-f DIR]
 *       [-n RECORDS] [-o OPS] [-k opaque|deterministic|card]
 *
 * Prints one table row per (operation, clients): requests/s, fields/s for
 * batches, and latency percentiles. "ping" is the floor: the same socket,
 * framing and dispatch with no work. With -f DIR it first measures the
 * disk's fsync latency in DIR, since durable creates cannot beat it. -k picks
 * the kind of field token the detokenize runs resolve (default opaque).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vault/vault.h>

#include "bench-util.h"

enum op { OP_PING, OP_CREATE, OP_DETOK1, OP_DETOKB, OP_READ };
static const char *op_names[] = { "ping (floor)", "create (durable)", "detokenize 1 field",
	"detokenize batch", "read record" };

struct shared {
	const char *socket;
	double seconds;
	int batch;
	char **tokens;     /* opaque field tokens to resolve */
	char **records;    /* record tokens to read */
	size_t ntokens;
};

struct thread_arg {
	struct shared *sh;
	enum op op;
	unsigned seed;
	double *lat;       /* microseconds */
	size_t nlat, cap;
	size_t errors;
};

static int
one_request(struct vault *v, struct thread_arg *a, unsigned *seed)
{
	struct shared *sh = a->sh;
	switch (a->op) {
	case OP_PING:
		return vault_ping(v);
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
		vault_free(tok);
		return rc;
	}
	case OP_DETOK1:
	case OP_DETOKB: {
		int n = a->op == OP_DETOK1 ? 1 : sh->batch;
		const char *toks[1024] = { 0 };
		for (int i = 0; i < n; i++)
			toks[i] = sh->tokens[(size_t)rand_r(seed) % sh->ntokens];
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
	case OP_READ: {
		struct vault_record *out;
		int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL,
		    sh->records[(size_t)rand_r(seed) % sh->ntokens], NULL, 0, 0, &out);
		if (rc == 0)
			vault_record_free(out);
		return rc;
	}
	}
	return VAULT_E_INTERNAL;
}

static void *
client_main(void *p)
{
	struct thread_arg *a = p;
	struct vault *v;
	unsigned seed = a->seed;
	if (vault_connect(a->sh->socket, &v) != 0) {
		a->errors++;
		return NULL;
	}
	double end = now_s() + a->sh->seconds;
	for (;;) {
		double t0 = now_s();
		if (t0 >= end)
			break;
		if (one_request(v, a, &seed) != 0)
			a->errors++;
		double t1 = now_s();
		if (a->nlat == a->cap) {
			a->cap = a->cap ? a->cap * 2 : 65536;
			a->lat = realloc(a->lat, a->cap * sizeof(double));
		}
		a->lat[a->nlat++] = (t1 - t0) * 1e6;
	}
	vault_close(v);
	return NULL;
}

static double
pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1));
	return v[i];
}

static void
run(struct shared *sh, enum op op, int clients)
{
	pthread_t th[64];
	struct thread_arg args[64];
	memset(args, 0, sizeof(args));
	double t0 = now_s();
	for (int i = 0; i < clients; i++) {
		args[i].sh = sh;
		args[i].op = op;
		args[i].seed = 12345u + (unsigned)i;
		pthread_create(&th[i], NULL, client_main, &args[i]);
	}
	size_t total = 0, errors = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		total += args[i].nlat;
		errors += args[i].errors;
	}
	double elapsed = now_s() - t0;
	double *all = malloc((total ? total : 1) * sizeof(double));
	size_t k = 0;
	for (int i = 0; i < clients; i++) {
		memcpy(all + k, args[i].lat, args[i].nlat * sizeof(double));
		k += args[i].nlat;
		free(args[i].lat);
	}
	qsort(all, total, sizeof(double), cmp_double);
	double rps = (double)total / elapsed;
	int per = op == OP_DETOKB ? sh->batch : 1;
	printf("| %-20s | %7d | %11.0f | %11.0f | %8.1f | %8.1f | %8.1f | %6zu |\n",
	    op_names[op], clients, rps, rps * per, pct(all, total, 0.5),
	    pct(all, total, 0.99), pct(all, total, 0.999), errors);
	fflush(stdout);
	free(all);
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
	for (int i = 0; i < N; i++) {
		double t0 = now_s();
		if (pwrite(fd, block, sizeof(block), (off_t)(i % 16) * 4096) < 0 || fdatasync(fd) != 0)
			break;
		lat[i] = (now_s() - t0) * 1e6;
	}
	close(fd);
	unlink(path);
	qsort(lat, N, sizeof(double), cmp_double);
	printf("disk: 4 KiB write + fdatasync in %s: p50 %.0f us, p99 %.0f us (%.0f syncs/s)\n\n",
	    dir, pct(lat, N, 0.5), pct(lat, N, 0.99), 1e6 / pct(lat, N, 0.5));
}

/* -k: the kind of field token the detokenize runs resolve. */
static enum vault_token_kind token_kind = VAULT_TOKEN_OPAQUE;

/*
 * Create n records and one field token each: of email (opaque or
 * deterministic), or of a card number (card; each record its own, so each
 * token goes through the card index).
 */
static void
populate(struct shared *sh, size_t n)
{
	struct vault *v;
	if (vault_connect(sh->socket, &v) != 0) {
		perror("connect");
		exit(3);
	}
	sh->tokens = calloc(n, sizeof(char *));
	sh->records = calloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		struct vault_record *r;
		char email[64];
		snprintf(email, sizeof(email), "person%zu@example.com", i);
		vault_record_new(&r);
		vault_record_set(r, "first_name", "Pat");
		vault_record_set(r, "last_name", "Example");
		vault_record_set(r, "email", email);
		vault_record_set(r, "phone", "+18583755875");
		if (token_kind == VAULT_TOKEN_CARD) {
			char card[17];
			unsigned sum = 0;
			snprintf(card, sizeof(card), "4%014zu", i % 100000000000000u);
			for (int k = 14; k >= 0; k--) {
				unsigned d = (unsigned)(card[k] - '0');
				if ((14 - k) % 2 == 0 && (d *= 2) > 9)
					d -= 9;
				sum += d;
			}
			card[15] = (char)('0' + (10 - sum % 10) % 10);
			card[16] = '\0';
			vault_record_set(r, "card_number", card);
		}
		if (vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &sh->records[i]) != 0 ||
		    vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, sh->records[i],
		    token_kind == VAULT_TOKEN_CARD ? "card_number" : "email",
		    token_kind, &sh->tokens[i]) != 0) {
			fprintf(stderr, "populate: %s\n", vault_last_message(v));
			exit(1);
		}
		vault_record_free(r);
	}
	sh->ntokens = n;
	vault_close(v);
}

int
main(int argc, char **argv)
{
	struct shared sh = { .seconds = 3, .batch = 64 };
	const char *clients_arg = "1,4,8,16", *fsync_dir = NULL, *ops_arg = NULL;
	size_t prefill = 10000;
	int ch;
	while ((ch = getopt(argc, argv, "s:d:c:b:f:n:o:k:")) != -1) {
		switch (ch) {
		case 's': sh.socket = optarg; break;
		case 'd': sh.seconds = atof(optarg); break;
		case 'c': clients_arg = optarg; break;
		case 'b': sh.batch = atoi(optarg); break;
		case 'f': fsync_dir = optarg; break;
		case 'n': prefill = (size_t)atol(optarg); break;
		case 'o': ops_arg = optarg; break;
		case 'k':
			token_kind = strcmp(optarg, "card") == 0 ? VAULT_TOKEN_CARD :
			    strcmp(optarg, "deterministic") == 0 ? VAULT_TOKEN_DETERMINISTIC :
			    VAULT_TOKEN_OPAQUE;
			break;
		default:
			fprintf(stderr, "usage: vault-bench -s SOCKET [-d SECONDS] [-c 1,4,8] "
			    "[-b BATCH] [-f DIR] [-n RECORDS] [-o ping,detok1,detokb,read,create] "
			    "[-k opaque|deterministic|card]\n");
			return 2;
		}
	}
	if (sh.socket == NULL || sh.batch < 1 || sh.batch > 1024 || prefill < 1) {
		fprintf(stderr, "vault-bench: -s SOCKET is required; batch 1..1024\n");
		return 2;
	}
	int clients[16], nc = 0;
	for (char *s = strdup(clients_arg), *tok = strtok(s, ","); tok && nc < 16;
	    tok = strtok(NULL, ","))
		clients[nc++] = atoi(tok) < 1 ? 1 : atoi(tok) > 64 ? 64 : atoi(tok);

	if (fsync_dir)
		fsync_latency(fsync_dir);
	populate(&sh, prefill);
	printf("records: %zu, %.1f s per run, batch %d\n\n", prefill, sh.seconds, sh.batch);
	printf("| %-20s | %7s | %11s | %11s | %8s | %8s | %8s | %6s |\n", "operation", "clients",
	    "requests/s", "fields/s", "p50 us", "p99 us", "p99.9 us", "errors");
	printf("|%s|%s|%s|%s|%s|%s|%s|%s|\n", "----------------------", "---------",
	    "-------------", "-------------", "----------", "----------", "----------", "--------");
	enum op order[] = { OP_PING, OP_DETOK1, OP_DETOKB, OP_READ, OP_CREATE };
	static const char *const short_names[] = { "ping", "create", "detok1", "detokb", "read" };
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
		if (ops_arg != NULL && strstr(ops_arg, short_names[order[o]]) == NULL)
			continue;
		for (int i = 0; i < nc; i++)
			run(&sh, order[o], clients[i]);
	}
	for (size_t i = 0; i < sh.ntokens; i++) {
		vault_free(sh.tokens[i]);
		vault_free(sh.records[i]);
	}
	free(sh.tokens);
	free(sh.records);
	return 0;
}
