/*
 * harness.h - start and stop a real vaultd for end-to-end tests.
 *
 * Each test gets a fresh temporary directory holding the data directory,
 * the socket directory, development keys and a configuration file. The
 * server binary comes from $VAULTD (set by meson).
 */
#ifndef VAULT_TESTS_HARNESS_H
#define VAULT_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

struct vaultd_proc {
	pid_t pid;
	char dir[256];
	char socket[512];
	char config[512];
	char log[512];
};

/*
 * Write a configuration (extra_ini appended, may be NULL) into a new
 * temporary directory and start vaultd --dev with it; wait until it
 * answers ping. Aborts the test on failure.
 */
void vaultd_start(struct vaultd_proc *p, const char *extra_ini);
/*
 * The same without starting: the directory and configuration only, for a
 * test that makes its keys first; start it with vaultd_restart().
 */
void vaultd_prepare(struct vaultd_proc *p, const char *extra_ini);
/*
 * The PostgreSQL server the suite runs vaultd on: $VAULT_TEST_PGSQL, a
 * libpq key=value conninfo (tests/e2e/on-pgsql.sh sets it to a scratch
 * server), or NULL when unset: LMDB. With it, vaultd_start gives each vaultd
 * a fresh schema of its own ([storage] backend = postgresql, options=
 * -csearch_path=...), so a suite runs unchanged on either backend.
 */
const char *vaultd_pgsql(void);
/*
 * For the few tests that read or change LMDB's data file themselves: on
 * PostgreSQL, clean p up (may be NULL) and skip the test, visibly, saying
 * why. Keep the list short (tests/meson.build, at the -pgsql suites, names
 * them).
 */
void vaultd_needs_lmdb(struct vaultd_proc *p, const char *why);
/* Start again on the same directory (after vaultd_stop or a kill). */
void vaultd_restart(struct vaultd_proc *p);
/*
 * The same, for a start that may be refused: 0 once it answers ping, or -1
 * if it exited first (its log, emptied before the start, says why).
 */
int vaultd_try_restart(struct vaultd_proc *p);
/* SIGTERM and wait; returns the exit status, -1 if killed by a signal,
 * -2 if its log holds a sanitizer report. */
int vaultd_stop(struct vaultd_proc *p);
/*
 * Start vaultd on p's directory expecting it to refuse: returns its exit
 * status (it must exit within 10 s) and fills log with its log (malloc'd).
 */
int vaultd_expect_refusal(struct vaultd_proc *p, char **log);
/*
 * vaultd --check -c on p's configuration (vaultd stopped or not): returns
 * its exit status and fills out with what it printed, stdout and stderr
 * (malloc'd).
 */
int vaultd_check(struct vaultd_proc *p, char **out);
/*
 * Wait (up to seconds) until p's log holds needle at least count times;
 * returns how many times it does.
 */
int vaultd_wait_log(const struct vaultd_proc *p, const char *needle, int count, int seconds);
/* SIGKILL and reap: a crash at an arbitrary moment. */
void vaultd_kill(struct vaultd_proc *p);
/*
 * For suite teardowns: stop vaultd (if running), remove the directory, and
 * abort if it did not exit 0 or its log holds a sanitizer report. Criterion
 * 2.4 ignores failed assertions in a .fini, but counts a crash there.
 */
void vaultd_finish(struct vaultd_proc *p);
/* Stop if running and remove the directory. */
void vaultd_cleanup(struct vaultd_proc *p);
/* A plain socket connected to p, with a receive timeout in seconds. */
int vaultd_raw_connect(const struct vaultd_proc *p, int timeout_seconds);
struct vault;
struct vault_keys_status;
/*
 * Poll keys_status (every 10 ms, at most seconds) until no rotation runs;
 * returns that status (free it with vault_keys_status_free). Aborts the
 * test on an error or when the rotation does not finish in time.
 */
struct vault_keys_status *vaultd_wait_rotation(struct vault *v, int seconds);
/* Path of a file inside the test directory. */
void vaultd_path(const struct vaultd_proc *p, const char *name, char *out, size_t len);
/* Read a whole file into a malloc'd buffer (NULL-terminated); *len its size. */
char *read_file_all(const char *path, size_t *len);

/* ---- running the other programs ------------------------------------------ */

/* What one run of a program did. */
struct proc_run {
	char *out;      /* its standard output, NUL-terminated (malloc'd) */
	size_t outlen;
	char *err;      /* its standard error, NUL-terminated (malloc'd) */
	size_t errlen;
	int status;     /* exit status, or -1 if a signal killed it */
	int signal;     /* that signal, else 0 */
};

/* Seconds a run may take before the test fails (the child is killed). */
#define PROC_RUN_DEADLINE 60

/*
 * Run bin with args (NULL-terminated; bin itself becomes argv[0]), in (may
 * be NULL: an empty standard input) on its standard input; stdout and stderr
 * are pipes, never a terminal. A child still running after
 * PROC_RUN_DEADLINE seconds is killed and fails the test.
 */
void proc_run(struct proc_run *r, const char *bin, const char *in, const char *const *args);
/*
 * The same with inlen bytes of in, env ("NAME=value" strings, NULL-terminated,
 * may be NULL) added to the environment, and a deadline in seconds.
 */
void proc_run_ex(struct proc_run *r, const char *bin, const char *in, size_t inlen,
    const char *const *env, const char *const *args, int seconds);
void proc_run_free(struct proc_run *r);
/* Fail the test unless run r exited with code; the message shows its output. */
#define assert_exit(r, code) \
	cr_assert_eq((r)->status, (code), "exit %d, want %d\nstdout: %s\nstderr: %s", \
	    (r)->status, (code), (r)->out, (r)->err)
/*
 * $VAULTCTL with args, "-s socket" first unless socket is NULL, in (may be
 * NULL) on its standard input, within seconds (0: PROC_RUN_DEADLINE).
 */
void vaultctl_run(struct proc_run *r, const char *socket, const char *in,
    const char *const *args, int seconds);
/* vault-keytool, beside vaultd in the build tree (static buffer). */
const char *keytool_path(void);
/* Run vault-keytool with in on its standard input; its exit status (what
 * it wrote to stderr goes to the test's stderr when it fails). */
int keytool_run(const char *in, const char *const *args);

struct vault;

/*
 * Read field of the record behind tok (purpose transactional) and assert
 * that it reads want; i numbers the record in a failure's message.
 */
void expect_field(struct vault *v, const char *tok, const char *field, const char *want,
    int i);

/* ---- raw frames (PROTOCOL.md), for tests that speak the wire themselves ---- */

/* One reply frame, decoded. */
struct raw_reply {
	msgpack_zone zone;
	msgpack_object root;
	uint8_t *body;
	size_t len;
};

/* Send all n bytes (no SIGPIPE); aborts the test if the peer is gone. */
void raw_send(int fd, const void *p, size_t n);
/* Send body as one frame: its 4-byte length header, then body. */
void raw_send_frame(int fd, const void *body, size_t n);
/* Read and decode one reply frame: 0, or -1 on EOF or the receive timeout
 * before a header. A truncated or undecodable body fails the test. */
int raw_recv_reply(int fd, struct raw_reply *r);
void raw_reply_free(struct raw_reply *r);

#endif
