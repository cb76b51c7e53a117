/* The virtual supervisor: one simulated node's replicas, on virtual time.
 *
 * The simulator's stand-in for node/runtime/supervisor.h, with the same contract
 * where the two meet: start() and stop() are what the runtime core's
 * actions ask for, on_change reports every status change, on_removed fires
 * once a stopped replica is gone. Nothing is spawned: a started replica is
 * STARTING, becomes RUNNING after a start-up delay (mean plus or minus a
 * uniform jitter, drawn from the supervisor's own seeded generator) unless
 * its service is failing to start (then it exits at once: FAILED, and it is
 * retried after a backoff that doubles from backoff_base_ms up to
 * backoff_max_ms, reset by a failure after healthy_after_ms or more of
 * RUNNING; the same backoff follows a crash); a stopped replica is
 * STOPPING for a stop delay and then removed. A replica without a process
 * (FAILED, waiting to retry) is removed at once by stop(). start() on a
 * STOPPING replica starts it again once it has stopped (it is not removed in
 * between: on_removed does not fire), as the real supervisor does.
 *
 * A replica of a service with a health check (check_of() gives one that is
 * not the default) is checked as the agent's supervisor checks it, with the
 * same decisions (starling/replica_check.h): it stays STARTING until a
 * check passes (every SL_REPLICA_CHECK_STARTING_MS; a check passes once the
 * start-up delay is over and the service's checks are not failing, see
 * check_fails), then it is checked every interval while RUNNING, and
 * `failures` failed checks in a row make it UNHEALTHY: its process is gone
 * at once (no stop delay) and it is retried after the backoff as a FAILED
 * one is, UNHEALTHY meanwhile. A service without a check is RUNNING right
 * after its start-up delay and never checked: as before.
 *
 * Ports are fake (20000 + a slot number, reused after removal). No clock:
 * time comes in as arguments, sl_vsup_deadline() says when sl_vsup_tick()
 * must run next. Deterministic for a given seed and call sequence.
 *
 * Cost: O(log n) per transition (a sorted index and an indexed heap of
 * deadlines), plus a memmove of the index's pointers when a replica is added
 * or removed; O(1) deadline. */
#ifndef STARLING_SIM_VSUP_H
#define STARLING_SIM_VSUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/catalog.h"
#include "starling/reports.h"

#define SL_VSUP_STARTUP_MS 500
#define SL_VSUP_STARTUP_JITTER_MS 200
#define SL_VSUP_STOPPING_MS 100
#define SL_VSUP_BACKOFF_BASE_MS 500
#define SL_VSUP_BACKOFF_MAX_MS 30000
#define SL_VSUP_HEALTHY_AFTER_MS 10000
#define SL_VSUP_PORT_BASE 20000

/* What the supervisor holds about one replica. `service` belongs to the
 * supervisor: valid during the callback, or until the next call into it. */
typedef struct sl_vsup_replica {
    const char *service;
    uint32_t replica;
    sl_replica_status status;
    uint16_t port;
    uint32_t restarts; /* restarts after a failure since start() */
    uint64_t at_ms;    /* when this status began */
    /* The spec version (reports.h) its current run was spawned with: that
     * of the start() that asked for the run (a start on a STOPPING replica
     * takes effect when it starts again); 0: not given. */
    uint32_t version;
} sl_vsup_replica;

typedef struct sl_vsup_config {
    /* Delays; a jitter J spreads a delay uniformly over [mean - J, mean + J]
     * (clamped at 0). The values are used as given: 0 means 0. */
    uint32_t startup_ms, startup_jitter_ms;
    uint32_t stopping_ms, stopping_jitter_ms;
    uint32_t backoff_base_ms;  /* 0: SL_VSUP_BACKOFF_BASE_MS */
    uint32_t backoff_max_ms;   /* 0: SL_VSUP_BACKOFF_MAX_MS */
    uint32_t healthy_after_ms; /* 0: SL_VSUP_HEALTHY_AFTER_MS */
    uint64_t seed;             /* of the delays' generator */
    /* Whether starts of `service` fail now (a `fail-start` scenario
     * statement), asked whenever a replica is spawned: by start(), by a retry
     * and by a start after a stop. It must not call into the supervisor.
     * NULL: never. */
    bool (*fails)(void *ud, const char *service);
    /* The health check of `service` as the node knows it now, asked at every
     * spawn (copied then); NULL or a default check: none. The result must
     * stay valid until the call returns. NULL: no service has a check. */
    const sl_check *(*check_of)(void *ud, const char *service);
    /* Whether the checks of `service` fail now (an `unhealthy` scenario
     * statement), asked at every check. NULL: never. */
    bool (*check_fails)(void *ud, const char *service);
    /* Every status change, with r->status the new one, called at the time
     * of the change (r->at_ms), from inside start(), stop(), crash() or
     * tick(). It may call start() and stop() (with now_ms r->at_ms), but not
     * sl_vsup_free(). Optional. */
    void (*on_change)(void *ud, const sl_vsup_replica *r);
    /* A stopped replica is gone: it is no longer known. r->status is
     * STOPPING, also for a failed replica that stop() removed at once (no
     * STOPPING change is reported for it first). It may call start() and
     * stop() as on_change may. Optional. */
    void (*on_removed)(void *ud, const sl_vsup_replica *r);
    void *ud;
} sl_vsup_config;

typedef struct sl_vsup sl_vsup;

/* Creates an empty supervisor (config copied). NULL when out of memory. */
sl_vsup *sl_vsup_new(const sl_vsup_config *cfg);

/* Frees it. Its replicas vanish with it, as with a crashed machine: no
 * callback fires. NULL is fine. */
void sl_vsup_free(sl_vsup *s);

/* Starts replica `replica` of `service` (copied): STARTING now. A replica
 * that is starting, running or failed is left alone; a stopping one starts
 * again once it has stopped. A new replica takes the lowest free port slot.
 * Returns 0, SL_EINVAL (bad name: NULL, empty or longer than
 * SL_SVC_NAME_MAX), SL_EFULL (every port up to 65535 is held) or
 * SL_ENOMEM. */
int sl_vsup_start(sl_vsup *s, const char *service, uint32_t replica, uint64_t now_ms);

/* start(), with `version` the spec version (reports.h: the low 32 bits of
 * sl_service_spec_hash()) of what the replica runs, carried by its public
 * form from its next spawn on: at once for a new replica, when it starts
 * again for a stopping one; a starting, running or failed one keeps its own. */
int sl_vsup_start_version(sl_vsup *s, const char *service, uint32_t replica, uint32_t version,
                          uint64_t now_ms);

/* Stops a replica: STOPPING now, removed after the stop delay; a failed one
 * is removed at once (on_removed fires before this returns). Returns 0 (also
 * when already stopping; a pending restart is cancelled) or SL_ENOTFOUND. */
int sl_vsup_stop(sl_vsup *s, const char *service, uint32_t replica, uint64_t now_ms);

/* The replica's process exits by itself (a crash): a starting or running
 * replica becomes FAILED and is retried after the backoff; a stopping one has
 * stopped early: it is removed, or starts again at once if start() asked for
 * it meanwhile; a failed one has no process and is left alone. Returns 0 or
 * SL_ENOTFOUND. */
int sl_vsup_crash(sl_vsup *s, const char *service, uint32_t replica, uint64_t now_ms);

/* Crashes every starting or running replica of `service` known when it is
 * called (not those that callbacks start meanwhile); returns how many. */
size_t sl_vsup_crash_service(sl_vsup *s, const char *service, uint64_t now_ms);

/* When sl_vsup_tick() must run next; UINT64_MAX when nothing waits. */
uint64_t sl_vsup_deadline(const sl_vsup *s);

/* Performs every transition due by now_ms, in time order (ties in the order
 * they were scheduled), each with its callbacks at its own time. */
void sl_vsup_tick(sl_vsup *s, uint64_t now_ms);

/* Fills *out (unless NULL) for one replica. Returns 0 or SL_ENOTFOUND. */
int sl_vsup_find(const sl_vsup *s, const char *service, uint32_t replica, sl_vsup_replica *out);

/* Number of replicas known (stopping ones included). */
size_t sl_vsup_count(const sl_vsup *s);

/* Calls fn for every replica, sorted by (service, replica). fn must not call
 * into the supervisor. */
void sl_vsup_foreach(const sl_vsup *s, void (*fn)(void *ud, const sl_vsup_replica *r), void *ud);

/* Calls fn for every replica of one service, by replica index: O(log n + k). */
void sl_vsup_foreach_of(const sl_vsup *s, const char *service,
                        void (*fn)(void *ud, const sl_vsup_replica *r), void *ud);

typedef struct sl_vsup_stats {
    uint64_t starts;   /* replicas started by start() (not retries) */
    uint64_t restarts; /* retries after a failure, and starts after a stop */
    uint64_t failures; /* starting or running replicas that failed (exited) */
    uint64_t stops;    /* stop() calls that stopped something */
    uint64_t removed;  /* replicas removed */
    uint64_t checks;    /* health checks made */
    uint64_t unhealthy; /* running replicas made UNHEALTHY by their checks */
} sl_vsup_stats;

const sl_vsup_stats *sl_vsup_get_stats(const sl_vsup *s);

#endif
