/*
 * reply.h - reply frames: {"id", "ok": true, "result"} or
 * {"id", "ok": false, "error": {"code", "name", "message", "field"?}}.
 */
#ifndef VAULT_REPLY_H
#define VAULT_REPLY_H

#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

#include "common/buf.h"
#include "ops/op.h"

/*
 * Start a success reply in out: frame header, map, id, ok, and the
 * "result" key. The caller packs one object with pk and calls reply_end().
 */
size_t reply_begin(struct buf *out, msgpack_packer *pk, uint64_t id);
/*
 * Finish the reply started at start. If packing failed (or the result is
 * larger than max_body) the partial reply is replaced by an error reply.
 */
void reply_end(struct buf *out, size_t start, uint64_t id, size_t max_body);
/* Drop a reply begun at start (the handler failed), wiping it. */
void reply_abandon(struct buf *out, size_t start);
/* Append a complete error reply. */
void reply_error(struct buf *out, uint64_t id, const struct op_error *err);
void reply_error_code(struct buf *out, uint64_t id, int code,
    const char *field, const char *message);
/*
 * The connection-level refusal of a caller no policy client matches: id 0,
 * VAULT_E_DENIED, "no client of the policy matches this caller (uid U, gid
 * G)". The server sends it once and closes (PROTOCOL.md 2.5).
 */
void reply_refuse_caller(struct buf *out, uid_t uid, gid_t gid);
/*
 * The code of the last reply the calling thread began or packed: 0 for a
 * success, else its error (what dispatch's one reply said, for metrics.h).
 */
int reply_last_code(void);

#endif
