/*
 * test_record_codec.c - the stored form of records and tombstones
 * (record_codec.h).
 *
 * Round trips, then every way a damaged value must be refused, then the
 * MAC (record_verify(): every byte flipped, headers swapped between records,
 * an older field ciphertext put back, another key or id), then seeded
 * random and mutated inputs that must never crash record_decode() nor
 * yield a record that breaks its invariants. Inputs are decoded from
 * exact-size heap copies so the address sanitizer sees any over-read.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <vault/vault.h>

#include "vault/store/record_codec.h"

/* Offsets in the fixed head of the encoding (record_encode()). */
#define OFF_FORMAT 0
#define OFF_NFIELDS (1 + 3 + 4 + 4 + 8 + 8 + WRAPPED_DEK_BYTES + 4 * FIELD_MAX)
/* A record with no fields, card token, det entries or documents. */
#define EMPTY_LEN (OFF_NFIELDS + 1 + 1 + 1 + 2 + 2 + RECORD_MAC_BYTES)
#define OFF_EMPTY_HAS_CARD (OFF_NFIELDS + 1)
#define OFF_EMPTY_NDET (OFF_NFIELDS + 2)
#define OFF_EMPTY_NDOCS (OFF_NFIELDS + 5)

/* The MAC key and record id the helpers encode with. */
static uint8_t mac_key[RECORD_MAC_KEY_BYTES], other_mac_key[RECORD_MAC_KEY_BYTES];
#define RID 0x0000000000001234u

static void
setup(void)
{
	cr_assert_geq(sodium_init(), 0);
	randombytes_buf(mac_key, sizeof mac_key);
	randombytes_buf(other_mac_key, sizeof other_mac_key);
}

TestSuite(codec, .init = setup);

/* ---- helpers ---------------------------------------------------------- */

/* Ciphertext bytes the sample records point at. */
static uint8_t ct_store[FIELD_MAX][SEAL_OVERHEAD + 64];
static uint8_t card_ct_store[SEAL_OVERHEAD + CARD_MAX_DIGITS];

/* An empty record: valid, with every fixed field set to something distinct. */
static void
empty_record(struct record *r)
{
	memset(r, 0, sizeof(*r));
	r->dek_version = 0x01020304;
	r->kek_epoch = 7;
	r->created = 1700000000;
	r->updated = 0x1122334455667788u;
	for (size_t i = 0; i < WRAPPED_DEK_BYTES; i++)
		r->wrapped_dek[i] = (uint8_t)(0xa0 + i);
	for (unsigned i = 1; i <= FIELD_MAX; i++)
		r->gen[i] = i * 1000 + 1;
	r->next_slot = 1;
}

static void
add_field(struct record *r, uint8_t id, uint32_t ct_len)
{
	uint8_t *ct = ct_store[r->nfields];
	cr_assert_leq(ct_len, sizeof ct_store[0]);
	for (uint32_t i = 0; i < ct_len; i++)
		ct[i] = (uint8_t)(id * 31 + i);
	r->fields[r->nfields].id = id;
	r->fields[r->nfields].ct = ct;
	r->fields[r->nfields].ct_len = ct_len;
	r->nfields++;
}

static void
add_det(struct record *r, uint8_t field)
{
	r->det[r->ndet].field = field;
	r->det[r->ndet].epoch = 0x01020300u + field + r->ndet; /* every byte counts */
	memset(r->det[r->ndet].tag, 0x40 + field, TOKEN_TAG_BYTES);
	r->ndet++;
}

static void
set_card(struct record *r, uint32_t ct_len)
{
	r->has_card_token = 1;
	memset(r->card_index_key, 0xc4, TOKEN_TAG_BYTES);
	r->card_gen = 3;
	for (uint32_t i = 0; i < ct_len; i++)
		card_ct_store[i] = (uint8_t)(0xcc ^ i);
	r->card_ct = card_ct_store;
	r->card_ct_len = ct_len;
}

/* Fields, a card token, det entries and documents. */
static void
full_record(struct record *r)
{
	empty_record(r);
	add_field(r, FIELD_FIRST_NAME, SEAL_OVERHEAD + 5);
	add_field(r, FIELD_EMAIL, SEAL_OVERHEAD + 17);
	add_field(r, FIELD_CARD_NUMBER, SEAL_OVERHEAD + 16);
	add_field(r, FIELD_BANK_ACCOUNT, SEAL_OVERHEAD);
	set_card(r, SEAL_OVERHEAD + 16);
	add_det(r, FIELD_EMAIL);
	add_det(r, FIELD_PHONE);
	r->next_slot = 10;
	r->ndocs = 3;
	r->doc_slots[0] = 1;
	r->doc_slots[1] = 5;
	r->doc_slots[2] = 9;
}

/* The encoding of r (record RID, under mac_key) in an exact-size heap
 * block; *len gets its size. */
static uint8_t *
encode_as(const struct record *r, uint64_t id, const uint8_t *key, size_t *len)
{
	struct buf b = { 0 };
	cr_assert_eq(record_encode(r, id, key, &b), 0);
	uint8_t *p = malloc(b.len);
	cr_assert_not_null(p);
	memcpy(p, b.data, b.len);
	*len = b.len;
	buf_free(&b);
	return p;
}

static uint8_t *
encode(const struct record *r, size_t *len)
{
	return encode_as(r, RID, mac_key, len);
}

/* record_decode on an exact-size copy (r's pointers die with the copy). */
static int
decode_copy(const uint8_t *p, size_t len, struct record *r)
{
	uint8_t *copy = malloc(len ? len : 1);
	cr_assert_not_null(copy);
	memcpy(copy, p, len);
	int rc = record_decode(copy, len, r);
	free(copy);
	return rc;
}

static void
expect_bad(const uint8_t *p, size_t len, const char *what)
{
	struct record r;
	int rc = decode_copy(p, len, &r);
	cr_assert_eq(rc, VAULT_E_CRYPTO, "%s: decode gave %d, want VAULT_E_CRYPTO", what, rc);
}

static void
expect_ok(const uint8_t *p, size_t len, const char *what)
{
	struct record r;
	int rc = decode_copy(p, len, &r);
	cr_assert_eq(rc, 0, "%s: decode gave %d, want 0", what, rc);
}

/* Encode r and expect the decoder to refuse it. */
static void
expect_encoded_bad(const struct record *r, const char *what)
{
	size_t len;
	uint8_t *p = encode(r, &len);
	expect_bad(p, len, what);
	free(p);
}

static void
expect_encoded_ok(const struct record *r, const char *what)
{
	size_t len;
	uint8_t *p = encode(r, &len);
	expect_ok(p, len, what);
	free(p);
}

static void
assert_same_record(const struct record *a, const struct record *b)
{
	cr_assert_eq(a->dek_version, b->dek_version);
	cr_assert_eq(a->kek_epoch, b->kek_epoch);
	cr_assert_eq(a->created, b->created);
	cr_assert_eq(a->updated, b->updated);
	cr_assert_arr_eq(a->wrapped_dek, b->wrapped_dek, WRAPPED_DEK_BYTES);
	for (unsigned i = 1; i <= FIELD_MAX; i++)
		cr_assert_eq(a->gen[i], b->gen[i], "gen[%u]", i);
	cr_assert_eq(a->nfields, b->nfields);
	for (unsigned i = 0; i < a->nfields; i++) {
		cr_assert_eq(a->fields[i].id, b->fields[i].id);
		cr_assert_eq(a->fields[i].ct_len, b->fields[i].ct_len);
		cr_assert_arr_eq(a->fields[i].ct, b->fields[i].ct, a->fields[i].ct_len);
	}
	cr_assert_eq(a->has_card_token, b->has_card_token);
	if (a->has_card_token) {
		cr_assert_arr_eq(a->card_index_key, b->card_index_key, TOKEN_TAG_BYTES);
		cr_assert_eq(a->card_gen, b->card_gen);
		cr_assert_eq(a->card_ct_len, b->card_ct_len);
		cr_assert_arr_eq(a->card_ct, b->card_ct, a->card_ct_len);
	}
	cr_assert_eq(a->ndet, b->ndet);
	for (unsigned i = 0; i < a->ndet; i++) {
		cr_assert_eq(a->det[i].field, b->det[i].field);
		cr_assert_eq(a->det[i].epoch, b->det[i].epoch);
		cr_assert_arr_eq(a->det[i].tag, b->det[i].tag, TOKEN_TAG_BYTES);
	}
	cr_assert_eq(a->next_slot, b->next_slot);
	cr_assert_eq(a->ndocs, b->ndocs);
	for (unsigned i = 0; i < a->ndocs; i++)
		cr_assert_eq(a->doc_slots[i], b->doc_slots[i], "doc %u", i);
}

static void
round_trip(const struct record *in)
{
	size_t len;
	uint8_t *p = encode(in, &len);
	struct record out;
	cr_assert_eq(record_decode(p, len, &out), 0);
	assert_same_record(in, &out);
	/* Decoded pointers point into the encoding, not anywhere else. */
	for (unsigned i = 0; i < out.nfields; i++)
		cr_assert(out.fields[i].ct >= p &&
		    out.fields[i].ct + out.fields[i].ct_len <= p + len);
	free(p);
}

/* ---- round trips ------------------------------------------------------ */

Test(codec, round_trip_full_record)
{
	struct record r;
	full_record(&r);
	round_trip(&r);
}

Test(codec, round_trip_empty_record)
{
	struct record r;
	size_t len;
	empty_record(&r);
	round_trip(&r);
	uint8_t *p = encode(&r, &len);
	cr_assert_eq(len, EMPTY_LEN, "layout changed: %zu bytes", len);
	cr_assert_eq(p[OFF_FORMAT], RECORD_FORMAT);
	free(p);
}

Test(codec, round_trip_at_the_limits)
{
	struct record r;
	empty_record(&r);
	r.dek_version = UINT32_MAX;
	r.kek_epoch = UINT32_MAX;
	r.created = UINT64_MAX;
	r.updated = 0;
	for (unsigned id = 1; id <= FIELD_MAX; id++) {
		add_field(&r, (uint8_t)id, SEAL_OVERHEAD + id);
		add_det(&r, (uint8_t)id);
		r.gen[id] = UINT32_MAX - id;
	}
	set_card(&r, sizeof card_ct_store);
	r.card_gen = UINT32_MAX;
	r.next_slot = UINT16_MAX;
	r.ndocs = RECORD_MAX_DOCS;
	for (unsigned i = 0; i < RECORD_MAX_DOCS; i++)
		r.doc_slots[i] = (uint16_t)(UINT16_MAX - RECORD_MAX_DOCS + i);
	round_trip(&r);
}

Test(codec, field_get)
{
	struct record r;
	size_t len;
	full_record(&r);
	uint8_t *p = encode(&r, &len);
	struct record d;
	cr_assert_eq(record_decode(p, len, &d), 0);
	const struct record_field *f = record_field_get(&d, FIELD_EMAIL);
	cr_assert_not_null(f);
	cr_assert_eq(f->id, FIELD_EMAIL);
	cr_assert_eq(f->ct_len, SEAL_OVERHEAD + 17);
	cr_assert_null(record_field_get(&d, FIELD_PHONE));
	cr_assert_null(record_field_get(&d, 0));
	free(p);
}

/* ---- damaged encodings ------------------------------------------------ */

Test(codec, every_truncation_rejected)
{
	struct record r;
	size_t len;
	full_record(&r);
	uint8_t *p = encode(&r, &len);
	for (size_t n = 0; n < len; n++)
		expect_bad(p, n, "truncated");
	free(p);
}

Test(codec, trailing_bytes_rejected)
{
	struct record r;
	size_t len;
	full_record(&r);
	uint8_t *p = encode(&r, &len);
	uint8_t *q = malloc(len + 4);
	memcpy(q, p, len);
	for (size_t extra = 1; extra <= 4; extra++) {
		memset(q + len, extra == 1 ? 0 : 0xff, extra);
		expect_bad(q, len + extra, "trailing bytes");
	}
	free(q);
	free(p);
}

Test(codec, unknown_format_byte_rejected)
{
	/* 1: the format before the MAC; 2: det entries without their KEK
	 * epoch (issue 13): both refused. */
	static const uint8_t formats[] = { 0, 1, 2, 4, 0x81, 0xff };
	struct record r;
	size_t len;
	full_record(&r);
	uint8_t *p = encode(&r, &len);
	for (size_t i = 0; i < sizeof formats; i++) {
		p[OFF_FORMAT] = formats[i];
		expect_bad(p, len, "unknown format");
	}
	free(p);
}

Test(codec, nfields_above_max_rejected)
{
	struct record r;
	size_t len;
	empty_record(&r);
	uint8_t *p = encode(&r, &len);
	uint8_t *q = malloc(len + 4096);
	memcpy(q, p, len);
	/* Room for FIELD_MAX + 1 well-formed entries would not make it valid. */
	memset(q + len, 0, 4096);
	static const uint8_t counts[] = { FIELD_MAX + 1, 0x80, 0xff };
	for (size_t i = 0; i < sizeof counts; i++) {
		q[OFF_NFIELDS] = counts[i];
		expect_bad(q, len, "nfields above FIELD_MAX");
		expect_bad(q, len + 4096, "nfields above FIELD_MAX, with bytes to spare");
	}
	free(q);
	free(p);
}

Test(codec, unknown_field_id_rejected)
{
	static const uint8_t bad_ids[] = { 0, FIELD_MAX + 1, FIELD_DOCUMENT, FIELD_CARD_TOKEN, 0xff };
	for (size_t i = 0; i < sizeof bad_ids; i++) {
		struct record r;
		empty_record(&r);
		add_field(&r, bad_ids[i], SEAL_OVERHEAD + 1);
		expect_encoded_bad(&r, "unknown field id");
	}
}

Test(codec, duplicate_or_descending_field_ids_rejected)
{
	struct record r;
	empty_record(&r);
	add_field(&r, FIELD_EMAIL, SEAL_OVERHEAD + 1);
	add_field(&r, FIELD_EMAIL, SEAL_OVERHEAD + 1);
	expect_encoded_bad(&r, "duplicate field id");

	empty_record(&r);
	add_field(&r, FIELD_PHONE, SEAL_OVERHEAD + 1);
	add_field(&r, FIELD_EMAIL, SEAL_OVERHEAD + 1);
	expect_encoded_bad(&r, "descending field ids");

	empty_record(&r);
	add_field(&r, FIELD_EMAIL, SEAL_OVERHEAD + 1);
	add_field(&r, FIELD_PHONE, SEAL_OVERHEAD + 1);
	expect_encoded_ok(&r, "ascending field ids");
}

Test(codec, short_field_ciphertext_rejected)
{
	static const uint32_t lens[] = { 0, 1, SEAL_OVERHEAD - 1 };
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		struct record r;
		empty_record(&r);
		add_field(&r, FIELD_EMAIL, lens[i]);
		expect_encoded_bad(&r, "ct_len < SEAL_OVERHEAD");
	}
	struct record r;
	empty_record(&r);
	add_field(&r, FIELD_EMAIL, SEAL_OVERHEAD);
	expect_encoded_ok(&r, "ct_len == SEAL_OVERHEAD (empty value)");
}

Test(codec, card_token_flag_and_length_checked)
{
	struct record r;
	size_t len;
	empty_record(&r);
	uint8_t *p = encode(&r, &len);
	static const uint8_t flags[] = { 2, 0x80, 0xff };
	for (size_t i = 0; i < sizeof flags; i++) {
		p[OFF_EMPTY_HAS_CARD] = flags[i];
		expect_bad(p, len, "has_card_token > 1");
	}
	free(p);

	/* has_card_token == 2 followed by a well-formed card section. */
	full_record(&r);
	r.nfields = 0;
	p = encode(&r, &len);
	cr_assert_eq(p[OFF_EMPTY_HAS_CARD], 1);
	p[OFF_EMPTY_HAS_CARD] = 2;
	expect_bad(p, len, "has_card_token == 2 with card data");
	free(p);

	empty_record(&r);
	set_card(&r, SEAL_OVERHEAD - 1);
	expect_encoded_bad(&r, "card ct_len < SEAL_OVERHEAD");
	set_card(&r, 0);
	expect_encoded_bad(&r, "card ct_len 0");
	set_card(&r, SEAL_OVERHEAD);
	expect_encoded_ok(&r, "card ct_len == SEAL_OVERHEAD");
}

Test(codec, det_entries_checked)
{
	static const uint8_t bad_fields[] = { 0, FIELD_MAX + 1, 0xff };
	for (size_t i = 0; i < sizeof bad_fields; i++) {
		struct record r;
		empty_record(&r);
		add_det(&r, bad_fields[i]);
		expect_encoded_bad(&r, "det entry for an unknown field");
	}

	struct record r;
	size_t len;
	empty_record(&r);
	uint8_t *p = encode(&r, &len);
	uint8_t *q = malloc(len + 4096);
	memcpy(q, p, len);
	memset(q + len, FIELD_EMAIL, 4096);
	q[OFF_EMPTY_NDET] = FIELD_MAX + 1;
	expect_bad(q, len + 4096, "ndet above FIELD_MAX");
	free(q);
	free(p);
}

/* Format 3: a det entry is field (1), KEK epoch (u32 BE), tag (16). */
Test(codec, det_entry_carries_its_epoch)
{
	struct record r, back;
	size_t len;
	empty_record(&r);
	r.det[0].field = FIELD_EMAIL;
	r.det[0].epoch = 0x0a0b0c0d;
	memset(r.det[0].tag, 0x5a, TOKEN_TAG_BYTES);
	r.ndet = 1;
	uint8_t *p = encode(&r, &len);
	cr_assert_eq(len, EMPTY_LEN + 1 + 4 + TOKEN_TAG_BYTES);
	cr_assert_eq(p[OFF_FORMAT], 3);
	const uint8_t *e = p + OFF_EMPTY_NDET;
	cr_assert_eq(e[0], 1);
	cr_assert_eq(e[1], FIELD_EMAIL);
	cr_assert_eq(e[2], 0x0a);
	cr_assert_eq(e[3], 0x0b);
	cr_assert_eq(e[4], 0x0c);
	cr_assert_eq(e[5], 0x0d);
	cr_assert_eq(e[6], 0x5a);
	cr_assert_eq(record_decode(p, len, &back), 0);
	cr_assert_eq(back.det[0].epoch, 0x0a0b0c0d);
	free(p);

	/* Epochs start at 1: an entry of epoch 0 is damage. */
	r.det[0].epoch = 0;
	expect_encoded_bad(&r, "det entry of epoch 0");
}

static void
docs_case(uint16_t next_slot, const uint16_t *slots, uint16_t n, int ok, const char *what)
{
	struct record r;
	empty_record(&r);
	r.next_slot = next_slot;
	r.ndocs = n;
	memcpy(r.doc_slots, slots, n * sizeof slots[0]);
	if (ok)
		expect_encoded_ok(&r, what);
	else
		expect_encoded_bad(&r, what);
}

Test(codec, document_slots_checked)
{
	docs_case(4, (const uint16_t[]){ 1, 2, 3 }, 3, 1, "valid slots");
	docs_case(4, (const uint16_t[]){ 0, 2, 3 }, 3, 0, "slot 0");
	docs_case(4, (const uint16_t[]){ 1, 2, 4 }, 3, 0, "slot == next_slot");
	docs_case(4, (const uint16_t[]){ 1, 2, 9 }, 3, 0, "slot > next_slot");
	docs_case(0, (const uint16_t[]){ 1 }, 1, 0, "next_slot 0 with a document");
	docs_case(9, (const uint16_t[]){ 1, 5, 3 }, 3, 0, "descending slots");
	docs_case(9, (const uint16_t[]){ 1, 5, 5 }, 3, 0, "duplicate slots");
	docs_case(UINT16_MAX, (const uint16_t[]){ UINT16_MAX }, 1, 0, "slot 65535 == next_slot");
}

Test(codec, document_count_capped)
{
	/* ndocs = RECORD_MAX_DOCS + 1 with that many well-formed slots. */
	struct record r;
	size_t len;
	empty_record(&r);
	r.next_slot = 1000;
	uint8_t *p = encode(&r, &len);
	/* The slots go between the count and the MAC (which decoding does
	 * not check). */
	size_t head = len - RECORD_MAC_BYTES;
	size_t n = RECORD_MAX_DOCS + 1, qlen = len + 2 * n;
	uint8_t *q = malloc(qlen);
	memcpy(q, p, head);
	q[OFF_EMPTY_NDOCS] = 0;
	q[OFF_EMPTY_NDOCS + 1] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		q[head + 2 * i] = 0;
		q[head + 2 * i + 1] = (uint8_t)(i + 1);
	}
	memcpy(q + head + 2 * n, p + head, RECORD_MAC_BYTES);
	expect_bad(q, qlen, "ndocs > RECORD_MAX_DOCS");
	/* The same with RECORD_MAX_DOCS documents is fine. */
	q[OFF_EMPTY_NDOCS + 1] = RECORD_MAX_DOCS;
	memcpy(q + head + 2 * (n - 1), p + head, RECORD_MAC_BYTES);
	expect_ok(q, qlen - 2, "ndocs == RECORD_MAX_DOCS");
	free(q);
	free(p);
}

/* ---- the MAC ---------------------------------------------------------- */

/* record_verify on an exact-size copy. */
static int
verify_copy(const uint8_t *p, size_t len, uint64_t id, const uint8_t *key)
{
	uint8_t *copy = malloc(len ? len : 1);
	cr_assert_not_null(copy);
	memcpy(copy, p, len);
	int rc = record_verify(copy, len, id, key);
	free(copy);
	return rc;
}

Test(codec, mac_verifies_under_its_key_and_id_only)
{
	struct record r;
	size_t len;
	full_record(&r);
	uint8_t *p = encode(&r, &len);
	cr_assert_eq(verify_copy(p, len, RID, mac_key), 0);
	cr_assert_eq(verify_copy(p, len, RID, other_mac_key), VAULT_E_CRYPTO, "other key");
	cr_assert_eq(verify_copy(p, len, RID + 1, mac_key), VAULT_E_CRYPTO, "other record id");
	cr_assert_eq(verify_copy(p, len, RID << 8, mac_key), VAULT_E_CRYPTO, "other record id");
	cr_assert_eq(verify_copy(p, len, RID, NULL), VAULT_E_CRYPTO, "no key");
	for (size_t n = 0; n < len; n++)
		cr_assert_eq(verify_copy(p, n, RID, mac_key), VAULT_E_CRYPTO, "truncated to %zu", n);
	free(p);
}

/* The offline attack of the issue: any byte of the stored form changed
 * (a hold or opt-out cleared, a generation rolled back, a det entry or the
 * card index key rewritten, a ciphertext swapped) fails the MAC. */
Test(codec, every_byte_flipped_fails_the_mac)
{
	struct record r;
	size_t len;
	full_record(&r);
	r.flags = RECORD_FLAG_HELD | CONSENT_OPT_OUT_EMAIL;
	uint8_t *p = encode(&r, &len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			p[i] ^= (uint8_t)(1u << bit);
			cr_assert_eq(verify_copy(p, len, RID, mac_key), VAULT_E_CRYPTO,
			    "byte %zu bit %d flipped and still verifies", i, bit);
			p[i] ^= (uint8_t)(1u << bit);
		}
	}
	cr_assert_eq(verify_copy(p, len, RID, mac_key), 0);
	free(p);
}

/* Two records' headers (everything before the first field) swapped. */
Test(codec, headers_swapped_between_records_fail)
{
	struct record a, b;
	size_t la, lb;
	empty_record(&a);
	add_field(&a, FIELD_EMAIL, SEAL_OVERHEAD + 3);
	b = a;
	b.flags = CONSENT_OPT_OUT_EMAIL | CONSENT_OPT_OUT_PHONE;
	b.gen[FIELD_EMAIL] = 99;
	uint8_t *pa = encode_as(&a, 1, mac_key, &la), *pb = encode_as(&b, 2, mac_key, &lb);
	cr_assert_eq(la, lb);
	cr_assert_eq(verify_copy(pa, la, 1, mac_key), 0);
	cr_assert_eq(verify_copy(pb, lb, 2, mac_key), 0);
	/* The whole value moved to the other id, and only the header. */
	cr_assert_eq(verify_copy(pa, la, 2, mac_key), VAULT_E_CRYPTO);
	uint8_t *mix = malloc(la);
	memcpy(mix, pb, OFF_NFIELDS);
	memcpy(mix + OFF_NFIELDS, pa + OFF_NFIELDS, la - OFF_NFIELDS);
	cr_assert_eq(verify_copy(mix, la, 1, mac_key), VAULT_E_CRYPTO, "b's header on a");
	free(mix);
	free(pa);
	free(pb);
}

/* An older ciphertext of a field put back into the current record. */
Test(codec, older_field_ciphertext_put_back_fails)
{
	struct record r;
	size_t lold, lnew;
	empty_record(&r);
	add_field(&r, FIELD_EMAIL, SEAL_OVERHEAD + 10);
	uint8_t *old = encode(&r, &lold);
	ct_store[0][SEAL_NONCE_BYTES] ^= 0x5a; /* the update's new ciphertext */
	r.gen[FIELD_EMAIL]++;
	uint8_t *cur = encode(&r, &lnew);
	cr_assert_eq(lold, lnew);
	size_t ct_off = OFF_NFIELDS + 1 + 1 + 2;
	memcpy(cur + ct_off, old + ct_off, SEAL_OVERHEAD + 10);
	cr_assert_eq(verify_copy(cur, lnew, RID, mac_key), VAULT_E_CRYPTO);
	free(old);
	free(cur);
}

/* With no key, encoding writes back the MAC it decoded: byte for byte. */
Test(codec, re_encoding_a_decoded_record_without_a_key_is_exact)
{
	struct record r, d;
	size_t len;
	full_record(&r);
	uint8_t *p = encode(&r, &len);
	cr_assert_eq(record_decode(p, len, &d), 0);
	struct buf b = { 0 };
	cr_assert_eq(record_encode(&d, 0, NULL, &b), 0);
	cr_assert_eq(b.len, len);
	cr_assert_arr_eq(b.data, p, len);
	buf_free(&b);
	free(p);
}

/* ---- tombstones ------------------------------------------------------- */

Test(codec, tombstone_round_trip)
{
	static const struct tombstone ts[] = {
		{ VAULT_DELETE_SUBJECT_REQUEST, 0 },
		{ VAULT_DELETE_RETENTION, 1751328000 },
		{ VAULT_DELETE_ADMINISTRATIVE, 0x0102030405060708u },
		{ 0xff, UINT64_MAX },
	};
	for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
		uint8_t b[TOMBSTONE_BYTES];
		struct tombstone t = { 0, 0 };
		tombstone_encode(&ts[i], b);
		cr_assert_eq(tombstone_decode(b, sizeof b, &t), 0);
		cr_assert_eq(t.reason, ts[i].reason);
		cr_assert_eq(t.deleted_at, ts[i].deleted_at);
	}
}

Test(codec, tombstone_bad_length_or_format_rejected)
{
	const struct tombstone ts = { VAULT_DELETE_RETENTION, 12345 };
	uint8_t b[TOMBSTONE_BYTES + 1] = { 0 };
	struct tombstone t;
	tombstone_encode(&ts, b);
	for (size_t n = 0; n <= TOMBSTONE_BYTES + 1; n++) {
		if (n == TOMBSTONE_BYTES)
			continue;
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, b, n);
		cr_assert_eq(tombstone_decode(copy, n, &t), VAULT_E_CRYPTO, "length %zu", n);
		free(copy);
	}
	static const uint8_t formats[] = { 0, 2, 0xff };
	for (size_t i = 0; i < sizeof formats; i++) {
		b[0] = formats[i];
		cr_assert_eq(tombstone_decode(b, TOMBSTONE_BYTES, &t), VAULT_E_CRYPTO,
		    "format %u", formats[i]);
	}
}

/* ---- robustness ------------------------------------------------------- */

static uint64_t rng_state = 0x243f6a8885a308d3u;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

/* What any successfully decoded record must satisfy. */
static void
check_invariants(const struct record *r, const uint8_t *p, size_t len)
{
	cr_assert_leq(r->nfields, FIELD_MAX);
	for (unsigned i = 0; i < r->nfields; i++) {
		const struct record_field *f = &r->fields[i];
		cr_assert(f->id >= 1 && f->id <= FIELD_MAX);
		cr_assert(i == 0 || f->id > r->fields[i - 1].id);
		cr_assert_geq(f->ct_len, SEAL_OVERHEAD);
		cr_assert(f->ct >= p && f->ct + f->ct_len <= p + len);
	}
	cr_assert(r->has_card_token == 0 || r->has_card_token == 1);
	if (r->has_card_token) {
		cr_assert_geq(r->card_ct_len, SEAL_OVERHEAD);
		cr_assert(r->card_ct >= p && r->card_ct + r->card_ct_len <= p + len);
	}
	cr_assert_leq(r->ndet, FIELD_MAX);
	for (unsigned i = 0; i < r->ndet; i++)
		cr_assert(r->det[i].field >= 1 && r->det[i].field <= FIELD_MAX);
	cr_assert_leq(r->ndocs, RECORD_MAX_DOCS);
	for (unsigned i = 0; i < r->ndocs; i++) {
		cr_assert(r->doc_slots[i] != 0 && r->doc_slots[i] < r->next_slot);
		cr_assert(i == 0 || r->doc_slots[i] > r->doc_slots[i - 1]);
	}
}

static int
decode_checked(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct record r;
	cr_assert_not_null(copy);
	memcpy(copy, data, len);
	int rc = record_decode(copy, len, &r);
	cr_assert(rc == 0 || rc == VAULT_E_CRYPTO, "decode returned %d", rc);
	if (rc == 0)
		check_invariants(&r, copy, len);
	free(copy);
	return rc;
}

Test(codec, random_bytes_never_crash)
{
	uint8_t data[300];
	for (int i = 0; i < 100000; i++) {
		size_t len = (size_t)(rng() % (sizeof data + 1));
		for (size_t j = 0; j < len; j++)
			data[j] = (uint8_t)rng();
		if (len > 0 && i % 2 == 0)
			data[0] = RECORD_FORMAT; /* get past the first check */
		decode_checked(data, len);
	}
}

Test(codec, mutated_records_never_crash_or_break_invariants)
{
	struct record r;
	size_t len;
	full_record(&r);
	uint8_t *p = encode(&r, &len);
	uint8_t *m = malloc(len + 8);
	int accepted = 0;

	for (int i = 0; i < 100000; i++) {
		size_t n = len;
		memcpy(m, p, len);
		int edits = 1 + (int)(rng() % 4);
		for (int e = 0; e < edits; e++) {
			switch (rng() % 4) {
			case 0: m[rng() % n] = (uint8_t)rng(); break;
			case 1: m[rng() % n] ^= (uint8_t)(1u << (rng() % 8)); break;
			case 2: n -= rng() % 3; break; /* truncate a little */
			default: m[n % (len + 8)] = (uint8_t)rng(); n = n < len + 7 ? n + 1 : n; break;
			}
		}
		if (decode_checked(m, n) == 0)
			accepted++;
	}
	/* Flips inside ciphertexts and tags still decode: the fuzz reaches the end. */
	cr_assert_gt(accepted, 0);
	free(m);
	free(p);
}
