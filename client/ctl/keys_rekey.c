/*
 * keys_rekey.c - "vaultctl keys rekey": give the running vaultd a new root
 * of trust for its key ring (vault/ops/keys_rekey.c): a root key file
 * (--key-file PATH: read, or made with 32 random bytes if it does not
 * exist), a passphrase (--passphrase), Shamir shares (--shares N
 * --threshold K), or a PKCS#11 token's key (--pkcs11 --token T --key K,
 * the PIN from --pin-file or the terminal; with --shares the PIN is split).
 *
 * Secrets go to vaultd in the request over the admin socket, never on a
 * command line: passphrases and PINs are read from the terminal without
 * echo (or one line of standard input), key files and PIN files from the
 * file system. The JSON text is built with jansson, whose allocations
 * vaultctl wipes; the library wipes its request buffer. New shares come
 * back once: written to DIR/share-I (mode 0600, never replacing a file)
 * with --share-dir, else printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <vault/vault.h>

#include "common/passphrase.h"
#include "ctl.h"

static const struct ctl_option options[] = {
	{ "key-file", 1 },
	{ "passphrase", 0 },
	{ "opslimit", 1 },
	{ "memlimit", 1 },
	{ "shares", 1 },
	{ "threshold", 1 },
	{ "share-dir", 1 },
	{ "pkcs11", 0 },
	{ "token", 1 },
	{ "key", 1 },
	{ "pin-file", 1 },
	{ NULL, 0 },
};

/* The 32-byte root key at path, made (O_EXCL, 0600) if it does not exist. */
static int
root_key(struct ctl *c, const char *path, uint8_t *key, int *made)
{
	struct stat st;
	uint8_t extra;
	*made = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		randombytes_buf(key, 32);
		int ok = write(fd, key, 32) == 32 && fsync(fd) == 0;
		int e = errno;
		close(fd);
		if (!ok) {
			unlink(path);
			return ctl_local_error(c, VAULT_E_IO, "keys rekey: %s: %s", path, strerror(e));
		}
		*made = 1;
		return CTL_EXIT_OK;
	}
	if (errno != EEXIST)
		return ctl_local_error(c, VAULT_E_IO, "keys rekey: %s: %s", path, strerror(errno));
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return ctl_local_error(c, VAULT_E_IO, "keys rekey: %s: %s", path, strerror(errno));
	int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 32 &&
	    (st.st_mode & 077) == 0 && read(fd, key, 32) == 32 && read(fd, &extra, 1) == 0;
	close(fd);
	if (!ok) {
		sodium_memzero(key, 32);
		return ctl_usage_error(c, "keys rekey: %s: a root key file is exactly 32 bytes, "
		    "mode 0600 or 0400", path);
	}
	return CTL_EXIT_OK;
}

/* One secret line (terminal without echo, or standard input) into buf. */
static int
read_secret(struct ctl *c, const char *prompt, char *buf, size_t *len)
{
	const char *from = "standard input";
	switch (passphrase_read(prompt, buf, len, &from)) {
	case PASSPHRASE_OK:
		return CTL_EXIT_OK;
	case PASSPHRASE_NO_TTY:
		return ctl_usage_error(c, "keys rekey: cannot use the terminal: %s", strerror(errno));
	case PASSPHRASE_ERROR:
		return ctl_usage_error(c, "keys rekey: cannot read %s: %s", from, strerror(errno));
	case PASSPHRASE_TOO_LONG:
		return ctl_usage_error(c, "keys rekey: longer than %d bytes", PASSPHRASE_MAX);
	case PASSPHRASE_EMPTY:
		return ctl_usage_error(c, "keys rekey: empty input refused");
	case PASSPHRASE_EOF:
		return ctl_usage_error(c, "keys rekey: nothing on %s", from);
	}
	return CTL_EXIT_USAGE;
}

/* A PIN file: the PIN and at most one newline, a regular file, 0600/0400. */
static int
read_pin_file(struct ctl *c, const char *path, char *buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ctl_usage_error(c, "keys rekey: %s: %s", path, strerror(errno));
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0)
		n = read(fd, buf, PASSPHRASE_MAX);
	close(fd);
	if (n <= 0)
		return ctl_usage_error(c, "keys rekey: %s: not a PIN file (a regular file, "
		    "mode 0600 or 0400, holding the PIN)", path);
	if (buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = (size_t)n;
	if (n == 0 || memchr(buf, '\n', (size_t)n) != NULL)
		return ctl_usage_error(c, "keys rekey: %s: not one PIN", path);
	return CTL_EXIT_OK;
}

/* Hand out the shares of the reply. */
static int
hand_out(struct ctl *c, json_t *shares, const char *dir, int quiet)
{
	size_t i;
	json_t *s;
	char path[4096];
	json_array_foreach(shares, i, s) {
		const char *text = json_string_value(s);
		if (text == NULL)
			continue;
		if (dir == NULL) {
			printf("share %zu of %zu: %s\n", i + 1, json_array_size(shares), text);
			continue;
		}
		snprintf(path, sizeof(path), "%s/share-%zu", dir, i + 1);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		size_t n = strlen(text);
		int ok = fd >= 0 && write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1 &&
		    fsync(fd) == 0;
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (!ok) {
			/* The ring is rekeyed already: print this one rather than lose it. */
			fprintf(stderr, "vaultctl: keys rekey: %s: %s; share %zu follows\n", path,
			    strerror(e), i + 1);
			/* With --json stdout is one object: the share goes to stderr then. */
			fprintf(quiet ? stderr : stdout, "share %zu of %zu: %s\n", i + 1,
			    json_array_size(shares), text);
			continue;
		}
		if (!quiet)
			printf("share %zu of %zu written to %s\n", i + 1, json_array_size(shares),
			    path);
	}
	return CTL_EXIT_OK;
}

int
ctl_cmd_keys_rekey(struct ctl *c, int argc, char **argv)
{
	const char *key_file = NULL, *share_dir = NULL, *token = NULL, *key = NULL,
	    *pin_file = NULL;
	unsigned long shares = 0, threshold = 0, ops = 0, mem = 0;
	int passphrase = 0, pkcs11 = 0, rc, argno, made = 0;
	const struct ctl_option *opt;
	struct ctl_args a;
	enum ctl_arg_kind k;
	char *val, *raw = NULL, *text = NULL, *secret = NULL, *again = NULL;
	uint8_t *rootkey = NULL;
	char hex[65];
	size_t len = 0, len2 = 0;
	json_t *req = NULL, *res = NULL;

	if (sodium_init() < 0)
		return ctl_local_error(c, VAULT_E_NOMEM, "keys rekey: cannot initialise libsodium");
	secret = sodium_malloc(PASSPHRASE_MAX + 1);
	again = sodium_malloc(PASSPHRASE_MAX + 1);
	rootkey = sodium_malloc(32);

	if (secret == NULL || again == NULL || rootkey == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "keys rekey: out of secure memory");
		goto out;
	}
	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR) {
			rc = CTL_EXIT_USAGE;
			goto out;
		}
		if (k == CTL_ARG_POSITIONAL) {
			rc = ctl_usage_error(c, "keys rekey takes no arguments, only options");
			goto out;
		}
		const char *n = opt->name;
		if (!strcmp(n, "key-file"))
			key_file = val;
		else if (!strcmp(n, "passphrase"))
			passphrase = 1;
		else if (!strcmp(n, "pkcs11"))
			pkcs11 = 1;
		else if (!strcmp(n, "share-dir"))
			share_dir = val;
		else if (!strcmp(n, "token"))
			token = val;
		else if (!strcmp(n, "key"))
			key = val;
		else if (!strcmp(n, "pin-file"))
			pin_file = val;
		else if (ctl_parse_uint(val, !strcmp(n, "shares") || !strcmp(n, "threshold") ? 2 : 1,
		    !strcmp(n, "shares") || !strcmp(n, "threshold") ? 255 : 4294967295UL,
		    !strcmp(n, "shares") ? &shares : !strcmp(n, "threshold") ? &threshold :
		    !strcmp(n, "opslimit") ? &ops : &mem) != 0) {
			rc = ctl_usage_error(c, "keys rekey: --%s: out of range", n);
			goto out;
		}
	}
	int roots = (key_file != NULL) + passphrase + pkcs11 + (shares != 0 && !pkcs11);
	if (roots != 1 || (shares != 0) != (threshold != 0) || threshold > shares ||
	    (share_dir != NULL && shares == 0) || (pkcs11 != (token != NULL && key != NULL)) ||
	    (!pkcs11 && (token || key || pin_file)) || (!passphrase && (ops || mem))) {
		rc = ctl_usage_error(c, "keys rekey: give one new root: --key-file PATH, "
		    "--passphrase, --shares N --threshold K, or --pkcs11 --token T --key K "
		    "(--shares and --threshold together, K <= N)");
		goto out;
	}
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		goto out;
	req = json_object();
	if (key_file != NULL) {
		if ((rc = root_key(c, key_file, rootkey, &made)) != CTL_EXIT_OK)
			goto out;
		sodium_bin2hex(hex, sizeof(hex), rootkey, 32);
		json_object_set_new(req, "root", json_string("key_file"));
		json_object_set_new(req, "key", json_string(hex));
		sodium_memzero(hex, sizeof(hex));
	} else if (passphrase) {
		if ((rc = read_secret(c, "New passphrase: ", secret, &len)) != CTL_EXIT_OK)
			goto out;
		if (isatty(STDIN_FILENO)) {
			if ((rc = read_secret(c, "Repeat it: ", again, &len2)) != CTL_EXIT_OK)
				goto out;
			if (len != len2 || sodium_memcmp(secret, again, len) != 0) {
				rc = ctl_usage_error(c, "keys rekey: the passphrases differ");
				goto out;
			}
		}
		json_object_set_new(req, "root", json_string("passphrase"));
		json_object_set_new(req, "passphrase", json_stringn(secret, len));
		if (ops)
			json_object_set_new(req, "opslimit", json_integer((json_int_t)ops));
		if (mem)
			json_object_set_new(req, "memlimit", json_integer((json_int_t)mem));
	} else if (pkcs11) {
		char prompt[96];
		snprintf(prompt, sizeof(prompt), "PIN of token \"%.40s\": ", token);
		rc = pin_file ? read_pin_file(c, pin_file, secret, &len) :
		    read_secret(c, prompt, secret, &len);
		if (rc != CTL_EXIT_OK)
			goto out;
		json_object_set_new(req, "root", json_string("pkcs11"));
		json_object_set_new(req, "token", json_string(token));
		json_object_set_new(req, "key_label", json_string(key));
		json_object_set_new(req, "pin", json_stringn(secret, len));
	} else {
		json_object_set_new(req, "root", json_string("shares"));
	}
	if (shares) {
		json_object_set_new(req, "shares", json_integer((json_int_t)shares));
		json_object_set_new(req, "threshold", json_integer((json_int_t)threshold));
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	req = NULL;
	if (text == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "keys rekey: out of memory");
		goto out;
	}
	rc = vault_call_json(c->v, "keys_rekey", 0, text, &raw);
	if (rc != 0) {
		if (made)
			unlink(key_file); /* never used: the ring is not sealed by it */
		rc = ctl_vault_error(c, rc, NULL);
		goto out;
	}
	res = json_loads(raw, 0, NULL);
	if (res == NULL) {
		rc = ctl_local_error(c, VAULT_E_PROTO_FRAME, "keys rekey: unreadable reply");
		goto out;
	}
	if (c->json) {
		/* With --share-dir the shares go to their files, not into the output. */
		if (share_dir != NULL && json_is_array(json_object_get(res, "shares"))) {
			hand_out(c, json_object_get(res, "shares"), share_dir, 1);
			json_object_set_new(res, "shares", json_string(share_dir));
		}
		rc = ctl_json_emit(c, json_incref(res));
		goto out;
	}
	printf("rekeyed: the key ring's root is now %s\n",
	    json_string_value(json_object_get(res, "root")));
	if (json_is_array(json_object_get(res, "shares")))
		hand_out(c, json_object_get(res, "shares"), share_dir, 0);
	if (key_file != NULL)
		printf("the ring is sealed by %s%s: make it vaultd's [keys] root_key_path (or "
		    "its credential root.key) before the next start, and destroy the old root "
		    "key\n", key_file, made ? " (new)" : "");
	rc = CTL_EXIT_OK;
out:
	json_decref(req);
	json_decref(res);
	if (text != NULL) {
		/* jansson's allocator (vaultctl's wiping one), not free(3). */
		json_malloc_t m;
		json_free_t fr;
		json_get_alloc_funcs(&m, &fr);
		sodium_memzero(text, strlen(text));
		fr(text);
	}
	vault_free(raw);
	sodium_free(secret);
	sodium_free(again);
	sodium_free(rootkey);
	return rc;
}
