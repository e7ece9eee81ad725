/*
 * status.c - "vaultctl status": the server's facts (no personal data), and
 * whether the vault is sealed (its key epoch shows as 0 then). Like
 * "vault status", it exits 2 when the vault is sealed, so that a script
 * (or a health check) tells "sealed" from "up" and from "failed" (1).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

/* "3d 4h 5m 6s", leaving out leading zero units. */
static void
print_uptime(uint64_t s)
{
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d > 0)
		printf("%" PRIu64 "d ", d);
	if (d > 0 || h > 0)
		printf("%" PRIu64 "h ", h);
	if (d > 0 || h > 0 || m > 0)
		printf("%" PRIu64 "m ", m);
	printf("%" PRIu64 "s\n", s % 60);
}

int
ctl_cmd_status(struct ctl *c, int argc, char **argv)
{
	struct vault_status st;
	int rc;

	if ((rc = ctl_no_args(c, argv[0], argc, argv)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = vault_status(c->v, &st)) != 0)
		return ctl_vault_error(c, rc, NULL);
	/* The alerts by name: the server's list may grow, so take it as it comes. */
	char *raw = NULL;
	json_t *alerts = NULL, *audit = NULL, *rotation = NULL, *version = NULL, *shares = NULL;
	json_t *storage = NULL, *backups = NULL;
	if (vault_call_json(c->v, "status", 0, NULL, &raw) == 0) {
		json_t *all = json_loads(raw, 0, NULL);
		version = json_incref(json_object_get(all, "version"));
		alerts = json_incref(json_object_get(all, "alerts"));
		audit = json_incref(json_object_get(all, "audit"));
		rotation = json_incref(json_object_get(all, "rotation"));
		shares = json_incref(json_object_get(all, "unseal_shares"));
		storage = json_incref(json_object_get(all, "storage"));
		backups = json_incref(json_object_get(all, "backups"));
		json_decref(all);
	}
	/* Older servers send neither. */
	if (!json_is_string(audit)) {
		json_decref(audit);
		audit = json_string("unknown");
	}
	if (!json_is_string(rotation)) {
		json_decref(rotation);
		rotation = json_string("unknown");
	}
	/* Sealed by shares: {"given": k, "needed": K}; else null (older servers: none). */
	if (!json_is_object(shares)) {
		json_decref(shares);
		shares = json_null();
	}
	/* Older servers send none: "ok" (they failed when the store did). */
	if (!json_is_string(storage)) {
		json_decref(storage);
		storage = json_string("ok");
	}
	/* The store cannot be reached: the counts are unknown, and a health
	 * check must not take the vault for up. */
	int reachable = strcmp(json_string_value(storage), "ok") == 0;
	if (!json_is_string(backups)) {
		json_decref(backups);
		backups = json_string("unknown");
	}
	/* Servers before --version send none: null. */
	if (!json_is_string(version)) {
		json_decref(version);
		version = json_null();
	}
	vault_free(raw);
	int exit_rc = !reachable ? CTL_EXIT_VAULT : st.sealed ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	if (!json_is_object(alerts)) {
		json_decref(alerts);
		alerts = json_object();
	}
	/* The counters too for an administrator (metrics is admin only). */
	json_t *metrics = ctl_metrics_fetch(c);
	if (c->json) {
		rc = ctl_json_emit(c, json_pack("{s:o, s:I, s:o, s:o, s:o, s:I, s:I, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		    "version", version,
		    "protocol_version", (json_int_t)st.protocol_version,
		    "records", reachable ? json_integer((json_int_t)st.records) : json_null(),
		    "tombstones", reachable ? json_integer((json_int_t)st.tombstones) : json_null(),
		    "deletion_acks_overdue", reachable ?
		    json_integer((json_int_t)st.deletion_acks_overdue) : json_null(),
		    "kek_epoch", (json_int_t)st.kek_epoch,
		    "uptime_seconds", (json_int_t)st.uptime_seconds,
		    "sealed", st.sealed != 0,
		    "alerts", alerts, "audit", audit, "rotation", rotation, "storage", storage,
		    "backups", backups, "metrics", metrics ? metrics : json_null(), "unseal_shares", shares));
		return rc != CTL_EXIT_OK ? rc : exit_rc;
	}
	printf("protocol version: %" PRIu32 "\n", st.protocol_version);
	if (reachable) {
		printf("records: %" PRIu64 "\n", st.records);
		printf("tombstones: %" PRIu64 "\n", st.tombstones);
	} else {
		printf("records: unknown\ntombstones: unknown\n");
	}
	printf("kek epoch: %" PRIu32 "\n", st.kek_epoch);
	printf("uptime: ");
	print_uptime(st.uptime_seconds);
	printf("sealed: %s\n", st.sealed ? "yes" : "no");

	printf("security alerts: %" PRIu64, st.alerts);
	const char *name;
	json_t *n;
	int first = 1;
	json_object_foreach(alerts, name, n) {
		if (json_integer_value(n) == 0)
			continue;
		printf("%s%s %" JSON_INTEGER_FORMAT, first ? " (" : ", ", name, json_integer_value(n));
		first = 0;
	}
	printf("%s\n", first ? "" : ")");
	json_decref(alerts);
	/* Whether the trail can be written, and a stalled rotation (README, "Disk space"). */
	printf("audit trail: %s\n", json_string_value(audit));
	printf("rotation: %s\n", json_string_value(rotation));
	/* A retire refused for its backup, or none usable younger than the interval. */
	printf("backups: %s\n", json_string_value(backups));
	json_decref(backups);
	json_decref(audit);
	json_decref(rotation);
	/* After these, so the lines above keep their places for scripts. */
	printf("version: %s\n", json_is_string(version) ? json_string_value(version) :
	    "unknown");
	json_decref(version);
	/* Notices not acknowledged in time (deletion feeds). */
	if (reachable)
		printf("deletion acks overdue: %" PRIu64 "\n", st.deletion_acks_overdue);
	else
		printf("deletion acks overdue: unknown\n");
	/* Last, only while sealed by shares: the lines above keep their places. */
	if (json_is_object(shares))
		printf("unseal shares: %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT "\n",
		    json_integer_value(json_object_get(shares, "given")),
		    json_integer_value(json_object_get(shares, "needed")));
	json_decref(shares);
	/* Only when it is not "ok": the lines scripts read keep their count. */
	if (!reachable)
		printf("storage: %s\n", json_string_value(storage));
	json_decref(storage);
	if (metrics != NULL)
		ctl_metrics_print(metrics);
	json_decref(metrics);
	return exit_rc;
}
