/*
 * keys_status.c - "vaultctl keys status": the key ring's epochs and
 * versions (when each was made, how many records each epoch wraps and how
 * many deterministic index entries it keys, which is current), the rotation under way and the schedule. Never key bytes:
 * the server does not send them.
 */
#include <inttypes.h>
#include <stdio.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

static void
print_versions(const char *title, const char *unit, const struct vault_key_version *v,
    size_t n, uint32_t current, int with_records)
{
	char when[CTL_TIME_LEN];

	printf("%s:\n", title);
	for (size_t i = 0; i < n; i++) {
		printf("  %s %" PRIu32 ": created %s", unit, v[i].version,
		    ctl_time_iso((int64_t)v[i].created, when));
		if (with_records)
			/* Deterministic tokens of the epoch stop resolving at its
			 * retire: the operator sees what a retire ends. */
			printf(", %" PRIu64 " %s, %" PRIu64 " det index %s (resolve until its retire)",
			    v[i].records, ctl_plural(v[i].records, "record", "records"),
			    v[i].det_entries, ctl_plural(v[i].det_entries, "entry", "entries"));
		printf("%s\n", v[i].version == current ? " (current)" : "");
	}
}

static json_t *
versions_json(const struct vault_key_version *v, size_t n, uint32_t current,
    int with_records)
{
	json_t *arr = json_array(), *e;

	for (size_t i = 0; arr != NULL && i < n; i++) {
		e = json_pack("{s:I, s:o, s:b}", "version", (json_int_t)v[i].version,
		    "created", ctl_json_time((int64_t)v[i].created),
		    "current", v[i].version == current);
		if (e != NULL && with_records &&
		    (ctl_json_set_int(e, "records", (json_int_t)v[i].records) != 0 ||
		    ctl_json_set_int(e, "det_entries", (json_int_t)v[i].det_entries) != 0)) {
			json_decref(e);
			e = NULL;
		}
		if (e == NULL || json_array_append_new(arr, e) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return json_pack("{s:I, s:o}", "current", (json_int_t)current, "versions", arr);
}

static json_t *
blockers_json(const struct vault_keys_status *s)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < s->nblockers; i++) {
		json_t *e = json_pack("{s:s, s:I, s:b, s:s}", "record", s->blockers[i].record,
		    "epoch", (json_int_t)s->blockers[i].epoch, "damaged", s->blockers[i].damaged,
		    "resolve", s->blockers[i].resolve);
		if (e == NULL || json_array_append_new(arr, e) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return json_pack("{s:I, s:I, s:o}", "records", (json_int_t)s->blocked_records,
	    "after_last_rotation", (json_int_t)s->blocked_after_rotation, "listed", arr);
}

/* The records that keep an epoch from being retired, and what resolves each. */
static void
print_blockers(const struct vault_keys_status *s)
{
	if (s->blocked_records == 0)
		return;
	printf("retire blocked: %" PRIu64 " %s on old epochs could not be rewrapped\n",
	    s->blocked_records, ctl_plural(s->blocked_records, "record", "records"));
	for (size_t i = 0; i < s->nblockers; i++) {
		printf("  record ");
		ctl_put_text(s->blockers[i].record);
		printf(" (epoch %" PRIu32 "%s): ", s->blockers[i].epoch,
		    s->blockers[i].damaged ? ", damaged" : "");
		ctl_put_text(s->blockers[i].resolve);
		putchar('\n');
	}
	if (s->nblockers < s->blocked_records)
		printf("  ... and %" PRIu64 " more (resolve these, then look again)\n",
		    s->blocked_records - s->nblockers);
}

static json_t *
status_json(const struct vault_keys_status *s)
{
	json_t *j = json_pack("{s:o, s:o, s:o, s:{s:b, s:I, s:I, s:I, s:I, s:i, s:o, s:o, s:s?}, "
	    "s:{s:b, s:I, s:o, s:o}}",
	    "kek", versions_json(s->kek, s->nkek, s->kek_current, 1),
	    "token", versions_json(s->token, s->ntoken, s->token_current, 0),
	    "index", versions_json(s->index, s->nindex, s->index_current, 0),
	    "rotation",
	    "active", s->rotating,
	    "target_epoch", (json_int_t)s->target_epoch,
	    "examined", (json_int_t)s->examined,
	    "rewrapped", (json_int_t)s->rewrapped,
	    "total", (json_int_t)s->total,
	    "percent", (int)ctl_rotation_percent(s),
	    "started", ctl_json_time(s->started),
	    "stalled_since", ctl_json_time(s->rotating ? s->stalled_since : 0),
	    "stall_reason", s->rotating && s->stalled_since ? s->stall_reason : NULL,
	    "schedule",
	    "enabled", s->interval_seconds != 0,
	    "interval_seconds", (json_int_t)s->interval_seconds,
	    "next_due", ctl_json_time(s->interval_seconds != 0 ? s->next_due : 0),
	    "last_done", ctl_json_time(s->last_done));
	if (j != NULL && json_object_set_new(j, "retire_blockers", blockers_json(s)) != 0) {
		json_decref(j);
		j = NULL;
	}
	if (j != NULL && s->backups_apply && json_object_set_new(j, "backups",
	    json_pack("{s:s?, s:o, s:b, s:o, s:I, s:s?}",
	    "newest_usable", s->newest_backup,
	    "newest_usable_created", ctl_json_time(s->newest_backup_created),
	    "stale", s->backups_stale,
	    "retire_refused_since", ctl_json_time(s->retire_refused_since),
	    "retire_refused_epoch", (json_int_t)s->retire_refused_epoch,
	    "retire_refused_reason", s->retire_refused_since ? s->retire_refused_reason :
	    NULL)) != 0) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

int
ctl_cmd_keys_status(struct ctl *c, int argc, char **argv)
{
	struct vault_keys_status *s = NULL;
	char when[CTL_TIME_LEN], line[256];
	int rc;

	if ((rc = ctl_no_args(c, "keys status", argc, argv)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = vault_keys_status(c->v, &s)) != 0)
		return ctl_vault_error(c, rc, NULL);
	if (c->json) {
		rc = ctl_json_emit(c, status_json(s));
		vault_keys_status_free(s);
		return rc;
	}
	print_versions("key-encryption keys", "epoch", s->kek, s->nkek, s->kek_current, 1);
	print_versions("token keys", "version", s->token, s->ntoken, s->token_current, 0);
	print_versions("index keys", "version", s->index, s->nindex, s->index_current, 0);
	if (s->rotating) {
		ctl_rotation_line(s, line, sizeof(line));
		printf("rotation: %s\n", line);
		if (s->stalled_since != 0)
			printf("rotation: stalled since %s: %s\n",
			    ctl_time_iso(s->stalled_since, when), s->stall_reason);
	} else {
		puts("rotation: no rotation running");
	}
	if (s->interval_seconds == 0)
		puts("schedule: off");
	else
		printf("schedule: every %" PRIu32 " seconds, next due %s\n",
		    s->interval_seconds, ctl_time_iso(s->next_due, when));
	printf("last rotation: %s\n", ctl_time_iso(s->last_done, when));
	print_blockers(s);
	/* What a disk failure now would leave (vaultctl backup list: all of them). */
	if (s->backups_apply) {
		if (s->newest_backup != NULL) {
			printf("newest usable backup: ");
			ctl_put_text(s->newest_backup);
			printf(" (%s)\n", ctl_time_iso(s->newest_backup_created, when));
		} else {
			puts("newest usable backup: none (vaultctl backup list)");
		}
		if (s->backups_stale)
			puts("warning: no usable backup is younger than the rotation interval");
		if (s->retire_refused_since != 0)
			printf("retire of epoch %" PRIu32 " refused since %s: %s\n",
			    s->retire_refused_epoch, ctl_time_iso(s->retire_refused_since, when),
			    s->retire_refused_reason);
	}
	vault_keys_status_free(s);
	return CTL_EXIT_OK;
}
