/* Internal to the replica supervisor (node/runtime/supervisor*.c): the
 * structs its files share and the functions one of them calls in another.
 * Nothing outside those files includes this; the module's interface is
 * runtime/supervisor.h. Every function runs on the loop's thread. */
#ifndef STARLING_NODE_SUPERVISOR_INTERNAL_H
#define STARLING_NODE_SUPERVISOR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "starling/catalog.h"

#include "starling/replica_check.h"
#include "runtime/supervisor.h"

typedef struct sl__sup_replica sl__sup_replica;
typedef struct sl__sup_probe sl__sup_probe; /* one check in flight (supervisor_probe.c) */

#define SL__SUP_CG_STALE_MAX 64 /* cgroups waiting to be removed again */

struct sl__sup_replica {
    sl__supervisor *sup;
    sl__sup_replica *next; /* in the list sorted by (service, index) */
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t index;
    char **argv; /* NULL-terminated copies */
    uint32_t argc;
    char **env;
    uint32_t envc;
    char user[SL_SVC_USER_MAX + 1]; /* the user its command runs as; "": the agent's */
    uint32_t version;               /* the spec version of argv/env/user (start_as) */
    uint32_t run_version;           /* `version` at the last spawn: what info carries */
    sl_replica_status status;
    uint16_t port;
    uint32_t restarts;
    int pid; /* 0 when no process runs */
    int64_t exit_status;
    int term_signal;
    uint32_t backoff_ms;  /* the delay of the next restart */
    uint32_t retry_ms;    /* the delay of the restart that is pending */
    uint64_t spawned_at;  /* uv_now() of the last successful spawn */
    uint32_t run;         /* counts spawns, to tell a stale probe */
    sl_check check;       /* the service's health check (sl__supervisor_set_check) */
    sl_replica_check_state chk;  /* failures in a row */
    sl__sup_probe *probe; /* the check in flight, or NULL */
    uint32_t why_run;     /* the run last_why belongs to */
    char last_why[96];    /* the last reason noted of a check failing while starting */
    char *cgroup;         /* the replica's cgroup directory, NULL if none */
    uint64_t oom_base;    /* its oom_kill count when the last run was spawned */
    uint32_t oom_kills;   /* runs that ended in an OOM kill */
    bool oom;             /* the last run ended in one */
    bool stop_requested;
    bool start_after_stop; /* start() arrived while stopping */
    bool spawn_pending;    /* spawn once the old process handle is closed */
    bool removed;
    bool proc_open;
    int open_handles;
    uv_timer_t timer; /* probe ticks, restart backoff or grace, by status */
    uv_process_t proc;
};

struct sl__supervisor {
    uv_loop_t *loop;
    char *node, *host, *log_dir, *shim;
    char log_max[24];             /* bytes, for the shim's --log-max */
    struct sockaddr_storage addr; /* host, port 0 */
    socklen_t addr_len;
    char parent_pid[24];
    uint16_t port_min, port_max, next_port;
    uint32_t grace_ms, backoff_base_ms, backoff_max_ms, ready_after_ms, healthy_after_ms;
    void (*on_change)(void *ud, const sl__replica_info *r);
    void (*on_removed)(void *ud, const sl__replica_info *r);
    void *ud;
    const sl__cgroup *cgroup;
    /* Cgroups of removed replicas that rmdir refused (EBUSY: what was
     * killed in them was still exiting), tried again at every spawn and
     * exit and at close. When full, the oldest is left for the next agent
     * start to sweep. */
    char *cg_stale[SL__SUP_CG_STALE_MAX];
    size_t ncg_stale;
    void (*limits)(void *ud, const char *service, uint32_t *cpu_milli, uint32_t *mem_mb);
    sl__sup_replica *head;
    size_t count;
    size_t zombies; /* removed replicas and finished probes, handles still closing */
    bool closing, finishing;
    void (*done)(void *ud);
    void *done_ud;
    uv_timer_t close_handle; /* never started: its close callback ends close() */
};

/* ---- supervisor.c ----------------------------------------------------- */

/* Sets r's status and tells on_change, unless the supervisor is closing. */
void sl__sup_set_status(sl__sup_replica *r, sl_replica_status st);

/* Frees a NULL-terminated vector of strings and the strings; NULL is fine. */
void sl__sup_free_strv(char **v);

/* Tries again to remove the cgroups of removed replicas (cg_stale). */
void sl__sup_cgroup_retry(sl__supervisor *s);

/* Frees r once it is removed and its last handle is closed; may end close(). */
void sl__sup_maybe_free(sl__sup_replica *r);

/* One of s->zombies is freed; may end close(). */
void sl__sup_zombie_freed(sl__supervisor *s);

/* The close callback of r->proc: spawns again if a spawn waited for it. */
void sl__sup_proc_closed(uv_handle_t *h);

/* Marks r FAILED after a run of `uptime` ms and schedules its restart. */
void sl__sup_schedule_restart(sl__sup_replica *r, uint64_t uptime);

/* The exit callback of r->proc: sweeps the process group, notes the exit,
 * and restarts, removes or starts r again as its state says. */
void sl__sup_process_exited(uv_process_t *p, int64_t exit_status, int term_signal);

/* The grace timer of a replica sent SIGTERM (a stop, or an unhealthy one):
 * SIGKILL to its group and, when it has one, its cgroup. */
void sl__sup_grace_over(uv_timer_t *t);

/* ---- supervisor_spawn.c ----------------------------------------------- */

/* Appends one "[starling] TIME what" line to r's log file. Best effort. */
__attribute__((format(printf, 2, 3))) void sl__sup_note(const sl__sup_replica *r, const char *fmt,
                                                        ...);

/* Runs r's command through the shim: STARTING, probes ticking. On failure r
 * becomes FAILED and its restart is scheduled, as if it had crashed at once.
 * While r's last process handle is still closing, the spawn waits for it. */
void sl__sup_spawn(sl__sup_replica *r);

/* ---- supervisor_ports.c ----------------------------------------------- */

/* Sets the port of an IPv4 or IPv6 address. */
void sl__sup_set_port(struct sockaddr_storage *a, uint16_t port);

/* Returns a free port for r (its own one when still free), or 0. */
uint16_t sl__sup_pick_port(sl__sup_replica *r);

/* ---- supervisor_probe.c ----------------------------------------------- */

/* The timer callback of a STARTING replica, every SL__SUP_PROBE_MS, and of
 * a RUNNING one with a check, every interval: one check at a time; with the
 * default check, a STARTING replica is RUNNING once ready_after_ms passed. */
void sl__sup_probe_tick(uv_timer_t *t);

/* Forgets r's check in flight, if any: its answer is ignored, and its
 * socket or process (killed, with its group) is closed on its own. */
void sl__sup_probe_cancel(sl__sup_replica *r);

#endif
