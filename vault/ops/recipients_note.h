/*
 * recipients_note.h - a read turned into a write to record its client as a
 * recipient (recipients_note.c).
 */
#ifndef VAULT_OPS_RECIPIENTS_NOTE_H
#define VAULT_OPS_RECIPIENTS_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "vault/ctx.h"
#include "vault/policy.h"

struct recipients_note_state {
	char client[POLICY_NAME_MAX];
	struct recipient_note *notes;
	size_t nnotes;
	uint8_t *reply;  /* the read's packed result (may hold plaintext: wiped) */
	uint64_t *records; /* the read's trace, for its audit entry */
	size_t nrecords;
	uint32_t fields;
	size_t reply_len;
};

extern const struct op op_recipients_note;

/* A state for op_recipients_note: ctx's notes and the read's result. */
int recipients_note_state(const struct read_ctx *ctx, const char *client,
    const uint8_t *reply, size_t len, void **state);

#endif
