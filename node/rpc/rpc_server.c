/* The agent's RPC port: see rpc.h for the protocol.
 *
 * Each connection first shakes hands (rpc_seal.h): it reads the client's
 * hello, answers its own, and derives the connection's keys from the token.
 * Until its first sealed request opens, the connection is unauthenticated:
 * it must get there within --rpc-auth-timeout, at most SL__RPC_UNAUTH_MAX
 * such connections are kept (a new one closes the one that has waited
 * longest), and a first frame that does not open gets a refusal frame, is
 * counted and logged (throttled), and the connection is closed. After that,
 * each frame is opened (a frame that does not open closes the connection),
 * decoded into a jansson value with the strict bounded decoder (mpjson.h),
 * answered from the core's read-only queries, and the reply is sealed into
 * one frame. A `join` is answered when its join round ends, and `keys` when
 * its operation has its answers (keys.c); a `leave` once its reply is out; a
 * `monitor` connection then receives every membership event until it
 * closes. */
#include <stdlib.h>
#include <sys/ioctl.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "rpc/frame.h"
#include "agent/keys.h"
#include "agent/log.h"
#include "rpc/mpjson.h"
#include "agent/net.h"
#include "rpc/rpc.h"
#include "rpc/rpc_logs.h"
#include "rpc/rpc_seal.h"
#include "rpc/rpc_runtime.h"
#include "starling/error.h"
#include "starling/meta.h"

/* The first failures are logged one by one; then at most one line per
 * interval, with the count. */
#define AUTH_LOG_FIRST 5
#define AUTH_LOG_EVERY_MS 10000

/* An unauthenticated connection this young is not closed to make room for
 * a newer one: a CLI on loopback shakes hands in a few milliseconds, and one
 * across a continent in a few round trips. */
#define UNAUTH_GRACE_MS 250

/* What a connection has shown so far. */
typedef enum conn_state {
    CONN_HELLO, /* waiting for the client's hello */
    CONN_AUTH,  /* hellos exchanged, waiting for the first sealed request */
    CONN_READY, /* authenticated */
} conn_state;

struct sl__rpc_conn {
    sl__agent *a;
    sl__rpc_conn *prev, *next;
    uv_tcp_t tcp;
    sl__frame in;
    sl__seal seal;
    conn_state state;
    sl__join *join; /* a join round whose reply is owed */
    json_int_t join_seq;
    uint64_t accepted_ms; /* the handshake and first request are due by a deadline */
    sl__keys_wait *keys;  /* a key operation whose reply is owed (keys.c) */
    json_int_t keys_seq;
    uint64_t last_read_ms; /* idle connections are closed (see sweep) */
    bool monitor;
    sl__log_stream *logs; /* a `logs` stream on this connection (rpc_logs.c) */
    bool refused;         /* a refusal is on its way out; read nothing more */
    bool closing;
};

typedef struct reply_write {
    uv_write_t req;
    uint8_t hdr[4];
    uint8_t *data;
    bool then_leave;
    bool then_close;
} reply_write;

static void on_conn_closed(uv_handle_t *h)
{
    sl__rpc_conn *c = h->data;
    sl__agent *a = c->a;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->rpcs = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nrpc--;
    sl__frame_deinit(&c->in);
    sl__seal_wipe(&c->seal);
    free(c);
}

static void conn_close(sl__rpc_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->state != CONN_READY)
        c->a->rpc_auth.unauth--;
    if (c->join)
        sl__join_detach(c->join);
    c->join = NULL;
    if (c->keys)
        sl__keys_detach(c->keys);
    c->keys = NULL;
    sl__log_stream_free(c->logs);
    c->logs = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_reply_written(uv_write_t *req, int status)
{
    reply_write *w = (reply_write *)req;
    sl__agent *a = req->handle->loop->data;
    /* Write callbacks run before the handle's close callback: c is alive. */
    sl__rpc_conn *c = req->handle->data;
    bool leave = w->then_leave && status == 0, then_close = w->then_close;
    free(w->data);
    free(w);
    if (then_close)
        conn_close(c);
    if (leave)
        sl__agent_leave(a, "leave requested over RPC");
}

/* Queues data[0..len) (stolen, freed in every case) as one frame. Returns 0
 * or -1. */
static int send_frame(sl__rpc_conn *c, uint8_t *data, size_t len, bool then_leave, bool then_close)
{
    reply_write *w = c->closing ? NULL : calloc(1, sizeof *w);
    if (!w) {
        free(data);
        return -1;
    }
    w->data = data;
    w->then_leave = then_leave;
    w->then_close = then_close;
    sl__frame_header(w->hdr, len);
    uv_buf_t bufs[2] = {uv_buf_init((char *)w->hdr, 4),
                        uv_buf_init((char *)w->data, (unsigned)len)};
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, 2, on_reply_written) != 0) {
        free(w->data);
        free(w);
        return -1;
    }
    return 0;
}

/* Encodes v, seals it under the next send counter, and queues it as one
 * frame. Returns 0 or -1 (out of memory, too large, or the counter is
 * spent: the caller closes the connection). */
static int send_json_then(sl__rpc_conn *c, json_t *v, bool then_leave, bool then_close)
{
    uint8_t *pt = NULL, *ct = NULL;
    size_t len = 0;
    if (c->closing || c->state != CONN_READY || sl__mpjson_encode(v, &pt, &len) != 0)
        return -1;
    long n = -1;
    if (len <= SL__RPC_REPLY_MAX && (ct = malloc(len + SL__SEAL_ABYTES)))
        n = sl__seal_seal(&c->seal, pt, len, ct, len + SL__SEAL_ABYTES);
    free(pt);
    if (n < 0) {
        free(ct);
        return -1;
    }
    return send_frame(c, ct, (size_t)n, then_leave, then_close);
}

static int send_json(sl__rpc_conn *c, json_t *v, bool then_leave)
{
    return send_json_then(c, v, then_leave, false);
}

static void reply(sl__rpc_conn *c, json_int_t seq, json_t *v, bool then_leave)
{
    if (!v)
        v = json_pack("{s:s}", "error", "the agent could not build its reply");
    json_object_set_new(v, "seq", json_integer(seq));
    if (send_json(c, v, then_leave) != 0)
        conn_close(c);
    json_decref(v);
}

static void reply_error(sl__rpc_conn *c, json_int_t seq, const char *msg)
{
    c->a->ctr.rpc_errors++;
    reply(c, seq, json_pack("{s:s}", "error", msg), false);
}

/* ---- values ---- */

/* Returns a JSON string for s. Names and tags come from the network and JSON
 * wants UTF-8: anything that is not is shown with '?' for each byte outside
 * ASCII. */
static json_t *safe_str(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char buf[256];
    size_t i = 0;
    for (; s[i] && i < sizeof buf - 1; i++)
        buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    buf[i] = 0;
    return json_string(buf);
}

static json_t *addr_json(const sl_addr *a)
{
    char buf[SL_ADDR_STRLEN];
    return json_string(sl_addr_format(a, buf, sizeof buf));
}

static json_t *inc_json(sl_incarnation inc)
{
    return json_pack("{s:I,s:I}", "gen", (json_int_t)inc.gen, "ctr", (json_int_t)inc.ctr);
}

static json_t *member_json(const sl_member_view *v)
{
    sl_meta m;
    json_t *tags = json_object();
    if (sl_meta_decode(v->meta, v->meta_len, &m) != 0)
        memset(&m, 0, sizeof m);
    for (uint32_t i = 0; i < m.ntags; i++)
        json_object_set_new(tags, m.tags[i].key, safe_str(m.tags[i].value));
    return json_pack("{s:o,s:o,s:s,s:o,s:o,s:o,s:b}", "name", safe_str(v->name), "addr",
                     addr_json(&v->addr), "status", sl_member_state_name(v->state), "incarnation",
                     inc_json(v->inc), "zone", safe_str(m.zone), "tags", tags, "self", v->is_self);
}

static int by_name(const void *x, const void *y)
{
    return strcmp(((const sl_member_view *)x)->name, ((const sl_member_view *)y)->name);
}

static json_t *members_json(sl__agent *a, const char *status)
{
    size_t n = sl_swim_size(a->swim), k = 0;
    sl_member_view *views = calloc(n ? n : 1, sizeof *views);
    json_t *arr = json_array();
    if (!views || !arr) {
        free(views);
        json_decref(arr);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (sl_swim_member_at(a->swim, i, &views[k]) == 0 &&
            (!status || !strcmp(status, sl_member_state_name(views[k].state))))
            k++;
    qsort(views, k, sizeof *views, by_name);
    for (size_t i = 0; i < k; i++)
        json_array_append_new(arr, member_json(&views[i]));
    free(views);
    return arr;
}

static json_t *counters_json(sl__agent *a)
{
    const sl_swim_stats *s = sl_swim_get_stats(a->swim);
    const sl__agent_counters *c = &a->ctr;
    json_t *o = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "packets_in",
        (json_int_t)s->packets_in, "packets_out", (json_int_t)s->packets_out, "bytes_in",
        (json_int_t)s->bytes_in, "bytes_out", (json_int_t)s->bytes_out, "msgs_in",
        (json_int_t)s->msgs_in, "msgs_out", (json_int_t)s->msgs_out, "probes",
        (json_int_t)s->probes, "indirect_probes", (json_int_t)s->indirect_probes, "acks_in",
        (json_int_t)s->acks_in, "refutes", (json_int_t)s->refutes, "pushpull_merged",
        (json_int_t)s->pushpull_merged, "broadcasts_refused", (json_int_t)s->broadcasts_refused);
    json_t *agent = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "pushpull_ok", (json_int_t)c->pushpull_ok,
        "pushpull_failed", (json_int_t)c->pushpull_failed, "joins_ok", (json_int_t)c->joins_ok,
        "joins_failed", (json_int_t)c->joins_failed, "streams_in", (json_int_t)c->streams_in,
        "streams_refused", (json_int_t)c->streams_refused, "udp_send_errors",
        (json_int_t)c->udp_send_errors, "udp_send_dropped", (json_int_t)c->udp_send_dropped,
        "rpc_requests", (json_int_t)c->rpc_requests, "rpc_errors", (json_int_t)c->rpc_errors,
        "rpc_auth_failures", (json_int_t)c->rpc_auth_failures);
    json_t *drops = json_object(), *events = json_object();
    for (int i = 0; i < SL_DROP__COUNT; i++)
        json_object_set_new(drops, sl_swim_drop_name((sl_swim_drop)i),
                            json_integer((json_int_t)s->drops[i]));
    for (int i = 0; i < SL_EVENT__COUNT; i++)
        json_object_set_new(events, sl_swim_event_name((sl_swim_event_type)i),
                            json_integer((json_int_t)s->events[i]));
    json_object_set_new(o, "nacks_in", json_integer((json_int_t)s->nacks_in));
    json_object_set_new(o, "nacks_out", json_integer((json_int_t)s->nacks_out));
    json_object_set_new(o, "drops", drops);
    json_object_set_new(o, "events", events);
    json_object_set_new(o, "agent", agent);
    return o;
}

static int count_monitors(const sl__agent *a)
{
    int n = 0;
    for (const sl__rpc_conn *c = a->rpcs; c; c = c->next)
        n += (c->monitor || c->logs) && !c->closing;
    return n;
}

static json_t *info_json(sl__agent *a)
{
    static const sl_member_state states[] = {SL_MEMBER_ALIVE, SL_MEMBER_SUSPECT, SL_MEMBER_DEAD,
                                             SL_MEMBER_LEFT};
    json_t *counts = json_object();
    for (size_t i = 0; i < 4; i++)
        json_object_set_new(counts, sl_member_state_name(states[i]),
                            json_integer((json_int_t)sl_swim_count(a->swim, states[i])));
    json_object_set_new(counts, "total", json_integer((json_int_t)sl_swim_size(a->swim)));
    const sl_swim_timing *t = sl_swim_get_timing(a->swim);
    json_t *rpc =
        json_pack("{s:I,s:I,s:I}", "connections", (json_int_t)a->nrpc, "monitors",
                  (json_int_t)count_monitors(a), "unauthenticated", (json_int_t)a->rpc_auth.unauth);
    json_t *info = json_pack(
        "{s:s,s:o,s:o,s:o,s:s,s:s,s:I,s:o,s:I,s:b,s:o,s:o,s:{s:I,s:I,s:I}}", "name", a->cfg.name,
        "addr", addr_json(&a->cfg.advertise), "bind", addr_json(&a->cfg.bind), "rpc",
        addr_json(&a->cfg.rpc), "cluster", a->cfg.cluster, "profile", a->cfg.profile, "generation",
        (json_int_t)a->generation, "incarnation", inc_json(sl_swim_incarnation(a->swim)),
        "uptime_ms", (json_int_t)(sl__agent_now(a) - a->started_ms), "leaving", a->leaving,
        "members", counts, "counters", counters_json(a), "timing", "probe_interval_ms",
        (json_int_t)t->probe_interval_ms, "gossip_interval_ms", (json_int_t)t->gossip_interval_ms,
        "pushpull_interval_ms", (json_int_t)t->pushpull_interval_ms);
    if (info) {
        json_object_set_new(info, "rpc_clients", rpc);
        /* Where the token came from, never the token. */
        json_object_set_new(info, "rpc_token", json_string(a->rpc_auth.source));
        json_object_set_new(info, "security", sl__rpc_security_json(a));
        json_object_set_new(info, "limits", sl__rpc_limits_json(a));
        /* Lifeguard: on or off, and our own health score (0 is healthy;
         * each point stretches our probe interval and timeout once more). */
        json_object_set_new(info, "lifeguard",
                            json_pack("{s:b,s:I,s:I}", "on", !t->plain_swim, "health",
                                      (json_int_t)sl_swim_health(a->swim), "health_max",
                                      (json_int_t)SL_SWIM_HEALTH_MAX));
    } else {
        json_decref(rpc);
    }
    return info;
}

/* ---- commands ---- */

static void on_join_done(void *ud, int ok, int first_error)
{
    sl__rpc_conn *c = ud;
    c->join = NULL;
    c->a->ctr.joins_ok += (uint64_t)ok;
    if (ok > 0) {
        sl__info("joined %d peer%s on request", ok, ok == 1 ? "" : "s");
        reply(c, c->join_seq, json_pack("{s:i}", "joined", ok), false);
        return;
    }
    c->a->ctr.joins_failed++;
    char msg[256];
    snprintf(msg, sizeof msg, "cannot join: %s", uv_strerror(first_error ? first_error : UV_EIO));
    reply_error(c, c->join_seq, msg);
}

static void cmd_join(sl__rpc_conn *c, json_int_t seq, json_t *req)
{
    json_t *addrs = json_object_get(req, "addrs");
    const char *hosts[SL__SEEDS_MAX];
    size_t n = 0, i;
    json_t *e;
    if (c->join) {
        reply_error(c, seq, "a join is already in progress on this connection");
        return;
    }
    if (!json_is_array(addrs) || json_array_size(addrs) == 0 ||
        json_array_size(addrs) > SL__SEEDS_MAX) {
        reply_error(c, seq, "join wants 1 to 64 addresses");
        return;
    }
    json_array_foreach(addrs, i, e)
    {
        const char *s = json_string_value(e);
        if (!s || !strchr(s, ':') || strlen(s) >= SL__HOSTPORT_MAX) {
            reply_error(c, seq, "join wants addresses as HOST:PORT strings");
            return;
        }
        hosts[n++] = s;
    }
    c->join_seq = seq;
    c->join = sl__join_start(c->a, hosts, NULL, n, on_join_done, c);
    if (!c->join)
        reply_error(c, seq, "cannot start a join now");
}

static void on_keys_done(void *ud, json_t *result)
{
    sl__rpc_conn *c = ud;
    c->keys = NULL;
    reply(c, c->keys_seq, result, false);
}

/* "keys" {op, key?, timeout_ms?}: answered when the operation ends (keys.h). */
static void cmd_keys(sl__rpc_conn *c, json_int_t seq, json_t *req)
{
    char err[256];
    if (c->keys) {
        reply_error(c, seq, "a key operation is already in progress on this connection");
        return;
    }
    c->keys_seq = seq;
    c->keys = sl__keys_start(c->a, req, on_keys_done, c, err, sizeof err);
    if (!c->keys)
        reply_error(c, seq, err);
}

static void cmd_members(sl__rpc_conn *c, json_int_t seq, json_t *req)
{
    json_t *st = json_object_get(req, "status");
    const char *status = json_string_value(st);
    if (st && !json_is_null(st) &&
        (!status || (strcmp(status, "alive") && strcmp(status, "suspect") &&
                     strcmp(status, "dead") && strcmp(status, "left")))) {
        reply_error(c, seq, "status must be alive, suspect, dead or left");
        return;
    }
    json_t *members = members_json(c->a, status);
    if (!members) {
        reply_error(c, seq, "out of memory");
        return;
    }
    reply(c, seq, json_pack("{s:o}", "members", members), false);
}

/* Turns the connection into a monitor stream, within --rpc-max-monitors, so
 * that monitors, exempt from the idle timeout, cannot take every slot. */
static void cmd_monitor(sl__rpc_conn *c, json_int_t seq)
{
    uint32_t max = c->a->cfg.rpc_max_monitors;
    if (!c->monitor && (uint32_t)count_monitors(c->a) >= max) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "the agent already serves %u monitor stream%s, its limit (--rpc-max-monitors)",
                 max, max == 1 ? "" : "s");
        reply_error(c, seq, msg);
        return;
    }
    c->monitor = true;
    reply(c, seq, json_object(), false);
}

/* A frame of a `logs` stream; the last closes the connection once out. */
static int logs_send(void *ud, json_t *msg, bool last)
{
    sl__rpc_conn *c = ud;
    if (send_json_then(c, msg, false, last) == 0)
        return 0;
    conn_close(c);
    return -1;
}

/* "logs": a redirect, an error, or a stream on this connection, within
 * --rpc-max-monitors (log streams are long-lived too). */
static void cmd_logs(sl__rpc_conn *c, json_int_t seq, json_t *req)
{
    uint32_t max = c->a->cfg.rpc_max_monitors;
    char msg[512];
    if (c->logs || c->monitor) {
        reply_error(c, seq, "this connection already carries a stream");
        return;
    }
    if (json_is_true(json_object_get(req, "follow")) && (uint32_t)count_monitors(c->a) >= max) {
        snprintf(msg, sizeof msg,
                 "the agent already serves %u monitor and log stream%s, its limit "
                 "(--rpc-max-monitors)",
                 max, max == 1 ? "" : "s");
        reply_error(c, seq, msg);
        return;
    }
    sl__log_sink sink = {.send = logs_send, .queued = (uv_stream_t *)&c->tcp, .ud = c};
    sl__log_stream *ls = NULL;
    json_t *r = sl__rpc_logs(c->a, req, &sink, &ls, msg, sizeof msg);
    if (!r) {
        reply_error(c, seq, msg);
        return;
    }
    c->logs = ls;
    reply(c, seq, r, false);
}

static void dispatch(sl__rpc_conn *c, json_t *req)
{
    sl__agent *a = c->a;
    const char *cmd = json_string_value(json_object_get(req, "command"));
    json_int_t seq = json_integer_value(json_object_get(req, "seq"));
    a->ctr.rpc_requests++;
    sl__debug("rpc: %s", cmd ? cmd : "(none)");
    if (!cmd) {
        reply_error(c, seq, "the request has no command");
    } else if (!strcmp(cmd, "members")) {
        cmd_members(c, seq, req);
    } else if (!strcmp(cmd, "info")) {
        reply(c, seq, info_json(a), false);
    } else if (!strcmp(cmd, "join")) {
        cmd_join(c, seq, req);
    } else if (!strcmp(cmd, "leave")) {
        reply(c, seq, json_object(), true);
    } else if (!strcmp(cmd, "keys")) {
        cmd_keys(c, seq, req);
    } else if (!strcmp(cmd, "monitor")) {
        cmd_monitor(c, seq);
    } else if (!strcmp(cmd, "logs")) {
        cmd_logs(c, seq, req);
    } else {
        /* The runtime's commands: deploy, scale, rm, drain, services, ps, where. */
        char msg[512];
        bool handled;
        json_t *r = sl__rpc_runtime(a, cmd, req, msg, sizeof msg, &handled);
        if (!handled) {
            snprintf(msg, sizeof msg, "unknown command '%.64s'", cmd);
            reply_error(c, seq, msg);
        } else if (r) {
            reply(c, seq, r, false);
        } else {
            reply_error(c, seq, msg);
        }
    }
}

/* ---- the handshake and authentication ---- */

static const char *peer_of(sl__rpc_conn *c, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    sl_addr addr;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0 ||
        sl__addr_from_sockaddr((const struct sockaddr *)&ss, &addr) != 0)
        return "an unknown address";
    return sl_addr_format(&addr, buf, cap);
}

/* Logs the failures not logged yet, at most once per AUTH_LOG_EVERY_MS. */
static void auth_log_pending(sl__agent *a, uint64_t now)
{
    sl__rpc_auth *au = &a->rpc_auth;
    if (!au->unlogged || now - au->log_ms < AUTH_LOG_EVERY_MS)
        return;
    sl__warn("rpc: %llu more RPC authentication failure%s (%llu in all)",
             (unsigned long long)au->unlogged, au->unlogged == 1 ? "" : "s",
             (unsigned long long)a->ctr.rpc_auth_failures);
    au->unlogged = 0;
    au->log_ms = now;
}

/* Counts and logs (throttled) a connection that failed to authenticate. */
static void auth_failed(sl__rpc_conn *c, const char *why)
{
    sl__agent *a = c->a;
    uint64_t now = sl__agent_now(a), n = ++a->ctr.rpc_auth_failures;
    if (n <= AUTH_LOG_FIRST) {
        char peer[SL_ADDR_STRLEN];
        sl__warn("rpc: refused a client at %s: %s%s", peer_of(c, peer, sizeof peer), why,
                 n == AUTH_LOG_FIRST ? " (from now on, failures are logged at most once per 10 s)"
                                     : "");
        a->rpc_auth.log_ms = now;
        return;
    }
    a->rpc_auth.unlogged++;
    auth_log_pending(a, now);
}

/* Refuses an unauthenticated connection: counts it, answers one plain
 * refusal frame with the reason, reads nothing more, and closes once the
 * refusal is out. */
static void refuse(sl__rpc_conn *c, const char *reason)
{
    auth_failed(c, reason);
    c->refused = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uint8_t *p = malloc(SL__SEAL_REFUSAL_MAX);
    if (!p || send_frame(c, p, sl__seal_refusal(reason, p), false, true) != 0)
        conn_close(c);
}

/* The client's hello: answers ours and derives the connection's keys. */
static void on_hello(sl__rpc_conn *c)
{
    uint8_t cn[SL__SEAL_NONCE_LEN], sn[SL__SEAL_NONCE_LEN];
    uint8_t *hello = malloc(SL__SEAL_HELLO_LEN);
    if (sl__seal_hello_parse(c->in.data, c->in.want, cn) != 0) {
        free(hello);
        refuse(c, "not a Starling RPC v1 client: expected the SLRPC1 handshake");
        return;
    }
    if (!hello) {
        conn_close(c);
        return;
    }
    sl__seal_hello(hello, sn);
    sl__seal_init(&c->seal, c->a->rpc_auth.key, cn, sn, true);
    c->state = CONN_AUTH;
    c->in.max = SL__RPC_REQUEST_MAX + SL__SEAL_ABYTES;
    if (send_frame(c, hello, SL__SEAL_HELLO_LEN, false, false) != 0)
        conn_close(c);
}

/* Opens the sealed frame just read into a request. The first one that
 * opens authenticates the connection. Returns the request (a new
 * reference), or NULL after refusing or closing the connection. */
static json_t *open_request(sl__rpc_conn *c)
{
    size_t cap = c->in.want > SL__SEAL_ABYTES ? c->in.want - SL__SEAL_ABYTES : 1;
    uint8_t *pt = malloc(cap);
    long n = pt ? sl__seal_open(&c->seal, c->in.data, c->in.want, pt, cap) : SL__SEAL_ESIZE;
    json_t *req = NULL;
    if (n == SL__SEAL_EOPEN && c->state == CONN_AUTH) {
        refuse(c, "wrong or missing RPC token");
    } else if (n < 0) {
        /* After authentication: replayed, reordered, tampered, or spent. */
        if (n == SL__SEAL_EOPEN)
            auth_failed(c, "a sealed frame did not open after authentication");
        conn_close(c);
    } else {
        if (c->state == CONN_AUTH) {
            c->state = CONN_READY;
            c->a->rpc_auth.unauth--;
        }
        if (sl__mpjson_decode(pt, (size_t)n, &req) != 0 || !json_is_object(req)) {
            sl__debug("rpc: malformed request; closing the connection");
            json_decref(req);
            req = NULL;
            conn_close(c);
        }
    }
    free(pt);
    return req;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sl__rpc_conn *c = s->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->last_read_ms = sl__agent_now(c->a);
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t n = (size_t)nread;
    while (n > 0 && !c->closing && !c->refused) {
        int rc = sl__frame_feed(&c->in, &p, &n);
        if (rc < 0 && c->state != CONN_READY) {
            refuse(c, c->state == CONN_HELLO
                          ? "not a Starling RPC v1 client: expected the SLRPC1 handshake"
                          : "the first request is too large");
            return;
        }
        if (rc < 0) {
            sl__debug("rpc: oversized frame; closing the connection");
            conn_close(c);
            return;
        }
        if (rc == 0)
            return;
        if (c->state == CONN_HELLO) {
            on_hello(c);
            sl__frame_reset(&c->in);
            continue;
        }
        json_t *req = open_request(c);
        sl__frame_reset(&c->in);
        if (!req)
            return;
        dispatch(c, req);
        json_decref(req);
    }
}

/* Whether the client has bytes on their way to us that we have not read:
 * a client in the middle of its handshake, not a silent one. */
static bool has_unread(sl__rpc_conn *c)
{
    uv_os_fd_t fd;
    int n = 0;
    return uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* Makes room for a new unauthenticated connection: closes the one that has
 * waited longest, preferring a silent one (nothing unread from it) to one
 * whose hello or request is already waiting to be read (libuv accepts every
 * pending connection before it reads any). Connections younger than
 * UNAUTH_GRACE_MS are spared, so that clients that connect together do not
 * push each other out: if all are that young, the new one is closed (the
 * CLI tries again). */
static void evict_unauthenticated(sl__agent *a, sl__rpc_conn *incoming)
{
    uint64_t now = sl__agent_now(a);
    sl__rpc_conn *victim = NULL;
    bool victim_silent = false;
    for (sl__rpc_conn *c = a->rpcs; c; c = c->next) {
        if (c == incoming || c->closing || c->state == CONN_READY ||
            now - c->accepted_ms < UNAUTH_GRACE_MS)
            continue;
        bool silent = !has_unread(c);
        if (!victim || (silent && !victim_silent) ||
            (silent == victim_silent && c->accepted_ms <= victim->accepted_ms)) {
            victim = c;
            victim_silent = silent;
        }
    }
    sl__debug("rpc: %d connections wait for authentication; closing the %s one", a->rpc_auth.unauth,
              victim ? "oldest" : "new");
    conn_close(victim ? victim : incoming);
}

static void on_connection(uv_stream_t *server, int status)
{
    sl__agent *a = server->data;
    if (status != 0 || a->stopping)
        return;
    sl__rpc_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->a = a;
    c->accepted_ms = c->last_read_ms = sl__agent_now(a);
    c->state = CONN_HELLO;
    sl__frame_init(&c->in, SL__SEAL_HELLO_LEN);
    uv_tcp_init(&a->loop, &c->tcp);
    c->tcp.data = c;
    c->next = a->rpcs;
    if (a->rpcs)
        a->rpcs->prev = c;
    a->rpcs = c;
    a->nrpc++;
    a->rpc_auth.unauth++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || a->nrpc > SL__RPC_CONNS_MAX ||
        uv_read_start((uv_stream_t *)&c->tcp, sl__agent_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    if (a->rpc_auth.unauth > SL__RPC_UNAUTH_MAX)
        evict_unauthenticated(a, c);
}

/* Closes connections that sent nothing for --rpc-idle (cfg.rpc_idle_ms), so
 * that clients that went away without closing cannot hold every slot, and
 * connections not authenticated within --rpc-auth-timeout. Monitors and
 * connections waiting for a join's or a key operation's answer are busy, not
 * idle. */
static void on_sweep(uv_timer_t *t)
{
    sl__agent *a = t->data;
    uint64_t now = sl__agent_now(a), idle = a->cfg.rpc_idle_ms;
    uint64_t auth = a->cfg.rpc_auth_timeout_ms;
    for (sl__rpc_conn *c = a->rpcs; c; c = c->next) {
        if (c->closing) {
            continue;
        } else if (c->state != CONN_READY && now - c->accepted_ms >= auth) {
            sl__debug("rpc: closing a connection not authenticated within %llu ms",
                      (unsigned long long)auth);
            conn_close(c);
        } else if (!c->monitor && !c->logs && !c->join && !c->keys &&
                   now - c->last_read_ms >= idle) {
            sl__debug("rpc: closing a connection idle for %llu ms", (unsigned long long)idle);
            conn_close(c);
        }
    }
    auth_log_pending(a, now);
}

int sl__rpc_listen(sl__agent *a)
{
    uv_timer_init(&a->loop, &a->rpc_sweep);
    a->rpc_sweep.data = a;
    uint64_t least = a->cfg.rpc_idle_ms < a->cfg.rpc_auth_timeout_ms ? a->cfg.rpc_idle_ms
                                                                     : a->cfg.rpc_auth_timeout_ms;
    uint64_t every = least / 4 ? least / 4 : 1;
    uv_timer_start(&a->rpc_sweep, on_sweep, every, every);
    return uv_listen((uv_stream_t *)&a->rpc_tcp, 64, on_connection);
}

void sl__rpc_event(sl__agent *a, const sl_swim_event *ev)
{
    json_t *e = NULL;
    for (sl__rpc_conn *c = a->rpcs; c; c = c->next) {
        if (!c->monitor || c->closing)
            continue;
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > SL__RPC_MONITOR_BACKLOG) {
            sl__warn("dropping a monitor client that does not keep up");
            conn_close(c);
            continue;
        }
        if (!e) {
            char when[32];
            time_t now = time(NULL);
            struct tm tm;
            gmtime_r(&now, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            e = json_pack("{s:s,s:o,s:o,s:s,s:o,s:s}", "event", sl_swim_event_name(ev->type),
                          "name", safe_str(ev->name), "addr", addr_json(&ev->addr), "status",
                          sl_member_state_name(ev->state), "incarnation", inc_json(ev->inc), "time",
                          when);
            if (e && ev->from)
                json_object_set_new(e, "from", safe_str(ev->from));
            if (!e)
                return;
        }
        if (send_json(c, e, false) != 0)
            conn_close(c);
    }
    json_decref(e);
}

void sl__rpc_log_token(const sl__agent *a)
{
    const char *src = a->rpc_auth.source;
    if (strncmp(src, "file ", 5) != 0) {
        sl__info("RPC token from --rpc-token");
        return;
    }
    sl__info("%s the RPC token in %s (mode 0600); the CLI on this machine finds it with "
             "--data-dir %s or STARLING_DATA_DIR=%s",
             a->rpc_auth.created ? "created" : "using", src + 5, a->state_dir, a->state_dir);
}

void sl__rpc_close_all(sl__agent *a)
{
    for (sl__rpc_conn *c = a->rpcs; c; c = c->next)
        conn_close(c);
    /* The sweep timer exists once sl__rpc_listen() ran (it sets its loop). */
    if (a->rpc_sweep.loop && !uv_is_closing((uv_handle_t *)&a->rpc_sweep))
        uv_close((uv_handle_t *)&a->rpc_sweep, NULL);
    if (!uv_is_closing((uv_handle_t *)&a->rpc_tcp))
        uv_close((uv_handle_t *)&a->rpc_tcp, NULL);
}
