/*
 * ping.c - "vaultctl ping": a round trip that checks the connection and
 * the protocol version.
 */
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_ping(struct ctl *c, int argc, char **argv)
{
	int rc;

	if ((rc = ctl_no_args(c, argv[0], argc, argv)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = vault_ping(c->v)) != 0)
		return ctl_vault_error(c, rc, NULL);
	if (c->json)
		return ctl_json_emit(c, json_pack("{s:b}", "ok", 1));
	puts("ok");
	return CTL_EXIT_OK;
}
