/* Random small clusters for placement's test and benchmark (see the header). */
#include "random_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *rc_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        fprintf(stderr, "random_cluster: out of memory\n");
        abort();
    }
    return p;
}

/* Sizes 1..500 on a log scale, so that small clusters are common too. */
static size_t rc_size(sl_rng *r)
{
    static const size_t top[] = {5, 20, 80, 200, 500};
    size_t t = top[sl_rng_below(r, 5)];
    return 1 + (size_t)sl_rng_below(r, t);
}

void rc_random_member(sl_rng *r, sl_placement_member *m, uint32_t nzones, char *zname)
{
    snprintf(zname, RC_NAME, "z%u", (unsigned)sl_rng_below(r, nzones));
    m->weight = 1 + (uint32_t)sl_rng_below(r, 4);
    m->cpu_milli = sl_rng_below(r, 2) ? 0 : 4000 + 1000 * (uint32_t)sl_rng_below(r, 12);
    m->mem_mb = sl_rng_below(r, 2) ? 0 : 4096 + 1024 * (uint32_t)sl_rng_below(r, 28);
    uint64_t st = sl_rng_below(r, 100);
    m->state = st < 85   ? SL_PLACEMENT_ALIVE
               : st < 95 ? SL_PLACEMENT_SUSPECT
                         : SL_PLACEMENT_DRAINING;
}

void rc_random(rc_cluster *c, sl_rng *r, const rc_options *o)
{
    unsigned mul = o && o->mul ? o->mul : 2;
    size_t nm = rc_size(r);
    size_t ns = 1 + (size_t)sl_rng_below(r, mul * nm + 4);
    memset(c, 0, sizeof *c);
    c->nm = nm;
    c->ns = ns;
    c->m = rc_calloc(nm + 1, sizeof *c->m);
    c->s = rc_calloc(ns + 1, sizeof *c->s);
    c->mname = rc_calloc(nm + 1, RC_NAME);
    c->zname = rc_calloc(nm + 1, RC_NAME);
    c->sname = rc_calloc(ns + 1, RC_NAME);
    c->nzones = 1 + (uint32_t)sl_rng_below(r, 5);
    for (size_t i = 0; i < nm; i++) {
        snprintf(c->mname[i], RC_NAME, "n%zu", i);
        rc_random_member(r, &c->m[i], c->nzones, c->zname[i]);
        c->m[i].name = c->mname[i];
        c->m[i].zone = c->zname[i];
    }
    for (size_t i = 0; i < ns; i++) {
        snprintf(c->sname[i], RC_NAME, "svc%zu", i);
        sl_placement_service *s = &c->s[i];
        s->name = c->sname[i];
        s->replicas = 1 + (uint32_t)sl_rng_below(r, 5);
        s->cpu_milli = sl_rng_below(r, 2) ? 0 : 100 * (1 + (uint32_t)sl_rng_below(r, 10));
        s->mem_mb = sl_rng_below(r, 2) ? 0 : 64 * (1 + (uint32_t)sl_rng_below(r, 16));
        s->spread = sl_rng_below(r, 10) ? SL_PLACEMENT_SPREAD_ZONE : SL_PLACEMENT_SPREAD_NODE;
        if (o && o->no_requests)
            s->cpu_milli = s->mem_mb = 0;
        if (o && o->no_zone_spread)
            s->spread = SL_PLACEMENT_SPREAD_NODE;
    }
}

void rc_free(rc_cluster *c)
{
    free(c->m);
    free(c->s);
    free(c->mname);
    free(c->zname);
    free(c->sname);
    memset(c, 0, sizeof *c);
}

uint64_t rc_total(const rc_cluster *c)
{
    uint64_t t = 0;
    for (size_t i = 0; i < c->ns; i++)
        t += c->s[i].replicas;
    return t;
}

uint64_t rc_eligible_weight(const rc_cluster *c)
{
    uint64_t w = 0;
    for (size_t i = 0; i < c->nm; i++)
        if (c->m[i].state != SL_PLACEMENT_DRAINING)
            w += c->m[i].weight ? c->m[i].weight : 1;
    return w;
}

/* ---- Moves ---- */

int rc_place_starling(void *arg, const sl_placement_member *m, size_t nm,
                      const sl_placement_service *s, size_t ns, int32_t *node)
{
    sl_placement *p = NULL;
    int rc = sl_placement_compute(m, nm, s, ns, arg, &p);
    if (rc)
        return rc;
    size_t k = 0;
    for (size_t i = 0; i < ns; i++)
        for (uint32_t j = 0; j < s[i].replicas; j++)
            node[k++] = sl_placement_node(p, i, j);
    sl_placement_free(p);
    return 0;
}

void rc_stat(rc_stats *st, double moved, double base)
{
    double ratio = moved / base;
    st->sum += ratio;
    st->worst = ratio > st->worst ? ratio : st->worst;
    st->moved_sum += moved;
    st->base_sum += base;
    st->cases++;
}

double rc_mean(const rc_stats *st)
{
    return st->cases ? st->sum / (double)st->cases : 0.0;
}

int rc_place(const rc_cluster *c, rc_place_fn fn, void *arg, int32_t *node)
{
    return fn(arg, c->m, c->nm, c->s, c->ns, node);
}

/* Replicas whose member (by name) differs between a, on c's members, and b,
 * on members bmap maps to c's indexes (-1 for a member c lacks). */
static size_t rc_changed(size_t total, const int32_t *a, const int32_t *b, const int64_t *bmap)
{
    size_t changed = 0;
    for (size_t k = 0; k < total; k++) {
        int64_t bb = b[k] < 0 ? -1 : bmap[b[k]];
        changed += (a[k] < 0 && b[k] >= 0) || (int64_t)a[k] != bb;
    }
    return changed;
}

static uint32_t *rc_loads(const rc_cluster *c, const int32_t *node)
{
    uint32_t *load = rc_calloc(c->nm + 1, sizeof *load);
    uint64_t total = rc_total(c);
    for (uint64_t k = 0; k < total; k++)
        if (node[k] >= 0)
            load[node[k]]++;
    return load;
}

int rc_remove_one(const rc_cluster *c, const int32_t *node, rc_place_fn fn, void *arg, sl_rng *r,
                  rc_stats *st)
{
    uint32_t *load = rc_loads(c, node);
    size_t holders = 0, k = 0;
    for (size_t n = 0; n < c->nm; n++)
        holders += load[n] > 0;
    if (holders == 0) {
        free(load);
        return 0;
    }
    size_t pick = (size_t)sl_rng_below(r, holders);
    for (size_t n = 0; n < c->nm; n++)
        if (load[n] > 0 && pick-- == 0)
            k = n;
    size_t total = rc_total(c);
    sl_placement_member *m = rc_calloc(c->nm, sizeof *m);
    int64_t *map = rc_calloc(c->nm, sizeof *map);
    int32_t *q = rc_calloc(total + 1, sizeof *q);
    for (size_t n = 0, j = 0; n < c->nm; n++)
        if (n != k) {
            map[j] = (int64_t)n;
            m[j++] = c->m[n];
        }
    int rc = fn(arg, m, c->nm - 1, c->s, c->ns, q);
    if (rc == 0)
        rc_stat(st, (double)rc_changed(total, node, q, map), load[k]);
    free(q);
    free(m);
    free(map);
    free(load);
    return rc;
}

int rc_add_one(const rc_cluster *c, const int32_t *node, rc_place_fn fn, void *arg, sl_rng *r,
               rc_stats *st)
{
    size_t total = rc_total(c);
    sl_placement_member *m = rc_calloc(c->nm + 1, sizeof *m);
    int64_t *map = rc_calloc(c->nm + 1, sizeof *map);
    int32_t *q = rc_calloc(total + 1, sizeof *q);
    char zname[RC_NAME];
    for (size_t n = 0; n < c->nm; n++) {
        map[n] = (int64_t)n;
        m[n] = c->m[n];
    }
    map[c->nm] = -1;
    rc_random_member(r, &m[c->nm], c->nzones, zname);
    m[c->nm].name = "new-member";
    m[c->nm].zone = zname;
    m[c->nm].state = SL_PLACEMENT_ALIVE;
    int rc = fn(arg, m, c->nm + 1, c->s, c->ns, q);
    if (rc == 0) {
        double share = (double)total * m[c->nm].weight /
                       (double)(rc_eligible_weight(c) + m[c->nm].weight);
        rc_stat(st, (double)rc_changed(total, node, q, map), share);
    }
    free(q);
    free(m);
    free(map);
    return rc;
}

double rc_max_over_fair(const rc_cluster *c, const int32_t *node)
{
    uint32_t *load = rc_loads(c, node);
    double t = (double)rc_total(c), w = (double)rc_eligible_weight(c), worst = 0;
    for (size_t n = 0; n < c->nm; n++) {
        if (c->m[n].state == SL_PLACEMENT_DRAINING || t == 0)
            continue;
        double share = t * (c->m[n].weight ? c->m[n].weight : 1) / w, x = load[n] / share;
        worst = x > worst ? x : worst;
    }
    free(load);
    return worst;
}
