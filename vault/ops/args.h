/*
 * args.h - arguments several operations share.
 */
#ifndef VAULT_OPS_ARGS_H
#define VAULT_OPS_ARGS_H

#include <stdint.h>

#include "op.h"

/* The "record" argument: a record token, authenticated, as a record id. */
int arg_record(const struct key_set *keys, const struct request *req,
    uint64_t *id, struct op_error *err);
/* The same for argument name. */
int arg_record_named(const struct key_set *keys, const struct request *req,
    const char *name, uint64_t *id, struct op_error *err);

struct record_input;

/*
 * Policy for writes: the caller may set or clear a field, add or remove
 * documents, or ask a token of a field only if the policy grants it some
 * access (not none) to that field for the request's purpose.
 */
int arg_check_writes(const struct request *req, const struct record_input *in,
    struct op_error *err);

#endif
