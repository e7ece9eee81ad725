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
