/* Reports of a run: JSON (jansson, keys in a fixed insertion order), CSV and
 * a human summary, plus the verdict on expectations and invariants.
 *
 * Times are rounded to the millisecond and rates to three decimals before
 * they become JSON reals, and reals are printed with 15 significant digits,
 * so the bytes depend only on the run. Values that do not exist (a crash not
 * seen by every live node, a run that did not converge) are JSON null. */
#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double round3(double x)
{
    return round(x * 1000.0) / 1000.0;
}

static json_t *seconds(uint64_t ms)
{
    return ms == SL_SIM_NEVER ? json_null() : json_real((double)ms / 1000.0);
}

static double per_node_s(const sl_sim_run *r, uint64_t total)
{
    return r->node_ms ? round3((double)total * 1000.0 / (double)r->node_ms) : 0.0;
}

static uint64_t total(const sl_sim_run *r, bool bytes)
{
    uint64_t t = 0;
    for (size_t i = 0; i < r->nsamples; i++)
        t += bytes ? r->samples[i].bytes : r->samples[i].packets;
    return t;
}

/* The worst (largest) delay of a list, or SL_SIM_NEVER if any is missing or
 * the list is empty. */
static uint64_t worst(const uint64_t *d, size_t n)
{
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == SL_SIM_NEVER)
            return SL_SIM_NEVER;
        if (d[i] > w)
            w = d[i];
    }
    return n ? w : SL_SIM_NEVER;
}

static uint64_t worst_delay(const sl_sim_run *r, sl_sim_metric m)
{
    size_t n;
    uint64_t buf[64], *d = buf;
    if (m == SL_SIM_M_LEAVE_SEEN) {
        const sl_sim_leave *l = sl_sim_track_leaves(r->track, &n);
        if (n > 64 && !(d = malloc(n * sizeof *d)))
            return SL_SIM_NEVER;
        for (size_t i = 0; i < n; i++)
            d[i] = l[i].all_ms;
    } else {
        const sl_sim_failure *f = sl_sim_track_failures(r->track, &n);
        if (n > 64 && !(d = malloc(n * sizeof *d)))
            return SL_SIM_NEVER;
        for (size_t i = 0; i < n; i++)
            d[i] = m == SL_SIM_M_DETECT_FIRST ? f[i].first_ms : f[i].all_ms;
    }
    uint64_t w = worst(d, n);
    if (d != buf)
        free(d);
    return w;
}

static sl_sim_verdict compare(sl_sim_verdict v)
{
    switch (v.e->op) {
    case SL_SIM_OP_LE: v.ok = v.value <= v.e->value; break;
    case SL_SIM_OP_LT: v.ok = v.value < v.e->value; break;
    case SL_SIM_OP_GE: v.ok = v.value >= v.e->value; break;
    case SL_SIM_OP_GT: v.ok = v.value > v.e->value; break;
    case SL_SIM_OP_EQ: v.ok = v.value == v.e->value; break;
    }
    return v;
}

/* A time figure: has when measured and not "never". */
static void time_figure(sl_sim_verdict *v, bool has, uint64_t ms)
{
    v->has = has && ms != SL_SIM_NEVER;
    v->value = (double)ms / 1000.0;
}

/* The services' metrics; none measured (no runtime, no such window) fails. */
static sl_sim_verdict check_services(const sl_sim_run *r, const sl_sim_expect *e, sl_sim_verdict v)
{
    if (!r->svc) {
        v.has = false;
        return v;
    }
    sl_sim_svc_figures f;
    sl_sim_svc_figures_get(r->svc, &f);
    switch (e->metric) {
    case SL_SIM_M_SERVICES_BACK: time_figure(&v, f.has_back, f.back_ms); break;
    case SL_SIM_M_DUPLICATES_GONE: time_figure(&v, f.has_dup, f.dup_gone_ms); break;
    case SL_SIM_M_CATALOG_CONVERGED: time_figure(&v, f.has_writes, f.catalog_ms); break;
    case SL_SIM_M_WRITES_RUNNING: time_figure(&v, f.has_write_running, f.write_running_ms); break;
    case SL_SIM_M_MIN_RUNNING:
        v.has = f.has_min;
        v.value = (double)f.min_running;
        break;
    case SL_SIM_M_LOST_WRITES:
        v.has = f.has_writes;
        v.value = (double)f.lost_writes;
        break;
    default:
        v.has = f.has_starts;
        v.value = f.starts_per_lost;
        break;
    }
    return v.has ? compare(v) : v;
}

sl_sim_verdict sl_sim_check(const sl_sim_run *r, const sl_sim_expect *e)
{
    sl_sim_verdict v = {.e = e, .has = true};
    uint64_t ms, conv = sl_sim_track_converged_since(r->track);
    switch (e->metric) {
    case SL_SIM_M_CONVERGED:
        v.value = conv != SL_SIM_NEVER;
        v.ok = v.value != 0;
        return v;
    case SL_SIM_M_DETECT_FIRST:
    case SL_SIM_M_DETECT_ALL:
    case SL_SIM_M_LEAVE_SEEN:
        ms = worst_delay(r, e->metric);
        v.has = ms != SL_SIM_NEVER;
        v.value = (double)ms / 1000.0;
        break;
    case SL_SIM_M_CONVERGED_AT:
        v.has = conv != SL_SIM_NEVER;
        v.value = (double)conv / 1000.0;
        break;
    case SL_SIM_M_FALSE_POSITIVES:
    case SL_SIM_M_FALSE_POSITIVES_PAUSED:
        v.value = (double)sl_sim_track_false_positives(
            r->track, e->metric == SL_SIM_M_FALSE_POSITIVES_PAUSED);
        break;
    case SL_SIM_M_HEALTHY_DEAD:
        v.value = (double)sl_sim_track_healthy_declared_dead(r->track);
        break;
    case SL_SIM_M_ALIVE_DEAD: v.value = (double)sl_sim_track_alive_declared_dead(r->track); break;
    case SL_SIM_M_GHOSTS: v.value = (double)sl_sim_track_ghosts(r->track); break;
    case SL_SIM_M_LIVE: v.value = sl_sim_track_live(r->track); break;
    case SL_SIM_M_MSGS: v.value = per_node_s(r, total(r, false)); break;
    case SL_SIM_M_UNHEALTHY:
        v.value = r->rt ? (double)sl_sim_runtime_stats(r->rt)->unhealthy : 0;
        break;
    case SL_SIM_M_STALE_VERSIONS:
        v.value = r->rt ? (double)sl_sim_runtime_stale_versions(r->rt) : 0;
        break;
    case SL_SIM_M_REVERTS:
        v.value = r->rt ? (double)sl_sim_runtime_stats(r->rt)->reverts : 0;
        break;
    case SL_SIM_M_SERVICES_BACK:
    case SL_SIM_M_MIN_RUNNING:
    case SL_SIM_M_DUPLICATES_GONE:
    case SL_SIM_M_LOST_WRITES:
    case SL_SIM_M_STARTS_PER_LOST:
    case SL_SIM_M_CATALOG_CONVERGED:
    case SL_SIM_M_WRITES_RUNNING: return check_services(r, e, v);
    default: v.has = false;
    }
    return v.has ? compare(v) : v;
}

static uint64_t lost_writes(const sl_sim_run *r)
{
    if (!r->svc)
        return 0;
    sl_sim_svc_figures f;
    sl_sim_svc_figures_get(r->svc, &f);
    return f.lost_writes;
}

/* Rebalance windows (nothing lost, not a heal) in which some service ran
 * below its count: make-before-break broken. */
static size_t broken_handoffs(const sl_sim_run *r, const sl_sim_svc_window **first)
{
    size_t n, bad = 0;
    const sl_sim_svc_window *w = r->svc ? sl_sim_svc_windows(r->svc, &n) : NULL;
    for (size_t i = 0; w && i < n; i++)
        if (w[i].rebalance && w[i].min_running < 1.0 && !bad++ && first)
            *first = &w[i];
    return bad;
}

bool sl_sim_invariants_ok(const sl_sim_run *r)
{
    return sl_sim_track_ghosts(r->track) == 0 && r->verify_bad == 0 && r->alloc_failures == 0 &&
           lost_writes(r) == 0 && broken_handoffs(r, NULL) == 0;
}

bool sl_sim_run_ok(const sl_sim_run *r)
{
    for (size_t i = 0; i < r->sc->nexpects; i++)
        if (!sl_sim_check(r, &r->sc->expects[i]).ok)
            return false;
    return sl_sim_invariants_ok(r);
}

static char *node_name(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "n%d", i);
    return buf;
}

static json_t *json_failures(const sl_sim_run *r)
{
    size_t n;
    const sl_sim_failure *f = sl_sim_track_failures(r->track, &n);
    json_t *a = json_array();
    char nm[24];
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "node", json_string(node_name(f[i].node, nm, sizeof nm)));
        json_object_set_new(o, "at_s", seconds(f[i].at_ms));
        json_object_set_new(o, "first_detect_s", seconds(f[i].first_ms));
        json_object_set_new(o, "all_detect_s", seconds(f[i].all_ms));
        json_object_set_new(o, "detected_by", json_integer(f[i].detected_by));
        json_object_set_new(o, "of", json_integer(f[i].of));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *json_leaves(const sl_sim_run *r)
{
    size_t n;
    const sl_sim_leave *l = sl_sim_track_leaves(r->track, &n);
    json_t *a = json_array();
    char nm[24];
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "node", json_string(node_name(l[i].node, nm, sizeof nm)));
        json_object_set_new(o, "at_s", seconds(l[i].at_ms));
        json_object_set_new(o, "all_seen_s", seconds(l[i].all_ms));
        json_object_set_new(o, "seen_by", json_integer(l[i].seen_by));
        json_object_set_new(o, "of", json_integer(l[i].of));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *json_fp_examples(const sl_sim_run *r)
{
    size_t n;
    const sl_sim_fp *fp = sl_sim_track_fp_samples(r->track, &n);
    json_t *a = json_array();
    char nm[24];
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "declarer", json_string(node_name(fp[i].declarer, nm, sizeof nm)));
        json_object_set_new(o, "node", json_string(node_name(fp[i].node, nm, sizeof nm)));
        json_object_set_new(o, "at_s", seconds(fp[i].at_ms));
        json_object_set_new(o, "paused", json_boolean(fp[i].paused));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *json_messages(const sl_sim_run *r)
{
    json_t *o = json_object();
    uint64_t p = total(r, false), b = total(r, true);
    json_object_set_new(o, "packets", json_integer((json_int_t)p));
    json_object_set_new(o, "bytes", json_integer((json_int_t)b));
    json_object_set_new(o, "per_node_per_s", json_real(per_node_s(r, p)));
    json_object_set_new(o, "bytes_per_node_per_s", json_real(per_node_s(r, b)));
    return o;
}

/* What the seeds' joining policy did: null without `seeds`. */
static json_t *json_rejoin(const sl_sim_run *r)
{
    if (!r->sc->nseeds)
        return json_null();
    const sl_world_rejoin_stats *st = sl_world_rejoin(r->w);
    json_t *o = json_object();
    json_object_set_new(o, "rounds", json_integer((json_int_t)st->rounds));
    json_object_set_new(o, "rounds_failed", json_integer((json_int_t)st->rounds_failed));
    json_object_set_new(o, "seed_pushpulls", json_integer((json_int_t)st->seed_pushpulls));
    json_object_set_new(o, "lost_all", json_integer((json_int_t)st->lost_all));
    return o;
}

static json_t *json_final(const sl_sim_run *r)
{
    sl_sim_views v;
    sl_sim_track_views(r->track, &v);
    json_t *o = json_object();
    json_object_set_new(o, "live", json_integer(v.live));
    json_object_set_new(o, "view_min", json_integer(v.view_min));
    json_object_set_new(o, "view_max", json_integer(v.view_max));
    json_object_set_new(o, "suspect", json_integer((json_int_t)v.suspect));
    json_object_set_new(o, "dead", json_integer((json_int_t)v.dead));
    json_object_set_new(o, "bad_views", json_integer(v.bad_views));
    sl_sim_mismatch mm[10];
    size_t n = sl_sim_track_mismatches(r->track, mm, sizeof mm / sizeof *mm);
    json_t *a = json_array();
    char nm[24];
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "observer", json_string(node_name(mm[i].observer, nm, sizeof nm)));
        json_object_set_new(x, "node", json_string(node_name(mm[i].node, nm, sizeof nm)));
        json_object_set_new(x, "believed", json_string(mm[i].believed));
        json_object_set_new(x, "is", json_string(mm[i].truth_alive ? "alive" : "down"));
        json_array_append_new(a, x);
    }
    json_object_set_new(o, "wrong_beliefs", a);
    return o;
}

static json_t *json_action(const sl_sim_action *a)
{
    if (!a)
        return json_string("start");
    return json_string(sl_sim_action_name(a->type));
}

static json_t *json_windows(const sl_sim_svc *t)
{
    size_t n;
    const sl_sim_svc_window *w = sl_sim_svc_windows(t, &n);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "action", json_action(w[i].a));
        json_object_set_new(o, "line", w[i].a ? json_integer(w[i].a->line) : json_null());
        json_object_set_new(o, "at_s", seconds(w[i].at_ms));
        json_object_set_new(o, "lost", json_integer(w[i].lost));
        json_object_set_new(o, "starts", json_integer((json_int_t)w[i].starts));
        json_object_set_new(o, "back_s", seconds(w[i].back_ms));
        json_object_set_new(o, "rebalance", json_boolean(w[i].rebalance));
        bool measured = w[i].rebalance && w[i].min_count != UINT64_MAX;
        json_object_set_new(o, "min_running",
                            measured ? json_integer((json_int_t)w[i].min_count) : json_null());
        json_object_set_new(o, "min_running_fraction",
                            measured ? json_real(round3(w[i].min_running)) : json_null());
        json_object_set_new(o, "duplicates_max", json_integer((json_int_t)w[i].dup_max));
        json_object_set_new(o, "duplicates_gone_within_s",
                            w[i].a && w[i].a->type == SL_SIM_HEAL ? seconds(w[i].dup_gone_ms)
                                                                  : json_null());
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *json_writes(const sl_sim_svc *t)
{
    size_t n;
    const sl_sim_svc_write *w = sl_sim_svc_writes(t, &n);
    json_t *a = json_array();
    char nm[24];
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "action", json_action(w[i].a));
        json_object_set_new(o, "service", json_string(w[i].a->service));
        json_object_set_new(o, "via", json_string(node_name(w[i].a->via, nm, sizeof nm)));
        json_object_set_new(o, "line", json_integer(w[i].a->line));
        json_object_set_new(o, "at_s", seconds(w[i].at_ms));
        json_object_set_new(o, "converged_s", seconds(w[i].converged_ms));
        json_object_set_new(o, "running_s",
                            w[i].superseded ? json_string("superseded") : seconds(w[i].running_ms));
        json_object_set_new(o, "lost", json_boolean(w[i].lost));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *json_per_service(const sl_sim_run *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < sl_sim_svc_count(r->svc); i++) {
        sl_sim_svc_info info;
        sl_sim_svc_info_get(r->svc, i, &info);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(info.name));
        json_object_set_new(o, "replicas", json_integer(info.replicas));
        json_object_set_new(o, "running", json_integer((json_int_t)info.running));
        json_object_set_new(o, "target", json_integer((json_int_t)info.target));
        if (i < r->svc_series_ns) {
            json_t *series = json_array();
            for (size_t k = 0; k < r->nsamples; k++)
                json_array_append_new(series,
                                      json_integer(r->svc_series[k * r->svc_series_ns + i]));
            json_object_set_new(o, "running_per_s", series);
        }
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *json_figures(const sl_sim_svc *t)
{
    sl_sim_svc_figures f;
    sl_sim_svc_figures_get(t, &f);
    json_t *o = json_object();
    json_object_set_new(o, "at_count_within_s", f.has_back ? seconds(f.back_ms) : json_null());
    json_object_set_new(o, "min_running",
                        f.has_min ? json_integer((json_int_t)f.min_running) : json_null());
    json_object_set_new(o, "min_running_fraction",
                        f.has_min ? json_real(round3(f.min_fraction)) : json_null());
    json_object_set_new(o, "duplicates_gone_within_s",
                        f.has_dup ? seconds(f.dup_gone_ms) : json_null());
    json_object_set_new(o, "replicas_lost", json_integer((json_int_t)f.lost));
    json_object_set_new(o, "replica_starts", json_integer((json_int_t)f.starts));
    json_object_set_new(o, "starts_per_lost",
                        f.has_starts ? json_real(round3(f.starts_per_lost)) : json_null());
    json_object_set_new(o, "catalog_converged_within_s",
                        f.has_writes ? seconds(f.catalog_ms) : json_null());
    json_object_set_new(o, "writes_running_within_s",
                        f.has_write_running ? seconds(f.write_running_ms) : json_null());
    json_object_set_new(o, "lost_writes", json_integer((json_int_t)f.lost_writes));
    return o;
}

static json_t *json_runtime_stats(const sl_sim_runtime *rt)
{
    const sl_sim_rt_stats *st = sl_sim_runtime_stats(rt);
    json_t *o = json_object();
    json_object_set_new(o, "reconciles", json_integer((json_int_t)st->reconciles));
    json_object_set_new(o, "placements", json_integer((json_int_t)st->placements));
    json_object_set_new(o, "placement_hits", json_integer((json_int_t)st->placement_hits));
    json_object_set_new(o, "reconcile_errors", json_integer((json_int_t)st->reconcile_errors));
    json_object_set_new(o, "actions", json_integer((json_int_t)st->actions));
    json_object_set_new(o, "saves", json_integer((json_int_t)st->saves));
    json_object_set_new(o, "restores", json_integer((json_int_t)st->restores));
    if (st->give_ups) /* only when it happened: other reports stay as they were */
        json_object_set_new(o, "give_ups", json_integer((json_int_t)st->give_ups));
    if (st->unhealthy) /* likewise */
        json_object_set_new(o, "unhealthy", json_integer((json_int_t)st->unhealthy));
    if (st->reverts) /* likewise */
        json_object_set_new(o, "reverts", json_integer((json_int_t)st->reverts));
    return o;
}

/* The runtime's block: null when the scenario has no runtime. */
static json_t *json_services(const sl_sim_run *r)
{
    if (!r->svc)
        return json_null();
    const sl_sim_scenario *sc = r->sc;
    json_t *o = json_object();
    sl_sim_svc_sample now;
    sl_sim_svc_sample_now(r->svc, &now);
    json_object_set_new(o, "count", json_integer((json_int_t)sl_sim_svc_count(r->svc)));
    json_object_set_new(o, "startup_s", seconds(sc->startup_ms));
    json_object_set_new(o, "startup_jitter_s", seconds(sc->startup_jitter_ms));
    json_object_set_new(o, "stopping_s", seconds(sc->stopping_ms));
    json_object_set_new(o, "stopping_jitter_s", seconds(sc->stopping_jitter_ms));
    json_object_set_new(o, "figures", json_figures(r->svc));
    json_t *fin = json_object();
    json_object_set_new(fin, "running", json_integer((json_int_t)now.running));
    json_object_set_new(fin, "target", json_integer((json_int_t)now.target));
    json_object_set_new(fin, "deficit", json_integer((json_int_t)now.deficit));
    json_object_set_new(fin, "duplicates", json_integer((json_int_t)now.duplicates));
    json_object_set_new(o, "final", fin);
    json_object_set_new(o, "windows", json_windows(r->svc));
    json_object_set_new(o, "writes", json_writes(r->svc));
    json_object_set_new(o, "writes_refused", json_integer((json_int_t)r->writes_refused));
    json_object_set_new(o, "first_refusal",
                        r->writes_refused ? json_string(r->write_msg) : json_null());
    json_object_set_new(o, "per_service", json_per_service(r));
    json_object_set_new(o, "runtime", json_runtime_stats(r->rt));
    return o;
}

static json_t *json_verdict(const sl_sim_run *r, json_t **invariants)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->sc->nexpects; i++) {
        sl_sim_verdict v = sl_sim_check(r, &r->sc->expects[i]);
        json_t *o = json_object();
        json_object_set_new(o, "expect", json_string(v.e->text));
        json_object_set_new(o, "line", json_integer(v.e->line));
        json_object_set_new(o, "value", v.has ? json_real(round3(v.value)) : json_null());
        json_object_set_new(o, "ok", json_boolean(v.ok));
        json_array_append_new(a, o);
    }
    json_t *inv = json_object(), *viol = json_array();
    char msg[320];
    if (sl_sim_track_ghosts(r->track)) {
        snprintf(msg, sizeof msg, "%llu ghosts: reaped members came back while down",
                 (unsigned long long)sl_sim_track_ghosts(r->track));
        json_array_append_new(viol, json_string(msg));
    }
    if (r->verify_bad) {
        snprintf(msg, sizeof msg, "%llu views differ from their events, e.g. %s",
                 (unsigned long long)r->verify_bad, r->verify_msg);
        json_array_append_new(viol, json_string(msg));
    }
    if (r->alloc_failures) {
        snprintf(msg, sizeof msg,
                 "%llu allocations failed in the cores: out of memory, views incomplete",
                 (unsigned long long)r->alloc_failures);
        json_array_append_new(viol, json_string(msg));
    }
    if (lost_writes(r)) {
        snprintf(msg, sizeof msg,
                 "%llu acknowledged writes are held by no live node at the end: lost",
                 (unsigned long long)lost_writes(r));
        json_array_append_new(viol, json_string(msg));
    }
    const sl_sim_svc_window *bw = NULL;
    size_t broken = broken_handoffs(r, &bw);
    if (broken) {
        snprintf(msg, sizeof msg,
                 "make-before-break broken in %zu rebalances: after %s (line %d) at %.3fs a "
                 "service ran %llu replicas, %.3f of its count",
                 broken, sl_sim_action_name(bw->a->type), bw->a->line, (double)bw->at_ms / 1000.0,
                 (unsigned long long)bw->min_count, bw->min_running);
        json_array_append_new(viol, json_string(msg));
    }
    json_object_set_new(inv, "ok", json_boolean(sl_sim_invariants_ok(r)));
    json_object_set_new(inv, "violations", viol);
    *invariants = inv;
    return a;
}

int sl_sim_report_json(const sl_sim_run *r, const char *file, const sl_sim_perf *perf, FILE *f)
{
    const sl_sim_scenario *sc = r->sc;
    json_t *o = json_object(), *inv = NULL;
    uint64_t conv = sl_sim_track_converged_since(r->track);
    json_object_set_new(o, "scenario", json_string(file));
    json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
    json_object_set_new(o, "nodes", json_integer(sc->nodes));
    json_object_set_new(o, "nodes_total", json_integer(sc->max_nodes));
    json_object_set_new(o, "profile", json_string(sc->profile));
    json_object_set_new(o, "sealed", json_boolean(sc->sealed));
    json_object_set_new(o, "lifeguard", json_boolean(!sc->plain_swim));
    json_object_set_new(o, "simulated_s", seconds(sc->run_ms));
    json_object_set_new(o, "failures", json_failures(r));
    json_object_set_new(o, "leaves", json_leaves(r));
    json_object_set_new(o, "false_positives",
                        json_integer((json_int_t)sl_sim_track_false_positives(r->track, false)));
    json_object_set_new(o, "false_positives_paused",
                        json_integer((json_int_t)sl_sim_track_false_positives(r->track, true)));
    json_object_set_new(o, "healthy_declared_dead",
                        json_integer((json_int_t)sl_sim_track_healthy_declared_dead(r->track)));
    json_object_set_new(o, "alive_declared_dead",
                        json_integer((json_int_t)sl_sim_track_alive_declared_dead(r->track)));
    json_object_set_new(o, "false_positive_examples", json_fp_examples(r));
    json_object_set_new(o, "converged", json_boolean(conv != SL_SIM_NEVER));
    json_object_set_new(o, "converged_at_s", seconds(conv));
    json_object_set_new(o, "ghosts", json_integer((json_int_t)sl_sim_track_ghosts(r->track)));
    json_object_set_new(o, "final", json_final(r));
    json_object_set_new(o, "messages", json_messages(r));
    json_object_set_new(o, "rejoin", json_rejoin(r));
    json_object_set_new(o, "skipped_actions", json_integer((json_int_t)r->skipped_actions));
    json_object_set_new(o, "services", json_services(r));
    json_object_set_new(o, "expectations", json_verdict(r, &inv));
    json_object_set_new(o, "invariants", inv);
    json_object_set_new(o, "ok", json_boolean(sl_sim_run_ok(r)));
    json_t *p = json_object();
    json_object_set_new(p, "wall_s", json_real(round3(perf->wall_s)));
    json_object_set_new(p, "events", json_integer((json_int_t)perf->events));
    json_object_set_new(p, "events_per_s",
                        json_real(perf->wall_s > 0 ? round(perf->events / perf->wall_s) : 0.0));
    json_object_set_new(p, "peak_rss_mb", json_real(round3(perf->peak_rss_mb)));
    json_object_set_new(o, "perf", p);
    int rc = json_dumpf(o, f, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (rc == 0 && fputc('\n', f) == EOF)
        rc = -1;
    return rc == 0 ? 0 : -1;
}

int sl_sim_report_csv(const sl_sim_run *r, FILE *f)
{
    fprintf(f,
            "t_s,live,view_min,view_max,view_mean,suspect,dead,bad_views,converged,packets,"
            "bytes%s\n",
            r->svc ? ",running,target,deficit,duplicates" : "");
    for (size_t i = 0; i < r->nsamples; i++) {
        const sl_sim_sample *s = &r->samples[i];
        fprintf(f, "%u,%d,%d,%d,%.3f,%llu,%llu,%d,%d,%llu,%llu", s->t_s, s->v.live, s->v.view_min,
                s->v.view_max, s->v.view_mean, (unsigned long long)s->v.suspect,
                (unsigned long long)s->v.dead, s->v.bad_views, s->converged ? 1 : 0,
                (unsigned long long)s->packets, (unsigned long long)s->bytes);
        if (r->svc)
            fprintf(f, ",%llu,%llu,%llu,%llu", (unsigned long long)s->svc.running,
                    (unsigned long long)s->svc.target, (unsigned long long)s->svc.deficit,
                    (unsigned long long)s->svc.duplicates);
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

static void text_delay(FILE *f, const char *what, uint64_t ms)
{
    if (ms == SL_SIM_NEVER)
        fprintf(f, "%s never", what);
    else
        fprintf(f, "%s after %.3fs", what, (double)ms / 1000.0);
}

static void text_events(const sl_sim_run *r, FILE *f)
{
    size_t n;
    const sl_sim_failure *fl = sl_sim_track_failures(r->track, &n);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "  crash n%d at %.3fs: ", fl[i].node, (double)fl[i].at_ms / 1000.0);
        text_delay(f, "first detected", fl[i].first_ms);
        fprintf(f, ", by %d of %d; ", fl[i].detected_by, fl[i].of);
        text_delay(f, "by all", fl[i].all_ms);
        fputc('\n', f);
    }
    const sl_sim_leave *lv = sl_sim_track_leaves(r->track, &n);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "  leave n%d at %.3fs: seen by %d of %d; ", lv[i].node,
                (double)lv[i].at_ms / 1000.0, lv[i].seen_by, lv[i].of);
        text_delay(f, "by all", lv[i].all_ms);
        fputc('\n', f);
    }
}

static void text_services(const sl_sim_run *r, FILE *f)
{
    if (!r->svc)
        return;
    sl_sim_svc_sample now;
    sl_sim_svc_sample_now(r->svc, &now);
    sl_sim_svc_figures fg;
    sl_sim_svc_figures_get(r->svc, &fg);
    fprintf(f, "  services: %zu, %llu of %llu replicas running at the end, %llu duplicates\n",
            sl_sim_svc_count(r->svc), (unsigned long long)now.running,
            (unsigned long long)now.target, (unsigned long long)now.duplicates);
    size_t n;
    const sl_sim_svc_window *w = sl_sim_svc_windows(r->svc, &n);
    for (size_t i = 0; i < n; i++) {
        if (!w[i].a)
            continue;
        fprintf(f, "    %s (line %d) at %.3fs: lost %u, started %llu; ",
                sl_sim_action_name(w[i].a->type), w[i].a->line, (double)w[i].at_ms / 1000.0,
                w[i].lost, (unsigned long long)w[i].starts);
        text_delay(f, "back at count", w[i].back_ms);
        if (w[i].rebalance && w[i].min_count != UINT64_MAX)
            fprintf(f, "; lowest running %llu, running/count %.3f",
                    (unsigned long long)w[i].min_count, w[i].min_running);
        if (w[i].a->type == SL_SIM_HEAL && w[i].dup_max) {
            fprintf(f, "; %llu duplicates, ", (unsigned long long)w[i].dup_max);
            text_delay(f, "gone", w[i].dup_gone_ms);
        }
        fputc('\n', f);
    }
    if (fg.has_starts)
        fprintf(f, "    replica starts per replica lost: %.3f (%llu for %llu)\n",
                fg.starts_per_lost, (unsigned long long)fg.starts, (unsigned long long)fg.lost);
    if (fg.has_writes) {
        fprintf(f, "    writes: ");
        text_delay(f, "all held everywhere", fg.catalog_ms);
        if (fg.has_write_running) {
            fprintf(f, "; each running at its count ");
            text_delay(f, "everywhere", fg.write_running_ms);
        }
        fprintf(f, ", %llu lost, %llu refused\n", (unsigned long long)fg.lost_writes,
                (unsigned long long)r->writes_refused);
    }
}

void sl_sim_report_text(const sl_sim_run *r, const char *file, const sl_sim_perf *perf, FILE *f)
{
    const sl_sim_scenario *sc = r->sc;
    double sim_s = (double)sc->run_ms / 1000.0;
    sl_sim_views v;
    sl_sim_track_views(r->track, &v);
    fprintf(f, "%s: seed %llu, %d nodes (%d in all), profile %s, %s%s, %.3fs simulated\n", file,
            (unsigned long long)r->seed, sc->nodes, sc->max_nodes, sc->profile,
            sc->sealed ? "sealed" : "not sealed", sc->plain_swim ? ", lifeguard off" : "", sim_s);
    text_events(r, f);
    fprintf(f,
            "  false positives: %llu (about or by paused nodes: %llu; healthy members declared "
            "dead, by anyone: %llu; running members, stalled ones too: %llu)\n",
            (unsigned long long)sl_sim_track_false_positives(r->track, false),
            (unsigned long long)sl_sim_track_false_positives(r->track, true),
            (unsigned long long)sl_sim_track_healthy_declared_dead(r->track),
            (unsigned long long)sl_sim_track_alive_declared_dead(r->track));
    uint64_t conv = sl_sim_track_converged_since(r->track);
    if (conv == SL_SIM_NEVER)
        fprintf(f, "  converged: no (%d of %d live views differ from the truth)\n", v.bad_views,
                v.live);
    else
        fprintf(f, "  converged: yes, since %.3fs\n", (double)conv / 1000.0);
    fprintf(f, "  final: %d live, views %d..%d, ghosts %llu\n", v.live, v.view_min, v.view_max,
            (unsigned long long)sl_sim_track_ghosts(r->track));
    fprintf(f, "  messages: %.3f packets and %.3f bytes per node per second\n",
            per_node_s(r, total(r, false)), per_node_s(r, total(r, true)));
    if (sc->nseeds) {
        const sl_world_rejoin_stats *st = sl_world_rejoin(r->w);
        fprintf(f,
                "  joining through %d seeds: %llu join rounds (%llu with no answer), %llu seed "
                "push-pulls, %llu rejoins after losing every peer\n",
                sc->nseeds, (unsigned long long)st->rounds, (unsigned long long)st->rounds_failed,
                (unsigned long long)st->seed_pushpulls, (unsigned long long)st->lost_all);
    }
    text_services(r, f);
    for (size_t i = 0; i < sc->nexpects; i++) {
        sl_sim_verdict vd = sl_sim_check(r, &sc->expects[i]);
        fprintf(f, "  %s %s (line %d): ", vd.ok ? "ok  " : "FAIL", vd.e->text, vd.e->line);
        if (vd.has)
            fprintf(f, "%.3f\n", vd.value);
        else
            fprintf(f, "no value\n");
    }
    if (sl_sim_track_ghosts(r->track))
        fprintf(f, "  INVARIANT: ghosts came back\n");
    if (broken_handoffs(r, NULL))
        fprintf(f, "  INVARIANT: make-before-break broken in %zu rebalances\n",
                broken_handoffs(r, NULL));
    if (lost_writes(r))
        fprintf(f, "  INVARIANT: %llu acknowledged writes lost\n",
                (unsigned long long)lost_writes(r));
    if (r->verify_bad)
        fprintf(f, "  INVARIANT: %llu views differ from their events, e.g. %s\n",
                (unsigned long long)r->verify_bad, r->verify_msg);
    fprintf(f, "  perf: %.3fs wall (%.0fx real time), %llu events (%.0f/s), %.1f MB peak RSS\n",
            perf->wall_s, perf->wall_s > 0 ? sim_s / perf->wall_s : 0.0,
            (unsigned long long)perf->events, perf->wall_s > 0 ? perf->events / perf->wall_s : 0.0,
            perf->peak_rss_mb);
}
