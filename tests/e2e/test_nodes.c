/*
 * test_nodes.c - end-to-end: two vaultd nodes on one PostgreSQL database
 * (doc/storage-postgresql.md, "Several nodes"). Each node is a real vaultd
 * with its own socket, data directory, audit trail and node_name; both
 * point at the same schema. A record created on one reads, tokenizes and
 * detokenizes on the other; a deletion acknowledged by one is never
 * readable from the other (no cache serves a shredded record: record,
 * opaque and deterministic tokens); creates racing on both nodes get
 * unique ids; a rotation and a retire on one leave every record readable
 * on the other; both restart (each checks its own audit anchor). Runs only
 * under tests/e2e/on-pgsql.sh (meson test e2e-nodes), and fails, not
 * skips, without its server.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "harness.h"

static void
need_pgsql(void)
{
	cr_assert_not_null(vaultd_pgsql(), "VAULT_TEST_PGSQL is not set: run this suite "
	    "through meson test e2e-nodes (tests/e2e/on-pgsql.sh starts PostgreSQL)");
}

TestSuite(nodes, .init = need_pgsql, .timeout = 120);

static struct vaultd_proc node_a, node_b;

/* Append text to p's configuration (a later value of a key wins). */
static void
config_append(const struct vaultd_proc *p, const char *text)
{
	FILE *f = fopen(p->config, "a");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void
copy_file(const char *from, const char *to)
{
	size_t n;
	char *data = read_file_all(from, &n);
	cr_assert_not_null(data, "%s", from);
	FILE *f = fopen(to, "w");
	cr_assert_not_null(f, "%s", to);
	cr_assert_eq(fwrite(data, 1, n, f), n);
	fclose(f);
	cr_assert_eq(chmod(to, 0600), 0);
	free(data);
}

/*
 * Node A on a fresh schema (with development keys), node B on the same
 * schema with A's root key: B's own key ring file is left out (B takes the
 * ring the database holds) unless with_ring.
 */
static void
start_pair(int with_ring)
{
	char line[1400] = "", path[600], to[600];
	vaultd_start(&node_a, "[server]\nnode_name = node-a\n");
	/* A leads (the background jobs' lock) before B starts. */
	cr_assert_eq(vaultd_wait_log(&node_a, "runs the background jobs", 1, 10), 1,
	    "node A takes the lead lock");
	vaultd_prepare(&node_b, "[server]\nnode_name = node-b\n");
	/* B's connection string: A's schema (the harness gave B one of its own). */
	size_t n;
	char *conf = read_file_all(node_a.config, &n);
	cr_assert_not_null(conf);
	char *at = strstr(conf, "\npostgresql = ");
	cr_assert_not_null(at, "node A's configuration names its database");
	size_t len = strcspn(at + 1, "\n");
	cr_assert(len + 12 < sizeof(line));
	snprintf(line, sizeof(line), "[storage]\n%.*s\n", (int)len, at + 1);
	free(conf);
	config_append(&node_b, line);
	vaultd_path(&node_b, "keys", path, sizeof(path));
	cr_assert_eq(mkdir(path, 0700), 0);
	vaultd_path(&node_a, "keys/root.key", path, sizeof(path));
	vaultd_path(&node_b, "keys/root.key", to, sizeof(to));
	copy_file(path, to);
	if (with_ring) {
		vaultd_path(&node_a, "keys/keyring", path, sizeof(path));
		vaultd_path(&node_b, "keys/keyring", to, sizeof(to));
		copy_file(path, to);
	}
	vaultd_restart(&node_b);
}

static void
stop_pair(void)
{
	vaultd_finish(&node_b);
	vaultd_finish(&node_a);
}

static struct vault *
connect_to(const struct vaultd_proc *p)
{
	struct vault *v;
	cr_assert_eq(vault_connect(p->socket, &v), 0, "connect %s", p->socket);
	return v;
}

static char *
create(struct vault *v, int i)
{
	struct vault_record *r;
	char email[64], name[32], *tok;
	snprintf(email, sizeof(email), "person%d@nodes.example", i);
	snprintf(name, sizeof(name), "Person%d", i);
	vault_record_new(&r);
	vault_record_set(r, "first_name", name);
	vault_record_set(r, "email", email);
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	cr_assert_eq(rc, 0, "create %d: %s", i, vault_last_message(v));
	vault_record_free(r);
	return tok;
}

static void
expect_email(struct vault *v, const char *tok, int i)
{
	char email[64];
	snprintf(email, sizeof(email), "person%d@nodes.example", i);
	expect_field(v, tok, "email", email, i);
}

static char *
tokenize(struct vault *v, const char *rec, enum vault_token_kind kind)
{
	char *tok;
	int rc = vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "email", kind, &tok);
	cr_assert_eq(rc, 0, "tokenize: %s", vault_last_message(v));
	return tok;
}

/* The value tok resolves to on v, or NULL; *err: its error. */
static char *
detokenize(struct vault *v, const char *tok, int *err)
{
	struct vault_detokenized *res;
	const char *one[] = { tok };
	int rc = vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, one, 1, &res);
	if (rc != 0) {
		*err = rc;
		return NULL;
	}
	*err = res[0].error;
	char *out = res[0].value ? strdup(res[0].value) : NULL;
	vault_detokenized_free(res, 1);
	return out;
}

Test(nodes, a_record_made_on_one_node_reads_and_tokenizes_on_the_other)
{
	start_pair(1);
	struct vault *a = connect_to(&node_a), *b = connect_to(&node_b);
	char *rec = create(a, 1);
	expect_email(b, rec, 1);

	/* Tokens issued by either node resolve on both. */
	char *opaque_a = tokenize(a, rec, VAULT_TOKEN_OPAQUE);
	char *det_b = tokenize(b, rec, VAULT_TOKEN_DETERMINISTIC);
	char *det_a = tokenize(a, rec, VAULT_TOKEN_DETERMINISTIC);
	cr_assert_str_eq(det_a, det_b, "a deterministic token is the same on both nodes");
	const char *toks[] = { opaque_a, det_b };
	struct vault *nodes[] = { a, b };
	for (int t = 0; t < 2; t++)
		for (int n = 0; n < 2; n++) {
			int err;
			char *val = detokenize(nodes[n], toks[t], &err);
			cr_assert_not_null(val, "token %d on node %c: %s", t, 'A' + n,
			    vault_error_name(err));
			cr_assert_str_eq(val, "person1@nodes.example");
			free(val);
		}

	/* A record created on B reads on A. */
	char *rec2 = create(b, 2);
	expect_email(a, rec2, 2);

	/* Each node audits what it served; one query merges both trails by time. */
	struct proc_run r;
	const char *args[] = { "audit", "query", "--node", node_b.socket, NULL };
	vaultctl_run(&r, node_a.socket, NULL, args, 0);
	assert_exit(&r, 0);
	char want_a[600], want_b[600], last[64] = "";
	snprintf(want_a, sizeof(want_a), " node=%s\n", node_a.socket);
	snprintf(want_b, sizeof(want_b), " node=%s\n", node_b.socket);
	int from_a = 0, from_b = 0, creates = 0;
	for (char *line = r.out; *line != '\0';) {
		char *end = strchr(line, '\n'), when[64];
		cr_assert_not_null(end);
		char save = end[1];
		end[1] = '\0';
		from_a += strstr(line, want_a) != NULL;
		from_b += strstr(line, want_b) != NULL;
		creates += strstr(line, " create ok ") != NULL;
		cr_assert_eq(sscanf(line, "%*s %63s", when), 1, "%s", line);
		cr_assert(strcmp(last, when) <= 0, "merged by time: %s after %s", when, last);
		snprintf(last, sizeof(last), "%s", when);
		end[1] = save;
		line = end + 1;
	}
	cr_assert(from_a > 0 && from_b > 0, "entries of both nodes: %s", r.out);
	cr_assert_eq(creates, 2, "one create on each node: %s", r.out);
	proc_run_free(&r);
	vault_free(rec);
	vault_free(rec2);
	vault_free(opaque_a);
	vault_free(det_a);
	vault_free(det_b);
	vault_close(a);
	vault_close(b);
	stop_pair();
}

Test(nodes, a_deletion_on_one_node_is_never_readable_on_the_other)
{
	start_pair(1);
	struct vault *a = connect_to(&node_a), *b = connect_to(&node_b);
	char *rec = create(a, 3);
	char *opaque = tokenize(a, rec, VAULT_TOKEN_OPAQUE);
	char *det = tokenize(a, rec, VAULT_TOKEN_DETERMINISTIC);
	/* A has read it (and resolved its tokens) before the deletion. */
	expect_email(a, rec, 3);
	int err;
	char *val = detokenize(a, det, &err);
	cr_assert_not_null(val);
	free(val);

	cr_assert_eq(vault_delete(b, VAULT_PURPOSE_TRANSACTIONAL, rec,
	    VAULT_DELETE_SUBJECT_REQUEST), 0, "delete on B: %s", vault_last_message(b));

	/* Acknowledged by B: from now on A answers from the database, not memory. */
	struct vault_record *out = NULL;
	int rc = vault_read(a, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, 0, 0, &out);
	cr_assert_eq(rc, VAULT_E_DELETED, "read on A after B's delete: %s",
	    vault_error_name(rc));
	cr_assert_null(out);
	const char *toks[] = { opaque, det };
	for (int t = 0; t < 2; t++) {
		val = detokenize(a, toks[t], &err);
		cr_assert_null(val, "token %d still resolves on A after B's delete", t);
		cr_assert_neq(err, 0);
	}
	vault_free(rec);
	vault_free(opaque);
	vault_free(det);
	vault_close(a);
	vault_close(b);
	stop_pair();
}

#define RACE 200

struct racer {
	const struct vaultd_proc *node;
	int base;
	char *toks[RACE];
	int failed;
	char why[200];
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	struct vault *v;
	if (vault_connect(r->node->socket, &v) != 0) {
		r->failed = 1;
		return NULL;
	}
	for (int i = 0; i < RACE && !r->failed; i++) {
		struct vault_record *rec;
		char email[64];
		snprintf(email, sizeof(email), "person%d@nodes.example", r->base + i);
		vault_record_new(&rec);
		vault_record_set(rec, "email", email);
		if (vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, rec, &r->toks[i]) != 0) {
			r->failed = 1;
			snprintf(r->why, sizeof(r->why), "create %d: %s", r->base + i,
			    vault_last_message(v));
		}
		vault_record_free(rec);
	}
	vault_close(v);
	return NULL;
}

static int
cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

Test(nodes, creates_racing_on_both_nodes_get_unique_ids)
{
	start_pair(1);
	/* Two clients per node, so each node's writer batches while the other's runs. */
	struct racer r[4] = {
		{ .node = &node_a, .base = 0 }, { .node = &node_b, .base = RACE },
		{ .node = &node_a, .base = 2 * RACE }, { .node = &node_b, .base = 3 * RACE },
	};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(r[i].failed, 0, "%s", r[i].why);
	}
	char *all[4 * RACE];
	for (int i = 0; i < 4; i++)
		memcpy(all + i * RACE, r[i].toks, sizeof(r[i].toks));
	qsort(all, 4 * RACE, sizeof(all[0]), cmp_str);
	for (int i = 1; i < 4 * RACE; i++)
		cr_assert_str_neq(all[i - 1], all[i], "two creates got the same record token");

	/* Every record reads back, as written, on both nodes: none overwrote another. */
	struct vault *a = connect_to(&node_a), *b = connect_to(&node_b);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < RACE; j++) {
			expect_email(a, r[i].toks[j], r[i].base + j);
			expect_email(b, r[i].toks[j], r[i].base + j);
		}
	struct vault_status sa, sb;
	cr_assert_eq(vault_status(a, &sa), 0);
	cr_assert_eq(vault_status(b, &sb), 0);
	cr_assert_eq(sa.records, 4 * RACE, "records on A: %llu", (unsigned long long)sa.records);
	cr_assert_eq(sb.records, 4 * RACE);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < RACE; j++)
			vault_free(r[i].toks[j]);
	vault_close(a);
	vault_close(b);

	/* Both restart: each node checks its own audit anchor, which the
	 * other's batches never overwrote. */
	cr_assert_eq(vaultd_stop(&node_a), 0);
	cr_assert_eq(vaultd_stop(&node_b), 0);
	vaultd_restart(&node_a);
	vaultd_restart(&node_b);
	a = connect_to(&node_a);
	b = connect_to(&node_b);
	struct vault_audit_check ca, cb;
	cr_assert_eq(vault_audit_verify(a, &ca), 0, "%s", vault_last_message(a));
	cr_assert_eq(vault_audit_verify(b, &cb), 0, "%s", vault_last_message(b));
	cr_assert(ca.ok && cb.ok, "each node's trail holds its own anchor");
	vault_close(a);
	vault_close(b);
	stop_pair();
}

static uint32_t
kek_current(struct vault *v, size_t *nkek)
{
	struct vault_keys_status *st;
	cr_assert_eq(vault_keys_status(v, &st), 0, "%s", vault_last_message(v));
	uint32_t cur = st->kek_current;
	*nkek = st->nkek;
	vault_keys_status_free(st);
	return cur;
}

#define NROT 30

Test(nodes, a_rotation_and_retire_on_one_node_leave_every_record_readable_on_the_other)
{
	char ring_a[600], saved[600], ring_b[600];
	start_pair(1);
	vaultd_path(&node_a, "keys/keyring", ring_a, sizeof(ring_a));
	vaultd_path(&node_a, "keyring.before", saved, sizeof(saved));
	vaultd_path(&node_b, "keys/keyring", ring_b, sizeof(ring_b));
	copy_file(ring_a, saved);
	struct vault *a = connect_to(&node_a), *b = connect_to(&node_b);
	char *recs[NROT], *dets[NROT];
	for (int i = 0; i < NROT; i++) {
		recs[i] = create(i % 2 ? b : a, 100 + i);
		dets[i] = tokenize(a, recs[i], VAULT_TOKEN_DETERMINISTIC);
	}
	size_t n;
	uint32_t old = kek_current(a, &n), epoch;

	/* Only the node that leads rotates; B says which one does. */
	int rc = vault_keys_rotate(b, "kek", &epoch);
	cr_assert_eq(rc, VAULT_E_CONFLICT, "rotate on B: %s", vault_error_name(rc));
	cr_assert_not_null(strstr(vault_last_message(b), "node-a"), "%s", vault_last_message(b));

	cr_assert_eq(vault_keys_rotate(a, "kek", &epoch), 0, "%s", vault_last_message(a));
	cr_assert_gt(epoch, old);
	vault_keys_status_free(vaultd_wait_rotation(a, 30));
	cr_assert_eq(kek_current(b, &n), epoch, "B runs the new epoch");
	for (int i = 0; i < NROT; i++) {
		expect_email(b, recs[i], 100 + i);
		int err;
		char *val = detokenize(b, dets[i], &err);
		cr_assert_not_null(val, "det token %d on B after the rewrap: %s", i,
		    vault_error_name(err));
		free(val);
	}
	/* Records created on B now are on the new epoch, so the retire finds none. */
	char *late = create(b, 999);

	uint64_t remaining, before, after;
	cr_assert_eq(vault_keys_retire(a, old, &remaining, &before, &after), 0,
	    "retire on A: %s", vault_last_message(a));
	/* B drops the retired key within its next check (at most a second or two). */
	for (int tries = 0; kek_current(b, &n) == epoch && n != 1 && tries < 500; tries++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cr_assert_eq(n, 1, "B's ring still holds %zu KEK epochs after the retire", n);
	for (int i = 0; i < NROT; i++)
		expect_email(b, recs[i], 100 + i);
	expect_email(a, late, 999);
	vault_close(a);
	vault_close(b);

	/* B restarts with the ring file it had before the rotation: it takes
	 * the database's and reads everything. */
	cr_assert_eq(vaultd_stop(&node_b), 0);
	copy_file(saved, ring_b);
	cr_assert_eq(vaultd_try_restart(&node_b), 0, "B restarts"); /* its log emptied */
	if (vaultd_wait_log(&node_b, "from the database", 1, 5) != 1) {
		char *log = read_file_all(node_b.log, &n);
		cr_assert_fail("B adopts the database's ring: %s", log ? log : "");
	}
	b = connect_to(&node_b);
	for (int i = 0; i < NROT; i++)
		expect_email(b, recs[i], 100 + i);
	vault_close(b);

	for (int i = 0; i < NROT; i++) {
		vault_free(recs[i]);
		vault_free(dets[i]);
	}
	vault_free(late);
	stop_pair();
}

Test(nodes, a_node_with_another_root_key_refuses_to_start)
{
	start_pair(1);
	/* B's own root key: the database's ring does not open with it. */
	char path[600], *log = NULL;
	cr_assert_eq(vaultd_stop(&node_b), 0);
	vaultd_path(&node_b, "keys/root.key", path, sizeof(path));
	cr_assert_eq(unlink(path), 0);
	char ring[600];
	vaultd_path(&node_b, "keys/keyring", ring, sizeof(ring));
	cr_assert_eq(unlink(ring), 0);
	const char *args[] = { "init", ring, "--key-file", path, NULL };
	cr_assert_eq(keytool_run(NULL, args), 0, "vault-keytool init");
	int st = vaultd_expect_refusal(&node_b, &log);
	cr_assert_neq(st, 0);
	cr_assert_not_null(strstr(log, "cannot be opened with this node's root key"), "%s", log);
	free(log);
	stop_pair();
}
