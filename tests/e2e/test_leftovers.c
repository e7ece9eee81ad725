/*
 * test_leftovers.c - end-to-end: what a crash leaves next to the key ring
 * and the data file. Stale key ring temporaries (the old "<pid>" names,
 * which made every later save fail when vaultd's pid repeats, and random
 * ones) are removed at start; and vaultd is killed at each write, sync and
 * rename of a rotate and of a retire (its ring save and its compaction),
 * with strace's fault injection (strace -e inject=SYSCALL:signal=KILL:when=N),
 * then restarted: no temporary remains, the ring opens, every record reads,
 * a compaction cut short after the epoch was destroyed is redone at start,
 * and no file left anywhere holds the retired epoch or its wrapped keys.
 * After each kill, a backup from before the deletion is also restored: the
 * deleted record stays deleted and every live record reads; once epoch 1 is
 * gone, no key of the ring finds the deleted record's email blind tag in
 * any file of the directory.
 */
#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <lmdb.h>
#include <sodium.h>
#include <vault/vault.h>

#include "harness.h"
#include "keys/keyring.h"
#include "vault/crypto/seal.h"
#include "vault/privacy/blind.h"
#include "vault/record/fields.h"
#include "vault/record/normalize.h"
#include "vault/store/record_codec.h"
#include "vault/store/store.h"

enum { NREC = 12, VICTIM = 3, PAD_ROTATIONS = 6 };

static char *
create(struct vault *v, int i)
{
	struct vault_record *r;
	char email[64], *tok;
	snprintf(email, sizeof(email), "person%d@leftovers.example", i);
	vault_record_new(&r);
	vault_record_set(r, "first_name", "Leftover");
	vault_record_set(r, "email", email);
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	cr_assert_eq(rc, 0, "create: %s", vault_last_message(v));
	vault_record_free(r);
	return tok;
}

static void
expect_email(struct vault *v, const char *tok, int i)
{
	char email[64];
	snprintf(email, sizeof(email), "person%d@leftovers.example", i);
	expect_field(v, tok, "email", email, i);
}

static int
exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void
touch(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0, "create %s", path);
	size_t n = strlen(content);
	cr_assert_eq(write(fd, content, n), (ssize_t)n);
	close(fd);
}

static void
copy_file(const char *from, const char *to)
{
	size_t n;
	char *b = read_file_all(from, &n);
	cr_assert_not_null(b, "read %s", from);
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, b, n), (ssize_t)n);
	close(fd);
	free(b);
}

/* The root key of p's test directory, in secure memory. */
static uint8_t *
root_of(const struct vaultd_proc *p)
{
	char path[600];
	const char *why;
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	vaultd_path(p, "keys/root.key", path, sizeof(path));
	cr_assert_eq(keyring_root_key_read(path, root, &why), 0);
	return root;
}

/* 1 if the file at path opens as a ring with root and holds KEK epoch e; 0 if
 * it holds no such epoch; -1 if it is not a ring root opens. */
static int
ring_has_epoch(const char *path, const uint8_t *root, uint32_t e)
{
	struct keyring *kr;
	const char *why;
	if (keyring_load(path, root, &kr, &why) != 0)
		return -1;
	int has = keyring_key(kr, KEYRING_KEK, e) != NULL;
	keyring_free(kr);
	return has;
}

/* The value of meta key name in the LMDB file at path: 1 present, 0 absent. */
static int
meta_has(const char *path, const char *name)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 256u << 20);
	cr_assert_eq(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	MDB_val k = { strlen(name), (void *)name }, v;
	int has = mdb_get(txn, dbi, &k, &v) == 0;
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return has;
}

/* Every record's wrapped data key in the LMDB file at path (a backup). */
static size_t
wrapped_keys(const char *path, uint32_t epoch, uint8_t (*out)[WRAPPED_DEK_BYTES], size_t cap)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	cr_assert_eq(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "records", 0, &dbi), 0);
	cr_assert_eq(mdb_cursor_open(txn, dbi, &cur), 0);
	for (int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST); g == 0 && n < cap;
	    g = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct record r;
		uint8_t *copy = malloc(v.mv_size);
		memcpy(copy, v.mv_data, v.mv_size);
		cr_assert_eq(record_decode(copy, v.mv_size, &r), 0);
		if (r.kek_epoch == epoch)
			memcpy(out[n++], r.wrapped_dek, WRAPPED_DEK_BYTES);
		free(copy);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

/* How many of the n wrapped keys occur anywhere in the file at path. */
static size_t
keys_in_file(const char *path, uint8_t (*keys)[WRAPPED_DEK_BYTES], size_t n)
{
	size_t len, found = 0;
	char *b = read_file_all(path, &len);
	if (b == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (memmem(b, len, keys[i], WRAPPED_DEK_BYTES) != NULL)
			found++;
	free(b);
	return found;
}

/* ---- stale temporaries -------------------------------------------------- */

Test(leftovers, stale_ring_temporaries_are_removed_and_the_ring_saves_again, .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	char keys[600], data[600], ring[600], path[1200];
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *tok = create(v, 1);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	vaultd_path(&p, "keys", keys, sizeof(keys));
	vaultd_path(&p, "data", data, sizeof(data));
	vaultd_path(&p, "keys/keyring", ring, sizeof(ring));
	/*
	 * The old names: keyring.tmp.<pid>, for small pids (pid 1 in a
	 * container) and the pids the next vaultd will likely get. Each is a
	 * whole ring holding epoch 1, which is retired below.
	 */
	long first = (long)getpid(), last = first + 3000;
	for (long n = 1; n <= last; n = n == 64 ? first : n + 1) {
		snprintf(path, sizeof(path), "%s/keyring.tmp.%ld", keys, n);
		copy_file(ring, path);
	}
	char stale_random[800], not_ours[800], link[800], target[800];
	snprintf(stale_random, sizeof(stale_random), "%s/keyring.tmp.0123456789abcdef", keys);
	copy_file(ring, stale_random);
	/* Not of our pattern, or not a regular file: left alone. */
	snprintf(not_ours, sizeof(not_ours), "%s/keyring.tmp.keep-me", keys);
	touch(not_ours, "not a temporary of ours");
	vaultd_path(&p, "link-target", target, sizeof(target));
	touch(target, "someone else's file");
	snprintf(link, sizeof(link), "%s/keyring.tmp.abcd", keys);
	cr_assert_eq(symlink(target, link), 0);
	/* A compaction's old fixed name, a random one, and a restore's working copy. */
	char compact_old[800], compact_new[800], restore_dir[800], restore_copy[900];
	snprintf(compact_old, sizeof(compact_old), "%s/data.mdb.compact", data);
	snprintf(compact_new, sizeof(compact_new), "%s/data.mdb.compact.00ff00ff00ff00ff", data);
	snprintf(restore_dir, sizeof(restore_dir), "%s/restore", data);
	snprintf(restore_copy, sizeof(restore_copy), "%s/data.mdb", restore_dir);
	vaultd_path(&p, "data/data.mdb", path, sizeof(path));
	copy_file(path, compact_old);
	copy_file(path, compact_new);
	cr_assert_eq(mkdir(restore_dir, 0700), 0);
	copy_file(path, restore_copy);

	cr_assert_eq(vaultd_try_restart(&p), 0, "vaultd starts among the leftovers");
	size_t loglen;
	char *log = read_file_all(p.log, &loglen);
	cr_assert_not_null(strstr(log, "keyring.tmp.0123456789abcdef, left by an interrupted write"),
	    "the removal is logged: %s", log);
	free(log);
	for (long n = 1; n <= last; n = n == 64 ? first : n + 1) {
		snprintf(path, sizeof(path), "%s/keyring.tmp.%ld", keys, n);
		cr_assert(!exists(path), "%s is removed", path);
	}
	cr_assert(!exists(stale_random));
	cr_assert(!exists(compact_old));
	cr_assert(!exists(compact_new));
	cr_assert(!exists(restore_copy));
	cr_assert(!exists(restore_dir));
	cr_assert(exists(not_ours), "a name not of our pattern stays");
	cr_assert(exists(link), "a symlink is not followed or removed");
	size_t tlen;
	char *t = read_file_all(target, &tlen);
	cr_assert_str_eq(t, "someone else's file");
	free(t);

	/* The ring saves again (the old code's O_EXCL on keyring.tmp.<pid> failed). */
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	cr_assert_eq(epoch, 2);
	vault_keys_status_free(vaultd_wait_rotation(v, 30));
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	expect_email(v, tok, 1);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* No ring-like file in the key directory holds the retired epoch. */
	uint8_t *root = root_of(&p);
	DIR *d = opendir(keys);
	struct dirent *de;
	int rings = 0;
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", keys, de->d_name);
		int has = ring_has_epoch(path, root, 1);
		cr_assert_neq(has, 1, "%s still holds the retired epoch 1", de->d_name);
		rings += has == 0;
	}
	closedir(d);
	cr_assert_eq(rings, 1, "only the ring itself opens");
	sodium_free(root);
	vault_free(tok);
	vaultd_cleanup(&p);
}

/* ---- kill at each write -------------------------------------------------- */

struct kill_run {
	struct vaultd_proc p;
	char tmpl[600];           /* the state before the operation */
	char wrapper[600];
	char *toks[NREC];
	uint8_t (*old_keys)[WRAPPED_DEK_BYTES]; /* epoch 1's, from the backup */
	size_t nold;
	char backup[600];         /* that backup, taken before the deletion */
	unsigned kills, kills_after_destroy, redone, restores, tag_scans;
	unsigned ring_tmp_left, compact_left; /* kills that left such a file */
};

/* The state directories of a test directory (data, keys, audit trail). */
static const char *const state_dirs = "data keys audit";

static void
save_template(struct kill_run *k)
{
	vaultd_path(&k->p, "template", k->tmpl, sizeof(k->tmpl));
	char cmd[2000];
	snprintf(cmd, sizeof(cmd), "mkdir %s && cd %s && for d in %s; do [ ! -e $d ] || cp -a $d %s/; done",
	    k->tmpl, k->p.dir, state_dirs, k->tmpl);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void
load_template(struct kill_run *k)
{
	char cmd[2000];
	snprintf(cmd, sizeof(cmd), "cd %s && rm -rf %s && cp -a %s/. .", k->p.dir, state_dirs,
	    k->tmpl);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* vaultd under strace, killed at the n-th call of syscall by any one thread. */
static void
set_wrapper(struct kill_run *k, const char *syscall, unsigned n)
{
	FILE *f = fopen(k->wrapper, "w");
	cr_assert_not_null(f);
	/* LeakSanitizer cannot run under ptrace (it fails at exit, so a
	 * traced ASan vaultd never stopped cleanly): off for the traced run
	 * only; the restart that follows, untraced, checks leaks as usual. */
	fprintf(f, "#!/bin/sh\nASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\" "
	    "exec strace -f -qq -o /dev/null -e trace=%s "
	    "-e inject=%s:signal=KILL:when=%u \"$VAULTD\" \"$@\"\n", syscall, syscall, n);
	fclose(f);
	chmod(k->wrapper, 0700);
	setenv("VAULTD_WRAPPER", k->wrapper, 1);
}

/* The vaultd strace runs (its only child), 0 if none. */
static pid_t
traced_child(pid_t strace_pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)strace_pid,
	    (int)strace_pid);
	size_t n;
	char *b = read_file_all(path, &n);
	pid_t c = b ? (pid_t)atoi(b) : 0;
	free(b);
	return c;
}

/*
 * Stop the traced vaultd: SIGTERM to vaultd itself (strace does not pass
 * it on), then reap strace. Returns 1 if vaultd had already died (killed by
 * the injection), 0 if it stopped cleanly.
 */
static int
stop_traced(struct vaultd_proc *p)
{
	int st;
	pid_t c = traced_child(p->pid);
	if (c > 0)
		kill(c, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			return i >= 500 || !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
		/* strace may wait forever for the threads of a vaultd its
		 * injection killed: after 5 s, end strace (the killed vaultd
		 * then dies whole); that run counts as killed. */
		if (i == 500)
			kill(p->pid, SIGKILL);
		usleep(10000);
	}
	cr_assert_fail("traced vaultd did not stop");
	return 1;
}

/* Record i's email blind tag under key, through derivation ctx (NULL: the
 * key itself), as the vault computes it (normalized, blind_canon()). */
static void
email_tag(const uint8_t *key, const char *ctx, int i, uint8_t tag[BLIND_TAG_BYTES])
{
	char email[64], norm[256], canon[BLIND_CANON_MAX];
	size_t len, cn;
	uint8_t sub[32], kind = BLIND_EMAIL;
	struct normalize_ctx nc = { time(NULL), "1" };
	snprintf(email, sizeof(email), "person%d@leftovers.example", i);
	cr_assert_eq(normalize_field((enum field_id)BLIND_EMAIL, email, strlen(email), norm,
	    sizeof(norm), &len, &nc), 0);
	cr_assert_eq(blind_canon(BLIND_EMAIL, norm, len, canon, sizeof(canon), &cn), 0);
	if (ctx == NULL)
		memcpy(sub, key, sizeof(sub));
	else
		crypto_kdf_derive_from_key(sub, sizeof(sub), 1, ctx, key);
	crypto_generichash_state st;
	crypto_generichash_init(&st, sub, sizeof(sub), BLIND_TAG_BYTES);
	crypto_generichash_update(&st, &kind, 1);
	crypto_generichash_update(&st, (const uint8_t *)canon, cn);
	crypto_generichash_final(&st, tag, BLIND_TAG_BYTES);
}

/* The deleted record's tags under every key of the ring (nftw has no argument). */
static uint8_t victim_tags[3 * 64 * 3][BLIND_TAG_BYTES];
static size_t nvictim_tags, victim_hits;
static char victim_hit_in[1200];

static int
scan_for_victim(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	(void)f;
	if (type != FTW_F || !S_ISREG(sb->st_mode))
		return 0;
	/* The trail's space reserve is 64 MiB that vaultd only fallocates and
	 * truncates, never writes: skipped, or each scan takes seconds. */
	size_t pl = strlen(path), rl = strlen("audit.log.reserve");
	if (pl >= rl && strcmp(path + pl - rl, "audit.log.reserve") == 0)
		return 0;
	size_t len;
	char *b = read_file_all(path, &len);
	if (b == NULL)
		return 0;
	for (size_t t = 0; t < nvictim_tags; t++)
		if (memmem(b, len, victim_tags[t], BLIND_TAG_BYTES) != NULL && victim_hits++ == 0)
			snprintf(victim_hit_in, sizeof(victim_hit_in), "%s", path);
	free(b);
	return 0;
}

/*
 * With epoch 1 destroyed, vaultd stopped: every key of the current ring,
 * keyed directly and through both blind derivations, against every file of
 * the test directory (live file, backups, what the kill left, the restore's
 * safety net): the deleted record's email tag is nowhere. Control: a live
 * record's tag under the current epoch is in the live file.
 */
static void
scan_victim_tags(struct kill_run *k, const uint8_t *root)
{
	static const enum keyring_kind kinds[] = { KEYRING_KEK, KEYRING_TOKEN, KEYRING_INDEX };
	static const char *const ctx[] = { NULL, "vblind01", "vblind02" };
	char ring_path[600], live[600];
	const char *why;
	struct keyring *ring;
	vaultd_path(&k->p, "keys/keyring", ring_path, sizeof(ring_path));
	vaultd_path(&k->p, "data/data.mdb", live, sizeof(live));
	cr_assert_eq(keyring_load(ring_path, root, &ring, &why), 0, "%s", why);
	nvictim_tags = 0;
	for (size_t kk = 0; kk < 3; kk++)
		for (size_t vi = 0; vi < keyring_count(ring, kinds[kk]) && vi < 64; vi++)
			for (size_t c = 0; c < 3; c++)
				email_tag(keyring_key(ring, kinds[kk], keyring_version_at(ring, kinds[kk],
				    vi)), ctx[c], VICTIM, victim_tags[nvictim_tags++]);
	victim_hits = 0;
	cr_assert_eq(nftw(k->p.dir, scan_for_victim, 16, FTW_PHYS), 0);
	cr_assert_eq(victim_hits, 0, "%zu tags of the deleted record's email, first in %s",
	    victim_hits, victim_hit_in);
	uint8_t live_tag[BLIND_TAG_BYTES];
	email_tag(keyring_key(ring, KEYRING_KEK, keyring_current(ring, KEYRING_KEK)), "vblind02",
	    VICTIM + 1, live_tag);
	size_t len;
	char *b = read_file_all(live, &len);
	cr_assert_not_null(b);
	cr_assert_not_null(memmem(b, len, live_tag, BLIND_TAG_BYTES),
	    "control: a live record's email tag is in the live file");
	free(b);
	keyring_free(ring);
	k->tag_scans++;
}

/* Every record reads but the deleted one, which stays deleted. */
static void
expect_records(struct kill_run *k, const char *when)
{
	struct vault *v;
	cr_assert_eq(vault_connect(k->p.socket, &v), 0);
	for (int i = 0; i < NREC; i++) {
		if (i == VICTIM) {
			struct vault_record *out;
			int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, k->toks[i], NULL, 0, 0, &out);
			cr_assert(rc == VAULT_E_DELETED || rc == VAULT_E_NOT_FOUND,
			    "%s: the deleted record came back (%s)", when, vault_error_name(rc));
		} else {
			expect_email(v, k->toks[i], i);
		}
	}
	vault_close(v);
}

/*
 * vaultd stopped: restore the backup taken before the deletion, start, and
 * check that nothing deleted came back and nothing live was lost.
 */
static void
restore_old_backup(struct kill_run *k)
{
	char out[600], rdir[600];
	vaultd_path(&k->p, "restore.out", out, sizeof(out));
	vaultd_path(&k->p, "data/restore", rdir, sizeof(rdir));
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(getenv("VAULTD"), "vaultd", "-c", k->p.config, "--restore", k->backup,
		    (char *)NULL);
		_exit(127);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	size_t n;
	char *text = read_file_all(out, &n);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "restore after a kill: %s",
	    text ? text : "");
	free(text);
	cr_assert(!exists(rdir), "the restore left data/restore/");
	cr_assert_eq(vaultd_try_restart(&k->p), 0, "vaultd starts after the restore");
	expect_records(k, "after the restore");
	cr_assert_eq(vaultd_stop(&k->p), 0);
	k->restores++;
}

/*
 * After a run (killed or not): check what the crash left, restart without
 * strace, and check that the start cleaned up and finished the job.
 */
static void
check_after(struct kill_run *k, int killed, int retire)
{
	char keys[600], data[600], ring[600], live[600], path[1200];
	vaultd_path(&k->p, "keys", keys, sizeof(keys));
	vaultd_path(&k->p, "data", data, sizeof(data));
	vaultd_path(&k->p, "keys/keyring", ring, sizeof(ring));
	vaultd_path(&k->p, "data/data.mdb", live, sizeof(live));
	uint8_t *root = root_of(&k->p);
	int has1 = ring_has_epoch(ring, root, 1);
	cr_assert_neq(has1, -1, "the ring opens after the kill");
	int pending = meta_has(live, "compact_pending");
	size_t left = keys_in_file(live, k->old_keys, k->nold);
	if (retire && has1 == 0) {
		/* The epoch is destroyed: its wrapped keys are gone or due to go. */
		cr_assert(pending || left == 0, "epoch 1 is destroyed, %zu of its wrapped keys "
		    "remain in data.mdb and no compaction is pending", left);
		if (killed)
			k->kills_after_destroy++;
	}

	/* What the kill left, for the tally: proof the kills land inside saves. */
	const char *ldirs[] = { keys, data };
	for (int i = 0; i < 2; i++) {
		DIR *d = opendir(ldirs[i]);
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			k->ring_tmp_left += strstr(de->d_name, "keyring.tmp.") != NULL;
			k->compact_left += strstr(de->d_name, "data.mdb.compact") != NULL;
		}
		closedir(d);
	}

	unsetenv("VAULTD_WRAPPER");
	cr_assert_eq(vaultd_try_restart(&k->p), 0, "vaultd starts after the kill");
	size_t loglen;
	char *log = read_file_all(k->p.log, &loglen);
	if (pending) {
		cr_assert_not_null(strstr(log, "compacting the data file before serving"),
		    "a pending compaction is redone at start: %s", log);
		k->redone++;
	}
	free(log);

	/* No temporary remains; no file left holds the retired epoch. */
	const char *dirs[] = { keys, data };
	for (int i = 0; i < 2; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			cr_assert_null(strstr(de->d_name, ".tmp"), "%s/%s remains", dirs[i], de->d_name);
			cr_assert_null(strstr(de->d_name, "compact"), "%s/%s remains", dirs[i],
			    de->d_name);
			cr_assert_neq(strcmp(de->d_name, "restore"), 0);
			snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
			if (retire && has1 == 0) {
				cr_assert_neq(ring_has_epoch(path, root, 1), 1,
				    "%s holds the retired epoch 1", path);
				cr_assert_eq(keys_in_file(path, k->old_keys, k->nold), 0,
				    "%s holds wrapped keys of the retired epoch", path);
			}
		}
		closedir(d);
	}
	if (retire && has1 == 0)
		cr_assert(!meta_has(live, "compact_pending"), "the compaction mark is cleared");

	/* Every live record reads; the deleted one stays deleted. */
	expect_records(k, "after the kill");
	cr_assert_eq(vaultd_stop(&k->p), 0);

	/* And after a restore of the backup from before the deletion; the
	 * restore brings back no key of the retired epoch either. */
	restore_old_backup(k);
	if (retire && has1 == 0) {
		cr_assert_eq(ring_has_epoch(ring, root, 1), 0, "the restore brought epoch 1 back");
		scan_victim_tags(k, root);
	}
	sodium_free(root);
}

/* One run: state from the template, the operation under strace, the checks.
 * Returns 1 once the operation completed without a kill. */
static int
kill_once(struct kill_run *k, const char *syscall, unsigned n, int retire)
{
	load_template(k);
	set_wrapper(k, syscall, n);
	int completed = 0;
	if (vaultd_try_restart(&k->p) == 0) {
		struct vault *v;
		int rc = -1;
		if (vault_connect(k->p.socket, &v) == 0) {
			uint32_t epoch;
			/* A killed vaultd whose other threads strace still
			 * holds never answers: bounded waits, then the stop
			 * below ends it. */
			vault_set_timeout(v, 30000);
			/*
			 * strace counts calls per thread, and the main thread
			 * logs some writes at start: the writer's first writes
			 * (the ring save, the compaction) would never be the
			 * n-th to come. Token key rotations (ring saves too, so
			 * crash points worth having) put it ahead first.
			 */
			rc = 0;
			for (int i = 0; i < PAD_ROTATIONS && rc == 0; i++)
				rc = vault_keys_rotate(v, "token", &epoch);
			if (rc == 0)
				rc = retire ? vault_keys_retire(v, 1, NULL, NULL, NULL) :
				    vault_keys_rotate(v, "kek", &epoch);
			vault_close(v);
		}
		int died = stop_traced(&k->p);
		completed = rc == 0 && !died;
	}
	if (!completed)
		k->kills++;
	check_after(k, !completed, retire);
	return completed;
}

static void
kill_loop(struct kill_run *k, int retire, const char *const *syscalls, size_t nsys)
{
	for (size_t s = 0; s < nsys; s++) {
		unsigned n;
		for (n = 1; n < 400; n++)
			if (kill_once(k, syscalls[s], n, retire))
				break;
		cr_assert_lt(n, 400, "the operation completes under strace");
		fprintf(stderr, "%s: killed at each of %u %s calls\n", retire ? "retire" : "rotate",
		    n - 1, syscalls[s]);
	}
}

static void
kill_setup(struct kill_run *k, int retire)
{
	struct vault *v;
	memset(k, 0, sizeof(*k));
	vaultd_start(&k->p, NULL);
	vaultd_path(&k->p, "strace-vaultd.sh", k->wrapper, sizeof(k->wrapper));
	cr_assert_eq(vault_connect(k->p.socket, &v), 0);
	for (int i = 0; i < NREC; i++)
		k->toks[i] = create(v, i);
	/* An old backup: every record's key wrapped with epoch 1. */
	char *bpath = NULL;
	uint64_t bbytes = 0;
	cr_assert_eq(vault_backup(v, "old", &bpath, &bbytes), 0, "%s", vault_last_message(v));
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, k->toks[VICTIM],
	    VAULT_DELETE_SUBJECT_REQUEST), 0);
	k->old_keys = malloc(NREC * WRAPPED_DEK_BYTES);
	k->nold = wrapped_keys(bpath, 1, k->old_keys, NREC);
	cr_assert_eq(k->nold, NREC);
	snprintf(k->backup, sizeof(k->backup), "%s", bpath);
	vault_free(bpath);
	if (retire) {
		uint32_t epoch;
		cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0);
		vault_keys_status_free(vaultd_wait_rotation(v, 30));
	}
	vault_close(v);
	cr_assert_eq(vaultd_stop(&k->p), 0);
	if (retire) {
		char live[600];
		vaultd_path(&k->p, "data/data.mdb", live, sizeof(live));
		size_t held = keys_in_file(live, k->old_keys, k->nold);
		fprintf(stderr, "before the retire, data.mdb holds %zu of the %zu wrapped keys of "
		    "epoch 1 in freed pages\n", held, k->nold);
		/* Else "no wrapped key of epoch 1 is left" would prove nothing. */
		cr_assert_gt(held, 0, "the freed pages hold old wrapped keys before the retire");
	}
	save_template(k);
}

static void
kill_teardown(struct kill_run *k)
{
	for (int i = 0; i < NREC; i++)
		vault_free(k->toks[i]);
	free(k->old_keys);
	unsetenv("VAULTD_WRAPPER");
	vaultd_cleanup(&k->p);
}

Test(leftovers, kill_at_each_write_of_a_retire, .timeout = 300)
{
	static struct kill_run k;
	static const char *const sys[] = { "write", "writev", "pwrite64", "fsync", "fdatasync",
		"rename" };
	kill_setup(&k, 1);
	kill_loop(&k, 1, sys, sizeof(sys) / sizeof(sys[0]));
	fprintf(stderr, "retire: %u kills, %u after the epoch was destroyed, %u compactions "
	    "redone at start; %u left a ring temporary, %u a compaction copy; %u restores "
	    "of the old backup: nothing deleted came back, nothing live lost; %u blind tag "
	    "scans with epoch 1 gone: no hit\n", k.kills, k.kills_after_destroy, k.redone,
	    k.ring_tmp_left, k.compact_left, k.restores, k.tag_scans);
	cr_assert_gt(k.tag_scans, k.kills_after_destroy, "a tag scan after each such kill");
	cr_assert_eq(k.restores, k.kills + 6, "a restore after each run");
	cr_assert_gt(k.kills_after_destroy, 0, "some kills came after the ring was saved");
	cr_assert_gt(k.ring_tmp_left, 0, "some kills came inside a ring save");
	cr_assert_gt(k.compact_left, 0, "some kills came inside the compaction");
	cr_assert_gt(k.redone, 0, "some compactions were redone at start");
	kill_teardown(&k);
}

Test(leftovers, kill_at_each_write_of_a_rotate, .timeout = 300)
{
	static struct kill_run k;
	static const char *const sys[] = { "write", "writev", "pwrite64", "fsync", "fdatasync",
		"rename" };
	kill_setup(&k, 0);
	kill_loop(&k, 0, sys, sizeof(sys) / sizeof(sys[0]));
	fprintf(stderr, "rotate: %u kills; %u left a ring temporary; %u restores of the old "
	    "backup: nothing deleted came back, nothing live lost\n", k.kills, k.ring_tmp_left,
	    k.restores);
	cr_assert_eq(k.restores, k.kills + 6, "a restore after each run");
	cr_assert_gt(k.ring_tmp_left, 0, "some kills came inside a ring save");
	kill_teardown(&k);
}
