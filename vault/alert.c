/*
 * alert.c - security alerts and the fixed-window counters behind bursts
 * (see alert.h).
 */
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "alert.h"
#include "log.h"
#include "policy.h"
#include "services.h"

static const char *const names[ALERT_KINDS] = {
	[ALERT_TOKEN_BURST] = "token_burst",
	[ALERT_TOKEN_FAILURES] = "token_failures",
	[ALERT_VERIFY_FAILURES] = "verify_failures",
	[ALERT_RECORD_TAMPERED] = "record_tampered",
	[ALERT_DISK_FULL] = "disk_full",
	[ALERT_HORIZON_OVERDUE] = "horizon_overdue",
};

static _Atomic uint64_t counts[ALERT_KINDS];

const char *
alert_name(enum alert_kind kind)
{
	return (unsigned)kind < ALERT_KINDS ? names[kind] : "unknown";
}

uint64_t
alert_count(enum alert_kind kind)
{
	return (unsigned)kind < ALERT_KINDS ? atomic_load(&counts[kind]) : 0;
}

void
alert_raise(struct vault_services *svc, const struct key_set *keys,
    enum alert_kind kind, const struct policy_client *client, uid_t uid)
{
	if ((unsigned)kind >= ALERT_KINDS)
		return;
	atomic_fetch_add(&counts[kind], 1);
	log_warn("security alert %s: client %s (uid %u)", names[kind],
	    client ? client->name : "-", (unsigned)uid);
	if (svc == NULL || keys == NULL)
		return;
	/* The outcome field carries the alert's name: the trail's reader
	 * (audit query) shows it like an error name. */
	if (services_audit_alert(svc, keys, client, uid, names[kind]) != 0)
		log_error("security alert %s: its audit entry could not be written",
		    names[kind]);
}

void
ratelimit_init(struct ratelimit *rl, unsigned window_seconds)
{
	memset(rl->slots, 0, sizeof(rl->slots));
	rl->window_seconds = window_seconds ? window_seconds : 60;
	pthread_mutex_init(&rl->lock, NULL);
}

void
ratelimit_destroy(struct ratelimit *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

/* The slot of key, or the one to take over for it; lock held. */
static struct ratelimit_slot *
slot_of(struct ratelimit *rl, uint64_t key, int64_t window, int create)
{
	size_t start = (size_t)(key % RATELIMIT_SLOTS);
	struct ratelimit_slot *victim = NULL;
	/* Linear probing over the whole table: 1024 slots of 24 bytes stay in
	 * cache, and a hit is usually at start. */
	for (size_t i = 0; i < RATELIMIT_SLOTS; i++) {
		struct ratelimit_slot *s = &rl->slots[(start + i) % RATELIMIT_SLOTS];
		if (s->key == key)
			return s;
		if (s->key == 0) {
			if (victim == NULL || victim->key != 0)
				victim = s;
			break; /* keys are never removed: none lies past a free slot */
		}
		if (victim == NULL || (victim->key != 0 && s->window < victim->window))
			victim = s;
	}
	if (!create)
		return NULL;
	victim->key = key;
	victim->window = window;
	victim->count = 0;
	victim->alerted = 0;
	return victim;
}

enum ratelimit_verdict
ratelimit_hit(struct ratelimit *rl, uint64_t key, time_t now, uint32_t cost,
    uint32_t limit)
{
	int64_t window = (int64_t)now / rl->window_seconds;
	enum ratelimit_verdict v = RATELIMIT_OK;
	pthread_mutex_lock(&rl->lock);
	struct ratelimit_slot *s = slot_of(rl, key, window, 1);
	if (s->window != window) {
		s->window = window;
		s->count = 0;
		s->alerted = 0;
	}
	if (cost > limit || s->count > limit - cost) {
		v = s->alerted ? RATELIMIT_OVER : RATELIMIT_OVER_FIRST;
		s->alerted = 1;
	} else {
		s->count += cost;
	}
	pthread_mutex_unlock(&rl->lock);
	return v;
}

uint32_t
ratelimit_used(struct ratelimit *rl, uint64_t key, time_t now)
{
	int64_t window = (int64_t)now / rl->window_seconds;
	uint32_t used = 0;
	pthread_mutex_lock(&rl->lock);
	struct ratelimit_slot *s = slot_of(rl, key, window, 0);
	if (s != NULL && s->window == window)
		used = s->count;
	pthread_mutex_unlock(&rl->lock);
	return used;
}

/* SipHash keyed per process: keys cannot be chosen to collide in the table. */
static uint8_t key_secret[crypto_shorthash_KEYBYTES];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void
key_secret_init(void)
{
	randombytes_buf(key_secret, sizeof(key_secret));
}

uint64_t
ratelimit_key(const void *bytes, size_t len)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t k;
	(void)pthread_once(&key_once, key_secret_init);
	crypto_shorthash(out, bytes, len, key_secret);
	memcpy(&k, out, sizeof(k));
	return k ? k : 1;
}
