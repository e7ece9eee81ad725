/*
 * keyset.c - publishing key sets and pinning them: the registry of hazard
 * slots (see keyset.h). The current set (svc->keys, services.h) is this
 * file's alone; everything else pins it through key_set_acquire().
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <sodium.h>
#include <vault/vault.h>

#include "crypto/seal.h"
#include "crypto/token.h"
#include "keys/keyring.h"
#include "keyset.h"
#include "log.h"
#include "services.h"

/* One thread's hazard; a cache line each, so pinning shares nothing. */
struct pin_slot {
	_Alignas(64) _Atomic(const struct key_set *) hazard;
	atomic_int taken;
};

static struct pin_slot slots[KEY_SET_PIN_SLOTS];
static _Thread_local struct pin_slot *mine;
static _Thread_local unsigned depth;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/* A thread that exits gives its slot back (an unreleased pin with it). */
static void
slot_give_back(void *p)
{
	struct pin_slot *s = p;
	atomic_store(&s->hazard, NULL);
	atomic_store(&s->taken, 0);
}

static void
exit_key_create(void)
{
	if (pthread_key_create(&exit_key, slot_give_back) != 0)
		abort();
}

static struct pin_slot *
slot_take(void)
{
	(void)pthread_once(&exit_once, exit_key_create);
	for (size_t i = 0; i < KEY_SET_PIN_SLOTS; i++) {
		int free_slot = 0;
		if (atomic_compare_exchange_strong(&slots[i].taken, &free_slot, 1)) {
			if (pthread_setspecific(exit_key, &slots[i]) != 0)
				abort();
			return &slots[i];
		}
	}
	/* Pinning elsewhere would be unsafe and refusing would look sealed. */
	log_error("more than %d threads pin key sets at once", KEY_SET_PIN_SLOTS);
	abort();
}

int
key_set_new(struct keyring *ring, struct key_set **out)
{
	struct key_set *ks = calloc(1, sizeof(*ks));
	int rc = VAULT_E_NOMEM;
	if (ks == NULL)
		goto fail;
	ks->ring = ring;
	if ((rc = token_keys_derive(ring, &ks->tokens)) != 0)
		goto fail;
	/* One MAC key per epoch, derived once: records are verified on every
	 * read, so the derivation stays off that path. */
	size_t n = keyring_count(ring, KEYRING_KEK);
	rc = VAULT_E_NOMEM;
	if (n == 0 || (ks->mac = sodium_allocarray(n, sizeof(*ks->mac))) == NULL)
		goto fail;
	ks->nmac = n;
	for (size_t i = 0; i < n; i++) {
		ks->mac[i].epoch = keyring_version_at(ring, KEYRING_KEK, i);
		record_mac_key(keyring_key(ring, KEYRING_KEK, ks->mac[i].epoch),
		    ks->mac[i].key);
	}
	sodium_mprotect_readonly(ks->mac);
	*out = ks;
	return 0;
fail:
	if (ks == NULL)
		keyring_free(ring);
	key_set_free(ks);
	return rc;
}

void
key_set_free(struct key_set *ks)
{
	if (ks == NULL)
		return;
	token_keys_free(ks->tokens);
	sodium_free(ks->mac); /* wipes */
	keyring_free(ks->ring);
	free(ks);
}

_Static_assert(sizeof(((struct record_mac_key *)0)->key) == RECORD_MAC_KEY_BYTES,
    "record MAC key size");

const uint8_t *
key_set_record_mac_key(const struct key_set *ks, uint32_t epoch)
{
	/* Epochs ascend (keyring_version_at()): a binary search. */
	size_t lo = 0, hi = ks->nmac;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ks->mac[mid].epoch == epoch)
			return ks->mac[mid].key;
		if (ks->mac[mid].epoch < epoch)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct key_set *
key_set_acquire(struct vault_services *svc)
{
	const struct key_set *ks;
	if (mine == NULL)
		mine = slot_take();
	/* Nested: the outer pin already holds a set (or held none: sealed). */
	if (depth > 0 && (ks = atomic_load(&mine->hazard)) != NULL) {
		depth++;
		return ks;
	}
	/*
	 * Publish the hazard, then make sure the set is still current: a
	 * publisher that swapped in between either sees our hazard in its
	 * scan or made us see its new set here (all sequentially consistent).
	 */
	do {
		ks = atomic_load(&svc->keys);
		atomic_store(&mine->hazard, ks);
	} while (ks != atomic_load(&svc->keys));
	depth++;
	return ks;
}

void
key_set_release(void)
{
	if (depth == 0) {
		log_error("a key set was released that was not pinned");
		abort();
	}
	if (--depth == 0)
		atomic_store(&mine->hazard, NULL);
}

int
key_set_pinned(const struct key_set *ks)
{
	return ks != NULL && depth > 0 && atomic_load(&mine->hazard) == ks;
}

unsigned
key_set_pin_depth(void)
{
	return depth;
}

int
key_set_sealed(struct vault_services *svc)
{
	return atomic_load(&svc->keys) == NULL;
}

int
key_set_publish(struct vault_services *svc, struct key_set *next, int expect_none)
{
	const struct key_set *old;
	if (expect_none) {
		const struct key_set *none = NULL;
		if (!atomic_compare_exchange_strong(&svc->keys, &none, next))
			return VAULT_E_CONFLICT;
		return 0;
	}
	old = atomic_exchange(&svc->keys, next);
	if (old == NULL)
		return 0;
	/* The publisher's own pin moves on with it (keyset.h). */
	if (depth > 0 && atomic_load(&mine->hazard) == old)
		atomic_store(&mine->hazard, next);
	/* Grace period: requests pin a set for microseconds. Every slot,
	 * taken or not: a free one holds NULL. */
	for (size_t i = 0; i < KEY_SET_PIN_SLOTS; i++)
		while (atomic_load(&slots[i].hazard) == old)
			sched_yield();
	key_set_free((struct key_set *)old);
	return 0;
}

void
key_set_install(struct vault_services *svc, struct key_set *ks)
{
	atomic_store(&svc->keys, ks);
}

struct key_set *
key_set_take(struct vault_services *svc)
{
	return (struct key_set *)atomic_exchange(&svc->keys, NULL);
}
