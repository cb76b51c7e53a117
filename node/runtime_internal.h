/* Internal to runtime.c and reconcile.c: the runtime's structure. */
#ifndef STARLING_NODE_RUNTIME_INTERNAL_H
#define STARLING_NODE_RUNTIME_INTERNAL_H

#include "runtime.h"
#include "supervisor.h"

/* A local replica that placement gave to another node: we keep running it
 * until its successor reports it running, or handoff_ms has passed. */
typedef struct sl__handoff {
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t replica;
    uint64_t since_ms;
    uint64_t successor_running_ms; /* when we first saw it running, or 0 */
} sl__handoff;

/* After the successor reports a replica running, the old owner keeps its
 * copy this much longer, so that the successor's report reaches the other
 * members before ours saying we stopped (both spread by gossip). */
#define SL__HANDOFF_LINGER_MS 2000

/* A replica this node started, with a hash of the command and environment
 * it was started with: a redeploy that changes them restarts it. */
typedef struct sl__started {
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t replica;
    uint64_t spec_hash;
} sl__started;

struct sl__runtime {
    uv_loop_t *loop;
    sl_swim *swim;
    char *node, *host, *data_dir, *shim;
    sl__runtime_config cfg; /* strings point at the copies above */
    sl_catalog *cat;
    sl_reports *rep;
    sl__supervisor *sup;
    uv_timer_t reconcile_timer, save_timer, gc_timer;
    int open_handles;
    uint64_t report_ctr;
    sl__handoff *ho;
    size_t nho, ho_cap;
    sl__started *started;
    size_t nstarted, started_cap;
    bool draining, closing;
    uint64_t started_ms, saved_at_ms; /* loop clock */
    uint64_t records_refused, refused_logged_ms;
    uint64_t reports_refused; /* reports about names that are not members */
    size_t invalid_members;   /* live members left out of placement (invalid metadata) */
    uint64_t gc_runs, tombstones_collected;
    void (*close_done)(void *ud);
    void *close_ud;
};

/* runtime.c */
uint64_t sl__runtime_now(const sl__runtime *rt);
/* The wall clock in ms since the epoch (0 when it cannot be read: catalog
 * stamps are then plain Lamport times and no time check is made). */
uint64_t sl__wall_ms(void);
void sl__runtime_publish(sl__runtime *rt, const char *service);

/* reconcile.c */
/* Forgets what replica `replica` of `service` was started with (it is gone). */
void sl__reconcile_forget(sl__runtime *rt, const char *service, uint32_t replica);
/* Recomputes the placement and converges the local replicas to it. */
void sl__reconcile(sl__runtime *rt);
/* Asks for a reconcile after the debounce delay (restarting it). */
void sl__reconcile_soon(sl__runtime *rt);

#endif
