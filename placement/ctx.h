/* The working state of one sl_placement_compute() call, shared by
 * placement.c (canonical inputs, zones, the greedy) and candidates.c (the
 * candidate lists). Internal to placement/. */
#ifndef STARLING_PLACEMENT_CTX_H
#define STARLING_PLACEMENT_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/placement.h"

#include "internal.h"

#define CAND_MAX 16
#define CAND_UNSET 0xff
#define NO_ZONE UINT32_MAX
#define SCAN_ANY (UINT32_MAX - 1)

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
    /* Where its replicas looked past their lists in the first greedy (in
     * run_natives_first): NO_ZONE nowhere, a zone id, or SCAN_ANY (every
     * member, or several zones). */
    uint32_t scan_zone;
    uint32_t avoid_first, navoid; /* its avoided members: ctx.avoid[avoid_first..+navoid) */
} psvc;

typedef struct prep {
    uint64_t key;
    uint32_t svc; /* canonical service index */
    uint32_t version;
    int32_t node;        /* canonical member index, or -1 */
    uint32_t pref_zone;  /* the zone it goes to when it has room, or NO_ZONE */
    uint32_t pref_quota; /* replicas of its service dealt to that zone */
    uint8_t reason;
    uint8_t ncand;       /* entries in its candidate list, CAND_UNSET before */
    bool complete;       /* the list holds every member that could ever fit */
    bool avoid_off;      /* no other member could take it: its service's avoided ones may */
    uint32_t fitting;    /* how many members could ever host it (list built) */
    uint64_t score;      /* its score at its member, once placed */
    uint64_t prop_score; /* its pending proposal, while unplaced */
    uint32_t prop_node;
    int32_t native;        /* its member after the first greedy, or -1 */
    uint64_t native_score; /* and its score there */
    bool preset;           /* native known before the first greedy */
    /* scanned: whether it scanned its preferred zone past its list in the first
     * greedy (best_in_zone); scan_hi: the worst score such a scan found
     * there (UINT64_MAX: one found no member). A member of that zone
     * scoring above it won no scan (incremental.c). */
    bool scanned;
    uint64_t scan_hi;
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

/* The per-replica arrays of a ctx, kept by a caller between calls
 * (incremental.c) so that the next ctx writes into memory already mapped
 * instead of faulting in fresh pages: cap replicas each. */
typedef struct ctx_spare {
    prep *reps;
    uint32_t *cand;
    uint64_t *cand_score;
    size_t cap;
} ctx_spare;

typedef struct ctx {
    pnode *nodes;
    size_t nn;
    psvc *svcs;
    size_t ns;
    prep *reps;
    size_t nr;
    size_t cap_r;         /* replicas that reps, cand and cand_score have room for */
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
    bool bulk;        /* heap_push appends without ordering (run()'s first round) */
    bool pass1;       /* the first greedy of run_natives_first() is running */
    bool no_requests; /* no service requests cpu or memory */
    bool has_avoid;   /* some service names members to avoid (the incremental path then runs in full) */
    hnode *hot;       /* the eligible members, canonical order */
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
    uint32_t *avoid;               /* canonical member indexes avoided, by service */
    /* The hot members zone by zone (indexes into hot), zone z's from
     * zone_start[z] to zone_start[z + 1]; built by the first zone scan. */
    uint32_t *zone_hot;
    uint32_t *zone_start;
} ctx;

/* A monotone stand-in for a score, in units of 2^-10 of it: for a pair
 * whose e = (53 << 32) - log2(x) lies in [e_lo, e_hi], the score times 2^10
 * lies in [coarse_key(e_lo) - 2^10, coarse_key(e_hi) + COARSE_SLACK). The
 * truncations of e >> 10 (e < 2^38) and of rw = floor(2^36 / w) cost at most
 * 2^28 + 2^36 below the exact e * 2^26 / w, and the floor of the score at
 * most 2^10; nothing overflows (e_hi >> 10 < 2^28, rw <= 2^36). */
#define COARSE_SLACK ((1ull << 36) + (1ull << 28) + 1)

static inline uint64_t coarse_key(uint64_t e, uint64_t rw)
{
    return (e >> 10) * rw;
}

/* Whether a request fits a capacity (0: unlimited) with `used` taken. */
static inline bool sl__placement_fits_cap(uint32_t cap, uint64_t used, uint32_t req)
{
    return cap == 0 || used + req <= cap;
}

/* Numbers the distinct weights of the eligible members (ctx.hot), or sets
 * nclass to 0 when there are more than WCLASS_MAX (candidates.c). */
void sl__placement_set_weight_classes(ctx *c);

/* Computes replica r's candidate list, CAND_MAX entries at most, and sets
 * its ncand and complete (candidates.c). */
void sl__placement_build_candidates(ctx *c, uint32_t r);

/* Fills c from the inputs, as the first steps of sl_placement_compute():
 * checks them, allocates, sorts them into canonical order, sets the load
 * bounds, the zones and the preferred zones; no candidate list is built yet
 * (every replica's ncand is CAND_UNSET). When spare is not NULL and has room
 * for the replicas, c takes its arrays (and spare is left empty) instead of
 * allocating them. Returns 0 or an error; either way the caller frees c
 * with sl__placement_ctx_free() (placement.c). */
int sl__placement_prepare(ctx *c, const sl_placement_member *members, size_t nmembers,
                          const sl_placement_service *services, size_t nservices,
                          const sl_placement_options *o, ctx_spare *spare);

/* Moves c's per-replica arrays into *spare (freeing what spare held), to be
 * given to a later sl__placement_prepare(); c keeps the rest, for
 * sl__placement_ctx_free(). */
void sl__placement_ctx_keep_spare(ctx *c, ctx_spare *spare);

/* Frees what spare holds and empties it. */
void sl__placement_spare_free(ctx_spare *spare);

/* Runs the greedy (both passes when bounded) on a prepared c, building the
 * candidate lists still CAND_UNSET. Returns 0 or SL_ENOMEM (placement.c). */
int sl__placement_solve(ctx *c, const sl_placement_options *o);

/* Builds the caller-facing result of a solved c; NULL when out of memory. */
sl_placement *sl__placement_result(const ctx *c, size_t nmembers, size_t nservices);

/* Frees what c holds (not c itself). */
void sl__placement_ctx_free(ctx *c);

#endif
