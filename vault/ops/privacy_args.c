/*
 * privacy_args.c - shared checks of the privacy operations (privacy_args.h).
 */
#include "common/msg.h"
#include "vault/policy.h"
#include "vault/privacy/request.h"
#include "vault/record/normalize.h"
#include "vault/services.h"
#include "privacy_args.h"

int
privacy_check(const struct request *req, struct op_error *err)
{
	if (req->client->may_privacy)
		return 0;
	return op_deny(err, NULL, req->client->name,
	    "the policy does not let this client handle privacy requests");
}

int
arg_uint(const struct request *req, const char *name, int required, uint64_t *v,
    struct op_error *err)
{
	int rc = msg_get_uint(req->args, name, required, v);
	return rc ? op_fail(err, rc, name, "an unsigned integer is needed") : 0;
}

int
arg_request_id(const struct request *req, uint64_t *id, struct op_error *err)
{
	int rc = arg_uint(req, "request", 1, id, err);
	if (rc == 0 && *id == 0)
		return op_fail(err, VAULT_E_NOT_FOUND, "request", "no such request");
	return rc;
}

int
arg_text(const struct request *req, const char *name, int required, size_t max,
    const char **s, size_t *len, struct op_error *err)
{
	int rc = msg_get_str(req->args, name, required, s, len);
	if (rc != 0)
		return op_fail(err, rc, name, "a string is needed");
	if (*s == NULL)
		return 0;
	if (*len == 0)
		return op_fail(err, VAULT_E_EMPTY, name, NULL);
	if (*len > max)
		return op_fail(err, VAULT_E_TOO_LARGE, name, NULL);
	if (!utf8_text_valid(*s, *len, 0))
		return op_fail(err, VAULT_E_INVALID_VALUE, name,
		    "text must be UTF-8 without control characters");
	return 0;
}

int
arg_request_load(struct store_txn *txn, struct vault_services *svc, uint64_t id,
    struct privacy_request *r, struct buf *copy, struct op_error *err)
{
	int rc = request_load(txn, STORE_REQUESTS, id, r, copy);
	if (rc != 0)
		return op_fail(err, rc, "request", rc == VAULT_E_NOT_FOUND ? "no such request" : NULL);
	return 0;
}
