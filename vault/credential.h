/*
 * credential.h - the root key (or a PKCS#11 PIN, below) as a systemd credential: with
 * LoadCredential=root.key:/etc/vault/root.key, systemd hands vaultd a copy
 * in $CREDENTIALS_DIRECTORY (a read-only, non-swappable file system only
 * the service can read), so the key file itself may stay root's 0400.
 * vaultd reads it there when the file exists and [keys] root_key_path was
 * not set in the configuration (a path set explicitly wins). Nothing is
 * ever written there (--dev creates keys only at root_key_path).
 */
#ifndef VAULT_CREDENTIAL_H
#define VAULT_CREDENTIAL_H

#include <stddef.h>
#include <stdint.h>

/*
 * 1 with the credential's path in out if $CREDENTIALS_DIRECTORY is set and
 * holds root.key (anything by that name: credential_read_root_key refuses
 * what is not a key); 0 if not.
 */
int credential_root_key_path(char *out, size_t cap);

/*
 * Read the 32-byte root key at path into root (secure memory). The file
 * must be a regular file (not a link) of exactly 32 bytes, owned by root
 * or vaultd's user, in a directory of the same owners that neither group
 * nor others may write or others enter. The file itself: no access for
 * group or others (as the key file: mode 0600 or 0400), or, with a POSIX
 * access ACL, none for anyone but its owner and vaultd's user. systemd
 * writes credentials 0400 root-owned and lets the service's user read them
 * through an ACL entry, which stat shows as a group read bit (the mask).
 * 0, or VAULT_E_KEYRING / VAULT_E_IO with a static reason in *why.
 */
int credential_read_root_key(const char *path, uint8_t *root, const char **why);

/*
 * The PKCS#11 token's user PIN as the credential pkcs11.pin
 * (LoadCredential=pkcs11.pin:/etc/vault/pkcs11.pin): used when
 * $CREDENTIALS_DIRECTORY holds it and [keys] pkcs11_pin_file is not set.
 * The path lookup and the checks of the file and its directory are the
 * root key's; its content is a PIN file's (keys/pin.h): the PIN, one
 * optional newline. pin is PKCS11_PIN_BUF bytes of secure memory.
 */
int credential_pkcs11_pin_path(char *out, size_t cap);
int credential_read_pkcs11_pin(const char *path, char *pin, size_t *len, const char **why);

#endif
