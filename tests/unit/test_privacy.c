/*
 * test_privacy.c - the privacy features' pure parts: canonical forms of
 * claimed values (what makes "ADA  lovelace" match "Ada Lovelace"), and
 * the stored forms of requests, holds and identity counts, which must read
 * back exactly and refuse damage; and how identity counts carry over from
 * one window to the next and are pruned.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include <sodium.h>
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/privacy/blind.h"
#include "vault/privacy/hold.h"
#include "vault/privacy/identity.h"
#include "vault/privacy/request.h"
#include "vault/store/store.h"

static const char *
canon(unsigned kind, const char *in, int *rc)
{
	static char out[BLIND_CANON_MAX + 1];
	size_t n = 0;
	*rc = blind_canon(kind, in, strlen(in), out, BLIND_CANON_MAX, &n);
	out[*rc == 0 ? n : 0] = '\0';
	return out;
}

Test(blind, names_and_addresses_ignore_case_punctuation_and_spacing)
{
	int rc;
	cr_assert_str_eq(canon(BLIND_LAST_NAME, "  O'Neil-Smith ", &rc), "o neil smith");
	cr_assert_str_eq(canon(BLIND_LAST_NAME, "o neil   SMITH", &rc), "o neil smith");
	cr_assert_str_eq(canon(BLIND_POSTAL_ADDRESS, "12, Main St.\n Springfield", &rc),
	    "12 main st springfield");
	/* Non-ASCII letters are kept as they are (no Unicode case folding). */
	cr_assert_str_eq(canon(BLIND_FIRST_NAME, "Ren\xc3\xa9", &rc), "ren\xc3\xa9");
	cr_assert_str_eq(canon(BLIND_TXN_REFERENCE, "ORD-1001", &rc), "ord1001");
	cr_assert_str_eq(canon(BLIND_TXN_REFERENCE, "ord 10 01", &rc), "ord1001");
	canon(BLIND_LAST_NAME, " -- ", &rc);
	cr_assert_eq(rc, VAULT_E_EMPTY);
}

Test(blind, emails_fold_case_and_phones_stay_as_normalized)
{
	int rc;
	cr_assert_str_eq(canon(BLIND_EMAIL, "Ada@Example.ORG", &rc), "ada@example.org");
	cr_assert_str_eq(canon(BLIND_PHONE, "+14155550101", &rc), "+14155550101");
}

Test(blind, dates_must_be_real_calendar_dates)
{
	int rc;
	cr_assert_str_eq(canon(BLIND_TXN_DATE, "2026-02-28", &rc), "2026-02-28");
	cr_assert_eq(rc, 0);
	canon(BLIND_TXN_DATE, "2026-13-01", &rc);
	cr_assert_eq(rc, VAULT_E_INVALID_VALUE);
	canon(BLIND_TXN_DATE, "2026-04-31", &rc);
	cr_assert_eq(rc, VAULT_E_INVALID_VALUE);
	canon(BLIND_TXN_DATE, "26-1-1", &rc);
	cr_assert_eq(rc, VAULT_E_INVALID_VALUE);
}

Test(blind, amounts_become_whole_cents)
{
	int rc;
	cr_assert_str_eq(canon(BLIND_TXN_AMOUNT, "49.9", &rc), "4990");
	cr_assert_str_eq(canon(BLIND_TXN_AMOUNT, "49.90", &rc), "4990");
	cr_assert_str_eq(canon(BLIND_TXN_AMOUNT, "1,234.50", &rc), "123450");
	cr_assert_str_eq(canon(BLIND_TXN_AMOUNT, "0.05", &rc), "5");
	cr_assert_str_eq(canon(BLIND_TXN_AMOUNT, "12", &rc), "1200");
	static const char *const bad[] = { "", "1.234", "-5", "12.", "1e3", "12.5.0", "abc" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		canon(BLIND_TXN_AMOUNT, bad[i], &rc);
		cr_assert_eq(rc, VAULT_E_INVALID_VALUE, "%s", bad[i]);
	}
}

static void
sample(struct privacy_request *r)
{
	memset(r, 0, sizeof(*r));
	r->id = 17;
	r->kind = REQ_KNOW;
	r->channel = CH_PHONE;
	r->requester = BY_GUARDIAN;
	r->state = RS_VERIFIED;
	r->has_permission = 1;
	r->permission_version = 2;
	memset(r->permission, 0x11, sizeof(r->permission));
	r->received_at = 1790000000;
	r->due_at = r->received_at + REQUEST_DUE_SECONDS;
	r->verify_failures = 1;
	r->nclaims = 2;
	r->claims[0].kind = BLIND_PHONE;
	r->claims[1].kind = BLIND_TXN_DATE;
	r->ntargets = 2;
	r->targets[0] = 5;
	r->targets[1] = 1ULL << 40;
	request_note(r, r->received_at, EV_OPENED, "privacy-desk");
	request_note(r, r->received_at + 5, EV_VERIFIED, "privacy-desk");
}

Test(request, encodes_and_decodes_to_the_same_request)
{
	struct privacy_request r, d;
	struct buf b = { 0 };
	sample(&r);
	cr_assert_eq(request_encode(&r, &b), 0);
	cr_assert_eq(request_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.id, 17);
	cr_assert_eq(d.kind, REQ_KNOW);
	cr_assert_eq(d.requester, BY_GUARDIAN);
	cr_assert_eq(d.state, RS_VERIFIED);
	cr_assert(d.has_permission);
	cr_assert_eq(memcmp(d.permission, r.permission, sizeof(r.permission)), 0);
	cr_assert_eq(d.due_at, r.due_at);
	cr_assert_eq(d.verify_failures, 1);
	cr_assert_eq(d.ntargets, 2);
	cr_assert_eq(d.targets[1], 1ULL << 40);
	cr_assert_eq(d.nclaims, 2);
	cr_assert_eq(d.claims[0].kind, BLIND_PHONE);
	cr_assert_eq(d.claims[1].kind, BLIND_TXN_DATE);
	cr_assert_eq(d.nhistory, 2);
	cr_assert_str_eq(d.history[1].client, "privacy-desk");
	cr_assert_eq(d.history[1].event, EV_VERIFIED);
	cr_assert_null(d.receipt);
	cr_assert_not(d.code_issued);
	buf_free(&b);
}

Test(request, damage_is_refused)
{
	struct privacy_request r, d;
	struct buf b = { 0 };
	sample(&r);
	cr_assert_eq(request_encode(&r, &b), 0);
	for (size_t n = 0; n < b.len; n++)
		cr_assert_neq(request_decode(b.data, n, &d), 0, "truncated to %zu", n);
	/* Every single-bit flip either is refused or decodes to something valid
	 * (request_decode never reads outside the value). */
	for (size_t i = 0; i < b.len; i++) {
		b.data[i] ^= 0x40;
		if (request_decode(b.data, b.len, &d) == 0)
			cr_assert(d.ntargets <= REQUEST_MAX_TARGETS && d.nhistory <= REQUEST_MAX_HISTORY);
		b.data[i] ^= 0x40;
	}
	buf_free(&b);
}

/* Claims are stored as kinds: no tag a kept key could test against a
 * guessed value (issue 13); the decoder takes nothing else. */
static int
decode_claims(const uint8_t *kinds, size_t n, int old_form)
{
	struct privacy_request r, d;
	struct buf b = { 0 };
	sample(&r);
	r.nclaims = 0;
	cr_assert_eq(request_encode(&r, &b), 0);
	/* The encoder packs "cl" as an empty array (0x90): put ours there. */
	static const uint8_t key[] = { 0xa2, 'c', 'l', 0x90 };
	uint8_t *at = memmem(b.data, b.len, key, sizeof(key));
	cr_assert_not_null(at);
	size_t off = (size_t)(at - b.data) + 3;
	struct buf o = { 0 };
	cr_assert_eq(buf_append(&o, b.data, off), 0);
	uint8_t hdr = (uint8_t)(0x90 | n);
	cr_assert_eq(buf_append(&o, &hdr, 1), 0);
	for (size_t i = 0; i < n; i++) {
		if (old_form) {
			/* [kind, version, bin 16 tag]: what version 1 stored */
			uint8_t e[] = { 0x93, kinds[i], 0x01, 0xc4, 16 };
			uint8_t tag[16];
			memset(tag, 0x22, sizeof(tag));
			cr_assert_eq(buf_append(&o, e, sizeof(e)), 0);
			cr_assert_eq(buf_append(&o, tag, sizeof(tag)), 0);
		} else {
			cr_assert_eq(buf_append(&o, &kinds[i], 1), 0);
		}
	}
	cr_assert_eq(buf_append(&o, b.data + off + 1, b.len - off - 1), 0);
	int rc = request_decode(o.data, o.len, &d);
	if (rc == 0) {
		cr_assert_eq(d.nclaims, n);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(d.claims[i].kind, kinds[i]);
	}
	buf_free(&b);
	buf_free(&o);
	return rc;
}

Test(request, claims_are_kinds_only_and_the_decoder_is_strict)
{
	struct privacy_request r;
	struct buf b = { 0 };
	sample(&r);
	cr_assert_eq(request_encode(&r, &b), 0);
	/* No 16-byte binary (a blind tag) anywhere in the stored form. */
	static const uint8_t bin16[] = { 0xc4, 16 };
	cr_assert_null(memmem(b.data, b.len, bin16, sizeof(bin16)));
	buf_free(&b);

	static const uint8_t good[] = { BLIND_FIRST_NAME, BLIND_LAST_NAME, BLIND_PHONE,
		BLIND_TXN_REFERENCE, BLIND_TXN_AMOUNT };
	cr_assert_eq(decode_claims(good, 5, 0), 0);
	static const uint8_t unknown[] = { BLIND_PHONE, 6 };
	cr_assert_neq(decode_claims(unknown, 2, 0), 0);
	static const uint8_t zero[] = { 0 };
	cr_assert_neq(decode_claims(zero, 1, 0), 0);
	static const uint8_t repeat[] = { BLIND_EMAIL, BLIND_EMAIL };
	cr_assert_neq(decode_claims(repeat, 2, 0), 0);
	static const uint8_t down[] = { BLIND_PHONE, BLIND_EMAIL };
	cr_assert_neq(decode_claims(down, 2, 0), 0);
	/* The old form, with tags, is refused. */
	cr_assert_neq(decode_claims(good, 1, 1), 0);
}

Test(request, a_finished_request_keeps_no_target_ids)
{
	struct privacy_request r, d;
	struct buf b = { 0 };
	sample(&r);
	r.state = RS_COMPLETED;
	cr_assert_eq(request_encode(&r, &b), 0);
	cr_assert_eq(request_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.ntargets, 0);
	cr_assert_eq(d.nclaims, 2, "which data points verified stays");
	/* 2^40, the second target, is nowhere in the stored form. */
	static const uint8_t id40[] = { 0xcf, 0, 0, 1, 0, 0, 0, 0, 0 };
	cr_assert_null(memmem(b.data, b.len, id40, sizeof(id40)));
	buf_free(&b);
	r.state = RS_REJECTED;
	cr_assert_eq(request_encode(&r, &b), 0);
	cr_assert_eq(request_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.ntargets, 0);
}

/* 1 if the n bytes of needle occur in the encoded request. */
static int
holds_bytes(const struct buf *b, const void *needle, size_t n)
{
	return memmem(b->data, b->len, needle, n) != NULL;
}

Test(request, a_final_state_keeps_only_what_the_receipt_needs)
{
	static const uint8_t sealed[40] = { 0x5e, 0xa1, 0xed, 0x5e, 0xa1, 0xed, 7, 7, 7, 7 };
	struct privacy_request r, d;
	struct buf b = { 0 };
	sample(&r);
	r.kind = REQ_DELETE;
	r.extended = 1;
	r.extension_reason = sealed;
	r.extension_reason_len = sizeof(sealed);
	r.code_issued = 1;
	r.confirmed = 1;
	r.code_version = 2;
	memset(r.code_hash, 0x33, sizeof(r.code_hash));
	r.code_expires = 1790086400;
	const uint8_t big_target[8] = { 0, 0, 1, 0, 0, 0, 0, 0 }; /* 1 << 40, as msgpack stores it */
	/* Not final: everything is kept (a deferred deletion needs its targets). */
	r.state = RS_DEFERRED;
	cr_assert_eq(request_encode(&r, &b), 0);
	cr_assert(holds_bytes(&b, big_target, sizeof(big_target)));
	cr_assert(holds_bytes(&b, r.permission, sizeof(r.permission)));
	cr_assert(holds_bytes(&b, r.code_hash, sizeof(r.code_hash)));
	cr_assert(holds_bytes(&b, sealed, sizeof(sealed)));
	cr_assert_eq(request_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.ntargets, 2);
	cr_assert_eq(d.targets[1], 1ULL << 40);

	static const uint8_t states[] = { RS_COMPLETED, RS_REJECTED };
	for (size_t i = 0; i < sizeof(states); i++) {
		r.state = states[i];
		buf_clear(&b);
		cr_assert_eq(request_encode(&r, &b), 0);
		cr_assert_not(holds_bytes(&b, big_target, sizeof(big_target)), "target ids dropped");
		cr_assert_not(holds_bytes(&b, r.permission, sizeof(r.permission)),
		    "permission hash dropped");
		cr_assert_not(holds_bytes(&b, r.code_hash, sizeof(r.code_hash)), "code hash dropped");
		cr_assert_not(holds_bytes(&b, sealed, sizeof(sealed)), "sealed reason dropped");
		cr_assert_eq(request_decode(b.data, b.len, &d), 0);
		cr_assert_eq(d.state, states[i]);
		cr_assert_eq(d.ntargets, 0);
		cr_assert_eq(d.target_count, 2, "their number stays");
		cr_assert_not(d.has_permission);
		cr_assert(d.extended, "that it was extended stays");
		cr_assert_null(d.extension_reason);
		cr_assert(d.code_issued);
		cr_assert(d.confirmed, "that it was confirmed stays");
		cr_assert_eq(d.code_version, 0);
		/* Encoding the decoded form again gives the same bytes. */
		struct buf b2 = { 0 };
		cr_assert_eq(request_encode(&d, &b2), 0);
		cr_assert_eq(b2.len, b.len);
		cr_assert_eq(memcmp(b2.data, b.data, b.len), 0);
		buf_free(&b2);
	}
	/* The dropped forms are refused in a state that needs the real ones. */
	r.state = RS_COMPLETED;
	buf_clear(&b);
	cr_assert_eq(request_encode(&r, &b), 0);
	uint8_t *s = memmem(b.data, b.len, "\xa1s\x04", 3); /* "s": 4 (completed) */
	cr_assert_not_null(s);
	s[2] = RS_VERIFIED;
	cr_assert_neq(request_decode(b.data, b.len, &d), 0);
	buf_free(&b);
}

Test(request, a_completed_deletion_keeps_its_horizon_and_erasure_document)
{
	static const char receipt[] = "{\"records\":[\"v1:ab\"],\"type\":\"deletion-receipt\"}";
	static const char erasure[] = "{\"type\":\"erasure-complete\"}";
	struct privacy_request r, d;
	struct buf b = { 0 };
	sample(&r);
	r.kind = REQ_DELETE;
	r.state = RS_COMPLETED;
	r.completed_at = 1790000500;
	r.receipt = receipt;
	r.receipt_len = strlen(receipt);
	memset(r.signature, 0x44, sizeof(r.signature));
	r.key_version = 2;
	r.horizon_epoch = 3;
	r.nepochs = 2;
	r.epochs[0] = 2;
	r.epochs[1] = 3;
	r.horizon_estimate = 1790090000;
	cr_assert_eq(request_encode(&r, &b), 0);
	cr_assert_eq(request_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.horizon_epoch, 3);
	cr_assert_eq(d.nepochs, 2);
	cr_assert_eq(d.epochs[1], 3);
	cr_assert_eq(d.horizon_estimate, 1790090000);
	cr_assert_not(d.overdue_alerted);
	cr_assert_null(d.erasure);

	r.overdue_alerted = 1;
	r.erasure = erasure;
	r.erasure_len = strlen(erasure);
	memset(r.erasure_signature, 0x55, sizeof(r.erasure_signature));
	r.erasure_key_version = 4;
	buf_clear(&b);
	cr_assert_eq(request_encode(&r, &b), 0);
	cr_assert_eq(request_decode(b.data, b.len, &d), 0);
	cr_assert(d.overdue_alerted);
	cr_assert_eq(d.erasure_len, strlen(erasure));
	cr_assert_eq(memcmp(d.erasure, erasure, d.erasure_len), 0);
	cr_assert_eq(d.erasure_signature[63], 0x55);
	cr_assert_eq(d.erasure_key_version, 4);

	/* An epoch above the horizon's is damage. */
	r.epochs[1] = 9;
	buf_clear(&b);
	cr_assert_eq(request_encode(&r, &b), 0);
	cr_assert_neq(request_decode(b.data, b.len, &d), 0);
	/* Only a completed deletion has a horizon. */
	r.epochs[1] = 3;
	r.kind = REQ_KNOW;
	buf_clear(&b);
	cr_assert_eq(request_encode(&r, &b), 0);
	cr_assert_neq(request_decode(b.data, b.len, &d), 0);
	buf_free(&b);
}

Test(request, the_history_keeps_the_opening_when_full)
{
	struct privacy_request r;
	sample(&r);
	for (int i = 0; i < 100; i++)
		request_note(&r, 1790000100 + (uint64_t)i, EV_VERIFY_FAILED, "desk");
	cr_assert_eq(r.nhistory, REQUEST_MAX_HISTORY);
	cr_assert_eq(r.history[0].event, EV_OPENED);
	cr_assert_eq(r.history[REQUEST_MAX_HISTORY - 1].time, 1790000199);
}

Test(request, overdue_only_while_open_or_verified)
{
	struct privacy_request r;
	sample(&r);
	cr_assert(request_overdue(&r, r.due_at + 1));
	cr_assert_not(request_overdue(&r, r.due_at));
	r.state = RS_DEFERRED;
	cr_assert_not(request_overdue(&r, r.due_at + 1), "a hold is a lawful reason to wait");
	r.state = RS_COMPLETED;
	cr_assert_not(request_overdue(&r, r.due_at + 1));
}

Test(hold, encodes_and_decodes_exactly)
{
	uint8_t reason[SEALED_TEXT_OVERHEAD + 3] = { 0, 0, 0, 1, 9 };
	struct hold h = { .id = 4, .record = 99, .purpose = HOLD_SECURITY,
	    .placed_at = 1790000000, .expires_at = 0, .client = "admin",
	    .reason = reason, .reason_len = sizeof(reason) };
	struct hold d;
	struct buf b = { 0 };
	cr_assert_eq(hold_encode(&h, &b), 0);
	cr_assert_eq(hold_decode(4, b.data, b.len, &d), 0);
	cr_assert_eq(d.record, 99);
	cr_assert_eq(d.purpose, HOLD_SECURITY);
	cr_assert_str_eq(d.client, "admin");
	cr_assert_eq(d.reason_len, sizeof(reason));
	cr_assert(hold_live(&d, 4000000000ULL), "no expiry: live");
	d.expires_at = 1790000100;
	cr_assert(hold_live(&d, 1790000099));
	cr_assert_not(hold_live(&d, 1790000100));
	/* Cut short of the smallest sealed reason: refused. (A reason cut
	 * shorter than that decodes, and its seal then fails to open.) */
	for (size_t n = 0; n < b.len - 3; n++)
		cr_assert_neq(hold_decode(4, b.data, n, &d), 0, "truncated to %zu", n);
	b.data[1] = 9; /* no such purpose */
	cr_assert_neq(hold_decode(4, b.data, b.len, &d), 0);
	buf_free(&b);
}

Test(hold, purposes_map_to_what_they_allow)
{
	cr_assert_eq(hold_purpose_from("legal", 5), HOLD_LEGAL);
	cr_assert_eq(hold_purpose_from("court", 5), 0);
	cr_assert_eq(hold_allowed_purpose(HOLD_LEGAL), VAULT_PURPOSE_LEGAL);
	cr_assert_eq(hold_allowed_purpose(HOLD_TRANSACTION), VAULT_PURPOSE_TRANSACTIONAL);
	cr_assert_eq(hold_allowed_purpose(HOLD_SECURITY), VAULT_PURPOSE_SECURITY);
	cr_assert_eq(hold_allowed_purpose(HOLD_ERROR_CORRECTION), VAULT_PURPOSE_MAINTENANCE);
	cr_assert_eq(hold_allowed_purpose(HOLD_INTERNAL), VAULT_PURPOSE_MAINTENANCE);
}

Test(identity, encodes_and_decodes_and_refuses_damage)
{
	struct identity a = { .failures = 70000, .alerted = 1, .nrequests = 2,
		.requests = { 7, UINT64_MAX } }, b;
	uint8_t buf[IDENTITY_VALUE_MAX], sealed[IDENTITY_SEAL_OVERHEAD + 10];
	const uint8_t *s;
	size_t len, slen;
	uint32_t e;
	memset(sealed, 0x5a, sizeof(sealed));
	identity_encode(&a, 0x01020304, sealed, sizeof(sealed), buf, &len);
	cr_assert_eq(len, IDENTITY_HEAD_BYTES + 16 + sizeof(sealed));
	cr_assert_eq(identity_decode(buf, len, &b, &e, &s, &slen), 0);
	cr_assert_eq(e, 0x01020304);
	cr_assert_eq(b.failures, 70000);
	cr_assert_eq(b.alerted, 1);
	cr_assert_eq(b.nrequests, 2);
	cr_assert_eq(b.requests[1], UINT64_MAX);
	cr_assert_eq(slen, sizeof(sealed));
	cr_assert_eq(memcmp(s, sealed, slen), 0);
	/* Sizes are checked before use: no sealed name shorter than two
	 * lengths and a byte of each name, none past the longest. */
	size_t min = IDENTITY_HEAD_BYTES + 16 + IDENTITY_SEAL_OVERHEAD + 6;
	cr_assert_eq(identity_decode(buf, min - 1, &b, &e, &s, &slen), VAULT_E_CRYPTO,
	    "truncated");
	cr_assert_eq(identity_decode(buf, min, &b, &e, &s, &slen), 0);
	static uint8_t big[IDENTITY_VALUE_MAX + 1];
	memcpy(big, buf, len);
	cr_assert_eq(identity_decode(big, IDENTITY_HEAD_BYTES + 16 + IDENTITY_SEAL_OVERHEAD +
	    IDENTITY_NAME_MAX + 1, &b, &e, &s, &slen), VAULT_E_CRYPTO, "too long");
	buf[0] = 1;
	cr_assert_eq(identity_decode(buf, len, &b, &e, &s, &slen), VAULT_E_CRYPTO,
	    "the old format (an index-key hash) is not read");
	buf[0] = 2;
	buf[10] = IDENTITY_MAX_REQUESTS + 1;
	cr_assert_eq(identity_decode(buf, len, &b, &e, &s, &slen), VAULT_E_CRYPTO,
	    "count past the cap");
	buf[10] = 2;
	buf[9] = 2;
	cr_assert_eq(identity_decode(buf, len, &b, &e, &s, &slen), VAULT_E_CRYPTO, "bad flag");
	cr_assert_eq(identity_decode(buf, 3, &b, &e, &s, &slen), VAULT_E_CRYPTO);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	return remove(path);
}

static struct key_set *
new_keys(const char *dir)
{
	char path[128];
	uint8_t root[KEYRING_KEY_BYTES];
	const char *why;
	struct keyring *ring;
	struct key_set *ks;
	cr_assert_geq(sodium_init(), 0);
	snprintf(path, sizeof(path), "%s/ring", dir);
	randombytes_buf(root, sizeof(root));
	cr_assert_eq(keyring_create(path, root, &ring, &why), 0, "%s", why);
	cr_assert_eq(key_set_new(ring, &ks), 0);
	return ks;
}

/* The set with a new KEK epoch (rotate: 1) or without epoch (retire: 0). */
static struct key_set *
keys_change(struct key_set *ks, int rotate, uint32_t epoch)
{
	struct keyring *ring;
	struct key_set *out;
	const char *why;
	uint32_t v;
	if (rotate)
		cr_assert_eq(keyring_with_new_key(ks->ring, KEYRING_KEK, &ring, &v), 0);
	else
		cr_assert_eq(keyring_without_key(ks->ring, KEYRING_KEK, epoch, &ring, &why), 0);
	cr_assert_eq(key_set_new(ring, &out), 0);
	key_set_free(ks);
	return out;
}

static size_t
entries(struct store_txn *txn, enum store_table dbi)
{
	uint64_t n;
	cr_assert_eq(store_count(txn, dbi, &n), 0);
	return (size_t)n;
}

static void
name_of(const char *first, const char *last, struct identity_name *n)
{
	cr_assert_eq(identity_name(first, strlen(first), last, strlen(last), n), 0);
}

/* Counts of the previous window still count; older ones are pruned. */
Test(identity, windows_carry_over_and_are_pruned)
{
	char dir[] = "/tmp/vault-identity-XXXXXX";
	struct store st;
	const char *why;
	struct store_txn *txn;
	struct identity_name h, other;
	struct identity id;
	size_t removed;

	cr_assert_not_null(mkdtemp(dir));
	struct key_set *ks = new_keys(dir);
	cr_assert_eq(store_open(&st, dir, (size_t)16 << 20, 8, &why), 0);
	name_of("ada", "lovelace", &h);
	name_of("ad", "alovelace", &other);
	cr_assert_eq(store_txn_begin(&st, NULL, 0, &txn), 0);
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &h, 10, &id), 0);
	cr_assert_eq(id.failures + id.failures_prev + id.nrequests, 0, "none yet");
	id.failures = 3;
	id.nrequests = 1;
	id.requests[0] = 42;
	cr_assert_eq(identity_save(txn, STORE_VERIFY_IDS, ks, &h, 10, &id), 0);
	cr_assert_eq(identity_save(txn, STORE_VERIFY_IDS, ks, &other, 3, &id), 0);
	/* Window 11: its own count starts at 0; the last window's still counts,
	 * and so do the requests that tried. */
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &h, 11, &id), 0);
	cr_assert_eq(id.failures, 0);
	cr_assert_eq(id.failures_prev, 3);
	cr_assert_eq(id.nrequests, 1);
	cr_assert_eq(id.requests[0], 42);
	/* Window 12: the one of window 10 no longer counts. */
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &h, 12, &id), 0);
	cr_assert_eq(id.failures + id.failures_prev + id.nrequests, 0);
	/* Pruning in window 11 keeps window 10, drops window 3. */
	cr_assert_eq(identity_prune(txn, STORE_VERIFY_IDS, 11, 64, &removed), 0);
	cr_assert_eq(removed, 1);
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &other, 3, &id), 0);
	cr_assert_eq(id.failures, 0, "pruned");
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &h, 10, &id), 0);
	cr_assert_eq(id.failures, 3, "kept");
	cr_assert_eq(identity_prune(txn, STORE_VERIFY_IDS, 12, 64, &removed), 0);
	cr_assert_eq(removed, 1);
	cr_assert_eq(entries(txn, STORE_VERIFY_IDS), 0, "nothing of a name stays past two windows");
	store_txn_abort(txn);
	store_close(&st);
	key_set_free(ks);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A rotation carries the counts (found under the old epoch until the
 * rekey, then under the new one, never counted twice); after the retire
 * no entry of the old epoch is left. */
Test(identity, counts_follow_the_kek_epoch_across_a_rotation)
{
	char dir[] = "/tmp/vault-identity-XXXXXX";
	struct store st;
	const char *why;
	struct store_txn *txn;
	struct identity_name a, b, c;
	struct identity id;
	size_t moved, dropped;
	uint8_t h1[IDENTITY_HASH_BYTES], h2[IDENTITY_HASH_BYTES];

	cr_assert_not_null(mkdtemp(dir));
	struct key_set *ks = new_keys(dir);
	cr_assert_eq(store_open(&st, dir, (size_t)16 << 20, 8, &why), 0);
	name_of("ada", "lovelace", &a);
	name_of("alan", "turing", &b);
	name_of("grace", "hopper", &c);
	cr_assert_eq(store_txn_begin(&st, NULL, 0, &txn), 0);
	memset(&id, 0, sizeof(id));
	id.failures = 2;
	cr_assert_eq(identity_save(txn, STORE_VERIFY_IDS, ks, &a, 10, &id), 0);
	cr_assert_eq(identity_save(txn, STORE_VERIFY_IDS, ks, &b, 11, &id), 0);
	id.failures = 1;
	cr_assert_eq(identity_save(txn, STORE_VERIFY_IDS, ks, &c, 11, &id), 0);
	uint32_t e1 = keyring_current(ks->ring, KEYRING_KEK);
	cr_assert_eq(identity_hash(ks, e1, &a, h1), 0);

	ks = keys_change(ks, 1, 0);
	uint32_t e2 = keyring_current(ks->ring, KEYRING_KEK);
	cr_assert_neq(e1, e2);
	cr_assert_eq(identity_hash(ks, e2, &a, h2), 0);
	cr_assert_neq(memcmp(h1, h2, sizeof(h1)), 0, "the hash changes with the epoch");
	/* Before the rekey: the old epoch's counts are found. */
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &a, 11, &id), 0);
	cr_assert_eq(id.failures_prev, 2);
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &c, 11, &id), 0);
	cr_assert_eq(id.failures, 1);
	/* A failure now is written under the new epoch; the old entry goes. */
	id.failures++;
	cr_assert_eq(identity_save(txn, STORE_VERIFY_IDS, ks, &c, 11, &id), 0);
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &c, 11, &id), 0);
	cr_assert_eq(id.failures, 2, "counted once, not twice");
	cr_assert_eq(entries(txn, STORE_VERIFY_IDS), 3);
	/* A damaged entry of the old epoch is dropped at the rekey. */
	uint8_t junk_key[IDENTITY_KEY_BYTES], junk[IDENTITY_VALUE_MAX];
	size_t jl;
	uint8_t sealed[IDENTITY_SEAL_OVERHEAD + 8] = { 0 };
	memset(junk_key, 0x77, sizeof(junk_key));
	identity_encode(&id, e1, sealed, sizeof(sealed), junk, &jl);
	struct store_val jk = { sizeof(junk_key), junk_key }, jv = { jl, junk };
	cr_assert_eq(store_put(txn, STORE_VERIFY_IDS, &jk, &jv, 0), 0);
	cr_assert_eq(identity_rekey(txn, STORE_VERIFY_IDS, ks, e2, &moved, &dropped), 0);
	cr_assert_eq(moved, 2, "a and b");
	cr_assert_eq(dropped, 1, "the entry that does not open");
	cr_assert_eq(entries(txn, STORE_VERIFY_IDS), 3);

	/* After the retire of the old epoch: every count is still there. */
	ks = keys_change(ks, 0, e1);
	cr_assert_eq(identity_rekey(txn, STORE_VERIFY_IDS, ks, e2, &moved, &dropped), 0);
	cr_assert_eq(moved + dropped, 0, "the rekey left nothing of the old epoch");
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &a, 11, &id), 0);
	cr_assert_eq(id.failures_prev, 2);
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &b, 11, &id), 0);
	cr_assert_eq(id.failures, 2);
	cr_assert_eq(identity_load(txn, STORE_VERIFY_IDS, ks, &c, 11, &id), 0);
	cr_assert_eq(id.failures, 2);
	/* No key holds an entry under the old hash. */
	uint8_t k1[IDENTITY_KEY_BYTES];
	store_put_id(k1, 10);
	memcpy(k1 + 8, h1, sizeof(h1));
	struct store_val kk = { sizeof(k1), k1 }, vv;
	cr_assert_eq(store_get(txn, STORE_VERIFY_IDS, &kk, &vv), STORE_NOTFOUND);
	cr_assert_eq(entries(txn, STORE_VERIFY_IDS), 3);
	store_txn_abort(txn);
	store_close(&st);
	key_set_free(ks);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
