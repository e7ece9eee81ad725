/*
 * prom_check.h - a small checker of the Prometheus text exposition format
 * 0.0.4, for the output of vaultctl metrics (e2e-metrics) and its
 * renderer (unit prom). Included by one test file each (static functions).
 *
 * It checks that every line is a comment ("# HELP name text", "# TYPE
 * name type") or a sample "name{label="value",...} value"; that every
 * sample's family has exactly one HELP and one TYPE line before it;
 * names are vault_* and counters end in _total; and that each histogram's
 * buckets have increasing bounds and cumulative counts ending with
 * le="+Inf" equal to its _count, followed by _sum and _count.
 */
#ifndef VAULT_TESTS_PROM_CHECK_H
#define VAULT_TESTS_PROM_CHECK_H

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#define PROM_MAX_FAMILIES 64
#define PROM_MAX_SAMPLES 512

struct prom_family {
	char name[96];
	char type[16];
	int help, typed;
	/* histograms */
	double last_le, last_bucket, inf_bucket;
	int buckets, inf_seen, sum_seen, count_seen;
};

struct prom_sample {
	char key[256];  /* name{labels} exactly as written, or name */
	double value;
};

struct prom_doc {
	struct prom_family fam[PROM_MAX_FAMILIES];
	size_t nfam;
	struct prom_sample s[PROM_MAX_SAMPLES];
	size_t ns;
};

static struct prom_family *
prom_family_get(struct prom_doc *d, const char *name, size_t len, int create)
{
	for (size_t i = 0; i < d->nfam; i++)
		if (strlen(d->fam[i].name) == len && memcmp(d->fam[i].name, name, len) == 0)
			return &d->fam[i];
	if (!create)
		return NULL;
	cr_assert_lt(d->nfam, PROM_MAX_FAMILIES);
	cr_assert_lt(len, sizeof(d->fam[0].name));
	struct prom_family *f = &d->fam[d->nfam++];
	memset(f, 0, sizeof(*f));
	memcpy(f->name, name, len);
	f->last_le = -INFINITY;
	return f;
}

static size_t
prom_name_len(const char *s)
{
	size_t n = 0;
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == ':')
		n++;
	return n;
}

/* The family a sample belongs to: a histogram's _bucket, _sum, _count. */
static struct prom_family *
prom_family_of(struct prom_doc *d, const char *name, size_t len, const char **suffix)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };
	*suffix = "";
	for (size_t i = 0; i < 3; i++) {
		size_t sl = strlen(sfx[i]);
		if (len > sl && memcmp(name + len - sl, sfx[i], sl) == 0) {
			struct prom_family *f = prom_family_get(d, name, len - sl, 0);
			if (f != NULL && strcmp(f->type, "histogram") == 0) {
				*suffix = sfx[i];
				return f;
			}
		}
	}
	return prom_family_get(d, name, len, 0);
}

/* Parse labels at *p ('{' ... '}'); returns the value of le or NULL. */
static const char *
prom_labels(const char **p, const char *line, char *le, size_t lelen)
{
	const char *s = *p, *found = NULL;
	cr_assert_eq(*s, '{');
	s++;
	while (*s != '}') {
		size_t n = prom_name_len(s);
		cr_assert(n > 0, "bad label name: %s", line);
		int is_le = n == 2 && memcmp(s, "le", 2) == 0;
		s += n;
		cr_assert(s[0] == '=' && s[1] == '"', "label without =\"value\": %s", line);
		s += 2;
		size_t o = 0;
		while (*s != '"') {
			cr_assert_neq(*s, '\0', "unterminated label value: %s", line);
			if (*s == '\\') {
				s++;
				cr_assert(*s == '\\' || *s == '"' || *s == 'n', "bad escape: %s", line);
			}
			if (is_le && o + 1 < lelen)
				le[o++] = *s;
			s++;
		}
		if (is_le) {
			le[o] = '\0';
			found = le;
		}
		s++;
		if (*s == ',')
			s++;
		else
			cr_assert_eq(*s, '}', "labels not separated by commas: %s", line);
	}
	*p = s + 1;
	return found;
}

static double
prom_number(const char *s, const char *line)
{
	char *end;
	if (strcmp(s, "+Inf") == 0)
		return INFINITY;
	double v = strtod(s, &end);
	cr_assert(end != s && *end == '\0', "not a number \"%s\": %s", s, line);
	return v;
}

static void
prom_sample_line(struct prom_doc *d, const char *line)
{
	size_t n = prom_name_len(line);
	cr_assert(n > 0, "neither a comment nor a sample: \"%s\"", line);
	cr_assert(strncmp(line, "vault_", 6) == 0, "not a vault_ metric: %s", line);
	const char *suffix, *p = line + n, *le = NULL;
	char lebuf[64];
	struct prom_family *f = prom_family_of(d, line, n, &suffix);
	cr_assert_not_null(f, "a sample before its family's HELP and TYPE: %s", line);
	cr_assert(f->help && f->typed, "a sample before its family's HELP and TYPE: %s", line);
	if (*p == '{')
		le = prom_labels(&p, line, lebuf, sizeof(lebuf));
	cr_assert_eq(*p, ' ', "no single space before the value: %s", line);
	double v = prom_number(p + 1, line);
	cr_assert(!isnan(v) && v >= 0, "a negative or NaN value: %s", line);
	if (strcmp(f->type, "histogram") == 0) {
		if (strcmp(suffix, "_bucket") == 0) {
			cr_assert_not_null(le, "a bucket without le: %s", line);
			cr_assert_eq(f->inf_seen, 0, "a bucket after +Inf: %s", line);
			double b = prom_number(le, line);
			cr_assert_gt(b, f->last_le, "bucket bounds must increase: %s", line);
			cr_assert_geq(v, f->last_bucket, "buckets must be cumulative: %s", line);
			f->last_le = b;
			f->last_bucket = v;
			f->buckets++;
			if (isinf(b)) {
				f->inf_seen = 1;
				f->inf_bucket = v;
			}
		} else if (strcmp(suffix, "_sum") == 0) {
			cr_assert(f->inf_seen, "_sum before the +Inf bucket: %s", line);
			f->sum_seen = 1;
		} else if (strcmp(suffix, "_count") == 0) {
			cr_assert(f->inf_seen, "_count before the +Inf bucket: %s", line);
			cr_assert_eq(v, f->inf_bucket, "_count differs from the +Inf bucket: %s", line);
			f->count_seen = 1;
		} else {
			cr_assert_fail("a histogram sample without a suffix: %s", line);
		}
	} else if (strcmp(f->type, "counter") == 0) {
		cr_assert(n > 6 && strncmp(line + n - 6, "_total", 6) == 0,
		    "a counter not named _total: %s", line);
	}
	cr_assert_lt(d->ns, PROM_MAX_SAMPLES);
	struct prom_sample *s = &d->s[d->ns++];
	size_t klen = (size_t)(strchr(line, ' ') - line);
	cr_assert_lt(klen, sizeof(s->key));
	memcpy(s->key, line, klen);
	s->key[klen] = '\0';
	s->value = v;
}

/* Check text (NUL-terminated) and collect its samples into d. */
static void
prom_check(struct prom_doc *d, const char *text)
{
	memset(d, 0, sizeof(*d));
	cr_assert(text[0] != '\0', "no output");
	cr_assert_eq(text[strlen(text) - 1], '\n', "the last line has no newline");
	const char *p = text;
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		char line[1024];
		size_t len = (size_t)(nl - p);
		cr_assert_lt(len, sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;
		cr_assert(len > 0, "an empty line");
		if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
			const char *name = line + 7;
			size_t n = prom_name_len(name);
			cr_assert(n > 0 && name[n] == ' ' && name[n + 1] != '\0',
			    "a comment without name and text: %s", line);
			struct prom_family *f = prom_family_get(d, name, n, 1);
			if (line[2] == 'H') {
				cr_assert_eq(f->help, 0, "HELP twice: %s", line);
				f->help = 1;
			} else {
				const char *t = name + n + 1;
				cr_assert(strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 ||
				    strcmp(t, "histogram") == 0, "unknown type: %s", line);
				cr_assert_eq(f->typed, 0, "TYPE twice: %s", line);
				f->typed = 1;
				snprintf(f->type, sizeof(f->type), "%s", t);
			}
			continue;
		}
		cr_assert_neq(line[0], '#', "a comment other than HELP and TYPE: %s", line);
		prom_sample_line(d, line);
	}
	for (size_t i = 0; i < d->nfam; i++) {
		struct prom_family *f = &d->fam[i];
		cr_assert(f->help && f->typed, "%s lacks HELP or TYPE", f->name);
		if (strcmp(f->type, "histogram") == 0)
			cr_assert(f->inf_seen && f->sum_seen && f->count_seen,
			    "histogram %s lacks +Inf, _sum or _count", f->name);
	}
}

/* The value of the sample written exactly as key; aborts if absent. */
static double
prom_value(const struct prom_doc *d, const char *key)
{
	for (size_t i = 0; i < d->ns; i++)
		if (strcmp(d->s[i].key, key) == 0)
			return d->s[i].value;
	cr_assert_fail("no sample %s", key);
	return -1;
}

#endif
