/*
 * normalize.h - validation and normalization of field values on write.
 *
 * Every value stored in the vault passes through normalize_field() first, so
 * that equal values compare equal (deterministic tokens, blind indexes) and
 * invalid ones are refused with an error naming the field. The rules per
 * field are documented in PROTOCOL.md ("Fields").
 */
#ifndef VAULT_RECORD_NORMALIZE_H
#define VAULT_RECORD_NORMALIZE_H

#include <stddef.h>
#include <time.h>

#include "fields.h"

struct normalize_ctx {
	time_t now;                 /* card expiry is checked against this */
	const char *default_calling_code; /* e.g. "1": phone numbers without '+' */
};

/*
 * Validate and normalize in[0..in_len) as a value of field id. The result,
 * not NUL-terminated, goes to out (capacity out_cap, at least
 * FIELD_VALUE_MAX) and its length to *out_len.
 *
 * Returns 0, VAULT_E_INVALID_VALUE (syntax, checksum, expired, ...),
 * VAULT_E_TOO_LARGE (longer than the field's max_input), VAULT_E_EMPTY
 * (nothing left after trimming) or VAULT_E_UNKNOWN_FIELD.
 * Never reads beyond in_len; in may contain NUL bytes (they are refused).
 */
int normalize_field(enum field_id id, const char *in, size_t in_len,
    char *out, size_t out_cap, size_t *out_len,
    const struct normalize_ctx *ctx);

/*
 * As normalize_field(), and on failure *why (if why is not NULL) says which
 * rule the value broke ("Luhn check failed", "month out of range (01-12)",
 * "in the past", "no @"...): static text that never quotes the value.
 */
int normalize_field_why(enum field_id id, const char *in, size_t in_len,
    char *out, size_t out_cap, size_t *out_len,
    const struct normalize_ctx *ctx, const char **why);

/* Building blocks, exposed for the tests and for token formats. */
int luhn_valid(const char *digits, size_t len);
/* The digit 0-9 that, placed at position pos of digits[0..len), makes the
 * whole string Luhn-valid (the digit already there is ignored). */
int luhn_fix_digit(const char *digits, size_t len, size_t pos);
/* 1 if s[0..len) is valid UTF-8 without control characters (newline and
 * tab allowed only if allow_newline). */
int utf8_text_valid(const char *s, size_t len, int allow_newline);

#endif
