/*
 * requests_receipt.c - "vaultctl requests receipt ID --out FILE": save the
 * signed receipt of a completed deletion to FILE and FILE.sig, as
 * "requests complete --out" does. A deletion deferred by holds completes
 * later on its own (when the last hold is lifted or expires): this is how
 * its receipt reaches the person. Once the retire that ends the request's
 * erasure horizon happened, its signed erasure-complete document goes to
 * FILE.erasure and FILE.erasure.sig too ("vaultctl export verify
 * FILE.erasure" checks it). The deletion's acknowledgements so far, signed
 * as of now, go to FILE.acks and FILE.acks.sig.
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

/* s whole to fd, then to the disk. */
static int
save(int fd, const char *s)
{
	return ctl_write_all(fd, s, strlen(s)) != 0 ? -1 : fsync(fd);
}

/* FILE and FILE.sig (created, never overwritten): an enum ctl_exit. */
static int
save_pair(struct ctl *c, const char *out, const char *doc, const char *sigline,
    char **sigpath)
{
	int fd, sfd, rc = CTL_EXIT_OK;

	if (asprintf(sigpath, "%s.sig", out) < 0) {
		*sigpath = NULL;
		return ctl_local_error(c, VAULT_E_NOMEM, "requests receipt: out of memory");
	}
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	sfd = fd < 0 ? -1 : open(*sigpath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0 || sfd < 0) {
		rc = ctl_usage_error(c, "requests receipt: cannot create %s: %s",
		    fd < 0 ? out : *sigpath, strerror(errno));
		if (fd >= 0)
			unlink(out);
	} else if (save(fd, doc) != 0 || save(sfd, sigline) != 0) {
		rc = ctl_local_error(c, VAULT_E_IO, "requests receipt: cannot write %s: %s",
		    out, strerror(errno));
		unlink(out);
		unlink(*sigpath);
	}
	if (fd >= 0)
		close(fd);
	if (sfd >= 0)
		close(sfd);
	return rc;
}

/*
 * A later signed document of the request, if the server sent it, to
 * out.SUFFIX(.sig): the erasure-complete document ("erasure_complete",
 * once issued) or the acknowledgements ("acknowledgements", as of now).
 */
static int
save_extra(struct ctl *c, const json_t *res, const char *out, const char *key,
    const char *suffix, char **path, char **sigpath)
{
	char skey[64], kvkey[64];
	const char *doc = json_string_value(json_object_get(res, key));
	char *sigline = NULL;
	int rc;

	*path = *sigpath = NULL;
	if (doc == NULL)
		return CTL_EXIT_OK;
	/* erasure_complete signs as erasure_signature; the others as KEY_signature. */
	snprintf(skey, sizeof(skey), "%s_signature", strcmp(key, "erasure_complete") ?
	    key : "erasure");
	snprintf(kvkey, sizeof(kvkey), "%s_key_version", strcmp(key, "erasure_complete") ?
	    key : "erasure");
	if (asprintf(path, "%s.%s", out, suffix) < 0 ||
	    asprintf(&sigline, CTL_SIG_ALGORITHM " %" JSON_INTEGER_FORMAT " %s\n",
	    ctl_jint(res, kvkey), ctl_jstr(res, skey)) < 0) {
		free(*path);
		*path = NULL;
		return ctl_local_error(c, VAULT_E_NOMEM, "requests receipt: out of memory");
	}
	rc = save_pair(c, *path, doc, sigline, sigpath);
	free(sigline);
	return rc;
}

int
ctl_cmd_requests_receipt(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *id_arg = NULL, *out = NULL, *receipt;
	char *val, *sigpath = NULL, *sigline = NULL, *epath = NULL, *esigpath = NULL;
	char *apath = NULL, *asigpath = NULL;
	json_t *args, *res = NULL;
	int rc = CTL_EXIT_OK, argno;
	uint64_t id;
	struct ctl_args a;
	enum ctl_arg_kind k;

	ctl_args_init(&a, argc, argv);
	a.cmd = "requests receipt";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_OPTION)
			out = val;
		else if (id_arg == NULL)
			id_arg = val;
		else
			return ctl_usage_error(c, "requests receipt: argument %d: one request id "
			    "only", argno);
	}
	if (id_arg == NULL || ctl_parse_id(id_arg, &id) != 0 || out == NULL || out[0] == '\0')
		return ctl_usage_error(c, "requests receipt: usage: requests receipt ID --out FILE");
	if ((args = json_pack("{s:I}", "request", (json_int_t)id)) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "requests receipt: out of memory");
	if ((rc = ctl_call(c, "request_show", 0, args, &res)) != CTL_EXIT_OK)
		return rc;
	receipt = json_string_value(json_object_get(res, "receipt"));
	if (receipt == NULL) {
		fprintf(stderr, "vaultctl: requests receipt: request %s has no receipt (state ",
		    id_arg);
		fputs(ctl_jstr(res, "state"), stderr);
		fputs("): only a completed deletion has one\n", stderr);
		rc = CTL_EXIT_VAULT;
		goto out;
	}
	if (asprintf(&sigline, CTL_SIG_ALGORITHM " %" JSON_INTEGER_FORMAT " %s\n",
	    ctl_jint(res, "key_version"), ctl_jstr(res, "signature")) < 0) {
		sigline = NULL;
		rc = ctl_local_error(c, VAULT_E_NOMEM, "requests receipt: out of memory");
		goto out;
	}
	if ((rc = save_pair(c, out, receipt, sigline, &sigpath)) != CTL_EXIT_OK)
		goto out;
	if ((rc = save_extra(c, res, out, "erasure_complete", "erasure", &epath,
	    &esigpath)) != CTL_EXIT_OK) {
		unlink(out);
		unlink(sigpath);
		goto out;
	}
	if ((rc = save_extra(c, res, out, "acknowledgements", "acks", &apath,
	    &asigpath)) != CTL_EXIT_OK) {
		unlink(out);
		unlink(sigpath);
		if (epath != NULL) {
			unlink(epath);
			unlink(esigpath);
		}
		goto out;
	}
	if (c->json) {
		json_t *o = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "request",
		    (json_int_t)id, "file", out, "signature_file", sigpath, "erasure_file", epath,
		    "erasure_signature_file", esigpath, "acknowledgements_file", apath,
		    "acknowledgements_signature_file", asigpath);
		rc = o ? ctl_json_emit(c, o) : ctl_local_error(c, VAULT_E_NOMEM,
		    "requests receipt: out of memory");
	} else {
		printf("request %s: receipt written to %s, signature to %s\n", id_arg, out, sigpath);
		if (epath != NULL)
			printf("request %s: erasure-complete document written to %s, signature to "
			    "%s\n", id_arg, epath, esigpath);
		else
			printf("request %s: erasure horizon pending (no erasure-complete document "
			    "yet)\n", id_arg);
		if (apath != NULL)
			printf("request %s: acknowledgements as of now written to %s, signature "
			    "to %s\n", id_arg, apath, asigpath);
	}
out:
	free(sigpath);
	free(sigline);
	free(epath);
	free(esigpath);
	free(apath);
	free(asigpath);
	json_decref(res);
	return rc;
}
