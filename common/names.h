/*
 * names.h - wire names looked up by their exact bytes.
 *
 * A name from the wire comes with its length and may hold any byte. Copying
 * it into a C string and calling vault_*_from_name() would accept
 * "legal\0garbage" as "legal"; these compare the whole length instead, so an
 * accepted name is byte for byte its canonical form. The server uses only
 * these for wire input; the public vault_*_from_name() remain for C strings.
 */
#ifndef VAULT_COMMON_NAMES_H
#define VAULT_COMMON_NAMES_H

#include <stddef.h>

#include <vault/vault.h>

/* 0 when s[0..len) is not exactly one of the names. */
enum vault_purpose names_purpose(const char *s, size_t len);
enum vault_token_kind names_token_kind(const char *s, size_t len);
enum vault_delete_reason names_delete_reason(const char *s, size_t len);

#endif
