/*
 * unseal_shares.h - the Shamir shares operators have given while the vault
 * is sealed (vaultctl unseal --share), until K of them unseal it or fail
 * to. They sit in libsodium secure memory, are never logged, and are wiped
 * after every combination, good or bad. unseal.c calls these under its
 * own lock; unseal_shares_given() may be called from any thread (status).
 */
#ifndef VAULT_OPS_UNSEAL_SHARES_H
#define VAULT_OPS_UNSEAL_SHARES_H

#include "keys/share.h"

/*
 * Keep a copy of s, one of threshold. 0 with the count in *given;
 * VAULT_E_CONFLICT if a share of that index was given already (nothing
 * changes); VAULT_E_NOMEM. Once *given == threshold the caller combines
 * them (unseal_shares_all()) and then calls unseal_shares_clear().
 */
int unseal_shares_give(const struct share *s, unsigned threshold, unsigned *given);
/* The shares given so far, and how many. */
const struct share *unseal_shares_all(unsigned *count);
/* Wipe and forget every share given. */
void unseal_shares_clear(void);
/* How many are held now (0 after a clear). */
unsigned unseal_shares_given(void);

#endif
