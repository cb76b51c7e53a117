/* Giving up a replica that cannot start here, so that it moves.
 *
 * A peer that cannot start a replica it was given (a missing binary, a full
 * disk) would otherwise retry it for ever, and the service would stay below
 * its count: the old copy elsewhere stops once its hand-off times out. So
 * each peer counts, per local replica, the failed starts in a row (a FAILED
 * or OOM right after STARTING; a RUNNING resets the count). After `after`
 * of them it gives the replica up: the driver stops it, and the peer's
 * report lists it FAILED with gave_up set (reports.h) for `for_ms`, or until
 * the service's spec changes (a redeploy may fix it), or until it runs (it
 * may be placed here again as a last resort). Every peer reads that
 * report and placement avoids the pair (service, node) while it says so
 * (gossip/appstate.c builds the avoid lists from the reports), so the next
 * candidate starts the replica, and the old copy, if any, is kept until it
 * runs there. The give-up ends only by a new report from the peer that gave
 * up: every peer sees the same end, in the same order as everything else
 * that peer says, and nothing is inferred from anybody's clock but its own.
 *
 * A table of small entries, keyed by (service, replica), sans-IO: time comes
 * in as arguments. */
#ifndef STARLING_GIVEUP_H
#define STARLING_GIVEUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/reports.h"

#define SL_GIVEUP_AFTER 3              /* failed starts in a row */
#define SL_GIVEUP_FOR_MS 60000u        /* how long a give-up lasts: a minute */
#define SL_GIVEUP_AFTER_MAX 1000       /* the largest `after` allowed */
#define SL_GIVEUP_FOR_MAX_MS 86400000u /* the longest give-up allowed: a day */

typedef struct sl_giveup sl_giveup;

/* Creates a table: give up after `after` failed starts (0: SL_GIVEUP_AFTER)
 * for for_ms (0: SL_GIVEUP_FOR_MS). NULL when out of memory or a value is
 * past its maximum. */
sl_giveup *sl_giveup_new(uint32_t after, uint32_t for_ms);
void sl_giveup_free(sl_giveup *g);

/* Notes a status change of a local replica at now_ms; spec_stamp is the
 * service's spec stamp now (catalog.h; 0 if unknown). Returns true when the
 * replica is given up by this change: the caller stops it (it has no
 * process, being FAILED) and publishes the service's report again. */
bool sl_giveup_note(sl_giveup *g, const char *service, uint32_t replica, sl_replica_status st,
                    uint64_t spec_stamp, uint64_t now_ms);

/* A local replica is gone (stopped or removed): forgets its count, but not
 * a give-up. */
void sl_giveup_gone(sl_giveup *g, const char *service, uint32_t replica);

/* Whether replica `replica` of `service` is given up now. */
bool sl_giveup_active(const sl_giveup *g, const char *service, uint32_t replica);

/* Appends to reps[0..n) (capacity cap) an entry (FAILED, gave_up) for each
 * replica of `service` given up and not listed yet, and marks listed ones
 * (retrying as a last resort) given up. Returns the new count. */
uint32_t sl_giveup_annotate(const sl_giveup *g, const char *service, sl_replica_report *reps,
                            uint32_t n, uint32_t cap);

/* When the next give-up ends (UINT64_MAX: none). */
uint64_t sl_giveup_deadline(const sl_giveup *g);

/* Ends the give-ups whose time is up at now_ms, or whose service's spec
 * stamp differs now from the one they were given up with (spec_of(ud,
 * service) returns it; 0: the service is gone, which ends them too), calls
 * ended(ud, service) once per entry that ended (the caller republishes) and
 * returns how many ended. */
size_t sl_giveup_expire(sl_giveup *g, uint64_t now_ms,
                        uint64_t (*spec_of)(void *ud, const char *service),
                        void (*ended)(void *ud, const char *service), void *ud);

/* Replicas given up now. */
size_t sl_giveup_count(const sl_giveup *g);

#endif
