/* Candidate lists of placement.c: a replica's list is its CAND_MAX best
 * members by exact score (then index) among those that could ever host it.
 * Every fitting member has to be hashed with the replica, 30 M pairs for
 * 10,000 x 3 replicas on 1,000 members, but few need the exact log (32
 * dependent squarings), and most need no more than their draw x, the hash
 * itself:
 *
 * - Coarse bounds. The top bit of x and a table of 1025 fractions
 *   (score.c) bound the log, hence the score: coarse_key() gives a lower
 *   and an upper bound, in integers. A member whose lower bound is above the
 *   CAND_MAX-th smallest upper bound seen (plus 2^10, the rounding) cannot
 *   be in the list; that cut only decreases during a scan.
 * - Thresholds on x. Within one weight, the lower bound falls as x grows,
 *   so a cut is one threshold on x per distinct weight (x_cut(), when there
 *   are at most WCLASS_MAX of them), compared right after hashing, eight
 *   members at once with AVX-512 (sl__placement_draw_block()).
 * - A guessed cut. Replicas are alike, so a scan first tries twice the cut
 *   the previous replica ended with; it keeps that try only when its own
 *   upper bounds prove the guess wide enough (scan_guessed()), otherwise it
 *   scans again from no cut (about 2% of the replicas of the benchmark).
 *   So few members survive the thresholds: about 34 of 1,000, where a cut
 *   that tightens during the scan lets about 80 in; about 17 of them need
 *   their exact score.
 * - The survivors within the final cut get their exact scores, eight logs
 *   at once with AVX-512 (sl__placement_score_many()), and are sorted into
 *   the list.
 *
 * Every test only rules out members that cannot be in the list, and the
 * survivors are ranked by exact score, so the list is the one a scan of
 * exact scores gives, bit for bit (tests/unit/test_placement_golden.c); the
 * machine-specific paths compute the very same integers. */
#include "ctx.h"

/* Returns the smallest draw x whose coarse_key(e_lo) can be at most cut
 * for a member whose rw is given, or a lower bound of it: every smaller x
 * is ruled out. coarse_key(e_lo) <= cut exactly when (e_lo >> 10) <= f =
 * floor(cut / rw), that is when the coarse upper bound of the log, hi, is
 * above L = (53 << 32) - ((f + 1) << 10); hi grows with x (its top bit, then
 * its table entry), so the smallest such x has L's top bit and the first
 * table entry above L's fraction. */
static uint64_t x_cut(const uint64_t *tab, uint64_t cut, uint64_t rw)
{
    uint64_t f = cut / rw;
    if (f >= 53ull << 22)
        return 0; /* e_lo >> 10 <= 53 << 22 always: nothing is ruled out */
    uint64_t lim = (53ull << 32) - ((f + 1) << 10);
    unsigned t = (unsigned)(lim >> 32);
    uint64_t frac = lim & 0xffffffffull;
    if (t < 31)
        return 1ull << t; /* below 2^t, hi <= t << 32 <= lim */
    uint32_t lo = 0, hi = (1u << SL__PLACEMENT_COARSE_BITS) - 1;
    while (lo < hi) { /* the first p with tab[p + 1] > frac */
        uint32_t mid = (lo + hi) / 2;
        if (tab[mid + 1] > frac)
            hi = mid;
        else
            lo = mid + 1;
    }
    uint64_t m = (1ull << 31) + ((uint64_t)lo << (31 - SL__PLACEMENT_COARSE_BITS));
    return m << (t - 31);
}

/* Adds key_hi to the ub list (the CAND_MAX smallest upper bounds, sorted)
 * if it belongs there; returns the new cut. */
static uint64_t ub_insert(uint64_t *ub, size_t *nub, uint64_t key_hi, uint64_t cut)
{
    if (*nub == CAND_MAX && key_hi >= ub[CAND_MAX - 1])
        return cut;
    size_t j = *nub < CAND_MAX ? (*nub)++ : CAND_MAX - 1;
    while (j > 0 && ub[j - 1] > key_hi) {
        ub[j] = ub[j - 1];
        j--;
    }
    ub[j] = key_hi;
    return *nub == CAND_MAX ? ub[CAND_MAX - 1] + (1u << 10) : cut;
}

/* Sorts the survivors that pass the final cut into replica r's list by
 * exact score, then index (they come in index order). */
static void exact_candidates(ctx *c, uint32_t r, size_t nsurv, uint64_t cut)
{
    uint32_t *cn = &c->cand[(size_t)r * CAND_MAX];
    uint64_t *cs = &c->cand_score[(size_t)r * CAND_MAX];
    uint64_t *x = c->xs, *sc = c->xs + nsurv; /* the draws are no longer needed */
    uint32_t *w = c->ws, *node = c->ws + nsurv;
    size_t n = 0, k = 0;
    for (size_t i = 0; i < nsurv; i++) {
        const survivor *v = &c->surv[i];
        if (v->key_lo > cut)
            continue;
        x[n] = v->x;
        w[n] = c->nodes[v->node].weight;
        node[n++] = v->node;
    }
    sl__placement_score_many(c->draw_fast, x, w, sc, n);
    for (size_t i = 0; i < n; i++) {
        if (k == CAND_MAX && sc[i] >= cs[k - 1])
            continue; /* equal scores keep the lower index, already in */
        size_t j = k < CAND_MAX ? k++ : k - 1;
        while (j > 0 && cs[j - 1] > sc[i]) {
            cs[j] = cs[j - 1];
            cn[j] = cn[j - 1];
            j--;
        }
        cs[j] = sc[i];
        cn[j] = node[i];
    }
    c->reps[r].ncand = (uint8_t)k;
}

/* Whether hot member h can ever host a replica of s (capacity). */
static bool hot_fits(const hnode *h, const psvc *s)
{
    return sl__placement_fits_cap(h->cpu_cap, 0, s->cpu) &&
           sl__placement_fits_cap(h->mem_cap, 0, s->mem);
}

/* The candidate scan of one member i that its class threshold did not rule
 * out: the coarse test, then the survivor list and the upper bounds. */
typedef struct scan {
    uint64_t ub[CAND_MAX];
    uint64_t cut;
    uint64_t xc[WCLASS_MAX]; /* ctx.hot_class thresholds for xc_cut */
    uint64_t xc_cut;
    size_t nub, nsurv, next_xc;
} scan;

static void scan_member(ctx *c, scan *v, size_t i, uint64_t x)
{
    const uint64_t e_top = 53ull << 32;
    const hnode *h = &c->hot[i];
    uint64_t lo, hi;
    sl__placement_coarse_log(c->coarse, x, &lo, &hi);
    uint64_t key_lo = coarse_key(e_top - hi, h->rw);
    if (key_lo > v->cut)
        return;
    uint64_t key_hi = coarse_key(e_top - lo, h->rw) + COARSE_SLACK;
    c->surv[v->nsurv++] = (survivor){key_lo, key_hi, x, h->node};
    v->cut = ub_insert(v->ub, &v->nub, key_hi, v->cut);
    /* The thresholds follow the cut at doubling positions: a stale one only
     * lets more pairs through to the test above. */
    if (c->nclass && v->cut != v->xc_cut && i >= v->next_xc) {
        for (uint32_t k = 0; k < c->nclass; k++)
            v->xc[k] = x_cut(c->coarse, v->cut, c->class_rw[k]);
        v->xc_cut = v->cut;
        v->next_xc = 2 * i;
    }
}

/* One pass of a candidate scan of replica r over the fitting members,
 * starting from the cut in v (UINT64_MAX: none), which then tightens as the
 * upper bounds come (v->nub of them). With a cut given, the pass keeps the
 * members it does not rule out and leaves v->ub alone. */
static void scan_pass(ctx *c, uint32_t r, scan *v, bool tighten)
{
    const prep *q = &c->reps[r];
    const psvc *s = &c->svcs[q->svc];
    bool requests = s->cpu || s->mem;
    const uint64_t e_top = 53ull << 32;
    for (size_t b = 0; b < c->nhot; b += 64) {
        size_t n = c->nhot - b < 64 ? c->nhot - b : 64;
        uint64_t mask =
            sl__placement_draw_block(c->draw_fast, q->key, c->hot_hash + b, c->hot_golden + b,
                                     c->hot_class + b, v->xc, c->xs + b, n);
        while (mask) {
            size_t i = b + (size_t)__builtin_ctzll(mask);
            mask &= mask - 1;
            if (requests && !hot_fits(&c->hot[i], s))
                continue;
            if (tighten) {
                scan_member(c, v, i, c->xs[i]);
                continue;
            }
            const hnode *h = &c->hot[i];
            uint64_t lo, hi, x = c->xs[i];
            sl__placement_coarse_log(c->coarse, x, &lo, &hi);
            uint64_t key_lo = coarse_key(e_top - hi, h->rw);
            if (key_lo <= v->cut)
                c->surv[v->nsurv++] =
                    (survivor){key_lo, coarse_key(e_top - lo, h->rw) + COARSE_SLACK, x, h->node};
        }
    }
}

/* Tries the scan with the cut guessed from the replicas before (ctx.guess):
 * it keeps the members whose lower bound is within the guess; if CAND_MAX of
 * them have upper bounds whose largest, ub, is such that ub + 2^10 is
 * within the guess, every member of the exact list is among them (its lower
 * bound is at most the true CAND_MAX-th smallest upper bound + 2^10, which
 * is at most ub + 2^10), and the cut is ub + 2^10. Returns whether it
 * worked, with v filled; otherwise the full scan has to run. */
static bool scan_guessed(ctx *c, uint32_t r, scan *v)
{
    v->cut = c->guess;
    for (uint32_t k = 0; k < c->nclass; k++)
        v->xc[k] = x_cut(c->coarse, v->cut, c->class_rw[k]);
    scan_pass(c, r, v, false);
    if (v->nsurv < CAND_MAX)
        return false;
    for (size_t i = 0; i < v->nsurv; i++)
        ub_insert(v->ub, &v->nub, c->surv[i].key_hi, UINT64_MAX);
    if (v->ub[CAND_MAX - 1] >= c->guess - (1u << 10))
        return false;
    v->cut = v->ub[CAND_MAX - 1] + (1u << 10);
    return true;
}

void sl__placement_build_candidates(ctx *c, uint32_t r)
{
    prep *q = &c->reps[r];
    const psvc *s = &c->svcs[q->svc];
    size_t nhot = c->nhot, fitting = nhot;
    if (s->cpu || s->mem) {
        fitting = 0;
        for (size_t i = 0; i < nhot; i++)
            fitting += hot_fits(&c->hot[i], s);
    }
    scan v = {.cut = UINT64_MAX, .xc_cut = UINT64_MAX, .next_xc = 2 * CAND_MAX};
    if (c->guess == UINT64_MAX || !scan_guessed(c, r, &v)) {
        v = (scan){.cut = UINT64_MAX, .xc_cut = UINT64_MAX, .next_xc = 2 * CAND_MAX};
        scan_pass(c, r, &v, true);
    }
    /* The next replica, alike, tries twice this cut: the CAND_MAX-th best of
     * so many draws seldom lies that far above its usual value. */
    c->guess = v.nub < CAND_MAX || v.cut > UINT64_MAX / 2 ? UINT64_MAX : 2 * v.cut;
    exact_candidates(c, r, v.nsurv, v.cut);
    q->complete = fitting <= CAND_MAX;
    q->fitting = (uint32_t)fitting;
}

void sl__placement_set_weight_classes(ctx *c)
{
    c->nclass = 0;
    for (size_t i = 0; i < c->nhot; i++) {
        const hnode *h = &c->hot[i];
        uint32_t k = 0;
        while (k < c->nclass && c->class_rw[k] != h->rw)
            k++;
        if (k == c->nclass) {
            if (c->nclass == WCLASS_MAX) {
                c->nclass = 0;
                for (size_t j = 0; j < c->nhot; j++)
                    c->hot_class[j] = 0;
                return;
            }
            c->class_rw[c->nclass++] = h->rw;
        }
        c->hot_class[i] = (uint8_t)k;
    }
}
