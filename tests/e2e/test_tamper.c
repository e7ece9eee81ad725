/*
 * test_tamper.c - end-to-end: stored records changed offline, as an attacker
 * who can write the data file but holds no key would (the service stopped,
 * data.mdb opened with LMDB directly), must be refused with VAULT_E_CRYPTO
 * and raise the record_tampered alert (status "alerts"), never read back as
 * if nothing happened.
 *
 * Each attack here succeeded before records carried a MAC (record_codec.h):
 * a changed created/updated time, generation, card or deterministic entry
 * read back without complaint, a cleared opt-out put the person on a
 * marketing list, a cleared hold let the record be deleted, an older field
 * ciphertext of the same record opened (its associated data did not bind
 * the generation), and an index entry pointed at another record resolved a
 * token to that record's value.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>
#include <vault/vault.h>

#include "harness.h"
#include "vault/store/record_codec.h"
#include "vault/store/store.h"

static struct vaultd_proc srv;

static void
setup(void)
{
	vaultd_start(&srv, NULL);
}

static void
teardown(void)
{
	vaultd_finish(&srv);
}

TestSuite(tamper, .init = setup, .fini = teardown, .timeout = 240);

#define T VAULT_PURPOSE_TRANSACTIONAL

/* ---- the service -------------------------------------------------------- */

static struct vault *
connect_vault(void)
{
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	return v;
}

/* A record with a card token and a deterministic email token; the same
 * shape (and so the same stored layout) for every email of one length. */
static char *
create(struct vault *v, const char *email, char **det, char **card)
{
	struct vault_record *r;
	char *tok, *t;
	cr_assert_eq(vault_record_new(&r), 0);
	vault_record_set(r, "first_name", "Ann");
	vault_record_set(r, "email", email);
	vault_record_set(r, "card_number", "4242424242424242");
	cr_assert_eq(vault_create(v, T, r, &tok), 0, "%s", vault_last_message(v));
	vault_record_free(r);
	cr_assert_eq(vault_tokenize(v, T, tok, "email", VAULT_TOKEN_DETERMINISTIC, &t), 0,
	    "%s", vault_last_message(v));
	if (det != NULL)
		*det = t;
	else
		vault_free(t);
	cr_assert_eq(vault_tokenize(v, T, tok, "card_number", VAULT_TOKEN_CARD, &t), 0,
	    "%s", vault_last_message(v));
	if (card != NULL)
		*card = t;
	else
		vault_free(t);
	return tok;
}

/* The read of every field: 0 or the error. */
static int
read_code(struct vault *v, enum vault_purpose purpose, const char *tok)
{
	struct vault_record *out = NULL;
	int rc = vault_read(v, purpose, tok, NULL, 0, 0, &out);
	if (rc == 0)
		vault_record_free(out);
	return rc;
}

/* The email as read, malloc'd; NULL on error (*code gets it). */
static char *
read_email(struct vault *v, const char *tok, int *code)
{
	static const char *const email[] = { "email" };
	struct vault_record *out = NULL;
	*code = vault_read(v, T, tok, email, 1, 0, &out);
	if (*code != 0)
		return NULL;
	char *s = strdup(vault_record_get(out, "email"));
	vault_record_free(out);
	return s;
}

/* status's alerts.record_tampered. */
static long long
tampered_alerts(struct vault *v)
{
	char *out = NULL;
	cr_assert_eq(vault_call_json(v, "status", 0, "{}", &out), 0);
	json_error_t e;
	json_t *j = json_loads(out, 0, &e);
	vault_free(out);
	cr_assert_not_null(j);
	json_t *n = json_object_get(json_object_get(j, "alerts"), "record_tampered");
	cr_assert(json_is_integer(n), "status has alerts.record_tampered");
	long long c = json_integer_value(n);
	json_decref(j);
	return c;
}

static void
stop(struct vault *v)
{
	vault_close(v);
	cr_assert_eq(vaultd_stop(&srv), 0);
}

/* ---- the attacker: the data file, offline ------------------------------- */

struct db {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi records, det_index, card_index;
};

static void
db_open(struct db *d)
{
	char dir[600];
	vaultd_path(&srv, "data", dir, sizeof(dir));
	cr_assert_eq(mdb_env_create(&d->env), 0);
	mdb_env_set_maxdbs(d->env, 16);
	mdb_env_set_mapsize(d->env, 256u << 20);
	cr_assert_eq(mdb_env_open(d->env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(d->env, NULL, 0, &d->txn), 0);
	cr_assert_eq(mdb_dbi_open(d->txn, "records", 0, &d->records), 0);
	cr_assert_eq(mdb_dbi_open(d->txn, "det_index", 0, &d->det_index), 0);
	cr_assert_eq(mdb_dbi_open(d->txn, "card_index", 0, &d->card_index), 0);
}

static void
db_close(struct db *d)
{
	cr_assert_eq(mdb_txn_commit(d->txn), 0);
	mdb_env_close(d->env);
}

/* A malloc'd copy of record id's stored value. */
static uint8_t *
get_record(struct db *d, uint64_t id, size_t *len)
{
	uint8_t kb[8];
	store_put_id(kb, id);
	MDB_val k = { 8, kb }, v;
	cr_assert_eq(mdb_get(d->txn, d->records, &k, &v), 0, "record %llu stored",
	    (unsigned long long)id);
	uint8_t *p = malloc(v.mv_size);
	memcpy(p, v.mv_data, v.mv_size);
	*len = v.mv_size;
	return p;
}

static void
put_record(struct db *d, uint64_t id, const uint8_t *p, size_t len)
{
	uint8_t kb[8];
	store_put_id(kb, id);
	MDB_val k = { 8, kb }, v = { len, (void *)p };
	cr_assert_eq(mdb_put(d->txn, d->records, &k, &v, 0), 0);
}

/* Offsets of the stored form (record_codec.c): flags, and the email
 * ciphertext found by decoding (decoding needs no key). */
#define OFF_FLAGS 1

static size_t
email_ct_offset(const uint8_t *p, size_t len, uint32_t *ct_len)
{
	struct record r;
	cr_assert_eq(record_decode(p, len, &r), 0);
	const struct record_field *f = record_field_get(&r, FIELD_EMAIL);
	cr_assert_not_null(f);
	*ct_len = f->ct_len;
	return (size_t)(f->ct - p);
}

/* Record ids: a fresh vault hands them out from 1, in creation order. */

/* ---- the attacks ------------------------------------------------------- */

/*
 * Every byte of one stored record inverted, one byte per record: the
 * header (format, flags, versions, times, wrapped key, generations), the
 * field ciphertexts, the card token section, the deterministic entries,
 * the document slots and the MAC itself.
 */
Test(tamper, every_byte_of_a_stored_record_flipped_is_detected)
{
	struct vault *v = connect_vault();
	char email[64];
	char *control = create(v, "p0000@example.com", NULL, NULL);
	stop(v);
	struct db d;
	size_t len;
	db_open(&d);
	free(get_record(&d, 1, &len));
	db_close(&d);
	fprintf(stderr, "tamper: flipping each of the %zu bytes of a stored record\n", len);

	/* One record per byte position, all of the same layout. */
	vaultd_restart(&srv);
	v = connect_vault();
	char **toks = calloc(len, sizeof(*toks));
	for (size_t i = 0; i < len; i++) {
		snprintf(email, sizeof(email), "p%04zu@example.com", i + 1);
		toks[i] = create(v, email, NULL, NULL);
		if (i % 2 == 0) /* half of them with flags set too */
			cr_assert_eq(vault_set_marketing_opt_out(v, T, toks[i], "email", 1), 0);
	}
	stop(v);

	db_open(&d);
	for (size_t i = 0; i < len; i++) {
		size_t n;
		uint8_t *p = get_record(&d, i + 2, &n);
		cr_assert_eq(n, len, "record %zu has the layout of the first", i + 2);
		p[i] ^= 0xff;
		put_record(&d, i + 2, p, n);
		free(p);
	}
	db_close(&d);

	vaultd_restart(&srv);
	v = connect_vault();
	long long before = tampered_alerts(v);
	for (size_t i = 0; i < len; i++) {
		int rc = read_code(v, T, toks[i]);
		cr_assert_eq(rc, VAULT_E_CRYPTO, "byte %zu inverted: read gave %s, want "
		    "VAULT_E_CRYPTO", i, vault_error_name(rc));
	}
	cr_assert_geq(tampered_alerts(v) - before, (long long)len,
	    "each refused read raised record_tampered");
	/* The untouched record reads. */
	cr_assert_eq(read_code(v, T, control), 0);
	for (size_t i = 0; i < len; i++)
		vault_free(toks[i]);
	free(toks);
	vault_free(control);
	vault_close(v);
}

/*
 * An update replaced the email; the attacker kept the stored value from
 * before it and puts the old email ciphertext back, alone (record 1) or
 * with its old generation (record 2).
 */
Test(tamper, field_ciphertext_rolled_back_is_detected)
{
	struct vault *v = connect_vault();
	char *a = create(v, "old1@example.com", NULL, NULL);
	char *b = create(v, "old2@example.com", NULL, NULL);
	stop(v);
	struct db d;
	size_t la, lb;
	db_open(&d);
	uint8_t *olda = get_record(&d, 1, &la), *oldb = get_record(&d, 2, &lb);
	db_close(&d);

	vaultd_restart(&srv);
	v = connect_vault();
	struct vault_record *r;
	vault_record_new(&r);
	vault_record_set(r, "email", "new1@example.com");
	cr_assert_eq(vault_update(v, T, a, r, NULL, 0, NULL, 0), 0, "%s", vault_last_message(v));
	vault_record_free(r);
	vault_record_new(&r);
	vault_record_set(r, "email", "new2@example.com");
	cr_assert_eq(vault_update(v, T, b, r, NULL, 0, NULL, 0), 0, "%s", vault_last_message(v));
	vault_record_free(r);
	stop(v);

	db_open(&d);
	size_t na, nb;
	uint8_t *cura = get_record(&d, 1, &na), *curb = get_record(&d, 2, &nb);
	/* Fields come first: the email ciphertext has the same place (the
	 * update dropped the deterministic entry, after it). */
	uint32_t ct_len, ct_len2;
	size_t off = email_ct_offset(olda, la, &ct_len);
	cr_assert_eq(email_ct_offset(cura, na, &ct_len2), off);
	cr_assert_eq(ct_len2, ct_len);
	memcpy(cura + off, olda + off, ct_len);
	put_record(&d, 1, cura, na);
	/* Record 2: the old ciphertext and the old header (generations). */
	off = email_ct_offset(oldb, lb, &ct_len);
	memcpy(curb, oldb, off + ct_len);
	put_record(&d, 2, curb, nb);
	db_close(&d);

	vaultd_restart(&srv);
	v = connect_vault();
	long long before = tampered_alerts(v);
	int code;
	char *got = read_email(v, a, &code);
	cr_assert_null(got, "the rolled-back email read back: %s", got ? got : "");
	cr_assert_eq(code, VAULT_E_CRYPTO);
	got = read_email(v, b, &code);
	cr_assert_null(got, "the rolled-back email and generation read back: %s", got ? got : "");
	cr_assert_eq(code, VAULT_E_CRYPTO);
	cr_assert_geq(tampered_alerts(v) - before, 2);
	free(olda);
	free(oldb);
	free(cura);
	free(curb);
	vault_free(a);
	vault_free(b);
	vault_close(v);
}

/* A person's email opt-out cleared in the data file: a marketing list by
 * email must not name them (before: it did, decrypting nothing). */
Test(tamper, cleared_opt_out_keeps_the_record_off_marketing_lists)
{
	struct vault *v = connect_vault();
	char *a = create(v, "optd@example.com", NULL, NULL);
	cr_assert_eq(vault_set_marketing_opt_out(v, T, a, "email", 1), 0);
	char **toks;
	size_t n;
	char *next;
	cr_assert_eq(vault_list(v, VAULT_PURPOSE_MARKETING, "email", NULL, 100, &toks, &n, &next), 0);
	cr_assert_eq(n, 0, "opted out: not listed");
	free(toks);
	stop(v);

	struct db d;
	size_t len;
	db_open(&d);
	uint8_t *p = get_record(&d, 1, &len);
	cr_assert(p[OFF_FLAGS] & CONSENT_OPT_OUT_EMAIL);
	p[OFF_FLAGS] &= (uint8_t)~CONSENT_OPT_OUT_EMAIL;
	put_record(&d, 1, p, len);
	db_close(&d);
	free(p);

	vaultd_restart(&srv);
	v = connect_vault();
	long long before = tampered_alerts(v);
	toks = NULL;
	n = 0;
	int rc = vault_list(v, VAULT_PURPOSE_MARKETING, "email", NULL, 100, &toks, &n, &next);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			vault_free(toks[i]);
		free(toks);
		vault_free(next);
	}
	cr_assert_eq(rc, VAULT_E_CRYPTO, "a marketing list by email gave %s with %zu records",
	    vault_error_name(rc), n);
	cr_assert_eq(read_code(v, VAULT_PURPOSE_MARKETING, a), VAULT_E_CRYPTO);
	cr_assert_geq(tampered_alerts(v) - before, 2);
	vault_free(a);
	vault_close(v);
}

/* A legal hold cleared in the data file: the record must not become
 * deletable (before: the delete went through and shredded it). */
Test(tamper, cleared_hold_does_not_let_the_record_be_deleted)
{
	struct vault *v = connect_vault();
	char *a = create(v, "held@example.com", NULL, NULL);
	char args[512], *out = NULL;
	snprintf(args, sizeof(args), "{\"record\":\"%s\",\"purpose\":\"legal\","
	    "\"reason\":\"litigation hold 26-17\"}", a);
	cr_assert_eq(vault_call_json(v, "hold_place", 0, args, &out), 0, "%s",
	    vault_last_message(v));
	vault_free(out);
	cr_assert_eq(vault_delete(v, T, a, VAULT_DELETE_ADMINISTRATIVE), VAULT_E_HELD);
	stop(v);

	struct db d;
	size_t len;
	db_open(&d);
	uint8_t *orig = get_record(&d, 1, &len), *p = malloc(len);
	memcpy(p, orig, len);
	cr_assert(p[OFF_FLAGS] & RECORD_FLAG_HELD);
	p[OFF_FLAGS] &= (uint8_t)~RECORD_FLAG_HELD;
	put_record(&d, 1, p, len);
	db_close(&d);

	vaultd_restart(&srv);
	v = connect_vault();
	long long before = tampered_alerts(v);
	int rc = vault_delete(v, T, a, VAULT_DELETE_ADMINISTRATIVE);
	cr_assert_eq(rc, VAULT_E_CRYPTO, "delete of the held record gave %s", vault_error_name(rc));
	cr_assert_geq(tampered_alerts(v) - before, 1);
	/* The alert is in the audit trail too, raised by the service itself. */
	struct vault_audit_filter f = { .client = "-" };
	struct vault_audit_entry *e;
	size_t ne, found = 0;
	cr_assert_eq(vault_audit_query(v, &f, &e, &ne), 0, "%s", vault_last_message(v));
	for (size_t i = 0; i < ne; i++)
		if (strcmp(e[i].op, "alert") == 0 && strcmp(e[i].outcome, "record_tampered") == 0)
			found++;
	vault_audit_entries_free(e, ne);
	cr_assert_geq(found, 1, "a record_tampered alert in the audit trail");
	stop(v);

	/* Nothing was erased: with the original bytes back, it is still held. */
	db_open(&d);
	put_record(&d, 1, orig, len);
	db_close(&d);
	vaultd_restart(&srv);
	v = connect_vault();
	cr_assert_eq(read_code(v, VAULT_PURPOSE_LEGAL, a), 0);
	cr_assert_eq(vault_delete(v, T, a, VAULT_DELETE_ADMINISTRATIVE), VAULT_E_HELD);
	free(orig);
	free(p);
	vault_free(a);
	vault_close(v);
}

/*
 * The card and deterministic indexes map tags to record ids outside the
 * records. Pointed at record 2, a's tokens must not resolve to 2's values.
 */
Test(tamper, index_entries_pointed_at_another_record_are_refused)
{
	struct vault *v = connect_vault();
	char *deta, *carda, *detb, *cardb;
	char *a = create(v, "alfa@example.com", &deta, &carda);
	char *b = create(v, "brvo@example.com", &detb, &cardb);
	stop(v);

	struct db d;
	db_open(&d);
	uint8_t idb[8];
	store_put_id(idb, 2);
	/* det_index: KEK epoch (4) + tag (16) + record id -> field (schema 3). */
	MDB_cursor *cur;
	MDB_val k, val;
	uint8_t key[4 + TOKEN_TAG_BYTES + 8], field = 0;
	int moved = 0;
	cr_assert_eq(mdb_cursor_open(d.txn, d.det_index, &cur), 0);
	for (int g = mdb_cursor_get(cur, &k, &val, MDB_FIRST); g == 0;
	    g = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
		if (k.mv_size == sizeof(key) &&
		    store_get_id((const uint8_t *)k.mv_data + 4 + TOKEN_TAG_BYTES) == 1) {
			memcpy(key, k.mv_data, sizeof(key));
			field = *(const uint8_t *)val.mv_data;
			moved = 1;
			break;
		}
	}
	mdb_cursor_close(cur);
	cr_assert(moved, "record 1's deterministic entry found");
	k.mv_size = sizeof(key);
	k.mv_data = key;
	cr_assert_eq(mdb_del(d.txn, d.det_index, &k, NULL), 0);
	memcpy(key + 4 + TOKEN_TAG_BYTES, idb, 8);
	val.mv_size = 1;
	val.mv_data = &field;
	cr_assert_eq(mdb_put(d.txn, d.det_index, &k, &val, 0), 0);
	/* card_index: index key -> record id. */
	moved = 0;
	cr_assert_eq(mdb_cursor_open(d.txn, d.card_index, &cur), 0);
	for (int g = mdb_cursor_get(cur, &k, &val, MDB_FIRST); g == 0;
	    g = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
		if (val.mv_size == 8 && store_get_id(val.mv_data) == 1) {
			MDB_val nv = { 8, idb };
			cr_assert_eq(mdb_cursor_put(cur, &k, &nv, MDB_CURRENT), 0);
			moved = 1;
			break;
		}
	}
	mdb_cursor_close(cur);
	cr_assert(moved, "record 1's card index entry found");
	db_close(&d);

	vaultd_restart(&srv);
	v = connect_vault();
	long long before = tampered_alerts(v);
	const char *toks[] = { deta, carda, detb, cardb };
	struct vault_detokenized *res;
	cr_assert_eq(vault_detokenize(v, T, toks, 4, &res), 0, "%s", vault_last_message(v));
	cr_assert_eq(res[0].error, VAULT_E_CRYPTO, "a's deterministic token gave %s (%s)",
	    vault_error_name(res[0].error), res[0].value ? res[0].value : "-");
	cr_assert_eq(res[1].error, VAULT_E_CRYPTO, "a's card token gave %s (%s)",
	    vault_error_name(res[1].error), res[1].value ? res[1].value : "-");
	/* b's own tokens, and b itself, are fine. */
	cr_assert_eq(res[2].error, 0);
	cr_assert_str_eq(res[2].value, "brvo@example.com");
	cr_assert_eq(res[3].error, 0);
	vault_detokenized_free(res, 4);
	cr_assert_geq(tampered_alerts(v) - before, 2);
	vault_free(deta);
	vault_free(carda);
	vault_free(detb);
	vault_free(cardb);
	vault_free(a);
	vault_free(b);
	vault_close(v);
}

/*
 * A rewrap to a new epoch must not launder a changed record into one with
 * a valid MAC under the new epoch: it is left on its old epoch (so that
 * epoch cannot be retired while it remains) and stays refused.
 */
Test(tamper, rotation_does_not_launder_a_changed_record)
{
	struct vault *v = connect_vault();
	char *a = create(v, "rot1@example.com", NULL, NULL);
	char *b = create(v, "rot2@example.com", NULL, NULL);
	stop(v);
	struct db d;
	size_t len;
	db_open(&d);
	uint8_t *p = get_record(&d, 1, &len);
	p[20] ^= 0x01; /* the updated time (record_codec.c): nothing else to notice it by */
	put_record(&d, 1, p, len);
	db_close(&d);
	free(p);

	vaultd_restart(&srv);
	v = connect_vault();
	long long before = tampered_alerts(v);
	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	struct vault_keys_status *st = NULL;
	for (int i = 0; i < 3000; i++) { /* the rewrap runs in the background */
		vault_keys_status_free(st);
		cr_assert_eq(vault_keys_status(v, &st), 0);
		if (!st->rotating)
			break;
		usleep(10000);
	}
	cr_assert_not(st->rotating, "rotation did not finish");
	for (size_t i = 0; i < st->nkek; i++)
		if (st->kek[i].version == 1)
			cr_assert_eq(st->kek[i].records, 1, "the changed record stays on epoch 1");
	vault_keys_status_free(st);
	cr_assert_geq(tampered_alerts(v) - before, 1, "the rewrap raised record_tampered");
	cr_assert_eq(read_code(v, T, a), VAULT_E_CRYPTO);
	cr_assert_eq(read_code(v, T, b), 0);
	uint64_t remaining = 0;
	cr_assert_neq(vault_keys_retire(v, 1, &remaining, NULL, NULL), 0,
	    "epoch 1 retired under a record that still needs it");
	vault_free(a);
	vault_free(b);
	vault_close(v);
}
