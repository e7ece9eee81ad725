/*
 * fuzz-token.c - token authentication (vault/crypto/token.h): token_parse()
 * on the input under the fixture's token keys, and the token makers on
 * values taken from the input.
 *
 * Invariants:
 *   - token_parse() returns 0 or VAULT_E_BAD_TOKEN, the same answer twice,
 *     and never reads past the input (an exact-size copy under ASan);
 *   - an accepted token is canonical and re-encodes: a record token is
 *     exactly what token_record_make() makes of its id; an opaque token
 *     re-made from its record, field and generation parses back to them;
 *     a deterministic or card token has its documented shape, a card token
 *     is Luhn-valid and keyed by token_card_index_key();
 *   - what the makers make, token_parse() accepts as what was made (record
 *     ids, opaque triples, deterministic tags, card tokens of the card's
 *     length, keeping its last four digits).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <vault/vault.h>

#include "keys/keyring.h"
#include "vault/record/normalize.h"

#include "fuzz.h"
#include "fuzz-vault.h"

static struct keyring *kr;
static struct token_keys *tk;

static void
teardown(void)
{
	token_keys_free(tk);
	keyring_free(kr);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	fuzz_tmpdir(dir, "token");
	snprintf(path, sizeof(path), "%s/keyring", dir);
	kr = fuzz_keys_open(path);
	fuzz_assert(token_keys_derive(kr, &tk) == 0, "token_keys_derive failed");
	fuzz_rmtree(dir);
	atexit(teardown);
	return 0;
}

static uint64_t
get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int
all_digits(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

static int
has_prefix(const char *s, size_t len, const char *prefix, uint32_t version)
{
	char want[32];
	int n = snprintf(want, sizeof(want), "%s_%u_", prefix, version);
	return n > 0 && (size_t)n <= len && memcmp(s, want, (size_t)n) == 0;
}

static void
check_parsed(const char *s, size_t len, const struct token_ref *ref)
{
	char made[TOKEN_MAX_LEN + 1];
	struct token_ref again;

	fuzz_assert(len >= 1 && len <= TOKEN_MAX_LEN, "accepted a token of %zu bytes", len);
	fuzz_assert(token_parse(tk, s, len, &again) == 0 && memcmp(&again, ref, sizeof(again)) == 0,
	    "token_parse is not deterministic");
	switch (ref->type) {
	case TOKEN_RECORD:
		fuzz_assert(has_prefix(s, len, "rec", ref->key_version), "record token without its prefix");
		fuzz_assert(ref->key_version == token_keys_current(tk), "record token of unknown version");
		token_record_make(tk, ref->record_id, made);
		fuzz_assert(strlen(made) == len && memcmp(made, s, len) == 0,
		    "a record token that is not the canonical one for its id");
		break;
	case TOKEN_OPAQUE:
		fuzz_assert(has_prefix(s, len, "tok", ref->key_version), "opaque token without its prefix");
		token_opaque_make(tk, ref->record_id, ref->field, ref->field_gen, made);
		fuzz_assert(strlen(made) == len, "re-made opaque token differs in length");
		fuzz_assert(token_parse(tk, made, strlen(made), &again) == 0 &&
		    again.type == TOKEN_OPAQUE && again.record_id == ref->record_id &&
		    again.field == ref->field && again.field_gen == ref->field_gen,
		    "a re-made opaque token does not parse back");
		break;
	case TOKEN_DET:
		fuzz_assert(has_prefix(s, len, "det", ref->key_version), "det token without its prefix");
		break;
	case TOKEN_CARD: {
		uint8_t key[TOKEN_TAG_BYTES];
		fuzz_assert(len >= CARD_MIN_DIGITS && len <= CARD_MAX_DIGITS, "card token of %zu digits", len);
		fuzz_assert(luhn_valid(s, len), "card token fails normalize.c's Luhn check");
		fuzz_assert(ref->field == FIELD_CARD_NUMBER, "card token for field %u", ref->field);
		fuzz_assert(token_card_index_key(tk, token_keys_epoch(tk), s, len, key) == 0,
		    "no card index key under the current epoch");
		break;
	}
	default:
		fuzz_assert(0, "token_parse accepted a token of type %d", ref->type);
	}
}

/* The makers on values from the input: what they make must parse. */
static void
check_makers(const uint8_t *data, size_t size)
{
	char made[TOKEN_MAX_LEN + 1];
	struct token_ref ref;
	uint8_t tag[TOKEN_TAG_BYTES];

	if (size >= 8) {
		uint64_t id = get_be(data, 8);
		token_record_make(tk, id, made);
		fuzz_assert(token_parse(tk, made, strlen(made), &ref) == 0 &&
		    ref.type == TOKEN_RECORD && ref.record_id == id, "a made record token does not parse");
	}
	if (size >= 13) {
		uint64_t id = get_be(data, 8);
		uint8_t field = data[8];
		uint32_t gen = (uint32_t)get_be(data + 9, 4);
		token_opaque_make(tk, id, field, gen, made);
		fuzz_assert(token_parse(tk, made, strlen(made), &ref) == 0 && ref.type == TOKEN_OPAQUE &&
		    ref.record_id == id && ref.field == field && ref.field_gen == gen,
		    "a made opaque token does not parse");
	}
	if (size >= 1) {
		uint8_t field = (uint8_t)(data[0] % FIELD_MAX + 1);
		fuzz_assert(token_det_make(tk, "fuzz", 4, field, (const char *)data + 1, size - 1,
		    made, tag) == 0, "token_det_make refused a domain");
		fuzz_assert(token_parse(tk, made, strlen(made), &ref) == 0 && ref.type == TOKEN_DET &&
		    memcmp(ref.tag, tag, sizeof(tag)) == 0, "a made deterministic token does not parse");
	}
	/* A card number: the input's digits, if it is 13-19 digits long. */
	if (size >= CARD_MIN_DIGITS && size <= CARD_MAX_DIGITS && all_digits(data, size)) {
		const char *card = (const char *)data;
		if (token_card_make(tk, card, size, made) == 0) {
			fuzz_assert(strlen(made) == size, "card token of another length");
			fuzz_assert(memcmp(made + size - 4, card + size - 4, 4) == 0,
			    "card token does not keep the last four");
			fuzz_assert(token_parse(tk, made, size, &ref) == 0 && ref.type == TOKEN_CARD,
			    "a made card token does not parse");
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct token_ref ref;
	int rc = token_parse(tk, (const char *)data, size, &ref);
	fuzz_assert(rc == 0 || rc == VAULT_E_BAD_TOKEN, "token_parse returned %d", rc);
	if (rc == 0)
		check_parsed((const char *)data, size, &ref);
	check_makers(data, size);
	return 0;
}
