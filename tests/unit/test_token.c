/*
 * test_token.c - record, opaque, deterministic and card tokens (token.h).
 *
 * Two independent key rings are created in a temporary directory; tokens
 * of one must be refused by the other. Every text handed to token_parse()
 * is first copied into a heap block of exactly its length, so the address
 * sanitizer catches any read past len.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <vault/vault.h>

#include "keys/keyring.h"
#include "vault/crypto/token.h"
#include "vault/record/fields.h"

static const char B64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#define REC_LEN (sizeof("rec_1_") - 1 + 32)
#define TOK_LEN (sizeof("tok_1_") - 1 + 48)
#define DET_LEN (sizeof("det_1_") - 1 + 32)

static char dir[64];
static uint8_t root[KEYRING_KEY_BYTES];
static struct keyring *kr, *kr_other;
static struct token_keys *tk, *tk_other;

/* ---- fixture ---------------------------------------------------------- */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static struct keyring *
make_ring(const char *name, const uint8_t *key)
{
	char path[128];
	const char *why = NULL;
	struct keyring *r = NULL;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	cr_assert_eq(keyring_create(path, key, &r, &why), 0, "keyring_create: %s", why);
	return r;
}

static void
setup(void)
{
	cr_assert_geq(sodium_init(), 0);
	snprintf(dir, sizeof dir, "/tmp/vault-token-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	randombytes_buf(root, sizeof root);
	kr = make_ring("ring", root);
	kr_other = make_ring("other", root);
	cr_assert_eq(token_keys_derive(kr, &tk), 0);
	cr_assert_eq(token_keys_derive(kr_other, &tk_other), 0);
}

static void
teardown(void)
{
	token_keys_free(tk);
	token_keys_free(tk_other);
	keyring_free(kr);
	keyring_free(kr_other);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(token, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------- */

static int
is_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* token_parse on an exact-size heap copy of s[0..len). */
static int
parse_n(const struct token_keys *k, const char *s, size_t len, struct token_ref *ref)
{
	char *copy = malloc(len ? len : 1);
	cr_assert_not_null(copy);
	memcpy(copy, s, len);
	int rc = token_parse(k, copy, len, ref);
	free(copy);
	return rc;
}

static int
parse(const struct token_keys *k, const char *s, struct token_ref *ref)
{
	return parse_n(k, s, strlen(s), ref);
}

static void
expect_bad_n(const char *s, size_t len, const char *what)
{
	struct token_ref ref;
	int rc = parse_n(tk, s, len, &ref);
	cr_assert_eq(rc, VAULT_E_BAD_TOKEN, "%s: \"%.*s\" gave %d, want BAD_TOKEN",
	    what, (int)len, s, rc);
}

static void
expect_bad(const char *s, const char *what)
{
	expect_bad_n(s, strlen(s), what);
}

/*
 * Every single-character change of tok, to every other base64url character
 * and to every ASCII byte outside the alphabet, must be refused. (Bytes
 * 0x80-0xff are covered by non_ascii_byte_in_payload_rejected.)
 */
static void
expect_every_flip_rejected(const char *tok)
{
	size_t len = strlen(tok);
	char t[TOKEN_MAX_LEN + 1];

	for (size_t i = 0; i < len; i++) {
		for (int c = 1; c < 0x80; c++) {
			if (c == tok[i])
				continue;
			memcpy(t, tok, len + 1);
			t[i] = (char)c;
			expect_bad(t, strchr(B64URL, c) ? "one character changed" :
			    "one character replaced by a non-base64url one");
		}
	}
}

/* Every proper prefix and a few one-character extensions must be refused. */
static void
expect_truncations_rejected(const char *tok)
{
	size_t len = strlen(tok);
	char t[TOKEN_MAX_LEN + 2];

	for (size_t n = 0; n < len; n++)
		expect_bad_n(tok, n, "truncated");
	for (const char *c = "A_-0="; *c != '\0'; c++) {
		memcpy(t, tok, len);
		t[len] = *c;
		expect_bad_n(t, len + 1, "extended by one character");
	}
}

/* A deterministic generator for test inputs (xorshift64*). */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

/* Luhn check written independently of token.c. */
static int
luhn_valid(const char *d, size_t len)
{
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned x = (unsigned)(d[len - 1 - i] - '0');
		if (i % 2 == 1)
			x = x * 2 > 9 ? x * 2 - 9 : x * 2;
		sum += x;
	}
	return sum % 10 == 0;
}

/* Fill out[0..len) with random digits whose last one makes it Luhn-valid. */
static void
random_luhn(char *out, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		out[i] = (char)('0' + rng() % 10);
	out[len] = '\0';
	for (char c = '0'; c <= '9'; c++) {
		out[len - 1] = c;
		if (luhn_valid(out, len))
			return;
	}
	cr_assert_fail("no Luhn digit found");
}

static int
all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/*
 * A card token for card, drawing again while it equals the card, as
 * token.h asks of the caller. A token generator that ignored the random
 * draw would still fail here after three tries.
 */
static void
card_token(const struct token_keys *k, const char *card, char *out)
{
	size_t len = strlen(card);
	for (int tries = 0; tries < 3; tries++) {
		cr_assert_eq(token_card_make(k, card, len, out), 0);
		if (strcmp(out, card) != 0)
			return;
	}
	cr_assert_fail("card token equals the card three times in a row: %s", card);
}

/* ---- record tokens ---------------------------------------------------- */

static const uint64_t ids[] = {
	0, 1, 2, 255, 256, 65535, 65536, 0xffffffffu, 0x100000000u,
	0x0123456789abcdefu, UINT64_MAX - 1, UINT64_MAX,
};

Test(token, record_round_trip_and_format)
{
	char prefix[16];
	snprintf(prefix, sizeof prefix, "rec_%u_", token_keys_current(tk));
	cr_assert_str_eq(prefix, "rec_1_", "a new ring's token key has version 1");

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char t[TOKEN_MAX_LEN + 1];
		struct token_ref ref;

		memset(t, 'x', sizeof t);
		cr_assert_eq(token_record_make(tk, ids[i], t), 0);
		cr_assert_eq(strncmp(t, prefix, strlen(prefix)), 0, "token %s", t);
		cr_assert_eq(strlen(t), REC_LEN, "id %llu: length %zu",
		    (unsigned long long)ids[i], strlen(t));
		for (size_t j = strlen(prefix); j < REC_LEN; j++)
			cr_assert_not_null(strchr(B64URL, t[j]), "non-base64url char in %s", t);
		cr_assert_eq(parse(tk, t, &ref), 0, "token %s refused", t);
		cr_assert_eq(ref.type, TOKEN_RECORD);
		cr_assert_eq(ref.key_version, 1);
		cr_assert_eq(ref.record_id, ids[i], "id %llu came back as %llu",
		    (unsigned long long)ids[i], (unsigned long long)ref.record_id);
	}
}

Test(token, record_tokens_are_deterministic_and_distinct)
{
	char a[TOKEN_MAX_LEN + 1], b[TOKEN_MAX_LEN + 1];
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		token_record_make(tk, ids[i], a);
		token_record_make(tk, ids[i], b);
		cr_assert_str_eq(a, b, "same id, different token");
		for (size_t j = 0; j < i; j++) {
			token_record_make(tk, ids[j], b);
			cr_assert_str_neq(a, b, "ids %zu and %zu share a token", i, j);
		}
	}
}

Test(token, record_token_survives_reloading_the_ring)
{
	char path[128], t[TOKEN_MAX_LEN + 1];
	const char *why = NULL;
	struct keyring *loaded = NULL;
	struct token_keys *tk2 = NULL;
	struct token_ref ref;

	snprintf(path, sizeof path, "%s/ring", dir);
	cr_assert_eq(keyring_load(path, root, &loaded, &why), 0, "%s", why);
	cr_assert_eq(token_keys_derive(loaded, &tk2), 0);
	token_record_make(tk, 4242, t);
	cr_assert_eq(parse(tk2, t, &ref), 0);
	cr_assert_eq(ref.record_id, 4242);
	token_keys_free(tk2);
	keyring_free(loaded);
}

Test(token, record_every_single_character_change_rejected)
{
	char t[TOKEN_MAX_LEN + 1];
	token_record_make(tk, 0, t);
	expect_every_flip_rejected(t);
	token_record_make(tk, 123456789, t);
	expect_every_flip_rejected(t);
}

Test(token, record_truncated_or_extended_rejected)
{
	char t[TOKEN_MAX_LEN + 1];
	token_record_make(tk, 77, t);
	expect_truncations_rejected(t);
}

Test(token, record_wrong_prefix_or_version_rejected)
{
	char t[TOKEN_MAX_LEN + 1], bad[TOKEN_MAX_LEN + 32];
	struct token_ref ref;
	token_record_make(tk, 77, t);
	const char *payload = t + strlen("rec_1_");
	static const char *const prefixes[] = {
		"REC_1_", "rek_1_", "rec-1-", "rec1_", "rec__", "rec_1", "_1_",
		"tok_1_",   /* a record payload read as an opaque token */
		"det_1_",   /* same length as a det payload: only the MAC stops it */
		"rec_0_",   /* version 0 does not exist */
		"rec_01_",  /* leading zero: one text per token */
		"rec_001_",
		"rec_2_",   /* a version this ring does not have */
		"rec_10_",
		"rec_4294967297_", /* 2^32 + 1: must not wrap around to 1 */
		"rec_99999999999999999999_",
		"rec_+1_", "rec_-1_", "rec_ 1_",
	};

	cr_assert_eq(parse(tk, t, &ref), 0, "the unmodified token must pass");
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		snprintf(bad, sizeof bad, "%s%s", prefixes[i], payload);
		if (strlen(bad) > TOKEN_MAX_LEN)
			bad[TOKEN_MAX_LEN] = '\0';
		expect_bad(bad, prefixes[i]);
	}
	expect_bad("", "empty");
	expect_bad("rec_1_", "prefix only");
}

Test(token, tokens_of_another_ring_rejected)
{
	char t[TOKEN_MAX_LEN + 1];
	uint8_t tag[TOKEN_TAG_BYTES];
	struct token_ref ref;

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		token_record_make(tk_other, ids[i], t);
		expect_bad(t, "record token of another ring");
		cr_assert_eq(parse(tk_other, t, &ref), 0, "its own ring accepts it");
		token_opaque_make(tk_other, ids[i], FIELD_EMAIL, 3, t);
		expect_bad(t, "opaque token of another ring");
	}
	token_det_make(tk_other, "a", 1, FIELD_EMAIL, "a@example.com", 13, t, tag);
	expect_bad(t, "det token of another ring");
}

/* ---- opaque tokens ---------------------------------------------------- */

Test(token, opaque_round_trip)
{
	static const struct { uint64_t id; uint8_t field; uint32_t gen; } cases[] = {
		{ 0, FIELD_FIRST_NAME, 0 },
		{ 1, FIELD_EMAIL, 1 },
		{ 0x0123456789abcdefu, FIELD_CARD_NUMBER, 0xdeadbeef },
		{ UINT64_MAX, FIELD_MAX, UINT32_MAX },
		{ UINT64_MAX, 255, UINT32_MAX },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char t[TOKEN_MAX_LEN + 1];
		struct token_ref ref;

		cr_assert_eq(token_opaque_make(tk, cases[i].id, cases[i].field,
		    cases[i].gen, t), 0);
		cr_assert_eq(strncmp(t, "tok_1_", 6), 0, "token %s", t);
		cr_assert_eq(strlen(t), TOK_LEN, "length %zu", strlen(t));
		cr_assert_eq(parse(tk, t, &ref), 0, "token %s refused", t);
		cr_assert_eq(ref.type, TOKEN_OPAQUE);
		cr_assert_eq(ref.key_version, 1);
		cr_assert_eq(ref.record_id, cases[i].id);
		cr_assert_eq(ref.field, cases[i].field);
		cr_assert_eq(ref.field_gen, cases[i].gen);
	}
}

Test(token, opaque_issuances_differ)
{
	enum { N = 200 };
	static char t[N][TOKEN_MAX_LEN + 1];
	for (int i = 0; i < N; i++) {
		struct token_ref ref;
		token_opaque_make(tk, 99, FIELD_PHONE, 5, t[i]);
		cr_assert_eq(parse(tk, t[i], &ref), 0);
		cr_assert_eq(ref.record_id, 99);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(t[i], t[j], "issuances %d and %d equal", i, j);
	}
}

Test(token, opaque_tampering_rejected)
{
	char t[TOKEN_MAX_LEN + 1];
	token_opaque_make(tk, 5, FIELD_EMAIL, 2, t);
	expect_every_flip_rejected(t);
	expect_truncations_rejected(t);

	/* An opaque payload under another prefix. */
	char bad[TOKEN_MAX_LEN + 8];
	snprintf(bad, sizeof bad, "rec_1_%s", t + 6);
	expect_bad(bad, "opaque payload as a record token");
	snprintf(bad, sizeof bad, "tok_2_%s", t + 6);
	expect_bad(bad, "opaque token with an unknown version");
}

/* ---- deterministic tokens -------------------------------------------- */

static void
det(uint8_t field, const char *value, char *t, uint8_t tag[TOKEN_TAG_BYTES])
{
	cr_assert_eq(token_det_make(tk, "a", 1, field, value, strlen(value), t, tag), 0);
}

Test(token, det_same_input_same_token_and_tag)
{
	char a[TOKEN_MAX_LEN + 1], b[TOKEN_MAX_LEN + 1];
	uint8_t ta[TOKEN_TAG_BYTES], tb[TOKEN_TAG_BYTES];
	struct token_ref ref;

	det(FIELD_EMAIL, "alice@example.com", a, ta);
	det(FIELD_EMAIL, "alice@example.com", b, tb);
	cr_assert_str_eq(a, b);
	cr_assert_arr_eq(ta, tb, TOKEN_TAG_BYTES);
	cr_assert_eq(strncmp(a, "det_1_", 6), 0, "token %s", a);
	cr_assert_eq(strlen(a), DET_LEN);

	cr_assert_eq(parse(tk, a, &ref), 0);
	cr_assert_eq(ref.type, TOKEN_DET);
	cr_assert_eq(ref.key_version, 1);
	cr_assert_arr_eq(ref.tag, ta, TOKEN_TAG_BYTES, "parsed tag differs from the made one");
}

Test(token, det_different_field_or_value_differs)
{
	static const struct { uint8_t field; const char *value; } in[] = {
		{ FIELD_EMAIL, "alice@example.com" },
		{ FIELD_EMAIL, "alice@example.org" },
		{ FIELD_EMAIL, "alice@example.co" },
		{ FIELD_EMAIL, "" },
		{ FIELD_FIRST_NAME, "alice@example.com" },
		{ FIELD_LAST_NAME, "alice@example.com" },
		{ FIELD_PHONE, "+15551234567" },
		{ FIELD_BANK_ACCOUNT, "+15551234567" },
	};
	enum { N = sizeof in / sizeof in[0] };
	char t[N][TOKEN_MAX_LEN + 1];
	uint8_t tag[N][TOKEN_TAG_BYTES];

	for (size_t i = 0; i < N; i++) {
		det(in[i].field, in[i].value, t[i], tag[i]);
		for (size_t j = 0; j < i; j++) {
			cr_assert_str_neq(t[i], t[j], "inputs %zu and %zu share a token", i, j);
			cr_assert(memcmp(tag[i], tag[j], TOKEN_TAG_BYTES) != 0,
			    "inputs %zu and %zu share a tag", i, j);
		}
	}
}

/*
 * Join domains (policy.h): the same value gives the same token within a
 * domain and unrelated tokens across domains, so a client cannot compare
 * its tokens with those of a client the policy puts elsewhere. Both still
 * parse (the MAC covers the tag, not the domain).
 */
Test(token, det_tags_are_keyed_per_join_domain)
{
	static const char *const domains[] = { "payments", "marketing", "crm", "a", "b",
	    "payment", "paymentss" };
	enum { N = sizeof domains / sizeof domains[0] };
	char t[N][TOKEN_MAX_LEN + 1], again[TOKEN_MAX_LEN + 1];
	uint8_t tag[N][TOKEN_TAG_BYTES], ta[TOKEN_TAG_BYTES];
	struct token_ref ref;
	const char *v = "4242424242424242";

	for (size_t i = 0; i < N; i++) {
		cr_assert_eq(token_det_make(tk, domains[i], strlen(domains[i]), FIELD_CARD_NUMBER,
		    v, strlen(v), t[i], tag[i]), 0);
		cr_assert_eq(token_det_make(tk, domains[i], strlen(domains[i]), FIELD_CARD_NUMBER,
		    v, strlen(v), again, ta), 0);
		cr_assert_str_eq(t[i], again, "same domain, same value: same token");
		cr_assert_eq(parse(tk, t[i], &ref), 0);
		cr_assert_eq(ref.type, TOKEN_DET);
		cr_assert_arr_eq(ref.tag, tag[i], TOKEN_TAG_BYTES);
		for (size_t j = 0; j < i; j++) {
			cr_assert_str_neq(t[i], t[j], "domains %s and %s share a token",
			    domains[i], domains[j]);
			cr_assert(memcmp(tag[i], tag[j], TOKEN_TAG_BYTES) != 0);
		}
	}
	/* No domain, or one longer than a policy name: refused, not defaulted. */
	cr_assert_eq(token_det_make(tk, "", 0, FIELD_EMAIL, "x", 1, again, ta),
	    VAULT_E_INVALID_VALUE);
	cr_assert_eq(token_det_make(tk, NULL, 0, FIELD_EMAIL, "x", 1, again, ta),
	    VAULT_E_INVALID_VALUE);
	cr_assert_eq(token_det_make(tk, "0123456789012345678901234567890123", 32, FIELD_EMAIL,
	    "x", 1, again, ta), VAULT_E_INVALID_VALUE);
}

Test(token, det_value_bytes_all_count)
{
	/* Embedded NUL bytes and high bytes are part of the value. */
	char a[TOKEN_MAX_LEN + 1], b[TOKEN_MAX_LEN + 1];
	uint8_t ta[TOKEN_TAG_BYTES], tb[TOKEN_TAG_BYTES];
	token_det_make(tk, "a", 1, FIELD_COOKIE_ID, "ab\0c", 4, a, ta);
	token_det_make(tk, "a", 1, FIELD_COOKIE_ID, "ab\0d", 4, b, tb);
	cr_assert_str_neq(a, b);
	token_det_make(tk, "a", 1, FIELD_COOKIE_ID, "ab", 2, b, tb);
	cr_assert_str_neq(a, b);
}

Test(token, det_tampering_rejected)
{
	char t[TOKEN_MAX_LEN + 1], bad[TOKEN_MAX_LEN + 8];
	uint8_t tag[TOKEN_TAG_BYTES];

	det(FIELD_EMAIL, "bob@example.com", t, tag);
	expect_every_flip_rejected(t);
	expect_truncations_rejected(t);
	snprintf(bad, sizeof bad, "rec_1_%s", t + 6);
	expect_bad(bad, "det payload as a record token");
}

/*
 * Regression: libsodium 1.0.18's sodium_base642bin() decodes every byte
 * 0x80-0xff as the base64url digit '_' (63) instead of refusing it (its
 * constant-time comparisons break on sign-extended chars). token.c once
 * relied on it alone, so any '_' in a payload could be replaced by any of
 * 128 non-ASCII bytes and token_parse() accepted the text as the same
 * token: one token, many texts. About 40% of 32-character payloads hold a
 * '_'; the test finds such tokens of each kind and tries all 128 bytes.
 */
static void
expect_high_bytes_rejected(const char *tok, const char *what)
{
	const char *u = strchr(tok + 6, '_');
	char t[TOKEN_MAX_LEN + 1];
	int accepted = 0;
	cr_assert_not_null(u);
	for (int c = 0x80; c <= 0xff; c++) {
		struct token_ref ref;
		memcpy(t, tok, strlen(tok) + 1);
		t[u - tok] = (char)c;
		if (parse(tk, t, &ref) != VAULT_E_BAD_TOKEN)
			accepted++;
	}
	/* Not fatal: report every token kind. */
	cr_expect_eq(accepted, 0, "%s: %d of 128 variants of %s accepted", what, accepted, tok);
}

Test(token, non_ascii_byte_in_payload_rejected)
{
	char t[TOKEN_MAX_LEN + 1];
	uint8_t tag[TOKEN_TAG_BYTES];
	uint64_t id;
	char value[32];

	/* Find tokens whose payload holds a '_' (a few tries at most). */
	for (id = 1; token_record_make(tk, id, t), strchr(t + 6, '_') == NULL; id++)
		cr_assert_lt(id, 10000);
	expect_high_bytes_rejected(t, "record token with a byte >= 0x80");
	for (id = 1; token_opaque_make(tk, id, FIELD_EMAIL, 1, t), strchr(t + 6, '_') == NULL; id++)
		cr_assert_lt(id, 10000);
	expect_high_bytes_rejected(t, "opaque token with a byte >= 0x80");
	for (id = 1;; id++) {
		cr_assert_lt(id, 10000);
		snprintf(value, sizeof value, "user%llu@example.com", (unsigned long long)id);
		token_det_make(tk, "a", 1, FIELD_EMAIL, value, strlen(value), t, tag);
		if (strchr(t + 6, '_') != NULL)
			break;
	}
	expect_high_bytes_rejected(t, "det token with a byte >= 0x80");
}

/* ---- card tokens ------------------------------------------------------ */

Test(token, card_token_properties_for_every_length)
{
	for (size_t len = CARD_MIN_DIGITS; len <= CARD_MAX_DIGITS; len++) {
		for (int n = 0; n < 300; n++) {
			char card[CARD_MAX_DIGITS + 1], t[TOKEN_MAX_LEN + 1];
			uint8_t key[TOKEN_TAG_BYTES];
			struct token_ref ref;

			random_luhn(card, len);
			card_token(tk, card, t);
			cr_assert_eq(strlen(t), len, "card %s -> token %s", card, t);
			cr_assert(all_digits(t, len), "token %s has non-digits", t);
			cr_assert_eq(memcmp(t + len - 4, card + len - 4, 4), 0,
			    "last four not kept: %s -> %s", card, t);
			cr_assert(luhn_valid(t, len), "token %s not Luhn-valid", t);
			cr_assert_eq(parse(tk, t, &ref), 0, "own card token %s refused", t);
			cr_assert_eq(ref.type, TOKEN_CARD);
			cr_assert_eq(ref.field, FIELD_CARD_NUMBER);
			cr_assert_eq(ref.field, 8);
			cr_assert_eq(ref.key_version, 1);
			cr_assert_eq(token_card_index_key(tk, 1, t, len, key), 0);
			cr_assert(!is_zero(key, TOKEN_TAG_BYTES), "no index key for %s", t);
		}
	}
}

Test(token, card_tokens_are_random)
{
	char card[17], a[TOKEN_MAX_LEN + 1], b[TOKEN_MAX_LEN + 1];
	uint8_t ka[TOKEN_TAG_BYTES], kb[TOKEN_TAG_BYTES];

	random_luhn(card, 16);
	card_token(tk, card, a);
	card_token(tk, card, b);
	cr_assert_str_neq(a, b, "two card tokens for one card are equal");
	cr_assert_eq(token_card_index_key(tk, 1, a, 16, ka), 0);
	cr_assert_eq(token_card_index_key(tk, 1, b, 16, kb), 0);
	cr_assert(memcmp(ka, kb, TOKEN_TAG_BYTES) != 0, "index keys collide");
}

Test(token, card_wrong_lengths_refused)
{
	char t[TOKEN_MAX_LEN + 1];
	struct token_ref ref;
	char card[CARD_MAX_DIGITS + 2];

	random_luhn(card, CARD_MIN_DIGITS - 1);
	cr_assert_eq(token_card_make(tk, card, strlen(card), t), VAULT_E_INVALID_VALUE);
	expect_bad(card, "12-digit Luhn-valid string");
	random_luhn(card, CARD_MAX_DIGITS + 1);
	cr_assert_eq(token_card_make(tk, card, strlen(card), t), VAULT_E_INVALID_VALUE);
	expect_bad(card, "20-digit Luhn-valid string");

	/* A valid 16-digit token with a separator is not a token. */
	random_luhn(card, 16);
	card_token(tk, card, t);
	cr_assert_eq(parse(tk, t, &ref), 0);
	char spaced[TOKEN_MAX_LEN + 2];
	memcpy(spaced, t, 8);
	spaced[8] = ' ';
	memcpy(spaced + 9, t + 8, 16 - 8 + 1);
	expect_bad(spaced, "card token with a space");
}

Test(token, card_one_digit_changed_rejected)
{
	for (size_t len = CARD_MIN_DIGITS; len <= CARD_MAX_DIGITS; len++) {
		char card[CARD_MAX_DIGITS + 1], t[TOKEN_MAX_LEN + 1], m[TOKEN_MAX_LEN + 1];
		random_luhn(card, len);
		card_token(tk, card, t);
		for (size_t i = 0; i < len; i++) {
			for (char c = '0'; c <= '9'; c++) {
				if (c == t[i])
					continue;
				memcpy(m, t, len + 1);
				m[i] = c;
				expect_bad(m, "card token with one digit changed");
			}
		}
	}
}

/*
 * Guessing: random Luhn-valid digit strings pass token_parse with the
 * probability of the MAC digits (token.h: 1e-4, 1e-3 for short cards).
 */
static double
forgery_rate(const struct token_keys *k, size_t len, unsigned tries)
{
	unsigned accepted = 0;
	for (unsigned i = 0; i < tries; i++) {
		char s[CARD_MAX_DIGITS + 1];
		struct token_ref ref;
		random_luhn(s, len);
		if (token_parse(k, s, len, &ref) == 0)
			accepted++;
	}
	cr_log_info("%zu digits: %u of %u random strings accepted", len, accepted, tries);
	return (double)accepted / tries;
}

Test(token, card_random_digit_strings_rarely_accepted)
{
	double r16 = forgery_rate(tk, 16, 200000);
	cr_assert_lt(r16, 5e-4, "16 digits: rate %g, documented 1e-4", r16);
	double r13 = forgery_rate(tk, 13, 100000);
	cr_assert_lt(r13, 3e-3, "13 digits: rate %g, documented 1e-3", r13);
	double r19 = forgery_rate(tk, 19, 100000);
	cr_assert_lt(r19, 5e-4, "19 digits: rate %g, documented 1e-4", r19);
}

Test(token, card_tokens_of_another_ring_mostly_rejected)
{
	/* Each slips through with probability 1e-4 (a MAC collision). */
	int accepted = 0;
	for (int i = 0; i < 200; i++) {
		char card[17], t[TOKEN_MAX_LEN + 1];
		struct token_ref ref;
		random_luhn(card, 16);
		card_token(tk_other, card, t);
		if (parse(tk, t, &ref) == 0)
			accepted++;
	}
	cr_assert_leq(accepted, 2, "%d of 200 foreign card tokens accepted", accepted);
}

/* ---- KEK-epoch keyed deterministic tags and card index keys (issue 13) -- */

/* The documented derivation (PROTOCOL.md, "Tokens"), from the KEK alone. */
static void
expected_det_tag(const uint8_t *kek, const char *domain, uint8_t field,
    const char *value, uint8_t tag[TOKEN_TAG_BYTES])
{
	uint8_t sub[32], head[2] = { 0xff, (uint8_t)strlen(domain) };
	crypto_generichash_state st;
	crypto_kdf_derive_from_key(sub, sizeof(sub), 1, "vdettag2", kek);
	crypto_generichash_init(&st, sub, sizeof(sub), TOKEN_TAG_BYTES);
	crypto_generichash_update(&st, head, sizeof(head));
	crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain));
	crypto_generichash_update(&st, &field, 1);
	crypto_generichash_update(&st, (const uint8_t *)value, strlen(value));
	crypto_generichash_final(&st, tag, TOKEN_TAG_BYTES);
}

static void
expected_card_index_key(const uint8_t *kek, const char *token, uint8_t key[TOKEN_TAG_BYTES])
{
	uint8_t sub[32], dom = 'i';
	crypto_generichash_state st;
	crypto_kdf_derive_from_key(sub, sizeof(sub), 1, "vcardix2", kek);
	crypto_generichash_init(&st, sub, sizeof(sub), TOKEN_TAG_BYTES);
	crypto_generichash_update(&st, &dom, 1);
	crypto_generichash_update(&st, (const uint8_t *)token, strlen(token));
	crypto_generichash_final(&st, key, TOKEN_TAG_BYTES);
}

/* A ring with kind rotated (new current key), derived; the caller frees. */
static struct keyring *
ring_rotated(const struct keyring *from, enum keyring_kind kind, struct token_keys **out)
{
	struct keyring *r = NULL;
	uint32_t v = 0;
	cr_assert_eq(keyring_with_new_key(from, kind, &r, &v), 0);
	cr_assert_eq(token_keys_derive(r, out), 0);
	return r;
}

Test(token, det_tag_is_keyed_by_the_kek_epoch_not_the_token_key)
{
	char t[TOKEN_MAX_LEN + 1];
	uint8_t tag[TOKEN_TAG_BYTES], want[TOKEN_TAG_BYTES];
	cr_assert_eq(token_keys_epoch(tk), 1);
	cr_assert_eq(token_det_make(tk, "crm", 3, FIELD_EMAIL, "ann@example.com", 15, t, tag), 0);
	expected_det_tag(keyring_key(kr, KEYRING_KEK, 1), "crm", FIELD_EMAIL, "ann@example.com",
	    want);
	cr_assert_arr_eq(tag, want, TOKEN_TAG_BYTES, "tag is not KEK epoch 1's vdettag2 hash");

	/* A token key rotation changes nothing of it. */
	struct token_keys *tk2;
	struct keyring *r2 = ring_rotated(kr, KEYRING_TOKEN, &tk2);
	char t2[TOKEN_MAX_LEN + 1];
	uint8_t tag2[TOKEN_TAG_BYTES];
	cr_assert_eq(token_det_make(tk2, "crm", 3, FIELD_EMAIL, "ann@example.com", 15, t2, tag2), 0);
	cr_assert_str_eq(t2, t, "a token key rotation changed the det token");
	token_keys_free(tk2);
	keyring_free(r2);
}

Test(token, det_token_of_new_epoch_and_retired_epoch)
{
	char t1[TOKEN_MAX_LEN + 1], t2[TOKEN_MAX_LEN + 1];
	uint8_t tag1[TOKEN_TAG_BYTES], tag2[TOKEN_TAG_BYTES], want[TOKEN_TAG_BYTES];
	struct token_ref ref;
	cr_assert_eq(token_det_make(tk, "crm", 3, FIELD_PHONE, "+15551234567", 12, t1, tag1), 0);
	cr_assert_eq(strncmp(t1, "det_1_", 6), 0, "%s", t1);

	/* Rotate the KEK: new tokens are det_2_, with an unrelated tag. */
	struct token_keys *tk2;
	struct keyring *r2 = ring_rotated(kr, KEYRING_KEK, &tk2);
	cr_assert_eq(token_keys_epoch(tk2), 2);
	cr_assert_eq(token_keys_nepochs(tk2), 2);
	cr_assert_eq(token_det_make(tk2, "crm", 3, FIELD_PHONE, "+15551234567", 12, t2, tag2), 0);
	cr_assert_eq(strncmp(t2, "det_2_", 6), 0, "%s", t2);
	cr_assert(memcmp(tag1, tag2, TOKEN_TAG_BYTES) != 0, "epochs 1 and 2 share a tag");
	expected_det_tag(keyring_key(r2, KEYRING_KEK, 2), "crm", FIELD_PHONE, "+15551234567", want);
	cr_assert_arr_eq(tag2, want, TOKEN_TAG_BYTES);
	/* Both epochs in the ring: both tokens parse, each with its epoch. */
	cr_assert_eq(parse(tk2, t1, &ref), 0);
	cr_assert_eq(ref.key_version, 1);
	cr_assert_arr_eq(ref.tag, tag1, TOKEN_TAG_BYTES);
	cr_assert_eq(parse(tk2, t2, &ref), 0);
	cr_assert_eq(ref.key_version, 2);
	cr_assert_eq(ref.retired_epoch, 0);

	/* Retire epoch 1: its token is refused as retired; epoch 2's stays. */
	struct keyring *r3 = NULL;
	struct token_keys *tk3;
	const char *why = NULL;
	cr_assert_eq(keyring_without_key(r2, KEYRING_KEK, 1, &r3, &why), 0, "%s", why);
	cr_assert_eq(token_keys_derive(r3, &tk3), 0);
	cr_assert_eq(token_keys_has_epoch(tk3, 1), 0);
	cr_assert_eq(parse(tk3, t1, &ref), VAULT_E_BAD_TOKEN);
	cr_assert_eq(ref.retired_epoch, 1, "a retired epoch's token not marked retired");
	cr_assert_eq(parse(tk3, t2, &ref), 0);
	/* An epoch that never existed is a plain bad token. */
	char t9[TOKEN_MAX_LEN + 1];
	snprintf(t9, sizeof(t9), "det_9_%s", t2 + 6);
	cr_assert_eq(parse(tk3, t9, &ref), VAULT_E_BAD_TOKEN);
	cr_assert_eq(ref.retired_epoch, 0);
	token_keys_free(tk3);
	keyring_free(r3);
	token_keys_free(tk2);
	keyring_free(r2);
}

Test(token, card_index_key_is_keyed_by_the_kek_epoch)
{
	char card[17], t[TOKEN_MAX_LEN + 1];
	uint8_t k1[TOKEN_TAG_BYTES], k2[TOKEN_TAG_BYTES], want[TOKEN_TAG_BYTES];
	struct token_ref ref;
	random_luhn(card, 16);
	card_token(tk, card, t);
	cr_assert_eq(token_card_index_key(tk, 1, t, 16, k1), 0);
	expected_card_index_key(keyring_key(kr, KEYRING_KEK, 1), t, want);
	cr_assert_arr_eq(k1, want, TOKEN_TAG_BYTES, "index key is not KEK epoch 1's vcardix2 hash");
	cr_assert_eq(token_card_index_key(tk, 2, t, 16, k2), VAULT_E_NOT_FOUND);

	/* A KEK rotation: a second key for the same token, unrelated. */
	struct token_keys *tk2;
	struct keyring *r2 = ring_rotated(kr, KEYRING_KEK, &tk2);
	cr_assert_eq(token_card_index_key(tk2, 2, t, 16, k2), 0);
	cr_assert(memcmp(k1, k2, TOKEN_TAG_BYTES) != 0, "epochs 1 and 2 share a card index key");
	cr_assert_eq(token_card_index_key(tk2, 1, t, 16, want), 0);
	cr_assert_arr_eq(want, k1, TOKEN_TAG_BYTES);

	/* The card token itself (a token key MAC) outlives the retire. */
	struct keyring *r3 = NULL;
	struct token_keys *tk3;
	const char *why = NULL;
	cr_assert_eq(keyring_without_key(r2, KEYRING_KEK, 1, &r3, &why), 0, "%s", why);
	cr_assert_eq(token_keys_derive(r3, &tk3), 0);
	cr_assert_eq(parse(tk3, t, &ref), 0, "card token refused after a KEK retire");
	cr_assert_eq(ref.type, TOKEN_CARD);
	cr_assert_eq(token_card_index_key(tk3, 1, t, 16, want), VAULT_E_NOT_FOUND);
	token_keys_free(tk3);
	keyring_free(r3);
	token_keys_free(tk2);
	keyring_free(r2);
}
