/*
 * request_open.c - "request_open": a person's privacy request (delete,
 * know, opt_out) enters the vault, with its channel, who made it and when;
 * due 45 days after it was received.
 *
 * An agent's or guardian's request must name the written permission (or
 * the guardian's statement) it came with, or it is refused: the privacy
 * policy asks for written proof at the time of the request. Only a keyed
 * hash of that reference is kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/policy.h"
#include "vault/privacy/privacy.h"
#include "vault/services.h"
#include "vault/store/record_codec.h"
#include "op.h"
#include "privacy_args.h"

static const char *const args[] = {
	"kind", "channel", "requester", "permission", "channels", "received_at", NULL
};

#define BACKDATE_MAX (366 * 86400)

struct open_state {
	struct privacy_request r;
	char client[32];
};

static int
enum_arg(const struct request *req, const char *name,
    unsigned (*from)(const char *, size_t), unsigned *v, const char *msg,
    struct op_error *err)
{
	const char *s;
	size_t len;
	int rc = msg_get_str(req->args, name, 1, &s, &len);
	if (rc != 0)
		return op_fail(err, rc, name, msg);
	if ((*v = from(s, len)) == 0)
		return op_fail(err, VAULT_E_INVALID_VALUE, name, msg);
	return 0;
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	struct open_state *st = calloc(1, sizeof(*st));
	struct privacy_request *r;
	unsigned kind, channel, by;
	const char *perm = NULL;
	size_t plen = 0;
	const msgpack_object_array *chans = NULL;
	uint64_t received = (uint64_t)ctx->now;
	int rc;

	if (st == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	r = &st->r;
	if ((rc = privacy_check(req, err)) != 0 ||
	    (rc = enum_arg(req, "kind", request_kind_from, &kind,
	    "kind is delete, know or opt_out", err)) != 0 ||
	    (rc = enum_arg(req, "channel", request_channel_from, &channel,
	    "channel is online, phone, email or mail", err)) != 0 ||
	    (rc = enum_arg(req, "requester", request_requester_from, &by,
	    "requester is self, agent or guardian", err)) != 0 ||
	    (rc = arg_text(req, "permission", 0, 128, &perm, &plen, err)) != 0 ||
	    (rc = arg_uint(req, "received_at", 0, &received, err)) != 0)
		goto fail;
	if ((rc = msg_get_array(req->args, "channels", 0, &chans)) != 0) {
		op_fail(err, rc, "channels", "channels is an array of channel names");
		goto fail;
	}
	if (by != BY_SELF && perm == NULL) {
		rc = op_fail(err, VAULT_E_NO_PERMISSION, "permission", by == BY_AGENT ?
		    "an authorized agent must present the person's written permission" :
		    "a parent or guardian must present a statement of guardianship");
		goto fail;
	}
	if (by == BY_SELF && perm != NULL) {
		rc = op_fail(err, VAULT_E_INVALID_VALUE, "permission",
		    "a request made by the person needs no permission");
		goto fail;
	}
	if (received > (uint64_t)ctx->now || (uint64_t)ctx->now - received > BACKDATE_MAX) {
		rc = op_fail(err, VAULT_E_INVALID_VALUE, "received_at",
		    "received_at is not in the future nor more than 366 days back");
		goto fail;
	}
	r->opt_out_channels = 0;
	if (chans != NULL) {
		if (kind != REQ_OPT_OUT) {
			rc = op_fail(err, VAULT_E_INVALID_VALUE, "channels",
			    "channels applies to opt_out requests only");
			goto fail;
		}
		for (uint32_t i = 0; i < chans->size; i++) {
			const msgpack_object *o = &chans->ptr[i];
			uint8_t bit = msg_str_eq(o, "email") ? CONSENT_OPT_OUT_EMAIL :
			    msg_str_eq(o, "phone") ? CONSENT_OPT_OUT_PHONE :
			    msg_str_eq(o, "mail") ? CONSENT_OPT_OUT_MAIL : 0;
			if (bit == 0) {
				rc = op_fail(err, o->type == MSGPACK_OBJECT_STR ?
				    VAULT_E_INVALID_VALUE : VAULT_E_PROTO_TYPE, "channels",
				    "channels are email, phone and mail");
				goto fail;
			}
			r->opt_out_channels |= bit;
		}
		if (r->opt_out_channels == 0) {
			rc = op_fail(err, VAULT_E_EMPTY, "channels", NULL);
			goto fail;
		}
	} else if (kind == REQ_OPT_OUT) {
		r->opt_out_channels = CONSENT_MASK;
	}
	r->kind = (uint8_t)kind;
	r->channel = (uint8_t)channel;
	r->requester = (uint8_t)by;
	r->state = RS_OPEN;
	r->received_at = received;
	r->due_at = received + REQUEST_DUE_SECONDS;
	if (perm != NULL) {
		r->has_permission = 1;
		/* Under the KEK epoch, so that a copy dies with its retire. */
		r->permission_version = keyring_current(ctx->keys->ring, KEYRING_KEK);
		if ((rc = secret_hash_epoch(ctx->keys, r->permission_version, "permission", 0,
		    perm, plen, r->permission)) != 0) {
			op_fail(err, rc, NULL, NULL);
			goto fail;
		}
	}
	snprintf(st->client, sizeof(st->client), "%s", req->client->name);
	*state = st;
	return 0;
fail:
	free(st);
	return rc;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct open_state *st = state;
	struct privacy_request *r = &st->r;
	int rc;

	if ((rc = privacy_next_id(ctx->txn, ctx->svc, "next_request", &r->id)) != 0)
		return op_fail(err, rc, NULL, NULL);
	request_note(r, (uint64_t)ctx->now, EV_OPENED, st->client);
	if ((rc = request_save(ctx->txn, STORE_REQUESTS, r)) != 0)
		return op_fail(err, rc, NULL, NULL);
	msgpack_pack_map(pk, 3);
	mp_cstr(pk, "request");
	msgpack_pack_uint64(pk, r->id);
	mp_cstr(pk, "state");
	mp_cstr(pk, request_state_name(r->state));
	mp_cstr(pk, "due_at");
	msgpack_pack_uint64(pk, r->due_at);
	return 0;
}

const struct op op_request_open = {
	.name = "request_open",
	.kind = OP_WRITE,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free,
};
