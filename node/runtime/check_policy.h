/* Internal: the health-check decisions of the replica supervisor, without
 * I/O. The supervisor (supervisor_probe.c) runs the checks and feeds every
 * result here; this says what the result means for the replica:
 *
 *   STARTING: a check that passes makes it RUNNING; failures do not count
 *             (a replica may take its time to come up).
 *   RUNNING:  a pass clears the count of failures; `failures` failed checks
 *             in a row make it UNHEALTHY (the count starts again from 0).
 *   other:    results are ignored (a stale answer about a process that is
 *             stopping or gone).
 *
 * And when the next check is due: while STARTING every SL__CHECK_STARTING_MS,
 * so that a replica is seen running soon after it is; while RUNNING every
 * interval; the default check only while
 * STARTING (today's readiness: it is never checked once running). */
#ifndef STARLING_NODE_CHECK_POLICY_H
#define STARLING_NODE_CHECK_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "starling/catalog.h"
#include "starling/reports.h"

#define SL__CHECK_STARTING_MS 150 /* the period of checks while starting */

typedef enum sl__check_verdict {
    SL__CHECK_NOTHING = 0,   /* the status stays */
    SL__CHECK_READY = 1,     /* STARTING -> RUNNING */
    SL__CHECK_UNHEALTHY = 2, /* RUNNING -> UNHEALTHY */
} sl__check_verdict;

/* The failures in a row of one replica's current run; zero it at each spawn. */
typedef struct sl__check_state {
    uint32_t fails;
} sl__check_state;

/* Takes one check result of a replica in `status` whose check is c. */
sl__check_verdict sl__check_observe(sl__check_state *st, const sl_check *c,
                                    sl_replica_status status, bool passed);

/* The delay before the next check of a replica in `status`, or 0 when it is
 * not checked in that status. */
uint32_t sl__check_period_ms(const sl_check *c, sl_replica_status status);

#endif
