/*
 * reseal.c - reasons moved to the current KEK epoch (reseal.h).
 *
 * Holds and requests with a kept reason are few (a hold is removed when it
 * ends, a request drops its reason when it is finished), so one pass over
 * both databases in the transaction that ends a rotation costs little.
 */
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/buf.h"
#include "vault/services.h"
#include "vault/store/store.h"
#include "hold.h"
#include "request.h"
#include "reseal.h"
#include "secrets.h"

/* Open sealed[0..len) and seal it again under the current epoch into out. */
static int
reseal_one(const struct key_set *ks, const uint8_t *sealed, size_t len,
    struct buf *plain, struct buf *out)
{
	buf_clear(plain);
	buf_clear(out);
	int rc = secret_open_text(ks, sealed, len, plain);
	if (rc == 0)
		rc = secret_seal_text(ks, (const char *)plain->data, plain->len, out);
	sodium_memzero(plain->data, plain->len);
	buf_clear(plain);
	return rc;
}

/* Put the value in enc under the cursor's key. */
static int
put_back(struct store_cursor *cur, const struct buf *enc)
{
	struct store_val nv = { enc->len, enc->data };
	int rc = store_cursor_put(cur, &nv);
	return rc == 0 ? 0 : store_error(rc);
}

static int
reseal_holds(struct store_txn *txn, struct vault_services *svc, const struct key_set *ks,
    uint32_t epoch, struct buf *plain, struct buf *sealed, struct buf *enc,
    size_t *moved, size_t *lost)
{
	struct store_cursor *cur;
	struct store_val k, v;
	int rc = store_cursor_open(txn, STORE_HOLDS, &cur);
	if (rc != 0)
		return store_error(rc);
	for (rc = store_cursor_get(cur, &k, &v, STORE_FIRST); rc == 0;
	    rc = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
		struct hold h;
		if (k.len != 8 || hold_decode(store_get_id(k.data), v.data,
		    v.len, &h) != 0 || secret_sealed_epoch(h.reason, h.reason_len) == epoch)
			continue;
		if (reseal_one(ks, h.reason, h.reason_len, plain, sealed) != 0) {
			(*lost)++;
			continue;
		}
		h.reason = sealed->data;
		h.reason_len = sealed->len;
		buf_clear(enc);
		int e = hold_encode(&h, enc);
		if (e == 0)
			e = put_back(cur, enc);
		if (e != 0) {
			store_cursor_close(cur);
			return e;
		}
		(*moved)++;
	}
	store_cursor_close(cur);
	return rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

static int
reseal_requests(struct store_txn *txn, struct vault_services *svc, const struct key_set *ks,
    uint32_t epoch, struct buf *plain, struct buf *sealed, struct buf *enc,
    size_t *moved, size_t *lost)
{
	struct store_cursor *cur;
	struct store_val k, v;
	int rc = store_cursor_open(txn, STORE_REQUESTS, &cur);
	if (rc != 0)
		return store_error(rc);
	for (rc = store_cursor_get(cur, &k, &v, STORE_FIRST); rc == 0;
	    rc = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
		struct privacy_request r;
		if (request_decode(v.data, v.len, &r) != 0 || r.extension_reason == NULL ||
		    secret_sealed_epoch(r.extension_reason, r.extension_reason_len) == epoch)
			continue;
		if (reseal_one(ks, r.extension_reason, r.extension_reason_len, plain, sealed) != 0) {
			(*lost)++;
			continue;
		}
		r.extension_reason = sealed->data;
		r.extension_reason_len = sealed->len;
		buf_clear(enc);
		int e = request_encode(&r, enc);
		if (e == 0)
			e = put_back(cur, enc);
		if (e != 0) {
			store_cursor_close(cur);
			return e;
		}
		(*moved)++;
	}
	store_cursor_close(cur);
	return rc == STORE_NOTFOUND ? 0 : store_error(rc);
}

int
reasons_reseal(struct store_txn *txn, struct vault_services *svc, const struct key_set *ks,
    uint32_t epoch, size_t *moved, size_t *lost)
{
	struct buf plain = { 0 }, sealed = { 0 }, enc = { 0 };
	*moved = *lost = 0;
	int rc = reseal_holds(txn, svc, ks, epoch, &plain, &sealed, &enc, moved, lost);
	if (rc == 0)
		rc = reseal_requests(txn, svc, ks, epoch, &plain, &sealed, &enc, moved, lost);
	buf_free(&plain);
	buf_free(&sealed);
	buf_free(&enc);
	return rc;
}
