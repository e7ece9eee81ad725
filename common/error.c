/*
 * error.c - names and descriptions of the vault's error codes, shared by
 * the server (which sends them) and the client library (which returns them).
 */
#include <stddef.h>

#include <vault/vault.h>

struct error_entry {
	int code;
	const char *name;
	const char *text;
};

static const struct error_entry errors[] = {
	{ VAULT_OK, "VAULT_OK", "success" },
	{ VAULT_E_PROTO_FRAME, "VAULT_E_PROTO_FRAME", "malformed frame or message" },
	{ VAULT_E_PROTO_FRAME_TOO_LARGE, "VAULT_E_PROTO_FRAME_TOO_LARGE", "frame exceeds the size limit" },
	{ VAULT_E_PROTO_VERSION, "VAULT_E_PROTO_VERSION", "unsupported protocol version" },
	{ VAULT_E_PROTO_UNKNOWN_OP, "VAULT_E_PROTO_UNKNOWN_OP", "unknown operation" },
	{ VAULT_E_PROTO_TYPE, "VAULT_E_PROTO_TYPE", "argument has the wrong type" },
	{ VAULT_E_PROTO_MISSING, "VAULT_E_PROTO_MISSING", "required argument missing" },
	{ VAULT_E_PROTO_UNKNOWN_ARG, "VAULT_E_PROTO_UNKNOWN_ARG", "unknown argument" },
	{ VAULT_E_PURPOSE, "VAULT_E_PURPOSE", "missing or unknown purpose" },
	{ VAULT_E_UNKNOWN_FIELD, "VAULT_E_UNKNOWN_FIELD", "unknown field" },
	{ VAULT_E_INVALID_VALUE, "VAULT_E_INVALID_VALUE", "invalid value" },
	{ VAULT_E_TOO_LARGE, "VAULT_E_TOO_LARGE", "value exceeds its size limit" },
	{ VAULT_E_LIMIT, "VAULT_E_LIMIT", "too many items in one request or record" },
	{ VAULT_E_TOKEN_KIND, "VAULT_E_TOKEN_KIND", "token kind does not apply to this field" },
	{ VAULT_E_REASON, "VAULT_E_REASON", "unknown deletion reason" },
	{ VAULT_E_EMPTY, "VAULT_E_EMPTY", "no value" },
	{ VAULT_E_NO_PERMISSION, "VAULT_E_NO_PERMISSION", "written permission required for a request on someone else's behalf" },
	{ VAULT_E_BAD_TOKEN, "VAULT_E_BAD_TOKEN", "not a token issued by this vault" },
	{ VAULT_E_NOT_FOUND, "VAULT_E_NOT_FOUND", "not found" },
	{ VAULT_E_DELETED, "VAULT_E_DELETED", "record deleted" },
	{ VAULT_E_STALE_TOKEN, "VAULT_E_STALE_TOKEN", "field changed since the token was issued" },
	{ VAULT_E_CONFLICT, "VAULT_E_CONFLICT", "record changed meanwhile; retry" },
	{ VAULT_E_REQUEST_STATE, "VAULT_E_REQUEST_STATE", "the request's state does not allow this" },
	{ VAULT_E_NOT_VERIFIED, "VAULT_E_NOT_VERIFIED", "the request is not verified or not confirmed" },
	{ VAULT_E_CONFIRMATION, "VAULT_E_CONFIRMATION", "wrong or expired confirmation code" },
	{ VAULT_E_HELD, "VAULT_E_HELD", "the record is under a hold" },
	{ VAULT_E_ALREADY_ACKED, "VAULT_E_ALREADY_ACKED", "the deletion notice was acknowledged before" },
	{ VAULT_E_DENIED, "VAULT_E_DENIED", "permission denied" },
	{ VAULT_E_SEALED, "VAULT_E_SEALED", "vault is sealed" },
	{ VAULT_E_RATE_LIMITED, "VAULT_E_RATE_LIMITED", "too many attempts; retry later" },
	{ VAULT_E_SERVER_IDENTITY, "VAULT_E_SERVER_IDENTITY", "the server is not running as the expected user" },
	{ VAULT_E_INTERNAL, "VAULT_E_INTERNAL", "internal error" },
	{ VAULT_E_NOMEM, "VAULT_E_NOMEM", "out of memory" },
	{ VAULT_E_STORAGE, "VAULT_E_STORAGE", "storage error" },
	{ VAULT_E_NO_SPACE, "VAULT_E_NO_SPACE", "storage full" },
	{ VAULT_E_CRYPTO, "VAULT_E_CRYPTO", "stored data failed authentication" },
	{ VAULT_E_BUSY, "VAULT_E_BUSY", "server busy; retry later" },
	{ VAULT_E_SHUTTING_DOWN, "VAULT_E_SHUTTING_DOWN", "server shutting down" },
	{ VAULT_E_IO, "VAULT_E_IO", "input/output error" },
	{ VAULT_E_CONFIG, "VAULT_E_CONFIG", "configuration error" },
	{ VAULT_E_KEYRING, "VAULT_E_KEYRING", "key ring error" },
	{ VAULT_E_AUDIT, "VAULT_E_AUDIT", "audit trail unavailable; nothing returned" },
	{ VAULT_E_UNAVAILABLE, "VAULT_E_UNAVAILABLE", "storage unreachable; nothing was done; retry later" },
	{ VAULT_E_UNCERTAIN, "VAULT_E_UNCERTAIN", "the write may have been stored; read it back before retrying" },
	{ VAULT_E_BACKUP, "VAULT_E_BACKUP", "no verified backup could be taken; nothing was retired" },
};

static const struct error_entry *
find(int code)
{
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].code == code)
			return &errors[i];
	return NULL;
}

const char *
vault_strerror(int code)
{
	const struct error_entry *e = find(code);
	return e ? e->text : "unknown error";
}

const char *
vault_error_name(int code)
{
	const struct error_entry *e = find(code);
	return e ? e->name : "VAULT_E_UNKNOWN";
}
