/* The replica supervisor: child processes that die with their agent.
 *
 * Why a shim. A replica must not outlive its agent: when the agent is killed
 * with SIGKILL, its replicas have to go too, as they would if the machine
 * died, or the next owner chosen by placement would start a second copy next
 * to an orphan still holding the port. Linux gives that guarantee with
 * prctl(PR_SET_PDEATHSIG), but only for a direct child, and the call must be
 * made by the child, after fork and before exec, where uv_spawn has no hook.
 * So we do not spawn the replica's command: we spawn the starling binary
 * itself as `starling _exec AGENT_PID -- CMD ARGS...` (node/runtime/cmd_exec.c). The
 * shim sets its death signal, checks that its parent is still AGENT_PID (if
 * the agent died between fork and prctl the signal would never come, and
 * getppid() has already changed), forks the command and waits for it. When
 * the agent dies the shim kills its whole process group, so the workers a
 * command forked go as well; when the command ends the shim ends the same
 * way (exit status or signal). The pid we watch and report is the shim's,
 * which is also the replica's process group id. One caveat from the kernel:
 * the "parent" is the thread that forked, so the supervisor must run on a
 * thread that lives as long as the agent.
 *
 * Process groups. Replicas are spawned with UV_PROCESS_DETACHED, which makes
 * each one the leader of a new session and process group whose id is its
 * pid. Signals go to the whole group, kill(-pid, sig), so that a replica that
 * is a shell script takes its children down with it (the shim ignores those
 * from the agent); and once the leader has exited we sweep the group with
 * SIGKILL, so that nothing it left behind keeps the port.
 *
 * The status machine, per replica, reported through on_change:
 *
 *   start() --> STARTING --(connect to host:port succeeds, or it stays up
 *                  |         ready_after_ms without listening)--> RUNNING
 *                  | exits                                          | exits
 *                  v                                                v
 *               FAILED <-------------------------------------------+
 *                  | backoff timer: restarts++, spawn again
 *                  +--> STARTING ...
 *
 *   stop() from STARTING or RUNNING --> STOPPING: SIGTERM to the group, a
 *   grace timer, SIGKILL to the group when it expires; when the process has
 *   exited the replica is removed (on_removed). stop() from FAILED removes at
 *   once: there is no process. start() while STOPPING is remembered and runs
 *   the replica again once the old process is gone.
 *
 * Readiness is probed with a TCP connect to host:port every SL__SUP_PROBE_MS,
 * one attempt at a time, on the loop: a refused connect on loopback answers
 * at once. Services that never listen count as running once they have stayed
 * up ready_after_ms.
 *
 * Backoff. After a crash the replica is restarted after backoff_base_ms, and
 * each further crash doubles the delay up to backoff_max_ms, so that a
 * command that cannot work (a typo, a missing library) costs a spawn every
 * 30 s rather than a busy loop. A run that lasted healthy_after_ms resets the
 * delay to the base: a service that crashes once a day restarts fast. A spawn
 * that fails in the supervisor (no free port, no shim) is a crash of length 0.
 *
 * Ports. Each replica gets a port from the configured range, kept across its
 * restarts while still free so that its address is stable. A port is free
 * when no replica of this supervisor holds it and a TCP socket can bind
 * host:port (SO_REUSEADDR, as servers bind, so TIME_WAIT does not count);
 * the probe socket is closed at once. Another program may take the port
 * between the check and the replica's bind; the replica then fails to start
 * and its restart may get another port. Allocation goes round the range from
 * where it last stopped, so that a port just released is not handed out
 * again at once to a replica whose clients may still be connecting to it.
 *
 * Memory. Each replica is one heap block that embeds its libuv handles (a
 * timer, the process, the probe socket); it is unlinked from the list when
 * removed and freed when the last of its handles has been closed. close()
 * stops everything, waits for every block to be freed, then closes the
 * supervisor's own handle, whose close callback frees the supervisor and
 * calls the caller's done, always from the loop. */
#include "runtime/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "starling/catalog.h"

#include "agent/log.h"

extern char **environ;

typedef struct sup_replica sup_replica;

struct sup_replica {
    sl__supervisor *sup;
    sup_replica *next; /* in the list sorted by (service, index) */
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t index;
    char **argv; /* NULL-terminated copies */
    uint32_t argc;
    char **env;
    uint32_t envc;
    sl_replica_status status;
    uint16_t port;
    uint32_t restarts;
    int pid; /* 0 when no process runs */
    int64_t exit_status;
    int term_signal;
    uint32_t backoff_ms; /* the delay of the next restart */
    uint32_t retry_ms;   /* the delay of the restart that is pending */
    uint64_t spawned_at; /* uv_now() of the last successful spawn */
    uint32_t run;        /* counts spawns, to tell a stale probe */
    uint32_t probe_run;  /* the run the probe in flight belongs to */
    bool stop_requested;
    bool start_after_stop; /* start() arrived while stopping */
    bool spawn_pending;    /* spawn once the old process handle is closed */
    bool removed;
    bool proc_open;
    bool probe_open;
    int open_handles;
    uv_timer_t timer; /* probe ticks, restart backoff or grace, by status */
    uv_process_t proc;
    uv_tcp_t probe;
    uv_connect_t conn;
};

struct sl__supervisor {
    uv_loop_t *loop;
    char *node, *host, *log_dir, *shim;
    struct sockaddr_storage addr; /* host, port 0 */
    socklen_t addr_len;
    char parent_pid[24];
    uint16_t port_min, port_max, next_port;
    uint32_t grace_ms, backoff_base_ms, backoff_max_ms, ready_after_ms, healthy_after_ms;
    void (*on_change)(void *ud, const sl__replica_info *r);
    void (*on_removed)(void *ud, const sl__replica_info *r);
    void *ud;
    sup_replica *head;
    size_t count;
    size_t zombies; /* removed, handles still closing */
    bool closing, finishing;
    void (*done)(void *ud);
    void *done_ud;
    uv_timer_t close_handle; /* never started: its close callback ends close() */
};

static void spawn(sup_replica *r);
static void remove_replica(sup_replica *r);

/* ---- small helpers ---------------------------------------------------- */

static void info_of(const sup_replica *r, sl__replica_info *out)
{
    *out = (sl__replica_info){
        .service = r->service,
        .replica = r->index,
        .status = r->status,
        .port = r->port,
        .restarts = r->restarts,
        .retry_ms = r->status == SL_REPLICA_FAILED ? r->retry_ms : 0,
        .pid = r->pid,
        .exit_status = r->exit_status,
        .term_signal = r->term_signal,
    };
}

static void set_status(sup_replica *r, sl_replica_status st)
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

static void free_strv(char **v)
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
            free_strv(out);
            return NULL;
        }
    }
    return out;
}

static void log_path(const sup_replica *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s.%u.log", r->sup->log_dir, r->service, (unsigned)r->index);
}

static int open_log(const sup_replica *r)
{
    char path[4096];
    log_path(r, path, sizeof path);
    /* Never through a symlink: whoever could plant one in the log directory
     * must not make the agent append to a file of their choosing. */
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/* Appends one "[starling] TIME what" line to the replica's log file, so that
 * its own output reads with its starts and exits. Best effort. */
__attribute__((format(printf, 2, 3))) static void note(const sup_replica *r, const char *fmt, ...)
{
    int fd = open_log(r);
    if (fd < 0)
        return;
    char line[1024], stamp[32];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    int n = snprintf(line, sizeof line, "[starling] %s.%03dZ ", stamp, (int)(tv.tv_usec / 1000));
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
    close(fd);
}

/* ---- ports ------------------------------------------------------------ */

static bool port_held(const sl__supervisor *s, const sup_replica *except, uint16_t port)
{
    for (const sup_replica *r = s->head; r; r = r->next)
        if (r != except && r->port == port)
            return true;
    return false;
}

static void set_port(struct sockaddr_storage *a, uint16_t port)
{
    if (a->ss_family == AF_INET)
        ((struct sockaddr_in *)a)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

/* True when a TCP socket can bind host:port right now. */
static bool port_bindable(const sl__supervisor *s, uint16_t port)
{
    struct sockaddr_storage a = s->addr;
    set_port(&a, port);
    int fd = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = bind(fd, (struct sockaddr *)&a, s->addr_len) == 0;
    close(fd);
    return ok;
}

/* Returns a free port for r (its own one when still free), or 0. */
static uint16_t pick_port(sup_replica *r)
{
    sl__supervisor *s = r->sup;
    if (r->port && port_bindable(s, r->port))
        return r->port;
    uint32_t span = (uint32_t)s->port_max - s->port_min + 1;
    for (uint32_t i = 0; i < span; i++) {
        uint16_t p = s->next_port;
        s->next_port = p == s->port_max ? s->port_min : (uint16_t)(p + 1);
        if (!port_held(s, r, p) && port_bindable(s, p))
            return p;
    }
    return 0;
}

/* ---- environment ------------------------------------------------------ */

static const char *const reserved[] = {"STARLING_SERVICE", "STARLING_REPLICA", "STARLING_NODE",
                                       "STARLING_PORT", "STARLING_HOST"};

static bool same_key(const char *a, const char *b)
{
    size_t n = strcspn(a, "=");
    return strncmp(a, b, n) == 0 && (b[n] == '=' || b[n] == '\0');
}

static bool is_reserved(const char *entry)
{
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (same_key(entry, reserved[i]))
            return true;
    return false;
}

/* True when r->env[after+1..] sets the key of `entry`. */
static bool overridden(const sup_replica *r, const char *entry, int64_t after)
{
    for (int64_t i = after + 1; i < (int64_t)r->envc; i++)
        if (same_key(entry, r->env[i]))
            return true;
    return false;
}

/* Builds the replica's environment: the agent's, then the service's entries
 * (the last of a key wins), then the STARLING_* variables, which nothing
 * overrides. Returns a NULL-terminated malloc()ed vector of malloc()ed
 * strings, or NULL when out of memory. */
static char **build_env(const sup_replica *r)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    size_t cap = n + r->envc + 6, k = 0;
    char **out = calloc(cap, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!is_reserved(environ[i]) && !overridden(r, environ[i], -1))
            if (!(out[k++] = strdup(environ[i])))
                goto oom;
    for (uint32_t i = 0; i < r->envc; i++)
        if (!is_reserved(r->env[i]) && !overridden(r, r->env[i], i))
            if (!(out[k++] = strdup(r->env[i])))
                goto oom;
    const sl__supervisor *s = r->sup;
    if (asprintf(&out[k++], "STARLING_SERVICE=%s", r->service) < 0 ||
        asprintf(&out[k++], "STARLING_REPLICA=%u", (unsigned)r->index) < 0 ||
        asprintf(&out[k++], "STARLING_NODE=%s", s->node) < 0 ||
        asprintf(&out[k++], "STARLING_PORT=%u", (unsigned)r->port) < 0 ||
        asprintf(&out[k++], "STARLING_HOST=%s", s->host) < 0) {
        out[k - 1] = NULL;
        goto oom;
    }
    return out;
oom:
    free_strv(out);
    return NULL;
}

/* ---- handles ---------------------------------------------------------- */

static void maybe_finish(sl__supervisor *s);

static void maybe_free(sup_replica *r)
{
    if (!r->removed || r->open_handles > 0)
        return;
    sl__supervisor *s = r->sup;
    free_strv(r->argv);
    free_strv(r->env);
    free(r);
    s->zombies--;
    maybe_finish(s);
}

static void handle_closed(uv_handle_t *h)
{
    sup_replica *r = h->data;
    r->open_handles--;
    maybe_free(r);
}

static void proc_closed(uv_handle_t *h)
{
    sup_replica *r = h->data;
    r->proc_open = false;
    r->open_handles--;
    if (r->spawn_pending && !r->removed) {
        r->spawn_pending = false;
        spawn(r);
    }
    maybe_free(r);
}

static void probe_closed(uv_handle_t *h)
{
    sup_replica *r = h->data;
    r->probe_open = false;
    r->open_handles--;
    maybe_free(r);
}

/* ---- readiness -------------------------------------------------------- */

static void set_running(sup_replica *r)
{
    uv_timer_stop(&r->timer);
    set_status(r, SL_REPLICA_RUNNING);
}

static void probe_done(uv_connect_t *req, int status)
{
    sup_replica *r = req->data;
    if (!uv_is_closing((uv_handle_t *)&r->probe))
        uv_close((uv_handle_t *)&r->probe, probe_closed);
    if (status == 0 && !r->removed && r->status == SL_REPLICA_STARTING && r->pid &&
        r->probe_run == r->run)
        set_running(r);
}

static void start_probe(sup_replica *r)
{
    sl__supervisor *s = r->sup;
    if (uv_tcp_init(s->loop, &r->probe) != 0)
        return;
    r->probe.data = r;
    r->probe_open = true;
    r->open_handles++;
    r->probe_run = r->run;
    r->conn.data = r;
    struct sockaddr_storage a = s->addr;
    set_port(&a, r->port);
    if (uv_tcp_connect(&r->conn, &r->probe, (struct sockaddr *)&a, probe_done) != 0)
        uv_close((uv_handle_t *)&r->probe, probe_closed);
}

static void probe_tick(uv_timer_t *t)
{
    sup_replica *r = t->data;
    sl__supervisor *s = r->sup;
    if (r->status != SL_REPLICA_STARTING || !r->pid) {
        uv_timer_stop(t);
        return;
    }
    if (uv_now(s->loop) - r->spawned_at >= s->ready_after_ms)
        set_running(r);
    else if (!r->probe_open)
        start_probe(r);
}

/* ---- crashes and restarts --------------------------------------------- */

static void restart_due(uv_timer_t *t)
{
    sup_replica *r = t->data;
    r->restarts++;
    spawn(r);
}

/* Marks r FAILED after a run of `uptime` ms and schedules its restart. */
static void schedule_restart(sup_replica *r, uint64_t uptime)
{
    sl__supervisor *s = r->sup;
    if (uptime >= s->healthy_after_ms)
        r->backoff_ms = s->backoff_base_ms;
    uint32_t delay = r->backoff_ms;
    r->backoff_ms = delay >= s->backoff_max_ms / 2 ? s->backoff_max_ms : delay * 2;
    r->retry_ms = delay;
    uv_timer_start(&r->timer, restart_due, delay, 0);
    note(r, "restarting %s.%u in %u ms", r->service, (unsigned)r->index, (unsigned)delay);
    set_status(r, SL_REPLICA_FAILED);
}

static void process_exited(uv_process_t *p, int64_t exit_status, int term_signal)
{
    sup_replica *r = p->data;
    sl__supervisor *s = r->sup;
    int pid = r->pid;
    if (pid > 0)
        kill(-pid, SIGKILL); /* whatever the leader left behind in its group */
    r->pid = 0;
    r->exit_status = exit_status;
    r->term_signal = term_signal;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->proc, proc_closed);
    uint64_t uptime = uv_now(s->loop) - r->spawned_at;
    if (term_signal)
        note(r, "%s.%u (pid %d) killed by signal %d after %llu ms", r->service, (unsigned)r->index,
             pid, term_signal, (unsigned long long)uptime);
    else
        note(r, "%s.%u (pid %d) exited with status %lld after %llu ms", r->service,
             (unsigned)r->index, pid, (long long)exit_status, (unsigned long long)uptime);
    if (!r->stop_requested) {
        sl__warn("replica %s.%u exited (%s %d)", r->service, (unsigned)r->index,
                 term_signal ? "signal" : "status", term_signal ? term_signal : (int)exit_status);
        schedule_restart(r, uptime);
    } else if (r->start_after_stop) {
        r->stop_requested = r->start_after_stop = false;
        r->restarts = 0;
        r->backoff_ms = s->backoff_base_ms;
        spawn(r); /* waits for proc_closed */
    } else {
        remove_replica(r);
    }
}

/* ---- spawning --------------------------------------------------------- */

/* Spawns the shim with r's command, its output to log_fd. Returns 0 or the
 * error of uv_spawn; either way r->proc is open afterwards (libuv initialises
 * the handle even when the spawn fails), and closed on failure. */
static int spawn_shim(sup_replica *r, int log_fd, const char **why)
{
    sl__supervisor *s = r->sup;
    char **env = build_env(r), **args = calloc((size_t)r->argc + 5, sizeof *args);
    if (!env || !args) {
        free_strv(env);
        free(args);
        *why = "out of memory";
        return UV_ENOMEM;
    }
    args[0] = s->shim;
    args[1] = "_exec";
    args[2] = s->parent_pid;
    args[3] = "--";
    memcpy(args + 4, r->argv, (size_t)r->argc * sizeof *args);
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = log_fd},
        {.flags = UV_INHERIT_FD, .data.fd = log_fd},
    };
    uv_process_options_t opt = {
        .exit_cb = process_exited,
        .file = s->shim,
        .args = args,
        .env = env,
        .flags = UV_PROCESS_DETACHED, /* its own session and process group */
        .stdio_count = 3,
        .stdio = stdio,
    };
    note(r, "starting %s.%u on port %u: %s", r->service, (unsigned)r->index, (unsigned)r->port,
         r->argv[0]);
    int err = uv_spawn(s->loop, &r->proc, &opt);
    free_strv(env);
    free(args);
    r->proc.data = r;
    r->proc_open = true;
    r->open_handles++;
    if (err) {
        uv_close((uv_handle_t *)&r->proc, proc_closed);
        *why = "cannot spawn the shim";
    }
    return err;
}

/* Runs r's command through the shim: STARTING. On failure r becomes FAILED
 * and its restart is scheduled, as if it had crashed at once. */
static void spawn(sup_replica *r)
{
    sl__supervisor *s = r->sup;
    if (r->proc_open) { /* the last process handle is still closing */
        r->spawn_pending = true;
        return;
    }
    const char *why = NULL;
    int err = 0, fd = -1;
    if (!(r->port = pick_port(r))) {
        why = "no free port";
    } else if ((fd = open_log(r)) < 0) {
        err = -errno;
        why = "cannot open the log file";
    } else {
        err = spawn_shim(r, fd, &why);
        close(fd);
    }
    if (why) {
        note(r, "cannot start %s.%u: %s%s%s", r->service, (unsigned)r->index, why, err ? ": " : "",
             err ? uv_strerror(err) : "");
        sl__warn("replica %s.%u: %s%s%s", r->service, (unsigned)r->index, why, err ? ": " : "",
                 err ? uv_strerror(err) : "");
        schedule_restart(r, 0);
        return;
    }
    r->pid = r->proc.pid;
    r->run++;
    r->spawned_at = uv_now(s->loop);
    sl__info("replica %s.%u started (pid %d, port %u)", r->service, (unsigned)r->index, r->pid,
             (unsigned)r->port);
    uv_timer_start(&r->timer, probe_tick, SL__SUP_PROBE_MS, SL__SUP_PROBE_MS);
    set_status(r, SL_REPLICA_STARTING);
}

/* ---- stopping and removal --------------------------------------------- */

/* Unlinks r, tells the caller, and closes its handles; r is freed by the
 * last close callback. */
static void remove_replica(sup_replica *r)
{
    sl__supervisor *s = r->sup;
    for (sup_replica **pp = &s->head; *pp; pp = &(*pp)->next) {
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
    if (r->probe_open && !uv_is_closing((uv_handle_t *)&r->probe))
        uv_close((uv_handle_t *)&r->probe, probe_closed);
    maybe_free(r);
}

static void grace_over(uv_timer_t *t)
{
    sup_replica *r = t->data;
    if (!r->pid)
        return;
    note(r, "%s.%u (pid %d) still there after %u ms: SIGKILL", r->service, (unsigned)r->index,
         r->pid, (unsigned)r->sup->grace_ms);
    kill(-r->pid, SIGKILL);
}

/* Stops r with `sig` first (SIGTERM or SIGKILL). */
static void stop_replica(sup_replica *r, int sig)
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
    note(r, "stopping %s.%u (pid %d) with %s", r->service, (unsigned)r->index, r->pid,
         sig == SIGKILL ? "SIGKILL" : "SIGTERM");
    kill(-r->pid, sig);
    if (sig != SIGKILL)
        uv_timer_start(&r->timer, grace_over, s->grace_ms, 0);
    else
        uv_timer_stop(&r->timer);
    if (r->status != SL_REPLICA_STOPPING)
        set_status(r, SL_REPLICA_STOPPING);
}

/* ---- the API ---------------------------------------------------------- */

static sup_replica *lookup(const sl__supervisor *s, const char *service, uint32_t index)
{
    for (sup_replica *r = s->head; r; r = r->next)
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
    snprintf(s->parent_pid, sizeof s->parent_pid, "%ld", (long)getpid());
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
static void insert_sorted(sl__supervisor *s, sup_replica *r)
{
    sup_replica **pp = &s->head;
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
    int rc = check_start_args(service, argv, argc, env, envc);
    if (rc)
        return rc;
    if (s->closing)
        return UV_ESHUTDOWN;
    sup_replica *r = lookup(s, service, replica);
    if (r && !r->stop_requested)
        return 0;
    char **av = copy_strv(argv, argc), **ev = copy_strv(env, envc);
    if (!av || !ev || (!r && !(r = calloc(1, sizeof *r)))) {
        free_strv(av);
        free_strv(ev);
        return UV_ENOMEM;
    }
    free_strv(r->argv);
    free_strv(r->env);
    r->argv = av;
    r->argc = argc;
    r->env = ev;
    r->envc = envc;
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
    spawn(r);
    return 0;
}

int sl__supervisor_stop(sl__supervisor *s, const char *service, uint32_t replica)
{
    sup_replica *r = lookup(s, service ? service : "", replica);
    if (!r)
        return UV_ENOENT;
    stop_replica(r, SIGTERM);
    return 0;
}

int sl__supervisor_find(const sl__supervisor *s, const char *service, uint32_t replica,
                        sl__replica_info *out)
{
    const sup_replica *r = lookup(s, service ? service : "", replica);
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
    for (const sup_replica *r = s->head; r; r = r->next) {
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
    sup_replica *next;
    for (sup_replica *r = s->head; r; r = next) {
        next = r->next;
        stop_replica(r, mode == SL__SUP_CLOSE_IMMEDIATE ? SIGKILL : SIGTERM);
    }
    maybe_finish(s);
}
