/* Reconcile: from this node's view to the replicas it runs.
 *
 * Every peer computes the same placement from the same view (placement/ is a
 * pure function), so no one needs to be told what to run: on any change of
 * the members or the catalog, each node recomputes and converges on its own.
 * Changes are debounced (debounce_ms), so a member that flaps does not make
 * replicas move back and forth.
 *
 * Members: see placement_view.h (alive and suspect ones count, draining ones
 * get nothing new, capacity comes from the metadata, and a member with
 * invalid metadata is left out rather than stopping placement for all).
 *
 * Converging: a replica placed here that does not run is started. A replica
 * that runs here but is placed elsewhere is handed off, make before break:
 * we keep it until its new owner reports that replica running, or until
 * handoff_ms has passed (the successor may be unable to start it), and only
 * then stop it. So a rebalance never drops a service below its count. A
 * replica of a deleted service, or beyond the new replica count, has no
 * successor and stops at once; one that cannot be placed anywhere keeps
 * running here (better than nothing). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "placement_view.h"
#include "runtime_internal.h"
#include "starling/error.h"
#include "starling/meta.h"
#include "starling/placement.h"

typedef struct view {
    sl__placement_view members; /* pm, meta, n, self */
    sl_placement_member *pm;    /* = members.pm */
    size_t n;
    int self;
    const sl_service **svc;
    sl_placement_service *ps;
    size_t nsvc;
} view;

static void view_free(view *v)
{
    sl__placement_view_free(&v->members);
    free(v->svc);
    free(v->ps);
}

/* The members placement sees; members with invalid metadata are left out,
 * counted, and named in the log when their number changes. */
static int build_members(sl__runtime *rt, view *v)
{
    int rc = sl__placement_view_build(rt->swim, &v->members);
    v->pm = v->members.pm;
    v->n = v->members.n;
    v->self = v->members.self;
    if (rc == 0 && v->members.invalid != rt->invalid_members) {
        if (v->members.invalid)
            sl__warn("%zu live member%s left out of placement for invalid metadata (e.g. %s)",
                     v->members.invalid, v->members.invalid == 1 ? "" : "s",
                     v->members.first_invalid);
        rt->invalid_members = v->members.invalid;
    }
    return rc;
}

static int build_services(sl__runtime *rt, view *v)
{
    size_t n = sl_catalog_size(rt->cat);
    v->svc = calloc(n ? n : 1, sizeof *v->svc);
    v->ps = calloc(n ? n : 1, sizeof *v->ps);
    if (!v->svc || !v->ps)
        return SL_ENOMEM;
    uint64_t wall = sl__wall_ms();
    for (size_t i = 0; i < n; i++) {
        const sl_service *s = sl_catalog_at(rt->cat, i);
        if (s->deleted || !sl_catalog_believed(rt->cat, s, wall))
            continue; /* deleted, or maybe deleted while we were away */
        v->svc[v->nsvc] = s;
        v->ps[v->nsvc] = (sl_placement_service){
            s->name, s->replicas, s->cpu_milli, s->mem_mb,
            s->spread == SL_SPREAD_NODES ? SL_PLACEMENT_SPREAD_NODE : SL_PLACEMENT_SPREAD_ZONE};
        v->nsvc++;
    }
    return 0;
}

static size_t find_service(const view *v, const char *name)
{
    for (size_t i = 0; i < v->nsvc; i++)
        if (!strcmp(v->svc[i]->name, name))
            return i;
    return SIZE_MAX;
}

static sl__handoff *handoff_find(sl__runtime *rt, const char *service, uint32_t replica)
{
    for (size_t i = 0; i < rt->nho; i++)
        if (rt->ho[i].replica == replica && !strcmp(rt->ho[i].service, service))
            return &rt->ho[i];
    return NULL;
}

static void handoff_forget(sl__runtime *rt, const char *service, uint32_t replica)
{
    sl__handoff *h = handoff_find(rt, service, replica);
    if (h)
        *h = rt->ho[--rt->nho];
}

/* Makes room for one more element in a growable array of n elements of
 * `size` bytes (*arr, capacity *cap), doubling it. Returns 0 or -1. */
static int room_for_one(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t grown = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, grown * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = grown;
    return 0;
}

static sl__handoff *handoff_begin(sl__runtime *rt, const char *service, uint32_t replica,
                                  const char *successor, uint64_t now)
{
    sl__handoff *h = handoff_find(rt, service, replica);
    if (h)
        return h;
    if (room_for_one((void **)&rt->ho, &rt->ho_cap, rt->nho, sizeof *rt->ho) != 0)
        return NULL;
    h = &rt->ho[rt->nho++];
    memset(h, 0, sizeof *h);
    snprintf(h->service, sizeof h->service, "%s", service);
    h->replica = replica;
    h->since_ms = now;
    sl__info("replica %s/%u now belongs to %s: keeping it until %s runs it", service, replica,
             successor, successor);
    return h;
}

static bool successor_runs(sl__runtime *rt, const char *service, uint32_t replica,
                           const char *successor)
{
    const sl_report *r = sl_reports_find(rt->rep, successor, service);
    for (uint32_t i = 0; r && i < r->n; i++)
        if (r->replicas[i].replica == replica && r->replicas[i].status == SL_REPLICA_RUNNING)
            return true;
    return false;
}

/* Returns true when replica `replica` of service may stop here now: its
 * successor has reported it running for SL__HANDOFF_LINGER_MS, or handoff_ms
 * has passed without that. */
static bool may_give_up(sl__runtime *rt, const char *service, uint32_t replica,
                        const char *successor, uint64_t now)
{
    sl__handoff *h = handoff_begin(rt, service, replica, successor, now);
    if (!h)
        return true;
    if (!h->successor_running_ms && successor_runs(rt, service, replica, successor))
        h->successor_running_ms = now;
    if (h->successor_running_ms && now - h->successor_running_ms >= SL__HANDOFF_LINGER_MS)
        return true;
    if (now - h->since_ms >= rt->cfg.handoff_ms) {
        sl__warn("replica %s/%u: %s did not report it running within %u ms; stopping it here",
                 service, replica, successor, rt->cfg.handoff_ms);
        return true;
    }
    return false;
}

/* Stops or keeps each local replica that the placement does not give us. */
static void give_up_foreign(sl__runtime *rt, const view *v, const sl_placement *p, uint64_t now)
{
    sl__local_replica *local;
    size_t n = sl__runtime_local(rt, &local);
    for (size_t i = 0; i < n; i++) {
        sl__local_replica info = local[i];
        if (info.status == SL_REPLICA_STOPPING)
            continue;
        size_t s = find_service(v, info.service);
        int32_t owner = s == SIZE_MAX || info.replica >= v->svc[s]->replicas
                            ? -2 /* deleted or scaled down: nobody */
                            : sl_placement_node(p, s, info.replica);
        if (owner >= 0 && owner == v->self) {
            handoff_forget(rt, info.service, info.replica);
            continue;
        }
        if (owner == -1) /* unplaceable: keep what we have */
            continue;
        if (owner >= 0 && !may_give_up(rt, info.service, info.replica, v->pm[owner].name, now))
            continue;
        handoff_forget(rt, info.service, info.replica);
        sl__supervisor_stop(rt->sup, info.service, info.replica);
    }
    free(local);
}

static uint64_t spec_hash(const sl_service *svc)
{
    uint64_t h = 0xcbf29ce484222325ull;
    char *const *lists[] = {svc->argv, svc->env};
    uint32_t counts[] = {svc->argc, svc->envc};
    for (int l = 0; l < 2; l++) {
        for (uint32_t i = 0; i < counts[l]; i++)
            for (const char *c = lists[l][i];; c++) {
                h = (h ^ (uint8_t)*c) * 0x100000001b3ull; /* the NUL separates */
                if (!*c)
                    break;
            }
        h = (h ^ 0xff) * 0x100000001b3ull;
    }
    return h;
}

static sl__started *started_find(sl__runtime *rt, const char *service, uint32_t replica)
{
    for (size_t i = 0; i < rt->nstarted; i++)
        if (rt->started[i].replica == replica && !strcmp(rt->started[i].service, service))
            return &rt->started[i];
    return NULL;
}

void sl__reconcile_forget(sl__runtime *rt, const char *service, uint32_t replica)
{
    sl__started *e = started_find(rt, service, replica);
    if (e)
        *e = rt->started[--rt->nstarted];
}

/* Starts replica r of svc here, or restarts it when the service's command or
 * environment changed since it was started (all of a service's replicas at
 * once: there is no rolling update yet). */
static void start_one(sl__runtime *rt, const sl_service *svc, uint32_t r)
{
    uint64_t h = spec_hash(svc);
    sl__started *e = started_find(rt, svc->name, r);
    if (e && e->spec_hash != h) {
        sl__info("replica %s/%u: the service's command or environment changed; restarting it",
                 svc->name, r);
        sl__supervisor_stop(rt->sup, svc->name, r); /* start below runs it again */
    }
    if (!e) {
        if (room_for_one((void **)&rt->started, &rt->started_cap, rt->nstarted,
                         sizeof *rt->started) != 0)
            return;
        e = &rt->started[rt->nstarted++];
        snprintf(e->service, sizeof e->service, "%s", svc->name);
        e->replica = r;
    }
    e->spec_hash = h;
    sl__supervisor_start(rt->sup, svc->name, r, svc->argv, svc->argc, svc->env, svc->envc);
}

/* Starts every replica placed here that does not run yet (or runs an older
 * command). */
static void start_owned(sl__runtime *rt, const view *v, const sl_placement *p)
{
    for (size_t s = 0; s < v->nsvc && v->self >= 0; s++)
        for (uint32_t r = 0; r < v->svc[s]->replicas; r++)
            if (sl_placement_node(p, s, r) == v->self)
                start_one(rt, v->svc[s], r);
}

static void on_reconcile_timer(uv_timer_t *t)
{
    sl__reconcile(t->data);
}

void sl__reconcile(sl__runtime *rt)
{
    if (!rt->swim || rt->closing)
        return;
    view v = {0};
    sl_placement *p = NULL;
    int rc = build_members(rt, &v);
    if (rc == 0)
        rc = build_services(rt, &v);
    if (rc == 0)
        rc = sl_placement_compute(v.pm, v.n, v.ps, v.nsvc, NULL, &p);
    if (rc != 0) {
        sl__error("cannot compute the placement: %s", sl_strerror(rc));
        view_free(&v);
        return;
    }
    uint64_t now = sl__runtime_now(rt);
    start_owned(rt, &v, p);
    give_up_foreign(rt, &v, p, now);
    /* Hand-offs in flight are re-checked when reports arrive; also poll, in
     * case the successor never reports. */
    if (rt->nho)
        uv_timer_start(&rt->reconcile_timer, on_reconcile_timer, 1000, 0);
    sl_placement_free(p);
    view_free(&v);
}

void sl__reconcile_soon(sl__runtime *rt)
{
    if (rt->closing)
        return;
    uv_timer_start(&rt->reconcile_timer, on_reconcile_timer, rt->cfg.debounce_ms, 0);
}
