/*
 * restore_take.h - moving whole records from the live store into a
 * restored one (restore.c): a record the backup cannot give back readable,
 * or one created since the backup.
 */
#ifndef VAULT_RESTORE_TAKE_H
#define VAULT_RESTORE_TAKE_H

#include <stddef.h>
#include <stdint.h>

#include "vault/store/store.h"


struct store;

/* A set of record ids (sorted by restore_take_live()). */
struct idset {
	uint64_t *v;
	size_t n, cap;
};

int idset_add(struct idset *t, uint64_t id);

/*
 * Replace, in the restored store (write transaction to), the records of
 * t and everything that names them with the live store's (read
 * transaction ltxn): records, documents, blind, deterministic and card
 * index entries, its recipients set (sealed under its data key), holds on
 * them (and the holds themselves if rs lacks them). Entries are found by where each database puts the record id
 * (store.h), not by decoding the record, so nothing depends on its keys.
 */
int restore_take_live(struct store_txn *to, struct store_txn *ltxn, struct idset *t);

#endif
