/*
 * keyset.c - publishing key sets and pinning them (see keyset.h).
 */
#include <sched.h>
#include <stdlib.h>

#include <sodium.h>
#include <vault/vault.h>

#include "crypto/seal.h"
#include "crypto/token.h"
#include "keys/keyring.h"
#include "keyset.h"
#include "server.h"
#include "worker.h"

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
key_set_acquire(struct server *srv, _Atomic(const struct key_set *) *hazard)
{
	const struct key_set *ks;
	/* Publish the hazard, then make sure the set is still current. */
	do {
		ks = atomic_load(&srv->keys);
		atomic_store(hazard, ks);
	} while (ks != atomic_load(&srv->keys));
	return ks;
}

int
key_set_publish(struct server *srv, struct key_set *next, int expect_none)
{
	const struct key_set *old;
	if (expect_none) {
		const struct key_set *none = NULL;
		if (!atomic_compare_exchange_strong(&srv->keys, &none, next))
			return VAULT_E_CONFLICT;
		return 0;
	}
	old = atomic_exchange(&srv->keys, next);
	if (old == NULL)
		return 0;
	/* Grace period: requests pin a set for microseconds. */
	for (unsigned i = 0; i < srv->nworkers; i++)
		while (worker_pins(srv->workers[i], old))
			sched_yield();
	key_set_free((struct key_set *)old);
	return 0;
}
