/*
 * test_crash.c - end-to-end crash consistency: vaultd is SIGKILLed at
 * random moments while several clients write concurrently (group commit
 * under load), then restarted. Every acknowledged write must read back
 * intact, and every record on disk must be whole: all of its fields there
 * and decryptable, nothing half-written.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <lmdb.h>
#include <vault/vault.h>

#include "harness.h"
#include "vault/store/record_codec.h"

#define ROUNDS 40
#define WRITERS 4
#define MAX_ACKS 100000

struct acked {
	char *token;
	char email[64];
};

struct writer {
	const char *socket;
	int id;
	int round;
	struct acked *acks;
	size_t nacks;
};

static void *
writer_main(void *p)
{
	struct writer *w = p;
	struct vault *v;
	if (vault_connect(w->socket, &v) != 0)
		return NULL;
	for (int seq = 0; w->nacks < MAX_ACKS / WRITERS; seq++) {
		struct vault_record *r;
		char email[64], *tok = NULL;
		snprintf(email, sizeof(email), "w%d.r%d.s%d@crash.example", w->id, w->round, seq);
		vault_record_new(&r);
		vault_record_set(r, "first_name", "Crash");
		vault_record_set(r, "last_name", "Test");
		vault_record_set(r, "email", email);
		vault_record_set(r, "phone", "+14155550100");
		int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
		vault_record_free(r);
		if (rc != 0)
			break; /* the server died: this write was not acknowledged */
		w->acks[w->nacks].token = tok;
		snprintf(w->acks[w->nacks].email, sizeof(w->acks[0].email), "%s", email);
		w->nacks++;
	}
	vault_close(v);
	return NULL;
}

/* Every stored record decodes and carries the four fields written. */
static size_t
check_records_whole(const struct vaultd_proc *p)
{
	char dir[600];
	vaultd_path(p, "data", dir, sizeof(dir));
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "records", 0, &dbi), 0);
	cr_assert_eq(mdb_cursor_open(txn, dbi, &cur), 0);
	while (mdb_cursor_get(cur, &k, &v, n ? MDB_NEXT : MDB_FIRST) == 0) {
		struct record r;
		cr_assert_eq(record_decode(v.mv_data, v.mv_size, &r), 0, "record decodes");
		cr_assert_eq(r.nfields, 4, "record has all its fields");
		n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

Test(crash, sigkill_during_group_commit_loses_no_acknowledged_write, .timeout = 240)
{
	struct vaultd_proc p;
	struct acked *all = calloc(MAX_ACKS * ROUNDS, sizeof(*all));
	size_t nall = 0, kills = 0;
	srand(4242);
	vaultd_start(&p, NULL);

	for (int round = 0; round < ROUNDS; round++) {
		struct writer w[WRITERS];
		pthread_t th[WRITERS];
		for (int i = 0; i < WRITERS; i++) {
			w[i] = (struct writer){ p.socket, i, round, calloc(MAX_ACKS / WRITERS, sizeof(struct acked)), 0 };
			pthread_create(&th[i], NULL, writer_main, &w[i]);
		}
		usleep((useconds_t)(50000 + rand() % 250000));
		vaultd_kill(&p);
		kills++;
		for (int i = 0; i < WRITERS; i++) {
			pthread_join(th[i], NULL);
			memcpy(all + nall, w[i].acks, w[i].nacks * sizeof(struct acked));
			nall += w[i].nacks;
			free(w[i].acks);
		}
		size_t stored = check_records_whole(&p);
		cr_assert_geq(stored, nall, "round %d: %zu stored < %zu acknowledged", round, stored, nall);
		vaultd_restart(&p);
	}

	struct vault *v;
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	const char *want[] = { "email" };
	for (size_t i = 0; i < nall; i++) {
		struct vault_record *out;
		int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, all[i].token, want, 1, 0, &out);
		cr_assert_eq(rc, 0, "acknowledged write %zu lost: %s", i, vault_error_name(rc));
		cr_assert_str_eq(vault_record_get(out, "email"), all[i].email);
		vault_record_free(out);
		vault_free(all[i].token);
	}
	vault_close(v);
	cr_log_info("crash test: %zu kills, %zu acknowledged writes, all intact", kills, nall);
	fprintf(stderr, "crash test: %zu kills, %zu acknowledged writes read back intact\n", kills, nall);
	cr_assert_gt(nall, 0);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_cleanup(&p);
	free(all);
}
