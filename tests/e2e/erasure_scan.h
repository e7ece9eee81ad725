/*
 * erasure_scan.h - the attacker's search of the erasure tests (e2e-keys on
 * LMDB, e2e-pgsql on PostgreSQL): given copies of files and the current
 * key ring, try to open anything of one deleted record.
 */
#ifndef TESTS_E2E_ERASURE_SCAN_H
#define TESTS_E2E_ERASURE_SCAN_H

#include <stddef.h>
#include <stdint.h>

struct keyring;
struct record;

struct blob {
	uint8_t *p;
	size_t n;
};

/* The whole file at path (fails the test if it cannot be read). */
struct blob blob_slurp(const char *path);

/*
 * Try every 32-byte run of every file as a data key against record id's
 * ciphertexts (r, its stored form) and as a key-encryption key against its
 * wrapped key, and every 72-byte run as a wrapped key under every key of
 * ring. Returns how many attempts opened something.
 */
size_t erasure_scan(const struct blob *files, size_t nfiles, const struct keyring *ring,
    uint64_t id, const struct record *r);

#endif
