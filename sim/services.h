/* The services tracker: what the replicas do under the scenario's faults.
 *
 * Fed with every replica status change of every live node's virtual
 * supervisor (the runtime's observer), with the ground truth the runner
 * changes (nodes up, down, left, draining; partitions and heals) and with
 * the writes the scenario makes, it keeps:
 *
 *   - running: for every service, the replica indexes that run (status
 *     running) on some live node, per side of a partition (the nodes of one
 *     partition group; without a partition, all nodes are one side);
 *   - a side's target for a service: min(R, the side's live nodes that are
 *     not draining), where R is the count of the newest acknowledged write;
 *     the deficit: what is missing from the targets, summed;
 *   - duplicates: replica indexes running on more than one node at once;
 *   - one window per scenario action (a fault), from the action to the
 *     next: `lost` is the deficit the action itself created (the replicas
 *     that must be started again: the optimal number of starts), `starts`
 *     the replicas started in the window, `back_ms` the time until the
 *     deficit was 0 again, and, for a window that began at count and whose
 *     action lost nothing (a join, a drain, a write, a node back: a
 *     rebalance; a heal is not one, the partition caused what follows), the
 *     lowest running count and running/target of any service in it, checked
 *     on every replica change (make-before-break keeps the ratio at 1);
 *     after a heal, the time until no replica ran twice;
 *   - writes: when every live node held each acknowledged write (or a newer
 *     one of the same service), and at the end how many no live node holds
 *     (lost writes).
 *
 * Deterministic; O(1) amortised per replica change, O(services) per change
 * of a side's live nodes, O(running replicas) per partition or heal. */
#ifndef STARLING_SIM_SERVICES_H
#define STARLING_SIM_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"
#include "starling/catalog.h"
#include "track.h"
#include "vsup.h"

typedef struct sl_sim_svc sl_sim_svc;

/* One window: a scenario action and what followed until the next one. */
typedef struct sl_sim_svc_window {
    const sl_sim_action *a; /* NULL: the start of the run */
    uint64_t at_ms;
    uint32_t lost;        /* deficit the action created */
    uint64_t starts;      /* replicas started in the window */
    uint64_t back_ms;     /* delay until the deficit was 0 (0 if it never rose); SL_SIM_NEVER */
    bool rebalance;       /* began at count, lost nothing, and is not a heal */
    double min_running;   /* lowest running/target in the window (1: never below) */
    uint64_t min_count;   /* rebalance: lowest running count of any service in it */
    uint64_t dup_max;     /* most duplicates at once */
    uint64_t dup_gone_ms; /* heal: delay until no duplicate; SL_SIM_NEVER; else unused */
} sl_sim_svc_window;

/* One acknowledged write. */
typedef struct sl_sim_svc_write {
    const sl_sim_action *a;
    uint64_t at_ms;
    uint64_t stamp;
    uint64_t converged_ms; /* delay until every live node held it; SL_SIM_NEVER */
    uint64_t running_ms;   /* delay until the service ran at this write's count on
                            * every side (none missing, none beyond it); SL_SIM_NEVER */
    bool superseded;       /* a newer write of the service came first: no running_ms */
    bool lost;             /* set by sl_sim_svc_finish */
} sl_sim_svc_write;

/* The time series' view of the services (summed over services). */
typedef struct sl_sim_svc_sample {
    uint64_t running; /* distinct replica indexes running on some live node */
    uint64_t target;  /* summed targets of every side */
    uint64_t deficit;
    uint64_t duplicates;
} sl_sim_svc_sample;

/* Creates a tracker for the scenario's services and writes, for nodes
 * 0..max_nodes-1. NULL when out of memory. */
sl_sim_svc *sl_sim_svc_new(const sl_sim_scenario *sc, int max_nodes);
void sl_sim_svc_free(sl_sim_svc *t);

/* The runtime's observer (sl_sim_rt_observer with ud = the tracker). */
void sl_sim_svc_replica(void *t, int node, const sl_vsup_replica *r, bool removed);
void sl_sim_svc_started(void *t, int node, const char *service, uint32_t replica);
/* Node's replicas vanish (call before its supervisor is freed). */
void sl_sim_svc_node_down(sl_sim_svc *t, int node, const sl_vsup *sup);

/* The truth, as the runner changes it. */
void sl_sim_svc_up(sl_sim_svc *t, int node, uint64_t now_ms);   /* started or restarted */
void sl_sim_svc_down(sl_sim_svc *t, int node, uint64_t now_ms); /* crashed or left */
void sl_sim_svc_drain(sl_sim_svc *t, int node, uint64_t now_ms);
/* group[i] for nodes 0..n-1 (0: outside any group), or NULL: one side. */
void sl_sim_svc_sides(sl_sim_svc *t, const int *group, int n, uint64_t now_ms);

/* A scenario action is about to be applied / was applied (call both around
 * every action: the window and its loss are measured between them). */
void sl_sim_svc_action_begin(sl_sim_svc *t, const sl_sim_action *a, uint64_t now_ms);
void sl_sim_svc_action_end(sl_sim_svc *t, const sl_sim_action *a, uint64_t now_ms);

/* An acknowledged write of service `name` on some node, with its stamp. */
void sl_sim_svc_add_write(sl_sim_svc *t, const sl_sim_action *a, const char *name,
                          uint32_t replicas, bool deleted, uint64_t stamp, uint64_t now_ms);
/* Node's catalog may have changed: which pending writes it now holds. */
void sl_sim_svc_catalog(sl_sim_svc *t, int node, const sl_catalog *cat, uint64_t now_ms);

/* At the end of the run: lost writes, against the live nodes' catalogs
 * (cat(ud, i) is NULL for a node that is down). */
void sl_sim_svc_finish(sl_sim_svc *t, const sl_catalog *(*cat)(const void *ud, int node),
                       const void *ud, uint64_t now_ms);

/* Results. */
void sl_sim_svc_sample_now(const sl_sim_svc *t, sl_sim_svc_sample *out);
const sl_sim_svc_window *sl_sim_svc_windows(const sl_sim_svc *t, size_t *n);
const sl_sim_svc_write *sl_sim_svc_writes(const sl_sim_svc *t, size_t *n);
size_t sl_sim_svc_count(const sl_sim_svc *t); /* services tracked */

/* Service i (0..count-1, by name) now. */
typedef struct sl_sim_svc_info {
    const char *name;  /* owned by the tracker */
    uint32_t replicas; /* count of the newest acknowledged write (0: removed) */
    uint64_t running;  /* distinct replica indexes running, summed over sides */
    uint64_t target;   /* summed over sides */
} sl_sim_svc_info;

void sl_sim_svc_info_get(const sl_sim_svc *t, size_t i, sl_sim_svc_info *out);

/* The figures expectations read; has false when nothing was measured. */
typedef struct sl_sim_svc_figures {
    bool has_back;
    uint64_t back_ms; /* worst window's back_ms; SL_SIM_NEVER if one never got back */
    bool has_min;
    uint64_t min_running; /* lowest running count of any service over rebalance windows */
    double min_fraction;  /* lowest running/target there (1: never below) */
    bool has_dup;
    uint64_t dup_gone_ms; /* worst heal's */
    uint64_t lost_writes;
    bool has_starts;
    double starts_per_lost; /* over windows that lost replicas */
    uint64_t lost, starts;
    bool has_writes;
    uint64_t catalog_ms; /* worst write's converged_ms */
    bool has_write_running;
    uint64_t write_running_ms; /* worst running_ms of the writes not superseded */
} sl_sim_svc_figures;

void sl_sim_svc_figures_get(const sl_sim_svc *t, sl_sim_svc_figures *out);

#endif
