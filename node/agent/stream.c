/* Push-pull and joins: full-state exchanges over TCP on the gossip port.
 *
 * An exchange is one frame each way (frame.h: a 4-byte big-endian length,
 * then the bytes of sl_swim_encode_state()). The side that connects sends
 * first; the side that listens reads that frame, replies with its own state,
 * and merges what it read. The connecting side merges the reply and closes.
 * A join is the same exchange with the join flag set in the state we send.
 *
 * Each exchange is one sl__pp holding a TCP handle, a timeout timer and, for
 * host names, a pending address resolution. It is freed when the last of
 * those has been closed or has called back, never earlier: libuv may still
 * call us about a handle after we stopped caring about it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "rpc/frame.h"
#include "agent/log.h"
#include "agent/net.h"
#include "starling/error.h"

/* Inbound exchanges are bounded (config: --max-inbound-streams, of which
 * --max-streams-per-ip from one address), and so are the bytes they buffer:
 * at most STREAM_MEMORY_STATES full states at once, so that 32 slots of 64
 * MiB frames cannot ask for 2 GiB. More are refused (the peer retries at its
 * next interval). */
#define STREAM_MEMORY_STATES 4

struct sl__pp {
    sl__agent *a;
    sl__pp *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    sl__frame in;
    sl__pp_done done;
    void *ud;
    int refs;        /* open handles and pending requests */
    int fail_status; /* a failure found before the loop could report it */
    bool outbound, join, periodic, tcp_open, gai_pending, finished;
    uint16_t port;  /* for a resolved host name */
    sl_addr from;   /* inbound: the peer's address (its IP counts against the per-IP limit) */
    size_t charged; /* bytes of the inbound budget this exchange holds */
    char peer[SL__HOSTPORT_MAX];
};

typedef struct frame_write {
    uv_write_t req;
    uint8_t hdr[4];
    uint8_t *data; /* owned */
    sl__pp *pp;
} frame_write;

static void on_timeout_cb(uv_timer_t *t);

/* Drops one reference; the last one frees the exchange. */
static void unref(sl__pp *pp)
{
    if (--pp->refs > 0)
        return;
    if (pp->prev)
        pp->prev->next = pp->next;
    else
        pp->a->streams.list = pp->next;
    if (pp->next)
        pp->next->prev = pp->prev;
    sl__frame_deinit(&pp->in);
    free(pp);
}

static void on_closed(uv_handle_t *h)
{
    unref(h->data);
}

/* Ends the exchange once: reports, then closes everything it holds. */
static void finish(sl__pp *pp, int status)
{
    if (pp->finished)
        return;
    pp->finished = true;
    sl__agent *a = pp->a;
    if (pp->periodic) {
        a->streams.out--;
        if (status == 0)
            a->ctr.pushpull_ok++;
        else
            a->ctr.pushpull_failed++;
    } else if (!pp->outbound) {
        a->streams.in--;
        a->streams.bytes -= pp->charged;
        pp->charged = 0;
    }
    if (status != 0)
        sl__debug("%s exchange with %s failed: %s", pp->outbound ? "outbound" : "inbound", pp->peer,
                  uv_strerror(status));
    if (pp->done)
        pp->done(pp->ud, status);
    if (pp->gai_pending)
        uv_cancel((uv_req_t *)&pp->gai);
    uv_close((uv_handle_t *)&pp->timer, on_closed);
    if (pp->tcp_open)
        uv_close((uv_handle_t *)&pp->tcp, on_closed);
}

/* Fails the exchange from the loop rather than from the caller's stack, so
 * that a callback never runs inside sl__pp_start(). */
static void fail_later(sl__pp *pp, int status)
{
    pp->fail_status = status;
    uv_timer_start(&pp->timer, on_timeout_cb, 0, 0);
}

static void on_timeout_cb(uv_timer_t *t)
{
    sl__pp *pp = t->data;
    finish(pp, pp->fail_status ? pp->fail_status : UV_ETIMEDOUT);
}

static void on_written(uv_write_t *req, int status)
{
    frame_write *w = (frame_write *)req;
    sl__pp *pp = w->pp;
    free(w->data);
    free(w);
    if (status != 0)
        finish(pp, status);
    else if (!pp->outbound)
        finish(pp, 0); /* the listening side is done once its reply is out */
}

/* Sends our state; takes ownership of data. */
static int write_state(sl__pp *pp, uint8_t *data, size_t len)
{
    frame_write *w = malloc(sizeof *w);
    if (!w) {
        free(data);
        return UV_ENOMEM;
    }
    w->data = data;
    w->pp = pp;
    sl__frame_header(w->hdr, len);
    uv_buf_t bufs[2] = {uv_buf_init((char *)w->hdr, 4), uv_buf_init((char *)data, (unsigned)len)};
    int rc = uv_write(&w->req, (uv_stream_t *)&pp->tcp, bufs, 2, on_written);
    if (rc != 0) {
        free(data);
        free(w);
    }
    return rc;
}

static int send_our_state(sl__pp *pp, bool join)
{
    uint8_t *state;
    size_t len;
    int rc = sl_swim_encode_state(pp->a->swim, join, &state, &len);
    if (rc != 0)
        return UV_ENOMEM;
    if (len > SL_SWIM_STATE_MAX) {
        free(state);
        return UV_E2BIG;
    }
    return write_state(pp, state, len);
}

/* A whole frame arrived: merge it; the listening side then replies with its
 * own state, and only then: a peer whose state does not open with our keys
 * (or, without keys, is not a valid state of our cluster) gets nothing. */
static void on_frame(sl__pp *pp)
{
    sl__agent *a = pp->a;
    uv_read_stop((uv_stream_t *)&pp->tcp);
    bool is_join = false;
    int mrc = sl_swim_merge_state(a->swim, pp->in.data, pp->in.want, sl__agent_now(a), &is_join);
    sl__agent_rearm(a);
    if (mrc != 0) {
        if (mrc == SL_EAUTH)
            a->ctr.streams_unauthentic++;
        sl__debug("state from %s refused: %s", pp->peer, sl_strerror(mrc));
        finish(pp, UV_EPROTO);
        return;
    }
    if (pp->outbound) {
        finish(pp, 0);
        return;
    }
    if (is_join)
        sl__debug("join request from %s merged", pp->peer);
    int rc = send_our_state(pp, false);
    if (rc != 0) {
        finish(pp, rc);
        return;
    }
    a->ctr.streams_in++;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sl__pp *pp = s->data;
    if (nread < 0) {
        finish(pp, nread == UV_EOF ? UV_ECONNRESET : (int)nread);
        return;
    }
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t n = (size_t)nread;
    if (!pp->outbound) {
        sl__agent *a = pp->a;
        size_t budget = (size_t)STREAM_MEMORY_STATES * a->cfg.max_state_bytes;
        if (a->streams.bytes + n > budget) {
            a->ctr.streams_refused++;
            finish(pp, UV_ENOBUFS);
            return;
        }
        a->streams.bytes += n;
        pp->charged += n;
    }
    while (n > 0 && !pp->finished) {
        int rc = sl__frame_feed(&pp->in, &p, &n);
        if (rc < 0) {
            finish(pp, rc == SL_ETOOBIG ? UV_E2BIG : UV_ENOMEM);
            return;
        }
        if (rc == 1) {
            on_frame(pp);
            return; /* one frame per exchange: anything after it is ignored */
        }
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    sl__pp *pp = req->data;
    if (pp->finished)
        return;
    if (status != 0) {
        finish(pp, status);
        return;
    }
    int rc = send_our_state(pp, pp->join);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&pp->tcp, sl__agent_alloc, on_read);
    if (rc != 0)
        finish(pp, rc);
}

static void connect_to(sl__pp *pp, const struct sockaddr *sa)
{
    int rc = uv_tcp_init(&pp->a->loop, &pp->tcp);
    if (rc == 0) {
        pp->tcp.data = pp;
        pp->tcp_open = true;
        pp->refs++;
        uv_tcp_nodelay(&pp->tcp, 1);
        /* From our advertised address, not whatever the route picks: the
         * peer counts streams per source address, and on a host with several
         * (loopback tests, multi-homed machines) ours is the one it knows. */
        sl_addr local = pp->a->cfg.advertise, dest;
        struct sockaddr_storage ls;
        local.port = 0;
        if (sl__addr_from_sockaddr(sa, &dest) == 0 && dest.family == local.family &&
            sl__addr_is_loopback(&dest) == sl__addr_is_loopback(&local)) {
            sl__addr_to_sockaddr(&local, &ls);
            uv_tcp_bind(&pp->tcp, (const struct sockaddr *)&ls, 0); /* best effort */
        }
        pp->creq.data = pp;
        rc = uv_tcp_connect(&pp->creq, &pp->tcp, sa, on_connect);
    }
    if (rc != 0)
        fail_later(pp, rc);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    sl__pp *pp = req->data;
    pp->gai_pending = false;
    if (!pp->finished) {
        if (status != 0 || !res) {
            finish(pp, status ? status : UV_EAI_NONAME);
        } else {
            sl_addr addr;
            struct sockaddr_storage ss;
            sl__addr_from_sockaddr(res->ai_addr, &addr);
            addr.port = pp->port;
            sl__addr_to_sockaddr(&addr, &ss);
            connect_to(pp, (const struct sockaddr *)&ss);
        }
    }
    uv_freeaddrinfo(res);
    unref(pp); /* the resolution held a reference, like a handle */
}

/* Starts resolving "host:port" (a name) and connects when done. */
static int resolve(sl__pp *pp, const char *hostport)
{
    char host[SL__HOSTPORT_MAX];
    const char *colon = strrchr(hostport, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == hostport || *end || port <= 0 || port > 65535)
        return UV_EINVAL;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    pp->port = (uint16_t)port;
    pp->gai.data = pp;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(&pp->a->loop, &pp->gai, on_resolved, host, NULL, &hints);
    if (rc == 0) {
        pp->gai_pending = true;
        pp->refs++;
    }
    return rc;
}

static sl__pp *pp_new(sl__agent *a)
{
    sl__pp *pp = calloc(1, sizeof *pp);
    if (!pp)
        return NULL;
    pp->a = a;
    sl__frame_init(&pp->in, (size_t)a->cfg.max_state_bytes + SL_SEAL_OVERHEAD);
    uv_timer_init(&a->loop, &pp->timer);
    pp->timer.data = pp;
    pp->refs = 1;
    uv_timer_start(&pp->timer, on_timeout_cb, sl__agent_stream_timeout_ms(a), 0);
    pp->next = a->streams.list;
    if (a->streams.list)
        a->streams.list->prev = pp;
    a->streams.list = pp;
    return pp;
}

int sl__pp_start(sl__agent *a, const char *hostport, const sl_addr *addr, bool join,
                 sl__pp_done done, void *ud)
{
    sl_addr parsed;
    if (a->stopping)
        return UV_ECANCELED;
    if (!addr && sl_addr_parse(hostport, 0, &parsed) == 0)
        addr = &parsed;
    sl__pp *pp = pp_new(a);
    if (!pp)
        return UV_ENOMEM;
    pp->outbound = true;
    pp->join = join;
    pp->done = done;
    pp->ud = ud;
    pp->periodic = !join && !done;
    if (pp->periodic)
        a->streams.out++;
    if (addr) {
        struct sockaddr_storage ss;
        sl_addr_format(addr, pp->peer, sizeof pp->peer);
        sl__addr_to_sockaddr(addr, &ss);
        connect_to(pp, (const struct sockaddr *)&ss);
    } else {
        snprintf(pp->peer, sizeof pp->peer, "%s", hostport);
        int rc = resolve(pp, hostport);
        if (rc != 0)
            fail_later(pp, rc);
    }
    return 0;
}

static void close_free(uv_handle_t *h)
{
    free(h);
}

/* Inbound exchanges in flight from the IP address of `from`. */
static uint32_t streams_from(const sl__agent *a, const sl_addr *from)
{
    uint32_t n = 0;
    for (const sl__pp *pp = a->streams.list; pp; pp = pp->next)
        n += !pp->outbound && !pp->finished && pp->from.family == from->family &&
             !memcmp(pp->from.ip, from->ip, sizeof from->ip);
    return n;
}

/* Accepts a connection and closes it at once: the peer hears a prompt
 * refusal rather than waiting out a timeout. */
static void refuse(sl__agent *a, uv_stream_t *server)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (t && uv_tcp_init(&a->loop, t) == 0 && uv_accept(server, (uv_stream_t *)t) == 0)
        a->ctr.streams_refused++;
    if (t)
        uv_close((uv_handle_t *)t, close_free);
}

static void on_connection(uv_stream_t *server, int status)
{
    sl__agent *a = server->data;
    if (status != 0 || a->stopping)
        return;
    sl__pp *pp = (uint32_t)a->streams.in < a->cfg.max_inbound_streams ? pp_new(a) : NULL;
    if (!pp) {
        refuse(a, server);
        return;
    }
    a->streams.in++;
    uv_tcp_init(&a->loop, &pp->tcp);
    pp->tcp.data = pp;
    pp->tcp_open = true;
    pp->refs++;
    int rc = uv_accept(server, (uv_stream_t *)&pp->tcp);
    if (rc == 0) {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        if (uv_tcp_getpeername(&pp->tcp, (struct sockaddr *)&ss, &len) == 0 &&
            sl__addr_from_sockaddr((struct sockaddr *)&ss, &pp->from) == 0)
            sl_addr_format(&pp->from, pp->peer, sizeof pp->peer);
        if (streams_from(a, &pp->from) > a->cfg.max_streams_per_ip) {
            a->ctr.streams_refused++;
            sl__debug("refusing a stream from %s: %u in flight from that address", pp->peer,
                      a->cfg.max_streams_per_ip);
            rc = UV_EBUSY;
        }
    }
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&pp->tcp, sl__agent_alloc, on_read);
    if (rc != 0)
        finish(pp, rc);
}

int sl__stream_listen(sl__agent *a)
{
    return uv_listen((uv_stream_t *)&a->gossip_tcp, 128, on_connection);
}

void sl__stream_close_all(sl__agent *a)
{
    for (sl__pp *pp = a->streams.list; pp; pp = pp->next)
        finish(pp, UV_ECANCELED);
    if (!uv_is_closing((uv_handle_t *)&a->gossip_tcp))
        uv_close((uv_handle_t *)&a->gossip_tcp, NULL);
}
