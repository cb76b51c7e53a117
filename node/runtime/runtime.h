/* Internal: the self-healing runtime of one agent.
 *
 * The runtime holds the replicated desired state (the service catalog) and
 * actual state (node reports), keeps them in step with the cluster through
 * the SWIM core's application messages and push-pulls, persists the catalog
 * in the data directory, and reconciles: from its own view of the members
 * and the catalog it computes the placement, starts the replicas this node
 * owns and hands off the ones it no longer owns (make before break).
 *
 * Everything runs on the agent's loop thread. The agent forwards the core's
 * user callbacks and membership events here. */
#ifndef STARLING_NODE_RUNTIME_H
#define STARLING_NODE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "starling/catalog.h"
#include "starling/reports.h"
#include "starling/swim.h"
#include "runtime/supervisor.h"

#include "starling/appstate.h" /* SL_TAG_DRAINING */

typedef struct sl__runtime sl__runtime;

typedef struct sl__runtime_config {
    const char *node;      /* our member name */
    const char *host;      /* the IP replicas bind to (STARLING_HOST) */
    const char *data_dir;  /* NULL: nothing persisted */
    const char *state_dir; /* the data dir, or the agent's private directory: logs go here */
    const char *shim;      /* path of the starling binary (for `_exec`) */
    uint32_t generation;   /* boot generation: high bits of report versions */
    uint32_t debounce_ms;  /* reconcile this long after the last change */
    uint32_t handoff_ms;   /* give a replica up after this long without a successor */
    uint32_t grace_ms;     /* SIGTERM .. SIGKILL */
    uint64_t log_max;      /* bytes per replica log file (--log-max); 0: the default */
    const char *cluster;   /* the cluster label operator signatures cover */
    /* Operator public keys whose signed writes are run; none: unsigned
     * writes are accepted (and the agent says so). Borrowed for the call. */
    const uint8_t (*operator_keys)[SL_OPERATOR_PUB_BYTES];
    size_t noperator_keys;
    uint64_t skew_ms;         /* records stamped further ahead are refused */
    uint64_t horizon_ms;      /* tombstones are kept this long, by their stamp */
    uint32_t max_services;    /* catalog records held at most */
    size_t max_catalog_bytes; /* the catalog file is refused past this size */
    uint32_t sync_grace_ms;   /* a catalog not confirmed current by then is taken as current */
    bool alone;               /* no seed and no remembered peer: our catalog is the source */
    bool no_cgroups;          /* do not use cgroups even where they are available */
} sl__runtime_config;

/* Creates the runtime on `loop`, loading the persisted catalog if any.
 * Copies cfg's strings. Returns 0 and *out, or a negative code (a corrupt
 * catalog file is reported and refused, not ignored). */
int sl__runtime_new(uv_loop_t *loop, const sl__runtime_config *cfg, sl__runtime **out);

/* Gives the runtime the core it gossips through (after sl_swim_new). */
void sl__runtime_attach(sl__runtime *rt, sl_swim *swim);

/* Stops every replica as mode says, closes the handles and calls done(ud)
 * from the loop; free with sl__runtime_free() after that. The catalog is
 * saved first. */
void sl__runtime_close(sl__runtime *rt, sl__supervisor_close_mode mode, void (*done)(void *ud),
                       void *ud);
void sl__runtime_free(sl__runtime *rt);

/* The core's user callbacks (sl_swim_callbacks), forwarded by the agent. */
int sl__runtime_user_msg(sl__runtime *rt, const uint8_t *buf, size_t len, uint64_t now_ms);
int sl__runtime_user_state(sl__runtime *rt, uint8_t **out, size_t *len);
int sl__runtime_user_merge(sl__runtime *rt, const uint8_t *buf, size_t len, uint64_t now_ms);

/* A membership event, forwarded by the agent. */
void sl__runtime_member_event(sl__runtime *rt, const sl_swim_event *ev);

/* Operations behind the CLI. Each returns 0 or a negative SL_E* code and
 * writes a one-line reason into err (capacity errcap) on failure. */
int sl__runtime_deploy(sl__runtime *rt, const sl_service *spec, char *err, size_t errcap);
/* Writes the live record's previous version back as its spec (`rollback`;
 * see sl_appstate_rollback). Returns 0 or a negative code with a one-line
 * reason in err. */
int sl__runtime_rollback(sl__runtime *rt, const char *name, char *err, size_t errcap);
int sl__runtime_scale(sl__runtime *rt, const char *name, uint32_t replicas, char *err,
                      size_t errcap);
int sl__runtime_remove(sl__runtime *rt, const char *name, char *err, size_t errcap);

/* Applies a whole record written elsewhere (a signed write from the CLI),
 * checked like one from the network, and spreads it. Returns 0, or a
 * negative code with a one-line reason in err (SL_ESTALE: a newer write
 * exists; SL_EAUTH: unsigned or not by a trusted key; ...). */
int sl__runtime_write(sl__runtime *rt, const uint8_t *rec, size_t len, char *err, size_t errcap);

/* Starts draining: our metadata says so, placement moves our replicas away,
 * and we keep each until its successor runs. */
int sl__runtime_drain(sl__runtime *rt, char *err, size_t errcap);

/* One replica this node runs, as the supervisor reports it. */
typedef struct sl__local_replica {
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t replica;
    sl_replica_status status;
    uint16_t port;
    uint32_t restarts;
    int pid;
    uint32_t version; /* spec version (reports.h) of its command; 0: not known */
} sl__local_replica;

/* Copies the local replicas, sorted by (service, replica), into a malloc()ed
 * array the caller frees; returns how many. */
size_t sl__runtime_local(const sl__runtime *rt, sl__local_replica **out);

const sl_catalog *sl__runtime_catalog(const sl__runtime *rt);

/* What cgroups the replicas get: the mode and the sentence `info` shows. */
const sl__cgroup *sl__runtime_cgroup(const sl__runtime *rt);

/* Reports refused because they named a node that is not a member. */
uint64_t sl__runtime_reports_refused(const sl__runtime *rt);

/* How often tombstones were collected, and how many. */
void sl__runtime_gc_counts(const sl__runtime *rt, uint64_t *runs, uint64_t *collected);
const sl_reports *sl__runtime_reports(const sl__runtime *rt);

#endif
