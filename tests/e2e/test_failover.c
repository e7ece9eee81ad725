/*
 * test_failover.c - end-to-end: vaultd on PostgreSQL when the database goes
 * away. "down": the server stops under a running vaultd (requests fail with
 * VAULT_E_UNAVAILABLE at once, status and metrics still answer and say
 * since when) and starts again (vaultd recovers by itself); a vaultd that
 * starts while the database is down refuses to start and says why.
 * "failover": a primary with a synchronous streaming standby, vaultd on
 * a multi-host conninfo (target_session_attrs=read-write), client threads
 * creating, reading and deleting; the primary is killed (SIGKILL) mid-load
 * and the standby promoted: vaultd reconnects by itself, requests in flight
 * get VAULT_E_UNAVAILABLE or VAULT_E_UNCERTAIN and nothing else, every
 * acknowledged create reads back, no acknowledged delete is readable, and
 * a delete refused as unavailable left its record in place. And a commit
 * whose connection is lost while it waits for a synchronous standby is
 * answered VAULT_E_UNCERTAIN: it was in fact stored, and its record id is
 * not handed out again.
 *
 * Runs only under tests/e2e/on-pgsql.sh (meson test e2e-failover and
 * e2e-pgsql-down), which starts the servers and sets VAULT_TEST_PG_CTL to
 * a script that stops, starts, kills and promotes them; fails, not skips,
 * without them.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <vault/vault.h>

#include "harness.h"

static void
need_servers(void)
{
	cr_assert_not_null(vaultd_pgsql(), "VAULT_TEST_PGSQL is not set: run this suite through "
	    "meson test e2e-failover or e2e-pgsql-down (tests/e2e/on-pgsql.sh starts PostgreSQL)");
	cr_assert_not_null(getenv("VAULT_TEST_PG_CTL"), "VAULT_TEST_PG_CTL is not set "
	    "(tests/unit/pg-scratch.sh sets it)");
}

/* Run the servers' control script (pg-scratch.sh): stop, start, kill-primary, promote. */
static void
pg_ctl(const char *what)
{
	const char *args[] = { what, NULL };
	struct proc_run r;
	proc_run(&r, getenv("VAULT_TEST_PG_CTL"), NULL, args);
	assert_exit(&r, 0);
	proc_run_free(&r);
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static char *
create_one(struct vault *v, const char *email, int *rc)
{
	struct vault_record *r;
	char *tok = NULL;
	vault_record_new(&r);
	vault_record_set(r, "first_name", "Failover");
	vault_record_set(r, "email", email);
	*rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	vault_record_free(r);
	return *rc == 0 ? tok : NULL;
}

/* rc of reading tok's email; *match whether it equals want. */
static int
read_email(struct vault *v, const char *tok, const char *want, int *match)
{
	const char *fields[] = { "email" };
	struct vault_record *out;
	int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok, fields, 1, 0, &out);
	*match = 0;
	if (rc == 0) {
		const char *got = vault_record_get(out, "email");
		*match = got != NULL && strcmp(got, want) == 0;
		vault_record_free(out);
	}
	return rc;
}

/* status as JSON (vault_call_json), parsed. */
static json_t *
status_json(struct vault *v)
{
	char *text = NULL;
	int rc = vault_call_json(v, "status", 0, NULL, &text);
	cr_assert_eq(rc, 0, "status: %s: %s", vault_error_name(rc), vault_last_message(v));
	json_t *j = json_loads(text, 0, NULL);
	cr_assert_not_null(j);
	vault_free(text);
	return j;
}

/* ---- the database down, then back --------------------------------------- */

static void down_fini(void);
TestSuite(down, .init = need_servers, .fini = down_fini, .timeout = 90);

Test(down, requests_fail_status_answers_and_vaultd_recovers)
{
	struct vaultd_proc p;
	struct vault *v;
	int rc, match;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *tok = create_one(v, "down@failover.example", &rc);
	cr_assert_eq(rc, 0, "create: %s", vault_error_name(rc));

	pg_ctl("stop");
	/* Every request that needs the store fails at once, retryably, with a
	 * message that holds nothing of the request. */
	double t0 = now_s();
	rc = read_email(v, tok, "down@failover.example", &match);
	cr_assert_eq(rc, VAULT_E_UNAVAILABLE, "read: %s", vault_error_name(rc));
	cr_assert_null(strstr(vault_last_message(v), "down@"), "%s", vault_last_message(v));
	char *tok2 = create_one(v, "down2@failover.example", &rc);
	cr_assert_eq(rc, VAULT_E_UNAVAILABLE, "create: %s", vault_error_name(rc));
	cr_assert_null(tok2);
	cr_assert_null(strstr(vault_last_message(v), "down2@"), "%s", vault_last_message(v));
	rc = vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, tok, VAULT_DELETE_SUBJECT_REQUEST);
	cr_assert_eq(rc, VAULT_E_UNAVAILABLE, "delete: %s", vault_error_name(rc));
	cr_assert_lt(now_s() - t0, 5.0, "requests waited %.1f s for a database that is down",
	    now_s() - t0);

	/* status answers: the store is unreachable, since when; no counts. */
	json_t *st = status_json(v);
	const char *storage = json_string_value(json_object_get(st, "storage"));
	cr_assert_not_null(storage, "status has no storage key");
	cr_assert(strncmp(storage, "unreachable since 20", 20) == 0, "storage: %s", storage);
	cr_assert_null(json_object_get(st, "records"));
	json_decref(st);
	/* metrics too, with the time of the outage. */
	char *mtext = NULL;
	rc = vault_call_json(v, "metrics", 0, NULL, &mtext);
	cr_assert_eq(rc, 0, "metrics: %s", vault_error_name(rc));
	json_t *m = json_loads(mtext, 0, NULL);
	cr_assert_gt(json_integer_value(json_object_get(m, "storage_unreachable_since")), 0);
	json_decref(m);
	vault_free(mtext);
	/* vaultctl metrics (Prometheus' format) has it, and no counts. */
	const char *margs[] = { "metrics", NULL };
	struct proc_run mr;
	vaultctl_run(&mr, p.socket, NULL, margs, 0);
	assert_exit(&mr, 0);
	cr_assert_not_null(strstr(mr.out, "\nvault_storage_unreachable_since_seconds 1"), "%s", mr.out);
	cr_assert_null(strstr(mr.out, "vault_records"), "%s", mr.out);
	proc_run_free(&mr);
	/* vaultctl status says so too, and exits 1: a health check sees it. */
	struct vault_status vs;
	cr_assert_eq(vault_status(v, &vs), 0);
	const char *sargs[] = { "status", NULL };
	struct proc_run r;
	vaultctl_run(&r, p.socket, NULL, sargs, 0);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.out, "storage: unreachable since 20"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "records: unknown"), "%s", r.out);
	proc_run_free(&r);

	/* Back: vaultd reconnects by itself (backoff at most 2 s). */
	pg_ctl("start");
	double deadline = now_s() + 15;
	while ((rc = read_email(v, tok, "down@failover.example", &match)) == VAULT_E_UNAVAILABLE &&
	    now_s() < deadline)
		nap_ms(50);
	cr_assert_eq(rc, 0, "read after the database returned: %s", vault_error_name(rc));
	cr_assert(match);
	tok2 = create_one(v, "down2@failover.example", &rc);
	cr_assert_eq(rc, 0, "create after the database returned: %s", vault_error_name(rc));
	st = status_json(v);
	cr_assert_str_eq(json_string_value(json_object_get(st, "storage")), "ok");
	cr_assert_eq(json_integer_value(json_object_get(st, "records")), 2);
	json_decref(st);
	cr_assert_eq(vaultd_wait_log(&p, "PostgreSQL is reachable again", 1, 5), 1);
	vaultctl_run(&r, p.socket, NULL, sargs, 0);
	assert_exit(&r, 0);
	cr_assert_null(strstr(r.out, "storage:"), "%s", r.out);
	proc_run_free(&r);
	vault_close(v);

	/* A start while the database is down is refused, saying why (and
	 * never the connection string's words). */
	cr_assert_eq(vaultd_stop(&p), 0);
	pg_ctl("stop");
	char *log = NULL;
	cr_assert_neq(vaultd_expect_refusal(&p, &log), 0);
	cr_assert_not_null(strstr(log, "cannot connect to PostgreSQL"), "log: %s", log);
	cr_assert_null(strstr(log, "vault_test"), "log: %s", log);
	free(log);
	pg_ctl("start");
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_eq(read_email(v, tok2, "down2@failover.example", &match), 0);
	cr_assert(match);
	vault_close(v);
	vault_free(tok);
	vault_free(tok2);
	vaultd_finish(&p);
}

/* Run sql on the scratch server as its superuser (VAULT_TEST_PG). */
static void
pg_sql(const char *sql)
{
	PGconn *pc = PQconnectdb(getenv("VAULT_TEST_PG"));
	cr_assert(pc != NULL && PQstatus(pc) == CONNECTION_OK, "%s", PQerrorMessage(pc));
	PGresult *res = PQexec(pc, sql);
	cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
	    "%s: %s", sql, PQerrorMessage(pc));
	PQclear(res);
	PQfinish(pc);
}

/* How many backends wait for a synchronous standby to confirm a commit. */
static int
syncrep_waiters(void)
{
	PGconn *pc = PQconnectdb(getenv("VAULT_TEST_PG"));
	cr_assert(pc != NULL && PQstatus(pc) == CONNECTION_OK, "%s", PQerrorMessage(pc));
	PGresult *res = PQexec(pc, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(pc));
	int n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(pc);
	return n;
}

/*
 * Wait until p's node has just refreshed its ring generation mark (meta
 * keyring_seen/<node>: generation, Unix time; ring_shared.h, every 10 s):
 * that refresh is a commit of its own, and one caught waiting for the
 * standby instead of the create's would block the writer and turn the
 * create into VAULT_E_UNAVAILABLE. Right after one, the next is 10 s away.
 */
static void
just_after_seen_refresh(const struct vaultd_proc *p)
{
	size_t n;
	char *conf = read_file_all(p->config, &n), *line = strstr(conf, "\npostgresql = ");
	cr_assert_not_null(line);
	line += strlen("\npostgresql = ");
	line[strcspn(line, "\n")] = '\0';
	PGconn *pc = PQconnectdb(line);
	free(conf);
	cr_assert(pc != NULL && PQstatus(pc) == CONNECTION_OK, "%s", PQerrorMessage(pc));
	double deadline = now_s() + 15;
	for (;;) {
		PGresult *res = PQexecParams(pc, "SELECT v FROM vault_meta WHERE k >= "
		    "'keyring_seen/'::bytea AND k < 'keyring_seen0'::bytea", 0, NULL, NULL, NULL,
		    NULL, 1);
		cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(pc));
		uint64_t t = 0;
		if (PQntuples(res) == 1 && PQgetlength(res, 0, 0) >= 16) {
			const uint8_t *v = (const uint8_t *)PQgetvalue(res, 0, 0) + 8;
			for (int i = 0; i < 8; i++)
				t = t << 8 | v[i];
		}
		PQclear(res);
		/* The mark holds Unix time (whole seconds): at most a second old. */
		if (t != 0 && (time_t)t + 1 >= time(NULL))
			break;
		cr_assert_lt(now_s(), deadline, "no keyring_seen refresh within 15 s");
		nap_ms(100);
	}
	PQfinish(pc);
}

struct pending_create {
	const char *socket;
	int rc, stored;
	char message[256];
};

/* Create until one fails: a reload reaches the server's processes in
 * their own time, so the first creates may not wait for the standby yet. */
static void *
create_in_thread(void *arg)
{
	struct pending_create *pc = arg;
	struct vault *v;
	pc->rc = vault_connect(pc->socket, &v);
	if (pc->rc != 0)
		return NULL;
	for (;;) {
		char *tok = create_one(v, "uncertain@failover.example", &pc->rc);
		if (pc->rc != 0)
			break;
		pc->stored++;
		vault_free(tok);
	}
	snprintf(pc->message, sizeof(pc->message), "%s", vault_last_message(v));
	vault_close(v);
	return NULL;
}

/* Whatever a failed test left: the server running, commits not waiting. */
static void
down_fini(void)
{
	PGconn *pc = PQconnectdb(getenv("VAULT_TEST_PG"));
	if (pc == NULL || PQstatus(pc) != CONNECTION_OK) {
		const char *args[] = { "start", NULL };
		struct proc_run r;
		PQfinish(pc);
		proc_run(&r, getenv("VAULT_TEST_PG_CTL"), NULL, args);
		proc_run_free(&r);
		pc = PQconnectdb(getenv("VAULT_TEST_PG"));
	}
	PQclear(PQexec(pc, "ALTER SYSTEM RESET synchronous_standby_names"));
	PQclear(PQexec(pc, "SELECT pg_reload_conf()"));
	PQfinish(pc);
}

Test(down, connection_lost_during_commit_is_uncertain)
{
	struct vaultd_proc p;
	struct vault *v;
	int rc, match;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *tok0 = create_one(v, "before@failover.example", &rc);
	cr_assert_eq(rc, 0);

	/* Commits now wait for a synchronous standby that never comes. */
	just_after_seen_refresh(&p);
	pg_sql("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
	pg_sql("SELECT pg_reload_conf()");
	struct pending_create pc = { .socket = p.socket };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, create_in_thread, &pc), 0);
	double deadline = now_s() + 15;
	while (syncrep_waiters() == 0 && now_s() < deadline)
		nap_ms(20);
	cr_assert_gt(syncrep_waiters(), 0, "the create's commit never waited for the standby");
	/* A shutdown ends the wait and the connection without an answer to
	 * COMMIT: the commit is made on this server, the client cannot know. */
	pg_ctl("stop");
	pthread_join(th, NULL);
	cr_assert_eq(pc.rc, VAULT_E_UNCERTAIN, "create: %s", vault_error_name(pc.rc));
	cr_assert_not_null(strstr(pc.message, "read it back"), "message: %s", pc.message);
	cr_assert_null(strstr(pc.message, "uncertain@"), "message: %s", pc.message);

	pg_ctl("start");
	pg_sql("ALTER SYSTEM RESET synchronous_standby_names");
	pg_sql("SELECT pg_reload_conf()");
	/* It was stored after all; and the next create gets an id of its own. */
	deadline = now_s() + 15;
	char *tok1;
	while ((tok1 = create_one(v, "after@failover.example", &rc)) == NULL &&
	    rc == VAULT_E_UNAVAILABLE && now_s() < deadline)
		nap_ms(50);
	cr_assert_eq(rc, 0, "create after the restart: %s", vault_error_name(rc));
	json_t *st = status_json(v);
	cr_assert_eq(json_integer_value(json_object_get(st, "records")), pc.stored + 3,
	    "the uncertain create, the %d before it and the ones before and after them",
	    pc.stored);
	json_decref(st);
	cr_assert_eq(read_email(v, tok0, "before@failover.example", &match), 0);
	cr_assert(match);
	cr_assert_eq(read_email(v, tok1, "after@failover.example", &match), 0);
	cr_assert(match);
	vault_free(tok0);
	vault_free(tok1);
	vault_close(v);
	vaultd_finish(&p);
}

/* ---- failover: kill the primary mid-load, promote the standby ------------ */

#define THREADS 4
#define MAX_PER_THREAD 4096

enum { LIVE, DELETED, MAYBE_DELETED };

struct made {
	char *tok;
	char email[64];
	int state;
};

struct loader {
	pthread_t th;
	int no;
	const char *socket;
	struct made made[MAX_PER_THREAD];
	int nmade, next_delete;
	int wrong;            /* a code other than the two allowed, or a wrong value */
	char wrong_what[128];
};

static atomic_int stop_load, promoted;
static atomic_int acked_creates, errors_unavailable, errors_uncertain;
static atomic_int after_promote[THREADS];

/* The two answers a request may get while the database fails over. */
static int
allowed(int rc)
{
	if (rc == VAULT_E_UNAVAILABLE)
		atomic_fetch_add(&errors_unavailable, 1);
	else if (rc == VAULT_E_UNCERTAIN)
		atomic_fetch_add(&errors_uncertain, 1);
	return rc == VAULT_E_UNAVAILABLE || rc == VAULT_E_UNCERTAIN;
}

static void
wrong(struct loader *l, const char *what, int rc)
{
	if (!l->wrong)
		snprintf(l->wrong_what, sizeof(l->wrong_what), "%s: %s", what, vault_error_name(rc));
	l->wrong = 1;
}

static void *
load(void *arg)
{
	struct loader *l = arg;
	struct vault *v;
	if (vault_connect(l->socket, &v) != 0) {
		wrong(l, "connect", VAULT_E_IO);
		return NULL;
	}
	for (int i = 0; !atomic_load(&stop_load) && l->nmade < MAX_PER_THREAD; i++) {
		struct made *m = &l->made[l->nmade];
		int rc, match;
		snprintf(m->email, sizeof(m->email), "fo%d-%d@failover.example", l->no, i);
		m->tok = create_one(v, m->email, &rc);
		if (rc == 0) {
			m->state = LIVE;
			l->nmade++;
			atomic_fetch_add(&acked_creates, 1);
			if (atomic_load(&promoted))
				atomic_fetch_add(&after_promote[l->no], 1);
			/* Read back at once: the value, or a retryable error. */
			rc = read_email(v, m->tok, m->email, &match);
			if (rc == 0 && !match)
				wrong(l, "read back a wrong value", 0);
			else if (rc != 0 && rc != VAULT_E_UNAVAILABLE)
				wrong(l, "read back", rc);
		} else if (!allowed(rc)) {
			wrong(l, "create", rc);
		} else {
			nap_ms(5); /* a client pauses before it retries (PROTOCOL.md 11) */
		}
		/* Every other round, delete the oldest live record of ours. */
		if (i % 2 == 1 && l->next_delete < l->nmade) {
			struct made *d = &l->made[l->next_delete];
			rc = vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, d->tok,
			    VAULT_DELETE_SUBJECT_REQUEST);
			if (rc == 0) {
				d->state = DELETED;
				l->next_delete++;
			} else if (rc == VAULT_E_UNCERTAIN) {
				allowed(rc);
				d->state = MAYBE_DELETED;
				l->next_delete++;
			} else if (!allowed(rc)) {
				wrong(l, "delete", rc);
			} /* unavailable: not deleted; tried again next time */
		}
	}
	vault_close(v);
	return NULL;
}

TestSuite(failover, .init = need_servers, .timeout = 120);

Test(failover, kill_primary_promote_standby_under_load)
{
	struct vaultd_proc p;
	static struct loader loaders[THREADS];
	vaultd_start(&p, NULL);
	for (int t = 0; t < THREADS; t++) {
		loaders[t].no = t;
		loaders[t].socket = p.socket;
		cr_assert_eq(pthread_create(&loaders[t].th, NULL, load, &loaders[t]), 0);
	}
	/* Mid-load: once some creates are acknowledged. */
	double deadline = now_s() + 20;
	while (atomic_load(&acked_creates) < 60 && now_s() < deadline)
		nap_ms(10);
	cr_assert_geq(atomic_load(&acked_creates), 60, "the load did not start");
	int before = atomic_load(&acked_creates);
	pg_ctl("kill-primary");
	pg_ctl("promote");
	atomic_store(&promoted, 1);
	double t_promoted = now_s();
	/* vaultd finds the new primary by itself: every client gets on. */
	deadline = now_s() + 20;
	for (int t = 0; t < THREADS; t++)
		while (atomic_load(&after_promote[t]) < 5 && now_s() < deadline)
			nap_ms(10);
	double recovered = now_s() - t_promoted;
	atomic_store(&stop_load, 1);
	for (int t = 0; t < THREADS; t++)
		pthread_join(loaders[t].th, NULL);
	for (int t = 0; t < THREADS; t++) {
		cr_assert_not(loaders[t].wrong, "thread %d: %s", t, loaders[t].wrong_what);
		cr_assert_geq(atomic_load(&after_promote[t]), 5,
		    "thread %d: no creates after the promotion", t);
	}
	cr_log_info("failover: %d creates acknowledged before the kill, %d in all; "
	    "%d unavailable, %d uncertain; all clients back %.2f s after the promotion",
	    before, atomic_load(&acked_creates), atomic_load(&errors_unavailable),
	    atomic_load(&errors_uncertain), recovered);
	cr_assert_gt(atomic_load(&errors_unavailable) + atomic_load(&errors_uncertain), 0,
	    "no request saw the failover");

	/* Every acknowledged create reads back; no acknowledged delete does. */
	struct vault *v;
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	int live = 0, deleted = 0;
	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < loaders[t].nmade; i++) {
			struct made *m = &loaders[t].made[i];
			int match, rc = read_email(v, m->tok, m->email, &match);
			if (m->state == LIVE) {
				cr_assert_eq(rc, 0, "thread %d record %d: %s", t, i, vault_error_name(rc));
				cr_assert(match, "thread %d record %d: wrong value", t, i);
				live++;
			} else if (m->state == DELETED) {
				cr_assert_eq(rc, VAULT_E_DELETED, "thread %d record %d, deleted: %s", t, i,
				    vault_error_name(rc));
				deleted++;
			} else {
				cr_assert(rc == 0 || rc == VAULT_E_DELETED, "%s", vault_error_name(rc));
			}
			vault_free(m->tok);
		}
	}
	cr_assert_gt(deleted, 0);
	cr_log_info("failover: %d live records read back, %d deleted ones refused", live, deleted);
	vault_close(v);
	vaultd_finish(&p);
}
