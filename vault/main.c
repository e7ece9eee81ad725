/*
 * main.c - vaultd: options, configuration, hardening, keys, store, serve.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "config.h"
#include "datalock.h"
#include "crypto/token.h"
#include "keys/keyring.h"
#include "audit.h"
#include "journal.h"
#include "keyset.h"
#include "restore.h"
#include "privacy/privacy.h"
#include "safedir.h"
#include "log.h"
#include "policy.h"
#include "server.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vaultd [-c FILE] [--dev] [--check]\n"
	    "  -c, --config FILE  read configuration from FILE (see vaultd.conf.example)\n"
	    "      --dev          development mode: create a root key and key ring\n"
	    "                     on first start (NOT for production)\n"
	    "      --check        check the configuration and exit\n"
	    "      --restore FILE restore a backup (vaultd stopped); a passphrase-sealed\n"
	    "                     key ring reads its passphrase from standard input\n"
	    "  -h, --help         this text\n");
}

/* Personal data must not end up in a core file or be read via ptrace. */
static void
harden(void)
{
	struct rlimit rl = { 0, 0 };
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/*
 * A private directory: created 0700 if missing, refused if others may
 * enter, or if a directory on the way to it could be changed by anyone but
 * root or this user (safedir.h: they could swap it for another).
 */
static int
private_dir(const char *dir, const char *what)
{
	struct stat st;
	char why[512];
	if (safedir_ancestors(dir, why, sizeof(why)) != 0) {
		log_error("%s %s: %s", what, dir, why);
		return VAULT_E_CONFIG;
	}
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || mkdir(dir, 0700) != 0 || stat(dir, &st) != 0) {
			log_error("%s %s: %s", what, dir, strerror(errno));
			return VAULT_E_CONFIG;
		}
	}
	if (!S_ISDIR(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid()) {
		log_error("%s %s must be a directory owned by this user with mode 0700 "
		    "(it is %03o)", what, dir, st.st_mode & 0777);
		return VAULT_E_CONFIG;
	}
	if (safedir_path(dir, why, sizeof(why)) != 0) {
		log_error("%s %s: %s", what, dir, why);
		return VAULT_E_CONFIG;
	}
	return 0;
}

static int
parent_dir(const char *path, const char *what)
{
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s", path);
	return private_dir(dirname(tmp), what);
}

static int
load_keys(struct server *srv, int dev)
{
	const struct config *c = &srv->cfg;
	struct keyring *ring = NULL;
	struct key_set *ks = NULL;
	const char *why = NULL;
	int rc;
	uint8_t *root = srv->root;

	if ((rc = parent_dir(c->keyring_path, "key directory")) != 0)
		goto out;
	/* A passphrase-sealed ring: start sealed, wait for `vaultctl unseal`. */
	struct keyring_root_params params;
	if (access(c->keyring_path, F_OK) == 0 &&
	    keyring_file_params(c->keyring_path, &params, &why) == 0 &&
	    params.kind == KEYRING_ROOT_PASSPHRASE) {
		log_warn("the key ring is sealed by a passphrase: serving only status "
		    "until an administrator runs `vaultctl unseal`");
		return 0;
	}
	why = NULL;
	if ((rc = parent_dir(c->root_key_path, "root key directory")) != 0)
		goto out;
	if (dev && access(c->root_key_path, F_OK) != 0 && access(c->keyring_path, F_OK) != 0) {
		log_warn("**************************************************************");
		log_warn("DEVELOPMENT KEYS: creating a root key and key ring in %s.", c->keyring_path);
		log_warn("The root key sits next to the data it protects. NOT FOR PRODUCTION.");
		log_warn("**************************************************************");
		if ((rc = keyring_root_key_create(c->root_key_path, root, &why)) != 0 ||
		    (rc = keyring_create(c->keyring_path, root, &ring, &why)) != 0)
			goto out;
	} else {
		if ((rc = keyring_root_key_read(c->root_key_path, root, &why)) != 0) {
			log_error("root key %s: %s", c->root_key_path, why);
			why = NULL;
			goto out;
		}
		if ((rc = keyring_load(c->keyring_path, root, &ring, &why)) != 0)
			goto out;
		if (dev)
			log_warn("running with DEVELOPMENT KEYS from %s: NOT FOR PRODUCTION",
			    c->keyring_path);
	}
	if ((rc = key_set_new(ring, &ks)) != 0)
		goto out;
	key_set_install(srv, ks);
out:
	if (rc != 0 && why != NULL)
		log_error("key ring %s: %s", c->keyring_path, why);
	return rc;
}

/* For offline commands on a passphrase-sealed ring: one line of stdin. */
static int
unseal_from_stdin(struct server *srv)
{
	struct keyring_root_params params;
	struct keyring *ring;
	struct key_set *ks;
	const char *why = NULL;
	char *pass = sodium_malloc(1024);
	int rc = VAULT_E_NOMEM;
	if (pass == NULL)
		return rc;
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "key ring passphrase: ");
	if (fgets(pass, 1024, stdin) == NULL) {
		rc = VAULT_E_KEYRING;
		why = "no passphrase on standard input";
		goto out;
	}
	pass[strcspn(pass, "\r\n")] = '\0';
	if ((rc = keyring_file_params(srv->cfg.keyring_path, &params, &why)) != 0 ||
	    (rc = keyring_root_from_passphrase(pass, strlen(pass), &params, srv->root)) != 0 ||
	    (rc = keyring_load(srv->cfg.keyring_path, srv->root, &ring, &why)) != 0 ||
	    (rc = key_set_new(ring, &ks)) != 0)
		goto out;
	key_set_install(srv, ks);
out:
	if (rc != 0)
		log_error("key ring %s: %s", srv->cfg.keyring_path,
		    why ? why : vault_strerror(rc));
	sodium_free(pass);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dev", no_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'k' },
		{ "restore", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct server srv;
	const char *config_path = NULL, *restore = NULL;
	int dev = 0, check = 0, ch, rc;
	char err[512];

	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'd': dev = 1; break;
		case 'k': check = 1; break;
		case 'r': restore = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	harden();
	/*
	 * Block the stop signals before any thread exists (the audit trail's
	 * sync thread starts before the server): server_run takes them through
	 * a signalfd, and a thread with them unblocked would die of them.
	 */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	config_defaults(&srv.cfg);
	if (config_path != NULL && config_load(&srv.cfg, config_path, err, sizeof(err)) != 0) {
		log_error("configuration: %s", err);
		return 1;
	}
	config_derive(&srv.cfg);
	if (config_check(&srv.cfg, err, sizeof(err)) != 0) {
		log_error("configuration: %s", err);
		return 1;
	}
	/* Room for max_connections sockets plus the data and key files. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		rlim_t want = (rlim_t)srv.cfg.max_connections + 256;
		if (nofile.rlim_cur < want) {
			nofile.rlim_cur = want < nofile.rlim_max ? want : nofile.rlim_max;
			setrlimit(RLIMIT_NOFILE, &nofile);
		}
		if (nofile.rlim_cur < want)
			log_warn("only %llu file descriptors: max_connections = %u cannot be reached",
			    (unsigned long long)nofile.rlim_cur, srv.cfg.max_connections);
	}
	if (check) {
		/* The policy is part of the configuration: check it too. */
		struct policy pol;
		if (policy_load(&pol, srv.cfg.policy_file, dev, err, sizeof(err)) != 0) {
			log_error("policy %s: %s", srv.cfg.policy_file, err);
			return 1;
		}
		policy_free(&pol);
		printf("configuration OK\n");
		return 0;
	}
	/* The open development policy needs --dev itself, not dev_create_keys. */
	int dev_policy = dev;
	dev = dev || srv.cfg.dev_create_keys;
	/* Exports build personal data in jansson: wipe what it frees. */
	privacy_json_wipe_on_free();
	if (sodium_init() < 0) {
		log_error("libsodium failed to initialize");
		return 1;
	}
	srv.root = sodium_malloc(KEYRING_KEY_BYTES);
	if (srv.root == NULL) {
		log_error("out of secure memory");
		return 1;
	}
	if (policy_load(&srv.policy, srv.cfg.policy_file, dev_policy, err, sizeof(err)) != 0) {
		log_error("policy %s: %s", srv.cfg.policy_file, err);
		return 1;
	}
	if (srv.policy.open)
		log_warn("DEVELOPMENT POLICY: no [policy] file, so every local caller may "
		    "read and change everything. NOT FOR PRODUCTION.");
	if ((rc = private_dir(srv.cfg.data_dir, "data directory")) != 0)
		return 1;
	/* Before anything else is opened or created (datalock.h); held until exit. */
	if (datalock_acquire(srv.cfg.data_dir, err, sizeof(err)) < 0) {
		log_error("not starting: %s", err);
		return 1;
	}
	if ((rc = load_keys(&srv, dev)) != 0) {
		log_error("not starting: %s", vault_strerror(rc));
		return 1;
	}
	if (restore != NULL) {
		if (key_set_sealed(&srv) && (rc = unseal_from_stdin(&srv)) != 0)
			return 1;
		rc = restore_backup(&srv, restore);
		key_set_free(key_set_take(&srv));
		sodium_free(srv.root);
		return rc == 0 ? 0 : 1;
	}
	const char *why;
	if ((rc = store_open(&srv.store, srv.cfg.data_dir, srv.cfg.map_size_bytes,
	    srv.cfg.max_connections + 64, &why)) != 0) {
		log_error("store %s: %s", srv.cfg.data_dir, why);
		return 1;
	}
	if ((rc = parent_dir(srv.cfg.deletion_journal_path, "deletion journal directory")) != 0 ||
	    (rc = journal_open(&srv.journal, srv.cfg.deletion_journal_path, &srv.store)) != 0) {
		log_error("deletion journal %s: %s", srv.cfg.deletion_journal_path,
		    vault_strerror(rc));
		return 1;
	}
	if (srv.cfg.audit_enabled) {
		struct stat ast;
		srv.audit_cfg.path = srv.cfg.audit_path;
		srv.audit_cfg.max_file_bytes = srv.cfg.audit_max_file_bytes;
		srv.audit_cfg.sync_interval_ms = srv.cfg.audit_sync_interval_ms;
		/* A device (tests use /dev/full) needs no private directory. */
		if (!(stat(srv.cfg.audit_path, &ast) == 0 && S_ISCHR(ast.st_mode)) &&
		    parent_dir(srv.cfg.audit_path, "audit directory") != 0)
			return 1;
		const struct key_set *ks = key_set_acquire(&srv);
		rc = audit_open(&srv.audit, &srv.audit_cfg, ks, err, sizeof(err));
		key_set_release();
		if (rc != 0) {
			log_error("audit trail %s: %s", srv.cfg.audit_path, err);
			return 1;
		}
	} else {
		log_warn("[audit] enabled = false: requests are NOT audited");
	}
	rc = server_run(&srv);
	audit_close(srv.audit);
	journal_close(&srv.journal);
	store_close(&srv.store);
	key_set_free(key_set_take(&srv));
	sodium_free(srv.root);
	if (rc != 0) {
		log_error("stopped with error: %s", vault_strerror(rc));
		return 1;
	}
	return 0;
}
