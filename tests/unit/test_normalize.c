/*
 * test_normalize.c - field validation and normalization (normalize.h).
 *
 * Every input is copied into a heap block of exactly its length, so the
 * address sanitizer catches any read past in_len.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "vault/record/normalize.h"

#define NOW_2025_06_15 ((time_t)1749988800)    /* 2025-06-15 12:00:00 UTC */
#define NOW_2025_06_30_END ((time_t)1751327999) /* 2025-06-30 23:59:59 UTC */
#define NOW_2025_07_01 ((time_t)1751328000)    /* 2025-07-01 00:00:00 UTC */

static const struct normalize_ctx ctx_us = { NOW_2025_06_15, "1" };
static const struct normalize_ctx ctx_gb = { NOW_2025_06_15, "44" };
static const struct normalize_ctx ctx_fr = { NOW_2025_06_15, "33" };
static const struct normalize_ctx ctx_nocode = { NOW_2025_06_15, NULL };
static const struct normalize_ctx ctx_emptycode = { NOW_2025_06_15, "" };

/* Run normalize_field on an exact-size heap copy of in[0..len). */
static int
run(enum field_id id, const char *in, size_t len, char *out, size_t cap,
    size_t *n, const struct normalize_ctx *c)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	cr_assert_not_null(copy);
	if (len)
		memcpy(copy, in, len);
	rc = normalize_field(id, copy, len, out, cap, n, c);
	free(copy);
	return rc;
}

static void
accept_ctx(int line, enum field_id id, const char *in, size_t len,
    const char *want, const struct normalize_ctx *c)
{
	char out[FIELD_VALUE_MAX];
	size_t n = 12345;
	int rc = run(id, in, len, out, sizeof out, &n, c);

	cr_assert_eq(rc, 0, "line %d: field %d: rc %d, want 0", line, id, rc);
	cr_assert_eq(n, strlen(want), "line %d: length %zu, want %zu", line,
	    n, strlen(want));
	cr_assert(memcmp(out, want, n) == 0, "line %d: got \"%.*s\", want \"%s\"",
	    line, (int)n, out, want);
}

static void
refuse_ctx(int line, enum field_id id, const char *in, size_t len,
    int want, const struct normalize_ctx *c)
{
	char out[FIELD_VALUE_MAX];
	size_t n = 12345;
	int rc = run(id, in, len, out, sizeof out, &n, c);

	cr_assert_eq(rc, want, "line %d: field %d: rc %d, want %d", line, id,
	    rc, want);
	cr_assert_eq(n, 0, "line %d: out_len not reset on error", line);
}

/* String literals: sizeof keeps embedded NUL bytes in the input. */
#define OK(id, lit, want) accept_ctx(__LINE__, id, lit, sizeof(lit) - 1, want, &ctx_us)
#define ERR(id, lit, code) refuse_ctx(__LINE__, id, lit, sizeof(lit) - 1, code, &ctx_us)
#define OK_CTX(c, id, lit, want) accept_ctx(__LINE__, id, lit, sizeof(lit) - 1, want, c)
#define ERR_CTX(c, id, lit, code) refuse_ctx(__LINE__, id, lit, sizeof(lit) - 1, code, c)
#define OK_BUF(id, buf, len, want) accept_ctx(__LINE__, id, buf, len, want, &ctx_us)
#define ERR_BUF(id, buf, len, code) refuse_ctx(__LINE__, id, buf, len, code, &ctx_us)

#define INVALID VAULT_E_INVALID_VALUE
#define TOO_LARGE VAULT_E_TOO_LARGE
#define EMPTY VAULT_E_EMPTY

/* A NUL-terminated run of n copies of c (n < sizeof the buffer). */
static char *
fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* ---- common rules ---- */

Test(normalize_common, unknown_field)
{
	char out[FIELD_VALUE_MAX];
	size_t n = 7;

	cr_assert_eq(normalize_field(FIELD_NONE, "x", 1, out, sizeof out, &n,
	    &ctx_us), VAULT_E_UNKNOWN_FIELD);
	cr_assert_eq(n, 0);
	cr_assert_eq(normalize_field((enum field_id)(FIELD_MAX + 1), "x", 1,
	    out, sizeof out, &n, &ctx_us), VAULT_E_UNKNOWN_FIELD);
	cr_assert_eq(normalize_field((enum field_id)FIELD_DOCUMENT, "x", 1,
	    out, sizeof out, &n, &ctx_us), VAULT_E_UNKNOWN_FIELD);
}

Test(normalize_common, empty_and_whitespace_only)
{
	for (unsigned id = 1; id <= FIELD_MAX; id++) {
		refuse_ctx(__LINE__, (enum field_id)id, "", 0, EMPTY, &ctx_us);
		refuse_ctx(__LINE__, (enum field_id)id, " \t\r\n\v\f ", 7, EMPTY,
		    &ctx_us);
	}
}

Test(normalize_common, null_input_with_zero_length_is_empty)
{
	char out[FIELD_VALUE_MAX];
	size_t n = 7;

	cr_assert_eq(normalize_field(FIELD_EMAIL, NULL, 0, out, sizeof out, &n,
	    &ctx_us), EMPTY);
	cr_assert_eq(n, 0);
}

Test(normalize_common, null_output_is_a_bug)
{
	char out[FIELD_VALUE_MAX];
	size_t n;

	cr_assert_eq(normalize_field(FIELD_FIRST_NAME, "Ann", 3, NULL, 16, &n,
	    &ctx_us), VAULT_E_INTERNAL);
	cr_assert_eq(normalize_field(FIELD_FIRST_NAME, "Ann", 3, out,
	    sizeof out, NULL, &ctx_us), VAULT_E_INTERNAL);
	cr_assert_eq(normalize_field(FIELD_FIRST_NAME, NULL, 3, out,
	    sizeof out, &n, &ctx_us), VAULT_E_INTERNAL);
}

Test(normalize_common, max_input_checked_before_anything_else)
{
	char buf[2048];
	size_t n;

	/* One byte over max_input, for every field, even if all spaces or
	 * holding a NUL: the length check comes first. */
	for (unsigned id = 1; id <= FIELD_MAX; id++) {
		const struct field_info *fi = field_by_id(id);

		cr_assert_not_null(fi);
		fill(buf, ' ', fi->max_input + 1);
		refuse_ctx(__LINE__, (enum field_id)id, buf, fi->max_input + 1,
		    TOO_LARGE, &ctx_us);
		buf[3] = '\0';
		refuse_ctx(__LINE__, (enum field_id)id, buf, fi->max_input + 1,
		    TOO_LARGE, &ctx_us);
		n = fi->max_input;
		refuse_ctx(__LINE__, (enum field_id)id, buf, n, INVALID,
		    &ctx_us);
	}
}

Test(normalize_common, nul_byte_refused_in_every_field)
{
	static const char *const good[FIELD_MAX + 1] = {
		[FIELD_FIRST_NAME] = "Ann",
		[FIELD_LAST_NAME] = "Lee",
		[FIELD_POSTAL_ADDRESS] = "1 Main St",
		[FIELD_EMAIL] = "a@example.com",
		[FIELD_PHONE] = "+442079460958",
		[FIELD_IP_ADDRESS] = "10.0.0.1",
		[FIELD_COOKIE_ID] = "abc",
		[FIELD_CARD_NUMBER] = "4111111111111111",
		[FIELD_CARD_EXPIRY] = "12/27",
		[FIELD_BANK_ACCOUNT] = "GB82WEST12345698765432",
	};
	char buf[64];

	for (unsigned id = 1; id <= FIELD_MAX; id++) {
		size_t len = strlen(good[id]);
		char out[FIELD_VALUE_MAX];
		size_t n;

		/* The plain value is accepted ... */
		cr_assert_eq(run((enum field_id)id, good[id], len, out,
		    sizeof out, &n, &ctx_us), 0, "field %u", id);
		/* ... with a NUL in the middle, at the end or alone it is not. */
		memcpy(buf, good[id], len);
		buf[len / 2] = '\0';
		refuse_ctx(__LINE__, (enum field_id)id, buf, len, INVALID, &ctx_us);
		memcpy(buf, good[id], len);
		buf[len] = '\0';
		refuse_ctx(__LINE__, (enum field_id)id, buf, len + 1, INVALID,
		    &ctx_us);
		refuse_ctx(__LINE__, (enum field_id)id, "\0", 1, INVALID, &ctx_us);
	}
}

Test(normalize_common, reads_only_in_len_bytes)
{
	/* The bytes after in_len are not part of the value. */
	OK_BUF(FIELD_FIRST_NAME, "Annabelle", 4, "Anna");
	OK_BUF(FIELD_EMAIL, "a@example.com.evil", 13, "a@example.com");
	OK_BUF(FIELD_IP_ADDRESS, "10.0.0.12", 8, "10.0.0.1");
	OK_BUF(FIELD_CARD_EXPIRY, "12/2799", 5, "12/27");
}

Test(normalize_common, out_cap_too_small)
{
	char out[FIELD_VALUE_MAX];
	size_t n = 9;

	cr_assert_eq(run(FIELD_FIRST_NAME, " Anna ", 6, out, 3, &n, &ctx_us),
	    TOO_LARGE);
	cr_assert_eq(n, 0);
	cr_assert_eq(run(FIELD_FIRST_NAME, " Anna ", 6, out, 4, &n, &ctx_us), 0);
	cr_assert_eq(n, 4);
	cr_assert(memcmp(out, "Anna", 4) == 0);
	cr_assert_eq(run(FIELD_PHONE, "(555) 123-4567", 14, out, 11, &n,
	    &ctx_us), TOO_LARGE);
	cr_assert_eq(run(FIELD_PHONE, "(555) 123-4567", 14, out, 12, &n,
	    &ctx_us), 0);
	cr_assert_eq(n, 12);
}

Test(normalize_common, output_untouched_on_error)
{
	char out[16];
	size_t n;

	memset(out, 'Z', sizeof out);
	cr_assert_eq(run(FIELD_EMAIL, "a@b", 3, out, sizeof out, &n, &ctx_us),
	    INVALID);
	for (size_t i = 0; i < sizeof out; i++)
		cr_assert_eq(out[i], 'Z');
}

/* ---- names ---- */

Test(normalize_name, trims_and_collapses_spaces)
{
	OK(FIELD_FIRST_NAME, "Anna", "Anna");
	OK(FIELD_FIRST_NAME, "  Jean   Paul  ", "Jean Paul");
	OK(FIELD_FIRST_NAME, "\t Anna \r\n", "Anna");
	OK(FIELD_LAST_NAME, "van   der  Berg", "van der Berg");
	OK(FIELD_LAST_NAME, "\v\fO'Brien-Smith\f", "O'Brien-Smith");
}

Test(normalize_name, keeps_case_and_unicode)
{
	OK(FIELD_LAST_NAME, "McDONALD", "McDONALD");
	OK(FIELD_FIRST_NAME, "jos\xc3\xa9", "jos\xc3\xa9");             /* é */
	OK(FIELD_FIRST_NAME, "\xe5\xbc\xa0\xe4\xbc\x9f", "\xe5\xbc\xa0\xe4\xbc\x9f");
	OK(FIELD_FIRST_NAME, "A\xc2\xa0" "B", "A\xc2\xa0" "B");         /* NBSP kept */
	OK(FIELD_FIRST_NAME, "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");   /* U+1F600 */
	OK(FIELD_FIRST_NAME, "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");   /* U+10FFFF */
	OK(FIELD_FIRST_NAME, "\xed\x9f\xbf", "\xed\x9f\xbf");           /* U+D7FF */
	OK(FIELD_FIRST_NAME, "\xee\x80\x80", "\xee\x80\x80");           /* U+E000 */
	OK(FIELD_FIRST_NAME, "\xc2\xa0x", "\xc2\xa0x");                 /* NBSP not trimmed */
}

Test(normalize_name, control_characters_refused)
{
	ERR(FIELD_FIRST_NAME, "Jo\thn", INVALID);
	ERR(FIELD_FIRST_NAME, "Jo\nhn", INVALID);
	ERR(FIELD_FIRST_NAME, "Jo\rhn", INVALID);
	ERR(FIELD_FIRST_NAME, "\x01John", INVALID);
	ERR(FIELD_FIRST_NAME, "John\x1f", INVALID);
	ERR(FIELD_FIRST_NAME, "Jo\x1bhn", INVALID);
	ERR(FIELD_FIRST_NAME, "John\x7f", INVALID);
	ERR(FIELD_LAST_NAME, "A\xc2\x80", INVALID);     /* U+0080 */
	ERR(FIELD_LAST_NAME, "A\xc2\x85" "B", INVALID); /* NEL */
	ERR(FIELD_LAST_NAME, "A\xc2\x9f", INVALID);     /* U+009F */
}

Test(normalize_name, invalid_utf8_refused)
{
	ERR(FIELD_FIRST_NAME, "\x80", INVALID);              /* lone continuation */
	ERR(FIELD_FIRST_NAME, "ab\xbf", INVALID);
	ERR(FIELD_FIRST_NAME, "\xc0\xaf", INVALID);          /* overlong '/' */
	ERR(FIELD_FIRST_NAME, "\xc1\xbf", INVALID);          /* overlong */
	ERR(FIELD_FIRST_NAME, "\xe0\x80\xaf", INVALID);      /* overlong 3 bytes */
	ERR(FIELD_FIRST_NAME, "\xe0\x9f\xbf", INVALID);      /* overlong U+07FF */
	ERR(FIELD_FIRST_NAME, "\xf0\x80\x80\xaf", INVALID);  /* overlong 4 bytes */
	ERR(FIELD_FIRST_NAME, "\xf0\x8f\xbf\xbf", INVALID);  /* overlong U+FFFF */
	ERR(FIELD_FIRST_NAME, "\xed\xa0\x80", INVALID);      /* U+D800 */
	ERR(FIELD_FIRST_NAME, "\xed\xbf\xbf", INVALID);      /* U+DFFF */
	ERR(FIELD_FIRST_NAME, "\xf4\x90\x80\x80", INVALID);  /* U+110000 */
	ERR(FIELD_FIRST_NAME, "\xf5\x80\x80\x80", INVALID);
	ERR(FIELD_FIRST_NAME, "\xf8\x88\x80\x80\x80", INVALID);
	ERR(FIELD_FIRST_NAME, "\xfe", INVALID);
	ERR(FIELD_FIRST_NAME, "\xff", INVALID);
	ERR(FIELD_FIRST_NAME, "ab\xe2\x82", INVALID);        /* truncated at end */
	ERR(FIELD_FIRST_NAME, "\xe2\x82 x", INVALID);        /* truncated inside */
	ERR(FIELD_FIRST_NAME, "\xc3", INVALID);
	ERR(FIELD_FIRST_NAME, "\xf0\x9f\x98", INVALID);
	ERR(FIELD_FIRST_NAME, "\xc3\xc3\xa9", INVALID);
}

Test(normalize_name, nul_refused)
{
	ERR(FIELD_FIRST_NAME, "An\0na", INVALID);
	ERR(FIELD_LAST_NAME, "Anna\0", INVALID);
	ERR(FIELD_LAST_NAME, " \0 ", INVALID);
}

Test(normalize_name, length_limits)
{
	char buf[512], want[200];

	OK_BUF(FIELD_FIRST_NAME, fill(buf, 'a', 128), 128, buf);
	ERR_BUF(FIELD_FIRST_NAME, fill(buf, 'a', 129), 129, TOO_LARGE);
	ERR_BUF(FIELD_LAST_NAME, fill(buf, 'a', 256), 256, TOO_LARGE);
	ERR_BUF(FIELD_LAST_NAME, fill(buf, 'a', 257), 257, TOO_LARGE);
	/* 256 input bytes that shrink to 3 after collapsing. */
	fill(buf, ' ', 256);
	buf[0] = 'a';
	buf[255] = 'b';
	OK_BUF(FIELD_FIRST_NAME, buf, 256, "a b");
	/* Surrounding whitespace counts towards max_input. */
	fill(buf, ' ', 257);
	memcpy(buf + 100, "Anna", 4);
	ERR_BUF(FIELD_FIRST_NAME, buf, 257, TOO_LARGE);
	OK_BUF(FIELD_FIRST_NAME, buf, 256, "Anna");
	/* 64 two-byte characters are exactly 128 bytes; 65 are too many. */
	for (size_t i = 0; i < 65; i++)
		memcpy(buf + 2 * i, "\xc3\xa9", 2);
	memcpy(want, buf, 128);
	want[128] = '\0';
	OK_BUF(FIELD_FIRST_NAME, buf, 128, want);
	ERR_BUF(FIELD_FIRST_NAME, buf, 130, TOO_LARGE);
}

/* ---- postal address ---- */

Test(normalize_address, line_breaks)
{
	OK(FIELD_POSTAL_ADDRESS, "1 Main St\r\nApt 2\rSpringfield\nUSA",
	    "1 Main St\nApt 2\nSpringfield\nUSA");
	OK(FIELD_POSTAL_ADDRESS, "a\r\n\r\nb", "a\n\nb");
	OK(FIELD_POSTAL_ADDRESS, "a\r\rb", "a\n\nb");
	OK(FIELD_POSTAL_ADDRESS, "a\n\r\nb", "a\n\nb");
	OK(FIELD_POSTAL_ADDRESS, "a\n\n\n\n\nb", "a\n\nb");
	OK(FIELD_POSTAL_ADDRESS, "a\n \n\t\n  \nb", "a\n\nb");
	OK(FIELD_POSTAL_ADDRESS, "\r\n\r\n a \r\n\r\n", "a");
}

Test(normalize_address, spaces_and_tabs)
{
	OK(FIELD_POSTAL_ADDRESS,
	    "  1  Main\tSt  \n\t Apt 2 \n\n\n\n Town  ",
	    "1 Main St\nApt 2\n\nTown");
	OK(FIELD_POSTAL_ADDRESS, "1\t\t\tMain St", "1 Main St");
	OK(FIELD_POSTAL_ADDRESS, "1 \t Main St  \r\n  Apt 2", "1 Main St\nApt 2");
	OK(FIELD_POSTAL_ADDRESS, "Stra\xc3\x9f" "e 5\nM\xc3\xbcnchen",
	    "Stra\xc3\x9f" "e 5\nM\xc3\xbcnchen");
	OK(FIELD_POSTAL_ADDRESS, "12 RUE de la Paix", "12 RUE de la Paix");
}

Test(normalize_address, refused)
{
	ERR(FIELD_POSTAL_ADDRESS, "a\vb", INVALID);
	ERR(FIELD_POSTAL_ADDRESS, "a\fb", INVALID);
	ERR(FIELD_POSTAL_ADDRESS, "a\x1b[31mb", INVALID);
	ERR(FIELD_POSTAL_ADDRESS, "a\x7f" "b", INVALID);
	ERR(FIELD_POSTAL_ADDRESS, "a\xc2\x85" "b", INVALID);
	ERR(FIELD_POSTAL_ADDRESS, "a\xed\xa0\x80", INVALID);
	ERR(FIELD_POSTAL_ADDRESS, "a\xc0\x8a" "b", INVALID); /* overlong LF */
	ERR(FIELD_POSTAL_ADDRESS, "1 Main\0St", INVALID);
	ERR(FIELD_POSTAL_ADDRESS, "\r\n \t\n", EMPTY);
}

Test(normalize_address, length_limits)
{
	char buf[2048];

	OK_BUF(FIELD_POSTAL_ADDRESS, fill(buf, 'x', 512), 512, buf);
	ERR_BUF(FIELD_POSTAL_ADDRESS, fill(buf, 'x', 513), 513, TOO_LARGE);
	ERR_BUF(FIELD_POSTAL_ADDRESS, fill(buf, 'x', 1024), 1024, TOO_LARGE);
	ERR_BUF(FIELD_POSTAL_ADDRESS, fill(buf, 'x', 1025), 1025, TOO_LARGE);
	/* 1024 bytes that shrink below the limit. */
	fill(buf, '\n', 1024);
	buf[0] = 'a';
	buf[1023] = 'b';
	OK_BUF(FIELD_POSTAL_ADDRESS, buf, 1024, "a\n\nb");
}

/* ---- email ---- */

Test(normalize_email, valid)
{
	OK(FIELD_EMAIL, "john@example.com", "john@example.com");
	OK(FIELD_EMAIL, "  John.Doe@Example.COM ", "John.Doe@example.com");
	OK(FIELD_EMAIL, "a@b.co.", "a@b.co");
	OK(FIELD_EMAIL, "a-b_c+tag@Sub.Example.ORG", "a-b_c+tag@sub.example.org");
	OK(FIELD_EMAIL, "!#$%&'*+/=?^_`{|}~-@x.io", "!#$%&'*+/=?^_`{|}~-@x.io");
	OK(FIELD_EMAIL, "a@123.example.com", "a@123.example.com");
	OK(FIELD_EMAIL, "a@x.c0m", "a@x.c0m");
	OK(FIELD_EMAIL, "a@a-b.c-d.e", "a@a-b.c-d.e");
	OK(FIELD_EMAIL, "a@XN--BCHER-KVA.ch", "a@xn--bcher-kva.ch");
	OK(FIELD_EMAIL, "A.B.C@D.E", "A.B.C@d.e");
}

Test(normalize_email, syntax_refused)
{
	ERR(FIELD_EMAIL, "john.example.com", INVALID);
	ERR(FIELD_EMAIL, "a@@b.com", INVALID);
	ERR(FIELD_EMAIL, "a@b@c.com", INVALID);
	ERR(FIELD_EMAIL, "@b.com", INVALID);
	ERR(FIELD_EMAIL, "a@", INVALID);
	ERR(FIELD_EMAIL, "a@.", INVALID);
	ERR(FIELD_EMAIL, "\"a b\"@x.com", INVALID);
	ERR(FIELD_EMAIL, "\"a@b\"@x.com", INVALID);
	ERR(FIELD_EMAIL, "\"ab\"@x.com", INVALID);
	ERR(FIELD_EMAIL, ".a@b.com", INVALID);
	ERR(FIELD_EMAIL, "a.@b.com", INVALID);
	ERR(FIELD_EMAIL, "a..b@c.com", INVALID);
	ERR(FIELD_EMAIL, "a b@x.com", INVALID);
	ERR(FIELD_EMAIL, "a,b@x.com", INVALID);
	ERR(FIELD_EMAIL, "a(c)@x.com", INVALID);
	ERR(FIELD_EMAIL, "a\\b@x.com", INVALID);
	ERR(FIELD_EMAIL, "j\xc3\xbc@x.com", INVALID);     /* non-ASCII local */
	ERR(FIELD_EMAIL, "a@m\xc3\xbcller.de", INVALID);  /* IDN not punycoded */
	ERR(FIELD_EMAIL, "a\t@x.com", INVALID);
	ERR(FIELD_EMAIL, "<a@x.com>", INVALID);
}

Test(normalize_email, domain_refused)
{
	ERR(FIELD_EMAIL, "a@com", INVALID);               /* one label */
	ERR(FIELD_EMAIL, "a@com.", INVALID);
	ERR(FIELD_EMAIL, "a@1.2.3.4", INVALID);           /* last label digits */
	ERR(FIELD_EMAIL, "a@example.123", INVALID);
	ERR(FIELD_EMAIL, "a@[1.2.3.4]", INVALID);
	ERR(FIELD_EMAIL, "a@b.co..", INVALID);
	ERR(FIELD_EMAIL, "a@b..co", INVALID);
	ERR(FIELD_EMAIL, "a@.b.co", INVALID);
	ERR(FIELD_EMAIL, "a@-b.com", INVALID);
	ERR(FIELD_EMAIL, "a@b-.com", INVALID);
	ERR(FIELD_EMAIL, "a@b.com-", INVALID);
	ERR(FIELD_EMAIL, "a@b_c.com", INVALID);
	ERR(FIELD_EMAIL, "a@exa mple.com", INVALID);
	ERR(FIELD_EMAIL, "a@b.c/m", INVALID);
}

Test(normalize_email, length_limits)
{
	char buf[512], want[300];

	/* Local part: 64 bytes accepted, 65 refused. */
	fill(buf, 'l', 64);
	strcpy(buf + 64, "@x.io");
	OK_BUF(FIELD_EMAIL, buf, 69, buf);
	fill(buf, 'l', 65);
	strcpy(buf + 65, "@x.io");
	ERR_BUF(FIELD_EMAIL, buf, 70, INVALID);

	/* Label: 63 accepted, 64 refused. */
	strcpy(buf, "a@");
	fill(buf + 2, 'd', 63);
	strcpy(buf + 65, ".io");
	OK_BUF(FIELD_EMAIL, buf, 68, buf);
	strcpy(buf, "a@");
	fill(buf + 2, 'd', 64);
	strcpy(buf + 66, ".io");
	ERR_BUF(FIELD_EMAIL, buf, 69, INVALID);

	/* Total: 64 + 1 + 189 = 254 accepted; one more refused. Labels of
	 * 62 bytes and a final label of 1 ("x"): 3 * 63 = 189. */
	fill(buf, 'l', 64);
	buf[64] = '@';
	for (size_t i = 0; i < 3; i++) {
		fill(buf + 65 + 63 * i, 'd', 62);
		buf[65 + 63 * i + 62] = '.';
	}
	buf[65 + 188] = 'x';
	buf[254] = '\0';
	OK_BUF(FIELD_EMAIL, buf, 254, buf);
	buf[254] = 'y';
	buf[255] = '\0';
	ERR_BUF(FIELD_EMAIL, buf, 255, INVALID);
	/* ... and with the domain's trailing dot, which is removed. */
	buf[254] = '.';
	memcpy(want, buf, 254);
	want[254] = '\0';
	OK_BUF(FIELD_EMAIL, buf, 255, want);

	/* Domain of 254 bytes (4 * 63 + "xy") with a short local part. */
	strcpy(buf, "a@");
	for (size_t i = 0; i < 4; i++) {
		fill(buf + 2 + 63 * i, 'd', 62);
		buf[2 + 63 * i + 62] = '.';
	}
	strcpy(buf + 2 + 252, "xy");
	ERR_BUF(FIELD_EMAIL, buf, 256, INVALID);
	/* A 253-byte domain is legal on its own, but any local part then
	 * makes the address longer than 254. */
	strcpy(buf + 2 + 252, "x");
	ERR_BUF(FIELD_EMAIL, buf, 255, INVALID);
	/* 252 bytes: "a@" + 252 = 254 in all. */
	buf[2 + 251] = 'x';
	buf[2 + 252] = '\0';
	OK_BUF(FIELD_EMAIL, buf, 254, buf);

	/* Over max_input (320). */
	fill(buf, 'a', 321);
	ERR_BUF(FIELD_EMAIL, buf, 321, TOO_LARGE);
}

/* ---- phone ---- */

Test(normalize_phone, nanp_default)
{
	OK(FIELD_PHONE, "(555) 123-4567", "+15551234567");
	OK(FIELD_PHONE, "555.123.4567", "+15551234567");
	OK(FIELD_PHONE, "5551234567", "+15551234567");
	OK(FIELD_PHONE, " 555 123 4567 ", "+15551234567");
	/* 11 digits with the leading 1 dialled: the 1 is dropped. */
	OK(FIELD_PHONE, "1-555-123-4567", "+15551234567");
	OK(FIELD_PHONE, "1 (555) 123-4567", "+15551234567");
	OK(FIELD_PHONE, "15551234567", "+15551234567");
	ERR(FIELD_PHONE, "555-1234", INVALID);          /* 7 digits */
	ERR(FIELD_PHONE, "555123456", INVALID);         /* 9 digits */
	ERR(FIELD_PHONE, "25551234567", INVALID);       /* 11, not 1... */
	ERR(FIELD_PHONE, "155512345678", INVALID);      /* 12 digits */
	ERR(FIELD_PHONE, "055 5123 4567", INVALID);     /* no trunk 0 in NANP */
}

Test(normalize_phone, international_plus)
{
	OK(FIELD_PHONE, "+1 555 123 4567", "+15551234567");
	OK(FIELD_PHONE, "+44 20 7946 0958", "+442079460958");
	OK(FIELD_PHONE, "+33-1-23-45-67-89", "+33123456789");
	OK(FIELD_PHONE, "+49 (30) 1234567", "+49301234567");
	OK(FIELD_PHONE, "+12345678", "+12345678");              /* 8 digits */
	OK(FIELD_PHONE, "+123456789012345", "+123456789012345"); /* 15 digits */
	ERR(FIELD_PHONE, "+1234567", INVALID);                  /* 7 digits */
	ERR(FIELD_PHONE, "+1234567890123456", INVALID);         /* 16 digits */
	ERR(FIELD_PHONE, "+0 20 7946 0958", INVALID);
	ERR(FIELD_PHONE, "+", INVALID);
	ERR(FIELD_PHONE, "+()", INVALID);
	ERR(FIELD_PHONE, "++44 20 7946 0958", INVALID);
	ERR(FIELD_PHONE, "44+20 7946 0958", INVALID);
	ERR(FIELD_PHONE, "(+44) 20 7946 0958", INVALID);
	/* "(0)" makes the international form ambiguous: refused. */
	ERR(FIELD_PHONE, "+44 (0)20 7946 0958", INVALID);
	/* With '+' no default calling code is needed. */
	OK_CTX(&ctx_nocode, FIELD_PHONE, "+44 20 7946 0958", "+442079460958");
	OK_CTX(&ctx_gb, FIELD_PHONE, "+1 555 123 4567", "+15551234567");
}

Test(normalize_phone, international_00_prefix)
{
	OK(FIELD_PHONE, "0044 20 7946 0958", "+442079460958");
	OK(FIELD_PHONE, "00 1 555 123 4567", "+15551234567");
	OK_CTX(&ctx_gb, FIELD_PHONE, "0033 1 23 45 67 89", "+33123456789");
	OK_CTX(&ctx_nocode, FIELD_PHONE, "0044 20 7946 0958", "+442079460958");
	ERR(FIELD_PHONE, "000 44 20 7946 0958", INVALID); /* country code 0 */
	ERR(FIELD_PHONE, "00", INVALID);
	ERR(FIELD_PHONE, "001234567", INVALID);           /* 7 digits after 00 */
	ERR(FIELD_PHONE, "00 1234 5678 9012 3456", INVALID); /* 16 after 00 */
	ERR(FIELD_PHONE, "0044 (0)20 7946 0958", INVALID);
}

Test(normalize_phone, other_default_codes)
{
	OK_CTX(&ctx_gb, FIELD_PHONE, "020 7946 0958", "+442079460958");
	OK_CTX(&ctx_gb, FIELD_PHONE, "20 7946 0958", "+442079460958");
	OK_CTX(&ctx_gb, FIELD_PHONE, "07700 900123", "+447700900123");
	OK_CTX(&ctx_fr, FIELD_PHONE, "01 23 45 67 89", "+33123456789");
	OK_CTX(&ctx_fr, FIELD_PHONE, "01.23.45.67.89", "+33123456789");
	ERR_CTX(&ctx_gb, FIELD_PHONE, "0", INVALID);
	ERR_CTX(&ctx_gb, FIELD_PHONE, "0123", INVALID);    /* too short */
	ERR_CTX(&ctx_gb, FIELD_PHONE, "0123456789012345", INVALID); /* 17 */
}

Test(normalize_phone, no_default_code)
{
	ERR_CTX(&ctx_nocode, FIELD_PHONE, "(555) 123-4567", INVALID);
	ERR_CTX(&ctx_emptycode, FIELD_PHONE, "(555) 123-4567", INVALID);
	ERR_CTX(NULL, FIELD_PHONE, "(555) 123-4567", INVALID);
	OK_CTX(NULL, FIELD_PHONE, "+1 (555) 123-4567", "+15551234567");
}

Test(normalize_phone, refused_characters)
{
	ERR(FIELD_PHONE, "1-800-FLOWERS", INVALID);
	ERR(FIELD_PHONE, "555-123-4567 ext 12", INVALID);
	ERR(FIELD_PHONE, "555-123-4567x12", INVALID);
	ERR(FIELD_PHONE, "555-123-4567#12", INVALID);
	ERR(FIELD_PHONE, "555-123-4567,12", INVALID);
	ERR(FIELD_PHONE, "555-123-4567;ext=12", INVALID);
	ERR(FIELD_PHONE, "555/123/4567", INVALID);
	ERR(FIELD_PHONE, "555\t123\t4567", INVALID);
	ERR(FIELD_PHONE, "tel:+15551234567", INVALID);
	ERR(FIELD_PHONE, "\xd9\xa5\xd9\xa5\xd9\xa5 123 4567", INVALID);
	ERR(FIELD_PHONE, "555\0" "1234567", INVALID);
}

Test(normalize_phone, length_limits)
{
	char buf[80];

	/* 64 bytes of separators around a valid number are accepted. */
	fill(buf, ' ', 64);
	memcpy(buf + 10, "+44-20-7946-0958", 16);
	OK_BUF(FIELD_PHONE, buf, 64, "+442079460958");
	fill(buf, '-', 65);
	memcpy(buf + 10, "+44-20-7946-0958", 16);
	ERR_BUF(FIELD_PHONE, buf, 65, TOO_LARGE);
	/* 64 digits: refused as a bad number, not an overflow. */
	ERR_BUF(FIELD_PHONE, fill(buf, '5', 64), 64, INVALID);
}

/* ---- IP address ---- */

Test(normalize_ip, ipv4)
{
	OK(FIELD_IP_ADDRESS, "192.168.1.1", "192.168.1.1");
	OK(FIELD_IP_ADDRESS, " 10.0.0.1\n", "10.0.0.1");
	OK(FIELD_IP_ADDRESS, "0.0.0.0", "0.0.0.0");
	OK(FIELD_IP_ADDRESS, "255.255.255.255", "255.255.255.255");
	OK(FIELD_IP_ADDRESS, "100.64.0.10", "100.64.0.10");
	ERR(FIELD_IP_ADDRESS, "010.0.0.1", INVALID);
	ERR(FIELD_IP_ADDRESS, "192.168.001.1", INVALID);
	ERR(FIELD_IP_ADDRESS, "192.168.1.00", INVALID);
	ERR(FIELD_IP_ADDRESS, "256.1.1.1", INVALID);
	ERR(FIELD_IP_ADDRESS, "1.2.3", INVALID);
	ERR(FIELD_IP_ADDRESS, "1.2.3.4.5", INVALID);
	ERR(FIELD_IP_ADDRESS, "1.2.3.", INVALID);
	ERR(FIELD_IP_ADDRESS, ".1.2.3", INVALID);
	ERR(FIELD_IP_ADDRESS, "1..2.3", INVALID);
	ERR(FIELD_IP_ADDRESS, "1.2.3.4/24", INVALID);
	ERR(FIELD_IP_ADDRESS, "1.2.3.4:80", INVALID);
	ERR(FIELD_IP_ADDRESS, "0x7f.0.0.1", INVALID);
	ERR(FIELD_IP_ADDRESS, "2130706433", INVALID);
	ERR(FIELD_IP_ADDRESS, "1.2.3.1000", INVALID);
	ERR(FIELD_IP_ADDRESS, "1. 2.3.4", INVALID);
	ERR(FIELD_IP_ADDRESS, "localhost", INVALID);
}

Test(normalize_ip, ipv6)
{
	OK(FIELD_IP_ADDRESS, "2001:0DB8:0000:0000:0000:0000:0000:0001",
	    "2001:db8::1");
	OK(FIELD_IP_ADDRESS, "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1");
	OK(FIELD_IP_ADDRESS, "::1", "::1");
	OK(FIELD_IP_ADDRESS, "0:0:0:0:0:0:0:0", "::");
	OK(FIELD_IP_ADDRESS, "FE80::0001", "fe80::1");
	OK(FIELD_IP_ADDRESS, "2001:DB8:85A3::8A2E:370:7334",
	    "2001:db8:85a3::8a2e:370:7334");
	OK(FIELD_IP_ADDRESS, "::ffff:192.0.2.1", "::ffff:192.0.2.1");
	OK(FIELD_IP_ADDRESS, "::FFFF:C000:0201", "::ffff:192.0.2.1");
	OK(FIELD_IP_ADDRESS, "\t2001:db8::1 ", "2001:db8::1");
	ERR(FIELD_IP_ADDRESS, "[::1]", INVALID);
	ERR(FIELD_IP_ADDRESS, "[2001:db8::1]:443", INVALID);
	ERR(FIELD_IP_ADDRESS, "fe80::1%eth0", INVALID);
	ERR(FIELD_IP_ADDRESS, "fe80::1%1", INVALID);
	ERR(FIELD_IP_ADDRESS, "2001:db8::1::2", INVALID);
	ERR(FIELD_IP_ADDRESS, "2001:db8:0:0:0:0:0:0:1", INVALID);
	ERR(FIELD_IP_ADDRESS, "12345::1", INVALID);
	ERR(FIELD_IP_ADDRESS, "2001:db8::g", INVALID);
	ERR(FIELD_IP_ADDRESS, ":::", INVALID);
	ERR(FIELD_IP_ADDRESS, "2001:db8::1/64", INVALID);
	ERR(FIELD_IP_ADDRESS, "2001: db8::1", INVALID);
}

Test(normalize_ip, length_limits)
{
	char buf[80];

	fill(buf, ' ', 64);
	memcpy(buf + 20, "::1", 3);
	OK_BUF(FIELD_IP_ADDRESS, buf, 64, "::1");
	fill(buf, ' ', 65);
	memcpy(buf + 20, "::1", 3);
	ERR_BUF(FIELD_IP_ADDRESS, buf, 65, TOO_LARGE);
	ERR_BUF(FIELD_IP_ADDRESS, fill(buf, '1', 64), 64, INVALID);
}

/* ---- cookie id ---- */

Test(normalize_cookie, valid)
{
	char buf[300];

	OK(FIELD_COOKIE_ID, "abc123", "abc123");
	OK(FIELD_COOKIE_ID, "  GA1.2.3456.7890 \n", "GA1.2.3456.7890");
	OK(FIELD_COOKIE_ID, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
	    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
	OK(FIELD_COOKIE_ID, "CaseKept", "CaseKept");
	OK_BUF(FIELD_COOKIE_ID, fill(buf, '~', 256), 256, buf);
	/* All of 0x21..0x7E. */
	for (int c = 0x21; c <= 0x7E; c++)
		buf[c - 0x21] = (char)c;
	buf[0x7E - 0x21 + 1] = '\0';
	OK_BUF(FIELD_COOKIE_ID, buf, strlen(buf), buf);
}

Test(normalize_cookie, refused)
{
	char buf[300];

	ERR(FIELD_COOKIE_ID, "a b", INVALID);
	ERR(FIELD_COOKIE_ID, "a\tb", INVALID);
	ERR(FIELD_COOKIE_ID, "a\x7f", INVALID);
	ERR(FIELD_COOKIE_ID, "\x01" "abc", INVALID);
	ERR(FIELD_COOKIE_ID, "caf\xc3\xa9", INVALID);
	ERR(FIELD_COOKIE_ID, "\x80", INVALID);
	ERR(FIELD_COOKIE_ID, "ab\0cd", INVALID);
	ERR_BUF(FIELD_COOKIE_ID, fill(buf, 'x', 257), 257, TOO_LARGE);
}

/* ---- card number ---- */

Test(normalize_card, valid)
{
	OK(FIELD_CARD_NUMBER, "4111111111111111", "4111111111111111");
	OK(FIELD_CARD_NUMBER, "4111 1111 1111 1111", "4111111111111111");
	OK(FIELD_CARD_NUMBER, "4111-1111-1111-1111", "4111111111111111");
	OK(FIELD_CARD_NUMBER, " 5555 5555 5555 4444\n", "5555555555554444");
	OK(FIELD_CARD_NUMBER, "3782 822463 10005", "378282246310005");
	OK(FIELD_CARD_NUMBER, "4222222222222", "4222222222222");        /* 13 */
	OK(FIELD_CARD_NUMBER, "6011000000000000001", "6011000000000000001"); /* 19 */
}

Test(normalize_card, refused)
{
	char buf[80];

	ERR(FIELD_CARD_NUMBER, "4111111111111112", INVALID);   /* Luhn */
	ERR(FIELD_CARD_NUMBER, "4111 1111 1111 1121", INVALID); /* Luhn */
	ERR(FIELD_CARD_NUMBER, "123456789015", INVALID);        /* 12, Luhn ok */
	ERR(FIELD_CARD_NUMBER, "60110000000000000004", INVALID); /* 20, Luhn ok */
	ERR(FIELD_CARD_NUMBER, "4111a11111111111", INVALID);
	ERR(FIELD_CARD_NUMBER, "4111_1111_1111_1111", INVALID);
	ERR(FIELD_CARD_NUMBER, "4111.1111.1111.1111", INVALID);
	ERR(FIELD_CARD_NUMBER, "4111/1111/1111/1111", INVALID);
	ERR(FIELD_CARD_NUMBER, "+4111111111111111", INVALID);
	ERR(FIELD_CARD_NUMBER, "4111\t1111\t1111\t1111", INVALID);
	ERR(FIELD_CARD_NUMBER, "----", INVALID);
	ERR(FIELD_CARD_NUMBER, "41111111\0" "11111111", INVALID);
	ERR_BUF(FIELD_CARD_NUMBER, fill(buf, '0', 65), 65, TOO_LARGE);
	ERR_BUF(FIELD_CARD_NUMBER, fill(buf, '0', 64), 64, INVALID);
}

/* ---- card expiry ---- */

Test(normalize_expiry, formats)
{
	OK(FIELD_CARD_EXPIRY, "12/27", "12/27");
	OK(FIELD_CARD_EXPIRY, "12/2027", "12/27");
	OK(FIELD_CARD_EXPIRY, "12-27", "12/27");
	OK(FIELD_CARD_EXPIRY, "1227", "12/27");
	OK(FIELD_CARD_EXPIRY, "1/27", "01/27");
	OK(FIELD_CARD_EXPIRY, "01/27", "01/27");
	OK(FIELD_CARD_EXPIRY, "0127", "01/27");
	OK(FIELD_CARD_EXPIRY, "1-2027", "01/27");
	OK(FIELD_CARD_EXPIRY, "  09/26 \n", "09/26");
}

Test(normalize_expiry, syntax_refused)
{
	ERR(FIELD_CARD_EXPIRY, "13/27", INVALID);
	ERR(FIELD_CARD_EXPIRY, "00/27", INVALID);
	ERR(FIELD_CARD_EXPIRY, "0/27", INVALID);
	ERR(FIELD_CARD_EXPIRY, "1327", INVALID);
	ERR(FIELD_CARD_EXPIRY, "001/27", INVALID);
	ERR(FIELD_CARD_EXPIRY, "1/2", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/027", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/20271", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01 / 27", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01 27", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01.27", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01//27", INVALID);
	ERR(FIELD_CARD_EXPIRY, "/27", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/", INVALID);
	ERR(FIELD_CARD_EXPIRY, "127", INVALID);
	ERR(FIELD_CARD_EXPIRY, "012027", INVALID);
	ERR(FIELD_CARD_EXPIRY, "ab/cd", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/27x", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/2x", INVALID);
	ERR(FIELD_CARD_EXPIRY, "+1/27", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/27\0", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/2027          ", TOO_LARGE); /* 17 bytes */
	OK(FIELD_CARD_EXPIRY, "01/2027         ", "01/27");      /* 16 bytes */
}

Test(normalize_expiry, expired_and_far_future)
{
	/* ctx_us.now is 2025-06-15. */
	OK(FIELD_CARD_EXPIRY, "06/25", "06/25");        /* this month: valid */
	OK(FIELD_CARD_EXPIRY, "07/25", "07/25");
	OK(FIELD_CARD_EXPIRY, "01/26", "01/26");
	ERR(FIELD_CARD_EXPIRY, "05/25", INVALID);
	ERR(FIELD_CARD_EXPIRY, "12/24", INVALID);
	ERR(FIELD_CARD_EXPIRY, "12/2024", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/1999", INVALID);
	ERR(FIELD_CARD_EXPIRY, "06/00", INVALID);
	/* 20 years ahead is the limit. */
	OK(FIELD_CARD_EXPIRY, "12/45", "12/45");
	OK(FIELD_CARD_EXPIRY, "12/2045", "12/45");
	ERR(FIELD_CARD_EXPIRY, "01/46", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/2046", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/2125", INVALID);
	ERR(FIELD_CARD_EXPIRY, "01/99", INVALID);
}

Test(normalize_expiry, last_day_of_month_boundary)
{
	const struct normalize_ctx end = { NOW_2025_06_30_END, "1" };
	const struct normalize_ctx next = { NOW_2025_07_01, "1" };

	OK_CTX(&end, FIELD_CARD_EXPIRY, "06/25", "06/25");
	ERR_CTX(&next, FIELD_CARD_EXPIRY, "06/25", INVALID);
	OK_CTX(&next, FIELD_CARD_EXPIRY, "07/25", "07/25");
}

Test(normalize_expiry, compared_in_utc)
{
	/* In UTC+14 local time it is already July 1st; the card is still
	 * valid because the comparison is in UTC. */
	const struct normalize_ctx c = { NOW_2025_06_30_END - 3600, "1" };

	cr_assert_eq(setenv("TZ", "XXX-14", 1), 0);
	tzset();
	OK_CTX(&c, FIELD_CARD_EXPIRY, "06/25", "06/25");
	/* And in UTC-12 it is still June 30th when UTC says July 1st. */
	cr_assert_eq(setenv("TZ", "YYY+12", 1), 0);
	tzset();
	{
		const struct normalize_ctx n = { NOW_2025_07_01 + 3600, "1" };

		ERR_CTX(&n, FIELD_CARD_EXPIRY, "06/25", INVALID);
	}
}

Test(normalize_expiry, year_end_rollover)
{
	const struct normalize_ctx dec = { (time_t)1767225599, "1" }; /* 2025-12-31 23:59:59 */
	const struct normalize_ctx jan = { (time_t)1767225600, "1" }; /* 2026-01-01 00:00:00 */

	OK_CTX(&dec, FIELD_CARD_EXPIRY, "12/25", "12/25");
	ERR_CTX(&jan, FIELD_CARD_EXPIRY, "12/25", INVALID);
	OK_CTX(&jan, FIELD_CARD_EXPIRY, "01/26", "01/26");
	OK_CTX(&jan, FIELD_CARD_EXPIRY, "12/46", "12/46");
	ERR_CTX(&jan, FIELD_CARD_EXPIRY, "01/47", INVALID);
}

Test(normalize_expiry, needs_ctx)
{
	ERR_CTX(NULL, FIELD_CARD_EXPIRY, "12/27", INVALID);
}

/* ---- bank account ---- */

Test(normalize_bank, iban_valid)
{
	OK(FIELD_BANK_ACCOUNT, "GB82WEST12345698765432", "GB82WEST12345698765432");
	OK(FIELD_BANK_ACCOUNT, "GB82 WEST 1234 5698 7654 32",
	    "GB82WEST12345698765432");
	OK(FIELD_BANK_ACCOUNT, " gb82 west 1234 5698 7654 32 ",
	    "GB82WEST12345698765432");
	OK(FIELD_BANK_ACCOUNT, "DE89 3704 0044 0532 0130 00",
	    "DE89370400440532013000");
	OK(FIELD_BANK_ACCOUNT, "NO9386011117947", "NO9386011117947"); /* 15 */
	OK(FIELD_BANK_ACCOUNT, "GB02WEST00000000000029", "GB02WEST00000000000029");
	OK(FIELD_BANK_ACCOUNT, "GB98WEST00000000000047", "GB98WEST00000000000047");
}

Test(normalize_bank, iban_refused)
{
	ERR(FIELD_BANK_ACCOUNT, "GB82WEST12345698765433", INVALID); /* one digit */
	ERR(FIELD_BANK_ACCOUNT, "GB82WEST12345698765423", INVALID); /* swapped */
	ERR(FIELD_BANK_ACCOUNT, "GB83WEST12345698765432", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "GB82WEXT12345698765432", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "FR82WEST12345698765432", INVALID);
	/* Check digits 99, 00 and 01 pass mod-97 but are never issued. */
	ERR(FIELD_BANK_ACCOUNT, "GB99WEST00000000000029", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "GB01WEST00000000000047", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "G182WEST12345698765432", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "GBX2WEST12345698765432", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "GB82-WEST-1234-5698-7654-32", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "GB82WEST1234569876543\xc3\xa9", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "GB82\tWEST12345698765432", INVALID);
	/* Too short or too long even though the mod-97 check holds. */
	ERR(FIELD_BANK_ACCOUNT, "NO698601111794", INVALID);          /* 14 */
	ERR(FIELD_BANK_ACCOUNT, "NO63ABCD123456789012345678901234567", INVALID); /* 35 */
	ERR(FIELD_BANK_ACCOUNT, "GB82WEST123456987654321234567890123", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "GB82", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "GB82WEST1234\0" "5698765432", INVALID);
}

Test(normalize_bank, us_account)
{
	OK(FIELD_BANK_ACCOUNT, "021000021:123456789", "021000021:123456789");
	OK(FIELD_BANK_ACCOUNT, "021000021 1234", "021000021:1234");
	OK(FIELD_BANK_ACCOUNT, "021000021-12345678901234567",
	    "021000021:12345678901234567");
	OK(FIELD_BANK_ACCOUNT, " 011000015:00001234 ", "011000015:00001234");
	ERR(FIELD_BANK_ACCOUNT, "021000022:1234", INVALID);     /* ABA checksum */
	ERR(FIELD_BANK_ACCOUNT, "021000021:123", INVALID);      /* 3 digits */
	ERR(FIELD_BANK_ACCOUNT, "021000021:123456789012345678", INVALID); /* 18 */
	ERR(FIELD_BANK_ACCOUNT, "02100002:12345", INVALID);     /* 8 digits */
	ERR(FIELD_BANK_ACCOUNT, "0210000211:2345", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "021000021", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "021000021:", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "021000021::1234", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "021000021  1234", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "021000021/1234", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "021000021:12a4", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "021000021:1234:5678", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "0210-00021:1234", INVALID);
	ERR(FIELD_BANK_ACCOUNT, "$021000021:1234", INVALID);
}

Test(normalize_bank, length_limits)
{
	char buf[100];

	fill(buf, ' ', 80);
	memcpy(buf + 20, "GB82WEST12345698765432", 22);
	OK_BUF(FIELD_BANK_ACCOUNT, buf, 80, "GB82WEST12345698765432");
	fill(buf, ' ', 81);
	memcpy(buf + 20, "GB82WEST12345698765432", 22);
	ERR_BUF(FIELD_BANK_ACCOUNT, buf, 81, TOO_LARGE);
}

/* ---- building blocks ---- */

Test(utf8_text_valid, cases)
{
	cr_assert_eq(utf8_text_valid("", 0, 0), 1);
	cr_assert_eq(utf8_text_valid(NULL, 0, 0), 1);
	cr_assert_eq(utf8_text_valid("plain", 5, 0), 1);
	cr_assert_eq(utf8_text_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, 0), 1);
	cr_assert_eq(utf8_text_valid("a\nb", 3, 0), 0);
	cr_assert_eq(utf8_text_valid("a\nb", 3, 1), 1);
	cr_assert_eq(utf8_text_valid("a\tb", 3, 0), 0);
	cr_assert_eq(utf8_text_valid("a\tb", 3, 1), 1);
	cr_assert_eq(utf8_text_valid("a\r\nb", 4, 1), 1);
	cr_assert_eq(utf8_text_valid("a\vb", 3, 1), 0);
	cr_assert_eq(utf8_text_valid("a\0b", 3, 1), 0);
	cr_assert_eq(utf8_text_valid("\x7f", 1, 1), 0);
	cr_assert_eq(utf8_text_valid("\xc2\x80", 2, 1), 0);
	cr_assert_eq(utf8_text_valid("\xc2\x9f", 2, 1), 0);
	cr_assert_eq(utf8_text_valid("\xc2\xa0", 2, 0), 1);
	cr_assert_eq(utf8_text_valid("\xc0\x80", 2, 0), 0);
	cr_assert_eq(utf8_text_valid("\xed\xa0\x80", 3, 0), 0);
	cr_assert_eq(utf8_text_valid("\xf4\x90\x80\x80", 4, 0), 0);
	/* Only len bytes are looked at: a sequence cut by len is invalid. */
	cr_assert_eq(utf8_text_valid("\xc3\xa9", 1, 0), 0);
	cr_assert_eq(utf8_text_valid("ab\x01", 2, 0), 1);
}

Test(luhn, valid)
{
	cr_assert_eq(luhn_valid("79927398713", 11), 1);
	cr_assert_eq(luhn_valid("4111111111111111", 16), 1);
	cr_assert_eq(luhn_valid("00", 2), 1);
	cr_assert_eq(luhn_valid("18", 2), 1);
	cr_assert_eq(luhn_valid("79927398710", 11), 0);
	cr_assert_eq(luhn_valid("7992739871a", 11), 0);
	cr_assert_eq(luhn_valid("7992 398713", 11), 0);
	cr_assert_eq(luhn_valid("0", 1), 0);
	cr_assert_eq(luhn_valid("", 0), 0);
	cr_assert_eq(luhn_valid(NULL, 0), 0);
	/* Only len bytes count. */
	cr_assert_eq(luhn_valid("79927398713x", 11), 1);
}

Test(luhn, fix_digit_known)
{
	cr_assert_eq(luhn_fix_digit("7992739871?", 11, 10), 3);
	cr_assert_eq(luhn_fix_digit("79927398710", 11, 10), 3);
	cr_assert_eq(luhn_fix_digit("411111111111111x", 16, 15), 1);
	cr_assert_eq(luhn_fix_digit("x111111111111111", 16, 0), 4);
	cr_assert_eq(luhn_fix_digit("4111111111111111", 16, 0), 4);
	cr_assert_eq(luhn_fix_digit("1x", 2, 1), 8);
	cr_assert_eq(luhn_fix_digit("x8", 2, 0), 1);
	/* Out of range or non-digits elsewhere. */
	cr_assert_eq(luhn_fix_digit("4111", 4, 4), -1);
	cr_assert_eq(luhn_fix_digit("41a1", 4, 0), -1);
	cr_assert_eq(luhn_fix_digit("4", 1, 0), -1);
}

/* Deterministic generator: failures can be replayed. */
static uint32_t
next_rand(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 16;
}

Test(luhn, fix_digit_random)
{
	static const size_t positions[] = { 0, 1, 2, 7, 8, 13, 14, 15 };
	uint32_t state = 20250615;
	char d[17];

	d[16] = '\0';
	for (int round = 0; round < 500; round++) {
		for (size_t i = 0; i < 16; i++)
			d[i] = (char)('0' + next_rand(&state) % 10);
		for (size_t k = 0; k < sizeof positions / sizeof positions[0]; k++) {
			size_t pos = positions[k];
			int fix = luhn_fix_digit(d, 16, pos);

			cr_assert(fix >= 0 && fix <= 9, "round %d pos %zu", round, pos);
			/* The answer does not depend on what is there now. */
			d[pos] = 'x';
			cr_assert_eq(luhn_fix_digit(d, 16, pos), fix);
			d[pos] = (char)('0' + fix);
			cr_assert_eq(luhn_valid(d, 16), 1, "round %d pos %zu: %s",
			    round, pos, d);
			/* And it is the only digit that works there. */
			for (int other = 0; other <= 9; other++) {
				if (other == fix)
					continue;
				d[pos] = (char)('0' + other);
				cr_assert_eq(luhn_valid(d, 16), 0);
			}
			d[pos] = (char)('0' + fix);
			/* Randomize again so positions are tested independently. */
			d[(pos + 5) % 16] = (char)('0' + next_rand(&state) % 10);
		}
	}
}

Test(luhn, fix_digit_all_positions_all_lengths)
{
	uint32_t state = 42;
	char d[20];

	for (size_t len = 2; len <= 19; len++) {
		for (size_t pos = 0; pos < len; pos++) {
			for (size_t i = 0; i < len; i++)
				d[i] = (char)('0' + next_rand(&state) % 10);
			int fix = luhn_fix_digit(d, len, pos);

			cr_assert(fix >= 0 && fix <= 9);
			d[pos] = (char)('0' + fix);
			cr_assert_eq(luhn_valid(d, len), 1, "len %zu pos %zu", len, pos);
		}
	}
}

Test(luhn, fixed_numbers_pass_card_field)
{
	uint32_t state = 7;
	char d[17];

	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < 16; i++)
			d[i] = (char)('0' + next_rand(&state) % 10);
		d[15] = (char)('0' + luhn_fix_digit(d, 16, 15));
		d[16] = '\0';
		OK_BUF(FIELD_CARD_NUMBER, d, 16, d);
		d[15] = (char)('0' + (d[15] - '0' + 1) % 10);
		ERR_BUF(FIELD_CARD_NUMBER, d, 16, INVALID);
	}
}
