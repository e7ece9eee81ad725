/*
 * fuzz-main.c - a standalone driver for one harness: replays files through
 * LLVMFuzzerTestOneInput() without libFuzzer, so the corpora and crash
 * reproducers run as ordinary meson tests with any compiler.
 *
 *   fuzz-<name>-replay [--expect-failure] PATH...
 *
 * Each PATH is a file or a directory whose files (not hidden ones, not
 * recursively) are replayed in name order. A directory that does not exist
 * is skipped with a note (a harness may have no reproducers yet), but at
 * least one input must be found (with --expect-failure none need be: there
 * may be no open bugs). Every input is passed as an exact-size heap copy,
 * so a sanitizer build catches reads past its end.
 *
 * A failing input aborts the process, as under libFuzzer. With
 * --expect-failure each input is replayed by a fresh copy of this program
 * (fork and exec, so harnesses with threads start whole) and must fail
 * there (abort, signal or non-zero exit); in directories only the files
 * named open-* are taken. This replays the reproducers of open bugs with
 * FUZZ_STRICT=1 and reports any that no longer reproduce.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

static int expect_failure;
static size_t replayed, still_failing, not_failing;

static uint8_t *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t cap = 0, n = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *p = realloc(data, cap);
			if (p == NULL) {
				free(data);
				fclose(f);
				return NULL;
			}
			data = p;
		}
		size_t r = fread(data + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(data);
		return NULL;
	}
	*len = n;
	return data;
}

/*
 * Replay path in a new process; 1 if it failed there. The child gets a
 * TMPDIR of its own, removed afterwards: a process that aborts leaves its
 * fixtures behind.
 */
static int
fails_alone(const char *path)
{
	int status = 0;
	char tmp[PATH_MAX];
	fuzz_tmpdir(tmp, "replay");
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		setenv("TMPDIR", tmp, 1);
		execl("/proc/self/exe", "fuzz-replay", path, (char *)NULL);
		perror("exec /proc/self/exe");
		_exit(0); /* counts as "no longer fails": noticed either way */
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	fuzz_rmtree(tmp);
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
run_one(const char *path)
{
	size_t len = 0;

	if (expect_failure) {
		printf("%s\n", path);
		fflush(stdout);
		if (fails_alone(path)) {
			printf("  still fails, as expected\n");
			still_failing++;
		} else {
			printf("  NO LONGER FAILS: the bug seems fixed; rename it fixed-*\n");
			not_failing++;
		}
		replayed++;
		return;
	}
	uint8_t *all = read_all(path, &len);
	if (all == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
	/* Exactly len bytes, as libFuzzer passes them. */
	uint8_t *data = fuzz_dup(all, len);
	free(all);
	printf("%s (%zu bytes)\n", path, len);
	fflush(stdout);

	LLVMFuzzerTestOneInput(data, len);
	free(data);
	replayed++;
}

static int
visible(const struct dirent *e)
{
	if (expect_failure)
		return strncmp(e->d_name, "open-", 5) == 0;
	return e->d_name[0] != '.';
}

static void
run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT) {
			printf("%s: does not exist, skipped\n", path);
			return;
		}
		perror(path);
		exit(2);
	}
	if (!S_ISDIR(st.st_mode)) {
		run_one(path);
		return;
	}
	struct dirent **names;
	int n = scandir(path, &names, visible, alphasort);
	if (n < 0) {
		perror(path);
		exit(2);
	}
	for (int i = 0; i < n; i++) {
		char file[PATH_MAX];
		struct stat fst;
		snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
		if (stat(file, &fst) == 0 && S_ISREG(fst.st_mode))
			run_one(file);
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char **argv)
{
	int first = 1;
	if (argc > 1 && strcmp(argv[1], "--expect-failure") == 0) {
		expect_failure = 1;
		first = 2;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: %s [--expect-failure] PATH...\n", argv[0]);
		return 2;
	}
	if (!expect_failure)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = first; i < argc; i++)
		run_path(argv[i]);
	if (replayed == 0 && !expect_failure) {
		fprintf(stderr, "no inputs found\n");
		return 1;
	}
	if (expect_failure) {
		printf("%zu inputs: %zu still fail, %zu no longer fail\n", replayed,
		    still_failing, not_failing);
		return not_failing == 0 ? 0 : 1;
	}
	printf("%zu inputs replayed\n", replayed);
	return 0;
}
