/* The health-check decisions of a replica supervisor, without I/O.
 *
 * The agent's supervisor (node/runtime/supervisor_probe.c) runs real checks
 * and the simulator's virtual supervisor (sim/vsup.c) virtual ones; both
 * feed every result here, and this says what it means for the replica:
 *
 *   STARTING: a check that passes makes it RUNNING; failures do not count
 *             (a replica may take its time to come up).
 *   RUNNING:  a pass clears the count of failures; `failures` failed checks
 *             in a row make it UNHEALTHY (the count starts again from 0).
 *   other:    results are ignored (a stale answer about a process that is
 *             stopping or gone).
 *
 * And when the next check is due: while STARTING every
 * SL_REPLICA_CHECK_STARTING_MS, so that a replica is seen running soon after
 * it is; while RUNNING every interval; the default check only while STARTING
 * (readiness: it is never checked once running). Pure functions of their
 * arguments; the caller owns every struct. */
#ifndef STARLING_REPLICA_CHECK_H
#define STARLING_REPLICA_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "starling/catalog.h"
#include "starling/reports.h"

#define SL_REPLICA_CHECK_STARTING_MS 150 /* the period of checks while starting */

typedef enum sl_replica_check_verdict {
    SL_REPLICA_CHECK_NOTHING = 0,   /* the status stays */
    SL_REPLICA_CHECK_READY = 1,     /* STARTING -> RUNNING */
    SL_REPLICA_CHECK_UNHEALTHY = 2, /* RUNNING -> UNHEALTHY */
} sl_replica_check_verdict;

/* The failures in a row of one replica's current run; zero it at each spawn. */
typedef struct sl_replica_check_state {
    uint32_t fails;
} sl_replica_check_state;

/* Takes one check result (passed or not) of a replica in `status` whose
 * check is c, updating st; returns what the status becomes. */
sl_replica_check_verdict sl_replica_check_observe(sl_replica_check_state *st, const sl_check *c,
                                                  sl_replica_status status, bool passed);

/* The delay before the next check of a replica in `status` whose check is
 * c, or 0 when it is not checked in that status. */
uint32_t sl_replica_check_period_ms(const sl_check *c, sl_replica_status status);

#endif
