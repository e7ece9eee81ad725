/*
 * requests_complete.c - "vaultctl requests complete ID [--out FILE]":
 * carry out a verified request (request_complete).
 *
 * - A completed deletion or right-to-know request comes back as a signed
 *   JSON document (a receipt, or the export). With --out FILE it is
 *   written to FILE, byte for byte as signed, and its detached signature
 *   to FILE.sig, one line "ed25519 KEY_VERSION BASE64"; both are created
 *   new with mode 0600 (never replacing a file), before the request is
 *   sent, so that a document is never produced with nowhere to go.
 *   Without --out the document goes to standard output exactly as signed
 *   (no newline added: "> FILE" keeps it verifiable) and the signature
 *   line to standard error. An export holds the person's data: prefer --out.
 * - A deletion deferred by holds prints the holds, one a line.
 * - An opt-out prints how many records it changed.
 *
 * JSON: the server's result (signature in base64); with --out, the
 * document is left out and "file" and "signature_file" say where it went.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static const struct ctl_option options[] = {
	{ "out", 1 },
	{ NULL, 0 },
};

/* Write doc and its signature line to the files opened for them. */
static int
write_files(struct ctl *c, int fd, int sfd, const char *path, const char *doc,
    const char *sigline)
{
	if (ctl_write_all(fd, doc, strlen(doc)) != 0 || fsync(fd) != 0)
		return ctl_local_error(c, VAULT_E_IO, "requests complete: cannot write %s: "
		    "%s", path, strerror(errno));
	if (ctl_write_all(sfd, sigline, strlen(sigline)) != 0 || fsync(sfd) != 0)
		return ctl_local_error(c, VAULT_E_IO, "requests complete: cannot write "
		    "%s.sig: %s", path, strerror(errno));
	return CTL_EXIT_OK;
}

int
ctl_cmd_requests_complete(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *id_arg = NULL, *out = NULL, *doc, *what;
	char *sigpath = NULL, *sigline = NULL, *val;
	json_t *args, *res = NULL;
	int fd = -1, sfd = -1, rc = CTL_EXIT_OK, argno, done = 0;
	uint64_t id;
	struct ctl_args a;
	enum ctl_arg_kind k;

	ctl_args_init(&a, argc, argv);
	a.cmd = "requests complete";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_OPTION && (out != NULL || val[0] == '\0'))
			return ctl_usage_error(c, "requests complete: --out wants one file");
		if (k == CTL_ARG_OPTION)
			out = val;
		else if (id_arg == NULL)
			id_arg = val;
		else
			return ctl_usage_error(c, "requests complete: argument %d: one request "
			    "id only", argno);
	}
	if (id_arg == NULL || ctl_parse_id(id_arg, &id) != 0)
		return ctl_usage_error(c, "requests complete: which request? (requests "
		    "complete ID [--out FILE]; ID a number)");
	if (out != NULL) {
		if ((sigpath = malloc(strlen(out) + 5)) == NULL)
			return ctl_local_error(c, VAULT_E_NOMEM, "requests complete: out of "
			    "memory");
		sprintf(sigpath, "%s.sig", out);
		fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = ctl_usage_error(c, "requests complete: cannot create %s: %s", out,
			    strerror(errno));
			goto out;
		}
		sfd = open(sigpath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (sfd < 0) {
			rc = ctl_usage_error(c, "requests complete: cannot create %s: %s",
			    sigpath, strerror(errno));
			goto out;
		}
	}
	if ((args = json_pack("{s:I}", "request", (json_int_t)id)) == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "requests complete: out of memory");
		goto out;
	}
	if ((rc = ctl_call(c, "request_complete", 0, args, &res)) != CTL_EXIT_OK)
		goto out;
	what = json_object_get(res, "receipt") != NULL ? "receipt" : "export";
	doc = json_string_value(json_object_get(res, what));
	if (doc == NULL) {
		/* Deferred (holds) or an opt-out: no document. */
		if (c->json) {
			rc = ctl_json_emit(c, json_incref(res));
		} else if (strcmp(ctl_jstr(res, "state"), "deferred") == 0) {
			printf("request %s deferred: its records are under hold; it completes "
			    "when the last hold is lifted or expires\n", id_arg);
			ctl_print_holds(json_object_get(res, "holds"));
		} else {
			printf("request %s ", id_arg);
			ctl_put_text(ctl_jstr(res, "state"));
			if (json_object_get(res, "records") != NULL)
				printf(": marketing opt-outs set on %" JSON_INTEGER_FORMAT " %s",
				    ctl_jint(res, "records"),
				    ctl_plural((uint64_t)ctl_jint(res, "records"), "record",
				    "records"));
			putchar('\n');
		}
		goto out;
	}
	if (asprintf(&sigline, CTL_SIG_ALGORITHM " %" JSON_INTEGER_FORMAT " %s\n",
	    ctl_jint(res, "key_version"), ctl_jstr(res, "signature")) < 0) {
		sigline = NULL;
		rc = ctl_local_error(c, VAULT_E_NOMEM, "requests complete: out of memory");
		goto out;
	}
	if (out != NULL) {
		/* Completed now: whatever part got written stays. */
		done = 1;
		if ((rc = write_files(c, fd, sfd, out, doc, sigline)) != CTL_EXIT_OK) {
			fprintf(stderr, "vaultctl: requests complete: request %s IS completed, "
			    "but its %s could not be saved whole%s\n", id_arg, what,
			    strcmp(what, "receipt") == 0 ? " (requests show prints it again)" :
			    "");
			goto out;
		}
		if (c->json) {
			json_object_del(res, what);
			if (ctl_json_set_str(res, "file", out) != 0 ||
			    ctl_json_set_str(res, "signature_file", sigpath) != 0)
				rc = ctl_local_error(c, VAULT_E_NOMEM, "requests complete: out of "
				    "memory");
			else
				rc = ctl_json_emit(c, json_incref(res));
		} else {
			printf("request %s completed: %s written to %s, signature to %s (key "
			    "version %" JSON_INTEGER_FORMAT ")\n", id_arg, what, out, sigpath,
			    ctl_jint(res, "key_version"));
		}
	} else if (c->json) {
		rc = ctl_json_emit(c, json_incref(res));
	} else {
		fputs(doc, stdout);
		fflush(stdout);
		fputs(sigline, stderr);
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
