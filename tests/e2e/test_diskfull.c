/*
 * test_diskfull.c - end-to-end: a full map and a full disk.
 *
 * A rotation whose rewrap cannot get pages (a 1 MiB map, filled) stalls
 * without spinning: a handful of log lines, almost no CPU, the stall shown
 * by keys status, status and keys rotate --wait, and it finishes by itself
 * after a restart with a larger map. A full file system under the audit
 * trail (tests/e2e/enospc_shim.c, LD_PRELOADed into this suite's vaultd
 * only) is met by the space reserve: reads and a deletion go on, the
 * disk_full alert is raised and status says so; once the reserve is used
 * up, requests are refused with VAULT_E_AUDIT naming the full file system;
 * when space returns, service resumes without a restart. With the data
 * directory on the same full file system, the same reserve lets deletions
 * run. A rotation stalled by a full data file system (status, keys status
 * and metrics say so) goes on by itself once space returns, no restart.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <vault/vault.h>

#include "harness.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Lines in vaultd's log. */
static size_t
log_lines(const struct vaultd_proc *p)
{
	size_t n, lines = 0;
	char *log = read_file_all(p->log, &n);
	cr_assert_not_null(log);
	for (size_t i = 0; i < n; i++)
		lines += log[i] == '\n';
	free(log);
	return lines;
}

/* Occurrences of s in vaultd's log. */
static size_t
log_count(const struct vaultd_proc *p, const char *s)
{
	size_t n, count = 0;
	char *log = read_file_all(p->log, &n);
	cr_assert_not_null(log);
	for (const char *q = log; (q = strstr(q, s)) != NULL; q += strlen(s))
		count++;
	free(log);
	return count;
}

/* User CPU time of pid, in seconds (/proc/PID/stat, field 14). */
static double
utime_s(pid_t pid)
{
	char path[64], *p;
	size_t n;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	char *stat = read_file_all(path, &n);
	cr_assert_not_null(stat);
	cr_assert_not_null(p = strrchr(stat, ')'));
	unsigned long long ut = 0;
	/* After ") ": state (3), then fields 4..13, then utime (14). */
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu", &ut), 1);
	free(stat);
	return (double)ut / (double)sysconf(_SC_CLK_TCK);
}

/* The status result as JSON (status needs no purpose). */
static json_t *
status_json(struct vault *v)
{
	char *raw = NULL;
	cr_assert_eq(vault_call_json(v, "status", 0, NULL, &raw), 0, "%s", vault_last_message(v));
	json_t *j = json_loads(raw, 0, NULL);
	cr_assert_not_null(j, "status: %s", raw);
	vault_free(raw);
	return j;
}

static const char *
status_str(json_t *st, const char *key)
{
	const char *s = json_string_value(json_object_get(st, key));
	cr_assert_not_null(s, "status has no \"%s\"", key);
	return s;
}

static char *
create(struct vault *v, int i, int *rc)
{
	struct vault_record *r;
	char email[64], name[64], *tok = NULL;
	snprintf(email, sizeof(email), "person%d.with.a.longer.address@diskfull.example", i);
	snprintf(name, sizeof(name), "Person%dWithALongerName", i);
	vault_record_new(&r);
	vault_record_set(r, "first_name", name);
	vault_record_set(r, "last_name", name);
	vault_record_set(r, "email", email);
	vault_record_set(r, "phone", "+14155550123");
	*rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	vault_record_free(r);
	return tok;
}

static int
read_one(struct vault *v, const char *tok)
{
	const char *want[] = { "email" };
	struct vault_record *out = NULL;
	int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok, want, 1, 0, &out);
	vault_record_free(out);
	return rc;
}

/* Run vaultctl -s SOCKET args... (at most 15 s); its exit status, stderr in
 * err and stdout in out (out may be NULL). */
static int
run_ctl(const struct vaultd_proc *p, const char *const *args, char **err, char **out)
{
	struct proc_run r;
	vaultctl_run(&r, p->socket, NULL, args, 15);
	*err = r.err;
	r.err = NULL;
	if (out != NULL) {
		*out = r.out;
		r.out = NULL;
	}
	int status = r.status;
	proc_run_free(&r);
	return status;
}

/* The status of keys_status until pred holds (at most secs). */
static struct vault_keys_status *
keys_status_until(struct vault *v, int (*pred)(const struct vault_keys_status *), double secs)
{
	struct vault_keys_status *s = NULL;
	double end = now_s() + secs;
	for (;;) {
		cr_assert_eq(vault_keys_status(v, &s), 0, "%s", vault_last_message(v));
		if (pred(s))
			return s;
		cr_assert(now_s() < end, "keys status did not reach the state in %.0f s", secs);
		vault_keys_status_free(s);
		sleep_ms(50);
	}
}

static int
is_stalled(const struct vault_keys_status *s)
{
	return s->rotating && s->stalled_since != 0;
}

static int
is_done(const struct vault_keys_status *s)
{
	return !s->rotating;
}

#define NTOK 4000

/*
 * The old writer retried the failing rewrap at once, forever: ~3,700 log
 * lines a second at 100% CPU, retire refused, keys rotate --wait on with no
 * word of why.
 */
Test(diskfull, rotation_on_a_full_map_stalls_quietly_and_resumes, .timeout = 240)
{
	struct vaultd_proc p;
	struct vault *v;
	/* One step rewraps everything: it needs the map's pages twice over. */
	vaultd_start(&p, "[storage]\nmap_size_bytes = 1M\n[keys]\nrotation_batch = 1000000\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char **toks = calloc(NTOK, sizeof(*toks));
	int n = 0, rc = 0;
	while (n < NTOK) {
		char *t = create(v, n, &rc);
		if (rc != 0)
			break;
		toks[n++] = t;
	}
	cr_assert_eq(rc, VAULT_E_NO_SPACE, "the map never filled (%d records): %s", n,
	    vault_error_name(rc));
	cr_assert_gt(n, 10);

	/* vaultctl keys rotate --wait: the rotation starts, stalls, and the
	 * wait ends with an error naming the stall. */
	char *err = NULL;
	int st = run_ctl(&p, (const char *const[]){ "keys", "rotate", "kek", "--wait", NULL }, &err,
	    NULL);
	cr_assert_neq(st, 0, "keys rotate --wait succeeded on a full map");
	cr_assert_not_null(strstr(err, "VAULT_E_NO_SPACE"), "stderr: %s", err);
	cr_assert_not_null(strstr(err, "stalled since"), "stderr: %s", err);
	cr_assert_not_null(strstr(err, "map"), "stderr: %s", err);
	free(err);

	struct vault_keys_status *ks = keys_status_until(v, is_stalled, 20);
	uint32_t target = ks->target_epoch, old = ks->kek_current == target ? 0 : ks->kek_current;
	cr_assert_neq(target, 0);
	for (size_t i = 0; i < ks->nkek; i++)
		if (ks->kek[i].version != target)
			old = ks->kek[i].version;
	cr_assert_neq(old, 0);
	cr_assert_not_null(strstr(ks->stall_reason, "map_size_bytes"), "reason: %s",
	    ks->stall_reason);
	vault_keys_status_free(ks);
	char *out = NULL;
	cr_assert_eq(run_ctl(&p, (const char *const[]){ "keys", "status", NULL }, &err, &out), 0,
	    "%s", err);
	cr_assert_not_null(strstr(out, "rotation: stalled since "), "%s", out);
	free(out);
	free(err);
	cr_assert_eq(run_ctl(&p, (const char *const[]){ "status", NULL }, &err, &out), 0, "%s", err);
	cr_assert_not_null(strstr(out, "\nrotation: stalled since "), "%s", out);
	free(out);
	free(err);

	/* Quiet: a few lines and little CPU over several seconds. */
	size_t lines0 = log_lines(&p);
	double cpu0 = utime_s(p.pid), t0 = now_s();
	sleep_ms(4000); /* the window measured, not a wait for an event */
	double cpu = utime_s(p.pid) - cpu0, took = now_s() - t0;
	size_t lines = log_lines(&p) - lines0;
	cr_assert_leq(lines, 3, "%zu log lines in %.1f s while stalled", lines, took);
	cr_assert_lt(cpu, 0.5, "%.2f s of CPU in %.1f s while stalled", cpu, took);
	cr_assert_eq(log_count(&p, "stalled:"), 1, "the stall is logged once");
	cr_log_info("stalled rotation over %.1f s: %zu log lines, %.2f s CPU (%d records "
	    "filled the 1 MiB map)", took, lines, cpu, n);

	/* status shows it; a new rotation and the retire are refused plainly. */
	json_t *sj = status_json(v);
	cr_assert_eq(strncmp(status_str(sj, "rotation"), "stalled since ", 14), 0, "rotation: %s",
	    status_str(sj, "rotation"));
	json_decref(sj);
	uint32_t ver;
	cr_assert_eq(vault_keys_rotate(v, "kek", &ver), VAULT_E_NO_SPACE);
	cr_assert_not_null(strstr(vault_last_message(v), "stalled"), "%s", vault_last_message(v));
	uint64_t remaining, before, after;
	cr_assert_eq(vault_keys_retire(v, old, &remaining, &before, &after), VAULT_E_CONFLICT);
	cr_assert_gt(remaining, 0);
	vault_close(v);

	/* A larger map after a restart: it goes on by itself, and retire works. */
	cr_assert_eq(vaultd_stop(&p), 0);
	FILE *f = fopen(p.config, "a");
	cr_assert_not_null(f);
	fputs("[storage]\nmap_size_bytes = 64M\n", f);
	fclose(f);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	ks = keys_status_until(v, is_done, 60);
	cr_assert_eq(ks->stalled_since, 0);
	vault_keys_status_free(ks);
	cr_assert_eq(vault_keys_retire(v, old, &remaining, &before, &after), 0, "retire: %s",
	    vault_last_message(v));
	for (int i = 0; i < n; i += n / 10 + 1)
		cr_assert_eq(read_one(v, toks[i]), 0, "record %d: %s", i, vault_last_message(v));
	sj = status_json(v);
	cr_assert_str_eq(status_str(sj, "rotation"), "none");
	json_decref(sj);
	vault_close(v);
	for (int i = 0; i < n; i++)
		vault_free(toks[i]);
	free(toks);
	vaultd_finish(&p);
}

/* The shim into the vaultd started next only (not into this process). */
static void
preload_shim(const char *dir, const char *flag)
{
	const char *shim = getenv("ENOSPC_SHIM");
	cr_assert_not_null(shim, "ENOSPC_SHIM is not set (run through meson test)");
	setenv("ENOSPC_DIR", dir, 1);
	setenv("ENOSPC_FLAG", flag, 1);
	setenv("LD_PRELOAD", shim, 1);
	/* Under AddressSanitizer (make test-asan) the shim comes first. */
	const char *asan = getenv("ASAN_OPTIONS");
	char opts[1024];
	snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0", asan ? asan : "",
	    asan && *asan ? ":" : "");
	setenv("DISKFULL_SAVED_ASAN", asan ? asan : "", 1);
	setenv("ASAN_OPTIONS", opts, 1);
}

static void
unload_shim(void)
{
	const char *asan = getenv("DISKFULL_SAVED_ASAN");
	if (asan != NULL && *asan)
		setenv("ASAN_OPTIONS", asan, 1);
	else
		unsetenv("ASAN_OPTIONS");
	unsetenv("DISKFULL_SAVED_ASAN");
	unsetenv("LD_PRELOAD");
	unsetenv("ENOSPC_DIR");
	unsetenv("ENOSPC_FLAG");
}

static long long
file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

#define RESERVE 16384

/*
 * The old trail refused every request with VAULT_E_AUDIT and a message
 * that never named the disk, from the first write that failed; no
 * deletion could run.
 */
Test(diskfull, a_full_disk_under_the_trail_uses_the_reserve_then_refuses_then_resumes,
    .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	const char *tmp = getenv("TMPDIR");
	char dir[256], flag[300], ini[700], reserve[400];
	snprintf(dir, sizeof(dir), "%s/vault-trail-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(flag, sizeof(flag), "%s.full", dir);
	snprintf(reserve, sizeof(reserve), "%s/audit.log.reserve", dir);
	snprintf(ini, sizeof(ini), "[audit]\npath = %s/audit.log\nreserve_bytes = %d\n",
	    dir, RESERVE);
	unlink(flag);
	preload_shim(dir, flag);
	vaultd_start(&p, ini);
	unload_shim();
	cr_assert_eq(file_size(reserve), RESERVE, "the reserve is preallocated");

	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *toks[3];
	int rc;
	for (int i = 0; i < 3; i++) {
		toks[i] = create(v, i, &rc);
		cr_assert_eq(rc, 0, "create: %s", vault_last_message(v));
	}
	json_t *sj = status_json(v);
	cr_assert_str_eq(status_str(sj, "audit"), "ok");
	json_decref(sj);

	/* The disk fills: reads and a deletion go on, into the reserve. */
	FILE *f = fopen(flag, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(read_one(v, toks[0]), 0, "read: %s", vault_last_message(v));
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[2],
	    VAULT_DELETE_SUBJECT_REQUEST), 0, "delete: %s", vault_last_message(v));
	cr_assert_eq(read_one(v, toks[1]), 0, "read: %s", vault_last_message(v));
	cr_assert_eq(file_size(reserve), 0, "the reserve was released");
	sj = status_json(v);
	cr_assert_str_eq(status_str(sj, "audit"), "using the space reserve");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(sj, "alerts"),
	    "disk_full")), 1, "the disk_full alert is raised once");
	json_decref(sj);

	/* Until the reserve is used up; then refusals that name the disk. */
	int ok = 0;
	while ((rc = read_one(v, toks[0])) == 0)
		cr_assert_lt(++ok, 2000, "the reserve never ran out");
	cr_assert_geq(ok, 10, "only %d reads from a %d-byte reserve", ok, RESERVE);
	cr_log_info("a %d-byte reserve took %d more reads after a read and a deletion", RESERVE, ok);
	cr_assert_eq(rc, VAULT_E_AUDIT, "%s", vault_error_name(rc));
	cr_assert_not_null(strstr(vault_last_message(v), "file system is full"), "%s",
	    vault_last_message(v));
	for (int i = 0; i < 20; i++)
		cr_assert_eq(read_one(v, toks[0]), VAULT_E_AUDIT);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[1],
	    VAULT_DELETE_SUBJECT_REQUEST), VAULT_E_AUDIT);
	cr_assert_not_null(strstr(vault_last_message(v), "file system is full"), "%s",
	    vault_last_message(v));
	sj = status_json(v);
	cr_assert_str_eq(status_str(sj, "audit"), "file system full");
	json_decref(sj);
	/* Said once, not once per refused request. */
	cr_assert_eq(log_count(&p, "its file system is full"), 1);
	cr_assert_leq(log_count(&p, "could not be written"), 2);

	/* Space returns: service resumes without a restart, the reserve too. */
	cr_assert_eq(unlink(flag), 0);
	cr_assert_eq(read_one(v, toks[0]), 0, "read after space returned: %s",
	    vault_last_message(v));
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[1],
	    VAULT_DELETE_SUBJECT_REQUEST), 0, "delete: %s", vault_last_message(v));
	double end = now_s() + 10;
	for (;;) {
		sj = status_json(v);
		int back = strcmp(status_str(sj, "audit"), "ok") == 0;
		json_decref(sj);
		if (back && file_size(reserve) == RESERVE)
			break;
		cr_assert(now_s() < end, "the reserve was not put back within 10 s");
		sleep_ms(50);
	}
	vault_close(v);
	for (int i = 0; i < 3; i++)
		vault_free(toks[i]);
	vaultd_finish(&p);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/*
 * The data directory on the trail's file system: the same reserve serves
 * both, so deletions (LMDB pages and their audit entries) still go through
 * on a full disk, and what was acknowledged then survives a restart.
 * Without the reserve the first deletion is refused.
 */
Test(diskfull, a_full_disk_shared_by_data_and_trail_still_lets_deletions_run, .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	const char *tmp = getenv("TMPDIR");
	char dir[256], flag[300], ini[900];
	snprintf(dir, sizeof(dir), "%s/vault-shared-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(flag, sizeof(flag), "%s.full", dir);
	snprintf(ini, sizeof(ini), "[storage]\ndata_dir = %s/data\n[audit]\npath = %s/audit.log\n"
	    "reserve_bytes = 256K\n", dir, dir);
	unlink(flag);
	preload_shim(dir, flag);
	vaultd_start(&p, ini);
	unload_shim();
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	enum { N = 40 };
	char *toks[N];
	int rc;
	for (int i = 0; i < N; i++) {
		toks[i] = create(v, i, &rc);
		cr_assert_eq(rc, 0, "create: %s", vault_last_message(v));
	}

	FILE *f = fopen(flag, "w");
	cr_assert_not_null(f);
	fclose(f);
	for (int i = 0; i < N / 2; i++) {
		cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[i],
		    VAULT_DELETE_SUBJECT_REQUEST), 0, "delete %d on a full disk: %s", i,
		    vault_last_message(v));
		cr_assert_eq(read_one(v, toks[N - 1 - i]), 0, "read: %s", vault_last_message(v));
	}
	json_t *sj = status_json(v);
	cr_assert_str_eq(status_str(sj, "audit"), "using the space reserve");
	json_decref(sj);

	cr_assert_eq(unlink(flag), 0);
	for (int i = 0; i < N / 2; i++)
		cr_assert_eq(read_one(v, toks[i]), VAULT_E_DELETED, "deleted record %d: %s", i,
		    vault_last_message(v));
	for (int i = N / 2; i < N; i++)
		cr_assert_eq(read_one(v, toks[i]), 0, "record %d: %s", i, vault_last_message(v));
	vault_close(v);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
	/* What was acknowledged on the full disk survives a restart. */
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	sj = status_json(v);
	cr_assert_eq(json_integer_value(json_object_get(sj, "tombstones")), N / 2);
	cr_assert_eq(json_integer_value(json_object_get(sj, "records")), N / 2);
	json_decref(sj);
	vault_close(v);
	vaultd_finish(&p);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *q = text; (q = strstr(q, line)) != NULL; q += n)
		if ((q == text || q[-1] == '\n') && (q[n] == '\n' || q[n] == '\0'))
			return 1;
	return 0;
}

/* vaultctl metrics' text has the sample "name value". */
static void
expect_metric(const struct vaultd_proc *p, const char *sample)
{
	char *err = NULL, *out = NULL;
	cr_assert_eq(run_ctl(p, (const char *const[]){ "metrics", NULL }, &err, &out), 0, "%s", err);
	cr_assert(has_line(out, sample), "metrics lack \"%s\": %s", sample, out);
	free(err);
	free(out);
}

/*
 * The data directory's file system fills while a rotation's rewrap needs
 * new pages: the rotation stalls and says why (log once, keys status,
 * status, metrics), and once space returns it goes on by itself, with no
 * restart, and the old epoch retires. (The test above frees the map only
 * through a restart with a larger one.)
 */
Test(diskfull, a_rotation_stalled_on_a_full_disk_goes_on_by_itself_when_space_returns,
    .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	const char *tmp = getenv("TMPDIR");
	char dir[256], adir[256], flag[300], ini[900];
	snprintf(dir, sizeof(dir), "%s/vault-rotfull-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir));
	/* The trail on another (not full) file system: only the data's fills. */
	snprintf(adir, sizeof(adir), "%s/vault-rotaudit-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(adir));
	snprintf(flag, sizeof(flag), "%s.full", dir);
	/* One step rewraps everything, so it needs pages past the file's end;
	 * no reserve, so nothing makes room but the test. */
	snprintf(ini, sizeof(ini), "[storage]\ndata_dir = %s/data\n[audit]\npath = %s/audit.log\n"
	    "reserve_bytes = 0\n[keys]\nrotation_batch = 1000000\n", dir, adir);
	unlink(flag);
	preload_shim(dir, flag);
	vaultd_start(&p, ini);
	unload_shim();
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	enum { N = 2000 };
	char **toks = calloc(N, sizeof(*toks));
	int rc;
	for (int i = 0; i < N; i++) {
		toks[i] = create(v, i, &rc);
		cr_assert_eq(rc, 0, "create %d: %s", i, vault_last_message(v));
	}
	expect_metric(&p, "vault_rotation_stalled 0");

	FILE *f = fopen(flag, "w");
	cr_assert_not_null(f);
	fclose(f);
	/* The data file keeps freed pages between the commit log's checkpoints
	 * (store_lmdb.c: the pinned snapshot), which a rewrap could fit into:
	 * fill them first, so that the step needs pages past the file's end. */
	int docs = 0, more = 0;
	static uint8_t doc[256 * 1024];
	/* 256 KiB at a time first, then 8 KiB, then what small holes are left. */
	for (size_t size = sizeof(doc); size >= 8192; size /= 32) {
		for (;; docs++) {
			cr_assert_lt(docs, 20000, "the data file never filled");
			struct vault_record *r;
			char *t = NULL;
			memset(doc, docs & 0xff, size);
			vault_record_new(&r);
			vault_record_set(r, "last_name", "Filler");
			vault_record_add_document(r, "fill.bin", "application/octet-stream", doc, size);
			rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &t);
			vault_record_free(r);
			if (rc != 0) {
				cr_assert_eq(rc, VAULT_E_NO_SPACE, "%s", vault_last_message(v));
				break;
			}
			vault_free(t);
		}
	}
	for (;; more++) {
		cr_assert_lt(more, 100000, "the data file never filled");
		char *t = create(v, N + more, &rc);
		if (rc != 0) {
			cr_assert_eq(rc, VAULT_E_NO_SPACE, "%s", vault_last_message(v));
			break;
		}
		free(t);
	}
	cr_log_info("%d documents and %d more creates filled the data file", docs, more);
	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	struct vault_keys_status *ks = keys_status_until(v, is_stalled, 20);
	cr_assert_eq(ks->target_epoch, epoch);
	cr_assert_not_null(strstr(ks->stall_reason, "file system is full"), "reason: %s",
	    ks->stall_reason);
	vault_keys_status_free(ks);
	json_t *sj = status_json(v);
	cr_assert_eq(strncmp(status_str(sj, "rotation"), "stalled since ", 14), 0, "rotation: %s",
	    status_str(sj, "rotation"));
	json_decref(sj);
	expect_metric(&p, "vault_rotation_stalled 1");
	uint64_t remaining = 0;
	cr_assert_eq(vault_keys_retire(v, epoch - 1, &remaining, NULL, NULL), VAULT_E_CONFLICT);
	cr_assert_eq(log_count(&p, "stalled:"), 1, "the stall is logged once");

	/* Space returns: no restart, no command; the backoff's next try goes on. */
	double t0 = now_s();
	cr_assert_eq(unlink(flag), 0);
	ks = keys_status_until(v, is_done, 60);
	cr_assert_eq(ks->stalled_since, 0);
	vault_keys_status_free(ks);
	cr_log_info("the stalled rotation went on %.1f s after space returned", now_s() - t0);
	cr_assert_eq(log_count(&p, "goes on after a stall"), 1, "and that is logged once");
	cr_assert_eq(log_count(&p, "stalled:"), 1);
	expect_metric(&p, "vault_rotation_stalled 0");
	cr_assert_eq(vault_keys_retire(v, epoch - 1, &remaining, NULL, NULL), 0, "retire: %s",
	    vault_last_message(v));
	for (int i = 0; i < N; i += 97)
		cr_assert_eq(read_one(v, toks[i]), 0, "record %d: %s", i, vault_last_message(v));
	vault_close(v);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
	free(toks);
	vaultd_finish(&p);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, adir);
	cr_assert_eq(system(cmd), 0);
}
