/* Node reports: the cluster's actual state, what each node says it runs.
 *
 * Each node is the only writer of its own reports. It publishes one report
 * per service it runs (or stopped running): the replicas with their status,
 * port, restart count and the version of the spec each runs, stamped with a version that only grows
 * (a boot generation in the high 32 bits, a counter in the low ones, so a restarted node's news
 * wins over its old life's). Reports travel as application messages and push-pulls; `starling
 * where` and the hand-off of a replica during a rebalance read them. Sans-IO, strict bounded
 * decoders. */
#ifndef STARLING_REPORTS_H
#define STARLING_REPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/catalog.h"
#include "starling/swim.h"

#define SL_APPMSG_REPORT 2        /* application message kind of a report */
#define SL_REPORT_REPLICAS_MAX 16 /* replicas of one service on one node in one report */
#define SL_REPORTS_MAX 100000     /* (node, service) reports held */
/* The longest report message, with every field at the largest size that
 * sl_reports_put() and the decoders accept (report_check): array and kind
 * (2), node (2 + 64) and service (2 + 63) strings, version (9), replica
 * array header (3: 16 is past a fixarray), and 16 replicas of 19 bytes:
 * array header (1), replica index below SL_SVC_REPLICAS_MAX (3), status (1),
 * port (3), restarts (5), gave-up flag (1), spec version (5). 449 bytes;
 * 512 leaves room for a
 * trailing element or two of a later version, and is well within
 * SL_SWIM_USER_MAX (1024), which every broadcast must fit. */
#define SL_REPORT_MSG_MAX 512

/* Replica status values. Wire values: append only. */
typedef enum sl_replica_status {
    SL_REPLICA_STARTING = 0,
    SL_REPLICA_RUNNING = 1,
    SL_REPLICA_FAILED = 2,
    SL_REPLICA_STOPPING = 3,
    /* Killed by the kernel for using more than its --mem (its cgroup's
     * memory.events counted an OOM kill), waiting to restart like FAILED. */
    SL_REPLICA_OOM = 4,
    /* Its health check failed N times in a row while running: it is being
     * stopped, and restarted after the backoff (it stays UNHEALTHY until
     * the restart makes it STARTING). */
    SL_REPLICA_UNHEALTHY = 5,
} sl_replica_status;

/* The highest status value decoders accept: move it with every append. */
#define SL_REPLICA_STATUS_LAST SL_REPLICA_UNHEALTHY

/* Returns "starting", "running", "failed", "stopping", "oom" or "unhealthy". */
const char *sl_replica_status_name(sl_replica_status s);

typedef struct sl_replica_report {
    uint32_t replica; /* replica index 0..R-1 */
    uint32_t status;  /* sl_replica_status */
    uint32_t port;    /* STARLING_PORT, 0 if none yet */
    uint32_t restarts;
    /* The node gave this replica up: it failed to start it too many times
     * in a row (status FAILED, or STARTING when placement gave it back as a
     * last resort; never RUNNING). Placement avoids the pair
     * (service, node) while a report says so; the node withdraws it after a
     * while (see gossip/appstate.h). Older versions ignore it and see a
     * failed replica. */
    bool gave_up;
    /* Which version of the service's spec the replica was started with: the
     * low 32 bits of sl_service_spec_hash() (starling/reconcile.h) of that
     * spec, so that any peer can tell old replicas from new ones during a
     * rolling update. 0: not known (a report from an older peer, or a
     * replica whose spec the node did not know). */
    uint32_t version;
} sl_replica_report;

/* One node's report about one service. */
typedef struct sl_report {
    char node[SL_SWIM_NAME_MAX + 1]; /* a member name */
    char service[SL_SVC_NAME_MAX + 1];
    uint64_t version;
    uint32_t n; /* 0 means "runs none of it any more" */
    sl_replica_report replicas[SL_REPORT_REPLICAS_MAX];
} sl_report;

typedef struct sl_reports sl_reports;

/* Creates an empty report table. Returns NULL when out of memory. */
sl_reports *sl_reports_new(void);

/* Frees the table. NULL is fine. */
void sl_reports_free(sl_reports *r);

/* Stores our own report (r->version must grow with every call for the same
 * node and service) and encodes it into msg (capacity cap; SL_REPORT_MSG_MAX
 * is always enough) to broadcast. Returns 0, SL_EINVAL (bad names, n too large) or
 * SL_ESPACE / SL_ENOMEM. */
int sl_reports_put(sl_reports *t, const sl_report *r, uint8_t *msg, size_t cap, size_t *msg_len);

/* Applies a report received from a peer. A report about a node not held
 * yet is stored only if keep(ud, node) accepts the node (NULL: any).
 * Returns 1 when newer and stored (pass it on), 0 when not newer,
 * SL_ENOTFOUND when keep refused it, or SL_EMALFORMED. */
int sl_reports_apply(sl_reports *t, const uint8_t *buf, size_t len,
                     bool (*keep)(void *ud, const char *node), void *ud);

/* Encodes every report into a malloc()ed buffer the caller frees. */
int sl_reports_encode(const sl_reports *t, uint8_t **out, size_t *len);

/* Merges a whole table from a push-pull. Validates all first; returns the
 * number of reports stored, or SL_EMALFORMED (then nothing changed). */
int sl_reports_merge(sl_reports *t, const uint8_t *buf, size_t len);

/* Forgets every report of `node` (a member that was reaped). */
void sl_reports_forget_node(sl_reports *t, const char *node);

/* Forgets every report whose node keep(ud, node) refuses (names that are not
 * members). Returns how many reports were dropped. */
size_t sl_reports_forget_unless(sl_reports *t, bool (*keep)(void *ud, const char *node), void *ud);

/* Reads what a report message is about, its node and service, and its
 * version, without storing or checking the rest.
 * Returns 0 or SL_EMALFORMED. */
int sl_reports_peek(const uint8_t *buf, size_t len, char node[SL_SWIM_NAME_MAX + 1],
                    char service[SL_SVC_NAME_MAX + 1], uint64_t *version);

/* How many reports that list a given-up replica were stored so far (a
 * counter that only grows: whoever indexes given-up replicas rescans when
 * it moved). */
uint64_t sl_reports_gave_up_stored(const sl_reports *t);

/* How many reports are held. */
size_t sl_reports_size(const sl_reports *t);

/* Copies the i-th report in (node, service) order into out. Returns false
 * when i >= sl_reports_size(t). (Reports are held compactly, so they are
 * read by copy, not by pointer.) */
bool sl_reports_at(const sl_reports *t, size_t i, sl_report *out);

/* Copies the report of `node` about `service` into out (NULL: only ask).
 * Returns whether one is held. */
bool sl_reports_find(const sl_reports *t, const char *node, const char *service, sl_report *out);

/* The status (sl_replica_status) of replica `replica` in the report of
 * `node` about `service`, or -1 when that report does not list it. */
int sl_reports_replica_status(const sl_reports *t, const char *node, const char *service,
                              uint32_t replica);

/* Copies into out (NULL: only ask) the entry of replica `replica` in the
 * report of `node` about `service`: its status, port, restarts, gave-up flag
 * and spec version. Returns whether that report lists it. */
bool sl_reports_replica(const sl_reports *t, const char *node, const char *service,
                        uint32_t replica, sl_replica_report *out);

#endif
