/*
 * store_pgsql_pipe.c - a connection's pipeline (libpq's pipeline mode):
 * statements go to the server without waiting for their answers, and the
 * answers are read at a sync point, in order. This is what makes a write
 * batch a few round trips instead of one per statement, and a read
 * snapshot's BEGIN travel with its first read (store_pgsql.c, "Round
 * trips").
 *
 * Each statement sent is remembered (struct pg_pending) with its owner:
 * the transaction or nested batch whose failure it is. When the answers
 * are read, a failure is handed to the owner (the caller's pipe_fail_fn);
 * after a failure the server skips the rest up to the sync point
 * (PGRES_PIPELINE_ABORTED), which fails no one else: the first failure
 * said it. A lost connection fails whoever holds it, and the connection
 * is marked broken (dropped when its transaction ends).
 *
 * A sync point is sent without reading the answers before it only where
 * no statement of the connection's next segment can depend on them: a
 * PREPARE skipped after a failure must be known (its bit cleared) before
 * the statement is run again (store_pgsql.c collects before such syncs).
 *
 * Deadlock: the server stops reading when the answers it sends are not
 * read; callers read at least every PIPE_MAX statements (store_pgsql.c),
 * whose answers (a few dozen bytes each) fit in any socket buffer.
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store_pgsql_int.h"

static int
push(struct pg_conn *c, uint32_t owner, enum pipe_kind kind, const char *what)
{
	if (c->qn == 0)
		c->qhead = 0;
	if (c->qhead + c->qn == c->qcap) {
		if (c->qhead > 0) {
			memmove(c->q, c->q + c->qhead, c->qn * sizeof(*c->q));
			c->qhead = 0;
		} else {
			unsigned cap = c->qcap ? 2 * c->qcap : 64;
			struct pg_pending *q = realloc(c->q, cap * sizeof(*q));
			if (q == NULL)
				return STORE_E_NOMEM;
			c->q = q;
			c->qcap = cap;
		}
	}
	c->q[c->qhead + c->qn++] = (struct pg_pending){ owner, (uint8_t)kind, 0, 0, what };
	if (kind != P_SYNC)
		c->unsynced++;
	return 0;
}

/* Pipeline mode on (a connection fresh from connect_to is not in it). */
static int
pipe_on(struct pg_conn *c)
{
	if (c->broken)
		return STORE_E_UNAVAILABLE;
	if (PQpipelineStatus(c->pc) == PQ_PIPELINE_OFF && !PQenterPipelineMode(c->pc)) {
		pgsql_fail(c->pc, NULL, "pipeline mode");
		c->broken = 1;
		return STORE_E_FAILED;
	}
	return 0;
}

/* libpq refused to send: the connection is gone or in a state unknown. */
static int
send_failed(struct pg_conn *c, const char *what)
{
	int rc = pgsql_fail(c->pc, NULL, what);
	c->broken = 1;
	return rc < 0 ? rc : STORE_E_FAILED;
}

int
pipe_sql(struct pg_conn *c, uint32_t owner, int want, const char *what, const char *sql)
{
	int rc = pipe_on(c);
	if (rc != 0)
		return rc;
	if ((rc = push(c, owner, want ? P_WANT : P_STMT, what)) != 0)
		return rc;
	if (!PQsendQueryParams(c->pc, sql, 0, NULL, NULL, NULL, NULL, 0))
		return send_failed(c, what);
	return 0;
}

int
pipe_prepare(struct pg_conn *c, uint32_t owner, enum store_table tb, enum stmt s,
    const char *name, const char *sql, int n, const Oid *types)
{
	int rc = pipe_on(c);
	if (rc != 0)
		return rc;
	if ((rc = push(c, owner, P_PREPARE, "prepare")) != 0)
		return rc;
	c->q[c->qhead + c->qn - 1].tb = (uint8_t)tb;
	c->q[c->qhead + c->qn - 1].stmt = (uint8_t)s;
	if (!PQsendPrepare(c->pc, name, sql, n, types))
		return send_failed(c, "prepare");
	c->prepared[tb] |= (uint16_t)(1u << s);
	return 0;
}

int
pipe_exec(struct pg_conn *c, uint32_t owner, int want, const char *name, int n,
    const char *const *vals, const int *lens)
{
	static const int formats[2] = { 1, 1 };
	int rc = pipe_on(c);
	if (rc != 0)
		return rc;
	if ((rc = push(c, owner, want ? P_WANT : P_STMT, "statement")) != 0)
		return rc;
	if (!PQsendQueryPrepared(c->pc, name, n, vals, lens, formats, 1))
		return send_failed(c, "statement");
	return 0;
}

int
pipe_sync(struct pg_conn *c)
{
	int rc = pipe_on(c);
	if (rc != 0)
		return rc;
	if ((rc = push(c, 0, P_SYNC, "sync")) != 0)
		return rc;
	c->unsynced = 0;
	/* PQpipelineSync also flushes: the server has it all now. */
	if (!PQpipelineSync(c->pc))
		return send_failed(c, "sync");
	return 0;
}

int
pipe_collect(struct pg_conn *c, pipe_fail_fn *fail, void *arg, PGresult **want)
{
	if (want != NULL)
		*want = NULL;
	while (c->qn > 0) {
		struct pg_pending e = c->q[c->qhead++];
		c->qn--;
		if (c->broken)
			continue; /* no answer will come */
		PGresult *r = PQgetResult(c->pc);
		if (e.kind == P_SYNC) {
			/* A sync point's answer is not followed by NULL. */
			if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
				if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_ABORTED)
					pgsql_fail(c->pc, r, "sync");
				c->broken = 1;
			}
			PQclear(r);
			continue;
		}
		ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		/* A PREPARE skipped or refused: prepare it again next time. */
		if (e.kind == P_PREPARE && st != PGRES_COMMAND_OK)
			c->prepared[e.tb] &= (uint16_t)~(1u << e.stmt);
		if (r == NULL) {
			pgsql_fail(c->pc, NULL, e.what); /* an answer that never came */
			c->broken = 1;
			continue;
		}
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			if (e.kind == P_WANT && want != NULL) {
				*want = r;
				r = NULL;
			}
		} else if (st != PGRES_PIPELINE_ABORTED) {
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			if (pgsql_lost(c->pc, state)) {
				pgsql_fail(c->pc, r, e.what);
				c->broken = 1;
			} else if (e.kind == P_WANT && want != NULL) {
				*want = r; /* the caller judges its own answer */
				r = NULL;
			} else {
				int rc = pgsql_fail(c->pc, r, e.what);
				fail(arg, e.owner, rc < 0 ? rc : STORE_E_FAILED, 0);
			}
		}
		PQclear(r);
		/* Each statement's answers end with NULL. */
		if (!c->broken && (r = PQgetResult(c->pc)) != NULL) {
			PQclear(r);
			pgsql_fail(c->pc, NULL, "pipeline (an answer out of order)");
			c->broken = 1;
		}
	}
	c->unsynced = 0;
	if (c->broken)
		fail(arg, 0, STORE_E_UNAVAILABLE, 1);
	return c->broken;
}

int
pipe_dead(struct pg_conn *c)
{
	/* A server that ended the session (a restart, a failover,
	 * pg_terminate_backend) sent a FATAL notice (counted as broken by
	 * the notice receiver) and closed the socket: read what is there.
	 * libpq's socket does not block: this never waits. Twice: the
	 * notice, then the end of the stream. */
	for (int i = 0; i < 2 && !c->broken && PQstatus(c->pc) == CONNECTION_OK; i++)
		if (!PQconsumeInput(c->pc))
			c->broken = 1;
	return c->broken || PQstatus(c->pc) != CONNECTION_OK;
}

static void
ignore_failure(void *arg, uint32_t owner, int rc, int lost)
{
}

int
pipe_leave(struct pg_conn *c)
{
	if (c->qn > 0 && c->unsynced > 0 && pipe_sync(c) != 0)
		return STORE_E_UNAVAILABLE;
	if (c->qn > 0 && pipe_collect(c, ignore_failure, NULL, NULL) != 0)
		return STORE_E_UNAVAILABLE;
	if (PQpipelineStatus(c->pc) != PQ_PIPELINE_OFF && !PQexitPipelineMode(c->pc)) {
		c->broken = 1;
		return pgsql_fail(c->pc, NULL, "pipeline mode");
	}
	return 0;
}
