/*
 * unseal.c - "unseal" (admin): open a passphrase-sealed key ring, or one
 * sealed by a PKCS#11 token (the "passphrase" is then the token's PIN).
 * Until then the service answers only ping, status and unseal.
 *
 * Argon2id makes each passphrase attempt cost the configured time and
 * memory, which is what limits guessing; a token counts wrong PINs and
 * locks itself. Only admin clients can try at all.
 *
 * With "share" instead, one Shamir share (keys/share.h) of a ring whose
 * header says it is split: the sealing key (kind 4) or the token's PIN
 * (kind 3). Shares are collected (unseal_shares.c) until the header's
 * threshold K is reached, then combined once: if the result fails its
 * check, the ring or the token, every collected share is discarded and
 * the operators start again; the reply never says which share was wrong
 * (nothing here can know).
 */
#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "keys/keyring_pkcs11.h"
#include "vault/keyset.h"
#include "vault/log.h"
#include "vault/sdnotify.h"
#include "vault/services.h"
#include "op.h"
#include "unseal_shares.h"

static const char *const args[] = { "passphrase", "share", NULL };

static pthread_mutex_t unseal_lock = PTHREAD_MUTEX_INITIALIZER;

/* A token failure's message, for the reply this worker sends next. */
static _Thread_local char p11_message[sizeof(((struct pkcs11_error *)0)->message)];

static const char combine_failed[] = "the shares given do not unseal this key ring (one "
    "is wrong, from another split, or the ring was rekeyed): all collected shares "
    "were discarded; start again with K shares";

/*
 * One share: kept until there are K, then combined into root (kind 4) or a
 * PIN (kind 3) and the ring opened. 0 with *ring once opened; 0 with *ring
 * NULL and the progress packed while fewer than K; else an error.
 */
static int
give_share(struct vault_services *svc, const struct request *req,
    const struct keyring_root_params *params, const char *text, size_t tlen,
    uint8_t *root, struct keyring **ring, msgpack_packer *pk, struct op_error *err)
{
	const struct config *c = &svc->cfg;
	struct share *s = sodium_malloc(sizeof(*s));
	uint8_t *packed = sodium_malloc(SHARE_PAYLOAD_MAX);
	uint8_t *data = sodium_malloc(SHARE_DATA_MAX + 1);
	const char *why = NULL;
	unsigned given = 0, k = params->share_threshold;
	size_t plen = 0, dlen = 0;
	int rc;

	if (s == NULL || packed == NULL || data == NULL) {
		rc = op_fail(err, VAULT_E_NOMEM, NULL, NULL);
		goto out;
	}
	if (k == 0) {
		rc = op_fail(err, VAULT_E_CONFLICT, "share",
		    "the key ring is not split into shares");
		goto out;
	}
	if ((rc = share_parse(text, tlen, s, &why)) != 0) {
		rc = op_fail(err, VAULT_E_INVALID_VALUE, "share", why);
		goto out;
	}
	/* The header's K and the share's must agree: a share of another split. */
	if (s->threshold != k || s->index > params->share_count ||
	    (params->kind == KEYRING_ROOT_SHARES && s->len != SHARE_PAYLOAD_MIN * 2)) {
		rc = op_fail(err, VAULT_E_INVALID_VALUE, "share",
		    "this share is not one of this key ring's (another threshold, index or length)");
		goto out;
	}
	unsigned before = unseal_shares_given();
	const struct share *all = unseal_shares_all(&before);
	if (before > 0 && all[0].len != s->len) {
		/* Two lengths cannot both be right: discard, as a failed combination. */
		unseal_shares_clear();
		log_warn("unseal: a share of another length than the shares before it "
		    "(uid %ld): %u collected shares discarded", (long)req->uid, before);
		rc = op_fail(err, VAULT_E_KEYRING, "share", combine_failed);
		goto out;
	}
	if ((rc = unseal_shares_give(s, k, &given)) != 0) {
		rc = rc == VAULT_E_CONFLICT ? op_fail(err, VAULT_E_CONFLICT, "share",
		    "a share of this index was given already; give another operator's") :
		    op_fail(err, rc, NULL, NULL);
		goto out;
	}
	log_info("unseal: share given by uid %ld (%u of %u)", (long)req->uid, given, k);
	if (given < k) {
		msgpack_pack_map(pk, 3);
		mp_cstr(pk, "sealed");
		msgpack_pack_true(pk);
		mp_cstr(pk, "shares_given");
		msgpack_pack_uint32(pk, given);
		mp_cstr(pk, "shares_needed");
		msgpack_pack_uint32(pk, k);
		rc = 0;
		goto out;
	}
	all = unseal_shares_all(&given);
	rc = share_combine(all, given, packed, &plen);
	unseal_shares_clear(); /* good or bad, each share is used once */
	if (rc != 0 || share_unpack(packed, plen, data, &dlen) != 0) {
		log_warn("unseal: %u shares did not combine (uid %ld gave the last): all "
		    "discarded", k, (long)req->uid);
		rc = op_fail(err, VAULT_E_KEYRING, "share", combine_failed);
		goto out;
	}
	if (params->kind == KEYRING_ROOT_SHARES) {
		if (dlen != KEYRING_KEY_BYTES) {
			rc = op_fail(err, VAULT_E_KEYRING, "share", combine_failed);
			goto out;
		}
		memcpy(root, data, KEYRING_KEY_BYTES);
		if ((rc = keyring_load(c->keyring_path, root, ring, &why)) != 0) {
			log_warn("unseal: the combined shares do not open the key ring %s: %s",
			    c->keyring_path, why);
			rc = op_fail(err, VAULT_E_KEYRING, "share", combine_failed);
		}
		goto out;
	}
	/* Kind 3: the shares made the PIN; the token checks it. */
	struct pkcs11_error perr;
	if ((rc = keyring_pkcs11_unseal(c->keyring_path, c->pkcs11_module, c->pkcs11_token,
	    c->pkcs11_key, (const char *)data, dlen, root, ring, &perr)) != 0) {
		log_warn("unseal by shares (uid %ld): %s", (long)req->uid, perr.message);
		memcpy(p11_message, perr.message, sizeof(p11_message));
		rc = op_fail(err, rc == VAULT_E_CONFIG ? VAULT_E_CONFIG : VAULT_E_KEYRING,
		    "share", p11_message);
	}
out:
	sodium_free(data);
	sodium_free(packed);
	sodium_free(s);
	return rc;
}

static int
unseal(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct vault_services *svc = ctx->svc;
	struct keyring_root_params params;
	struct keyring *ring = NULL;
	struct key_set *ks = NULL;
	const char *pass = NULL, *share = NULL, *why = NULL;
	size_t len = 0, slen = 0;
	int rc = msg_get_str(req->args, "passphrase", 0, &pass, &len);
	if (rc != 0)
		return op_fail(err, rc, "passphrase", "passphrase must be a string");
	if ((rc = msg_get_str(req->args, "share", 0, &share, &slen)) != 0)
		return op_fail(err, rc, "share", "share must be a string");
	if ((pass == NULL) == (share == NULL))
		return op_fail(err, VAULT_E_INVALID_VALUE, pass ? "share" : "passphrase",
		    "give either a passphrase (or PIN) or a share");
	/*
	 * One attempt at a time (each costs Argon2id's time and memory, on
	 * this worker): a concurrent one is told to retry, not queued.
	 */
	if (pthread_mutex_trylock(&unseal_lock) != 0)
		return op_fail(err, VAULT_E_BUSY, NULL, "another unseal is in progress");
	if (!key_set_sealed(svc)) {
		pthread_mutex_unlock(&unseal_lock);
		return op_fail(err, VAULT_E_CONFLICT, NULL, "the vault is not sealed");
	}
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	if (root == NULL) {
		rc = op_fail(err, VAULT_E_NOMEM, NULL, NULL);
		goto out;
	}
	if ((rc = keyring_file_params(svc->cfg.keyring_path, &params, &why)) != 0) {
		op_fail(err, rc, NULL, why);
		goto out;
	}
	if (share != NULL) {
		if ((rc = give_share(svc, req, &params, share, slen, root, &ring, pk, err)) != 0 ||
		    ring == NULL)
			goto out;
		goto opened;
	}
	if (params.kind == KEYRING_ROOT_SHARES) {
		rc = op_fail(err, VAULT_E_CONFLICT, "passphrase",
		    "the key ring is sealed by shares: give them with vaultctl unseal --share");
		goto out;
	}
	if (params.kind == KEYRING_ROOT_PKCS11) {
		struct pkcs11_error perr;
		const struct config *c = &svc->cfg;
		if (len > PKCS11_PIN_MAX) {
			rc = op_fail(err, VAULT_E_INVALID_VALUE, "passphrase",
			    "a PKCS#11 PIN is at most 256 bytes");
			goto out;
		}
		if ((rc = keyring_pkcs11_unseal(c->keyring_path, c->pkcs11_module, c->pkcs11_token,
		    c->pkcs11_key, pass, len, root, &ring, &perr)) != 0) {
			/* The message names the token and key, never the PIN. */
			log_warn("unseal by uid %ld: %s", (long)req->uid, perr.message);
			int pin = perr.status == PKCS11_E_PIN_INCORRECT ||
			    perr.status == PKCS11_E_PIN_LOCKED || perr.status == PKCS11_E_PIN_INVALID;
			memcpy(p11_message, perr.message, sizeof(p11_message));
			rc = op_fail(err, rc == VAULT_E_CONFIG ? VAULT_E_CONFIG : VAULT_E_KEYRING,
			    pin ? "passphrase" : NULL, p11_message);
			goto out;
		}
		goto opened;
	}
	if (params.kind != KEYRING_ROOT_PASSPHRASE) {
		rc = op_fail(err, VAULT_E_CONFLICT, NULL, "the key ring is not passphrase-sealed");
		goto out;
	}
	if ((rc = keyring_root_from_passphrase(pass, len, &params, root)) != 0) {
		op_fail(err, rc, NULL, "cannot derive the root key (out of memory?)");
		goto out;
	}
	if ((rc = keyring_load(svc->cfg.keyring_path, root, &ring, &why)) != 0) {
		log_warn("unseal: a wrong passphrase or a damaged key ring (uid %ld)",
		    (long)req->uid);
		rc = op_fail(err, VAULT_E_KEYRING, "passphrase",
		    "the key ring cannot be opened with this passphrase, or is damaged");
		goto out;
	}
opened:
	if ((rc = key_set_new(ring, &ks)) != 0) {
		op_fail(err, rc, NULL, NULL);
		goto out;
	}
	memcpy(svc->root, root, KEYRING_KEY_BYTES);
	if ((rc = key_set_publish(svc, ks, 1)) != 0) {
		key_set_free(ks);
		op_fail(err, rc, NULL, "the vault is not sealed");
		goto out;
	}
	unseal_shares_clear(); /* shares left from an attempt the PIN overtook */
	svc->control->keys_arrived(svc);
	log_info("unsealed by uid %ld%s", (long)req->uid, share ? " (the last share)" : "");
	sdnotify_status("serving (unsealed)");
	msgpack_pack_map(pk, 1);
	mp_cstr(pk, "sealed");
	msgpack_pack_false(pk);
out:
	sodium_free(root);
	pthread_mutex_unlock(&unseal_lock);
	return rc;
}

const struct op op_unseal = {
	.name = "unseal",
	.kind = OP_READ,
	.admin = 1,
	.sealed_ok = 1,
	.args = args,
	.read = unseal,
};
