/*
 * test_mask.c - every field's masked form (vault/record/mask.h): enough to
 * recognise a value, never the value.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "vault/record/mask.h"

static void
expect(enum field_id id, const char *in, const char *want)
{
	char out[FIELD_VALUE_MAX];
	size_t n = mask_field(id, in, strlen(in), out, sizeof(out));
	out[n] = '\0';
	cr_assert_str_eq(out, want, "field %d", (int)id);
	if (strlen(in) > 4)
		cr_assert_str_neq(out, in, "a mask is never the value");
}

Test(mask, names_keep_the_first_character)
{
	expect(FIELD_FIRST_NAME, "Jane", "J***");
	expect(FIELD_LAST_NAME, "Ørsted", "Ø***");
}

Test(mask, email_keeps_first_character_and_domain)
{
	expect(FIELD_EMAIL, "jane.doe@example.com", "j***@example.com");
}

Test(mask, phone_keeps_the_last_two_digits)
{
	expect(FIELD_PHONE, "+18583755875", "+*********75");
}

Test(mask, address_keeps_city_and_postcode_line)
{
	expect(FIELD_POSTAL_ADDRESS, "1 Main Street\nApt 4\nSan Diego, CA 92101",
	    "San Diego, CA 92101");
	expect(FIELD_POSTAL_ADDRESS, "1 Main Street, San Diego, CA 92101", "San Diego, CA 92101");
	expect(FIELD_POSTAL_ADDRESS, "Somewhere 12", "***");
}

Test(mask, ip_addresses_keep_the_network_part)
{
	expect(FIELD_IP_ADDRESS, "192.168.10.42", "192.168.*.*");
	expect(FIELD_IP_ADDRESS, "2001:db8::1", "2001:db8:*");
}

Test(mask, cookie_keeps_four_characters)
{
	expect(FIELD_COOKIE_ID, "abcdef0123456789", "abcd***");
	expect(FIELD_COOKIE_ID, "abc", "a***");
}

Test(mask, card_keeps_the_last_four_in_groups)
{
	expect(FIELD_CARD_NUMBER, "4242424242424242", "**** **** **** 4242");
	expect(FIELD_CARD_NUMBER, "378282246310005", "**** **** **** 0005");
}

Test(mask, expiry_keeps_the_year)
{
	expect(FIELD_CARD_EXPIRY, "12/29", "**/29");
}

Test(mask, bank_accounts_keep_the_last_four)
{
	expect(FIELD_BANK_ACCOUNT, "GB82WEST12345698765432", "GB** **** 5432");
	expect(FIELD_BANK_ACCOUNT, "021000021:123456789", "*********:****6789");
}

Test(mask, output_never_exceeds_its_buffer)
{
	char big[600], out[8];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	size_t n = mask_field(FIELD_POSTAL_ADDRESS, big, strlen(big), out, sizeof(out));
	cr_assert_leq(n, sizeof(out));
}
