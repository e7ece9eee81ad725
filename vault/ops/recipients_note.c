/*
 * recipients_note.c - the write a read becomes when it gives a client data
 * of a record the client is not yet recorded as a recipient of
 * (privacy/recipients.h). Not in the operation table: only the dispatcher
 * makes it, with the read's answer already built; the writer stores the
 * recipients and only then sends that answer, so no data leaves before
 * its deletion can reach the client. It carries the read's trace, and the
 * writer writes the read's audit entry (under the read's name, counted_as)
 * in its batch: one access, one entry, committed before the answer leaves.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "vault/crypto/seal.h"
#include "vault/privacy/recipients.h"
#include "vault/record/access.h"
#include "vault/services.h"
#include "op.h"
#include "recipients_note.h"

static void
free_state(void *state)
{
	struct recipients_note_state *st = state;
	if (st == NULL)
		return;
	if (st->reply != NULL)
		sodium_memzero(st->reply, st->reply_len);
	free(st->reply);
	free(st->notes);
	free(st->records);
	free(st);
}

static int
apply(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct recipients_note_state *st = state;
	struct record r;
	int rc;

	/* The read's trace, for its audit entry. */
	for (size_t i = 0; i < st->nrecords; i++)
		if (trace_record(&ctx->trace, st->records[i]) != 0)
			return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	ctx->trace.fields = st->fields;
	for (size_t i = 0; i < st->nnotes; i++) {
		uint64_t id = st->notes[i].id;
		/* Deleted since the read: its answer must not leave either. */
		if ((rc = record_load(ctx->svc, ctx->keys, ctx->txn, id, &r, &ctx->copy)) != 0 ||
		    (rc = record_unwrap(ctx->keys, id, &r, ctx->dek)) != 0)
			return op_fail(err, rc, "record", NULL);
		rc = recipients_record(ctx, id, &r, ctx->dek, st->client, st->notes[i].fields,
		    st->notes[i].tokens);
		sodium_memzero(ctx->dek, DEK_BYTES);
		if (rc != 0)
			return op_fail(err, rc, "record", rc == VAULT_E_LIMIT ?
			    "the record has reached the most recipients it can remember" : NULL);
	}
	/* The read's result, as the worker packed it. */
	if (pk->callback(pk->data, (const char *)st->reply, st->reply_len) != 0)
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	return 0;
}

const struct op op_recipients_note = {
	.name = "recipients_note",
	.kind = OP_WRITE,
	.apply = apply,
	.free_state = free_state,
};

int
recipients_note_state(const struct read_ctx *ctx, const char *client,
    const uint8_t *reply, size_t len, void **state)
{
	struct recipients_note_state *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return VAULT_E_NOMEM;
	snprintf(st->client, sizeof(st->client), "%s", client);
	st->notes = malloc(ctx->nnotes * sizeof(*st->notes));
	st->reply = malloc(len ? len : 1);
	st->records = malloc((ctx->trace.nrecords ? ctx->trace.nrecords : 1) * sizeof(uint64_t));
	if (st->notes == NULL || st->reply == NULL || st->records == NULL) {
		free_state(st);
		return VAULT_E_NOMEM;
	}
	memcpy(st->notes, ctx->notes, ctx->nnotes * sizeof(*st->notes));
	st->nnotes = ctx->nnotes;
	memcpy(st->reply, reply, len);
	memcpy(st->records, ctx->trace.records, ctx->trace.nrecords * sizeof(uint64_t));
	st->nrecords = ctx->trace.nrecords;
	st->fields = ctx->trace.fields;
	st->reply_len = len;
	*state = st;
	return 0;
}
