/*
 * seal.c - field encryption and data-key wrapping (see seal.h).
 */
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "seal.h"

#define FIELD_AD_BYTES 21 /* "F" version(1) record(8) dekv(4) field(1) slot(2) gen(4) */
#define WRAP_AD_BYTES 18

static void
put_be(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* The domain byte keeps field and wrap associated data apart. */
static void
field_ad(const struct seal_place *pl, uint8_t ad[FIELD_AD_BYTES])
{
	memset(ad, 0, FIELD_AD_BYTES);
	ad[0] = 'F';
	ad[1] = 2; /* layout version of this associated data (2: with gen) */
	put_be(ad + 2, pl->record_id, 8);
	put_be(ad + 10, pl->dek_version, 4);
	ad[14] = pl->field;
	put_be(ad + 15, pl->slot, 2);
	put_be(ad + 17, pl->gen, 4);
}

static void
wrap_ad(uint32_t epoch, uint64_t record_id, uint32_t dek_version,
    uint8_t ad[WRAP_AD_BYTES])
{
	ad[0] = 'K';
	ad[1] = 1;
	put_be(ad + 2, record_id, 8);
	put_be(ad + 10, dek_version, 4);
	put_be(ad + 14, epoch, 4);
}

int
seal_field(const uint8_t *dek, const struct seal_place *place,
    const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t ad[FIELD_AD_BYTES];
	field_ad(place, ad);
	randombytes_buf(out, SEAL_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + SEAL_NONCE_BYTES, NULL,
	    pt, len, ad, sizeof(ad), NULL, out, dek);
	return 0;
}

int
open_field(const uint8_t *dek, const struct seal_place *place,
    const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	uint8_t ad[FIELD_AD_BYTES];
	if (ct_len < SEAL_OVERHEAD)
		return VAULT_E_CRYPTO;
	field_ad(place, ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL,
	    ct + SEAL_NONCE_BYTES, ct_len - SEAL_NONCE_BYTES, ad, sizeof(ad),
	    ct, dek) != 0)
		return VAULT_E_CRYPTO;
	return 0;
}

int
wrap_dek(const uint8_t *kek, uint32_t epoch, uint64_t record_id,
    uint32_t dek_version, const uint8_t *dek, uint8_t out[WRAPPED_DEK_BYTES])
{
	uint8_t ad[WRAP_AD_BYTES];
	wrap_ad(epoch, record_id, dek_version, ad);
	randombytes_buf(out, SEAL_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + SEAL_NONCE_BYTES, NULL,
	    dek, DEK_BYTES, ad, sizeof(ad), NULL, out, kek);
	return 0;
}

int
unwrap_dek(const uint8_t *kek, uint32_t epoch, uint64_t record_id,
    uint32_t dek_version, const uint8_t in[WRAPPED_DEK_BYTES], uint8_t *dek)
{
	uint8_t ad[WRAP_AD_BYTES];
	wrap_ad(epoch, record_id, dek_version, ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dek, NULL, NULL,
	    in + SEAL_NONCE_BYTES, WRAPPED_DEK_BYTES - SEAL_NONCE_BYTES, ad,
	    sizeof(ad), in, kek) != 0)
		return VAULT_E_CRYPTO;
	return 0;
}

void
record_mac_key(const uint8_t *kek, uint8_t out[RECORD_MAC_KEY_BYTES])
{
	crypto_kdf_derive_from_key(out, RECORD_MAC_KEY_BYTES, 1, "vrecmac1", kek);
}
