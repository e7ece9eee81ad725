/*
 * reload.h - replacing the policy in force from its file: on SIGHUP and
 * with the policy_reload operation (PROTOCOL.md). policy.h says how the
 * swap is safe while workers read the policy.
 */
#ifndef VAULT_RELOAD_H
#define VAULT_RELOAD_H

#include <stddef.h>

struct vault_services;

/*
 * Load the configured policy file completely and, only if it is valid
 * (and not writable by others, as at start), make it the policy in force;
 * otherwise the policy in force stays. by names who asked, for the log
 * ("SIGHUP", "uid 0"). Returns 0, or VAULT_E_CONFIG with "policy FILE:
 * REASON" (line numbers included) in err; the log says the same.
 * Reloads are serialized. The caller writes the audit entry.
 */
int policy_reload(struct vault_services *svc, const char *by, char *err, size_t errlen);

#endif
