/*
 * keys_rekey.c - "keys_rekey" (admin): change the key ring's root of trust
 * while vaultd serves. The same keys (every epoch, token and index
 * version) are sealed again under a new root, and only the ring file's
 * seal changes: records, tokens and the audit trail are untouched.
 *
 * The new root: "key_file" with "key" (64 hex digits: vaultctl read or
 * made the file), "passphrase" with "passphrase" (Argon2id with a new
 * salt, costs "opslimit"/"memlimit" or MODERATE), "shares" with "shares"
 * N and "threshold" K (a new random sealing key, split; the shares come
 * back in the reply, once), or "pkcs11" with "token", "key" and "pin"
 * (a new random sealing key encrypted by the token's key, module from
 * [keys] pkcs11_module; with "shares"/"threshold" the PIN is split and
 * those shares come back). Secrets arrive in the request, never on a
 * command line, and are wiped with it; the derived root sits in secure
 * memory.
 *
 * prepare (on a worker) does the slow part (Argon2id, the token); the
 * writer then seals the ring it holds with the new root, saves it
 * atomically (keyring_save: temporary file, fsync, rename, directory
 * fsync), and only then makes the new root the one later rotations save
 * with, so a rotation never seals with a root the file does not have.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/msg.h"
#include "keys/keyring.h"
#include "keys/keyring_pkcs11.h"
#include "keys/share.h"
#include "vault/keyset.h"
#include "vault/log.h"
#include "vault/services.h"
#include "op.h"

static const char *const args[] = { "root", "key", "passphrase", "opslimit", "memlimit",
	"shares", "threshold", "token", "key_label", "pin", NULL };

struct rekey {
	struct keyring_root_params params;
	uint8_t *root;          /* secure memory */
	char *texts;            /* secure memory: nshares texts of SHARE_TEXT_MAX */
	unsigned nshares;
};

/* A token failure's message, for the reply this worker sends next. */
static _Thread_local char p11_message[sizeof(((struct pkcs11_error *)0)->message)];

static void
rekey_free(void *p)
{
	struct rekey *r = p;
	if (r == NULL)
		return;
	sodium_free(r->root);
	sodium_free(r->texts);
	sodium_memzero(r, sizeof(*r));
	free(r);
}

static const char *
kind_word(enum keyring_root_kind k)
{
	return k == KEYRING_ROOT_KEYFILE ? "key_file" : k == KEYRING_ROOT_PASSPHRASE ?
	    "passphrase" : k == KEYRING_ROOT_PKCS11 ? "pkcs11" : "shares";
}

/* Split data into r->nshares texts (r->params holds N and K). */
static int
split(struct rekey *r, const uint8_t *data, size_t len)
{
	unsigned n = r->params.share_count, k = r->params.share_threshold;
	struct share *sh = sodium_malloc(sizeof(*sh) * n);
	uint8_t *packed = sodium_malloc(SHARE_PAYLOAD_MAX);
	int rc = VAULT_E_NOMEM;
	r->texts = sodium_malloc((size_t)n * SHARE_TEXT_MAX);
	if (sh != NULL && packed != NULL && r->texts != NULL) {
		size_t plen = share_pack(data, len, packed);
		if ((rc = share_split(packed, plen, n, k, sh)) == 0) {
			for (unsigned i = 0; i < n; i++)
				share_format(&sh[i], r->texts + (size_t)i * SHARE_TEXT_MAX);
			r->nshares = n;
		}
	}
	sodium_free(packed);
	sodium_free(sh);
	return rc;
}

/* "shares" and "threshold": both or neither; 1 if given. */
static int
share_args(const struct request *req, struct rekey *r, int required, struct op_error *err)
{
	uint64_t n = 0, k = 0;
	int rc;
	if ((rc = msg_get_uint(req->args, "shares", required, &n)) != 0 ||
	    (rc = msg_get_uint(req->args, "threshold", required, &k)) != 0)
		return -op_fail(err, rc, "shares", "shares and threshold are integers");
	if (n == 0 && k == 0)
		return 0;
	if (k < 2 || k > n || n > SHARE_MAX)
		return -op_fail(err, VAULT_E_INVALID_VALUE, "threshold",
		    "2 <= threshold <= shares <= 255");
	r->params.share_count = (uint16_t)n;
	r->params.share_threshold = (uint16_t)k;
	return 1;
}

static int
prepare(struct read_ctx *ctx, const struct request *req, void **state,
    struct op_error *err)
{
	const struct config *c = &ctx->svc->cfg;
	const char *root, *s = NULL;
	size_t rlen, slen = 0;
	int rc = msg_get_str(req->args, "root", 1, &root, &rlen);
	if (rc != 0)
		return op_fail(err, rc, "root", "root is key_file, passphrase, shares or pkcs11");
	struct rekey *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->root = sodium_malloc(KEYRING_KEY_BYTES)) == NULL) {
		rekey_free(r);
		return op_fail(err, VAULT_E_NOMEM, NULL, NULL);
	}
#define IS(word) (rlen == sizeof(word) - 1 && memcmp(root, word, rlen) == 0)
	if (IS("key_file")) {
		size_t got = 0;
		keyring_params_keyfile(&r->params);
		if ((rc = msg_get_str(req->args, "key", 1, &s, &slen)) != 0 ||
		    slen != 2 * KEYRING_KEY_BYTES ||
		    sodium_hex2bin(r->root, KEYRING_KEY_BYTES, s, slen, NULL, &got, NULL) != 0 ||
		    got != KEYRING_KEY_BYTES) {
			rc = op_fail(err, rc ? rc : VAULT_E_INVALID_VALUE, "key",
			    "key is the new root key: 64 hex digits");
			goto fail;
		}
	} else if (IS("passphrase")) {
		uint64_t ops = 0, mem = 0;
		keyring_params_new_passphrase(&r->params);
		if ((rc = msg_get_str(req->args, "passphrase", 1, &s, &slen)) != 0 || slen == 0 ||
		    slen > 1024) {
			rc = op_fail(err, rc ? rc : VAULT_E_INVALID_VALUE, "passphrase",
			    "passphrase is 1 to 1024 bytes");
			goto fail;
		}
		if ((rc = msg_get_uint(req->args, "opslimit", 0, &ops)) != 0 ||
		    (rc = msg_get_uint(req->args, "memlimit", 0, &mem)) != 0) {
			rc = op_fail(err, rc, "opslimit", "opslimit and memlimit are integers");
			goto fail;
		}
		if (ops != 0)
			r->params.opslimit = ops;
		if (mem != 0)
			r->params.memlimit = mem;
		if (r->params.opslimit < KEYRING_OPSLIMIT_MIN ||
		    r->params.opslimit > KEYRING_OPSLIMIT_MAX ||
		    r->params.memlimit < KEYRING_MEMLIMIT_MIN ||
		    r->params.memlimit > KEYRING_MEMLIMIT_MAX) {
			rc = op_fail(err, VAULT_E_INVALID_VALUE, "opslimit",
			    "KDF parameters out of range");
			goto fail;
		}
		if ((rc = keyring_root_from_passphrase(s, slen, &r->params, r->root)) != 0) {
			rc = op_fail(err, rc, NULL, "cannot derive the root key (out of memory?)");
			goto fail;
		}
	} else if (IS("shares")) {
		keyring_params_shares(&r->params, 0, 0);
		if ((rc = share_args(req, r, 1, err)) <= 0) {
			rc = rc < 0 ? -rc : op_fail(err, VAULT_E_INVALID_VALUE, "shares",
			    "shares and threshold are needed");
			goto fail;
		}
		randombytes_buf(r->root, KEYRING_KEY_BYTES);
		if ((rc = split(r, r->root, KEYRING_KEY_BYTES)) != 0) {
			rc = op_fail(err, rc, NULL, "cannot split the new key");
			goto fail;
		}
	} else if (IS("pkcs11")) {
		const char *tok, *key, *pin;
		size_t tl, kl, pl;
		struct pkcs11_error perr;
		memset(&r->params, 0, sizeof(r->params));
		r->params.kind = KEYRING_ROOT_PKCS11;
		r->params.p11.mechanism = 0x1087u; /* CKM_AES_GCM */
		if (c->pkcs11_module[0] == '\0') {
			rc = op_fail(err, VAULT_E_CONFIG, "root", "set [keys] pkcs11_module to the "
			    "token's module (and reload by restarting) before rekeying to it");
			goto fail;
		}
		if ((rc = msg_get_str(req->args, "token", 1, &tok, &tl)) != 0 ||
		    (rc = msg_get_str(req->args, "key_label", 1, &key, &kl)) != 0 ||
		    (rc = msg_get_str(req->args, "pin", 1, &pin, &pl)) != 0) {
			rc = op_fail(err, rc, "token", "token, key_label and pin are strings");
			goto fail;
		}
		if (tl == 0 || tl > KEYRING_P11_TOKEN_MAX || kl == 0 || kl > KEYRING_P11_KEY_MAX ||
		    memchr(tok, 0, tl) || memchr(key, 0, kl) || pl == 0 || pl > PKCS11_PIN_MAX) {
			rc = op_fail(err, VAULT_E_INVALID_VALUE, "token",
			    "token label 1-32 bytes, key label 1-64, PIN 1-256");
			goto fail;
		}
		memcpy(r->params.p11.token, tok, tl);
		memcpy(r->params.p11.key, key, kl);
		/* As vault-keytool: the header must be able to hold them. */
		if (!pkcs11_label_ok(r->params.p11.token, PKCS11_TOKEN_LABEL_MAX) ||
		    !pkcs11_label_ok(r->params.p11.key, PKCS11_KEY_LABEL_MAX)) {
			rc = op_fail(err, VAULT_E_INVALID_VALUE, "token", "a token label is 1 to 32 "
			    "bytes and a key label 1 to 64, without control characters or trailing "
			    "spaces");
			goto fail;
		}
		if ((rc = share_args(req, r, 0, err)) < 0) {
			rc = -rc;
			goto fail;
		}
		char *pinz = sodium_malloc(pl + 1);
		if (pinz == NULL) {
			rc = op_fail(err, VAULT_E_NOMEM, NULL, NULL);
			goto fail;
		}
		memcpy(pinz, pin, pl);
		pinz[pl] = '\0';
		struct pkcs11_target t = { c->pkcs11_module, r->params.p11.token, r->params.p11.key };
		randombytes_buf(r->root, KEYRING_KEY_BYTES);
		rc = keyring_pkcs11_wrap(&t, pinz, pl, r->root, &r->params, &perr);
		if (rc == 0 && r->params.share_threshold != 0 &&
		    split(r, (const uint8_t *)pinz, pl) != 0) {
			sodium_free(pinz);
			rc = op_fail(err, VAULT_E_NOMEM, NULL, "cannot split the PIN");
			goto fail;
		}
		sodium_free(pinz);
		if (rc != 0) {
			/* The message names the token and key, never the PIN. */
			memcpy(p11_message, perr.message, sizeof(p11_message));
			log_warn("rekey to PKCS#11 by uid %ld: %s", (long)req->uid, p11_message);
			rc = op_fail(err, VAULT_E_KEYRING, "pin", p11_message);
			goto fail;
		}
	} else {
		rc = op_fail(err, VAULT_E_INVALID_VALUE, "root",
		    "root is key_file, passphrase, shares or pkcs11");
		goto fail;
	}
#undef IS
	*state = r;
	return 0;
fail:
	rekey_free(r);
	return rc;
}

static int
control(struct write_ctx *ctx, void *state, msgpack_packer *pk, struct op_error *err)
{
	struct rekey *r = state;
	struct vault_services *svc = ctx->svc;
	struct keyring *next = NULL;
	struct key_set *ks = NULL;
	const char *why = NULL;
	int rc;

	if (ctx->keys == NULL)
		return op_fail(err, VAULT_E_SEALED, NULL, "the vault is sealed");
	/*
	 * Several nodes share one sealed ring (ring_shared.h), opened by the one
	 * root every node holds. A rekey here would leave the others (and the
	 * database's copy) on the old root: the next ring one of them publishes
	 * would not open here, and this node would not start again. Changing
	 * every node's root together is not built yet.
	 */
	if (store_shared(&svc->store))
		return op_fail(err, VAULT_E_CONFIG, NULL,
		    "several nodes share this database's key ring, sealed by the root "
		    "they all hold: keys rekey works on one node's own ring only "
		    "(doc/storage-postgresql.md, \"Several nodes\")");
	if ((rc = keyring_with_root_params(ctx->keys->ring, &r->params, &next, &why)) != 0)
		return op_fail(err, rc, NULL, why);
	/* The set first: once the file is saved nothing may fail before the swap. */
	if ((rc = key_set_new(next, &ks)) != 0)
		return op_fail(err, rc, NULL, "cannot derive token keys");
	if ((rc = keyring_save(ks->ring, svc->cfg.keyring_path, r->root, &why)) != 0) {
		key_set_free(ks);
		log_error("rekey: cannot save the key ring %s: %s", svc->cfg.keyring_path, why);
		return op_fail(err, rc, NULL, why);
	}
	memcpy(svc->root, r->root, KEYRING_KEY_BYTES);
	key_set_publish(svc, ks, 0);
	ctx->keys = ks;
	log_info("key ring rekeyed: its root is now %s%s", kind_word(r->params.kind),
	    r->params.share_threshold ? " (split into shares)" : "");
	msgpack_pack_map(pk, r->nshares ? 2 : 1);
	mp_cstr(pk, "root");
	mp_cstr(pk, kind_word(r->params.kind));
	if (r->nshares) {
		mp_cstr(pk, "shares");
		msgpack_pack_array(pk, r->nshares);
		for (unsigned i = 0; i < r->nshares; i++)
			mp_cstr(pk, r->texts + (size_t)i * SHARE_TEXT_MAX);
	}
	return 0;
}

const struct op op_keys_rekey = {
	.name = "keys_rekey",
	.kind = OP_CONTROL,
	.admin = 1,
	.args = args,
	.prepare = prepare,
	.control = control,
	.free_state = rekey_free,
};
