/*
 * test_seal.c - field encryption and data-key wrapping (seal.h).
 *
 * The associated data binds each ciphertext to its place: these tests are
 * the unit-level proof that a field ciphertext copied to another record,
 * field, document slot, data-key version or generation (an older
 * ciphertext of the field put back), or a wrapped key moved to another
 * record or epoch, does not open. Ciphertexts are opened from
 * exact-size heap copies so the address sanitizer sees any over-read.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <vault/vault.h>

#include "vault/crypto/seal.h"
#include "vault/record/fields.h"

static uint8_t dek[DEK_BYTES], other_dek[DEK_BYTES];
static uint8_t kek[32], other_kek[32];

static const struct seal_place home = {
	.record_id = 0x0102030405060708u, .dek_version = 3,
	.field = FIELD_EMAIL, .slot = 0, .gen = 5,
};

static void
setup(void)
{
	cr_assert_geq(sodium_init(), 0);
	randombytes_buf(dek, sizeof dek);
	randombytes_buf(other_dek, sizeof other_dek);
	randombytes_buf(kek, sizeof kek);
	randombytes_buf(other_kek, sizeof other_kek);
}

TestSuite(seal, .init = setup);

/* open_field on an exact-size copy of ct; out gets ct_len bytes of room. */
static int
open_copy(const uint8_t *key, const struct seal_place *pl, const uint8_t *ct,
    size_t ct_len, uint8_t *out)
{
	uint8_t *copy = malloc(ct_len ? ct_len : 1);
	cr_assert_not_null(copy);
	memcpy(copy, ct, ct_len);
	int rc = open_field(key, pl, copy, ct_len, out);
	free(copy);
	return rc;
}

/* A sealed copy of pt at pl; the caller frees it. */
static uint8_t *
seal_new(const uint8_t *key, const struct seal_place *pl, const void *pt, size_t len)
{
	uint8_t *ct = malloc(len + SEAL_OVERHEAD);
	cr_assert_not_null(ct);
	cr_assert_eq(seal_field(key, pl, pt, len, ct), 0);
	return ct;
}

static void
expect_open_fails(const uint8_t *key, const struct seal_place *pl,
    const uint8_t *ct, size_t ct_len, const char *what)
{
	uint8_t out[256 + SEAL_OVERHEAD];
	cr_assert_leq(ct_len, sizeof out);
	int rc = open_copy(key, pl, ct, ct_len, out);
	cr_assert_eq(rc, VAULT_E_CRYPTO, "%s: open gave %d, want VAULT_E_CRYPTO", what, rc);
}

Test(seal, field_round_trip_various_lengths)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 63, 64, 255, 1000, 65536 };
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		size_t n = lens[i];
		uint8_t *pt = malloc(n + 1), *back = malloc(n + 1);
		cr_assert(pt != NULL && back != NULL);
		randombytes_buf(pt, n);
		uint8_t *ct = seal_new(dek, &home, pt, n);
		if (n >= 16)
			cr_assert(memcmp(ct + SEAL_NONCE_BYTES, pt, 16) != 0,
			    "length %zu: plaintext visible in the ciphertext", n);
		cr_assert_eq(open_copy(dek, &home, ct, n + SEAL_OVERHEAD, back), 0,
		    "length %zu does not open", n);
		cr_assert(memcmp(back, pt, n) == 0, "length %zu: wrong plaintext", n);
		free(ct);
		free(pt);
		free(back);
	}
}

Test(seal, same_value_sealed_twice_differs)
{
	const char v[] = "alice@example.com";
	uint8_t *a = seal_new(dek, &home, v, sizeof v - 1);
	uint8_t *b = seal_new(dek, &home, v, sizeof v - 1);
	cr_assert(memcmp(a, b, sizeof v - 1 + SEAL_OVERHEAD) != 0,
	    "two seals of one value are identical (nonce reused)");
	cr_assert(memcmp(a, b, SEAL_NONCE_BYTES) != 0, "nonces equal");
	free(a);
	free(b);
}

/* Every way of moving a ciphertext away from its place must fail. */
Test(seal, wrong_place_or_key_fails)
{
	const char v[] = "+15551234567";
	const size_t ct_len = sizeof v - 1 + SEAL_OVERHEAD;
	uint8_t *ct = seal_new(dek, &home, v, sizeof v - 1);
	uint8_t out[64];
	struct seal_place p;

	cr_assert_eq(open_copy(dek, &home, ct, ct_len, out), 0, "home place must open");

	static const uint64_t rids[] = { 0, 1, 0x0102030405060709u, 0x0102030405060707u,
	    0x8102030405060708u, 0x0102030405060708u << 8, UINT64_MAX };
	for (size_t i = 0; i < sizeof rids / sizeof rids[0]; i++) {
		p = home;
		p.record_id = rids[i];
		expect_open_fails(dek, &p, ct, ct_len, "other record id");
	}
	for (unsigned f = 0; f <= 255; f++) {
		if (f == home.field)
			continue;
		p = home;
		p.field = (uint8_t)f;
		expect_open_fails(dek, &p, ct, ct_len, "other field");
	}
	static const uint16_t slots[] = { 1, 2, 0x100, 0x8000, UINT16_MAX };
	for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
		p = home;
		p.slot = slots[i];
		expect_open_fails(dek, &p, ct, ct_len, "other slot");
	}
	static const uint32_t versions[] = { 0, 2, 4, 3u << 8, 3u << 24, UINT32_MAX };
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		p = home;
		p.dek_version = versions[i];
		expect_open_fails(dek, &p, ct, ct_len, "other dek version");
	}
	/* Generations: the record's counter moved on (or back) since the seal. */
	static const uint32_t gens[] = { 0, 4, 6, 5u << 8, 5u << 24, UINT32_MAX };
	for (size_t i = 0; i < sizeof gens / sizeof gens[0]; i++) {
		p = home;
		p.gen = gens[i];
		expect_open_fails(dek, &p, ct, ct_len, "other generation");
	}
	expect_open_fails(other_dek, &home, ct, ct_len, "other data key");
	free(ct);
}

Test(seal, documents_bound_to_their_slot)
{
	const char doc[] = "%PDF-1.7 not really";
	struct seal_place s1 = { 77, 1, FIELD_DOCUMENT, 1, 0 }, s2 = { 77, 1, FIELD_DOCUMENT, 2, 0 };
	uint8_t *ct = seal_new(dek, &s1, doc, sizeof doc);
	uint8_t out[sizeof doc];

	cr_assert_eq(open_copy(dek, &s1, ct, sizeof doc + SEAL_OVERHEAD, out), 0);
	cr_assert_arr_eq(out, doc, sizeof doc);
	expect_open_fails(dek, &s2, ct, sizeof doc + SEAL_OVERHEAD, "document in another slot");
	free(ct);
}

Test(seal, ciphertexts_swapped_between_fields_or_records_fail)
{
	struct seal_place first = home, last = home, rec2 = home;
	first.field = FIELD_FIRST_NAME;
	last.field = FIELD_LAST_NAME;
	rec2.record_id = home.record_id + 1;
	uint8_t *a = seal_new(dek, &first, "Alice", 5);
	uint8_t *b = seal_new(dek, &last, "Smith", 5);

	expect_open_fails(dek, &last, a, 5 + SEAL_OVERHEAD, "first_name as last_name");
	expect_open_fails(dek, &first, b, 5 + SEAL_OVERHEAD, "last_name as first_name");
	/* Same data key reused by another record: the record id still binds. */
	expect_open_fails(dek, &rec2, a, 5 + SEAL_OVERHEAD, "first_name of another record");
	free(a);
	free(b);
}

Test(seal, any_flipped_bit_fails)
{
	const char v[] = "4111111111111111";
	const size_t ct_len = sizeof v - 1 + SEAL_OVERHEAD;
	uint8_t *ct = seal_new(dek, &home, v, sizeof v - 1);

	for (size_t i = 0; i < ct_len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			ct[i] ^= (uint8_t)(1u << bit);
			expect_open_fails(dek, &home, ct, ct_len, "flipped bit");
			ct[i] ^= (uint8_t)(1u << bit);
		}
	}
	uint8_t out[64];
	cr_assert_eq(open_copy(dek, &home, ct, ct_len, out), 0, "restored ciphertext opens");
	free(ct);
}

Test(seal, truncated_or_extended_fails)
{
	const char v[] = "postal address";
	const size_t ct_len = sizeof v - 1 + SEAL_OVERHEAD;
	uint8_t *ct = seal_new(dek, &home, v, sizeof v - 1);
	uint8_t longer[128];

	for (size_t n = 0; n < ct_len; n++)
		expect_open_fails(dek, &home, ct, n, "truncated ciphertext");
	memcpy(longer, ct, ct_len);
	longer[ct_len] = 0;
	expect_open_fails(dek, &home, longer, ct_len + 1, "extended ciphertext");
	free(ct);
}

/* ---- data-key wrapping ------------------------------------------------ */

#define EPOCH 5u
#define RID 4242u
#define DEKV 2u

static void
wrap(uint8_t out[WRAPPED_DEK_BYTES])
{
	cr_assert_eq(wrap_dek(kek, EPOCH, RID, DEKV, dek, out), 0);
}

static void
expect_unwrap_fails(const uint8_t *k, uint32_t epoch, uint64_t rid, uint32_t dekv,
    const uint8_t w[WRAPPED_DEK_BYTES], const char *what)
{
	uint8_t got[DEK_BYTES];
	int rc = unwrap_dek(k, epoch, rid, dekv, w, got);
	cr_assert_eq(rc, VAULT_E_CRYPTO, "%s: unwrap gave %d", what, rc);
}

Test(seal, wrap_round_trip)
{
	uint8_t w[WRAPPED_DEK_BYTES], w2[WRAPPED_DEK_BYTES], got[DEK_BYTES];
	wrap(w);
	cr_assert_eq(unwrap_dek(kek, EPOCH, RID, DEKV, w, got), 0);
	cr_assert_arr_eq(got, dek, DEK_BYTES);
	cr_assert(memcmp(w + SEAL_NONCE_BYTES, dek, 16) != 0, "data key visible");
	wrap(w2);
	cr_assert(memcmp(w, w2, WRAPPED_DEK_BYTES) != 0, "two wraps identical");
	cr_assert_eq(unwrap_dek(kek, EPOCH, RID, DEKV, w2, got), 0);
	cr_assert_arr_eq(got, dek, DEK_BYTES);
}

Test(seal, unwrap_elsewhere_fails)
{
	uint8_t w[WRAPPED_DEK_BYTES];
	wrap(w);
	expect_unwrap_fails(kek, EPOCH, RID + 1, DEKV, w, "other record");
	expect_unwrap_fails(kek, EPOCH, RID - 1, DEKV, w, "other record");
	expect_unwrap_fails(kek, EPOCH, (uint64_t)RID << 32, DEKV, w, "other record");
	expect_unwrap_fails(kek, EPOCH + 1, RID, DEKV, w, "next epoch");
	expect_unwrap_fails(kek, EPOCH - 1, RID, DEKV, w, "previous epoch");
	expect_unwrap_fails(kek, 0, RID, DEKV, w, "epoch 0");
	expect_unwrap_fails(kek, EPOCH, RID, DEKV + 1, w, "other dek version");
	expect_unwrap_fails(kek, EPOCH, RID, 0, w, "dek version 0");
	/* Epoch and dek version are separate fields of the associated data. */
	expect_unwrap_fails(kek, DEKV, RID, EPOCH, w, "epoch and version swapped");
	expect_unwrap_fails(other_kek, EPOCH, RID, DEKV, w, "other kek");
}

Test(seal, wrapped_key_any_flipped_bit_fails)
{
	uint8_t w[WRAPPED_DEK_BYTES];
	wrap(w);
	for (size_t i = 0; i < WRAPPED_DEK_BYTES; i++) {
		for (int bit = 0; bit < 8; bit++) {
			w[i] ^= (uint8_t)(1u << bit);
			expect_unwrap_fails(kek, EPOCH, RID, DEKV, w, "flipped bit");
			w[i] ^= (uint8_t)(1u << bit);
		}
	}
}

Test(seal, field_and_wrap_domains_are_separate)
{
	/* A wrapped key does not open as a field value and vice versa. */
	uint8_t w[WRAPPED_DEK_BYTES], got[DEK_BYTES];
	struct seal_place p = { RID, DEKV, 0, 0, 0 };
	wrap(w);
	for (unsigned f = 0; f <= 255; f++) {
		p.field = (uint8_t)f;
		expect_open_fails(kek, &p, w, WRAPPED_DEK_BYTES, "wrapped key as a field");
	}
	p.field = FIELD_BANK_ACCOUNT;
	uint8_t *ct = seal_new(kek, &p, dek, DEK_BYTES);
	cr_assert_eq(unwrap_dek(kek, EPOCH, RID, DEKV, ct, got), VAULT_E_CRYPTO);
	free(ct);
}

/* An update's new ciphertext does not open at the previous generation, and
 * the one it replaced does not open at the new one (field rollback). */
Test(seal, older_ciphertext_of_the_field_fails_at_the_new_generation)
{
	struct seal_place g1 = home, g2 = home;
	g1.gen = 1;
	g2.gen = 2;
	uint8_t *old = seal_new(dek, &g1, "old@example.com", 15);
	uint8_t *cur = seal_new(dek, &g2, "new@example.com", 15);
	uint8_t out[15];
	cr_assert_eq(open_copy(dek, &g2, cur, 15 + SEAL_OVERHEAD, out), 0);
	expect_open_fails(dek, &g2, old, 15 + SEAL_OVERHEAD, "rolled-back ciphertext");
	expect_open_fails(dek, &g1, cur, 15 + SEAL_OVERHEAD, "new ciphertext at the old gen");
	free(old);
	free(cur);
}

/* The record MAC key is a subkey: neither the KEK nor another epoch's key. */
Test(seal, record_mac_key_is_derived_per_kek)
{
	uint8_t a[RECORD_MAC_KEY_BYTES], a2[RECORD_MAC_KEY_BYTES], b[RECORD_MAC_KEY_BYTES];
	record_mac_key(kek, a);
	record_mac_key(kek, a2);
	record_mac_key(other_kek, b);
	cr_assert_arr_eq(a, a2, sizeof a, "derivation is deterministic");
	cr_assert(memcmp(a, b, sizeof a) != 0, "two KEKs, one MAC key");
	cr_assert(memcmp(a, kek, sizeof a) != 0, "the MAC key is the KEK itself");
}
