/*
 * keyring.h - the key ring: key-encryption keys by epoch (they wrap every
 * record's data key), token keys and index keys by version.
 *
 * The ring lives in one file sealed by a 32-byte root key (keys/README.md
 * documents the layout). In memory every key sits in libsodium secure memory
 * (guard pages, mlock, excluded from core dumps) made read-only after load,
 * and is wiped by keyring_free().
 *
 * Epochs and versions exist from the first format version so that rotation
 * can add keys without changing the layout; this first version creates a
 * ring with one key of each kind.
 */
#ifndef VAULT_KEYS_KEYRING_H
#define VAULT_KEYS_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#define KEYRING_KEY_BYTES 32
#define KEYRING_MAX_KEYS 1024  /* per kind; a file declaring more is corrupt */

struct keyring;

enum keyring_kind {
	KEYRING_KEK = 1,    /* key-encryption keys, by epoch */
	KEYRING_TOKEN = 2,  /* token keys, by version */
	KEYRING_INDEX = 3,  /* index keys (blind indexes, token lookups), by version */
};

/*
 * Read the root key from a key file: exactly 32 bytes, a regular file owned
 * by the caller's uid with no group or other permission bits. root must
 * point to KEYRING_KEY_BYTES of secure memory. Returns 0, VAULT_E_KEYRING
 * (with a reason in *why) or VAULT_E_IO.
 */
int keyring_root_key_read(const char *path, uint8_t *root, const char **why);
/* Create a new random root key file (O_EXCL, mode 0600) and return it in root. */
int keyring_root_key_create(const char *path, uint8_t *root, const char **why);

/*
 * Create a new ring with one key of each kind (epoch 1, version 1), write it
 * to path atomically, and return it in *out. Fails if path exists.
 */
int keyring_create(const char *path, const uint8_t *root, struct keyring **out,
    const char **why);
/*
 * Load and open the ring at path with root. A wrong root key and a
 * corrupted file both give VAULT_E_KEYRING ("cannot be opened with this root
 * key, or damaged"): the AEAD cannot tell them apart.
 */
int keyring_load(const char *path, const uint8_t *root, struct keyring **out,
    const char **why);
/* Wipe and free. Accepts NULL. */
void keyring_free(struct keyring *kr);

/* Encode and decode the sealed file image (exposed for tests and fuzzing). */
int keyring_seal(const struct keyring *kr, const uint8_t *root,
    uint8_t **image, size_t *len);
int keyring_open_image(const uint8_t *image, size_t len, const uint8_t *root,
    struct keyring **out, const char **why);

/* The current epoch or version of a kind. */
uint32_t keyring_current(const struct keyring *kr, enum keyring_kind kind);
/* The key of that epoch or version, or NULL if the ring has none. */
const uint8_t *keyring_key(const struct keyring *kr, enum keyring_kind kind,
    uint32_t version);
/* How many keys of a kind, and the version of the i-th one (ascending). */
size_t keyring_count(const struct keyring *kr, enum keyring_kind kind);
uint32_t keyring_version_at(const struct keyring *kr, enum keyring_kind kind,
    size_t i);

#endif
