/*
 * keys.c - what the "keys" commands share: times as UTC ISO 8601 and the
 * rotation progress line (keys status, keys rotate --wait).
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

const char *
ctl_time_iso(int64_t t, char out[CTL_TIME_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, CTL_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, CTL_TIME_LEN, "%s", t == 0 ? "never" : "unknown");
	return out;
}

json_t *
ctl_json_time(int64_t t)
{
	char buf[CTL_TIME_LEN];

	if (t <= 0)
		return json_null();
	return json_string(ctl_time_iso(t, buf));
}

unsigned
ctl_rotation_percent(const struct vault_keys_status *s)
{
	/* Records created during the rewrap are examined too: cap at 100. */
	if (s->total == 0 || s->examined >= s->total)
		return 100;
	return (unsigned)((double)s->examined * 100.0 / (double)s->total);
}

void
ctl_rotation_line(const struct vault_keys_status *s, char *out, size_t len)
{
	snprintf(out, len, "rotating to epoch %" PRIu32 ": %" PRIu64 " of %" PRIu64
	    " records examined (%u%%), %" PRIu64 " rewrapped", s->target_epoch,
	    s->examined, s->total, ctl_rotation_percent(s), s->rewrapped);
}

const char *
ctl_plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}
