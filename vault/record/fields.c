/*
 * fields.c - the table of record fields (see fields.h).
 */
#include <string.h>

#include "fields.h"

/* Indexed by id; max_input leaves room for formatting (spaces, dashes). */
static const struct field_info fields[FIELD_MAX + 1] = {
	[FIELD_FIRST_NAME] = { FIELD_FIRST_NAME, "first_name", CATEGORY_CONTACT, 256, 128 },
	[FIELD_LAST_NAME] = { FIELD_LAST_NAME, "last_name", CATEGORY_CONTACT, 256, 128 },
	[FIELD_POSTAL_ADDRESS] = { FIELD_POSTAL_ADDRESS, "postal_address", CATEGORY_CONTACT, 1024, 512 },
	[FIELD_EMAIL] = { FIELD_EMAIL, "email", CATEGORY_CONTACT, 320, 254 },
	[FIELD_PHONE] = { FIELD_PHONE, "phone", CATEGORY_CONTACT, 64, 16 },
	[FIELD_IP_ADDRESS] = { FIELD_IP_ADDRESS, "ip_address", CATEGORY_IDENTIFIER, 64, 45 },
	[FIELD_COOKIE_ID] = { FIELD_COOKIE_ID, "cookie_id", CATEGORY_IDENTIFIER, 256, 256 },
	[FIELD_CARD_NUMBER] = { FIELD_CARD_NUMBER, "card_number", CATEGORY_PAYMENT, 64, 19 },
	[FIELD_CARD_EXPIRY] = { FIELD_CARD_EXPIRY, "card_expiry", CATEGORY_PAYMENT, 16, 5 },
	[FIELD_BANK_ACCOUNT] = { FIELD_BANK_ACCOUNT, "bank_account", CATEGORY_PAYMENT, 80, 64 },
};

const struct field_info *
field_by_id(unsigned id)
{
	if (id == 0 || id > FIELD_MAX)
		return NULL;
	return &fields[id];
}

const struct field_info *
field_by_name(const char *name, size_t len)
{
	for (unsigned i = 1; i <= FIELD_MAX; i++) {
		if (strlen(fields[i].name) == len && memcmp(fields[i].name, name, len) == 0)
			return &fields[i];
	}
	return NULL;
}
