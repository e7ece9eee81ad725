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
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* What one run of vaultctl did. */
struct run {
	int status;     /* exit status, or -1 if killed */
	char *out;
	size_t outlen;
	char *err;
	size_t errlen;
};

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

static void
append(char **buf, size_t *len, const char *data, size_t n)
{
	char *b = realloc(*buf, *len + n + 1);
	cr_assert_not_null(b);
	memcpy(b + *len, data, n);
	*len += n;
	b[*len] = '\0';
	*buf = b;
}

/*
 * Run vaultctl with args (NULL-terminated), feeding in (may be NULL) on its
 * standard input; with_socket puts "-s <the test server's socket>" first.
 */
static void
run_ctl_argv(struct run *r, int with_socket, const char *in, size_t inlen,
    const char *const *args)
{
	const char *bin = getenv("VAULTCTL");
	int pin[2], pout[2], perr[2], st;
	const char *argv[64];
	size_t n = 0, off = 0;

	cr_assert_not_null(bin, "VAULTCTL is not set (run through meson test)");
	memset(r, 0, sizeof(*r));
	argv[n++] = bin;
	if (with_socket) {
		argv[n++] = "-s";
		argv[n++] = srv.socket;
	}
	for (size_t i = 0; args[i] != NULL; i++) {
		cr_assert(n < 63);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	cr_assert_eq(pipe(pin), 0);
	cr_assert_eq(pipe(pout), 0);
	cr_assert_eq(pipe(perr), 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		close(pin[0]);
		close(pin[1]);
		close(pout[0]);
		close(pout[1]);
		close(perr[0]);
		close(perr[1]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	if (in == NULL || inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	r->out = calloc(1, 1);
	r->err = calloc(1, 1);
	struct pollfd pf[3] = {
		{ pout[0], POLLIN, 0 }, { perr[0], POLLIN, 0 }, { pin[1], POLLOUT, 0 },
	};
	while (pf[0].fd >= 0 || pf[1].fd >= 0) {
		cr_assert(poll(pf, 3, 30000) > 0, "vaultctl hangs");
		char buf[4096];
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || pf[i].revents == 0)
				continue;
			ssize_t k = read(pf[i].fd, buf, sizeof(buf));
			if (k <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
			} else if (i == 0) {
				append(&r->out, &r->outlen, buf, (size_t)k);
			} else {
				append(&r->err, &r->errlen, buf, (size_t)k);
			}
		}
		if (pf[2].fd >= 0 && pf[2].revents != 0) {
			ssize_t k = write(pf[2].fd, in + off, inlen - off);
			if (k > 0)
				off += (size_t)k;
			if (k <= 0 || off == inlen) {
				close(pf[2].fd);
				pf[2].fd = -1;
			}
		}
	}
	if (pf[2].fd >= 0)
		close(pf[2].fd);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* vaultctl -s <socket> ARGS... */
#define CTL(r, ...) run_ctl_argv((r), 1, NULL, 0, ARGS(__VA_ARGS__))
/* The same with a standard input. */
#define CTL_IN(r, in, ...) run_ctl_argv((r), 1, (in), strlen(in), ARGS(__VA_ARGS__))
/* Without -s: the caller chooses the socket. */
#define CTL_RAW(r, ...) run_ctl_argv((r), 0, NULL, 0, ARGS(__VA_ARGS__))

#define assert_exit(r, code) \
	cr_assert_eq((r)->status, (code), "exit %d, want %d\nstdout: %s\nstderr: %s", \
	    (r)->status, (code), (r)->out, (r)->err)

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
parse_json(const struct run *r)
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
	struct run r;
	CTL(&r, "-p", "transactional", "create", "first_name=  Jane ", "last_name=Doe",
	    "email=Jane.Doe@Example.COM", "phone=(858) 375-5875",
	    "card_number=4242 4242 4242 4242", "card_expiry=12/39");
	assert_exit(&r, 0);
	cr_assert_eq(count_lines(r.out), 1, "only the token: %s", r.out);
	cr_assert_str_empty(r.err);
	char *tok = strdup(line(r.out, 0));
	cr_assert(strncmp(tok, "rec_1_", 6) == 0, "token: %s", tok);
	run_free(&r);
	return tok;
}

static json_int_t
status_value(const char *key)
{
	struct run r;
	CTL(&r, "--json", "status");
	assert_exit(&r, 0);
	json_t *j = parse_json(&r);
	json_int_t n = jint(j, key);
	json_decref(j);
	run_free(&r);
	return n;
}

Test(vaultctl, readme_walkthrough)
{
	struct run r;

	CTL(&r, "ping");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "ok\n");
	run_free(&r);

	CTL(&r, "status");
	assert_exit(&r, 0);
	cr_assert_str_eq(line(r.out, 0), "protocol version: 1");
	cr_assert_str_eq(line(r.out, 1), "records: 0");
	cr_assert_str_eq(line(r.out, 2), "tombstones: 0");
	cr_assert(strncmp(line(r.out, 3), "kek epoch: ", 11) == 0);
	cr_assert(strncmp(line(r.out, 4), "uptime: ", 8) == 0);
	cr_assert_str_eq(line(r.out, 5), "sealed: no");
	cr_assert_eq(count_lines(r.out), 6, "%s", r.out);
	run_free(&r);

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
	    "card_expiry: 12/39\n");
	run_free(&r);

	CTL(&r, "-p", "transactional", "read", tok, "email", "phone");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "email: Jane.Doe@example.com\nphone: +18583755875\n");
	run_free(&r);

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
	run_free(&r);

	CTL(&r, "-p", "transactional", "detokenize", opaque, card, det);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out,
	    "email: Jane.Doe@example.com\n"
	    "card_number: 4242424242424242\n"
	    "email: Jane.Doe@example.com\n");
	run_free(&r);

	cr_assert_eq(status_value("records"), 1);

	CTL(&r, "-p", "transactional", "delete", tok, "--reason", "subject_request");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "ok\n");
	run_free(&r);

	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 1);
	cr_assert_str_empty(r.out);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_DELETED: ", 27) == 0, "stderr: %s", r.err);
	run_free(&r);

	/* The opaque token now answers "deleted"; the card token is gone. */
	CTL(&r, "-p", "transactional", "detokenize", opaque, card);
	assert_exit(&r, 1);
	cr_assert(strncmp(line(r.out, 0), "error VAULT_E_DELETED: ", 23) == 0, "%s", r.out);
	cr_assert(strncmp(line(r.out, 1), "error VAULT_E_NOT_FOUND: ", 25) == 0, "%s", r.out);
	run_free(&r);

	cr_assert_eq(status_value("records"), 0);
	cr_assert_eq(status_value("tombstones"), 1);
	free(tok);
}

Test(vaultctl, json_outputs)
{
	struct run r;
	json_t *j, *a, *e;

	CTL(&r, "--json", "ping");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	run_free(&r);

	CTL(&r, "--json", "-p", "transactional", "create", "email=Jane.Doe@Example.COM",
	    "card_number=4242424242424242", "postal_address=1 Main St");
	assert_exit(&r, 0);
	j = parse_json(&r);
	char *tok = strdup(jstr(j, "record"));
	cr_assert(strncmp(tok, "rec_1_", 6) == 0);
	json_decref(j);
	run_free(&r);

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
	run_free(&r);

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
	run_free(&r);

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
	run_free(&r);

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
	run_free(&r);

	CTL(&r, "--json", "-p", "transactional", "update", tok, "email=new@example.org",
	    "--clear", "postal_address");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	run_free(&r);

	CTL(&r, "--json", "-p", "transactional", "delete", tok, "--reason", "administrative");
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	run_free(&r);

	/* Errors: an object on stdout, nothing on stderr, the same exit code. */
	CTL(&r, "--json", "-p", "transactional", "read", tok);
	assert_exit(&r, 1);
	cr_assert_str_empty(r.err);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "VAULT_E_DELETED");
	cr_assert_eq(jint(j, "code"), VAULT_E_DELETED);
	cr_assert_not_null(strstr(jstr(j, "message"), "deleted"));
	json_decref(j);
	run_free(&r);

	CTL(&r, "--json", "read", tok);
	assert_exit(&r, 2);
	j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "usage");
	cr_assert_not_null(strstr(jstr(j, "message"), "purpose"));
	json_decref(j);
	run_free(&r);

	free(tok);
	free(card);
	free(det);
}

Test(vaultctl, values_from_stdin_and_files)
{
	struct run r;
	char path[600];

	/* @- : the trailing newline is not part of the value. */
	CTL_IN(&r, "Jane.Doe@Example.COM\n", "-p", "transactional", "create", "email=@-",
	    "last_name=@@home");
	assert_exit(&r, 0);
	char *tok = strdup(line(r.out, 0));
	run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "last_name: @home\nemail: Jane.Doe@example.com\n");
	run_free(&r);

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
	run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok, "postal_address", "phone");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "postal_address: 1 Main St\n  Springfield\nphone: +18583755875\n");
	run_free(&r);
	CTL(&r, "--json", "-p", "transactional", "read", tok, "postal_address");
	assert_exit(&r, 0);
	json_t *j = parse_json(&r);
	cr_assert_str_eq(jstr(json_object_get(j, "fields"), "postal_address"),
	    "1 Main St\nSpringfield");
	json_decref(j);
	run_free(&r);

	/* Standard input serves one value only. */
	CTL_IN(&r, "x", "-p", "transactional", "create", "email=@-", "last_name=@-");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "standard input"));
	run_free(&r);

	/* An unreadable file is a usage error, found before connecting. */
	CTL(&r, "-p", "transactional", "create", "email=@/nonexistent/vaultctl-test");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "/nonexistent/vaultctl-test"));
	run_free(&r);
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
	struct run r;
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
	run_free(&r);

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
	run_free(&r);
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
	run_free(&r);
	cr_assert_neq(access(p, F_OK), 0, "the run's own files are removed again");
	snprintf(p, sizeof(p), "%s/1-order-17.pdf", dir);
	assert_file(p, pdf, sizeof(pdf));

	/* Remove one document, add another; slots are never reused. */
	CTL_IN(&r, "second", "-p", "transactional", "update", tok, "--remove-document", "1",
	    "--document", "x.bin:application/octet-stream:-");
	assert_exit(&r, 0);
	run_free(&r);
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
	cr_assert_eq(jint(d, "size"), 6);
	snprintf(p, sizeof(p), "%s2-_._.._._.bashrc___", dir);
	cr_assert_str_eq(jstr(d, "path"), p);
	assert_file(p, "hello\n", 6);
	d = json_array_get(docs, 1);
	cr_assert_eq(jint(d, "slot"), 3);
	cr_assert_str_eq(jstr(d, "name"), "x.bin");
	cr_assert_eq(jint(d, "size"), 6);
	assert_file(jstr(d, "path"), "second", 6);
	json_decref(j);
	run_free(&r);

	CTL(&r, "-p", "transactional", "read", tok, "--documents", "/nonexistent/dir");
	assert_exit(&r, 2);
	run_free(&r);
	free(tok);
}

Test(vaultctl, usage_errors_exit_2)
{
	struct run r;
	const char *const bad[][8] = {
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
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_ctl_argv(&r, 1, NULL, 0, bad[i]);
		cr_assert_eq(r.status, 2, "case %zu: exit %d, stderr %s", i, r.status, r.err);
		cr_assert(strncmp(r.err, "vaultctl: ", 10) == 0, "case %zu: %s", i, r.err);
		cr_assert_str_empty(r.out, "case %zu", i);
		run_free(&r);
	}

	/* No command: the usage text on stderr. */
	CTL_RAW(&r, "-s", "/nonexistent.sock");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "usage: vaultctl"));
	run_free(&r);

	/* A misplaced value is named by position, never echoed. */
	CTL(&r, "-p", "transactional", "create", "Jane Secret-Doe");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "argument 1"));
	cr_assert_null(strstr(r.err, "Secret"), "a value in an error: %s", r.err);
	run_free(&r);
	CTL(&r, "-p", "transactional", "create", "email=secret@example.org",
	    "email=other@example.org");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "email given twice"));
	cr_assert_null(strstr(r.err, "secret"), "a value in an error: %s", r.err);
	run_free(&r);

	/* help and --help print the table's commands on stdout. */
	const char *const helps[][2] = { { "help", NULL }, { "--help", NULL } };
	for (size_t i = 0; i < 2; i++) {
		run_ctl_argv(&r, 1, NULL, 0, helps[i]);
		assert_exit(&r, 0);
		cr_assert(strncmp(r.out, "usage: vaultctl ", 16) == 0);
		const char *cmds[] = { "ping", "status", "create", "read", "update", "delete",
			"tokenize", "detokenize", "unseal", "keys status", "keys rotate ",
			"keys retire EPOCH", "keys rotate-record TOKEN", "backup NAME" };
		for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
			char want[64];
			snprintf(want, sizeof(want), "\n  %s", cmds[k]);
			cr_assert_not_null(strstr(r.out, want), "help lacks %s", cmds[k]);
		}
		cr_assert_not_null(strstr(r.out, "@-"));
		cr_assert_not_null(strstr(r.out, "ps"), "help explains why @- / @PATH");
		run_free(&r);
	}
}

Test(vaultctl, missing_purpose_exits_2)
{
	struct run r;
	const char *const cmds[][4] = {
		{ "create", "email=a@b.org", NULL },
		{ "read", "rec_1_x", NULL },
		{ "update", "rec_1_x", "email=a@b.org", NULL },
		{ "delete", "rec_1_x", "--reason", "retention" },
		{ "tokenize", "rec_1_x", "email:opaque", NULL },
		{ "detokenize", "tok_1_x", NULL },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *args[8] = { "-s", "/nonexistent.sock" };
		size_t n = 2;
		for (size_t k = 0; k < 4 && cmds[i][k] != NULL; k++)
			args[n++] = cmds[i][k];
		args[n] = NULL;
		/* Checked before connecting: a dead socket does not matter. */
		run_ctl_argv(&r, 0, NULL, 0, args);
		cr_assert_eq(r.status, 2, "%s: exit %d", cmds[i][0], r.status);
		cr_assert_not_null(strstr(r.err, "needs a purpose"), "%s: %s", cmds[i][0], r.err);
		run_free(&r);
	}
	/* ping and status need none. */
	CTL(&r, "status");
	assert_exit(&r, 0);
	run_free(&r);
}

Test(vaultctl, dead_socket_exits_3)
{
	struct run r;
	char path[600];

	CTL_RAW(&r, "-s", "/nonexistent/vaultd.sock", "ping");
	assert_exit(&r, 3);
	cr_assert_not_null(strstr(r.err, "/nonexistent/vaultd.sock"), "%s", r.err);
	cr_assert_not_null(strstr(r.err, strerror(ENOENT)), "%s", r.err);
	run_free(&r);

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
	run_free(&r);

	CTL_RAW(&r, "--json", "-s", path, "status");
	assert_exit(&r, 3);
	json_t *j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "error"), "VAULT_E_IO");
	cr_assert_eq(jint(j, "code"), VAULT_E_IO);
	cr_assert_not_null(strstr(jstr(j, "message"), path));
	json_decref(j);
	run_free(&r);

	/* Without -s: $VAULT_SOCKET. */
	cr_assert_eq(setenv("VAULT_SOCKET", srv.socket, 1), 0);
	CTL_RAW(&r, "ping");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "ok\n");
	run_free(&r);
	cr_assert_eq(setenv("VAULT_SOCKET", path, 1), 0);
	CTL_RAW(&r, "ping");
	assert_exit(&r, 3);
	run_free(&r);
	unsetenv("VAULT_SOCKET");
}

Test(vaultctl, forged_token_in_detokenize)
{
	struct run r;
	char *tok = create_jane();
	char det[256];

	CTL(&r, "-p", "transactional", "tokenize", tok, "email:deterministic");
	assert_exit(&r, 0);
	cr_assert_eq(sscanf(r.out, "email deterministic %255s", det), 1);
	run_free(&r);

	CTL(&r, "-p", "transactional", "detokenize", det,
	    "tok_1_forgedforgedforgedforgedforgedforgedforgedfo", det);
	assert_exit(&r, 1);
	cr_assert_eq(count_lines(r.out), 3);
	cr_assert_str_eq(line(r.out, 0), "email: Jane.Doe@example.com");
	cr_assert(strncmp(line(r.out, 1), "error VAULT_E_BAD_TOKEN: ", 25) == 0, "%s", r.out);
	cr_assert_str_eq(line(r.out, 2), "email: Jane.Doe@example.com");
	cr_assert_not_null(strstr(r.err, "1 of 3"), "%s", r.err);
	run_free(&r);

	/* A record token where a field token belongs. */
	CTL(&r, "-p", "transactional", "detokenize", tok);
	assert_exit(&r, 1);
	cr_assert(strncmp(r.out, "error VAULT_E_TOKEN_KIND: ", 26) == 0, "%s", r.out);
	run_free(&r);

	/* A forged record token is the vault's error, on stderr. */
	CTL(&r, "-p", "transactional", "read", "rec_1_forgedforgedforgedforgedfo");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_BAD_TOKEN: ", 29) == 0, "%s", r.err);
	run_free(&r);
	free(tok);
}

Test(vaultctl, vault_errors_exit_1_without_values)
{
	struct run r;

	CTL(&r, "-p", "transactional", "create", "card_number=4242 4242 4242 4241");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_INVALID_VALUE: ", 33) == 0, "%s", r.err);
	cr_assert_not_null(strstr(r.err, "card_number"));
	cr_assert_null(strstr(r.err, "4241"), "a value in an error: %s", r.err);
	cr_assert_str_empty(r.out);
	run_free(&r);

	CTL(&r, "-p", "transactional", "create", "shoe_size=9");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_UNKNOWN_FIELD: ", 33) == 0, "%s", r.err);
	run_free(&r);

	/* Tokenize stops at the first failure, after printing what it issued. */
	char *tok = create_jane();
	CTL(&r, "-p", "transactional", "tokenize", tok, "email:opaque", "first_name:card");
	assert_exit(&r, 1);
	cr_assert_eq(count_lines(r.out), 1);
	cr_assert(strncmp(r.out, "email opaque tok_1_", 19) == 0, "%s", r.out);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_TOKEN_KIND: ", 30) == 0, "%s", r.err);
	char opaque[256];
	cr_assert_eq(sscanf(r.out, "email opaque %255s", opaque), 1);
	run_free(&r);

	/* Updating the field makes its opaque token stale. */
	CTL(&r, "-p", "transactional", "update", tok, "email=new@example.org", "--clear",
	    "phone");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "ok\n");
	run_free(&r);
	CTL(&r, "-p", "transactional", "read", tok, "email", "phone", "first_name");
	assert_exit(&r, 0);
	/* Record order, not the order asked. */
	cr_assert_str_eq(r.out, "first_name: Jane\nemail: new@example.org\n");
	run_free(&r);
	CTL(&r, "-p", "transactional", "detokenize", opaque);
	assert_exit(&r, 1);
	cr_assert(strncmp(r.out, "error VAULT_E_STALE_TOKEN: ", 27) == 0, "%s", r.out);
	run_free(&r);

	CTL(&r, "-p", "transactional", "update", tok, "--remove-document", "5");
	assert_exit(&r, 1);
	cr_assert(strncmp(r.err, "vaultctl: VAULT_E_NOT_FOUND: ", 29) == 0, "%s", r.err);
	run_free(&r);
	free(tok);
}
