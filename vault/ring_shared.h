/*
 * ring_shared.h - one key ring for every vaultd node on a shared store
 * (store_shared(): PostgreSQL). doc/storage-postgresql.md, "Several nodes".
 *
 * The sealed ring (keyring_seal(): the same bytes as the ring file, sealed
 * by the same root key, passphrase or PKCS#11 key) lives in meta "keyring"
 * with its generation in "keyring_gen" (u64 BE, raised by every rotation
 * and retire). The database's ring wins: a node whose file differs adopts
 * it (and rewrites its file), unless the file holds a newer key than the
 * database's, which only a change outside vaultd makes: then the node
 * refuses to start. Each node reads the generation inside every write
 * batch (under the store's write lock, so no node writes under a ring older
 * than the last one committed) and at least once a second.
 *
 * Each node says which generation it runs in meta "keyring_seen/<node>"
 * (generation and Unix time, u64 BE each; refreshed every 10 s). A rewrap
 * starts, and an epoch is retired, only when every node seen within the
 * last 30 s runs the current generation: no live node can then write
 * under, or lack, the keys the step relies on.
 *
 * One node runs the background jobs (store_lead()): the rewrap, scheduled
 * rotations and retires, the privacy sweep and horizon (it re-reads the
 * holds' earliest expiry every 10 s: holds placed on other nodes). keys_rotate and
 * keys_retire are refused on the others, naming the node that leads.
 *
 * Writer thread only, except ring_shared_start() (main, before it).
 */
#ifndef VAULT_RING_SHARED_H
#define VAULT_RING_SHARED_H

#include <stddef.h>

struct server;
struct write_ctx;
struct keyring;

/*
 * At start, with the keys loaded and the store open: store this node's
 * ring if the database has none, else adopt the database's, or refuse (a
 * vault error, logged). 0 at once if the store is not shared or the ring
 * is sealed (the writer does it after the unseal).
 */
int ring_shared_start(struct server *srv);
/*
 * Inside a write batch (ctx->txn, holding the write lock): take a newer
 * generation the database holds before anything is applied. A vault error
 * fails the batch.
 */
int ring_shared_batch(struct write_ctx *ctx);
/*
 * Once per writer round: at most once a second, the generation check, the
 * "seen" refresh and the lead lock. Returns 1 if this node runs the
 * background jobs (always on a store that is not shared).
 */
int ring_shared_round(struct write_ctx *ctx);
/* Whether a rewrap may go on: every live node runs the current generation
 * (as of the last round; always 1 on a store that is not shared). */
int ring_shared_rewrap_ok(struct server *srv);
/*
 * Before keys_rotate or keys_retire changes the ring: 0, or VAULT_E_CONFLICT
 * with *why (another node leads, or a live node has not taken the current
 * generation yet: retire only).
 */
int ring_shared_may_change(struct write_ctx *ctx, int retire, const char **why);
/*
 * Store ring as the next generation (before the node saves its file and
 * makes it current). 0 at once if the store is not shared; else 0 or a
 * vault error with *why.
 */
int ring_shared_publish(struct write_ctx *ctx, const struct keyring *ring, const char **why);

#endif
