/* The runtime's driver: the agent's I/O around the sans-IO runtime core.
 *
 * Every decision lives in the core: gossip/appstate.c (catalog and reports,
 * what a message or a push-pull does, local writes, the debounce of
 * reconciling and saving, housekeeping, the view placement reads) and
 * placement/reconcile.c (from that view to start / restart / stop actions,
 * make-before-break hand-offs). This file only performs: one libuv timer at
 * the core's deadline, the snapshot written to and read from DATA_DIR/catalog,
 * the replica supervisor (supervisor.c) that runs the actions, and the log.
 * The simulator (sim/) drives the same core with virtual replicas. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/catalog_file.h"
#include "agent/log.h"
#include "runtime/runtime.h"
#include "starling/appstate.h"
#include "starling/error.h"
#include "starling/reconcile.h"

struct sl__runtime {
    uv_loop_t *loop;
    sl_swim *swim;
    char *node, *host, *data_dir, *shim;
    sl__runtime_config cfg; /* strings point at the copies above */
    sl_appstate *app;
    sl_reconciler *rc;
    sl__supervisor *sup;
    sl__cgroup cgroup; /* what cgroups replicas get; probed once at start */
    uv_timer_t timer;  /* at the core's deadline */
    uint64_t timer_at;
    int open_handles;
    size_t halted_logged; /* rollouts seen halted at the last step (logged once) */
    bool closing;
    void (*close_done)(void *ud);
    void *close_ud;
};

static uint64_t now_of(const sl__runtime *rt)
{
    return uv_now(rt->loop);
}

/* The wall clock in ms since the epoch (0 when it cannot be read: catalog
 * stamps are then plain Lamport times and no time check is made). */
static uint64_t wall_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_log(void *ud, sl_app_level level, const char *msg)
{
    (void)ud;
    if (level == SL_APP_ERROR)
        sl__error("%s", msg);
    else if (level == SL_APP_WARN)
        sl__warn("%s", msg);
    else
        sl__info("%s", msg);
}

/* ---- the timer ---- */

static void on_timer(uv_timer_t *t);

/* Sets the timer to the core's deadline. Called after every call into the
 * core that may have moved it. */
static void arm(sl__runtime *rt)
{
    if (rt->closing)
        return;
    uint64_t at = sl_appstate_deadline(rt->app);
    if (at == rt->timer_at && uv_is_active((uv_handle_t *)&rt->timer))
        return;
    rt->timer_at = at;
    if (at == UINT64_MAX) {
        uv_timer_stop(&rt->timer);
        return;
    }
    uint64_t now = now_of(rt);
    uv_timer_start(&rt->timer, on_timer, at > now ? at - now : 0, 0);
}

static void save_now(sl__runtime *rt)
{
    if (!rt->data_dir)
        return;
    uint8_t *buf;
    size_t len;
    uint64_t wall = wall_ms();
    int rc = sl_appstate_snapshot(rt->app, wall, &buf, &len);
    if (rc == 0) {
        rc = sl__catalog_file_write(rt->data_dir, buf, len);
        free(buf);
    }
    if (rc != 0)
        sl__error("cannot save the catalog in %s: %s", rt->data_dir, sl_strerror(rc));
    else
        sl_appstate_saved(rt->app, now_of(rt));
}

static void reconcile(sl__runtime *rt);

static void on_timer(uv_timer_t *t)
{
    sl__runtime *rt = t->data;
    rt->timer_at = UINT64_MAX;
    unsigned todo = sl_appstate_tick(rt->app, now_of(rt), wall_ms());
    if (todo & SL_APP_DO_SAVE)
        save_now(rt);
    if (todo & SL_APP_DO_RECONCILE)
        reconcile(rt);
    arm(rt);
}

/* ---- reconcile: the core decides, the supervisor performs ---- */

static void collect_local(void *ud, const sl__replica_info *r)
{
    sl_rc_locals_add(ud, r->service, r->replica, r->status);
}

static void perform(sl__runtime *rt, const sl_rc_action *x)
{
    const sl_service *s = x->svc;
    switch (x->kind) {
    case SL_RC_RESTART:
        sl__info("replica %s/%u: the service's spec changed; restarting it with the new one",
                 x->service, x->replica);
        sl__supervisor_stop(rt->sup, x->service, x->replica); /* start below runs it again */
        /* fall through */
    case SL_RC_START:
        if (sl__supervisor_start_as(rt->sup, s->name, x->replica, s->argv, s->argc, s->env, s->envc,
                                    s->user, (uint32_t)sl_service_spec_hash(s)) == 0)
            sl__supervisor_set_check(rt->sup, s->name, x->replica, &s->check);
        break;
    case SL_RC_REVERT: {
        char err[384];
        sl__warn("service %s: replica %u of its new version did not become healthy within %u s "
                 "(--progress-deadline); reverting to the previous version (--auto-revert)",
                 x->service, x->replica, sl_rollout_deadline_ms(&s->rollout) / 1000);
        int rc = sl_appstate_revert(rt->app, s, now_of(rt), wall_ms(), err, sizeof err);
        if (rc == SL_ESTALE)
            sl__info("service %s: %s", x->service, err);
        else if (rc != 0)
            sl__error("cannot revert %s: %s", x->service, err);
        break;
    }
    case SL_RC_STOP:
        if (x->why == SL_RC_STOP_TIMEOUT)
            sl__warn("replica %s/%u: %s did not report it running within %u ms; stopping it here",
                     x->service, x->replica, x->successor, rt->cfg.handoff_ms);
        sl__supervisor_stop(rt->sup, x->service, x->replica);
        break;
    }
}

static void reconcile(sl__runtime *rt)
{
    if (!rt->swim || rt->closing)
        return;
    sl_app_view v;
    sl_rc_locals local;
    int rc = sl_appstate_build_view(rt->app, rt->swim, wall_ms(), &v);
    if (rc == 0)
        rc = sl_rc_locals_init(&local, sl__supervisor_count(rt->sup));
    else
        memset(&local, 0, sizeof local);
    sl_reconcile_result res;
    if (rc == 0) {
        sl__supervisor_foreach(rt->sup, collect_local, &local);
        sl_reconcile_input in = {.members = v.pm,
                                 .nmembers = v.n,
                                 .self = v.self,
                                 .svc = v.svc,
                                 .ps = v.ps,
                                 .nsvc = v.nsvc,
                                 .local = local.a,
                                 .nlocal = local.n,
                                 .runs = sl_appstate_runs,
                                 .runs_ud = rt->app,
                                 .trying = sl_appstate_trying,
                                 .trying_ud = rt->app,
                                 .replica = sl_appstate_replica,
                                 .replica_ud = rt->app,
                                 .now_ms = now_of(rt)};
        rc = sl_reconcile(rt->rc, &in, &res);
    }
    if (rc != 0) {
        uint32_t retry = sl_appstate_reconcile_failed(rt->app, now_of(rt));
        sl__error("cannot compute the placement: %s; trying again in %u ms", sl_strerror(rc),
                  retry);
    } else {
        if (res.handoffs_begun)
            sl__info("replica %s/%u now belongs to %s: keeping it until %s runs it%s",
                     res.first_begun_service, res.first_begun_replica, res.first_begun_successor,
                     res.first_begun_successor,
                     res.handoffs_begun > 1 ? " (and more hand-offs began)" : "");
        if (res.rollouts_halted != rt->halted_logged && res.rollouts_halted)
            sl__warn("the rollout of %s halted: its replica %u here is not healthy within the "
                     "progress deadline; see `starling rollout %s`",
                     res.first_halted_service, res.first_halted_replica,
                     res.first_halted_service);
        rt->halted_logged = res.rollouts_halted;
        for (size_t i = 0; i < res.n; i++)
            perform(rt, &res.actions[i]);
        sl_appstate_reconciled(rt->app, res.handoffs, res.next_ms);
    }
    sl_rc_locals_free(&local);
    sl_app_view_free(&v);
}

/* ---- reports ---- */

/* One service's replicas as the supervisor holds them, for its report. More
 * than a report carries are collected, so that the core counts the excess. */
typedef struct service_replicas {
    const char *service;
    sl_replica_report rep[2 * SL_REPORT_REPLICAS_MAX];
    uint32_t n;
} service_replicas;

static void collect_service(void *ud, const sl__replica_info *r)
{
    service_replicas *c = ud;
    if (!strcmp(r->service, c->service) && c->n < sizeof c->rep / sizeof c->rep[0])
        c->rep[c->n++] = sl__supervisor_report_of(r);
}

static void publish(sl__runtime *rt, const char *service)
{
    service_replicas c = {.service = service};
    if (rt->sup)
        sl__supervisor_foreach(rt->sup, collect_service, &c);
    sl_appstate_publish(rt->app, service, c.rep, c.n);
    arm(rt);
}

static void collect(void *ud, const sl__replica_info *r)
{
    struct collector {
        sl__local_replica *a;
        size_t n, cap;
    } *c = ud;
    if (c->n == c->cap)
        return;
    sl__local_replica *x = &c->a[c->n++];
    snprintf(x->service, sizeof x->service, "%s", r->service);
    x->replica = r->replica;
    x->status = r->status;
    x->port = r->port;
    x->restarts = r->restarts;
    x->pid = r->pid;
    x->version = r->version;
}

size_t sl__runtime_local(const sl__runtime *rt, sl__local_replica **out)
{
    struct collector {
        sl__local_replica *a;
        size_t n, cap;
    } c = {NULL, 0, rt->sup ? sl__supervisor_count(rt->sup) : 0};
    c.a = calloc(c.cap ? c.cap : 1, sizeof *c.a);
    if (c.a && rt->sup)
        sl__supervisor_foreach(rt->sup, collect, &c);
    else
        c.n = 0;
    *out = c.a;
    return c.n;
}

static void on_replica_change(void *ud, const sl__replica_info *r)
{
    sl__runtime *rt = ud;
    if (r->status == SL_REPLICA_FAILED || r->status == SL_REPLICA_OOM)
        sl__warn("replica %s/%u %s (exit %lld, signal %d, restarts %u, OOM kills %u)", r->service,
                 r->replica, r->status == SL_REPLICA_OOM ? "was OOM-killed" : "failed",
                 (long long)r->exit_status, r->term_signal, r->restarts, r->oom_kills);
    else
        sl__info("replica %s/%u %s on port %u", r->service, r->replica,
                 sl_replica_status_name(r->status), r->port);
    if (sl_appstate_replica_status(rt->app, r->service, r->replica, r->status, now_of(rt))) {
        char service[SL_SVC_NAME_MAX + 1];
        snprintf(service, sizeof service, "%s", r->service);
        /* Given up: FAILED has no process, so it is removed at once, and the
         * removal publishes the report that says so. */
        sl__supervisor_stop(rt->sup, service, r->replica);
        arm(rt);
        return;
    }
    publish(rt, r->service);
}

/* The supervisor asks, at every spawn, for the limits of the service. */
static void replica_limits(void *ud, const char *service, uint32_t *cpu_milli, uint32_t *mem_mb)
{
    const sl__runtime *rt = ud;
    const sl_service *s = sl_catalog_find(sl__runtime_catalog(rt), service);
    *cpu_milli = s ? s->cpu_milli : 0;
    *mem_mb = s ? s->mem_mb : 0;
}

static void on_replica_removed(void *ud, const sl__replica_info *r)
{
    sl__runtime *rt = ud;
    sl__info("replica %s/%u stopped", r->service, r->replica);
    sl_reconciler_forget(rt->rc, r->service, r->replica);
    sl_appstate_replica_gone(rt->app, r->service, r->replica);
    char service[SL_SVC_NAME_MAX + 1];
    snprintf(service, sizeof service, "%s", r->service);
    publish(rt, service);
}

/* ---- the core's application callbacks ---- */

int sl__runtime_user_msg(sl__runtime *rt, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    (void)now_ms; /* the core's clock; the runtime's is the loop's */
    int rc = sl_appstate_user_msg(rt->app, buf, len, now_of(rt), wall_ms());
    arm(rt);
    return rc;
}

int sl__runtime_user_state(sl__runtime *rt, uint8_t **out, size_t *len)
{
    return sl_appstate_user_state(rt->app, out, len);
}

int sl__runtime_user_merge(sl__runtime *rt, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    (void)now_ms;
    int rc = sl_appstate_user_merge(rt->app, buf, len, now_of(rt), wall_ms());
    arm(rt);
    return rc;
}

void sl__runtime_member_event(sl__runtime *rt, const sl_swim_event *ev)
{
    sl_appstate_member_event(rt->app, ev, now_of(rt));
    arm(rt);
}

/* ---- operations ---- */

int sl__runtime_deploy(sl__runtime *rt, const sl_service *spec, char *err, size_t errcap)
{
    int rc = sl_appstate_deploy(rt->app, spec, now_of(rt), wall_ms(), err, errcap);
    arm(rt);
    return rc;
}

int sl__runtime_scale(sl__runtime *rt, const char *name, uint32_t replicas, char *err,
                      size_t errcap)
{
    int rc = sl_appstate_scale(rt->app, name, replicas, now_of(rt), wall_ms(), err, errcap);
    arm(rt);
    return rc;
}

int sl__runtime_rollback(sl__runtime *rt, const char *name, char *err, size_t errcap)
{
    int rc = sl_appstate_rollback(rt->app, name, now_of(rt), wall_ms(), err, errcap);
    arm(rt);
    return rc;
}

int sl__runtime_remove(sl__runtime *rt, const char *name, char *err, size_t errcap)
{
    int rc = sl_appstate_remove(rt->app, name, now_of(rt), wall_ms(), err, errcap);
    arm(rt);
    return rc;
}

int sl__runtime_write(sl__runtime *rt, const uint8_t *rec, size_t len, char *err, size_t errcap)
{
    int rc = sl_appstate_write(rt->app, rec, len, now_of(rt), wall_ms(), err, errcap);
    arm(rt);
    return rc;
}

int sl__runtime_drain(sl__runtime *rt, char *err, size_t errcap)
{
    int rc = sl_appstate_drain(rt->app, now_of(rt), err, errcap);
    arm(rt);
    return rc;
}

const sl__cgroup *sl__runtime_cgroup(const sl__runtime *rt)
{
    return &rt->cgroup;
}

const sl_catalog *sl__runtime_catalog(const sl__runtime *rt)
{
    return sl_appstate_catalog(rt->app);
}

uint64_t sl__runtime_reports_refused(const sl__runtime *rt)
{
    return sl_appstate_stats(rt->app)->reports_refused;
}

void sl__runtime_gc_counts(const sl__runtime *rt, uint64_t *runs, uint64_t *collected)
{
    const sl_app_stats *st = sl_appstate_stats(rt->app);
    *runs = st->gc_runs;
    *collected = st->tombstones_collected;
}

const sl_reports *sl__runtime_reports(const sl__runtime *rt)
{
    return sl_appstate_reports(rt->app);
}

/* ---- lifecycle ---- */

/* Reads DIR/catalog into the core. A corrupt file is moved aside (the peers
 * refill the catalog); a file that cannot be read stops the start. */
static int load_catalog(sl__runtime *rt)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char aside[4200];
    uint64_t wall = wall_ms();
    int rc = sl__catalog_file_read(rt->data_dir, rt->cfg.max_catalog_bytes, &buf, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc == SL_ETOOBIG) {
        sl__catalog_file_move_aside(rt->data_dir, wall, aside, sizeof aside);
        sl__error("the catalog file %s/%s is corrupt (larger than the largest catalog accepted): "
                  "moved it to %s; starting with an empty catalog, to be refilled from the peers",
                  rt->data_dir, SL__CATALOG_FILE, aside);
        return 0;
    }
    if (rc != 0) {
        sl__error("cannot read the catalog in %s/%s: %s", rt->data_dir, SL__CATALOG_FILE,
                  sl_strerror(rc));
        return rc;
    }
    sl_app_restore info;
    rc = sl_appstate_restore(rt->app, buf, len, wall, &info);
    free(buf);
    if (rc != 0) {
        sl__catalog_file_move_aside(rt->data_dir, wall, aside, sizeof aside);
        sl__error("the catalog file %s/%s is corrupt (it does not decode as a catalog): moved it "
                  "to %s; starting with an empty catalog, to be refilled from the peers",
                  rt->data_dir, SL__CATALOG_FILE, aside);
        return 0;
    }
    if (info.refused)
        sl__warn("%llu records of the saved catalog were not loaded: unsigned or not signed by "
                 "a trusted operator key, or stamped in the future",
                 (unsigned long long)info.refused);
    sl__info("loaded %zu catalog records from %s/%s%s", info.records, rt->data_dir,
             SL__CATALOG_FILE,
             info.old ? " saved longer ago than the tombstone horizon: its old records wait for "
                        "a current peer to confirm them"
                      : "");
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int sl__runtime_new(uv_loop_t *loop, const sl__runtime_config *cfg, sl__runtime **out)
{
    sl__runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return SL_ENOMEM;
    rt->loop = loop;
    rt->cfg = *cfg;
    rt->node = dup_or_null(cfg->node);
    rt->host = dup_or_null(cfg->host);
    rt->data_dir = dup_or_null(cfg->data_dir);
    rt->shim = dup_or_null(cfg->shim);
    rt->rc = sl_reconciler_new(cfg->handoff_ms);
    int rc = rt->rc && rt->node && rt->host && rt->shim ? 0 : SL_ENOMEM;
    sl_appstate_config ac = {.node = cfg->node,
                             .generation = cfg->generation,
                             .debounce_ms = cfg->debounce_ms,
                             .persist = cfg->data_dir != NULL,
                             .pol = {.trusted = cfg->operator_keys,
                                     .ntrusted = cfg->noperator_keys,
                                     .cluster = cfg->cluster,
                                     .skew_ms = cfg->skew_ms,
                                     .horizon_ms = cfg->horizon_ms,
                                     .max_records = cfg->max_services},
                             .sync_grace_ms = cfg->sync_grace_ms,
                             .alone = cfg->alone,
                             .log = on_log,
                             .now_ms = uv_now(loop)};
    if (rc == 0)
        rc = sl_appstate_new(&ac, &rt->app);
    if (rc == 0 && rt->data_dir)
        rc = load_catalog(rt);
    /* Replica logs live in STATE_DIR/logs: the data dir, or the agent's
     * private directory (mode 0700) without one. */
    char logs[4096];
    snprintf(logs, sizeof logs, "%s/logs", cfg->state_dir);
    sl__supervisor_config sc = {.node = rt->node,
                                .host = rt->host,
                                .log_dir = logs,
                                .shim = rt->shim,
                                .grace_ms = cfg->grace_ms,
                                .log_max = cfg->log_max,
                                .on_change = on_replica_change,
                                .on_removed = on_replica_removed,
                                .cgroup = &rt->cgroup,
                                .limits = replica_limits,
                                .ud = rt};
    if (rc == 0) { /* said once, here; `starling info` shows it too */
        sl__cgroup_probe(&(sl__cgroup_config){.disabled = cfg->no_cgroups}, &rt->cgroup);
        if (rt->cgroup.mode == SL__CGROUP_LIMITS)
            sl__info("limits: %s", rt->cgroup.why);
        else
            sl__warn("limits: %s: --cpu and --mem are not enforced", rt->cgroup.why);
    }
    int err = 0;
    if (rc == 0 && !(rt->sup = sl__supervisor_new(loop, &sc, &err))) {
        sl__error("cannot start the replica supervisor (logs in %s): %s", logs, uv_strerror(err));
        rc = SL_ESTATE;
    }
    if (rc != 0) {
        sl__runtime_free(rt);
        return rc;
    }
    uv_timer_init(loop, &rt->timer);
    rt->timer.data = rt;
    rt->open_handles++;
    rt->timer_at = UINT64_MAX;
    arm(rt);
    *out = rt;
    return 0;
}

void sl__runtime_attach(sl__runtime *rt, sl_swim *swim)
{
    rt->swim = swim;
    sl_appstate_attach(rt->app, swim, now_of(rt));
    arm(rt);
}

static void maybe_done(sl__runtime *rt)
{
    if (rt->open_handles == 0 && rt->close_done)
        rt->close_done(rt->close_ud);
}

static void on_handle_closed(uv_handle_t *h)
{
    sl__runtime *rt = h->data;
    rt->open_handles--;
    maybe_done(rt);
}

static void on_supervisor_closed(void *ud)
{
    sl__runtime *rt = ud;
    rt->open_handles--;
    maybe_done(rt);
}

void sl__runtime_close(sl__runtime *rt, sl__supervisor_close_mode mode, void (*done)(void *ud),
                       void *ud)
{
    rt->closing = true;
    rt->close_done = done;
    rt->close_ud = ud;
    save_now(rt);
    uv_close((uv_handle_t *)&rt->timer, on_handle_closed);
    rt->open_handles++;
    sl__supervisor *sup = rt->sup;
    rt->sup = NULL; /* it frees itself */
    sl__supervisor_close(sup, mode, on_supervisor_closed, rt);
}

void sl__runtime_free(sl__runtime *rt)
{
    if (!rt)
        return;
    sl_appstate_free(rt->app);
    sl_reconciler_free(rt->rc);
    free(rt->node);
    free(rt->host);
    free(rt->data_dir);
    free(rt->shim);
    free(rt);
}
