/*
 * breach_report.c - "vaultctl breach report (--client NAME | --uid UID |
 * --all) --from TIME --to TIME [--notify --out FILE]": which records a
 * client (or every client of a uid, or every client) received between two
 * times, and which fields of each, from the audit trail, which the server
 * verifies as it reads it (breach_report). Prints, one a line:
 *
 *   record TOKEN fields=F1,F2 clients=C1,C2
 *   deleted at TIME fields=F1,F2 clients=C1,C2
 *
 * then the counts of people (records still in the vault) and records by
 * field. No personal data: tokens, field and client names.
 *
 * --notify (purpose security; -p defaults to security here) also asks for
 * the notification list: a JSON document holding each affected person's
 * contact channel (email, else postal address), signed like exports. It
 * holds personal data, so it goes only to --out FILE, created new with
 * mode 0600 (never replacing a file) before the request is sent, its
 * signature to FILE.sig ("vaultctl export verify FILE" checks it).
 *
 * JSON: the server's result; with --notify the document is left out and
 * "file" and "signature_file" say where it went.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "client", 1 },
	{ "uid", 1 },
	{ "all", 0 },
	{ "from", 1 },
	{ "to", 1 },
	{ "notify", 0 },
	{ "out", 1 },
	{ NULL, 0 },
};

/* TIME as ctl_parse_when(); a date alone at the end of the window: its last second. */
static int
when(const char *s, int end, uint64_t *out)
{
	if (ctl_parse_when(s, out) != 0)
		return -1;
	if (end && strlen(s) == 10 && s[4] == '-')
		*out += 86399;
	return 0;
}

static void
put_names(const char *label, const json_t *a)
{
	size_t i;
	json_t *v;
	printf(" %s=", label);
	if (json_array_size(a) == 0)
		putchar('-');
	json_array_foreach(a, i, v) {
		if (i > 0)
			putchar(',');
		ctl_put_text(json_string_value(v));
	}
}

static void
print_report(const json_t *res)
{
	size_t i;
	json_t *r;
	const char *k;
	char t[CTL_TIME_LEN];

	json_array_foreach(json_object_get(res, "records"), i, r) {
		if (strcmp(ctl_jstr(r, "state"), "live") == 0) {
			printf("record ");
			ctl_put_text(ctl_jstr(r, "record"));
		} else {
			printf("deleted at %s", ctl_time_iso(ctl_jint(r, "deleted_at"), t));
		}
		put_names("fields", json_object_get(r, "fields"));
		put_names("clients", json_object_get(r, "clients"));
		putchar('\n');
	}
	printf("%" JSON_INTEGER_FORMAT " %s still in the vault, %" JSON_INTEGER_FORMAT
	    " deleted, from %" JSON_INTEGER_FORMAT " audit %s (%" JSON_INTEGER_FORMAT
	    " entries of the trail verified)\n", ctl_jint(res, "people"),
	    ctl_plural((uint64_t)ctl_jint(res, "people"), "person", "people"),
	    ctl_jint(res, "deleted"), ctl_jint(res, "entries"),
	    ctl_plural((uint64_t)ctl_jint(res, "entries"), "entry", "entries"),
	    ctl_jint(res, "verified_entries"));
	json_object_foreach(json_object_get(res, "by_field"), k, r) {
		printf("field ");
		ctl_put_text(k);
		printf(": %" JSON_INTEGER_FORMAT " records, %" JSON_INTEGER_FORMAT " people\n",
		    ctl_jint(r, "records"), ctl_jint(r, "people"));
	}
	if (ctl_jint(res, "unmapped_entries") > 0)
		printf("%" JSON_INTEGER_FORMAT " entries in the window were made under an index "
		    "key the ring no longer holds: their records cannot be named\n",
		    ctl_jint(res, "unmapped_entries"));
	if (ctl_jint(res, "unmapped_records") > 0)
		printf("%" JSON_INTEGER_FORMAT " records named in the window left no trace in "
		    "the vault (not even a tombstone)\n", ctl_jint(res, "unmapped_records"));
	if (ctl_jint(res, "damaged_after_window") > 0)
		printf("note: the trail is damaged after the window, from entry %"
		    JSON_INTEGER_FORMAT " (run audit verify)\n",
		    ctl_jint(res, "damaged_after_window"));
}

int
ctl_cmd_breach_report(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *client = NULL, *out = NULL, *doc;
	char *val, *sigpath = NULL, *sigline = NULL;
	uint64_t from = 0, to = 0, uid = 0;
	int have_from = 0, have_to = 0, have_uid = 0, all = 0, notify = 0;
	int fd = -1, sfd = -1, rc = CTL_EXIT_OK, argno, done = 0;
	json_t *args, *res = NULL;
	struct ctl_args a;
	enum ctl_arg_kind k;

	ctl_args_init(&a, argc, argv);
	a.cmd = "breach report";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_POSITIONAL)
			return ctl_usage_error(c, "breach report: argument %d: no positional "
			    "arguments", argno);
		if (strcmp(opt->name, "client") == 0) {
			client = val;
		} else if (strcmp(opt->name, "uid") == 0) {
			if (ctl_parse_id(val, &uid) != 0 && strcmp(val, "0") != 0)
				return ctl_usage_error(c, "breach report: --uid wants a number");
			if (strcmp(val, "0") == 0)
				uid = 0;
			have_uid = 1;
		} else if (strcmp(opt->name, "all") == 0) {
			all = 1;
		} else if (strcmp(opt->name, "from") == 0) {
			if (when(val, 0, &from) != 0)
				return ctl_usage_error(c, "breach report: --from wants a time "
				    "(Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
			have_from = 1;
		} else if (strcmp(opt->name, "to") == 0) {
			if (when(val, 1, &to) != 0)
				return ctl_usage_error(c, "breach report: --to wants a time "
				    "(Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
			have_to = 1;
		} else if (strcmp(opt->name, "notify") == 0) {
			notify = 1;
		} else if (val[0] == '\0') {
			return ctl_usage_error(c, "breach report: --out wants one file");
		} else {
			out = val;
		}
	}
	if ((client != NULL) + have_uid + all != 1)
		return ctl_usage_error(c, "breach report: name one of --client NAME, --uid UID "
		    "or --all");
	if (!have_from || !have_to)
		return ctl_usage_error(c, "breach report: --from TIME and --to TIME are needed");
	if (notify != (out != NULL))
		return ctl_usage_error(c, "breach report: --notify needs --out FILE (the list "
		    "holds contact details: it goes only to a file), and --out only goes "
		    "with --notify");
	if (out != NULL) {
		if (asprintf(&sigpath, "%s.sig", out) < 0)
			return ctl_local_error(c, VAULT_E_NOMEM, "breach report: out of memory");
		fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = ctl_usage_error(c, "breach report: cannot create %s: %s", out,
			    strerror(errno));
			goto out;
		}
		sfd = open(sigpath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (sfd < 0) {
			rc = ctl_usage_error(c, "breach report: cannot create %s: %s", sigpath,
			    strerror(errno));
			goto out;
		}
	}
	args = json_pack("{s:I, s:I}", "from", (json_int_t)from, "to", (json_int_t)to);
	if (args == NULL || (client != NULL && ctl_json_set_str(args, "client", client) != 0) ||
	    (have_uid && json_object_set_new(args, "uid", json_integer((json_int_t)uid)) != 0) ||
	    (all && json_object_set_new(args, "all", json_true()) != 0) ||
	    (notify && json_object_set_new(args, "notify", json_true()) != 0)) {
		json_decref(args);
		rc = ctl_local_error(c, VAULT_E_NOMEM, "breach report: out of memory");
		goto out;
	}
	if ((rc = ctl_call(c, "breach_report", c->purpose ? c->purpose : VAULT_PURPOSE_SECURITY,
	    args, &res)) != CTL_EXIT_OK)
		goto out;
	if (notify) {
		doc = json_string_value(json_object_get(res, "notification"));
		if (doc == NULL || asprintf(&sigline, CTL_SIG_ALGORITHM " %" JSON_INTEGER_FORMAT
		    " %s\n", ctl_jint(res, "key_version"), ctl_jstr(res, "signature")) < 0) {
			sigline = NULL;
			rc = ctl_local_error(c, VAULT_E_PROTO_FRAME, "breach report: the answer "
			    "has no notification list");
			goto out;
		}
		if (ctl_write_all(fd, doc, strlen(doc)) != 0 || fsync(fd) != 0 ||
		    ctl_write_all(sfd, sigline, strlen(sigline)) != 0 || fsync(sfd) != 0) {
			rc = ctl_local_error(c, VAULT_E_IO, "breach report: cannot write %s or "
			    "%s: %s", out, sigpath, strerror(errno));
			goto out;
		}
		done = 1;
		/* The list holds contact details: never printed. */
		sodium_memzero((char *)doc, strlen(doc));
		json_object_del(res, "notification");
	}
	if (c->json) {
		if (notify && (ctl_json_set_str(res, "file", out) != 0 ||
		    ctl_json_set_str(res, "signature_file", sigpath) != 0))
			rc = ctl_local_error(c, VAULT_E_NOMEM, "breach report: out of memory");
		else
			rc = ctl_json_emit(c, json_incref(res));
	} else {
		print_report(res);
		if (notify)
			printf("notification list written to %s, signature to %s (key version %"
			    JSON_INTEGER_FORMAT ")\n", out, sigpath, ctl_jint(res, "key_version"));
	}
out:
	if (fd >= 0) {
		close(fd);
		if (!done)
			unlink(out);
	}
	if (sfd >= 0) {
		close(sfd);
		if (!done)
			unlink(sigpath);
	}
	free(sigpath);
	free(sigline);
	json_decref(res);
	return rc;
}
