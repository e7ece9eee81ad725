/*
 * sdnotify.c - readiness and status for systemd (see sdnotify.h), through
 * libsystemd's sd_notify(), which does nothing without NOTIFY_SOCKET.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "sdnotify.h"

/* A disk slow enough that a start within this pace is healthy. */
#define EXTEND_BASE_SECONDS 60
#define EXTEND_BYTES_PER_SECOND (16ull << 20)

/* 0 keeps NOTIFY_SOCKET: READY, STATUS and STOPPING come later too. */
static void
notify(const char *msg)
{
	int rc = sd_notify(0, msg);
	if (rc < 0)
		log_debug("sd_notify: cannot reach NOTIFY_SOCKET (%d)", rc);
}

void
sdnotify_ready(const char *status)
{
	char msg[300];
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
	notify(msg);
}

void
sdnotify_stopping(void)
{
	notify("STOPPING=1\nSTATUS=stopping");
}

void
sdnotify_status(const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	notify(msg);
}

void
sdnotify_extend_for_file(const char *path, const char *what)
{
	struct stat st;
	char msg[300];
	if (stat(path, &st) != 0)
		return;
	uint64_t seconds = EXTEND_BASE_SECONDS + (uint64_t)st.st_size / EXTEND_BYTES_PER_SECOND;
	snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%llu\nSTATUS=%s",
	    (unsigned long long)seconds * 1000000ull, what);
	notify(msg);
	log_debug("asked systemd for %llu s: %s", (unsigned long long)seconds, what);
}
