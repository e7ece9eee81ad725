/*
 * args.c - shared argument parsing (see args.h).
 */
#include "common/msg.h"
#include "vault/crypto/token.h"
#include "vault/keyset.h"
#include "vault/server.h"
#include "args.h"

int
arg_record(const struct key_set *keys, const struct request *req, uint64_t *id,
    struct op_error *err)
{
	const char *s = NULL;
	size_t len = 0;
	struct token_ref ref;
	int rc = msg_get_str(req->args, "record", 1, &s, &len);
	if (rc != 0)
		return op_fail(err, rc, "record", "record must be a record token (string)");
	if (token_parse(keys->tokens, s, len, &ref) != 0)
		return op_fail(err, VAULT_E_BAD_TOKEN, "record", NULL);
	if (ref.type != TOKEN_RECORD)
		return op_fail(err, VAULT_E_BAD_TOKEN, "record",
		    "a field token where a record token is needed");
	*id = ref.record_id;
	return 0;
}
