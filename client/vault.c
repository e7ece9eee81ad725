/*
 * vault.c - connections and operations of the client library (vault.h).
 *
 * Each call packs one request frame, sends it, and reads frames until the
 * reply with the same id arrives. Replies are checked with the same bounded
 * reader as requests on the server before anything is unpacked. A
 * connection is used only once the process listening on the socket has
 * shown (SO_PEERCRED) that it runs as the uid vaultd is expected to run as.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/frame.h"
#include "common/paths.h"
#include "common/msg.h"
#include "client.h"

#define REPLY_MAX_BYTES (256u << 20)

/*
 * The uid the server must run as: the option, else VAULT_SERVER_UID, else
 * the owner of the socket's directory (the directory, not the socket
 * file: in a directory others could write to, the file could be theirs;
 * in vaultd's own directory only vaultd's user can create it).
 */
static int
expected_uid(const char *socket_path, const struct vault_connect_options *opts,
    uid_t *uid)
{
	const char *env;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;

	if (opts != NULL && opts->has_server_uid) {
		*uid = (uid_t)opts->server_uid;
		return 0;
	}
	/* secure_getenv: a setuid program's caller does not choose whom it trusts. */
	env = secure_getenv("VAULT_SERVER_UID");
	if (env != NULL && env[0] != '\0') {
		unsigned long long n = 0;
		for (const char *p = env; *p != '\0'; p++) {
			if (*p < '0' || *p > '9' || n > UINT32_MAX / 10) {
				errno = EINVAL;
				return VAULT_E_CONFIG;
			}
			n = n * 10 + (unsigned)(*p - '0');
		}
		/* (uid_t)-1 is no uid: chown(2) and setreuid(2) read it as "unchanged". */
		if (n >= UINT32_MAX) {
			errno = EINVAL;
			return VAULT_E_CONFIG;
		}
		*uid = (uid_t)n;
		return 0;
	}
	memcpy(dir, socket_path, strlen(socket_path) + 1);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		memcpy(dir, ".", 2);
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0)
		return VAULT_E_IO;
	*uid = st.st_uid;
	return 0;
}

int
vault_connect_opts(const char *socket_path, const struct vault_connect_options *opts,
    struct vault **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uid_t want;
	int rc;

	/* NULL: the environment's socket, else the installed vaultd's. */
	if (socket_path == NULL) {
		socket_path = secure_getenv("VAULT_SOCKET");
		if (socket_path == NULL || socket_path[0] == '\0')
			socket_path = VAULT_SOCKET_PATH;
	}
	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return VAULT_E_IO;
	}
	if (sodium_init() < 0)
		return VAULT_E_INTERNAL;
	if ((rc = expected_uid(socket_path, opts, &want)) != 0)
		return rc;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	struct vault *v = calloc(1, sizeof(*v));
	if (v == NULL)
		return VAULT_E_NOMEM;
	if (!msgpack_zone_init(&v->zone, 4096)) {
		free(v);
		return VAULT_E_NOMEM;
	}
	v->next_id = 1;
	v->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v->fd < 0 || connect(v->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockopt(v->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		int e = errno;
		vault_close(v);
		errno = e;
		return VAULT_E_IO;
	}
	/* Before the first byte: a request may carry personal data. */
	if (cred.uid != want) {
		vault_close(v);
		errno = EPERM;
		return VAULT_E_SERVER_IDENTITY;
	}
	*out = v;
	return 0;
}

int
vault_connect(const char *socket_path, struct vault **out)
{
	return vault_connect_opts(socket_path, NULL, out);
}

void
vault_close(struct vault *v)
{
	if (v == NULL)
		return;
	if (v->fd >= 0)
		close(v->fd);
	buf_free(&v->out);
	buf_free(&v->in);
	msgpack_zone_destroy(&v->zone);
	free(v);
}

const char *
vault_last_message(const struct vault *v)
{
	return v ? v->message : "";
}

int
vault_set_timeout(struct vault *v, unsigned int timeout_ms)
{
	v->timeout_ms = timeout_ms;
	return 0;
}

/* Start a request: map with the common keys plus nargs arguments. */
msgpack_packer
call_begin(struct vault *v, const char *op, enum vault_purpose purpose, size_t nargs,
    size_t *start, uint64_t *id)
{
	msgpack_packer pk;
	buf_clear(&v->out);
	*start = frame_begin(&v->out);
	msgpack_packer_init(&pk, &v->out, buf_msgpack_write);
	*id = v->next_id++;
	msgpack_pack_map(&pk, 3 + (purpose ? 1 : 0) + nargs);
	mp_cstr(&pk, "v");
	msgpack_pack_uint32(&pk, VAULT_PROTOCOL_VERSION);
	mp_cstr(&pk, "id");
	msgpack_pack_uint64(&pk, *id);
	mp_cstr(&pk, "op");
	mp_cstr(&pk, op);
	if (purpose) {
		const char *name = vault_purpose_name(purpose);
		mp_cstr(&pk, "purpose");
		mp_cstr(&pk, name ? name : "");
	}
	return pk;
}

static int
send_all(struct vault *v)
{
	size_t off = 0;
	while (off < v->out.len) {
		ssize_t n = send(v->fd, v->out.data + off, v->out.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return VAULT_E_IO;
		off += (size_t)n;
	}
	buf_clear(&v->out);
	return 0;
}

static int
recv_some(struct vault *v, size_t want)
{
	while (v->in.len < want) {
		if (v->timeout_ms) {
			struct pollfd p = { v->fd, POLLIN, 0 };
			int r = poll(&p, 1, (int)v->timeout_ms);
			if (r == 0) {
				errno = ETIMEDOUT;
				return VAULT_E_IO;
			}
		}
		int rc = buf_reserve(&v->in, want - v->in.len);
		if (rc != 0)
			return rc;
		ssize_t n = recv(v->fd, v->in.data + v->in.len, want - v->in.len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = ECONNRESET;
		if (n <= 0)
			return VAULT_E_IO;
		v->in.len += (size_t)n;
	}
	return 0;
}

/* Read one reply frame and decode it into *root. */
static int
read_reply(struct vault *v, msgpack_object *root)
{
	size_t body = 0;
	int rc;
	buf_clear(&v->in);
	if ((rc = recv_some(v, FRAME_HEADER_SIZE)) != 0)
		return rc;
	enum frame_status fs = frame_peek(v->in.data, v->in.len, REPLY_MAX_BYTES, &body);
	if (fs == FRAME_TOO_LARGE || fs == FRAME_EMPTY)
		return VAULT_E_PROTO_FRAME;
	if ((rc = recv_some(v, FRAME_HEADER_SIZE + body)) != 0)
		return rc;
	struct mp_limits lim = { 8, body };
	msgpack_zone_clear(&v->zone);
	return msg_decode(v->in.data + FRAME_HEADER_SIZE, body, &lim, &v->zone, root);
}

/*
 * Send the request packed in v->out (started at start) and wait for its
 * reply. On success *result is the reply's result object, valid until the
 * next call on v.
 */
/*
 * A caller the policy does not know gets one error frame with id 0 and the
 * close (PROTOCOL.md 2.5). The request may have been sent before the close
 * or fail to send (EPIPE) after it: either way the frame is waiting in the
 * socket, so a failed send looks for it before reporting the send error.
 */
static int
read_refusal(struct vault *v, msgpack_object *root)
{
	struct pollfd p = { v->fd, POLLIN, 0 };
	unsigned timeout = v->timeout_ms;
	int e = errno, rc;
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) {
		errno = e;
		return VAULT_E_IO;
	}
	v->timeout_ms = 100; /* the frame is whole in the buffer or not coming */
	rc = read_reply(v, root);
	v->timeout_ms = timeout;
	uint64_t rid = 1;
	if (rc != 0 || msg_get_uint(root, "id", 1, &rid) != 0 || rid != 0) {
		errno = e;
		return VAULT_E_IO;
	}
	return 0;
}

int
call_roundtrip(struct vault *v, size_t start, uint64_t id, const msgpack_object **result)
{
	static msgpack_object nil = { .type = MSGPACK_OBJECT_NIL };
	msgpack_object root;
	int rc;

	v->message[0] = '\0';
	v->last_field[0] = '\0';
	if (v->refused) {
		buf_clear(&v->out);
		snprintf(v->message, sizeof(v->message), "%s", v->refusal);
		return v->refused;
	}
	if ((rc = frame_end(&v->out, start, REPLY_MAX_BYTES)) != 0)
		return rc;
	if ((rc = send_all(v)) != 0) {
		buf_clear(&v->out);
		if (read_refusal(v, &root) != 0)
			return rc;
	} else {
		for (;;) {
			if ((rc = read_reply(v, &root)) != 0)
				return rc;
			uint64_t rid = 0;
			if (msg_get_uint(&root, "id", 1, &rid) != 0)
				return VAULT_E_PROTO_FRAME;
			if (rid == id || rid == 0)
				break;
			/* A reply to an earlier, abandoned call: skip it. */
		}
	}
	const msgpack_object *ok = msg_get(&root, "ok");
	if (ok == NULL || ok->type != MSGPACK_OBJECT_BOOLEAN)
		return VAULT_E_PROTO_FRAME;
	if (!ok->via.boolean) {
		const msgpack_object *e = msg_get(&root, "error"), *code, *msg;
		if (e == NULL || e->type != MSGPACK_OBJECT_MAP ||
		    (code = msg_get(e, "code")) == NULL ||
		    code->type != MSGPACK_OBJECT_POSITIVE_INTEGER || code->via.u64 == 0 ||
		    code->via.u64 > 999)
			return VAULT_E_PROTO_FRAME;
		if ((msg = msg_get(e, "message")) != NULL && msg->type == MSGPACK_OBJECT_STR) {
			size_t n = msg->via.str.size < sizeof(v->message) - 1 ?
			    msg->via.str.size : sizeof(v->message) - 1;
			memcpy(v->message, msg->via.str.ptr, n);
			v->message[n] = '\0';
		}
		v->last_count = obj_u64(e, "remaining");
		const msgpack_object *rule = msg_get(e, "rule");
		if (rule != NULL && rule->type == MSGPACK_OBJECT_STR) {
			size_t used = strlen(v->message);
			if (sizeof(v->message) - used > 10 + rule->via.str.size)
				snprintf(v->message + used, sizeof(v->message) - used, " (rule: %.*s)",
				    (int)rule->via.str.size, rule->via.str.ptr);
		}
		const msgpack_object *field = msg_get(e, "field");
		if (field != NULL && field->type == MSGPACK_OBJECT_STR &&
		    field->via.str.size < sizeof(v->last_field)) {
			memcpy(v->last_field, field->via.str.ptr, field->via.str.size);
			v->last_field[field->via.str.size] = '\0';
		}
		if (field != NULL && field->type == MSGPACK_OBJECT_STR) {
			size_t used = strlen(v->message);
			size_t room = sizeof(v->message) - used;
			if (room > 10 + field->via.str.size) {
				memcpy(v->message + used, " (field: ", 9);
				memcpy(v->message + used + 9, field->via.str.ptr, field->via.str.size);
				v->message[used + 9 + field->via.str.size] = ')';
				v->message[used + 10 + field->via.str.size] = '\0';
			}
		}
		uint64_t rid = 1;
		if (code->via.u64 == VAULT_E_DENIED && msg_get_uint(&root, "id", 1, &rid) == 0 &&
		    rid == 0) {
			/* The connection's refusal, not this call's: it holds for all. */
			v->refused = VAULT_E_DENIED;
			snprintf(v->refusal, sizeof(v->refusal), "%s", v->message);
		}
		return (int)code->via.u64;
	}
	*result = msg_get(&root, "result");
	if (*result == NULL)
		*result = &nil;
	return 0;
}

char *
obj_strdup(const msgpack_object *o)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	char *s = malloc(o->via.str.size + 1);
	if (s) {
		memcpy(s, o->via.str.ptr, o->via.str.size);
		s[o->via.str.size] = '\0';
	}
	return s;
}

static void
pack_fields(msgpack_packer *pk, const struct vault_record *r)
{
	msgpack_pack_map(pk, r ? r->nfields : 0);
	for (size_t i = 0; r && i < r->nfields; i++) {
		mp_cstr(pk, r->fields[i].name);
		mp_cstr(pk, r->fields[i].value);
	}
}

static void
pack_docs(msgpack_packer *pk, const struct vault_record *r)
{
	msgpack_pack_array(pk, r->ndocs);
	for (size_t i = 0; i < r->ndocs; i++) {
		msgpack_pack_map(pk, 3);
		mp_cstr(pk, "name");
		mp_cstr(pk, r->docs[i].name);
		mp_cstr(pk, "type");
		mp_cstr(pk, r->docs[i].type);
		mp_cstr(pk, "data");
		mp_bin(pk, r->docs[i].data, r->docs[i].len);
	}
}

int
vault_create(struct vault *v, enum vault_purpose purpose,
    const struct vault_record *fields, char **record_token)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	int docs = fields && fields->ndocs > 0;
	msgpack_packer pk = call_begin(v, "create", purpose, 1 + docs, &start, &id);
	mp_cstr(&pk, "fields");
	pack_fields(&pk, fields);
	if (docs) {
		mp_cstr(&pk, "documents");
		pack_docs(&pk, fields);
	}
	int rc = call_roundtrip(v, start, id, &res);
	if (rc != 0)
		return rc;
	if ((*record_token = obj_strdup(msg_get(res, "record"))) == NULL)
		return VAULT_E_PROTO_FRAME;
	return 0;
}

/* Turn a read result into a record. */
static int
record_from_result(const msgpack_object *res, struct vault_record **out)
{
	const msgpack_object *f, *d, *sl;
	struct vault_record *r;
	int rc;
	if ((rc = vault_record_new(&r)) != 0)
		return rc;
	f = msg_get(res, "fields");
	if (f == NULL || f->type != MSGPACK_OBJECT_MAP) {
		rc = VAULT_E_PROTO_FRAME;
		goto fail;
	}
	for (uint32_t i = 0; i < f->via.map.size && rc == 0; i++) {
		const msgpack_object_kv *kv = &f->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR)
			rc = VAULT_E_PROTO_FRAME;
		else
			rc = record_set_n(r, kv->key.via.str.ptr, kv->key.via.str.size,
			    kv->val.via.str.ptr, kv->val.via.str.size);
	}
	const msgpack_object *oo = msg_get(res, "marketing_opt_out");
	if (rc == 0 && oo != NULL && oo->type == MSGPACK_OBJECT_MAP) {
		static const char *const names[3] = { "email", "phone", "mail" };
		r->opt_out_known = 1;
		for (int i = 0; i < 3; i++) {
			const msgpack_object *b = msg_get(oo, names[i]);
			r->opt_out[i] = b && b->type == MSGPACK_OBJECT_BOOLEAN && b->via.boolean;
		}
	}
	sl = msg_get(res, "document_slots");
	if (rc == 0 && sl != NULL && sl->type == MSGPACK_OBJECT_ARRAY && sl->via.array.size > 0) {
		r->slots = calloc(sl->via.array.size, sizeof(*r->slots));
		if (r->slots == NULL)
			rc = VAULT_E_NOMEM;
		for (uint32_t i = 0; rc == 0 && i < sl->via.array.size; i++) {
			if (sl->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				rc = VAULT_E_PROTO_FRAME;
			else
				r->slots[r->nslots++] = (uint32_t)sl->via.array.ptr[i].via.u64;
		}
	}
	d = msg_get(res, "documents");
	if (rc == 0 && d != NULL && d->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < d->via.array.size && rc == 0; i++) {
			const msgpack_object *doc = &d->via.array.ptr[i], *slot, *name, *type, *data;
			if (doc->type != MSGPACK_OBJECT_MAP ||
			    (slot = msg_get(doc, "slot")) == NULL ||
			    slot->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
			    (name = msg_get(doc, "name")) == NULL || name->type != MSGPACK_OBJECT_STR ||
			    (type = msg_get(doc, "type")) == NULL || type->type != MSGPACK_OBJECT_STR ||
			    (data = msg_get(doc, "data")) == NULL || data->type != MSGPACK_OBJECT_BIN) {
				rc = VAULT_E_PROTO_FRAME;
				break;
			}
			rc = record_add_doc_n(r, (uint32_t)slot->via.u64, name->via.str.ptr,
			    name->via.str.size, type->via.str.ptr, type->via.str.size,
			    data->via.bin.ptr, data->via.bin.size);
		}
	}
	if (rc != 0)
		goto fail;
	*out = r;
	return 0;
fail:
	vault_record_free(r);
	return rc;
}

int
vault_read(struct vault *v, enum vault_purpose purpose, const char *record_token,
    const char *const *fields, size_t nfields, int with_documents,
    struct vault_record **out)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	msgpack_packer pk = call_begin(v, "read", purpose,
	    1 + (fields != NULL) + (with_documents != 0), &start, &id);
	mp_cstr(&pk, "record");
	mp_cstr(&pk, record_token);
	if (fields != NULL) {
		mp_cstr(&pk, "fields");
		msgpack_pack_array(&pk, nfields);
		for (size_t i = 0; i < nfields; i++)
			mp_cstr(&pk, fields[i]);
	}
	if (with_documents) {
		mp_cstr(&pk, "documents");
		msgpack_pack_true(&pk);
	}
	int rc = call_roundtrip(v, start, id, &res);
	if (rc == 0)
		rc = record_from_result(res, out);
	buf_clear(&v->in); /* the reply held personal data */
	return rc;
}

int
vault_read_document(struct vault *v, enum vault_purpose purpose,
    const char *record_token, uint32_t slot, struct vault_record **out)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	msgpack_packer pk = call_begin(v, "read", purpose, 3, &start, &id);
	mp_cstr(&pk, "record");
	mp_cstr(&pk, record_token);
	mp_cstr(&pk, "fields");
	msgpack_pack_array(&pk, 0);
	mp_cstr(&pk, "documents");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_uint32(&pk, slot);
	int rc = call_roundtrip(v, start, id, &res);
	if (rc == 0)
		rc = record_from_result(res, out);
	buf_clear(&v->in);
	return rc;
}

int
vault_update(struct vault *v, enum vault_purpose purpose, const char *record_token,
    const struct vault_record *set, const char *const *clear, size_t nclear,
    const uint32_t *remove_slots, size_t nremove)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	int has_set = set && set->nfields > 0, has_docs = set && set->ndocs > 0;
	msgpack_packer pk = call_begin(v, "update", purpose,
	    1 + has_set + has_docs + (nclear > 0) + (nremove > 0), &start, &id);
	mp_cstr(&pk, "record");
	mp_cstr(&pk, record_token);
	if (has_set) {
		mp_cstr(&pk, "set");
		pack_fields(&pk, set);
	}
	if (has_docs) {
		mp_cstr(&pk, "add_documents");
		pack_docs(&pk, set);
	}
	if (nclear > 0) {
		mp_cstr(&pk, "clear");
		msgpack_pack_array(&pk, nclear);
		for (size_t i = 0; i < nclear; i++)
			mp_cstr(&pk, clear[i]);
	}
	if (nremove > 0) {
		mp_cstr(&pk, "remove_documents");
		msgpack_pack_array(&pk, nremove);
		for (size_t i = 0; i < nremove; i++)
			msgpack_pack_uint32(&pk, remove_slots[i]);
	}
	return call_roundtrip(v, start, id, &res);
}

int
vault_delete(struct vault *v, enum vault_purpose purpose, const char *record_token,
    enum vault_delete_reason reason)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	const char *rname = vault_delete_reason_name(reason);
	msgpack_packer pk = call_begin(v, "delete", purpose, 2, &start, &id);
	mp_cstr(&pk, "record");
	mp_cstr(&pk, record_token);
	mp_cstr(&pk, "reason");
	mp_cstr(&pk, rname ? rname : "");
	return call_roundtrip(v, start, id, &res);
}

int
vault_tokenize(struct vault *v, enum vault_purpose purpose, const char *record_token,
    const char *field, enum vault_token_kind kind, char **token)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res, *toks;
	const char *kname = vault_token_kind_name(kind);
	msgpack_packer pk = call_begin(v, "tokenize", purpose, 2, &start, &id);
	mp_cstr(&pk, "record");
	mp_cstr(&pk, record_token);
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 2);
	mp_cstr(&pk, "field");
	mp_cstr(&pk, field);
	mp_cstr(&pk, "kind");
	mp_cstr(&pk, kname ? kname : "");
	int rc = call_roundtrip(v, start, id, &res);
	if (rc != 0)
		return rc;
	toks = msg_get(res, "tokens");
	if (toks == NULL || toks->type != MSGPACK_OBJECT_ARRAY || toks->via.array.size != 1 ||
	    toks->via.array.ptr[0].type != MSGPACK_OBJECT_MAP ||
	    (*token = obj_strdup(msg_get(&toks->via.array.ptr[0], "token"))) == NULL)
		return VAULT_E_PROTO_FRAME;
	return 0;
}

void
vault_detokenized_free(struct vault_detokenized *results, size_t n)
{
	if (results == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((char *)results[i].field);
		vault_free((char *)results[i].value);
	}
	free(results);
}

int
vault_detokenize(struct vault *v, enum vault_purpose purpose,
    const char *const *tokens, size_t ntokens, struct vault_detokenized **results)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res, *arr;
	msgpack_packer pk = call_begin(v, "detokenize", purpose, 1, &start, &id);
	mp_cstr(&pk, "tokens");
	msgpack_pack_array(&pk, ntokens);
	for (size_t i = 0; i < ntokens; i++)
		mp_cstr(&pk, tokens[i]);
	int rc = call_roundtrip(v, start, id, &res);
	if (rc != 0)
		return rc;
	arr = msg_get(res, "results");
	if (arr == NULL || arr->type != MSGPACK_OBJECT_ARRAY || arr->via.array.size != ntokens)
		return VAULT_E_PROTO_FRAME;
	struct vault_detokenized *out = calloc(ntokens ? ntokens : 1, sizeof(*out));
	if (out == NULL)
		return VAULT_E_NOMEM;
	for (size_t i = 0; i < ntokens; i++) {
		const msgpack_object *o = &arr->via.array.ptr[i], *ok, *code;
		if (o->type != MSGPACK_OBJECT_MAP || (ok = msg_get(o, "ok")) == NULL ||
		    ok->type != MSGPACK_OBJECT_BOOLEAN) {
			rc = VAULT_E_PROTO_FRAME;
			break;
		}
		if (ok->via.boolean) {
			out[i].field = obj_strdup(msg_get(o, "field"));
			out[i].value = obj_strdup(msg_get(o, "value"));
			if (out[i].field == NULL || out[i].value == NULL) {
				rc = VAULT_E_PROTO_FRAME;
				break;
			}
		} else {
			code = msg_get(o, "code");
			out[i].error = code && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER ?
			    (int)code->via.u64 : VAULT_E_PROTO_FRAME;
		}
	}
	buf_clear(&v->in);
	if (rc != 0) {
		vault_detokenized_free(out, ntokens);
		return rc;
	}
	*results = out;
	return 0;
}

int
vault_ping(struct vault *v)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	call_begin(v, "ping", 0, 0, &start, &id);
	return call_roundtrip(v, start, id, &res);
}

uint64_t
obj_u64(const msgpack_object *m, const char *key)
{
	const msgpack_object *o = msg_get(m, key);
	return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
}

int
vault_status(struct vault *v, struct vault_status *out)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	call_begin(v, "status", 0, 0, &start, &id);
	int rc = call_roundtrip(v, start, id, &res);
	if (rc != 0)
		return rc;
	if (res->type != MSGPACK_OBJECT_MAP)
		return VAULT_E_PROTO_FRAME;
	out->protocol_version = (uint32_t)obj_u64(res, "protocol_version");
	out->records = obj_u64(res, "records");
	out->tombstones = obj_u64(res, "tombstones");
	out->deletion_acks_overdue = obj_u64(res, "deletion_acks_overdue");
	out->kek_epoch = (uint32_t)obj_u64(res, "kek_epoch");
	out->uptime_seconds = obj_u64(res, "uptime_seconds");
	const msgpack_object *sealed = msg_get(res, "sealed");
	out->sealed = sealed && sealed->type == MSGPACK_OBJECT_BOOLEAN && sealed->via.boolean;
	out->alerts = 0;
	const msgpack_object *alerts = msg_get(res, "alerts");
	for (uint32_t i = 0; alerts && alerts->type == MSGPACK_OBJECT_MAP && i < alerts->via.map.size; i++) {
		const msgpack_object *n = &alerts->via.map.ptr[i].val;
		if (n->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			out->alerts += n->via.u64;
	}
	return 0;
}

int
vault_set_marketing_opt_out(struct vault *v, enum vault_purpose purpose,
    const char *record_token, const char *channel, int opt_out)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res;
	msgpack_packer pk = call_begin(v, "update", purpose, 2, &start, &id);
	mp_cstr(&pk, "record");
	mp_cstr(&pk, record_token);
	mp_cstr(&pk, "marketing_opt_out");
	msgpack_pack_map(&pk, 1);
	mp_cstr(&pk, channel);
	if (opt_out)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	return call_roundtrip(v, start, id, &res);
}

int
vault_list(struct vault *v, enum vault_purpose purpose, const char *channel,
    const char *after, unsigned limit, char ***tokens, size_t *n, char **next)
{
	size_t start;
	uint64_t id;
	const msgpack_object *res, *arr, *nx;
	msgpack_packer pk = call_begin(v, "list", purpose,
	    1 + (channel != NULL) + (after != NULL), &start, &id);
	mp_cstr(&pk, "limit");
	msgpack_pack_uint32(&pk, limit);
	if (channel) {
		mp_cstr(&pk, "channel");
		mp_cstr(&pk, channel);
	}
	if (after) {
		mp_cstr(&pk, "after");
		mp_cstr(&pk, after);
	}
	int rc = call_roundtrip(v, start, id, &res);
	if (rc != 0)
		return rc;
	arr = msg_get(res, "records");
	if (arr == NULL || arr->type != MSGPACK_OBJECT_ARRAY)
		return VAULT_E_PROTO_FRAME;
	char **t = calloc(arr->via.array.size + 1, sizeof(*t));
	if (t == NULL)
		return VAULT_E_NOMEM;
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		if ((t[i] = obj_strdup(&arr->via.array.ptr[i])) == NULL) {
			for (uint32_t j = 0; j < i; j++)
				vault_free(t[j]);
			free(t);
			return VAULT_E_PROTO_FRAME;
		}
	}
	*tokens = t;
	*n = arr->via.array.size;
	if (next) {
		nx = msg_get(res, "next");
		*next = nx && nx->type == MSGPACK_OBJECT_STR ? obj_strdup(nx) : NULL;
	}
	return 0;
}
