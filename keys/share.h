/*
 * share.h - Shamir shares of an unseal secret (libgfshare, GF(2^8)), and
 * their text form, which operators keep, type and paste.
 *
 * A secret (a ring's 32-byte sealing key, or a PKCS#11 PIN) is first
 * packed: a 2-byte length, the bytes, zeros up to a multiple of 16, then
 * a 16-byte check (keyed BLAKE2b of what precedes it). The packed secret is
 * what is split, so the check travels inside the shares: fewer than K
 * shares tell nothing about it, and K shares that do not belong together
 * combine to bytes whose check fails (share_unpack), before anything is
 * tried against the ring or the token.
 *
 * Text form, version 1 (keys/README.md):
 *
 *     vs1-<index>-<threshold>-<payload, lowercase hex>-<check, 8 hex digits>
 *
 * index 1..255 and threshold 2..255 in decimal, no leading zeros; the
 * payload is the share of the packed secret (SHARE_PAYLOAD_MIN..MAX bytes,
 * a multiple of 16); the check is the first 4 bytes of BLAKE2b of
 * everything before the last '-', so a mistyped share is refused before
 * it is used. Share buffers belong in secure memory: the caller's.
 */
#ifndef VAULT_KEYS_SHARE_H
#define VAULT_KEYS_SHARE_H

#include <stddef.h>
#include <stdint.h>

#define SHARE_DATA_MAX 256      /* the longest secret: a PKCS#11 PIN */
#define SHARE_CHECK_BYTES 16
#define SHARE_PAYLOAD_MIN 32
#define SHARE_PAYLOAD_MAX 288   /* 2 + 256 rounded up to 16, + 16 */
#define SHARE_TEXT_MAX 640      /* the longest text form, with room to spare */
#define SHARE_MAX 255           /* shares and threshold: GF(2^8) has 255 x != 0 */

struct share {
	uint8_t index;      /* 1..255 */
	uint8_t threshold;  /* 2..255 */
	uint16_t len;       /* payload bytes */
	uint8_t payload[SHARE_PAYLOAD_MAX];
};

/*
 * Pack data[0..dlen) (1..SHARE_DATA_MAX bytes) into out
 * (SHARE_PAYLOAD_MAX bytes); returns the packed length.
 */
size_t share_pack(const uint8_t *data, size_t dlen, uint8_t *out);
/*
 * Check a packed secret and take its data out: 0 with data (SHARE_DATA_MAX
 * bytes) and *dlen, or -1 (the check fails: the shares did not belong
 * together) with data wiped.
 */
int share_unpack(const uint8_t *packed, size_t len, uint8_t *data, size_t *dlen)
    __attribute__((warn_unused_result));

/*
 * Split the packed secret into n shares (out[0..n), index i + 1) of which
 * any k recover it; 2 <= k <= n <= SHARE_MAX. Randomness from libsodium.
 * 0, or VAULT_E_CONFIG (bad n or k), VAULT_E_NOMEM.
 */
int share_split(const uint8_t *packed, size_t len, unsigned n, unsigned k,
    struct share *out);
/*
 * Combine count shares (distinct indexes, all of one length and threshold,
 * count >= their threshold) into packed (SHARE_PAYLOAD_MAX bytes, length
 * in *len). Any such shares combine to something: share_unpack() says
 * whether it is the secret. 0, VAULT_E_INVALID_VALUE or VAULT_E_NOMEM.
 */
int share_combine(const struct share *shares, size_t count, uint8_t *packed, size_t *len);

/* Write s's text form, NUL-terminated, into out (SHARE_TEXT_MAX bytes). */
void share_format(const struct share *s, char *out);
/*
 * Parse a text form (leading and trailing ASCII white space ignored) into
 * *s: 0, or VAULT_E_INVALID_VALUE with a static reason that never quotes
 * the input. *s is wiped on failure.
 */
int share_parse(const char *text, size_t len, struct share *s, const char **why)
    __attribute__((warn_unused_result));

#endif
