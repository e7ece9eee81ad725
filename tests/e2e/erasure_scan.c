/*
 * erasure_scan.c - the attacker's search of the erasure tests
 * (erasure_scan.h).
 */
#include <stdlib.h>

#include <criterion/criterion.h>

#include "erasure_scan.h"
#include "harness.h"
#include "keys/keyring.h"
#include "vault/crypto/seal.h"
#include "vault/store/record_codec.h"

struct blob
blob_slurp(const char *path)
{
	struct blob b = { 0 };
	b.p = (uint8_t *)read_file_all(path, &b.n);
	cr_assert_not_null(b.p, "read %s", path);
	return b;
}

size_t
erasure_scan(const struct blob *files, size_t nfiles, const struct keyring *ring,
    uint64_t id, const struct record *r)
{
	size_t opened = 0;
	uint8_t pt[1024], dek[DEK_BYTES];
	for (size_t f = 0; f < nfiles; f++) {
		const uint8_t *p = files[f].p;
		size_t n = files[f].n;
		for (size_t i = 0; i + DEK_BYTES <= n; i++) {
			for (unsigned j = 0; j < r->nfields; j++) {
				struct seal_place pl = { id, r->dek_version, r->fields[j].id, 0,
				    r->gen[r->fields[j].id] };
				if (r->fields[j].ct_len - SEAL_OVERHEAD <= sizeof(pt) &&
				    open_field(p + i, &pl, r->fields[j].ct, r->fields[j].ct_len, pt) == 0)
					opened++;
			}
			for (uint32_t e = 1; e <= 4; e++)
				if (unwrap_dek(p + i, e, id, r->dek_version, r->wrapped_dek, dek) == 0)
					opened++;
		}
		for (size_t i = 0; i + WRAPPED_DEK_BYTES <= n; i++) {
			for (size_t k = 0; k < keyring_count(ring, KEYRING_KEK); k++) {
				uint32_t e = keyring_version_at(ring, KEYRING_KEK, k);
				const uint8_t *kek = keyring_key(ring, KEYRING_KEK, e);
				for (uint32_t dv = 1; dv <= 2; dv++)
					if (unwrap_dek(kek, e, id, dv, p + i, dek) == 0)
						opened++;
			}
		}
	}
	return opened;
}
