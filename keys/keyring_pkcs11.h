/*
 * keyring_pkcs11.h - the key ring sealed by a PKCS#11 token (root kind 3).
 *
 * The ring's sealing key (the "root" keyring_seal() and keyring_load()
 * take) is 32 random bytes made when the ring is created. The token's
 * AES-256 key encrypts it with AES-GCM, bound to the ring's header
 * (keyring_pkcs11_aad()), and the ring's header keeps the result with the
 * token and key labels. Unsealing asks the token to decrypt it; the
 * sealing key then stays in secure memory (services' root) so that
 * rotations and retirements re-save the ring without the token. A future
 * rekey makes a new sealing key and wraps it again.
 */
#ifndef VAULT_KEYS_KEYRING_PKCS11_H
#define VAULT_KEYS_KEYRING_PKCS11_H

#include <stddef.h>
#include <stdint.h>

#include "keyring.h"
#include "pkcs11.h"

/*
 * Create the ring at path sealed by t's key (made first with create_key):
 * root (KEYRING_KEY_BYTES of secure memory) receives the new sealing key.
 * share_count and share_threshold (0 and 0: none) record in the header
 * that the PIN is split into Shamir shares (the caller splits it).
 * Returns 0, or a VAULT_E_* code with err->message saying what is wrong
 * (err->status is PKCS11_OK when the token was not the problem).
 */
int keyring_pkcs11_create(const char *path, const struct pkcs11_target *t,
    const char *pin, size_t pinlen, int create_key, unsigned share_count,
    unsigned share_threshold, uint8_t *root, struct keyring **out,
    struct pkcs11_error *err);

/*
 * Wrap root (a new sealing key) with t's key for the header p (kind 3,
 * labels set; p's IV and wrapped key are filled in). For a rekey.
 */
int keyring_pkcs11_wrap(const struct pkcs11_target *t, const char *pin, size_t pinlen,
    const uint8_t *root, struct keyring_root_params *p, struct pkcs11_error *err);

/*
 * Open the kind 3 ring at path with the token: module from the caller,
 * token and key labels from the ring's header. want_token and want_key
 * (may be NULL or "") must then match the header's labels, or
 * VAULT_E_CONFIG names both. root receives the sealing key (wiped on
 * failure). Errors as keyring_pkcs11_create().
 */
int keyring_pkcs11_unseal(const char *path, const char *module, const char *want_token,
    const char *want_key, const char *pin, size_t pinlen, uint8_t *root,
    struct keyring **out, struct pkcs11_error *err);

#endif
