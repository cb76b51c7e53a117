/* The runtime core driven by the simulator: every virtual node of a sim
 * world runs the same sl_appstate and sl_reconciler as the agent, through
 * the world's application hook, with a stand-in supervisor whose replicas
 * run as soon as they are started. A deploy made on one node reaches every
 * catalog, the cluster runs exactly R replicas on distinct nodes, and when
 * an owner crashes another node starts its replica. Deterministic: no
 * clock, no sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../sim/world.h"
#include "starling/appstate.h"
#include "starling/meta.h"
#include "starling/reconcile.h"

#define NODES 12
#define REPLICAS 3
#define MAX_LOCAL 8

typedef struct vnode {
    sl_appstate *app;
    sl_reconciler *rc;
    sl_swim *core;
    sl_rc_local local[MAX_LOCAL]; /* the stand-in supervisor: running at once */
    char names[MAX_LOCAL][SL_SVC_NAME_MAX + 1];
    size_t nlocal;
} vnode;

typedef struct fixture {
    sl_world *w;
    vnode n[NODES];
    uint64_t starts;
} fixture;

static void publish(vnode *v, const char *service)
{
    sl_replica_report reps[MAX_LOCAL];
    uint32_t k = 0;
    for (size_t i = 0; i < v->nlocal; i++)
        if (!strcmp(v->names[i], service))
            reps[k++] =
                (sl_replica_report){v->local[i].replica, SL_REPLICA_RUNNING, 0, 0, false, 0};
    sl_appstate_publish(v->app, service, reps, k);
}

static void perform(fixture *f, vnode *v, const sl_rc_action *a)
{
    if (a->kind == SL_RC_START && v->nlocal < MAX_LOCAL) {
        snprintf(v->names[v->nlocal], sizeof v->names[0], "%s", a->service);
        v->local[v->nlocal] = (sl_rc_local){v->names[v->nlocal], a->replica, SL_REPLICA_RUNNING};
        v->nlocal++;
        f->starts++;
        publish(v, a->service);
    } else if (a->kind == SL_RC_STOP) {
        char service[SL_SVC_NAME_MAX + 1];
        snprintf(service, sizeof service, "%s", a->service);
        for (size_t i = 0; i < v->nlocal; i++)
            if (v->local[i].replica == a->replica && !strcmp(v->names[i], service)) {
                v->nlocal--;
                memcpy(v->names[i], v->names[v->nlocal], sizeof v->names[i]);
                v->local[i] = v->local[v->nlocal];
                v->local[i].service = v->names[i];
                sl_reconciler_forget(v->rc, service, a->replica);
                break;
            }
        publish(v, service);
    }
}

static void reconcile(fixture *f, vnode *v, uint64_t now)
{
    sl_app_view view;
    assert_int_equal(sl_appstate_build_view(v->app, v->core, 0, &view), 0);
    sl_reconcile_input in = {.members = view.pm,
                             .nmembers = view.n,
                             .self = view.self,
                             .svc = view.svc,
                             .ps = view.ps,
                             .nsvc = view.nsvc,
                             .local = v->local,
                             .nlocal = v->nlocal,
                             .runs = sl_appstate_runs,
                             .runs_ud = v->app,
                             .now_ms = now};
    sl_reconcile_result res;
    assert_int_equal(sl_reconcile(v->rc, &in, &res), 0);
    /* Copy: performing changes the local table the actions point into. */
    sl_rc_action acts[2 * MAX_LOCAL];
    char names[2 * MAX_LOCAL][SL_SVC_NAME_MAX + 1];
    size_t n = res.n < 2 * MAX_LOCAL ? res.n : 2 * MAX_LOCAL;
    for (size_t i = 0; i < n; i++) {
        acts[i] = res.actions[i];
        snprintf(names[i], sizeof names[i], "%s", res.actions[i].service);
        acts[i].service = names[i];
    }
    sl_appstate_reconciled(v->app, res.handoffs, res.next_ms);
    for (size_t i = 0; i < n; i++)
        perform(f, v, &acts[i]);
    sl_app_view_free(&view);
}

static void on_boot(void *ud, int node, sl_swim *core, bool restart, uint64_t now_ms)
{
    fixture *f = ud;
    vnode *v = &f->n[node];
    (void)restart;
    sl_appstate_config c = {.node = sl_world_name(f->w, node),
                            .generation = 1,
                            .pol = {.horizon_ms = SL_CATALOG_HORIZON_MS},
                            .sync_grace_ms = 60000,
                            .alone = node == 0,
                            .now_ms = now_ms};
    assert_int_equal(sl_appstate_new(&c, &v->app), 0);
    v->rc = sl_reconciler_new(0);
    assert_non_null(v->rc);
    v->core = core;
    sl_appstate_attach(v->app, core, now_ms);
}

static void on_crash(void *ud, int node)
{
    fixture *f = ud;
    vnode *v = &f->n[node];
    sl_appstate_free(v->app);
    sl_reconciler_free(v->rc);
    memset(v, 0, sizeof *v); /* its replicas die with it */
}

static int on_user_msg(void *ud, int node, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    fixture *f = ud;
    return sl_appstate_user_msg(f->n[node].app, buf, len, now_ms, 0);
}

static int on_user_state(void *ud, int node, uint8_t **out, size_t *len)
{
    fixture *f = ud;
    return sl_appstate_user_state(f->n[node].app, out, len);
}

static int on_user_merge(void *ud, int node, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    fixture *f = ud;
    return sl_appstate_user_merge(f->n[node].app, buf, len, now_ms, 0);
}

static void on_event(void *ud, int node, const sl_swim_event *ev, uint64_t now_ms)
{
    fixture *f = ud;
    if (f->n[node].app)
        sl_appstate_member_event(f->n[node].app, ev, now_ms);
}

static void on_tick(void *ud, int node, uint64_t now_ms)
{
    fixture *f = ud;
    vnode *v = &f->n[node];
    unsigned todo = sl_appstate_tick(v->app, now_ms, 0);
    if (todo & SL_APP_DO_SAVE)
        sl_appstate_saved(v->app, now_ms);
    if (todo & SL_APP_DO_RECONCILE)
        reconcile(f, v, now_ms);
}

static uint64_t on_deadline(void *ud, int node)
{
    fixture *f = ud;
    return f->n[node].app ? sl_appstate_deadline(f->n[node].app) : UINT64_MAX;
}

/* Replicas of `service` running in the cluster, and on how many distinct
 * nodes; every replica index counted once per node that runs it. */
static size_t running(const fixture *f, const char *service, size_t *nodes, size_t *dups)
{
    size_t total = 0, per_index[REPLICAS] = {0};
    *nodes = 0;
    for (int i = 0; i < NODES; i++) {
        size_t here = 0;
        for (size_t j = 0; j < f->n[i].nlocal; j++)
            if (!strcmp(f->n[i].names[j], service)) {
                here++;
                if (f->n[i].local[j].replica < REPLICAS)
                    per_index[f->n[i].local[j].replica]++;
            }
        total += here;
        *nodes += here > 0;
    }
    *dups = 0;
    for (int r = 0; r < REPLICAS; r++)
        *dups += per_index[r] > 1 ? per_index[r] - 1 : 0;
    return total;
}

static void deploy_converge_and_heal(void **state)
{
    (void)state;
    static fixture f;
    memset(&f, 0, sizeof f);
    sl_world_config wc = {.seed = 7, .latency_us = 500, .jitter_us = 500};
    assert_int_equal(sl_swim_profile("lan", &wc.timing), 0);
    f.w = sl_world_new(&wc);
    assert_non_null(f.w);
    sl_world_app app = {.boot = on_boot,
                        .crash = on_crash,
                        .user_msg = on_user_msg,
                        .user_state = on_user_state,
                        .user_merge = on_user_merge,
                        .event = on_event,
                        .tick = on_tick,
                        .deadline = on_deadline,
                        .ud = &f};
    sl_world_set_app(f.w, &app);
    sl_meta m = {.slots = 1};
    uint8_t meta[SL_SWIM_META_MAX];
    int ml = sl_meta_encode(&m, meta, sizeof meta);
    assert_true(ml > 0);
    for (int i = 0; i < NODES; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(sl_world_add_node(f.w, name, meta, (size_t)ml, i ? 0 : -1), i);
    }
    sl_world_run_until(f.w, 10000);

    /* A deploy made on node 5. */
    static char *argv[] = {"/bin/web"};
    sl_service spec = {.replicas = REPLICAS, .argc = 1, .argv = argv};
    snprintf(spec.name, sizeof spec.name, "web");
    char err[256];
    int rc = sl_appstate_deploy(f.n[5].app, &spec, sl_world_now(f.w), 0, err, sizeof err);
    if (rc)
        print_message("deploy: %s\n", err);
    assert_int_equal(rc, 0);
    sl_world_app_changed(f.w, 5);
    sl_world_run_until(f.w, 20000);
    for (int i = 0; i < NODES; i++) {
        const sl_service *s = sl_catalog_find(sl_appstate_catalog(f.n[i].app), "web");
        assert_non_null(s);
        assert_int_equal(s->replicas, REPLICAS);
    }
    size_t nodes, dups;
    assert_int_equal(running(&f, "web", &nodes, &dups), REPLICAS);
    assert_int_equal(nodes, REPLICAS);
    assert_int_equal(dups, 0);
    assert_int_equal(f.starts, REPLICAS);

    /* Crash an owner: after detection another node starts what it ran. */
    int owner = -1;
    for (int i = 1; i < NODES && owner < 0; i++)
        if (f.n[i].nlocal)
            owner = i;
    assert_true(owner > 0);
    sl_world_crash(f.w, owner);
    assert_int_equal(running(&f, "web", &nodes, &dups), REPLICAS - 1);
    sl_world_run_until(f.w, 60000);
    assert_int_equal(running(&f, "web", &nodes, &dups), REPLICAS);
    assert_int_equal(nodes, REPLICAS);
    assert_int_equal(dups, 0);
    /* One start per replica lost: the survivors keep theirs. */
    assert_int_equal(f.starts, REPLICAS + 1);
    sl_world_free(f.w);
    for (int i = 0; i < NODES; i++) {
        sl_appstate_free(f.n[i].app);
        sl_reconciler_free(f.n[i].rc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deploy_converge_and_heal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
