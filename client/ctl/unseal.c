/*
 * unseal.c - "vaultctl unseal": open a passphrase-sealed key ring.
 *
 * The passphrase never comes from the command line (ps, shell history):
 * common/passphrase.c reads it from the terminal with echo off, or as one
 * line of standard input, so scripts can pipe it in, into a buffer kept
 * out of swap where possible and wiped once the call is over; the client
 * library wipes its own copy in its request buffer. It is never printed,
 * not even in an error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>
#include <vault/vault.h>

#include "common/passphrase.h"
#include "ctl.h"

#define PASS_MAX PASSPHRASE_MAX

int
ctl_cmd_unseal(struct ctl *c, int argc, char **argv)
{
	char pass[PASS_MAX + 1];
	const char *from = "standard input";
	enum passphrase_result res;
	size_t len = 0;
	int rc, locked;

	if ((rc = ctl_no_args(c, argv[0], argc, argv)) != CTL_EXIT_OK)
		return rc;
	/* Connect first: no point typing a passphrase for a dead socket. */
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	locked = mlock(pass, sizeof(pass)) == 0;
	res = passphrase_read("Passphrase (or PKCS#11 PIN): ", pass, &len, &from);
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
		rc = ctl_usage_error(c, "unseal: the passphrase is longer than %d bytes",
		    PASS_MAX);
		goto out;
	case PASSPHRASE_EMPTY:
		rc = ctl_usage_error(c, "unseal: empty passphrase");
		goto out;
	case PASSPHRASE_EOF:
		rc = ctl_usage_error(c, "unseal: no passphrase on %s", from);
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
	if (locked)
		munlock(pass, sizeof(pass));
	return rc;
}
