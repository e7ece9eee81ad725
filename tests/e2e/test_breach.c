/*
 * test_breach.c - end-to-end: the breach impact report (vaultctl breach
 * report). A client of its own gid reads some records, detokenizes a token
 * of another, and never touches a fourth; the report for that client lists
 * exactly those records with the fields it got, a deleted one as deleted
 * without contact data; the --notify list verifies with vaultctl export
 * verify and holds the email, or the postal address where there is none;
 * a non-admin is denied; a trail damaged inside the window is refused with
 * the damaged entry named. Needs root (to switch gids).
 */
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <vault/vault.h>

#include "harness.h"

#define GID_SHIPPING 52101
#define GID_OTHER 52102

static struct vaultd_proc srv;
static char policy_path[600];
static char from_arg[32], to_arg[32];

static const char policy_text[] =
    "[client admin]\n"
    "gids = 0\n"
    "admin = true\n"
    "delete = true\n"
    "[access admin transactional]\n"
    "* = plain\n"
    "[access admin security]\n"
    "* = plain\n"
    "[client shipping]\n"
    "gids = 52101\n"
    "[access shipping transactional]\n"
    "first_name = plain\n"
    "last_name = plain\n"
    "postal_address = plain\n"
    "[client other]\n"
    "gids = 52102\n"
    "[access other transactional]\n"
    "email = plain\n";

static void
setup(void)
{
	cr_assert_eq(geteuid(), 0, "the breach tests switch gids and need root");
	char ini[700];
	snprintf(policy_path, sizeof(policy_path), "/tmp/vault-breach-%d.ini", (int)getpid());
	FILE *f = fopen(policy_path, "w");
	cr_assert_not_null(f);
	fputs(policy_text, f);
	fclose(f);
	cr_assert_eq(chmod(policy_path, 0644), 0);
	snprintf(ini, sizeof(ini), "[policy]\nfile = %s\n", policy_path);
	vaultd_start(&srv, ini);
	time_t now = time(NULL);
	snprintf(from_arg, sizeof(from_arg), "%lld", (long long)now - 60);
	snprintf(to_arg, sizeof(to_arg), "%lld", (long long)now + 600);
}

static void
teardown(void)
{
	unlink(policy_path);
	vaultd_finish(&srv);
}

TestSuite(breach, .init = setup, .fini = teardown, .timeout = 60);

static struct vault *
connect_as(gid_t gid)
{
	struct vault *v;
	if (gid != 0)
		cr_assert(setgroups(0, NULL) == 0 && setresgid(gid, gid, gid) == 0);
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	return v;
}

static char *
create(const char *first, const char *email, const char *postal)
{
	struct vault *v = connect_as(0);
	struct vault_record *r;
	char *tok;
	vault_record_new(&r);
	vault_record_set(r, "first_name", first);
	vault_record_set(r, "last_name", "Doe");
	if (email != NULL)
		vault_record_set(r, "email", email);
	if (postal != NULL)
		vault_record_set(r, "postal_address", postal);
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	vault_close(v);
	return tok;
}

/*
 * As shipping, in a child: read a and b whole; issue a token of c's postal
 * address and detokenize it. d is never touched.
 */
static void
shipping_touches(const char *a, const char *b, const char *c)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct vault *v;
		struct vault_record *r;
		struct vault_detokenized *res;
		char *t;
		if (setgroups(0, NULL) != 0 || setresgid(GID_SHIPPING, GID_SHIPPING,
		    GID_SHIPPING) != 0 || vault_connect(srv.socket, &v) != 0)
			_exit(90);
		if (vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, a, NULL, 0, 0, &r) != 0)
			_exit(91);
		vault_record_free(r);
		if (vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, b, NULL, 0, 0, &r) != 0)
			_exit(92);
		vault_record_free(r);
		if (vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, c, "postal_address",
		    VAULT_TOKEN_OPAQUE, &t) != 0)
			_exit(93);
		const char *ts[1] = { t };
		if (vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, ts, 1, &res) != 0 ||
		    res[0].error != 0)
			_exit(94);
		vault_detokenized_free(res, 1);
		vault_free(t);
		vault_close(v);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "shipping's requests failed: %d",
	    WEXITSTATUS(st));
}

static void
report(struct proc_run *r, const char *scope, const char *name, const char *out)
{
	const char *args[16] = { "breach", "report", scope };
	size_t n = 3;
	if (name != NULL)
		args[n++] = name;
	args[n++] = "--from";
	args[n++] = from_arg;
	args[n++] = "--to";
	args[n++] = to_arg;
	if (out != NULL) {
		args[n++] = "--notify";
		args[n++] = "--out";
		args[n++] = out;
	}
	args[n] = NULL;
	vaultctl_run(r, srv.socket, NULL, args, 0);
}

static char *a, *b, *c, *d;

static void
scenario(void)
{
	a = create("Alice", "alice@example.com", "1 Main Street");
	b = create("Bob", NULL, "2 Oak Avenue");
	c = create("Carol", "carol@example.com", "3 Pine Road");
	d = create("Dave", "dave@example.com", "4 Elm Lane");
	shipping_touches(a, b, c);
	/* Alice's record goes: listed as deleted, nothing to contact. */
	struct vault *v = connect_as(0);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, a,
	    VAULT_DELETE_ADMINISTRATIVE), 0, "%s", vault_last_message(v));
	vault_close(v);
}

Test(breach, lists_exactly_the_records_the_client_received)
{
	struct proc_run r;
	char want[300];
	scenario();
	report(&r, "--client", "shipping", NULL);
	assert_exit(&r, 0);
	snprintf(want, sizeof(want), "record %s fields=first_name,last_name,postal_address "
	    "clients=shipping\n", b);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	/* A token of c's postal address, issued and detokenized: that field only. */
	snprintf(want, sizeof(want), "record %s fields=postal_address clients=shipping\n", c);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "deleted at "), "%s", r.out);
	cr_assert_not_null(strstr(r.out, " fields=first_name,last_name,postal_address "
	    "clients=shipping\n"), "%s", r.out);
	cr_assert_null(strstr(r.out, a), "a deleted record is not named: %s", r.out);
	cr_assert_null(strstr(r.out, d), "d was never touched by shipping: %s", r.out);
	cr_assert_not_null(strstr(r.out, "2 people still in the vault, 1 deleted"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "field postal_address: 3 records, 2 people\n"), "%s",
	    r.out);
	cr_assert_not_null(strstr(r.out, "field first_name: 2 records, 1 people\n"), "%s", r.out);
	proc_run_free(&r);

	/* --all: the admin created all four, so all four show. */
	report(&r, "--all", NULL, NULL);
	assert_exit(&r, 0);
	snprintf(want, sizeof(want), "record %s ", d);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	proc_run_free(&r);
	/* The other client touched nothing. */
	report(&r, "--client", "other", NULL);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "0 people still in the vault, 0 deleted"), "%s", r.out);
	proc_run_free(&r);
}

Test(breach, notify_writes_a_signed_list_of_contact_channels)
{
	struct proc_run r;
	char out[600], sig[620];
	struct stat st;
	scenario();
	vaultd_path(&srv, "breach-notify.json", out, sizeof(out));
	snprintf(sig, sizeof(sig), "%s.sig", out);
	report(&r, "--client", "shipping", out);
	assert_exit(&r, 0);
	cr_assert_null(strstr(r.out, "carol@"), "contact data never on stdout: %s", r.out);
	cr_assert_null(strstr(r.err, "carol@"), "%s", r.err);
	proc_run_free(&r);
	cr_assert_eq(stat(out, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);

	json_error_t jerr;
	json_t *doc = json_load_file(out, 0, &jerr);
	cr_assert_not_null(doc, "%s", jerr.text);
	cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "breach-notification");
	json_t *people = json_object_get(doc, "people"), *p;
	size_t i;
	int saw_b = 0, saw_c = 0;
	cr_assert_eq(json_array_size(people), 2);
	json_array_foreach(people, i, p) {
		const char *rec = json_string_value(json_object_get(p, "record"));
		const char *ch = json_string_value(json_object_get(p, "channel"));
		if (strcmp(rec, b) == 0) {
			/* No email: the postal address. */
			saw_b = 1;
			cr_assert_str_eq(ch, "postal");
			cr_assert_str_eq(json_string_value(json_object_get(p, "postal_address")),
			    "2 Oak Avenue");
		} else if (strcmp(rec, c) == 0) {
			saw_c = 1;
			cr_assert_str_eq(ch, "email");
			cr_assert_str_eq(json_string_value(json_object_get(p, "email")),
			    "carol@example.com");
		}
	}
	cr_assert(saw_b && saw_c);
	json_t *counts = json_object_get(doc, "counts");
	cr_assert_eq(json_integer_value(json_object_get(counts, "people")), 2);
	cr_assert_eq(json_integer_value(json_object_get(counts, "records")), 3);
	cr_assert_eq(json_integer_value(json_object_get(counts, "deleted_records")), 1);
	json_decref(doc);
	size_t len;
	char *text = read_file_all(out, &len);
	cr_assert_null(strstr(text, "alice"), "the deleted person's data: %s", text);
	cr_assert_null(strstr(text, "dave"), "an untouched person: %s", text);
	free(text);

	const char *vargs[] = { "export", "verify", out, NULL };
	vaultctl_run(&r, srv.socket, NULL, vargs, 0);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "signature valid"), "%s", r.out);
	proc_run_free(&r);
	/* One byte changed: INVALID. */
	int fd = open(out, O_WRONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, "X", 1, 5), 1);
	close(fd);
	vaultctl_run(&r, srv.socket, NULL, vargs, 0);
	assert_exit(&r, 1);
	proc_run_free(&r);
	unlink(out);
	unlink(sig);

	/* The list is for purpose security only. */
	const char *largs[] = { "-p", "legal", "breach", "report", "--client", "shipping",
		"--from", from_arg, "--to", to_arg, "--notify", "--out", out, NULL };
	vaultctl_run(&r, srv.socket, NULL, largs, 0);
	cr_assert_neq(r.status, 0);
	cr_assert_not_null(strstr(r.err, "purpose security only"), "%s", r.err);
	cr_assert_neq(access(out, F_OK), 0, "no file left behind");
	proc_run_free(&r);

	/* The report is audited, naming the admin client. */
	const char *qargs[] = { "audit", "query", "--client", "admin", NULL };
	vaultctl_run(&r, srv.socket, NULL, qargs, 0);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, " admin uid=0 security breach_report ok "), "%s", r.out);
	cr_assert_not_null(strstr(r.out, " legal breach_report VAULT_E_DENIED "), "%s", r.out);
	proc_run_free(&r);
}

Test(breach, a_client_that_is_not_admin_is_denied)
{
	struct vault *v = connect_as(GID_SHIPPING);
	char *res = NULL;
	int rc = vault_call_json(v, "breach_report", VAULT_PURPOSE_SECURITY,
	    "{\"all\":true,\"from\":0}", &res);
	cr_assert_eq(rc, VAULT_E_DENIED, "%s", vault_error_name(rc));
	cr_assert_null(res);
	vault_close(v);
}

Test(breach, a_trail_damaged_inside_the_window_is_refused)
{
	struct proc_run r;
	char path[600];
	scenario();
	/* Flip one byte of shipping's first read entry, as an intruder hiding it would. */
	vaultd_path(&srv, "audit/audit.log", path, sizeof(path));
	size_t len;
	char *t = read_file_all(path, &len);
	cr_assert_not_null(t);
	char *e = strstr(t, "\"client\":\"shipping\"");
	cr_assert_not_null(e, "%s", t);
	char *op = strstr(e, "\"op\":\"read\"");
	cr_assert_not_null(op);
	const char *seqp = strstr(e, "\"seq\":");
	cr_assert_not_null(seqp);
	unsigned long long seq = strtoull(seqp + 6, NULL, 10);
	int fd = open(path, O_WRONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, "R", 1, (off_t)(op - t) + 6), 1);
	close(fd);
	free(t);
	report(&r, "--client", "shipping", NULL);
	cr_assert_neq(r.status, 0, "%s", r.out);
	char want[120];
	snprintf(want, sizeof(want), "audit trail damaged from entry %llu on", seq);
	cr_assert_not_null(strstr(r.err, want), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "inside the window"), "%s", r.err);
	cr_assert_null(strstr(r.out, "record "), "nothing listed: %s", r.out);
	proc_run_free(&r);
}

Test(breach, damage_after_the_window_leaves_the_window_verified)
{
	struct proc_run r;
	char path[600], to[32], want[300];
	scenario();
	/* The window ends now; the next second, one more read, then damaged. */
	time_t end = time(NULL);
	snprintf(to, sizeof(to), "%lld", (long long)end);
	while (time(NULL) == end)
		usleep(20000);
	shipping_touches(b, b, b);
	vaultd_path(&srv, "audit/audit.log", path, sizeof(path));
	size_t len;
	char *t = read_file_all(path, &len);
	cr_assert_not_null(t);
	char *last = t + len - 1;
	while (last > t && last[-1] != '\n')
		last--;
	char *op = strstr(last, "\"op\":\"");
	cr_assert_not_null(op);
	int fd = open(path, O_WRONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, "X", 1, (off_t)(op - t) + 6), 1);
	close(fd);
	free(t);
	const char *args[] = { "breach", "report", "--client", "shipping", "--from", from_arg,
		"--to", to, NULL };
	vaultctl_run(&r, srv.socket, NULL, args, 0);
	assert_exit(&r, 0);
	snprintf(want, sizeof(want), "record %s fields=postal_address clients=shipping\n", c);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "note: the trail is damaged after the window"), "%s",
	    r.out);
	proc_run_free(&r);
	/* A window reaching the damage: refused. */
	report(&r, "--client", "shipping", NULL);
	cr_assert_neq(r.status, 0, "%s", r.out);
	cr_assert_not_null(strstr(r.err, "inside the window"), "%s", r.err);
	proc_run_free(&r);
}
