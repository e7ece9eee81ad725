/*
 * issue.h - issuing field tokens inside the writer's transaction, shared by
 * create (tokens asked for with the record) and tokenize.
 */
#ifndef VAULT_OPS_ISSUE_H
#define VAULT_OPS_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"
#include "vault/record/input.h"
#include "vault/store/record_codec.h"

/* Plaintext values by field id (NULL: the record has no value). */
struct plain_values {
	const uint8_t *p[FIELD_MAX + 1];
	size_t len[FIELD_MAX + 1];
};

#define CARD_CT_BYTES (CARD_MAX_DIGITS + SEAL_OVERHEAD)

/*
 * Check that every request can be served (the field has a value): returns
 * 0 or VAULT_E_EMPTY naming the field. Call before any write.
 */
int tokens_check(const struct token_request *reqs, unsigned n,
    const struct plain_values *vals, struct op_error *err);

/*
 * Issue the tokens, updating r (card token, deterministic entries) and the
 * index databases, and pack an array of {"field", "kind", "token"}.
 * Deterministic tags are keyed by domain, the asking client's join domain
 * (policy.h). The policy was checked in prepare (arg_check_tokens). The
 * caller stores r afterwards; card_ct must live until then.
 */
int tokens_issue(struct write_ctx *ctx, uint64_t id, struct record *r,
    const uint8_t *dek, const struct token_request *reqs, unsigned n,
    const char *domain, const struct plain_values *vals, uint8_t card_ct[CARD_CT_BYTES],
    msgpack_packer *pk, struct op_error *err);

/* Remove r's index entries for field (card token, deterministic tag). */
int tokens_forget_field(struct write_ctx *ctx, uint64_t id, struct record *r,
    uint8_t field);

#endif
