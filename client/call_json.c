/*
 * call_json.c - vault_call_json(): any operation, arguments and result as
 * JSON text (vault.h). It serves operations the library has no typed call
 * for, and vaultctl's privacy commands.
 *
 * JSON goes through jansson in both directions: arguments are parsed into
 * a jansson tree, checked (no reals, bounded nesting, no common keys) and
 * packed as msgpack behind call_begin()'s common keys; the result is turned
 * into a jansson tree and dumped, keys sorted, into a buffer of our own.
 * Argument values and results are personal data: every string of the trees
 * is wiped before the tree is released, the reply and request buffers are
 * cleared, and error messages are static text (never a value, never
 * jansson's error text, which quotes the input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>
#include <vault/vault.h>

#include "common/msg.h"
#include "client.h"

#define CALL_JSON_MAX_DEPTH 16
#define CALL_JSON_MAX_BYTES ((size_t)16 << 20)
#define OP_MAX_BYTES 64

/* A failure found here, not by the server: a static message. */
static int
local_fail(struct vault *v, int code, const char *message)
{
	snprintf(v->message, sizeof(v->message), "%s", message);
	v->last_count = 0;
	v->last_field[0] = '\0';
	return code;
}

/* Wipe every string value of j in place (keys are names, not values). */
static void
wipe_tree(json_t *j, unsigned depth)
{
	const char *key;
	json_t *e;
	size_t i;

	if (j == NULL || depth > CALL_JSON_MAX_DEPTH + 2)
		return;
	if (json_is_string(j)) {
		sodium_memzero((char *)json_string_value(j), json_string_length(j));
	} else if (json_is_object(j)) {
		json_object_foreach(j, key, e)
			wipe_tree(e, depth + 1);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, e)
			wipe_tree(e, depth + 1);
	}
}

/* Release j, wiping its strings first if this is the last reference. */
static void
wipe_decref(json_t *j)
{
	if (j != NULL && j->refcount == 1)
		wipe_tree(j, 0);
	json_decref(j);
}

/* Arguments: what may be sent, checked before anything is packed. */
static int
check_value(struct vault *v, const json_t *j, unsigned depth)
{
	const char *key;
	json_t *e;
	size_t i;
	int rc;

	if (json_is_object(j) || json_is_array(j)) {
		if (depth > CALL_JSON_MAX_DEPTH)
			return local_fail(v, VAULT_E_LIMIT,
			    "arguments nest deeper than the library allows");
		if (json_is_object(j)) {
			json_object_foreach((json_t *)j, key, e)
				if ((rc = check_value(v, e, depth + 1)) != 0)
					return rc;
		} else {
			json_array_foreach(j, i, e)
				if ((rc = check_value(v, e, depth + 1)) != 0)
					return rc;
		}
		return 0;
	}
	if (json_is_real(j))
		return local_fail(v, VAULT_E_PROTO_TYPE,
		    "arguments hold a real number; the protocol has integers only");
	return 0;
}

static void
pack_value(msgpack_packer *pk, const json_t *j)
{
	const char *key;
	json_t *e;
	size_t i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		msgpack_pack_map(pk, json_object_size(j));
		json_object_foreach((json_t *)j, key, e) {
			mp_cstr(pk, key);
			pack_value(pk, e);
		}
		break;
	case JSON_ARRAY:
		msgpack_pack_array(pk, json_array_size(j));
		json_array_foreach(j, i, e)
			pack_value(pk, e);
		break;
	case JSON_STRING:
		mp_str(pk, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		if (json_integer_value(j) >= 0)
			msgpack_pack_uint64(pk, (uint64_t)json_integer_value(j));
		else
			msgpack_pack_int64(pk, (int64_t)json_integer_value(j));
		break;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		break;
	default: /* JSON_NULL; reals were refused */
		msgpack_pack_nil(pk);
		break;
	}
}

/* Parse args_json (NULL: no arguments) into *out (NULL for none). */
static int
parse_args(struct vault *v, const char *args_json, enum vault_purpose purpose,
    json_t **out)
{
	static const char *const common[] = { "v", "id", "op" };
	json_error_t err;
	json_t *args;
	int rc;

	*out = NULL;
	if (args_json == NULL)
		return 0;
	if (strnlen(args_json, CALL_JSON_MAX_BYTES + 1) > CALL_JSON_MAX_BYTES)
		return local_fail(v, VAULT_E_TOO_LARGE, "arguments larger than 16 MiB");
	args = json_loads(args_json, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (args == NULL) {
		switch (json_error_code(&err)) {
		case json_error_out_of_memory:
			return local_fail(v, VAULT_E_NOMEM, "out of memory");
		case json_error_stack_overflow:
			return local_fail(v, VAULT_E_LIMIT,
			    "arguments nest deeper than the library allows");
		case json_error_numeric_overflow:
			return local_fail(v, VAULT_E_PROTO_TYPE,
			    "arguments hold an integer out of the 64-bit range");
		case json_error_duplicate_key:
			return local_fail(v, VAULT_E_PROTO_FRAME,
			    "arguments give a key twice");
		default:
			/* err.text quotes the input: say where, not what. */
			snprintf(v->message, sizeof(v->message),
			    "arguments are not valid JSON (line %d, column %d)", err.line,
			    err.column);
			v->last_count = 0;
			v->last_field[0] = '\0';
			return VAULT_E_PROTO_FRAME;
		}
	}
	if (!json_is_object(args)) {
		rc = local_fail(v, VAULT_E_PROTO_TYPE, "arguments must be a JSON object");
		goto fail;
	}
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (json_object_get(args, common[i]) != NULL) {
			rc = local_fail(v, VAULT_E_PROTO_UNKNOWN_ARG,
			    "v, id and op are set by the library, not by arguments");
			goto fail;
		}
	/* audit_query's purpose argument is a filter; otherwise the library sends it. */
	if (purpose != 0 && json_object_get(args, "purpose") != NULL) {
		rc = local_fail(v, VAULT_E_PROTO_UNKNOWN_ARG,
		    "purpose is given both as the call's purpose and as an argument");
		goto fail;
	}
	if ((rc = check_value(v, args, 1)) != 0)
		goto fail;
	*out = args;
	return 0;
fail:
	wipe_decref(args);
	return rc;
}

/* The result, msgpack to jansson. NULL with *rc set on failure. */
static json_t *
to_json(const msgpack_object *o, unsigned depth, int *rc)
{
	json_t *j = NULL, *e;

	if (depth > CALL_JSON_MAX_DEPTH) {
		*rc = VAULT_E_LIMIT;
		return NULL;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		j = json_null();
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		j = json_boolean(o->via.boolean);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > (uint64_t)INT64_MAX) {
			*rc = VAULT_E_PROTO_FRAME;
			return NULL;
		}
		j = json_integer((json_int_t)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		j = json_integer((json_int_t)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		/* jansson refuses NaN and infinities: then NULL, a protocol error. */
		j = json_real(o->via.f64);
		if (j == NULL) {
			*rc = VAULT_E_PROTO_FRAME;
			return NULL;
		}
		break;
	case MSGPACK_OBJECT_STR:
		/* NULL if not UTF-8 (or no memory): a reply we cannot express. */
		j = json_stringn(o->via.str.ptr, o->via.str.size);
		if (j == NULL) {
			*rc = VAULT_E_PROTO_FRAME;
			return NULL;
		}
		break;
	case MSGPACK_OBJECT_BIN: {
		size_t cap = sodium_base64_ENCODED_LEN(o->via.bin.size,
		    sodium_base64_VARIANT_ORIGINAL);
		char *b64 = malloc(cap);
		if (b64 == NULL)
			break;
		sodium_bin2base64(b64, cap, (const unsigned char *)o->via.bin.ptr,
		    o->via.bin.size, sodium_base64_VARIANT_ORIGINAL);
		j = json_string(b64);
		sodium_memzero(b64, cap);
		free(b64);
		break;
	}
	case MSGPACK_OBJECT_ARRAY:
		if ((j = json_array()) == NULL)
			break;
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if ((e = to_json(&o->via.array.ptr[i], depth + 1, rc)) == NULL ||
			    json_array_append_new(j, e) != 0) {
				if (e != NULL)
					*rc = VAULT_E_NOMEM;
				wipe_decref(j);
				return NULL;
			}
		}
		break;
	case MSGPACK_OBJECT_MAP:
		if ((j = json_object()) == NULL)
			break;
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];
			char key[256];

			/* Keys are names: short strings without NUL, each once. */
			if (kv->key.type != MSGPACK_OBJECT_STR ||
			    kv->key.via.str.size >= sizeof(key) ||
			    memchr(kv->key.via.str.ptr, '\0', kv->key.via.str.size) != NULL) {
				*rc = VAULT_E_PROTO_FRAME;
				wipe_decref(j);
				return NULL;
			}
			memcpy(key, kv->key.via.str.ptr, kv->key.via.str.size);
			key[kv->key.via.str.size] = '\0';
			if (json_object_get(j, key) != NULL) {
				*rc = VAULT_E_PROTO_FRAME;
				wipe_decref(j);
				return NULL;
			}
			if ((e = to_json(&kv->val, depth + 1, rc)) == NULL ||
			    json_object_set_new(j, key, e) != 0) {
				if (e != NULL)
					*rc = VAULT_E_NOMEM;
				wipe_decref(j);
				return NULL;
			}
		}
		break;
	default: /* ext types never pass the reply check */
		*rc = VAULT_E_PROTO_FRAME;
		return NULL;
	}
	if (j == NULL)
		*rc = VAULT_E_NOMEM;
	return j;
}

/* Dump j, keys sorted, into a malloc'd buffer of our own (wipeable). */
static int
dump(const json_t *j, char **out)
{
	const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;
	size_t n = json_dumpb(j, NULL, 0, flags);
	char *s;

	if (n == 0 || (s = malloc(n + 1)) == NULL)
		return VAULT_E_NOMEM;
	if (json_dumpb(j, s, n, flags) != n) {
		sodium_memzero(s, n);
		free(s);
		return VAULT_E_NOMEM;
	}
	s[n] = '\0';
	*out = s;
	return 0;
}

/* An operation name: lower-case letters, digits and '_'. */
static int
op_ok(const char *op)
{
	size_t n = strnlen(op, OP_MAX_BYTES + 1);

	if (n == 0 || n > OP_MAX_BYTES)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((op[i] >= 'a' && op[i] <= 'z') || (op[i] >= '0' && op[i] <= '9') ||
		    op[i] == '_'))
			return 0;
	return 1;
}

int
vault_call_json(struct vault *v, const char *op, enum vault_purpose purpose,
    const char *args_json, char **result_json)
{
	const msgpack_object *res;
	json_t *args = NULL, *result = NULL;
	const char *key;
	json_t *e;
	size_t start;
	uint64_t id;
	int rc;

	if (result_json != NULL)
		*result_json = NULL;
	if (v == NULL)
		return VAULT_E_INVALID_VALUE;
	if (op == NULL)
		return local_fail(v, VAULT_E_PROTO_MISSING, "no operation named");
	if (!op_ok(op))
		return local_fail(v, VAULT_E_PROTO_UNKNOWN_OP,
		    "an operation name is 1-64 of a-z, 0-9 and _");
	if (purpose != 0 && vault_purpose_name(purpose) == NULL)
		return local_fail(v, VAULT_E_PURPOSE, "unknown purpose");
	if ((rc = parse_args(v, args_json, purpose, &args)) != 0)
		return rc;
	msgpack_packer pk = call_begin(v, op, purpose, args ? json_object_size(args) : 0,
	    &start, &id);
	if (args != NULL)
		json_object_foreach(args, key, e) {
			mp_cstr(&pk, key);
			pack_value(&pk, e);
		}
	wipe_decref(args);
	rc = call_roundtrip(v, start, id, &res);
	buf_clear(&v->out); /* left behind when the frame could not be sent */
	if (rc != 0)
		goto out;
	if ((result = to_json(res, 1, &rc)) == NULL) {
		if (rc == VAULT_E_NOMEM)
			local_fail(v, rc, "out of memory");
		else
			local_fail(v, rc, "the result cannot be expressed as JSON");
		goto out;
	}
	if (result_json != NULL && (rc = dump(result, result_json)) != 0)
		local_fail(v, rc, "out of memory");
out:
	wipe_decref(result);
	buf_clear(&v->in); /* the reply may hold personal data */
	return rc;
}

uint64_t
vault_last_remaining(const struct vault *v)
{
	return v != NULL ? v->last_count : 0;
}

const char *
vault_last_field(const struct vault *v)
{
	return v != NULL ? v->last_field : "";
}
