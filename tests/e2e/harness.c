/*
 * harness.c - running vaultd for end-to-end tests (see harness.h).
 */
#include <errno.h>
#include <poll.h>
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
#include <libpq-fe.h>
#include <vault/vault.h>

#include "common/frame.h"
#include "common/msg.h"
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

const char *
vaultd_pgsql(void)
{
	const char *c = getenv("VAULT_TEST_PGSQL");
	return c && *c ? c : NULL;
}

void
vaultd_needs_lmdb(struct vaultd_proc *p, const char *why)
{
	if (vaultd_pgsql() == NULL)
		return;
	if (p != NULL)
		vaultd_cleanup(p);
	cr_skip_test("needs the LMDB backend: %s", why);
}

/*
 * A fresh schema for p's vaultd on the suite's PostgreSQL server; the
 * [storage] lines that select it into ini (cap bytes).
 */
static void
pgsql_schema(const struct vaultd_proc *p, const char *conninfo, char *ini, size_t cap)
{
	char schema[64], sql[128];
	const char *base = strrchr(p->dir, '/');
	int n = snprintf(schema, sizeof(schema), "e2e_%ld_", (long)getpid());
	/* mkdtemp's letters, lowercased: search_path folds unquoted names. */
	for (const char *c = base ? base + 1 : p->dir; *c && n < (int)sizeof(schema) - 1; c++)
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))
			schema[n++] = (char)(*c | 0x20);
	schema[n] = '\0';
	PGconn *pc = PQconnectdb(conninfo);
	cr_assert(pc != NULL && PQstatus(pc) == CONNECTION_OK,
	    "VAULT_TEST_PGSQL: cannot connect: %s", pc ? PQerrorMessage(pc) : "no memory");
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
	PGresult *res = PQexec(pc, sql);
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(pc));
	PQclear(res);
	PQfinish(pc);
	int w = snprintf(ini, cap, "backend = postgresql\npostgresql = %s options=-csearch_path=%s\n",
	    conninfo, schema);
	cr_assert(w > 0 && (size_t)w < cap, "VAULT_TEST_PGSQL is too long");
}

void
vaultd_start(struct vaultd_proc *p, const char *extra_ini)
{
	vaultd_prepare(p, extra_ini);
	spawn(p);
}

void
vaultd_prepare(struct vaultd_proc *p, const char *extra_ini)
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
	char pg[1200] = "";
	if (vaultd_pgsql() != NULL)
		pgsql_schema(p, vaultd_pgsql(), pg, sizeof(pg));
	f = fopen(p->config, "w");
	cr_assert_not_null(f);
	fprintf(f,
	    "[server]\nsocket_path = %s\nworkers = 2\n"
	    "[storage]\ndata_dir = %s/data\nmap_size_bytes = 256M\n%s"
	    "[keys]\nkeyring_path = %s/keys/keyring\nroot_key_path = %s/keys/root.key\n"
	    "[policy]\nfile = %s\n",
	    p->socket, p->dir, pg, p->dir, p->dir, policy);
	if (extra_ini)
		fputs(extra_ini, f);
	fclose(f);
	/* vaultd refuses files others may write, whatever the umask. */
	cr_assert_eq(chmod(policy, 0644), 0);
	cr_assert_eq(chmod(p->config, 0600), 0);
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

static void
append(char **buf, size_t *len, const char *data, size_t n)
{
	char *b = realloc(*buf, *len + n + 1);
	cr_assert_not_null(b);
	memcpy(b + *len, data, n);
	*len += n;
	b[*len] = '\0';
	*buf = b;
}

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
proc_run_ex(struct proc_run *r, const char *bin, const char *in, size_t inlen,
    const char *const *env, const char *const *args, int seconds)
{
	int pin[2], pout[2], perr[2], st;
	const char *argv[64];
	size_t n = 0, off = 0;

	cr_assert_not_null(bin, "no program to run (run through meson test)");
	memset(r, 0, sizeof(*r));
	argv[n++] = bin;
	for (size_t i = 0; args[i] != NULL; i++) {
		cr_assert(n < 63);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	if (in == NULL)
		inlen = 0;
	cr_assert_eq(pipe(pin), 0);
	cr_assert_eq(pipe(pout), 0);
	cr_assert_eq(pipe(perr), 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		close(pin[0]);
		close(pin[1]);
		close(pout[0]);
		close(pout[1]);
		close(perr[0]);
		close(perr[1]);
		for (size_t i = 0; env != NULL && env[i] != NULL; i++)
			if (putenv((char *)env[i]) != 0)
				_exit(126);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	if (inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	r->out = calloc(1, 1);
	r->err = calloc(1, 1);
	cr_assert(r->out != NULL && r->err != NULL);
	struct pollfd pf[3] = {
		{ pout[0], POLLIN, 0 }, { perr[0], POLLIN, 0 }, { pin[1], POLLOUT, 0 },
	};
	long long end = now_ms() + (long long)seconds * 1000;
	while (pf[0].fd >= 0 || pf[1].fd >= 0) {
		long long left = end - now_ms();
		int ready = left > 0 ? poll(pf, 3, (int)left) : 0;
		if (ready < 0 && errno == EINTR)
			continue;
		cr_assert(ready >= 0, "poll: %s", strerror(errno));
		if (ready == 0) {
			/* A hung child fails the test instead of hanging it. */
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_assert_fail("%s did not finish within %d s\nstdout: %s\nstderr: %s",
			    bin, seconds, r->out, r->err);
		}
		char buf[4096];
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || pf[i].revents == 0)
				continue;
			ssize_t k = read(pf[i].fd, buf, sizeof(buf));
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
			} else if (i == 0) {
				append(&r->out, &r->outlen, buf, (size_t)k);
			} else {
				append(&r->err, &r->errlen, buf, (size_t)k);
			}
		}
		if (pf[2].fd >= 0 && pf[2].revents != 0) {
			ssize_t k = write(pf[2].fd, in + off, inlen - off);
			if (k > 0)
				off += (size_t)k;
			if (k <= 0 || off == inlen) {
				close(pf[2].fd);
				pf[2].fd = -1;
			}
		}
	}
	if (pf[2].fd >= 0)
		close(pf[2].fd);
	/* Both pipes are closed; the exit itself follows within the deadline. */
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		cr_assert(w >= 0, "waitpid: %s", strerror(errno));
		if (w == pid)
			break;
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_assert_fail("%s did not exit within %d s", bin, seconds);
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

void
proc_run(struct proc_run *r, const char *bin, const char *in, const char *const *args)
{
	proc_run_ex(r, bin, in, in ? strlen(in) : 0, NULL, args, PROC_RUN_DEADLINE);
}

void
proc_run_free(struct proc_run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

const char *
keytool_path(void)
{
	static char bin[1024];
	const char *vaultd = getenv("VAULTD");
	char *slash;

	cr_assert_not_null(vaultd, "VAULTD is not set (run through meson test)");
	snprintf(bin, sizeof(bin), "%s", vaultd);
	slash = strrchr(bin, '/');
	cr_assert_not_null(slash);
	snprintf(slash, sizeof(bin) - (size_t)(slash - bin), "/../keys/vault-keytool");
	cr_assert_eq(access(bin, X_OK), 0, "%s: build vault-keytool first", bin);
	return bin;
}

void
raw_send(int fd, const void *p, size_t n)
{
	cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n, "send: %s", strerror(errno));
}

void
raw_send_frame(int fd, const void *body, size_t n)
{
	uint8_t hdr[FRAME_HEADER_SIZE];
	frame_put_header(hdr, (uint32_t)n);
	raw_send(fd, hdr, sizeof(hdr));
	raw_send(fd, body, n);
}

int
raw_recv_reply(int fd, struct raw_reply *r)
{
	uint8_t hdr[4];
	size_t got = 0;
	while (got < 4) {
		ssize_t n = recv(fd, hdr + got, 4 - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	r->len = (size_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
	r->body = malloc(r->len);
	cr_assert(r->body != NULL || r->len == 0);
	for (got = 0; got < r->len;) {
		ssize_t n = recv(fd, r->body + got, r->len - got, 0);
		cr_assert(n > 0, "reply truncated");
		got += (size_t)n;
	}
	msgpack_zone_init(&r->zone, 1024);
	struct mp_limits lim = { 8, r->len };
	cr_assert_eq(msg_decode(r->body, r->len, &lim, &r->zone, &r->root), 0);
	return 0;
}

void
raw_reply_free(struct raw_reply *r)
{
	msgpack_zone_destroy(&r->zone);
	free(r->body);
}

void
vaultctl_run(struct proc_run *r, const char *socket, const char *in,
    const char *const *args, int seconds)
{
	const char *bin = getenv("VAULTCTL");
	const char *argv[64];
	size_t n = 0;

	cr_assert_not_null(bin, "VAULTCTL is not set (run through meson test)");
	if (socket != NULL) {
		argv[n++] = "-s";
		argv[n++] = socket;
	}
	for (size_t i = 0; args[i] != NULL; i++) {
		cr_assert(n < 62);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	proc_run_ex(r, bin, in, in ? strlen(in) : 0, NULL, argv,
	    seconds > 0 ? seconds : PROC_RUN_DEADLINE);
}

int
keytool_run(const char *in, const char *const *args)
{
	struct proc_run r;
	proc_run(&r, keytool_path(), in, args);
	int status = r.status;
	if (status != 0)
		fprintf(stderr, "vault-keytool: exit %d: %s", status, r.err);
	proc_run_free(&r);
	return status;
}

void
expect_field(struct vault *v, const char *tok, const char *field, const char *want, int i)
{
	const char *fields[] = { field };
	struct vault_record *out;
	int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok, fields, 1, 0, &out);
	cr_assert_eq(rc, 0, "record %d: %s", i, vault_error_name(rc));
	cr_assert_str_eq(vault_record_get(out, field), want, "record %d: %s", i, field);
	vault_record_free(out);
}
