/* The runtime in the simulator: the agent's runtime core on every virtual
 * node, with a virtual supervisor. See runtime.h for what it models.
 *
 * This file is the simulator's twin of node/runtime/runtime.c: the same calls into
 * sl_appstate and sl_reconciler in the same order (tick: save, then
 * reconcile; a replica change: publish; a removed replica: forget), with
 * the supervisor, the files and the clock replaced by sim/vsup.c, a buffer
 * and the world's virtual time. */
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "starling/appstate.h"
#include "starling/error.h"
#include "starling/placement.h"
#include "starling/reconcile.h"
#include "starling/rng.h"

#define CACHE_SLOTS 64 /* placements kept, least recently used dropped */

typedef struct vnode {
    sl_sim_runtime *rt;
    int index;
    sl_appstate *app;
    sl_reconciler *rc;
    sl_vsup *sup;
    sl_swim *core;
    uint32_t generation; /* boots so far: report versions grow across restarts */
    uint8_t *disk;       /* the last saved snapshot; survives a crash */
    size_t disk_len;
} vnode;

typedef struct cached {
    uint64_t k1, k2; /* the input's hash; 0, 0: empty slot */
    uint64_t used;
    sl_placement *p;
} cached;

/* A fault of the scenario's: a service failing (to start, or its checks)
 * on one node or on all. */
typedef struct fault {
    char service[SL_SVC_NAME_MAX + 1];
    int node; /* -1: on every node */
} fault;

struct sl_sim_runtime {
    sl_world *w;
    const sl_sim_scenario *sc;
    sl_sim_rt_observer obs;
    uint64_t seed;
    int max_nodes;
    vnode *nodes;
    uint8_t *initial; /* the saved catalog every node starts with */
    size_t initial_len;
    uint32_t max_records;
    fault *failing; /* (service, node) pairs whose starts fail now */
    size_t nfailing;
    fault *sick; /* (service, node) pairs whose health checks fail now */
    size_t nsick;
    cached cache[CACHE_SLOTS];
    uint64_t cache_clock;
    sl_placement_cache *inc; /* the last computed input: the next miss is incremental */
    sl_sim_rt_stats stats;
};

uint64_t sl_sim_wall_ms(uint64_t now_ms)
{
    return SL_SIM_WALL_EPOCH_MS + now_ms;
}

/* ---- the placement cache ---- */

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return sl_mix64(h ^ 0xff);
}

static uint64_t hash_u(uint64_t h, uint64_t v)
{
    return sl_mix64(h ^ v) + 0x9e3779b97f4a7c15ull;
}

/* Two independent 64-bit hashes of a placement input, in array order. */
static void hash_input(const sl_app_view *v, uint64_t *k1, uint64_t *k2)
{
    uint64_t h[2] = {0x243f6a8885a308d3ull, 0x13198a2e03707344ull};
    for (int j = 0; j < 2; j++) {
        h[j] = hash_u(h[j], v->n);
        for (size_t i = 0; i < v->n; i++) {
            const sl_placement_member *m = &v->pm[i];
            h[j] = hash_str(h[j], m->name);
            h[j] = hash_str(h[j], m->zone);
            h[j] = hash_u(h[j], ((uint64_t)m->weight << 32) | m->state);
            h[j] = hash_u(h[j], ((uint64_t)m->cpu_milli << 32) | m->mem_mb);
        }
        h[j] = hash_u(h[j], v->nsvc);
        for (size_t i = 0; i < v->nsvc; i++) {
            const sl_placement_service *s = &v->ps[i];
            h[j] = hash_str(h[j], s->name);
            h[j] = hash_u(h[j], ((uint64_t)s->replicas << 32) | s->spread);
            h[j] = hash_u(h[j], ((uint64_t)s->cpu_milli << 32) | s->mem_mb);
            for (uint32_t k = 0; k < s->navoid; k++) /* nothing when none: keys as before */
                h[j] = hash_str(hash_u(h[j], k), s->avoid[k]);
        }
    }
    *k1 = h[0] | 1; /* never 0: 0, 0 marks an empty slot */
    *k2 = h[1];
}

/* The placement of v, from the cache or computed into it. NULL when it
 * cannot be computed (*rc says why). Owned by the cache. */
static const sl_placement *placement_of(sl_sim_runtime *rt, const sl_app_view *v, int *rc)
{
    uint64_t k1, k2;
    hash_input(v, &k1, &k2);
    cached *victim = &rt->cache[0];
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cached *c = &rt->cache[i];
        if (c->k1 == k1 && c->k2 == k2) {
            c->used = ++rt->cache_clock;
            rt->stats.placement_hits++;
            return c->p;
        }
        if (c->used < victim->used)
            victim = c;
    }
    sl_placement *p;
    /* Identical to sl_placement_compute(), cheaper when this view differs
     * from the last computed one by a change or a few. */
    sl_placement_cache_stats before, after;
    sl_placement_cache_stats_get(rt->inc, &before);
    *rc = sl_placement_cache_compute(rt->inc, v->pm, v->n, v->ps, v->nsvc, NULL, &p);
    if (*rc != 0)
        return NULL;
    sl_placement_cache_stats_get(rt->inc, &after);
    rt->stats.placements++;
    rt->stats.placements_incremental += after.incremental - before.incremental;
    sl_placement_free(victim->p);
    *victim = (cached){k1, k2, ++rt->cache_clock, p};
    return p;
}

/* ---- one node: reports, reconcile, ticks ---- */

typedef struct replicas_of {
    sl_replica_report rep[2 * SL_REPORT_REPLICAS_MAX];
    uint32_t n;
} replicas_of;

static void collect_service(void *ud, const sl_vsup_replica *r)
{
    replicas_of *c = ud;
    if (c->n < sizeof c->rep / sizeof c->rep[0])
        c->rep[c->n++] = (sl_replica_report){.replica = r->replica,
                                             .status = r->status,
                                             .port = r->port,
                                             .restarts = r->restarts,
                                             .version = r->version};
}

static void publish(vnode *v, const char *service)
{
    replicas_of c = {.n = 0};
    sl_vsup_foreach_of(v->sup, service, collect_service, &c);
    sl_appstate_publish(v->app, service, c.rep, c.n);
}

static void on_replica_change(void *ud, const sl_vsup_replica *r)
{
    vnode *v = ud;
    if (r->status == SL_REPLICA_UNHEALTHY)
        v->rt->stats.unhealthy++;
    if (v->rt->obs.replica)
        v->rt->obs.replica(v->rt->obs.ud, v->index, r, false);
    if (sl_appstate_replica_status(v->app, r->service, r->replica, r->status, r->at_ms)) {
        char service[SL_SVC_NAME_MAX + 1];
        snprintf(service, sizeof service, "%s", r->service);
        v->rt->stats.give_ups++;
        sl_vsup_stop(v->sup, service, r->replica, r->at_ms); /* removed at once: no process */
        return;
    }
    publish(v, r->service);
}

static void on_replica_removed(void *ud, const sl_vsup_replica *r)
{
    vnode *v = ud;
    char service[SL_SVC_NAME_MAX + 1];
    snprintf(service, sizeof service, "%s", r->service);
    if (v->rt->obs.replica)
        v->rt->obs.replica(v->rt->obs.ud, v->index, r, true);
    sl_reconciler_forget(v->rc, service, r->replica);
    sl_appstate_replica_gone(v->app, service, r->replica);
    publish(v, service);
}

static bool faulted(const fault *f, size_t n, int node, const char *service)
{
    for (size_t i = 0; i < n; i++)
        if ((f[i].node < 0 || f[i].node == node) && !strcmp(f[i].service, service))
            return true;
    return false;
}

static bool fails(void *ud, const char *service)
{
    const vnode *v = ud;
    return faulted(v->rt->failing, v->rt->nfailing, v->index, service);
}

static bool check_fails(void *ud, const char *service)
{
    const vnode *v = ud;
    return faulted(v->rt->sick, v->rt->nsick, v->index, service);
}

/* The check of `service` in the node's catalog, as the agent's driver hands
 * the spec's check to its supervisor. */
static const sl_check *check_of(void *ud, const char *service)
{
    const vnode *v = ud;
    const sl_service *s = v->app ? sl_catalog_find(sl_appstate_catalog(v->app), service) : NULL;
    return s ? &s->check : NULL;
}

static void collect_local(void *ud, const sl_vsup_replica *r)
{
    sl_rc_locals_add(ud, r->service, r->replica, r->status);
}

static void perform(vnode *v, const sl_rc_action *x, uint64_t now)
{
    sl_sim_runtime *rt = v->rt;
    rt->stats.actions++;
    switch (x->kind) {
    case SL_RC_RESTART:
        sl_vsup_stop(v->sup, x->service, x->replica, now); /* start below runs it again */
        /* fall through */
    case SL_RC_START:
        if (rt->obs.started)
            rt->obs.started(rt->obs.ud, v->index, x->service, x->replica);
        sl_vsup_start_version(v->sup, x->service, x->replica,
                              (uint32_t)sl_service_spec_hash(x->svc), now);
        break;
    case SL_RC_STOP: sl_vsup_stop(v->sup, x->service, x->replica, now); break;
    case SL_RC_REVERT: {
        char err[256];
        if (sl_appstate_revert(v->app, x->svc, now, sl_sim_wall_ms(now), err, sizeof err) == 0)
            rt->stats.reverts++;
        break;
    }
    }
}

static void reconcile(vnode *v, uint64_t now)
{
    sl_sim_runtime *rt = v->rt;
    sl_app_view view;
    sl_rc_locals local;
    rt->stats.reconciles++;
    int rc = sl_appstate_build_view(v->app, v->core, sl_sim_wall_ms(now), &view);
    if (rc != 0) {
        rt->stats.reconcile_errors++;
        sl_appstate_reconcile_failed(v->app, now);
        return;
    }
    sl_reconcile_result res;
    const sl_placement *p = NULL;
    rc = sl_rc_locals_init(&local, sl_vsup_count(v->sup));
    if (rc == 0) {
        sl_vsup_foreach(v->sup, collect_local, &local);
        sl_app_view_sort(&view, sl_world_name(rt->w, v->index));
        p = placement_of(rt, &view, &rc);
    }
    if (p) {
        sl_reconcile_input in = {.members = view.pm,
                                 .nmembers = view.n,
                                 .self = view.self,
                                 .svc = view.svc,
                                 .ps = view.ps,
                                 .nsvc = view.nsvc,
                                 .local = local.a,
                                 .nlocal = local.n,
                                 .runs = sl_appstate_runs,
                                 .runs_ud = v->app,
                                 .trying = sl_appstate_trying,
                                 .trying_ud = v->app,
                                 .replica = sl_appstate_replica,
                                 .replica_ud = v->app,
                                 .now_ms = now};
        rc = sl_reconcile_placed(v->rc, &in, p, &res);
    }
    if (rc != 0) {
        rt->stats.reconcile_errors++;
        sl_appstate_reconcile_failed(v->app, now);
    } else {
        for (size_t i = 0; i < res.n; i++)
            perform(v, &res.actions[i], now);
        sl_appstate_reconciled(v->app, res.handoffs, res.next_ms);
    }
    sl_rc_locals_free(&local);
    sl_app_view_free(&view);
}

static void save(vnode *v, uint64_t now)
{
    uint8_t *buf;
    size_t len;
    if (sl_appstate_snapshot(v->app, sl_sim_wall_ms(now), &buf, &len) != 0)
        return; /* out of memory: the agent logs and retries on the next change */
    free(v->disk);
    v->disk = buf;
    v->disk_len = len;
    v->rt->stats.saves++;
    sl_appstate_saved(v->app, now);
}

/* ---- the world's application hooks ---- */

/* Tells the observer that node v's catalog may have changed. */
static void catalog_changed(vnode *v, uint64_t now_ms)
{
    if (v->app && v->rt->obs.catalog)
        v->rt->obs.catalog(v->rt->obs.ud, v->index, sl_appstate_catalog(v->app), now_ms);
}

/* The node's supervisor goes, and its replicas with it (told first). */
static void drop_supervisor(sl_sim_runtime *rt, vnode *v)
{
    if (!v->sup)
        return;
    if (rt->obs.node_down)
        rt->obs.node_down(rt->obs.ud, v->index, v->sup);
    sl_vsup_free(v->sup);
    v->sup = NULL;
}

static void node_down(sl_sim_runtime *rt, vnode *v)
{
    if (!v->app)
        return;
    drop_supervisor(rt, v);
    sl_appstate_free(v->app);
    sl_reconciler_free(v->rc);
    v->app = NULL;
    v->rc = NULL;
    v->core = NULL;
}

static void on_boot(void *ud, int node, sl_swim *core, bool restart, uint64_t now_ms)
{
    sl_sim_runtime *rt = ud;
    vnode *v = &rt->nodes[node];
    node_down(rt, v);
    v->generation++;
    const sl_sim_scenario *sc = rt->sc;
    sl_appstate_config c = {
        .node = sl_world_name(rt->w, node),
        .generation = v->generation,
        .debounce_ms = SL_APP_DEBOUNCE_MS,
        .persist = true,
        .pol = {.horizon_ms = SL_CATALOG_HORIZON_MS, .max_records = rt->max_records},
        .sync_grace_ms = 2 * sl_swim_get_timing(core)->pushpull_interval_ms + 60000,
        .alone = node == 0 && !restart,
        .now_ms = now_ms};
    sl_vsup_config sc_ = {.startup_ms = sc->startup_ms,
                          .startup_jitter_ms = sc->startup_jitter_ms,
                          .stopping_ms = sc->stopping_ms,
                          .stopping_jitter_ms = sc->stopping_jitter_ms,
                          .seed = sl_mix64(rt->seed ^ sl_mix64(((uint64_t)node << 24) ^
                                                               v->generation ^ 0x76737570ull)),
                          .fails = fails,
                          .check_of = check_of,
                          .check_fails = check_fails,
                          .on_change = on_replica_change,
                          .on_removed = on_replica_removed,
                          .ud = v};
    v->rc = sl_reconciler_new(0);
    v->sup = sl_vsup_new(&sc_);
    if (!v->rc || !v->sup || sl_appstate_new(&c, &v->app) != 0) {
        /* Out of memory in the simulator itself: this node runs no runtime. */
        sl_vsup_free(v->sup);
        sl_reconciler_free(v->rc);
        v->sup = NULL;
        v->rc = NULL;
        v->app = NULL;
        rt->stats.reconcile_errors++;
        return;
    }
    const uint8_t *disk = v->disk ? v->disk : rt->initial;
    size_t disk_len = v->disk ? v->disk_len : rt->initial_len;
    if (disk) {
        sl_app_restore info;
        if (sl_appstate_restore(v->app, disk, disk_len, sl_sim_wall_ms(now_ms), &info) == 0)
            rt->stats.restores++;
    }
    v->core = core;
    sl_appstate_attach(v->app, core, now_ms);
    catalog_changed(v, now_ms);
}

static void on_crash(void *ud, int node)
{
    sl_sim_runtime *rt = ud;
    node_down(rt, &rt->nodes[node]);
}

static int on_user_msg(void *ud, int node, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    vnode *v = &((sl_sim_runtime *)ud)->nodes[node];
    if (!v->app)
        return 0;
    int rc = sl_appstate_user_msg(v->app, buf, len, now_ms, sl_sim_wall_ms(now_ms));
    catalog_changed(v, now_ms);
    return rc;
}

static int on_user_state(void *ud, int node, uint8_t **out, size_t *len)
{
    vnode *v = &((sl_sim_runtime *)ud)->nodes[node];
    if (!v->app) {
        *out = NULL;
        *len = 0;
        return SL_ENOMEM;
    }
    return sl_appstate_user_state(v->app, out, len);
}

static int on_user_merge(void *ud, int node, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    vnode *v = &((sl_sim_runtime *)ud)->nodes[node];
    if (!v->app)
        return 0;
    int rc = sl_appstate_user_merge(v->app, buf, len, now_ms, sl_sim_wall_ms(now_ms));
    catalog_changed(v, now_ms);
    return rc;
}

static void on_event(void *ud, int node, const sl_swim_event *ev, uint64_t now_ms)
{
    vnode *v = &((sl_sim_runtime *)ud)->nodes[node];
    if (v->app)
        sl_appstate_member_event(v->app, ev, now_ms);
}

static void on_tick(void *ud, int node, uint64_t now_ms)
{
    vnode *v = &((sl_sim_runtime *)ud)->nodes[node];
    if (!v->app)
        return;
    if (v->sup)
        sl_vsup_tick(v->sup, now_ms);
    unsigned todo = sl_appstate_tick(v->app, now_ms, sl_sim_wall_ms(now_ms));
    if (todo & SL_APP_DO_SAVE)
        save(v, now_ms);
    if ((todo & SL_APP_DO_RECONCILE) && v->sup) /* a leaving node runs nothing */
        reconcile(v, now_ms);
}

static uint64_t on_deadline(void *ud, int node)
{
    vnode *v = &((sl_sim_runtime *)ud)->nodes[node];
    if (!v->app)
        return UINT64_MAX;
    uint64_t a = sl_appstate_deadline(v->app), s = v->sup ? sl_vsup_deadline(v->sup) : UINT64_MAX;
    return a < s ? a : s;
}

/* ---- writes ---- */

static vnode *live_node(sl_sim_runtime *rt, int node, char *err, size_t errcap)
{
    if (node < 0 || node >= rt->max_nodes || !rt->nodes[node].app) {
        snprintf(err, errcap, "node n%d is down", node);
        return NULL;
    }
    return &rt->nodes[node];
}

/* The spec a write of `name` carries: its command is its name. */
static void spec_of(const sl_sim_runtime *rt, const char *name, uint32_t replicas, sl_service *s,
                    char **argv, char **env, char *env0, size_t env0_cap, uint32_t version)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->replicas = replicas;
    for (size_t i = 0; i < rt->sc->nservices; i++) {
        const sl_sim_service *d = &rt->sc->services[i];
        if (!strcmp(d->name, name)) {
            s->cpu_milli = d->cpu_milli;
            s->mem_mb = d->mem_mb;
            s->spread = d->spread_nodes ? SL_SPREAD_NODES : SL_SPREAD_ZONES;
            if (d->check)
                s->check = *d->check;
            break;
        }
    }
    argv[0] = s->name;
    s->argc = 1;
    s->argv = argv;
    if (version) {
        snprintf(env0, env0_cap, "SIM_VERSION=%u", version);
        env[0] = env0;
        s->envc = 1;
        s->env = env;
    }
}

static int written(sl_sim_runtime *rt, vnode *v, int rc, const char *name, uint64_t *stamp)
{
    if (rc == 0) {
        const sl_service *s = sl_catalog_find_any(sl_appstate_catalog(v->app), name);
        *stamp = s ? s->stamp : 0;
        sl_world_app_changed(rt->w, v->index);
        catalog_changed(v, sl_world_now(rt->w));
    }
    return rc;
}

int sl_sim_runtime_deploy(sl_sim_runtime *rt, int node, const char *name, uint32_t replicas,
                          uint32_t version, uint64_t *stamp, char *err, size_t errcap)
{
    vnode *v = live_node(rt, node, err, errcap);
    if (!v)
        return SL_ENOTFOUND;
    sl_service s;
    char *argv[1], *env[1], env0[32];
    spec_of(rt, name, replicas, &s, argv, env, env0, sizeof env0, version);
    uint64_t now = sl_world_now(rt->w);
    int rc = sl_appstate_deploy(v->app, &s, now, sl_sim_wall_ms(now), err, errcap);
    return written(rt, v, rc, name, stamp);
}

int sl_sim_runtime_scale(sl_sim_runtime *rt, int node, const char *name, uint32_t replicas,
                         uint64_t *stamp, char *err, size_t errcap)
{
    vnode *v = live_node(rt, node, err, errcap);
    if (!v)
        return SL_ENOTFOUND;
    uint64_t now = sl_world_now(rt->w);
    int rc = sl_appstate_scale(v->app, name, replicas, now, sl_sim_wall_ms(now), err, errcap);
    return written(rt, v, rc, name, stamp);
}

int sl_sim_runtime_rm(sl_sim_runtime *rt, int node, const char *name, uint64_t *stamp, char *err,
                      size_t errcap)
{
    vnode *v = live_node(rt, node, err, errcap);
    if (!v)
        return SL_ENOTFOUND;
    uint64_t now = sl_world_now(rt->w);
    int rc = sl_appstate_remove(v->app, name, now, sl_sim_wall_ms(now), err, errcap);
    return written(rt, v, rc, name, stamp);
}

void sl_sim_runtime_leave(sl_sim_runtime *rt, int node)
{
    if (node >= 0 && node < rt->max_nodes)
        drop_supervisor(rt, &rt->nodes[node]);
}

int sl_sim_runtime_drain(sl_sim_runtime *rt, int node, char *err, size_t errcap)
{
    vnode *v = live_node(rt, node, err, errcap);
    if (!v)
        return SL_ENOTFOUND;
    int rc = sl_appstate_drain(v->app, sl_world_now(rt->w), err, errcap);
    if (rc == 0)
        sl_world_app_changed(rt->w, node);
    return rc;
}

/* Adds (on) or removes the fault (service, node) in *f (*n of them).
 * Returns false when it is off, or out of memory. */
static bool fault_set(fault **f, size_t *n, const char *service, int node, bool on)
{
    size_t i;
    for (i = 0; i < *n && ((*f)[i].node != node || strcmp((*f)[i].service, service)); i++)
        ;
    if (!on) {
        if (i < *n)
            (*f)[i] = (*f)[--*n];
        return false;
    }
    if (i == *n) {
        fault *grown = realloc(*f, (*n + 1) * sizeof *grown);
        if (!grown)
            return false;
        *f = grown;
        snprintf(grown[*n].service, sizeof grown[*n].service, "%s", service);
        grown[(*n)++].node = node;
    }
    return true;
}

void sl_sim_runtime_check_fail(sl_sim_runtime *rt, const char *service, int node, bool failing)
{
    fault_set(&rt->sick, &rt->nsick, service, node, failing);
}

void sl_sim_runtime_fail_start(sl_sim_runtime *rt, const char *service, int node, bool failing)
{
    if (!fault_set(&rt->failing, &rt->nfailing, service, node, failing))
        return;
    uint64_t now = sl_world_now(rt->w);
    for (int n = 0; n < rt->max_nodes; n++)
        if ((node < 0 || n == node) && rt->nodes[n].sup &&
            sl_vsup_crash_service(rt->nodes[n].sup, service, now))
            sl_world_app_changed(rt->w, n);
}

const sl_catalog *sl_sim_runtime_catalog(const sl_sim_runtime *rt, int node)
{
    return node >= 0 && node < rt->max_nodes && rt->nodes[node].app
               ? sl_appstate_catalog(rt->nodes[node].app)
               : NULL;
}

const sl_vsup *sl_sim_runtime_vsup(const sl_sim_runtime *rt, int node)
{
    return node >= 0 && node < rt->max_nodes ? rt->nodes[node].sup : NULL;
}

const sl_reports *sl_sim_runtime_reports(const sl_sim_runtime *rt, int node)
{
    return node >= 0 && node < rt->max_nodes && rt->nodes[node].app
               ? sl_appstate_reports(rt->nodes[node].app)
               : NULL;
}

const sl_sim_rt_stats *sl_sim_runtime_stats(const sl_sim_runtime *rt)
{
    return &rt->stats;
}

typedef struct stale_ctx {
    const sl_catalog *cat;
    uint64_t n;
} stale_ctx;

static void count_stale(void *ud, const sl_vsup_replica *r)
{
    stale_ctx *c = ud;
    const sl_service *s = sl_catalog_find(c->cat, r->service);
    if (r->status == SL_REPLICA_RUNNING && s && r->version != (uint32_t)sl_service_spec_hash(s))
        c->n++;
}

uint64_t sl_sim_runtime_stale_versions(const sl_sim_runtime *rt)
{
    uint64_t n = 0;
    for (int i = 0; i < rt->max_nodes; i++) {
        const vnode *v = &rt->nodes[i];
        if (!v->sup || !v->app)
            continue;
        stale_ctx c = {sl_appstate_catalog(v->app), 0};
        sl_vsup_foreach(v->sup, count_stale, &c);
        n += c.n;
    }
    return n;
}

/* ---- creation ---- */

/* The catalog file every node starts with: the scenario's services,
 * written by "scenario" at time 0. */
static int initial_catalog(sl_sim_runtime *rt, char *err, size_t errcap)
{
    if (!rt->sc->nservices)
        return 0;
    sl_appstate *a;
    sl_appstate_config c = {
        .node = "scenario",
        .generation = 1,
        .pol = {.horizon_ms = SL_CATALOG_HORIZON_MS, .max_records = rt->max_records},
        .alone = true};
    if (sl_appstate_new(&c, &a) != 0) {
        snprintf(err, errcap, "out of memory for the initial catalog");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < rt->sc->nservices && rc == 0; i++) {
        const sl_sim_service *d = &rt->sc->services[i];
        sl_service s;
        char *argv[1], *env[1], env0[32];
        spec_of(rt, d->name, d->replicas, &s, argv, env, env0, sizeof env0, 0);
        char why[256];
        rc = sl_appstate_deploy(a, &s, 0, sl_sim_wall_ms(0), why, sizeof why);
        if (rc != 0)
            snprintf(err, errcap, "line %d: service %s: %s", d->line, d->name, why);
    }
    if (rc == 0 && sl_appstate_snapshot(a, sl_sim_wall_ms(0), &rt->initial, &rt->initial_len)) {
        snprintf(err, errcap, "out of memory for the initial catalog");
        rc = -1;
    }
    sl_appstate_free(a);
    return rc == 0 ? 0 : -1;
}

int sl_sim_runtime_new(sl_world *w, const sl_sim_scenario *sc, uint64_t seed, int max_nodes,
                       const sl_sim_rt_observer *obs, sl_sim_runtime **out, char *err,
                       size_t errcap)
{
    *out = NULL;
    sl_sim_runtime *rt = calloc(1, sizeof *rt);
    if (rt) {
        rt->nodes = calloc((size_t)max_nodes, sizeof *rt->nodes);
        rt->inc = sl_placement_cache_new();
    }
    if (!rt || !rt->nodes || !rt->inc) {
        if (rt) {
            free(rt->nodes);
            sl_placement_cache_free(rt->inc);
        }
        free(rt);
        snprintf(err, errcap, "out of memory for the runtime of %d nodes", max_nodes);
        return -1;
    }
    rt->w = w;
    rt->sc = sc;
    rt->seed = seed;
    rt->max_nodes = max_nodes;
    if (obs)
        rt->obs = *obs;
    size_t records = sc->nservices + sc->nactions + 16;
    rt->max_records = records > SL_CATALOG_SERVICES_MAX ? (uint32_t)records : 0;
    for (int i = 0; i < max_nodes; i++) {
        rt->nodes[i].rt = rt;
        rt->nodes[i].index = i;
    }
    if (initial_catalog(rt, err, errcap) != 0) {
        sl_sim_runtime_free(rt);
        return -1;
    }
    sl_world_app app = {.boot = on_boot,
                        .crash = on_crash,
                        .user_msg = on_user_msg,
                        .user_state = on_user_state,
                        .user_merge = on_user_merge,
                        .event = on_event,
                        .tick = on_tick,
                        .deadline = on_deadline,
                        .ud = rt};
    sl_world_set_app(w, &app);
    *out = rt;
    return 0;
}

void sl_sim_runtime_free(sl_sim_runtime *rt)
{
    if (!rt)
        return;
    for (int i = 0; i < rt->max_nodes; i++) {
        vnode *v = &rt->nodes[i];
        sl_vsup_free(v->sup);
        sl_appstate_free(v->app);
        sl_reconciler_free(v->rc);
        free(v->disk);
    }
    for (int i = 0; i < CACHE_SLOTS; i++)
        sl_placement_free(rt->cache[i].p);
    sl_placement_cache_free(rt->inc);
    free(rt->nodes);
    free(rt->initial);
    free(rt->failing);
    free(rt->sick);
    free(rt);
}
