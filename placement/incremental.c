/* Incremental placement: see include/starling/placement.h.
 *
 * Where a full run spends its time. sl_placement_compute() ranks every
 * eligible member for every replica once, to build the replica's candidate
 * list (candidates.c: its CAND_MAX best members by exact score, then
 * canonical index, among the members that could ever host it), about
 * T * M pair hashes; the greedy that follows (placement.c, both passes)
 * walks those lists, with a heap of T proposals. At 1,000 members and
 * 10,000 x 3 replicas the lists are nearly all of the time.
 *
 * What a change can affect. The greedy is global: a member change moves the
 * load bounds of every member (W changes) and any replica may end up
 * elsewhere through the loads, the capacities and the zone counts. So the
 * greedy is not patched: it runs again, whole, with the same code as a full
 * run. What is reused is the candidate lists, and a list depends on much
 * less: on the replica's key (its service's name and its index), on its
 * service's cpu and memory requests, and on the set of eligible members
 * with their hash, weight and capacities. Not on zones, loads, bounds,
 * other replicas or alive/suspect.
 *
 * Patching a list exactly. Call "changed" a member that was added or
 * removed, or whose eligibility, weight or capacities differ (a zone change
 * does not count: lists ignore zones, and zones are recomputed from the new
 * input anyway). The other members keep their scores with every replica,
 * and their canonical indexes keep their relative order (both inputs are
 * sorted by name), so the ranking (score, index) among them is unchanged.
 * Then, for a replica whose service kept its name and requests:
 * - if its old list holds a changed member, it is recomputed from scratch
 *   (sl__placement_build_candidates(), lazily, as in a full run);
 * - otherwise the old list is the top min(CAND_MAX, f) of the unchanged
 *   members (f = how many of them fit): no changed member was in it, and a
 *   changed member outside a list that is not full could not fit. The new
 *   list is the top of the unchanged members merged with the changed ones
 *   that fit now, each scored exactly (the same integers as candidates.c),
 *   so it is that list with each such member inserted at its (score, index)
 *   place, cut to CAND_MAX. The count of fitting members moves by one per
 *   changed member that fits now and did not, or the reverse, which gives
 *   `complete` exactly.
 * So every list is, entry by entry, the list a full run builds on the new
 * input, the greedy runs the same code on the same lists and bounds, and the
 * result is the same bit for bit (ties between equal scores, which need
 * equal 53-bit draws, are broken by index in both, though no test can make
 * one happen). Lists of new replicas, or of a service
 * whose requests changed, are built lazily like in a full run.
 *
 * Natives kept. The greedy runs twice (placement.c, "natives first"): the
 * first run has no load bound, and when no service requests cpu or memory
 * nothing else ties one service to another in it (loads are unbounded,
 * capacities never bind), so each service's natives follow from its own
 * replicas alone: their lists, preferred zones and quotas, the zones of the
 * listed members and the eligible zones, its spread and replica count. When
 * a replica scans past its list, it looks at every member of its preferred
 * zone (best_in_zone) or at every member (scan_all): a service that did so
 * (psvc.scan_zone) is reused only when it scanned one zone and no changed
 * or moved member was or is in that zone, or when each such member, in its
 * old and its new version, scores above the worst score any of the
 * service's scans found (prep.scan_hi, strictly): it then won no scan and
 * wins none, the other members keep their scores and relative order, so
 * every scan, hence the service's whole first greedy, finds the same. A service is given its old natives (prep.preset; granted
 * before the first run, which then runs for the other services only) when,
 * in both the old and the new input, no service requests cpu or memory,
 * the zones are the same ids with the same hashes and eligibility, and
 * the service kept its replicas, requests and spread, did not scan (as
 * above), had
 * every replica placed, and every replica's list is the old one entry for
 * entry, as complete, with no listed member in another zone. The second
 * run (the overflow, with the bounds) always runs whole.
 *
 * Cost of an incremental call: loading the new input (sorting is skipped
 * when it is already sorted), one merge of the old and new names, about
 * 16 T / M recomputed lists per changed member (those that held it), one
 * bounded score per replica and changed member, and the greedy. The greedy
 * is what remains: the second run, and the first for the services a
 * change touched; BENCHMARKS.md ("Incremental placement") measures it. */
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/placement.h"

#include "ctx.h"

struct sl_placement_cache {
    bool valid;
    ctx c;        /* the last input, solved: every list built */
    char **name;  /* c.nn member names, canonical order, owned */
    char **sname; /* c.ns service names, canonical order, owned */
    sl_placement_options opts;
    sl_placement_cache_stats stats;
    /* The replica arrays of the ctx before c, reused by the next call: a
     * call needs the old ctx and a new one at once anyway, and memory
     * already mapped is cheaper to write than fresh pages. */
    ctx_spare spare;
};

/* One changed member: its canonical index before and after, -1 when it was
 * added (old) or removed (new). */
typedef struct change {
    int32_t old;
    int32_t now;
} change;

/* The diff of an incremental call. */
typedef struct diff {
    int32_t *moved; /* old member -> new index when unchanged, else -1 */
    int32_t *mfrom; /* new member -> old index with the same name, or -1 */
    int32_t *sfrom; /* new service -> old index with the same name, or -1 */
    bool *zmoved;   /* new member -> kept but its zone id changed */
    change ch[SL_PLACEMENT_CACHE_CHANGES_MAX];
    uint32_t nch;     /* changed members */
    uint32_t changes; /* all changes, members and services */
} diff;

sl_placement_cache *sl_placement_cache_new(void)
{
    return calloc(1, sizeof(sl_placement_cache));
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void cache_clear(sl_placement_cache *k)
{
    if (k->valid) {
        free_names(k->name, k->c.nn);
        free_names(k->sname, k->c.ns);
        sl__placement_ctx_free(&k->c);
    }
    k->valid = false;
    k->name = k->sname = NULL;
    sl__placement_spare_free(&k->spare);
}

void sl_placement_cache_free(sl_placement_cache *cache)
{
    if (!cache)
        return;
    cache_clear(cache);
    free(cache);
}

void sl_placement_cache_stats_get(const sl_placement_cache *cache, sl_placement_cache_stats *out)
{
    *out = cache->stats;
}

static bool fits_static(const pnode *n, uint32_t cpu, uint32_t mem)
{
    return n->eligible && sl__placement_fits_cap(n->cpu_cap, 0, cpu) &&
           sl__placement_fits_cap(n->mem_cap, 0, mem);
}

/* Whether a member's fields that candidate lists read are the same. */
static bool same_member(const pnode *a, const pnode *b)
{
    return a->eligible == b->eligible && a->weight == b->weight && a->cpu_cap == b->cpu_cap &&
           a->mem_cap == b->mem_cap;
}

static bool same_service(const psvc *a, const psvc *b)
{
    return a->replicas == b->replicas && a->cpu == b->cpu && a->mem == b->mem &&
           a->spread == b->spread;
}

/* Merges the old names (sorted) with the new canonical ones: sets
 * from[i] to the old index of new i's name, or -1. Returns how many old
 * names have no new one. */
static size_t match_names(char *const *old, size_t nold,
                          const char *(*name_of)(const void *, size_t), const void *ud, size_t nnew,
                          int32_t *from)
{
    size_t i = 0, j = 0, matched = 0;
    while (i < nnew) {
        int c = j < nold ? strcmp(old[j], name_of(ud, i)) : 1;
        if (c < 0) {
            j++;
        } else if (c > 0) {
            from[i++] = -1;
        } else {
            from[i++] = (int32_t)j++;
            matched++;
        }
    }
    return nold - matched;
}

typedef struct inputs {
    const ctx *c;
    const sl_placement_member *members;
    const sl_placement_service *services;
} inputs;

static const char *member_name(const void *ud, size_t i)
{
    const inputs *in = ud;
    return in->members[in->c->nodes[i].input].name;
}

static const char *service_name(const void *ud, size_t i)
{
    const inputs *in = ud;
    return in->services[in->c->svcs[i].input].name;
}

/* Fills d from the cache and the prepared new context n; d->changes says
 * how many changes there are (more than the maximum stops counting).
 * Returns 0 or SL_ENOMEM. */
static int make_diff(const sl_placement_cache *k, const ctx *n, const inputs *in, diff *d)
{
    const ctx *o = &k->c;
    d->moved = malloc((o->nn ? o->nn : 1) * sizeof *d->moved);
    d->mfrom = malloc((n->nn ? n->nn : 1) * sizeof *d->mfrom);
    d->sfrom = malloc((n->ns ? n->ns : 1) * sizeof *d->sfrom);
    d->zmoved = calloc(n->nn ? n->nn : 1, sizeof *d->zmoved);
    if (!d->moved || !d->mfrom || !d->sfrom || !d->zmoved)
        return SL_ENOMEM;
    d->nch = 0;
    d->changes = 0;
    size_t gone = match_names(k->name, o->nn, member_name, in, n->nn, d->mfrom);
    for (size_t j = 0; j < o->nn; j++)
        d->moved[j] = -1;
    for (size_t i = 0; i < n->nn; i++) {
        int32_t j = d->mfrom[i];
        d->zmoved[i] = j >= 0 && o->nodes[j].zone != n->nodes[i].zone;
        if (j >= 0 && same_member(&o->nodes[j], &n->nodes[i])) {
            d->moved[j] = (int32_t)i;
            continue;
        }
        if (d->nch < SL_PLACEMENT_CACHE_CHANGES_MAX)
            d->ch[d->nch] = (change){j, (int32_t)i};
        d->nch++;
    }
    if (gone) { /* the removed members: old indexes with no new name */
        bool *kept = calloc(o->nn ? o->nn : 1, sizeof *kept);
        if (!kept)
            return SL_ENOMEM;
        for (size_t i = 0; i < n->nn; i++)
            if (d->mfrom[i] >= 0)
                kept[d->mfrom[i]] = true;
        for (size_t j = 0; j < o->nn; j++)
            if (!kept[j]) {
                if (d->nch < SL_PLACEMENT_CACHE_CHANGES_MAX)
                    d->ch[d->nch] = (change){(int32_t)j, -1};
                d->nch++;
            }
        free(kept);
    }
    d->changes = d->nch;
    d->changes += (uint32_t)match_names(k->sname, o->ns, service_name, in, n->ns, d->sfrom);
    for (size_t i = 0; i < n->ns; i++) {
        int32_t j = d->sfrom[i];
        d->changes += j < 0 || !same_service(&o->svcs[j], &n->svcs[i]);
    }
    return 0;
}

/* Whether (sa, na) ranks before (sb, nb): score, then canonical index. */
static bool ranks_before(uint64_t sa, uint32_t na, uint64_t sb, uint32_t nb)
{
    return sa != sb ? sa < sb : na < nb;
}

typedef enum patched { LIST_UNSET, LIST_PATCHED, LIST_SAME } patched;

/* Sets new replica rn's list from old replica ro's (same key, same
 * requests) and the changes, as the top of this file explains. Returns
 * LIST_UNSET, leaving rn's list to be built, when the old list held a
 * changed member; LIST_SAME when the list is the old one entry for entry
 * (indexes remapped) and as complete. */
static patched patch_list(const ctx *o, uint32_t ro, ctx *n, uint32_t rn, const diff *d)
{
    const prep *a = &o->reps[ro];
    prep *b = &n->reps[rn];
    bool inserted = false;
    if (a->ncand == CAND_UNSET)
        return LIST_UNSET;
    const uint32_t *ocn = &o->cand[(size_t)ro * CAND_MAX];
    const uint64_t *ocs = &o->cand_score[(size_t)ro * CAND_MAX];
    uint32_t *cn = &n->cand[(size_t)rn * CAND_MAX];
    uint64_t *cs = &n->cand_score[(size_t)rn * CAND_MAX];
    size_t k = a->ncand;
    for (size_t i = 0; i < k; i++) {
        int32_t m = d->moved[ocn[i]];
        if (m < 0)
            return LIST_UNSET;
        cn[i] = (uint32_t)m;
        cs[i] = ocs[i];
    }
    const psvc *s = &n->svcs[b->svc];
    uint32_t fitting = a->fitting;
    for (uint32_t c = 0; c < d->nch; c++) {
        const change *x = &d->ch[c];
        bool was = x->old >= 0 && fits_static(&o->nodes[x->old], s->cpu, s->mem);
        bool is = x->now >= 0 && fits_static(&n->nodes[x->now], s->cpu, s->mem);
        fitting = fitting - was + is;
        if (!is)
            continue;
        const pnode *p = &n->nodes[x->now];
        uint32_t at = (uint32_t)x->now;
        uint64_t limit = UINT64_MAX;
        if (k == CAND_MAX)
            limit = cs[k - 1] == UINT64_MAX ? UINT64_MAX : cs[k - 1] + 1;
        uint64_t sc = sl__placement_score_below(b->key, p->hash, p->weight, limit);
        if (k == CAND_MAX && (sc >= limit || !ranks_before(sc, at, cs[k - 1], cn[k - 1])))
            continue;
        size_t j = k < CAND_MAX ? k++ : k - 1;
        while (j > 0 && ranks_before(sc, at, cs[j - 1], cn[j - 1])) {
            cs[j] = cs[j - 1];
            cn[j] = cn[j - 1];
            j--;
        }
        cs[j] = sc;
        cn[j] = at;
        inserted = true;
    }
    if (k != (fitting < CAND_MAX ? fitting : CAND_MAX))
        return LIST_UNSET; /* cannot happen; a fresh list is always right */
    b->ncand = (uint8_t)k;
    b->fitting = fitting;
    b->complete = fitting <= CAND_MAX;
    return !inserted && b->complete == a->complete ? LIST_SAME : LIST_PATCHED;
}

/* Whether zones look the same to the greedy in both contexts: the same
 * ids with the same hashes and eligibility (members' ids are compared
 * one by one, d->zmoved). */
static bool same_zones(const ctx *o, const ctx *n)
{
    return o->nzones == n->nzones &&
           !memcmp(o->zone_hash, n->zone_hash, n->nzones * sizeof *n->zone_hash) &&
           !memcmp(o->zone_elig, n->zone_elig, n->nzones * sizeof *n->zone_elig);
}

/* Whether member p, in zone z and eligible, scores above hi with key. */
static bool above(const pnode *p, uint32_t z, uint64_t key, uint64_t hi)
{
    return !p->eligible || p->zone != z || sl__placement_score_below(key, p->hash, p->weight, hi + 1) > hi;
}

/* Whether the first greedy's scans of zone z by the replicas of old service
 * t find the same members on the new input: every member of z that a
 * change added, removed, altered or moved in or out of the zone scores, in
 * both its old and its new version, above every score such a scan found
 * (prep.scan_hi), so that it won no scan and wins none. zmoved lists the
 * new indexes of the members that changed zone. */
static bool scans_kept(const ctx *o, const ctx *n, const diff *d, const uint32_t *zmoved,
                       size_t nzmoved, const psvc *t, uint32_t z)
{
    for (uint32_t r = 0; r < t->replicas; r++) {
        const prep *a = &o->reps[t->first + r];
        if (!a->scanned)
            continue;
        if (a->scan_hi == UINT64_MAX)
            return false;
        for (uint32_t c = 0; c < d->nch; c++) {
            const change *x = &d->ch[c];
            if (x->old >= 0 && !above(&o->nodes[x->old], z, a->key, a->scan_hi))
                return false;
            if (x->now >= 0 && !above(&n->nodes[x->now], z, a->key, a->scan_hi))
                return false;
        }
        for (size_t i = 0; i < nzmoved; i++) {
            uint32_t m = zmoved[i];
            if (!above(&o->nodes[d->mfrom[m]], z, a->key, a->scan_hi) ||
                !above(&n->nodes[m], z, a->key, a->scan_hi))
                return false;
        }
    }
    return true;
}

/* Gives the replicas of n the lists of the cache's replicas that the diff
 * allows, and their natives when `natives` (the first greedy of both runs
 * is per service) and the service's are sure to be the same (the top of
 * this file says when); counts them in the stats. */
static void patch_lists(sl_placement_cache *k, ctx *n, const diff *d, bool natives)
{
    const ctx *o = &k->c;
    /* The zones a changed or moved member was or is in (zone ids are the
     * same in both when natives may be kept). */
    bool *touched = natives ? calloc(n->nzones ? n->nzones : 1, sizeof *touched) : NULL;
    natives = natives && touched;
    for (uint32_t c = 0; natives && c < d->nch; c++) {
        if (d->ch[c].old >= 0)
            touched[o->nodes[d->ch[c].old].zone] = true;
        if (d->ch[c].now >= 0)
            touched[n->nodes[d->ch[c].now].zone] = true;
    }
    uint32_t *zmoved = NULL;
    size_t nzmoved = 0;
    for (size_t i = 0; natives && i < n->nn; i++)
        if (d->zmoved[i]) {
            touched[n->nodes[i].zone] = true;
            touched[o->nodes[d->mfrom[i]].zone] = true;
            nzmoved++;
        }
    if (nzmoved && !(zmoved = malloc(nzmoved * sizeof *zmoved)))
        natives = false;
    for (size_t i = 0, j = 0; natives && j < nzmoved; i++)
        if (d->zmoved[i])
            zmoved[j++] = (uint32_t)i;
    for (size_t i = 0; i < n->ns; i++) {
        int32_t j = d->sfrom[i];
        const psvc *s = &n->svcs[i];
        if (j < 0 || o->svcs[j].cpu != s->cpu || o->svcs[j].mem != s->mem)
            continue;
        const psvc *t = &o->svcs[j];
        uint32_t common = t->replicas < s->replicas ? t->replicas : s->replicas;
        bool rescan = natives && t->scan_zone != NO_ZONE && t->scan_zone != SCAN_ANY &&
                      touched[t->scan_zone];
        bool same = natives && same_service(t, s) &&
                    (t->scan_zone == NO_ZONE ||
                     (t->scan_zone != SCAN_ANY &&
                      (!rescan || scans_kept(o, n, d, zmoved, nzmoved, t, t->scan_zone))));
        for (uint32_t r = 0; r < common; r++) {
            patched how = patch_list(o, t->first + r, n, s->first + r, d);
            if (how == LIST_UNSET)
                k->stats.lists_rebuilt++;
            else
                k->stats.lists_kept++;
            int32_t nat = o->reps[t->first + r].native;
            same = same && how == LIST_SAME && nat >= 0 && d->moved[nat] >= 0;
            const uint32_t *cn = &n->cand[(size_t)(s->first + r) * CAND_MAX];
            for (uint32_t e = 0; same && e < n->reps[s->first + r].ncand; e++)
                same = !d->zmoved[cn[e]];
        }
        if (!same)
            continue;
        n->svcs[i].scan_zone = t->scan_zone; /* it is not run: it scanned there */
        for (uint32_t r = 0; r < s->replicas; r++) {
            const prep *a = &o->reps[t->first + r];
            prep *b = &n->reps[s->first + r];
            b->preset = true;
            b->native = d->moved[a->native];
            b->native_score = a->native_score;
            b->scanned = a->scanned; /* its scans would find the same */
            b->scan_hi = a->scan_hi;
        }
        k->stats.natives_kept++;
        k->stats.scans_kept += rescan;
    }
    free(touched);
    free(zmoved);
}

/* Takes the names of the new input into the cache: an old copy where the
 * name is kept, a new copy otherwise; frees the old ones that went. Returns
 * 0 or SL_ENOMEM (then frees everything it made). */
static int take_names(char **old, size_t nold, const int32_t *from, size_t nnew,
                      const char *(*name_of)(const void *, size_t), const void *ud, char ***out)
{
    char **v = calloc(nnew ? nnew : 1, sizeof *v);
    if (!v)
        return SL_ENOMEM;
    for (size_t i = 0; i < nnew; i++) {
        if (from && from[i] >= 0) {
            v[i] = old[from[i]];
            continue;
        }
        v[i] = strdup(name_of(ud, i));
        if (!v[i]) {
            for (size_t j = 0; j < i; j++)
                if (!from || from[j] < 0)
                    free(v[j]);
            free(v);
            return SL_ENOMEM;
        }
    }
    for (size_t i = 0; from && i < nnew; i++)
        if (from[i] >= 0)
            old[from[i]] = NULL; /* now owned by v */
    free_names(old, nold);
    *out = v;
    return 0;
}

int sl_placement_cache_compute(sl_placement_cache *cache, const sl_placement_member *members,
                               size_t nmembers, const sl_placement_service *services,
                               size_t nservices, const sl_placement_options *opts,
                               sl_placement **out)
{
    sl_placement_options defaults;
    sl_placement_options_init(&defaults);
    const sl_placement_options *o = opts ? opts : &defaults;
    if (!cache || !out)
        return SL_EINVAL;
    ctx n;
    diff d = {0};
    int rc = sl__placement_prepare(&n, members, nmembers, services, nservices, o, &cache->spare);
    inputs in = {&n, members, services};
    /* Avoid lists (members that gave a service up) are rare and short-lived:
     * an input that has one, or follows one, is placed in full. */
    bool inc = rc == 0 && cache->valid && cache->opts.eps_milli == o->eps_milli &&
               cache->opts.unbounded == o->unbounded && !n.has_avoid && !cache->c.has_avoid;
    if (inc) {
        rc = make_diff(cache, &n, &in, &d);
        inc = rc == 0 && d.changes <= SL_PLACEMENT_CACHE_CHANGES_MAX;
    }
    if (inc)
        patch_lists(cache, &n, &d,
                    !o->unbounded && cache->c.no_requests && n.no_requests &&
                        same_zones(&cache->c, &n));
    if (rc == 0)
        rc = sl__placement_solve(&n, o);
    sl_placement *p = NULL;
    if (rc == 0 && !(p = sl__placement_result(&n, nmembers, nservices)))
        rc = SL_ENOMEM;
    /* The new input and its lists replace the cache's. */
    char **name = NULL, **sname = NULL;
    bool had = cache->valid;
    if (rc == 0)
        rc = take_names(had ? cache->name : NULL, had ? cache->c.nn : 0, had ? d.mfrom : NULL, n.nn,
                        member_name, &in, &name);
    if (had && rc == 0)
        cache->name = NULL; /* freed or moved by take_names */
    if (rc == 0) {
        rc = take_names(had ? cache->sname : NULL, had ? cache->c.ns : 0, had ? d.sfrom : NULL,
                        n.ns, service_name, &in, &sname);
        if (had && rc == 0)
            cache->sname = NULL;
        if (rc)
            free_names(name, n.nn);
    }
    free(d.moved);
    free(d.mfrom);
    free(d.sfrom);
    free(d.zmoved);
    if (rc) {
        sl_placement_free(p);
        sl__placement_ctx_free(&n);
        cache_clear(cache);
        return rc;
    }
    if (had) {
        sl__placement_ctx_keep_spare(&cache->c, &cache->spare);
        sl__placement_ctx_free(&cache->c);
    }
    cache->c = n;
    cache->name = name;
    cache->sname = sname;
    cache->opts = *o;
    cache->valid = true;
    cache->stats.last_changes = inc ? d.changes : UINT32_MAX;
    if (inc)
        cache->stats.incremental++;
    else
        cache->stats.full++;
    *out = p;
    return 0;
}
