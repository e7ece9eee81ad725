/*
 * normalize.c - validation and normalization of field values (see
 * normalize.h). Owns the per-field syntax rules, the checksums they use
 * (Luhn, IBAN mod-97, ABA) and UTF-8 text checks. Never prints or logs a
 * value: callers get an error code and a static reason that names the rule
 * the value broke, never any part of the value.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <vault/vault.h>

#include "normalize.h"

/* Bounded output for the per-field normalizers, and why a value failed. */
struct sink {
	char *p;
	size_t len;
	size_t cap;
	const char *why;     /* static text, never the value */
};

/* Refuse the value, saying why (the reason must not quote the value). */
static int
bad(struct sink *o, const char *why)
{
	o->why = why;
	return VAULT_E_INVALID_VALUE;
}

typedef int (*normalizer)(const char *, size_t, struct sink *,
    const struct normalize_ctx *);

/* Scratch buffers may hold personal data; a volatile store is not elided. */
static void
wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

static int
emit(struct sink *o, char c)
{
	if (o->len >= o->cap)
		return VAULT_E_TOO_LARGE;
	o->p[o->len++] = c;
	return 0;
}

static int
emit_bytes(struct sink *o, const char *s, size_t n)
{
	if (n > o->cap - o->len)
		return VAULT_E_TOO_LARGE;
	if (n == 0)
		return 0;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	return 0;
}

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	    c == '\r';
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char
to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static char
to_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static int
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* ---- UTF-8 text ---- */

/*
 * Decode one code point from s[0..len); returns its length or 0 if the
 * sequence is truncated, overlong, a surrogate or beyond U+10FFFF.
 */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	uint32_t v, min;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2, v = c & 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3, v = c & 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)
		return 0;
	*cp = v;
	return n;
}

static int
is_control(uint32_t cp, int allow_newline)
{
	/* CR counts as a newline: addresses may arrive with CRLF line ends. */
	if (allow_newline && (cp == '\n' || cp == '\r' || cp == '\t'))
		return 0;
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

int
utf8_text_valid(const char *s, size_t len, int allow_newline)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	if (s == NULL)
		return len == 0;
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(u + i, len - i, &cp);

		if (n == 0 || is_control(cp, allow_newline))
			return 0;
		i += n;
	}
	return 1;
}

/* ---- names and postal addresses ---- */

static int
norm_name(const char *s, size_t n, struct sink *o,
    const struct normalize_ctx *ctx)
{
	int rc = 0;

	/* Tabs and newlines are control characters here, so only spaces
	 * can form the internal runs that get collapsed. */
	if (!utf8_text_valid(s, n, 0))
		return bad(o, "not UTF-8 text, or holds a control character (tab and "
		    "newline included)");
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (s[i] == ' ' && i > 0 && s[i - 1] == ' ')
			continue;
		rc = emit(o, s[i]);
	}
	return rc;
}

/* Before a non-blank byte: the pending line breaks or space, if any. */
static int
address_flush(struct sink *o, unsigned *nl, int *sp)
{
	int rc = 0;

	/* At most one blank line survives between two lines. */
	for (unsigned k = 0; k < *nl && k < 2 && rc == 0; k++)
		rc = emit(o, '\n');
	if (*nl == 0 && *sp && rc == 0)
		rc = emit(o, ' ');
	*nl = 0;
	*sp = 0;
	return rc;
}

static int
norm_address(const char *s, size_t n, struct sink *o,
    const struct normalize_ctx *ctx)
{
	unsigned nl = 0;
	int sp = 0, rc = 0;

	if (!utf8_text_valid(s, n, 1))
		return bad(o, "not UTF-8 text, or holds a control character other "
		    "than line breaks and tabs");
	for (size_t i = 0; i < n && rc == 0; i++) {
		char c = s[i];

		if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;       /* the LF that follows ends the line */
		if (c == '\r' || c == '\n') {
			nl++;
			sp = 0;         /* drops spaces before the break */
		} else if (c == ' ' || c == '\t') {
			sp = 1;         /* address_flush drops it after a break */
		} else {
			rc = address_flush(o, &nl, &sp);
			if (rc == 0)
				rc = emit(o, c);
		}
	}
	return rc;
}

/* ---- email ---- */

static int
is_atext(unsigned char c)
{
	return c != '\0' && (is_alpha(c) || is_digit(c) ||
	    strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

/* Dot-atom: atext runs separated by single dots; quoted forms refused. */
static int
email_local_valid(const char *s, size_t n)
{
	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i - 1] == '.')
				return 0;
		} else if (!is_atext((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

static int
domain_label_valid(const char *s, size_t n)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return 0;
	}
	return 1;
}

static int
domain_valid(const char *s, size_t n)
{
	size_t start = 0, labels = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		if (!domain_label_valid(s + start, i - start))
			return 0;
		labels++;
		if (i == n && all_digits(s + start, i - start))
			return 0;       /* would read as an IPv4 address */
		start = i + 1;
	}
	return labels >= 2;
}

static int
norm_email(const char *s, size_t n, struct sink *o,
    const struct normalize_ctx *ctx)
{
	const char *at = memchr(s, '@', n);
	size_t local, dom;
	int rc;

	if (at == NULL)
		return bad(o, "no @");
	local = (size_t)(at - s);
	dom = n - local - 1;
	if (memchr(at + 1, '@', dom) != NULL)
		return bad(o, "more than one @");
	if (dom > 0 && at[dom] == '.')
		dom--;          /* the root's empty label: "example.com." */
	if (!email_local_valid(s, local))
		return bad(o, "the part before @ is not 1-64 letters, digits, "
		    "!#$%&'*+/=?^_`{|}~- and single inner dots");
	if (!domain_valid(at + 1, dom))
		return bad(o, "the domain is not two or more labels of letters, "
		    "digits and inner hyphens (an address literal is refused)");
	if (local + 1 + dom > 254)
		return bad(o, "longer than 254 bytes");
	rc = emit_bytes(o, s, local + 1);
	for (size_t i = 1; i <= dom && rc == 0; i++)
		rc = emit(o, to_lower(at[i]));
	return rc;
}

/* ---- phone ---- */

#define PHONE_DIGITS_MAX 15
#define PHONE_DIGITS_MIN 8

/* Collect the digits, skipping separators; anything else is refused. */
static int
phone_digits(const char *s, size_t n, char *d, size_t cap, size_t *nd)
{
	*nd = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_digit(c)) {
			if (*nd >= cap)
				return VAULT_E_INVALID_VALUE; /* phone_emit: too many */
			d[(*nd)++] = (char)c;
		} else if (c != ' ' && c != '-' && c != '.' && c != '(' &&
		    c != ')') {
			return VAULT_E_INVALID_VALUE;
		}
	}
	return 0;
}

static int
phone_emit(struct sink *o, const char *cc, size_t ncc, const char *d,
    size_t nd)
{
	int rc;

	if (ncc + nd < PHONE_DIGITS_MIN || ncc + nd > PHONE_DIGITS_MAX)
		return bad(o, "not 8-15 digits with the calling code (E.164)");
	if ((ncc > 0 ? cc[0] : d[0]) == '0')
		return bad(o, "no calling code starts with 0");
	rc = emit(o, '+');
	if (rc == 0)
		rc = emit_bytes(o, cc, ncc);
	if (rc == 0)
		rc = emit_bytes(o, d, nd);
	return rc;
}

/* A number without '+' or "00": prefix the default calling code. */
static int
phone_national(struct sink *o, const char *d, size_t nd,
    const struct normalize_ctx *ctx)
{
	const char *cc = ctx != NULL ? ctx->default_calling_code : NULL;
	size_t ncc = cc != NULL ? strlen(cc) : 0;

	if (ncc == 0 || ncc > 3 || !all_digits(cc, ncc))
		return bad(o, "no + or 00 and no default calling code configured");
	if (nd == 0)
		return bad(o, "no digits");
	if (ncc == 1 && cc[0] == '1') {
		/* NANP: 10 digits, or 11 with the leading 1 dialled. */
		if (nd == 11 && d[0] == '1')
			d++, nd--;
		if (nd != 10)
			return bad(o, "not a valid number for calling code 1 (10 digits, "
			    "or 11 starting with 1; others need + and their code)");
	} else if (d[0] == '0') {
		d++, nd--;      /* the national trunk prefix */
	}
	if (nd == 0)
		return bad(o, "no digits after the trunk prefix 0");
	return phone_emit(o, cc, ncc, d, nd);
}

static int
norm_phone(const char *s, size_t n, struct sink *o,
    const struct normalize_ctx *ctx)
{
	char d[64];
	size_t nd, skip = 0;
	int plus = s[0] == '+', rc;

	rc = phone_digits(s + plus, n - (size_t)plus, d, sizeof d, &nd);
	if (rc != 0)
		o->why = nd >= sizeof d ? "not 8-15 digits with the calling code (E.164)" :
		    "holds a character other than digits, a leading +, spaces and - . ( )";
	if (rc == 0 && !plus && nd >= 2 && d[0] == '0' && d[1] == '0')
		skip = 2;       /* "00": the international call prefix */
	if (rc == 0 && (plus || skip) && memmem(s, n, "(0)", 3) != NULL)
		/* "+44 (0)20": trunk 0 ambiguous */
		rc = bad(o, "(0) after an international prefix is ambiguous: drop it");
	if (rc == 0 && (plus || skip))
		rc = nd > skip ? phone_emit(o, NULL, 0, d + skip, nd - skip) :
		    bad(o, "no digits after the international prefix");
	else if (rc == 0)
		rc = phone_national(o, d, nd, ctx);
	wipe(d, sizeof d);
	return rc;
}

/* ---- IP address ---- */

/* Dotted quad with no leading zeros ("010" is octal to some parsers). */
static int
ipv4_text_valid(const char *s, size_t n)
{
	size_t run = 0, dots = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (run == 0)
				return 0;
			dots++;
			run = 0;
		} else if (!is_digit((unsigned char)s[i]) ||
		    (run == 1 && s[i - 1] == '0') || ++run > 3) {
			return 0;
		}
	}
	return dots == 3 && run > 0;
}

static int
norm_ip(const char *s, size_t n, struct sink *o,
    const struct normalize_ctx *ctx)
{
	char txt[64 + 1], res[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	int af = memchr(s, ':', n) != NULL ? AF_INET6 : AF_INET;
	int rc = VAULT_E_INVALID_VALUE;

	/* Brackets and zone ids ("%eth0") are not part of an address. */
	if (n >= sizeof txt || memchr(s, '[', n) || memchr(s, ']', n) ||
	    memchr(s, '%', n))
		return bad(o, "not an IP address (brackets and zone ids are refused)");
	if (af == AF_INET && !ipv4_text_valid(s, n))
		return bad(o, "not an IPv4 dotted quad without leading zeros, nor an "
		    "IPv6 address");
	memcpy(txt, s, n);
	txt[n] = '\0';
	if (inet_pton(af, txt, bin) == 1 &&
	    inet_ntop(af, bin, res, sizeof res) != NULL)
		rc = emit_bytes(o, res, strlen(res));
	else
		o->why = af == AF_INET ? "not an IPv4 address (a part above 255)" :
		    "not an IPv6 address";
	wipe(txt, sizeof txt);
	wipe(res, sizeof res);
	wipe(bin, sizeof bin);
	return rc;
}

/* ---- cookie id ---- */

static int
norm_cookie(const char *s, size_t n, struct sink *o,
    const struct normalize_ctx *ctx)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7E)
			return bad(o, "holds a character outside printable ASCII "
			    "(or a space)");
	}
	return emit_bytes(o, s, n);
}

/* ---- payment cards ---- */

/* Luhn sum of digits[0..len) without position skip (len: skip nothing). */
static unsigned
luhn_sum(const char *digits, size_t len, size_t skip)
{
	unsigned sum = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(digits[i] - '0');

		if (i == skip)
			continue;
		/* Weighted from the right: the check digit is not doubled. */
		if ((len - 1 - i) % 2 == 1)
			d = d * 2 > 9 ? d * 2 - 9 : d * 2;
		sum += d;
	}
	return sum % 10;
}

int
luhn_valid(const char *digits, size_t len)
{
	if (digits == NULL || len < 2 || !all_digits(digits, len))
		return 0;
	return luhn_sum(digits, len, len) == 0;
}

int
luhn_fix_digit(const char *digits, size_t len, size_t pos)
{
	unsigned rest;

	if (digits == NULL || len < 2 || pos >= len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (i != pos && !is_digit((unsigned char)digits[i]))
			return -1;
	}
	rest = luhn_sum(digits, len, pos);
	for (unsigned d = 0; d <= 9; d++) {
		unsigned w = d;

		if ((len - 1 - pos) % 2 == 1)
			w = d * 2 > 9 ? d * 2 - 9 : d * 2;
		if ((rest + w) % 10 == 0)
			return (int)d;
	}
	return -1;              /* unreachable: doubling permutes 0-9 */
}

static int
norm_card_number(const char *s, size_t n, struct sink *o,
    const struct normalize_ctx *ctx)
{
	size_t start = o->len;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (is_digit((unsigned char)s[i]))
			rc = emit(o, s[i]);
		else if (s[i] != ' ' && s[i] != '-')
			rc = bad(o, "holds a character other than digits, spaces and -");
	}
	if (rc == 0 && (o->len - start < 13 || o->len - start > 19))
		rc = bad(o, "not 13-19 digits");
	else if (rc == 0 && !luhn_valid(o->p + start, o->len - start))
		rc = bad(o, "Luhn check failed");
	return rc;
}

static unsigned
parse_uint(const char *s, size_t n)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	return v;
}

/* MMYY, or M[M] then '/' or '-' then YY or YYYY. */
static int
expiry_parse(struct sink *o, const char *s, size_t n, unsigned *month, unsigned *year)
{
	size_t m = 0, ys, y;

	if (n == 4 && all_digits(s, 4)) {
		m = 2;
		ys = 2;
	} else {
		while (m < n && is_digit((unsigned char)s[m]))
			m++;
		if (m < 1 || m > 2 || m >= n || (s[m] != '/' && s[m] != '-'))
			return bad(o, "not MM/YY, MM/YYYY or MMYY");
		ys = m + 1;
	}
	y = n - ys;
	if ((y != 2 && y != 4) || !all_digits(s + ys, y))
		return bad(o, "not MM/YY, MM/YYYY or MMYY");
	*month = parse_uint(s, m);
	*year = parse_uint(s + ys, y) + (y == 2 ? 2000 : 0);
	return *month >= 1 && *month <= 12 ? 0 : bad(o, "month out of range (01-12)");
}

static int
norm_card_expiry(const char *s, size_t n, struct sink *o,
    const struct normalize_ctx *ctx)
{
	unsigned month, year, ny, nm;
	struct tm tm;
	char res[5];
	int rc;

	if (ctx == NULL || gmtime_r(&ctx->now, &tm) == NULL)
		return bad(o, "the server's clock cannot be read");
	rc = expiry_parse(o, s, n, &month, &year);
	if (rc != 0)
		return rc;
	ny = (unsigned)tm.tm_year + 1900;
	nm = (unsigned)tm.tm_mon + 1;
	/* Valid through the last day of its month, in UTC. */
	if (year < ny || (year == ny && month < nm))
		return bad(o, "in the past");
	if (year > ny + 20)
		return bad(o, "more than 20 years ahead");
	res[0] = (char)('0' + month / 10);
	res[1] = (char)('0' + month % 10);
	res[2] = '/';
	res[3] = (char)('0' + year / 10 % 10);
	res[4] = (char)('0' + year % 10);
	return emit_bytes(o, res, sizeof res);
}

/* ---- bank accounts ---- */

/* ISO 13616: move the first four to the end, letters as 10-35, mod 97. */
static unsigned
iban_mod97(const char *s, size_t n)
{
	unsigned r = 0;

	for (size_t k = 0; k < n; k++) {
		char c = s[(k + 4) % n];

		if (is_digit((unsigned char)c))
			r = (r * 10 + (unsigned)(c - '0')) % 97;
		else
			r = (r * 100 + (unsigned)(c - 'A' + 10)) % 97;
	}
	return r;
}

static int
norm_iban(const char *s, size_t n, struct sink *o)
{
	static const char shape[] = "IBAN: not a country code, two check digits "
	    "and 11-30 letters or digits";
	char b[34];
	size_t nb = 0;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ')
			continue;
		if (!is_alpha(c) && !is_digit(c))
			rc = bad(o, "IBAN: holds a character other than letters, digits "
			    "and spaces");
		else if (nb >= sizeof b)
			rc = bad(o, "IBAN: longer than 34 characters");
		else
			b[nb++] = to_upper((char)c);
	}
	/* Check digits 00, 01 and 99 never come out of the algorithm, yet
	 * 99 passes mod-97 wherever 02 does (and 00/01 for 97/98). */
	if (rc == 0 && (nb < 15 || !is_alpha((unsigned char)b[0]) ||
	    !is_alpha((unsigned char)b[1]) || !all_digits(b + 2, 2)))
		rc = bad(o, shape);
	else if (rc == 0 && (parse_uint(b + 2, 2) < 2 || parse_uint(b + 2, 2) > 98 ||
	    iban_mod97(b, nb) != 1))
		rc = bad(o, "IBAN: check digits failed (mod 97)");
	if (rc == 0)
		rc = emit_bytes(o, b, nb);
	wipe(b, sizeof b);
	return rc;
}

static int
aba_valid(const char *d)
{
	static const unsigned w[3] = { 3, 7, 1 };
	unsigned sum = 0;

	for (size_t i = 0; i < 9; i++)
		sum += w[i % 3] * (unsigned)(d[i] - '0');
	return sum % 10 == 0;
}

/* ROUTING, one of ':' ' ' '-', ACCOUNT: "021000021:1234". */
static int
norm_us_account(const char *s, size_t n, struct sink *o)
{
	size_t acct = n > 10 ? n - 10 : 0;
	int rc;

	if (n < 10 || !all_digits(s, 9) ||
	    (s[9] != ':' && s[9] != ' ' && s[9] != '-') ||
	    acct < 4 || acct > 17 || !all_digits(s + 10, acct))
		return bad(o, "not an IBAN, nor ROUTING:ACCOUNT (9-digit routing "
		    "number, then 4-17 digits)");
	if (!aba_valid(s))
		return bad(o, "routing number check digit failed (ABA)");
	rc = emit_bytes(o, s, 9);
	if (rc == 0)
		rc = emit(o, ':');
	if (rc == 0)
		rc = emit_bytes(o, s + 10, acct);
	return rc;
}

static int
norm_bank_account(const char *s, size_t n, struct sink *o,
    const struct normalize_ctx *ctx)
{
	if (is_alpha((unsigned char)s[0]))
		return norm_iban(s, n, o);
	if (is_digit((unsigned char)s[0]))
		return norm_us_account(s, n, o);
	return bad(o, "not an IBAN, nor ROUTING:ACCOUNT");
}

/* ---- entry point ---- */

static const normalizer normalizers[FIELD_MAX + 1] = {
	[FIELD_FIRST_NAME] = norm_name,
	[FIELD_LAST_NAME] = norm_name,
	[FIELD_POSTAL_ADDRESS] = norm_address,
	[FIELD_EMAIL] = norm_email,
	[FIELD_PHONE] = norm_phone,
	[FIELD_IP_ADDRESS] = norm_ip,
	[FIELD_COOKIE_ID] = norm_cookie,
	[FIELD_CARD_NUMBER] = norm_card_number,
	[FIELD_CARD_EXPIRY] = norm_card_expiry,
	[FIELD_BANK_ACCOUNT] = norm_bank_account,
};

int
normalize_field(enum field_id id, const char *in, size_t in_len,
    char *out, size_t out_cap, size_t *out_len,
    const struct normalize_ctx *ctx)
{
	return normalize_field_why(id, in, in_len, out, out_cap, out_len, ctx, NULL);
}

int
normalize_field_why(enum field_id id, const char *in, size_t in_len,
    char *out, size_t out_cap, size_t *out_len,
    const struct normalize_ctx *ctx, const char **why)
{
	const struct field_info *fi = field_by_id((unsigned)id);
	char tmp[FIELD_VALUE_MAX];
	struct sink o = { tmp, 0, sizeof tmp, NULL };
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	if (fi == NULL || normalizers[fi->id] == NULL)
		return VAULT_E_UNKNOWN_FIELD;
	if (out == NULL || out_len == NULL || (in == NULL && in_len != 0))
		return VAULT_E_INTERNAL;
	if (why != NULL)
		*why = NULL;
	if (in_len > fi->max_input)
		o.why = "longer than the field's input limit (PROTOCOL.md, Fields)";
	else if (in_len != 0 && memchr(in, '\0', in_len) != NULL)
		o.why = "holds a NUL byte";
	if (o.why != NULL) {
		if (why != NULL)
			*why = o.why;
		return in_len > fi->max_input ? VAULT_E_TOO_LARGE : VAULT_E_INVALID_VALUE;
	}
	while (in_len > 0 && is_space((unsigned char)in[0]))
		in++, in_len--;
	while (in_len > 0 && is_space((unsigned char)in[in_len - 1]))
		in_len--;
	if (in_len == 0) {
		if (why != NULL)
			*why = "empty (nothing but blanks)";
		return VAULT_E_EMPTY;
	}
	rc = normalizers[fi->id](in, in_len, &o, ctx);
	if (rc == 0 && (o.len > fi->max_value || o.len > out_cap))
		rc = VAULT_E_TOO_LARGE;
	if (rc == VAULT_E_TOO_LARGE)
		o.why = "too long once normalized (PROTOCOL.md, Fields)";
	else if (rc == VAULT_E_INVALID_VALUE && o.why == NULL)
		o.why = "not in the field's format (PROTOCOL.md, Fields)";
	if (why != NULL)
		*why = rc != 0 ? o.why : NULL;
	if (rc == 0) {
		memcpy(out, tmp, o.len);
		*out_len = o.len;
	}
	wipe(tmp, sizeof tmp);
	return rc;
}
