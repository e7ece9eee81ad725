/*
 * test_audit.c - end-to-end: the audit trail of a real vaultd. Requests
 * that touch personal data are recorded (without it) and can be found
 * again by record, client and time; the trail verifies; and when it cannot
 * be written, no data is returned and nothing is changed (fail closed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "harness.h"

static char *
create(struct vault *v, const char *email)
{
	struct vault_record *r;
	char *tok;
	vault_record_new(&r);
	vault_record_set(r, "email", email);
	vault_record_set(r, "last_name", "Audited");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	return tok;
}

Test(audit, reads_are_recorded_without_personal_data_and_found_by_record)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	time_t t0 = time(NULL);
	char *a = create(v, "alice@audit.example"), *b = create(v, "bob@audit.example");
	const char *email[] = { "email" };
	struct vault_record *out;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, a, email, 1, 0, &out), 0);
	vault_record_free(out);
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_LEGAL, b, NULL, 0, 0, &out), 0);
	vault_record_free(out);

	struct vault_audit_filter f = { .record_token = a };
	struct vault_audit_entry *e;
	size_t n;
	cr_assert_eq(vault_audit_query(v, &f, &e, &n), 0, "%s", vault_last_message(v));
	cr_assert_eq(n, 2, "the create and the read of a");
	cr_assert_str_eq(e[0].op, "create");
	cr_assert_str_eq(e[1].op, "read");
	cr_assert_str_eq(e[1].outcome, "ok");
	cr_assert_str_eq(e[1].purpose, "transactional");
	cr_assert_str_eq(e[1].client, "tests");
	cr_assert_eq(e[1].nfields, 1);
	cr_assert_str_eq(e[1].fields[0], "email");
	cr_assert_eq(e[1].nrecords, 1);
	cr_assert(strncmp(e[1].records[0], "v1:", 3) == 0);
	cr_assert_geq(e[1].time, t0);
	vault_audit_entries_free(e, n);

	struct vault_audit_filter legal = { .purpose = "legal" };
	cr_assert_eq(vault_audit_query(v, &legal, &e, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(e[0].op, "read");
	vault_audit_entries_free(e, n);
	struct vault_audit_filter later = { .from = time(NULL) + 3600 };
	cr_assert_eq(vault_audit_query(v, &later, &e, &n), 0);
	cr_assert_eq(n, 0);
	vault_audit_entries_free(e, n);

	struct vault_audit_check chk;
	cr_assert_eq(vault_audit_verify(v, &chk), 0);
	cr_assert(chk.ok, "%s", chk.reason);
	cr_assert_geq(chk.entries, 5);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* No value ever reaches the trail. */
	char path[600];
	size_t len;
	vaultd_path(&p, "audit/audit.log", path, sizeof(path));
	char *trail = read_file_all(path, &len);
	cr_assert_not_null(trail);
	cr_assert_null(strstr(trail, "alice"));
	cr_assert_null(strstr(trail, "audit.example"));
	cr_assert_null(strstr(trail, "Audited"));
	cr_assert_not_null(strstr(trail, "\"op\":\"read\""));
	free(trail);
	vault_free(a);
	vault_free(b);
	vaultd_cleanup(&p);
}

Test(audit, an_unwritable_trail_returns_nothing)
{
	struct vaultd_proc p;
	struct vault *v;
	/* Start normally, make a record, then restart on a trail that cannot
	 * be written (/dev/full fails every write with ENOSPC). */
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *tok = create(v, "carol@audit.example");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	FILE *f = fopen(p.config, "a");
	fputs("[audit]\npath = /dev/full\n", f);
	fclose(f);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_eq(vault_ping(v), 0, "ping touches no personal data: not audited");
	struct vault_record *out = NULL;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok, NULL, 0, 0, &out),
	    VAULT_E_AUDIT, "no data without its audit entry");
	cr_assert_null(out);
	char *other = NULL;
	struct vault_record *r;
	vault_record_new(&r);
	vault_record_set(r, "email", "dave@audit.example");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &other), VAULT_E_AUDIT);
	vault_record_free(r);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, tok,
	    VAULT_DELETE_SUBJECT_REQUEST), VAULT_E_AUDIT);
	struct vault_status st;
	cr_assert_eq(vault_status(v, &st), 0);
	cr_assert_eq(st.records, 1, "nothing was created or deleted");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	vault_free(tok);
	vaultd_cleanup(&p);
}

/* Run a shell command; its exit status, and its output (stdout and stderr,
 * malloc'd) in *out. */
static int
run_cmd(const char *cmd, char **out)
{
	char buf[4096];
	size_t n = 0;
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	*out = calloc(1, 1);
	while (fgets(buf, sizeof(buf), f) != NULL) {
		size_t m = strlen(buf);
		*out = realloc(*out, n + m + 1);
		memcpy(*out + n, buf, m + 1);
		n += m;
	}
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `vaultd -c CONFIG OPTION`, offline. */
static int
vaultd_offline(const struct vaultd_proc *p, const char *option, char **out)
{
	char cmd[1400];
	const char *bin = getenv("VAULTD");
	cr_assert_not_null(bin);
	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' %s 2>&1 </dev/null", bin, p->config, option);
	return run_cmd(cmd, out);
}

/* `vaultctl -s SOCKET ARGS` (args already quoted for the shell). */
static int
vaultctl(const struct vaultd_proc *p, const char *args, char **out)
{
	char cmd[2000];
	const char *bin = getenv("VAULTCTL");
	cr_assert_not_null(bin);
	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' %s 2>&1 </dev/null", bin, p->socket, args);
	return run_cmd(cmd, out);
}

/* The trail's lines (the file as it is) and how many. */
static char **
trail_lines(const struct vaultd_proc *p, size_t *n)
{
	char path[600];
	size_t len;
	vaultd_path(p, "audit/audit.log", path, sizeof(path));
	char *t = read_file_all(path, &len), **lines = NULL;
	cr_assert_not_null(t);
	*n = 0;
	for (char *s = t, *nl; (nl = strchr(s, '\n')) != NULL; s = nl + 1) {
		lines = realloc(lines, (*n + 1) * sizeof(*lines));
		lines[(*n)++] = strndup(s, (size_t)(nl - s + 1));
	}
	free(t);
	return lines;
}

static void
write_file(const char *path, const char *s, size_t len)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(s, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

/*
 * The attack: vaultd stopped, cut the trail's tail back to entry keep and
 * put that entry in the head file, so that trail and head file agree.
 */
static void
truncate_trail(const struct vaultd_proc *p, char **lines, size_t keep)
{
	char path[600];
	size_t len = 0;
	for (size_t i = 0; i < keep; i++)
		len += strlen(lines[i]);
	char *t = malloc(len + 1), *e = t;
	for (size_t i = 0; i < keep; i++)
		e = stpcpy(e, lines[i]);
	vaultd_path(p, "audit/audit.log", path, sizeof(path));
	write_file(path, t, len);
	vaultd_path(p, "audit/audit.log.head", path, sizeof(path));
	write_file(path, lines[keep - 1], strlen(lines[keep - 1]));
	free(t);
}

Test(audit, a_truncated_trail_with_a_rewritten_head_is_refused_until_acknowledged)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = create(v, "erin@audit.example"), *b = create(v, "frank@audit.example");
	struct vault_record *out;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, a, NULL, 0, 0, &out), 0);
	vault_record_free(out);
	char *c = create(v, "grace@audit.example");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	size_t n;
	char **lines = trail_lines(&p, &n);
	cr_assert_geq(n, 4, "three creates and a read");
	/* Keep the first create only: the others' entries vanish, and the
	 * head file now agrees with the shorter trail. */
	truncate_trail(&p, lines, 1);
	char *log = NULL, *txt = NULL;
	int st = vaultd_expect_refusal(&p, &log);
	cr_assert_neq(st, 0, "vaultd must not serve on a trail shorter than its data");
	cr_assert_not_null(strstr(log, "--audit-acknowledge"), "%s", log);
	cr_assert_not_null(strstr(log, "ends at seq 1"), "%s", log);
	cr_assert_null(strstr(log, "erin"));
	free(log);

	/* Offline verification sees it too, against the data's anchor. */
	cr_assert_eq(vaultd_offline(&p, "--audit-verify", &txt), 1, "%s", txt);
	cr_assert_not_null(strstr(txt, "DAMAGED"), "%s", txt);
	free(txt);

	/* The administrator acknowledges; the loss is recorded, and vaultd serves. */
	cr_assert_eq(vaultd_offline(&p, "--audit-acknowledge", &txt), 0, "%s", txt);
	char lost[64];
	snprintf(lost, sizeof(lost), "acknowledged: entries 2 to %zu are lost", n);
	cr_assert_not_null(strstr(txt, lost), "%s", txt);
	free(txt);
	/* Once is enough. */
	cr_assert_eq(vaultd_offline(&p, "--audit-acknowledge", &txt), 0, "%s", txt);
	cr_assert_not_null(strstr(txt, "nothing to acknowledge"), "%s", txt);
	free(txt);
	cr_assert_eq(vaultd_offline(&p, "--audit-verify", &txt), 0, "%s", txt);
	cr_assert_not_null(strstr(txt, "acknowledged lost"), "%s", txt);
	free(txt);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *d = create(v, "heidi@audit.example");
	struct vault_audit_check chk;
	cr_assert_eq(vault_audit_verify(v, &chk), 0);
	cr_assert(chk.ok, "%s", chk.reason);
	cr_assert_eq(vaultctl(&p, "audit verify", &txt), 0, "%s", txt);
	snprintf(lost, sizeof(lost), "(%zu acknowledged lost)", n - 1);
	cr_assert_not_null(strstr(txt, lost), "%s", txt);
	free(txt);
	struct vault_audit_filter all = { 0 };
	struct vault_audit_entry *e;
	size_t ne;
	cr_assert_eq(vault_audit_query(v, &all, &e, &ne), 0);
	cr_assert_geq(ne, 3, "the kept create, the acknowledgment, the new create");
	cr_assert_str_eq(e[1].op, "audit_acknowledge");
	/* No sequence number is handed out twice. */
	cr_assert_gt(e[1].seq, (uint64_t)n, "the acknowledgment skips the lost numbers");
	cr_assert_str_eq(e[2].op, "create");
	cr_assert_eq(e[2].seq, e[1].seq + 1);
	vault_audit_entries_free(e, ne);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	vault_free(a);
	vault_free(b);
	vault_free(c);
	vault_free(d);
	vaultd_cleanup(&p);
}

Test(audit, an_older_copy_of_the_trail_is_refused)
{
	struct vaultd_proc p;
	struct vault *v;
	char path[600], head[600], *log = NULL;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = create(v, "ivan@audit.example");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	/* Keep a copy of the trail and its head file as they are now... */
	vaultd_path(&p, "audit/audit.log", path, sizeof(path));
	vaultd_path(&p, "audit/audit.log.head", head, sizeof(head));
	size_t len, hlen;
	char *t = read_file_all(path, &len), *h = read_file_all(head, &hlen);
	cr_assert_not_null(t);
	cr_assert_not_null(h);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *b = create(v, "judy@audit.example");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	/* ...and put them back: a whole trail replaced by an older one. */
	write_file(path, t, len);
	write_file(head, h, hlen);
	cr_assert_neq(vaultd_expect_refusal(&p, &log), 0);
	cr_assert_not_null(strstr(log, "lost entries"), "%s", log);
	free(log);
	free(t);
	free(h);
	vault_free(a);
	vault_free(b);
	vaultd_cleanup(&p);
}

/* A file of the test directory, copied aside or back. */
static void
copy_file(const struct vaultd_proc *p, const char *from, const char *to)
{
	char a[600], b[600];
	size_t len;
	vaultd_path(p, from, a, sizeof(a));
	vaultd_path(p, to, b, sizeof(b));
	char *t = read_file_all(a, &len);
	cr_assert_not_null(t, "%s", a);
	write_file(b, t, len);
	free(t);
}

Test(audit, a_checkpoint_detects_a_trail_rolled_back_with_its_data)
{
	struct vaultd_proc p;
	struct vault *v;
	char cp[600], bad[600], args[1400], *out = NULL;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = create(v, "kim@audit.example");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	/* The vault as it was: data, trail and head file, all consistent. */
	static const char *const files[] = { "data/data.mdb", "audit/audit.log",
		"audit/audit.log.head" };
	char saved[3][64];
	for (int i = 0; i < 3; i++) {
		snprintf(saved[i], sizeof(saved[i]), "saved-%d", i);
		copy_file(&p, files[i], saved[i]);
	}
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *b = create(v, "leo@audit.example");
	vault_close(v);

	/* A checkpoint, kept off the machine, verifies. */
	vaultd_path(&p, "checkpoint.json", cp, sizeof(cp));
	snprintf(args, sizeof(args), "audit checkpoint > '%s'", cp);
	cr_assert_eq(vaultctl(&p, args, &out), 0, "%s", out);
	free(out);
	size_t len;
	char *text = read_file_all(cp, &len);
	cr_assert_not_null(strstr(text, "\"type\":\"vault-audit-checkpoint-v1\""), "%s", text);
	snprintf(args, sizeof(args), "audit verify --checkpoint '%s'", cp);
	cr_assert_eq(vaultctl(&p, args, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "checkpoint valid"), "%s", out);
	free(out);
	/* One that claims an earlier entry no longer carries the signature. */
	char *seq = strstr(text, "\"seq\":");
	cr_assert_not_null(seq);
	seq[6] = seq[6] == '1' ? '2' : '1';
	vaultd_path(&p, "forged.json", bad, sizeof(bad));
	write_file(bad, text, len);
	snprintf(args, sizeof(args), "audit verify --checkpoint '%s'", bad);
	cr_assert_eq(vaultctl(&p, args, &out), 1, "%s", out);
	cr_assert_not_null(strstr(out, "signature INVALID"), "%s", out);
	free(out);
	free(text);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* Everything rolled back together: vaultd cannot tell, the checkpoint can. */
	for (int i = 0; i < 3; i++)
		copy_file(&p, saved[i], files[i]);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	struct vault_audit_check chk;
	cr_assert_eq(vault_audit_verify(v, &chk), 0);
	cr_assert(chk.ok, "a consistent older vault: %s", chk.reason);
	vault_close(v);
	snprintf(args, sizeof(args), "audit verify --checkpoint '%s'", cp);
	cr_assert_eq(vaultctl(&p, args, &out), 1, "%s", out);
	cr_assert_not_null(strstr(out, "DAMAGED"), "%s", out);
	cr_assert_not_null(strstr(out, "checkpoint records"), "%s", out);
	free(out);
	cr_assert_eq(vaultd_stop(&p), 0);
	vault_free(a);
	vault_free(b);
	vaultd_cleanup(&p);
}

Test(audit, a_power_loss_of_the_unsynced_tail_is_no_false_alarm)
{
	struct vaultd_proc p;
	struct vault *v;
	/* No sync during the test: what the head file records is all that is
	 * on disk for sure. */
	vaultd_start(&p, "[audit]\nsync_interval_ms = 60000\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = create(v, "mallory@audit.example");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0); /* a clean stop: all durable */
	size_t n0, n1;
	char **before = trail_lines(&p, &n0);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	/* A write's entry is flushed before its reply (issue 19); reads'
	 * entries wait for the sync thread. */
	char *b = create(v, "niaj@audit.example"), *c = NULL;
	expect_field(v, a, "email", "mallory@audit.example", 0);
	expect_field(v, b, "email", "niaj@audit.example", 1);
	vault_close(v);
	vaultd_kill(&p);
	char **after = trail_lines(&p, &n1);
	cr_assert_eq(n1, n0 + 3, "the create and the two reads were written");
	/* A power loss now takes the entries that were never flushed (the
	 * reads'): the trail ends behind the head the data recorded last. */
	truncate_trail(&p, after, n0 + 1);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	struct vault_audit_check chk;
	cr_assert_eq(vault_audit_verify(v, &chk), 0);
	cr_assert(chk.ok, "%s", chk.reason);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	for (size_t i = 0; i < n0; i++)
		free(before[i]);
	for (size_t i = 0; i < n1; i++)
		free(after[i]);
	free(before);
	free(after);
	vault_free(a);
	vault_free(b);
	vault_free(c);
	vaultd_cleanup(&p);
}

/* Whether the head file records entry seq (or a later one). */
static int
head_reaches(const struct vaultd_proc *p, uint64_t seq)
{
	char path[600], *t, *s;
	size_t len;
	vaultd_path(p, "audit/audit.log.head", path, sizeof(path));
	if ((t = read_file_all(path, &len)) == NULL)
		return 0;
	s = strstr(t, "\"seq\":");
	int yes = s != NULL && strtoull(s + 6, NULL, 10) >= seq;
	free(t);
	return yes;
}

Test(audit, a_cut_after_a_crash_is_refused_too)
{
	struct vaultd_proc p;
	struct vault *v;
	char *log = NULL;
	vaultd_start(&p, "[audit]\nsync_interval_ms = 1\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = create(v, "peggy@audit.example"), *b = create(v, "rupert@audit.example");
	/* Wait (up to 10 s) until the sync thread has flushed b's entry. */
	for (int i = 0; i < 1000 && !head_reaches(&p, 2); i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cr_assert(head_reaches(&p, 2), "the trail was not flushed within 10 s");
	/* This group commit records the flushed head in the data. */
	char *c = create(v, "sybil@audit.example");
	vault_close(v);
	vaultd_kill(&p); /* no clean stop */
	size_t n;
	char **lines = trail_lines(&p, &n);
	cr_assert_geq(n, 3);
	truncate_trail(&p, lines, 1);
	/* The store's commit log holds a copy of the entries since its last
	 * checkpoint, and a start writes them back where they were: whoever
	 * cuts the trail deletes that copy too. */
	char clog[600];
	vaultd_path(&p, "data/commit.log", clog, sizeof(clog));
	cr_assert_eq(unlink(clog), 0, "%s", clog);
	cr_assert_neq(vaultd_expect_refusal(&p, &log), 0, "a trail cut below its flushed head");
	cr_assert_not_null(strstr(log, "lost entries"), "%s", log);
	free(log);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	vault_free(a);
	vault_free(b);
	vault_free(c);
	vaultd_cleanup(&p);
}
