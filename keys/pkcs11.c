/*
 * pkcs11.c - wrapping and unwrapping the key ring's sealing key with an
 * AES-256 key held by a PKCS#11 token, through p11-kit (see pkcs11.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <sodium.h>
#include <vault/vault.h>

#include "pkcs11.h"

/* One loaded module, found token and open session. */
struct conn {
	CK_FUNCTION_LIST **list;  /* p11-kit's registered modules, when named */
	CK_FUNCTION_LIST *f;
	int initialized;
	CK_SESSION_HANDLE s;
	int session, logged_in;
	CK_OBJECT_HANDLE key;
};

static const struct {
	unsigned long rv;
	const char *name;
} ckr_names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
	{ CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID" },
	{ CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
	{ CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT" },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_INVALID, "CKR_PIN_INVALID" },
	{ CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE" },
	{ CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID" },
	{ CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
};

const char *
pkcs11_ckr_name(unsigned long ckr)
{
	static _Thread_local char buf[32];
	for (size_t i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == ckr)
			return ckr_names[i].name;
	snprintf(buf, sizeof(buf), "CKR_0x%lx", ckr);
	return buf;
}

const char *
pkcs11_status_name(enum pkcs11_status s)
{
	static const char *const names[] = {
		[PKCS11_OK] = "PKCS11_OK",
		[PKCS11_E_MODULE] = "PKCS11_MODULE",
		[PKCS11_E_TOKEN] = "PKCS11_TOKEN_NOT_FOUND",
		[PKCS11_E_PIN_INCORRECT] = "PKCS11_PIN_INCORRECT",
		[PKCS11_E_PIN_LOCKED] = "PKCS11_PIN_LOCKED",
		[PKCS11_E_PIN_INVALID] = "PKCS11_PIN_INVALID",
		[PKCS11_E_KEY_NOT_FOUND] = "PKCS11_KEY_NOT_FOUND",
		[PKCS11_E_KEY_TYPE] = "PKCS11_KEY_TYPE",
		[PKCS11_E_KEY_EXISTS] = "PKCS11_KEY_EXISTS",
		[PKCS11_E_UNWRAP] = "PKCS11_UNWRAP_FAILED",
		[PKCS11_E_LABEL] = "PKCS11_LABEL",
		[PKCS11_E_DEVICE] = "PKCS11_DEVICE",
	};
	if ((size_t)s < sizeof(names) / sizeof(names[0]) && names[s] != NULL)
		return names[s];
	return "PKCS11_UNKNOWN";
}

int
pkcs11_label_ok(const char *label, size_t max)
{
	size_t n = label ? strlen(label) : 0;
	if (n == 0 || n > max || label[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
			return 0;
	return 1;
}

/* Fill err: "NAME: what" (and the CKR name when there is one). */
__attribute__((format(printf, 4, 5)))
static int
fail(struct pkcs11_error *err, enum pkcs11_status s, unsigned long ckr, const char *fmt, ...)
{
	char what[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	err->status = s;
	err->ckr = ckr;
	if (ckr != 0)
		snprintf(err->message, sizeof(err->message), "%s: %s (%s)",
		    pkcs11_status_name(s), what, pkcs11_ckr_name(ckr));
	else
		snprintf(err->message, sizeof(err->message), "%s: %s", pkcs11_status_name(s), what);
	return VAULT_E_KEYRING;
}

static void
conn_close(struct conn *c)
{
	if (c->f != NULL) {
		if (c->logged_in)
			c->f->C_Logout(c->s);
		if (c->session)
			c->f->C_CloseSession(c->s);
		if (c->initialized)
			p11_kit_module_finalize(c->f);
		if (c->list == NULL)
			p11_kit_module_release(c->f);
	}
	if (c->list != NULL)
		p11_kit_modules_release(c->list);
	memset(c, 0, sizeof(*c));
}

/* Load and initialise the module: a path (with a '/'), or a p11-kit name. */
static int
module_open(struct conn *c, const char *module, struct pkcs11_error *err)
{
	/* p11-kit would print to stderr; we report its message ourselves. */
	p11_kit_be_quiet();
	if (module == NULL || module[0] == '\0')
		return fail(err, PKCS11_E_MODULE, 0, "no PKCS#11 module given");
	if (strchr(module, '/') != NULL) {
		c->f = p11_kit_module_load(module, 0);
		if (c->f == NULL) {
			const char *m = p11_kit_message();
			return fail(err, PKCS11_E_MODULE, 0, "cannot load the module %s: %s", module,
			    m ? m : "unknown reason");
		}
	} else {
		c->list = p11_kit_modules_load(NULL, 0);
		if (c->list != NULL)
			c->f = p11_kit_module_for_name(c->list, module);
		if (c->f == NULL)
			return fail(err, PKCS11_E_MODULE, 0, "no p11-kit module is registered "
			    "as \"%s\" (give the module's path, or see p11-kit list-modules)", module);
	}
	CK_RV rv = p11_kit_module_initialize(c->f);
	if (rv != CKR_OK)
		return fail(err, PKCS11_E_MODULE, rv, "the module %s does not initialise", module);
	c->initialized = 1;
	return 0;
}

/* The slot whose token has that label: exactly one must. */
static int
token_find(struct conn *c, const struct pkcs11_target *t, CK_SLOT_ID *slot,
    CK_TOKEN_INFO *info, struct pkcs11_error *err)
{
	CK_ULONG n = 0;
	CK_SLOT_ID *slots = NULL;
	int found = 0;
	size_t len = strlen(t->token);
	CK_RV rv = c->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv != CKR_OK)
		return fail(err, PKCS11_E_DEVICE, rv, "cannot list the slots of %s", t->module);
	if (n > 0 && (slots = calloc(n, sizeof(*slots))) == NULL)
		return fail(err, PKCS11_E_DEVICE, CKR_HOST_MEMORY, "out of memory");
	if (n > 0 && (rv = c->f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
		free(slots);
		return fail(err, PKCS11_E_DEVICE, rv, "cannot list the slots of %s", t->module);
	}
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (c->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		/* The label is 32 bytes, padded with spaces. */
		if (p11_kit_space_strlen(ti.label, sizeof(ti.label)) != len ||
		    memcmp(ti.label, t->token, len) != 0)
			continue;
		if (found++ == 0) {
			*slot = slots[i];
			*info = ti;
		}
	}
	free(slots);
	if (found == 0)
		return fail(err, PKCS11_E_TOKEN, 0, "no token labelled \"%s\" is present in %s",
		    t->token, t->module);
	if (found > 1)
		return fail(err, PKCS11_E_TOKEN, 0, "%d tokens are labelled \"%s\" in %s: "
		    "the label must name one", found, t->token, t->module);
	if (info->flags & CKF_USER_PIN_LOCKED)
		return fail(err, PKCS11_E_PIN_LOCKED, 0, "the user PIN of token \"%s\" is "
		    "locked (too many wrong PINs): the token's security officer must reset it",
		    t->token);
	return 0;
}

static int
login(struct conn *c, const struct pkcs11_target *t, CK_SLOT_ID slot, int rw,
    const char *pin, size_t pinlen, struct pkcs11_error *err)
{
	if (pinlen == 0)
		return fail(err, PKCS11_E_PIN_INVALID, 0, "empty PIN for token \"%s\"", t->token);
	if (pinlen > PKCS11_PIN_MAX)
		return fail(err, PKCS11_E_PIN_INVALID, 0, "the PIN is longer than %d bytes",
		    PKCS11_PIN_MAX);
	CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
	CK_RV rv = c->f->C_OpenSession(slot, flags, NULL, NULL, &c->s);
	if (rv != CKR_OK)
		return fail(err, PKCS11_E_DEVICE, rv, "cannot open a session with token \"%s\"",
		    t->token);
	c->session = 1;
	rv = c->f->C_Login(c->s, CKU_USER, (CK_UTF8CHAR_PTR)(uintptr_t)pin, (CK_ULONG)pinlen);
	switch (rv) {
	case CKR_OK:
		c->logged_in = 1;
		return 0;
	case CKR_USER_ALREADY_LOGGED_IN:
		return 0;
	case CKR_PIN_INCORRECT:
		return fail(err, PKCS11_E_PIN_INCORRECT, rv, "wrong PIN for token \"%s\"", t->token);
	case CKR_PIN_LOCKED:
		return fail(err, PKCS11_E_PIN_LOCKED, rv, "the user PIN of token \"%s\" is "
		    "locked: the token's security officer must reset it", t->token);
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_INVALID:
	case CKR_PIN_EXPIRED:
		return fail(err, PKCS11_E_PIN_INVALID, rv, "the token \"%s\" refuses this PIN",
		    t->token);
	default:
		return fail(err, PKCS11_E_DEVICE, rv, "cannot log in to token \"%s\"", t->token);
	}
}

static int
attr_ulong(struct conn *c, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_ULONG *v)
{
	CK_ATTRIBUTE a = { type, v, sizeof(*v) };
	return c->f->C_GetAttributeValue(c->s, o, &a, 1) == CKR_OK ? 0 : -1;
}

static int
attr_bool(struct conn *c, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_BBOOL *v)
{
	CK_ATTRIBUTE a = { type, v, sizeof(*v) };
	return c->f->C_GetAttributeValue(c->s, o, &a, 1) == CKR_OK ? 0 : -1;
}

/*
 * The one object labelled t->key, checked to be an AES-256 secret key that
 * may encrypt and decrypt. PKCS11_E_KEY_NOT_FOUND when nothing has that
 * label (the caller may then create it).
 */
static int
key_find(struct conn *c, const struct pkcs11_target *t, struct pkcs11_error *err)
{
	CK_ATTRIBUTE tmpl[] = { { CKA_LABEL, (void *)(uintptr_t)t->key, strlen(t->key) } };
	CK_OBJECT_HANDLE objs[4];
	CK_ULONG n = 0;
	CK_RV rv = c->f->C_FindObjectsInit(c->s, tmpl, 1);
	if (rv != CKR_OK)
		return fail(err, PKCS11_E_DEVICE, rv, "cannot search token \"%s\"", t->token);
	rv = c->f->C_FindObjects(c->s, objs, 4, &n);
	c->f->C_FindObjectsFinal(c->s);
	if (rv != CKR_OK)
		return fail(err, PKCS11_E_DEVICE, rv, "cannot search token \"%s\"", t->token);
	if (n == 0) {
		return fail(err, PKCS11_E_KEY_NOT_FOUND, 0, "token \"%s\" holds no key labelled "
		    "\"%s\" (vault-keytool init --create-key makes one)", t->token, t->key);
	}
	CK_ULONG secret = 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_ULONG cls;
		if (attr_ulong(c, objs[i], CKA_CLASS, &cls) == 0 && cls == CKO_SECRET_KEY) {
			secret++;
			c->key = objs[i];
		}
	}
	if (secret == 0)
		return fail(err, PKCS11_E_KEY_TYPE, 0, "the object labelled \"%s\" on token \"%s\" "
		    "is not a secret key", t->key, t->token);
	if (secret > 1)
		return fail(err, PKCS11_E_KEY_TYPE, 0, "%lu secret keys are labelled \"%s\" on "
		    "token \"%s\": the label must name one", (unsigned long)secret, t->key, t->token);
	CK_ULONG type = 0, len = 0;
	CK_BBOOL enc = CK_FALSE, dec = CK_FALSE;
	if (attr_ulong(c, c->key, CKA_KEY_TYPE, &type) != 0 || type != CKK_AES)
		return fail(err, PKCS11_E_KEY_TYPE, 0, "the key \"%s\" on token \"%s\" is not an "
		    "AES key", t->key, t->token);
	if (attr_ulong(c, c->key, CKA_VALUE_LEN, &len) == 0 && len != 32)
		return fail(err, PKCS11_E_KEY_TYPE, 0, "the key \"%s\" on token \"%s\" is "
		    "AES-%lu, not AES-256", t->key, t->token, (unsigned long)len * 8);
	if (attr_bool(c, c->key, CKA_ENCRYPT, &enc) != 0 || !enc ||
	    attr_bool(c, c->key, CKA_DECRYPT, &dec) != 0 || !dec)
		return fail(err, PKCS11_E_KEY_TYPE, 0, "the key \"%s\" on token \"%s\" may not "
		    "encrypt and decrypt (CKA_ENCRYPT, CKA_DECRYPT)", t->key, t->token);
	return 0;
}

/* A new AES-256 key that never leaves the token. */
static int
key_create(struct conn *c, const struct pkcs11_target *t, struct pkcs11_error *err)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_LABEL, (void *)(uintptr_t)t->key, strlen(t->key) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_ENCRYPT, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &yes, sizeof(yes) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
	};
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_RV rv = c->f->C_GenerateKey(c->s, &gen, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &c->key);
	if (rv != CKR_OK)
		return fail(err, PKCS11_E_DEVICE, rv, "cannot create the AES-256 key \"%s\" on "
		    "token \"%s\"", t->key, t->token);
	return 0;
}

/* Load, find the token, log in, find (or create) the key. */
static int
conn_open(struct conn *c, const struct pkcs11_target *t, const char *pin, size_t pinlen,
    int create_key, struct pkcs11_error *err)
{
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
	int rc;

	memset(c, 0, sizeof(*c));
	memset(err, 0, sizeof(*err));
	if (!pkcs11_label_ok(t->token, PKCS11_TOKEN_LABEL_MAX))
		return fail(err, PKCS11_E_LABEL, 0, "a token label is 1 to %d bytes, without "
		    "control characters or trailing spaces", PKCS11_TOKEN_LABEL_MAX);
	if (!pkcs11_label_ok(t->key, PKCS11_KEY_LABEL_MAX))
		return fail(err, PKCS11_E_LABEL, 0, "a key label is 1 to %d bytes, without "
		    "control characters or trailing spaces", PKCS11_KEY_LABEL_MAX);
	if ((rc = module_open(c, t->module, err)) != 0 ||
	    (rc = token_find(c, t, &slot, &info, err)) != 0 ||
	    (rc = login(c, t, slot, create_key, pin, pinlen, err)) != 0)
		return rc;
	rc = key_find(c, t, err);
	if (create_key) {
		if (rc == 0)
			return fail(err, PKCS11_E_KEY_EXISTS, 0, "token \"%s\" already holds a key "
			    "labelled \"%s\" (leave out --create-key to use it)", t->token, t->key);
		if (err->status != PKCS11_E_KEY_NOT_FOUND)
			return rc;
		memset(err, 0, sizeof(*err));
		return key_create(c, t, err);
	}
	return rc;
}

static void
gcm_params(CK_GCM_PARAMS *p, CK_MECHANISM *m, uint8_t *iv, const uint8_t *aad, size_t aadlen)
{
	memset(p, 0, sizeof(*p));
	p->pIv = iv;
	p->ulIvLen = PKCS11_IV_BYTES;
	p->ulIvBits = PKCS11_IV_BYTES * 8;
	p->pAAD = (CK_BYTE_PTR)(uintptr_t)aad;
	p->ulAADLen = aadlen;
	p->ulTagBits = 128;
	m->mechanism = CKM_AES_GCM;
	m->pParameter = p;
	m->ulParameterLen = sizeof(*p);
}

int
pkcs11_wrap(const struct pkcs11_target *t, const char *pin, size_t pinlen,
    int create_key, const uint8_t *aad, size_t aadlen, const uint8_t *key,
    uint8_t iv[PKCS11_IV_BYTES], uint8_t out[PKCS11_WRAPPED_BYTES],
    struct pkcs11_error *err)
{
	struct conn c;
	CK_GCM_PARAMS p;
	CK_MECHANISM m;
	int rc = conn_open(&c, t, pin, pinlen, create_key, err);
	if (rc != 0)
		goto out;
	if (!create_key) {
		CK_BBOOL extractable = CK_TRUE, sensitive = CK_FALSE;
		/* A key that can leave the token would defeat its purpose. */
		if (attr_bool(&c, c.key, CKA_EXTRACTABLE, &extractable) != 0 || extractable ||
		    attr_bool(&c, c.key, CKA_SENSITIVE, &sensitive) != 0 || !sensitive) {
			rc = fail(err, PKCS11_E_KEY_TYPE, 0, "the key \"%s\" on token \"%s\" can "
			    "leave the token (CKA_EXTRACTABLE true or CKA_SENSITIVE false): "
			    "create one with --create-key", t->key, t->token);
			goto out;
		}
	}
	randombytes_buf(iv, PKCS11_IV_BYTES);
	gcm_params(&p, &m, iv, aad, aadlen);
	CK_RV rv = c.f->C_EncryptInit(c.s, &m, c.key);
	if (rv != CKR_OK) {
		rc = fail(err, rv == CKR_MECHANISM_INVALID ? PKCS11_E_KEY_TYPE : PKCS11_E_DEVICE, rv,
		    "token \"%s\" cannot encrypt with CKM_AES_GCM under key \"%s\"", t->token, t->key);
		goto out;
	}
	CK_ULONG outlen = PKCS11_WRAPPED_BYTES;
	rv = c.f->C_Encrypt(c.s, (CK_BYTE_PTR)(uintptr_t)key, 32, out, &outlen);
	if (rv != CKR_OK || outlen != PKCS11_WRAPPED_BYTES) {
		rc = fail(err, PKCS11_E_DEVICE, rv, "token \"%s\" failed to encrypt with key \"%s\"",
		    t->token, t->key);
		goto out;
	}
	rc = 0;
out:
	conn_close(&c);
	return rc;
}

int
pkcs11_unwrap(const struct pkcs11_target *t, const char *pin, size_t pinlen,
    const uint8_t *aad, size_t aadlen, const uint8_t iv[PKCS11_IV_BYTES],
    const uint8_t in[PKCS11_WRAPPED_BYTES], uint8_t *key, struct pkcs11_error *err)
{
	struct conn c;
	CK_GCM_PARAMS p;
	CK_MECHANISM m;
	uint8_t ivc[PKCS11_IV_BYTES];
	/* Room for the whole input: some modules want it for the output. */
	uint8_t *plain = sodium_malloc(PKCS11_WRAPPED_BYTES);
	int rc;

	if (plain == NULL) {
		memset(err, 0, sizeof(*err));
		fail(err, PKCS11_E_DEVICE, CKR_HOST_MEMORY, "out of secure memory");
		return VAULT_E_NOMEM;
	}
	if ((rc = conn_open(&c, t, pin, pinlen, 0, err)) != 0)
		goto out;
	memcpy(ivc, iv, sizeof(ivc));
	gcm_params(&p, &m, ivc, aad, aadlen);
	CK_RV rv = c.f->C_DecryptInit(c.s, &m, c.key);
	if (rv != CKR_OK) {
		rc = fail(err, rv == CKR_MECHANISM_INVALID ? PKCS11_E_KEY_TYPE : PKCS11_E_DEVICE, rv,
		    "token \"%s\" cannot decrypt with CKM_AES_GCM under key \"%s\"", t->token, t->key);
		goto out;
	}
	CK_ULONG outlen = PKCS11_WRAPPED_BYTES;
	rv = c.f->C_Decrypt(c.s, (CK_BYTE_PTR)(uintptr_t)in, PKCS11_WRAPPED_BYTES, plain, &outlen);
	if (rv != CKR_OK || outlen != 32) {
		rc = fail(err, PKCS11_E_UNWRAP, rv, "the key \"%s\" on token \"%s\" does not open "
		    "this key ring's wrapped sealing key: the ring was sealed by another key "
		    "(or its header is damaged)", t->key, t->token);
		goto out;
	}
	memcpy(key, plain, 32);
	rc = 0;
out:
	sodium_free(plain);
	if (rc != 0)
		sodium_memzero(key, 32);
	conn_close(&c);
	return rc;
}

int
pkcs11_probe(const struct pkcs11_target *t, struct pkcs11_error *err)
{
	struct conn c;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
	memset(&c, 0, sizeof(c));
	memset(err, 0, sizeof(*err));
	int rc = module_open(&c, t->module, err);
	if (rc == 0)
		rc = token_find(&c, t, &slot, &info, err);
	conn_close(&c);
	return rc;
}
