/*
 * test_alert.c - the fixed-window counters behind burst limits, and the
 * alert counters that status reports.
 */
#include <criterion/criterion.h>

#include "vault/alert.h"

static struct ratelimit rl;

static void setup(void) { ratelimit_init(&rl, 60); }
static void teardown(void) { ratelimit_destroy(&rl); }

TestSuite(ratelimit, .init = setup, .fini = teardown);

Test(ratelimit, counts_up_to_the_limit_then_refuses_and_alerts_once)
{
	for (int i = 0; i < 5; i++)
		cr_assert_eq(ratelimit_hit(&rl, 7, 600, 1, 5), RATELIMIT_OK);
	cr_assert_eq(ratelimit_hit(&rl, 7, 601, 1, 5), RATELIMIT_OVER_FIRST);
	cr_assert_eq(ratelimit_hit(&rl, 7, 602, 1, 5), RATELIMIT_OVER);
	cr_assert_eq(ratelimit_used(&rl, 7, 603), 5, "a refusal is not counted");
	/* Another key has its own count. */
	cr_assert_eq(ratelimit_hit(&rl, 8, 603, 1, 5), RATELIMIT_OK);
}

Test(ratelimit, a_new_window_starts_afresh)
{
	cr_assert_eq(ratelimit_hit(&rl, 7, 600, 5, 5), RATELIMIT_OK);
	cr_assert_eq(ratelimit_hit(&rl, 7, 659, 1, 5), RATELIMIT_OVER_FIRST);
	cr_assert_eq(ratelimit_hit(&rl, 7, 660, 1, 5), RATELIMIT_OK);
	cr_assert_eq(ratelimit_used(&rl, 7, 661), 1);
}

Test(ratelimit, a_cost_above_the_limit_is_refused_whole)
{
	cr_assert_eq(ratelimit_hit(&rl, 9, 600, 6, 5), RATELIMIT_OVER_FIRST);
	cr_assert_eq(ratelimit_used(&rl, 9, 600), 0);
	cr_assert_eq(ratelimit_hit(&rl, 9, 600, 0xffffffffu, 5), RATELIMIT_OVER);
}

Test(ratelimit, a_full_table_evicts_the_oldest_window_not_the_active_key)
{
	cr_assert_eq(ratelimit_hit(&rl, 1, 600, 3, 5), RATELIMIT_OK);
	/* Fill the table with keys of an older window, then overflow it. */
	for (uint64_t k = 2; k <= RATELIMIT_SLOTS; k++)
		cr_assert_eq(ratelimit_hit(&rl, k, 60, 1, 5), RATELIMIT_OK);
	cr_assert_eq(ratelimit_hit(&rl, RATELIMIT_SLOTS + 1, 600, 1, 5), RATELIMIT_OK);
	cr_assert_eq(ratelimit_used(&rl, 1, 600), 3, "the active key kept its count");
	cr_assert_eq(ratelimit_used(&rl, RATELIMIT_SLOTS + 1, 600), 1);
}

Test(ratelimit, keys_of_byte_strings_are_stable_and_nonzero)
{
	uint64_t a = ratelimit_key("doe", 3), b = ratelimit_key("doe", 3);
	uint64_t c = ratelimit_key("roe", 3);
	cr_assert_eq(a, b);
	cr_assert_neq(a, c);
	cr_assert_neq(a, 0);
}

Test(alert, raising_counts_per_kind_and_names_are_stable)
{
	uint64_t before = alert_count(ALERT_TOKEN_BURST);
	alert_raise(NULL, NULL, ALERT_TOKEN_BURST, NULL, 1000);
	cr_assert_eq(alert_count(ALERT_TOKEN_BURST), before + 1);
	cr_assert_eq(alert_count(ALERT_VERIFY_FAILURES), 0);
	cr_assert_str_eq(alert_name(ALERT_TOKEN_BURST), "token_burst");
	cr_assert_str_eq(alert_name(ALERT_RECORD_TAMPERED), "record_tampered");
	cr_assert_str_eq(alert_name(ALERT_HORIZON_OVERDUE), "horizon_overdue");
	cr_assert_str_eq(alert_name(ALERT_KINDS), "unknown");
}
