/*
 * vaultctl.c - main() of vaultctl, the command line over the client
 * library: vaultctl's own options (before the command here; after it,
 * ctl_args_next() takes them), the subcommand table (which also prints the
 * usage text, whole or one command's) and the central checks made before a
 * command runs. The commands themselves live in ctl/, one file each.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <vault/vault.h>

#include "common/version.h"
#include "ctl/ctl.h"

#include "common/paths.h"

#define DEFAULT_SOCKET VAULT_SOCKET_PATH

#define EXIT_STATUS_TEXT \
	"Exit status: 0 success; 1 the operation failed: the vault answered with\n" \
	"an error (or a document could not be written, audit verify found damage,\n" \
	"requests verify did not verify, export verify found the signature\n" \
	"invalid); 2 usage error (including an unreadable input file), and status\n" \
	"of a sealed vault; 3 cannot connect to the socket, or the server on it\n" \
	"does not run as the expected uid.\n"

static int cmd_help(struct ctl *c, int argc, char **argv);

/* "vaultctl keys WORD": the key ring (administrators only). */
static const struct ctl_command keys_commands[] = {
	{ .name = "status", .fn = ctl_cmd_keys_status, .args = "",
	  .description = "key-encryption key epochs (created, records each wraps, which is\n"
	  "current), token and index key versions, rotation progress, schedule" },
	{ .name = "rotate", .fn = ctl_cmd_keys_rotate, .args = "[kek|token|index] [--wait]",
	  .description = "make a new key current (default kek: a new epoch, then the server\n"
	  "rewraps every data key); prints the new epoch or version; --wait\n"
	  "follows the rewrap to its end, progress on stderr when it is a\n"
	  "terminal" },
	{ .name = "retire", .fn = ctl_cmd_keys_retire, .args = "EPOCH",
	  .description = "destroy an old epoch's key and compact the data file; refused while\n"
	  "it is current or records depend on it" },
	{ .name = "rekey", .fn = ctl_cmd_keys_rekey,
	  .args = "(--key-file PATH | --passphrase [--opslimit N] [--memlimit BYTES] |\n"
	  "--shares N --threshold K | --pkcs11 --token T --key K [--pin-file F]\n"
	  "[--shares N --threshold K]) [--share-dir DIR]",
	  .description = "seal the key ring under a new root while vaultd runs: a root key\n"
	  "file (read, or made if PATH does not exist), a passphrase (terminal or\n"
	  "one line of standard input), N Shamir shares of which K unseal, or a\n"
	  "PKCS#11 token key ([keys] pkcs11_module; with --shares the PIN is split).\n"
	  "Only the ring's seal is rewritten (atomically); the old root, passphrase\n"
	  "or shares stop opening it. New shares are printed, or written to\n"
	  "DIR/share-I (0600). Old copies of the ring file still open with the\n"
	  "old root: destroy it (SECURITY.md)" },
	{ .name = "rotate-record", .fn = ctl_cmd_keys_rotate_record, .args = "TOKEN",
	  .description = "a new data key for one record; prints its version" },
	{ .name = "signing", .fn = ctl_cmd_keys_signing, .args = "",
	  .description = "the Ed25519 public keys that sign receipts and exports, one a\n"
	  "line: \"version N public key BASE64\" (\"current\" marks the one in use);\n"
	  "any client may ask" },
	{ .name = NULL },
};

/* "vaultctl policy WORD": the policy in force (administrators only). */
static const struct ctl_command policy_commands[] = {
	{ .name = "reload", .fn = ctl_cmd_policy_reload, .args = "",
	  .description = "have the server read its policy file again (as on SIGHUP); a\n"
	  "file with an error is refused, naming the line and the reason, and\n"
	  "the policy in force stays" },
	{ .name = NULL },
};

/* "vaultctl requests WORD": privacy requests (clients with privacy = true). */
static const struct ctl_command requests_commands[] = {
	{ .name = "open", .fn = ctl_cmd_requests_open,
	  .args = "--kind delete|know|opt_out --channel online|phone|email|mail\n"
	  "--requester self|agent|guardian [--permission REF]\n"
	  "[--channels email,phone,mail] [--received-at TIME]",
	  .description = "log a person's request; prints \"request ID open, due TIME\".\n"
	  "--permission (the written permission's reference) is required for an\n"
	  "agent or guardian; --channels only for opt_out (default all three);\n"
	  "--received-at when it reached the company (default now)" },
	{ .name = "verify", .fn = ctl_cmd_requests_verify,
	  .args = "ID [--first-name V] [--last-name V] [--email V] [--phone V]\n"
	  "[--address V] [--order-ref V] [--order-date YYYY-MM-DD]\n"
	  "[--order-amount V]",
	  .description = "check what the person told us against the vault: the first\n"
	  "and last name always, and as many data points in all as the\n"
	  "request's threshold (3 for a deletion). V may be @PATH or @- as\n"
	  "for FIELD=VALUE, and is never printed. Prints\n"
	  "\"verified: yes|no\", the points each candidate record matched, the\n"
	  "attempts left and the confirmation code of an online deletion;\n"
	  "exits 1 if not verified" },
	{ .name = "confirm", .fn = ctl_cmd_requests_confirm, .args = "ID CODE",
	  .description = "the confirmation code the person sent back (online deletion;\n"
	  "CODE may be @PATH or @-); a wrong or expired code prints the\n"
	  "attempts left and exits 1" },
	{ .name = "complete", .fn = ctl_cmd_requests_complete, .args = "ID [--out FILE]",
	  .description = "carry out a verified request. A deletion's receipt or a right-\n"
	  "to-know export is a signed JSON document: --out writes it to FILE and\n"
	  "its signature to FILE.sig (\"ed25519 KEY_VERSION BASE64\"), both new,\n"
	  "mode 0600; without --out the document goes to stdout exactly as\n"
	  "signed and the signature line to stderr. A deletion blocked by holds\n"
	  "is deferred: the holds are printed. An opt-out prints its record count" },
	{ .name = "extend", .fn = ctl_cmd_requests_extend, .args = "ID --reason TEXT",
	  .description = "move the due date 45 days later (once per request)" },
	{ .name = "list", .fn = ctl_cmd_requests_list, .args = "[--state STATE] [--overdue]",
	  .description = "the requests, oldest first, as a table; OVERDUE marks those past\n"
	  "their due date, \"+\" an extended due date. STATE: open, verified,\n"
	  "deferred, completed, rejected; --overdue: open requests past due" },
	{ .name = "receipt", .fn = ctl_cmd_requests_receipt, .args = "ID --out FILE",
	  .description = "save a completed deletion's signed receipt to FILE and FILE.sig\n"
	  "(for one completed later by a hold's end)" },
	{ .name = "show", .fn = ctl_cmd_requests_show, .args = "ID",
	  .description = "one request: summary, history, extension reason, and a\n"
	  "completed deletion's receipt and signature" },
	{ .name = NULL },
};

/* "vaultctl holds WORD": legal and other holds (administrators only). */
static const struct ctl_command holds_commands[] = {
	{ .name = "place", .fn = ctl_cmd_holds_place,
	  .args = "RECORD_TOKEN --purpose HOLD_PURPOSE --reason TEXT\n"
	  "[--expires TIME]",
	  .description = "keep a record from deletion, and allow reads only for the hold's\n"
	  "purpose; prints the hold's id. HOLD_PURPOSE: transaction, security,\n"
	  "error_correction, legal, internal" },
	{ .name = "lift", .fn = ctl_cmd_holds_lift, .args = "ID",
	  .description = "lift a hold; prints the deferred requests it let complete" },
	{ .name = "list", .fn = ctl_cmd_holds_list, .args = "[RECORD_TOKEN]",
	  .description = "the holds (of one record, or all), one a line" },
	{ .name = NULL },
};

/* "vaultctl deletions WORD": the calling client's own deletion feed. */
static const struct ctl_command deletions_commands[] = {
	{ .name = "pending", .fn = ctl_cmd_deletions_pending, .args = "",
	  .description = "the deleted records whose data this client received and has not\n"
	  "acknowledged, one notice a line: id, record token, time, reason,\n"
	  "request, and the fields it received (=TOKEN: the opaque token it holds)" },
	{ .name = "ack", .fn = ctl_cmd_deletions_ack, .args = "ID...",
	  .description = "acknowledge notices once this client deleted its copies (all or\n"
	  "none: an id not in this client's feed, or acknowledged before, fails)" },
	{ .name = NULL },
};

/* "vaultctl export WORD": signed documents, offline. */
static const struct ctl_command export_commands[] = {
	{ .name = "verify", .fn = ctl_cmd_export_verify,
	  .args = "FILE [--signature SIGFILE] [--public-key BASE64]",
	  .description = "check the Ed25519 signature (SIGFILE, default FILE.sig) over\n"
	  "FILE's exact bytes; prints \"signature valid (key version N)\", or\n"
	  "\"signature INVALID ...\" and exits 1. With --public-key (from keys\n"
	  "signing) no vault is needed; without, the vault gives the key" },
	{ .name = NULL },
};

/* "vaultctl breach WORD": breach impact (administrators only). */
static const struct ctl_command breach_commands[] = {
	{ .name = "report", .fn = ctl_cmd_breach_report,
	  .args = "(--client NAME | --uid UID | --all) --from TIME --to TIME\n"
	  "[--notify --out FILE]",
	  .description = "which records the client (the clients of a uid, every client)\n"
	  "read, detokenized or got tokens of between the two times, with the\n"
	  "fields of each, from the audit trail verified as it is read (refused,\n"
	  "naming the entry, when it is damaged inside the window): one line a\n"
	  "record, \"record TOKEN ...\" or \"deleted at TIME ...\", then counts of\n"
	  "people and records by field. --notify (purpose security, the default\n"
	  "here): also the notification list, each affected person's contact\n"
	  "channel (email, else postal address), signed like exports, written\n"
	  "only to FILE (mode 0600) and FILE.sig; check with export verify" },
	{ .name = NULL },
};

/* "vaultctl audit WORD": the audit trail (administrators only). */
static const struct ctl_command audit_commands[] = {
	{ .name = "verify", .fn = ctl_cmd_audit_verify,
	  .args = "[--checkpoint FILE [--public-key BASE64]]",
	  .description = "check every entry's MAC and the hash chain up to the head file,\n"
	  "and that the trail holds the entry the data records; prints \"audit\n"
	  "trail intact: N entries in F files\", or \"audit trail DAMAGED at entry\n"
	  "SEQ: REASON\" and exits 1. --checkpoint FILE (from audit checkpoint):\n"
	  "also check its signature (with --public-key, as keys signing printed\n"
	  "it, or the vault's key) and that the trail still holds its entry and\n"
	  "goes on from it" },
	{ .name = "checkpoint", .fn = ctl_cmd_audit_checkpoint, .args = "",
	  .description = "print a signed checkpoint of the trail (its last entry's seq and\n"
	  "MAC, the time; Ed25519 with the signing key of keys signing) as one\n"
	  "JSON line: keep it off the machine, e.g.\n"
	  "vaultctl audit checkpoint > /mnt/offsite/audit-$(date +%F).json" },
	{ .name = "query", .fn = ctl_cmd_audit_query,
	  .args = "[--record TOKEN] [--client NAME] [--purpose PURPOSE]\n"
	  "[--from TIME] [--to TIME] [--limit N] [--node SOCKET]...",
	  .description = "who touched what, and when: the entries matching every filter,\n"
	  "oldest first, at most N (1-100000, default 1000), one a line:\n"
	  "  SEQ TIME CLIENT uid=UID PURPOSE OP OUTCOME records=R,... fields=F,...\n"
	  "(\"-\" for no client, no purpose or an empty list; records are the\n"
	  "trail's pseudonyms, never tokens; OUTCOME is ok or an error name).\n"
	  "\"Which records did this service read between these times?\":\n"
	  "vaultctl audit query --client shipping --from 2026-11-01 --to 2026-11-29\n"
	  "--record TOKEN: everything done to one record; --from and --to are\n"
	  "inclusive, a date alone meaning the whole day. query does not check\n"
	  "the MACs: run audit verify before relying on what it shows.\n"
	  "--node SOCKET (repeatable): several vaultd nodes on one database keep\n"
	  "a trail each: also ask the node on SOCKET, merge by time, and end each\n"
	  "line with node=SOCKET" },
	{ .name = NULL },
};

static const struct ctl_command commands[] = {
	{ .name = "ping", .fn = ctl_cmd_ping, .args = "",
	  .description = "check the connection and the protocol version; prints \"ok\"" },
	{ .name = "status", .fn = ctl_cmd_status, .args = "",
	  .description = "protocol version, live records, tombstones, key epoch, uptime,\n"
	  "whether the vault is sealed, vaultd's version; exits 2 when the\n"
	  "vault is sealed (0 unsealed, 1 error); for an administrator also\n"
	  "the counters of metrics (connections, requests, errors, commits,\n"
	  "write queue)" },
	{ .name = "metrics", .fn = ctl_cmd_metrics, .args = "",
	  .description = "the server's counters in Prometheus text format (for node_exporter's\n"
	  "textfile collector; README, \"Monitoring\"); --json prints the map of\n"
	  "the metrics operation (PROTOCOL.md); administrators only" },
	{ .name = "create", .fn = ctl_cmd_create, .needs_purpose = 1,
	  .args = "FIELD=VALUE... [--document NAME:TYPE:PATH]... [--child]",
	  .description = "store a new record; prints its record token, alone; --child\n"
	  "flags the record of a child under 13 (not with --document)" },
	{ .name = "read", .fn = ctl_cmd_read, .needs_purpose = 1,
	  .args = "TOKEN [FIELD...] [--documents DIR [--document SLOT]]",
	  .description = "print a record's fields (all, or those named) as \"field: value\",\n"
	  "then \"documents: SLOT, ...\" if it holds any, and last \"marketing\n"
	  "opt-out: CHANNEL, ...\" (or none); with --documents, also write each\n"
	  "document to DIR/SLOT-NAME (never overwriting, mode 0600; NAME reduced\n"
	  "to [A-Za-z0-9._-]) and list it; --document SLOT fetches only that one\n"
	  "(for documents too large together for one reply)" },
	{ .name = "update", .fn = ctl_cmd_update, .needs_purpose = 1,
	  .args = "TOKEN [FIELD=VALUE...] [--clear FIELD]...\n"
	  "[--document NAME:TYPE:PATH]... [--remove-document SLOT]...\n"
	  "[--opt-out CHANNEL]... [--opt-in CHANNEL]... [--child|--no-child]",
	  .description = "set and clear fields, add and remove documents: all or nothing;\n"
	  "then record the person's marketing choice per CHANNEL, one request\n"
	  "each, then the child flag (a failure there leaves the earlier steps\n"
	  "applied, and says so)" },
	{ .name = "delete", .fn = ctl_cmd_delete, .needs_purpose = 1,
	  .args = "TOKEN --reason REASON",
	  .description = "delete a record for good (crypto-shredding)" },
	{ .name = "tokenize", .fn = ctl_cmd_tokenize, .needs_purpose = 1,
	  .args = "TOKEN FIELD:KIND...",
	  .description = "issue one field token per FIELD:KIND; prints \"field kind token\" "
	  "lines" },
	{ .name = "detokenize", .fn = ctl_cmd_detokenize, .needs_purpose = 1,
	  .args = "TOKEN...",
	  .description = "resolve field tokens: a \"field: value\" or \"error NAME: message\" "
	  "line\neach, in order; exit 1 if any did not resolve" },
	{ .name = "list", .fn = ctl_cmd_list, .needs_purpose = 1,
	  .args = "[--channel CHANNEL] [--after TOKEN] [--limit N] [--all]",
	  .description = "print record tokens, one a line: N (1-1000, default 100) after\n"
	  "TOKEN (or from the first); --all follows the pages to the end;\n"
	  "--channel skips the records opted out of marketing by CHANNEL, and\n"
	  "purpose marketing requires it (the policy must let the caller list)" },
	{ .name = "unseal", .fn = ctl_cmd_unseal, .args = "[--share | --share-file FILE]",
	  .description = "open a passphrase-sealed key ring; the passphrase (or PKCS#11 PIN) is\n"
	  "read from the terminal without echo, or as one line from standard input.\n"
	  "--share gives one Shamir share instead (read the same way), --share-file\n"
	  "FILE one from a file; prints \"share accepted: k of K given\" until the\n"
	  "K-th unseals. If K shares do not combine, all are discarded: start again" },
	{ .name = "transaction", .fn = ctl_cmd_transaction,
	  .args = "RECORD_TOKEN [--reference R] [--date YYYY-MM-DD] [--amount A]",
	  .description = "record the person's last transaction with the record, for\n"
	  "identity verification (only keyed hashes are kept; purpose\n"
	  "transactional implied); values as for verify's V" },
	{ .name = "requests", .sub = requests_commands },
	{ .name = "holds", .sub = holds_commands },
	{ .name = "deletions", .sub = deletions_commands },
	{ .name = "export", .sub = export_commands },
	{ .name = "keys", .sub = keys_commands },
	{ .name = "audit", .sub = audit_commands },
	{ .name = "breach", .sub = breach_commands },
	{ .name = "policy", .sub = policy_commands },
	{ .name = "backup", .fn = ctl_cmd_backup, .args = "NAME | list",
	  .description = "have the server write a compacted copy of the data file to its\n"
	  "backup directory as NAME (never replacing one); prints path and size.\n"
	  "backup list: every backup there, newest first: when taken, records, the\n"
	  "key epochs it needs, usable now or unusable since which retire, and\n"
	  "the newest usable one" },
	{ .name = "help", .fn = cmd_help, .args = "[COMMAND [WORD]]",
	  .description = "print this text, or one command's (as COMMAND --help)" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Print text with every line after the first indented by indent. */
static void
print_indented(FILE *f, const char *text, const char *indent)
{
	for (const char *p = text; *p != '\0'; p++) {
		fputc(*p, f);
		if (*p == '\n')
			fputs(indent, f);
	}
}

/* One command's entry in the usage text; prefix is its parent's word. */
static void
print_command(FILE *f, const char *prefix, const struct ctl_command *cmd)
{
	fprintf(f, "  %s%s%s%s", prefix ? prefix : "", prefix ? " " : "", cmd->name,
	    cmd->args[0] ? " " : "");
	print_indented(f, cmd->args, "      ");
	fputs("\n      ", f);
	print_indented(f, cmd->description, "      ");
	fputc('\n', f);
}

static const char *
purpose_name(int i)
{
	return vault_purpose_name((enum vault_purpose)i);
}

static const char *
kind_name(int i)
{
	return vault_token_kind_name((enum vault_token_kind)i);
}

static const char *
reason_name(int i)
{
	return vault_delete_reason_name((enum vault_delete_reason)i);
}

/* "a, b, c" from one of the library's name functions (ids start at 1). */
static void
join_names(char *buf, size_t size, const char *(*name)(int))
{
	const char *s;
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 1; (s = name(i)) != NULL && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
		    i > 1 ? ", " : "", s);
}

static void
usage(FILE *f)
{
	char names[128];
	int first = 1;

	fputs("usage: vaultctl [-s SOCKET] [--server-uid UID] [--json] [-p PURPOSE]\n"
	    "                [-t TIMEOUT_MS] COMMAND [ARGS]\n"
	    "       vaultctl COMMAND --help | --help | --version\n"
	    "\n"
	    "Options (before or after COMMAND; \"--\" ends them):\n"
	    "  -s, --socket SOCKET    vaultd's socket (default: $VAULT_SOCKET, else\n"
	    "                         " DEFAULT_SOCKET ")\n"
	    "      --server-uid UID   the uid vaultd runs as: vaultctl sends nothing to\n"
	    "                         a server running as another (default:\n"
	    "                         $VAULT_SERVER_UID, else the owner of the socket's\n"
	    "                         directory)\n"
	    "  -p, --purpose PURPOSE  why the data is used; required by", f);
	for (size_t i = 0, col = 0; i < NCOMMANDS; i++) {
		if (!commands[i].needs_purpose)
			continue;
		/* 25 columns of indent, lines of at most 79. */
		if (first || col + 2 + strlen(commands[i].name) > 79 - 25) {
			fprintf(f, "%s\n                         ", first ? "" : ",");
			col = 0;
		} else {
			fputs(", ", f);
			col += 2;
		}
		fputs(commands[i].name, f);
		col += strlen(commands[i].name);
		first = 0;
	}
	fputs("\n"
	    "                         (after holds place and audit query, --purpose\n"
	    "                         is theirs: use -p)\n"
	    "  -t, --timeout MS       give up waiting for a reply after MS milliseconds\n"
	    "                         (default 0: wait as long as it takes)\n"
	    "      --json             print one JSON object on standard output,\n"
	    "                         errors included: {\"error\", \"code\", \"message\",\n"
	    "                         \"field\"}; times as RFC 3339 UTC, none as null\n"
	    "  -h, --help             print this text (COMMAND --help: that command's)\n"
	    "      --version          print \"vaultctl VERSION\" and exit\n"
	    "\n"
	    "Commands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (commands[i].sub == NULL) {
			print_command(f, NULL, &commands[i]);
			continue;
		}
		for (const struct ctl_command *s = commands[i].sub; s->name != NULL; s++)
			print_command(f, commands[i].name, s);
	}
	join_names(names, sizeof(names), purpose_name);
	fprintf(f, "\nNames:\n  PURPOSE  %s\n", names);
	join_names(names, sizeof(names), kind_name);
	fprintf(f, "  KIND     %s\n", names);
	join_names(names, sizeof(names), reason_name);
	fprintf(f, "  REASON   %s\n", names);
	fputs("  CHANNEL  email, phone, mail (postal_address)\n", f);
	fputs("  TIME     Unix seconds, or UTC: YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD\n", f);
	fputs("  FIELD    as in PROTOCOL.md: first_name, last_name, postal_address, "
	    "email,\n"
	    "           phone, ip_address, cookie_id, card_number, card_expiry, "
	    "bank_account\n"
	    "\n"
	    "Values (FIELD=VALUE):\n"
	    "  FIELD=TEXT   the value itself (FIELD=@@TEXT for a value that starts "
	    "with @)\n"
	    "  FIELD=@PATH  the content of the file PATH, one trailing newline "
	    "removed\n"
	    "  FIELD=@-     read from standard input, one trailing newline removed\n"
	    "               (one field, or one document PATH \"-\", per command)\n"
	    "  A value written on the command line is visible to every user of the\n"
	    "  machine in ps output, and stays in the shell's history: pass real\n"
	    "  personal data with @PATH or @- instead.\n"
	    "  --document NAME:TYPE:PATH reads the document's bytes from PATH\n"
	    "  (\"-\": standard input); NAME and TYPE cannot hold ':', PATH can.\n"
	    "\n"
	    "Administration (unseal, keys, audit, backup) needs a policy client with\n"
	    "admin = true matching the caller; no key bytes and no passphrase are ever\n"
	    "printed, and the audit trail holds no personal data. Privacy requests\n"
	    "need a client with privacy = true in the policy, holds admin = true.\n"
	    "\n"
	    "Progress (backup, keys rotate --wait, keys retire) goes to standard\n"
	    "error on a terminal only; with a pipe or a file there is none.\n"
	    "\n"
	    EXIT_STATUS_TEXT,
	    f);
}

/* The global options, as one command's help shows them. */
static void
command_options(FILE *f, int needs_purpose)
{
	fprintf(f, "\nOptions (before or after the command words; \"--\" ends them):\n"
	    "  -s, --socket SOCKET  --server-uid UID  -t, --timeout MS  --json\n"
	    "  -p, --purpose PURPOSE%s\n"
	    "\n" EXIT_STATUS_TEXT
	    "\"vaultctl --help\" explains the options, names and values.\n",
	    needs_purpose ? " (required)" : "");
}

/* One command's help only: "vaultctl keys rotate --help". */
static void
command_usage(FILE *f, const struct ctl_command *parent, const struct ctl_command *cmd)
{
	fprintf(f, "usage: vaultctl [OPTIONS] %s%s%s%s", parent ? parent->name : "",
	    parent ? " " : "", cmd->name, cmd->args[0] ? " " : "");
	print_indented(f, cmd->args, "         ");
	fputs("\n\n  ", f);
	print_indented(f, cmd->description, "  ");
	fputc('\n', f);
	command_options(f, cmd->needs_purpose);
}

/* A command with words of its own: "vaultctl keys --help" lists them. */
static void
parent_usage(FILE *f, const struct ctl_command *parent)
{
	fprintf(f, "usage: vaultctl [OPTIONS] %s WORD [ARGS]\n\n", parent->name);
	for (const struct ctl_command *s = parent->sub; s->name != NULL; s++)
		print_command(f, parent->name, s);
	command_options(f, 0);
}

static const struct ctl_command *find_command(const char *name);
static const struct ctl_command *find_sub(const struct ctl_command *cmd,
    const char *name);

static int
cmd_help(struct ctl *c, int argc, char **argv)
{
	const struct ctl_command *cmd, *sub;
	const struct ctl_option *opt;
	struct ctl_args a;
	enum ctl_arg_kind k;
	char *words[2] = { NULL, NULL }, *val;
	int n = 0, argno;

	c->cmd_name = NULL; /* errors point to "vaultctl --help" */
	ctl_args_init(&a, argc, argv);
	while ((k = ctl_args_next(c, &a, NULL, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (n == 2)
			return ctl_usage_error(c, "help: at most COMMAND and WORD");
		words[n++] = val;
	}
	if (n == 0) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	if ((cmd = find_command(words[0])) == NULL)
		return ctl_usage_error(c, "help: no command %.40s", words[0]);
	if (cmd->sub == NULL) {
		if (n > 1)
			return ctl_usage_error(c, "help: %s has no words", cmd->name);
		command_usage(stdout, NULL, cmd);
	} else if (n == 1) {
		parent_usage(stdout, cmd);
	} else if ((sub = find_sub(cmd, words[1])) == NULL) {
		return ctl_usage_error(c, "help: no command %s %.40s", cmd->name, words[1]);
	} else {
		command_usage(stdout, cmd, sub);
	}
	return CTL_EXIT_OK;
}

static const struct ctl_command *
find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static const struct ctl_command *
find_sub(const struct ctl_command *cmd, const char *name)
{
	for (const struct ctl_command *s = cmd->sub; s->name != NULL; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

/* "a, b, c": the words of a command with a sub-table. */
static void
join_subs(char *buf, size_t size, const struct ctl_command *cmd)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const struct ctl_command *s = cmd->sub; s->name != NULL && used < size; s++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
		    s != cmd->sub ? ", " : "", s->name);
}

/* "--help" or "-h" among a command's options asks for its usage text. */
static int
asks_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

/* "--json" among the arguments (before "--"): an error found before the
 * command's own parse still answers in JSON. */
static int
json_requested(int argc, char **argv)
{
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			return 1;
	return 0;
}

int
ctl_set_global(struct ctl *c, const char *name, const char *val, char *err,
    size_t errlen)
{
	char names[128];
	unsigned long n;

	if (strcmp(name, "json") == 0) {
		c->json = 1;
	} else if (strcmp(name, "socket") == 0) {
		c->socket = val;
		if (val[0] == '\0') {
			snprintf(err, errlen, "the socket path is empty");
			return -1;
		}
	} else if (strcmp(name, "server-uid") == 0) {
		/* (uid_t)-1 is no uid (chown(2) reads it as "unchanged"). */
		if (ctl_parse_uint(val, 0, UINT32_MAX - 1, &n) != 0) {
			snprintf(err, errlen, "--server-uid wants a uid, 0 to %lu",
			    (unsigned long)UINT32_MAX - 1);
			return -1;
		}
		c->connect.has_server_uid = 1;
		c->connect.server_uid = (uint32_t)n;
	} else if (strcmp(name, "purpose") == 0) {
		c->purpose = vault_purpose_from_name(val);
		if (c->purpose == 0) {
			join_names(names, sizeof(names), purpose_name);
			snprintf(err, errlen, "unknown purpose (one of %s)", names);
			return -1;
		}
	} else if (strcmp(name, "timeout") == 0) {
		if (ctl_parse_uint(val, 0, INT_MAX, &n) != 0) {
			snprintf(err, errlen, "--timeout wants milliseconds, 0 to %d", INT_MAX);
			return -1;
		}
		c->timeout_ms = (unsigned int)n;
	}
	return 0;
}

int
ctl_globals_ready(struct ctl *c)
{
	char names[128];

	if (c->cmd != NULL && c->cmd->needs_purpose && c->purpose == 0) {
		join_names(names, sizeof(names), purpose_name);
		return ctl_usage_error(c, "%s needs a purpose: vaultctl -p PURPOSE %s ... "
		    "(PURPOSE: %s)", c->cmd->name, c->cmd->name, names);
	}
	if (c->socket == NULL) {
		c->socket = getenv("VAULT_SOCKET");
		if (c->socket == NULL || c->socket[0] == '\0')
			c->socket = DEFAULT_SOCKET;
	}
	return CTL_EXIT_OK;
}

static int
run(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "server-uid", required_argument, NULL, 'u' },
		{ "purpose", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static char words[96];
	const struct ctl_command *cmd, *parent = NULL;
	char err[256] = "", names[128];
	int opt, help = 0, version = 0;

	/* Errors wait until every option is seen: --json may come later. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:s:p:t:h", longopts, NULL)) != -1) {
		if (err[0] != '\0')
			continue;
		switch (opt) {
		case 's':
			ctl_set_global(c, "socket", optarg, err, sizeof(err));
			break;
		case 'u':
			ctl_set_global(c, "server-uid", optarg, err, sizeof(err));
			break;
		case 'p':
			ctl_set_global(c, "purpose", optarg, err, sizeof(err));
			break;
		case 't':
			ctl_set_global(c, "timeout", optarg, err, sizeof(err));
			break;
		case 'j':
			c->json = 1;
			break;
		case 'h':
			help = 1;
			break;
		case 'V':
			version = 1;
			break;
		case ':':
			snprintf(err, sizeof(err), "option %s needs an argument",
			    argv[optind - 1]);
			break;
		default:
			if (optopt != 0)
				snprintf(err, sizeof(err), "unknown option -%c", optopt);
			else
				snprintf(err, sizeof(err), "unknown option %.40s",
				    argv[optind - 1]);
			break;
		}
	}
	/* Only for errors found before the command parses its arguments: there
	 * the command's options are not known, so a value "--json" could be
	 * mistaken (holds place ... --reason --json keeps its reason). */
	int json_later = json_requested(argc - optind, argv + optind);
	if (err[0] != '\0') {
		c->json |= json_later;
		return ctl_usage_error(c, "%s", err);
	}
	if (help) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	if (version) {
		printf("vaultctl %s\n", VAULT_VERSION);
		return CTL_EXIT_OK;
	}
	if (optind >= argc) {
		if (c->json)
			return ctl_usage_error(c, "no command given");
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if ((cmd = find_command(argv[0])) == NULL) {
		c->json |= json_later;
		return ctl_usage_error(c, "unknown command %.40s", argv[0]);
	}
	if (cmd->sub != NULL) {
		parent = cmd;
		join_subs(names, sizeof(names), parent);
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0)) {
			parent_usage(stdout, parent);
			return CTL_EXIT_OK;
		}
		if (argc < 2 || (cmd = find_sub(parent, argv[1])) == NULL)
			c->json |= json_later;
		if (argc < 2)
			return ctl_usage_error(c, "%s needs a subcommand (%s)", parent->name,
			    names);
		if (cmd == NULL)
			return ctl_usage_error(c, "unknown command %s %.40s (%s)",
			    parent->name, argv[1], names);
		argc--;
		argv++;
	}
	snprintf(words, sizeof(words), "%s%s%s", parent ? parent->name : "",
	    parent ? " " : "", cmd->name);
	c->cmd = cmd;
	c->cmd_name = words;
	if (cmd->fn != cmd_help && asks_help(argc, argv)) {
		command_usage(stdout, parent, cmd);
		return CTL_EXIT_OK;
	}
	return cmd->fn(c, argc, argv);
}

int
main(int argc, char **argv)
{
	struct rlimit nocore = { 0, 0 };
	struct ctl c = { 0 };
	int rc;

	/* The process holds personal data: never in a core file. */
	setrlimit(RLIMIT_CORE, &nocore);
	ctl_output_init();
	rc = run(&c, argc, argv);
	vault_close(c.v);
	if (ctl_output_finish() != 0 && rc == CTL_EXIT_OK) {
		fprintf(stderr, "vaultctl: cannot write the output: %s\n", strerror(errno));
		rc = CTL_EXIT_VAULT;
	}
	return rc;
}
