/*
 * mask.c - masked forms of field values (see mask.h). Inputs are already
 * normalized (normalize.c), so each rule can rely on the stored syntax.
 */
#include <string.h>

#include "mask.h"

struct out {
	char *p;
	size_t n, cap;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->n)
		n = o->cap - o->n;
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Bytes of the first UTF-8 character of s. */
static size_t
first_char(const char *s, size_t len)
{
	size_t n = 1;
	while (n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
		n++;
	return len ? n : 0;
}

size_t
mask_field(enum field_id id, const char *in, size_t len, char *outp, size_t cap)
{
	struct out o = { outp, 0, cap };
	const char *p;
	switch (id) {
	case FIELD_FIRST_NAME:
	case FIELD_LAST_NAME:
		put(&o, in, first_char(in, len));
		puts_(&o, "***");
		break;
	case FIELD_EMAIL:
		p = memchr(in, '@', len);
		put(&o, in, first_char(in, len));
		puts_(&o, "***");
		if (p != NULL)
			put(&o, p, (size_t)(in + len - p));
		break;
	case FIELD_PHONE:
		puts_(&o, "+");
		for (size_t i = 1; i + 2 < len; i++)
			puts_(&o, "*");
		if (len >= 3)
			put(&o, in + len - 2, 2);
		break;
	case FIELD_POSTAL_ADDRESS:
		/* The last line holds city, state and postcode in the formats we
		 * store ("1 Main St\nSan Diego, CA 92101"). */
		p = in + len;
		while (p > in && p[-1] != '\n')
			p--;
		if (p == in) {
			/* One line: keep what follows the street ("1 Main St, ..."). */
			const char *c = memchr(in, ',', len);
			if (c == NULL) {
				puts_(&o, "***");
				break;
			}
			p = c + 1;
			while (p < in + len && *p == ' ')
				p++;
			if (p == in + len) {
				puts_(&o, "***");
				break;
			}
		}
		put(&o, p, (size_t)(in + len - p));
		break;
	case FIELD_IP_ADDRESS:
		if (memchr(in, ':', len) == NULL) {
			size_t dots = 0, i;
			for (i = 0; i < len && dots < 2; i++)
				dots += in[i] == '.';
			put(&o, in, i);
			puts_(&o, "*.*");
		} else {
			size_t colons = 0, i;
			for (i = 0; i < len && colons < 2; i++)
				colons += in[i] == ':';
			put(&o, in, i);
			puts_(&o, "*");
		}
		break;
	case FIELD_COOKIE_ID:
		put(&o, in, len <= 8 ? 1 : 4); /* a short id would show whole */
		puts_(&o, "***");
		break;
	case FIELD_CARD_NUMBER:
		for (size_t i = 0; i + 4 < len; i += 4)
			puts_(&o, "**** ");
		if (len >= 4)
			put(&o, in + len - 4, 4);
		break;
	case FIELD_CARD_EXPIRY:
		puts_(&o, "**");
		if (len >= 3)
			put(&o, in + 2, len - 2);
		break;
	case FIELD_BANK_ACCOUNT:
		p = memchr(in, ':', len);
		if (p != NULL) {
			puts_(&o, "*********:****"); /* US routing:account */
		} else {
			put(&o, in, len < 2 ? len : 2); /* IBAN country */
			puts_(&o, "** **** ");
		}
		if (len >= 4)
			put(&o, in + len - 4, 4);
		break;
	default:
		puts_(&o, "***");
	}
	return o.n;
}
