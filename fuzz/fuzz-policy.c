/*
 * fuzz-policy.c - the policy file (vault/policy.h, policy.example): the
 * input is written to a file and loaded with policy_load() (inih), as
 * vaultd does at start with a [policy] file configured.
 *
 * Invariants:
 *   - policy_load() returns 0 or VAULT_E_CONFIG; a failure leaves a
 *     NUL-terminated, non-empty message and an empty policy;
 *   - a loaded policy is consistent: not open, client names 1-31 of
 *     [a-z0-9_-] and unique, each with uids or gids (at most 16 of each),
 *     access levels none..plain, a join grant only beside token or masked
 *     (plain implies it), documents plain or none without join, a
 *     token_domain of 1-31 of [a-z0-9_-], rules "<client>/<purpose>";
 *   - policy_client() gives the first client listing a uid, else the first
 *     listing a gid, and no client for credentials nobody lists;
 *   - every well-formed [access NAME PURPOSE] header in the file names a
 *     loaded client exactly: no rule is applied to another client;
 *   - loading the same file twice gives the same policy.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vault/vault.h>

#include "vault/policy.h"

#include "fuzz.h"

/* inih's defaults (ini.h): longer sections are cut, longer lines split. */
#define INI_SECTION_MAX 50
#define INI_LINE_MAX 200

static char dir[PATH_MAX];
static char path[PATH_MAX + 16];

static void
teardown(void)
{
	fuzz_rmtree(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_tmpdir(dir, "policy");
	snprintf(path, sizeof(path), "%s/policy", dir);
	atexit(teardown);
	return 0;
}

static int
name_ok(const char *s)
{
	size_t n = strnlen(s, POLICY_NAME_MAX);
	if (n == 0 || n >= POLICY_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

static int
lists_uid(const struct policy_client *c, uid_t uid)
{
	for (size_t j = 0; j < c->nuids; j++)
		if (c->uids[j] == uid)
			return 1;
	return 0;
}

static int
lists_gid(const struct policy_client *c, gid_t gid)
{
	for (size_t j = 0; j < c->ngids; j++)
		if (c->gids[j] == gid)
			return 1;
	return 0;
}

/* A uid and a gid no client lists. */
static void
unlisted(const struct policy *p, uid_t *uid, gid_t *gid)
{
	*uid = 1;
	*gid = 1;
	for (size_t i = 0; i < p->nclients; i++) {
		for (size_t j = 0; j < p->clients[i].nuids; j++)
			if (p->clients[i].uids[j] >= *uid)
				*uid = p->clients[i].uids[j] + 1;
		for (size_t j = 0; j < p->clients[i].ngids; j++)
			if (p->clients[i].gids[j] >= *gid)
				*gid = p->clients[i].gids[j] + 1;
	}
}

static void
check_policy(const struct policy *p)
{
	uid_t nobody;
	gid_t nogroup;

	fuzz_assert(!p->open, "a policy file gave the open development policy");
	unlisted(p, &nobody, &nogroup);
	for (size_t i = 0; i < p->nclients; i++) {
		const struct policy_client *c = &p->clients[i];
		fuzz_assert(name_ok(c->name), "client name \"%.*s\"", POLICY_NAME_MAX, c->name);
		fuzz_assert(name_ok(c->token_domain), "client %s: token_domain \"%.*s\"", c->name,
		    POLICY_NAME_MAX, c->token_domain);
		for (size_t k = 0; k < i; k++)
			fuzz_assert(strcmp(p->clients[k].name, c->name) != 0, "client %s twice", c->name);
		fuzz_assert(c->nuids + c->ngids > 0 && c->nuids <= 16 && c->ngids <= 16,
		    "client %s with %zu uids and %zu gids", c->name, c->nuids, c->ngids);
		fuzz_assert((c->admin == 0 || c->admin == 1) && (c->may_delete == 0 || c->may_delete == 1) &&
		    (c->may_list == 0 || c->may_list == 1), "client %s: flags not boolean", c->name);
		for (int k = 0; k < POLICY_PURPOSES; k++) {
			enum vault_purpose purpose = (enum vault_purpose)(k + 1);
			char rule[POLICY_NAME_MAX + 32];
			snprintf(rule, sizeof(rule), "%s/%s", c->name, vault_purpose_name(purpose));
			fuzz_assert(strcmp(policy_rule(c, purpose), rule) == 0, "client %s: rule \"%s\"",
			    c->name, policy_rule(c, purpose));
			fuzz_assert(c->access[k][0] == ACCESS_NONE, "client %s: access to field 0", c->name);
			for (unsigned f = 1; f <= FIELD_DOCUMENT_SLOT; f++) {
				uint8_t a = c->access[k][f], level = a & ACCESS_LEVEL_MASK;
				fuzz_assert((a & ~(ACCESS_JOIN | ACCESS_LEVEL_MASK)) == 0 &&
				    policy_access(c, purpose, f) == (enum access)level,
				    "client %s: access %u to field %u", c->name, a, f);
				fuzz_assert(!(a & ACCESS_JOIN) || level == ACCESS_TOKEN ||
				    level == ACCESS_MASKED || level == ACCESS_PLAIN,
				    "client %s: join without access to field %u", c->name, f);
				if (f <= FIELD_MAX)
					fuzz_assert(policy_may_join(c, purpose, f) ==
					    (level == ACCESS_PLAIN || (a & ACCESS_JOIN) != 0),
					    "client %s: join of field %u", c->name, f);
			}
			uint8_t docs = c->access[k][FIELD_DOCUMENT_SLOT];
			fuzz_assert(docs == ACCESS_NONE || docs == ACCESS_PLAIN,
			    "client %s: documents %s", c->name, docs == ACCESS_TOKEN ? "token" : "masked");
		}
		/* Uids first, in file order; then gids. */
		for (size_t j = 0; j < c->nuids; j++) {
			const struct policy_client *got = policy_client(p, c->uids[j], nogroup);
			fuzz_assert(got != NULL && lists_uid(got, c->uids[j]) && got <= c,
			    "uid %lu of %s finds another client", (unsigned long)c->uids[j], c->name);
			for (const struct policy_client *e = p->clients; e < got; e++)
				fuzz_assert(!lists_uid(e, c->uids[j]), "uid %lu: not the first client",
				    (unsigned long)c->uids[j]);
		}
		for (size_t j = 0; j < c->ngids; j++) {
			const struct policy_client *got = policy_client(p, nobody, c->gids[j]);
			fuzz_assert(got != NULL && lists_gid(got, c->gids[j]) && got <= c,
			    "gid %lu of %s finds another client", (unsigned long)c->gids[j], c->name);
		}
	}
	fuzz_assert(policy_client(p, nobody, nogroup) == NULL, "a stranger found a client");
}

/*
 * The [access NAME PURPOSE] headers of the file, as inih reads them, that
 * are plainly well-formed: the line starts with '[', has no comment
 * character, fits inih's limits. Each must name a client of p exactly.
 */
static void
check_access_headers(const struct policy *p, const uint8_t *data, size_t size)
{
	/* inih splits long lines: then the file's lines are not its lines. */
	for (size_t i = 0, start = 0; i <= size; i++) {
		if (i == size || data[i] == '\n') {
			if (i - start >= INI_LINE_MAX - 1)
				return;
			start = i + 1;
		} else if (data[i] == '\0') {
			return;
		}
	}
	for (size_t start = 0; start < size;) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t end = nl ? (size_t)(nl - data) : size;
		const char *line = (const char *)data + start;
		size_t n = end - start;
		start = end + 1;
		const char *close = memchr(line, ']', n);
		if (n == 0 || line[0] != '[' || close == NULL)
			continue;
		size_t slen = (size_t)(close - line - 1);
		char section[INI_SECTION_MAX], kind[16], name[64], purpose[64], extra[2];
		if (slen >= INI_SECTION_MAX || memchr(line, ';', slen + 1) || memchr(line, '#', slen + 1))
			continue;
		memcpy(section, line + 1, slen);
		section[slen] = '\0';
		if (sscanf(section, "%15s %63s %63s %1s", kind, name, purpose, extra) != 3 ||
		    strcmp(kind, "access") != 0 || vault_purpose_from_name(purpose) == 0)
			continue;
		int found = 0;
		for (size_t i = 0; i < p->nclients && !found; i++)
			found = strcmp(p->clients[i].name, name) == 0;
		if (!found && fuzz_known_bug("policy-access-name-truncated"))
			continue;
		fuzz_assert(found, "[access %s %s] was accepted, yet no client is named \"%s\"",
		    name, purpose, name);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy p, again;
	char err[512];

	FILE *f = fopen(path, "wb");
	fuzz_assert(f != NULL, "cannot write %s", path);
	fuzz_assert(fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write %s", path);

	memset(err, 'x', sizeof(err));
	int rc = policy_load(&p, path, 0, err, sizeof(err));
	fuzz_assert(rc == 0 || rc == VAULT_E_CONFIG, "policy_load returned %d", rc);
	if (rc != 0) {
		size_t n = strnlen(err, sizeof(err));
		fuzz_assert(n > 0 && n < sizeof(err), "error message missing or unterminated");
		fuzz_assert(p.clients == NULL && p.nclients == 0 && !p.open, "a failed load left a policy");
		return 0;
	}
	check_policy(&p);
	check_access_headers(&p, data, size);

	fuzz_assert(policy_load(&again, path, 0, err, sizeof(err)) == 0, "a second load failed: %s", err);
	fuzz_assert(again.nclients == p.nclients && again.open == p.open &&
	    (p.nclients == 0 || memcmp(again.clients, p.clients, p.nclients * sizeof(*p.clients)) == 0),
	    "loading the same file twice differs");
	policy_free(&again);
	policy_free(&p);
	return 0;
}
