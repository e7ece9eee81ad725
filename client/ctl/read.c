/*
 * read.c - "vaultctl read TOKEN [FIELD...] [--documents DIR [--document
 * SLOT]]": print a record's fields, the slots of its documents and its
 * marketing opt-outs; with --documents, write its documents (or, with
 * --document, the one in SLOT: for documents that together exceed a reply
 * frame) to files.
 *
 * Document names come from the vault, that is from whoever stored them, so
 * they are never trusted as paths: each file is DIR/<slot>-<name reduced to
 * [A-Za-z0-9._-]>, created with O_EXCL|O_NOFOLLOW and mode 0600 relative to
 * a directory opened before the read. Either every document is written or,
 * on a failure, the files this run created are removed again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

/* NAME_MAX on Linux and the BSDs; "<slot>-" takes at most 6 bytes. */
#define FILE_NAME_MAX 255

static const struct ctl_option options[] = {
	{ "documents", 1 },
	{ "document", 1 },
	{ NULL, 0 },
};

/*
 * "<slot>-<name>" with every byte outside [A-Za-z0-9._-] replaced by '_'
 * and a leading '.' too: no separator, no "..", no hidden file.
 */
static void
file_name(uint32_t slot, const char *name, char out[FILE_NAME_MAX + 1])
{
	int n = snprintf(out, FILE_NAME_MAX + 1, "%u-", (unsigned)slot);
	size_t i;

	for (i = 0; name[i] != '\0' && (size_t)n + i < FILE_NAME_MAX; i++) {
		char ch = name[i];
		int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    (ch == '.' && i > 0);

		out[n + i] = ok ? ch : '_';
	}
	if (i == 0)
		out[n + i++] = '_';
	out[n + i] = '\0';
}

static char *
join_path(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	int slash = dl > 0 && dir[dl - 1] != '/';
	char *p = malloc(dl + (size_t)slash + nl + 1);

	if (p != NULL) {
		memcpy(p, dir, dl);
		if (slash)
			p[dl] = '/';
		memcpy(p + dl + slash, name, nl + 1);
	}
	return p;
}

/* Remove the first n documents' files (all created by this run). */
static void
unwind(int dirfd, const struct vault_record *r, size_t n)
{
	char fn[FILE_NAME_MAX + 1];
	const char *name;
	uint32_t slot;

	for (size_t i = 0; i < n; i++) {
		if (vault_record_document_at(r, i, &slot, &name, NULL, NULL, NULL) == 0) {
			file_name(slot, name, fn);
			unlinkat(dirfd, fn, 0);
		}
	}
}

static int
write_documents(struct ctl *c, int dirfd, const char *dir,
    const struct vault_record *r)
{
	size_t n = vault_record_document_count(r);
	char fn[FILE_NAME_MAX + 1];

	for (size_t i = 0; i < n; i++) {
		const char *name, *type;
		const void *data;
		uint32_t slot;
		size_t len;
		int fd, e;

		vault_record_document_at(r, i, &slot, &name, &type, &data, &len);
		file_name(slot, name, fn);
		fd = openat(dirfd, fn, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd < 0) {
			/* Never the name in a message: it may be personal data. */
			e = errno;
			unwind(dirfd, r, i);
			if (e == EEXIST)
				return ctl_local_error(c, VAULT_E_IO, "read: document %u: "
				    "its file already exists in %s; nothing written",
				    (unsigned)slot, dir);
			return ctl_local_error(c, VAULT_E_IO, "read: document %u: cannot "
			    "create its file in %s: %s; nothing written", (unsigned)slot,
			    dir, strerror(e));
		}
		if (ctl_write_all(fd, data, len) != 0 || close(fd) != 0) {
			e = errno;
			unwind(dirfd, r, i + 1);
			return ctl_local_error(c, VAULT_E_IO, "read: document %u: cannot "
			    "write its file in %s: %s; nothing written", (unsigned)slot,
			    dir, strerror(e));
		}
	}
	return CTL_EXIT_OK;
}

/* [1, 2, 3]: every document the record holds, fetched or not. */
static json_t *
json_slots(const struct vault_record *r)
{
	const uint32_t *slots;
	size_t n = vault_record_document_slots(r, &slots);
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_integer(slots[i])) != 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

/* {"email": true, "phone": false, "mail": false}; null if the vault did
 * not say (json_object_set_new fails on NULL: a failed build). */
static json_t *
json_opt_out(const struct vault_record *r)
{
	json_t *o = json_object();

	for (int i = 0; o != NULL && i < CTL_NCHANNELS; i++) {
		int v = vault_record_opted_out(r, ctl_channels[i]);

		if (v < 0) {
			json_decref(o);
			return json_null();
		}
		if (json_object_set_new(o, ctl_channels[i], json_boolean(v)) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

static int
print_json(struct ctl *c, const struct vault_record *r, const char *dir)
{
	json_t *root = json_object(), *fields = json_object(), *docs = NULL;
	char fn[FILE_NAME_MAX + 1];
	const char *name, *value, *type;
	uint32_t slot;
	size_t len;
	int bad = root == NULL || fields == NULL ||
	    json_object_set(root, "fields", fields) != 0;

	for (size_t i = 0; !bad && i < vault_record_field_count(r); i++) {
		vault_record_field_at(r, i, &name, &value);
		bad = ctl_json_set_str(fields, name, value) != 0;
	}
	if (!bad && dir != NULL) {
		docs = json_array();
		bad = docs == NULL || json_object_set(root, "documents", docs) != 0;
	}
	for (size_t i = 0; !bad && dir != NULL && i < vault_record_document_count(r);
	    i++) {
		json_t *d = json_object();
		char *path;

		vault_record_document_at(r, i, &slot, &name, &type, NULL, &len);
		file_name(slot, name, fn);
		path = join_path(dir, fn);
		bad = d == NULL || json_array_append_new(docs, d) != 0 ||
		    ctl_json_set_int(d, "slot", slot) != 0 ||
		    ctl_json_set_str(d, "name", name) != 0 ||
		    ctl_json_set_str(d, "type", type) != 0 ||
		    ctl_json_set_int(d, "bytes", (json_int_t)len) != 0 ||
		    ctl_json_set_str(d, "path", path) != 0;
		free(path);
	}
	if (!bad)
		bad = json_object_set_new(root, "document_slots", json_slots(r)) != 0 ||
		    json_object_set_new(root, "marketing_opt_out", json_opt_out(r)) != 0;
	json_decref(fields);
	json_decref(docs);
	if (bad) {
		json_decref(root);
		root = NULL;
	}
	return ctl_json_emit(c, root);
}

static void
print_text(const struct vault_record *r, const char *dir)
{
	char fn[FILE_NAME_MAX + 1];
	const char *name, *value, *type;
	uint32_t slot;
	size_t len;

	for (size_t i = 0; i < vault_record_field_count(r); i++) {
		vault_record_field_at(r, i, &name, &value);
		ctl_print_field(name, value);
	}
	for (size_t i = 0; dir != NULL && i < vault_record_document_count(r); i++) {
		char *path;

		vault_record_document_at(r, i, &slot, &name, &type, NULL, &len);
		file_name(slot, name, fn);
		path = join_path(dir, fn);
		printf("document %u: %s (%s, %zu bytes) -> %s\n", (unsigned)slot, name,
		    type, len, path ? path : fn);
		free(path);
	}

	const uint32_t *slots;
	size_t nslots = vault_record_document_slots(r, &slots);
	int known = 1, any = 0;

	for (size_t i = 0; i < nslots; i++)
		printf("%s%u", i == 0 ? "documents: " : ", ", (unsigned)slots[i]);
	if (nslots > 0)
		putchar('\n');
	fputs("marketing opt-out: ", stdout);
	for (int i = 0; i < CTL_NCHANNELS; i++) {
		int v = vault_record_opted_out(r, ctl_channels[i]);

		known = known && v >= 0;
		if (v > 0)
			printf("%s%s", any++ ? ", " : "", ctl_channels[i]);
	}
	puts(!known ? "unknown" : any ? "" : "none");
}

int
ctl_cmd_read(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	struct vault_record *r = NULL;
	const char *token = NULL, *dir = NULL;
	const char **fields = NULL;
	size_t nfields = 0;
	struct ctl_args a;
	enum ctl_arg_kind k;
	unsigned long slot = 0;
	int rc, argno, dirfd = -1;
	char *val;

	if ((fields = calloc((size_t)argc, sizeof(*fields))) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "read: out of memory");
	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR) {
			rc = CTL_EXIT_USAGE;
			goto out;
		}
		if (k == CTL_ARG_OPTION && strcmp(opt->name, "document") == 0) {
			if (slot != 0) {
				rc = ctl_usage_error(c, "read: --document given twice (one "
				    "slot per run)");
				goto out;
			}
			if (ctl_parse_uint(val, 1, 65534, &slot) != 0) {
				rc = ctl_usage_error(c, "read: --document wants a slot number, "
				    "1 to 65534");
				goto out;
			}
			continue;
		}
		if (k == CTL_ARG_OPTION && dir != NULL) {
			rc = ctl_usage_error(c, "read: --documents given twice");
			goto out;
		}
		if (k == CTL_ARG_OPTION)
			dir = val;
		else if (token == NULL)
			token = val;
		else
			fields[nfields++] = val;
	}
	if (token == NULL) {
		rc = ctl_usage_error(c, "read: which record? (read TOKEN [FIELD...])");
		goto out;
	}
	if (slot != 0 && dir == NULL) {
		rc = ctl_usage_error(c, "read: --document SLOT needs --documents DIR (where "
		    "to write it)");
		goto out;
	}
	if (slot != 0 && nfields > 0) {
		rc = ctl_usage_error(c, "read: --document SLOT reads the document only, "
		    "no fields");
		goto out;
	}
	/* Before the read: a wrong directory costs no data transfer. */
	if (dir != NULL &&
	    (dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = ctl_usage_error(c, "read: cannot open the directory %s: %s", dir,
		    strerror(errno));
		goto out;
	}
	if ((rc = ctl_connect(c)) != CTL_EXIT_OK)
		goto out;
	if (slot != 0)
		rc = vault_read_document(c->v, c->purpose, token, (uint32_t)slot, &r);
	else
		rc = vault_read(c->v, c->purpose, token, nfields > 0 ? fields : NULL,
		    nfields, dir != NULL, &r);
	if (rc != 0) {
		int all_docs = rc == VAULT_E_TOO_LARGE && dir != NULL && slot == 0;

		rc = ctl_vault_error(c, rc, all_docs ? json_pack("{s:s}", "hint",
		    "fetch the documents one at a time with --document SLOT") : NULL);
		if (all_docs && !c->json)
			fprintf(stderr, "vaultctl: read: the documents do not fit one reply "
			    "together: fetch them one at a time with --document SLOT (read "
			    "without --documents lists the slots)\n");
		goto out;
	}
	if (slot != 0) {
		uint32_t got = 0;

		/* Write only what was asked for. */
		if (vault_record_document_count(r) != 1 ||
		    vault_record_document_at(r, 0, &got, NULL, NULL, NULL, NULL) != 0 ||
		    got != slot) {
			rc = ctl_local_error(c, VAULT_E_PROTO_FRAME, "read: the vault "
			    "answered with other documents than slot %lu; nothing written",
			    slot);
			goto out;
		}
	}
	if (dir != NULL && (rc = write_documents(c, dirfd, dir, r)) != CTL_EXIT_OK)
		goto out;
	if (c->json) {
		rc = print_json(c, r, dir);
	} else {
		print_text(r, dir);
		rc = CTL_EXIT_OK;
	}
out:
	if (dirfd >= 0)
		close(dirfd);
	vault_record_free(r);
	free(fields);
	return rc;
}
