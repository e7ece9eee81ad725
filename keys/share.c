/*
 * share.c - Shamir shares of an unseal secret: packing with a check,
 * splitting and combining through libgfshare, and the text form (share.h).
 */
#include <stdio.h>
#include <string.h>

#include <libgfshare.h>
#include <sodium.h>
#include <vault/vault.h>

#include "share.h"

/* Keys BLAKE2b for the two checks, so neither is a plain hash of anything. */
static const uint8_t pack_key[crypto_generichash_KEYBYTES_MIN] = "vault share pack";
static const uint8_t text_key[crypto_generichash_KEYBYTES_MIN] = "vault share text";

/* libgfshare's own default is random(3): every split uses libsodium's. */
static void
fill_rand(unsigned char *buf, unsigned int n)
{
	randombytes_buf(buf, n);
}

size_t
share_pack(const uint8_t *data, size_t dlen, uint8_t *out)
{
	size_t n = 2 + dlen;
	n = (n + 15) / 16 * 16;
	memset(out, 0, SHARE_PAYLOAD_MAX);
	out[0] = (uint8_t)(dlen >> 8);
	out[1] = (uint8_t)dlen;
	memcpy(out + 2, data, dlen);
	crypto_generichash(out + n, SHARE_CHECK_BYTES, out, n, pack_key, sizeof(pack_key));
	return n + SHARE_CHECK_BYTES;
}

int
share_unpack(const uint8_t *packed, size_t len, uint8_t *data, size_t *dlen)
{
	uint8_t check[SHARE_CHECK_BYTES];
	int ok = 0;
	*dlen = 0;
	sodium_memzero(data, SHARE_DATA_MAX);
	if (len < SHARE_PAYLOAD_MIN || len > SHARE_PAYLOAD_MAX || len % 16 != 0)
		return -1;
	size_t n = len - SHARE_CHECK_BYTES;
	crypto_generichash(check, sizeof(check), packed, n, pack_key, sizeof(pack_key));
	if (sodium_memcmp(check, packed + n, sizeof(check)) == 0) {
		size_t d = (size_t)packed[0] << 8 | packed[1];
		ok = d >= 1 && d <= SHARE_DATA_MAX && (2 + d + 15) / 16 * 16 == n;
		for (size_t i = 2 + d; ok && i < n; i++)
			ok = packed[i] == 0;
		if (ok) {
			memcpy(data, packed + 2, d);
			*dlen = d;
		}
	}
	sodium_memzero(check, sizeof(check));
	return ok ? 0 : -1;
}

int
share_split(const uint8_t *packed, size_t len, unsigned n, unsigned k, struct share *out)
{
	unsigned char nrs[SHARE_MAX];
	uint8_t *secret;
	if (k < 2 || k > n || n > SHARE_MAX || len < SHARE_PAYLOAD_MIN || len > SHARE_PAYLOAD_MAX)
		return VAULT_E_CONFIG;
	for (unsigned i = 0; i < n; i++)
		nrs[i] = (unsigned char)(i + 1);
	if ((secret = sodium_malloc(len)) == NULL)
		return VAULT_E_NOMEM;
	memcpy(secret, packed, len);
	gfshare_fill_rand = fill_rand;
	gfshare_ctx *g = gfshare_ctx_init_enc(nrs, n, (unsigned char)k, (unsigned)len);
	if (g == NULL) {
		sodium_free(secret);
		return VAULT_E_NOMEM;
	}
	gfshare_ctx_enc_setsecret(g, secret);
	for (unsigned i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].index = nrs[i];
		out[i].threshold = (uint8_t)k;
		out[i].len = (uint16_t)len;
		gfshare_ctx_enc_getshare(g, (unsigned char)i, out[i].payload);
	}
	/* gfshare_ctx_free overwrites its buffers (coefficients included) first. */
	gfshare_ctx_free(g);
	sodium_free(secret);
	return 0;
}

int
share_combine(const struct share *shares, size_t count, uint8_t *packed, size_t *len)
{
	unsigned char nrs[SHARE_MAX];
	*len = 0;
	if (count < 2 || count > SHARE_MAX || count < shares[0].threshold)
		return VAULT_E_INVALID_VALUE;
	for (size_t i = 0; i < count; i++) {
		if (shares[i].len != shares[0].len || shares[i].index == 0 ||
		    shares[i].threshold != shares[0].threshold ||
		    shares[i].len < SHARE_PAYLOAD_MIN || shares[i].len > SHARE_PAYLOAD_MAX)
			return VAULT_E_INVALID_VALUE;
		for (size_t j = 0; j < i; j++)
			if (shares[j].index == shares[i].index)
				return VAULT_E_INVALID_VALUE;
		nrs[i] = shares[i].index;
	}
	gfshare_fill_rand = fill_rand;
	gfshare_ctx *g = gfshare_ctx_init_dec(nrs, (unsigned)count, shares[0].len);
	if (g == NULL)
		return VAULT_E_NOMEM;
	for (size_t i = 0; i < count; i++)
		gfshare_ctx_dec_giveshare(g, (unsigned char)i, (unsigned char *)shares[i].payload);
	gfshare_ctx_dec_extract(g, packed);
	gfshare_ctx_free(g);
	*len = shares[0].len;
	return 0;
}

/* Everything before the check: "vs1-I-K-HEX". */
static size_t
format_body(const struct share *s, char *out)
{
	int n = snprintf(out, SHARE_TEXT_MAX, "vs1-%u-%u-", s->index, s->threshold);
	sodium_bin2hex(out + n, SHARE_TEXT_MAX - (size_t)n, s->payload, s->len);
	return (size_t)n + 2 * (size_t)s->len;
}

static void
text_check(const char *body, size_t n, uint8_t check[4])
{
	crypto_generichash(check, 4, (const uint8_t *)body, n, text_key, sizeof(text_key));
}

void
share_format(const struct share *s, char *out)
{
	uint8_t check[4];
	size_t n = format_body(s, out);
	text_check(out, n, check);
	out[n] = '-';
	sodium_bin2hex(out + n + 1, SHARE_TEXT_MAX - n - 1, check, sizeof(check));
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A decimal 1..255 without leading zeros, ended by '-'; -1 if not. */
static int
dec_field(const char **p, const char *end)
{
	const char *q = *p;
	unsigned v = 0;
	size_t digits = 0;
	while (q < end && *q >= '0' && *q <= '9' && digits < 4) {
		v = v * 10 + (unsigned)(*q - '0');
		q++;
		digits++;
	}
	if (digits == 0 || digits > 3 || (digits > 1 && **p == '0') || v == 0 || v > 255 ||
	    q >= end || *q != '-')
		return -1;
	*p = q + 1;
	return (int)v;
}

static int
fail(struct share *s, const char **why, const char *reason)
{
	sodium_memzero(s, sizeof(*s));
	*why = reason;
	return VAULT_E_INVALID_VALUE;
}

int
share_parse(const char *text, size_t len, struct share *s, const char **why)
{
	const char *p = text, *end = text + len;
	char body[SHARE_TEXT_MAX];
	uint8_t check[4], want[4];
	size_t hexlen;
	int idx, k;

	memset(s, 0, sizeof(*s));
	while (p < end && is_space(*p))
		p++;
	while (end > p && is_space(end[-1]))
		end--;
	if (end - p < 4 || memcmp(p, "vs", 2) != 0)
		return fail(s, why, "not a share (a share starts with vs1-)");
	if (memcmp(p, "vs1-", 4) != 0)
		return fail(s, why, "unsupported share format version (this vaultd reads vs1)");
	if ((size_t)(end - p) >= SHARE_TEXT_MAX)
		return fail(s, why, "the share is too long");
	p += 4;
	if ((idx = dec_field(&p, end)) < 0)
		return fail(s, why, "bad share index (1 to 255)");
	if ((k = dec_field(&p, end)) < 2)
		return fail(s, why, "bad share threshold (2 to 255)");
	const char *dash = memchr(p, '-', (size_t)(end - p));
	if (dash == NULL || end - dash != 9)
		return fail(s, why, "the share's check (8 hex digits at the end) is missing");
	hexlen = (size_t)(dash - p);
	if (hexlen % 2 != 0 || hexlen / 2 < SHARE_PAYLOAD_MIN || hexlen / 2 > SHARE_PAYLOAD_MAX ||
	    (hexlen / 2) % 16 != 0)
		return fail(s, why, "the share has a wrong length (a part is missing or repeated)");
	size_t got = 0;
	if (sodium_hex2bin(s->payload, sizeof(s->payload), p, hexlen, NULL, &got, NULL) != 0 ||
	    got != hexlen / 2)
		return fail(s, why, "the share holds a character that is not a hex digit");
	if (sodium_hex2bin(want, sizeof(want), dash + 1, 8, NULL, &got, NULL) != 0 || got != 4)
		return fail(s, why, "the share's check is not 8 hex digits");
	s->index = (uint8_t)idx;
	s->threshold = (uint8_t)k;
	s->len = (uint16_t)(hexlen / 2);
	/* The check is over the canonical form: lowercase hex as share_format writes. */
	size_t n = format_body(s, body);
	text_check(body, n, check);
	int ok = sodium_memcmp(check, want, sizeof(check)) == 0;
	sodium_memzero(body, sizeof(body));
	if (!ok)
		return fail(s, why, "the share's check does not match: it was mistyped or damaged");
	return 0;
}
