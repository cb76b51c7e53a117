/* The runtime in the simulator: every virtual node runs the agent's runtime
 * core (gossip/appstate.h and placement/reconcile.h, the very code the agent
 * runs) and a virtual supervisor (sim/vsup.h) in place of processes.
 *
 * Installed on a world through its application hook (sl_world_set_app)
 * before the first node is added. What each virtual node does is what
 * node/runtime/runtime.c does for the agent: the core's user messages, push-pull
 * states and membership events go to its sl_appstate; at the time the state
 * asks for, it saves (a snapshot kept in memory: the node's "disk", which
 * survives a crash and is restored when the node restarts) and reconciles
 * (builds the view, computes the placement, performs the actions on the
 * virtual supervisor); every replica status change is published as the
 * node's report, and a removed replica is forgotten by the reconciler.
 *
 * Replicas live and die with their node: a crash frees the node's
 * supervisor (its replicas vanish), a partition leaves them running on their
 * side, a pause stalls the supervisor's bookkeeping with the node.
 *
 * Differences from the agent, on purpose: the placement of a view is cached
 * and shared between nodes that hold the same view (the members and
 * services sorted by name, hashed; it is a pure function, so the result is
 * the same as computing it again), and the wall clock is virtual
 * (SL_SIM_WALL_EPOCH_MS plus the virtual time).
 *
 * Initial services (the scenario's `service` and `services`) are in every
 * node's saved catalog before its first boot, as if each data directory held
 * the same catalog file, written by "scenario". */
#ifndef STARLING_SIM_RUNTIME_H
#define STARLING_SIM_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"
#include "starling/catalog.h"
#include "vsup.h"
#include "world.h"

/* 2026-01-01T00:00:00Z: the virtual wall clock at virtual time 0. */
#define SL_SIM_WALL_EPOCH_MS 1767225600000ull

/* Who watches the replicas (the services tracker, sim/services.h). */
typedef struct sl_sim_rt_observer {
    /* A replica of node `node` changed status (removed: it is gone). */
    void (*replica)(void *ud, int node, const sl_vsup_replica *r, bool removed);
    /* Node `node` crashed (or is booting again): every replica of `sup`
     * vanishes now, without further calls; sup is freed after the call. */
    void (*node_down)(void *ud, int node, const sl_vsup *sup);
    /* Node `node`'s catalog may have changed (a merge, a restore, a local
     * write): for the writes' convergence. */
    void (*catalog)(void *ud, int node, const sl_catalog *cat, uint64_t now_ms);
    /* A node started a replica (not a retry): for starts per replica lost. */
    void (*started)(void *ud, int node, const char *service, uint32_t replica);
    void *ud;
} sl_sim_rt_observer;

typedef struct sl_sim_runtime sl_sim_runtime;

/* Creates the runtime for up to max_nodes nodes and installs it on w (w
 * must have no node yet). sc gives the initial services and the replicas'
 * delays; it and obs (copied; may be NULL) must outlive the runtime.
 * Returns 0 and *out, or -1 with a message in err. */
int sl_sim_runtime_new(sl_world *w, const sl_sim_scenario *sc, uint64_t seed, int max_nodes,
                       const sl_sim_rt_observer *obs, sl_sim_runtime **out, char *err,
                       size_t errcap);

/* Frees the runtime (after the world, or before it is run again). */
void sl_sim_runtime_free(sl_sim_runtime *rt);

/* The virtual wall clock at virtual time now_ms. */
uint64_t sl_sim_wall_ms(uint64_t now_ms);

/* Writes made on node `node` as the CLI would: deploy (the command is the
 * service's name; requests and spread from its `service` line, if any;
 * version > 0 adds SIM_VERSION=version to its environment: another
 * version is another spec, rolled out), scale and rm. On success returns 0 and the write's stamp in *stamp;
 * otherwise a negative code and the one-line reason in err (a node that is
 * down refuses: SL_ENOTFOUND). */
/* Replicas running now, on live nodes, with a version other than that of
 * their node's catalog spec: a rolling update that has not reached them
 * (or halted before them). */
uint64_t sl_sim_runtime_stale_versions(const sl_sim_runtime *rt);

int sl_sim_runtime_deploy(sl_sim_runtime *rt, int node, const char *name, uint32_t replicas,
                          uint32_t version, uint64_t *stamp, char *err, size_t errcap);
int sl_sim_runtime_scale(sl_sim_runtime *rt, int node, const char *name, uint32_t replicas,
                         uint64_t *stamp, char *err, size_t errcap);
int sl_sim_runtime_rm(sl_sim_runtime *rt, int node, const char *name, uint64_t *stamp, char *err,
                      size_t errcap);
/* Node `node` leaves (the agent's `leave`): its supervisor stops with the
 * agent, so its replicas vanish now (the observer's node_down), while its
 * core goes on announcing the leave. */
void sl_sim_runtime_leave(sl_sim_runtime *rt, int node);

/* Sets node's draining tag. */
int sl_sim_runtime_drain(sl_sim_runtime *rt, int node, char *err, size_t errcap);

/* From now on the replicas of `service` exit at once (fails) or start
 * normally again (!fails), on node `node` (-1: on every node; a fix undoes
 * the fail-start of the same node argument). Failing crashes its running
 * replicas on those nodes. */
void sl_sim_runtime_fail_start(sl_sim_runtime *rt, const char *service, int node, bool fails);

/* From now on the health checks of `service` fail (failing) or pass again
 * (!failing) on node `node` (-1: on every node; a heal undoes the fault of
 * the same node argument). Only replicas of a service with a check notice:
 * a running one becomes unhealthy after its `failures` failed checks, and
 * a starting one stays starting. */
void sl_sim_runtime_check_fail(sl_sim_runtime *rt, const char *service, int node, bool failing);

/* Node's catalog, supervisor and reports table (what it has heard every
 * node report, its own included); NULL while it is down. */
const sl_catalog *sl_sim_runtime_catalog(const sl_sim_runtime *rt, int node);
const sl_vsup *sl_sim_runtime_vsup(const sl_sim_runtime *rt, int node);
const sl_reports *sl_sim_runtime_reports(const sl_sim_runtime *rt, int node);

typedef struct sl_sim_rt_stats {
    uint64_t reconciles;
    uint64_t placements;     /* computed */
    uint64_t placement_hits; /* served from the cache */
    uint64_t placements_incremental; /* of the computed, incremental ones */
    uint64_t reconcile_errors;
    uint64_t actions; /* performed: starts, restarts, stops */
    uint64_t reverts; /* rollouts reverted by --auto-revert (SL_RC_REVERT performed) */
    uint64_t saves, restores;
    uint64_t give_ups; /* replicas given up after failing to start (giveup.h) */
    uint64_t unhealthy; /* running replicas made unhealthy by failed health checks */
} sl_sim_rt_stats;

const sl_sim_rt_stats *sl_sim_runtime_stats(const sl_sim_runtime *rt);

#endif
