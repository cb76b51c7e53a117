/* `starling _exec PARENT_PID [--cgroup|--cgroup-try DIR] [--user NAME]
 * [--log PATH --log-max BYTES] -- CMD ARGS...`: the internal shim through which
 * the supervisor (node/runtime/supervisor.c) spawns every replica. Not listed in
 * `starling --help`.
 *
 * It stays between the agent and the command, the leader of the replica's
 * process group, for one job: when the agent dies, however it dies, the whole
 * group dies with it, not only the command. Linux sends a signal to a child
 * whose parent dies (PR_SET_PDEATHSIG), but only to that child; a replica
 * that is a shell script or forks workers would leave them running, holding
 * the port the next copy of the replica needs. So:
 *
 * - The shim asks for SIGRTMIN when its parent dies, then checks that its
 *   parent is still PARENT_PID (had the agent died before the prctl, the shim
 *   would already have been adopted by another process and no signal would
 *   come). On that signal it kills its process group with SIGKILL, itself
 *   included.
 * - It forks the command, which asks for SIGKILL should the shim die first,
 *   and execs it in the same process group.
 * - Signals. The supervisor signals the whole group, so the command gets them
 *   directly and the shim ignores those that come from the agent. A signal
 *   sent to the shim alone by anyone else (an operator's `kill PID` on what
 *   `starling ps` shows) is passed on to the command.
 * - When the command ends the shim ends the same way: the same exit status,
 *   or the same signal, so that the supervisor sees the command's fate.
 * - Nothing escapes. A command that calls setsid() or daemonizes leaves the
 *   process group, so killing the group misses it. The shim is a child
 *   subreaper (PR_SET_CHILD_SUBREAPER): orphans of the replica re-parent to
 *   it, not to init, so every process the replica started stays below the
 *   shim. When the command ends, and when the agent dies, the shim walks its
 *   descendants (/proc/PID/task/PID/children) and kills every one of them
 *   with SIGKILL before it ends. With --cgroup the shim first moves itself
 *   into the replica's cgroup (runtime/cgroup.h), so that the command and
 *   all it forks are in it from their first instruction: the supervisor
 *   then kills the cgroup (cgroup.kill) when the replica ends, which also
 *   reaches what escaped a shim that was itself killed -9. A replica whose
 *   limits are enforced must not run outside its cgroup (--cgroup: failing
 *   to enter it ends the shim); one whose cgroup is only there for the kill
 *   runs anyway (--cgroup-try: a note on stderr).
 * - No file descriptor but 0, 1 and 2 reaches the command. The agent opens
 *   everything close-on-exec, but whatever it inherited without that flag
 *   (from the shell or service manager that started it) would pass through
 *   it and the shim to every replica; so the child closes every descriptor
 *   from 3 up before it execs.
 * - Logs. With `--log PATH --log-max BYTES` (the supervisor always passes
 *   them) the command's stdout and stderr are one pipe to the shim, which
 *   appends what it reads to PATH in whole lines and rotates PATH before it
 *   would pass the cap (replica_log.h). A partial line is held until its
 *   newline comes, SL__LOG_LINE_HOLD bytes or PARTIAL_FLUSH_MS, whichever is
 *   first. A command that floods its output blocks on the pipe: the disk
 *   gets at most the cap, the shim at most its buffer. Without --log the
 *   command writes to the shim's own stdout and stderr.
 * - User. With `--user NAME` (deploy --user) the command runs as NAME. The
 *   shim, which must then be root (else it ends at once: "needs an agent
 *   running as root"), resolves NAME before it forks (getpwnam_r, and its
 *   groups with getgrouplist; an unknown user ends it, with the reason on
 *   stderr, the log file), after it entered the cgroup, so that the
 *   command is in it whatever user it becomes. Only the forked command
 *   drops: setgroups, setgid, setuid, in that order, each checked, then
 *   getuid/geteuid/getgid/getegid must be NAME's and setuid(0) must fail,
 *   else it exits 126 before running anything; HOME, USER and LOGNAME are
 *   set to NAME's (over the service's --env). The shim stays root as the
 *   parent on purpose: it alone writes the log file (the agent's, mode
 *   0600, in the agent's log directory, rotated by renaming there), which
 *   the command can neither open nor alter, and its kills of the
 *   descendants and forwarded signals reach whatever uid they run as. The
 *   death signal is asked for after the drop: the kernel clears it when the
 *   credentials change. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "runtime/cgroup.h"
#include "runtime/replica_log.h"

static const char usage[] = "Usage: starling _exec PARENT_PID [--cgroup|--cgroup-try DIR]\n"
                            "       [--user NAME] [--log PATH --log-max BYTES] -- CMD [ARGS...]\n";

/* A partial line waits this long for its end before it is written as it is. */
#define PARTIAL_FLUSH_MS 200

/* After the command ended, the rest of its output is read for this long at
 * most (a process we could not kill might hold the pipe open). */
#define DRAIN_MS 1000

/* The signals passed on to the command when sent to the shim alone. */
static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static volatile pid_t agent_pid, command_pid;

#define DESCENDANTS_MAX 4096

/* Appends the children of pid (its main thread's) to out[*n..max). Uses
 * only async-signal-safe calls: it runs in a signal handler too. */
static void children_of(pid_t pid, pid_t *out, size_t *n, size_t max)
{
    char path[64] = "/proc/", *p = path + 6;
    char num[16];
    int k = 0;
    for (unsigned v = (unsigned)pid; v || !k; v /= 10)
        num[k++] = (char)('0' + v % 10);
    for (int twice = 0; twice < 2; twice++) {
        for (int i = k - 1; i >= 0; i--)
            *p++ = num[i];
        const char *part = twice ? "/children" : "/task/";
        while (*part)
            *p++ = *part++;
    }
    *p = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096];
    ssize_t got;
    long cur = -1;
    while ((got = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                cur = (cur < 0 ? 0 : cur * 10) + (buf[i] - '0');
            } else if (cur > 0) {
                if (*n < max)
                    out[(*n)++] = (pid_t)cur;
                cur = -1;
            }
        }
    if (cur > 0 && *n < max)
        out[(*n)++] = (pid_t)cur;
    close(fd);
}

/* Kills every descendant of the shim with SIGKILL: a breadth-first walk of
 * the process tree below us, then the kills (a process killed first could
 * let its children re-parent before we saw them; we are their subreaper, so
 * they would still be ours, but this way one walk finds them all). */
static void kill_descendants(void)
{
    static pid_t all[DESCENDANTS_MAX];
    size_t n = 0;
    children_of(getpid(), all, &n, DESCENDANTS_MAX);
    for (size_t i = 0; i < n; i++)
        children_of(all[i], all, &n, DESCENDANTS_MAX);
    for (size_t i = 0; i < n; i++)
        kill(all[i], SIGKILL);
}

static void on_parent_death(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
    if (getppid() != agent_pid) {
        kill_descendants(); /* those that left the group too */
        kill(0, SIGKILL);   /* the whole group, the shim last */
    }
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    pid_t from = si->si_code == SI_USER || si->si_code == SI_QUEUE ? si->si_pid : 0;
    if (from == agent_pid || from == getpid() || command_pid <= 0)
        return; /* the command got it too, as a member of the group */
    kill(command_pid, sig);
}

static int handle(int sig, void (*fn)(int, siginfo_t *, void *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

/* Ends the shim the way the command ended. Never returns. */
static void end_like(int status)
{
    if (WIFEXITED(status))
        _exit(WEXITSTATUS(status));
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* the command dumped core already, if it could */
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig); /* a signal whose default is not to end the process */
}

/* Closes every descriptor from 3 up: close_range(2) where the kernel has it
 * (5.9), else each one /proc/self/fd lists. Runs in the forked child. */
static void close_inherited(void)
{
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        return;
    }
    int keep = dirfd(d), fds[1024], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        int fd = atoi(e->d_name);
        if (fd >= 3 && fd != keep)
            fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

#define GROUPS_MAX 256

/* The user the command runs as (--user), resolved by the shim. */
typedef struct run_as {
    const char *name; /* NULL: the shim's own user */
    uid_t uid;
    gid_t gid;
    gid_t groups[GROUPS_MAX];
    int ngroups;
    char home[1024];
} run_as;

/* Resolves u->name. Returns 0, or -1 with the reason on stderr. */
static int resolve_user(run_as *u)
{
    if (geteuid() != 0) {
        fprintf(stderr, "starling: _exec: --user %s needs an agent running as root\n", u->name);
        return -1;
    }
    struct passwd pw, *found = NULL;
    static char buf[16384];
    int rc = getpwnam_r(u->name, &pw, buf, sizeof buf, &found);
    if (rc != 0 || !found) {
        fprintf(stderr, "starling: _exec: --user %s: %s\n", u->name,
                rc ? strerror(rc) : "no such user on this node");
        return -1;
    }
    u->uid = pw.pw_uid;
    u->gid = pw.pw_gid;
    snprintf(u->home, sizeof u->home, "%s", pw.pw_dir ? pw.pw_dir : "/");
    u->ngroups = GROUPS_MAX;
    if (getgrouplist(pw.pw_name, pw.pw_gid, u->groups, &u->ngroups) < 0) {
        fprintf(stderr, "starling: _exec: --user %s: in more than %d groups\n", u->name,
                GROUPS_MAX);
        return -1;
    }
    if (u->uid == 0)
        fprintf(stderr, "starling: _exec: note: --user %s is uid 0\n", u->name);
    return 0;
}

/* In the forked child: becomes u (groups, gid, uid, in that order, with no
 * way back) and sets HOME, USER and LOGNAME. Exits 126 on any failure. */
static void drop_to(const run_as *u)
{
    if (setgroups((size_t)u->ngroups, u->groups) != 0 || setgid(u->gid) != 0 ||
        setuid(u->uid) != 0) {
        fprintf(stderr, "starling: _exec: cannot become %s: %s\n", u->name, strerror(errno));
        _exit(126);
    }
    if (getuid() != u->uid || geteuid() != u->uid || getgid() != u->gid ||
        getegid() != u->gid || (u->uid != 0 && setuid(0) == 0)) {
        fprintf(stderr, "starling: _exec: cannot become %s: the credentials did not change\n",
                u->name);
        _exit(126);
    }
    if (setenv("HOME", u->home, 1) != 0 || setenv("USER", u->name, 1) != 0 ||
        setenv("LOGNAME", u->name, 1) != 0)
        _exit(126);
}

/* In the forked child: becomes the user (if any), dies with the shim, sends
 * its output to out_fd (when >= 0), closes what it inherited, restores the
 * signal mask, then becomes the command. */
static void run_command(char **argv, pid_t shim, int out_fd, const run_as *u,
                        const sigset_t *mask)
{
    if (out_fd >= 0 && (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0))
        _exit(1);
    if (u->name)
        drop_to(u); /* first: a change of credentials clears the death signal */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != shim)
        _exit(1);
    close_inherited();
    sigprocmask(SIG_SETMASK, mask, NULL);
    execvp(argv[0], argv);
    fprintf(stderr, "starling: cannot run '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
}

static void on_child(int sig)
{
    (void)sig; /* only to interrupt ppoll() */
}

/* The command's output, held until a line is whole. */
typedef struct pump {
    sl__log_writer log;
    int fd; /* the pipe's read end, -1 at its end */
    char buf[SL__LOG_LINE_HOLD];
    size_t have;
} pump;

/* Writes the whole lines held (all that is held with `all`). Errors are
 * reported once on the shim's stderr, which is the log file the supervisor
 * opened. */
static void pump_flush(pump *p, bool all)
{
    size_t k = p->have;
    if (!all && k < sizeof p->buf)
        while (k > 0 && p->buf[k - 1] != '\n')
            k--;
    if (k == 0)
        return;
    static bool told;
    int rc = sl__log_writer_write(&p->log, p->buf, k);
    if (rc && !told) {
        told = true;
        fprintf(stderr, "starling: _exec: cannot write %s: %s\n", p->log.path, strerror(-rc));
    }
    memmove(p->buf, p->buf + k, p->have - k);
    p->have -= k;
}

/* Reads what the pipe has; at its end (or an error) closes it. */
static void pump_read(pump *p)
{
    ssize_t n = read(p->fd, p->buf + p->have, sizeof p->buf - p->have);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close(p->fd);
        p->fd = -1;
        pump_flush(p, true);
        return;
    }
    p->have += (size_t)n;
    pump_flush(p, false);
}

/* Reaps what ended, returning true with *status when the command did. */
static bool reap(pid_t child, int *status)
{
    int st;
    pid_t q;
    bool ended = false;
    while ((q = waitpid(-1, &st, WNOHANG)) > 0)
        if (q == child) {
            *status = st;
            ended = true;
        }
    return ended;
}

/* Copies the command's output to the log until the command ends (SIGCHLD,
 * blocked outside ppoll, interrupts the wait), then drains the rest. */
static int pump_run(pump *p, pid_t child, const sigset_t *wait_mask)
{
    int status = 0;
    while (!reap(child, &status)) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        struct timespec flush = {0, PARTIAL_FLUSH_MS * 1000000L};
        int r = ppoll(&pfd, p->fd >= 0 ? 1 : 0, p->have ? &flush : NULL, wait_mask);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r == 0)
            pump_flush(p, true);
        else if (r > 0)
            pump_read(p);
    }
    kill_descendants(); /* what the command left behind, in the group or not */
    while (p->fd >= 0) {
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        int r = poll(&pfd, 1, DRAIN_MS);
        if (r == 0)
            break;
        if (r > 0)
            pump_read(p);
        else if (errno != EINTR)
            break;
    }
    pump_flush(p, true);
    sl__log_writer_close(&p->log);
    return status;
}

/* Parses `--user NAME --log PATH --log-max BYTES` at argv[*i]. Returns 0
 * or -1. */
static int parse_log(char **argv, int argc, int *i, const char **path, uint64_t *max,
                     const char **user)
{
    while (*i + 1 < argc && (!strcmp(argv[*i], "--log") || !strcmp(argv[*i], "--log-max") ||
                             !strcmp(argv[*i], "--user"))) {
        if (!strcmp(argv[*i], "--user")) {
            *user = argv[*i + 1];
        } else if (!strcmp(argv[*i], "--log")) {
            *path = argv[*i + 1];
        } else {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(argv[*i + 1], &end, 10);
            if (errno || end == argv[*i + 1] || *end || v < 2 * SL__LOG_NOTE_ROOM)
                return -1;
            *max = v;
        }
        *i += 2;
    }
    return *path && !*max ? -1 : 0;
}

int sl__cmd_exec(int argc, char **argv)
{
    const char *cgroup = NULL;
    bool must = argc >= 6 && !strcmp(argv[2], "--cgroup");
    if (must || (argc >= 6 && !strcmp(argv[2], "--cgroup-try"))) {
        cgroup = argv[3];
        argv += 2; /* argv[1] stays PARENT_PID: it moves with the rest */
        argv[1] = argv[-1];
        argc -= 2;
    }
    const char *log_path = NULL;
    uint64_t log_max = 0;
    static run_as user;
    int at = 2;
    if (argc < 4 || parse_log(argv, argc, &at, &log_path, &log_max, &user.name) != 0 ||
        at + 1 >= argc ||
        strcmp(argv[at], "--") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    char *end;
    errno = 0;
    long parent = strtol(argv[1], &end, 10);
    if (errno || end == argv[1] || *end || parent < 1) {
        fprintf(stderr, "starling: _exec: bad parent pid '%s'\n", argv[1]);
        return 2;
    }
    agent_pid = (pid_t)parent;
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        if (handle(forwarded[i], on_signal) != 0)
            return 1;
    if (handle(SIGRTMIN, on_parent_death) != 0 || prctl(PR_SET_PDEATHSIG, SIGRTMIN) != 0 ||
        prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        fprintf(stderr, "starling: _exec: cannot set the death signal: %s\n", strerror(errno));
        return 1;
    }
    /* After the prctl: a parent that dies from now on sends the signal, and
     * one that died before is not our parent any more. */
    if (getppid() != agent_pid)
        return 1;
    int rc = cgroup ? sl__cgroup_enter(cgroup) : 0;
    if (rc) {
        fprintf(stderr, "starling: _exec: cannot enter the cgroup %s: %s%s\n", cgroup,
                strerror(-rc), must ? "" : " (running without it)");
        if (must)
            return 1;
    }
    if (user.name && resolve_user(&user) != 0)
        return 1;
    static pump p;
    int pipe_fd[2] = {-1, -1};
    if (log_path) {
        int lrc = sl__log_writer_open(&p.log, log_path, log_max);
        if (lrc || pipe2(pipe_fd, O_CLOEXEC) != 0) {
            fprintf(stderr, "starling: _exec: cannot open %s: %s\n", log_path,
                    strerror(lrc ? -lrc : errno));
            return 1;
        }
        p.fd = pipe_fd[0];
    }
    /* SIGCHLD is blocked but while the shim waits in ppoll(). */
    sigset_t old, chld, wait_mask;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    struct sigaction sa = {.sa_handler = on_child};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) != 0 || sigprocmask(SIG_BLOCK, &chld, &old) != 0)
        return 1;
    wait_mask = old;
    sigdelset(&wait_mask, SIGCHLD);
    pid_t shim = getpid();
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "starling: _exec: cannot fork: %s\n", strerror(errno));
        return 1;
    }
    if (child == 0)
        run_command(argv + at + 1, shim, pipe_fd[1], &user, &old); /* exec resets the handlers */
    command_pid = child;
    int status;
    if (log_path) {
        close(pipe_fd[1]);
        if ((status = pump_run(&p, child, &wait_mask)) < 0)
            return 1;
    } else {
        for (;;) { /* reaps the orphans that re-parent to us too, until the command ends */
            pid_t q = waitpid(-1, &status, 0);
            if (q == child)
                break;
            if (q < 0 && errno != EINTR)
                return 1;
        }
        kill_descendants(); /* what the command left behind, in the group or not */
    }
    end_like(status);
    return 1;
}
