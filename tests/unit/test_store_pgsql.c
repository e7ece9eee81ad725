/*
 * test_store_pgsql.c - the storage interface over its PostgreSQL backend
 * (store_pgsql.h), against a real PostgreSQL 15: tests/unit/pg-scratch.sh
 * starts a throwaway server and passes its conninfo in VAULT_TEST_PG. The
 * contract every backend keeps (store_contract.h), then what is
 * PostgreSQL's own: the tables and their version, NOOVERWRITE without an
 * error, lost connections, the pool under threads, copies refused.
 *
 * Each test works in a schema of its own (search_path in the conninfo),
 * dropped at its end, so tests may run in parallel on one database.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <vault/vault.h>

#include "vault/store/store.h"
#include "vault/store/store_pgsql.h"

#define CONNS 4

static struct store st;
static PGconn *admin;      /* the test's own connection, outside the store */
static char schema[32];    /* also the store's application_name */
static char conninfo[512];

static PGresult *
sql(const char *q)
{
	PGresult *res = PQexec(admin, q);
	ExecStatusType s = PQresultStatus(res);
	cr_assert(s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK, "%s: %s", q,
	    PQresultErrorMessage(res));
	return res;
}

__attribute__((format(printf, 1, 2))) static void
sql_do(const char *fmt, ...)
{
	char q[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q, sizeof q, fmt, ap);
	va_end(ap);
	PQclear(sql(q));
}

/* The first column of the one row of a query, as text. */
__attribute__((format(printf, 3, 4))) static char *
sql_value(char *out, size_t cap, const char *fmt, ...)
{
	char q[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q, sizeof q, fmt, ap);
	va_end(ap);
	PGresult *res = sql(q);
	cr_assert_eq(PQntuples(res), 1, "%s: %d rows", q, PQntuples(res));
	snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

static void
quiet(void *arg, const char *message)
{
	/* "drop cascades to ...": nothing to see. */
}

static void
setup(void)
{
	const char *base = getenv("VAULT_TEST_PG");
	cr_assert_not_null(base, "VAULT_TEST_PG is not set: run this through tests/unit/pg-scratch.sh "
	    "(meson test store-pgsql), which needs PostgreSQL 15 (scripts/install-deps.sh)");
	admin = PQconnectdb(base);
	cr_assert_eq(PQstatus(admin), CONNECTION_OK, "%s", PQerrorMessage(admin));
	PQsetNoticeProcessor(admin, quiet, NULL);
	snprintf(schema, sizeof schema, "t%ld", (long)getpid());
	sql_do("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
	snprintf(conninfo, sizeof conninfo, "%s options='-c search_path=%s' application_name=%s",
	    base, schema, schema);
	memset(&st, 0, sizeof st);
}

/* End the store's connections from outside, as a server restart or a
 * failover would, and wait until they are gone. */
static void
kill_store_connections(void)
{
	sql_do("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
	    "WHERE application_name = '%s'", schema);
}

static void
teardown(void)
{
	store_close(&st);
	if (admin != NULL) {
		/* A failed test may have left a transaction open, whose locks
		 * would hold DROP SCHEMA forever. */
		kill_store_connections();
		sql_do("DROP SCHEMA IF EXISTS %s CASCADE", schema);
		PQfinish(admin);
	}
}

TestSuite(store_pgsql, .init = setup, .fini = teardown, .timeout = 60);

static void
open_conns(unsigned conns)
{
	const char *why = NULL;
	int rc = store_pgsql_open(&st, conninfo, conns, &why);
	cr_assert_eq(rc, 0, "store_pgsql_open: %d %s", rc, why ? why : "");
	cr_assert_not_null(st.m);
}

static void
contract_open(void)
{
	open_conns(CONNS);
}

#define CONTRACT_SUITE store_pgsql
#include "store_contract.h"

/* ---- tables and versions ----------------------------------------------- */

Test(store_pgsql, open_creates_versioned_tables)
{
	char v[64];
	open_conns(CONNS);
	sql_value(v, sizeof v, "SELECT count(*) FROM pg_tables WHERE schemaname = '%s' "
	    "AND tablename LIKE 'vault\\_%%'", schema);
	cr_assert_eq(atoi(v), STORE_NTABLES + 1, "%s tables", v);
	for (unsigned t = 0; t < STORE_NTABLES; t++) {
		sql_value(v, sizeof v, "SELECT string_agg(column_name || ' ' || data_type || ' ' || "
		    "is_nullable, ', ' ORDER BY ordinal_position) FROM information_schema.columns "
		    "WHERE table_schema = '%s' AND table_name = 'vault_%s'", schema,
		    store_table_name(t));
		cr_assert_str_eq(v, "k bytea NO, v bytea NO", "vault_%s", store_table_name(t));
	}
	sql_value(v, sizeof v, "SELECT string_agg(version::text, ',') FROM %s.vault_schema",
	    schema);
	cr_assert_str_eq(v, "1");

	/* Reopening keeps the data and the one version row. */
	struct store_txn *txn = contract_begin(0);
	put_str(txn, STORE_RECORDS, "r1", "kept", 0, 0);
	cr_assert_eq(store_txn_commit(txn), 0);
	store_close(&st);
	cr_assert_null(st.m);
	open_conns(1);
	sql_value(v, sizeof v, "SELECT string_agg(version::text, ',') FROM %s.vault_schema",
	    schema);
	cr_assert_str_eq(v, "1");
	txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_RECORDS, "r1", v, sizeof v), 0);
	cr_assert_str_eq(v, "kept");
	store_txn_abort(txn);
}

Test(store_pgsql, a_newer_schema_is_refused)
{
	const char *why = NULL;
	open_conns(1);
	store_close(&st);
	sql_do("UPDATE %s.vault_schema SET version = 2", schema);
	int rc = store_pgsql_open(&st, conninfo, 1, &why);
	cr_assert_lt(rc, 0);
	cr_assert_not_null(why);
	cr_assert_not_null(strstr(why, "newer"), "%s", why);
	cr_assert_null(st.m);
}

Test(store_pgsql, an_unreachable_server_is_a_clear_failure)
{
	const char *why = NULL;
	int rc = store_pgsql_open(&st, "host=/nonexistent-vault-dir dbname=none connect_timeout=2",
	    2, &why);
	cr_assert_eq(rc, STORE_E_UNAVAILABLE);
	cr_assert_not_null(why);
	cr_assert_null(st.m);
	cr_assert_eq(store_pgsql_open(&st, conninfo, 0, &why), STORE_E_FAILED, "max_conns 0");
	cr_assert_null(st.m);
}

/* ---- writes -------------------------------------------------------------- */

/* NOOVERWRITE on a key that is there answers STORE_EXISTS without an
 * error, so the rest of the batch goes on (a failed statement would abort
 * the whole PostgreSQL transaction). */
Test(store_pgsql, nooverwrite_keeps_the_batch_going)
{
	char out[16];
	open_conns(CONNS);
	struct store_txn *txn = contract_begin(0);
	put_str(txn, STORE_CARD_INDEX, "c1", "first", STORE_NOOVERWRITE, 0);
	put_str(txn, STORE_CARD_INDEX, "c1", "second", STORE_NOOVERWRITE, STORE_EXISTS);
	put_str(txn, STORE_CARD_INDEX, "c2", "other", STORE_NOOVERWRITE, 0);
	cr_assert_eq(get_str(txn, STORE_CARD_INDEX, "c1", out, sizeof out), 0);
	cr_assert_str_eq(out, "first");
	cr_assert_eq(store_txn_commit(txn), 0);

	txn = contract_begin(0);
	put_str(txn, STORE_CARD_INDEX, "c2", "again", STORE_NOOVERWRITE, STORE_EXISTS);
	put_str(txn, STORE_CARD_INDEX, "c3", "three", 0, 0);
	cr_assert_eq(store_txn_commit(txn), 0);
	txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_CARD_INDEX, "c2", out, sizeof out), 0);
	cr_assert_str_eq(out, "other");
	cr_assert_eq(get_str(txn, STORE_CARD_INDEX, "c3", out, sizeof out), 0);
	/* A snapshot takes no writes. */
	put_str(txn, STORE_CARD_INDEX, "c4", "no", 0, STORE_E_FAILED);
	store_txn_abort(txn);
}

/* ---- lost connections ---------------------------------------------------- */

Test(store_pgsql, a_lost_connection_fails_and_the_next_transaction_works)
{
	char out[16];
	open_conns(CONNS);
	struct store_txn *txn = contract_begin(0);
	put_str(txn, STORE_META, "before", "1", 0, 0);
	cr_assert_eq(store_txn_commit(txn), 0);

	/* In a batch: the commit fails, retryably: the writes are sent without
	 * waiting (a put may still answer 0), but their answers are read
	 * before COMMIT is sent, so a connection lost before it is
	 * STORE_E_UNAVAILABLE (nothing committed), never STORE_E_UNCERTAIN. */
	txn = contract_begin(0);
	put_str(txn, STORE_META, "lost", "1", 0, 0);
	kill_store_connections();
	struct store_val ka = { 5, "after" }, va = { 1, "1" };
	int prc = store_put(txn, STORE_META, &ka, &va, 0);
	cr_assert(prc == 0 || prc == STORE_E_UNAVAILABLE, "put after: %d", prc);
	cr_assert_eq(store_txn_commit(txn), STORE_E_UNAVAILABLE);

	/* The next batch connects again. */
	txn = contract_begin(0);
	put_str(txn, STORE_META, "next", "1", 0, 0);
	cr_assert_eq(store_txn_commit(txn), 0);
	txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_META, "before", out, sizeof out), 0);
	cr_assert_eq(get_str(txn, STORE_META, "next", out, sizeof out), 0);
	cr_assert_eq(get_str(txn, STORE_META, "lost", out, sizeof out), STORE_NOTFOUND);
	cr_assert_eq(get_str(txn, STORE_META, "after", out, sizeof out), STORE_NOTFOUND);

	/* In a snapshot: the read fails; renewed, it reads again. */
	kill_store_connections();
	cr_assert_eq(get_str(txn, STORE_META, "before", out, sizeof out), STORE_E_UNAVAILABLE);
	store_txn_reset(txn);
	cr_assert_eq(store_txn_renew(txn), 0);
	cr_assert_eq(get_str(txn, STORE_META, "before", out, sizeof out), 0);
	store_txn_abort(txn);

	/* Idle connections in the pool that died are replaced unseen. */
	kill_store_connections();
	txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_META, "next", out, sizeof out), 0);
	store_txn_abort(txn);
	kill_store_connections();
	txn = contract_begin(0);
	put_str(txn, STORE_META, "later", "1", 0, 0);
	cr_assert_eq(store_txn_commit(txn), 0);
}

/* A nested batch whose connection is lost fails, and so does its parent:
 * retryably (STORE_E_UNAVAILABLE), as nothing was committed. */
Test(store_pgsql, a_lost_connection_in_a_nested_batch_fails_the_batch)
{
	open_conns(CONNS);
	struct store_txn *parent = contract_begin(0), *child;
	put_str(parent, STORE_META, "p", "1", 0, 0);
	cr_assert_eq(store_txn_begin(&st, parent, 0, &child), 0);
	kill_store_connections();
	/* Sent without waiting: the loss is the nested batch's commit's answer. */
	struct store_val kc = { 1, "c" }, vc = { 1, "1" };
	int prc = store_put(child, STORE_META, &kc, &vc, 0);
	cr_assert(prc == 0 || prc == STORE_E_UNAVAILABLE, "put c: %d", prc);
	cr_assert_eq(store_txn_commit(child), STORE_E_UNAVAILABLE);
	cr_assert_eq(store_txn_commit(parent), STORE_E_UNAVAILABLE);
	struct store_txn *txn = contract_begin(STORE_RDONLY);
	char out[4];
	cr_assert_eq(get_str(txn, STORE_META, "p", out, sizeof out), STORE_NOTFOUND);
	store_txn_abort(txn);
}

/*
 * The server refuses new connections (here the store's role may no longer
 * log in; a server down or failing over does the same): a transaction fails
 * with STORE_E_UNAVAILABLE, the store says since when and keeps saying it
 * while it backs off, and connects again by itself once the server lets it.
 */
Test(store_pgsql, an_outage_is_unavailable_and_ends_by_itself)
{
	char role[48], ci[700];
	const char *why;
	struct store_txn *txn;
	snprintf(role, sizeof role, "%s_role", schema);
	sql_do("DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN SUPERUSER", role, role);
	snprintf(ci, sizeof ci, "%s user=%s", conninfo, role);
	cr_assert_eq(store_open_pgsql(&st, ci, CONNS, &why), 0, "%s", why);
	cr_assert_eq(store_unreachable_since(&st), 0);

	sql_do("ALTER ROLE %s NOLOGIN", role);
	kill_store_connections();
	cr_assert_eq(store_txn_begin(&st, NULL, 0, &txn), STORE_E_UNAVAILABLE);
	long long since = store_unreachable_since(&st);
	cr_assert(since > 0 && since <= (long long)time(NULL), "since %lld", since);
	cr_assert_eq(store_txn_begin(&st, NULL, STORE_RDONLY, &txn), STORE_E_UNAVAILABLE);
	cr_assert_eq(store_unreachable_since(&st), since, "the outage's start stays");
	cr_assert_eq(store_error(STORE_E_UNAVAILABLE), VAULT_E_UNAVAILABLE);

	/* Back: within the backoff's longest wait (2 s) and a margin. */
	sql_do("ALTER ROLE %s LOGIN", role);
	struct timespec t0, t, nap = { 0, 20 * 1000 * 1000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc;
	do {
		if ((rc = store_txn_begin(&st, NULL, STORE_RDONLY, &txn)) != 0)
			nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (rc == STORE_E_UNAVAILABLE && t.tv_sec - t0.tv_sec < 5);
	cr_assert_eq(rc, 0, "no reconnect within 5 s: %s", store_strerror(rc));
	cr_assert_eq(store_unreachable_since(&st), 0);
	store_txn_abort(txn);
	store_close(&st);
	kill_store_connections();
	sql_do("DROP OWNED BY %s; DROP ROLE %s", role, role);
}

/* ---- failures the server reports ---------------------------------------- */

/*
 * Make the server fail writes to vault_holds with a chosen SQLSTATE (read
 * from a table the test's own connection sets), the way a full disk or a
 * damaged page would; deferred: at COMMIT instead.
 */
static void
fail_holds_with(const char *sqlstate, int deferred)
{
	sql_do("CREATE TABLE IF NOT EXISTS %s.errcode (code text); DELETE FROM %s.errcode",
	    schema, schema);
	sql_do("INSERT INTO %s.errcode VALUES ('%s')", schema, sqlstate);
	sql_do("CREATE OR REPLACE FUNCTION %s.boom() RETURNS trigger LANGUAGE plpgsql AS $$ "
	    "DECLARE c text; BEGIN SELECT code INTO c FROM %s.errcode; "
	    "RAISE EXCEPTION 'injected failure' USING ERRCODE = c; END $$", schema, schema);
	sql_do("DROP TRIGGER IF EXISTS boom ON %s.vault_holds", schema);
	if (deferred)
		sql_do("CREATE CONSTRAINT TRIGGER boom AFTER INSERT ON %s.vault_holds "
		    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %s.boom()",
		    schema, schema);
	else
		sql_do("CREATE TRIGGER boom BEFORE INSERT ON %s.vault_holds "
		    "FOR EACH ROW EXECUTE FUNCTION %s.boom()", schema, schema);
}

Test(store_pgsql, sqlstates_become_store_results)
{
	static const struct { const char *state; int rc; } map[] = {
		{ "53100", STORE_E_DISK_FULL }, { "53200", STORE_E_NOMEM },
		{ "XX001", STORE_E_CORRUPT }, { "XX002", STORE_E_CORRUPT },
		{ "23505", STORE_EXISTS }, { "40001", STORE_E_FAILED }, { "P0001", STORE_E_FAILED },
	};
	open_conns(CONNS);
	char out[4];
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		fail_holds_with(map[i].state, 0);
		/* A write that waits for its answer (NOOVERWRITE) returns it. */
		struct store_txn *txn = contract_begin(0);
		put_str(txn, STORE_META, "m", "1", 0, 0);
		put_str(txn, STORE_HOLDS, "h", "1", STORE_NOOVERWRITE, map[i].rc);
		/* PostgreSQL aborted the transaction: the rest of it fails too
		 * (with the first failure's result). */
		struct store_val k = { 1, "n" }, v = { 1, "1" };
		int rc = store_put(txn, STORE_META, &k, &v, 0);
		cr_assert(rc < 0 && (map[i].rc > 0 || rc == map[i].rc), "after %s: %d",
		    map[i].state, rc);
		cr_assert_lt(store_txn_commit(txn), 0, "SQLSTATE %s: the batch committed",
		    map[i].state);
		/* A write sent without waiting: the next read returns its
		 * failure (a logical outcome means nothing for a plain put:
		 * then a failure), and so does everything after it. */
		txn = contract_begin(0);
		put_str(txn, STORE_META, "m", "1", 0, 0);
		put_str(txn, STORE_HOLDS, "h", "1", 0, 0);
		put_str(txn, STORE_META, "n", "1", 0, 0);
		int want = map[i].rc < 0 ? map[i].rc : STORE_E_FAILED;
		cr_assert_eq(get_str(txn, STORE_META, "m", out, sizeof out), want, "SQLSTATE %s",
		    map[i].state);
		cr_assert_eq(store_put(txn, STORE_META, &k, &v, 0), want);
		cr_assert_eq(store_txn_commit(txn), want, "SQLSTATE %s", map[i].state);
		/* The connection is fine: the next batch works. */
		txn = contract_begin(0);
		put_str(txn, STORE_META, "m", "1", 0, 0);
		cr_assert_eq(store_txn_commit(txn), 0);
	}
}

/*
 * A failing statement in a nested batch fails that batch alone. Writes are
 * sent without waiting, so the failure is the answer of the nested batch's
 * next read or of its commit, and the batches around it stay intact: the
 * group commit of several ops, one of which fails (writer.c).
 */
Test(store_pgsql, a_failing_nested_batch_fails_alone)
{
	char out[4];
	open_conns(CONNS);
	fail_holds_with("53100", 0);
	struct store_txn *parent = contract_begin(0), *child;
	put_str(parent, STORE_META, "before", "1", 0, 0);
	cr_assert_eq(store_txn_begin(&st, parent, 0, &child), 0);
	put_str(child, STORE_META, "in_child", "1", 0, 0);
	put_str(child, STORE_HOLDS, "h", "1", 0, 0);
	put_str(child, STORE_META, "in_child2", "1", 0, 0);
	cr_assert_eq(store_txn_commit(child), STORE_E_DISK_FULL);
	/* Found by a read in the nested batch: the read fails, so does its commit. */
	cr_assert_eq(store_txn_begin(&st, parent, 0, &child), 0);
	put_str(child, STORE_HOLDS, "h", "1", 0, 0);
	cr_assert_eq(get_str(child, STORE_META, "before", out, sizeof out), STORE_E_DISK_FULL);
	cr_assert_eq(store_txn_commit(child), STORE_E_DISK_FULL);
	/* Aborted before anyone read the failure. */
	cr_assert_eq(store_txn_begin(&st, parent, 0, &child), 0);
	put_str(child, STORE_HOLDS, "h", "1", 0, 0);
	store_txn_abort(child);
	/* Good nested batches between and after the failing ones commit. */
	cr_assert_eq(store_txn_begin(&st, parent, 0, &child), 0);
	put_str(child, STORE_META, "good", "1", 0, 0);
	cr_assert_eq(store_txn_commit(child), 0);
	cr_assert_eq(store_txn_begin(&st, parent, 0, &child), 0);
	put_str(child, STORE_CARD_INDEX, "c", "1", STORE_NOOVERWRITE, 0);
	put_str(child, STORE_CARD_INDEX, "c", "2", STORE_NOOVERWRITE, STORE_EXISTS);
	cr_assert_eq(store_txn_commit(child), 0);
	put_str(parent, STORE_META, "after", "1", 0, 0);
	int grc = get_str(parent, STORE_META, "good", out, sizeof out);
	cr_assert_eq(grc, 0, "%s", store_strerror(grc));
	cr_assert_eq(store_txn_commit(parent), 0);
	struct store_txn *txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_META, "before", out, sizeof out), 0);
	cr_assert_eq(get_str(txn, STORE_META, "after", out, sizeof out), 0);
	cr_assert_eq(get_str(txn, STORE_META, "good", out, sizeof out), 0);
	cr_assert_eq(get_str(txn, STORE_CARD_INDEX, "c", out, sizeof out), 0);
	cr_assert_str_eq(out, "1");
	cr_assert_eq(get_str(txn, STORE_META, "in_child", out, sizeof out), STORE_NOTFOUND);
	cr_assert_eq(get_str(txn, STORE_META, "in_child2", out, sizeof out), STORE_NOTFOUND);
	cr_assert_eq(get_str(txn, STORE_HOLDS, "h", out, sizeof out), STORE_NOTFOUND);
	store_txn_abort(txn);
}

/*
 * The group commit's shape (writer.c): many nested batches of queued
 * writes, one of which hits STORE_EXISTS and aborts; the others and the
 * batch commit, with all their writes, and in a few round trips, not one
 * per statement (counted by the server: pg_stat_database's xact count
 * does not see them, so count the statements the session ran instead).
 */
Test(store_pgsql, a_group_commit_keeps_every_write_of_the_ops_that_did_not_fail)
{
	char out[8], key[16];
	open_conns(CONNS);
	struct store_txn *parent = contract_begin(0), *child;
	put_str(parent, STORE_CARD_INDEX, "taken", "x", 0, 0);
	for (int op = 0; op < 40; op++) {
		cr_assert_eq(store_txn_begin(&st, parent, 0, &child), 0);
		for (int f = 0; f < 10; f++) {
			snprintf(key, sizeof key, "r%02d.%d", op, f);
			put_str(child, STORE_RECORDS, key, "v", 0, 0);
		}
		if (op % 7 == 3) {
			/* This op finds its key taken: it fails alone. */
			put_str(child, STORE_CARD_INDEX, "taken", "y", STORE_NOOVERWRITE, STORE_EXISTS);
			store_txn_abort(child);
		} else {
			cr_assert_eq(store_txn_commit(child), 0, "op %d", op);
		}
	}
	cr_assert_eq(store_txn_commit(parent), 0);
	struct store_txn *txn = contract_begin(STORE_RDONLY);
	for (int op = 0; op < 40; op++)
		for (int f = 0; f < 10; f++) {
			snprintf(key, sizeof key, "r%02d.%d", op, f);
			cr_assert_eq(get_str(txn, STORE_RECORDS, key, out, sizeof out),
			    op % 7 == 3 ? STORE_NOTFOUND : 0, "%s", key);
		}
	cr_assert_eq(get_str(txn, STORE_CARD_INDEX, "taken", out, sizeof out), 0);
	cr_assert_str_eq(out, "x");
	uint64_t n = 0;
	cr_assert_eq(store_count(txn, STORE_RECORDS, &n), 0);
	cr_assert_eq(n, 34 * 10);
	store_txn_abort(txn);
}

/*
 * Puts held back to go as one multi-row INSERT per table: a key put twice
 * keeps the later value, a read or a delete in the batch sees every put
 * before it, an aborted nested batch's puts are never sent, and more puts
 * than one statement takes are all stored.
 */
Test(store_pgsql, held_back_puts_keep_their_order_and_their_batch)
{
	char out[8], key[16];
	open_conns(CONNS);
	struct store_txn *txn = contract_begin(0), *child;
	put_str(txn, STORE_META, "a", "1", 0, 0);
	put_str(txn, STORE_META, "b", "2", 0, 0);
	put_str(txn, STORE_META, "a", "3", 0, 0);
	cr_assert_eq(get_str(txn, STORE_META, "a", out, sizeof out), 0);
	cr_assert_str_eq(out, "3");
	put_str(txn, STORE_META, "gone", "x", 0, 0);
	struct store_val gk = { 4, "gone" };
	cr_assert_eq(store_del(txn, STORE_META, &gk), 0, "a delete sees the put before it");
	for (int i = 0; i < 700; i++) {
		snprintf(key, sizeof key, "m%04d", i);
		put_str(txn, STORE_RECORDS, key, i % 2 ? "odd" : "", 0, 0);
	}
	cr_assert_eq(store_txn_begin(&st, txn, 0, &child), 0);
	put_str(child, STORE_META, "aborted", "1", 0, 0);
	put_str(child, STORE_RECORDS, "m0000", "changed", 0, 0);
	store_txn_abort(child);
	cr_assert_eq(store_txn_begin(&st, txn, 0, &child), 0);
	put_str(child, STORE_META, "b", "4", 0, 0);
	cr_assert_eq(store_txn_commit(child), 0);
	cr_assert_eq(store_txn_commit(txn), 0);

	txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_META, "a", out, sizeof out), 0);
	cr_assert_str_eq(out, "3");
	cr_assert_eq(get_str(txn, STORE_META, "b", out, sizeof out), 0);
	cr_assert_str_eq(out, "4");
	cr_assert_eq(get_str(txn, STORE_META, "gone", out, sizeof out), STORE_NOTFOUND);
	cr_assert_eq(get_str(txn, STORE_META, "aborted", out, sizeof out), STORE_NOTFOUND);
	cr_assert_eq(get_str(txn, STORE_RECORDS, "m0000", out, sizeof out), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(get_str(txn, STORE_RECORDS, "m0699", out, sizeof out), 0);
	cr_assert_str_eq(out, "odd");
	uint64_t n = 0;
	cr_assert_eq(store_count(txn, STORE_RECORDS, &n), 0);
	cr_assert_eq(n, 700);
	store_txn_abort(txn);
}

/*
 * A connection killed while a batch's writes are in its pipeline: the
 * batch fails retryably (STORE_E_UNAVAILABLE: COMMIT was never sent), none
 * of its writes is stored, and every batch acknowledged before is.
 */
Test(store_pgsql, a_connection_killed_mid_pipeline_loses_nothing_acknowledged)
{
	char out[8], key[16];
	open_conns(CONNS);
	struct store_txn *txn = contract_begin(0), *child;
	put_str(txn, STORE_META, "acked", "1", 0, 0);
	cr_assert_eq(store_txn_commit(txn), 0);

	txn = contract_begin(0);
	for (int op = 0; op < 3; op++) {
		cr_assert_eq(store_txn_begin(&st, txn, 0, &child), 0);
		snprintf(key, sizeof key, "n%d", op);
		put_str(child, STORE_RECORDS, key, "v", 0, 0);
		cr_assert_eq(store_txn_commit(child), 0);
	}
	cr_assert_eq(store_txn_begin(&st, txn, 0, &child), 0);
	for (int f = 0; f < 5; f++) {
		snprintf(key, sizeof key, "k%d", f);
		put_str(child, STORE_RECORDS, key, "v", 0, 0);
	}
	kill_store_connections();
	for (int f = 5; f < 10; f++) {
		struct store_val k = { 2, key }, v = { 1, "v" };
		snprintf(key, sizeof key, "k%d", f);
		int rc = store_put(child, STORE_RECORDS, &k, &v, 0);
		cr_assert(rc == 0 || rc == STORE_E_UNAVAILABLE, "put: %d", rc);
	}
	int rc = store_txn_commit(child);
	cr_assert_eq(rc, STORE_E_UNAVAILABLE, "nested commit: %s", store_strerror(rc));
	rc = store_txn_commit(txn);
	cr_assert_eq(rc, STORE_E_UNAVAILABLE, "commit: %s", store_strerror(rc));

	txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_META, "acked", out, sizeof out), 0);
	uint64_t n = 1;
	cr_assert_eq(store_count(txn, STORE_RECORDS, &n), 0);
	cr_assert_eq(n, 0, "a write of the failed batch was stored");
	store_txn_abort(txn);
}

struct committer {
	struct store_txn *txn;
	int rc;
};

static void *
commit_in_thread(void *arg)
{
	struct committer *c = arg;
	c->rc = store_txn_commit(c->txn);
	return NULL;
}

/*
 * The connection killed after COMMIT was sent and before its answer (here:
 * while COMMIT waits for a synchronous standby that never answers, then
 * the session is terminated): STORE_E_UNCERTAIN, never an acknowledgement
 * nor STORE_E_UNAVAILABLE; and the batch was in fact stored.
 */
Test(store_pgsql, a_connection_killed_during_commit_is_uncertain)
{
	char out[8];
	open_conns(CONNS);
	sql_do("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
	sql_do("SELECT pg_reload_conf()");
	/* A reload reaches the server's processes in their own time: wait
	 * until new sessions have it, and let the store make new ones. */
	char n[16];
	for (int i = 0; i < 500; i++) {
		PGconn *pc = PQconnectdb(getenv("VAULT_TEST_PG"));
		PGresult *res = PQexec(pc, "SHOW synchronous_standby_names");
		int set = PQresultStatus(res) == PGRES_TUPLES_OK &&
		    strcmp(PQgetvalue(res, 0, 0), "nobody") == 0;
		PQclear(res);
		PQfinish(pc);
		if (set)
			break;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	kill_store_connections();
	struct store_txn *txn = contract_begin(0);
	put_str(txn, STORE_META, "u", "1", 0, 0);
	struct committer c = { .txn = txn };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, commit_in_thread, &c), 0);
	for (int i = 0; i < 500; i++) {
		sql_value(n, sizeof n, "SELECT count(*) FROM pg_stat_activity WHERE "
		    "wait_event = 'SyncRep' AND application_name = '%s'", schema);
		if (atoi(n) > 0)
			break;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	kill_store_connections();
	pthread_join(th, NULL);
	sql_do("ALTER SYSTEM RESET synchronous_standby_names");
	sql_do("SELECT pg_reload_conf()");
	cr_assert_gt(atoi(n), 0, "the commit never waited for the standby");
	cr_assert_eq(c.rc, STORE_E_UNCERTAIN, "commit: %s", store_strerror(c.rc));
	txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_META, "u", out, sizeof out), 0);
	store_txn_abort(txn);
}

/*
 * A snapshot sends nothing until its first statement, and ends without
 * waiting: one that reads nothing costs the server nothing at all (no
 * session is even taken from the pool), and one that reads once costs one
 * round trip; its COMMIT's answer is read by the connection's next user.
 * The snapshot is of the state at its first read, and sees no later commit.
 */
Test(store_pgsql, a_snapshot_begins_with_its_first_read_and_ends_without_waiting)
{
	char out[8], n[24];
	open_conns(1);
	struct store_txn *r;
	cr_assert_eq(store_txn_begin(&st, NULL, STORE_RDONLY, &r), 0);
	/* One connection in the pool: a batch can run while the snapshot,
	 * which has read nothing, is open: it holds none. */
	struct store_txn *w = contract_begin(0);
	put_str(w, STORE_META, "x", "1", 0, 0);
	cr_assert_eq(store_txn_commit(w), 0);
	cr_assert_eq(get_str(r, STORE_META, "x", out, sizeof out), 0, "a commit before the first read");
	w = contract_begin(STORE_RDONLY);
	store_txn_abort(w); /* took no connection either */
	store_txn_reset(r);
	cr_assert_eq(store_txn_renew(r), 0);
	cr_assert_eq(get_str(r, STORE_META, "x", out, sizeof out), 0);
	store_txn_reset(r);
	/* The session ran the snapshot's COMMIT, sent without waiting. */
	char last[64] = "";
	for (int i = 0; i < 500; i++) {
		sql_value(last, sizeof last, "SELECT state || ' ' || query || ' ' || state_change "
		    "FROM pg_stat_activity WHERE application_name = '%s'", schema);
		if (strncmp(last, "idle COMMIT ", 12) == 0)
			break;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	cr_assert_eq(strncmp(last, "idle COMMIT ", 12), 0, "session: %s", last);
	/* Snapshots that read nothing send nothing: the session stays as it was. */
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(store_txn_renew(r), 0);
		store_txn_reset(r);
		cr_assert_eq(store_txn_begin(&st, NULL, STORE_RDONLY, &w), 0);
		store_txn_abort(w);
	}
	sql_value(n, sizeof n, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'",
	    schema);
	cr_assert_str_eq(n, "1");
	char now[64];
	sql_value(now, sizeof now, "SELECT state || ' ' || query || ' ' || state_change "
	    "FROM pg_stat_activity WHERE application_name = '%s'", schema);
	cr_assert_str_eq(now, last, "a snapshot that read nothing ran something");
	store_txn_abort(r);
}

/* A COMMIT the server refuses is a failure, and nothing of the batch stays. */
Test(store_pgsql, a_refused_commit_is_a_failure)
{
	char out[4];
	open_conns(CONNS);
	fail_holds_with("53100", 1);
	struct store_txn *txn = contract_begin(0);
	put_str(txn, STORE_META, "m", "1", 0, 0);
	put_str(txn, STORE_HOLDS, "h", "1", 0, 0);
	cr_assert_eq(store_txn_commit(txn), STORE_E_DISK_FULL);
	txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_META, "m", out, sizeof out), STORE_NOTFOUND);
	store_txn_abort(txn);
}

/* ---- the store as a whole ------------------------------------------------ */

Test(store_pgsql, copies_are_the_database_s_own)
{
	open_conns(1);
	int fd = open("/dev/null", O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(store_copy(&st, fd), STORE_E_FAILED);
	close(fd);
	store_reader_check(&st); /* a no-op */
}

/* The synchronous_commit the store's session had for each write to
 * vault_holds, recorded by a trigger in a table of the test's. */
static void
record_synchronous_commit(void)
{
	sql_do("CREATE TABLE %s.seen (setting text)", schema);
	sql_do("CREATE FUNCTION %s.record() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
	    "INSERT INTO %s.seen VALUES (current_setting('synchronous_commit')); "
	    "RETURN NEW; END $$", schema, schema);
	sql_do("CREATE TRIGGER record BEFORE INSERT ON %s.vault_holds "
	    "FOR EACH ROW EXECUTE FUNCTION %s.record()", schema, schema);
}

static void
write_holds(const char *key, int commit)
{
	struct store_txn *txn = contract_begin(0);
	put_str(txn, STORE_HOLDS, key, "1", 0, 0);
	if (commit)
		cr_assert_eq(store_txn_commit(txn), 0);
	else
		store_txn_abort(txn);
}

/* Not durable: synchronous_commit off on the store's connections, and it
 * stays off across a batch that was rolled back; durable again: the
 * server's setting (on). */
Test(store_pgsql, not_durable_and_back)
{
	char v[64];
	open_conns(1); /* one connection: every batch runs on it */
	record_synchronous_commit();
	write_holds("a", 1);
	cr_assert_eq(store_set_durable(&st, 0), 0);
	write_holds("b", 0);
	write_holds("c", 1);
	cr_assert_eq(store_set_durable(&st, 1), 0);
	write_holds("d", 1);
	sql_value(v, sizeof v, "SELECT string_agg(setting, ',') FROM %s.seen", schema);
	cr_assert_str_eq(v, "on,off,on");
}

/* ---- threads: one writer, readers, fewer connections than threads ------- */

enum { READERS = 4, ROUNDS = 150 };
static atomic_int failures;

static void *
reader(void *arg)
{
	struct store_txn *txn = NULL;
	uint8_t k8[8];
	if (store_txn_begin(&st, NULL, STORE_RDONLY, &txn) != 0) {
		atomic_fetch_add(&failures, 1);
		return NULL;
	}
	for (int i = 0; i < ROUNDS; i++) {
		struct store_val k = { 8, k8 }, v;
		store_put_id(k8, (uint64_t)(i % 50));
		int rc = store_get(txn, STORE_RECORDS, &k, &v);
		if (rc != 0 && rc != STORE_NOTFOUND)
			atomic_fetch_add(&failures, 1);
		store_txn_reset(txn);
		if (store_txn_renew(txn) != 0) {
			atomic_fetch_add(&failures, 1);
			break;
		}
	}
	store_txn_abort(txn);
	return NULL;
}

Test(store_pgsql, one_writer_and_readers_share_a_small_pool)
{
	pthread_t th[READERS];
	open_conns(2);
	for (int i = 0; i < READERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, reader, NULL), 0);
	for (uint64_t id = 0; id < 50; id++) {
		struct store_txn *txn;
		uint8_t k8[8];
		store_put_id(k8, id);
		struct store_val k = { 8, k8 }, v = { 8, k8 };
		cr_assert_eq(store_txn_begin(&st, NULL, 0, &txn), 0);
		cr_assert_eq(store_put(txn, STORE_RECORDS, &k, &v, 0), 0);
		cr_assert_eq(store_txn_commit(txn), 0);
	}
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&failures), 0);
	struct store_txn *txn = contract_begin(STORE_RDONLY);
	uint64_t n;
	cr_assert_eq(store_count(txn, STORE_RECORDS, &n), 0);
	cr_assert_eq(n, 50);
	store_txn_abort(txn);
}

/* ---- several nodes on one database ------------------------------------- */

struct second_writer {
	struct store *s;
	atomic_int began;
};

/* Begin a batch and read in it: the read waits for the write lock (BEGIN
 * and the lock are sent at begin, their answers read with the first read's). */
static void *
begin_write(void *arg)
{
	struct second_writer *w = arg;
	struct store_txn *t;
	char out[4];
	int rc = store_txn_begin(w->s, NULL, 0, &t);
	if (rc == 0)
		rc = get_str(t, STORE_META, "k", out, sizeof out);
	atomic_store(&w->began, rc == 0 ? 1 : -1);
	if (rc == 0 || rc == STORE_NOTFOUND)
		store_txn_abort(t);
	return NULL;
}

/*
 * Two stores on one schema, as two vaultd nodes: shared, one write batch at
 * a time across them (the second's first read waits for the first's commit),
 * one lead at a time, given up with the store.
 */
Test(store_pgsql, two_stores_on_one_schema_write_one_batch_at_a_time_and_lead_once)
{
	struct store other = { 0 };
	const char *why = NULL;
	open_conns(CONNS);
	cr_assert_eq(store_pgsql_open(&other, conninfo, CONNS, &why), 0, "%s", why ? why : "");
	cr_assert(store_shared(&st) && store_shared(&other));

	struct store_txn *t;
	cr_assert_eq(store_txn_begin(&st, NULL, 0, &t), 0);
	/* The lock is taken (BEGIN and the lock are sent at begin and not
	 * waited for: the first read waits for them). */
	char out0[4];
	cr_assert_eq(get_str(t, STORE_META, "k", out0, sizeof out0), STORE_NOTFOUND);
	struct second_writer w = { .s = &other };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, begin_write, &w), 0);
	struct timespec ts = { 0, 300 * 1000 * 1000 };
	nanosleep(&ts, NULL); /* long enough for an unlocked BEGIN, many times over */
	cr_assert_eq(atomic_load(&w.began), 0, "the second store's batch began during the first's (%d)", atomic_load(&w.began));
	struct store_val k = { 1, "k" }, v = { 1, "v" };
	cr_assert_eq(store_put(t, STORE_META, &k, &v, 0), 0);
	cr_assert_eq(store_txn_commit(t), 0);
	pthread_join(th, NULL);
	cr_assert_eq(atomic_load(&w.began), 1, "the second store's batch began before the "
	    "first's commit (its read did not see it)");

	/* Read snapshots never wait for the lock. */
	cr_assert_eq(store_txn_begin(&st, NULL, 0, &t), 0);
	struct store_txn *r;
	cr_assert_eq(store_txn_begin(&other, NULL, STORE_RDONLY, &r), 0);
	char out[4];
	cr_assert_eq(get_str(r, STORE_META, "k", out, sizeof out), 0);
	store_txn_abort(r);
	store_txn_abort(t);

	cr_assert_eq(store_lead(&st), 1, "the first to ask leads");
	cr_assert_eq(store_lead(&st), 1, "and keeps leading");
	cr_assert_eq(store_lead(&other), 0, "one lead at a time");
	store_close(&st);
	/* The server ends the closed store's session a moment after it hangs up. */
	int led = 0;
	for (int i = 0; i < 500 && !(led = store_lead(&other)); i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	cr_assert_eq(led, 1, "a closed store's lead passes on");
	store_close(&other);
}
