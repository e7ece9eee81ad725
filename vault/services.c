/*
 * services.c - the audit entries every layer writes through the service
 * (see services.h).
 */
#include <time.h>

#include <vault/vault.h>

#include "audit.h"
#include "ctx.h"
#include "keyset.h"
#include "log.h"
#include "policy.h"
#include "services.h"

int
services_audit(struct vault_services *svc, struct audit_batch *batch,
    const struct key_set *keys, const struct policy_client *client, uid_t uid,
    enum vault_purpose purpose,
    const char *op, const struct op_trace *trace, int outcome)
{
	if (svc->audit == NULL)
		return 0;
	if (keys != NULL && !key_set_pinned(keys)) {
		log_error("audit trail: an entry with keys the thread does not pin (a bug)");
		return VAULT_E_INTERNAL;
	}
	/* An operation that ran without keys pins them just for the entry. */
	const struct key_set *ks = keys ? keys : key_set_acquire(svc);
	if (ks == NULL) {
		key_set_release();
		return 0; /* sealed: nothing to chain with (only unseal gets here) */
	}
	struct audit_event ev = {
		.client = client ? client->name : "-",
		.uid = uid,
		.purpose = purpose,
		.op = op,
		.records = trace ? trace->records : NULL,
		.nrecords = trace ? trace->nrecords : 0,
		.fields = trace ? trace->fields : 0,
		.outcome = outcome,
		.time = time(NULL),
	};
	int rc = batch ? audit_batch_add(batch, ks, &ev) : audit_log(svc->audit, ks, &ev);
	if (keys == NULL)
		key_set_release();
	if (rc != 0 && (batch || audit_space(svc->audit) != AUDIT_SPACE_FULL))
		log_error("audit trail: an entry could not be %s; the request fails",
		    batch ? "built" : "written");
	return rc;
}

int
services_audit_alert(struct vault_services *svc, const struct key_set *keys,
    const struct policy_client *client, uid_t uid, const char *alert)
{
	if (svc->audit == NULL || keys == NULL)
		return 0;
	if (!key_set_pinned(keys)) {
		log_error("audit trail: an alert with keys the thread does not pin (a bug)");
		return VAULT_E_INTERNAL;
	}
	struct audit_event ev = {
		.client = client ? client->name : "-",
		.uid = uid,
		.op = "alert",
		.outcome = VAULT_E_RATE_LIMITED, /* not 0: an alert is never "ok" */
		.outcome_name = alert,
		.time = time(NULL),
	};
	return audit_log(svc->audit, keys, &ev);
}
