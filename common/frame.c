/*
 * frame.c - length-prefixed frames (see frame.h).
 */
#include "frame.h"

enum frame_status
frame_peek(const uint8_t *buf, size_t len, size_t max_body, size_t *body_len)
{
	if (len < FRAME_HEADER_SIZE)
		return FRAME_NEED_MORE;
	size_t n = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 |
	    (size_t)buf[2] << 8 | (size_t)buf[3];
	*body_len = n;
	if (n == 0)
		return FRAME_EMPTY;
	if (n > max_body)
		return FRAME_TOO_LARGE;
	if (len - FRAME_HEADER_SIZE < n)
		return FRAME_NEED_MORE;
	return FRAME_READY;
}

void
frame_put_header(uint8_t hdr[FRAME_HEADER_SIZE], uint32_t body_len)
{
	hdr[0] = (uint8_t)(body_len >> 24);
	hdr[1] = (uint8_t)(body_len >> 16);
	hdr[2] = (uint8_t)(body_len >> 8);
	hdr[3] = (uint8_t)body_len;
}
