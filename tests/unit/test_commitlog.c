/*
 * test_commitlog.c - the LMDB backend's commit log (vault/store/commitlog.h)
 * and the recovery it gives store_lmdb.c.
 *
 * The power loss is modelled the way e2e-powerloss's shim does it, without
 * a process: a copy of data.mdb taken right after the store opened (its
 * last flush: the open's checkpoint) stands for what the disk kept of the
 * data file, beside the commit log as it is (each record was flushed).
 * Opening the store on that pair must give every committed batch, and
 * nothing of a batch or nested batch that was aborted.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>

#include "vault/store/commitlog.h"
#include "vault/store/store.h"

static char base[256];

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	cr_assert(sodium_init() >= 0);
	snprintf(base, sizeof(base), "%s/commitlog-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(base));
}

static void
rm_dir(const char *dir)
{
	static const char *const names[] = { "data.mdb", "lock.mdb", COMMITLOG_NAME,
		"kept.mdb", "trail" };
	char p[600];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void
teardown(void)
{
	char d[300];
	snprintf(d, sizeof(d), "%s/crashed", base);
	rm_dir(d);
	rm_dir(base);
}

TestSuite(commitlog, .init = setup, .fini = teardown);

static void
copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;
	cr_assert(in >= 0 && out >= 0, "%s -> %s", from, to);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

static void
put_u64(struct store_txn *t, enum store_table tb, uint64_t k, const char *v)
{
	uint8_t kb[8];
	for (int i = 0; i < 8; i++)
		kb[i] = (uint8_t)(k >> (56 - 8 * i));
	struct store_val key = { 8, kb }, val = { strlen(v), v };
	cr_assert_eq(store_put(t, tb, &key, &val, 0), 0);
}

/* The value under k, or NULL (a static copy). */
static const char *
get_u64(struct store *s, enum store_table tb, uint64_t k)
{
	static char out[256];
	uint8_t kb[8];
	struct store_txn *t;
	struct store_val key = { 8, kb }, val;
	for (int i = 0; i < 8; i++)
		kb[i] = (uint8_t)(k >> (56 - 8 * i));
	cr_assert_eq(store_txn_begin(s, NULL, STORE_RDONLY, &t), 0);
	int rc = store_get(t, tb, &key, &val);
	const char *r = NULL;
	if (rc == 0) {
		cr_assert_lt(val.len, sizeof(out));
		memcpy(out, val.data, val.len);
		out[val.len] = '\0';
		r = out;
	} else {
		cr_assert_eq(rc, STORE_NOTFOUND);
	}
	store_txn_abort(t);
	return r;
}

/* A store whose data file is kept as it was at its open's checkpoint. */
static void
open_and_keep(struct store *s, char *kept, size_t len)
{
	const char *why;
	char data[300];
	cr_assert_eq(store_open(s, base, 1u << 24, 8, &why), 0, "%s", why ? why : "");
	cr_assert(store_carries(s));
	snprintf(data, sizeof(data), "%s/data.mdb", base);
	snprintf(kept, len, "%s/kept.mdb", base);
	copy_file(data, kept);
}

/* What a power loss now leaves, in base/crashed, opened. */
static void
crash_into(struct store *after, const char *kept)
{
	char d[300], f[400], log[300];
	const char *why;
	snprintf(d, sizeof(d), "%s/crashed", base);
	cr_assert_eq(mkdir(d, 0700), 0);
	snprintf(f, sizeof(f), "%s/data.mdb", d);
	copy_file(kept, f);
	snprintf(log, sizeof(log), "%s/" COMMITLOG_NAME, base);
	snprintf(f, sizeof(f), "%s/" COMMITLOG_NAME, d);
	copy_file(log, f);
	int rc = store_open(after, d, 1u << 24, 8, &why);
	/* A copy is another file: the log says which file it belongs to. */
	cr_assert_neq(rc, 0, "the log was applied to a data file it does not belong to");
	cr_assert_not_null(strstr(why, "another data file"), "%s", why);
}

Test(commitlog, records_survive_in_order_and_a_torn_one_ends_the_log)
{
	char path[300];
	struct commitlog *cl;
	const char *why;
	uint8_t meta[8192] = { 1 };
	snprintf(path, sizeof(path), "%s/" COMMITLOG_NAME, base);
	cr_assert_eq(commitlog_open(&cl, path, &why), 0);
	struct commitlog_header h;
	cr_assert_eq(commitlog_header(cl, &h), 0, "a new log has no header");
	cr_assert_eq(commitlog_checkpoint(cl, 4096, meta, sizeof(meta), 5, 6, 0), 0);
	cr_assert_eq(commitlog_append(cl, (const uint8_t *)"first", 5, 1), 0);
	cr_assert_eq(commitlog_append(cl, (const uint8_t *)"second", 6, 1), 0);
	cr_assert_eq(commitlog_append(cl, (const uint8_t *)"third", 5, 1), 0);
	cr_assert_eq(commitlog_undo(cl), 0);
	cr_assert_eq(commitlog_append(cl, (const uint8_t *)"fourth", 6, 1), 0);
	size_t used = commitlog_used(cl);
	commitlog_close(cl);

	cr_assert_eq(commitlog_open(&cl, path, &why), 0);
	cr_assert(commitlog_header(cl, &h));
	cr_assert_eq(h.generation, 1);
	cr_assert_eq(h.dev, 5);
	cr_assert_eq(h.ino, 6);
	cr_assert_eq(h.meta[0], 1);
	cr_assert_eq(commitlog_records(cl), 3, "the undone record came back");
	size_t len;
	const uint8_t *r = commitlog_record(cl, 2, &len);
	cr_assert(len == 6 && memcmp(r, "fourth", 6) == 0);
	commitlog_close(cl);

	/* One flipped byte in the last record: the log ends before it. */
	int fd = open(path, O_RDWR);
	size_t at = commitlog_records_start(4096) + used - 20;
	uint8_t b;
	cr_assert_eq(pread(fd, &b, 1, (off_t)at), 1);
	b ^= 0x40;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)at), 1);
	close(fd);
	cr_assert_eq(commitlog_open(&cl, path, &why), 0);
	cr_assert_eq(commitlog_records(cl), 2);
	/* A new generation: the old records no longer count. */
	cr_assert_eq(commitlog_checkpoint(cl, 4096, meta, sizeof(meta), 5, 6, 0), 0);
	commitlog_close(cl);
	cr_assert_eq(commitlog_open(&cl, path, &why), 0);
	cr_assert_eq(commitlog_records(cl), 0, "a record of an older generation was taken");
	commitlog_close(cl);
}

Test(commitlog, a_power_loss_keeps_every_committed_batch_and_nothing_aborted)
{
	struct store s, after;
	struct store_txn *t, *child;
	char kept[300], d[300], f[400];
	const char *why;
	open_and_keep(&s, kept, sizeof(kept));
	for (uint64_t i = 1; i <= 50; i++) {
		cr_assert_eq(store_txn_begin(&s, NULL, 0, &t), 0);
		put_u64(t, STORE_RECORDS, i, "sealed");
		/* A nested batch that aborts leaves nothing. */
		cr_assert_eq(store_txn_begin(&s, t, 0, &child), 0);
		put_u64(child, STORE_RECORDS, 1000 + i, "aborted");
		store_txn_abort(child);
		/* One that commits stays. */
		cr_assert_eq(store_txn_begin(&s, t, 0, &child), 0);
		put_u64(child, STORE_TOMBSTONES, i, "nested");
		cr_assert_eq(store_txn_commit(child), 0);
		cr_assert_eq(store_txn_commit(t), 0);
	}
	/* A reader (another thread's, in vaultd) that begins and ends inside a
	 * batch leaves the batch's record alone. */
	struct store_txn *reader;
	cr_assert_eq(store_txn_begin(&s, NULL, 0, &t), 0);
	put_u64(t, STORE_META, 1, "before the reader");
	cr_assert_eq(store_txn_begin(&s, NULL, STORE_RDONLY, &reader), 0);
	put_u64(t, STORE_META, 2, "while it reads");
	store_txn_abort(reader);
	put_u64(t, STORE_META, 3, "after it");
	cr_assert_eq(store_txn_commit(t), 0);
	/* A whole batch aborted. */
	cr_assert_eq(store_txn_begin(&s, NULL, 0, &t), 0);
	put_u64(t, STORE_RECORDS, 999, "aborted");
	store_txn_abort(t);
	/* Deletes, by key and by cursor, and a cursor's put. */
	cr_assert_eq(store_txn_begin(&s, NULL, 0, &t), 0);
	uint8_t kb[8] = { 0, 0, 0, 0, 0, 0, 0, 7 };
	struct store_val key = { 8, kb }, val;
	cr_assert_eq(store_del(t, STORE_RECORDS, &key), 0);
	struct store_cursor *c;
	cr_assert_eq(store_cursor_open(t, STORE_RECORDS, &c), 0);
	cr_assert_eq(store_cursor_get(c, &key, &val, STORE_FIRST), 0);
	cr_assert_eq(store_cursor_del(c), 0); /* id 1 */
	cr_assert_eq(store_cursor_get(c, &key, &val, STORE_NEXT), 0);
	struct store_val nv = { 7, "rewrap!" };
	cr_assert_eq(store_cursor_put(c, &nv), 0); /* id 2 */
	store_cursor_close(c);
	cr_assert_eq(store_txn_commit(t), 0);

	/* The pair in a directory of their own: the copy of the data file is
	 * another file, and the log refuses to be applied to it. */
	snprintf(d, sizeof(d), "%s/crashed", base);
	crash_into(&after, kept);
	/* So the power loss is made in place: the log saved as it is now, a
	 * clean close (which empties it), then the data file's own inode given
	 * the checkpoint's bytes back and the saved log put back. */
	char log[300], data[300];
	snprintf(log, sizeof(log), "%s/" COMMITLOG_NAME, base);
	snprintf(f, sizeof(f), "%s/" COMMITLOG_NAME, d);
	copy_file(log, f);
	store_close(&s);
	snprintf(data, sizeof(data), "%s/data.mdb", base);
	copy_file(kept, data);
	copy_file(f, log);
	cr_assert_eq(store_open(&after, base, 1u << 24, 8, &why), 0, "%s", why ? why : "");
	for (uint64_t i = 1; i <= 50; i++) {
		const char *v = get_u64(&after, STORE_RECORDS, i);
		if (i == 1 || i == 7)
			cr_assert_null(v, "deleted %llu came back", (unsigned long long)i);
		else
			cr_assert_str_eq(v, i == 2 ? "rewrap!" : "sealed", "record %llu",
			    (unsigned long long)i);
		cr_assert_str_eq(get_u64(&after, STORE_TOMBSTONES, i), "nested");
		cr_assert_null(get_u64(&after, STORE_RECORDS, 1000 + i), "an aborted nested batch");
	}
	cr_assert_null(get_u64(&after, STORE_RECORDS, 999), "an aborted batch came back");
	cr_assert_str_eq(get_u64(&after, STORE_META, 1), "before the reader");
	cr_assert_str_eq(get_u64(&after, STORE_META, 2), "while it reads");
	cr_assert_str_eq(get_u64(&after, STORE_META, 3), "after it");
	store_close(&after);
	/* The close checkpointed: the log is empty and the data file whole. */
	struct commitlog *cl;
	cr_assert_eq(commitlog_open(&cl, log, &why), 0);
	cr_assert_eq(commitlog_records(cl), 0);
	commitlog_close(cl);
}

Test(commitlog, carried_bytes_are_written_back_only_into_the_same_file)
{
	struct store s;
	struct store_txn *t;
	char kept[300], trail[300], data[300], log[300], saved[300];
	struct stat st;
	const char *why;
	snprintf(trail, sizeof(trail), "%s/trail", base);
	int fd = open(trail, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(write(fd, "entry 1\n", 8), 8);
	cr_assert_eq(fstat(fd, &st), 0);
	open_and_keep(&s, kept, sizeof(kept));
	cr_assert_eq(store_txn_begin(&s, NULL, 0, &t), 0);
	put_u64(t, STORE_META, 1, "x");
	cr_assert_eq(pwrite(fd, "entry 2\n", 8, 8), 8);
	cr_assert_eq(store_txn_carry(t, trail, (uint64_t)st.st_dev, (uint64_t)st.st_ino, 8,
	    "entry 2\n", 8), 0);
	cr_assert_eq(store_txn_commit(t), 0);
	snprintf(log, sizeof(log), "%s/" COMMITLOG_NAME, base);
	snprintf(saved, sizeof(saved), "%s/trail.log-copy", base);
	copy_file(log, saved);
	store_close(&s);
	snprintf(data, sizeof(data), "%s/data.mdb", base);
	copy_file(kept, data);
	copy_file(saved, log);
	unlink(saved);
	/* The power loss took the second entry. */
	cr_assert_eq(ftruncate(fd, 8), 0);
	cr_assert_eq(store_open(&s, base, 1u << 24, 8, &why), 0, "%s", why ? why : "");
	char buf[32] = { 0 };
	cr_assert_eq(pread(fd, buf, sizeof(buf), 0), 16, "the carried entry was not written back");
	cr_assert_str_eq(buf, "entry 1\nentry 2\n");
	cr_assert_str_eq(get_u64(&s, STORE_META, 1), "x");
	store_close(&s);
	close(fd);
}

Test(commitlog, a_huge_batch_grows_the_log_and_a_wiping_checkpoint_shrinks_and_clears_it)
{
	char path[300];
	struct commitlog *cl;
	struct stat st;
	const char *why;
	uint8_t meta[8192] = { 0 };
	size_t big = 20u << 20;
	uint8_t *body = malloc(big);
	cr_assert_not_null(body);
	memset(body, 0x5a, big);
	snprintf(path, sizeof(path), "%s/" COMMITLOG_NAME, base);
	cr_assert_eq(commitlog_open(&cl, path, &why), 0);
	cr_assert_eq(commitlog_checkpoint(cl, 4096, meta, sizeof(meta), 1, 2, 0), 0);
	cr_assert_eq(commitlog_append(cl, body, big, 1), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_gt((size_t)st.st_size, big);
	commitlog_close(cl);
	cr_assert_eq(commitlog_open(&cl, path, &why), 0);
	cr_assert_eq(commitlog_records(cl), 1);
	size_t len;
	const uint8_t *r = commitlog_record(cl, 0, &len);
	cr_assert(len == big && r[0] == 0x5a && r[big - 1] == 0x5a);
	/* A wiping checkpoint (a close's) leaves zeros and at most 16 MiB. */
	cr_assert_eq(commitlog_checkpoint(cl, 4096, meta, sizeof(meta), 1, 2, 1), 0);
	commitlog_close(cl);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_leq(st.st_size, 16 << 20, "the log kept %lld bytes", (long long)st.st_size);
	/* Nothing of the batch is left in the file. */
	int fd = open(path, O_RDONLY);
	uint8_t *all = malloc((size_t)st.st_size);
	cr_assert_eq(read(fd, all, (size_t)st.st_size), st.st_size);
	close(fd);
	for (off_t i = (off_t)commitlog_records_start(4096); i < st.st_size; i++)
		cr_assert_eq(all[i], 0, "a byte of the batch at %lld", (long long)i);
	free(all);
	free(body);
}
