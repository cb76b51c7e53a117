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

/* Largest node count a scenario may reach (initial nodes plus joins). */
#define SL_SIM_NODES_MAX 1000000

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
    double loss;          /* loss */
    int count;            /* join */
} sl_sim_action;

/* What an `expect` line checks, and how. */
typedef enum sl_sim_metric {
    SL_SIM_M_CONVERGED,       /* `expect converged`: no operator */
    SL_SIM_M_DETECT_FIRST,    /* worst first_detect_s over all crashes */
    SL_SIM_M_DETECT_ALL,      /* worst all_detect_s; a crash not seen by all fails */
    SL_SIM_M_LEAVE_SEEN,      /* worst all_seen_s over all leaves */
    SL_SIM_M_FALSE_POSITIVES, /* false_positives */
    SL_SIM_M_FALSE_POSITIVES_PAUSED,
    SL_SIM_M_GHOSTS,       /* ghosts */
    SL_SIM_M_CONVERGED_AT, /* converged_at_s; not converged fails */
    SL_SIM_M_LIVE,         /* live nodes at the end */
    SL_SIM_M_MSGS,         /* messages.per_node_per_s */
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
