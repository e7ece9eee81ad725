/*
 * fuzz-frame.c - frames and the bounded msgpack reader: frame_peek(),
 * mp_check() and msg_decode() on the input taken as a stream of frames
 * (common/frame.h, common/mpcheck.h, common/msg.h).
 *
 * Invariants, per frame and for each set of limits the code uses:
 *   - frame_peek() agrees with the header: EMPTY, TOO_LARGE, NEED_MORE or
 *     READY exactly when it should, and frame_begin()/frame_end() rebuild
 *     the same frame around the body;
 *   - whatever mp_check() accepts, msgpack_unpack() accepts and consumes
 *     exactly, with strings pointing into the body, no deeper nesting and
 *     no more objects than the limits allow (the server's, the client's and
 *     the widest mp_check() takes);
 *   - the unpacker's zone grows by at most ZONE_FACTOR times the body size
 *     (FACTS.md: msgpack-c allocates whatever the input declares);
 *   - msg_decode() is mp_check() plus "the object is a map";
 *   - msgpack-c's own packing of an accepted object passes mp_check().
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <vault/vault.h>

#include "common/frame.h"
#include "common/msg.h"
#include "vault/config.h"
#include "vault/dispatch.h"

#include "fuzz.h"

#define ZONE_CHUNK 1024
#define ZONE_FACTOR 64

static size_t max_body;               /* the server's max_frame_bytes */
static struct mp_limits server_limits; /* dispatch.c, default configuration */

/* msgpack-c's zone chunk (zone.c): a malloc'd block that starts with the link. */
struct zone_chunk {
	struct zone_chunk *next;
};

static size_t
zone_bytes(const msgpack_zone *z)
{
	size_t n = 0;
	for (const struct zone_chunk *c = (const void *)z->chunk_list.head; c != NULL; c = c->next)
		n += malloc_usable_size((void *)c);
	return n;
}

struct walk {
	const uint8_t *body;
	size_t len;
	size_t objects;
	unsigned max_depth; /* of containers with elements, as mp_check counts */
};

static void
walk(struct walk *w, const msgpack_object *o, unsigned depth)
{
	w->objects++;
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
	case MSGPACK_OBJECT_BIN: {
		/* bin and str share the layout { size, ptr } */
		const uint8_t *p = (const uint8_t *)o->via.str.ptr;
		size_t n = o->via.str.size;
		fuzz_assert(n == 0 || (p >= w->body && n <= w->len && p - w->body <= (ptrdiff_t)(w->len - n)),
		    "a string of %zu bytes points outside the body", n);
		break;
	}
	case MSGPACK_OBJECT_ARRAY:
		if (o->via.array.size > 0 && depth + 1 > w->max_depth)
			w->max_depth = depth + 1;
		for (uint32_t i = 0; i < o->via.array.size; i++)
			walk(w, &o->via.array.ptr[i], depth + 1);
		break;
	case MSGPACK_OBJECT_MAP:
		if (o->via.map.size > 0 && depth + 1 > w->max_depth)
			w->max_depth = depth + 1;
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			walk(w, &o->via.map.ptr[i].key, depth + 1);
			walk(w, &o->via.map.ptr[i].val, depth + 1);
		}
		break;
	case MSGPACK_OBJECT_EXT:
		fuzz_assert(0, "mp_check let an ext type through");
		break;
	default:
		break;
	}
}

static void
check_body(const uint8_t *body, size_t len, const struct mp_limits *lim, const char *who)
{
	msgpack_zone zone;
	msgpack_object root;
	size_t off = 0;

	int rc = mp_check(body, len, lim);
	fuzz_assert(rc == 0 || rc == VAULT_E_PROTO_FRAME || rc == VAULT_E_LIMIT,
	    "mp_check (%s limits) returned %d", who, rc);
	fuzz_assert(msgpack_zone_init(&zone, ZONE_CHUNK), "out of memory");
	if (rc == 0) {
		size_t before = zone_bytes(&zone);
		int ur = msgpack_unpack((const char *)body, len, &off, &zone, &root);
		fuzz_assert(ur == MSGPACK_UNPACK_SUCCESS,
		    "mp_check (%s limits: depth %u) accepted %zu bytes msgpack_unpack refuses (%d)",
		    who, lim->max_depth, len, ur);
		fuzz_assert(off == len, "msgpack_unpack consumed %zu of %zu bytes mp_check accepted", off, len);
		size_t grown = zone_bytes(&zone) - before;
		fuzz_assert(grown <= (size_t)ZONE_FACTOR * len,
		    "unpacking %zu bytes took %zu bytes of zone (over %dx)", len, grown, ZONE_FACTOR);

		struct walk w = { body, len, 0, 0 };
		walk(&w, &root, 0);
		fuzz_assert(w.objects <= lim->max_objects, "%zu objects over the limit %zu",
		    w.objects, lim->max_objects);
		fuzz_assert(w.max_depth <= lim->max_depth, "nesting %u over the limit %u",
		    w.max_depth, lim->max_depth);

		/* What msgpack-c packs of it, our reader accepts. */
		struct buf re = { 0 };
		msgpack_packer pk;
		msgpack_packer_init(&pk, &re, buf_msgpack_write);
		fuzz_assert(msgpack_pack_object(&pk, root) == 0 && re.error == 0, "repacking failed");
		fuzz_assert(mp_check(re.data, re.len, lim) == 0,
		    "mp_check refuses msgpack-c's packing of an object it accepted");
		buf_free(&re);
	}

	msgpack_object root2;
	msgpack_zone_clear(&zone);
	int dr = msg_decode(body, len, lim, &zone, &root2);
	if (rc != 0)
		fuzz_assert(dr == rc, "msg_decode returned %d where mp_check returned %d", dr, rc);
	else if (root.type == MSGPACK_OBJECT_MAP)
		fuzz_assert(dr == 0 && root2.type == MSGPACK_OBJECT_MAP, "msg_decode refused a map (%d)", dr);
	else
		fuzz_assert(dr == VAULT_E_PROTO_FRAME, "msg_decode accepted a non-map (%d)", dr);
	msgpack_zone_destroy(&zone);
}

/* The frame at data[0..avail): returns the bytes it takes, or 0 to stop. */
static size_t
check_frame(const uint8_t *data, size_t avail)
{
	size_t body_len = 0;
	enum frame_status fs = frame_peek(data, avail, max_body, &body_len);
	if (avail < FRAME_HEADER_SIZE) {
		fuzz_assert(fs == FRAME_NEED_MORE, "frame_peek on %zu bytes returned %d", avail, fs);
		return 0;
	}
	size_t declared = (size_t)data[0] << 24 | (size_t)data[1] << 16 |
	    (size_t)data[2] << 8 | data[3];
	uint8_t hdr[FRAME_HEADER_SIZE];
	frame_put_header(hdr, (uint32_t)declared);
	fuzz_assert(memcmp(hdr, data, FRAME_HEADER_SIZE) == 0, "frame_put_header differs");
	fuzz_assert(body_len == declared, "frame_peek says %zu, the header %zu", body_len, declared);
	if (declared == 0) {
		fuzz_assert(fs == FRAME_EMPTY, "empty frame reported as %d", fs);
		return FRAME_HEADER_SIZE;
	}
	if (declared > max_body) {
		fuzz_assert(fs == FRAME_TOO_LARGE, "frame of %zu bytes reported as %d", declared, fs);
		return 0;
	}
	if (avail - FRAME_HEADER_SIZE < declared) {
		fuzz_assert(fs == FRAME_NEED_MORE, "partial frame reported as %d", fs);
		return 0;
	}
	fuzz_assert(fs == FRAME_READY, "whole frame reported as %d", fs);

	/* An exact-size copy, so ASan sees any read past the body. */
	uint8_t *body = fuzz_dup(data + FRAME_HEADER_SIZE, declared);
	struct mp_limits client = { 8, declared }; /* client/vault.c */
	struct mp_limits widest = { 64, SIZE_MAX }; /* mp_check's hard cap */
	check_body(body, declared, &server_limits, "server");
	check_body(body, declared, &client, "client");
	check_body(body, declared, &widest, "widest");

	struct buf b = { 0 };
	size_t start = frame_begin(&b);
	buf_append(&b, body, declared);
	fuzz_assert(frame_end(&b, start, max_body) == 0, "frame_end refused %zu bytes", declared);
	fuzz_assert(b.len == FRAME_HEADER_SIZE + declared &&
	    memcmp(b.data, data, b.len) == 0, "frame_begin/frame_end built another frame");
	buf_free(&b);
	free(body);
	return FRAME_HEADER_SIZE + declared;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config cfg;
	config_defaults(&cfg);
	max_body = cfg.max_frame_bytes;
	server_limits.max_depth = REQUEST_MAX_DEPTH;
	server_limits.max_objects = (size_t)cfg.max_tokens_per_request +
	    8u * cfg.max_fields_per_request + 256;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, n;
	while (off < size && (n = check_frame(data + off, size - off)) > 0)
		off += n;
	return 0;
}
