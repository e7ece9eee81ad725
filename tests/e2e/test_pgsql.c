/*
 * test_pgsql.c - end-to-end: what only the PostgreSQL backend has ([storage]
 * backend = postgresql, one vaultd). Data outlives a restart and a kill -9;
 * vaultd's backup and --restore refuse and say what to use instead; a
 * retire compacts in place (VACUUM) and the records stay readable; a bad
 * connection string stops the start with a message that never holds its
 * password. Runs only under tests/e2e/on-pgsql.sh (meson test e2e-pgsql),
 * and fails, not skips, without its server.
 */
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <vault/vault.h>

#include "erasure_scan.h"
#include "harness.h"
#include "keys/keyring.h"
#include "vault/crypto/token.h"
#include "vault/store/record_codec.h"
#include "vault/store/store.h"

#define SECRET "SECRETPW"

static void
need_pgsql(void)
{
	cr_assert_not_null(vaultd_pgsql(), "VAULT_TEST_PGSQL is not set: run this suite "
	    "through meson test e2e-pgsql (tests/e2e/on-pgsql.sh starts PostgreSQL)");
}

TestSuite(pgsql, .init = need_pgsql, .timeout = 120);

static char *
create(struct vault *v, int i)
{
	struct vault_record *r;
	char email[64], name[32], *tok;
	snprintf(email, sizeof(email), "person%d@pgsql.example", i);
	snprintf(name, sizeof(name), "Person%d", i);
	vault_record_new(&r);
	vault_record_set(r, "first_name", name);
	vault_record_set(r, "email", email);
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	cr_assert_eq(rc, 0, "create %d: %s", i, vault_last_message(v));
	vault_record_free(r);
	return tok;
}

static void
expect_email(struct vault *v, const char *tok, int i)
{
	char email[64];
	snprintf(email, sizeof(email), "person%d@pgsql.example", i);
	expect_field(v, tok, "email", email, i);
}

/* Append text to p's configuration (a later value of a key wins). */
static void
config_append(const struct vaultd_proc *p, const char *text)
{
	FILE *f = fopen(p->config, "a");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static PGconn *connect_as_vaultd(const struct vaultd_proc *p);
static PGresult *sql_ok(PGconn *pc, const char *sql);

/* The fewest manual VACUUMs any store table (vault_<table>, store.h) has had. */
static long
min_vacuum_count(const struct vaultd_proc *p)
{
	PGconn *pc = connect_as_vaultd(p);
	PGresult *res = sql_ok(pc, "SELECT min(vacuum_count), count(*) FROM pg_stat_user_tables "
	    "WHERE schemaname = current_schema() AND relname LIKE 'vault\\_%' "
	    "AND relname <> 'vault_schema'");
	cr_assert_eq(atol(PQgetvalue(res, 0, 1)), 14, "every store table has its statistics");
	long n = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(pc);
	return n;
}

static int
dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	cr_assert_not_null(d, "%s", dir);
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		n++;
	closedir(d);
	return n;
}

Test(pgsql, the_start_names_the_backend_and_the_data_outlives_a_restart)
{
	struct vaultd_proc p;
	struct vault *v;
	struct vault_status st;
	enum { N = 20 };
	char *toks[N];
	vaultd_start(&p, NULL);
	cr_assert_eq(vaultd_wait_log(&p, "store: PostgreSQL, host ", 1, 5), 1,
	    "the start logs the backend, host and database");
	cr_assert_eq(vaultd_wait_log(&p, "options=", 1, 0), 0, "never the conninfo");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[3],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	/* Nothing of the store is in the data directory. */
	char mdb[600];
	struct stat sb;
	vaultd_path(&p, "data/data.mdb", mdb, sizeof(mdb));
	cr_assert_neq(stat(mdb, &sb), 0, "no LMDB file on the PostgreSQL backend");

	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		if (i != 3)
			expect_email(v, toks[i], i);
	struct vault_record *out;
	const char *want[] = { "email" };
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, toks[3], want, 1, 0, &out),
	    VAULT_E_DELETED, "a deletion outlives the restart");
	cr_assert_eq(vault_status(v, &st), 0);
	cr_assert_eq(st.records, N - 1);
	cr_assert_eq(st.tombstones, 1);
	/* New records continue the ids: nothing is overwritten. */
	char *more = create(v, N);
	expect_email(v, more, N);
	expect_email(v, toks[0], 0);
	free(more);
	vault_close(v);
	for (int i = 0; i < N; i++)
		free(toks[i]);
	vaultd_finish(&p);
}

Test(pgsql, an_acknowledged_create_survives_kill_9)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 200 };
	char *toks[N];
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	/* Killed right after the last acknowledgement: no clean stop. */
	vaultd_kill(&p);
	vault_close(v);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++) {
		expect_email(v, toks[i], i);
		free(toks[i]);
	}
	struct vault_status st;
	cr_assert_eq(vault_status(v, &st), 0);
	cr_assert_eq(st.records, N);
	vault_close(v);
	vaultd_finish(&p);
}

/* Entries of p's trail that contain needle. */
static int
trail_count(const struct vaultd_proc *p, const char *needle)
{
	char path[600];
	size_t len;
	int n = 0;
	vaultd_path(p, "audit/audit.log", path, sizeof(path));
	char *s = read_file_all(path, &len);
	for (char *q = s; (q = strstr(q, needle)) != NULL; q++)
		n++;
	free(s);
	return n;
}

/*
 * The store sends a batch's plain puts together and learns of a failure
 * only when the write's nested batch commits: that write's audit entry
 * must then give the failure, not "ok" (writer.c apply_one). PostgreSQL
 * refuses the insert here by a trigger of the test's.
 */
Test(pgsql, a_write_refused_at_its_commit_is_audited_as_refused)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *before = create(v, 1);
	PGconn *pc = connect_as_vaultd(&p);
	PQclear(sql_ok(pc, "CREATE FUNCTION vault_test_refuse() RETURNS trigger LANGUAGE plpgsql "
	    "AS $$BEGIN RAISE EXCEPTION 'refused by the test'; END$$"));
	PQclear(sql_ok(pc, "CREATE TRIGGER vault_test_refuse BEFORE INSERT ON vault_records "
	    "FOR EACH ROW EXECUTE FUNCTION vault_test_refuse()"));
	struct vault_record *r;
	char *tok = NULL;
	vault_record_new(&r);
	vault_record_set(r, "email", "refused@pgsql.example");
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	vault_record_free(r);
	cr_assert_eq(rc, VAULT_E_STORAGE, "%s", vault_error_name(rc));
	PQclear(sql_ok(pc, "DROP TRIGGER vault_test_refuse ON vault_records"));
	PQclear(sql_ok(pc, "DROP FUNCTION vault_test_refuse()"));
	PQfinish(pc);
	char *after = create(v, 2);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	cr_assert_eq(trail_count(&p, "\"op\":\"create\",\"outcome\":\"ok\""), 2,
	    "the refused create's entry says ok");
	cr_assert_eq(trail_count(&p, "\"op\":\"create\",\"outcome\":\"VAULT_E_STORAGE\""), 1,
	    "no entry gives the refused create's outcome");
	free(before);
	free(after);
	vaultd_cleanup(&p);
}

Test(pgsql, backup_and_restore_refuse_and_name_the_databases_tools)
{
	struct vaultd_proc p;
	struct vault *v;
	struct proc_run r;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *tok = create(v, 1);
	char *bpath = NULL;
	uint64_t bytes = 0;
	cr_assert_eq(vault_backup(v, "nightly", &bpath, &bytes), VAULT_E_CONFIG);
	cr_assert_not_null(strstr(vault_last_message(v), "pg_dump"), "%s", vault_last_message(v));
	cr_assert_not_null(strstr(vault_last_message(v), "KEK epochs"), "%s",
	    vault_last_message(v));
	cr_assert_null(bpath);
	vaultctl_run(&r, p.socket, NULL, (const char *const[]){ "backup", "nightly", NULL }, 30);
	cr_assert_neq(r.status, 0, "vaultctl backup must fail: %s", r.out);
	cr_assert_not_null(strstr(r.err, "pg_dump"), "stderr: %s", r.err);
	proc_run_free(&r);
	expect_email(v, tok, 1);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* --restore refuses before the lock, the keys or any file. */
	char data[600], keys[600], out[600];
	vaultd_path(&p, "data", data, sizeof(data));
	vaultd_path(&p, "keys", keys, sizeof(keys));
	vaultd_path(&p, "restore.out", out, sizeof(out));
	int nd = dir_entries(data), nk = dir_entries(keys);
	const char *args[] = { "-c", p.config, "--restore", out, NULL };
	proc_run(&r, getenv("VAULTD"), NULL, args);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "restore refused"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "pg_restore"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "Nothing was changed"), "%s", r.err);
	proc_run_free(&r);
	cr_assert_eq(dir_entries(data), nd, "nothing created in the data directory");
	cr_assert_eq(dir_entries(keys), nk, "nothing created beside the keys");

	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	expect_email(v, tok, 1);
	vault_close(v);
	free(tok);
	vaultd_finish(&p);
}

Test(pgsql, a_retire_vacuums_in_place_and_records_stay_readable, .timeout = 180)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 40 };
	char *toks[N];
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[5],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	cr_assert_eq(epoch, 2);
	struct vault_keys_status *ks = vaultd_wait_rotation(v, 60);
	cr_assert_eq(ks->kek_current, 2);
	vault_keys_status_free(ks);
	uint64_t remaining = 0, before = 0, after = 0;
	/* Manual VACUUMs only: autovacuum's have a count of their own. */
	cr_assert_eq(min_vacuum_count(&p), 0);
	cr_assert_eq(vault_keys_retire(v, 1, &remaining, &before, &after), 0, "%s",
	    vault_last_message(v));
	cr_assert_eq(min_vacuum_count(&p), 1, "the retire vacuumed every vault table");
	cr_assert_gt(before, 0, "the vault tables' size before the VACUUM");
	cr_assert_gt(after, 0);
	cr_assert_eq(vaultd_wait_log(&p, "compacted the store in place (postgresql)", 1, 5), 1);
	cr_assert_eq(vault_keys_status(v, &ks), 0);
	cr_assert_eq(ks->nkek, 1, "epoch 1 is gone from the ring");
	vault_keys_status_free(ks);
	for (int i = 0; i < N; i++)
		if (i != 5)
			expect_email(v, toks[i], i);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* The compaction mark is gone: the next start does not compact again. */
	vaultd_restart(&p);
	cr_assert_eq(vaultd_wait_log(&p, "before serving", 1, 0), 0);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++) {
		if (i != 5)
			expect_email(v, toks[i], i);
		free(toks[i]);
	}
	vault_close(v);
	vaultd_finish(&p);
}

/* A connection with the conninfo vaultd_start gave p's vaultd (its own schema). */
static PGconn *
connect_as_vaultd(const struct vaultd_proc *p)
{
	size_t n;
	char *conf = read_file_all(p->config, &n), *line;
	cr_assert_not_null(conf);
	cr_assert_not_null(line = strstr(conf, "\npostgresql = "));
	line += strlen("\npostgresql = ");
	line[strcspn(line, "\n")] = '\0';
	PGconn *pc = PQconnectdb(line);
	free(conf);
	cr_assert_eq(PQstatus(pc), CONNECTION_OK, "%s", PQerrorMessage(pc));
	return pc;
}

static PGresult *
sql_ok(PGconn *pc, const char *sql)
{
	PGresult *res = PQexec(pc, sql);
	ExecStatusType st = PQresultStatus(res);
	cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
	    PQerrorMessage(pc));
	return res;
}

/*
 * The forensic view of LMDB's data_file_holds_no_plaintext: every page of
 * every table and index of the vault's schema, raw (pageinspect), so dead
 * tuples (an updated record's old version, a deleted record's rows) count.
 */
Test(pgsql, no_page_of_the_database_holds_plaintext_not_even_dead_tuples)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 30 };
	char *toks[N], last[64], email[64];
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++) {
		struct vault_record *r;
		snprintf(last, sizeof(last), "Zyxwvutsonian%02d", i);
		snprintf(email, sizeof(email), "marker%02d@plaintext-check.example", i);
		vault_record_new(&r);
		vault_record_set(r, "last_name", last);
		vault_record_set(r, "email", email);
		cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &toks[i]), 0, "%s",
		    vault_last_message(v));
		vault_record_free(r);
	}
	/* An update leaves the old row version behind as a dead tuple. */
	struct vault_record *r;
	vault_record_new(&r);
	vault_record_set(r, "email", "newmarker@plaintext-check.example");
	cr_assert_eq(vault_update(v, VAULT_PURPOSE_TRANSACTIONAL, toks[1], r, NULL, 0, NULL, 0),
	    0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[0],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	PGconn *pc = connect_as_vaultd(&p);
	PQclear(sql_ok(pc, "CREATE EXTENSION IF NOT EXISTS pageinspect"));
	PGresult *rels = sql_ok(pc, "SELECT c.oid::regclass::text, pg_relation_size(c.oid) / 8192 "
	    "FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
	    "AND c.relkind IN ('r', 'i') AND c.relname LIKE 'vault%'");
	cr_assert_geq(PQntuples(rels), 20, "the vault's tables and their indexes");
	size_t pages = 0, hits = 0;
	int control = 0;
	for (int i = 0; i < PQntuples(rels); i++) {
		long npages = atol(PQgetvalue(rels, i, 1));
		for (long pg = 0; pg < npages; pg++) {
			char sql[256];
			snprintf(sql, sizeof(sql), "SELECT get_raw_page('%s', %ld)",
			    PQgetvalue(rels, i, 0), pg);
			PGresult *page = PQexecParams(pc, sql, 0, NULL, NULL, NULL, NULL, 1);
			cr_assert_eq(PQresultStatus(page), PGRES_TUPLES_OK, "%s", PQerrorMessage(pc));
			const char *b = PQgetvalue(page, 0, 0);
			size_t len = (size_t)PQgetlength(page, 0, 0);
			pages++;
			hits += memmem(b, len, "Zyxwvutsonian", 13) != NULL;
			hits += memmem(b, len, "plaintext-check", 15) != NULL;
			hits += memmem(b, len, "marker", 6) != NULL;
			control += memmem(b, len, "next_id", 7) != NULL;
			PQclear(page);
		}
	}
	PQclear(rels);
	PQfinish(pc);
	cr_assert_gt(control, 0, "the scan sees stored bytes (meta's plain key next_id)");
	cr_assert_eq(hits, 0, "plaintext in %zu of %zu pages", hits, pages);
	for (int i = 0; i < N; i++)
		free(toks[i]);
	vaultd_cleanup(&p);
}

/* Whether vault_meta holds the retire's compaction mark (rotation_state.h). */
static int
mark_present(PGconn *pc)
{
	PGresult *res = sql_ok(pc, "SELECT count(*) FROM vault_meta WHERE k = 'compact_pending'::bytea");
	int n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

Test(pgsql, a_retire_cut_short_before_its_vacuum_is_finished_at_the_next_start, .timeout = 180)
{
	struct vaultd_proc p;
	struct vault *v;
	char *toks[10];
	uint32_t epoch;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < 10; i++)
		toks[i] = create(v, i);
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	vault_keys_status_free(vaultd_wait_rotation(v, 60));
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	cr_assert_eq(min_vacuum_count(&p), 1);

	/* The state a crash after the key's destruction and before the VACUUM
	 * leaves: the mark the retire commits first (epoch 1, u64 BE). */
	PGconn *pc = connect_as_vaultd(&p);
	cr_assert_eq(mark_present(pc), 0, "the retire cleared its mark");
	PQclear(sql_ok(pc, "INSERT INTO vault_meta (k, v) VALUES ('compact_pending'::bytea, "
	    "'\\x0000000000000001'::bytea)"));
	PQfinish(pc);

	vaultd_restart(&p);
	cr_assert_eq(vaultd_wait_log(&p, "before serving", 1, 0), 1, "the start saw the mark");
	/* The log is appended to: the retire's line, then the start's. */
	cr_assert_eq(vaultd_wait_log(&p, "compacted the store in place (postgresql)", 2, 0), 2);
	cr_assert_eq(min_vacuum_count(&p), 2, "the start vacuumed every vault table again");
	pc = connect_as_vaultd(&p);
	cr_assert_eq(mark_present(pc), 0, "and cleared the mark");
	PQfinish(pc);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < 10; i++) {
		expect_email(v, toks[i], i);
		free(toks[i]);
	}
	vault_close(v);
	vaultd_finish(&p);
}

/* A start and a --check on conninfo: both refused; neither says SECRET. */
static void
expect_bad_conninfo(struct vaultd_proc *p, const char *conninfo, const char *says)
{
	static char *base;
	char line[1200], *log = NULL;
	size_t n;
	/* Each case on the configuration vaultd_start wrote, plus its line. */
	if (base == NULL)
		cr_assert_not_null(base = read_file_all(p->config, &n));
	FILE *f = fopen(p->config, "w");
	cr_assert_not_null(f);
	fputs(base, f);
	fclose(f);
	snprintf(line, sizeof(line), "[storage]\npostgresql = %s\n", conninfo);
	config_append(p, line);
	int st = vaultd_expect_refusal(p, &log);
	cr_assert_neq(st, 0, "the start must fail: %s", log);
	cr_assert_not_null(strstr(log, says), "%s", log);
	cr_assert_null(strstr(log, SECRET), "the password leaked into the log: %s", log);
	free(log);
	char *out = NULL;
	cr_assert_neq(vaultd_check(p, &out), 0, "--check must fail: %s", out);
	cr_assert_not_null(strstr(out, says), "%s", out);
	cr_assert_null(strstr(out, SECRET), "the password leaked into --check: %s", out);
	free(out);
}

Test(pgsql, a_bad_conninfo_stops_the_start_without_showing_its_password)
{
	struct vaultd_proc p;
	char *out = NULL;
	vaultd_start(&p, NULL);
	cr_assert_eq(vaultd_stop(&p), 0);
	cr_assert_eq(vaultd_check(&p, &out), 0, "--check connects to the good one: %s", out);
	free(out);
	/* A server that is not there. */
	expect_bad_conninfo(&p, "host=/nonexistent-vault-pg user=postgres password=" SECRET
	    " dbname=vault_test", "cannot connect to PostgreSQL");
	/* One libpq cannot parse: its own message would quote the words. */
	expect_bad_conninfo(&p, "host=/tmp password " SECRET, "cannot be parsed");
	expect_bad_conninfo(&p, "postgresql://u:" SECRET "@%zz/db", "cannot be parsed");
	/* Longer than a configuration line may be: the error names the line. */
	char longer[1100];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	memcpy(longer, "password=" SECRET " ", 18);
	expect_bad_conninfo(&p, longer, "line longer than");
	/* Empty: the error names the key. */
	expect_bad_conninfo(&p, "", "[storage] postgresql: invalid value (not shown)");
	vaultd_cleanup(&p);
}

Test(pgsql, postgresql_without_a_conninfo_and_a_conninfo_on_lmdb_are_refused)
{
	struct vaultd_proc p;
	char *log = NULL;
	vaultd_start(&p, NULL);
	cr_assert_eq(vaultd_stop(&p), 0);
	config_append(&p, "[storage]\nbackend = lmdb\n");
	cr_assert_neq(vaultd_expect_refusal(&p, &log), 0);
	cr_assert_not_null(strstr(log, "[storage] postgresql is set but backend is lmdb"), "%s",
	    log);
	cr_assert_null(strstr(log, "options="), "%s", log);
	free(log);
	config_append(&p, "[storage]\nbackend = sqlite\n");
	cr_assert_neq(vaultd_expect_refusal(&p, &log), 0);
	cr_assert_not_null(strstr(log, "expected lmdb or postgresql"), "%s", log);
	free(log);
	vaultd_cleanup(&p);
}

/* One bytea value of table (vault_<table>) under key k, copied; NULL if none. */
static uint8_t *
stored_value(PGconn *pc, const char *table, const void *k, size_t klen, size_t *len)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT v FROM vault_%s WHERE k = $1", table);
	const char *params[1] = { k };
	int lens[1] = { (int)klen }, fmts[1] = { 1 };
	PGresult *res = PQexecParams(pc, sql, 1, NULL, params, lens, fmts, 1);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(pc));
	uint8_t *copy = NULL;
	if (PQntuples(res) == 1) {
		*len = (size_t)PQgetlength(res, 0, 0);
		copy = malloc(*len ? *len : 1);
		memcpy(copy, PQgetvalue(res, 0, 0), *len);
	}
	PQclear(res);
	return copy;
}

/* The file of relation rel (pg_relation_filepath) under dir, read whole. */
static struct blob
relation_file(PGconn *pc, const char *dir, const char *rel)
{
	char sql[160], path[1200];
	snprintf(sql, sizeof(sql), "SELECT pg_relation_filepath('%s')", rel);
	PGresult *res = sql_ok(pc, sql);
	snprintf(path, sizeof(path), "%s/%s", dir, PQgetvalue(res, 0, 0));
	PQclear(res);
	return blob_slurp(path);
}

static int
has_bytes(const struct blob *b, const uint8_t *x, size_t n)
{
	for (size_t i = 0; i + n <= b->n; i++)
		if (memcmp(b->p + i, x, n) == 0)
			return 1;
	return 0;
}

/*
 * The erasure horizon on PostgreSQL, as e2e-keys checks it on LMDB: a base
 * backup taken before a deletion (pg_basebackup, the operator's backup of
 * this backend), then the deletion, a rotation and the retire of the old
 * epoch. An attacker holding that base backup, the live database's files,
 * the current ring file and the root key tries every key and wrapped key
 * in the vault's table files against the deleted record: nothing opens.
 * The base backup also holds the database's copy of the ring of its day
 * (meta "keyring"): with the root key, that copy does open the record,
 * which is why SECURITY.md says base backups must expire with the horizon
 * like every old copy of the ring.
 */
Test(pgsql, a_base_backup_from_before_a_deletion_opens_nothing_of_it_after_the_retire,
    .timeout = 180)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 12, VICTIM = 3 };
	char *toks[N];
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);

	char ring_path[600], root_path[600], bdir[600], conninfo[1024];
	vaultd_path(&p, "keys/keyring", ring_path, sizeof(ring_path));
	vaultd_path(&p, "keys/root.key", root_path, sizeof(root_path));
	vaultd_path(&p, "basebackup", bdir, sizeof(bdir));
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	const char *why;
	struct keyring *ring;
	struct token_keys *tk;
	struct token_ref ref;
	cr_assert_eq(keyring_root_key_read(root_path, root, &why), 0);
	cr_assert_eq(keyring_load(ring_path, root, &ring, &why), 0, "%s", why);
	cr_assert_eq(token_keys_derive(ring, &tk), 0);
	cr_assert_eq(token_parse(tk, toks[VICTIM], strlen(toks[VICTIM]), &ref), 0);
	uint64_t victim = ref.record_id;
	cr_assert_eq(token_parse(tk, toks[0], strlen(toks[0]), &ref), 0);
	uint64_t alive = ref.record_id;
	token_keys_free(tk);
	keyring_free(ring);

	/* What the base backup holds of the victim: its row, and the ring of the day. */
	PGconn *pc = connect_as_vaultd(&p);
	uint8_t kb[8];
	store_put_id(kb, victim);
	size_t vlen = 0, rlen = 0;
	uint8_t *vrec = stored_value(pc, "records", kb, 8, &vlen);
	cr_assert_not_null(vrec);
	uint8_t *old_ring = stored_value(pc, "meta", "keyring", 7, &rlen);
	cr_assert_not_null(old_ring, "the database holds the sealed ring");
	struct record vr;
	cr_assert_eq(record_decode(vrec, vlen, &vr), 0);
	cr_assert_eq(vr.kek_epoch, 1);

	/* The base backup: the scratch server's whole cluster, as an operator takes it. */
	size_t n;
	char *conf = read_file_all(p.config, &n), *line = strstr(conf, "\npostgresql = ");
	cr_assert_not_null(line);
	line += strlen("\npostgresql = ");
	line[strcspn(line, "\n")] = '\0';
	/* Without the vault's options= (a replication connection takes none). */
	char *opt = strstr(line, " options=");
	if (opt != NULL)
		*opt = '\0';
	snprintf(conninfo, sizeof(conninfo), "%s", line);
	free(conf);
	/* PostgreSQL 15's own, as pg-scratch.sh runs its server with. */
	char tool[600];
	snprintf(tool, sizeof(tool), "%s/pg_basebackup",
	    getenv("PGBIN") ? getenv("PGBIN") : "/usr/lib/postgresql/15/bin");
	pid_t pid = fork();
	if (pid == 0) {
		execl(tool, "pg_basebackup", "-d", conninfo, "-D", bdir, "-Fp",
		    "-X", "fetch", "-c", "fast", "--no-sync", (char *)NULL);
		_exit(127);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "%s exits 0 (127: missing; scripts/install-deps.sh installs PostgreSQL 15)", tool);
	struct blob brecords = relation_file(pc, bdir, "vault_records");
	cr_assert(has_bytes(&brecords, vr.wrapped_dek, WRAPPED_DEK_BYTES),
	    "the base backup holds the victim's wrapped data key");

	/* The deletion, a rotation, the retire of epoch 1. */
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[VICTIM],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	vault_keys_status_free(vaultd_wait_rotation(v, 60));
	uint64_t remaining = 0;
	cr_assert_eq(vault_keys_retire(v, 1, &remaining, NULL, NULL), 0, "%s",
	    vault_last_message(v));
	for (int i = 0; i < N; i++)
		if (i != VICTIM)
			expect_email(v, toks[i], i);
	vault_close(v);

	/* The attacker: the current ring file and root key. */
	cr_assert_eq(keyring_load(ring_path, root, &ring, &why), 0, "%s", why);
	cr_assert_eq(keyring_count(ring, KEYRING_KEK), 1, "epoch 1 is gone from the ring");
	sql_ok(pc, "CHECKPOINT");
	PGresult *res = sql_ok(pc, "SHOW data_directory");
	char live_dir[600];
	snprintf(live_dir, sizeof(live_dir), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	const char *rels[] = { "vault_records", "vault_meta", "vault_tombstones" };
	struct blob files[8];
	size_t nf = 0;
	for (size_t i = 0; i < 3; i++) {
		files[nf++] = relation_file(pc, bdir, rels[i]);
		files[nf++] = relation_file(pc, live_dir, rels[i]);
	}
	files[nf++] = blob_slurp(ring_path);
	size_t opened = erasure_scan(files, nf, ring, victim, &vr);
	cr_assert_eq(opened, 0, "%zu attempts opened something of the deleted record", opened);
	/* Control: the same search finds a live record's key in the live files. */
	size_t alen = 0;
	store_put_id(kb, alive);
	uint8_t *arec = stored_value(pc, "records", kb, 8, &alen);
	struct record lr;
	cr_assert_eq(record_decode(arec, alen, &lr), 0);
	cr_assert_gt(erasure_scan(&files[1], 1, ring, alive, &lr), 0, "the scan finds live keys");
	fprintf(stderr, "erasure scan (PostgreSQL): %zu files of the base backup and the live "
	    "cluster, nothing of the deleted record opened\n", nf);
	keyring_free(ring);

	/* The base backup's own ring (its meta "keyring") with the root key does
	 * open it: an old copy of the ring, to expire with the horizon. */
	struct keyring *then;
	cr_assert_eq(keyring_open_image(old_ring, rlen, root, &then, &why), 0, "%s", why);
	struct blob bonly = brecords;
	cr_assert_gt(erasure_scan(&bonly, 1, then, victim, &vr), 0,
	    "the ring of the base backup's day opens its copy of the record");
	keyring_free(then);

	for (size_t i = 0; i < nf; i++)
		free(files[i].p);
	free(brecords.p);
	free(vrec);
	free(arec);
	free(old_ring);
	sodium_free(root);
	PQfinish(pc);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
	vaultd_finish(&p);
}
