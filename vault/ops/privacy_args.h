/*
 * privacy_args.h - what the privacy request and hold operations share:
 * the permission check and their common arguments.
 */
#ifndef VAULT_OPS_PRIVACY_ARGS_H
#define VAULT_OPS_PRIVACY_ARGS_H

#include <stddef.h>
#include <stdint.h>


#include "vault/store/store.h"
#include "op.h"

/* The caller has privacy = true in the policy, or VAULT_E_DENIED. */
int privacy_check(const struct request *req, struct op_error *err);
/* A uint argument. */
int arg_uint(const struct request *req, const char *name, int required,
    uint64_t *v, struct op_error *err);
/* The "request" argument: an id. */
int arg_request_id(const struct request *req, uint64_t *id, struct op_error *err);
/*
 * A text argument of 1..max bytes of UTF-8 without control characters.
 * Never echoed in errors: it may name a person.
 */
int arg_text(const struct request *req, const char *name, int required,
    size_t max, const char **s, size_t *len, struct op_error *err);

struct privacy_request;
struct buf;
/*
 * Load the request the "request" argument named, in txn (pointers into
 * copy if given); a failure is in err, naming the argument.
 */
int arg_request_load(struct store_txn *txn, struct vault_services *svc, uint64_t id,
    struct privacy_request *r, struct buf *copy, struct op_error *err);

#endif
