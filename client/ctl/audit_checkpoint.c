/*
 * audit_checkpoint.c - "vaultctl audit checkpoint": the vault signs the
 * audit trail's last entry (audit_checkpoint); printed as one JSON line, the
 * checkpoint file, to keep off the machine:
 *
 *   {"key_version":K,"mac":"<64 hex>","seq":N,"signature":"<base64>",
 *    "time":T,"type":"vault-audit-checkpoint-v1"}
 *
 * "vaultctl audit verify --checkpoint FILE" later proves the trail still
 * holds that entry and goes on from it (audit_verify.c).
 */
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_audit_checkpoint(struct ctl *c, int argc, char **argv)
{
	json_t *res = NULL, *out;
	int rc;

	if ((rc = ctl_no_args(c, "audit checkpoint", argc, argv)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_call(c, "audit_checkpoint", 0, NULL, &res)) != CTL_EXIT_OK)
		return rc;
	out = json_pack("{s:I, s:s, s:I, s:s, s:I, s:s}",
	    "key_version", ctl_jint(res, "key_version"),
	    "mac", ctl_jstr(res, "mac"),
	    "seq", ctl_jint(res, "seq"),
	    "signature", ctl_jstr(res, "signature"),
	    "time", ctl_jint(res, "time"),
	    "type", CTL_CHECKPOINT_TYPE);
	json_decref(res);
	if (out == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "audit checkpoint: out of memory");
	/* A signed document: its time stays the integer the signature covers. */
	return ctl_json_emit_raw(c, out);
}
