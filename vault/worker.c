/*
 * worker.c - a worker thread: its connections, their frames, read
 * operations, and the replies of their writes coming back from the writer.
 *
 * Each worker runs its own level-triggered epoll loop. A connection
 * belongs to one worker for its whole life, so its state needs no locks;
 * only the inbox (new connections, finished writes) is shared, guarded by
 * a mutex and signalled through an eventfd.
 *
 * Timeouts: a sweep once a second closes connections idle longer than
 * idle_timeout_seconds, and connections whose partial frame has been
 * arriving for longer than request_timeout_seconds (a client trickling a
 * byte every few seconds holds nothing but its own connection).
 *
 * Audit: the entries of the requests answered in one loop pass are built
 * into the worker's batch, and the pass's replies are held back until the
 * batch is in the trail, written with one write(2) (release_replies). A
 * connection with a held reply sends nothing, so its replies stay in
 * order. If the batch cannot be written, each held reply is replaced by
 * VAULT_E_AUDIT: no data leaves without its entry (fail closed).
 *
 * Flow control: a connection stops being read while it has
 * max_pending_per_connection writes in flight or more than a frame's worth
 * of replies unsent; it resumes when they drain. A frame longer than
 * max_frame_bytes is answered with VAULT_E_PROTO_FRAME_TOO_LARGE and the
 * connection is closed, since the rest of the stream cannot be framed.
 *
 * Memory budget (budget.h): what a connection's buffers hold is charged to
 * its uid (conn_account, after every step that can grow them). While the
 * uid is over budget its connections are "starved": neither read nor
 * processed, only flushed. Nothing wakes a worker when another thread
 * frees bytes, so while any of its connections starves the worker looks
 * again every STARVED_POLL_MS. Large buffers are let go through the
 * reclaimer (conn_drop), which wipes them off this loop: closing hundreds
 * of connections full of unread replies stalls no one.
 *
 * Turns: one connection's buffered frames are handled until its replies
 * grow by TURN_BYTES, and one uid's connections until theirs grow by
 * UID_PASS_BYTES in a loop pass; what is left (and the input of a uid that
 * had its share of the pass) waits in the worker's turn queue and goes on
 * in later passes. So a uid with a crowd of connections asking for large
 * replies gets its share of each pass, not the whole pass: the others'
 * requests wait for about one share, not for a round of the crowd.
 *
 * Policy (policy.h): the worker holds a reference to the policy its
 * connections' clients belong to, and before each request checks that it
 * is still the one in force. After a reload it takes the new one, and each
 * connection is matched to its client again at its next request: changed
 * grants apply at once, and a caller no client matches any more is refused
 * and disconnected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "budget.h"
#include "common/frame.h"
#include "common/msg.h"
#include "crypto/seal.h"
#include "dispatch.h"
#include "keyset.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "server.h"
#include "worker.h"

#define READ_CHUNK 65536
/* How often a worker with starved connections looks at the budget again. */
#define STARVED_POLL_MS 10
/* Reply bytes one connection's turn may add; turns taken per pass. */
#define TURN_BYTES (256u << 10)
#define TURNS_PER_PASS 16
#define UID_PASS_BYTES (1u << 20)
/* Uids tracked in one pass; a pass with more leaves the rest unlimited. */
#define PASS_UIDS 256

struct conn {
	int fd;
	uid_t uid;
	gid_t gid;
	const struct policy_client *client; /* in the worker's policy, if current */
	uint64_t client_gen;  /* the policy generation client was matched in */
	struct buf in;
	size_t in_off;        /* parsed up to here */
	struct buf out;
	size_t out_off;       /* sent up to here */
	unsigned pending;     /* writes at the writer */
	int closing;          /* no more reading; close once flushed */
	int dead;             /* socket closed; free when pending reaches 0 */
	uint32_t events;      /* what epoll watches now */
	time_t last_active;   /* last byte received or reply sent */
	time_t frame_started; /* when the partial frame in `in` began; 0: none */
	int touched;          /* on this drain's list of connections to flush */
	struct conn *touched_next;
	int held;             /* a reply waits for the pass's audit entries */
	struct buf redo;      /* the replies rebuilt when those cannot be written */
	size_t redo_from;     /* out copied into redo up to here */
	struct uid_budget *ub; /* the uid's budget entry (budget.h) */
	size_t charged;       /* bytes of in, out and redo charged to it */
	int starved;          /* held back by the budget; counted in nstarved */
	int waiting;          /* in the turn queue: frames left after its turn */
	int eof;              /* input ended: close once its frames are handled */
	struct conn *wait_prev, *wait_next;
	struct conn *prev, *next;
};

struct worker {
	struct server *srv;
	pthread_t thread;
	int epfd;
	int evfd;
	struct read_ctx ctx;
	const struct policy *policy; /* a reference; ctx.policy */
	msgpack_zone zone;
	struct conn *conns;
	struct conn *graveyard; /* freed connections, released after the iteration */
	unsigned nconns;
	time_t now;           /* this loop iteration's clock */
	pthread_mutex_t lock;
	int *new_fds;         /* accepted, not yet registered */
	struct conn_cred *new_creds;
	size_t nnew, capnew;
	struct write_op *done_head, *done_tail;
	struct audit_batch *audit; /* this pass's entries; NULL: no trail */
	struct held_reply *held;   /* this pass's replies waiting for them */
	size_t nheld, capheld;
	int served;                /* a request was handled since the last poll */
	unsigned nstarved;         /* connections held back by the budget */
	struct conn *turn_head, *turn_tail; /* connections waiting for a turn */
	struct pass_uid {
		uid_t uid;
		size_t bytes;          /* reply bytes made for it in this pass */
	} pass[PASS_UIDS];
	unsigned npass;
};

/* A reply in c->out[start, end) that may leave once its entry is written. */
struct held_reply {
	struct conn *c;
	size_t start, end;
	uint64_t id;
};

struct conn_cred {
	uid_t uid;
	gid_t gid;
};


static void conn_update_events(struct worker *w, struct conn *c);

/* What uid had in this pass; NULL if the table is full (no limit then). */
static struct pass_uid *
pass_of(struct worker *w, uid_t uid)
{
	for (unsigned i = 0; i < w->npass; i++)
		if (w->pass[i].uid == uid)
			return &w->pass[i];
	if (w->npass == PASS_UIDS)
		return NULL;
	w->pass[w->npass] = (struct pass_uid){ uid, 0 };
	return &w->pass[w->npass++];
}

/* 1 if c's uid has had its share of this pass. */
static int
pass_spent(struct worker *w, const struct conn *c)
{
	const struct pass_uid *p = pass_of(w, c->uid);
	return p != NULL && p->bytes >= UID_PASS_BYTES;
}

/* Frames left after c's turn: it goes on in a later pass. */
static void
turn_push(struct worker *w, struct conn *c)
{
	if (c->waiting)
		return;
	c->waiting = 1;
	c->wait_next = NULL;
	c->wait_prev = w->turn_tail;
	if (w->turn_tail != NULL)
		w->turn_tail->wait_next = c;
	else
		w->turn_head = c;
	w->turn_tail = c;
}

static void
turn_remove(struct worker *w, struct conn *c)
{
	if (!c->waiting)
		return;
	if (c->wait_prev != NULL)
		c->wait_prev->wait_next = c->wait_next;
	else
		w->turn_head = c->wait_next;
	if (c->wait_next != NULL)
		c->wait_next->wait_prev = c->wait_prev;
	else
		w->turn_tail = c->wait_prev;
	c->waiting = 0;
	c->wait_prev = c->wait_next = NULL;
}

/*
 * Charge the connection's uid for what its buffers hold now. An empty
 * buffer kept for the next frames holds no data and is not charged: it is
 * at most KEEP_MAX (conn_drop), so idle connections hold at most
 * 3 * KEEP_MAX each, bounded by max_connections rather than the budget,
 * and a pool of idle connections never keeps its uid over budget.
 */
#define KEEP_MAX (128u << 10)

static size_t
charge_of(const struct buf *b)
{
	/* A large block is always charged: the reclaimer releases its whole
	 * capacity once it has wiped it. */
	return b->len > 0 || b->cap >= BUDGET_RECLAIM_MIN ? b->cap : 0;
}

static void
conn_account(struct worker *w, struct conn *c)
{
	size_t now = charge_of(&c->in) + charge_of(&c->out) + charge_of(&c->redo);
	if (now != c->charged) {
		budget_charge(&w->srv->budget, c->ub, (ptrdiff_t)now - (ptrdiff_t)c->charged);
		c->charged = now;
	}
}

/*
 * Let go of what b holds. A small buffer is wiped here (and kept for the
 * next frames if keep); a large one goes whole to the reclaimer, which
 * wipes and frees it off this loop and then releases its charge.
 */
static void
conn_drop(struct worker *w, struct conn *c, struct buf *b, int keep)
{
	if (b->cap >= BUDGET_RECLAIM_MIN) {
		conn_account(w, c);
		c->charged -= charge_of(b); /* released by the reclaimer */
		budget_reclaim(&w->srv->budget, c->ub, b);
	} else if (keep && b->cap <= KEEP_MAX) {
		buf_clear(b);
	} else {
		buf_free(b);
	}
}

static void
conn_free(struct worker *w, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_drop(w, c, &c->in, 0);
	conn_drop(w, c, &c->out, 0);
	conn_drop(w, c, &c->redo, 0);
	c->in_off = c->out_off = 0;
	conn_account(w, c); /* releases what the small ones held */
	const void *self = c;
	if (atomic_load(&c->ub->finisher) == self)
		atomic_store(&c->ub->finisher, NULL);
	if (c->starved)
		w->nstarved--;
	c->starved = 0;
	turn_remove(w, c);
	server_conn_closed(w->srv, c->uid);
	w->nconns--;
	/*
	 * Freed at the end of the loop iteration, not now: the events of
	 * this epoll_wait may still name it (a connection freed while an
	 * earlier event was handled).
	 */
	c->dead = 1;
	c->next = w->graveyard;
	w->graveyard = c;
}

static void
bury(struct worker *w)
{
	while (w->graveyard != NULL) {
		struct conn *c = w->graveyard;
		w->graveyard = c->next;
		free(c);
	}
}

/* Close the socket now; keep the struct until the writer is done with it. */
static void
conn_kill(struct worker *w, struct conn *c)
{
	turn_remove(w, c);
	if (!c->dead) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->dead = 1;
		c->fd = -1;
	}
	if (c->pending == 0)
		conn_free(w, c);
}

/* Send what we can. Returns -1 if the connection died. */
static int
conn_flush(struct worker *w, struct conn *c)
{
	if (c->held)
		return 0; /* release_replies() flushes it */
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off,
		    c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_kill(w, c);
			return -1;
		}
		c->out_off += (size_t)n;
		c->last_active = w->now;
	}
	if (c->out_off == c->out.len) {
		conn_drop(w, c, &c->out, 1); /* wipes the replies just sent */
		c->out_off = 0;
		if (c->closing && c->pending == 0) {
			conn_kill(w, c);
			return -1;
		}
	} else if (c->out_off > (1u << 20)) {
		buf_consume(&c->out, c->out_off);
		c->out_off = 0;
	}
	return 0;
}

static int
conn_blocked(struct worker *w, const struct conn *c)
{
	return c->closing || c->pending >= w->srv->svc.cfg.max_pending_per_connection ||
	    c->out.len - c->out_off > w->srv->svc.cfg.max_frame_bytes;
}

/* 1 if a whole frame (or a header to refuse) is buffered. */
static int
has_frame(struct worker *w, const struct conn *c)
{
	size_t body_len;
	return frame_peek(c->in.data + c->in_off, c->in.len - c->in_off,
	    w->srv->svc.cfg.max_frame_bytes, &body_len) != FRAME_NEED_MORE;
}

/*
 * Whether to read and handle more of c: not while its own flow control
 * holds it back, nor while its uid is over budget (then it starves).
 */
static int
conn_paused(struct worker *w, struct conn *c)
{
	if (conn_blocked(w, c))
		return 1;
	conn_account(w, c);
	int starved = budget_over(&w->srv->budget, c->ub);
	/*
	 * Input already taken in (a frame begun, or frames waiting) can only
	 * be released by reading and handling it to its end: if every
	 * connection of a uid over budget waited so, none would ever go on.
	 * So one connection per uid at a time, the finisher, goes on with the
	 * input it holds while the uid is over budget, and hands the role on
	 * once it holds none. That bounds the excess to one connection's
	 * input (one frame) and its flow-controlled replies.
	 */
	const void *self = c, *none = NULL;
	if (c->in.len > c->in_off) {
		if (starved && (atomic_load(&c->ub->finisher) == self ||
		    atomic_compare_exchange_strong(&c->ub->finisher, &none, self)))
			starved = 0;
	} else if (atomic_load(&c->ub->finisher) == self) {
		atomic_store(&c->ub->finisher, NULL);
	}
	if (starved != c->starved) {
		c->starved = starved;
		if (starved)
			w->nstarved++;
		else
			w->nstarved--;
	}
	return starved;
}

/*
 * The batch could not be written: every held reply becomes VAULT_E_AUDIT,
 * the bytes around them (other replies, bytes already sent) kept as they
 * are. The held replies of one connection come in the order of their
 * offsets. A connection whose replies cannot be rebuilt (out of memory) is
 * closed: its stream would be missing answers.
 */
static void
refuse_held(struct worker *w)
{
	for (size_t i = 0; i < w->nheld; i++)
		w->held[i].c->held = 0; /* 0: not rebuilt yet */
	for (size_t i = 0; i < w->nheld; i++) {
		struct held_reply *h = &w->held[i];
		struct conn *c = h->c;
		if (c->dead)
			continue;
		if (!c->held) {
			c->held = 1;
			buf_clear(&c->redo);
			c->redo_from = 0;
		}
		if (buf_append(&c->redo, c->out.data + c->redo_from, h->start - c->redo_from) != 0)
			c->redo.error = 1;
		reply_error_code(&c->redo, h->id, VAULT_E_AUDIT, NULL,
		    audit_refusal(w->srv->svc.audit, 0));
		c->redo_from = h->end;
	}
	for (size_t i = 0; i < w->nheld; i++) {
		struct conn *c = w->held[i].c;
		if (c->dead || c->redo_from == SIZE_MAX)
			continue;
		if (buf_append(&c->redo, c->out.data + c->redo_from, c->out.len - c->redo_from) != 0)
			c->redo.error = 1;
		struct buf t = c->out;
		c->out = c->redo;
		c->redo = t;
		conn_drop(w, c, &c->redo, 1); /* wipes the replies withdrawn */
		c->redo_from = SIZE_MAX;
		if (c->out.error) {
			c->held = 0;
			conn_kill(w, c);
		}
	}
}

/*
 * The end of a pass: write the batch's entries, then let the replies that
 * waited for them go (or, if they cannot be written, refuse them all).
 */
static void
release_replies(struct worker *w)
{
	if (w->nheld == 0)
		return;
	if (audit_batch_commit(w->srv->svc.audit, w->audit) != 0) {
		/* A full file system was said once (audit.c): not per pass. */
		if (audit_space(w->srv->svc.audit) != AUDIT_SPACE_FULL)
			log_error("audit trail: %zu entries could not be written; "
			    "their requests fail", w->nheld);
		refuse_held(w);
	}
	if (audit_disk_full_news(w->srv->svc.audit)) {
		/* Pinned just for the alert's own entry (into the reserve). */
		const struct key_set *ks = key_set_acquire(&w->srv->svc);
		alert_raise(&w->srv->svc, ks, ALERT_DISK_FULL, NULL, 0);
		key_set_release();
	}
	for (size_t i = 0; i < w->nheld; i++) {
		struct conn *c = w->held[i].c;
		if (c->dead || !c->held)
			continue;
		c->held = 0;
		c->redo_from = 0;
		if (conn_flush(w, c) == 0)
			conn_update_events(w, c);
	}
	w->nheld = 0;
}

/* Room to hold one more reply: grown, or made by releasing those held. */
static void
held_room(struct worker *w)
{
	if (w->nheld < w->capheld)
		return;
	size_t cap = w->capheld * 2;
	struct held_reply *h = realloc(w->held, cap * sizeof(*h));
	if (h != NULL) {
		w->held = h;
		w->capheld = cap;
	} else {
		release_replies(w);
	}
}

/*
 * c's client under the policy in force (taken first if the worker's is
 * stale), matched again if it was matched under an older one; NULL if no
 * client matches c's caller any more.
 */
static const struct policy_client *
conn_client(struct worker *w, struct conn *c)
{
	struct policy_current *pc = &w->srv->svc.policy;
	if (policy_current_stale(pc, w->policy)) {
		policy_unref(w->policy);
		w->ctx.policy = w->policy = policy_current_get(pc);
	}
	if (c->client_gen != w->policy->gen) {
		c->client = policy_client(w->policy, c->uid, c->gid);
		c->client_gen = w->policy->gen;
	}
	return c->client;
}

/* Handle every whole frame buffered, as far as flow control allows. */
static void
conn_process(struct worker *w, struct conn *c)
{
	size_t max = w->srv->svc.cfg.max_frame_bytes, out_start = c->out.len;
	unsigned handled = 0;
	struct pass_uid *share = pass_of(w, c->uid);
	while (!conn_paused(w, c)) {
		if (c->out.len - out_start >= TURN_BYTES ||
		    (share != NULL && share->bytes >= UID_PASS_BYTES)) {
			turn_push(w, c); /* the rest in a later pass */
			break;
		}
		size_t body_len = 0;
		const uint8_t *p = c->in.data + c->in_off;
		enum frame_status fs = frame_peek(p, c->in.len - c->in_off, max, &body_len);
		if (fs == FRAME_NEED_MORE)
			break;
		if (fs == FRAME_TOO_LARGE) {
			reply_error_code(&c->out, 0, VAULT_E_PROTO_FRAME_TOO_LARGE, NULL,
			    "frame larger than max_frame_bytes; closing the connection");
			metrics_request(METRICS_NO_OP, VAULT_E_PROTO_FRAME_TOO_LARGE);
			c->closing = 1;
			break;
		}
		if (fs == FRAME_EMPTY) {
			reply_error_code(&c->out, 0, VAULT_E_PROTO_FRAME, NULL, "empty frame");
			metrics_request(METRICS_NO_OP, VAULT_E_PROTO_FRAME);
			c->in_off += FRAME_HEADER_SIZE;
			continue;
		}
		struct write_op *wop = NULL;
		held_room(w);
		/* Out of memory there releases the held replies, which may have
		 * closed c: nothing more of it is touched then. */
		if (c->dead)
			return;
		if (conn_client(w, c) == NULL) {
			/* Taken out of the policy by a reload: as at connect. */
			log_warn("closed a connection of uid %ld gid %ld: no client in the "
			    "reloaded policy", (long)c->uid, (long)c->gid);
			reply_refuse_caller(&c->out, c->uid, c->gid);
			c->closing = 1;
			break;
		}
		size_t start = c->out.len, entries = audit_batch_count(w->audit);
		w->ctx.client = c->client;
		dispatch(&w->ctx, p + FRAME_HEADER_SIZE, body_len, &w->zone, c->uid,
		    c->gid, &c->out, &wop);
		if (share != NULL)
			share->bytes += c->out.len - start;
		c->in_off += FRAME_HEADER_SIZE + body_len;
		handled++;
		w->served = 1;
		if (audit_batch_count(w->audit) != entries) {
			/* Its entry is in the batch: the reply waits for it. */
			w->held[w->nheld++] = (struct held_reply){ c, start, c->out.len,
			    w->ctx.request_id };
			c->held = 1;
		}
		if (wop != NULL) {
			wop->worker = w;
			wop->conn = c;
			c->pending++;
			writer_submit(&w->srv->writer, wop);
		}
	}
	/* The clock of a partial frame starts when its first bytes are in. */
	if (c->in.len == c->in_off)
		c->frame_started = 0;
	else if (handled > 0 || c->frame_started == 0)
		c->frame_started = w->now;
	/* Drop what was parsed (wiping it) once in a while, not per frame. */
	if (c->in_off == c->in.len) {
		conn_drop(w, c, &c->in, 1);
		c->in_off = 0;
	} else if (c->in_off > 0 && c->in.len - c->in_off < FRAME_HEADER_SIZE + max) {
		buf_consume(&c->in, c->in_off);
		c->in_off = 0;
	}
}

/* At end of input, c closes once nothing it sent is left to handle. */
static void
conn_settle_eof(struct worker *w, struct conn *c)
{
	if (c->eof && !c->closing && !c->waiting && !c->starved && !has_frame(w, c))
		c->closing = 1;
}

static void
conn_read(struct worker *w, struct conn *c)
{
	size_t limit = FRAME_HEADER_SIZE + w->srv->svc.cfg.max_frame_bytes;
	for (;;) {
		if (conn_paused(w, c))
			break; /* read again when it may go on */
		size_t room = limit + READ_CHUNK - c->in.len;
		if (room > READ_CHUNK)
			room = READ_CHUNK;
		if (room == 0)
			break; /* a whole frame is buffered and waits for flow control */
		if (buf_reserve(&c->in, room) != 0) {
			conn_kill(w, c);
			return;
		}
		ssize_t n = recv(c->fd, c->in.data + c->in.len, room, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == 0) {
			/*
			 * End of input (the peer may only have shut down its
			 * sending side): answer what is buffered (in turns,
			 * as it may wait for) and in flight, then close.
			 */
			c->eof = 1;
			conn_process(w, c);
			if (!c->dead)
				conn_settle_eof(w, c);
			break;
		}
		if (n < 0) {
			conn_kill(w, c);
			return;
		}
		c->in.len += (size_t)n;
		c->last_active = w->now;
		conn_process(w, c);
		if (c->dead || (size_t)n < room || c->waiting)
			break;
	}
	if (conn_flush(w, c) == 0)
		conn_update_events(w, c);
}

static void
conn_update_events(struct worker *w, struct conn *c)
{
	uint32_t ev = 0;
	if (c->dead)
		return;
	/*
	 * In the turn queue it has frames enough: read more after them.
	 * Whole frames left while it was held back (flow control) go on in
	 * a turn: no input may come to wake it.
	 */
	if (!c->waiting && !conn_paused(w, c)) {
		if (has_frame(w, c))
			turn_push(w, c);
		else if (!c->eof)
			ev |= EPOLLIN;
		else if (!c->closing)
			turn_push(w, c); /* at end of input: a turn settles it */
	}
	if (c->out_off < c->out.len && !c->held)
		ev |= EPOLLOUT;
	if (ev != c->events) {
		struct epoll_event e = { .events = ev, .data.ptr = c };
		epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e);
		c->events = ev;
	}
}

static void
conn_add(struct worker *w, int fd, uid_t uid, gid_t gid)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		server_conn_closed(w->srv, uid);
		return;
	}
	c->ub = budget_uid(&w->srv->budget, uid);
	if (c->ub == NULL) { /* not counted by server_conn_opened */
		close(fd);
		free(c);
		return;
	}
	c->fd = fd;
	c->uid = uid;
	c->gid = gid;
	c->client_gen = 0; /* matched at its first request (conn_client) */
	c->events = EPOLLIN;
	c->last_active = w->now;
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
		close(fd);
		free(c);
		server_conn_closed(w->srv, uid);
		return;
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
}

void
worker_complete(struct worker *w, struct write_op *op)
{
	op->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->done_tail)
		w->done_tail->next = op;
	else
		w->done_head = op;
	w->done_tail = op;
	pthread_mutex_unlock(&w->lock);
}

void
worker_wake(struct worker *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->evfd, &one, sizeof(one));
	(void)n; /* a full counter still wakes the worker */
}

int
worker_add_conn(struct worker *w, int fd, uid_t uid, gid_t gid)
{
	pthread_mutex_lock(&w->lock);
	if (w->nnew == w->capnew) {
		size_t cap = w->capnew ? w->capnew * 2 : 16;
		int *fds = realloc(w->new_fds, cap * sizeof(*fds));
		if (fds != NULL)
			w->new_fds = fds;
		struct conn_cred *cr = realloc(w->new_creds, cap * sizeof(*cr));
		if (cr != NULL)
			w->new_creds = cr;
		if (fds == NULL || cr == NULL) {
			pthread_mutex_unlock(&w->lock);
			return VAULT_E_NOMEM;
		}
		w->capnew = cap;
	}
	w->new_fds[w->nnew] = fd;
	w->new_creds[w->nnew].uid = uid;
	w->new_creds[w->nnew].gid = gid;
	w->nnew++;
	pthread_mutex_unlock(&w->lock);
	worker_wake(w);
	return 0;
}

/* New connections and finished writes from the inbox. */
static void
drain_inbox(struct worker *w)
{
	uint64_t v;
	ssize_t r = read(w->evfd, &v, sizeof(v));
	(void)r;

	pthread_mutex_lock(&w->lock);
	struct write_op *done = w->done_head;
	w->done_head = w->done_tail = NULL;
	size_t nnew = w->nnew;
	int fds[64];
	struct conn_cred creds[64];
	if (nnew > 64)
		nnew = 64;
	if (nnew > 0) {
		memcpy(fds, w->new_fds, nnew * sizeof(int));
		memcpy(creds, w->new_creds, nnew * sizeof(creds[0]));
		memmove(w->new_fds, w->new_fds + nnew, (w->nnew - nnew) * sizeof(int));
		memmove(w->new_creds, w->new_creds + nnew, (w->nnew - nnew) * sizeof(creds[0]));
		w->nnew -= nnew;
	}
	int more = w->nnew > 0;
	pthread_mutex_unlock(&w->lock);
	if (more)
		worker_wake(w);

	for (size_t i = 0; i < nnew; i++)
		conn_add(w, fds[i], creds[i].uid, creds[i].gid);

	/* Append each reply to its connection; flush each connection once. */
	struct conn *touched = NULL;
	for (struct write_op *op = done, *next; op != NULL; op = next) {
		next = op->next;
		struct conn *c = op->conn;
		c->pending--;
		if (!c->dead) {
			if (buf_append(&c->out, op->reply.data, op->reply.len) != 0)
				c->closing = 1;
			if (!c->touched) {
				c->touched = 1;
				c->touched_next = touched;
				touched = c;
			}
		}
		write_op_free(op);
		if (c->dead && c->pending == 0)
			conn_free(w, c);
	}
	for (struct conn *c = touched, *next; c != NULL; c = next) {
		next = c->touched_next;
		c->touched = 0;
		conn_process(w, c); /* resume frames held back by flow control */
		if (c->dead)
			continue;
		conn_settle_eof(w, c);
		if (conn_flush(w, c) == 0)
			conn_update_events(w, c);
	}
}

/* Close connections that idle or trickle past their timeouts. */
static void
sweep(struct worker *w)
{
	const struct config *cfg = &w->srv->svc.cfg;
	for (struct conn *c = w->conns, *next; c != NULL; c = next) {
		next = c->next;
		if (c->dead || c->pending > 0)
			continue;
		int slow = c->frame_started != 0 && !conn_blocked(w, c) && !c->starved &&
		    w->now - c->frame_started > (time_t)cfg->request_timeout_seconds;
		int idle = w->now - c->last_active > (time_t)cfg->idle_timeout_seconds;
		if (slow || idle)
			conn_kill(w, c);
	}
}

/* The next connections of the turn queue go on. */
static void
take_turns(struct worker *w)
{
	unsigned taken = 0;
	struct conn *last = w->turn_tail;
	while (w->turn_head != NULL && taken < TURNS_PER_PASS) {
		struct conn *c = w->turn_head;
		turn_remove(w, c);
		if (pass_spent(w, c)) {
			turn_push(w, c); /* its uid had its share of this pass */
		} else {
			taken++;
			conn_process(w, c); /* back at the tail if frames are left */
			if (!c->dead) {
				conn_settle_eof(w, c);
				if (!c->waiting && !c->eof)
					conn_read(w, c); /* input that waited for the turn */
				else if (conn_flush(w, c) == 0)
					conn_update_events(w, c);
			}
		}
		if (c == last)
			break;
	}
}

/* Let starved connections go on where the budget now allows. */
static void
resume_starved(struct worker *w)
{
	for (struct conn *c = w->conns, *next; c != NULL && w->nstarved > 0; c = next) {
		next = c->next;
		if (c->dead || !c->starved || conn_paused(w, c))
			continue;
		conn_process(w, c); /* frames read before it starved */
		if (c->dead)
			continue;
		conn_settle_eof(w, c);
		if (conn_flush(w, c) == 0)
			conn_update_events(w, c); /* watches for input again */
	}
}

/* Answer every whole frame still buffered with VAULT_E_SHUTTING_DOWN. */
static void
refuse_buffered(struct worker *w, struct conn *c)
{
	size_t max = w->srv->svc.cfg.max_frame_bytes, body_len = 0;
	while (frame_peek(c->in.data + c->in_off, c->in.len - c->in_off, max,
	    &body_len) == FRAME_READY) {
		const uint8_t *body = c->in.data + c->in_off + FRAME_HEADER_SIZE;
		struct mp_limits lim = { REQUEST_MAX_DEPTH, body_len };
		msgpack_object root;
		uint64_t id = 0;
		msgpack_zone_clear(&w->zone);
		if (msg_decode(body, body_len, &lim, &w->zone, &root) == 0)
			(void)msg_get_uint(&root, "id", 1, &id);
		reply_error_code(&c->out, id, VAULT_E_SHUTTING_DOWN, NULL,
		    "the server is stopping; the request was not run");
		c->in_off += FRAME_HEADER_SIZE + body_len;
	}
	buf_clear(&c->in);
	c->in_off = 0;
}

/* On SIGTERM: read nothing more, close each connection once it is idle. */
static void
begin_stop(struct worker *w)
{
	for (struct conn *c = w->conns, *next; c != NULL; c = next) {
		next = c->next;
		if (c->dead)
			continue;
		refuse_buffered(w, c);
		c->closing = 1;
		if (conn_flush(w, c) == 0)
			conn_update_events(w, c);
	}
}

static uint64_t
monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * epoll_wait's timeout in ms. With busy_poll_us, a worker that has just
 * served requests polls (timeout 0) until busy_poll_us have passed without
 * any, so the next request of a synchronous client finds it awake instead
 * of waiting for the hypervisor to wake a halted vCPU.
 */
static int
poll_timeout(struct worker *w, int stopping, uint64_t *spin_until)
{
	unsigned spin = w->srv->svc.cfg.busy_poll_us;
	int idle = w->nstarved > 0 ? STARVED_POLL_MS : 1000;
	if (stopping)
		return 100;
	if (w->turn_head != NULL)
		return 0; /* connections wait for their turn */
	if (spin == 0)
		return idle;
	uint64_t now = monotonic_us();
	if (w->served) {
		w->served = 0;
		*spin_until = now + spin;
	}
	return now < *spin_until ? 0 : idle;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[128];

	int stopping = 0;
	time_t last_sweep = 0;
	uint64_t spin_until = 0;
	w->now = time(NULL);
	for (;;) {
		if (!stopping && atomic_load(&w->srv->stopping)) {
			stopping = 1;
			begin_stop(w);
		}
		if (stopping) {
			/* Deliver the writes in flight, then leave. */
			unsigned busy = 0;
			for (struct conn *c = w->conns; c != NULL; c = c->next)
				busy += c->pending;
			if (busy == 0)
				break;
		}
		int n = epoll_wait(w->epfd, evs, 128, poll_timeout(w, stopping, &spin_until));
		w->now = time(NULL);
		w->npass = 0;
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL) {
				drain_inbox(w);
				continue;
			}
			if (c->dead)
				continue;
			if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN)) {
				conn_kill(w, c);
				continue;
			}
			if ((evs[i].events & EPOLLOUT) && conn_flush(w, c) != 0)
				continue;
			if ((evs[i].events & EPOLLIN) && !stopping) {
				if (pass_spent(w, c)) {
					/* Its uid had its share: read it in its turn. */
					turn_push(w, c);
					conn_update_events(w, c);
				} else {
					conn_read(w, c);
				}
				continue;
			}
			conn_update_events(w, c);
		}
		if (!stopping)
			take_turns(w);
		if (w->nstarved > 0 && !stopping)
			resume_starved(w);
		release_replies(w);
		/* After the events: a sweep must not free what evs still names. */
		if (w->now != last_sweep) {
			last_sweep = w->now;
			sweep(w);
		}
		bury(w);
	}
	/* Best effort: send what is buffered, then close everything. */
	while (w->conns != NULL) {
		struct conn *c = w->conns;
		if (!c->dead && c->out_off < c->out.len)
			(void)send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		c->pending = 0;
		conn_kill(w, c);
	}
	bury(w);
	return NULL;
}

struct worker *
worker_create(struct server *srv)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->srv = srv;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->ctx.svc = &srv->svc;
	w->ctx.dek = sodium_malloc(DEK_BYTES);
	w->ctx.policy = w->policy = policy_current_get(&srv->svc.policy);
	pthread_mutex_init(&w->lock, NULL);
	w->capheld = 64;
	w->held = malloc(w->capheld * sizeof(*w->held));
	if (srv->svc.audit != NULL)
		w->ctx.audit = w->audit = audit_batch_new();
	if (w->held == NULL || (srv->svc.audit != NULL && w->audit == NULL))
		goto fail;
	if (w->epfd < 0 || w->evfd < 0 || w->ctx.dek == NULL ||
	    !msgpack_zone_init(&w->zone, 4096) ||
	    store_txn_begin(&srv->svc.store, NULL, STORE_RDONLY, &w->ctx.txn) != 0)
		goto fail;
	store_txn_reset(w->ctx.txn);
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &e) != 0)
		goto fail;
	return w;
fail:
	worker_destroy(w);
	return NULL;
}

int
worker_start(struct worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : VAULT_E_NOMEM;
}

void
worker_join(struct worker *w)
{
	worker_wake(w);
	pthread_join(w->thread, NULL);
}

void
worker_destroy(struct worker *w)
{
	if (w == NULL)
		return;
	if (w->ctx.txn)
		store_txn_abort(w->ctx.txn);
	for (size_t i = 0; i < w->nnew; i++) {
		close(w->new_fds[i]);
		server_conn_closed(w->srv, w->new_creds[i].uid);
	}
	free(w->new_fds);
	free(w->new_creds);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->evfd >= 0)
		close(w->evfd);
	sodium_free(w->ctx.dek);
	audit_batch_free(w->audit);
	free(w->held);
	buf_free(&w->ctx.scratch);
	free(w->ctx.trace.records);
	free(w->ctx.notes);
	policy_unref(w->policy);
	msgpack_zone_destroy(&w->zone);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void
worker_drop_txn(struct worker *w)
{
	if (w->ctx.txn != NULL)
		store_txn_abort(w->ctx.txn);
	w->ctx.txn = NULL;
}
