/*
 * test_vaultctl.c - end-to-end: the vaultctl binary ($VAULTCTL) against a
 * real vaultd, run as a user would (fork/exec, stdin, stdout, stderr, exit
 * status): the README walkthrough, --json output, stdin and file values,
 * documents, usage errors, connection failures and per-token errors, and
 * the administration commands (keys, backup, unseal of a passphrase ring).
 *
 * --json output is parsed with jansson.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <vault/vault.h>

#include "harness.h"

static struct vaultd_proc srv;

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	vaultd_start(&srv, NULL);
}

static void
teardown(void)
{
	cr_assert_eq(vaultd_stop(&srv), 0, "vaultd must exit 0 on SIGTERM");
	vaultd_cleanup(&srv);
}

TestSuite(vaultctl, .init = setup, .fini = teardown, .timeout = 120);

/* Run vaultctl with args (NULL-terminated), feeding in (may be NULL) on its
 * standard input; with_socket puts "-s <the test server's socket>" first. */
static void
run_ctl_argv(struct proc_run *r, int with_socket, const char *in, const char *const *args)
{
	/* 30 s, as before (it was 30 s without output). */
	vaultctl_run(r, with_socket ? srv.socket : NULL, in, args, 30);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* vaultctl -s <socket> ARGS... */
#define CTL(r, ...) run_ctl_argv((r), 1, NULL, ARGS(__VA_ARGS__))
/* The same with a standard input. */
#define CTL_IN(r, in, ...) run_ctl_argv((r), 1, (in), ARGS(__VA_ARGS__))
/* Without -s: the caller chooses the socket. */
#define CTL_RAW(r, ...) run_ctl_argv((r), 0, NULL, ARGS(__VA_ARGS__))

/* The n-th line of s (0-based), into a static buffer; "" past the end. */
static const char *
line(const char *s, int n)
{
	static char buf[8192];
	for (int i = 0; i < n && s != NULL; i++) {
		s = strchr(s, '\n');
		if (s != NULL)
			s++;
	}
	if (s == NULL || *s == '\0')
		return "";
	size_t len = strcspn(s, "\n");
	cr_assert(len < sizeof(buf));
	memcpy(buf, s, len);
	buf[len] = '\0';
	return buf;
}

static int
count_lines(const char *s)
{
	int n = 0;
	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static json_t *
parse_json(const struct proc_run *r)
{
	json_error_t e;
	cr_assert_eq(count_lines(r->out), 1, "one JSON line: %s", r->out);
	json_t *j = json_loads(r->out, 0, &e);
	cr_assert_not_null(j, "not JSON (%s): %s", e.text, r->out);
	cr_assert(json_is_object(j));
	return j;
}

static const char *
jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	cr_assert(json_is_string(v), "%s is not a string", key);
	return json_string_value(v);
}

static json_int_t
jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	cr_assert(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

/* Create the walkthrough's record; returns its token (malloc'd). */
static char *
create_jane(void)
{
	struct proc_run r;
	CTL(&r, "-p", "transactional", "create", "first_name=  Jane ", "last_name=Doe",
	    "email=Jane.Doe@Example.COM", "phone=(858) 375-5875",
	    "card_number=4242 4242 4242 4242", "card_expiry=12/39");
	assert_exit(&r, 0);
	cr_assert_eq(count_lines(r.out), 1, "only the token: %s", r.out);
	cr_assert_str_empty(r.err);
	char *tok = strdup(line(r.out, 0));
	cr_assert(strncmp(tok, "rec_1_", 6) == 0, "token: %s", tok);
	proc_run_free(&r);
	return tok;
}

static json_int_t
status_value(const char *key)
{
	struct proc_run r;
	CTL(&r, "--json", "status");
	assert_exit(&r, 0);
	json_t *j = parse_json(&r);
	json_int_t n = jint(j, key);
	json_decref(j);
	proc_run_free(&r);
	return n;
}

Test(vaultctl, readme_walkthrough)
{
	struct proc_run r;

	CTL(&r, "ping");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "ok\n");
	proc_run_free(&r);

	CTL(&r, "status");
	assert_exit(&r, 0);
	cr_assert_str_eq(line(r.out, 0), "protocol version: 1");
	cr_assert_str_eq(line(r.out, 1), "records: 0");
	cr_assert_str_eq(line(r.out, 2), "tombstones: 0");
	cr_assert(strncmp(line(r.out, 3), "kek epoch: ", 11) == 0);
	cr_assert(strncmp(line(r.out, 4), "uptime: ", 8) == 0);
	cr_assert_str_eq(line(r.out, 5), "sealed: no");
	cr_assert_str_eq(line(r.out, 6), "security alerts: 0");
	cr_assert_str_eq(line(r.out, 7), "audit trail: ok");
	cr_assert_str_eq(line(r.out, 8), "rotation: none");
	cr_assert_str_eq(line(r.out, 9), "backups: ok");
	cr_assert(strncmp(line(r.out, 10), "version: ", 9) == 0, "%s", r.out);
	cr_assert_str_eq(line(r.out, 11), "deletion acks overdue: 0");
	/* The caller is an admin: then the counters of metrics follow (e2e-metrics). */
	cr_assert(strncmp(line(r.out, 12), "connections: ", 13) == 0, "%s", r.out);
	cr_assert_str_eq(line(r.out, 14), "errors: 0");
	cr_assert(strncmp(line(r.out, 17), "write queue: ", 13) == 0, "%s", r.out);
	cr_assert_eq(count_lines(r.out), 18, "%s", r.out);
	proc_run_free(&r);

	char *tok = create_jane();

	/* Every field, normalized, in the order the vault returns them. */
	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out,
	    "first_name: Jane\n"
	    "last_name: Doe\n"
	    "email: Jane.Doe@example.com\n"
	    "phone: +18583755875\n"
	    "card_number: 4242424242424242\n"
	    "card_expiry: 12/39\n"
	    "marketing opt-out: none\n");
	proc_run_free(&r);

	CTL(&r, "-p", "transactional", "read", tok, "email", "phone");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "email: Jane.Doe@example.com\nphone: +18583755875\n"
	    "marketing opt-out: none\n");
	proc_run_free(&r);

	CTL(&r, "-p", "transactional", "tokenize", tok, "email:opaque", "card_number:card",
	    "email:deterministic");
	assert_exit(&r, 0);
	cr_assert_eq(count_lines(r.out), 3);
	char opaque[256], card[256], det[256], f[64], k[64];
	cr_assert_eq(sscanf(line(r.out, 0), "%63s %63s %255s", f, k, opaque), 3);
	cr_assert_str_eq(f, "email");
	cr_assert_str_eq(k, "opaque");
	cr_assert(strncmp(opaque, "tok_1_", 6) == 0, "%s", opaque);
	cr_assert_eq(sscanf(line(r.out, 1), "%63s %63s %255s", f, k, card), 3);
	cr_assert_str_eq(f, "card_number");
	cr_assert_str_eq(k, "card");
	cr_assert_eq(strlen(card), 16);
	cr_assert_str_eq(card + 12, "4242", "card tokens keep the last four");
	cr_assert_str_neq(card, "4242424242424242");
	cr_assert_eq(sscanf(line(r.out, 2), "%63s %63s %255s", f, k, det), 3);
	cr_assert_str_eq(f, "email");
	cr_assert_str_eq(k, "deterministic");
	cr_assert(strncmp(det, "det_1_", 6) == 0, "%s", det);
	proc_run_free(&r);

	CTL(&r, "-p", "transactional", "detokenize", opaque, card, det);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out,
	    "email: Jane.Doe@example.com\n"
	    "card_number: 4242424242424242\n"
	    "email: Jane.Doe@example.com\n");
	proc_run_free(&r);

	cr_assert_eq(status_value("records"), 1);

	CTL(&r, "-p", "transactional", "delete", tok, "--reason", "subject_request");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "ok\n");
	proc_run_free(&r);

	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 1);
	cr_assert_str_empty(r.out);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_DELETED: ", 27) == 0, "stderr: %s", r.err);
	proc_run_free(&r);

	/* The opaque token now answers "deleted"; the card token is gone. */
	CTL(&r, "-p", "transactional", "detokenize", opaque, card);
	assert_exit(&r, 1);
	cr_assert(strncmp(line(r.out, 0), "error VAULT_E_DELETED: ", 23) == 0, "%s", r.out);
	cr_assert(strncmp(line(r.out, 1), "error VAULT_E_NOT_FOUND: ", 25) == 0, "%s", r.out);
	proc_run_free(&r);

	cr_assert_eq(status_value("records"), 0);
	cr_assert_eq(status_value("tombstones"), 1);
	free(tok);
}

Test(vaultctl, json_outputs)
{
	struct proc_run r;
	json_t *j, *a, *e;

	CTL(&r, "--json", "ping");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	proc_run_free(&r);

	CTL(&r, "--json", "-p", "transactional", "create", "email=Jane.Doe@Example.COM",
	    "card_number=4242424242424242", "postal_address=1 Main St");
	assert_exit(&r, 0);
	j = parse_json(&r);
	char *tok = strdup(jstr(j, "record"));
	cr_assert(strncmp(tok, "rec_1_", 6) == 0);
	json_decref(j);
	proc_run_free(&r);

	CTL(&r, "--json", "-p", "marketing", "read", tok);
	assert_exit(&r, 0);
	j = parse_json(&r);
	json_t *fields = json_object_get(j, "fields");
	cr_assert(json_is_object(fields));
	cr_assert_eq(json_object_size(fields), 3);
	cr_assert_str_eq(jstr(fields, "email"), "Jane.Doe@example.com");
	cr_assert_str_eq(jstr(fields, "card_number"), "4242424242424242");
	cr_assert_str_eq(jstr(fields, "postal_address"), "1 Main St");
	cr_assert_null(json_object_get(j, "documents"), "no documents unless asked");
	json_decref(j);
	proc_run_free(&r);

	CTL(&r, "--json", "-p", "transactional", "tokenize", tok, "card_number:card",
	    "email:deterministic");
	assert_exit(&r, 0);
	j = parse_json(&r);
	a = json_object_get(j, "tokens");
	cr_assert(json_is_array(a));
	cr_assert_eq(json_array_size(a), 2);
	cr_assert_str_eq(jstr(json_array_get(a, 0), "field"), "card_number");
	cr_assert_str_eq(jstr(json_array_get(a, 0), "kind"), "card");
	char *card = strdup(jstr(json_array_get(a, 0), "token"));
	cr_assert_eq(strlen(card), 16);
	cr_assert_str_eq(jstr(json_array_get(a, 1), "field"), "email");
	cr_assert_str_eq(jstr(json_array_get(a, 1), "kind"), "deterministic");
	char *det = strdup(jstr(json_array_get(a, 1), "token"));
	json_decref(j);
	proc_run_free(&r);

	const char *forged = "tok_1_forgedforgedforgedforgedforgedforgedforgedfo";
	CTL(&r, "--json", "-p", "security", "detokenize", det, forged, card);
	assert_exit(&r, 1);
	cr_assert_str_empty(r.err, "JSON mode keeps stderr quiet: %s", r.err);
	j = parse_json(&r);
	a = json_object_get(j, "results");
	cr_assert_eq(json_array_size(a), 3);
	e = json_array_get(a, 0);
	cr_assert_str_eq(jstr(e, "token"), det);
	cr_assert(json_is_true(json_object_get(e, "ok")));
	cr_assert_str_eq(jstr(e, "field"), "email");
	cr_assert_str_eq(jstr(e, "value"), "Jane.Doe@example.com");
	e = json_array_get(a, 1);
	cr_assert_str_eq(jstr(e, "token"), forged);
	cr_assert(json_is_false(json_object_get(e, "ok")));
	cr_assert_str_eq(jstr(e, "error"), "VAULT_E_BAD_TOKEN");
	cr_assert_eq(jint(e, "code"), VAULT_E_BAD_TOKEN);
	cr_assert_null(json_object_get(e, "value"));
	e = json_array_get(a, 2);
	cr_assert(json_is_true(json_object_get(e, "ok")));
	cr_assert_str_eq(jstr(e, "value"), "4242424242424242");
	json_decref(j);
	proc_run_free(&r);

	CTL(&r, "--json", "status");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert_eq(jint(j, "protocol_version"), VAULT_PROTOCOL_VERSION);
	cr_assert_eq(jint(j, "records"), 1);
	cr_assert_eq(jint(j, "tombstones"), 0);
	cr_assert_geq(jint(j, "kek_epoch"), 1);
	cr_assert_geq(jint(j, "uptime_seconds"), 0);
	cr_assert(json_is_false(json_object_get(j, "sealed")), "%s", r.out);
	json_decref(j);
	proc_run_free(&r);

	CTL(&r, "--json", "-p", "transactional", "update", tok, "email=new@example.org",
	    "--clear", "postal_address");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	proc_run_free(&r);

	CTL(&r, "--json", "-p", "transactional", "delete", tok, "--reason", "administrative");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert(json_is_true(json_object_get(j, "ok")));
	/* PROTOCOL.md's deleted_at, as an RFC 3339 UTC time. */
	cr_assert_eq(strlen(jstr(j, "deleted_at")), 20, "%s", r.out);
	cr_assert_eq(jstr(j, "deleted_at")[19], 'Z', "%s", r.out);
	json_decref(j);
	proc_run_free(&r);

	/* Errors: an object on stdout, nothing on stderr, the same exit code. */
	CTL(&r, "--json", "-p", "transactional", "read", tok);
	assert_exit(&r, 1);
	cr_assert_str_empty(r.err);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "VAULT_E_DELETED");
	cr_assert_eq(jint(j, "code"), VAULT_E_DELETED);
	cr_assert_not_null(strstr(jstr(j, "message"), "deleted"));
	json_decref(j);
	proc_run_free(&r);

	CTL(&r, "--json", "read", tok);
	assert_exit(&r, 2);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "usage");
	cr_assert_not_null(strstr(jstr(j, "message"), "purpose"));
	json_decref(j);
	proc_run_free(&r);

	free(tok);
	free(card);
	free(det);
}

Test(vaultctl, values_from_stdin_and_files)
{
	struct proc_run r;
	char path[600];

	/* @- : the trailing newline is not part of the value. */
	CTL_IN(&r, "Jane.Doe@Example.COM\n", "-p", "transactional", "create", "email=@-",
	    "last_name=@@home");
	assert_exit(&r, 0);
	char *tok = strdup(line(r.out, 0));
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "last_name: @home\nemail: Jane.Doe@example.com\n"
	    "marketing opt-out: none\n");
	proc_run_free(&r);

	/* @PATH, and a multi-line address: continuation lines are indented. */
	vaultd_path(&srv, "address.txt", path, sizeof(path));
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("1 Main St\nSpringfield\n", f);
	fclose(f);
	char arg[700];
	snprintf(arg, sizeof(arg), "postal_address=@%s", path);
	CTL_IN(&r, "+1 858 375 5875", "-p", "transactional", "update", tok, arg, "phone=@-");
	assert_exit(&r, 0);
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok, "postal_address", "phone");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "postal_address: 1 Main St\n  Springfield\nphone: +18583755875\n"
	    "marketing opt-out: none\n");
	proc_run_free(&r);
	CTL(&r, "--json", "-p", "transactional", "read", tok, "postal_address");
	assert_exit(&r, 0);
	json_t *j = parse_json(&r);
	cr_assert_str_eq(jstr(json_object_get(j, "fields"), "postal_address"),
	    "1 Main St\nSpringfield");
	json_decref(j);
	proc_run_free(&r);

	/* Standard input serves one value only. */
	CTL_IN(&r, "x", "-p", "transactional", "create", "email=@-", "last_name=@-");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "standard input"));
	proc_run_free(&r);

	/* An unreadable file is a usage error, found before connecting. */
	CTL(&r, "-p", "transactional", "create", "email=@/nonexistent/vaultctl-test");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "/nonexistent/vaultctl-test"));
	proc_run_free(&r);
	free(tok);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void
assert_file(const char *path, const void *data, size_t len)
{
	struct stat st;
	size_t n;
	cr_assert_eq(lstat(path, &st), 0, "%s missing", path);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600, "%s mode %o", path, st.st_mode & 0777);
	char *got = read_file_all(path, &n);
	cr_assert_not_null(got);
	cr_assert_eq(n, len, "%s: %zu bytes, want %zu", path, n, len);
	cr_assert(memcmp(got, data, len) == 0, "%s differs", path);
	free(got);
}

Test(vaultctl, documents_to_directory)
{
	static unsigned char pdf[70000];
	struct proc_run r;
	char pdfpath[600], txtpath[600], dir[600], arg1[800], arg2[800], p[900];

	for (size_t i = 0; i < sizeof(pdf); i++)
		pdf[i] = (unsigned char)(i * 7 + (i >> 8));
	vaultd_path(&srv, "order.pdf", pdfpath, sizeof(pdfpath));
	vaultd_path(&srv, "note.txt", txtpath, sizeof(txtpath));
	write_file(pdfpath, pdf, sizeof(pdf));
	write_file(txtpath, "hello\n", 6);
	snprintf(arg1, sizeof(arg1), "order-17.pdf:application/pdf:%s", pdfpath);
	/* A hostile name: separators, "..", a leading dot, non-ASCII. */
	snprintf(arg2, sizeof(arg2), "../.././.bashrc \xc3\xa9:text/plain:%s", txtpath);
	CTL(&r, "-p", "transactional", "create", "last_name=Doe", "--document", arg1,
	    "--document", arg2);
	assert_exit(&r, 0);
	char *tok = strdup(line(r.out, 0));
	proc_run_free(&r);

	vaultd_path(&srv, "out", dir, sizeof(dir));
	cr_assert_eq(mkdir(dir, 0700), 0);
	CTL(&r, "-p", "transactional", "read", tok, "--documents", dir);
	assert_exit(&r, 0);
	cr_assert_str_eq(line(r.out, 0), "last_name: Doe");
	snprintf(p, sizeof(p), "document 1: order-17.pdf (application/pdf, 70000 bytes) "
	    "-> %s/1-order-17.pdf", dir);
	cr_assert_str_eq(line(r.out, 1), p);
	snprintf(p, sizeof(p), "document 2: ../.././.bashrc \xc3\xa9 (text/plain, 6 bytes) "
	    "-> %s/2-_._.._._.bashrc___", dir);
	cr_assert_str_eq(line(r.out, 2), p);
	cr_assert_str_eq(line(r.out, 3), "documents: 1, 2");
	cr_assert_str_eq(line(r.out, 4), "marketing opt-out: none");
	cr_assert_eq(count_lines(r.out), 5, "%s", r.out);
	proc_run_free(&r);
	snprintf(p, sizeof(p), "%s/1-order-17.pdf", dir);
	assert_file(p, pdf, sizeof(pdf));
	snprintf(p, sizeof(p), "%s/2-_._.._._.bashrc___", dir);
	assert_file(p, "hello\n", 6);

	/* Never overwrites: a second export fails and leaves no partial files. */
	snprintf(p, sizeof(p), "%s/2-_._.._._.bashrc___", dir);
	cr_assert_eq(unlink(p), 0);
	CTL(&r, "-p", "transactional", "read", tok, "--documents", dir);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "VAULT_E_IO"), "%s", r.err);
	cr_assert_null(strstr(r.err, "order-17"), "no document name in errors");
	proc_run_free(&r);
	cr_assert_neq(access(p, F_OK), 0, "the run's own files are removed again");
	snprintf(p, sizeof(p), "%s/1-order-17.pdf", dir);
	assert_file(p, pdf, sizeof(pdf));

	/* Remove one document, add another; slots are never reused. */
	CTL_IN(&r, "second", "-p", "transactional", "update", tok, "--remove-document", "1",
	    "--document", "x.bin:application/octet-stream:-");
	assert_exit(&r, 0);
	proc_run_free(&r);
	vaultd_path(&srv, "out2/", dir, sizeof(dir));
	cr_assert_eq(mkdir(dir, 0700), 0);
	CTL(&r, "--json", "-p", "transactional", "read", tok, "--documents", dir);
	assert_exit(&r, 0);
	json_t *j = parse_json(&r);
	json_t *docs = json_object_get(j, "documents");
	cr_assert_eq(json_array_size(docs), 2);
	json_t *d = json_array_get(docs, 0);
	cr_assert_eq(jint(d, "slot"), 2);
	cr_assert_str_eq(jstr(d, "name"), "../.././.bashrc \xc3\xa9");
	cr_assert_str_eq(jstr(d, "type"), "text/plain");
	cr_assert_eq(jint(d, "bytes"), 6);
	snprintf(p, sizeof(p), "%s2-_._.._._.bashrc___", dir);
	cr_assert_str_eq(jstr(d, "path"), p);
	assert_file(p, "hello\n", 6);
	d = json_array_get(docs, 1);
	cr_assert_eq(jint(d, "slot"), 3);
	cr_assert_str_eq(jstr(d, "name"), "x.bin");
	cr_assert_eq(jint(d, "bytes"), 6);
	assert_file(jstr(d, "path"), "second", 6);
	json_decref(j);
	proc_run_free(&r);

	CTL(&r, "-p", "transactional", "read", tok, "--documents", "/nonexistent/dir");
	assert_exit(&r, 2);
	proc_run_free(&r);
	free(tok);
}

Test(vaultctl, usage_errors_exit_2)
{
	struct proc_run r;
	const char *const bad[][12] = {
		{ "frobnicate", NULL },
		{ "--bogus", "ping", NULL },
		{ "-t", "soon", "ping", NULL },
		{ "-p", "curiosity", "read", "rec_1_x", NULL },
		{ "ping", "extra", NULL },
		{ "-p", "transactional", "create", NULL },
		{ "-p", "transactional", "read", NULL },
		{ "-p", "transactional", "read", "rec_1_x", "--bogus", NULL },
		{ "-p", "transactional", "update", "rec_1_x", NULL },
		{ "-p", "transactional", "update", "rec_1_x", "--remove-document", "one", NULL },
		{ "-p", "transactional", "delete", "rec_1_x", NULL },
		{ "-p", "transactional", "delete", "rec_1_x", "--reason", "boredom", NULL },
		{ "-p", "transactional", "tokenize", "rec_1_x", "email:secret", NULL },
		{ "-p", "transactional", "tokenize", "rec_1_x", NULL },
		{ "-p", "transactional", "detokenize", NULL },
		{ "-p", "transactional", "create", "email=a@b.org", "--document", "nopath", NULL },
		{ "keys", NULL },
		{ "keys", "bogus", NULL },
		{ "keys", "status", "extra", NULL },
		{ "keys", "rotate", "master", NULL },
		{ "keys", "rotate", "kek", "token", NULL },
		{ "keys", "rotate", "--now", NULL },
		{ "keys", "retire", NULL },
		{ "keys", "retire", "0", NULL },
		{ "keys", "retire", "two", NULL },
		{ "keys", "retire", "1", "2", NULL },
		{ "keys", "rotate-record", NULL },
		{ "backup", NULL },
		{ "backup", "a", "b", NULL },
		{ "unseal", "hunter2", NULL },
		{ "-p", "transactional", "update", "rec_1_x", "--opt-out", "fax", NULL },
		{ "-p", "transactional", "update", "rec_1_x", "--opt-in", NULL },
		{ "-p", "transactional", "update", "rec_1_x", "--opt-out", "email", "--opt-in",
		  "email", NULL },
		{ "-p", "transactional", "read", "rec_1_x", "--document", "1", NULL },
		{ "-p", "transactional", "read", "rec_1_x", "--document", "one", "--documents",
		  "/tmp", NULL },
		{ "-p", "transactional", "read", "rec_1_x", "email", "--document", "1",
		  "--documents", "/tmp", NULL },
		{ "-p", "transactional", "read", "rec_1_x", "--document", "1", "--document",
		  "2", "--documents", "/tmp", NULL },
		{ "-p", "transactional", "list", "rec_1_x", NULL },
		{ "-p", "transactional", "list", "--limit", "0", NULL },
		{ "-p", "transactional", "list", "--limit", "1001", NULL },
		{ "-p", "transactional", "list", "--channel", "fax", NULL },
		{ "-p", "transactional", "list", "--all=yes", NULL },
		{ "audit", NULL },
		{ "audit", "bogus", NULL },
		{ "audit", "verify", "extra", NULL },
		{ "audit", "query", "rec_1_x", NULL },
		{ "audit", "query", "--record", NULL },
		{ "audit", "query", "--record", "", NULL },
		{ "audit", "query", "--client", "a", "--client", "b", NULL },
		{ "audit", "query", "--purpose", "curiosity", NULL },
		{ "audit", "query", "--from", "yesterday", NULL },
		{ "audit", "query", "--from", "2026-02-29", NULL },
		{ "audit", "query", "--from", "2026-11-01T24:00:00Z", NULL },
		{ "audit", "query", "--from", "2026-11-01T10:00:00", NULL },
		{ "audit", "query", "--from", "1969-12-31", NULL },
		{ "audit", "query", "--from", "-5", NULL },
		{ "audit", "query", "--to", "0", NULL },
		{ "audit", "query", "--from", "2026-11-02", "--to", "2026-11-01", NULL },
		{ "audit", "query", "--limit", "0", NULL },
		{ "audit", "query", "--limit", "100001", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_ctl_argv(&r, 1, NULL, bad[i]);
		cr_assert_eq(r.status, 2, "case %zu: exit %d, stderr %s", i, r.status, r.err);
		cr_assert(strncmp(r.err, "vaultctl: ", 10) == 0, "case %zu: %s", i, r.err);
		cr_assert_str_empty(r.out, "case %zu", i);
		proc_run_free(&r);
	}

	/* No command: the usage text on stderr. */
	CTL_RAW(&r, "-s", "/nonexistent.sock");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "usage: vaultctl"));
	proc_run_free(&r);

	/* A misplaced value is named by position, never echoed. */
	CTL(&r, "-p", "transactional", "create", "Jane Secret-Doe");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "argument 1"));
	cr_assert_null(strstr(r.err, "Secret"), "a value in an error: %s", r.err);
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "create", "email=secret@example.org",
	    "email=other@example.org");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "email given twice"));
	cr_assert_null(strstr(r.err, "secret"), "a value in an error: %s", r.err);
	proc_run_free(&r);

	/* help and --help print the table's commands on stdout. */
	const char *const helps[][2] = { { "help", NULL }, { "--help", NULL } };
	for (size_t i = 0; i < 2; i++) {
		run_ctl_argv(&r, 1, NULL, helps[i]);
		assert_exit(&r, 0);
		cr_assert(strncmp(r.out, "usage: vaultctl ", 16) == 0);
		const char *cmds[] = { "ping", "status", "create", "read", "update", "delete",
			"tokenize", "detokenize", "list [--channel", "unseal", "keys status", "keys rotate ",
			"keys retire EPOCH", "keys rotate-record TOKEN", "backup NAME",
			"audit verify", "audit query [--record TOKEN] [--client NAME]" };
		for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
			char want[64];
			snprintf(want, sizeof(want), "\n  %s", cmds[k]);
			cr_assert_not_null(strstr(r.out, want), "help lacks %s", cmds[k]);
		}
		cr_assert_not_null(strstr(r.out, "@-"));
		cr_assert_not_null(strstr(r.out, "ps"), "help explains why @- / @PATH");
		cr_assert_not_null(strstr(r.out, "records did this service read between "
		    "these times"), "help says what audit query is for");
		proc_run_free(&r);
	}
}

Test(vaultctl, missing_purpose_exits_2)
{
	struct proc_run r;
	const char *const cmds[][4] = {
		{ "create", "email=a@b.org", NULL },
		{ "read", "rec_1_x", NULL },
		{ "update", "rec_1_x", "email=a@b.org", NULL },
		{ "delete", "rec_1_x", "--reason", "retention" },
		{ "tokenize", "rec_1_x", "email:opaque", NULL },
		{ "detokenize", "tok_1_x", NULL },
		{ "list", "--all", NULL },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *args[8] = { "-s", "/nonexistent.sock" };
		size_t n = 2;
		for (size_t k = 0; k < 4 && cmds[i][k] != NULL; k++)
			args[n++] = cmds[i][k];
		args[n] = NULL;
		/* Checked before connecting: a dead socket does not matter. */
		run_ctl_argv(&r, 0, NULL, args);
		cr_assert_eq(r.status, 2, "%s: exit %d", cmds[i][0], r.status);
		cr_assert_not_null(strstr(r.err, "needs a purpose"), "%s: %s", cmds[i][0], r.err);
		proc_run_free(&r);
	}
	/* ping and status need none. */
	CTL(&r, "status");
	assert_exit(&r, 0);
	proc_run_free(&r);
}

Test(vaultctl, dead_socket_exits_3)
{
	struct proc_run r;
	char path[600];

	CTL_RAW(&r, "-s", "/nonexistent/vaultd.sock", "ping");
	assert_exit(&r, 3);
	cr_assert_not_null(strstr(r.err, "/nonexistent/vaultd.sock"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, strerror(ENOENT)), "%s", r.err);
	proc_run_free(&r);

	/* A socket file nobody listens on. */
	vaultd_path(&srv, "dead.sock", path, sizeof(path));
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	CTL_RAW(&r, "-s", path, "-p", "transactional", "read", "rec_1_x");
	assert_exit(&r, 3);
	cr_assert_not_null(strstr(r.err, path));
	cr_assert_not_null(strstr(r.err, strerror(ECONNREFUSED)), "%s", r.err);
	proc_run_free(&r);

	CTL_RAW(&r, "--json", "-s", path, "status");
	assert_exit(&r, 3);
	json_t *j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "VAULT_E_IO");
	cr_assert_eq(jint(j, "code"), VAULT_E_IO);
	cr_assert_not_null(strstr(jstr(j, "message"), path));
	json_decref(j);
	proc_run_free(&r);

	/* Without -s: $VAULT_SOCKET. */
	cr_assert_eq(setenv("VAULT_SOCKET", srv.socket, 1), 0);
	CTL_RAW(&r, "ping");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "ok\n");
	proc_run_free(&r);
	cr_assert_eq(setenv("VAULT_SOCKET", path, 1), 0);
	CTL_RAW(&r, "ping");
	assert_exit(&r, 3);
	proc_run_free(&r);
	unsetenv("VAULT_SOCKET");
}

Test(vaultctl, forged_token_in_detokenize)
{
	struct proc_run r;
	char *tok = create_jane();
	char det[256];

	CTL(&r, "-p", "transactional", "tokenize", tok, "email:deterministic");
	assert_exit(&r, 0);
	cr_assert_eq(sscanf(r.out, "email deterministic %255s", det), 1);
	proc_run_free(&r);

	CTL(&r, "-p", "transactional", "detokenize", det,
	    "tok_1_forgedforgedforgedforgedforgedforgedforgedfo", det);
	assert_exit(&r, 1);
	cr_assert_eq(count_lines(r.out), 3);
	cr_assert_str_eq(line(r.out, 0), "email: Jane.Doe@example.com");
	cr_assert(strncmp(line(r.out, 1), "error VAULT_E_BAD_TOKEN: ", 25) == 0, "%s", r.out);
	cr_assert_str_eq(line(r.out, 2), "email: Jane.Doe@example.com");
	cr_assert_not_null(strstr(r.err, "1 of 3"), "%s", r.err);
	proc_run_free(&r);

	/* A record token where a field token belongs. */
	CTL(&r, "-p", "transactional", "detokenize", tok);
	assert_exit(&r, 1);
	cr_assert(strncmp(r.out, "error VAULT_E_TOKEN_KIND: ", 26) == 0, "%s", r.out);
	proc_run_free(&r);

	/* A forged record token is the vault's error, on stderr. */
	CTL(&r, "-p", "transactional", "read", "rec_1_forgedforgedforgedforgedfo");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_BAD_TOKEN: ", 29) == 0, "%s", r.err);
	proc_run_free(&r);
	free(tok);
}

Test(vaultctl, vault_errors_exit_1_without_values)
{
	struct proc_run r;

	CTL(&r, "-p", "transactional", "create", "card_number=4242 4242 4242 4241");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_INVALID_VALUE: ", 33) == 0, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "card_number"));
	cr_assert_null(strstr(r.err, "4241"), "a value in an error: %s", r.err);
	cr_assert_str_empty(r.out);
	proc_run_free(&r);

	CTL(&r, "-p", "transactional", "create", "shoe_size=9");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_UNKNOWN_FIELD: ", 33) == 0, "%s", r.err);
	proc_run_free(&r);

	/* Tokenize stops at the first failure, after printing what it issued. */
	char *tok = create_jane();
	CTL(&r, "-p", "transactional", "tokenize", tok, "email:opaque", "first_name:card");
	assert_exit(&r, 1);
	cr_assert_eq(count_lines(r.out), 1);
	cr_assert(strncmp(r.out, "email opaque tok_1_", 19) == 0, "%s", r.out);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_TOKEN_KIND: ", 30) == 0, "%s", r.err);
	char opaque[256];
	cr_assert_eq(sscanf(r.out, "email opaque %255s", opaque), 1);
	proc_run_free(&r);

	/* Updating the field makes its opaque token stale. */
	CTL(&r, "-p", "transactional", "update", tok, "email=new@example.org", "--clear",
	    "phone");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "ok\n");
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok, "email", "phone", "first_name");
	assert_exit(&r, 0);
	/* Record order, not the order asked. */
	cr_assert_str_eq(r.out, "first_name: Jane\nemail: new@example.org\n"
	    "marketing opt-out: none\n");
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "detokenize", opaque);
	assert_exit(&r, 1);
	cr_assert(strncmp(r.out, "error VAULT_E_STALE_TOKEN: ", 27) == 0, "%s", r.out);
	proc_run_free(&r);

	CTL(&r, "-p", "transactional", "update", tok, "--remove-document", "5");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_NOT_FOUND: ", 29) == 0, "%s", r.err);
	proc_run_free(&r);
	free(tok);
}

/* ---- administration: keys, backup, unseal ------------------------------ */

/* Replace the suite's server by one with extra_ini (the teardown stops it). */
static void
restart_with(const char *extra_ini)
{
	cr_assert_eq(vaultd_stop(&srv), 0);
	vaultd_cleanup(&srv);
	vaultd_start(&srv, extra_ini);
}

/* n records through the library (quicker than n vaultctl runs); the tokens
 * go to toks[] if it is not NULL. */
static void
create_many(int n, char **toks)
{
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	for (int i = 0; i < n; i++) {
		struct vault_record *rec;
		char email[64], *tok;
		snprintf(email, sizeof(email), "person%d@rotation.example", i);
		cr_assert_eq(vault_record_new(&rec), 0);
		cr_assert_eq(vault_record_set(rec, "email", email), 0);
		cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, rec, &tok), 0, "%s",
		    vault_last_message(v));
		vault_record_free(rec);
		if (toks != NULL)
			toks[i] = strdup(tok);
		vault_free(tok);
	}
	vault_close(v);
}

static void
expect_email(const char *tok, int i)
{
	struct proc_run r;
	char want[128];
	snprintf(want, sizeof(want), "email: person%d@rotation.example\n"
	    "marketing opt-out: none\n", i);
	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, want);
	proc_run_free(&r);
}

/* "2024-05-01T12:00:00Z" */
static int
is_iso_time(const char *s, size_t len)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	if (len != sizeof(pat) - 1)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return 0;
	return 1;
}

/*
 * A "  epoch E: created TIME, N records, D det index entries (resolve until
 * its retire)[ (current)]" line (or "  version V:
 * created TIME[ (current)]" when records is NULL): its number, records and
 * whether it is current; 0 if the line is not of that form.
 */
static int
parse_version_line(const char *l, const char *unit, unsigned *version,
    unsigned long long *records, int *current)
{
	char when[64], rest[64] = "";
	int n = 0;
	size_t ul = strlen(unit);
	if (strncmp(l, "  ", 2) != 0 || strncmp(l + 2, unit, ul) != 0 || l[2 + ul] != ' ')
		return 0;
	l += 3 + ul;
	if (sscanf(l, "%u: created %63[^,( ]%n", version, when, &n) != 2 ||
	    !is_iso_time(when, strlen(when)))
		return 0;
	l += n;
	if (records != NULL) {
		int m = 0;
		if (sscanf(l, ", %llu record%n", records, &m) != 1 || m == 0)
			return 0;
		l += m;
		if (*l == 's')
			l++;
		/* The epoch's deterministic index entries (issue 13). */
		static const char until[] = " (resolve until its retire)";
		unsigned long long det;
		m = 0;
		if (sscanf(l, ", %llu det index entr%n", &det, &m) != 1 || m == 0)
			return 0;
		l += m;
		if (strncmp(l, "y", 1) == 0)
			l += 1;
		else if (strncmp(l, "ies", 3) == 0)
			l += 3;
		else
			return 0;
		if (strncmp(l, until, sizeof(until) - 1) != 0)
			return 0;
		l += sizeof(until) - 1;
	}
	snprintf(rest, sizeof(rest), "%s", l);
	*current = strcmp(rest, " (current)") == 0;
	return *current || rest[0] == '\0';
}

/* The kek lines of keys status: epochs[i], records[i]; returns how many. */
static size_t
kek_epochs(const char *out, unsigned *epochs, unsigned long long *records,
    unsigned *current)
{
	size_t n = 0;
	int cur;
	cr_assert_str_eq(line(out, 0), "key-encryption keys:", "%s", out);
	*current = 0;
	for (int i = 1; strncmp(line(out, i), "  ", 2) == 0; i++) {
		cr_assert(parse_version_line(line(out, i), "epoch", &epochs[n], &records[n], &cur),
		    "bad epoch line: %s", line(out, i));
		if (cur)
			*current = epochs[n];
		n++;
	}
	return n;
}

/* The first line of s starting with prefix, or NULL. */
static const char *
find_line(const char *s, const char *prefix)
{
	for (int i = 0; i < count_lines(s); i++)
		if (strncmp(line(s, i), prefix, strlen(prefix)) == 0)
			return line(s, i);
	return NULL;
}

Test(vaultctl, keys_status_rotate_wait_and_retire, .timeout = 240)
{
	enum { N = 200 };
	static char *toks[N];
	unsigned epochs[8], cur, v;
	unsigned long long recs[8];
	struct proc_run r;
	int current;

	/* One record per rewrap step: the rotation takes a while. */
	restart_with("[keys]\nrotation_batch = 1\n");
	create_many(N, toks);

	CTL(&r, "keys", "status");
	assert_exit(&r, 0);
	cr_assert_eq(kek_epochs(r.out, epochs, recs, &cur), 1, "%s", r.out);
	cr_assert_eq(epochs[0], 1);
	cr_assert_eq(recs[0], N);
	cr_assert_eq(cur, 1, "epoch 1 is current");
	cr_assert_str_eq(line(r.out, 2), "token keys:");
	cr_assert(parse_version_line(line(r.out, 3), "version", &v, NULL, &current), "%s", r.out);
	cr_assert(v == 1 && current);
	cr_assert_str_eq(line(r.out, 4), "index keys:");
	cr_assert(parse_version_line(line(r.out, 5), "version", &v, NULL, &current), "%s", r.out);
	cr_assert(v == 1 && current);
	cr_assert_str_eq(line(r.out, 6), "rotation: no rotation running");
	cr_assert_str_eq(line(r.out, 7), "schedule: off");
	cr_assert_str_eq(line(r.out, 8), "last rotation: never");
	cr_assert_str_eq(line(r.out, 9), "newest usable backup: none (vaultctl backup list)");
	cr_assert_eq(count_lines(r.out), 10, "%s", r.out);
	cr_assert_str_empty(r.err);
	proc_run_free(&r);

	/* --wait: progress only on a terminal; stderr is a pipe here: none. */
	CTL(&r, "keys", "rotate", "--wait");
	assert_exit(&r, 0);
	char want[128];
	snprintf(want, sizeof(want), "epoch 2\nrotation to epoch 2 finished: %d records "
	    "examined, %d rewrapped\n", N, N);
	cr_assert_str_eq(r.out, want);
	cr_assert_str_empty(r.err, "no progress when stderr is not a terminal: %s", r.err);
	proc_run_free(&r);

	CTL(&r, "keys", "status");
	assert_exit(&r, 0);
	cr_assert_eq(kek_epochs(r.out, epochs, recs, &cur), 2, "%s", r.out);
	cr_assert_eq(cur, 2, "epoch 2 is current");
	cr_assert(epochs[0] == 1 && recs[0] == 0, "%s", r.out);
	cr_assert(epochs[1] == 2 && recs[1] == N, "all records on epoch 2: %s", r.out);
	cr_assert_str_eq(find_line(r.out, "rotation: "), "rotation: no rotation running");
	const char *last = find_line(r.out, "last rotation: ");
	cr_assert_not_null(last);
	cr_assert(is_iso_time(last + 15, strlen(last + 15)), "%s", last);
	proc_run_free(&r);

	/* The current epoch cannot go. */
	CTL(&r, "keys", "retire", "2");
	assert_exit(&r, 1);
	cr_assert_str_empty(r.out);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_CONFLICT: ", 28) == 0, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "current"), "%s", r.err);
	cr_assert_null(strstr(r.err, "still depend"), "nothing depends on it: %s", r.err);
	proc_run_free(&r);
	CTL(&r, "--json", "keys", "retire", "2");
	assert_exit(&r, 1);
	cr_assert_str_empty(r.err);
	json_t *j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "VAULT_E_CONFLICT");
	cr_assert_eq(jint(j, "code"), VAULT_E_CONFLICT);
	json_decref(j);
	proc_run_free(&r);
	CTL(&r, "keys", "retire", "7");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_NOT_FOUND: ", 29) == 0, "%s", r.err);
	proc_run_free(&r);

	CTL(&r, "keys", "retire", "1");
	assert_exit(&r, 0);
	unsigned long long before = 0, after = 0;
	cr_assert_str_eq(line(r.out, 0), "retired epoch 1");
	cr_assert_eq(sscanf(line(r.out, 1), "data file: %llu bytes before compaction, %llu after",
	    &before, &after), 2, "%s", r.out);
	cr_assert(before > 0 && after > 0 && after <= before, "%llu -> %llu", before, after);
	cr_assert_eq(count_lines(r.out), 2);
	proc_run_free(&r);

	CTL(&r, "keys", "status");
	assert_exit(&r, 0);
	cr_assert_eq(kek_epochs(r.out, epochs, recs, &cur), 1, "only epoch 2 left: %s", r.out);
	cr_assert(epochs[0] == 2 && recs[0] == N && cur == 2, "%s", r.out);
	proc_run_free(&r);

	/* The same in JSON: the whole structure. */
	CTL(&r, "--json", "keys", "status");
	assert_exit(&r, 0);
	j = parse_json(&r);
	json_t *kek = json_object_get(j, "kek"), *vs, *e;
	cr_assert(json_is_object(kek));
	cr_assert_eq(jint(kek, "current"), 2);
	vs = json_object_get(kek, "versions");
	cr_assert(json_is_array(vs));
	cr_assert_eq(json_array_size(vs), 1);
	e = json_array_get(vs, 0);
	cr_assert_eq(jint(e, "version"), 2);
	cr_assert_eq(jint(e, "records"), N);
	cr_assert(json_is_true(json_object_get(e, "current")));
	cr_assert(is_iso_time(jstr(e, "created"), strlen(jstr(e, "created"))));
	const char *kinds[] = { "token", "index" };
	for (size_t k = 0; k < 2; k++) {
		json_t *o = json_object_get(j, kinds[k]);
		cr_assert(json_is_object(o), "%s", kinds[k]);
		cr_assert_eq(jint(o, "current"), 1);
		vs = json_object_get(o, "versions");
		cr_assert_eq(json_array_size(vs), 1);
		e = json_array_get(vs, 0);
		cr_assert_eq(jint(e, "version"), 1);
		cr_assert(json_is_true(json_object_get(e, "current")));
		cr_assert(is_iso_time(jstr(e, "created"), strlen(jstr(e, "created"))));
		cr_assert_null(json_object_get(e, "records"), "records are for epochs");
	}
	json_t *rot = json_object_get(j, "rotation");
	cr_assert(json_is_object(rot));
	cr_assert(json_is_false(json_object_get(rot, "active")));
	cr_assert_eq(jint(rot, "examined"), N);
	cr_assert_eq(jint(rot, "rewrapped"), N);
	cr_assert_eq(jint(rot, "total"), N);
	cr_assert_eq(jint(rot, "percent"), 100);
	cr_assert(is_iso_time(jstr(rot, "started"), strlen(jstr(rot, "started"))));
	json_t *sched = json_object_get(j, "schedule");
	cr_assert(json_is_object(sched));
	cr_assert(json_is_false(json_object_get(sched, "enabled")));
	cr_assert_eq(jint(sched, "interval_seconds"), 0);
	cr_assert(json_is_null(json_object_get(sched, "next_due")));
	cr_assert(is_iso_time(jstr(sched, "last_done"), strlen(jstr(sched, "last_done"))));
	json_t *blk = json_object_get(j, "retire_blockers");
	cr_assert_eq(jint(blk, "records"), 0, "nothing blocks a retire");
	cr_assert_eq(json_array_size(json_object_get(blk, "listed")), 0);
	/* The retire took a backup first (backup_before_retire): the newest usable. */
	json_t *bk = json_object_get(j, "backups");
	cr_assert(strncmp(jstr(bk, "newest_usable"), "retire-1-", 9) == 0, "%s", r.out);
	cr_assert(json_is_false(json_object_get(bk, "stale")));
	cr_assert_eq(json_object_size(j), 7, "%s", r.out);
	json_decref(j);
	proc_run_free(&r);

	/* Still serving, with the same tokens. */
	for (int i = 0; i < N; i += 37)
		expect_email(toks[i], i);
	for (int i = 0; i < N; i++)
		free(toks[i]);
}

/* Wait until no rotation runs. */
static void
wait_idle(void)
{
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	for (int i = 0; i < 6000; i++) {
		struct vault_keys_status *st;
		cr_assert_eq(vault_keys_status(v, &st), 0, "%s", vault_last_message(v));
		int rotating = st->rotating;
		vault_keys_status_free(st);
		if (!rotating) {
			vault_close(v);
			return;
		}
		usleep(10000);
	}
	cr_assert_fail("the rotation did not finish");
}

Test(vaultctl, keys_retire_says_how_many_records_depend, .timeout = 240)
{
	enum { N = 600 };
	struct proc_run r;
	int found = 0;

	restart_with("[keys]\nrotation_batch = 1\n");
	create_many(N, NULL);
	/*
	 * Retire the epoch a rewrap is moving records away from. The rewrap
	 * takes about N disk commits; should it ever beat the two runs of
	 * vaultctl, retiring succeeds and the next round tries again.
	 */
	for (int round = 0; round < 5 && !found; round++) {
		unsigned epoch = 0;
		char arg[16];
		CTL(&r, "keys", "rotate");
		assert_exit(&r, 0);
		cr_assert_eq(sscanf(r.out, "epoch %u", &epoch), 1, "%s", r.out);
		cr_assert_eq(epoch, (unsigned)round + 2);
		proc_run_free(&r);
		snprintf(arg, sizeof(arg), "%u", epoch - 1);
		CTL(&r, "keys", "retire", arg);
		if (r.status == 1) {
			unsigned long long n = 0;
			unsigned e = 0;
			char tail[8] = "";
			cr_assert_str_empty(r.out);
			cr_assert_str_eq(line(r.err, 0), "vaultctl: VAULT_E_CONFLICT: records still "
			    "depend on that epoch; let the rotation finish (field: epoch)");
			cr_assert_eq(sscanf(line(r.err, 1), "vaultctl: %llu records still depend on "
			    "epoch %u%7s", &n, &e, tail), 2, "%s", r.err);
			cr_assert(n > 0 && n <= N, "%llu", n);
			cr_assert_eq(e, epoch - 1);
			cr_assert_eq(count_lines(r.err), 2, "%s", r.err);
			fprintf(stderr, "keys retire met the rewrap in round %d, %llu of %d records "
			    "left\n", round + 1, n, N);
			found = 1;
		} else {
			assert_exit(&r, 0);
		}
		proc_run_free(&r);
		/* JSON: the count as "remaining", while the rewrap is still under
		 * way (it may just have finished: then the retire succeeds). */
		if (found) {
			CTL(&r, "--json", "keys", "retire", arg);
			if (r.status == 1) {
				json_t *j = parse_json(&r);
				cr_assert_str_eq(jstr(j, "error"), "VAULT_E_CONFLICT", "%s", r.out);
				cr_assert_gt(jint(j, "remaining"), 0);
				cr_assert_eq(jint(j, "epoch"), epoch - 1);
				cr_assert_str_empty(r.err);
				json_decref(j);
			} else {
				assert_exit(&r, 0);
			}
			proc_run_free(&r);
		}
		wait_idle();
	}
	cr_assert(found, "retire never met a rotation under way");
}

Test(vaultctl, keys_rotate_token_and_record_keep_tokens_working)
{
	struct proc_run r;
	char *tok = create_jane();
	char opaque[256], det[256], card[256];
	const char *jane =
	    "first_name: Jane\n"
	    "last_name: Doe\n"
	    "email: Jane.Doe@example.com\n"
	    "phone: +18583755875\n"
	    "card_number: 4242424242424242\n"
	    "card_expiry: 12/39\n"
	    "marketing opt-out: none\n";
	const char *resolved =
	    "email: Jane.Doe@example.com\n"
	    "email: Jane.Doe@example.com\n"
	    "card_number: 4242424242424242\n";

	CTL(&r, "-p", "transactional", "tokenize", tok, "email:opaque", "email:deterministic",
	    "card_number:card");
	assert_exit(&r, 0);
	cr_assert_eq(sscanf(line(r.out, 0), "email opaque %255s", opaque), 1);
	cr_assert_eq(sscanf(line(r.out, 1), "email deterministic %255s", det), 1);
	cr_assert_eq(sscanf(line(r.out, 2), "card_number card %255s", card), 1);
	proc_run_free(&r);

	CTL(&r, "keys", "rotate", "token");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "token key version 2\n");
	cr_assert_str_empty(r.err);
	proc_run_free(&r);
	/* Tokens issued under version 1 still resolve. */
	CTL(&r, "-p", "transactional", "detokenize", opaque, det, card);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, resolved);
	proc_run_free(&r);
	/* New tokens use version 2. */
	CTL(&r, "-p", "transactional", "create", "last_name=Roe");
	assert_exit(&r, 0);
	cr_assert(strncmp(r.out, "rec_2_", 6) == 0, "%s", r.out);
	proc_run_free(&r);

	CTL(&r, "keys", "rotate-record", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "data key version 2\n");
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, jane, "the record reads the same under its new key");
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "detokenize", opaque, det, card);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, resolved);
	proc_run_free(&r);

	CTL(&r, "--json", "keys", "rotate-record", tok);
	assert_exit(&r, 0);
	json_t *j = parse_json(&r);
	cr_assert_eq(jint(j, "dek_version"), 3);
	json_decref(j);
	proc_run_free(&r);
	CTL(&r, "keys", "rotate-record", "rec_1_forgedforgedforgedforgedfo");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_BAD_TOKEN: ", 29) == 0, "%s", r.err);
	proc_run_free(&r);

	CTL(&r, "--json", "keys", "rotate", "index");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "kind"), "index");
	cr_assert_eq(jint(j, "version"), 2);
	cr_assert_null(json_object_get(j, "rotation"));
	json_decref(j);
	proc_run_free(&r);
	CTL(&r, "--json", "keys", "rotate", "--wait");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "kind"), "kek");
	cr_assert_eq(jint(j, "version"), 2);
	json_t *rot = json_object_get(j, "rotation");
	cr_assert(json_is_true(json_object_get(rot, "finished")), "%s", r.out);
	cr_assert_eq(jint(rot, "total"), 2);
	cr_assert_eq(jint(rot, "examined"), 2);
	cr_assert_eq(jint(rot, "rewrapped"), 2);
	cr_assert_str_empty(r.err, "JSON mode: progress only on a terminal");
	json_decref(j);
	proc_run_free(&r);

	CTL(&r, "keys", "status");
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "token keys:\n  version 1: created "), "%s", r.out);
	const char *l = find_line(r.out, "  version 2: created ");
	cr_assert_not_null(l, "%s", r.out);
	cr_assert_not_null(strstr(l, "(current)"));
	cr_assert_not_null(strstr(r.out, "index keys:\n  version 1: created "));
	proc_run_free(&r);

	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, jane);
	proc_run_free(&r);
	free(tok);
}

Test(vaultctl, backup_writes_a_file_once_per_name)
{
	struct proc_run r;
	char path[600];
	unsigned long long size = 0;
	struct stat st;

	free(create_jane());
	CTL(&r, "backup", "nightly-1");
	assert_exit(&r, 0);
	cr_assert_eq(count_lines(r.out), 2, "%s", r.out);
	cr_assert_eq(sscanf(line(r.out, 0), "path: %599s", path), 1, "%s", r.out);
	cr_assert_eq(sscanf(line(r.out, 1), "size: %llu bytes", &size), 1, "%s", r.out);
	cr_assert(strncmp(path, srv.dir, strlen(srv.dir)) == 0, "in the test directory: %s", path);
	cr_assert_str_eq(strrchr(path, '/'), "/nightly-1");
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_gt(size, 0);
	cr_assert_eq((unsigned long long)st.st_size, size, "the printed size is the file's");
	proc_run_free(&r);

	/* Never replaced. */
	CTL(&r, "backup", "nightly-1");
	assert_exit(&r, 1);
	cr_assert_str_empty(r.out);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_CONFLICT: ", 28) == 0, "%s", r.err);
	proc_run_free(&r);
	struct stat st2;
	cr_assert_eq(stat(path, &st2), 0);
	cr_assert_eq(st2.st_size, st.st_size);
	cr_assert_eq(st2.st_mtime, st.st_mtime);

	CTL(&r, "--json", "backup", "nightly-2");
	assert_exit(&r, 0);
	json_t *j = parse_json(&r);
	cr_assert_eq(stat(jstr(j, "path"), &st2), 0, "%s", r.out);
	cr_assert_eq(jint(j, "bytes"), st2.st_size);
	json_decref(j);
	proc_run_free(&r);

	/* The server decides what a name may be: no path in it. */
	CTL(&r, "backup", "../escape");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_INVALID_VALUE: ", 33) == 0, "%s", r.err);
	proc_run_free(&r);
}

Test(vaultctl, unseal_a_passphrase_ring, .timeout = 120)
{
	struct proc_run r;
	char ring[600], data[600];

	/* Restart the suite's server on a new, passphrase-sealed ring. */
	cr_assert_eq(vaultd_stop(&srv), 0);
	vaultd_path(&srv, "sealed-ring", ring, sizeof(ring));
	vaultd_path(&srv, "sealed-data", data, sizeof(data));
	/* Cheap Argon2id costs: a test, not a vault. */
	cr_assert_eq(keytool_run("correct horse battery\n", ARGS("init", ring, "--passphrase",
	    "--opslimit", "1", "--memlimit", "8M")), 0);
	FILE *f = fopen(srv.config, "a");
	cr_assert_not_null(f);
	/* Later sections override earlier ones. */
	fprintf(f, "[keys]\nkeyring_path = %s\n[storage]\ndata_dir = %s\n", ring, data);
	fclose(f);
	vaultd_restart(&srv); /* waits for ping, answered while sealed */

	/* Sealed: status says so and exits 2 (as "vault status" does). */
	CTL(&r, "status");
	assert_exit(&r, 2);
	cr_assert_str_eq(line(r.out, 3), "kek epoch: 0");
	cr_assert_str_eq(line(r.out, 5), "sealed: yes", "%s", r.out);
	cr_assert_str_empty(r.err);
	proc_run_free(&r);
	CTL(&r, "--json", "status");
	assert_exit(&r, 2);
	json_t *j = parse_json(&r);
	cr_assert(json_is_true(json_object_get(j, "sealed")));
	cr_assert_eq(jint(j, "kek_epoch"), 0);
	json_decref(j);
	proc_run_free(&r);

	/* Nothing else is served. */
	CTL(&r, "-p", "transactional", "read", "rec_1_sealedsealedsealedsealedse");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_SEALED: ", 26) == 0, "%s", r.err);
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "create", "email=a@b.org");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_SEALED: ", 26) == 0, "%s", r.err);
	proc_run_free(&r);
	CTL(&r, "keys", "status");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_SEALED: ", 26) == 0, "%s", r.err);
	proc_run_free(&r);

	/* A wrong passphrase: the vault's error, never the passphrase. */
	CTL_IN(&r, "wrong horse battery\n", "unseal");
	assert_exit(&r, 1);
	cr_assert_str_empty(r.out);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_KEYRING: ", 27) == 0, "%s", r.err);
	cr_assert_null(strstr(r.err, "horse"), "the passphrase in an error: %s", r.err);
	proc_run_free(&r);
	CTL_IN(&r, "wrong horse battery\n", "--json", "unseal");
	assert_exit(&r, 1);
	cr_assert_str_empty(r.err);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "VAULT_E_KEYRING");
	cr_assert_null(strstr(r.out, "horse"));
	json_decref(j);
	proc_run_free(&r);
	/* No passphrase at all, or an empty one: usage errors, nothing sent. */
	CTL(&r, "unseal");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "no passphrase"), "%s", r.err);
	proc_run_free(&r);
	CTL_IN(&r, "\n", "unseal");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "empty"), "%s", r.err);
	proc_run_free(&r);
	/* Never on the command line. */
	CTL(&r, "unseal", "correct horse battery");
	assert_exit(&r, 2);
	cr_assert_null(strstr(r.err, "horse"), "%s", r.err);
	proc_run_free(&r);
	CTL(&r, "status");
	assert_exit(&r, 2);
	cr_assert_str_eq(line(r.out, 5), "sealed: yes", "still sealed: %s", r.out);
	proc_run_free(&r);

	/* The right one, from a pipe (one line; a CRLF line works too). */
	CTL_IN(&r, "correct horse battery\r\nthe rest is ignored\n", "unseal");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "unsealed\n");
	cr_assert_str_empty(r.err);
	proc_run_free(&r);
	CTL(&r, "status");
	assert_exit(&r, 0);
	cr_assert_str_eq(line(r.out, 3), "kek epoch: 1");
	cr_assert_str_eq(line(r.out, 5), "sealed: no");
	proc_run_free(&r);

	/* Serving now. */
	CTL(&r, "-p", "transactional", "create", "email=Jane.Doe@Example.COM");
	assert_exit(&r, 0);
	char *tok = strdup(line(r.out, 0));
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "email: Jane.Doe@example.com\nmarketing opt-out: none\n");
	proc_run_free(&r);
	free(tok);
	CTL(&r, "keys", "status");
	assert_exit(&r, 0);
	cr_assert(strncmp(line(r.out, 1), "  epoch 1: created ", 19) == 0, "%s", r.out);
	cr_assert_not_null(strstr(line(r.out, 1), ", 1 record, 0 det index entries (resolve "
	    "until its retire) (current)"), "%s", r.out);
	proc_run_free(&r);

	/* Once is enough. */
	CTL_IN(&r, "correct horse battery\n", "--json", "unseal");
	assert_exit(&r, 1);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "VAULT_E_CONFLICT");
	json_decref(j);
	proc_run_free(&r);

	/* The passphrase reached no log. */
	size_t n;
	char *log = read_file_all(srv.log, &n);
	cr_assert_not_null(log);
	cr_assert_null(strstr(log, "horse"));
	cr_assert_not_null(strstr(log, "unsealed"), "%s", log);
	free(log);
}

/* ---- marketing opt-outs, list, one document at a time ------------------ */

/* The last line of s, into a static buffer. */
static const char *
last_line(const char *s)
{
	int n = count_lines(s);
	cr_assert(n >= 1, "no output");
	return line(s, n - 1);
}

Test(vaultctl, marketing_opt_out_round_trip)
{
	struct proc_run r;
	json_t *j, *o;

	CTL(&r, "-p", "transactional", "create", "first_name=Jane",
	    "email=Jane.Doe@Example.COM", "phone=+1 858 375 5875", "postal_address=1 Main St");
	assert_exit(&r, 0);
	char *tok = strdup(line(r.out, 0));
	proc_run_free(&r);

	/* Opt-outs only: no other change is needed. */
	CTL(&r, "-p", "transactional", "update", tok, "--opt-out", "email", "--opt-out",
	    "mail");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "ok\n");
	cr_assert_str_empty(r.err);
	proc_run_free(&r);

	/* Transactional use is unaffected; read says who opted out, last. */
	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out,
	    "first_name: Jane\n"
	    "postal_address: 1 Main St\n"
	    "email: Jane.Doe@example.com\n"
	    "phone: +18583755875\n"
	    "marketing opt-out: email, mail\n");
	proc_run_free(&r);
	CTL(&r, "--json", "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	j = parse_json(&r);
	o = json_object_get(j, "marketing_opt_out");
	cr_assert(json_is_object(o), "%s", r.out);
	cr_assert_eq(json_object_size(o), 3);
	cr_assert(json_is_true(json_object_get(o, "email")));
	cr_assert(json_is_false(json_object_get(o, "phone")));
	cr_assert(json_is_true(json_object_get(o, "mail")));
	cr_assert_eq(json_array_size(json_object_get(j, "document_slots")), 0);
	json_decref(j);
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok, "email");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "email: Jane.Doe@example.com\nmarketing opt-out: email, mail\n");
	proc_run_free(&r);

	/* Marketing by email is refused, naming the field, never the value. */
	CTL(&r, "-p", "marketing", "read", tok, "email");
	assert_exit(&r, 1);
	cr_assert_str_empty(r.out);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_DENIED: ", 26) == 0, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "opted out"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, "(field: email)"), "%s", r.err);
	cr_assert_null(strstr(r.err, "Jane"), "%s", r.err);
	proc_run_free(&r);
	CTL(&r, "--json", "-p", "marketing", "read", tok, "postal_address");
	assert_exit(&r, 1);
	cr_assert_str_empty(r.err);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "VAULT_E_DENIED");
	cr_assert_eq(jint(j, "code"), VAULT_E_DENIED);
	cr_assert_not_null(strstr(jstr(j, "message"), "opted out"));
	cr_assert_null(strstr(r.out, "Main St"));
	json_decref(j);
	proc_run_free(&r);
	/* Asked for everything, marketing gets what it may: no email, no address. */
	CTL(&r, "-p", "marketing", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out,
	    "first_name: Jane\n"
	    "phone: +18583755875\n"
	    "marketing opt-out: email, mail\n");
	proc_run_free(&r);

	/* A refused change comes first: the opt-out after it is not sent. */
	CTL(&r, "-p", "transactional", "update", tok, "email=not an address",
	    "--opt-out", "phone");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_INVALID_VALUE: ", 33) == 0, "%s", r.err);
	cr_assert_null(strstr(r.err, "already applied"), "%s", r.err);
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok, "phone");
	assert_exit(&r, 0);
	cr_assert_str_eq(last_line(r.out), "marketing opt-out: email, mail");
	proc_run_free(&r);
	/* Usage errors change nothing either. */
	CTL(&r, "-p", "transactional", "update", tok, "--opt-in", "email", "--opt-out",
	    "email");
	assert_exit(&r, 2);
	proc_run_free(&r);

	/* --opt-in restores it; a field change and a choice in one command. */
	CTL(&r, "-p", "transactional", "update", tok, "first_name=Janet", "--opt-in", "email",
	    "--opt-out", "phone");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "ok\n");
	proc_run_free(&r);
	CTL(&r, "-p", "marketing", "read", tok, "email", "first_name");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out,
	    "first_name: Janet\n"
	    "email: Jane.Doe@example.com\n"
	    "marketing opt-out: phone, mail\n");
	proc_run_free(&r);
	CTL(&r, "-p", "marketing", "read", tok, "phone");
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "opted out"), "%s", r.err);
	proc_run_free(&r);
	CTL(&r, "--json", "-p", "transactional", "update", tok, "--opt-in", "phone",
	    "--opt-in", "mail", "--opt-in", "phone");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	proc_run_free(&r);
	CTL(&r, "-p", "marketing", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out,
	    "first_name: Janet\n"
	    "postal_address: 1 Main St\n"
	    "email: Jane.Doe@example.com\n"
	    "phone: +18583755875\n"
	    "marketing opt-out: none\n");
	proc_run_free(&r);

	/* A deleted record: the vault's error, exit 1. */
	CTL(&r, "-p", "transactional", "delete", tok, "--reason", "administrative");
	assert_exit(&r, 0);
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "update", tok, "--opt-out", "email");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_DELETED: ", 27) == 0, "%s", r.err);
	proc_run_free(&r);
	free(tok);
}

/* Every token of want (n of them) exactly once among the lines of out,
 * and nothing else; skip (may be NULL) must not be there. */
static void
assert_tokens_once(const char *out, char **want, int n, const char *skip)
{
	int lines = count_lines(out), found = 0;
	for (int i = 0; i < lines; i++) {
		const char *l = line(out, i);
		int hits = 0;
		cr_assert(skip == NULL || strcmp(l, skip) != 0, "%s is listed", skip);
		for (int k = 0; k < n; k++)
			hits += strcmp(l, want[k]) == 0;
		cr_assert_eq(hits, 1, "line %d (%s) is no created record", i, l);
		found++;
	}
	cr_assert_eq(found, n, "%d tokens listed, want %d:\n%s", found, n, out);
	for (int k = 0; k < n; k++) {
		int hits = 0;
		for (int i = 0; i < lines; i++)
			hits += strcmp(line(out, i), want[k]) == 0;
		cr_assert_eq(hits, 1, "%s listed %d times", want[k], hits);
	}
}

Test(vaultctl, list_pages_and_marketing_channels)
{
	enum { N = 8 };
	char *toks[N], *rest[N];
	struct proc_run r;
	json_t *j, *a;

	create_many(N, toks);

	/* --all across pages of 3: every record exactly once. */
	CTL(&r, "-p", "transactional", "list", "--all", "--limit", "3");
	assert_exit(&r, 0);
	cr_assert_str_empty(r.err);
	assert_tokens_once(r.out, toks, N, NULL);
	proc_run_free(&r);
	CTL(&r, "--json", "-p", "transactional", "list", "--limit", "3", "--all");
	assert_exit(&r, 0);
	j = parse_json(&r);
	a = json_object_get(j, "records");
	cr_assert_eq(json_array_size(a), N);
	cr_assert(json_is_null(json_object_get(j, "next")), "%s", r.out);
	json_decref(j);
	proc_run_free(&r);

	/* One page: three tokens, and where to go on. */
	CTL(&r, "-p", "transactional", "list", "--limit", "3");
	assert_exit(&r, 0);
	cr_assert_eq(count_lines(r.out), 3, "%s", r.out);
	cr_assert_not_null(strstr(r.err, "more records follow"), "%s", r.err);
	proc_run_free(&r);
	CTL(&r, "--json", "-p", "transactional", "list", "--limit", "3");
	assert_exit(&r, 0);
	j = parse_json(&r);
	a = json_object_get(j, "records");
	cr_assert_eq(json_array_size(a), 3);
	char *next = strdup(jstr(j, "next"));
	cr_assert_str_eq(next, json_string_value(json_array_get(a, 2)));
	json_decref(j);
	proc_run_free(&r);
	/* --after the page's next, with --all: the other five. */
	CTL(&r, "-p", "transactional", "list", "--after", next, "--all", "--limit", "3");
	assert_exit(&r, 0);
	cr_assert_eq(count_lines(r.out), N - 3, "%s", r.out);
	cr_assert_null(strstr(r.out, next));
	proc_run_free(&r);
	free(next);
	/* The last page ends the list: no "more" hint. */
	CTL(&r, "-p", "transactional", "list");
	assert_exit(&r, 0);
	assert_tokens_once(r.out, toks, N, NULL);
	cr_assert_str_empty(r.err);
	proc_run_free(&r);

	/* Marketing must name a channel: the vault says so. */
	CTL(&r, "-p", "marketing", "list");
	assert_exit(&r, 1);
	cr_assert_str_empty(r.out);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_PROTO_MISSING: ", 33) == 0, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "channel"), "%s", r.err);
	proc_run_free(&r);
	CTL(&r, "--json", "-p", "marketing", "list", "--all");
	assert_exit(&r, 1);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "VAULT_E_PROTO_MISSING");
	cr_assert_eq(jint(j, "code"), VAULT_E_PROTO_MISSING);
	json_decref(j);
	proc_run_free(&r);

	/* One person opts out of email: an email campaign skips them. */
	CTL(&r, "-p", "transactional", "update", toks[4], "--opt-out", "email");
	assert_exit(&r, 0);
	proc_run_free(&r);
	int m = 0;
	for (int i = 0; i < N; i++)
		if (i != 4)
			rest[m++] = toks[i];
	CTL(&r, "-p", "marketing", "list", "--channel", "email", "--all", "--limit", "3");
	assert_exit(&r, 0);
	assert_tokens_once(r.out, rest, m, toks[4]);
	proc_run_free(&r);
	/* Pages of one: the skipped record never shows as an empty page. */
	CTL(&r, "--json", "-p", "marketing", "list", "--channel", "email", "--all",
	    "--limit", "1");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert_eq(json_array_size(json_object_get(j, "records")), N - 1);
	json_decref(j);
	proc_run_free(&r);
	/* Other channels still reach everyone. */
	CTL(&r, "-p", "marketing", "list", "--channel", "phone", "--all", "--limit", "3");
	assert_exit(&r, 0);
	assert_tokens_once(r.out, toks, N, NULL);
	proc_run_free(&r);

	/* A deleted record is not listed. */
	CTL(&r, "-p", "transactional", "delete", toks[1], "--reason", "retention");
	assert_exit(&r, 0);
	proc_run_free(&r);
	m = 0;
	for (int i = 0; i < N; i++)
		if (i != 1)
			rest[m++] = toks[i];
	CTL(&r, "-p", "transactional", "list", "--all", "--limit", "3");
	assert_exit(&r, 0);
	assert_tokens_once(r.out, rest, m, toks[1]);
	proc_run_free(&r);

	/* --after takes a record token only. */
	CTL(&r, "-p", "transactional", "list", "--after", "rec_1_forgedforgedforgedforgedfo");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_BAD_TOKEN: ", 29) == 0, "%s", r.err);
	proc_run_free(&r);
	for (int i = 0; i < N; i++)
		free(toks[i]);
}

/* The names in dir, sorted, one a line (for "exactly this file"). */
static char *
dir_listing(const char *dir)
{
	struct proc_run r;
	proc_run(&r, "/bin/ls", NULL, (const char *const[]){ "-A", dir, NULL });
	cr_assert_eq(r.status, 0, "ls -A %s: %s", dir, r.err);
	char *out = r.out;
	r.out = NULL;
	proc_run_free(&r);
	return out;
}

Test(vaultctl, read_one_document_by_slot)
{
	/* Two documents that fit one request each but not one reply together. */
	restart_with("[server]\nmax_frame_bytes = 64K\n[limits]\nmax_document_bytes = 40K\n");
	static unsigned char a[40000], b[40000];
	struct proc_run r;
	char pa[600], pb[600], pc[600], arg[800], dir[600], p[900];

	for (size_t i = 0; i < sizeof(a); i++) {
		a[i] = (unsigned char)(i * 13 + 1);
		b[i] = (unsigned char)(i * 5 + (i >> 9));
	}
	vaultd_path(&srv, "a.bin", pa, sizeof(pa));
	vaultd_path(&srv, "b.bin", pb, sizeof(pb));
	vaultd_path(&srv, "c.txt", pc, sizeof(pc));
	write_file(pa, a, sizeof(a));
	write_file(pb, b, sizeof(b));
	write_file(pc, "third\n", 6);
	snprintf(arg, sizeof(arg), "scan-a.bin:application/octet-stream:%s", pa);
	CTL(&r, "-p", "transactional", "create", "last_name=Doe", "--document", arg);
	assert_exit(&r, 0);
	char *tok = strdup(line(r.out, 0));
	proc_run_free(&r);
	snprintf(arg, sizeof(arg), "scan-b.bin:application/octet-stream:%s", pb);
	CTL(&r, "-p", "transactional", "update", tok, "--document", arg);
	assert_exit(&r, 0);
	proc_run_free(&r);
	snprintf(arg, sizeof(arg), "note.txt:text/plain:%s", pc);
	CTL(&r, "-p", "transactional", "update", tok, "--document", arg);
	assert_exit(&r, 0);
	proc_run_free(&r);

	/* read lists the slots without fetching anything. */
	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "last_name: Doe\ndocuments: 1, 2, 3\nmarketing opt-out: none\n");
	proc_run_free(&r);
	CTL(&r, "--json", "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	json_t *j = parse_json(&r);
	json_t *sl = json_object_get(j, "document_slots");
	cr_assert_eq(json_array_size(sl), 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(json_integer_value(json_array_get(sl, i)), (json_int_t)i + 1);
	cr_assert_null(json_object_get(j, "documents"));
	json_decref(j);
	proc_run_free(&r);

	/* All at once does not fit a reply; nothing is written. */
	vaultd_path(&srv, "out", dir, sizeof(dir));
	cr_assert_eq(mkdir(dir, 0700), 0);
	CTL(&r, "-p", "transactional", "read", tok, "--documents", dir);
	assert_exit(&r, 1);
	cr_assert_str_empty(r.out);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_TOO_LARGE: ", 29) == 0, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "--document SLOT"), "%s", r.err);
	proc_run_free(&r);
	CTL(&r, "--json", "-p", "transactional", "read", tok, "--documents", dir);
	assert_exit(&r, 1);
	cr_assert_str_empty(r.err);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "VAULT_E_TOO_LARGE");
	cr_assert_not_null(strstr(jstr(j, "hint"), "--document SLOT"));
	json_decref(j);
	char *ls = dir_listing(dir);
	cr_assert_str_empty(ls, "files written: %s", ls);
	free(ls);
	proc_run_free(&r);

	/* One by slot: exactly that document, and nothing else. */
	CTL(&r, "-p", "transactional", "read", tok, "--document", "2", "--documents", dir);
	assert_exit(&r, 0);
	cr_assert_str_empty(r.err);
	snprintf(p, sizeof(p), "document 2: scan-b.bin (application/octet-stream, 40000 "
	    "bytes) -> %s/2-scan-b.bin", dir);
	cr_assert_str_eq(line(r.out, 0), p);
	cr_assert_str_eq(line(r.out, 1), "documents: 1, 2, 3");
	cr_assert_str_eq(line(r.out, 2), "marketing opt-out: none");
	cr_assert_eq(count_lines(r.out), 3, "no fields: %s", r.out);
	proc_run_free(&r);
	snprintf(p, sizeof(p), "%s/2-scan-b.bin", dir);
	assert_file(p, b, sizeof(b));
	ls = dir_listing(dir);
	cr_assert_str_eq(ls, "2-scan-b.bin\n");
	free(ls);

	/* The others, one run each, JSON this time. */
	CTL(&r, "--json", "-p", "transactional", "read", tok, "--documents", dir,
	    "--document", "1");
	assert_exit(&r, 0);
	j = parse_json(&r);
	json_t *docs = json_object_get(j, "documents");
	cr_assert_eq(json_array_size(docs), 1);
	cr_assert_eq(jint(json_array_get(docs, 0), "slot"), 1);
	cr_assert_str_eq(jstr(json_array_get(docs, 0), "name"), "scan-a.bin");
	cr_assert_eq(jint(json_array_get(docs, 0), "bytes"), (json_int_t)sizeof(a));
	assert_file(jstr(json_array_get(docs, 0), "path"), a, sizeof(a));
	cr_assert_eq(json_object_size(json_object_get(j, "fields")), 0);
	cr_assert_eq(json_array_size(json_object_get(j, "document_slots")), 3);
	json_decref(j);
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok, "--document=3", "--documents", dir);
	assert_exit(&r, 0);
	proc_run_free(&r);
	snprintf(p, sizeof(p), "%s/3-note.txt", dir);
	assert_file(p, "third\n", 6);
	ls = dir_listing(dir);
	cr_assert_str_eq(ls, "1-scan-a.bin\n2-scan-b.bin\n3-note.txt\n");
	free(ls);

	/* Again: never overwritten. */
	CTL(&r, "-p", "transactional", "read", tok, "--document", "2", "--documents", dir);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "already exists"), "%s", r.err);
	proc_run_free(&r);
	snprintf(p, sizeof(p), "%s/2-scan-b.bin", dir);
	assert_file(p, b, sizeof(b));

	/* No such slot: the vault's error, no file. */
	vaultd_path(&srv, "out2", dir, sizeof(dir));
	cr_assert_eq(mkdir(dir, 0700), 0);
	CTL(&r, "-p", "transactional", "read", tok, "--document", "9", "--documents", dir);
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_NOT_FOUND: ", 29) == 0, "%s", r.err);
	proc_run_free(&r);
	ls = dir_listing(dir);
	cr_assert_str_empty(ls);
	free(ls);
	free(tok);
}

/* ---- administration: the audit trail ----------------------------------- */

/* One "audit query" line, taken apart. */
struct audit_line {
	unsigned long long seq, uid;
	char time[32], client[64], purpose[32], op[32], outcome[64];
	char records[512], fields[256];
};

static void
parse_audit_line(const char *l, struct audit_line *a)
{
	int n = 0;
	memset(a, 0, sizeof(*a));
	cr_assert_eq(sscanf(l, "%llu %31s %63s uid=%llu %31s %31s %63s records=%511s "
	    "fields=%255s%n", &a->seq, a->time, a->client, &a->uid, a->purpose, a->op,
	    a->outcome, a->records, a->fields, &n), 9, "not an audit line: %s", l);
	cr_assert_eq(l[n], '\0', "more on the line: %s", l);
	cr_assert(is_iso_time(a->time, strlen(a->time)), "time: %s", l);
}

/* "v1:" and 32 lowercase hex digits. */
static int
is_pseudonym(const char *s)
{
	if (strncmp(s, "v1:", 3) != 0 || strlen(s) != 3 + 32)
		return 0;
	for (s += 3; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

/* How many lines "audit query ARGS..." prints (exit 0, every line well formed). */
#define AUDIT_COUNT(...) audit_count(ARGS("audit", "query", __VA_ARGS__))

static int
audit_count(const char *const *args)
{
	struct proc_run r;
	struct audit_line a;
	run_ctl_argv(&r, 1, NULL, args);
	assert_exit(&r, 0);
	int n = count_lines(r.out);
	for (int i = 0; i < n; i++)
		parse_audit_line(line(r.out, i), &a);
	proc_run_free(&r);
	return n;
}

Test(vaultctl, audit_verify_query_and_a_damaged_trail)
{
	struct proc_run r;
	struct audit_line a[2], x;
	json_t *j, *e;
	char pseud[512];

	/* One record created and read, another only created. */
	char *tok = create_jane();
	CTL(&r, "-p", "transactional", "read", tok, "email", "phone");
	assert_exit(&r, 0);
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "create", "last_name=Other");
	assert_exit(&r, 0);
	char *other = strdup(line(r.out, 0));
	proc_run_free(&r);

	CTL(&r, "audit", "verify");
	assert_exit(&r, 0);
	unsigned long long entries = 0;
	unsigned files = 0;
	int n = 0;
	cr_assert_eq(sscanf(r.out, "audit trail intact: %llu entries in %u file%n", &entries,
	    &files, &n), 2, "%s", r.out);
	cr_assert_geq(entries, 2, "%s", r.out);
	cr_assert_eq(files, 1, "%s", r.out);
	cr_assert_eq(count_lines(r.out), 1, "%s", r.out);
	cr_assert_str_empty(r.err);
	proc_run_free(&r);
	CTL(&r, "--json", "audit", "verify");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert(json_is_true(json_object_get(j, "ok")), "%s", r.out);
	cr_assert_eq(jint(j, "files"), 1);
	cr_assert_geq(jint(j, "entries"), 3, "%s", r.out);
	cr_assert(json_is_null(json_object_get(j, "first_bad_seq")), "%s", r.out);
	cr_assert(json_is_null(json_object_get(j, "reason")), "%s", r.out);
	cr_assert_eq(json_object_size(j), 5, "%s", r.out);
	json_decref(j);
	proc_run_free(&r);

	/* The record's entries: its create and its read, nothing of the other one. */
	CTL(&r, "audit", "query", "--record", tok);
	assert_exit(&r, 0);
	cr_assert_str_empty(r.err);
	cr_assert_eq(count_lines(r.out), 2, "%s", r.out);
	parse_audit_line(line(r.out, 0), &a[0]);
	parse_audit_line(line(r.out, 1), &a[1]);
	proc_run_free(&r);
	cr_assert_lt(a[0].seq, a[1].seq);
	cr_assert_str_eq(a[0].op, "create");
	cr_assert_str_eq(a[1].op, "read");
	for (int i = 0; i < 2; i++) {
		cr_assert_str_eq(a[i].client, "tests");
		cr_assert_eq(a[i].uid, (unsigned long long)getuid());
		cr_assert_str_eq(a[i].purpose, "transactional");
		cr_assert_str_eq(a[i].outcome, "ok");
		cr_assert(is_pseudonym(a[i].records), "one pseudonym: %s", a[i].records);
		cr_assert_null(strstr(a[i].records, tok), "a token in the trail");
	}
	cr_assert_str_eq(a[0].records, a[1].records, "the same record");
	snprintf(pseud, sizeof(pseud), "%s", a[0].records);
	cr_assert_str_eq(a[0].fields,
	    "first_name,last_name,email,phone,card_number,card_expiry");
	cr_assert_str_eq(a[1].fields, "email,phone", "the fields read");

	/* The other record: its create only, under another pseudonym. */
	CTL(&r, "audit", "query", "--record", other);
	assert_exit(&r, 0);
	cr_assert_eq(count_lines(r.out), 1, "%s", r.out);
	parse_audit_line(line(r.out, 0), &x);
	cr_assert_str_eq(x.op, "create");
	cr_assert_str_eq(x.fields, "last_name");
	cr_assert(is_pseudonym(x.records));
	cr_assert_str_neq(x.records, pseud);
	proc_run_free(&r);

	/* The same as JSON. */
	CTL(&r, "--json", "audit", "query", "--record", tok);
	assert_exit(&r, 0);
	cr_assert_str_empty(r.err);
	j = parse_json(&r);
	cr_assert_eq(json_object_size(j), 1, "%s", r.out);
	json_t *arr = json_object_get(j, "entries");
	cr_assert_eq(json_array_size(arr), 2, "%s", r.out);
	for (size_t i = 0; i < 2; i++) {
		e = json_array_get(arr, i);
		cr_assert(json_is_object(e));
		cr_assert_eq(jint(e, "seq"), (json_int_t)a[i].seq);
		cr_assert_str_eq(jstr(e, "time"), a[i].time);
		/* One time style: no integer twin (time_unix is gone). */
		cr_assert_null(json_object_get(e, "time_unix"), "%s", r.out);
		cr_assert_str_eq(jstr(e, "client"), "tests");
		cr_assert_eq(jint(e, "uid"), (json_int_t)getuid());
		cr_assert_str_eq(jstr(e, "purpose"), "transactional");
		cr_assert_str_eq(jstr(e, "op"), i == 0 ? "create" : "read");
		cr_assert_str_eq(jstr(e, "outcome"), "ok");
		json_t *recs = json_object_get(e, "records");
		cr_assert_eq(json_array_size(recs), 1);
		cr_assert_str_eq(json_string_value(json_array_get(recs, 0)), pseud);
		json_t *flds = json_object_get(e, "fields");
		cr_assert(json_is_array(flds));
		cr_assert_eq(json_array_size(flds), i == 0 ? 6 : 2);
	}
	e = json_object_get(json_array_get(arr, 1), "fields");
	cr_assert_str_eq(json_string_value(json_array_get(e, 0)), "email");
	cr_assert_str_eq(json_string_value(json_array_get(e, 1)), "phone");
	json_decref(j);
	proc_run_free(&r);

	/* By client: every entry is the harness's; nobody has none. */
	CTL(&r, "audit", "query", "--client", "tests");
	assert_exit(&r, 0);
	n = count_lines(r.out);
	cr_assert_geq(n, 5, "create, read, create, verify, queries: %s", r.out);
	int admin_seen = 0;
	for (int i = 0; i < n; i++) {
		parse_audit_line(line(r.out, i), &x);
		cr_assert_str_eq(x.client, "tests");
		if (strcmp(x.op, "audit_verify") == 0) {
			/* No purpose, no record, no field: dashes. */
			cr_assert_str_eq(x.purpose, "-");
			cr_assert_str_eq(x.records, "-");
			cr_assert_str_eq(x.fields, "-");
			admin_seen = 1;
		}
	}
	cr_assert(admin_seen, "audit verify is audited too: %s", r.out);
	proc_run_free(&r);
	cr_assert_eq(AUDIT_COUNT("--client", "nobody"), 0);
	CTL(&r, "--json", "audit", "query", "--client", "nobody");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "{\"entries\":[]}\n");
	proc_run_free(&r);

	/* Purpose, limit and time ranges. */
	cr_assert_eq(AUDIT_COUNT("--record", tok, "--purpose", "transactional"), 2);
	cr_assert_eq(AUDIT_COUNT("--record", tok, "--purpose", "legal"), 0);
	cr_assert_eq(AUDIT_COUNT("--record", tok, "--client", "tests", "--from", a[0].time,
	    "--to", a[1].time), 2);
	char day0[16], day1[16];
	snprintf(day0, sizeof(day0), "%.10s", a[0].time);
	snprintf(day1, sizeof(day1), "%.10s", a[1].time);
	cr_assert_eq(AUDIT_COUNT("--record", tok, "--from", day0, "--to", day1), 2,
	    "a date alone is the whole day");
	cr_assert_eq(AUDIT_COUNT("--record", tok, "--from", "2100-01-01", "--to",
	    "2100-12-31"), 0);
	cr_assert_eq(AUDIT_COUNT("--client", "tests", "--from", "4102444800"), 0);
	cr_assert_eq(AUDIT_COUNT("--record", tok, "--to", "2020-01-01T00:00:00Z"), 0);
	CTL(&r, "audit", "query", "--record", tok, "--limit", "1");
	assert_exit(&r, 0);
	cr_assert_eq(count_lines(r.out), 1, "%s", r.out);
	parse_audit_line(line(r.out, 0), &x);
	cr_assert_eq(x.seq, a[0].seq, "oldest first");
	cr_assert_not_null(strstr(r.err, "limit"), "a hint that more may follow: %s", r.err);
	proc_run_free(&r);

	/* The vault's errors: a forged token. */
	CTL(&r, "audit", "query", "--record", "rec_1_forgedforgedforgedforgedfo");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_BAD_TOKEN: ", 29) == 0, "%s", r.err);
	proc_run_free(&r);

	/*
	 * Damage: one byte of the first entry (its op: "create" becomes "breate").
	 * The server resumes from the last entry and the head file, so it starts;
	 * verify then names entry 1.
	 */
	cr_assert_eq(vaultd_stop(&srv), 0);
	char path[600];
	size_t len;
	vaultd_path(&srv, "audit/audit.log", path, sizeof(path));
	char *log = read_file_all(path, &len);
	cr_assert_not_null(log);
	char *nl = strchr(log, '\n');
	char *op = strstr(log, "\"op\":\"");
	cr_assert(nl != NULL && op != NULL && op < nl, "the first line has an op");
	off_t at = (off_t)(op + 6 - log);
	free(log);
	int fd = open(path, O_RDWR);
	cr_assert(fd >= 0);
	char c;
	cr_assert_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x01;
	cr_assert_eq(pwrite(fd, &c, 1, at), 1);
	close(fd);
	vaultd_restart(&srv);

	CTL(&r, "audit", "verify");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.out, "audit trail DAMAGED at entry 1: ", 32) == 0, "%s", r.out);
	cr_assert_gt(strlen(r.out), 33, "a reason: %s", r.out);
	cr_assert_eq(count_lines(r.out), 1, "%s", r.out);
	proc_run_free(&r);
	CTL(&r, "--json", "audit", "verify");
	assert_exit(&r, 1);
	cr_assert_str_empty(r.err);
	j = parse_json(&r);
	cr_assert(json_is_false(json_object_get(j, "ok")), "%s", r.out);
	cr_assert_eq(jint(j, "first_bad_seq"), 1, "%s", r.out);
	cr_assert_eq(jint(j, "entries"), 0, "%s", r.out);
	cr_assert_eq(jint(j, "files"), 1, "%s", r.out);
	cr_assert_gt(strlen(jstr(j, "reason")), 0);
	json_decref(j);
	proc_run_free(&r);
	free(other);
	free(tok);
}
