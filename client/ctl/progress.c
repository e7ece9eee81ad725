/*
 * progress.c - a spinner line on stderr while one long call (keys retire's
 * compaction, backup) blocks: the call is synchronous, so a thread redraws
 * the line once a second. Only on a terminal: a pipe or a file gets nothing,
 * so scripts and logs stay clean (the admin tools' habit).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

static pthread_t thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int running, stop, drawn;
static char label[128];

int
ctl_progress_wanted(void)
{
	return isatty(STDERR_FILENO);
}

static void *
spin(void *arg)
{
	static const char frames[] = "|/-\\";
	struct timespec start, deadline;
	unsigned n = 0;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &start);
	pthread_mutex_lock(&lock);
	deadline = start;
	while (!stop) {
		/* Quiet for the first second: a quick call draws nothing. */
		deadline.tv_sec += 1;
		while (!stop && pthread_cond_timedwait(&wake, &lock, &deadline) == 0)
			;
		if (stop)
			break;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		fprintf(stderr, "\r%c %s, %lds ", frames[n++ % 4], label,
		    (long)(now.tv_sec - start.tv_sec));
		fflush(stderr);
		drawn = 1;
	}
	if (drawn) {
		fputs("\r\033[K", stderr); /* erase the line */
		fflush(stderr);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

void
ctl_progress_start(struct ctl *c, const char *what)
{
	(void)c;
	if (running || !ctl_progress_wanted())
		return;
	snprintf(label, sizeof(label), "%s", what);
	stop = 0;
	drawn = 0;
	/* The clock of pthread_cond_timedwait is CLOCK_REALTIME by default. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&wake);
	pthread_cond_init(&wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&thread, NULL, spin, NULL) == 0)
		running = 1;
}

void
ctl_progress_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	stop = 1;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = 0;
}
