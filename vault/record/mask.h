/*
 * mask.h - masked forms of field values: enough for a person or service to
 * recognise a value ("the card ending 4242"), not enough to use it.
 */
#ifndef VAULT_RECORD_MASK_H
#define VAULT_RECORD_MASK_H

#include <stddef.h>

#include "fields.h"

/*
 * Mask the normalized value in[0..len) of field id into out (capacity cap,
 * at least FIELD_VALUE_MAX). Per field:
 *   first_name, last_name  first character, then "***"       J***
 *   email                  first character of the local part  j***@example.com
 *   phone                  '+', stars, the last two digits    +*********75
 *   postal_address         the last line only (city, state, postcode)
 *   ip_address             IPv4 first two octets; IPv6 first two groups
 *   cookie_id              first four characters, then "***"
 *   card_number            stars in groups of four, the last four digits
 *   card_expiry            two stars, a slash and the year
 *   bank_account           country or routing hidden, last four characters
 * Returns the masked length.
 */
size_t mask_field(enum field_id id, const char *in, size_t len, char *out, size_t cap);

#endif
