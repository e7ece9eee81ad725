/*
 * test_powerloss.c - a power loss, where the order of flushes matters
 * (issue 19). vaultd runs with tests/e2e/powerloss_shim.c, which keeps a
 * copy of each of its files as far as it was flushed; after a SIGKILL the
 * test puts those copies in place, dropping every write that was not
 * flushed, and starts vaultd on them. Every acknowledged write must be
 * there with its audit entry, and no acknowledged deletion readable. The
 * trail's own flush interval is set to a minute, so only the flushes a
 * reply waits for count. Before the writer flushed the trail beside each
 * commit, the entries of acknowledged writes were lost here.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "harness.h"

#define SLOW_TRAIL "[audit]\nsync_interval_ms = 60000\n"

static char shadow[600];

/* Start p's vaultd with the shim (into it only, not this process). */
static void
start_with_shim(struct vaultd_proc *p)
{
	const char *shim = getenv("POWERLOSS_SHIM");
	cr_assert_not_null(shim, "POWERLOSS_SHIM is not set (run through meson test)");
	snprintf(shadow, sizeof(shadow), "%s.shadow", p->dir);
	cr_assert_eq(mkdir(shadow, 0700), 0);
	setenv("POWERLOSS_DIR", p->dir, 1);
	setenv("POWERLOSS_SHADOW", shadow, 1);
	setenv("LD_PRELOAD", shim, 1);
	const char *asan = getenv("ASAN_OPTIONS");
	char opts[1024], *saved = strdup(asan ? asan : "");
	snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0", saved, *saved ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	vaultd_restart(p);
	unsetenv("LD_PRELOAD");
	unsetenv("POWERLOSS_DIR");
	unsetenv("POWERLOSS_SHADOW");
	if (*saved)
		setenv("ASAN_OPTIONS", saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(saved);
}

/* Kill vaultd and leave its directory as the power loss would. */
static void
power_loss(struct vaultd_proc *p)
{
	vaultd_kill(p);
	DIR *d = opendir(shadow);
	struct dirent *e;
	int copied = 0, saw_log = 0;
	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		char from[900], to[900];
		size_t len;
		if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp") == e->d_name + strlen(e->d_name) - 4)
			continue;
		snprintf(from, sizeof(from), "%s/%s", shadow, e->d_name);
		int k = snprintf(to, sizeof(to), "%s/", p->dir);
		for (const char *c = e->d_name; *c; c++)
			to[k++] = *c == '%' ? '/' : *c;
		to[k] = '\0';
		char *data = read_file_all(from, &len);
		int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		cr_assert_geq(fd, 0, "%s", to);
		cr_assert_eq(write(fd, data, len), (ssize_t)len);
		close(fd);
		free(data);
		unlink(from);
		copied++;
		if (strcmp(e->d_name, "data%commit.log") == 0)
			saw_log = 1;
	}
	closedir(d);
	rmdir(shadow);
	/* The store, its commit log, the trail and the journal were all
	 * flushed at least once. The data file's copy is its state at the
	 * last checkpoint (vaultd's start): every acknowledged write found
	 * after the restart came back from the commit log. */
	cr_assert_geq(copied, 4, "only %d files were ever flushed", copied);
	cr_assert(saw_log, "the commit log was never flushed");
}

/* Entries of the trail with op and outcome ok. */
static int
audited(const struct vaultd_proc *p, const char *op)
{
	char path[600], needle[64];
	size_t len;
	int n = 0;
	vaultd_path(p, "audit/audit.log", path, sizeof(path));
	char *s = read_file_all(path, &len);
	snprintf(needle, sizeof(needle), "\"op\":\"%s\",\"outcome\":\"ok\"", op);
	for (char *q = s; (q = strstr(q, needle)) != NULL; q++)
		n++;
	free(s);
	return n;
}

static char *
create(struct vault *v, const char *email)
{
	struct vault_record *r;
	char *tok = NULL;
	vault_record_new(&r);
	vault_record_set(r, "email", email);
	vault_record_set(r, "phone", "+14155550100");
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	vault_record_free(r);
	cr_assert_eq(rc, 0, "create: %s", vault_error_name(rc));
	return tok;
}

#define N 12

Test(powerloss, acknowledged_writes_and_their_audit_entries_survive, .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	char *tok[N], email[64];
	vaultd_prepare(&p, SLOW_TRAIL);
	vaultd_needs_lmdb(&p, "the shim models the flushes of vaultd's own files");
	start_with_shim(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++) {
		snprintf(email, sizeof(email), "p%d@powerloss.example", i);
		tok[i] = create(v, email);
	}
	/* 0..3 updated, 8..11 deleted, one acknowledged request at a time. */
	for (int i = 0; i < 4; i++) {
		struct vault_record *r;
		vault_record_new(&r);
		vault_record_set(r, "phone", "+14155550199");
		cr_assert_eq(vault_update(v, VAULT_PURPOSE_TRANSACTIONAL, tok[i], r, NULL, 0, NULL, 0), 0);
		vault_record_free(r);
	}
	for (int i = 8; i < N; i++)
		cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, tok[i],
		    VAULT_DELETE_ADMINISTRATIVE), 0);
	vault_close(v);
	power_loss(&p);

	/* The entries are durable in the commit log; the start writes them
	 * back into the trail before it opens it. */
	vaultd_restart(&p);
	cr_assert_geq(audited(&p, "create"), N, "the audit entry of an acknowledged create was lost");
	cr_assert_geq(audited(&p, "update"), 4, "the audit entry of an acknowledged update was lost");
	cr_assert_geq(audited(&p, "delete"), 4, "the audit entry of an acknowledged delete was lost");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < 8; i++) {
		snprintf(email, sizeof(email), "p%d@powerloss.example", i);
		expect_field(v, tok[i], "email", email, i);
		expect_field(v, tok[i], "phone", i < 4 ? "+14155550199" : "+14155550100", i);
	}
	for (int i = 8; i < N; i++) {
		const char *want[] = { "email" };
		struct vault_record *out = NULL;
		int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok[i], want, 1, 0, &out);
		cr_assert(rc == VAULT_E_DELETED || rc == VAULT_E_NOT_FOUND,
		    "acknowledged delete %d readable after a power loss (%s)", i, vault_error_name(rc));
		vault_record_free(out);
	}
	for (int i = 0; i < N; i++)
		vault_free(tok[i]);
	vault_close(v);
	vaultd_finish(&p);
}

/* Several clients create and delete; the power fails after a count of
 * acknowledgements, while writes are in flight. */
#define CLIENTS 4
#define PER_CLIENT 40

struct client {
	const char *socket;
	int id;
	char *tok[PER_CLIENT];
	int created, deleted; /* acknowledged */
};

static pthread_mutex_t acks_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t acks_cond = PTHREAD_COND_INITIALIZER;
static int acks;

static void
acked(void)
{
	pthread_mutex_lock(&acks_lock);
	acks++;
	pthread_cond_signal(&acks_cond);
	pthread_mutex_unlock(&acks_lock);
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	struct vault *v;
	if (vault_connect(c->socket, &v) != 0)
		return NULL;
	for (int i = 0; i < PER_CLIENT; i++) {
		struct vault_record *r;
		char email[64];
		snprintf(email, sizeof(email), "c%d.%d@powerloss.example", c->id, i);
		vault_record_new(&r);
		vault_record_set(r, "email", email);
		int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &c->tok[i]);
		vault_record_free(r);
		if (rc != 0)
			break;
		c->created++;
		acked();
		/* Every other record is deleted again at once. */
		if (i % 2 == 1) {
			if (vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, c->tok[i],
			    VAULT_DELETE_ADMINISTRATIVE) != 0)
				break;
			c->deleted = i + 1;
			acked();
		}
	}
	vault_close(v);
	return NULL;
}

Test(powerloss, in_flight_group_commits_lose_nothing_acknowledged, .timeout = 120)
{
	struct vaultd_proc p;
	struct client c[CLIENTS] = { 0 };
	pthread_t th[CLIENTS];
	vaultd_prepare(&p, SLOW_TRAIL);
	vaultd_needs_lmdb(&p, "the shim models the flushes of vaultd's own files");
	start_with_shim(&p);
	acks = 0;
	for (int i = 0; i < CLIENTS; i++) {
		c[i].socket = p.socket;
		c[i].id = i;
		pthread_create(&th[i], NULL, client_main, &c[i]);
	}
	/* Not a timing: the power fails after 60 acknowledgements. */
	pthread_mutex_lock(&acks_lock);
	while (acks < 60)
		pthread_cond_wait(&acks_cond, &acks_lock);
	pthread_mutex_unlock(&acks_lock);
	power_loss(&p);
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(th[i], NULL);

	int created = 0, deleted = 0;
	for (int i = 0; i < CLIENTS; i++) {
		created += c[i].created;
		for (int k = 1; k < c[i].deleted; k += 2)
			deleted++;
	}
	vaultd_restart(&p);
	cr_assert_geq(audited(&p, "create"), created, "audit entries of acknowledged creates lost");
	cr_assert_geq(audited(&p, "delete"), deleted, "audit entries of acknowledged deletes lost");
	struct vault *v;
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < CLIENTS; i++)
		for (int k = 0; k < c[i].created; k++) {
			char email[64];
			snprintf(email, sizeof(email), "c%d.%d@powerloss.example", i, k);
			if (k % 2 == 1 && k < c[i].deleted) {
				const char *want[] = { "email" };
				struct vault_record *out = NULL;
				int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, c[i].tok[k], want, 1, 0, &out);
				cr_assert(rc == VAULT_E_DELETED || rc == VAULT_E_NOT_FOUND,
				    "acknowledged delete readable (%s)", vault_error_name(rc));
				vault_record_free(out);
			} else if (k % 2 == 1 && k == c[i].created - 1) {
				/* Its delete was in flight: either outcome, but whole. */
				const char *want[] = { "email" };
				struct vault_record *out = NULL;
				int rc = vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, c[i].tok[k], want, 1, 0, &out);
				cr_assert(rc == 0 || rc == VAULT_E_DELETED, "%s", vault_error_name(rc));
				if (rc == 0)
					cr_assert_str_eq(vault_record_get(out, "email"), email);
				vault_record_free(out);
			} else {
				expect_field(v, c[i].tok[k], "email", email, k);
			}
			vault_free(c[i].tok[k]);
		}
	vault_close(v);
	fprintf(stderr, "power loss: %d creates and %d deletes acknowledged, all there\n",
	    created, deleted);
	vaultd_finish(&p);
}

/*
 * A group commit larger than the commit log takes per record (a create
 * with a 300 KiB document here) commits without a record, made durable by
 * a checkpoint before its reply (store_lmdb.c, commit_direct): it too
 * survives a power loss, with the small writes around it.
 */
Test(powerloss, a_batch_too_large_for_the_log_is_durable_too, .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { DOC = 300 * 1024 };
	uint8_t *doc = malloc(DOC);
	cr_assert_not_null(doc);
	for (size_t i = 0; i < DOC; i++)
		doc[i] = (uint8_t)(i * 7 + i / 4096);
	vaultd_prepare(&p, SLOW_TRAIL);
	vaultd_needs_lmdb(&p, "the shim models the flushes of vaultd's own files");
	start_with_shim(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	char *small1 = create(v, "before@powerloss.example");
	struct vault_record *r;
	char *big = NULL;
	vault_record_new(&r);
	vault_record_set(r, "email", "big@powerloss.example");
	cr_assert_eq(vault_record_add_document(r, "scan.bin", "application/octet-stream", doc, DOC), 0);
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &big);
	vault_record_free(r);
	cr_assert_eq(rc, 0, "create: %s", vault_error_name(rc));
	char *small2 = create(v, "after@powerloss.example");
	vault_close(v);
	power_loss(&p);

	vaultd_restart(&p);
	cr_assert_geq(audited(&p, "create"), 3, "the audit entry of an acknowledged create was lost");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	expect_field(v, small1, "email", "before@powerloss.example", 0);
	expect_field(v, big, "email", "big@powerloss.example", 1);
	expect_field(v, small2, "email", "after@powerloss.example", 2);
	struct vault_record *out = NULL;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, big, NULL, 0, 1, &out), 0, "%s",
	    vault_last_message(v));
	const void *data;
	size_t len;
	cr_assert_eq(vault_record_document_at(out, 0, NULL, NULL, NULL, &data, &len), 0);
	cr_assert(len == DOC && memcmp(data, doc, DOC) == 0, "the document came back changed");
	vault_record_free(out);
	vault_free(small1);
	vault_free(big);
	vault_free(small2);
	free(doc);
	vault_close(v);
	vaultd_finish(&p);
}
