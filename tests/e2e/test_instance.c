/*
 * test_instance.c - one vaultd per data directory: a second vaultd started
 * on a running one's data directory, with a socket of its own, refuses to
 * start before it opens anything, names the holder's pid, and leaves the
 * first one serving; the lock dies with its holder, even a SIGKILLed one.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "harness.h"

static struct vaultd_proc p;

static void
teardown(void)
{
	vaultd_finish(&p);
}

TestSuite(instance, .fini = teardown, .timeout = 120);

/* p's configuration with the socket at run/second.sock, written to second.conf. */
static void
second_config(char *conf, size_t conflen, char *sock, size_t socklen)
{
	size_t n;
	char *text = read_file_all(p.config, &n);
	cr_assert_not_null(text);
	const char *at = strstr(text, "socket_path = ");
	cr_assert_not_null(at);
	const char *eol = strchr(at, '\n');
	cr_assert_not_null(eol);
	snprintf(sock, socklen, "%s/run/second.sock", p.dir);
	vaultd_path(&p, "second.conf", conf, conflen);
	FILE *f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "%.*ssocket_path = %s%s", (int)(at - text), text, sock, eol);
	fclose(f);
	free(text);
}

/*
 * Run vaultd --dev -c conf [arg1 arg2] to its end (10 s at most): exit
 * status, log in *log.
 */
static int
run_to_exit(const char *conf, const char *arg1, const char *arg2, char **log)
{
	char logpath[600];
	size_t n;
	int st;
	vaultd_path(&p, "second.log", logpath, sizeof(logpath));
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		FILE *lf = freopen(logpath, "w", stderr);
		(void)lf;
		execl(getenv("VAULTD"), "vaultd", "--dev", "-c", conf, arg1, arg2, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			*log = read_file_all(logpath, &n);
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_assert_fail("the second vaultd was still running after 10 s: it did not refuse");
	return -1;
}

static void
create_one(const char *socket)
{
	struct vault *v;
	struct vault_record *r;
	char *tok = NULL;
	cr_assert_eq(vault_connect(socket, &v), 0);
	vault_record_new(&r);
	vault_record_set(r, "email", "one@instance.example");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), 0, "%s",
	    vault_last_message(v));
	vault_free(tok);
	vault_record_free(r);
	vault_close(v);
}

Test(instance, a_second_vaultd_on_the_same_data_directory_refuses_to_start)
{
	char conf[600], sock[600], want[64], *log = NULL;
	struct stat st;
	vaultd_start(&p, NULL);
	create_one(p.socket);
	second_config(conf, sizeof(conf), sock, sizeof(sock));

	int status = run_to_exit(conf, NULL, NULL, &log);
	cr_assert_not_null(log);
	cr_assert_neq(status, 0, "the second vaultd exited 0; its log:\n%s", log);
	snprintf(want, sizeof(want), "in use by vaultd pid %ld", (long)p.pid);
	cr_assert_not_null(strstr(log, want), "the refusal does not name the holder (%s):\n%s",
	    want, log);
	cr_assert_eq(stat(sock, &st), -1, "the refused vaultd bound its socket");
	free(log);

	/* The first one still serves, writes included. */
	create_one(p.socket);
}

Test(instance, the_lock_dies_with_its_holder)
{
	char conf[600], sock[600], *log = NULL;
	vaultd_start(&p, NULL);
	second_config(conf, sizeof(conf), sock, sizeof(sock));
	/* A SIGKILLed holder leaves its lock file behind, not its lock. */
	vaultd_kill(&p);
	vaultd_restart(&p);
	create_one(p.socket);
	cr_assert_neq(run_to_exit(conf, NULL, NULL, &log), 0,
	    "a second vaultd started beside the restarted one");
	free(log);
}

/* The offline commands take the same lock: none runs beside a live vaultd. */
Test(instance, offline_commands_refuse_a_data_directory_in_use)
{
	char want[64], backup[600], *log = NULL;
	vaultd_start(&p, NULL);
	create_one(p.socket);
	snprintf(want, sizeof(want), "in use by vaultd pid %ld", (long)p.pid);
	vaultd_path(&p, "no-such-backup", backup, sizeof(backup));
	const char *const cmds[][2] = {
		{ "--restore", backup }, { "--audit-acknowledge", NULL }, { "--audit-verify", NULL },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int status = run_to_exit(p.config, cmds[i][0], cmds[i][1], &log);
		cr_assert_not_null(log);
		cr_assert_neq(status, 0, "%s ran beside a live vaultd:\n%s", cmds[i][0], log);
		cr_assert_not_null(strstr(log, want), "%s: the refusal does not name the holder:\n%s",
		    cmds[i][0], log);
		free(log);
		log = NULL;
	}
	create_one(p.socket);
}
