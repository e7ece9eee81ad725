/*
 * keys_rotate.c - "vaultctl keys rotate [kek|token|index] [--wait]": make a
 * new key current and print its epoch or version. A new key-encryption key
 * epoch starts a rewrap of every record's data key in the server; --wait
 * follows it (keys status every 200 ms) until it is done, with a progress
 * line on stderr rewritten in place, on a terminal only: a pipe or a file
 * gets none (scripts and logs stay quiet, --json or not). A rewrap that
 * stalls (a full map or disk) ends the wait with VAULT_E_NO_SPACE naming
 * the stall: the rotation goes on by itself once space returns.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

#define POLL_MS 200

static const struct ctl_option options[] = {
	{ "wait", 0 },
	{ NULL, 0 },
};

struct progress {
	int show;         /* stderr is a terminal */
	size_t width;     /* length of the line on the terminal */
};

static void
progress_show(struct progress *p, const struct vault_keys_status *s)
{
	char line[256];
	size_t n;

	if (!p->show)
		return;
	ctl_rotation_line(s, line, sizeof(line));
	n = strlen(line);
	/* Blanks cover the rest of a longer line printed before. */
	fprintf(stderr, "\r%s%*s", line, p->width > n ? (int)(p->width - n) : 0, "");
	p->width = n;
	fflush(stderr);
}

static void
progress_end(struct progress *p)
{
	if (p->show && p->width > 0) {
		fputc('\n', stderr);
		fflush(stderr);
	}
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/*
 * Poll until the rotation to epoch is over. *done receives the last status
 * seen, whose counters are this rotation's, or NULL if another rotation
 * (the schedule's) had already begun by then. extra (stolen) goes into a
 * JSON error.
 */
static int
wait_rotation(struct ctl *c, uint32_t epoch, struct vault_keys_status **done,
    json_t *extra)
{
	struct progress p = { 0 };
	struct vault_keys_status *s = NULL;
	int rc;

	p.show = ctl_progress_wanted();
	*done = NULL;
	for (;;) {
		if ((rc = vault_keys_status(c->v, &s)) != 0) {
			progress_end(&p);
			return ctl_vault_error(c, rc, extra);
		}
		if (s->rotating && s->target_epoch != epoch) {
			vault_keys_status_free(s);
			s = NULL;
			break;
		}
		/* Once done the server no longer names the target. */
		s->target_epoch = epoch;
		progress_show(&p, s);
		if (!s->rotating)
			break;
		if (s->stalled_since != 0) {
			/* Waiting on would be waiting for an operator: say why. */
			char when[CTL_TIME_LEN];
			progress_end(&p);
			json_decref(extra);
			rc = ctl_local_error(c, VAULT_E_NO_SPACE, "rotation to epoch %" PRIu32
			    " stalled since %s: %s; it goes on by itself once space "
			    "returns (see keys status)", epoch,
			    ctl_time_iso(s->stalled_since, when), s->stall_reason);
			vault_keys_status_free(s);
			return rc;
		}
		vault_keys_status_free(s);
		s = NULL;
		sleep_ms(POLL_MS);
	}
	progress_end(&p);
	json_decref(extra);
	*done = s;
	return CTL_EXIT_OK;
}

int
ctl_cmd_keys_rotate(struct ctl *c, int argc, char **argv)
{
	static const char *const kinds[] = { "kek", "token", "index" };
	struct vault_keys_status *s = NULL;
	const struct ctl_option *opt;
	const char *kind = NULL;
	struct ctl_args a;
	enum ctl_arg_kind k;
	uint32_t version = 0;
	int rc, argno, wait = 0, is_kek;
	json_t *out;
	char *val;

	ctl_args_init(&a, argc, argv);
	a.cmd = "keys rotate";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_OPTION) {
			wait = 1;
			continue;
		}
		if (kind != NULL)
			return ctl_usage_error(c, "keys rotate: one kind only (kek, token or "
			    "index)");
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strcmp(val, kinds[i]) == 0)
				kind = kinds[i];
		if (kind == NULL)
			return ctl_usage_error(c, "keys rotate: argument %d: unknown key kind "
			    "(kek, token or index)", argno);
	}
	if (kind == NULL)
		kind = "kek";
	is_kek = strcmp(kind, "kek") == 0;
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	if ((rc = vault_keys_rotate(c->v, kind, &version)) != 0)
		return ctl_vault_error(c, rc, NULL);
	if (!c->json) {
		if (is_kek)
			printf("epoch %" PRIu32 "\n", version);
		else
			printf("%s key version %" PRIu32 "\n", kind, version);
		/* Say what happened before a long wait (and if it fails). */
		fflush(stdout);
	}
	if (wait && is_kek) {
		/* On a failure the new epoch is current all the same: say which. */
		rc = wait_rotation(c, version, &s, c->json ? json_pack("{s:s, s:I}",
		    "kind", kind, "version", (json_int_t)version) : NULL);
		if (rc != CTL_EXIT_OK)
			return rc;
	}
	if (c->json) {
		out = json_pack("{s:s, s:I}", "kind", kind, "version", (json_int_t)version);
		if (out != NULL && wait && is_kek &&
		    json_object_set_new(out, "rotation", s == NULL ?
		    json_pack("{s:b}", "finished", 1) :
		    json_pack("{s:b, s:I, s:I, s:I}", "finished", 1,
		    "examined", (json_int_t)s->examined, "rewrapped", (json_int_t)s->rewrapped,
		    "total", (json_int_t)s->total)) != 0) {
			json_decref(out);
			out = NULL;
		}
		rc = ctl_json_emit(c, out);
	} else if (wait && is_kek) {
		printf("rotation to epoch %" PRIu32 " finished", version);
		if (s != NULL)
			printf(": %" PRIu64 " %s examined, %" PRIu64 " rewrapped", s->examined,
			    ctl_plural(s->examined, "record", "records"), s->rewrapped);
		putchar('\n');
	}
	vault_keys_status_free(s);
	return rc;
}
