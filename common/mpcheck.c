/*
 * mpcheck.c - bounded msgpack validation before unpacking (see mpcheck.h).
 *
 * Written by hand because msgpack-c's C API has no limits (issues #985,
 * #1013). Iterative with an explicit count of objects still to read, so a
 * deeply nested input cannot exhaust the stack.
 */
#include <vault/vault.h>

#include "mpcheck.h"

/* msgpack-c's unpacker stops at 32 levels (MSGPACK_EMBED_STACK_SIZE). */
#define MP_MAX_DEPTH_HARD 32

static uint64_t
be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int
mp_check(const uint8_t *buf, size_t len, const struct mp_limits *lim)
{
	/* pending[d]: objects still to read at depth d. */
	uint64_t pending[MP_MAX_DEPTH_HARD + 1];
	unsigned depth = 0;
	unsigned max_depth = lim->max_depth < MP_MAX_DEPTH_HARD ?
	    lim->max_depth : MP_MAX_DEPTH_HARD;
	size_t objects = 0;
	size_t pos = 0;

	pending[0] = 1;
	while (depth > 0 || pending[0] > 0) {
		if (pending[depth] == 0) {
			depth--;
			continue;
		}
		pending[depth]--;
		if (++objects > lim->max_objects)
			return VAULT_E_LIMIT;
		if (pos >= len)
			return VAULT_E_PROTO_FRAME;

		uint8_t t = buf[pos++];
		size_t remain = len - pos;
		uint64_t skip = 0;    /* payload bytes after the header */
		uint64_t children = 0; /* objects inside a container */
		unsigned hdr = 0;     /* length bytes after the type byte */
		int container = 0;    /* an array or map, empty or not */

		if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
			/* fixint, nil, bool */
		} else if (t >= 0x80 && t <= 0x8f) {
			children = 2u * (t & 0x0f);
			container = 1;
		} else if (t >= 0x90 && t <= 0x9f) {
			children = t & 0x0f;
			container = 1;
		} else if (t >= 0xa0 && t <= 0xbf) {
			skip = t & 0x1f;
		} else {
			switch (t) {
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xca: case 0xce: case 0xd2: skip = 4; break;
			case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
			case 0xc4: case 0xd9: hdr = 1; break; /* bin8, str8 */
			case 0xc5: case 0xda: hdr = 2; break; /* bin16, str16 */
			case 0xc6: case 0xdb: hdr = 4; break; /* bin32, str32 */
			case 0xdc: case 0xde: hdr = 2; break; /* array16, map16 */
			case 0xdd: case 0xdf: hdr = 4; break; /* array32, map32 */
			default:
				/* 0xc1 (never used), ext and fixext: not in our protocol */
				return VAULT_E_PROTO_FRAME;
			}
			if (hdr != 0) {
				if (remain < hdr)
					return VAULT_E_PROTO_FRAME;
				uint64_t n = be(buf + pos, hdr);
				pos += hdr;
				remain -= hdr;
				if (t == 0xdc || t == 0xdd)
					children = n, container = 1;
				else if (t == 0xde || t == 0xdf)
					children = 2 * n, container = 1;
				else
					skip = n;
			}
		}
		if (skip > remain)
			return VAULT_E_PROTO_FRAME;
		pos += (size_t)skip;
		/* Against the caller's limit an empty container adds no depth,
		 * but msgpack-c's unpacker takes a stack entry for it as well:
		 * 33 nested containers fail there even when the last is empty. */
		if (container && depth + 1 > MP_MAX_DEPTH_HARD)
			return VAULT_E_LIMIT;
		if (children > 0) {
			/* Each element takes at least one byte. */
			if (children > len - pos)
				return VAULT_E_PROTO_FRAME;
			if (depth + 1 > max_depth)
				return VAULT_E_LIMIT;
			pending[++depth] = children;
		}
	}
	return pos == len ? 0 : VAULT_E_PROTO_FRAME;
}
