/* Giving up a replica that cannot start (gossip/giveup.c), its mark in the
 * reports, and the avoid lists appstate builds from them: counts of failed
 * starts in a row, crashes that do not count, the end of a give-up by time,
 * by a new spec and by running, and the wire form older peers read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "starling/appstate.h"
#include "starling/error.h"
#include "starling/giveup.h"
#include "starling/reports.h"

static bool fail_start(sl_giveup *g, uint32_t replica, uint64_t spec, uint64_t now)
{
    assert_false(sl_giveup_note(g, "web", replica, SL_REPLICA_STARTING, spec, now));
    return sl_giveup_note(g, "web", replica, SL_REPLICA_FAILED, spec, now);
}

static void three_failed_starts_in_a_row_give_up(void **state)
{
    (void)state;
    sl_giveup *g = sl_giveup_new(3, 60000);
    assert_false(fail_start(g, 0, 7, 1000));
    assert_false(fail_start(g, 0, 7, 2000));
    assert_true(fail_start(g, 0, 7, 3000));
    assert_true(sl_giveup_active(g, "web", 0));
    assert_false(sl_giveup_active(g, "web", 1));
    assert_int_equal(sl_giveup_deadline(g), 63000);
    /* Listed in the report: the removed replica is added, FAILED, given up. */
    sl_replica_report reps[4] = {{.replica = 1, .status = SL_REPLICA_RUNNING, .port = 20001}};
    uint32_t n = sl_giveup_annotate(g, "web", reps, 1, 4);
    assert_int_equal(n, 2);
    assert_false(reps[0].gave_up);
    assert_int_equal(reps[1].replica, 0);
    assert_int_equal(reps[1].status, SL_REPLICA_FAILED);
    assert_true(reps[1].gave_up);
    assert_int_equal(sl_giveup_annotate(g, "db", reps, 0, 4), 0);
    /* Gone (stopped) does not end a give-up; the time does. */
    sl_giveup_gone(g, "web", 0);
    assert_true(sl_giveup_active(g, "web", 0));
    assert_int_equal(sl_giveup_expire(g, 62999, NULL, NULL, NULL), 0);
    assert_int_equal(sl_giveup_expire(g, 63000, NULL, NULL, NULL), 1);
    assert_false(sl_giveup_active(g, "web", 0));
    assert_int_equal(sl_giveup_count(g), 0);
    sl_giveup_free(g);
}

/* A crash after running is not a failed start, and running resets the
 * count: RUNNING, crash, fail, fail, run, fail, fail never reaches 3. */
static void crashes_and_runs_do_not_count(void **state)
{
    (void)state;
    sl_giveup *g = sl_giveup_new(3, 0);
    assert_false(sl_giveup_note(g, "web", 0, SL_REPLICA_STARTING, 1, 0));
    assert_false(sl_giveup_note(g, "web", 0, SL_REPLICA_RUNNING, 1, 10));
    assert_false(sl_giveup_note(g, "web", 0, SL_REPLICA_FAILED, 1, 20)); /* a crash */
    assert_false(fail_start(g, 0, 1, 30));
    assert_false(fail_start(g, 0, 1, 40));
    assert_false(sl_giveup_note(g, "web", 0, SL_REPLICA_STARTING, 1, 45));
    assert_false(sl_giveup_note(g, "web", 0, SL_REPLICA_RUNNING, 1, 50));
    assert_false(fail_start(g, 0, 1, 60));
    assert_false(fail_start(g, 0, 1, 70));
    assert_true(fail_start(g, 0, 1, 80)); /* the third in a row */
    /* Running again (placed back here as a last resort) ends it. */
    assert_false(sl_giveup_note(g, "web", 0, SL_REPLICA_STARTING, 1, 90));
    assert_true(sl_giveup_active(g, "web", 0));
    assert_false(sl_giveup_note(g, "web", 0, SL_REPLICA_RUNNING, 1, 100));
    assert_false(sl_giveup_active(g, "web", 0));
    /* Out of range: refused. */
    assert_null(sl_giveup_new(SL_GIVEUP_AFTER_MAX + 1, 0));
    assert_null(sl_giveup_new(0, SL_GIVEUP_FOR_MAX_MS + 1));
    sl_giveup_free(g);
}

static uint64_t spec_now;
static int ended_calls;

static uint64_t spec_of(void *ud, const char *service)
{
    (void)ud;
    (void)service;
    return spec_now;
}

static void ended(void *ud, const char *service)
{
    (void)ud;
    assert_string_equal(service, "web");
    ended_calls++;
}

/* A new spec (a redeploy may fix it) ends the give-up at once. */
static void a_new_spec_ends_the_give_up(void **state)
{
    (void)state;
    sl_giveup *g = sl_giveup_new(1, 60000);
    spec_now = 5;
    ended_calls = 0;
    assert_true(fail_start(g, 2, 5, 0));
    assert_int_equal(sl_giveup_expire(g, 10, spec_of, ended, NULL), 0);
    spec_now = 9;
    assert_int_equal(sl_giveup_expire(g, 20, spec_of, ended, NULL), 1);
    assert_int_equal(ended_calls, 1);
    sl_giveup_free(g);
}

/* The mark on the wire: a fifth replica field, written only when set, read
 * back; a report without it (an older peer's) reads as not given up; a
 * running replica cannot be marked. */
static void the_mark_travels_in_reports(void **state)
{
    (void)state;
    sl_reports *t = sl_reports_new(), *u = sl_reports_new();
    sl_report r = {.version = 1, .n = 2};
    strcpy(r.node, "n1");
    strcpy(r.service, "web");
    r.replicas[0] = (sl_replica_report){.replica = 0, .status = SL_REPLICA_FAILED, .gave_up = true};
    r.replicas[1] = (sl_replica_report){.replica = 1, .status = SL_REPLICA_RUNNING, .port = 2};
    uint8_t msg[SL_REPORT_MSG_MAX];
    size_t len;
    assert_int_equal(sl_reports_put(t, &r, msg, sizeof msg, &len), 0);
    assert_int_equal(sl_reports_gave_up_stored(t), 1);
    assert_int_equal(sl_reports_apply(u, msg, len, NULL, NULL), 1);
    sl_report got;
    assert_true(sl_reports_find(u, "n1", "web", &got));
    assert_true(got.replicas[0].gave_up);
    assert_false(got.replicas[1].gave_up);
    assert_int_equal(sl_reports_gave_up_stored(u), 1);
    /* Without the mark the replica entries are the four fields of old. */
    r.version = 2;
    r.replicas[0].gave_up = false;
    size_t len2;
    assert_int_equal(sl_reports_put(t, &r, msg, sizeof msg, &len2), 0);
    assert_int_equal(len2 + 1, len); /* the entry is 0x94 ..., not 0x95 ... 0x01 */
    r.version = 3;
    r.replicas[1].gave_up = true; /* RUNNING and given up: refused */
    assert_int_equal(sl_reports_put(t, &r, msg, sizeof msg, &len), SL_EINVAL);
    sl_reports_free(t);
    sl_reports_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_failed_starts_in_a_row_give_up),
        cmocka_unit_test(crashes_and_runs_do_not_count),
        cmocka_unit_test(a_new_spec_ends_the_give_up),
        cmocka_unit_test(the_mark_travels_in_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
