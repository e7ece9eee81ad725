/*
 * test_call_json.c - end-to-end: vault_call_json() against a real vaultd
 * (operations that exist today: ping, status, create, read), its local and
 * server errors, and that no argument value reaches an error message; then
 * vaultctl's "export verify" on files signed here with libsodium (offline,
 * with --public-key), and usage errors of the privacy commands that are
 * caught before anything is sent.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <vault/vault.h>

#include "harness.h"

static struct vaultd_proc srv;
static struct vault *v;

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	vaultd_start(&srv, NULL);
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
}

static void
teardown(void)
{
	vault_close(v);
	vaultd_finish(&srv);
}

TestSuite(call_json, .init = setup, .fini = teardown, .timeout = 120);

/* vault_call_json that must succeed; the result, to vault_free. */
static char *
call_ok(const char *op, enum vault_purpose p, const char *args)
{
	char *res = (char *)1;
	int rc = vault_call_json(v, op, p, args, &res);

	cr_assert_eq(rc, 0, "%s: %s %s", op, vault_error_name(rc), vault_last_message(v));
	cr_assert_not_null(res);
	return res;
}

/* vault_call_json that must fail with want; *result must be NULL after. */
static void
call_fails(const char *op, enum vault_purpose p, const char *args, int want)
{
	char *res = (char *)1;
	int rc = vault_call_json(v, op, p, args, &res);

	cr_assert_eq(rc, want, "%s: got %s (%s), want %s", op, vault_error_name(rc),
	    vault_last_message(v), vault_error_name(want));
	cr_assert_null(res, "no result on error");
	cr_assert_neq(vault_last_message(v)[0], '\0', "an error has a message");
}

Test(call_json, ping)
{
	char *res = call_ok("ping", 0, "{}");
	cr_assert_str_eq(res, "{}");
	vault_free(res);
	res = call_ok("ping", 0, NULL);
	cr_assert_str_eq(res, "{}");
	vault_free(res);
	/* No result wanted. */
	cr_assert_eq(vault_call_json(v, "ping", 0, NULL, NULL), 0);
}

Test(call_json, status_compact_sorted)
{
	char *res = call_ok("status", 0, "{}");
	const char *keys[] = { "\"kek_epoch\":", "\"protocol_version\":1,", "\"records\":",
		"\"sealed\":false,", "\"tombstones\":", "\"uptime_seconds\":" };
	const char *prev = res;

	cr_assert_eq(res[0], '{');
	cr_assert_null(strchr(res, ' '), "compact: %s", res);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *at = strstr(res, keys[i]);
		cr_assert_not_null(at, "%s in %s", keys[i], res);
		cr_assert(at >= prev, "keys sorted: %s", res);
		prev = at;
	}
	vault_free(res);
}

/* The record token of a create result. */
static char *
record_of(const char *res)
{
	json_error_t err;
	json_t *j = json_loads(res, 0, &err);
	cr_assert_not_null(j, "result is JSON: %s", res);
	const char *tok = json_string_value(json_object_get(j, "record"));
	cr_assert_not_null(tok, "record in %s", res);
	char *out = strdup(tok);
	json_decref(j);
	return out;
}

Test(call_json, create_then_read)
{
	char *res = call_ok("create", VAULT_PURPOSE_TRANSACTIONAL,
	    "{\"fields\": {\"first_name\": \"J\\u00f6rg\", \"last_name\": \"Doe\","
	    " \"email\": \"Jane.Doe@Example.COM\"},"
	    " \"tokens\": [{\"field\": \"email\", \"kind\": \"deterministic\"}],"
	    " \"marketing_opt_out\": {\"phone\": true}}");
	char *tok = record_of(res);
	cr_assert(strncmp(tok, "rec_", 4) == 0);
	cr_assert_not_null(strstr(res, "\"tokens\":[{\"field\":\"email\",\"kind\":"
	    "\"deterministic\",\"token\":\"det_"), "%s", res);
	vault_free(res);

	char args[256];
	snprintf(args, sizeof(args), "{\"record\": \"%s\", \"fields\": [\"email\", "
	    "\"first_name\", \"last_name\"]}", tok);
	res = call_ok("read", VAULT_PURPOSE_TRANSACTIONAL, args);
	cr_assert_not_null(strstr(res, "\"fields\":{\"email\":\"Jane.Doe@example.com\","
	    "\"first_name\":\"J\xc3\xb6rg\",\"last_name\":\"Doe\"}"), "%s", res);
	cr_assert_not_null(strstr(res, "\"marketing_opt_out\":{\"email\":false,"
	    "\"mail\":false,\"phone\":true}"), "%s", res);
	cr_assert_not_null(strstr(res, "\"document_slots\":[]"), "%s", res);
	vault_free(res);
	free(tok);
}

Test(call_json, bin_as_base64)
{
	struct vault_record *r;
	char *tok = NULL, args[256];
	static const char data[] = { 'h', 'e', 'l', 'l', 'o', 0, 'w', 'o', 'r', 'l', 'd' };

	cr_assert_eq(vault_record_new(&r), 0);
	vault_record_set(r, "first_name", "Jane");
	cr_assert_eq(vault_record_add_document(r, "a.bin", "application/octet-stream",
	    data, sizeof(data)), 0);
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	snprintf(args, sizeof(args), "{\"record\": \"%s\", \"fields\": [], \"documents\": "
	    "true}", tok);
	char *res = call_ok("read", VAULT_PURPOSE_TRANSACTIONAL, args);
	cr_assert_not_null(strstr(res, "\"documents\":[{\"data\":\"aGVsbG8Ad29ybGQ=\","
	    "\"name\":\"a.bin\",\"slot\":1,\"type\":\"application/octet-stream\"}]"),
	    "%s", res);
	vault_free(res);
	vault_free(tok);
}

Test(call_json, server_errors)
{
	char args[128];

	call_fails("no_such_op", 0, "{}", VAULT_E_PROTO_UNKNOWN_OP);
	/* A bad argument type: record must be a str. */
	call_fails("read", VAULT_PURPOSE_TRANSACTIONAL, "{\"record\": 5}", VAULT_E_PROTO_TYPE);
	cr_assert_not_null(strstr(vault_last_message(v), "record"), "%s",
	    vault_last_message(v));
	/* A negative integer is sent as one (and refused as the wrong type). */
	call_fails("list", VAULT_PURPOSE_TRANSACTIONAL, "{\"limit\": -1}",
	    VAULT_E_PROTO_TYPE);
	call_fails("read", 0, "{\"record\": \"rec_x\"}", VAULT_E_PURPOSE);
	call_fails("ping", 0, "{\"extra\": null}", VAULT_E_PROTO_UNKNOWN_ARG);
	/* Within the library's depth, beyond the server's (6 with the request). */
	call_fails("ping", 0, "{\"a\":[[[[[[[1]]]]]]]}", VAULT_E_LIMIT);
	/* The server's messages never hold a value. */
	snprintf(args, sizeof(args), "{\"record\": \"rec_1_SECRETSECRETSECRET\"}");
	call_fails("read", VAULT_PURPOSE_TRANSACTIONAL, args, VAULT_E_BAD_TOKEN);
	cr_assert_null(strstr(vault_last_message(v), "SECRET"));
	/* The connection is still usable. */
	cr_assert_eq(vault_ping(v), 0);
}

Test(call_json, local_errors)
{
	char deep[256] = "", *p = deep;

	/* A real is refused: the protocol has integers only. */
	call_fails("list", VAULT_PURPOSE_TRANSACTIONAL, "{\"limit\": 1.5}",
	    VAULT_E_PROTO_TYPE);
	call_fails("list", VAULT_PURPOSE_TRANSACTIONAL, "{\"limit\": 1e2}",
	    VAULT_E_PROTO_TYPE);
	call_fails("ping", 0, "{\"a\": 99999999999999999999}", VAULT_E_PROTO_TYPE);
	/* Malformed JSON; the message names a position, never the text. */
	call_fails("create", VAULT_PURPOSE_TRANSACTIONAL,
	    "{\"fields\": {\"email\": \"secret@example.com\" \"x\"}}", VAULT_E_PROTO_FRAME);
	cr_assert_null(strstr(vault_last_message(v), "secret"), "%s", vault_last_message(v));
	call_fails("ping", 0, "{", VAULT_E_PROTO_FRAME);
	call_fails("ping", 0, "{} {}", VAULT_E_PROTO_FRAME);
	call_fails("ping", 0, "", VAULT_E_PROTO_FRAME);
	call_fails("ping", 0, "{\"a\": 1, \"a\": 2}", VAULT_E_PROTO_FRAME);
	/* Not an object. */
	call_fails("ping", 0, "[]", VAULT_E_PROTO_TYPE);
	call_fails("ping", 0, "\"secret\"", VAULT_E_PROTO_TYPE);
	/* Nesting beyond the library's bound of 16. */
	p += sprintf(p, "{\"a\":");
	for (int i = 0; i < 20; i++)
		p += sprintf(p, "[");
	for (int i = 0; i < 20; i++)
		p += sprintf(p, "]");
	sprintf(p, "}");
	call_fails("ping", 0, deep, VAULT_E_LIMIT);
	/* Common keys belong to the library. */
	call_fails("ping", 0, "{\"id\": 7}", VAULT_E_PROTO_UNKNOWN_ARG);
	call_fails("ping", 0, "{\"op\": \"status\"}", VAULT_E_PROTO_UNKNOWN_ARG);
	call_fails("read", VAULT_PURPOSE_LEGAL, "{\"purpose\": \"legal\"}",
	    VAULT_E_PROTO_UNKNOWN_ARG);
	call_fails("Ping!", 0, NULL, VAULT_E_PROTO_UNKNOWN_OP);
	call_fails(NULL, 0, NULL, VAULT_E_PROTO_MISSING);
	call_fails("ping", (enum vault_purpose)77, NULL, VAULT_E_PURPOSE);
	/* Nothing was sent: the connection is in step. */
	char *res = call_ok("ping", 0, "{}");
	cr_assert_str_eq(res, "{}");
	vault_free(res);
}

/* ---- vaultctl ---- */

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Run $VAULTCTL with args, standard input empty, into r (a zeroed or
 * earlier run, freed first). */
static void
run_ctl(struct proc_run *r, const char *const *args)
{
	proc_run_free(r);
	vaultctl_run(r, NULL, NULL, args, 30);
}

#define CTL(r, ...) run_ctl((r), ARGS(__VA_ARGS__))
static void
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0, "%s", path);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* A document, its FILE.sig by key version 3, and the public key in base64. */
static void
signed_file(const char *path, const char *doc, char pk64[64], unsigned char sk[64])
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
	char sig64[128], line[256], sigpath[512];

	cr_assert(sodium_init() >= 0);
	crypto_sign_keypair(pk, sk);
	crypto_sign_detached(sig, NULL, (const unsigned char *)doc, strlen(doc), sk);
	sodium_bin2base64(sig64, sizeof(sig64), sig, sizeof(sig),
	    sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(pk64, 64, pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
	write_file(path, doc, strlen(doc));
	snprintf(line, sizeof(line), "ed25519 3 %s\n", sig64);
	snprintf(sigpath, sizeof(sigpath), "%s.sig", path);
	write_file(sigpath, line, strlen(line));
}

static const char receipt[] = "{\"completed_at\":1795934658,\"erasure\":\"crypto-shred\","
    "\"records\":[\"v1:00ff\"],\"request\":7,\"type\":\"deletion-receipt\","
    "\"unrecoverable_after\":null,\"version\":1}";

Test(call_json, export_verify_offline)
{
	char file[512], pk64[64], other64[64], sigpath[600];
	unsigned char sk[64], sk2[64];
	struct proc_run r = { 0 };

	vaultd_path(&srv, "receipt.json", file, sizeof(file));
	snprintf(sigpath, sizeof(sigpath), "%s.sig", file);
	signed_file(file, receipt, pk64, sk);

	/* No socket needed: it does not exist. */
	CTL(&r, "-s", "/nonexistent/vaultd.sock", "export", "verify", file, "--public-key",
	    pk64);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "signature valid (key version 3)\n");

	CTL(&r, "-s", "/nonexistent/vaultd.sock", "--json", "export", "verify", file,
	    "--signature", sigpath, "--public-key", pk64);
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "\"valid\":true"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\"key_version\":3"), "%s", r.out);

	/* One flipped byte in the file. */
	char *bad = strdup(receipt);
	bad[30] ^= 0x01;
	write_file(file, bad, strlen(bad));
	free(bad);
	CTL(&r, "-s", "/nonexistent/vaultd.sock", "export", "verify", file, "--public-key",
	    pk64);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.out, "signature INVALID"), "%s", r.out);

	/* A byte appended (a newline) is a change too. */
	char nl[sizeof(receipt) + 1];
	snprintf(nl, sizeof(nl), "%s\n", receipt);
	write_file(file, nl, strlen(nl));
	CTL(&r, "-s", "/nonexistent/vaultd.sock", "export", "verify", file, "--public-key",
	    pk64);
	assert_exit(&r, 1);

	/* The right bytes, the wrong key. */
	write_file(file, receipt, strlen(receipt));
	CTL(&r, "export", "verify", file, "--public-key", pk64);
	assert_exit(&r, 0);
	unsigned char pk2[32];
	crypto_sign_keypair(pk2, sk2);
	sodium_bin2base64(other64, sizeof(other64), pk2, sizeof(pk2),
	    sodium_base64_VARIANT_ORIGINAL);
	CTL(&r, "-s", "/nonexistent/vaultd.sock", "export", "verify", file, "--public-key",
	    other64);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.out, "signature INVALID"), "%s", r.out);
	CTL(&r, "--json", "export", "verify", file, "--public-key", other64);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.out, "\"valid\":false"), "%s", r.out);
	proc_run_free(&r);
}

Test(call_json, export_verify_bad_inputs)
{
	char file[512], sigpath[600], pk64[64];
	unsigned char sk[64];
	struct proc_run r = { 0 };

	vaultd_path(&srv, "export.json", file, sizeof(file));
	snprintf(sigpath, sizeof(sigpath), "%s.sig", file);
	signed_file(file, receipt, pk64, sk);

	/* A public key that is not 32 bytes of base64: usage. */
	CTL(&r, "export", "verify", file, "--public-key", "AAAA");
	assert_exit(&r, 2);
	/* No such file: usage (an unreadable input file). */
	CTL(&r, "export", "verify", "/nonexistent/file", "--public-key", pk64);
	assert_exit(&r, 2);
	/* A signature file that is not one: exit 1, said plainly. */
	write_file(sigpath, "ed25519 3 notbase64!\n", 21);
	CTL(&r, "export", "verify", file, "--public-key", pk64);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "is not a signature file"), "%s", r.err);
	write_file(sigpath, "rsa 3 AAAA\n", 11);
	CTL(&r, "export", "verify", file, "--public-key", pk64);
	assert_exit(&r, 1);
	/* Without --public-key the vault is asked; no socket: exit 3. */
	signed_file(file, receipt, pk64, sk);
	CTL(&r, "-s", "/nonexistent/vaultd.sock", "export", "verify", file);
	assert_exit(&r, 3);
	proc_run_free(&r);
}

Test(call_json, privacy_usage_errors)
{
	char file[512];
	struct proc_run r = { 0 };

	CTL(&r, "-s", srv.socket, "requests", "open", "--kind", "erase", "--channel",
	    "online", "--requester", "self");
	assert_exit(&r, 2);
	CTL(&r, "-s", srv.socket, "requests", "open", "--kind", "delete");
	assert_exit(&r, 2);
	CTL(&r, "-s", srv.socket, "requests", "open", "--kind", "opt_out", "--channel",
	    "mail", "--requester", "self", "--channels", "email,fax");
	assert_exit(&r, 2);
	CTL(&r, "-s", srv.socket, "requests", "open", "--kind", "know", "--channel",
	    "mail", "--requester", "self", "--received-at", "2026-02-30");
	assert_exit(&r, 2);
	/* Values are never echoed, not even in a usage error. */
	CTL(&r, "-s", srv.socket, "requests", "verify", "1", "--email", "secret@example.com",
	    "--email", "secret2@example.com");
	assert_exit(&r, 2);
	cr_assert_null(strstr(r.err, "secret"), "%s", r.err);
	CTL(&r, "-s", srv.socket, "requests", "verify", "secret@example.com");
	assert_exit(&r, 2);
	cr_assert_null(strstr(r.err, "secret"), "%s", r.err);
	CTL(&r, "-s", srv.socket, "requests", "verify", "1");
	assert_exit(&r, 2);
	CTL(&r, "-s", srv.socket, "requests", "confirm", "1");
	assert_exit(&r, 2);
	CTL(&r, "-s", srv.socket, "holds", "place", "rec_x", "--purpose", "whim",
	    "--reason", "r");
	assert_exit(&r, 2);
	CTL(&r, "-s", srv.socket, "transaction", "rec_x");
	assert_exit(&r, 2);
	CTL(&r, "-s", srv.socket, "-p", "marketing", "transaction", "rec_x", "--amount",
	    "1.00");
	assert_exit(&r, 2);
	CTL(&r, "-s", srv.socket, "-p", "transactional", "update", "rec_x", "--child",
	    "--no-child");
	assert_exit(&r, 2);
	CTL(&r, "-s", srv.socket, "-p", "transactional", "create", "first_name=A",
	    "--child", "--document", "a:text/plain:/dev/null");
	assert_exit(&r, 2);
	/* complete --out never replaces a file, and checks before sending. */
	vaultd_path(&srv, "existing", file, sizeof(file));
	write_file(file, "keep", 4);
	CTL(&r, "-s", srv.socket, "requests", "complete", "1", "--out", file);
	assert_exit(&r, 2);
	size_t len;
	char *kept = read_file_all(file, &len);
	cr_assert_eq(len, 4);
	cr_assert(memcmp(kept, "keep", 4) == 0);
	free(kept);
	proc_run_free(&r);
}

/* The parts of 8.18 the server already serves: "child" and signing_key. */
Test(call_json, child_flag_and_signing_keys)
{
	struct proc_run r = { 0 };
	char tok[128];

	CTL(&r, "-s", srv.socket, "-p", "transactional", "create", "first_name=Kid",
	    "--child");
	assert_exit(&r, 0);
	cr_assert(strncmp(r.out, "rec_", 4) == 0, "%s", r.out);
	snprintf(tok, sizeof(tok), "%.*s", (int)strcspn(r.out, "\n"), r.out);
	CTL(&r, "-s", srv.socket, "-p", "transactional", "update", tok, "--no-child");
	assert_exit(&r, 0);
	CTL(&r, "-s", srv.socket, "-p", "transactional", "update", tok, "first_name=Ann",
	    "--child");
	assert_exit(&r, 0);

	CTL(&r, "-s", srv.socket, "keys", "signing");
	assert_exit(&r, 0);
	cr_assert(strncmp(r.out, "version 1 public key ", 21) == 0, "%s", r.out);
	cr_assert_not_null(strstr(r.out, " current\n"), "%s", r.out);
	/* The key printed verifies what it signs: 44 base64 characters. */
	cr_assert_eq(strcspn(r.out + 21, " "), 44, "%s", r.out);
	proc_run_free(&r);
}

/* The first line of s that starts with prefix, copied into out; 0 or -1. */
static int
find_line(const char *s, const char *prefix, char *out, size_t len)
{
	for (const char *p = s; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
			return 0;
		}
	}
	return -1;
}

/*
 * The privacy commands end to end (PROTOCOL.md 8.18): a right-to-know
 * export written, signed and verified; an online deletion verified,
 * confirmed, deferred by a hold and completed by lifting it.

 */
Test(call_json, privacy_flow)
{
	struct proc_run r = { 0 };
	char tok[128], pk[128], code[64], out[512], sig[600], path[512], buf[640];
	struct stat st;

	CTL(&r, "-s", srv.socket, "-p", "transactional", "create", "first_name=Jane",
	    "last_name=Doe", "email=jane@example.com", "phone=(858) 375-5875");
	assert_exit(&r, 0);
	snprintf(tok, sizeof(tok), "%.*s", (int)strcspn(r.out, "\n"), r.out);
	CTL(&r, "-s", srv.socket, "transaction", tok, "--reference", "ORD-17", "--amount",
	    "12.50");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "recorded\n");
	CTL(&r, "-s", srv.socket, "keys", "signing");
	assert_exit(&r, 0);
	snprintf(pk, sizeof(pk), "%.*s", (int)strcspn(r.out + 21, " \n"), r.out + 21);

	/* Right to know. */
	CTL(&r, "-s", srv.socket, "requests", "open", "--kind", "know", "--channel", "email",
	    "--requester", "self");
	assert_exit(&r, 0);
	cr_assert(strncmp(r.out, "request 1 open, due ", 20) == 0, "%s", r.out);
	vaultd_path(&srv, "phone.txt", path, sizeof(path));
	write_file(path, "(858) 375-5875\n", 15);
	snprintf(buf, sizeof(buf), "@%s", path);
	/* A failure says that and the attempts left, nothing else. */
	CTL(&r, "-s", srv.socket, "requests", "verify", "1", "--first-name", "Jane",
	    "--last-name", "Doe", "--email", "jane@example.net", "--phone", buf);
	assert_exit(&r, 1);
	cr_assert_str_eq(r.out, "verified: no\nattempts left: 4\n");
	CTL(&r, "-s", srv.socket, "requests", "verify", "1", "--first-name", "Jane",
	    "--last-name", "Doe", "--email", "jane@example.com", "--phone", buf,
	    "--order-ref", "ORD-17");
	assert_exit(&r, 0);
	cr_assert(strncmp(r.out, "verified: yes", 13) == 0, "%s", r.out);
	cr_assert_null(strstr(r.out, "jane@"), "%s", r.out);
	cr_assert_null(strstr(r.out, "375"), "%s", r.out);
	snprintf(buf, sizeof(buf), "\nrecord %s\n", tok);
	cr_assert_not_null(strstr(r.out, buf), "%s", r.out);
	cr_assert_null(strstr(r.out, "point:"), "no points per record: %s", r.out);

	vaultd_path(&srv, "export.json", out, sizeof(out));
	snprintf(sig, sizeof(sig), "%s.sig", out);
	CTL(&r, "-s", srv.socket, "requests", "complete", "1", "--out", out);
	assert_exit(&r, 0);
	cr_assert_eq(stat(out, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(stat(sig, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	size_t len;
	char *line = read_file_all(sig, &len);
	cr_assert(strncmp(line, "ed25519 1 ", 10) == 0 && line[len - 1] == '\n', "%s", line);
	free(line);
	CTL(&r, "-s", srv.socket, "export", "verify", out);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "signature valid (key version 1)\n");
	CTL(&r, "-s", "/nonexistent/vaultd.sock", "export", "verify", out, "--public-key", pk);
	assert_exit(&r, 0);
	/* Finished: no second document, and the files stay as they are. */
	vaultd_path(&srv, "again.json", path, sizeof(path));
	CTL(&r, "-s", srv.socket, "requests", "complete", "1", "--out", path);
	assert_exit(&r, 1);
	cr_assert_neq(stat(path, &st), 0, "no file left behind by a refused request");

	/* Online deletion: verify, confirm, deferred by a hold, then completed. */
	CTL(&r, "-s", srv.socket, "requests", "open", "--kind", "delete", "--channel",
	    "online", "--requester", "self");
	assert_exit(&r, 0);
	CTL(&r, "-s", srv.socket, "requests", "verify", "2", "--first-name", "Jane",
	    "--last-name", "Doe", "--email", "jane@example.com", "--phone",
	    "(858) 375-5875");
	assert_exit(&r, 0);
	cr_assert_eq(find_line(r.out, "confirmation code: ", buf, sizeof(buf)), 0, "%s", r.out);
	snprintf(code, sizeof(code), "%.*s", (int)strcspn(buf + 19, " "), buf + 19);
	CTL(&r, "-s", srv.socket, "requests", "complete", "2");
	assert_exit(&r, 1);
	CTL(&r, "-s", srv.socket, "requests", "confirm", "2", "WRONGCODE");
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.out, "NOT confirmed"), "%s", r.out);
	CTL(&r, "-s", srv.socket, "requests", "confirm", "2", code);
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "request 2 confirmed\n");
	CTL(&r, "-s", srv.socket, "holds", "place", tok, "--purpose", "legal", "--reason",
	    "court order 17", "--expires", "2099-01-01");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "hold 1\n");
	CTL(&r, "-s", srv.socket, "requests", "complete", "2");
	assert_exit(&r, 0);
	cr_assert(strncmp(r.out, "request 2 deferred", 18) == 0, "%s", r.out);
	cr_assert_not_null(strstr(r.out, "hold 1 record "), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "reason: court order 17"), "%s", r.out);
	CTL(&r, "-s", srv.socket, "holds", "lift", "1");
	assert_exit(&r, 0);
	cr_assert_str_eq(r.out, "hold 1 lifted; requests completed: 2\n");
	CTL(&r, "-s", srv.socket, "requests", "show", "2");
	assert_exit(&r, 0);
	cr_assert_not_null(strstr(r.out, "state: completed\n"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\nreceipt: {"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\nsignature: ed25519 1 "), "%s", r.out);
	CTL(&r, "-s", srv.socket, "-p", "transactional", "read", tok);
	assert_exit(&r, 1);
	cr_assert_not_null(strstr(r.err, "VAULT_E_DELETED"), "%s", r.err);

	CTL(&r, "-s", srv.socket, "requests", "list", "--state", "completed");
	assert_exit(&r, 0);
	cr_assert(strncmp(r.out, "ID ", 3) == 0, "%s", r.out);
	cr_assert_eq(find_line(r.out, "2 ", buf, sizeof(buf)), 0, "%s", r.out);
	cr_assert_not_null(strstr(buf, "delete"), "%s", buf);
	proc_run_free(&r);
}
