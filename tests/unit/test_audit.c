/*
 * test_audit.c - the audit trail (audit.h): logging and verifying, every
 * kind of tampering found at the right seq (edited, deleted, swapped,
 * truncated in the middle and at the tail), rotation, crash recovery,
 * failing closed, what an entry holds (no personal data), queries, many
 * threads at once, the audit_verify and audit_query operations, and
 * batches (many entries in one write, all or none).
 *
 * Each test gets its own temporary directory with a fresh key ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <msgpack.h>
#include <sodium.h>
#include <vault/vault.h>

#include "common/buf.h"
#include "common/checkpoint.h"
#include "keys/keyring.h"
#include "vault/audit.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/privacy/secrets.h"
#include "vault/ops/op.h"
#include "vault/record/fields.h"
#include "vault/server.h"

static char dir[64];
static char path[128];
static uint8_t root[KEYRING_KEY_BYTES];
static struct key_set *ks;

/* ---- fixture ---------------------------------------------------------- */

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void
setup(void)
{
	char ring_path[128];
	const char *why = NULL;
	struct keyring *ring = NULL;

	cr_assert_geq(sodium_init(), 0);
	snprintf(dir, sizeof dir, "/tmp/vault-audit-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(ring_path, sizeof ring_path, "%s/ring", dir);
	snprintf(path, sizeof path, "%s/audit.log", dir);
	randombytes_buf(root, sizeof root);
	cr_assert_eq(keyring_create(ring_path, root, &ring, &why), 0, "keyring_create: %s", why);
	cr_assert_eq(key_set_new(ring, &ks), 0);
}

static void
teardown(void)
{
	key_set_free(ks);
	ks = NULL;
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(audit, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------- */

static struct audit *
open_trail(size_t max_bytes)
{
	struct audit_config cfg = { path, max_bytes, 50, 0 };
	struct audit *a = NULL;
	char err[256] = "";
	cr_assert_eq(audit_open(&a, &cfg, ks, err, sizeof err), 0, "audit_open: %s", err);
	return a;
}

static struct audit_event
event(const char *op, const uint64_t *records, size_t n)
{
	struct audit_event ev = {
		.client = "crm",
		.uid = 1000,
		.purpose = VAULT_PURPOSE_TRANSACTIONAL,
		.op = op,
		.records = records,
		.nrecords = n,
		.fields = 1u << FIELD_EMAIL,
		.outcome = 0,
		.time = 1700000000,
	};
	return ev;
}

static void
log_n(struct audit *a, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t id = 100 + i;
		struct audit_event ev = event("read", &id, 1);
		cr_assert_eq(audit_log(a, ks, &ev), 0);
	}
}

static void
make_trail(unsigned n, size_t max_bytes)
{
	struct audit *a = open_trail(max_bytes);
	log_n(a, n);
	audit_close(a);
}

static struct audit_verify_result
verify(void)
{
	struct audit_verify_result r;
	cr_assert_eq(audit_verify_files(path, ks, &r), 0);
	return r;
}

static void
expect_bad(uint64_t seq, const char *reason_part)
{
	struct audit_verify_result r = verify();
	cr_assert_eq(r.ok, 0, "tampering not found");
	cr_assert_eq(r.first_bad_seq, seq, "first_bad_seq %llu, expected %llu (%s)",
	    (unsigned long long)r.first_bad_seq, (unsigned long long)seq, r.reason);
	if (reason_part)
		cr_assert_not_null(strstr(r.reason, reason_part), "reason: %s", r.reason);
}

/* The lines of file p (each without its newline). */
struct lines {
	char **v;
	size_t n;
};

static struct lines
read_lines(const char *p)
{
	struct lines l = { 0 };
	FILE *f = fopen(p, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	cr_assert_not_null(f, "cannot open %s", p);
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		l.v = realloc(l.v, (l.n + 1) * sizeof(*l.v));
		cr_assert_not_null(l.v);
		l.v[l.n] = strdup(line);
		cr_assert_not_null(l.v[l.n]);
		l.n++;
	}
	free(line);
	fclose(f);
	return l;
}

static void
write_lines(const char *p, const struct lines *l)
{
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] != NULL)
			fprintf(f, "%s\n", l->v[i]);
	fclose(f);
}

static void
free_lines(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static json_t *
parse(const char *line)
{
	json_error_t e;
	json_t *o = json_loads(line, 0, &e);
	cr_assert_not_null(o, "not JSON: %s", e.text);
	return o;
}

static uint64_t
seq_of(const char *line)
{
	json_t *o = parse(line);
	uint64_t s = (uint64_t)json_integer_value(json_object_get(o, "seq"));
	json_decref(o);
	return s;
}

static off_t
file_size(const char *p)
{
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	return st.st_size;
}

/* ---- logging and verifying -------------------------------------------- */

Test(audit, log_then_verify)
{
	make_trail(10, 0);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.files, 1);
	cr_assert_eq(r.entries, 10);
	cr_assert_eq(r.first_bad_seq, 0);

	struct lines l = read_lines(path);
	cr_assert_eq(l.n, 10);
	json_t *first = parse(l.v[0]);
	cr_assert_str_eq(json_string_value(json_object_get(first, "prev")),
	    "0000000000000000000000000000000000000000000000000000000000000000");
	cr_assert_eq(json_integer_value(json_object_get(first, "seq")), 1);
	json_decref(first);
	free_lines(&l);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
}

Test(audit, empty_trail_verifies)
{
	struct audit *a = open_trail(0);
	audit_close(a);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 0);
}

Test(audit, reopen_continues_the_chain)
{
	make_trail(5, 0);
	make_trail(5, 0);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 10);
}

Test(audit, live_verify_sees_the_open_trail)
{
	struct audit *a = open_trail(0);
	log_n(a, 7);
	struct audit_verify_result r;
	cr_assert_eq(audit_verify(a, ks, &r), 0);
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 7);
	audit_close(a);
}

/* ---- tampering -------------------------------------------------------- */

Test(audit, edited_byte_is_found)
{
	make_trail(10, 0);
	struct lines l = read_lines(path);
	char *op = strstr(l.v[4], "\"op\":\"read\"");
	cr_assert_not_null(op);
	op[6] = 'R'; /* "read" -> "Read": still well-formed, canonical JSON */
	write_lines(path, &l);
	free_lines(&l);
	expect_bad(5, "MAC mismatch");
}

Test(audit, edited_mac_is_found)
{
	make_trail(10, 0);
	struct lines l = read_lines(path);
	char *mac = strstr(l.v[2], "\"mac\":\"");
	cr_assert_not_null(mac);
	mac[7] = mac[7] == 'a' ? 'b' : 'a';
	write_lines(path, &l);
	free_lines(&l);
	expect_bad(3, NULL);
}

Test(audit, deleted_line_is_found)
{
	make_trail(10, 0);
	struct lines l = read_lines(path);
	free(l.v[5]);
	l.v[5] = NULL; /* seq 6 */
	write_lines(path, &l);
	free_lines(&l);
	expect_bad(6, "missing or out of order");
}

Test(audit, swapped_lines_are_found)
{
	make_trail(10, 0);
	struct lines l = read_lines(path);
	char *t = l.v[3];
	l.v[3] = l.v[4];
	l.v[4] = t; /* seq 5 now where 4 belongs */
	write_lines(path, &l);
	free_lines(&l);
	expect_bad(4, "out of order");
}

Test(audit, truncated_file_in_the_middle_is_found)
{
	make_trail(40, 2000);
	char p1[160], p2[160];
	snprintf(p1, sizeof p1, "%s.1", path);
	snprintf(p2, sizeof p2, "%s.2", path);
	cr_assert_eq(access(p2, F_OK), 0, "expected at least two rotated files");

	/* Cut path.2 in the middle of one of its lines. */
	struct lines l = read_lines(p2);
	cr_assert_geq(l.n, 2);
	size_t cut = strlen(l.v[0]) + 1 + strlen(l.v[1]) / 2;
	uint64_t lost = seq_of(l.v[1]);
	free_lines(&l);
	cr_assert_eq(truncate(p2, (off_t)cut), 0);
	expect_bad(lost, "incomplete");

	/* Drop the last whole line of path.1: a gap at a line boundary. */
	l = read_lines(p1);
	lost = seq_of(l.v[l.n - 1]);
	free(l.v[l.n - 1]);
	l.v[l.n - 1] = NULL;
	write_lines(p1, &l);
	free_lines(&l);
	expect_bad(lost, "missing");
}

Test(audit, truncated_tail_is_found)
{
	struct audit *a = open_trail(0);
	log_n(a, 10);
	cr_assert_eq(audit_sync(a), 0); /* path.head now records seq 10 */
	audit_close(a);

	struct lines l = read_lines(path);
	for (size_t i = 7; i < 10; i++) {
		free(l.v[i]);
		l.v[i] = NULL;
	}
	write_lines(path, &l);
	free_lines(&l);
	expect_bad(8, "entries after seq 7 are missing");

	/* And the trail is not silently continued. */
	struct audit_config cfg = { path, 0, 50, 0 };
	struct audit *b = NULL;
	char err[256] = "";
	cr_assert_eq(audit_open(&b, &cfg, ks, err, sizeof err), VAULT_E_AUDIT);
	cr_assert_null(b);
	cr_assert_not_null(strstr(err, "after seq 7 are missing"), "%s", err);
}

Test(audit, tail_truncation_without_head_file_goes_unnoticed)
{
	/* Documents the bound: the head file is what reveals a cut tail. */
	make_trail(10, 0);
	char head[160];
	snprintf(head, sizeof head, "%s.head", path);
	cr_assert_eq(unlink(head), 0);
	struct lines l = read_lines(path);
	free(l.v[9]);
	l.v[9] = NULL;
	write_lines(path, &l);
	free_lines(&l);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 9);
}

Test(audit, altered_head_file_is_found)
{
	make_trail(10, 0);
	char head[160];
	snprintf(head, sizeof head, "%s.head", path);
	struct lines l = read_lines(head);
	char *op = strstr(l.v[0], "\"op\":\"read\"");
	cr_assert_not_null(op);
	op[6] = 'R';
	write_lines(head, &l);
	free_lines(&l);
	struct audit_verify_result r = verify();
	cr_assert_eq(r.ok, 0);
}

/* ---- rotation and crashes --------------------------------------------- */

Test(audit, rotation_keeps_the_chain)
{
	make_trail(100, 4000);
	unsigned files = 0;
	char p[160], last_mac[80] = "";
	for (unsigned i = 1;; i++) {
		snprintf(p, sizeof p, "%s.%u", path, i);
		if (access(p, F_OK) != 0)
			break;
		files++;
		cr_assert_leq(file_size(p), 4000);
		struct lines l = read_lines(p);
		if (last_mac[0]) {
			json_t *o = parse(l.v[0]);
			cr_assert_str_eq(json_string_value(json_object_get(o, "prev")), last_mac);
			json_decref(o);
		}
		json_t *o = parse(l.v[l.n - 1]);
		snprintf(last_mac, sizeof last_mac, "%s",
		    json_string_value(json_object_get(o, "mac")));
		json_decref(o);
		free_lines(&l);
	}
	cr_assert_geq(files, 3);
	struct lines l = read_lines(path);
	json_t *o = parse(l.v[0]);
	cr_assert_str_eq(json_string_value(json_object_get(o, "prev")), last_mac);
	json_decref(o);
	free_lines(&l);

	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.files, files + 1);
	cr_assert_eq(r.entries, 100);

	/* New files keep counting up after a reopen. */
	make_trail(30, 4000);
	snprintf(p, sizeof p, "%s.%u", path, files + 1);
	cr_assert_eq(access(p, F_OK), 0);
	r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 130);
}

Test(audit, crash_torn_last_line_is_dropped)
{
	make_trail(5, 0);
	off_t whole = file_size(path);
	int fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	const char torn[] = "{\"client\":\"crm\",\"fields\":[\"em";
	cr_assert_eq(write(fd, torn, sizeof torn - 1), (ssize_t)(sizeof torn - 1));
	close(fd);
	expect_bad(6, "incomplete");

	struct audit *a = open_trail(0);
	cr_assert_eq(file_size(path), whole);
	log_n(a, 3);
	audit_close(a);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 8);
}

Test(audit, crash_between_rename_and_open_recovers)
{
	make_trail(5, 0);
	char p[160];
	snprintf(p, sizeof p, "%s.1", path);
	cr_assert_eq(rename(path, p), 0); /* as if rotation died right after rename */
	make_trail(5, 0);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.files, 2);
	cr_assert_eq(r.entries, 10);
}

Test(audit, dev_full_fails_closed)
{
	struct audit_config cfg = { "/dev/full", 0, 50, 0 };
	struct audit *a = NULL;
	char err[256] = "";
	cr_assert_eq(audit_open(&a, &cfg, ks, err, sizeof err), 0, "%s", err);
	uint64_t id = 7;
	struct audit_event ev = event("read", &id, 1);
	cr_assert_eq(audit_log(a, ks, &ev), VAULT_E_AUDIT);
	cr_assert_eq(audit_log(a, ks, &ev), VAULT_E_AUDIT);
	/* A batch too. */
	struct audit_batch *b = audit_batch_new();
	cr_assert_not_null(b);
	for (uint64_t r = 1; r <= 3; r++) {
		struct audit_event e = event("read", &r, 1);
		cr_assert_eq(audit_batch_add(b, ks, &e), 0);
	}
	cr_assert_eq(audit_batch_commit(a, b), VAULT_E_AUDIT);
	audit_batch_free(b);
	audit_close(a);
}

Test(audit, failed_write_leaves_the_head_unchanged)
{
	struct audit *a = open_trail(0);
	log_n(a, 3);
	off_t before = file_size(path);
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	struct rlimit small = { (rlim_t)before + 40, rl.rlim_max };
	signal(SIGXFSZ, SIG_IGN);
	/* The entry can be written only in part: it must be cut off again. */
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	uint64_t id = 9;
	struct audit_event ev = event("read", &id, 1);
	cr_assert_eq(audit_log(a, ks, &ev), VAULT_E_AUDIT);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	cr_assert_eq(file_size(path), before);
	cr_assert_eq(audit_log(a, ks, &ev), 0);
	audit_close(a);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 4);
}

/* ---- what an entry holds ---------------------------------------------- */

Test(audit, entries_hold_no_personal_data)
{
	static const char *const keys[] = { "client", "fields", "kv", "mac", "op", "outcome",
	    "prev", "purpose", "records", "seq", "time", "uid" };
	struct audit *a = open_trail(0);
	uint64_t ids[2] = { 424242, 7 };
	struct audit_event ev = event("read", ids, 2);
	ev.fields = (1u << FIELD_EMAIL) | (1u << FIELD_CARD_NUMBER) | (1u << 11);
	cr_assert_eq(audit_log(a, ks, &ev), 0);
	ev.purpose = 0;
	ev.client = NULL;
	ev.outcome = VAULT_E_DENIED;
	ev.nrecords = 0;
	ev.fields = 0;
	cr_assert_eq(audit_log(a, ks, &ev), 0);
	audit_close(a);

	struct lines l = read_lines(path);
	cr_assert_eq(l.n, 2);
	json_t *o = parse(l.v[0]);
	cr_assert_eq(json_object_size(o), 12);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		cr_assert_not_null(json_object_get(o, keys[i]), "no %s", keys[i]);
	/* Canonical: the line is exactly jansson's sorted compact form. */
	char *again = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	cr_assert_str_eq(again, l.v[0]);
	free(again);

	regex_t re;
	cr_assert_eq(regcomp(&re, "^v1:[0-9a-f]{32}$", REG_EXTENDED | REG_NOSUB), 0);
	json_t *recs = json_object_get(o, "records");
	cr_assert_eq(json_array_size(recs), 2);
	for (size_t i = 0; i < 2; i++)
		cr_assert_eq(regexec(&re, json_string_value(json_array_get(recs, i)), 0, NULL, 0), 0);
	regfree(&re);
	char pn[AUDIT_PSEUDONYM_MAX];
	cr_assert_eq(audit_pseudonym(ks, 1, 424242, pn), 0);
	cr_assert_str_eq(json_string_value(json_array_get(recs, 0)), pn);

	json_t *fields = json_object_get(o, "fields");
	cr_assert_eq(json_array_size(fields), 3);
	cr_assert_str_eq(json_string_value(json_array_get(fields, 0)), "email");
	cr_assert_str_eq(json_string_value(json_array_get(fields, 1)), "card_number");
	cr_assert_str_eq(json_string_value(json_array_get(fields, 2)), "documents");
	cr_assert_str_eq(json_string_value(json_object_get(o, "client")), "crm");
	cr_assert_str_eq(json_string_value(json_object_get(o, "purpose")), "transactional");
	cr_assert_str_eq(json_string_value(json_object_get(o, "outcome")), "ok");
	cr_assert_eq(json_integer_value(json_object_get(o, "kv")), 1);
	cr_assert_eq(json_integer_value(json_object_get(o, "uid")), 1000);
	cr_assert_eq(json_integer_value(json_object_get(o, "time")), 1700000000);
	json_decref(o);

	o = parse(l.v[1]);
	cr_assert(json_is_null(json_object_get(o, "client")));
	cr_assert(json_is_null(json_object_get(o, "purpose")));
	cr_assert_str_eq(json_string_value(json_object_get(o, "outcome")), "VAULT_E_DENIED");
	cr_assert_eq(json_array_size(json_object_get(o, "records")), 0);
	json_decref(o);
	free_lines(&l);
}

Test(audit, unusual_strings_stay_canonical)
{
	struct audit *a = open_trail(0);
	uint64_t ids[5] = { 1, 2, 3, 4, 5 };
	struct audit_event ev = event("read", ids, 5);
	ev.client = "caf\xc3\xa9 \"q\" \\ /\t\x7f";
	ev.fields = 0;
	cr_assert_eq(audit_log(a, ks, &ev), 0);
	ev.client = "bad\xff"; /* not UTF-8: refused, nothing written */
	cr_assert_eq(audit_log(a, ks, &ev), VAULT_E_AUDIT);
	ev.client = "crm";
	ev.time = -5;
	ev.nrecords = 0;
	cr_assert_eq(audit_log(a, ks, &ev), 0);
	audit_close(a);

	struct lines l = read_lines(path);
	cr_assert_eq(l.n, 2);
	for (size_t i = 0; i < l.n; i++) {
		json_t *o = parse(l.v[i]);
		char *again = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		cr_assert_str_eq(again, l.v[i]);
		free(again);
		json_decref(o);
	}
	free_lines(&l);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 2);
}

/* ---- queries ---------------------------------------------------------- */

struct seqs {
	uint64_t v[64];
	size_t n;
};

static int
collect(void *arg, const struct audit_entry *e)
{
	struct seqs *s = arg;
	cr_assert_lt(s->n, 64);
	s->v[s->n++] = e->seq;
	return 0;
}

static struct seqs
query(const struct key_set *k, const struct audit_filter *f)
{
	struct seqs s = { .n = 0 };
	cr_assert_eq(audit_query(path, k, f, collect, &s), 0);
	return s;
}

static void
expect_seqs(struct seqs s, const uint64_t *want, size_t n)
{
	cr_assert_eq(s.n, n, "%zu entries, expected %zu", s.n, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(s.v[i], want[i], "entry %zu: seq %llu, expected %llu", i,
		    (unsigned long long)s.v[i], (unsigned long long)want[i]);
}

Test(audit, query_by_record_across_index_key_versions)
{
	struct audit *a = open_trail(300); /* rotates: queries read every file */
	uint64_t r1 = 1, r2 = 2, r12[2] = { 1, 2 }, r3 = 3;
	struct audit_event ev;
	ev = event("read", &r1, 1);
	cr_assert_eq(audit_log(a, ks, &ev), 0);
	ev = event("read", &r2, 1);
	cr_assert_eq(audit_log(a, ks, &ev), 0);
	ev = event("list", r12, 2);
	cr_assert_eq(audit_log(a, ks, &ev), 0);
	ev = event("read", &r3, 1);
	cr_assert_eq(audit_log(a, ks, &ev), 0);
	ev = event("keys_status", NULL, 0);
	cr_assert_eq(audit_log(a, ks, &ev), 0);

	/* A new index key version: record 2's pseudonym changes. */
	struct keyring *ring2 = NULL;
	struct key_set *ks2 = NULL;
	uint32_t v = 0;
	cr_assert_eq(keyring_with_new_key(ks->ring, KEYRING_INDEX, &ring2, &v), 0);
	cr_assert_eq(v, 2);
	cr_assert_eq(key_set_new(ring2, &ks2), 0);
	ev = event("update", &r2, 1);
	cr_assert_eq(audit_log(a, ks2, &ev), 0);
	audit_close(a);

	struct audit_filter f = { .record = &r2 };
	expect_seqs(query(ks2, &f), (const uint64_t[]){ 2, 3, 6 }, 3);
	expect_seqs(query(ks, &f), (const uint64_t[]){ 2, 3 }, 2); /* v1 only */
	f.record = &r3;
	expect_seqs(query(ks2, &f), (const uint64_t[]){ 4 }, 1);
	uint64_t none = 99;
	f.record = &none;
	expect_seqs(query(ks2, &f), NULL, 0);

	struct audit_verify_result r;
	cr_assert_eq(audit_verify_files(path, ks2, &r), 0);
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 6);
	cr_assert_gt(r.files, 1);
	key_set_free(ks2);
}

Test(audit, query_by_client_purpose_time_and_limit)
{
	struct audit *a = open_trail(0);
	static const char *const clients[] = { "crm", "billing", "crm", "support", "billing", "crm" };
	static const enum vault_purpose purposes[] = { VAULT_PURPOSE_TRANSACTIONAL,
	    VAULT_PURPOSE_MARKETING, VAULT_PURPOSE_MARKETING, VAULT_PURPOSE_SECURITY,
	    VAULT_PURPOSE_TRANSACTIONAL, 0 };
	for (unsigned i = 0; i < 6; i++) {
		uint64_t id = i;
		struct audit_event ev = event("read", &id, 1);
		ev.client = clients[i];
		ev.purpose = purposes[i];
		ev.time = 1000 * (time_t)(i + 1);
		cr_assert_eq(audit_log(a, ks, &ev), 0);
	}
	audit_close(a);

	struct audit_filter f = { .client = "crm" };
	expect_seqs(query(ks, &f), (const uint64_t[]){ 1, 3, 6 }, 3);
	f = (struct audit_filter){ .purpose = "marketing" };
	expect_seqs(query(ks, &f), (const uint64_t[]){ 2, 3 }, 2);
	f = (struct audit_filter){ .client = "billing", .purpose = "transactional" };
	expect_seqs(query(ks, &f), (const uint64_t[]){ 5 }, 1);
	f = (struct audit_filter){ .from = 2000, .to = 4000 };
	expect_seqs(query(ks, &f), (const uint64_t[]){ 2, 3, 4 }, 3);
	f = (struct audit_filter){ .from = 4500 };
	expect_seqs(query(ks, &f), (const uint64_t[]){ 5, 6 }, 2);
	f = (struct audit_filter){ .to = 1000 };
	expect_seqs(query(ks, &f), (const uint64_t[]){ 1 }, 1);
	f = (struct audit_filter){ .limit = 2 };
	expect_seqs(query(ks, &f), (const uint64_t[]){ 1, 2 }, 2);
	f = (struct audit_filter){ .client = "nobody" };
	expect_seqs(query(ks, &f), NULL, 0);
}

/* ---- many threads ----------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 10000

struct worker_arg {
	struct audit *a;
	unsigned index;
	int failures;
};

static void *
worker_main(void *p)
{
	struct worker_arg *w = p;
	for (unsigned i = 0; i < PER_THREAD; i++) {
		uint64_t id = (uint64_t)w->index * PER_THREAD + i;
		struct audit_event ev = event("read", &id, 1);
		if (audit_log(w->a, ks, &ev) != 0)
			w->failures++;
	}
	return NULL;
}

Test(audit, concurrent_logging_keeps_a_valid_chain, .timeout = 120)
{
	struct audit *a = open_trail(1 << 20);
	pthread_t t[THREADS];
	struct worker_arg w[THREADS];
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker_arg){ a, i, 0 };
		cr_assert_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].failures, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double rate = THREADS * PER_THREAD / secs;
	fprintf(stderr, "audit: %d entries from %d threads in %.3f s: %.0f entries/s\n",
	    THREADS * PER_THREAD, THREADS, secs, rate);
	cr_log_info("audit: %.0f entries/s", rate);

	struct audit_verify_result r;
	cr_assert_eq(audit_verify(a, ks, &r), 0);
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, THREADS * PER_THREAD);
	audit_close(a);
	r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, THREADS * PER_THREAD);
	cr_assert_gt(r.files, 1);
}

static void *
writer_main(void *p)
{
	struct worker_arg *w = p;
	for (unsigned i = 0; i < 6000; i++) {
		uint64_t id = i;
		struct audit_event ev = event("read", &id, 1);
		if (audit_log(w->a, ks, &ev) != 0)
			w->failures++;
	}
	return NULL;
}

Test(audit, live_verify_while_writing_and_rotating, .timeout = 120)
{
	struct audit *a = open_trail(16 << 10);
	struct worker_arg w = { a, 0, 0 };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, writer_main, &w), 0);
	for (int i = 0; i < 10; i++) {
		struct audit_verify_result r;
		cr_assert_eq(audit_verify(a, ks, &r), 0);
		cr_assert(r.ok, "round %d: %s", i, r.reason);
	}
	pthread_join(t, NULL);
	cr_assert_eq(w.failures, 0);
	audit_close(a);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 6000);
}

/* ---- the operations --------------------------------------------------- */

static struct server srv;
static struct buf reply; /* what the last run_op() result points into */

/* Run op with args (a msgpack map packed by the caller) and unpack the result. */
static int
run_op(const struct op *op, msgpack_sbuffer *args, msgpack_unpacked *res,
    struct op_error *err)
{
	msgpack_unpacked req_obj;
	struct read_ctx ctx = { .svc = &srv.svc, .keys = ks };
	struct buf *out = &reply;
	msgpack_packer pk;

	buf_clear(out);

	msgpack_unpacked_init(&req_obj);
	cr_assert_eq(msgpack_unpack_next(&req_obj, args->data, args->size, NULL),
	    MSGPACK_UNPACK_SUCCESS);
	struct request req = { .id = 1, .args = &req_obj.data };
	msgpack_packer_init(&pk, out, buf_msgpack_write);
	int rc = op->read(&ctx, &req, &pk, err);
	msgpack_unpacked_destroy(&req_obj);
	if (rc == 0) {
		cr_assert_eq(out->error, 0);
		msgpack_unpacked_init(res);
		cr_assert_eq(msgpack_unpack_next(res, (const char *)out->data, out->len, NULL),
		    MSGPACK_UNPACK_SUCCESS);
	}
	return rc;
}

static const msgpack_object *
get(const msgpack_object *map, const char *key)
{
	cr_assert_eq(map->type, MSGPACK_OBJECT_MAP);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

static void
pack_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

Test(audit, the_operations)
{
	cr_assert_eq(op_lookup("audit_verify", 12), &op_audit_verify);
	cr_assert_eq(op_lookup("audit_query", 11), &op_audit_query);
	cr_assert(op_audit_verify.admin && op_audit_query.admin);
	cr_assert_eq(op_audit_verify.kind, OP_READ);
	cr_assert_eq(op_audit_query.needs_purpose, 0);

	struct audit *a = open_trail(0);
	uint64_t ids[3] = { 11, 12, 13 };
	for (unsigned i = 0; i < 3; i++) {
		struct audit_event ev = event("read", &ids[i], 1);
		cr_assert_eq(audit_log(a, ks, &ev), 0);
	}
	memset(&srv, 0, sizeof srv);
	srv.svc.cfg.max_frame_bytes = 1 << 20;
	srv.svc.audit = a;
	srv.svc.audit_cfg = (struct audit_config){ path, 0, 50, 0 };

	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked res;
	struct op_error err = { 0 };

	/* audit_verify, on the open trail */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 0);
	cr_assert_eq(run_op(&op_audit_verify, &sb, &res, &err), 0);
	cr_assert(get(&res.data, "ok")->via.boolean);
	cr_assert_eq(get(&res.data, "files")->via.u64, 1);
	cr_assert_eq(get(&res.data, "entries")->via.u64, 3);
	cr_assert_null(get(&res.data, "first_bad_seq"));
	cr_assert_null(get(&res.data, "reason"));
	msgpack_unpacked_destroy(&res);

	/* audit_query by record token */
	char tok[TOKEN_MAX_LEN + 1];
	cr_assert_eq(token_record_make(ks->tokens, 12, tok), 0);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	pack_str(&pk, "record");
	pack_str(&pk, tok);
	pack_str(&pk, "client");
	pack_str(&pk, "crm");
	cr_assert_eq(run_op(&op_audit_query, &sb, &res, &err), 0, "%s", err.message);
	const msgpack_object *entries = get(&res.data, "entries");
	cr_assert_not_null(entries);
	cr_assert_eq(entries->type, MSGPACK_OBJECT_ARRAY);
	cr_assert_eq(entries->via.array.size, 1);
	const msgpack_object *e = &entries->via.array.ptr[0];
	cr_assert_eq(e->via.map.size, 9);
	cr_assert_eq(get(e, "seq")->via.u64, 2);
	cr_assert_eq(get(e, "uid")->via.u64, 1000);
	cr_assert_eq(get(e, "records")->via.array.size, 1);
	cr_assert_eq(get(e, "fields")->via.array.size, 1);
	cr_assert_null(get(e, "mac"));
	msgpack_unpacked_destroy(&res);

	/* limit out of range, unknown purpose */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 1);
	pack_str(&pk, "limit");
	msgpack_pack_uint64(&pk, 100001);
	cr_assert_eq(run_op(&op_audit_query, &sb, &res, &err), VAULT_E_LIMIT);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 1);
	pack_str(&pk, "purpose");
	pack_str(&pk, "gossip");
	cr_assert_eq(run_op(&op_audit_query, &sb, &res, &err), VAULT_E_INVALID_VALUE);

	/* A limit of 2 over three entries, all of them */
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	pack_str(&pk, "limit");
	msgpack_pack_uint64(&pk, 2);
	pack_str(&pk, "purpose");
	pack_str(&pk, "transactional");
	cr_assert_eq(run_op(&op_audit_query, &sb, &res, &err), 0);
	cr_assert_eq(get(&res.data, "entries")->via.array.size, 2);
	msgpack_unpacked_destroy(&res);

	/* A tampered trail: verify answers with first_bad_seq and reason. */
	audit_close(a);
	srv.svc.audit = NULL;
	struct lines l = read_lines(path);
	free(l.v[1]);
	l.v[1] = NULL;
	write_lines(path, &l);
	free_lines(&l);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 0);
	cr_assert_eq(run_op(&op_audit_verify, &sb, &res, &err), 0);
	cr_assert_eq(get(&res.data, "ok")->via.boolean, false);
	cr_assert_eq(get(&res.data, "first_bad_seq")->via.u64, 2);
	cr_assert_not_null(get(&res.data, "reason"));
	msgpack_unpacked_destroy(&res);
	msgpack_sbuffer_destroy(&sb);
	buf_free(&reply);
}

/* ---- batches ----------------------------------------------------------- */

/* n entries for records base, base+1, ... added to b. */
static void
add_n(struct audit_batch *b, const struct key_set *k, uint64_t base, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t id = base + i;
		struct audit_event ev = event("read", &id, 1);
		cr_assert_eq(audit_batch_add(b, k, &ev), 0);
	}
}

Test(audit, a_batch_is_one_write_of_chained_entries)
{
	struct audit *a = open_trail(0);
	struct audit_batch *b = audit_batch_new();
	cr_assert_not_null(b);
	log_n(a, 2);
	add_n(b, ks, 500, 40);
	cr_assert_eq(audit_batch_count(b), 40);
	off_t before = file_size(path);
	cr_assert_eq(audit_batch_commit(a, b), 0);
	cr_assert_eq(audit_batch_count(b), 0, "a commit empties the batch");
	cr_assert_gt(file_size(path), before);
	cr_assert_eq(audit_batch_commit(a, b), 0, "an empty batch writes nothing");
	log_n(a, 1); /* single entries chain on after a batch */
	audit_batch_free(b);
	audit_close(a);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 43);
	/* The batch's entries are in the order they were added. */
	struct lines l = read_lines(path);
	cr_assert_eq(l.n, 43);
	for (size_t i = 0; i < 40; i++) {
		json_t *o = parse(l.v[2 + i]);
		cr_assert_eq(json_integer_value(json_object_get(o, "seq")), (json_int_t)(3 + i));
		json_decref(o);
	}
	char want[AUDIT_PSEUDONYM_MAX];
	cr_assert_eq(audit_pseudonym(ks, 1, 539, want), 0);
	cr_assert_not_null(strstr(l.v[41], want), "the last entry names record 539");
	free_lines(&l);
}

Test(audit, a_failed_batch_writes_nothing_and_the_chain_goes_on)
{
	struct audit *a = open_trail(0);
	struct audit_batch *b = audit_batch_new();
	log_n(a, 3);
	off_t before = file_size(path);
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	struct rlimit small = { (rlim_t)before + 300, rl.rlim_max };
	signal(SIGXFSZ, SIG_IGN);
	/* The batch fits only in part: none of it may stay. */
	add_n(b, ks, 1, 10);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	cr_assert_eq(audit_batch_commit(a, b), VAULT_E_AUDIT);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	cr_assert_eq(audit_batch_count(b), 0, "a failed commit empties the batch too");
	cr_assert_eq(file_size(path), before);
	/* Entries dropped before a commit never reach the trail. */
	add_n(b, ks, 20, 5);
	audit_batch_clear(b);
	add_n(b, ks, 30, 4);
	cr_assert_eq(audit_batch_commit(a, b), 0);
	audit_batch_free(b);
	audit_close(a);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 7);
}

Test(audit, a_batch_spans_index_key_versions_and_rotates_whole)
{
	struct audit *a = open_trail(2000);
	struct audit_batch *b = audit_batch_new();
	struct keyring *ring2 = NULL;
	struct key_set *ks2 = NULL;
	uint32_t v = 0;
	cr_assert_eq(keyring_with_new_key(ks->ring, KEYRING_INDEX, &ring2, &v), 0);
	cr_assert_eq(key_set_new(ring2, &ks2), 0);
	for (unsigned round = 0; round < 6; round++) {
		/* An index key rotation in the middle of a batch. */
		add_n(b, ks, round * 10, 3);
		add_n(b, ks2, round * 10 + 3, 3);
		cr_assert_eq(audit_batch_commit(a, b), 0);
	}
	audit_batch_free(b);
	audit_close(a);
	struct audit_verify_result r;
	cr_assert_eq(audit_verify_files(path, ks2, &r), 0);
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 36);
	cr_assert_gt(r.files, 1, "the trail rotated");
	/* Each rotated file holds whole batches: 6 entries per batch. */
	char p1[160];
	snprintf(p1, sizeof p1, "%s.1", path);
	struct lines l = read_lines(p1);
	cr_assert_eq(l.n % 6, 0, "%zu entries in the first file", l.n);
	free_lines(&l);
	uint64_t r5 = 5;
	struct audit_filter f = { .record = &r5 };
	expect_seqs(query(ks2, &f), (const uint64_t[]){ 6 }, 1);
	key_set_free(ks2);
}

/* ---- the data's anchor, acknowledgments, checkpoints ------------------- */

/* The anchor of entry line (its seq and MAC). */
static struct audit_anchor
anchor_of(const char *line, const char *what)
{
	struct audit_anchor an = { .what = what };
	json_t *o = parse(line);
	an.seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
	cr_assert_eq(sodium_hex2bin(an.mac, sizeof an.mac,
	    json_string_value(json_object_get(o, "mac")), 64, NULL, NULL, NULL), 0);
	json_decref(o);
	return an;
}

/* Cut path back to its first keep lines and make the head file agree. */
static void
cut_tail_and_head(size_t keep)
{
	char head[160];
	struct lines l = read_lines(path), h = { 0 };
	for (size_t i = keep; i < l.n; i++) {
		free(l.v[i]);
		l.v[i] = NULL;
	}
	write_lines(path, &l);
	snprintf(head, sizeof head, "%s.head", path);
	h.v = &l.v[keep - 1];
	h.n = 1;
	write_lines(head, &h);
	free_lines(&l);
}

Test(audit, a_cut_tail_with_a_rewritten_head_file_is_found_by_the_anchor)
{
	struct audit *a = open_trail(0);
	log_n(a, 10);
	uint64_t seq;
	uint8_t mac[AUDIT_MAC_BYTES];
	audit_head(a, &seq, mac);
	cr_assert_eq(seq, 10);
	audit_close(a);
	struct lines l = read_lines(path);
	struct audit_anchor an = anchor_of(l.v[9], "data");
	cr_assert_eq(an.seq, 10);
	cr_assert_eq(memcmp(an.mac, mac, sizeof mac), 0, "audit_head gives the last entry");
	free_lines(&l);

	/* The attack: the head file no longer tells. */
	cut_tail_and_head(6);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "without the anchor the cut is invisible: %s", r.reason);
	cr_assert_eq(audit_verify_files_with(path, ks, &an, 1, &r), 0);
	cr_assert_eq(r.ok, 0);
	cr_assert_eq(r.first_bad_seq, 7);
	cr_assert_not_null(strstr(r.reason, "the data records seq 10"), "%s", r.reason);

	/* At start: it opens (trail and head file agree), the anchor refuses it. */
	char err[256] = "";
	a = open_trail(0);
	cr_assert_eq(audit_check_anchor(a, &an, err, sizeof err), VAULT_E_AUDIT);
	cr_assert_not_null(strstr(err, "ends at seq 6 but the data records entries up to "
	    "seq 10"), "%s", err);
	audit_close(a);

	/* Acknowledged: the gap is in the chain, no number is reused. */
	struct audit_config cfg = { path, 0, 50, 0 };
	cr_assert_eq(audit_open_flags(&a, &cfg, ks, AUDIT_OPEN_ACKNOWLEDGE, err, sizeof err), 0);
	cr_assert_eq(audit_acknowledge(a, ks, an.seq, 0, &seq, mac), 0);
	cr_assert_eq(seq, 11);
	audit_close(a);
	struct audit_anchor now = { .seq = seq, .what = "data" };
	memcpy(now.mac, mac, sizeof mac);
	cr_assert_eq(audit_verify_files_with(path, ks, &now, 1, &r), 0);
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 7);
	cr_assert_eq(r.acknowledged, 4);
	/* ...but an entry recorded elsewhere (a checkpoint) was lost. */
	an.what = "checkpoint";
	cr_assert_eq(audit_verify_files_with(path, ks, &an, 1, &r), 0);
	cr_assert_eq(r.ok, 0);
	cr_assert_eq(r.first_bad_seq, 10);
	cr_assert_not_null(strstr(r.reason, "acknowledged at seq 11"), "%s", r.reason);
	a = open_trail(0);
	cr_assert_eq(audit_check_anchor(a, &now, err, sizeof err), 0, "%s", err);
	log_n(a, 1);
	audit_close(a);
	l = read_lines(path);
	cr_assert_eq(l.n, 8);
	cr_assert_eq(seq_of(l.v[6]), 11);
	cr_assert_eq(seq_of(l.v[7]), 12);
	cr_assert_not_null(strstr(l.v[6], "\"op\":\"audit_acknowledge\""));
	free_lines(&l);
}

Test(audit, a_trail_shorter_than_its_head_file_is_acknowledged_past_both)
{
	struct audit *a = open_trail(0);
	log_n(a, 10);
	audit_close(a); /* the head file records seq 10 */
	struct lines l = read_lines(path);
	struct audit_anchor an = anchor_of(l.v[7], "data");
	for (size_t i = 5; i < 10; i++) {
		free(l.v[i]);
		l.v[i] = NULL;
	}
	write_lines(path, &l);
	free_lines(&l);
	struct audit_config cfg = { path, 0, 50, 0 };
	char err[256] = "";
	cr_assert_eq(audit_open(&a, &cfg, ks, err, sizeof err), VAULT_E_AUDIT);
	cr_assert_eq(audit_open_flags(&a, &cfg, ks, AUDIT_OPEN_ACKNOWLEDGE, err, sizeof err), 0);
	cr_assert_eq(audit_lost_to(a), 10);
	uint64_t seq;
	uint8_t mac[AUDIT_MAC_BYTES];
	cr_assert_eq(audit_acknowledge(a, ks, an.seq, 0, &seq, mac), 0);
	cr_assert_eq(seq, 11, "past the head file's 10, not only the data's 8");
	audit_close(a);
	struct audit_verify_result r = verify();
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.acknowledged, 5);
	a = open_trail(0); /* the head file was rewritten by the acknowledgment */
	audit_close(a);
}

Test(audit, only_an_authentic_acknowledgment_skips_numbers)
{
	make_trail(8, 0);
	struct lines l = read_lines(path);
	/* Entries 4 and 5 removed, entry 6 relabelled as an acknowledgment. */
	char *op = strstr(l.v[5], "\"op\":\"read\"");
	cr_assert_not_null(op);
	size_t n = strlen(l.v[5]);
	char *edited = malloc(n + 32);
	snprintf(edited, n + 32, "%.*s\"op\":\"audit_acknowledge\"%s", (int)(op - l.v[5]),
	    l.v[5], op + strlen("\"op\":\"read\""));
	free(l.v[5]);
	l.v[5] = edited;
	free(l.v[3]);
	free(l.v[4]);
	l.v[3] = l.v[4] = NULL;
	write_lines(path, &l);
	free_lines(&l);
	expect_bad(4, NULL);
}

Test(audit, the_anchor_is_looked_for_across_rotated_files)
{
	make_trail(100, 4000);
	char p[160], err[256] = "";
	snprintf(p, sizeof p, "%s.1", path);
	struct lines l = read_lines(p);
	struct audit_anchor early = anchor_of(l.v[l.n - 1], "data");
	free_lines(&l);
	l = read_lines(path);
	struct audit_anchor last = anchor_of(l.v[l.n - 1], "data");
	free_lines(&l);
	cr_assert_lt(early.seq, last.seq);
	struct audit *a = open_trail(4000);
	cr_assert_eq(audit_check_anchor(a, &early, err, sizeof err), 0, "%s", err);
	cr_assert_eq(audit_check_anchor(a, &last, err, sizeof err), 0, "%s", err);
	early.mac[0] ^= 1;
	cr_assert_eq(audit_check_anchor(a, &early, err, sizeof err), VAULT_E_AUDIT);
	cr_assert_not_null(strstr(err, "is not the one the data records"), "%s", err);
	audit_close(a);

	/* The current file and the head file removed: the trail now ends in a
	 * rotated file, which audit_open() takes for the end. */
	char head[160];
	snprintf(head, sizeof head, "%s.head", path);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(unlink(head), 0);
	a = open_trail(4000);
	cr_assert_eq(audit_check_anchor(a, &last, err, sizeof err), VAULT_E_AUDIT);
	cr_assert_not_null(strstr(err, "entries were removed"), "%s", err);
	audit_close(a);
}

Test(audit, the_checkpoint_operation_signs_what_verify_checks)
{
	cr_assert_eq(op_lookup("audit_checkpoint", 16), &op_audit_checkpoint);
	cr_assert(op_audit_checkpoint.admin);
	struct audit *a = open_trail(0);
	log_n(a, 3);
	memset(&srv, 0, sizeof srv);
	srv.svc.cfg.max_frame_bytes = 1 << 20;
	srv.svc.audit = a;
	srv.svc.audit_cfg = (struct audit_config){ path, 0, 50, 0 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked res;
	struct op_error err = { 0 };
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 0);
	cr_assert_eq(run_op(&op_audit_checkpoint, &sb, &res, &err), 0, "%s", err.message);
	uint64_t seq = get(&res.data, "seq")->via.u64;
	int64_t when = get(&res.data, "time")->via.i64;
	uint32_t kv = (uint32_t)get(&res.data, "key_version")->via.u64;
	const msgpack_object *mac = get(&res.data, "mac"), *sig = get(&res.data, "signature");
	cr_assert_eq(seq, 3);
	cr_assert_eq(mac->type, MSGPACK_OBJECT_STR);
	cr_assert_eq(mac->via.str.size, 64);
	cr_assert_eq(sig->type, MSGPACK_OBJECT_BIN);
	cr_assert_eq(sig->via.bin.size, crypto_sign_BYTES);
	char hex[65], msg[CHECKPOINT_MESSAGE_MAX];
	uint8_t pub[crypto_sign_PUBLICKEYBYTES], sigb[crypto_sign_BYTES];
	memcpy(hex, mac->via.str.ptr, 64);
	hex[64] = '\0';
	memcpy(sigb, sig->via.bin.ptr, sizeof sigb);
	msgpack_unpacked_destroy(&res);
	int n = checkpoint_message(msg, seq, hex, when, kv);
	cr_assert_gt(n, 0);
	cr_assert_eq(secret_public_key(ks, kv, pub), 0);
	cr_assert_eq(crypto_sign_verify_detached(sigb, (const unsigned char *)msg, (size_t)n,
	    pub), 0, "signed with the published key");
	msg[strlen("vault audit checkpoint v1\nseq ")] = '2';
	cr_assert_neq(crypto_sign_verify_detached(sigb, (const unsigned char *)msg, (size_t)n,
	    pub), 0);

	/* The trail extends it, then (more entries) still does. */
	log_n(a, 2);
	for (int round = 0; round < 3; round++) {
		msgpack_sbuffer_clear(&sb);
		msgpack_pack_map(&pk, 2);
		pack_str(&pk, "checkpoint_seq");
		msgpack_pack_uint64(&pk, round == 2 ? 7 : seq);
		pack_str(&pk, "checkpoint_mac");
		if (round == 1)
			hex[0] = hex[0] == '0' ? '1' : '0';
		pack_str(&pk, hex);
		cr_assert_eq(run_op(&op_audit_verify, &sb, &res, &err), 0, "%s", err.message);
		int ok = get(&res.data, "ok")->via.boolean;
		if (round == 0) {
			cr_assert(ok);
		} else {
			/* Another MAC at its seq; a seq beyond the trail's end. */
			cr_assert_not(ok);
			cr_assert_eq(get(&res.data, "first_bad_seq")->via.u64, round == 1 ? 3 : 6);
			const msgpack_object *why = get(&res.data, "reason");
			cr_assert_not_null(memmem(why->via.str.ptr, why->via.str.size,
			    "checkpoint", 10));
		}
		msgpack_unpacked_destroy(&res);
	}
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 2);
	pack_str(&pk, "checkpoint_seq");
	msgpack_pack_uint64(&pk, seq);
	pack_str(&pk, "checkpoint_mac");
	pack_str(&pk, "xyz");
	cr_assert_eq(run_op(&op_audit_verify, &sb, &res, &err), VAULT_E_INVALID_VALUE);
	cr_assert_str_eq(err.field, "checkpoint_mac");
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 1);
	pack_str(&pk, "checkpoint_seq");
	msgpack_pack_uint64(&pk, seq);
	cr_assert_eq(run_op(&op_audit_verify, &sb, &res, &err), VAULT_E_PROTO_MISSING);
	msgpack_sbuffer_destroy(&sb);
	buf_free(&reply);
	audit_close(a);
	srv.svc.audit = NULL;
}

/*
 * A FIFO (or socket) put where the trail was, by someone who can write the
 * audit directory, would read every entry and, not being a regular file,
 * skip the start-up anchor check: only a character device is taken as a
 * device trail.
 */
Test(audit, a_fifo_in_the_trails_place_is_refused)
{
	struct audit_config cfg = { path, 0, 1000, 0 };
	struct audit *a = NULL;
	char err[256];
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_neq(audit_open(&a, &cfg, ks, err, sizeof err), 0, "a FIFO was opened as the trail");
	cr_assert_null(a);
	cr_assert_not_null(strstr(err, "FIFO"), "%s", err);
	/* A character device still is (tests write to /dev/full). */
	struct audit_config dev = { "/dev/full", 0, 1000, 0 };
	cr_assert_eq(audit_open(&a, &dev, ks, err, sizeof err), 0, "%s", err);
	audit_close(a);
}

/* ---- verified selection (the breach report) ----------------------------- */

struct picked {
	uint64_t seqs[32];
	size_t n;
};

static int
pick(void *arg, const struct audit_entry *e)
{
	struct picked *p = arg;
	if (p->n < 32)
		p->seqs[p->n++] = e->seq;
	return 0;
}

/* Entries at times 1000, 1001, ...; clients alternate crm / shipping. */
static void
timed_trail(struct audit *a, const struct key_set *k, unsigned from, unsigned n)
{
	for (unsigned i = from; i < from + n; i++) {
		uint64_t id = 100 + i;
		struct audit_event ev = event("read", &id, 1);
		ev.time = 1000 + i;
		ev.client = i % 2 ? "shipping" : "crm";
		cr_assert_eq(audit_log(a, k, &ev), 0);
	}
}

Test(audit, select_passes_on_verified_entries_of_the_window_only)
{
	struct audit *a = open_trail(0);
	timed_trail(a, ks, 0, 10);
	audit_close(a);
	struct audit_filter f = { .client = "shipping", .from = 1002, .to = 1007 };
	struct picked p = { .n = 0 };
	struct audit_verify_result r;
	cr_assert_eq(audit_verify_select(NULL, path, ks, NULL, 0, &f, pick, &p, &r), 0);
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.entries, 10);
	cr_assert_eq(r.last_time, 1009);
	/* shipping's entries are the odd i: seq i + 1, times 1003, 1005, 1007 */
	cr_assert_eq(p.n, 3);
	cr_assert_eq(p.seqs[0], 4);
	cr_assert_eq(p.seqs[2], 8);

	/* An edited entry: nothing from it on is passed on; last_time says where. */
	struct lines l = read_lines(path);
	char *op = strstr(l.v[5], "\"op\":\"read\"");
	cr_assert_not_null(op);
	op[6] = 'R';
	write_lines(path, &l);
	free_lines(&l);
	p.n = 0;
	cr_assert_eq(audit_verify_select(NULL, path, ks, NULL, 0, &f, pick, &p, &r), 0);
	cr_assert_eq(r.ok, 0);
	cr_assert_eq(r.first_bad_seq, 6);
	cr_assert_eq(r.last_time, 1004);
	cr_assert_eq(p.n, 1, "only seq 4 verified inside the window");
}

Test(audit, select_counts_entries_of_a_retired_key_and_refuses_one_forged_to_it)
{
	/* Entries under index key 1, then 2; key 1 retired afterwards. */
	struct keyring *ring2 = NULL, *ring3 = NULL;
	struct key_set *ks2 = NULL, *ks3 = NULL;
	const char *why = NULL;
	uint32_t v = 0;
	struct audit *a = open_trail(0);
	timed_trail(a, ks, 0, 4);
	cr_assert_eq(keyring_with_new_key(ks->ring, KEYRING_INDEX, &ring2, &v), 0);
	cr_assert_eq(key_set_new(ring2, &ks2), 0);
	timed_trail(a, ks2, 4, 4);
	audit_close(a);
	cr_assert_eq(keyring_without_key(ring2, KEYRING_INDEX, 1, &ring3, &why), 0, "%s", why);
	cr_assert_eq(key_set_new(ring3, &ks3), 0);

	struct audit_filter f = { .client = "shipping" };
	struct picked p = { .n = 0 };
	struct audit_verify_result r;
	/* Plain verification cannot pass entries it has no key for. */
	cr_assert_eq(audit_verify_files(path, ks3, &r), 0);
	cr_assert_eq(r.ok, 0);
	/* The selection passes over them, counted, and checks the rest. */
	cr_assert_eq(audit_verify_select(NULL, path, ks3, NULL, 0, &f, pick, &p, &r), 0);
	cr_assert(r.ok, "%s", r.reason);
	cr_assert_eq(r.unkeyed, 4);
	cr_assert_eq(r.unkeyed_selected, 2);
	cr_assert_eq(r.entries, 4);
	cr_assert_eq(p.n, 2);
	cr_assert_eq(p.seqs[0], 6);

	/* An entry after the keyed ones with its kv changed to the retired 1: damage. */
	struct lines l = read_lines(path);
	char *kv = strstr(l.v[6], "\"kv\":2");
	cr_assert_not_null(kv);
	kv[5] = '1';
	write_lines(path, &l);
	free_lines(&l);
	p.n = 0;
	cr_assert_eq(audit_verify_select(NULL, path, ks3, NULL, 0, &f, pick, &p, &r), 0);
	cr_assert_eq(r.ok, 0);
	cr_assert_eq(r.first_bad_seq, 7, "%s", r.reason);
	key_set_free(ks2);
	key_set_free(ks3);
}
