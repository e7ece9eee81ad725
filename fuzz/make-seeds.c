/*
 * make-seeds.c - writes the seed corpora, fuzz/corpus/fuzz-<name>/<seed>.
 *
 *   ninja -C <build> fuzz-seeds     (runs: make-seeds <source>/fuzz)
 *
 * Written in C rather than as a script because the seeds need what only
 * the project's code makes: tokens under the fixture's key ring, a sealed
 * key ring image, stored records. With the harnesses' deterministic random
 * source (fuzz.h) the fixture, and so every token here, is the same on each
 * run, and stored timestamps are pinned to SEED_TIME, so the committed seeds
 * are reproducible byte for byte; re-run this after a change to the token,
 * record or key ring formats. Seeds are overwritten by name; other
 * files in the corpus directories (entries found by fuzzing) are kept.
 *
 * Requests are packed with msgpack-c; the known-bad inputs (huge container
 * headers, deep nesting, ext types) are written byte by byte.
 */
#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <msgpack.h>
#include <sodium.h>
#include <vault/vault.h>

#include "common/frame.h"
#include "common/msg.h"
#include "vault/keyset.h"
#include "vault/privacy/blind.h"
#include "vault/privacy/hold.h"
#include "vault/privacy/identity.h"
#include "vault/privacy/request.h"
#include "vault/store/record_codec.h"
#include "vault/store/commitlog.h"
#include "vault/store/store.h"

#include "fuzz.h"
#include "fuzz-vault.h"

static const char *fuzz_dir;
static struct fuzz_vault vault;
static size_t nseeds;

/* ---- output ---- */

static void
mkdir_p(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
}

static void
seed(const char *harness, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/corpus", fuzz_dir);
	mkdir_p(path);
	snprintf(path, sizeof(path), "%s/corpus/%s", fuzz_dir, harness);
	mkdir_p(path);
	snprintf(path, sizeof(path), "%s/corpus/%s/%s", fuzz_dir, harness, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	nseeds++;
}

static void
seed_str(const char *harness, const char *name, const char *s)
{
	seed(harness, name, s, strlen(s));
}

/* ---- requests ---- */

/* A named request body; the table is what fuzz-request, fuzz-frame and
 * fuzz-server seeds are made of. */
struct body {
	char name[64];
	struct buf b;
};

static struct body bodies[128];
static size_t nbodies;

static struct body *
body_new(const char *name)
{
	if (nbodies == sizeof(bodies) / sizeof(bodies[0])) {
		fprintf(stderr, "too many request seeds\n");
		exit(1);
	}
	struct body *b = &bodies[nbodies++];
	snprintf(b->name, sizeof(b->name), "%s", name);
	return b;
}

static msgpack_packer pk;

static struct body *
req(const char *name, uint64_t id, const char *op, const char *purpose,
    unsigned nargs)
{
	struct body *b = body_new(name);
	fuzz_req_begin(&pk, &b->b, id, op, purpose, nargs);
	return b;
}

static struct body *
raw(const char *name, const void *p, size_t n)
{
	struct body *b = body_new(name);
	buf_append(&b->b, p, n);
	return b;
}

#define RAW(name, lit) raw(name, lit, sizeof(lit) - 1)

static void
token_request(const char *field, const char *kind)
{
	msgpack_pack_map(&pk, 2);
	mp_cstr(&pk, "field");
	mp_cstr(&pk, field);
	mp_cstr(&pk, "kind");
	mp_cstr(&pk, kind);
}

static void
document(const char *name, const char *type, const char *data)
{
	msgpack_pack_map(&pk, 3);
	mp_cstr(&pk, "name");
	mp_cstr(&pk, name);
	mp_cstr(&pk, "type");
	mp_cstr(&pk, type);
	mp_cstr(&pk, "data");
	mp_bin(&pk, data, strlen(data));
}

static void
kv(const char *k, const char *v)
{
	mp_cstr(&pk, k);
	mp_cstr(&pk, v);
}

static void
make_requests(void)
{
	const struct fuzz_vault *v = &vault;
	struct body *b;

	req("ping", 1, "ping", NULL, 0);
	req("status", 2, "status", NULL, 0);

	req("create-full", 3, "create", "transactional", 3);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 10);
	kv("first_name", " Grace  Brewster ");
	kv("last_name", "Hopper");
	kv("postal_address", "1 Navy Way\r\n\r\n\r\nArlington, VA 22202");
	kv("email", "grace.hopper+cobol@Navy.MIL.");
	kv("phone", "(703) 555-0123");
	kv("ip_address", "198.51.100.7");
	kv("cookie_id", "sess-9f8e7d6c");
	kv("card_number", "3782-822463-10005");
	kv("card_expiry", "0640");
	kv("bank_account", "021000021-123456789");
	mp_cstr(&pk, "documents");
	msgpack_pack_array(&pk, 2);
	document("résumé.txt", "text/plain", "COBOL, FLOW-MATIC, A-0");
	document("empty.bin", "application/octet-stream", "");
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 4);
	token_request("email", "opaque");
	token_request("email", "deterministic");
	token_request("card_number", "card");
	token_request("phone", "deterministic");

	req("create-minimal", 4, "create", "marketing", 1);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 1);
	kv("email", "min@example.com");

	req("create-document-only", 5, "create", "legal", 2);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 0);
	mp_cstr(&pk, "documents");
	msgpack_pack_array(&pk, 1);
	document("contract.pdf", "application/pdf", "%PDF-1.7 seed");

	req("create-invalid-email", 6, "create", "transactional", 1);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 1);
	kv("email", "not an email");

	req("create-unknown-field", 7, "create", "transactional", 1);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 1);
	kv("ssn", "078-05-1120");

	req("create-card-token-for-email", 8, "create", "transactional", 2);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 1);
	kv("email", "a@example.com");
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 1);
	token_request("email", "card");

	req("create-token-without-value", 9, "create", "transactional", 2);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 1);
	kv("email", "a@example.com");
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 1);
	token_request("phone", "opaque");

	req("create-too-many-documents", 10, "create", "transactional", 2);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 0);
	mp_cstr(&pk, "documents");
	msgpack_pack_array(&pk, 17);
	for (int i = 0; i < 17; i++)
		document("d", "a/b", "x");

	req("create-document-bad-type", 11, "create", "transactional", 2);
	mp_cstr(&pk, "fields");
	msgpack_pack_map(&pk, 0);
	mp_cstr(&pk, "documents");
	msgpack_pack_array(&pk, 1);
	document("x", "nomediatype", "x");

	req("read", 20, "read", "transactional", 1);
	kv("record", v->rec_live);

	req("read-fields", 21, "read", "security", 2);
	kv("record", v->rec_live);
	mp_cstr(&pk, "fields");
	msgpack_pack_array(&pk, 2);
	mp_cstr(&pk, "email");
	mp_cstr(&pk, "card_number");

	req("read-documents", 22, "read", "legal", 2);
	kv("record", v->rec_live);
	mp_cstr(&pk, "documents");
	msgpack_pack_true(&pk);

	req("read-deleted", 23, "read", "legal", 1);
	kv("record", v->rec_deleted);

	req("read-field-token-as-record", 24, "read", "legal", 1);
	kv("record", v->tok_email);

	req("read-forged-token", 25, "read", "legal", 1);
	kv("record", "rec_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");

	req("read-unknown-field", 26, "read", "legal", 2);
	kv("record", v->rec_live);
	mp_cstr(&pk, "fields");
	msgpack_pack_array(&pk, 1);
	mp_cstr(&pk, "shoe_size");

	req("update-set", 30, "update", "maintenance", 2);
	kv("record", v->rec_spare);
	mp_cstr(&pk, "set");
	msgpack_pack_map(&pk, 2);
	kv("phone", "+1 202 555 0143");
	kv("email", "Spare@Example.NET");

	req("update-clear", 31, "update", "maintenance", 2);
	kv("record", v->rec_spare);
	mp_cstr(&pk, "clear");
	msgpack_pack_array(&pk, 2);
	mp_cstr(&pk, "card_number");
	mp_cstr(&pk, "card_number");

	req("update-add-document", 32, "update", "maintenance", 2);
	kv("record", v->rec_spare);
	mp_cstr(&pk, "add_documents");
	msgpack_pack_array(&pk, 1);
	document("note.txt", "text/plain", "hello");

	req("update-remove-document", 33, "update", "maintenance", 2);
	kv("record", v->rec_spare);
	mp_cstr(&pk, "remove_documents");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_uint16(&pk, 1);

	req("update-set-and-clear", 34, "update", "maintenance", 3);
	kv("record", v->rec_live);
	mp_cstr(&pk, "set");
	msgpack_pack_map(&pk, 1);
	kv("email", "x@example.com");
	mp_cstr(&pk, "clear");
	msgpack_pack_array(&pk, 1);
	mp_cstr(&pk, "email");

	req("update-nothing", 35, "update", "maintenance", 1);
	kv("record", v->rec_live);

	req("tokenize", 40, "tokenize", "transactional", 2);
	kv("record", v->rec_live);
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 4);
	token_request("email", "opaque");
	token_request("email", "deterministic");
	token_request("card_number", "card");
	token_request("bank_account", "deterministic");

	req("tokenize-spare-card", 41, "tokenize", "transactional", 2);
	kv("record", v->rec_spare);
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 1);
	token_request("card_number", "card");

	req("tokenize-unknown-kind", 42, "tokenize", "transactional", 2);
	kv("record", v->rec_live);
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 1);
	token_request("email", "reversible");

	req("detokenize", 50, "detokenize", "security", 1);
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 9);
	mp_cstr(&pk, v->tok_email);
	mp_cstr(&pk, v->det_email);
	mp_cstr(&pk, v->card);
	mp_cstr(&pk, v->tok_deleted);
	mp_cstr(&pk, v->det_deleted);
	mp_cstr(&pk, v->rec_live);
	mp_cstr(&pk, "tok_1_garbage");
	mp_cstr(&pk, "4111111111111111");
	msgpack_pack_int(&pk, 42);

	req("detokenize-over-limit", 51, "detokenize", "security", 1);
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 1025);
	for (int i = 0; i < 1025; i++)
		msgpack_pack_nil(&pk);

	req("delete", 60, "delete", "legal", 2);
	kv("record", v->rec_spare);
	kv("reason", "retention");

	req("delete-deleted", 61, "delete", "legal", 2);
	kv("record", v->rec_deleted);
	kv("reason", "administrative");

	req("delete-bad-reason", 62, "delete", "legal", 2);
	kv("record", v->rec_live);
	kv("reason", "because");

	/* Deletion feeds (PROTOCOL.md 8.22): the caller's own feed only. */
	req("deletions-pending", 66, "deletions_pending", NULL, 2);
	mp_cstr(&pk, "after");
	msgpack_pack_uint64(&pk, 0);
	mp_cstr(&pk, "limit");
	msgpack_pack_uint64(&pk, 1001);
	req("deletions-ack", 67, "deletions_ack", NULL, 1);
	mp_cstr(&pk, "ids");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_int(&pk, -2);

	/* Names with a NUL and a tail (issue 12, item 7): refused. */
	req("delete-reason-nul-tail", 63, "delete", "legal", 2);
	kv("record", v->rec_live);
	mp_cstr(&pk, "reason");
	mp_str(&pk, "subject_request\0x", 17);
	b = body_new("read-purpose-nul-tail");
	fuzz_req_begin(&pk, &b->b, 64, "read", NULL, 2);
	mp_cstr(&pk, "purpose");
	mp_str(&pk, "legal\0garbage", 13);
	kv("record", v->rec_live);
	req("tokenize-kind-nul-tail", 65, "tokenize", "transactional", 2);
	kv("record", v->rec_live);
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 2);
	kv("field", "email");
	mp_cstr(&pk, "kind");
	mp_str(&pk, "opaque\0x", 8);

	req("list", 100, "list", "maintenance", 1);
	mp_cstr(&pk, "limit");
	msgpack_pack_uint32(&pk, 2);
	req("list-after", 101, "list", "legal", 1);
	kv("after", v->rec_live);
	req("list-marketing-email", 102, "list", "marketing", 1);
	kv("channel", "email");
	req("list-marketing-no-channel", 103, "list", "marketing", 0);
	req("read-marketing", 104, "read", "marketing", 1);
	kv("record", v->rec_live);
	req("detokenize-transactional", 105, "detokenize", "transactional", 1);
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 2);
	mp_cstr(&pk, v->tok_email);
	mp_cstr(&pk, v->card);

	/* Privacy requests and holds (ops has privacy = true and admin). */
	req("transaction", 110, "transaction", "transactional", 4);
	kv("record", v->rec_live);
	kv("reference", "ORD-1001");
	kv("date", "2026-11-02");
	kv("amount", "1,049.90");
	req("request-open-online", 111, "request_open", NULL, 3);
	kv("kind", "delete");
	kv("channel", "online");
	kv("requester", "self");
	req("request-open-agent", 112, "request_open", NULL, 5);
	kv("kind", "opt_out");
	kv("channel", "mail");
	kv("requester", "agent");
	kv("permission", "signed letter ref 77");
	mp_cstr(&pk, "channels");
	msgpack_pack_array(&pk, 2);
	mp_cstr(&pk, "email");
	mp_cstr(&pk, "mail");
	req("request-verify", 113, "request_verify", NULL, 2);
	mp_cstr(&pk, "request");
	msgpack_pack_uint64(&pk, 1);
	mp_cstr(&pk, "claims");
	msgpack_pack_map(&pk, 5);
	kv("first_name", "Grace Brewster");
	kv("last_name", "HOPPER");
	kv("email", "grace.hopper+cobol@navy.mil");
	kv("phone", "703-555-0123");
	mp_cstr(&pk, "transaction");
	msgpack_pack_map(&pk, 1);
	kv("reference", "ord 1001");
	req("request-confirm", 114, "request_confirm", NULL, 2);
	mp_cstr(&pk, "request");
	msgpack_pack_uint64(&pk, 1);
	kv("code", "7K3M9Q2XWZ");
	req("request-complete", 115, "request_complete", NULL, 1);
	mp_cstr(&pk, "request");
	msgpack_pack_uint64(&pk, 1);
	req("request-extend", 116, "request_extend", NULL, 2);
	mp_cstr(&pk, "request");
	msgpack_pack_uint64(&pk, 1);
	kv("reason", "archive search");
	req("request-list-overdue", 117, "request_list", NULL, 2);
	kv("state", "open");
	mp_cstr(&pk, "overdue");
	msgpack_pack_true(&pk);
	req("request-show", 118, "request_show", NULL, 1);
	mp_cstr(&pk, "request");
	msgpack_pack_uint64(&pk, 1);
	req("hold-place", 119, "hold_place", NULL, 4);
	kv("record", v->rec_live);
	kv("purpose", "legal");
	kv("reason", "court order");
	mp_cstr(&pk, "expires_at");
	msgpack_pack_uint64(&pk, 4000000000ULL);
	req("hold-lift", 120, "hold_lift", NULL, 1);
	mp_cstr(&pk, "hold");
	msgpack_pack_uint64(&pk, 1);
	req("hold-list", 121, "hold_list", NULL, 1);
	kv("record", v->rec_live);
	req("signing-key", 122, "signing_key", NULL, 0);

	/* Admin operations (ops, the fixture's admin client, sends them). */
	req("keys-status", 90, "keys_status", NULL, 0);
	req("keys-rotate-token", 91, "keys_rotate", NULL, 1);
	kv("kind", "token");
	req("keys-rotate-bad-kind", 92, "keys_rotate", NULL, 1);
	kv("kind", "root");
	req("keys-retire-current", 93, "keys_retire", NULL, 1);
	mp_cstr(&pk, "epoch");
	msgpack_pack_uint32(&pk, 1);
	req("keys-retire-epoch-0", 94, "keys_retire", NULL, 1);
	mp_cstr(&pk, "epoch");
	msgpack_pack_uint32(&pk, 0);
	req("keys-rotate-record", 95, "keys_rotate_record", NULL, 1);
	kv("record", v->rec_live);
	req("backup", 96, "backup", NULL, 1);
	kv("name", "nightly-2025-06-15.mdb");
	req("backup-bad-name", 97, "backup", NULL, 1);
	kv("name", "../escape");
	req("unseal-not-sealed", 98, "unseal", NULL, 1);
	kv("passphrase", "correct horse battery staple");

	/* Protocol errors. */
	req("version-2", 70, "ping", NULL, 0);
	bodies[nbodies - 1].b.data[3] = 2; /* {"v": 1 -> 2 */

	b = body_new("version-missing");
	msgpack_packer_init(&pk, &b->b, buf_msgpack_write);
	msgpack_pack_map(&pk, 2);
	kv("op", "ping");
	mp_cstr(&pk, "id");
	msgpack_pack_uint64(&pk, 71);

	b = body_new("id-missing");
	msgpack_packer_init(&pk, &b->b, buf_msgpack_write);
	msgpack_pack_map(&pk, 2);
	mp_cstr(&pk, "v");
	msgpack_pack_uint32(&pk, 1);
	kv("op", "ping");

	b = body_new("id-negative");
	msgpack_packer_init(&pk, &b->b, buf_msgpack_write);
	msgpack_pack_map(&pk, 3);
	mp_cstr(&pk, "v");
	msgpack_pack_uint32(&pk, 1);
	mp_cstr(&pk, "id");
	msgpack_pack_int64(&pk, -5);
	kv("op", "ping");

	b = body_new("id-max");
	msgpack_packer_init(&pk, &b->b, buf_msgpack_write);
	msgpack_pack_map(&pk, 3);
	mp_cstr(&pk, "v");
	msgpack_pack_uint32(&pk, 1);
	mp_cstr(&pk, "id");
	msgpack_pack_uint64(&pk, UINT64_MAX);
	kv("op", "status");

	req("op-unknown", 72, "pong", NULL, 0);
	req("op-prefix", 73, "rea", "legal", 0);

	req("unknown-argument", 74, "ping", NULL, 1);
	kv("verbose", "yes");

	req("duplicate-key", 75, "ping", NULL, 1);
	mp_cstr(&pk, "id");
	msgpack_pack_uint64(&pk, 76);

	req("integer-key", 77, "ping", NULL, 1);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_int(&pk, 2);

	req("purpose-missing", 78, "read", NULL, 1);
	kv("record", v->rec_live);

	req("purpose-unknown", 79, "read", "curiosity", 1);
	kv("record", v->rec_live);

	req("purpose-on-ping", 80, "ping", "security", 0);

	req("purpose-too-long", 81, "read", "transactionaltransactionaltransactional", 1);
	kv("record", v->rec_live);

	req("nesting-7", 82, "ping", NULL, 1);
	mp_cstr(&pk, "x");
	for (int i = 0; i < 5; i++)
		msgpack_pack_array(&pk, 1);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_nil(&pk);

	/* Known-bad encodings (FACTS.md): huge declared sizes, deep nesting. */
	RAW("array32-huge", "\xdd\xff\xff\xff\xff");
	RAW("map32-huge", "\xdf\xff\xff\xff\xff");
	RAW("map32-huge-8-bytes", "\xdf\xff\xff\xff\xff\x00\x00\x00");
	RAW("str32-huge", "\x81\xa1v\xdb\xff\xff\xff\xff");
	RAW("bin32-huge", "\x81\xa1v\xc6\x7f\xff\xff\xff");
	RAW("map16-huge", "\xde\xff\xff\x01\x02");
	RAW("ext-fixext1", "\x81\xa1v\xd4\x01\x00");
	RAW("ext8", "\x81\xa1v\xc7\x01\x05\x00");
	RAW("never-used-c1", "\x81\xa1v\xc1");
	RAW("nil", "\xc0");
	RAW("empty-map", "\x80");
	RAW("array-not-map", "\x93\x01\x02\x03");
	RAW("truncated-map", "\x83\xa1v\x01\xa2id");
	b = body_new("nesting-100-arrays");
	for (int i = 0; i < 100; i++)
		buf_append(&b->b, "\x91", 1);
	buf_append(&b->b, "\x01", 1);
	b = body_new("nesting-40-maps");
	for (int i = 0; i < 40; i++)
		buf_append(&b->b, "\x81\xa1k", 3);
	buf_append(&b->b, "\xc0", 1);

	req("trailing-byte", 83, "ping", NULL, 0);
	buf_append(&bodies[nbodies - 1].b, "\xc0", 1);

	b = body_new("id-float");
	msgpack_packer_init(&pk, &b->b, buf_msgpack_write);
	msgpack_pack_map(&pk, 3);
	mp_cstr(&pk, "v");
	msgpack_pack_uint32(&pk, 1);
	mp_cstr(&pk, "id");
	msgpack_pack_double(&pk, 84.0);
	kv("op", "ping");

	/* Every msgpack type once, under keys the server does not know. */
	b = body_new("all-types");
	msgpack_packer_init(&pk, &b->b, buf_msgpack_write);
	msgpack_pack_map(&pk, 4);
	mp_cstr(&pk, "v");
	msgpack_pack_uint32(&pk, 1);
	mp_cstr(&pk, "id");
	msgpack_pack_uint64(&pk, 85);
	kv("op", "ping");
	mp_cstr(&pk, "all");
	msgpack_pack_array(&pk, 20);
	msgpack_pack_nil(&pk);
	msgpack_pack_true(&pk);
	msgpack_pack_false(&pk);
	msgpack_pack_int(&pk, -1);
	msgpack_pack_uint8(&pk, 200);
	msgpack_pack_uint16(&pk, 60000);
	msgpack_pack_uint32(&pk, 4000000000u);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_int8(&pk, -100);
	msgpack_pack_int16(&pk, -30000);
	msgpack_pack_int32(&pk, -2000000000);
	msgpack_pack_int64(&pk, INT64_MIN);
	msgpack_pack_float(&pk, 1.5f);
	msgpack_pack_double(&pk, -2.25);
	mp_cstr(&pk, "a string of more than thirty-one bytes (str8)");
	mp_bin(&pk, "\x00\x01\x02", 3);
	msgpack_pack_array(&pk, 0);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_nil(&pk);
	msgpack_pack_nil(&pk);
	msgpack_pack_array(&pk, 16); /* array16 */
	for (int i = 0; i < 16; i++)
		msgpack_pack_int(&pk, i);
	msgpack_pack_map(&pk, 16); /* map16 */
	for (int i = 0; i < 16; i++) {
		msgpack_pack_int(&pk, i);
		msgpack_pack_int(&pk, -i);
	}

	for (size_t i = 0; i < nbodies; i++)
		if (bodies[i].b.error != 0) {
			fprintf(stderr, "packing %s failed\n", bodies[i].name);
			exit(1);
		}
}

/* ---- fuzz-request, fuzz-frame, fuzz-server ---- */

static void
append_frame(struct buf *out, const struct buf *body)
{
	uint8_t hdr[FRAME_HEADER_SIZE];
	frame_put_header(hdr, (uint32_t)body->len);
	buf_append(out, hdr, sizeof(hdr));
	buf_append(out, body->data, body->len);
}

static const struct body *
body_named(const char *name)
{
	for (size_t i = 0; i < nbodies; i++)
		if (strcmp(bodies[i].name, name) == 0)
			return &bodies[i];
	fprintf(stderr, "no request seed %s\n", name);
	exit(1);
}

static void
server_stream(const char *name, uint8_t chunk, const char *const *parts)
{
	struct buf s = { 0 };
	buf_append(&s, &chunk, 1);
	for (const char *const *p = parts; *p != NULL; p++) {
		if (strcmp(*p, "<empty>") == 0)
			buf_append(&s, "\0\0\0\0", 4);
		else if (strcmp(*p, "<too-large>") == 0)
			buf_append(&s, "\x7f\xff\xff\xff", 4);
		else if (strcmp(*p, "<partial>") == 0)
			buf_append(&s, "\x00\x00\x01\x00\x81\xa1", 6);
		else
			append_frame(&s, &body_named(*p)->b);
	}
	seed("fuzz-server", name, s.data, s.len);
	buf_free(&s);
}

static void
write_request_seeds(void)
{
	struct buf s = { 0 };

	for (size_t i = 0; i < nbodies; i++) {
		const struct body *b = &bodies[i];
		seed("fuzz-request", b->name, b->b.data, b->b.len);
		buf_clear(&s);
		append_frame(&s, &b->b);
		seed("fuzz-frame", b->name, s.data, s.len);
	}

	/* Frame-level cases. */
	seed("fuzz-frame", "frame-empty", "\0\0\0\0", 4);
	seed("fuzz-frame", "frame-header-ffffffff", "\xff\xff\xff\xff", 4);
	seed("fuzz-frame", "frame-one-over-limit", "\x00\x40\x00\x01\x80", 5);
	seed("fuzz-frame", "frame-at-limit-partial", "\x00\x40\x00\x00\x80\x80", 6);
	seed("fuzz-frame", "frame-header-partial", "\x00\x00", 2);
	seed("fuzz-frame", "frame-body-partial", "\x00\x00\x00\x10\x81\xa1v\x01", 8);
	seed("fuzz-frame", "frame-dd-ffffffff", "\x00\x00\x00\x05\xdd\xff\xff\xff\xff", 9);
	buf_clear(&s);
	append_frame(&s, &body_named("ping")->b);
	buf_append(&s, "\0\0\0\0", 4);
	append_frame(&s, &body_named("status")->b);
	append_frame(&s, &body_named("nesting-40-maps")->b);
	append_frame(&s, &body_named("all-types")->b);
	buf_append(&s, "\x00\x00\x00\x09\x81", 5);
	seed("fuzz-frame", "stream-mixed", s.data, s.len);

	/* The deepest nesting mp_check() takes at all (its hard cap), and one deeper. */
	for (int depth = 64; depth <= 65; depth++) {
		char name[32];
		buf_clear(&s);
		uint8_t hdr[4];
		frame_put_header(hdr, (uint32_t)depth + 1);
		buf_append(&s, hdr, 4);
		for (int i = 0; i < depth; i++)
			buf_append(&s, "\x91", 1);
		buf_append(&s, "\xc0", 1);
		snprintf(name, sizeof(name), "nesting-%d-arrays", depth);
		seed("fuzz-frame", name, s.data, s.len);
	}
	buf_free(&s);

	/* Server streams: chunk size and peer byte, then frames. */
	static const char *const reads[] = {
		"ping", "status", "read", "read-fields", "read-documents", "read-deleted",
		"detokenize", "read-forged-token", "list", "list-after", "read-marketing", NULL,
	};
	static const char *const writes[] = {
		"create-full", "create-minimal", "create-document-only", "tokenize",
		"tokenize-spare-card", "update-set", "update-add-document",
		"update-remove-document", "update-clear", "read", "delete",
		"delete-deleted", "status", NULL,
	};
	static const char *const errors[] = {
		"array32-huge", "ping", "<empty>", "map32-huge", "nesting-100-arrays",
		"version-2", "duplicate-key", "create-invalid-email", "detokenize-over-limit",
		"ext-fixext1", "trailing-byte", "status", "<partial>", NULL,
	};
	static const char *const too_large[] = {
		"ping", "create-minimal", "<too-large>", "ping", NULL,
	};
	static const char *const burst[] = {
		"create-minimal", "create-minimal", "create-minimal", "create-minimal",
		"create-minimal", "create-minimal", "create-minimal", "create-minimal",
		"read", "create-full", "create-full", "status", NULL,
	};
	static const char *const admin[] = {
		"keys-status", "keys-rotate-token", "keys-rotate-record", "keys-retire-current",
		"backup-bad-name", "backup", "unseal-not-sealed", "read", "keys-status", NULL,
	};
	server_stream("reads", 0, reads);
	server_stream("admin", 0, admin);
	server_stream("reads-chunk-1", 1, reads);
	server_stream("reads-as-clerk", 0x80, reads);
	server_stream("writes-as-clerk-chunk-9", 0x89, writes);
	server_stream("admin-as-clerk", 0x80, admin);
	server_stream("writes", 0, writes);
	server_stream("writes-chunk-7", 7, writes);
	server_stream("errors", 0, errors);
	server_stream("errors-chunk-3", 3, errors);
	server_stream("too-large-frame", 0, too_large);
	server_stream("write-burst", 0, burst);
	server_stream("empty", 0, (const char *const[]){ NULL });
	server_stream("partial-only", 5, (const char *const[]){ "<partial>", NULL });
}

/* ---- fuzz-record-codec ---- */

#define SEED_TIME 1750000000u /* 2025-06-15: seeds do not depend on the day made */

static void
put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* A stored record with created and updated (bytes 12..27) set to SEED_TIME.
 * That breaks its MAC, which the harness never checks against a real key
 * (decoding does not; re-encoding writes back the MAC it decoded). */
static void
seed_record(const char *name, const struct store_val *val, size_t len, int format)
{
	uint8_t *p = fuzz_dup(val->data, val->len);
	if (val->len >= 28) {
		put_be(p + 12, SEED_TIME, 8);
		put_be(p + 20, SEED_TIME, 8);
	}
	if (format != 0)
		p[0] = (uint8_t)format;
	seed("fuzz-record-codec", name, p, len);
	free(p);
}

static void
write_record_seeds(void)
{
	struct store *st = &vault.srv.svc.store;
	struct store_txn *txn;
	uint8_t kb[8];
	struct store_val k = { 8, kb }, val;
	struct buf b = { 0 };

	if (store_txn_begin(st, NULL, STORE_RDONLY, &txn) != 0) {
		fprintf(stderr, "read txn\n");
		exit(1);
	}
	store_put_id(kb, 1);
	if (store_get(txn, STORE_RECORDS, &k, &val) == 0) {
		seed_record("record-full", &val, val.len, 0);
		seed_record("record-truncated", &val, val.len - 1, 0);
		/* Format 1 (before the MAC) is refused now, like any other. */
		seed_record("record-format-1", &val, val.len, 1);
	}
	store_put_id(kb, 3);
	if (store_get(txn, STORE_RECORDS, &k, &val) == 0)
		seed_record("record-spare", &val, val.len, 0);
	store_put_id(kb, 2);
	if (store_get(txn, STORE_TOMBSTONES, &k, &val) == 0 && val.len == TOMBSTONE_BYTES) {
		uint8_t tb[TOMBSTONE_BYTES];
		memcpy(tb, val.data, sizeof(tb));
		put_be(tb + 8, SEED_TIME, 8);
		seed("fuzz-record-codec", "tombstone", tb, sizeof(tb));
	}
	store_txn_abort(txn);

	/* Hand-made: empty, with documents and deterministic entries. */
	struct record r = { 0 };
	r.dek_version = 1;
	r.kek_epoch = 1;
	r.created = r.updated = SEED_TIME;
	r.next_slot = 1;
	static const uint8_t seed_mac_key[RECORD_MAC_KEY_BYTES] = { 1 };
	record_encode(&r, 1, seed_mac_key, &b);
	seed("fuzz-record-codec", "record-empty", b.data, b.len);
	buf_clear(&b);

	static uint8_t ct[SEAL_OVERHEAD + 3];
	r.nfields = 2;
	r.fields[0] = (struct record_field){ FIELD_EMAIL, ct, sizeof(ct) };
	r.fields[1] = (struct record_field){ FIELD_BANK_ACCOUNT, ct, SEAL_OVERHEAD };
	r.gen[FIELD_EMAIL] = 3;
	r.gen[FIELD_BANK_ACCOUNT] = 1;
	r.ndet = 2;
	r.det[0].field = FIELD_EMAIL;
	r.det[1].field = FIELD_BANK_ACCOUNT;
	r.next_slot = 9;
	r.ndocs = 3;
	r.doc_slots[0] = 2;
	r.doc_slots[1] = 5;
	r.doc_slots[2] = 8;
	record_encode(&r, 1, seed_mac_key, &b);
	seed("fuzz-record-codec", "record-docs-det", b.data, b.len);
	buf_free(&b);

	struct tombstone t = { VAULT_DELETE_RETENTION, SEED_TIME };
	uint8_t tb[TOMBSTONE_BYTES];
	tombstone_encode(&t, tb);
	seed("fuzz-record-codec", "tombstone-retention", tb, sizeof(tb));
}

/* ---- fuzz-token ---- */

static void
token_variant(const char *name, const char *tok, size_t pos, char c)
{
	char t[TOKEN_MAX_LEN + 1];
	snprintf(t, sizeof(t), "%s", tok);
	if (pos < strlen(t))
		t[pos] = c;
	seed_str("fuzz-token", name, t);
}

static void
write_token_seeds(void)
{
	const struct fuzz_vault *v = &vault;
	char t[1024]; /* roomy: gcc cannot bound the token strings */
	size_t n;

	seed_str("fuzz-token", "record", v->rec_live);
	seed_str("fuzz-token", "record-deleted", v->rec_deleted);
	seed_str("fuzz-token", "opaque", v->tok_email);
	seed_str("fuzz-token", "deterministic", v->det_email);
	seed_str("fuzz-token", "card", v->card);

	n = strlen(v->rec_live);
	token_variant("record-last-char-flipped", v->rec_live, n - 1,
	    v->rec_live[n - 1] == 'A' ? 'B' : 'A');
	token_variant("record-version-2", v->rec_live, 4, '2');
	snprintf(t, sizeof(t), "rec_01_%s", v->rec_live + 6);
	seed_str("fuzz-token", "record-version-leading-zero", t);
	snprintf(t, sizeof(t), "rec_4294967297_%s", v->rec_live + 6);
	seed_str("fuzz-token", "record-version-overflow", t);
	snprintf(t, sizeof(t), "%s=", v->rec_live);
	seed_str("fuzz-token", "record-padded", t);
	snprintf(t, sizeof(t), "%.*s", (int)(n - 1), v->rec_live);
	seed_str("fuzz-token", "record-truncated", t);
	token_variant("opaque-tag-flipped", v->tok_email, 7, v->tok_email[7] == 'x' ? 'y' : 'x');
	token_variant("deterministic-mac-flipped", v->det_email, strlen(v->det_email) - 2, '_');
	token_variant("opaque-as-record", v->tok_email, 0, 'r');

	n = strlen(v->card);
	token_variant("card-luhn-broken", v->card, 0, v->card[0] == '9' ? '0' : (char)(v->card[0] + 1));
	token_variant("card-mac-broken", v->card, n - 6, v->card[n - 6] == '9' ? '0' : (char)(v->card[n - 6] + 1));
	seed_str("fuzz-token", "card-12-digits", "411111111111");
	seed_str("fuzz-token", "card-20-digits", "41111111111111111113");
	seed_str("fuzz-token", "card-number-itself", "4111111111111111");
	seed_str("fuzz-token", "card-13-digits", "4222222222222");
	seed_str("fuzz-token", "prefix-only", "tok_1_");
	seed_str("fuzz-token", "empty-version", "det__AAAA");
	memset(t, 'A', TOKEN_MAX_LEN + 1);
	memcpy(t, "tok_1_", 6);
	seed("fuzz-token", "over-max-length", t, TOKEN_MAX_LEN + 1);
}

/* ---- fuzz-keyring ---- */

static void
put32(struct buf *b, uint32_t v)
{
	uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	buf_append(b, p, 4);
}

/*
 * Header bytes 8..47 as fuzz-keyring takes them before a body: format 1,
 * the root kind, and for a passphrase a salt and KDF limits in range.
 */
static void
params(struct buf *b, uint16_t kind)
{
	uint8_t p[40] = { 0, 1, 0, (uint8_t)kind };
	if (kind == 2) {
		memset(p + 8, 0x5a, 16);           /* salt */
		put_be(p + 24, 3, 8);              /* opslimit */
		put_be(p + 32, 64u << 20, 8);      /* memlimit */
	}
	buf_append(b, p, sizeof(p));
}

/* A plaintext body: per kind, current, count, then (version, flags, created, key). */
static void
body_set(struct buf *b, uint32_t current, uint32_t count, const uint32_t *versions)
{
	put32(b, current);
	put32(b, count);
	for (uint32_t i = 0; i < count; i++) {
		uint8_t key[32];
		memset(key, (int)(0x40 + versions[i]), sizeof(key));
		put32(b, versions[i]);
		put32(b, 0);
		put32(b, 0);
		put32(b, SEED_TIME);
		buf_append(b, key, sizeof(key));
	}
}

/*
 * The fixture's key ring file with every key's creation time set to
 * SEED_TIME: opened and sealed again under the same header and nonce
 * (keys/README.md has the layout), so the image is the same on every run.
 */
static size_t
keyring_image(uint8_t *img, size_t cap)
{
	const size_t hdr = 76, abytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
	size_t len = 0;
	FILE *f = fopen(vault.srv.svc.cfg.keyring_path, "rb");
	if (f == NULL || (len = fread(img, 1, cap, f)) <= hdr + abytes) {
		perror(vault.srv.svc.cfg.keyring_path);
		exit(1);
	}
	fclose(f);
	size_t blen = len - hdr - abytes;
	uint8_t *body = malloc(blen);
	if (body == NULL || crypto_aead_xchacha20poly1305_ietf_decrypt(body, NULL, NULL,
	    img + hdr, len - hdr, img, hdr, img + 48, fuzz_root_key) != 0) {
		fprintf(stderr, "cannot open the fixture's key ring\n");
		exit(1);
	}
	/* Three sets: current (4), count (4), entries of 48: version, flags, created. */
	for (size_t off = 0, set = 0; set < 3 && off + 8 <= blen; set++) {
		uint32_t count = (uint32_t)body[off + 4] << 24 | (uint32_t)body[off + 5] << 16 |
		    (uint32_t)body[off + 6] << 8 | body[off + 7];
		off += 8;
		for (uint32_t i = 0; i < count && off + 48 <= blen; i++, off += 48)
			put_be(body + off + 8, SEED_TIME, 8);
	}
	crypto_aead_xchacha20poly1305_ietf_encrypt(img + hdr, NULL, body, blen, img, hdr,
	    NULL, img + 48, fuzz_root_key);
	free(body);
	return len;
}

static void
write_keyring_seeds(void)
{
	uint8_t img[4096];
	size_t len = keyring_image(img, sizeof(img));
	seed("fuzz-keyring", "image", img, len);
	img[len - 1] ^= 1;
	seed("fuzz-keyring", "image-tag-flipped", img, len);
	img[len - 1] ^= 1;
	seed("fuzz-keyring", "image-truncated", img, len - 1);
	img[9] = 2;
	seed("fuzz-keyring", "image-format-2", img, len);
	img[9] = 1;
	img[75] ^= 0x80;
	seed("fuzz-keyring", "image-body-length-wrong", img, len);

	static const uint32_t one[] = { 1 }, two[] = { 1, 2 }, gap[] = { 1, 3, 7 },
	    down[] = { 2, 1 }, zero[] = { 0 };
	struct buf b = { 0 };
	params(&b, 1);
	body_set(&b, 1, 1, one);
	body_set(&b, 1, 1, one);
	body_set(&b, 1, 1, one);
	seed("fuzz-keyring", "body-one-key-each", b.data, b.len);
	buf_clear(&b);
	params(&b, 1);
	body_set(&b, 2, 2, two);
	body_set(&b, 3, 3, gap);
	body_set(&b, 1, 2, two);
	seed("fuzz-keyring", "body-rotated", b.data, b.len);
	buf_clear(&b);
	params(&b, 1);
	body_set(&b, 1, 2, down);
	body_set(&b, 1, 1, one);
	body_set(&b, 1, 1, one);
	seed("fuzz-keyring", "body-versions-descending", b.data, b.len);
	buf_clear(&b);
	params(&b, 1);
	body_set(&b, 5, 2, two);
	body_set(&b, 1, 1, one);
	body_set(&b, 1, 1, one);
	seed("fuzz-keyring", "body-current-missing", b.data, b.len);
	buf_clear(&b);
	params(&b, 1);
	body_set(&b, 0, 1, zero);
	body_set(&b, 1, 0, one);
	body_set(&b, 1, 1, one);
	seed("fuzz-keyring", "body-version-zero-count-zero", b.data, b.len);
	buf_clear(&b);
	params(&b, 1);
	body_set(&b, 1, 1, one);
	body_set(&b, 1, 1, one);
	put32(&b, 1);
	put32(&b, 1025);
	seed("fuzz-keyring", "body-count-1025", b.data, b.len);
	buf_clear(&b);
	params(&b, 1);
	body_set(&b, 1, 1, one);
	body_set(&b, 1, 1, one);
	body_set(&b, 1, 1, one);
	buf_append(&b, "", 1);
	seed("fuzz-keyring", "body-trailing-byte", b.data, b.len);
	buf_clear(&b);
	params(&b, 2);
	body_set(&b, 1, 1, one);
	body_set(&b, 1, 1, one);
	body_set(&b, 1, 1, one);
	seed("fuzz-keyring", "body-passphrase-root", b.data, b.len);
	buf_free(&b);
}

/* ---- fuzz-config ---- */

static void
write_config_seeds(void)
{
	seed_str("fuzz-config", "e2e",
	    "[server]\nsocket_path = /tmp/v/run/vaultd.sock\nworkers = 2\n"
	    "[storage]\ndata_dir = /tmp/v/data\nmap_size_bytes = 256M\n"
	    "[keys]\nkeyring_path = /tmp/v/keys/keyring\nroot_key_path = /tmp/v/keys/root.key\n");
	seed_str("fuzz-config", "every-option",
	    "; every option, with size suffixes\n"
	    "[server]\nsocket_path = /run/vaultd/vaultd.sock\nworkers = 64\n"
	    "max_connections = 1000000\nmax_pending_per_connection = 65536\n"
	    "max_connections_per_uid = 1000\nidle_timeout_seconds = 86400\n"
	    "request_timeout_seconds = 3600\nmax_frame_bytes = 256M\nmax_queued_write_bytes = 1G\n"
	    "[storage]\ndata_dir = /var/lib/vaultd\nmap_size_bytes = 1G\n"
	    "backup_dir = /var/backups/vaultd\ngroup_commit_max = 65536\n"
	    "[keys]\nkeyring_path = /etc/vaultd/keyring\nroot_key_path = /etc/vaultd/root.key\n"
	    "deletion_journal_path = /var/lib/vaultd/deletions\ndev_create_keys = yes\n"
	    "rotation_interval_seconds = 2592000\nrotation_batch = 500\n"
	    "[limits]\nmax_document_bytes = 255m\nmax_documents_per_record = 64\n"
	    "max_tokens_per_request = 100000\nmax_fields_per_request = 1024\n"
	    "[records]\ndefault_calling_code = 353\n"
	    "[policy]\nfile = /etc/vaultd/policy\n"
	    "[audit]\nenabled = true\npath = /var/log/vaultd/audit.log\nmax_file_bytes = 64M\n"
	    "sync_interval_ms = 1000\n");
	seed_str("fuzz-config", "policy-file-empty", "[policy]\nfile =\n");
	seed_str("fuzz-config", "per-uid-over-total",
	    "[server]\nmax_connections = 10\nmax_connections_per_uid = 11\n");
	seed_str("fuzz-config", "queue-under-frame",
	    "[server]\nmax_frame_bytes = 1M\nmax_queued_write_bytes = 512K\n");
	seed_str("fuzz-config", "comments-and-spaces",
	    "# comment\n\n  [server]  \n\tworkers=4 ; inline comment\nmax_frame_bytes : 64k\n");
	seed_str("fuzz-config", "empty", "");
	seed_str("fuzz-config", "unknown-option", "[server]\nthreads = 4\n");
	seed_str("fuzz-config", "unknown-section", "[client]\nworkers = 4\n");
	seed_str("fuzz-config", "no-section", "workers = 4\n");
	seed_str("fuzz-config", "negative", "[server]\nworkers = -1\n");
	seed_str("fuzz-config", "zero-workers", "[server]\nworkers = 0\n");
	seed_str("fuzz-config", "uint-overflow", "[server]\nworkers = 4294967296\n");
	seed_str("fuzz-config", "size-overflow", "[storage]\nmap_size_bytes = 18446744073709551616\n");
	seed_str("fuzz-config", "size-suffix-overflow", "[storage]\nmap_size_bytes = 17179869184G\n");
	seed_str("fuzz-config", "size-bad-suffix", "[server]\nmax_frame_bytes = 4MB\n");
	seed_str("fuzz-config", "frame-too-small", "[server]\nmax_frame_bytes = 63K\n");
	seed_str("fuzz-config", "document-fills-frame",
	    "[server]\nmax_frame_bytes = 4M\n[limits]\nmax_document_bytes = 4M\n");
	seed_str("fuzz-config", "bool-maybe", "[keys]\ndev_create_keys = maybe\n");
	seed_str("fuzz-config", "calling-code-zero", "[records]\ndefault_calling_code = 044\n");
	seed_str("fuzz-config", "calling-code-long", "[records]\ndefault_calling_code = 1234\n");
	seed_str("fuzz-config", "empty-value", "[storage]\ndata_dir =\n");
	seed_str("fuzz-config", "bad-section-line", "[server\nworkers = 2\n");
	seed_str("fuzz-config", "crlf", "[server]\r\nworkers = 3\r\n");

	char big[600];
	memset(big, 'a', sizeof(big));
	memcpy(big, "[storage]\ndata_dir = /", 22);
	memcpy(big + sizeof(big) - 1, "\n", 1);
	seed("fuzz-config", "path-too-long", big, sizeof(big));
	seed("fuzz-config", "nul-byte", "[server]\nworkers = 2\0 3\n", 24);
}

/* ---- fuzz-policy ---- */

static void
write_policy_seeds(void)
{
	/* The project's example, as it stands. */
	char path[PATH_MAX];
	uint8_t buf[16384];
	size_t n = 0;
	snprintf(path, sizeof(path), "%s/../policy.example", fuzz_dir);
	FILE *f = fopen(path, "rb");
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		seed("fuzz-policy", "example", buf, n);
	}
	seed_str("fuzz-policy", "one-client",
	    "[client app]\nuids = 1000\n[access app transactional]\n* = masked\nemail = plain\n");
	seed_str("fuzz-policy", "uid-and-gid-order",
	    "[client first]\ngids = 100\n[client second]\nuids = 1000, 1001\ngids = 100, 200\n"
	    "admin = yes\ndelete = no\nlist = true\n"
	    "[access second legal]\ndocuments = plain\n* = token\n"
	    "[access first legal]\ncard_number = masked\n");
	seed_str("fuzz-policy", "access-before-client",
	    "[access late security]\nip_address = plain\n[client late]\nuids = 7\n");
	seed_str("fuzz-policy", "access-unknown-client", "[client a]\nuids = 1\n[access b legal]\n* = plain\n");
	seed_str("fuzz-policy", "client-without-ids", "[client empty]\nadmin = true\n");
	seed_str("fuzz-policy", "client-name-bad", "[client App]\nuids = 1\n");
	seed_str("fuzz-policy", "client-name-31",
	    "[client abcdefghijklmnopqrstuvwxyz01234]\nuids = 1\n");
	seed_str("fuzz-policy", "seventeen-uids",
	    "[client many]\nuids = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n");
	seed_str("fuzz-policy", "uid-too-large", "[client big]\nuids = 2147483648\n");
	seed_str("fuzz-policy", "documents-masked", "[client d]\nuids = 1\n[access d legal]\ndocuments = masked\n");
	seed_str("fuzz-policy", "unknown-purpose", "[client d]\nuids = 1\n[access d curiosity]\nemail = plain\n");
	seed_str("fuzz-policy", "unknown-field", "[client d]\nuids = 1\n[access d legal]\nssn = plain\n");
	seed_str("fuzz-policy", "unknown-section", "[group d]\ngids = 1\n");
	seed_str("fuzz-policy", "unknown-option", "[client d]\nuids = 1\nread = true\n");
	seed_str("fuzz-policy", "bad-bool", "[client d]\nuids = 1\nadmin = maybe\n");
	seed_str("fuzz-policy", "empty", "");
	seed_str("fuzz-policy", "comments-only", "# nothing\n; at all\n");
}

/* ---- fuzz-audit ---- */

static void
seed_mode(const char *name, uint8_t mode, const void *p, size_t n)
{
	uint8_t *b = malloc(n + 1);
	if (b == NULL)
		exit(1);
	b[0] = mode;
	if (n > 0)
		memcpy(b + 1, p, n);
	seed("fuzz-audit", name, b, n + 1);
	free(b);
}

static void
write_audit_seeds(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	uint8_t t[16384];
	size_t n = 0;
	fuzz_tmpdir(dir, "seeds");
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	fuzz_audit_trail(path, key_set_acquire(&vault.srv.svc));
	key_set_release();
	FILE *f = fopen(path, "rb");
	if (f == NULL || (n = fread(t, 1, sizeof(t), f)) == 0) {
		perror(path);
		exit(1);
	}
	fclose(f);
	fuzz_rmtree(dir);

	/* Mode 0: trail files. */
	seed_mode("file-genuine", 0, t, n);
	const uint8_t *nl = memchr(t, '\n', n);
	size_t first = nl ? (size_t)(nl - t) + 1 : n;
	seed_mode("file-first-entry", 0, t, first);
	seed_mode("file-cut-mid-entry", 0, t, first + 40 < n ? first + 40 : n);
	seed_mode("file-empty", 0, "", 0);
	seed_mode("file-not-json", 0, "hello\n", 6);
	seed_mode("file-json-not-entry", 0, "{\"seq\":1}\n[]\n\"x\"\n", 19);
	static const char dup[] = "{\"client\":\"a\",\"client\":\"b\"}\n";
	seed_mode("file-duplicate-key", 0, dup, sizeof(dup) - 1);

	/* Mode 1: edits (offset hi, offset lo, xor; xor 0 truncates). */
	seed_mode("edit-none", 1, "", 0);
	seed_mode("edit-flip-first-byte", 1, "\x00\x00\x01", 3);
	seed_mode("edit-flip-mac", 1, "\x00\x60\x01", 3);
	uint8_t cut[3] = { (uint8_t)(first >> 8), (uint8_t)first, 0 };
	seed_mode("edit-drop-all-but-first", 1, cut, 3);
	uint8_t swap[6] = { (uint8_t)((first - 1) >> 8), (uint8_t)(first - 1), '\n' ^ ' ',
		(uint8_t)((first + 5) >> 8), (uint8_t)(first + 5), 0x20 };
	seed_mode("edit-join-lines", 1, swap, 6);
}

/* ---- fuzz-commitlog ---- */

static void
seed_body(const char *name, const struct commitlog_body *b)
{
	seed("fuzz-commitlog", name, b->p, b->len);
}

static void
write_commitlog_seeds(void)
{
	struct commitlog_body put = { 0 }, del = { 0 }, file = { 0 }, mixed = { 0 };
	static const uint8_t id[8] = { 0, 0, 0, 0, 0, 0, 0, 42 };
	static const char value[] = "sealed record bytes";
	commitlog_body_put(&put, STORE_RECORDS, id, sizeof(id), value, sizeof(value) - 1);
	seed_body("body-put", &put);
	commitlog_body_del(&del, STORE_RECORDS, id, sizeof(id));
	seed_body("body-del", &del);
	commitlog_body_file(&file, "/var/lib/vault/audit/audit.log", 2049, 131, 4096,
	    "{\"seq\":7}\n", 10);
	seed_body("body-file", &file);
	commitlog_body_put(&mixed, STORE_META, "next_id", 7, id, sizeof(id));
	commitlog_body_put(&mixed, STORE_TOMBSTONES, id, sizeof(id), "", 0);
	commitlog_body_del(&mixed, STORE_RECORDS, id, sizeof(id));
	commitlog_body_file(&mixed, "/a", 1, 2, 0, "x", 1);
	seed_body("body-mixed", &mixed);

	/* A whole log as commitlog.c writes it: a checkpoint and two records. */
	char dir[PATH_MAX], path[PATH_MAX + 32];
	struct commitlog *cl;
	const char *why;
	uint8_t meta[8192] = { 0 };
	fuzz_tmpdir(dir, "seeds");
	snprintf(path, sizeof(path), "%s/" COMMITLOG_NAME, dir);
	if (commitlog_open(&cl, path, &why) != 0 ||
	    commitlog_checkpoint(cl, 4096, meta, sizeof(meta), 2049, 77, 0) != 0 ||
	    commitlog_append(cl, put.p, put.len, 0) != 0 ||
	    commitlog_append(cl, mixed.p, mixed.len, 0) != 0) {
		fprintf(stderr, "%s: cannot write a commit log\n", path);
		exit(1);
	}
	size_t end = commitlog_records_start(4096) + commitlog_used(cl) + 40;
	commitlog_close(cl);
	uint8_t *img = malloc(end);
	FILE *f = fopen(path, "rb");
	if (img == NULL || f == NULL || fread(img, 1, end, f) != end) {
		perror(path);
		exit(1);
	}
	fclose(f);
	fuzz_rmtree(dir);
	seed("fuzz-commitlog", "log-two-records", img, end);
	seed("fuzz-commitlog", "log-torn-second-record", img, end - 60);
	free(img);
	commitlog_body_free(&put);
	commitlog_body_free(&del);
	commitlog_body_free(&file);
	commitlog_body_free(&mixed);
}

/* ---- fuzz-normalize ---- */

static void
norm(const char *name, unsigned field, unsigned cc, const char *value)
{
	char b[1100];
	size_t n = strlen(value);
	b[0] = (char)(field | cc << 4);
	memcpy(b + 1, value, n);
	seed("fuzz-normalize", name, b, n + 1);
}

static void
write_normalize_seeds(void)
{
	/* cc: 0 "1", 1 "44", 2 "33", 3 none */
	norm("name-spaces", FIELD_FIRST_NAME, 0, "  Ada   King  ");
	norm("name-utf8", FIELD_LAST_NAME, 0, "Gödel–Escher  Bach");
	norm("name-control", FIELD_FIRST_NAME, 0, "Ada\x01");
	norm("name-bad-utf8", FIELD_LAST_NAME, 0, "\xc0\xaf");
	norm("address-lines", FIELD_POSTAL_ADDRESS, 0, "12 St James's Square \r\n\r\n\r\n\tLondon  SW1Y 4JH\n");
	norm("email", FIELD_EMAIL, 0, "Ada.Lovelace+tag@Example.COM.");
	norm("email-no-domain-dot", FIELD_EMAIL, 0, "a@localhost");
	norm("email-double-dot", FIELD_EMAIL, 0, "a..b@example.com");
	norm("email-quoted", FIELD_EMAIL, 0, "\"a b\"@example.com");
	norm("email-ipv4-domain", FIELD_EMAIL, 0, "a@1.2.3.4");
	norm("phone-intl", FIELD_PHONE, 0, "+44 20 7946 0958");
	norm("phone-nanp", FIELD_PHONE, 0, "(202) 555-0143");
	norm("phone-nanp-11", FIELD_PHONE, 0, "1-202-555-0143");
	norm("phone-00", FIELD_PHONE, 0, "0044 20 7946 0958");
	norm("phone-trunk-ambiguous", FIELD_PHONE, 0, "+44 (0)20 7946 0958");
	norm("phone-national-44", FIELD_PHONE, 1, "020 7946 0958");
	norm("phone-national-33", FIELD_PHONE, 2, "01 23 45 67 89");
	norm("phone-no-code", FIELD_PHONE, 3, "020 7946 0958");
	norm("ip-v4", FIELD_IP_ADDRESS, 0, "192.0.2.1");
	norm("ip-v6", FIELD_IP_ADDRESS, 0, "2001:DB8:0:0:0:0:0:1");
	norm("ip-v4-mapped", FIELD_IP_ADDRESS, 0, "::ffff:192.0.2.1");
	norm("ip-leading-zero", FIELD_IP_ADDRESS, 0, "010.0.0.1");
	norm("ip-brackets", FIELD_IP_ADDRESS, 0, "[::1]");
	norm("cookie", FIELD_COOKIE_ID, 0, "c0ffee-1234");
	norm("cookie-space", FIELD_COOKIE_ID, 0, "with space");
	norm("card-visa", FIELD_CARD_NUMBER, 0, "4111 1111 1111 1111");
	norm("card-amex", FIELD_CARD_NUMBER, 0, "3782-822463-10005");
	norm("card-luhn-bad", FIELD_CARD_NUMBER, 0, "4111 1111 1111 1112");
	norm("expiry-mmyy", FIELD_CARD_EXPIRY, 0, "0630");
	norm("expiry-slash", FIELD_CARD_EXPIRY, 0, "6/2031");
	norm("expiry-this-month", FIELD_CARD_EXPIRY, 0, "06/25");
	norm("expiry-past", FIELD_CARD_EXPIRY, 0, "05-25");
	norm("expiry-month-13", FIELD_CARD_EXPIRY, 0, "13/30");
	norm("expiry-far", FIELD_CARD_EXPIRY, 0, "12/2046");
	norm("iban-gb", FIELD_BANK_ACCOUNT, 0, "gb82 west 1234 5698 7654 32");
	norm("iban-de", FIELD_BANK_ACCOUNT, 0, "DE89370400440532013000");
	norm("iban-check-99", FIELD_BANK_ACCOUNT, 0, "GB99WEST12345698765432");
	norm("us-account", FIELD_BANK_ACCOUNT, 0, "021000021-123456789");
	norm("us-account-bad-aba", FIELD_BANK_ACCOUNT, 0, "021000022:1234");
	norm("unknown-field", 0, 0, "anything");
	norm("whitespace-only", FIELD_FIRST_NAME, 0, " \t\r\n");
	seed("fuzz-normalize", "nul-inside", "\x01" "A\0B", 4);
}

/* ---- fuzz-privacy ---- */
static void
seed_prefixed(const char *name, uint8_t first, const void *p, size_t len)
{
	uint8_t *b = malloc(len + 1);
	if (b == NULL)
		abort();
	b[0] = first;
	memcpy(b + 1, p, len);
	seed("fuzz-privacy", name, b, len + 1);
	free(b);
}

static void
write_privacy_seeds(void)
{
	struct privacy_request r = { 0 };
	struct buf b = { 0 };

	r.id = 42;
	r.kind = REQ_DELETE;
	r.channel = CH_ONLINE;
	r.requester = BY_AGENT;
	r.state = RS_VERIFIED;
	r.has_permission = 1;
	r.permission_version = 1;
	memset(r.permission, 0xab, sizeof(r.permission));
	r.received_at = 1790000000;
	r.due_at = r.received_at + REQUEST_DUE_SECONDS;
	r.code_issued = 1;
	r.code_version = 1;
	r.code_expires = r.received_at + 86400;
	r.nclaims = 2;
	r.claims[0].kind = BLIND_EMAIL;
	r.claims[1].kind = BLIND_TXN_REFERENCE;
	r.ntargets = 2;
	r.targets[0] = 7;
	r.targets[1] = 9;
	request_note(&r, r.received_at, EV_OPENED, "desk");
	request_note(&r, r.received_at + 60, EV_VERIFIED, "desk");
	if (request_encode(&r, &b) != 0)
		abort();
	seed_prefixed("request-verified", 0, b.data, b.len);
	buf_clear(&b);
	static const uint8_t sealed[SEALED_TEXT_OVERHEAD + 6] = { 0, 0, 0, 1 };
	r.state = RS_COMPLETED;
	r.extended = 1;
	r.extension_reason = sealed;
	r.extension_reason_len = sizeof(sealed);
	r.receipt = "{\"type\":\"deletion-receipt\"}";
	r.receipt_len = strlen(r.receipt);
	request_note(&r, r.received_at + 120, EV_COMPLETED, "desk");
	if (request_encode(&r, &b) != 0)
		abort();
	seed_prefixed("request-completed", 0, b.data, b.len);
	buf_clear(&b);
	/* Its erasure horizon, then the erasure-complete document. */
	r.horizon_epoch = 2;
	r.nepochs = 2;
	r.epochs[0] = 1;
	r.epochs[1] = 2;
	r.horizon_estimate = r.received_at + 90000;
	if (request_encode(&r, &b) != 0)
		abort();
	seed_prefixed("request-horizon", 0, b.data, b.len);
	buf_clear(&b);
	r.overdue_alerted = 1;
	r.erasure = "{\"type\":\"erasure-complete\"}";
	r.erasure_len = strlen(r.erasure);
	r.erasure_key_version = 1;
	if (request_encode(&r, &b) != 0)
		abort();
	seed_prefixed("request-erasure-complete", 0, b.data, b.len);
	buf_clear(&b);

	struct hold h = { .id = 3, .record = 7, .purpose = HOLD_LEGAL, .placed_at = 1790000000,
	    .expires_at = 1800000000, .client = "admin", .reason = sealed,
	    .reason_len = sizeof(sealed) };
	if (hold_encode(&h, &b) != 0)
		abort();
	seed_prefixed("hold", 1, b.data, b.len);
	buf_free(&b);

	struct identity idn = { .failures = 4, .alerted = 1, .nrequests = 2,
		.requests = { 42, 43 } };
	uint8_t iv[IDENTITY_VALUE_MAX], isealed[IDENTITY_SEAL_OVERHEAD + 4 + 3 + 8];
	size_t ilen;
	/* Epoch 1, a sealed name of the right size (the fuzzer cannot open it). */
	randombytes_buf(isealed, sizeof(isealed));
	identity_encode(&idn, 1, isealed, sizeof(isealed), iv, &ilen);
	seed_prefixed("identity", 255, iv, ilen);

	static const struct { unsigned kind; const char *name, *value; } canon[] = {
		{ BLIND_FIRST_NAME, "name", "  Ada-Marie  O'Neil " },
		{ BLIND_POSTAL_ADDRESS, "address", "12, Rue de l\xc3\xa9glise\n75001 Paris" },
		{ BLIND_EMAIL, "email", "Ada@Example.ORG" },
		{ BLIND_PHONE, "phone", "+14155550101" },
		{ BLIND_TXN_REFERENCE, "reference", "ORD-1001/b" },
		{ BLIND_TXN_DATE, "date", "2026-02-29" },
		{ BLIND_TXN_AMOUNT, "amount", "1,234.5" },
	};
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "canon-%s", canon[i].name);
		seed_prefixed(name, (uint8_t)(canon[i].kind + 2), canon[i].value,
		    strlen(canon[i].value));
	}
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s FUZZ-SOURCE-DIR\n", argv[0]);
		return 2;
	}
	fuzz_dir = argv[1];
	fuzz_vault_open(&vault, 1u << 20);
	make_requests();
	write_request_seeds();
	write_record_seeds();
	write_token_seeds();
	write_keyring_seeds();
	write_config_seeds();
	write_policy_seeds();
	write_audit_seeds();
	write_commitlog_seeds();
	write_normalize_seeds();
	write_privacy_seeds();
	fuzz_vault_close(&vault);
	for (size_t i = 0; i < nbodies; i++)
		buf_free(&bodies[i].b);
	printf("%zu seeds written under %s/corpus\n", nseeds, fuzz_dir);
	return 0;
}
