/*
 * ring_shared.c - one key ring for every node on a shared store (see
 * ring_shared.h).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <vault/vault.h>

#include "keys/keyring.h"
#include "ctx.h"
#include "keyset.h"
#include "log.h"
#include "privacy/sweep.h"
#include "ring_shared.h"
#include "rotation.h"
#include "server.h"

#define RING_KEY "keyring"
#define GEN_KEY "keyring_gen"
#define SEEN_PREFIX "keyring_seen/"
#define LEAD_KEY "lead_node"
#define SEEN_FRESH_SECONDS 30   /* a node silent longer is taken as stopped */
#define SEEN_REFRESH_SECONDS 10

/* The writer's (main's before it starts): one server per process. */
static uint64_t known_gen;      /* the generation this node runs; 0: none yet */
static time_t last_poll, last_seen, last_holds;
static int leading = -1;        /* -1: not asked yet */
static int rewrap_ok = 1;

static int
meta_get(struct store_txn *txn, const char *key, struct store_val *v)
{
	struct store_val k = { strlen(key), (void *)key };
	return store_get(txn, STORE_META, &k, v);
}

static int
meta_put(struct store_txn *txn, const char *key, const void *data, size_t len)
{
	struct store_val k = { strlen(key), (void *)key }, v = { len, data };
	return store_put(txn, STORE_META, &k, &v, 0);
}

static int
get_gen(struct store_txn *txn, uint64_t *gen)
{
	struct store_val v;
	int rc = meta_get(txn, GEN_KEY, &v);
	if (rc == 0 && v.len != 8)
		rc = STORE_E_CORRUPT;
	if (rc == 0)
		*gen = store_get_id(v.data);
	return rc;
}

static int
put_seen(struct server *srv, struct store_txn *txn, uint64_t gen, time_t now)
{
	char key[96];
	uint8_t b[16];
	snprintf(key, sizeof(key), SEEN_PREFIX "%s", srv->svc.cfg.node_name);
	store_put_id(b, gen);
	store_put_id(b + 8, (uint64_t)now);
	return meta_put(txn, key, b, sizeof(b));
}

/* The same keys (versions and bytes) of every kind. */
static int
same_ring(const struct keyring *a, const struct keyring *b)
{
	for (int kind = KEYRING_KEK; kind <= KEYRING_INDEX; kind++) {
		size_t n = keyring_count(a, kind);
		if (n != keyring_count(b, kind) || keyring_current(a, kind) != keyring_current(b, kind))
			return 0;
		for (size_t i = 0; i < n; i++) {
			uint32_t v = keyring_version_at(a, kind, i);
			const uint8_t *kb = keyring_key(b, kind, v);
			if (v != keyring_version_at(b, kind, i) || kb == NULL ||
			    sodium_memcmp(keyring_key(a, kind, v), kb, KEYRING_KEY_BYTES) != 0)
				return 0;
		}
	}
	return 1;
}

/* Whether a holds a current key newer than b's (made outside vaultd). */
static int
newer_ring(const struct keyring *a, const struct keyring *b)
{
	for (int kind = KEYRING_KEK; kind <= KEYRING_INDEX; kind++)
		if (keyring_current(a, kind) > keyring_current(b, kind))
			return 1;
	return 0;
}

/* Open the database's ring image (from txn) into *out. */
static int
open_stored(struct server *srv, struct store_txn *txn, struct keyring **out, const char **why)
{
	struct store_val v;
	int rc = meta_get(txn, RING_KEY, &v);
	if (rc != 0) {
		*why = "the database's key ring cannot be read";
		return store_error(rc == STORE_NOTFOUND ? STORE_E_CORRUPT : rc);
	}
	if ((rc = keyring_open_image(v.data, v.len, srv->svc.root, out, why)) != 0)
		*why = "the database's key ring cannot be opened with this node's root key "
		    "(or passphrase, or PKCS#11 key): every node of a database needs the "
		    "same one";
	return rc;
}

/*
 * Make ring (taken over) this node's: its file, then its current set. In
 * the writer, ctx's round pin moves on with it (keyset.h).
 */
static int
adopt(struct server *srv, struct write_ctx *ctx, struct keyring *ring, uint64_t gen,
    const char **why)
{
	struct key_set *ks;
	int rc = keyring_save(ring, srv->svc.cfg.keyring_path, srv->svc.root, why);
	if (rc != 0) {
		keyring_free(ring);
		return rc;
	}
	uint32_t epoch = keyring_current(ring, KEYRING_KEK);
	if ((rc = key_set_new(ring, &ks)) != 0) {
		*why = "cannot derive token keys";
		return rc;
	}
	key_set_publish(&srv->svc, ks, 0);
	if (ctx != NULL)
		ctx->keys = ks;
	known_gen = gen;
	log_info("key ring: generation %llu from the database (KEK epoch %u current); "
	    "%s rewritten", (unsigned long long)gen, epoch, srv->svc.cfg.keyring_path);
	return 0;
}

int
ring_shared_start(struct server *srv)
{
	struct store_txn *txn;
	const char *why = NULL;
	uint64_t gen;
	int rc;
	if (!store_shared(&srv->svc.store) || key_set_sealed(&srv->svc))
		return 0;
	const struct key_set *mine = key_set_acquire(&srv->svc);
	if ((rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn)) != 0) {
		key_set_release();
		log_error("key ring: the database cannot be read: %s", store_strerror(rc));
		return store_error(rc);
	}
	rc = get_gen(txn, &gen);
	if (rc == STORE_NOTFOUND) {
		/* The first node: its ring becomes the database's. */
		uint8_t *img = NULL, b[8];
		size_t len;
		gen = 1;
		store_put_id(b, gen);
		if ((rc = keyring_seal(mine->ring, srv->svc.root, &img, &len)) != 0)
			why = "cannot seal the key ring";
		else if ((rc = store_error(meta_put(txn, RING_KEY, img, len))) != 0 ||
		    (rc = store_error(meta_put(txn, GEN_KEY, b, 8))) != 0)
			why = "cannot store the key ring in the database";
		free(img);
		if (rc == 0)
			log_info("key ring: stored in the database (generation 1); every node "
			    "of this database uses it from now on");
	} else if (rc == 0) {
		struct keyring *stored;
		if ((rc = open_stored(srv, txn, &stored, &why)) == 0) {
			if (same_ring(mine->ring, stored)) {
				keyring_free(stored);
			} else if (newer_ring(mine->ring, stored)) {
				keyring_free(stored);
				rc = VAULT_E_KEYRING;
				why = "this node's key ring file holds a newer key than the "
				    "database's (a change made outside vaultd?): the database's "
				    "ring is the one every node uses; restore this node's file from "
				    "another node or move it aside (doc/storage-postgresql.md)";
			} else {
				key_set_release();
				mine = NULL;
				rc = adopt(srv, NULL, stored, gen, &why);
			}
		}
	} else {
		why = "the database's key ring generation cannot be read";
		rc = store_error(rc);
	}
	if (mine != NULL)
		key_set_release();
	if (rc == 0 && (rc = store_error(put_seen(srv, txn, gen, time(NULL)))) == 0)
		rc = store_error(store_txn_commit(txn));
	else
		store_txn_abort(txn);
	if (rc != 0) {
		log_error("key ring %s: %s", srv->svc.cfg.keyring_path,
		    why ? why : "the database's copy cannot be stored");
		return rc;
	}
	known_gen = gen;
	last_seen = time(NULL);
	return 0;
}

/* A node that started sealed: its first round with keys (the store has one). */
static int
store_first(struct server *srv, struct write_ctx *ctx, struct store_txn *txn)
{
	uint8_t *img = NULL, b[8];
	size_t len;
	store_put_id(b, 1);
	int rc = keyring_seal(ctx->keys->ring, srv->svc.root, &img, &len);
	if (rc == 0 && ((rc = store_error(meta_put(txn, RING_KEY, img, len))) != 0 ||
	    (rc = store_error(meta_put(txn, GEN_KEY, b, 8))) != 0))
		log_error("key ring: cannot store it in the database");
	free(img);
	if (rc == 0)
		known_gen = 1;
	return rc;
}

int
ring_shared_batch(struct write_ctx *ctx)
{
	struct server *srv = server_of(ctx->svc);
	uint64_t gen;
	const char *why = NULL;
	if (!store_shared(&srv->svc.store) || ctx->keys == NULL)
		return 0;
	int rc = get_gen(ctx->txn, &gen);
	if (rc == STORE_NOTFOUND)
		return store_first(srv, ctx, ctx->txn);
	if (rc != 0)
		return store_error(rc);
	if (gen == known_gen)
		return 0;
	struct keyring *ring;
	if ((rc = open_stored(srv, ctx->txn, &ring, &why)) != 0 ||
	    (rc = adopt(srv, ctx, ring, gen, &why)) != 0) {
		log_error("key ring: generation %llu of the database cannot be taken: %s",
		    (unsigned long long)gen, why);
		return rc;
	}
	if ((rc = put_seen(srv, ctx->txn, gen, ctx->now ? ctx->now : time(NULL))) != 0)
		return store_error(rc);
	return 0;
}

/* Whether every node seen within SEEN_FRESH_SECONDS runs gen; if not,
 * which one does not (into who). */
static int
all_seen(struct server *srv, struct store_txn *txn, uint64_t gen, time_t now,
    char *who, size_t cap)
{
	struct store_cursor *cur;
	struct store_val k = { sizeof(SEEN_PREFIX) - 1, SEEN_PREFIX }, v;
	int ok = 1;
	if (store_cursor_open(txn, STORE_META, &cur) != 0)
		return 0;
	for (int rc = store_cursor_get(cur, &k, &v, STORE_SET_RANGE); rc == 0;
	    rc = store_cursor_get(cur, &k, &v, STORE_NEXT)) {
		if (k.len < sizeof(SEEN_PREFIX) - 1 ||
		    memcmp(k.data, SEEN_PREFIX, sizeof(SEEN_PREFIX) - 1) != 0)
			break;
		if (v.len != 16)
			continue;
		uint64_t g = store_get_id(v.data), t = store_get_id((const uint8_t *)v.data + 8);
		if (g < gen && t + SEEN_FRESH_SECONDS >= (uint64_t)now) {
			ok = 0;
			if (who != NULL)
				snprintf(who, cap, "%.*s", (int)(k.len - (sizeof(SEEN_PREFIX) - 1)),
				    (const char *)k.data + sizeof(SEEN_PREFIX) - 1);
			break;
		}
	}
	store_cursor_close(cur);
	return ok;
}

/* Write this node's "seen" and, when it leads, its name as the lead. */
static void
write_seen(struct server *srv, time_t now, int lead_changed)
{
	struct store_txn *txn;
	int rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn);
	if (rc == 0) {
		rc = put_seen(srv, txn, known_gen, now);
		if (rc == 0 && lead_changed && leading == 1)
			rc = meta_put(txn, LEAD_KEY, srv->svc.cfg.node_name,
			    strlen(srv->svc.cfg.node_name));
		if (rc == 0)
			rc = store_txn_commit(txn);
		else
			store_txn_abort(txn);
	}
	if (rc == 0)
		last_seen = now;
}

int
ring_shared_round(struct write_ctx *ctx)
{
	struct server *srv = server_of(ctx->svc);
	struct store_txn *txn;
	time_t now = time(NULL);
	if (!store_shared(&srv->svc.store))
		return 1;
	if (now == last_poll && leading >= 0)
		return leading;
	last_poll = now;
	int was = leading;
	leading = store_lead(&srv->svc.store);
	if (ctx->keys == NULL)
		return leading;
	uint64_t gen = 0;
	pthread_rwlock_rdlock(&srv->svc.env_lock);
	if (store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn) == 0) {
		int rc = get_gen(txn, &gen);
		if (rc == 0 && gen != known_gen) {
			struct keyring *ring;
			const char *why = NULL;
			if (open_stored(srv, txn, &ring, &why) == 0 &&
			    adopt(srv, ctx, ring, gen, &why) == 0)
				last_seen = 0; /* say so at once */
			else
				log_error("key ring: generation %llu of the database cannot be "
				    "taken: %s", (unsigned long long)gen, why);
		}
		if (leading == 1 && atomic_load(&srv->svc.rotation.target) != 0)
			rewrap_ok = all_seen(srv, txn, known_gen, now, NULL, 0);
		store_txn_abort(txn);
	}
	pthread_rwlock_unlock(&srv->svc.env_lock);
	if (known_gen != 0 && (now - last_seen >= SEEN_REFRESH_SECONDS || was != leading))
		write_seen(srv, now, was != leading);
	/* Holds placed on other nodes: the lead's sweep learns their expiry. */
	if (leading == 1 && now - last_holds >= SEEN_REFRESH_SECONDS) {
		privacy_timer_init(&srv->svc);
		last_holds = now;
	}
	if (leading == 1 && was != 1) {
		log_info("this node (%s) runs the background jobs: key rotation, retires, "
		    "the privacy sweep", srv->svc.cfg.node_name);
		if (was == 0)
			rotation_resume(srv); /* another node's unfinished rotation */
	}
	return leading;
}

int
ring_shared_rewrap_ok(struct server *srv)
{
	return !store_shared(&srv->svc.store) || rewrap_ok;
}

int
ring_shared_may_change(struct write_ctx *ctx, int retire, const char **why)
{
	static char msg[200];
	struct server *srv = server_of(ctx->svc);
	struct store_txn *txn;
	char who[72] = "";
	if (!store_shared(&srv->svc.store))
		return 0;
	if (store_lead(&srv->svc.store) != 1) {
		struct store_val v;
		if (store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn) == 0) {
			if (meta_get(txn, LEAD_KEY, &v) == 0)
				snprintf(who, sizeof(who), "%.*s", (int)(v.len < 63 ? v.len : 63),
				    (const char *)v.data);
			store_txn_abort(txn);
		}
		snprintf(msg, sizeof(msg), "another node (%s) runs key rotation and retires "
		    "on this database, one node at a time: run it there", who[0] ? who : "?");
		*why = msg;
		return VAULT_E_CONFLICT;
	}
	if (!retire)
		return 0;
	int ok = 0;
	if (store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn) == 0) {
		ok = all_seen(srv, txn, known_gen, time(NULL), who, sizeof(who));
		store_txn_abort(txn);
	}
	if (!ok) {
		snprintf(msg, sizeof(msg), "node %s has not taken the current key ring yet "
		    "(it does within seconds, or is stopped 30 s after its last sign): "
		    "try again", who[0] ? who : "?");
		*why = msg;
		return VAULT_E_CONFLICT;
	}
	return 0;
}

int
ring_shared_publish(struct write_ctx *ctx, const struct keyring *ring, const char **why)
{
	struct server *srv = server_of(ctx->svc);
	struct store_txn *txn;
	uint8_t *img = NULL, b[8];
	size_t len;
	uint64_t gen = 0;
	if (!store_shared(&srv->svc.store))
		return 0;
	int rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn);
	if (rc != 0) {
		*why = "cannot store the key ring in the database";
		return store_error(rc);
	}
	rc = get_gen(txn, &gen);
	if (rc == STORE_NOTFOUND)
		rc = 0;
	if (rc != 0 || gen != known_gen) {
		store_txn_abort(txn);
		*why = rc ? "the database's key ring cannot be read" :
		    "the database's key ring changed meanwhile: try again";
		return rc ? store_error(rc) : VAULT_E_CONFLICT;
	}
	store_put_id(b, gen + 1);
	if ((rc = keyring_seal(ring, srv->svc.root, &img, &len)) == 0 &&
	    (rc = store_error(meta_put(txn, RING_KEY, img, len))) == 0 &&
	    (rc = store_error(meta_put(txn, GEN_KEY, b, 8))) == 0 &&
	    (rc = store_error(put_seen(srv, txn, gen + 1, time(NULL)))) == 0)
		rc = store_error(store_txn_commit(txn));
	else
		store_txn_abort(txn);
	free(img);
	if (rc != 0) {
		*why = "cannot store the key ring in the database";
		return rc;
	}
	known_gen = gen + 1;
	/* The rewrap of this rotation waits for the other live nodes. */
	if (store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn) == 0) {
		rewrap_ok = all_seen(srv, txn, known_gen, time(NULL), NULL, 0);
		store_txn_abort(txn);
	}
	return 0;
}
