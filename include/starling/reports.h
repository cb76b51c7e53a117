/* Node reports: the cluster's actual state, what each node says it runs.
 *
 * Each node is the only writer of its own reports. It publishes one report
 * per service it runs (or stopped running): the replicas with their status,
 * port and restart count, stamped with a version that only grows (a boot
 * generation in the high 32 bits, a counter in the low ones, so a restarted
 * node's news wins over its old life's). Reports travel as application
 * messages and push-pulls; `starling where` and the hand-off of a replica
 * during a rebalance read them. Sans-IO, strict bounded decoders. */
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
/* The longest report message: array and kind (2), node (64 + 2) and service
 * (63 + 2) strings, version (9), replica array (1) and 16 replicas of 4
 * uint32 (21 each): 481 bytes, rounded up. */
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

#endif
