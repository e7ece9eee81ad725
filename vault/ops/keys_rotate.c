/*
 * keys_rotate.c - "keys_rotate" (admin): a new current key. For the
 * key-encryption key ("kek", the default) a new epoch, after which the
 * writer rewraps every data key in the background; for "token" and
 * "index" a new version, older versions staying in the ring so tokens
 * already handed out keep working.
 */
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { "kind", NULL };

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	const char *s = "kek";
	size_t len = 3;
	int rc = msg_get_str(req->args, "kind", 0, &s, &len);
	if (rc != 0)
		return op_fail(err, rc, "kind", "kind is kek, token or index");
	enum keyring_kind *kind = malloc(sizeof(*kind));
	if (kind == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if (len == 3 && memcmp(s, "kek", 3) == 0)
		*kind = KEYRING_KEK;
	else if (len == 5 && memcmp(s, "token", 5) == 0)
		*kind = KEYRING_TOKEN;
	else if (len == 5 && memcmp(s, "index", 5) == 0)
		*kind = KEYRING_INDEX;
	else {
		free(kind);
		return op_fail(err, VAULT_E_INVALID_VALUE, "kind", "kind is kek, token or index");
	}
	*state = kind;
	return 0;
}

static int
control(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	enum keyring_kind kind = *(enum keyring_kind *)state;
	const char *why = NULL;
	uint32_t version;
	int rc = ctx->svc->control->keys_rotate(ctx, kind, &version, &why);
	if (rc != 0)
		return op_fail(err, rc, NULL, why);
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "kind");
	mp_cstr(pk, kind == KEYRING_KEK ? "kek" : kind == KEYRING_TOKEN ? "token" : "index");
	mp_cstr(pk, "version");
	msgpack_pack_uint32(pk, version);
	return 0;
}

const struct op op_keys_rotate = {
	.name = "keys_rotate",
	.kind = OP_CONTROL,
	.admin = 1,
	.args = args,
	.prepare = prepare,
	.control = control,
	.free_state = free,
};
