/*
 * test_feeds.c - end-to-end: deletion feeds. Clients of the README's
 * example policy (shipping, payments, marketing; admin) run as processes
 * of their own gids, so the server tells them apart by SO_PEERCRED alone.
 * A deletion reaches exactly the clients that received the record's data
 * (values, masked values or tokens), each in its own feed; a client can
 * neither read nor acknowledge another's feed; notices and
 * acknowledgements survive kill -9; a second read by a recorded client
 * writes nothing. Needs root (to switch gids).
 */
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <msgpack.h>
#include <jansson.h>
#include <vault/vault.h>

#include "harness.h"

#define GID_SHIPPING 52001
#define GID_PAYMENTS 52002
#define GID_MARKETING 52003

static struct vaultd_proc srv;
static char policy_path[600];

static const char policy_text[] =
    "[client admin]\n"
    "gids = 0\n"
    "admin = true\n"
    "delete = true\n"
    "privacy = true\n"
    "transactions = true\n"
    "[access admin transactional]\n"
    "* = plain\n"
    "[access admin security]\n"
    "* = plain\n"
    "[client shipping]\n"
    "gids = 52001\n"
    "[access shipping transactional]\n"
    "first_name = plain\n"
    "last_name = plain\n"
    "postal_address = plain\n"
    "[client payments]\n"
    "gids = 52002\n"
    "[access payments transactional]\n"
    "card_number = masked\n"
    "card_expiry = plain\n"
    "email = token\n"
    "[client marketing]\n"
    "gids = 52003\n"
    "list = true\n"
    "[access marketing marketing]\n"
    "first_name = plain\n"
    "email = plain\n";

static void
setup(void)
{
	cr_assert_eq(geteuid(), 0, "the feed tests switch gids and need root");
	char ini[700];
	snprintf(policy_path, sizeof(policy_path), "/tmp/vault-feeds-%d.ini", (int)getpid());
	FILE *f = fopen(policy_path, "w");
	cr_assert_not_null(f);
	fputs(policy_text, f);
	fclose(f);
	cr_assert_eq(chmod(policy_path, 0644), 0);
	/* Notices are overdue after a second: the overdue test polls for it. */
	snprintf(ini, sizeof(ini), "[policy]\nfile = %s\n[privacy]\ndeletion_ack_seconds = 1\n",
	    policy_path);
	vaultd_start(&srv, ini);
}

static void
teardown(void)
{
	unlink(policy_path);
	vaultd_finish(&srv);
}

TestSuite(feeds, .init = setup, .fini = teardown, .timeout = 60);

/* Run fn as a process of group gid; its output comes back as a string. */
static char *
as_group(gid_t gid, void (*fn)(struct vault *v, FILE *out, void *arg), void *arg)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		FILE *out = fdopen(fds[1], "w");
		if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0)
			_exit(90);
		struct vault *v;
		if (vault_connect(srv.socket, &v) != 0) {
			fprintf(out, "connect failed\n");
			_exit(0);
		}
		fn(v, out, arg);
		vault_close(v);
		fclose(out);
		_exit(0);
	}
	close(fds[1]);
	char *buf = calloc(1, 65536);
	size_t n = 0;
	ssize_t r;
	while ((r = read(fds[0], buf + n, 65535 - n)) > 0)
		n += (size_t)r;
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
	return buf;
}

static char *
create_person(void)
{
	struct vault *v;
	struct vault_record *r;
	char *tok;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	vault_record_new(&r);
	vault_record_set(r, "first_name", "Jane");
	vault_record_set(r, "last_name", "Doe");
	vault_record_set(r, "postal_address", "1 Main Street\nSan Diego, CA 92101");
	vault_record_set(r, "email", "jane.doe@example.com");
	vault_record_set(r, "card_number", "4242 4242 4242 4242");
	vault_record_set(r, "card_expiry", "12/39");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	vault_close(v);
	return tok;
}

static void
delete_as_admin(const char *tok)
{
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, tok,
	    VAULT_DELETE_ADMINISTRATIVE), 0, "%s", vault_last_message(v));
	vault_close(v);
}

struct read_arg {
	const char *token;
	enum vault_purpose purpose;
};

static void
do_read(struct vault *v, FILE *out, void *p)
{
	struct read_arg *a = p;
	struct vault_record *r;
	int rc = vault_read(v, a->purpose, a->token, NULL, 0, 0, &r);
	if (rc != 0) {
		fprintf(out, "error %s\n", vault_error_name(rc));
		return;
	}
	fprintf(out, "read %zu fields\n", vault_record_field_count(r));
	vault_record_free(r);
}

/* "notice ID record TOKEN fields a,b=TOKEN,...": one line per pending notice. */
static void
do_pending(struct vault *v, FILE *out, void *p)
{
	(void)p;
	struct vault_deletion_notice *d;
	size_t n;
	int more;
	int rc = vault_deletions_pending(v, 0, 0, &d, &n, &more);
	if (rc != 0) {
		fprintf(out, "error %s\n", vault_error_name(rc));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "notice %llu record %s reason %s fields ",
		    (unsigned long long)d[i].id, d[i].record, d[i].reason);
		for (size_t j = 0; j < d[i].nfields; j++)
			fprintf(out, "%s%s%s%s", j ? "," : "", d[i].fields[j],
			    d[i].tokens[j] ? "=" : "", d[i].tokens[j] ? d[i].tokens[j] : "");
		fputc('\n', out);
	}
	fprintf(out, "%zu pending\n", n);
	vault_deletion_notices_free(d, n);
}

struct ack_arg {
	uint64_t ids[4];
	size_t n;
};

static void
do_ack(struct vault *v, FILE *out, void *p)
{
	struct ack_arg *a = p;
	int rc = vault_deletions_ack(v, a->ids, a->n);
	fprintf(out, "%s %s\n", rc ? vault_error_name(rc) : "ok", rc ? vault_last_message(v) : "");
}

static uint64_t
first_notice_id(const char *out)
{
	const char *p = strstr(out, "notice ");
	cr_assert_not_null(p, "%s", out);
	return strtoull(p + 7, NULL, 10);
}

Test(feeds, a_deletion_reaches_exactly_the_clients_that_received_data)
{
	char *tok = create_person();
	struct read_arg tr = { tok, VAULT_PURPOSE_TRANSACTIONAL };
	char *out = as_group(GID_SHIPPING, do_read, &tr);
	cr_assert_str_eq(out, "read 3 fields\n");
	free(out);
	out = as_group(GID_PAYMENTS, do_read, &tr);
	cr_assert_str_eq(out, "read 3 fields\n");
	free(out);
	/* marketing never reads this record: it must not hear of it. */
	delete_as_admin(tok);

	char want[300];
	out = as_group(GID_SHIPPING, do_pending, NULL);
	snprintf(want, sizeof(want), "record %s reason administrative fields "
	    "first_name,last_name,postal_address\n1 pending\n", tok);
	cr_assert_not_null(strstr(out, want), "%s", out);
	free(out);
	/* payments got the email as a token: its notice names that token. */
	out = as_group(GID_PAYMENTS, do_pending, NULL);
	snprintf(want, sizeof(want), "record %s reason administrative fields ", tok);
	cr_assert_not_null(strstr(out, want), "%s", out);
	cr_assert_not_null(strstr(out, "card_number,card_expiry,email=tok_") ||
	    strstr(out, "email=tok_"), "%s", out);
	cr_assert_not_null(strstr(out, "1 pending\n"), "%s", out);
	cr_assert_null(strstr(out, "first_name"), "%s", out);
	free(out);
	out = as_group(GID_MARKETING, do_pending, NULL);
	cr_assert_str_eq(out, "0 pending\n");
	free(out);
	/* The admin created it: it sent the values, so it holds them and is told too. */
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	struct vault_deletion_notice *d;
	size_t n;
	cr_assert_eq(vault_deletions_pending(v, 0, 0, &d, &n, NULL), 0);
	cr_assert_eq(n, 1, "the creating client's feed");
	cr_assert_str_eq(d[0].record, tok);
	vault_deletion_notices_free(d, n);
	vault_close(v);
	free(tok);
}

Test(feeds, notices_and_acks_survive_kill_9)
{
	char *tok = create_person();
	struct read_arg tr = { tok, VAULT_PURPOSE_TRANSACTIONAL };
	free(as_group(GID_SHIPPING, do_read, &tr));
	delete_as_admin(tok);
	vaultd_kill(&srv);
	vaultd_restart(&srv);
	char *out = as_group(GID_SHIPPING, do_pending, NULL);
	cr_assert_not_null(strstr(out, "1 pending\n"), "%s", out);
	struct ack_arg a = { { first_notice_id(out) }, 1 };
	free(out);
	out = as_group(GID_SHIPPING, do_ack, &a);
	cr_assert_str_eq(out, "ok \n");
	free(out);
	vaultd_kill(&srv);
	vaultd_restart(&srv);
	out = as_group(GID_SHIPPING, do_pending, NULL);
	cr_assert_str_eq(out, "0 pending\n");
	free(out);
	out = as_group(GID_SHIPPING, do_ack, &a);
	cr_assert_not_null(strstr(out, "VAULT_E_ALREADY_ACKED"), "%s", out);
	free(out);
	free(tok);
}

Test(feeds, a_client_cannot_read_or_ack_another_clients_feed)
{
	char *tok = create_person();
	struct read_arg tr = { tok, VAULT_PURPOSE_TRANSACTIONAL };
	free(as_group(GID_SHIPPING, do_read, &tr));
	delete_as_admin(tok);
	char *out = as_group(GID_SHIPPING, do_pending, NULL);
	uint64_t id = first_notice_id(out);
	free(out);

	/* payments sees nothing of it, and cannot acknowledge it. */
	out = as_group(GID_PAYMENTS, do_pending, NULL);
	cr_assert_str_eq(out, "0 pending\n");
	free(out);
	struct ack_arg other = { { id }, 1 };
	out = as_group(GID_PAYMENTS, do_ack, &other);
	cr_assert_not_null(strstr(out, "VAULT_E_NOT_FOUND no such notice in this client's "
	    "deletion feed"), "%s", out);
	free(out);
	/* Naming a client is not an argument the operation takes. */
	struct vault *v;
	char *res = NULL;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_call_json(v, "deletions_pending", 0, "{\"client\":\"shipping\"}",
	    &res), VAULT_E_PROTO_UNKNOWN_ARG);
	vault_close(v);

	/* Unknown ids and an id twice fail as a whole: nothing acknowledged. */
	struct ack_arg unknown = { { id, 987654 }, 2 };
	out = as_group(GID_SHIPPING, do_ack, &unknown);
	cr_assert_not_null(strstr(out, "VAULT_E_NOT_FOUND"), "%s", out);
	free(out);
	struct ack_arg twice = { { id, id }, 2 };
	out = as_group(GID_SHIPPING, do_ack, &twice);
	cr_assert_not_null(strstr(out, "VAULT_E_ALREADY_ACKED that notice was acknowledged "
	    "before"), "%s", out);
	free(out);
	out = as_group(GID_SHIPPING, do_pending, NULL);
	cr_assert_not_null(strstr(out, "1 pending\n"), "%s", out);
	free(out);
	struct ack_arg once = { { id }, 1 };
	out = as_group(GID_SHIPPING, do_ack, &once);
	cr_assert_str_eq(out, "ok \n");
	free(out);
	free(tok);
}

/* Group commits so far: metrics' commit histogram's count (admin). */
static long long
commits(void)
{
	struct vault *v;
	char *res = NULL;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_call_json(v, "metrics", 0, NULL, &res), 0, "%s", vault_last_message(v));
	json_t *j = json_loads(res, 0, NULL);
	cr_assert_not_null(j);
	long long n = json_integer_value(json_object_get(json_object_get(j, "commit"), "count"));
	json_decref(j);
	vault_free(res);
	vault_close(v);
	return n;
}

Test(feeds, only_a_new_recipient_makes_a_read_write)
{
	char *tok = create_person();
	struct read_arg tr = { tok, VAULT_PURPOSE_TRANSACTIONAL };
	long long before = commits();
	/* The creating client holds what it sent: its read is no write. */
	struct vault *cv;
	struct vault_record *cr;
	cr_assert_eq(vault_connect(srv.socket, &cv), 0);
	cr_assert_eq(vault_read(cv, VAULT_PURPOSE_TRANSACTIONAL, tok, NULL, 0, 0, &cr), 0);
	vault_record_free(cr);
	vault_close(cv);
	cr_assert_eq(commits(), before, "the creator's read wrote");
	free(as_group(GID_SHIPPING, do_read, &tr));
	cr_assert_eq(commits(), before + 1, "a new recipient's read is a write");
	free(as_group(GID_SHIPPING, do_read, &tr));
	free(as_group(GID_SHIPPING, do_read, &tr));
	cr_assert_eq(commits(), before + 1, "a recorded client's read wrote");
	free(as_group(GID_PAYMENTS, do_read, &tr));
	cr_assert_eq(commits(), before + 2);
	/* One access, one audit entry: the read's (the recipients write adds none). */
	struct vault *v;
	char *res = NULL;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_call_json(v, "audit_query", 0, "{\"client\":\"shipping\"}", &res), 0);
	json_t *j = json_loads(res, 0, NULL), *e;
	size_t i, reads = 0;
	json_array_foreach(json_object_get(j, "entries"), i, e) {
		cr_assert_str_eq(json_string_value(json_object_get(e, "op")), "read");
		reads++;
	}
	cr_assert_eq(reads, 3);
	json_decref(j);
	vault_free(res);
	vault_close(v);
	free(tok);
}

/* op with args (printf format) as the admin: its result, or NULL and *code. */
__attribute__((format(printf, 4, 5)))
static json_t *
call(struct vault *v, int *code, const char *op, const char *fmt, ...)
{
	char args[1024], *out = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	enum vault_purpose p = strcmp(op, "create") == 0 || strcmp(op, "transaction") == 0 ?
	    VAULT_PURPOSE_TRANSACTIONAL : 0;
	*code = vault_call_json(v, op, p, args, &out);
	if (*code != 0)
		return NULL;
	json_t *j = json_loads(out, 0, NULL);
	cr_assert_not_null(j);
	vault_free(out);
	return j;
}

static json_t *
must(json_t *j, const int *code, const char *what)
{
	cr_assert_not_null(j, "%s: %s", what, vault_error_name(*code));
	return j;
}

/* Whether request_list overdue lists request id (and says acks_overdue). */
static int
listed_overdue(struct vault *v, long long id)
{
	int code, found = 0;
	json_t *r = must(call(v, &code, "request_list", "{\"overdue\":true}"), &code, "list"), *e;
	size_t i;
	json_array_foreach(json_object_get(r, "requests"), i, e)
		if (json_integer_value(json_object_get(e, "request")) == id &&
		    json_is_true(json_object_get(e, "acks_overdue")))
			found = 1;
	json_decref(r);
	return found;
}

/* The entry of recipients (request_show) naming client. */
static json_t *
recipient_of(json_t *recipients, const char *client)
{
	size_t i;
	json_t *e;
	json_array_foreach(recipients, i, e)
		if (strcmp(json_string_value(json_object_get(e, "client")), client) == 0)
			return e;
	cr_assert_fail("no recipient %s", client);
	return NULL;
}

Test(feeds, a_privacy_request_lists_its_recipients_and_their_acks)
{
	struct vault *v;
	int code;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	json_t *r = must(call(v, &code, "create", "{\"fields\":{\"first_name\":\"Ada\","
	    "\"last_name\":\"Lovelace\",\"email\":\"ada@example.org\",\"phone\":"
	    "\"+14155550101\",\"postal_address\":\"12 Analytical Row, London\"}}"), &code, "create");
	char *tok = strdup(json_string_value(json_object_get(r, "record")));
	json_decref(r);
	json_decref(must(call(v, &code, "transaction", "{\"record\":\"%s\",\"reference\":"
	    "\"ORD-1001\",\"date\":\"2026-11-02\",\"amount\":\"49.90\"}", tok), &code, "tx"));
	struct read_arg tr = { tok, VAULT_PURPOSE_TRANSACTIONAL };
	free(as_group(GID_SHIPPING, do_read, &tr));

	r = must(call(v, &code, "request_open", "{\"kind\":\"delete\",\"channel\":\"phone\","
	    "\"requester\":\"self\"}"), &code, "open");
	long long id = json_integer_value(json_object_get(r, "request"));
	json_decref(r);
	json_decref(must(call(v, &code, "request_verify", "{\"request\":%lld,\"claims\":{"
	    "\"first_name\":\"Ada\",\"last_name\":\"Lovelace\",\"email\":\"ada@example.org\","
	    "\"transaction\":{\"reference\":\"ORD-1001\"}}}", id), &code, "verify"));
	r = must(call(v, &code, "request_complete", "{\"request\":%lld}", id), &code, "complete");
	const char *receipt = json_string_value(json_object_get(r, "receipt"));
	cr_assert_not_null(receipt);

	/* The signed receipt names the notified client and its notice. */
	char *out = as_group(GID_SHIPPING, do_pending, NULL);
	uint64_t notice = first_notice_id(out);
	cr_assert_not_null(strstr(out, "reason subject_request"), "%s", out);
	free(out);
	char want[120];
	snprintf(want, sizeof(want), "{\"client\":\"shipping\",\"notice\":%llu}",
	    (unsigned long long)notice);
	cr_assert_not_null(strstr(receipt, want), "%s", receipt);
	cr_assert_null(strstr(receipt, "payments"), "%s", receipt);
	/* The admin created the record (it sent the values): notified too. */
	cr_assert_not_null(strstr(receipt, "{\"client\":\"admin\",\"notice\":"), "%s", receipt);
	json_decref(r);

	/* request_show: notified, not acknowledged; overdue after a second. */
	r = must(call(v, &code, "request_show", "{\"request\":%lld}", id), &code, "show");
	json_t *rc = json_object_get(r, "recipients");
	cr_assert_eq(json_array_size(rc), 2, "admin (the creator) and shipping");
	json_t *e = recipient_of(rc, "shipping");
	cr_assert(json_is_null(json_object_get(e, "acked_at")));
	const char *acks = json_string_value(json_object_get(r, "acknowledgements"));
	cr_assert_not_null(acks);
	cr_assert_not_null(strstr(acks, "\"pending\":2"), "%s", acks);
	json_decref(r);
	time_t deadline = time(NULL) + 10;
	while (!listed_overdue(v, id) && time(NULL) < deadline)
		usleep(50000);
	cr_assert(listed_overdue(v, id), "requests list --overdue lists the late ack");
	struct vault_status st;
	cr_assert_eq(vault_status(v, &st), 0);
	cr_assert_geq(st.deletion_acks_overdue, 1);

	struct proc_run pr;
	char ids[32];
	snprintf(ids, sizeof(ids), "%lld", id);
	const char *show[] = { "requests", "show", ids, NULL };
	vaultctl_run(&pr, srv.socket, NULL, show, 0);
	assert_exit(&pr, 0);
	snprintf(want, sizeof(want), "notified: shipping notice %llu at ", (unsigned long long)notice);
	cr_assert_not_null(strstr(pr.out, want), "%s", pr.out);
	cr_assert_not_null(strstr(pr.out, "not acknowledged OVERDUE"), "%s", pr.out);
	proc_run_free(&pr);

	/* The acks: shown with their time, and the request is no longer overdue
	 * once both recipients acknowledged. */
	struct ack_arg a = { { notice }, 1 };
	out = as_group(GID_SHIPPING, do_ack, &a);
	cr_assert_str_eq(out, "ok \n");
	free(out);
	r = must(call(v, &code, "request_show", "{\"request\":%lld}", id), &code, "show");
	e = recipient_of(json_object_get(r, "recipients"), "shipping");
	cr_assert(json_is_integer(json_object_get(e, "acked_at")));
	json_decref(r);
	cr_assert(listed_overdue(v, id), "the admin's notice is still not acknowledged");
	struct vault_deletion_notice *d;
	size_t nd;
	cr_assert_eq(vault_deletions_pending(v, 0, 0, &d, &nd, NULL), 0);
	cr_assert_eq(nd, 1);
	uint64_t mine = d[0].id;
	vault_deletion_notices_free(d, nd);
	cr_assert_eq(vault_deletions_ack(v, &mine, 1), 0, "%s", vault_last_message(v));
	cr_assert(!listed_overdue(v, id));

	/* The acknowledgements, signed as of now beside the receipt: both, with their times. */
	char file[600], fargs[700];
	vaultd_path(&srv, "receipt.json", file, sizeof(file));
	const char *save[] = { "requests", "receipt", ids, "--out", file, NULL };
	vaultctl_run(&pr, srv.socket, NULL, save, 0);
	assert_exit(&pr, 0);
	cr_assert_not_null(strstr(pr.out, "acknowledgements as of now written to"), "%s", pr.out);
	proc_run_free(&pr);
	snprintf(fargs, sizeof(fargs), "%s.acks", file);
	size_t alen;
	char *doc = read_file_all(fargs, &alen);
	cr_assert_not_null(doc);
	cr_assert_not_null(strstr(doc, "\"type\":\"deletion-acknowledgements\""), "%s", doc);
	cr_assert_not_null(strstr(doc, "\"pending\":0"), "%s", doc);
	cr_assert_not_null(strstr(doc, "\"client\":\"shipping\""), "%s", doc);
	cr_assert_null(strstr(doc, "\"acked_at\":null"), "%s", doc);
	free(doc);
	const char *verify[] = { "export", "verify", fargs, NULL };
	vaultctl_run(&pr, srv.socket, NULL, verify, 0);
	assert_exit(&pr, 0);
	cr_assert_not_null(strstr(pr.out, "signature valid"), "%s", pr.out);
	proc_run_free(&pr);
	/* The ack is in the trail, naming the client. */
	r = must(call(v, &code, "audit_query", "{\"client\":\"shipping\"}"), &code, "audit");
	size_t i;
	int acked = 0;
	json_array_foreach(json_object_get(r, "entries"), i, e)
		acked |= strcmp(json_string_value(json_object_get(e, "op")), "deletions_ack") == 0 &&
		    strcmp(json_string_value(json_object_get(e, "outcome")), "ok") == 0;
	cr_assert(acked, "deletions_ack audited");
	json_decref(r);
	vault_close(v);
	free(tok);
}

Test(feeds, vaultctl_deletions_pending_and_ack)
{
	/* The admin created (and reads) the record: its own feed gets the notice. */
	char *tok = create_person();
	struct vault *v;
	struct vault_record *r;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok, NULL, 0, 0, &r), 0);
	vault_record_free(r);
	vault_close(v);
	struct proc_run pr;
	const char *pending[] = { "deletions", "pending", NULL };
	vaultctl_run(&pr, srv.socket, NULL, pending, 0);
	assert_exit(&pr, 0);
	cr_assert_str_eq(pr.out, "no deletions pending\n");
	proc_run_free(&pr);
	delete_as_admin(tok);

	vaultctl_run(&pr, srv.socket, NULL, pending, 0);
	assert_exit(&pr, 0);
	char want[200];
	snprintf(want, sizeof(want), " record %s deleted ", tok);
	cr_assert_not_null(strstr(pr.out, want), "%s", pr.out);
	cr_assert_not_null(strstr(pr.out, " reason administrative fields "), "%s", pr.out);
	cr_assert_not_null(strstr(pr.out, "postal_address"), "%s", pr.out);
	char id[24];
	cr_assert_eq(sscanf(pr.out, "notice %23s ", id), 1, "%s", pr.out);
	proc_run_free(&pr);

	const char *bad[] = { "deletions", "ack", "x", NULL };
	vaultctl_run(&pr, srv.socket, NULL, bad, 0);
	cr_assert_neq(pr.status, 0);
	cr_assert_not_null(strstr(pr.err, "a notice id"), "%s", pr.err);
	proc_run_free(&pr);
	const char *ack[] = { "deletions", "ack", id, NULL };
	vaultctl_run(&pr, srv.socket, NULL, ack, 0);
	assert_exit(&pr, 0);
	cr_assert_str_eq(pr.out, "acknowledged 1 notice\n");
	proc_run_free(&pr);
	vaultctl_run(&pr, srv.socket, NULL, ack, 0);
	cr_assert_neq(pr.status, 0);
	cr_assert_not_null(strstr(pr.err, "VAULT_E_ALREADY_ACKED"), "%s", pr.err);
	proc_run_free(&pr);
	vaultctl_run(&pr, srv.socket, NULL, pending, 0);
	assert_exit(&pr, 0);
	cr_assert_str_eq(pr.out, "no deletions pending\n");
	proc_run_free(&pr);
	free(tok);
}

/* One request {v, id, op[, purpose, record]} on fd (deletions_ack: ids [999999]). */
static void
raw_request(int fd, uint64_t id, const char *op, const char *record)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int ack = strcmp(op, "deletions_ack") == 0;
	msgpack_pack_map(&pk, record ? 5 : ack ? 4 : 3);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_uint64(&pk, id);
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, op, strlen(op));
	if (record) {
		msgpack_pack_str_with_body(&pk, "purpose", 7);
		msgpack_pack_str_with_body(&pk, "transactional", 13);
		msgpack_pack_str_with_body(&pk, "record", 6);
		msgpack_pack_str_with_body(&pk, record, strlen(record));
	}
	if (ack) {
		msgpack_pack_str_with_body(&pk, "ids", 3);
		msgpack_pack_array(&pk, 1);
		msgpack_pack_uint64(&pk, 999999);
	}
	raw_send_frame(fd, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/* "id N DATA|audit|other" per reply, until the reply to request 3: a
 * deletions_ack queued behind the read's write, so a stray answer of the
 * read from the writer would come before it (writes answer in order). */
static void
do_raw_first_read(struct vault *v, FILE *out, void *arg)
{
	(void)v;
	int fd = vaultd_raw_connect(&srv, 10);
	raw_request(fd, 1, "read", arg);
	raw_request(fd, 2, "ping", NULL);
	raw_request(fd, 3, "deletions_ack", NULL);
	for (int i = 0; i < 4; i++) {
		struct raw_reply r;
		if (raw_recv_reply(fd, &r) != 0) {
			fprintf(out, "no reply\n");
			break;
		}
		const msgpack_object *o = NULL;
		for (uint32_t k = 0; k < r.root.via.map.size; k++)
			if (r.root.via.map.ptr[k].key.via.str.size == 2 &&
			    memcmp(r.root.via.map.ptr[k].key.via.str.ptr, "id", 2) == 0)
				o = &r.root.via.map.ptr[k].val;
		uint64_t id = o ? o->via.u64 : 0;
		fprintf(out, "id %llu %s\n", (unsigned long long)id,
		    memmem(r.body, r.len, "Jane", 4) ? "DATA" :
		    memmem(r.body, r.len, "VAULT_E_AUDIT", 13) ? "audit" : "other");
		raw_reply_free(&r);
		if (id == 3)
			break;
	}
	close(fd);
}

Test(feeds, a_first_read_whose_audit_entry_fails_answers_once_without_data)
{
	char *tok = create_person();
	cr_assert_eq(vaultd_stop(&srv), 0);
	FILE *cf = fopen(srv.config, "a");
	cr_assert_not_null(cf);
	fputs("[audit]\npath = /dev/full\n", cf);
	fclose(cf);
	vaultd_restart(&srv);
	/* The read goes to the writer, whose audit entry cannot be written:
	 * one VAULT_E_AUDIT reply, no data, then the ping's. */
	char *out = as_group(GID_SHIPPING, do_raw_first_read, tok);
	/* The ping may come first (a worker reply overtakes a write's). */
	cr_assert(strcmp(out, "id 1 audit\nid 2 other\nid 3 audit\n") == 0 ||
	    strcmp(out, "id 2 other\nid 1 audit\nid 3 audit\n") == 0, "%s", out);
	free(out);
	free(tok);
}
