/* The replica supervisor's spawning: the replica's environment, its log file
 * and the supervisor's notes in it, and spawning its command through the
 * `starling _exec` shim. The status machine that calls it is in
 * supervisor.c.
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
 * thread that lives as long as the agent. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"

#include "runtime/replica_log.h"
#include "runtime/supervisor_internal.h"

extern char **environ;

/* ---- log files -------------------------------------------------------- */

static void log_path(const sl__sup_replica *r, char *buf, size_t cap)
{
    sl__log_path(buf, cap, r->sup->log_dir, r->service, r->index, 0);
}

static int open_log(const sl__sup_replica *r)
{
    char path[4096];
    log_path(r, path, sizeof path);
    /* Never through a symlink: whoever could plant one in the log directory
     * must not make the agent append to a file of their choosing. */
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/* Appends one "[starling] TIME what" line to the replica's log file, so that
 * its own output reads with its starts and exits. Best effort. */
void sl__sup_note(const sl__sup_replica *r, const char *fmt, ...)
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
static bool overridden(const sl__sup_replica *r, const char *entry, int64_t after)
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
static char **build_env(const sl__sup_replica *r)
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
    sl__sup_free_strv(out);
    return NULL;
}

/* ---- spawning --------------------------------------------------------- */

/* True unless the user database says there is no such user (an error
 * looking it up is left to the shim). Only for the agent's log. */
static bool user_exists(const char *name)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    int rc = getpwnam_r(name, &pw, buf, sizeof buf, &found);
    return rc != 0 || found != NULL;
}

/* Spawns the shim with r's command, its output to log_fd. Returns 0 or the
 * error of uv_spawn; either way r->proc is open afterwards (libuv initialises
 * the handle even when the spawn fails), and closed on failure. */
static int spawn_shim(sl__sup_replica *r, int log_fd, const char **why)
{
    sl__supervisor *s = r->sup;
    char path[4096];
    log_path(r, path, sizeof path);
    char **env = build_env(r), **args = calloc((size_t)r->argc + 13, sizeof *args);
    if (!env || !args) {
        sl__sup_free_strv(env);
        free(args);
        *why = "out of memory";
        return UV_ENOMEM;
    }
    args[0] = s->shim;
    args[1] = "_exec";
    args[2] = s->parent_pid;
    int k = 3;
    if (r->cgroup) { /* the shim moves itself in before it forks the command */
        args[k++] = s->cgroup->mode == SL__CGROUP_LIMITS ? "--cgroup" : "--cgroup-try";
        args[k++] = r->cgroup;
    }
    if (r->user[0]) { /* the shim drops to it in the command's process only */
        args[k++] = "--user";
        args[k++] = r->user;
    }
    args[k++] = "--log"; /* the shim writes and rotates the log (replica_log.h) */
    args[k++] = path;
    args[k++] = "--log-max";
    args[k++] = s->log_max;
    args[k++] = "--";
    memcpy(args + k, r->argv, (size_t)r->argc * sizeof *args);
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = log_fd},
        {.flags = UV_INHERIT_FD, .data.fd = log_fd},
    };
    uv_process_options_t opt = {
        .exit_cb = sl__sup_process_exited,
        .file = s->shim,
        .args = args,
        .env = env,
        .flags = UV_PROCESS_DETACHED, /* its own session and process group */
        .stdio_count = 3,
        .stdio = stdio,
    };
    sl__sup_note(r, "starting %s.%u on port %u: %s%s%s", r->service, (unsigned)r->index,
                 (unsigned)r->port, r->argv[0], r->user[0] ? " as user " : "", r->user);
    /* The shim refuses it, with the reason in the replica's log; the agent's
     * log says why here. Spawned all the same, so that the failure is a
     * failed start like any other (and counts towards giving up). */
    if (r->user[0] && geteuid() != 0)
        sl__warn("replica %s.%u: --user %s needs an agent running as root", r->service,
                 (unsigned)r->index, r->user);
    else if (r->user[0] && !user_exists(r->user))
        sl__warn("replica %s.%u: --user %s: no such user on this node", r->service,
                 (unsigned)r->index, r->user);
    int err = uv_spawn(s->loop, &r->proc, &opt);
    sl__sup_free_strv(env);
    free(args);
    r->proc.data = r;
    r->proc_open = true;
    r->open_handles++;
    if (err) {
        uv_close((uv_handle_t *)&r->proc, sl__sup_proc_closed);
        *why = "cannot spawn the shim";
    }
    return err;
}

/* Gives r its cgroup (runtime/cgroup.h), with the service's limits in
 * LIMITS mode, and notes its OOM kills so far. Returns false, with *why and
 * *err, when r must not run: its limits cannot be enforced although the
 * agent enforces limits. In KILL_ONLY mode a failure only loses the kill. */
static bool prepare_cgroup(sl__sup_replica *r, const char **why, int *err)
{
    sl__supervisor *s = r->sup;
    free(r->cgroup);
    r->cgroup = NULL;
    if (!s->cgroup || s->cgroup->mode == SL__CGROUP_OFF)
        return true;
    uint32_t cpu = 0, mem = 0;
    if (s->limits)
        s->limits(s->ud, r->service, &cpu, &mem);
    char path[SL__CGROUP_PATH_MAX + 128];
    const char *what;
    int rc = sl__cgroup_prepare(s->cgroup, r->service, r->index, cpu, mem, path, sizeof path,
                                &r->oom_base, &what);
    if (rc == 0 && !(r->cgroup = strdup(path)))
        rc = -ENOMEM;
    /* A removed replica of the same name left it to be removed later: it is
     * ours again, and must stay for the shim to enter. */
    size_t k = 0;
    for (size_t i = 0; i < s->ncg_stale; i++) {
        if (strcmp(s->cg_stale[i], path) != 0)
            s->cg_stale[k++] = s->cg_stale[i];
        else
            free(s->cg_stale[i]);
    }
    s->ncg_stale = k;
    if (rc == 0)
        return true;
    sl__sup_note(r, "cannot set up the cgroup of %s.%u (%s): %s", r->service, (unsigned)r->index,
                 what, strerror(-rc));
    if (s->cgroup->mode != SL__CGROUP_LIMITS)
        return true;
    *why = "cannot enforce its limits in a cgroup";
    *err = rc;
    return false;
}

/* Runs r's command through the shim: STARTING. On failure r becomes FAILED
 * and its restart is scheduled, as if it had crashed at once. */
void sl__sup_spawn(sl__sup_replica *r)
{
    sl__supervisor *s = r->sup;
    if (r->proc_open) { /* the last process handle is still closing */
        r->spawn_pending = true;
        return;
    }
    r->run_version = r->version; /* also when this spawn fails: the new command failed */
    const char *why = NULL;
    int err = 0, fd = -1;
    sl__sup_cgroup_retry(s);
    if (!(r->port = sl__sup_pick_port(r))) {
        why = "no free port";
    } else if (!prepare_cgroup(r, &why, &err)) {
        /* why and err are set */
    } else if ((fd = open_log(r)) < 0) {
        err = -errno;
        why = "cannot open the log file";
    } else {
        err = spawn_shim(r, fd, &why);
        close(fd);
    }
    if (why) {
        sl__sup_note(r, "cannot start %s.%u: %s%s%s", r->service, (unsigned)r->index, why,
                     err ? ": " : "", err ? uv_strerror(err) : "");
        sl__warn("replica %s.%u: %s%s%s", r->service, (unsigned)r->index, why, err ? ": " : "",
                 err ? uv_strerror(err) : "");
        sl__sup_schedule_restart(r, 0);
        return;
    }
    r->pid = r->proc.pid;
    r->run++;
    r->spawned_at = uv_now(s->loop);
    sl__info("replica %s.%u started (pid %d, port %u)", r->service, (unsigned)r->index, r->pid,
             (unsigned)r->port);
    uv_timer_start(&r->timer, sl__sup_probe_tick, SL__SUP_PROBE_MS, SL__SUP_PROBE_MS);
    sl__sup_set_status(r, SL_REPLICA_STARTING);
}
