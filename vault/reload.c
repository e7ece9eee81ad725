/*
 * reload.c - replacing the policy in force from its file (see reload.h).
 */
#include <pthread.h>
#include <stdio.h>

#include <vault/vault.h>

#include "log.h"
#include "policy.h"
#include "reload.h"
#include "safedir.h"
#include "services.h"

/* One reload at a time: two would race to publish in either order. */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

int
policy_reload(struct vault_services *svc, const char *by, char *err, size_t errlen)
{
	const char *path = svc->cfg.policy_file;
	struct policy *next = NULL;
	char why[512];
	int rc = VAULT_E_CONFIG;

	pthread_mutex_lock(&reload_lock);
	if (path[0] == '\0') {
		snprintf(err, errlen, "no [policy] file is configured: the development "
		    "policy stays in force");
		log_error("policy reload (%s): %s", by, err);
		goto out;
	}
	if (safedir_config_file(path, why, sizeof(why)) != 0 ||
	    (rc = policy_new(path, 0, &next, why, sizeof(why))) != 0) {
		rc = VAULT_E_CONFIG;
		snprintf(err, errlen, "policy %s: %s; the policy in force is unchanged",
		    path, why);
		log_error("policy reload (%s): %s", by, err);
		goto out;
	}
	size_t n = next->nclients;
	policy_current_publish(&svc->policy, next);
	log_info("policy reload (%s): %s is in force, %zu clients; open connections "
	    "are matched again at their next request", by, path, n);
	rc = 0;
out:
	pthread_mutex_unlock(&reload_lock);
	return rc;
}
