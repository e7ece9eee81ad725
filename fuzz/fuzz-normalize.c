/*
 * fuzz-normalize.c - field validation and normalization
 * (vault/record/normalize.h), and the masking of normalized values that
 * clients with "masked" access see (vault/record/mask.h).
 *
 * Input: one selector byte, then the value. The selector's low nibble
 * modulo FIELD_MAX + 1 is the field id (0: no such field), bits 4-5 pick
 * the default calling code ("1", "44", "33", none).
 *
 * Invariants:
 *   - normalize_field() returns 0 or one of its documented errors, and
 *     VAULT_E_UNKNOWN_FIELD exactly for an unknown id; every other refusal
 *     comes with a reason (normalize_field_why());
 *   - a normalized value is at most the field's max_value bytes, holds no
 *     NUL byte, no leading or trailing white space, and is valid UTF-8
 *     without control characters (newlines only in postal addresses);
 *   - normalization is idempotent: a normalized value normalizes to itself;
 *   - the masked form of a normalized value is not empty, fits, is clean
 *     UTF-8 text, never shows a whole value of MASK_MIN_HIDDEN bytes or
 *     more (without a '*' of its own, which the mask's stars could match),
 *     and shows at most the digits mask.h promises (card 4, phone 2,
 *     account 4, expiry 2);
 *   - neither reads its input beyond its length (exact-size copies, ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vault/vault.h>

#include "vault/record/mask.h"
#include "vault/record/normalize.h"

#include "fuzz.h"

#define NOW_2025_06_15 ((time_t)1749988800) /* fixed: card expiry depends on it */
#define MASK_MIN_HIDDEN 8 /* shorter values may be all but shown ("Al" -> "A***") */

static const char *const calling_codes[] = { "1", "44", "33", NULL };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static size_t
count_digits(const char *s, size_t n)
{
	size_t d = 0;
	for (size_t i = 0; i < n; i++)
		d += s[i] >= '0' && s[i] <= '9';
	return d;
}

/* What masked access shows of the normalized value out[0..n). */
static void
check_mask(const struct field_info *fi, const char *out, size_t n)
{
	char masked[FIELD_VALUE_MAX];
	char *copy = (char *)fuzz_dup((const uint8_t *)out, n);
	size_t m = mask_field(fi->id, copy, n, masked, sizeof(masked));
	free(copy);
	fuzz_assert(m <= sizeof(masked), "%s: masked to %zu bytes", fi->name, m);
	/* Nothing at all reads as an empty field, not as a masked one. */
	if (m == 0 && !(fi->id == FIELD_POSTAL_ADDRESS &&
	    fuzz_known_bug("mask-address-empty-after-comma")))
		fuzz_assert(0, "%s: masked to nothing", fi->name);
	fuzz_assert(utf8_text_valid(masked, m, fi->id == FIELD_POSTAL_ADDRESS),
	    "%s: the masked form is not clean UTF-8 text", fi->name);
	/* A '*' in the value could match the mask's own stars: not evidence. */
	fuzz_assert(n < MASK_MIN_HIDDEN || memchr(out, '*', n) != NULL ||
	    memmem(masked, m, out, n) == NULL,
	    "%s: the masked form shows the whole value (%zu bytes)", fi->name, n);
	size_t shown = count_digits(masked, m), allowed = SIZE_MAX;
	switch (fi->id) {
	case FIELD_CARD_NUMBER: allowed = 4; break;
	case FIELD_PHONE: allowed = 2; break;
	case FIELD_CARD_EXPIRY: allowed = 2; break;
	case FIELD_BANK_ACCOUNT: allowed = 4 + count_digits(out, n < 2 ? n : 2); break;
	default: break;
	}
	fuzz_assert(shown <= allowed, "%s: the masked form shows %zu digits (at most %zu)",
	    fi->name, shown, allowed);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[FIELD_VALUE_MAX], again[FIELD_VALUE_MAX];
	size_t n = 0, m = 0;

	if (size < 1)
		return 0;
	unsigned id = (data[0] & 0x0f) % (FIELD_MAX + 1);
	struct normalize_ctx ctx = { NOW_2025_06_15, calling_codes[(data[0] >> 4) & 3] };
	const struct field_info *fi = field_by_id(id);
	char *in = (char *)fuzz_dup(data + 1, size - 1);

	const char *why = NULL;
	int rc = normalize_field_why((enum field_id)id, in, size - 1, out, sizeof(out), &n, &ctx,
	    &why);
	/* Every refusal says why (static text: it cannot quote the value). */
	if (rc != 0 && fi != NULL)
		fuzz_assert(why != NULL && why[0] != '\0', "%s: refused (%d) without a reason",
		    fi->name, rc);
	fuzz_assert(rc != 0 || why == NULL, "a reason on success");
	free(in);
	if (fi == NULL) {
		fuzz_assert(rc == VAULT_E_UNKNOWN_FIELD, "field id %u: returned %d", id, rc);
		return 0;
	}
	fuzz_assert(rc == 0 || rc == VAULT_E_INVALID_VALUE || rc == VAULT_E_TOO_LARGE ||
	    rc == VAULT_E_EMPTY, "%s: returned %d", fi->name, rc);
	if (rc != 0) {
		fuzz_assert(n == 0, "%s: failed with an output length", fi->name);
		return 0;
	}

	fuzz_assert(n > 0 && n <= fi->max_value, "%s: %zu bytes normalized (max %zu)",
	    fi->name, n, fi->max_value);
	fuzz_assert(memchr(out, '\0', n) == NULL, "%s: NUL in the normalized value", fi->name);
	fuzz_assert(!is_space(out[0]) && !is_space(out[n - 1]),
	    "%s: white space around the normalized value", fi->name);
	fuzz_assert(utf8_text_valid(out, n, id == FIELD_POSTAL_ADDRESS),
	    "%s: normalized value is not clean UTF-8 text", fi->name);

	/* Idempotence, on an exact-size copy of the output. */
	char *copy = (char *)fuzz_dup((const uint8_t *)out, n);
	rc = normalize_field((enum field_id)id, copy, n, again, sizeof(again), &m, &ctx);
	free(copy);
	fuzz_assert(rc == 0, "%s: a normalized value (%zu bytes) is refused: %s", fi->name, n,
	    vault_error_name(rc));
	fuzz_assert(m == n && memcmp(again, out, n) == 0,
	    "%s: normalizing twice changes the value (%zu -> %zu bytes)", fi->name, n, m);

	check_mask(fi, out, n);
	return 0;
}
