/*
 * checkpoint.h - the bytes an audit checkpoint's signature covers
 * (PROTOCOL.md 8.16): vaultd signs them (audit_checkpoint), vaultctl
 * checks them (audit verify --checkpoint), so both build them here.
 */
#ifndef VAULT_COMMON_CHECKPOINT_H
#define VAULT_COMMON_CHECKPOINT_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#define CHECKPOINT_MAC_HEX 64
#define CHECKPOINT_MESSAGE_MAX 192

/*
 * "vault audit checkpoint v1\nseq N\nmac HEX\ntime T\nkey_version K\n":
 * its length, or -1 if mac_hex is not 64 characters.
 */
static inline int
checkpoint_message(char out[CHECKPOINT_MESSAGE_MAX], uint64_t seq, const char *mac_hex,
    int64_t time, uint32_t key_version)
{
	int n = snprintf(out, CHECKPOINT_MESSAGE_MAX, "vault audit checkpoint v1\nseq %" PRIu64
	    "\nmac %.64s\ntime %" PRId64 "\nkey_version %" PRIu32 "\n", seq, mac_hex, time,
	    key_version);
	size_t len = 0;
	while (len < CHECKPOINT_MAC_HEX + 1 && mac_hex[len] != '\0')
		len++;
	return len == CHECKPOINT_MAC_HEX && n > 0 && n < CHECKPOINT_MESSAGE_MAX ? n : -1;
}

#endif
