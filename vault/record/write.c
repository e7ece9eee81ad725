/*
 * write.c - storing records and documents (see write.h).
 */
#include <string.h>

#include <vault/vault.h>

#include "vault/ctx.h"
#include "vault/keyset.h"
#include "vault/services.h"
#include "access.h"
#include "write.h"

int
record_store(struct write_ctx *ctx, uint64_t id, const struct record *r,
    unsigned flags)
{
	uint8_t kb[8];
	int rc;
	/* Every store recomputes the MAC, under the key of the epoch r is
	 * wrapped under now (rotation changes it). */
	const uint8_t *mk = key_set_record_mac_key(ctx->keys, r->kek_epoch);
	if (mk == NULL)
		return VAULT_E_INTERNAL;
	buf_clear(&ctx->enc);
	if ((rc = record_encode(r, id, mk, &ctx->enc)) != 0)
		return rc;
	store_put_id(kb, id);
	struct store_val k = { 8, kb }, v = { ctx->enc.len, ctx->enc.data };
	rc = store_put(ctx->txn, STORE_RECORDS, &k, &v, flags);
	return rc == 0 ? 0 : store_error(rc);
}

int
record_doc_index(const struct record *r, uint16_t slot)
{
	for (unsigned i = 0; i < r->ndocs; i++)
		if (r->doc_slots[i] == slot)
			return (int)i;
	return -1;
}

int
document_store(struct write_ctx *ctx, uint64_t id, struct record *r,
    const uint8_t *pt, size_t len)
{
	int rc;
	if (r->ndocs >= RECORD_MAX_DOCS || r->next_slot == 0xffff)
		return VAULT_E_LIMIT;
	if (r->next_slot == 0)
		r->next_slot = 1;
	uint16_t slot = r->next_slot;
	struct seal_place pl = { id, r->dek_version, FIELD_DOCUMENT, slot, 0 };
	buf_clear(&ctx->doc);
	if ((rc = buf_reserve(&ctx->doc, len + SEAL_OVERHEAD)) != 0)
		return rc;
	seal_field(ctx->dek, &pl, pt, len, ctx->doc.data);
	ctx->doc.len = len + SEAL_OVERHEAD;
	uint8_t kb[10];
	document_key(id, slot, kb);
	struct store_val k = { sizeof(kb), kb }, v = { ctx->doc.len, ctx->doc.data };
	if ((rc = store_put(ctx->txn, STORE_DOCUMENTS, &k, &v, 0)) != 0)
		return store_error(rc);
	r->next_slot++;
	r->doc_slots[r->ndocs++] = slot; /* slots only grow: stays ascending */
	return 0;
}

int
document_delete(struct write_ctx *ctx, uint64_t id, struct record *r,
    uint16_t slot)
{
	int i = record_doc_index(r, slot);
	if (i < 0)
		return VAULT_E_NOT_FOUND;
	uint8_t kb[10];
	document_key(id, slot, kb);
	struct store_val k = { sizeof(kb), kb };
	int rc = store_del(ctx->txn, STORE_DOCUMENTS, &k);
	if (rc != 0 && rc != STORE_NOTFOUND)
		return store_error(rc);
	memmove(&r->doc_slots[i], &r->doc_slots[i + 1],
	    (r->ndocs - (unsigned)i - 1) * sizeof(r->doc_slots[0]));
	r->ndocs--;
	return 0;
}
