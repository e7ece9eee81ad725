/*
 * test_forensic_tags.c - end-to-end: deterministic-token tags and card
 * index entries fall under the erasure horizon (issue 13).
 *
 * A real vaultd holds 40 people; each gets deterministic tokens of email,
 * phone and first name and a card token. A backup and a raw copy of
 * data.mdb are taken, half the people are deleted, the KEK is rotated and
 * the old epoch retired. Then an attacker holding the current ring file and
 * root key computes, for every deleted person, the deterministic tags and
 * card index keys under every key the ring holds (every KEK epoch, token
 * key and index key version), with both the derivations of schema 2
 * (token-key subkeys "vtokens1" 5 and 8) and those of schema 3 ("vdettag2",
 * "vcardix2"), and searches every file in the vault's directory: the live
 * file, the backup, the raw copy, whatever else is left there. Nothing may
 * match. The same search finds the live people's entries (control).
 *
 * Along the way: a det token issued before the rotation resolves after it
 * and answers BAD_TOKEN ("retired key epoch") after the retire, a new one
 * of the same value resolves, card tokens resolve throughout (and after a
 * restore of the old backup), and keys status counts each epoch's
 * deterministic index entries.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sodium.h>
#include <vault/vault.h>

#include "harness.h"
#include "keys/keyring.h"
#include "vault/record/fields.h"

#define T VAULT_PURPOSE_TRANSACTIONAL
#define N 40
#define DOMAIN "tests"  /* the harness's client: its default join domain */
#define TAG 16

static struct vaultd_proc srv;

static void
setup(void)
{
	cr_assert_geq(sodium_init(), 0);
	/* One record per rewrap step: card tokens are resolved mid-rotation. */
	vaultd_start(&srv, "[keys]\nrotation_batch = 1\n");
}

static void
teardown(void)
{
	vaultd_finish(&srv);
}

TestSuite(forensic_tags, .init = setup, .fini = teardown, .timeout = 240);

static const uint8_t det_fields[] = { FIELD_EMAIL, FIELD_PHONE, FIELD_FIRST_NAME };
#define NDET (sizeof(det_fields) / sizeof(det_fields[0]))

struct person {
	char email[64], phone[32], name[32], card[20];
	char *rec, *det[NDET], *card_tok;
};
static struct person people[N];

static const char *
value_of(const struct person *p, uint8_t field)
{
	return field == FIELD_EMAIL ? p->email : field == FIELD_PHONE ? p->phone : p->name;
}

/* A Luhn-valid 16-digit card number, distinct per i. */
static void
make_card(int i, char out[20])
{
	snprintf(out, 20, "4%09u%05u", (unsigned)(100000 + i * 7919) % 1000000000u,
	    (unsigned)i % 100000u);
	int sum = 0;
	for (int k = 14; k >= 0; k--) {
		int d = out[k] - '0';
		if ((14 - k) % 2 == 0) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	out[15] = (char)('0' + (10 - sum % 10) % 10);
	out[16] = '\0';
}

static struct vault *
connect_vault(void)
{
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	return v;
}

/* The detokenize reply of one token, as JSON text (vault_free). */
static char *
detokenize_json(struct vault *v, const char *tok)
{
	char args[256], *res = NULL;
	snprintf(args, sizeof(args), "{\"tokens\":[\"%s\"]}", tok);
	cr_assert_eq(vault_call_json(v, "detokenize", T, args, &res), 0, "%s",
	    vault_last_message(v));
	return res;
}

static void
expect_resolves(struct vault *v, const char *tok, const char *value, const char *when)
{
	struct vault_detokenized *res;
	cr_assert_eq(vault_detokenize(v, T, &tok, 1, &res), 0, "%s", vault_last_message(v));
	cr_assert_eq(res[0].error, 0, "%s: %s gave %s", when, tok, vault_error_name(res[0].error));
	cr_assert_str_eq(res[0].value, value, "%s: %s", when, tok);
	vault_detokenized_free(res, 1);
}

static const struct vault_key_version *
kek_of(const struct vault_keys_status *st, uint32_t epoch)
{
	for (size_t i = 0; i < st->nkek; i++)
		if (st->kek[i].version == epoch)
			return &st->kek[i];
	return NULL;
}

/* ---- the attacker ------------------------------------------------------- */

/* Keyed BLAKE2b-128 over the parts (how token.c hashes). */
static void
hash2(const uint8_t sub[32], const void *a, size_t alen, const void *b, size_t blen,
    const void *c, size_t clen, uint8_t out[TAG])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, sub, 32, TAG);
	crypto_generichash_update(&st, a, alen);
	crypto_generichash_update(&st, b, blen);
	crypto_generichash_update(&st, c, clen);
	crypto_generichash_final(&st, out, TAG);
}

static void
det_tag(const uint8_t sub[32], uint8_t field, const char *value, uint8_t out[TAG])
{
	uint8_t head[2 + sizeof(DOMAIN) - 1 + 1] = { 0xff, (uint8_t)(sizeof(DOMAIN) - 1) };
	memcpy(head + 2, DOMAIN, sizeof(DOMAIN) - 1);
	head[sizeof(head) - 1] = field;
	hash2(sub, head, sizeof(head), value, strlen(value), NULL, 0, out);
}

static void
card_key(const uint8_t sub[32], const char *token, uint8_t out[TAG])
{
	uint8_t dom = 'i';
	hash2(sub, &dom, 1, token, strlen(token), NULL, 0, out);
}

/* Subkeys a tag could be keyed with: every ring key, old and new contexts. */
struct subkeys {
	size_t n;
	uint8_t det[3 * 64 * 2][32], card[3 * 64 * 2][32];
	char what[3 * 64 * 2][48];
};

static void
derive_all(const struct keyring *ring, struct subkeys *sk)
{
	static const enum keyring_kind kinds[] = { KEYRING_KEK, KEYRING_TOKEN, KEYRING_INDEX };
	static const char *const names[] = { "kek", "token", "index" };
	sk->n = 0;
	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < keyring_count(ring, kinds[k]) && sk->n + 2 <= 3 * 64 * 2; i++) {
			uint32_t ver = keyring_version_at(ring, kinds[k], i);
			const uint8_t *key = keyring_key(ring, kinds[k], ver);
			/* Schema 2: token-key subkeys 5 (det tag) and 8 (card index). */
			crypto_kdf_derive_from_key(sk->det[sk->n], 32, 5, "vtokens1", key);
			crypto_kdf_derive_from_key(sk->card[sk->n], 32, 8, "vtokens1", key);
			snprintf(sk->what[sk->n], 48, "%s %u, schema 2 derivation", names[k], ver);
			sk->n++;
			/* Schema 3: KEK-epoch subkeys. */
			crypto_kdf_derive_from_key(sk->det[sk->n], 32, 1, "vdettag2", key);
			crypto_kdf_derive_from_key(sk->card[sk->n], 32, 1, "vcardix2", key);
			snprintf(sk->what[sk->n], 48, "%s %u, schema 3 derivation", names[k], ver);
			sk->n++;
		}
	}
}

struct file {
	char path[600];
	uint8_t *p;
	size_t n;
};
static struct file files[64];
static size_t nfiles;

static int
collect(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag != FTW_F || !S_ISREG(st->st_mode) || nfiles == 64)
		return 0;
	struct file *f = &files[nfiles++];
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->p = (uint8_t *)read_file_all(path, &f->n);
	cr_assert_not_null(f->p, "cannot read %s", path);
	return 0;
}

/* How many files hold needle; the first one's name goes to *where. */
static int
hits(const uint8_t needle[TAG], const char *only, const char **where)
{
	int n = 0;
	for (size_t i = 0; i < nfiles; i++) {
		if (only != NULL && strcmp(files[i].path, only) != 0)
			continue;
		if (files[i].n >= TAG && memmem(files[i].p, files[i].n, needle, TAG) != NULL) {
			if (n++ == 0 && where)
				*where = files[i].path;
		}
	}
	return n;
}

Test(forensic_tags, deleted_peoples_tags_and_card_keys_are_gone_from_every_copy)
{
	struct vault *v = connect_vault();
	for (int i = 0; i < N; i++) {
		struct person *p = &people[i];
		struct vault_record *r;
		snprintf(p->email, sizeof(p->email), "person%02d@example.com", i);
		snprintf(p->phone, sizeof(p->phone), "+1555%07d", 1000 + i);
		snprintf(p->name, sizeof(p->name), "Name%02d", i);
		make_card(i, p->card);
		cr_assert_eq(vault_record_new(&r), 0);
		vault_record_set(r, "email", p->email);
		vault_record_set(r, "phone", p->phone);
		vault_record_set(r, "first_name", p->name);
		vault_record_set(r, "card_number", p->card);
		cr_assert_eq(vault_create(v, T, r, &p->rec), 0, "%s", vault_last_message(v));
		vault_record_free(r);
		for (size_t f = 0; f < NDET; f++) {
			cr_assert_eq(vault_tokenize(v, T, p->rec, field_by_id(det_fields[f])->name,
			    VAULT_TOKEN_DETERMINISTIC, &p->det[f]), 0, "%s", vault_last_message(v));
			cr_assert(strncmp(p->det[f], "det_1_", 6) == 0, "%s", p->det[f]);
		}
		cr_assert_eq(vault_tokenize(v, T, p->rec, "card_number", VAULT_TOKEN_CARD,
		    &p->card_tok), 0, "%s", vault_last_message(v));
	}
	expect_resolves(v, people[1].card_tok, people[1].card, "card token before the rotation");

	/* The attacker's copies, taken before the deletion. */
	char *bpath = NULL, live[600], raw[600];
	uint64_t bbytes;
	cr_assert_eq(vault_backup(v, "before-delete", &bpath, &bbytes), 0, "%s",
	    vault_last_message(v));
	vaultd_path(&srv, "data/data.mdb", live, sizeof(live));
	vaultd_path(&srv, "raw-copy-of-data.mdb", raw, sizeof(raw));
	size_t n;
	char *img = read_file_all(live, &n);
	cr_assert_not_null(img);
	FILE *out = fopen(raw, "w");
	cr_assert_not_null(out);
	cr_assert_eq(fwrite(img, 1, n, out), n);
	fclose(out);
	free(img);

	for (int i = 0; i < N; i += 2)
		cr_assert_eq(vault_delete(v, T, people[i].rec, VAULT_DELETE_SUBJECT_REQUEST), 0,
		    "%s", vault_last_message(v));

	/* keys status: epoch 1 keys the live people's det entries. */
	struct vault_keys_status *st;
	cr_assert_eq(vault_keys_status(v, &st), 0);
	cr_assert_eq(kek_of(st, 1)->det_entries, (N / 2) * NDET, "epoch 1 det entries: %llu",
	    (unsigned long long)kek_of(st, 1)->det_entries);
	vault_keys_status_free(st);

	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	cr_assert_eq(epoch, 2);
	/* During the rewrap (one record a step): card tokens keep resolving. */
	for (int i = 1; i < N; i += 2)
		expect_resolves(v, people[i].card_tok, people[i].card, "card token during the rotation");
	st = vaultd_wait_rotation(v, 30);
	cr_assert_eq(kek_of(st, 1)->records, 0);
	/* Old det entries stay until the retire: tokens handed out resolve. */
	cr_assert_eq(kek_of(st, 1)->det_entries, (N / 2) * NDET);
	cr_assert_eq(kek_of(st, 2)->det_entries, 0);
	vault_keys_status_free(st);
	expect_resolves(v, people[1].det[0], people[1].email, "det token after the rotation");
	expect_resolves(v, people[3].card_tok, people[3].card, "card token after the rotation");

	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	cr_assert_eq(vault_keys_status(v, &st), 0);
	cr_assert_null(kek_of(st, 1));
	cr_assert_eq(kek_of(st, 2)->det_entries, 0);
	vault_keys_status_free(st);

	/* An old det token: refused as of a retired epoch, counted as a failure. */
	char *res = detokenize_json(v, people[1].det[0]);
	cr_assert_not_null(strstr(res, "\"VAULT_E_BAD_TOKEN\""), "%s", res);
	cr_assert_not_null(strstr(res, "deterministic token of a retired key epoch; ask for a "
	    "new one"), "%s", res);
	vault_free(res);

	/* New det tokens of the live people (epoch 2) resolve; card tokens too. */
	for (int i = 1; i < N; i += 2) {
		for (size_t f = 0; f < NDET; f++) {
			char *d;
			cr_assert_eq(vault_tokenize(v, T, people[i].rec,
			    field_by_id(det_fields[f])->name, VAULT_TOKEN_DETERMINISTIC, &d), 0);
			cr_assert(strncmp(d, "det_2_", 6) == 0, "%s", d);
			expect_resolves(v, d, value_of(&people[i], det_fields[f]), "a new det token");
			vault_free(d);
		}
		expect_resolves(v, people[i].card_tok, people[i].card, "card token after the retire");
	}
	cr_assert_eq(vault_keys_status(v, &st), 0);
	cr_assert_eq(kek_of(st, 2)->det_entries, (N / 2) * NDET);
	vault_keys_status_free(st);
	vault_close(v);
	cr_assert_eq(vaultd_stop(&srv), 0);

	/* The attacker: the current ring and its root key, every file. */
	char ring_path[600], root_path[600];
	vaultd_path(&srv, "keys/keyring", ring_path, sizeof(ring_path));
	vaultd_path(&srv, "keys/root.key", root_path, sizeof(root_path));
	uint8_t *root = sodium_malloc(KEYRING_KEY_BYTES);
	const char *why = NULL;
	struct keyring *ring;
	cr_assert_eq(keyring_root_key_read(root_path, root, &why), 0, "%s", why);
	cr_assert_eq(keyring_load(ring_path, root, &ring, &why), 0, "%s", why);
	struct subkeys *sk = calloc(1, sizeof(*sk));
	cr_assert_not_null(sk);
	derive_all(ring, sk);
	cr_assert_geq(sk->n, 6, "KEK, token and index keys, two derivations each");
	nfiles = 0;
	cr_assert_eq(nftw(srv.dir, collect, 16, FTW_PHYS), 0);
	int saw_backup = 0, saw_raw = 0;
	size_t bytes = 0;
	for (size_t i = 0; i < nfiles; i++) {
		saw_backup |= strcmp(files[i].path, bpath) == 0;
		saw_raw |= strcmp(files[i].path, raw) == 0;
		bytes += files[i].n;
	}
	cr_assert(saw_backup && saw_raw, "the backup and the raw copy are searched");

	size_t tried = 0;
	for (int i = 0; i < N; i += 2) {
		for (size_t k = 0; k < sk->n; k++) {
			uint8_t needle[TAG];
			const char *where = NULL;
			for (size_t f = 0; f < NDET; f++) {
				det_tag(sk->det[k], det_fields[f], value_of(&people[i], det_fields[f]),
				    needle);
				cr_assert_eq(hits(needle, NULL, &where), 0, "deleted person %d's %s "
				    "confirmed under %s in %s", i, field_by_id(det_fields[f])->name,
				    sk->what[k], where);
				tried++;
			}
			card_key(sk->card[k], people[i].card_tok, needle);
			cr_assert_eq(hits(needle, NULL, &where), 0, "deleted person %d's card "
			    "token linked under %s in %s", i, sk->what[k], where);
			tried++;
		}
	}
	/* Control: the live people, under KEK epoch 2, in the live file. */
	uint8_t det2[32], card2[32], needle[TAG];
	crypto_kdf_derive_from_key(det2, 32, 1, "vdettag2", keyring_key(ring, KEYRING_KEK, 2));
	crypto_kdf_derive_from_key(card2, 32, 1, "vcardix2", keyring_key(ring, KEYRING_KEK, 2));
	for (int i = 1; i < N; i += 2) {
		for (size_t f = 0; f < NDET; f++) {
			det_tag(det2, det_fields[f], value_of(&people[i], det_fields[f]), needle);
			cr_assert_gt(hits(needle, live, NULL), 0, "live person %d's %s not found",
			    i, field_by_id(det_fields[f])->name);
		}
		card_key(card2, people[i].card_tok, needle);
		cr_assert_gt(hits(needle, live, NULL), 0, "live person %d's card key not found", i);
	}
	fprintf(stderr, "forensic tags: %zu tags of %d deleted people tried against %zu files "
	    "(%zu bytes): no hit; every live person's tags found\n", tried, N / 2, nfiles, bytes);

	for (size_t i = 0; i < nfiles; i++)
		free(files[i].p);

	/*
	 * Restore the backup taken before the rotation: its records come back
	 * rekeyed from the live store, their card index entries re-keyed
	 * under the live epoch (they were under the retired one), so card
	 * tokens keep resolving; the deleted people stay deleted.
	 */
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		execl(getenv("VAULTD"), "vaultd", "-c", srv.config, "--restore", bpath, (char *)NULL);
		_exit(127);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "restore exits 0");
	vaultd_restart(&srv);
	v = connect_vault();
	for (int i = 1; i < N; i += 2)
		expect_resolves(v, people[i].card_tok, people[i].card, "card token after a restore");
	res = detokenize_json(v, people[1].det[1]);
	cr_assert_not_null(strstr(res, "retired key epoch"), "%s", res);
	vault_free(res);
	char *d;
	cr_assert_eq(vault_tokenize(v, T, people[1].rec, "phone", VAULT_TOKEN_DETERMINISTIC, &d), 0);
	expect_resolves(v, d, people[1].phone, "a new det token after a restore");
	vault_free(d);
	struct vault_record *gone;
	cr_assert_eq(vault_read(v, T, people[0].rec, NULL, 0, 0, &gone), VAULT_E_DELETED);

	/*
	 * Records holding det entries of a retired epoch shrink at their next
	 * rewrap (the entries are dropped): det tokens under epoch 2, rotate
	 * to 3, retire 2, rotate to 4. Every record must come through whole.
	 */
	for (int i = 1; i < N; i += 2)
		for (size_t f = 0; f < NDET; f++) {
			cr_assert_eq(vault_tokenize(v, T, people[i].rec,
			    field_by_id(det_fields[f])->name, VAULT_TOKEN_DETERMINISTIC, &d), 0);
			vault_free(d);
		}
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	vault_keys_status_free(vaultd_wait_rotation(v, 30));
	cr_assert_eq(vault_keys_retire(v, 2, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	cr_assert_eq(epoch, 4);
	st = vaultd_wait_rotation(v, 30);
	cr_assert_eq(kek_of(st, 3)->records, 0, "every record rewrapped");
	cr_assert_eq(kek_of(st, 3)->det_entries, 0);
	cr_assert_eq(kek_of(st, 4)->det_entries, 0);
	vault_keys_status_free(st);
	for (int i = 1; i < N; i += 2) {
		struct vault_record *rd;
		cr_assert_eq(vault_read(v, T, people[i].rec, NULL, 0, 0, &rd), 0,
		    "person %d after the shrinking rewrap: %s", i, vault_last_message(v));
		vault_record_free(rd);
		expect_resolves(v, people[i].card_tok, people[i].card, "card token after epoch 4");
		cr_assert_eq(vault_tokenize(v, T, people[i].rec, "email", VAULT_TOKEN_DETERMINISTIC,
		    &d), 0, "%s", vault_last_message(v));
		cr_assert(strncmp(d, "det_4_", 6) == 0, "%s", d);
		expect_resolves(v, d, people[i].email, "a det token of epoch 4");
		vault_free(d);
	}
	vault_close(v);
	free(sk);
	keyring_free(ring);
	sodium_free(root);
	for (int i = 0; i < N; i++) {
		vault_free(people[i].rec);
		for (size_t f = 0; f < NDET; f++)
			vault_free(people[i].det[f]);
		vault_free(people[i].card_tok);
	}
	vault_free(bpath);
}

/*
 * keys_rotate_record moves a record to the current epoch ahead of the
 * rewrap (which then skips it): its card index entry must move too, or
 * the card token stops resolving once the old epoch is retired.
 */
Test(forensic_tags, card_token_survives_rotate_record_ahead_of_the_rewrap)
{
	enum { PAD = 300 };
	struct vault *v = connect_vault();
	for (int i = 0; i < PAD; i++) {
		struct vault_record *r;
		char *tok;
		char email[64];
		snprintf(email, sizeof(email), "pad%03d@example.com", i);
		cr_assert_eq(vault_record_new(&r), 0);
		vault_record_set(r, "email", email);
		cr_assert_eq(vault_create(v, T, r, &tok), 0, "%s", vault_last_message(v));
		vault_record_free(r);
		vault_free(tok);
	}
	/* The last id: the rewrap (in id order, one record a step) reaches it last. */
	struct vault_record *r;
	char card[20], *rec, *ctok;
	make_card(7, card);
	cr_assert_eq(vault_record_new(&r), 0);
	vault_record_set(r, "card_number", card);
	cr_assert_eq(vault_create(v, T, r, &rec), 0, "%s", vault_last_message(v));
	vault_record_free(r);
	cr_assert_eq(vault_tokenize(v, T, rec, "card_number", VAULT_TOKEN_CARD, &ctok), 0);

	uint32_t epoch = 0, dv = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	cr_assert_eq(vault_keys_rotate_record(v, rec, &dv), 0, "%s", vault_last_message(v));
	struct vault_keys_status *st;
	cr_assert_eq(vault_keys_status(v, &st), 0);
	cr_assert(st->rotating, "the rewrap had not reached the record yet");
	vault_keys_status_free(st);
	expect_resolves(v, ctok, card, "card token during the rotation");
	vault_keys_status_free(vaultd_wait_rotation(v, 30));
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));
	expect_resolves(v, ctok, card, "card token after the retire");
	vault_free(ctok);
	vault_free(rec);
	vault_close(v);
}
