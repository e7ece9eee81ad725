/*
 * unseal.c - "unseal" (admin): open a passphrase-sealed key ring, or one
 * sealed by a PKCS#11 token (the "passphrase" is then the token's PIN).
 * Until then the service answers only ping, status and unseal.
 *
 * Argon2id makes each passphrase attempt cost the configured time and
 * memory, which is what limits guessing; a token counts wrong PINs and
 * locks itself. Only admin clients can try at all.
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

static const char *const args[] = { "passphrase", NULL };

static pthread_mutex_t unseal_lock = PTHREAD_MUTEX_INITIALIZER;

/* A token failure's message, for the reply this worker sends next. */
static _Thread_local char p11_message[sizeof(((struct pkcs11_error *)0)->message)];

static int
unseal(struct read_ctx *ctx, const struct request *req, msgpack_packer *pk,
    struct op_error *err)
{
	struct vault_services *svc = ctx->svc;
	struct keyring_root_params params;
	struct keyring *ring = NULL;
	struct key_set *ks = NULL;
	const char *pass, *why = NULL;
	size_t len;
	int rc = msg_get_str(req->args, "passphrase", 1, &pass, &len);
	if (rc != 0)
		return op_fail(err, rc, "passphrase", "passphrase must be a string");
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
	svc->control->keys_arrived(svc);
	log_info("unsealed by uid %ld", (long)req->uid);
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
