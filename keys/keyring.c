/*
 * keyring.c - the sealed key ring file, its root key (key file or
 * passphrase), its keys in secure memory and the copy-on-write mutations
 * (see keyring.h; the file layout is documented in keys/README.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/bytes.h"
#include "common/tmpfile.h"
#include "keyring.h"

#define MAGIC "VAULTKR1"
#define FORMAT_VERSION KEYRING_FORMAT_VERSION
#define HEADER_BYTES 76   /* kinds 1 and 2; kind 3 adds the PKCS#11 block */
#define P11_MECH_OFF 76
#define P11_TOKEN_LEN_OFF 80
#define P11_KEY_LEN_OFF 81
#define P11_RESERVED_OFF 82
#define P11_TOKEN_OFF 84
#define P11_KEY_OFF (P11_TOKEN_OFF + KEYRING_P11_TOKEN_MAX)
#define P11_IV_OFF (P11_KEY_OFF + KEYRING_P11_KEY_MAX)
#define P11_WRAPPED_OFF (P11_IV_OFF + KEYRING_P11_IV_BYTES)
#define P11_HEADER_BYTES (P11_WRAPPED_OFF + KEYRING_P11_WRAPPED_BYTES) /* 240 */
#define MAX_HEADER_BYTES P11_HEADER_BYTES
#define P11_MECH_AES_GCM 0x1087u /* CKM_AES_GCM */
#define VERSION_OFF 8
#define KIND_OFF 10
#define RESERVED_OFF 12
#define SALT_OFF 16
#define OPSLIMIT_OFF 32
#define MEMLIMIT_OFF 40
#define NONCE_OFF 48
#define BODY_LEN_OFF 72
#define ENTRY_BYTES (4 + 4 + 8 + KEYRING_KEY_BYTES)
#define NKINDS 3

struct key_entry {
	uint32_t version;
	uint32_t flags;
	uint64_t created;
	uint8_t key[KEYRING_KEY_BYTES];
};

struct key_set {
	uint32_t current;
	uint32_t count;
	struct key_entry *entries; /* sodium_malloc'd, read-only once loaded */
};

struct keyring {
	struct key_set sets[NKINDS];
	struct keyring_root_params params; /* written back by keyring_seal() */
};

static const char *const open_failed =
    "key ring cannot be opened with this root key or passphrase, or is damaged";

/* A PKCS#11 label: 1..max bytes, no control bytes, no trailing space. */
static int
label_ok(const char *label, size_t max)
{
	size_t n = strnlen(label, max + 1);
	if (n == 0 || n > max || label[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
			return 0;
	return 1;
}

static size_t
header_len(enum keyring_root_kind kind)
{
	return kind == KEYRING_ROOT_PKCS11 ? P11_HEADER_BYTES : HEADER_BYTES;
}

/*
 * Whether p is a root we can use: a key file with no KDF fields, a
 * passphrase with costs libsodium accepts and that we are willing to
 * spend, or a PKCS#11 token key with usable labels.
 */
static int
params_valid(const struct keyring_root_params *p, const char **why)
{
	static const uint8_t zero[KEYRING_SALT_BYTES];

	if (p->share_threshold != 0 || p->share_count != 0 || p->kind == KEYRING_ROOT_SHARES) {
		if (p->kind != KEYRING_ROOT_SHARES && p->kind != KEYRING_ROOT_PKCS11) {
			*why = "shares set for a root kind that is not split";
			return 0;
		}
		if (p->share_threshold < 2 || p->share_threshold > p->share_count ||
		    p->share_count > 255) {
			*why = "share threshold or count out of range";
			return 0;
		}
	}
	switch (p->kind) {
	case KEYRING_ROOT_PKCS11:
		if (memcmp(p->salt, zero, sizeof(zero)) != 0 || p->opslimit != 0 ||
		    p->memlimit != 0) {
			*why = "KDF parameters set for a PKCS#11 root";
			return 0;
		}
		if (p->p11.mechanism != P11_MECH_AES_GCM) {
			*why = "unsupported PKCS#11 mechanism";
			return 0;
		}
		if (!label_ok(p->p11.token, KEYRING_P11_TOKEN_MAX) ||
		    !label_ok(p->p11.key, KEYRING_P11_KEY_MAX)) {
			*why = "invalid PKCS#11 token or key label";
			return 0;
		}
		return 1;
	case KEYRING_ROOT_KEYFILE:
	case KEYRING_ROOT_SHARES:
		if (memcmp(p->salt, zero, sizeof(zero)) != 0 || p->opslimit != 0 ||
		    p->memlimit != 0) {
			*why = p->kind == KEYRING_ROOT_SHARES ? "KDF parameters set for a shared root" :
			    "KDF parameters set for a key file root";
			return 0;
		}
		return 1;
	case KEYRING_ROOT_PASSPHRASE:
		if (p->opslimit < KEYRING_OPSLIMIT_MIN || p->opslimit > KEYRING_OPSLIMIT_MAX ||
		    p->memlimit < KEYRING_MEMLIMIT_MIN || p->memlimit > KEYRING_MEMLIMIT_MAX ||
		    p->memlimit > SIZE_MAX) {
			*why = "KDF parameters out of range";
			return 0;
		}
		return 1;
	default:
		*why = "unsupported root key kind";
		return 0;
	}
}

void
keyring_params_keyfile(struct keyring_root_params *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = KEYRING_ROOT_KEYFILE;
}

void
keyring_params_shares(struct keyring_root_params *p, unsigned n, unsigned k)
{
	memset(p, 0, sizeof(*p));
	p->kind = KEYRING_ROOT_SHARES;
	p->share_count = (uint16_t)n;
	p->share_threshold = (uint16_t)k;
}

size_t
keyring_pkcs11_aad(const struct keyring_root_params *p, uint8_t *out)
{
	/* Bytes 0..15 and 76..179 of the header: everything but the nonce,
	 * body length, IV and wrapped key, which change without a rewrap. */
	size_t tl = strnlen(p->p11.token, KEYRING_P11_TOKEN_MAX);
	size_t kl = strnlen(p->p11.key, KEYRING_P11_KEY_MAX);
	memset(out, 0, KEYRING_P11_AAD_MAX);
	memcpy(out, MAGIC, 8);
	be16_put(out + 8, FORMAT_VERSION);
	be16_put(out + 10, KEYRING_ROOT_PKCS11);
	/* Split PINs: 0 and 0 before shares existed, so old rings' AAD is unchanged. */
	be16_put(out + 12, p->share_threshold);
	be16_put(out + 14, p->share_count);
	be32_put(out + 16, p->p11.mechanism);
	out[20] = (uint8_t)tl;
	out[21] = (uint8_t)kl;
	memcpy(out + 24, p->p11.token, tl);
	memcpy(out + 24 + KEYRING_P11_TOKEN_MAX, p->p11.key, kl);
	return 24 + KEYRING_P11_TOKEN_MAX + KEYRING_P11_KEY_MAX;
}

void
keyring_params_new_passphrase(struct keyring_root_params *p)
{
	memset(p, 0, sizeof(*p));
	p->kind = KEYRING_ROOT_PASSPHRASE;
	randombytes_buf(p->salt, sizeof(p->salt));
	p->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
	p->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
}

int
keyring_root_from_passphrase(const char *pass, size_t len,
    const struct keyring_root_params *p, uint8_t *root)
{
	const char *why;
	if (!params_valid(p, &why) || p->kind != KEYRING_ROOT_PASSPHRASE)
		return VAULT_E_CONFIG;
	if (crypto_pwhash(root, KEYRING_KEY_BYTES, pass, len, p->salt,
	    p->opslimit, (size_t)p->memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_memzero(root, KEYRING_KEY_BYTES);
		return VAULT_E_NOMEM; /* the bounds are checked: memory is what fails */
	}
	return 0;
}

/*
 * Check the header at the start of h (avail bytes, at least HEADER_BYTES)
 * and take its root parameters; *hlen is its length for that kind.
 */
static int
header_parse(const uint8_t *h, size_t avail, struct keyring_root_params *p, size_t *hlen,
    const char **why)
{
	*why = "not a key ring file";
	if (avail < HEADER_BYTES || memcmp(h, MAGIC, 8) != 0)
		return VAULT_E_KEYRING;
	*why = "unsupported key ring format version";
	if (be16_get(h + VERSION_OFF) != FORMAT_VERSION)
		return VAULT_E_KEYRING;
	*why = "unsupported root key kind";
	uint16_t kind = be16_get(h + KIND_OFF);
	if (kind != KEYRING_ROOT_KEYFILE && kind != KEYRING_ROOT_PASSPHRASE &&
	    kind != KEYRING_ROOT_PKCS11 && kind != KEYRING_ROOT_SHARES)
		return VAULT_E_KEYRING;
	/* Kinds 1 and 2: reserved, zero; kinds 3 and 4: the shares (params_valid). */
	*why = "reserved header bytes are not zero";
	if (be32_get(h + RESERVED_OFF) != 0 && kind != KEYRING_ROOT_PKCS11 &&
	    kind != KEYRING_ROOT_SHARES)
		return VAULT_E_KEYRING;
	memset(p, 0, sizeof(*p));
	p->kind = (enum keyring_root_kind)kind;
	p->share_threshold = be16_get(h + RESERVED_OFF);
	p->share_count = be16_get(h + RESERVED_OFF + 2);
	memcpy(p->salt, h + SALT_OFF, KEYRING_SALT_BYTES);
	p->opslimit = be64_get(h + OPSLIMIT_OFF);
	p->memlimit = be64_get(h + MEMLIMIT_OFF);
	*hlen = header_len(p->kind);
	if (p->kind == KEYRING_ROOT_PKCS11) {
		*why = "not a key ring file";
		if (avail < P11_HEADER_BYTES)
			return VAULT_E_KEYRING;
		*why = "invalid PKCS#11 token or key label";
		size_t tl = h[P11_TOKEN_LEN_OFF], kl = h[P11_KEY_LEN_OFF];
		if (tl > KEYRING_P11_TOKEN_MAX || kl > KEYRING_P11_KEY_MAX)
			return VAULT_E_KEYRING;
		*why = "reserved header bytes are not zero";
		if (be16_get(h + P11_RESERVED_OFF) != 0)
			return VAULT_E_KEYRING;
		/* No NUL inside a label, zeros after it: one header, one meaning. */
		*why = "invalid PKCS#11 token or key label";
		if (memchr(h + P11_TOKEN_OFF, 0, tl) != NULL || memchr(h + P11_KEY_OFF, 0, kl) != NULL)
			return VAULT_E_KEYRING;
		for (size_t i = tl; i < KEYRING_P11_TOKEN_MAX; i++)
			if (h[P11_TOKEN_OFF + i] != 0)
				return VAULT_E_KEYRING;
		for (size_t i = kl; i < KEYRING_P11_KEY_MAX; i++)
			if (h[P11_KEY_OFF + i] != 0)
				return VAULT_E_KEYRING;
		p->p11.mechanism = be32_get(h + P11_MECH_OFF);
		memcpy(p->p11.token, h + P11_TOKEN_OFF, tl);
		memcpy(p->p11.key, h + P11_KEY_OFF, kl);
		memcpy(p->p11.iv, h + P11_IV_OFF, KEYRING_P11_IV_BYTES);
		memcpy(p->p11.wrapped, h + P11_WRAPPED_OFF, KEYRING_P11_WRAPPED_BYTES);
	}
	if (!params_valid(p, why))
		return VAULT_E_KEYRING;
	*why = NULL;
	return 0;
}

static struct key_set *
set_of(const struct keyring *kr, enum keyring_kind kind)
{
	if (kind < KEYRING_KEK || kind > KEYRING_INDEX)
		return NULL;
	return (struct key_set *)&kr->sets[kind - 1];
}

static struct key_entry *
entry_of(const struct keyring *kr, enum keyring_kind kind, uint32_t version)
{
	struct key_set *s = set_of(kr, kind);
	if (s == NULL)
		return NULL;
	for (uint32_t i = 0; i < s->count; i++)
		if (s->entries[i].version == version)
			return &s->entries[i];
	return NULL;
}

void
keyring_free(struct keyring *kr)
{
	if (kr == NULL)
		return;
	for (int i = 0; i < NKINDS; i++)
		sodium_free(kr->sets[i].entries); /* wipes */
	sodium_memzero(kr, sizeof(*kr));
	free(kr);
}

static int
set_alloc(struct key_set *s, uint32_t count)
{
	s->entries = sodium_malloc(sizeof(struct key_entry) * (count ? count : 1));
	if (s->entries == NULL)
		return VAULT_E_NOMEM;
	s->count = count;
	return 0;
}

static void
set_seal(struct keyring *kr)
{
	for (int i = 0; i < NKINDS; i++)
		sodium_mprotect_readonly(kr->sets[i].entries);
}

uint32_t
keyring_current(const struct keyring *kr, enum keyring_kind kind)
{
	struct key_set *s = set_of(kr, kind);
	return s ? s->current : 0;
}

const uint8_t *
keyring_key(const struct keyring *kr, enum keyring_kind kind, uint32_t version)
{
	struct key_entry *e = entry_of(kr, kind, version);
	return e ? e->key : NULL;
}

uint64_t
keyring_key_created(const struct keyring *kr, enum keyring_kind kind,
    uint32_t version)
{
	struct key_entry *e = entry_of(kr, kind, version);
	return e ? e->created : 0;
}

const struct keyring_root_params *
keyring_params(const struct keyring *kr)
{
	return &kr->params;
}

size_t
keyring_count(const struct keyring *kr, enum keyring_kind kind)
{
	struct key_set *s = set_of(kr, kind);
	return s ? s->count : 0;
}

uint32_t
keyring_version_at(const struct keyring *kr, enum keyring_kind kind, size_t i)
{
	struct key_set *s = set_of(kr, kind);
	return s && i < s->count ? s->entries[i].version : 0;
}

static size_t
body_size(const struct keyring *kr)
{
	size_t n = 0;
	for (int i = 0; i < NKINDS; i++)
		n += 8 + (size_t)kr->sets[i].count * ENTRY_BYTES;
	return n;
}

int
keyring_seal(const struct keyring *kr, const uint8_t *root, uint8_t **image,
    size_t *len)
{
	size_t blen = body_size(kr);
	size_t hlen = header_len(kr->params.kind);
	size_t total = hlen + blen + crypto_aead_xchacha20poly1305_ietf_ABYTES;
	uint8_t *body = sodium_malloc(blen);
	uint8_t *out = malloc(total);
	if (body == NULL || out == NULL) {
		sodium_free(body);
		free(out);
		return VAULT_E_NOMEM;
	}
	uint8_t *p = body;
	for (int i = 0; i < NKINDS; i++) {
		const struct key_set *s = &kr->sets[i];
		be32_put(p, s->current);
		be32_put(p + 4, s->count);
		p += 8;
		for (uint32_t j = 0; j < s->count; j++) {
			be32_put(p, s->entries[j].version);
			be32_put(p + 4, s->entries[j].flags);
			be64_put(p + 8, s->entries[j].created);
			memcpy(p + 16, s->entries[j].key, KEYRING_KEY_BYTES);
			p += ENTRY_BYTES;
		}
	}
	memset(out, 0, hlen);
	memcpy(out, MAGIC, 8);
	be16_put(out + VERSION_OFF, FORMAT_VERSION);
	be16_put(out + KIND_OFF, (uint16_t)kr->params.kind);
	be16_put(out + RESERVED_OFF, kr->params.share_threshold);
	be16_put(out + RESERVED_OFF + 2, kr->params.share_count);
	memcpy(out + SALT_OFF, kr->params.salt, KEYRING_SALT_BYTES);
	be64_put(out + OPSLIMIT_OFF, kr->params.opslimit);
	be64_put(out + MEMLIMIT_OFF, kr->params.memlimit);
	randombytes_buf(out + NONCE_OFF, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	be32_put(out + BODY_LEN_OFF, (uint32_t)blen);
	if (kr->params.kind == KEYRING_ROOT_PKCS11) {
		const struct keyring_pkcs11 *k = &kr->params.p11;
		size_t tl = strnlen(k->token, KEYRING_P11_TOKEN_MAX);
		size_t kl = strnlen(k->key, KEYRING_P11_KEY_MAX);
		be32_put(out + P11_MECH_OFF, k->mechanism);
		out[P11_TOKEN_LEN_OFF] = (uint8_t)tl;
		out[P11_KEY_LEN_OFF] = (uint8_t)kl;
		memcpy(out + P11_TOKEN_OFF, k->token, tl);
		memcpy(out + P11_KEY_OFF, k->key, kl);
		memcpy(out + P11_IV_OFF, k->iv, KEYRING_P11_IV_BYTES);
		memcpy(out + P11_WRAPPED_OFF, k->wrapped, KEYRING_P11_WRAPPED_BYTES);
	}
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + hlen, NULL,
	    body, blen, out, hlen, NULL, out + NONCE_OFF, root);
	sodium_free(body);
	*image = out;
	*len = total;
	return 0;
}

int
keyring_open_image(const uint8_t *image, size_t len, const uint8_t *root,
    struct keyring **out, const char **why)
{
	const size_t abytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
	struct keyring_root_params params;
	struct keyring *kr = NULL;
	uint8_t *body = NULL;
	size_t hlen = HEADER_BYTES;
	int rc = VAULT_E_KEYRING;

	*why = "not a key ring file";
	if (len < HEADER_BYTES + abytes)
		goto out;
	if ((rc = header_parse(image, len, &params, &hlen, why)) != 0)
		goto out;
	rc = VAULT_E_KEYRING;
	uint32_t blen = be32_get(image + BODY_LEN_OFF);
	*why = "key ring file is truncated or has trailing bytes";
	/* Validate the declared size against the bytes present before allocating. */
	if (len < hlen + abytes || (size_t)blen != len - hlen - abytes)
		goto out;
	*why = "key ring declares more keys than allowed";
	if (blen > NKINDS * (8 + (size_t)KEYRING_MAX_KEYS * ENTRY_BYTES))
		goto out;
	rc = VAULT_E_NOMEM;
	*why = "out of memory";
	body = sodium_malloc(blen ? blen : 1);
	kr = calloc(1, sizeof(*kr));
	if (body == NULL || kr == NULL)
		goto out;
	rc = VAULT_E_KEYRING;
	kr->params = params;
	*why = open_failed;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(body, NULL, NULL,
	    image + hlen, blen + abytes, image, hlen,
	    image + NONCE_OFF, root) != 0)
		goto out;

	*why = "key ring contents are malformed";
	const uint8_t *p = body, *end = body + blen;
	for (int i = 0; i < NKINDS; i++) {
		struct key_set *s = &kr->sets[i];
		if (end - p < 8)
			goto out;
		s->current = be32_get(p);
		uint32_t count = be32_get(p + 4);
		p += 8;
		if (count == 0 || count > KEYRING_MAX_KEYS ||
		    (size_t)(end - p) / ENTRY_BYTES < count)
			goto out;
		if ((rc = set_alloc(s, count)) != 0)
			goto out;
		rc = VAULT_E_KEYRING;
		int have_current = 0;
		for (uint32_t j = 0; j < count; j++) {
			struct key_entry *e = &s->entries[j];
			e->version = be32_get(p);
			e->flags = be32_get(p + 4);
			e->created = be64_get(p + 8);
			memcpy(e->key, p + 16, KEYRING_KEY_BYTES);
			p += ENTRY_BYTES;
			/* Versions ascend strictly: lookups and rotation rely on it. */
			if (e->version == 0 || (j > 0 && e->version <= s->entries[j - 1].version))
				goto out;
			if (e->version == s->current)
				have_current = 1;
		}
		if (!have_current)
			goto out;
	}
	if (p != end)
		goto out;
	set_seal(kr);
	*out = kr;
	kr = NULL;
	rc = 0;
	*why = NULL;
out:
	sodium_free(body);
	keyring_free(kr);
	return rc;
}

/*
 * Write data to path atomically: temporary file, fsync, then link (a new
 * file: never clobbers) or rename (replace), then fsync the directory.
 * The temporary is path + ".tmp." + random hex (common/tmpfile.h): a crash
 * leaves it behind, holding a whole sealed ring, and the next start's
 * keyring_sweep_temps() removes it.
 */
static int
write_atomic(const char *path, const uint8_t *data, size_t len, int replace,
    const char **why)
{
	char prefix[4096], tmp[4096], dirbuf[4096];
	if (snprintf(prefix, sizeof(prefix), "%s.tmp.", path) >= (int)sizeof(prefix)) {
		*why = "key ring path too long";
		return VAULT_E_KEYRING;
	}
	int fd = tmpfile_create(prefix, tmp, sizeof(tmp));
	if (fd < 0) {
		*why = errno == ENAMETOOLONG ? "key ring path too long" :
		    "cannot create key ring file";
		return errno == ENAMETOOLONG ? VAULT_E_KEYRING : VAULT_E_IO;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = ENOSPC; /* a short write sets none */
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	close(fd);
	/* link() refuses an existing target; rename() replaces it. */
	if ((replace ? rename(tmp, path) : link(tmp, path)) != 0) {
		int e = errno;
		unlink(tmp);
		*why = e == EEXIST ? "key ring file already exists" :
		    "cannot move key ring file into place";
		errno = e;
		return e == EEXIST ? VAULT_E_KEYRING : VAULT_E_IO;
	}
	if (!replace)
		unlink(tmp);
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	int dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	{
		int e = errno;
		close(fd);
		unlink(tmp);
		*why = "cannot write key ring file";
		errno = e;
	}
	return VAULT_E_IO;
}

int
keyring_create(const char *path, const uint8_t *root, struct keyring **out,
    const char **why)
{
	struct keyring_root_params p;
	keyring_params_keyfile(&p);
	return keyring_create2(path, root, &p, out, why);
}

int
keyring_create2(const char *path, const uint8_t *root,
    const struct keyring_root_params *p, struct keyring **out, const char **why)
{
	struct keyring *kr = NULL;
	uint8_t *image = NULL;
	size_t len = 0;
	int rc = VAULT_E_CONFIG;

	if (!params_valid(p, why))
		goto out;
	rc = VAULT_E_NOMEM;
	*why = "out of memory";
	if ((kr = calloc(1, sizeof(*kr))) == NULL)
		goto out;
	kr->params = *p;
	for (int i = 0; i < NKINDS; i++) {
		if ((rc = set_alloc(&kr->sets[i], 1)) != 0)
			goto out;
		kr->sets[i].current = 1;
		kr->sets[i].entries[0].version = 1;
		kr->sets[i].entries[0].flags = 0;
		kr->sets[i].entries[0].created = (uint64_t)time(NULL);
		crypto_kdf_keygen(kr->sets[i].entries[0].key);
	}
	set_seal(kr);
	if ((rc = keyring_seal(kr, root, &image, &len)) != 0)
		goto out;
	if ((rc = write_atomic(path, image, len, 0, why)) != 0)
		goto out;
	*out = kr;
	kr = NULL;
	*why = NULL;
out:
	free(image);
	keyring_free(kr);
	return rc;
}

/* Read a small private file whole; refuse it if others may read it. */
static int
read_private_file(const char *path, uint8_t *buf, size_t cap, size_t *len,
    int secret, const char **why)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*why = errno == ENOENT ? "file does not exist" : "cannot open file";
		return errno == ENOENT ? VAULT_E_KEYRING : VAULT_E_IO;
	}
	struct stat st;
	int rc = VAULT_E_KEYRING;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		goto out;
	}
	if (secret && (st.st_mode & 077) != 0) {
		*why = "file is accessible to group or others; chmod 600 it";
		goto out;
	}
	if (secret && st.st_uid != geteuid()) {
		*why = "file is owned by another user";
		goto out;
	}
	if ((size_t)st.st_size > cap) {
		*why = "file is too large";
		goto out;
	}
	size_t off = 0;
	for (;;) {
		ssize_t n = read(fd, buf + off, cap - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = VAULT_E_IO;
			*why = "cannot read file";
			goto out;
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off == cap) {
			/* One more byte would exceed cap: the file grew. */
			uint8_t extra;
			if (read(fd, &extra, 1) > 0) {
				*why = "file is too large";
				goto out;
			}
			break;
		}
	}
	*len = off;
	rc = 0;
out:
	close(fd);
	return rc;
}

int
keyring_root_key_read(const char *path, uint8_t *root, const char **why)
{
	size_t len = 0;
	int rc = read_private_file(path, root, KEYRING_KEY_BYTES, &len, 1, why);
	if (rc == 0 && len != KEYRING_KEY_BYTES) {
		sodium_memzero(root, KEYRING_KEY_BYTES);
		*why = "root key file must hold exactly 32 bytes";
		rc = VAULT_E_KEYRING;
	}
	return rc;
}

int
keyring_root_key_create(const char *path, uint8_t *root, const char **why)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		*why = errno == EEXIST ? "root key file already exists" : "cannot create root key file";
		return VAULT_E_IO;
	}
	randombytes_buf(root, KEYRING_KEY_BYTES);
	ssize_t n = write(fd, root, KEYRING_KEY_BYTES);
	int ok = n == KEYRING_KEY_BYTES && fsync(fd) == 0;
	int e = n >= 0 && n < KEYRING_KEY_BYTES ? ENOSPC : errno;
	close(fd);
	if (!ok) {
		unlink(path);
		sodium_memzero(root, KEYRING_KEY_BYTES);
		*why = "cannot write root key file";
		errno = e; /* the caller prints it */
		return VAULT_E_IO;
	}
	return 0;
}

/* Read a whole ring file (private, at most the largest valid size). */
static int
read_image(const char *path, uint8_t **image, size_t *len, const char **why)
{
	size_t cap = MAX_HEADER_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES +
	    NKINDS * (8 + (size_t)KEYRING_MAX_KEYS * ENTRY_BYTES);
	if ((*image = malloc(cap)) == NULL) {
		*why = "out of memory";
		return VAULT_E_NOMEM;
	}
	int rc = read_private_file(path, *image, cap, len, 1, why);
	if (rc != 0) {
		free(*image);
		*image = NULL;
	}
	return rc;
}

int
keyring_load(const char *path, const uint8_t *root, struct keyring **out,
    const char **why)
{
	uint8_t *image = NULL;
	size_t len = 0;
	int rc = read_image(path, &image, &len, why);
	if (rc == 0)
		rc = keyring_open_image(image, len, root, out, why);
	free(image);
	return rc;
}

int
keyring_load_passphrase(const char *path, const char *pass, size_t len,
    uint8_t *root, struct keyring **out, const char **why)
{
	struct keyring_root_params p;
	uint8_t *image = NULL;
	size_t ilen = 0, hlen;
	int rc;

	if ((rc = read_image(path, &image, &ilen, why)) != 0)
		return rc;
	rc = VAULT_E_KEYRING;
	*why = "not a key ring file";
	if (ilen < HEADER_BYTES)
		goto out;
	if ((rc = header_parse(image, ilen, &p, &hlen, why)) != 0)
		goto out;
	rc = VAULT_E_KEYRING;
	*why = p.kind == KEYRING_ROOT_PKCS11 ?
	    "the key ring is sealed by a PKCS#11 token, not a passphrase" :
	    "the key ring is sealed with a root key file, not a passphrase";
	if (p.kind != KEYRING_ROOT_PASSPHRASE)
		goto out;
	*why = "not enough memory for the passphrase KDF";
	if ((rc = keyring_root_from_passphrase(pass, len, &p, root)) != 0)
		goto out;
	rc = keyring_open_image(image, ilen, root, out, why);
out:
	if (rc != 0)
		sodium_memzero(root, KEYRING_KEY_BYTES);
	free(image);
	return rc;
}

int
keyring_file_params(const char *path, struct keyring_root_params *out,
    const char **why)
{
	uint8_t h[MAX_HEADER_BYTES];
	size_t off = 0, hlen;
	struct stat st;
	int rc = VAULT_E_IO;

	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*why = errno == ENOENT ? "file does not exist" : "cannot open file";
		return errno == ENOENT ? VAULT_E_KEYRING : VAULT_E_IO;
	}
	*why = "cannot read file";
	if (fstat(fd, &st) != 0)
		goto out;
	rc = VAULT_E_KEYRING;
	*why = "not a regular file";
	if (!S_ISREG(st.st_mode))
		goto out;
	while (off < sizeof(h)) {
		ssize_t n = read(fd, h + off, sizeof(h) - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = VAULT_E_IO;
			*why = "cannot read file";
			goto out;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	*why = "not a key ring file";
	if (off < HEADER_BYTES)
		goto out;
	rc = header_parse(h, off, out, &hlen, why);
out:
	close(fd);
	return rc;
}

/* ---- mutations: copy, change the copy, seal it read-only --------------- */

/*
 * A writable copy of kr, with room for one more key of kind grow (0 for
 * none). The source's entries are read-only but readable.
 */
static int
ring_copy(const struct keyring *kr, int grow, struct keyring **out)
{
	struct keyring *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return VAULT_E_NOMEM;
	c->params = kr->params;
	for (int i = 0; i < NKINDS; i++) {
		const struct key_set *s = &kr->sets[i];
		if (set_alloc(&c->sets[i], s->count + (grow == i + 1)) != 0) {
			keyring_free(c);
			return VAULT_E_NOMEM;
		}
		memcpy(c->sets[i].entries, s->entries, sizeof(struct key_entry) * s->count);
		c->sets[i].count = s->count;
		c->sets[i].current = s->current;
	}
	*out = c;
	return 0;
}

int
keyring_with_new_key(const struct keyring *kr, enum keyring_kind kind,
    struct keyring **out, uint32_t *version)
{
	const struct key_set *s = set_of(kr, kind);
	struct keyring *c;
	int rc;

	/* Versions ascend, so the last one is the highest. */
	if (s == NULL || s->count >= KEYRING_MAX_KEYS ||
	    s->entries[s->count - 1].version == UINT32_MAX)
		return VAULT_E_KEYRING;
	if ((rc = ring_copy(kr, kind, &c)) != 0)
		return rc;
	struct key_set *cs = set_of(c, kind);
	struct key_entry *e = &cs->entries[cs->count];
	e->version = s->entries[s->count - 1].version + 1;
	e->flags = 0;
	e->created = (uint64_t)time(NULL);
	crypto_kdf_keygen(e->key);
	cs->count++;
	cs->current = e->version;
	set_seal(c);
	if (version != NULL)
		*version = e->version;
	*out = c;
	return 0;
}

int
keyring_without_key(const struct keyring *kr, enum keyring_kind kind,
    uint32_t version, struct keyring **out, const char **why)
{
	const struct key_set *s = set_of(kr, kind);
	struct keyring *c;
	int rc;

	*why = "no such key kind";
	if (s == NULL)
		return VAULT_E_KEYRING;
	*why = "the current epoch cannot be retired";
	if (version == s->current)
		return VAULT_E_KEYRING;
	*why = "the key ring holds no key of that epoch or version";
	if (entry_of(kr, kind, version) == NULL)
		return VAULT_E_KEYRING;
	*why = "out of memory";
	if ((rc = ring_copy(kr, 0, &c)) != 0)
		return rc;
	struct key_set *cs = set_of(c, kind);
	uint32_t j = 0;
	for (uint32_t i = 0; i < cs->count; i++)
		if (cs->entries[i].version != version)
			cs->entries[j++] = cs->entries[i];
	/* The block keeps its size; wipe the freed tail now, not at free. */
	sodium_memzero(&cs->entries[j], sizeof(struct key_entry) * (cs->count - j));
	cs->count = j;
	set_seal(c);
	*out = c;
	*why = NULL;
	return 0;
}

int
keyring_with_root_params(const struct keyring *kr,
    const struct keyring_root_params *p, struct keyring **out, const char **why)
{
	struct keyring *c;
	int rc;

	if (!params_valid(p, why))
		return VAULT_E_CONFIG;
	*why = "out of memory";
	if ((rc = ring_copy(kr, 0, &c)) != 0)
		return rc;
	c->params = *p;
	set_seal(c);
	*out = c;
	*why = NULL;
	return 0;
}

int
keyring_save(const struct keyring *kr, const char *path, const uint8_t *root,
    const char **why)
{
	uint8_t *image = NULL;
	size_t len = 0;
	int rc;

	*why = "out of memory";
	if ((rc = keyring_seal(kr, root, &image, &len)) != 0)
		return rc;
	if ((rc = write_atomic(path, image, len, 1, why)) == 0)
		*why = NULL;
	free(image);
	return rc;
}

int
keyring_sweep_temps(const char *path, void (*removed)(const char *name, void *arg),
    void *arg)
{
	char dirbuf[4096], basebuf[4096], prefix[4096];
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	snprintf(basebuf, sizeof(basebuf), "%s", path);
	if (snprintf(prefix, sizeof(prefix), "%s.tmp.", basename(basebuf)) >=
	    (int)sizeof(prefix)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return tmpfile_sweep(dirname(dirbuf), prefix, 0, removed, arg);
}
