/*
 * keytool.c - vault-keytool, the offline key ring tool: creates a ring
 * sealed by a root key file, a passphrase or a PKCS#11 token's key (the
 * PIN from a file or the terminal, never the command line), prints its
 * header, lists its
 * epochs and versions, and changes its passphrase. It never prints key
 * bytes. Run it as the service user while vaultd is stopped: the server
 * rewrites the ring itself when it rotates or retires keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/passphrase.h"
#include "common/units.h"
#include "common/version.h"
#include "keyring.h"
#include "keyring_pkcs11.h"
#include "pin.h"
#include "share.h"

#define PROG "vault-keytool"
#define PASS_MAX 1024 /* bytes, newline excluded */
#define EXIT_USAGE 2

struct opts {
	const char *ring;
	const char *key_file;
	int passphrase;
	uint64_t opslimit, memlimit; /* 0: keep the default */
	const char *pkcs11, *token, *key, *pin_file; /* --pkcs11 MODULE and its labels */
	int create_key;
	unsigned shares, threshold;  /* --shares N --threshold K (0: none) */
	const char *share_dir;       /* --share-dir DIR: one file per share */
};

/* Which options a command takes. */
enum {
	O_KEYFILE = 1 << 0,
	O_PASSPHRASE = 1 << 1,
	O_COSTS = 1 << 2,
	O_PKCS11 = 1 << 3,     /* --pkcs11, --token, --key, --pin-file */
	O_CREATE_KEY = 1 << 4, /* --create-key */
	O_SHARES = 1 << 5,     /* --shares, --threshold, --share-dir */
};

struct command {
	const char *name;
	int (*run)(const struct opts *o);
	unsigned takes;
	const char *args;
	const char *help;
};

static int cmd_init(const struct opts *o);
static int cmd_info(const struct opts *o);
static int cmd_show(const struct opts *o);
static int cmd_change_passphrase(const struct opts *o);

static const struct command commands[] = {
	{ "init", cmd_init, O_KEYFILE | O_PASSPHRASE | O_COSTS | O_PKCS11 | O_CREATE_KEY |
	    O_SHARES,
	    "RING (--key-file ROOTKEY | --passphrase [--opslimit N] [--memlimit BYTES] |\n"
	    "        --pkcs11 MODULE --token LABEL --key LABEL [--create-key] [--pin-file FILE] |\n"
	    "        --shares N --threshold K) [--share-dir DIR]",
	    "create a new ring; with --key-file, also a new random root key file;\n"
	    "      with --pkcs11, sealed by an AES-256 key on the token (--create-key makes it);\n"
	    "      with --shares, sealed by a random key split into N Shamir shares, K of\n"
	    "      which unseal (with --pkcs11: the PIN is split); shares go to DIR/share-I\n"
	    "      (mode 0600), else to standard output" },
	{ "info", cmd_info, 0, "RING",
	    "print the format version, root key kind and KDF parameters or token (no key needed)" },
	{ "show", cmd_show, O_KEYFILE | O_PASSPHRASE | O_PKCS11,
	    "RING (--key-file ROOTKEY | --passphrase | --pkcs11 MODULE [--pin-file FILE])",
	    "list the epochs and versions, when each was made and which is current" },
	{ "change-passphrase", cmd_change_passphrase, O_COSTS,
	    "RING [--opslimit N] [--memlimit BYTES]",
	    "re-seal a passphrase ring under a new passphrase and a new salt" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	fprintf(f, "usage: %s COMMAND RING [OPTIONS]\n"
	    "       %s --help | --version\n\n", PROG, PROG);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s %s\n      %s\n", commands[i].name, commands[i].args,
		    commands[i].help);
	fprintf(f, "\n"
	    "A PKCS#11 PIN is read from --pin-file, else like a passphrase (once).\n"
	    "Passphrases are read from the terminal without echo (twice when new), or\n"
	    "one line each from standard input when it is not a terminal. --opslimit and\n"
	    "--memlimit set the Argon2id cost (memlimit in bytes, or with a unit K, M,\n"
	    "G or T, powers of 1024, B or iB may follow: 64M, 1GiB); init defaults to\n"
	    "%llu passes over %llu MiB, change-passphrase keeps the ring's.\n"
	    "Exit status: 0 done, 1 error, 2 usage.\n",
	    (unsigned long long)crypto_pwhash_OPSLIMIT_MODERATE,
	    (unsigned long long)crypto_pwhash_MEMLIMIT_MODERATE >> 20);
}

static int
fail(const char *what, const char *why)
{
	fprintf(stderr, "%s: %s: %s\n", PROG, what, why ? why : "failed");
	return 1;
}

/* A file that could not be made: the path, what failed and the system's reason. */
static int
fail_errno(const char *what, const char *why, int rc, int e)
{
	if (rc != VAULT_E_IO || e == 0)
		return fail(what, why);
	fprintf(stderr, "%s: %s: %s: %s\n", PROG, what, why ? why : "failed", strerror(e));
	return 1;
}

/* ---- passphrases -------------------------------------------------------- */

static struct termios saved_tty;
static volatile sig_atomic_t echo_off;

/* Put echo back before dying of a signal, or the user's shell stays blind. */
static void
restore_and_die(int sig)
{
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

static const int fatal_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/*
 * Read one passphrase into buf (PASS_MAX + 1 bytes of secure memory) with
 * read(2) byte by byte, so no stdio buffer keeps a copy. From a terminal
 * the prompt goes to stderr and echo is off; otherwise one line is read.
 */
static int
read_pass(const char *prompt, char *buf, size_t *len)
{
	int tty = isatty(STDIN_FILENO);
	struct sigaction sa, old[sizeof(fatal_signals) / sizeof(fatal_signals[0])], old_tstp;
	int rc = 0, eof = 0;
	size_t n = 0;

	if (tty) {
		if (tcgetattr(STDIN_FILENO, &saved_tty) != 0)
			return fail("terminal", "cannot read the terminal settings");
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = restore_and_die;
		sigemptyset(&sa.sa_mask);
		for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
			sigaction(fatal_signals[i], &sa, &old[i]);
		/* Suspending with echo off would leave the shell blind too. */
		sa.sa_handler = SIG_IGN;
		sigaction(SIGTSTP, &sa, &old_tstp);
		struct termios t = saved_tty;
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		t.c_lflag |= ICANON;
		echo_off = 1;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
		/* Prompt only now: the flush above drops what was typed before it. */
		fputs(prompt, stderr);
		fflush(stderr);
	}
	for (;;) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = fail("passphrase", "cannot read standard input");
			break;
		}
		if (r == 0)
			eof = 1;
		if (r == 0 || c == '\n')
			break;
		if (n == PASS_MAX) {
			rc = fail("passphrase", "longer than 1024 bytes");
			/* Swallow the rest of the line so it does not reach a later prompt. */
			while ((r = read(STDIN_FILENO, &c, 1)) > 0 && c != '\n')
				;
			break;
		}
		buf[n++] = c;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
		echo_off = 0;
		for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
			sigaction(fatal_signals[i], &old[i], NULL);
		sigaction(SIGTSTP, &old_tstp, NULL);
		fputc('\n', stderr);
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--; /* a line piped from a CRLF file */
	buf[n] = '\0';
	if (rc == 0 && n == 0)
		rc = fail("passphrase", eof ? "none given (end of input)" : "empty passphrase refused");
	if (rc != 0) {
		sodium_memzero(buf, PASS_MAX + 1);
		n = 0;
	}
	*len = n;
	return rc;
}

/* A new passphrase: twice from a terminal, and both must match. */
static int
read_new_pass(const char *prompt, char *buf, size_t *len)
{
	int rc = read_pass(prompt, buf, len);
	if (rc != 0 || !isatty(STDIN_FILENO))
		return rc;
	char *again = sodium_malloc(PASS_MAX + 1);
	size_t alen = 0;
	if (again == NULL)
		return fail("passphrase", "out of secure memory");
	if ((rc = read_pass("Repeat the passphrase: ", again, &alen)) == 0 &&
	    (alen != *len || sodium_memcmp(again, buf, alen) != 0))
		rc = fail("passphrase", "the two passphrases differ");
	sodium_free(again);
	if (rc != 0) {
		sodium_memzero(buf, PASS_MAX + 1);
		*len = 0;
	}
	return rc;
}

/* ---- output ------------------------------------------------------------- */

static const char *
kind_name(enum keyring_root_kind k)
{
	return k == KEYRING_ROOT_PASSPHRASE ? "passphrase (Argon2id v1.3)" :
	    k == KEYRING_ROOT_KEYFILE ? "key file" :
	    k == KEYRING_ROOT_PKCS11 ? "PKCS#11 token key (CKM_AES_GCM)" :
	    k == KEYRING_ROOT_SHARES ? "Shamir shares of a random key" : "unknown";
}

static void
print_params(const struct keyring_root_params *p)
{
	printf("format version: %d\n", KEYRING_FORMAT_VERSION);
	printf("root key:       %s\n", kind_name(p->kind));
	if (p->share_threshold != 0)
		printf("shares:         %u of %u unseal%s\n", p->share_threshold, p->share_count,
		    p->kind == KEYRING_ROOT_PKCS11 ? " (shares of the PIN)" : "");
	if (p->kind == KEYRING_ROOT_PKCS11) {
		printf("token:          %s\n", p->p11.token);
		printf("key:            %s\n", p->p11.key);
		return;
	}
	if (p->kind != KEYRING_ROOT_PASSPHRASE)
		return;
	char hex[2 * KEYRING_SALT_BYTES + 1];
	sodium_bin2hex(hex, sizeof(hex), p->salt, sizeof(p->salt));
	printf("salt:           %s\n", hex);
	printf("opslimit:       %llu\n", (unsigned long long)p->opslimit);
	printf("memlimit:       %llu bytes (%llu KiB)\n", (unsigned long long)p->memlimit,
	    (unsigned long long)p->memlimit >> 10);
}

static void
print_keys(const struct keyring *kr)
{
	static const struct {
		enum keyring_kind kind;
		const char *title, *unit;
	} kinds[] = {
		{ KEYRING_KEK, "key-encryption keys (by epoch)", "epoch" },
		{ KEYRING_TOKEN, "token keys (by version)", "version" },
		{ KEYRING_INDEX, "index keys (by version)", "version" },
	};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		printf("%s:\n", kinds[k].title);
		uint32_t cur = keyring_current(kr, kinds[k].kind);
		for (size_t i = 0; i < keyring_count(kr, kinds[k].kind); i++) {
			uint32_t v = keyring_version_at(kr, kinds[k].kind, i);
			time_t t = (time_t)keyring_key_created(kr, kinds[k].kind, v);
			char when[32] = "unknown";
			struct tm tm;
			if (t != 0 && gmtime_r(&t, &tm) != NULL)
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
			char label[32];
			snprintf(label, sizeof(label), "%s %u", kinds[k].unit, v);
			printf("  %-16s created %s%s\n", label, when, v == cur ? "  (current)" : "");
		}
	}
}

/* ---- commands ----------------------------------------------------------- */

static void
report_removed(const char *name, void *arg)
{
	fprintf(stderr, "vault-keytool: removed %s/%s, left by an interrupted key ring save\n",
	    (const char *)arg, name);
}

/*
 * Before a command that writes the ring: a crash during an earlier save
 * (ours or vaultd's) may have left a temporary holding a whole ring, with
 * epochs retired since; remove them (keyring_sweep_temps()).
 */
static void
sweep_temps(const char *ring)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", ring);
	if (keyring_sweep_temps(ring, report_removed, dirname(dir)) < 0 && errno != ENOENT)
		fprintf(stderr, "vault-keytool: cannot look for leftover temporaries next to %s: %s\n",
		    ring, strerror(errno));
}

/*
 * The token's user PIN into pin (PKCS11_PIN_BUF bytes of secure memory,
 * at least PASSPHRASE_MAX + 1): from --pin-file, else from the terminal
 * without echo or one line of standard input (common/passphrase.c).
 */
static int
read_pin(const struct opts *o, const char *token, char *pin, size_t *len)
{
	const char *why = NULL, *from = "standard input";
	char prompt[96];
	if (o->pin_file != NULL) {
		if (pin_read_file(o->pin_file, pin, len, &why) != 0)
			return fail(o->pin_file, why);
		return 0;
	}
	snprintf(prompt, sizeof(prompt), "PIN of token \"%s\": ", token);
	switch (passphrase_read(prompt, pin, len, &from)) {
	case PASSPHRASE_OK:
		break;
	case PASSPHRASE_NO_TTY:
		return fail("PIN", "cannot use the terminal");
	case PASSPHRASE_ERROR:
		return fail("PIN", "cannot read standard input");
	case PASSPHRASE_TOO_LONG:
		return fail("PIN", "longer than 256 bytes");
	case PASSPHRASE_EMPTY:
		return fail("PIN", "empty PIN refused");
	case PASSPHRASE_EOF:
		return fail("PIN", "none given (end of input)");
	}
	if (pin_parse(pin, *len, len, &why) != 0)
		return fail("PIN", why);
	return 0;
}

/*
 * Split data[0..len) into o->shares shares and hand each out: a file
 * DIR/share-I (O_EXCL, mode 0600) per share with --share-dir, else one line
 * per share on standard output. Everything in secure memory, wiped.
 */
static int
write_shares(const struct opts *o, const uint8_t *data, size_t len)
{
	struct share *sh = sodium_malloc(sizeof(*sh) * o->shares);
	uint8_t *packed = sodium_malloc(SHARE_PAYLOAD_MAX);
	char *text = sodium_malloc(SHARE_TEXT_MAX);
	char path[4096];
	int rc = 1;

	if (sh == NULL || packed == NULL || text == NULL) {
		fail("shares", "out of secure memory");
		goto out;
	}
	size_t plen = share_pack(data, len, packed);
	if (share_split(packed, plen, o->shares, o->threshold, sh) != 0) {
		fail("shares", "cannot split the secret");
		goto out;
	}
	for (unsigned i = 0; i < o->shares; i++) {
		share_format(&sh[i], text);
		if (o->share_dir == NULL) {
			printf("share %u of %u (any %u unseal): %s\n", i + 1, o->shares,
			    o->threshold, text);
			continue;
		}
		snprintf(path, sizeof(path), "%s/share-%u", o->share_dir, i + 1);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		size_t tl = strlen(text);
		text[tl] = '\n';
		int ok = fd >= 0 && write(fd, text, tl + 1) == (ssize_t)(tl + 1) && fsync(fd) == 0;
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (!ok) {
			fail_errno(path, "cannot write the share", VAULT_E_IO, e);
			goto out;
		}
		printf("share %u of %u written to %s\n", i + 1, o->shares, path);
	}
	rc = 0;
out:
	sodium_free(text);
	sodium_free(packed);
	sodium_free(sh);
	return rc;
}

#define PIN_BUF (PASSPHRASE_MAX + 1 > PKCS11_PIN_BUF ? PASSPHRASE_MAX + 1 : PKCS11_PIN_BUF)

static int
init_pkcs11(const struct opts *o, uint8_t *root)
{
	struct pkcs11_target t = { o->pkcs11, o->token, o->key };
	struct pkcs11_error err;
	struct keyring *kr = NULL;
	char *pin = sodium_malloc(PIN_BUF);
	size_t plen = 0;
	int rc = 1;

	if (pin == NULL)
		return fail("init", "out of secure memory");
	if (read_pin(o, o->token, pin, &plen) != 0)
		goto out;
	if (keyring_pkcs11_create(o->ring, &t, pin, plen, o->create_key, o->shares,
	    o->threshold, root, &kr, &err) != 0) {
		fprintf(stderr, "%s: %s\n", PROG, err.message);
		goto out;
	}
	printf("created key ring %s sealed by the key \"%s\" of PKCS#11 token \"%s\"%s\n",
	    o->ring, o->key, o->token, o->create_key ? " (key created on the token)" : "");
	if (o->shares != 0) {
		if (write_shares(o, (const uint8_t *)pin, plen) != 0) {
			unlink(o->ring); /* ours, just made: unusable without its shares */
			goto out;
		}
		printf("the PIN is split: any %u of the %u shares unseal; give each to "
		    "another operator and keep the PIN itself nowhere\n", o->threshold, o->shares);
	}
	rc = 0;
out:
	keyring_free(kr);
	sodium_free(pin);
	return rc;
}

static int
cmd_init(const struct opts *o)
{
	struct keyring_root_params p;
	struct keyring *kr = NULL;
	const char *why = NULL;
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	char *pass = sodium_malloc(PASS_MAX + 1);
	size_t plen = 0;
	struct stat st;
	int rc = 1;

	if (root == NULL || pass == NULL) {
		rc = fail("init", "out of secure memory");
		goto out;
	}
	sweep_temps(o->ring);
	/* Refuse before asking for anything; keyring_create2() refuses again. */
	if (lstat(o->ring, &st) == 0) {
		rc = fail(o->ring, "file already exists");
		goto out;
	}
	if (o->pkcs11 != NULL) {
		rc = init_pkcs11(o, root);
		goto out;
	} else if (o->shares != 0) {
		keyring_params_shares(&p, o->shares, o->threshold);
		randombytes_buf(root, KEYRING_KEY_BYTES);
		if ((rc = keyring_create2(o->ring, root, &p, &kr, &why)) != 0) {
			rc = fail_errno(o->ring, why, rc, errno);
			goto out;
		}
		printf("created key ring %s sealed by a random key split into %u shares\n",
		    o->ring, o->shares);
		if ((rc = write_shares(o, root, KEYRING_KEY_BYTES)) != 0) {
			unlink(o->ring);
			goto out;
		}
		printf("any %u of the %u shares unseal: give each to another operator\n",
		    o->threshold, o->shares);
	} else if (o->key_file != NULL) {
		if ((rc = keyring_root_key_create(o->key_file, root, &why)) != 0) {
			rc = fail_errno(o->key_file, why, rc, errno);
			goto out;
		}
		if ((rc = keyring_create(o->ring, root, &kr, &why)) != 0) {
			int e = errno;
			unlink(o->key_file); /* ours: created O_EXCL just above */
			rc = fail_errno(o->ring, why, rc, e);
			goto out;
		}
		printf("created key ring %s sealed with the new root key file %s\n",
		    o->ring, o->key_file);
	} else {
		keyring_params_new_passphrase(&p);
		if (o->opslimit)
			p.opslimit = o->opslimit;
		if (o->memlimit)
			p.memlimit = o->memlimit;
		if (read_new_pass("New passphrase: ", pass, &plen) != 0)
			goto out;
		if (keyring_root_from_passphrase(pass, plen, &p, root) != 0) {
			rc = fail("passphrase", "the KDF could not get its memory");
			goto out;
		}
		if ((rc = keyring_create2(o->ring, root, &p, &kr, &why)) != 0) {
			rc = fail_errno(o->ring, why, rc, errno);
			goto out;
		}
		printf("created key ring %s sealed with a passphrase\n", o->ring);
	}
	rc = 0;
out:
	keyring_free(kr);
	sodium_free(pass);
	sodium_free(root);
	return rc;
}

static int
cmd_info(const struct opts *o)
{
	struct keyring_root_params p;
	const char *why = NULL;

	if (keyring_file_params(o->ring, &p, &why) != 0)
		return fail(o->ring, why);
	printf("key ring:       %s\n", o->ring);
	print_params(&p);
	return 0;
}

/*
 * Open the ring with what the options name, after checking that it is the
 * kind of root the file asks for (the AEAD alone could only say "wrong key").
 * root receives the root key.
 */
static int
open_ring(const struct opts *o, int use_pass, const char *prompt, uint8_t *root,
    struct keyring **kr)
{
	struct keyring_root_params p;
	const char *why = NULL;
	int rc = 1;

	if (keyring_file_params(o->ring, &p, &why) != 0)
		return fail(o->ring, why);
	if (o->pkcs11 != NULL) {
		struct pkcs11_error err;
		char *pin;
		size_t plen = 0;
		if (p.kind != KEYRING_ROOT_PKCS11)
			return fail(o->ring, "not sealed by a PKCS#11 token");
		if ((pin = sodium_malloc(PIN_BUF)) == NULL)
			return fail("PIN", "out of secure memory");
		if (read_pin(o, p.p11.token, pin, &plen) == 0) {
			if (keyring_pkcs11_unseal(o->ring, o->pkcs11, o->token, o->key, pin, plen,
			    root, kr, &err) != 0)
				fprintf(stderr, "%s: %s\n", PROG, err.message);
			else
				rc = 0;
		}
		sodium_free(pin);
		return rc;
	}
	if (p.kind == KEYRING_ROOT_PKCS11)
		return fail(o->ring, use_pass ? "sealed by a PKCS#11 token, not a passphrase" :
		    "sealed by a PKCS#11 token: give --pkcs11 MODULE");
	if (p.kind == KEYRING_ROOT_SHARES)
		return fail(o->ring, "sealed by Shamir shares, which this tool does not take: "
		    "unseal the running vaultd (vaultctl unseal --share), and use vaultctl keys "
		    "rekey to change its root");
	if (use_pass && p.kind != KEYRING_ROOT_PASSPHRASE)
		return fail(o->ring, "sealed with a root key file, not a passphrase");
	if (!use_pass && p.kind != KEYRING_ROOT_KEYFILE)
		return fail(o->ring, "sealed with a passphrase, not a root key file");
	if (!use_pass) {
		if (keyring_root_key_read(o->key_file, root, &why) != 0)
			return fail(o->key_file, why);
		if (keyring_load(o->ring, root, kr, &why) != 0)
			return fail(o->ring, why);
		return 0;
	}
	char *pass = sodium_malloc(PASS_MAX + 1);
	size_t plen = 0;
	if (pass == NULL)
		return fail("passphrase", "out of secure memory");
	if (read_pass(prompt, pass, &plen) == 0) {
		if (keyring_load_passphrase(o->ring, pass, plen, root, kr, &why) != 0)
			fail(o->ring, why);
		else
			rc = 0;
	}
	sodium_free(pass);
	return rc;
}

static int
cmd_show(const struct opts *o)
{
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	struct keyring *kr = NULL;
	int rc = 1;

	if (root == NULL)
		return fail("show", "out of secure memory");
	if (open_ring(o, o->passphrase, "Passphrase: ", root, &kr) == 0) {
		printf("key ring:       %s\n", o->ring);
		print_params(keyring_params(kr));
		print_keys(kr);
		rc = 0;
	}
	keyring_free(kr);
	sodium_free(root);
	return rc;
}

static int
cmd_change_passphrase(const struct opts *o)
{
	struct keyring_root_params p;
	struct keyring *kr = NULL, *next = NULL, *check = NULL;
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	uint8_t *new_root = sodium_malloc(KEYRING_KEY_BYTES);
	char *pass = sodium_malloc(PASS_MAX + 1);
	const char *why = NULL;
	size_t plen = 0;
	int rc = 1;

	if (root == NULL || new_root == NULL || pass == NULL) {
		rc = fail("change-passphrase", "out of secure memory");
		goto out;
	}
	sweep_temps(o->ring);
	if (open_ring(o, 1, "Current passphrase: ", root, &kr) != 0)
		goto out;
	if (read_new_pass("New passphrase: ", pass, &plen) != 0)
		goto out;
	/* A new salt always; the costs stay unless the options change them. */
	keyring_params_new_passphrase(&p);
	p.opslimit = o->opslimit ? o->opslimit : keyring_params(kr)->opslimit;
	p.memlimit = o->memlimit ? o->memlimit : keyring_params(kr)->memlimit;
	if (keyring_with_root_params(kr, &p, &next, &why) != 0) {
		rc = fail(o->ring, why);
		goto out;
	}
	if (keyring_root_from_passphrase(pass, plen, &p, new_root) != 0) {
		rc = fail("passphrase", "the KDF could not get its memory");
		goto out;
	}
	if ((rc = keyring_save(next, o->ring, new_root, &why)) != 0) {
		rc = fail_errno(o->ring, why, rc, errno);
		goto out;
	}
	/* Prove the file on disk opens with the new passphrase before saying so. */
	if (keyring_load(o->ring, new_root, &check, &why) != 0) {
		rc = fail(o->ring, why);
		goto out;
	}
	printf("key ring %s re-sealed under the new passphrase\n", o->ring);
	rc = 0;
out:
	keyring_free(check);
	keyring_free(next);
	keyring_free(kr);
	sodium_free(pass);
	sodium_free(new_root);
	sodium_free(root);
	return rc;
}

/* ---- arguments ---------------------------------------------------------- */

/* A count, or bytes with an optional unit (common/units.h). */
static int
parse_u64(const char *s, int suffixes, uint64_t *out)
{
	char *end;
	if (suffixes)
		return units_parse_size(s, out);
	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
parse_opts(const struct command *c, int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "key-file", required_argument, NULL, 'k' },
		{ "passphrase", no_argument, NULL, 'p' },
		{ "opslimit", required_argument, NULL, 'o' },
		{ "memlimit", required_argument, NULL, 'm' },
		{ "pkcs11", required_argument, NULL, 'P' },
		{ "token", required_argument, NULL, 'T' },
		{ "key", required_argument, NULL, 'K' },
		{ "pin-file", required_argument, NULL, 'F' },
		{ "create-key", no_argument, NULL, 'C' },
		{ "shares", required_argument, NULL, 'N' },
		{ "threshold", required_argument, NULL, 'H' },
		{ "share-dir", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, li = -1;

	memset(o, 0, sizeof(*o));
	/*
	 * Whole option names only: getopt_long would take "--pin 1234" as
	 * --pin-file and then print the PIN as a file name.
	 */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strncmp(argv[i], "--", 2) != 0)
			continue;
		size_t n = strcspn(argv[i] + 2, "=");
		int known = 0;
		for (const struct option *lo = longopts; lo->name != NULL; lo++)
			if (strlen(lo->name) == n && strncmp(lo->name, argv[i] + 2, n) == 0)
				known = 1;
		if (!known) {
			fprintf(stderr, "%s: %s: unknown option --%.*s (options are not "
			    "abbreviated)\n", PROG, c->name, (int)(n > 40 ? 40 : n), argv[i] + 2);
			goto usage;
		}
	}
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		if ((ch == 'k' && !(c->takes & O_KEYFILE)) ||
		    (ch == 'p' && !(c->takes & O_PASSPHRASE)) ||
		    ((ch == 'o' || ch == 'm') && !(c->takes & O_COSTS)) ||
		    ((ch == 'P' || ch == 'T' || ch == 'K' || ch == 'F') && !(c->takes & O_PKCS11)) ||
		    (ch == 'C' && !(c->takes & O_CREATE_KEY)) ||
		    ((ch == 'N' || ch == 'H' || ch == 'D') && !(c->takes & O_SHARES)))
			goto bad;
		uint64_t v;
		switch (ch) {
		case 'N':
		case 'H':
			if (parse_u64(optarg, 0, &v) != 0 || v < 2 || v > SHARE_MAX) {
				fprintf(stderr, "%s: --%s must be 2..%d\n", PROG,
				    ch == 'N' ? "shares" : "threshold", SHARE_MAX);
				return EXIT_USAGE;
			}
			*(ch == 'N' ? &o->shares : &o->threshold) = (unsigned)v;
			break;
		case 'D':
			o->share_dir = optarg;
			break;
		case 'k':
			o->key_file = optarg;
			break;
		case 'p':
			o->passphrase = 1;
			break;
		case 'P':
			o->pkcs11 = optarg;
			break;
		case 'T':
			o->token = optarg;
			break;
		case 'K':
			o->key = optarg;
			break;
		case 'F':
			o->pin_file = optarg;
			break;
		case 'C':
			o->create_key = 1;
			break;
		case 'o':
			if (parse_u64(optarg, 0, &o->opslimit) != 0 ||
			    o->opslimit < KEYRING_OPSLIMIT_MIN || o->opslimit > KEYRING_OPSLIMIT_MAX) {
				fprintf(stderr, "%s: --opslimit must be %llu..%llu\n", PROG,
				    KEYRING_OPSLIMIT_MIN, KEYRING_OPSLIMIT_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'm':
			if (parse_u64(optarg, 1, &o->memlimit) != 0 ||
			    o->memlimit < KEYRING_MEMLIMIT_MIN || o->memlimit > KEYRING_MEMLIMIT_MAX) {
				fprintf(stderr, "%s: --memlimit must be %lluK..%lluG, "
				    "%s\n", PROG, KEYRING_MEMLIMIT_MIN >> 10,
				    KEYRING_MEMLIMIT_MAX >> 30, UNITS_SIZE_FORMAT);
				return EXIT_USAGE;
			}
			break;
		default:
			goto bad;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "%s: %s takes one RING\n", PROG, c->name);
		goto usage;
	}
	o->ring = argv[optind];
	/* Commands that open or create a ring need exactly one kind of root. */
	if ((o->shares != 0) != (o->threshold != 0) || o->threshold > o->shares) {
		fprintf(stderr, "%s: --shares N and --threshold K go together, K <= N\n", PROG);
		goto usage;
	}
	if (o->share_dir != NULL && o->shares == 0) {
		fprintf(stderr, "%s: --share-dir goes with --shares\n", PROG);
		goto usage;
	}
	if ((c->takes & O_KEYFILE) && (o->key_file != NULL) + o->passphrase +
	    (o->pkcs11 != NULL || o->shares != 0) != 1) {
		fprintf(stderr, "%s: %s needs one of --key-file ROOTKEY, --passphrase%s\n", PROG,
		    c->name, c->takes & O_SHARES ? ", --pkcs11 MODULE or --shares N" :
		    c->takes & O_PKCS11 ? " or --pkcs11 MODULE" : "");
		goto usage;
	}
	if (o->pkcs11 == NULL && (o->token || o->key || o->pin_file || o->create_key)) {
		fprintf(stderr, "%s: --token, --key, --pin-file and --create-key go with "
		    "--pkcs11 MODULE\n", PROG);
		goto usage;
	}
	if (o->pkcs11 != NULL && (c->takes & O_CREATE_KEY) && (!o->token || !o->key)) {
		fprintf(stderr, "%s: %s --pkcs11 needs --token LABEL and --key LABEL\n", PROG,
		    c->name);
		goto usage;
	}
	if ((o->token && !pkcs11_label_ok(o->token, PKCS11_TOKEN_LABEL_MAX)) ||
	    (o->key && !pkcs11_label_ok(o->key, PKCS11_KEY_LABEL_MAX))) {
		fprintf(stderr, "%s: a token label is 1 to %d bytes, a key label 1 to %d, "
		    "without control characters or trailing spaces\n", PROG,
		    PKCS11_TOKEN_LABEL_MAX, PKCS11_KEY_LABEL_MAX);
		return EXIT_USAGE;
	}
	if ((o->opslimit || o->memlimit) && (o->key_file != NULL || o->pkcs11 != NULL)) {
		fprintf(stderr, "%s: --opslimit and --memlimit apply to a passphrase\n", PROG);
		goto usage;
	}
	return 0;
bad:
	/* A known option's argument may follow it: name the option itself. */
	if (ch != '?' && li >= 0)
		fprintf(stderr, "%s: %s does not take --%s\n", PROG, c->name, longopts[li].name);
	else
		fprintf(stderr, "%s: %s: unknown option %s\n", PROG, c->name, argv[optind - 1]);
usage:
	fprintf(stderr, "usage: %s %s %s\n", PROG, c->name, c->args);
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	/* Passphrases pass through ordinary memory briefly: no core files. */
	struct rlimit nocore = { 0, 0 };
	setrlimit(RLIMIT_CORE, &nocore);

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", PROG, VAULT_VERSION);
		return 0;
	}
	const struct command *c = NULL;
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			c = &commands[i];
	if (c == NULL) {
		fprintf(stderr, "%s: unknown command %s\n", PROG, argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	struct opts o;
	int rc = parse_opts(c, argc - 1, argv + 1, &o);
	if (rc != 0)
		return rc;
	if (sodium_init() < 0)
		return fail("libsodium", "cannot initialise");
	return c->run(&o);
}
