/* The tracker: every node's beliefs against the truth, from events alone.
 *
 * The heart is a byte matrix: belief[o][m] is what observer o last said
 * about member m (unknown, alive, suspect, dead, left, or reaped: forgotten
 * after having been known). Membership events are the only input, so the
 * tracker costs O(1) per event whatever the cluster size; at the end of a
 * run sl_sim_track_verify() walks the real cores to check that the events
 * told the whole story.
 *
 * The truth is simple: a member is alive when it runs and has not left.
 * Observers are exactly the live members. For each observer we keep how many
 * members it holds alive or suspect ("its view") and how many of those
 * beliefs disagree with the truth; the cluster has converged while no
 * observer disagrees. Paused nodes stay observers and stay alive in the
 * truth: a stalled process is not a dead one.
 *
 * A dead declaration is the FAILED event an observer reports with itself as
 * the declarer (its own suspicion timer ran out). It is a false positive when
 * the member was alive, was not cut off from the declarer, and had not been
 * down, all within a grace window before the declaration (about the longest
 * suspicion timeout, since suspicions started during a cut can expire after
 * the heal). Declarations about, or by, a node paused within that window are
 * counted apart, as false_positives_paused.
 *
 * A ghost is a member an observer had reaped (forgotten) that comes back
 * alive in its view while it is in truth down or gone: stale gossip raising
 * the dead. */
#include "track.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B_UNKNOWN, B_ALIVE, B_SUSPECT, B_DEAD, B_LEFT, B_REAPED };

#define D_NA UINT32_MAX /* not an eligible observer */
#define D_PENDING (UINT32_MAX - 1)

/* A crash or a leave and, per observer, the delay until it saw it. */
typedef struct record {
    int node;
    uint64_t at_ms;
    uint32_t *delay; /* max_nodes entries: ms, D_PENDING or D_NA */
} record;

typedef struct record_list {
    record *r;
    size_t n, cap;
    int *open; /* per node: index of its open record, or -1 */
} record_list;

/* A span of time during which a node was paused or down (crashed or left),
 * or cut off by a total loss, or a partition or cut held. */
typedef enum span_kind { SPAN_PAUSE, SPAN_DOWN, SPAN_LOSS, SPAN_CUT } span_kind;

typedef struct span {
    span_kind kind;
    int node;               /* the node; -1 for SPAN_CUT */
    const sl_sim_action *a; /* SPAN_CUT: the partition or cut */
    uint64_t from_ms, until_ms;
} span;

struct sl_sim_track {
    int max;
    uint64_t grace_ms;
    uint8_t *belief; /* max * max */
    uint8_t *truth;  /* alive and not left */
    uint8_t *observing;
    int32_t *n_alive, *n_suspect, *n_dead, *mismatch;
    int n_observers, n_bad, n_truth;
    uint64_t conv_since;
    record_list fails, leaves;
    sl_sim_failure *fail_out;
    sl_sim_leave *leave_out;
    span *spans;
    size_t nspans, spans_cap;
    uint64_t fp, fp_paused, ghosts;
    uint64_t healthy_dead; /* see sl_sim_track_healthy_declared_dead() */
    uint64_t alive_dead;   /* see sl_sim_track_alive_declared_dead() */
    sl_sim_fp samples[SL_SIM_FP_SAMPLES];
    size_t nsamples;
};

static bool aliveish(uint8_t b)
{
    return b == B_ALIVE || b == B_SUSPECT;
}

static uint8_t *row(const sl_sim_track *t, int o)
{
    return t->belief + (size_t)o * (size_t)t->max;
}

sl_sim_track *sl_sim_track_new(int max_nodes, uint64_t grace_ms)
{
    sl_sim_track *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t n = (size_t)max_nodes;
    t->max = max_nodes;
    t->grace_ms = grace_ms;
    t->conv_since = SL_SIM_NEVER;
    t->belief = calloc(n, n);
    t->truth = calloc(n, 1);
    t->observing = calloc(n, 1);
    t->n_alive = calloc(n, sizeof *t->n_alive);
    t->n_suspect = calloc(n, sizeof *t->n_suspect);
    t->n_dead = calloc(n, sizeof *t->n_dead);
    t->mismatch = calloc(n, sizeof *t->mismatch);
    t->fails.open = malloc(n * sizeof(int));
    t->leaves.open = malloc(n * sizeof(int));
    if (!t->belief || !t->truth || !t->observing || !t->n_alive || !t->n_suspect || !t->n_dead ||
        !t->mismatch || !t->fails.open || !t->leaves.open) {
        sl_sim_track_free(t);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        t->fails.open[i] = t->leaves.open[i] = -1;
    return t;
}

static void records_free(record_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->r[i].delay);
    free(l->r);
    free(l->open);
}

void sl_sim_track_free(sl_sim_track *t)
{
    if (!t)
        return;
    free(t->belief);
    free(t->truth);
    free(t->observing);
    free(t->n_alive);
    free(t->n_suspect);
    free(t->n_dead);
    free(t->mismatch);
    records_free(&t->fails);
    records_free(&t->leaves);
    free(t->fail_out);
    free(t->leave_out);
    free(t->spans);
    free(t);
}

/* ---- convergence ---- */

static void update_conv(sl_sim_track *t, uint64_t now_ms)
{
    if (t->n_bad == 0 && t->n_observers > 0) {
        if (t->conv_since == SL_SIM_NEVER)
            t->conv_since = now_ms;
    } else {
        t->conv_since = SL_SIM_NEVER;
    }
}

static void add_mismatch(sl_sim_track *t, int o, int d)
{
    int before = t->mismatch[o];
    t->mismatch[o] += d;
    if (!t->observing[o])
        return;
    if (before == 0 && t->mismatch[o] != 0)
        t->n_bad++;
    if (before != 0 && t->mismatch[o] == 0)
        t->n_bad--;
}

static void count(sl_sim_track *t, int o, uint8_t b, int d)
{
    if (b == B_ALIVE)
        t->n_alive[o] += d;
    else if (b == B_SUSPECT)
        t->n_suspect[o] += d;
    else if (b == B_DEAD)
        t->n_dead[o] += d;
}

static void set_belief(sl_sim_track *t, int o, int m, uint8_t nb)
{
    uint8_t *b = &row(t, o)[m];
    uint8_t ob = *b;
    if (ob == nb)
        return;
    *b = nb;
    count(t, o, ob, -1);
    count(t, o, nb, +1);
    if (aliveish(ob) != aliveish(nb))
        add_mismatch(t, o, aliveish(nb) != t->truth[m] ? 1 : -1);
}

/* Flips the truth about m and every observer's agreement with it. */
static void set_truth(sl_sim_track *t, int m, bool alive)
{
    if (t->truth[m] == alive)
        return;
    t->truth[m] = alive;
    t->n_truth += alive ? 1 : -1;
    for (int o = 0; o < t->max; o++) {
        if (o == m || !t->observing[o])
            continue;
        add_mismatch(t, o, aliveish(row(t, o)[m]) != alive ? 1 : -1);
    }
}

/* ---- records of crashes and leaves ---- */

static record *record_open(sl_sim_track *t, record_list *l, int m, uint64_t now_ms, bool leave)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        record *r = realloc(l->r, cap * sizeof *r);
        if (!r)
            return NULL;
        l->r = r;
        l->cap = cap;
    }
    uint32_t *d = malloc((size_t)t->max * sizeof *d);
    if (!d)
        return NULL;
    /* Observers that do not know m have nothing to see; those that already
     * hold it dead (or left, for a leave) saw it at once. */
    for (int o = 0; o < t->max; o++) {
        uint8_t b = row(t, o)[m];
        bool seen = leave ? b == B_LEFT : (b == B_DEAD || b == B_LEFT);
        bool na = o == m || !t->observing[o] || b == B_UNKNOWN || b == B_REAPED;
        d[o] = na ? D_NA : seen ? 0 : D_PENDING;
    }
    l->open[m] = (int)l->n;
    l->r[l->n++] = (record){.node = m, .at_ms = now_ms, .delay = d};
    return &l->r[l->n - 1];
}

static void record_seen(record_list *l, int m, int o, uint64_t now_ms)
{
    if (l->open[m] < 0)
        return;
    record *r = &l->r[l->open[m]];
    if (r->delay[o] == D_PENDING)
        r->delay[o] = (uint32_t)(now_ms - r->at_ms);
}

/* An observer that stops observing before it saw a record drops out of it. */
static void records_drop_observer(record_list *l, int o)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->open[l->r[i].node] == (int)i && l->r[i].delay[o] == D_PENDING)
            l->r[i].delay[o] = D_NA;
}

/* ---- spans: pauses, downtime, cuts ---- */

static span *span_add(sl_sim_track *t, span s)
{
    if (t->nspans == t->spans_cap) {
        size_t cap = t->spans_cap ? t->spans_cap * 2 : 16;
        span *p = realloc(t->spans, cap * sizeof *p);
        if (!p)
            return NULL;
        t->spans = p;
        t->spans_cap = cap;
    }
    t->spans[t->nspans] = s;
    return &t->spans[t->nspans++];
}

/* Ends the open spans of a kind (of one node, or of every node if -1). */
static void spans_end(sl_sim_track *t, span_kind kind, int node, uint64_t now_ms)
{
    for (size_t i = 0; i < t->nspans; i++) {
        span *s = &t->spans[i];
        if (s->kind == kind && (node < 0 || s->node == node) && s->until_ms == SL_SIM_NEVER)
            s->until_ms = now_ms;
    }
}

/* ---- the truth ---- */

static void stop_observing(sl_sim_track *t, int o)
{
    if (!t->observing[o])
        return;
    if (t->mismatch[o] != 0)
        t->n_bad--;
    t->observing[o] = 0;
    t->n_observers--;
    records_drop_observer(&t->fails, o);
    records_drop_observer(&t->leaves, o);
}

void sl_sim_track_up(sl_sim_track *t, int node, uint64_t now_ms)
{
    stop_observing(t, node);
    set_truth(t, node, true);
    t->fails.open[node] = t->leaves.open[node] = -1;
    spans_end(t, SPAN_DOWN, node, now_ms);
    uint8_t *r = row(t, node); /* a fresh process knows nothing yet */
    memset(r, B_UNKNOWN, (size_t)t->max);
    r[node] = B_ALIVE;
    t->n_alive[node] = 1;
    t->n_suspect[node] = t->n_dead[node] = 0;
    t->mismatch[node] = t->n_truth - 1;
    t->observing[node] = 1;
    t->n_observers++;
    if (t->mismatch[node] != 0)
        t->n_bad++;
    update_conv(t, now_ms);
}

void sl_sim_track_crash(sl_sim_track *t, int node, uint64_t now_ms)
{
    stop_observing(t, node);
    if (t->truth[node]) {
        set_truth(t, node, false);
        record_open(t, &t->fails, node, now_ms, false);
        span_add(t, (span){SPAN_DOWN, node, NULL, now_ms, SL_SIM_NEVER});
    }
    update_conv(t, now_ms);
}

void sl_sim_track_leave(sl_sim_track *t, int node, uint64_t now_ms)
{
    stop_observing(t, node);
    if (t->truth[node]) {
        set_truth(t, node, false);
        record_open(t, &t->leaves, node, now_ms, true);
        span_add(t, (span){SPAN_DOWN, node, NULL, now_ms, SL_SIM_NEVER});
    }
    update_conv(t, now_ms);
}

void sl_sim_track_pause(sl_sim_track *t, int node, uint64_t now_ms, uint64_t until_ms)
{
    span_add(t, (span){SPAN_PAUSE, node, NULL, now_ms, until_ms});
}

void sl_sim_track_cut(sl_sim_track *t, const sl_sim_action *a, uint64_t now_ms)
{
    span_add(t, (span){SPAN_CUT, -1, a, now_ms, SL_SIM_NEVER});
}

void sl_sim_track_node_loss(sl_sim_track *t, int node, double loss, uint64_t now_ms)
{
    spans_end(t, SPAN_LOSS, node, now_ms); /* a new loss replaces the old one */
    if (loss >= 1.0)
        span_add(t, (span){SPAN_LOSS, node, NULL, now_ms, SL_SIM_NEVER});
}

void sl_sim_track_heal(sl_sim_track *t, uint64_t now_ms)
{
    spans_end(t, SPAN_LOSS, -1, now_ms);
    spans_end(t, SPAN_CUT, -1, now_ms);
}

/* ---- events ---- */

/* Parses "nK" into K, or returns -1 for any other name. */
static int node_index(const sl_sim_track *t, const char *name)
{
    if (!name || name[0] != 'n' || name[1] == '\0')
        return -1;
    long v = 0;
    for (const char *c = name + 1; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        v = v * 10 + (*c - '0');
        if (v >= t->max)
            return -1;
    }
    return (int)v;
}

static bool span_covers(const span *s, uint64_t t0, uint64_t t1)
{
    return s->from_ms <= t1 && s->until_ms >= t0;
}

/* Did a cut or partition separate a and b (either direction)? */
static bool cut_separates(const sl_sim_action *a, int x, int y)
{
    if (a->type == SL_SIM_CUT)
        return (sl_sim_set_has(&a->groups[0], x) && sl_sim_set_has(&a->groups[1], y)) ||
               (sl_sim_set_has(&a->groups[0], y) && sl_sim_set_has(&a->groups[1], x));
    int gx = -1, gy = -1;
    for (size_t g = 0; g < a->ngroups; g++) {
        if (sl_sim_set_has(&a->groups[g], x))
            gx = (int)g;
        if (sl_sim_set_has(&a->groups[g], y))
            gy = (int)g;
    }
    return gx >= 0 && gy >= 0 && gx != gy;
}

static void fp_sample(sl_sim_track *t, int o, int m, uint64_t now_ms, bool paused)
{
    if (t->nsamples < SL_SIM_FP_SAMPLES)
        t->samples[t->nsamples++] = (sl_sim_fp){o, m, now_ms, paused};
}

/* Judges observer o's own declaration that m is dead. */
static void judge(sl_sim_track *t, int o, int m, uint64_t now_ms)
{
    if (!t->truth[m])
        return; /* it is down or gone: a true positive */
    uint64_t t0 = now_ms > t->grace_ms ? now_ms - t->grace_ms : 0;
    bool paused = false, excused = false, m_unhealthy = false, down_or_cut = false;
    for (size_t i = 0; i < t->nspans; i++) {
        const span *s = &t->spans[i];
        if (!span_covers(s, t0, now_ms))
            continue;
        switch (s->kind) {
        case SPAN_PAUSE:
            paused |= s->node == m || s->node == o;
            m_unhealthy |= s->node == m;
            break;
        case SPAN_DOWN: /* about an earlier life of m, or made by o's */
            excused |= s->node == m || s->node == o;
            m_unhealthy |= s->node == m || s->node == o;
            down_or_cut |= s->node == m || s->node == o;
            break;
        case SPAN_LOSS: excused |= s->node == m || s->node == o; break;
        case SPAN_CUT:
            excused |= cut_separates(s->a, o, m);
            m_unhealthy |= cut_separates(s->a, o, m);
            down_or_cut |= cut_separates(s->a, o, m);
            break;
        }
    }
    if (!m_unhealthy)
        t->healthy_dead++;
    if (!down_or_cut)
        t->alive_dead++;
    if (paused) {
        t->fp_paused++;
        fp_sample(t, o, m, now_ms, true);
    } else if (!excused) {
        t->fp++;
        fp_sample(t, o, m, now_ms, false);
    }
}

static int belief_of(sl_swim_event_type type, sl_member_state st)
{
    switch (type) {
    case SL_EVENT_JOINED:
    case SL_EVENT_UPDATED:
    case SL_EVENT_ALIVE_AGAIN: return B_ALIVE;
    case SL_EVENT_SUSPECT: return B_SUSPECT;
    case SL_EVENT_FAILED: return B_DEAD;
    case SL_EVENT_LEFT: return B_LEFT;
    case SL_EVENT_REAPED: return B_REAPED;
    default: (void)st; return -1; /* a conflict changes nothing we track */
    }
}

void sl_sim_track_event(void *track, int o, uint64_t now_ms, const sl_swim_event *ev)
{
    sl_sim_track *t = track;
    int m = node_index(t, ev->name);
    if (o < 0 || o >= t->max || !t->observing[o] || m < 0 || m == o)
        return;
    int nb = belief_of(ev->type, ev->state);
    if (nb < 0)
        return;
    uint8_t ob = row(t, o)[m];
    if (aliveish((uint8_t)nb) && ob == B_REAPED && !t->truth[m])
        t->ghosts++;
    set_belief(t, o, m, (uint8_t)nb);
    if (nb == B_DEAD)
        record_seen(&t->fails, m, o, now_ms);
    if (nb == B_LEFT)
        record_seen(&t->leaves, m, o, now_ms);
    if (ev->type == SL_EVENT_FAILED && node_index(t, ev->from) == o)
        judge(t, o, m, now_ms);
    update_conv(t, now_ms);
}

/* ---- results ---- */

bool sl_sim_track_is_live(const sl_sim_track *t, int node)
{
    return node >= 0 && node < t->max && t->observing[node];
}

int sl_sim_track_live(const sl_sim_track *t)
{
    return t->n_observers;
}

void sl_sim_track_views(const sl_sim_track *t, sl_sim_views *out)
{
    memset(out, 0, sizeof *out);
    uint64_t sum = 0;
    for (int o = 0; o < t->max; o++) {
        if (!t->observing[o])
            continue;
        int v = t->n_alive[o] + t->n_suspect[o];
        if (out->live == 0 || v < out->view_min)
            out->view_min = v;
        if (v > out->view_max)
            out->view_max = v;
        out->live++;
        sum += (uint64_t)v;
        out->suspect += (uint64_t)t->n_suspect[o];
        out->dead += (uint64_t)t->n_dead[o];
    }
    out->view_mean = out->live ? (double)sum / out->live : 0.0;
    out->bad_views = t->n_bad;
}

uint64_t sl_sim_track_converged_since(const sl_sim_track *t)
{
    return t->conv_since;
}

/* Sums up one record: how many eligible observers saw it, and when. */
static void summarize(const sl_sim_track *t, const record *r, uint64_t *first, uint64_t *all,
                      int *seen, int *of)
{
    uint32_t lo = D_PENDING, hi = 0;
    *seen = *of = 0;
    for (int o = 0; o < t->max; o++) {
        uint32_t d = r->delay[o];
        if (d == D_NA)
            continue;
        (*of)++;
        if (d == D_PENDING)
            continue;
        (*seen)++;
        if (d < lo)
            lo = d;
        if (d > hi)
            hi = d;
    }
    *first = *seen ? lo : SL_SIM_NEVER;
    *all = *seen && *seen == *of ? hi : SL_SIM_NEVER;
}

const sl_sim_failure *sl_sim_track_failures(sl_sim_track *t, size_t *n)
{
    free(t->fail_out);
    t->fail_out = calloc(t->fails.n ? t->fails.n : 1, sizeof *t->fail_out);
    *n = t->fail_out ? t->fails.n : 0;
    for (size_t i = 0; i < *n; i++) {
        const record *r = &t->fails.r[i];
        sl_sim_failure *f = &t->fail_out[i];
        f->node = r->node;
        f->at_ms = r->at_ms;
        summarize(t, r, &f->first_ms, &f->all_ms, &f->detected_by, &f->of);
    }
    return t->fail_out;
}

const sl_sim_leave *sl_sim_track_leaves(sl_sim_track *t, size_t *n)
{
    free(t->leave_out);
    t->leave_out = calloc(t->leaves.n ? t->leaves.n : 1, sizeof *t->leave_out);
    *n = t->leave_out ? t->leaves.n : 0;
    for (size_t i = 0; i < *n; i++) {
        const record *r = &t->leaves.r[i];
        sl_sim_leave *l = &t->leave_out[i];
        uint64_t first;
        l->node = r->node;
        l->at_ms = r->at_ms;
        summarize(t, r, &first, &l->all_ms, &l->seen_by, &l->of);
    }
    return t->leave_out;
}

uint64_t sl_sim_track_false_positives(const sl_sim_track *t, bool paused)
{
    return paused ? t->fp_paused : t->fp;
}

uint64_t sl_sim_track_healthy_declared_dead(const sl_sim_track *t)
{
    return t->healthy_dead;
}

uint64_t sl_sim_track_alive_declared_dead(const sl_sim_track *t)
{
    return t->alive_dead;
}

const sl_sim_fp *sl_sim_track_fp_samples(const sl_sim_track *t, size_t *n)
{
    *n = t->nsamples;
    return t->samples;
}

uint64_t sl_sim_track_ghosts(const sl_sim_track *t)
{
    return t->ghosts;
}

static uint8_t belief_of_state(sl_member_state st)
{
    switch (st) {
    case SL_MEMBER_ALIVE: return B_ALIVE;
    case SL_MEMBER_SUSPECT: return B_SUSPECT;
    case SL_MEMBER_DEAD: return B_DEAD;
    default: return B_LEFT;
    }
}

static const char *const belief_names[] = {"unknown", "alive", "suspect", "dead", "left", "reaped"};

size_t sl_sim_track_mismatches(const sl_sim_track *t, sl_sim_mismatch *out, size_t max)
{
    size_t n = 0;
    for (int o = 0; o < t->max && n < max; o++) {
        if (!t->observing[o] || t->mismatch[o] == 0)
            continue;
        const uint8_t *r = row(t, o);
        for (int m = 0; m < t->max && n < max; m++)
            if (aliveish(r[m]) != t->truth[m])
                out[n++] = (sl_sim_mismatch){o, m, belief_names[r[m]], t->truth[m] != 0};
    }
    return n;
}

uint64_t sl_sim_track_verify(const sl_sim_track *t, sl_world *w, char *msg, size_t cap)
{
    uint64_t bad = 0;
    if (cap)
        msg[0] = '\0';
    for (int o = 0; o < t->max && o < sl_world_size(w); o++) {
        sl_swim *s = sl_world_core(w, o);
        if (!t->observing[o] || !s)
            continue;
        const uint8_t *r = row(t, o);
        size_t known = 0, matched = 0;
        for (int m = 0; m < t->max; m++)
            known += m != o && r[m] != B_UNKNOWN && r[m] != B_REAPED;
        for (size_t i = 0; i < sl_swim_size(s); i++) {
            sl_member_view v;
            if (sl_swim_member_at(s, i, &v) != 0 || v.is_self)
                continue;
            int m = node_index(t, v.name);
            uint8_t want = belief_of_state(v.state);
            if (m >= 0 && r[m] == want) {
                matched++;
                continue;
            }
            if (bad++ == 0 && cap)
                snprintf(msg, cap, "n%d holds %s as %s, the events said %s", o, v.name,
                         sl_member_state_name(v.state), m >= 0 ? belief_names[r[m]] : "nothing");
        }
        if (known > matched) {
            if (bad == 0 && cap)
                snprintf(msg, cap, "n%d forgot %zu members without a reaped event", o,
                         known - matched);
            bad += known - matched;
        }
    }
    return bad;
}
