/*
 * reply.c - packing reply frames (see reply.h).
 */
#include <stdio.h>

#include <sodium.h>

#include "common/frame.h"
#include "common/msg.h"
#include "reply.h"

/* The code of the last reply this thread packed (reply_last_code). */
static _Thread_local int last_code __attribute__((tls_model("initial-exec")));

int
reply_last_code(void)
{
	return last_code;
}

size_t
reply_begin(struct buf *out, msgpack_packer *pk, uint64_t id)
{
	size_t start = frame_begin(out);
	last_code = 0;
	msgpack_packer_init(pk, out, buf_msgpack_write);
	msgpack_pack_map(pk, 3);
	mp_cstr(pk, "id");
	msgpack_pack_uint64(pk, id);
	mp_cstr(pk, "ok");
	msgpack_pack_true(pk);
	mp_cstr(pk, "result");
	return start;
}

void
reply_end(struct buf *out, size_t start, uint64_t id, size_t max_body)
{
	int rc = frame_end(out, start, max_body);
	if (rc != 0)
		reply_error_code(out, id, rc, NULL,
		    rc == VAULT_E_TOO_LARGE ? "reply would exceed the frame limit" : NULL);
}

void
reply_abandon(struct buf *out, size_t start)
{
	if (out->len > start) {
		sodium_memzero(out->data + start, out->len - start);
		out->len = start;
	}
	out->error = 0;
}

static void
pack_error(struct buf *out, uint64_t id, int code, const char *field,
    const char *message, const char *count_name, uint64_t count, const char *rule)
{
	msgpack_packer pk;
	size_t start = frame_begin(out);
	last_code = code;
	msgpack_packer_init(&pk, out, buf_msgpack_write);
	msgpack_pack_map(&pk, 3);
	mp_cstr(&pk, "id");
	msgpack_pack_uint64(&pk, id);
	mp_cstr(&pk, "ok");
	msgpack_pack_false(&pk);
	mp_cstr(&pk, "error");
	msgpack_pack_map(&pk, 3 + (field != NULL) + (count_name != NULL) + (rule != NULL));
	mp_cstr(&pk, "code");
	msgpack_pack_int(&pk, code);
	mp_cstr(&pk, "name");
	mp_cstr(&pk, vault_error_name(code));
	mp_cstr(&pk, "message");
	mp_cstr(&pk, message ? message : vault_strerror(code));
	if (field) {
		mp_cstr(&pk, "field");
		mp_cstr(&pk, field);
	}
	if (count_name) {
		mp_cstr(&pk, count_name);
		msgpack_pack_uint64(&pk, count);
	}
	if (rule) {
		mp_cstr(&pk, "rule");
		mp_cstr(&pk, rule);
	}
	/* An error reply is small; if even it cannot be packed we are out of
	 * memory and the connection will be dropped by the caller. */
	frame_end(out, start, UINT32_MAX);
}

void
reply_error_code(struct buf *out, uint64_t id, int code, const char *field,
    const char *message)
{
	pack_error(out, id, code, field, message, NULL, 0, NULL);
}

void
reply_error(struct buf *out, uint64_t id, const struct op_error *err)
{
	pack_error(out, id, err->code, err->field, err->message, err->count_name,
	    err->count, err->rule);
}

void
reply_refuse_caller(struct buf *out, uid_t uid, gid_t gid)
{
	char msg[96];
	snprintf(msg, sizeof(msg), "no client of the policy matches this caller "
	    "(uid %lu, gid %lu)", (unsigned long)uid, (unsigned long)gid);
	reply_error_code(out, 0, VAULT_E_DENIED, NULL, msg);
}
