/*
 * args.c - shared argument parsing (see args.h).
 */
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "vault/alert.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/policy.h"
#include "vault/record/input.h"
#include "vault/services.h"
#include "args.h"

int
arg_record_named(const struct key_set *keys, const struct request *req,
    const char *name, uint64_t *id, struct op_error *err)
{
	const char *s = NULL;
	size_t len = 0;
	struct token_ref ref;
	int rc = msg_get_str(req->args, name, 1, &s, &len);
	if (rc != 0)
		return op_fail(err, rc, name, "a record token (string) is needed");
	if (token_parse(keys->tokens, s, len, &ref) != 0)
		return op_fail(err, VAULT_E_BAD_TOKEN, name, NULL);
	if (ref.type != TOKEN_RECORD)
		return op_fail(err, VAULT_E_BAD_TOKEN, name,
		    "a field token where a record token is needed");
	*id = ref.record_id;
	return 0;
}

int
arg_record(const struct key_set *keys, const struct request *req, uint64_t *id,
    struct op_error *err)
{
	return arg_record_named(keys, req, "record", id, err);
}

static int
may_touch(const struct request *req, unsigned field, struct op_error *err)
{
	if (policy_access(req->client, req->purpose, field) != ACCESS_NONE)
		return 0;
	return op_deny(err, field == FIELD_DOCUMENT_SLOT ? "documents" : field_by_id(field)->name,
	    policy_rule(req->client, req->purpose), "the policy grants no access to this field");
}

int
arg_check_writes(const struct request *req, const struct record_input *in,
    struct op_error *err)
{
	int rc;
	for (unsigned i = 0; i < in->nvalues; i++)
		if ((rc = may_touch(req, in->values[i].id, err)) != 0)
			return rc;
	for (unsigned i = 0; i < in->nclear; i++)
		if ((rc = may_touch(req, in->clear[i], err)) != 0)
			return rc;
	for (unsigned i = 0; i < in->ntokens; i++)
		if ((rc = may_touch(req, in->tokens[i].field, err)) != 0)
			return rc;
	if ((in->ndocs || in->nremove) && (rc = may_touch(req, FIELD_DOCUMENT_SLOT, err)) != 0)
		return rc;
	/*
	 * A marketing choice is changed through a field of its channel; and
	 * never in marketing's favour by marketing itself: an opt-in with
	 * purpose marketing is refused.
	 */
	static const unsigned channel_field[3] = { FIELD_EMAIL, FIELD_PHONE, FIELD_POSTAL_ADDRESS };
	for (unsigned i = 0; i < 3; i++) {
		uint8_t bit = (uint8_t)(1u << i);
		if (!(in->consent_set & bit))
			continue;
		if ((rc = may_touch(req, channel_field[i], err)) != 0)
			return rc;
		if (req->purpose == VAULT_PURPOSE_MARKETING && !(in->consent_value & bit))
			return op_deny(err, "marketing_opt_out", policy_rule(req->client, req->purpose),
			    "an opt-in cannot be recorded with purpose marketing");
	}
	return 0;
}

int
arg_check_tokens(const struct request *req, const struct record_input *in,
    int stored, struct op_error *err)
{
	for (unsigned i = 0; i < in->ntokens; i++) {
		unsigned field = in->tokens[i].field;
		uint8_t kind = in->tokens[i].kind;
		if (kind == VAULT_TOKEN_OPAQUE || (kind == VAULT_TOKEN_CARD && !stored))
			continue; /* random per issuance, or of a value the caller sent */
		if (policy_may_join(req->client, req->purpose, field))
			continue;
		return op_deny(err, field_by_id(field)->name,
		    policy_rule(req->client, req->purpose),
		    kind == VAULT_TOKEN_DETERMINISTIC ?
		    "a deterministic token tests equality: it needs plain access or a join grant" :
		    "a card token of a stored value needs plain access or a join grant");
	}
	return 0;
}

int
arg_token_budget(struct read_ctx *ctx, const struct request *req,
    const struct record_input *in, struct op_error *err)
{
	uint32_t n = 0;
	for (unsigned i = 0; i < in->ntokens; i++)
		n += in->tokens[i].kind != VAULT_TOKEN_OPAQUE;
	if (n == 0)
		return 0; /* opaque tokens reveal nothing: not counted */
	const char *name = req->client->name;
	enum ratelimit_verdict v = ratelimit_hit(&ctx->svc->token_issue_rl,
	    ratelimit_key(name, strlen(name)), ctx->now, n,
	    ctx->svc->cfg.token_issue_per_minute);
	if (v == RATELIMIT_OK)
		return 0;
	if (v == RATELIMIT_OVER_FIRST)
		alert_raise(ctx->svc, ctx->keys, ALERT_TOKEN_BURST, req->client, req->uid);
	return op_fail(err, VAULT_E_RATE_LIMITED, "tokens",
	    "more deterministic and card tokens this minute than token_issue_per_minute");
}
