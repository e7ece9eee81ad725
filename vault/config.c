/*
 * config.c - configuration parsing with inih (see config.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>
#include <vault/vault.h>

#include "common/paths.h"
#include "common/units.h"
#include "config.h"
#include "keys/pkcs11.h"
#include "log.h"

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->socket_path, sizeof(c->socket_path), "%s", VAULT_SOCKET_PATH);
	c->workers = 2;
	c->max_connections = 1024;
	c->max_pending_per_connection = 128;
	c->max_connections_per_uid = 256;
	c->idle_timeout_seconds = 300;
	c->request_timeout_seconds = 10;
	c->max_frame_bytes = 4u << 20;
	c->max_queued_write_bytes = 256u << 20;
	snprintf(c->data_dir, sizeof(c->data_dir), "%s", VAULT_DATA_DIR);

	c->map_size_bytes = (size_t)16 << 30;
	c->group_commit_max = 512;
	snprintf(c->keyring_path, sizeof(c->keyring_path), "%s", VAULT_KEYRING_PATH);
	snprintf(c->root_key_path, sizeof(c->root_key_path), "%s", VAULT_ROOT_KEY_PATH);

	c->dev_create_keys = 0;
	c->backup_before_retire = 1;
	c->log_level = LOG_LEVEL_INFO;
	c->rotation_batch = 2000;
	c->verify_threshold[0] = 3; /* delete: the privacy policy's "at least three" */
	c->verify_threshold[1] = 3; /* know: the export holds everything */
	c->verify_threshold[2] = 2; /* opt_out: only stops marketing */
	c->verify_attempts = 5;
	c->verify_per_minute = 30;
	c->verify_failures_per_hour = 60;
	c->verify_identity_failures = 10;
	c->verify_identity_window = 86400;
	c->verify_identity_open = 3;
	c->deletion_ack_seconds = 7 * 86400;
	c->audit_enabled = 1;
	c->audit_max_file_bytes = 64u << 20;
	c->audit_sync_interval_ms = 200;
	c->audit_reserve_bytes = 64u << 20; /* ~200,000 entries (audit.h) */
	c->max_document_bytes = 1u << 20;
	c->max_documents_per_record = 16;
	c->max_tokens_per_request = 1024;
	c->max_fields_per_request = 64;
	/*
	 * Deterministic and card tokens tied to a value, per client and minute:
	 * far above what a service issues while serving customers; the 10^5
	 * guesses that recover a card number from its last four take a client
	 * with a join grant ten minutes, and the alert comes in the first.
	 */
	c->token_issue_per_minute = 10000;
	/*
	 * Failed resolutions (forged or unknown deterministic and card tokens):
	 * a service that keeps its tokens rarely sends one that does not
	 * resolve; enumerating card tokens needs ~10^8 (PROTOCOL.md 10.2).
	 */
	c->token_failures_per_minute = 1000;
	snprintf(c->default_calling_code, sizeof(c->default_calling_code), "1");
}

struct parse_state {
	struct config *c;
	char *err;
	size_t errlen;
	int failed;   /* line of our first error, or 0 */
	FILE *f;
	int line;     /* line the reader returned last */
};

/*
 * inih's line reader, counting lines so an error names its own line, and
 * refusing lines longer than inih's buffer (it would split them silently).
 */
static char *
read_line(char *str, int num, void *stream)
{
	struct parse_state *ps = stream;
	if (fgets(str, num, ps->f) == NULL)
		return NULL;
	ps->line++;
	size_t n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n' && !feof(ps->f)) {
		int ch;
		while ((ch = fgetc(ps->f)) != EOF && ch != '\n')
			;
		if (!ps->failed) {
			snprintf(ps->err, ps->errlen, "line longer than %d bytes", num - 2);
			ps->failed = ps->line;
		}
		str[0] = '\0';
	}
	return str;
}

static int
parse_size(const char *v, size_t *out)
{
	uint64_t n;
	if (units_parse_size(v, &n) != 0 || n > SIZE_MAX)
		return -1;
	*out = (size_t)n;
	return 0;
}

static int
parse_uint(const char *v, unsigned *out)
{
	size_t n;
	if (parse_size(v, &n) != 0 || n > 0xffffffffu)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static int
parse_bool(const char *v, int *out)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static int
copy_str(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n >= cap)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

/* K_SECRET: a string whose value is never echoed (it may hold a password). */
enum kind { K_STR, K_UINT, K_SIZE, K_BOOL, K_LOG_LEVEL, K_BACKEND, K_SECRET };

struct option {
	const char *section, *name;
	enum kind kind;
	size_t offset, cap;
};

#define O(sec, field, kind) { sec, #field, kind, offsetof(struct config, field), \
	sizeof(((struct config *)0)->field) }

static const struct option options[] = {
	O("server", socket_path, K_STR),
	O("server", node_name, K_STR),
	O("server", workers, K_UINT),
	O("server", max_connections, K_UINT),
	O("server", max_pending_per_connection, K_UINT),
	O("server", max_connections_per_uid, K_UINT),
	O("server", idle_timeout_seconds, K_UINT),
	O("server", request_timeout_seconds, K_UINT),
	O("server", busy_poll_us, K_UINT),
	O("server", max_frame_bytes, K_SIZE),
	O("server", max_queued_write_bytes, K_SIZE),
	O("server", max_buffered_bytes, K_SIZE),
	O("server", max_buffered_bytes_per_uid, K_SIZE),
	O("storage", data_dir, K_STR),
	O("storage", map_size_bytes, K_SIZE),
	O("storage", backup_dir, K_STR),
	O("storage", group_commit_max, K_UINT),
	{ "storage", "backend", K_BACKEND, offsetof(struct config, storage_backend), sizeof(int) },
	O("storage", postgresql, K_SECRET),
	O("storage", postgresql_connections, K_UINT),
	O("keys", keyring_path, K_STR),
	O("keys", root_key_path, K_STR),
	O("keys", deletion_journal_path, K_STR),
	O("keys", dev_create_keys, K_BOOL),
	O("keys", backup_before_retire, K_BOOL),
	O("keys", rotation_interval_seconds, K_UINT),
	O("keys", rotation_batch, K_UINT),
	O("keys", pkcs11_module, K_STR),
	O("keys", pkcs11_token, K_STR),
	O("keys", pkcs11_key, K_STR),
	O("keys", pkcs11_pin_file, K_STR),
	O("limits", max_document_bytes, K_SIZE),
	O("limits", max_documents_per_record, K_UINT),
	O("limits", max_tokens_per_request, K_UINT),
	O("limits", max_fields_per_request, K_UINT),
	O("limits", token_issue_per_minute, K_UINT),
	O("limits", token_failures_per_minute, K_UINT),
	O("records", default_calling_code, K_STR),
	{ "privacy", "verify_threshold_delete", K_UINT,
	    offsetof(struct config, verify_threshold[0]), sizeof(unsigned) },
	{ "privacy", "verify_threshold_know", K_UINT,
	    offsetof(struct config, verify_threshold[1]), sizeof(unsigned) },
	{ "privacy", "verify_threshold_opt_out", K_UINT,
	    offsetof(struct config, verify_threshold[2]), sizeof(unsigned) },
	{ "privacy", "verify_attempts", K_UINT, offsetof(struct config, verify_attempts),
	    sizeof(unsigned) },
	{ "privacy", "verify_per_minute", K_UINT, offsetof(struct config, verify_per_minute),
	    sizeof(unsigned) },
	{ "privacy", "verify_failures_per_hour", K_UINT,
	    offsetof(struct config, verify_failures_per_hour), sizeof(unsigned) },
	{ "privacy", "verify_identity_failures", K_UINT,
	    offsetof(struct config, verify_identity_failures), sizeof(unsigned) },
	{ "privacy", "verify_identity_window", K_UINT,
	    offsetof(struct config, verify_identity_window), sizeof(unsigned) },
	{ "privacy", "verify_identity_open", K_UINT,
	    offsetof(struct config, verify_identity_open), sizeof(unsigned) },
	{ "privacy", "deletion_ack_seconds", K_UINT,
	    offsetof(struct config, deletion_ack_seconds), sizeof(unsigned) },
	{ "audit", "enabled", K_BOOL, offsetof(struct config, audit_enabled),
	    sizeof(int) },
	{ "audit", "path", K_STR, offsetof(struct config, audit_path),
	    sizeof(((struct config *)0)->audit_path) },
	{ "audit", "max_file_bytes", K_SIZE, offsetof(struct config, audit_max_file_bytes),
	    sizeof(size_t) },
	{ "audit", "sync_interval_ms", K_UINT, offsetof(struct config, audit_sync_interval_ms),
	    sizeof(unsigned) },
	{ "audit", "reserve_bytes", K_SIZE, offsetof(struct config, audit_reserve_bytes),
	    sizeof(size_t) },
	{ "log", "level", K_LOG_LEVEL, offsetof(struct config, log_level), sizeof(int) },
	{ "policy", "file", K_STR, offsetof(struct config, policy_file),
	    sizeof(((struct config *)0)->policy_file) },
};

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *ps = user;
	if (ps->failed)
		return 0; /* inih goes on after an error: keep the first one */
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		const struct option *o = &options[i];
		if (strcmp(o->section, section) != 0 || strcmp(o->name, name) != 0)
			continue;
		char *p = (char *)ps->c + o->offset;
		int bad = 0;
		switch (o->kind) {
		case K_STR:
		case K_SECRET: bad = copy_str(p, o->cap, value); break;
		case K_BACKEND:
			if (strcmp(value, "lmdb") == 0)
				*(int *)(void *)p = CONFIG_BACKEND_LMDB;
			else if (strcmp(value, "postgresql") == 0)
				*(int *)(void *)p = CONFIG_BACKEND_POSTGRESQL;
			else
				bad = 1;
			break;
		case K_UINT: bad = parse_uint(value, (unsigned *)(void *)p); break;
		case K_SIZE: bad = parse_size(value, (size_t *)(void *)p); break;
		case K_BOOL: bad = parse_bool(value, (int *)(void *)p); break;
		case K_LOG_LEVEL: {
			enum log_level level;
			bad = log_level_parse(value, &level);
			if (!bad)
				*(int *)(void *)p = (int)level;
			break;
		}
		}
		if (bad && o->kind == K_SECRET) {
			/* The key, never the value: a conninfo may hold a password. */
			snprintf(ps->err, ps->errlen, "[%s] %s: invalid value (not shown): a value "
			    "is required and must be shorter than %zu bytes", section, name, o->cap);
			ps->failed = ps->line;
			return 0;
		}
		if (bad) {
			/* Say what would be accepted (config values hold no personal data). */
			static const char *const wanted[] = {
				[K_STR] = "a value is required (and must fit the option's length)",
				[K_UINT] = "expected a whole number (a K, M, G or T suffix "
				    "multiplies by a power of 1024)",
				[K_SIZE] = "expected " UNITS_SIZE_FORMAT,
				[K_BOOL] = "expected true or false (yes/no, 1/0)",
				[K_LOG_LEVEL] = "expected error, warning, info or debug",
				[K_BACKEND] = "expected lmdb or postgresql",
			};
			/* A kind added later without its text here still gets a message. */
			const char *want = (size_t)o->kind < sizeof(wanted) / sizeof(wanted[0]) &&
			    wanted[o->kind] != NULL ? wanted[o->kind] : "see vaultd.conf.example";
			snprintf(ps->err, ps->errlen, "[%s] %s: invalid value \"%.40s%s\": %s",
			    section, name, value, strlen(value) > 40 ? "..." : "", want);
			ps->failed = ps->line;
			return 0;
		}
		if (o->offset == offsetof(struct config, root_key_path))
			ps->c->root_key_path_set = 1;
		return 1;
	}
	snprintf(ps->err, ps->errlen, "[%s] %s: unknown option", section, name);
	ps->failed = ps->line;
	return 0;
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct parse_state ps = { c, err, errlen, 0, NULL, 0 };
	if ((ps.f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return VAULT_E_CONFIG;
	}
	int rc = ini_parse_stream(read_line, &ps, handler, &ps);
	fclose(ps.f);
	if (rc == -2) {
		snprintf(err, errlen, "%s: out of memory", path);
		return VAULT_E_CONFIG;
	}
	if (rc != 0 || ps.failed) {
		char msg[768];
		/* Report the first error: ours, or inih's syntax error. */
		if (ps.failed && (rc <= 0 || ps.failed <= rc))
			snprintf(msg, sizeof(msg), "%s:%d: %s", path, ps.failed, err);
		else
			snprintf(msg, sizeof(msg), "%s:%d: syntax error", path, rc);
		snprintf(err, errlen, "%s", msg);
		return VAULT_E_CONFIG;
	}
	return config_check(c, err, errlen);
}

/* dirname of path into out; "." if it has no slash. */
static void
dir_of(const char *path, char *out, size_t cap)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(out, cap, ".");
	else if (slash == path)
		snprintf(out, cap, "/");
	else
		snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/*
 * The default budgets. All connection buffers: an eighth of physical
 * memory, between 64 MiB and 4 GiB. One uid: a quarter of that, and at
 * least what one connection may hold at once (a frame in, a frame and a
 * reply out).
 */
static void
derive_budgets(struct config *c)
{
	int derived = c->max_buffered_bytes == 0;
	if (derived) {
		long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
		uint64_t ram = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
		uint64_t total = ram / 8;
		if (total < (64u << 20))
			total = 64u << 20;
		if (total > ((uint64_t)4 << 30))
			total = (uint64_t)4 << 30;
		c->max_buffered_bytes = (size_t)total;
	}
	if (c->max_buffered_bytes_per_uid == 0) {
		size_t floor = 3 * c->max_frame_bytes + (256u << 10);
		size_t share = c->max_buffered_bytes / 4;
		c->max_buffered_bytes_per_uid = share > floor ? share : floor;
	}
	if (derived && c->max_buffered_bytes < c->max_buffered_bytes_per_uid)
		c->max_buffered_bytes = c->max_buffered_bytes_per_uid;
}

/*
 * The default node name: the host's name, cut to what node_name allows
 * (its first label if the whole is too long; anything else becomes '-').
 */
static void
derive_node_name(struct config *c)
{
	char host[256] = "";
	if (c->node_name[0] != '\0')
		return;
	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "vaultd");
	size_t n = strlen(host);
	if (n >= sizeof(c->node_name))
		n = strcspn(host, ".");
	if (n >= sizeof(c->node_name))
		n = sizeof(c->node_name) - 1;
	for (size_t i = 0; i < n; i++)
		c->node_name[i] = config_node_char(host[i]) ? host[i] : '-';
	c->node_name[n] = '\0';
}

int
config_node_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

void
config_derive(struct config *c)
{
	char dir[256];
	derive_budgets(c);
	derive_node_name(c);
	/* A connection per worker's snapshot, the writer's batch, and a few for
	 * what runs beside them (rotation, status, the horizon's tick). */
	if (c->postgresql_connections == 0)
		c->postgresql_connections = c->workers + 4;
	if (c->deletion_journal_path[0] == '\0') {
		dir_of(c->keyring_path, dir, sizeof(dir));
		snprintf(c->deletion_journal_path, sizeof(c->deletion_journal_path),
		    "%.240s/deletions", dir);
	}
	if (c->audit_path[0] == '\0') {
		dir_of(c->data_dir, dir, sizeof(dir));
		snprintf(c->audit_path, sizeof(c->audit_path), "%.230s/audit/audit.log", dir);
	}
	if (c->backup_dir[0] == '\0') {
		dir_of(c->data_dir, dir, sizeof(dir));
		snprintf(c->backup_dir, sizeof(c->backup_dir), "%.240s/backups", dir);
	}
}

static int
node_name_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!config_node_char(*s))
			return 0;
	return 1;
}

int
config_check(const struct config *c, char *err, size_t errlen)
{
	const char *msg = NULL;
	if (c->workers < 1 || c->workers > 64)
		msg = "[server] workers must be 1..64";
	else if (c->max_connections < 1 || c->max_connections > 1000000)
		msg = "[server] max_connections must be 1..1000000";
	else if (c->max_pending_per_connection < 1 || c->max_pending_per_connection > 65536)
		msg = "[server] max_pending_per_connection must be 1..65536";
	else if (c->max_connections_per_uid < 1 || c->max_connections_per_uid > c->max_connections)
		msg = "[server] max_connections_per_uid must be 1..max_connections";
	else if (c->idle_timeout_seconds < 1 || c->idle_timeout_seconds > 86400)
		msg = "[server] idle_timeout_seconds must be 1..86400";
	else if (c->request_timeout_seconds < 1 || c->request_timeout_seconds > 3600)
		msg = "[server] request_timeout_seconds must be 1..3600";
	else if (c->busy_poll_us > 10000)
		msg = "[server] busy_poll_us must be 0..10000";
	else if (c->max_frame_bytes < (64u << 10) || c->max_frame_bytes > (256u << 20))
		msg = "[server] max_frame_bytes must be 64K..256M";
	else if (c->max_queued_write_bytes < c->max_frame_bytes)
		msg = "[server] max_queued_write_bytes must be at least max_frame_bytes";
	else if (c->max_buffered_bytes_per_uid != 0 &&
	    c->max_buffered_bytes_per_uid < c->max_frame_bytes)
		msg = "[server] max_buffered_bytes_per_uid must be at least max_frame_bytes";
	else if (c->max_buffered_bytes != 0 &&
	    c->max_buffered_bytes < c->max_buffered_bytes_per_uid)
		msg = "[server] max_buffered_bytes must be at least max_buffered_bytes_per_uid";
	else if (c->max_buffered_bytes != 0 && c->max_buffered_bytes_per_uid == 0 &&
	    c->max_buffered_bytes < 3 * c->max_frame_bytes + (256u << 10))
		msg = "[server] max_buffered_bytes must be at least 3 x max_frame_bytes + 256K";
	else if (!node_name_ok(c->node_name) || strcmp(c->node_name, ".") == 0 ||
	    strcmp(c->node_name, "..") == 0)
		msg = "[server] node_name must be 1..63 of A-Z a-z 0-9 . _ - (not . or ..)";
	else if (c->map_size_bytes < (1u << 20))
		msg = "[storage] map_size_bytes must be at least 1M";
	else if (c->group_commit_max < 1 || c->group_commit_max > 65536)
		msg = "[storage] group_commit_max must be 1..65536";
	else if (c->storage_backend == CONFIG_BACKEND_POSTGRESQL && c->postgresql[0] == '\0')
		msg = "[storage] backend = postgresql needs [storage] postgresql (a libpq "
		    "connection string)";
	else if (c->storage_backend != CONFIG_BACKEND_POSTGRESQL && c->postgresql[0] != '\0')
		msg = "[storage] postgresql is set but backend is lmdb: set backend = "
		    "postgresql or remove it";
	else if (c->postgresql_connections != 0 && (c->postgresql_connections < 2 ||
	    c->postgresql_connections > 256))
		msg = "[storage] postgresql_connections must be 0 (workers + 4) or 2..256";
	else if (c->max_document_bytes < 1 || c->max_document_bytes > c->max_frame_bytes - 4096)
		msg = "[limits] max_document_bytes must be at least 1 and leave 4K of max_frame_bytes";
	else if (c->audit_sync_interval_ms < 1 || c->audit_sync_interval_ms > 60000)
		msg = "[audit] sync_interval_ms must be 1..60000";
	else if (c->audit_max_file_bytes != 0 && c->audit_max_file_bytes < (64u << 10))
		msg = "[audit] max_file_bytes must be 0 (never rotate) or at least 64K";
	else if (c->audit_reserve_bytes != 0 && (c->audit_reserve_bytes < (4u << 10) ||
	    c->audit_reserve_bytes > ((size_t)64 << 30)))
		msg = "[audit] reserve_bytes must be 0 (no reserve) or 4K..64G";
	else if (c->rotation_batch < 1 || c->rotation_batch > 1000000)
		msg = "[keys] rotation_batch must be 1..1000000";
	else if (c->pkcs11_token[0] != '\0' && !pkcs11_label_ok(c->pkcs11_token,
	    PKCS11_TOKEN_LABEL_MAX))
		msg = "[keys] pkcs11_token must be 1 to 32 bytes, without control characters "
		    "or trailing spaces";
	else if (c->pkcs11_key[0] != '\0' && !pkcs11_label_ok(c->pkcs11_key,
	    PKCS11_KEY_LABEL_MAX))
		msg = "[keys] pkcs11_key must be 1 to 64 bytes, without control characters "
		    "or trailing spaces";
	else if (c->verify_threshold[0] < 1 || c->verify_threshold[0] > 5 ||
	    c->verify_threshold[1] < 1 || c->verify_threshold[1] > 5 ||
	    c->verify_threshold[2] < 1 || c->verify_threshold[2] > 5)
		msg = "[privacy] verify_threshold_* must be 1..5 (there are five data points)";
	else if (c->verify_attempts < 1 || c->verify_attempts > 100)
		msg = "[privacy] verify_attempts must be 1..100";
	else if (c->verify_per_minute < 1 || c->verify_per_minute > 100000)
		msg = "[privacy] verify_per_minute must be 1..100000";
	else if (c->verify_failures_per_hour < 1 || c->verify_failures_per_hour > 100000)
		msg = "[privacy] verify_failures_per_hour must be 1..100000";
	else if (c->verify_identity_failures < 1 || c->verify_identity_failures > 1000)
		msg = "[privacy] verify_identity_failures must be 1..1000";
	else if (c->verify_identity_window < 60 || c->verify_identity_window > 90 * 86400)
		msg = "[privacy] verify_identity_window must be 60..7776000 seconds";
	else if (c->verify_identity_open < 1 || c->verify_identity_open > 16)
		msg = "[privacy] verify_identity_open must be 1..16";
	else if (c->deletion_ack_seconds < 1 || c->deletion_ack_seconds > 366 * 86400)
		msg = "[privacy] deletion_ack_seconds must be 1..31622400";
	else if (c->max_documents_per_record > 64)
		msg = "[limits] max_documents_per_record must be 0..64";
	else if (c->max_tokens_per_request < 1 || c->max_tokens_per_request > 100000)
		msg = "[limits] max_tokens_per_request must be 1..100000";
	else if (c->max_fields_per_request < 1 || c->max_fields_per_request > 1024)
		msg = "[limits] max_fields_per_request must be 1..1024";
	else if (c->token_issue_per_minute < 1 || c->token_issue_per_minute > 100000000)
		msg = "[limits] token_issue_per_minute must be 1..100000000";
	else if (c->token_failures_per_minute < 1 || c->token_failures_per_minute > 100000000)
		msg = "[limits] token_failures_per_minute must be 1..100000000";
	else if (strspn(c->default_calling_code, "0123456789") != strlen(c->default_calling_code) ||
	    strlen(c->default_calling_code) > 3 || c->default_calling_code[0] == '0')
		msg = "[records] default_calling_code must be 1-3 digits";
	if (msg != NULL) {
		snprintf(err, errlen, "%s", msg);
		return VAULT_E_CONFIG;
	}
	return 0;
}

