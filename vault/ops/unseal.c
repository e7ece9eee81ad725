/*
 * unseal.c - "unseal" (admin): open a passphrase-sealed key ring. Until
 * then the service answers only ping, status and unseal.
 *
 * Argon2id makes each attempt cost the configured time and memory, which
 * is what limits guessing; only admin clients can try at all.
 */
#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/log.h"
#include "vault/sdnotify.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { "passphrase", NULL };

static pthread_mutex_t unseal_lock = PTHREAD_MUTEX_INITIALIZER;

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
