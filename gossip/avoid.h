/* Internal: the pairs (service, node) that placement avoids, indexed from
 * the reports: a node whose report about a service lists a replica it gave
 * up (reports.h, giveup.h). Sorted by (service, node), so that one
 * service's nodes are one range. Used by appstate.c. */
#ifndef STARLING_GOSSIP_AVOID_H
#define STARLING_GOSSIP_AVOID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/catalog.h"
#include "starling/reports.h"
#include "starling/swim.h"

typedef struct sl__avoid_pair {
    char service[SL_SVC_NAME_MAX + 1];
    char node[SL_SWIM_NAME_MAX + 1];
} sl__avoid_pair;

typedef struct sl__avoid {
    sl__avoid_pair *p;
    size_t n, cap;
    uint64_t seen; /* sl_reports_gave_up_stored() at the last rebuild */
} sl__avoid;

void sl__avoid_free(sl__avoid *a);

/* Sets whether (service, node) is avoided, from that node's report r (NULL:
 * none held). Returns true when that changed. Out of memory, a pair is not
 * added (placement then may try the node again: it gives up again). */
bool sl__avoid_update(sl__avoid *a, const char *node, const char *service, const sl_report *r);

/* Rebuilds the index from every report when it may be stale: reports that
 * list a given-up replica were stored since the last rebuild, or pairs are
 * held and `changed` (reports were merged or forgotten). Returns true when
 * the pairs changed. */
bool sl__avoid_refresh(sl__avoid *a, const sl_reports *t, bool changed);

/* The nodes avoided for `service`: sets *first to the first pair's index
 * and returns how many follow. */
size_t sl__avoid_range(const sl__avoid *a, const char *service, size_t *first);

#endif
