/*
 * test_socket.c - end-to-end: nobody but vaultd can sit on its socket, and
 * clients know they talk to vaultd.
 *
 * The attack: a service in the socket's group (the old docs recommended a
 * 0770 directory) unlinks vaultd's socket, binds its own, and receives the
 * other services' requests, card numbers included. The tests start the
 * real vaultd on directories of every shape that allowed it and check
 * that it refuses them; run the attack as another uid against the setup
 * it accepts; and run a fake server as another uid to check that the
 * client library and vaultctl refuse it before sending a single byte.
 *
 * Other uids need root (CI runs the tests as root). Without root, the
 * tests that need it fail: they never skip silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "harness.h"

/* The other service: nobody, in a group of services (nogroup). */
#define OTHER_UID 65534
#define SERVICES_GID 65534

static void
require_root(void)
{
	cr_assert_eq(geteuid(), 0, "this test needs root, to act as another uid "
	    "(CI runs the tests as root): run it as root, it does not skip");
}

/* A vaultd that started once (keys made), now stopped: p's files stay. */
static void
stopped_vaultd(struct vaultd_proc *p)
{
	vaultd_start(p, NULL);
	cr_assert_eq(vaultd_stop(p), 0);
}

/* vaultd must refuse to start on p as it is, saying needle in its log. */
static void
assert_refused(struct vaultd_proc *p, const char *what, const char *needle)
{
	size_t n;

	if (vaultd_try_restart(p) == 0) {
		vaultd_stop(p);
		cr_assert_fail("vaultd started with %s", what);
	}
	char *log = read_file_all(p->log, &n);
	cr_assert_not_null(log);
	cr_assert_not_null(strstr(log, needle), "%s: the log does not say \"%s\": %s",
	    what, needle, log);
	free(log);
}

static void
assert_starts(struct vaultd_proc *p, const char *what)
{
	if (vaultd_try_restart(p) != 0) {
		size_t n;
		char *log = read_file_all(p->log, &n);
		cr_assert_fail("vaultd refused %s: %s", what, log ? log : "(no log)");
	}
	cr_assert_eq(vaultd_stop(p), 0);
}

static void
socket_dir(const struct vaultd_proc *p, char *out, size_t len)
{
	snprintf(out, len, "%s", p->socket);
	*strrchr(out, '/') = '\0';
}

/*
 * Put the socket in p->dir/parent/run (parent made 0700 here): so that a
 * test can change the socket directory's parent without touching the
 * data and key directories beside it.
 */
static void
nest_socket(struct vaultd_proc *p, const char *parent)
{
	char dir[300], *conf, *at, *rest, *out;
	size_t n;

	vaultd_path(p, parent, dir, sizeof(dir));
	cr_assert_eq(mkdir(dir, 0700), 0);
	conf = read_file_all(p->config, &n);
	cr_assert_not_null(conf);
	at = strstr(conf, p->socket);
	cr_assert_not_null(at);
	rest = at + strlen(p->socket);
	*at = '\0';
	snprintf(p->socket, sizeof(p->socket), "%s/run/vaultd.sock", dir);
	cr_assert_geq(asprintf(&out, "%s%s%s", conf, p->socket, rest), 0);
	FILE *f = fopen(p->config, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(out, f) >= 0 && fclose(f) == 0, 1);
	free(conf);
	free(out);
}

Test(socket, dir_writable_by_its_group_or_others_is_refused, .timeout = 120)
{
	/* Every mode that lets someone else write, or others in, at all. */
	static const mode_t bad[] = { 0770, 02770, 01770, 0730, 0720, 0760, 0775, 0777,
		0751, 0705, 0701 };
	/* The documented maximum, 0750, and what is below it. */
	static const mode_t good[] = { 0750, 02750, 0710, 0700 };
	struct vaultd_proc p;
	char run[600], what[64];
	struct stat st;

	stopped_vaultd(&p);
	socket_dir(&p, run, sizeof(run));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(chmod(run, bad[i]), 0);
		snprintf(what, sizeof(what), "a socket directory of mode %04o", (unsigned)bad[i]);
		assert_refused(&p, what, "at most 0750");
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(chmod(run, good[i]), 0);
		snprintf(what, sizeof(what), "a socket directory of mode %04o", (unsigned)good[i]);
		assert_starts(&p, what);
	}
	/* A missing directory is created, 0700 whatever the umask allows. */
	cr_assert_eq(rmdir(run), 0);
	assert_starts(&p, "a missing socket directory");
	cr_assert_eq(lstat(run, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0700, "created with mode %04o",
	    (unsigned)(st.st_mode & 07777));
	vaultd_cleanup(&p);
}

Test(socket, symlinked_dir_is_refused, .timeout = 60)
{
	struct vaultd_proc p;
	char run[600], real[600];

	stopped_vaultd(&p);
	socket_dir(&p, run, sizeof(run));
	vaultd_path(&p, "real-run", real, sizeof(real));
	/* The link's target is a perfect socket directory: the link is the fault. */
	cr_assert_eq(rename(run, real), 0);
	cr_assert_eq(symlink(real, run), 0);
	assert_refused(&p, "a symbolic link as the socket directory", "symbolic link");
	vaultd_cleanup(&p);
}

Test(socket, parent_writable_by_others_is_refused, .timeout = 60)
{
	struct vaultd_proc p;
	char nest[600];

	stopped_vaultd(&p);
	nest_socket(&p, "nest");
	vaultd_path(&p, "nest", nest, sizeof(nest));
	assert_starts(&p, "a socket directory in a 0700 parent");
	/* Whoever may write to the parent can rename run/ and put theirs there. */
	cr_assert_eq(chmod(nest, 0777), 0);
	assert_refused(&p, "a world-writable parent", "nest is writable by others");
	cr_assert_eq(chmod(nest, 0770), 0);
	assert_refused(&p, "a group-writable parent", "nest is writable by its group");
	/* The sticky bit (as on /tmp): others cannot rename what is ours. */
	cr_assert_eq(chmod(nest, 01777), 0);
	assert_starts(&p, "a sticky world-writable parent");
	/* A link on the way is followed, and where it leads is checked too. */
	char open[600], link[600];
	vaultd_path(&p, "open", open, sizeof(open));
	cr_assert_eq(chmod(nest, 0700), 0);
	cr_assert_eq(rename(nest, open), 0);
	cr_assert_eq(symlink(open, nest), 0);
	assert_starts(&p, "a link to a safe parent");
	cr_assert_eq(chmod(open, 0777), 0);
	assert_refused(&p, "a link to a world-writable parent", "open is writable by others");
	/* And a link in a directory others may write to could be changed. */
	cr_assert_eq(chmod(open, 0700), 0);
	vaultd_path(&p, "shared", link, sizeof(link));
	cr_assert_eq(mkdir(link, 0777), 0);
	cr_assert_eq(chmod(link, 0777), 0);
	cr_assert_eq(unlink(nest), 0);
	vaultd_path(&p, "shared/nest", link, sizeof(link));
	cr_assert_eq(symlink(open, link), 0);
	cr_assert_eq(symlink(link, nest), 0);
	assert_refused(&p, "a link in a world-writable directory", "shared is writable by others");
	vaultd_cleanup(&p);
}

Test(socket, data_and_key_directories_on_a_path_others_can_change_are_refused,
    .timeout = 60)
{
	struct vaultd_proc p;
	static const char *const dirs[] = { "data", "keys" };
	char dir[600], open[600], moved[700];

	stopped_vaultd(&p);
	vaultd_path(&p, "open", open, sizeof(open));
	cr_assert_eq(mkdir(open, 0700), 0);
	for (size_t i = 0; i < 2; i++) {
		/* The directory itself is perfect (0700, ours); the way to it is not. */
		vaultd_path(&p, dirs[i], dir, sizeof(dir));
		snprintf(moved, sizeof(moved), "%s/%s", open, dirs[i]);
		cr_assert_eq(rename(dir, moved), 0);
		cr_assert_eq(symlink(moved, dir), 0);
		cr_assert_eq(chmod(open, 0700), 0);
		assert_starts(&p, "a data or key directory through a safe link");
		cr_assert_eq(chmod(open, 0777), 0);
		assert_refused(&p, dirs[i], "open is writable by others");
		cr_assert_eq(unlink(dir), 0);
		cr_assert_eq(rename(moved, dir), 0);
	}
	assert_starts(&p, "the directories back in place");

	/* The backup directory, checked at each backup. */
	struct vault *v;
	char *path = NULL;
	uint64_t bytes;
	vaultd_path(&p, "backups", dir, sizeof(dir));
	snprintf(moved, sizeof(moved), "%s/backups", open);
	cr_assert_eq(mkdir(moved, 0700), 0);
	cr_assert_eq(symlink(moved, dir), 0);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_eq(chmod(open, 0777), 0);
	cr_assert_eq(vault_backup(v, "b1", &path, &bytes), VAULT_E_CONFIG);
	cr_assert_null(path);
	cr_assert_eq(chmod(open, 0700), 0);
	cr_assert_eq(vault_backup(v, "b1", &path, &bytes), 0, "%s", vault_last_message(v));
	vault_free(path);
	vault_close(v);
	vaultd_finish(&p);
}

Test(socket, dir_or_parent_owned_by_another_user_is_refused, .timeout = 60)
{
	struct vaultd_proc p;
	char run[600];

	require_root();
	stopped_vaultd(&p);
	socket_dir(&p, run, sizeof(run));
	cr_assert_eq(chown(run, OTHER_UID, SERVICES_GID), 0);
	assert_refused(&p, "a socket directory of another user", "not by vaultd's user");
	cr_assert_eq(chown(run, 0, 0), 0);
	/* The parent's owner may do anything in it, whatever its mode. */
	char nest[600];
	nest_socket(&p, "nest");
	vaultd_path(&p, "nest", nest, sizeof(nest));
	cr_assert_eq(chown(nest, OTHER_UID, SERVICES_GID), 0);
	assert_refused(&p, "a parent of another user", "nest is owned by uid 65534");
	cr_assert_eq(chown(nest, 0, 0), 0);
	assert_starts(&p, "a parent of root");
	vaultd_cleanup(&p);
}

/* A socket file bound at path by a process that is gone: a stale socket. */
static void
stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

Test(socket, socket_file_of_another_user_is_not_removed, .timeout = 60)
{
	struct vaultd_proc p;
	struct stat before, after;

	require_root();
	stopped_vaultd(&p);
	stale_socket(p.socket);
	cr_assert_eq(chown(p.socket, OTHER_UID, SERVICES_GID), 0);
	cr_assert_eq(lstat(p.socket, &before), 0);
	assert_refused(&p, "another user's socket at the socket path", "not removing it");
	cr_assert_eq(lstat(p.socket, &after), 0, "vaultd removed another user's socket");
	cr_assert_eq(after.st_ino, before.st_ino);
	/* Its own stale socket (a crash) is replaced as before. */
	cr_assert_eq(chown(p.socket, 0, 0), 0);
	assert_starts(&p, "its own stale socket");
	vaultd_cleanup(&p);
}

/* Become the other service: uid OTHER_UID, in the services' group only. */
static void
become_other_service(void)
{
	gid_t g = SERVICES_GID;
	if (setgroups(1, &g) != 0 || setgid(SERVICES_GID) != 0 || setuid(OTHER_UID) != 0)
		_exit(99);
}

enum attack_result {
	ATTACK_FAILED = 0,       /* every step refused: what must happen */
	ATTACK_NO_ACCESS = 10,   /* could not even connect: the test proves nothing */
	ATTACK_UNLINKED = 20,    /* unlinked vaultd's socket and bound its own */
	ATTACK_RENAMED = 21,     /* moved vaultd's socket away */
	ATTACK_DIR_MOVED = 22,   /* moved the socket directory away */
	ATTACK_CREATED = 23,     /* bound a socket of its own in the directory */
};

static int
bind_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* In a child: the other service tries to take vaultd's place. */
static int
attack(const struct vaultd_proc *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char run[600], moved[700], other[700];

	become_other_service();
	socket_dir(p, run, sizeof(run));
	snprintf(moved, sizeof(moved), "%s/moved.sock", run);
	snprintf(other, sizeof(other), "%s/other.sock", run);
	/* It may connect, as the services of the group must be able to. */
	memcpy(sa.sun_path, p->socket, strlen(p->socket) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return ATTACK_NO_ACCESS;
	close(fd);
	if (unlink(p->socket) == 0) {
		bind_at(p->socket); /* and now it receives the requests */
		return ATTACK_UNLINKED;
	}
	if (rename(p->socket, moved) == 0)
		return ATTACK_RENAMED;
	snprintf(moved, sizeof(moved), "%s/run.moved", p->dir);
	if (rename(run, moved) == 0)
		return ATTACK_DIR_MOVED;
	if (bind_at(other) >= 0)
		return ATTACK_CREATED;
	return ATTACK_FAILED;
}

static int
run_attack(const struct vaultd_proc *p)
{
	int st;
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0)
		_exit(attack(p));
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

Test(socket, a_service_of_the_group_cannot_replace_the_socket, .timeout = 120)
{
	/* The setup the docs recommended (0770), then the new maximum (0750). */
	static const mode_t modes[] = { 02770, 02750 };
	struct vaultd_proc p;
	char run[600];
	struct stat before, after;
	int started[2] = { 0, 0 };

	require_root();
	stopped_vaultd(&p);
	socket_dir(&p, run, sizeof(run));
	/* The services reach run/ through the test directory. */
	cr_assert_eq(chmod(p.dir, 0711), 0);
	for (size_t i = 0; i < 2; i++) {
		/* setgid: the socket gets the services' group, as the docs say. */
		cr_assert_eq(chown(run, 0, SERVICES_GID), 0);
		cr_assert_eq(chmod(run, modes[i]), 0);
		if (vaultd_try_restart(&p) != 0)
			continue; /* refused: nobody can sit on a socket that is not there */
		started[i] = 1;
		cr_assert_eq(lstat(p.socket, &before), 0);
		int rc = run_attack(&p);
		cr_assert_neq(rc, ATTACK_NO_ACCESS, "mode %04o: the service could not "
		    "connect, so the test proves nothing", (unsigned)modes[i]);
		cr_assert_eq(rc, ATTACK_FAILED, "mode %04o: a service of the socket's group "
		    "took vaultd's place (step %d)", (unsigned)modes[i], rc);
		/* The socket is still vaultd's, and answers. */
		cr_assert_eq(lstat(p.socket, &after), 0);
		cr_assert_eq(after.st_ino, before.st_ino);
		struct vault *v;
		cr_assert_eq(vault_connect(p.socket, &v), 0);
		cr_assert_eq(vault_ping(v), 0);
		vault_close(v);
		cr_assert_eq(vaultd_stop(&p), 0);
	}
	cr_assert_eq(started[0], 0, "vaultd started with a group-writable socket directory");
	cr_assert_eq(started[1], 1, "vaultd refused the documented 0750 setup");
	cr_assert_eq(chmod(p.dir, 0700), 0);
	vaultd_cleanup(&p);
}

/*
 * A fake server: the other service, bound on a socket of its own in a
 * directory of the old, group-writable kind. It accepts one connection
 * after another and reports on report_fd how many bytes each sent.
 */
struct fake {
	pid_t pid;
	char dir[256];
	char socket[512];
	int report;   /* read end: one uint64_t per connection */
};

static void
fake_serve(const char *path, int ready, int report)
{
	become_other_service();
	/* Gone with the test, even a failed one (after setuid, which clears it). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int lfd = bind_at(path);
	if (lfd < 0)
		_exit(98);
	if (write(ready, "R", 1) != 1)
		_exit(97);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			_exit(96);
		/* A client that sends and then waits is stopped by this timeout. */
		struct timeval tv = { 10, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		uint64_t total = 0;
		char buf[4096];
		ssize_t n;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			total += (uint64_t)n;
		close(fd);
		if (write(report, &total, sizeof(total)) != (ssize_t)sizeof(total))
			_exit(95);
	}
}

static void
fake_start(struct fake *f)
{
	int ready[2], report[2];
	char run[300], c;

	require_root();
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s/vault-fake-XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert_not_null(mkdtemp(f->dir));
	cr_assert_eq(chmod(f->dir, 0711), 0);
	/* vaultd's directory (root's here), writable by the services' group. */
	snprintf(run, sizeof(run), "%s/run", f->dir);
	cr_assert_eq(mkdir(run, 0770), 0);
	cr_assert_eq(chown(run, 0, SERVICES_GID), 0);
	cr_assert_eq(chmod(run, 0770), 0);
	snprintf(f->socket, sizeof(f->socket), "%s/vaultd.sock", run);
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(report), 0);
	f->pid = fork();
	cr_assert(f->pid >= 0);
	if (f->pid == 0) {
		close(ready[0]);
		close(report[0]);
		fake_serve(f->socket, ready[1], report[1]);
	}
	close(ready[1]);
	close(report[1]);
	f->report = report[0];
	cr_assert_eq(read(ready[0], &c, 1), 1, "the fake server did not start");
	close(ready[0]);
	struct stat st;
	cr_assert_eq(stat(f->socket, &st), 0);
	cr_assert_eq(st.st_uid, OTHER_UID);
}

/* Bytes the fake server received on its next connection (after its end). */
static uint64_t
fake_received(struct fake *f)
{
	struct pollfd pfd = { f->report, POLLIN, 0 };
	uint64_t n = 0;

	cr_assert_eq(poll(&pfd, 1, 30000), 1, "the fake server saw no connection end");
	cr_assert_eq(read(f->report, &n, sizeof(n)), (ssize_t)sizeof(n));
	return n;
}

/* No connection reached the fake server since the last report. */
static void
fake_untouched(struct fake *f)
{
	struct pollfd pfd = { f->report, POLLIN, 0 };
	cr_assert_eq(poll(&pfd, 1, 0), 0);
}

static void
fake_stop(struct fake *f)
{
	char cmd[300];
	int st;

	kill(f->pid, SIGKILL);
	waitpid(f->pid, &st, 0);
	close(f->report);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	cr_assert_eq(system(cmd), 0);
}

Test(socket, client_library_refuses_a_server_of_another_uid, .timeout = 120)
{
	struct fake f;
	struct vault *v = NULL;
	struct vault_connect_options root = { .has_server_uid = 1, .server_uid = 0 };
	struct vault_connect_options other = { .has_server_uid = 1, .server_uid = OTHER_UID };
	char uid[32];

	fake_start(&f);
	unsetenv("VAULT_SERVER_UID");
	/* Default: the directory's owner (root) is whom vaultd must run as. */
	errno = 0;
	cr_assert_eq(vault_connect(f.socket, &v), VAULT_E_SERVER_IDENTITY);
	cr_assert_eq(errno, EPERM);
	cr_assert_null(v);
	cr_assert_eq(fake_received(&f), 0, "the client sent bytes to the fake server");
	cr_assert_eq(vault_connect_opts(f.socket, NULL, &v), VAULT_E_SERVER_IDENTITY);
	cr_assert_eq(fake_received(&f), 0);
	/* The option. */
	cr_assert_eq(vault_connect_opts(f.socket, &root, &v), VAULT_E_SERVER_IDENTITY);
	cr_assert_eq(fake_received(&f), 0);
	/* The environment. */
	cr_assert_eq(setenv("VAULT_SERVER_UID", "0", 1), 0);
	cr_assert_eq(vault_connect(f.socket, &v), VAULT_E_SERVER_IDENTITY);
	cr_assert_eq(fake_received(&f), 0);
	/* The option wins over the environment, which wins over the directory. */
	snprintf(uid, sizeof(uid), "%d", OTHER_UID);
	cr_assert_eq(setenv("VAULT_SERVER_UID", uid, 1), 0);
	cr_assert_eq(vault_connect_opts(f.socket, &root, &v), VAULT_E_SERVER_IDENTITY);
	cr_assert_eq(fake_received(&f), 0);
	cr_assert_eq(vault_connect(f.socket, &v), 0, "the uid in VAULT_SERVER_UID was refused");
	vault_close(v);
	v = NULL;
	cr_assert_eq(fake_received(&f), 0);
	unsetenv("VAULT_SERVER_UID");
	cr_assert_eq(vault_connect_opts(f.socket, &other, &v), 0, "the expected uid was refused");
	/* Once trusted, requests do go out (the fake never answers). */
	cr_assert_eq(vault_set_timeout(v, 200), 0);
	cr_assert_eq(vault_ping(v), VAULT_E_IO);
	vault_close(v);
	v = NULL;
	cr_assert_gt(fake_received(&f), 0);
	/* A malformed VAULT_SERVER_UID fails closed, without connecting. */
	static const char *const malformed[] = { "root", "-1", "12x", "4294967295",
		"99999999999999999999" };
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		cr_assert_eq(setenv("VAULT_SERVER_UID", malformed[i], 1), 0);
		errno = 0;
		cr_assert_eq(vault_connect(f.socket, &v), VAULT_E_CONFIG, "%s", malformed[i]);
		cr_assert_eq(errno, EINVAL);
	}
	unsetenv("VAULT_SERVER_UID");
	fake_untouched(&f);
	cr_assert_str_eq(vault_error_name(VAULT_E_SERVER_IDENTITY), "VAULT_E_SERVER_IDENTITY");
	fake_stop(&f);
}

/* vaultctl [args...] ping with VAULT_SERVER_UID set to env (NULL: unset). */
static int
vaultctl(const char *const *args, const char *env, char *out, size_t outlen)
{
	const char *bin = getenv("VAULTCTL");
	const char *argv[16];
	size_t n = 0;
	int pfd[2], st;

	cr_assert_not_null(bin, "VAULTCTL is not set (run through meson test)");
	argv[n++] = bin;
	for (size_t i = 0; args[i] != NULL && n < 14; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		if (env != NULL)
			setenv("VAULT_SERVER_UID", env, 1);
		else
			unsetenv("VAULT_SERVER_UID");
		unsetenv("VAULT_SOCKET");
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t r;
	while (got + 1 < outlen && (r = read(pfd[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(pfd[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

Test(socket, vaultctl_refuses_a_server_of_another_uid, .timeout = 120)
{
	struct fake f;
	char out[4096], uid[32];

	fake_start(&f);
	snprintf(uid, sizeof(uid), "%d", OTHER_UID);
	const char *const plain[] = { "-s", f.socket, "ping", NULL };
	cr_assert_eq(vaultctl(plain, NULL, out, sizeof(out)), 3, "%s", out);
	cr_assert_not_null(strstr(out, "VAULT_E_SERVER_IDENTITY"), "%s", out);
	cr_assert_not_null(strstr(out, "the owner of the socket's directory"), "%s", out);
	cr_assert_eq(fake_received(&f), 0, "vaultctl sent bytes to the fake server");
	const char *const json[] = { "-s", f.socket, "--json", "ping", NULL };
	cr_assert_eq(vaultctl(json, NULL, out, sizeof(out)), 3, "%s", out);
	cr_assert_not_null(strstr(out, "\"error\":\"VAULT_E_SERVER_IDENTITY\""), "%s", out);
	cr_assert_not_null(strstr(out, "\"code\":403"), "%s", out);
	cr_assert_eq(fake_received(&f), 0);
	const char *const root[] = { "--server-uid", "0", "-s", f.socket, "ping", NULL };
	cr_assert_eq(vaultctl(root, uid, out, sizeof(out)), 3, "%s", out);
	cr_assert_not_null(strstr(out, "--server-uid"), "%s", out);
	cr_assert_eq(fake_received(&f), 0);
	cr_assert_eq(vaultctl(plain, "0", out, sizeof(out)), 3, "%s", out);
	cr_assert_eq(fake_received(&f), 0);
	/* Told the fake's uid, vaultctl talks to it (and gets no answer). */
	const char *const other[] = { "--server-uid", uid, "-t", "200", "-s", f.socket,
		"ping", NULL };
	cr_assert_eq(vaultctl(other, NULL, out, sizeof(out)), 1, "%s", out);
	cr_assert_gt(fake_received(&f), 0);
	cr_assert_eq(vaultctl(plain, "nobody", out, sizeof(out)), 2, "%s", out);
	const char *const bad[] = { "--server-uid", "-1", "-s", f.socket, "ping", NULL };
	cr_assert_eq(vaultctl(bad, NULL, out, sizeof(out)), 2, "%s", out);
	fake_untouched(&f);
	fake_stop(&f);
}

Test(socket, clients_connect_to_the_real_vaultd, .timeout = 60)
{
	struct vaultd_proc p;
	struct vault *v;
	/* Whoever runs the tests runs vaultd too: no root needed here. */
	uid_t not_self = geteuid() == OTHER_UID ? OTHER_UID - 1 : OTHER_UID;
	struct vault_connect_options self = { .has_server_uid = 1, .server_uid = geteuid() };
	struct vault_connect_options other = { .has_server_uid = 1, .server_uid = not_self };
	char out[4096], uid[32];

	vaultd_start(&p, NULL);
	unsetenv("VAULT_SERVER_UID");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_eq(vault_ping(v), 0);
	vault_close(v);
	cr_assert_eq(vault_connect_opts(p.socket, &self, &v), 0);
	cr_assert_eq(vault_ping(v), 0);
	vault_close(v);
	cr_assert_eq(vault_connect_opts(p.socket, &other, &v), VAULT_E_SERVER_IDENTITY);
	snprintf(uid, sizeof(uid), "%ld", (long)geteuid());
	const char *const plain[] = { "-s", p.socket, "ping", NULL };
	cr_assert_eq(vaultctl(plain, NULL, out, sizeof(out)), 0, "%s", out);
	cr_assert_eq(vaultctl(plain, uid, out, sizeof(out)), 0, "%s", out);
	const char *const self_ctl[] = { "--server-uid", uid, "-s", p.socket, "ping", NULL };
	cr_assert_eq(vaultctl(self_ctl, NULL, out, sizeof(out)), 0, "%s", out);
	snprintf(uid, sizeof(uid), "%ld", (long)not_self);
	const char *const other_ctl[] = { "--server-uid", uid, "-s", p.socket, "ping", NULL };
	cr_assert_eq(vaultctl(other_ctl, NULL, out, sizeof(out)), 3, "%s", out);
	cr_assert_not_null(strstr(out, "VAULT_E_SERVER_IDENTITY"), "%s", out);
	vaultd_finish(&p);
}
