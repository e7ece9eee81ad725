/*
 * ctx.c - the request context's small helpers (ctx.h): the trace of what
 * a request touched, and the batch's list of deletions for the journal.
 */
#include <stdlib.h>

#include <vault/vault.h>

#include "ctx.h"
#include "journal.h"

int
trace_record(struct op_trace *t, uint64_t id)
{
	if (t->nrecords > 0 && t->records[t->nrecords - 1] == id)
		return 0;
	if (t->nrecords == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		uint64_t *p = realloc(t->records, cap * sizeof(*p));
		if (p == NULL)
			return VAULT_E_NOMEM;
		t->records = p;
		t->cap = cap;
	}
	t->records[t->nrecords++] = id;
	return 0;
}

int
write_ctx_note_deletion(struct write_ctx *ctx, uint64_t id, uint64_t time)
{
	if (ctx->ndeleted == ctx->capdeleted) {
		size_t cap = ctx->capdeleted ? ctx->capdeleted * 2 : 64;
		struct journal_entry *p = realloc(ctx->deleted, cap * sizeof(*p));
		if (p == NULL)
			return VAULT_E_NOMEM;
		ctx->deleted = p;
		ctx->capdeleted = cap;
	}
	ctx->deleted[ctx->ndeleted].id = id;
	ctx->deleted[ctx->ndeleted].time = time;
	ctx->ndeleted++;
	return 0;
}
