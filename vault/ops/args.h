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

/*
 * Policy for field tokens, after arg_check_writes (PROTOCOL.md 10.4). A
 * deterministic token, and a card token of a stored value (stored: the
 * tokens are of values already in the record, as in tokenize, not of
 * values this request sends), is an equality test on the value: it needs
 * plain access or a join grant (policy.h). Opaque tokens, and card tokens
 * of a value the request sends, need only write access.
 */
int arg_check_tokens(const struct request *req, const struct record_input *in,
    int stored, struct op_error *err);

/*
 * Count the deterministic and card tokens in asks for against the client's
 * token_issue_per_minute: 0, or VAULT_E_RATE_LIMITED (with an alert the
 * first time in a window). Call last in prepare, after every other check,
 * so that refused requests cost nothing.
 */
int arg_token_budget(struct read_ctx *ctx, const struct request *req,
    const struct record_input *in, struct op_error *err);

#endif
