/*
 * privacy.c - what the privacy-request, hold and signing commands share:
 * the call through vault_call_json() (arguments and result as jansson
 * trees), ids and times on the command line, personal-data option values,
 * and printing of server text and holds.
 *
 * jansson allocates through output.c's wiping functions, so the trees
 * holding claims or exports are wiped when released; the JSON texts that
 * cross vault_call_json() are wiped here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static void
wipe_free(char *p, size_t n)
{
	if (p != NULL) {
		explicit_bzero(p, n);
		free(p);
	}
}

int
ctl_call(struct ctl *c, const char *op, enum vault_purpose purpose, json_t *args,
    json_t **result)
{
	char *text = NULL, *res = NULL;
	size_t n = 0;
	json_t *r = NULL, *extra = NULL;
	json_error_t err;
	int rc;

	if (result != NULL)
		*result = NULL;
	if (args != NULL) {
		/* Into a buffer of our own, to wipe: it may hold claims. */
		n = json_dumpb(args, NULL, 0, JSON_COMPACT);
		if (n == 0 || (text = malloc(n + 1)) == NULL ||
		    json_dumpb(args, text, n, JSON_COMPACT) != n) {
			json_decref(args);
			wipe_free(text, n);
			return ctl_local_error(c, VAULT_E_NOMEM, "%s: out of memory", op);
		}
		text[n] = '\0';
		json_decref(args);
	}
	if (c->v == NULL && (rc = ctl_connect(c)) != CTL_EXIT_OK)
		goto out;
	if ((rc = vault_call_json(c->v, op, purpose, text, &res)) != 0) {
		uint64_t left = vault_last_remaining(c->v);

		/* A wrong code's attempts left (request_complete uses the same
		 * code without a count). */
		if (rc == VAULT_E_CONFIRMATION && strcmp(op, "request_confirm") == 0)
			extra = json_pack("{s:I}", "remaining", (json_int_t)left);
		rc = ctl_vault_error(c, rc, extra);
		if (!c->json && extra != NULL)
			fprintf(stderr, "vaultctl: confirmation attempts left: %" PRIu64 "\n",
			    left);
		goto out;
	}
	if ((r = json_loads(res, 0, &err)) == NULL) {
		rc = ctl_local_error(c, VAULT_E_PROTO_FRAME, "%s: the result is not JSON",
		    op);
		goto out;
	}
	if (!json_is_object(r)) {
		json_decref(r);
		rc = ctl_local_error(c, VAULT_E_PROTO_FRAME, "%s: the result is not a map",
		    op);
		goto out;
	}
	if (result != NULL)
		*result = r;
	else
		json_decref(r);
	rc = CTL_EXIT_OK;
out:
	wipe_free(text, n);
	vault_free(res);
	return rc;
}

int
ctl_parse_id(const char *s, uint64_t *out)
{
	unsigned long n;

	if (ctl_parse_uint(s, 1, (unsigned long)INT64_MAX, &n) != 0)
		return -1;
	*out = n;
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The number of n digits at s, or -1 if one is not a digit. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
ctl_parse_when(const char *s, uint64_t *out)
{
	static const unsigned char dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };
	size_t len = strlen(s);
	unsigned long n;
	int y, m, d, h = 0, mi = 0, se = 0;

	if (ctl_parse_uint(s, 0, (unsigned long)INT64_MAX, &n) == 0) {
		*out = n;
		return 0;
	}
	/* YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC. */
	if ((len != 10 && len != 20) || s[4] != '-' || s[7] != '-')
		return -1;
	if (len == 20 && (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
	    (h = digits(s + 11, 2)) < 0 || (mi = digits(s + 14, 2)) < 0 ||
	    (se = digits(s + 17, 2)) < 0 || h > 23 || mi > 59 || se > 59))
		return -1;
	y = digits(s, 4);
	m = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (y < 1970 || m < 1 || m > 12 || d < 1 ||
	    d > dm[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
		return -1;
	*out = (uint64_t)days_from_civil(y, (unsigned)m, (unsigned)d) * 86400 +
	    (uint64_t)(h * 3600 + mi * 60 + se);
	return 0;
}

int
ctl_add_value(struct ctl *c, const char *cmd, struct vault_record *r,
    const char *name, char *val, int argno)
{
	size_t nlen = strlen(name), vlen = strlen(val);
	char *arg = malloc(nlen + 1 + vlen + 1);
	int rc;

	if (arg == NULL) {
		explicit_bzero(val, vlen);
		return ctl_local_error(c, VAULT_E_NOMEM, "%s: out of memory", cmd);
	}
	memcpy(arg, name, nlen);
	arg[nlen] = '=';
	memcpy(arg + nlen + 1, val, vlen + 1);
	/* A path (@PATH) is not a value; anything else leaves argv now. */
	if (val[0] != '@' || val[1] == '@')
		explicit_bzero(val, vlen);
	rc = ctl_add_field(c, cmd, r, arg, argno);
	wipe_free(arg, nlen + 1 + vlen + 1);
	return rc;
}

const char *
ctl_jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

json_int_t
ctl_jint(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

void
ctl_put_text(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
}

void
ctl_print_holds(const json_t *holds)
{
	char when[CTL_TIME_LEN];
	const json_t *h;
	size_t i;

	json_array_foreach(holds, i, h) {
		json_int_t exp = ctl_jint(h, "expires_at");

		printf("hold %" JSON_INTEGER_FORMAT " record ", ctl_jint(h, "hold"));
		ctl_put_text(ctl_jstr(h, "record"));
		printf(" purpose ");
		ctl_put_text(ctl_jstr(h, "purpose"));
		printf(" expires %s", exp > 0 ? ctl_time_iso(exp, when) : "never");
		if (json_object_get(h, "placed_at") != NULL)
			printf(" placed %s", ctl_time_iso(ctl_jint(h, "placed_at"), when));
		if (json_object_get(h, "client") != NULL) {
			printf(" by ");
			ctl_put_text(ctl_jstr(h, "client"));
		}
		printf(" reason: ");
		ctl_put_text(ctl_jstr(h, "reason"));
		putchar('\n');
	}
}
