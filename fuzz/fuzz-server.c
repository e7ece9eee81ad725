/*
 * fuzz-server.c - the real server path: a worker thread (vault/worker.h)
 * and the writer thread (vault/server.h) run for the whole process on the
 * fixture's store (fuzz-vault.h); each input is written to a new
 * connection, a socketpair handed to the worker, in chunks, while the
 * replies are read back.
 *
 * Input: one byte, then the byte stream a client would send (frames,
 * possibly broken). The byte's low 7 bits are the chunk size (0: one
 * write of everything); its high bit picks the peer: clear, the fixture's
 * "ops" client (admin, plain access); set, "clerk" (masked and token
 * access only, no admin, delete or list).
 *
 * Invariants:
 *   - every reply is one well-formed frame with a map body (id, ok, and a
 *     result or a known error);
 *   - there is exactly one reply per whole frame sent, up to and including
 *     a frame over max_frame_bytes, after which the server closes; their ids
 *     are the requests' ids (replies to writes may overtake, so as sets);
 *   - the server neither hangs (replies within REPLY_TIMEOUT_MS) nor sends
 *     a partial frame or anything more.
 * Writes are applied, so the store changes from input to input and, being
 * tiny, fills up: full-map handling is part of what is exercised. As ops,
 * key rotation, retirement with compaction of the data file, and the
 * writer's background rewrap run too.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/frame.h"
#include "vault/worker.h"

#include "fuzz.h"
#include "fuzz-vault.h"

#define MAP_SIZE (2u << 20)
#define REPLY_TIMEOUT_MS 5000

static struct fuzz_vault vault;
static struct worker *worker;

static void
teardown(void)
{
	struct server *srv = &vault.srv;
	atomic_store(&srv->stopping, 1);
	worker_join(worker);
	writer_stop(srv);
	worker_destroy(worker);
	free(srv->workers);
	srv->workers = NULL;
	srv->nworkers = 0;
	fuzz_vault_close(&vault);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct server *srv = &vault.srv;
	signal(SIGPIPE, SIG_IGN);
	fuzz_vault_open(&vault, MAP_SIZE);
	srv->nworkers = 1;
	srv->workers = calloc(1, sizeof(*srv->workers));
	fuzz_assert(srv->workers != NULL, "out of memory");
	worker = worker_create(srv);
	fuzz_assert(worker != NULL, "worker_create failed");
	srv->workers[0] = worker;
	fuzz_assert(writer_start(srv) == 0, "writer_start failed");
	fuzz_assert(worker_start(worker) == 0, "worker_start failed");
	atexit(teardown);
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * The ids of the replies the stream must get, in request order; returns
 * how many. A frame over the limit gets one, and the server closes.
 */
static size_t
expected_replies(const uint8_t *s, size_t len, uint64_t *ids)
{
	size_t n = 0, off = 0, body = 0;
	for (;;) {
		enum frame_status fs = frame_peek(s + off, len - off, vault.srv.svc.cfg.max_frame_bytes, &body);
		if (fs == FRAME_NEED_MORE)
			break;
		if (fs == FRAME_TOO_LARGE) {
			ids[n++] = 0;
			break;
		}
		if (fs == FRAME_EMPTY) {
			ids[n++] = 0;
			off += FRAME_HEADER_SIZE;
			continue;
		}
		ids[n++] = fuzz_request_id(&vault.srv, s + off + FRAME_HEADER_SIZE, body);
		off += FRAME_HEADER_SIZE + body;
	}
	return n;
}

/* Take every whole reply frame off the front of in; returns how many. */
static size_t
take_replies(struct buf *in, uint64_t *got, size_t ngot, size_t want)
{
	size_t n = 0, body = 0;
	while (frame_peek(in->data, in->len, UINT32_MAX, &body) == FRAME_READY) {
		int ok;
		fuzz_assert(ngot + n < want, "more replies than frames sent (%zu)", want);
		got[ngot + n] = fuzz_check_reply(in->data, FRAME_HEADER_SIZE + body, &ok);
		buf_consume(in, FRAME_HEADER_SIZE + body);
		n++;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server *srv = &vault.srv;
	struct buf in = { 0 };
	struct timespec t0;
	int sv[2], eof = 0, shut = 0;

	if (size < 1)
		return 0;
	size_t chunk = data[0] & 0x7f ? data[0] & 0x7f : size;
	int clerk = data[0] >> 7;
	uid_t uid = getuid() + (uid_t)clerk;
	const uint8_t *stream = data + 1;
	size_t len = size - 1, sent = 0;
	/* Every frame takes at least its 4-byte header. */
	uint64_t *want = calloc(len / FRAME_HEADER_SIZE + 1, sizeof(*want));
	uint64_t *got = calloc(len / FRAME_HEADER_SIZE + 1, sizeof(*got));
	fuzz_assert(want != NULL && got != NULL, "out of memory");
	size_t nwant = expected_replies(stream, len, want), ngot = 0;

	fuzz_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	fuzz_assert(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	/* As accept_all() does: the connection counts against the limits. */
	fuzz_assert(server_conn_opened(srv, uid) == 0, "connection refused: limits reached");
	/* The worker matches the client (ops or clerk) by uid, as vaultd does. */
	fuzz_assert(worker_add_conn(worker, sv[1], uid, getgid()) == 0, "worker_add_conn");

	/*
	 * Send while reading replies; once every reply is in, half-close and
	 * read to the end: whatever arrives then is one reply too many.
	 */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!eof) {
		if (!shut && ngot == nwant && (sent == len || nwant > 0)) {
			shutdown(sv[0], SHUT_WR);
			shut = 1;
		}
		struct pollfd p = { sv[0], POLLIN | (!shut && sent < len ? POLLOUT : 0), 0 };
		long left = REPLY_TIMEOUT_MS - ms_since(&t0);
		fuzz_assert(left > 0, "no reply within %d ms: %zu of %zu replies, %zu of %zu bytes sent",
		    REPLY_TIMEOUT_MS, ngot, nwant, sent, len);
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			fuzz_assert(0, "poll: %s", strerror(errno));
		if (p.revents & POLLOUT) {
			size_t n = len - sent < chunk ? len - sent : chunk;
			ssize_t r = send(sv[0], stream + sent, n, MSG_NOSIGNAL);
			if (r > 0)
				sent += (size_t)r;
			else if (r < 0 && errno != EAGAIN && errno != EINTR)
				sent = len; /* the server closed: it read all it will */
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			fuzz_assert(buf_reserve(&in, 65536) == 0, "out of memory");
			ssize_t r = recv(sv[0], in.data + in.len, 65536, 0);
			if (r > 0) {
				in.len += (size_t)r;
				ngot += take_replies(&in, got, ngot, nwant);
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				eof = 1;
			}
		}
	}
	close(sv[0]);

	fuzz_assert(in.len == 0, "the connection ended inside a reply (%zu bytes left)", in.len);
	fuzz_assert(ngot == nwant, "%zu replies to %zu frames", ngot, nwant);
	qsort(want, nwant, sizeof(*want), cmp_u64);
	qsort(got, ngot, sizeof(*got), cmp_u64);
	for (size_t i = 0; i < nwant; i++)
		fuzz_assert(got[i] == want[i], "replies carry other ids than the requests");
	buf_free(&in);
	free(want);
	free(got);
	return 0;
}
