/*
 * keyring.c - the sealed key ring file and its keys in secure memory
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

#include "keyring.h"

#define MAGIC "VAULTKR1"
#define FORMAT_VERSION 1
#define ROOT_KIND_KEYFILE 1
#define HEADER_BYTES 76
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
};

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static struct key_set *
set_of(const struct keyring *kr, enum keyring_kind kind)
{
	if (kind < KEYRING_KEK || kind > KEYRING_INDEX)
		return NULL;
	return (struct key_set *)&kr->sets[kind - 1];
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
	struct key_set *s = set_of(kr, kind);
	if (s == NULL)
		return NULL;
	for (uint32_t i = 0; i < s->count; i++)
		if (s->entries[i].version == version)
			return s->entries[i].key;
	return NULL;
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
	size_t total = HEADER_BYTES + blen + crypto_aead_xchacha20poly1305_ietf_ABYTES;
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
		put32(p, s->current);
		put32(p + 4, s->count);
		p += 8;
		for (uint32_t j = 0; j < s->count; j++) {
			put32(p, s->entries[j].version);
			put32(p + 4, s->entries[j].flags);
			put64(p + 8, s->entries[j].created);
			memcpy(p + 16, s->entries[j].key, KEYRING_KEY_BYTES);
			p += ENTRY_BYTES;
		}
	}
	memset(out, 0, HEADER_BYTES);
	memcpy(out, MAGIC, 8);
	out[8] = 0; out[9] = FORMAT_VERSION;
	out[10] = 0; out[11] = ROOT_KIND_KEYFILE;
	randombytes_buf(out + NONCE_OFF, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	put32(out + BODY_LEN_OFF, (uint32_t)blen);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + HEADER_BYTES, NULL,
	    body, blen, out, HEADER_BYTES, NULL, out + NONCE_OFF, root);
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
	struct keyring *kr = NULL;
	uint8_t *body = NULL;
	int rc = VAULT_E_KEYRING;

	*why = "not a key ring file";
	if (len < HEADER_BYTES + abytes || memcmp(image, MAGIC, 8) != 0)
		goto out;
	*why = "unsupported key ring format version";
	if (image[8] != 0 || image[9] != FORMAT_VERSION)
		goto out;
	*why = "unsupported root key kind";
	if (image[10] != 0 || image[11] != ROOT_KIND_KEYFILE)
		goto out;
	uint32_t blen = get32(image + BODY_LEN_OFF);
	*why = "key ring file is truncated or has trailing bytes";
	/* Validate the declared size against the bytes present before allocating. */
	if ((size_t)blen != len - HEADER_BYTES - abytes)
		goto out;
	*why = "key ring declares more keys than allowed";
	if (blen > NKINDS * (8 + (size_t)KEYRING_MAX_KEYS * ENTRY_BYTES))
		goto out;
	rc = VAULT_E_NOMEM;
	body = sodium_malloc(blen ? blen : 1);
	kr = calloc(1, sizeof(*kr));
	if (body == NULL || kr == NULL)
		goto out;
	rc = VAULT_E_KEYRING;
	*why = "key ring cannot be opened with this root key, or is damaged";
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(body, NULL, NULL,
	    image + HEADER_BYTES, blen + abytes, image, HEADER_BYTES,
	    image + NONCE_OFF, root) != 0)
		goto out;

	*why = "key ring contents are malformed";
	const uint8_t *p = body, *end = body + blen;
	for (int i = 0; i < NKINDS; i++) {
		struct key_set *s = &kr->sets[i];
		if (end - p < 8)
			goto out;
		s->current = get32(p);
		uint32_t count = get32(p + 4);
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
			e->version = get32(p);
			e->flags = get32(p + 4);
			e->created = get64(p + 8);
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
 */
static int
write_atomic(const char *path, const uint8_t *data, size_t len, int replace,
    const char **why)
{
	char tmp[4096], dirbuf[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		*why = "key ring path too long";
		return VAULT_E_KEYRING;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		*why = "cannot create key ring file";
		return VAULT_E_IO;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
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
	close(fd);
	unlink(tmp);
	*why = "cannot write key ring file";
	return VAULT_E_IO;
}

int
keyring_create(const char *path, const uint8_t *root, struct keyring **out,
    const char **why)
{
	struct keyring *kr = calloc(1, sizeof(*kr));
	uint8_t *image = NULL;
	size_t len = 0;
	int rc = VAULT_E_NOMEM;

	*why = "out of memory";
	if (kr == NULL)
		goto out;
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
	close(fd);
	if (!ok) {
		unlink(path);
		sodium_memzero(root, KEYRING_KEY_BYTES);
		*why = "cannot write root key file";
		return VAULT_E_IO;
	}
	return 0;
}

int
keyring_load(const char *path, const uint8_t *root, struct keyring **out,
    const char **why)
{
	size_t cap = HEADER_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES +
	    NKINDS * (8 + (size_t)KEYRING_MAX_KEYS * ENTRY_BYTES);
	uint8_t *image = malloc(cap);
	size_t len = 0;
	if (image == NULL) {
		*why = "out of memory";
		return VAULT_E_NOMEM;
	}
	int rc = read_private_file(path, image, cap, &len, 1, why);
	if (rc == 0)
		rc = keyring_open_image(image, len, root, out, why);
	free(image);
	return rc;
}
