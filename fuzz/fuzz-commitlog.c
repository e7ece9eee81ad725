/*
 * fuzz-commitlog.c - the LMDB backend's commit log (vault/store/commitlog.h):
 * what a start reads back after a crash.
 *
 * The input is used three ways:
 *   - as a whole log file: commitlog_scan();
 *   - as a record body: commitlog_body_walk();
 *   - wrapped, with valid hashes, as the one record of a log with a valid
 *     header: so the fuzzer reaches the record and body parsers past the
 *     hashes it could never forge.
 *
 * Invariants:
 *   - nothing reads outside the input (an exact-size copy under ASan);
 *   - every record scan finds lies inside the input, in order, and the
 *     scan's end is past all of them;
 *   - a body the walk accepts has operations with a table below
 *     STORE_NTABLES, a non-empty key, and for a file an absolute path with
 *     no NUL; encoded again with commitlog_body_*() it gives the same bytes;
 *   - a body the walk refuses calls back for no operation;
 *   - the wrapped log holds exactly the one record, with the input as body.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "vault/store/commitlog.h"
#include "vault/store/store.h"

#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}

struct again {
	struct commitlog_body b;
	size_t ops;
};

static int
reencode(void *arg, const struct commitlog_op *op)
{
	struct again *a = arg;
	a->ops++;
	fuzz_assert(op->klen > 0, "an empty key");
	switch (op->type) {
	case COMMITLOG_OP_PUT:
		fuzz_assert(op->table < STORE_NTABLES, "table %u", op->table);
		commitlog_body_put(&a->b, op->table, op->key, op->klen, op->val, op->vlen);
		break;
	case COMMITLOG_OP_DEL:
		fuzz_assert(op->table < STORE_NTABLES, "table %u", op->table);
		commitlog_body_del(&a->b, op->table, op->key, op->klen);
		break;
	case COMMITLOG_OP_FILE: {
		fuzz_assert(op->key[0] == '/' && memchr(op->key, 0, op->klen) == NULL, "a bad path");
		char *path = malloc(op->klen + 1);
		fuzz_assert(path != NULL, "out of memory");
		memcpy(path, op->key, op->klen);
		path[op->klen] = '\0';
		commitlog_body_file(&a->b, path, op->dev, op->ino, op->off, op->val, op->vlen);
		free(path);
		break;
	}
	default:
		fuzz_assert(0, "an operation of type %u", op->type);
	}
	return 0;
}

static int
count_only(void *arg, const struct commitlog_op *op)
{
	(void)op;
	(*(size_t *)arg)++;
	return 0;
}

/* A valid header (page size 4096, zero meta pages) and one record: body. */
static uint8_t *
wrap(const uint8_t *body, size_t len, size_t *out_len)
{
	size_t start = commitlog_records_start(4096);
	size_t n = start + 24 + len + 16 + 64;
	uint8_t *f = calloc(1, n);
	fuzz_assert(f != NULL, "out of memory");
	memcpy(f, "VAULTCL1", 8);
	f[11] = 1;           /* version */
	f[14] = 0x10;        /* page size 4096 */
	f[23] = 7;           /* generation */
	f[42] = 0x20;        /* meta length 8192 */
	crypto_generichash(f + 44 + 8192, 16, f, 44 + 8192, NULL, 0);
	uint8_t *r = f + start;
	r[0] = 'V', r[1] = 'C', r[2] = 'L', r[3] = 'R';
	r[4] = (uint8_t)(len >> 24), r[5] = (uint8_t)(len >> 16);
	r[6] = (uint8_t)(len >> 8), r[7] = (uint8_t)len;
	r[15] = 7;           /* generation */
	r[23] = 1;           /* sequence */
	if (len > 0)
		memcpy(r + 24, body, len);
	crypto_generichash(r + 24 + len, 16, r, 24 + len, NULL, 0);
	*out_len = n;
	return f;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	struct commitlog_scan sc;
	fuzz_assert(copy != NULL, "out of memory");
	memcpy(copy, data, size);

	long n = commitlog_scan(copy, size, &sc);
	fuzz_assert(n == -1 || (size_t)n == sc.nrec, "scan count");
	size_t prev = 0;
	for (size_t i = 0; n > 0 && i < sc.nrec; i++) {
		fuzz_assert(sc.off[i] >= prev && sc.off[i] <= size && sc.len[i] <= size - sc.off[i],
		    "record %zu outside the input", i);
		prev = sc.off[i] + sc.len[i];
		fuzz_assert(sc.end >= prev, "scan end before a record");
	}
	commitlog_scan_free(&sc);

	struct again a = { { 0 }, 0 };
	int rc = commitlog_body_walk(copy, size, reencode, &a);
	if (rc == 0) {
		fuzz_assert(!a.b.failed, "re-encoding failed");
		fuzz_assert(a.b.len == size && (size == 0 || memcmp(a.b.p, copy, size) == 0),
		    "a body does not encode back to itself");
	} else {
		fuzz_assert(rc == STORE_E_CORRUPT, "walk returned %d", rc);
		fuzz_assert(a.ops == 0, "a refused body called back");
	}
	commitlog_body_free(&a.b);

	size_t wlen;
	uint8_t *w = wrap(copy, size, &wlen);
	n = commitlog_scan(w, wlen, &sc);
	fuzz_assert(n == 1 && sc.len[0] == size && memcmp(w + sc.off[0], copy, size) == 0,
	    "the wrapped record was not found whole (%ld)", n);
	size_t ops = 0;
	int rc2 = commitlog_body_walk(w + sc.off[0], sc.len[0], count_only, &ops);
	fuzz_assert(rc2 == rc, "the same body walked differently");
	commitlog_scan_free(&sc);
	free(w);
	free(copy);
	return 0;
}
