/*
 * audit_query.c - "vaultctl audit query [--record TOKEN] [--client NAME]
 * [--purpose P] [--from TIME] [--to TIME] [--limit N]": the audit entries
 * that match every filter given, oldest first, one a line:
 *
 *   SEQ TIME CLIENT uid=UID PURPOSE OP OUTCOME records=P1,P2 fields=F1,F2
 *
 * TIME in UTC ISO 8601; "-" stands for a missing client or purpose and for
 * an empty list. Records are the trail's pseudonyms ("v1:<hex>"): the trail
 * never holds record tokens, so --record is matched by the server, which
 * derives the record's pseudonym under each index key it holds. Entries
 * hold no personal data, so neither does this output.
 *
 * JSON: {"entries": [{"seq", "time" (RFC 3339 UTC), "client", "uid",
 * "purpose", "op", "outcome", "records": [...], "fields": [...]}, ...]}.
 *
 * --node SOCKET (repeatable): several vaultd nodes on one database each
 * keep their own trail; the entries of -s's node and of each --node's are
 * merged by time (then by node, then seq), each line ending " node=SOCKET"
 * (JSON: "node"). --limit applies to each node and to the merged whole:
 * the oldest N of the union are among each node's oldest N.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

#define QUERY_DEFAULT 1000 /* the server's, when no --limit is sent */
#define QUERY_MAX 100000

static const struct ctl_option options[] = {
	{ "record", 1 },
	{ "client", 1 },
	{ "purpose", 1 },
	{ "from", 1 },
	{ "to", 1 },
	{ "limit", 1 },
	{ "node", 1 },
	{ NULL, 0 },
};

#define QUERY_NODES 16 /* --node sockets, beside -s's */

/* One entry of a merged query, and the node it came from. */
struct merged {
	const struct vault_audit_entry *e;
	unsigned node;
};

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
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

static unsigned
days_in_month(unsigned y, unsigned m)
{
	static const unsigned char dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return dm[m - 1] + (m == 2 && leap);
}

/* s matches pat, where 'd' stands for a digit. */
static int
shaped(const char *s, const char *pat)
{
	for (; *pat != '\0'; s++, pat++)
		if (*pat == 'd' ? (*s < '0' || *s > '9') : *s != *pat)
			return 0;
	return *s == '\0';
}

static unsigned
num(const char *s, int n)
{
	unsigned v = 0;
	while (n-- > 0)
		v = v * 10 + (unsigned)(*s++ - '0');
	return v;
}

/*
 * TIME: Unix seconds, or UTC as YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD. A date
 * alone is the whole day: its first second, or its last with end_of_day
 * (so that "--to 2026-11-29" includes the 29th). 0, or -1 if malformed.
 */
static int
parse_time(const char *s, int end_of_day, int64_t *out)
{
	unsigned y, mo, d, h = 0, mi = 0, se = 0;

	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s)) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno != 0 || *end != '\0' || v > (unsigned long long)INT64_MAX)
			return -1;
		*out = (int64_t)v;
		return 0;
	}
	if (shaped(s, "dddd-dd-dd")) {
		if (end_of_day) {
			h = 23;
			mi = 59;
			se = 59;
		}
	} else if (shaped(s, "dddd-dd-ddTdd:dd:ddZ")) {
		h = num(s + 11, 2);
		mi = num(s + 14, 2);
		se = num(s + 17, 2);
	} else {
		return -1;
	}
	y = num(s, 4);
	mo = num(s + 5, 2);
	d = num(s + 8, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || se > 59)
		return -1;
	*out = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + mi * 60 + se;
	return 0;
}

/* A word of a line: bytes that would split it (blanks, controls, the
 * list separator when in_list) shown as '?'; "-" for none. */
static void
put_word(const char *s, int in_list)
{
	if (s == NULL || *s == '\0') {
		putchar('-');
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		putchar(*p > 0x20 && *p < 0x7f && !(in_list && *p == ',') ? *p : '?');
}

static void
put_list(const char *label, char *const *v, size_t n)
{
	printf(" %s=", label);
	if (n == 0)
		putchar('-');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			putchar(',');
		put_word(v[i], 1);
	}
}

static void
print_entry(const struct vault_audit_entry *e, const char *node)
{
	char when[CTL_TIME_LEN];

	printf("%" PRIu64 " %s ", e->seq, ctl_time_iso(e->time, when));
	put_word(e->client, 0);
	printf(" uid=%" PRIu64 " ", e->uid);
	put_word(e->purpose, 0);
	putchar(' ');
	put_word(e->op, 0);
	putchar(' ');
	put_word(e->outcome, 0);
	put_list("records", e->records, e->nrecords);
	put_list("fields", e->fields, e->nfields);
	if (node != NULL) {
		printf(" node=");
		put_word(node, 0);
	}
	putchar('\n');
}

static int
merged_cmp(const void *x, const void *y)
{
	const struct merged *a = x, *b = y;
	if (a->e->time != b->e->time)
		return a->e->time < b->e->time ? -1 : 1;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	return a->e->seq < b->e->seq ? -1 : a->e->seq > b->e->seq;
}

static json_t *
strings_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_string(v[i] != NULL ? v[i] : "")) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

static json_t *
entry_json(const struct vault_audit_entry *e, const char *node)
{
	json_t *j = json_pack("{s:I, s:o, s:s?, s:I, s:s?, s:s?, s:s?, s:o, s:o}",
	    "seq", (json_int_t)e->seq,
	    "time", ctl_json_time(e->time),
	    "client", e->client,
	    "uid", (json_int_t)e->uid,
	    "purpose", e->purpose,
	    "op", e->op,
	    "outcome", e->outcome,
	    "records", strings_json(e->records, e->nrecords),
	    "fields", strings_json(e->fields, e->nfields));
	if (j != NULL && node != NULL && json_object_set_new(j, "node", json_string(node)) != 0) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

static int
entries_json(struct ctl *c, const struct merged *m, size_t n, const char *const *nodes)
{
	json_t *arr = json_array(), *root;

	for (size_t i = 0; arr != NULL && i < n; i++) {
		if (json_array_append_new(arr, entry_json(m[i].e,
		    nodes != NULL ? nodes[m[i].node] : NULL)) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	root = arr != NULL ? json_pack("{s:o}", "entries", arr) : NULL;
	return ctl_json_emit(c, root);
}

int
ctl_cmd_audit_query(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	struct vault_audit_filter f = { 0 };
	struct vault_audit_entry *e[QUERY_NODES + 1] = { NULL };
	size_t ne[QUERY_NODES + 1] = { 0 };
	const char *nodes[QUERY_NODES + 1];
	unsigned nnodes = 1;
	int have_from = 0, have_to = 0, rc, argno;
	unsigned long limit = 0;
	struct ctl_args a;
	enum ctl_arg_kind k;
	size_t n = 0, hit = 0;
	char *val;

	ctl_args_init(&a, argc, argv);
	a.cmd = "audit query";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_POSITIONAL)
			return ctl_usage_error(c, "audit query: argument %d: audit query takes "
			    "options only", argno);
		if (strcmp(opt->name, "record") == 0) {
			if (f.record_token != NULL)
				return ctl_usage_error(c, "audit query: --record given twice");
			if (val[0] == '\0')
				return ctl_usage_error(c, "audit query: --record wants a record "
				    "token");
			f.record_token = val;
		} else if (strcmp(opt->name, "client") == 0) {
			if (f.client != NULL)
				return ctl_usage_error(c, "audit query: --client given twice");
			if (val[0] == '\0')
				return ctl_usage_error(c, "audit query: --client wants a client "
				    "name from the policy");
			f.client = val;
		} else if (strcmp(opt->name, "purpose") == 0) {
			if (f.purpose != NULL)
				return ctl_usage_error(c, "audit query: --purpose given twice");
			if (vault_purpose_from_name(val) == 0)
				return ctl_usage_error(c, "audit query: --purpose wants a purpose "
				    "name (see PURPOSE below in vaultctl --help)");
			f.purpose = val;
		} else if (strcmp(opt->name, "from") == 0 || strcmp(opt->name, "to") == 0) {
			int to = opt->name[0] == 't';
			int *seen = to ? &have_to : &have_from;

			if (*seen)
				return ctl_usage_error(c, "audit query: --%s given twice",
				    opt->name);
			if (parse_time(val, to, to ? &f.to : &f.from) != 0)
				return ctl_usage_error(c, "audit query: --%s wants Unix seconds "
				    "or a UTC time, YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD",
				    opt->name);
			*seen = 1;
		} else if (strcmp(opt->name, "node") == 0) {
			if (nnodes > QUERY_NODES)
				return ctl_usage_error(c, "audit query: at most %d --node",
				    QUERY_NODES);
			if (val[0] == '\0')
				return ctl_usage_error(c, "audit query: --node wants a vaultd "
				    "socket path");
			nodes[nnodes++] = val;
		} else {
			if (limit != 0)
				return ctl_usage_error(c, "audit query: --limit given twice");
			if (ctl_parse_uint(val, 1, QUERY_MAX, &limit) != 0)
				return ctl_usage_error(c, "audit query: --limit wants a number, "
				    "1 to %d", QUERY_MAX);
		}
	}
	/* The server reads a 0 bound as none at all: --to 0 would match everything. */
	if (have_to && f.to == 0)
		return ctl_usage_error(c, "audit query: --to must be after "
		    "1970-01-01T00:00:00Z");
	if (have_from && have_to && f.from > f.to)
		return ctl_usage_error(c, "audit query: --from is after --to");
	f.limit = (unsigned)limit;
	nodes[0] = c->socket;
	size_t cap = limit != 0 ? limit : QUERY_DEFAULT;
	for (unsigned i = 0; i < nnodes; i++) {
		/* One connection at a time; vaultctl closes the last one. */
		if (i > 0) {
			vault_close(c->v);
			c->v = NULL;
			c->socket = nodes[i];
		}
		if ((rc = ctl_connect(c)) != CTL_EXIT_OK ||
		    (rc = vault_audit_query(c->v, &f, &e[i], &ne[i])) != 0) {
			if (rc != CTL_EXIT_OK && c->v != NULL)
				rc = ctl_vault_error(c, rc, NULL);
			c->socket = nodes[0];
			for (unsigned j = 0; j < i; j++)
				vault_audit_entries_free(e[j], ne[j]);
			return rc;
		}
		n += ne[i];
		hit += ne[i] > 0 && ne[i] >= cap;
	}
	c->socket = nodes[0];
	struct merged *m = calloc(n ? n : 1, sizeof(*m));
	if (m == NULL) {
		for (unsigned j = 0; j < nnodes; j++)
			vault_audit_entries_free(e[j], ne[j]);
		return ctl_vault_error(c, VAULT_E_NOMEM, NULL);
	}
	for (unsigned i = 0, at = 0; i < nnodes; i++)
		for (size_t j = 0; j < ne[i]; j++, at++)
			m[at] = (struct merged){ &e[i][j], i };
	if (nnodes > 1) {
		qsort(m, n, sizeof(*m), merged_cmp);
		if (n > cap)
			n = cap;
	}
	const char *const *names = nnodes > 1 ? nodes : NULL;
	if (c->json) {
		rc = entries_json(c, m, n, names);
	} else {
		for (size_t i = 0; i < n; i++)
			print_entry(m[i].e, names != NULL ? names[m[i].node] : NULL);
		if (hit > 0)
			fprintf(stderr, "vaultctl: audit query: stopped at the limit of %zu "
			    "entries: later ones may match too (narrow it with --from, "
			    "or raise --limit up to %d)\n", cap, QUERY_MAX);
		rc = CTL_EXIT_OK;
	}
	free(m);
	for (unsigned i = 0; i < nnodes; i++)
		vault_audit_entries_free(e[i], ne[i]);
	return rc;
}
