/* The replica supervisor's health checks: when a STARTING replica becomes
 * RUNNING, and when a RUNNING one becomes UNHEALTHY. What a result means is
 * decided without I/O in gossip/replica_check.c; this file performs the
 * checks and acts on the verdicts.
 *
 * A check runs on the replica's timer: every SL__SUP_PROBE_MS while
 * STARTING, every interval while RUNNING (the default check only while
 * STARTING), one at a time. Each check in flight is a small heap object, a
 * probe, with its own handles: a timeout timer, and a TCP socket (tcp and
 * http checks) or a process (exec checks). A probe belongs to one run of the
 * replica, so that the answer about a process that has since exited is
 * ignored; once it has an answer, or its timeout fired, or its replica went
 * away, it closes its handles and frees itself. Until then it counts among
 * the supervisor's zombies, so close() waits for it.
 *
 *   tcp, default  connect to host:port; the default check also counts a
 *                 replica that stayed up ready_after_ms as running.
 *   http          connect, send `GET PATH HTTP/1.1` (Host, Connection:
 *                 close), parse the answer with http-parser: passed when
 *                 the status line and headers parse and the status is 2xx.
 *                 At most SL__SUP_RESPONSE_MAX bytes are read before the end
 *                 of the headers; more is a failure. The body is not read.
 *   exec          `starling _exec AGENT_PID -- /bin/sh -c CMD`, detached (its
 *                 own process group), stdio to /dev/null, with the agent's
 *                 environment and the replica's STARLING_* variables: passed
 *                 when it exits 0. At the timeout its process group gets
 *                 SIGKILL (the shim also kills whatever escaped the group,
 *                 and dies with the agent), and the probe frees itself once
 *                 the process has been reaped. */
#include <http_parser.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/log.h"

#include "runtime/supervisor_internal.h"

_Static_assert(SL_REPLICA_CHECK_STARTING_MS == SL__SUP_PROBE_MS, "one period while starting");

extern char **environ;

struct sl__sup_probe {
    sl__supervisor *sup;
    sl__sup_replica *r; /* NULL once nobody waits for the answer */
    uint32_t run;       /* r->run when it began */
    uint16_t port;      /* the replica's */
    sl_check check;
    bool done;
    int handles; /* open handles; freed at 0 */
    int pid;     /* exec: the process while it runs */
    bool tcp_open;
    bool headers_done;
    unsigned status_code;
    size_t got; /* bytes of the answer read */
    uv_timer_t timeout;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    uv_process_t proc;
    http_parser parser;
    char req[SL_CHECK_ARG_MAX + 128];
    char buf[2048];
};

/* ---- verdicts --------------------------------------------------------- */

static void arm(sl__sup_replica *r)
{
    uint32_t period = sl_replica_check_period_ms(&r->check, r->status);
    if (period)
        uv_timer_start(&r->timer, sl__sup_probe_tick, period, period);
    else
        uv_timer_stop(&r->timer);
}

static void set_running(sl__sup_replica *r)
{
    sl__sup_set_status(r, SL_REPLICA_RUNNING);
    arm(r);
}

/* SIGTERM to the group, SIGKILL after the grace period; the exit restarts
 * it with the backoff (sl__sup_process_exited). */
static void set_unhealthy(sl__sup_replica *r, const char *why)
{
    char check[SL_CHECK_ARG_MAX + 8];
    sl_check_format(&r->check, check, sizeof check);
    sl__sup_note(r,
                 "%s.%u (pid %d) unhealthy: %u checks (%s) failed in a row, the last: %s; "
                 "stopping it with SIGTERM to restart it",
                 r->service, (unsigned)r->index, r->pid, (unsigned)sl_check_failures(&r->check),
                 check, why);
    sl__warn("replica %s.%u is unhealthy (%s: %s); restarting it", r->service, (unsigned)r->index,
             check, why);
    kill(-r->pid, SIGTERM);
    uv_timer_start(&r->timer, sl__sup_grace_over, r->sup->grace_ms, 0);
    sl__sup_set_status(r, SL_REPLICA_UNHEALTHY);
}

/* One result for r's current run. */
static void deliver(sl__sup_replica *r, bool passed, const char *why)
{
    sl_replica_status before = r->status;
    switch (sl_replica_check_observe(&r->chk, &r->check, r->status, passed)) {
    case SL_REPLICA_CHECK_READY: set_running(r); return;
    case SL_REPLICA_CHECK_UNHEALTHY: set_unhealthy(r, why); return;
    case SL_REPLICA_CHECK_NOTHING: break;
    }
    if (!passed && before == SL_REPLICA_RUNNING && r->check.kind != SL_CHECK_DEFAULT)
        sl__sup_note(r, "%s.%u check failed (%u of %u in a row): %s", r->service,
                     (unsigned)r->index, (unsigned)r->chk.fails,
                     (unsigned)sl_check_failures(&r->check), why);
    /* While starting, each new reason once per run, so that the log says
     * why a replica stays starting without a line every 150 ms. */
    if (!passed && before == SL_REPLICA_STARTING && r->check.kind != SL_CHECK_DEFAULT &&
        (r->why_run != r->run || strncmp(r->last_why, why, sizeof r->last_why - 1))) {
        r->why_run = r->run;
        snprintf(r->last_why, sizeof r->last_why, "%s", why);
        sl__sup_note(r, "%s.%u still starting: its check failed: %s", r->service,
                     (unsigned)r->index, why);
    }
}

/* ---- the probe's life ------------------------------------------------- */

static void probe_maybe_free(sl__sup_probe *p)
{
    if (p->handles > 0 || !p->done)
        return;
    sl__supervisor *s = p->sup;
    free(p);
    sl__sup_zombie_freed(s);
}

static void probe_handle_closed(uv_handle_t *h)
{
    sl__sup_probe *p = h->data;
    p->handles--;
    probe_maybe_free(p);
}

/* The answer: tells the replica (if it still waits for this run) and closes
 * everything. An exec check still running is killed; its exit closes it. */
static void finish(sl__sup_probe *p, bool passed, const char *why)
{
    if (p->done)
        return;
    p->done = true;
    sl__sup_replica *r = p->r;
    if (r) {
        r->probe = NULL;
        p->r = NULL;
        if (!r->removed && r->pid && r->run == p->run)
            deliver(r, passed, why);
    }
    uv_close((uv_handle_t *)&p->timeout, probe_handle_closed);
    if (p->tcp_open && !uv_is_closing((uv_handle_t *)&p->tcp))
        uv_close((uv_handle_t *)&p->tcp, probe_handle_closed);
    if (p->pid > 0)
        kill(-p->pid, SIGKILL);
    probe_maybe_free(p);
}

void sl__sup_probe_cancel(sl__sup_replica *r)
{
    sl__sup_probe *p = r->probe;
    if (!p)
        return;
    p->r = NULL;
    r->probe = NULL;
    finish(p, false, "cancelled");
}

static void timed_out(uv_timer_t *t)
{
    finish(t->data, false, "timed out");
}

/* ---- http ------------------------------------------------------------- */

static int on_headers_complete(http_parser *hp)
{
    sl__sup_probe *p = hp->data;
    p->headers_done = true;
    p->status_code = hp->status_code;
    http_parser_pause(hp, 1); /* nothing after the headers matters */
    return 0;
}

static const http_parser_settings parser_settings = {.on_headers_complete = on_headers_complete};

/* Feeds n bytes (0: the end of the stream) to the parser and finishes when
 * it knows the answer. */
static void feed(sl__sup_probe *p, const char *b, size_t n)
{
    http_parser_execute(&p->parser, &parser_settings, b, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);
    if (p->headers_done) {
        char why[64];
        snprintf(why, sizeof why, "HTTP status %u", p->status_code);
        finish(p, p->status_code >= 200 && p->status_code <= 299, why);
    } else if (e != HPE_OK) {
        finish(p, false, http_errno_description(e));
    } else if (n == 0) {
        finish(p, false, "the connection closed before the answer's headers ended");
    } else if (p->got > SL__SUP_RESPONSE_MAX) {
        char why[64];
        snprintf(why, sizeof why, "no end of the headers in %d bytes", SL__SUP_RESPONSE_MAX);
        finish(p, false, why);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sl__sup_probe *p = h->data;
    *buf = uv_buf_init(p->buf, sizeof p->buf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    sl__sup_probe *p = st->data;
    if (p->done)
        return;
    if (nread == UV_EOF)
        feed(p, NULL, 0);
    else if (nread < 0)
        finish(p, false, uv_strerror((int)nread));
    else if (nread > 0) {
        p->got += (size_t)nread;
        feed(p, buf->base, (size_t)nread);
    }
}

static void on_written(uv_write_t *w, int status)
{
    sl__sup_probe *p = w->data;
    if (status < 0 && !p->done)
        finish(p, false, uv_strerror(status));
}

static void send_request(sl__sup_probe *p, const sl__supervisor *s, uint16_t port)
{
    bool v6 = strchr(s->host, ':') != NULL;
    int n = snprintf(p->req, sizeof p->req,
                     "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: starling-check\r\n"
                     "Connection: close\r\n\r\n",
                     p->check.arg, v6 ? "[" : "", s->host, v6 ? "]" : "", (unsigned)port);
    if (n < 0 || (size_t)n >= sizeof p->req) {
        finish(p, false, "the request does not fit");
        return;
    }
    http_parser_init(&p->parser, HTTP_RESPONSE);
    p->parser.data = p;
    uv_buf_t b = uv_buf_init(p->req, (unsigned)n);
    p->wr.data = p;
    int rc = uv_write(&p->wr, (uv_stream_t *)&p->tcp, &b, 1, on_written);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
    if (rc != 0)
        finish(p, false, uv_strerror(rc));
}

/* ---- tcp and http ----------------------------------------------------- */

static void on_connected(uv_connect_t *req, int status)
{
    sl__sup_probe *p = req->data;
    if (p->done)
        return;
    if (status < 0)
        finish(p, false, uv_strerror(status));
    else if (p->check.kind == SL_CHECK_HTTP)
        send_request(p, p->sup, p->port);
    else
        finish(p, true, "connected");
}

static int start_connect(sl__sup_probe *p, uint16_t port)
{
    sl__supervisor *s = p->sup;
    int rc = uv_tcp_init(s->loop, &p->tcp);
    if (rc != 0)
        return rc;
    p->tcp.data = p;
    p->tcp_open = true;
    p->handles++;
    p->conn.data = p;
    struct sockaddr_storage a = s->addr;
    sl__sup_set_port(&a, port);
    return uv_tcp_connect(&p->conn, &p->tcp, (struct sockaddr *)&a, on_connected);
}

/* ---- exec ------------------------------------------------------------- */

static void on_exec_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    sl__sup_probe *p = proc->data;
    int pid = p->pid;
    p->pid = 0;
    if (pid > 0)
        kill(-pid, SIGKILL); /* whatever it left in its group */
    uv_close((uv_handle_t *)proc, probe_handle_closed);
    char why[64];
    if (term_signal)
        snprintf(why, sizeof why, "the command was killed by signal %d", term_signal);
    else
        snprintf(why, sizeof why, "the command exited with status %lld", (long long)exit_status);
    finish(p, exit_status == 0 && term_signal == 0, why);
}

static bool is_replica_var(const char *kv)
{
    static const char *const names[] = {"STARLING_SERVICE=", "STARLING_REPLICA=", "STARLING_NODE=",
                                        "STARLING_HOST=", "STARLING_PORT="};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strncmp(kv, names[i], strlen(names[i])))
            return true;
    return false;
}

/* The agent's environment without STARLING_SERVICE..PORT, then the
 * replica's: a NULL-terminated vector to free with sl__sup_free_strv. */
static char **exec_env(const sl__sup_replica *r)
{
    size_t n = 0, k = 0;
    while (environ && environ[n])
        n++;
    char **out = calloc(n + 6, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!is_replica_var(environ[i]) && !(out[k++] = strdup(environ[i])))
            goto fail;
    const sl__supervisor *s = r->sup;
    if (asprintf(&out[k++], "STARLING_SERVICE=%s", r->service) < 0 ||
        asprintf(&out[k++], "STARLING_REPLICA=%u", (unsigned)r->index) < 0 ||
        asprintf(&out[k++], "STARLING_NODE=%s", s->node) < 0 ||
        asprintf(&out[k++], "STARLING_HOST=%s", s->host) < 0 ||
        asprintf(&out[k++], "STARLING_PORT=%u", (unsigned)r->port) < 0)
        goto fail;
    return out;
fail:
    out[k ? k - 1 : 0] = NULL; /* asprintf leaves it undefined on failure */
    sl__sup_free_strv(out);
    return NULL;
}

static int start_exec(sl__sup_probe *p, const sl__sup_replica *r)
{
    sl__supervisor *s = p->sup;
    char **env = exec_env(r);
    if (!env)
        return UV_ENOMEM;
    /* An exec check runs as the replica does: as its --user, when it has one. */
    char user[sizeof r->user];
    snprintf(user, sizeof user, "%s", r->user);
    char *args[10], **a = args;
    *a++ = s->shim;
    *a++ = "_exec";
    *a++ = s->parent_pid;
    if (user[0]) {
        *a++ = "--user";
        *a++ = user;
    }
    *a++ = "--";
    *a++ = "/bin/sh";
    *a++ = "-c";
    *a++ = p->check.arg;
    *a = NULL;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_IGNORE}};
    uv_process_options_t o = {.exit_cb = on_exec_exit,
                              .file = s->shim,
                              .args = args,
                              .env = env,
                              .flags = UV_PROCESS_DETACHED,
                              .stdio_count = 3,
                              .stdio = stdio};
    p->proc.data = p;
    int rc = uv_spawn(s->loop, &p->proc, &o);
    sl__sup_free_strv(env);
    p->handles++; /* libuv initialises the handle even when the spawn fails */
    if (rc != 0) {
        uv_close((uv_handle_t *)&p->proc, probe_handle_closed);
        return rc;
    }
    p->pid = p->proc.pid;
    return 0;
}

/* ---- starting a check ------------------------------------------------- */

static void start_probe(sl__sup_replica *r)
{
    sl__supervisor *s = r->sup;
    sl__sup_probe *p = calloc(1, sizeof *p);
    if (!p)
        return; /* tried again at the next tick */
    p->sup = s;
    p->r = r;
    p->run = r->run;
    p->check = r->check;
    p->port = r->port;
    s->zombies++;
    r->probe = p;
    uv_timer_init(s->loop, &p->timeout);
    p->timeout.data = p;
    p->handles++;
    uv_timer_start(&p->timeout, timed_out, sl_check_timeout_ms(&p->check), 0);
    int rc = 0;
    if (p->check.kind == SL_CHECK_EXEC)
        rc = start_exec(p, r);
    else
        rc = start_connect(p, r->port);
    if (rc != 0)
        finish(p, false, uv_strerror(rc));
}

void sl__sup_probe_tick(uv_timer_t *t)
{
    sl__sup_replica *r = t->data;
    sl__supervisor *s = r->sup;
    if (!r->pid || (r->status != SL_REPLICA_STARTING && r->status != SL_REPLICA_RUNNING)) {
        uv_timer_stop(t);
        return;
    }
    if (r->status == SL_REPLICA_STARTING && r->check.kind == SL_CHECK_DEFAULT &&
        uv_now(s->loop) - r->spawned_at >= s->ready_after_ms) {
        sl__sup_probe_cancel(r);
        set_running(r);
    } else if (!r->probe) {
        start_probe(r);
    }
}
