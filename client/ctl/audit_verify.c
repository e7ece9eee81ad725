/*
 * audit_verify.c - "vaultctl audit verify [--checkpoint FILE
 * [--public-key BASE64]]": the server checks its audit trail (every
 * entry's MAC and the hash chain, from the first rotated file to the head
 * file, and that it holds the entry the data records) and says whether it
 * is intact. A damaged trail is the command's answer, not a failed request,
 * but it exits 1 all the same so that a cron job notices. The answer names
 * sequence numbers, never entry contents.
 *
 * With --checkpoint (a file "audit checkpoint" printed), the checkpoint's
 * signature is checked first, here, with the vault's published key of its
 * key version (or --public-key, as "keys signing" prints it, kept off the
 * machine); then the server is asked whether the trail holds the
 * checkpoint's entry with its MAC and goes on from it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>
#include <vault/vault.h>

#include "common/checkpoint.h"
#include "ctl.h"

#define CHECKPOINT_FILE_MAX 4096

static const struct ctl_option options[] = {
	{ "checkpoint", 1 },
	{ "public-key", 1 },
	{ NULL, 0 },
};

struct checkpoint {
	uint64_t seq;
	char mac[CHECKPOINT_MAC_HEX + 1];
	int64_t time;
	uint32_t key_version;
	unsigned char sig[crypto_sign_BYTES];
};

static int
b64_exact(const char *s, unsigned char *out, size_t len)
{
	size_t n = 0;
	const char *end;
	size_t slen = strlen(s);
	if (sodium_base642bin(out, len, s, slen, NULL, &n, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || n != len || end != s + slen)
		return -1;
	return 0;
}

/* FILE as a checkpoint: CTL_EXIT_OK or a usage error. */
static int
read_checkpoint(struct ctl *c, const char *path, struct checkpoint *cp)
{
	json_error_t jerr;
	json_t *j, *seq, *tm, *kv, *mac, *sig, *type;
	FILE *f = fopen(path, "r");
	int ok;

	if (f == NULL)
		return ctl_usage_error(c, "audit verify: cannot open %s: %s", path,
		    strerror(errno));
	j = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	ok = j != NULL && ftell(f) <= CHECKPOINT_FILE_MAX;
	fclose(f);
	seq = json_object_get(j, "seq");
	tm = json_object_get(j, "time");
	kv = json_object_get(j, "key_version");
	mac = json_object_get(j, "mac");
	sig = json_object_get(j, "signature");
	type = json_object_get(j, "type");
	ok = ok && json_is_object(j) && json_is_integer(seq) && json_integer_value(seq) > 0 &&
	    json_is_integer(tm) && json_is_integer(kv) && json_integer_value(kv) > 0 &&
	    json_integer_value(kv) <= UINT32_MAX && json_is_string(mac) &&
	    json_string_length(mac) == CHECKPOINT_MAC_HEX &&
	    strspn(json_string_value(mac), "0123456789abcdef") == CHECKPOINT_MAC_HEX &&
	    json_is_string(sig) && b64_exact(json_string_value(sig), cp->sig,
	    sizeof(cp->sig)) == 0 &&
	    json_is_string(type) && strcmp(json_string_value(type), CTL_CHECKPOINT_TYPE) == 0;
	if (ok) {
		cp->seq = (uint64_t)json_integer_value(seq);
		cp->time = (int64_t)json_integer_value(tm);
		cp->key_version = (uint32_t)json_integer_value(kv);
		memcpy(cp->mac, json_string_value(mac), sizeof(cp->mac));
	}
	json_decref(j);
	if (!ok)
		return ctl_usage_error(c, "audit verify: %s is not an audit checkpoint (as "
		    "audit checkpoint prints it)", path);
	return CTL_EXIT_OK;
}

/* The vault's public key of version: an enum ctl_exit. */
static int
vault_key(struct ctl *c, uint32_t version, unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
	json_t *res = NULL, *e;
	size_t i;
	int rc;

	if ((rc = ctl_call(c, "signing_key", 0, NULL, &res)) != CTL_EXIT_OK)
		return rc;
	rc = -1;
	json_array_foreach(json_object_get(res, "keys"), i, e) {
		if (ctl_jint(e, "version") != (json_int_t)version)
			continue;
		rc = b64_exact(ctl_jstr(e, "public_key"), pk, crypto_sign_PUBLICKEYBYTES) == 0 ?
		    CTL_EXIT_OK : ctl_local_error(c, VAULT_E_PROTO_FRAME, "audit verify: "
		    "the vault's key of version %u is not 32 bytes of base64", version);
		break;
	}
	json_decref(res);
	if (rc < 0)
		rc = ctl_local_error(c, VAULT_E_NOT_FOUND, "audit verify: the vault has no "
		    "signing key of version %u (checkpoint INVALID or from another vault)",
		    version);
	return rc;
}

/* The server's verdict; acknowledged: numbers skipped by acknowledged losses. */
static int
report(struct ctl *c, const struct vault_audit_check *chk, uint64_t acknowledged)
{
	int rc;
	if (c->json) {
		json_t *o = json_pack("{s:b, s:I, s:I, s:o, s:o}",
		    "ok", chk->ok,
		    "files", (json_int_t)chk->files,
		    "entries", (json_int_t)chk->entries,
		    "first_bad_seq", chk->first_bad_seq != 0 ?
		    json_integer((json_int_t)chk->first_bad_seq) : json_null(),
		    "reason", chk->ok ? json_null() : json_string(chk->reason));
		if (o != NULL && acknowledged != 0 &&
		    ctl_json_set_int(o, "acknowledged", (json_int_t)acknowledged) != 0) {
			json_decref(o);
			o = NULL;
		}
		rc = ctl_json_emit(c, o);
		if (rc != CTL_EXIT_OK)
			return rc;
		return chk->ok ? CTL_EXIT_OK : CTL_EXIT_VAULT;
	}
	if (chk->ok) {
		printf("audit trail intact: %" PRIu64 " %s in %u %s", chk->entries,
		    ctl_plural(chk->entries, "entry", "entries"), chk->files,
		    ctl_plural(chk->files, "file", "files"));
		if (acknowledged != 0)
			printf(" (%" PRIu64 " acknowledged lost)", acknowledged);
		printf("\n");
		return CTL_EXIT_OK;
	}
	/* Not every fault has an entry to name (an altered head file). */
	if (chk->first_bad_seq != 0)
		printf("audit trail DAMAGED at entry %" PRIu64 ": %s\n", chk->first_bad_seq,
		    chk->reason[0] != '\0' ? chk->reason : "no reason given");
	else
		printf("audit trail DAMAGED: %s\n",
		    chk->reason[0] != '\0' ? chk->reason : "no reason given");
	return CTL_EXIT_VAULT;
}

/* The server's check, against checkpoint cp if not NULL (its signature
 * already valid). */
static int
server_verify(struct ctl *c, const struct checkpoint *cp, struct vault_audit_check *chk,
    uint64_t *acknowledged)
{
	json_t *res = NULL, *ok, *args = NULL;
	int rc;
	if (cp != NULL && (args = json_pack("{s:I, s:s}", "checkpoint_seq",
	    (json_int_t)cp->seq, "checkpoint_mac", cp->mac)) == NULL)
		return ctl_local_error(c, VAULT_E_NOMEM, "audit verify: out of memory");
	if ((rc = ctl_call(c, "audit_verify", 0, args, &res)) != CTL_EXIT_OK)
		return rc;
	*acknowledged = (uint64_t)ctl_jint(res, "acknowledged");
	memset(chk, 0, sizeof(*chk));
	ok = json_object_get(res, "ok");
	chk->ok = json_is_true(ok);
	chk->files = (unsigned)ctl_jint(res, "files");
	chk->entries = (uint64_t)ctl_jint(res, "entries");
	chk->first_bad_seq = (uint64_t)ctl_jint(res, "first_bad_seq");
	snprintf(chk->reason, sizeof(chk->reason), "%s", ctl_jstr(res, "reason"));
	json_decref(res);
	return CTL_EXIT_OK;
}

int
ctl_cmd_audit_verify(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option *opt;
	const char *file = NULL, *pub = NULL;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char msg[CHECKPOINT_MESSAGE_MAX];
	struct vault_audit_check chk = { 0 };
	struct checkpoint cp;
	uint64_t acknowledged = 0;
	struct ctl_args a;
	enum ctl_arg_kind k;
	char *val;
	int rc, argno, n;

	ctl_args_init(&a, argc, argv);
	a.cmd = "audit verify";
	while ((k = ctl_args_next(c, &a, options, &opt, &val, &argno)) != CTL_ARG_END) {
		if (k == CTL_ARG_ERROR)
			return CTL_EXIT_USAGE;
		if (k == CTL_ARG_POSITIONAL)
			return ctl_usage_error(c, "audit verify: argument %d: no arguments "
			    "besides --checkpoint FILE and --public-key BASE64", argno);
		if (opt->name[0] == 'c') {
			if (file != NULL || val[0] == '\0')
				return ctl_usage_error(c, "audit verify: --checkpoint wants one file");
			file = val;
		} else {
			if (sodium_init() < 0 || pub != NULL || b64_exact(val, pk, sizeof(pk)) != 0)
				return ctl_usage_error(c, "audit verify: --public-key wants one "
				    "Ed25519 public key: 32 bytes in base64 (as keys signing "
				    "prints it)");
			pub = val;
		}
	}
	if (pub != NULL && file == NULL)
		return ctl_usage_error(c, "audit verify: --public-key goes with --checkpoint");
	if (file == NULL) {
		if ((rc = server_verify(c, NULL, &chk, &acknowledged)) != CTL_EXIT_OK)
			return rc;
		return report(c, &chk, acknowledged);
	}
	if (sodium_init() < 0)
		return ctl_local_error(c, VAULT_E_INTERNAL, "audit verify: libsodium cannot "
		    "start");
	if ((rc = read_checkpoint(c, file, &cp)) != CTL_EXIT_OK)
		return rc;
	if (pub == NULL && (rc = vault_key(c, cp.key_version, pk)) != CTL_EXIT_OK)
		return rc;
	n = checkpoint_message(msg, cp.seq, cp.mac, cp.time, cp.key_version);
	if (n < 0 || crypto_sign_verify_detached(cp.sig, (const unsigned char *)msg,
	    (size_t)n, pk) != 0) {
		if (c->json) {
			rc = ctl_json_emit(c, json_pack("{s:b, s:s}", "ok", 0, "reason",
			    "the checkpoint's signature is INVALID"));
			return rc != CTL_EXIT_OK ? rc : CTL_EXIT_VAULT;
		}
		printf("checkpoint signature INVALID: %s was changed, or was not signed with "
		    "%s key version %u\n", file, pub != NULL ? "that public key as" :
		    "the vault's", cp.key_version);
		return CTL_EXIT_VAULT;
	}
	if ((rc = server_verify(c, &cp, &chk, &acknowledged)) != CTL_EXIT_OK)
		return rc;
	if (chk.ok && !c->json)
		printf("checkpoint valid: entry %" PRIu64 " (key version %u) is in the trail\n",
		    cp.seq, cp.key_version);
	return report(c, &chk, acknowledged);
}
