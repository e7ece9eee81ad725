/*
 * test_keys.c - end-to-end: the key ring at work. Rotation and retirement
 * while the service runs, the erasure guarantee against every copy of the
 * data, backup and restore with the deletion journal, resuming a rotation
 * after SIGKILL, and plain errors for bad key material.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <lmdb.h>
#include <sodium.h>
#include <vault/vault.h>

#include "erasure_scan.h"
#include "harness.h"
#include "keys/keyring.h"
#include "vault/crypto/seal.h"
#include "vault/crypto/token.h"
#include "vault/store/record_codec.h"
#include "vault/store/store.h"

static char *
create(struct vault *v, int i)
{
	struct vault_record *r;
	char email[64], name[32], *tok;
	snprintf(email, sizeof(email), "person%d@erasure.example", i);
	snprintf(name, sizeof(name), "Person%d", i);
	vault_record_new(&r);
	vault_record_set(r, "first_name", name);
	vault_record_set(r, "email", email);
	vault_record_set(r, "phone", "+14155550123");
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	cr_assert_eq(rc, 0, "create: %s", vault_last_message(v));
	vault_record_free(r);
	return tok;
}

static void
expect_email(struct vault *v, const char *tok, int i)
{
	char email[64];
	snprintf(email, sizeof(email), "person%d@erasure.example", i);
	expect_field(v, tok, "email", email, i);
}

/* The stored form of record id in the LMDB file at path (copied). */
static uint8_t *
stored_record(const char *path, uint64_t id, size_t *len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint8_t kb[8];
	uint8_t *copy = NULL;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	cr_assert_eq(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "records", 0, &dbi), 0);
	store_put_id(kb, id);
	MDB_val k = { 8, kb }, v;
	if (mdb_get(txn, dbi, &k, &v) == 0) {
		copy = malloc(v.mv_size);
		memcpy(copy, v.mv_data, v.mv_size);
		*len = v.mv_size;
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return copy;
}

static uint64_t
token_id(const struct token_keys *tk, const char *tok)
{
	struct token_ref ref;
	cr_assert_eq(token_parse(tk, tok, strlen(tok), &ref), 0);
	return ref.record_id;
}

Test(keys, erasure_holds_in_every_copy_and_restore_keeps_deletions, .timeout = 300)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 30, VICTIM = 7 };
	char *toks[N + 5];
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);

	/* A backup, then a deletion, then rotate and retire. */
	char *bpath = NULL;
	uint64_t bbytes = 0;
	cr_assert_eq(vault_backup(v, "before-delete", &bpath, &bbytes), 0, "%s",
	    vault_last_message(v));
	cr_assert_gt(bbytes, 0);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, toks[VICTIM],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	for (int i = N; i < N + 5; i++) /* written after the backup */
		toks[i] = create(v, i);
	uint64_t remaining = 0;
	cr_assert_eq(vault_keys_retire(v, 1, &remaining, NULL, NULL), VAULT_E_CONFLICT,
	    "the current epoch cannot be retired");
	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	cr_assert_eq(epoch, 2);
	struct vault_keys_status *st = vaultd_wait_rotation(v, 30);
	cr_assert_eq(st->kek_current, 2);
	cr_assert_eq(st->nkek, 2);
	for (size_t i = 0; i < st->nkek; i++)
		if (st->kek[i].version == 1)
			cr_assert_eq(st->kek[i].records, 0, "every data key rewrapped");
	vault_keys_status_free(st);
	uint64_t before = 0, after = 0;
	cr_assert_eq(vault_keys_retire(v, 1, &remaining, &before, &after), 0, "%s",
	    vault_last_message(v));
	cr_assert_gt(before, 0);
	cr_assert_gt(after, 0);
	cr_assert_eq(vault_keys_status(v, &st), 0);
	cr_assert_eq(st->nkek, 1, "epoch 1 is gone from the ring");
	vault_keys_status_free(st);
	/* Still serving, with the same tokens. */
	for (int i = 0; i < N + 5; i++)
		if (i != VICTIM)
			expect_email(v, toks[i], i);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* The attacker's holdings: the old backup, the live file, the ring and its root key. */
	char ring_path[600], root_path[600], live_path[600];
	vaultd_path(&p, "keys/keyring", ring_path, sizeof(ring_path));
	vaultd_path(&p, "keys/root.key", root_path, sizeof(root_path));
	vaultd_path(&p, "data/data.mdb", live_path, sizeof(live_path));
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	const char *why;
	struct keyring *ring;
	struct token_keys *tk;
	cr_assert_eq(keyring_root_key_read(root_path, root, &why), 0);
	cr_assert_eq(keyring_load(ring_path, root, &ring, &why), 0);
	cr_assert_eq(token_keys_derive(ring, &tk), 0);
	uint64_t victim = token_id(tk, toks[VICTIM]), alive = token_id(tk, toks[0]);

	size_t vlen = 0, alen = 0;
	uint8_t *vrec = stored_record(bpath, victim, &vlen);
	cr_assert_not_null(vrec, "the backup holds the deleted record");
	struct record vr, lr;
	cr_assert_eq(record_decode(vrec, vlen, &vr), 0);
	cr_assert_eq(vr.kek_epoch, 1);
	cr_assert_null(stored_record(live_path, victim, &vlen), "gone from the live file");

	struct blob files[3] = { blob_slurp(bpath), blob_slurp(live_path), blob_slurp(ring_path) };
	size_t opened = erasure_scan(files, 3, ring, victim, &vr);
	cr_assert_eq(opened, 0, "%zu attempts opened something of the deleted record", opened);

	/* Control: the same scan does find a live record's data key. */
	uint8_t *arec = stored_record(live_path, alive, &alen);
	cr_assert_eq(record_decode(arec, alen, &lr), 0);
	cr_assert_gt(erasure_scan(&files[1], 1, ring, alive, &lr), 0, "the scan finds live keys");
	fprintf(stderr, "erasure scan: %zu + %zu + %zu bytes tried, nothing of the deleted "
	    "record opened\n", files[0].n, files[1].n, files[2].n);
	for (int i = 0; i < 3; i++)
		free(files[i].p);
	free(vrec);
	free(arec);

	/* Restore the old backup: records come back, the deleted one stays deleted. */
	char conf_arg[600];
	snprintf(conf_arg, sizeof(conf_arg), "%s", p.config);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		execl(getenv("VAULTD"), "vaultd", "-c", conf_arg, "--restore", bpath, (char *)NULL);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "restore exits 0");
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		if (i != VICTIM)
			expect_email(v, toks[i], i);
	struct vault_record *out;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, toks[VICTIM], NULL, 0, 0, &out),
	    VAULT_E_DELETED, "the deleted record stays deleted");
	/* Written after the backup: not in it, but readable in the live store,
	 * so kept (a restore never deletes what the live store can read). */
	for (int i = N; i < N + 5; i++)
		expect_email(v, toks[i], i);
	char *fresh = create(v, 99);
	cr_assert_gt(token_id(tk, fresh), token_id(tk, toks[N + 4]), "ids continue");
	vault_free(fresh);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	token_keys_free(tk);
	keyring_free(ring);
	sodium_free(root);
	for (int i = 0; i < N + 5; i++)
		vault_free(toks[i]);
	vault_free(bpath);
	vaultd_cleanup(&p);
}

Test(keys, rotation_resumes_after_sigkill, .timeout = 300)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 4000 };
	static char *toks[N];
	/* Small rewrap batches: the kill lands while the rotation runs. */
	vaultd_start(&p, "[keys]\nrotation_batch = 50\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++)
		toks[i] = create(v, i);
	uint32_t epoch;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0);
	usleep(20000);
	struct vault_keys_status *mid;
	cr_assert_eq(vault_keys_status(v, &mid), 0);
	cr_assert(mid->rotating, "killed while rotating (%llu of %llu examined)",
	    (unsigned long long)mid->examined, (unsigned long long)mid->total);
	fprintf(stderr, "rotation: SIGKILL after %llu of %llu records\n",
	    (unsigned long long)mid->examined, (unsigned long long)mid->total);
	vault_keys_status_free(mid);
	vault_close(v);
	vaultd_kill(&p);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	struct vault_keys_status *st = vaultd_wait_rotation(v, 30);
	cr_assert_eq(st->kek_current, 2);
	for (size_t i = 0; i < st->nkek; i++)
		if (st->kek[i].version == 1)
			cr_assert_eq(st->kek[i].records, 0);
		else
			cr_assert_eq(st->kek[i].records, N);
	vault_keys_status_free(st);
	for (int i = 0; i < N; i += 97)
		expect_email(v, toks[i], i);
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	for (int i = 0; i < N; i++) {
		if (i % 97 == 0)
			expect_email(v, toks[i], i);
		vault_free(toks[i]);
	}
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_cleanup(&p);
}

Test(keys, rotate_record_and_token_keys_keep_tokens_working)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *rec = create(v, 1), *opaque, *det;
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "email",
	    VAULT_TOKEN_OPAQUE, &opaque), 0);
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "email",
	    VAULT_TOKEN_DETERMINISTIC, &det), 0);
	uint32_t dv = 0, tv = 0;
	cr_assert_eq(vault_keys_rotate_record(v, rec, &dv), 0, "%s", vault_last_message(v));
	cr_assert_eq(dv, 2);
	cr_assert_eq(vault_keys_rotate(v, "token", &tv), 0);
	cr_assert_eq(tv, 2);
	expect_email(v, rec, 1);
	const char *toks[] = { opaque, det };
	struct vault_detokenized *res;
	cr_assert_eq(vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, toks, 2, &res), 0);
	cr_assert_eq(res[0].error, 0, "old opaque token after rotations: %s",
	    vault_error_name(res[0].error));
	cr_assert_eq(res[1].error, 0, "old deterministic token after rotations");
	vault_detokenized_free(res, 2);
	char *rec2 = create(v, 2);
	cr_assert(strncmp(rec2, "rec_2_", 6) == 0, "new tokens use key version 2: %s", rec2);
	vault_free(rec2);
	vault_free(rec);
	vault_free(opaque);
	vault_free(det);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_cleanup(&p);
}

Test(keys, admin_operations_need_an_admin_client)
{
	struct vaultd_proc p;
	struct vault *v;
	char ini[256];
	FILE *f = fopen("/tmp/vault-e2e-nonadmin.ini", "w");
	fprintf(f, "[client svc]\nuids = %ld\n[access svc transactional]\n* = plain\n",
	    (long)getuid());
	fclose(f);
	snprintf(ini, sizeof(ini), "[policy]\nfile = /tmp/vault-e2e-nonadmin.ini\n");
	vaultd_start(&p, ini);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	uint32_t e;
	cr_assert_eq(vault_keys_rotate(v, "kek", &e), VAULT_E_DENIED);
	struct vault_keys_status *st;
	cr_assert_eq(vault_keys_status(v, &st), VAULT_E_DENIED);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_cleanup(&p);
}

/* Copy a file byte for byte (to put things back after breaking them). */
static void
copy(const char *from, const char *to)
{
	size_t n;
	char *b = read_file_all(from, &n);
	cr_assert_not_null(b);
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, b, n), (ssize_t)n);
	close(fd);
	free(b);
}

static void
expect_refusal(struct vaultd_proc *p, const char *needle)
{
	char *log = NULL;
	int status = vaultd_expect_refusal(p, &log);
	cr_assert_neq(status, 0, "vaultd must refuse to start");
	cr_assert_not_null(strstr(log, needle), "log should say \"%s\": %s", needle, log);
	free(log);
}

Test(keys, bad_key_material_is_refused_plainly_and_loses_nothing)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *tok = create(v, 5);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	char ring[600], root[600], saved_ring[600], saved_root[600];
	vaultd_path(&p, "keys/keyring", ring, sizeof(ring));
	vaultd_path(&p, "keys/root.key", root, sizeof(root));
	vaultd_path(&p, "ring.saved", saved_ring, sizeof(saved_ring));
	vaultd_path(&p, "root.saved", saved_root, sizeof(saved_root));
	copy(ring, saved_ring);
	copy(root, saved_root);
	/* The harness starts with --dev; these starts run without it. */

	/* A key file readable by others. */
	chmod(root, 0644);
	expect_refusal(&p, "chmod 600");
	chmod(root, 0600);

	/* A missing key file. */
	unlink(root);
	expect_refusal(&p, "does not exist");
	copy(saved_root, root);

	/* A wrong root key. */
	int fd = open(root, O_WRONLY | O_TRUNC);
	uint8_t other[32];
	randombytes_buf(other, sizeof(other));
	cr_assert_eq(write(fd, other, sizeof(other)), 32);
	close(fd);
	expect_refusal(&p, "cannot be opened");
	copy(saved_root, root);

	/* A corrupted ring: one byte flipped in the sealed body. */
	size_t n;
	char *b = read_file_all(ring, &n);
	b[n - 20] ^= 0x40;
	fd = open(ring, O_WRONLY | O_TRUNC);
	cr_assert_eq(write(fd, b, n), (ssize_t)n);
	close(fd);
	free(b);
	expect_refusal(&p, "cannot be opened");
	copy(saved_ring, ring);

	/* Put back: nothing was lost. */
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	expect_email(v, tok, 5);
	vault_close(v);
	vault_free(tok);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_cleanup(&p);
}
