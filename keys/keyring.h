/*
 * keyring.h - the key ring: key-encryption keys by epoch (they wrap every
 * record's data key), token keys and index keys by version.
 *
 * The ring lives in one file sealed by a 32-byte root key (keys/README.md
 * documents the layout). The root key comes from a key file or is derived
 * from a passphrase with Argon2id; the salt and KDF parameters sit in the
 * ring's header. In memory every key sits in libsodium secure memory (guard
 * pages, mlock, excluded from core dumps) made read-only after load, and is
 * wiped by keyring_free().
 *
 * A ring never changes once made: rotation and retirement return a NEW
 * ring (keyring_with_new_key(), keyring_without_key()) and leave the
 * argument alone, so readers may keep using the old one while the server
 * publishes the new one. Nothing here locks: calls on distinct rings, and
 * read-only calls on a shared one, may run in parallel.
 */
#ifndef VAULT_KEYS_KEYRING_H
#define VAULT_KEYS_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#define KEYRING_KEY_BYTES 32
#define KEYRING_MAX_KEYS 1024  /* per kind; a file declaring more is corrupt */
#define KEYRING_FORMAT_VERSION 1
#define KEYRING_SALT_BYTES 16

/*
 * Accepted Argon2id costs, in a file and in an argument. The upper opslimit
 * is libsodium's crypto_pwhash_OPSLIMIT_MAX (2^32 - 1); the memlimit is in
 * bytes.
 */
#define KEYRING_OPSLIMIT_MIN 1ULL
#define KEYRING_OPSLIMIT_MAX 4294967295ULL
#define KEYRING_MEMLIMIT_MIN 8192ULL
#define KEYRING_MEMLIMIT_MAX 4294967296ULL

struct keyring;

enum keyring_kind {
	KEYRING_KEK = 1,    /* key-encryption keys, by epoch */
	KEYRING_TOKEN = 2,  /* token keys, by version */
	KEYRING_INDEX = 3,  /* index keys (blind indexes, token lookups), by version */
};

/* How the root key is obtained; stored in the ring file's header. */
enum keyring_root_kind {
	KEYRING_ROOT_KEYFILE = 1,    /* 32 random bytes in a key file */
	KEYRING_ROOT_PASSPHRASE = 2, /* Argon2id13 (crypto_pwhash) of a passphrase */
	KEYRING_ROOT_PKCS11 = 3,     /* a random key wrapped by a PKCS#11 token's key */
	KEYRING_ROOT_SHARES = 4,     /* a random key split into Shamir shares (share.h) */
};

/*
 * Kind 3: where the wrapping key lives and the wrapped sealing key
 * (keys/pkcs11.h, keyring_pkcs11.h). The module path is not stored: it
 * differs between machines (vaultd.conf, vault-keytool --pkcs11).
 */
#define KEYRING_P11_TOKEN_MAX 32
#define KEYRING_P11_KEY_MAX 64
#define KEYRING_P11_IV_BYTES 12
#define KEYRING_P11_WRAPPED_BYTES 48
struct keyring_pkcs11 {
	uint32_t mechanism;                   /* CKM_AES_GCM */
	char token[KEYRING_P11_TOKEN_MAX + 1]; /* NUL-terminated labels */
	char key[KEYRING_P11_KEY_MAX + 1];
	uint8_t iv[KEYRING_P11_IV_BYTES];
	uint8_t wrapped[KEYRING_P11_WRAPPED_BYTES];
};

/*
 * The root key's kind and, for a passphrase, the KDF salt and costs. For a
 * key file the salt and both limits are zero.
 */
struct keyring_root_params {
	enum keyring_root_kind kind;
	uint8_t salt[KEYRING_SALT_BYTES];
	uint64_t opslimit;
	uint64_t memlimit; /* bytes */
	struct keyring_pkcs11 p11; /* kind 3 only; all zero otherwise */
	/*
	 * Shamir shares (header bytes 12..15): kind 4 always (the sealing key
	 * is split), kind 3 optionally (the PIN is split); 0 and 0 otherwise.
	 * 2 <= threshold <= shares <= 255.
	 */
	uint16_t share_threshold;
	uint16_t share_count;
};

/*
 * Read the root key from a key file: exactly 32 bytes, a regular file owned
 * by the caller's uid with no group or other permission bits. root must
 * point to KEYRING_KEY_BYTES of secure memory. Returns 0, VAULT_E_KEYRING
 * (with a reason in *why) or VAULT_E_IO.
 */
int keyring_root_key_read(const char *path, uint8_t *root, const char **why);
/*
 * Create a new random root key file (O_EXCL, mode 0600) and return it in root.
 * On VAULT_E_IO (as for keyring_create() and keyring_save()) errno still
 * holds the system's reason, for the caller to print with the path.
 */
int keyring_root_key_create(const char *path, uint8_t *root, const char **why);

/*
 * Create a new ring with one key of each kind (epoch 1, version 1), write it
 * to path atomically, and return it in *out. Fails if path exists.
 */
int keyring_create(const char *path, const uint8_t *root, struct keyring **out,
    const char **why);
/*
 * Load and open the ring at path with root. A wrong root key or passphrase
 * and a corrupted file all give VAULT_E_KEYRING ("key ring cannot be opened
 * with this root key or passphrase, or is damaged"): the AEAD cannot tell
 * them apart. The ring remembers the header's root parameters.
 */
int keyring_load(const char *path, const uint8_t *root, struct keyring **out,
    const char **why);
/*
 * As keyring_create(), with the root key kind and KDF parameters p written
 * into the header (keyring_create() uses keyring_params_keyfile()). root
 * must be the key p describes: for a passphrase, keyring_root_from_passphrase()
 * with these same p. Bad p gives VAULT_E_CONFIG.
 */
int keyring_create2(const char *path, const uint8_t *root,
    const struct keyring_root_params *p, struct keyring **out, const char **why);

/*
 * Read only the header of the ring file at path: no key needed, and no
 * secret is revealed. Checks the magic, format version and root kind and
 * that the KDF parameters are within KEYRING_OPSLIMIT_* and
 * KEYRING_MEMLIMIT_* (else VAULT_E_KEYRING, "KDF parameters out of range").
 * The file must be a regular file (a symlink is not followed); its mode is
 * not checked, as keyring_load() does. Returns 0, VAULT_E_KEYRING or VAULT_E_IO.
 */
int keyring_file_params(const char *path, struct keyring_root_params *out,
    const char **why);
/*
 * Derive the root key from pass[0..len) with p (kind
 * KEYRING_ROOT_PASSPHRASE). root must point to KEYRING_KEY_BYTES of secure
 * memory. Takes as long and as much memory as p asks. Returns 0,
 * VAULT_E_CONFIG (p is not a valid passphrase kind) or VAULT_E_NOMEM (the
 * KDF could not get its memory).
 */
int keyring_root_from_passphrase(const char *pass, size_t len,
    const struct keyring_root_params *p, uint8_t *root);
/*
 * Fresh passphrase parameters: a random salt and at least libsodium's
 * MODERATE costs (crypto_pwhash_OPSLIMIT_MODERATE, _MEMLIMIT_MODERATE:
 * 3 passes over 256 MiB). Callers may lower the costs within the bounds.
 */
void keyring_params_new_passphrase(struct keyring_root_params *p);
/* The parameters of a key file root: kind 1, everything else zero. */
void keyring_params_keyfile(struct keyring_root_params *p);
/* A sealing key split into n shares, k of which unseal: kind 4. */
void keyring_params_shares(struct keyring_root_params *p, unsigned n, unsigned k);
/*
 * The associated data the token's AES-GCM binds the wrapped sealing key
 * to: the magic, format version and kind, the mechanism and both labels
 * (keys/README.md). out must hold KEYRING_P11_AAD_MAX bytes; returns the
 * length used.
 */
#define KEYRING_P11_AAD_MAX 128
size_t keyring_pkcs11_aad(const struct keyring_root_params *p, uint8_t *out);
/*
 * Load the ring at path whose root is derived from pass[0..len) with the
 * parameters in its header; the file is read once. The derived root is left
 * in root (KEYRING_KEY_BYTES of secure memory), as keyring_save() needs it;
 * it is wiped on failure. A ring with a key file root is refused.
 */
int keyring_load_passphrase(const char *path, const char *pass, size_t len,
    uint8_t *root, struct keyring **out, const char **why);

/* Wipe and free. Accepts NULL. */
void keyring_free(struct keyring *kr);

/*
 * Encode and decode the sealed file image (exposed for tests and fuzzing).
 * keyring_seal() writes kr's root parameters (keyring_params()) into the
 * header with a fresh nonce; root must be the key they describe.
 * keyring_open_image() accepts both root kinds; the whole header, KDF
 * parameters included, is the AEAD's associated data.
 */
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
/* When that key was made, in Unix seconds; 0 if the ring has no such key. */
uint64_t keyring_key_created(const struct keyring *kr, enum keyring_kind kind,
    uint32_t version);
/* The root parameters the ring was created or loaded with; lives as long as kr. */
const struct keyring_root_params *keyring_params(const struct keyring *kr);

/*
 * Mutations. Each returns a NEW ring in *out, sealed read-only like a
 * loaded one, and never modifies kr; the caller owns both and frees both.
 * Nothing is written to disk: keyring_save() does that.
 */

/*
 * Add a random key of kind with version (epoch) = highest + 1 and make it
 * current; its version goes to *version (may be NULL). VAULT_E_KEYRING if
 * the kind already holds KEYRING_MAX_KEYS keys (or the version would
 * overflow), VAULT_E_NOMEM.
 */
int keyring_with_new_key(const struct keyring *kr, enum keyring_kind kind,
    struct keyring **out, uint32_t *version);
/*
 * Remove the key of that version (retire an epoch: its key is destroyed
 * when the last ring holding it is freed). Refuses the current one ("the
 * current epoch cannot be retired") and one the ring does not hold, with
 * VAULT_E_KEYRING.
 */
int keyring_without_key(const struct keyring *kr, enum keyring_kind kind,
    uint32_t version, struct keyring **out, const char **why);
/*
 * The same keys under other root parameters (a new passphrase salt or
 * cost, or another root kind); save it with the root p describes. Bad p
 * gives VAULT_E_CONFIG.
 */
int keyring_with_root_params(const struct keyring *kr,
    const struct keyring_root_params *p, struct keyring **out, const char **why);

/*
 * Seal kr with its root parameters and root (which must be the key they
 * describe: a ring saved with another root is lost), then write it to path
 * atomically, replacing the file: a temporary file path + ".tmp." + 16
 * random hex digits (O_EXCL|O_NOFOLLOW, mode 0600, a new name on EEXIST) in
 * the same directory, fsync, rename, fsync of the directory. A failure
 * leaves the old file whole; a crash may leave the temporary, which
 * keyring_sweep_temps() removes. Returns 0, VAULT_E_IO, VAULT_E_NOMEM or
 * VAULT_E_KEYRING, with a reason.
 */
int keyring_save(const struct keyring *kr, const char *path, const uint8_t *root,
    const char **why);

/*
 * Remove the temporaries a crash during a save or create left next to the
 * ring at path: regular files of ours named "<ring name>.tmp.<1-32 hex
 * digits>" (the random names above and the older "<pid>" ones). Such a file
 * is a whole sealed ring, and may still hold an epoch retired since, so
 * every program that saves the ring calls this when it starts (vaultd,
 * vault-keytool). removed() (may be NULL) is told each name removed.
 * Returns how many were removed, or -1 with errno.
 */
int keyring_sweep_temps(const char *path, void (*removed)(const char *name, void *arg),
    void *arg);

#endif
