/*
 * test_restore.c - end-to-end: the failure paths of the deletion journal,
 * backups and restore, on the real vaultd. A journal torn by a short write
 * or damaged; vaultd killed at each write of a journal append and of a
 * backup (strace's syscall fault injection, design13.md item 7); a record
 * given a new data key after the backup whose backup epoch was retired; a
 * truncated, garbage or trailer-less backup.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <vault/vault.h>

#include "harness.h"
#include "vault/journal.h"
#include "vault/restore.h"

/* ---- helpers ------------------------------------------------------------ */

/* A record with a document of doc bytes (0: none); byte k is (i + k) % 251. */
static char *
create_doc(struct vault *v, int i, size_t doc)
{
	struct vault_record *r;
	char email[64], name[32], *tok;
	snprintf(email, sizeof(email), "person%d@restore.example", i);
	snprintf(name, sizeof(name), "Person%d", i);
	vault_record_new(&r);
	vault_record_set(r, "first_name", name);
	vault_record_set(r, "email", email);
	if (doc > 0) {
		uint8_t *d = malloc(doc);
		for (size_t k = 0; k < doc; k++)
			d[k] = (uint8_t)((i + k) % 251);
		cr_assert_eq(vault_record_add_document(r, "scan.bin", "application/octet-stream",
		    d, doc), 0);
		free(d);
	}
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	cr_assert_eq(rc, 0, "create: %s", vault_last_message(v));
	vault_record_free(r);
	return tok;
}

static char *
create(struct vault *v, int i)
{
	return create_doc(v, i, 0);
}

/* Record i's document (create_doc()) reads back whole. */
static void
expect_doc(struct vault *v, const char *tok, int i, size_t doc)
{
	struct vault_record *out;
	const char *name, *type;
	const void *data;
	size_t len;
	uint32_t slot;
	int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok, NULL, 0, 1, &out);
	cr_assert_eq(rc, 0, "record %d: %s", i, vault_error_name(rc));
	cr_assert_eq(vault_record_document_count(out), 1, "record %d has its document", i);
	cr_assert_eq(vault_record_document_at(out, 0, &slot, &name, &type, &data, &len), 0);
	cr_assert_eq(len, doc);
	for (size_t k = 0; k < doc; k++)
		cr_assert_eq(((const uint8_t *)data)[k], (uint8_t)((i + k) % 251));
	vault_record_free(out);
}

/* 0 and the right email, or the read's error. */
static int
read_email(struct vault *v, const char *tok, int i)
{
	const char *want[] = { "email" };
	char email[64];
	struct vault_record *out;
	snprintf(email, sizeof(email), "person%d@restore.example", i);
	int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok, want, 1, 0, &out);
	if (rc == 0) {
		cr_assert_str_eq(vault_record_get(out, "email"), email, "record %d", i);
		vault_record_free(out);
	}
	return rc;
}

/* Every record is readable, or deleted if dead[i]. */
static void
check_records(struct vaultd_proc *p, char **toks, const int *dead, int n, const char *when)
{
	struct vault *v;
	cr_assert_eq(vault_connect(p->socket, &v), 0);
	for (int i = 0; i < n; i++) {
		int rc = read_email(v, toks[i], i);
		if (dead[i])
			cr_assert_eq(rc, VAULT_E_DELETED, "%s: deleted record %d came back (%s)",
			    when, i, vault_error_name(rc));
		else
			cr_assert_eq(rc, 0, "%s: live record %d lost (%s)", when, i,
			    vault_error_name(rc));
	}
	vault_close(v);
}

static void
path_of(const struct vaultd_proc *p, const char *name, char *out, size_t len)
{
	vaultd_path(p, name, out, len);
}

static int
exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/*
 * vaultd --restore file with vaultd stopped: its exit status (-1 if a
 * signal killed it: a SIGBUS is a failure); out gets its output.
 */
static int
run_restore(const struct vaultd_proc *p, const char *file, char **out)
{
	char outpath[600];
	size_t n;
	int st;
	path_of(p, "restore.out", outpath, sizeof(outpath));
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(getenv("VAULTD"), "vaultd", "-c", p->config, "--restore", file, (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	*out = read_file_all(outpath, &n);
	if (*out == NULL)
		*out = strdup("");
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A restore that must refuse: exits 1 (no signal), leaves the live data
 * file byte for byte and no data/restore/. */
static void
expect_refused(const struct vaultd_proc *p, const char *file, const char *says)
{
	char live[600], rdir[600], *out;
	size_t n0, n1;
	path_of(p, "data/data.mdb", live, sizeof(live));
	path_of(p, "data/restore", rdir, sizeof(rdir));
	char *before = read_file_all(live, &n0);
	cr_assert_not_null(before);
	int rc = run_restore(p, file, &out);
	cr_assert_eq(rc, 1, "restore of %s: exit %d (-1: killed by a signal): %s", file, rc, out);
	if (says != NULL)
		cr_assert_not_null(strstr(out, says), "restore of %s says: %s", file, out);
	cr_assert_not_null(strstr(out, "Nothing was changed"), "%s", out);
	char *after = read_file_all(live, &n1);
	cr_assert(after != NULL && n0 == n1 && memcmp(before, after, n0) == 0,
	    "restore of %s changed the live data file", file);
	cr_assert(!exists(rdir), "restore of %s left data/restore/", file);
	free(before);
	free(after);
	free(out);
}

/* Every regular file of dir, as paths (NULL-terminated, malloc'd). */
static char **
list_dir(const char *dir)
{
	DIR *d = opendir(dir);
	char **v = calloc(256, sizeof(*v));
	size_t n = 0;
	struct dirent *de;
	if (d == NULL)
		return v;
	while ((de = readdir(d)) != NULL && n < 255) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		v[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
		sprintf(v[n++], "%s/%s", dir, de->d_name);
	}
	closedir(d);
	return v;
}

static void
free_list(char **v)
{
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* All threads of pid traced by tracer? */
static int
all_traced(pid_t pid, pid_t tracer)
{
	char dir[64], f[600], line[256];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	struct dirent *de;
	int all = 1, seen = 0;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s/status", dir, de->d_name);
		FILE *sf = fopen(f, "r");
		int ok = 0;
		while (sf != NULL && fgets(line, sizeof(line), sf) != NULL)
			if (strncmp(line, "TracerPid:", 10) == 0)
				ok = atoi(line + 10) == (int)tracer;
		if (sf != NULL)
			fclose(sf);
		all = all && ok;
		seen++;
	}
	closedir(d);
	return all && seen > 0;
}

/* Attach strace to vaultd: SIGKILL at the nth call of syscall (per thread). */
static pid_t
strace_kill_at(pid_t pid, const char *syscall, int nth)
{
	char spid[32], trace[64], inject[128];
	snprintf(spid, sizeof(spid), "%d", (int)pid);
	snprintf(trace, sizeof(trace), "trace=%s", syscall);
	snprintf(inject, sizeof(inject), "inject=%s:signal=KILL:when=%d", syscall, nth);
	pid_t s = fork();
	cr_assert(s >= 0);
	if (s == 0) {
		execlp("strace", "strace", "-f", "-qq", "-o", "/dev/null", "-p", spid, "-e", trace,
		    "-e", inject, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000 && !all_traced(pid, s); i++) {
		int st;
		cr_assert_eq(waitpid(s, &st, WNOHANG), 0, "strace exited: is it installed?");
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cr_assert(all_traced(pid, s), "strace did not attach within 10 s");
	return s;
}

/* vaultd gone (a zombie still traced, or reaped)? */
static int
is_dead(pid_t pid)
{
	char f[64], buf[256];
	snprintf(f, sizeof(f), "/proc/%d/stat", (int)pid);
	FILE *sf = fopen(f, "r");
	if (sf == NULL)
		return 1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, sf);
	fclose(sf);
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp == NULL || rp[1] == '\0' || rp[2] == 'Z' || rp[2] == 'X';
}

/*
 * End strace and reap it; 1 if it killed vaultd (then reaped too). A
 * living vaultd is detached gracefully (SIGINT); with a killed one strace
 * may wait for its zombie threads forever, so it is killed, which hands
 * the zombie back to us.
 */
static int
strace_done(struct vaultd_proc *p, pid_t s)
{
	int st, killed = is_dead(p->pid), i;
	kill(s, killed ? SIGKILL : SIGINT);
	/* vaultd may be dying but not yet a zombie when looked at: then
	 * strace, asked to detach, waits for it forever. Give it 5 s. */
	for (i = 0; i < 500 && waitpid(s, &st, WNOHANG) != s; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (i == 500) {
		kill(s, SIGKILL);
		waitpid(s, &st, 0);
	}
	if (!killed && is_dead(p->pid))
		killed = 1;
	if (killed) {
		cr_assert_eq(waitpid(p->pid, &st, 0), p->pid);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "vaultd died otherwise");
		p->pid = 0;
	}
	return killed;
}

/* ---- torn and damaged journal ------------------------------------------- */

Test(restore, torn_journal_is_cut_and_a_damaged_one_refused, .timeout = 240)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 40 };
	char *toks[N], jpath[600], bpath_copy[600], *log = NULL, *bpath = NULL;
	int dead[N] = { 0 };
	uint64_t bytes;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	cr_assert_eq(vault_backup(v, "base", &bpath, &bytes), 0, "%s", vault_last_message(v));
	snprintf(bpath_copy, sizeof(bpath_copy), "%s", bpath);
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[i],
		    VAULT_DELETE_SUBJECT_REQUEST), 0);
		dead[i] = 1;
	}
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* A torn last entry (a short write on a full disk), garbage after it. */
	path_of(&p, "keys/deletions", jpath, sizeof(jpath));
	struct stat st;
	cr_assert_eq(stat(jpath, &st), 0);
	cr_assert_eq(st.st_size, JOURNAL_HEADER + 20 * JOURNAL_ENTRY);
	cr_assert_eq(truncate(jpath, st.st_size - 13), 0);
	int fd = open(jpath, O_WRONLY | O_APPEND);
	uint8_t junk[200];
	randombytes_buf(junk, sizeof(junk));
	cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);

	/* The start cuts the tail, says so, and fills in from the tombstones. */
	cr_assert_eq(vaultd_try_restart(&p), 0);
	size_t n;
	log = read_file_all(p.log, &n);
	cr_assert_not_null(strstr(log, "torn tail"), "the log says: %s", log);
	free(log);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 20; i < 25; i++) {
		cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[i],
		    VAULT_DELETE_SUBJECT_REQUEST), 0);
		dead[i] = 1;
	}
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	struct journal_entry *e;
	struct journal_scan sc;
	cr_assert_eq(journal_read(jpath, &e, &n, &sc), 0);
	cr_assert_eq(sc.state, JOURNAL_OK, "%s", journal_state_text(sc.state));
	cr_assert_eq(n, 25, "every deletion is in the journal, readable");
	free(e);

	/* The journal alone (no live store) brings back none of the 25. */
	char live[600], aside[700];
	path_of(&p, "data/data.mdb", live, sizeof(live));
	snprintf(aside, sizeof(aside), "%s.test-aside", live);
	cr_assert_eq(rename(live, aside), 0);
	char *out;
	int rc = run_restore(&p, bpath_copy, &out);
	cr_assert_eq(rc, 0, "%s", out);
	free(out);
	vaultd_restart(&p);
	check_records(&p, toks, dead, N, "restore with the journal alone");
	cr_assert_eq(vaultd_stop(&p), 0);

	/* An entry damaged before the tail: the restore refuses, nothing changes. */
	fd = open(jpath, O_RDWR);
	uint8_t b;
	off_t at = JOURNAL_HEADER + 3 * JOURNAL_ENTRY + 6;
	cr_assert_eq(pread(fd, &b, 1, at), 1);
	b ^= 0x01;
	cr_assert_eq(pwrite(fd, &b, 1, at), 1);
	close(fd);
	expect_refused(&p, bpath_copy, "damaged");
	cr_assert_eq(vaultd_expect_refusal(&p, &log), 1, "vaultd does not start on it");
	cr_assert_not_null(strstr(log, "damaged"), "%s", log);
	free(log);

	/* The earlier format: refused with how to rebuild. */
	FILE *f = fopen(jpath, "w");
	fwrite("VAULTDJ1\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\2", 1, 24, f);
	fclose(f);
	expect_refused(&p, bpath_copy, "earlier format");
	cr_assert_eq(vaultd_expect_refusal(&p, &log), 1);
	cr_assert_not_null(strstr(log, "VAULTDJ1"), "%s", log);
	free(log);
	/* Moved aside as the message says: rebuilt from the tombstones. */
	cr_assert_eq(unlink(jpath), 0);
	vaultd_restart(&p);
	check_records(&p, toks, dead, N, "journal rebuilt");
	cr_assert_eq(vaultd_stop(&p), 0);
	cr_assert_eq(journal_read(jpath, &e, &n, &sc), 0);
	cr_assert_eq(n, 25);
	free(e);

	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
	vault_free(bpath);
	vaultd_cleanup(&p);
}

/* ---- a journal entry the store never kept (issue 19) --------------------- */

/*
 * A power loss after a batch's journal entries were flushed and before its
 * commit reached the disk leaves an entry for a record that is still live
 * (the deletion was never acknowledged). A restore run before vaultd starts
 * again (which would cut the entry) must not delete that live record: the
 * old restore did.
 */
Test(restore, a_journal_entry_for_a_live_record_deletes_nothing, .timeout = 240)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 4 };
	char *toks[N], jpath[600], *bpath = NULL, *out;
	int dead[N] = { 0 };
	uint64_t bytes;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i); /* record ids 1..N in a new vault */
	cr_assert_eq(vault_backup(v, "base", &bpath, &bytes), 0, "%s", vault_last_message(v));
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[0],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	dead[0] = 1;
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	/* The crash's leftover: an entry for record 2, which is live. */
	path_of(&p, "keys/deletions", jpath, sizeof(jpath));
	uint8_t e[JOURNAL_ENTRY];
	journal_encode(&(struct journal_entry){ 2, (uint64_t)time(NULL) }, e);
	int fd = open(jpath, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, e, sizeof(e)), (ssize_t)sizeof(e));
	close(fd);
	cr_assert_eq(run_restore(&p, bpath, &out), 0, "%s", out);
	free(out);
	vaultd_restart(&p);
	check_records(&p, toks, dead, N, "restore with an entry the store never kept");
	cr_assert_eq(vaultd_stop(&p), 0);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
	vault_free(bpath);
	vaultd_cleanup(&p);
}

/* ---- a new data key after the backup, its epoch retired ----------------- */

static void
rotate_and_retire(struct vault *v, uint32_t old)
{
	uint32_t epoch;
	uint64_t remaining = 0;
	struct vault_keys_status *st = NULL;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	cr_assert_eq(epoch, old + 1);
	for (int i = 0; i < 3000; i++) {
		vault_keys_status_free(st);
		cr_assert_eq(vault_keys_status(v, &st), 0);
		if (!st->rotating)
			break;
		usleep(10000);
	}
	cr_assert(!st->rotating, "the rotation finishes");
	vault_keys_status_free(st);
	cr_assert_eq(vault_keys_retire(v, old, &remaining, NULL, NULL), 0, "%s",
	    vault_last_message(v));
}

Test(restore, record_rekeyed_after_the_backup_survives_a_restore, .timeout = 240)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 12, REKEYED = 5 };
	char *toks[N], *bpath = NULL, *out, bcopy[600], pre[700];
	int dead[N] = { 0 };
	uint64_t bytes;
	uint32_t dv;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < 10; i++)
		toks[i] = create_doc(v, i, 5000);
	cr_assert_eq(vault_backup(v, "base", &bpath, &bytes), 0, "%s", vault_last_message(v));
	snprintf(bcopy, sizeof(bcopy), "%s", bpath);
	/* A new data key for five records, then the backup's epoch retired. */
	for (int i = 0; i < REKEYED; i++)
		cr_assert_eq(vault_keys_rotate_record(v, toks[i], &dv), 0, "%s",
		    vault_last_message(v));
	toks[10] = create(v, 10); /* created since the backup */
	toks[11] = create(v, 11);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[11],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	dead[11] = 1;
	rotate_and_retire(v, 1);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	int rc = run_restore(&p, bcopy, &out);
	cr_assert_eq(rc, 0, "%s", out);
	fprintf(stderr, "%s", out);
	cr_assert_not_null(strstr(out, "5 taken from the live store"), "%s", out);
	cr_assert_not_null(strstr(out, "5 restored from the backup with the live store's data key"),
	    "%s", out);
	cr_assert_not_null(strstr(out, "1 kept live-only"), "%s", out);
	cr_assert_not_null(strstr(out, "0 beyond the erasure horizon"), "%s", out);
	cr_assert_not_null(strstr(out, "until the next successful `keys retire`"), "%s", out);
	char *kept = strstr(out, "data file is kept as ");
	cr_assert_not_null(kept);
	cr_assert_eq(sscanf(kept, "data file is kept as %699s", pre), 1);
	cr_assert(exists(pre), "the safety net %s is there", pre);
	vaultd_restart(&p);
	check_records(&p, toks, dead, N, "after the restore");
	/* The rekeyed records are whole: documents, tokens, updates work. */
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < 10; i++)
		expect_doc(v, toks[i], i, 5000);
	struct vault_record *r;
	vault_record_new(&r);
	vault_record_set(r, "first_name", "Changed");
	cr_assert_eq(vault_update(v, VAULT_PURPOSE_TRANSACTIONAL, toks[0], r, NULL, 0, NULL, 0), 0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	/* The next retire ends the safety net. */
	rotate_and_retire(v, 2);
	cr_assert(!exists(pre), "the retire removed %s", pre);
	vault_close(v);
	check_records(&p, toks, dead, N, "after the next retire");
	cr_assert_eq(vaultd_stop(&p), 0);
	free(out);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
	vault_free(bpath);
	vaultd_cleanup(&p);
}

/* ---- truncated, garbage, trailer-less backups ---------------------------- */

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* The size of the LMDB copy in a backup file (its trailer says). */
static size_t
lmdb_size(const char *path)
{
	size_t n;
	char *b = read_file_all(path, &n);
	cr_assert_not_null(b);
	cr_assert(n > 12 && memcmp(b + n - 8, "VAULTBKE", 8) == 0, "a trailer ends the file");
	uint32_t tlen = (uint32_t)(uint8_t)b[n - 12] << 24 | (uint32_t)(uint8_t)b[n - 11] << 16 |
	    (uint32_t)(uint8_t)b[n - 10] << 8 | (uint8_t)b[n - 9];
	size_t data = n - 12 - tlen;
	/* Version 2 since backup_before_retire (per-epoch counts; backupfile.h). */
	cr_assert_eq(memcmp(b + data, "VAULTBK2", 8), 0);
	free(b);
	return data;
}

Test(restore, truncated_or_garbage_backup_is_refused_untouched, .timeout = 240)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 50 };
	char *toks[N], *bpath = NULL, f[700];
	int dead[N] = { 0 };
	uint64_t bytes;
	size_t n;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	cr_assert_eq(vault_backup(v, "good", &bpath, &bytes), 0, "%s", vault_last_message(v));
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[3],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	dead[3] = 1;
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	char *good = read_file_all(bpath, &n);
	cr_assert_not_null(good);
	cr_assert_eq(n, bytes, "the size reported is the file's");

	/* What a kill during a backup used to leave: LMDB pages, cut short. */
	snprintf(f, sizeof(f), "%s.half", bpath);
	write_file(f, good, n / 2);
	expect_refused(&p, f, "not a complete vault backup");
	/* A whole LMDB copy without the trailer (the old backups). */
	snprintf(f, sizeof(f), "%s.bare", bpath);
	write_file(f, good, lmdb_size(bpath));
	expect_refused(&p, f, "no backup trailer");
	/* Garbage. */
	uint8_t *junk = malloc(n);
	randombytes_buf(junk, n);
	snprintf(f, sizeof(f), "%s.junk", bpath);
	write_file(f, junk, n);
	expect_refused(&p, f, "not a complete vault backup");
	/* One byte of the copy flipped: the hash says so. */
	memcpy(junk, good, n);
	junk[n / 3] ^= 0x20;
	snprintf(f, sizeof(f), "%s.flipped", bpath);
	write_file(f, junk, n);
	expect_refused(&p, f, "hash");
	/* Cut inside the trailer. */
	snprintf(f, sizeof(f), "%s.cut", bpath);
	write_file(f, good, n - 5);
	expect_refused(&p, f, "no backup trailer");
	free(junk);

	/* A live data file that does not open: its tombstones cannot be
	 * applied, so the restore refuses (and leaves it as it is). */
	char live[600], kept[700];
	path_of(&p, "data/data.mdb", live, sizeof(live));
	snprintf(kept, sizeof(kept), "%s.kept", live);
	cr_assert_eq(rename(live, kept), 0);
	write_file(live, "not an LMDB file", 16);
	expect_refused(&p, bpath, "live data file");
	cr_assert_eq(rename(kept, live), 0);

	/* What a restore killed midway leaves is removed at the next start. */
	char rdir[600], rfile[700];
	path_of(&p, "data/restore", rdir, sizeof(rdir));
	snprintf(rfile, sizeof(rfile), "%s/data.mdb", rdir);
	cr_assert_eq(mkdir(rdir, 0700), 0);
	write_file(rfile, good, n / 2);
	/* The live data is as it was; the good backup restores. */
	vaultd_restart(&p);
	cr_assert(!exists(rdir), "data/restore/ removed at start");
	check_records(&p, toks, dead, N, "after refused restores");
	cr_assert_eq(vaultd_stop(&p), 0);
	char *out;
	cr_assert_eq(run_restore(&p, bpath, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "1 re-deleted by the deletion journal"), "%s", out);
	free(out);
	vaultd_restart(&p);
	check_records(&p, toks, dead, N, "after the restore");
	cr_assert_eq(vaultd_stop(&p), 0);
	free(good);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
	vault_free(bpath);
	vaultd_cleanup(&p);
}

/* ---- a kill at each write ------------------------------------------------ */

/*
 * After a kill (vaultd stopped): every file in backup_dir either restores
 * or is refused cleanly; after each restore, no deleted record is back and
 * no live record is lost.
 */
static void
restore_every_backup(struct vaultd_proc *p, char **toks, const int *dead, int n)
{
	char dir[600], rdir[600];
	path_of(p, "backups", dir, sizeof(dir));
	path_of(p, "data/restore", rdir, sizeof(rdir));
	char **files = list_dir(dir);
	for (size_t i = 0; files[i] != NULL; i++) {
		char *out;
		int rc = run_restore(p, files[i], &out);
		cr_assert(rc == 0 || rc == 1, "restore of %s: exit %d: %s", files[i], rc, out);
		/* Under its final name, a backup is complete: it restores. */
		if (strstr(files[i], BACKUP_PARTIAL) == NULL)
			cr_assert_eq(rc, 0, "%s is under a final name but refused: %s", files[i], out);
		cr_assert(!exists(rdir), "restore of %s left data/restore/", files[i]);
		free(out);
		if (rc == 0) {
			vaultd_restart(p);
			check_records(p, toks, dead, n, files[i]);
			cr_assert_eq(vaultd_stop(p), 0);
		}
	}
	free_list(files);
}

Test(restore, kill_at_each_write_of_a_backup, .timeout = 600)
{
	static const char *const calls[] = { "write", "pwrite64", "fsync", "fdatasync",
		"renameat2" };
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 30 };
	char *toks[N], *bpath = NULL, dir[600];
	int dead[N] = { 0 }, kills = 0;
	uint64_t bytes;
	vaultd_start(&p, NULL);
	path_of(&p, "backups", dir, sizeof(dir));
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	/* A few MB, so the copy takes several writes. */
	for (int i = 0; i < N; i++)
		toks[i] = create_doc(v, i, i < 12 ? 256 * 1024 : 0);
	cr_assert_eq(vault_backup(v, "base", &bpath, &bytes), 0, "%s", vault_last_message(v));
	vault_free(bpath);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[i],
		    VAULT_DELETE_SUBJECT_REQUEST), 0);
		dead[i] = 1;
	}
	vault_close(v);
	for (size_t c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
		for (int nth = 1; nth < 200; nth++) {
			char name[64];
			snprintf(name, sizeof(name), "b-%s-%d", calls[c], nth);
			pid_t s = strace_kill_at(p.pid, calls[c], nth);
			cr_assert_eq(vault_connect(p.socket, &v), 0);
			/* A killed vaultd whose other threads strace still holds
			 * keeps its socket open and never answers: wait for a
			 * bounded time, then strace_done() ends it. */
			vault_set_timeout(v, 30000);
			int rc = vault_backup(v, name, &bpath, &bytes);
			vault_close(v);
			int killed = strace_done(&p, s);
			fprintf(stderr, "backup: kill at %s #%d: %s\n", calls[c], nth,
			    killed ? "killed" : "completed");
			if (!killed) {
				cr_assert_eq(rc, 0, "backup %s: %s", name, vault_error_name(rc));
				vault_free(bpath);
				break;
			}
			kills++;
			/* Killed: the next start removes the temporary; only
			 * complete backups are under a final name. */
			vaultd_restart(&p);
			cr_assert_eq(vaultd_stop(&p), 0);
			char **files = list_dir(dir);
			for (size_t i = 0; files[i] != NULL; i++)
				cr_assert_null(strstr(files[i], ".partial-"), "left: %s", files[i]);
			free_list(files);
			restore_every_backup(&p, toks, dead, N);
			vaultd_restart(&p);
			check_records(&p, toks, dead, N, name);
		}
	}
	fprintf(stderr, "backup: %d kills, every backup restored or refused cleanly\n", kills);
	cr_assert_gt(kills, 5, "the kills landed");
	cr_assert_eq(vaultd_stop(&p), 0);
	restore_every_backup(&p, toks, dead, N);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
	vaultd_cleanup(&p);
}

Test(restore, kill_at_each_write_of_a_journal_append, .timeout = 600)
{
	static const char *const calls[] = { "writev", "pwrite64", "fdatasync" };
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 120 };
	char *toks[N], *bpath = NULL, base[600];
	int dead[N] = { 0 }, kills = 0, next = 0;
	uint64_t bytes;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	cr_assert_eq(vault_backup(v, "base", &bpath, &bytes), 0, "%s", vault_last_message(v));
	snprintf(base, sizeof(base), "%s", bpath);
	vault_free(bpath);
	vault_close(v);
	for (size_t c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
		for (int nth = 1; nth < 40 && next < N - 10; nth++) {
			int victim = next++;
			pid_t s = strace_kill_at(p.pid, calls[c], nth);
			cr_assert_eq(vault_connect(p.socket, &v), 0);
			vault_set_timeout(v, 10000); /* as in the backup loop */
			int rc = vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[victim],
			    VAULT_DELETE_SUBJECT_REQUEST);
			vault_close(v);
			int killed = strace_done(&p, s);
			fprintf(stderr, "journal append: kill at %s #%d: %s\n", calls[c], nth,
			    killed ? "killed" : "completed");
			if (!killed) {
				cr_assert_eq(rc, 0, "delete: %s", vault_error_name(rc));
				dead[victim] = 1;
				break;
			}
			kills++;
			/* Acknowledged or not, the delete either happened or not. */
			vaultd_restart(&p);
			cr_assert_eq(vault_connect(p.socket, &v), 0);
			rc = read_email(v, toks[victim], victim);
			cr_assert(rc == 0 || rc == VAULT_E_DELETED, "%s", vault_error_name(rc));
			dead[victim] = rc == VAULT_E_DELETED;
			vault_close(v);
			cr_assert_eq(vaultd_stop(&p), 0);
			/* The backup from before every deletion brings none back. */
			char *out;
			cr_assert_eq(run_restore(&p, base, &out), 0, "%s", out);
			free(out);
			vaultd_restart(&p);
			check_records(&p, toks, dead, N, "after a kill in a journal append");
		}
	}
	fprintf(stderr, "journal: %d kills, no deleted record came back\n", kills);
	cr_assert_gt(kills, 2, "the kills landed");
	cr_assert_eq(vaultd_stop(&p), 0);
	struct journal_entry *e;
	struct journal_scan sc;
	size_t n;
	char jpath[600];
	path_of(&p, "keys/deletions", jpath, sizeof(jpath));
	cr_assert_eq(journal_read(jpath, &e, &n, &sc), 0);
	cr_assert_eq(sc.state, JOURNAL_OK);
	size_t want = 0;
	for (int i = 0; i < N; i++)
		want += (size_t)dead[i];
	cr_assert_eq(n, want, "every deletion, once");
	free(e);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
	vaultd_cleanup(&p);
}
