/*
 * test_budget.c - the memory budget (vault/budget.h): who is paused and
 * refused when a uid, or the whole server, holds too many buffered bytes,
 * and the reclaimer that releases a buffer's charge once it has wiped it.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "vault/budget.h"

static struct budget b;

Test(budget, a_uid_over_its_budget_is_paused_and_refused_alone)
{
	budget_init(&b, 1000, 400);
	cr_assert_eq(budget_conn_open(&b, 1, 10), 0);
	cr_assert_eq(budget_conn_open(&b, 2, 10), 0);
	struct uid_budget *u1 = budget_uid(&b, 1), *u2 = budget_uid(&b, 2);
	cr_assert(u1 != NULL && u2 != NULL && u1 != u2);
	budget_charge(&b, u1, 399);
	cr_assert_not(budget_over(&b, u1));
	budget_charge(&b, u1, 1);
	cr_assert(budget_over(&b, u1), "400 of 400: paused");
	cr_assert_not(budget_over(&b, u2), "another uid goes on");
	cr_assert_eq(budget_conn_open(&b, 1, 10), VAULT_E_BUSY, "no new connection while over");
	cr_assert_eq(budget_conn_open(&b, 2, 10), 0);
	budget_charge(&b, u1, -1);
	cr_assert_not(budget_over(&b, u1), "under again: resumes");
	cr_assert_eq(budget_conn_open(&b, 1, 10), 0);
	cr_assert_eq(budget_conn_open(&b, 1, 2), VAULT_E_BUSY, "max_connections_per_uid (2 open)");
	budget_charge(&b, u1, -399);
	cr_assert_eq(atomic_load(&b.bytes), 0);
	budget_destroy(&b);
}

Test(budget, a_full_server_pauses_only_uids_above_an_equal_share)
{
	budget_init(&b, 1000, 1000);
	cr_assert_eq(budget_conn_open(&b, 1, 10), 0);
	cr_assert_eq(budget_conn_open(&b, 2, 10), 0);
	struct uid_budget *u1 = budget_uid(&b, 1), *u2 = budget_uid(&b, 2);
	budget_charge(&b, u1, 900);
	budget_charge(&b, u2, 99);
	cr_assert_not(budget_over(&b, u1), "below the total, nobody waits");
	budget_charge(&b, u2, 1);
	cr_assert(budget_over(&b, u1), "full: 900 is above the share of 500");
	cr_assert_not(budget_over(&b, u2), "100 is below it");
	/* A newcomer is let in and not paused; the share shrinks to 333. */
	cr_assert_eq(budget_conn_open(&b, 3, 10), 0);
	struct uid_budget *u3 = budget_uid(&b, 3);
	cr_assert_not(budget_over(&b, u3));
	cr_assert_not(budget_over(&b, u2));
	cr_assert_eq(budget_conn_open(&b, 1, 10), VAULT_E_BUSY, "the one above its share is refused");
	budget_charge(&b, u1, -900);
	budget_charge(&b, u2, -100);
	budget_destroy(&b);
}

/* Wait (up to 5 s) until nothing is charged. */
static int
drained(void)
{
	for (int i = 0; i < 500; i++) {
		if (atomic_load(&b.bytes) == 0)
			return 1;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

Test(budget, the_reclaimer_releases_a_buffer_after_wiping_it)
{
	budget_init(&b, 64u << 20, 64u << 20);
	cr_assert_eq(budget_start(&b), 0);
	cr_assert_eq(budget_conn_open(&b, 7, 10), 0);
	struct uid_budget *u = budget_uid(&b, 7);
	struct buf x = { 0 };
	cr_assert_eq(buf_reserve(&x, 4u << 20), 0);
	memset(x.data, 0xA5, 4u << 20);
	x.len = 4u << 20;
	budget_charge(&b, u, (ptrdiff_t)x.cap);
	budget_reclaim(&b, u, &x);
	cr_assert(x.data == NULL && x.len == 0 && x.cap == 0, "handed over whole");
	/* The connection goes first: the entry waits for its queued buffer. */
	budget_conn_close(&b, 7);
	cr_assert(drained(), "the charge is released once the block is wiped and freed");
	for (int i = 0; i < 500 && atomic_load(&b.nuids) != 0; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cr_assert_eq(atomic_load(&b.nuids), 0, "the uid's entry goes with its last buffer");
	budget_destroy(&b);
}

Test(budget, without_the_reclaimer_the_wipe_is_immediate)
{
	budget_init(&b, 64u << 20, 64u << 20);
	cr_assert_eq(budget_conn_open(&b, 7, 10), 0);
	struct uid_budget *u = budget_uid(&b, 7);
	struct buf x = { 0 };
	cr_assert_eq(buf_append(&x, "secret", 6), 0);
	budget_charge(&b, u, (ptrdiff_t)x.cap);
	budget_reclaim(&b, u, &x);
	cr_assert_eq(atomic_load(&b.bytes), 0);
	budget_conn_close(&b, 7);
	cr_assert_eq(atomic_load(&b.nuids), 0);
	budget_destroy(&b);
}
