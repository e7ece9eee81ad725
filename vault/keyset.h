/*
 * keyset.h - the keys the server works with, as one immutable generation.
 *
 * A key set bundles the key ring and the subkeys derived from it: token
 * keys, and the record MAC key of every key-encryption epoch (seal.h).
 * Rotation and retirement never change a key set: they build a new one and
 * publish it. Workers pin the set they use for a request with a hazard
 * pointer; the publisher frees (and so wipes) the old set only once no
 * worker holds it. The writer publishes between batches, so it never needs
 * a hazard of its own.
 */
#ifndef VAULT_KEYSET_H
#define VAULT_KEYSET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct keyring;
struct server;
struct token_keys;

struct record_mac_key {
	uint32_t epoch;
	uint8_t key[32];   /* RECORD_MAC_KEY_BYTES */
};

struct key_set {
	struct keyring *ring;
	struct token_keys *tokens;
	struct record_mac_key *mac;  /* secure memory, read-only; by epoch */
	size_t nmac;
};

/* The record MAC key of epoch, or NULL if the ring has no such epoch. */
const uint8_t *key_set_record_mac_key(const struct key_set *ks, uint32_t epoch);

/* Build a set around ring (taken over, freed with the set on failure too). */
int key_set_new(struct keyring *ring, struct key_set **out);
void key_set_free(struct key_set *ks);

/* Pin the current set (NULL while sealed) in *hazard; release with NULL. */
const struct key_set *key_set_acquire(struct server *srv,
    _Atomic(const struct key_set *) *hazard);
static inline void
key_set_release(_Atomic(const struct key_set *) *hazard)
{
	atomic_store_explicit(hazard, NULL, memory_order_release);
}

/*
 * Make next current; wait until no worker pins the previous set, then free
 * it (its keys are wiped). If expect_none, publish only if no set is
 * current yet (unseal), returning VAULT_E_CONFLICT otherwise.
 */
int key_set_publish(struct server *srv, struct key_set *next, int expect_none);

#endif
