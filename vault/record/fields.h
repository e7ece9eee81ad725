/*
 * fields.h - the record's fields: their stable ids, wire names, kinds and
 * size limits. The ids are part of the storage format and of the associated
 * data that binds each ciphertext to its field: never renumber.
 */
#ifndef VAULT_RECORD_FIELDS_H
#define VAULT_RECORD_FIELDS_H

#include <stddef.h>
#include <stdint.h>

enum field_id {
	FIELD_NONE = 0,
	/* contact */
	FIELD_FIRST_NAME = 1,
	FIELD_LAST_NAME = 2,
	FIELD_POSTAL_ADDRESS = 3,
	FIELD_EMAIL = 4,
	FIELD_PHONE = 5,
	/* identifiers */
	FIELD_IP_ADDRESS = 6,
	FIELD_COOKIE_ID = 7,
	/* payment */
	FIELD_CARD_NUMBER = 8,
	FIELD_CARD_EXPIRY = 9,
	FIELD_BANK_ACCOUNT = 10,
};

#define FIELD_MAX 10           /* highest scalar field id */
#define FIELD_DOCUMENT 64      /* documents: id used in associated data */
#define FIELD_CARD_TOKEN 65    /* the card token kept sealed in its record */

enum field_category {
	CATEGORY_CONTACT = 1,
	CATEGORY_IDENTIFIER = 2,
	CATEGORY_PAYMENT = 3,
	CATEGORY_DOCUMENT = 4,
};

struct field_info {
	enum field_id id;
	const char *name;          /* wire name */
	enum field_category category;
	size_t max_input;          /* longest accepted input, bytes */
	size_t max_value;          /* longest normalized value, bytes */
};

/* NULL if id is not a scalar field. */
const struct field_info *field_by_id(unsigned id);
/* NULL if no field has that name. name need not be NUL-terminated. */
const struct field_info *field_by_name(const char *name, size_t len);

/* Largest max_value of any field; buffers for normalized values use it. */
#define FIELD_VALUE_MAX 1024

#endif
