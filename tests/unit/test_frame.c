/*
 * test_frame.c - the wire layer shared by server and client: frames
 * (frame.h), the bounded msgpack pre-pass (mpcheck.h), message decoding
 * and typed argument access (msg.h), and the growable buffer (buf.h).
 *
 * Messages are built with msgpack-c's own packer writing into a struct buf,
 * and every input handed to mp_check()/msg_decode() is an exact-size heap
 * copy, so the address sanitizer catches any read past the end.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <msgpack.h>
#include <sodium.h>
#include <vault/vault.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/mpcheck.h"
#include "common/msg.h"

/* Packer state shared by the helpers below; reset for every test. */
static struct buf pb;
static msgpack_packer pk;
static msgpack_zone zone;
static msgpack_object root;
static uint8_t *body; /* exact copy that decoded objects point into */

static void
setup(void)
{
	cr_assert_geq(sodium_init(), 0);
	memset(&pb, 0, sizeof pb);
	msgpack_packer_init(&pk, &pb, buf_msgpack_write);
	cr_assert(msgpack_zone_init(&zone, 1024));
	body = NULL;
}

static void
teardown(void)
{
	msgpack_zone_destroy(&zone);
	buf_free(&pb);
	free(body);
}

TestSuite(frame, .init = setup, .fini = teardown);
TestSuite(mpcheck, .init = setup, .fini = teardown);
TestSuite(msg, .init = setup, .fini = teardown);
TestSuite(buf, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------- */

static const struct mp_limits roomy = { 16, 1u << 20 };

static uint8_t *
dup_exact(const uint8_t *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	cr_assert_not_null(c);
	if (len)
		memcpy(c, p, len);
	return c;
}

static int
check_with(const uint8_t *p, size_t len, const struct mp_limits *lim)
{
	uint8_t *c = dup_exact(p, len);
	int rc = mp_check(c, len, lim);
	free(c);
	return rc;
}

static int
check(const uint8_t *p, size_t len)
{
	return check_with(p, len, &roomy);
}

#define CHECK_LIT(lit) check((const uint8_t *)(lit), sizeof(lit) - 1)

/* Start packing a new message into pb. */
static void
restart(void)
{
	buf_clear(&pb);
}

/* Decode what was packed; the objects stay valid until the test ends. */
static int
decode_packed(void)
{
	free(body);
	body = dup_exact(pb.data, pb.len);
	msgpack_zone_clear(&zone);
	return msg_decode(body, pb.len, &roomy, &zone, &root);
}

static void
key(const char *k)
{
	mp_cstr(&pk, k);
}

/* n nested fixarray(1) around a nil. */
static uint8_t *
nested(size_t n, size_t *len)
{
	uint8_t *p = malloc(n + 1);
	cr_assert_not_null(p);
	memset(p, 0x91, n);
	p[n] = 0xc0;
	*len = n + 1;
	return p;
}

/* ---- frames ----------------------------------------------------------- */

Test(frame, peek_need_more_until_whole)
{
	uint8_t f[4 + 10 + 3];
	size_t n = 999;
	frame_put_header(f, 10);
	memset(f + 4, 'x', sizeof f - 4);
	for (size_t len = 0; len < FRAME_HEADER_SIZE; len++)
		cr_assert_eq(frame_peek(f, len, 100, &n), FRAME_NEED_MORE, "len %zu", len);
	for (size_t len = FRAME_HEADER_SIZE; len < 14; len++) {
		n = 999;
		cr_assert_eq(frame_peek(f, len, 100, &n), FRAME_NEED_MORE, "len %zu", len);
		cr_assert_eq(n, 10, "body_len set once the header is in");
	}
	cr_assert_eq(frame_peek(f, 14, 100, &n), FRAME_READY);
	cr_assert_eq(n, 10);
	/* Bytes of the next frame after it do not matter. */
	cr_assert_eq(frame_peek(f, sizeof f, 100, &n), FRAME_READY);
	cr_assert_eq(n, 10);
	/* A body of exactly max_body is fine. */
	cr_assert_eq(frame_peek(f, 14, 10, &n), FRAME_READY);
}

Test(frame, peek_empty_body)
{
	uint8_t f[8] = { 0, 0, 0, 0, 0xc0, 0, 0, 0 };
	size_t n = 999;
	cr_assert_eq(frame_peek(f, 4, 100, &n), FRAME_EMPTY);
	cr_assert_eq(n, 0);
	cr_assert_eq(frame_peek(f, sizeof f, 100, &n), FRAME_EMPTY);
}

Test(frame, peek_too_large_from_header_alone)
{
	static const uint32_t sizes[] = { 101, 0x10000, 0x7fffffff, 0xffffffff };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		uint8_t hdr[FRAME_HEADER_SIZE];
		size_t n = 0;
		frame_put_header(hdr, sizes[i]);
		/* Only the header has arrived: no body byte is awaited. */
		uint8_t *c = dup_exact(hdr, sizeof hdr);
		cr_assert_eq(frame_peek(c, sizeof hdr, 100, &n), FRAME_TOO_LARGE,
		    "declared %u with max 100", sizes[i]);
		cr_assert_eq(n, sizes[i]);
		free(c);
	}
	/* One byte under the limit is merely incomplete. */
	uint8_t hdr[FRAME_HEADER_SIZE];
	size_t n = 0;
	frame_put_header(hdr, 100);
	cr_assert_eq(frame_peek(hdr, sizeof hdr, 100, &n), FRAME_NEED_MORE);
}

Test(frame, put_header_round_trip)
{
	static const uint32_t sizes[] = { 1, 255, 256, 65535, 65536, 0x01020304, UINT32_MAX };
	uint8_t hdr[FRAME_HEADER_SIZE];
	frame_put_header(hdr, 0x01020304);
	cr_assert_arr_eq(hdr, ((uint8_t[]){ 1, 2, 3, 4 }), 4, "big-endian");
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = 0;
		frame_put_header(hdr, sizes[i]);
		cr_assert_eq(frame_peek(hdr, sizeof hdr, SIZE_MAX, &n), FRAME_NEED_MORE);
		cr_assert_eq(n, sizes[i]);
	}
}

/* ---- mp_check: valid input ---------------------------------------- */

/*
 * Pack sample i (every msgpack type and size class) into pk; return the
 * type byte msgpack-c should emit, or -1 past the last sample.
 */
static int
pack_sample(int i)
{
	static char big[70000];
	memset(big, 'z', sizeof big);
	switch (i) {
	case 0: msgpack_pack_nil(&pk); return 0xc0;
	case 1: msgpack_pack_true(&pk); return 0xc3;
	case 2: msgpack_pack_false(&pk); return 0xc2;
	case 3: msgpack_pack_uint8(&pk, 5); return 0x05;
	case 4: msgpack_pack_uint8(&pk, 127); return 0x7f;
	case 5: msgpack_pack_uint8(&pk, 200); return 0xcc;
	case 6: msgpack_pack_uint16(&pk, 1000); return 0xcd;
	case 7: msgpack_pack_uint32(&pk, 100000); return 0xce;
	case 8: msgpack_pack_uint64(&pk, UINT64_MAX); return 0xcf;
	case 9: msgpack_pack_int8(&pk, -5); return 0xfb;
	case 10: msgpack_pack_int8(&pk, -32); return 0xe0;
	case 11: msgpack_pack_int8(&pk, -100); return 0xd0;
	case 12: msgpack_pack_int16(&pk, -1000); return 0xd1;
	case 13: msgpack_pack_int32(&pk, -100000); return 0xd2;
	case 14: msgpack_pack_int64(&pk, INT64_MIN); return 0xd3;
	case 15: msgpack_pack_float(&pk, 1.5f); return 0xca;
	case 16: msgpack_pack_double(&pk, -2.25); return 0xcb;
	case 17: mp_str(&pk, big, 0); return 0xa0;
	case 18: mp_str(&pk, big, 31); return 0xbf;
	case 19: mp_str(&pk, big, 32); return 0xd9;
	case 20: mp_str(&pk, big, 256); return 0xda;
	case 21: mp_str(&pk, big, 65536); return 0xdb;
	case 22: mp_bin(&pk, big, 0); return 0xc4;
	case 23: mp_bin(&pk, big, 300); return 0xc5;
	case 24: mp_bin(&pk, big, 70000); return 0xc6;
	case 25: msgpack_pack_array(&pk, 0); return 0x90;
	case 26:
		msgpack_pack_array(&pk, 15);
		for (int j = 0; j < 15; j++)
			msgpack_pack_int(&pk, j);
		return 0x9f;
	case 27:
		msgpack_pack_array(&pk, 16);
		for (int j = 0; j < 16; j++)
			msgpack_pack_nil(&pk);
		return 0xdc;
	case 28:
		msgpack_pack_array(&pk, 65536);
		for (int j = 0; j < 65536; j++)
			msgpack_pack_nil(&pk);
		return 0xdd;
	case 29: msgpack_pack_map(&pk, 0); return 0x80;
	case 30:
		msgpack_pack_map(&pk, 15);
		for (int j = 0; j < 15; j++) {
			msgpack_pack_int(&pk, j);
			msgpack_pack_true(&pk);
		}
		return 0x8f;
	case 31:
		msgpack_pack_map(&pk, 16);
		for (int j = 0; j < 16; j++) {
			msgpack_pack_int(&pk, j);
			msgpack_pack_nil(&pk);
		}
		return 0xde;
	case 32:
		msgpack_pack_map(&pk, 65536);
		for (int j = 0; j < 65536; j++) {
			msgpack_pack_int(&pk, j);
			msgpack_pack_nil(&pk);
		}
		return 0xdf;
	case 33: /* {"a": [1, {"b": "c"}, [], {}], "n": nil} */
		msgpack_pack_map(&pk, 2);
		key("a");
		msgpack_pack_array(&pk, 4);
		msgpack_pack_int(&pk, 1);
		msgpack_pack_map(&pk, 1);
		key("b");
		key("c");
		msgpack_pack_array(&pk, 0);
		msgpack_pack_map(&pk, 0);
		key("n");
		msgpack_pack_nil(&pk);
		return 0x82;
	default:
		return -1;
	}
}

Test(mpcheck, accepts_every_type)
{
	for (int i = 0;; i++) {
		restart();
		int want = pack_sample(i);
		if (want < 0)
			break;
		cr_assert_eq(pb.error, 0);
		cr_assert_eq(pb.data[0], want, "sample %d packed as 0x%02x, want 0x%02x",
		    i, pb.data[0], want);
		int rc = check(pb.data, pb.len);
		cr_assert_eq(rc, 0, "sample %d (type 0x%02x) refused: %d", i, want, rc);
	}
}

Test(mpcheck, every_truncation_and_any_trailing_byte_refused)
{
	for (int i = 0;; i++) {
		restart();
		int want = pack_sample(i);
		if (want < 0)
			break;
		size_t len = pb.len;
		uint8_t *full = dup_exact(pb.data, len);
		/* All prefixes of small samples; the edges and a stride for big ones. */
		for (size_t n = 0; n < len; n++) {
			if (len > 600 && n > 300 && n < len - 300 && n % 997 != 0)
				continue;
			int rc = check(full, n);
			cr_assert_eq(rc, VAULT_E_PROTO_FRAME, "sample %d cut to %zu of %zu: %d",
			    i, n, len, rc);
		}
		uint8_t *longer = malloc(len + 1);
		memcpy(longer, full, len);
		longer[len] = 0xc0;
		cr_assert_eq(check(longer, len + 1), VAULT_E_PROTO_FRAME,
		    "sample %d with a trailing nil", i);
		free(longer);
		free(full);
	}
}

/* ---- mp_check: hostile input --------------------------------------- */

Test(mpcheck, declared_sizes_beyond_the_data_refused)
{
	cr_assert_eq(CHECK_LIT("\xdd\xff\xff\xff\xff"), VAULT_E_PROTO_FRAME, "array32 2^32-1");
	cr_assert_eq(CHECK_LIT("\xdf\xff\xff\xff\xff"), VAULT_E_PROTO_FRAME, "map32 2^32-1");
	cr_assert_eq(CHECK_LIT("\xdb\xff\xff\xff\xff"), VAULT_E_PROTO_FRAME, "str32 2^32-1");
	cr_assert_eq(CHECK_LIT("\xc6\xff\xff\xff\xff"), VAULT_E_PROTO_FRAME, "bin32 2^32-1");
	cr_assert_eq(CHECK_LIT("\xdc\xff\xff"), VAULT_E_PROTO_FRAME, "array16 65535");
	cr_assert_eq(CHECK_LIT("\xde\xff\xff"), VAULT_E_PROTO_FRAME, "map16 65535");
	cr_assert_eq(CHECK_LIT("\xdd\x00\x00\x00\x02\xc0"), VAULT_E_PROTO_FRAME, "array32 2, 1 given");
	cr_assert_eq(CHECK_LIT("\xdf\x00\x00\x00\x01\xc0"), VAULT_E_PROTO_FRAME, "map32 1 pair, key only");
	cr_assert_eq(CHECK_LIT("\x82\xc0\xc0\xc0"), VAULT_E_PROTO_FRAME, "fixmap 2 pairs, 3 objects");
	cr_assert_eq(CHECK_LIT("\xdb\x00\x00\x00\x05" "abcd"), VAULT_E_PROTO_FRAME, "str32 5, 4 given");
	cr_assert_eq(CHECK_LIT("\xd9\x05" "abcd"), VAULT_E_PROTO_FRAME, "str8 5, 4 given");
	cr_assert_eq(CHECK_LIT("\xa5" "abcd"), VAULT_E_PROTO_FRAME, "fixstr 5, 4 given");
	cr_assert_eq(CHECK_LIT("\xc4\x03" "ab"), VAULT_E_PROTO_FRAME, "bin8 3, 2 given");
	cr_assert_eq(CHECK_LIT("\xc6\x00\x01\x00\x00" "ab"), VAULT_E_PROTO_FRAME, "bin32 65536, 2 given");
	/* Inside a container, too. */
	cr_assert_eq(CHECK_LIT("\x92\xc0\xdd\xff\xff\xff\xff"), VAULT_E_PROTO_FRAME, "nested array32");
	cr_assert_eq(CHECK_LIT("\x81\xa1k\xdf\xff\xff\xff\xff"), VAULT_E_PROTO_FRAME, "nested map32");
	/* A count above the remaining bytes is refused even under roomy limits. */
	uint8_t p[5 + 100];
	memcpy(p, "\xdd\x00\x01\x00\x00", 5);
	memset(p + 5, 0xc0, 100);
	cr_assert_eq(check(p, sizeof p), VAULT_E_PROTO_FRAME);
}

Test(mpcheck, ext_types_and_never_used_byte_refused)
{
	cr_assert_eq(CHECK_LIT("\xc1"), VAULT_E_PROTO_FRAME, "0xc1");
	cr_assert_eq(CHECK_LIT("\x91\xc1"), VAULT_E_PROTO_FRAME, "0xc1 in an array");
	cr_assert_eq(CHECK_LIT("\xd4\x01\x00"), VAULT_E_PROTO_FRAME, "fixext1");
	cr_assert_eq(CHECK_LIT("\xd5\x01\x00\x00"), VAULT_E_PROTO_FRAME, "fixext2");
	cr_assert_eq(CHECK_LIT("\xd6\x01\x00\x00\x00\x00"), VAULT_E_PROTO_FRAME, "fixext4");
	cr_assert_eq(CHECK_LIT("\xd7\x01\x00\x00\x00\x00\x00\x00\x00\x00"), VAULT_E_PROTO_FRAME, "fixext8");
	uint8_t fx16[18] = { 0xd8, 0x01 };
	cr_assert_eq(check(fx16, sizeof fx16), VAULT_E_PROTO_FRAME, "fixext16");
	cr_assert_eq(CHECK_LIT("\xc7\x01\x01\x00"), VAULT_E_PROTO_FRAME, "ext8");
	cr_assert_eq(CHECK_LIT("\xc8\x00\x01\x01\x00"), VAULT_E_PROTO_FRAME, "ext16");
	cr_assert_eq(CHECK_LIT("\xc9\x00\x00\x00\x01\x01\x00"), VAULT_E_PROTO_FRAME, "ext32");
	cr_assert_eq(CHECK_LIT("\x81\xa1k\xff\xd4\x01\x00"), VAULT_E_PROTO_FRAME, "trailing ext after a map");
	cr_assert_eq(CHECK_LIT("\x81\xa1k\xd4\x01\x00"), VAULT_E_PROTO_FRAME, "ext as a map value");
	/* msgpack-c packs ext when asked; the check must still refuse it. */
	restart();
	msgpack_pack_ext(&pk, 4, 7);
	msgpack_pack_ext_body(&pk, "abcd", 4);
	cr_assert_eq(check(pb.data, pb.len), VAULT_E_PROTO_FRAME, "packed ext");
}

Test(mpcheck, empty_and_trailing_refused)
{
	cr_assert_eq(check((const uint8_t *)"", 0), VAULT_E_PROTO_FRAME, "no bytes");
	cr_assert_eq(CHECK_LIT("\xc0\xc0"), VAULT_E_PROTO_FRAME, "two objects");
	cr_assert_eq(CHECK_LIT("\x80\x00"), VAULT_E_PROTO_FRAME, "map then a byte");
	cr_assert_eq(CHECK_LIT("\xc0"), 0, "one nil");
}

Test(mpcheck, depth_limit)
{
	const struct mp_limits lim = { 4, 1000 };
	size_t len;
	for (size_t d = 0; d <= 4; d++) {
		uint8_t *p = nested(d, &len);
		cr_assert_eq(check_with(p, len, &lim), 0, "depth %zu within 4", d);
		free(p);
	}
	uint8_t *p = nested(5, &len);
	cr_assert_eq(check_with(p, len, &lim), VAULT_E_LIMIT, "depth 5 over 4");
	free(p);

	/* Maps count the same way: {"k": {"k": ... nil}} five maps deep. */
	for (int depth = 4; depth <= 5; depth++) {
		restart();
		for (int i = 0; i < depth; i++) {
			msgpack_pack_map(&pk, 1);
			key("k");
		}
		msgpack_pack_nil(&pk);
		cr_assert_eq(check_with(pb.data, pb.len, &lim), depth <= 4 ? 0 : VAULT_E_LIMIT,
		    "map depth %d", depth);
	}
	/* Siblings do not add depth. */
	cr_assert_eq(check_with((const uint8_t *)"\x94\x91\xc0\x91\xc0\x91\xc0\x91\x91\x91\xc0", 11, &lim),
	    0, "siblings");
	/* An empty container at the limit adds no depth. */
	cr_assert_eq(check_with((const uint8_t *)"\x91\x91\x91\x91\x90", 5, &lim), 0);
	cr_assert_eq(check_with((const uint8_t *)"\x91\x91\x91\x91\x80", 5, &lim), 0);
}

/*
 * msgpack-c's unpacker holds 32 levels, counting an empty container: 32
 * arrays holding an empty one must be refused even with the widest limits
 * (fuzz-frame found mp_check accepting what msgpack_unpack then refused).
 */
Test(mpcheck, an_empty_container_past_the_hard_cap_is_refused)
{
	const struct mp_limits widest = { 64, SIZE_MAX };
	uint8_t p[40];
	for (size_t levels = 31; levels <= 33; levels++) {
		size_t n = 0;
		for (size_t i = 0; i + 1 < levels; i++)
			p[n++] = 0x91;
		p[n++] = 0x90;
		int rc = check_with(p, n, &widest);
		cr_assert_eq(rc, levels <= 32 ? 0 : VAULT_E_LIMIT, "%zu levels: %d", levels, rc);
		if (rc == 0) {
			size_t off = 0;
			msgpack_zone_clear(&zone);
			cr_assert_eq(msgpack_unpack((const char *)p, n, &off, &zone, &root),
			    MSGPACK_UNPACK_SUCCESS, "%zu levels accepted but not unpacked", levels);
		}
	}
}

Test(mpcheck, object_limit)
{
	const struct mp_limits lim = { 8, 5 };
	/* Each element counts, and so does the container. */
	cr_assert_eq(check_with((const uint8_t *)"\x94\x01\x02\x03\x04", 5, &lim), 0, "5 objects");
	cr_assert_eq(check_with((const uint8_t *)"\x95\x01\x02\x03\x04\x05", 6, &lim),
	    VAULT_E_LIMIT, "6 objects");
	cr_assert_eq(check_with((const uint8_t *)"\x82\x01\x02\x03\x04", 5, &lim), 0, "map, 5 objects");
	cr_assert_eq(check_with((const uint8_t *)"\x83\x01\x02\x03\x04\x05\x06", 7, &lim),
	    VAULT_E_LIMIT, "map, 7 objects");
	cr_assert_eq(check_with((const uint8_t *)"\x92\x92\x01\x02\x92\x03\x04", 7, &lim),
	    VAULT_E_LIMIT, "nested, 7 objects");
	/* A big flat array of tiny objects: the count, not the bytes, decides. */
	restart();
	msgpack_pack_array(&pk, 1000);
	for (int i = 0; i < 1000; i++)
		msgpack_pack_nil(&pk);
	const struct mp_limits l1000 = { 8, 1000 }, l1001 = { 8, 1001 };
	cr_assert_eq(check_with(pb.data, pb.len, &l1000), VAULT_E_LIMIT);
	cr_assert_eq(check_with(pb.data, pb.len, &l1001), 0);
}

Test(mpcheck, deep_nesting_does_not_exhaust_the_stack)
{
	size_t len;
	uint8_t *p = nested(100000, &len);
	const struct mp_limits l16 = { 16, SIZE_MAX }, lmax = { UINT_MAX, SIZE_MAX };
	cr_assert_eq(check_with(p, len, &l16), VAULT_E_LIMIT);
	/*
	 * With no practical depth limit from the caller the check must still
	 * return (mpcheck.c caps the depth at 64 internally; an undocumented
	 * limit, see the report).
	 */
	int rc = check_with(p, len, &lmax);
	cr_assert(rc == 0 || rc == VAULT_E_LIMIT, "rc %d", rc);
	/* Without the closing nil: truncated and too deep. */
	rc = check_with(p, len - 1, &lmax);
	cr_assert(rc == VAULT_E_PROTO_FRAME || rc == VAULT_E_LIMIT, "rc %d", rc);
	free(p);
	/* msg_decode on the same input refuses it before unpacking. */
	p = nested(100000, &len);
	cr_assert_eq(msg_decode(p, len, &l16, &zone, &root), VAULT_E_LIMIT);
	free(p);
}

/* ---- msg_decode and typed getters ------------------------------------ */

Test(msg, decode_accepts_only_maps)
{
	restart();
	msgpack_pack_map(&pk, 1);
	key("op");
	key("ping");
	cr_assert_eq(decode_packed(), 0);
	cr_assert_eq(root.type, MSGPACK_OBJECT_MAP);
	cr_assert_eq(root.via.map.size, 1);

	for (int i = 0; i < 6; i++) {
		restart();
		switch (i) {
		case 0: msgpack_pack_array(&pk, 1); key("op"); break;
		case 1: key("op"); break;
		case 2: msgpack_pack_int(&pk, 7); break;
		case 3: msgpack_pack_nil(&pk); break;
		case 4: msgpack_pack_true(&pk); break;
		default: mp_bin(&pk, "ab", 2); break;
		}
		int rc = decode_packed();
		cr_assert_eq(rc, VAULT_E_PROTO_FRAME, "non-map %d gave %d", i, rc);
	}
}

Test(msg, decode_passes_on_check_errors)
{
	static const uint8_t huge[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	const struct mp_limits small = { 2, 100 };
	cr_assert_eq(msg_decode(huge, sizeof huge, &roomy, &zone, &root), VAULT_E_PROTO_FRAME);
	/* {"k": {"k": {"k": nil}}}: three containers deep, limit 2. */
	static const uint8_t deep[] = { 0x81, 0xa1, 'k', 0x81, 0xa1, 'k', 0x81, 0xa1, 'k', 0xc0 };
	cr_assert_eq(msg_decode(deep, sizeof deep, &small, &zone, &root), VAULT_E_LIMIT);
	static const uint8_t trailing[] = { 0x80, 0xc0 };
	cr_assert_eq(msg_decode(trailing, sizeof trailing, &roomy, &zone, &root), VAULT_E_PROTO_FRAME);
}

/* {"s":"str","u":42,"b":true,"a":[1,2],"m":{"x":1},"n":nil,"i":-5,"f":1.5,"bin":b"xy",7:"seven"} */
static void
decode_sample(void)
{
	restart();
	msgpack_pack_map(&pk, 10);
	msgpack_pack_int(&pk, 7);       /* a non-string key first: getters skip it */
	key("seven");
	key("s"); key("str");
	key("u"); msgpack_pack_uint64(&pk, 42);
	key("b"); msgpack_pack_true(&pk);
	key("a"); msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, 1); msgpack_pack_int(&pk, 2);
	key("m"); msgpack_pack_map(&pk, 1); key("x"); msgpack_pack_int(&pk, 1);
	key("n"); msgpack_pack_nil(&pk);
	key("i"); msgpack_pack_int(&pk, -5);
	key("f"); msgpack_pack_double(&pk, 1.5);
	key("bin"); mp_bin(&pk, "xy", 2);
	cr_assert_eq(decode_packed(), 0);
}

Test(msg, get_and_str_eq)
{
	decode_sample();
	const msgpack_object *o = msg_get(&root, "s");
	cr_assert_not_null(o);
	cr_assert(msg_str_eq(o, "str"));
	cr_assert_not(msg_str_eq(o, "st"));
	cr_assert_not(msg_str_eq(o, "strs"));
	cr_assert_not(msg_str_eq(msg_get(&root, "u"), "42"));
	cr_assert_null(msg_get(&root, "missing"));
	cr_assert_null(msg_get(&root, "bi"), "a key prefix is not the key");
	cr_assert_null(msg_get(&root, "bins"));
	cr_assert_null(msg_get(&root, ""));
	cr_assert_null(msg_get(msg_get(&root, "a"), "s"), "an array is not a map");
	cr_assert_eq(msg_get(&root, "u")->via.u64, 42);
	const msgpack_object *x = msg_get(msg_get(&root, "m"), "x");
	cr_assert_not_null(x);
	cr_assert_eq(x->via.u64, 1);
}

Test(msg, typed_getters_succeed)
{
	const char *s = NULL;
	size_t len = 0;
	uint64_t u = 0;
	int b = 0;
	const msgpack_object_array *a = NULL;
	const msgpack_object_map *m = NULL;

	decode_sample();
	cr_assert_eq(msg_get_str(&root, "s", 1, &s, &len), 0);
	cr_assert_eq(len, 3);
	cr_assert_eq(memcmp(s, "str", 3), 0);
	cr_assert_eq(msg_get_uint(&root, "u", 1, &u), 0);
	cr_assert_eq(u, 42);
	cr_assert_eq(msg_get_bool(&root, "b", 1, &b), 0);
	cr_assert_eq(b, 1);
	cr_assert_eq(msg_get_array(&root, "a", 1, &a), 0);
	cr_assert_eq(a->size, 2);
	cr_assert_eq(msg_get_map(&root, "m", 1, &m), 0);
	cr_assert_eq(m->size, 1);
}

Test(msg, typed_getters_refuse_wrong_types)
{
	const char *s;
	size_t len;
	uint64_t u;
	int b;
	const msgpack_object_array *a;
	const msgpack_object_map *m;
	static const char *const keys[] = { "s", "u", "b", "a", "m", "n", "i", "f", "bin" };

	decode_sample();
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *k = keys[i];
		int want_str = strcmp(k, "s") == 0, want_uint = strcmp(k, "u") == 0,
		    want_bool = strcmp(k, "b") == 0, want_arr = strcmp(k, "a") == 0,
		    want_map = strcmp(k, "m") == 0;
		cr_assert_eq(msg_get_str(&root, k, 1, &s, &len), want_str ? 0 : VAULT_E_PROTO_TYPE, "str %s", k);
		cr_assert_eq(msg_get_uint(&root, k, 1, &u), want_uint ? 0 : VAULT_E_PROTO_TYPE, "uint %s", k);
		cr_assert_eq(msg_get_bool(&root, k, 1, &b), want_bool ? 0 : VAULT_E_PROTO_TYPE, "bool %s", k);
		cr_assert_eq(msg_get_array(&root, k, 1, &a), want_arr ? 0 : VAULT_E_PROTO_TYPE, "array %s", k);
		cr_assert_eq(msg_get_map(&root, k, 1, &m), want_map ? 0 : VAULT_E_PROTO_TYPE, "map %s", k);
		/* Optional does not excuse a wrong type. */
		cr_assert_eq(msg_get_uint(&root, k, 0, &u), want_uint ? 0 : VAULT_E_PROTO_TYPE, "opt uint %s", k);
	}
}

Test(msg, typed_getters_missing)
{
	const char *s = (const char *)1;
	size_t len = 77;
	uint64_t u = 77;
	int b = 77;
	const msgpack_object_array *a = (const void *)1;
	const msgpack_object_map *m = (const void *)1;

	decode_sample();
	cr_assert_eq(msg_get_str(&root, "nope", 1, &s, &len), VAULT_E_PROTO_MISSING);
	cr_assert_eq(msg_get_uint(&root, "nope", 1, &u), VAULT_E_PROTO_MISSING);
	cr_assert_eq(msg_get_bool(&root, "nope", 1, &b), VAULT_E_PROTO_MISSING);
	cr_assert_eq(msg_get_array(&root, "nope", 1, &a), VAULT_E_PROTO_MISSING);
	cr_assert_eq(msg_get_map(&root, "nope", 1, &m), VAULT_E_PROTO_MISSING);
	/* Optional and absent: 0, outputs untouched. */
	cr_assert_eq(msg_get_str(&root, "nope", 0, &s, &len), 0);
	cr_assert_eq(msg_get_uint(&root, "nope", 0, &u), 0);
	cr_assert_eq(msg_get_bool(&root, "nope", 0, &b), 0);
	cr_assert_eq(msg_get_array(&root, "nope", 0, &a), 0);
	cr_assert_eq(msg_get_map(&root, "nope", 0, &m), 0);
	cr_assert(s == (const char *)1 && len == 77 && u == 77 && b == 77);
	cr_assert(a == (const void *)1 && m == (const void *)1);
}

Test(msg, uint_extremes)
{
	uint64_t u = 0;
	restart();
	msgpack_pack_map(&pk, 2);
	key("max"); msgpack_pack_uint64(&pk, UINT64_MAX);
	key("zero"); msgpack_pack_int64(&pk, 0);
	cr_assert_eq(decode_packed(), 0);
	cr_assert_eq(msg_get_uint(&root, "max", 1, &u), 0);
	cr_assert_eq(u, UINT64_MAX);
	cr_assert_eq(msg_get_uint(&root, "zero", 1, &u), 0, "0 packed as a signed int is still a uint");
	cr_assert_eq(u, 0);
}

Test(msg, check_keys)
{
	static const char *const all[] = { "s", "u", "b", "a", "m", "n", "i", "f", "bin", NULL };
	static const char *const no_u[] = { "s", "b", "a", "m", "n", "i", "f", "bin", NULL };
	const msgpack_object *bad = (const void *)1;

	/* A map with only string keys. */
	restart();
	msgpack_pack_map(&pk, 3);
	key("s"); msgpack_pack_nil(&pk);
	key("u"); msgpack_pack_nil(&pk);
	key("bin"); msgpack_pack_nil(&pk);
	cr_assert_eq(decode_packed(), 0);
	cr_assert_eq(msg_check_keys(&root, all, &bad), 0);
	cr_assert_eq(msg_check_keys(&root, no_u, &bad), VAULT_E_PROTO_UNKNOWN_ARG);
	cr_assert_not_null(bad);
	cr_assert(msg_str_eq(bad, "u"), "bad names the unknown key");
	/* An empty allow list refuses the first key. */
	static const char *const none[] = { NULL };
	cr_assert_eq(msg_check_keys(&root, none, &bad), VAULT_E_PROTO_UNKNOWN_ARG);
	cr_assert(msg_str_eq(bad, "s"));
}

Test(msg, check_keys_refuses_duplicates)
{
	static const char *const allowed[] = { "a", "b", NULL };
	const msgpack_object *bad = NULL;
	restart();
	msgpack_pack_map(&pk, 3);
	key("a"); msgpack_pack_int(&pk, 1);
	key("b"); msgpack_pack_int(&pk, 2);
	key("a"); msgpack_pack_int(&pk, 3);
	cr_assert_eq(decode_packed(), 0);
	int rc = msg_check_keys(&root, allowed, &bad);
	cr_assert_neq(rc, 0, "a key given twice must be refused");
	cr_assert_eq(bad, &root.via.map.ptr[2].key, "bad points at the repeated key");
}

Test(msg, check_keys_non_string_key)
{
	static const char *const allowed[] = { "a", NULL };
	const msgpack_object *bad = (const void *)1;
	restart();
	msgpack_pack_map(&pk, 2);
	key("a"); msgpack_pack_int(&pk, 1);
	msgpack_pack_int(&pk, 1); msgpack_pack_int(&pk, 2);
	cr_assert_eq(decode_packed(), 0);
	cr_assert_eq(msg_check_keys(&root, allowed, &bad), VAULT_E_PROTO_TYPE);
	cr_assert_null(bad);

	/* A bin key spelling an allowed name is not a string key either. */
	restart();
	msgpack_pack_map(&pk, 1);
	mp_bin(&pk, "a", 1); msgpack_pack_int(&pk, 1);
	cr_assert_eq(decode_packed(), 0);
	cr_assert_eq(msg_check_keys(&root, allowed, &bad), VAULT_E_PROTO_TYPE);
	cr_assert_null(msg_get(&root, "a"), "a bin key is not found by name");
}

/* ---- buf ---------------------------------------------------------------- */

Test(buf, reserve_respects_limit)
{
	struct buf b = { .limit = 100 };
	uint8_t chunk[100];
	memset(chunk, 'q', sizeof chunk);

	cr_assert_eq(buf_reserve(&b, 100), 0);
	cr_assert_geq(b.cap, 100);
	cr_assert_leq(b.cap, 100, "capacity grew past the limit");
	cr_assert_eq(buf_append(&b, chunk, 60), 0);
	cr_assert_eq(buf_reserve(&b, 41), VAULT_E_TOO_LARGE);
	cr_assert_eq(buf_append(&b, chunk, 41), VAULT_E_TOO_LARGE);
	cr_assert_eq(b.len, 60, "a refused append changed len");
	cr_assert_eq(buf_append(&b, chunk, 40), 0);
	cr_assert_eq(b.len, 100);
	cr_assert_eq(buf_reserve(&b, 1), VAULT_E_TOO_LARGE);
	cr_assert_eq(buf_reserve(&b, 0), 0);
	for (size_t i = 0; i < b.len; i++)
		cr_assert_eq(b.data[i], 'q');
	buf_free(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
}

Test(buf, reserve_huge_refused_without_limit)
{
	struct buf b = { 0 };
	cr_assert_eq(buf_append(&b, "abc", 3), 0);
	cr_assert_eq(buf_reserve(&b, SIZE_MAX), VAULT_E_TOO_LARGE);
	cr_assert_eq(buf_reserve(&b, SIZE_MAX - 2), VAULT_E_TOO_LARGE);
	cr_assert_eq(buf_reserve(&b, SIZE_MAX / 2), VAULT_E_TOO_LARGE);
	cr_assert_eq(b.len, 3);
	cr_assert_eq(memcmp(b.data, "abc", 3), 0);
	buf_free(&b);
}

Test(buf, growth_keeps_contents)
{
	struct buf b = { 0 };
	for (int i = 0; i < 3000; i++) {
		uint8_t c[7];
		for (int j = 0; j < 7; j++)
			c[j] = (uint8_t)(i * 7 + j);
		cr_assert_eq(buf_append(&b, c, sizeof c), 0);
	}
	cr_assert_eq(b.len, 21000);
	for (size_t i = 0; i < b.len; i++)
		cr_assert_eq(b.data[i], (uint8_t)i, "byte %zu", i);
	buf_free(&b);
}

Test(buf, consume_keeps_the_rest_and_wipes)
{
	struct buf b = { 0 };
	buf_append(&b, "hello world", 11);
	buf_consume(&b, 0);
	cr_assert_eq(b.len, 11);
	buf_consume(&b, 6);
	cr_assert_eq(b.len, 5);
	cr_assert_eq(memcmp(b.data, "world", 5), 0);
	for (size_t i = 5; i < 11; i++)
		cr_assert_eq(b.data[i], 0, "byte %zu left behind after consume", i);
	buf_append(&b, "!", 1);
	cr_assert_eq(memcmp(b.data, "world!", 6), 0);
	buf_consume(&b, 6);
	cr_assert_eq(b.len, 0);
	buf_append(&b, "xyz", 3);
	buf_consume(&b, 100);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(memcmp(b.data, "\0\0\0", 3), 0, "over-consume wipes");
	buf_free(&b);
}

Test(buf, clear_wipes_and_keeps_allocation)
{
	struct buf b = { 0 };
	buf_append(&b, "secret", 6);
	uint8_t *data = b.data;
	size_t cap = b.cap;
	b.error = VAULT_E_NOMEM;
	buf_clear(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(b.error, 0);
	cr_assert_eq(b.data, data);
	cr_assert_eq(b.cap, cap);
	cr_assert_eq(memcmp(b.data, "\0\0\0\0\0\0", 6), 0);
	buf_free(&b);
}

Test(buf, msgpack_write_error_is_sticky)
{
	struct buf b = { .limit = 16 };
	msgpack_packer p;
	msgpack_packer_init(&p, &b, buf_msgpack_write);
	msgpack_pack_nil(&p);
	cr_assert_eq(b.error, 0);
	mp_str(&p, "0123456789abcdefghijklmnop", 26);
	cr_assert_eq(b.error, VAULT_E_TOO_LARGE);
	msgpack_pack_nil(&p); /* fits, but the message is already broken */
	cr_assert_eq(b.error, VAULT_E_TOO_LARGE);
	buf_free(&b);
}

/* ---- frame_begin / frame_end -------------------------------------------- */

static void
pack_ping(msgpack_packer *p, uint64_t id)
{
	msgpack_pack_map(p, 2);
	mp_cstr(p, "id");
	msgpack_pack_uint64(p, id);
	mp_cstr(p, "op");
	mp_cstr(p, "ping");
}

Test(frame, begin_end_write_the_header)
{
	size_t n = 0;
	size_t s1 = frame_begin(&pb);
	cr_assert_eq(s1, 0);
	pack_ping(&pk, 1);
	cr_assert_eq(frame_end(&pb, s1, 1024), 0);
	size_t first = pb.len;
	cr_assert_eq(frame_peek(pb.data, pb.len, 1024, &n), FRAME_READY);
	cr_assert_eq(n, first - FRAME_HEADER_SIZE);

	size_t s2 = frame_begin(&pb);
	cr_assert_eq(s2, first);
	pack_ping(&pk, 2);
	mp_cstr(&pk, "");  /* a body need not be a valid message for framing */
	cr_assert_eq(frame_end(&pb, s2, 1024), 0);
	cr_assert_eq(frame_peek(pb.data + s2, pb.len - s2, 1024, &n), FRAME_READY);
	cr_assert_eq(n, pb.len - s2 - FRAME_HEADER_SIZE);

	/* The first frame's body decodes to what was packed. */
	free(body);
	body = dup_exact(pb.data + FRAME_HEADER_SIZE, first - FRAME_HEADER_SIZE);
	cr_assert_eq(msg_decode(body, first - FRAME_HEADER_SIZE, &roomy, &zone, &root), 0);
	uint64_t id = 0;
	cr_assert_eq(msg_get_uint(&root, "id", 1, &id), 0);
	cr_assert_eq(id, 1);
}

Test(frame, end_over_max_drops_the_partial_frame)
{
	size_t s1 = frame_begin(&pb);
	pack_ping(&pk, 1);
	cr_assert_eq(frame_end(&pb, s1, 64), 0);
	size_t first = pb.len;
	uint8_t copy[64];
	memcpy(copy, pb.data, first);

	size_t s2 = frame_begin(&pb);
	uint8_t big[100];
	memset(big, 0x5a, sizeof big);
	mp_bin(&pk, big, sizeof big);
	size_t old_len = pb.len;
	cr_assert_eq(frame_end(&pb, s2, 64), VAULT_E_TOO_LARGE);
	cr_assert_eq(pb.len, first, "partial frame kept");
	cr_assert_eq(memcmp(pb.data, copy, first), 0, "earlier frame damaged");
	for (size_t i = first; i < old_len; i++)
		cr_assert_eq(pb.data[i], 0, "dropped byte %zu not wiped", i);
	cr_assert_eq(pb.error, 0);

	/* A body of exactly max_body is fine. */
	size_t s3 = frame_begin(&pb);
	mp_bin(&pk, big, 62);   /* c4 3e + 62 bytes = 64 */
	cr_assert_eq(frame_end(&pb, s3, 64), 0);
	cr_assert_eq(pb.len, first + FRAME_HEADER_SIZE + 64);
}

Test(frame, end_reports_a_packing_failure)
{
	struct buf b = { .limit = 40 };
	msgpack_packer p;
	msgpack_packer_init(&p, &b, buf_msgpack_write);
	size_t s = frame_begin(&b);
	uint8_t big[64] = { 0 };
	mp_bin(&p, big, sizeof big);  /* does not fit under the limit */
	cr_assert_neq(b.error, 0);
	cr_assert_eq(frame_end(&b, s, 1024), VAULT_E_TOO_LARGE);
	cr_assert_eq(b.len, s);
	cr_assert_eq(b.error, 0, "error cleared with the dropped frame");
	/* The buffer is usable again. */
	s = frame_begin(&b);
	pack_ping(&p, 9);
	cr_assert_eq(frame_end(&b, s, 1024), 0);
	buf_free(&b);
}
