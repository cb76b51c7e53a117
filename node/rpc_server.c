/* The agent's RPC port: see rpc.h for the protocol.
 *
 * Each connection reads frames, decodes each into a jansson value with the
 * strict bounded decoder (mpjson.h), answers from the core's read-only
 * queries, and writes one reply frame. A `join` is answered when its join
 * round ends, and `keys` when its operation has its answers (keys.c); a
 * `leave` once its reply is out; a `monitor` connection then receives every
 * membership event until it closes. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "frame.h"
#include "keys.h"
#include "log.h"
#include "mpjson.h"
#include "rpc.h"
#include "rpc_runtime.h"
#include "starling/error.h"
#include "starling/meta.h"

struct sl__rpc_conn {
    sl__agent *a;
    sl__rpc_conn *prev, *next;
    uv_tcp_t tcp;
    sl__frame in;
    sl__join *join; /* a join round whose reply is owed */
    json_int_t join_seq;
    sl__keys_wait *keys; /* a key operation whose reply is owed (keys.c) */
    json_int_t keys_seq;
    uint64_t last_read_ms; /* idle connections are closed (see sweep) */
    bool monitor;
    bool closing;
};

typedef struct reply_write {
    uv_write_t req;
    uint8_t hdr[4];
    uint8_t *data;
    bool then_leave;
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
    free(c);
}

static void conn_close(sl__rpc_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->join)
        sl__join_detach(c->join);
    c->join = NULL;
    if (c->keys)
        sl__keys_detach(c->keys);
    c->keys = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_reply_written(uv_write_t *req, int status)
{
    reply_write *w = (reply_write *)req;
    sl__agent *a = req->handle->loop->data;
    bool leave = w->then_leave && status == 0;
    free(w->data);
    free(w);
    if (leave)
        sl__agent_leave(a, "leave requested over RPC");
}

/* Encodes v and queues it as one frame. Returns 0 or -1. */
static int send_json(sl__rpc_conn *c, json_t *v, bool then_leave)
{
    if (c->closing)
        return -1;
    reply_write *w = calloc(1, sizeof *w);
    size_t len = 0;
    if (!w || sl__mpjson_encode(v, &w->data, &len) != 0 || len > SL__RPC_REPLY_MAX) {
        if (w)
            free(w->data);
        free(w);
        return -1;
    }
    w->then_leave = then_leave;
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
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "pushpull_ok", (json_int_t)c->pushpull_ok,
        "pushpull_failed", (json_int_t)c->pushpull_failed, "joins_ok", (json_int_t)c->joins_ok,
        "joins_failed", (json_int_t)c->joins_failed, "streams_in", (json_int_t)c->streams_in,
        "streams_refused", (json_int_t)c->streams_refused, "udp_send_errors",
        (json_int_t)c->udp_send_errors, "udp_send_dropped", (json_int_t)c->udp_send_dropped,
        "rpc_requests", (json_int_t)c->rpc_requests, "rpc_errors", (json_int_t)c->rpc_errors);
    json_t *drops = json_object(), *events = json_object();
    for (int i = 0; i < SL_DROP__COUNT; i++)
        json_object_set_new(drops, sl_swim_drop_name((sl_swim_drop)i),
                            json_integer((json_int_t)s->drops[i]));
    for (int i = 0; i < SL_EVENT__COUNT; i++)
        json_object_set_new(events, sl_swim_event_name((sl_swim_event_type)i),
                            json_integer((json_int_t)s->events[i]));
    json_object_set_new(o, "drops", drops);
    json_object_set_new(o, "events", events);
    json_object_set_new(o, "agent", agent);
    return o;
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
    json_int_t monitors = 0;
    for (sl__rpc_conn *c = a->rpcs; c; c = c->next)
        monitors += c->monitor && !c->closing;
    json_t *rpc = json_pack("{s:I,s:I}", "connections", (json_int_t)a->nrpc, "monitors", monitors);
    json_t *info = json_pack(
        "{s:s,s:o,s:o,s:o,s:s,s:s,s:I,s:o,s:I,s:b,s:o,s:o,s:{s:I,s:I,s:I}}", "name", a->cfg.name,
        "addr", addr_json(&a->cfg.advertise), "bind", addr_json(&a->cfg.bind), "rpc",
        addr_json(&a->cfg.rpc), "cluster", a->cfg.cluster, "profile", a->cfg.profile, "generation",
        (json_int_t)a->generation, "incarnation", inc_json(sl_swim_incarnation(a->swim)),
        "uptime_ms", (json_int_t)(sl__agent_now(a) - a->started_ms), "leaving", a->leaving,
        "members", counts, "counters", counters_json(a), "timing", "probe_interval_ms",
        (json_int_t)t->probe_interval_ms, "gossip_interval_ms", (json_int_t)t->gossip_interval_ms,
        "pushpull_interval_ms", (json_int_t)t->pushpull_interval_ms);
    if (info)
        json_object_set_new(info, "rpc_clients", rpc);
    else
        json_decref(rpc);
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
        c->monitor = true;
        reply(c, seq, json_object(), false);
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
    while (n > 0 && !c->closing) {
        int rc = sl__frame_feed(&c->in, &p, &n);
        if (rc < 0) {
            sl__debug("rpc: oversized frame; closing the connection");
            conn_close(c);
            return;
        }
        if (rc == 0)
            return;
        json_t *req = NULL;
        if (sl__mpjson_decode(c->in.data, c->in.want, &req) != 0 || !json_is_object(req)) {
            sl__debug("rpc: malformed request; closing the connection");
            json_decref(req);
            conn_close(c);
            return;
        }
        sl__frame_reset(&c->in);
        dispatch(c, req);
        json_decref(req);
    }
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
    c->last_read_ms = sl__agent_now(a);
    sl__frame_init(&c->in, SL__RPC_REQUEST_MAX);
    uv_tcp_init(&a->loop, &c->tcp);
    c->tcp.data = c;
    c->next = a->rpcs;
    if (a->rpcs)
        a->rpcs->prev = c;
    a->rpcs = c;
    a->nrpc++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || a->nrpc > SL__RPC_CONNS_MAX ||
        uv_read_start((uv_stream_t *)&c->tcp, sl__agent_alloc, on_read) != 0)
        conn_close(c);
}

/* Closes connections that sent nothing for --rpc-idle (cfg.rpc_idle_ms), so
 * that clients that went away without closing cannot hold every slot.
 * Monitors and connections waiting for a join's or a key operation's answer
 * are busy, not idle. */
static void on_sweep(uv_timer_t *t)
{
    sl__agent *a = t->data;
    uint64_t now = sl__agent_now(a), idle = a->cfg.rpc_idle_ms;
    for (sl__rpc_conn *c = a->rpcs; c; c = c->next)
        if (!c->monitor && !c->join && !c->keys && now - c->last_read_ms >= idle) {
            sl__debug("rpc: closing a connection idle for %llu ms", (unsigned long long)idle);
            conn_close(c);
        }
}

int sl__rpc_listen(sl__agent *a)
{
    uv_timer_init(&a->loop, &a->rpc_sweep);
    a->rpc_sweep.data = a;
    uint64_t every = a->cfg.rpc_idle_ms / 4 ? a->cfg.rpc_idle_ms / 4 : 1;
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
