/*
 * test_journal.c - the deletion journal's failure paths: a short write (a
 * full disk: RLIMIT_FSIZE gives the same short write, then EFBIG), a torn
 * tail with garbage after it, a damaged entry before the tail, an earlier
 * format and a file that is no journal. The old format (16-byte entries
 * without checks, appended with O_APPEND) misaligned every later entry
 * after one short write.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <vault/vault.h>

#include "vault/journal.h"

static char base[256], path[300];

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	cr_assert(sodium_init() >= 0);
	snprintf(base, sizeof(base), "%s/journal-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(base));
	snprintf(path, sizeof(path), "%s/deletions", base);
}

static void
teardown(void)
{
	unlink(path);
	rmdir(base);
}

TestSuite(journal, .init = setup, .fini = teardown);

static void
append_range(struct journal *j, uint64_t from, uint64_t to)
{
	struct journal_entry e[300];
	size_t n = 0;
	for (uint64_t id = from; id < to; id++, n++)
		e[n] = (struct journal_entry){ id, 1700000000 + id };
	cr_assert_eq(journal_append(j, e, n), 0);
}

/* Every id in [from, to) is in the journal, with its time. */
static void
expect_ids(uint64_t from, uint64_t to, size_t total)
{
	struct journal_entry *e;
	struct journal_scan sc;
	size_t n;
	cr_assert_eq(journal_read(path, &e, &n, &sc), 0);
	cr_assert_eq(sc.state, JOURNAL_OK, "state %s", journal_state_text(sc.state));
	cr_assert_eq(n, total);
	for (uint64_t id = from; id < to; id++) {
		size_t i;
		for (i = 0; i < n && e[i].id != id; i++)
			;
		cr_assert_lt(i, n, "deletion of %llu lost", (unsigned long long)id);
		cr_assert_eq(e[i].time, 1700000000 + id);
	}
	free(e);
}

static off_t
file_size(void)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	return st.st_size;
}

Test(journal, appends_read_back_sorted)
{
	struct journal j;
	cr_assert_eq(journal_open(&j, path, NULL), 0);
	append_range(&j, 100, 150);
	append_range(&j, 1, 20);
	journal_close(&j);
	expect_ids(1, 20, 69);
	expect_ids(100, 150, 69);
	cr_assert_eq(file_size(), JOURNAL_HEADER + 69 * JOURNAL_ENTRY);
}

Test(journal, short_write_on_a_full_disk_leaves_no_torn_entry)
{
	struct journal j;
	struct rlimit old, lim;
	cr_assert_eq(journal_open(&j, path, NULL), 0);
	append_range(&j, 1, 11);
	/* "Disk full" in the middle of the next batch's 5th entry. */
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)(JOURNAL_HEADER + 14 * JOURNAL_ENTRY + 7);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct journal_entry e[20];
	for (int i = 0; i < 20; i++)
		e[i] = (struct journal_entry){ 1000 + (uint64_t)i, 1700001000 + (uint64_t)i };
	cr_assert_neq(journal_append(&j, e, 20), 0, "the short write is reported");
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_eq(file_size(), JOURNAL_HEADER + 10 * JOURNAL_ENTRY, "cut back");
	/* Later appends land right after the last valid entry. */
	append_range(&j, 200, 210);
	journal_close(&j);
	expect_ids(1, 11, 20);
	expect_ids(200, 210, 20);
}

Test(journal, torn_tail_with_garbage_is_cut_at_open)
{
	struct journal j;
	cr_assert_eq(journal_open(&j, path, NULL), 0);
	append_range(&j, 1, 281);
	journal_close(&j);
	/* Cut mid-entry, then garbage after it. */
	off_t cut = JOURNAL_HEADER + 279 * JOURNAL_ENTRY + 13;
	cr_assert_eq(truncate(path, cut), 0);
	int fd = open(path, O_WRONLY | O_APPEND);
	uint8_t junk[333];
	randombytes_buf(junk, sizeof(junk));
	cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);

	struct journal_entry *e;
	struct journal_scan sc;
	size_t n;
	cr_assert_eq(journal_read(path, &e, &n, &sc), 0);
	cr_assert_eq(sc.state, JOURNAL_TORN);
	cr_assert_eq(n, 279);
	cr_assert_eq(sc.valid_end, JOURNAL_HEADER + 279 * JOURNAL_ENTRY);
	cr_assert_eq(sc.tail_bytes, 13 + sizeof(junk));
	free(e);

	cr_assert_eq(journal_open(&j, path, NULL), 0);
	cr_assert_eq(file_size(), JOURNAL_HEADER + 279 * JOURNAL_ENTRY, "the tail is cut");
	append_range(&j, 281, 290);
	journal_close(&j);
	expect_ids(1, 280, 288);
	expect_ids(281, 290, 288);
}

Test(journal, damaged_entry_before_the_tail_is_refused)
{
	struct journal j;
	cr_assert_eq(journal_open(&j, path, NULL), 0);
	append_range(&j, 1, 51);
	journal_close(&j);
	int fd = open(path, O_RDWR);
	uint8_t b;
	off_t at = JOURNAL_HEADER + 20 * JOURNAL_ENTRY + 9;
	cr_assert_eq(pread(fd, &b, 1, at), 1);
	b ^= 0x40;
	cr_assert_eq(pwrite(fd, &b, 1, at), 1);
	close(fd);
	off_t before = file_size();

	struct journal_entry *e;
	struct journal_scan sc;
	size_t n;
	cr_assert_eq(journal_read(path, &e, &n, &sc), VAULT_E_STORAGE);
	cr_assert_eq(sc.state, JOURNAL_DAMAGED);
	cr_assert_eq(sc.bad_at, JOURNAL_HEADER + 20 * JOURNAL_ENTRY);
	cr_assert_null(e);
	cr_assert_neq(journal_open(&j, path, NULL), 0, "not opened, not repaired");
	cr_assert_eq(file_size(), before, "nothing cut or appended");
}

Test(journal, earlier_format_and_other_files_are_refused)
{
	struct journal_entry *e;
	struct journal_scan sc;
	struct journal j;
	size_t n;
	FILE *f = fopen(path, "w");
	fwrite("VAULTDJ1", 1, 8, f);
	fwrite("\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\2", 1, 16, f);
	fclose(f);
	cr_assert_eq(journal_read(path, &e, &n, &sc), VAULT_E_CONFIG);
	cr_assert_eq(sc.state, JOURNAL_OLD);
	cr_assert_neq(journal_open(&j, path, NULL), 0);
	cr_assert_eq(file_size(), 24, "left as it was");

	f = fopen(path, "w");
	fputs("not a journal at all", f);
	fclose(f);
	cr_assert_eq(journal_read(path, &e, &n, &sc), VAULT_E_CONFIG);
	cr_assert_eq(sc.state, JOURNAL_NOT);
	cr_assert_neq(journal_open(&j, path, NULL), 0);

	unlink(path);
	cr_assert_eq(journal_read(path, &e, &n, &sc), 0);
	cr_assert_eq(sc.state, JOURNAL_MISSING);
	/* A header cut short (a kill at creation) is started again. */
	f = fopen(path, "w");
	fputs("VAUL", f);
	fclose(f);
	cr_assert_eq(journal_open(&j, path, NULL), 0);
	append_range(&j, 5, 6);
	journal_close(&j);
	expect_ids(5, 6, 1);
}

/* ---- a batch's entries written beside the store's commit (issue 19) ------ */

#include "vault/store/record_codec.h"
#include "vault/store/store.h"

/* A store with record 5 live, record 3 deleted (tombstone), next_id 10. */
static void
make_store(struct store *st)
{
	char dir[320];
	const char *why;
	struct store_txn *txn;
	uint8_t kb[8], tb[TOMBSTONE_BYTES], nb[8];
	snprintf(dir, sizeof(dir), "%s/data", base);
	cr_assert_eq(mkdir(dir, 0700), 0);
	cr_assert_eq(store_open(st, dir, (size_t)16 << 20, 8, &why), 0);
	cr_assert_eq(store_txn_begin(st, NULL, 0, &txn), 0);
	struct store_val k = { 8, kb }, rec = { 4, "rec" };
	store_put_id(kb, 5);
	cr_assert_eq(store_put(txn, STORE_RECORDS, &k, &rec, 0), 0);
	struct tombstone t = { VAULT_DELETE_ADMINISTRATIVE, 1700000003 };
	tombstone_encode(&t, tb);
	struct store_val tv = { sizeof(tb), tb };
	store_put_id(kb, 3);
	cr_assert_eq(store_put(txn, STORE_TOMBSTONES, &k, &tv, 0), 0);
	store_put_id(nb, 10);
	struct store_val nk = { 7, "next_id" }, nv = { 8, nb };
	cr_assert_eq(store_put(txn, STORE_META, &nk, &nv, 0), 0);
	cr_assert_eq(store_txn_commit(txn), 0);
}

static void
drop_store(struct store *st)
{
	char f[340];
	store_close(st);
	snprintf(f, sizeof(f), "%s/data/data.mdb", base);
	unlink(f);
	snprintf(f, sizeof(f), "%s/data/lock.mdb", base);
	unlink(f);
	snprintf(f, sizeof(f), "%s/data", base);
	rmdir(f);
}

/* A journal holding ids[0..n) in that order, as a crash could leave it. */
static void
write_journal(const uint64_t *ids, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	uint8_t e[JOURNAL_ENTRY];
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, JOURNAL_MAGIC, JOURNAL_HEADER), JOURNAL_HEADER);
	for (size_t i = 0; i < n; i++) {
		journal_encode(&(struct journal_entry){ ids[i], 1700000000 + ids[i] }, e);
		cr_assert_eq(write(fd, e, sizeof(e)), (ssize_t)sizeof(e));
	}
	close(fd);
}

/*
 * A crash after a batch's journal entries were flushed and before its
 * commit reached the disk: deletion 5 (a live record) and 12 (an id past
 * next_id, created in the lost batch) were never kept nor acknowledged.
 * The start cuts them off; the old journal_open kept them, so a restore
 * would delete live record 5 and any record later given id 12.
 */
Test(journal, entries_the_store_never_kept_are_cut_at_open)
{
	struct store st;
	struct journal j;
	make_store(&st);
	write_journal((const uint64_t[]){ 3, 5, 12 }, 3);
	cr_assert_eq(journal_open(&j, path, &st), 0);
	journal_close(&j);
	expect_ids(3, 4, 1);
	cr_assert_eq(file_size(), JOURNAL_HEADER + JOURNAL_ENTRY);
	drop_store(&st);
}

/* Only a run at the end is cut, and only of entries the store disowns:
 * an id below next_id that is neither live nor deleted is left alone. */
Test(journal, only_a_tail_of_unkept_deletions_is_cut)
{
	struct store st;
	struct journal j;
	make_store(&st);
	write_journal((const uint64_t[]){ 5, 3 }, 2);
	cr_assert_eq(journal_open(&j, path, &st), 0);
	journal_close(&j);
	expect_ids(3, 4, 2);
	expect_ids(5, 6, 2);
	write_journal((const uint64_t[]){ 3, 5, 7 }, 3);
	cr_assert_eq(journal_open(&j, path, &st), 0);
	journal_close(&j);
	expect_ids(7, 8, 3);
	drop_store(&st);
}

/* The writer's two steps: written entries count only once flushed, and a
 * failed commit cuts them back. */
Test(journal, write_then_flush_or_cancel)
{
	struct journal j;
	struct journal_entry e[2] = { { 1, 1700000001 }, { 2, 1700000002 } };
	cr_assert_eq(journal_open(&j, path, NULL), 0);
	cr_assert_eq(journal_write(&j, e, 1), 0);
	cr_assert_eq(journal_flush(&j), 0);
	cr_assert_eq(journal_write(&j, e + 1, 1), 0);
	cr_assert_eq(file_size(), JOURNAL_HEADER + 2 * JOURNAL_ENTRY);
	journal_cancel(&j);
	cr_assert_eq(file_size(), JOURNAL_HEADER + JOURNAL_ENTRY);
	cr_assert_eq(journal_write(&j, e + 1, 1), 0);
	cr_assert_eq(journal_flush(&j), 0);
	journal_close(&j);
	expect_ids(1, 3, 2);
}
