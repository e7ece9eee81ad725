/*
 * units.h - sizes with a unit, as the configuration and the tools accept
 * them: a decimal number, optionally followed by K, M, G or T (powers of
 * 1024), itself optionally followed by B or iB, in any case: 16G, 16GB,
 * 16GiB, 512mib and 1048576 all parse; 16 GB, 1.5G, 4MBB and -1 do not.
 */
#ifndef VAULT_COMMON_UNITS_H
#define VAULT_COMMON_UNITS_H

#include <stdint.h>

/* What units_parse_size() accepts, for error messages. */
#define UNITS_SIZE_FORMAT "a number of bytes with an optional unit K, M, G or T " \
	"(powers of 1024, any case, B or iB may follow), e.g. 16G, 512MiB"

/* 0 and the value in *out, or -1 (bad syntax or above UINT64_MAX). */
int units_parse_size(const char *s, uint64_t *out);

#endif
