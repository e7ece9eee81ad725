/*
 * unseal.c - "vaultctl unseal": open a passphrase-sealed key ring (or one
 * sealed by a PKCS#11 token: the PIN), or give one Shamir share of a ring
 * split among operators (--share, --share-file FILE).
 *
 * The passphrase never comes from the command line (ps, shell history):
 * common/passphrase.c reads it from the terminal with echo off, or as one
 * line of standard input, so scripts can pipe it in, into a buffer kept
 * out of swap where possible and wiped once the call is over; the client
 * library wipes its own copy in its request buffer. It is never printed,
 * not even in an error. A share is read the same way (--share), or from a
 * file of the operator's (--share-file), and treated the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <vault/vault.h>

#include "common/passphrase.h"
#include "ctl.h"

#define PASS_MAX PASSPHRASE_MAX

static const struct ctl_option options[] = {
	{ "share", 0 },
	{ "share-file", 1 },
	{ NULL, 0 },
};

/* A share file: a regular file, at most PASS_MAX bytes, one line. */
static int
read_share_file(struct ctl *c, const char *path, char *buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ctl_usage_error(c, "unseal: %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ctl_usage_error(c, "unseal: %s: not a regular file", path);
	}
	ssize_t n = read(fd, buf, PASS_MAX + 1);
	close(fd);
	if (n < 0)
		return ctl_usage_error(c, "unseal: %s: %s", path, strerror(errno));
	if ((size_t)n > PASS_MAX)
		return ctl_usage_error(c, "unseal: %s: longer than a share", path);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	*len = (size_t)n;
	if (n == 0)
		return ctl_usage_error(c, "unseal: %s: empty", path);
	return CTL_EXIT_OK;
}

/*
 * Send one share: the JSON text is built in the caller's locked buffer
 * (only [0-9A-Za-z-] may be in a share, so nothing needs escaping) and the
 * library wipes its own copies.
 */
static int
give_share(struct ctl *c, const char *share, size_t len, char *args, size_t cap)
{
	char *raw = NULL;
	for (size_t i = 0; i < len; i++) {
		char ch = share[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || ch == '-'))
			return ctl_usage_error(c, "unseal: that is not a share (a share is "
			    "vs1-, digits, letters a-f and dashes)");
	}
	if ((size_t)snprintf(args, cap, "{\"share\":\"%s\"}", share) >= cap)
		return ctl_usage_error(c, "unseal: the share is too long");
	int rc = vault_call_json(c->v, "unseal", 0, args, &raw);
	explicit_bzero(args, cap);
	if (rc != 0)
		return ctl_vault_error(c, rc, NULL);
	json_t *res = json_loads(raw, 0, NULL);
	vault_free(raw);
	if (res == NULL)
		return ctl_local_error(c, VAULT_E_PROTO_FRAME, "unseal: unreadable reply");
	int sealed = json_is_true(json_object_get(res, "sealed"));
	json_int_t given = json_integer_value(json_object_get(res, "shares_given"));
	json_int_t needed = json_integer_value(json_object_get(res, "shares_needed"));
	if (c->json)
		return ctl_json_emit(c, res);
	if (sealed)
		printf("share accepted: %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
		    " given; still sealed\n", given, needed);
	else
		puts("unsealed");
	json_decref(res);
	return CTL_EXIT_OK;
}

int
ctl_cmd_unseal(struct ctl *c, int argc, char **argv)
{
	char pass[PASS_MAX + 1], args[PASS_MAX + 32];
	const char *from = "standard input", *share_file = NULL;
	const struct ctl_option *opt;
	struct ctl_args a;
	enum ctl_arg_kind k;
	enum passphrase_result res;
	size_t len = 0;
	int rc, locked, locked2, share = 0, argno;
	char *val;

	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_POSITIONAL)
			return ctl_usage_error(c, "unseal takes no arguments (the passphrase "
			    "or share is read from the terminal or standard input)");
		if (strcmp(opt->name, "share") == 0)
			share = 1;
		else
			share_file = val;
	}
	/* Connect first: no point typing a passphrase for a dead socket. */
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	locked = mlock(pass, sizeof(pass)) == 0;
	locked2 = mlock(args, sizeof(args)) == 0;
	if (share_file != NULL) {
		if ((rc = read_share_file(c, share_file, pass, &len)) == CTL_EXIT_OK)
			rc = give_share(c, pass, len, args, sizeof(args));
		goto out;
	}
	res = passphrase_read(share ? "Share: " : "Passphrase (or PKCS#11 PIN): ", pass, &len,
	    &from);
	switch (res) {
	case PASSPHRASE_NO_TTY:
		rc = ctl_usage_error(c, "unseal: cannot use the terminal: %s", strerror(errno));
		goto out;
	case PASSPHRASE_OK:
		break;
	case PASSPHRASE_ERROR:
		rc = ctl_usage_error(c, "unseal: cannot read %s: %s", from, strerror(errno));
		goto out;
	case PASSPHRASE_TOO_LONG:
		rc = ctl_usage_error(c, "unseal: the %s is longer than %d bytes",
		    share ? "share" : "passphrase", PASS_MAX);
		goto out;
	case PASSPHRASE_EMPTY:
		rc = ctl_usage_error(c, "unseal: empty %s", share ? "share" : "passphrase");
		goto out;
	case PASSPHRASE_EOF:
		rc = ctl_usage_error(c, "unseal: no %s on %s", share ? "share" : "passphrase",
		    from);
		goto out;
	}
	if (share) {
		rc = give_share(c, pass, len, args, sizeof(args));
		goto out;
	}
	if (memchr(pass, '\0', len) != NULL) {
		rc = ctl_usage_error(c, "unseal: the passphrase holds a NUL byte");
		goto out;
	}
	rc = vault_unseal(c->v, pass);
	explicit_bzero(pass, sizeof(pass));
	if (rc != 0) {
		rc = ctl_vault_error(c, rc, NULL);
		goto out;
	}
	if (c->json) {
		rc = ctl_json_emit(c, json_pack("{s:b}", "sealed", 0));
	} else {
		puts("unsealed");
		rc = CTL_EXIT_OK;
	}
out:
	explicit_bzero(pass, sizeof(pass));
	explicit_bzero(args, sizeof(args));
	if (locked)
		munlock(pass, sizeof(pass));
	if (locked2)
		munlock(args, sizeof(args));
	return rc;
}
