/*
 * fuzz-vault.h - fixtures and checks for the harnesses that drive the
 * server code (fuzz-request, fuzz-server, fuzz-token, fuzz-audit) and for
 * make-seeds.c, which must see the same key ring and tokens (fuzz-vault.c).
 */
#ifndef VAULT_FUZZ_VAULT_H
#define VAULT_FUZZ_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "common/buf.h"
#include "vault/crypto/token.h"
#include "vault/policy.h"
#include "vault/server.h"

struct keyring;

/*
 * Check that frame[0..len) is exactly one well-formed reply frame: the
 * header's length matches, the body is a map {"id": uint, "ok": bool,
 * "result": any} or {"id", "ok": false, "error": {"code", "name",
 * "message", "field"?, "rule"?, counts?}} with a known error code and its
 * name. Returns the id; *ok gets "ok".
 */
uint64_t fuzz_check_reply(const uint8_t *frame, size_t len, int *ok);

/*
 * The id the server must echo for request body[0..len): the "id" of a
 * body that decodes under the dispatcher's limits and carries an unsigned
 * "id", else 0.
 */
uint64_t fuzz_request_id(const struct server *srv, const uint8_t *body, size_t len);

/*
 * The fixture's key ring: keyring_create() at path with fuzz_root_key,
 * right after resetting the random source, so every harness and
 * make-seeds.c get the same keys. Aborts on failure.
 */
struct keyring *fuzz_keys_open(const char *path);

/*
 * A vault in a private temporary directory, set up as vaultd's main() and
 * server_run() set it up: default configuration, a key set around a ring
 * from fuzz_keys_open() (the root key kept in srv.svc.root, as rotation saves
 * the ring with it), a policy file with two clients (ops, our uid: admin
 * and plain access to everything; clerk, our uid + 1: masked and token
 * access only), the locks, an LMDB store of map_size bytes (no fsync:
 * nothing here needs durability), the deletion journal, and the audit
 * trail written to /dev/null. backup_dir is left uncreatable, so fuzzed
 * "backup" requests check their arguments without filling the disk.
 * Records are created and deleted through the real dispatcher and
 * operations, as ops:
 *   record 1: every field, one document, opaque and deterministic tokens
 *             for email and a card token;
 *   record 2: an email with opaque and deterministic tokens, then deleted;
 *   record 3: three fields and no tokens, a target for writes that change
 *             or delete a record (fuzz-server applies them).
 * With the deterministic random source the tokens are the same on every
 * run; make-seeds.c writes them into the seeds. No worker or writer runs
 * (fuzz-server starts them). Aborts on failure.
 */
struct fuzz_vault {
	char dir[4096];
	struct server srv;
	char rec_live[TOKEN_MAX_LEN + 1];
	char rec_deleted[TOKEN_MAX_LEN + 1];
	char tok_email[TOKEN_MAX_LEN + 1];
	char det_email[TOKEN_MAX_LEN + 1];
	char card[TOKEN_MAX_LEN + 1];
	char tok_deleted[TOKEN_MAX_LEN + 1];
	char det_deleted[TOKEN_MAX_LEN + 1];
	char rec_spare[TOKEN_MAX_LEN + 1];
	const struct policy_client *ops;   /* admin, every field plain */
	const struct policy_client *clerk; /* masked and token access only */
	const struct policy *policy;       /* theirs, held (a reload cannot free it) */
};

void fuzz_vault_open(struct fuzz_vault *v, size_t map_size);
void fuzz_vault_close(struct fuzz_vault *v);

/*
 * A genuine audit trail at path (audit_open(), five entries of different
 * shapes with fixed times, audit_close(), which syncs and writes the head
 * file) under key set ks: the same bytes on every run with the fixture's
 * keys. Aborts on failure.
 */
#define FUZZ_AUDIT_ENTRIES 5
void fuzz_audit_trail(const char *path, const struct key_set *ks);

/*
 * Requests for seeds and fixtures, packed with msgpack-c into b: a map of
 * nargs + 3 entries (v, id, op), or nargs + 4 with a purpose; the caller
 * then packs nargs key/value pairs (mp_cstr() and friends, common/msg.h).
 */
void fuzz_req_begin(msgpack_packer *pk, struct buf *b, uint64_t id,
    const char *op, const char *purpose, unsigned nargs);

#endif
