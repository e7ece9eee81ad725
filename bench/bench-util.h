/*
 * bench-util.h - what the benchmark programs share: a monotonic clock, a
 * sort order for latencies, and the raw-protocol helpers of the programs
 * that pipeline requests on the socket themselves (the client library is
 * synchronous).
 */
#ifndef VAULT_BENCH_UTIL_H
#define VAULT_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* Seconds on the monotonic clock. */
double now_s(void);
/* qsort order of doubles, ascending. */
int cmp_double(const void *x, const void *y);
/* realloc, or exit with "out of memory". */
void *xrealloc(void *p, size_t n);

/* A growable output buffer a msgpack packer writes to (obuf_write). */
struct obuf {
	uint8_t *data;
	size_t len, cap;
};
void obuf_reserve(struct obuf *b, size_t n);
int obuf_write(void *data, const char *p, size_t n);
/* Pack a NUL-terminated string. */
void pk_str(msgpack_packer *pk, const char *s);
/* map[key] of a decoded reply, or NULL. */
const msgpack_object *map_get(const msgpack_object *m, const char *key);

/* A non-blocking connection to the socket at path, or -1. */
int unix_connect(const char *path);

#endif
