/*
 * unseal_shares.c - the shares given so far (unseal_shares.h): one
 * sodium_malloc block of threshold shares, wiped and freed on clear.
 */
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>
#include <vault/vault.h>

#include "unseal_shares.h"

static struct share *held;      /* secure memory, room for `room` shares */
static unsigned room;
static atomic_uint nheld;

int
unseal_shares_give(const struct share *s, unsigned threshold, unsigned *given)
{
	if (held != NULL && room != threshold)
		unseal_shares_clear(); /* the ring's threshold changed since: start again */
	unsigned n = atomic_load(&nheld);
	if (held == NULL) {
		if ((held = sodium_malloc(sizeof(*held) * threshold)) == NULL)
			return VAULT_E_NOMEM;
		room = threshold;
		n = 0;
	}
	for (unsigned i = 0; i < n; i++)
		if (held[i].index == s->index) {
			*given = n;
			return VAULT_E_CONFLICT;
		}
	if (n >= room) { /* cannot happen: the caller combines at threshold */
		*given = n;
		return VAULT_E_CONFLICT;
	}
	memcpy(&held[n], s, sizeof(*s));
	atomic_store(&nheld, n + 1);
	*given = n + 1;
	return 0;
}

const struct share *
unseal_shares_all(unsigned *count)
{
	*count = atomic_load(&nheld);
	return held;
}

void
unseal_shares_clear(void)
{
	atomic_store(&nheld, 0);
	sodium_free(held); /* wipes the whole block before unmapping it */
	held = NULL;
	room = 0;
}

unsigned
unseal_shares_given(void)
{
	return atomic_load(&nheld);
}
