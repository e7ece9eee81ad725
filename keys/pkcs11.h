/*
 * pkcs11.h - the key ring's root in a PKCS#11 token: an AES-256 key that
 * never leaves the token encrypts and decrypts the ring's 32-byte sealing
 * key with CKM_AES_GCM (keys/README.md says why GCM). Modules are loaded
 * with p11-kit.
 *
 * Every call loads the module, finds the token by label, logs in with the
 * PIN, does its one operation and finalizes the module again: the token is
 * needed only to seal a new ring and to unseal one (at start or through
 * `vaultctl unseal`), never to rotate or retire keys (the sealing key
 * stays the same across saves). Nothing here keeps a session open.
 *
 * Failures come back as one of the stable pkcs11_status codes with a
 * message naming what is wrong (the module, the token label, the key
 * label, the PKCS#11 return value); never the PIN.
 */
#ifndef VAULT_KEYS_PKCS11_H
#define VAULT_KEYS_PKCS11_H

#include <stddef.h>
#include <stdint.h>

#define PKCS11_TOKEN_LABEL_MAX 32 /* CK_TOKEN_INFO.label */
#define PKCS11_KEY_LABEL_MAX 64   /* our limit on CKA_LABEL */
#define PKCS11_PIN_MAX 256        /* bytes */
#define PKCS11_IV_BYTES 12        /* GCM's 96-bit IV */
#define PKCS11_WRAPPED_BYTES 48   /* 32-byte key + 16-byte tag */
#define PKCS11_MECH_AES_GCM 0x1087u /* CKM_AES_GCM */

/* Stable codes: their names (pkcs11_status_name) appear in every message. */
enum pkcs11_status {
	PKCS11_OK = 0,
	PKCS11_E_MODULE,        /* the module cannot be loaded or initialised */
	PKCS11_E_TOKEN,         /* no token with that label (or it is not present) */
	PKCS11_E_PIN_INCORRECT, /* CKR_PIN_INCORRECT */
	PKCS11_E_PIN_LOCKED,    /* CKR_PIN_LOCKED, or the token says the user PIN is locked */
	PKCS11_E_PIN_INVALID,   /* empty, too long, CKR_PIN_LEN_RANGE, _INVALID, _EXPIRED */
	PKCS11_E_KEY_NOT_FOUND, /* no secret key with that label */
	PKCS11_E_KEY_TYPE,      /* the label names something else than a usable AES-256 key */
	PKCS11_E_KEY_EXISTS,    /* --create-key, but a key of that label exists */
	PKCS11_E_UNWRAP,        /* the token's key does not open this ring's wrapped key */
	PKCS11_E_LABEL,         /* a label we cannot use (empty, too long, control bytes) */
	PKCS11_E_DEVICE,        /* any other PKCS#11 failure */
};

struct pkcs11_error {
	enum pkcs11_status status;
	unsigned long ckr;  /* the PKCS#11 return value, 0 if none */
	char message[400];  /* what is wrong, for a log line; never the PIN */
};

/* Where the key is: module (a path, or a p11-kit module name), labels. */
struct pkcs11_target {
	const char *module;
	const char *token;
	const char *key;
};

/* "PKCS11_PIN_INCORRECT" and so on; never NULL. */
const char *pkcs11_status_name(enum pkcs11_status s);
/* The name of a CKR_ value ("CKR_PIN_INCORRECT"), or "CKR_0x..." (static). */
const char *pkcs11_ckr_name(unsigned long ckr);

/* 1 if label can be a token (max 32) or key (max 64) label: 1..max bytes,
 * no control bytes, no trailing space (token labels are space-padded). */
int pkcs11_label_ok(const char *label, size_t max);

/*
 * Encrypt key (32 bytes) with the token's key under a fresh random IV and
 * aad; iv receives the IV the module used (a module that makes its own,
 * as AWS CloudHSM does, writes it back), out the ciphertext and tag.
 * create_key: make the AES-256 key first (CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE true, CKA_EXTRACTABLE false); it must not exist yet.
 * Without create_key an existing key is used, and refused if it is
 * extractable or not sensitive. Returns 0, or VAULT_E_KEYRING (or
 * VAULT_E_NOMEM) with err filled.
 */
int pkcs11_wrap(const struct pkcs11_target *t, const char *pin, size_t pinlen,
    int create_key, const uint8_t *aad, size_t aadlen, const uint8_t *key,
    uint8_t iv[PKCS11_IV_BYTES], uint8_t out[PKCS11_WRAPPED_BYTES],
    struct pkcs11_error *err);

/*
 * Decrypt in with the token's key: key (32 bytes, secure memory) receives
 * the sealing key. A tag mismatch is PKCS11_E_UNWRAP. 0, or
 * VAULT_E_KEYRING with err filled (key wiped).
 */
int pkcs11_unwrap(const struct pkcs11_target *t, const char *pin, size_t pinlen,
    const uint8_t *aad, size_t aadlen, const uint8_t iv[PKCS11_IV_BYTES],
    const uint8_t in[PKCS11_WRAPPED_BYTES], uint8_t *key, struct pkcs11_error *err);

/*
 * Without logging in (no PIN attempt spent): the module loads and a token
 * of that label is present and not PIN-locked. For vaultd --check.
 */
int pkcs11_probe(const struct pkcs11_target *t, struct pkcs11_error *err);

#endif
