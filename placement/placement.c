/* Placement: weighted rendezvous hashing with bounded loads and zone spread.
 *
 * Every peer computes the placement alone, from its own view of the members
 * and of the catalog, and starts the replicas it finds itself hosting. There
 * is no leader to settle disagreements, so this is a pure function: the same
 * members and services give the same answer everywhere.
 *
 * Why no previous assignment among the inputs. A "sticky" placement (keep
 * each replica where it was if still allowed) moves the fewest replicas, but
 * the previous assignment would then be an input that every peer must share
 * exactly, and peers do not share it: each one computed its own, from views
 * that differed for a moment (a join seen here before there), and sticky
 * answers would never reconverge. So the answer depends on the current
 * members and services only, and stability comes from the construction:
 *
 * 1. Canonical inputs. Members and services are sorted by name (names are
 *    unique); their indexes in the caller's arrays appear only in the output.
 *    Zones are compared by name.
 *
 * 2. One ranking per replica. Replica i of service s has its own key,
 *    hash(s) mixed with i, and ranks every member by the weighted rendezvous
 *    score of (key, member) (score.c: -ln(u) / weight in fixed point; lower is
 *    better). A replica's identity is its index: replica 1 keeps its member
 *    when replica 0's member fails, because replica 1 never looked at the
 *    ranking of replica 0. Rankings by index, rather than one ranking per
 *    service whose top R are "the replicas", are what keep indexes stable.
 *
 * 3. Greedy by score, over all replicas of all services at once. Every
 *    replica proposes its best member that is allowed right now; the
 *    proposal with the lowest score in the whole cluster is granted first,
 *    then the next, and so on (a heap of proposals). A member is allowed for
 *    a replica when it is eligible (alive or suspect), is below its load
 *    bound, has the cpu and memory left, does not already host a replica of
 *    the same service, and (zone spread) lies in a zone where the service
 *    has as few replicas as in any zone that still has an allowed member:
 *    the choice minimises (replicas of the service in the member's zone,
 *    score), so zones fill evenly before any zone takes a second replica.
 *    Before that, each replica of a zone-spread service is dealt a zone of
 *    its own by hashing (set_preferred_zones), which it takes while that
 *    zone has room, so that siblings do not trade zones when one moves.
 *    When a proposal's member has meanwhile become full, the replica
 *    proposes again further down its ranking; when a replica is granted, its
 *    siblings propose again, because the zone counts changed.
 *
 *    Greedy by score is the unique stable matching in which members prefer
 *    the replicas that prefer them most (the preferences are acyclic), and it
 *    is what makes moves few. When a member leaves, its replicas propose
 *    again; each one now offers its second-best score, which is usually worse
 *    than those of the replicas already at its next member (they offer their
 *    best), so it seldom displaces one of them even where that member is
 *    full: it moves on instead. Processing services one after another in a
 *    fixed order (serial dictatorship) would let a displaced replica bump
 *    whatever came later in that order, and the bumps cascade. Zone conflicts
 *    between siblings resolve the same way: a sibling keeps its zone against a
 *    displaced replica that offers a worse score.
 *
 * 4. Bounded loads (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with
 *    Bounded Loads"): a member of weight w may hold at most
 *    ceil((1 + eps) * T * w / W) replicas, T the total replica count and W the
 *    total weight of eligible members, computed with integers (eps in
 *    thousandths). Without the bound, rendezvous hashing leaves the busiest
 *    member of a large cluster far above the mean; with it, a replica whose
 *    best members are full goes further down its ranking.
 *
 * 5. Natives first. The greedy runs twice. The first run has no load bound
 *    (zone spread, distinct members and cpu and memory still apply): it
 *    gives each replica its "native" member, the one plain rendezvous
 *    would pick. Then every member keeps its best-scoring natives up to its
 *    bound, and only the rest (the overflow) runs the greedy again, on what
 *    is left; an overflow replica never displaces a native. So the natives
 *    change only where plain rendezvous changes. What this does not avoid:
 *    when the bound steps (W changed, so ceil(...) moved for a whole weight
 *    class), each member with more demand than room takes one more replica
 *    or gives one up, and the slot that frees or fills elsewhere may start a
 *    chain through full members. Together with the zones dealt above, this
 *    moves somewhat fewer replicas than one greedy run over everything, yet
 *    more than issue 5 asks on small clusters (BENCHMARKS.md, issue 5 round
 *    3, says where the moves come from).
 *
 * Moves. When a member leaves, its replicas move, plus those that bounded
 * loads or zone spread cascade (the load bound also changes slightly, since
 * W changes). When one joins, the replicas that rank it first move to it (its
 * fair share, bounded), plus those that the freed slots let return to a
 * better member. tests/unit/test_placement.c measures both over random
 * clusters; BENCHMARKS.md records the numbers.
 *
 * Draining members get no replica: "nothing new" cannot be told apart from
 * "nothing" without a previous assignment. The runtime keeps a draining
 * member's running replicas until their new owners report them running
 * (make before break), which is what makes draining graceful.
 *
 * Cost. Each replica computes its best few members once (CAND_MAX of them,
 * one pass over the members) and walks that list afterwards; it scans all
 * members again only when the list runs out. So the whole call is about
 * O(T * M) hashes for T replicas on M members, plus heap work (the second
 * run of the greedy reuses the lists and only places the overflow). Almost
 * all pairs stop at the hash: "Candidate lists" below says how the few
 * that need their exact score are found. */
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/placement.h"

#include "internal.h"

#define CAND_MAX 16
#define CAND_UNSET 0xff
#define NO_ZONE UINT32_MAX

typedef struct pnode {
    uint64_t hash;
    uint32_t input; /* index in the caller's array */
    uint32_t zone;  /* zone id: equal ids for equal zone names */
    uint32_t weight;
    uint32_t cpu_cap; /* 0: unlimited */
    uint32_t mem_cap; /* 0: unlimited */
    uint64_t cpu_used;
    uint64_t mem_used;
    uint32_t load;
    uint32_t bound; /* its load bound */
    uint32_t limit; /* the load this pass allows: bound, or UINT32_MAX */
    bool eligible;
} pnode;

typedef struct psvc {
    uint64_t hash;
    uint32_t input;
    uint32_t replicas;
    uint32_t cpu;
    uint32_t mem;
    sl_placement_spread spread;
    uint32_t first; /* id of its replica 0 */
} psvc;

typedef struct prep {
    uint64_t key;
    uint32_t svc; /* canonical service index */
    uint32_t version;
    int32_t node;        /* canonical member index, or -1 */
    uint32_t pref_zone;  /* the zone it goes to when it has room, or NO_ZONE */
    uint32_t pref_quota; /* replicas of its service dealt to that zone */
    uint8_t reason;
    uint8_t ncand;  /* entries in its candidate list, CAND_UNSET before */
    bool complete;  /* the list holds every member that could ever fit */
    uint64_t score; /* its score at its member, once placed */
} prep;

/* An eligible member as the candidate scans read it, in canonical order;
 * its hash and hash * the golden ratio (sl__placement_pair_x_pre) are in
 * the arrays ctx.hot_hash and ctx.hot_golden, and its weight class in
 * ctx.hot_class, so that the loops over every member read them densely. */
typedef struct hnode {
    uint64_t rw;   /* floor(2^36 / weight), for coarse_key() */
    uint32_t node; /* canonical member index */
    uint32_t cpu_cap;
    uint32_t mem_cap;
    uint32_t wclass; /* index of its weight among ctx.class_rw, or 0 */
} hnode;

/* Weight classes: when the eligible members have at most WCLASS_MAX
 * distinct weights, a candidate scan turns its cut into one threshold on the
 * pair's draw per weight (x_cut), compared before anything else. */
#define WCLASS_MAX SL__PLACEMENT_DRAW_CLASSES

/* A member that a candidate scan could not rule out on the coarse log. */
typedef struct survivor {
    uint64_t key_lo; /* coarse_key() of the largest e the log allows */
    uint64_t key_hi; /* coarse_key() of the smallest, plus COARSE_SLACK */
    uint64_t x;      /* the pair's draw */
    uint32_t node;
} survivor;

typedef struct proposal {
    uint64_t score;
    uint32_t rep;
    uint32_t node;
    uint32_t version;
} proposal;

typedef struct ctx {
    pnode *nodes;
    size_t nn;
    psvc *svcs;
    size_t ns;
    prep *reps;
    size_t nr;
    uint32_t *cand;       /* nr * CAND_MAX member indexes, best first */
    uint64_t *cand_score; /* their scores */
    uint32_t nzones;      /* distinct zones */
    uint32_t nzones_elig; /* distinct zones with an eligible member */
    bool *zone_elig;      /* nzones */
    uint32_t *zone_count; /* nzones, all zero between uses */
    uint64_t *zone_hash;  /* nzones: hash of the zone's name */
    proposal *heap;
    size_t nheap;
    size_t capheap;
    hnode *hot; /* the eligible members, canonical order */
    size_t nhot;
    uint64_t *hot_hash;   /* nhot */
    uint64_t *hot_golden; /* nhot */
    uint8_t *hot_class;   /* nhot */
    uint64_t *xs;         /* 2 * nhot: scratch, the draws of one replica */
    uint32_t *ws;         /* 2 * nhot: scratch of exact_candidates */
    survivor *surv;       /* nn: scratch of build_candidates */
    uint64_t coarse[SL__PLACEMENT_COARSE_SIZE];
    uint64_t class_rw[WCLASS_MAX]; /* rw of each weight class */
    uint32_t nclass;               /* 0: too many distinct weights */
    bool draw_fast;                /* sl__placement_draw_fast() */
    uint64_t guess;                /* a cut to try first (build_candidates) */
} ctx;

struct sl_placement {
    size_t nmembers;
    size_t nservices;
    uint32_t *first; /* by input service index; nservices + 1 */
    int32_t *node;   /* input member index or -1, at first[s] + i */
    uint8_t *reason;
    uint32_t *load; /* by input member index */
    uint32_t *bound;
    size_t unplaced;
};

/* ---- Name tables ---- */

static const char *const state_names[SL_PLACEMENT_STATE_COUNT] = {"alive", "suspect", "draining"};
static const char *const spread_names[SL_PLACEMENT_SPREAD_COUNT] = {"zone", "node"};
static const char *const reason_names[SL_PLACEMENT_REASON_COUNT] = {
    "placed",
    "no eligible member (alive or suspect)",
    "fewer eligible members than replicas",
    "no member has enough free cpu or memory",
    "every member that fits is at its load bound",
};

const char *sl_placement_state_name(sl_placement_state s)
{
    return (unsigned)s < SL_PLACEMENT_STATE_COUNT ? state_names[s] : "?";
}

const char *sl_placement_spread_name(sl_placement_spread s)
{
    return (unsigned)s < SL_PLACEMENT_SPREAD_COUNT ? spread_names[s] : "?";
}

const char *sl_placement_reason_name(sl_placement_reason r)
{
    return (unsigned)r < SL_PLACEMENT_REASON_COUNT ? reason_names[r] : "?";
}

int sl_placement_state_parse(const char *name, sl_placement_state *out)
{
    for (int i = 0; name && i < SL_PLACEMENT_STATE_COUNT; i++)
        if (!strcmp(name, state_names[i])) {
            *out = (sl_placement_state)i;
            return 0;
        }
    return SL_EINVAL;
}

int sl_placement_spread_parse(const char *name, sl_placement_spread *out)
{
    for (int i = 0; name && i < SL_PLACEMENT_SPREAD_COUNT; i++)
        if (!strcmp(name, spread_names[i])) {
            *out = (sl_placement_spread)i;
            return 0;
        }
    return SL_EINVAL;
}

void sl_placement_options_init(sl_placement_options *o)
{
    o->eps_milli = SL_PLACEMENT_EPS_MILLI_DEFAULT;
    o->unbounded = false;
}

/* ---- Canonical order ---- */

typedef struct named {
    const char *name;
    uint32_t input;
} named;

static int named_cmp(const void *a, const void *b)
{
    const named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->input > y->input) - (x->input < y->input);
}

/* Sorts n names; returns 0, or SL_EINVAL when two are equal. */
static int sort_unique(named *v, size_t n)
{
    qsort(v, n, sizeof *v, named_cmp);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(v[i - 1].name, v[i].name))
            return SL_EINVAL;
    return 0;
}

static int check_inputs(const sl_placement_member *members, size_t nmembers,
                        const sl_placement_service *services, size_t nservices,
                        const sl_placement_options *o)
{
    if ((nmembers && !members) || (nservices && !services) || nmembers > INT32_MAX)
        return SL_EINVAL;
    if (o->eps_milli > SL_PLACEMENT_EPS_MILLI_MAX)
        return SL_EINVAL;
    for (size_t i = 0; i < nmembers; i++)
        if (!members[i].name || members[i].weight > SL_PLACEMENT_WEIGHT_MAX ||
            (unsigned)members[i].state >= SL_PLACEMENT_STATE_COUNT)
            return SL_EINVAL;
    uint64_t total = 0;
    for (size_t i = 0; i < nservices; i++) {
        if (!services[i].name || (unsigned)services[i].spread >= SL_PLACEMENT_SPREAD_COUNT)
            return SL_EINVAL;
        total += services[i].replicas;
        if (total > SL_PLACEMENT_REPLICAS_MAX)
            return SL_EINVAL;
    }
    return 0;
}

static int named_zone_cmp(const void *a, const void *b)
{
    return named_cmp(a, b);
}

/* Fills the canonical member array and zone ids. Returns 0 or an error. */
static int load_members(ctx *c, const sl_placement_member *members, size_t n)
{
    named *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = (named){members[i].name, (uint32_t)i};
    int rc = sort_unique(v, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const sl_placement_member *m = &members[v[i].input];
        pnode *p = &c->nodes[i];
        memset(p, 0, sizeof *p);
        p->hash = sl__placement_hash_str(m->name);
        p->input = v[i].input;
        p->weight = m->weight ? m->weight : 1;
        p->cpu_cap = m->cpu_milli;
        p->mem_cap = m->mem_mb;
        p->eligible = m->state != SL_PLACEMENT_DRAINING;
    }
    /* Zone ids: sort (zone, canonical index) and number the distinct names. */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *z = members[c->nodes[i].input].zone;
        v[i] = (named){z ? z : "", (uint32_t)i};
    }
    if (rc == 0) {
        qsort(v, n, sizeof *v, named_zone_cmp);
        uint32_t id = 0;
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && strcmp(v[i - 1].name, v[i].name))
                id++;
            c->nodes[v[i].input].zone = id;
            c->zone_hash[id] = sl__placement_hash_str(v[i].name);
        }
        c->nzones = n ? id + 1 : 0;
    }
    free(v);
    return rc;
}

/* Fills the canonical service and replica arrays. Returns 0 or an error. */
static int load_services(ctx *c, const sl_placement_service *services, size_t n)
{
    named *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = (named){services[i].name, (uint32_t)i};
    int rc = sort_unique(v, n);
    uint32_t next = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const sl_placement_service *s = &services[v[i].input];
        psvc *p = &c->svcs[i];
        p->hash = sl__placement_hash_str(s->name);
        p->input = v[i].input;
        p->replicas = s->replicas;
        p->cpu = s->cpu_milli;
        p->mem = s->mem_mb;
        p->spread = s->spread;
        p->first = next;
        for (uint32_t r = 0; r < s->replicas; r++) {
            prep *q = &c->reps[next++];
            q->key = sl__placement_replica_key(p->hash, r);
            q->svc = (uint32_t)i;
            q->version = 0;
            q->node = -1;
            q->reason = SL_PLACEMENT_PLACED;
            q->ncand = CAND_UNSET;
            q->pref_zone = NO_ZONE;
            q->complete = false;
        }
    }
    free(v);
    return rc;
}

/* Numbers the distinct weights of the eligible members (hot), or sets
 * nclass to 0 when there are more than WCLASS_MAX. */
static void set_weight_classes(ctx *c)
{
    c->nclass = 0;
    for (size_t i = 0; i < c->nhot; i++) {
        hnode *h = &c->hot[i];
        uint32_t k = 0;
        while (k < c->nclass && c->class_rw[k] != h->rw)
            k++;
        if (k == c->nclass) {
            if (c->nclass == WCLASS_MAX) {
                c->nclass = 0;
                for (size_t j = 0; j < c->nhot; j++)
                    c->hot[j].wclass = c->hot_class[j] = 0;
                return;
            }
            c->class_rw[c->nclass++] = h->rw;
        }
        h->wclass = k;
        c->hot_class[i] = (uint8_t)k;
    }
}

/* Sets every member's load bound, ceil((1000 + eps) * T * w / (1000 * W)),
 * and the eligible zones. Fits in 64 bits: T <= 2^30, w < 2^16, 1000 + eps
 * < 2^14. */
static void set_bounds(ctx *c, const sl_placement_options *o)
{
    uint64_t total_w = 0;
    for (size_t i = 0; i < c->nn; i++)
        if (c->nodes[i].eligible)
            total_w += c->nodes[i].weight;
    uint64_t num = 1000 + (uint64_t)o->eps_milli;
    for (size_t i = 0; i < c->nn; i++) {
        pnode *p = &c->nodes[i];
        if (!p->eligible) {
            p->bound = 0;
        } else if (o->unbounded) {
            p->bound = UINT32_MAX;
        } else {
            uint64_t top = num * c->nr * p->weight, den = 1000 * total_w;
            p->bound = (uint32_t)((top + den - 1) / den);
        }
        p->limit = p->bound;
        if (p->eligible) {
            c->hot_hash[c->nhot] = p->hash;
            c->hot_golden[c->nhot] = p->hash * 0x9e3779b97f4a7c15ull;
            c->hot[c->nhot++] =
                (hnode){(1ull << 36) / p->weight, (uint32_t)i, p->cpu_cap, p->mem_cap, 0};
        }
        if (p->eligible && !c->zone_elig[p->zone]) {
            c->zone_elig[p->zone] = true;
            c->nzones_elig++;
        }
    }
    set_weight_classes(c);
}

typedef struct zrank {
    uint64_t h;
    uint32_t zone;
} zrank;

static int zrank_cmp(const void *a, const void *b)
{
    const zrank *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (x->zone > y->zone) - (x->zone < y->zone);
}

/* Deals the replicas of a service with fewer replicas than eligible zones to
 * distinct zones: replica i takes, among the eligible zones that replicas
 * 0..i-1 did not take, the one with the lowest unweighted hash of (replica
 * key, zone). So a replica's zone depends on its own key and those of its
 * lower indexes only, never on where the siblings' members are. */
static void deal_distinct_zones(ctx *c, const psvc *s)
{
    for (uint32_t r = 0; r < s->replicas; r++) {
        prep *q = &c->reps[s->first + r];
        uint64_t best = UINT64_MAX;
        for (uint32_t id = 0; id < c->nzones; id++) {
            if (!c->zone_elig[id] || c->zone_count[id])
                continue; /* not eligible, or taken by a lower index */
            uint64_t h = sl__placement_mix(q->key ^ c->zone_hash[id]);
            if (q->pref_zone == NO_ZONE || h < best) {
                best = h;
                q->pref_zone = id;
            }
        }
        q->pref_quota = 1;
        c->zone_count[q->pref_zone] = 1;
    }
    for (uint32_t r = 0; r < s->replicas; r++)
        c->zone_count[c->reps[s->first + r].pref_zone] = 0;
}

/* Every replica of a zone-spread service gets a zone it goes to when that
 * zone has room. Services with at least as many replicas as there are
 * eligible zones use every zone anyway, so their replica indexes are dealt
 * to zones in a fixed order: the eligible zones ranked by an unweighted hash
 * of (service, zone), replica i to the (i mod zones)-th. Services with fewer
 * replicas get distinct zones (deal_distinct_zones). Either way the zones
 * change only when a zone appears or vanishes, so a replica whose member
 * leaves stays in its zone and no sibling has to make room. A replica goes
 * to its zone only while that zone holds fewer replicas of the service than
 * were dealt to it (a sibling whose own zone was full may have gone there);
 * otherwise, like every other replica, it takes the least used zone.
 * Returns 0 or SL_ENOMEM. */
static int set_preferred_zones(ctx *c)
{
    if (c->nzones_elig < 2)
        return 0;
    zrank *z = malloc(c->nzones_elig * sizeof *z);
    if (!z)
        return SL_ENOMEM;
    for (size_t i = 0; i < c->ns; i++) {
        const psvc *s = &c->svcs[i];
        if (s->spread != SL_PLACEMENT_SPREAD_ZONE)
            continue;
        if (s->replicas < c->nzones_elig) {
            deal_distinct_zones(c, s);
            continue;
        }
        size_t k = 0;
        for (uint32_t id = 0; id < c->nzones; id++)
            if (c->zone_elig[id])
                z[k++] = (zrank){sl__placement_mix(s->hash ^ c->zone_hash[id]), id};
        qsort(z, k, sizeof *z, zrank_cmp);
        for (uint32_t r = 0; r < s->replicas; r++) {
            prep *q = &c->reps[s->first + r];
            q->pref_zone = z[r % k].zone;
            q->pref_quota = s->replicas / (uint32_t)k + (r % k < s->replicas % k);
        }
    }
    free(z);
    return 0;
}

/* ---- The proposal heap, ordered by (score, replica id, version) ---- */

static bool prop_less(const proposal *a, const proposal *b)
{
    if (a->score != b->score)
        return a->score < b->score;
    if (a->rep != b->rep)
        return a->rep < b->rep;
    return a->version < b->version;
}

static int heap_push(ctx *c, proposal p)
{
    if (c->nheap == c->capheap) {
        size_t cap = c->capheap ? 2 * c->capheap : 1024;
        proposal *h = realloc(c->heap, cap * sizeof *h);
        if (!h)
            return SL_ENOMEM;
        c->heap = h;
        c->capheap = cap;
    }
    size_t i = c->nheap++;
    while (i > 0 && prop_less(&p, &c->heap[(i - 1) / 2])) {
        c->heap[i] = c->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    c->heap[i] = p;
    return 0;
}

static proposal heap_pop(ctx *c)
{
    proposal top = c->heap[0], last = c->heap[--c->nheap];
    size_t i = 0, n = c->nheap;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= n)
            break;
        if (k + 1 < n && prop_less(&c->heap[k + 1], &c->heap[k]))
            k++;
        if (!prop_less(&c->heap[k], &last))
            break;
        c->heap[i] = c->heap[k];
        i = k;
    }
    if (n)
        c->heap[i] = last;
    return top;
}

/* ---- Who may host what ---- */

static bool fits_cap(uint32_t cap, uint64_t used, uint32_t req)
{
    return cap == 0 || used + req <= cap;
}

/* Whether member n could ever host a replica of s (state and capacity). */
static bool fits_static(const pnode *n, const psvc *s)
{
    return n->eligible && fits_cap(n->cpu_cap, 0, s->cpu) && fits_cap(n->mem_cap, 0, s->mem);
}

/* Whether member n has the load and resources left for one more of s. */
static bool fits_now(const pnode *n, const psvc *s)
{
    return n->load < n->limit && fits_cap(n->cpu_cap, n->cpu_used, s->cpu) &&
           fits_cap(n->mem_cap, n->mem_used, s->mem);
}

/* Looks at the placed replicas of s: sets *used when one is on member n and
 * returns how many are in n's zone. */
static uint32_t siblings_at(const ctx *c, const psvc *s, uint32_t n, bool *used)
{
    uint32_t zc = 0;
    *used = false;
    for (uint32_t i = 0; i < s->replicas; i++) {
        int32_t at = c->reps[s->first + i].node;
        if (at < 0)
            continue;
        if ((uint32_t)at == n)
            *used = true;
        if (c->nodes[at].zone == c->nodes[n].zone)
            zc++;
    }
    return zc;
}

static bool zone_mode(const ctx *c, const psvc *s)
{
    return s->spread == SL_PLACEMENT_SPREAD_ZONE && c->nzones_elig > 1;
}

/* Returns the fewest replicas of s in any eligible zone: a lower bound on the
 * zone count of whatever member a replica of s gets. */
static uint32_t min_zone_count(ctx *c, const psvc *s)
{
    uint32_t placed = 0;
    for (uint32_t i = 0; i < s->replicas; i++)
        placed += c->reps[s->first + i].node >= 0;
    if (placed < c->nzones_elig)
        return 0;
    for (uint32_t i = 0; i < s->replicas; i++) {
        int32_t at = c->reps[s->first + i].node;
        if (at >= 0)
            c->zone_count[c->nodes[at].zone]++;
    }
    uint32_t m = UINT32_MAX;
    for (uint32_t z = 0; z < c->nzones; z++)
        if (c->zone_elig[z] && c->zone_count[z] < m)
            m = c->zone_count[z];
    for (uint32_t i = 0; i < s->replicas; i++) {
        int32_t at = c->reps[s->first + i].node;
        if (at >= 0)
            c->zone_count[c->nodes[at].zone] = 0;
    }
    return m;
}

/* A monotone stand-in for a score, in units of 2^-10 of it: for a pair
 * whose e = (53 << 32) - log2(x) lies in [e_lo, e_hi], the score times 2^10
 * lies in [coarse_key(e_lo) - 2^10, coarse_key(e_hi) + COARSE_SLACK). The
 * truncations of e >> 10 (e < 2^38) and of rw = floor(2^36 / w) cost at most
 * 2^28 + 2^36 below the exact e * 2^26 / w, and the floor of the score at
 * most 2^10; nothing overflows (e_hi >> 10 < 2^28, rw <= 2^36). */
#define COARSE_SLACK ((1ull << 36) + (1ull << 28) + 1)

static uint64_t coarse_key(uint64_t e, uint64_t rw)
{
    return (e >> 10) * rw;
}

/* ---- Candidate lists ----
 *
 * A replica's list is its CAND_MAX best members by exact score (then
 * index) among those that could ever host it. Every fitting member has to be
 * hashed with the replica, 30 M pairs for 10,000 x 3 replicas on 1,000
 * members, but few need the exact log (32 dependent squarings), and most
 * need no more than their draw x, the hash itself:
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
 *   scans again from no cut. So few members survive the thresholds (about
 *   20 of 1,000, where a cut that tightens during the scan lets about 80 in).
 * - The survivors get their exact scores, eight logs at once with AVX-512
 *   (sl__placement_score_many()), and are sorted into the list.
 *
 * Every test only rules out members that cannot be in the list, and the
 * survivors are ranked by exact score, so the list is the one a scan of
 * exact scores gives, bit for bit (tests/unit/test_placement_golden.c); the
 * machine-specific paths compute the very same integers. */

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
    return fits_cap(h->cpu_cap, 0, s->cpu) && fits_cap(h->mem_cap, 0, s->mem);
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

/* Computes replica r's candidate list (see "Candidate lists" above). */
static void build_candidates(ctx *c, uint32_t r)
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
}

/* Says why no member can take a replica of s now. */
static sl_placement_reason why_not(const ctx *c, const psvc *s)
{
    bool any_elig = false, any_free = false, any_bound = false;
    for (uint32_t n = 0; n < c->nn; n++) {
        const pnode *p = &c->nodes[n];
        bool used;
        if (!p->eligible)
            continue;
        any_elig = true;
        siblings_at(c, s, n, &used);
        if (used)
            continue;
        any_free = true;
        if (fits_cap(p->cpu_cap, p->cpu_used, s->cpu) && fits_cap(p->mem_cap, p->mem_used, s->mem))
            any_bound = true; /* resources fit, so the bound is what stops it */
    }
    if (!any_elig)
        return SL_PLACEMENT_NO_NODES;
    if (!any_free)
        return SL_PLACEMENT_TOO_FEW_NODES;
    return any_bound ? SL_PLACEMENT_LOAD_BOUND : SL_PLACEMENT_NO_RESOURCES;
}

/* Scans every member for replica r's best allowed one, minimising (zone
 * count, score, index). Returns its index or -1; sets *score. */
static int32_t scan_all(ctx *c, uint32_t r, bool zones, uint64_t *score)
{
    const prep *q = &c->reps[r];
    const psvc *s = &c->svcs[q->svc];
    int32_t best = -1;
    uint32_t best_zc = UINT32_MAX;
    uint64_t best_sc = UINT64_MAX;
    for (uint32_t n = 0; n < c->nn; n++) {
        const pnode *p = &c->nodes[n];
        bool used;
        if (!fits_static(p, s) || !fits_now(p, s))
            continue;
        uint32_t zc = siblings_at(c, s, n, &used);
        if (used)
            continue;
        zc = zones ? zc : 0;
        if (zc > best_zc)
            continue;
        uint64_t limit = zc == best_zc ? best_sc : UINT64_MAX;
        uint64_t sc = sl__placement_score_below(q->key, p->hash, p->weight, limit);
        if (zc < best_zc || sc < best_sc) {
            best = (int32_t)n;
            best_zc = zc;
            best_sc = sc;
        }
    }
    *score = best_sc;
    return best;
}

/* Returns replica r's best member with room in its preferred zone z (by
 * score, then index) and sets *score, or returns -1, also when z already
 * holds its quota of the service's replicas. */
static int32_t best_in_zone(ctx *c, uint32_t r, uint32_t z, uint64_t *score)
{
    const prep *q = &c->reps[r];
    const psvc *s = &c->svcs[q->svc];
    const uint32_t *cn = &c->cand[(size_t)r * CAND_MAX];
    const uint64_t *cs = &c->cand_score[(size_t)r * CAND_MAX];
    bool used;
    uint32_t zc = 0;
    for (uint32_t i = 0; i < s->replicas; i++) {
        int32_t at = c->reps[s->first + i].node;
        zc += at >= 0 && c->nodes[at].zone == z;
    }
    if (zc >= q->pref_quota)
        return -1;
    for (size_t k = 0; k < q->ncand; k++) {
        if (c->nodes[cn[k]].zone != z || !fits_now(&c->nodes[cn[k]], s))
            continue;
        siblings_at(c, s, cn[k], &used);
        if (!used) {
            *score = cs[k];
            return (int32_t)cn[k];
        }
    }
    if (q->complete)
        return -1;
    int32_t best = -1;
    uint64_t best_sc = UINT64_MAX;
    for (uint32_t n = 0; n < c->nn; n++) {
        const pnode *p = &c->nodes[n];
        if (p->zone != z || !fits_static(p, s) || !fits_now(p, s))
            continue;
        siblings_at(c, s, n, &used);
        if (used)
            continue;
        uint64_t sc = sl__placement_score_below(q->key, p->hash, p->weight, best_sc);
        if (sc < best_sc) {
            best = (int32_t)n;
            best_sc = sc;
        }
    }
    *score = best_sc;
    return best;
}

/* Finds replica r's best allowed member now: the one minimising (replicas
 * of its service in the member's zone, score). Returns its index and sets
 * *score, or returns -1. */
static int32_t best_member(ctx *c, uint32_t r, uint64_t *score)
{
    prep *q = &c->reps[r];
    const psvc *s = &c->svcs[q->svc];
    bool zones = zone_mode(c, s);
    if (q->ncand == CAND_UNSET)
        build_candidates(c, r);
    uint32_t m0 = zones ? min_zone_count(c, s) : 0;
    const uint32_t *cn = &c->cand[(size_t)r * CAND_MAX];
    const uint64_t *cs = &c->cand_score[(size_t)r * CAND_MAX];
    if (zones && q->pref_zone != NO_ZONE) {
        int32_t n = best_in_zone(c, r, q->pref_zone, score);
        if (n >= 0)
            return n;
    }
    int32_t best = -1;
    uint32_t best_zc = UINT32_MAX;
    for (size_t k = 0; k < q->ncand; k++) {
        const pnode *p = &c->nodes[cn[k]];
        bool used;
        if (!fits_now(p, s))
            continue;
        uint32_t zc = siblings_at(c, s, cn[k], &used);
        if (used)
            continue;
        zc = zones ? zc : 0;
        if (zc < best_zc) {
            best = (int32_t)cn[k];
            best_zc = zc;
            *score = cs[k];
        }
        if (zc == m0)
            return best;
    }
    if (q->complete)
        return best;
    return scan_all(c, r, zones, score);
}

/* Replica r proposes its best allowed member, or is marked unplaced for
 * good (what is allowed only shrinks, except for zone counts, and no member
 * at all is allowed). Returns 0 or SL_ENOMEM. */
static int propose(ctx *c, uint32_t r)
{
    prep *q = &c->reps[r];
    uint64_t score = 0;
    int32_t n = best_member(c, r, &score);
    if (n < 0) {
        q->reason = (uint8_t)why_not(c, &c->svcs[q->svc]);
        return 0;
    }
    return heap_push(c, (proposal){score, r, (uint32_t)n, q->version});
}

static void grant(ctx *c, uint32_t r, uint32_t n, uint64_t score)
{
    prep *q = &c->reps[r];
    const psvc *s = &c->svcs[q->svc];
    pnode *p = &c->nodes[n];
    q->node = (int32_t)n;
    q->score = score;
    p->load++;
    p->cpu_used += s->cpu;
    p->mem_used += s->mem;
}

/* Runs the proposals of the replicas not placed yet until every replica is
 * placed or unplaceable. */
static int run(ctx *c)
{
    int rc = 0;
    for (uint32_t r = 0; rc == 0 && r < c->nr; r++)
        if (c->reps[r].node < 0)
            rc = propose(c, r);
    while (rc == 0 && c->nheap > 0) {
        proposal e = heap_pop(c);
        prep *q = &c->reps[e.rep];
        if (e.version != q->version || q->node >= 0)
            continue;
        const psvc *s = &c->svcs[q->svc];
        if (!fits_now(&c->nodes[e.node], s)) {
            q->version++;
            rc = propose(c, e.rep);
            continue;
        }
        grant(c, e.rep, e.node, e.score);
        /* The siblings' zone counts changed: they propose again. */
        for (uint32_t i = 0; rc == 0 && i < s->replicas; i++) {
            prep *sib = &c->reps[s->first + i];
            if (sib->node >= 0 || sib->reason != SL_PLACEMENT_PLACED)
                continue;
            sib->version++;
            rc = propose(c, s->first + i);
        }
    }
    return rc;
}

typedef struct native {
    uint32_t node;
    uint32_t rep;
    uint64_t score;
} native;

static int native_cmp(const void *a, const void *b)
{
    const native *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return (x->rep > y->rep) - (x->rep < y->rep);
}

/* Places natives first (see the top of this file): runs the proposals with
 * no load bound, which gives each replica its native member; then starts
 * over with every member holding its best-scoring natives up to its bound,
 * and runs the proposals of the others (the overflow) with the bounds.
 * Returns 0 or SL_ENOMEM. */
static int run_natives_first(ctx *c)
{
    for (size_t i = 0; i < c->nn; i++)
        if (c->nodes[i].eligible)
            c->nodes[i].limit = UINT32_MAX;
    int rc = run(c);
    native *v = malloc((c->nr ? c->nr : 1) * sizeof *v);
    if (rc == 0 && !v)
        rc = SL_ENOMEM;
    size_t nv = 0;
    for (uint32_t r = 0; rc == 0 && r < c->nr; r++) {
        prep *q = &c->reps[r];
        if (q->node >= 0)
            v[nv++] = (native){(uint32_t)q->node, r, q->score};
        q->node = -1;
        q->version++;
        q->reason = SL_PLACEMENT_PLACED;
    }
    for (size_t i = 0; i < c->nn; i++) {
        pnode *p = &c->nodes[i];
        p->limit = p->bound;
        p->load = 0;
        p->cpu_used = p->mem_used = 0;
    }
    c->nheap = 0;
    if (rc == 0) {
        qsort(v, nv, sizeof *v, native_cmp);
        for (size_t i = 0; i < nv; i++)
            if (c->nodes[v[i].node].load < c->nodes[v[i].node].bound)
                grant(c, v[i].rep, v[i].node, v[i].score);
        rc = run(c);
    }
    free(v);
    return rc;
}

/* Builds the caller-facing result from the canonical arrays. */
static sl_placement *make_result(const ctx *c, size_t nmembers, size_t nservices)
{
    sl_placement *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->nmembers = nmembers;
    p->nservices = nservices;
    p->first = calloc(nservices + 1, sizeof *p->first);
    p->node = malloc((c->nr ? c->nr : 1) * sizeof *p->node);
    p->reason = malloc(c->nr ? c->nr : 1);
    p->load = calloc(nmembers ? nmembers : 1, sizeof *p->load);
    p->bound = calloc(nmembers ? nmembers : 1, sizeof *p->bound);
    if (!p->first || !p->node || !p->reason || !p->load || !p->bound) {
        sl_placement_free(p);
        return NULL;
    }
    for (size_t i = 0; i < c->ns; i++)
        p->first[c->svcs[i].input + 1] = c->svcs[i].replicas;
    for (size_t i = 0; i < nservices; i++)
        p->first[i + 1] += p->first[i];
    for (size_t i = 0; i < c->ns; i++) {
        const psvc *s = &c->svcs[i];
        for (uint32_t r = 0; r < s->replicas; r++) {
            const prep *q = &c->reps[s->first + r];
            size_t at = p->first[s->input] + r;
            p->node[at] = q->node >= 0 ? (int32_t)c->nodes[q->node].input : -1;
            p->reason[at] = q->reason;
            p->unplaced += q->node < 0;
        }
    }
    for (size_t i = 0; i < c->nn; i++) {
        p->load[c->nodes[i].input] = c->nodes[i].load;
        p->bound[c->nodes[i].input] = c->nodes[i].bound;
    }
    return p;
}

static void ctx_free(ctx *c)
{
    free(c->nodes);
    free(c->svcs);
    free(c->reps);
    free(c->cand);
    free(c->cand_score);
    free(c->zone_elig);
    free(c->zone_count);
    free(c->zone_hash);
    free(c->heap);
    free(c->hot);
    free(c->surv);
    free(c->hot_hash);
    free(c->hot_golden);
    free(c->hot_class);
    free(c->xs);
    free(c->ws);
}

static int ctx_alloc(ctx *c, size_t nn, size_t ns, size_t nr)
{
    c->nn = nn;
    c->ns = ns;
    c->nr = nr;
    c->nodes = calloc(nn ? nn : 1, sizeof *c->nodes);
    c->svcs = calloc(ns ? ns : 1, sizeof *c->svcs);
    c->reps = calloc(nr ? nr : 1, sizeof *c->reps);
    c->cand = malloc((nr ? nr : 1) * CAND_MAX * sizeof *c->cand);
    c->cand_score = malloc((nr ? nr : 1) * CAND_MAX * sizeof *c->cand_score);
    c->zone_elig = calloc(nn ? nn : 1, sizeof *c->zone_elig);
    c->zone_count = calloc(nn ? nn : 1, sizeof *c->zone_count);
    c->zone_hash = calloc(nn ? nn : 1, sizeof *c->zone_hash);
    c->hot = malloc((nn ? nn : 1) * sizeof *c->hot);
    c->surv = malloc((nn ? nn : 1) * sizeof *c->surv);
    c->hot_hash = malloc((nn ? nn : 1) * sizeof *c->hot_hash);
    c->hot_golden = malloc((nn ? nn : 1) * sizeof *c->hot_golden);
    c->hot_class = malloc(nn ? nn : 1);
    c->xs = malloc((nn ? nn : 1) * 2 * sizeof *c->xs);
    c->ws = malloc((nn ? nn : 1) * 2 * sizeof *c->ws);
    if (!c->hot_hash || !c->hot_golden || !c->hot_class || !c->xs || !c->ws)
        return SL_ENOMEM;
    if (!c->nodes || !c->svcs || !c->reps || !c->cand || !c->cand_score || !c->zone_elig ||
        !c->zone_count || !c->zone_hash || !c->hot || !c->surv)
        return SL_ENOMEM;
    return 0;
}

int sl_placement_compute(const sl_placement_member *members, size_t nmembers,
                         const sl_placement_service *services, size_t nservices,
                         const sl_placement_options *opts, sl_placement **out)
{
    sl_placement_options defaults;
    sl_placement_options_init(&defaults);
    const sl_placement_options *o = opts ? opts : &defaults;
    if (!out)
        return SL_EINVAL;
    int rc = check_inputs(members, nmembers, services, nservices, o);
    if (rc)
        return rc;
    size_t nr = 0;
    for (size_t i = 0; i < nservices; i++)
        nr += services[i].replicas;
    ctx c;
    memset(&c, 0, sizeof c);
    rc = ctx_alloc(&c, nmembers, nservices, nr);
    sl__placement_coarse_init(c.coarse);
    c.draw_fast = sl__placement_draw_fast();
    c.guess = UINT64_MAX;
    if (rc == 0)
        rc = load_members(&c, members, nmembers);
    if (rc == 0)
        rc = load_services(&c, services, nservices);
    if (rc == 0) {
        set_bounds(&c, o);
        rc = set_preferred_zones(&c);
    }
    if (rc == 0)
        rc = o->unbounded ? run(&c) : run_natives_first(&c);
    if (rc == 0) {
        *out = make_result(&c, nmembers, nservices);
        if (!*out)
            rc = SL_ENOMEM;
    }
    ctx_free(&c);
    return rc;
}

void sl_placement_free(sl_placement *p)
{
    if (!p)
        return;
    free(p->first);
    free(p->node);
    free(p->reason);
    free(p->load);
    free(p->bound);
    free(p);
}

int32_t sl_placement_node(const sl_placement *p, size_t service, uint32_t replica)
{
    if (service >= p->nservices || replica >= p->first[service + 1] - p->first[service])
        return -1;
    return p->node[p->first[service] + replica];
}

sl_placement_reason sl_placement_reason_of(const sl_placement *p, size_t service, uint32_t replica)
{
    if (service >= p->nservices || replica >= p->first[service + 1] - p->first[service])
        return SL_PLACEMENT_PLACED;
    return (sl_placement_reason)p->reason[p->first[service] + replica];
}

size_t sl_placement_unplaced(const sl_placement *p)
{
    return p->unplaced;
}

uint32_t sl_placement_load(const sl_placement *p, size_t member)
{
    return member < p->nmembers ? p->load[member] : 0;
}

uint32_t sl_placement_bound(const sl_placement *p, size_t member)
{
    return member < p->nmembers ? p->bound[member] : 0;
}
