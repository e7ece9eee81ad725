/*
 * passphrase.h - reading a passphrase as vaultctl unseal and vaultd
 * --restore do: from the terminal with echo off when standard input is
 * one, else one line of standard input (so scripts can pipe it in).
 * Never from the command line (ps, shell history), never printed.
 */
#ifndef VAULT_COMMON_PASSPHRASE_H
#define VAULT_COMMON_PASSPHRASE_H

#include <stddef.h>

#define PASSPHRASE_MAX 1024 /* bytes, newline excluded (as vault-keytool) */

enum passphrase_result {
	PASSPHRASE_OK,
	PASSPHRASE_ERROR,     /* errno tells */
	PASSPHRASE_TOO_LONG,
	PASSPHRASE_EMPTY,     /* an empty line */
	PASSPHRASE_EOF,       /* no input at all */
	PASSPHRASE_NO_TTY,    /* stdin is a terminal that cannot be used; errno tells */
};

/*
 * Read one passphrase into buf (PASSPHRASE_MAX + 1 bytes, NUL-terminated,
 * length in *len). From a terminal, prompt is written to it and echo is off
 * while the line is typed (put back on a fatal signal too). It is read
 * with read(2) byte by byte: no stdio buffer keeps a copy. On anything but
 * PASSPHRASE_OK, buf is wiped. *from (may be NULL) says where it was read:
 * "the terminal" or "standard input", for messages.
 */
enum passphrase_result passphrase_read(const char *prompt, char *buf, size_t *len,
    const char **from);

#endif
