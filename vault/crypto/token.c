/*
 * token.c - making and authenticating tokens (see token.h).
 *
 * Record and opaque tokens use a small SIV construction: tag = keyed
 * BLAKE2b of the plaintext, ciphertext = plaintext XOR a keyed BLAKE2b of
 * the tag. It is deterministic authenticated encryption from a PRF; it is
 * written here because libsodium offers no SIV mode and a record id of 8
 * bytes does not justify a 24-byte nonce in every token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "keys/keyring.h"
#include "token.h"

/*
 * Token-key subkeys (context "vtokens1", id = index + 1). Ids 5, 6 and 8
 * keyed deterministic tags, their MACs and card index keys before those
 * moved to KEK epochs (schema 3); they are no longer derived, and the ids
 * stay unused.
 */
enum subkey {
	SK_RECORD_MAC, SK_RECORD_ENC, SK_OPAQUE_MAC, SK_OPAQUE_ENC,
	SK_UNUSED_5, SK_UNUSED_6, SK_CARD_MAC, SK_COUNT
};

struct version_keys {
	uint32_t version;
	uint8_t k[SK_COUNT][32];
};

/* KEK-epoch subkeys: what can confirm a person's value dies with the epoch. */
struct epoch_keys {
	uint32_t epoch;
	uint8_t det_tag[32];   /* crypto_kdf(KEK_e, 1, "vdettag2") */
	uint8_t det_mac[32];   /* crypto_kdf(KEK_e, 2, "vdettag2") */
	uint8_t card_index[32]; /* crypto_kdf(KEK_e, 1, "vcardix2") */
};

struct token_keys {
	uint32_t current;
	size_t count;
	struct version_keys *v; /* sodium_malloc'd, read-only */
	uint32_t current_epoch;
	size_t nepochs;
	struct epoch_keys *e;   /* sodium_malloc'd, read-only */
};

#define RECORD_PT 8
#define OPAQUE_PT 20
#define SIV_TAG 16
#define DET_MAC 8

void
token_keys_free(struct token_keys *tk)
{
	if (tk == NULL)
		return;
	sodium_free(tk->v);
	sodium_free(tk->e);
	free(tk);
}

int
token_keys_derive(const struct keyring *kr, struct token_keys **out)
{
	size_t n = keyring_count(kr, KEYRING_TOKEN), ne = keyring_count(kr, KEYRING_KEK);
	struct token_keys *tk = calloc(1, sizeof(*tk));
	if (tk == NULL || n == 0 || ne == 0)
		goto fail;
	tk->v = sodium_malloc(n * sizeof(*tk->v));
	if (tk->v == NULL)
		goto fail;
	tk->count = n;
	tk->current = keyring_current(kr, KEYRING_TOKEN);
	for (size_t i = 0; i < n; i++) {
		uint32_t ver = keyring_version_at(kr, KEYRING_TOKEN, i);
		const uint8_t *master = keyring_key(kr, KEYRING_TOKEN, ver);
		tk->v[i].version = ver;
		for (int s = 0; s < SK_COUNT; s++)
			if (s != SK_UNUSED_5 && s != SK_UNUSED_6)
				crypto_kdf_derive_from_key(tk->v[i].k[s], 32, (uint64_t)s + 1,
				    "vtokens1", master);
			else
				memset(tk->v[i].k[s], 0, 32);
	}
	sodium_mprotect_readonly(tk->v);
	if ((tk->e = sodium_malloc(ne * sizeof(*tk->e))) == NULL)
		goto fail;
	tk->nepochs = ne;
	tk->current_epoch = keyring_current(kr, KEYRING_KEK);
	for (size_t i = 0; i < ne; i++) {
		uint32_t ep = keyring_version_at(kr, KEYRING_KEK, i);
		const uint8_t *kek = keyring_key(kr, KEYRING_KEK, ep);
		struct epoch_keys *ek = &tk->e[i];
		ek->epoch = ep;
		crypto_kdf_derive_from_key(ek->det_tag, 32, 1, "vdettag2", kek);
		crypto_kdf_derive_from_key(ek->det_mac, 32, 2, "vdettag2", kek);
		crypto_kdf_derive_from_key(ek->card_index, 32, 1, "vcardix2", kek);
	}
	sodium_mprotect_readonly(tk->e);
	*out = tk;
	return 0;
fail:
	token_keys_free(tk);
	return VAULT_E_NOMEM;
}

uint32_t
token_keys_current(const struct token_keys *tk)
{
	return tk->current;
}

uint32_t
token_keys_epoch(const struct token_keys *tk)
{
	return tk->current_epoch;
}

size_t
token_keys_nepochs(const struct token_keys *tk)
{
	return tk->nepochs;
}

uint32_t
token_keys_epoch_at(const struct token_keys *tk, size_t i)
{
	return i < tk->nepochs ? tk->e[i].epoch : 0;
}

static const struct epoch_keys *
epoch_for(const struct token_keys *tk, uint32_t epoch)
{
	for (size_t i = 0; i < tk->nepochs; i++)
		if (tk->e[i].epoch == epoch)
			return &tk->e[i];
	return NULL;
}

int
token_keys_has_epoch(const struct token_keys *tk, uint32_t epoch)
{
	return epoch_for(tk, epoch) != NULL;
}

static const struct version_keys *
keys_for(const struct token_keys *tk, uint32_t version)
{
	for (size_t i = 0; i < tk->count; i++)
		if (tk->v[i].version == version)
			return &tk->v[i];
	return NULL;
}

/* Keyed BLAKE2b of a one-byte domain and a message, truncated to outlen. */
static void
prf(uint8_t *out, size_t outlen, const uint8_t *key, uint8_t domain,
    const void *msg, size_t len)
{
	uint8_t full[32];
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, 32, outlen < 16 ? 16 : outlen);
	crypto_generichash_update(&st, &domain, 1);
	crypto_generichash_update(&st, msg, len);
	crypto_generichash_final(&st, full, outlen < 16 ? 16 : outlen);
	memcpy(out, full, outlen);
	sodium_memzero(full, sizeof(full));
}

static void
siv_seal(const uint8_t *kmac, const uint8_t *kenc, uint8_t domain,
    const uint8_t *pt, size_t n, uint8_t *out)
{
	uint8_t ks[32];
	prf(out, SIV_TAG, kmac, domain, pt, n);
	prf(ks, n, kenc, domain, out, SIV_TAG);
	for (size_t i = 0; i < n; i++)
		out[SIV_TAG + i] = pt[i] ^ ks[i];
	sodium_memzero(ks, sizeof(ks));
}

static int
siv_open(const uint8_t *kmac, const uint8_t *kenc, uint8_t domain,
    const uint8_t *in, size_t n, uint8_t *pt)
{
	uint8_t ks[32], tag[SIV_TAG];
	prf(ks, n, kenc, domain, in, SIV_TAG);
	for (size_t i = 0; i < n; i++)
		pt[i] = in[SIV_TAG + i] ^ ks[i];
	prf(tag, SIV_TAG, kmac, domain, pt, n);
	int ok = crypto_verify_16(tag, in) == 0;
	sodium_memzero(ks, sizeof(ks));
	return ok ? 0 : VAULT_E_BAD_TOKEN;
}

static void
put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t
get_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void
format_text(char *out, const char *prefix, uint32_t version,
    const uint8_t *payload, size_t n)
{
	int k = snprintf(out, TOKEN_MAX_LEN + 1, "%s_%u_", prefix, version);
	sodium_bin2base64(out + k, (size_t)(TOKEN_MAX_LEN + 1 - k), payload, n,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int
token_record_make(const struct token_keys *tk, uint64_t record_id, char *out)
{
	const struct version_keys *vk = keys_for(tk, tk->current);
	uint8_t pt[RECORD_PT], payload[SIV_TAG + RECORD_PT];
	put_be(pt, record_id, 8);
	siv_seal(vk->k[SK_RECORD_MAC], vk->k[SK_RECORD_ENC], 'r', pt, RECORD_PT, payload);
	format_text(out, "rec", vk->version, payload, sizeof(payload));
	return 0;
}

int
token_opaque_make(const struct token_keys *tk, uint64_t record_id,
    uint8_t field, uint32_t gen, char *out)
{
	const struct version_keys *vk = keys_for(tk, tk->current);
	uint8_t pt[OPAQUE_PT], payload[SIV_TAG + OPAQUE_PT];
	put_be(pt, record_id, 8);
	pt[8] = field;
	put_be(pt + 9, gen, 4);
	/* Random bits make each issued token distinct (unlinkable issuances). */
	randombytes_buf(pt + 13, OPAQUE_PT - 13);
	siv_seal(vk->k[SK_OPAQUE_MAC], vk->k[SK_OPAQUE_ENC], 'o', pt, OPAQUE_PT, payload);
	format_text(out, "tok", vk->version, payload, sizeof(payload));
	return 0;
}

/*
 * The tag of value in field for a join domain: keyed BLAKE2b-128 over
 * 0xff, the domain's length and bytes, the field id and the value. Keyed
 * BLAKE2b is a PRF, and this input encoding is injective, so each domain
 * gets its own independent function: tags of two domains cannot be
 * compared without the key. That is what a subkey per domain would give,
 * at one hash per token instead of two (a derivation costs ~0.3-0.8 us, on
 * the single writer thread). The leading 0xff is never a field id, so no
 * tag can equal a tag made before domains existed (field id first).
 */
static void
det_tag(const struct epoch_keys *ek, const char *domain, size_t dlen,
    uint8_t field, const char *value, size_t len, uint8_t tag[TOKEN_TAG_BYTES])
{
	uint8_t head[2] = { 0xff, (uint8_t)dlen };
	crypto_generichash_state st;
	crypto_generichash_init(&st, ek->det_tag, 32, TOKEN_TAG_BYTES);
	crypto_generichash_update(&st, head, sizeof(head));
	crypto_generichash_update(&st, (const uint8_t *)domain, dlen);
	crypto_generichash_update(&st, &field, 1);
	crypto_generichash_update(&st, (const uint8_t *)value, len);
	crypto_generichash_final(&st, tag, TOKEN_TAG_BYTES);
}

int
token_det_make(const struct token_keys *tk, const char *domain, size_t domain_len,
    uint8_t field, const char *value, size_t len, char *out,
    uint8_t tag[TOKEN_TAG_BYTES])
{
	const struct epoch_keys *ek = epoch_for(tk, tk->current_epoch);
	uint8_t payload[TOKEN_TAG_BYTES + DET_MAC];
	if (domain == NULL || domain_len == 0 || domain_len > TOKEN_DOMAIN_MAX)
		return VAULT_E_INVALID_VALUE;
	det_tag(ek, domain, domain_len, field, value, len, tag);
	memcpy(payload, tag, TOKEN_TAG_BYTES);
	prf(payload + TOKEN_TAG_BYTES, DET_MAC, ek->det_mac, 'd', tag, TOKEN_TAG_BYTES);
	format_text(out, "det", ek->epoch, payload, sizeof(payload));
	return 0;
}

/* MAC digits: how many of a card token's free digits authenticate it. */
static size_t
card_mac_digits(size_t len)
{
	return len - 5 >= 10 ? 4 : 3;
}

/* The MAC digits for the random digits r[0..nr) and the last four. */
static void
card_mac(const struct version_keys *vk, size_t len, const char *r, size_t nr,
    const char *last4, size_t m, char *mac)
{
	uint8_t h[16], msg[CARD_MAX_DIGITS + 1];
	msg[0] = (uint8_t)len;
	memcpy(msg + 1, r, nr);
	memcpy(msg + 1 + nr, last4, 4);
	prf(h, sizeof(h), vk->k[SK_CARD_MAC], 'c', msg, 1 + nr + 4);
	uint64_t v = get_be(h, 8);
	for (size_t i = m; i-- > 0;) {
		mac[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* Luhn: the digit at pos that makes d[0..len) valid. */
static int
luhn_digit_at(const char *d, size_t len, size_t pos)
{
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++) {
		if (i == pos)
			continue;
		unsigned x = (unsigned)(d[i] - '0');
		if ((len - 1 - i) % 2 == 1) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		sum += x;
	}
	for (unsigned c = 0; c < 10; c++) {
		unsigned x = c;
		if ((len - 1 - pos) % 2 == 1) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		if ((sum + x) % 10 == 0)
			return (int)c;
	}
	return 0; /* unreachable: doubling is a bijection on 0-9 */
}

static int
luhn_ok(const char *d, size_t len)
{
	return luhn_digit_at(d, len, len - 1) == d[len - 1] - '0';
}

int
token_card_make(const struct token_keys *tk, const char *card, size_t len,
    char *out)
{
	const struct version_keys *vk = keys_for(tk, tk->current);
	if (len < CARD_MIN_DIGITS || len > CARD_MAX_DIGITS)
		return VAULT_E_INVALID_VALUE;
	size_t free_digits = len - 5, m = card_mac_digits(len), nr = free_digits - m;
	uint8_t rnd[64];
	size_t used = 0, got = 0;

	/* Layout: random digits, MAC digits, one Luhn digit, the last four. */
	randombytes_buf(rnd, sizeof(rnd));
	while (got < nr) {
		if (used == sizeof(rnd)) {
			randombytes_buf(rnd, sizeof(rnd));
			used = 0;
		}
		uint8_t b = rnd[used++];
		if (b < 250) /* rejection sampling: no bias toward low digits */
			out[got++] = (char)('0' + b % 10);
	}
	memcpy(out + len - 4, card + len - 4, 4);
	card_mac(vk, len, out, nr, out + len - 4, m, out + nr);
	out[len - 5] = '0';
	out[len - 5] = (char)('0' + luhn_digit_at(out, len, len - 5));
	out[len] = '\0';
	sodium_memzero(rnd, sizeof(rnd));
	return 0;
}

int
token_card_index_key(const struct token_keys *tk, uint32_t epoch, const char *token,
    size_t len, uint8_t key[TOKEN_TAG_BYTES])
{
	const struct epoch_keys *ek = epoch_for(tk, epoch);
	if (ek == NULL)
		return VAULT_E_NOT_FOUND;
	prf(key, TOKEN_TAG_BYTES, ek->card_index, 'i', token, len);
	return 0;
}

static int
parse_card(const struct token_keys *tk, const char *s, size_t len,
    struct token_ref *out)
{
	if (len < CARD_MIN_DIGITS || len > CARD_MAX_DIGITS || !luhn_ok(s, len))
		return VAULT_E_BAD_TOKEN;
	size_t m = card_mac_digits(len), nr = len - 5 - m;
	char mac[4];
	int ok = 0;
	/* The digits carry no key version: try each, in constant time per key. */
	for (size_t i = 0; i < tk->count && !ok; i++) {
		card_mac(&tk->v[i], len, s, nr, s + len - 4, m, mac);
		if (sodium_memcmp(mac, s + nr, m) == 0) {
			ok = 1;
			out->key_version = tk->v[i].version;
		}
	}
	if (!ok)
		return VAULT_E_BAD_TOKEN;
	out->type = TOKEN_CARD;
	out->field = 8; /* FIELD_CARD_NUMBER */
	return 0;
}

/* "<prefix>_<version>_": returns the offset of the payload, or 0. */
static size_t
parse_prefix(const char *s, size_t len, const char *prefix, uint32_t *version)
{
	size_t p = strlen(prefix), i = p + 1;
	uint64_t v = 0;
	if (len < p + 3 || memcmp(s, prefix, p) != 0 || s[p] != '_')
		return 0;
	if (s[i] < '1' || s[i] > '9')
		return 0; /* no leading zeros: one text per token */
	while (i < len && s[i] >= '0' && s[i] <= '9' && v <= UINT32_MAX) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		i++;
	}
	if (i >= len || s[i] != '_' || v > UINT32_MAX)
		return 0;
	*version = (uint32_t)v;
	return i + 1;
}

/*
 * Base64url without padding, decoded by table. Not libsodium's
 * sodium_base642bin(): that one runs in constant time, which a token does
 * not need (its text is public: whoever sends it knows it), and it cost
 * 3,300 instructions per token, a sixth of a detokenized field (measured
 * with bench/callgrind.sh). Like it, this one accepts exactly one text per
 * payload: only the 64 characters of the alphabet (libsodium 1.0.18 also
 * mapped some bytes >= 0x80 onto them), the exact length, and zero bits
 * in what the last character carries beyond the payload.
 */
static const int8_t b64url[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7,
	['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13,
	['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19,
	['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25,
	['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31,
	['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,
	['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
	['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
	['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55,
	['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61,
	['9'] = 62, ['-'] = 63, ['_'] = 64,
}; /* value + 1; 0: not in the alphabet */

static int
decode_payload(const char *s, size_t len, uint8_t *out, size_t want)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;
	if (len != sodium_base64_ENCODED_LEN(want,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1)
		return VAULT_E_BAD_TOKEN;
	for (size_t i = 0; i < len; i++) {
		int v = b64url[(unsigned char)s[i]];
		if (v == 0)
			return VAULT_E_BAD_TOKEN;
		acc = (acc << 6) | (uint32_t)(v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (n != want || acc != 0)
		return VAULT_E_BAD_TOKEN;
	return 0;
}

int
token_parse(const struct token_keys *tk, const char *s, size_t len,
    struct token_ref *out)
{
	uint8_t payload[SIV_TAG + OPAQUE_PT], pt[OPAQUE_PT];
	const struct version_keys *vk;
	uint32_t version = 0;
	size_t off;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > TOKEN_MAX_LEN)
		return VAULT_E_BAD_TOKEN;
	if (s[0] >= '0' && s[0] <= '9') {
		for (size_t i = 0; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				return VAULT_E_BAD_TOKEN;
		return parse_card(tk, s, len, out);
	}
	if ((off = parse_prefix(s, len, "rec", &version)) != 0) {
		if ((vk = keys_for(tk, version)) == NULL ||
		    decode_payload(s + off, len - off, payload, SIV_TAG + RECORD_PT) != 0 ||
		    siv_open(vk->k[SK_RECORD_MAC], vk->k[SK_RECORD_ENC], 'r', payload,
		    RECORD_PT, pt) != 0)
			return VAULT_E_BAD_TOKEN;
		out->type = TOKEN_RECORD;
		out->record_id = get_be(pt, 8);
	} else if ((off = parse_prefix(s, len, "tok", &version)) != 0) {
		if ((vk = keys_for(tk, version)) == NULL ||
		    decode_payload(s + off, len - off, payload, SIV_TAG + OPAQUE_PT) != 0 ||
		    siv_open(vk->k[SK_OPAQUE_MAC], vk->k[SK_OPAQUE_ENC], 'o', payload,
		    OPAQUE_PT, pt) != 0)
			return VAULT_E_BAD_TOKEN;
		out->type = TOKEN_OPAQUE;
		out->record_id = get_be(pt, 8);
		out->field = pt[8];
		out->field_gen = (uint32_t)get_be(pt + 9, 4);
	} else if ((off = parse_prefix(s, len, "det", &version)) != 0) {
		uint8_t mac[DET_MAC];
		const struct epoch_keys *ek = epoch_for(tk, version);
		if (ek == NULL) {
			/* An epoch below the current one that the ring no longer
			 * holds was retired: its key, and every tag it keyed, are
			 * gone. Nothing of the payload can be checked. */
			out->retired_epoch = version < tk->current_epoch;
			return VAULT_E_BAD_TOKEN;
		}
		if (decode_payload(s + off, len - off, payload, TOKEN_TAG_BYTES + DET_MAC) != 0)
			return VAULT_E_BAD_TOKEN;
		prf(mac, DET_MAC, ek->det_mac, 'd', payload, TOKEN_TAG_BYTES);
		if (sodium_memcmp(mac, payload + TOKEN_TAG_BYTES, DET_MAC) != 0)
			return VAULT_E_BAD_TOKEN;
		out->type = TOKEN_DET;
		memcpy(out->tag, payload, TOKEN_TAG_BYTES);
	} else {
		return VAULT_E_BAD_TOKEN;
	}
	out->key_version = version;
	return 0;
}
