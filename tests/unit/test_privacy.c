/*
 * test_privacy.c - the privacy features' pure parts: canonical forms of
 * claimed values (what makes "ADA  lovelace" match "Ada Lovelace"), and
 * the stored forms of requests and holds, which must read back exactly
 * and refuse damage.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "vault/privacy/blind.h"
#include "vault/privacy/hold.h"
#include "vault/privacy/request.h"

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
	r->nclaims = 1;
	r->claims[0].kind = BLIND_PHONE;
	r->claims[0].version = 2;
	memset(r->claims[0].tag, 0x22, BLIND_TAG_BYTES);
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
	cr_assert_eq(d.nclaims, 1);
	cr_assert_eq(d.claims[0].kind, BLIND_PHONE);
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
