/*
 * log.h - the service log on standard error (systemd's journal collects it).
 * Log lines name operations, error codes and counts; they never carry
 * request data, so no personal data can reach the log.
 *
 * When standard error is the journal (JOURNAL_STREAM names its device and
 * inode, sd-daemon(3)), each line starts with the syslog priority ("<3>"
 * error, "<4>" warning, "<6>" info, "<7>" debug) and carries no timestamp
 * of its own; otherwise lines are plain text with a UTC timestamp.
 */
#ifndef VAULT_LOG_H
#define VAULT_LOG_H

#include <stdatomic.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR = 3,   /* the syslog priorities journald reads */
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Look at JOURNAL_STREAM once: call at start, before any thread logs. */
void log_init(void);
/* Lines below level are dropped ([log] level; info by default). */
void log_set_level(enum log_level level);
/* "error", "warning", "info" or "debug": 0 with *level set, else -1. */
int log_level_parse(const char *name, enum log_level *level);

__attribute__((format(printf, 1, 2)))
void log_debug(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void log_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void log_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void log_error(const char *fmt, ...);

/*
 * A line that may repeat as fast as requests arrive (a store that fails
 * every request): at most one a second. Keep one static struct log_limit
 * per kind of line; log_limit_pass() says whether to log now and how many
 * lines were left out since the last one logged (to say so in it).
 */
struct log_limit {
	_Atomic int64_t last;
	atomic_uint suppressed;
};

int log_limit_pass(struct log_limit *l, unsigned *suppressed);

#endif
