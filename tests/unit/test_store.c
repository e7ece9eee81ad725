/*
 * test_store.c - the LMDB environment (store.h): creation and reopening,
 * the schema check, the record id allocator's starting point, and how
 * LMDB errors (above all a full map) become vault errors.
 *
 * Each test opens its own environment in a fresh temporary directory.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "vault/store/store.h"

#define MAP_DEFAULT ((size_t)64 << 20)
#define MAP_TINY ((size_t)1 << 20)
#define READERS 16

static char dir[64];
static struct store st;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/vault-store-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	memset(&st, 0, sizeof st);
}

static void
teardown(void)
{
	store_close(&st);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------- */

static void
open_ok(size_t map_size)
{
	const char *why = NULL;
	int rc = store_open(&st, dir, map_size, READERS, &why);
	cr_assert_eq(rc, 0, "store_open: %d %s", rc, why ? why : "");
	cr_assert_not_null(st.env);
}

static MDB_txn *
begin(unsigned flags)
{
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(st.env, NULL, flags, &txn);
	cr_assert_eq(rc, 0, "mdb_txn_begin: %s", mdb_strerror(rc));
	return txn;
}

static void
put_meta(const char *k, const void *v, size_t vlen)
{
	MDB_txn *txn = begin(0);
	MDB_val key = { strlen(k), (void *)k }, val = { vlen, (void *)v };
	cr_assert_eq(mdb_put(txn, st.meta, &key, &val, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
}

/* ---- tests ------------------------------------------------------------ */

Test(store, open_creates_the_databases)
{
	static const char *const names[] = {
		"meta", "records", "documents", "tombstones", "card_index", "det_index",
	};
	char path[128];
	struct stat sb;

	open_ok(MAP_DEFAULT);
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	cr_assert_eq(stat(path, &sb), 0, "no data file");
	cr_assert_eq(sb.st_mode & 077, 0, "data file mode %o", sb.st_mode & 0777);

	/* Every named database exists (opened without MDB_CREATE). */
	MDB_txn *txn = begin(MDB_RDONLY);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		MDB_dbi dbi;
		int rc = mdb_dbi_open(txn, names[i], 0, &dbi);
		cr_assert_eq(rc, 0, "database %s: %s", names[i], mdb_strerror(rc));
	}
	/* The schema version is recorded. */
	MDB_val k = { 6, "schema" }, v;
	cr_assert_eq(mdb_get(txn, st.meta, &k, &v), 0);
	cr_assert_eq(v.mv_size, 4);
	cr_assert_eq(memcmp(v.mv_data, "\0\0\0\3", 4), 0);
	mdb_txn_abort(txn);
	/* The handles are distinct. */
	MDB_dbi all[] = { st.meta, st.records, st.documents, st.tombstones, st.card_index, st.det_index };
	for (size_t i = 0; i < 6; i++)
		for (size_t j = 0; j < i; j++)
			cr_assert_neq(all[i], all[j]);
}

Test(store, reopen_keeps_data)
{
	uint8_t id[8];
	open_ok(MAP_DEFAULT);
	store_put_id(id, 7);
	MDB_txn *txn = begin(0);
	MDB_val k = { 8, id }, v = { 5, "hello" };
	cr_assert_eq(mdb_put(txn, st.records, &k, &v, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	store_close(&st);
	cr_assert_null(st.env);
	store_close(&st); /* twice is harmless */

	open_ok(MAP_DEFAULT);
	txn = begin(MDB_RDONLY);
	cr_assert_eq(mdb_get(txn, st.records, &k, &v), 0);
	cr_assert_eq(v.mv_size, 5);
	cr_assert_eq(memcmp(v.mv_data, "hello", 5), 0);
	mdb_txn_abort(txn);
}

Test(store, other_schema_version_refused)
{
	static const struct { const char *v; size_t len; } bad[] = {
		/* 1: records without a MAC; 2: token indexes and blind tags keyed by
		 * keys no retire erases (issue 13); both refused rather than upgraded. */
		{ "\0\0\0\1", 4 }, { "\0\0\0\2", 4 }, { "\0\0\0\4", 4 }, { "\0\0\0\0", 4 },
		{ "\1\0\0\3", 4 }, { "\0\0\3", 3 }, { "\0\0\0\3\0", 5 }, { "", 0 },
	};
	char top[sizeof dir];
	memcpy(top, dir, sizeof dir);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = NULL;
		/* A fresh environment per case, under the test's directory. */
		snprintf(dir, sizeof dir, "%s/%zu", top, i);
		cr_assert_eq(mkdir(dir, 0700), 0);
		open_ok(MAP_DEFAULT);
		put_meta("schema", bad[i].v, bad[i].len);
		store_close(&st);
		int rc = store_open(&st, dir, MAP_DEFAULT, READERS, &why);
		cr_assert_eq(rc, VAULT_E_CONFIG, "schema case %zu: rc %d", i, rc);
		cr_assert_not_null(why);
		if (i == 0) /* says why, for a data directory made before the MAC */
			cr_assert_not_null(strstr(why, "schema 1"), "%s", why);
		if (i == 1) /* and for one whose token indexes no retire erases */
			cr_assert_not_null(strstr(why, "schema 2"), "%s", why);
		cr_assert_null(st.env, "environment left open after a refusal");
	}
	memcpy(dir, top, sizeof dir);
}

Test(store, missing_directory_is_a_storage_error)
{
	char path[128];
	const char *why = NULL;
	snprintf(path, sizeof path, "%s/does-not-exist", dir);
	cr_assert_eq(store_open(&st, path, MAP_DEFAULT, READERS, &why), VAULT_E_STORAGE);
	cr_assert_not_null(why);
	cr_assert_null(st.env);
}

Test(store, next_id)
{
	uint64_t next = 0;
	uint8_t v[8];
	open_ok(MAP_DEFAULT);

	MDB_txn *txn = begin(MDB_RDONLY);
	cr_assert_eq(store_next_id(&st, txn, &next), 0);
	cr_assert_eq(next, 1, "an empty store starts at 1");
	mdb_txn_abort(txn);

	store_put_id(v, 0x0102030405060708u);
	put_meta("next_id", v, 8);
	txn = begin(MDB_RDONLY);
	cr_assert_eq(store_next_id(&st, txn, &next), 0);
	cr_assert_eq(next, 0x0102030405060708u);
	mdb_txn_abort(txn);

	put_meta("next_id", v, 7);
	txn = begin(MDB_RDONLY);
	cr_assert_eq(store_next_id(&st, txn, &next), VAULT_E_CRYPTO, "a 7-byte next_id");
	mdb_txn_abort(txn);
}

Test(store, ids_are_big_endian)
{
	uint8_t a[8], b[8];
	store_put_id(a, 0x0102030405060708u);
	cr_assert_arr_eq(a, ((uint8_t[]){ 1, 2, 3, 4, 5, 6, 7, 8 }), 8);
	static const uint64_t ids[] = { 0, 1, 255, 256, 0xffffffffu, UINT64_MAX };
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		store_put_id(a, ids[i]);
		cr_assert_eq(store_get_id(a), ids[i]);
		/* Byte order sorts like the numbers: creates append. */
		if (i > 0) {
			store_put_id(b, ids[i - 1]);
			cr_assert_lt(memcmp(b, a, 8), 0);
		}
	}
}

Test(store, error_mapping)
{
	cr_assert_eq(store_error(MDB_SUCCESS), 0);
	cr_assert_eq(store_error(MDB_MAP_FULL), VAULT_E_NO_SPACE);
	cr_assert_eq(store_error(MDB_TXN_FULL), VAULT_E_NO_SPACE);
	cr_assert_eq(store_error(ENOSPC), VAULT_E_NO_SPACE);
	cr_assert_eq(store_error(EDQUOT), VAULT_E_NO_SPACE);
	cr_assert_eq(store_error(ENOMEM), VAULT_E_NOMEM);
	cr_assert_eq(store_error(MDB_NOTFOUND), VAULT_E_NOT_FOUND);
	cr_assert_eq(store_error(MDB_CORRUPTED), VAULT_E_STORAGE);
	cr_assert_eq(store_error(MDB_PANIC), VAULT_E_STORAGE);
	cr_assert_eq(store_error(EIO), VAULT_E_STORAGE);
}

/*
 * Fill the records database of a 1 MiB map, one record per commit, until
 * LMDB refuses: the refusal (from mdb_put or mdb_txn_commit) is
 * MDB_MAP_FULL and maps to VAULT_E_NO_SPACE. What was committed before
 * stays readable, and the failed transaction left nothing behind.
 */
Test(store, full_map_is_no_space)
{
	static uint8_t value[3000];
	uint64_t id;
	int rc = 0;

	open_ok(MAP_TINY);
	memset(value, 0xab, sizeof value);
	for (id = 1; id < 10000; id++) {
		uint8_t k8[8];
		store_put_id(k8, id);
		MDB_txn *txn = begin(0);
		MDB_val k = { 8, k8 }, v = { sizeof value, value };
		rc = mdb_put(txn, st.records, &k, &v, 0);
		if (rc != 0) {
			mdb_txn_abort(txn);
			break;
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			break;
	}
	cr_assert_eq(rc, MDB_MAP_FULL, "filling stopped with %d (%s) after %llu records",
	    rc, mdb_strerror(rc), (unsigned long long)id - 1);
	cr_assert_eq(store_error(rc), VAULT_E_NO_SPACE);
	cr_assert_gt(id, 1, "not even one record fitted in 1 MiB");
	cr_assert_lt(id, MAP_TINY / sizeof value + 1, "more data than the map holds");

	MDB_txn *txn = begin(MDB_RDONLY);
	MDB_stat ms;
	cr_assert_eq(mdb_stat(txn, st.records, &ms), 0);
	cr_assert_eq(ms.ms_entries, id - 1, "committed records lost or failed one kept");
	uint8_t k8[8];
	store_put_id(k8, 1);
	MDB_val k = { 8, k8 }, v;
	cr_assert_eq(mdb_get(txn, st.records, &k, &v), 0);
	cr_assert_eq(v.mv_size, sizeof value);
	mdb_txn_abort(txn);
}

Test(store, reopen_with_a_tiny_map_after_filling)
{
	/* A full environment still opens (schema already present). */
	static uint8_t value[3000];
	open_ok(MAP_TINY);
	for (uint64_t id = 1;; id++) {
		uint8_t k8[8];
		store_put_id(k8, id);
		MDB_txn *txn = begin(0);
		MDB_val k = { 8, k8 }, v = { sizeof value, value };
		if (mdb_put(txn, st.records, &k, &v, 0) != 0) {
			mdb_txn_abort(txn);
			break;
		}
		if (mdb_txn_commit(txn) != 0)
			break;
	}
	store_close(&st);
	open_ok(MAP_TINY);
	store_close(&st);
	/* A larger map makes room again. */
	open_ok(MAP_DEFAULT);
	MDB_txn *txn = begin(0);
	uint8_t k8[8];
	store_put_id(k8, UINT64_MAX);
	MDB_val k = { 8, k8 }, v = { sizeof value, value };
	cr_assert_eq(mdb_put(txn, st.records, &k, &v, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
}
