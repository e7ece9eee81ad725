/*
 * msg.h - messages: decoding untrusted request and reply bodies, reading
 * typed arguments out of them, and packing frames.
 *
 * A message is one msgpack map. Requests carry "v" (protocol version),
 * "id" (chosen by the client, echoed in the reply), "op" and, for data
 * operations, "purpose"; replies carry "id" and "ok", then either the
 * operation's results or "error" (PROTOCOL.md).
 */
#ifndef VAULT_COMMON_MSG_H
#define VAULT_COMMON_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "buf.h"
#include "mpcheck.h"

/*
 * Check body with mp_check() under lim, then unpack it into zone. The
 * resulting object must be a map. Returns 0, VAULT_E_PROTO_FRAME,
 * VAULT_E_LIMIT or VAULT_E_NOMEM. Objects point into body and zone.
 */
int msg_decode(const uint8_t *body, size_t len, const struct mp_limits *lim,
    msgpack_zone *zone, msgpack_object *root);

/* The value under key in map, or NULL. map must be a map object. */
const msgpack_object *msg_get(const msgpack_object *map, const char *key);
/*
 * 0 if no string in o (map keys included, at any depth) holds a NUL byte,
 * else VAULT_E_PROTO_TYPE. Text on the wire never needs one (binary data
 * travels as bin), and refusing it in every request means that no C string
 * made from a wire string is shorter than the wire string: "legal\0x" can
 * never pass for "legal", whichever way a handler compares it.
 */
int msg_check_text(const msgpack_object *o);

/* 1 if o is a string equal to the NUL-terminated s. */
int msg_str_eq(const msgpack_object *o, const char *s);
/*
 * Every key of map is a string listed in allowed (NULL-terminated).
 * Returns 0 or VAULT_E_PROTO_UNKNOWN_ARG with *bad set to the first key
 * that is not, VAULT_E_PROTO_FRAME with *bad at a key given twice, or
 * VAULT_E_PROTO_TYPE (and *bad NULL) if a key is not a string.
 */
int msg_check_keys(const msgpack_object *map, const char *const *allowed,
    const msgpack_object **bad);

/*
 * Typed getters: 0 on success, VAULT_E_PROTO_MISSING if absent and
 * required, VAULT_E_PROTO_TYPE on a type mismatch. When an optional
 * argument is absent they return 0 and leave outputs untouched.
 */
int msg_get_str(const msgpack_object *map, const char *key, int required,
    const char **s, size_t *len);
int msg_get_uint(const msgpack_object *map, const char *key, int required,
    uint64_t *v);
int msg_get_bool(const msgpack_object *map, const char *key, int required,
    int *v);
int msg_get_array(const msgpack_object *map, const char *key, int required,
    const msgpack_object_array **a);
int msg_get_map(const msgpack_object *map, const char *key, int required,
    const msgpack_object_map **m);

/* Packing helpers over a packer writing to a struct buf. */
void mp_cstr(msgpack_packer *pk, const char *s);
void mp_str(msgpack_packer *pk, const void *s, size_t len);
void mp_bin(msgpack_packer *pk, const void *p, size_t len);

/*
 * Frames in a buffer: frame_begin() reserves the header at b->len and
 * returns its offset; frame_end() writes the header for what was packed
 * since. frame_end returns 0, b->error, or VAULT_E_TOO_LARGE if the body
 * exceeds max_body (then the partial frame is dropped).
 */
size_t frame_begin(struct buf *b);
int frame_end(struct buf *b, size_t start, size_t max_body);

#endif
