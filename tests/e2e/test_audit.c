/*
 * test_audit.c - end-to-end: the audit trail of a real vaultd. Requests
 * that touch personal data are recorded (without it) and can be found
 * again by record, client and time; the trail verifies; and when it cannot
 * be written, no data is returned and nothing is changed (fail closed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "harness.h"

static char *
create(struct vault *v, const char *email)
{
	struct vault_record *r;
	char *tok;
	vault_record_new(&r);
	vault_record_set(r, "email", email);
	vault_record_set(r, "last_name", "Audited");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	return tok;
}

Test(audit, reads_are_recorded_without_personal_data_and_found_by_record)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	time_t t0 = time(NULL);
	char *a = create(v, "alice@audit.example"), *b = create(v, "bob@audit.example");
	const char *email[] = { "email" };
	struct vault_record *out;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, a, email, 1, 0, &out), 0);
	vault_record_free(out);
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_LEGAL, b, NULL, 0, 0, &out), 0);
	vault_record_free(out);

	struct vault_audit_filter f = { .record_token = a };
	struct vault_audit_entry *e;
	size_t n;
	cr_assert_eq(vault_audit_query(v, &f, &e, &n), 0, "%s", vault_last_message(v));
	cr_assert_eq(n, 2, "the create and the read of a");
	cr_assert_str_eq(e[0].op, "create");
	cr_assert_str_eq(e[1].op, "read");
	cr_assert_str_eq(e[1].outcome, "ok");
	cr_assert_str_eq(e[1].purpose, "transactional");
	cr_assert_str_eq(e[1].client, "tests");
	cr_assert_eq(e[1].nfields, 1);
	cr_assert_str_eq(e[1].fields[0], "email");
	cr_assert_eq(e[1].nrecords, 1);
	cr_assert(strncmp(e[1].records[0], "v1:", 3) == 0);
	cr_assert_geq(e[1].time, t0);
	vault_audit_entries_free(e, n);

	struct vault_audit_filter legal = { .purpose = "legal" };
	cr_assert_eq(vault_audit_query(v, &legal, &e, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(e[0].op, "read");
	vault_audit_entries_free(e, n);
	struct vault_audit_filter later = { .from = time(NULL) + 3600 };
	cr_assert_eq(vault_audit_query(v, &later, &e, &n), 0);
	cr_assert_eq(n, 0);
	vault_audit_entries_free(e, n);

	struct vault_audit_check chk;
	cr_assert_eq(vault_audit_verify(v, &chk), 0);
	cr_assert(chk.ok, "%s", chk.reason);
	cr_assert_geq(chk.entries, 5);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* No value ever reaches the trail. */
	char path[600];
	size_t len;
	vaultd_path(&p, "audit/audit.log", path, sizeof(path));
	char *trail = read_file_all(path, &len);
	cr_assert_not_null(trail);
	cr_assert_null(strstr(trail, "alice"));
	cr_assert_null(strstr(trail, "audit.example"));
	cr_assert_null(strstr(trail, "Audited"));
	cr_assert_not_null(strstr(trail, "\"op\":\"read\""));
	free(trail);
	vault_free(a);
	vault_free(b);
	vaultd_cleanup(&p);
}

Test(audit, an_unwritable_trail_returns_nothing)
{
	struct vaultd_proc p;
	struct vault *v;
	/* Start normally, make a record, then restart on a trail that cannot
	 * be written (/dev/full fails every write with ENOSPC). */
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *tok = create(v, "carol@audit.example");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	FILE *f = fopen(p.config, "a");
	fputs("[audit]\npath = /dev/full\n", f);
	fclose(f);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_eq(vault_ping(v), 0, "ping touches no personal data: not audited");
	struct vault_record *out = NULL;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok, NULL, 0, 0, &out),
	    VAULT_E_AUDIT, "no data without its audit entry");
	cr_assert_null(out);
	char *other = NULL;
	struct vault_record *r;
	vault_record_new(&r);
	vault_record_set(r, "email", "dave@audit.example");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &other), VAULT_E_AUDIT);
	vault_record_free(r);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, tok,
	    VAULT_DELETE_SUBJECT_REQUEST), VAULT_E_AUDIT);
	struct vault_status st;
	cr_assert_eq(vault_status(v, &st), 0);
	cr_assert_eq(st.records, 1, "nothing was created or deleted");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	vault_free(tok);
	vaultd_cleanup(&p);
}
