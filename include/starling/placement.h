/* Placement: members + services -> which member hosts each replica.
 *
 * A pure, deterministic function. Every peer calls it on its own view of the
 * members and the service catalog and acts on the answer for itself, so two
 * peers with the same view must get the same answer bit for bit, whatever the
 * order of the input arrays and whatever the machine. There is no previous
 * assignment among the inputs: the answer is stable by construction (a
 * replica's node is chosen by rendezvous hashing on the pair (service and
 * replica index, node), so it only changes when that node or a few competing
 * replicas change). placement/placement.c explains the algorithm.
 *
 * Guarantees, for every result:
 * - replicas of one service are on distinct members;
 * - with spread SL_PLACEMENT_SPREAD_ZONE, they are spread over the zones
 *   first: two zones' counts of one service differ by 2 or more only when the
 *   emptier zone had no member with room left for it;
 * - no member holds more than its bound, ceil((1 + eps) * fair share), where
 *   fair share = total replicas * weight / total weight of eligible members;
 * - cpu and memory requests fit each member's capacity;
 * - draining members get nothing; suspect members count like alive ones;
 * - no replica of a service goes to a member in its `avoid` list while
 *   another member could take it (an avoided member is a last resort).
 * What cannot be placed is reported per replica with a reason. */
#ifndef STARLING_PLACEMENT_H
#define STARLING_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest member weight (slots); larger is SL_EINVAL. */
#define SL_PLACEMENT_WEIGHT_MAX 65535u
/* Largest eps, in thousandths (10.0). */
#define SL_PLACEMENT_EPS_MILLI_MAX 10000u
/* Default eps, in thousandths (0.25). */
#define SL_PLACEMENT_EPS_MILLI_DEFAULT 250u
/* Largest total replica count over all services; larger is SL_EINVAL. */
#define SL_PLACEMENT_REPLICAS_MAX (1u << 30)

typedef enum sl_placement_state {
    SL_PLACEMENT_ALIVE = 0,
    SL_PLACEMENT_SUSPECT = 1,  /* still counts, like alive */
    SL_PLACEMENT_DRAINING = 2, /* gets nothing */
    SL_PLACEMENT_STATE_COUNT
} sl_placement_state;

typedef enum sl_placement_spread {
    SL_PLACEMENT_SPREAD_ZONE = 0, /* distinct members, zones first (default) */
    SL_PLACEMENT_SPREAD_NODE = 1, /* distinct members, zones ignored */
    SL_PLACEMENT_SPREAD_COUNT
} sl_placement_spread;

/* Why a replica has no member. */
typedef enum sl_placement_reason {
    SL_PLACEMENT_PLACED = 0,
    SL_PLACEMENT_NO_NODES,      /* no member is eligible (alive or suspect) */
    SL_PLACEMENT_TOO_FEW_NODES, /* every eligible member has one already */
    SL_PLACEMENT_NO_RESOURCES,  /* no member has the cpu or memory left */
    SL_PLACEMENT_LOAD_BOUND,    /* members that fit are at their load bound */
    SL_PLACEMENT_REASON_COUNT
} sl_placement_reason;

typedef struct sl_placement_member {
    const char *name;   /* unique, not NULL; borrowed for the call only */
    const char *zone;   /* NULL means "" */
    uint32_t weight;    /* share of replicas (slots); 0 means 1 */
    uint32_t cpu_milli; /* capacity in millicores; 0 means unlimited */
    uint32_t mem_mb;    /* capacity in MB; 0 means unlimited */
    sl_placement_state state;
} sl_placement_member;

typedef struct sl_placement_service {
    const char *name;   /* unique, not NULL; borrowed for the call only */
    uint32_t replicas;  /* R: replica indexes 0..R-1 */
    uint32_t cpu_milli; /* request per replica */
    uint32_t mem_mb;    /* request per replica */
    sl_placement_spread spread;
    /* Members that should not host any replica of it (they gave it up: see
     * giveup.h), by name, used only for a replica that no other member can
     * take; names that are not members are ignored.
     * navoid 0: none (avoid may be NULL). Borrowed for the call only. */
    const char *const *avoid;
    uint32_t navoid;
} sl_placement_service;

typedef struct sl_placement_options {
    uint32_t eps_milli; /* eps in thousandths, <= SL_PLACEMENT_EPS_MILLI_MAX */
    bool unbounded;     /* no load bound: plain weighted rendezvous (to compare) */
} sl_placement_options;

/* A computed placement; opaque, immutable, owned by whoever computed it. */
typedef struct sl_placement sl_placement;

/* Sets *o to the defaults: eps 0.25, bounded. */
void sl_placement_options_init(sl_placement_options *o);

/* Computes the placement of every replica of services[0..nservices) on
 * members[0..nmembers). opts may be NULL for the defaults. The arrays and
 * their strings are only read during the call; the result refers to members
 * and services by their index in these arrays. On success returns 0 and sets
 * *out to a new placement the caller frees with sl_placement_free(). Returns
 * SL_EINVAL for a NULL or duplicate name, a weight above
 * SL_PLACEMENT_WEIGHT_MAX, an unknown state or spread, eps out of range or
 * more than SL_PLACEMENT_REPLICAS_MAX replicas in total; SL_ENOMEM when an
 * allocation fails. On error *out is left untouched. */
int sl_placement_compute(const sl_placement_member *members, size_t nmembers,
                         const sl_placement_service *services, size_t nservices,
                         const sl_placement_options *opts, sl_placement **out);

/* Frees a placement; NULL is fine. */
void sl_placement_free(sl_placement *p);

/* Returns the index in the members array of the member hosting replica
 * `replica` of services[service], or -1 when it is unplaced or out of range. */
int32_t sl_placement_node(const sl_placement *p, size_t service, uint32_t replica);

/* Returns why that replica is unplaced, or SL_PLACEMENT_PLACED. */
sl_placement_reason sl_placement_reason_of(const sl_placement *p, size_t service, uint32_t replica);

/* Returns the number of replicas left unplaced. */
size_t sl_placement_unplaced(const sl_placement *p);

/* Returns how many replicas members[member] hosts (0 when out of range). */
uint32_t sl_placement_load(const sl_placement *p, size_t member);

/* Returns members[member]'s load bound: 0 for a draining member, UINT32_MAX
 * when unbounded. */
uint32_t sl_placement_bound(const sl_placement *p, size_t member);

/* ---- Incremental placement ----
 *
 * A cache keeps the last input of sl_placement_cache_compute() with the
 * working state of its computation (every replica's candidate list), so
 * that the next input, when it differs from the last by at most
 * SL_PLACEMENT_CACHE_CHANGES_MAX changes, is computed without ranking every
 * member again for every replica: only the lists a change can affect are
 * patched or recomputed, and the greedy then runs on them. The result is
 * identical, field by field, to sl_placement_compute() on the same input
 * (placement/incremental.c says why; tests/unit/test_placement_incremental.c
 * checks it over thousands of random changes).
 *
 * A change is a member added or removed, a member whose weight, cpu or
 * memory capacity changed or that became or stopped being draining (a zone
 * or an alive/suspect flip is free), a service added or removed, or a
 * service whose replicas, requests or spread changed. More changes, other
 * options, or an input with avoided members (sl_placement_service.avoid),
 * or one right after such an input, give a full run (counted). */

/* At most this many changes take the incremental path. */
#define SL_PLACEMENT_CACHE_CHANGES_MAX 4u

typedef struct sl_placement_cache sl_placement_cache;

typedef struct sl_placement_cache_stats {
    uint64_t full;          /* calls that ranked everything (no usable cache) */
    uint64_t incremental;   /* calls that reused the cached lists */
    uint64_t lists_kept;    /* candidate lists reused (incremental calls) */
    uint64_t lists_rebuilt; /* candidate lists recomputed (incremental calls) */
    uint64_t natives_kept;  /* services whose first, unbounded greedy was reused */
    uint64_t scans_kept;    /* of those, services that scanned a zone a change touched */
    uint32_t last_changes;  /* changes found by the last call (UINT32_MAX: full) */
} sl_placement_cache_stats;

/* Returns a new, empty cache (its first compute is a full run), or NULL when
 * out of memory. Free it with sl_placement_cache_free(). */
sl_placement_cache *sl_placement_cache_new(void);

/* Frees a cache and what it holds; NULL is fine. */
void sl_placement_cache_free(sl_placement_cache *cache);

/* Like sl_placement_compute(), with the same arguments, errors and result
 * (owned by the caller), and the same answer bit for bit; uses and then
 * replaces what the cache holds. Arrays already sorted by name are cheapest.
 * On error the cache is emptied (the next call is a full run). */
int sl_placement_cache_compute(sl_placement_cache *cache, const sl_placement_member *members,
                               size_t nmembers, const sl_placement_service *services,
                               size_t nservices, const sl_placement_options *opts,
                               sl_placement **out);

/* Copies the cache's counters into *out. */
void sl_placement_cache_stats_get(const sl_placement_cache *cache, sl_placement_cache_stats *out);

/* Name tables for printing; they return "?" for an out-of-range value. */
const char *sl_placement_state_name(sl_placement_state s);
const char *sl_placement_reason_name(sl_placement_reason r);
const char *sl_placement_spread_name(sl_placement_spread s);

/* Parses a state or spread name ("alive", "suspect", "draining"; "zone",
 * "node"). Returns 0, or SL_EINVAL for an unknown name. */
int sl_placement_state_parse(const char *name, sl_placement_state *out);
int sl_placement_spread_parse(const char *name, sl_placement_spread *out);

#endif
