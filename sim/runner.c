/* The runner: a scenario's timeline applied to a fake world.
 *
 * Time advances in steps of one simulated second, so that the time series
 * gets one row per second; actions scheduled inside a second are applied at
 * their exact millisecond (the world runs every event up to and including
 * that time first). Joins and restarts pick their seed node with the run's
 * own generator, derived from the scenario seed, never from the world's, so
 * that the choice does not disturb the network's random stream.
 *
 * The tracker is told about a node before the world is, so that the events a
 * new or restarted node reports while joining are already counted.
 *
 * With the runtime on (sim/runtime.h), the services tracker (sim/services.h)
 * is told the same truth (nodes up and down, drains, sides of a partition),
 * every action is bracketed by sl_sim_svc_action_begin/end so that what the
 * action itself lost is measured, and writes go through the runtime on the
 * node the scenario names; an acknowledged write is handed to the tracker. */
#include "runner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/meta.h"
#include "starling/rng.h"

typedef struct ctx {
    sl_sim_run *r;
    sl_sim_hooks hooks;
    sl_rng rng;
    int next_node; /* the next free name for a join */
    int *live;     /* scratch for picking a random live node */
    uint64_t last_ms;
} ctx;

/* Picks a random live node other than `not`, or -1 when there is none. */
static int random_live(ctx *c, int not )
{
    int n = 0;
    for (int i = 0; i < c->next_node; i++)
        if (i != not &&sl_sim_track_is_live(c->r->track, i))
            c->live[n++] = i;
    return n ? c->live[sl_rng_below(&c->rng, (uint64_t)n)] : -1;
}

/* Adds node i (named "n<i>") to the world, joining through seed. */
static int add_node(ctx *c, int seed, char *err, size_t errcap)
{
    sl_sim_run *r = c->r;
    int i = c->next_node++;
    char name[24];
    snprintf(name, sizeof name, "n%d", i);
    uint8_t meta[128];
    int meta_len = 0;
    if (r->sc->zones > 0) {
        sl_meta m = {0};
        snprintf(m.zone, sizeof m.zone, "z%d", i % r->sc->zones);
        meta_len = sl_meta_encode(&m, meta, sizeof meta);
        if (meta_len < 0)
            meta_len = 0;
    }
    sl_sim_track_up(r->track, i, sl_world_now(r->w));
    if (r->svc)
        sl_sim_svc_up(r->svc, i, sl_world_now(r->w));
    int idx = sl_world_add_node(r->w, name, meta, (size_t)meta_len, seed);
    if (idx != i) {
        snprintf(err, errcap, "cannot add node %s: %s", name, sl_strerror(idx < 0 ? idx : 0));
        return -1;
    }
    return 0;
}

/* Applies fn to every node of a set, counting the nodes it refused. */
static void apply_nodes(ctx *c, const sl_sim_action *a)
{
    sl_sim_run *r = c->r;
    uint64_t now = a->at_ms;
    char why[128];
    for (size_t k = 0; k < a->nodes.n; k++)
        for (int i = a->nodes.r[k].lo; i <= a->nodes.r[k].hi; i++) {
            bool up = sl_world_is_up(r->w, i), live = sl_sim_track_is_live(r->track, i);
            switch (a->type) {
            case SL_SIM_CRASH:
                if (!up)
                    break;
                sl_world_crash(r->w, i);
                sl_sim_track_crash(r->track, i, now);
                if (r->svc)
                    sl_sim_svc_down(r->svc, i, now);
                continue;
            case SL_SIM_PAUSE:
                if (!up)
                    break;
                if (a->at_probe) { /* it starts within a probe interval */
                    sl_world_pause_at_probe(r->w, i, a->duration_ms, r->probe_interval_ms);
                    sl_sim_track_pause(r->track, i, now,
                                       now + r->probe_interval_ms + a->duration_ms);
                } else {
                    sl_world_pause(r->w, i, a->duration_ms);
                    sl_sim_track_pause(r->track, i, now, now + a->duration_ms);
                }
                continue;
            case SL_SIM_LEAVE:
                if (!live)
                    break;
                sl_sim_track_leave(r->track, i, now);
                if (r->rt) {
                    sl_sim_runtime_leave(r->rt, i);
                    sl_sim_svc_down(r->svc, i, now);
                }
                sl_world_leave(r->w, i);
                continue;
            case SL_SIM_DRAIN:
                if (!live || !r->rt)
                    break;
                if (sl_sim_runtime_drain(r->rt, i, why, sizeof why) != 0)
                    break;
                sl_sim_svc_drain(r->svc, i, now);
                continue;
            case SL_SIM_RESTART:
                if (r->svc) {
                    if (up) /* its replicas die with the old process */
                        sl_sim_svc_down(r->svc, i, now);
                    sl_sim_svc_up(r->svc, i, now);
                }
                sl_sim_track_up(r->track, i, now);
                sl_world_restart(r->w, i, r->sc->nseeds ? -1 : random_live(c, i));
                continue;
            case SL_SIM_LOSS:
                sl_world_set_node_loss(r->w, i, a->loss);
                sl_sim_track_node_loss(r->track, i, a->loss, now);
                continue;
            default: continue;
            }
            r->skipped_actions++;
        }
}

/* A partition: every node gets its group's label (1, 2, ...), the rest 0. */
static int partition(ctx *c, const sl_sim_action *a, char *err, size_t errcap)
{
    int *group = calloc((size_t)c->next_node, sizeof *group);
    if (!group)
        goto oom;
    for (size_t g = 0; g < a->ngroups; g++)
        for (size_t k = 0; k < a->groups[g].n; k++)
            for (int i = a->groups[g].r[k].lo; i <= a->groups[g].r[k].hi; i++)
                group[i] = (int)g + 1;
    int rc = sl_world_partition(c->r->w, group, c->next_node);
    if (rc == 0 && c->r->svc)
        sl_sim_svc_sides(c->r->svc, group, c->next_node, a->at_ms);
    free(group);
    if (rc != 0)
        goto oom;
    sl_sim_track_cut(c->r->track, a, a->at_ms);
    return 0;
oom:
    snprintf(err, errcap, "out of memory for the partition of line %d", a->line);
    return -1;
}

static void cut_sets(sl_world *w, const sl_sim_set *from, const sl_sim_set *to)
{
    for (size_t x = 0; x < from->n; x++)
        for (int i = from->r[x].lo; i <= from->r[x].hi; i++)
            for (size_t y = 0; y < to->n; y++)
                for (int j = to->r[y].lo; j <= to->r[y].hi; j++) {
                    sl_world_set_cut(w, i, j, true);
                }
}

/* A write on node `via`: acknowledged ones go to the tracker, refused ones
 * are counted (the first one's reason kept). */
static void write_via(ctx *c, const sl_sim_action *a)
{
    sl_sim_run *r = c->r;
    uint64_t stamp = 0;
    char why[200];
    int rc;
    switch (a->type) {
    case SL_SIM_DEPLOY:
        rc = sl_sim_runtime_deploy(r->rt, a->via, a->service, a->replicas, a->version, &stamp, why,
                                   sizeof why);
        break;
    case SL_SIM_SCALE:
        rc = sl_sim_runtime_scale(r->rt, a->via, a->service, a->replicas, &stamp, why, sizeof why);
        break;
    default: rc = sl_sim_runtime_rm(r->rt, a->via, a->service, &stamp, why, sizeof why); break;
    }
    if (rc != 0) {
        if (!r->writes_refused++)
            snprintf(r->write_msg, sizeof r->write_msg, "line %d: %s %s via n%d: %s", a->line,
                     sl_sim_action_name(a->type), a->service, a->via, why);
        return;
    }
    sl_sim_svc_add_write(r->svc, a, a->service, a->replicas, a->type == SL_SIM_RM, stamp, a->at_ms);
    sl_sim_svc_catalog(r->svc, a->via, sl_sim_runtime_catalog(r->rt, a->via), a->at_ms);
}

static int apply_one(ctx *c, const sl_sim_action *a, char *err, size_t errcap)
{
    sl_sim_run *r = c->r;
    switch (a->type) {
    case SL_SIM_DEPLOY:
    case SL_SIM_SCALE:
    case SL_SIM_RM:
        if (r->rt)
            write_via(c, a);
        return 0;
    case SL_SIM_FAIL_START:
    case SL_SIM_FIX_START:
        if (r->rt && a->nodes.n == 0)
            sl_sim_runtime_fail_start(r->rt, a->service, -1, a->type == SL_SIM_FAIL_START);
        for (int n = 0; r->rt && n < r->sc->max_nodes && a->nodes.n; n++)
            if (sl_sim_set_has(&a->nodes, n))
                sl_sim_runtime_fail_start(r->rt, a->service, n, a->type == SL_SIM_FAIL_START);
        return 0;
    case SL_SIM_UNHEALTHY:
    case SL_SIM_HEALTHY:
        if (r->rt && a->nodes.n == 0)
            sl_sim_runtime_check_fail(r->rt, a->service, -1, a->type == SL_SIM_UNHEALTHY);
        for (int n = 0; r->rt && n < r->sc->max_nodes && a->nodes.n; n++)
            if (sl_sim_set_has(&a->nodes, n))
                sl_sim_runtime_check_fail(r->rt, a->service, n, a->type == SL_SIM_UNHEALTHY);
        return 0;
    case SL_SIM_PARTITION: return partition(c, a, err, errcap);
    case SL_SIM_CUT:
        cut_sets(r->w, &a->groups[0], &a->groups[1]);
        sl_sim_track_cut(r->track, a, a->at_ms);
        return 0;
    case SL_SIM_HEAL:
        sl_world_heal(r->w);
        sl_sim_track_heal(r->track, a->at_ms);
        if (r->svc)
            sl_sim_svc_sides(r->svc, NULL, 0, a->at_ms);
        return 0;
    case SL_SIM_JOIN:
        for (int k = 0; k < a->count; k++)
            if (add_node(c, r->sc->nseeds ? -1 : random_live(c, -1), err, errcap) != 0)
                return -1;
        return 0;
    default: apply_nodes(c, a); return 0;
    }
}

static int apply(ctx *c, const sl_sim_action *a, char *err, size_t errcap)
{
    if (c->r->svc)
        sl_sim_svc_action_begin(c->r->svc, a, a->at_ms);
    int rc = apply_one(c, a, err, errcap);
    if (c->r->svc)
        sl_sim_svc_action_end(c->r->svc, a, a->at_ms);
    return rc;
}

/* Runs the world to t, accounting live node-time on the way. */
static void advance(ctx *c, uint64_t t)
{
    sl_world_run_until(c->r->w, t);
    c->r->node_ms += (uint64_t)sl_sim_track_live(c->r->track) * (t - c->last_ms);
    c->last_ms = t;
}

static void sample(ctx *c, uint64_t t, uint64_t *packets, uint64_t *bytes)
{
    sl_sim_run *r = c->r;
    sl_sim_sample *s = &r->samples[r->nsamples++];
    s->t_s = (uint32_t)((t + 999) / 1000);
    sl_sim_track_views(r->track, &s->v);
    s->converged = sl_sim_track_converged_since(r->track) != SL_SIM_NEVER;
    s->packets = sl_world_packets_sent(r->w) - *packets;
    s->bytes = sl_world_bytes_sent(r->w) - *bytes;
    *packets += s->packets;
    *bytes += s->bytes;
    if (r->svc)
        sl_sim_svc_sample_now(r->svc, &s->svc);
    for (size_t i = 0; i < r->svc_series_ns; i++) {
        sl_sim_svc_info info;
        sl_sim_svc_info_get(r->svc, i, &info);
        r->svc_series[(r->nsamples - 1) * r->svc_series_ns + i] = (uint32_t)info.running;
    }
}

/* The world's event observer when tracing: write the line, then track. */
static void trace_event(void *ud, int node, uint64_t now_ms, const sl_swim_event *ev)
{
    ctx *c = ud;
    if (sl_sim_track_is_live(c->r->track, node)) {
        fprintf(c->hooks.trace, "%llu.%03llu n%d %s %s", (unsigned long long)(now_ms / 1000),
                (unsigned long long)(now_ms % 1000), node, sl_swim_event_name(ev->type), ev->name);
        if (ev->from && (ev->type == SL_EVENT_SUSPECT || ev->type == SL_EVENT_FAILED))
            fprintf(c->hooks.trace, " by %s", ev->from);
        fprintf(c->hooks.trace, " %u.%u\n", ev->inc.gen, ev->inc.ctr);
    }
    sl_sim_track_event(c->r->track, node, now_ms, ev);
}

static int timeline(ctx *c, char *err, size_t errcap)
{
    sl_sim_run *r = c->r;
    const sl_sim_scenario *sc = r->sc;
    size_t next = 0;
    uint64_t packets = 0, bytes = 0;
    for (int i = 0; i < sc->nodes; i++)
        if (add_node(c, i == 0 || sc->nseeds ? -1 : 0, err, errcap) != 0)
            return -1;
    for (uint64_t sec = 1; (sec - 1) * 1000 < sc->run_ms; sec++) {
        uint64_t end = sec * 1000 < sc->run_ms ? sec * 1000 : sc->run_ms;
        for (; next < sc->nactions && sc->actions[next].at_ms <= end; next++) {
            advance(c, sc->actions[next].at_ms);
            if (apply(c, &sc->actions[next], err, errcap) != 0)
                return -1;
        }
        advance(c, end);
        sample(c, end, &packets, &bytes);
        if (c->hooks.progress)
            c->hooks.progress(c->hooks.ud, r, end);
    }
    return 0;
}

static void svc_node_down(void *ud, int node, const sl_vsup *sup)
{
    sl_sim_svc_node_down(ud, node, sup);
}

static void svc_catalog(void *ud, int node, const sl_catalog *cat, uint64_t now_ms)
{
    sl_sim_svc_catalog(ud, node, cat, now_ms);
}

static const sl_catalog *catalog_of(const void *rt, int node)
{
    return sl_sim_runtime_catalog(rt, node);
}

/* The runtime and its tracker, installed before the first node. */
static int runtime_new(sl_sim_run *r, char *err, size_t errcap)
{
    r->svc = sl_sim_svc_new(r->sc, r->sc->max_nodes);
    if (!r->svc) {
        snprintf(err, errcap, "out of memory for the services of %d nodes", r->sc->max_nodes);
        return -1;
    }
    sl_sim_rt_observer obs = {.replica = sl_sim_svc_replica,
                              .node_down = svc_node_down,
                              .started = sl_sim_svc_started,
                              .catalog = svc_catalog,
                              .ud = r->svc};
    size_t ns = sl_sim_svc_count(r->svc);
    if (ns <= SL_SIM_SERIES_SERVICES_MAX) {
        r->svc_series = calloc((r->sc->run_ms / 1000 + 2) * ns + 1, sizeof *r->svc_series);
        if (!r->svc_series) {
            snprintf(err, errcap, "out of memory for the services' time series");
            return -1;
        }
        r->svc_series_ns = ns;
    }
    return sl_sim_runtime_new(r->w, r->sc, r->seed, r->sc->max_nodes, &obs, &r->rt, err, errcap);
}

/* How long after a cut or pause a dead declaration may still stem from it:
 * the longest suspicion timeout (see gossip/suspicion.c) plus two probes. */
static uint64_t grace_ms(const sl_swim_timing *t, int n)
{
    double lg = log10(n > 10 ? (double)n : 10.0);
    double max = (double)t->suspicion_max_mult * t->suspicion_mult * lg * t->probe_interval_ms;
    return (uint64_t)max + 2 * (uint64_t)t->probe_interval_ms;
}

int sl_sim_execute(const sl_sim_scenario *sc, uint64_t seed, const sl_sim_hooks *hooks,
                   sl_sim_run **out, char *err, size_t errcap)
{
    *out = NULL;
    sl_sim_run *r = calloc(1, sizeof *r);
    ctx c = {.r = r};
    if (hooks)
        c.hooks = *hooks;
    sl_world_config cfg = {.seed = seed,
                           .latency_us = sc->latency_us,
                           .jitter_us = sc->jitter_us,
                           .loss = sc->loss,
                           .sealed = sc->sealed,
                           .pp_reply_before_merge = sc->pp_reply_before_merge};
    if (!r || sl_swim_profile(sc->profile, &cfg.timing) != 0)
        goto oom;
    cfg.timing.plain_swim = sc->plain_swim;
    r->probe_interval_ms = cfg.timing.probe_interval_ms;
    r->sc = sc;
    r->seed = seed;
    r->samples = calloc(sc->run_ms / 1000 + 2, sizeof *r->samples);
    r->track = sl_sim_track_new(sc->max_nodes, grace_ms(&cfg.timing, sc->max_nodes));
    r->w = sl_world_new(&cfg);
    c.live = malloc((size_t)sc->max_nodes * sizeof *c.live);
    if (!r->samples || !r->track || !r->w || !c.live)
        goto oom;
    sl_rng_seed(&c.rng, sl_mix64(seed ^ 0x72756e6e6572ull));
    sl_world_seeds seeds = {.seeds = sc->seeds,
                            .nseeds = sc->nseeds,
                            .backoff_max_ms = sl_rejoin_backoff_max_ms(sc->profile),
                            .timeout_ms = strcmp(sc->profile, "local") ? 10000 : 3000};
    if (sc->nseeds && sl_world_set_seeds(r->w, &seeds) != 0)
        goto oom;
    if (sc->runtime && runtime_new(r, err, errcap) != 0) {
        free(c.live);
        sl_sim_run_free(r);
        return -1;
    }
    if (c.hooks.trace)
        sl_world_on_event(r->w, trace_event, &c);
    else
        sl_world_on_event(r->w, sl_sim_track_event, r->track);
    if (timeline(&c, err, errcap) != 0) {
        free(c.live);
        sl_sim_run_free(r);
        return -1;
    }
    free(c.live);
    if (r->svc)
        sl_sim_svc_finish(r->svc, catalog_of, r->rt, sl_world_now(r->w));
    r->verify_bad = sl_sim_track_verify(r->track, r->w, r->verify_msg, sizeof r->verify_msg);
    for (int i = 0; i < sl_world_size(r->w); i++) { /* a core short of memory lost news */
        const sl_swim *core = sl_world_core(r->w, i);
        if (core)
            r->alloc_failures += sl_swim_get_stats(core)->alloc_failures;
    }
    *out = r;
    return 0;
oom:
    free(c.live);
    sl_sim_run_free(r);
    snprintf(err, errcap, "out of memory for %d nodes", sc->max_nodes);
    return -1;
}

void sl_sim_run_free(sl_sim_run *r)
{
    if (!r)
        return;
    sl_world_free(r->w);
    sl_sim_runtime_free(r->rt);
    sl_sim_svc_free(r->svc);
    free(r->svc_series);
    sl_sim_track_free(r->track);
    free(r->samples);
    free(r);
}
