/* The service catalog: the cluster's desired state, replicated everywhere.
 *
 * One record per service: its name, replica count, command and arguments,
 * environment, resource requests and spread policy, stamped with a hybrid
 * logical clock (field `lamport`) and the writer's name. Any peer accepts a
 * change; the highest (lamport, writer) wins everywhere, whatever order the
 * news arrives in (last writer wins, with a total order so that two peers
 * never disagree). The stamp is the larger of "one more than every stamp the
 * writer has seen" and "the writer's wall clock in ms, times
 * SL_CATALOG_TICKS_PER_MS": a change made after seeing another always wins
 * over it, and of two changes made without seeing each other (`scale` on one
 * peer, `rm` on another half a second later, before the first news arrived)
 * the later one by the clocks wins, not the one whose writer sorts last.
 * A delete is a tombstone record, kept until it can no longer be
 * resurrected (tombstone_ms, as Serf's tombstone timeout).
 *
 * Sans-IO: records travel as application messages of the SWIM core
 * (sl_swim_broadcast) and the whole catalog in push-pulls; the agent also
 * persists the encoded catalog in its data directory. Every decoder here is
 * strict and bounded. */
#ifndef STARLING_CATALOG_H
#define STARLING_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_SVC_NAME_MAX 63 /* [a-zA-Z0-9._-], starting with a letter or digit */
#define SL_SVC_ARGS_MAX 32 /* command plus arguments */
#define SL_SVC_ENV_MAX 32  /* KEY=VALUE entries */
#define SL_SVC_STR_MAX 256 /* bytes of one argument or environment entry */
#define SL_SVC_REPLICAS_MAX 1000
#define SL_SVC_RECORD_MAX 1000 /* bytes of one encoded record: it must fit a gossip message */
#define SL_CATALOG_SERVICES_MAX 10000
#define SL_APPMSG_SERVICE 1 /* application message kind of a service record */
#define SL_CATALOG_TICKS_PER_MS 4096u /* stamps per ms of wall clock */

typedef enum sl_spread {
    SL_SPREAD_ZONES = 0, /* distinct nodes, spread over zones first (default) */
    SL_SPREAD_NODES = 1, /* distinct nodes, zones ignored */
} sl_spread;

typedef struct sl_service {
    char name[SL_SVC_NAME_MAX + 1];
    uint32_t replicas;
    uint32_t cpu_milli; /* requested per replica; 0 = none */
    uint32_t mem_mb;
    uint32_t spread; /* sl_spread */
    uint32_t argc;
    char **argv; /* owned by the catalog for stored records */
    uint32_t envc;
    char **env;
    uint64_t lamport; /* the write's stamp: a hybrid logical clock */
    char writer[65];
    bool deleted;
    uint64_t changed_ms; /* local time this record was stored (tombstone GC) */
} sl_service;

typedef struct sl_catalog sl_catalog;

/* Creates an empty catalog. Returns NULL when out of memory. */
sl_catalog *sl_catalog_new(void);

/* Frees the catalog and every record. NULL is fine. */
void sl_catalog_free(sl_catalog *c);

/* Checks a service name. Returns 0 or SL_EINVAL. */
int sl_service_name_check(const char *name);

/* Writes a local change: spec's name, replicas, requests, spread, argv and
 * env are copied (spec's lamport, writer and deleted are ignored); it is
 * stamped with the larger of the highest stamp seen + 1 and
 * wall_ms * SL_CATALOG_TICKS_PER_MS (wall_ms: the writer's wall clock in ms
 * since the epoch; 0 gives a plain Lamport clock), and `writer`. now_ms is
 * the caller's local clock, kept for sl_catalog_gc. On success, encodes the
 * new record into msg (capacity cap, at least SL_SVC_RECORD_MAX) for the
 * caller to broadcast and sets *msg_len. Returns 0, SL_EINVAL (bad name,
 * replicas over SL_SVC_REPLICAS_MAX, an empty command, too many or too long
 * arguments or environment entries, "K=V" malformed), SL_ETOOBIG (the record
 * would not fit SL_SVC_RECORD_MAX) or SL_ENOMEM. */
int sl_catalog_put(sl_catalog *c, const sl_service *spec, const char *writer, uint64_t now_ms,
                   uint64_t wall_ms, uint8_t *msg, size_t cap, size_t *msg_len);

/* Deletes a service by writing a tombstone. Same outputs as sl_catalog_put;
 * SL_ENOTFOUND if no live record has that name. */
int sl_catalog_delete(sl_catalog *c, const char *name, const char *writer, uint64_t now_ms,
                      uint64_t wall_ms, uint8_t *msg, size_t cap, size_t *msg_len);

/* Sets the replica count of a live service (a put of its record with a new
 * count). Same outputs as sl_catalog_put. */
int sl_catalog_scale(sl_catalog *c, const char *name, uint32_t replicas, const char *writer,
                     uint64_t now_ms, uint64_t wall_ms, uint8_t *msg, size_t cap,
                     size_t *msg_len);

/* Applies a record received from a peer (an application message of kind
 * SL_APPMSG_SERVICE). Returns 1 when it was newer and stored (pass it on),
 * 0 when we already had it or something newer, or SL_EMALFORMED. */
int sl_catalog_apply(sl_catalog *c, const uint8_t *buf, size_t len, uint64_t now_ms);

/* Encodes the whole catalog (tombstones included) into a malloc()ed buffer
 * the caller frees. Returns 0 or SL_ENOMEM. */
int sl_catalog_encode(const sl_catalog *c, uint8_t **out, size_t *len);

/* Merges a whole catalog from a push-pull or from disk. Validates all of it
 * first: on SL_EMALFORMED nothing changed. Returns the number of records
 * that were newer and stored (>= 0). */
int sl_catalog_merge(sl_catalog *c, const uint8_t *buf, size_t len, uint64_t now_ms);

/* Forgets tombstones stored more than keep_ms ago. Returns how many. */
size_t sl_catalog_gc(sl_catalog *c, uint64_t now_ms, uint64_t keep_ms);

/* Records, tombstones included, sorted by name. The pointers stay valid
 * until the next change to the catalog. */
size_t sl_catalog_size(const sl_catalog *c);
const sl_service *sl_catalog_at(const sl_catalog *c, size_t i);

/* The live (not deleted) record named `name`, or NULL. */
const sl_service *sl_catalog_find(const sl_catalog *c, const char *name);

/* Returns the kind of an application message (its first field), or
 * SL_EMALFORMED. */
int sl_appmsg_kind(const uint8_t *buf, size_t len);

#endif
