/*
 * unseal.c - "vaultctl unseal": open a passphrase-sealed key ring.
 *
 * The passphrase never comes from the command line (ps, shell history).
 * When standard input is a terminal it is read from /dev/tty with echo
 * off; otherwise one line is read from standard input, so scripts can pipe
 * it in. It is read with read(2) one byte at a time (no stdio buffer keeps
 * a copy) into a buffer kept out of swap where possible and wiped once the
 * call is over; the client library wipes its own copy in its request
 * buffer. It is never printed, not even in an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

#define PASS_MAX 1024 /* bytes, newline excluded (as vault-keytool) */

/* The terminal while echo is off, for the signal handler. */
static int tty_fd = -1;
static struct termios saved_tty;
static volatile sig_atomic_t echo_off;

static const int fatal_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define NFATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))

/* Put echo back before dying of a signal, or the user's shell stays blind. */
static void
restore_and_die(int sig)
{
	if (echo_off)
		tcsetattr(tty_fd, TCSAFLUSH, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

enum read_result {
	READ_OK,
	READ_ERROR,     /* errno tells */
	READ_TOO_LONG,
	READ_EMPTY,     /* an empty line */
	READ_EOF,       /* no input at all */
};

/* One line from fd into buf (PASS_MAX + 1 bytes), NUL-terminated. */
static enum read_result
read_line(int fd, char *buf, size_t *len)
{
	enum read_result res = READ_OK;
	size_t n = 0;
	int any = 0;
	char ch = 0;

	for (;;) {
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			res = READ_ERROR;
			break;
		}
		if (r == 0)
			break;
		any = 1;
		if (ch == '\n')
			break;
		if (n == PASS_MAX) {
			/* Swallow the rest of the line. */
			while ((r = read(fd, &ch, 1)) > 0 && ch != '\n')
				;
			res = READ_TOO_LONG;
			break;
		}
		buf[n++] = ch;
	}
	explicit_bzero(&ch, sizeof(ch));
	if (res == READ_OK && n > 0 && buf[n - 1] == '\r')
		n--; /* a line from a CRLF file */
	if (res == READ_OK && n == 0)
		res = any ? READ_EMPTY : READ_EOF;
	if (res != READ_OK)
		n = 0;
	buf[n] = '\0';
	*len = n;
	return res;
}

/* From the terminal, with echo off and a prompt; -1 if it cannot be used. */
static int
read_from_tty(char *buf, size_t *len, enum read_result *res)
{
	struct sigaction sa, old[NFATAL], old_tstp;
	struct termios t;
	int e;

	if ((tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		return -1;
	if (tcgetattr(tty_fd, &saved_tty) != 0) {
		e = errno;
		close(tty_fd);
		tty_fd = -1;
		errno = e;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_and_die;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NFATAL; i++)
		sigaction(fatal_signals[i], &sa, &old[i]);
	/* Suspended with echo off, the shell would be blind too. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGTSTP, &sa, &old_tstp);
	t = saved_tty;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	t.c_lflag |= ICANON;
	(void)!write(tty_fd, "Passphrase: ", 12);
	echo_off = 1;
	tcsetattr(tty_fd, TCSAFLUSH, &t);
	*res = read_line(tty_fd, buf, len);
	e = errno;
	tcsetattr(tty_fd, TCSAFLUSH, &saved_tty);
	echo_off = 0;
	for (size_t i = 0; i < NFATAL; i++)
		sigaction(fatal_signals[i], &old[i], NULL);
	sigaction(SIGTSTP, &old_tstp, NULL);
	(void)!write(tty_fd, "\n", 1);
	close(tty_fd);
	tty_fd = -1;
	errno = e;
	return 0;
}

int
ctl_cmd_unseal(struct ctl *c, int argc, char **argv)
{
	char pass[PASS_MAX + 1];
	const char *from = "standard input";
	enum read_result res;
	size_t len = 0;
	int rc, locked;

	if ((rc = ctl_no_args(c, argv[0], argc, argv)) != CTL_EXIT_OK)
		return rc;
	/* Connect first: no point typing a passphrase for a dead socket. */
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		return rc;
	locked = mlock(pass, sizeof(pass)) == 0;
	if (isatty(STDIN_FILENO)) {
		from = "the terminal";
		if (read_from_tty(pass, &len, &res) != 0) {
			rc = ctl_usage_error(c, "unseal: cannot use the terminal: %s",
			    strerror(errno));
			goto out;
		}
	} else {
		res = read_line(STDIN_FILENO, pass, &len);
	}
	switch (res) {
	case READ_OK:
		break;
	case READ_ERROR:
		rc = ctl_usage_error(c, "unseal: cannot read %s: %s", from, strerror(errno));
		goto out;
	case READ_TOO_LONG:
		rc = ctl_usage_error(c, "unseal: the passphrase is longer than %d bytes",
		    PASS_MAX);
		goto out;
	case READ_EMPTY:
		rc = ctl_usage_error(c, "unseal: empty passphrase");
		goto out;
	case READ_EOF:
		rc = ctl_usage_error(c, "unseal: no passphrase on %s", from);
		goto out;
	}
	if (memchr(pass, '\0', len) != NULL) {
		rc = ctl_usage_error(c, "unseal: the passphrase holds a NUL byte");
		goto out;
	}
	rc = vault_unseal(c->v, pass);
	explicit_bzero(pass, sizeof(pass));
	if (rc != 0) {
		rc = ctl_vault_error(c, rc, NULL);
		goto out;
	}
	if (c->json) {
		rc = ctl_json_emit(c, json_pack("{s:b}", "sealed", 0));
	} else {
		puts("unsealed");
		rc = CTL_EXIT_OK;
	}
out:
	explicit_bzero(pass, sizeof(pass));
	if (locked)
		munlock(pass, sizeof(pass));
	return rc;
}
