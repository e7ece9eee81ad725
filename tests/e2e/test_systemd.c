/*
 * test_systemd.c - end-to-end: vaultd as systemd runs it, without PID 1.
 *
 * Readiness: the test plays systemd's notification socket (NOTIFY_SOCKET, an
 * AF_UNIX datagram socket) and checks that READY=1 comes only once a client
 * is served, with STATUS= lines, for a plain and a sealed start, and
 * STOPPING=1 at SIGTERM. Socket activation: systemd-socket-activate holds
 * the socket and starts vaultd at the first connection; sockets of the
 * wrong kind in LISTEN_FDS are refused. The root key as a credential
 * ($CREDENTIALS_DIRECTORY/root.key). The log: journald's priority prefixes
 * exactly when stderr is the journal (JOURNAL_STREAM), and [log] level.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <lmdb.h>
#include <vault/vault.h>

#include "harness.h"
#include "vault/store/store.h"

static struct vaultd_proc srv;

static void
teardown(void)
{
	vaultd_finish(&srv);
}

TestSuite(systemd, .fini = teardown);

/* A test directory with development keys, vaultd stopped again. */
static void
prepare(const char *extra_ini)
{
	vaultd_start(&srv, extra_ini);
	cr_assert_eq(vaultd_stop(&srv), 0);
	truncate(srv.log, 0);
}

typedef void child_hook(void *arg);

/*
 * Start vaultd -c CONFIG (with --dev if dev) on srv, behind the programs
 * in prefix (NULL-terminated, may be NULL), with stderr to srv.log; hook
 * runs in the child just before exec (environment, file descriptors).
 */
static void
launch(const char *const *prefix, int dev, child_hook *hook, void *arg)
{
	/* As the harness: valgrind or another build of vaultd instead, if set. */
	const char *bin = getenv("VAULTD_WRAPPER");
	if (bin == NULL || *bin == '\0')
		bin = getenv("VAULTD");
	const char *argv[16];
	size_t n = 0;
	cr_assert_not_null(bin, "VAULTD is not set (run through meson test)");
	for (; prefix != NULL && prefix[n] != NULL; n++)
		argv[n] = prefix[n];
	argv[n++] = bin;
	if (dev)
		argv[n++] = "--dev";
	argv[n++] = "-c";
	argv[n++] = srv.config;
	argv[n] = NULL;
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		FILE *lf = freopen(srv.log, "a", stderr);
		(void)lf;
		if (hook != NULL)
			hook(arg);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	srv.pid = pid;
}

static int
ping_once(void)
{
	struct vault *v;
	if (vault_connect(srv.socket, &v) != 0)
		return -1;
	int rc = vault_ping(v);
	vault_close(v);
	return rc;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static char *
server_log(void)
{
	size_t n;
	char *log = read_file_all(srv.log, &n);
	cr_assert_not_null(log);
	return log;
}

/* Until vaultd answers a ping (10 s); fails with its log if it exits. */
static void
wait_serving(void)
{
	for (int i = 0; i < 1000; i++) {
		int st;
		if (ping_once() == 0)
			return;
		if (waitpid(srv.pid, &st, WNOHANG) == srv.pid) {
			srv.pid = 0;
			cr_assert_fail("vaultd exited during start: %s", server_log());
		}
		sleep_ms(10);
	}
	cr_assert_fail("vaultd did not serve within 10 s");
}

/* The exit status of srv.pid, which must exit within 10 s. */
static int
wait_exit(void)
{
	int st;
	for (int i = 0; i < 1000; i++) {
		if (waitpid(srv.pid, &st, WNOHANG) == srv.pid) {
			srv.pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		sleep_ms(10);
	}
	cr_assert_fail("vaultd did not exit within 10 s: %s", server_log());
	return -1;
}

/* ---- readiness: NOTIFY_SOCKET ------------------------------------------ */

static void
set_env_hook(void *arg)
{
	const char *const *kv = arg;
	for (; kv[0] != NULL; kv += 2)
		setenv(kv[0], kv[1], 1);
}

static int
notify_socket(char *path, size_t cap)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	vaultd_path(&srv, "notify.sock", path, cap);
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	return fd;
}

/* One notification within ms milliseconds into buf (NUL-terminated); 0 if none. */
static int
notify_recv(int fd, char *buf, size_t cap, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, ms) != 1)
		return 0;
	ssize_t n = recv(fd, buf, cap - 1, 0);
	cr_assert(n > 0);
	buf[n] = '\0';
	return 1;
}

/*
 * Collect notifications into all (appended, one per line group) until one
 * holds READY=1; at that moment a client must be served at once.
 */
static void
await_ready(int nfd, char *all, size_t cap, char *ready, size_t rcap)
{
	char msg[1024];
	for (int i = 0; i < 1000; i++) {
		int st;
		if (notify_recv(nfd, msg, sizeof(msg), 10)) {
			strncat(all, msg, cap - strlen(all) - 2);
			strcat(all, "\n");
			if (strstr(msg, "READY=1") != NULL) {
				cr_assert_eq(ping_once(), 0,
				    "READY=1 came before vaultd served a ping");
				snprintf(ready, rcap, "%s", msg);
				return;
			}
			continue;
		}
		if (waitpid(srv.pid, &st, WNOHANG) == srv.pid) {
			srv.pid = 0;
			cr_assert_fail("vaultd exited before READY=1: %s", server_log());
		}
	}
	cr_assert_fail("no READY=1 within 10 s; got: %s", all);
}

/* SIGTERM: STOPPING=1 arrives, then vaultd exits 0. */
static void
await_stopping(int nfd)
{
	char msg[1024];
	int stopping = 0;
	kill(srv.pid, SIGTERM);
	for (int i = 0; i < 100 && !stopping; i++)
		if (notify_recv(nfd, msg, sizeof(msg), 100) && strstr(msg, "STOPPING=1"))
			stopping = 1;
	cr_assert(stopping, "no STOPPING=1 after SIGTERM");
	cr_assert_eq(wait_exit(), 0, "%s", server_log());
}

Test(systemd, ready_only_once_serving_then_stopping, .timeout = 60)
{
	char path[600], all[8192] = "", ready[1024];
	prepare(NULL);
	int nfd = notify_socket(path, sizeof(path));
	const char *env[] = { "NOTIFY_SOCKET", path, NULL, NULL };
	launch(NULL, 0, set_env_hook, env);
	await_ready(nfd, all, sizeof(all), ready, sizeof(ready));
	cr_assert_not_null(strstr(ready, "STATUS=serving"), "%s", ready);
	/* Before READY: what the start is doing, and time asked for its long steps. */
	cr_assert_not_null(strstr(all, "STATUS=starting"), "%s", all);
	const char *ext = strstr(all, "EXTEND_TIMEOUT_USEC=");
	cr_assert_not_null(ext, "%s", all);
	cr_assert_geq(strtoull(ext + 20, NULL, 10), 60000000ull, "%s", all);
	await_stopping(nfd);
	close(nfd);
}

Test(systemd, sealed_start_is_ready_and_says_sealed, .timeout = 120)
{
	char path[600], all[8192] = "", ready[1024], ring[600], data[600], msg[1024];
	prepare(NULL);
	vaultd_path(&srv, "sealed-ring", ring, sizeof(ring));
	vaultd_path(&srv, "sealed-data", data, sizeof(data));
	const char *const kargs[] = { "init", ring, "--passphrase", "--opslimit", "1",
		"--memlimit", "8M", NULL };
	cr_assert_eq(keytool_run("correct horse battery\n", kargs), 0);
	FILE *f = fopen(srv.config, "a");
	cr_assert_not_null(f);
	fprintf(f, "[keys]\nkeyring_path = %s\n[storage]\ndata_dir = %s\n", ring, data);
	fclose(f);

	int nfd = notify_socket(path, sizeof(path));
	const char *env[] = { "NOTIFY_SOCKET", path, NULL, NULL };
	launch(NULL, 0, set_env_hook, env);
	/* Ready while sealed: systemd must not wait for an operator. */
	await_ready(nfd, all, sizeof(all), ready, sizeof(ready));
	cr_assert_not_null(strstr(ready, "STATUS=sealed"), "%s", ready);

	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_unseal(v, "correct horse battery"), 0, "%s", vault_last_message(v));
	vault_close(v);
	int unsealed = 0;
	for (int i = 0; i < 100 && !unsealed; i++)
		if (notify_recv(nfd, msg, sizeof(msg), 100) &&
		    strstr(msg, "STATUS=serving (unsealed)") != NULL)
			unsealed = 1;
	cr_assert(unsealed, "no STATUS line after the unseal");
	/* The passphrase reached no status line. */
	cr_assert_null(strstr(all, "horse"));
	await_stopping(nfd);
	close(nfd);
}

Test(systemd, no_notify_socket_changes_nothing, .timeout = 60)
{
	prepare(NULL);
	const char *env[] = { "NOTIFY_SOCKET", "", NULL, NULL };
	launch(NULL, 0, set_env_hook, env);
	wait_serving();
	cr_assert_eq(vaultd_stop(&srv), 0);
}

/* ---- socket activation -------------------------------------------------- */

static void
proc_comm(pid_t pid, char *out, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(out, (int)cap, f));
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

Test(systemd, socket_activation_starts_vaultd_at_the_first_connection, .timeout = 60)
{
	struct stat st;
	char comm[64];
	prepare(NULL);
	cr_assert_neq(lstat(srv.socket, &st), 0, "vaultd left its socket at stop");
	const char *const prefix[] = { "systemd-socket-activate", "-l", srv.socket, NULL };
	launch(prefix, 0, NULL, NULL);
	/* systemd-socket-activate binds and waits; vaultd does not run yet. */
	for (int i = 0; i < 1000 && lstat(srv.socket, &st) != 0; i++)
		sleep_ms(10);
	cr_assert_eq(lstat(srv.socket, &st), 0, "systemd-socket-activate did not listen");
	cr_assert(S_ISSOCK(st.st_mode));
	proc_comm(srv.pid, comm, sizeof(comm));
	cr_assert(strncmp(comm, "systemd-socket", 14) == 0,
	    "vaultd (%s) started before any connection", comm);

	/* The first client's connection starts it, and is served. The socket
	 * file exists from bind(), a moment before listen(): a connection
	 * refused in between never reached systemd-socket-activate. */
	struct vault *v;
	int rc = -1;
	for (int i = 0; i < 1000; i++) {
		if ((rc = vault_connect(srv.socket, &v)) != VAULT_E_IO || errno != ECONNREFUSED)
			break;
		sleep_ms(10);
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(vault_ping(v), 0, "%s", vault_last_message(v));
	vault_close(v);
	proc_comm(srv.pid, comm, sizeof(comm));
	cr_assert(strncmp(comm, "systemd-socket", 14) != 0, "vaultd did not replace it");
	char *log = server_log();
	cr_assert_not_null(strstr(log, "(socket passed by systemd)"), "%s", log);
	cr_assert_null(strstr(log, "is not used"), "%s", log);
	free(log);

	/* The socket is systemd's: it survives vaultd's stop. */
	cr_assert_eq(vaultd_stop(&srv), 0);
	cr_assert_eq(lstat(srv.socket, &st), 0, "vaultd removed a socket it did not bind");
	cr_assert(S_ISSOCK(st.st_mode));
	unlink(srv.socket);
}

enum passed_kind { PASS_TCP, PASS_DGRAM, PASS_ABSTRACT, PASS_TWO, PASS_PATH };

struct passed {
	enum passed_kind kind;
	const char *path; /* PASS_PATH: a listening stream socket bound here */
};

/* In the child: put the socket systemd would pass at fd 3 (LISTEN_FDS). */
static void
pass_socket_hook(void *arg)
{
	const struct passed *ps = arg;
	enum passed_kind kind = ps->kind;
	int fd = -1, nfds = 1;
	if (kind == PASS_TCP) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
		    listen(fd, 16) != 0)
			_exit(126);
	} else {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		socklen_t len = sizeof(sa);
		if (kind == PASS_DGRAM || kind == PASS_PATH) {
			char path[600];
			if (kind == PASS_PATH)
				snprintf(path, sizeof(path), "%s", ps->path);
			else
				vaultd_path(&srv, "run/dgram.sock", path, sizeof(path));
			if (strlen(path) >= sizeof(sa.sun_path))
				_exit(126);
			memcpy(sa.sun_path, path, strlen(path) + 1);
			fd = socket(AF_UNIX, kind == PASS_DGRAM ? SOCK_DGRAM : SOCK_STREAM, 0);
		} else {
			/* abstract: a leading NUL byte, no file, no permissions */
			memcpy(sa.sun_path, "\0vault-test-abstract", 20);
			len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 20);
			fd = socket(AF_UNIX, SOCK_STREAM, 0);
		}
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) != 0 ||
		    (kind != PASS_DGRAM && listen(fd, 16) != 0))
			_exit(126);
		if (kind == PASS_TWO)
			nfds = 2;
	}
	if (dup2(fd, 3) != 3 || (nfds == 2 && dup2(fd, 4) != 4))
		_exit(126);
	char pid[32], n[8];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid()); /* exec keeps the pid */
	snprintf(n, sizeof(n), "%d", nfds);
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", n, 1);
}

static void
assert_refused(enum passed_kind kind, const char *why)
{
	struct passed ps = { kind, NULL };
	truncate(srv.log, 0);
	launch(NULL, 0, pass_socket_hook, &ps);
	cr_assert_eq(wait_exit(), 1);
	char *log = server_log();
	cr_assert_not_null(strstr(log, why), "expected \"%s\" in: %s", why, log);
	cr_assert_not_null(strstr(log, "socket activation"), "%s", log);
	cr_assert_null(strstr(log, "listening on"), "%s", log);
	free(log);
}

Test(systemd, a_passed_socket_of_the_wrong_kind_is_refused, .timeout = 60)
{
	prepare(NULL);
	assert_refused(PASS_TCP, "an IP socket, not a listening Unix stream socket");
	assert_refused(PASS_DGRAM, "a datagram socket, not a listening Unix stream socket");
	assert_refused(PASS_ABSTRACT, "abstract namespace");
	assert_refused(PASS_TWO, "systemd passed 2 sockets; vaultd takes exactly one");
	/* Without LISTEN_FDS it binds its own socket, as before. */
	launch(NULL, 0, NULL, NULL);
	wait_serving();
	cr_assert_eq(vaultd_stop(&srv), 0);
}

/* ---- the root key as a credential --------------------------------------- */

/* Drop "root_key_path = ..." from the test's configuration. */
static void
unset_root_key_path(void)
{
	size_t n;
	char *conf = read_file_all(srv.config, &n);
	cr_assert_not_null(conf);
	char *line = strstr(conf, "root_key_path = ");
	cr_assert_not_null(line);
	char *end = strchr(line, '\n');
	memmove(line, end + 1, strlen(end + 1) + 1);
	FILE *f = fopen(srv.config, "w");
	cr_assert_not_null(f);
	fputs(conf, f);
	fclose(f);
	free(conf);
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	cr_assert_not_null(d);
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/*
 * Give uid read access to path by a POSIX access ACL, as systemd does
 * (the xattr layout of linux/posix_acl_xattr.h, little-endian).
 */
static void
set_read_acl(const char *path, uid_t uid)
{
	static const unsigned tags[] = { 0x01, 0x02, 0x04, 0x10, 0x20 };
	uint8_t acl[4 + 5 * 8] = { 2, 0, 0, 0 };
	for (int i = 0; i < 5; i++) {
		uint8_t *e = acl + 4 + 8 * i;
		uint32_t id = tags[i] == 0x02 ? (uint32_t)uid : 0xffffffffu;
		unsigned perm = tags[i] == 0x04 || tags[i] == 0x20 ? 0 : 4;
		e[0] = (uint8_t)tags[i];
		e[2] = (uint8_t)perm;
		for (int b = 0; b < 4; b++)
			e[4 + b] = (uint8_t)(id >> (8 * b));
	}
	cr_assert_eq(setxattr(path, "system.posix_acl_access", acl, sizeof(acl), 0), 0,
	    "%s: no POSIX ACLs on this file system? %s", path, strerror(errno));
}

/* Start with the credential: served (NULL) or refused (its log). */
static char *
run_with_credential(const char *const *env, int refused)
{
	truncate(srv.log, 0);
	launch(NULL, 0, set_env_hook, (void *)env);
	if (refused) {
		cr_assert_eq(wait_exit(), 1);
		return server_log();
	}
	wait_serving();
	cr_assert_eq(vaultd_stop(&srv), 0);
	return NULL;
}

Test(systemd, root_key_from_the_credentials_directory, .timeout = 60)
{
	char creds[600], key[600], cred[700], shortkey[720];
	struct stat st;
	prepare(NULL);
	vaultd_path(&srv, "creds", creds, sizeof(creds));
	vaultd_path(&srv, "keys/root.key", key, sizeof(key));
	snprintf(cred, sizeof(cred), "%s/root.key", creds);
	cr_assert_eq(mkdir(creds, 0500 | 0200), 0);
	cr_assert_eq(rename(key, cred), 0);
	cr_assert_eq(chmod(cred, 0400), 0); /* as LoadCredential= writes it */
	unset_root_key_path();
	const char *env[] = { "CREDENTIALS_DIRECTORY", creds, NULL, NULL };

	launch(NULL, 0, set_env_hook, env);
	wait_serving();
	char *log = server_log();
	cr_assert_not_null(strstr(log, "root key from the systemd credential"), "%s", log);
	free(log);
	cr_assert_eq(vaultd_stop(&srv), 0);

	/* --dev reads it too, and writes nothing, there or at the default path. */
	truncate(srv.log, 0);
	launch(NULL, 1, set_env_hook, env);
	wait_serving();
	cr_assert_eq(vaultd_stop(&srv), 0);
	cr_assert_eq(count_entries(creds), 1);
	cr_assert_neq(lstat(key, &st), 0, "--dev created a root key beside the credential");

	/* A credential readable by its group (no ACL) is refused. */
	cr_assert_eq(chmod(cred, 0440), 0);
	truncate(srv.log, 0);
	launch(NULL, 0, set_env_hook, env);
	cr_assert_eq(wait_exit(), 1);
	log = server_log();
	cr_assert_not_null(strstr(log, "accessible to group or others"), "%s", log);
	free(log);
	cr_assert_eq(chmod(cred, 0400), 0);

	/* What systemd writes: root's 0400 plus user:SERVICE:r-- (stat: 0440). */
	set_read_acl(cred, geteuid());
	cr_assert_eq(stat(cred, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0440);
	run_with_credential(env, 0);
	/* An ACL that lets another user read it is refused. */
	set_read_acl(cred, geteuid() == 65534 ? 65533 : 65534);
	log = run_with_credential(env, 1);
	cr_assert_not_null(strstr(log, "its ACL lets a group or another user read"), "%s", log);
	free(log);
	cr_assert_eq(removexattr(cred, "system.posix_acl_access"), 0);
	cr_assert_eq(chmod(cred, 0400), 0);

	/* A wrong size: refused, saying what a root key is. */
	snprintf(shortkey, sizeof(shortkey), "%s.bak", cred);
	cr_assert_eq(rename(cred, shortkey), 0);
	int fd = open(cred, O_WRONLY | O_CREAT | O_EXCL, 0400);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "0123456789012345678901234567890", 31), 31);
	close(fd);
	truncate(srv.log, 0);
	launch(NULL, 0, set_env_hook, env);
	cr_assert_eq(wait_exit(), 1);
	log = server_log();
	cr_assert_not_null(strstr(log, "root key credential"), "%s", log);
	cr_assert_not_null(strstr(log, "must hold exactly 32 bytes"), "%s", log);
	free(log);

	/* root_key_path set in the file wins over a credential. */
	cr_assert_eq(rename(shortkey, key), 0);
	FILE *f = fopen(srv.config, "a");
	cr_assert_not_null(f);
	fprintf(f, "[keys]\nroot_key_path = %s\n", key);
	fclose(f);
	truncate(srv.log, 0);
	launch(NULL, 0, set_env_hook, env);
	wait_serving();
	log = server_log();
	cr_assert_null(strstr(log, "credential"), "%s", log);
	free(log);
	cr_assert_eq(vaultd_stop(&srv), 0);
}

/* ---- the log ------------------------------------------------------------- */

/* In the child, after stderr went to the log: name it as the journal. */
static void
journal_stream_hook(void *arg)
{
	struct stat st;
	char v[64];
	if (arg != NULL) {
		setenv("JOURNAL_STREAM", arg, 1);
		return;
	}
	if (fstat(STDERR_FILENO, &st) != 0)
		_exit(126);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
}

static void
run_once(int dev, child_hook *hook, void *arg)
{
	truncate(srv.log, 0);
	launch(NULL, dev, hook, arg);
	wait_serving();
	cr_assert_eq(vaultd_stop(&srv), 0);
}

Test(systemd, journal_prefixes_only_when_stderr_is_the_journal, .timeout = 60)
{
	prepare(NULL);
	run_once(1, journal_stream_hook, NULL);
	char *log = server_log();
	cr_assert_not_null(strstr(log, "<6>listening on "), "%s", log);
	/* --dev warns: priority 4 */
	cr_assert_not_null(strstr(log, "<4>running with DEVELOPMENT KEYS"), "%s", log);
	for (char *l = log; *l != '\0'; l = strchr(l, '\n') + 1) {
		cr_assert(l[0] == '<' && l[1] >= '0' && l[1] <= '7' && l[2] == '>',
		    "a line without a priority: %s", log);
		if (strchr(l, '\n') == NULL)
			break;
	}
	cr_assert_null(strstr(log, "vaultd info:"), "%s", log);
	free(log);

	/* Inherited but stderr is elsewhere now (a shell's redirect): plain text. */
	run_once(1, journal_stream_hook, "1:1");
	log = server_log();
	cr_assert_not_null(strstr(log, "vaultd info: listening on "), "%s", log);
	cr_assert_null(strstr(log, "<6>"), "%s", log);
	cr_assert_null(strstr(log, "<4>"), "%s", log);
	free(log);
}

Test(systemd, log_level_drops_lower_lines, .timeout = 60)
{
	prepare(NULL);
	FILE *f = fopen(srv.config, "a");
	cr_assert_not_null(f);
	fputs("[log]\nlevel = error\n", f);
	fclose(f);
	run_once(1, NULL, NULL);
	char *log = server_log();
	/* A clean start and stop logs no error: nothing at all. */
	cr_assert_str_empty(log, "%s", log);
	free(log);

	f = fopen(srv.config, "a");
	cr_assert_not_null(f);
	fputs("[log]\nlevel = debug\n", f);
	fclose(f);
	run_once(1, NULL, NULL);
	log = server_log();
	cr_assert_not_null(strstr(log, "vaultd info: listening on "), "%s", log);
	cr_assert_not_null(strstr(log, "vaultd debug: "), "%s", log);
	free(log);

	/* An unknown level names the accepted ones. */
	f = fopen(srv.config, "a");
	cr_assert_not_null(f);
	fputs("[log]\nlevel = loud\n", f);
	fclose(f);
	char *why = NULL;
	cr_assert_eq(vaultd_expect_refusal(&srv, &why), 1);
	cr_assert_not_null(strstr(why, "[log] level: invalid value \"loud\": expected error, "
	    "warning, info or debug"), "%s", why);
	free(why);
}

/*
 * PID 1 makes the passed socket's directory: it may be root's or vaultd's
 * and others may enter, but whoever may write to it could replace the
 * socket, so a group- or world-writable one is refused. A path other than
 * socket_path is served and reported; the socket is left at stop.
 */
Test(systemd, a_passed_socket_in_a_directory_others_can_write_is_refused, .timeout = 60)
{
	char open_dir[600], other_dir[600], sock[700];
	struct stat st;
	prepare(NULL);
	vaultd_path(&srv, "open", open_dir, sizeof(open_dir));
	cr_assert_eq(mkdir(open_dir, 0700), 0);
	cr_assert_eq(chmod(open_dir, 0770), 0);
	snprintf(sock, sizeof(sock), "%s/vaultd.sock", open_dir);
	struct passed ps = { PASS_PATH, sock };
	launch(NULL, 0, pass_socket_hook, &ps);
	cr_assert_eq(wait_exit(), 1);
	char *log = server_log();
	cr_assert_not_null(strstr(log, "writable by no one else"), "%s", log);
	cr_assert_null(strstr(log, "listening on"), "%s", log);
	free(log);
	cr_assert_eq(lstat(sock, &st), 0, "vaultd removed a socket it did not bind");

	/* DirectoryMode=0755: others may enter; the socket's own mode decides. */
	vaultd_path(&srv, "other", other_dir, sizeof(other_dir));
	cr_assert_eq(mkdir(other_dir, 0700), 0);
	cr_assert_eq(chmod(other_dir, 0755), 0);
	snprintf(sock, sizeof(sock), "%s/vaultd.sock", other_dir);
	truncate(srv.log, 0);
	launch(NULL, 0, pass_socket_hook, &ps);
	struct vault *v = NULL;
	for (int i = 0; i < 1000 && v == NULL; i++) {
		if (vault_connect(sock, &v) != 0 || vault_ping(v) != 0) {
			vault_close(v);
			v = NULL;
			sleep_ms(10);
		}
	}
	cr_assert_not_null(v, "vaultd did not serve the passed socket: %s", server_log());
	vault_close(v);
	cr_assert_eq(vaultd_stop(&srv), 0);
	log = server_log();
	cr_assert_not_null(strstr(log, "socket_path"), "%s", log);
	cr_assert_not_null(strstr(log, "is not used"), "%s", log);
	free(log);
	cr_assert_eq(lstat(sock, &st), 0, "vaultd removed a socket it did not bind");
}

/*
 * A retire's compaction that a crash cut short is redone before serving:
 * vaultd asks systemd for time for it first, and says so in STATUS, so
 * TimeoutStartSec= does not kill a long but healthy start.
 */
Test(systemd, a_compaction_at_start_asks_for_time_before_ready, .timeout = 60)
{
	char path[600], all[8192] = "", ready[1024], data[600];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	uint8_t eb[8];
	prepare(NULL);
	vaultd_path(&srv, "data", data, sizeof(data));
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 64);
	mdb_env_set_mapsize(env, 256u << 20);
	cr_assert_eq(mdb_env_open(env, data, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	store_put_id(eb, 1);
	MDB_val mk = { strlen("compact_pending"), (void *)"compact_pending" }, mv = { 8, eb };
	cr_assert_eq(mdb_put(txn, meta, &mk, &mv, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	int nfd = notify_socket(path, sizeof(path));
	const char *env_kv[] = { "NOTIFY_SOCKET", path, NULL, NULL };
	launch(NULL, 0, set_env_hook, env_kv);
	await_ready(nfd, all, sizeof(all), ready, sizeof(ready));
	const char *c = strstr(all, "STATUS=compacting the data file before serving");
	cr_assert_not_null(c, "%s", all);
	/* The line before, in the same message: the time asked for. */
	cr_assert(c > all + 1);
	const char *line = c - 1;
	while (line > all && line[-1] != '\n')
		line--;
	cr_assert(strncmp(line, "EXTEND_TIMEOUT_USEC=", 20) == 0, "%s", all);
	cr_assert_geq(strtoull(line + 20, NULL, 10), 60000000ull, "%s", all);
	char *log = server_log();
	cr_assert_not_null(strstr(log, "is complete"), "the start finished the compaction: %s", log);
	free(log);
	await_stopping(nfd);
	close(nfd);
}
