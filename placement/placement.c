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
 *    moves somewhat fewer replicas than one greedy run over everything
 *    (BENCHMARKS.md, Placement, measures the moves and says where they come
 *    from).
 *
 * Moves. When a member leaves, its replicas move, plus those that bounded
 * loads or zone spread cascade (the load bound also changes slightly, since
 * W changes). When one joins, the replicas that rank it first move to it (its
 * fair share, bounded), plus those that the freed slots let return to a
 * better member. tests/unit/test_placement.c measures both over random
 * clusters; BENCHMARKS.md records the numbers.
 *
 * Avoided members. A service may name members that should not host it
 * (they gave it up: they could not start it). Such a member is treated, for
 * that service only, as if it already held one of its replicas: it is
 * skipped wherever allowance is decided (siblings_at), and everything else
 * (load bounds, zones, the rankings) is as without it. A replica that no
 * other member is allowed to take proposes again without avoiding (and
 * keeps doing so for the rest of the call): a service that fails to start
 * everywhere stays where it would be without the list, retrying there,
 * rather than unplaced. Avoiding one member moves the replicas it would
 * have hosted, plus what they cascade (as when that member leaves).
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
 * all pairs stop at the hash: candidates.c says how the few that need
 * their exact score are found. placement/incremental.c reuses the lists
 * of the previous input, patched, when only a few members or services
 * changed, and runs the same greedy on them. */
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/placement.h"

#include "ctx.h"

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
    size_t sorted = 1;
    while (sorted < n && strcmp(v[sorted - 1].name, v[sorted].name) < 0)
        sorted++;
    if (sorted >= n)
        return 0; /* strictly increasing already: the callers' arrays often are */
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
        if (!services[i].name || (unsigned)services[i].spread >= SL_PLACEMENT_SPREAD_COUNT ||
            (services[i].navoid && !services[i].avoid))
            return SL_EINVAL;
        for (uint32_t k = 0; k < services[i].navoid; k++)
            if (!services[i].avoid[k])
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

/* The canonical index of the member named `name`, or -1 (members are in
 * name order). */
static int32_t member_named(const ctx *c, const sl_placement_member *members, const char *name)
{
    size_t lo = 0, hi = c->nn;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(members[c->nodes[mid].input].name, name);
        if (cmp == 0)
            return (int32_t)mid;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Resolves s's avoided members into ctx.avoid (room for every name was
 * made by ctx_alloc), sorted, without duplicates. */
static void load_avoid(ctx *c, const sl_placement_member *members, const sl_placement_service *in,
                       psvc *p, uint32_t *used)
{
    p->avoid_first = *used;
    p->navoid = 0;
    for (uint32_t k = 0; k < in->navoid; k++) {
        int32_t m = member_named(c, members, in->avoid[k]);
        if (m < 0)
            continue;
        uint32_t *a = &c->avoid[p->avoid_first], i = p->navoid;
        bool dup = false;
        for (uint32_t j = 0; j < p->navoid; j++)
            dup |= a[j] == (uint32_t)m;
        if (dup)
            continue;
        while (i > 0 && a[i - 1] > (uint32_t)m) {
            a[i] = a[i - 1];
            i--;
        }
        a[i] = (uint32_t)m;
        p->navoid++;
    }
    *used += p->navoid;
}

/* Fills the canonical service and replica arrays. Returns 0 or an error. */
static int load_services(ctx *c, const sl_placement_member *members,
                         const sl_placement_service *services, size_t n)
{
    uint32_t avoided = 0;
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
        p->scan_zone = NO_ZONE;
        c->no_requests &= s->cpu_milli == 0 && s->mem_mb == 0;
        load_avoid(c, members, s, p, &avoided);
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
            q->avoid_off = false;
        }
    }
    free(v);
    return rc;
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
                (hnode){(1ull << 36) / p->weight, (uint32_t)i, p->cpu_cap, p->mem_cap};
        }
        if (p->eligible && !c->zone_elig[p->zone]) {
            c->zone_elig[p->zone] = true;
            c->nzones_elig++;
        }
    }
    sl__placement_set_weight_classes(c);
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
        for (size_t a = 1; a < k; a++) { /* few zones: insertion sort */
            zrank t = z[a];
            size_t j = a;
            for (; j > 0 && zrank_cmp(&t, &z[j - 1]) < 0; j--)
                z[j] = z[j - 1];
            z[j] = t;
        }
        for (uint32_t r = 0; r < s->replicas; r++) {
            prep *q = &c->reps[s->first + r];
            q->pref_zone = z[r % k].zone;
            q->pref_quota = s->replicas / (uint32_t)k + (r % k < s->replicas % k);
        }
    }
    free(z);
    return 0;
}

/* ---- The proposal heap, ordered by (score, replica id, version) ----
 *
 * No two proposals have the same key (a replica proposes once per
 * version), so the heap pops them in one order whatever its shape; a 4-ary
 * heap is shallower than a binary one, with fewer cache misses. */

#define HEAP_ARITY 4

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
    if (c->bulk) { /* run()'s first proposals: sorted afterwards */
        c->heap[c->nheap++] = p;
        return 0;
    }
    size_t i = c->nheap++;
    while (i > 0 && prop_less(&p, &c->heap[(i - 1) / HEAP_ARITY])) {
        c->heap[i] = c->heap[(i - 1) / HEAP_ARITY];
        i = (i - 1) / HEAP_ARITY;
    }
    c->heap[i] = p;
    return 0;
}

static proposal heap_pop(ctx *c)
{
    proposal top = c->heap[0], last = c->heap[--c->nheap];
    size_t i = 0, n = c->nheap;
    for (;;) {
        size_t k = HEAP_ARITY * i + 1, end = k + HEAP_ARITY < n ? k + HEAP_ARITY : n;
        if (k >= n)
            break;
        for (size_t j = k + 1; j < end; j++)
            if (prop_less(&c->heap[j], &c->heap[k]))
                k = j;
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

/* Whether member n could ever host a replica of s (state and capacity). */
static bool fits_static(const pnode *n, const psvc *s)
{
    return n->eligible && sl__placement_fits_cap(n->cpu_cap, 0, s->cpu) &&
           sl__placement_fits_cap(n->mem_cap, 0, s->mem);
}

/* Whether member n has the load and resources left for one more of s. */
static bool fits_now(const pnode *n, const psvc *s)
{
    return n->load < n->limit && sl__placement_fits_cap(n->cpu_cap, n->cpu_used, s->cpu) &&
           sl__placement_fits_cap(n->mem_cap, n->mem_used, s->mem);
}

/* Looks at the placed replicas of s: sets *used when one is on member n
 * (or, with `avoid`, when s avoids n) and returns how many are in n's zone. */
static uint32_t siblings_at(const ctx *c, const psvc *s, uint32_t n, bool avoid, bool *used)
{
    uint32_t zc = 0;
    *used = false;
    for (uint32_t k = 0; avoid && k < s->navoid; k++)
        *used |= c->avoid[s->avoid_first + k] == n; /* avoided: as if taken */
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
        siblings_at(c, s, n, false, &used); /* asked once avoiding did not help */
        if (used)
            continue;
        any_free = true;
        if (sl__placement_fits_cap(p->cpu_cap, p->cpu_used, s->cpu) &&
            sl__placement_fits_cap(p->mem_cap, p->mem_used, s->mem))
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
        uint32_t zc = siblings_at(c, s, n, !q->avoid_off, &used);
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

/* Groups the hot members by zone (ctx.zone_hot). Returns 0 or SL_ENOMEM. */
static int build_zone_hot(ctx *c)
{
    c->zone_start = calloc(c->nzones + 1, sizeof *c->zone_start);
    c->zone_hot = malloc((c->nhot ? c->nhot : 1) * sizeof *c->zone_hot);
    if (!c->zone_start || !c->zone_hot) {
        free(c->zone_start);
        free(c->zone_hot);
        c->zone_start = c->zone_hot = NULL;
        return SL_ENOMEM;
    }
    for (size_t h = 0; h < c->nhot; h++)
        c->zone_start[c->nodes[c->hot[h].node].zone + 1]++;
    for (uint32_t z = 0; z < c->nzones; z++)
        c->zone_start[z + 1] += c->zone_start[z];
    uint32_t *at = malloc((c->nzones ? c->nzones : 1) * sizeof *at);
    if (!at) {
        free(c->zone_start);
        free(c->zone_hot);
        c->zone_start = c->zone_hot = NULL;
        return SL_ENOMEM;
    }
    memcpy(at, c->zone_start, c->nzones * sizeof *at);
    for (size_t h = 0; h < c->nhot; h++) /* canonical order within a zone */
        c->zone_hot[at[c->nodes[c->hot[h].node].zone]++] = (uint32_t)h;
    free(at);
    return 0;
}

#define ZONE_SCAN_SIBLINGS 32

/* The scan of best_in_zone() past replica r's list, over zone z's eligible
 * members only and mostly without exact scores: each allowed member's draw
 * gives coarse bounds of its score (coarse_key(), as in candidates.c); only
 * the members whose lower bound is not above the least upper bound can be
 * the best, and only they get their exact score, compared by (score,
 * index) in canonical order: the member, and the score, of the plain scan.
 * Sets *best (or -1) and *best_sc (UINT64_MAX when none) and returns 0, or
 * returns -1 when it cannot run (out of memory, many siblings, members to
 * avoid): then the caller scans. */
static int zone_scan_fast(ctx *c, uint32_t r, uint32_t z, int32_t *best, uint64_t *best_sc)
{
    const prep *q = &c->reps[r];
    const psvc *s = &c->svcs[q->svc];
    if (s->replicas > ZONE_SCAN_SIBLINGS || (s->navoid && !q->avoid_off) ||
        (!c->zone_hot && build_zone_hot(c)))
        return -1; /* (avoided members, rare: the plain scan skips them) */
    uint32_t sib[ZONE_SCAN_SIBLINGS], nsib = 0;
    for (uint32_t i = 0; i < s->replicas; i++)
        if (c->reps[s->first + i].node >= 0)
            sib[nsib++] = (uint32_t)c->reps[s->first + i].node;
    const uint64_t e_top = 53ull << 32;
    uint64_t min_hi = UINT64_MAX;
    size_t nsurv = 0;
    for (uint32_t k = c->zone_start[z]; k < c->zone_start[z + 1]; k++) {
        uint32_t h = c->zone_hot[k];
        const hnode *hn = &c->hot[h];
        const pnode *p = &c->nodes[hn->node];
        if (!fits_static(p, s) || !fits_now(p, s))
            continue;
        bool used = false;
        for (uint32_t i = 0; i < nsib; i++)
            used |= sib[i] == hn->node;
        if (used)
            continue;
        uint64_t x = sl__placement_pair_x_pre(q->key, c->hot_hash[h], c->hot_golden[h]), lo, hi;
        sl__placement_coarse_log(c->coarse, x, &lo, &hi);
        uint64_t key_lo = coarse_key(e_top - hi, hn->rw);
        if (key_lo >= min_hi + (1u << 10) && min_hi < UINT64_MAX - (1u << 10))
            continue; /* above a bound already seen: it cannot be the best */
        uint64_t key_hi = coarse_key(e_top - lo, hn->rw) + COARSE_SLACK;
        if (key_hi < min_hi)
            min_hi = key_hi;
        c->surv[nsurv++] = (survivor){key_lo, key_hi, x, hn->node};
    }
    *best = -1;
    *best_sc = UINT64_MAX;
    for (size_t i = 0; i < nsurv; i++) {
        const survivor *v = &c->surv[i];
        if (v->key_lo >= min_hi + (1u << 10))
            continue;
        uint64_t sc = sl__placement_score_x(v->x, c->nodes[v->node].weight);
        if (sc < *best_sc) { /* survivors are in canonical order: ties keep the first */
            *best = (int32_t)v->node;
            *best_sc = sc;
        }
    }
    return 0;
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
        siblings_at(c, s, cn[k], !q->avoid_off, &used);
        if (!used) {
            *score = cs[k];
            return (int32_t)cn[k];
        }
    }
    if (q->complete)
        return -1;
    if (c->pass1) {
        psvc *t = &c->svcs[q->svc];
        t->scan_zone = t->scan_zone == NO_ZONE || t->scan_zone == z ? z : SCAN_ANY;
    }
    int32_t best = -1;
    uint64_t best_sc = UINT64_MAX;
    if (zone_scan_fast(c, r, z, &best, &best_sc) == 0)
        goto done;
    for (uint32_t n = 0; n < c->nn; n++) {
        const pnode *p = &c->nodes[n];
        if (p->zone != z || !fits_static(p, s) || !fits_now(p, s))
            continue;
        siblings_at(c, s, n, !q->avoid_off, &used);
        if (used)
            continue;
        uint64_t sc = sl__placement_score_below(q->key, p->hash, p->weight, best_sc);
        if (sc < best_sc) {
            best = (int32_t)n;
            best_sc = sc;
        }
    }
done:
    if (c->pass1) {
        prep *w = &c->reps[r];
        w->scan_hi = !w->scanned || best_sc > w->scan_hi ? best_sc : w->scan_hi;
        w->scanned = true;
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
        sl__placement_build_candidates(c, r);
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
        uint32_t zc = siblings_at(c, s, cn[k], !q->avoid_off, &used);
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
    if (c->pass1)
        c->svcs[q->svc].scan_zone = SCAN_ANY;
    return scan_all(c, r, zones, score);
}

/* best_member(), falling back to the members r's service avoids when no
 * other member is allowed (for the rest of the call: avoid_off stays). */
static int32_t best_allowed(ctx *c, uint32_t r, uint64_t *score)
{
    prep *q = &c->reps[r];
    int32_t n = best_member(c, r, score);
    if (n < 0 && !q->avoid_off && c->svcs[q->svc].navoid) {
        q->avoid_off = true; /* nowhere else: an avoided member is better than none */
        n = best_member(c, r, score);
    }
    return n;
}

/* Replica r proposes its best allowed member, or is marked unplaced for
 * good (what is allowed only shrinks, except for zone counts, and no member
 * at all is allowed). Returns 0 or SL_ENOMEM. */
static int propose(ctx *c, uint32_t r)
{
    prep *q = &c->reps[r];
    uint64_t score = 0;
    int32_t n = best_allowed(c, r, &score);
    if (n < 0) {
        q->reason = (uint8_t)why_not(c, &c->svcs[q->svc]);
        return 0;
    }
    q->prop_node = (uint32_t)n;
    q->prop_score = score;
    return heap_push(c, (proposal){score, r, (uint32_t)n, q->version});
}

/* Replica r, unplaced with a proposal in the heap, proposes again because
 * its siblings' zone counts changed. When its best member is still the one
 * it proposed, with the same score, its proposal stays: a new one would
 * differ only by its version, so it would be granted at the very same
 * point. Returns 0 or SL_ENOMEM. */
static int propose_again(ctx *c, uint32_t r)
{
    prep *q = &c->reps[r];
    uint64_t score = 0;
    int32_t n = best_allowed(c, r, &score);
    if (n >= 0 && (uint32_t)n == q->prop_node && score == q->prop_score)
        return 0;
    q->version++;
    if (n < 0) {
        q->reason = (uint8_t)why_not(c, &c->svcs[q->svc]);
        return 0;
    }
    q->prop_node = (uint32_t)n;
    q->prop_score = score;
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

/* Sorts n proposals of distinct replicas, given in replica order, by
 * (score, replica): a stable radix sort on the score, 11 bits at a time,
 * skipping the digits that all share. Returns the sorted array, v or tmp. */
static proposal *sort_proposals(proposal *v, proposal *tmp, size_t n)
{
    enum { BITS = 11, RADIX = 1 << BITS };
    uint32_t cnt[RADIX];
    for (unsigned shift = 0; shift < 64; shift += BITS) {
        memset(cnt, 0, sizeof cnt);
        for (size_t i = 0; i < n; i++)
            cnt[(v[i].score >> shift) & (RADIX - 1)]++;
        if (n == 0 || cnt[(v[0].score >> shift) & (RADIX - 1)] == n)
            continue;
        uint32_t sum = 0;
        for (size_t d = 0; d < RADIX; d++) {
            uint32_t k = cnt[d];
            cnt[d] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++)
            tmp[cnt[(v[i].score >> shift) & (RADIX - 1)]++] = v[i];
        proposal *t = v;
        v = tmp;
        tmp = t;
    }
    return v;
}

/* Runs the proposals of the replicas not placed yet until every replica is
 * placed or unplaceable. The first proposals, one per replica, are sorted
 * once (sort_proposals) rather than pushed on the heap; the later ones go
 * on the heap, and each step takes the least of both. Keys are distinct,
 * so the order is the one a single heap gives. */
static int run(ctx *c)
{
    int rc = 0;
    c->bulk = true;
    for (uint32_t r = 0; rc == 0 && r < c->nr; r++)
        if (c->reps[r].node < 0)
            rc = propose(c, r);
    c->bulk = false;
    size_t ninit = c->nheap, head = 0;
    proposal *buf = malloc((2 * ninit + 1) * sizeof *buf), *init = NULL;
    if (rc == 0 && !buf)
        rc = SL_ENOMEM;
    if (rc == 0) {
        if (ninit)
            memcpy(buf, c->heap, ninit * sizeof *buf);
        init = sort_proposals(buf, buf + ninit, ninit);
    }
    c->nheap = 0;
    while (rc == 0 && (c->nheap > 0 || head < ninit)) {
        proposal e;
        if (head < ninit && (c->nheap == 0 || prop_less(&init[head], &c->heap[0])))
            e = init[head++];
        else
            e = heap_pop(c);
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
            rc = propose_again(c, s->first + i);
        }
    }
    free(buf);
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

/* Grants every member its best natives (by score, then replica) up to its
 * bound: buckets the natives by member (counting sort, in replica order),
 * and sorts only the buckets of members with more natives than their bound.
 * The grants commute, so this is the same as granting in (member, score,
 * replica) order. Returns 0 or SL_ENOMEM. */
static int grant_natives(ctx *c, const native *v, size_t nv)
{
    uint32_t *start = calloc(c->nn + 1, sizeof *start);
    native *b = malloc((nv ? nv : 1) * sizeof *b);
    if (!start || !b) {
        free(start);
        free(b);
        return SL_ENOMEM;
    }
    for (size_t i = 0; i < nv; i++)
        start[v[i].node + 1]++;
    for (size_t n = 0; n < c->nn; n++)
        start[n + 1] += start[n];
    for (size_t i = 0; i < nv; i++)
        b[start[v[i].node]++] = v[i];
    for (size_t n = c->nn; n > 0; n--) /* back to the bucket starts */
        start[n] = start[n - 1];
    start[0] = 0;
    for (size_t n = 0; n < c->nn; n++) {
        native *x = &b[start[n]];
        uint32_t k = start[n + 1] - start[n], bound = c->nodes[n].bound;
        if (k > bound)
            qsort(x, k, sizeof *x, native_cmp);
        for (uint32_t i = 0; i < k && i < bound; i++)
            grant(c, x[i].rep, x[i].node, x[i].score);
    }
    free(start);
    free(b);
    return 0;
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
    /* Natives known in advance (incremental.c says when that holds). */
    for (uint32_t r = 0; r < c->nr; r++)
        if (c->reps[r].preset)
            grant(c, r, (uint32_t)c->reps[r].native, c->reps[r].native_score);
    c->pass1 = true;
    int rc = run(c);
    c->pass1 = false;
    native *v = malloc((c->nr ? c->nr : 1) * sizeof *v);
    if (rc == 0 && !v)
        rc = SL_ENOMEM;
    size_t nv = 0;
    for (uint32_t r = 0; rc == 0 && r < c->nr; r++) {
        prep *q = &c->reps[r];
        if (q->node >= 0)
            v[nv++] = (native){(uint32_t)q->node, r, q->score};
        q->native = q->node;
        q->native_score = q->score;
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
        rc = grant_natives(c, v, nv);
        if (rc == 0)
            rc = run(c);
    }
    free(v);
    return rc;
}

sl_placement *sl__placement_result(const ctx *c, size_t nmembers, size_t nservices)
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

void sl__placement_ctx_free(ctx *c)
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
    free(c->avoid);
    free(c->zone_hot);
    free(c->zone_start);
}

void sl__placement_spare_free(ctx_spare *spare)
{
    free(spare->reps);
    free(spare->cand);
    free(spare->cand_score);
    *spare = (ctx_spare){0};
}

void sl__placement_ctx_keep_spare(ctx *c, ctx_spare *spare)
{
    sl__placement_spare_free(spare);
    *spare = (ctx_spare){c->reps, c->cand, c->cand_score, c->cap_r};
    c->reps = NULL;
    c->cand = NULL;
    c->cand_score = NULL;
    c->cap_r = 0;
}

static int ctx_alloc(ctx *c, size_t nn, size_t ns, size_t nr, size_t navoid,
                     ctx_spare *spare)
{
    c->avoid = malloc((navoid ? navoid : 1) * sizeof *c->avoid);
    if (!c->avoid)
        return SL_ENOMEM;
    c->nn = nn;
    c->ns = ns;
    c->nr = nr;
    c->nodes = calloc(nn ? nn : 1, sizeof *c->nodes);
    c->svcs = calloc(ns ? ns : 1, sizeof *c->svcs);
    if (spare && spare->reps && spare->cand && spare->cand_score && spare->cap >= nr &&
        spare->cap > 0) {
        c->reps = spare->reps;
        c->cand = spare->cand;
        c->cand_score = spare->cand_score;
        c->cap_r = spare->cap;
        *spare = (ctx_spare){0};
        memset(c->reps, 0, nr * sizeof *c->reps);
    } else {
        c->cap_r = nr ? nr : 1;
        c->reps = calloc(c->cap_r, sizeof *c->reps);
        c->cand = malloc(c->cap_r * CAND_MAX * sizeof *c->cand);
        c->cand_score = malloc(c->cap_r * CAND_MAX * sizeof *c->cand_score);
    }
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

int sl__placement_prepare(ctx *c, const sl_placement_member *members, size_t nmembers,
                          const sl_placement_service *services, size_t nservices,
                          const sl_placement_options *o, ctx_spare *spare)
{
    memset(c, 0, sizeof *c);
    int rc = check_inputs(members, nmembers, services, nservices, o);
    if (rc)
        return rc;
    size_t nr = 0, navoid = 0;
    for (size_t i = 0; i < nservices; i++) {
        nr += services[i].replicas;
        navoid += services[i].navoid;
    }
    rc = ctx_alloc(c, nmembers, nservices, nr, navoid, spare);
    c->has_avoid = navoid > 0;
    sl__placement_coarse_init(c->coarse);
    c->draw_fast = sl__placement_draw_fast();
    c->guess = UINT64_MAX;
    c->no_requests = true;
    if (rc == 0)
        rc = load_members(c, members, nmembers);
    if (rc == 0)
        rc = load_services(c, members, services, nservices);
    if (rc == 0) {
        set_bounds(c, o);
        rc = set_preferred_zones(c);
    }
    return rc;
}

int sl__placement_solve(ctx *c, const sl_placement_options *o)
{
    return o->unbounded ? run(c) : run_natives_first(c);
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
    ctx c;
    int rc = sl__placement_prepare(&c, members, nmembers, services, nservices, o, NULL);
    if (rc == 0)
        rc = sl__placement_solve(&c, o);
    if (rc == 0) {
        *out = sl__placement_result(&c, nmembers, nservices);
        if (!*out)
            rc = SL_ENOMEM;
    }
    sl__placement_ctx_free(&c);
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
