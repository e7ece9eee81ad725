/*
 * update.c - "vaultctl update TOKEN [FIELD=VALUE...] [--clear FIELD]...
 * [--document NAME:TYPE:PATH]... [--remove-document SLOT]...
 * [--opt-out CHANNEL]... [--opt-in CHANNEL]... [--child|--no-child]": one
 * all-or-nothing change to a record's fields and documents, then one call
 * per marketing channel whose choice is recorded
 * (vault_set_marketing_opt_out), then one for the child flag (update with
 * "child", through vault_call_json()).
 *
 * The parts are separate requests: if a channel's call or the child
 * flag's fails, what came before it stays done, and the error says so
 * ("applied").
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "clear", 1 },
	{ "document", 1 },
	{ "remove-document", 1 },
	{ "opt-out", 1 },
	{ "opt-in", 1 },
	{ "child", 0 },
	{ "no-child", 0 },
	{ NULL, 0 },
};

/* The marketing choices asked for, in the order first given. */
struct consent {
	int want[CTL_NCHANNELS];   /* -1 not given, 0 opt in, 1 opt out */
	int order[CTL_NCHANNELS];
	int n;
};

static int
add_consent(struct ctl *c, struct consent *k, const char *opt, const char *val)
{
	int out = strcmp(opt, "opt-out") == 0;
	int i = ctl_channel_index(val);

	/* The argument is not echoed: only the three names are valid. */
	if (i < 0)
		return ctl_usage_error(c, "update: --%s wants a channel: email, phone "
		    "or mail", opt);
	if (k->want[i] == !out)
		return ctl_usage_error(c, "update: both --opt-out and --opt-in %s",
		    ctl_channels[i]);
	if (k->want[i] < 0)
		k->order[k->n++] = i;
	k->want[i] = out;
	return CTL_EXIT_OK;
}

/* --child or --no-child (want 1 or 0) into *child (-1: not given). */
static int
add_child(struct ctl *c, int *child, int want)
{
	if (*child == !want)
		return ctl_usage_error(c, "update: both --child and --no-child");
	*child = want;
	return CTL_EXIT_OK;
}

/* The child flag, in an update of its own: 0 or a vault error code. */
static int
set_child(struct ctl *c, const char *token, int child)
{
	json_t *args = json_pack("{s:s, s:b}", "record", token, "child", child);
	char text[512];
	size_t n;

	if (args == NULL)
		return VAULT_E_NOMEM;
	n = json_dumpb(args, text, sizeof(text) - 1, JSON_COMPACT);
	json_decref(args);
	if (n == 0 || n >= sizeof(text))
		return VAULT_E_TOO_LARGE;    /* a token is at most 72 bytes */
	text[n] = '\0';
	return vault_call_json(c->v, "update", c->purpose, text, NULL);
}

/*
 * A channel's call failed after earlier steps succeeded: report the
 * vault's error and what was already applied.
 */
static int
partial_error(struct ctl *c, int rc, int changes, const struct consent *k, int done)
{
	int e = errno;     /* the library's reason for a local VAULT_E_IO */
	char text[128] = "";
	size_t used = 0;
	json_t *applied = json_array(), *extra = json_object();

	for (int s = -1; s < done; s++) {
		char step[32];

		if (s < 0 && !changes)
			continue;
		if (s < 0)
			snprintf(step, sizeof(step), "changes");
		else
			snprintf(step, sizeof(step), "%s %s",
			    k->want[k->order[s]] ? "opt-out" : "opt-in",
			    ctl_channels[k->order[s]]);
		if (used < sizeof(text))
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s",
			    used > 0 ? ", " : "", step);
		if (applied != NULL)
			json_array_append_new(applied, json_string(step));
	}
	if (applied == NULL || extra == NULL ||
	    json_object_set_new(extra, "applied", applied) != 0) {
		json_decref(extra);
		extra = NULL;
	}
	errno = e;
	ctl_vault_error(c, rc, extra);
	if (!c->json && text[0] != '\0')
		fprintf(stderr, "vaultctl: update: already applied: %s\n", text);
	return CTL_EXIT_VAULT;
}

int
ctl_cmd_update(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	struct vault_record *set = NULL;
	struct consent k = { .want = { -1, -1, -1 } };
	const char *token = NULL;
	const char **clear = NULL;
	uint32_t *slots = NULL;
	size_t nclear = 0, nslots = 0;
	struct ctl_args a;
	enum ctl_arg_kind kind;
	unsigned long slot;
	int rc, argno, changes, child = -1;
	char *val;

	clear = calloc((size_t)argc, sizeof(*clear));
	slots = calloc((size_t)argc, sizeof(*slots));
	if (clear == NULL || slots == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "update: out of memory");
		goto out;
	}
	if ((rc = vault_record_new(&set)) != 0) {
		rc = ctl_vault_error(c, rc, NULL);
		goto out;
	}
	ctl_args_init(&a, argc, argv);
	while ((kind = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		rc = CTL_EXIT_OK;
		if (kind == CTL_ARG_ERROR)
			rc = CTL_EXIT_USAGE;
		else if (kind == CTL_ARG_POSITIONAL && token == NULL)
			token = val;
		else if (kind == CTL_ARG_POSITIONAL)
			rc = ctl_add_field(c, a.cmd, set, val, argno);
		else if (strcmp(opt->name, "document") == 0)
			rc = ctl_add_document(c, a.cmd, set, val);
		else if (strcmp(opt->name, "opt-out") == 0 || strcmp(opt->name, "opt-in") == 0)
			rc = add_consent(c, &k, opt->name, val);
		else if (strcmp(opt->name, "child") == 0 || strcmp(opt->name, "no-child") == 0)
			rc = add_child(c, &child, opt->name[0] == 'c');
		else if (strcmp(opt->name, "clear") == 0 && val[0] == '\0')
			rc = ctl_usage_error(c, "update: --clear wants a field name");
		else if (strcmp(opt->name, "clear") == 0)
			clear[nclear++] = val;
		else if (ctl_parse_uint(val, 1, 65534, &slot) != 0)
			rc = ctl_usage_error(c, "update: --remove-document wants a slot "
			    "number, 1 to 65534");
		else
			slots[nslots++] = (uint32_t)slot;
		if (rc != CTL_EXIT_OK)
			goto out;
	}
	if (token == NULL) {
		rc = ctl_usage_error(c, "update: which record? (update TOKEN ...)");
		goto out;
	}
	changes = vault_record_field_count(set) > 0 ||
	    vault_record_document_count(set) > 0 || nclear > 0 || nslots > 0;
	if (!changes && k.n == 0 && child < 0) {
		rc = ctl_usage_error(c, "update: nothing to change");
		goto out;
	}
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		goto out;
	if (changes) {
		rc = vault_update(c->v, c->purpose, token, set, clear, nclear, slots,
		    nslots);
		if (rc != 0) {
			rc = ctl_vault_error(c, rc, NULL);
			goto out;
		}
	}
	for (int i = 0; i < k.n; i++) {
		int ch = k.order[i];

		rc = vault_set_marketing_opt_out(c->v, c->purpose, token, ctl_channels[ch],
		    k.want[ch]);
		if (rc != 0) {
			rc = changes || i > 0 ? partial_error(c, rc, changes, &k, i) :
			    ctl_vault_error(c, rc, NULL);
			goto out;
		}
	}
	if (child >= 0 && (rc = set_child(c, token, child)) != 0) {
		rc = changes || k.n > 0 ? partial_error(c, rc, changes, &k, k.n) :
		    ctl_vault_error(c, rc, NULL);
		goto out;
	}
	if (c->json) {
		rc = ctl_json_emit(c, json_pack("{s:b}", "ok", 1));
	} else {
		puts("ok");
		rc = CTL_EXIT_OK;
	}
out:
	vault_record_free(set);
	free(clear);
	free(slots);
	return rc;
}
