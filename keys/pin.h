/*
 * pin.h - a PKCS#11 user PIN from a file (vault-keytool --pin-file, vaultd's
 * [keys] pkcs11_pin_file, and the systemd credential pkcs11.pin through
 * vault/credential.c). Never from the command line.
 *
 * The file holds the PIN, optionally followed by one newline ("\n" or
 * "\r\n", as `echo` or an editor leaves it). The buffer is the caller's
 * secure memory of PKCS11_PIN_BUF bytes; it is wiped on every failure.
 */
#ifndef VAULT_KEYS_PIN_H
#define VAULT_KEYS_PIN_H

#include <stddef.h>

#include "pkcs11.h"

#define PKCS11_PIN_BUF (PKCS11_PIN_MAX + 3) /* PIN, "\r\n", NUL */

/*
 * Take the PIN out of the n bytes read into buf: drop one trailing newline,
 * refuse an empty PIN, one holding a NUL or a newline, or longer than
 * PKCS11_PIN_MAX. NUL-terminates. 0, or VAULT_E_KEYRING with *why.
 */
int pin_parse(char *buf, size_t n, size_t *len, const char **why);

/*
 * Read the PIN file at path: a regular file (not a symlink) owned by the
 * caller, no access for group or others (0600 or 0400). 0, VAULT_E_KEYRING
 * or VAULT_E_IO with a static reason in *why.
 */
int pin_read_file(const char *path, char *buf, size_t *len, const char **why);

/* Read the rest of fd (at most PKCS11_PIN_BUF - 1 bytes) and parse it. */
int pin_read_fd(int fd, char *buf, size_t *len, const char **why);

#endif
