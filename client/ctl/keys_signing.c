/*
 * keys_signing.c - "vaultctl keys signing": the Ed25519 public keys that
 * sign receipts and exports (signing_key), one a line,
 *
 *   version N public key BASE64 [current]
 *
 * for "vaultctl export verify --public-key" on a machine without the vault.
 */
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_keys_signing(struct ctl *c, int argc, char **argv)
{
	json_t *res = NULL, *e;
	json_int_t current;
	size_t i;
	int rc;

	if ((rc = ctl_no_args(c, "keys signing", argc, argv)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_call(c, "signing_key", 0, NULL, &res)) != CTL_EXIT_OK)
		return rc;
	if (c->json) {
		rc = ctl_json_emit(c, json_incref(res));
	} else {
		current = ctl_jint(res, "current");
		json_array_foreach(json_object_get(res, "keys"), i, e) {
			printf("version %" JSON_INTEGER_FORMAT " public key ",
			    ctl_jint(e, "version"));
			ctl_put_text(ctl_jstr(e, "public_key"));
			puts(ctl_jint(e, "version") == current ? " current" : "");
		}
	}
	json_decref(res);
	return rc;
}
