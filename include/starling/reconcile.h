/* Reconcile: from one peer's view to the actions on its local replicas.
 *
 * Every peer computes the same placement from the same view (placement is a
 * pure function), so no one needs to be told what to run: on any change of
 * the members or the catalog each peer calls sl_reconcile() and performs the
 * actions it returns. This module makes every decision and performs none:
 * no processes, no timers, no clock. The agent (node/) performs the actions
 * with real processes, the simulator (sim/) with virtual ones, and both call
 * again at the time it asks for.
 *
 * The decisions:
 *
 *   - A replica placed here that does not run is started (START). One that
 *     runs with another command or environment than the catalog now says is
 *     restarted (RESTART) when the rollout lets it (below).
 *   - Rolling updates. A redeploy with another spec replaces the running
 *     replicas in steps, decided by every peer for its own replicas from
 *     the catalog (the service's rollout parameters) and the reports (which
 *     version each replica runs, and its status), so that no peer holds the
 *     rollout's state and any peer carries it on. Replica j is "done" when
 *     its owner reports it running the new version and we have seen that
 *     for min_healthy. While a replica of slots 0..R-1 runs an older
 *     version, up to max_surge extra replicas (indexes R..R+S-1) run the new
 *     one on surge nodes (a rendezvous choice among the members that hold
 *     no replica of the service when there are such); a surge replica stays
 *     until every slot is done, then stops. The owner of slot i restarts it
 *     with the new version when fewer than max_unavailable + (surge
 *     replicas done) of the slots before it are not done: with the
 *     defaults (surge 1, unavailable 0) one slot at a time, each only while
 *     the surge replica and every earlier slot are healthy, so that R
 *     healthy replicas run throughout. A new replica here that is not done
 *     within the progress deadline of its start halts the rollout where it
 *     is (nothing further becomes done, so nothing further restarts) and,
 *     with auto_revert, asks for the previous spec (REVERT). Replicas that
 *     start fresh (a new slot, a crash, a hand-off) start the new version.
 *   - A replica that runs here but is placed elsewhere is handed off, make
 *     before break: it is kept until the successor reports it running, and
 *     then for linger_ms more while the successor still reports it running
 *     (checked again when the linger ends: a successor that stopped running
 *     it starts the linger again), so that the successor's report reaches
 *     the other members before ours saying we stopped (both go by gossip).
 *     While the successor reports it starting or failed (it is trying: it
 *     either runs it or gives it up, and placement then picks another), we
 *     keep it. If the successor says nothing of it within handoff_ms (it
 *     does not know the service yet, or cannot be heard) it is stopped
 *     anyway (STOP, SL_RC_STOP_TIMEOUT).
 *   - A replica of a deleted service, or beyond the new replica count, has no
 *     successor and stops at once (STOP, SL_RC_STOP_GONE).
 *   - A replica that placement cannot give to anyone keeps running here:
 *     better than nothing.
 *
 * While a hand-off waits, the reconciler asks to be called again (the
 * successor's report may never come): `next_ms` in the result.
 *
 * Why in placement/: the step is a function of the placement and a few
 * tables, and needs nothing of the gossip core; the view it reads is built
 * by the caller (gossip/appstate.h builds it from the members, the catalog
 * and the reports). */
#ifndef STARLING_RECONCILE_H
#define STARLING_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/catalog.h"
#include "starling/placement.h"
#include "starling/reports.h"

#define SL_RC_LINGER_MS 2000    /* kept after the successor runs it */
#define SL_RC_POLL_MS 1000      /* re-check a waiting hand-off this often */
#define SL_RC_HANDOFF_MS 30000u /* default give-up time of a hand-off */

/* One replica the local supervisor holds. */
typedef struct sl_rc_local {
    const char *service;
    uint32_t replica;
    sl_replica_status status;
} sl_rc_local;

/* The local replicas of one reconcile step, with their own copies of the
 * service names (performing an action changes the supervisor's table the
 * names came from). Owned by whoever calls sl_rc_locals_init(). */
typedef struct sl_rc_locals {
    sl_rc_local *a;
    char (*names)[SL_SVC_NAME_MAX + 1];
    size_t n, cap;
} sl_rc_locals;

/* Makes room for cap replicas. Returns 0 or SL_ENOMEM (then l holds none;
 * sl_rc_locals_free() is still fine). */
int sl_rc_locals_init(sl_rc_locals *l, size_t cap);

/* Appends one replica (its name copied); beyond cap, ignored. */
void sl_rc_locals_add(sl_rc_locals *l, const char *service, uint32_t replica,
                      sl_replica_status status);

/* Frees what sl_rc_locals_init() allocated. */
void sl_rc_locals_free(sl_rc_locals *l);

/* Whether `node` reports replica `replica` of `service` running. */
typedef bool (*sl_rc_runs_fn)(void *ud, const char *node, const char *service, uint32_t replica);

/* Everything one reconcile step reads. Borrowed for the call. */
typedef struct sl_reconcile_input {
    const sl_placement_member *members; /* placement's members */
    size_t nmembers;
    int self;                       /* our index in members, or -1 (we get nothing) */
    const sl_service *const *svc;   /* the services placement sees (believed, not deleted) */
    const sl_placement_service *ps; /* the same, as placement's input */
    size_t nsvc;
    const sl_rc_local *local; /* what the local supervisor holds */
    size_t nlocal;
    sl_rc_runs_fn runs; /* the successor's reports */
    void *runs_ud;
    /* Whether `node` reports the replica starting or failed without having
     * given it up (NULL: never): a hand-off to it does not time out. */
    sl_rc_runs_fn trying;
    void *trying_ud;
    /* What `node` reports of one replica: its status and the version it
     * runs (the low 32 bits of sl_service_spec_hash of its spec; 0:
     * unknown). Returns false when the node reports nothing of it. NULL: no
     * rolling updates (a redeploy restarts every replica at once). */
    bool (*replica)(void *ud, const char *node, const char *service, uint32_t replica,
                    sl_replica_status *status, uint32_t *version);
    void *replica_ud;
    uint64_t now_ms; /* monotonic */
} sl_reconcile_input;

typedef enum sl_rc_kind {
    SL_RC_START,   /* start replica `replica` of `svc` */
    SL_RC_RESTART, /* stop it and start it again with svc's new spec */
    SL_RC_STOP,    /* stop it now (why says why) */
    /* The rollout of svc's spec missed its progress deadline here and the
     * service asks for --auto-revert: write its previous spec back (when
     * the catalog still holds svc's spec; `replica` is the one that did
     * not become healthy). Emitted once per replica and version. */
    SL_RC_REVERT,
} sl_rc_kind;

typedef enum sl_rc_stop_why {
    SL_RC_STOP_GONE = 1, /* the service was deleted or scaled down */
    SL_RC_STOP_HANDED,   /* the successor runs it (after the linger) */
    SL_RC_STOP_TIMEOUT,  /* the successor said nothing of it within handoff_ms */
} sl_rc_stop_why;

/* One action. Pointers borrow from the input (names, svc). */
typedef struct sl_rc_action {
    sl_rc_kind kind;
    const char *service;
    uint32_t replica;
    const sl_service *svc; /* START / RESTART: the spec to run */
    sl_rc_stop_why why;    /* STOP */
    const char *successor; /* STOP (HANDED / TIMEOUT): who has it now */
} sl_rc_action;

/* What one step returns. `actions` is owned by the reconciler and valid
 * until the next call. */
typedef struct sl_reconcile_result {
    const sl_rc_action *actions;
    size_t n;
    size_t handoffs; /* hand-offs still waiting */
    /* Hand-offs that began in this step, for the log, and the first one
     * (names borrowed from the input). */
    size_t handoffs_begun;
    const char *first_begun_service, *first_begun_successor;
    uint32_t first_begun_replica;
    /* Rolling updates: local replicas that run an older spec and wait for
     * their turn, and rollouts whose new replicas here missed the progress
     * deadline (halted; see SL_RC_REVERT), with the first of each. */
    size_t rollout_waiting;
    size_t rollouts_halted;
    const char *first_halted_service;
    uint32_t first_halted_replica;
    uint64_t next_ms; /* call again by then (UINT64_MAX: no need) */
} sl_reconcile_result;

typedef struct sl_reconciler sl_reconciler;

/* Creates a reconciler; handoff_ms 0 means SL_RC_HANDOFF_MS. NULL when out
 * of memory. Free with sl_reconciler_free(). */
sl_reconciler *sl_reconciler_new(uint32_t handoff_ms);
void sl_reconciler_free(sl_reconciler *rc);

/* One step: computes the placement of in and decides the actions. Returns
 * 0 and *out, or SL_ENOMEM / SL_EINVAL (placement refused the input). */
int sl_reconcile(sl_reconciler *rc, const sl_reconcile_input *in, sl_reconcile_result *out);

/* The same with a placement the caller computed from the same members and
 * services (a cache): p is borrowed. */
int sl_reconcile_placed(sl_reconciler *rc, const sl_reconcile_input *in, const sl_placement *p,
                        sl_reconcile_result *out);

/* The counters of the placement cache sl_reconcile() keeps between steps
 * (it computes each step's placement incrementally from the last one's when
 * the members and services differ by a few changes; it holds the last
 * step's candidate lists, about 270 bytes per replica, 80 MB at 300,000). */
void sl_reconciler_placement_stats(const sl_reconciler *rc, sl_placement_cache_stats *out);

/* Tells the reconciler that a local replica is gone (it stopped, or the
 * supervisor gave it up): it forgets the spec it was started with and any
 * hand-off of it. */
void sl_reconciler_forget(sl_reconciler *rc, const char *service, uint32_t replica);

/* Hand-offs waiting now. */
size_t sl_reconciler_handoffs(const sl_reconciler *rc);

/* A hash of what a replica runs (command, arguments, environment, and the
 * health check and the user when given): a redeploy that changes it restarts the
 * replicas. */
uint64_t sl_service_spec_hash(const sl_service *svc);

#endif
