/*
 * policy.c - loading the policy file and answering who may do what (see
 * policy.h; policy.example shows the format).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "policy.h"

struct parse {
	struct policy *p;
	char *err;
	size_t errlen;
	int line;
	int failed;
	FILE *f;
	/* access sections seen before their client: applied at the end */
	struct pending {
		char client[POLICY_NAME_MAX];
		int purpose;
		unsigned field;   /* FIELD_MAX + 2: "*" */
		uint8_t access;
		int line;
	} *pending;
	size_t npending, cappending;
};

static char *
read_line(char *str, int num, void *stream)
{
	struct parse *ps = stream;
	if (fgets(str, num, ps->f) == NULL)
		return NULL;
	ps->line++;
	return str;
}

static int
fail(struct parse *ps, const char *fmt, const char *a, const char *b)
{
	if (!ps->failed) {
		char msg[200];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(msg, sizeof(msg), fmt, a, b);
#pragma GCC diagnostic pop
		snprintf(ps->err, ps->errlen, "line %d: %s", ps->line, msg);
		ps->failed = 1;
	}
	return 0;
}

static int
name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= POLICY_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

static struct policy_client *
find(struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->nclients; i++)
		if (strcmp(p->clients[i].name, name) == 0)
			return &p->clients[i];
	return NULL;
}

static int
parse_ids(const char *v, unsigned long *out, size_t max, size_t *n)
{
	*n = 0;
	while (*v) {
		char *end;
		errno = 0;
		unsigned long x = strtoul(v, &end, 10);
		if (end == v || errno || x > 0x7fffffffUL || *n == max)
			return -1;
		out[(*n)++] = x;
		v = end;
		while (*v == ' ' || *v == ',')
			v++;
	}
	return *n > 0 ? 0 : -1;
}

static int
parse_bool(const char *v, int *out)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
		*out = 1;
	else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* "LEVEL" or "LEVEL join" (one or more spaces between). */
static int
parse_access(const char *v, uint8_t *out)
{
	static const char *const names[] = { "none", "token", "masked", "plain" };
	size_t n = strcspn(v, " \t");
	const char *rest = v + n;
	rest += strspn(rest, " \t");
	uint8_t join = 0;
	if (*rest != '\0') {
		if (strcmp(rest, "join") != 0)
			return -1;
		join = ACCESS_JOIN;
	}
	for (unsigned i = 0; i < 4; i++)
		if (strlen(names[i]) == n && strncmp(v, names[i], n) == 0) {
			if (i == ACCESS_NONE && join)
				return -1; /* a join grant without access means nothing */
			*out = (uint8_t)(i | join);
			return 0;
		}
	return -1;
}

static int
client_key(struct parse *ps, struct policy_client *c, const char *name, const char *value)
{
	unsigned long ids[16];
	size_t n;
	if (strcmp(name, "uids") == 0 || strcmp(name, "gids") == 0) {
		if (parse_ids(value, ids, 16, &n) != 0)
			return fail(ps, "%s: a comma-separated list of at most 16 numbers%s", name, "");
		for (size_t i = 0; i < n; i++) {
			if (name[0] == 'u')
				c->uids[i] = (uid_t)ids[i];
			else
				c->gids[i] = (gid_t)ids[i];
		}
		if (name[0] == 'u')
			c->nuids = n;
		else
			c->ngids = n;
		return 1;
	}
	if (strcmp(name, "token_domain") == 0) {
		if (!name_ok(value))
			return fail(ps, "token_domain \"%s\": 1-31 of [a-z0-9_-]%s", value, "");
		snprintf(c->token_domain, sizeof(c->token_domain), "%.31s", value);
		return 1;
	}
	int *flag = strcmp(name, "admin") == 0 ? &c->admin :
	    strcmp(name, "delete") == 0 ? &c->may_delete :
	    strcmp(name, "list") == 0 ? &c->may_list :
	    strcmp(name, "privacy") == 0 ? &c->may_privacy :
	    strcmp(name, "transactions") == 0 ? &c->may_transactions : NULL;
	if (flag == NULL)
		return fail(ps, "unknown client option %s%s", name, "");
	if (parse_bool(value, flag) != 0)
		return fail(ps, "%s: true or false%s", name, "");
	return 1;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *ps = user;
	char kind[16], a[64], b[64], extra[2];
	if (ps->failed)
		return 0;
	int words = sscanf(section, "%15s %63s %63s %1s", kind, a, b, extra);
	if (words == 2 && strcmp(kind, "client") == 0) {
		if (!name_ok(a))
			return fail(ps, "client name \"%s\": 1-31 of [a-z0-9_-]%s", a, "");
		struct policy_client *c = find(ps->p, a);
		if (c == NULL) {
			struct policy *p = ps->p;
			void *np = realloc(p->clients, (p->nclients + 1) * sizeof(*p->clients));
			if (np == NULL)
				return fail(ps, "out of memory%s%s", "", "");
			p->clients = np;
			c = &p->clients[p->nclients++];
			memset(c, 0, sizeof(*c));
			snprintf(c->name, sizeof(c->name), "%.31s", a); /* name_ok: < 32 */
		}
		return client_key(ps, c, name, value);
	}
	if (words == 3 && strcmp(kind, "access") == 0) {
		enum vault_purpose purpose = vault_purpose_from_name(b);
		if (!name_ok(a))
			return fail(ps, "client name \"%s\": 1-31 of [a-z0-9_-]%s", a, "");
		uint8_t acc;
		unsigned field;
		if (purpose == 0)
			return fail(ps, "unknown purpose \"%s\"%s", b, "");
		if (strcmp(name, "*") == 0)
			field = FIELD_MAX + 2;
		else if (strcmp(name, "documents") == 0)
			field = FIELD_DOCUMENT_SLOT;
		else {
			const struct field_info *fi = field_by_name(name, strlen(name));
			if (fi == NULL)
				return fail(ps, "unknown field \"%s\"%s", name, "");
			field = fi->id;
		}
		if (parse_access(value, &acc) != 0)
			return fail(ps, "%s: plain, masked, token or none, the first three "
			    "optionally followed by join%s", name, "");
		if (field == FIELD_DOCUMENT_SLOT && acc != ACCESS_PLAIN && acc != ACCESS_NONE)
			return fail(ps, "documents: plain or none%s%s", "", "");
		if (ps->npending == ps->cappending) {
			size_t cap = ps->cappending ? ps->cappending * 2 : 32;
			void *np = realloc(ps->pending, cap * sizeof(*ps->pending));
			if (np == NULL)
				return fail(ps, "out of memory%s%s", "", "");
			ps->pending = np;
			ps->cappending = cap;
		}
		struct pending *pe = &ps->pending[ps->npending++];
		snprintf(pe->client, sizeof(pe->client), "%.31s", a);
		pe->purpose = purpose;
		pe->field = field;
		pe->access = acc;
		pe->line = ps->line;
		return 1;
	}
	return fail(ps, "unknown section [%s]; use [client NAME] or [access NAME PURPOSE]%s",
	    section, "");
}

int
policy_load(struct policy *p, const char *path, int dev, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	if (path == NULL || path[0] == '\0') {
		if (!dev) {
			snprintf(err, errlen, "no [policy] file is configured");
			return VAULT_E_CONFIG;
		}
		p->open = 1;
		p->clients = calloc(1, sizeof(*p->clients));
		if (p->clients == NULL)
			return VAULT_E_NOMEM;
		struct policy_client *c = &p->clients[0];
		p->nclients = 1;
		snprintf(c->name, sizeof(c->name), "dev");
		snprintf(c->token_domain, sizeof(c->token_domain), "dev");
		c->admin = c->may_delete = c->may_list = c->may_privacy = c->may_transactions = 1;
		memset(c->access, ACCESS_PLAIN, sizeof(c->access));
		for (int i = 0; i < POLICY_PURPOSES; i++)
			snprintf(c->rule[i], sizeof(c->rule[i]), "dev/%s",
			    vault_purpose_name((enum vault_purpose)(i + 1)));
		return 0;
	}
	struct parse ps = { .p = p, .err = err, .errlen = errlen };
	if ((ps.f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return VAULT_E_CONFIG;
	}
	int rc = ini_parse_stream(read_line, &ps, handler, &ps);
	fclose(ps.f);
	if (rc > 0 && !ps.failed)
		snprintf(err, errlen, "line %d: syntax error", rc);
	if (rc != 0 || ps.failed)
		goto fail;
	/* Defaults ("*") first, then the fields named. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ps.npending; i++) {
			struct pending *pe = &ps.pending[i];
			struct policy_client *c = find(p, pe->client);
			if (c == NULL) {
				ps.line = pe->line;
				fail(&ps, "access for unknown client \"%s\"%s", pe->client, "");
				goto fail;
			}
			uint8_t *row = c->access[pe->purpose - 1];
			if (pass == 0 && pe->field == FIELD_MAX + 2) {
				for (unsigned f = 1; f <= FIELD_MAX; f++)
					row[f] = pe->access;
			} else if (pass == 1 && pe->field != FIELD_MAX + 2) {
				row[pe->field] = pe->access;
			}
		}
	}
	for (size_t i = 0; i < p->nclients; i++) {
		struct policy_client *c = &p->clients[i];
		if (c->nuids == 0 && c->ngids == 0) {
			snprintf(err, errlen, "client %s has neither uids nor gids", c->name);
			goto fail;
		}
		if (c->token_domain[0] == '\0')
			memcpy(c->token_domain, c->name, sizeof(c->token_domain));
		for (int k = 0; k < POLICY_PURPOSES; k++)
			snprintf(c->rule[k], sizeof(c->rule[k]), "%s/%s", c->name,
			    vault_purpose_name((enum vault_purpose)(k + 1)));
	}
	free(ps.pending);
	return 0;
fail:
	free(ps.pending);
	policy_free(p);
	return VAULT_E_CONFIG;
}

void
policy_free(struct policy *p)
{
	free(p->clients);
	memset(p, 0, sizeof(*p));
}

int
policy_new(const char *path, int dev, struct policy **out, char *err, size_t errlen)
{
	struct policy *p = malloc(sizeof(*p));
	int rc;
	*out = NULL;
	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return VAULT_E_NOMEM;
	}
	if ((rc = policy_load(p, path, dev, err, errlen)) != 0) {
		free(p);
		return rc;
	}
	atomic_init(&p->refs, 1);
	*out = p;
	return 0;
}

const struct policy *
policy_ref(const struct policy *p)
{
	/* The count is the one mutable part of a shared policy. */
	if (p != NULL)
		atomic_fetch_add(&((struct policy *)p)->refs, 1);
	return p;
}

void
policy_unref(const struct policy *p)
{
	struct policy *q = (struct policy *)p;
	if (q != NULL && atomic_fetch_sub(&q->refs, 1) == 1) {
		policy_free(q);
		free(q);
	}
}

void
policy_current_init(struct policy_current *pc, struct policy *first)
{
	pthread_mutex_init(&pc->lock, NULL);
	first->gen = 1;
	pc->cur = first;
	atomic_init(&pc->gen, 1);
}

void
policy_current_destroy(struct policy_current *pc)
{
	policy_unref(pc->cur);
	pc->cur = NULL;
	pthread_mutex_destroy(&pc->lock);
}

const struct policy *
policy_current_get(struct policy_current *pc)
{
	pthread_mutex_lock(&pc->lock);
	const struct policy *p = policy_ref(pc->cur);
	pthread_mutex_unlock(&pc->lock);
	return p;
}

int
policy_current_stale(struct policy_current *pc, const struct policy *p)
{
	return p == NULL || p->gen != atomic_load(&pc->gen);
}

void
policy_current_publish(struct policy_current *pc, struct policy *next)
{
	pthread_mutex_lock(&pc->lock);
	const struct policy *old = pc->cur;
	next->gen = old->gen + 1;
	pc->cur = next;
	atomic_store(&pc->gen, next->gen);
	pthread_mutex_unlock(&pc->lock);
	policy_unref(old); /* freed here, or by its last holder */
}

const struct policy_client *
policy_client(const struct policy *p, uid_t uid, gid_t gid)
{
	if (p->open)
		return &p->clients[0];
	for (size_t i = 0; i < p->nclients; i++)
		for (size_t j = 0; j < p->clients[i].nuids; j++)
			if (p->clients[i].uids[j] == uid)
				return &p->clients[i];
	for (size_t i = 0; i < p->nclients; i++)
		for (size_t j = 0; j < p->clients[i].ngids; j++)
			if (p->clients[i].gids[j] == gid)
				return &p->clients[i];
	return NULL;
}

enum access
policy_access(const struct policy_client *c, enum vault_purpose purpose, unsigned field)
{
	if (purpose < 1 || purpose > POLICY_PURPOSES || field > FIELD_DOCUMENT_SLOT)
		return ACCESS_NONE;
	return (enum access)(c->access[purpose - 1][field] & ACCESS_LEVEL_MASK);
}

int
policy_may_join(const struct policy_client *c, enum vault_purpose purpose, unsigned field)
{
	if (purpose < 1 || purpose > POLICY_PURPOSES || field > FIELD_MAX)
		return 0;
	uint8_t a = c->access[purpose - 1][field];
	return (a & ACCESS_LEVEL_MASK) == ACCESS_PLAIN ||
	    ((a & ACCESS_JOIN) && (a & ACCESS_LEVEL_MASK) != ACCESS_NONE);
}

const char *
policy_rule(const struct policy_client *c, enum vault_purpose purpose)
{
	if (purpose < 1 || purpose > POLICY_PURPOSES)
		return c->name;
	return c->rule[purpose - 1];
}
