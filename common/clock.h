/*
 * clock.h - milliseconds of a clock, for deadlines and intervals
 * (CLOCK_MONOTONIC) and for pthread_cond_timedwait (CLOCK_REALTIME).
 */
#ifndef VAULT_COMMON_CLOCK_H
#define VAULT_COMMON_CLOCK_H

#include <time.h>

static inline long long
clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
