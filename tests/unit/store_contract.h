/*
 * store_contract.h - the contract every backend of the storage interface
 * (store.h) keeps: point reads and writes, key order, cursors and writes
 * through them, nested batches, snapshots, and how long returned values
 * live. Each backend's unit test includes it (test_store.c for LMDB,
 * test_store_pgsql.c for PostgreSQL) after defining:
 *
 *   CONTRACT_SUITE        the Criterion suite the tests join
 *   struct store st       the store under test
 *   contract_open(void)   opens st on a new, empty store
 */
#ifndef VAULT_TESTS_STORE_CONTRACT_H
#define VAULT_TESTS_STORE_CONTRACT_H

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "vault/store/store.h"

static struct store_txn *
contract_begin(unsigned flags)
{
	struct store_txn *txn = NULL;
	int rc = store_txn_begin(&st, NULL, flags, &txn);
	cr_assert_eq(rc, 0, "store_txn_begin: %s", store_strerror(rc));
	return txn;
}

static void
put_str(struct store_txn *txn, enum store_table t, const char *key, const char *val,
    unsigned flags, int want)
{
	struct store_val k = { strlen(key), key }, v = { strlen(val), val };
	int rc = store_put(txn, t, &k, &v, flags);
	cr_assert_eq(rc, want, "put %s: %d (%s)", key, rc, store_strerror(rc));
}

static int
get_str(struct store_txn *txn, enum store_table t, const char *key, char *out, size_t cap)
{
	struct store_val k = { strlen(key), key }, v;
	int rc = store_get(txn, t, &k, &v);
	if (rc == 0) {
		cr_assert_lt(v.len, cap);
		memcpy(out, v.data, v.len);
		out[v.len] = '\0';
	}
	return rc;
}

Test(CONTRACT_SUITE, point_reads_and_writes)
{
	char out[64];
	contract_open();
	struct store_txn *txn = contract_begin(0);
	put_str(txn, STORE_HOLDS, "k1", "one", 0, 0);
	put_str(txn, STORE_HOLDS, "k1", "uno", STORE_NOOVERWRITE, STORE_EXISTS);
	put_str(txn, STORE_HOLDS, "k2", "two", STORE_NOOVERWRITE, 0);
	put_str(txn, STORE_HOLDS, "k2", "deux", 0, 0); /* plain put replaces */
	/* Tables are separate key spaces. */
	cr_assert_eq(get_str(txn, STORE_REQUESTS, "k1", out, sizeof out), STORE_NOTFOUND);
	cr_assert_eq(get_str(txn, STORE_HOLDS, "k1", out, sizeof out), 0);
	cr_assert_str_eq(out, "one");
	cr_assert_eq(get_str(txn, STORE_HOLDS, "k2", out, sizeof out), 0);
	cr_assert_str_eq(out, "deux");
	struct store_val k = { 2, "k1" };
	cr_assert_eq(store_del(txn, STORE_HOLDS, &k), 0);
	cr_assert_eq(store_del(txn, STORE_HOLDS, &k), STORE_NOTFOUND);
	cr_assert_eq(get_str(txn, STORE_HOLDS, "k1", out, sizeof out), STORE_NOTFOUND);
	cr_assert_eq(store_txn_commit(txn), 0);

	/* An aborted batch leaves nothing. */
	txn = contract_begin(0);
	put_str(txn, STORE_HOLDS, "k3", "three", 0, 0);
	store_txn_abort(txn);
	txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_HOLDS, "k3", out, sizeof out), STORE_NOTFOUND);
	uint64_t n;
	cr_assert_eq(store_count(txn, STORE_HOLDS, &n), 0);
	cr_assert_eq(n, 1);
	store_txn_abort(txn);
}

Test(CONTRACT_SUITE, cursors_walk_in_key_order)
{
	static const char *const keys[] = { "a", "ab", "b", "ba", "c" };
	struct store_val k, v;
	contract_open();
	struct store_txn *txn = contract_begin(0);
	for (size_t i = 5; i-- > 0;) /* inserted out of order */
		put_str(txn, STORE_TOMBSTONES, keys[i], keys[i], 0, 0);
	cr_assert_eq(store_txn_commit(txn), 0);

	txn = contract_begin(STORE_RDONLY);
	struct store_cursor *c;
	cr_assert_eq(store_cursor_open(txn, STORE_TOMBSTONES, &c), 0);
	size_t i = 0;
	int rc;
	for (rc = store_cursor_get(c, &k, &v, STORE_FIRST); rc == 0;
	    rc = store_cursor_get(c, &k, &v, STORE_NEXT), i++) {
		cr_assert_lt(i, 5);
		cr_assert_eq(k.len, strlen(keys[i]));
		cr_assert_eq(memcmp(k.data, keys[i], k.len), 0, "entry %zu out of order", i);
	}
	cr_assert_eq(rc, STORE_NOTFOUND);
	cr_assert_eq(i, 5);
	/* SET_RANGE: the first key >= the one given; past the end, not found. */
	k = (struct store_val){ 2, "aa" };
	cr_assert_eq(store_cursor_get(c, &k, &v, STORE_SET_RANGE), 0);
	cr_assert_eq(k.len, 2);
	cr_assert_eq(memcmp(k.data, "ab", 2), 0);
	cr_assert_eq(store_cursor_get(c, &k, &v, STORE_NEXT), 0);
	cr_assert_eq(memcmp(k.data, "b", 1), 0);
	k = (struct store_val){ 1, "d" };
	cr_assert_eq(store_cursor_get(c, &k, &v, STORE_SET_RANGE), STORE_NOTFOUND);
	store_cursor_close(c);
	/* An empty table: FIRST finds nothing. */
	cr_assert_eq(store_cursor_open(txn, STORE_DOCUMENTS, &c), 0);
	cr_assert_eq(store_cursor_get(c, &k, &v, STORE_FIRST), STORE_NOTFOUND);
	store_cursor_close(c);
	store_txn_abort(txn);
}

Test(CONTRACT_SUITE, cursor_put_and_del_keep_the_walk)
{
	static uint8_t big[2000];
	struct store_val k, v;
	char key[16];
	contract_open();
	memset(big, 'x', sizeof big);
	struct store_txn *txn = contract_begin(0);
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "r%03d", i);
		put_str(txn, STORE_RECORDS, key, "small", 0, 0);
	}
	struct store_cursor *c;
	cr_assert_eq(store_cursor_open(txn, STORE_RECORDS, &c), 0);
	int i = 0, rc;
	/* Every even entry grows (the node moves), every third is deleted. */
	for (rc = store_cursor_get(c, &k, &v, STORE_FIRST); rc == 0; i++) {
		char want[16];
		snprintf(want, sizeof want, "r%03d", i);
		cr_assert_eq(memcmp(k.data, want, 4), 0, "at %d", i);
		if (i % 3 == 0) {
			cr_assert_eq(store_cursor_del(c), 0);
		} else if (i % 2 == 0) {
			struct store_val nv = { sizeof big, big };
			cr_assert_eq(store_cursor_put(c, &nv), 0);
		}
		rc = store_cursor_get(c, &k, &v, STORE_NEXT);
	}
	cr_assert_eq(rc, STORE_NOTFOUND);
	cr_assert_eq(i, 100);
	store_cursor_close(c);
	cr_assert_eq(store_txn_commit(txn), 0);

	txn = contract_begin(STORE_RDONLY);
	uint64_t n;
	cr_assert_eq(store_count(txn, STORE_RECORDS, &n), 0);
	cr_assert_eq(n, 100 - 34);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "r%03d", i);
		struct store_val kk = { 4, key };
		rc = store_get(txn, STORE_RECORDS, &kk, &v);
		if (i % 3 == 0)
			cr_assert_eq(rc, STORE_NOTFOUND, "%s kept", key);
		else
			cr_assert_eq(v.len, i % 2 == 0 ? sizeof big : 5, "%s", key);
	}
	store_txn_abort(txn);
}

Test(CONTRACT_SUITE, a_nested_batch_commits_into_its_parent_or_aborts_alone)
{
	char out[16];
	contract_open();
	struct store_txn *parent = contract_begin(0), *child;
	put_str(parent, STORE_META, "p", "1", 0, 0);
	cr_assert_eq(store_txn_begin(&st, parent, 0, &child), 0);
	put_str(child, STORE_META, "kept", "1", 0, 0);
	cr_assert_eq(store_txn_commit(child), 0);
	cr_assert_eq(store_txn_begin(&st, parent, 0, &child), 0);
	put_str(child, STORE_META, "dropped", "1", 0, 0);
	cr_assert_eq(get_str(child, STORE_META, "p", out, sizeof out), 0,
	    "a nested batch sees its parent's writes");
	store_txn_abort(child);
	cr_assert_eq(get_str(parent, STORE_META, "dropped", out, sizeof out), STORE_NOTFOUND);
	cr_assert_eq(store_txn_commit(parent), 0);
	struct store_txn *txn = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(txn, STORE_META, "kept", out, sizeof out), 0);
	cr_assert_eq(get_str(txn, STORE_META, "p", out, sizeof out), 0);
	cr_assert_eq(get_str(txn, STORE_META, "dropped", out, sizeof out), STORE_NOTFOUND);
	store_txn_abort(txn);
}

Test(CONTRACT_SUITE, a_snapshot_sees_one_commit_until_renewed)
{
	char out[16];
	contract_open();
	struct store_txn *w = contract_begin(0);
	put_str(w, STORE_META, "x", "old", 0, 0);
	cr_assert_eq(store_txn_commit(w), 0);

	/* The snapshot is of the latest commit when it first reads, at the
	 * latest (LMDB: when it begins; PostgreSQL: its BEGIN goes with its
	 * first read), and stays so. */
	struct store_txn *r = contract_begin(STORE_RDONLY);
	cr_assert_eq(get_str(r, STORE_META, "x", out, sizeof out), 0);
	cr_assert_str_eq(out, "old");
	w = contract_begin(0);
	put_str(w, STORE_META, "x", "new", 0, 0);
	put_str(w, STORE_META, "y", "new", 0, 0);
	cr_assert_eq(store_txn_commit(w), 0);
	cr_assert_eq(get_str(r, STORE_META, "x", out, sizeof out), 0);
	cr_assert_str_eq(out, "old", "a snapshot saw a later commit");
	cr_assert_eq(get_str(r, STORE_META, "y", out, sizeof out), STORE_NOTFOUND,
	    "a snapshot saw a key of a later commit");
	store_txn_reset(r);
	cr_assert_eq(store_txn_renew(r), 0);
	cr_assert_eq(get_str(r, STORE_META, "x", out, sizeof out), 0);
	cr_assert_str_eq(out, "new", "a renewed snapshot missed the latest commit");
	store_txn_abort(r);
}

/* Keys sort as bytes, unsigned, a prefix before what extends it (memcmp,
 * then length): LMDB's default order, and bytea's. Values may be empty. */
Test(CONTRACT_SUITE, keys_sort_bytewise_and_values_may_be_empty)
{
	static const struct store_val sorted[] = {
		{ 1, "\x00" }, { 2, "\x00\x00" }, { 1, "\x01" }, { 1, "a" }, { 2, "ab" },
		{ 1, "\x7f" }, { 1, "\x80" }, { 1, "\xff" }, { 2, "\xff\x00" },
	};
	static const int order[] = { 6, 2, 8, 0, 4, 1, 7, 3, 5 };
	const size_t n = sizeof sorted / sizeof sorted[0];
	struct store_val k, v, empty = { 0, NULL };
	contract_open();
	struct store_txn *txn = contract_begin(0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(store_put(txn, STORE_DET_INDEX, &sorted[order[i]], &empty, 0), 0);
	cr_assert_eq(store_txn_commit(txn), 0);

	txn = contract_begin(STORE_RDONLY);
	struct store_cursor *c;
	cr_assert_eq(store_cursor_open(txn, STORE_DET_INDEX, &c), 0);
	size_t i = 0;
	int rc;
	for (rc = store_cursor_get(c, &k, &v, STORE_FIRST); rc == 0;
	    rc = store_cursor_get(c, &k, &v, STORE_NEXT), i++) {
		cr_assert_lt(i, n);
		cr_assert_eq(k.len, sorted[i].len, "entry %zu", i);
		cr_assert_eq(memcmp(k.data, sorted[i].data, k.len), 0, "entry %zu out of order", i);
		cr_assert_eq(v.len, 0, "an empty value came back with %zu bytes", v.len);
	}
	cr_assert_eq(rc, STORE_NOTFOUND);
	cr_assert_eq(i, n);
	k = (struct store_val){ 2, "\x80\x00" };
	cr_assert_eq(store_cursor_get(c, &k, &v, STORE_SET_RANGE), 0);
	cr_assert_eq(k.len, 1);
	cr_assert_eq(memcmp(k.data, "\xff", 1), 0);
	store_cursor_close(c);
	k = sorted[3];
	cr_assert_eq(store_get(txn, STORE_DET_INDEX, &k, &v), 0);
	cr_assert_eq(v.len, 0);
	store_txn_abort(txn);
}

/* A walk sees what its own batch wrote after the walk began. */
Test(CONTRACT_SUITE, a_walk_sees_its_batch_s_writes)
{
	struct store_val k, v;
	contract_open();
	struct store_txn *txn = contract_begin(0);
	put_str(txn, STORE_HOLDS, "a", "1", 0, 0);
	put_str(txn, STORE_HOLDS, "b", "2", 0, 0);
	put_str(txn, STORE_HOLDS, "d", "4", 0, 0);
	struct store_cursor *c;
	cr_assert_eq(store_cursor_open(txn, STORE_HOLDS, &c), 0);
	cr_assert_eq(store_cursor_get(c, &k, &v, STORE_FIRST), 0);
	cr_assert_eq(memcmp(k.data, "a", 1), 0);
	put_str(txn, STORE_HOLDS, "c", "3", 0, 0);
	struct store_val dk = { 1, "d" };
	cr_assert_eq(store_del(txn, STORE_HOLDS, &dk), 0);
	put_str(txn, STORE_HOLDS, "e", "5", 0, 0);
	static const char want[] = "bce";
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(store_cursor_get(c, &k, &v, STORE_NEXT), 0, "step %d", i);
		cr_assert_eq(k.len, 1);
		cr_assert_eq(((const char *)k.data)[0], want[i], "step %d: %c", i,
		    ((const char *)k.data)[0]);
	}
	cr_assert_eq(store_cursor_get(c, &k, &v, STORE_NEXT), STORE_NOTFOUND);
	store_cursor_close(c);
	cr_assert_eq(store_txn_commit(txn), 0);
}

/*
 * Values and keys from store_get and cursors stay as they were until the
 * transaction ends: across many more reads, pages of a long walk, and the
 * cursor's close.
 */
Test(CONTRACT_SUITE, returned_values_live_until_the_transaction_ends)
{
	enum { N = 700 };
	static struct store_val keys[N], vals[N];
	char key[16], val[32];
	contract_open();
	struct store_txn *txn = contract_begin(0);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "k%04d", i);
		snprintf(val, sizeof val, "value of %04d", i);
		put_str(txn, STORE_RECORDS, key, val, i % 2 ? STORE_APPEND : 0, 0);
	}
	cr_assert_eq(store_txn_commit(txn), 0);

	txn = contract_begin(STORE_RDONLY);
	struct store_val first_k = { 5, "k0000" }, first;
	cr_assert_eq(store_get(txn, STORE_RECORDS, &first_k, &first), 0);
	struct store_cursor *c;
	cr_assert_eq(store_cursor_open(txn, STORE_RECORDS, &c), 0);
	struct store_val k = { 5, "k0100" }, v;
	int i = 100, rc;
	for (rc = store_cursor_get(c, &k, &v, STORE_SET_RANGE); rc == 0;
	    rc = store_cursor_get(c, &k, &v, STORE_NEXT), i++) {
		cr_assert_lt(i, N);
		keys[i] = k;
		vals[i] = v;
	}
	cr_assert_eq(rc, STORE_NOTFOUND);
	cr_assert_eq(i, N);
	store_cursor_close(c);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "k%04d", i);
		struct store_val kk = { 5, key };
		cr_assert_eq(store_get(txn, STORE_RECORDS, &kk, &vals[i]), 0);
	}
	uint64_t n;
	cr_assert_eq(store_count(txn, STORE_RECORDS, &n), 0);
	cr_assert_eq(n, N);
	cr_assert_eq(first.len, 13);
	cr_assert_eq(memcmp(first.data, "value of 0000", 13), 0);
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof key, "k%04d", i);
		snprintf(val, sizeof val, "value of %04d", i);
		if (i >= 100) {
			cr_assert_eq(keys[i].len, 5);
			cr_assert_eq(memcmp(keys[i].data, key, 5), 0, "key %d changed", i);
		}
		cr_assert_eq(vals[i].len, 13);
		cr_assert_eq(memcmp(vals[i].data, val, 13), 0, "value %d changed", i);
	}
	store_txn_abort(txn);
}

#endif
