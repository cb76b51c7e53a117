/* The application state of one peer, and every decision about it.
 *
 * Beside the membership, each peer holds two replicated tables: the service
 * catalog (desired state, catalog.h) and the node reports (actual state,
 * reports.h). This module owns both and decides everything about them:
 *
 *   - what a received application message or push-pull state does (apply,
 *     pass on by gossip, persist, reconcile), and what our own push-pull
 *     state is: the envelope [catalog, reports, sync];
 *   - local writes (deploy, scale, rm, a record signed elsewhere) and the
 *     one-line reason of a refusal;
 *   - our reports: publishing what the local supervisor runs;
 *   - when to reconcile and when to save: each change asks for one after a
 *     short delay (the debounce), so that a burst of changes costs one, but
 *     never later than a maximum delay after the first unserved change, so
 *     that a steady trickle cannot postpone them for ever;
 *   - housekeeping: tombstones past the horizon, reports about names that are
 *     not members, a catalog nobody confirmed current within the grace time,
 *     and keeping the saved file's time fresh;
 *   - the view reconcile reads (members as placement sees them, believed
 *     services, the successors' reports);
 *   - the snapshot that is persisted: [2, saved_wall_ms, catalog].
 *
 * It performs none of it: no timers, files, processes or clock. Time comes in
 * as arguments (now_ms monotonic, wall_ms the wall clock, 0 when unknown),
 * "call me again at T" goes out through sl_appstate_deadline(), saving and
 * reconciling are flags returned by sl_appstate_tick(), log lines go to a
 * callback. The agent (node/runtime/runtime.c) and the simulator (sim/) drive it.
 *
 * Why in gossip/: it is the application half of what the SWIM core carries
 * (user messages and push-pull states), it uses the core's broadcast queue
 * and member table, and it must not call placement (the view it builds is
 * placement's input type; reconcile.h computes from it). */
#ifndef STARLING_APPSTATE_H
#define STARLING_APPSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/catalog.h"
#include "starling/meta.h"
#include "starling/placement.h"
#include "starling/reports.h"
#include "starling/swim.h"

/* The metadata tag a draining member sets: placement gives it nothing. */
#define SL_TAG_DRAINING "starling.draining"

#define SL_APP_DEBOUNCE_MS 500       /* default reconcile debounce */
#define SL_APP_SAVE_DELAY_MS 200     /* save this long after the last change */
#define SL_APP_SAVE_MAX_MS 1000      /* ... and never later than this after the first */
#define SL_APP_GC_EVERY_MS 60000     /* housekeeping at most this far apart */
#define SL_APP_FILE_FRESH_MS 3600000 /* the snapshot is re-saved at least this often */
#define SL_APP_RETRY_MIN_MS 1000     /* a failed reconcile is tried again this soon, */
#define SL_APP_RETRY_MAX_MS 30000    /* doubling while it fails, up to this */

typedef enum sl_app_level { SL_APP_INFO, SL_APP_WARN, SL_APP_ERROR } sl_app_level;

typedef struct sl_appstate_config {
    const char *node;       /* our member name (copied) */
    uint32_t generation;    /* boot generation: high bits of report versions */
    uint32_t debounce_ms;   /* 0: SL_APP_DEBOUNCE_MS; the maximum delay is 4x this */
    bool persist;           /* ask for saves (a data dir exists) */
    sl_catalog_policy pol;  /* copied by the catalog */
    uint32_t sync_grace_ms; /* a catalog not confirmed current by then is taken as current */
    bool alone;             /* no seed and no remembered peer: our catalog is the source */
    /* A local replica that fails to start this many times in a row is given
     * up for give_up_ms (giveup.h); 0: SL_GIVEUP_AFTER, SL_GIVEUP_FOR_MS.
     * Past SL_GIVEUP_AFTER_MAX or SL_GIVEUP_FOR_MAX_MS: SL_EINVAL. */
    uint32_t give_up_after;
    uint32_t give_up_ms;
    /* Log lines, one message each without a newline; may be NULL. */
    void (*log)(void *ud, sl_app_level level, const char *msg);
    void *ud;
    uint64_t now_ms; /* the time of creation */
} sl_appstate_config;

typedef struct sl_appstate sl_appstate;

/* Creates the state. Returns 0 and *out, SL_ENOMEM, or SL_EINVAL (a bad
 * policy). Free with sl_appstate_free(). */
int sl_appstate_new(const sl_appstate_config *cfg, sl_appstate **out);
void sl_appstate_free(sl_appstate *a);

/* Gives the state the core it gossips through (borrowed; NULL detaches),
 * and asks for a reconcile. */
void sl_appstate_attach(sl_appstate *a, sl_swim *swim, uint64_t now_ms);

/* ---- what the core hands over (its user callbacks) ---- */

/* A received application message (a service record or a report). Returns 0,
 * or a negative code for a refused one (counted, never fatal). */
int sl_appstate_user_msg(sl_appstate *a, const uint8_t *buf, size_t len, uint64_t now_ms,
                         uint64_t wall_ms);
/* Our push-pull state, in a malloc()ed buffer the caller frees. Returns 0 or
 * SL_ENOMEM. */
int sl_appstate_user_state(sl_appstate *a, uint8_t **out, size_t *len);
/* A peer's push-pull state. Returns 0 or SL_EMALFORMED (what decoded is
 * kept). */
int sl_appstate_user_merge(sl_appstate *a, const uint8_t *buf, size_t len, uint64_t now_ms,
                           uint64_t wall_ms);
/* A membership event of the core. */
void sl_appstate_member_event(sl_appstate *a, const sl_swim_event *ev, uint64_t now_ms);

/* ---- local writes (the CLI's operations) ----
 * Each returns 0, or a negative code with a one-line reason in err. */
int sl_appstate_deploy(sl_appstate *a, const sl_service *spec, uint64_t now_ms, uint64_t wall_ms,
                       char *err, size_t errcap);
int sl_appstate_scale(sl_appstate *a, const char *name, uint32_t replicas, uint64_t now_ms,
                      uint64_t wall_ms, char *err, size_t errcap);
int sl_appstate_remove(sl_appstate *a, const char *name, uint64_t now_ms, uint64_t wall_ms,
                       char *err, size_t errcap);
/* Writes the live record's previous spec back as its spec (the current one
 * becomes the previous: `starling rollback` and --auto-revert).
 * SL_ESTATE: no previous version kept; SL_ENOTFOUND: no such service. */
int sl_appstate_rollback(sl_appstate *a, const char *name, uint64_t now_ms, uint64_t wall_ms,
                         char *err, size_t errcap);
/* --auto-revert: writes sl_service_revert_of(the record holding the spec of
 * rolling->name) when that spec is still rolling's, signed with the deploy's
 * revert signature when this catalog runs only signed records. Every peer
 * that reverts writes the same record. Returns 0; SL_ESTALE (the spec
 * changed meanwhile, or the same revert is held already: nothing to do);
 * SL_EAUTH (signatures required and the deploy carries no revert
 * signature); SL_ESTATE (no previous version); with a reason in err. */
int sl_appstate_revert(sl_appstate *a, const sl_service *rolling, uint64_t now_ms,
                       uint64_t wall_ms, char *err, size_t errcap);
/* A whole record written and signed elsewhere, checked like one from the
 * network (SL_ESTALE: a newer write exists; SL_EAUTH: not signed by a
 * trusted key). */
int sl_appstate_write(sl_appstate *a, const uint8_t *rec, size_t len, uint64_t now_ms,
                      uint64_t wall_ms, char *err, size_t errcap);
/* Sets our draining tag: placement moves our replicas away. */
int sl_appstate_drain(sl_appstate *a, uint64_t now_ms, char *err, size_t errcap);
bool sl_appstate_draining(const sl_appstate *a);

/* ---- our reports ---- */

/* Publishes what we run of `service` (n replicas, sorted or not; at most
 * SL_REPORT_REPLICAS_MAX are sent, the rest counted as truncated). */
void sl_appstate_publish(sl_appstate *a, const char *service, const sl_replica_report *reps,
                         uint32_t n);

/* Tells the state a local replica's status changed (every change the
 * supervisor reports) at now_ms. Returns true when the replica is given up
 * by it (it failed to start give_up_after times in a row): the driver stops
 * it (being FAILED, it has no process), and the reports published for its
 * service list it given up until the give-up ends (by time, or because the
 * service's spec changed), which placement everywhere avoids. */
bool sl_appstate_replica_status(sl_appstate *a, const char *service, uint32_t replica,
                                sl_replica_status st, uint64_t now_ms);

/* Tells the state a local replica is gone (stopped and removed): its count
 * of failed starts is forgotten, a give-up is not. */
void sl_appstate_replica_gone(sl_appstate *a, const char *service, uint32_t replica);

/* ---- time ---- */

enum {
    SL_APP_DO_RECONCILE = 1, /* build the view and reconcile now */
    SL_APP_DO_SAVE = 2,      /* persist sl_appstate_snapshot(), then call sl_appstate_saved() */
};

/* When to call sl_appstate_tick() next (UINT64_MAX: never). */
uint64_t sl_appstate_deadline(const sl_appstate *a);
/* Does the housekeeping due by now_ms and returns SL_APP_DO_* flags of what
 * the driver must do now. */
unsigned sl_appstate_tick(sl_appstate *a, uint64_t now_ms, uint64_t wall_ms);
/* Tells the state a reconcile ran: `handoffs` hand-offs wait, and the
 * reconciler wants to run again by next_ms (UINT64_MAX: not needed). */
void sl_appstate_reconciled(sl_appstate *a, size_t handoffs, uint64_t next_ms);
/* Tells the state a reconcile could not run (out of memory, a placement
 * error) at now_ms: it asks for another SL_APP_RETRY_MIN_MS later, doubling
 * with every failure in a row up to SL_APP_RETRY_MAX_MS; a reconcile that
 * runs resets it. Returns the delay it chose, for the log. */
uint32_t sl_appstate_reconcile_failed(sl_appstate *a, uint64_t now_ms);
/* Tells the state the snapshot was persisted at now_ms. */
void sl_appstate_saved(sl_appstate *a, uint64_t now_ms);

/* ---- the view reconcile reads ---- */

typedef struct sl_app_view {
    sl_placement_member *pm; /* names and zones point into the core and meta */
    sl_meta *meta;
    size_t n;
    int self;                 /* our index in pm, or -1 */
    size_t invalid;           /* live members left out for their metadata */
    const sl_service **svc;   /* believed, not deleted (point into the catalog) */
    sl_placement_service *ps; /* the same, as placement's input (avoid lists included) */
    size_t nsvc;
    const char **avoid; /* what ps[].avoid point into: avoid_names, by service */
    char (*avoid_names)[SL_SWIM_NAME_MAX + 1];
} sl_app_view;

/* Fills *v: alive and suspect members count (a suspect may only be slow),
 * dead and left ones do not; a member whose metadata carries the draining
 * tag gets nothing new; capacity comes from the metadata (slots as weight,
 * 1 when unset), and a member whose metadata does not decode or is out of
 * bounds is left out and counted (one bad member never stops placement).
 * Valid until the core or the catalog changes. Returns 0 or SL_ENOMEM. */
int sl_appstate_build_view(sl_appstate *a, const sl_swim *swim, uint64_t wall_ms, sl_app_view *v);
void sl_app_view_free(sl_app_view *v);

/* Puts v's members in name order and finds `self` (borrowed) again, so that
 * two peers with the same members share one placement (the simulator caches
 * placements by input; the agent need not). Services are in the catalog's
 * order, by name, already. */
void sl_app_view_sort(sl_app_view *v, const char *self);

/* Whether `node` reports replica `replica` of `service` running: the
 * successor test of a hand-off (an sl_rc_runs_fn with ud = the state). */
bool sl_appstate_runs(void *a, const char *node, const char *service, uint32_t replica);
/* The reconciler's `replica`: what `node` reports of a replica, its status
 * and version (0: unknown). False when it reports nothing of it. */
bool sl_appstate_replica(void *a, const char *node, const char *service, uint32_t replica,
                         sl_replica_status *status, uint32_t *version);

/* Whether `node` reports that replica starting, failed, oom or unhealthy
 * (not running, not stopping), without having given it up: it is still
 * trying (a hand-off to it does not time out). */
bool sl_appstate_trying(void *a, const char *node, const char *service, uint32_t replica);

/* ---- the snapshot ---- */

/* Encodes [2, wall_ms, catalog] into a malloc()ed buffer. Returns 0 or
 * SL_ENOMEM. */
int sl_appstate_snapshot(const sl_appstate *a, uint64_t wall_ms, uint8_t **out, size_t *len);

typedef struct sl_app_restore {
    uint64_t saved_wall_ms; /* when it was saved */
    size_t records;         /* records held after the merge */
    uint64_t refused;       /* records refused (unsigned, untrusted, future) */
    bool old;               /* saved longer ago than the horizon: returning */
} sl_app_restore;

/* Merges a snapshot (or an earlier version's bare catalog) and sets how
 * current the catalog is: saved within the horizon, current; older,
 * returning. Returns 0 and *info, or SL_EMALFORMED (nothing is kept: the
 * caller moves the file aside). */
int sl_appstate_restore(sl_appstate *a, const uint8_t *buf, size_t len, uint64_t wall_ms,
                        sl_app_restore *info);

/* ---- what it holds and counted ---- */

const sl_catalog *sl_appstate_catalog(const sl_appstate *a);
const sl_reports *sl_appstate_reports(const sl_appstate *a);

typedef struct sl_app_stats {
    uint64_t records_refused; /* catalog records from the cluster refused */
    uint64_t reports_refused; /* reports about names that are not members */
    uint64_t gc_runs, tombstones_collected;
    uint64_t reconciles;        /* SL_APP_DO_RECONCILE returned */
    uint64_t saves;             /* SL_APP_DO_SAVE returned */
    uint64_t catalog_changes;   /* records applied (local or received) */
    uint64_t reports_truncated; /* replicas left out of a report (over the max) */
    uint64_t reconcile_retries; /* failed reconciles asked to run again */
    uint64_t give_ups;          /* local replicas given up (failed to start too often) */
} sl_app_stats;

const sl_app_stats *sl_appstate_stats(const sl_appstate *a);

#endif
