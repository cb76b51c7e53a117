/* The replica supervisor with real processes: the test service
 * ($BUILD/svc/whoami) spawned through the real shim ($BUILD/starling _exec)
 * on a real libuv loop. Every wait is bounded and driven by the loop; no test
 * sleeps to synchronise. The test process is a child subreaper, so that the
 * orphans a test makes on purpose come back to it to be reaped, and the
 * teardown kills and reaps whatever a failed test left behind. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "runtime/supervisor.h"

#define EVENTS_MAX 256

typedef struct event {
    char service[64];
    uint32_t replica;
    sl_replica_status status;
    uint16_t port;
    uint32_t restarts;
    uint32_t retry_ms;
    int pid;
    int64_t exit_status;
    int term_signal;
    uint64_t at; /* uv_now() */
    bool removed;
    uint32_t version;
} event;

typedef struct fixture {
    uv_loop_t loop;
    sl__supervisor *sup;
    bool closed;
    char dir[64];  /* the log directory, under /tmp */
    char host[32]; /* a loopback address of this test process's own */
    char shim[PATH_MAX], whoami[PATH_MAX];
    event ev[EVENTS_MAX];
    size_t nev;
    pid_t forked;  /* a child process of the death-signal test, or 0 */
    pid_t orphan;  /* the replica of that child, or 0 */
    sl__cgroup cg; /* the cgroups of the cgroup tests */
} fixture;

/* ---- the world -------------------------------------------------------- */

static void record(fixture *f, const sl__replica_info *r, bool removed)
{
    if (f->nev == EVENTS_MAX)
        return;
    event *e = &f->ev[f->nev++];
    snprintf(e->service, sizeof e->service, "%s", r->service);
    e->replica = r->replica;
    e->status = r->status;
    e->port = r->port;
    e->restarts = r->restarts;
    e->retry_ms = r->retry_ms;
    e->pid = r->pid;
    e->exit_status = r->exit_status;
    e->term_signal = r->term_signal;
    e->at = uv_now(&f->loop);
    e->removed = removed;
    e->version = r->version;
}

static void on_change(void *ud, const sl__replica_info *r)
{
    record(ud, r, false);
}

static void on_removed(void *ud, const sl__replica_info *r)
{
    record(ud, r, true);
}

static void find_binary(char *out, const char *rel)
{
    const char *build = getenv("BUILD");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", build && *build ? build : "build", rel);
    if (!realpath(path, out) || access(out, X_OK) != 0)
        fail_msg("%s is missing: build it first (make)", path);
}

static sl__supervisor_config base_config(fixture *f)
{
    return (sl__supervisor_config){
        .node = "n1",
        .host = f->host,
        .log_dir = f->dir,
        .shim = f->shim,
        .grace_ms = 2000,
        .backoff_base_ms = 100,
        .backoff_max_ms = 1000,
        .on_change = on_change,
        .on_removed = on_removed,
        .ud = f,
    };
}

static void open_sup(fixture *f, const sl__supervisor_config *cfg)
{
    int err = 0;
    f->sup = sl__supervisor_new(&f->loop, cfg, &err);
    if (!f->sup)
        fail_msg("sl__supervisor_new: %s", uv_strerror(err));
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    uv_loop_init(&f->loop);
    snprintf(f->dir, sizeof f->dir, "/tmp/sl-sup-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    /* Test runs in parallel (build/ and build-san/) must not race for the
     * same ports: each listens on a loopback address of its own. */
    pid_t pid = getpid();
    snprintf(f->host, sizeof f->host, "127.7.%d.%d", (pid >> 8) & 255, pid & 255);
    *state = f;
    return 0;
}

static void wake(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until pred(f, arg) holds or `ms` have passed; returns
 * whether it holds. A 10 ms tick keeps the loop turning so that predicates
 * about the outside world (kill(pid, 0)) are seen. */
static bool wait_for(fixture *f, bool (*pred)(fixture *, const void *), const void *arg,
                     uint64_t ms)
{
    uv_timer_t tick;
    uv_timer_init(&f->loop, &tick);
    uv_timer_start(&tick, wake, 10, 10);
    uv_update_time(&f->loop);
    uint64_t deadline = uv_now(&f->loop) + ms;
    bool ok;
    while (!(ok = pred(f, arg)) && uv_now(&f->loop) < deadline)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    return ok;
}

static void close_done(void *ud)
{
    ((fixture *)ud)->closed = true;
}

static bool is_closed(fixture *f, const void *arg)
{
    (void)arg;
    return f->closed;
}

static void close_sup(fixture *f, sl__supervisor_close_mode mode)
{
    if (!f->sup)
        return;
    sl__supervisor_close(f->sup, mode, close_done, f);
    f->sup = NULL;
    assert_true(wait_for(f, is_closed, NULL, 5000));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void close_stray(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static bool pid_gone_now(pid_t pid);

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->sup) {
        sl__supervisor_close(f->sup, SL__SUP_CLOSE_IMMEDIATE, close_done, f);
        f->sup = NULL;
        wait_for(f, is_closed, NULL, 5000);
    }
    if (f->forked > 0) {
        kill(f->forked, SIGKILL);
        waitpid(f->forked, NULL, 0);
    }
    if (f->orphan > 0 && !pid_gone_now(f->orphan)) { /* the death signal failed */
        kill(f->orphan, SIGKILL);
        waitpid(f->orphan, NULL, 0);
    }
    /* Orphans of this test came back to us (we are a subreaper): reap them. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    if (uv_loop_close(&f->loop) == UV_EBUSY) {
        uv_walk(&f->loop, close_stray, NULL);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        uv_loop_close(&f->loop);
    }
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- predicates and probes -------------------------------------------- */

typedef struct want {
    const char *service;
    uint32_t replica;
    sl_replica_status status;
    uint32_t restarts;
} want;

static bool has_status(fixture *f, const void *arg)
{
    const want *w = arg;
    sl__replica_info r;
    return f->sup && sl__supervisor_find(f->sup, w->service, w->replica, &r) == 0 &&
           r.status == w->status && r.restarts >= w->restarts;
}

static bool was_removed(fixture *f, const void *arg)
{
    const want *w = arg;
    for (size_t i = 0; i < f->nev; i++)
        if (f->ev[i].removed && !strcmp(f->ev[i].service, w->service) &&
            f->ev[i].replica == w->replica)
            return true;
    return false;
}

/* Counts the events with status st (and not removals) of one replica. */
static size_t count_events(const fixture *f, const char *service, uint32_t replica,
                           sl_replica_status st)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nev; i++)
        if (!f->ev[i].removed && f->ev[i].status == st && f->ev[i].replica == replica &&
            !strcmp(f->ev[i].service, service))
            n++;
    return n;
}

typedef struct count_want {
    const char *service;
    sl_replica_status status;
    size_t n;
} count_want;

static bool has_events(fixture *f, const void *arg)
{
    const count_want *w = arg;
    return count_events(f, w->service, 0, w->status) >= w->n;
}

/* True when pid is gone: reaped by us (it was our orphan) or not there. */
static bool pid_gone_now(pid_t pid)
{
    if (waitpid(pid, NULL, WNOHANG) == pid)
        return true;
    return kill(pid, 0) == -1 && errno == ESRCH;
}

static bool pid_gone(fixture *f, const void *arg)
{
    (void)f;
    return pid_gone_now(*(const pid_t *)arg);
}

static bool group_gone(fixture *f, const void *arg)
{
    (void)f;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    return kill(-*(const pid_t *)arg, 0) == -1 && errno == ESRCH;
}

static char *read_file(const char *path);

/* True when the process has a child (it has got to its first command). */
static bool has_children(fixture *f, const void *arg)
{
    (void)f;
    int pid = *(const int *)arg;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    const char *kids = read_file(path);
    return kids && *kids;
}

/* True when the process's first child has a child of its own: the replica's
 * command (the shim's child) has got to its first command. */
static bool command_has_children(fixture *f, const void *arg)
{
    int pid = *(const int *)arg;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
    const char *kids = read_file(path);
    int command = kids ? atoi(kids) : 0;
    return command > 0 && has_children(f, &command);
}

/* Connects to host:port and reads what the service says, up to EOF. */
static void ask(const char *host, uint16_t port, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    assert_int_equal(inet_pton(AF_INET, host, &a.sin_addr), 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        fail_msg("connect to port %u: %s", (unsigned)port, strerror(errno));
    }
    size_t n = 0;
    ssize_t got;
    while (n < cap - 1 && (got = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    close(fd);
}

static bool port_bindable(const char *host, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static char *read_file(const char *path)
{
    static char buf[65536];
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void start_whoami(fixture *f, const char *service, uint32_t replica, char *const *env,
                         uint32_t envc)
{
    char *argv[] = {f->whoami};
    assert_int_equal(sl__supervisor_start(f->sup, service, replica, argv, 1, env, envc), 0);
}

static void open_default(fixture *f)
{
    find_binary(f->shim, "starling");
    find_binary(f->whoami, "svc/whoami");
    sl__supervisor_config cfg = base_config(f);
    open_sup(f, &cfg);
}

/* Opens the default supervisor, starts whoami as web.0, waits until it runs
 * and fills *r with it. */
static void run_one_web(fixture *f, sl__replica_info *r)
{
    open_default(f);
    start_whoami(f, "web", 0, NULL, 0);
    want running = {"web", 0, SL_REPLICA_RUNNING, 0};
    assert_true(wait_for(f, has_status, &running, 5000));
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, r), 0);
}

struct collect_ctx {
    event *out;
    size_t *n;
};

static void collect(void *ud, const sl__replica_info *r)
{
    struct collect_ctx *c = ud;
    event *e = &c->out[(*c->n)++];
    e->replica = r->replica;
    e->pid = r->pid;
}

/* ---- tests ------------------------------------------------------------ */

static void start_runs_and_answers(void **state)
{
    fixture *f = *state;
    open_default(f);
    start_whoami(f, "web", 0, NULL, 0);
    start_whoami(f, "web", 1, NULL, 0);
    want w0 = {"web", 0, SL_REPLICA_RUNNING, 0}, w1 = {"web", 1, SL_REPLICA_RUNNING, 0};
    assert_true(wait_for(f, has_status, &w0, 5000));
    assert_true(wait_for(f, has_status, &w1, 5000));
    assert_int_equal(f->ev[0].status, SL_REPLICA_STARTING);
    assert_int_equal(sl__supervisor_count(f->sup), 2);

    sl__replica_info r0, r1;
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &r0), 0);
    assert_int_equal(sl__supervisor_find(f->sup, "web", 1, &r1), 0);
    assert_true(r0.port >= SL__SUP_PORT_MIN && r0.port <= SL__SUP_PORT_MAX);
    assert_int_not_equal(r0.port, r1.port);
    assert_true(r0.pid > 0 && r1.pid > 0);
    assert_int_equal(r0.restarts, 0);

    /* The reported pid leads the replica's process group (it is the shim
     * that stays between the agent and the command). */
    char got[512], expect[512];
    ask(f->host, r0.port, got, sizeof got);
    const char *at = strstr(got, " pid=");
    assert_non_null(at);
    long cmd_pid = strtol(at + 5, NULL, 10);
    assert_int_equal(getpgid((pid_t)cmd_pid), r0.pid);
    snprintf(expect, sizeof expect, "service=web replica=0 node=n1 port=%u pid=%ld\n",
             (unsigned)r0.port, cmd_pid);
    assert_string_equal(got, expect);
    ask(f->host, r1.port, got, sizeof got);
    assert_non_null(strstr(got, "service=web replica=1 node=n1 "));

    /* foreach walks them in (service, replica) order. */
    event seen[2];
    size_t nseen = 0;
    sl__supervisor_foreach(f->sup, collect, &(struct collect_ctx){seen, &nseen});
    assert_int_equal(nseen, 2);
    assert_int_equal(seen[0].replica, 0);
    assert_int_equal(seen[1].replica, 1);
    assert_int_equal(seen[1].pid, r1.pid);

    /* Starting what runs changes nothing. */
    start_whoami(f, "web", 0, NULL, 0);
    sl__replica_info again;
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &again), 0);
    assert_int_equal(again.pid, r0.pid);

    /* Its stderr went to its log file, next to the supervisor's notes. */
    char path[256];
    snprintf(path, sizeof path, "%s/web.0.log", f->dir);
    const char *log = read_file(path);
    assert_non_null(log);
    char listening[128];
    snprintf(listening, sizeof listening, "whoami: web.0 listening on %s:%u\n", f->host,
             (unsigned)r0.port);
    assert_non_null(strstr(log, listening));
    assert_non_null(strstr(log, "[starling] "));

    /* A graceful close stops both and calls done from the loop. */
    close_sup(f, SL__SUP_CLOSE_GRACEFUL);
    assert_true(pid_gone_now(r0.pid));
    assert_true(pid_gone_now(r1.pid));
}

static void env_reaches_the_replica(void **state)
{
    fixture *f = *state;
    open_default(f);
    setenv("SL_TEST_AGENT", "agent", 1);
    setenv("SL_TEST_OVER", "agent", 1);
    setenv("STARLING_PORT", "1", 1); /* reserved: the supervisor's wins */
    char *env[] = {"SL_TEST_OVER=svc", "SL_TEST_SVC=a=b",
                   "WHOAMI_ECHO=SL_TEST_AGENT,SL_TEST_OVER,SL_TEST_SVC,STARLING_HOST",
                   "STARLING_NODE=evil"};
    start_whoami(f, "api", 2, env, 4);
    unsetenv("SL_TEST_AGENT");
    unsetenv("SL_TEST_OVER");
    unsetenv("STARLING_PORT");
    want w = {"api", 2, SL_REPLICA_RUNNING, 0};
    assert_true(wait_for(f, has_status, &w, 5000));
    sl__replica_info r;
    assert_int_equal(sl__supervisor_find(f->sup, "api", 2, &r), 0);
    char got[512], expect[512];
    ask(f->host, r.port, got, sizeof got);
    const char *at = strstr(got, " pid=");
    assert_non_null(at);
    long cmd_pid = strtol(at + 5, NULL, 10);
    assert_int_equal(getpgid((pid_t)cmd_pid), r.pid);
    snprintf(expect, sizeof expect,
             "service=api replica=2 node=n1 port=%u pid=%ld SL_TEST_AGENT=agent SL_TEST_OVER=svc "
             "SL_TEST_SVC=a=b STARLING_HOST=%s\n",
             (unsigned)r.port, cmd_pid, f->host);
    assert_string_equal(got, expect);

    /* Bad arguments are refused before anything runs. */
    char *argv[] = {f->whoami};
    char *bad_env[] = {"NOEQUALS"};
    assert_int_equal(sl__supervisor_start(f->sup, "bad/name", 0, argv, 1, NULL, 0), UV_EINVAL);
    assert_int_equal(sl__supervisor_start(f->sup, "", 0, argv, 1, NULL, 0), UV_EINVAL);
    assert_int_equal(sl__supervisor_start(f->sup, "ok", 0, argv, 0, NULL, 0), UV_EINVAL);
    assert_int_equal(sl__supervisor_start(f->sup, "ok", 0, argv, 1, bad_env, 1), UV_EINVAL);
    assert_int_equal(sl__supervisor_stop(f->sup, "nope", 0), UV_ENOENT);
    assert_int_equal(sl__supervisor_count(f->sup), 1);
}

static bool never(fixture *f, const void *arg)
{
    (void)f;
    (void)arg;
    return false;
}

/* Health checks: an HTTP check against whoami in HTTP mode makes it running,
 * a failing /healthz makes it unhealthy and restarted; an HTTP check of a
 * service that does not speak HTTP never passes; an exec check passes on
 * exit 0; closing with an exec check in flight ends (its process killed). */
static void checks_decide_running_and_unhealthy(void **state)
{
    fixture *f = *state;
    open_default(f);
    char down[128], envf[160];
    snprintf(down, sizeof down, "%s/down", f->dir);
    snprintf(envf, sizeof envf, "WHOAMI_UNHEALTHY_FILE=%s", down);
    char *env[] = {"WHOAMI_HTTP=1", envf};
    start_whoami(f, "hweb", 0, env, 2);
    sl_check c = {.kind = SL_CHECK_HTTP,
                  .arg = "/healthz",
                  .interval_ms = 50,
                  .timeout_ms = 500,
                  .failures = 2};
    assert_int_equal(sl__supervisor_set_check(f->sup, "hweb", 0, &c), 0);
    assert_int_equal(sl__supervisor_set_check(f->sup, "nope", 0, &c), UV_ENOENT);
    sl_check bad = {.kind = SL_CHECK_HTTP, .arg = "no-slash"};
    assert_int_equal(sl__supervisor_set_check(f->sup, "hweb", 0, &bad), UV_EINVAL);
    want running = {"hweb", 0, SL_REPLICA_RUNNING, 0};
    assert_true(wait_for(f, has_status, &running, 5000));
    FILE *fp = fopen(down, "w");
    assert_non_null(fp);
    fclose(fp);
    want unhealthy = {"hweb", 0, SL_REPLICA_UNHEALTHY, 0};
    assert_true(wait_for(f, has_status, &unhealthy, 3000));
    want again = {"hweb", 0, SL_REPLICA_STARTING, 1};
    assert_true(wait_for(f, has_status, &again, 5000));
    unlink(down);
    want back = {"hweb", 0, SL_REPLICA_RUNNING, 1};
    assert_true(wait_for(f, has_status, &back, 5000));

    /* Plain whoami answers a line that is not HTTP: never running (the
     * default check would have made it running at its first connect). */
    start_whoami(f, "plain", 0, NULL, 0);
    assert_int_equal(sl__supervisor_set_check(f->sup, "plain", 0, &c), 0);
    want plain = {"plain", 0, SL_REPLICA_RUNNING, 0};
    assert_false(wait_for(f, has_status, &plain, 1000));

    /* Servers whose answers are bounded by the check: headers that never
     * end (a 200 status line, then 1 MB of headers) and no answer at all.
     * Neither passes, and the replica log says why. */
    static const char *py =
        "import os, socket\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind((os.environ['STARLING_HOST'], int(os.environ['STARLING_PORT']))); s.listen(8)\n"
        "while True:\n"
        "    c, _ = s.accept(); c.recv(4096)\n"
        "    if os.environ.get('MODE') == 'endless':\n"
        "        try: c.sendall(b'HTTP/1.1 200 OK\\r\\n' + b'X-Pad: ' + b'y' * 1000000)\n"
        "        except OSError: pass\n"
        "    else:\n"
        "        keep = c\n";
    char *pyargv[] = {"python3", "-c", (char *)py};
    char *endless[] = {"MODE=endless"}, *mute[] = {"MODE=mute"};
    sl_check quick = c;
    quick.timeout_ms = 300;
    assert_int_equal(sl__supervisor_start(f->sup, "endless", 0, pyargv, 3, endless, 1), 0);
    assert_int_equal(sl__supervisor_set_check(f->sup, "endless", 0, &quick), 0);
    assert_int_equal(sl__supervisor_start(f->sup, "mute", 0, pyargv, 3, mute, 1), 0);
    assert_int_equal(sl__supervisor_set_check(f->sup, "mute", 0, &quick), 0);
    want endless_runs = {"endless", 0, SL_REPLICA_RUNNING, 0};
    want mute_runs = {"mute", 0, SL_REPLICA_RUNNING, 0};
    assert_false(wait_for(f, has_status, &endless_runs, 1500));
    assert_false(wait_for(f, has_status, &mute_runs, 10));
    want endless_starts = {"endless", 0, SL_REPLICA_STARTING, 0};
    want mute_starts = {"mute", 0, SL_REPLICA_STARTING, 0};
    assert_true(has_status(f, &endless_starts)); /* up (not failed), never restarted */
    assert_true(has_status(f, &mute_starts));
    char path[128];
    snprintf(path, sizeof path, "%s/endless.0.log", f->dir);
    const char *log = read_file(path); /* a static buffer */
    assert_non_null(log);
    assert_non_null(
        strstr(log, "still starting: its check failed: no end of the headers in 8192 bytes"));
    snprintf(path, sizeof path, "%s/mute.0.log", f->dir);
    log = read_file(path);
    assert_non_null(log);
    assert_non_null(strstr(log, "still starting: its check failed: timed out"));

    sl_check ok = {.kind = SL_CHECK_EXEC, .arg = "test -n \"$STARLING_PORT\""};
    start_whoami(f, "xweb", 0, NULL, 0);
    assert_int_equal(sl__supervisor_set_check(f->sup, "xweb", 0, &ok), 0);
    want xrun = {"xweb", 0, SL_REPLICA_RUNNING, 0};
    assert_true(wait_for(f, has_status, &xrun, 5000));

    sl_check slow = {.kind = SL_CHECK_EXEC, .arg = "sleep 30", .timeout_ms = 20000};
    start_whoami(f, "slow", 0, NULL, 0);
    assert_int_equal(sl__supervisor_set_check(f->sup, "slow", 0, &slow), 0);
    wait_for(f, never, NULL, 400);        /* a check is in flight now */
    close_sup(f, SL__SUP_CLOSE_GRACEFUL); /* asserts that it ends */
}

static void a_crash_is_restarted(void **state)
{
    fixture *f = *state;
    sl__replica_info before;
    run_one_web(f, &before);

    assert_int_equal(kill(before.pid, SIGKILL), 0);
    want failed = {"web", 0, SL_REPLICA_FAILED, 0};
    assert_true(wait_for(f, has_status, &failed, 3000));
    sl__replica_info down;
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &down), 0);
    assert_int_equal(down.term_signal, SIGKILL);
    assert_int_equal(down.pid, 0);

    want again = {"web", 0, SL_REPLICA_RUNNING, 1};
    assert_true(wait_for(f, has_status, &again, 5000));
    sl__replica_info after;
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &after), 0);
    assert_int_equal(after.restarts, 1);
    assert_int_not_equal(after.pid, before.pid);
    assert_int_equal(after.port, before.port); /* a stable address */
    char got[512];
    ask(f->host, after.port, got, sizeof got);
    assert_non_null(strstr(got, "service=web replica=0 "));

    /* A service that exits by itself: its status is recorded. */
    char *env[] = {"WHOAMI_CRASH_AFTER_MS=200"};
    start_whoami(f, "crashy", 0, env, 1);
    count_want fails = {"crashy", SL_REPLICA_FAILED, 1};
    assert_true(wait_for(f, has_events, &fails, 3000));
    sl__replica_info c;
    assert_int_equal(sl__supervisor_find(f->sup, "crashy", 0, &c), 0);
    assert_int_equal(c.exit_status, 3);
}

/* Sends sig to pid from another process, as an operator's shell would: the
 * shim ignores what comes from its agent (here, this test process), since
 * the agent signals the whole group. */
static void kill_from_elsewhere(pid_t pid, int sig)
{
    pid_t k = fork();
    assert_true(k >= 0);
    if (k == 0)
        _exit(kill(pid, sig) == 0 ? 0 : 1);
    int st;
    assert_int_equal(waitpid(k, &st, 0), k);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* An operator's `kill PID` on the pid `starling ps` shows (the shim alone,
 * not the group) reaches the command, and the supervisor sees the command's
 * own end: the exit status it chose, or the signal that killed it. */
static void a_signal_to_the_pid_reaches_the_command(void **state)
{
    fixture *f = *state;
    sl__replica_info r;
    run_one_web(f, &r);

    kill_from_elsewhere(r.pid, SIGTERM); /* whoami exits 0 on SIGTERM */
    count_want ended = {"web", SL_REPLICA_FAILED, 1};
    assert_true(wait_for(f, has_events, &ended, 3000));
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &r), 0);
    assert_int_equal(r.exit_status, 0);
    assert_int_equal(r.term_signal, 0);

    want again = {"web", 0, SL_REPLICA_RUNNING, 1};
    assert_true(wait_for(f, has_status, &again, 5000));
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &r), 0);
    kill_from_elsewhere(r.pid, SIGUSR1); /* whoami's default: it dies of it */
    count_want killed = {"web", SL_REPLICA_FAILED, 2};
    assert_true(wait_for(f, has_events, &killed, 3000));
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &r), 0);
    assert_int_equal(r.term_signal, SIGUSR1);
}

static void stop_ends_the_process_and_frees_the_port(void **state)
{
    fixture *f = *state;
    sl__replica_info r;
    run_one_web(f, &r);
    assert_false(port_bindable(f->host, r.port));

    assert_int_equal(sl__supervisor_stop(f->sup, "web", 0), 0);
    assert_int_equal(f->ev[f->nev - 1].status, SL_REPLICA_STOPPING);
    assert_int_equal(sl__supervisor_stop(f->sup, "web", 0), 0); /* again: no-op */
    want gone = {"web", 0, 0, 0};
    assert_true(wait_for(f, was_removed, &gone, 3000));
    const event *last = &f->ev[f->nev - 1];
    assert_true(last->removed);
    assert_int_equal(last->exit_status, 0); /* whoami exits 0 on SIGTERM */
    assert_int_equal(last->term_signal, 0);
    assert_int_equal(kill(r.pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_true(port_bindable(f->host, r.port));
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &r), UV_ENOENT);
    assert_int_equal(sl__supervisor_count(f->sup), 0);
}

static void start_while_stopping_runs_it_again(void **state)
{
    fixture *f = *state;
    sl__replica_info before;
    run_one_web(f, &before);
    assert_int_equal(sl__supervisor_stop(f->sup, "web", 0), 0);
    start_whoami(f, "web", 0, NULL, 0);
    size_t mark = f->nev;
    want running = {"web", 0, SL_REPLICA_RUNNING, 0};
    assert_true(wait_for(f, has_status, &running, 5000));
    sl__replica_info after;
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &after), 0);
    assert_int_not_equal(after.pid, before.pid);
    assert_true(pid_gone_now(before.pid));
    for (size_t i = mark; i < f->nev; i++)
        assert_false(f->ev[i].removed);

    /* Stopping a failed replica that waits for its restart removes it at once. */
    assert_int_equal(kill(after.pid, SIGKILL), 0);
    want failed = {"web", 0, SL_REPLICA_FAILED, 0};
    assert_true(wait_for(f, has_status, &failed, 3000));
    assert_int_equal(sl__supervisor_stop(f->sup, "web", 0), 0);
    assert_true(f->ev[f->nev - 1].removed);
    assert_int_equal(sl__supervisor_count(f->sup), 0);
}

/* Each replica carries the spec version it was started with, into its info
 * and its report entry; a restart with a new spec (stop, then start_as while
 * stopping, as the agent's RESTART does) keeps the old version while the old
 * process stops and takes the new one with the new process. */
static void the_spec_version_follows_the_running_command(void **state)
{
    fixture *f = *state;
    open_default(f);
    char *argv[] = {f->whoami};
    assert_int_equal(sl__supervisor_start_as(f->sup, "web", 0, argv, 1, NULL, 0, NULL, 0xaaaa0001u),
                     0);
    assert_int_equal(f->ev[0].status, SL_REPLICA_STARTING);
    assert_int_equal(f->ev[0].version, 0xaaaa0001u);
    want running = {"web", 0, SL_REPLICA_RUNNING, 0};
    assert_true(wait_for(f, has_status, &running, 5000));
    sl__replica_info before;
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &before), 0);
    assert_int_equal(before.version, 0xaaaa0001u);
    sl_replica_report e = sl__supervisor_report_of(&before);
    assert_int_equal(e.replica, 0);
    assert_int_equal(e.status, SL_REPLICA_RUNNING);
    assert_int_equal(e.port, before.port);
    assert_int_equal(e.restarts, 0);
    assert_false(e.gave_up);
    assert_int_equal(e.version, 0xaaaa0001u);

    /* Starting what runs, with another version, changes nothing. */
    assert_int_equal(sl__supervisor_start_as(f->sup, "web", 0, argv, 1, NULL, 0, NULL, 0xbbbb0002u),
                     0);
    sl__replica_info same;
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &same), 0);
    assert_int_equal(same.version, 0xaaaa0001u);
    assert_int_equal(same.pid, before.pid);

    /* The restart. */
    size_t mark = f->nev;
    assert_int_equal(sl__supervisor_stop(f->sup, "web", 0), 0);
    assert_int_equal(sl__supervisor_start_as(f->sup, "web", 0, argv, 1, NULL, 0, NULL, 0xbbbb0002u),
                     0);
    assert_true(f->nev > mark);
    assert_int_equal(f->ev[mark].status, SL_REPLICA_STOPPING);
    assert_int_equal(f->ev[mark].version, 0xaaaa0001u); /* the old process still runs */
    sl__replica_info stopping;
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &stopping), 0);
    assert_int_equal(stopping.version, 0xaaaa0001u);
    assert_true(wait_for(f, has_status, &running, 5000));
    sl__replica_info after;
    assert_int_equal(sl__supervisor_find(f->sup, "web", 0, &after), 0);
    assert_int_not_equal(after.pid, before.pid);
    assert_int_equal(after.version, 0xbbbb0002u);
    assert_int_equal(sl__supervisor_report_of(&after).version, 0xbbbb0002u);
    for (size_t i = mark + 1; i < f->nev; i++)
        if (f->ev[i].status == SL_REPLICA_STARTING)
            assert_int_equal(f->ev[i].version, 0xbbbb0002u);

    /* start() without a version: 0, not known. */
    start_whoami(f, "plain", 0, NULL, 0);
    sl__replica_info plain;
    assert_int_equal(sl__supervisor_find(f->sup, "plain", 0, &plain), 0);
    assert_int_equal(plain.version, 0);
}

static void sigterm_ignored_means_sigkill(void **state)
{
    fixture *f = *state;
    find_binary(f->shim, "starling");
    sl__supervisor_config cfg = base_config(f);
    cfg.grace_ms = 300;
    open_sup(f, &cfg);
    char *argv[] = {"sh", "-c", "trap '' TERM; sleep 100; exit 0"};
    assert_int_equal(sl__supervisor_start(f->sup, "stubborn", 0, argv, 3, NULL, 0), 0);
    want starting = {"stubborn", 0, SL_REPLICA_STARTING, 0};
    assert_true(wait_for(f, has_status, &starting, 1000));
    sl__replica_info r;
    assert_int_equal(sl__supervisor_find(f->sup, "stubborn", 0, &r), 0);
    /* Once sh (the shim's child) has a child, it has run its trap: then the
     * SIGTERM. */
    assert_true(wait_for(f, command_has_children, &r.pid, 3000));
    /* The grace timer starts from the loop's cached clock: refresh it first,
     * so that `stopped` is exactly where the timer counts from. */
    uv_update_time(&f->loop);
    uint64_t stopped = uv_now(&f->loop);
    assert_int_equal(sl__supervisor_stop(f->sup, "stubborn", 0), 0);
    want gone = {"stubborn", 0, 0, 0};
    assert_true(wait_for(f, was_removed, &gone, 3000));
    const event *last = &f->ev[f->nev - 1];
    assert_true(last->removed);
    assert_int_equal(last->term_signal, SIGKILL);
    assert_true(last->at - stopped >= 300);
    /* The whole group went: sh's sleep too. */
    pid_t pgid = r.pid;
    assert_true(wait_for(f, group_gone, &pgid, 3000));
}

static void an_unknown_command_fails_with_backoff(void **state)
{
    fixture *f = *state;
    find_binary(f->shim, "starling");
    sl__supervisor_config cfg = base_config(f);
    cfg.backoff_max_ms = 400;
    open_sup(f, &cfg);
    char *argv[] = {"/nonexistent/starling-test-cmd", "x"};
    assert_int_equal(sl__supervisor_start(f->sup, "typo", 0, argv, 2, NULL, 0), 0);
    count_want five = {"typo", SL_REPLICA_STARTING, 5};
    assert_true(wait_for(f, has_events, &five, 5000));
    assert_int_equal(count_events(f, "typo", 0, SL_REPLICA_RUNNING), 0);

    /* Each restart waits twice as long as the one before, up to the cap:
     * 100, 200, 400, 400 ms; and it does wait that long. */
    static const uint32_t delays[] = {100, 200, 400, 400};
    uint64_t failed_at = 0;
    size_t n = 0;
    for (size_t i = 0; i < f->nev && n < 4; i++) {
        if (f->ev[i].status == SL_REPLICA_FAILED) {
            assert_int_equal(f->ev[i].exit_status, 127);
            assert_int_equal(f->ev[i].retry_ms, delays[n]);
            failed_at = f->ev[i].at;
        } else if (f->ev[i].status == SL_REPLICA_STARTING && failed_at) {
            assert_true(f->ev[i].at - failed_at >= delays[n]);
            assert_int_equal(f->ev[i].restarts, ++n);
            assert_int_equal(f->ev[i].retry_ms, 0);
        }
    }
    assert_int_equal(n, 4);

    char path[256];
    snprintf(path, sizeof path, "%s/typo.0.log", f->dir);
    const char *log = read_file(path);
    assert_non_null(log);
    assert_non_null(strstr(log,
                           "starling: cannot run '/nonexistent/starling-test-cmd': No such file or "
                           "directory\n"));
}

static void a_long_run_resets_the_backoff(void **state)
{
    fixture *f = *state;
    find_binary(f->shim, "starling");
    find_binary(f->whoami, "svc/whoami");
    sl__supervisor_config cfg = base_config(f);
    cfg.healthy_after_ms = 300;
    open_sup(f, &cfg);
    char *env[] = {"WHOAMI_CRASH_AFTER_MS=350"};
    start_whoami(f, "flaky", 0, env, 1);
    count_want two = {"flaky", SL_REPLICA_FAILED, 2};
    assert_true(wait_for(f, has_events, &two, 5000));
    /* Both runs lasted past healthy_after_ms: the delay stays at the base
     * (it would be 200 ms the second time otherwise). */
    for (size_t i = 0; i < f->nev; i++)
        if (f->ev[i].status == SL_REPLICA_FAILED)
            assert_int_equal(f->ev[i].retry_ms, 100);
}

static void a_missing_shim_is_a_failure(void **state)
{
    fixture *f = *state;
    snprintf(f->shim, sizeof f->shim, "/nonexistent/starling");
    sl__supervisor_config cfg = base_config(f);
    open_sup(f, &cfg);
    char *argv[] = {"true"};
    assert_int_equal(sl__supervisor_start(f->sup, "noshim", 0, argv, 1, NULL, 0), 0);
    assert_int_equal(f->nev, 1);
    assert_int_equal(f->ev[0].status, SL_REPLICA_FAILED);
    char path[256];
    snprintf(path, sizeof path, "%s/noshim.0.log", f->dir);
    const char *log = read_file(path);
    assert_non_null(log);
    assert_non_null(strstr(log, "cannot start noshim.0: cannot spawn the shim: "));
    count_want two = {"noshim", SL_REPLICA_FAILED, 2};
    assert_true(wait_for(f, has_events, &two, 2000));
    assert_int_equal(sl__supervisor_stop(f->sup, "noshim", 0), 0);
    assert_true(f->ev[f->nev - 1].removed);
}

/* ---- the death signal ------------------------------------------------- */

typedef struct child_ctx {
    int fd; /* the pipe to the test */
    bool sent;
} child_ctx;

static void child_on_change(void *ud, const sl__replica_info *r)
{
    child_ctx *c = ud;
    if (r->status == SL_REPLICA_RUNNING && !c->sent) {
        int32_t pid = r->pid;
        c->sent = write(c->fd, &pid, sizeof pid) == (ssize_t)sizeof pid;
    }
}

/* The forked agent stand-in: its own loop and supervisor, one replica (argv),
 * then it runs until the test kills it. Never returns. */
static void run_child_agent(fixture *f, int fd, char **argv, int argc)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    uv_loop_t loop;
    child_ctx ctx = {.fd = fd};
    char dir[128];
    snprintf(dir, sizeof dir, "%s/child", f->dir);
    sl__supervisor_config cfg = {.node = "child",
                                 .host = f->host,
                                 .log_dir = dir,
                                 .shim = f->shim,
                                 .on_change = child_on_change,
                                 .ud = &ctx};
    int err;
    sl__supervisor *s;
    if (uv_loop_init(&loop) != 0 || !(s = sl__supervisor_new(&loop, &cfg, &err)) ||
        sl__supervisor_start(s, "orphan", 0, argv, argc, NULL, 0) != 0)
        _exit(1);
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(1);
}

/* Starts a stand-in agent in a child process running one replica (argv);
 * returns the replica's pid, which is also recorded for the teardown. */
static pid_t start_child_agent(fixture *f, char **argv, int argc)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    f->forked = fork();
    assert_true(f->forked >= 0);
    if (f->forked == 0) {
        close(p[0]);
        run_child_agent(f, p[1], argv, argc);
    }
    close(p[1]);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    int32_t rpid = 0;
    bool got = poll(&pfd, 1, 5000) == 1 && read(p[0], &rpid, sizeof rpid) == sizeof rpid;
    close(p[0]);
    assert_true(got);
    assert_true(rpid > 0);
    f->orphan = rpid;
    assert_int_equal(kill(rpid, 0), 0);
    return rpid;
}

/* kill -9 of the stand-in agent: nothing gets to clean up but the kernel. */
static void kill_child_agent(fixture *f)
{
    assert_int_equal(kill(f->forked, SIGKILL), 0);
    assert_int_equal(waitpid(f->forked, NULL, 0), f->forked);
    f->forked = 0;
}

static void replicas_die_with_their_agent(void **state)
{
    fixture *f = *state;
    find_binary(f->shim, "starling");
    find_binary(f->whoami, "svc/whoami");
    char *argv[] = {f->whoami};
    pid_t replica = start_child_agent(f, argv, 1);
    kill_child_agent(f);
    assert_true(wait_for(f, pid_gone, &replica, 3000));
    f->orphan = 0;
}

/* Reads a pid from a file, once something has written it; 0 if not yet. */
static bool pid_file_written(fixture *f, const void *arg)
{
    (void)f;
    FILE *fp = fopen(arg, "r");
    long pid = 0;
    if (fp) {
        if (fscanf(fp, "%ld", &pid) != 1)
            pid = 0;
        fclose(fp);
    }
    return pid > 0;
}

/* Reads the pid a script wrote into pidfile (waiting for it). */
static pid_t read_pid_file(fixture *f, const char *pidfile)
{
    assert_true(wait_for(f, pid_file_written, pidfile, 5000));
    FILE *fp = fopen(pidfile, "r");
    long w = 0;
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%ld", &w), 1);
    fclose(fp);
    return (pid_t)w;
}

/* A shell script that starts a worker (sleep 600) and writes its pid into
 * pidfile; with `escape`, in a session of its own (setsid), out of the
 * replica's process group, the way a daemon escapes its parent. */
static void worker_script(fixture *f, bool escape, char *pidfile, size_t pcap, char *script,
                          size_t scap)
{
    snprintf(pidfile, pcap, "%s/%s.pid", f->dir, escape ? "escaped" : "worker");
    if (escape)
        snprintf(script, scap,
                 "setsid /bin/sh -c 'sleep 600 & echo $! > %s.tmp && mv %s.tmp %s; wait' & wait",
                 pidfile, pidfile, pidfile);
    else
        snprintf(script, scap, "sleep 600 & echo $! > %s.tmp && mv %s.tmp %s; wait", pidfile,
                 pidfile, pidfile);
}

/* Asserts that the worker is gone within 3 s, killing it if not so that
 * the test leaves nothing behind. */
static void assert_worker_gone(fixture *f, pid_t worker)
{
    bool gone = wait_for(f, pid_gone, &worker, 3000);
    if (!gone)
        kill(worker, SIGKILL);
    assert_true(gone);
}

/* The replica's worker (escaped or not) dies when its agent is killed -9. */
static void worker_dies_with_its_agent(fixture *f, bool escape)
{
    find_binary(f->shim, "starling");
    char pidfile[128], script[768];
    worker_script(f, escape, pidfile, sizeof pidfile, script, sizeof script);
    char *argv[] = {"/bin/sh", "-c", script};
    pid_t replica = start_child_agent(f, argv, 3);
    pid_t worker = read_pid_file(f, pidfile);
    if (escape)
        assert_int_not_equal(getpgid(worker), replica); /* it did leave the group */
    else
        assert_int_equal(getpgid(worker), replica); /* in the replica's group */
    kill_child_agent(f);
    assert_worker_gone(f, worker);
    assert_true(wait_for(f, pid_gone, &replica, 3000));
    f->orphan = 0;
}

/* A replica that forks a worker of its own (a shell script, a pre-forking
 * server): when the agent is killed with -9 the worker goes too, not only
 * the command the agent started, so that nothing keeps holding its port. */
static void workers_die_with_their_agent(void **state)
{
    worker_dies_with_its_agent(*state, false);
}

/* The escaped worker dies with its agent too: the shim is its subreaper
 * and kills what is below it, not only its process group. */
static void escaped_workers_die_with_their_agent(void **state)
{
    worker_dies_with_its_agent(*state, true);
}

/* And when the replica is stopped, the escaped worker goes with it. */
static void escaped_workers_die_when_the_replica_stops(void **state)
{
    fixture *f = *state;
    open_default(f);
    char pidfile[128], script[768];
    worker_script(f, true, pidfile, sizeof pidfile, script, sizeof script);
    char *argv[] = {"/bin/sh", "-c", script};
    assert_int_equal(sl__supervisor_start(f->sup, "esc", 0, argv, 3, NULL, 0), 0);
    pid_t worker = read_pid_file(f, pidfile);
    assert_int_equal(kill(worker, 0), 0);
    assert_int_equal(sl__supervisor_stop(f->sup, "esc", 0), 0);
    want gone_rec = {"esc", 0, 0, 0};
    assert_true(wait_for(f, was_removed, &gone_rec, 5000));
    assert_worker_gone(f, worker);
}

/* ---- cgroups and file descriptors ------------------------------------- */

/* The replica's own output in its log file: the lines that are not the
 * supervisor's "[starling] ..." notes. */
static const char *replica_output(fixture *f, const char *service)
{
    static char out[4096];
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.0.log", f->dir, service);
    const char *log = read_file(path);
    size_t n = 0;
    for (const char *p = log; p && *p;) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, "[starling]", 10) != 0 && n + len + 2 < sizeof out) {
            memcpy(out + n, p, len);
            n += len;
            out[n++] = '\n';
        }
        p += len + (p[len] == '\n');
    }
    out[n] = 0;
    return out;
}

static bool output_ends(fixture *f, const void *arg)
{
    return strstr(replica_output(f, "fds"), "end\n") != NULL;
}

/* A replica sees no descriptor but 0, 1 and 2, even one the agent inherited
 * without close-on-exec (as from the shell that started it): the shim
 * closes them. libuv's own (epoll, the signal pipe, ...) are close-on-exec. */
static void a_replica_gets_only_stdio(void **state)
{
    fixture *f = *state;
    int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: inherited */
    assert_true(leak > 2);
    open_default(f);
    /* The shell lists its own descriptors (not those of ls, which has the
     * directory open) to its output, the log file: no redirection, since
     * dash keeps a copy of a redirected descriptor (fd 10) meanwhile. */
    char *argv[] = {"/bin/sh", "-c", "ls /proc/$$/fd; echo end; exec sleep 600"};
    assert_int_equal(sl__supervisor_start(f->sup, "fds", 0, argv, 3, NULL, 0), 0);
    assert_true(wait_for(f, output_ends, NULL, 5000));
    close(leak);
    assert_string_equal(replica_output(f, "fds"), "0\n1\n2\nend\n");
}

static void fake_limits(void *ud, const char *service, uint32_t *cpu_milli, uint32_t *mem_mb)
{
    (void)ud;
    *cpu_milli = strcmp(service, "big") ? 0 : 250;
    *mem_mb = strcmp(service, "big") ? 0 : 64;
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static char *file_in(const char *dir, const char *name)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *t = read_file(path);
    return t ? t : "(missing)";
}

/* With limits on (a fake cgroup tree: the files a kernel would make), a
 * replica gets cpu.max and memory.max from its service, the shim enters its
 * cgroup, and an exit that the cgroup's memory.events counts as an OOM kill
 * is reported as OOM ("oom"), counted, and restarted like a crash; the next
 * plain crash is FAILED again. */
static void an_oom_kill_is_reported(void **state)
{
    fixture *f = *state;
    f->cg = (sl__cgroup){.mode = SL__CGROUP_LIMITS, .pid = getpid()};
    snprintf(f->cg.base, sizeof f->cg.base, "%s/cg", f->dir);
    assert_int_equal(mkdir(f->cg.base, 0755), 0);
    char rc[SL__CGROUP_PATH_MAX + 64];
    snprintf(rc, sizeof rc, "%s/starling-%d.big.0", f->cg.base, (int)getpid());
    assert_int_equal(mkdir(rc, 0755), 0);
    const char *files[] = {"cgroup.procs", "cgroup.kill",     "cpu.max",
                           "memory.max",   "memory.swap.max", "memory.oom.group"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        put_file(rc, files[i], "");
    put_file(rc, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    find_binary(f->shim, "starling");
    find_binary(f->whoami, "svc/whoami");
    sl__supervisor_config cfg = base_config(f);
    cfg.cgroup = &f->cg;
    cfg.limits = fake_limits;
    open_sup(f, &cfg);
    start_whoami(f, "big", 0, NULL, 0);
    want running = {"big", 0, SL_REPLICA_RUNNING, 0};
    assert_true(wait_for(f, has_status, &running, 5000));
    sl__replica_info r;
    assert_int_equal(sl__supervisor_find(f->sup, "big", 0, &r), 0);
    assert_string_equal(file_in(rc, "cpu.max"), "25000 100000");
    assert_string_equal(file_in(rc, "memory.max"), "67108864");
    assert_string_equal(file_in(rc, "memory.swap.max"), "0");
    assert_string_equal(file_in(rc, "memory.oom.group"), "1");
    char pid[32];
    snprintf(pid, sizeof pid, "%d\n", r.pid);
    assert_string_equal(file_in(rc, "cgroup.procs"), pid); /* the shim moved itself in */

    /* The kernel's OOM killer, as the cgroup would tell it. */
    put_file(rc, "memory.events", "low 0\nhigh 0\nmax 9\noom 4\noom_kill 1\n");
    assert_int_equal(kill(r.pid, SIGKILL), 0);
    want oom = {"big", 0, SL_REPLICA_OOM, 0};
    assert_true(wait_for(f, has_status, &oom, 3000));
    assert_int_equal(sl__supervisor_find(f->sup, "big", 0, &r), 0);
    assert_int_equal(r.oom_kills, 1);
    assert_true(r.retry_ms > 0); /* waiting to restart, like FAILED */
    assert_string_equal(sl_replica_status_name(r.status), "oom");
    assert_string_equal(file_in(rc, "cgroup.kill"), "1"); /* what was left, killed */
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/big.0.log", f->dir);
    assert_non_null(strstr(read_file(log), "killed by the kernel: out of memory"));

    /* Restarted (the restart counts it); a plain crash after it is no OOM. */
    want again = {"big", 0, SL_REPLICA_RUNNING, 1};
    assert_true(wait_for(f, has_status, &again, 5000));
    assert_int_equal(sl__supervisor_find(f->sup, "big", 0, &r), 0);
    assert_int_equal(kill(r.pid, SIGKILL), 0);
    want failed = {"big", 0, SL_REPLICA_FAILED, 1};
    assert_true(wait_for(f, has_status, &failed, 3000));
    assert_int_equal(sl__supervisor_find(f->sup, "big", 0, &r), 0);
    assert_int_equal(r.oom_kills, 1);
}

/* A cgroup only there for the kill that the shim cannot enter (here: a fake
 * one without cgroup.procs) costs the kill, not the replica; limits that
 * cannot be written keep the replica from running (FAILED, retried). */
static void cgroup_failures(void **state)
{
    fixture *f = *state;
    f->cg = (sl__cgroup){.mode = SL__CGROUP_KILL_ONLY, .pid = getpid()};
    snprintf(f->cg.base, sizeof f->cg.base, "%s/cg", f->dir);
    assert_int_equal(mkdir(f->cg.base, 0755), 0);
    find_binary(f->shim, "starling");
    find_binary(f->whoami, "svc/whoami");
    sl__supervisor_config cfg = base_config(f);
    cfg.cgroup = &f->cg;
    cfg.limits = fake_limits;
    open_sup(f, &cfg);
    start_whoami(f, "web", 0, NULL, 0);
    want running = {"web", 0, SL_REPLICA_RUNNING, 0};
    assert_true(wait_for(f, has_status, &running, 5000));
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/web.0.log", f->dir);
    assert_non_null(strstr(read_file(log), "cannot enter the cgroup"));
    assert_non_null(strstr(read_file(log), "(running without it)"));

    f->cg.mode = SL__CGROUP_LIMITS; /* the fake cgroup has no cpu.max to write */
    start_whoami(f, "big", 0, NULL, 0);
    count_want fails = {"big", SL_REPLICA_FAILED, 2};
    assert_true(wait_for(f, has_events, &fails, 3000));
    assert_int_equal(count_events(f, "big", 0, SL_REPLICA_STARTING), 0);
    snprintf(log, sizeof log, "%s/big.0.log", f->dir);
    assert_non_null(strstr(read_file(log), "cannot enforce its limits in a cgroup"));
}

/* Where the machine has a writable cgroup v2 (limits on, or cgroup.kill
 * only as on a hybrid layout), a replica's cgroup kills what escaped both
 * its process group and its shim: a daemon (setsid) whose shim is killed
 * -9 is not below any subreaper of ours any more, yet it goes. */
static void a_killed_shim_leaves_nothing_behind(void **state)
{
    fixture *f = *state;
    sl__cgroup_probe(&(sl__cgroup_config){0}, &f->cg);
    if (f->cg.mode == SL__CGROUP_OFF) {
        print_message("cgroups: %s; skipping\n", f->cg.why);
        skip();
    }
    find_binary(f->shim, "starling");
    find_binary(f->whoami, "svc/whoami");
    sl__supervisor_config cfg = base_config(f);
    cfg.cgroup = &f->cg;
    open_sup(f, &cfg);
    char pidfile[128], script[768];
    worker_script(f, true, pidfile, sizeof pidfile, script, sizeof script);
    char *argv[] = {"/bin/sh", "-c", script};
    assert_int_equal(sl__supervisor_start(f->sup, "esc", 0, argv, 3, NULL, 0), 0);
    pid_t worker = read_pid_file(f, pidfile);
    sl__replica_info r;
    assert_int_equal(sl__supervisor_find(f->sup, "esc", 0, &r), 0);
    assert_int_not_equal(getpgid(worker), r.pid); /* it left the group */
    char path[64], want_cg[64];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)worker);
    snprintf(want_cg, sizeof want_cg, "/starling-%d.esc.0\n", (int)getpid());
    assert_non_null(strstr(read_file(path), want_cg)); /* but not its cgroup */
    assert_int_equal(kill(r.pid, SIGKILL), 0);         /* the shim, no clean-up */
    want failed = {"esc", 0, SL_REPLICA_FAILED, 0};
    assert_true(wait_for(f, has_status, &failed, 3000));
    assert_worker_gone(f, worker);
}

int main(void)
{
    /* Orphans re-parent to us rather than to init, so that we can reap them
     * and see them gone, whatever init does in this container. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(start_runs_and_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(env_reaches_the_replica, setup, teardown),
        cmocka_unit_test_setup_teardown(a_crash_is_restarted, setup, teardown),
        cmocka_unit_test_setup_teardown(checks_decide_running_and_unhealthy, setup, teardown),
        cmocka_unit_test_setup_teardown(a_signal_to_the_pid_reaches_the_command, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_ends_the_process_and_frees_the_port, setup, teardown),
        cmocka_unit_test_setup_teardown(start_while_stopping_runs_it_again, setup, teardown),
        cmocka_unit_test_setup_teardown(the_spec_version_follows_the_running_command, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sigterm_ignored_means_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(an_unknown_command_fails_with_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(a_long_run_resets_the_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(a_missing_shim_is_a_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(replicas_die_with_their_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(workers_die_with_their_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(escaped_workers_die_with_their_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(escaped_workers_die_when_the_replica_stops, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_replica_gets_only_stdio, setup, teardown),
        cmocka_unit_test_setup_teardown(an_oom_kill_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(a_killed_shim_leaves_nothing_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(cgroup_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
