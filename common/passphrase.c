/*
 * passphrase.c - reading a passphrase from the terminal without echo, or
 * from standard input (see passphrase.h). Shared by vaultctl unseal and
 * vaultd --restore (and the offline audit commands).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "passphrase.h"

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

/* One line from fd into buf (PASSPHRASE_MAX + 1 bytes), NUL-terminated. */
static enum passphrase_result
read_line(int fd, char *buf, size_t *len)
{
	enum passphrase_result res = PASSPHRASE_OK;
	size_t n = 0;
	int any = 0;
	char ch = 0;

	for (;;) {
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			res = PASSPHRASE_ERROR;
			break;
		}
		if (r == 0)
			break;
		any = 1;
		if (ch == '\n')
			break;
		if (n == PASSPHRASE_MAX) {
			/* Swallow the rest of the line. */
			while ((r = read(fd, &ch, 1)) > 0 && ch != '\n')
				;
			res = PASSPHRASE_TOO_LONG;
			break;
		}
		buf[n++] = ch;
	}
	explicit_bzero(&ch, sizeof(ch));
	if (res == PASSPHRASE_OK && n > 0 && buf[n - 1] == '\r')
		n--; /* a line from a CRLF file */
	if (res == PASSPHRASE_OK && n == 0)
		res = any ? PASSPHRASE_EMPTY : PASSPHRASE_EOF;
	if (res != PASSPHRASE_OK)
		n = 0;
	buf[n] = '\0';
	*len = n;
	return res;
}

/* From the terminal, with echo off and a prompt; -1 if it cannot be used. */
static int
read_from_tty(const char *prompt, char *buf, size_t *len, enum passphrase_result *res)
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
	(void)!write(tty_fd, prompt, strlen(prompt));
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

enum passphrase_result
passphrase_read(const char *prompt, char *buf, size_t *len, const char **from)
{
	enum passphrase_result res;
	if (from != NULL)
		*from = "standard input";
	if (!isatty(STDIN_FILENO)) {
		res = read_line(STDIN_FILENO, buf, len);
	} else {
		if (from != NULL)
			*from = "the terminal";
		if (read_from_tty(prompt, buf, len, &res) != 0)
			res = PASSPHRASE_NO_TTY;
	}
	if (res != PASSPHRASE_OK) {
		int e = errno;
		explicit_bzero(buf, PASSPHRASE_MAX + 1);
		*len = 0;
		errno = e;
	}
	return res;
}
