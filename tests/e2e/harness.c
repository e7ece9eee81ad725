/*
 * harness.c - running vaultd for end-to-end tests (see harness.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "harness.h"

int
vaultd_raw_connect(const struct vaultd_proc *p, int timeout_seconds)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cr_assert_lt(strlen(p->socket), sizeof(sa.sun_path));
	memcpy(sa.sun_path, p->socket, strlen(p->socket) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { timeout_seconds, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

void
vaultd_path(const struct vaultd_proc *p, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", p->dir, name);
}

char *
read_file_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap + 1);
	size_t r;
	while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *nb = realloc(b, cap * 2 + 1);
			if (nb == NULL) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (b) {
		b[n] = '\0';
		*len = n;
	}
	return b;
}

/* The server to run: $VAULTD, or $VAULTD_WRAPPER instead: valgrind around
 * it, or another build of vaultd (make test-tsan runs a ThreadSanitizer one). */
static const char *
vaultd_bin(void)
{
	const char *w = getenv("VAULTD_WRAPPER");
	return w && *w ? w : getenv("VAULTD");
}

/* Start vaultd --dev on p: 0 once it answers ping, -1 if it exited first. */
static int
spawn_try(struct vaultd_proc *p)
{
	const char *bin = vaultd_bin();
	cr_assert_not_null(bin, "VAULTD is not set (run through meson test)");
	p->pid = fork();
	cr_assert(p->pid >= 0);
	if (p->pid == 0) {
		/* A test that fails with vaultd running leaves no server behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		FILE *lf = freopen(p->log, "a", stderr);
		(void)lf;
		execl(bin, bin, "--dev", "-c", p->config, (char *)NULL);
		_exit(127);
	}
	/* Wait until it answers (up to 10 s). */
	for (int i = 0; i < 1000; i++) {
		struct vault *v;
		if (vault_connect(p->socket, &v) == 0) {
			int rc = vault_ping(v);
			vault_close(v);
			if (rc == 0)
				return 0;
		}
		int st;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			return -1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cr_assert_fail("vaultd did not start within 10 s");
	return -1;
}

static void
spawn(struct vaultd_proc *p)
{
	if (spawn_try(p) != 0) {
		size_t n;
		char *log = read_file_all(p->log, &n);
		cr_assert_fail("vaultd exited during start: %s", log ? log : "(no log)");
	}
}

int
vaultd_try_restart(struct vaultd_proc *p)
{
	truncate(p->log, 0);
	return spawn_try(p);
}

void
vaultd_start(struct vaultd_proc *p, const char *extra_ini)
{
	memset(p, 0, sizeof(*p));
	const char *tmp = getenv("TMPDIR");
	snprintf(p->dir, sizeof(p->dir), "%s/vault-e2e-XXXXXX", tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(p->dir));
	char run[300];
	snprintf(run, sizeof(run), "%s/run", p->dir);
	cr_assert_eq(mkdir(run, 0700), 0);
	snprintf(p->socket, sizeof(p->socket), "%s/run/vaultd.sock", p->dir);
	snprintf(p->config, sizeof(p->config), "%s/vaultd.conf", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/vaultd.log", p->dir);
	/* A policy letting the test's uid do everything, as an admin. */
	char policy[600];
	snprintf(policy, sizeof(policy), "%s/policy.ini", p->dir);
	FILE *f = fopen(policy, "w");
	cr_assert_not_null(f);
	fprintf(f, "[client tests]\nuids = %ld\nadmin = true\ndelete = true\nlist = true\nprivacy = true\ntransactions = true\n",
	    (long)getuid());
	static const char *const purposes[] = { "transactional", "marketing", "maintenance",
		"security", "legal" };
	for (int i = 0; i < 5; i++)
		fprintf(f, "[access tests %s]\n* = plain\ndocuments = plain\n", purposes[i]);
	fclose(f);
	f = fopen(p->config, "w");
	cr_assert_not_null(f);
	fprintf(f,
	    "[server]\nsocket_path = %s\nworkers = 2\n"
	    "[storage]\ndata_dir = %s/data\nmap_size_bytes = 256M\n"
	    "[keys]\nkeyring_path = %s/keys/keyring\nroot_key_path = %s/keys/root.key\n"
	    "[policy]\nfile = %s\n",
	    p->socket, p->dir, p->dir, p->dir, policy);
	if (extra_ini)
		fputs(extra_ini, f);
	fclose(f);
	/* vaultd refuses files others may write, whatever the umask. */
	cr_assert_eq(chmod(policy, 0644), 0);
	cr_assert_eq(chmod(p->config, 0600), 0);
	spawn(p);
}

void
vaultd_restart(struct vaultd_proc *p)
{
	spawn(p);
}

/* A sanitizer report in the server's log fails the test even if the
 * server kept running (UBSan and TSan report and go on by default). */
static int
log_has_sanitizer_report(const struct vaultd_proc *p)
{
	size_t n;
	char *log = read_file_all(p->log, &n);
	int bad = log != NULL && (strstr(log, "runtime error:") != NULL ||
	    strstr(log, "AddressSanitizer") != NULL || strstr(log, "LeakSanitizer") != NULL ||
	    strstr(log, "ThreadSanitizer") != NULL);
	if (bad)
		fprintf(stderr, "vaultd log (%s):\n%s\n", p->log, log);
	free(log);
	return bad;
}

int
vaultd_stop(struct vaultd_proc *p)
{
	int st = 0;
	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			if (log_has_sanitizer_report(p))
				return -2;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &st, 0);
	p->pid = 0;
	return -1;
}

int
vaultd_expect_refusal(struct vaultd_proc *p, char **log)
{
	const char *bin = vaultd_bin();
	size_t n;
	int st = 0;
	cr_assert_not_null(bin);
	truncate(p->log, 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		FILE *lf = freopen(p->log, "a", stderr);
		(void)lf;
		execl(bin, bin, "-c", p->config, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			*log = read_file_all(p->log, &n);
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_assert_fail("vaultd did not refuse to start");
	return -1;
}

int
vaultd_check(struct vaultd_proc *p, char **out)
{
	const char *bin = getenv("VAULTD");
	char path[600];
	size_t n;
	int st = 0;
	cr_assert_not_null(bin);
	snprintf(path, sizeof(path), "%s/check.out", p->dir);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (freopen(path, "w", stdout) == NULL || dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
			_exit(126);
		execl(bin, bin, "--check", "-c", p->config, (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	*out = read_file_all(path, &n);
	cr_assert_not_null(*out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
count_in(const char *s, const char *needle)
{
	int n = 0;
	for (const char *q = s; q != NULL && (q = strstr(q, needle)) != NULL; q++)
		n++;
	return n;
}

int
vaultd_wait_log(const struct vaultd_proc *p, const char *needle, int count, int seconds)
{
	int seen = 0;
	for (int i = 0; i <= seconds * 100; i++) {
		size_t n;
		char *log = read_file_all(p->log, &n);
		seen = count_in(log, needle);
		free(log);
		if (seen >= count)
			break;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return seen;
}

void
vaultd_finish(struct vaultd_proc *p)
{
	int status = p->pid > 0 ? vaultd_stop(p) : 0;
	if (status != 0) {
		size_t n;
		char *log = read_file_all(p->log, &n);
		fprintf(stderr, "vaultd did not stop cleanly (status %d); its log:\n%s\n",
		    status, log ? log : "(none)");
		free(log);
	}
	vaultd_cleanup(p);
	if (status != 0)
		abort();
}

void
vaultd_kill(struct vaultd_proc *p)
{
	int st;
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &st, 0);
	p->pid = 0;
}

void
vaultd_cleanup(struct vaultd_proc *p)
{
	if (p->pid > 0)
		vaultd_stop(p);
	if (p->dir[0] != '\0') {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", p->dir);
	}
}

struct vault_keys_status *
vaultd_wait_rotation(struct vault *v, int seconds)
{
	struct vault_keys_status *st = NULL;
	for (int i = 0; i < seconds * 100; i++) {
		vault_keys_status_free(st);
		cr_assert_eq(vault_keys_status(v, &st), 0, "%s", vault_last_message(v));
		if (!st->rotating)
			return st;
		usleep(10000);
	}
	cr_assert_fail("rotation did not finish within %d s", seconds);
	return st;
}
