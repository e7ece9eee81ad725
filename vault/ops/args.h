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

#endif
