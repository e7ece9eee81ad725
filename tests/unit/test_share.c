/*
 * test_share.c - Shamir shares (keys/share.h): split and combine, the
 * packed secret's check, and the text form's parser: version, index,
 * threshold, check digits, lengths, characters.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <vault/vault.h>

#include "keys/share.h"

static struct share sh[5];
static uint8_t secret[32], packed[SHARE_PAYLOAD_MAX];
static size_t plen;

static void
setup(void)
{
	cr_assert(sodium_init() >= 0);
	randombytes_buf(secret, sizeof(secret));
	plen = share_pack(secret, sizeof(secret), packed);
	cr_assert_eq(plen, 64);
	cr_assert_eq(share_split(packed, plen, 5, 3, sh), 0);
}

TestSuite(share, .init = setup);

/* Combine the shares at idx[0..n) and unpack: 0 if it gives the secret back. */
static int
combine(const int *idx, size_t n)
{
	struct share pick[5];
	uint8_t out[SHARE_PAYLOAD_MAX], data[SHARE_DATA_MAX];
	size_t olen, dlen;
	for (size_t i = 0; i < n; i++)
		pick[i] = sh[idx[i]];
	if (share_combine(pick, n, out, &olen) != 0)
		return -1;
	if (share_unpack(out, olen, data, &dlen) != 0)
		return -2;
	return dlen == sizeof(secret) && memcmp(data, secret, dlen) == 0 ? 0 : -3;
}

Test(share, any_three_of_five_recover_the_secret)
{
	int sets[][3] = { { 0, 1, 2 }, { 4, 2, 0 }, { 1, 3, 4 }, { 3, 0, 2 } };
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(combine(sets[i], 3), 0, "set %zu", i);
	int all[] = { 0, 1, 2, 3, 4 };
	cr_assert_eq(combine(all, 5), 0);
}

Test(share, two_shares_or_a_foreign_one_fail_the_check)
{
	int two[] = { 0, 1 };
	cr_assert_eq(combine(two, 2), -1, "fewer than the threshold is refused");
	struct share other[5];
	uint8_t p2[SHARE_PAYLOAD_MAX], s2[32] = { 1 };
	cr_assert_eq(share_split(p2, share_pack(s2, 32, p2), 5, 3, other), 0);
	sh[1] = other[1];
	int mixed[] = { 0, 1, 2 };
	cr_assert_eq(combine(mixed, 3), -2, "a share of another split must fail the check");
}

Test(share, duplicate_indexes_are_refused)
{
	struct share pick[3] = { sh[0], sh[0], sh[1] };
	uint8_t out[SHARE_PAYLOAD_MAX];
	size_t olen;
	cr_assert_eq(share_combine(pick, 3, out, &olen), VAULT_E_INVALID_VALUE);
}

Test(share, a_pin_round_trips_and_its_length_is_padded)
{
	uint8_t p[SHARE_PAYLOAD_MAX], data[SHARE_DATA_MAX];
	size_t dlen;
	size_t n = share_pack((const uint8_t *)"1234", 4, p);
	cr_assert_eq(n, 32, "2 + 4 rounds up to 16, plus the 16-byte check");
	cr_assert_eq(share_unpack(p, n, data, &dlen), 0);
	cr_assert_eq(dlen, 4);
	cr_assert_eq(memcmp(data, "1234", 4), 0);
	p[3] ^= 1;
	cr_assert_eq(share_unpack(p, n, data, &dlen), -1);
	cr_assert_eq(dlen, 0);
}

Test(share, text_form_round_trips)
{
	char text[SHARE_TEXT_MAX];
	struct share back;
	const char *why = NULL;
	share_format(&sh[2], text);
	cr_assert_eq(strncmp(text, "vs1-3-3-", 8), 0, "%s", text);
	cr_assert_eq(strlen(text), 8 + 128 + 9);
	cr_assert_eq(share_parse(text, strlen(text), &back, &why), 0, "%s", why);
	cr_assert_eq(back.index, 3);
	cr_assert_eq(back.threshold, 3);
	cr_assert_eq(back.len, 64);
	cr_assert_eq(memcmp(back.payload, sh[2].payload, 64), 0);
	/* Surrounding white space and uppercase hex are accepted. */
	char padded[SHARE_TEXT_MAX + 8];
	snprintf(padded, sizeof(padded), "  %s\r\n", text);
	for (char *c = padded + 10; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	cr_assert_eq(share_parse(padded, strlen(padded), &back, &why), 0, "%s", why);
	cr_assert_eq(memcmp(back.payload, sh[2].payload, 64), 0);
}

static const char *
parse_error(const char *text)
{
	struct share s;
	const char *why = NULL;
	cr_assert_eq(share_parse(text, strlen(text), &s, &why), VAULT_E_INVALID_VALUE,
	    "accepted: %s", text);
	cr_assert_eq(s.len, 0, "a refused share must be wiped");
	return why;
}

Test(share, every_typo_is_caught)
{
	char text[SHARE_TEXT_MAX], bad[SHARE_TEXT_MAX];
	share_format(&sh[0], text);
	/* Any one character changed in the payload or the check. */
	for (size_t i = 8; i < strlen(text); i++) {
		if (text[i] == '-')
			continue;
		strcpy(bad, text);
		bad[i] = bad[i] == '0' ? '1' : '0';
		const char *why = parse_error(bad);
		cr_assert(strstr(why, "check") != NULL || strstr(why, "hex") != NULL,
		    "position %zu: %s", i, why);
	}
	/* Two neighbours swapped. */
	strcpy(bad, text);
	size_t i = 20;
	while (bad[i] == bad[i + 1])
		i++;
	char t = bad[i];
	bad[i] = bad[i + 1];
	bad[i + 1] = t;
	cr_assert(strstr(parse_error(bad), "check") != NULL);
	/* The index changed: the check covers it. */
	strcpy(bad, text);
	bad[4] = '2';
	cr_assert(strstr(parse_error(bad), "check") != NULL);
}

Test(share, version_index_threshold_and_lengths)
{
	char text[SHARE_TEXT_MAX], bad[SHARE_TEXT_MAX + 200];
	share_format(&sh[0], text);
	const char *rest = text + 8; /* payload and check */
	cr_assert(strstr(parse_error(""), "not a share") != NULL);
	cr_assert(strstr(parse_error("hello"), "not a share") != NULL);
	snprintf(bad, sizeof(bad), "vs2-1-3-%s", rest);
	cr_assert(strstr(parse_error(bad), "version") != NULL);
	snprintf(bad, sizeof(bad), "vs1-0-3-%s", rest);
	cr_assert(strstr(parse_error(bad), "index") != NULL);
	snprintf(bad, sizeof(bad), "vs1-256-3-%s", rest);
	cr_assert(strstr(parse_error(bad), "index") != NULL);
	snprintf(bad, sizeof(bad), "vs1-01-3-%s", rest);
	cr_assert(strstr(parse_error(bad), "index") != NULL);
	snprintf(bad, sizeof(bad), "vs1-1-1-%s", rest);
	cr_assert(strstr(parse_error(bad), "threshold") != NULL);
	snprintf(bad, sizeof(bad), "vs1-1-x-%s", rest);
	cr_assert(strstr(parse_error(bad), "threshold") != NULL);
	/* The check missing, or one digit short. */
	strcpy(bad, text);
	bad[strlen(bad) - 9] = '\0';
	cr_assert(strstr(parse_error(bad), "missing") != NULL);
	strcpy(bad, text);
	bad[strlen(bad) - 1] = '\0';
	cr_assert(strstr(parse_error(bad), "missing") != NULL);
	/* A payload cut short, one hex digit short, a part doubled, too long. */
	snprintf(bad, sizeof(bad), "vs1-1-3-%.64s-%s", rest, text + strlen(text) - 8);
	cr_assert(strstr(parse_error(bad), "check") != NULL, "32 bytes is a legal length");
	snprintf(bad, sizeof(bad), "vs1-1-3-%.30s-%s", rest, text + strlen(text) - 8);
	cr_assert(strstr(parse_error(bad), "length") != NULL);
	snprintf(bad, sizeof(bad), "vs1-1-3-%.127s-%s", rest, text + strlen(text) - 8);
	cr_assert(strstr(parse_error(bad), "length") != NULL);
	snprintf(bad, sizeof(bad), "vs1-1-3-%.128s%.32s-%s", rest, rest,
	    text + strlen(text) - 8);
	cr_assert(strstr(parse_error(bad), "check") != NULL);
	snprintf(bad, sizeof(bad), "vs1-1-3-%.128s%.2s-%s", rest, rest, text + strlen(text) - 8);
	cr_assert(strstr(parse_error(bad), "length") != NULL);
	char big[SHARE_TEXT_MAX + 100];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "vs1-1-3-", 8);
	cr_assert(strstr(parse_error(big), "too long") != NULL);
	/* Not hex. */
	strcpy(bad, text);
	bad[10] = 'g';
	cr_assert(strstr(parse_error(bad), "hex") != NULL);
}

Test(share, split_refuses_bad_counts)
{
	struct share out[5];
	cr_assert_eq(share_split(packed, plen, 5, 1, out), VAULT_E_CONFIG);
	cr_assert_eq(share_split(packed, plen, 2, 3, out), VAULT_E_CONFIG);
	cr_assert_eq(share_split(packed, plen, 256, 3, out), VAULT_E_CONFIG);
}
