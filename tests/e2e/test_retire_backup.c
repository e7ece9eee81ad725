/*
 * test_retire_backup.c - end-to-end: [keys] backup_before_retire (the
 * default) on the real vaultd (LMDB). A retire takes and verifies a backup
 * first; that backup alone brings every live record back after the whole
 * data directory is lost, and no deleted one; a backup taken before the
 * retire is listed as unusable since it and a restore of it is refused
 * without --force, saying the counts; a retire whose backup cannot be
 * written is refused and changes nothing, and status shows it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <vault/vault.h>

#include "harness.h"

#define N 30

static char *
create(struct vault *v, int i)
{
	struct vault_record *r;
	char email[64], name[32], *tok;
	snprintf(email, sizeof(email), "person%d@retire.example", i);
	snprintf(name, sizeof(name), "Person%d", i);
	vault_record_new(&r);
	vault_record_set(r, "first_name", name);
	vault_record_set(r, "email", email);
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "create: %s",
	    vault_last_message(v));
	vault_record_free(r);
	return tok;
}

/* Every record reads back its own email, or is deleted if dead[i]. */
static void
check_records(struct vaultd_proc *p, char **toks, const int *dead, const char *when)
{
	struct vault *v;
	char email[64];
	cr_assert_eq(vault_connect(p->socket, &v), 0);
	for (int i = 0; i < N; i++) {
		struct vault_record *out;
		const char *want[] = { "email" };
		int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, toks[i], want, 1, 0, &out);
		if (dead[i]) {
			cr_assert_eq(rc, VAULT_E_DELETED, "%s: deleted record %d came back (%s)",
			    when, i, vault_error_name(rc));
			continue;
		}
		cr_assert_eq(rc, 0, "%s: live record %d lost (%s)", when, i, vault_error_name(rc));
		snprintf(email, sizeof(email), "person%d@retire.example", i);
		cr_assert_str_eq(vault_record_get(out, "email"), email, "%s: record %d", when, i);
		vault_record_free(out);
	}
	vault_close(v);
}

static void
rotate(struct vault *v)
{
	uint32_t ver;
	cr_assert_eq(vault_keys_rotate(v, "kek", &ver), 0, "%s", vault_last_message(v));
	vault_keys_status_free(vaultd_wait_rotation(v, 60));
}

/* keys_retire through the JSON call, for the reply's "backup". */
static int
retire(struct vault *v, uint32_t epoch, json_t **reply)
{
	char args[64], *res = NULL;
	snprintf(args, sizeof(args), "{\"epoch\": %u}", epoch);
	int rc = vault_call_json(v, "keys_retire", 0, args, &res);
	*reply = rc == 0 ? json_loads(res, 0, NULL) : NULL;
	vault_free(res);
	return rc;
}

/* vaultd --restore file [--force] with vaultd stopped: exit status; out its output. */
static int
run_restore(const struct vaultd_proc *p, const char *file, int force, char **out)
{
	char outpath[600];
	size_t n;
	int st;
	vaultd_path(p, "restore.out", outpath, sizeof(outpath));
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(getenv("VAULTD"), "vaultd", "-c", p->config, "--restore", file,
		    force ? "--force" : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	*out = read_file_all(outpath, &n);
	cr_assert_not_null(*out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *
ctl(const struct vaultd_proc *p, const char *const *args, int want_exit)
{
	struct proc_run r;
	vaultctl_run(&r, p->socket, NULL, args, 0);
	assert_exit(&r, want_exit);
	char *out = strdup(r.out);
	proc_run_free(&r);
	return out;
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

Test(retire_backup, retire_backup_restores_every_live_record_after_losing_the_data_dir,
    .timeout = 240)
{
	struct vaultd_proc p;
	struct vault *v;
	char *toks[N], path[600], old[600], cmd[1400];
	int dead[N] = { 0 };
	json_t *reply;

	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	for (int i = 0; i < N; i += 3) {
		cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[i],
		    VAULT_DELETE_SUBJECT_REQUEST), 0, "%s", vault_last_message(v));
		dead[i] = 1;
	}
	/* A backup by hand, under epoch 1: the one an operator shipped yesterday. */
	cr_assert_eq(vault_backup(v, "before-retire", NULL, NULL), 0, "%s", vault_last_message(v));
	rotate(v);
	cr_assert_eq(retire(v, 1, &reply), 0, "retire: %s", vault_last_message(v));
	const char *bname = json_string_value(json_object_get(reply, "backup"));
	cr_assert_not_null(bname, "the retire names the backup it took");
	cr_assert(strncmp(bname, "retire-1-", 9) == 0, "%s", bname);
	snprintf(cmd, sizeof(cmd), "backups/%s", bname);
	vaultd_path(&p, cmd, path, sizeof(path));
	vaultd_path(&p, "backups/before-retire", old, sizeof(old));
	json_decref(reply);

	/* The list: the old backup unusable since the retire, the new one usable. */
	char *out = ctl(&p, ARGS("backup", "list"), 0);
	cr_assert_not_null(strstr(out, "before-retire: taken"), "%s", out);
	cr_assert_not_null(strstr(out, "epochs needed: 1; unusable since retire of epoch 1 at 20"),
	    "%s", out);
	cr_assert_not_null(strstr(out, "epochs needed: 2; usable now"), "%s", out);
	char want[300];
	snprintf(want, sizeof(want), "newest usable: %s (", strrchr(path, '/') + 1);
	cr_assert_not_null(strstr(out, want), "%s", out);
	free(out);
	out = ctl(&p, ARGS("keys", "status"), 0);
	snprintf(want, sizeof(want), "newest usable backup: %s", strrchr(path, '/') + 1);
	cr_assert_not_null(strstr(out, want), "%s", out);
	free(out);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* The disk dies: the whole data directory is gone. A fresh instance
	 * with the same key ring starts empty. */
	char data[600];
	vaultd_path(&p, "data", data, sizeof(data));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
	cr_assert_eq(system(cmd), 0);
	vaultd_restart(&p);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* The backup taken before the retire can restore nothing: refused, with the counts. */
	int rc = run_restore(&p, old, 0, &out);
	cr_assert_eq(rc, 1, "exit %d: %s", rc, out);
	char counts[200];
	snprintf(counts, sizeof(counts), "holds %d records: 0 can be decrypted with the current "
	    "key ring, 0 only with the live data file's data keys, %d cannot be decrypted",
	    N - (N + 2) / 3, N - (N + 2) / 3);
	cr_assert_not_null(strstr(out, counts), "%s", out);
	cr_assert_not_null(strstr(out, "--force"), "%s", out);
	cr_assert_not_null(strstr(out, "Nothing was changed"), "%s", out);
	free(out);

	/* The retire's backup: everything. */
	rc = run_restore(&p, path, 0, &out);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
	snprintf(counts, sizeof(counts), "holds %d records: %d can be decrypted with the current "
	    "key ring, 0 only with the live data file's data keys, 0 cannot be decrypted",
	    N - (N + 2) / 3, N - (N + 2) / 3);
	cr_assert_not_null(strstr(out, counts), "%s", out);
	free(out);
	vaultd_restart(&p);
	check_records(&p, toks, dead, "after the restore of the retire's backup");
	vaultd_finish(&p);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
}

Test(retire_backup, retire_with_an_unwritable_backup_dir_is_refused_and_changes_nothing,
    .timeout = 240)
{
	struct vaultd_proc p;
	struct vault *v;
	char *toks[N], blocker[600];
	int dead[N] = { 0 };
	json_t *reply;

	/* backup_dir under a regular file: no one, root included, can create it. */
	vaultd_prepare(&p, NULL);
	vaultd_path(&p, "blocker", blocker, sizeof(blocker));
	FILE *f = fopen(blocker, "w");
	cr_assert_not_null(f);
	fclose(f);
	f = fopen(p.config, "a");
	cr_assert_not_null(f);
	fprintf(f, "[storage]\nbackup_dir = %s/backups\n", blocker);
	fclose(f);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[0],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	dead[0] = 1;
	rotate(v);

	cr_assert_eq(retire(v, 1, &reply), VAULT_E_BACKUP, "retire without a backup");
	cr_assert_not_null(strstr(vault_last_message(v), "backup_before_retire"), "%s",
	    vault_last_message(v));
	cr_assert_not_null(strstr(vault_last_message(v), "nothing changed"), "%s",
	    vault_last_message(v));
	/* Nothing changed: epoch 1 is still in the ring, every record reads. */
	struct vault_keys_status *ks;
	cr_assert_eq(vault_keys_status(v, &ks), 0);
	int has1 = 0;
	for (size_t i = 0; i < ks->nkek; i++)
		has1 |= ks->kek[i].version == 1;
	cr_assert(has1, "epoch 1 survives the refused retire");
	cr_assert_eq(ks->retire_refused_epoch, 1);
	cr_assert_neq(ks->retire_refused_since, 0);
	vault_keys_status_free(ks);
	check_records(&p, toks, dead, "after the refused retire");
	cr_assert_eq(vaultd_wait_log(&p, "retire of epoch 1 refused (VAULT_E_BACKUP)", 1, 5), 1);

	/* Status, keys status and the metrics show it. */
	char *out = ctl(&p, ARGS("status"), 0);
	cr_assert_not_null(strstr(out, "retire of epoch 1 refused since"), "%s", out);
	free(out);
	out = ctl(&p, ARGS("keys", "status"), 0);
	cr_assert_not_null(strstr(out, "retire of epoch 1 refused since"), "%s", out);
	free(out);
	out = ctl(&p, ARGS("metrics"), 0);
	cr_assert_not_null(strstr(out, "vault_retire_refused_since_timestamp_seconds 1"), "%s",
	    out);
	free(out);

	/* The directory can be made: the retire goes through and the refusal ends. */
	cr_assert_eq(unlink(blocker), 0);
	cr_assert_eq(mkdir(blocker, 0700), 0);
	cr_assert_eq(retire(v, 1, &reply), 0, "%s", vault_last_message(v));
	cr_assert_not_null(json_string_value(json_object_get(reply, "backup")));
	json_decref(reply);
	out = ctl(&p, ARGS("status"), 0);
	cr_assert_not_null(strstr(out, "backups: ok"), "%s", out);
	free(out);
	check_records(&p, toks, dead, "after the retire");
	vault_close(v);
	vaultd_finish(&p);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
}

/* ---- a backup with the earlier trailer (VAULTBK1) ------------------------ */

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Rewrite the VAULTBK2 backup at from as the VAULTBK1 file to (PROTOCOL.md 13). */
static void
downgrade(const char *from, const char *to)
{
	size_t n;
	uint8_t *b = (uint8_t *)read_file_all(from, &n);
	cr_assert_not_null(b);
	cr_assert_eq(memcmp(b + n - 8, "VAULTBKE", 8), 0);
	size_t t = n - 12 - get32(b + n - 12);
	cr_assert_eq(memcmp(b + t, "VAULTBK2", 8), 0);
	uint32_t ne = get32(b + t + 32);
	uint8_t *v1 = malloc(t + 36 + 4 * ne + 64 + 12), *q = v1 + t;
	memcpy(v1, b, t + 36); /* the copy, then magic .. nepochs */
	memcpy(q, "VAULTBK1", 8);
	size_t k = 36;
	for (uint32_t i = 0; i < ne; i++, k += 4)
		put32(q + k, get32(b + t + 36 + 12 * i));
	memcpy(q + k, b + t + 36 + 12 * ne + 4, 32); /* the copy's hash */
	k += 32;
	crypto_generichash(q + k, 32, q, k, NULL, 0);
	k += 32;
	put32(q + k, (uint32_t)k);
	memcpy(q + k + 4, "VAULTBKE", 8);
	int fd = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, v1, t + k + 12), (ssize_t)(t + k + 12));
	close(fd);
	free(v1);
	free(b);
}

Test(retire_backup, earlier_trailer_is_listed_and_restores_with_the_live_keys, .timeout = 240)
{
	struct vaultd_proc p;
	struct vault *v;
	char *toks[N], *bpath = NULL, v1[600], *out;
	int dead[N] = { 0 };
	json_t *reply;

	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	cr_assert_eq(vault_backup(v, "v2", &bpath, NULL), 0, "%s", vault_last_message(v));
	vaultd_path(&p, "backups/v1", v1, sizeof(v1));
	downgrade(bpath, v1);
	out = ctl(&p, ARGS("backup", "list"), 0);
	cr_assert_not_null(strstr(out, "v1: taken"), "%s", out);
	cr_assert_not_null(strstr(out, "records, epochs needed: 1; usable now"), "%s", out);
	free(out);
	rotate(v);
	cr_assert_eq(retire(v, 1, &reply), 0, "%s", vault_last_message(v));
	json_decref(reply);
	out = ctl(&p, ARGS("--json", "backup", "list"), 0);
	json_t *j = json_loads(out, 0, NULL);
	size_t i;
	json_t *e;
	int seen = 0;
	json_array_foreach(json_object_get(j, "list"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "name")), "v1") != 0)
			continue;
		seen = 1;
		cr_assert_str_eq(json_string_value(json_object_get(e, "state")), "unusable", "%s", out);
		cr_assert_eq(json_integer_value(json_object_get(e, "format")), 1);
		cr_assert_eq(json_integer_value(json_object_get(e, "retired_epoch")), 1);
		cr_assert(json_is_string(json_object_get(e, "unusable_since")), "%s", out);
	}
	cr_assert(seen, "%s", out);
	json_decref(j);
	free(out);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* The live data file holds its records under epoch 2: it restores. */
	int rc = run_restore(&p, v1, 0, &out);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
	char counts[200];
	snprintf(counts, sizeof(counts), "holds %d records: 0 can be decrypted with the current "
	    "key ring, %d only with the live data file's data keys, 0 cannot be decrypted "
	    "(they need retired key epochs: 1)", N, N);
	cr_assert_not_null(strstr(out, counts), "%s", out);
	free(out);
	vaultd_restart(&p);
	check_records(&p, toks, dead, "after the restore of a VAULTBK1 backup");
	vaultd_finish(&p);
	vault_free(bpath);
	for (int k2 = 0; k2 < N; k2++)
		vault_free(toks[k2]);
}

/* ---- the schedule's retire, refused, retried ----------------------------- */

Test(retire_backup, scheduled_retire_without_a_backup_is_retried_until_it_can_be_taken,
    .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	char *toks[N], blocker[600];
	int dead[N] = { 0 };

	vaultd_prepare(&p, NULL);
	vaultd_path(&p, "blocker", blocker, sizeof(blocker));
	FILE *f = fopen(blocker, "w");
	cr_assert_not_null(f);
	fclose(f);
	f = fopen(p.config, "a");
	cr_assert_not_null(f);
	fprintf(f, "[storage]\nbackup_dir = %s/backups\n[keys]\nrotation_interval_seconds = 2\n",
	    blocker);
	fclose(f);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	/* No usable backup at all, with a schedule: said once. */
	cr_assert_eq(vaultd_wait_log(&p, "no usable backup in", 1, 10), 1);
	/* The scheduled rotation runs, its retire is refused and waits. */
	cr_assert_eq(vaultd_wait_log(&p, "refused (VAULT_E_BACKUP)", 1, 30), 1);
	size_t loglen;
	char *log = read_file_all(p.log, &loglen);
	cr_assert(log != NULL && strstr(log, "the schedule retries with backoff") != NULL);
	free(log);
	char *out = ctl(&p, ARGS("status"), 0);
	cr_assert_not_null(strstr(out, "refused since"), "%s", out);
	free(out);
	out = ctl(&p, ARGS("metrics"), 0);
	cr_assert_not_null(strstr(out, "vault_backup_stale 1"), "%s", out);
	free(out);
	check_records(&p, toks, dead, "while the retire is refused");

	/* backup_dir can be made: the next try takes the backup and retires. */
	cr_assert_eq(unlink(blocker), 0);
	cr_assert_eq(mkdir(blocker, 0700), 0);
	cr_assert_eq(vaultd_wait_log(&p, "the backup before the retire succeeded", 1, 60), 1);
	out = ctl(&p, ARGS("keys", "status"), 0);
	cr_assert_null(strstr(out, "refused since"), "%s", out);
	cr_assert_not_null(strstr(out, "newest usable backup: retire-"), "%s", out);
	free(out);
	check_records(&p, toks, dead, "after the scheduled retire");
	vault_close(v);
	vaultd_finish(&p);
	for (int i = 0; i < N; i++)
		vault_free(toks[i]);
}
