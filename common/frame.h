/*
 * frame.h - the wire framing: a 4-byte big-endian body length, then a body
 * of that many bytes holding one msgpack map (PROTOCOL.md, "Frames").
 */
#ifndef VAULT_COMMON_FRAME_H
#define VAULT_COMMON_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_SIZE 4

enum frame_status {
	FRAME_NEED_MORE,  /* not a whole frame yet */
	FRAME_READY,      /* a whole frame: body at buf + FRAME_HEADER_SIZE */
	FRAME_TOO_LARGE,  /* declared length above the limit: stop reading */
	FRAME_EMPTY,      /* zero-length body: malformed */
};

/*
 * Look at the start of buf[0..len). The declared length is checked against
 * max_body as soon as the header is in, before any body byte is awaited or
 * allocated. *body_len is set whenever the header is complete.
 */
enum frame_status frame_peek(const uint8_t *buf, size_t len, size_t max_body,
    size_t *body_len);

/* Write the header for a body of body_len bytes into hdr. */
void frame_put_header(uint8_t hdr[FRAME_HEADER_SIZE], uint32_t body_len);

#endif
