/*
 * config.h - vaultd's configuration: defaults, the INI file, and checks.
 *
 * Every option is documented in vaultd.conf.example; the defaults are the
 * development setup of `make run` (everything under ./var).
 */
#ifndef VAULT_CONFIG_H
#define VAULT_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

/* [storage] backend */
enum config_backend { CONFIG_BACKEND_LMDB, CONFIG_BACKEND_POSTGRESQL };

struct config {
	/* [server] */
	char socket_path[256];
	unsigned workers;
	unsigned max_connections;
	unsigned max_pending_per_connection;
	unsigned max_connections_per_uid;
	unsigned idle_timeout_seconds;
	unsigned request_timeout_seconds;
	unsigned busy_poll_us;     /* workers poll this long before sleeping; 0: off */
	size_t max_frame_bytes;
	size_t max_queued_write_bytes;
	size_t max_buffered_bytes;         /* connection buffers, all uids; 0: from RAM */
	size_t max_buffered_bytes_per_uid; /* connection buffers of one uid; 0: derived */
	char node_name[64];    /* this vaultd among the nodes on one database; "": hostname */
	/* [storage] */
	int storage_backend;   /* enum config_backend */
	char data_dir[256];
	size_t map_size_bytes;
	char postgresql[1024]; /* libpq conninfo (may hold a password: never logged) */
	unsigned postgresql_connections; /* pool size; 0: derived from workers */
	char backup_dir[256];
	unsigned group_commit_max;
	/* [keys] */
	char keyring_path[256];
	char root_key_path[256];
	int root_key_path_set; /* set in the file: a systemd credential is not used */
	char deletion_journal_path[256];
	int dev_create_keys;   /* create root key and ring if both are absent */
	/* Take and verify a backup in backup_dir before an epoch is retired
	 * (rotation.h); LMDB only, default on. */
	int backup_before_retire;
	/* A ring sealed by a PKCS#11 token (keys/keyring_pkcs11.h): the module
	 * (a path or a p11-kit name), the labels the ring must name (empty:
	 * the ring's), the PIN file (empty: the credential pkcs11.pin, else
	 * vaultd starts sealed until `vaultctl unseal` gives the PIN). */
	char pkcs11_module[256];
	char pkcs11_token[40];
	char pkcs11_key[72];
	char pkcs11_pin_file[256];
	unsigned rotation_interval_seconds; /* 0: rotate only on command */
	unsigned rotation_batch;            /* records per rewrap transaction */
	/* [limits] */
	size_t max_document_bytes;
	unsigned max_documents_per_record;
	unsigned max_tokens_per_request;
	unsigned max_fields_per_request;
	unsigned token_issue_per_minute;    /* deterministic + card tokens, per client */
	unsigned token_failures_per_minute; /* tokens that did not resolve, per client */
	/* [audit] */
	int audit_enabled;
	char audit_path[256];        /* empty: audit/audit.log beside data_dir */
	size_t audit_max_file_bytes;
	unsigned audit_sync_interval_ms;
	size_t audit_reserve_bytes;  /* preallocated for a full disk; 0: none */
	/* [policy] */
	char policy_file[256]; /* empty: only with --dev (open development policy) */
	/* [log] */
	int log_level;         /* enum log_level (log.h): lines below are dropped */
	/* [records] */
	char default_calling_code[8];
	/* [privacy] */
	unsigned verify_threshold[3]; /* points to verify: delete, know, opt_out */
	unsigned verify_attempts;     /* failed verifications before rejection */
	unsigned verify_per_minute;   /* verification attempts per client */
	unsigned verify_failures_per_hour; /* failed verifications per client */
	unsigned verify_identity_failures; /* per claimed name, across requests */
	unsigned verify_identity_window;   /* seconds that count is kept */
	unsigned verify_identity_open;     /* open requests trying one name */
	unsigned deletion_ack_seconds;     /* a deletion notice unacknowledged longer is overdue */
};

void config_defaults(struct config *c);
/*
 * Read path (INI) over the current values. On error returns VAULT_E_CONFIG
 * and writes a message naming the line and option to err.
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Fill options left empty from others: the deletion journal sits beside
 * the key ring, backups beside the data directory; the buffer budgets
 * from physical memory and max_frame_bytes; node_name from the host name. */
void config_derive(struct config *c);
/* Whether ch may be in [server] node_name: A-Z a-z 0-9 . _ - */
int config_node_char(char ch);
/* Check ranges and relations between options. */
int config_check(const struct config *c, char *err, size_t errlen);

#endif
