/*
 * fuzz-privacy.c - the stored forms of the privacy features, as if they
 * came out of a damaged data file, and the blind-index canonical forms of
 * claimed values, as a privacy desk would type them.
 *
 * The first byte chooses: 0 request_decode(), 1 hold_decode(), 255
 * identity_decode() (failed verifications per identity), anything else
 * blind_canon() with kind = byte - 2.
 *
 * Invariants:
 *   - a decoded request, hold or identity count stays within its caps and
 *     the input;
 *   - a decoded request re-encodes to a form that decodes to the same
 *     request (one meaning per stored value); a decoded hold re-encodes to
 *     exactly the input, and so does a decoded identity count;
 *   - a canonical form fits its buffer, and canonicalizing it again gives
 *     it back (amounts excepted: "1250" cents is a different amount).
 */
#include <stdlib.h>
#include <string.h>

#include <vault/vault.h>

#include "common/buf.h"
#include "vault/privacy/blind.h"
#include "vault/privacy/hold.h"
#include "vault/privacy/identity.h"
#include "vault/privacy/request.h"

#include "fuzz.h"

static int
within(const void *p, size_t n, const uint8_t *data, size_t size)
{
	const uint8_t *q = p;
	return q >= data && n <= size && (size_t)(q - data) <= size - n;
}

static void
same_request(const struct privacy_request *a, const struct privacy_request *b)
{
	fuzz_assert(a->id == b->id && a->kind == b->kind && a->channel == b->channel &&
	    a->requester == b->requester && a->state == b->state &&
	    a->opt_out_channels == b->opt_out_channels &&
	    a->has_permission == b->has_permission && a->received_at == b->received_at &&
	    a->due_at == b->due_at && a->completed_at == b->completed_at &&
	    a->extended == b->extended && a->verify_failures == b->verify_failures &&
	    a->confirm_failures == b->confirm_failures && a->code_issued == b->code_issued &&
	    a->confirmed == b->confirmed && a->nclaims == b->nclaims &&
	    a->ntargets == b->ntargets && a->nhistory == b->nhistory &&
	    a->key_version == b->key_version && (a->receipt == NULL) == (b->receipt == NULL),
	    "a request changed through encode and decode");
	fuzz_assert(memcmp(a->targets, b->targets, a->ntargets * sizeof(a->targets[0])) == 0,
	    "targets changed");
	for (size_t i = 0; i < a->nhistory; i++)
		fuzz_assert(a->history[i].time == b->history[i].time &&
		    a->history[i].event == b->history[i].event &&
		    strcmp(a->history[i].client, b->history[i].client) == 0, "history changed");
	if (a->receipt != NULL)
		fuzz_assert(a->receipt_len == b->receipt_len &&
		    memcmp(a->receipt, b->receipt, a->receipt_len) == 0, "receipt changed");
	fuzz_assert(a->target_count == b->target_count && a->horizon_epoch == b->horizon_epoch &&
	    a->nepochs == b->nepochs && a->horizon_estimate == b->horizon_estimate &&
	    a->overdue_alerted == b->overdue_alerted &&
	    memcmp(a->epochs, b->epochs, a->nepochs * sizeof(a->epochs[0])) == 0 &&
	    (a->erasure == NULL) == (b->erasure == NULL), "horizon changed");
	if (a->erasure != NULL)
		fuzz_assert(a->erasure_len == b->erasure_len &&
		    memcmp(a->erasure, b->erasure, a->erasure_len) == 0 &&
		    a->erasure_key_version == b->erasure_key_version &&
		    memcmp(a->erasure_signature, b->erasure_signature, SIGN_BYTES) == 0,
		    "erasure-complete document changed");
}

static void
request(const uint8_t *data, size_t size)
{
	struct privacy_request r, r2;
	struct buf b = { 0 };

	if (request_decode(data, size, &r) != 0)
		return;
	fuzz_assert(r.ntargets <= REQUEST_MAX_TARGETS && r.nclaims <= REQUEST_MAX_CLAIMS &&
	    r.nhistory <= REQUEST_MAX_HISTORY, "counts over their caps");
	fuzz_assert(r.kind >= REQ_DELETE && r.kind <= REQ_OPT_OUT &&
	    r.state >= RS_OPEN && r.state <= RS_REJECTED, "kind or state out of range");
	fuzz_assert(r.nepochs <= REQUEST_MAX_EPOCHS && r.target_count <= REQUEST_MAX_TARGETS,
	    "horizon counts over their caps");
	if (r.erasure != NULL)
		fuzz_assert(within(r.erasure, r.erasure_len, data, size),
		    "erasure-complete document outside the input");
	/* A final request keeps that it was extended, not the reason. */
	if (r.extension_reason != NULL)
		fuzz_assert(within(r.extension_reason, r.extension_reason_len, data, size),
		    "reason outside the input");
	if (r.receipt != NULL)
		fuzz_assert(within(r.receipt, r.receipt_len, data, size),
		    "receipt outside the input");
	for (size_t i = 0; i < r.nhistory; i++)
		fuzz_assert(memchr(r.history[i].client, 0, sizeof(r.history[i].client)) != NULL,
		    "client name not terminated");
	fuzz_assert(request_encode(&r, &b) == 0, "a decoded request does not encode");
	fuzz_assert(request_decode(b.data, b.len, &r2) == 0, "a re-encoded request does not decode");
	same_request(&r, &r2);
	buf_free(&b);
}

static void
hold(const uint8_t *data, size_t size)
{
	struct hold h;
	struct buf b = { 0 };

	if (hold_decode(7, data, size, &h) != 0)
		return;
	fuzz_assert(h.purpose >= HOLD_TRANSACTION && h.purpose <= HOLD_INTERNAL,
	    "purpose %u", h.purpose);
	fuzz_assert(memchr(h.client, 0, sizeof(h.client)) != NULL, "client not terminated");
	fuzz_assert(within(h.reason, h.reason_len, data, size), "reason outside the input");
	fuzz_assert(hold_encode(&h, &b) == 0, "a decoded hold does not encode");
	fuzz_assert(b.len == size && memcmp(b.data, data, size) == 0,
	    "a hold re-encodes to other bytes");
	buf_free(&b);
}

static void
identity(const uint8_t *data, size_t size)
{
	struct identity id;
	uint8_t out[IDENTITY_VALUE_MAX];
	const uint8_t *sealed;
	size_t len, slen;
	uint32_t epoch;

	if (identity_decode(data, size, &id, &epoch, &sealed, &slen) != 0)
		return;
	fuzz_assert(id.nrequests <= IDENTITY_MAX_REQUESTS, "requests over the cap");
	fuzz_assert(slen >= IDENTITY_SEAL_OVERHEAD && slen <= size, "sealed name out of bounds");
	identity_encode(&id, epoch, sealed, slen, out, &len);
	fuzz_assert(len == size && memcmp(out, data, size) == 0,
	    "an identity count re-encodes to other bytes");
}

static void
canon(unsigned kind, const uint8_t *data, size_t size)
{
	char out[BLIND_CANON_MAX + 8], again[BLIND_CANON_MAX + 8];
	size_t n = 0, m = 0;

	memset(out + BLIND_CANON_MAX, 0x5a, 8);
	if (blind_canon(kind, (const char *)data, size, out, BLIND_CANON_MAX, &n) != 0)
		return;
	fuzz_assert(n > 0 && n <= BLIND_CANON_MAX, "canonical length %zu", n);
	fuzz_assert(memcmp(out + BLIND_CANON_MAX, "\x5a\x5a\x5a\x5a\x5a\x5a\x5a\x5a", 8) == 0,
	    "wrote past the buffer");
	if (kind == BLIND_TXN_AMOUNT)
		return;
	fuzz_assert(blind_canon(kind, out, n, again, BLIND_CANON_MAX, &m) == 0 &&
	    m == n && memcmp(out, again, n) == 0, "canonical form of kind %u not stable", kind);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t *copy = fuzz_dup(data + 1, size - 1);
	if (data[0] == 0)
		request(copy, size - 1);
	else if (data[0] == 1)
		hold(copy, size - 1);
	else if (data[0] == 255)
		identity(copy, size - 1);
	else
		canon((unsigned)data[0] - 2, copy, size - 1);
	free(copy);
	return 0;
}
