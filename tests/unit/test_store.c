/*
 * test_store.c - the storage interface (store.h) over its LMDB backend:
 * creation and reopening, the schema check, the record id allocator's
 * starting point, how failures (above all a full map) become vault errors,
 * copies, and the contract every backend keeps (store_contract.h).
 *
 * Each test opens its own store in a fresh temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include <lmdb.h>

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
	cr_assert_not_null(st.m);
}

static struct store_txn *
begin(unsigned flags)
{
	struct store_txn *txn = NULL;
	int rc = store_txn_begin(&st, NULL, flags, &txn);
	cr_assert_eq(rc, 0, "store_txn_begin: %s", store_strerror(rc));
	return txn;
}

static void
put_meta(const char *k, const void *v, size_t vlen)
{
	struct store_txn *txn = begin(0);
	struct store_val key = { strlen(k), (void *)k }, val = { vlen, (void *)v };
	cr_assert_eq(store_put(txn, STORE_META, &key, &val, 0), 0);
	cr_assert_eq(store_txn_commit(txn), 0);
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

	/* Every table exists as a named LMDB database (opened without
	 * MDB_CREATE, by LMDB itself, as a backup tool would). */
	store_close(&st);
	MDB_env *env;
	MDB_txn *mt;
	cr_assert_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &mt), 0);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		MDB_dbi dbi;
		int rc = mdb_dbi_open(mt, names[i], 0, &dbi);
		cr_assert_eq(rc, 0, "database %s: %s", names[i], mdb_strerror(rc));
	}
	for (unsigned t = 0; t < STORE_NTABLES; t++) {
		MDB_dbi dbi;
		cr_assert_eq(mdb_dbi_open(mt, store_table_name(t), 0, &dbi), 0, "table %s",
		    store_table_name(t));
	}
	mdb_txn_abort(mt);
	mdb_env_close(env);
	open_ok(MAP_DEFAULT);
	/* The schema version is recorded. */
	struct store_txn *txn = begin(STORE_RDONLY);
	struct store_val k = { 6, "schema" }, v;
	cr_assert_eq(store_get(txn, STORE_META, &k, &v), 0);
	cr_assert_eq(v.len, 4);
	cr_assert_eq(memcmp(v.data, "\0\0\0\3", 4), 0);
	store_txn_abort(txn);
	/* The table names are distinct. */
	for (unsigned i = 0; i < STORE_NTABLES; i++)
		for (unsigned j = 0; j < i; j++)
			cr_assert_str_neq(store_table_name(i), store_table_name(j));
}

Test(store, reopen_keeps_data)
{
	uint8_t id[8];
	open_ok(MAP_DEFAULT);
	store_put_id(id, 7);
	struct store_txn *txn = begin(0);
	struct store_val k = { 8, id }, v = { 5, "hello" };
	cr_assert_eq(store_put(txn, STORE_RECORDS, &k, &v, 0), 0);
	cr_assert_eq(store_txn_commit(txn), 0);
	store_close(&st);
	cr_assert_null(st.m);
	store_close(&st); /* twice is harmless */

	open_ok(MAP_DEFAULT);
	txn = begin(STORE_RDONLY);
	cr_assert_eq(store_get(txn, STORE_RECORDS, &k, &v), 0);
	cr_assert_eq(v.len, 5);
	cr_assert_eq(memcmp(v.data, "hello", 5), 0);
	store_txn_abort(txn);
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
		cr_assert_null(st.m, "environment left open after a refusal");
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
	cr_assert_null(st.m);
}

Test(store, next_id)
{
	uint64_t next = 0;
	uint8_t v[8];
	open_ok(MAP_DEFAULT);

	struct store_txn *txn = begin(STORE_RDONLY);
	cr_assert_eq(store_next_id(txn, &next), 0);
	cr_assert_eq(next, 1, "an empty store starts at 1");
	store_txn_abort(txn);

	store_put_id(v, 0x0102030405060708u);
	put_meta("next_id", v, 8);
	txn = begin(STORE_RDONLY);
	cr_assert_eq(store_next_id(txn, &next), 0);
	cr_assert_eq(next, 0x0102030405060708u);
	store_txn_abort(txn);

	put_meta("next_id", v, 7);
	txn = begin(STORE_RDONLY);
	cr_assert_eq(store_next_id(txn, &next), VAULT_E_CRYPTO, "a 7-byte next_id");
	store_txn_abort(txn);
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
	cr_assert_eq(store_error(STORE_OK), 0);
	cr_assert_eq(store_error(STORE_E_FULL), VAULT_E_NO_SPACE);
	cr_assert_eq(store_error(STORE_E_DISK_FULL), VAULT_E_NO_SPACE);
	cr_assert_eq(store_error(STORE_E_NOMEM), VAULT_E_NOMEM);
	cr_assert_eq(store_error(STORE_NOTFOUND), VAULT_E_NOT_FOUND);
	cr_assert_eq(store_error(STORE_E_CORRUPT), VAULT_E_STORAGE);
	cr_assert_eq(store_error(STORE_E_FAILED), VAULT_E_STORAGE);
	/* Errors of the store's files (copies, compaction) map alike. */
	cr_assert_eq(store_errno(0), 0);
	cr_assert_eq(store_errno(ENOSPC), VAULT_E_NO_SPACE);
	cr_assert_eq(store_errno(EDQUOT), VAULT_E_NO_SPACE);
	cr_assert_eq(store_errno(ENOMEM), VAULT_E_NOMEM);
	cr_assert_eq(store_errno(EIO), VAULT_E_STORAGE);
	/* Every result has its own text. */
	static const int all[] = { STORE_OK, STORE_NOTFOUND, STORE_EXISTS, STORE_E_FULL,
		STORE_E_DISK_FULL, STORE_E_NOMEM, STORE_E_CORRUPT, STORE_E_FAILED };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(store_strerror(all[i]), store_strerror(all[j]));
}

/*
 * Fill the records database of a 1 MiB map, one record per commit, until
 * LMDB refuses: the refusal (from mdb_put or mdb_txn_commit) is
 * STORE_E_FULL and maps to VAULT_E_NO_SPACE. What was committed before
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
		struct store_txn *txn = begin(0);
		struct store_val k = { 8, k8 }, v = { sizeof value, value };
		rc = store_put(txn, STORE_RECORDS, &k, &v, 0);
		if (rc != 0) {
			store_txn_abort(txn);
			break;
		}
		if ((rc = store_txn_commit(txn)) != 0)
			break;
	}
	cr_assert_eq(rc, STORE_E_FULL, "filling stopped with %d (%s) after %llu records",
	    rc, store_strerror(rc), (unsigned long long)id - 1);
	cr_assert_eq(store_error(rc), VAULT_E_NO_SPACE);
	cr_assert_gt(id, 1, "not even one record fitted in 1 MiB");
	cr_assert_lt(id, MAP_TINY / sizeof value + 1, "more data than the map holds");

	struct store_txn *txn = begin(STORE_RDONLY);
	uint64_t n;
	cr_assert_eq(store_count(txn, STORE_RECORDS, &n), 0);
	cr_assert_eq(n, id - 1, "committed records lost or failed one kept");
	uint8_t k8[8];
	store_put_id(k8, 1);
	struct store_val k = { 8, k8 }, v;
	cr_assert_eq(store_get(txn, STORE_RECORDS, &k, &v), 0);
	cr_assert_eq(v.len, sizeof value);
	store_txn_abort(txn);
}

Test(store, reopen_with_a_tiny_map_after_filling)
{
	/* A full environment still opens (schema already present). */
	static uint8_t value[3000];
	open_ok(MAP_TINY);
	for (uint64_t id = 1;; id++) {
		uint8_t k8[8];
		store_put_id(k8, id);
		struct store_txn *txn = begin(0);
		struct store_val k = { 8, k8 }, v = { sizeof value, value };
		if (store_put(txn, STORE_RECORDS, &k, &v, 0) != 0) {
			store_txn_abort(txn);
			break;
		}
		if (store_txn_commit(txn) != 0)
			break;
	}
	store_close(&st);
	open_ok(MAP_TINY);
	store_close(&st);
	/* A larger map makes room again. */
	open_ok(MAP_DEFAULT);
	struct store_txn *txn = begin(0);
	uint8_t k8[8];
	store_put_id(k8, UINT64_MAX);
	struct store_val k = { 8, k8 }, v = { sizeof value, value };
	cr_assert_eq(store_put(txn, STORE_RECORDS, &k, &v, 0), 0);
	cr_assert_eq(store_txn_commit(txn), 0);
}

/* ---- the interface's contract (every backend keeps it) ---------------- */

static void
contract_open(void)
{
	open_ok(MAP_DEFAULT);
}

#define CONTRACT_SUITE store
#include "store_contract.h"

/* ---- copies (LMDB only: PostgreSQL's backups are the database's) -------- */

Test(store, a_copy_opens_as_a_file_with_live_data_only)
{
	char path[128], out[16];
	const char *why;
	open_ok(MAP_DEFAULT);
	struct store_txn *txn = begin(0);
	put_str(txn, STORE_RECORDS, "live", "yes", 0, 0);
	put_str(txn, STORE_RECORDS, "gone", "no", 0, 0);
	cr_assert_eq(store_txn_commit(txn), 0);
	txn = begin(0);
	struct store_val k = { 4, "gone" };
	cr_assert_eq(store_del(txn, STORE_RECORDS, &k), 0);
	cr_assert_eq(store_txn_commit(txn), 0);

	snprintf(path, sizeof path, "%s/copy.mdb", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(store_copy(&st, fd), 0);
	close(fd);

	struct store copy;
	cr_assert_eq(store_open_file(&copy, path, 0, STORE_FILE_RDONLY, &why), 0, "%s", why);
	cr_assert_eq(store_txn_begin(&copy, NULL, STORE_RDONLY, &txn), 0);
	cr_assert_eq(get_str(txn, STORE_RECORDS, "live", out, sizeof out), 0);
	cr_assert_str_eq(out, "yes");
	cr_assert_eq(get_str(txn, STORE_RECORDS, "gone", out, sizeof out), STORE_NOTFOUND);
	store_txn_abort(txn);
	store_close(&copy);

	/* Not a store at all: refused, nothing left open. */
	snprintf(path, sizeof path, "%s/garbage", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_eq(write(fd, "not an lmdb file, not at all, no", 32), 32);
	close(fd);
	cr_assert_eq(store_open_file(&copy, path, 0, STORE_FILE_RDONLY, &why), VAULT_E_STORAGE);
	cr_assert_not_null(why);
	cr_assert_null(copy.m);
}
