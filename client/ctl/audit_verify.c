/*
 * audit_verify.c - "vaultctl audit verify": the server checks its audit
 * trail (every entry's MAC and the hash chain, from the first rotated file
 * to the head file) and says whether it is intact. A damaged trail is the
 * command's answer, not a failed request, but it exits 1 all the same so
 * that a cron job notices. The answer names sequence numbers, never entry
 * contents.
 */
#include <inttypes.h>
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

int
ctl_cmd_audit_verify(struct ctl *c, int argc, char **argv)
{
	struct vault_audit_check chk = { 0 };
	int rc;

	if ((rc = ctl_no_args(c, "audit verify", argc, argv)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = vault_audit_verify(c->v, &chk)) != 0)
		return ctl_vault_error(c, rc, NULL);
	if (c->json) {
		rc = ctl_json_emit(c, json_pack("{s:b, s:I, s:I, s:o, s:o}",
		    "ok", chk.ok,
		    "files", (json_int_t)chk.files,
		    "entries", (json_int_t)chk.entries,
		    "first_bad_seq", chk.first_bad_seq != 0 ?
		    json_integer((json_int_t)chk.first_bad_seq) : json_null(),
		    "reason", chk.ok ? json_null() : json_string(chk.reason)));
		if (rc != CTL_EXIT_OK)
			return rc;
		return chk.ok ? CTL_EXIT_OK : CTL_EXIT_VAULT;
	}
	if (chk.ok) {
		printf("audit trail intact: %" PRIu64 " %s in %u %s\n", chk.entries,
		    ctl_plural(chk.entries, "entry", "entries"), chk.files,
		    ctl_plural(chk.files, "file", "files"));
		return CTL_EXIT_OK;
	}
	/* Not every fault has an entry to name (an altered head file). */
	if (chk.first_bad_seq != 0)
		printf("audit trail DAMAGED at entry %" PRIu64 ": %s\n", chk.first_bad_seq,
		    chk.reason[0] != '\0' ? chk.reason : "no reason given");
	else
		printf("audit trail DAMAGED: %s\n",
		    chk.reason[0] != '\0' ? chk.reason : "no reason given");
	return CTL_EXIT_VAULT;
}
