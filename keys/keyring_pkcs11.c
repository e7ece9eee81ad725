/*
 * keyring_pkcs11.c - creating and opening a key ring whose sealing key a
 * PKCS#11 token wraps (see keyring_pkcs11.h).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "keyring_pkcs11.h"

static int
ring_fail(struct pkcs11_error *err, int rc, const char *path, const char *why)
{
	err->status = PKCS11_OK;
	err->ckr = 0;
	snprintf(err->message, sizeof(err->message), "key ring %s: %s", path,
	    why ? why : "failed");
	return rc;
}

int
keyring_pkcs11_create(const char *path, const struct pkcs11_target *t,
    const char *pin, size_t pinlen, int create_key, unsigned share_count,
    unsigned share_threshold, uint8_t *root, struct keyring **out,
    struct pkcs11_error *err)
{
	struct keyring_root_params p;
	uint8_t aad[KEYRING_P11_AAD_MAX];
	const char *why = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	memset(&p, 0, sizeof(p));
	p.kind = KEYRING_ROOT_PKCS11;
	p.p11.mechanism = PKCS11_MECH_AES_GCM;
	p.share_count = (uint16_t)share_count;
	p.share_threshold = (uint16_t)share_threshold;
	if (!pkcs11_label_ok(t->token, PKCS11_TOKEN_LABEL_MAX) ||
	    !pkcs11_label_ok(t->key, PKCS11_KEY_LABEL_MAX)) {
		err->status = PKCS11_E_LABEL;
		snprintf(err->message, sizeof(err->message), "%s: a token label is 1 to %d "
		    "bytes and a key label 1 to %d, without control characters or trailing "
		    "spaces", pkcs11_status_name(PKCS11_E_LABEL), PKCS11_TOKEN_LABEL_MAX,
		    PKCS11_KEY_LABEL_MAX);
		return VAULT_E_CONFIG;
	}
	memcpy(p.p11.token, t->token, strlen(t->token));
	memcpy(p.p11.key, t->key, strlen(t->key));
	randombytes_buf(root, KEYRING_KEY_BYTES);
	size_t aadlen = keyring_pkcs11_aad(&p, aad);
	if ((rc = pkcs11_wrap(t, pin, pinlen, create_key, aad, aadlen, root, p.p11.iv,
	    p.p11.wrapped, err)) != 0)
		goto out;
	if ((rc = keyring_create2(path, root, &p, out, &why)) != 0)
		ring_fail(err, rc, path, why);
out:
	if (rc != 0)
		sodium_memzero(root, KEYRING_KEY_BYTES);
	return rc;
}

int
keyring_pkcs11_wrap(const struct pkcs11_target *t, const char *pin, size_t pinlen,
    const uint8_t *root, struct keyring_root_params *p, struct pkcs11_error *err)
{
	uint8_t aad[KEYRING_P11_AAD_MAX];
	memset(err, 0, sizeof(*err));
	size_t aadlen = keyring_pkcs11_aad(p, aad);
	return pkcs11_wrap(t, pin, pinlen, 0, aad, aadlen, root, p->p11.iv, p->p11.wrapped, err);
}

int
keyring_pkcs11_unseal(const char *path, const char *module, const char *want_token,
    const char *want_key, const char *pin, size_t pinlen, uint8_t *root,
    struct keyring **out, struct pkcs11_error *err)
{
	struct keyring_root_params p;
	uint8_t aad[KEYRING_P11_AAD_MAX];
	const char *why = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	if ((rc = keyring_file_params(path, &p, &why)) != 0)
		return ring_fail(err, rc, path, why);
	if (p.kind != KEYRING_ROOT_PKCS11)
		return ring_fail(err, VAULT_E_KEYRING, path, "not sealed by a PKCS#11 token");
	if ((want_token != NULL && want_token[0] != '\0' && strcmp(want_token, p.p11.token) != 0) ||
	    (want_key != NULL && want_key[0] != '\0' && strcmp(want_key, p.p11.key) != 0)) {
		snprintf(err->message, sizeof(err->message), "key ring %s is sealed by the key "
		    "\"%s\" of token \"%s\", but the configuration names the key \"%s\" of "
		    "token \"%s\"", path, p.p11.key, p.p11.token,
		    want_key && *want_key ? want_key : p.p11.key,
		    want_token && *want_token ? want_token : p.p11.token);
		return VAULT_E_CONFIG;
	}
	struct pkcs11_target t = { module, p.p11.token, p.p11.key };
	size_t aadlen = keyring_pkcs11_aad(&p, aad);
	if ((rc = pkcs11_unwrap(&t, pin, pinlen, aad, aadlen, p.p11.iv, p.p11.wrapped,
	    root, err)) != 0)
		return rc;
	if ((rc = keyring_load(path, root, out, &why)) != 0) {
		sodium_memzero(root, KEYRING_KEY_BYTES);
		return ring_fail(err, rc, path, why);
	}
	return 0;
}
