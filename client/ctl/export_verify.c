/*
 * export_verify.c - "vaultctl export verify FILE [--signature SIGFILE]
 * [--public-key BASE64]": check the Ed25519 detached signature of a
 * receipt or export over FILE's exact bytes.
 *
 * SIGFILE (default FILE.sig) is one line, "ed25519 KEY_VERSION BASE64", as
 * "requests complete --out" writes it. With --public-key (base64, as "keys
 * signing" prints it) nothing but the two files is needed: no socket.
 * Without it the running vault is asked (signing_key) for the public key
 * of KEY_VERSION.
 *
 * Prints "signature valid (key version N)" and exits 0, or "signature
 * INVALID ..." and exits 1; a signature file that is not such a line, or
 * a key version the vault does not know, also exits 1. FILE may be an
 * export full of personal data: it is read into memory wiped after use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <vault/vault.h>

#include "ctl.h"

#define FILE_MAX_BYTES ((size_t)1 << 30)
#define SIGFILE_MAX_BYTES 4096

static const struct ctl_option options[] = {
	{ "signature", 1 },
	{ "public-key", 1 },
	{ NULL, 0 },
};

static void
wipe_free(unsigned char *p, size_t n)
{
	if (p != NULL) {
		sodium_memzero(p, n);
		free(p);
	}
}

/* All of path into a new buffer (*cap allocated, to wipe); a usage error. */
static int
slurp(struct ctl *c, const char *path, size_t max, unsigned char **out, size_t *len,
    size_t *cap)
{
	size_t n = 0, size = 4096;
	unsigned char *buf = NULL, *nbuf;
	int fd, rc = CTL_EXIT_OK;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return ctl_usage_error(c, "export verify: cannot open %s: %s", path,
		    strerror(errno));
	if ((buf = malloc(size)) == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "export verify: out of memory");
		goto out;
	}
	for (;;) {
		if (n == size) {
			/* Grow by hand: realloc would leave a copy unwiped. */
			if (size >= max + 1) {
				rc = ctl_usage_error(c, "export verify: %s is larger than %zu "
				    "bytes", path, max);
				goto out;
			}
			if ((nbuf = malloc(size * 2)) == NULL) {
				rc = ctl_local_error(c, VAULT_E_NOMEM, "export verify: out of "
				    "memory");
				goto out;
			}
			memcpy(nbuf, buf, n);
			wipe_free(buf, size);
			buf = nbuf;
			size *= 2;
		}
		ssize_t r = read(fd, buf + n, size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = ctl_usage_error(c, "export verify: cannot read %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		rc = ctl_usage_error(c, "export verify: %s is larger than %zu bytes", path,
		    max);
		goto out;
	}
	*out = buf;
	*len = n;
	*cap = size;
	buf = NULL;
out:
	wipe_free(buf, size);
	close(fd);
	return rc;
}

/* base64 (standard, padded) of exactly len bytes into out: 0 or -1. */
static int
b64_exact(const char *s, size_t slen, unsigned char *out, size_t len)
{
	size_t n = 0;
	const char *end;

	if (sodium_base642bin(out, len, s, slen, NULL, &n, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || n != len || end != s + slen)
		return -1;
	return 0;
}

/* "ed25519 KEY_VERSION BASE64" and one optional line end: 0 or -1. */
static int
parse_sig(const unsigned char *buf, size_t len, uint32_t *version,
    unsigned char sig[crypto_sign_BYTES])
{
	static const char prefix[] = CTL_SIG_ALGORITHM " ";
	char line[SIGFILE_MAX_BYTES + 1], *sp;
	unsigned long v;

	if (len > SIGFILE_MAX_BYTES || memchr(buf, '\0', len) != NULL)
		return -1;
	memcpy(line, buf, len);
	line[len] = '\0';
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (strncmp(line, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	if ((sp = strchr(line + sizeof(prefix) - 1, ' ')) == NULL)
		return -1;
	*sp = '\0';
	if (ctl_parse_uint(line + sizeof(prefix) - 1, 0, UINT32_MAX, &v) != 0)
		return -1;
	*version = (uint32_t)v;
	return b64_exact(sp + 1, strlen(sp + 1), sig, crypto_sign_BYTES);
}

/* The vault's public key of version: an enum ctl_exit. */
static int
vault_key(struct ctl *c, uint32_t version, unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	json_t *res = NULL, *e;
	size_t i;
	int rc;

	if ((rc = ctl_call(c, "signing_key", 0, NULL, &res)) != CTL_EXIT_OK)
		return rc;
	rc = -1;
	json_array_foreach(json_object_get(res, "keys"), i, e) {
		const char *b64 = ctl_jstr(e, "public_key");

		if (ctl_jint(e, "version") != (json_int_t)version)
			continue;
		rc = b64_exact(b64, strlen(b64), pk, crypto_sign_PUBLICKEYBYTES) == 0 ?
		    CTL_EXIT_OK : ctl_local_error(c, VAULT_E_PROTO_FRAME, "export verify: "
		    "the vault's key of version %u is not 32 bytes of base64", version);
		break;
	}
	json_decref(res);
	if (rc < 0)
		rc = ctl_local_error(c, VAULT_E_NOT_FOUND, "export verify: the vault has no "
		    "signing key of version %u (signature INVALID or from another vault)",
		    version);
	return rc;
}

int
ctl_cmd_export_verify(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *file = NULL, *sigfile = NULL, *pub = NULL;
	unsigned char *data = NULL, *sigbuf = NULL;
	unsigned char sig[crypto_sign_BYTES], pk[crypto_sign_PUBLICKEYBYTES];
	size_t len = 0, cap = 0, slen = 0, scap = 0;
	char *val, *defsig = NULL;
	uint32_t version = 0;
	struct ctl_args a;
	enum ctl_arg_kind k;
	int rc, argno, valid;

	ctl_args_init(&a, argc, argv);
	a.cmd = "export verify";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_POSITIONAL) {
			if (file != NULL)
				return ctl_usage_error(c, "export verify: argument %d: one file "
				    "only", argno);
			file = val;
		} else if (opt->name[0] == 's') {
			if (sigfile != NULL || val[0] == '\0')
				return ctl_usage_error(c, "export verify: --signature wants one "
				    "file");
			sigfile = val;
		} else {
			if (pub != NULL ||
			    b64_exact(val, strlen(val), pk, sizeof(pk)) != 0)
				return ctl_usage_error(c, "export verify: --public-key wants one "
				    "Ed25519 public key: 32 bytes in base64 (as keys signing "
				    "prints it)");
			pub = val;
		}
	}
	if (file == NULL)
		return ctl_usage_error(c, "export verify: which file? (export verify FILE "
		    "[--signature SIGFILE] [--public-key BASE64])");
	if (sodium_init() < 0)
		return ctl_local_error(c, VAULT_E_INTERNAL, "export verify: libsodium "
		    "cannot start");
	if (sigfile == NULL) {
		if (asprintf(&defsig, "%s.sig", file) < 0)
			return ctl_local_error(c, VAULT_E_NOMEM, "export verify: out of memory");
		sigfile = defsig;
	}
	if ((rc = slurp(c, sigfile, SIGFILE_MAX_BYTES, &sigbuf, &slen, &scap)) != CTL_EXIT_OK)
		goto out;
	if (parse_sig(sigbuf, slen, &version, sig) != 0) {
		rc = ctl_local_error(c, VAULT_E_INVALID_VALUE, "export verify: %s is not a "
		    "signature file (one line: " CTL_SIG_ALGORITHM " KEY_VERSION BASE64)",
		    sigfile);
		goto out;
	}
	if ((rc = slurp(c, file, FILE_MAX_BYTES, &data, &len, &cap)) != CTL_EXIT_OK)
		goto out;
	if (pub == NULL && (rc = vault_key(c, version, pk)) != CTL_EXIT_OK)
		goto out;
	valid = crypto_sign_verify_detached(sig, data, len, pk) == 0;
	if (c->json) {
		rc = ctl_json_emit(c, json_pack("{s:b, s:I, s:s, s:s}", "valid", valid,
		    "key_version", (json_int_t)version, "file", file, "signature_file",
		    sigfile));
		if (rc == CTL_EXIT_OK && !valid)
			rc = CTL_EXIT_VAULT;
	} else if (valid) {
		printf("signature valid (key version %u)\n", version);
		rc = CTL_EXIT_OK;
	} else {
		printf("signature INVALID: %s was changed, or was not signed with %s key "
		    "version %u\n", file, pub != NULL ? "that public key as" : "the vault's",
		    version);
		rc = CTL_EXIT_VAULT;
	}
out:
	wipe_free(data, cap);
	wipe_free(sigbuf, scap);
	free(defsig);
	return rc;
}
