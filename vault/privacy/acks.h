/*
 * acks.h - the signed statement of who acknowledged a deletion request's
 * notices, and when (PROTOCOL.md 8.22, "Acknowledgements").
 *
 * The receipt is signed when the deletion completes, before any service
 * provider could act on its notice, so it can only list who was notified.
 * Acknowledgements arrive later, one by one; request_show therefore builds
 * and signs this second document on demand, as of that moment:
 *
 *   {"acknowledgements": [{"acked_at": uint or null, "client", "notice",
 *    "notified_at"}, ...], "generated_at", "pending": n, "request",
 *    "type": "deletion-acknowledgements", "version": 1}
 *
 * keys sorted, no spaces, signed like the receipt. It names clients and
 * notice ids only: nothing of the person.
 */
#ifndef VAULT_PRIVACY_ACKS_H
#define VAULT_PRIVACY_ACKS_H

#include <stdint.h>

#include "common/buf.h"

struct store_txn;

/* Request's statement as of now into out (no NUL). 0 or a vault error. */
int acks_document(struct store_txn *txn, uint64_t request, uint64_t now, struct buf *out);

#endif
