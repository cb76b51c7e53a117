/* The runtime in the simulator (sim/runtime.c, sim/services.c) driven by
 * the runner: scenarios parsed from text, run to their end, and then every
 * virtual node's supervisor and catalog inspected. What is asserted is what
 * an operator relies on: each replica of each service runs exactly once in
 * the cluster, on distinct nodes; a crashed node's replicas are re-hosted; a
 * restarted node comes back with the catalog it saved; a service that cannot
 * start never counts as running; the report's figures are those of the
 * replicas the supervisors hold; two runs with one seed are identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../sim/report.h"
#include "../../sim/runner.h"
#include "starling/catalog.h"
#include "starling/reconcile.h"
#include "starling/reports.h"

typedef struct held {
    const char *service;
    uint32_t max_replicas;
    int count[64];    /* running copies of replica i */
    int nodes[64][4]; /* where (first four) */
} held;

typedef struct held_ctx {
    held *h;
    int node;
} held_ctx;

static void count_running(void *ud, const sl_vsup_replica *r)
{
    held_ctx *c = ud;
    if (r->status != SL_REPLICA_RUNNING || strcmp(r->service, c->h->service) || r->replica >= 64)
        return;
    int k = c->h->count[r->replica]++;
    if (k < 4)
        c->h->nodes[r->replica][k] = c->node;
}

/* Counts the running copies of every replica of `service` over live nodes. */
static void census(const sl_sim_run *r, const char *service, held *h)
{
    memset(h, 0, sizeof *h);
    h->service = service;
    for (int n = 0; n < r->sc->max_nodes; n++) {
        const sl_vsup *s = sl_sim_runtime_vsup(r->rt, n);
        held_ctx c = {h, n};
        if (s)
            sl_vsup_foreach(s, count_running, &c);
    }
}

static sl_sim_run *run_text(const char *text, sl_sim_scenario *sc)
{
    char err[512];
    int rc = sl_sim_scenario_parse(text, "test.scn", sc, err, sizeof err);
    if (rc != 0)
        fail_msg("parse: %s", err);
    sl_sim_run *r = NULL;
    if (sl_sim_execute(sc, sc->seed, NULL, &r, err, sizeof err) != 0)
        fail_msg("execute: %s", err);
    assert_non_null(r->rt);
    assert_non_null(r->svc);
    return r;
}

/* Every replica 0..R-1 of service runs exactly once, each on its own node. */
static void assert_exactly_once(const sl_sim_run *r, const char *service, uint32_t replicas)
{
    held h;
    census(r, service, &h);
    for (uint32_t i = 0; i < replicas; i++) {
        if (h.count[i] != 1)
            fail_msg("%s/%u runs %d times", service, i, h.count[i]);
        for (uint32_t j = 0; j < i; j++)
            assert_int_not_equal(h.nodes[i][0], h.nodes[j][0]);
    }
    for (uint32_t i = replicas; i < 64; i++)
        assert_int_equal(h.count[i], 0);
}

static void initial_services_run_once(void **state)
{
    (void)state;
    sl_sim_scenario sc;
    sl_sim_run *r = run_text("nodes 8\nseed 4\nzones 2\nservices 5 replicas 3\n"
                             "service api replicas 2 spread nodes\nrun 40s\n",
                             &sc);
    char name[16];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "s%d", i);
        assert_exactly_once(r, name, 3);
    }
    assert_exactly_once(r, "api", 2);
    sl_sim_svc_sample now;
    sl_sim_svc_sample_now(r->svc, &now);
    assert_int_equal(now.running, 17);
    assert_int_equal(now.target, 17);
    assert_int_equal(now.deficit, 0);
    assert_int_equal(now.duplicates, 0);
    for (int n = 0; n < 8; n++) /* every catalog holds all six */
        assert_int_equal(sl_catalog_size(sl_sim_runtime_catalog(r->rt, n)), 6);
    sl_sim_run_free(r);
    sl_sim_scenario_deinit(&sc);
}

typedef struct version_ctx {
    const sl_sim_run *r;
    int node;
    size_t checked;
} version_ctx;

/* A running replica carries the version of the spec it was started with,
 * and so does its entry in the reports of its own node and of node 0. */
static void check_version(void *ud, const sl_vsup_replica *x)
{
    version_ctx *c = ud;
    if (x->status != SL_REPLICA_RUNNING)
        return;
    const sl_service *svc = sl_catalog_find(sl_sim_runtime_catalog(c->r->rt, c->node), x->service);
    assert_non_null(svc);
    uint32_t want = (uint32_t)sl_service_spec_hash(svc);
    assert_int_not_equal(want, 0);
    assert_int_equal(x->version, want);
    const char *name = sl_world_name(c->r->w, c->node);
    int observers[] = {c->node, 0};
    for (int i = 0; i < 2; i++) {
        sl_replica_report e;
        assert_true(sl_reports_replica(sl_sim_runtime_reports(c->r->rt, observers[i]), name,
                                       x->service, x->replica, &e));
        assert_int_equal(e.version, want);
    }
    c->checked++;
}

/* Reports carry the spec version of every running replica, as its own node
 * and another one hold them. */
static void reports_carry_spec_versions(void **state)
{
    (void)state;
    sl_sim_scenario sc;
    sl_sim_run *r = run_text("nodes 6\nseed 9\nservices 3 replicas 2\nrun 40s\n", &sc);
    size_t checked = 0;
    for (int n = 0; n < 6; n++) {
        version_ctx c = {r, n, 0};
        const sl_vsup *s = sl_sim_runtime_vsup(r->rt, n);
        assert_non_null(s);
        sl_vsup_foreach(s, check_version, &c);
        checked += c.checked;
    }
    assert_int_equal(checked, 6);
    sl_sim_run_free(r);
    sl_sim_scenario_deinit(&sc);
}

static void crash_rehosts_and_counts_starts(void **state)
{
    (void)state;
    sl_sim_scenario sc;
    sl_sim_run *r = run_text("nodes 9\nseed 8\nservices 6 replicas 3\n"
                             "at 40s crash n2 n5\nrun 120s\n",
                             &sc);
    char name[16];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "s%d", i);
        assert_exactly_once(r, name, 3);
    }
    size_t nw;
    const sl_sim_svc_window *w = sl_sim_svc_windows(r->svc, &nw);
    assert_int_equal(nw, 2); /* the start, the crash */
    assert_int_equal(w[1].a->type, SL_SIM_CRASH);
    assert_true(w[1].lost > 0);            /* two of nine nodes held some of 18 */
    assert_true(w[1].back_ms < 30000);     /* detection plus a start-up */
    assert_true(w[1].starts >= w[1].lost); /* each lost replica started again */
    assert_true(w[1].starts <= 2 * w[1].lost);
    /* Views that differ by the crashed members were computed incrementally. */
    const sl_sim_rt_stats *st = sl_sim_runtime_stats(r->rt);
    assert_true(st->placements_incremental > 0);
    assert_true(st->placements_incremental <= st->placements);
    sl_sim_run_free(r);
    sl_sim_scenario_deinit(&sc);
}

static void restart_restores_saved_catalog(void **state)
{
    (void)state;
    sl_sim_scenario sc;
    /* web exists only by the write at 10 s; all three nodes die at 40 s and
     * n1 comes back alone: its catalog must be the one it saved. */
    sl_sim_run *r = run_text("nodes 3\nseed 2\nat 10s deploy web replicas 1 via n1\n"
                             "at 40s crash n0-n2\nat 50s restart n1\nrun 250s\n",
                             &sc);
    const sl_catalog *cat = sl_sim_runtime_catalog(r->rt, 1);
    assert_non_null(cat);
    assert_non_null(sl_catalog_find(cat, "web"));
    assert_null(sl_sim_runtime_catalog(r->rt, 0));
    assert_exactly_once(r, "web", 1);
    assert_true(sl_sim_runtime_stats(r->rt)->restores >= 1);
    sl_sim_run_free(r);
    sl_sim_scenario_deinit(&sc);
}

static void failing_service_never_runs(void **state)
{
    (void)state;
    sl_sim_scenario sc;
    sl_sim_run *r = run_text("nodes 5\nseed 6\nservices 2 replicas 2\n"
                             "at 20s fail-start s0\nrun 80s\n",
                             &sc);
    held h;
    census(r, "s0", &h);
    assert_int_equal(h.count[0] + h.count[1], 0);
    assert_exactly_once(r, "s1", 2);
    sl_sim_svc_figures f;
    sl_sim_svc_figures_get(r->svc, &f);
    assert_true(f.has_back);
    assert_int_equal(f.back_ms, SL_SIM_NEVER); /* s0 never came back */
    sl_sim_run_free(r);
    sl_sim_scenario_deinit(&sc);
}

static void writes_converge_and_none_lost(void **state)
{
    (void)state;
    sl_sim_scenario sc;
    sl_sim_run *r = run_text("nodes 6\nseed 9\nservice api replicas 2\n"
                             "at 20s deploy web replicas 2 via n3\n"
                             "at 30s scale api 3 via n4\nat 40s rm web via n0\n"
                             "at 50s deploy db replicas 3 via n1\nat 50100ms scale db 1 via n1\n"
                             "run 90s\n",
                             &sc);
    size_t nw;
    const sl_sim_svc_write *w = sl_sim_svc_writes(r->svc, &nw);
    assert_int_equal(nw, 5);
    for (size_t i = 0; i < nw; i++) {
        assert_true(w[i].converged_ms < 10000);
        assert_false(w[i].lost);
        if (i == 3) { /* db's deploy: scaled down before it could run at 3 */
            assert_true(w[i].superseded);
            continue;
        }
        /* Each write's service ran at its count (removed: nothing runs)
         * soon after it, after a start-up at least. */
        assert_false(w[i].superseded);
        assert_true(w[i].running_ms >= 100 && w[i].running_ms < 10000);
    }
    sl_sim_svc_figures f;
    sl_sim_svc_figures_get(r->svc, &f);
    assert_true(f.has_write_running);
    assert_true(f.write_running_ms < 10000);
    assert_exactly_once(r, "api", 3);
    assert_exactly_once(r, "db", 1);
    held h;
    census(r, "web", &h);
    assert_int_equal(h.count[0] + h.count[1], 0); /* removed: nothing runs */
    for (int n = 0; n < 6; n++)
        assert_null(sl_catalog_find(sl_sim_runtime_catalog(r->rt, n), "web"));
    assert_true(sl_sim_run_ok(r));
    sl_sim_run_free(r);
    sl_sim_scenario_deinit(&sc);
}

static void same_seed_same_report(void **state)
{
    (void)state;
    const char *text = "nodes 10\nseed 13\nzones 2\nservices 8 replicas 3\n"
                       "at 20s crash n3\nat 30s join 2\nat 50s restart n3\nrun 90s\n";
    char *out[2];
    for (int k = 0; k < 2; k++) {
        sl_sim_scenario sc;
        sl_sim_run *r = run_text(text, &sc);
        size_t len;
        FILE *f = open_memstream(&out[k], &len);
        sl_sim_perf perf = {0};
        assert_int_equal(sl_sim_report_json(r, "t.scn", &perf, f), 0);
        fclose(f);
        sl_sim_run_free(r);
        sl_sim_scenario_deinit(&sc);
    }
    assert_string_equal(out[0], out[1]);
    assert_non_null(strstr(out[0], "\"services\": {"));
    free(out[0]);
    free(out[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(initial_services_run_once),
        cmocka_unit_test(reports_carry_spec_versions),
        cmocka_unit_test(crash_rehosts_and_counts_starts),
        cmocka_unit_test(restart_restores_saved_catalog),
        cmocka_unit_test(failing_service_never_runs),
        cmocka_unit_test(writes_converge_and_none_lost),
        cmocka_unit_test(same_seed_same_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
