/*
 * fuzz-vault.c - the vault fixture, reply checks, request packing and a
 * genuine audit trail, shared by the server-side harnesses and make-seeds.c
 * (see fuzz-vault.h).
 *
 * The fixture's records are made the way a client makes them: a request
 * packed with msgpack-c goes through dispatch(), and the write it yields is
 * applied in a write transaction as the writer thread would (writer.c keeps
 * its batch loop static, so the few lines of apply_one() are repeated here).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/frame.h"
#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/audit.h"
#include "vault/crypto/seal.h"
#include "vault/dispatch.h"
#include "vault/journal.h"
#include "vault/keyset.h"
#include "vault/ops/op.h"
#include "vault/reply.h"
#include "vault/store/store.h"

#include "fuzz.h"
#include "fuzz-vault.h"

/* ---- replies and requests ---- */

static const char *const reply_keys[] = { "id", "ok", "result", "error", NULL };
static const char *const error_keys[] = { "code", "name", "message", "field", "rule", NULL };

/*
 * An error map: string keys, each once; code, name, message, field and
 * rule as documented, anything else a count (such as keys_retire's
 * "remaining").
 */
static void
check_error_keys(const msgpack_object *e)
{
	for (uint32_t i = 0; i < e->via.map.size; i++) {
		const msgpack_object *k = &e->via.map.ptr[i].key, *v = &e->via.map.ptr[i].val;
		int known = 0;
		fuzz_assert(k->type == MSGPACK_OBJECT_STR, "error map with a non-string key");
		for (uint32_t j = 0; j < i; j++)
			fuzz_assert(!(e->via.map.ptr[j].key.via.str.size == k->via.str.size &&
			    memcmp(e->via.map.ptr[j].key.via.str.ptr, k->via.str.ptr, k->via.str.size) == 0),
			    "error map with a key twice");
		for (const char *const *a = error_keys; *a != NULL; a++)
			known |= msg_str_eq(k, *a);
		fuzz_assert(known || v->type == MSGPACK_OBJECT_POSITIVE_INTEGER,
		    "error map key \"%.*s\" is neither documented nor a count",
		    (int)k->via.str.size, k->via.str.ptr);
	}
}

uint64_t
fuzz_check_reply(const uint8_t *frame, size_t len, int *ok)
{
	size_t body_len = 0;
	fuzz_assert(len > FRAME_HEADER_SIZE, "reply of %zu bytes has no body", len);
	enum frame_status fs = frame_peek(frame, len, UINT32_MAX, &body_len);
	fuzz_assert(fs == FRAME_READY && body_len == len - FRAME_HEADER_SIZE,
	    "reply header declares %zu bytes, %zu follow", body_len, len - FRAME_HEADER_SIZE);

	msgpack_zone zone;
	msgpack_object root;
	const msgpack_object *bad = NULL;
	struct mp_limits lim = { 8, body_len };
	uint64_t id = 0;
	fuzz_assert(msgpack_zone_init(&zone, 1024), "out of memory");
	int rc = msg_decode(frame + FRAME_HEADER_SIZE, body_len, &lim, &zone, &root);
	fuzz_assert(rc == 0, "reply body is not a msgpack map (%s)", vault_error_name(rc));
	fuzz_assert(msg_check_keys(&root, reply_keys, &bad) == 0, "reply has an unexpected key");
	fuzz_assert(root.via.map.size == 3, "reply map has %u entries, not 3", root.via.map.size);
	fuzz_assert(msg_get_uint(&root, "id", 1, &id) == 0, "reply without an unsigned id");
	fuzz_assert(msg_get_bool(&root, "ok", 1, ok) == 0, "reply without a boolean ok");
	if (*ok) {
		fuzz_assert(msg_get(&root, "result") != NULL, "successful reply without result");
	} else {
		const msgpack_object *e = msg_get(&root, "error");
		uint64_t code = 0;
		const char *name = NULL, *msg = NULL, *field = NULL, *rule = NULL;
		size_t name_len = 0, msg_len = 0, field_len = 0, rule_len = 0;
		fuzz_assert(e != NULL && e->type == MSGPACK_OBJECT_MAP, "failed reply without an error map");
		check_error_keys(e);
		fuzz_assert(msg_get_uint(e, "code", 1, &code) == 0 && code > 0 && code < 1000,
		    "error without a valid code");
		fuzz_assert(msg_get_str(e, "name", 1, &name, &name_len) == 0 &&
		    name_len == strlen(vault_error_name((int)code)) &&
		    memcmp(name, vault_error_name((int)code), name_len) == 0 &&
		    strcmp(vault_error_name((int)code), "VAULT_E_UNKNOWN") != 0,
		    "error code %llu without its stable name", (unsigned long long)code);
		fuzz_assert(msg_get_str(e, "message", 1, &msg, &msg_len) == 0 && msg_len > 0,
		    "error %s without a message", vault_error_name((int)code));
		fuzz_assert(msg_get_str(e, "field", 0, &field, &field_len) == 0,
		    "error field is not a string");
		fuzz_assert(msg_get_str(e, "rule", 0, &rule, &rule_len) == 0,
		    "error rule is not a string");
	}
	msgpack_zone_destroy(&zone);
	return id;
}

uint64_t
fuzz_request_id(const struct server *srv, const uint8_t *body, size_t len)
{
	/* The same limits as dispatch(). */
	struct mp_limits lim = {
		REQUEST_MAX_DEPTH,
		(size_t)srv->svc.cfg.max_tokens_per_request + 8u * srv->svc.cfg.max_fields_per_request + 256,
	};
	msgpack_zone zone;
	msgpack_object root;
	uint64_t id = 0;
	fuzz_assert(msgpack_zone_init(&zone, 1024), "out of memory");
	if (msg_decode(body, len, &lim, &zone, &root) != 0 ||
	    msg_get_uint(&root, "id", 1, &id) != 0)
		id = 0;
	msgpack_zone_destroy(&zone);
	return id;
}

void
fuzz_req_begin(msgpack_packer *pk, struct buf *b, uint64_t id, const char *op,
    const char *purpose, unsigned nargs)
{
	msgpack_packer_init(pk, b, buf_msgpack_write);
	msgpack_pack_map(pk, nargs + (purpose != NULL ? 4 : 3));
	mp_cstr(pk, "v");
	msgpack_pack_uint32(pk, VAULT_PROTOCOL_VERSION);
	mp_cstr(pk, "id");
	msgpack_pack_uint64(pk, id);
	mp_cstr(pk, "op");
	mp_cstr(pk, op);
	if (purpose != NULL) {
		mp_cstr(pk, "purpose");
		mp_cstr(pk, purpose);
	}
}

/* ---- an audit trail ---- */

void
fuzz_audit_trail(const char *path, const struct key_set *ks)
{
	static const uint64_t one[] = { 1 }, three[] = { 1, 2, 3 }, two[] = { 2 };
	static const struct audit_event events[FUZZ_AUDIT_ENTRIES] = {
		{ "ops", 0, VAULT_PURPOSE_TRANSACTIONAL, "read", one, 1,
		    1u << FIELD_EMAIL | 1u << FIELD_PHONE, 0, 1750000000, NULL },
		{ "clerk", 1001, VAULT_PURPOSE_MARKETING, "detokenize", three, 3, 0,
		    VAULT_E_DENIED, 1750000001, NULL },
		{ "-", 65534, 0, "ping", NULL, 0, 0, 0, 1750000002, NULL },
		{ "ops", 0, 0, "keys_rotate", NULL, 0, 0, 0, 1750000003, NULL },
		{ "ops", 0, VAULT_PURPOSE_LEGAL, "delete", two, 1,
		    1u << (FIELD_MAX + 1), 0, 1750000004, NULL },
	};
	struct audit_config cfg = { path, 0, 1000, 0 };
	struct audit *a = NULL;
	char err[256];
	int rc = audit_open(&a, &cfg, ks, err, sizeof(err));
	fuzz_assert(rc == 0, "audit_open %s: %s", path, err);
	for (size_t i = 0; i < FUZZ_AUDIT_ENTRIES; i++)
		fuzz_assert(audit_log(a, ks, &events[i]) == 0, "audit_log failed");
	audit_close(a);
}

/* ---- the fixture ---- */

static void
set_path(char *dst, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(dst, cap, "%s/%s", dir, name);
	fuzz_assert(n > 0 && (size_t)n < cap, "path %s/%s too long", dir, name);
}

/*
 * The fixture's policy: "ops" (our uid) may do everything and see every
 * field; "clerk" (our uid + 1) is what a restricted service gets: masked
 * values, email only as a token, no documents, no admin, delete or list,
 * and for marketing a first name and email only.
 */
static void
write_policy(const struct fuzz_vault *v)
{
	static const char *const purposes[] = {
		"transactional", "marketing", "maintenance", "security", "legal",
	};
	FILE *f = fopen(v->srv.svc.cfg.policy_file, "w");
	fuzz_assert(f != NULL, "cannot write %s", v->srv.svc.cfg.policy_file);
	fprintf(f, "[client ops]\nuids = %lu\nadmin = true\ndelete = true\nlist = true\n"
	    "privacy = true\ntransactions = true\n",
	    (unsigned long)getuid());
	for (size_t i = 0; i < sizeof(purposes) / sizeof(purposes[0]); i++)
		fprintf(f, "[access ops %s]\n* = plain\ndocuments = plain\n", purposes[i]);
	fprintf(f, "[client clerk]\nuids = %lu\n"
	    "[access clerk transactional]\n* = masked\nemail = token\ncard_expiry = plain\n"
	    "[access clerk security]\n* = token\nip_address = plain\n"
	    "[access clerk marketing]\nfirst_name = plain\nemail = plain\n",
	    (unsigned long)getuid() + 1);
	fuzz_assert(fclose(f) == 0, "cannot write %s", v->srv.svc.cfg.policy_file);
}

/*
 * Apply a prepared write as the writer does: a batch transaction, the
 * operation in a nested one, next_id saved, committed, deletions journaled.
 */
static void
apply_write(struct server *srv, struct write_op *wop, struct buf *reply)
{
	struct write_ctx wc = { .svc = &srv->svc };
	struct op_error err = { 0 };
	msgpack_packer pk;
	struct store_txn *batch;
	uint64_t next_id = 0;
	uint8_t idb[8];
	int rc;

	fuzz_assert(wop->op->kind == OP_WRITE, "fixture op %s is not a plain write", wop->op->name);
	fuzz_assert(store_txn_begin(&srv->svc.store, NULL, 0, &batch) == 0, "write txn");
	fuzz_assert(store_next_id(batch, &next_id) == 0, "next_id");
	fuzz_assert(store_txn_begin(&srv->svc.store, batch, 0, &wc.txn) == 0, "nested txn");
	wc.keys = key_set_acquire(&srv->svc); /* as the writer pins for its round */
	wc.next_id = &next_id;
	wc.dek = sodium_malloc(DEK_BYTES);
	wc.dek2 = sodium_malloc(DEK_BYTES);
	wc.now = time(NULL);
	fuzz_assert(wc.dek != NULL && wc.dek2 != NULL, "out of secure memory");
	buf_clear(reply);
	size_t start = reply_begin(reply, &pk, wop->request_id);
	rc = wop->op->apply(&wc, wop->state, &pk, &err);
	fuzz_assert(rc == 0, "fixture %s failed: %s (%s)", wop->op->name,
	    vault_error_name(rc), err.message ? err.message : "");
	fuzz_assert(store_txn_commit(wc.txn) == 0, "nested commit");
	reply_end(reply, start, wop->request_id, srv->svc.cfg.max_frame_bytes);
	store_put_id(idb, next_id);
	struct store_val k = { 7, "next_id" }, val = { 8, idb };
	fuzz_assert(store_put(batch, STORE_META, &k, &val, 0) == 0, "put next_id");
	fuzz_assert(store_txn_commit(batch) == 0, "commit");
	if (wc.ndeleted > 0)
		fuzz_assert(journal_append(&srv->svc.journal, wc.deleted, wc.ndeleted) == 0, "journal");
	atomic_fetch_sub(&srv->writer.queued_bytes, wop->cost);
	buf_free(&wc.ct);
	buf_free(&wc.enc);
	buf_free(&wc.copy);
	buf_free(&wc.doc);
	free(wc.deleted);
	free(wc.trace.records);
	sodium_free(wc.dek);
	sodium_free(wc.dek2);
	key_set_release();
	write_op_free(wop);
}

/* Dispatch req as a write and apply it; the reply frame goes to reply. */
static void
run_write(struct read_ctx *rctx, msgpack_zone *zone, const struct buf *req,
    struct buf *reply)
{
	struct buf out = { 0 };
	struct write_op *wop = NULL;
	int ok = 0;
	dispatch(rctx, req->data, req->len, zone, getuid(), getgid(), &out, &wop);
	if (wop == NULL) {
		fuzz_check_reply(out.data, out.len, &ok);
		fuzz_assert(0, "a fixture request was refused (reply of %zu bytes)", out.len);
	}
	fuzz_assert(out.len == 0, "a write also produced a reply");
	buf_free(&out);
	apply_write(server_of(rctx->svc), wop, reply);
	fuzz_check_reply(reply->data, reply->len, &ok);
	fuzz_assert(ok, "a fixture write failed");
}

static void
copy_token(char *dst, const msgpack_object *o)
{
	fuzz_assert(o != NULL && o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size <= TOKEN_MAX_LEN, "reply without a token");
	memcpy(dst, o->via.str.ptr, o->via.str.size);
	dst[o->via.str.size] = '\0';
}

/* From a create reply: the record token and the field tokens asked for. */
static void
take_tokens(const struct buf *reply, char *record, char *opaque, char *det,
    char *card)
{
	msgpack_zone zone;
	msgpack_object root;
	struct mp_limits lim = { 8, reply->len };
	fuzz_assert(msgpack_zone_init(&zone, 1024), "out of memory");
	fuzz_assert(msg_decode(reply->data + FRAME_HEADER_SIZE,
	    reply->len - FRAME_HEADER_SIZE, &lim, &zone, &root) == 0, "create reply");
	const msgpack_object *res = msg_get(&root, "result");
	fuzz_assert(res != NULL, "create reply without result");
	copy_token(record, msg_get(res, "record"));
	const msgpack_object *toks = msg_get(res, "tokens");
	fuzz_assert(toks != NULL && toks->type == MSGPACK_OBJECT_ARRAY, "create reply without tokens");
	for (uint32_t i = 0; i < toks->via.array.size; i++) {
		const msgpack_object *t = &toks->via.array.ptr[i];
		const msgpack_object *kind = msg_get(t, "kind");
		fuzz_assert(kind != NULL, "token without kind");
		if (msg_str_eq(kind, "opaque") && opaque != NULL)
			copy_token(opaque, msg_get(t, "token"));
		else if (msg_str_eq(kind, "deterministic") && det != NULL)
			copy_token(det, msg_get(t, "token"));
		else if (msg_str_eq(kind, "card") && card != NULL)
			copy_token(card, msg_get(t, "token"));
	}
	msgpack_zone_destroy(&zone);
}

static void
pack_token_request(msgpack_packer *pk, const char *field, const char *kind)
{
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "field");
	mp_cstr(pk, field);
	mp_cstr(pk, "kind");
	mp_cstr(pk, kind);
}

static void
seed_records(struct fuzz_vault *v)
{
	struct server *srv = &v->srv;
	struct read_ctx rctx = { .svc = &srv->svc, .client = v->ops, .policy = v->policy };
	struct buf req = { 0 }, reply = { 0 };
	msgpack_zone zone;
	msgpack_packer pk;
	char expiry[8];
	time_t now = time(NULL);
	struct tm tm;
	static const char doc[] = "%PDF-1.4 fuzz fixture document";

	/* An expiry date that stays valid: December of next year. */
	gmtime_r(&now, &tm);
	snprintf(expiry, sizeof(expiry), "12/%02d", (tm.tm_year + 1901) % 100);

	rctx.dek = sodium_malloc(DEK_BYTES);
	fuzz_assert(rctx.dek != NULL, "out of secure memory");
	fuzz_assert(store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &rctx.txn) == 0, "read txn");
	store_txn_reset(rctx.txn);
	fuzz_assert(msgpack_zone_init(&zone, 4096), "out of memory");

	/* Record 1: every field, a document, three field tokens. */
	fuzz_req_begin(&pk, &req, 1, "create", "transactional", 3);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 10);
	mp_cstr(&pk, "first_name"); mp_cstr(&pk, "Ada");
	mp_cstr(&pk, "last_name"); mp_cstr(&pk, "Lovelace");
	mp_cstr(&pk, "postal_address"); mp_cstr(&pk, "12 St James's Square\nLondon SW1Y 4JH");
	mp_cstr(&pk, "email"); mp_cstr(&pk, "ada@Example.COM");
	mp_cstr(&pk, "phone"); mp_cstr(&pk, "+44 20 7946 0958");
	mp_cstr(&pk, "ip_address"); mp_cstr(&pk, "2001:DB8::1");
	mp_cstr(&pk, "cookie_id"); mp_cstr(&pk, "c0ffee-1234");
	mp_cstr(&pk, "card_number"); mp_cstr(&pk, "4111 1111 1111 1111");
	mp_cstr(&pk, "card_expiry"); mp_cstr(&pk, expiry);
	mp_cstr(&pk, "bank_account"); mp_cstr(&pk, "GB82 WEST 1234 5698 7654 32");
	mp_cstr(&pk, "documents");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 3);
	mp_cstr(&pk, "name"); mp_cstr(&pk, "passport.pdf");
	mp_cstr(&pk, "type"); mp_cstr(&pk, "application/pdf");
	mp_cstr(&pk, "data"); mp_bin(&pk, doc, sizeof(doc) - 1);
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 3);
	pack_token_request(&pk, "email", "opaque");
	pack_token_request(&pk, "email", "deterministic");
	pack_token_request(&pk, "card_number", "card");
	fuzz_assert(req.error == 0, "packing a fixture request");
	run_write(&rctx, &zone, &req, &reply);
	take_tokens(&reply, v->rec_live, v->tok_email, v->det_email, v->card);

	/* Record 2: an email and its tokens, then deleted. */
	buf_clear(&req);
	fuzz_req_begin(&pk, &req, 2, "create", "marketing", 2);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 1);
	mp_cstr(&pk, "email"); mp_cstr(&pk, "bob@example.org");
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 2);
	pack_token_request(&pk, "email", "opaque");
	pack_token_request(&pk, "email", "deterministic");
	run_write(&rctx, &zone, &req, &reply);
	take_tokens(&reply, v->rec_deleted, v->tok_deleted, v->det_deleted, NULL);

	buf_clear(&req);
	fuzz_req_begin(&pk, &req, 3, "delete", "legal", 2);
	mp_cstr(&pk, "record"); mp_cstr(&pk, v->rec_deleted);
	mp_cstr(&pk, "reason"); mp_cstr(&pk, "subject_request");
	run_write(&rctx, &zone, &req, &reply);

	/* Record 3: a spare, for writes that change or delete a record. */
	buf_clear(&req);
	fuzz_req_begin(&pk, &req, 4, "create", "maintenance", 1);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 3);
	mp_cstr(&pk, "first_name"); mp_cstr(&pk, "Spare");
	mp_cstr(&pk, "email"); mp_cstr(&pk, "spare@example.net");
	mp_cstr(&pk, "card_number"); mp_cstr(&pk, "5555 5555 5555 4444");
	run_write(&rctx, &zone, &req, &reply);
	take_tokens(&reply, v->rec_spare, NULL, NULL, NULL);

	fuzz_assert(v->rec_live[0] && v->tok_email[0] && v->det_email[0] && v->card[0] &&
	    v->rec_deleted[0] && v->tok_deleted[0] && v->det_deleted[0] && v->rec_spare[0],
	    "fixture tokens missing");
	buf_free(&req);
	buf_free(&reply);
	buf_free(&rctx.scratch);
	free(rctx.trace.records);
	msgpack_zone_destroy(&zone);
	store_txn_abort(rctx.txn);
	sodium_free(rctx.dek);
}

struct keyring *
fuzz_keys_open(const char *path)
{
	struct keyring *kr = NULL;
	const char *why = NULL;
	fuzz_init();
	fuzz_random_reset();
	int rc = keyring_create(path, fuzz_root_key, &kr, &why);
	fuzz_assert(rc == 0, "keyring_create: %s", why ? why : vault_strerror(rc));
	return kr;
}

void
fuzz_vault_open(struct fuzz_vault *v, size_t map_size)
{
	struct server *srv = &v->srv;
	struct config *c = &srv->svc.cfg;
	struct key_set *ks = NULL;
	char err[256];
	const char *why = NULL;
	int rc;

	memset(v, 0, sizeof(*v));
	srv->svc.control = &server_control;
	fuzz_init();
	fuzz_tmpdir(v->dir, "fuzz");
	config_defaults(c);
	c->workers = 1;
	c->map_size_bytes = map_size;
	/* Per-minute token limits would turn every later input of the minute
	 * into the same refusal: lift them (e2e-tokens tests them). */
	c->token_issue_per_minute = 100000000;
	c->token_failures_per_minute = 100000000;
	set_path(c->data_dir, sizeof(c->data_dir), v->dir, "data");
	set_path(c->keyring_path, sizeof(c->keyring_path), v->dir, "keyring");
	set_path(c->root_key_path, sizeof(c->root_key_path), v->dir, "root.key");
	set_path(c->deletion_journal_path, sizeof(c->deletion_journal_path), v->dir, "deletions");
	set_path(c->backup_dir, sizeof(c->backup_dir), v->dir, "no-such-dir/backups");
	/* No backups here, so a retire would always be refused (VAULT_E_BACKUP,
	 * e2e-retire-backup covers that): keep the retire itself reachable. */
	c->backup_before_retire = 0;
	set_path(c->socket_path, sizeof(c->socket_path), v->dir, "vaultd.sock");
	set_path(c->policy_file, sizeof(c->policy_file), v->dir, "policy");
	fuzz_assert(mkdir(c->data_dir, 0700) == 0, "mkdir %s", c->data_dir);
	fuzz_assert(config_check(c, err, sizeof(err)) == 0, "fixture configuration: %s", err);

	/* Same key ring, same tokens, on every run and in make-seeds. */
	srv->svc.root = sodium_malloc(KEYRING_KEY_BYTES);
	fuzz_assert(srv->svc.root != NULL, "out of secure memory");
	memcpy(srv->svc.root, fuzz_root_key, KEYRING_KEY_BYTES);
	rc = key_set_new(fuzz_keys_open(c->keyring_path), &ks);
	fuzz_assert(rc == 0, "key_set_new: %s", vault_strerror(rc));
	key_set_install(&srv->svc, ks);
	write_policy(v);
	struct policy *pol;
	rc = policy_new(c->policy_file, 0, &pol, err, sizeof(err));
	fuzz_assert(rc == 0, "policy: %s", err);
	policy_current_init(&srv->svc.policy, pol);
	v->policy = policy_current_get(&srv->svc.policy);
	v->ops = policy_client(v->policy, getuid(), getgid());
	v->clerk = policy_client(v->policy, getuid() + 1, (gid_t)-2);
	fuzz_assert(v->ops != NULL && v->clerk != NULL && v->ops != v->clerk, "policy clients");

	/* As server_run() does (a budget that never pauses: not under test). */
	budget_init(&srv->budget, SIZE_MAX / 4, SIZE_MAX / 4);
	ratelimit_init(&srv->svc.token_issue_rl, 60);
	ratelimit_init(&srv->svc.token_fail_rl, 60);
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&srv->svc.env_lock, &attr);
	pthread_rwlockattr_destroy(&attr);

	rc = store_open(&srv->svc.store, c->data_dir, map_size, 126, &why);
	fuzz_assert(rc == 0, "store_open: %s", why ? why : vault_strerror(rc));
	/* Durability is not under test; fsync would dominate the run time. */
	store_set_durable(&srv->svc.store, 0);
	rc = journal_open(&srv->svc.journal, c->deletion_journal_path, &srv->svc.store);
	fuzz_assert(rc == 0, "journal_open: %s", vault_strerror(rc));
	/* Every request is audited (formatted, chained, written) into a device
	 * that keeps nothing, so the disk does not fill. */
	srv->svc.audit_cfg.path = "/dev/null";
	srv->svc.audit_cfg.max_file_bytes = 0;
	srv->svc.audit_cfg.sync_interval_ms = c->audit_sync_interval_ms;
	rc = audit_open(&srv->svc.audit, &srv->svc.audit_cfg, ks, err, sizeof(err));
	fuzz_assert(rc == 0, "audit_open: %s", err);
	srv->listen_fd = -1;
	srv->svc.started = time(NULL);
	seed_records(v);
}

void
fuzz_vault_close(struct fuzz_vault *v)
{
	struct server *srv = &v->srv;
	audit_close(srv->svc.audit);
	srv->svc.audit = NULL;
	journal_close(&srv->svc.journal);
	store_close(&srv->svc.store);
	key_set_free(key_set_take(&srv->svc));
	policy_unref(v->policy);
	v->policy = NULL;
	policy_current_destroy(&srv->svc.policy);
	sodium_free(srv->svc.root);
	srv->svc.root = NULL;
	budget_destroy(&srv->budget);
	pthread_rwlock_destroy(&srv->svc.env_lock);
	fuzz_rmtree(v->dir);
	v->dir[0] = '\0';
}
