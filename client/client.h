/*
 * client.h - the client library's private structures (never installed).
 */
#ifndef VAULT_CLIENT_CLIENT_H
#define VAULT_CLIENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "common/buf.h"

struct client_field {
	char *name;
	char *value;
};

struct client_doc {
	uint32_t slot;
	char *name;
	char *type;
	void *data;
	size_t len;
};

struct vault_record {
	struct client_field *fields;
	size_t nfields, capfields;
	struct client_doc *docs;
	size_t ndocs, capdocs;
	uint32_t *slots;       /* document slots the stored record holds */
	size_t nslots;
};

struct vault {
	int fd;
	uint64_t next_id;
	unsigned timeout_ms;
	struct buf out;        /* request being sent */
	struct buf in;         /* reply being received */
	msgpack_zone zone;     /* the decoded reply */
	char message[256];     /* server message of the last failure */
};

int record_set_n(struct vault_record *r, const char *field, size_t flen,
    const char *value, size_t vlen);
int record_add_doc_n(struct vault_record *r, uint32_t slot, const char *name,
    size_t nlen, const char *type, size_t tlen, const void *data, size_t len);

#endif
