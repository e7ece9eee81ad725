/*
 * mpcheck.h - a bounded pre-pass over untrusted msgpack.
 *
 * msgpack-c's unpacker allocates whatever a container header declares (a
 * 5-byte array32 header asks for ~96 GB). Every body from the wire therefore
 * goes through mp_check() first: it walks the encoding without allocating
 * and refuses any container whose declared count exceeds the bytes that
 * remain, any string longer than the bytes present, nesting deeper than a
 * limit, more objects in total than a limit, extension types (unused by the
 * protocol) and trailing bytes. Only a body that passes is unpacked, so the
 * unpacker's allocation is bounded by a small multiple of the frame size.
 */
#ifndef VAULT_COMMON_MPCHECK_H
#define VAULT_COMMON_MPCHECK_H

#include <stddef.h>
#include <stdint.h>

struct mp_limits {
	unsigned max_depth;   /* containers nested deeper are refused (at most 32) */
	size_t max_objects;   /* total objects (each container element counts) */
};

/*
 * Check that buf[0..len) holds exactly one well-formed msgpack object within
 * lim. Returns 0, VAULT_E_PROTO_FRAME (malformed, truncated, trailing bytes,
 * declared sizes beyond the data, ext types) or VAULT_E_LIMIT (depth or
 * object count).
 */
int mp_check(const uint8_t *buf, size_t len, const struct mp_limits *lim);

#endif
