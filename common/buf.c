/*
 * buf.c - growable byte buffer that wipes what it lets go of (see buf.h).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "buf.h"

int
buf_reserve(struct buf *b, size_t n)
{
	if (n <= b->cap - b->len)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		return VAULT_E_TOO_LARGE;
	size_t need = b->len + n;
	if (b->limit != 0 && need > b->limit)
		return VAULT_E_TOO_LARGE;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (b->limit != 0 && cap > b->limit)
		cap = b->limit;
	/* Not realloc: the old block may hold personal data and must be wiped. */
	uint8_t *p = malloc(cap);
	if (p == NULL)
		return VAULT_E_NOMEM;
	if (b->data != NULL) {
		memcpy(p, b->data, b->len);
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);
	if (rc != 0)
		return rc;
	if (n != 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_clear(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	sodium_memzero(b->data + b->len - n, n);
	b->len -= n;
}

void
buf_clear(struct buf *b)
{
	if (b->data != NULL)
		sodium_memzero(b->data, b->len);
	b->len = 0;
	b->error = 0;
}

void
buf_free(struct buf *b)
{
	if (b->data != NULL) {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

int
buf_msgpack_write(void *data, const char *p, size_t n)
{
	struct buf *b = data;
	int rc = buf_append(b, p, n);
	if (rc != 0 && b->error == 0)
		b->error = rc;
	return rc == 0 ? 0 : -1;
}
