/*
 * client.h - the client library's private structures (never installed).
 */
#ifndef VAULT_CLIENT_CLIENT_H
#define VAULT_CLIENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include <vault/vault.h>

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
	int opt_out_known;     /* the read result carried marketing_opt_out */
	int opt_out[3];        /* email, phone, mail */
};

struct vault {
	int fd;
	uint64_t next_id;
	unsigned timeout_ms;
	struct buf out;        /* request being sent */
	struct buf in;         /* reply being received */
	msgpack_zone zone;     /* the decoded reply */
	char message[256];     /* server message of the last failure */
	uint64_t last_count;   /* a count the last error carried ("remaining") */
	int refused;           /* the server refused the connection (id-0 error) */
	char refusal[256];     /* and said why: every later call returns it */
	char last_field[64];   /* the field the last error named ("field"), or "" */
};

/* Start a request for op: the common keys, then nargs arguments to pack. */
msgpack_packer call_begin(struct vault *v, const char *op,
    enum vault_purpose purpose, size_t nargs, size_t *start, uint64_t *id);
/* Send it and wait for the reply; *result valid until the next call. */
int call_roundtrip(struct vault *v, size_t start, uint64_t id,
    const msgpack_object **result);
/* A string object as a new NUL-terminated string, or NULL. */
char *obj_strdup(const msgpack_object *o);
/* map[key] as an unsigned integer, or 0. */
uint64_t obj_u64(const msgpack_object *map, const char *key);

int record_set_n(struct vault_record *r, const char *field, size_t flen,
    const char *value, size_t vlen);
int record_add_doc_n(struct vault_record *r, uint32_t slot, const char *name,
    size_t nlen, const char *type, size_t tlen, const void *data, size_t len);

#endif
