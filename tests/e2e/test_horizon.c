/*
 * test_horizon.c - end-to-end: the erasure horizon a deletion receipt
 * promises, as it actually happens on a real vaultd.
 *
 * The rotation schedule survives a SIGKILL during its rewrap (the old
 * epoch is still retired by itself); the receipt's unrecoverable_after is
 * an estimate, and the retire that really ends the horizon signs an
 * erasure-complete document (request_show, vaultctl requests receipt and
 * export verify); a record that cannot be rewrapped is named in keys
 * status and its horizon raises horizon_overdue once; a finished request
 * keeps nothing the receipt does not need (read offline from the data
 * file, as an attacker holding it would).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>
#include <vault/vault.h>

#include "harness.h"
#include "vault/privacy/request.h"
#include "vault/store/store.h"

#define T VAULT_PURPOSE_TRANSACTIONAL
#define MARK "# horizon-test\n"

__attribute__((format(printf, 4, 5)))
static json_t *
ok(struct vault *v, const char *op, enum vault_purpose p, const char *fmt, ...)
{
	char args[4096], *out = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	int rc = vault_call_json(v, op, p, args, &out);
	cr_assert_eq(rc, 0, "%s: %s (%s)", op, vault_error_name(rc), vault_last_message(v));
	json_error_t e;
	json_t *j = json_loads(out, 0, &e);
	cr_assert_not_null(j, "reply of %s is JSON", op);
	vault_free(out);
	return j;
}

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	cr_assert_not_null(s, "%s is a string", key);
	return s;
}

static long long
num(const json_t *o, const char *key)
{
	const json_t *n = json_object_get(o, key);
	cr_assert(json_is_integer(n), "%s is an integer", key);
	return json_integer_value(n);
}

/* Monotonic seconds, for deadlines. */
static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Replace what follows MARK in p's configuration with tail. */
static void
reconfigure(const struct vaultd_proc *p, const char *tail)
{
	size_t n;
	char *conf = read_file_all(p->config, &n);
	cr_assert_not_null(conf);
	char *m = strstr(conf, MARK);
	cr_assert_not_null(m, "the test's configuration has its mark");
	m[strlen(MARK)] = '\0';
	FILE *f = fopen(p->config, "w");
	cr_assert_not_null(f);
	fputs(conf, f);
	fputs(tail, f);
	cr_assert_eq(fclose(f), 0);
	free(conf);
}

static char *
create(struct vault *v, int i)
{
	struct vault_record *r;
	char email[64], *tok;
	snprintf(email, sizeof(email), "person%d@horizon.example", i);
	cr_assert_eq(vault_record_new(&r), 0);
	cr_assert_eq(vault_record_set(r, "email", email), 0);
	cr_assert_eq(vault_create(v, T, r, &tok), 0, "%s", vault_last_message(v));
	vault_record_free(r);
	return tok;
}

static int
read_code(struct vault *v, const char *tok)
{
	struct vault_record *out = NULL;
	int rc = vault_read(v, T, tok, NULL, 0, 0, &out);
	if (rc == 0)
		vault_record_free(out);
	return rc;
}

static int
ring_has(const struct vault_keys_status *st, uint32_t epoch)
{
	for (size_t i = 0; i < st->nkek; i++)
		if (st->kek[i].version == epoch)
			return 1;
	return 0;
}

/* A person with a name, an email and a phone; returns the record token. */
static char *
customer(struct vault *v, const char *first, const char *last, const char *email)
{
	json_t *r = ok(v, "create", T, "{\"fields\":{\"first_name\":\"%s\",\"last_name\":\"%s\","
	    "\"email\":\"%s\",\"phone\":\"+14155550199\"}}", first, last, email);
	char *tok = strdup(str(r, "record"));
	json_decref(r);
	return tok;
}

/* Open, verify and complete a deletion of that person; returns the reply. */
static json_t *
delete_person(struct vault *v, const char *first, const char *last, const char *email,
    long long *id)
{
	json_t *r = ok(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"phone\","
	    "\"requester\":\"self\"}");
	*id = num(r, "request");
	json_decref(r);
	r = ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{\"first_name\":\"%s\","
	    "\"last_name\":\"%s\",\"email\":\"%s\",\"phone\":\"+14155550199\"}}",
	    *id, first, last, email);
	cr_assert(json_is_true(json_object_get(r, "verified")));
	json_decref(r);
	r = ok(v, "request_complete", 0, "{\"request\":%lld}", *id);
	cr_assert_str_eq(str(r, "state"), "completed");
	return r;
}

/* 1 if doc's signature (base64) verifies under the vault's key of version. */
static int
signed_by_vault(struct vault *v, const char *doc, const char *sig64, long long version)
{
	unsigned char pk[32], sig[64];
	size_t n;
	json_t *r = ok(v, "signing_key", 0, "{}"), *k;
	size_t i;
	int found = 0;
	json_array_foreach(json_object_get(r, "keys"), i, k) {
		if (num(k, "version") != version)
			continue;
		cr_assert_eq(sodium_base642bin(pk, 32, str(k, "public_key"),
		    strlen(str(k, "public_key")), NULL, &n, NULL,
		    sodium_base64_VARIANT_ORIGINAL), 0);
		found = 1;
	}
	json_decref(r);
	cr_assert(found);
	cr_assert_eq(sodium_base642bin(sig, 64, sig64, strlen(sig64), NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL), 0);
	return crypto_sign_verify_detached(sig, (const unsigned char *)doc, strlen(doc), pk) == 0;
}

/* Run vaultctl -s SOCKET ARGS; its exit status, its output in out (malloc'd). */
static int
vaultctl(const struct vaultd_proc *p, char **out, const char *args)
{
	const char *bin = getenv("VAULTCTL");
	cr_assert_not_null(bin, "VAULTCTL is not set (run through meson test)");
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' %s 2>&1", bin, p->socket, args);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	size_t got;
	while ((got = fread(buf + n, 1, cap - 1 - n, f)) > 0)
		n += got;
	buf[n] = '\0';
	int st = pclose(f);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long long
alerts(struct vault *v, const char *name)
{
	json_t *j = ok(v, "status", 0, "{}");
	json_t *n = json_object_get(json_object_get(j, "alerts"), name);
	cr_assert(json_is_integer(n), "status has alerts.%s", name);
	long long c = json_integer_value(n);
	json_decref(j);
	return c;
}

/*
 * The schedule's rotation is killed (SIGKILL) half-way through its rewrap;
 * after the restart, whose configuration would not rotate again for an
 * hour, the rewrap resumes and the retire it owes still happens by itself.
 * Before the schedule was stored, the restart forgot it: epoch 1 stayed.
 */
Test(horizon, a_kill_during_the_scheduled_rewrap_still_retires_by_itself, .timeout = 300)
{
	enum { N = 1500 };
	struct vaultd_proc p;
	struct vault *v;
	static char *toks[N];
	vaultd_start(&p, MARK);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* Due at once (epoch 1 is older than the interval); one record a step. */
	reconfigure(&p, "[keys]\nrotation_interval_seconds = 1\nrotation_batch = 1\n");
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	struct vault_keys_status *st = NULL;
	double deadline = now_s() + 30;
	for (;;) {
		vault_keys_status_free(st);
		cr_assert_eq(vault_keys_status(v, &st), 0, "%s", vault_last_message(v));
		if (st->rotating && st->examined > 0)
			break;
		cr_assert(now_s() < deadline, "the scheduled rotation did not start");
		usleep(5000);
	}
	fprintf(stderr, "horizon: SIGKILL during the scheduled rewrap (%llu of %llu)\n",
	    (unsigned long long)st->examined, (unsigned long long)st->total);
	vault_keys_status_free(st);
	st = NULL;
	vault_close(v);
	vaultd_kill(&p);

	reconfigure(&p, "[keys]\nrotation_interval_seconds = 3600\nrotation_batch = 1\n");
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	deadline = now_s() + 120;
	for (;;) {
		vault_keys_status_free(st);
		cr_assert_eq(vault_keys_status(v, &st), 0, "%s", vault_last_message(v));
		if (!ring_has(st, 1))
			break;
		cr_assert(now_s() < deadline, "epoch 1 was not retired by itself (rotating %d, "
		    "%llu of %llu)", st->rotating, (unsigned long long)st->examined,
		    (unsigned long long)st->total);
		usleep(20000);
	}
	cr_assert_geq(st->kek_current, 2);
	vault_keys_status_free(st);
	/* Retired by the resumed rotation's own owed retire, not by a later
	 * rotation that happened to be due (which would retire it too). */
	size_t n;
	char *log = read_file_all(p.log, &n);
	cr_assert_not_null(log);
	const char *retired = strstr(log, "retired epoch 1:");
	const char *third = strstr(log, "rotation: epoch 3 is current");
	cr_assert_not_null(retired, "%s", log);
	cr_assert(third == NULL || retired < third, "epoch 1 outlived the resumed rotation");
	free(log);
	for (int i = 0; i < N; i++) {
		if (i % 50 == 0)
			cr_assert_eq(read_code(v, toks[i]), 0, "record %d readable", i);
		vault_free(toks[i]);
	}
	vault_close(v);
	vaultd_finish(&p);
}

/*
 * With no schedule the receipt says so (null estimate); a rotation alone
 * ends nothing; the retire of the last epoch <= the one current at
 * completion signs the erasure-complete document, which request_show,
 * requests receipt and export verify all carry. A deletion completed after
 * the rotation waits for the next retire.
 */
Test(horizon, the_retire_that_ends_the_horizon_signs_an_erasure_complete_document,
    .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	long long id, id2;
	vaultd_start(&p, MARK);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Grace", "Hopper", "grace@example.org");
	char *b = customer(v, "Alan", "Turing", "alan@example.org");
	json_t *r = delete_person(v, "Grace", "Hopper", "grace@example.org", &id);
	json_error_t je;
	json_t *rc = json_loads(str(r, "receipt"), 0, &je);
	cr_assert_not_null(rc);
	cr_assert(json_is_null(json_object_get(rc, "unrecoverable_after")), "no schedule");
	cr_assert_eq(num(rc, "kek_epoch"), 1);
	cr_assert_not_null(strstr(str(rc, "erasure"), "after the next rotate-and-retire"));
	json_t *records = json_incref(json_object_get(rc, "records"));
	long long completed_at = num(rc, "completed_at");
	json_decref(rc);
	json_decref(r);
	r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "horizon"), "pending");
	cr_assert(json_is_null(json_object_get(r, "erasure_complete")));
	json_decref(r);
	char *out, args[1024], file[600];
	snprintf(args, sizeof(args), "requests show %lld", id);
	cr_assert_eq(vaultctl(&p, &out, args), 0, "%s", out);
	cr_assert_not_null(strstr(out, "erasure horizon: pending, after the next rotate-and-retire"),
	    "%s", out);
	free(out);

	uint32_t epoch;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0);
	cr_assert_eq(epoch, 2);
	struct vault_keys_status *st = NULL;
	double deadline = now_s() + 60;
	do {
		vault_keys_status_free(st);
		cr_assert_eq(vault_keys_status(v, &st), 0);
		cr_assert(now_s() < deadline, "rotation did not finish");
	} while (st->rotating && usleep(10000) == 0);
	vault_keys_status_free(st);
	/* Completed under epoch 2: its horizon needs epoch 2 retired too. */
	char *c = customer(v, "Edsger", "Dijkstra", "edsger@example.org");
	json_decref(delete_person(v, "Edsger", "Dijkstra", "edsger@example.org", &id2));
	r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "horizon"), "pending", "a rotation alone ends nothing");
	json_decref(r);

	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	long long after_retire = (long long)time(NULL);
	r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "horizon"), "complete");
	const char *doc = str(r, "erasure_complete");
	cr_assert(signed_by_vault(v, doc, str(r, "erasure_signature"),
	    num(r, "erasure_key_version")));
	json_t *d = json_loads(doc, 0, &je);
	cr_assert_not_null(d);
	cr_assert_str_eq(str(d, "type"), "erasure-complete");
	cr_assert_eq(num(d, "request"), id);
	cr_assert(json_equal(json_object_get(d, "records"), records),
	    "the receipt's record pseudonyms");
	cr_assert_eq(num(d, "completed_at"), completed_at);
	cr_assert_eq(json_array_size(json_object_get(d, "epochs_retired")), 1);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(d, "epochs_retired"), 0)), 1);
	cr_assert_geq(num(d, "retired_at"), completed_at);
	cr_assert_leq(num(d, "retired_at"), after_retire);
	cr_assert(json_is_true(json_object_get(d, "compaction")));
	cr_assert_null(strstr(doc, "Hopper"));
	cr_assert_null(strstr(doc, "grace@"));
	json_decref(d);
	json_decref(r);
	r = ok(v, "request_show", 0, "{\"request\":%lld}", id2);
	cr_assert_str_eq(str(r, "horizon"), "pending", "epoch 2 still opens its copies");
	json_decref(r);

	/* vaultctl: show prints both documents; receipt saves both; verify checks. */
	snprintf(args, sizeof(args), "requests show %lld", id);
	cr_assert_eq(vaultctl(&p, &out, args), 0, "%s", out);
	cr_assert_not_null(strstr(out, "receipt: {"), "%s", out);
	cr_assert_not_null(strstr(out, "erasure horizon: complete"), "%s", out);
	cr_assert_not_null(strstr(out, "erasure-complete: {"), "%s", out);
	cr_assert_not_null(strstr(out, "erasure signature: ed25519 "), "%s", out);
	free(out);
	vaultd_path(&p, "receipt.json", file, sizeof(file));
	snprintf(args, sizeof(args), "requests receipt %lld --out '%s'", id, file);
	cr_assert_eq(vaultctl(&p, &out, args), 0, "%s", out);
	cr_assert_not_null(strstr(out, "erasure-complete document written to"), "%s", out);
	free(out);
	snprintf(args, sizeof(args), "export verify '%s.erasure'", file);
	cr_assert_eq(vaultctl(&p, &out, args), 0, "%s", out);
	cr_assert_not_null(strstr(out, "signature valid"), "%s", out);
	free(out);
	/* One byte changed: refused. */
	char epath[700];
	snprintf(epath, sizeof(epath), "%s.erasure", file);
	size_t n;
	char *e = read_file_all(epath, &n);
	cr_assert_not_null(e);
	char *at = strstr(e, "\"request\":");
	cr_assert_not_null(at);
	at[10] = at[10] == '9' ? '8' : '9';
	FILE *f = fopen(epath, "w");
	fwrite(e, 1, n, f);
	fclose(f);
	free(e);
	cr_assert_neq(vaultctl(&p, &out, args), 0, "%s", out);
	cr_assert_not_null(strstr(out, "INVALID"), "%s", out);
	free(out);

	json_decref(records);
	free(a);
	free(b);
	free(c);
	vault_close(v);
	vaultd_finish(&p);
}

/*
 * A record the rotation cannot rewrap (changed on disk) keeps epoch 1 in
 * the ring: keys status names it by record token with the command that
 * resolves it, the deletion's horizon passes its estimate and raises
 * horizon_overdue once; deleting the record lets the schedule end the
 * horizon, and the erasure-complete document follows.
 */
Test(horizon, a_blocked_retire_is_named_and_its_overdue_horizon_alerts_once,
    .timeout = 240)
{
	struct vaultd_proc p;
	struct vault *v;
	long long id;
	vaultd_start(&p, MARK);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *bad = create(v, 0);   /* record 1 */
	char *good = create(v, 1);
	char *person = customer(v, "Barbara", "Liskov", "barbara@example.org");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* Record 1's stored form changed (its updated time, as test_tamper.c). */
	char dir[600];
	vaultd_path(&p, "data", dir, sizeof(dir));
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi recs;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 256u << 20);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "records", 0, &recs), 0);
	uint8_t kb[8];
	store_put_id(kb, 1);
	MDB_val k = { 8, kb }, val;
	cr_assert_eq(mdb_get(txn, recs, &k, &val), 0);
	/* The original is kept: putting it back is how a backup resolves it. */
	size_t len = val.mv_size;
	uint8_t *orig = malloc(len), *copy = malloc(len);
	memcpy(orig, val.mv_data, len);
	memcpy(copy, val.mv_data, len);
	copy[20] ^= 0x01;
	MDB_val nv = { len, copy };
	cr_assert_eq(mdb_put(txn, recs, &k, &nv, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(copy);

	reconfigure(&p, "[keys]\nrotation_interval_seconds = 2\n");
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	json_t *r = delete_person(v, "Barbara", "Liskov", "barbara@example.org", &id);
	json_error_t je;
	json_t *rc = json_loads(str(r, "receipt"), 0, &je);
	long long estimate = num(rc, "unrecoverable_after");
	cr_assert_geq(estimate, num(rc, "completed_at"), "an estimate from the schedule");
	cr_assert_leq(estimate, num(rc, "completed_at") + 60);
	json_decref(rc);
	json_decref(r);

	/* keys status names the blocker once a rotation has left it behind. */
	struct vault_keys_status *st = NULL;
	double deadline = now_s() + 60;
	for (;;) {
		vault_keys_status_free(st);
		cr_assert_eq(vault_keys_status(v, &st), 0, "%s", vault_last_message(v));
		if (!st->rotating && st->blocked_records > 0 && st->kek_current >= 2)
			break;
		cr_assert(now_s() < deadline, "no blocker named");
		usleep(20000);
	}
	cr_assert_eq(st->blocked_records, 1);
	cr_assert_eq(st->nblockers, 1);
	cr_assert_eq(st->blockers[0].epoch, 1);
	cr_assert(ring_has(st, 1), "epoch 1 cannot be retired");
	char *listed = strdup(st->blockers[0].record);
	cr_assert(st->blockers[0].damaged);
	cr_assert_not_null(strstr(st->blockers[0].resolve, "from a backup"), "%s",
	    st->blockers[0].resolve);
	vault_keys_status_free(st);
	st = NULL;
	cr_assert_eq(read_code(v, listed), VAULT_E_CRYPTO, "the listed token is the changed record");
	cr_assert_eq(read_code(v, good), 0);
	char *out;
	cr_assert_eq(vaultctl(&p, &out, "keys status"), 0, "%s", out);
	cr_assert_not_null(strstr(out, "retire blocked: 1 record"), "%s", out);
	cr_assert_not_null(strstr(out, listed), "%s", out);
	free(out);

	/* The horizon passes its estimate: one alert, and only one. */
	deadline = now_s() + 90;
	while (alerts(v, "horizon_overdue") == 0) {
		cr_assert(now_s() < deadline, "no horizon_overdue alert");
		usleep(50000);
	}
	/* Several more scheduled rotations and looks at the requests: still one. */
	uint32_t cur0 = 0;
	cr_assert_eq(vault_keys_status(v, &st), 0);
	cur0 = st->kek_current;
	vault_keys_status_free(st);
	st = NULL;
	deadline = now_s() + 60;
	for (;;) {
		cr_assert_eq(vault_keys_status(v, &st), 0);
		uint32_t cur = st->kek_current;
		vault_keys_status_free(st);
		st = NULL;
		if (cur >= cur0 + 2)
			break;
		cr_assert(now_s() < deadline, "the schedule stopped");
		usleep(50000);
	}
	cr_assert_eq(alerts(v, "horizon_overdue"), 1, "raised once for the request");
	/* The rotations said so in the log: once each, not once a tick. */
	size_t loglen;
	char *log = read_file_all(p.log, &loglen);
	cr_assert_not_null(log);
	size_t said = 0, finished = 0;
	for (const char *q = log; (q = strstr(q, "records could not be rewrapped")) != NULL; q++)
		said++;
	for (const char *q = log; (q = strstr(q, " done: ")) != NULL; q++)
		finished++;
	cr_assert_geq(said, 1, "the blocked rotation was logged");
	cr_assert_leq(said, finished, "once per finished rotation (%zu for %zu)", said, finished);
	free(log);
	r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "horizon"), "pending");
	json_decref(r);

	/* Resolved as keys status says for a damaged record: its stored form
	 * put back as a backup holds it (offline, the service stopped). */
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 256u << 20);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "records", 0, &recs), 0);
	MDB_val ov = { len, orig };
	cr_assert_eq(mdb_put(txn, recs, &k, &ov, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(orig);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_eq(read_code(v, listed), 0, "readable again");
	deadline = now_s() + 90;
	for (;;) {
		r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
		int done = strcmp(str(r, "horizon"), "complete") == 0;
		if (done) {
			cr_assert(signed_by_vault(v, str(r, "erasure_complete"),
			    str(r, "erasure_signature"), num(r, "erasure_key_version")));
			json_decref(r);
			break;
		}
		json_decref(r);
		cr_assert(now_s() < deadline, "the horizon did not end after the blocker went");
		usleep(50000);
	}
	cr_assert_eq(vault_keys_status(v, &st), 0);
	cr_assert_not(ring_has(st, 1));
	vault_keys_status_free(st);
	cr_assert_eq(read_code(v, listed), 0, "rewrapped and still readable");
	free(listed);
	vault_free(bad);
	vault_free(good);
	free(person);
	vault_close(v);
	vaultd_finish(&p);
}

/*
 * After a request reaches its final state, the requests database holds no
 * target record id, no permission hash, no code hash and no sealed reason:
 * read offline, the way test_tamper.c opens the data file.
 */
Test(horizon, a_finished_request_keeps_only_what_its_receipt_needs, .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, MARK);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Ada", "Byron", "ada@example.org");
	/* An agent's deletion with a permission reference and an extension. */
	json_t *r = ok(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"mail\","
	    "\"requester\":\"agent\",\"permission\":\"power of attorney ref PA-19\","
	    "\"received_at\":%lld}", (long long)time(NULL) - 50 * 86400);
	long long id = num(r, "request");
	json_decref(r);
	json_decref(ok(v, "request_extend", 0, "{\"request\":%lld,\"reason\":\"archive "
	    "search in the basement\"}", id));
	r = ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{\"first_name\":\"Ada\","
	    "\"last_name\":\"Byron\",\"email\":\"ada@example.org\",\"phone\":\"+14155550199\"}}",
	    id);
	cr_assert(json_is_true(json_object_get(r, "verified")));
	json_decref(r);
	/* Before completion the request keeps its targets (a deferral needs them). */
	r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
	cr_assert_eq(num(r, "targets"), 1);
	json_decref(r);
	r = ok(v, "request_complete", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "state"), "completed");
	json_decref(r);
	r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
	cr_assert_eq(num(r, "targets"), 1, "their number stays");
	cr_assert(json_is_true(json_object_get(r, "extended")));
	cr_assert(json_is_null(json_object_get(r, "extension_reason")), "the reason went");
	json_decref(r);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	char dir[600];
	vaultd_path(&p, "data", dir, sizeof(dir));
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi reqs;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "requests", 0, &reqs), 0);
	uint8_t kb[8];
	store_put_id(kb, (uint64_t)id);
	MDB_val k = { 8, kb }, val;
	cr_assert_eq(mdb_get(txn, reqs, &k, &val), 0);
	struct privacy_request d;
	cr_assert_eq(request_decode(val.mv_data, val.mv_size, &d), 0);
	cr_assert_eq(d.state, RS_COMPLETED);
	cr_assert_eq(d.ntargets, 0, "no target record id");
	cr_assert_eq(d.target_count, 1);
	cr_assert_not(d.has_permission, "no permission hash");
	cr_assert(d.extended);
	cr_assert_null(d.extension_reason, "no sealed reason");
	cr_assert_not_null(d.receipt, "the receipt stays");
	cr_assert_eq(d.horizon_epoch, 1);
	/* And byte-wise: "t" is a count, "p" and "x" hold no bytes. */
	cr_assert_null(memmem(val.mv_data, val.mv_size, "\xa1t\x91", 3), "no target array");
	cr_assert_not_null(memmem(val.mv_data, val.mv_size, "\xa1p\xc0", 3), "p is nil");
	cr_assert_not_null(memmem(val.mv_data, val.mv_size, "\xa1x\xc3", 3), "x is true");
	mdb_txn_abort(txn);
	mdb_env_close(env);
	free(a);
	vaultd_cleanup(&p);
}

/*
 * A retire whose compaction only the next start finished (a crash after
 * the epoch's key was destroyed): the document is owed, and the writer
 * issues it after that start. Simulated offline on the data file: the
 * retire's "compaction pending" mark put back and the document removed,
 * as the crash would have left them.
 */
Test(horizon, a_document_owed_by_a_retire_finished_at_start_is_issued, .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	long long id;
	vaultd_start(&p, MARK);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Frances", "Allen", "frances@example.org");
	json_decref(delete_person(v, "Frances", "Allen", "frances@example.org", &id));
	uint32_t epoch;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0);
	struct vault_keys_status *st = NULL;
	double deadline = now_s() + 60;
	do {
		vault_keys_status_free(st);
		cr_assert_eq(vault_keys_status(v, &st), 0);
		cr_assert(now_s() < deadline, "rotation did not finish");
	} while (st->rotating && usleep(10000) == 0);
	vault_keys_status_free(st);
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	char dir[600];
	vaultd_path(&p, "data", dir, sizeof(dir));
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi reqs, meta;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 256u << 20);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "requests", 0, &reqs), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	uint8_t kb[8], eb[8];
	store_put_id(kb, (uint64_t)id);
	MDB_val k = { 8, kb }, val;
	cr_assert_eq(mdb_get(txn, reqs, &k, &val), 0);
	uint8_t *copy = malloc(val.mv_size);
	memcpy(copy, val.mv_data, val.mv_size);
	struct privacy_request d;
	cr_assert_eq(request_decode(copy, val.mv_size, &d), 0);
	cr_assert_not_null(d.erasure, "issued at the retire");
	d.erasure = NULL;
	struct buf b = { 0 };
	cr_assert_eq(request_encode(&d, &b), 0);
	MDB_val nv = { b.len, b.data };
	cr_assert_eq(mdb_put(txn, reqs, &k, &nv, 0), 0);
	store_put_id(eb, 1);
	MDB_val mk = { strlen("compact_pending"), (void *)"compact_pending" }, mv = { 8, eb };
	cr_assert_eq(mdb_put(txn, meta, &mk, &mv, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	buf_free(&b);
	free(copy);

	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	size_t n;
	char *log = read_file_all(p.log, &n);
	cr_assert_not_null(strstr(log, "is complete"), "the start finished the compaction: %s", log);
	free(log);
	/* A write wakes the writer (no schedule: it sleeps until one comes). */
	char *other = create(v, 7);
	deadline = now_s() + 30;
	for (;;) {
		json_t *r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
		if (strcmp(str(r, "horizon"), "complete") == 0) {
			cr_assert(signed_by_vault(v, str(r, "erasure_complete"),
			    str(r, "erasure_signature"), num(r, "erasure_key_version")));
			json_decref(r);
			break;
		}
		json_decref(r);
		cr_assert(now_s() < deadline, "the owed document was not issued");
		usleep(20000);
	}
	cr_assert_eq(alerts(v, "horizon_overdue"), 0);
	vault_free(other);
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}
