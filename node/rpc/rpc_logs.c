/* The `logs` RPC command: where a replica's log is, and its stream (see
 * rpc_logs.h for the protocol).
 *
 * Why a redirect and not a proxy. The CLI talks to its own agent, which
 * knows from the gossiped reports which peer runs the replica, and from that
 * peer's metadata (SL__RPC_TAG) where its RPC listens. It answers with that
 * address, and the CLI connects there with the same token, the same sealed,
 * authenticated channel as every other command: no new port, and no
 * agent-to-agent credential that would let one peer read another's files.
 * It is what `nomad alloc logs` does (the client node's own API). The cost:
 * the peer's RPC address must be reachable from the CLI and accept the
 * operator's token, as in a cluster that shares one token.
 *
 * The stream reads the replica's files (replica_log.h) oldest first, from
 * `tail` lines before the end, in chunks of at most SL__LOGS_CHUNK bytes cut
 * at a line end, and sends each as one sealed frame while the connection's
 * write queue is under SL__LOGS_BACKLOG: a slow client slows the reading,
 * it never grows the agent's memory. Following, it looks at the live file
 * every SL__LOGS_POLL_MS; when the name points to a new file (the shim
 * rotated it), it reads the old one to its end first, then switches. It
 * ends when the replica no longer runs here and its file is read to the
 * end. Reads are plain read(2) of local files on the loop thread, 64 KiB at
 * a time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log.h"
#include "rpc/rpc.h"
#include "rpc/rpc_logs.h"
#include "runtime/replica_log.h"
#include "runtime/runtime.h"
#include "starling/meta.h"

#define NFILES (SL__LOG_KEEP + 1) /* oldest first: .log.2, .log.1, .log */
#define LIVE (NFILES - 1)

/* Chunks sent per timer tick at most, before the loop gets a turn. */
#define CHUNKS_PER_TICK 16

struct sl__log_stream {
    sl__agent *a;
    sl__log_sink sink;
    uv_timer_t timer;
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t replica;
    bool follow, done;
    bool rotated;     /* the live name points to a newer file than fd[LIVE] */
    uint64_t sent_ms; /* uv_now() of the last frame sent */
    int fd[NFILES];
    uint64_t off[NFILES];
    int cur; /* the file being read */
    char live[4096];
    char buf[SL__LOGS_CHUNK];
};

/* ---- where the replica is ---- */

static bool runs_here(sl__agent *a, const char *service, uint32_t replica)
{
    sl__local_replica *l = NULL;
    size_t n = sl__runtime_local(a->runtime, &l);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = !strcmp(l[i].service, service) && l[i].replica == replica;
    free(l);
    return found;
}

/* Finds a live peer other than us whose report holds the replica,
 * preferring one that reports it running. */
static bool find_owner(sl__agent *a, const char *service, uint32_t replica, sl_member_view *out)
{
    const sl_reports *rep = sl__runtime_reports(a->runtime);
    const char *self = sl_swim_name(a->swim);
    bool found = false;
    sl_report rr;
    for (size_t i = 0; sl_reports_at(rep, i, &rr); i++) {
        sl_member_view v;
        if (strcmp(rr.service, service) != 0 || !strcmp(rr.node, self) ||
            sl_swim_find(a->swim, rr.node, &v) != 0 ||
            (v.state != SL_MEMBER_ALIVE && v.state != SL_MEMBER_SUSPECT))
            continue;
        for (uint32_t k = 0; k < rr.n; k++) {
            if (rr.replicas[k].replica != replica)
                continue;
            if (!found || rr.replicas[k].status == SL_REPLICA_RUNNING)
                *out = v;
            found = true;
            if (rr.replicas[k].status == SL_REPLICA_RUNNING)
                return true;
        }
    }
    return found;
}

/* The RPC address a member advertises, into buf; NULL without one. */
static const char *rpc_of(const sl_member_view *v, char *buf, size_t cap)
{
    sl_meta m;
    if (sl_meta_decode(v->meta, v->meta_len, &m) != 0)
        return NULL;
    for (uint32_t i = 0; i < m.ntags; i++)
        if (!strcmp(m.tags[i].key, SL__RPC_TAG)) {
            snprintf(buf, cap, "%s", m.tags[i].value);
            return buf;
        }
    return NULL;
}

/* ---- the stream ---- */

/* Makes p[0..n) valid UTF-8 without NUL bytes, as JSON strings must be:
 * anything else becomes '?'. */
static void sanitize(char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = c != 0 && len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)p[i + k] >> 6) == 2;
        if (ok) {
            i += len;
        } else {
            p[i++] = '?';
        }
    }
}

static void arm(sl__log_stream *ls, uint64_t ms);

static void finish(sl__log_stream *ls, const char *reason, bool eof)
{
    ls->done = true;
    uv_timer_stop(&ls->timer);
    json_t *m = json_pack("{s:s, s:b}", "end", reason, "eof", eof);
    if (m)
        ls->sink.send(ls->sink.ud, m, true);
    json_decref(m);
}

static int send_data(sl__log_stream *ls, size_t n)
{
    sanitize(ls->buf, n);
    json_t *s = json_stringn(ls->buf, n);
    if (!s) { /* an encoding jansson refuses that the check above let through */
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)ls->buf[i] >= 0x80)
                ls->buf[i] = '?';
        s = json_stringn(ls->buf, n);
    }
    json_t *m = s ? json_pack("{s:o}", "data", s) : NULL;
    int rc = m ? ls->sink.send(ls->sink.ud, m, false) : -1;
    json_decref(m);
    ls->sent_ms = uv_now(&ls->a->loop);
    return rc;
}

/* Reads and sends one chunk. Returns 1 after a chunk, 0 at the end of the
 * live file, -1 when the stream is over. */
static int read_some(sl__log_stream *ls)
{
    for (;;) {
        int i = ls->cur;
        if (ls->fd[i] < 0) {
            if (i == LIVE)
                return 0;
            ls->cur++;
            continue;
        }
        ssize_t got = pread(ls->fd[i], ls->buf, sizeof ls->buf, (off_t)ls->off[i]);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            char why[256];
            snprintf(why, sizeof why, "cannot read the log of %s.%u: %s", ls->service,
                     (unsigned)ls->replica, strerror(errno));
            finish(ls, why, false);
            return -1;
        }
        if (got == 0) {
            if (i == LIVE)
                return 0;
            close(ls->fd[i]);
            ls->fd[i] = -1;
            ls->cur++;
            continue;
        }
        size_t n = (size_t)got;
        if (n == sizeof ls->buf) { /* cut at the last line end, when there is one */
            size_t k = n;
            while (k > 0 && ls->buf[k - 1] != '\n')
                k--;
            if (k > 0)
                n = k;
        }
        ls->off[i] += n;
        if (send_data(ls, n) != 0) {
            ls->done = true; /* the connection is closing */
            return -1;
        }
        return 1;
    }
}

/* Whether the live name now points to another file than fd[LIVE]. */
static bool live_moved(const sl__log_stream *ls)
{
    struct stat now, mine;
    if (stat(ls->live, &now) != 0)
        return false; /* between the shim's rename and its open */
    return ls->fd[LIVE] < 0 || fstat(ls->fd[LIVE], &mine) != 0 || mine.st_ino != now.st_ino ||
           mine.st_dev != now.st_dev;
}

/* At the end of the live file: ends, switches to the new live file, or
 * waits for more. */
static void at_end(sl__log_stream *ls)
{
    if (!ls->follow) {
        finish(ls, "end of the log", true);
        return;
    }
    if (ls->rotated) { /* read the old file to its end after the rename: now switch */
        int fd = open(ls->live, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            if (ls->fd[LIVE] >= 0)
                close(ls->fd[LIVE]);
            ls->fd[LIVE] = fd;
            ls->off[LIVE] = 0;
            ls->rotated = false;
            arm(ls, 0);
            return;
        }
    }
    if (live_moved(ls)) {
        ls->rotated = true;
        arm(ls, 0); /* one more read of the old file, which the shim no longer writes */
        return;
    }
    if (!runs_here(ls->a, ls->service, ls->replica)) {
        char why[256];
        snprintf(why, sizeof why, "replica %s.%u no longer runs on %s (stopped or moved)",
                 ls->service, (unsigned)ls->replica, sl_swim_name(ls->a->swim));
        finish(ls, why, false);
        return;
    }
    if (uv_now(&ls->a->loop) - ls->sent_ms >= SL__LOGS_KEEPALIVE_MS) {
        json_t *ping = json_object();
        ls->sent_ms = uv_now(&ls->a->loop);
        int rc = ping ? ls->sink.send(ls->sink.ud, ping, false) : 0;
        json_decref(ping);
        if (rc != 0) {
            ls->done = true;
            return;
        }
    }
    arm(ls, SL__LOGS_POLL_MS);
}

static void on_tick(uv_timer_t *t)
{
    sl__log_stream *ls = t->data;
    for (int k = 0; k < CHUNKS_PER_TICK && !ls->done; k++) {
        if (uv_stream_get_write_queue_size(ls->sink.queued) > SL__LOGS_BACKLOG) {
            arm(ls, SL__LOGS_POLL_MS / 10);
            return;
        }
        int r = read_some(ls);
        if (r < 0)
            return;
        if (r == 0) {
            at_end(ls);
            return;
        }
    }
    if (!ls->done)
        arm(ls, 1);
}

static void arm(sl__log_stream *ls, uint64_t ms)
{
    if (!ls->done)
        uv_timer_start(&ls->timer, on_tick, ms, 0);
}

/* Positions the stream `tail` lines before the end of its files (tail < 0:
 * at the start of the oldest). The newline that ends the last line does not
 * count. */
static void seek_tail(sl__log_stream *ls, long tail)
{
    if (tail < 0)
        return;
    bool last = true;
    long lines = 0;
    for (int i = LIVE; i >= 0; i--) {
        struct stat st;
        if (ls->fd[i] < 0 || fstat(ls->fd[i], &st) != 0)
            continue;
        uint64_t end = (uint64_t)st.st_size;
        if (tail == 0) {
            ls->cur = i;
            ls->off[i] = end;
            return;
        }
        while (end > 0) {
            size_t n = end < sizeof ls->buf ? (size_t)end : sizeof ls->buf;
            if (pread(ls->fd[i], ls->buf, n, (off_t)(end - n)) != (ssize_t)n)
                break;
            for (size_t k = n; k > 0; k--) {
                bool nl = ls->buf[k - 1] == '\n';
                if (last) {
                    last = false;
                    if (nl)
                        continue;
                }
                if (nl && ++lines == tail) {
                    ls->cur = i;
                    ls->off[i] = end - n + k;
                    return;
                }
            }
            end -= n;
        }
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void sl__log_stream_free(sl__log_stream *ls)
{
    if (!ls)
        return;
    ls->done = true;
    for (int i = 0; i < NFILES; i++)
        if (ls->fd[i] >= 0)
            close(ls->fd[i]);
    uv_close((uv_handle_t *)&ls->timer, on_timer_closed);
}

/* Opens the replica's files. Returns how many exist. */
static int open_files(sl__log_stream *ls, const char *dir)
{
    int found = 0;
    for (int gen = 0; gen < NFILES; gen++) {
        char path[4096];
        int i = LIVE - gen;
        ls->fd[i] = -1;
        if (sl__log_path(path, sizeof path, dir, ls->service, ls->replica, gen) != 0)
            continue;
        if (gen == 0)
            snprintf(ls->live, sizeof ls->live, "%s", path);
        ls->fd[i] = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        found += ls->fd[i] >= 0;
    }
    return found;
}

/* ---- the command ---- */

static json_t *fail(char *err, size_t errcap, const char *msg)
{
    snprintf(err, errcap, "%s", msg);
    return NULL;
}

json_t *sl__rpc_logs(sl__agent *a, json_t *req, const sl__log_sink *sink, sl__log_stream **out,
                     char *err, size_t errcap)
{
    const char *name = json_string_value(json_object_get(req, "name"));
    json_t *jr = json_object_get(req, "replica"), *jt = json_object_get(req, "tail");
    const char *self = sl_swim_name(a->swim);
    *out = NULL;
    if (!a->runtime)
        return fail(err, errcap, "this agent runs no replicas");
    if (!name || strlen(name) > SL_SVC_NAME_MAX || !sl__log_name_ok(name))
        return fail(err, errcap, "logs needs a service name");
    if (jr && (!json_is_integer(jr) || json_integer_value(jr) < 0 ||
               json_integer_value(jr) >= SL_SVC_REPLICAS_MAX))
        return fail(err, errcap, "the replica must be a number from 0 below the replica limit");
    if (jt && (!json_is_integer(jt) || json_integer_value(jt) < 0 ||
               json_integer_value(jt) > SL__LOGS_TAIL_MAX))
        return fail(err, errcap, "tail must be 0..100000 lines");
    uint32_t replica = jr ? (uint32_t)json_integer_value(jr) : 0;
    bool here = json_is_true(json_object_get(req, "here"));
    bool local = runs_here(a, name, replica);
    sl_member_view owner;
    if (!local && !here && find_owner(a, name, replica, &owner)) {
        char rpc[SL_META_TAG_VALUE_MAX + 1];
        if (!rpc_of(&owner, rpc, sizeof rpc)) {
            snprintf(err, errcap,
                     "replica %s.%u runs on %s, which does not advertise its RPC address "
                     "(tag " SL__RPC_TAG ")",
                     name, (unsigned)replica, owner.name);
            return NULL;
        }
        return json_pack("{s:s, s:s}", "redirect", rpc, "node", owner.name);
    }
    sl__log_stream *ls = calloc(1, sizeof *ls);
    if (!ls)
        return fail(err, errcap, "out of memory");
    snprintf(ls->service, sizeof ls->service, "%s", name);
    ls->replica = replica;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/logs", a->state_dir);
    if (open_files(ls, dir) == 0) {
        free(ls); /* no file open, no timer yet */
        if (!local && !sl_catalog_find(sl__runtime_catalog(a->runtime), name))
            snprintf(err, errcap, "no service named '%s'", name);
        else
            snprintf(err, errcap, "replica %s.%u has no log on %s%s", name, (unsigned)replica, self,
                     here ? "" : ", and no peer reports running it (see 'starling where')");
        return NULL;
    }
    ls->a = a;
    ls->sink = *sink;
    ls->follow = json_is_true(json_object_get(req, "follow"));
    ls->sent_ms = uv_now(&a->loop);
    seek_tail(ls, jt ? (long)json_integer_value(jt) : -1);
    uv_timer_init(&a->loop, &ls->timer);
    ls->timer.data = ls;
    json_t *r = json_pack("{s:s, s:s}", "node", self, "file", ls->live);
    if (!r) {
        sl__log_stream_free(ls);
        return fail(err, errcap, "out of memory");
    }
    *out = ls;
    arm(ls, 0);
    return r;
}
