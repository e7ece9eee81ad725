/*
 * test_forensic_blind.c - end-to-end, as an attacker: after deletions (plain
 * and through verified privacy requests), a KEK rotation and the retire of
 * the old epoch, no key the vault still holds can confirm a deleted
 * person's value from any copy of the data (issue 13).
 *
 * The attacker holds the current ring file and its root key, the live data
 * file, a backup and a raw copy of data.mdb taken before the deletions, and
 * whatever else lies in the directory. For every key in the ring (each KEK
 * epoch, token key and index key version), keyed directly and through the
 * old ("vblind01") and the new ("vblind02") blind derivations, the blind tag
 * of each deleted person's true values is searched for in every file: zero
 * hits. The same scan finds the live people's tags in the live file. The
 * stored privacy requests keep no tags and, once completed, no target ids.
 * And verification still finds a live person during the rewrap and after
 * the retire.
 */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>
#include <vault/vault.h>

#include "harness.h"
#include "keys/keyring.h"
#include "vault/keyset.h"
#include "vault/privacy/blind.h"
#include "vault/privacy/identity.h"
#include "vault/privacy/secrets.h"
#include "vault/privacy/request.h"
#include "vault/record/fields.h"
#include "vault/record/normalize.h"

#define T VAULT_PURPOSE_TRANSACTIONAL
#define PEOPLE 40
#define DELETED 20 /* people 0..19 are deleted, 20..39 live */

static const unsigned kinds[] = {
	BLIND_FIRST_NAME, BLIND_LAST_NAME, BLIND_POSTAL_ADDRESS, BLIND_EMAIL, BLIND_PHONE,
	BLIND_TXN_REFERENCE, BLIND_TXN_DATE, BLIND_TXN_AMOUNT,
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

struct person {
	char first[16], last[16], email[64], phone[20], addr[64];
	char ref[16], date[16], amount[16];
	char *tok;
};

static void
person(int i, struct person *p)
{
	memset(p, 0, sizeof(*p));
	char a = (char)('a' + i / 676), b = (char)('a' + i / 26 % 26), c = (char)('a' + i % 26);
	snprintf(p->first, sizeof(p->first), "Fo%c%c%cna", a, b, c);
	snprintf(p->last, sizeof(p->last), "Ren%c%c%csic", c, b, a);
	snprintf(p->email, sizeof(p->email), "fp%02d@forensic.example", i);
	snprintf(p->phone, sizeof(p->phone), "+1415555%04d", 100 + i);
	snprintf(p->addr, sizeof(p->addr), "%d Forensic Lane, Springfield", 10 + i);
	snprintf(p->ref, sizeof(p->ref), "ORD-%04d", 1000 + i);
	/* Every value unique among the people of a test, dates included. */
	snprintf(p->date, sizeof(p->date), "2026-%02d-%02d", 1 + i / 28 % 12, 1 + i % 28);
	snprintf(p->amount, sizeof(p->amount), "%d.25", 10 + i);
}

static const char *
value_of(const struct person *p, unsigned kind)
{
	switch (kind) {
	case BLIND_FIRST_NAME: return p->first;
	case BLIND_LAST_NAME: return p->last;
	case BLIND_POSTAL_ADDRESS: return p->addr;
	case BLIND_EMAIL: return p->email;
	case BLIND_PHONE: return p->phone;
	case BLIND_TXN_REFERENCE: return p->ref;
	case BLIND_TXN_DATE: return p->date;
	default: return p->amount;
	}
}

/* The canonical form the vault hashes: normalized as the field, then
 * blind_canon() (the attacker knows the documented rules). */
static void
canon_of(const struct person *p, unsigned kind, char *out, size_t *n)
{
	char norm[1024];
	const char *s = value_of(p, kind);
	size_t len = strlen(s);
	if (kind <= BLIND_PHONE) {
		struct normalize_ctx nc = { time(NULL), "1" };
		cr_assert_eq(normalize_field((enum field_id)kind, s, len, norm, sizeof(norm), &len,
		    &nc), 0);
		s = norm;
	}
	cr_assert_eq(blind_canon(kind, s, len, out, BLIND_CANON_MAX, n), 0);
}

__attribute__((format(printf, 5, 6)))
static json_t *
vcall(struct vault *v, int *code, const char *op, enum vault_purpose p, const char *fmt, ...)
{
	char args[4096];
	char *out = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	*code = vault_call_json(v, op, p, args, &out);
	if (*code != 0)
		return NULL;
	json_error_t e;
	json_t *j = json_loads(out, 0, &e);
	cr_assert_not_null(j, "reply of %s is JSON", op);
	vault_free(out);
	return j;
}

#define OK(v, op, p, ...) ({ int code_; json_t *j_ = vcall(v, &code_, op, p, __VA_ARGS__); \
	cr_assert_not_null(j_, "%s: %s (%s)", op, vault_error_name(code_), vault_last_message(v)); \
	j_; })

static void
create_person(struct vault *v, struct person *p)
{
	json_t *r = OK(v, "create", T, "{\"fields\":{\"first_name\":\"%s\",\"last_name\":\"%s\","
	    "\"email\":\"%s\",\"phone\":\"%s\",\"postal_address\":\"%s\"}}",
	    p->first, p->last, p->email, p->phone, p->addr);
	p->tok = strdup(json_string_value(json_object_get(r, "record")));
	json_decref(r);
	json_decref(OK(v, "transaction", T, "{\"record\":\"%s\",\"reference\":\"%s\","
	    "\"date\":\"%s\",\"amount\":\"%s\"}", p->tok, p->ref, p->date, p->amount));
}

/* Open a deletion request and verify it with p's claims; returns the
 * request id, or -1 if it did not verify. */
static long long
verify(struct vault *v, const struct person *p)
{
	json_t *r = OK(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"phone\","
	    "\"requester\":\"self\"}");
	long long id = json_integer_value(json_object_get(r, "request"));
	json_decref(r);
	r = OK(v, "request_verify", 0, "{\"request\":%lld,\"claims\":{\"first_name\":\"%s\","
	    "\"last_name\":\"%s\",\"email\":\"%s\",\"phone\":\"%s\",\"postal_address\":\"%s\","
	    "\"transaction\":{\"reference\":\"%s\"}}}", id, p->first, p->last, p->email, p->phone,
	    p->addr, p->ref);
	int verified = json_is_true(json_object_get(r, "verified"));
	if (verified) {
		json_t *t = json_object_get(r, "targets");
		cr_assert_eq(json_array_size(t), 1);
		cr_assert_str_eq(json_string_value(json_array_get(t, 0)), p->tok);
	}
	json_decref(r);
	return verified ? id : -1;
}

static struct vault_keys_status *
wait_rotation(struct vault *v)
{
	struct vault_keys_status *st = NULL;
	for (int i = 0; i < 6000; i++) {
		vault_keys_status_free(st);
		cr_assert_eq(vault_keys_status(v, &st), 0, "%s", vault_last_message(v));
		if (!st->rotating)
			return st;
		usleep(10000);
	}
	cr_assert_fail("rotation did not finish");
	return st;
}

/* Every tag the attacker can make: each key of the ring, each derivation. */
struct tag {
	uint8_t t[BLIND_TAG_BYTES];
	int person, kind;
	size_t hits;
};

static int
tag_cmp(const void *a, const void *b)
{
	return memcmp(((const struct tag *)a)->t, ((const struct tag *)b)->t, BLIND_TAG_BYTES);
}

/* Append to tags the tags of people [from, to) under every key and derivation;
 * only_kek_ctx: only vblind02 under KEK epochs (the positive control). */
static size_t
make_tags(const struct keyring *ring, struct person *pp, int from, int to, struct tag *tags,
    size_t n, int only_kek_ctx)
{
	static const enum keyring_kind rk[] = { KEYRING_KEK, KEYRING_TOKEN, KEYRING_INDEX };
	static const char *const ctx[] = { NULL, "vblind01", "vblind02" };
	for (size_t k = 0; k < 3; k++) {
		for (size_t vi = 0; vi < keyring_count(ring, rk[k]); vi++) {
			const uint8_t *key = keyring_key(ring, rk[k], keyring_version_at(ring, rk[k], vi));
			for (size_t c = 0; c < 3; c++) {
				uint8_t sub[32];
				if (only_kek_ctx && (rk[k] != KEYRING_KEK || c != 2))
					continue;
				if (ctx[c] == NULL)
					memcpy(sub, key, 32);
				else
					crypto_kdf_derive_from_key(sub, 32, 1, ctx[c], key);
				for (int i = from; i < to; i++) {
					for (size_t kk = 0; kk < NKINDS; kk++) {
						char canon[BLIND_CANON_MAX];
						size_t cn;
						uint8_t kb = (uint8_t)kinds[kk];
						crypto_generichash_state st;
						canon_of(&pp[i], kinds[kk], canon, &cn);
						crypto_generichash_init(&st, sub, 32, BLIND_TAG_BYTES);
						crypto_generichash_update(&st, &kb, 1);
						crypto_generichash_update(&st, (uint8_t *)canon, cn);
						crypto_generichash_final(&st, tags[n].t, BLIND_TAG_BYTES);
						tags[n].person = i;
						tags[n].kind = (int)kinds[kk];
						tags[n].hits = 0;
						n++;
					}
				}
			}
		}
	}
	qsort(tags, n, sizeof(*tags), tag_cmp);
	return n;
}

/* Count every occurrence of every tag at every offset of data. */
static size_t
scan(const uint8_t *data, size_t len, struct tag *tags, size_t n)
{
	size_t hits = 0;
	struct tag key;
	for (size_t i = 0; i + BLIND_TAG_BYTES <= len; i++) {
		memcpy(key.t, data + i, BLIND_TAG_BYTES);
		struct tag *t = bsearch(&key, tags, n, sizeof(*tags), tag_cmp);
		if (t != NULL) {
			t->hits++;
			hits++;
		}
	}
	return hits;
}

/* Every regular file under the test directory (nftw has no argument). */
static char files[64][1024];
static size_t nfiles;

static int
collect(const char *path, const struct stat *sb, int type, struct FTW *f)
{
	if (type == FTW_F && S_ISREG(sb->st_mode) && nfiles < 64)
		snprintf(files[nfiles++], sizeof(files[0]), "%s", path);
	return 0;
}

static void
copy_file(const char *from, const char *to)
{
	size_t n;
	char *b = read_file_all(from, &n);
	cr_assert_not_null(b);
	FILE *f = fopen(to, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(b, 1, n, f), n);
	fclose(f);
	free(b);
}

Test(forensic_blind, deleted_people_leave_no_testable_tag_in_any_copy, .timeout = 600)
{
	struct vaultd_proc p;
	struct vault *v;
	static struct person pp[PEOPLE];
	vaultd_start(&p, "[privacy]\nverify_per_minute = 1000\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < PEOPLE; i++) {
		person(i, &pp[i]);
		create_person(v, &pp[i]);
	}
	/* The attacker's copies from before the deletions: a backup, and a raw
	 * copy of the data file taken while vaultd runs. */
	char *bpath = NULL, live[600], raw[600];
	uint64_t bbytes = 0;
	cr_assert_eq(vault_backup(v, "before-delete", &bpath, &bbytes), 0, "%s",
	    vault_last_message(v));
	vaultd_path(&p, "data/data.mdb", live, sizeof(live));
	vaultd_path(&p, "raw-copy.mdb", raw, sizeof(raw));
	copy_file(live, raw);

	/* Half go: the even ones by delete, the odd ones by a privacy request
	 * verified by their claims and completed. */
	for (int i = 0; i < DELETED; i++) {
		if (i % 2 == 0) {
			cr_assert_eq(vault_delete(v, T, pp[i].tok, VAULT_DELETE_SUBJECT_REQUEST), 0);
			continue;
		}
		long long id = verify(v, &pp[i]);
		cr_assert_geq(id, 0, "person %d verifies", i);
		json_t *r = OK(v, "request_complete", 0, "{\"request\":%lld}", id);
		cr_assert_str_eq(json_string_value(json_object_get(r, "state")), "completed");
		json_decref(r);
	}
	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	vault_keys_status_free(wait_rotation(v));
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	/* A live person still verifies with the new epoch's tags only. */
	cr_assert_geq(verify(v, &pp[DELETED + 3]), 0, "a live person verifies after retire");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	/* The attacker: the current ring and its root key. */
	char ring_path[600], root_path[600];
	vaultd_path(&p, "keys/keyring", ring_path, sizeof(ring_path));
	vaultd_path(&p, "keys/root.key", root_path, sizeof(root_path));
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	const char *why;
	struct keyring *ring;
	cr_assert_eq(keyring_root_key_read(root_path, root, &why), 0);
	cr_assert_eq(keyring_load(ring_path, root, &ring, &why), 0);
	cr_assert_eq(keyring_count(ring, KEYRING_KEK), 1, "epoch 1 is retired");

	size_t cap = 3 * 8 * 3 * PEOPLE * NKINDS;
	struct tag *dead = calloc(cap, sizeof(*dead)), *alive = calloc(cap, sizeof(*alive));
	size_t ndead = make_tags(ring, pp, 0, DELETED, dead, 0, 0);
	size_t nalive = make_tags(ring, pp, DELETED, PEOPLE, alive, 0, 1);
	cr_assert_geq(ndead, 3 * 3 * DELETED * NKINDS, "every kind of key, every derivation");

	nfiles = 0;
	cr_assert_eq(nftw(p.dir, collect, 16, FTW_PHYS), 0);
	int have_backup = 0;
	for (size_t f = 0; f < nfiles; f++)
		have_backup |= strcmp(files[f], bpath) == 0;
	if (!have_backup && nfiles < 64)
		snprintf(files[nfiles++], sizeof(files[0]), "%s", bpath);
	size_t total = 0, bytes = 0;
	for (size_t f = 0; f < nfiles; f++) {
		size_t n;
		uint8_t *b = (uint8_t *)read_file_all(files[f], &n);
		if (b == NULL)
			continue;
		size_t h = scan(b, n, dead, ndead);
		for (size_t t = 0; t < ndead && h > 0; t++)
			if (dead[t].hits > 0)
				fprintf(stderr, "deleted person %d kind %d: %zu hits in %s\n",
				    dead[t].person, dead[t].kind, dead[t].hits, files[f]);
		cr_assert_eq(h, 0, "%zu tags of deleted people in %s", h, files[f]);
		total += h;
		bytes += n;
		free(b);
	}
	cr_assert_geq(nfiles, 4, "live file, raw copy, backup and more were scanned");
	/* Positive control: the same scan finds every live person's every tag
	 * in the live file. */
	size_t n;
	uint8_t *b = (uint8_t *)read_file_all(live, &n);
	cr_assert_not_null(b);
	scan(b, n, alive, nalive);
	free(b);
	for (size_t i = 0; i < nalive; i++)
		cr_assert_gt(alive[i].hits, 0, "live person %d kind %d found", alive[i].person,
		    alive[i].kind);
	fprintf(stderr, "forensic-blind: %zu files, %zu bytes, %zu deleted-person tags "
	    "(every key, every derivation): %zu hits; %zu live tags all found\n",
	    nfiles, bytes, ndead, total, nalive);

	/* The requests database: completed requests keep claim kinds only,
	 * no tag of anyone and no target id. */
	char datadir[600];
	vaultd_path(&p, "data", datadir, sizeof(datadir));
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, val;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	cr_assert_eq(mdb_env_open(env, datadir, MDB_RDONLY, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "requests", 0, &dbi), 0);
	cr_assert_eq(mdb_cursor_open(txn, dbi, &c), 0);
	size_t completed = 0;
	for (int rc = mdb_cursor_get(c, &k, &val, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		struct privacy_request r;
		cr_assert_eq(scan(val.mv_data, val.mv_size, dead, ndead), 0);
		cr_assert_eq(scan(val.mv_data, val.mv_size, alive, nalive), 0);
		cr_assert_eq(request_decode(val.mv_data, val.mv_size, &r), 0);
		if (r.state == RS_COMPLETED) {
			completed++;
			cr_assert_eq(r.ntargets, 0, "a completed request keeps no target id");
			cr_assert_gt(r.nclaims, 0, "it keeps which data points verified");
		}
	}
	cr_assert_eq(completed, DELETED / 2);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);

	/* Restoring the old backup (its epoch retired): the live people are found
	 * again at once (their tags re-derived under the live epoch), the
	 * deleted ones stay deleted and unfound. */
	pid_t pid = fork();
	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		execl(getenv("VAULTD"), "vaultd", "-c", p.config, "--restore", bpath, (char *)NULL);
		_exit(127);
	}
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "restore exits 0");
	vaultd_restart(&p);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	cr_assert_geq(verify(v, &pp[DELETED + 5]), 0, "a live person verifies after the restore");
	cr_assert_lt(verify(v, &pp[1]), 0, "a deleted person is not found after the restore");
	cr_assert_lt(verify(v, &pp[2]), 0, "a deleted person is not found after the restore");
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	free(dead);
	free(alive);
	keyring_free(ring);
	sodium_free(root);
	for (int i = 0; i < PEOPLE; i++)
		free(pp[i].tok);
	vault_free(bpath);
	vaultd_cleanup(&p);
}

Test(forensic_blind, verification_finds_live_people_during_the_rewrap_and_after_retire,
    .timeout = 600)
{
	struct vaultd_proc p;
	struct vault *v;
	enum { N = 3000 };
	static struct person pp[N];
	/* Small rewrap batches: the rotation is still running while we verify. */
	vaultd_start(&p, "[privacy]\nverify_per_minute = 1000\n[keys]\nrotation_batch = 5\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	for (int i = 0; i < N; i++) {
		person(i, &pp[i]);
		json_t *r = OK(v, "create", T, "{\"fields\":{\"first_name\":\"%s\",\"last_name\":"
		    "\"%s\",\"email\":\"%s\",\"phone\":\"%s\",\"postal_address\":\"%s\"}}",
		    pp[i].first, pp[i].last, pp[i].email, pp[i].phone, pp[i].addr);
		pp[i].tok = strdup(json_string_value(json_object_get(r, "record")));
		json_decref(r);
	}
	/* The last transaction too, for the first and the last person. */
	int some[] = { 0, N - 1 };
	for (int j = 0; j < 2; j++)
		json_decref(OK(v, "transaction", T, "{\"record\":\"%s\",\"reference\":\"%s\","
		    "\"date\":\"%s\",\"amount\":\"%s\"}", pp[some[j]].tok, pp[some[j]].ref,
		    pp[some[j]].date, pp[some[j]].amount));
	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	/* The first records are rewrapped first, the last ones last: one of
	 * each, and people in between, while the rotation runs. */
	int mid[] = { 0, N - 1, N / 2, 1, N - 2 };
	for (size_t j = 0; j < sizeof(mid) / sizeof(mid[0]); j++)
		cr_assert_geq(verify(v, &pp[mid[j]]), 0, "person %d verifies mid-rotation", mid[j]);
	struct vault_keys_status *st;
	cr_assert_eq(vault_keys_status(v, &st), 0);
	cr_assert(st->rotating, "the verifications ran during the rewrap");
	fprintf(stderr, "forensic-blind: verified mid-rotation at %llu of %llu records\n",
	    (unsigned long long)st->examined, (unsigned long long)st->total);
	vault_keys_status_free(st);
	vault_keys_status_free(wait_rotation(v));
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	int after[] = { 2, N - 3, N / 3, 0, N - 1 };
	for (size_t j = 0; j < sizeof(after) / sizeof(after[0]); j++)
		cr_assert_geq(verify(v, &pp[after[j]]), 0, "person %d verifies after retire",
		    after[j]);
	/* A wrong claim still fails. */
	struct person wrong = pp[7];
	snprintf(wrong.phone, sizeof(wrong.phone), "+14155559999");
	snprintf(wrong.email, sizeof(wrong.email), "nobody@forensic.example");
	snprintf(wrong.addr, sizeof(wrong.addr), "1 Nowhere Road");
	snprintf(wrong.ref, sizeof(wrong.ref), "X-1");
	cr_assert_lt(verify(v, &wrong), 0);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	for (int i = 0; i < N; i++)
		free(pp[i].tok);
	vaultd_cleanup(&p);
}

/* The identity's failure count is keyed by the canonical name under the
 * current KEK epoch and re-keyed with the end of the rotation's rewrap: a
 * KEK rotation (and its retire) does not hand out new guesses. */
Test(forensic_blind, a_kek_rotation_does_not_reset_the_identity_limit, .timeout = 120)
{
	struct vaultd_proc p;
	struct vault *v;
	struct person pp, wrong;
	vaultd_start(&p, "[privacy]\nverify_attempts = 5\nverify_identity_failures = 2\n"
	    "verify_identity_open = 16\nverify_per_minute = 1000\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	person(5, &pp);
	create_person(v, &pp);
	wrong = pp;
	snprintf(wrong.email, sizeof(wrong.email), "guess@forensic.example");
	snprintf(wrong.phone, sizeof(wrong.phone), "+14155559999");
	snprintf(wrong.addr, sizeof(wrong.addr), "1 Nowhere Road");
	snprintf(wrong.ref, sizeof(wrong.ref), "X-1");
	for (int i = 0; i < 2; i++)
		cr_assert_lt(verify(v, &wrong), 0);
	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	vault_keys_status_free(wait_rotation(v));
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	/* Even the right claims are refused: the identity has no guesses left. */
	json_t *r = OK(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"phone\","
	    "\"requester\":\"self\"}");
	long long id = json_integer_value(json_object_get(r, "request"));
	json_decref(r);
	int code = 0;
	r = vcall(v, &code, "request_verify", 0, "{\"request\":%lld,\"claims\":{\"first_name\":"
	    "\"%s\",\"last_name\":\"%s\",\"email\":\"%s\",\"phone\":\"%s\"}}", id, pp.first, pp.last,
	    pp.email, pp.phone);
	cr_assert_null(r, "the rotation reset the identity's count");
	cr_assert_eq(code, VAULT_E_RATE_LIMITED, "%s", vault_error_name(code));
	free(pp.tok);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);
	vaultd_cleanup(&p);
}

/* Every hash of name the ring's keys can make: the old derivation (index
 * key versions, secret_hash() domain "verify_identity2") and the new one
 * (identity_hash() under each KEK epoch); and "vident03" under the token
 * and index keys for good measure. As tags: the first BLIND_TAG_BYTES. */
static size_t
identity_tags(const struct keyring *ring, const struct identity_name *name, struct tag *tags,
    int only_kek)
{
	static const enum keyring_kind rk[] = { KEYRING_KEK, KEYRING_TOKEN, KEYRING_INDEX };
	struct key_set *ks;
	struct keyring *copy;
	size_t n = 0;
	uint8_t h[IDENTITY_HASH_BYTES];
	/* A key set of its own: keyring_with_new_key() copies the ring. */
	uint32_t v;
	cr_assert_eq(keyring_with_new_key(ring, KEYRING_TOKEN, &copy, &v), 0);
	cr_assert_eq(key_set_new(copy, &ks), 0);
	for (size_t vi = 0; vi < keyring_count(ring, KEYRING_KEK); vi++) {
		cr_assert_eq(identity_hash(ks, keyring_version_at(ring, KEYRING_KEK, vi), name, h), 0);
		memcpy(tags[n].t, h, BLIND_TAG_BYTES);
		tags[n].kind = 1000 + (int)keyring_version_at(ring, KEYRING_KEK, vi);
		tags[n++].hits = 0;
	}
	/* The token and index keys (the KEK epochs are done above). */
	for (size_t k = 1; k < 3 && !only_kek; k++) {
		for (size_t vi = 0; vi < keyring_count(ring, rk[k]); vi++) {
			uint32_t ver = keyring_version_at(ring, rk[k], vi);
			const uint8_t *key = keyring_key(ring, rk[k], ver);
			uint8_t sub[32];
			crypto_kdf_derive_from_key(sub, 32, 1, "vident03", key);
			crypto_generichash(h, sizeof(h), name->b, name->len, sub, 32);
			memcpy(tags[n].t, h, BLIND_TAG_BYTES);
			tags[n].kind = 2000 + (int)k;
			tags[n++].hits = 0;
			if (rk[k] != KEYRING_INDEX)
				continue;
			/* The old form: the names with their lengths, as identity_name(). */
			cr_assert_eq(secret_hash(ks, ver, "verify_identity2", 0, name->b, name->len, h),
			    0);
			memcpy(tags[n].t, h, BLIND_TAG_BYTES);
			tags[n].kind = 3000 + (int)ver;
			tags[n++].hits = 0;
		}
	}
	key_set_free(ks);
	qsort(tags, n, sizeof(*tags), tag_cmp);
	return n;
}

static struct keyring *
attacker_ring(struct vaultd_proc *p, uint8_t *root)
{
	char ring_path[600], root_path[600];
	const char *why;
	struct keyring *ring;
	vaultd_path(p, "keys/keyring", ring_path, sizeof(ring_path));
	vaultd_path(p, "keys/root.key", root_path, sizeof(root_path));
	cr_assert_eq(keyring_root_key_read(root_path, root, &why), 0);
	cr_assert_eq(keyring_load(ring_path, root, &ring, &why), 0, "%s", why);
	return ring;
}

static size_t
scan_file(const char *path, struct tag *tags, size_t n)
{
	size_t len;
	uint8_t *b = (uint8_t *)read_file_all(path, &len);
	cr_assert_not_null(b, "%s", path);
	for (size_t i = 0; i < n; i++)
		tags[i].hits = 0;
	size_t h = scan(b, len, tags, n);
	free(b);
	return h;
}

/* A failed verification leaves the claimed name's count in verify_ids.
 * Copies taken while it existed (a backup, a raw copy of data.mdb) keep
 * the entry of that time: after the rotation and the retire of its epoch,
 * no key of the ring (index key versions with the old derivation, every
 * KEK epoch with the new one) finds it there. The live file holds the
 * count under the new epoch only (the count must outlive the rotation). */
Test(forensic_blind, a_failed_names_count_dies_with_its_epoch_in_every_copy, .timeout = 300)
{
	struct vaultd_proc p;
	struct vault *v;
	struct person pp, wrong;
	vaultd_start(&p, "[privacy]\nverify_attempts = 5\nverify_identity_failures = 3\n"
	    "verify_identity_open = 16\nverify_per_minute = 1000\n");
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	person(7, &pp);
	create_person(v, &pp);
	person(8, &wrong); /* nobody's record: a guessed name */
	cr_assert_lt(verify(v, &wrong), 0);

	char *bpath = NULL, live[600], raw[600];
	uint64_t bbytes = 0;
	cr_assert_eq(vault_backup(v, "identity", &bpath, &bbytes), 0, "%s", vault_last_message(v));
	vaultd_path(&p, "data/data.mdb", live, sizeof(live));
	vaultd_path(&p, "raw-identity.mdb", raw, sizeof(raw));
	copy_file(live, raw);

	struct identity_name *name = sodium_malloc(sizeof(*name));
	char f[BLIND_CANON_MAX], l[BLIND_CANON_MAX];
	size_t fl, ll;
	canon_of(&wrong, BLIND_FIRST_NAME, f, &fl);
	canon_of(&wrong, BLIND_LAST_NAME, l, &ll);
	cr_assert_eq(identity_name(f, fl, l, ll, name), 0);
	static struct tag tags[256];
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);

	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	vault_keys_status_free(wait_rotation(v));
	/* Positive control, before the retire: epoch 1 finds the entry in both
	 * copies, epoch 2 in the live file (the rekey moved it). */
	struct keyring *ring = attacker_ring(&p, root);
	cr_assert_eq(keyring_count(ring, KEYRING_KEK), 2);
	size_t n = identity_tags(ring, name, tags, 1);
	cr_assert_eq(n, 2);
	cr_assert_gt(scan_file(bpath, tags, n), 0, "the backup holds the entry of epoch 1");
	cr_assert_gt(scan_file(raw, tags, n), 0, "the raw copy holds the entry of epoch 1");
	scan_file(live, tags, n);
	for (size_t i = 0; i < n; i++)
		if (tags[i].kind == 1000 + (int)epoch)
			cr_assert_gt(tags[i].hits, 0, "the count moved to epoch %u", epoch);
	keyring_free(ring);

	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	/* The count survived: two more failures reach the limit of 3. */
	cr_assert_lt(verify(v, &wrong), 0);
	int code = 0;
	json_t *r = OK(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"phone\","
	    "\"requester\":\"self\"}");
	long long id = json_integer_value(json_object_get(r, "request"));
	json_decref(r);
	r = vcall(v, &code, "request_verify", 0, "{\"request\":%lld,\"claims\":{\"first_name\":"
	    "\"%s\",\"last_name\":\"%s\",\"email\":\"%s\",\"phone\":\"%s\"}}", id, wrong.first,
	    wrong.last, wrong.email, wrong.phone);
	json_decref(r);
	cr_assert_eq(code, 0, "the third failure is still allowed");
	r = vcall(v, &code, "request_verify", 0, "{\"request\":%lld,\"claims\":{\"first_name\":"
	    "\"%s\",\"last_name\":\"%s\",\"email\":\"%s\",\"phone\":\"%s\"}}", id, wrong.first,
	    wrong.last, wrong.email, wrong.phone);
	cr_assert_null(r, "the count carried across rotation and retire");
	cr_assert_eq(code, VAULT_E_RATE_LIMITED, "%s", vault_error_name(code));
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	ring = attacker_ring(&p, root);
	cr_assert_eq(keyring_count(ring, KEYRING_KEK), 1, "epoch 1 is retired");
	n = identity_tags(ring, name, tags, 0);
	cr_assert_geq(n, 4, "every key, both derivations");
	cr_assert_eq(scan_file(bpath, tags, n), 0, "the backup: nothing any key can test");
	cr_assert_eq(scan_file(raw, tags, n), 0, "the raw copy: nothing any key can test");
	scan_file(live, tags, n);
	for (size_t i = 0; i < n; i++)
		if (tags[i].hits > 0)
			cr_assert_eq(tags[i].kind, 1000 + (int)epoch,
			    "the live file holds the count under the current epoch only (%d)",
			    tags[i].kind);
	fprintf(stderr, "forensic-identity: %zu hashes of the failed name under the ring "
	    "after retire: 0 hits in the backup and the raw copy\n", n);
	keyring_free(ring);
	sodium_free(root);
	sodium_free(name);
	free(pp.tok);
	vault_free(bpath);
	vaultd_cleanup(&p);
}

/*
 * Free text an operator types (a hold's reason here; an extension reason
 * is sealed the same way) may name a person. A backup or raw copy taken
 * while the hold was placed keeps the sealed reason; after rotate and
 * retire no key of the ring opens it there: neither under a KEK epoch
 * ("vreason3", the current derivation) nor under an index key ("vpriv001"
 * subkey 1, the one before). The live hold's reason, resealed under the new
 * epoch by the rotation, still reads.
 */
static size_t
reason_opens(const char *path, const struct keyring *ring, const char *reason)
{
	static const enum keyring_kind kinds_[] = { KEYRING_KEK, KEYRING_INDEX };
	size_t len, rl = strlen(reason), opened = 0;
	uint8_t *b = (uint8_t *)read_file_all(path, &len);
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES], *pt = malloc(rl + 1);
	cr_assert_not_null(b, "%s", path);
	for (size_t o = 0; o + rl + SEALED_TEXT_OVERHEAD <= len; o++) {
		uint32_t ver = (uint32_t)b[o] << 24 | (uint32_t)b[o + 1] << 16 |
		    (uint32_t)b[o + 2] << 8 | b[o + 3];
		for (size_t k = 0; k < 2; k++) {
			const uint8_t *ck = keyring_key(ring, kinds_[k], ver);
			if (ck == NULL)
				continue;
			crypto_kdf_derive_from_key(key, sizeof(key), 1,
			    kinds_[k] == KEYRING_KEK ? "vreason3" : "vpriv001", ck);
			if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, b + o + 28,
			    rl + 16, b + o, 4, b + o + 4, key) == 0 && memcmp(pt, reason, rl) == 0)
				opened++;
		}
	}
	sodium_memzero(key, sizeof(key));
	free(pt);
	free(b);
	return opened;
}

Test(forensic_blind, an_operator_reason_dies_with_its_epoch_in_every_copy, .timeout = 120)
{
	static const char reason[] = "litigation hold for Jane Roe, 12 Elm Street";
	struct vaultd_proc p;
	struct vault *v;
	struct person pp;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	person(3, &pp);
	create_person(v, &pp);
	json_decref(OK(v, "hold_place", 0, "{\"record\":\"%s\",\"purpose\":\"legal\","
	    "\"reason\":\"%s\"}", pp.tok, reason));

	char *bpath = NULL, live[600], raw[600];
	uint64_t bbytes = 0;
	cr_assert_eq(vault_backup(v, "reason", &bpath, &bbytes), 0, "%s", vault_last_message(v));
	vaultd_path(&p, "data/data.mdb", live, sizeof(live));
	vaultd_path(&p, "raw-reason.mdb", raw, sizeof(raw));
	copy_file(live, raw);
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	struct keyring *ring = attacker_ring(&p, root);
	cr_assert_gt(reason_opens(bpath, ring, reason), 0, "positive control: the backup's "
	    "reason opens while its epoch exists");
	keyring_free(ring);

	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	vault_keys_status_free(vaultd_wait_rotation(v, 60));
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	json_t *r = OK(v, "hold_list", 0, "{\"record\":\"%s\"}", pp.tok);
	json_t *h = json_array_get(json_object_get(r, "holds"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(h, "reason")), reason,
	    "the live hold's reason was resealed and reads");
	json_decref(r);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	ring = attacker_ring(&p, root);
	cr_assert_eq(keyring_count(ring, KEYRING_KEK), 1, "epoch 1 is retired");
	cr_assert_eq(reason_opens(bpath, ring, reason), 0, "the backup: no key opens the reason");
	cr_assert_eq(reason_opens(raw, ring, reason), 0, "the raw copy: no key opens the reason");
	cr_assert_gt(reason_opens(live, ring, reason), 0, "the live file: under epoch %u", epoch);
	keyring_free(ring);
	sodium_free(root);
	free(pp.tok);
	vault_free(bpath);
	vaultd_cleanup(&p);
}

/*
 * How many times the keyed hash of a permission reference, under any key
 * of ring that could have keyed it (a KEK epoch through "vreason3" subkey
 * 2, as vaultd does now; an index key through "vpriv001" subkey 2, as it
 * did before), occurs anywhere in the file at path: what an attacker with
 * the ring and a guess can confirm.
 */
static size_t
permission_confirms(const char *path, const struct keyring *ring, const char *ref)
{
	static const enum keyring_kind kinds_[] = { KEYRING_KEK, KEYRING_INDEX };
	size_t len, hits = 0;
	uint8_t *b = (uint8_t *)read_file_all(path, &len);
	cr_assert_not_null(b, "%s", path);
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < keyring_count(ring, kinds_[k]); i++) {
			uint32_t ver = keyring_version_at(ring, kinds_[k], i);
			uint8_t key[crypto_generichash_KEYBYTES], idb[8] = { 0 }, h[32];
			crypto_generichash_state st;
			crypto_kdf_derive_from_key(key, sizeof(key), 2,
			    kinds_[k] == KEYRING_KEK ? "vreason3" : "vpriv001",
			    keyring_key(ring, kinds_[k], ver));
			crypto_generichash_init(&st, key, sizeof(key), sizeof(h));
			crypto_generichash_update(&st, (const uint8_t *)"permission",
			    sizeof("permission"));
			crypto_generichash_update(&st, idb, sizeof(idb));
			crypto_generichash_update(&st, (const uint8_t *)ref, strlen(ref));
			crypto_generichash_final(&st, h, sizeof(h));
			sodium_memzero(key, sizeof(key));
			for (const uint8_t *q = b; (q = memmem(q, len - (size_t)(q - b), h,
			    sizeof(h))) != NULL; q++)
				hits++;
		}
	free(b);
	return hits;
}

/*
 * An agent's request names the written permission; the reference may name
 * the person. A backup and a raw copy taken while the request is open hold
 * its keyed hash: once the epoch current at request_open is retired, no
 * key of the ring confirms the reference in any copy (issue 13: what a
 * request keeps must die with the horizon). Fails with the hash keyed by
 * an index key, which no retire destroys.
 */
Test(forensic_blind, a_permission_reference_dies_with_its_epoch_in_every_copy, .timeout = 120)
{
	static const char ref[] = "power of attorney for Jane Roe, notary file 2026-4411";
	struct vaultd_proc p;
	struct vault *v;
	vaultd_start(&p, NULL);
	cr_assert_eq(vault_connect(p.socket, &v), 0);
	json_decref(OK(v, "request_open", 0, "{\"kind\":\"delete\",\"channel\":\"mail\","
	    "\"requester\":\"agent\",\"permission\":\"%s\"}", ref));

	char *bpath = NULL, live[600], raw[600];
	uint64_t bbytes = 0;
	cr_assert_eq(vault_backup(v, "permission", &bpath, &bbytes), 0, "%s",
	    vault_last_message(v));
	vaultd_path(&p, "data/data.mdb", live, sizeof(live));
	vaultd_path(&p, "raw-permission.mdb", raw, sizeof(raw));
	copy_file(live, raw);
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	struct keyring *ring = attacker_ring(&p, root);
	cr_assert_gt(permission_confirms(bpath, ring, ref), 0, "positive control: the "
	    "backup confirms the reference while its epoch exists");
	cr_assert_eq(permission_confirms(bpath, ring, "power of attorney for John Doe"), 0,
	    "a wrong guess is not confirmed");
	keyring_free(ring);

	cr_assert_eq(vault_keys_rotate(v, "kek", NULL), 0, "%s", vault_last_message(v));
	vault_keys_status_free(vaultd_wait_rotation(v, 60));
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	vault_close(v);
	cr_assert_eq(vaultd_stop(&p), 0);

	ring = attacker_ring(&p, root);
	cr_assert_eq(keyring_count(ring, KEYRING_KEK), 1, "epoch 1 is retired");
	cr_assert_eq(permission_confirms(bpath, ring, ref), 0, "the backup confirms the reference");
	cr_assert_eq(permission_confirms(raw, ring, ref), 0, "the raw copy confirms the reference");
	cr_assert_eq(permission_confirms(live, ring, ref), 0, "the live file confirms the reference");
	keyring_free(ring);
	sodium_free(root);
	vault_free(bpath);
	vaultd_cleanup(&p);
}
