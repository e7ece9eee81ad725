/*
 * list.c - "vaultctl list [--channel CHANNEL] [--after TOKEN] [--limit N]
 * [--all]": record tokens, one a line, a page at a time (vault_list); --all
 * follows the pages to the end. The policy must let the caller list; with
 * purpose marketing the vault wants a channel and skips the records opted
 * out of it (that check is the vault's: vaultctl does not anticipate it).
 *
 * Text output streams page by page; JSON output collects every token into
 * one {"records": [...], "next": TOKEN or null}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

static const struct ctl_option options[] = {
	{ "channel", 1 },
	{ "after", 1 },
	{ "limit", 1 },
	{ "all", 0 },
	{ NULL, 0 },
};

static void
free_page(char **toks, size_t n)
{
	for (size_t i = 0; toks != NULL && i < n; i++)
		vault_free(toks[i]);
	free(toks);
}

int
ctl_cmd_list(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *channel = NULL, *after = NULL;
	unsigned long limit = LIST_DEFAULT;
	int all = 0, have_limit = 0, rc, argno;
	char **toks = NULL, *next = NULL, *cursor = NULL;
	size_t n = 0;
	json_t *records = NULL;
	struct ctl_args a;
	enum ctl_arg_kind k;
	char *val;

	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_POSITIONAL)
			return ctl_usage_error(c, "list: argument %d: list takes options only",
			    argno);
		if (strcmp(opt->name, "all") == 0) {
			all = 1;
		} else if (strcmp(opt->name, "channel") == 0) {
			if (channel != NULL)
				return ctl_usage_error(c, "list: --channel given twice");
			if (ctl_channel_index(val) < 0)
				return ctl_usage_error(c, "list: --channel wants email, phone "
				    "or mail");
			channel = val;
		} else if (strcmp(opt->name, "after") == 0) {
			if (after != NULL)
				return ctl_usage_error(c, "list: --after given twice");
			if (val[0] == '\0')
				return ctl_usage_error(c, "list: --after wants a record token");
			after = val;
		} else {
			if (have_limit)
				return ctl_usage_error(c, "list: --limit given twice");
			if (ctl_parse_uint(val, 1, LIST_MAX, &limit) != 0)
				return ctl_usage_error(c, "list: --limit wants a number, 1 to %d",
				    LIST_MAX);
			have_limit = 1;
		}
	}
	if (c->json && (records = json_array()) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "list: out of memory");
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		goto out;
	for (;;) {
		rc = vault_list(c->v, c->purpose, channel, cursor != NULL ? cursor : after,
		    (unsigned)limit, &toks, &n, &next);
		if (rc != 0) {
			toks = NULL;
			next = NULL;
			rc = ctl_vault_error(c, rc, NULL);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (records == NULL)
				puts(toks[i]);
			else if (json_array_append_new(records, json_string(toks[i])) != 0) {
				rc = ctl_local_error(c, VAULT_E_NOMEM, "list: out of memory");
				goto out;
			}
		}
		/* A page that names a next one but holds nothing would loop. */
		if (next != NULL && n == 0) {
			rc = ctl_local_error(c, VAULT_E_PROTO_FRAME, "list: the vault "
			    "answered an empty page with a next one");
			goto out;
		}
		free_page(toks, n);
		toks = NULL;
		n = 0;
		vault_free(cursor);
		cursor = next;
		next = NULL;
		if (!all || cursor == NULL)
			break;
	}
	if (records != NULL) {
		json_t *root = json_object();

		if (root != NULL && (json_object_set(root, "records", records) != 0 ||
		    json_object_set_new(root, "next",
		    cursor != NULL ? json_string(cursor) : json_null()) != 0)) {
			json_decref(root);
			root = NULL;
		}
		rc = ctl_json_emit(c, root);
	} else {
		if (cursor != NULL)
			fprintf(stderr, "vaultctl: list: more records follow: continue with "
			    "--after the last token above, or use --all\n");
		rc = CTL_EXIT_OK;
	}
out:
	free_page(toks, n);
	vault_free(next);
	vault_free(cursor);
	json_decref(records);
	return rc;
}
