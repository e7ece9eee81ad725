/*
 * fuzz.h - what every fuzz harness shares (fuzz-util.c); the vault fixture
 * and the protocol checks are in fuzz-vault.h.
 *
 * Every harness defines the two libFuzzer entry points declared here; the
 * same object links either with libFuzzer (fuzz-<name>) or with fuzz-main.c
 * (fuzz-<name>-replay, a meson test replaying the corpus). Harnesses check
 * invariants with fuzz_assert(), which prints what broke and aborts, so a
 * violated invariant is reported like a crash by both drivers.
 */
#ifndef VAULT_FUZZ_H
#define VAULT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

__attribute__((noreturn, format(printf, 4, 5)))
void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...);

/* Abort with file, line, the condition and a message if cond is false. */
#define fuzz_assert(cond, ...) do { \
	if (!(cond)) \
		fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
} while (0)

/*
 * A deterministic random source for libsodium (a ChaCha20 stream with a
 * fixed key and an atomic block counter), installed before sodium_init().
 * Keys, nonces and card tokens then come out the same on every run, so the
 * committed seeds can hold tokens the fixtures will accept. Thread-safe.
 * fuzz_init() installs it and initializes libsodium (idempotent).
 */
void fuzz_init(void);
void fuzz_random_reset(void);

/*
 * Open bugs: before failing on a violation that was reported and is not
 * fixed yet, a harness asks fuzz_known_bug(name). It returns 1 (tolerate)
 * and notes the name once on stderr, so the replay tests and fuzz/run.sh
 * keep passing and keep looking for new bugs; with FUZZ_STRICT set in the
 * environment it returns 0 and the violation aborts as usual. Reproducers
 * of open bugs are kept as fuzz/reproducers/<harness>/open-<name>*, and
 * the 'fuzz-open-bugs' tests replay them strictly, expecting each to fail,
 * so a fix shows up as "no longer reproduces" (then rename it fixed-...).
 */
int fuzz_known_bug(const char *name);

/* The root key of every fixture key ring (fuzz-keyring uses it too). */
extern const uint8_t fuzz_root_key[32];

/*
 * A new private directory under $TMPDIR (or /tmp), named after tag; the
 * path goes to out (PATH_MAX bytes). fuzz_rmtree() removes a tree.
 */
void fuzz_tmpdir(char *out, const char *tag);
void fuzz_rmtree(const char *dir);

/* A heap copy of exactly len bytes (1 if len is 0), for exact ASan bounds. */
uint8_t *fuzz_dup(const uint8_t *data, size_t len);

#endif
