/* Rolling updates in the reconcile step (placement/reconcile.c), on a small
 * world of peers that each run their own reconciler: every peer performs
 * its actions on its own replicas, replicas of a good version become
 * running a fixed time after they start, those of a broken one never do,
 * and every peer reads the others' replicas (status and version) as the
 * reports would tell it. What users rely on:
 *
 *   - with max_unavailable 0 and max_surge 1, a redeploy never leaves fewer
 *     than R running replicas, and ends with all R on the new version and
 *     no surge replica left;
 *   - max_unavailable 2 without surge restarts at most two at a time;
 *   - a broken version halts after the surge replica: the old R keep
 *     running, nothing else restarts; with auto_revert one REVERT comes;
 *   - a service without a previous version in the catalog restarts at once
 *     (the behaviour before rolling updates).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "starling/error.h"
#include "starling/reconcile.h"

#define PEERS 7
#define REPL_MAX 16
#define START_MS 800 /* a good version is running this long after its start */
#define STEP_MS 100

typedef struct rep_t {
    bool present;
    sl_replica_status status;
    uint32_t version;
    uint64_t started_ms;
} rep_t;

typedef struct world {
    sl_placement_member m[PEERS];
    char names[PEERS][8];
    size_t npeers;
    sl_service svc;
    const sl_service *svcs[1];
    sl_placement_service ps;
    sl_reconciler *rc[PEERS];
    rep_t rep[PEERS][REPL_MAX]; /* per peer, per replica index */
    uint32_t broken;              /* a version that never becomes running */
    size_t reverts;
    char **revert_to; /* non-NULL: a REVERT writes this command back */
    size_t max_restarting;        /* most slots (0..R-1) not running at once */
    /* When each peer reconciles, as the agent does: at the time its last
     * step asked for and when the catalog changed; not when one of its
     * replicas changes status; reports of others call it only while a
     * hand-off waits. */
    uint64_t due[PEERS];
    bool poke[PEERS];
    bool handing[PEERS];
} world;

static char *cmd_v1[] = {"/bin/v1"}, *cmd_v2[] = {"/bin/v2"}, *cmd_v3[] = {"/bin/v3"};

static void world_init(world *w, size_t npeers, uint32_t replicas)
{
    memset(w, 0, sizeof *w);
    w->npeers = npeers;
    for (size_t i = 0; i < npeers; i++) {
        snprintf(w->names[i], sizeof w->names[i], "n%zu", i);
        w->m[i] = (sl_placement_member){.name = w->names[i], .weight = 1};
        w->rc[i] = sl_reconciler_new(0);
        assert_non_null(w->rc[i]);
        w->poke[i] = true;
    }
    snprintf(w->svc.name, sizeof w->svc.name, "web");
    w->svc.replicas = replicas;
    w->svc.argc = 1;
    w->svc.argv = cmd_v1;
    w->svcs[0] = &w->svc;
    w->ps = (sl_placement_service){"web", replicas, 0, 0, SL_PLACEMENT_SPREAD_NODE, NULL, 0};
}

static void world_free(world *w)
{
    for (size_t i = 0; i < w->npeers; i++)
        sl_reconciler_free(w->rc[i]);
}

static bool reported(void *ud, const char *node, const char *service, uint32_t replica,
                     sl_replica_status *status, uint32_t *version)
{
    world *w = ud;
    for (size_t i = 0; i < w->npeers; i++)
        if (!strcmp(w->names[i], node) && !strcmp(service, "web") && replica < REPL_MAX &&
            w->rep[i][replica].present) {
            *status = w->rep[i][replica].status;
            *version = w->rep[i][replica].version;
            return true;
        }
    return false;
}

static bool runs(void *ud, const char *node, const char *service, uint32_t replica)
{
    sl_replica_status st;
    uint32_t v;
    return reported(ud, node, service, replica, &st, &v) && st == SL_REPLICA_RUNNING;
}

/* One round: replicas become running, then every peer reconciles and
 * performs its actions. */
static void round_at(world *w, uint64_t now)
{
    for (size_t i = 0; i < w->npeers; i++)
        for (uint32_t r = 0; r < REPL_MAX; r++) {
            rep_t *x = &w->rep[i][r];
            if (x->present && x->status == SL_REPLICA_STARTING && x->version != w->broken &&
                now - x->started_ms >= START_MS)
                x->status = SL_REPLICA_RUNNING; /* the agent does not reconcile on this */
        }
    w->ps.replicas = w->svc.replicas;
    for (size_t i = 0; i < w->npeers; i++) {
        if (!w->poke[i] && !w->handing[i] && now < w->due[i])
            continue;
        w->poke[i] = false;
        sl_rc_local local[REPL_MAX];
        size_t nlocal = 0;
        for (uint32_t r = 0; r < REPL_MAX; r++)
            if (w->rep[i][r].present)
                local[nlocal++] = (sl_rc_local){"web", r, w->rep[i][r].status};
        sl_reconcile_input in = {.members = w->m,
                                 .nmembers = w->npeers,
                                 .self = (int)i,
                                 .svc = w->svcs,
                                 .ps = &w->ps,
                                 .nsvc = 1,
                                 .local = local,
                                 .nlocal = nlocal,
                                 .runs = runs,
                                 .runs_ud = w,
                                 .replica = reported,
                                 .replica_ud = w,
                                 .now_ms = now};
        sl_reconcile_result res;
        assert_int_equal(sl_reconcile(w->rc[i], &in, &res), 0);
        w->due[i] = res.next_ms;
        w->handing[i] = res.handoffs > 0;
        for (size_t a = 0; a < res.n; a++) {
            const sl_rc_action *x = &res.actions[a];
            assert_true(x->replica < REPL_MAX);
            rep_t *y = &w->rep[i][x->replica];
            switch (x->kind) {
            case SL_RC_START:
            case SL_RC_RESTART:
                *y = (rep_t){true, SL_REPLICA_STARTING,
                               (uint32_t)sl_service_spec_hash(x->svc), now};
                break;
            case SL_RC_STOP:
                memset(y, 0, sizeof *y);
                sl_reconciler_forget(w->rc[i], "web", x->replica);
                break;
            case SL_RC_REVERT:
                w->reverts++;
                if (w->revert_to) {
                    w->svc.argv = w->revert_to;
                    for (size_t k = 0; k < w->npeers; k++)
                        w->poke[k] = true;
                }
                break;
            }
        }
    }
}

/* Replicas running (any version, any index) and slots not running. */
static size_t running(const world *w, uint32_t version, bool any_index)
{
    size_t n = 0;
    for (size_t i = 0; i < w->npeers; i++)
        for (uint32_t r = 0; r < REPL_MAX; r++) {
            const rep_t *x = &w->rep[i][r];
            if (x->present && x->status == SL_REPLICA_RUNNING &&
                (!version || x->version == version) && (any_index || r < w->svc.replicas))
                n++;
        }
    return n;
}

static size_t present_at_or_above(const world *w, uint32_t index)
{
    size_t n = 0;
    for (size_t i = 0; i < w->npeers; i++)
        for (uint32_t r = index; r < REPL_MAX; r++)
            n += w->rep[i][r].present;
    return n;
}

/* Runs rounds from t0 for ms, checking after each that at least `floor`
 * replicas run and counting the most slots down at once. */
static uint64_t run_for(world *w, uint64_t t0, uint64_t ms, size_t floor)
{
    uint64_t t = t0;
    for (; t < t0 + ms; t += STEP_MS) {
        round_at(w, t);
        assert_true(running(w, 0, true) >= floor);
        size_t down = w->svc.replicas - running(w, 0, false);
        if (down > w->max_restarting)
            w->max_restarting = down;
    }
    return t;
}

/* A catalog change: every peer reconciles. */
static void catalog_changed(world *w)
{
    for (size_t i = 0; i < w->npeers; i++)
        w->poke[i] = true;
}

static void deploy_v2(world *w)
{
    w->svc.argv = cmd_v2;
    w->svc.prev.has = true; /* the catalog kept v1 */
    catalog_changed(w);
}

/* Surge 1, unavailable 0: never fewer than R running; ends all new. */
static void rolls_with_one_surge_and_no_unavailable(void **state)
{
    (void)state;
    world w;
    world_init(&w, 6, 5);
    w.svc.rollout.min_healthy_ms = 1000;
    uint64_t t = run_for(&w, 0, 3000, 0);
    assert_int_equal(running(&w, 0, true), 5);
    uint32_t v2 = (uint32_t)sl_service_spec_hash(&(sl_service){.argc = 1, .argv = cmd_v2});
    deploy_v2(&w);
    w.max_restarting = 0;
    t = run_for(&w, t, 60000, 5); /* asserts >= 5 running at every round */
    assert_int_equal(running(&w, v2, false), 5);
    assert_int_equal(present_at_or_above(&w, 5), 0); /* the surge replica is gone */
    assert_int_equal(w.max_restarting, 1);           /* one slot at a time */
    assert_int_equal(w.reverts, 0);
    world_free(&w);
}

/* The same steps take at least R x (start + min_healthy): it does wait. */
static void waits_min_healthy_between_steps(void **state)
{
    (void)state;
    world w;
    world_init(&w, 6, 3);
    w.svc.rollout.min_healthy_ms = 2000;
    uint64_t t = run_for(&w, 0, 3000, 0);
    uint32_t v2 = (uint32_t)sl_service_spec_hash(&(sl_service){.argc = 1, .argv = cmd_v2});
    deploy_v2(&w);
    uint64_t t0 = t;
    while (running(&w, v2, false) < 3 || present_at_or_above(&w, 3)) {
        round_at(&w, t);
        t += STEP_MS;
        assert_true(t - t0 < 120000);
    }
    /* surge, then 3 slots, each START_MS + min_healthy before the next */
    assert_true(t - t0 >= 3 * (START_MS + 2000));
    world_free(&w);
}

/* Unavailable 2, surge 0: two slots at a time at most, and it completes. */
static void max_unavailable_bounds_the_slots_down(void **state)
{
    (void)state;
    world w;
    world_init(&w, 6, 5);
    w.svc.rollout.min_healthy_ms = 500;
    w.svc.rollout.surge_set = true;
    w.svc.rollout.max_surge = 0;
    w.svc.rollout.max_unavailable = 2;
    uint64_t t = run_for(&w, 0, 3000, 0);
    uint32_t v2 = (uint32_t)sl_service_spec_hash(&(sl_service){.argc = 1, .argv = cmd_v2});
    deploy_v2(&w);
    w.max_restarting = 0;
    t = run_for(&w, t, 60000, 3);
    assert_int_equal(running(&w, v2, false), 5);
    assert_int_equal(w.max_restarting, 2);
    assert_int_equal(present_at_or_above(&w, 5), 0);
    world_free(&w);
}

/* A broken version: only the surge replica tries it, the old five keep
 * running; after the deadline, with auto_revert, one REVERT. */
static void broken_version_halts_after_the_surge(void **state)
{
    (void)state;
    for (int auto_revert = 0; auto_revert < 2; auto_revert++) {
        world w;
        world_init(&w, 6, 5);
        w.svc.rollout.min_healthy_ms = 500;
        w.svc.rollout.deadline_ms = 5000;
        w.svc.rollout.auto_revert = auto_revert;
        uint64_t t = run_for(&w, 0, 3000, 0);
        uint32_t v1 = (uint32_t)sl_service_spec_hash(&w.svc);
        w.broken = (uint32_t)sl_service_spec_hash(&(sl_service){.argc = 1, .argv = cmd_v2});
        deploy_v2(&w);
        t = run_for(&w, t, 20000, 5);
        assert_int_equal(running(&w, v1, false), 5);       /* the old five run */
        assert_int_equal(present_at_or_above(&w, 5), 1);  /* the surge replica tries */
        assert_int_equal(w.reverts, auto_revert ? 1 : 0); /* once, not every step */
        world_free(&w);
    }
}

/* A good rollout, then a broken one that reverts: exactly one REVERT, by
 * the surge replica's owner; the replicas restarted by the good rollout do
 * not count as late for the broken one. */
static void one_revert_after_a_good_rollout(void **state)
{
    (void)state;
    world w;
    world_init(&w, 6, 5);
    w.svc.rollout.min_healthy_ms = 500;
    w.svc.rollout.deadline_ms = 5000;
    w.svc.rollout.auto_revert = true;
    uint64_t t = run_for(&w, 0, 3000, 0);
    deploy_v2(&w);
    t = run_for(&w, t, 30000, 5);
    uint32_t v2 = (uint32_t)sl_service_spec_hash(&w.svc);
    assert_int_equal(running(&w, v2, false), 5);
    w.svc.argv = cmd_v3;
    w.broken = (uint32_t)sl_service_spec_hash(&w.svc);
    w.revert_to = cmd_v2;
    catalog_changed(&w);
    t = run_for(&w, t, 30000, 5);
    assert_int_equal(w.reverts, 1);
    assert_ptr_equal(w.svc.argv, cmd_v2);
    assert_int_equal(running(&w, v2, false), 5);
    assert_int_equal(present_at_or_above(&w, 5), 0);
    world_free(&w);
}

/* No previous version kept: every replica restarts at once, as before. */
static void without_a_previous_version_restarts_at_once(void **state)
{
    (void)state;
    world w;
    world_init(&w, 6, 5);
    uint64_t t = run_for(&w, 0, 3000, 0);
    w.svc.argv = cmd_v2; /* prev.has stays false */
    catalog_changed(&w);
    round_at(&w, t);
    size_t restarting = 0;
    for (size_t i = 0; i < w.npeers; i++)
        for (uint32_t r = 0; r < 5; r++)
            restarting += w.rep[i][r].present && w.rep[i][r].status == SL_REPLICA_STARTING;
    assert_int_equal(restarting, 5);
    assert_int_equal(present_at_or_above(&w, 5), 0);
    world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rolls_with_one_surge_and_no_unavailable),
        cmocka_unit_test(waits_min_healthy_between_steps),
        cmocka_unit_test(max_unavailable_bounds_the_slots_down),
        cmocka_unit_test(broken_version_halts_after_the_surge),
        cmocka_unit_test(one_revert_after_a_good_rollout),
        cmocka_unit_test(without_a_previous_version_restarts_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
