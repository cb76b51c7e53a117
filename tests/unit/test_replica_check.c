/* The health-check decisions (gossip/replica_check.c): starting until
 * a check passes, N failures in a row while running make a replica
 * unhealthy, a pass in between starts the count again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "starling/replica_check.h"

static void starting_until_a_check_passes(void **state)
{
    (void)state;
    sl_check c = {.kind = SL_CHECK_HTTP, .arg = "/healthz", .failures = 2};
    sl_replica_check_state st = {0};
    for (int i = 0; i < 10; i++) /* failures while starting never count */
        assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_STARTING, false), SL_REPLICA_CHECK_NOTHING);
    assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_STARTING, true), SL_REPLICA_CHECK_READY);
    /* ... and a fresh start after them needs the full count to fail. */
    assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_RUNNING, false), SL_REPLICA_CHECK_NOTHING);
    assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_RUNNING, false), SL_REPLICA_CHECK_UNHEALTHY);
}

static void n_failures_in_a_row_make_it_unhealthy(void **state)
{
    (void)state;
    sl_check c = {.kind = SL_CHECK_EXEC, .arg = "true", .failures = 3};
    sl_replica_check_state st = {0};
    /* fail, fail, pass: the count starts again */
    assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_RUNNING, false), SL_REPLICA_CHECK_NOTHING);
    assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_RUNNING, false), SL_REPLICA_CHECK_NOTHING);
    assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_RUNNING, true), SL_REPLICA_CHECK_NOTHING);
    assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_RUNNING, false), SL_REPLICA_CHECK_NOTHING);
    assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_RUNNING, false), SL_REPLICA_CHECK_NOTHING);
    assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_RUNNING, false), SL_REPLICA_CHECK_UNHEALTHY);
    /* The default count is SL_CHECK_FAILURES. */
    c.failures = 0;
    st.fails = 0;
    for (int i = 1; i < SL_CHECK_FAILURES; i++)
        assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_RUNNING, false), SL_REPLICA_CHECK_NOTHING);
    assert_int_equal(sl_replica_check_observe(&st, &c, SL_REPLICA_RUNNING, false), SL_REPLICA_CHECK_UNHEALTHY);
}

static void stale_results_change_nothing(void **state)
{
    (void)state;
    sl_check c = {.kind = SL_CHECK_TCP, .failures = 1};
    sl_replica_check_state st = {0};
    sl_replica_status others[] = {SL_REPLICA_FAILED, SL_REPLICA_STOPPING, SL_REPLICA_OOM,
                                 SL_REPLICA_UNHEALTHY};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sl_replica_check_observe(&st, &c, others[i], false), SL_REPLICA_CHECK_NOTHING);
        assert_int_equal(sl_replica_check_observe(&st, &c, others[i], true), SL_REPLICA_CHECK_NOTHING);
    }
    /* The default check never makes a running replica unhealthy. */
    sl_check d = {0};
    assert_int_equal(sl_replica_check_observe(&st, &d, SL_REPLICA_RUNNING, false), SL_REPLICA_CHECK_NOTHING);
}

static void periods(void **state)
{
    (void)state;
    sl_check d = {0}, c = {.kind = SL_CHECK_HTTP, .arg = "/", .interval_ms = 700};
    assert_int_equal(sl_replica_check_period_ms(&d, SL_REPLICA_STARTING), SL_REPLICA_CHECK_STARTING_MS);
    assert_int_equal(sl_replica_check_period_ms(&d, SL_REPLICA_RUNNING), 0);
    assert_int_equal(sl_replica_check_period_ms(&c, SL_REPLICA_STARTING), SL_REPLICA_CHECK_STARTING_MS);
    assert_int_equal(sl_replica_check_period_ms(&c, SL_REPLICA_RUNNING), 700);
    c.interval_ms = 50;
    assert_int_equal(sl_replica_check_period_ms(&c, SL_REPLICA_STARTING), SL_REPLICA_CHECK_STARTING_MS);
    assert_int_equal(sl_replica_check_period_ms(&c, SL_REPLICA_FAILED), 0);
    c.interval_ms = 0;
    assert_int_equal(sl_replica_check_period_ms(&c, SL_REPLICA_RUNNING), SL_CHECK_INTERVAL_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starting_until_a_check_passes),
        cmocka_unit_test(n_failures_in_a_row_make_it_unhealthy),
        cmocka_unit_test(stale_results_change_nothing),
        cmocka_unit_test(periods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
