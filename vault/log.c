/*
 * log.c - log lines on standard error: plain and timestamped, or with
 * journald's priority prefixes (see log.h).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static atomic_int min_level = LOG_LEVEL_INFO;
static int to_journal;

/*
 * systemd sets JOURNAL_STREAM=DEV:INODE when it connects standard error to
 * the journal; a process whose stderr was redirected since (a shell, a
 * test) inherits the variable, so it counts only while fd 2 is that very
 * stream (sd-daemon(3)).
 */
void
log_init(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	to_journal = 0;
	if (env == NULL || sscanf(env, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    env[end] != '\0' || fstat(STDERR_FILENO, &st) != 0)
		return;
	to_journal = (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_set_level(enum log_level level)
{
	atomic_store(&min_level, (int)level);
}

int
log_level_parse(const char *name, enum log_level *level)
{
	static const struct { const char *name; enum log_level level; } names[] = {
		{ "error", LOG_LEVEL_ERROR }, { "warning", LOG_LEVEL_WARNING },
		{ "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].name) == 0) {
			*level = names[i].level;
			return 0;
		}
	}
	return -1;
}

__attribute__((format(printf, 3, 0)))
static void
vlog(enum log_level level, const char *name, const char *fmt, va_list ap)
{
	if ((int)level > atomic_load(&min_level))
		return;
	flockfile(stderr);
	if (to_journal) {
		/* The journal stamps the time; the priority says the level. */
		fprintf(stderr, "<%d>", (int)level);
	} else {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(stderr, "%s vaultd %s: ", ts, name);
	}
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

#define LOG_FN(fn, level, name) \
	void \
	fn(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		vlog(level, name, fmt, ap); \
		va_end(ap); \
	}

LOG_FN(log_debug, LOG_LEVEL_DEBUG, "debug")
LOG_FN(log_info, LOG_LEVEL_INFO, "info")
LOG_FN(log_warn, LOG_LEVEL_WARNING, "warning")
LOG_FN(log_error, LOG_LEVEL_ERROR, "error")

int
log_limit_pass(struct log_limit *l, unsigned *suppressed)
{
	int64_t now = (int64_t)time(NULL), prev = atomic_load(&l->last);
	if (prev == now || !atomic_compare_exchange_strong(&l->last, &prev, now)) {
		atomic_fetch_add(&l->suppressed, 1);
		return 0;
	}
	*suppressed = atomic_exchange(&l->suppressed, 0);
	return 1;
}
