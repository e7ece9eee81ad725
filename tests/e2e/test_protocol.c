/*
 * test_protocol.c - end-to-end: the wire protocol against a real vaultd.
 * Bad input of every kind gets its specific error while the service keeps
 * serving; pipelining; what lands on disk; crash-shredding binding; stop.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <lmdb.h>
#include <msgpack.h>
#include <vault/vault.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/msg.h"
#include "harness.h"
#include "vault/store/record_codec.h"
#include "vault/store/store.h"

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

TestSuite(protocol, .init = setup, .fini = teardown, .timeout = 60);

static int
raw_connect(void)
{
	return vaultd_raw_connect(&srv, 10);
}

static int
reply_code(const struct raw_reply *r)
{
	const msgpack_object *ok = msg_get(&r->root, "ok");
	cr_assert_not_null(ok);
	if (ok->via.boolean)
		return 0;
	const msgpack_object *e = msg_get(&r->root, "error");
	cr_assert_not_null(e);
	return (int)msg_get(e, "code")->via.u64;
}

static uint64_t
reply_id(const struct raw_reply *r)
{
	return msg_get(&r->root, "id")->via.u64;
}

/* Pack a request {v, id, op, purpose?} plus extra pairs via a callback. */
struct req {
	struct buf b;
	msgpack_packer pk;
};

static void
req_begin(struct req *q, uint64_t id, const char *op, const char *purpose, size_t extra)
{
	memset(q, 0, sizeof(*q));
	msgpack_packer_init(&q->pk, &q->b, buf_msgpack_write);
	msgpack_pack_map(&q->pk, 3 + (purpose != NULL) + extra);
	mp_cstr(&q->pk, "v");
	msgpack_pack_uint32(&q->pk, 1);
	mp_cstr(&q->pk, "id");
	msgpack_pack_uint64(&q->pk, id);
	mp_cstr(&q->pk, "op");
	mp_cstr(&q->pk, op);
	if (purpose) {
		mp_cstr(&q->pk, "purpose");
		mp_cstr(&q->pk, purpose);
	}
}

static void
req_send(int fd, struct req *q)
{
	raw_send_frame(fd, q->b.data, q->b.len);
	buf_free(&q->b);
}

static int
call_code(int fd, struct req *q)
{
	struct raw_reply r;
	req_send(fd, q);
	cr_assert_eq(raw_recv_reply(fd, &r), 0);
	int code = reply_code(&r);
	raw_reply_free(&r);
	return code;
}

static void
assert_ping(int fd)
{
	struct req q;
	req_begin(&q, 777, "ping", NULL, 0);
	cr_assert_eq(call_code(fd, &q), 0, "connection must still serve");
}

Test(protocol, malformed_body_keeps_connection)
{
	int fd = raw_connect();
	const uint8_t junk[] = { 0xc1, 0x00, 0x01 };
	struct raw_reply r;
	raw_send_frame(fd, junk, sizeof(junk));
	cr_assert_eq(raw_recv_reply(fd, &r), 0);
	cr_assert_eq(reply_code(&r), VAULT_E_PROTO_FRAME);
	cr_assert_eq(reply_id(&r), 0);
	raw_reply_free(&r);

	/* msgpack-c would try to allocate ~96 GB for this. */
	const uint8_t huge[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	raw_send_frame(fd, huge, sizeof(huge));
	cr_assert_eq(raw_recv_reply(fd, &r), 0);
	cr_assert_eq(reply_code(&r), VAULT_E_PROTO_FRAME);
	raw_reply_free(&r);

	const uint8_t not_map[] = { 0x93, 1, 2, 3 };
	raw_send_frame(fd, not_map, sizeof(not_map));
	cr_assert_eq(raw_recv_reply(fd, &r), 0);
	cr_assert_eq(reply_code(&r), VAULT_E_PROTO_FRAME);
	raw_reply_free(&r);
	assert_ping(fd);
	close(fd);
}

Test(protocol, specific_errors)
{
	int fd = raw_connect();
	struct req q;

	req_begin(&q, 1, "frobnicate", NULL, 0);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PROTO_UNKNOWN_OP);

	/* wrong type: fields must be a map */
	req_begin(&q, 2, "create", "transactional", 1);
	mp_cstr(&q.pk, "fields");
	msgpack_pack_array(&q.pk, 0);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PROTO_TYPE);

	/* oversized field */
	char big[400];
	memset(big, 'a', sizeof(big));
	req_begin(&q, 3, "create", "transactional", 1);
	mp_cstr(&q.pk, "fields");
	msgpack_pack_map(&q.pk, 1);
	mp_cstr(&q.pk, "first_name");
	mp_str(&q.pk, big, sizeof(big));
	cr_assert_eq(call_code(fd, &q), VAULT_E_TOO_LARGE);

	/* invalid value */
	req_begin(&q, 4, "create", "transactional", 1);
	mp_cstr(&q.pk, "fields");
	msgpack_pack_map(&q.pk, 1);
	mp_cstr(&q.pk, "email");
	mp_cstr(&q.pk, "not-an-email");
	cr_assert_eq(call_code(fd, &q), VAULT_E_INVALID_VALUE);

	/* forged token */
	req_begin(&q, 5, "read", "transactional", 1);
	mp_cstr(&q.pk, "record");
	mp_cstr(&q.pk, "rec_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	cr_assert_eq(call_code(fd, &q), VAULT_E_BAD_TOKEN);

	/* missing and unknown purpose */
	req_begin(&q, 6, "detokenize", NULL, 1);
	mp_cstr(&q.pk, "tokens");
	msgpack_pack_array(&q.pk, 0);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PURPOSE);
	req_begin(&q, 7, "detokenize", "curiosity", 1);
	mp_cstr(&q.pk, "tokens");
	msgpack_pack_array(&q.pk, 0);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PURPOSE);

	/* unknown argument, missing argument */
	req_begin(&q, 8, "ping", NULL, 1);
	mp_cstr(&q.pk, "extra");
	msgpack_pack_nil(&q.pk);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PROTO_UNKNOWN_ARG);
	req_begin(&q, 9, "read", "transactional", 0);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PROTO_MISSING);

	/* protocol version */
	memset(&q, 0, sizeof(q));
	msgpack_packer_init(&q.pk, &q.b, buf_msgpack_write);
	msgpack_pack_map(&q.pk, 3);
	mp_cstr(&q.pk, "v");
	msgpack_pack_uint32(&q.pk, 2);
	mp_cstr(&q.pk, "id");
	msgpack_pack_uint32(&q.pk, 10);
	mp_cstr(&q.pk, "op");
	mp_cstr(&q.pk, "ping");
	cr_assert_eq(call_code(fd, &q), VAULT_E_PROTO_VERSION);

	assert_ping(fd);
	close(fd);
}

Test(protocol, oversized_frame_closes_only_that_connection)
{
	int bad = raw_connect(), good = raw_connect();
	uint8_t hdr[4];
	frame_put_header(hdr, 0x7fffffff);
	raw_send(bad, hdr, 4);
	struct raw_reply r;
	cr_assert_eq(raw_recv_reply(bad, &r), 0);
	cr_assert_eq(reply_code(&r), VAULT_E_PROTO_FRAME_TOO_LARGE);
	raw_reply_free(&r);
	cr_assert_eq(raw_recv_reply(bad, &r), -1, "connection closed after the error");
	assert_ping(good);
	close(bad);
	close(good);
}

Test(protocol, stalled_client_does_not_block_others)
{
	int stalled = raw_connect(), good = raw_connect();
	uint8_t partial[] = { 0, 0, 0, 50, 0x83 };
	raw_send(stalled, partial, sizeof(partial)); /* half a frame, then silence */
	for (int i = 0; i < 100; i++)
		assert_ping(good);
	close(stalled);
	close(good);
}

Test(protocol, pipelined_requests_all_answered)
{
	int fd = raw_connect();
	struct buf all = { 0 };
	enum { N = 200 };
	for (uint64_t id = 1; id <= N; id++) {
		struct req q;
		if (id % 2) {
			req_begin(&q, id, "ping", NULL, 0);
		} else {
			req_begin(&q, id, "create", "transactional", 1);
			mp_cstr(&q.pk, "fields");
			msgpack_pack_map(&q.pk, 1);
			mp_cstr(&q.pk, "last_name");
			mp_cstr(&q.pk, "Pipelined");
		}
		uint8_t hdr[4];
		frame_put_header(hdr, (uint32_t)q.b.len);
		buf_append(&all, hdr, 4);
		buf_append(&all, q.b.data, q.b.len);
		buf_free(&q.b);
	}
	raw_send(fd, all.data, all.len);
	buf_free(&all);
	int seen[N + 1] = { 0 };
	for (int i = 0; i < N; i++) {
		struct raw_reply r;
		cr_assert_eq(raw_recv_reply(fd, &r), 0);
		cr_assert_eq(reply_code(&r), 0);
		uint64_t id = reply_id(&r);
		cr_assert(id >= 1 && id <= N && !seen[id], "each id answered once");
		seen[id] = 1;
		raw_reply_free(&r);
	}
	close(fd);
}

static char *
create_record(struct vault *v, const char *last, const char *email)
{
	struct vault_record *r;
	char *tok;
	vault_record_new(&r);
	vault_record_set(r, "last_name", last);
	vault_record_set(r, "email", email);
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	cr_assert_eq(rc, 0, "%s", vault_last_message(v));
	vault_record_free(r);
	return tok;
}

static int
contains(const char *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

Test(protocol, data_file_holds_no_plaintext)
{
	vaultd_needs_lmdb(NULL, "scans LMDB's data file for plaintext");
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	char *toks[50];
	char last[64], email[64];
	for (int i = 0; i < 50; i++) {
		snprintf(last, sizeof(last), "Zyxwvutsonian%02d", i);
		snprintf(email, sizeof(email), "marker%02d@plaintext-check.example", i);
		toks[i] = create_record(v, last, email);
	}
	/* A deleted record's values must not be there either. */
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[0],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&srv), 0);

	char path[600];
	size_t n;
	vaultd_path(&srv, "data/data.mdb", path, sizeof(path));
	char *data = read_file_all(path, &n);
	cr_assert_not_null(data);
	cr_assert(n > 0);
	cr_assert_not(contains(data, n, "Zyxwvutsonian"));
	cr_assert_not(contains(data, n, "plaintext-check"));
	cr_assert_not(contains(data, n, "marker"));
	free(data);
	for (int i = 0; i < 50; i++)
		vault_free(toks[i]);
}

/* Move the email ciphertext of record `from` into record `to` on disk, as
 * an attacker without keys would: `to` keeps its old MAC. */
static void
transplant_field(const char *dir, uint64_t from, uint64_t to, uint8_t field)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_set_mapsize(env, 256u << 20);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "records", 0, &dbi), 0);
	uint8_t kf[8], kt[8];
	store_put_id(kf, from);
	store_put_id(kt, to);
	MDB_val k1 = { 8, kf }, k2 = { 8, kt }, v1, v2;
	cr_assert_eq(mdb_get(txn, dbi, &k1, &v1), 0);
	cr_assert_eq(mdb_get(txn, dbi, &k2, &v2), 0);
	uint8_t *c1 = malloc(v1.mv_size), *c2 = malloc(v2.mv_size);
	memcpy(c1, v1.mv_data, v1.mv_size);
	memcpy(c2, v2.mv_data, v2.mv_size);
	struct record r1, r2;
	cr_assert_eq(record_decode(c1, v1.mv_size, &r1), 0);
	cr_assert_eq(record_decode(c2, v2.mv_size, &r2), 0);
	const struct record_field *src = record_field_get(&r1, field);
	cr_assert_not_null(src);
	for (unsigned i = 0; i < r2.nfields; i++)
		if (r2.fields[i].id == field)
			r2.fields[i] = *src;
	struct buf out = { 0 };
	cr_assert_eq(record_encode(&r2, to, NULL, &out), 0);
	MDB_val nv = { out.len, out.data };
	cr_assert_eq(mdb_put(txn, dbi, &k2, &nv, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	buf_free(&out);
	free(c1);
	free(c2);
}

Test(protocol, ciphertext_moved_to_other_record_or_field_fails)
{
	vaultd_needs_lmdb(NULL, "moves a ciphertext inside LMDB's data file");
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	char *a = create_record(v, "Alpha", "alpha@example.com");
	char *b = create_record(v, "Bravo", "bravo@example.com");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&srv), 0);

	char dir[600];
	vaultd_path(&srv, "data", dir, sizeof(dir));
	/* Records 1 and 2: a's email ciphertext into b's email field. */
	transplant_field(dir, 1, 2, 4);
	vaultd_restart(&srv);
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	struct vault_record *out;
	const char *email[] = { "email" }, *last[] = { "last_name" };
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, b, email, 1, 0, &out),
	    VAULT_E_CRYPTO, "another record's ciphertext must not decrypt");
	/* The record's MAC covers every field: b no longer authenticates as a
	 * whole (the field's own AD is the second line, test_seal.c). */
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, b, last, 1, 0, &out),
	    VAULT_E_CRYPTO);
	/* a, the source, is intact. */
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, a, last, 1, 0, &out), 0);
	cr_assert_str_eq(vault_record_get(out, "last_name"), "Alpha");
	vault_record_free(out);
	vault_close(v);
	vault_free(a);
	vault_free(b);
}

struct writer_arg {
	const char *socket;
	char *tokens[2000];
	int acked;
};

static void *
write_until_refused(void *p)
{
	struct writer_arg *w = p;
	struct vault *v;
	if (vault_connect(w->socket, &v) != 0)
		return NULL;
	for (int i = 0; i < 2000; i++) {
		struct vault_record *r;
		vault_record_new(&r);
		vault_record_set(r, "last_name", "Durable");
		int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &w->tokens[i]);
		vault_record_free(r);
		if (rc != 0)
			break;
		w->acked++;
	}
	vault_close(v);
	return NULL;
}

Test(protocol, sigterm_loses_no_acknowledged_write)
{
	struct writer_arg args[4];
	pthread_t th[4];
	memset(args, 0, sizeof(args));
	for (int i = 0; i < 4; i++) {
		args[i].socket = srv.socket;
		pthread_create(&th[i], NULL, write_until_refused, &args[i]);
	}
	usleep(300 * 1000);
	cr_assert_eq(vaultd_stop(&srv), 0, "clean exit on SIGTERM");
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	vaultd_restart(&srv);
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	int total = 0;
	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < args[i].acked; j++) {
			struct vault_record *out;
			cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, args[i].tokens[j],
			    NULL, 0, 0, &out), 0, "acknowledged write %d/%d lost", i, j);
			vault_record_free(out);
			vault_free(args[i].tokens[j]);
			total++;
		}
	}
	cr_assert(total > 0, "some writes were acknowledged before the stop");
	vault_close(v);
}

Test(protocol, half_close_still_gets_every_reply)
{
	int fd = raw_connect();
	for (uint64_t id = 1; id <= 20; id++) {
		struct req q;
		req_begin(&q, id, "create", "transactional", 1);
		mp_cstr(&q.pk, "fields");
		msgpack_pack_map(&q.pk, 1);
		mp_cstr(&q.pk, "last_name");
		mp_cstr(&q.pk, "HalfClose");
		req_send(fd, &q);
	}
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 20; i++) {
		struct raw_reply r;
		cr_assert_eq(raw_recv_reply(fd, &r), 0, "reply %d of 20", i + 1);
		cr_assert_eq(reply_code(&r), 0);
		raw_reply_free(&r);
	}
	struct raw_reply r;
	cr_assert_eq(raw_recv_reply(fd, &r), -1, "then the server closes");
	close(fd);
}

/*
 * Send 30 requests in one write, reads of rec with pings between them,
 * and check each reply comes back in order with the code expected of it.
 */
static void
pipeline_reads(int fd, const char *rec, int read_code)
{
	struct buf all = { 0 };
	for (uint64_t id = 1; id <= 30; id++) {
		struct req q;
		uint8_t hdr[4];
		if (id % 3 == 0) {
			req_begin(&q, id, "ping", NULL, 0);
		} else {
			req_begin(&q, id, "read", "transactional", 1);
			mp_cstr(&q.pk, "record");
			mp_cstr(&q.pk, rec);
		}
		frame_put_header(hdr, (uint32_t)q.b.len);
		cr_assert_eq(buf_append(&all, hdr, 4), 0);
		cr_assert_eq(buf_append(&all, q.b.data, q.b.len), 0);
		buf_free(&q.b);
	}
	raw_send(fd, all.data, all.len);
	buf_free(&all);
	for (uint64_t id = 1; id <= 30; id++) {
		struct raw_reply r;
		cr_assert_eq(raw_recv_reply(fd, &r), 0, "reply %llu", (unsigned long long)id);
		cr_assert_eq(reply_id(&r), id, "replies keep the order of the requests");
		int want = id % 3 == 0 ? 0 : read_code;
		cr_assert_eq(reply_code(&r), want, "request %llu: %d, expected %d",
		    (unsigned long long)id, reply_code(&r), want);
		if (want == 0 && id % 3 != 0) {
			const msgpack_object *res = msg_get(&r.root, "result");
			cr_assert(res != NULL && msg_get(res, "fields") != NULL,
			    "a read that succeeded returns its fields");
		}
		raw_reply_free(&r);
	}
}

/*
 * Replies wait for their audit entries, which a worker writes once per
 * loop pass: pipelined reads are all in the trail, in a chain that
 * verifies, and when the trail cannot be written each read (and only the
 * reads) is refused with VAULT_E_AUDIT, in order, on a connection that
 * goes on serving.
 */
Test(protocol, pipelined_replies_wait_for_their_audit_entries)
{
	struct vaultd_proc p;
	struct vault *v;
	char *rec = NULL;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	struct vault_record *r;
	vault_record_new(&r);
	vault_record_set(r, "email", "pipe@audit.example");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &rec), 0);
	vault_record_free(r);

	/* A client's first read of a record goes through the writer (it becomes
	 * a recipient, PROTOCOL.md 8.22) and may be answered after later
	 * requests: read once first, so the pipelined reads are all worker reads. */
	struct vault_record *once;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, 0, 0, &once), 0);
	vault_record_free(once);
	int fd = vaultd_raw_connect(&p, 10);
	pipeline_reads(fd, rec, 0);
	close(fd);
	struct vault_audit_filter f = { .record_token = rec };
	struct vault_audit_entry *e;
	size_t n;
	cr_assert_eq(vault_audit_query(v, &f, &e, &n), 0, "%s", vault_last_message(v));
	cr_assert_eq(n, 22, "the create, the first read and the 20 reads: %zu", n);
	for (size_t i = 1; i < n; i++)
		cr_assert_str_eq(e[i].op, "read");
	vault_audit_entries_free(e, n);
	struct vault_audit_check chk;
	cr_assert_eq(vault_audit_verify(v, &chk), 0);
	cr_assert(chk.ok, "%s", chk.reason);
	vault_close(v);

	cr_assert_eq(vaultd_stop(&p), 0);
	FILE *cf = fopen(p.config, "a");
	fputs("[audit]\npath = /dev/full\n", cf);
	fclose(cf);
	vaultd_restart(&p);
	fd = vaultd_raw_connect(&p, 10);
	pipeline_reads(fd, rec, VAULT_E_AUDIT);
	struct req q;
	req_begin(&q, 31, "ping", NULL, 0);
	cr_assert_eq(call_code(fd, &q), 0, "the connection still serves");
	close(fd);
	cr_assert_eq(vaultd_stop(&p), 0);
	vault_free(rec);
	vaultd_cleanup(&p);
}

/* CPU time (user + system, in clock ticks) used so far by process pid. */
static unsigned long long
cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name (which may hold spaces), from its ')'. */
	const char *p = strrchr(buf, ')');
	cr_assert_not_null(p);
	unsigned long long utime = 0, stime = 0;
	cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &utime, &stime), 2);
	return utime + stime;
}

/*
 * [server] busy_poll_us: a worker keeps polling for a while after serving,
 * then sleeps again. Requests are answered as usual, and once traffic stops
 * the server goes back to using next to no CPU.
 */
Test(protocol, busy_polling_serves_then_sleeps)
{
	struct vaultd_proc p;
	vaultd_start(&p, "[server]\nbusy_poll_us = 2000\n");
	int fd = vaultd_raw_connect(&p, 10);
	for (uint64_t id = 1; id <= 200; id++) {
		struct req q;
		req_begin(&q, id, "ping", NULL, 0);
		cr_assert_eq(call_code(fd, &q), 0);
	}
	usleep(200 * 1000);
	long hz = sysconf(_SC_CLK_TCK);
	unsigned long long before = cpu_ticks(p.pid);
	sleep(1);
	unsigned long long used = cpu_ticks(p.pid) - before;
	cr_assert_lt(used, (unsigned long long)hz / 5,
	    "an idle server spins no more: %llu ticks of CPU in 1 s", used);
	struct req q;
	req_begin(&q, 201, "ping", NULL, 0);
	cr_assert_eq(call_code(fd, &q), 0, "and wakes for the next request");
	close(fd);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_cleanup(&p);
}

/* Append one frame of q (then freed) to all. */
static void
frame_append(struct buf *all, struct req *q)
{
	uint8_t hdr[4];
	frame_put_header(hdr, (uint32_t)q->b.len);
	cr_assert_eq(buf_append(all, hdr, 4), 0);
	cr_assert_eq(buf_append(all, q->b.data, q->b.len), 0);
	buf_free(&q->b);
}

/* Creates with ids first..last of records with only a last name. */
static void
append_creates(struct buf *all, uint64_t first, uint64_t last, const char *name)
{
	for (uint64_t id = first; id <= last; id++) {
		struct req q;
		req_begin(&q, id, "create", "transactional", 1);
		mp_cstr(&q.pk, "fields");
		msgpack_pack_map(&q.pk, 1);
		mp_cstr(&q.pk, "last_name");
		mp_cstr(&q.pk, name);
		frame_append(all, &q);
	}
}

static void
req_update_phone(struct req *q, uint64_t id, const char *rec, const char *phone)
{
	req_begin(q, id, "update", "transactional", 2);
	mp_cstr(&q->pk, "record");
	mp_cstr(&q->pk, rec);
	mp_cstr(&q->pk, "set");
	msgpack_pack_map(&q->pk, 1);
	mp_cstr(&q->pk, "phone");
	mp_cstr(&q->pk, phone);
}

/*
 * Writes queued together share one nested transaction in the writer; one
 * that fails inside such a run (an update of a record deleted just before
 * it) must fail alone: the writes around it succeed, each request has
 * exactly one audit entry, and the outcome is what it would be one by one.
 */
Test(protocol, a_failing_write_among_queued_writes_fails_alone)
{
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	char *a = create_record(v, "Runner", "a@run.example");
	char *b = create_record(v, "Runner", "b@run.example");
	struct buf all = { 0 };
	struct req q;
	/* Creates first keep the writer busy while the rest queues up. */
	append_creates(&all, 1, 200, "Filler");
	req_update_phone(&q, 201, a, "+1 202 555 0101");
	frame_append(&all, &q);
	req_begin(&q, 202, "delete", "transactional", 2);
	mp_cstr(&q.pk, "record");
	mp_cstr(&q.pk, a);
	mp_cstr(&q.pk, "reason");
	mp_cstr(&q.pk, "subject_request");
	frame_append(&all, &q);
	req_update_phone(&q, 203, a, "+1 202 555 0102");
	frame_append(&all, &q);
	req_update_phone(&q, 204, b, "+1 202 555 0103");
	frame_append(&all, &q);
	append_creates(&all, 205, 220, "After");

	int fd = raw_connect();
	raw_send(fd, all.data, all.len);
	buf_free(&all);
	for (uint64_t id = 1; id <= 220; id++) {
		struct raw_reply r;
		cr_assert_eq(raw_recv_reply(fd, &r), 0, "reply %llu", (unsigned long long)id);
		int want = id == 203 ? VAULT_E_DELETED : 0;
		cr_assert_eq(reply_code(&r), want, "request %llu: %d, expected %d",
		    (unsigned long long)reply_id(&r), reply_code(&r), want);
		raw_reply_free(&r);
	}
	close(fd);

	struct vault_record *out = NULL;
	const char *phone[] = { "phone" };
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, a, NULL, 0, 0, &out),
	    VAULT_E_DELETED, "a was deleted");
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, b, phone, 1, 0, &out), 0);
	cr_assert_str_eq(vault_record_get(out, "phone"), "+12025550103");
	vault_record_free(out);

	/* One entry per request, the failed one with its error. */
	struct vault_audit_filter f = { .record_token = b };
	struct vault_audit_entry *e;
	size_t n;
	cr_assert_eq(vault_audit_query(v, &f, &e, &n), 0, "%s", vault_last_message(v));
	cr_assert_eq(n, 3, "b: create, update, read: %zu entries", n);
	cr_assert_str_eq(e[1].op, "update");
	cr_assert_str_eq(e[1].outcome, "ok");
	vault_audit_entries_free(e, n);
	struct vault_audit_filter everything = { .client = "tests" };
	cr_assert_eq(vault_audit_query(v, &everything, &e, &n), 0);
	size_t updates = 0, not_found = 0, deletes = 0, creates = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(e[i].op, "update") == 0) {
			updates++;
			not_found += strcmp(e[i].outcome, "VAULT_E_DELETED") == 0;
		}
		deletes += strcmp(e[i].op, "delete") == 0;
		creates += strcmp(e[i].op, "create") == 0;
	}
	cr_assert_eq(creates, 218, "each create once: %zu", creates);
	cr_assert_eq(updates, 3, "each update once: %zu", updates);
	cr_assert_eq(not_found, 1, "the failed update with its error");
	cr_assert_eq(deletes, 1);
	vault_audit_entries_free(e, n);
	struct vault_audit_check chk;
	cr_assert_eq(vault_audit_verify(v, &chk), 0);
	cr_assert(chk.ok, "%s", chk.reason);
	vault_close(v);
	vault_free(a);
	vault_free(b);
}

/* A request {v, id, op, purpose} whose purpose is given as len raw bytes. */
static void
req_begin_raw_purpose(struct req *q, uint64_t id, const char *op,
    const char *purpose, size_t plen, size_t extra)
{
	memset(q, 0, sizeof(*q));
	msgpack_packer_init(&q->pk, &q->b, buf_msgpack_write);
	msgpack_pack_map(&q->pk, 4 + extra);
	mp_cstr(&q->pk, "v");
	msgpack_pack_uint32(&q->pk, 1);
	mp_cstr(&q->pk, "id");
	msgpack_pack_uint64(&q->pk, id);
	mp_cstr(&q->pk, "op");
	mp_cstr(&q->pk, op);
	mp_cstr(&q->pk, "purpose");
	mp_str(&q->pk, purpose, plen);
}

/*
 * Issue 12, item 7: an enumerated string is its name only byte for byte.
 * Before, "legal\0garbage" passed as purpose legal, and a delete reason or
 * token kind with a NUL and a tail passed as the text before the NUL.
 */
Test(protocol, names_with_a_nul_and_a_tail_are_refused)
{
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	char *rec = create_record(v, "Nul", "nul@example.com");
	int fd = raw_connect();
	struct req q;

	static const char legal[] = "legal\0garbage";
	req_begin_raw_purpose(&q, 1, "read", legal, sizeof(legal) - 1, 1);
	mp_cstr(&q.pk, "record");
	mp_cstr(&q.pk, rec);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PROTO_TYPE, "a purpose with a NUL was accepted");
	/* The exact name itself passes (the record is there). */
	req_begin_raw_purpose(&q, 2, "read", legal, 5, 1);
	mp_cstr(&q.pk, "record");
	mp_cstr(&q.pk, rec);
	cr_assert_eq(call_code(fd, &q), 0);
	/* A trailing NUL alone is a different name too. */
	req_begin_raw_purpose(&q, 3, "read", legal, 6, 1);
	mp_cstr(&q.pk, "record");
	mp_cstr(&q.pk, rec);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PROTO_TYPE);

	static const char reason[] = "subject_request\0x";
	req_begin(&q, 4, "delete", "transactional", 2);
	mp_cstr(&q.pk, "record");
	mp_cstr(&q.pk, rec);
	mp_cstr(&q.pk, "reason");
	mp_str(&q.pk, reason, sizeof(reason) - 1);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PROTO_TYPE, "a delete reason with a NUL was accepted");

	static const char kind[] = "opaque\0x";
	req_begin(&q, 5, "tokenize", "transactional", 2);
	mp_cstr(&q.pk, "record");
	mp_cstr(&q.pk, rec);
	mp_cstr(&q.pk, "tokens");
	msgpack_pack_array(&q.pk, 1);
	msgpack_pack_map(&q.pk, 2);
	mp_cstr(&q.pk, "field");
	mp_cstr(&q.pk, "email");
	mp_cstr(&q.pk, "kind");
	mp_str(&q.pk, kind, sizeof(kind) - 1);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PROTO_TYPE, "a token kind with a NUL was accepted");

	/* An argument name with a NUL and a tail is not the argument either. */
	static const char key[] = "record\0x";
	req_begin(&q, 6, "read", "transactional", 1);
	mp_str(&q.pk, key, sizeof(key) - 1);
	mp_cstr(&q.pk, rec);
	cr_assert_eq(call_code(fd, &q), VAULT_E_PROTO_TYPE);

	/* Nothing was lost: the record is still there and the connection serves. */
	req_begin(&q, 7, "read", "transactional", 1);
	mp_cstr(&q.pk, "record");
	mp_cstr(&q.pk, rec);
	cr_assert_eq(call_code(fd, &q), 0, "the record did not survive the refused delete");
	assert_ping(fd);
	close(fd);
	vault_free(rec);
	vault_close(v);
}
