/*
 * test_privacy.c - end-to-end: privacy requests on a real vaultd, from
 * first contact to the signed receipt. Each path the privacy policy
 * promises: verified and unverified deletion, the two-step online
 * deletion, authorized agents and guardians, holds that defer a deletion
 * until they are lifted or expire, opt-outs, the signed right-to-know
 * export, due dates and extensions; and that none of it leaves personal
 * data in the data file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <vault/vault.h>

#include "harness.h"

#define T VAULT_PURPOSE_TRANSACTIONAL

/* Call op with printf-made JSON arguments; the result parsed, or NULL
 * with *code set on error. */
__attribute__((format(printf, 5, 6)))
static json_t *
vcall(struct vault *v, int *code, const char *op, enum vault_purpose p,
    const char *fmt, ...)
{
	char args[4096];
	char *out = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	int rc = vault_call_json(v, op, p, args, &out);
	if (code != NULL)
		*code = rc;
	if (rc != 0)
		return NULL;
	json_error_t e;
	json_t *j = json_loads(out, 0, &e);
	cr_assert_not_null(j, "reply of %s is JSON", op);
	vault_free(out);
	return j;
}

__attribute__((format(printf, 4, 5)))
static json_t *
ok(struct vault *v, const char *op, enum vault_purpose p, const char *fmt, ...)
{
	char args[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	int code;
	json_t *j = vcall(v, &code, op, p, "%s", args);
	cr_assert_not_null(j, "%s: %s (%s)", op, vault_error_name(code), vault_last_message(v));
	return j;
}

__attribute__((format(printf, 4, 5)))
static int
fails(struct vault *v, const char *op, enum vault_purpose p, const char *fmt, ...)
{
	char args[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	int code;
	json_t *j = vcall(v, &code, op, p, "%s", args);
	cr_assert_null(j, "%s should fail", op);
	return code;
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	cr_assert_not_null(s, "%s is a string", key);
	return s;
}

static long long
num(json_t *o, const char *key)
{
	json_t *n = json_object_get(o, key);
	cr_assert(json_is_integer(n), "%s is an integer", key);
	return json_integer_value(n);
}

/* A customer record with the five data points; returns its token (free). */
static char *
customer(struct vault *v, const char *first, const char *last, const char *email,
    const char *phone, const char *addr, const char *order, int child)
{
	json_t *r = ok(v, "create", T, "{\"fields\":{\"first_name\":\"%s\",\"last_name\":\"%s\","
	    "\"email\":\"%s\",\"phone\":\"%s\",\"postal_address\":\"%s\"},\"child\":%s}",
	    first, last, email, phone, addr, child ? "true" : "false");
	char *tok = strdup(str(r, "record"));
	json_decref(r);
	json_decref(ok(v, "transaction", T, "{\"record\":\"%s\",\"reference\":\"%s\","
	    "\"date\":\"2026-11-02\",\"amount\":\"49.90\"}", tok, order));
	return tok;
}

static long long
open_request(struct vault *v, const char *kind, const char *channel)
{
	json_t *r = ok(v, "request_open", 0, "{\"kind\":\"%s\",\"channel\":\"%s\","
	    "\"requester\":\"self\"}", kind, channel);
	cr_assert_str_eq(str(r, "state"), "open");
	long long id = num(r, "request");
	cr_assert_geq(num(r, "due_at"), (long long)time(NULL) + 45 * 86400 - 5);
	json_decref(r);
	return id;
}

/* The public key of a version, from the vault. */
static void
public_key(struct vault *v, long long version, unsigned char pk[32])
{
	json_t *r = ok(v, "signing_key", 0, "{}"), *k;
	size_t i;
	int found = 0;
	json_array_foreach(json_object_get(r, "keys"), i, k) {
		if (num(k, "version") != version)
			continue;
		size_t n;
		cr_assert_eq(sodium_base642bin(pk, 32, str(k, "public_key"),
		    strlen(str(k, "public_key")), NULL, &n, NULL,
		    sodium_base64_VARIANT_ORIGINAL), 0);
		cr_assert_eq(n, 32);
		found = 1;
	}
	cr_assert(found, "signing key %lld published", version);
	json_decref(r);
}

/* 1 if doc's signature (base64) verifies under the vault's key of version. */
static int
signed_by_vault(struct vault *v, const char *doc, const char *sig64, long long version)
{
	unsigned char pk[32], sig[64];
	size_t n;
	public_key(v, version, pk);
	cr_assert_eq(sodium_base642bin(sig, 64, sig64, strlen(sig64), NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL), 0);
	cr_assert_eq(n, 64);
	return crypto_sign_verify_detached(sig, (const unsigned char *)doc, strlen(doc), pk) == 0;
}

static int
record_code(struct vault *v, const char *tok, enum vault_purpose p)
{
	int code = 0;
	json_t *r = vcall(v, &code, "read", p, "{\"record\":\"%s\"}", tok);
	json_decref(r);
	return code;
}

Test(privacy, verified_phone_deletion_shreds_and_signs_a_receipt_without_personal_data)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Ada", "Lovelace", "ada@example.org", "+14155550101",
	    "12 Analytical Row, London", "ORD-1001", 0);
	/* Her husband shares the surname, the email, the phone and the address. */
	char *other = customer(v, "William", "Lovelace", "ada@example.org", "+14155550101",
	    "12 Analytical Row, London", "ORD-2002", 0);
	long long id = open_request(v, "delete", "phone");

	/* Name (any case and punctuation), email and the order reference. */
	json_t *r = ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"first_name\":\"ADA\",\"last_name\":\"lovelace\",\"email\":\"Ada@Example.org\","
	    "\"transaction\":{\"reference\":\"ord 1001\"}}}", id);
	cr_assert(json_is_true(json_object_get(r, "verified")));
	cr_assert_eq(num(r, "threshold"), 3);
	json_t *c = json_object_get(r, "targets");
	cr_assert_eq(json_array_size(c), 1, "the name tells the household apart");
	cr_assert_str_eq(json_string_value(json_array_get(c, 0)), a);
	cr_assert_null(json_object_get(r, "candidates"), "no points per record, even now");
	cr_assert_null(json_object_get(r, "confirmation_code"), "a phone request has no code");
	json_decref(r);

	r = ok(v, "request_complete", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "state"), "completed");
	const char *receipt = str(r, "receipt");
	cr_assert(signed_by_vault(v, receipt, str(r, "signature"), num(r, "key_version")));
	cr_assert_null(strstr(receipt, "Lovelace"));
	cr_assert_null(strstr(receipt, "ada@"));
	cr_assert_null(strstr(receipt, "ORD"));
	json_error_t je;
	json_t *rc = json_loads(receipt, 0, &je);
	cr_assert_str_eq(str(rc, "type"), "deletion-receipt");
	cr_assert_eq(num(rc, "request"), id);
	cr_assert_eq(json_array_size(json_object_get(rc, "records")), 1);
	cr_assert_geq(num(rc, "completed_at"), (long long)time(NULL) - 5);
	cr_assert(json_is_null(json_object_get(rc, "unrecoverable_after")), "no schedule set");
	json_decref(rc);
	json_decref(r);

	cr_assert_eq(record_code(v, a, T), VAULT_E_DELETED);
	cr_assert_eq(record_code(v, other, T), 0, "the other Lovelace is untouched");
	/* The shown request keeps the same signed receipt, and is finished. */
	r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "state"), "completed");
	cr_assert(signed_by_vault(v, str(r, "receipt"), str(r, "signature"), 1));
	cr_assert_geq(json_array_size(json_object_get(r, "history")), 3);
	json_decref(r);
	cr_assert_eq(fails(v, "request_complete", 0, "{\"request\":%lld}", id),
	    VAULT_E_REQUEST_STATE);
	/* The blind indexes left with the record. */
	long long id2 = open_request(v, "delete", "email");
	r = ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{\"first_name\":\"Ada\","
	    "\"last_name\":\"Lovelace\",\"email\":\"ada@example.org\",\"phone\":\"+14155550101\"}}",
	    id2);
	cr_assert(json_is_false(json_object_get(r, "verified")));
	json_decref(r);
	free(a);
	free(other);
	vault_close(v);
	vaultd_finish(&p);
}

Test(privacy, unverified_deletion_deletes_nothing_and_is_rejected_after_the_attempts)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, "[privacy]\nverify_attempts = 2\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Grace", "Hopper", "grace@example.org", "+14155550102",
	    "1 Compiler Way", "ORD-3003", 0);
	long long id = open_request(v, "delete", "email");
	/* Two points (name, phone) and a wrong email: below three. */
	json_t *r = ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"first_name\":\"Grace\",\"last_name\":\"Hopper\",\"email\":\"gh@example.org\","
	    "\"phone\":\"(415) 555-0102\"}}", id);
	cr_assert(json_is_false(json_object_get(r, "verified")));
	cr_assert_eq(json_object_size(r), 3, "verified, state and attempts_left only");
	cr_assert_eq(num(r, "attempts_left"), 1);
	json_decref(r);
	cr_assert_eq(fails(v, "request_complete", 0, "{\"request\":%lld}", id),
	    VAULT_E_NOT_VERIFIED);
	cr_assert_eq(record_code(v, a, T), 0);
	/* Too few data points claimed is refused outright and is no attempt. */
	cr_assert_eq(fails(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"email\":\"grace@example.org\",\"phone\":\"+14155550102\","
	    "\"postal_address\":\"1 Compiler Way\"}}", id), VAULT_E_INVALID_VALUE,
	    "the name is always needed");
	cr_assert_eq(fails(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"first_name\":\"Grace\",\"last_name\":\"Hopper\",\"email\":\"grace@example.org\"}}",
	    id), VAULT_E_INVALID_VALUE, "two data points claimed, three needed");
	r = ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{\"first_name\":\"No\","
	    "\"last_name\":\"Body\",\"email\":\"nobody@example.org\",\"phone\":\"+14155550000\"}}",
	    id);
	cr_assert(json_is_false(json_object_get(r, "verified")));
	cr_assert_str_eq(str(r, "state"), "rejected");
	json_decref(r);
	cr_assert_eq(fails(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"email\":\"grace@example.org\"}}", id), VAULT_E_REQUEST_STATE);
	/* A claim that is not a valid value is refused without echoing it. */
	long long id2 = open_request(v, "delete", "email");
	cr_assert_eq(fails(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"email\":\"not-an-address\"}}", id2), VAULT_E_INVALID_VALUE);
	cr_assert_null(strstr(vault_last_message(v), "not-an-address"));
	cr_assert_eq(fails(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"shoe_size\":\"44\"}}", id2), VAULT_E_PROTO_UNKNOWN_ARG);
	cr_assert_eq(fails(v, "request_verify", 0, "{\"request\":99999,\"claims\":{"
	    "\"email\":\"grace@example.org\"}}"), VAULT_E_NOT_FOUND);
	cr_assert_eq(record_code(v, a, T), 0);
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}

Test(privacy, online_deletion_needs_the_confirmation_code)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Alan", "Turing", "alan@example.org", "+14155550103",
	    "3 Bletchley Park", "ORD-4004", 0);
	long long id = open_request(v, "delete", "online");
	json_t *r = ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"first_name\":\"alan\",\"last_name\":\"TURING\",\"email\":\"alan@example.org\","
	    "\"phone\":\"+1 415 555 0103\",\"postal_address\":\"3, Bletchley Park\"}}", id);
	cr_assert(json_is_true(json_object_get(r, "verified")));
	char *code = strdup(str(r, "confirmation_code"));
	cr_assert_eq(strlen(code), 10);
	json_decref(r);

	cr_assert_eq(fails(v, "request_complete", 0, "{\"request\":%lld}", id),
	    VAULT_E_CONFIRMATION);
	r = ok(v, "request_confirm", 0, "{\"request\":%lld,\"code\":\"WRONG00000\"}", id);
	cr_assert(json_is_false(json_object_get(r, "confirmed")));
	cr_assert_eq(num(r, "attempts_left"), 4);
	json_decref(r);
	cr_assert_eq(fails(v, "request_complete", 0, "{\"request\":%lld}", id),
	    VAULT_E_CONFIRMATION);
	cr_assert_eq(record_code(v, a, T), 0, "nothing shredded before confirmation");
	for (char *q = code; *q; q++) /* people type lower case */
		*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
	r = ok(v, "request_confirm", 0, "{\"request\":%lld,\"code\":\"%s\"}", id, code);
	cr_assert(json_is_true(json_object_get(r, "confirmed")));
	json_decref(r);
	cr_assert_eq(fails(v, "request_confirm", 0, "{\"request\":%lld,\"code\":\"%s\"}", id,
	    code), VAULT_E_REQUEST_STATE, "a code works once");
	r = ok(v, "request_complete", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "state"), "completed");
	json_decref(r);
	cr_assert_eq(record_code(v, a, T), VAULT_E_DELETED);
	free(code);
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}

Test(privacy, agents_and_guardians_need_written_permission)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_eq(fails(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"mail\","
	    "\"requester\":\"agent\"}"), VAULT_E_NO_PERMISSION);
	cr_assert_eq(fails(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"mail\","
	    "\"requester\":\"guardian\"}"), VAULT_E_NO_PERMISSION);
	cr_assert_eq(fails(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"mail\","
	    "\"requester\":\"self\",\"permission\":\"x\"}"), VAULT_E_INVALID_VALUE);
	cr_assert_eq(fails(v, "request_open", 0, "{\"kind\":\"erase\",\"channel\":\"mail\","
	    "\"requester\":\"self\"}"), VAULT_E_INVALID_VALUE);
	cr_assert_eq(fails(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"mail\","
	    "\"requester\":\"self\",\"received_at\":%lld}", (long long)time(NULL) + 86400),
	    VAULT_E_INVALID_VALUE);

	/* A guardian's request reaches only the child's record. */
	char *child = customer(v, "Tim", "Small", "family@example.org", "+14155550104",
	    "5 Nursery Lane", "ORD-5005", 1);
	/* Father and son share the name, the email, the phone and the address. */
	char *parent = customer(v, "Tim", "Small", "family@example.org", "+14155550104",
	    "5 Nursery Lane", "ORD-5006", 0);
	json_t *r = ok(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"mail\","
	    "\"requester\":\"guardian\",\"permission\":\"letter 2026-11-20 ref G-77\"}");
	long long id = num(r, "request");
	json_decref(r);
	r = ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{\"first_name\":\"Tim\","
	    "\"last_name\":\"Small\",\"email\":\"family@example.org\",\"phone\":\"+14155550104\","
	    "\"postal_address\":\"5 Nursery Lane\"}}", id);
	cr_assert(json_is_true(json_object_get(r, "verified")));
	cr_assert_eq(json_array_size(json_object_get(r, "targets")), 1);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "targets"), 0)),
	    child);
	json_decref(r);
	r = ok(v, "request_complete", 0, "{\"request\":%lld}", id);
	json_decref(r);
	cr_assert_eq(record_code(v, child, T), VAULT_E_DELETED);
	cr_assert_eq(record_code(v, parent, T), 0);
	r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "requester"), "guardian");
	json_decref(r);
	free(child);
	free(parent);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0, "a clean stop with no sanitizer or valgrind report");

	/* The permission reference is kept only as a keyed hash. */
	vaultd_needs_lmdb(&p, "scans LMDB's data file for the permission's reference");
	char path[512];
	vaultd_path(&p, "data/data.mdb", path, sizeof(path));
	size_t n;
	char *db = read_file_all(path, &n);
	cr_assert_not_null(db);
	cr_assert_null(memmem(db, n, "G-77", 4));
	cr_assert_null(memmem(db, n, "Nursery", 7));
	free(db);
	vaultd_cleanup(&p);
}

Test(privacy, a_hold_defers_the_deletion_until_it_is_lifted)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Carl", "Gauss", "carl@example.org", "+14155550105",
	    "7 Prime Street", "ORD-6006", 0);
	json_t *r = ok(v, "hold_place", 0, "{\"record\":\"%s\",\"purpose\":\"legal\","
	    "\"reason\":\"court order 26-CV-118 for Carl Gauss\"}", a);
	long long hold = num(r, "hold");
	json_decref(r);

	/* Held: readable only for the hold's purpose; not deletable. */
	cr_assert_eq(record_code(v, a, VAULT_PURPOSE_MARKETING), VAULT_E_HELD);
	cr_assert_eq(record_code(v, a, T), VAULT_E_HELD);
	cr_assert_eq(record_code(v, a, VAULT_PURPOSE_LEGAL), 0);
	cr_assert_eq(fails(v, "delete", T, "{\"record\":\"%s\",\"reason\":\"administrative\"}", a),
	    VAULT_E_HELD);

	long long id = open_request(v, "delete", "phone");
	json_decref(ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"first_name\":\"Carl\",\"last_name\":\"Gauss\",\"email\":\"carl@example.org\","
	    "\"transaction\":{\"amount\":\"49.9\"}}}", id));
	r = ok(v, "request_complete", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "state"), "deferred");
	json_t *h = json_array_get(json_object_get(r, "holds"), 0);
	cr_assert_eq(num(h, "hold"), hold);
	cr_assert_str_eq(str(h, "purpose"), "legal");
	cr_assert_str_eq(str(h, "reason"), "court order 26-CV-118 for Carl Gauss");
	json_decref(r);
	cr_assert_eq(record_code(v, a, VAULT_PURPOSE_LEGAL), 0, "kept while held");
	r = ok(v, "request_list", 0, "{\"state\":\"deferred\"}");
	cr_assert_eq(json_array_size(json_object_get(r, "requests")), 1);
	json_decref(r);

	r = ok(v, "hold_lift", 0, "{\"hold\":%lld}", hold);
	cr_assert_eq(json_array_size(json_object_get(r, "completed")), 1);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(r, "completed"), 0)), id);
	json_decref(r);
	cr_assert_eq(record_code(v, a, VAULT_PURPOSE_LEGAL), VAULT_E_DELETED);
	r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "state"), "completed");
	cr_assert(signed_by_vault(v, str(r, "receipt"), str(r, "signature"), num(r, "key_version")));
	json_decref(r);
	cr_assert_eq(fails(v, "hold_lift", 0, "{\"hold\":%lld}", hold), VAULT_E_NOT_FOUND);
	free(a);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0, "a clean stop with no sanitizer or valgrind report");

	/* The hold's reason names the person: it is sealed in the data file. */
	vaultd_needs_lmdb(&p, "scans LMDB's data file for the hold's reason");
	char path[512];
	vaultd_path(&p, "data/data.mdb", path, sizeof(path));
	size_t n;
	char *db = read_file_all(path, &n);
	cr_assert_not_null(db);
	cr_assert_null(memmem(db, n, "26-CV-118", 9));
	cr_assert_null(memmem(db, n, "Gauss", 5));
	free(db);
	vaultd_cleanup(&p);
}

Test(privacy, a_deferred_deletion_completes_when_its_hold_expires)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Emmy", "Noether", "emmy@example.org", "+14155550106",
	    "8 Ring Road", "ORD-7007", 0);
	json_decref(ok(v, "hold_place", 0, "{\"record\":\"%s\",\"purpose\":\"transaction\","
	    "\"reason\":\"order in transit\",\"expires_at\":%lld}", a, (long long)time(NULL) + 2));
	long long id = open_request(v, "delete", "email");
	json_decref(ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"first_name\":\"Emmy\",\"last_name\":\"Noether\",\"phone\":\"+14155550106\","
	    "\"transaction\":{\"date\":\"2026-11-02\"}}}", id));
	json_t *r = ok(v, "request_complete", 0, "{\"request\":%lld}", id);
	cr_assert_str_eq(str(r, "state"), "deferred");
	json_decref(r);
	const char *state = NULL;
	for (int i = 0; i < 100; i++) {
		r = ok(v, "request_show", 0, "{\"request\":%lld}", id);
		int done = strcmp(str(r, "state"), "completed") == 0;
		json_decref(r);
		if (done) {
			state = "completed";
			break;
		}
		usleep(100 * 1000);
	}
	cr_assert_not_null(state, "completed within 10 s of the expiry");
	cr_assert_eq(record_code(v, a, T), VAULT_E_DELETED);
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}

Test(privacy, an_opt_out_request_stops_marketing_reads)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Marie", "Curie", "marie@example.org", "+14155550107",
	    "11 Radium Ave", "ORD-8008", 0);
	int code;
	json_t *r = vcall(v, &code, "read", VAULT_PURPOSE_MARKETING,
	    "{\"record\":\"%s\",\"fields\":[\"email\"]}", a);
	cr_assert_not_null(r, "marketing may read before the opt-out");
	json_decref(r);
	r = ok(v, "request_open", 0, "{\"kind\":\"opt_out\",\"channel\":\"email\","
	    "\"requester\":\"self\",\"channels\":[\"email\"]}");
	long long id = num(r, "request");
	json_decref(r);
	json_decref(ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"first_name\":\"Marie\",\"last_name\":\"Curie\",\"email\":\"marie@example.org\"}}", id));
	r = ok(v, "request_complete", 0, "{\"request\":%lld}", id);
	cr_assert_eq(num(r, "records"), 1);
	json_decref(r);
	cr_assert_null(vcall(v, &code, "read", VAULT_PURPOSE_MARKETING,
	    "{\"record\":\"%s\",\"fields\":[\"email\"]}", a));
	cr_assert_eq(code, VAULT_E_DENIED);
	r = ok(v, "read", VAULT_PURPOSE_MARKETING, "{\"record\":\"%s\",\"fields\":[\"phone\"]}", a);
	json_decref(r); /* only the email channel was asked for */
	r = ok(v, "read", T, "{\"record\":\"%s\"}", a);
	cr_assert(json_is_true(json_object_get(json_object_get(r, "marketing_opt_out"), "email")));
	json_decref(r);
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}

Test(privacy, the_right_to_know_export_is_complete_and_signed)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Rosalind", "Franklin", "rosalind@example.org", "+14155550108",
	    "51 Helix Court", "ORD-9009", 0);
	json_decref(ok(v, "update", T, "{\"record\":\"%s\",\"set\":{\"card_number\":"
	    "\"4111111111111111\"},\"marketing_opt_out\":{\"mail\":true}}", a));
	json_t *issued = ok(v, "tokenize", T, "{\"record\":\"%s\",\"tokens\":["
	    "{\"field\":\"card_number\",\"kind\":\"card\"},"
	    "{\"field\":\"email\",\"kind\":\"deterministic\"}]}", a);
	char *card_tok = strdup(str(json_array_get(json_object_get(issued, "tokens"), 0), "token"));
	char *det_tok = strdup(str(json_array_get(json_object_get(issued, "tokens"), 1), "token"));
	json_decref(issued);
	json_decref(ok(v, "read", VAULT_PURPOSE_SECURITY, "{\"record\":\"%s\"}", a));
	long long id = open_request(v, "know", "email");
	json_decref(ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"first_name\":\"Rosalind\",\"last_name\":\"Franklin\",\"email\":"
	    "\"rosalind@example.org\",\"postal_address\":\"51 Helix Court\"}}", id));
	json_t *r = ok(v, "request_complete", 0, "{\"request\":%lld}", id);
	const char *doc = str(r, "export");
	cr_assert(signed_by_vault(v, doc, str(r, "signature"), num(r, "key_version")));
	/* One changed byte and the signature fails. */
	char *bad = strdup(doc);
	bad[strlen(bad) / 2] ^= 1;
	cr_assert_not(signed_by_vault(v, bad, str(r, "signature"), num(r, "key_version")));
	free(bad);

	json_error_t je;
	json_t *e = json_loads(doc, 0, &je);
	cr_assert_not_null(e);
	cr_assert_str_eq(str(e, "type"), "data-export");
	json_t *rec = json_array_get(json_object_get(e, "records"), 0);
	cr_assert_str_eq(str(rec, "record"), a);
	json_t *f = json_object_get(rec, "fields");
	cr_assert_str_eq(str(f, "first_name"), "Rosalind");
	cr_assert_str_eq(str(f, "last_name"), "Franklin");
	cr_assert_str_eq(str(f, "email"), "rosalind@example.org");
	cr_assert_str_eq(str(f, "phone"), "+14155550108");
	cr_assert_str_eq(str(f, "postal_address"), "51 Helix Court");
	cr_assert_str_eq(str(f, "card_number"), "4111111111111111");
	cr_assert_eq(json_object_size(f), 6);
	json_t *toks = json_object_get(rec, "tokens");
	cr_assert_str_eq(str(toks, "record"), a);
	cr_assert_str_eq(str(toks, "card"), card_tok);
	/* One deterministic token per join domain holding one (here: tests). */
	json_t *dets = json_object_get(json_object_get(toks, "deterministic"), "email");
	cr_assert_eq(json_array_size(dets), 1);
	cr_assert_str_eq(json_string_value(json_array_get(dets, 0)), det_tok);
	free(card_tok);
	free(det_tok);
	json_t *consent = json_object_get(rec, "marketing_opt_out");
	cr_assert(json_is_true(json_object_get(consent, "mail")));
	cr_assert(json_is_false(json_object_get(consent, "email")));
	cr_assert(json_is_false(json_object_get(rec, "child")));
	/* The access history has the create, the update and the security read. */
	json_t *hist = json_object_get(rec, "access_history"), *ev;
	size_t i;
	int saw_security_read = 0, saw_create = 0;
	json_array_foreach(hist, i, ev) {
		if (strcmp(str(ev, "op"), "read") == 0 && json_is_string(json_object_get(ev, "purpose")) &&
		    strcmp(str(ev, "purpose"), "security") == 0)
			saw_security_read = 1;
		if (strcmp(str(ev, "op"), "create") == 0)
			saw_create = 1;
	}
	cr_assert(saw_security_read && saw_create);
	json_decref(e);
	json_decref(r);
	/* The record itself stays: a right-to-know request changes nothing. */
	cr_assert_eq(record_code(v, a, T), 0);
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}

Test(privacy, overdue_requests_are_listed_and_one_extension_moves_the_due_date)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	long long old_at = (long long)time(NULL) - 50 * 86400;
	json_t *r = ok(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"mail\","
	    "\"requester\":\"self\",\"received_at\":%lld}", old_at);
	long long late = num(r, "request");
	cr_assert_eq(num(r, "due_at"), old_at + 45 * 86400);
	json_decref(r);
	long long fresh = open_request(v, "know", "phone");

	r = ok(v, "request_list", 0, "{\"overdue\":true}");
	json_t *list = json_object_get(r, "requests");
	cr_assert_eq(json_array_size(list), 1);
	cr_assert_eq(num(json_array_get(list, 0), "request"), late);
	cr_assert(json_is_true(json_object_get(json_array_get(list, 0), "overdue")));
	json_decref(r);
	r = ok(v, "request_list", 0, "{}");
	cr_assert_eq(json_array_size(json_object_get(r, "requests")), 2);
	cr_assert_eq(num(json_array_get(json_object_get(r, "requests"), 1), "request"), fresh);
	json_decref(r);

	r = ok(v, "request_extend", 0, "{\"request\":%lld,\"reason\":\"archive search\"}", late);
	cr_assert_eq(num(r, "due_at"), old_at + 90 * 86400);
	json_decref(r);
	r = ok(v, "request_list", 0, "{\"overdue\":true}");
	cr_assert_eq(json_array_size(json_object_get(r, "requests")), 0);
	json_decref(r);
	cr_assert_eq(fails(v, "request_extend", 0, "{\"request\":%lld,\"reason\":\"again\"}", late),
	    VAULT_E_REQUEST_STATE);
	cr_assert_eq(fails(v, "request_extend", 0, "{\"request\":%lld}", late),
	    VAULT_E_PROTO_MISSING);
	r = ok(v, "request_show", 0, "{\"request\":%lld}", late);
	cr_assert_str_eq(str(r, "extension_reason"), "archive search");
	cr_assert(json_is_true(json_object_get(r, "extended")));
	json_decref(r);
	vault_close(v);
	vaultd_finish(&p);
}

Test(privacy, verification_is_rate_limited_per_client)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, "[privacy]\nverify_per_minute = 3\nverify_attempts = 100\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	long long id = open_request(v, "delete", "phone");
	int limited = 0;
	for (int i = 0; i < 12; i++) {
		int code;
		json_t *r = vcall(v, &code, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
		    "\"first_name\":\"A\",\"last_name\":\"B\",\"email\":\"guess%d@example.org\","
		    "\"phone\":\"+14155550111\"}}", id, i);
		if (r == NULL) {
			cr_assert_eq(code, VAULT_E_RATE_LIMITED);
			limited++;
		}
		json_decref(r);
	}
	/* 3 pass, 9 are refused; if the minute's window turns over once during
	 * the loop, 3 more pass: at least 6 are refused either way. */
	cr_assert_geq(limited, 6);
	cr_assert_leq(limited, 9);
	vault_close(v);
	vaultd_finish(&p);
}

Test(privacy, holds_also_stop_updates_and_tokens_for_other_purposes)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Kurt", "Goedel", "kurt@example.org", "+14155550109",
	    "4 Incomplete Rd", "ORD-1101", 0);
	json_decref(ok(v, "hold_place", 0, "{\"record\":\"%s\",\"purpose\":\"security\","
	    "\"reason\":\"fraud inquiry\"}", a));
	cr_assert_eq(fails(v, "update", T, "{\"record\":\"%s\",\"clear\":[\"email\"]}", a),
	    VAULT_E_HELD, "a hold keeps the data as it is");
	cr_assert_eq(fails(v, "tokenize", T, "{\"record\":\"%s\",\"tokens\":[{\"field\":\"email\","
	    "\"kind\":\"deterministic\"}]}", a), VAULT_E_HELD);
	json_decref(ok(v, "tokenize", VAULT_PURPOSE_SECURITY, "{\"record\":\"%s\",\"tokens\":["
	    "{\"field\":\"email\",\"kind\":\"opaque\"}]}", a));
	json_t *r = ok(v, "read", VAULT_PURPOSE_SECURITY, "{\"record\":\"%s\"}", a);
	cr_assert_str_eq(str(json_object_get(r, "fields"), "email"), "kurt@example.org");
	json_decref(r);
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}

Test(privacy, only_privileged_clients_flag_children_record_transactions_or_handle_requests)
{
	struct vaultd_proc p;
	struct vault *v;
	char path[512];
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Ada", "Byron", "byron@example.org", "+14155550110",
	    "2 Poem Place", "ORD-1201", 0);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	/* The same uid as an ordinary service: field access only. */
	vaultd_path(&p, "policy.ini", path, sizeof(path));
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "[client service]\nuids = %ld\n[access service transactional]\n* = plain\n",
	    (long)getuid());
	fclose(f);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_eq(fails(v, "update", T, "{\"record\":\"%s\",\"child\":true}", a), VAULT_E_DENIED);
	cr_assert_eq(fails(v, "create", T, "{\"fields\":{\"email\":\"kid@example.org\"},"
	    "\"child\":true}"), VAULT_E_DENIED);
	cr_assert_eq(fails(v, "transaction", T, "{\"record\":\"%s\",\"reference\":\"X-1\"}", a),
	    VAULT_E_DENIED);
	cr_assert_eq(fails(v, "request_open", 0, "{\"kind\":\"know\",\"channel\":\"phone\","
	    "\"requester\":\"self\"}"), VAULT_E_DENIED);
	cr_assert_eq(fails(v, "request_list", 0, "{}"), VAULT_E_DENIED);
	cr_assert_eq(fails(v, "hold_place", 0, "{\"record\":\"%s\",\"purpose\":\"legal\","
	    "\"reason\":\"x\"}", a), VAULT_E_DENIED);
	/* Everyone may fetch the public signing keys. */
	json_decref(ok(v, "signing_key", 0, "{}"));
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}

Test(privacy, lifting_a_hold_completes_its_deferral_behind_many_others)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, "[privacy]\nverify_per_minute = 1000\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *kept = customer(v, "Held", "Longer", "kept@example.org", "+14155550112",
	    "1 Vault St", "ORD-1301", 0);
	char *freed = customer(v, "Soon", "Free", "free@example.org", "+14155550113",
	    "2 Vault St", "ORD-1302", 0);
	json_decref(ok(v, "hold_place", 0, "{\"record\":\"%s\",\"purpose\":\"legal\","
	    "\"reason\":\"litigation\"}", kept));
	json_t *r = ok(v, "hold_place", 0, "{\"record\":\"%s\",\"purpose\":\"security\","
	    "\"reason\":\"inquiry\"}", freed);
	long long hold = num(r, "hold");
	json_decref(r);
	/* Seventy deferred requests for the record that stays held... */
	for (int i = 0; i < 70; i++) {
		long long id = open_request(v, "delete", "mail");
		json_decref(ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
		    "\"first_name\":\"Held\",\"last_name\":\"Longer\",\"email\":\"kept@example.org\","
		    "\"phone\":\"+14155550112\"}}", id));
		json_decref(ok(v, "request_complete", 0, "{\"request\":%lld}", id));
	}
	/* ...and then one for the record whose hold ends. */
	long long last = open_request(v, "delete", "mail");
	json_decref(ok(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{"
	    "\"first_name\":\"Soon\",\"last_name\":\"Free\",\"email\":\"free@example.org\","
	    "\"phone\":\"+14155550113\"}}", last));
	json_decref(ok(v, "request_complete", 0, "{\"request\":%lld}", last));
	r = ok(v, "hold_lift", 0, "{\"hold\":%lld}", hold);
	cr_assert_eq(json_array_size(json_object_get(r, "completed")), 1);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(r, "completed"), 0)), last);
	json_decref(r);
	cr_assert_eq(record_code(v, freed, VAULT_PURPOSE_SECURITY), VAULT_E_DELETED);
	cr_assert_eq(record_code(v, kept, VAULT_PURPOSE_LEGAL), 0);
	r = ok(v, "request_list", 0, "{\"state\":\"deferred\"}");
	cr_assert_eq(json_array_size(json_object_get(r, "requests")), 70);
	json_decref(r);
	free(kept);
	free(freed);
	vault_close(v);
	vaultd_finish(&p);
}

/* The raw reply of request_verify (malloc'd), or NULL with *code set. */
static char *
verify_raw(struct vault *v, int *code, long long id, const char *claims)
{
	char args[2048], *out = NULL;
	snprintf(args, sizeof(args), "{\"request\":%lld,\"claims\":{%s}}", id, claims);
	*code = vault_call_json(v, "request_verify", 0, args, &out);
	if (*code != 0)
		return NULL;
	char *copy = strdup(out);
	vault_free(out);
	return copy;
}

/*
 * The padding probe: someone who knows a name pads the claims with values
 * known to be wrong and adds one guessed value. Before, the points matched
 * told whether the guess was right and the candidates whether the name was
 * a customer's at all. Now every failure reads the same, byte for byte.
 */
Test(privacy, the_padding_probe_learns_nothing)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, "[privacy]\nverify_identity_failures = 100\n"
	    "verify_identity_open = 16\nverify_per_minute = 1000\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Mary", "Somerville", "mary@example.org", "+14155550121",
	    "9 Orbit Road", "ORD-7007", 0);
	static const char pad[] = "\"email\":\"nobody@example.net\","
	    "\"postal_address\":\"1 Nowhere Street\",";
	static const char *const probes[][2] = {
		/* a right and a wrong guess of each kind, same name */
		{ "Mary", "\"phone\":\"+14155550121\"" },
		{ "Mary", "\"phone\":\"+14155550199\"" },
		{ "Mary", "\"transaction\":{\"amount\":\"49.90\"}" },
		{ "Mary", "\"transaction\":{\"amount\":\"50.00\"}" },
		{ "Mary", "\"transaction\":{\"date\":\"2026-11-02\"}" },
		{ "Mary", "\"transaction\":{\"date\":\"2026-11-03\"}" },
		/* is this name a customer's? */
		{ "Nobody", "\"phone\":\"+14155550121\"" },
	};
	char *first = NULL;
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		/* A fresh request each time: the same attempts left. */
		long long id = open_request(v, "delete", "phone");
		char claims[1024];
		snprintf(claims, sizeof(claims), "\"first_name\":\"%s\",\"last_name\":\"Somerville\","
		    "%s%s", probes[i][0], pad, probes[i][1]);
		int code;
		char *out = verify_raw(v, &code, id, claims);
		cr_assert_not_null(out, "probe %zu: %s", i, vault_error_name(code));
		cr_assert_null(strstr(out, "rec_"), "no record token before verification");
		cr_assert_null(strstr(out, "candidates"));
		cr_assert_null(strstr(out, "matched"));
		if (first == NULL)
			first = out;
		else {
			cr_assert_str_eq(out, first, "probe %zu answers like probe 0", i);
			free(out);
		}
	}
	json_error_t je;
	json_t *r = json_loads(first, 0, &je);
	cr_assert(json_is_false(json_object_get(r, "verified")));
	cr_assert_eq(json_object_size(r), 3, "verified, state and attempts_left only");
	json_decref(r);
	free(first);
	/* The one that completes the threshold verifies: that is the point. */
	long long id = open_request(v, "delete", "phone");
	int code;
	char *out = verify_raw(v, &code, id, "\"first_name\":\"Mary\",\"last_name\":\"Somerville\","
	    "\"email\":\"mary@example.org\",\"phone\":\"+14155550121\"");
	cr_assert_not_null(out);
	cr_assert_not_null(strstr(out, a), "a verified request learns its targets");
	free(out);
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}

/* Audit entries of op "alert" with outcome "verify_failures". */
static size_t
verify_alerts_in_trail(struct vault *v)
{
	json_t *r = ok(v, "audit_query", 0, "{}"), *e;
	size_t i, n = 0;
	json_array_foreach(json_object_get(r, "entries"), i, e) {
		const char *op = json_string_value(json_object_get(e, "op"));
		const char *outcome = json_string_value(json_object_get(e, "outcome"));
		if (op && outcome && strcmp(op, "alert") == 0 &&
		    strcmp(outcome, "verify_failures") == 0)
			n++;
	}
	json_decref(r);
	return n;
}

static long long
verify_alerts_in_status(struct vault *v)
{
	json_t *r = ok(v, "status", 0, "{}");
	long long n = num(json_object_get(r, "alerts"), "verify_failures");
	json_decref(r);
	return n;
}

/*
 * Before, each new request brought verify_attempts fresh guesses at the
 * same person. Now the identity's failures count across requests (and a
 * restart), the attempts past the limit are refused even when right, and
 * reaching it raises an alert in status and in the audit trail.
 */
Test(privacy, a_new_request_does_not_reset_the_identity_limit)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, "[privacy]\nverify_attempts = 5\nverify_identity_failures = 3\n"
	    "verify_identity_open = 16\nverify_per_minute = 1000\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Emmy", "Noether", "emmy@example.org", "+14155550122",
	    "4 Ring Street", "ORD-8008", 0);
	static const char right[] = "\"first_name\":\"Emmy\",\"last_name\":\"Noether\","
	    "\"email\":\"emmy@example.org\",\"phone\":\"+14155550122\"";
	cr_assert_eq(verify_alerts_in_status(v), 0);
	long long id1 = open_request(v, "delete", "phone");
	int code;
	for (int i = 0; i < 3; i++) {
		char claims[512];
		snprintf(claims, sizeof(claims), "\"first_name\":\"Emmy\",\"last_name\":\"Noether\","
		    "\"email\":\"guess%d@example.org\",\"phone\":\"+14155550199\"", i);
		char *out = verify_raw(v, &code, id1, claims);
		cr_assert_not_null(out, "attempt %d: %s", i, vault_error_name(code));
		cr_assert_not_null(strstr(out, "\"verified\":false"));
		free(out);
	}
	/* A new request, even with the right answers, changes nothing. */
	long long id2 = open_request(v, "delete", "phone");
	char *out = verify_raw(v, &code, id2, right);
	cr_assert_null(out, "a new request brought new guesses: %s", out);
	cr_assert_eq(code, VAULT_E_RATE_LIMITED, "%s", vault_error_name(code));
	cr_assert_null(strstr(vault_last_message(v), "Noether"));
	/* The first request has attempts left, the identity none. */
	cr_assert_null(verify_raw(v, &code, id1, right));
	cr_assert_eq(code, VAULT_E_RATE_LIMITED);
	cr_assert_eq(verify_alerts_in_status(v), 1, "the third failure raised the alert");
	cr_assert_eq(verify_alerts_in_trail(v), 1);
	/* Nor does a restart: the count is in the data file. */
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_null(verify_raw(v, &code, id2, right));
	cr_assert_eq(code, VAULT_E_RATE_LIMITED);
	/* The limit is the identity's: another person goes on. */
	out = verify_raw(v, &code, id2, "\"first_name\":\"Sofia\","
	    "\"last_name\":\"Kovalevskaya\",\"email\":\"sk@example.org\",\"phone\":\"+14155550123\"");
	cr_assert_not_null(out, "%s", vault_error_name(code));
	cr_assert_not_null(strstr(out, "\"verified\":false"));
	free(out);
	cr_assert_eq(record_code(v, a, T), 0);
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}

/* At most verify_identity_open requests may be trying one identity. */
Test(privacy, open_requests_per_identity_are_limited)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, "[privacy]\nverify_identity_open = 2\nverify_per_minute = 1000\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *a = customer(v, "Lise", "Meitner", "lise@example.org", "+14155550124",
	    "6 Fission Lane", "ORD-9009", 0);
	static const char wrong[] = "\"first_name\":\"Lise\",\"last_name\":\"Meitner\","
	    "\"email\":\"wrong@example.org\",\"phone\":\"+14155550198\"";
	static const char right[] = "\"first_name\":\"Lise\",\"last_name\":\"Meitner\","
	    "\"email\":\"lise@example.org\",\"phone\":\"+14155550124\"";
	long long ids[3];
	int code;
	for (int i = 0; i < 3; i++)
		ids[i] = open_request(v, "know", "mail");
	free(verify_raw(v, &code, ids[0], wrong));
	cr_assert_eq(code, 0);
	free(verify_raw(v, &code, ids[1], wrong));
	cr_assert_eq(code, 0);
	cr_assert_null(verify_raw(v, &code, ids[2], right));
	cr_assert_eq(code, VAULT_E_LIMIT, "a third open request for one identity");
	/* Those already trying it go on; once one is verified, room frees up. */
	char *out = verify_raw(v, &code, ids[0], right);
	cr_assert_not_null(out, "%s", vault_error_name(code));
	cr_assert_not_null(strstr(out, "\"verified\":true"));
	free(out);
	out = verify_raw(v, &code, ids[2], right);
	cr_assert_not_null(out, "%s", vault_error_name(code));
	cr_assert_not_null(strstr(out, "\"verified\":true"));
	free(out);
	free(a);
	vault_close(v);
	vaultd_finish(&p);
}

/* One client trying many identities: its failures an hour are bounded. */
Test(privacy, failures_per_client_are_limited_and_raise_an_alert)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, "[privacy]\nverify_failures_per_hour = 2\nverify_per_minute = 1000\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	long long id = open_request(v, "delete", "phone");
	static const char *const names[] = { "Ann", "Bea", "Cora", "Dora", "Eva", "Fay" };
	int code, refused = 0;
	for (int i = 0; i < 6; i++) {
		char claims[512];
		snprintf(claims, sizeof(claims), "\"first_name\":\"%s\",\"last_name\":\"Guess\","
		    "\"email\":\"g@example.org\",\"phone\":\"+14155550197\"", names[i]);
		char *out = verify_raw(v, &code, id, claims);
		if (out == NULL) {
			cr_assert_eq(code, VAULT_E_RATE_LIMITED);
			refused++;
		}
		free(out);
	}
	/* Two fail, four are refused; if the hour turns once during the loop,
	 * two more fail: at least two are refused either way. */
	cr_assert_geq(refused, 2);
	cr_assert_geq(verify_alerts_in_status(v), 1);
	cr_assert_geq(verify_alerts_in_trail(v), 1);
	vault_close(v);
	vaultd_finish(&p);
}
