/*
 * ctl.h - what vaultctl's files share (never installed): one invocation's
 * state, the exit codes, the subcommand table entry, argument scanning,
 * value input and output. vaultctl.c owns main() and the command table;
 * each command lives in its own file in this directory.
 */
#ifndef VAULT_CLIENT_CTL_CTL_H
#define VAULT_CLIENT_CTL_CTL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <vault/vault.h>

/* Exit codes: part of the interface, scripts rely on them. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_VAULT = 1,   /* the vault answered with an error, or a local
	                       * failure after connecting */
	CTL_EXIT_USAGE = 2,   /* bad command line or unreadable input file;
	                       * also "status" of a sealed vault (as vault
	                       * status does) */
	CTL_EXIT_CONNECT = 3, /* cannot connect to the socket, or the server
	                       * on it is not the expected uid */
};

/* Everything one invocation knows. */
struct ctl {
	const char *socket;
	int json;
	enum vault_purpose purpose;   /* 0 when -p was not given */
	unsigned int timeout_ms;
	struct vault_connect_options connect; /* --server-uid */
	struct vault *v;              /* set by ctl_connect() */
	int stdin_used;               /* "@-" or a document from "-" seen */
	const struct ctl_command *cmd; /* the command being run */
	const char *cmd_name;         /* its words ("keys rotate"), for messages */
};

/*
 * One subcommand: the table in vaultctl.c dispatches on name and prints the
 * usage text from args and description. fn gets the arguments after the
 * command's name (argv[0] is the name) and returns an enum ctl_exit.
 *
 * A command with words of its own ("keys status") has no fn but a sub-table
 * (ended by an entry whose name is NULL): the next argument names the entry
 * to run, and argv[0] is then that entry's name.
 */
struct ctl_command {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
	const char *args;
	const char *description;
	int needs_purpose;
	const struct ctl_command *sub;
};

/* Command-specific long options ("--name"), for ctl_args_next(). */
struct ctl_option {
	const char *name;
	int has_arg;
};

struct ctl_args {
	const char *cmd;
	int argc;
	char **argv;
	int i;
	int options_done;     /* "--" seen */
	int scanned;          /* vaultctl's own options taken out */
};

enum ctl_arg_kind {
	CTL_ARG_END,
	CTL_ARG_POSITIONAL,
	CTL_ARG_OPTION,
	CTL_ARG_ERROR,        /* already reported as a usage error */
};

void ctl_args_init(struct ctl_args *a, int argc, char **argv);
/*
 * The next argument: a positional one (*val points into argv, *argno is its
 * position after the command), or one of opts (*opt, and *val its argument
 * if it takes one). Options and positional arguments may be mixed; "--"
 * ends the options.
 *
 * The first call takes vaultctl's own options (-s/--socket, -p/--purpose,
 * --json, --server-uid, -t/--timeout) out of the arguments before "--", so
 * that they work after the command words too; the values of the command's
 * own options are skipped (a "--reason --json" keeps "--json" as the
 * reason), and a command option of the same name (holds place --purpose)
 * wins over vaultctl's. Then it checks what the command needs of them
 * (ctl_globals_ready): every command goes through here before it acts.
 */
enum ctl_arg_kind ctl_args_next(struct ctl *c, struct ctl_args *a,
    const struct ctl_option *opts, const struct ctl_option **opt, char **val,
    int *argno);

/* input.c: FIELD=VALUE arguments and --document NAME:TYPE:PATH. */
int ctl_add_field(struct ctl *c, const char *cmd, struct vault_record *r,
    char *arg, int argno);
int ctl_add_document(struct ctl *c, const char *cmd, struct vault_record *r,
    const char *spec);
/* vaultctl.c: set one of vaultctl's own options by its long name; 0, or -1
 * with the reason in err. */
int ctl_set_global(struct ctl *c, const char *name, const char *val, char *err,
    size_t errlen);
/* After the options: the command's purpose is given if it needs one, the
 * socket defaulted. CTL_EXIT_OK or a usage error (reported). */
int ctl_globals_ready(struct ctl *c);
/* For commands without arguments: CTL_EXIT_OK or a usage error. */
int ctl_no_args(struct ctl *c, const char *cmd, int argc, char **argv);
/* Parse a decimal number in [min, max]; 0 or -1. */
int ctl_parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *out);
/* Marketing channels, in the vault's order; the index of s, or -1. */
#define CTL_NCHANNELS 3
extern const char *const ctl_channels[CTL_NCHANNELS];
int ctl_channel_index(const char *s);

/* output.c */
void ctl_output_init(void);
/* Flush and wipe stdout's buffer: 0, or -1 if the output could not be written. */
int ctl_output_finish(void);
int ctl_connect(struct ctl *c);
int ctl_usage_error(struct ctl *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Report rc from the last call on c->v; extra (may be NULL, stolen) adds
 * keys to the JSON error object. Returns CTL_EXIT_VAULT. */
int ctl_vault_error(struct ctl *c, int rc, json_t *extra);
/* A local failure after connecting, reported under code's name. */
/* All of len bytes to fd (interrupted writes resumed): 0, or -1 with errno. */
int ctl_write_all(int fd, const void *data, size_t len);
int ctl_local_error(struct ctl *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Print root (stolen) on stdout as one line; CTL_EXIT_OK or an error.
 * Integer times under the keys PROTOCOL.md gives them (due_at, time, ...)
 * become RFC 3339 UTC strings, 0 null: one style for every command. */
int ctl_json_emit(struct ctl *c, json_t *root);
/* The same without touching the times: for a signed document whose bytes
 * are fixed (an audit checkpoint). */
int ctl_json_emit_raw(struct ctl *c, json_t *root);

/* progress.c: a line on stderr while a long call runs, on a terminal only
 * (isatty(2)): never when stderr is a pipe or a file, so scripts and logs
 * see none. what: "compacting the data file"; shown after a second, with
 * the time elapsed, and erased at the end. */
void ctl_progress_start(struct ctl *c, const char *what);
void ctl_progress_stop(void);
/* Whether progress may be shown at all: stderr is a terminal. */
int ctl_progress_wanted(void);
/* "name: value", continuation lines of a multi-line value indented. */
void ctl_print_field(const char *name, const char *value);
/* Set obj[key] to a string or an integer: 0, or -1 (no memory, or s is
 * not UTF-8); obj may be NULL (then -1), so a chain of calls needs one check. */
int ctl_json_set_str(json_t *obj, const char *key, const char *s);
int ctl_json_set_int(json_t *obj, const char *key, json_int_t n);

/* One file per command. */
int ctl_cmd_ping(struct ctl *c, int argc, char **argv);
int ctl_cmd_status(struct ctl *c, int argc, char **argv);
int ctl_cmd_create(struct ctl *c, int argc, char **argv);
int ctl_cmd_read(struct ctl *c, int argc, char **argv);
int ctl_cmd_update(struct ctl *c, int argc, char **argv);
int ctl_cmd_delete(struct ctl *c, int argc, char **argv);
int ctl_cmd_tokenize(struct ctl *c, int argc, char **argv);
int ctl_cmd_detokenize(struct ctl *c, int argc, char **argv);
int ctl_cmd_list(struct ctl *c, int argc, char **argv);
/* Administration (vault.h): the caller's policy client must have admin = true. */
int ctl_cmd_unseal(struct ctl *c, int argc, char **argv);
int ctl_cmd_keys_status(struct ctl *c, int argc, char **argv);
int ctl_cmd_keys_rotate(struct ctl *c, int argc, char **argv);
int ctl_cmd_keys_retire(struct ctl *c, int argc, char **argv);
int ctl_cmd_keys_rekey(struct ctl *c, int argc, char **argv);
int ctl_cmd_keys_rotate_record(struct ctl *c, int argc, char **argv);
int ctl_cmd_backup(struct ctl *c, int argc, char **argv);
int ctl_cmd_audit_verify(struct ctl *c, int argc, char **argv);
int ctl_cmd_audit_query(struct ctl *c, int argc, char **argv);
int ctl_cmd_breach_report(struct ctl *c, int argc, char **argv);
int ctl_cmd_audit_checkpoint(struct ctl *c, int argc, char **argv);
int ctl_cmd_policy_reload(struct ctl *c, int argc, char **argv);
int ctl_cmd_metrics(struct ctl *c, int argc, char **argv);
/* metrics.c: the metrics op's map for status (NULL if refused: not an
 * admin, or an older server), and its summary as "name: value" lines. */
json_t *ctl_metrics_fetch(struct ctl *c);
void ctl_metrics_print(const json_t *m);
/* The "type" of a checkpoint file (audit_checkpoint.c). */
#define CTL_CHECKPOINT_TYPE "vault-audit-checkpoint-v1"


/* Privacy requests, holds, signed documents (PROTOCOL.md 8.18): these go
 * through vault_call_json(). */
int ctl_cmd_requests_open(struct ctl *c, int argc, char **argv);
int ctl_cmd_requests_verify(struct ctl *c, int argc, char **argv);
int ctl_cmd_requests_confirm(struct ctl *c, int argc, char **argv);
int ctl_cmd_requests_complete(struct ctl *c, int argc, char **argv);
int ctl_cmd_requests_extend(struct ctl *c, int argc, char **argv);
int ctl_cmd_requests_list(struct ctl *c, int argc, char **argv);
int ctl_cmd_requests_show(struct ctl *c, int argc, char **argv);
int ctl_cmd_requests_receipt(struct ctl *c, int argc, char **argv);
int ctl_cmd_deletions_pending(struct ctl *c, int argc, char **argv);
int ctl_cmd_deletions_ack(struct ctl *c, int argc, char **argv);
int ctl_cmd_holds_place(struct ctl *c, int argc, char **argv);
int ctl_cmd_holds_lift(struct ctl *c, int argc, char **argv);
int ctl_cmd_holds_list(struct ctl *c, int argc, char **argv);
int ctl_cmd_transaction(struct ctl *c, int argc, char **argv);
int ctl_cmd_keys_signing(struct ctl *c, int argc, char **argv);
int ctl_cmd_export_verify(struct ctl *c, int argc, char **argv);

/* privacy.c: what those commands share. */
/*
 * Connect if need be and run op with args (a JSON object, stolen; NULL for
 * none); *result (may be NULL) receives the result, to be released with
 * json_decref. Errors are reported here: returns an enum ctl_exit.
 */
int ctl_call(struct ctl *c, const char *op, enum vault_purpose purpose,
    json_t *args, json_t **result);
/* A request or hold id: 1 to 2^63-1; 0, or -1 if malformed. */
int ctl_parse_id(const char *s, uint64_t *out);
/* TIME: Unix seconds, or UTC as YYYY-MM-DD (its first second) or
 * YYYY-MM-DDTHH:MM:SSZ; 0 or -1. */
int ctl_parse_when(const char *s, uint64_t *out);
/*
 * A personal-data value of option --opt (stored in r under name): the
 * value itself, @PATH or @- (as FIELD=VALUE, input.c). A literal value is
 * wiped from argv once copied. Returns an enum ctl_exit.
 */
int ctl_add_value(struct ctl *c, const char *cmd, struct vault_record *r,
    const char *name, char *val, int argno);
/* obj[key] as a string ("" if absent or not one) or an integer (0). */
const char *ctl_jstr(const json_t *obj, const char *key);
json_int_t ctl_jint(const json_t *obj, const char *key);
/* Text from the server on one line: control bytes shown as '?'. */
void ctl_put_text(const char *s);
/* "hold H record R purpose P expires T reason: TEXT" lines. */
void ctl_print_holds(const json_t *holds);
/* Detached signature files (FILE.sig): one line, "ed25519 KEY_VERSION BASE64". */
#define CTL_SIG_ALGORITHM "ed25519"

/* keys.c: what the keys commands share. */
#define CTL_TIME_LEN 32
/* t (Unix seconds) as UTC ISO 8601, "2024-05-01T12:00:00Z"; "never" if 0. */
const char *ctl_time_iso(int64_t t, char out[CTL_TIME_LEN]);
/* The same as a JSON string, or JSON null for 0. */
json_t *ctl_json_time(int64_t t);
/* How far the rewrap has come, 0-100 (100 when there is nothing to do). */
unsigned ctl_rotation_percent(const struct vault_keys_status *s);
/* "rotating to epoch N: X of Y records examined (Z%), W rewrapped". */
void ctl_rotation_line(const struct vault_keys_status *s, char *out, size_t len);
/* "N record" or "N records". */
const char *ctl_plural(uint64_t n, const char *one, const char *many);

#endif
