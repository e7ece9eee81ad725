/*
 * test_safedir.c - the path walk behind vaultd's socket, data and key
 * directories: each step must be one that nobody but root or vaultd's user
 * can replace, links included (e2e-socket runs vaultd on the same shapes).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "vault/safedir.h"

static char base[256];
static char err[512];

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(base, sizeof(base), "%s/safedir-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(base));
}

static void
teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
}

TestSuite(safedir, .init = setup, .fini = teardown);

/* base/name, made a directory of mode (chmod: the umask does not apply). */
static const char *
dir(const char *name, mode_t mode)
{
	static char path[8][PATH_MAX];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, PATH_MAX, "%s/%s", base, name);
	cr_assert_eq(mkdir(p, 0700), 0, "%s: %s", p, strerror(errno));
	cr_assert_eq(chmod(p, mode), 0);
	return p;
}

static const char *
at(const char *name)
{
	static char path[8][PATH_MAX];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, PATH_MAX, "%s/%s", base, name);
	return p;
}

Test(safedir, a_private_path_passes)
{
	const char *d = dir("run", 0700);
	cr_assert_eq(safedir_ancestors(d, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(safedir_path(d, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(safedir_own(d, 027, err, sizeof(err)), 0, "%s", err);
}

Test(safedir, a_parent_others_may_write_to_fails_unless_sticky)
{
	dir("open", 0777);
	const char *d = dir("open/run", 0700);
	cr_assert_eq(safedir_ancestors(d, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "open is writable by others"), "%s", err);
	cr_assert_eq(safedir_path(at("open"), err, sizeof(err)), -1);
	/* The directory itself is not an ancestor. */
	cr_assert_eq(safedir_ancestors(at("open"), err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(chmod(at("open"), 0770), 0);
	cr_assert_eq(safedir_ancestors(d, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "writable by its group"), "%s", err);
	cr_assert_eq(chmod(at("open"), 01777), 0);
	cr_assert_eq(safedir_ancestors(d, err, sizeof(err)), 0, "%s", err);
}

Test(safedir, links_are_followed_and_their_targets_checked)
{
	dir("open", 0777);
	dir("open/real", 0700);
	dir("safe", 0700);
	/* A relative link to a directory in a world-writable one. */
	cr_assert_eq(symlink("open/real", at("l1")), 0);
	cr_assert_eq(safedir_path(at("l1"), err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "open is writable by others"), "%s", err);
	/* A link to a safe place passes, as a parent or as the directory. */
	cr_assert_eq(symlink("safe", at("l2")), 0);
	cr_assert_eq(safedir_path(at("l2"), err, sizeof(err)), 0, "%s", err);
	dir("safe/run", 0700);
	cr_assert_eq(safedir_ancestors(at("l2/run"), err, sizeof(err)), 0, "%s", err);
	/* A chain whose middle link sits where others may write. */
	cr_assert_eq(symlink(at("safe"), at("open/l3")), 0);
	cr_assert_eq(symlink(at("open/l3"), at("l4")), 0);
	cr_assert_eq(safedir_path(at("l4"), err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "open is writable by others"), "%s", err);
	/* A loop ends. */
	cr_assert_eq(symlink("loop-b", at("loop-a")), 0);
	cr_assert_eq(symlink("loop-a", at("loop-b")), 0);
	cr_assert_eq(safedir_path(at("loop-a"), err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "too many symbolic links"), "%s", err);
}

Test(safedir, relative_paths_and_dot_dot)
{
	char cwd[PATH_MAX];
	dir("sub", 0700);
	dir("open", 0777);
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(base), 0);
	int ok = safedir_path("sub", err, sizeof(err));
	int bad = safedir_path("open/../open", err, sizeof(err));
	cr_assert_eq(chdir(cwd), 0);
	cr_assert_eq(ok, 0, "%s", err);
	cr_assert_eq(bad, -1);
	cr_assert_eq(safedir_path(at("sub/../sub"), err, sizeof(err)), 0, "%s", err);
}

Test(safedir, the_directory_itself)
{
	const char *d = dir("run", 0750);
	cr_assert_eq(safedir_own(d, 027, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(chmod(d, 0770), 0);
	cr_assert_eq(safedir_own(d, 027, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "at most 0750"), "%s", err);
	cr_assert_eq(chmod(d, 0701), 0);
	cr_assert_eq(safedir_own(d, 027, err, sizeof(err)), -1);
	cr_assert_eq(chmod(d, 0700), 0);
	cr_assert_eq(symlink(d, at("link")), 0);
	cr_assert_eq(safedir_own(at("link"), 027, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "symbolic link"), "%s", err);
	cr_assert_eq(safedir_own(at("missing"), 027, err, sizeof(err)), -2);
	cr_assert_eq(close(creat(at("file"), 0600)), 0);
	cr_assert_eq(safedir_own(at("file"), 027, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "not a directory"), "%s", err);
}
