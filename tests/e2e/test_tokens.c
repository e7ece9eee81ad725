/*
 * test_tokens.c - end-to-end: bursts of token issuance and of failed token
 * resolutions are limited per client and raise an alert (a log line, an
 * audit entry, a counter in status). The limits are set low here
 * ([limits] token_issue_per_minute, token_failures_per_minute); the
 * windows are fixed minutes, so every loop goes on to twice the limit plus
 * one: even a window that turns over mid-loop cannot let it through.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <vault/vault.h>

#include "harness.h"

#define ISSUE_LIMIT 20
#define FAIL_LIMIT 10

static struct vaultd_proc srv;
static struct vault *v;

static void
setup(void)
{
	char ini[200];
	snprintf(ini, sizeof(ini), "[limits]\ntoken_issue_per_minute = %d\n"
	    "token_failures_per_minute = %d\n", ISSUE_LIMIT, FAIL_LIMIT);
	vaultd_start(&srv, ini);
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
}

static void
teardown(void)
{
	vault_close(v);
	vaultd_finish(&srv);
}

TestSuite(tokens, .init = setup, .fini = teardown, .timeout = 120);

static json_t *
call(const char *op, enum vault_purpose p, const char *args, int *rc)
{
	char *res = NULL;
	*rc = vault_call_json(v, op, p, args, &res);
	if (*rc != 0)
		return NULL;
	json_error_t je;
	json_t *j = json_loads(res, 0, &je);
	vault_free(res);
	cr_assert_not_null(j);
	return j;
}

static char *
create_card_record(char **card_token)
{
	int rc;
	json_t *r = call("create", VAULT_PURPOSE_TRANSACTIONAL,
	    "{\"fields\":{\"email\":\"ada@example.com\",\"card_number\":\"4242424242424242\"},"
	    "\"tokens\":[{\"field\":\"card_number\",\"kind\":\"card\"}]}", &rc);
	cr_assert_eq(rc, 0, "%s", vault_last_message(v));
	char *rec = strdup(json_string_value(json_object_get(r, "record")));
	if (card_token)
		*card_token = strdup(json_string_value(json_object_get(
		    json_array_get(json_object_get(r, "tokens"), 0), "token")));
	json_decref(r);
	return rec;
}

static json_int_t
alerts(const char *kind)
{
	int rc;
	json_t *s = call("status", 0, "{}", &rc);
	cr_assert_eq(rc, 0);
	json_t *n = json_object_get(json_object_get(s, "alerts"), kind);
	cr_assert(json_is_integer(n), "status has no alerts.%s", kind);
	json_int_t x = json_integer_value(n);
	json_decref(s);
	return x;
}

/* Audit entries of op "alert" with outcome kind. */
static size_t
audited_alerts(const char *kind)
{
	int rc;
	json_t *q = call("audit_query", 0, "{\"client\":\"tests\"}", &rc);
	cr_assert_eq(rc, 0, "%s", vault_last_message(v));
	json_t *e;
	size_t i, n = 0;
	json_array_foreach(json_object_get(q, "entries"), i, e) {
		const char *op = json_string_value(json_object_get(e, "op"));
		const char *out = json_string_value(json_object_get(e, "outcome"));
		n += op && out && strcmp(op, "alert") == 0 && strcmp(out, kind) == 0;
	}
	json_decref(q);
	return n;
}

static int
log_mentions(const char *s)
{
	size_t n;
	char *log = read_file_all(srv.log, &n);
	int found = log != NULL && strstr(log, s) != NULL;
	free(log);
	return found;
}

Test(tokens, a_burst_of_deterministic_tokens_is_refused_and_alerted)
{
	char *rec = create_card_record(NULL), args[256];
	snprintf(args, sizeof(args), "{\"record\":\"%s\",\"tokens\":["
	    "{\"field\":\"email\",\"kind\":\"deterministic\"}]}", rec);
	int rc = 0, issued = 0;
	for (int i = 0; i < 2 * ISSUE_LIMIT + 1; i++) {
		json_t *r = call("tokenize", VAULT_PURPOSE_TRANSACTIONAL, args, &rc);
		json_decref(r);
		if (rc != 0)
			break;
		issued++;
	}
	cr_assert_eq(rc, VAULT_E_RATE_LIMITED, "after %d tokens: %s", issued,
	    vault_error_name(rc));
	cr_assert_leq(issued, 2 * ISSUE_LIMIT);
	cr_assert_not_null(strstr(vault_last_message(v),
	    "more deterministic and card tokens this minute than token_issue_per_minute"),
	    "%s", vault_last_message(v));
	/* More refusals in the same window raise no more alerts. */
	for (int i = 0; i < 3; i++) {
		json_t *r = call("tokenize", VAULT_PURPOSE_TRANSACTIONAL, args, &rc);
		json_decref(r);
	}
	cr_assert_eq(alerts("token_burst"), 1);
	cr_assert_eq(audited_alerts("token_burst"), 1);
	cr_assert(log_mentions("security alert token_burst: client tests"));
	/* Opaque tokens reveal nothing and are not limited. */
	snprintf(args, sizeof(args), "{\"record\":\"%s\",\"tokens\":["
	    "{\"field\":\"email\",\"kind\":\"opaque\"}]}", rec);
	json_decref(call("tokenize", VAULT_PURPOSE_TRANSACTIONAL, args, &rc));
	cr_assert_eq(rc, 0, "%s", vault_error_name(rc));
	/* Card tokens count too: a create asking for one is refused as well,
	 * before anything is written (unless the window turned over). */
	time_t before = time(NULL);
	json_t *r = call("create", VAULT_PURPOSE_TRANSACTIONAL,
	    "{\"fields\":{\"card_number\":\"4242424242424242\"},"
	    "\"tokens\":[{\"field\":\"card_number\",\"kind\":\"card\"}]}", &rc);
	json_decref(r);
	if (before / 60 == time(NULL) / 60 && alerts("token_burst") == 1)
		cr_assert_eq(rc, VAULT_E_RATE_LIMITED, "%s", vault_error_name(rc));
	free(rec);
}

/* A Luhn-valid 16-digit string ending in 4242 from n (not a token, almost
 * always: 3-4 of its digits would have to be the right MAC). */
static void
forged_card_token(unsigned n, char out[17])
{
	snprintf(out, 17, "%010u04242", n);
	for (char c = '0'; c <= '9'; c++) {
		unsigned sum = 0;
		out[11] = c;
		for (size_t i = 0; i < 16; i++) {
			unsigned x = (unsigned)(out[15 - i] - '0');
			if (i % 2 == 1 && (x *= 2) > 9)
				x -= 9;
			sum += x;
		}
		if (sum % 10 == 0)
			return;
	}
}

/*
 * Enumerating card tokens of a known last four: every guess that does not
 * resolve counts, and past the limit nothing more is looked up, not even a
 * genuine token in the same request.
 */
Test(tokens, enumerating_card_tokens_is_cut_off_and_alerted)
{
	char *card = NULL;
	char *rec = create_card_record(&card);
	enum { N = 2 * FAIL_LIMIT + 10 };
	const char *toks[N];
	char forged[N][17];
	for (unsigned i = 0; i < N; i++) {
		forged_card_token(1000003u * i + 7, forged[i]);
		toks[i] = forged[i];
	}
	toks[N - 1] = card; /* the one that would resolve */
	struct vault_detokenized *res;
	time_t before = time(NULL);
	int rc = vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, toks, N, &res);
	cr_assert_eq(rc, 0, "%s", vault_last_message(v));
	unsigned failed = 0, limited = 0;
	for (unsigned i = 0; i < N; i++) {
		if (res[i].error == VAULT_E_BAD_TOKEN || res[i].error == VAULT_E_NOT_FOUND)
			failed++;
		else if (res[i].error == VAULT_E_RATE_LIMITED)
			limited++;
		cr_assert_null(res[i].value, "token %u resolved during an enumeration", i);
	}
	vault_detokenized_free(res, N);
	cr_assert_eq(failed, FAIL_LIMIT, "one request, one window: exactly the limit answered");
	cr_assert_eq(limited, N - FAIL_LIMIT);

	/* The rest of the minute the client is refused before any lookup. */
	const char *one[] = { card };
	rc = vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, one, 1, &res);
	if (before / 60 == time(NULL) / 60) {
		cr_assert_eq(rc, VAULT_E_RATE_LIMITED, "%s", vault_error_name(rc));
		cr_assert_not_null(strstr(vault_last_message(v), "more tokens that did not resolve "
		    "this minute than token_failures_per_minute"), "%s",
		    vault_last_message(v));
	} else if (rc == 0) {
		vault_detokenized_free(res, 1);
	}
	cr_assert_eq(alerts("token_failures"), 1);
	cr_assert_eq(audited_alerts("token_failures"), 1);
	cr_assert(log_mentions("security alert token_failures: client tests"));
	free(card);
	free(rec);
}

/* Stale and deleted tokens are answers about tokens the vault issued, not
 * guesses: they do not count. */
Test(tokens, stale_tokens_do_not_count_as_failures)
{
	char *rec = create_card_record(NULL), args[256];
	int rc;
	snprintf(args, sizeof(args), "{\"record\":\"%s\",\"tokens\":["
	    "{\"field\":\"email\",\"kind\":\"opaque\"}]}", rec);
	json_t *r = call("tokenize", VAULT_PURPOSE_TRANSACTIONAL, args, &rc);
	cr_assert_eq(rc, 0);
	char *tok = strdup(json_string_value(json_object_get(
	    json_array_get(json_object_get(r, "tokens"), 0), "token")));
	json_decref(r);
	snprintf(args, sizeof(args), "{\"record\":\"%s\",\"set\":{\"email\":\"bob@example.com\"}}",
	    rec);
	json_decref(call("update", VAULT_PURPOSE_TRANSACTIONAL, args, &rc));
	cr_assert_eq(rc, 0);
	const char *toks[3 * FAIL_LIMIT];
	for (unsigned i = 0; i < 3 * FAIL_LIMIT; i++)
		toks[i] = tok;
	struct vault_detokenized *res;
	cr_assert_eq(vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, toks, 3 * FAIL_LIMIT,
	    &res), 0);
	for (unsigned i = 0; i < 3 * FAIL_LIMIT; i++)
		cr_assert_eq(res[i].error, VAULT_E_STALE_TOKEN, "token %u: %s", i,
		    vault_error_name(res[i].error));
	vault_detokenized_free(res, 3 * FAIL_LIMIT);
	cr_assert_eq(alerts("token_failures"), 0);
	free(tok);
	free(rec);
}

/*
 * A deterministic token of a retired KEK epoch is a bad token (issue 13):
 * refused with its own message, and counted like any other failure, so
 * old tokens cannot be replayed past token_failures_per_minute either.
 */
Test(tokens, det_tokens_of_a_retired_epoch_are_refused_and_counted)
{
	char *rec = create_card_record(NULL), *det = NULL, *fresh = NULL;
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "email",
	    VAULT_TOKEN_DETERMINISTIC, &det), 0, "%s", vault_last_message(v));
	cr_assert(strncmp(det, "det_1_", 6) == 0, "%s", det);
	uint32_t epoch = 0;
	cr_assert_eq(vault_keys_rotate(v, "kek", &epoch), 0, "%s", vault_last_message(v));
	struct vault_keys_status *st = NULL;
	for (int i = 0; i < 3000; i++) {
		vault_keys_status_free(st);
		cr_assert_eq(vault_keys_status(v, &st), 0);
		if (!st->rotating)
			break;
		usleep(10000);
	}
	cr_assert(!st->rotating, "rotation did not finish");
	vault_keys_status_free(st);
	cr_assert_eq(vault_keys_retire(v, 1, NULL, NULL, NULL), 0, "%s", vault_last_message(v));

	/* Its own message, through the JSON reply. */
	char args[256];
	int rc;
	snprintf(args, sizeof(args), "{\"tokens\":[\"%s\"]}", det);
	json_t *r = call("detokenize", VAULT_PURPOSE_TRANSACTIONAL, args, &rc);
	cr_assert_eq(rc, 0);
	json_t *res0 = json_array_get(json_object_get(r, "results"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(res0, "name")), "VAULT_E_BAD_TOKEN");
	cr_assert_str_eq(json_string_value(json_object_get(res0, "message")),
	    "deterministic token of a retired key epoch; ask for a new one");
	json_decref(r);

	/* A new token of the same value resolves, under epoch 2. */
	cr_assert_eq(vault_tokenize(v, VAULT_PURPOSE_TRANSACTIONAL, rec, "email",
	    VAULT_TOKEN_DETERMINISTIC, &fresh), 0);
	cr_assert(strncmp(fresh, "det_2_", 6) == 0, "%s", fresh);
	const char *one[] = { fresh };
	struct vault_detokenized *res;
	cr_assert_eq(vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, one, 1, &res), 0);
	cr_assert_eq(res[0].error, 0);
	cr_assert_str_eq(res[0].value, "ada@example.com");
	vault_detokenized_free(res, 1);

	/* Replayed: counted against token_failures_per_minute. */
	const char *toks[2 * FAIL_LIMIT + 1];
	for (unsigned i = 0; i < 2 * FAIL_LIMIT + 1; i++)
		toks[i] = det;
	cr_assert_eq(vault_detokenize(v, VAULT_PURPOSE_TRANSACTIONAL, toks, 2 * FAIL_LIMIT + 1,
	    &res), 0);
	cr_assert_eq(res[2 * FAIL_LIMIT].error, VAULT_E_RATE_LIMITED, "the last one gave %s",
	    vault_error_name(res[2 * FAIL_LIMIT].error));
	vault_detokenized_free(res, 2 * FAIL_LIMIT + 1);
	cr_assert_geq(alerts("token_failures"), 1);
	vault_free(det);
	vault_free(fresh);
	free(rec);
}
