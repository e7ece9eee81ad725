/*
 * fuzz-util.c - failure reports, the deterministic random source, private
 * temporary directories and exact-size copies (see fuzz.h).
 */
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fuzz.h"

const uint8_t fuzz_root_key[32] = {
	'v', 'a', 'u', 'l', 't', '-', 'f', 'u', 'z', 'z', '-', 'r', 'o', 'o', 't', '-',
	'k', 'e', 'y', '-', 'n', 'o', 't', '-', 'a', '-', 's', 'e', 'c', 'r', 'e', 't',
};

void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "\n==== FUZZ INVARIANT VIOLATED at %s:%d: %s\n==== ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

int
fuzz_known_bug(const char *name)
{
	static const char *noted[16];
	const char *strict = getenv("FUZZ_STRICT");
	if (strict != NULL && strict[0] != '\0' && strcmp(strict, "0") != 0)
		return 0;
	for (size_t i = 0; i < sizeof(noted) / sizeof(noted[0]); i++) {
		if (noted[i] != NULL && strcmp(noted[i], name) == 0)
			break;
		if (noted[i] == NULL) {
			noted[i] = name;
			fprintf(stderr, "fuzz: tolerating open bug %s (FUZZ_STRICT=1 to fail)\n", name);
			break;
		}
	}
	return 1;
}

/* ---- deterministic random source ---- */

/* 32 key bytes (the array has room for the literal's NUL). */
static const uint8_t stream_key[crypto_stream_chacha20_ietf_KEYBYTES + 1] =
    "deterministic fuzzing key stream";
static atomic_uint_fast64_t stream_counter;

static void
det_buf(void *const buf, const size_t size)
{
	/* Each request gets its own nonce: calls from several threads never
	 * share key stream, and a run's sequence depends only on call order. */
	uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = { 0 };
	uint64_t n = atomic_fetch_add(&stream_counter, 1);
	for (int i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(n >> (8 * i));
	memset(buf, 0, size);
	crypto_stream_chacha20_ietf_xor(buf, buf, size, nonce, stream_key);
}

static uint32_t
det_random(void)
{
	uint32_t v;
	det_buf(&v, sizeof(v));
	return v;
}

static const char *
det_name(void)
{
	return "vault-fuzz-deterministic";
}

static randombytes_implementation det_impl = {
	.implementation_name = det_name,
	.random = det_random,
	.buf = det_buf,
};

void
fuzz_random_reset(void)
{
	atomic_store(&stream_counter, 0);
}

void
fuzz_init(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	randombytes_set_implementation(&det_impl);
	if (sodium_init() < 0) {
		fprintf(stderr, "libsodium failed to initialize\n");
		abort();
	}
	fuzz_random_reset();
}

/* ---- files ---- */

void
fuzz_tmpdir(char *out, const char *tag)
{
	const char *base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(out, PATH_MAX, "%s/vault-%s-XXXXXX", base, tag);
	if (mkdtemp(out) == NULL) {
		perror(out);
		abort();
	}
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void
fuzz_rmtree(const char *dir)
{
	if (dir != NULL && dir[0] != '\0')
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint8_t *
fuzz_dup(const uint8_t *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	fuzz_assert(p != NULL, "out of memory copying %zu bytes", len);
	if (len)
		memcpy(p, data, len);
	return p;
}
