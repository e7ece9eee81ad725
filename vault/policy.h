/*
 * policy.h - who may see what, and why.
 *
 * The policy file (INI, parsed with inih; policy.example documents it)
 * names clients by the peer credentials of their socket (SO_PEERCRED uid
 * and gid) and grants, per client and purpose, per field, one access:
 *
 *   plain   the value
 *   masked  a masked form (mask.h): enough to recognise, not to use
 *   token   an opaque token instead of the value (never the value)
 *   none    nothing (the default: what is not granted is denied)
 *
 * and, with token or masked, optionally "join": the client may also obtain
 * deterministic and card tokens of values it did not send itself (tokenize
 * of a stored record), and deterministic tokens at all. Those tokens are an
 * equality test on the value (PROTOCOL.md 10.3), which turns masked or
 * token access into plain access for any value that can be guessed (a card
 * number from its last four, an expiry, an email from a list): so they need
 * plain access or this explicit grant. Deterministic tags are keyed per join
 * domain (token_domain, by default the client's own name): clients in two
 * domains get tags that cannot be compared.
 *
 * A client may also hold: admin (key, audit and privacy-request
 * operations), delete (delete records), list (list records). A caller whose
 * uid and gid match no client is disconnected before any request is read.
 *
 * Reloading (SIGHUP, the policy_reload operation; reload.h). A loaded
 * policy never changes: a reload parses the whole file into a new one and,
 * only if it is complete and valid, publishes it as the policy in force
 * (struct policy_current); a bad file leaves the old one in force. Threads
 * hold a policy by reference count, not by hazard pointer as key sets are
 * (keyset.h): a write carries its client (and through it the client's
 * token domain) from its worker to the writer, across any number of
 * reloads, so the holder is an object, not a thread, and a publisher that
 * waited for holders to let go would wait on the writer's queue. The old
 * policy is freed by whoever drops the last reference. Taking a reference
 * from the current pointer is done under a mutex (pointer load and count
 * must be one step); a worker does it only when the generation number it
 * compares on every request has moved, so the request path costs one
 * atomic load.
 *
 * A connection is matched to its client again on its first request after
 * a reload, not kept with the client it had at accept: a reload is how an
 * administrator takes access away, and a security product must not let an
 * open connection outlive that. A client whose grants changed gets the new
 * grants on its next request; a caller that no client matches any more
 * gets the refusal frame an unknown caller gets at connect (id 0,
 * VAULT_E_DENIED) and the connection is closed. A request already being
 * handled, or a write already queued, finishes under the policy it was
 * admitted by (its reference keeps that policy alive).
 */
#ifndef VAULT_POLICY_H
#define VAULT_POLICY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <vault/vault.h>

#include "record/fields.h"

enum access {
	ACCESS_NONE = 0,
	ACCESS_TOKEN = 1,
	ACCESS_MASKED = 2,
	ACCESS_PLAIN = 3,
};
/* The join grant, kept in the access byte beside the access level. */
#define ACCESS_JOIN 0x80
#define ACCESS_LEVEL_MASK 0x03

#define POLICY_PURPOSES 5
#define POLICY_NAME_MAX 32

struct policy_client {
	char name[POLICY_NAME_MAX];
	uid_t uids[16];
	size_t nuids;
	gid_t gids[16];
	size_t ngids;
	int admin;
	int may_delete;
	int may_list;
	int may_privacy;   /* privacy requests (open, verify, complete, ...) */
	int may_transactions; /* record last transactions (a verification data point) */
	/* join domain of deterministic tokens (default: the client's name) */
	char token_domain[POLICY_NAME_MAX];
	/* access[purpose - 1][field id] (level | ACCESS_JOIN); documents at
	 * FIELD_DOCUMENT_SLOT */
	uint8_t access[POLICY_PURPOSES][FIELD_MAX + 2];
	/* "<client>/<purpose>" per purpose: what a denial names */
	char rule[POLICY_PURPOSES][POLICY_NAME_MAX + 16];
};

#define FIELD_DOCUMENT_SLOT (FIELD_MAX + 1)

struct policy {
	struct policy_client *clients;
	size_t nclients;
	int open;   /* development: every caller is client "dev", admin, plain */
	/* Only for one from policy_new(): */
	atomic_uint refs;
	uint64_t gen;       /* set when published (struct policy_current) */
};

/*
 * Load path. On error returns VAULT_E_CONFIG with "file:line: reason" in
 * err. An empty path with dev set gives the open development policy.
 */
int policy_load(struct policy *p, const char *path, int dev, char *err, size_t errlen);
void policy_free(struct policy *p);

/*
 * The same as a shared object with one reference (the caller's), for
 * publishing: drop it with policy_unref().
 */
int policy_new(const char *path, int dev, struct policy **out, char *err, size_t errlen);
/* Another reference to p (a held one: the count is not 0); NULL gives NULL. */
const struct policy *policy_ref(const struct policy *p);
/* Drop a reference; the last one frees the policy. NULL is ignored. */
void policy_unref(const struct policy *p);

/* The policy in force, replaced as a whole by a reload. */
struct policy_current {
	pthread_mutex_t lock;       /* taking a reference to cur; publishing */
	const struct policy *cur;   /* holds one reference */
	_Atomic uint64_t gen;       /* cur->gen, readable without the lock */
};

/* Install first (its reference is taken over) as generation 1. */
void policy_current_init(struct policy_current *pc, struct policy *first);
/* Drop the policy in force (no thread may use pc any more). */
void policy_current_destroy(struct policy_current *pc);
/* A reference to the policy in force: policy_unref() it. */
const struct policy *policy_current_get(struct policy_current *pc);
/* 1 if p (held) is no longer the policy in force. One atomic load. */
int policy_current_stale(struct policy_current *pc, const struct policy *p);
/* Make next (its reference taken over) the policy in force. */
void policy_current_publish(struct policy_current *pc, struct policy *next);

/* The client for a peer (uid match first, then gid), or NULL. */
const struct policy_client *policy_client(const struct policy *p, uid_t uid, gid_t gid);
/* Access of client c to field for purpose. */
enum access policy_access(const struct policy_client *c, enum vault_purpose purpose,
    unsigned field);
/*
 * May c obtain tokens that test equality of field's value for purpose
 * (deterministic tokens; card tokens of a stored value)? Plain access or
 * an explicit join grant.
 */
int policy_may_join(const struct policy_client *c, enum vault_purpose purpose,
    unsigned field);
/* The name of the rule that decided c's access for purpose. */
const char *policy_rule(const struct policy_client *c, enum vault_purpose purpose);

#endif
