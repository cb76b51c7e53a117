/* The CLI's RPC client: see rpc_client.h. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpc/mpjson.h"
#include "agent/net.h"
#include "rpc/rpc.h"
#include "rpc/rpc_client.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(sl__rpc_client *c, char *err, size_t cap, const char *what, int e)
{
    char msg[128];
    sl__lc_first(strerror(e), msg, sizeof msg);
    snprintf(err, cap, "%s agent at %s: %s", what, c->addr, msg);
    errno = e;
    return -1;
}

/* Waits for fd to be ready for `events` until deadline (ms, <0: forever).
 * Returns 0, or an errno value. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int left = -1;
        if (deadline >= 0) {
            int64_t d = deadline - now_ms();
            if (d <= 0)
                return ETIMEDOUT;
            left = d > INT32_MAX ? INT32_MAX : (int)d;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left);
        if (n > 0)
            return 0;
        if (n < 0)
            return errno;
    }
}

static int split_hostport(const char *hp, char *host, size_t cap, const char **port)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp)
        return -1;
    const char *h = hp;
    size_t hl = (size_t)(colon - hp);
    if (h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= cap || !colon[1])
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = colon + 1;
    return 0;
}

static int try_connect(sl__rpc_client *c, const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return errno;
    int e = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        e = errno;
        if (e == EINPROGRESS) {
            socklen_t len = sizeof e;
            e = wait_fd(fd, POLLOUT, deadline);
            if (e == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
                e = errno;
        }
    }
    if (e != 0) {
        close(fd);
        return e;
    }
    c->fd = fd;
    return 0;
}

static int send_all(sl__rpc_client *c, const uint8_t *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return errno;
            int e = wait_fd(c->fd, POLLOUT, deadline);
            if (e)
                return e;
            continue;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends p[0..n) as one frame. Returns 0 or an errno value. */
static int send_frame(sl__rpc_client *c, const uint8_t *p, size_t n, int64_t deadline)
{
    uint8_t hdr[4];
    sl__frame_header(hdr, n);
    int e = send_all(c, hdr, 4, deadline);
    return e ? e : send_all(c, p, n, deadline);
}

/* Reads the next whole frame into c->in (deadline in ms, < 0: none).
 * Returns 0 (call sl__frame_reset after use), 1 when the agent closed the
 * connection, or -1 with err filled. */
static int read_frame(sl__rpc_client *c, int64_t deadline, char *err, size_t errcap)
{
    for (;;) {
        const uint8_t *p = c->buf + c->off;
        size_t n = c->have - c->off;
        int rc = n ? sl__frame_feed(&c->in, &p, &n) : 0;
        c->off = c->have - n;
        if (rc < 0)
            return fail(c, err, errcap, "bad reply from", EMSGSIZE);
        if (rc == 1)
            return 0;
        int e = wait_fd(c->fd, POLLIN, deadline);
        if (e == ETIMEDOUT)
            return fail(c, err, errcap, "no reply from", ETIMEDOUT);
        if (e)
            return fail(c, err, errcap, "lost", e);
        ssize_t r = recv(c->fd, c->buf, sizeof c->buf, 0);
        if (r == 0)
            return 1;
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return fail(c, err, errcap, "lost", errno);
        }
        c->have = (size_t)r;
        c->off = 0;
    }
}

/* Sends our hello, reads the agent's, and derives the keys. Returns 0, or
 * -1 with err filled, or 1 (err filled too) when the agent dropped the
 * connection before answering, which is worth another try: it does so when
 * too many connections wait for authentication at once. */
static int handshake(sl__rpc_client *c, const uint8_t key[SL__SEAL_KEYBYTES], int64_t deadline,
                     char *err, size_t errcap)
{
    uint8_t hello[SL__SEAL_HELLO_LEN], cn[SL__SEAL_NONCE_LEN], sn[SL__SEAL_NONCE_LEN];
    char reason[SL__SEAL_REASON_MAX + 1];
    sl__seal_hello(hello, cn);
    int e = send_frame(c, hello, sizeof hello, deadline);
    if (e) {
        fail(c, err, errcap, "lost", e);
        return e == ECONNRESET || e == EPIPE ? 1 : -1;
    }
    int rc = read_frame(c, deadline, err, errcap);
    if (rc == 1) {
        snprintf(err, errcap,
                 "the agent at %s closed the connection during the RPC handshake (too many "
                 "connections, or an agent without RPC protocol v1)",
                 c->addr);
        return 1;
    }
    if (rc < 0)
        return errno == ECONNRESET ? 1 : -1;
    /* The hello first: its nonce may well begin with '!'. */
    rc = sl__seal_hello_parse(c->in.data, c->in.want, sn);
    if (rc != 0 && sl__seal_is_refusal(c->in.data, c->in.want, reason, sizeof reason)) {
        sl__frame_reset(&c->in);
        snprintf(err, errcap, "the agent at %s refused the RPC handshake: %s", c->addr, reason);
        return -1;
    }
    sl__frame_reset(&c->in);
    if (rc != 0) {
        snprintf(err, errcap, "the agent at %s does not speak RPC protocol v1", c->addr);
        return -1;
    }
    sl__seal_init(&c->seal, key, cn, sn, false);
    return 0;
}

int sl__rpc_connect(sl__rpc_client *c, const char *hostport, const uint8_t key[SL__SEAL_KEYBYTES],
                    int timeout_ms, char *err, size_t errcap)
{
    char host[300];
    const char *port;
    memset(c, 0, sizeof *c);
    c->fd = -1;
    snprintf(c->addr, sizeof c->addr, "%s", hostport);
    sl__frame_init(&c->in, SL__RPC_REPLY_MAX + SL__SEAL_ABYTES);
    if (sodium_init() < 0) {
        snprintf(err, errcap, "cannot initialise libsodium");
        return -1;
    }
    if (split_hostport(hostport, host, sizeof host, &port) != 0) {
        snprintf(err, errcap, "bad agent address '%s': want HOST:PORT", hostport);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        snprintf(err, errcap, "cannot reach agent at %s: %s", hostport, gai_strerror(g));
        return -1;
    }
    int64_t deadline = now_ms() + timeout_ms;
    int rc = -1;
    /* A few tries, with a short backoff, when the agent drops us during the
     * handshake (it keeps at most SL__RPC_UNAUTH_MAX connections waiting). */
    for (int attempt = 0; attempt < 4; attempt++) {
        int e = ENOENT;
        for (struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next)
            e = try_connect(c, ai, deadline);
        if (c->fd < 0) {
            rc = fail(c, err, errcap, "cannot reach", e);
            break;
        }
        rc = handshake(c, key, deadline, err, errcap);
        int64_t pause_ms = 50ll << attempt;
        if (rc != 1 || attempt == 3 || now_ms() + pause_ms >= deadline)
            break;
        close(c->fd);
        c->fd = -1;
        c->have = c->off = 0;
        sl__frame_reset(&c->in);
        struct timespec pause = {0, (long)pause_ms * 1000000}; /* a backoff, not a wait */
        nanosleep(&pause, NULL);
    }
    freeaddrinfo(res);
    return rc == 0 ? 0 : -1;
}

int sl__rpc_read(sl__rpc_client *c, json_t **msg, int timeout_ms, char *err, size_t errcap)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    char reason[SL__SEAL_REASON_MAX + 1];
    int rc = read_frame(c, deadline, err, errcap);
    if (rc != 0)
        return rc;
    size_t cap = c->in.want > SL__SEAL_ABYTES ? c->in.want - SL__SEAL_ABYTES : 1;
    uint8_t *pt = malloc(cap);
    long n = pt ? sl__seal_open(&c->seal, c->in.data, c->in.want, pt, cap) : SL__SEAL_ESIZE;
    /* A refusal answers the first request only, and never opens. */
    if (n < 0 && c->seal.n_recv == 0 &&
        sl__seal_is_refusal(c->in.data, c->in.want, reason, sizeof reason)) {
        free(pt);
        sl__frame_reset(&c->in);
        c->refused = true;
        snprintf(err, errcap, "the agent at %s refused the RPC token: %s", c->addr, reason);
        errno = EACCES;
        return -1;
    }
    sl__frame_reset(&c->in);
    if (n < 0) {
        free(pt);
        if (n == SL__SEAL_EOPEN)
            snprintf(err, errcap,
                     "the reply from the agent at %s failed authentication (not sealed with "
                     "our RPC token)",
                     c->addr);
        else
            fail(c, err, errcap, n == SL__SEAL_EWRAP ? "too many frames from" : "bad reply from",
                 n == SL__SEAL_EWRAP ? EOVERFLOW : ENOMEM);
        errno = EPROTO;
        return -1;
    }
    int d = sl__mpjson_decode(pt, (size_t)n, msg);
    free(pt);
    if (d != 0 || !json_is_object(*msg)) {
        if (d == 0)
            json_decref(*msg);
        return fail(c, err, errcap, "bad reply from", EPROTO);
    }
    return 0;
}

int sl__rpc_call(sl__rpc_client *c, json_t *req, json_t **reply, int timeout_ms, char *err,
                 size_t errcap)
{
    int64_t deadline = now_ms() + timeout_ms;
    uint8_t *data, *ct = NULL;
    size_t len;
    json_object_set_new(req, "seq", json_integer(++c->seq));
    if (sl__mpjson_encode(req, &data, &len) != 0) {
        snprintf(err, errcap, "cannot encode the request");
        return -1;
    }
    long n = -1;
    if (len > SL__RPC_REQUEST_MAX)
        snprintf(err, errcap, "the request is larger than the agent accepts (%u bytes)",
                 SL__RPC_REQUEST_MAX);
    else if (!(ct = malloc(len + SL__SEAL_ABYTES)))
        snprintf(err, errcap, "out of memory");
    else if ((n = sl__seal_seal(&c->seal, data, len, ct, len + SL__SEAL_ABYTES)) < 0)
        snprintf(err, errcap, "too many requests on one connection");
    free(data);
    if (n < 0) {
        free(ct);
        return -1;
    }
    int e = send_frame(c, ct, (size_t)n, deadline);
    free(ct);
    if (e)
        return fail(c, err, errcap, "lost", e);
    int rc = sl__rpc_read(c, reply, timeout_ms, err, errcap);
    if (rc == 1) {
        snprintf(err, errcap, "agent at %s closed the connection without replying", c->addr);
        return -1;
    }
    return rc;
}

void sl__rpc_close(sl__rpc_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    sl__frame_deinit(&c->in);
    sl__seal_wipe(&c->seal);
}
