/*
 * test_limits.c - end-to-end: connection limits and timeouts. A client
 * that trickles bytes, idles or opens too many connections loses its own
 * connections, and a well-behaved client keeps getting prompt answers.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <lmdb.h>
#include <vault/vault.h>

#include "harness.h"

static struct vaultd_proc srv;

static void
setup(void)
{
	vaultd_start(&srv,
	    "[server]\n"
	    "max_connections = 40\n"
	    "max_connections_per_uid = 30\n"
	    "idle_timeout_seconds = 2\n"
	    "request_timeout_seconds = 1\n");
}

static void
teardown(void)
{
	vaultd_finish(&srv);
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 60);

static int
raw_connect(void)
{
	return vaultd_raw_connect(&srv, 5);
}

/* 1 if the server closed fd (EOF within the receive timeout). */
static int
closed_by_server(int fd)
{
	char b;
	return recv(fd, &b, 1, 0) == 0;
}

static double
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

Test(limits, per_uid_limit_closes_extra_connections)
{
	int fds[31];
	for (int i = 0; i < 30; i++)
		fds[i] = raw_connect();
	usleep(100 * 1000);
	fds[30] = raw_connect();
	cr_assert(closed_by_server(fds[30]), "the 31st connection of one uid is refused");
	close(fds[30]);
	/* Closing one gives its place back. */
	close(fds[0]);
	usleep(200 * 1000);
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	cr_assert_eq(vault_ping(v), 0);
	vault_close(v);
	for (int i = 1; i < 30; i++)
		close(fds[i]);
}

Test(limits, trickling_client_is_cut_off_and_others_served)
{
	int slow = raw_connect();
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	/* A frame header announcing 100 bytes, then one byte a second. */
	unsigned char hdr[4] = { 0, 0, 0, 100 };
	cr_assert_eq(send(slow, hdr, 4, MSG_NOSIGNAL), 4);
	double worst = 0;
	int cut = 0;
	for (int i = 0; i < 40 && !cut; i++) {
		unsigned char b = 0x80;
		if (send(slow, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
			cut = 1;
		for (int j = 0; j < 10; j++) {
			double t0 = now_ms();
			cr_assert_eq(vault_ping(v), 0);
			double dt = now_ms() - t0;
			if (dt > worst)
				worst = dt;
		}
		usleep(100 * 1000);
		char c;
		if (recv(slow, &c, 1, MSG_DONTWAIT) == 0)
			cut = 1;
	}
	cr_assert(cut, "a frame trickling in for over request_timeout_seconds is dropped");
	cr_assert_lt(worst, 500.0, "the good client waited %.1f ms", worst);
	vault_close(v);
	close(slow);
}

Test(limits, idle_connection_is_closed)
{
	int fd = raw_connect();
	double t0 = now_ms();
	cr_assert(closed_by_server(fd));
	double dt = now_ms() - t0;
	cr_assert(dt >= 1500 && dt < 5000, "closed after %.0f ms, want ~2-3 s", dt);
	close(fd);
}

/*
 * A full map fails writes with VAULT_E_NO_SPACE and loses nothing: reads
 * keep working, every acknowledged record is intact, and with a larger map
 * (after a restart) writes work again.
 */
Test(full, map_full_fails_writes_cleanly, .timeout = 120)
{
	struct vaultd_proc p;
	vaultd_start(&p, "[storage]\nmap_size_bytes = 1M\n");
	struct vault *v;
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *toks[20000];
	int n = 0, rc = 0;
	char email[64];
	while (n < 20000) {
		struct vault_record *r;
		snprintf(email, sizeof(email), "full%d@example.com", n);
		vault_record_new(&r);
		vault_record_set(r, "email", email);
		vault_record_set(r, "postal_address", "1 Long Street, Apartment 42\nSan Diego, CA 92101");
		rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &toks[n]);
		vault_record_free(r);
		if (rc != 0)
			break;
		n++;
	}
	cr_assert_eq(rc, VAULT_E_NO_SPACE, "got %s after %d records", vault_error_name(rc), n);
	cr_assert_gt(n, 100);
	/* Reads still work, and everything acknowledged is there. */
	const char *want[] = { "email" };
	for (int i = 0; i < n; i++) {
		struct vault_record *out;
		cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, toks[i], want, 1, 0, &out), 0);
		snprintf(email, sizeof(email), "full%d@example.com", i);
		cr_assert_str_eq(vault_record_get(out, "email"), email);
		vault_record_free(out);
	}
	cr_assert_eq(vault_ping(v), 0);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* More room: raise the map size and start again. */
	FILE *f = fopen(p.config, "a");
	fputs("[storage]\nmap_size_bytes = 64M\n", f);
	fclose(f);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	struct vault_record *r;
	char *tok;
	vault_record_new(&r);
	vault_record_set(r, "email", "after@example.com");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0);
	vault_record_free(r);
	vault_free(tok);
	struct vault_record *out;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, toks[0], want, 1, 0, &out), 0);
	vault_record_free(out);
	vault_close(v);
	for (int i = 0; i < n; i++)
		vault_free(toks[i]);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_cleanup(&p);
}

/*
 * Thousands of idle connections and a trickling client: a well-behaved
 * client's latency stays low (each worker's epoll loop costs nothing per
 * idle connection; the sweep is once a second).
 */
Test(crowd, idle_crowd_and_trickler_do_not_delay_others, .timeout = 120)
{
	/* Thousands of idle connections, as many as the descriptor limit allows. */
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	int IDLE = rl.rlim_cur > 3200 ? 3000 : (int)rl.rlim_cur - 200;
	cr_assert_geq(IDLE, 500, "need at least 700 file descriptors, have %ld",
	    (long)rl.rlim_cur);

	struct vaultd_proc p;
	vaultd_start(&p, "[server]\nmax_connections = 5000\nmax_connections_per_uid = 5000\n");
	static int fds[3000];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, p.socket);
	for (int i = 0; i < IDLE; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	int slow = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(connect(slow, (struct sockaddr *)&sa, sizeof(sa)), 0);
	unsigned char hdr[4] = { 0, 0, 0, 200 };
	cr_assert_eq(send(slow, hdr, 4, MSG_NOSIGNAL), 4);

	struct vault *v;
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	enum { N = 3000 };
	static double lat[N];
	for (int i = 0; i < N; i++) {
		if (i % 500 == 0) {
			unsigned char b = 0x80;
			send(slow, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		double t0 = now_ms();
		cr_assert_eq(vault_ping(v), 0);
		lat[i] = now_ms() - t0;
	}
	/* p99 by sorting a copy */
	for (int i = 1; i < N; i++) {
		double x = lat[i];
		int j = i - 1;
		while (j >= 0 && lat[j] > x) {
			lat[j + 1] = lat[j];
			j--;
		}
		lat[j + 1] = x;
	}
	double p50 = lat[N / 2], p99 = lat[N * 99 / 100];
	fprintf(stderr, "crowd: %d idle connections + 1 trickler: good client p50 %.3f ms, p99 %.3f ms\n",
	    IDLE, p50, p99);
	cr_assert_lt(p99, 50.0, "p99 %.3f ms with %d idle connections", p99, IDLE);
	vault_close(v);
	for (int i = 0; i < IDLE; i++)
		close(fds[i]);
	close(slow);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_cleanup(&p);
}

/*
 * A process that dies inside a read transaction leaves a reader slot that
 * pins old pages; the writer clears such slots (mdb_reader_check every few
 * seconds), so the data file stops growing under a steady rewrite load.
 */
static off_t
data_size(const struct vaultd_proc *p)
{
	char path[600];
	struct stat st;
	vaultd_path(p, "data/data.mdb", path, sizeof(path));
	return stat(path, &st) == 0 ? st.st_size : -1;
}

Test(readers, a_dead_reader_does_not_make_the_file_grow, .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *toks[10];
	for (int i = 0; i < 10; i++) {
		struct vault_record *r;
		vault_record_new(&r);
		vault_record_set(r, "postal_address", "1 Main Street\nSan Diego, CA 92101");
		cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &toks[i]), 0);
		vault_record_free(r);
	}
	/* A reader process opens a snapshot and is killed holding it. */
	char dir[600];
	vaultd_path(&p, "data", dir, sizeof(dir));
	pid_t pid = fork();
	if (pid == 0) {
		MDB_env *env;
		MDB_txn *txn;
		mdb_env_create(&env);
		mdb_env_set_maxdbs(env, 8);
		if (mdb_env_open(env, dir, MDB_RDONLY, 0600) != 0 ||
		    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
			_exit(1);
		pause();
		_exit(0);
	}
	usleep(300 * 1000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* Rewrite the same records for longer than the reader check period. */
	off_t after_warmup = 0;
	for (int round = 0; round < 400; round++) {
		struct vault_record *r;
		vault_record_new(&r);
		vault_record_set(r, "postal_address", round % 2 ? "2 Side Street\nSan Diego, CA 92102" :
		    "3 Hill Road\nSan Diego, CA 92103");
		for (int i = 0; i < 10; i++)
			cr_assert_eq(vault_update(v, VAULT_PURPOSE_TRANSACTIONAL, toks[i], r, NULL, 0,
			    NULL, 0), 0);
		vault_record_free(r);
		if (round == 300)
			after_warmup = data_size(&p);
		usleep(20 * 1000);
	}
	off_t end = data_size(&p);
	fprintf(stderr, "dead reader: data file %lld bytes after 300 rounds, %lld after 400\n",
	    (long long)after_warmup, (long long)end);
	cr_assert_eq(end, after_warmup, "the file keeps growing: a dead reader pins pages");
	for (int i = 0; i < 10; i++)
		vault_free(toks[i]);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_cleanup(&p);
}

/*
 * A full disk (a small tmpfs under the data directory) fails writes with
 * VAULT_E_NO_SPACE, keeps reads and every acknowledged record, and writes
 * work again once there is room (the tmpfs grown in place). Needs root.
 */
Test(full, disk_full_fails_writes_cleanly_and_recovers, .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	char data[300], cmd[2400];
	cr_assert_eq(geteuid(), 0, "mounting a small file system needs root");
	vaultd_start(&p, NULL);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_path(&p, "data", data, sizeof(data));
	/* Move the store onto a 2 MiB tmpfs. */
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s.tmp' && cp -a '%s'/. '%s.tmp'/ && "
	    "mount -t tmpfs -o size=2m,mode=0700 tmpfs '%s' && cp -a '%s.tmp'/. '%s'/",
	    data, data, data, data, data, data);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *toks[20000];
	int n = 0, rc = 0;
	while (n < 20000) {
		struct vault_record *r;
		vault_record_new(&r);
		vault_record_set(r, "postal_address", "1 Long Street, Apartment 42\nSan Diego, CA 92101");
		rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &toks[n]);
		vault_record_free(r);
		if (rc != 0)
			break;
		n++;
	}
	cr_assert_eq(rc, VAULT_E_NO_SPACE, "got %s after %d records", vault_error_name(rc), n);
	cr_assert_gt(n, 10);
	struct vault_record *out;
	for (int i = 0; i < n; i++) {
		cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, toks[i], NULL, 0, 0, &out), 0,
		    "acknowledged record %d readable on a full disk", i);
		vault_record_free(out);
	}
	/* Room again: the next write succeeds, with no restart. */
	snprintf(cmd, sizeof(cmd), "mount -o remount,size=64m '%s'", data);
	cr_assert_eq(system(cmd), 0);
	struct vault_record *r;
	char *tok;
	vault_record_new(&r);
	vault_record_set(r, "last_name", "After");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "%s",
	    vault_last_message(v));
	vault_record_free(r);
	vault_free(tok);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	snprintf(cmd, sizeof(cmd), "umount '%s'", data);
	cr_assert_eq(system(cmd), 0);
	for (int i = 0; i < n; i++)
		vault_free(toks[i]);
	vaultd_cleanup(&p);
}
