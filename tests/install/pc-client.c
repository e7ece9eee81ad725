/*
 * pc-client.c - an out-of-tree program of the kind a service writes: built
 * by tests/install/pkgconfig.sh with nothing but
 *   cc pc-client.c $(pkg-config --cflags --libs vaultclient)
 * against the installed header and library, run against a real vaultd.
 * It connects with vault_connect(NULL), so through VAULT_SOCKET (the
 * library's default socket otherwise), pings, creates a record and reads
 * it back. Prints "pc-client ok" and exits 0, or says what failed.
 */
#include <stdio.h>
#include <string.h>

#include <vault/vault.h>

static int
fail(const char *what, int rc, struct vault *v)
{
	fprintf(stderr, "pc-client: %s: %s: %s\n", what, vault_error_name(rc),
	    v != NULL ? vault_last_message(v) : "");
	return 1;
}

int
main(void)
{
	struct vault *v = NULL;
	struct vault_record *in = NULL, *out = NULL;
	char *token = NULL;
	int rc;

	if ((rc = vault_connect(NULL, &v)) != 0)
		return fail("connect ($VAULT_SOCKET)", rc, NULL);
	if ((rc = vault_ping(v)) != 0)
		return fail("ping", rc, v);
	if ((rc = vault_record_new(&in)) != 0 ||
	    (rc = vault_record_set(in, "first_name", "Jane")) != 0 ||
	    (rc = vault_record_set(in, "email", "jane@example.com")) != 0)
		return fail("record", rc, v);
	if ((rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, in, &token)) != 0)
		return fail("create", rc, v);
	if (strncmp(token, "rec_", 4) != 0) {
		fprintf(stderr, "pc-client: create returned no record token\n");
		return 1;
	}
	if ((rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, token, NULL, 0, 0, &out)) != 0)
		return fail("read", rc, v);
	const char *email = vault_record_get(out, "email");
	const char *name = vault_record_get(out, "first_name");
	if (email == NULL || strcmp(email, "jane@example.com") != 0 ||
	    name == NULL || strcmp(name, "Jane") != 0) {
		fprintf(stderr, "pc-client: read did not return what create stored\n");
		return 1;
	}
	vault_record_free(in);
	vault_record_free(out);
	vault_free(token);
	vault_close(v);
	printf("pc-client ok\n");
	return 0;
}
