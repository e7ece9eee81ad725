/*
 * reseal.h - moving the reasons an operator typed (holds, request
 * extensions) to a new KEK epoch, so that the retire of the old epoch
 * leaves no copy of them readable (secrets.h).
 */
#ifndef VAULT_PRIVACY_RESEAL_H
#define VAULT_PRIVACY_RESEAL_H

#include <stddef.h>
#include <stdint.h>

#include "vault/store/store.h"


struct key_set;
struct vault_services;

/*
 * In txn: reseal under epoch (which must be the ring's current one) every
 * hold reason and every kept extension reason sealed under another epoch.
 * A reason whose epoch the ring no longer holds cannot be opened: it is
 * left as it is (nothing can read it) and counted in *lost. Returns 0 or a
 * VAULT_E_* error (the caller aborts txn).
 */
int reasons_reseal(struct store_txn *txn, struct vault_services *svc, const struct key_set *ks,
    uint32_t epoch, size_t *moved, size_t *lost);

#endif
