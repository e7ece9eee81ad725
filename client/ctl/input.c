/*
 * input.c - what vaultctl reads: command arguments (positional ones mixed
 * with "--name VALUE" options), FIELD=VALUE with its "@PATH" and "@-"
 * forms, --document NAME:TYPE:PATH, and marketing channel names.
 *
 * Values are personal data. They are read with read(2) into buffers that
 * are wiped before they are freed, literal values are wiped from argv once
 * copied (shortening the time they show in ps), and no message ever quotes
 * a value: a bad argument is named by its position.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vault/vault.h>

#include "ctl.h"

/* Generous bounds on what is read into memory; the server has its own,
 * smaller limits (PROTOCOL.md) and says which one was hit. */
#define VALUE_MAX_BYTES ((size_t)1 << 20)
#define DOCUMENT_MAX_BYTES ((size_t)64 << 20)

void
ctl_args_init(struct ctl_args *a, int argc, char **argv)
{
	a->cmd = argv[0];
	a->argc = argc;
	a->argv = argv;
	a->i = 1;
	a->options_done = 0;
	a->scanned = 0;
}

/* vaultctl's own options (vaultctl.c parses them before the command). */
static const struct {
	const char *name;
	char short_name;
	int has_arg;
} globals[] = {
	{ "socket", 's', 1 },
	{ "purpose", 'p', 1 },
	{ "server-uid", 0, 1 },
	{ "timeout", 't', 1 },
	{ "json", 0, 0 },
};
#define NGLOBALS (sizeof(globals) / sizeof(globals[0]))

/*
 * Take vaultctl's own options out of a->argv (before "--"), applying them;
 * the command's options and their values stay, in order. Errors wait until
 * every option is seen, as before the command: --json may come last.
 */
static int
scan_globals(struct ctl *c, struct ctl_args *a, const struct ctl_option *opts)
{
	char err[256] = "";
	int out = 1, done = 0;

	for (int i = 1; i < a->argc; i++) {
		char *arg = a->argv[i];
		const char *val = NULL;
		size_t g, len;

		if (done || arg[0] != '-' || arg[1] == '\0') {
			a->argv[out++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			done = 1;
			a->argv[out++] = arg;
			continue;
		}
		if (arg[1] == '-') {
			const char *name = arg + 2, *eq = strchr(name, '=');
			const struct ctl_option *o;

			len = eq != NULL ? (size_t)(eq - name) : strlen(name);
			for (o = opts; o != NULL && o->name != NULL; o++)
				if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
					break;
			if (o != NULL && o->name != NULL) {
				/* The command's own: keep it and its value. */
				a->argv[out++] = arg;
				if (o->has_arg && eq == NULL && i + 1 < a->argc)
					a->argv[out++] = a->argv[++i];
				continue;
			}
			for (g = 0; g < NGLOBALS; g++)
				if (strlen(globals[g].name) == len &&
				    memcmp(globals[g].name, name, len) == 0)
					break;
			if (g == NGLOBALS) {
				a->argv[out++] = arg; /* reported by ctl_args_next */
				continue;
			}
			if (!globals[g].has_arg && eq != NULL) {
				if (err[0] == '\0')
					snprintf(err, sizeof(err), "option --%s takes no argument",
					    globals[g].name);
				continue;
			}
			if (globals[g].has_arg)
				val = eq != NULL ? eq + 1 : i + 1 < a->argc ? a->argv[++i] : NULL;
		} else {
			for (g = 0; g < NGLOBALS; g++)
				if (globals[g].short_name != 0 && globals[g].short_name == arg[1])
					break;
			if (g == NGLOBALS) {
				a->argv[out++] = arg;
				continue;
			}
			/* -sPATH or -s PATH, as getopt takes them. */
			val = arg[2] != '\0' ? arg + 2 : i + 1 < a->argc ? a->argv[++i] : NULL;
		}
		if (err[0] != '\0') {
			/* After an error only --json still counts: it says how
			 * to report the error. */
			if (!globals[g].has_arg)
				c->json = 1;
			continue;
		}
		if (globals[g].has_arg && val == NULL)
			snprintf(err, sizeof(err), "option --%s needs an argument",
			    globals[g].name);
		else
			ctl_set_global(c, globals[g].name, val, err, sizeof(err));
	}
	a->argv[out] = NULL;
	a->argc = out;
	if (err[0] != '\0') {
		ctl_usage_error(c, "%s", err);
		return -1;
	}
	return ctl_globals_ready(c) == CTL_EXIT_OK ? 0 : -1;
}

/* Only echo an unknown option if it looks like one (never a value). */
static int
option_like(const char *s)
{
	size_t n = strcspn(s, "=");

	if (n == 0 || n > 40)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '-' || s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

enum ctl_arg_kind
ctl_args_next(struct ctl *c, struct ctl_args *a, const struct ctl_option *opts,
    const struct ctl_option **opt, char **val, int *argno)
{
	const struct ctl_option *o;
	const char *name, *eq;
	size_t len;
	char *arg;

	if (!a->scanned) {
		a->scanned = 1;
		if (scan_globals(c, a, opts) != 0)
			return CTL_ARG_ERROR;
	}
	for (;;) {
		if (a->i >= a->argc)
			return CTL_ARG_END;
		*argno = a->i;
		arg = a->argv[a->i++];
		if (a->options_done || arg[0] != '-' || arg[1] == '\0') {
			*val = arg;
			return CTL_ARG_POSITIONAL;
		}
		if (strcmp(arg, "--") != 0)
			break;
		a->options_done = 1;
	}
	if (arg[1] != '-' || !option_like(arg + 2)) {
		if (option_like(arg))
			ctl_usage_error(c, "%s: unknown option %.*s", a->cmd,
			    (int)strcspn(arg, "="), arg);
		else
			ctl_usage_error(c, "%s: argument %d is not a valid option",
			    a->cmd, *argno);
		return CTL_ARG_ERROR;
	}
	name = arg + 2;
	eq = strchr(name, '=');
	len = eq != NULL ? (size_t)(eq - name) : strlen(name);
	for (o = opts; o != NULL && o->name != NULL; o++)
		if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
			break;
	if (o == NULL || o->name == NULL) {
		ctl_usage_error(c, "%s: unknown option --%.*s", a->cmd, (int)len, name);
		return CTL_ARG_ERROR;
	}
	*opt = o;
	*val = NULL;
	if (!o->has_arg) {
		if (eq != NULL) {
			ctl_usage_error(c, "%s: option --%s takes no argument", a->cmd,
			    o->name);
			return CTL_ARG_ERROR;
		}
	} else if (eq != NULL) {
		*val = (char *)eq + 1;
	} else if (a->i < a->argc) {
		*val = a->argv[a->i++];
	} else {
		ctl_usage_error(c, "%s: option --%s needs an argument", a->cmd, o->name);
		return CTL_ARG_ERROR;
	}
	return CTL_ARG_OPTION;
}

int
ctl_no_args(struct ctl *c, const char *cmd, int argc, char **argv)
{
	struct ctl_args a;
	const struct ctl_option *opt;
	char *val;
	int argno;

	/* vaultctl's own options may follow the command: take them. */
	ctl_args_init(&a, argc, argv);
	switch (ctl_args_next(c, &a, NULL, &opt, &val, &argno)) {
	case CTL_ARG_END:
		return CTL_EXIT_OK;
	case CTL_ARG_ERROR:
		return CTL_EXIT_USAGE;
	default:
		return ctl_usage_error(c, "%s takes no arguments", cmd);
	}
}

int
ctl_parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char *end;
	unsigned long n;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

const char *const ctl_channels[CTL_NCHANNELS] = { "email", "phone", "mail" };

int
ctl_channel_index(const char *s)
{
	for (int i = 0; i < CTL_NCHANNELS; i++)
		if (strcmp(s, ctl_channels[i]) == 0)
			return i;
	return -1;
}

static void
wipe_free(char *p, size_t n)
{
	if (p != NULL) {
		explicit_bzero(p, n);
		free(p);
	}
}

/*
 * Read all of path ("-": standard input, at most once per invocation) into
 * a new NUL-terminated buffer of at most max bytes, *cap its allocated size
 * (to wipe). A failure is a usage error.
 */
static int
read_source(struct ctl *c, const char *cmd, const char *path, size_t max,
    char **out, size_t *len, size_t *cap)
{
	const char *shown = strcmp(path, "-") == 0 ? "standard input" : path;
	size_t n = 0, size = 4096;
	char *buf = NULL;
	int fd, rc = CTL_EXIT_OK;

	if (strcmp(path, "-") == 0) {
		if (c->stdin_used)
			return ctl_usage_error(c, "%s: only one value or document can come "
			    "from standard input", cmd);
		c->stdin_used = 1;
		fd = STDIN_FILENO;
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		return ctl_usage_error(c, "%s: cannot open %s: %s", cmd, shown,
		    strerror(errno));
	}
	if ((buf = malloc(size)) == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "%s: out of memory", cmd);
		goto out;
	}
	for (;;) {
		if (n + 1 == size) {
			/* Grow by hand: realloc would leave a copy unwiped. */
			size_t nsize = size * 2;
			char *nbuf;

			if (n > max) {
				rc = ctl_usage_error(c, "%s: %s is larger than %zu bytes", cmd,
				    shown, max);
				goto out;
			}
			if ((nbuf = malloc(nsize)) == NULL) {
				rc = ctl_local_error(c, VAULT_E_NOMEM, "%s: out of memory", cmd);
				goto out;
			}
			memcpy(nbuf, buf, n);
			wipe_free(buf, size);
			buf = nbuf;
			size = nsize;
		}
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = ctl_usage_error(c, "%s: cannot read %s: %s", cmd, shown,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		rc = ctl_usage_error(c, "%s: %s is larger than %zu bytes", cmd, shown, max);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	*cap = size;
	buf = NULL;
out:
	wipe_free(buf, size);
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

int
ctl_add_field(struct ctl *c, const char *cmd, struct vault_record *r, char *arg,
    int argno)
{
	char *eq = strchr(arg, '='), *field = NULL, *value, *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (eq == NULL || eq == arg || !option_like(arg))
		return ctl_usage_error(c, "%s: argument %d is not FIELD=VALUE", cmd, argno);
	if ((field = strndup(arg, (size_t)(eq - arg))) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "%s: out of memory", cmd);
	if (vault_record_get(r, field) != NULL) {
		rc = ctl_usage_error(c, "%s: field %s given twice", cmd, field);
		goto out;
	}
	value = eq + 1;
	if (value[0] == '@' && value[1] == '@') {
		value++;        /* "@@x" is the literal "@x" */
	} else if (value[0] == '@') {
		if (value[1] == '\0') {
			rc = ctl_usage_error(c, "%s: %s=@ names no file (use %s=@- for "
			    "standard input, %s=@@ for a value starting with @)", cmd,
			    field, field, field);
			goto out;
		}
		rc = read_source(c, cmd, value + 1, VALUE_MAX_BYTES, &buf, &len, &cap);
		if (rc != CTL_EXIT_OK)
			goto out;
		/* Files and here-strings end with a newline that is not data. */
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (len > 0 && buf[len - 1] == '\r')
			buf[--len] = '\0';
		if (memchr(buf, '\0', len) != NULL) {
			rc = ctl_usage_error(c, "%s: the value of %s holds a NUL byte", cmd,
			    field);
			goto out;
		}
		value = buf;
	}
	if ((rc = vault_record_set(r, field, value)) != 0) {
		rc = ctl_vault_error(c, rc, NULL);
		goto out;
	}
	rc = CTL_EXIT_OK;
out:
	if (buf == NULL)
		explicit_bzero(eq + 1, strlen(eq + 1));
	wipe_free(buf, cap);
	free(field);
	return rc;
}

int
ctl_add_document(struct ctl *c, const char *cmd, struct vault_record *r,
    const char *spec)
{
	const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char *name = NULL, *type = NULL, *data = NULL;
	size_t len = 0, cap = 0;
	int rc;

	/* NAME and TYPE cannot hold ':'; PATH may. */
	if (c1 == NULL || c2 == NULL || c1 == spec || c2 == c1 + 1 || c2[1] == '\0')
		return ctl_usage_error(c, "%s: --document wants NAME:TYPE:PATH", cmd);
	name = strndup(spec, (size_t)(c1 - spec));
	type = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
	if (name == NULL || type == NULL) {
		rc = ctl_local_error(c, VAULT_E_NOMEM, "%s: out of memory", cmd);
		goto out;
	}
	rc = read_source(c, cmd, c2 + 1, DOCUMENT_MAX_BYTES, &data, &len, &cap);
	if (rc != CTL_EXIT_OK)
		goto out;
	if ((rc = vault_record_add_document(r, name, type, data, len)) != 0) {
		rc = ctl_vault_error(c, rc, NULL);
		goto out;
	}
	rc = CTL_EXIT_OK;
out:
	wipe_free(data, cap);
	wipe_free(name, name ? strlen(name) : 0);
	wipe_free(type, type ? strlen(type) : 0);
	return rc;
}
