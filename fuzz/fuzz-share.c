/*
 * fuzz-share.c - the Shamir share text form (keys/share.h): share_parse()
 * on the input, and share_unpack() on the input's bytes as a combined secret.
 *
 * Invariants:
 *   - share_parse() returns 0 or VAULT_E_INVALID_VALUE with a reason, the
 *     same answer twice, never reads past the input (an exact-size copy
 *     under ASan), and leaves the share all zero when it refuses;
 *   - an accepted share has index 1..255, threshold 2..255 and a payload
 *     length in SHARE_PAYLOAD_MIN..MAX, a multiple of 16; formatted again
 *     it parses to the same share;
 *   - share_unpack() accepts only what share_pack() would make: an accepted
 *     input packs back to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "keys/share.h"

#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct share a, b;
	const char *why = NULL, *why2 = NULL;
	char *copy = malloc(size ? size : 1);
	fuzz_assert(copy != NULL, "out of memory");
	memcpy(copy, data, size);

	int rc = share_parse(copy, size, &a, &why);
	int rc2 = share_parse(copy, size, &b, &why2);
	fuzz_assert(rc == rc2, "two answers: %d then %d", rc, rc2);
	if (rc != 0) {
		static const struct share zero;
		fuzz_assert(rc == VAULT_E_INVALID_VALUE, "unexpected code %d", rc);
		fuzz_assert(why != NULL && why == why2, "no reason, or two reasons");
		fuzz_assert(memcmp(&a, &zero, sizeof(a)) == 0, "a refused share is not wiped");
	} else {
		fuzz_assert(a.index >= 1 && a.threshold >= 2, "index %u threshold %u", a.index,
		    a.threshold);
		fuzz_assert(a.len >= SHARE_PAYLOAD_MIN && a.len <= SHARE_PAYLOAD_MAX &&
		    a.len % 16 == 0, "payload length %u", a.len);
		fuzz_assert(memcmp(&a, &b, sizeof(a)) == 0, "two parses differ");
		char text[SHARE_TEXT_MAX];
		share_format(&a, text);
		fuzz_assert(share_parse(text, strlen(text), &b, &why) == 0, "formatted share "
		    "refused: %s", why);
		fuzz_assert(memcmp(&a, &b, sizeof(a)) == 0, "format and parse do not round-trip");
	}

	uint8_t out[SHARE_DATA_MAX], again[SHARE_PAYLOAD_MAX];
	size_t dlen;
	if (share_unpack(data, size, out, &dlen) == 0) {
		fuzz_assert(dlen >= 1 && dlen <= SHARE_DATA_MAX, "unpacked length %zu", dlen);
		size_t n = share_pack(out, dlen, again);
		fuzz_assert(n == size && memcmp(again, data, n) == 0, "unpack is not pack's inverse");
	}
	free(copy);
	return 0;
}
