/* The replica supervisor: its API, the status machine of each replica, its
 * crashes and restarts with backoff, stopping and removal, and closing.
 *
 * The supervisor is four files, one concern each, sharing the structs and the
 * cross-file functions of runtime/supervisor_internal.h:
 *
 *   supervisor.c        this file: the API, status changes, crashes, restarts
 *                       with backoff, stopping, removal, handles, closing;
 *   supervisor_spawn.c  the replica's environment, its log file and its
 *                       notes, spawning through the `starling _exec` shim;
 *   supervisor_ports.c  picking a free port for a replica;
 *   supervisor_probe.c  health checks (STARTING to RUNNING, RUNNING to
 *                       UNHEALTHY), decided by gossip/replica_check.c.
 *
 * The status machine, per replica, reported through on_change:
 *
 *   start() --> STARTING --(its check passes; with the default check, a
 *                  |         connect to host:port succeeds, or it stays up
 *                  |         ready_after_ms without listening)--> RUNNING
 *                  | exits                                          | exits
 *                  v                                                v
 *               FAILED <-------------------------------------------+
 *                  | backoff timer: restarts++, spawn again         |
 *                  +--> STARTING ...                                |
 *                                          N failed checks in a row |
 *   UNHEALTHY <-----------------------------------------------------+
 *      SIGTERM (SIGKILL after the grace period); when it has exited, the
 *      backoff timer as for FAILED (it stays UNHEALTHY meanwhile), then
 *      restarts++, STARTING ...
 *
 *   stop() from STARTING or RUNNING --> STOPPING: SIGTERM to the group, a
 *   grace timer, SIGKILL to the group when it expires; when the process has
 *   exited the replica is removed (on_removed). stop() from FAILED removes at
 *   once: there is no process. start() while STOPPING is remembered and runs
 *   the replica again once the old process is gone.
 *
 * Process groups. Replicas are spawned with UV_PROCESS_DETACHED, which makes
 * each one the leader of a new session and process group whose id is its
 * pid. Signals go to the whole group, kill(-pid, sig), so that a replica that
 * is a shell script takes its children down with it (the shim ignores those
 * from the agent); and once the leader has exited we sweep the group with
 * SIGKILL, so that nothing it left behind keeps the port.
 *
 * Backoff. After a crash the replica is restarted after backoff_base_ms, and
 * each further crash doubles the delay up to backoff_max_ms, so that a
 * command that cannot work (a typo, a missing library) costs a spawn every
 * 30 s rather than a busy loop. A run that lasted healthy_after_ms resets the
 * delay to the base: a service that crashes once a day restarts fast. A spawn
 * that fails in the supervisor (no free port, no shim) is a crash of length 0.
 *
 * Memory. Each replica is one heap block that embeds its libuv handles (a
 * timer, the process; a check in flight has its own block); it is unlinked from the list when
 * removed and freed when the last of its handles has been closed. close()
 * stops everything, waits for every block to be freed, then closes the
 * supervisor's own handle, whose close callback frees the supervisor and
 * calls the caller's done, always from the loop. */
#include "runtime/supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log.h"

#include "runtime/replica_log.h"
#include "runtime/supervisor_internal.h"

static void remove_replica(sl__sup_replica *r);

/* ---- small helpers ---------------------------------------------------- */

static void info_of(const sl__sup_replica *r, sl__replica_info *out)
{
    *out = (sl__replica_info){
        .service = r->service,
        .replica = r->index,
        .status = r->status,
        .port = r->port,
        .restarts = r->restarts,
        .retry_ms = r->status == SL_REPLICA_FAILED || r->status == SL_REPLICA_OOM ||
                            r->status == SL_REPLICA_UNHEALTHY
                        ? r->retry_ms
                        : 0,
        .pid = r->pid,
        .exit_status = r->exit_status,
        .term_signal = r->term_signal,
        .oom_kills = r->oom_kills,
        .version = r->run_version,
    };
}

sl_replica_report sl__supervisor_report_of(const sl__replica_info *r)
{
    return (sl_replica_report){.replica = r->replica,
                               .status = r->status,
                               .port = r->port,
                               .restarts = r->restarts,
                               .version = r->version};
}

void sl__sup_set_status(sl__sup_replica *r, sl_replica_status st)
{
    r->status = st;
    sl__supervisor *s = r->sup;
    if (s->closing || !s->on_change)
        return;
    sl__replica_info info;
    info_of(r, &info);
    s->on_change(s->ud, &info);
}

static bool valid_service(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SL_SVC_NAME_MAX || name[0] == '.' || name[0] == '-' || name[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

void sl__sup_free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* Returns a NULL-terminated copy of v[0..n), or NULL when out of memory. */
static char **copy_strv(char *const *v, uint32_t n)
{
    char **out = calloc((size_t)n + 1, sizeof *out);
    if (!out)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (!(out[i] = strdup(v[i]))) {
            sl__sup_free_strv(out);
            return NULL;
        }
    }
    return out;
}

/* ---- handles ---------------------------------------------------------- */

static void maybe_finish(sl__supervisor *s);

void sl__sup_cgroup_retry(sl__supervisor *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->ncg_stale; i++) {
        if (sl__cgroup_remove(s->cg_stale[i]) == -EBUSY)
            s->cg_stale[k++] = s->cg_stale[i];
        else
            free(s->cg_stale[i]);
    }
    s->ncg_stale = k;
}

void sl__sup_maybe_free(sl__sup_replica *r)
{
    if (!r->removed || r->open_handles > 0)
        return;
    sl__supervisor *s = r->sup;
    sl__sup_free_strv(r->argv);
    sl__sup_free_strv(r->env);
    if (r->cgroup && sl__cgroup_remove(r->cgroup) == -EBUSY) {
        if (s->ncg_stale == SL__SUP_CG_STALE_MAX) { /* left for the next agent to sweep */
            free(s->cg_stale[0]);
            memmove(s->cg_stale, s->cg_stale + 1, (SL__SUP_CG_STALE_MAX - 1) * sizeof(char *));
            s->ncg_stale--;
        }
        s->cg_stale[s->ncg_stale++] = r->cgroup; /* killed; its processes are still exiting */
        r->cgroup = NULL;
    }
    free(r->cgroup);
    free(r);
    sl__sup_zombie_freed(s);
}

void sl__sup_zombie_freed(sl__supervisor *s)
{
    s->zombies--;
    maybe_finish(s);
}

static void handle_closed(uv_handle_t *h)
{
    sl__sup_replica *r = h->data;
    r->open_handles--;
    sl__sup_maybe_free(r);
}

void sl__sup_proc_closed(uv_handle_t *h)
{
    sl__sup_replica *r = h->data;
    r->proc_open = false;
    r->open_handles--;
    if (r->spawn_pending && !r->removed) {
        r->spawn_pending = false;
        sl__sup_spawn(r);
    }
    sl__sup_maybe_free(r);
}

/* ---- crashes and restarts --------------------------------------------- */

static void restart_due(uv_timer_t *t)
{
    sl__sup_replica *r = t->data;
    r->restarts++;
    sl__sup_spawn(r);
}

/* Marks r FAILED (OOM when its last run was killed for memory) after a run
 * of `uptime` ms and schedules its restart. */
void sl__sup_schedule_restart(sl__sup_replica *r, uint64_t uptime)
{
    sl__supervisor *s = r->sup;
    if (uptime >= s->healthy_after_ms)
        r->backoff_ms = s->backoff_base_ms;
    uint32_t delay = r->backoff_ms;
    r->backoff_ms = delay >= s->backoff_max_ms / 2 ? s->backoff_max_ms : delay * 2;
    r->retry_ms = delay;
    uv_timer_start(&r->timer, restart_due, delay, 0);
    sl__sup_note(r, "restarting %s.%u in %u ms", r->service, (unsigned)r->index, (unsigned)delay);
    /* One stopped for failing its check stays UNHEALTHY until it restarts. */
    sl__sup_set_status(r, r->oom                               ? SL_REPLICA_OOM
                          : r->status == SL_REPLICA_UNHEALTHY ? SL_REPLICA_UNHEALTHY
                                                              : SL_REPLICA_FAILED);
}

void sl__sup_process_exited(uv_process_t *p, int64_t exit_status, int term_signal)
{
    sl__sup_replica *r = p->data;
    sl__supervisor *s = r->sup;
    int pid = r->pid;
    sl__sup_cgroup_retry(s);
    if (pid > 0)
        kill(-pid, SIGKILL); /* whatever the leader left behind in its group */
    r->oom = false;
    if (r->cgroup) {
        /* And whatever left the group and the shim (a daemon whose shim was
         * killed -9): everything in the replica's cgroup, at once. */
        sl__cgroup_kill(r->cgroup);
        r->oom = sl__cgroup_oom_kills(r->cgroup) > r->oom_base;
        r->oom_kills += r->oom;
    }
    r->pid = 0;
    r->exit_status = exit_status;
    r->term_signal = term_signal;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->proc, sl__sup_proc_closed);
    uint64_t uptime = uv_now(s->loop) - r->spawned_at;
    if (r->oom)
        sl__sup_note(r,
                     "%s.%u (pid %d) killed by the kernel: out of memory (its --mem) after %llu ms",
                     r->service, (unsigned)r->index, pid, (unsigned long long)uptime);
    else if (term_signal)
        sl__sup_note(r, "%s.%u (pid %d) killed by signal %d after %llu ms", r->service,
                     (unsigned)r->index, pid, term_signal, (unsigned long long)uptime);
    else
        sl__sup_note(r, "%s.%u (pid %d) exited with status %lld after %llu ms", r->service,
                     (unsigned)r->index, pid, (long long)exit_status, (unsigned long long)uptime);
    if (!r->stop_requested) {
        sl__warn("replica %s.%u exited (%s %d%s)", r->service, (unsigned)r->index,
                 term_signal ? "signal" : "status", term_signal ? term_signal : (int)exit_status,
                 r->oom ? ", an OOM kill" : "");
        sl__sup_schedule_restart(r, uptime);
    } else if (r->start_after_stop) {
        r->stop_requested = r->start_after_stop = false;
        r->restarts = 0;
        r->backoff_ms = s->backoff_base_ms;
        sl__sup_spawn(r); /* waits for sl__sup_proc_closed */
    } else {
        remove_replica(r);
    }
}

/* ---- stopping and removal --------------------------------------------- */

/* Unlinks r, tells the caller, and closes its handles; r is freed by the
 * last close callback. */
static void remove_replica(sl__sup_replica *r)
{
    sl__supervisor *s = r->sup;
    for (sl__sup_replica **pp = &s->head; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    s->count--;
    s->zombies++;
    r->removed = true;
    r->spawn_pending = false;
    r->status = SL_REPLICA_STOPPING;
    if (!s->closing && s->on_removed) {
        sl__replica_info info;
        info_of(r, &info);
        s->on_removed(s->ud, &info);
    }
    uv_close((uv_handle_t *)&r->timer, handle_closed);
    sl__sup_probe_cancel(r);
    sl__sup_maybe_free(r);
}

void sl__sup_grace_over(uv_timer_t *t)
{
    sl__sup_replica *r = t->data;
    if (!r->pid)
        return;
    sl__sup_note(r, "%s.%u (pid %d) still there after %u ms: SIGKILL", r->service,
                 (unsigned)r->index, r->pid, (unsigned)r->sup->grace_ms);
    kill(-r->pid, SIGKILL);
    if (r->cgroup)
        sl__cgroup_kill(r->cgroup);
}

/* Stops r with `sig` first (SIGTERM or SIGKILL). */
static void stop_replica(sl__sup_replica *r, int sig)
{
    sl__supervisor *s = r->sup;
    r->start_after_stop = false;
    if (!r->pid) { /* failed and waiting, or between two processes */
        r->stop_requested = true;
        uv_timer_stop(&r->timer);
        remove_replica(r);
        return;
    }
    if (r->stop_requested && sig != SIGKILL)
        return;
    r->stop_requested = true;
    sl__sup_note(r, "stopping %s.%u (pid %d) with %s", r->service, (unsigned)r->index, r->pid,
                 sig == SIGKILL ? "SIGKILL" : "SIGTERM");
    kill(-r->pid, sig);
    if (sig == SIGKILL && r->cgroup)
        sl__cgroup_kill(r->cgroup);
    if (sig != SIGKILL)
        uv_timer_start(&r->timer, sl__sup_grace_over, s->grace_ms, 0);
    else
        uv_timer_stop(&r->timer);
    if (r->status != SL_REPLICA_STOPPING)
        sl__sup_set_status(r, SL_REPLICA_STOPPING);
}

/* ---- the API ---------------------------------------------------------- */

static sl__sup_replica *lookup(const sl__supervisor *s, const char *service, uint32_t index)
{
    for (sl__sup_replica *r = s->head; r; r = r->next)
        if (r->index == index && !strcmp(r->service, service))
            return r;
    return NULL;
}

static int parse_host(sl__supervisor *s, const char *host)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)&s->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&s->addr;
    if (uv_ip4_addr(host, 0, a4) == 0) {
        s->addr_len = sizeof *a4;
        return 0;
    }
    if (uv_ip6_addr(host, 0, a6) == 0) {
        s->addr_len = sizeof *a6;
        return 0;
    }
    return UV_EINVAL;
}

static int configure(sl__supervisor *s, const sl__supervisor_config *cfg)
{
    if (!cfg->node || !cfg->host || !cfg->log_dir || !cfg->shim || !*cfg->log_dir ||
        strlen(cfg->log_dir) > 3000 || parse_host(s, cfg->host))
        return UV_EINVAL;
    s->port_min = cfg->port_min ? cfg->port_min : SL__SUP_PORT_MIN;
    s->port_max = cfg->port_max ? cfg->port_max : SL__SUP_PORT_MAX;
    if (s->port_max < s->port_min)
        return UV_EINVAL;
    /* Supervisors of several agents on one host (tests, demos) start at
     * different places of the range, so that they do not all probe the same
     * ports in the same order. */
    uint32_t span = (uint32_t)s->port_max - s->port_min + 1;
    s->next_port = (uint16_t)(s->port_min + ((uint32_t)getpid() * 2654435761u) % span);
    s->grace_ms = cfg->grace_ms ? cfg->grace_ms : SL__SUP_GRACE_MS;
    s->backoff_base_ms = cfg->backoff_base_ms ? cfg->backoff_base_ms : SL__SUP_BACKOFF_BASE_MS;
    s->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : SL__SUP_BACKOFF_MAX_MS;
    if (s->backoff_max_ms < s->backoff_base_ms)
        s->backoff_max_ms = s->backoff_base_ms;
    s->ready_after_ms = cfg->ready_after_ms ? cfg->ready_after_ms : SL__SUP_READY_AFTER_MS;
    s->healthy_after_ms = cfg->healthy_after_ms ? cfg->healthy_after_ms : SL__SUP_HEALTHY_AFTER_MS;
    s->on_change = cfg->on_change;
    s->on_removed = cfg->on_removed;
    s->ud = cfg->ud;
    s->cgroup = cfg->cgroup;
    s->limits = cfg->limits;
    snprintf(s->parent_pid, sizeof s->parent_pid, "%ld", (long)getpid());
    snprintf(
        s->log_max, sizeof s->log_max, "%llu",
        (unsigned long long)(cfg->log_max ? cfg->log_max : (uint64_t)SL__LOG_MAX_MB_DEFAULT << 20));
    s->node = strdup(cfg->node);
    s->host = strdup(cfg->host);
    s->log_dir = strdup(cfg->log_dir);
    s->shim = strdup(cfg->shim);
    if (!s->node || !s->host || !s->log_dir || !s->shim)
        return UV_ENOMEM;
    if (mkdir(s->log_dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (lstat(s->log_dir, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
        return UV_EPERM; /* a symlink, a file, or someone else's directory */
    return 0;
}

static void free_supervisor(sl__supervisor *s)
{
    sl__sup_cgroup_retry(s); /* the last try; what is left, the next agent sweeps */
    for (size_t i = 0; i < s->ncg_stale; i++)
        free(s->cg_stale[i]);
    free(s->node);
    free(s->host);
    free(s->log_dir);
    free(s->shim);
    free(s);
}

sl__supervisor *sl__supervisor_new(uv_loop_t *loop, const sl__supervisor_config *cfg, int *err)
{
    sl__supervisor *s = calloc(1, sizeof *s);
    int rc = s ? configure(s, cfg) : UV_ENOMEM;
    if (rc == 0)
        rc = uv_timer_init(loop, &s->close_handle);
    if (rc != 0) {
        if (s)
            free_supervisor(s);
        if (err)
            *err = rc;
        return NULL;
    }
    s->loop = loop;
    s->close_handle.data = s;
    return s;
}

static int check_start_args(const char *service, char *const *argv, uint32_t argc, char *const *env,
                            uint32_t envc)
{
    if (!valid_service(service) || argc == 0 || !argv)
        return UV_EINVAL;
    for (uint32_t i = 0; i < argc; i++)
        if (!argv[i] || (i == 0 && !*argv[0]))
            return UV_EINVAL;
    for (uint32_t i = 0; i < envc; i++)
        if (!env[i] || !strchr(env[i], '=') || env[i][0] == '=')
            return UV_EINVAL;
    return 0;
}

/* Inserts r into the list, sorted by (service, index). */
static void insert_sorted(sl__supervisor *s, sl__sup_replica *r)
{
    sl__sup_replica **pp = &s->head;
    while (*pp) {
        int c = strcmp((*pp)->service, r->service);
        if (c > 0 || (c == 0 && (*pp)->index > r->index))
            break;
        pp = &(*pp)->next;
    }
    r->next = *pp;
    *pp = r;
    s->count++;
}

int sl__supervisor_start(sl__supervisor *s, const char *service, uint32_t replica,
                         char *const *argv, uint32_t argc, char *const *env, uint32_t envc)
{
    return sl__supervisor_start_as(s, service, replica, argv, argc, env, envc, NULL, 0);
}

int sl__supervisor_start_as(sl__supervisor *s, const char *service, uint32_t replica,
                            char *const *argv, uint32_t argc, char *const *env, uint32_t envc,
                            const char *user, uint32_t version)
{
    int rc = check_start_args(service, argv, argc, env, envc);
    if (rc)
        return rc;
    if (user && user[0] && sl_service_user_check(user))
        return UV_EINVAL;
    if (s->closing)
        return UV_ESHUTDOWN;
    sl__sup_replica *r = lookup(s, service, replica);
    if (r && !r->stop_requested)
        return 0;
    char **av = copy_strv(argv, argc), **ev = copy_strv(env, envc);
    if (!av || !ev || (!r && !(r = calloc(1, sizeof *r)))) {
        sl__sup_free_strv(av);
        sl__sup_free_strv(ev);
        return UV_ENOMEM;
    }
    sl__sup_free_strv(r->argv);
    sl__sup_free_strv(r->env);
    r->argv = av;
    r->argc = argc;
    r->env = ev;
    r->envc = envc;
    snprintf(r->user, sizeof r->user, "%s", user ? user : "");
    r->version = version;
    if (r->sup) { /* stopping: run again once the old process is gone */
        r->start_after_stop = true;
        return 0;
    }
    r->sup = s;
    snprintf(r->service, sizeof r->service, "%s", service);
    r->index = replica;
    r->backoff_ms = s->backoff_base_ms;
    uv_timer_init(s->loop, &r->timer);
    r->timer.data = r;
    r->open_handles = 1;
    insert_sorted(s, r);
    sl__sup_spawn(r);
    return 0;
}

int sl__supervisor_set_check(sl__supervisor *s, const char *service, uint32_t replica,
                             const sl_check *check)
{
    sl__sup_replica *r = lookup(s, service ? service : "", replica);
    sl_check none = {0};
    if (!r)
        return UV_ENOENT;
    if (!check)
        check = &none;
    if (sl_check_validate(check))
        return UV_EINVAL;
    r->check = *check;
    r->chk.fails = 0;
    uint32_t period = sl_replica_check_period_ms(&r->check, r->status);
    if (r->status == SL_REPLICA_RUNNING && r->pid) {
        if (period)
            uv_timer_start(&r->timer, sl__sup_probe_tick, period, period);
        else
            uv_timer_stop(&r->timer);
    }
    return 0;
}

int sl__supervisor_stop(sl__supervisor *s, const char *service, uint32_t replica)
{
    sl__sup_replica *r = lookup(s, service ? service : "", replica);
    if (!r)
        return UV_ENOENT;
    stop_replica(r, SIGTERM);
    return 0;
}

int sl__supervisor_find(const sl__supervisor *s, const char *service, uint32_t replica,
                        sl__replica_info *out)
{
    const sl__sup_replica *r = lookup(s, service ? service : "", replica);
    if (!r)
        return UV_ENOENT;
    info_of(r, out);
    return 0;
}

size_t sl__supervisor_count(const sl__supervisor *s)
{
    return s->count;
}

void sl__supervisor_foreach(const sl__supervisor *s,
                            void (*fn)(void *ud, const sl__replica_info *r), void *ud)
{
    for (const sl__sup_replica *r = s->head; r; r = r->next) {
        sl__replica_info info;
        info_of(r, &info);
        fn(ud, &info);
    }
}

static void supervisor_closed(uv_handle_t *h)
{
    sl__supervisor *s = h->data;
    void (*done)(void *) = s->done;
    void *ud = s->done_ud;
    free_supervisor(s);
    if (done)
        done(ud);
}

static void maybe_finish(sl__supervisor *s)
{
    if (!s->closing || s->finishing || s->head || s->zombies)
        return;
    s->finishing = true;
    uv_close((uv_handle_t *)&s->close_handle, supervisor_closed);
}

void sl__supervisor_close(sl__supervisor *s, sl__supervisor_close_mode mode, void (*done)(void *ud),
                          void *ud)
{
    if (s->closing)
        return;
    s->closing = true;
    s->done = done;
    s->done_ud = ud;
    sl__sup_replica *next;
    for (sl__sup_replica *r = s->head; r; r = next) {
        next = r->next;
        stop_replica(r, mode == SL__SUP_CLOSE_IMMEDIATE ? SIGKILL : SIGTERM);
    }
    maybe_finish(s);
}
