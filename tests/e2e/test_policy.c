/*
 * test_policy.c - end-to-end: who may see what. Three services with their
 * own gids (the README's example policy): shipping reads names and the
 * postal address in plain; payments sees the card masked and holds tokens;
 * marketing reads email only where the person has not opted out. Each
 * service runs in a child process with its own gid, so the server tells
 * them apart by SO_PEERCRED alone. Needs root (to switch gids).
 *
 * Tokens as an equality oracle: payments (card masked, email as a token)
 * runs the guess-and-compare attack and is refused; three more clients
 * with join grants show that deterministic tokens compare only within a
 * join domain.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <msgpack.h>
#include <jansson.h>
#include <vault/vault.h>

#include "common/msg.h"
#include "harness.h"

#define GID_SHIPPING 52001
#define GID_PAYMENTS 52002
#define GID_MARKETING 52003
#define GID_CRM 52004
#define GID_ANALYTICS 52005
#define GID_CRM_REPORTS 52006
#define GID_STRANGER 52999

static struct vaultd_proc srv;
static char policy_path[600];

static const char policy_text[] =
    "# The README's example: three services, one administrator.\n"
    "[client admin]\n"
    "gids = 0\n"
    "admin = true\n"
    "delete = true\n"
    "[access admin transactional]\n"
    "* = plain\n"
    "documents = plain\n"
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
    "email = plain\n"
    "# Joins on the email: crm and crm-reports share a join domain,\n"
    "# analytics has its own (its name, the default).\n"
    "[client crm]\n"
    "gids = 52004\n"
    "[access crm transactional]\n"
    "email = masked join\n"
    "[client crm-reports]\n"
    "gids = 52006\n"
    "token_domain = crm\n"
    "[access crm-reports transactional]\n"
    "email = token   join\n"
    "[client analytics]\n"
    "gids = 52005\n"
    "[access analytics transactional]\n"
    "email = token join\n";

static void
setup(void)
{
	cr_assert_eq(geteuid(), 0, "the policy tests switch gids and need root");
	char ini[700];
	snprintf(policy_path, sizeof(policy_path), "/tmp/vault-policy-%d.ini", (int)getpid());
	FILE *f = fopen(policy_path, "w");
	fputs(policy_text, f);
	fclose(f);
	snprintf(ini, sizeof(ini), "[policy]\nfile = %s\n", policy_path);
	vaultd_start(&srv, ini);
}

static void
teardown(void)
{
	unlink(policy_path);
	vaultd_finish(&srv);
}

TestSuite(policy, .init = setup, .fini = teardown, .timeout = 60);

/* Run fn as a process of group gid (uid stays root, which no client
 * names by uid, so the gid decides); its output comes back as a string. */
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
create_person(int opt_out_email)
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
	vault_record_set(r, "phone", "+18583755875");
	vault_record_set(r, "card_number", "4242 4242 4242 4242");
	vault_record_set(r, "card_expiry", "12/39");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	if (opt_out_email)
		cr_assert_eq(vault_set_marketing_opt_out(v, VAULT_PURPOSE_TRANSACTIONAL, tok,
		    "email", 1), 0, "%s", vault_last_message(v));
	vault_close(v);
	return tok;
}

struct read_arg {
	const char *token;
	enum vault_purpose purpose;
	const char *const *fields;
	size_t nfields;
};

/* Prints "field=value" lines, or "error NAME message". */
static void
do_read(struct vault *v, FILE *out, void *p)
{
	struct read_arg *a = p;
	struct vault_record *r;
	int rc = vault_read(v, a->purpose, a->token, a->fields, a->nfields, 0, &r);
	if (rc != 0) {
		fprintf(out, "error %s %s\n", vault_error_name(rc), vault_last_message(v));
		return;
	}
	for (size_t i = 0; i < vault_record_field_count(r); i++) {
		const char *name, *value;
		vault_record_field_at(r, i, &name, &value);
		fprintf(out, "%s=%s\n", name, value);
	}
	vault_record_free(r);
}

Test(policy, shipping_reads_name_and_address_in_plain_only)
{
	char *tok = create_person(0);
	struct read_arg all = { tok, VAULT_PURPOSE_TRANSACTIONAL, NULL, 0 };
	char *out = as_group(GID_SHIPPING, do_read, &all);
	cr_assert_not_null(strstr(out, "first_name=Jane\n"), "%s", out);
	cr_assert_not_null(strstr(out, "last_name=Doe\n"), "%s", out);
	cr_assert_not_null(strstr(out, "postal_address=1 Main Street\nSan Diego, CA 92101\n"), "%s", out);
	cr_assert_null(strstr(out, "email"), "no email for shipping: %s", out);
	cr_assert_null(strstr(out, "card"), "no card for shipping: %s", out);
	free(out);

	const char *card[] = { "card_number" };
	struct read_arg one = { tok, VAULT_PURPOSE_TRANSACTIONAL, card, 1 };
	out = as_group(GID_SHIPPING, do_read, &one);
	cr_assert_not_null(strstr(out, "error VAULT_E_DENIED"), "%s", out);
	free(out);

	/* Another purpose than the one granted: nothing. */
	const char *name[] = { "first_name" };
	struct read_arg mk = { tok, VAULT_PURPOSE_MARKETING, name, 1 };
	out = as_group(GID_SHIPPING, do_read, &mk);
	cr_assert_not_null(strstr(out, "error VAULT_E_DENIED"), "%s", out);
	free(out);
	vault_free(tok);
}

Test(policy, payments_sees_the_card_masked_and_the_email_as_a_token)
{
	char *tok = create_person(0);
	struct read_arg all = { tok, VAULT_PURPOSE_TRANSACTIONAL, NULL, 0 };
	char *out = as_group(GID_PAYMENTS, do_read, &all);
	cr_assert_not_null(strstr(out, "card_number=**** **** **** 4242\n"), "%s", out);
	cr_assert_not_null(strstr(out, "card_expiry=12/39\n"), "%s", out);
	cr_assert_not_null(strstr(out, "email=tok_1_"), "email as a token: %s", out);
	cr_assert_null(strstr(out, "jane.doe"), "%s", out);
	cr_assert_null(strstr(out, "first_name"), "%s", out);
	free(out);
	vault_free(tok);
}

static void
do_list_marketing(struct vault *v, FILE *out, void *p)
{
	char **toks = NULL;
	size_t n = 0;
	int rc = vault_list(v, VAULT_PURPOSE_MARKETING, "email", NULL, 1000, &toks, &n, NULL);
	if (rc != 0) {
		fprintf(out, "error %s\n", vault_error_name(rc));
		return;
	}
	fprintf(out, "count=%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		const char *want[] = { "email" };
		struct vault_record *r;
		if (vault_read(v, VAULT_PURPOSE_MARKETING, toks[i], want, 1, 0, &r) == 0) {
			fprintf(out, "email=%s\n", vault_record_get(r, "email"));
			vault_record_free(r);
		}
		vault_free(toks[i]);
	}
	free(toks);
}

Test(policy, marketing_reads_email_only_where_not_opted_out)
{
	char *in = create_person(0), *out_tok = create_person(1);
	const char *email[] = { "email" };
	struct read_arg ok = { in, VAULT_PURPOSE_MARKETING, email, 1 };
	struct read_arg refused = { out_tok, VAULT_PURPOSE_MARKETING, email, 1 };
	char *out = as_group(GID_MARKETING, do_read, &ok);
	cr_assert_str_eq(out, "email=jane.doe@example.com\n");
	free(out);
	out = as_group(GID_MARKETING, do_read, &refused);
	cr_assert_not_null(strstr(out, "error VAULT_E_DENIED"), "%s", out);
	cr_assert_not_null(strstr(out, "opted out"), "%s", out);
	free(out);
	/* Listing for marketing by email skips the opted-out record. */
	out = as_group(GID_MARKETING, do_list_marketing, NULL);
	cr_assert_not_null(strstr(out, "count=1\n"), "%s", out);
	free(out);
	/* Transactional use by marketing: not granted. */
	struct read_arg tx = { in, VAULT_PURPOSE_TRANSACTIONAL, email, 1 };
	out = as_group(GID_MARKETING, do_read, &tx);
	cr_assert_not_null(strstr(out, "error VAULT_E_DENIED"), "%s", out);
	free(out);
	vault_free(in);
	vault_free(out_tok);
}

static void
do_ping(struct vault *v, FILE *out, void *p)
{
	int rc = vault_ping(v);
	fprintf(out, "%s\n", vault_error_name(rc));
}

static void
do_create(struct vault *v, FILE *out, void *p)
{
	struct vault_record *r;
	char *tok = NULL;
	vault_record_new(&r);
	vault_record_set(r, "card_number", "4242 4242 4242 4242");
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	fprintf(out, "%s %s\n", vault_error_name(rc), vault_last_message(v));
	vault_record_free(r);
	vault_free(tok);
}

static void
do_delete(struct vault *v, FILE *out, void *p)
{
	int rc = vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, p, VAULT_DELETE_RETENTION);
	fprintf(out, "%s\n", vault_error_name(rc));
}

static void
do_admin(struct vault *v, FILE *out, void *p)
{
	uint32_t e;
	fprintf(out, "%s\n", vault_error_name(vault_keys_rotate(v, "token", &e)));
}

/* Two calls: the refusal holds for the connection, with the server's words. */
static void
do_ping_twice(struct vault *v, FILE *out, void *p)
{
	for (int i = 0; i < 2; i++) {
		int rc = vault_ping(v);
		fprintf(out, "%s %s\n", vault_error_name(rc), vault_last_message(v));
	}
}

/* The frame the server sends before closing, read before sending anything. */
static void
do_raw_refusal(struct vault *unused, FILE *out, void *p)
{
	int fd = vaultd_raw_connect(&srv, 10);
	uint8_t buf[512];
	size_t got = 0;
	ssize_t n;
	while ((n = recv(fd, buf + got, sizeof buf - got, 0)) > 0)
		got += (size_t)n;
	close(fd);
	if (got < 4) {
		fprintf(out, "no frame (%zu bytes)\n", got);
		return;
	}
	size_t len = (size_t)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];
	msgpack_zone z;
	msgpack_object root;
	msgpack_zone_init(&z, 1024);
	struct mp_limits lim = { 8, len };
	if (len + 4 != got || msg_decode(buf + 4, len, &lim, &z, &root) != 0) {
		fprintf(out, "bad frame\n");
		return;
	}
	const msgpack_object *id = msg_get(&root, "id"), *ok = msg_get(&root, "ok"),
	    *e = msg_get(&root, "error");
	const msgpack_object *code = e ? msg_get(e, "code") : NULL, *msg = e ? msg_get(e, "message") : NULL;
	fprintf(out, "id %llu ok %d code %llu %.*s\n",
	    id ? (unsigned long long)id->via.u64 : 99, ok ? ok->via.boolean : -1,
	    code ? (unsigned long long)code->via.u64 : 0,
	    msg ? (int)msg->via.str.size : 0, msg ? msg->via.str.ptr : "");
	msgpack_zone_destroy(&z);
}

/* vaultctl ping as the stranger: its stderr and exit status. */
static void
do_vaultctl_ping(struct vault *unused, FILE *out, void *p)
{
	int fds[2];
	if (pipe(fds) != 0)
		_exit(91);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		execl(getenv("VAULTCTL"), "vaultctl", "-s", srv.socket, "ping", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char err[512] = "";
	size_t got = 0;
	ssize_t n;
	while ((n = read(fds[0], err + got, sizeof err - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = '\0';
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	fprintf(out, "exit %d %s", WIFEXITED(st) ? WEXITSTATUS(st) : -1, err);
}

/*
 * Issue 14: a caller no client matches reads why before the close (one
 * frame, id 0, VAULT_E_DENIED), through a raw socket, the C library (on
 * every call) and vaultctl. Before, it got a bare close: VAULT_E_IO.
 */
Test(policy, an_unknown_caller_reads_the_refusal_before_the_close)
{
	char want[200];
	snprintf(want, sizeof want, "no client of the policy matches this caller "
	    "(uid %ld, gid %d)", (long)getuid(), GID_STRANGER);
	char *out = as_group(GID_STRANGER, do_raw_refusal, NULL);
	char line[600];
	snprintf(line, sizeof line, "id 0 ok 0 code %d %s\n", VAULT_E_DENIED, want);
	cr_assert_str_eq(out, line);
	free(out);
	out = as_group(GID_STRANGER, do_ping_twice, NULL);
	snprintf(line, sizeof line, "VAULT_E_DENIED %s\nVAULT_E_DENIED %s\n", want, want);
	cr_assert_str_eq(out, line);
	free(out);
	out = as_group(GID_STRANGER, do_vaultctl_ping, NULL);
	snprintf(line, sizeof line, "exit 1 vaultctl: VAULT_E_DENIED: %s\n", want);
	cr_assert_str_eq(out, line);
	free(out);
	/* A known caller is served as before, and the server is still up. */
	out = as_group(GID_SHIPPING, do_ping, NULL);
	cr_assert_str_eq(out, "VAULT_OK\n");
	free(out);
}

Test(policy, unknown_callers_and_ungranted_operations_are_refused)
{
	/* Issue 14: no longer a bare close (VAULT_E_IO) but a refusal it can read. */
	char *out = as_group(GID_STRANGER, do_ping, NULL);
	cr_assert_str_eq(out, "VAULT_E_DENIED\n", "an unknown caller is refused: %s", out);
	free(out);
	out = as_group(GID_SHIPPING, do_create, NULL);
	cr_assert_not_null(strstr(out, "VAULT_E_DENIED"), "shipping may not write cards: %s", out);
	free(out);
	char *tok = create_person(0);
	out = as_group(GID_PAYMENTS, do_delete, tok);
	cr_assert_str_eq(out, "VAULT_E_DENIED\n");
	free(out);
	out = as_group(GID_PAYMENTS, do_admin, NULL);
	cr_assert_str_eq(out, "VAULT_E_DENIED\n");
	free(out);
	vault_free(tok);
}

/* ---- tokens as an equality oracle ------------------------------------ */

struct call_arg {
	const char *op;
	enum vault_purpose purpose;
	const char *json;
};

/* Prints "ok RESULT-JSON" or "error NAME MESSAGE". */
static void
do_call(struct vault *v, FILE *out, void *p)
{
	struct call_arg *a = p;
	char *res = NULL;
	int rc = vault_call_json(v, a->op, a->purpose, a->json, &res);
	if (rc != 0)
		fprintf(out, "error %s %s", vault_error_name(rc), vault_last_message(v));
	else
		fprintf(out, "ok %s", res);
	vault_free(res);
}

static char *
call_as(gid_t gid, const char *op, const char *json)
{
	struct call_arg a = { op, VAULT_PURPOSE_TRANSACTIONAL, json };
	return as_group(gid, do_call, &a);
}

/* The "token" of element i of the tokens array of a successful answer. */
static char *
token_at(const char *out, size_t i)
{
	cr_assert_eq(strncmp(out, "ok ", 3), 0, "%s", out);
	json_error_t je;
	json_t *r = json_loads(out + 3, 0, &je);
	cr_assert_not_null(r, "%s", out);
	json_t *t = json_object_get(json_array_get(json_object_get(r, "tokens"), i), "token");
	cr_assert(json_is_string(t), "%s", out);
	char *s = strdup(json_string_value(t));
	json_decref(r);
	return s;
}

static char *
tokenize_as(gid_t gid, const char *rec, const char *field, const char *kind)
{
	char json[512];
	snprintf(json, sizeof(json), "{\"record\":\"%s\",\"tokens\":[{\"field\":\"%s\","
	    "\"kind\":\"%s\"}]}", rec, field, kind);
	return call_as(gid, "tokenize", json);
}

/* Luhn: set d[pos] so that the n digits of d pass the check. */
static void
luhn_fix(char *d, size_t n, size_t pos)
{
	for (char c = '0'; c <= '9'; c++) {
		unsigned sum = 0;
		d[pos] = c;
		for (size_t i = 0; i < n; i++) {
			unsigned x = (unsigned)(d[n - 1 - i] - '0');
			if (i % 2 == 1 && (x *= 2) > 9)
				x -= 9;
			sum += x;
		}
		if (sum % 10 == 0)
			return;
	}
}

static uint64_t
live_records(void)
{
	struct vault *v;
	struct vault_status st;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_status(v, &st), 0);
	vault_close(v);
	return st.records;
}

/*
 * The attack of issue 12: payments sees the card as **** **** **** 4242
 * and the email only as a token. Before, it asked tokenize for the
 * deterministic token of the stored card, then created records with every
 * Luhn-valid number of the BIN and last four asking for deterministic
 * tokens, and compared: 10^5 creates recovered the card. Now every request
 * for a token that tests equality of a value it did not send, or of any
 * deterministic token, is refused in prepare (nothing written), and the
 * tokens it may still get (opaque) never compare equal.
 */
Test(policy, masked_access_is_not_an_equality_oracle)
{
	char *victim = create_person(0); /* card 4242 4242 4242 4242 */
	static const char *const asked[][2] = {
		{ "card_number", "deterministic" }, { "card_number", "card" },
		{ "email", "deterministic" },
	};
	char *victim_det = NULL; /* what the attack needs: the stored card's tag */
	int refused = 0;
	for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
		char *out = tokenize_as(GID_PAYMENTS, victim, asked[i][0], asked[i][1]);
		if (strstr(out, "error VAULT_E_DENIED") != NULL && strstr(out, "join") != NULL)
			refused++;
		else if (i == 0 && strncmp(out, "ok ", 3) == 0)
			victim_det = token_at(out, 0);
		free(out);
	}
	/* Opaque tokens stay available: they are random per issuance. */
	char *out = tokenize_as(GID_PAYMENTS, victim, "card_number", "opaque");
	char *victim_opaque = token_at(out, 0);
	free(out);

	/* Guess and compare; the true number is among the candidates (the
	 * attack enumerates the five digits between BIN and Luhn digit). */
	uint64_t records_before = live_records();
	int denied = 0, recovered = 0, issued = 0;
	char prev[128] = "";
	for (int m = 42414; m < 42434; m++) {
		char card[17], json[512];
		snprintf(card, sizeof(card), "424242%05d04242", m);
		luhn_fix(card, 16, 11);
		snprintf(json, sizeof(json), "{\"fields\":{\"card_number\":\"%s\"},"
		    "\"tokens\":[{\"field\":\"card_number\",\"kind\":\"deterministic\"}]}", card);
		out = call_as(GID_PAYMENTS, "create", json);
		if (strstr(out, "error VAULT_E_DENIED") != NULL) {
			denied++;
		} else if (strncmp(out, "ok ", 3) == 0 && victim_det != NULL) {
			char *t = token_at(out, 0);
			recovered += strcmp(t, victim_det) == 0;
			free(t);
		}
		free(out);
		/* The kind it may ask for compares with nothing. */
		snprintf(json, sizeof(json), "{\"fields\":{\"card_number\":\"%s\"},"
		    "\"tokens\":[{\"field\":\"card_number\",\"kind\":\"opaque\"}]}", card);
		out = call_as(GID_PAYMENTS, "create", json);
		char *t = token_at(out, 0);
		issued++;
		recovered += strcmp(t, victim_opaque) == 0 || strcmp(t, prev) == 0;
		snprintf(prev, sizeof(prev), "%s", t);
		free(t);
		free(out);
	}
	cr_assert_eq(recovered, 0, "the guesses recovered the stored card number");
	cr_assert_eq(refused, 3, "tokens of the stored card and email that test equality: refused");
	cr_assert_null(victim_det);
	cr_assert_eq(denied, 20, "every deterministic token of a guess refused early");
	cr_assert_eq(issued, 20);
	cr_assert_eq(live_records(), records_before + 20, "a refused create wrote nothing");
	free(victim_opaque);
	vault_free(victim);
}

/*
 * Deterministic tags are keyed per join domain: crm and crm-reports (one
 * domain) get the same token of the same email, analytics (its own domain)
 * and admin (plain, its own domain) other ones. A client outside crm's
 * domain therefore cannot test its guesses against crm's tokens.
 */
Test(policy, join_domains_keep_deterministic_tokens_apart)
{
	char *victim = create_person(0); /* jane.doe@example.com */
	char *out = tokenize_as(GID_CRM, victim, "email", "deterministic");
	char *crm = token_at(out, 0);
	free(out);
	out = tokenize_as(GID_CRM_REPORTS, victim, "email", "deterministic");
	char *reports = token_at(out, 0);
	free(out);
	out = tokenize_as(GID_ANALYTICS, victim, "email", "deterministic");
	char *analytics = token_at(out, 0);
	free(out);
	out = tokenize_as(0, victim, "email", "deterministic");
	char *admin = token_at(out, 0);
	free(out);
	cr_assert_str_eq(crm, reports, "one join domain: one token per value");
	cr_assert_str_neq(crm, analytics, "two domains: tokens that cannot be compared");
	cr_assert_str_neq(crm, admin);
	cr_assert_str_neq(analytics, admin);

	/* Within its domain the join works: crm's own record with the same
	 * email gets the same token as the stored one. */
	out = call_as(GID_CRM, "create", "{\"fields\":{\"email\":\"jane.doe@EXAMPLE.com\"},"
	    "\"tokens\":[{\"field\":\"email\",\"kind\":\"deterministic\"}]}");
	char *own = token_at(out, 0);
	free(out);
	cr_assert_str_eq(own, crm);

	/* A token resolves by what the resolver's policy grants: crm sees
	 * another domain's token only masked, analytics (token access) not
	 * at all. */
	char json[256];
	snprintf(json, sizeof(json), "{\"tokens\":[\"%s\"]}", analytics);
	out = call_as(GID_CRM, "detokenize", json);
	cr_assert_not_null(strstr(out, "j***@example.com"), "%s", out);
	cr_assert_null(strstr(out, "jane.doe"), "%s", out);
	free(out);
	snprintf(json, sizeof(json), "{\"tokens\":[\"%s\"]}", crm);
	out = call_as(GID_ANALYTICS, "detokenize", json);
	cr_assert_not_null(strstr(out, "VAULT_E_DENIED"), "%s", out);
	free(out);
	free(crm);
	free(reports);
	free(analytics);
	free(admin);
	free(own);
	vault_free(victim);
}
