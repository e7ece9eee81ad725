/*
 * keys_rotate_record.c - "keys_rotate_record" (admin): a new data key for
 * one record; every field, document and its card token re-encrypted, the
 * new key wrapped with the current epoch. The old data key is gone with
 * the old ciphertexts; opaque tokens stay valid (fields keep their
 * generations).
 */
#include <stdlib.h>

#include <sodium.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/crypto/seal.h"
#include "vault/keyset.h"
#include "vault/privacy/blind.h"
#include "vault/privacy/recipients.h"
#include "vault/record/access.h"
#include "vault/record/tokens.h"
#include "vault/record/write.h"
#include "vault/services.h"
#include "args.h"
#include "op.h"

static const char *const args[] = { "record", NULL };

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	uint64_t *id = malloc(sizeof(*id));
	if (id == NULL)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	int rc = arg_record(ctx->keys, req, id, err);
	if (rc != 0) {
		free(id);
		return rc;
	}
	*state = id;
	return 0;
}

/* Decrypt ct under (old, place) and seal it again under (new, place'). */
static int
reseal(struct write_ctx *ctx, const uint8_t *old_dek, const struct seal_place *from,
    const struct seal_place *to, const uint8_t *ct, size_t len, uint8_t *out)
{
	size_t n = len - SEAL_OVERHEAD;
	int rc;
	buf_clear(&ctx->doc);
	if ((rc = buf_reserve(&ctx->doc, n + 1)) != 0)
		return rc;
	if ((rc = open_field(old_dek, from, ct, len, ctx->doc.data)) != 0)
		return rc;
	seal_field(ctx->dek, to, ctx->doc.data, n, out);
	sodium_memzero(ctx->doc.data, n);
	return 0;
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	uint64_t id = *(uint64_t *)state;
	struct vault_services *svc = ctx->svc;
	struct record r;
	uint8_t *old = ctx->dek2;
	uint8_t card_ct[CARD_CT_BYTES];
	int rc;

	if (trace_record(&ctx->trace, id) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	if ((rc = record_load(svc, ctx->keys, ctx->txn, id, &r, &ctx->copy)) != 0)
		return op_fail(err, rc, "record", NULL);
	if ((rc = record_unwrap(ctx->keys, id, &r, old)) != 0)
		return op_fail(err, rc, "record", NULL);
	uint32_t old_version = r.dek_version, old_epoch = r.kek_epoch;
	randombytes_buf(ctx->dek, DEK_BYTES);
	r.dek_version = old_version + 1;
	r.kek_epoch = keyring_current(ctx->keys->ring, KEYRING_KEK);
	wrap_dek(keyring_key(ctx->keys->ring, KEYRING_KEK, r.kek_epoch), r.kek_epoch, id,
	    r.dek_version, ctx->dek, r.wrapped_dek);

	size_t need = 0;
	for (unsigned i = 0; i < r.nfields; i++)
		need += r.fields[i].ct_len;
	buf_clear(&ctx->ct);
	if ((rc = buf_reserve(&ctx->ct, need)) != 0)
		goto fail;
	uint8_t *p = ctx->ct.data;
	for (unsigned i = 0; i < r.nfields; i++) {
		uint32_t gen = r.gen[r.fields[i].id];
		struct seal_place from = { id, old_version, r.fields[i].id, 0, gen };
		struct seal_place to = { id, r.dek_version, r.fields[i].id, 0, gen };
		if ((rc = reseal(ctx, old, &from, &to, r.fields[i].ct, r.fields[i].ct_len, p)) != 0)
			goto fail;
		r.fields[i].ct = p;
		p += r.fields[i].ct_len;
	}
	ctx->ct.len = need;
	if (r.has_card_token) {
		struct seal_place from = { id, old_version, FIELD_CARD_TOKEN, 0, 0 };
		struct seal_place to = { id, r.dek_version, FIELD_CARD_TOKEN, 0, 0 };
		if (r.card_ct_len > sizeof(card_ct) ||
		    (rc = reseal(ctx, old, &from, &to, r.card_ct, r.card_ct_len, card_ct)) != 0) {
			rc = rc ? rc : VAULT_E_CRYPTO;
			goto fail;
		}
		r.card_ct = card_ct;
	}
	/* The record moves to the current epoch: so does its card index key. */
	if ((rc = tokens_rekey(ctx, id, &r, ctx->dek, r.kek_epoch)) != 0)
		goto fail;
	for (unsigned i = 0; i < r.ndocs; i++) {
		uint8_t kb[10];
		document_key(id, r.doc_slots[i], kb);
		struct store_val k = { sizeof(kb), kb }, v;
		if ((rc = store_get(ctx->txn, STORE_DOCUMENTS, &k, &v)) != 0) {
			rc = store_error(rc);
			goto fail;
		}
		struct seal_place from = { id, old_version, FIELD_DOCUMENT, r.doc_slots[i], 0 };
		struct seal_place to = { id, r.dek_version, FIELD_DOCUMENT, r.doc_slots[i], 0 };
		/* Reserve the output first: the put may move map pages. */
		struct store_val nv = { v.len, NULL };
		uint8_t *ct = malloc(v.len);
		if (ct == NULL) {
			rc = VAULT_E_NOMEM;
			goto fail;
		}
		rc = reseal(ctx, old, &from, &to, v.data, v.len, ct);
		nv.data = ct;
		if (rc == 0 && (rc = store_put(ctx->txn, STORE_DOCUMENTS, &k, &nv, 0)) != 0)
			rc = store_error(rc);
		free(ct); /* ciphertext only */
		if (rc != 0)
			goto fail;
	}
	/* The blind entries' values are sealed under the data key, and their
	 * tags follow the record's (current) epoch. */
	struct blind_keys bfrom = { old, old_version, old_epoch };
	struct blind_keys bto = { ctx->dek, r.dek_version, r.kek_epoch };
	if ((rc = blind_rewrap(ctx, id, &bfrom, &bto)) != 0)
		goto fail;
	if ((rc = recipients_reseal(ctx->txn, id, old_version, old, r.dek_version,
	    ctx->dek)) != 0)
		goto fail;
	if ((rc = record_store(ctx, id, &r, 0)) != 0)
		goto fail;
	sodium_memzero(old, DEK_BYTES);
	msgpack_pack_map(pk, 2);
	mp_cstr(pk, "dek_version");
	msgpack_pack_uint32(pk, r.dek_version);
	mp_cstr(pk, "epoch");
	msgpack_pack_uint32(pk, r.kek_epoch);
	return 0;
fail:
	sodium_memzero(old, DEK_BYTES);
	return op_fail(err, rc, "record", NULL);
}

const struct op op_keys_rotate_record = {
	.name = "keys_rotate_record",
	.kind = OP_WRITE,
	.admin = 1,
	.args = args,
	.prepare = prepare,
	.apply = apply,
	.free_state = free,
};
