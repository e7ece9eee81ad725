/*
 * input.h - the arguments of create, update and tokenize, validated and
 * normalized on the worker before anything is queued for the writer.
 */
#ifndef VAULT_RECORD_INPUT_H
#define VAULT_RECORD_INPUT_H

#include <stdint.h>

#include <msgpack.h>

#include "common/buf.h"
#include "fields.h"
#include "vault/store/record_codec.h"

struct read_ctx;
struct op_error;

struct input_value {
	uint8_t id;
	uint32_t off, len;   /* normalized value in record_input.data */
};

struct input_doc {
	uint32_t off, len;   /* document plaintext (access.h layout) in data */
};

struct token_request {
	uint8_t field;
	uint8_t kind;        /* enum vault_token_kind */
};

#define INPUT_MAX_TOKENS (FIELD_MAX * 3)

#define INPUT_TAG_BYTES 16 /* BLIND_TAG_BYTES (privacy/blind.h) */

struct record_input {
	uint8_t nvalues;
	struct input_value values[FIELD_MAX];    /* ascending ids */
	uint8_t nclear;
	uint8_t clear[FIELD_MAX];
	uint16_t ndocs;
	struct input_doc docs[RECORD_MAX_DOCS];
	uint16_t nremove;
	uint16_t remove[RECORD_MAX_DOCS];
	uint8_t ntokens;
	struct token_request tokens[INPUT_MAX_TOKENS];
	/* the asking client's join domain, for deterministic tokens (policy.h);
	 * points into the policy, which lives as long as the server */
	const char *token_domain;
	/* create: the asking client's name, recorded as a recipient of what it
	 * sent (privacy/recipients.h); same lifetime as token_domain */
	const char *client;
	uint8_t consent_set;   /* CONSENT_* bits given */
	uint8_t consent_value; /* of those, the ones opted out */
	uint8_t child_set;     /* "child" given */
	uint8_t child_value;   /* the record is a child's (under 13) */
	/* create: blind index tags of values[i], hashed on the worker */
	uint32_t blind_version;  /* KEK epoch they were made under */
	uint16_t blind_have;     /* bit i: blind_tag[i] holds a tag */
	uint8_t blind_tag[FIELD_MAX][INPUT_TAG_BYTES];
	struct buf data;     /* personal data: wiped by input_free() */
};

struct record_input *input_new(void);
void input_free(struct record_input *in);

/*
 * {"field name": "value", ...}: every value normalized (normalize.h). arg
 * is the argument's name, used in errors that are not about one field.
 */
int input_parse_fields(struct read_ctx *ctx, const char *arg,
    const msgpack_object_map *m, struct record_input *in, struct op_error *err);
/* ["field name", ...] to clear. */
int input_parse_clear(const msgpack_object_array *a, struct record_input *in,
    struct op_error *err);
/* [{"name": str, "type": str, "data": bin}, ...] in argument arg. */
int input_parse_documents(struct read_ctx *ctx, const char *arg,
    const msgpack_object_array *a, struct record_input *in, struct op_error *err);
/* [slot, ...] to remove; a slot listed twice counts once. */
int input_parse_remove(const msgpack_object_array *a, struct record_input *in,
    struct op_error *err);
/* [{"field": str, "kind": "opaque"|"card"|"deterministic"}, ...] */
int input_parse_tokens(struct read_ctx *ctx, const msgpack_object_array *a,
    struct record_input *in, struct op_error *err);

/* {"email": bool, "phone": bool, "mail": bool}: true opts out of marketing. */
int input_parse_consent(const msgpack_object_map *m, struct record_input *in,
    struct op_error *err);

/* The consent bit of the channel a field is contacted through (0: none). */
uint8_t consent_channel_of(unsigned field);

/* Parse a field-name string object; NULL if it is not one. */
const struct field_info *input_field_name(const msgpack_object *o);

/*
 * The error for o, a key or item of argument arg that is not a field name:
 * VAULT_E_PROTO_TYPE if it is not a string, else VAULT_E_UNKNOWN_FIELD with
 * a message naming it, but only if it looks like a field name (1-32 of
 * a-z, 0-9 and _): other text a client sent there may be personal data.
 */
int input_unknown_field(struct op_error *err, const char *arg, const msgpack_object *o);

#endif
