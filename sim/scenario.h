/* Scenarios for starling-sim: a small line-based language, parsed here.
 *
 * A scenario says how many nodes start, under which network, what happens to
 * them and when, how long to run, and optionally what the run must show
 * (`expect` lines). The parser only reads text; it never touches a world.
 * Every error names the file, the line and what was expected there. */
#ifndef STARLING_SIM_SCENARIO_H
#define STARLING_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/catalog.h"
#include "starling/rejoin.h"

/* Largest node count a scenario may reach (initial nodes plus joins). */
#define SL_SIM_NODES_MAX 1000000
/* Largest `version K` of a deploy. */
#define SL_SIM_VERSION_MAX 1000000
/* Largest number of services a scenario may name (`services` included). */
#define SL_SIM_SERVICES_MAX 100000

typedef enum sl_sim_action_type {
    SL_SIM_CRASH,     /* nodes */
    SL_SIM_PAUSE,     /* nodes, duration_ms */
    SL_SIM_LEAVE,     /* nodes */
    SL_SIM_RESTART,   /* nodes */
    SL_SIM_PARTITION, /* groups (two or more), cut two ways between every pair */
    SL_SIM_CUT,       /* groups[0] > groups[1], one way */
    SL_SIM_LOSS,      /* nodes, loss */
    SL_SIM_JOIN,      /* count */
    SL_SIM_HEAL,      /* nothing */
    /* The runtime's statements (a write made on node `via`, or a change of
     * a service's behaviour in the virtual supervisors): */
    SL_SIM_DEPLOY,     /* service, replicas, version, via:
                        * `deploy NAME replicas N [version K] via NODE` */
    SL_SIM_SCALE,      /* service, replicas, via: `scale NAME N via NODE` */
    SL_SIM_RM,         /* service, via: `rm NAME via NODE` */
    SL_SIM_FAIL_START, /* service: its replicas exit at once from then on */
    SL_SIM_FIX_START,  /* service: they start again */
    SL_SIM_DRAIN,      /* nodes: set the draining tag (placement moves their replicas) */
    SL_SIM_UNHEALTHY,  /* service: its health checks fail from then on */
    SL_SIM_HEALTHY,    /* service: they pass again */
    SL_SIM_ACTION_LAST = SL_SIM_HEALTHY, /* keep equal to the last one */
} sl_sim_action_type;

/* Returns "crash", "pause", ... */
const char *sl_sim_action_name(sl_sim_action_type t);

/* An inclusive range of node indexes, lo <= hi. */
typedef struct sl_sim_range {
    int lo, hi;
} sl_sim_range;

/* A set of nodes: a list of ranges, in the order written. */
typedef struct sl_sim_set {
    sl_sim_range *r;
    size_t n;
} sl_sim_set;

/* Returns true when node i is in the set. */
bool sl_sim_set_has(const sl_sim_set *s, int i);

typedef struct sl_sim_action {
    uint64_t at_ms;
    int line; /* where it was written, for messages */
    sl_sim_action_type type;
    sl_sim_set nodes;   /* crash, pause, leave, restart, loss */
    sl_sim_set *groups; /* partition (ngroups >= 2), cut (exactly 2: from > to) */
    size_t ngroups;
    uint64_t duration_ms; /* pause */
    bool at_probe;        /* pause: from a `stall ... probing` line (sl_world_pause_at_probe) */
    double loss;          /* loss */
    int count;            /* join */
    char service[64];     /* deploy, scale, rm, fail-start, fix-start, unhealthy, healthy */
    uint32_t replicas;    /* deploy, scale */
    int via;              /* deploy, scale, rm: the node the write is made on */
    /* deploy: `version K` (1..SL_SIM_VERSION_MAX), 0 when not given: the
     * spec's environment carries SIM_VERSION=K, so a deploy of another
     * version is a new spec, rolled out like the agent's redeploys. */
    uint32_t version;
} sl_sim_action;

/* A service in the catalog from the start: `service NAME replicas N [cpu
 * MILLI] [mem MB] [spread zones|nodes]`, or one of `services COUNT replicas
 * N` (named s0, s1, ...; expanded by the parser, in order). */
typedef struct sl_sim_service {
    char name[64];
    uint32_t replicas;
    uint32_t cpu_milli, mem_mb; /* 0: none requested */
    bool spread_nodes;          /* `spread nodes`; default zones */
    sl_check *check;            /* `check KIND` and its `check-interval`, `check-failures`;
                                 * NULL: the default check. Owned by the scenario. */
    int line;
} sl_sim_service;

/* What an `expect` line checks, and how. */
typedef enum sl_sim_metric {
    SL_SIM_M_CONVERGED,       /* `expect converged`: no operator */
    SL_SIM_M_DETECT_FIRST,    /* worst first_detect_s over all crashes */
    SL_SIM_M_DETECT_ALL,      /* worst all_detect_s; a crash not seen by all fails */
    SL_SIM_M_LEAVE_SEEN,      /* worst all_seen_s over all leaves */
    SL_SIM_M_FALSE_POSITIVES, /* false_positives */
    SL_SIM_M_FALSE_POSITIVES_PAUSED,
    SL_SIM_M_HEALTHY_DEAD, /* healthy_declared_dead */
    SL_SIM_M_ALIVE_DEAD,   /* alive_declared_dead */
    SL_SIM_M_GHOSTS,       /* ghosts */
    SL_SIM_M_CONVERGED_AT, /* converged_at_s; not converged fails */
    SL_SIM_M_LIVE,         /* live nodes at the end */
    SL_SIM_M_MSGS,         /* messages.per_node_per_s */
    /* The runtime's (services.* in the report; none measured fails): */
    SL_SIM_M_SERVICES_BACK,     /* `services_at_count_within`: worst time after a fault until every
                                 * service is at its count again (time) */
    SL_SIM_M_MIN_RUNNING,       /* `min_running`: lowest running/count of any
                                 * service while no replica was lost (1 = never below) */
    SL_SIM_M_DUPLICATES_GONE,   /* `duplicates_gone_within`: worst time after a heal until no
                                 * replica runs twice (time) */
    SL_SIM_M_LOST_WRITES,       /* `lost_writes`: acknowledged writes absent after convergence */
    SL_SIM_M_STARTS_PER_LOST,   /* `starts_per_lost`: replica starts per replica lost */
    SL_SIM_M_CATALOG_CONVERGED, /* `catalog_converged_within`: worst time from a write until every
                                 * reachable live node holds it (time) */
    SL_SIM_M_WRITES_RUNNING,    /* `writes_running_within`: worst time from a write until its
                                 * service runs at the write's count on every side (time) */
    SL_SIM_M_UNHEALTHY,         /* `unhealthy`: running replicas made unhealthy by their checks */
    SL_SIM_M_STALE_VERSIONS,    /* `stale_versions`: replicas running at the end with a version
                                 * other than their node's catalog spec */
    SL_SIM_M_REVERTS,           /* `reverts`: rollouts reverted by --auto-revert */
    SL_SIM_M__COUNT
} sl_sim_metric;

/* Returns the metric's name as written in a scenario ("detect_all", ...). */
const char *sl_sim_metric_name(sl_sim_metric m);

typedef enum sl_sim_op {
    SL_SIM_OP_LE,
    SL_SIM_OP_LT,
    SL_SIM_OP_GE,
    SL_SIM_OP_GT,
    SL_SIM_OP_EQ
} sl_sim_op;

/* Returns "<=", "<", ... */
const char *sl_sim_op_name(sl_sim_op op);

typedef struct sl_sim_expect {
    int line;
    sl_sim_metric metric;
    sl_sim_op op;
    double value;   /* times in seconds */
    char text[128]; /* the line as written, trimmed, for the report */
} sl_sim_expect;

typedef struct sl_sim_scenario {
    int nodes;     /* initial nodes, n0..n(nodes-1) */
    int max_nodes; /* nodes plus every join: the names the run can use */
    uint64_t seed;
    bool seed_given;
    char profile[16];    /* "lan", "local" or "wan" */
    uint32_t latency_us; /* one-way base latency */
    uint32_t jitter_us;
    double loss;
    int zones;   /* 0: no zone metadata */
    bool sealed; /* `seal on|off`: every packet and state sealed with a cluster key (default on) */
    /* `pushpull reply-before-merge|reply-after-merge`: how the answering
     * node builds its push-pull reply (see sl_world_config); default after. */
    bool pp_reply_before_merge;
    /* `lifeguard on|off`: off runs plain SWIM (sl_swim_timing.plain_swim). */
    bool plain_swim;
    /* `seeds NODES`: every node joins as `starling agent --join SEEDS` does
     * (sl_world_set_seeds); none: through n0 at start, a random live node
     * later. */
    int seeds[SL_REJOIN_SEEDS_MAX];
    int nseeds;
    int seeds_line;
    /* The runtime: on when the scenario names a service, a runtime action or
     * a delay; then every node runs the runtime core and a virtual
     * supervisor (sim/runtime.h). */
    bool runtime;
    sl_sim_service *services; /* in the order written, `services` expanded */
    size_t nservices;
    uint32_t startup_ms, startup_jitter_ms;   /* `startup MEAN [JITTER]`: 500ms 200ms */
    uint32_t stopping_ms, stopping_jitter_ms; /* `stopping MEAN [JITTER]`: 100ms 0 */
    uint64_t run_ms;
    sl_sim_action *actions; /* sorted by time, then by line */
    size_t nactions;
    sl_sim_expect *expects;
    size_t nexpects;
} sl_sim_scenario;

/* Parses scenario text (NUL-terminated). `file` is used in messages only.
 * Returns 0 and fills *out (free it with sl_sim_scenario_deinit()), or -1
 * with a message "file:line: expected ..., got '...'" in err (capacity
 * errcap); *out is then left empty. */
int sl_sim_scenario_parse(const char *text, const char *file, sl_sim_scenario *out, char *err,
                          size_t errcap);

/* Reads and parses a file. Returns 0, or -1 with a message in err. */
int sl_sim_scenario_load(const char *path, sl_sim_scenario *out, char *err, size_t errcap);

/* Frees what the scenario owns and empties it. */
void sl_sim_scenario_deinit(sl_sim_scenario *sc);

/* Parses a duration such as "30s", "1.5ms", "2m" into microseconds. Returns
 * 0 or -1. */
int sl_sim_parse_duration_us(const char *s, uint64_t *us);

#endif
