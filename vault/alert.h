/*
 * alert.h - security alerts: a pattern of requests that looks like an
 * attack (a burst of token issuance, of failed token resolutions, of failed
 * identity verifications), evidence of tampering, or the audit trail's
 * file system filling up (disk_full: service goes on into the reserve).
 *
 * Raising an alert does three things, so that an operator sees it however
 * they watch the service: a log line (log_warn, naming the kind and the
 * client, never request data), an entry in the audit trail (operation
 * "alert", outcome the alert's name), and a counter per kind that `status`
 * reports. Counters count since start; they are not persisted.
 *
 * Burst detection uses fixed one-minute windows (ratelimit below): a caller
 * over its limit is refused with VAULT_E_RATE_LIMITED, and the first refusal
 * of a window raises the alert once (not once per refused request, so an
 * attacker cannot flood the trail with alerts).
 */
#ifndef VAULT_ALERT_H
#define VAULT_ALERT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct vault_services;
struct key_set;
struct policy_client;

enum alert_kind {
	ALERT_TOKEN_BURST,        /* too many tokens issued in a minute */
	ALERT_TOKEN_FAILURES,     /* too many tokens that did not resolve */
	ALERT_VERIFY_FAILURES,    /* too many failed identity verifications */
	ALERT_RECORD_TAMPERED,    /* a stored record failed its authentication */
	ALERT_DISK_FULL,          /* the audit trail's file system filled (audit.h) */
	ALERT_HORIZON_OVERDUE,    /* a deletion's erasure horizon passed its estimate
	                           * without an erasure-complete document (once per
	                           * request; privacy/horizon.c) */
	ALERT_KINDS
};

/* "token_burst", "token_failures", ... (stable: status and the trail use them). */
const char *alert_name(enum alert_kind kind);

/*
 * Raise an alert caused by client (NULL: the service itself) with uid.
 * keys: for the audit entry, a key set the calling thread has pinned
 * (key_set_acquire(), keyset.h), such as ctx->keys of the request being
 * served; NULL: no entry (e.g. while sealed). A set the thread does not pin
 * gets no entry either (it may be freed at any moment: services_audit_alert
 * checks). Never fails: an alert that cannot be audited is still logged and
 * counted.
 */
void alert_raise(struct vault_services *svc, const struct key_set *keys,
    enum alert_kind kind, const struct policy_client *client, uid_t uid);

/* Alerts of kind raised since start. */
uint64_t alert_count(enum alert_kind kind);

/*
 * A fixed-window counter per key (a client, an identity tag, ...), in a
 * table of RATELIMIT_SLOTS. When the table is full the slot with the oldest
 * window is taken over: keys that were quiet for a whole window lose nothing
 * by that; a key can be evicted early only by filling the table with other
 * keys inside one window, which the callers bound with a per-client limit.
 */
#define RATELIMIT_SLOTS 1024

struct ratelimit_slot {
	uint64_t key;      /* 0: free */
	int64_t window;    /* now / window_seconds of the count */
	uint32_t count;
	uint8_t alerted;   /* the alert of this window was raised */
};

struct ratelimit {
	pthread_mutex_t lock;
	unsigned window_seconds;
	struct ratelimit_slot slots[RATELIMIT_SLOTS];
};

void ratelimit_init(struct ratelimit *rl, unsigned window_seconds);
void ratelimit_destroy(struct ratelimit *rl);

enum ratelimit_verdict {
	RATELIMIT_OK = 0,     /* counted; under the limit */
	RATELIMIT_OVER = 1,   /* over the limit (not counted) */
	RATELIMIT_OVER_FIRST = 2, /* over, and the first time this window: alert */
};

/*
 * Count cost events for key (nonzero) at now against limit per window.
 * Over the limit nothing is counted, so a refused burst does not extend
 * itself into the next window.
 */
enum ratelimit_verdict ratelimit_hit(struct ratelimit *rl, uint64_t key,
    time_t now, uint32_t cost, uint32_t limit);
/* What key has used in the current window (0 if unknown). */
uint32_t ratelimit_used(struct ratelimit *rl, uint64_t key, time_t now);

/* A key for a byte string (an identity tag): keyed by a per-process secret. */
uint64_t ratelimit_key(const void *bytes, size_t len);

#endif
