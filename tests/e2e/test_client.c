/*
 * test_client.c - end-to-end: the walkthrough through the client library
 * against a real vaultd.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "harness.h"

static struct vaultd_proc srv;
static struct vault *v;

static void
setup(void)
{
	vaultd_start(&srv, NULL);
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
}

static void
teardown(void)
{
	vault_close(v);
	vaultd_finish(&srv);
}

TestSuite(client, .init = setup, .fini = teardown);

static char *
make_record(void)
{
	struct vault_record *r;
	char *tok = NULL;
	cr_assert_eq(vault_record_new(&r), 0);
	vault_record_set(r, "first_name", "  Jane ");
	vault_record_set(r, "last_name", "Doe");
	vault_record_set(r, "email", "Jane.Doe@Example.COM");
	vault_record_set(r, "phone", "(858) 375-5875");
	vault_record_set(r, "card_number", "4242 4242 4242 4242");
	vault_record_set(r, "card_expiry", "12/39");
	int rc = vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok);
	cr_assert_eq(rc, 0, "create: %s %s", vault_error_name(rc), vault_last_message(v));
	vault_record_free(r);
	return tok;
}

Test(client, create_read_normalized)
{
	char *tok = make_record();
	cr_assert(strncmp(tok, "rec_1_", 6) == 0);
	struct vault_record *out;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok, NULL, 0, 0, &out), 0);
	cr_assert_str_eq(vault_record_get(out, "first_name"), "Jane");
	cr_assert_str_eq(vault_record_get(out, "email"), "Jane.Doe@example.com");
	cr_assert_str_eq(vault_record_get(out, "phone"), "+18583755875");
	cr_assert_str_eq(vault_record_get(out, "card_number"), "4242424242424242");
	cr_assert_eq(vault_record_field_count(out), 6);
	vault_record_free(out);

	const char *want[] = { "email" };
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, tok, want, 1, 0, &out), 0);
	cr_assert_eq(vault_record_field_count(out), 1);
	cr_assert_str_eq(vault_record_get(out, "email"), "Jane.Doe@example.com");
	vault_record_free(out);
	vault_free(tok);
}

Test(client, invalid_value_names_field)
{
	struct vault_record *r;
	char *tok = NULL;
	vault_record_new(&r);
	vault_record_set(r, "card_number", "4242 4242 4242 4241");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), VAULT_E_INVALID_VALUE);
	cr_assert_not_null(strstr(vault_last_message(v), "card_number"));
	cr_assert_null(strstr(vault_last_message(v), "4242"), "no value in errors");
	vault_record_free(r);

	vault_record_new(&r);
	vault_record_set(r, "shoe_size", "9");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &tok), VAULT_E_UNKNOWN_FIELD);
	vault_record_free(r);
}

Test(client, tokens_all_kinds)
{
	char *rec = make_record();
	char *opaque, *opaque2, *card, *det, *det2;
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "email",
	    VAULT_TOKEN_OPAQUE, &opaque), 0);
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "email",
	    VAULT_TOKEN_OPAQUE, &opaque2), 0);
	cr_assert_str_neq(opaque, opaque2, "opaque tokens differ per issuance");
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "card_number",
	    VAULT_TOKEN_CARD, &card), 0);
	cr_assert_eq(strlen(card), 16);
	cr_assert_str_eq(card + 12, "4242");
	cr_assert_str_neq(card, "4242424242424242");
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "email",
	    VAULT_TOKEN_DETERMINISTIC, &det), 0);

	/* The same value in another record gives the same deterministic token. */
	char *rec2 = make_record();
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec2, "email",
	    VAULT_TOKEN_DETERMINISTIC, &det2), 0);
	cr_assert_str_eq(det, det2);

	const char *toks[] = { opaque, card, det, "tok_1_forgedforgedforgedforgedforgedforgedforgedfo" };
	struct vault_detokenized *res;
	cr_assert_eq(vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, toks, 4, &res), 0);
	cr_assert_eq(res[0].error, 0);
	cr_assert_str_eq(res[0].field, "email");
	cr_assert_str_eq(res[0].value, "Jane.Doe@example.com");
	cr_assert_eq(res[1].error, 0);
	cr_assert_str_eq(res[1].value, "4242424242424242");
	cr_assert_eq(res[2].error, 0);
	cr_assert_str_eq(res[2].value, "Jane.Doe@example.com");
	cr_assert_eq(res[3].error, VAULT_E_BAD_TOKEN);
	vault_detokenized_free(res, 4);

	/* A deterministic token of the card survives issuing its card token. */
	char *card_det;
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "card_number",
	    VAULT_TOKEN_DETERMINISTIC, &card_det), 0);
	const char *cd[] = { card_det };
	cr_assert_eq(vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, cd, 1, &res), 0);
	cr_assert_eq(res[0].error, 0, "%s", vault_error_name(res[0].error));
	vault_detokenized_free(res, 1);
	vault_free(card_det);

	/* A card token asked again for the same card is the same token. */
	char *card2;
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "card_number",
	    VAULT_TOKEN_CARD, &card2), 0);
	cr_assert_str_eq(card, card2);
	vault_free(card2);

	/* Updating the email makes its opaque token stale. */
	struct vault_record *set;
	vault_record_new(&set);
	vault_record_set(set, "email", "new@example.org");
	cr_assert_eq(vault_update(v, VAULT_PURPOSE_TRANSACTIONAL, rec, set, NULL, 0, NULL, 0), 0);
	vault_record_free(set);
	const char *t1[] = { opaque };
	cr_assert_eq(vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, t1, 1, &res), 0);
	cr_assert_eq(res[0].error, VAULT_E_STALE_TOKEN);
	vault_detokenized_free(res, 1);

	vault_free(opaque);
	vault_free(opaque2);
	vault_free(card);
	vault_free(det);
	vault_free(det2);
	vault_free(rec);
	vault_free(rec2);
}

Test(client, delete_then_deleted)
{
	char *rec = make_record();
	char *opaque, *card;
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "phone",
	    VAULT_TOKEN_OPAQUE, &opaque), 0);
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "card_number",
	    VAULT_TOKEN_CARD, &card), 0);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, rec,
	    VAULT_DELETE_SUBJECT_REQUEST), 0);

	struct vault_record *out = NULL;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, 0, 0, &out),
	    VAULT_E_DELETED);
	cr_assert_eq(vault_delete(v, VAULT_PURPOSE_TRANSACTIONAL, rec,
	    VAULT_DELETE_SUBJECT_REQUEST), VAULT_E_DELETED);
	const char *toks[] = { opaque, card };
	struct vault_detokenized *res;
	cr_assert_eq(vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, toks, 2, &res), 0);
	cr_assert_eq(res[0].error, VAULT_E_DELETED);
	cr_assert_eq(res[1].error, VAULT_E_NOT_FOUND);
	vault_detokenized_free(res, 2);

	struct vault_status st;
	cr_assert_eq(vault_status(v, &st), 0);
	cr_assert_eq(st.tombstones, 1);
	vault_free(opaque);
	vault_free(card);
	vault_free(rec);
}

Test(client, documents_roundtrip)
{
	struct vault_record *r;
	char *rec;
	static unsigned char pdf[70000];
	for (size_t i = 0; i < sizeof(pdf); i++)
		pdf[i] = (unsigned char)(i * 7);
	vault_record_new(&r);
	vault_record_set(r, "last_name", "Doe");
	vault_record_add_document(r, "order-17.pdf", "application/pdf", pdf, sizeof(pdf));
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &rec), 0);
	vault_record_free(r);

	struct vault_record *out;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, 0, 1, &out), 0);
	cr_assert_eq(vault_record_document_count(out), 1);
	uint32_t slot;
	const char *name, *type;
	const void *data;
	size_t len;
	cr_assert_eq(vault_record_document_at(out, 0, &slot, &name, &type, &data, &len), 0);
	cr_assert_eq(slot, 1);
	cr_assert_str_eq(name, "order-17.pdf");
	cr_assert_eq(len, sizeof(pdf));
	cr_assert_eq(memcmp(data, pdf, len), 0);
	vault_record_free(out);

	/* Two more, then read one by slot; the slots are listed on every read. */
	struct vault_record *add;
	vault_record_new(&add);
	vault_record_add_document(add, "a.txt", "text/plain", "alpha", 5);
	vault_record_add_document(add, "b.txt", "text/plain", "bravo", 5);
	cr_assert_eq(vault_update(v, VAULT_PURPOSE_TRANSACTIONAL, rec, add, NULL, 0, NULL, 0), 0);
	vault_record_free(add);
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, 0, 0, &out), 0);
	const uint32_t *slots;
	cr_assert_eq(vault_record_document_slots(out, &slots), 3);
	cr_assert_eq(slots[0], 1);
	cr_assert_eq(slots[2], 3);
	cr_assert_eq(vault_record_document_count(out), 0, "contents only when asked");
	vault_record_free(out);
	cr_assert_eq(vault_read_document(v, VAULT_PURPOSE_TRANSACTIONAL, rec, 3, &out), 0);
	cr_assert_eq(vault_record_document_count(out), 1);
	cr_assert_eq(vault_record_document_at(out, 0, &slot, &name, &type, &data, &len), 0);
	cr_assert_str_eq(name, "b.txt");
	cr_assert_eq(len, 5);
	cr_assert_eq(memcmp(data, "bravo", 5), 0);
	vault_record_free(out);
	cr_assert_eq(vault_read_document(v, VAULT_PURPOSE_TRANSACTIONAL, rec, 9, &out),
	    VAULT_E_NOT_FOUND);

	/* A slot listed twice is removed once, and the limit still holds. */
	uint32_t rm2[] = { 2, 2 };
	cr_assert_eq(vault_update(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, NULL, 0, rm2, 2), 0);
	uint32_t rm3[] = { 3 };
	cr_assert_eq(vault_update(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, NULL, 0, rm3, 1), 0);
	uint32_t rm[] = { 1 };
	cr_assert_eq(vault_update(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, NULL, 0, rm, 1), 0);
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, 0, 1, &out), 0);
	cr_assert_eq(vault_record_document_count(out), 0);
	vault_record_free(out);
	vault_free(rec);
}

Test(client, restart_keeps_data)
{
	char *rec = make_record();
	cr_assert_eq(vaultd_stop(&srv), 0);
	vault_close(v);
	vaultd_restart(&srv);
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	struct vault_record *out;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, 0, 0, &out), 0);
	cr_assert_str_eq(vault_record_get(out, "last_name"), "Doe");
	vault_record_free(out);
	vault_free(rec);
}

Test(client, update_cannot_empty_a_record)
{
	struct vault_record *r;
	char *rec;
	vault_record_new(&r);
	vault_record_set(r, "last_name", "Solo");
	cr_assert_eq(vault_create(v, VAULT_PURPOSE_TRANSACTIONAL, r, &rec), 0);
	vault_record_free(r);
	const char *clear[] = { "last_name" };
	cr_assert_eq(vault_update(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, clear, 1, NULL, 0),
	    VAULT_E_EMPTY);
	struct vault_record *out;
	cr_assert_eq(vault_read(v, VAULT_PURPOSE_TRANSACTIONAL, rec, NULL, 0, 0, &out), 0);
	cr_assert_str_eq(vault_record_get(out, "last_name"), "Solo");
	vault_record_free(out);
	vault_free(rec);
}
