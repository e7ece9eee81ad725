/*
 * test_cli.c - end-to-end: the command line conventions of every program
 * (issue 14, "A CLI that behaves like the tools admins know"), run as an
 * admin would against a real vaultd: --version against meson's project
 * version ($VAULT_PROJECT_VERSION), vaultctl's own options after the
 * command words, "CMD --help" showing that command only, one JSON style
 * (RFC 3339 times or null, errors as {"error","code","message","field"},
 * usage errors included), exit codes, and progress only on a terminal (a
 * pipe gets none; script(1), Debian package bsdutils, gives a terminal).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 180);

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* vaultctl ARGS... (the socket is given by each test where it wants it). */
#define CTL(r, ...) vaultctl_run((r), NULL, NULL, ARGS(__VA_ARGS__), 0)
#define CTL_IN(r, in, ...) vaultctl_run((r), NULL, (in), ARGS(__VA_ARGS__), 0)

static json_t *
parse_json(const struct proc_run *r)
{
	json_error_t e;
	const char *nl = strchr(r->out, '\n');
	cr_assert(nl != NULL && nl[1] == '\0', "one JSON line: %s", r->out);
	json_t *j = json_loads(r->out, 0, &e);
	cr_assert_not_null(j, "not JSON (%s): %s", e.text, r->out);
	cr_assert(json_is_object(j), "%s", r->out);
	return j;
}

static const char *
jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	cr_assert(json_is_string(v), "%s is not a string", key);
	return json_string_value(v);
}

/* ---- the JSON style ----------------------------------------------------- */

/* YYYY-MM-DDTHH:MM:SSZ, exactly (RFC 3339, UTC). */
static int
is_rfc3339(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	if (strlen(s) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return 0;
	return 1;
}

/* A key that names a time: PROTOCOL.md's time keys, and any "..._at". */
static int
time_like(const char *key)
{
	static const char *const names[] = {
		"time", "created", "updated", "started", "next_due", "last_done",
		"stalled_since", "unrecoverable_after", "time_unix",
	};
	size_t n = strlen(key);
	if (n > 3 && strcmp(key + n - 3, "_at") == 0)
		return 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(key, names[i]) == 0)
			return 1;
	return 0;
}

/* Every time-like value in j is an RFC 3339 string or null; returns how
 * many it saw (so a test knows it checked something). */
static int
check_times(const json_t *j, const char *what, int depth)
{
	const char *key;
	const json_t *v;
	size_t i;
	int seen = 0;

	cr_assert(depth < 32);
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			seen += check_times(v, what, depth + 1);
		return seen;
	}
	if (!json_is_object(j))
		return 0;
	json_object_foreach((json_t *)j, key, v) {
		if (time_like(key)) {
			cr_assert(json_is_null(v) ||
			    (json_is_string(v) && is_rfc3339(json_string_value(v))),
			    "%s: %s is neither an RFC 3339 UTC time nor null", what, key);
			seen++;
		} else {
			seen += check_times(v, what, depth + 1);
		}
	}
	return seen;
}

/* An error object: the four keys, with their types; error is want. */
static void
check_error(const json_t *j, const char *want, const char *what)
{
	const json_t *code = json_object_get(j, "code"), *field = json_object_get(j, "field");

	cr_assert_str_eq(jstr(j, "error"), want, "%s", what);
	cr_assert(json_is_string(json_object_get(j, "message")), "%s: message", what);
	cr_assert_neq(jstr(j, "message")[0], '\0', "%s: empty message", what);
	cr_assert_not_null(code, "%s: no code key", what);
	cr_assert_not_null(field, "%s: no field key", what);
	if (strcmp(want, "usage") == 0)
		cr_assert(json_is_null(code), "%s: a usage error's code is null", what);
	else
		cr_assert(json_is_integer(code) && json_integer_value(code) > 0,
		    "%s: code is not a number", what);
	cr_assert(json_is_null(field) || json_is_string(field), "%s: field", what);
}

/* ---- --version ---------------------------------------------------------- */

Test(cli, every_program_prints_the_meson_version)
{
	const char *version = getenv("VAULT_PROJECT_VERSION");
	struct proc_run r;
	char want[128];

	cr_assert(version != NULL && version[0] != '\0',
	    "VAULT_PROJECT_VERSION is not set (run through meson test)");
	const struct { const char *name, *bin; } progs[] = {
		{ "vaultctl", getenv("VAULTCTL") },
		{ "vaultd", getenv("VAULTD") },
		{ "vault-keytool", keytool_path() },
	};
	for (size_t i = 0; i < 3; i++) {
		proc_run(&r, progs[i].bin, NULL, ARGS("--version"));
		assert_exit(&r, 0);
		snprintf(want, sizeof(want), "%s %s\n", progs[i].name, version);
		cr_assert_str_eq(r.out, want);
		cr_assert_str_empty(r.err);
		proc_run_free(&r);
		/* Each --help says what the exit codes mean, and names --version. */
		proc_run(&r, progs[i].bin, NULL, ARGS("--help"));
		assert_exit(&r, 0);
		cr_assert_not_null(strstr(r.out, "Exit status"), "%s --help: %s",
		    progs[i].name, r.out);
		cr_assert_not_null(strstr(r.out, "--version"), "%s --help: %s",
		    progs[i].name, r.out);
		cr_assert_not_null(strstr(r.out, "2 usage"), "%s --help: %s",
		    progs[i].name, r.out);
		proc_run_free(&r);
	}

	/* The server's version in status, as text (after the status lines; an
	 * administrator's counters follow it) and JSON. */
	CTL(&r, "-s", srv.socket, "status");
	assert_exit(&r, 0);
	snprintf(want, sizeof(want), "\nrotation: none\nbackups: ok\nversion: %s\n", version);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	proc_run_free(&r);
	CTL(&r, "-s", srv.socket, "--json", "status");
	assert_exit(&r, 0);
	json_t *j = parse_json(&r);
	cr_assert_str_eq(jstr(j, "version"), version);
	json_decref(j);
	proc_run_free(&r);

	/* And on the wire, for any client. */
	struct vault *v;
	char *raw = NULL;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_call_json(v, "status", 0, NULL, &raw), 0);
	j = json_loads(raw, 0, NULL);
	cr_assert_str_eq(jstr(j, "version"), version);
	json_decref(j);
	vault_free(raw);
	vault_close(v);
}

/* ---- options after the command ----------------------------------------- */

Test(cli, vaultctl_options_work_after_the_command)
{
	struct proc_run r;
	json_t *j;
	char uid[32];

	/* -s and --json after the command word. */
	CTL(&r, "ping", "--json", "-s", srv.socket);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "{\"ok\":true}\n");
	proc_run_free(&r);
	/* The same as before it: the place does not matter. */
	CTL(&r, "--json", "-s", srv.socket, "ping");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "{\"ok\":true}\n");
	proc_run_free(&r);

	/* -p after the values; a value from stdin (@-) still works. */
	CTL_IN(&r, "Jane.Doe@Example.COM\n", "create", "first_name=Jane", "email=@-",
	    "--socket", srv.socket, "-p", "transactional", "--json");
	assert_exit(&r, 0);
	j = parse_json(&r);
	char *tok = strdup(jstr(j, "record"));
	json_decref(j);
	proc_run_free(&r);

	/* --purpose=VALUE and -sPATH forms, between the arguments. */
	char sarg[600];
	snprintf(sarg, sizeof(sarg), "-s%s", srv.socket);
	CTL(&r, "read", tok, "--purpose=transactional", sarg, "email");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "email: Jane.Doe@example.com\nmarketing opt-out: none\n");
	proc_run_free(&r);

	/* --server-uid after the command: ours works, another is refused
	 * before anything is sent (exit 3). */
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	CTL(&r, "status", "-s", srv.socket, "--server-uid", uid);
	assert_exit(&r, 0);
	proc_run_free(&r);
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid() + 4242);
	CTL(&r, "ping", "-s", srv.socket, "--json", "--server-uid", uid);
	assert_exit(&r, 3);
	j = parse_json(&r);
	check_error(j, "VAULT_E_SERVER_IDENTITY", "--server-uid after the command");
	json_decref(j);
	proc_run_free(&r);

	/* A sub-command: options after both words. */
	CTL(&r, "keys", "status", "--json", "-s", srv.socket);
	assert_exit(&r, 0);
	j = parse_json(&r);
	cr_assert(json_is_object(json_object_get(j, "kek")), "%s", r.out);
	json_decref(j);
	proc_run_free(&r);

	/* A value that looks like an option stays the value of the command's
	 * option: the hold's reason is "--json", so the output is text. */
	CTL(&r, "-s", srv.socket, "holds", "place", tok, "--purpose", "legal",
	    "--reason", "--json");
	assert_exit(&r, 0);
	cr_assert_neq(r.out[0], '{', "--json was taken as an option: %s", r.out);
	proc_run_free(&r);
	CTL(&r, "-s", srv.socket, "holds", "list", tok, "--json");
	assert_exit(&r, 0);
	j = parse_json(&r);
	json_t *holds = json_object_get(j, "holds");
	cr_assert_eq(json_array_size(holds), 1, "%s", r.out);
	cr_assert_str_eq(jstr(json_array_get(holds, 0), "reason"), "--json");
	/* holds place's own --purpose won over vaultctl's (-p is still ours). */
	cr_assert_str_eq(jstr(json_array_get(holds, 0), "purpose"), "legal");
	json_decref(j);
	proc_run_free(&r);

	/* "--" ends the options: after it "--json" is a token to resolve. */
	CTL(&r, "-s", srv.socket, "-p", "legal", "detokenize", "--", "--json");
	assert_exit(&r, 1);
	cr_assert_neq(r.out[0], '{', "--json after -- was taken as an option: %s", r.out);
	proc_run_free(&r);

	/* A bad global option after the command is a usage error, in JSON
	 * when --json comes even later. */
	CTL(&r, "read", tok, "-p", "curiosity", "-s", srv.socket, "--json");
	assert_exit(&r, 2);
	j = parse_json(&r);
	check_error(j, "usage", "bad purpose after the command");
	cr_assert_not_null(strstr(jstr(j, "message"), "purpose"), "%s", r.out);
	json_decref(j);
	proc_run_free(&r);
	CTL(&r, "ping", "-s");
	assert_exit(&r, 2);
	cr_assert_not_null(strstr(r.err, "needs an argument"), "%s", r.err);
	proc_run_free(&r);
	free(tok);
}

/* ---- one command's help ------------------------------------------------- */

Test(cli, command_help_is_that_commands_only)
{
	struct proc_run r;

	CTL(&r, "read", "--help");
	assert_exit(&r, 0);
	cr_assert(strncmp(r.out, "usage: vaultctl [OPTIONS] read TOKEN", 36) == 0, "%s", r.out);
	cr_assert_not_null(strstr(r.out, "print a record's fields"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "-p, --purpose PURPOSE (required)"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "Exit status:"), "%s", r.out);
	/* Nothing of the other commands. */
	const char *others[] = { "create FIELD=VALUE", "keys rotate", "delete TOKEN",
		"Commands:", "audit query", "Names:" };
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		cr_assert_null(strstr(r.out, others[i]), "read --help shows %s:\n%s", others[i],
		    r.out);
	cr_assert_str_empty(r.err);
	char *read_help = strdup(r.out);
	proc_run_free(&r);

	/* "help read" and -h say the same. */
	CTL(&r, "help", "read");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, read_help);
	proc_run_free(&r);
	CTL(&r, "-p", "transactional", "read", "rec_1_x", "-h");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, read_help);
	proc_run_free(&r);
	free(read_help);

	CTL(&r, "keys", "rotate", "--help");
	assert_exit(&r, 0);
	cr_assert(strncmp(r.out, "usage: vaultctl [OPTIONS] keys rotate [kek|token|index] "
	    "[--wait]\n", 64) == 0, "%s", r.out);
	cr_assert_null(strstr(r.out, "keys retire"), "%s", r.out);
	cr_assert_null(strstr(r.out, "keys status"), "%s", r.out);
	cr_assert_null(strstr(r.out, "(required)"), "keys rotate needs no purpose: %s", r.out);
	proc_run_free(&r);

	/* A command's words: their list, and nothing else. */
	CTL(&r, "keys", "--help");
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "\n  keys retire EPOCH"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\n  keys rotate "), "%s", r.out);
	cr_assert_null(strstr(r.out, "holds place"), "%s", r.out);
	cr_assert_null(strstr(r.out, "\n  create"), "%s", r.out);
	proc_run_free(&r);

	/* status's help says it exits 2 when sealed. */
	CTL(&r, "status", "--help");
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "exits 2 when the\n  vault is sealed"), "%s", r.out);
	proc_run_free(&r);

	/* The whole text still has every command. */
	CTL(&r, "--help");
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "\n  create "), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\n  keys retire EPOCH"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "before or after COMMAND"), "%s", r.out);
	proc_run_free(&r);
}

/* ---- one JSON style ----------------------------------------------------- */

/* vaultctl -s SOCKET --json ARGS: exit want, the object, its times checked;
 * returns how many time-like values it held. */
static int
json_of(json_t **out, int want, const char *const *args)
{
	const char *argv[40] = { "--json" };
	size_t n = 1;
	struct proc_run r;

	for (size_t i = 0; args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n++] = "-s";
	argv[n++] = srv.socket;
	argv[n] = NULL;
	proc_run(&r, getenv("VAULTCTL"), NULL, argv);
	assert_exit(&r, want);
	cr_assert_str_empty(r.err, "JSON mode keeps stderr quiet: %s", r.err);
	json_t *j = parse_json(&r);
	int seen = check_times(j, args[0], 0);
	if (out != NULL)
		*out = j;
	else
		json_decref(j);
	proc_run_free(&r);
	return seen;
}

#define JSON_OK(out, ...) json_of((out), 0, ARGS(__VA_ARGS__))

Test(cli, every_json_output_has_one_style, .timeout = 240)
{
	json_t *j;
	int times = 0;

	JSON_OK(NULL, "ping");
	JSON_OK(NULL, "status");
	JSON_OK(&j, "create", "-p", "transactional", "first_name=Jane", "last_name=Doe",
	    "email=jane@example.org", "card_number=4242 4242 4242 4242");
	char *tok = strdup(jstr(j, "record"));
	json_decref(j);
	JSON_OK(NULL, "read", tok, "-p", "transactional");
	JSON_OK(NULL, "list", "-p", "transactional");
	JSON_OK(&j, "tokenize", tok, "email:opaque", "-p", "transactional");
	char *ftok = strdup(jstr(json_array_get(json_object_get(j, "tokens"), 0), "token"));
	json_decref(j);
	JSON_OK(NULL, "detokenize", ftok, "-p", "transactional");
	JSON_OK(NULL, "update", tok, "phone=(858) 375-5875", "-p", "transactional");
	JSON_OK(NULL, "transaction", tok, "--reference", "order-1", "--amount", "12.50");
	times += JSON_OK(NULL, "keys", "status");
	JSON_OK(NULL, "keys", "signing");
	JSON_OK(NULL, "keys", "rotate-record", tok);
	times += JSON_OK(NULL, "audit", "query", "--record", tok);
	JSON_OK(NULL, "audit", "verify");
	JSON_OK(NULL, "backup", "cli-json");

	/* Holds and requests: the server's integer times become strings. */
	JSON_OK(&j, "holds", "place", tok, "--purpose", "legal", "--reason", "court order",
	    "--expires", "2099-01-01");
	json_decref(j);
	times += JSON_OK(&j, "holds", "list");
	json_t *h = json_array_get(json_object_get(j, "holds"), 0);
	cr_assert_str_eq(jstr(h, "expires_at"), "2099-01-01T00:00:00Z");
	json_decref(j);
	times += JSON_OK(&j, "requests", "open", "--kind", "know", "--channel", "email",
	    "--requester", "self", "--received-at", "2026-11-30");
	const char *due = jstr(j, "due_at");
	cr_assert_str_eq(due, "2027-01-14T00:00:00Z", "45 days after");
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(j,
	    "request")));
	json_decref(j);
	times += JSON_OK(NULL, "requests", "list");
	times += JSON_OK(&j, "requests", "show", id);
	/* Not completed yet: null, never 0. */
	cr_assert(json_is_null(json_object_get(j, "completed_at")), "completed_at");
	json_decref(j);
	times += JSON_OK(NULL, "requests", "extend", id, "--reason", "more time");
	cr_assert_geq(times, 8, "the outputs held times: %d", times);

	JSON_OK(NULL, "keys", "rotate", "--wait");
	times = JSON_OK(NULL, "keys", "status");
	cr_assert_geq(times, 3);
	JSON_OK(&j, "create", "-p", "transactional", "email=gone@example.org");
	char *gone = strdup(jstr(j, "record"));
	json_decref(j);
	times = JSON_OK(&j, "delete", gone, "--reason", "subject_request", "-p", "transactional");
	cr_assert_eq(times, 1, "delete's deleted_at: %d", times);
	cr_assert(json_is_string(json_object_get(j, "deleted_at")));
	json_decref(j);
	free(gone);
	free(tok);
	free(ftok);
}

Test(cli, json_errors_have_the_four_keys)
{
	struct proc_run r;
	json_t *j;

	/* Usage errors: before the command, after it, of the command itself. */
	const char *const usage[][8] = {
		{ "--json", "frobnicate", NULL },
		{ "frobnicate", "--json", NULL },
		{ "read", "rec_1_x", "--json", NULL },          /* no purpose */
		{ "-p", "transactional", "read", "--json", NULL }, /* no token */
		{ "keys", "retire", "two", "--json", NULL },
		{ "ping", "--bogus", "--json", NULL },
		{ "--json", "keys", NULL },
		{ "--timeout", "soon", "ping", "--json", NULL },
		{ "help", "nope", "--json", NULL },
	};
	for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
		const char *argv[12] = { "-s", srv.socket };
		size_t n = 2;
		for (size_t k = 0; usage[i][k] != NULL; k++)
			argv[n++] = usage[i][k];
		argv[n] = NULL;
		proc_run(&r, getenv("VAULTCTL"), NULL, argv);
		assert_exit(&r, 2);
		cr_assert_str_empty(r.err, "case %zu: %s", i, r.err);
		j = parse_json(&r);
		check_error(j, "usage", usage[i][0]);
		cr_assert(json_is_null(json_object_get(j, "field")));
		json_decref(j);
		proc_run_free(&r);
	}

	/* A server error without a field... */
	CTL(&r, "-s", srv.socket, "-p", "transactional", "read",
	    "rec_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "--json");
	assert_exit(&r, 1);
	j = parse_json(&r);
	check_error(j, "VAULT_E_BAD_TOKEN", "forged token");
	cr_assert_eq(json_integer_value(json_object_get(j, "code")), VAULT_E_BAD_TOKEN);
	json_decref(j);
	proc_run_free(&r);

	/* ... and one naming its field in its own key: retiring the current
	 * epoch (PROTOCOL.md 8.14: "field": "epoch"). */
	CTL(&r, "-s", srv.socket, "keys", "retire", "1", "--json");
	assert_exit(&r, 1);
	j = parse_json(&r);
	cr_assert(strncmp(jstr(j, "error"), "VAULT_E_", 8) == 0, "%s", r.out);
	check_error(j, jstr(j, "error"), "keys retire 1");
	cr_assert_str_eq(jstr(j, "field"), "epoch", "%s", r.out);
	json_decref(j);
	proc_run_free(&r);

	/* The library gives the field by itself, and forgets it at the next call. */
	struct vault *v;
	uint64_t remaining, before, after;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_neq(vault_keys_retire(v, 1, &remaining, &before, &after), 0);
	cr_assert_str_eq(vault_last_field(v), "epoch");
	cr_assert_eq(vault_ping(v), 0);
	cr_assert_str_eq(vault_last_field(v), "");
	vault_close(v);

	/* A connection failure is an error object too. */
	CTL(&r, "-s", "/nonexistent/vaultd.sock", "ping", "--json");
	assert_exit(&r, 3);
	j = parse_json(&r);
	check_error(j, "VAULT_E_IO", "no socket");
	json_decref(j);
	proc_run_free(&r);
}

/* ---- progress: a terminal only ------------------------------------------ */

/* Run cmd (a shell command line) under script(1), which gives it a
 * terminal; the terminal's output. */
static char *
on_a_terminal(const char *cmd)
{
	char path[600], line[4096];
	vaultd_path(&srv, "pty.out", path, sizeof(path));
	snprintf(line, sizeof(line), "script -qec '%s' /dev/null > %s 2>&1 < /dev/null",
	    cmd, path);
	int rc = system(line);
	cr_assert(rc != -1 && WIFEXITED(rc), "script(1) failed: %s", line);
	size_t n;
	char *out = read_file_all(path, &n);
	cr_assert_not_null(out);
	return out;
}

Test(cli, progress_only_on_a_terminal, .timeout = 240)
{
	struct proc_run r;
	char cmd[2048];

	/* Enough records that a rewrap takes a few polls. */
	for (int i = 0; i < 300; i++) {
		char email[64];
		snprintf(email, sizeof(email), "email=person%d@example.org", i);
		CTL(&r, "-s", srv.socket, "-p", "transactional", "create", email);
		assert_exit(&r, 0);
		proc_run_free(&r);
	}

	/* stderr is a pipe: not a byte of progress, text or JSON. */
	CTL(&r, "-s", srv.socket, "keys", "rotate", "--wait");
	assert_exit(&r, 0);
	cr_assert_str_empty(r.err, "progress into a pipe: %s", r.err);
	cr_assert(strncmp(r.out, "epoch 2\nrotation to epoch 2 finished", 36) == 0, "%s", r.out);
	proc_run_free(&r);
	CTL(&r, "-s", srv.socket, "keys", "retire", "1");
	assert_exit(&r, 0);
	cr_assert_str_empty(r.err, "progress into a pipe: %s", r.err);
	proc_run_free(&r);
	CTL(&r, "-s", srv.socket, "backup", "quiet");
	assert_exit(&r, 0);
	cr_assert_str_empty(r.err, "progress into a pipe: %s", r.err);
	proc_run_free(&r);

	/* On a terminal the rewrap's progress line shows. */
	cr_assert_eq(system("command -v script >/dev/null"), 0,
	    "script(1) (Debian package bsdutils) is needed for the terminal half of this test");
	snprintf(cmd, sizeof(cmd), "%s -s %s keys rotate --wait", getenv("VAULTCTL"),
	    srv.socket);
	char *tty = on_a_terminal(cmd);
	cr_assert_not_null(strstr(tty, "rotating to epoch 3: "), "no progress on a terminal:\n%s",
	    tty);
	cr_assert_not_null(strstr(tty, "rotation to epoch 3 finished"), "%s", tty);
	free(tty);
	/* --json on a terminal: the progress is on stderr, stdout stays one
	 * JSON object (only checked through a pipe above: script merges them). */
}

Test(cli, restore_phases_only_on_a_terminal, .timeout = 240)
{
	struct proc_run r;
	char backup[600], cmd[2048];

	for (int i = 0; i < 20; i++) {
		char email[64];
		snprintf(email, sizeof(email), "email=restore%d@example.org", i);
		CTL(&r, "-s", srv.socket, "-p", "transactional", "create", email);
		assert_exit(&r, 0);
		proc_run_free(&r);
	}
	CTL(&r, "-s", srv.socket, "--json", "backup", "phases");
	assert_exit(&r, 0);
	json_t *j = parse_json(&r);
	const char *p = jstr(j, "path");
	/* A relative backup_dir is relative to vaultd's working directory,
	 * the test's directory. */
	if (p[0] == '/')
		snprintf(backup, sizeof(backup), "%s", p);
	else
		snprintf(backup, sizeof(backup), "%s/%s", srv.dir, p);
	json_decref(j);
	proc_run_free(&r);
	cr_assert_eq(access(backup, R_OK), 0, "%s: %s", backup, strerror(errno));
	cr_assert_eq(vaultd_stop(&srv), 0);

	/* stderr a pipe: the summary on stdout, no phase lines. */
	proc_run(&r, getenv("VAULTD"), NULL, ARGS("-c", srv.config, "--restore", backup));
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "restored "), "%s", r.out);
	cr_assert_null(strstr(r.err, "restore: 1/5"), "phases into a pipe: %s", r.err);
	cr_assert_null(strstr(r.out, "restore: 1/5"), "phases on stdout: %s", r.out);
	proc_run_free(&r);

	/* On a terminal: a line per phase, with counts. */
	snprintf(cmd, sizeof(cmd), "%s -c %s --restore %s", getenv("VAULTD"), srv.config,
	    backup);
	char *tty = on_a_terminal(cmd);
	cr_assert_not_null(strstr(tty, "restore: checking the backup"), "%s", tty);
	cr_assert_not_null(strstr(tty, "restore: 1/5 applying the deletions"), "%s", tty);
	cr_assert_not_null(strstr(tty, "2/5 done: 20 records examined"), "%s", tty);
	cr_assert_not_null(strstr(tty, "restore: 5/5 swapping the data files"), "%s", tty);
	cr_assert_not_null(strstr(tty, "restored "), "%s", tty);
	free(tty);
	vaultd_restart(&srv);
	CTL(&r, "-s", srv.socket, "status");
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "records: 20\n"), "%s", r.out);
	proc_run_free(&r);
}
