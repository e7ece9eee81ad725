/*
 * prom.c - the metrics map as Prometheus text (prom.h). Kept apart from
 * the command (metrics.c) so a unit test can run it on a crafted map.
 */
#include <inttypes.h>
#include <string.h>

#include "prom.h"

struct prom {
	FILE *out;
	const char *bad;     /* the first key found missing or mistyped */
};

static const json_t *
obj(struct prom *p, const json_t *m, const char *key)
{
	const json_t *v = json_object_get(m, key);
	if (!json_is_object(v) && p->bad == NULL)
		p->bad = key;
	return v;
}

static uint64_t
uint_of(struct prom *p, const json_t *m, const char *key)
{
	const json_t *v = json_object_get(m, key);
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return (uint64_t)json_integer_value(v);
	if (json_is_boolean(v))
		return json_is_true(v);
	if (p->bad == NULL)
		p->bad = key;
	return 0;
}

static void
family(struct prom *p, const char *name, const char *type, const char *help)
{
	fprintf(p->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the format asks (backslash, quote, newline). */
static void
label_value(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(out, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void
sample(struct prom *p, const char *name, uint64_t v)
{
	fprintf(p->out, "%s %" PRIu64 "\n", name, v);
}

/* v / 10^6 in decimal, without trailing zeros: 50 -> 0.00005, 2500000 -> 2.5. */
static void
micro(FILE *out, uint64_t v)
{
	char frac[8];
	int n = snprintf(frac, sizeof(frac), "%06" PRIu64, v % 1000000);
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	fprintf(out, "%" PRIu64 "%s%s", v / 1000000, n > 0 ? "." : "", frac);
}

static void
scaled(FILE *out, uint64_t v, int in_micro)
{
	if (in_micro)
		micro(out, v);
	else
		fprintf(out, "%" PRIu64, v);
}

/* A histogram of the metrics map (PROTOCOL.md 8.19): cumulative buckets. */
static void
histogram(struct prom *p, const json_t *m, const char *key, const char *name,
    const char *help)
{
	const json_t *h = obj(p, m, key);
	const json_t *le = json_object_get(h, "le"), *counts = json_object_get(h, "counts");
	const char *unit = json_string_value(json_object_get(h, "unit"));
	if (!json_is_array(le) || !json_is_array(counts) || unit == NULL ||
	    json_array_size(counts) != json_array_size(le) + 1) {
		if (p->bad == NULL)
			p->bad = key;
		return;
	}
	int in_micro = strcmp(unit, "microseconds") == 0;
	uint64_t total = 0;
	family(p, name, "histogram", help);
	for (size_t i = 0; i < json_array_size(counts); i++) {
		const json_t *c = json_array_get(counts, i);
		if (!json_is_integer(c) || json_integer_value(c) < 0) {
			if (p->bad == NULL)
				p->bad = key;
			return;
		}
		total += (uint64_t)json_integer_value(c);
		fprintf(p->out, "%s_bucket{le=\"", name);
		if (i < json_array_size(le)) {
			const json_t *b = json_array_get(le, i);
			if (!json_is_integer(b) || json_integer_value(b) < 0) {
				if (p->bad == NULL)
					p->bad = key;
				return;
			}
			scaled(p->out, (uint64_t)json_integer_value(b), in_micro);
		} else {
			fputs("+Inf", p->out);
		}
		fprintf(p->out, "\"} %" PRIu64 "\n", total);
	}
	fprintf(p->out, "%s_sum ", name);
	scaled(p->out, uint_of(p, h, "sum"), in_micro);
	/* The buckets' total, which is what the server sends as count. */
	fprintf(p->out, "\n%s_count %" PRIu64 "\n", name, total);
}

/* name{op="OP",error="E"} N for each error of one row (PROTOCOL.md 8.19). */
static void
error_samples(struct prom *p, const char *name, const char *op, const json_t *row)
{
	const json_t *errors = obj(p, row, "errors"), *n;
	const char *code;
	json_object_foreach((json_t *)errors, code, n) {
		if (!json_is_integer(n)) {
			if (p->bad == NULL)
				p->bad = "errors";
			return;
		}
		fprintf(p->out, "%s{", name);
		if (op != NULL) {
			fputs("op=\"", p->out);
			label_value(p->out, op);
			fputs("\",", p->out);
		}
		fputs("error=\"", p->out);
		label_value(p->out, code);
		fprintf(p->out, "\"} %" JSON_INTEGER_FORMAT "\n", json_integer_value(n));
	}
}

int
prom_render(FILE *out, const json_t *m, const char **bad)
{
	struct prom p = { out, NULL };
	const json_t *row;
	const char *op;

	if (!json_is_object(m)) {
		*bad = "metrics";
		return -1;
	}
	family(&p, "vault_sealed", "gauge", "1 while the vault is sealed (no keys in memory), else 0.");
	sample(&p, "vault_sealed", uint_of(&p, m, "sealed"));
	family(&p, "vault_uptime_seconds", "gauge", "Seconds since vaultd started.");
	sample(&p, "vault_uptime_seconds", uint_of(&p, m, "uptime_seconds"));

	const json_t *conn = obj(&p, m, "connections");
	family(&p, "vault_connections", "gauge", "Client connections open now.");
	sample(&p, "vault_connections", uint_of(&p, conn, "open"));
	family(&p, "vault_connections_accepted_total", "counter",
	    "Client connections accepted since start.");
	sample(&p, "vault_connections_accepted_total", uint_of(&p, conn, "accepted"));
	family(&p, "vault_connections_refused_total", "counter",
	    "Client connections refused since start, by reason: policy (no client of the "
	    "policy matches the caller) or limit (max_connections, per uid, budget).");
	const json_t *refused = obj(&p, conn, "refused"), *n;
	const char *why;
	json_object_foreach((json_t *)refused, why, n) {
		fputs("vault_connections_refused_total{reason=\"", out);
		label_value(out, why);
		fprintf(out, "\"} %" PRIu64 "\n", uint_of(&p, refused, why));
	}

	const json_t *ops = obj(&p, m, "ops");
	family(&p, "vault_requests_total", "counter",
	    "Requests answered since start (successes and errors), by operation.");
	json_object_foreach((json_t *)ops, op, row) {
		fputs("vault_requests_total{op=\"", out);
		label_value(out, op);
		fprintf(out, "\"} %" PRIu64 "\n", uint_of(&p, row, "requests"));
	}
	family(&p, "vault_request_errors_total", "counter",
	    "Requests answered with an error since start, by operation and error code name.");
	json_object_foreach((json_t *)ops, op, row)
		error_samples(&p, "vault_request_errors_total", op, row);
	family(&p, "vault_bad_requests_total", "counter",
	    "Requests refused before their operation was known (malformed, unknown op), "
	    "by error code name.");
	error_samples(&p, "vault_bad_requests_total", NULL, obj(&p, m, "bad_requests"));

	histogram(&p, m, "commit", "vault_commit_duration_seconds",
	    "Group commits: seconds from the batch's transaction begin to its commit's return.");
	histogram(&p, m, "flush", "vault_flush_duration_seconds",
	    "Seconds per store commit of a batch (page writes and fdatasync).");
	histogram(&p, m, "batch", "vault_commit_batch_writes",
	    "Writes per group commit.");

	const json_t *q = obj(&p, m, "write_queue");
	family(&p, "vault_write_queue_writes", "gauge", "Writes queued for the writer now.");
	sample(&p, "vault_write_queue_writes", uint_of(&p, q, "writes"));
	family(&p, "vault_write_queue_bytes", "gauge",
	    "Request bytes of the writes not yet answered (limit: max_queued_write_bytes).");
	sample(&p, "vault_write_queue_bytes", uint_of(&p, q, "bytes"));

	/* Left out while the store cannot be reached (PROTOCOL.md 8.20). */
	if (json_object_get(m, "records") != NULL) {
		family(&p, "vault_records", "gauge", "Live records.");
		sample(&p, "vault_records", uint_of(&p, m, "records"));
		family(&p, "vault_tombstones", "gauge", "Deleted records (tombstones).");
		sample(&p, "vault_tombstones", uint_of(&p, m, "tombstones"));
	}
	/* Servers before deletion feeds send none (and none while unreachable). */
	if (json_object_get(m, "deletion_acks_overdue") != NULL) {
		family(&p, "vault_deletion_acks_overdue", "gauge",
		    "Deletion notices not acknowledged within deletion_ack_seconds.");
		sample(&p, "vault_deletion_acks_overdue", uint_of(&p, m, "deletion_acks_overdue"));
	}
	/* Servers before it send none: no family rather than a false 0. */
	if (json_object_get(m, "storage_unreachable_since") != NULL) {
		family(&p, "vault_storage_unreachable_since_seconds", "gauge",
		    "Unix time since which the database cannot be reached (PostgreSQL); 0 while it can.");
		sample(&p, "vault_storage_unreachable_since_seconds",
		    uint_of(&p, m, "storage_unreachable_since"));
	}

	const json_t *rot = obj(&p, m, "rotation");
	const char *state = json_string_value(json_object_get(rot, "state"));
	if (state == NULL && p.bad == NULL)
		p.bad = "rotation";
	family(&p, "vault_rotation_running", "gauge",
	    "1 while a key rotation's rewrap runs (also when stalled), else 0.");
	sample(&p, "vault_rotation_running", state != NULL && strcmp(state, "none") != 0);
	family(&p, "vault_rotation_stalled", "gauge",
	    "1 while a key rotation's rewrap is stalled (keys status says why), else 0.");
	sample(&p, "vault_rotation_stalled", state != NULL && strcmp(state, "stalled") == 0);
	family(&p, "vault_rotation_target_epoch", "gauge",
	    "The key epoch a running rotation rewraps to; 0 when none runs.");
	sample(&p, "vault_rotation_target_epoch", uint_of(&p, rot, "target_epoch"));
	family(&p, "vault_rotation_records", "gauge",
	    "Records when the running rotation started; 0 when none runs.");
	sample(&p, "vault_rotation_records", uint_of(&p, rot, "records"));
	family(&p, "vault_rotation_examined_records", "gauge",
	    "Records the running rotation has examined.");
	sample(&p, "vault_rotation_examined_records", uint_of(&p, rot, "examined"));
	family(&p, "vault_rotation_rewrapped_records", "gauge",
	    "Records the running rotation has rewrapped to the new epoch.");
	sample(&p, "vault_rotation_rewrapped_records", uint_of(&p, rot, "rewrapped"));

	/* Backups (LMDB): an older server sends none, and then none are printed. */
	const json_t *bk = json_object_get(m, "backups");
	if (json_is_object(bk)) {
		family(&p, "vault_backup_newest_usable_timestamp_seconds", "gauge",
		    "Creation time of the newest backup in backup_dir the key ring can read "
		    "whole; 0 when none.");
		sample(&p, "vault_backup_newest_usable_timestamp_seconds",
		    uint_of(&p, bk, "newest_usable_created"));
		family(&p, "vault_backup_stale", "gauge",
		    "1 when no usable backup is younger than the rotation interval, else 0.");
		sample(&p, "vault_backup_stale", uint_of(&p, bk, "stale"));
		family(&p, "vault_retire_refused_since_timestamp_seconds", "gauge",
		    "Since when retires are refused because their backup could not be taken "
		    "(backup_before_retire); 0 when none is.");
		sample(&p, "vault_retire_refused_since_timestamp_seconds",
		    uint_of(&p, bk, "retire_refused_since"));
	}

	*bad = p.bad;
	return p.bad == NULL ? 0 : -1;
}
