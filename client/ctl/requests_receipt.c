/*
 * requests_receipt.c - "vaultctl requests receipt ID --out FILE": save the
 * signed receipt of a completed deletion to FILE and FILE.sig, as
 * "requests complete --out" does. A deletion deferred by holds completes
 * later on its own (when the last hold is lifted or expires): this is how
 * its receipt reaches the person.
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

static int
save(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return fsync(fd);
}

int
ctl_cmd_requests_receipt(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *id_arg = NULL, *out = NULL, *receipt;
	char *val, *sigpath = NULL, *sigline = NULL;
	json_t *args, *res = NULL;
	int rc = CTL_EXIT_OK, argno, fd = -1, sfd = -1;
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
	if (asprintf(&sigpath, "%s.sig", out) < 0 ||
	    asprintf(&sigline, CTL_SIG_ALGORITHM " %" JSON_INTEGER_FORMAT " %s\n",
	    ctl_jint(res, "key_version"), ctl_jstr(res, "signature")) < 0) {
		sigpath = sigline = NULL;
		rc = ctl_local_error(c, VAULT_E_NOMEM, "requests receipt: out of memory");
		goto out;
	}
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	sfd = fd < 0 ? -1 : open(sigpath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0 || sfd < 0) {
		rc = ctl_usage_error(c, "requests receipt: cannot create %s: %s",
		    fd < 0 ? out : sigpath, strerror(errno));
		if (fd >= 0)
			unlink(out);
		goto out;
	}
	if (save(fd, receipt) != 0 || save(sfd, sigline) != 0) {
		rc = ctl_local_error(c, VAULT_E_IO, "requests receipt: cannot write %s: %s",
		    out, strerror(errno));
		unlink(out);
		unlink(sigpath);
		goto out;
	}
	if (c->json) {
		json_t *o = json_pack("{s:I, s:s, s:s}", "request", (json_int_t)id, "file", out,
		    "signature_file", sigpath);
		rc = o ? ctl_json_emit(c, o) : ctl_local_error(c, VAULT_E_NOMEM,
		    "requests receipt: out of memory");
	} else {
		printf("request %s: receipt written to %s, signature to %s\n", id_arg, out, sigpath);
	}
out:
	if (fd >= 0)
		close(fd);
	if (sfd >= 0)
		close(sfd);
	free(sigpath);
	free(sigline);
	json_decref(res);
	return rc;
}
