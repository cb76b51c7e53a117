/* The services tracker. See services.h for what it measures.
 *
 * Replica indexes are "slots": service s owns slots base..base+maxr,
 * where maxr is the largest count any of its writes asks for, and the one
 * more is room for the surge replica of a rolling update (index R while
 * the replicas 0..R-1 are replaced; see placement/reconcile.c). Per side g
 * and slot, cnt counts the live nodes of g on which that replica runs; tot
 * counts them over all sides (duplicates). distinct[g][s] counts the slots
 * of s with cnt > 0, and running() caps it at the count R (a surge replica
 * stands in for a replica being replaced: R replicas run), so a side's
 * deficit for s is max(0, min(R, eligible[g]) - running(g, s)). A hash set holds the
 * (node, slot) pairs counted as running, so that a status change knows
 * what it replaces and a crash can take its node's replicas away. */
#include "services.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define SURGE_SLOTS 1 /* slots above the largest count: a rollout's surge replica */
#define EMPTY 0ull
#define GONE 1ull /* a deleted entry of the running set */

typedef struct svc {
    char name[64];
    uint32_t r;     /* count of the newest acknowledged write anywhere (0: deleted) */
    uint64_t stamp; /* its stamp */
    uint32_t maxr;  /* the largest count; slots: maxr + SURGE_SLOTS */
    uint32_t base;
} svc;

/* What one side can know of a service: the newest write made on it, or
 * brought to it by the sides it was made of. */
typedef struct known {
    uint32_t r;
    uint64_t stamp;
} known;

typedef struct pending_write {
    uint8_t *held;    /* one bit per node: its catalog holds the write */
    uint64_t holders; /* live nodes holding it */
    size_t svc;
    uint32_t r; /* the count it asks for (0: removed) */
} pending_write;

struct sl_sim_svc {
    int max_nodes;
    svc *s;
    size_t ns;
    uint32_t *svc_of_slot;
    uint32_t slots;
    int nsides;
    int *side; /* per node */
    bool *live, *draining;
    int *eligible; /* per side: live and not draining */
    int nlive;
    uint16_t *cnt;      /* nsides * slots */
    uint16_t *tot;      /* slots */
    uint32_t *distinct; /* nsides * ns */
    known *kn;          /* nsides * ns */
    uint64_t deficit, dups;
    uint64_t *set; /* running (node, slot) pairs: key (node << 32 | slot) + 2 */
    size_t set_cap, set_used, set_live;
    sl_sim_svc_window *win;
    size_t nwin, wincap;
    size_t pending_back, pending_dup; /* windows waiting for deficit 0 / no duplicate */
    uint64_t deficit_before;
    bool in_action; /* between action_begin and action_end */
    uint32_t taken; /* running replicas the current action took down (a crash) */
    sl_sim_svc_write *wr;
    pending_write *pw;
    size_t nwr, wrcap;
    size_t unconverged; /* writes not yet held by every live node */
    size_t unsettled;   /* writes whose service does not run at their count yet */
};

/* ---- services by name ---- */

static int by_name(const void *a, const void *b)
{
    return strcmp(((const svc *)a)->name, ((const svc *)b)->name);
}

static long find_svc(const sl_sim_svc *t, const char *name)
{
    size_t lo = 0, hi = t->ns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->s[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- the running set ---- */

static uint64_t key_of(int node, uint32_t slot)
{
    return (((uint64_t)(uint32_t)node << 32) | slot) + 2;
}

static size_t slot_hash(uint64_t k, size_t cap)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static bool set_has(const sl_sim_svc *t, uint64_t k)
{
    if (!t->set_cap)
        return false;
    for (size_t i = slot_hash(k, t->set_cap);; i = (i + 1) & (t->set_cap - 1)) {
        if (t->set[i] == k)
            return true;
        if (t->set[i] == EMPTY)
            return false;
    }
}

static bool set_grow(sl_sim_svc *t)
{
    size_t cap = t->set_cap ? t->set_cap * 2 : 1024;
    while (t->set_live * 4 >= cap)
        cap *= 2;
    uint64_t *n = calloc(cap, sizeof *n);
    if (!n)
        return false;
    for (size_t i = 0; i < t->set_cap; i++)
        if (t->set[i] > GONE)
            for (size_t j = slot_hash(t->set[i], cap);; j = (j + 1) & (cap - 1))
                if (n[j] == EMPTY) {
                    n[j] = t->set[i];
                    break;
                }
    free(t->set);
    t->set = n;
    t->set_cap = cap;
    t->set_used = t->set_live;
    return true;
}

static bool set_add(sl_sim_svc *t, uint64_t k)
{
    if ((t->set_used + 1) * 2 > t->set_cap && !set_grow(t))
        return false;
    size_t i = slot_hash(k, t->set_cap);
    while (t->set[i] > GONE)
        i = (i + 1) & (t->set_cap - 1);
    if (t->set[i] == EMPTY)
        t->set_used++;
    t->set[i] = k;
    t->set_live++;
    return true;
}

static void set_del(sl_sim_svc *t, uint64_t k)
{
    for (size_t i = slot_hash(k, t->set_cap);; i = (i + 1) & (t->set_cap - 1)) {
        if (t->set[i] == EMPTY)
            return;
        if (t->set[i] == k) {
            t->set[i] = GONE;
            t->set_live--;
            return;
        }
    }
}

/* ---- deficits and windows ---- */

/* The count side g must run of service s: what it knows, within its nodes. */
static uint32_t known_r(const sl_sim_svc *t, int g, size_t s)
{
    return t->kn[(size_t)g * t->ns + s].r;
}

/* Replicas of s running on side g, at most its count there. */
static uint32_t running(const sl_sim_svc *t, int g, size_t s)
{
    uint32_t d = t->distinct[(size_t)g * t->ns + s], r = known_r(t, g, s);
    return d < r ? d : r;
}

static uint64_t target(const sl_sim_svc *t, int g, size_t s)
{
    uint32_t e = (uint32_t)t->eligible[g], r = known_r(t, g, s);
    return r < e ? r : e;
}

static uint64_t term(const sl_sim_svc *t, int g, size_t s)
{
    uint64_t want = target(t, g, s), have = running(t, g, s);
    return want > have ? want - have : 0;
}

static sl_sim_svc_window *current(sl_sim_svc *t)
{
    return t->nwin ? &t->win[t->nwin - 1] : NULL;
}

/* Write i's service runs at the write's count on every side: every side
 * knows the write, misses no replica index below the count and runs none
 * at or above it. */
static bool write_running(const sl_sim_svc *t, size_t i)
{
    const pending_write *p = &t->pw[i];
    const svc *sv = &t->s[p->svc];
    for (int g = 0; g < t->nsides; g++)
        if (t->kn[(size_t)g * t->ns + p->svc].stamp < t->wr[i].stamp || term(t, g, p->svc))
            return false;
    for (uint32_t j = p->r; j < sv->maxr + SURGE_SLOTS; j++)
        if (t->tot[sv->base + j])
            return false;
    return true;
}

/* Writes waiting to run at their count get their times, or are superseded. */
static void settle_writes(sl_sim_svc *t, uint64_t now)
{
    for (size_t i = 0; t->unsettled && i < t->nwr; i++) {
        sl_sim_svc_write *w = &t->wr[i];
        if (w->running_ms != SL_SIM_NEVER || w->superseded)
            continue;
        if (t->s[t->pw[i].svc].stamp > w->stamp)
            w->superseded = true;
        else if (write_running(t, i))
            w->running_ms = now - w->at_ms;
        else
            continue;
        t->unsettled--;
    }
}

/* After any change of the deficit or the duplicates: windows waiting for
 * them to reach 0 get their times. */
static void settle(sl_sim_svc *t, uint64_t now)
{
    if (t->unsettled)
        settle_writes(t, now);
    sl_sim_svc_window *w = current(t);
    if (w && t->dups > w->dup_max)
        w->dup_max = t->dups;
    if (t->pending_back && t->deficit == 0) {
        for (size_t i = 0; i < t->nwin; i++)
            if (t->win[i].back_ms == SL_SIM_NEVER)
                t->win[i].back_ms = now - t->win[i].at_ms;
        t->pending_back = 0;
    }
    if (t->pending_dup && t->dups == 0) {
        for (size_t i = 0; i < t->nwin; i++)
            if (t->win[i].a && t->win[i].a->type == SL_SIM_HEAL &&
                t->win[i].dup_gone_ms == SL_SIM_NEVER)
                t->win[i].dup_gone_ms = now - t->win[i].at_ms;
        t->pending_dup = 0;
    }
}

/* The deficit of (g, s) rose after the window began: the window is not back
 * at count until it is 0 again, and a rebalance window records the dip. */
static void dipped(sl_sim_svc *t, int g, size_t s)
{
    sl_sim_svc_window *w = current(t);
    uint64_t want = target(t, g, s);
    if (!w || !want || t->in_action) /* an action's own loss is the next window's */
        return;
    if (w->back_ms != SL_SIM_NEVER) { /* below count again: wait for the next 0 */
        w->back_ms = SL_SIM_NEVER;
        t->pending_back++;
    }
    if (!w->rebalance)
        return;
    uint32_t have = running(t, g, s);
    double f = (double)have / (double)want;
    if (f < w->min_running)
        w->min_running = f;
    if (have < w->min_count)
        w->min_count = have;
}

/* Recomputes every term of side g (its eligible count changed). */
static void retarget_side(sl_sim_svc *t, int g, int delta)
{
    uint64_t before = 0, after = 0;
    for (size_t s = 0; s < t->ns; s++)
        before += term(t, g, s);
    t->eligible[g] += delta;
    for (size_t s = 0; s < t->ns; s++)
        after += term(t, g, s);
    t->deficit = t->deficit - before + after;
}

/* Counts distinct[g][s] afresh and adds its term to the deficit. */
static void recount(sl_sim_svc *t, int g, size_t s)
{
    uint32_t d = 0;
    for (uint32_t i = 0; i < t->s[s].maxr + SURGE_SLOTS; i++)
        d += t->cnt[(size_t)g * t->slots + t->s[s].base + i] > 0;
    t->distinct[(size_t)g * t->ns + s] = d;
    t->deficit += term(t, g, s);
}

/* Side g learns a write of service s (count r, stamp). */
static void learn(sl_sim_svc *t, int g, size_t s, uint32_t r, uint64_t stamp)
{
    known *k = &t->kn[(size_t)g * t->ns + s];
    if (stamp < k->stamp)
        return;
    t->deficit -= term(t, g, s);
    k->r = r < t->s[s].maxr ? r : t->s[s].maxr;
    k->stamp = stamp;
    recount(t, g, s);
}

/* One (node, slot) starts or stops running. */
static void count(sl_sim_svc *t, int node, uint32_t slot, int d)
{
    int g = t->side[node];
    size_t s = t->svc_of_slot[slot];
    uint16_t *c = &t->cnt[(size_t)g * t->slots + slot];
    uint16_t before = *c, after = (uint16_t)(before + d);
    *c = after;
    uint16_t tb = t->tot[slot], ta = (uint16_t)(tb + d);
    t->tot[slot] = ta;
    t->dups = t->dups - (tb > 1 ? tb - 1u : 0) + (ta > 1 ? ta - 1u : 0);
    if ((before > 0) == (after > 0))
        return;
    uint64_t old = term(t, g, s);
    t->distinct[(size_t)g * t->ns + s] += after > 0 ? 1 : (uint32_t)-1;
    uint64_t now_term = term(t, g, s);
    t->deficit = t->deficit - old + now_term;
    if (now_term > old)
        dipped(t, g, s);
}

/* ---- the observer ---- */

static long slot_of(const sl_sim_svc *t, const char *service, uint32_t replica)
{
    long s = find_svc(t, service);
    if (s < 0 || replica >= t->s[s].maxr + SURGE_SLOTS)
        return -1;
    return (long)(t->s[s].base + replica);
}

void sl_sim_svc_replica(void *ud, int node, const sl_vsup_replica *r, bool removed)
{
    sl_sim_svc *t = ud;
    long slot = slot_of(t, r->service, r->replica);
    if (slot < 0 || node < 0 || node >= t->max_nodes)
        return;
    uint64_t k = key_of(node, (uint32_t)slot);
    bool was = set_has(t, k), is = !removed && r->status == SL_REPLICA_RUNNING;
    if (was == is)
        return;
    if (is && !set_add(t, k))
        return; /* out of memory: not counted */
    if (!is)
        set_del(t, k);
    count(t, node, (uint32_t)slot, is ? 1 : -1);
    settle(t, r->at_ms);
}

void sl_sim_svc_started(void *ud, int node, const char *service, uint32_t replica)
{
    sl_sim_svc *t = ud;
    (void)node, (void)service, (void)replica;
    if (t->nwin)
        t->win[t->nwin - 1].starts++;
}

typedef struct down_ctx {
    sl_sim_svc *t;
    int node;
} down_ctx;

static void take_down(void *ud, const sl_vsup_replica *r)
{
    down_ctx *c = ud;
    long slot = slot_of(c->t, r->service, r->replica);
    if (slot < 0)
        return;
    uint64_t k = key_of(c->node, (uint32_t)slot);
    if (!set_has(c->t, k))
        return;
    set_del(c->t, k);
    count(c->t, c->node, (uint32_t)slot, -1);
    c->t->taken++;
}

void sl_sim_svc_node_down(sl_sim_svc *t, int node, const sl_vsup *sup)
{
    down_ctx c = {t, node};
    if (sup && node >= 0 && node < t->max_nodes)
        sl_vsup_foreach(sup, take_down, &c);
}

/* ---- the truth ---- */

static void write_holder(sl_sim_svc *t, int node, uint64_t now);

void sl_sim_svc_up(sl_sim_svc *t, int node, uint64_t now_ms)
{
    if (node < 0 || node >= t->max_nodes || t->live[node])
        return;
    t->live[node] = true;
    t->draining[node] = false;
    t->nlive++;
    retarget_side(t, t->side[node], +1);
    write_holder(t, node, now_ms);
    settle(t, now_ms);
}

void sl_sim_svc_down(sl_sim_svc *t, int node, uint64_t now_ms)
{
    if (node < 0 || node >= t->max_nodes || !t->live[node])
        return;
    t->live[node] = false;
    t->nlive--;
    if (!t->draining[node])
        retarget_side(t, t->side[node], -1);
    t->draining[node] = false;
    write_holder(t, node, now_ms);
    settle(t, now_ms);
}

void sl_sim_svc_drain(sl_sim_svc *t, int node, uint64_t now_ms)
{
    if (node < 0 || node >= t->max_nodes || !t->live[node] || t->draining[node])
        return;
    t->draining[node] = true;
    retarget_side(t, t->side[node], -1);
    settle(t, now_ms);
}

void sl_sim_svc_sides(sl_sim_svc *t, const int *group, int n, uint64_t now_ms)
{
    int sides = 1;
    for (int i = 0; i < n && group; i++)
        if (group[i] + 1 > sides)
            sides = group[i] + 1;
    uint16_t *cnt = calloc((size_t)sides * t->slots + 1, sizeof *cnt);
    uint32_t *distinct = calloc((size_t)sides * t->ns + 1, sizeof *distinct);
    known *kn = calloc((size_t)sides * t->ns + 1, sizeof *kn);
    int *eligible = calloc((size_t)sides, sizeof *eligible);
    bool *pair = calloc((size_t)sides * (size_t)t->nsides, sizeof *pair);
    if (!cnt || !distinct || !kn || !eligible || !pair) {
        free(cnt), free(distinct), free(kn), free(eligible), free(pair);
        return; /* out of memory: the sides stay as they were counted */
    }
    /* A new side knows every write any of its nodes' old sides knew. */
    for (int i = 0; i < t->max_nodes; i++) {
        int g = group && i < n && group[i] > 0 ? group[i] : 0;
        pair[(size_t)g * (size_t)t->nsides + (size_t)t->side[i]] = true;
        t->side[i] = g;
    }
    for (int g = 0; g < sides; g++)
        for (int og = 0; og < t->nsides; og++)
            if (pair[(size_t)g * (size_t)t->nsides + (size_t)og])
                for (size_t s = 0; s < t->ns; s++) {
                    const known *o = &t->kn[(size_t)og * t->ns + s];
                    known *k = &kn[(size_t)g * t->ns + s];
                    if (o->stamp >= k->stamp)
                        *k = *o;
                }
    free(pair);
    free(t->cnt), free(t->distinct), free(t->kn), free(t->eligible);
    t->cnt = cnt, t->distinct = distinct, t->kn = kn, t->eligible = eligible;
    t->nsides = sides;
    for (int i = 0; i < t->max_nodes; i++)
        eligible[t->side[i]] += t->live[i] && !t->draining[i];
    for (size_t i = 0; i < t->set_cap; i++)
        if (t->set[i] > GONE) {
            uint64_t k = t->set[i] - 2;
            cnt[(size_t)t->side[k >> 32] * t->slots + (uint32_t)k]++;
        }
    t->deficit = 0;
    for (int g = 0; g < sides; g++)
        for (size_t s = 0; s < t->ns; s++)
            recount(t, g, s);
    settle(t, now_ms);
}

/* ---- windows ---- */

void sl_sim_svc_action_begin(sl_sim_svc *t, const sl_sim_action *a, uint64_t now_ms)
{
    (void)a, (void)now_ms;
    t->deficit_before = t->deficit;
    t->in_action = true;
    t->taken = 0;
}

static void open_window(sl_sim_svc *t, const sl_sim_action *a, uint64_t now, uint64_t before)
{
    if (t->nwin == t->wincap) {
        size_t cap = t->wincap ? 2 * t->wincap : 16;
        sl_sim_svc_window *n = realloc(t->win, cap * sizeof *n);
        if (!n)
            return;
        t->win = n;
        t->wincap = cap;
    }
    sl_sim_svc_window *w = &t->win[t->nwin++];
    *w = (sl_sim_svc_window){.a = a,
                             .at_ms = now,
                             .lost = t->deficit > before ? (uint32_t)(t->deficit - before) : 0,
                             .back_ms = t->deficit ? SL_SIM_NEVER : 0,
                             .min_running = 1.0,
                             .dup_max = t->dups,
                             .dup_gone_ms = 0};
    /* An `unhealthy` loses its replicas later, by their checks: a fault, not a rebalance. */
    /* A crash that took only a replica the count did not need (a surge
     * replica, one being handed off) loses nothing, but is a fault too. */
    w->rebalance = a && before == 0 && w->lost == 0 && t->taken == 0 &&
                   a->type != SL_SIM_HEAL && a->type != SL_SIM_UNHEALTHY;
    w->min_count = UINT64_MAX;
    for (int g = 0; w->rebalance && g < t->nsides; g++) /* every service runs its count */
        for (size_t s = 0; s < t->ns; s++)
            if (target(t, g, s) && running(t, g, s) < w->min_count)
                w->min_count = running(t, g, s);
    if (w->back_ms == SL_SIM_NEVER)
        t->pending_back++;
    if (a && a->type == SL_SIM_HEAL && t->dups) {
        w->dup_gone_ms = SL_SIM_NEVER;
        t->pending_dup++;
    }
}

void sl_sim_svc_action_end(sl_sim_svc *t, const sl_sim_action *a, uint64_t now_ms)
{
    t->in_action = false;
    open_window(t, a, now_ms, t->deficit_before);
}

/* ---- writes ---- */

static bool holds(const sl_catalog *cat, const char *name, uint64_t stamp)
{
    const sl_service *r = cat ? sl_catalog_find_any(cat, name) : NULL;
    return r && r->stamp >= stamp;
}

static void check_write(sl_sim_svc *t, size_t i, uint64_t now)
{
    if (t->wr[i].converged_ms == SL_SIM_NEVER && t->pw[i].holders >= (uint64_t)t->nlive &&
        t->nlive > 0) {
        t->wr[i].converged_ms = now - t->wr[i].at_ms;
        t->unconverged--;
    }
}

/* A node came up (empty-handed until its catalog is seen) or went down. */
static void write_holder(sl_sim_svc *t, int node, uint64_t now)
{
    for (size_t i = 0; t->unconverged && i < t->nwr; i++) {
        pending_write *p = &t->pw[i];
        uint8_t bit = (uint8_t)(1u << (node & 7));
        if (p->held[node >> 3] & bit) {
            p->held[node >> 3] &= (uint8_t)~bit;
            p->holders--;
        }
        check_write(t, i, now);
    }
}

void sl_sim_svc_add_write(sl_sim_svc *t, const sl_sim_action *a, const char *name,
                          uint32_t replicas, bool deleted, uint64_t stamp, uint64_t now_ms)
{
    long s = find_svc(t, name);
    if (s < 0)
        return;
    if (stamp >= t->s[s].stamp) {
        t->s[s].stamp = stamp;
        t->s[s].r = deleted ? 0 : replicas;
    }
    int via = a && a->via >= 0 && a->via < t->max_nodes ? a->via : 0;
    learn(t, t->side[via], (size_t)s, deleted ? 0 : replicas, stamp);
    if (t->nwr == t->wrcap) {
        size_t cap = t->wrcap ? 2 * t->wrcap : 8;
        sl_sim_svc_write *w = realloc(t->wr, cap * sizeof *w);
        if (w)
            t->wr = w;
        pending_write *p = w ? realloc(t->pw, cap * sizeof *p) : NULL;
        if (p)
            t->pw = p;
        if (!w || !p)
            return;
        t->wrcap = cap;
    }
    uint8_t *held = calloc((size_t)t->max_nodes / 8 + 1, 1);
    if (!held)
        return;
    t->pw[t->nwr] = (pending_write){held, 0, (size_t)s, deleted ? 0 : replicas};
    t->wr[t->nwr++] = (sl_sim_svc_write){.a = a,
                                         .at_ms = now_ms,
                                         .stamp = stamp,
                                         .converged_ms = SL_SIM_NEVER,
                                         .running_ms = SL_SIM_NEVER};
    t->unconverged++;
    t->unsettled++;
    settle(t, now_ms);
}

void sl_sim_svc_catalog(sl_sim_svc *t, int node, const sl_catalog *cat, uint64_t now_ms)
{
    /* Called on every message a node takes in: nothing to do, mostly. */
    if (!t->unconverged || node < 0 || node >= t->max_nodes || !t->live[node])
        return;
    for (size_t i = 0; i < t->nwr; i++) {
        pending_write *p = &t->pw[i];
        uint8_t bit = (uint8_t)(1u << (node & 7));
        if (t->wr[i].converged_ms != SL_SIM_NEVER || (p->held[node >> 3] & bit))
            continue;
        if (!holds(cat, t->s[p->svc].name, t->wr[i].stamp))
            continue;
        p->held[node >> 3] |= bit;
        p->holders++;
        check_write(t, i, now_ms);
    }
}

void sl_sim_svc_finish(sl_sim_svc *t, const sl_catalog *(*cat)(const void *ud, int node),
                       const void *ud, uint64_t now_ms)
{
    (void)now_ms;
    for (size_t i = 0; i < t->nwr; i++) {
        bool somewhere = false;
        for (int n = 0; n < t->max_nodes && !somewhere; n++)
            somewhere = t->live[n] && holds(cat(ud, n), t->s[t->pw[i].svc].name, t->wr[i].stamp);
        t->wr[i].lost = !somewhere;
    }
}

/* ---- results ---- */

void sl_sim_svc_sample_now(const sl_sim_svc *t, sl_sim_svc_sample *out)
{
    memset(out, 0, sizeof *out);
    for (int g = 0; g < t->nsides; g++)
        for (size_t s = 0; s < t->ns; s++) {
            out->running += running(t, g, s);
            out->target += target(t, g, s);
        }
    out->deficit = t->deficit;
    out->duplicates = t->dups;
}

const sl_sim_svc_window *sl_sim_svc_windows(const sl_sim_svc *t, size_t *n)
{
    *n = t->nwin;
    return t->win;
}

const sl_sim_svc_write *sl_sim_svc_writes(const sl_sim_svc *t, size_t *n)
{
    *n = t->nwr;
    return t->wr;
}

size_t sl_sim_svc_count(const sl_sim_svc *t)
{
    return t->ns;
}

void sl_sim_svc_info_get(const sl_sim_svc *t, size_t i, sl_sim_svc_info *out)
{
    memset(out, 0, sizeof *out);
    if (i >= t->ns)
        return;
    out->name = t->s[i].name;
    out->replicas = t->s[i].r;
    for (int g = 0; g < t->nsides; g++) {
        out->running += running(t, g, i);
        out->target += target(t, g, i);
    }
}

static bool is_write(const sl_sim_action *a)
{
    return a->type == SL_SIM_DEPLOY || a->type == SL_SIM_SCALE || a->type == SL_SIM_RM;
}

void sl_sim_svc_figures_get(const sl_sim_svc *t, sl_sim_svc_figures *f)
{
    memset(f, 0, sizeof *f);
    f->min_fraction = 1.0;
    f->min_running = UINT64_MAX;
    for (size_t i = 0; i < t->nwin; i++) {
        const sl_sim_svc_window *w = &t->win[i];
        if (!w->a)
            continue; /* the start of the run */
        f->has_back = true;
        if (w->back_ms == SL_SIM_NEVER || (f->back_ms != SL_SIM_NEVER && w->back_ms > f->back_ms))
            f->back_ms = w->back_ms;
        if (w->rebalance && w->min_count != UINT64_MAX) {
            f->has_min = true;
            if (w->min_running < f->min_fraction)
                f->min_fraction = w->min_running;
            if (w->min_count < f->min_running)
                f->min_running = w->min_count;
        }
        if (w->a->type == SL_SIM_HEAL) {
            f->has_dup = true;
            if (w->dup_gone_ms == SL_SIM_NEVER ||
                (f->dup_gone_ms != SL_SIM_NEVER && w->dup_gone_ms > f->dup_gone_ms))
                f->dup_gone_ms = w->dup_gone_ms;
        }
        if (w->lost && !is_write(w->a)) {
            f->lost += w->lost;
            f->starts += w->starts;
        }
    }
    f->has_starts = f->lost > 0;
    f->starts_per_lost = f->lost ? (double)f->starts / (double)f->lost : 0;
    for (size_t i = 0; i < t->nwr; i++) {
        f->has_writes = true;
        f->lost_writes += t->wr[i].lost;
        if (t->wr[i].converged_ms == SL_SIM_NEVER ||
            (f->catalog_ms != SL_SIM_NEVER && t->wr[i].converged_ms > f->catalog_ms))
            f->catalog_ms = t->wr[i].converged_ms;
        if (t->wr[i].superseded)
            continue;
        f->has_write_running = true;
        if (t->wr[i].running_ms == SL_SIM_NEVER ||
            (f->write_running_ms != SL_SIM_NEVER && t->wr[i].running_ms > f->write_running_ms))
            f->write_running_ms = t->wr[i].running_ms;
    }
}

/* ---- creation ---- */

sl_sim_svc *sl_sim_svc_new(const sl_sim_scenario *sc, int max_nodes)
{
    sl_sim_svc *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->max_nodes = max_nodes;
    t->s = calloc(sc->nservices + sc->nactions + 1, sizeof *t->s);
    t->side = calloc((size_t)max_nodes + 1, sizeof *t->side);
    t->live = calloc((size_t)max_nodes + 1, sizeof *t->live);
    t->draining = calloc((size_t)max_nodes + 1, sizeof *t->draining);
    if (!t->s || !t->side || !t->live || !t->draining)
        goto oom;
    /* Initial services are unique by name (the parser says so); a name
     * first written by an action is appended and the list sorted again. */
    for (size_t i = 0; i < sc->nservices; i++) {
        svc *x = &t->s[t->ns++];
        snprintf(x->name, sizeof x->name, "%s", sc->services[i].name);
        x->maxr = sc->services[i].replicas;
        x->r = sc->services[i].replicas;
    }
    qsort(t->s, t->ns, sizeof *t->s, by_name);
    for (size_t i = 0; i < sc->nactions; i++) {
        const sl_sim_action *a = &sc->actions[i];
        if (a->type != SL_SIM_DEPLOY && a->type != SL_SIM_SCALE)
            continue;
        long s = find_svc(t, a->service);
        if (s >= 0) {
            if (a->replicas > t->s[s].maxr)
                t->s[s].maxr = a->replicas;
            continue;
        }
        svc *x = &t->s[t->ns++]; /* zeroed by calloc */
        snprintf(x->name, sizeof x->name, "%s", a->service);
        x->maxr = a->replicas;
        qsort(t->s, t->ns, sizeof *t->s, by_name);
    }
    for (size_t s = 0; s < t->ns; s++) {
        t->s[s].base = t->slots;
        t->slots += t->s[s].maxr + SURGE_SLOTS;
    }
    t->svc_of_slot = calloc((size_t)t->slots + 1, sizeof *t->svc_of_slot);
    t->tot = calloc((size_t)t->slots + 1, sizeof *t->tot);
    if (!t->svc_of_slot || !t->tot)
        goto oom;
    for (size_t s = 0; s < t->ns; s++)
        for (uint32_t i = 0; i < t->s[s].maxr + SURGE_SLOTS; i++)
            t->svc_of_slot[t->s[s].base + i] = (uint32_t)s;
    t->nsides = 1;
    t->cnt = calloc((size_t)t->slots + 1, sizeof *t->cnt);
    t->distinct = calloc(t->ns + 1, sizeof *t->distinct);
    t->kn = calloc(t->ns + 1, sizeof *t->kn);
    t->eligible = calloc(1, sizeof *t->eligible);
    if (!t->cnt || !t->distinct || !t->kn || !t->eligible)
        goto oom;
    for (size_t s = 0; s < t->ns; s++)
        t->kn[s] = (known){t->s[s].r, 0};
    /* Every node is down: the initial services' deficit is 0 until nodes
     * come up; the window of the run's start measures how long it takes. */
    open_window(t, NULL, 0, 0);
    return t;
oom:
    sl_sim_svc_free(t);
    return NULL;
}

void sl_sim_svc_free(sl_sim_svc *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nwr; i++)
        free(t->pw[i].held);
    free(t->pw);
    free(t->wr);
    free(t->win);
    free(t->set);
    free(t->cnt);
    free(t->tot);
    free(t->distinct);
    free(t->kn);
    free(t->eligible);
    free(t->svc_of_slot);
    free(t->side);
    free(t->live);
    free(t->draining);
    free(t->s);
    free(t);
}
