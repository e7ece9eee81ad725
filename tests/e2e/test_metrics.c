/*
 * test_metrics.c - end-to-end: the metrics operation and vaultctl metrics
 * against a real vaultd. The counters count exactly what the test did
 * (creates, failed reads with their error, a delete, an unknown operation,
 * an empty frame, a refused connection), the commit histograms cover every commit,
 * records and tombstones follow, sealed follows an unseal, a non-admin
 * client is refused, and vaultctl's Prometheus text passes a format check
 * (tests/prom_check.h); vaultctl status shows the same counters.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <vault/vault.h>

#include "harness.h"
#include "../prom_check.h"

static struct vaultd_proc srv;
static struct vault *v;

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	vaultd_start(&srv, "[server]\nmax_connections = 3\nmax_connections_per_uid = 3\n");
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
}

static void
teardown(void)
{
	if (v != NULL)
		vault_close(v);
	v = NULL;
	vaultd_finish(&srv);
}

TestSuite(metrics, .init = setup, .fini = teardown, .timeout = 120);

/* The metrics op's result, parsed; aborts on an error. */
static json_t *
metrics(void)
{
	char *raw = NULL;
	int rc = vault_call_json(v, "metrics", 0, NULL, &raw);
	cr_assert_eq(rc, 0, "metrics: %s", vault_error_name(rc));
	json_t *m = json_loads(raw, 0, NULL);
	vault_free(raw);
	cr_assert(json_is_object(m));
	return m;
}

/* m at a path of object keys ("ops", "read", "requests"), as an integer;
 * -1 if a key is absent. */
static json_int_t
at(const json_t *m, const char *const *path)
{
	for (; *path != NULL; path++)
		m = json_object_get(m, *path);
	if (m == NULL)
		return -1;
	if (json_is_boolean(m))
		return json_is_true(m);
	cr_assert(json_is_integer(m));
	return json_integer_value(m);
}
#define AT(m, ...) at(m, (const char *const[]){ __VA_ARGS__, NULL })

static char *
create_one(void)
{
	struct vault_record *r;
	char *tok = NULL;
	cr_assert_eq(vault_record_new(&r), 0);
	cr_assert_eq(vault_record_set(r, "first_name", "Jane"), 0);
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	return tok;
}

#define N_CREATES 5
#define M_FAILED 3

Test(metrics, counts_exactly_what_was_done)
{
	char *tok[N_CREATES];
	struct vault_record *out = NULL;
	json_t *m = metrics();

	/* A fresh server: nothing but the harness's pings and this call. */
	cr_assert_eq(AT(m, "ops", "create", "requests"), 0);
	cr_assert_eq(AT(m, "records"), 0);
	cr_assert_eq(AT(m, "sealed"), 0);
	cr_assert_eq(AT(m, "commit", "count"), 0);
	json_decref(m);

	for (int i = 0; i < N_CREATES; i++)
		tok[i] = create_one();
	/* A token this vault never issued: VAULT_E_BAD_TOKEN, M times. */
	for (int i = 0; i < M_FAILED; i++)
		cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL,
		    "rec_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, 0, 0, &out),
		    VAULT_E_BAD_TOKEN);
	/* A request no operation answers. */
	cr_assert_eq(vault_call_json(v, "no_such_op", 0, NULL, NULL), VAULT_E_PROTO_UNKNOWN_OP);
	/* An empty frame (a zero length header) on a raw connection: its error reply. */
	int fd = vaultd_raw_connect(&srv, 5);
	static const unsigned char empty[4] = { 0, 0, 0, 0 };
	unsigned char reply[256];
	cr_assert_eq(write(fd, empty, sizeof(empty)), (ssize_t)sizeof(empty));
	cr_assert_gt(read(fd, reply, sizeof(reply)), 4, "no reply to an empty frame");
	close(fd);

	m = metrics();
	cr_assert_eq(AT(m, "ops", "create", "requests"), N_CREATES);
	cr_assert_eq(json_object_size(json_object_get(json_object_get(json_object_get(m, "ops"),
	    "create"), "errors")), 0, "creates failed");
	cr_assert_eq(AT(m, "ops", "read", "requests"), M_FAILED);
	cr_assert_eq(AT(m, "ops", "read", "errors", "VAULT_E_BAD_TOKEN"), M_FAILED);
	cr_assert_eq(json_object_size(json_object_get(json_object_get(json_object_get(m, "ops"),
	    "read"), "errors")), 1, "only the error that occurred");
	cr_assert_eq(AT(m, "bad_requests", "requests"), 2);
	cr_assert_eq(AT(m, "bad_requests", "errors", "VAULT_E_PROTO_UNKNOWN_OP"), 1);
	cr_assert_eq(AT(m, "bad_requests", "errors", "VAULT_E_PROTO_FRAME"), 1);
	/* Every operation of the table is there, also those never called. */
	cr_assert_eq(AT(m, "ops", "keys_retire", "requests"), 0);
	/* One create at a time: a commit each, each with its flush. */
	cr_assert_geq(AT(m, "commit", "count"), N_CREATES);
	cr_assert_eq(AT(m, "flush", "count"), AT(m, "commit", "count"));
	cr_assert_eq(AT(m, "batch", "sum"), N_CREATES, "writes committed");
	cr_assert_gt(AT(m, "commit", "sum"), 0);
	cr_assert_eq(AT(m, "records"), N_CREATES);
	cr_assert_eq(AT(m, "tombstones"), 0);
	cr_assert_eq(AT(m, "write_queue", "writes"), 0);
	cr_assert_eq(AT(m, "write_queue", "bytes"), 0);
	cr_assert_eq(AT(m, "connections", "refused", "limit"), 0);
	json_decref(m);

	/* A delete: a tombstone, and reading it fails with its own error. */
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, tok[0],
	    VAULT_DELETE_ADMINISTRATIVE), 0, "%s", vault_last_message(v));
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok[0], NULL, 0, 0, &out),
	    VAULT_E_DELETED);
	m = metrics();
	cr_assert_eq(AT(m, "records"), N_CREATES - 1);
	cr_assert_eq(AT(m, "tombstones"), 1);
	cr_assert_eq(AT(m, "ops", "delete", "requests"), 1);
	cr_assert_eq(AT(m, "ops", "read", "requests"), M_FAILED + 1);
	cr_assert_eq(AT(m, "ops", "read", "errors", "VAULT_E_DELETED"), 1);
	cr_assert_eq(AT(m, "ops", "read", "errors", "VAULT_E_BAD_TOKEN"), M_FAILED);
	cr_assert_eq(AT(m, "batch", "sum"), N_CREATES + 1);
	/* The metrics calls themselves count like any request, once answered:
	 * the two before this one. */
	cr_assert_eq(AT(m, "ops", "metrics", "requests"), 2);
	json_decref(m);
	for (int i = 0; i < N_CREATES; i++)
		vault_free(tok[i]);
}

/* Poll (every 10 ms, up to 5 s) until want(m) holds; returns that m. */
static json_t *
metrics_until(int (*want)(const json_t *m), const char *what)
{
	for (int i = 0; i < 500; i++) {
		json_t *m = metrics();
		if (want(m))
			return m;
		json_decref(m);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cr_assert_fail("metrics never showed %s", what);
	return NULL;
}

static int
one_open(const json_t *m)
{
	return AT(m, "connections", "open") == 1;
}

static int
one_refused(const json_t *m)
{
	return AT(m, "connections", "refused", "limit") >= 1;
}

Test(metrics, counts_connections_and_refusals)
{
	/* The harness's pings may still be closing: wait until ours is alone. */
	json_t *m = metrics_until(one_open, "one open connection");
	json_int_t accepted = AT(m, "connections", "accepted");
	json_decref(m);
	/* max_connections = 3: two more fit, the next is refused at accept. */
	int a = vaultd_raw_connect(&srv, 5), b = vaultd_raw_connect(&srv, 5);
	int c = vaultd_raw_connect(&srv, 5);
	char byte;
	cr_assert_eq(read(c, &byte, 1), 0, "the connection over the limit is closed");
	m = metrics_until(one_refused, "a refused connection");
	cr_assert_eq(AT(m, "connections", "refused", "limit"), 1);
	cr_assert_eq(AT(m, "connections", "refused", "policy"), 0);
	cr_assert_eq(AT(m, "connections", "open"), 3);
	cr_assert_eq(AT(m, "connections", "accepted"), accepted + 2);
	json_decref(m);
	close(a);
	close(b);
	close(c);
}

/* ---- vaultctl ---------------------------------------------------------- */

/* Run vaultctl -s SOCKET args...; its stdout (malloc'd) and exit status. */
static char *
ctl(int *status, const char *const *args)
{
	struct proc_run r;
	vaultctl_run(&r, srv.socket, NULL, args, 0);
	fputs(r.err, stderr);
	*status = r.status;
	char *out = r.out;
	r.out = NULL;
	proc_run_free(&r);
	return out;
}
#define CTL(st, ...) ctl(st, (const char *const[]){ __VA_ARGS__, NULL })

Test(metrics, prometheus_text_parses_and_agrees)
{
	struct vault_record *out = NULL;
	struct prom_doc *d = calloc(1, sizeof(*d));
	int st;

	cr_assert_not_null(d);
	for (int i = 0; i < N_CREATES; i++)
		vault_free(create_one());
	for (int i = 0; i < M_FAILED; i++)
		cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL,
		    "rec_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, 0, 0, &out),
		    VAULT_E_BAD_TOKEN);
	char *text = CTL(&st, "metrics");
	cr_assert_eq(st, 0, "%s", text);
	prom_check(d, text);
	cr_assert_eq(prom_value(d, "vault_requests_total{op=\"create\"}"), N_CREATES);
	cr_assert_eq(prom_value(d, "vault_requests_total{op=\"read\"}"), M_FAILED);
	cr_assert_eq(prom_value(d,
	    "vault_request_errors_total{op=\"read\",error=\"VAULT_E_BAD_TOKEN\"}"), M_FAILED);
	cr_assert_eq(prom_value(d, "vault_records"), N_CREATES);
	cr_assert_eq(prom_value(d, "vault_tombstones"), 0);
	cr_assert_eq(prom_value(d, "vault_sealed"), 0);
	cr_assert_geq(prom_value(d, "vault_commit_duration_seconds_count"), N_CREATES);
	cr_assert_eq(prom_value(d, "vault_commit_batch_writes_sum"), N_CREATES);
	cr_assert_eq(prom_value(d, "vault_commit_batch_writes_bucket{le=\"1\"}"), N_CREATES);
	cr_assert_gt(prom_value(d, "vault_flush_duration_seconds_sum"), 0);
	cr_assert_eq(prom_value(d, "vault_commit_duration_seconds_bucket{le=\"+Inf\"}"),
	    prom_value(d, "vault_commit_duration_seconds_count"));
	cr_assert_eq(prom_value(d, "vault_rotation_running"), 0);
	free(text);

	/* --json: the op's map as it came. */
	text = CTL(&st, "--json", "metrics");
	cr_assert_eq(st, 0, "%s", text);
	json_t *m = json_loads(text, 0, NULL);
	cr_assert_not_null(m, "%s", text);
	cr_assert_eq(AT(m, "ops", "create", "requests"), N_CREATES);
	cr_assert_eq(AT(m, "ops", "read", "errors", "VAULT_E_BAD_TOKEN"), M_FAILED);
	json_decref(m);
	free(text);

	/* status shows the same counters, in text and in JSON. */
	text = CTL(&st, "status");
	cr_assert_eq(st, 0, "%s", text);
	cr_assert_not_null(strstr(text, "\nerrors: 3 (read VAULT_E_BAD_TOKEN 3)\n"), "%s", text);
	cr_assert_not_null(strstr(text, "create 5"), "%s", text);
	cr_assert_not_null(strstr(text, "\ncommits: "), "%s", text);
	free(text);
	text = CTL(&st, "--json", "status");
	cr_assert_eq(st, 0, "%s", text);
	m = json_loads(text, 0, NULL);
	cr_assert_not_null(m, "%s", text);
	cr_assert_eq(AT(m, "metrics", "ops", "create", "requests"), N_CREATES);
	json_decref(m);
	free(text);
	free(d);
}

/* ---- sealed, and who may ask ------------------------------------------- */

Test(metrics, sealed_until_unsealed)
{
	char ring[600], data[600];

	vault_close(v);
	v = NULL;
	cr_assert_eq(vaultd_stop(&srv), 0);
	vaultd_path(&srv, "sealed-ring", ring, sizeof(ring));
	vaultd_path(&srv, "sealed-data", data, sizeof(data));
	/* Cheap Argon2id costs: a test, not a vault. */
	cr_assert_eq(keytool_run("correct horse battery\n", (const char *const[]){ "init", ring,
	    "--passphrase", "--opslimit", "1", "--memlimit", "8M", NULL }), 0);
	FILE *f = fopen(srv.config, "a");
	cr_assert_not_null(f);
	fprintf(f, "[keys]\nkeyring_path = %s\n[storage]\ndata_dir = %s\n", ring, data);
	fclose(f);
	vaultd_restart(&srv);
	cr_assert_eq(vault_connect(srv.socket, &v), 0);

	json_t *m = metrics();
	cr_assert_eq(AT(m, "sealed"), 1);
	json_decref(m);
	int st;
	char *text = CTL(&st, "metrics");
	cr_assert_eq(st, 0, "%s", text);
	cr_assert_not_null(strstr(text, "\nvault_sealed 1\n"), "%s", text);
	free(text);

	cr_assert_eq(vault_unseal(v, "correct horse battery"), 0, "%s", vault_last_message(v));
	m = metrics();
	cr_assert_eq(AT(m, "sealed"), 0);
	cr_assert_eq(AT(m, "ops", "unseal", "requests"), 1);
	json_decref(m);
	text = CTL(&st, "metrics");
	cr_assert_eq(st, 0, "%s", text);
	cr_assert_not_null(strstr(text, "\nvault_sealed 0\n"), "%s", text);
	free(text);
}

Test(metrics, refused_to_a_client_that_is_not_admin)
{
	char policy[600];

	vault_close(v);
	v = NULL;
	cr_assert_eq(vaultd_stop(&srv), 0);
	vaultd_path(&srv, "policy.ini", policy, sizeof(policy));
	FILE *f = fopen(policy, "w");
	cr_assert_not_null(f);
	fprintf(f, "[client tests]\nuids = %ld\nadmin = false\n"
	    "[access tests transactional]\n* = plain\n", (long)getuid());
	fclose(f);
	vaultd_restart(&srv);
	cr_assert_eq(vault_connect(srv.socket, &v), 0);

	char *raw = NULL;
	cr_assert_eq(vault_call_json(v, "metrics", 0, NULL, &raw), VAULT_E_DENIED);
	cr_assert_null(raw);
	int st;
	char *text = CTL(&st, "metrics");
	cr_assert_eq(st, 1, "vaultctl metrics must fail: %s", text);
	cr_assert_str_empty(text, "nothing on stdout: %s", text);
	free(text);
	/* status still answers, without the counters. */
	text = CTL(&st, "status");
	cr_assert_eq(st, 0, "%s", text);
	cr_assert_null(strstr(text, "requests:"), "%s", text);
	free(text);
	text = CTL(&st, "--json", "status");
	cr_assert_eq(st, 0, "%s", text);
	json_t *m = json_loads(text, 0, NULL);
	cr_assert_not_null(m, "%s", text);
	cr_assert(json_is_null(json_object_get(m, "metrics")), "%s", text);
	json_decref(m);
	free(text);
}
