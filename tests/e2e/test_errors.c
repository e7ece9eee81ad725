/*
 * test_errors.c - end-to-end: errors that say what to do (issue 14). A
 * value refused over the protocol names its field and the rule it broke,
 * never the value; an unknown field is named when it looks like a field
 * name and not otherwise; missing keys come with the command that makes
 * them; vault-keytool says why a key file cannot be created; sizes with a
 * unit work and a bad one names the accepted format.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <msgpack.h>
#include <vault/vault.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/msg.h"
#include "harness.h"

static struct vaultd_proc srv;

static void
setup(void)
{
	vaultd_start(&srv, NULL);
}

static void
teardown(void)
{
	vaultd_finish(&srv);
}

TestSuite(errors, .timeout = 60);

/* ---- raw frames ---------------------------------------------------------- */

/* error.key of a reply as a new string ("" if absent). */
static char *
err_str(const struct raw_reply *r, const char *key)
{
	const msgpack_object *e = msg_get(&r->root, "error"), *o;
	cr_assert_not_null(e, "not an error reply");
	o = msg_get(e, key);
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return strdup("");
	return strndup(o->via.str.ptr, o->via.str.size);
}

static int
err_code(const struct raw_reply *r)
{
	const msgpack_object *e = msg_get(&r->root, "error");
	cr_assert_not_null(e, "not an error reply");
	return (int)msg_get(e, "code")->via.u64;
}

/* Send create {fields: {name: value}} and read the reply. */
static void
create_one(int fd, uint64_t id, const char *name, size_t nlen, const char *value,
    struct raw_reply *r)
{
	struct buf b = { 0 };
	msgpack_packer pk;
	msgpack_packer_init(&pk, &b, buf_msgpack_write);
	msgpack_pack_map(&pk, 5);
	mp_cstr(&pk, "v");
	msgpack_pack_uint32(&pk, 1);
	mp_cstr(&pk, "id");
	msgpack_pack_uint64(&pk, id);
	mp_cstr(&pk, "op");
	mp_cstr(&pk, "create");
	mp_cstr(&pk, "purpose");
	mp_cstr(&pk, "transactional");
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str(&pk, nlen);
	msgpack_pack_str_body(&pk, name, nlen);
	mp_cstr(&pk, value);
	raw_send_frame(fd, b.data, b.len);
	buf_free(&b);
	cr_assert_eq(raw_recv_reply(fd, r), 0, "no reply");
}

static int
body_contains(const struct raw_reply *r, const char *s)
{
	return memmem(r->body, r->len, s, strlen(s)) != NULL;
}

/* ---- validation reasons -------------------------------------------------- */

Test(errors, each_refused_value_names_its_field_and_rule_never_the_value,
    .init = setup, .fini = teardown)
{
	static const struct {
		const char *field, *value;
		int code;
		const char *message;
	} cases[] = {
		{ "card_number", "4111 1111 1111 1112", VAULT_E_INVALID_VALUE, "Luhn check failed" },
		{ "card_number", "4111-1111", VAULT_E_INVALID_VALUE, "not 13-19 digits" },
		{ "card_number", "4111x111111111111", VAULT_E_INVALID_VALUE,
		    "holds a character other than digits, spaces and -" },
		{ "card_expiry", "13/29", VAULT_E_INVALID_VALUE, "month out of range (01-12)" },
		{ "card_expiry", "01/19", VAULT_E_INVALID_VALUE, "in the past" },
		{ "card_expiry", "0119x", VAULT_E_INVALID_VALUE, "not MM/YY, MM/YYYY or MMYY" },
		{ "email", "ann.example.com", VAULT_E_INVALID_VALUE, "no @" },
		{ "email", "ann@bob@example.com", VAULT_E_INVALID_VALUE, "more than one @" },
		{ "email", "ann@localhost", VAULT_E_INVALID_VALUE,
		    "the domain is not two or more labels of letters, digits and inner "
		    "hyphens (an address literal is refused)" },
		{ "phone", "555 0100 99", VAULT_E_INVALID_VALUE,
		    "not a valid number for calling code 1 (10 digits, or 11 starting with 1; "
		    "others need + and their code)" },
		{ "phone", "+44 (0)20 7946 0958", VAULT_E_INVALID_VALUE,
		    "(0) after an international prefix is ambiguous: drop it" },
		{ "ip_address", "010.1.2.3", VAULT_E_INVALID_VALUE,
		    "not an IPv4 dotted quad without leading zeros, nor an IPv6 address" },
		{ "bank_account", "GB82WEST12345698765431", VAULT_E_INVALID_VALUE,
		    "IBAN: check digits failed (mod 97)" },
		{ "bank_account", "021000022:12345678", VAULT_E_INVALID_VALUE,
		    "routing number check digit failed (ABA)" },
		{ "first_name", "Ann\tMarie", VAULT_E_INVALID_VALUE,
		    "not UTF-8 text, or holds a control character (tab and newline included)" },
		{ "last_name", "   ", VAULT_E_EMPTY, "empty (nothing but blanks)" },
	};
	int fd = vaultd_raw_connect(&srv, 10);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct raw_reply r;
		create_one(fd, i + 1, cases[i].field, strlen(cases[i].field), cases[i].value, &r);
		char *msg = err_str(&r, "message"), *field = err_str(&r, "field");
		cr_assert_eq(err_code(&r), cases[i].code, "%s %s: %s", cases[i].field,
		    cases[i].value, msg);
		cr_assert_str_eq(msg, cases[i].message, "%s", cases[i].field);
		cr_assert_str_eq(field, cases[i].field);
		/* Not the value, nor its digits without blanks, anywhere in the reply. */
		const char *v = cases[i].value;
		while (*v == ' ')
			v++;
		if (*v != '\0')
			cr_assert(!body_contains(&r, v), "reply echoes the value: %s", msg);
		free(msg);
		free(field);
		raw_reply_free(&r);
	}
	/* Too long: the limit's class, without the value. */
	char big[1601];
	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big + sizeof big - 13, "@example.com", 12);
	struct raw_reply r;
	create_one(fd, 100, "email", 5, big, &r);
	char *msg = err_str(&r, "message");
	cr_assert_eq(err_code(&r), VAULT_E_TOO_LARGE, "%s", msg);
	cr_assert_str_eq(msg, "longer than the field's input limit (PROTOCOL.md, Fields)");
	cr_assert(!body_contains(&r, "qqqqqqqq"));
	free(msg);
	raw_reply_free(&r);
	close(fd);
}

Test(errors, an_unknown_field_is_named_only_when_it_looks_like_a_field_name,
    .init = setup, .fini = teardown)
{
	int fd = vaultd_raw_connect(&srv, 10);
	struct raw_reply r;
	create_one(fd, 1, "card_numbr", 10, "4111111111111111", &r);
	char *msg = err_str(&r, "message"), *field = err_str(&r, "field");
	cr_assert_eq(err_code(&r), VAULT_E_UNKNOWN_FIELD);
	cr_assert_str_eq(msg, "unknown field \"card_numbr\"; PROTOCOL.md lists the fields");
	cr_assert_str_eq(field, "fields");
	cr_assert(!body_contains(&r, "4111111111111111"));
	free(msg);
	free(field);
	raw_reply_free(&r);
	/* A name that could be anything a client typed (here: an email) is not shown. */
	static const char *const odd[] = { "ann@example.com", "Ann Smith",
	    "a_field_name_longer_than_thirty_two_bytes", "" };
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		create_one(fd, 2 + i, odd[i], strlen(odd[i]), "x", &r);
		msg = err_str(&r, "message");
		cr_assert_eq(err_code(&r), VAULT_E_UNKNOWN_FIELD, "%s", msg);
		cr_assert_str_eq(msg, "an unknown field name (not shown: not 1-32 of a-z, 0-9, _); "
		    "PROTOCOL.md lists the fields");
		if (odd[i][0] != '\0')
			cr_assert(!body_contains(&r, odd[i]), "echoed: %s", odd[i]);
		free(msg);
		raw_reply_free(&r);
	}
	close(fd);
	/* The C library shows the reason and the field. */
	struct vault *v;
	char *res = NULL;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_call_json(v, "create", VAULT_PURPOSE_TRANSACTIONAL,
	    "{\"fields\":{\"card_expiry\":\"14/30\"}}", &res), VAULT_E_INVALID_VALUE);
	cr_assert_str_eq(vault_last_message(v), "month out of range (01-12) (field: card_expiry)");
	vault_close(v);
}

/* ---- keys ---------------------------------------------------------------- */

Test(errors, missing_keys_say_how_to_make_them)
{
	struct vaultd_proc p;
	char ring[600], root[600], *log = NULL;
	vaultd_start(&p, NULL);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_path(&p, "keys/keyring", ring, sizeof ring);
	vaultd_path(&p, "keys/root.key", root, sizeof root);
	cr_assert_eq(unlink(ring), 0);
	cr_assert_eq(unlink(root), 0);
	cr_assert_neq(vaultd_expect_refusal(&p, &log), 0);
	char want[1400];
	snprintf(want, sizeof want, "create them with `vault-keytool init %s --key-file %s` "
	    "(or start with --dev for development)", ring, root);
	cr_assert_not_null(strstr(log, want), "%s", log);
	cr_assert_not_null(strstr(log, "no key ring and no root key"), "%s", log);
	free(log);
	vaultd_cleanup(&p);
}

/* Run argv with in (may be NULL) on stdin; its stderr, then its stdout,
 * into out (malloc'd). */
static int
run_in(const char *in, char *const argv[], char **out)
{
	struct proc_run r;
	proc_run(&r, argv[0], in, (const char *const *)argv + 1);
	*out = malloc(r.errlen + r.outlen + 1);
	cr_assert_not_null(*out);
	memcpy(*out, r.err, r.errlen);
	memcpy(*out + r.errlen, r.out, r.outlen + 1);
	int status = r.status;
	proc_run_free(&r);
	return status;
}

/* The same with an empty stdin. */
static int
run(char *const argv[], char **out)
{
	return run_in(NULL, argv, out);
}

static void
sibling(const char *env, const char *rel, char *out, size_t cap)
{
	const char *bin = getenv(env);
	cr_assert_not_null(bin, "%s not set", env);
	snprintf(out, cap, "%s", bin);
	char *slash = strrchr(out, '/');
	cr_assert_not_null(slash);
	snprintf(slash, cap - (size_t)(slash - out), "%s", rel);
}

Test(errors, keytool_names_the_path_and_errno_of_a_key_file_it_cannot_create)
{
	char bin[600], *out = NULL;
	sibling("VAULTD", "/../keys/vault-keytool", bin, sizeof bin);
	char *argv[] = { bin, "init", "/tmp/vault-errors-nodir/ring", "--key-file",
	    "/tmp/vault-errors-nodir/root.key", NULL };
	cr_assert_eq(run(argv, &out), 1, "%s", out);
	cr_assert_not_null(strstr(out, "/tmp/vault-errors-nodir/root.key: cannot create root key "
	    "file: No such file or directory"), "%s", out);
	free(out);
}

/* ---- sizes with a unit --------------------------------------------------- */

Test(errors, sizes_with_a_unit_start_and_a_bad_one_names_the_format)
{
	struct vaultd_proc p;
	vaultd_start(&p, "[server]\nmax_frame_bytes = 4MiB\nmax_queued_write_bytes = 1GB\n"
	    "[audit]\nreserve_bytes = 64mb\n");
	struct vault *v;
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_eq(vault_ping(v), 0);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	FILE *f = fopen(p.config, "a");
	cr_assert_not_null(f);
	fputs("[storage]\nmap_size_bytes = 16 GB\n", f);
	fclose(f);
	char *out = NULL;
	char *argv[] = { (char *)getenv("VAULTD"), "--check", "-c", p.config, NULL };
	cr_assert_not_null(argv[0]);
	cr_assert_neq(run(argv, &out), 0, "--check accepted 16 GB: %s", out);
	cr_assert_not_null(strstr(out, "[storage] map_size_bytes: invalid value \"16 GB\": "
	    "expected a number of bytes with an optional unit K, M, G or T"), "%s", out);
	free(out);
	vaultd_cleanup(&p);
}

/* ---- vaultd --restore on a passphrase ring ------------------------------- */

/*
 * A vaultd on a passphrase ring (cheap Argon2id: a test), one record, a
 * backup; vaultd stopped. The backup's path goes to backup.
 */
static void
passphrase_vault_with_backup(struct vaultd_proc *p, char *backup, size_t cap)
{
	char ring[600], data[600], kt[600], *out = NULL;
	vaultd_start(p, NULL);
	cr_assert_eq(vaultd_stop(p), 0);
	vaultd_path(p, "sealed-ring", ring, sizeof ring);
	vaultd_path(p, "sealed-data", data, sizeof data);
	sibling("VAULTD", "/../keys/vault-keytool", kt, sizeof kt);
	char *argv[] = { kt, "init", ring, "--passphrase", "--opslimit", "1", "--memlimit",
	    "8MiB", NULL };
	cr_assert_eq(run_in("correct horse battery\n", argv, &out), 0, "%s", out);
	free(out);
	FILE *f = fopen(p->config, "a");
	cr_assert_not_null(f);
	fprintf(f, "[keys]\nkeyring_path = %s\n[storage]\ndata_dir = %s\n", ring, data);
	fclose(f);
	vaultd_restart(p);
	struct vault *v;
	char *res = NULL, *path = NULL;
	uint64_t bytes = 0;
	cr_assert_eq(vault_connect(p->socket, &v), 0);
	/* PROTOCOL.md said backup runs while sealed; it is refused (section 6). */
	cr_assert_eq(vault_backup(v, "sealed", &path, &bytes), VAULT_E_SEALED, "%s",
	    vault_last_message(v));
	cr_assert_eq(vault_unseal(v, "correct horse battery"), 0, "%s", vault_last_message(v));
	cr_assert_eq(vault_call_json(v, "create", VAULT_PURPOSE_TRANSACTIONAL,
	    "{\"fields\":{\"email\":\"ann@example.com\"}}", &res), 0, "%s", vault_last_message(v));
	vault_free(res);
	cr_assert_eq(vault_backup(v, "one", &path, &bytes), 0, "%s", vault_last_message(v));
	snprintf(backup, cap, "%s", path);
	vault_free(path);
	vault_close(v);
	cr_assert_eq(vaultd_stop(p), 0);
}

Test(errors, restore_reads_the_passphrase_from_a_pipe, .timeout = 120)
{
	struct vaultd_proc p;
	char backup[1024], *out = NULL;
	passphrase_vault_with_backup(&p, backup, sizeof backup);
	char *argv[] = { (char *)getenv("VAULTD"), "-c", p.config, "--restore", backup, NULL };
	cr_assert_eq(run_in("wrong horse battery\n", argv, &out), 1, "%s", out);
	cr_assert_null(strstr(out, "horse"), "the passphrase in the output: %s", out);
	free(out);
	cr_assert_eq(run_in("correct horse battery\n", argv, &out), 0, "%s", out);
	cr_assert_null(strstr(out, "horse"), "the passphrase in the output: %s", out);
	free(out);
	vaultd_cleanup(&p);
}

/*
 * Run argv with its output in a file; once the output shows prompt (within
 * 20 s), write in to its stdin and close it. Its output into out.
 */
static int
run_typing_after(const char *prompt, const char *in, char *const argv[], char **out)
{
	char path[] = "/tmp/vault-errors-XXXXXX";
	int efd = mkstemp(path), pin[2], st;
	cr_assert(efd >= 0);
	cr_assert_eq(pipe(pin), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pin[0], 0);
		close(pin[0]);
		close(pin[1]);
		dup2(efd, 2);
		dup2(efd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pin[0]);
	size_t n;
	int seen = 0;
	for (int i = 0; i < 2000 && !seen; i++) {
		char *now = read_file_all(path, &n);
		seen = now != NULL && strstr(now, prompt) != NULL;
		free(now);
		if (!seen)
			usleep(10000);
	}
	if (seen)
		cr_assert_eq(write(pin[1], in, strlen(in)), (ssize_t)strlen(in));
	close(pin[1]);
	waitpid(pid, &st, 0);
	*out = read_file_all(path, &n);
	close(efd);
	unlink(path);
	cr_assert(seen, "no prompt \"%s\" within 20 s: %s", prompt, *out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * On a terminal (script(1) gives vaultd a pseudo-terminal and types what
 * it reads from its pipe): the prompt appears, the passphrase does not.
 * Before, vaultd read it with fgets and the terminal echoed it.
 */
Test(errors, restore_on_a_terminal_does_not_echo_the_passphrase, .timeout = 120)
{
	struct vaultd_proc p;
	char backup[1024], cmd[3000], *out = NULL;
	passphrase_vault_with_backup(&p, backup, sizeof backup);
	cr_assert_eq(access("/usr/bin/script", X_OK), 0, "script(1) (util-linux) is needed");
	snprintf(cmd, sizeof cmd, "'%s' -c '%s' --restore '%s'", getenv("VAULTD"), p.config,
	    backup);
	char *argv[] = { "/usr/bin/script", "-qec", cmd, "/dev/null", NULL };
	int rc = run_typing_after("key ring passphrase: ", "correct horse battery\n", argv, &out);
	cr_assert_not_null(strstr(out, "key ring passphrase: "), "no prompt: %s", out);
	cr_assert_null(strstr(out, "horse"), "the terminal echoed the passphrase: %s", out);
	cr_assert_eq(rc, 0, "%s", out);
	free(out);
	vaultd_cleanup(&p);
}

/* ---- privacy request claims ---------------------------------------------- */

/* A claim refused for its form says which rule, never the claimed value. */
Test(errors, a_refused_claim_names_its_rule_never_the_value, .init = setup, .fini = teardown)
{
	struct vault *v;
	char *res = NULL, json[512];
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_call_json(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":"
	    "\"phone\",\"requester\":\"self\"}", &res), 0, "%s", vault_last_message(v));
	const char *p = strstr(res, "\"request\":");
	cr_assert_not_null(p, "%s", res);
	long long id = strtoll(p + 10, NULL, 10);
	vault_free(res);
	static const struct { const char *claims, *message; } cases[] = {
		{ "\"email\":\"ada.example.org\"", "no @ (field: email)" },
		{ "\"phone\":\"+44 (0)20 7946 0958\"",
		    "(0) after an international prefix is ambiguous: drop it (field: phone)" },
		{ "\"transaction\":{\"date\":\"2026-13-45\"}", "a date is YYYY-MM-DD (field: transaction)" },
		{ "\"transaction\":{\"amount\":\"12.345\"}",
		    "an amount is a decimal number with at most two decimals (field: transaction)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(json, sizeof json, "{\"request\":%lld,\"claims\":{%s}}", id, cases[i].claims);
		int rc = vault_call_json(v, "request_verify", 0, json, &res);
		cr_assert_eq(rc, VAULT_E_INVALID_VALUE, "%s: %s %s", cases[i].claims,
		    vault_error_name(rc), vault_last_message(v));
		cr_assert_str_eq(vault_last_message(v), cases[i].message);
	}
	vault_close(v);
}
