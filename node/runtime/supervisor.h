/* Internal: the replica supervisor. It runs the service replicas that
 * placement gives this agent as child processes on the agent's libuv loop:
 * it allocates each a port, spawns it through the `starling _exec` shim (so
 * that it dies with the agent), sends its output to a log file, watches it
 * become ready, restarts it with exponential backoff when it crashes, and
 * stops it with SIGTERM then SIGKILL. The agent decides what should run and
 * calls start and stop; the supervisor tells it every status change.
 *
 * Errors are negative errno values (the UV_E* codes; print them with
 * uv_strerror). Every function must be called on the loop's thread, and that
 * thread must live as long as the process: the death signal that takes the
 * replicas down fires when the thread that spawned them exits. */
#ifndef STARLING_NODE_SUPERVISOR_H
#define STARLING_NODE_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "starling/catalog.h"
#include "starling/reports.h"

#include "runtime/cgroup.h"

#define SL__SUP_PORT_MIN 20000         /* default first port handed out */
#define SL__SUP_PORT_MAX 29999         /* default last port handed out */
#define SL__SUP_GRACE_MS 5000          /* SIGTERM to SIGKILL */
#define SL__SUP_BACKOFF_BASE_MS 500    /* first restart delay */
#define SL__SUP_BACKOFF_MAX_MS 30000   /* the delay doubles up to this */
#define SL__SUP_READY_AFTER_MS 2000    /* running without listening after this */
#define SL__SUP_HEALTHY_AFTER_MS 10000 /* a run this long resets the backoff */
#define SL__SUP_PROBE_MS 150           /* readiness probe period */
#define SL__SUP_RESPONSE_MAX 8192      /* bytes of an HTTP check's answer read at most */

/* What the supervisor knows about one replica. The service string belongs to
 * the supervisor and is valid only during the callback or until the next
 * call into the supervisor. */
typedef struct sl__replica_info {
    const char *service;
    uint32_t replica;
    sl_replica_status status;
    uint16_t port;       /* STARLING_PORT; kept across restarts when still free */
    uint32_t restarts;   /* respawns after a crash since start() */
    uint32_t retry_ms;   /* FAILED: the delay before the restart; else 0 */
    int pid;             /* the process (the shim execs into the command); 0 if none */
    int64_t exit_status; /* of the last exit, or 0 */
    int term_signal;     /* the signal that ended the last exit, or 0 */
    uint32_t oom_kills;  /* exits that were OOM kills (its cgroup said so) since start() */
    /* The spec version (reports.h) of the command of its last spawn: the
     * `version` of the start() that gave that command; 0 when not given. A
     * replica started again while stopping keeps the old one until the new
     * command is spawned. */
    uint32_t version;
} sl__replica_info;

typedef struct sl__supervisor_config {
    const char *node; /* STARLING_NODE; copied */
    const char *host; /* IP literal the replicas listen on (STARLING_HOST); copied */
    /* Created (one level, mode 0700) if missing and refused if it is not a
     * directory of ours (a symlink, say); copied. Log files are opened with
     * O_NOFOLLOW, mode 0600. Each replica appends its stdout,
     * its stderr and the supervisor's "[starling] ..." notes (starts, exits,
     * restarts, signals) to LOG_DIR/<service>.<replica>.log, which its shim
     * rotates at log_max (replica_log.h). */
    const char *log_dir;
    /* A replica's log file is rotated before it passes this many bytes,
     * keeping SL__LOG_KEEP rotated files (replica_log.h); 0: the default
     * of --log-max. */
    uint64_t log_max;
    const char *shim;            /* the starling binary, usually /proc/self/exe resolved; copied */
    uint16_t port_min, port_max; /* 0: SL__SUP_PORT_MIN..SL__SUP_PORT_MAX */
    uint32_t grace_ms;           /* 0: SL__SUP_GRACE_MS */
    uint32_t backoff_base_ms;    /* 0: SL__SUP_BACKOFF_BASE_MS */
    uint32_t backoff_max_ms;     /* 0: SL__SUP_BACKOFF_MAX_MS */
    uint32_t ready_after_ms;     /* 0: SL__SUP_READY_AFTER_MS */
    uint32_t healthy_after_ms;   /* 0: SL__SUP_HEALTHY_AFTER_MS */
    /* Called on every status change, with the new status, from the loop or
     * from within start() and stop() (STARTING, STOPPING). It may call start
     * and stop, but not close. Optional. */
    void (*on_change)(void *ud, const sl__replica_info *r);
    /* Called once when a stopped replica is gone: its process has exited, its
     * port is free, and find() no longer knows it. r->status is
     * SL_REPLICA_STOPPING, with how its last process ended (exit_status,
     * term_signal). It may call start and stop, but not close. Optional. */
    void (*on_removed)(void *ud, const sl__replica_info *r);
    void *ud;
    /* What cgroups the replicas get (runtime/cgroup.h); borrowed, it must
     * outlive the supervisor. NULL: none (SL__CGROUP_OFF). */
    const sl__cgroup *cgroup;
    /* Asked at every spawn for the replica's --cpu (thousandths of a CPU)
     * and --mem (MiB), 0 meaning unlimited; used in SL__CGROUP_LIMITS mode.
     * Optional: without it nothing is limited. */
    void (*limits)(void *ud, const char *service, uint32_t *cpu_milli, uint32_t *mem_mb);
} sl__supervisor_config;

typedef struct sl__supervisor sl__supervisor;

/* How close() stops the replicas that are still running. */
typedef enum sl__supervisor_close_mode {
    SL__SUP_CLOSE_GRACEFUL = 0,  /* SIGTERM, then SIGKILL after the grace period */
    SL__SUP_CLOSE_IMMEDIATE = 1, /* SIGKILL at once (the agent is shutting down) */
} sl__supervisor_close_mode;

/* Creates a supervisor on `loop`, creating cfg->log_dir when missing; the
 * supervisor copies what it needs from cfg. Returns NULL with *err set
 * (UV_EINVAL for a bad config, UV_ENOMEM, or the error of mkdir). */
sl__supervisor *sl__supervisor_new(uv_loop_t *loop, const sl__supervisor_config *cfg, int *err);

/* Starts replica `replica` of `service` with the command argv[0..argc) and
 * the extra environment entries env[0..envc) ("KEY=VALUE"; they override the
 * agent's environment, but not the STARLING_* variables the supervisor sets).
 * Everything is copied. A replica that is starting, running or failed (and
 * waiting to restart) is left alone; one that is stopping is started again
 * with the new command once it has exited. Returns 0, or UV_EINVAL (bad
 * name, empty argv, entry without '='), UV_ENOMEM, or UV_ESHUTDOWN after
 * close. Spawn failures are not errors here: they make the replica FAILED and
 * it is retried with backoff (the reason goes to its log file). */
int sl__supervisor_start(sl__supervisor *s, const char *service, uint32_t replica,
                         char *const *argv, uint32_t argc, char *const *env, uint32_t envc);

/* start(), the command to run as `user` (a POSIX user name, copied; NULL or
 * "": the agent's user), and `version` the spec version of the command
 * (reports.h: the low 32 bits of sl_service_spec_hash() of the spec it comes
 * from; 0: not known), which the replica's info carries from its next spawn
 * on. The shim resolves the user when it spawns the command
 * and drops to it there (`starling _exec --user`); an unknown user, or an
 * agent that is not root, makes every start fail, with the reason in the
 * replica's log and the agent's. A replica already there keeps the user and
 * version it was started with until it is stopped and started again.
 * Returns what start() returns, and UV_EINVAL for a bad user name too. */
int sl__supervisor_start_as(sl__supervisor *s, const char *service, uint32_t replica,
                            char *const *argv, uint32_t argc, char *const *env, uint32_t envc,
                            const char *user, uint32_t version);

/* The entry of a report (reports.h) for the replica `r` describes: index,
 * status, port, restarts and spec version (never given up: the agent's
 * core marks that). */
sl_replica_report sl__supervisor_report_of(const sl__replica_info *r);

/* Sets the health check of a replica that start() made (copied; NULL: the
 * default check). A STARTING replica is RUNNING once its check passes; a
 * RUNNING one whose check fails check->failures times in a row becomes
 * UNHEALTHY: SIGTERM to its group (SIGKILL after the grace period), then
 * restarted with the backoff, UNHEALTHY until then. HTTP checks GET the
 * path on host:port and want a 2xx answer (parsed with http-parser, at most
 * SL__SUP_RESPONSE_MAX bytes up to the end of the headers); exec checks run
 * `/bin/sh -c CMD` through the shim with the replica's STARLING_* variables
 * and want exit 0; every check is abandoned at its timeout (an exec check's
 * process group killed). Returns 0, UV_ENOENT or UV_EINVAL. */
int sl__supervisor_set_check(sl__supervisor *s, const char *service, uint32_t replica,
                             const sl_check *check);

/* Stops a replica: STOPPING, SIGTERM to its process group, SIGKILL to the
 * group after the grace period; on_removed fires once it has exited. A
 * replica without a process (failed, waiting to restart) is removed at once
 * (on_removed fires before this returns). Returns 0 (also when it is already
 * stopping) or UV_ENOENT. */
int sl__supervisor_stop(sl__supervisor *s, const char *service, uint32_t replica);

/* Fills *out for one replica. Returns 0 or UV_ENOENT. */
int sl__supervisor_find(const sl__supervisor *s, const char *service, uint32_t replica,
                        sl__replica_info *out);

/* Number of replicas known (stopping ones included, removed ones not). */
size_t sl__supervisor_count(const sl__supervisor *s);

/* Calls fn for every replica known, sorted by (service, replica). fn must not
 * call into the supervisor. */
void sl__supervisor_foreach(const sl__supervisor *s,
                            void (*fn)(void *ud, const sl__replica_info *r), void *ud);

/* Stops every replica as `mode` says, waits for them to exit, closes every
 * libuv handle, frees the supervisor, and then calls done(ud) from the loop
 * (never from inside this call). No callback of cfg fires after this call.
 * s must not be used after it. done may be NULL. */
void sl__supervisor_close(sl__supervisor *s, sl__supervisor_close_mode mode, void (*done)(void *ud),
                          void *ud);

#endif
