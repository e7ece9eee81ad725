/*
 * record_codec.c - stored records and tombstones (see record_codec.h).
 *
 * A hand-written fixed layout rather than msgpack: it is small, every
 * length is checked in one place, and decoding allocates nothing.
 */
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "record_codec.h"

struct reader {
	const uint8_t *p, *end;
	int bad;
};

static const uint8_t *
take(struct reader *rd, size_t n)
{
	if (rd->bad || (size_t)(rd->end - rd->p) < n) {
		rd->bad = 1;
		return NULL;
	}
	const uint8_t *q = rd->p;
	rd->p += n;
	return q;
}

static uint64_t
rd_be(struct reader *rd, unsigned n)
{
	const uint8_t *q = take(rd, n);
	uint64_t v = 0;
	if (q == NULL)
		return 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | q[i];
	return v;
}

static void
wr_be(struct buf *b, uint64_t v, unsigned n)
{
	uint8_t t[8];
	for (unsigned i = 0; i < n; i++)
		t[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	if (buf_append(b, t, n) != 0 && b->error == 0)
		b->error = VAULT_E_NOMEM;
}

static void
wr(struct buf *b, const void *p, size_t n)
{
	if (buf_append(b, p, n) != 0 && b->error == 0)
		b->error = VAULT_E_NOMEM;
}

int
record_decode(const uint8_t *data, size_t len, struct record *r)
{
	struct reader rd = { data, data + len, 0 };
	const uint8_t *q;

	memset(r, 0, sizeof(*r));
	if (rd_be(&rd, 1) != RECORD_FORMAT)
		return VAULT_E_CRYPTO;
	r->flags = (uint8_t)rd_be(&rd, 1);
	if (r->flags & ~RECORD_FLAGS_MASK)
		return VAULT_E_CRYPTO;
	if (rd_be(&rd, 2) != 0) /* reserved: zero, or an encode would drop it */
		return VAULT_E_CRYPTO;
	r->dek_version = (uint32_t)rd_be(&rd, 4);
	r->kek_epoch = (uint32_t)rd_be(&rd, 4);
	r->created = rd_be(&rd, 8);
	r->updated = rd_be(&rd, 8);
	if ((q = take(&rd, WRAPPED_DEK_BYTES)) != NULL)
		memcpy(r->wrapped_dek, q, WRAPPED_DEK_BYTES);
	for (unsigned i = 1; i <= FIELD_MAX; i++)
		r->gen[i] = (uint32_t)rd_be(&rd, 4);

	r->nfields = (uint8_t)rd_be(&rd, 1);
	if (r->nfields > FIELD_MAX)
		return VAULT_E_CRYPTO;
	for (unsigned i = 0; i < r->nfields; i++) {
		struct record_field *f = &r->fields[i];
		f->id = (uint8_t)rd_be(&rd, 1);
		f->ct_len = (uint32_t)rd_be(&rd, 2);
		f->ct = take(&rd, f->ct_len);
		if (field_by_id(f->id) == NULL || f->ct_len < SEAL_OVERHEAD ||
		    (i > 0 && f->id <= r->fields[i - 1].id))
			return VAULT_E_CRYPTO;
	}

	r->has_card_token = (int)rd_be(&rd, 1);
	if (r->has_card_token > 1)
		return VAULT_E_CRYPTO;
	if (r->has_card_token) {
		if ((q = take(&rd, TOKEN_TAG_BYTES)) != NULL)
			memcpy(r->card_index_key, q, TOKEN_TAG_BYTES);
		r->card_gen = (uint32_t)rd_be(&rd, 4);
		r->card_ct_len = (uint32_t)rd_be(&rd, 2);
		r->card_ct = take(&rd, r->card_ct_len);
		if (r->card_ct_len < SEAL_OVERHEAD)
			return VAULT_E_CRYPTO;
	}

	r->ndet = (uint8_t)rd_be(&rd, 1);
	if (r->ndet > RECORD_MAX_DET)
		return VAULT_E_CRYPTO;
	for (unsigned i = 0; i < r->ndet; i++) {
		r->det[i].field = (uint8_t)rd_be(&rd, 1);
		r->det[i].epoch = (uint32_t)rd_be(&rd, 4);
		if ((q = take(&rd, TOKEN_TAG_BYTES)) != NULL)
			memcpy(r->det[i].tag, q, TOKEN_TAG_BYTES);
		if (field_by_id(r->det[i].field) == NULL || r->det[i].epoch == 0)
			return VAULT_E_CRYPTO;
	}

	r->next_slot = (uint16_t)rd_be(&rd, 2);
	r->ndocs = (uint16_t)rd_be(&rd, 2);
	if (r->ndocs > RECORD_MAX_DOCS)
		return VAULT_E_CRYPTO;
	for (unsigned i = 0; i < r->ndocs; i++) {
		r->doc_slots[i] = (uint16_t)rd_be(&rd, 2);
		if (r->doc_slots[i] == 0 || r->doc_slots[i] >= r->next_slot ||
		    (i > 0 && r->doc_slots[i] <= r->doc_slots[i - 1]))
			return VAULT_E_CRYPTO;
	}
	if ((q = take(&rd, RECORD_MAC_BYTES)) != NULL)
		memcpy(r->mac, q, RECORD_MAC_BYTES);
	if (rd.bad || rd.p != rd.end)
		return VAULT_E_CRYPTO;
	return 0;
}

/* The MAC of record id whose stored form before the MAC is data[0..len). */
static void
record_mac(const uint8_t *key, uint64_t id, const uint8_t *data, size_t len,
    uint8_t mac[RECORD_MAC_BYTES])
{
	crypto_generichash_state st;
	uint8_t ib[8];
	for (int i = 0; i < 8; i++)
		ib[i] = (uint8_t)(id >> (56 - 8 * i));
	crypto_generichash_init(&st, key, RECORD_MAC_KEY_BYTES, RECORD_MAC_BYTES);
	crypto_generichash_update(&st, ib, sizeof(ib));
	crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, mac, RECORD_MAC_BYTES);
}

int
record_verify(const uint8_t *data, size_t len, uint64_t id,
    const uint8_t *mac_key)
{
	uint8_t mac[RECORD_MAC_BYTES];
	if (mac_key == NULL || len < 1 + RECORD_MAC_BYTES)
		return VAULT_E_CRYPTO;
	record_mac(mac_key, id, data, len - RECORD_MAC_BYTES, mac);
	return sodium_memcmp(mac, data + len - RECORD_MAC_BYTES, RECORD_MAC_BYTES) == 0 ?
	    0 : VAULT_E_CRYPTO;
}

int
record_encode(const struct record *r, uint64_t id, const uint8_t *mac_key,
    struct buf *out)
{
	static const uint8_t zero[2];
	size_t start = out->len;
	/* Lengths are stored in 16 bits. */
	for (unsigned i = 0; i < r->nfields; i++)
		if (r->fields[i].ct_len > 0xffff)
			return VAULT_E_TOO_LARGE;
	if (r->has_card_token && r->card_ct_len > 0xffff)
		return VAULT_E_TOO_LARGE;
	wr_be(out, RECORD_FORMAT, 1);
	wr_be(out, r->flags, 1);
	wr(out, zero, 2);
	wr_be(out, r->dek_version, 4);
	wr_be(out, r->kek_epoch, 4);
	wr_be(out, r->created, 8);
	wr_be(out, r->updated, 8);
	wr(out, r->wrapped_dek, WRAPPED_DEK_BYTES);
	for (unsigned i = 1; i <= FIELD_MAX; i++)
		wr_be(out, r->gen[i], 4);
	wr_be(out, r->nfields, 1);
	for (unsigned i = 0; i < r->nfields; i++) {
		wr_be(out, r->fields[i].id, 1);
		wr_be(out, r->fields[i].ct_len, 2);
		wr(out, r->fields[i].ct, r->fields[i].ct_len);
	}
	wr_be(out, r->has_card_token ? 1 : 0, 1);
	if (r->has_card_token) {
		wr(out, r->card_index_key, TOKEN_TAG_BYTES);
		wr_be(out, r->card_gen, 4);
		wr_be(out, r->card_ct_len, 2);
		wr(out, r->card_ct, r->card_ct_len);
	}
	wr_be(out, r->ndet, 1);
	for (unsigned i = 0; i < r->ndet; i++) {
		wr_be(out, r->det[i].field, 1);
		wr_be(out, r->det[i].epoch, 4);
		wr(out, r->det[i].tag, TOKEN_TAG_BYTES);
	}
	wr_be(out, r->next_slot, 2);
	wr_be(out, r->ndocs, 2);
	for (unsigned i = 0; i < r->ndocs; i++)
		wr_be(out, r->doc_slots[i], 2);
	if (out->error == 0 && mac_key != NULL) {
		uint8_t mac[RECORD_MAC_BYTES];
		record_mac(mac_key, id, out->data + start, out->len - start, mac);
		wr(out, mac, sizeof(mac));
	} else {
		wr(out, r->mac, RECORD_MAC_BYTES);
	}
	int rc = out->error;
	out->error = 0;
	return rc;
}

const struct record_field *
record_field_get(const struct record *r, uint8_t id)
{
	for (unsigned i = 0; i < r->nfields; i++)
		if (r->fields[i].id == id)
			return &r->fields[i];
	return NULL;
}

void
tombstone_encode(const struct tombstone *t, uint8_t out[TOMBSTONE_BYTES])
{
	memset(out, 0, TOMBSTONE_BYTES);
	out[0] = 1; /* format */
	out[1] = t->reason;
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)(t->deleted_at >> (56 - 8 * i));
}

int
tombstone_decode(const uint8_t *data, size_t len, struct tombstone *t)
{
	if (len != TOMBSTONE_BYTES || data[0] != 1)
		return VAULT_E_CRYPTO;
	for (int i = 2; i < 8; i++)
		if (data[i] != 0) /* reserved */
			return VAULT_E_CRYPTO;
	t->reason = data[1];
	t->deleted_at = 0;
	for (int i = 0; i < 8; i++)
		t->deleted_at = t->deleted_at << 8 | data[8 + i];
	return 0;
}
