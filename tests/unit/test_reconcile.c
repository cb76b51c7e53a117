/* The reconcile step (placement/reconcile.c) on a fake clock: what a peer
 * starts, restarts, keeps and stops, and when it asks to be called again.
 * Members: "a" (us) and "b"; the tests move a single-replica service between
 * them by draining one or the other, so the owner is known without knowing
 * the hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "starling/error.h"
#include "starling/reconcile.h"

typedef struct world {
    sl_placement_member m[2];
    sl_service svc;
    const sl_service *svcs[1];
    sl_placement_service ps;
    size_t nsvc;
    sl_rc_local local[4];
    size_t nlocal;
    bool b_runs; /* b reports replica 0 running */
} world;

static char *cmd_v1[] = {"/bin/v1"}, *cmd_v2[] = {"/bin/v2"};

static void world_init(world *w, uint32_t replicas)
{
    memset(w, 0, sizeof *w);
    w->m[0] = (sl_placement_member){.name = "a", .weight = 1};
    w->m[1] = (sl_placement_member){.name = "b", .weight = 1};
    snprintf(w->svc.name, sizeof w->svc.name, "web");
    w->svc.replicas = replicas;
    w->svc.argc = 1;
    w->svc.argv = cmd_v1;
    w->svcs[0] = &w->svc;
    w->ps = (sl_placement_service){"web", replicas, 0, 0, SL_PLACEMENT_SPREAD_NODE};
    w->nsvc = 1;
}

static bool b_runs(void *ud, const char *node, const char *service, uint32_t replica)
{
    world *w = ud;
    return w->b_runs && !strcmp(node, "b") && !strcmp(service, "web") && replica == 0;
}

static sl_reconcile_result step(sl_reconciler *rc, world *w, uint64_t now)
{
    w->ps.replicas = w->svc.replicas;
    sl_reconcile_input in = {.members = w->m,
                             .nmembers = 2,
                             .self = 0,
                             .svc = w->svcs,
                             .ps = &w->ps,
                             .nsvc = w->nsvc,
                             .local = w->local,
                             .nlocal = w->nlocal,
                             .runs = b_runs,
                             .runs_ud = w,
                             .now_ms = now};
    sl_reconcile_result res;
    assert_int_equal(sl_reconcile(rc, &in, &res), 0);
    return res;
}

static void set_local(world *w, uint32_t replica, sl_replica_status st)
{
    w->local[0] = (sl_rc_local){"web", replica, st};
    w->nlocal = 1;
}

/* Placed here and not running: started, once; then nothing to do. */
static void starts_what_is_placed_here(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    w.m[1].state = SL_PLACEMENT_DRAINING; /* everything is ours */
    sl_reconciler *rc = sl_reconciler_new(0);
    sl_reconcile_result r = step(rc, &w, 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.actions[0].kind, SL_RC_START);
    assert_string_equal(r.actions[0].service, "web");
    assert_int_equal(r.actions[0].replica, 0);
    assert_ptr_equal(r.actions[0].svc, &w.svc);
    assert_int_equal(r.next_ms, UINT64_MAX);
    set_local(&w, 0, SL_REPLICA_STARTING);
    r = step(rc, &w, 100);
    assert_int_equal(r.n, 0);
    /* A redeploy with another command restarts it. */
    w.svc.argv = cmd_v2;
    r = step(rc, &w, 200);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.actions[0].kind, SL_RC_RESTART);
    r = step(rc, &w, 300);
    assert_int_equal(r.n, 0);
    sl_reconciler_free(rc);
}

/* Make before break: a replica that now belongs to b is kept until b reports
 * it running, then SL_RC_LINGER_MS more, then stopped; meanwhile the
 * reconciler asks to be polled. */
static void hands_off_after_the_successor_runs(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    w.m[0].state = SL_PLACEMENT_DRAINING; /* b owns it */
    set_local(&w, 0, SL_REPLICA_RUNNING);
    sl_reconciler *rc = sl_reconciler_new(30000);
    sl_reconcile_result r = step(rc, &w, 1000);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.handoffs, 1);
    assert_int_equal(r.handoffs_begun, 1);
    assert_string_equal(r.first_begun_successor, "b");
    assert_int_equal(r.next_ms, 1000 + SL_RC_POLL_MS);
    r = step(rc, &w, 2000);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.handoffs_begun, 0); /* not begun again */
    w.b_runs = true;
    r = step(rc, &w, 3000);
    assert_int_equal(r.n, 0); /* lingers */
    assert_int_equal(r.next_ms, 3000 + SL_RC_LINGER_MS);
    r = step(rc, &w, 3000 + SL_RC_LINGER_MS - 1);
    assert_int_equal(r.n, 0);
    r = step(rc, &w, 3000 + SL_RC_LINGER_MS);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.actions[0].kind, SL_RC_STOP);
    assert_int_equal(r.actions[0].why, SL_RC_STOP_HANDED);
    assert_string_equal(r.actions[0].successor, "b");
    assert_int_equal(r.handoffs, 0);
    sl_reconciler_free(rc);
}

/* A successor that never reports the replica running: stopped after the
 * hand-off time, not before. */
static void gives_up_a_handoff_after_its_time(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    w.m[0].state = SL_PLACEMENT_DRAINING;
    set_local(&w, 0, SL_REPLICA_RUNNING);
    sl_reconciler *rc = sl_reconciler_new(5000);
    sl_reconcile_result r = step(rc, &w, 0);
    for (uint64_t t = 1000; t < 5000; t += 1000) {
        r = step(rc, &w, t);
        assert_int_equal(r.n, 0);
        assert_true(r.next_ms <= 5000);
    }
    r = step(rc, &w, 5000);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.actions[0].why, SL_RC_STOP_TIMEOUT);
    sl_reconciler_free(rc);
}

/* Scaled down or deleted: no successor, stopped at once. A replica that is
 * already stopping is left alone. */
static void stops_what_no_one_should_run(void **state)
{
    (void)state;
    world w;
    world_init(&w, 2);
    w.local[0] = (sl_rc_local){"web", 1, SL_REPLICA_RUNNING};
    w.local[1] = (sl_rc_local){"gone", 0, SL_REPLICA_RUNNING};
    w.local[2] = (sl_rc_local){"gone", 1, SL_REPLICA_STOPPING};
    w.nlocal = 3;
    w.svc.replicas = 1; /* replica 1 is beyond the count */
    w.m[1].state = SL_PLACEMENT_DRAINING;
    sl_reconciler *rc = sl_reconciler_new(0);
    sl_reconcile_result r = step(rc, &w, 0);
    size_t stops = 0, starts = 0;
    for (size_t i = 0; i < r.n; i++) {
        if (r.actions[i].kind == SL_RC_STOP) {
            stops++;
            assert_int_equal(r.actions[i].why, SL_RC_STOP_GONE);
            assert_false(!strcmp(r.actions[i].service, "gone") && r.actions[i].replica == 1);
        } else {
            starts++; /* web/0 is ours */
        }
    }
    assert_int_equal(stops, 2);
    assert_int_equal(starts, 1);
    sl_reconciler_free(rc);
}

/* Capacity: a replica that fits nowhere is not started, and one that runs
 * here already but cannot be placed is kept (better than nothing). */
static void keeps_what_cannot_be_placed(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    w.m[0].mem_mb = 100;
    w.m[1].mem_mb = 100;
    w.svc.mem_mb = 500;
    w.ps.mem_mb = 500;
    sl_reconciler *rc = sl_reconciler_new(0);
    sl_reconcile_result r = step(rc, &w, 0);
    assert_int_equal(r.n, 0);
    set_local(&w, 0, SL_REPLICA_RUNNING);
    r = step(rc, &w, 100);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.handoffs, 0);
    sl_reconciler_free(rc);
}

/* Draining the other member brings a handed-off replica back: the hand-off
 * ends without a stop. */
static void a_replica_placed_back_here_is_kept(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    w.m[0].state = SL_PLACEMENT_DRAINING;
    set_local(&w, 0, SL_REPLICA_RUNNING);
    sl_reconciler *rc = sl_reconciler_new(0);
    sl_reconcile_result r = step(rc, &w, 0);
    assert_int_equal(r.handoffs, 1);
    w.m[0].state = SL_PLACEMENT_ALIVE;
    w.m[1].state = SL_PLACEMENT_DRAINING;
    r = step(rc, &w, 1000);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.handoffs, 0);
    assert_int_equal(sl_reconciler_handoffs(rc), 0);
    sl_reconciler_free(rc);
}

/* The reconciler keeps the last step's placement input: a step whose
 * members differ by one change computes the placement incrementally, with
 * the same answer (b drains: every replica that can be placed is ours). */
static void placement_is_incremental_between_steps(void **state)
{
    (void)state;
    world w;
    world_init(&w, 1);
    sl_reconciler *rc = sl_reconciler_new(0);
    sl_placement_cache_stats st;
    step(rc, &w, 0);
    sl_reconciler_placement_stats(rc, &st);
    assert_int_equal(st.full, 1);
    assert_int_equal(st.incremental, 0);
    w.m[1].state = SL_PLACEMENT_DRAINING;
    sl_reconcile_result r = step(rc, &w, 100);
    sl_reconciler_placement_stats(rc, &st);
    assert_int_equal(st.full, 1);
    assert_int_equal(st.incremental, 1);
    assert_int_equal(st.last_changes, 1);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.actions[0].kind, SL_RC_START);
    assert_int_equal(r.actions[0].replica, 0);
    sl_reconciler_free(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starts_what_is_placed_here),
        cmocka_unit_test(hands_off_after_the_successor_runs),
        cmocka_unit_test(gives_up_a_handoff_after_its_time),
        cmocka_unit_test(stops_what_no_one_should_run),
        cmocka_unit_test(keeps_what_cannot_be_placed),
        cmocka_unit_test(a_replica_placed_back_here_is_kept),
        cmocka_unit_test(placement_is_incremental_between_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
