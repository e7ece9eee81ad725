/*
 * buf.h - a growable byte buffer for frames and replies.
 *
 * Buffers carry personal data (replies, requests), so growing never leaves a
 * copy behind: the old block is wiped before it is freed, and buf_free()
 * wipes too.
 */
#ifndef VAULT_COMMON_BUF_H
#define VAULT_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;   /* bytes in use */
	size_t cap;   /* bytes allocated */
	size_t limit; /* never grow beyond this (0: no limit) */
	int error;    /* sticky: first failed append through buf_msgpack_write */
};

/* Make room for n more bytes. Returns 0, VAULT_E_NOMEM or VAULT_E_TOO_LARGE. */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
/* Drop the first n bytes (wiping them), keeping the rest. */
void buf_consume(struct buf *b, size_t n);
/* Wipe the contents and set len to 0; keeps the allocation. */
void buf_clear(struct buf *b);
/* Wipe and release. */
void buf_free(struct buf *b);
/* msgpack_packer write callback; data is a struct buf *. A failure is kept
 * in b->error, so a whole message can be packed and checked once. */
int buf_msgpack_write(void *data, const char *p, size_t n);

#endif
