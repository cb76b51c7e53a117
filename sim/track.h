/* The simulator's bookkeeping: what every node believes, against the truth.
 *
 * The tracker is told the ground truth by the runner (a node starts, crashes,
 * leaves, pauses; the network is cut or healed) and is fed every membership
 * event every node reports. From that it keeps, for every observer and every
 * member, the state the observer holds, and derives the report: how long
 * each crash took to be detected, how long each leave took to be seen, which
 * dead declarations were false, whether and since when all live nodes agree
 * on who is alive, and whether a forgotten member ever came back (a ghost).
 *
 * Cost: one byte per (observer, member) pair, so max_nodes^2 bytes (100 MB at
 * 10,000 nodes), and O(1) per event; a crash, restart or leave costs
 * O(max_nodes). It never looks into a core; sl_sim_track_verify() does, to
 * check that the events told the whole story. */
#ifndef STARLING_SIM_TRACK_H
#define STARLING_SIM_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"
#include "starling/swim.h"
#include "world.h"

typedef struct sl_sim_track sl_sim_track;

#define SL_SIM_NEVER UINT64_MAX

/* One crash: when, and per observer when it marked the node dead. */
typedef struct sl_sim_failure {
    int node;
    uint64_t at_ms;
    uint64_t first_ms, all_ms; /* delays after at_ms; SL_SIM_NEVER if not */
    int detected_by, of;
} sl_sim_failure;

/* One graceful leave, and how long until every live node saw it. */
typedef struct sl_sim_leave {
    int node;
    uint64_t at_ms;
    uint64_t all_ms; /* delay after at_ms; SL_SIM_NEVER if not everyone saw it */
    int seen_by, of;
} sl_sim_leave;

/* A dead declaration judged false, kept as an example for the report. */
typedef struct sl_sim_fp {
    int declarer, node;
    uint64_t at_ms;
    bool paused;
} sl_sim_fp;

#define SL_SIM_FP_SAMPLES 10

/* A snapshot of the views, for the per-second time series. */
typedef struct sl_sim_views {
    int live;               /* running nodes that have not left */
    int view_min, view_max; /* members each live node holds alive or suspect */
    double view_mean;
    uint64_t suspect, dead; /* summed over live nodes */
    int bad_views;          /* live nodes whose view differs from the truth */
} sl_sim_views;

/* Creates a tracker for nodes 0..max_nodes-1. grace_ms is how long after a
 * cut, partition or pause a dead declaration is still blamed on it (about
 * the longest suspicion timeout). Returns NULL when out of memory. */
sl_sim_track *sl_sim_track_new(int max_nodes, uint64_t grace_ms);
void sl_sim_track_free(sl_sim_track *t);

/* The truth, as the runner changes it. */
void sl_sim_track_up(sl_sim_track *t, int node, uint64_t now_ms); /* started or restarted */
void sl_sim_track_crash(sl_sim_track *t, int node, uint64_t now_ms);
void sl_sim_track_leave(sl_sim_track *t, int node, uint64_t now_ms);
void sl_sim_track_pause(sl_sim_track *t, int node, uint64_t now_ms, uint64_t until_ms);
/* A partition or cut action takes effect; it lasts until the next heal. The
 * action must outlive the tracker. */
void sl_sim_track_cut(sl_sim_track *t, const sl_sim_action *a, uint64_t now_ms);
/* Per-node loss; a loss of 1 cuts the node off like a partition. */
void sl_sim_track_node_loss(sl_sim_track *t, int node, double loss, uint64_t now_ms);
void sl_sim_track_heal(sl_sim_track *t, uint64_t now_ms);

/* Feeds one event that `node` reported at now_ms (an sl_world_event_fn). */
void sl_sim_track_event(void *track, int node, uint64_t now_ms, const sl_swim_event *ev);

/* Results. */
bool sl_sim_track_is_live(const sl_sim_track *t, int node);
int sl_sim_track_live(const sl_sim_track *t); /* how many nodes are live */
void sl_sim_track_views(const sl_sim_track *t, sl_sim_views *out);
/* Whether every live node holds exactly the live nodes as alive, and since
 * when (SL_SIM_NEVER when not converged now). */
uint64_t sl_sim_track_converged_since(const sl_sim_track *t);
const sl_sim_failure *sl_sim_track_failures(sl_sim_track *t, size_t *n);
const sl_sim_leave *sl_sim_track_leaves(sl_sim_track *t, size_t *n);
uint64_t sl_sim_track_false_positives(const sl_sim_track *t, bool paused);

/* Declarations, by any node, that a running member was dead when that
 * member had not been paused, down or cut off from the declarer within the
 * grace window: whether the declarer itself was paused, and whatever the
 * loss on either's links. Lifeguard's false positive: a healthy member
 * declared dead, most often by a slow one. */
uint64_t sl_sim_track_healthy_declared_dead(const sl_sim_track *t);
/* Dead declarations, by anyone, about a member that was running all along:
 * not down (crashed, stopped, restarted) and not cut off from the declarer
 * within the grace window, whether or not it stalled or had lossy links. The
 * paper's false positive in the wide sense: with stalls of seconds, far
 * shorter than the suspicion timeout, a stalled member is slow, not dead. */
uint64_t sl_sim_track_alive_declared_dead(const sl_sim_track *t);
const sl_sim_fp *sl_sim_track_fp_samples(const sl_sim_track *t, size_t *n);
uint64_t sl_sim_track_ghosts(const sl_sim_track *t);

/* A live node's wrong belief about a member, for the report. */
typedef struct sl_sim_mismatch {
    int observer, node;
    const char *believed; /* "alive", "suspect", "dead", "left", "unknown" or "reaped" */
    bool truth_alive;
} sl_sim_mismatch;

/* Fills out[0..max) with the first wrong beliefs live nodes hold now, in
 * (observer, node) order; returns how many it wrote. O(max_nodes^2). */
size_t sl_sim_track_mismatches(const sl_sim_track *t, sl_sim_mismatch *out, size_t max);

/* Compares every live node's core with what the events said. Returns the
 * number of disagreeing (observer, member) pairs; writes the first into msg. */
uint64_t sl_sim_track_verify(const sl_sim_track *t, sl_world *w, char *msg, size_t cap);

#endif
