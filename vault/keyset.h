/*
 * keyset.h - the keys the server works with, as one immutable generation,
 * and the only way to hold one.
 *
 * A key set bundles the key ring and the subkeys derived from it: token
 * keys, and the record MAC key of every key-encryption epoch (seal.h).
 * Rotation and retirement never change a key set: they build a new one and
 * publish it; the publisher frees (and so wipes) the old set once no
 * thread pins it. Every path that reads keys pins the current set with
 * key_set_acquire() and unpins it with key_set_release().
 *
 * Pins are hazard pointers in one process-wide registry of slots: a thread
 * gets its own slot the first time it pins (the slot is given back when
 * the thread exits), and key_set_publish() scans every slot. The API takes
 * no hazard of the caller's: there is nowhere else to pin, so no path can
 * pin where the publisher does not look. (A stack-local hazard the
 * publisher did not scan let a refused admin request audit with a freed
 * set: issue 12.)
 *
 * Pins nest within a thread: an inner key_set_acquire() returns the set
 * the outer one pinned (one request sees one set from start to audit
 * entry), and the slot is cleared when the outermost pin is released.
 *
 * Only the writer replaces a published set (rotation, retirement); unseal
 * only installs the first one. If the publisher pins the set it replaces,
 * its pin moves to the new set, so publishing while pinned never waits on
 * itself. Functions that take a `const struct key_set *` (audit, alert,
 * secrets, record access) expect one the calling thread has pinned.
 */
#ifndef VAULT_KEYSET_H
#define VAULT_KEYSET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct keyring;
struct vault_services;
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

/*
 * Pin svc's current set (NULL while sealed) in the calling thread's slot;
 * every call, including one that returned NULL, is paired with a
 * key_set_release() on the same thread. Aborts the process if more than
 * KEY_SET_PIN_SLOTS threads ever pin at once (vaultd runs at most 64
 * workers, the writer and the main thread).
 */
#define KEY_SET_PIN_SLOTS 256
const struct key_set *key_set_acquire(struct vault_services *svc);
void key_set_release(void);

/* 1 if the calling thread pins ks (not NULL) right now. */
int key_set_pinned(const struct key_set *ks);
/* How deeply the calling thread pins (0: not at all); for tests. */
unsigned key_set_pin_depth(void);

/* 1 while svc has no key set (a passphrase-sealed ring not yet unsealed). */
int key_set_sealed(struct vault_services *svc);

/*
 * Make next current; wait until no thread pins the previous set, then free
 * it (its keys are wiped). If expect_none, publish only if no set is
 * current yet (unseal), returning VAULT_E_CONFLICT otherwise.
 */
int key_set_publish(struct vault_services *svc, struct key_set *next, int expect_none);

/*
 * Before any thread runs and after all have stopped (main, harnesses):
 * install svc's first set, or take svc's set out to free it.
 */
void key_set_install(struct vault_services *svc, struct key_set *ks);
struct key_set *key_set_take(struct vault_services *svc);

#endif
