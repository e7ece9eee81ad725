/*
 * privacy-bench.c - what privacy requests cost on a running vaultd:
 *
 *   privacy-bench -s SOCKET [-n RECORDS] [-c CLIENTS] [-v VERIFIES] [-C]
 *
 * -C: creates only (no transactions, no requests), to compare a vaultd
 * without blind indexes against one with them on the same distinct data.
 *
 * 1. creates RECORDS distinct customers (five identifying fields each, so
 *    five blind index entries) with CLIENTS synchronous clients, and
 *    records a transaction for each (three more): creates/s and p99;
 * 2. opens and verifies VERIFIES requests one after another, each naming
 *    a random customer by name, email and order reference: latency of
 *    request_verify (blind lookups under every index key version);
 * 3. completes a verified deletion: latency of the shred and receipt.
 *
 * Run it through bench/privacy.sh, which starts vaultd with rate limits
 * out of the way and prints the data file's size per record.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vault/vault.h>

#include "bench-util.h"

static const char *sock;
static size_t nrecords = 10000, next;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char **tokens;
static int create_only;

static double
pct(double *v, size_t n, double p)
{
	return n ? v[(size_t)(p * (double)(n - 1))] : 0;
}

struct lat {
	double *v;
	size_t n, cap;
};

static void
note(struct lat *l, double us)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 4096;
		if ((l->v = realloc(l->v, l->cap * sizeof(double))) == NULL)
			abort();
	}
	l->v[l->n++] = us;
}

static void
report(const char *what, struct lat *l, double seconds)
{
	qsort(l->v, l->n, sizeof(double), cmp_double);
	printf("%-34s %9zu %11.0f/s %9.3f %9.3f %9.3f ms\n", what, l->n,
	    seconds > 0 ? (double)l->n / seconds : 0, pct(l->v, l->n, 0.5) / 1000,
	    pct(l->v, l->n, 0.99) / 1000, l->n ? l->v[l->n - 1] / 1000 : 0);
}

static void
person(size_t i, char *first, char *last, char *email, char *phone, char *order)
{
	sprintf(first, "Given%zu", i);
	sprintf(last, "Family%zu", i % 5000); /* surnames repeat, as they do */
	sprintf(email, "person%zu@example.com", i);
	sprintf(phone, "+1858%07zu", i % 10000000);
	sprintf(order, "ORD-%zu", 100000 + i);
}

static void *
creator(void *p)
{
	struct lat *l = p;
	struct vault *v;
	char first[32], last[32], email[64], phone[32], order[32], args[512], *out;
	if (vault_connect(sock, &v) != 0)
		abort();
	for (;;) {
		pthread_mutex_lock(&lock);
		size_t i = next++;
		pthread_mutex_unlock(&lock);
		if (i >= nrecords)
			break;
		person(i, first, last, email, phone, order);
		struct vault_record *r;
		char *tok;
		vault_record_new(&r);
		vault_record_set(r, "first_name", first);
		vault_record_set(r, "last_name", last);
		vault_record_set(r, "email", email);
		vault_record_set(r, "phone", phone);
		vault_record_set(r, "postal_address", "1 Main Street\nSan Diego, CA 92101");
		double t0 = now_s();
		if (vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok) != 0) {
			fprintf(stderr, "create: %s\n", vault_last_message(v));
			exit(1);
		}
		note(l, (now_s() - t0) * 1e6);
		vault_record_free(r);
		tokens[i] = tok;
		if (create_only)
			continue;
		snprintf(args, sizeof(args), "{\"record\":\"%s\",\"reference\":\"%s\","
		    "\"date\":\"2026-11-02\",\"amount\":\"%zu.%02zu\"}", tok, order, i % 500, i % 100);
		if (vault_call_json(v, "transaction", VAULT_PURPOSE_TRANSACTIONAL, args, &out) != 0) {
			fprintf(stderr, "transaction: %s\n", vault_last_message(v));
			exit(1);
		}
		vault_free(out);
	}
	vault_close(v);
	return NULL;
}

static long long
request_id(const char *json)
{
	const char *p = strstr(json, "\"request\":");
	return p ? atoll(p + 10) : -1;
}

int
main(int argc, char **argv)
{
	unsigned clients = 8, verifies = 2000;
	int c;
	while ((c = getopt(argc, argv, "s:n:c:v:C")) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'n': nrecords = strtoul(optarg, NULL, 10); break;
		case 'c': clients = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'v': verifies = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'C': create_only = 1; break;
		default:
			fprintf(stderr, "usage: privacy-bench -s SOCKET [-n RECORDS] [-c CLIENTS] "
			    "[-v VERIFIES]\n");
			return 2;
		}
	}
	if (sock == NULL || clients == 0 || clients > 256 || nrecords == 0)
		return 2;
	if ((tokens = calloc(nrecords, sizeof(*tokens))) == NULL)
		return 1;
	printf("%-34s %9s %13s %9s %9s %9s\n", "operation", "count", "rate", "p50", "p99", "max");

	pthread_t th[256];
	struct lat lats[256] = { 0 }, all = { 0 };
	double t0 = now_s();
	for (unsigned i = 0; i < clients; i++)
		pthread_create(&th[i], NULL, creator, &lats[i]);
	for (unsigned i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		for (size_t j = 0; j < lats[i].n; j++)
			note(&all, lats[i].v[j]);
		free(lats[i].v);
	}
	double t1 = now_s();
	char what[64];
	snprintf(what, sizeof(what), create_only ? "create (%u clients)" :
	    "create + transaction (%u clients)", clients);
	report(what, &all, t1 - t0);
	if (create_only) {
		for (size_t i = 0; i < nrecords; i++)
			vault_free(tokens[i]);
		free(tokens);
		return 0;
	}
	printf("  (rate: records/s including the transaction call; latency: the create alone)\n");

	struct vault *v;
	if (vault_connect(sock, &v) != 0)
		return 1;
	struct lat open = { 0 }, verify = { 0 };
	unsigned seed = 42, ok = 0;
	double tv = 0;
	char first[32], last[32], email[64], phone[32], order[32], args[512], *out;
	for (unsigned k = 0; k < verifies; k++) {
		size_t i = (size_t)rand_r(&seed) % nrecords;
		person(i, first, last, email, phone, order);
		double a = now_s();
		if (vault_call_json(v, "request_open", 0, "{\"kind\":\"know\",\"channel\":\"phone\","
		    "\"requester\":\"self\"}", &out) != 0) {
			fprintf(stderr, "request_open: %s\n", vault_last_message(v));
			return 1;
		}
		double b = now_s();
		note(&open, (b - a) * 1e6);
		long long id = request_id(out);
		vault_free(out);
		snprintf(args, sizeof(args), "{\"request\":%lld,\"claims\":{\"first_name\":\"%s\","
		    "\"last_name\":\"%s\",\"email\":\"%s\",\"transaction\":{\"reference\":\"%s\"}}}",
		    id, first, last, email, order);
		b = now_s();
		if (vault_call_json(v, "request_verify", 0, args, &out) != 0) {
			fprintf(stderr, "request_verify: %s\n", vault_last_message(v));
			return 1;
		}
		double e = now_s();
		tv += e - b;
		note(&verify, (e - b) * 1e6);
		ok += strstr(out, "\"verified\":true") != NULL;
		vault_free(out);
	}
	report("request_open (durable)", &open, 0);
	report("request_verify (3 points claimed)", &verify, tv);
	printf("  verified %u of %u (each claims a surname shared by %zu records)\n", ok, verifies,
	    (nrecords + 4999) / 5000);

	/* One full deletion, timed: open, verify, complete (shred + receipt). */
	person(0, first, last, email, phone, order);
	struct lat del = { 0 };
	double a = now_s();
	long long id;
	if (vault_call_json(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"phone\","
	    "\"requester\":\"self\"}", &out) != 0)
		return 1;
	id = request_id(out);
	vault_free(out);
	snprintf(args, sizeof(args), "{\"request\":%lld,\"claims\":{\"first_name\":\"%s\","
	    "\"last_name\":\"%s\",\"email\":\"%s\",\"phone\":\"%s\"}}", id, first, last, email, phone);
	if (vault_call_json(v, "request_verify", 0, args, &out) != 0)
		return 1;
	vault_free(out);
	snprintf(args, sizeof(args), "{\"request\":%lld}", id);
	double b = now_s();
	if (vault_call_json(v, "request_complete", 0, args, &out) != 0) {
		fprintf(stderr, "request_complete: %s\n", vault_last_message(v));
		return 1;
	}
	note(&del, (now_s() - b) * 1e6);
	vault_free(out);
	(void)a;
	report("request_complete (shred + receipt)", &del, 0);
	vault_close(v);
	for (size_t i = 0; i < nrecords; i++)
		vault_free(tokens[i]);
	free(tokens);
	return 0;
}
