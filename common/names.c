/*
 * names.c - wire names of purposes, token kinds and deletion reasons.
 */
#include <string.h>

#include <vault/vault.h>

#include "names.h"

struct name_entry {
	int value;
	const char *name;
};

static const struct name_entry purposes[] = {
	{ VAULT_PURPOSE_TRANSACTIONAL, "transactional" },
	{ VAULT_PURPOSE_MARKETING, "marketing" },
	{ VAULT_PURPOSE_MAINTENANCE, "maintenance" },
	{ VAULT_PURPOSE_SECURITY, "security" },
	{ VAULT_PURPOSE_LEGAL, "legal" },
};

static const struct name_entry token_kinds[] = {
	{ VAULT_TOKEN_OPAQUE, "opaque" },
	{ VAULT_TOKEN_CARD, "card" },
	{ VAULT_TOKEN_DETERMINISTIC, "deterministic" },
};

static const struct name_entry reasons[] = {
	{ VAULT_DELETE_SUBJECT_REQUEST, "subject_request" },
	{ VAULT_DELETE_RETENTION, "retention" },
	{ VAULT_DELETE_ADMINISTRATIVE, "administrative" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *
to_name(const struct name_entry *t, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == value)
			return t[i].name;
	return NULL;
}

static int
from_name(const struct name_entry *t, size_t n, const char *name)
{
	if (name == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].value;
	return 0;
}

const char *
vault_purpose_name(enum vault_purpose p)
{
	return to_name(purposes, N(purposes), (int)p);
}

enum vault_purpose
vault_purpose_from_name(const char *name)
{
	return (enum vault_purpose)from_name(purposes, N(purposes), name);
}

const char *
vault_token_kind_name(enum vault_token_kind k)
{
	return to_name(token_kinds, N(token_kinds), (int)k);
}

enum vault_token_kind
vault_token_kind_from_name(const char *name)
{
	return (enum vault_token_kind)from_name(token_kinds, N(token_kinds), name);
}

const char *
vault_delete_reason_name(enum vault_delete_reason r)
{
	return to_name(reasons, N(reasons), (int)r);
}

enum vault_delete_reason
vault_delete_reason_from_name(const char *name)
{
	return (enum vault_delete_reason)from_name(reasons, N(reasons), name);
}

static int
from_bytes(const struct name_entry *t, size_t n, const char *s, size_t len)
{
	if (s == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strlen(t[i].name) == len && memcmp(t[i].name, s, len) == 0)
			return t[i].value;
	return 0;
}

enum vault_purpose
names_purpose(const char *s, size_t len)
{
	return (enum vault_purpose)from_bytes(purposes, N(purposes), s, len);
}

enum vault_token_kind
names_token_kind(const char *s, size_t len)
{
	return (enum vault_token_kind)from_bytes(token_kinds, N(token_kinds), s, len);
}

enum vault_delete_reason
names_delete_reason(const char *s, size_t len)
{
	return (enum vault_delete_reason)from_bytes(reasons, N(reasons), s, len);
}
