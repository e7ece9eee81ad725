/*
 * fuzz-record-codec.c - the stored forms of records and tombstones
 * (vault/store/record_codec.h): record_decode() and tombstone_decode() on
 * the input, as if it came out of a damaged data file.
 *
 * Invariants:
 *   - a decoded record is consistent: field ids known and ascending,
 *     ciphertexts inside the input and at least SEAL_OVERHEAD long, document
 *     slots ascending below next_slot, counts within their caps;
 *   - whatever decodes re-encodes to the same bytes (record_encode()
 *     without a key writes back the MAC it decoded, tombstone_encode()):
 *     one stored form per value, so nothing in a stored value is silently
 *     dropped when the writer rewrites it;
 *   - record_verify() on the input under a fixed key never crashes, and
 *     the same record encoded under that key verifies, but not as another
 *     record id (the MAC binds the id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vault/vault.h>

#include "vault/store/record_codec.h"

#include "fuzz.h"

/* The bytes record_encode() and tombstone_encode() always write as zero
 * (after the format byte, and the record's flags). */
#define RECORD_RESERVED_OFF 2
#define RECORD_RESERVED_LEN 2
#define TOMBSTONE_RESERVED_OFF 2
#define TOMBSTONE_RESERVED_LEN 6

static const uint8_t mac_key[RECORD_MAC_KEY_BYTES] = { 0x6d, 0x61, 0x63 };

static size_t
first_difference(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = 0;
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

static int
within(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
	return p != NULL && p >= data && n <= size && (size_t)(p - data) <= size - n;
}

static void
check_record(const uint8_t *data, size_t size, const struct record *r)
{
	fuzz_assert(r->nfields <= FIELD_MAX && r->ndet <= RECORD_MAX_DET &&
	    r->ndocs <= RECORD_MAX_DOCS, "counts over their caps");
	for (unsigned i = 0; i < r->nfields; i++) {
		const struct record_field *f = &r->fields[i];
		fuzz_assert(field_by_id(f->id) != NULL, "unknown field id %u", f->id);
		fuzz_assert(i == 0 || f->id > r->fields[i - 1].id, "field ids not ascending");
		fuzz_assert(f->ct_len >= SEAL_OVERHEAD && within(f->ct, f->ct_len, data, size),
		    "field %u ciphertext outside the input", f->id);
		fuzz_assert(record_field_get(r, f->id) == f, "record_field_get misses field %u", f->id);
	}
	fuzz_assert(r->has_card_token == 0 || r->has_card_token == 1, "card flag %d", r->has_card_token);
	if (r->has_card_token)
		fuzz_assert(r->card_ct_len >= SEAL_OVERHEAD && within(r->card_ct, r->card_ct_len, data, size),
		    "card token ciphertext outside the input");
	for (unsigned i = 0; i < r->ndet; i++)
		fuzz_assert(field_by_id(r->det[i].field) != NULL, "det entry for unknown field");
	for (unsigned i = 0; i < r->ndocs; i++)
		fuzz_assert(r->doc_slots[i] > 0 && r->doc_slots[i] < r->next_slot &&
		    (i == 0 || r->doc_slots[i] > r->doc_slots[i - 1]), "document slots out of order");
}

/* Equal, or different only in reserved bytes while that bug is open. */
static void
check_same(const uint8_t *enc, size_t enc_len, const uint8_t *data, size_t size,
    size_t res_off, size_t res_len, const char *what, const char *bug)
{
	fuzz_assert(enc_len == size, "%s re-encodes to %zu bytes, not %zu", what, enc_len, size);
	size_t d = first_difference(enc, data, size);
	if (d == size)
		return;
	if (d >= res_off && d < res_off + res_len && fuzz_known_bug(bug)) {
		uint8_t *copy = fuzz_dup(data, size);
		memset(copy + res_off, 0, res_len);
		d = first_difference(enc, copy, size);
		free(copy);
		if (d == size)
			return;
	}
	fuzz_assert(0, "%s re-encodes differently from byte %zu (0x%02x, was 0x%02x)",
	    what, d, enc[d], data[d]);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record r;
	if (record_decode(data, size, &r) == 0) {
		struct buf out = { 0 };
		check_record(data, size, &r);
		fuzz_assert(record_encode(&r, 0, NULL, &out) == 0, "record_encode failed");
		check_same(out.data, out.len, data, size, RECORD_RESERVED_OFF, RECORD_RESERVED_LEN,
		    "a record", "record-reserved-bytes");
		int vrc = record_verify(data, size, 1, mac_key);
		fuzz_assert(vrc == 0 || vrc == VAULT_E_CRYPTO, "record_verify gave %d", vrc);
		buf_clear(&out);
		fuzz_assert(record_encode(&r, 7, mac_key, &out) == 0, "record_encode with a key failed");
		fuzz_assert(record_verify(out.data, out.len, 7, mac_key) == 0,
		    "a record encoded under a key does not verify under it");
		fuzz_assert(record_verify(out.data, out.len, 8, mac_key) != 0,
		    "a record's MAC verifies as another record's");
		buf_free(&out);
	}

	struct tombstone t;
	if (tombstone_decode(data, size, &t) == 0) {
		uint8_t enc[TOMBSTONE_BYTES];
		tombstone_encode(&t, enc);
		check_same(enc, sizeof(enc), data, size, TOMBSTONE_RESERVED_OFF, TOMBSTONE_RESERVED_LEN,
		    "a tombstone", "tombstone-reserved-bytes");
	}
	return 0;
}
