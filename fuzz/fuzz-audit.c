/*
 * fuzz-audit.c - the audit trail's readers (vault/audit.h): verification,
 * queries and recovery at open read files that may have been damaged or
 * edited on purpose; telling edits apart is the trail's whole point.
 *
 * Input: a mode byte, then
 *   mode even: the trail file itself (no rotated files, no head file);
 *   mode odd:  edits to a genuine trail of FUZZ_AUDIT_ENTRIES entries made
 *              once at start (fuzz_audit_trail(), head file included):
 *              3 bytes each, a 16-bit offset (modulo the file size) and a
 *              byte to XOR there; XOR 0 truncates the file at the offset.
 *
 * Invariants:
 *   - audit_verify_files() returns 0, VAULT_E_IO or VAULT_E_NOMEM, with a
 *     NUL-terminated reason that is empty exactly when the trail is ok;
 *   - audit_query() reads any file without failing on what it cannot read,
 *     and hands out complete entries;
 *   - a trail that verifies is canonical (audit.h: "keys sorted, no
 *     spaces: the bytes are canonical"): each line is what jansson makes of
 *     it with sorted keys, compact;
 *   - a trail that verifies still verifies after audit_open() recovered
 *     from it and appended an entry;
 *   - the genuine trail verifies, with every entry; and after any edit or
 *     truncation it does not (tamper evidence); nor, its head file gone,
 *     when its last entry is required (the data's anchor, audit.h);
 *   - a trail that verifies holds its own last entry as an anchor, at
 *     open (audit_check_anchor) and in verification.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <vault/vault.h>

#include "vault/audit.h"
#include "vault/keyset.h"

#include "fuzz.h"
#include "fuzz-vault.h"

static char dir[PATH_MAX];
static char trail[PATH_MAX + 32], head[PATH_MAX + 32];
static struct key_set *ks;
static uint8_t *genuine, *genuine_head;
static size_t genuine_len, genuine_head_len;
static struct audit_anchor genuine_anchor = { .what = "data" };

static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat st;
	FILE *f = fopen(path, "rb");
	fuzz_assert(f != NULL && fstat(fileno(f), &st) == 0, "cannot read %s", path);
	uint8_t *p = malloc((size_t)st.st_size + 1);
	fuzz_assert(p != NULL && fread(p, 1, (size_t)st.st_size, f) == (size_t)st.st_size,
	    "cannot read %s", path);
	fclose(f);
	*len = (size_t)st.st_size;
	return p;
}

static void
spill(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	fuzz_assert(f != NULL && fwrite(data, 1, len, f) == len && fclose(f) == 0,
	    "cannot write %s", path);
}

static void
teardown(void)
{
	key_set_free(ks);
	free(genuine);
	free(genuine_head);
	fuzz_rmtree(dir);
}

static void
verify(struct audit_verify_result *r)
{
	int rc = audit_verify_files(trail, ks, r);
	fuzz_assert(rc == 0 || rc == VAULT_E_IO || rc == VAULT_E_NOMEM,
	    "audit_verify_files returned %d", rc);
	if (rc != 0) {
		r->ok = 0;
		return;
	}
	size_t n = strnlen(r->reason, sizeof(r->reason));
	fuzz_assert(n < sizeof(r->reason), "unterminated reason");
	fuzz_assert(r->ok == 0 || r->ok == 1, "verdict %d", r->ok);
	fuzz_assert(r->ok ? n == 0 && r->first_bad_seq == 0 : n > 0,
	    "verdict %d with reason \"%s\"", r->ok, r->reason);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[PATH_MAX + 32];
	struct audit_verify_result r;

	fuzz_tmpdir(dir, "audit");
	snprintf(path, sizeof(path), "%s/keyring", dir);
	fuzz_assert(key_set_new(fuzz_keys_open(path), &ks) == 0, "key_set_new failed");
	snprintf(trail, sizeof(trail), "%s/audit.log", dir);
	snprintf(head, sizeof(head), "%s/audit.log.head", dir);
	fuzz_audit_trail(trail, ks);
	genuine = slurp(trail, &genuine_len);
	genuine_head = slurp(head, &genuine_head_len);
	struct audit_config cfg = { trail, 0, 1000, 0 };
	struct audit *a = NULL;
	char err[256];
	fuzz_assert(audit_open(&a, &cfg, ks, err, sizeof(err)) == 0, "audit_open: %s", err);
	audit_head(a, &genuine_anchor.seq, genuine_anchor.mac);
	audit_close(a);
	fuzz_assert(genuine_anchor.seq == FUZZ_AUDIT_ENTRIES, "the genuine trail's head");
	verify(&r);
	fuzz_assert(r.ok && r.entries == FUZZ_AUDIT_ENTRIES, "the genuine trail does not verify: %s",
	    r.reason);
	atexit(teardown);
	return 0;
}

struct seen {
	size_t entries;
};

static int
on_entry(void *arg, const struct audit_entry *e)
{
	struct seen *s = arg;
	fuzz_assert(e->op != NULL && e->outcome != NULL, "an entry without op or outcome");
	fuzz_assert(e->nrecords == 0 || e->records != NULL, "records missing");
	fuzz_assert(e->nfields == 0 || e->fields != NULL, "fields missing");
	for (size_t i = 0; i < e->nrecords; i++)
		fuzz_assert(e->records[i] != NULL, "a NULL record pseudonym");
	for (size_t i = 0; i < e->nfields; i++)
		fuzz_assert(e->fields[i] != NULL, "a NULL field name");
	s->entries++;
	return 0;
}

/* Every line of data[0..size) is its own canonical JSON form. */
static int
canonical(const uint8_t *data, size_t size)
{
	size_t start = 0;
	while (start < size) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t end = nl ? (size_t)(nl - data) : size;
		json_t *o = json_loadb((const char *)data + start, end - start, 0, NULL);
		char *c = o ? json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
		int same = c != NULL && strlen(c) == end - start &&
		    memcmp(c, data + start, end - start) == 0;
		free(c);
		json_decref(o);
		if (!same)
			return 0;
		start = end + 1;
	}
	return 1;
}

/* Mode even: a trail file as found, damaged or not. */
static void
check_file(const uint8_t *data, size_t size)
{
	struct audit_verify_result r, after;
	struct audit_filter all = { 0 };
	uint64_t id = 1;
	struct audit_filter one = { .record = &id, .client = "ops", .purpose = "transactional" };
	struct seen seen = { 0 };

	unlink(head);
	spill(trail, data, size);
	verify(&r);

	int rc = audit_query(trail, ks, &all, on_entry, &seen);
	fuzz_assert(rc == 0 || rc == VAULT_E_IO || rc == VAULT_E_NOMEM, "audit_query returned %d", rc);
	fuzz_assert(!r.ok || rc != 0 || seen.entries == r.entries,
	    "a trail of %llu verified entries queries as %zu", (unsigned long long)r.entries,
	    seen.entries);
	rc = audit_query(trail, ks, &one, on_entry, &seen);
	fuzz_assert(rc == 0 || rc == VAULT_E_IO || rc == VAULT_E_NOMEM, "audit_query returned %d", rc);
	if (!r.ok)
		return;
	if (!canonical(data, size) && !fuzz_known_bug("audit-noncanonical-line-verifies"))
		fuzz_assert(0, "a trail verifies that is not in canonical form");

	/* Recovery: open it, append, close; it must still verify. */
	struct audit_config cfg = { trail, 0, 1000, 0 };
	struct audit *a = NULL;
	struct audit_event ev = { "ops", 0, 0, "ping", NULL, 0, 0, 0, 1750000100, NULL };
	char err[256];
	rc = audit_open(&a, &cfg, ks, err, sizeof(err));
	fuzz_assert(rc == 0, "a trail that verifies cannot be opened: %s", err);
	fuzz_assert(audit_log(a, ks, &ev) == 0, "cannot append to a trail that verifies");
	struct audit_anchor an = { .what = "data" };
	audit_head(a, &an.seq, an.mac);
	fuzz_assert(audit_check_anchor(a, &an, err, sizeof(err)) == 0,
	    "a trail misses its own last entry: %s", err);
	audit_close(a);
	verify(&after);
	fuzz_assert(after.ok && after.entries == r.entries + 1,
	    "a trail of %llu entries fails to verify after an append: %s",
	    (unsigned long long)r.entries, after.reason);
	rc = audit_verify_files_with(trail, ks, &an, 1, &after);
	fuzz_assert(rc != 0 || after.ok, "a trail fails with its own last entry as anchor: %s",
	    after.reason);
}

/* Mode odd: edits to the genuine trail must be found. */
static void
check_edits(const uint8_t *data, size_t size)
{
	struct audit_verify_result r;
	uint8_t *t = fuzz_dup(genuine, genuine_len);
	size_t len = genuine_len;
	int edited = 0;

	for (size_t i = 0; i + 3 <= size && len > 0; i += 3) {
		size_t off = ((size_t)data[i] << 8 | data[i + 1]) % len;
		if (data[i + 2] == 0)
			len = off;
		else
			t[off] ^= data[i + 2];
	}
	/* Two edits may cancel out: what counts is the result. */
	edited = len != genuine_len || memcmp(t, genuine, len) != 0;
	spill(trail, t, len);
	spill(head, genuine_head, genuine_head_len);
	free(t);
	verify(&r);
	if (edited)
		fuzz_assert(!r.ok, "an edited trail verifies (%llu entries)",
		    (unsigned long long)r.entries);
	else
		fuzz_assert(r.ok && r.entries == FUZZ_AUDIT_ENTRIES, "the genuine trail fails: %s",
		    r.reason);
	/* Without its head file, the data's anchor is what finds a cut tail. */
	unlink(head);
	int rc = audit_verify_files_with(trail, ks, &genuine_anchor, 1, &r);
	fuzz_assert(rc == 0 || rc == VAULT_E_IO || rc == VAULT_E_NOMEM,
	    "audit_verify_files_with returned %d", rc);
	if (rc == 0 && edited)
		fuzz_assert(!r.ok, "an edited trail verifies against the anchor (%llu entries)",
		    (unsigned long long)r.entries);
	else if (rc == 0)
		fuzz_assert(r.ok, "the genuine trail fails against its anchor: %s", r.reason);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		check_edits(data + 1, size - 1);
	else
		check_file(data + 1, size - 1);
	return 0;
}
