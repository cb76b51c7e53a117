/* Random small clusters for placement's property tests and its benchmark
 * (tests/unit/test_placement.c, tests/bench/bench_placement.c): one
 * generator, so that the test's targets and the benchmark's table are
 * measured on the very same clusters. Sizes 1..500 members on a log scale,
 * 1..5 zones, weights 1..4, random cpu/mem capacities, 10% suspect and 5%
 * draining members, up to mul x members + 4 services of 1..5 replicas with
 * random requests, 90% of them spread over zones. Every cluster comes from
 * the caller's generator, so a seed replays it. */
#ifndef STARLING_TESTS_RANDOM_CLUSTER_H
#define STARLING_TESTS_RANDOM_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "starling/placement.h"
#include "starling/rng.h"

#define RC_NAME 32

/* How clusters are drawn: mul services per member (0 means 2), and two knobs
 * to explore where moves come from (no resource requests, no zone spread). */
typedef struct rc_options {
    unsigned mul;
    int no_requests;
    int no_zone_spread;
} rc_options;

/* A cluster: members and services, with the storage their names point at.
 * Owned by the caller, freed with rc_free. */
typedef struct rc_cluster {
    size_t nm, ns;
    sl_placement_member *m;
    sl_placement_service *s;
    char (*mname)[RC_NAME];
    char (*zname)[RC_NAME];
    char (*sname)[RC_NAME];
    uint32_t nzones;
} rc_cluster;

/* Draws a cluster from r (o may be NULL: the defaults). Aborts when out of
 * memory (a test helper). */
void rc_random(rc_cluster *c, sl_rng *r, const rc_options *o);

/* Draws one member's zone (into zname, RC_NAME bytes, one of nzones),
 * weight, capacities and state. */
void rc_random_member(sl_rng *r, sl_placement_member *m, uint32_t nzones, char *zname);

/* Frees what rc_random allocated. */
void rc_free(rc_cluster *c);

/* The replicas the services ask for. */
uint64_t rc_total(const rc_cluster *c);

/* The weight of the members that are not draining (weight 0 counts as 1). */
uint64_t rc_eligible_weight(const rc_cluster *c);

/* ---- Moves: the replicas that change member when one member leaves or
 * joins, whatever the algorithm ---- */

/* An algorithm under measure: fills node[k] with the index into m of the
 * member of the k-th replica (services in order, replicas in index order;
 * rc_total entries), -1 when unplaced. Returns 0, or an SL_E* error. */
typedef int (*rc_place_fn)(void *arg, const sl_placement_member *m, size_t nm,
                           const sl_placement_service *s, size_t ns, int32_t *node);

/* Starling's placement as an rc_place_fn; arg is a const
 * sl_placement_options * (NULL: the defaults). */
int rc_place_starling(void *arg, const sl_placement_member *m, size_t nm,
                      const sl_placement_service *s, size_t ns, int32_t *node);

/* Ratios of moved replicas to their optimum, per case. */
typedef struct rc_stats {
    double sum, worst, moved_sum, base_sum;
    size_t cases;
} rc_stats;

/* Adds one case: moved replicas against the optimum base. */
void rc_stat(rc_stats *st, double moved, double base);

/* The mean over cases of moved / base (0 with no case). */
double rc_mean(const rc_stats *st);

/* Places c with fn into node (rc_total entries, owned by the caller). */
int rc_place(const rc_cluster *c, rc_place_fn fn, void *arg, int32_t *node);

/* Removes a random member that holds replicas in node (c's placement by fn)
 * and adds to st the replicas that changed member (by name) against those it
 * held: the optimum. Draws one number from r when some member holds
 * replicas, none otherwise. Returns 0 or fn's error. */
int rc_remove_one(const rc_cluster *c, const int32_t *node, rc_place_fn fn, void *arg, sl_rng *r,
                  rc_stats *st);

/* Adds one alive member (rc_random_member, in one of c's zones) and adds to
 * st the replicas that changed member against the new member's fair share,
 * T x w / (W + w) over the members that are not draining: the optimum.
 * Returns 0 or fn's error. */
int rc_add_one(const rc_cluster *c, const int32_t *node, rc_place_fn fn, void *arg, sl_rng *r,
               rc_stats *st);

/* The largest load / fair share (T x w / W) over the members that are not
 * draining, for c's placement node; 0 when there is none. */
double rc_max_over_fair(const rc_cluster *c, const int32_t *node);

#endif
