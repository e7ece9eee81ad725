/*
 * policy_reload.c - "vaultctl policy reload" (administrators): the server
 * reads its policy file again and puts it in force only if it is valid,
 * as on SIGHUP. Prints "policy reloaded from FILE: N clients"; a bad file
 * is reported as the server's VAULT_E_CONFIG error, naming the file, the
 * line and the reason (the policy in force stays), exit 1.
 */
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_policy_reload(struct ctl *c, int argc, char **argv)
{
	json_t *res = NULL;
	int rc;

	if ((rc = ctl_no_args(c, "policy reload", argc, argv)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_call(c, "policy_reload", 0, NULL, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json)
		return ctl_json_emit(c, res);
	printf("policy reloaded from ");
	ctl_put_text(ctl_jstr(res, "file"));
	printf(": %lld clients\n", (long long)ctl_jint(res, "clients"));
	json_decref(res);
	return CTL_EXIT_OK;
}
