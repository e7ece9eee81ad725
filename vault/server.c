/*
 * server.c - the listening socket, accepting, signals, and an orderly stop
 * (see server.h for the threads).
 *
 * The socket lives in a directory only the service user can write to
 * (its group may enter, to connect; socket file permissions are not
 * portable, FACTS.md), on a path no one else can change, is created under
 * umask 007, and is never in the abstract namespace, which ignores
 * permissions. Peer credentials (SO_PEERCRED: uid and gid as of connect)
 * are taken at accept and kept with the connection.
 *
 * Socket activation (vaultd.socket, sd_listen_fds(3)): with LISTEN_FDS
 * vaultd binds nothing and takes the one socket systemd passed. It must be
 * exactly one listening AF_UNIX stream socket on a path (an abstract or
 * unnamed one, a datagram or a TCP socket, or several sockets are refused
 * with a message naming what was passed). PID 1 created its directory
 * (DirectoryMode=, root-owned), so the rule "vaultd's own directory" becomes:
 * the directory is owned by root or vaultd's user and writable by neither
 * its group nor others (only they can replace the socket; others may enter,
 * as the socket file's own mode and group, SocketMode= and SocketGroup=,
 * decide who connects), on a path safedir_ancestors() accepts. A path other
 * than [server] socket_path is served and reported. Clients see the uid of
 * the process that called listen() (root for PID 1) and by default expect
 * the directory's owner: a mismatch is reported at start. vaultd never
 * unlinks a socket it did not bind: systemd keeps listening on it after a
 * stop and starts vaultd again on the next connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <vault/vault.h>

#include "keyset.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "safedir.h"
#include "sdnotify.h"
#include "ops/op.h"
#include "reply.h"
#include "server.h"
#include "worker.h"

/* The socket directory's mode is 0750 at most: no group write, no others. */
#define SOCKET_DIR_FORBIDDEN (S_IWGRP | S_IRWXO)

/*
 * The socket's directory decides who may replace the socket: anyone who
 * may write to it (or to a directory on the way to it) could unlink
 * vaultd's socket, bind their own and receive every other service's
 * requests. So it must be vaultd's own: a real directory owned by vaultd's
 * user, not writable by its group, closed to others (0750 at most: the
 * group may enter, to connect), on a path only root and vaultd's user can
 * change. A missing directory is created 0700 (its parent must exist);
 * anything else is refused, never repaired. Without create (vaultd
 * --check) a missing one is only looked for its parent.
 */
int
server_check_socket_dir(const char *path, int create)
{
	char tmp[sizeof(((struct config *)0)->socket_path)], err[512];
	snprintf(tmp, sizeof(tmp), "%s", path);
	const char *dir = dirname(tmp);
	int rc;

	if (safedir_ancestors(dir, err, sizeof(err)) != 0) {
		log_error("socket directory %s: %s", dir, err);
		return VAULT_E_CONFIG;
	}
	rc = safedir_own(dir, SOCKET_DIR_FORBIDDEN, err, sizeof(err));
	if (rc == -2 && !create) {
		struct stat st;
		char up[sizeof(tmp)];
		snprintf(up, sizeof(up), "%s", dir);
		if (stat(dirname(up), &st) == 0 && S_ISDIR(st.st_mode))
			return 0; /* the start creates it */
	}
	if (rc == -2 && create) {
		/* umask may only narrow 0700; EEXIST (a race) is checked below. */
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			log_error("socket directory %s: %s", dir, strerror(errno));
			return VAULT_E_CONFIG;
		}
		rc = safedir_own(dir, SOCKET_DIR_FORBIDDEN, err, sizeof(err));
	}
	if (rc != 0) {
		log_error("socket directory %s: %s", dir,
		    rc == -2 ? strerror(ENOENT) : err);
		log_error("the socket directory must be owned by vaultd's user and "
		    "writable by no one else: mode 0700, or 0750 with the services' group");
		return VAULT_E_CONFIG;
	}
	return 0;
}

/* *bound: the socket file as bound, so that only it is removed at stop. */
static int
listen_socket(const char *path, struct stat *bound)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
		log_error("socket path is empty or longer than %zu bytes", sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/*
	 * A socket file left by a crash is removed; a live server is not, nor
	 * anything vaultd's user did not create (only root could have put it
	 * in a directory checked by server_check_socket_dir).
	 */
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s exists and is not a socket", path);
			close(fd);
			return -1;
		}
		if (st.st_uid != geteuid()) {
			log_error("%s is a socket of uid %ld, not of vaultd's user: "
			    "not removing it", path, (long)st.st_uid);
			close(fd);
			return -1;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			log_error("another vaultd is listening on %s", path);
			close(probe);
			close(fd);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	mode_t old = umask(007);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0 || listen(fd, 1024) != 0 || lstat(path, bound) != 0) {
		log_error("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The socket systemd passed (LISTEN_FDS): 0 with *fd -1 if none was
 * passed; 0 with *fd the listening socket, made non-blocking, and its path
 * in path; VAULT_E_CONFIG if what was passed is not one listening Unix
 * stream socket on a path, or its directory is not safe (header comment).
 */
static int
inherited_socket(const struct config *cfg, int *fd, char *path, size_t cap)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	char dir[256], err[512];
	struct stat st;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int n = sd_listen_fds(1), s = SD_LISTEN_FDS_START;

	*fd = -1;
	if (n == 0)
		return 0;
	if (n < 0) {
		log_error("socket activation: LISTEN_FDS cannot be used: %s", strerror(-n));
		return VAULT_E_CONFIG;
	}
	if (n > 1) {
		log_error("socket activation: systemd passed %d sockets; vaultd takes exactly "
		    "one (a single ListenStream= with a path in vaultd.socket)", n);
		return VAULT_E_CONFIG;
	}
	if (sd_is_socket_unix(s, SOCK_STREAM, 1, NULL, 0) <= 0) {
		int dgram = sd_is_socket(s, AF_UNSPEC, SOCK_DGRAM, -1) > 0;
		int inet = sd_is_socket_inet(s, AF_UNSPEC, 0, -1, 0) > 0;
		log_error("socket activation: the socket systemd passed is %s, not a listening "
		    "Unix stream socket: vaultd takes only ListenStream=/run/vault/vaultd.sock "
		    "(a path)", dgram ? "a datagram socket" : inet ? "an IP socket" :
		    "of another kind, or does not listen");
		return VAULT_E_CONFIG;
	}
	if (getsockname(s, (struct sockaddr *)&sa, &len) != 0 ||
	    len <= offsetof(struct sockaddr_un, sun_path) + 1 || sa.sun_path[0] == '\0') {
		log_error("socket activation: the socket systemd passed is unnamed or in the "
		    "abstract namespace, which ignores permissions: vaultd takes only a path");
		return VAULT_E_CONFIG;
	}
	snprintf(path, cap, "%.*s", (int)(len - offsetof(struct sockaddr_un, sun_path)),
	    sa.sun_path);
	struct stat a, b;
	if (strcmp(path, cfg->socket_path) != 0 && !(stat(path, &a) == 0 &&
	    stat(cfg->socket_path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino))
		log_warn("socket activation: serving %s, which systemd passed; [server] "
		    "socket_path (%s) is not used", path, cfg->socket_path);
	snprintf(dir, sizeof(dir), "%s", path);
	char *d = dirname(dir);
	if (safedir_ancestors(d, err, sizeof(err)) != 0) {
		log_error("socket directory %s: %s", d, err);
		return VAULT_E_CONFIG;
	}
	if (lstat(d, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		log_error("socket directory %s: must be a directory owned by root or vaultd's "
		    "user and writable by no one else (vaultd.socket: DirectoryMode=0755)", d);
		return VAULT_E_CONFIG;
	}
	/* Clients compare the server's uid (the listener's) with the owner. */
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 &&
	    cred.uid != st.st_uid)
		log_warn("socket activation: the socket was created by uid %ld but its "
		    "directory %s belongs to uid %ld: clients refuse this server "
		    "(VAULT_E_SERVER_IDENTITY) unless they set VAULT_SERVER_UID=%ld",
		    (long)cred.uid, d, (long)st.st_uid, (long)cred.uid);
	int fl = fcntl(s, F_GETFL);
	if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(s, F_SETFD, FD_CLOEXEC) != 0) {
		log_error("socket activation: %s", strerror(errno));
		return VAULT_E_CONFIG;
	}
	*fd = s;
	return 0;
}

/* What operations ask of the server (services.h), through the server's own functions. */
static void
control_keys_arrived(struct vault_services *svc)
{
	writer_keys_arrived(server_of(svc));
}

static int
control_metrics_pack(struct vault_services *svc, struct store_txn *txn, msgpack_packer *pk)
{
	return metrics_pack(server_of(svc), txn, pk);
}

const struct vault_control server_control = {
	.keys_rotate = keys_rotate,
	.keys_retire = keys_retire,
	.keys_arrived = control_keys_arrived,
	.metrics_pack = control_metrics_pack,
};

int
server_conn_opened(struct server *srv, uid_t uid)
{
	/* Only the accepting thread opens: the count cannot race past the limit. */
	if (atomic_load(&srv->connections) >= srv->svc.cfg.max_connections)
		return VAULT_E_BUSY;
	int rc = budget_conn_open(&srv->budget, uid, srv->svc.cfg.max_connections_per_uid);
	if (rc == 0)
		atomic_fetch_add(&srv->connections, 1);
	return rc;
}

void
server_conn_closed(struct server *srv, uid_t uid)
{
	budget_conn_close(&srv->budget, uid);
	atomic_fetch_sub(&srv->connections, 1);
}


/*
 * A caller no client matches gets one error frame it can read, then the
 * close: one non-blocking send into the new socket's empty buffer (a flood
 * costs no more than before: nothing waits, nothing is read), and if even
 * that would block, just the close.
 */
static void
refuse_caller(int fd, struct buf *frame, uid_t uid, gid_t gid)
{
	buf_clear(frame);
	reply_refuse_caller(frame, uid, gid);
	if (frame->error == 0)
		(void)!send(fd, frame->data, frame->len, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/*
 * At most one line a second about refused callers: a flood of connects
 * must not flood the log as well; the next line counts the ones left out.
 */
static void
log_refused(uid_t uid, gid_t gid)
{
	static struct log_limit limit;
	unsigned quiet;
	if (!log_limit_pass(&limit, &quiet))
		return;
	if (quiet > 0)
		log_warn("refused a connection from uid %ld gid %ld: no client in the policy "
		    "(and %u more refusals not logged since the last such line)",
		    (long)uid, (long)gid, quiet);
	else
		log_warn("refused a connection from uid %ld gid %ld: no client in the policy",
		    (long)uid, (long)gid);
}

/* SIGHUP: reload the policy (reload.h), audited as the operation is. */
static void
reload_on_signal(struct server *srv, uid_t sender)
{
	char by[48], err[600];
	snprintf(by, sizeof(by), "SIGHUP from uid %ld", (long)sender);
	int rc = policy_reload(&srv->svc, by, err, sizeof(err));
	(void)services_audit(&srv->svc, NULL, NULL, NULL, sender, 0, "policy_reload", NULL,
	    rc);
}

static void
accept_all(struct server *srv, unsigned *next_worker)
{
	struct buf refusal = { 0 };
	for (;;) {
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				log_warn("accept: out of file descriptors");
			buf_free(&refusal);
			return;
		}
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
			close(fd);
			continue;
		}
		/* The worker matches the client again at each request (policy.h). */
		const struct policy *pol = policy_current_get(&srv->svc.policy);
		int known = policy_client(pol, cred.uid, cred.gid) != NULL;
		policy_unref(pol);
		if (!known) {
			log_refused(cred.uid, cred.gid);
			metrics_conn_refused(METRICS_REFUSED_POLICY);
			refuse_caller(fd, &refusal, cred.uid, cred.gid);
			continue;
		}
		if (server_conn_opened(srv, cred.uid) != 0) {
			metrics_conn_refused(METRICS_REFUSED_LIMIT);
			close(fd); /* over a limit: refuse before reading anything */
			continue;
		}
		log_debug("connection from uid %ld gid %ld", (long)cred.uid, (long)cred.gid);
		struct worker *w = srv->workers[*next_worker];
		*next_worker = (*next_worker + 1) % srv->nworkers;
		if (worker_add_conn(w, fd, cred.uid, cred.gid) != 0) {
			server_conn_closed(srv, cred.uid);
			close(fd);
		} else {
			metrics_conn_accepted();
		}
	}
}

int
server_run(struct server *srv)
{
	int rc = VAULT_E_INTERNAL, sfd = -1, epfd = -1;
	unsigned started_workers = 0, next_worker = 0;
	int writer_running = 0;
	struct stat bound = { 0 };
	int inherited = -1;
	char path[sizeof(srv->svc.cfg.socket_path)];

	srv->listen_fd = -1;
	srv->svc.started = time(NULL);
	budget_init(&srv->budget, srv->svc.cfg.max_buffered_bytes, srv->svc.cfg.max_buffered_bytes_per_uid);
	ratelimit_init(&srv->svc.token_issue_rl, 60);
	ratelimit_init(&srv->svc.token_fail_rl, 60);
	/* Prefer the writer: an env replacement must not starve behind reads. */
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&srv->svc.env_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if ((rc = inherited_socket(&srv->svc.cfg, &inherited, path, sizeof(path))) != 0)
		return rc;
	if (inherited < 0 && (rc = server_check_socket_dir(srv->svc.cfg.socket_path, 1)) != 0)
		return rc;

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* Block before starting threads, so they all inherit the mask. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = VAULT_E_NOMEM;
	srv->nworkers = srv->svc.cfg.workers;
	srv->workers = calloc(srv->nworkers, sizeof(*srv->workers));
	if (srv->workers == NULL)
		goto out;
	for (unsigned i = 0; i < srv->nworkers; i++)
		if ((srv->workers[i] = worker_create(srv)) == NULL)
			goto out;
	if ((rc = budget_start(&srv->budget)) != 0)
		goto out;
	if ((rc = writer_start(srv)) != 0)
		goto out;
	writer_running = 1;
	for (; started_workers < srv->nworkers; started_workers++)
		if ((rc = worker_start(srv->workers[started_workers])) != 0)
			goto out;

	rc = VAULT_E_IO;
	if (inherited >= 0)
		srv->listen_fd = inherited;
	else if ((srv->listen_fd = listen_socket(srv->svc.cfg.socket_path, &bound)) < 0)
		goto out;
	else
		snprintf(path, sizeof(path), "%s", srv->svc.cfg.socket_path);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || epfd < 0)
		goto out;
	struct epoll_event e1 = { .events = EPOLLIN, .data.fd = srv->listen_fd };
	struct epoll_event e2 = { .events = EPOLLIN, .data.fd = sfd };
	epoll_ctl(epfd, EPOLL_CTL_ADD, srv->listen_fd, &e1);
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &e2);
	log_info("listening on %s with %u workers%s", path, srv->nworkers,
	    inherited >= 0 ? " (socket passed by systemd)" : "");
	/* Only now: a client that connects after READY=1 is served. */
	if (key_set_sealed(&srv->svc))
		sdnotify_ready("sealed: waiting for `vaultctl unseal`");
	else
		sdnotify_ready("serving");

	for (int running = 1; running;) {
		struct epoll_event ev[2];
		int n = epoll_wait(epfd, ev, 2, -1);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == sfd) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					reload_on_signal(srv, (uid_t)si.ssi_uid);
				} else {
					log_info("signal %u: stopping", si.ssi_signo);
					sdnotify_stopping();
					running = 0;
				}
			} else {
				accept_all(srv, &next_worker);
			}
		}
	}
	rc = 0;
out:
	if (srv->listen_fd >= 0) {
		struct stat now;
		close(srv->listen_fd);
		/* An inherited socket is systemd's: it stays (header comment). */
		if (inherited < 0 && lstat(srv->svc.cfg.socket_path, &now) == 0 && now.st_dev == bound.st_dev &&
		    now.st_ino == bound.st_ino)
			unlink(srv->svc.cfg.socket_path);
	}
	atomic_store(&srv->stopping, 1);
	for (unsigned i = 0; i < started_workers; i++)
		worker_join(srv->workers[i]);
	if (writer_running) {
		writer_stop(srv);
		log_info("stopped: %llu writes in %llu commits",
		    (unsigned long long)srv->writer.ops, (unsigned long long)srv->writer.commits);
	}
	for (unsigned i = 0; srv->workers && i < srv->nworkers; i++)
		worker_destroy(srv->workers[i]);
	free(srv->workers);
	budget_destroy(&srv->budget); /* after the workers: wipes what they queued */
	ratelimit_destroy(&srv->svc.token_issue_rl);
	ratelimit_destroy(&srv->svc.token_fail_rl);
	if (sfd >= 0)
		close(sfd);
	if (epfd >= 0)
		close(epfd);
	return rc;
}
