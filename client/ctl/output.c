/*
 * output.c - everything vaultctl prints: results (human lines or one JSON
 * object), errors with their exit codes, and the connection, whose failure
 * is an error of its own (exit 3).
 *
 * Output may hold personal data, so it never sits in memory we cannot
 * wipe: jansson allocates through wipe_malloc()/wipe_free(), and stdout
 * is buffered in a static buffer wiped at exit. Error messages never hold
 * a value: only names, positions, paths given on the command line and the
 * server's messages (which hold no values either, see vault.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <vault/vault.h>

#include "ctl.h"

/* Remembers the size so that free can wipe. */
union wipe_header {
	size_t size;
	max_align_t align;
};

static char outbuf[1 << 16];

static void *
wipe_malloc(size_t n)
{
	union wipe_header *h;

	if (n > SIZE_MAX - sizeof(*h))
		return NULL;
	if ((h = malloc(sizeof(*h) + n)) == NULL)
		return NULL;
	h->size = n;
	return h + 1;
}

static void
wipe_free(void *p)
{
	union wipe_header *h;

	if (p == NULL)
		return;
	h = (union wipe_header *)p - 1;
	explicit_bzero(p, h->size);
	free(h);
}

void
ctl_output_init(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
}

int
ctl_output_finish(void)
{
	int rc = fflush(stdout);

	explicit_bzero(outbuf, sizeof(outbuf));
	return rc == 0 && !ferror(stdout) ? 0 : -1;
}

int
ctl_json_set_str(json_t *obj, const char *key, const char *s)
{
	json_t *j;

	if (obj == NULL || s == NULL || (j = json_string(s)) == NULL)
		return -1;
	return json_object_set_new(obj, key, j);
}

int
ctl_json_set_int(json_t *obj, const char *key, json_int_t n)
{
	json_t *j;

	if (obj == NULL || (j = json_integer(n)) == NULL)
		return -1;
	return json_object_set_new(obj, key, j);
}

static int
dump(json_t *root)
{
	int rc = json_dumpf(root, stdout, JSON_COMPACT);

	if (rc == 0)
		rc = putchar('\n') == EOF ? -1 : 0;
	return rc;
}

/*
 * The one place errors are printed. In JSON, every error has the same four
 * keys, {"error", "code", "message", "field"}: code 0 (usage errors, which
 * have no vault code) is null, and so is field when the error named none.
 * extra (stolen) adds keys such as "remaining".
 */
static void
emit_error(struct ctl *c, const char *name, int code, const char *message,
    const char *field, json_t *extra)
{
	json_t *o = NULL;

	if (c->json) {
		o = json_object();
		if (ctl_json_set_str(o, "error", name) != 0 ||
		    json_object_set_new(o, "code", code != 0 ? json_integer(code) :
		    json_null()) != 0 ||
		    ctl_json_set_str(o, "message", message) != 0 ||
		    json_object_set_new(o, "field", field != NULL && field[0] != '\0' ?
		    json_string(field) : json_null()) != 0 ||
		    (extra != NULL && json_object_update(o, extra) != 0) ||
		    dump(o) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	if (o == NULL) {
		/* Text mode, or JSON failed: stderr still tells. */
		fflush(stdout);
		if (code != 0)
			fprintf(stderr, "vaultctl: %s: %s\n", name, message);
		else
			fprintf(stderr, "vaultctl: %s\n", message);
	}
	json_decref(o);
	json_decref(extra);
}

int
ctl_usage_error(struct ctl *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit_error(c, "usage", 0, msg, NULL, NULL);
	if (!c->json)
		fprintf(stderr, "Run 'vaultctl %s%s--help' for usage.\n",
		    c->cmd_name != NULL ? c->cmd_name : "", c->cmd_name != NULL ? " " : "");
	return CTL_EXIT_USAGE;
}

int
ctl_vault_error(struct ctl *c, int rc, json_t *extra)
{
	int e = errno;
	const char *msg = c->v != NULL ? vault_last_message(c->v) : "";
	char buf[512];

	if (msg[0] == '\0' && rc == VAULT_E_IO) {
		/* Local: the library left the reason in errno. */
		snprintf(buf, sizeof(buf), "%s: %s", vault_strerror(rc), strerror(e));
		msg = buf;
	} else if (msg[0] == '\0') {
		msg = vault_strerror(rc);
	}
	emit_error(c, vault_error_name(rc), rc, msg,
	    c->v != NULL ? vault_last_field(c->v) : NULL, extra);
	return CTL_EXIT_VAULT;
}

int
ctl_local_error(struct ctl *c, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit_error(c, vault_error_name(code), code, msg, NULL, NULL);
	return CTL_EXIT_VAULT;
}

int
ctl_connect(struct ctl *c)
{
	char msg[1024];
	int rc = vault_connect_opts(c->socket, &c->connect, &c->v);

	if (rc == VAULT_E_SERVER_IDENTITY) {
		const char *env = getenv("VAULT_SERVER_UID");
		snprintf(msg, sizeof(msg), "the server on %s does not run as the expected "
		    "user (%s): nothing was sent to it. Check who listens there, or give "
		    "vaultd's uid with --server-uid or VAULT_SERVER_UID", c->socket,
		    c->connect.has_server_uid ? "the uid given by --server-uid" :
		    env != NULL && env[0] != '\0' ? "the uid in VAULT_SERVER_UID" :
		    "the owner of the socket's directory");
		c->v = NULL;
		emit_error(c, vault_error_name(rc), rc, msg, NULL, NULL);
		return CTL_EXIT_CONNECT;
	}
	if (rc == VAULT_E_CONFIG) {
		c->v = NULL;
		return ctl_usage_error(c, "VAULT_SERVER_UID must be a decimal uid");
	}
	if (rc == VAULT_E_IO) {
		snprintf(msg, sizeof(msg), "cannot connect to %s: %s", c->socket,
		    strerror(errno));
		c->v = NULL;
		emit_error(c, vault_error_name(rc), rc, msg, NULL, NULL);
		return CTL_EXIT_CONNECT;
	}
	if (rc != 0) {
		c->v = NULL;
		return ctl_vault_error(c, rc, NULL);
	}
	vault_set_timeout(c->v, c->timeout_ms);
	return CTL_EXIT_OK;
}

/*
 * The keys that hold a time, wherever they appear in an output (the
 * server's results give Unix seconds, 0 for "none"): one style for every
 * command, RFC 3339 UTC strings and null (PROTOCOL.md's names kept).
 */
static const char *const time_keys[] = {
	"acked_at", "completed_at", "created", "deleted_at", "due_at", "expires_at", "generated_at",
	"last_done", "newest_usable_created", "next_due", "notified_at", "placed_at", "received_at",
	"retire_refused_since", "retired_at", "started", "stalled_since", "time",
	"unrecoverable_after", "unusable_since", "updated",
};

static int
is_time_key(const char *key)
{
	for (size_t i = 0; i < sizeof(time_keys) / sizeof(time_keys[0]); i++)
		if (strcmp(key, time_keys[i]) == 0)
			return 1;
	return 0;
}

/* Rewrite the integer times in j (objects and arrays, recursively; strings,
 * such as a signed document's exact bytes, are left alone). */
static int
json_times(json_t *j, int depth)
{
	const char *key;
	json_t *v;
	size_t i;

	if (depth > 32)
		return 0;
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if (json_times(v, depth + 1) != 0)
				return -1;
		return 0;
	}
	json_object_foreach(j, key, v) {
		if (json_is_integer(v) && is_time_key(key)) {
			json_t *t = ctl_json_time((int64_t)json_integer_value(v));
			if (t == NULL || json_object_set_new(j, key, t) != 0)
				return -1;
		} else if (json_times(v, depth + 1) != 0) {
			return -1;
		}
	}
	return 0;
}

int
ctl_json_emit_raw(struct ctl *c, json_t *root)
{
	int rc;

	if (root == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "cannot build the JSON output");
	rc = dump(root);
	json_decref(root);
	if (rc != 0)
		return ctl_local_error(c, VAULT_E_IO, "cannot write the output");
	return CTL_EXIT_OK;
}

int
ctl_json_emit(struct ctl *c, json_t *root)
{
	if (root != NULL && json_times(root, 0) != 0) {
		json_decref(root);
		root = NULL;
	}
	return ctl_json_emit_raw(c, root);
}

void
ctl_print_field(const char *name, const char *value)
{
	/* Postal addresses span lines; an indent marks the continuation
	 * (normalized addresses never start a line with a blank). */
	fputs(name, stdout);
	fputs(": ", stdout);
	for (const char *p = value; *p != '\0'; p++) {
		putchar(*p);
		if (*p == '\n')
			fputs("  ", stdout);
	}
	putchar('\n');
}

int
ctl_write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
