/*
 * fuzz-config.c - the configuration file (vault/config.h): the input is
 * written to a file and taken through what vaultd's main() does with one:
 * config_defaults(), config_load() (inih), config_derive(), config_check().
 *
 * Invariants:
 *   - config_load() returns 0 or VAULT_E_CONFIG, and on error leaves a
 *     NUL-terminated, non-empty message;
 *   - success implies config_check() passes, before and after
 *     config_derive(), and the relations it states hold in exact
 *     arithmetic (documents leave 4K of the frame); strings are
 *     NUL-terminated, the paths non-empty, the calling code 1-3 digits;
 *   - loading the same file again over the result changes nothing;
 *   - an error about [storage] postgresql never quotes a value (a
 *     connection string may hold a password); backend = postgresql comes
 *     with a connection string, lmdb without, and a pool of 2..256.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vault/vault.h>

#include "vault/config.h"

#include "fuzz.h"

static char dir[PATH_MAX];
static char path[PATH_MAX + 16];

static void
teardown(void)
{
	fuzz_rmtree(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_tmpdir(dir, "config");
	snprintf(path, sizeof(path), "%s/vaultd.conf", dir);
	atexit(teardown);
	return 0;
}

static void
check_string(const char *s, size_t cap, const char *name)
{
	size_t n = strnlen(s, cap);
	fuzz_assert(n < cap, "%s is not NUL-terminated", name);
	fuzz_assert(n > 0, "%s is empty", name);
}

static void
check_config(const struct config *c)
{
	char err[512];
	fuzz_assert(config_check(c, err, sizeof(err)) == 0, "config_check refuses a derived configuration: %s", err);
	check_string(c->socket_path, sizeof(c->socket_path), "socket_path");
	check_string(c->data_dir, sizeof(c->data_dir), "data_dir");
	check_string(c->keyring_path, sizeof(c->keyring_path), "keyring_path");
	check_string(c->root_key_path, sizeof(c->root_key_path), "root_key_path");
	check_string(c->deletion_journal_path, sizeof(c->deletion_journal_path), "deletion_journal_path");
	check_string(c->backup_dir, sizeof(c->backup_dir), "backup_dir");
	check_string(c->audit_path, sizeof(c->audit_path), "audit_path");
	check_string(c->default_calling_code, sizeof(c->default_calling_code), "default_calling_code");
	fuzz_assert(strnlen(c->policy_file, sizeof(c->policy_file)) < sizeof(c->policy_file),
	    "policy_file is not NUL-terminated");
	size_t cc = strlen(c->default_calling_code);
	fuzz_assert(cc <= 3 && strspn(c->default_calling_code, "0123456789") == cc &&
	    c->default_calling_code[0] != '0', "calling code \"%s\"", c->default_calling_code);
	fuzz_assert(c->storage_backend == CONFIG_BACKEND_POSTGRESQL ?
	    c->postgresql[0] != '\0' : c->storage_backend == CONFIG_BACKEND_LMDB &&
	    c->postgresql[0] == '\0', "backend %d with conninfo length %zu", c->storage_backend,
	    strlen(c->postgresql));
	fuzz_assert(c->postgresql_connections >= 2 && c->postgresql_connections <= 256,
	    "postgresql_connections %u", c->postgresql_connections);
	fuzz_assert((c->dev_create_keys == 0 || c->dev_create_keys == 1) &&
	    (c->audit_enabled == 0 || c->audit_enabled == 1), "booleans not 0 or 1");
	/* "max_document_bytes must be at least 1 and leave 4K of max_frame_bytes" */
	fuzz_assert(c->max_document_bytes <= c->max_frame_bytes - 4096,
	    "max_document_bytes %zu does not leave 4K of max_frame_bytes %zu",
	    c->max_document_bytes, c->max_frame_bytes);
	/* After config_derive(): both budgets set, in order (budget.h). */
	fuzz_assert(c->max_buffered_bytes_per_uid >= c->max_frame_bytes &&
	    c->max_buffered_bytes >= c->max_buffered_bytes_per_uid,
	    "budgets %zu (per uid %zu) out of order with max_frame_bytes %zu",
	    c->max_buffered_bytes, c->max_buffered_bytes_per_uid, c->max_frame_bytes);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, again;
	char err[512];

	FILE *f = fopen(path, "wb");
	fuzz_assert(f != NULL, "cannot write %s", path);
	fuzz_assert(fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write %s", path);

	config_defaults(&c);
	memset(err, 'x', sizeof(err));
	int rc = config_load(&c, path, err, sizeof(err));
	fuzz_assert(rc == 0 || rc == VAULT_E_CONFIG, "config_load returned %d", rc);
	if (rc != 0) {
		size_t n = strnlen(err, sizeof(err));
		fuzz_assert(n > 0 && n < sizeof(err), "error message missing or unterminated");
		/* "PATH:LINE: message": the message about that option quotes nothing. */
		const char *msg = err;
		if (strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':') {
			msg = err + strlen(path) + 1;
			msg += strspn(msg, "0123456789");
			msg += strspn(msg, ": ");
		}
		fuzz_assert(strncmp(msg, "[storage] postgresql:", 21) != 0 || strchr(msg, '"') == NULL,
		    "an error quotes the PostgreSQL connection string: %s", err);
		return 0;
	}
	fuzz_assert(config_check(&c, err, sizeof(err)) == 0, "config_check refuses what config_load accepted: %s", err);

	memcpy(&again, &c, sizeof(again));
	fuzz_assert(config_load(&again, path, err, sizeof(err)) == 0, "a second load failed: %s", err);
	fuzz_assert(memcmp(&again, &c, sizeof(c)) == 0, "loading the same file twice differs");

	config_derive(&c);
	check_config(&c);

	return 0;
}
