/*
 * audit.h - the audit trail: one entry per request that touches personal
 * data or keys, written before the answer leaves the vault, never holding
 * personal data, hash-chained so that an edited, removed, reordered or
 * truncated entry is found.
 *
 * Entries are appended with write(2) under a lock before the reply is
 * released (so a vaultd crash loses nothing acknowledged), and flushed to
 * disk by a background thread every sync_interval_ms (so a power loss
 * loses at most that window): syncs are batched and do not cap reads.
 * If an entry cannot be written the request fails with VAULT_E_AUDIT and
 * no data is returned (fail closed).
 */
#ifndef VAULT_AUDIT_H
#define VAULT_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <vault/vault.h>

struct key_set;
struct audit;

struct audit_event {
	const char *client;        /* policy client name */
	uid_t uid;
	enum vault_purpose purpose; /* 0: none */
	const char *op;            /* operation name */
	const uint64_t *records;   /* record ids touched (pseudonymized) */
	size_t nrecords;
	uint32_t fields;           /* bit i: field id i; bit 11: documents */
	int outcome;               /* 0 or a VAULT_E_* code */
	time_t time;
};

struct audit_config {
	const char *path;          /* current file; rotated files get .1, .2, ... */
	size_t max_file_bytes;     /* rotate beyond this */
	unsigned sync_interval_ms; /* fdatasync cadence */
};

/* Open (creating 0600), recover the chain head from the last entry. */
int audit_open(struct audit **out, const struct audit_config *cfg,
    const struct key_set *ks, char *err, size_t errlen);
void audit_close(struct audit *a);
/* Append one entry; thread-safe. Returns 0 or VAULT_E_AUDIT. */
__attribute__((warn_unused_result))
int audit_log(struct audit *a, const struct key_set *ks, const struct audit_event *ev);

#endif
