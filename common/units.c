/*
 * units.c - parsing sizes with a unit (see units.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "units.h"

int
units_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned shift = 0;

	/* strtoull would take leading blanks, a sign and "0x": digits only. */
	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (tolower((unsigned char)*end)) {
	case 'k': shift = 10; break;
	case 'm': shift = 20; break;
	case 'g': shift = 30; break;
	case 't': shift = 40; break;
	}
	if (shift != 0) {
		end++;
		/* "KiB": the i only before a B */
		if (tolower((unsigned char)*end) == 'i' && tolower((unsigned char)end[1]) != 'b')
			return -1;
		if (tolower((unsigned char)*end) == 'i')
			end++;
	}
	if (tolower((unsigned char)*end) == 'b')
		end++;
	if (*end != '\0')
		return -1;
	if (n > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)n << shift;
	return 0;
}
