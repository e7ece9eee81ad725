/*
 * main.c - vaultd: options, configuration, hardening, keys, store, serve.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>
#include <vault/vault.h>

#include "common/paths.h"
#include "config.h"
#include "credential.h"
#include "datalock.h"
#include "crypto/token.h"
#include "keys/keyring.h"
#include "keys/keyring_pkcs11.h"
#include "keys/pin.h"
#include "keys/share.h"
#include "audit.h"
#include "common/passphrase.h"
#include "common/tmpfile.h"
#include "common/version.h"
#include "journal.h"
#include "keyset.h"
#include "restore.h"
#include "privacy/privacy.h"
#include "safedir.h"
#include "log.h"
#include "policy.h"
#include "ring_shared.h"
#include "store/commitlog.h"
#include "rotation.h"
#include "sdnotify.h"
#include "server.h"
#include "store/store_pgsql.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: vaultd [-c FILE] [--dev] [--check]\n"
	    "  -c, --config FILE  read configuration from FILE (see vaultd.conf.example;\n"
	    "                     default " VAULT_CONFIG_PATH ", which must\n"
	    "                     exist: without a [policy] file only --dev starts)\n"
	    "      --dev          development mode: create a root key and key ring\n"
	    "                     on first start (NOT for production)\n"
	    "      --check        run the checks of a start (files, directories, keys,\n"
	    "                     policy) without starting; list every problem\n"
	    "      --restore FILE restore a backup (vaultd stopped); a passphrase-sealed\n"
	    "                     key ring's passphrase is read from the terminal\n"
	    "                     without echo, or as one line of standard input;\n"
	    "                     it first says how many records the backup can and\n"
	    "                     cannot decrypt with the current key ring\n"
	    "      --force        with --restore: restore a backup that can restore\n"
	    "                     none of its records (their key epochs retired)\n"
	    "      --audit-verify verify the audit trail, and that it holds the entry\n"
	    "                     the data records; exit 0 intact, 1 damaged\n"
	    "      --audit-acknowledge\n"
	    "                     accept an audit trail that lost entries, so that\n"
	    "                     vaultd starts again (vaultd stopped; an entry in\n"
	    "                     the trail records the loss); keep the trail first\n"
	    "  -h, --help         this text\n"
	    "      --version      print \"vaultd VERSION\" and exit\n"
	    "\n"
	    "--restore prints a line per phase on standard error when it is a\n"
	    "terminal. Exit status: 0 success; 1 failure (configuration, keys, store, a\n"
	    "failed check or restore); 2 usage error.\n");
}

/* Personal data must not end up in a core file or be read via ptrace. */
static void
harden(void)
{
	struct rlimit rl = { 0, 0 };
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* vaultd --check: look at everything a start looks at, create nothing. */
static int dry_run;

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
	if (stat(dir, &st) != 0 && errno == ENOENT && dry_run) {
		char up[512];
		snprintf(up, sizeof(up), "%s", dir);
		if (stat(dirname(up), &st) == 0 && S_ISDIR(st.st_mode))
			return 0; /* the start creates it (0700) */
		log_error("%s %s: neither it nor its parent exists", what, dir);
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

/* After a failed key load: say how to make the keys if they are missing. */
static void
hint_missing_keys(const struct config *c)
{
	int ring = access(c->keyring_path, F_OK) == 0, root = access(c->root_key_path, F_OK) == 0;
	if (ring && root)
		return;
	log_error("%s: create them with `vault-keytool init %s --key-file %s` "
	    "(or start with --dev for development)%s",
	    !ring && !root ? "no key ring and no root key" :
	    !ring ? "the key ring is missing" : "the root key file is missing",
	    c->keyring_path, c->root_key_path,
	    ring || root ? "; if the vault had keys, restore the missing file from "
	    "your backup instead" : "");
}
/* $CREDENTIALS_DIRECTORY/root.key when it stands for root_key_path (credential.h). */
static char root_credential[512];

/*
 * A ring sealed by a PKCS#11 token: the PIN from [keys] pkcs11_pin_file,
 * else the credential pkcs11.pin; with neither, start sealed until
 * `vaultctl unseal` gives it. A PIN the token refuses also leaves the
 * vault sealed rather than failing the start: systemd would restart us
 * (Restart=on-failure) and every start would spend one more of the
 * token's PIN attempts until it locks.
 */
static int
load_keys_pkcs11(struct server *srv, const struct keyring_root_params *params)
{
	const struct config *c = &srv->svc.cfg;
	struct pkcs11_error err;
	struct keyring *ring = NULL;
	struct key_set *ks = NULL;
	char cred[512] = "", *pin = NULL;
	const char *why = NULL, *source;
	size_t len = 0;
	int rc;

	if (c->pkcs11_module[0] == '\0') {
		log_error("key ring %s is sealed by the key \"%s\" of the PKCS#11 token \"%s\": "
		    "set [keys] pkcs11_module to its module (a path, or a p11-kit module name)",
		    c->keyring_path, params->p11.key, params->p11.token);
		return VAULT_E_CONFIG;
	}
	if ((c->pkcs11_token[0] != '\0' && strcmp(c->pkcs11_token, params->p11.token) != 0) ||
	    (c->pkcs11_key[0] != '\0' && strcmp(c->pkcs11_key, params->p11.key) != 0)) {
		log_error("key ring %s is sealed by the key \"%s\" of the PKCS#11 token \"%s\", "
		    "but [keys] names the key \"%s\" of the token \"%s\"", c->keyring_path,
		    params->p11.key, params->p11.token,
		    c->pkcs11_key[0] ? c->pkcs11_key : params->p11.key,
		    c->pkcs11_token[0] ? c->pkcs11_token : params->p11.token);
		return VAULT_E_CONFIG;
	}
	if (c->pkcs11_pin_file[0] != '\0')
		source = c->pkcs11_pin_file;
	else if (credential_pkcs11_pin_path(cred, sizeof(cred)))
		source = cred;
	else
		source = NULL;
	if (dry_run) {
		/* No login: a check must not spend one of the token's PIN attempts. */
		struct pkcs11_target t = { c->pkcs11_module, params->p11.token, params->p11.key };
		if (pkcs11_probe(&t, &err) != 0) {
			log_error("key ring %s: %s", c->keyring_path, err.message);
			return VAULT_E_KEYRING;
		}
	}
	if (source == NULL) {
		if (dry_run)
			log_info("key ring %s: sealed by PKCS#11 token \"%s\"; no PIN file or "
			    "credential: `vaultctl unseal` gives the PIN after the start",
			    c->keyring_path, params->p11.token);
		else
			log_warn("the key ring is sealed by the PKCS#11 token \"%s\" and no PIN is "
			    "configured ([keys] pkcs11_pin_file, or the credential pkcs11.pin): "
			    "serving only status until an administrator runs `vaultctl unseal`",
			    params->p11.token);
		return 0;
	}
	if ((pin = sodium_malloc(PKCS11_PIN_BUF)) == NULL)
		return VAULT_E_NOMEM;
	rc = source == cred ? credential_read_pkcs11_pin(cred, pin, &len, &why) :
	    pin_read_file(source, pin, &len, &why);
	if (rc != 0) {
		log_error("%s %s: %s", source == cred ? "PKCS#11 PIN credential" :
		    "[keys] pkcs11_pin_file", source, why);
		goto out;
	}
	if (dry_run) {
		log_info("key ring %s: sealed by PKCS#11 token \"%s\" (present); PIN from %s "
		    "(not tried: a check spends none of the token's PIN attempts)",
		    c->keyring_path, params->p11.token, source);
		goto out;
	}
	rc = keyring_pkcs11_unseal(c->keyring_path, c->pkcs11_module, c->pkcs11_token,
	    c->pkcs11_key, pin, len, srv->svc.root, &ring, &err);
	if (rc != 0 && (err.status == PKCS11_E_PIN_INCORRECT ||
	    err.status == PKCS11_E_PIN_LOCKED || err.status == PKCS11_E_PIN_INVALID)) {
		log_error("key ring %s: PIN from %s: %s", c->keyring_path, source, err.message);
		log_error("starting SEALED, and not trying this PIN again (restarts would lock "
		    "the token): fix the PIN and restart, or give it with `vaultctl unseal`");
		rc = 0;
		goto out;
	}
	if (rc != 0) {
		log_error("%s", err.message);
		goto out;
	}
	if ((rc = key_set_new(ring, &ks)) != 0)
		goto out;
	key_set_install(&srv->svc, ks);
	log_info("key ring unsealed by the key \"%s\" of PKCS#11 token \"%s\" (PIN from %s)",
	    params->p11.key, params->p11.token, source == cred ? "the systemd credential" : source);
out:
	sodium_free(pin);
	return rc;
}

static int
load_keys(struct server *srv, int dev)
{
	const struct config *c = &srv->svc.cfg;
	struct keyring *ring = NULL;
	struct key_set *ks = NULL;
	const char *why = NULL;
	int rc;
	uint8_t *root = srv->svc.root;

	if ((rc = parent_dir(c->keyring_path, "key directory")) != 0)
		goto out;
	/* A passphrase-sealed ring: start sealed, wait for `vaultctl unseal`. */
	struct keyring_root_params params;
	if (access(c->keyring_path, F_OK) == 0 &&
	    keyring_file_params(c->keyring_path, &params, &why) == 0 &&
	    params.kind == KEYRING_ROOT_PKCS11)
		return load_keys_pkcs11(srv, &params);
	if (access(c->keyring_path, F_OK) == 0 &&
	    keyring_file_params(c->keyring_path, &params, &why) == 0 &&
	    params.kind == KEYRING_ROOT_SHARES) {
		if (dry_run)
			log_info("key ring %s: present and sealed by %u of %u Shamir shares "
			    "(`vaultctl unseal --share` after the start)", c->keyring_path,
			    params.share_threshold, params.share_count);
		else
			log_warn("the key ring is sealed by Shamir shares: serving only status "
			    "until %u administrators run `vaultctl unseal --share`",
			    params.share_threshold);
		return 0;
	}
	if (access(c->keyring_path, F_OK) == 0 &&
	    keyring_file_params(c->keyring_path, &params, &why) == 0 &&
	    params.kind == KEYRING_ROOT_PASSPHRASE) {
		if (dry_run)
			log_info("key ring %s: present and sealed by a passphrase (not "
			    "checked: `vaultctl unseal` gives it after the start)",
			    c->keyring_path);
		else
			log_warn("the key ring is sealed by a passphrase: serving only "
			    "status until an administrator runs `vaultctl unseal`");
		return 0;
	}
	why = NULL;
	if (root_credential[0] != '\0') {
		/* systemd's copy: never created or written here, --dev or not. */
		if ((rc = credential_read_root_key(root_credential, root, &why)) != 0) {
			log_error("root key credential %s: %s", root_credential, why);
			why = NULL;
			goto out;
		}
		log_info("root key from the systemd credential %s", root_credential);
		if ((rc = keyring_load(c->keyring_path, root, &ring, &why)) != 0)
			goto out;
		goto loaded;
	}
	if ((rc = parent_dir(c->root_key_path, "root key directory")) != 0)
		goto out;
	if (dev && access(c->root_key_path, F_OK) != 0 && access(c->keyring_path, F_OK) != 0) {
		if (dry_run) {
			log_info("development keys: the start creates a root key and key "
			    "ring in %s", c->keyring_path);
			return 0;
		}
		log_warn("**************************************************************");
		log_warn("DEVELOPMENT KEYS: creating a root key and key ring in %s.", c->keyring_path);
		log_warn("The root key sits next to the data it protects. NOT FOR PRODUCTION.");
		log_warn("**************************************************************");
		const char *made = c->root_key_path;
		if ((rc = keyring_root_key_create(c->root_key_path, root, &why)) != 0 ||
		    (made = c->keyring_path,
		    rc = keyring_create(c->keyring_path, root, &ring, &why)) != 0) {
			log_error("%s: %s%s%s", made, why, rc == VAULT_E_IO ? ": " : "",
			    rc == VAULT_E_IO ? strerror(errno) : "");
			why = NULL;
			goto out;
		}
	} else {
		if ((rc = keyring_root_key_read(c->root_key_path, root, &why)) != 0) {
			log_error("root key %s: %s", c->root_key_path, why);
			hint_missing_keys(c);
			why = NULL;
			goto out;
		}
		if ((rc = keyring_load(c->keyring_path, root, &ring, &why)) != 0) {
			log_error("key ring %s: %s", c->keyring_path, why);
			hint_missing_keys(c);
			why = NULL;
			goto out;
		}
		if (dev)
			log_warn("running with DEVELOPMENT KEYS from %s: NOT FOR PRODUCTION",
			    c->keyring_path);
	}
loaded:
	if ((rc = key_set_new(ring, &ks)) != 0)
		goto out;
	key_set_install(&srv->svc, ks);
out:
	if (rc != 0 && why != NULL)
		log_error("key ring %s: %s", c->keyring_path, why);
	return rc;
}

static void
log_removed(const char *name, void *arg)
{
	log_warn("removed %s/%s, left by an interrupted write", (const char *)arg, name);
}

/*
 * Temporaries a crash left (common/tmpfile.h): key ring saves
 * (keyring.tmp.*: a whole ring, perhaps with an epoch retired since),
 * compactions (data.mdb.compact*: a full copy of the data, freed pages
 * included) and a restore's working copy (restore/: a backup's records,
 * some deleted since). Called with the data directory's lock held, so no
 * other vaultd is writing them; only our own regular files of these
 * names are removed.
 */
static void
remove_leftovers(struct server *srv)
{
	char dir[512], path[600];
	snprintf(dir, sizeof(dir), "%s", srv->svc.cfg.keyring_path);
	if (keyring_sweep_temps(srv->svc.cfg.keyring_path, log_removed, dirname(dir)) < 0 &&
	    errno != ENOENT)
		log_warn("key directory: cannot look for leftover temporaries: %s",
		    strerror(errno));
	const char *data = srv->svc.cfg.data_dir;
	if (tmpfile_sweep(data, "data.mdb.compact.", 0, log_removed, (void *)data) < 0 ||
	    tmpfile_sweep(data, "data.mdb.compact", 1, log_removed, (void *)data) < 0)
		log_warn("data directory: cannot look for leftover temporaries: %s",
		    strerror(errno));
	snprintf(path, sizeof(path), "%s/restore", data);
	if (tmpfile_sweep(path, "data.mdb", 1, log_removed, path) >= 0) {
		tmpfile_sweep(path, "lock.mdb", 1, log_removed, path);
		tmpfile_sweep(path, COMMITLOG_NAME, 1, log_removed, path);
		rmdir(path);
	}
}

/*
 * The checks of a start that change nothing but create missing private
 * directories (none with --check), shared by vaultd --check, which adds
 * the keys (load_keys), so that it says OK only when a start would
 * succeed: the configuration and policy files (not writable by others),
 * the policy (parsed whole, into *pol), the data, journal, audit and
 * socket directories. Every problem is logged on a line of its own; returns
 * how many there were. serving: the socket's directory matters.
 */
static int
start_checks(struct server *srv, const char *config_path, int dev_policy, int serving,
    struct policy **pol)
{
	const struct config *c = &srv->svc.cfg;
	char why[512];
	struct stat st;
	int problems = 0;
	*pol = NULL;
	if (config_path != NULL && safedir_config_file(config_path, why, sizeof(why)) != 0) {
		log_error("configuration %s: %s", config_path, why);
		problems++;
	}
	if (c->policy_file[0] != '\0' && safedir_config_file(c->policy_file, why,
	    sizeof(why)) != 0) {
		log_error("policy %s: %s", c->policy_file, why);
		problems++;
	} else if (policy_new(c->policy_file, dev_policy, pol, why, sizeof(why)) != 0) {
		log_error("policy %s: %s", c->policy_file, why);
		problems++;
	}
	problems += private_dir(c->data_dir, "data directory") != 0;
	problems += parent_dir(c->deletion_journal_path, "deletion journal directory") != 0;
	/* A device (tests use /dev/full) needs no private directory. */
	if (c->audit_enabled && !(stat(c->audit_path, &st) == 0 && S_ISCHR(st.st_mode)))
		problems += parent_dir(c->audit_path, "audit directory") != 0;
	/* Socket activation: systemd made the socket, where it was told to. */
	if (serving && getenv("LISTEN_FDS") == NULL)
		problems += server_check_socket_dir(c->socket_path, !dry_run) != 0;
	return problems;
}

/*
 * Open the store [storage] backend names. The data directory stays either
 * way (its lock, the journal's reconciliation, leftovers). The log names
 * PostgreSQL's host and database only: the conninfo may hold a password.
 */
static int
open_store(struct server *srv, const char **why)
{
	const struct config *c = &srv->svc.cfg;
	char where[600];
	int rc;
	if (c->storage_backend != CONFIG_BACKEND_POSTGRESQL) {
		if ((rc = store_open(&srv->svc.store, c->data_dir, c->map_size_bytes,
		    c->max_connections + 64, why)) != 0)
			log_error("store %s: %s", c->data_dir, *why);
		return rc;
	}
	if ((rc = store_open_pgsql(&srv->svc.store, c->postgresql, c->postgresql_connections,
	    why)) != 0) {
		log_error("store: PostgreSQL ([storage] postgresql): %s", *why);
		return rc;
	}
	store_pgsql_describe(&srv->svc.store, where, sizeof(where));
	log_info("store: PostgreSQL, %s, up to %u connections", where,
	    c->postgresql_connections);
	return 0;
}

/* The audit anchor the data holds (audit.h); an->seq 0 if none. */
static int
read_anchor(struct server *srv, struct audit_anchor *an)
{
	struct store_txn *txn;
	int rc;
	memset(an, 0, sizeof(*an));
	an->what = "data";
	/* The one-node anchor of a database that had one node becomes ours. */
	if (store_shared(&srv->svc.store) &&
	    (rc = store_audit_anchor_adopt(&srv->svc.store, srv->svc.cfg.node_name)) != 0)
		return rc;
	rc = store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &txn);
	if (rc != 0)
		return store_error(rc);
	rc = store_audit_anchor_get(txn,
	    store_anchor_node(&srv->svc.store, srv->svc.cfg.node_name), &an->seq, an->mac);
	store_txn_abort(txn);
	if (rc == VAULT_E_NOT_FOUND) {
		an->seq = 0;
		rc = 0;
	}
	return rc;
}

/*
 * At a clean stop (no writer any more) the whole trail is made durable and
 * its end becomes the anchor: cutting even the last entries of a stopped
 * vault, reads included, is then found at the next start.
 */
static void
anchor_at_stop(struct server *srv)
{
	uint64_t seq;
	uint8_t mac[AUDIT_MAC_BYTES];
	struct store_txn *txn;
	int rc;
	if (srv->svc.audit == NULL || audit_sync(srv->svc.audit) != 0)
		return;
	audit_durable_head(srv->svc.audit, &seq, mac);
	if (seq == 0)
		return;
	if ((rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn)) == 0) {
		if ((rc = store_audit_anchor_put(txn,
		    store_anchor_node(&srv->svc.store, srv->svc.cfg.node_name), seq, mac)) != 0)
			store_txn_abort(txn);
		else
			rc = store_txn_commit(txn);
	}
	if (rc != 0)
		log_warn("store %s: the audit anchor cannot be stored at stop: %s",
		    srv->svc.cfg.data_dir, store_strerror(rc));
}

/*
 * vaultd --audit-verify: the check `vaultctl audit verify` asks of a running
 * vaultd, without one (it refuses to start on a trail shorter than the data
 * says), and against the data's anchor.
 */
static int
offline_audit_verify(struct server *srv, const struct key_set *ks)
{
	struct audit_anchor an;
	struct audit_verify_result r;
	int rc;
	if ((rc = read_anchor(srv, &an)) != 0 ||
	    (rc = audit_verify_files_with(srv->svc.cfg.audit_path, ks,
	    &an, an.seq != 0, &r)) != 0) {
		log_error("audit trail %s: cannot be verified: %s", srv->svc.cfg.audit_path,
		    vault_strerror(rc));
		return 1;
	}
	if (!r.ok) {
		if (r.first_bad_seq != 0)
			printf("audit trail DAMAGED at entry %" PRIu64 ": %s\n", r.first_bad_seq,
			    r.reason);
		else
			printf("audit trail DAMAGED: %s\n", r.reason);
		return 1;
	}
	printf("audit trail intact: %" PRIu64 " entries in %u files", r.entries, r.files);
	if (r.acknowledged > 0)
		printf(" (%" PRIu64 " acknowledged lost)", r.acknowledged);
	printf("\n");
	return 0;
}

/*
 * vaultd --audit-acknowledge: with vaultd stopped, record in the trail that
 * it lost entries (audit_acknowledge()) and commit the new anchor, so that
 * vaultd starts again. Nothing to do on a trail that holds the anchor.
 */
static int
offline_audit_acknowledge(struct server *srv, const struct key_set *ks)
{
	struct audit_anchor an;
	struct audit *a = NULL;
	struct store_txn *txn;
	char err[512];
	uint64_t seq, end;
	uint8_t mac[AUDIT_MAC_BYTES];
	int rc;

	if ((rc = read_anchor(srv, &an)) != 0) {
		log_error("store %s: the audit anchor cannot be read: %s", srv->svc.cfg.data_dir,
		    vault_strerror(rc));
		goto fail;
	}
	if ((rc = audit_open_flags(&a, &srv->svc.audit_cfg, ks,
	    AUDIT_OPEN_ACKNOWLEDGE, err, sizeof(err))) != 0) {
		log_error("audit trail %s: %s", srv->svc.cfg.audit_path, err);
		return 1;
	}
	/* audit_open() compared the head file (and warned), the anchor is here. */
	if ((rc = audit_check_anchor(a, &an, err, sizeof(err))) != 0)
		log_warn("audit trail %s: %s", srv->svc.cfg.audit_path, err);
	else if (audit_lost_to(a) == 0) {
		printf("nothing to acknowledge: the audit trail holds every entry the data "
		    "and its head file record\n");
		audit_close(a);
		return 0;
	}
	audit_head(a, &end, mac);
	if ((rc = audit_acknowledge(a, ks, an.seq, getuid(), &seq,
	    mac)) != 0) {
		log_error("audit trail %s: the acknowledgment cannot be written",
		    srv->svc.cfg.audit_path);
		goto fail;
	}
	if ((rc = store_txn_begin(&srv->svc.store, NULL, 0, &txn)) == 0) {
		if ((rc = store_audit_anchor_put(txn,
		    store_anchor_node(&srv->svc.store, srv->svc.cfg.node_name), seq, mac)) != 0)
			store_txn_abort(txn);
		else
			rc = store_txn_commit(txn);
	}
	if (rc != 0) {
		/* The entry stands; the next start asks for an acknowledgment again. */
		log_error("store %s: the new audit anchor cannot be stored: %s",
		    srv->svc.cfg.data_dir, store_strerror(rc));
		goto fail;
	}
	if (seq > end + 1)
		printf("acknowledged: entries %" PRIu64 " to %" PRIu64 " are lost; ", end + 1,
		    seq - 1);
	else
		printf("acknowledged: ");
	printf("the audit trail continues at entry %" PRIu64 "\n", seq);
	audit_close(a);
	return 0;
fail:
	audit_close(a);
	return 1;
}

/*
 * A ring sealed by shares (kind 4), offline: K shares, one a line of
 * standard input (or typed without echo), combined as the unseal
 * operation does, into secure memory, then wiped.
 */
static int
unseal_shares_from_stdin(struct server *srv, const struct keyring_root_params *params)
{
	unsigned k = params->share_threshold;
	struct share *sh = sodium_malloc(sizeof(*sh) * k);
	uint8_t *packed = sodium_malloc(SHARE_PAYLOAD_MAX), *data = sodium_malloc(SHARE_DATA_MAX);
	char *line = sodium_malloc(PASSPHRASE_MAX + 1);
	struct keyring *ring = NULL;
	struct key_set *ks = NULL;
	const char *why = NULL, *from;
	size_t len = 0, plen = 0, dlen = 0;
	char prompt[64];
	int rc = VAULT_E_NOMEM;

	if (sh == NULL || packed == NULL || data == NULL || line == NULL)
		goto out;
	rc = VAULT_E_KEYRING;
	for (unsigned i = 0; i < k; i++) {
		snprintf(prompt, sizeof(prompt), "share %u of %u: ", i + 1, k);
		if (passphrase_read(prompt, line, &len, &from) != PASSPHRASE_OK) {
			why = "cannot read the shares: K of them, one a line";
			goto out;
		}
		if (share_parse(line, len, &sh[i], &why) != 0)
			goto out;
		if (sh[i].threshold != k || sh[i].len != 2 * SHARE_PAYLOAD_MIN) {
			why = "a share that is not one of this key ring's";
			goto out;
		}
	}
	if (share_combine(sh, k, packed, &plen) != 0 ||
	    share_unpack(packed, plen, data, &dlen) != 0 || dlen != KEYRING_KEY_BYTES) {
		why = "the shares do not unseal this key ring (one is wrong, repeated or of "
		    "another split)";
		goto out;
	}
	memcpy(srv->svc.root, data, KEYRING_KEY_BYTES);
	if ((rc = keyring_load(srv->svc.cfg.keyring_path, srv->svc.root, &ring, &why)) != 0 ||
	    (rc = key_set_new(ring, &ks)) != 0)
		goto out;
	key_set_install(&srv->svc, ks);
out:
	if (rc != 0)
		log_error("key ring %s: %s", srv->svc.cfg.keyring_path,
		    why ? why : vault_strerror(rc));
	sodium_free(line);
	sodium_free(data);
	sodium_free(packed);
	sodium_free(sh);
	return rc;
}

/* For offline commands on a passphrase-sealed ring: one line of stdin. */
static int
unseal_from_stdin(struct server *srv)
{
	struct keyring_root_params kp;
	const char *kwhy;
	if (keyring_file_params(srv->svc.cfg.keyring_path, &kp, &kwhy) == 0 &&
	    kp.kind == KEYRING_ROOT_SHARES)
		return unseal_shares_from_stdin(srv, &kp);
	struct keyring_root_params params;
	struct keyring *ring;
	struct key_set *ks;
	const char *why = NULL;
	char *pass = sodium_malloc(PASSPHRASE_MAX + 1);
	const char *from;
	size_t len = 0;
	int rc = VAULT_E_NOMEM;
	if (pass == NULL)
		return rc;
	/* As vaultctl unseal: no echo on a terminal, one line from a pipe. */
	enum passphrase_result res = passphrase_read("key ring passphrase: ", pass, &len, &from);
	if (res != PASSPHRASE_OK) {
		rc = VAULT_E_KEYRING;
		why = res == PASSPHRASE_NO_TTY ? "cannot use the terminal" :
		    res == PASSPHRASE_ERROR ? "cannot read the passphrase" :
		    res == PASSPHRASE_TOO_LONG ? "the passphrase is longer than 1024 bytes" :
		    res == PASSPHRASE_EMPTY ? "empty passphrase" :
		    !strcmp(from, "the terminal") ? "no passphrase on the terminal" :
		    "no passphrase on standard input";
		goto out;
	}
	if ((rc = keyring_file_params(srv->svc.cfg.keyring_path, &params, &why)) != 0)
		goto out;
	if (params.kind == KEYRING_ROOT_PKCS11) {
		/* The line is the token's PIN. */
		struct pkcs11_error err;
		const struct config *c = &srv->svc.cfg;
		if ((rc = keyring_pkcs11_unseal(c->keyring_path, c->pkcs11_module, c->pkcs11_token,
		    c->pkcs11_key, pass, len, srv->svc.root, &ring, &err)) != 0) {
			log_error("%s", err.message);
			sodium_free(pass);
			return rc;
		}
		if ((rc = key_set_new(ring, &ks)) == 0)
			key_set_install(&srv->svc, ks);
		goto out;
	}
	if ((rc = keyring_root_from_passphrase(pass, len, &params, srv->svc.root)) != 0 ||
	    (rc = keyring_load(srv->svc.cfg.keyring_path, srv->svc.root, &ring, &why)) != 0 ||
	    (rc = key_set_new(ring, &ks)) != 0)
		goto out;
	key_set_install(&srv->svc, ks);
out:
	if (rc != 0)
		log_error("key ring %s: %s", srv->svc.cfg.keyring_path,
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
		{ "force", no_argument, NULL, 'F' },
		{ "audit-verify", no_argument, NULL, 'V' },
		{ "audit-acknowledge", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	static struct server srv;
	const char *config_path = NULL, *restore = NULL;
	int dev = 0, check = 0, audit_cmd = 0, force = 0, ch, rc;
	char err[512];

	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'd': dev = 1; break;
		case 'k': check = 1; break;
		case 'r': restore = optarg; break;
		case 'F': force = 1; break;
		case 'V': case 'A': audit_cmd = ch; break;
		case 'h': usage(stdout); return 0;
		case 'v': printf("vaultd %s\n", VAULT_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || (force && restore == NULL)) {
		usage(stderr);
		return 2;
	}
	harden();
	log_init();
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
	srv.svc.control = &server_control;
	config_defaults(&srv.svc.cfg);
	if (config_path == NULL)
		config_path = VAULT_CONFIG_PATH;
	if (config_load(&srv.svc.cfg, config_path, err, sizeof(err)) != 0) {
		log_error("configuration: %s", err);
		return 1;
	}
	config_derive(&srv.svc.cfg);
	if (config_check(&srv.svc.cfg, err, sizeof(err)) != 0) {
		log_error("configuration: %s", err);
		return 1;
	}
	log_set_level((enum log_level)srv.svc.cfg.log_level);
	if (!srv.svc.cfg.root_key_path_set)
		credential_root_key_path(root_credential, sizeof(root_credential));
	/* Room for max_connections sockets plus the data and key files. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		rlim_t want = (rlim_t)srv.svc.cfg.max_connections + 256;
		if (nofile.rlim_cur < want) {
			nofile.rlim_cur = want < nofile.rlim_max ? want : nofile.rlim_max;
			setrlimit(RLIMIT_NOFILE, &nofile);
		}
		if (nofile.rlim_cur < want)
			log_warn("only %llu file descriptors: max_connections = %u cannot be reached",
			    (unsigned long long)nofile.rlim_cur, srv.svc.cfg.max_connections);
	}
	/* The open development policy needs --dev itself, not dev_create_keys. */
	int dev_policy = dev;
	dev = dev || srv.svc.cfg.dev_create_keys;
	/* Exports build personal data in jansson: wipe what it frees. */
	privacy_json_wipe_on_free();
	if (sodium_init() < 0) {
		log_error("libsodium failed to initialize");
		return 1;
	}
	srv.svc.root = sodium_malloc(KEYRING_KEY_BYTES);
	if (srv.svc.root == NULL) {
		log_error("out of secure memory");
		return 1;
	}
	struct policy *pol;
	if (check) {
		/* What a start checks, and the keys (read, never created). */
		dry_run = 1;
		rc = start_checks(&srv, config_path, dev_policy, 1, &pol);
		policy_unref(pol);
		rc += load_keys(&srv, dev) != 0;
		if (srv.svc.cfg.storage_backend == CONFIG_BACKEND_POSTGRESQL) {
			/* Connects, creates nothing: the tables come at the start. */
			const char *pwhy;
			if (store_pgsql_ping(srv.svc.cfg.postgresql, &pwhy) != 0) {
				log_error("store: PostgreSQL ([storage] postgresql): %s", pwhy);
				rc++;
			}
		}
		key_set_free(key_set_take(&srv.svc));
		sodium_free(srv.svc.root);
		if (rc != 0) {
			log_error("check failed: %d problem%s; a start would fail", rc,
			    rc == 1 ? "" : "s");
			return 1;
		}
		printf("configuration OK\n");
		return 0;
	}
	if (start_checks(&srv, config_path, dev_policy, restore == NULL && audit_cmd == 0,
	    &pol) != 0) {
		log_error("not starting: see the problems above (vaultd --check lists them)");
		return 1;
	}
	if (restore != NULL && srv.svc.cfg.storage_backend == CONFIG_BACKEND_POSTGRESQL) {
		/* Before the lock, the keys or any file: nothing is touched. */
		log_error("restore refused (VAULT_E_CONFIG): [storage] backend = postgresql: "
		    "vaultd's backups and --restore are for LMDB only. Restore the database "
		    "with PostgreSQL's own tools (pg_restore of a pg_dump, or a base backup "
		    "with its WAL); doc/storage-postgresql.md says what that means for the "
		    "erasure horizon. Nothing was changed");
		policy_unref(pol);
		return 1;
	}
	policy_current_init(&srv.svc.policy, pol);
	if (pol->open)
		log_warn("DEVELOPMENT POLICY: no [policy] file, so every local caller may "
		    "read and change everything. NOT FOR PRODUCTION.");
	/* Before anything else is opened or created (datalock.h); held until exit. */
	if (datalock_acquire(srv.svc.cfg.data_dir, err, sizeof(err)) < 0) {
		log_error("not starting: %s", err);
		return 1;
	}
	/* What an interrupted restore or backup left (design: removed at start). */
	backupfile_cleanup_partials(&srv.svc.cfg);
	if ((rc = load_keys(&srv, dev)) != 0) {
		log_error("not starting: %s", vault_strerror(rc));
		return 1;
	}
	remove_leftovers(&srv);
	if (restore != NULL) {
		if (key_set_sealed(&srv.svc) && (rc = unseal_from_stdin(&srv)) != 0)
			return 1;
		rc = restore_backup(&srv, restore, force);
		key_set_free(key_set_take(&srv.svc));
		sodium_free(srv.svc.root);
		return rc == 0 ? 0 : 1;
	}
	const char *why;
	sdnotify_status("starting: opening the data file");
	if (open_store(&srv, &why) != 0)
		return 1;
	/* Several nodes on one database: one key ring, the database's. */
	if (ring_shared_start(&srv) != 0) {
		log_error("not starting (VAULT_E_KEYRING): see above");
		return 1;
	}
	/* A retire's compaction that a crash cut short, before anything is served. */
	if ((rc = store_compact_pending(&srv)) != 0) {
		log_error("not starting: the data file must be compacted and cannot be: %s",
		    vault_strerror(rc));
		return 1;
	}
	/* Offline audit commands: before the journal, which may append. */
	if (srv.svc.cfg.audit_enabled) {
		srv.svc.audit_cfg.path = srv.svc.cfg.audit_path;
		srv.svc.audit_cfg.max_file_bytes = srv.svc.cfg.audit_max_file_bytes;
		srv.svc.audit_cfg.reserve_bytes = srv.svc.cfg.audit_reserve_bytes;
		srv.svc.audit_cfg.sync_interval_ms = srv.svc.cfg.audit_sync_interval_ms;
	}
	if (audit_cmd != 0) {
		rc = 1;
		if (!srv.svc.cfg.audit_enabled)
			log_error("[audit] enabled = false: there is no audit trail");
		else if (!key_set_sealed(&srv.svc) || unseal_from_stdin(&srv) == 0) {
			/* Pinned for the command, as every key use is (keyset.h). */
			const struct key_set *ks = key_set_acquire(&srv.svc);
			rc = audit_cmd == 'V' ? offline_audit_verify(&srv, ks) :
			    offline_audit_acknowledge(&srv, ks);
			key_set_release();
		}
		store_close(&srv.svc.store);
		key_set_free(key_set_take(&srv.svc));
		sodium_free(srv.svc.root);
		return rc;
	}
	/* The journal is reconciled with every tombstone in the data file. */
	snprintf(err, sizeof(err), "%s/data.mdb", srv.svc.cfg.data_dir);
	sdnotify_extend_for_file(err, "starting: reconciling the deletion journal");
	if ((rc = parent_dir(srv.svc.cfg.deletion_journal_path, "deletion journal directory")) != 0 ||
	    (rc = journal_open(&srv.svc.journal, srv.svc.cfg.deletion_journal_path, &srv.svc.store)) != 0) {
		log_error("deletion journal %s: %s", srv.svc.cfg.deletion_journal_path,
		    vault_strerror(rc));
		return 1;
	}
	if (srv.svc.cfg.audit_enabled) {
		struct stat ast;
		struct audit_anchor an;
		/* A device (tests use /dev/full) needs no private directory. */
		if (!(stat(srv.svc.cfg.audit_path, &ast) == 0 && S_ISCHR(ast.st_mode)) &&
		    parent_dir(srv.svc.cfg.audit_path, "audit directory") != 0)
			return 1;
		const struct key_set *ks = key_set_acquire(&srv.svc);
		rc = audit_open(&srv.svc.audit, &srv.svc.audit_cfg, ks, err, sizeof(err));
		key_set_release();
		if (rc != 0) {
			log_error("audit trail %s: %s", srv.svc.cfg.audit_path, err);
			return 1;
		}
		/* The data says how far the trail reached: a shorter one is refused. */
		if ((rc = read_anchor(&srv, &an)) != 0) {
			log_error("store %s: the audit anchor cannot be read: %s",
			    srv.svc.cfg.data_dir, vault_strerror(rc));
			return 1;
		}
		if (audit_check_anchor(srv.svc.audit, &an, err, sizeof(err)) != 0) {
			log_error("audit trail %s: %s", srv.svc.cfg.audit_path, err);
			log_error("not starting (VAULT_E_AUDIT): the audit trail lost entries "
			    "the data records. Keep its files for investigation, then run "
			    "`vaultd -c CONFIG --audit-acknowledge` with vaultd stopped to "
			    "record the loss in the trail and serve again");
			audit_close(srv.svc.audit);
			return 1;
		}
	} else {
		log_warn("[audit] enabled = false: requests are NOT audited");
	}
	rc = server_run(&srv);
	anchor_at_stop(&srv);
	audit_close(srv.svc.audit);
	journal_close(&srv.svc.journal);
	store_close(&srv.svc.store);
	key_set_free(key_set_take(&srv.svc));
	sodium_free(srv.svc.root);
	policy_current_destroy(&srv.svc.policy);
	if (rc != 0) {
		log_error("stopped with error: %s", vault_strerror(rc));
		return 1;
	}
	return 0;
}
