/* The agent: one libuv loop driving one sans-IO SWIM core.
 *
 * The core (gossip/, include/starling/swim.h) knows the protocol and nothing
 * else. It never reads a clock, never touches a socket, never draws global
 * randomness. This file is the other half: it owns every piece of I/O and
 * feeds the core with three kinds of input, each stamped with the loop's
 * monotonic clock (uv_now):
 *
 *   - Datagrams. The UDP socket's read callback hands every packet to
 *     sl_swim_recv(). Whatever the core wants to send in reply comes back
 *     synchronously through the send callback, which writes it with
 *     uv_udp_try_send() (or queues a copy when the socket would block).
 *
 *   - Time. The core answers "when do you next need me?" with
 *     sl_swim_next_deadline(). A single one-shot uv_timer is armed for that
 *     instant; when it fires we call sl_swim_tick(), which runs probes,
 *     gossip rounds, suspicion timeouts and reaping, and then we re-arm. Any
 *     other call into the core may move the deadline earlier (a packet that
 *     queues a broadcast, a merge that adds a member), so every such call is
 *     followed by sl__agent_rearm(). Between deadlines the process sleeps in
 *     epoll: an idle agent costs a wake-up per gossip interval, nothing more.
 *
 *   - Streams. Push-pull (the periodic full-state exchange that also heals
 *     partitions) and joins need a reliable channel, so the core does not
 *     perform them: it asks for one through the pushpull callback, and
 *     stream.c opens a TCP connection on the gossip port, sends
 *     sl_swim_encode_state(), reads the peer's state and gives it to
 *     sl_swim_merge_state(). The listening side does the mirror image. Joins
 *     are the same exchange with join=true, started by seeds.c.
 *
 * The core reports membership events (joined, suspect, failed, left, ...)
 * through the event callback: we log them at info, stream them to `starling
 * monitor` clients, and note that the peers file must be saved.
 *
 * Callbacks run inside the core's own calls, so they never call back into it
 * except for read-only queries; anything that would (encoding a state, for
 * instance) happens later, from a libuv callback.
 *
 * Lifetime: sl__agent_run() binds everything first (a bind error is one line
 * and exit 1), then runs the loop. SIGTERM or SIGINT (or `starling leave`)
 * calls sl_swim_leave(); the loop keeps running until the core has no
 * broadcast left to retransmit or a bounded time has passed, then every
 * handle is closed, the loop drains, and the core is freed. */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/datadir.h"
#include "agent/keys.h"
#include "agent/log.h"
#include "agent/net.h"
#include "rpc/rpc.h"
#include "rpc/rpc_token.h"
#include "runtime/runtime.h"
#include "agent/security.h"
#include "starling/error.h"
#include "starling/keyops.h"
#include "starling/meta.h"
#include "starling/reconcile.h"

uint64_t sl__agent_now(sl__agent *a)
{
    return uv_now(&a->loop);
}

void sl__agent_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    sl__agent *a = h->loop->data;
    buf->base = (char *)a->rbuf;
    buf->len = sizeof a->rbuf;
}

uint32_t sl__agent_stream_timeout_ms(const sl__agent *a)
{
    /* memberlist's TCPTimeout: 10 s on LAN and WAN profiles, 1 s on loopback;
     * we allow loopback a little more so that a loaded CI machine copes. */
    return strcmp(a->cfg.profile, "local") ? 10000 : 3000;
}

/* Generations are boot times in seconds (datadir.c): none can be more than
 * a day ahead of our clock, give or take a machine whose clock is off. */
static void set_gen_limit(sl__agent *a)
{
    uint64_t limit = (uint64_t)time(NULL) + 86400;
    if (limit < a->generation + 86400ull)
        limit = a->generation + 86400ull; /* our own restarts within a second */
    sl_swim_set_gen_limit(a->swim, limit >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)limit);
}

/* Logs traffic refused for its seal: the first few times, then at most a
 * line per 10 s with the count since the last one. */
static void log_refused(sl__agent *a)
{
    const sl_swim_stats *st = sl_swim_get_stats(a->swim);
    uint64_t n = st->drops[SL_DROP_UNSEALED] + st->drops[SL_DROP_KEY];
    uint64_t now = sl__agent_now(a);
    if (n == a->refused_logged || (a->refused_lines >= 5 && now - a->refused_log_ms < 10000))
        return;
    sl__warn("refused %llu packets or states: %s (%llu unsealed, %llu with an unknown key in "
             "all)",
             (unsigned long long)(n - a->refused_logged),
             sl_swim_sealed(a->swim) ? "not sealed with one of our keys"
                                     : "sealed, and we hold no key",
             (unsigned long long)st->drops[SL_DROP_UNSEALED],
             (unsigned long long)st->drops[SL_DROP_KEY]);
    a->refused_logged = n;
    a->refused_log_ms = now;
    a->refused_lines++;
}

static void on_tick(uv_timer_t *t)
{
    sl__agent *a = t->data;
    a->armed_deadline = 0;
    set_gen_limit(a);
    sl_swim_tick(a->swim, sl__agent_now(a));
    log_refused(a);
    sl__agent_rearm(a);
}

void sl__agent_rearm(sl__agent *a)
{
    if (a->stopping)
        return;
    uint64_t deadline = sl_swim_next_deadline(a->swim);
    if (deadline == a->armed_deadline && uv_is_active((uv_handle_t *)&a->tick))
        return;
    uint64_t now = sl__agent_now(a);
    uint64_t delay = deadline > now ? deadline - now : 0;
    /* A core with nothing scheduled still gets looked at once a second. */
    if (delay > 1000)
        delay = 1000;
    a->armed_deadline = deadline;
    uv_timer_start(&a->tick, on_tick, delay, 0);
}

/* ---- the core's callbacks ---- */

typedef struct udp_send_req {
    uv_udp_send_t req;
    uint8_t data[];
} udp_send_req;

static void on_udp_sent(uv_udp_send_t *req, int status)
{
    (void)status;
    free(req);
}

static void core_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    sl__agent *a = ud;
    struct sockaddr_storage ss;
    sl__addr_to_sockaddr(to, &ss);
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int rc = uv_udp_try_send(&a->udp, &b, 1, (const struct sockaddr *)&ss);
    if (rc >= 0)
        return;
    if (rc != UV_EAGAIN) {
        a->ctr.udp_send_errors++;
        return;
    }
    /* The socket buffer is full: queue a copy, within reason. UDP may drop
     * anyway, and the protocol is built for it. */
    if (uv_udp_get_send_queue_count(&a->udp) >= 256) {
        a->ctr.udp_send_dropped++;
        return;
    }
    udp_send_req *r = malloc(sizeof *r + len);
    if (!r) {
        a->ctr.udp_send_dropped++;
        return;
    }
    memcpy(r->data, buf, len);
    b = uv_buf_init((char *)r->data, (unsigned)len);
    if (uv_udp_send(&r->req, &a->udp, &b, 1, (const struct sockaddr *)&ss, on_udp_sent) != 0) {
        free(r);
        a->ctr.udp_send_errors++;
    }
}

static void log_event(const sl_swim_event *ev)
{
    char addr[SL_ADDR_STRLEN], other[SL_ADDR_STRLEN];
    sl_addr_format(&ev->addr, addr, sizeof addr);
    switch (ev->type) {
    case SL_EVENT_SUSPECT:
    case SL_EVENT_FAILED:
        sl__info("member %s %s (%s)%s%s", ev->name,
                 ev->type == SL_EVENT_FAILED ? "failed" : "is suspect", addr,
                 ev->from ? ", declared by " : "", ev->from ? ev->from : "");
        break;
    case SL_EVENT_CONFLICT:
        sl_addr_format(&ev->other_addr, other, sizeof other);
        sl__warn("member %s is claimed by two addresses: %s and %s", ev->name, addr, other);
        break;
    case SL_EVENT_UPDATED: sl__debug("member %s updated (%s)", ev->name, addr); break;
    default:
        sl__info("member %s %s (%s)", ev->name,
                 ev->type == SL_EVENT_ALIVE_AGAIN ? "is alive again" : sl_swim_event_name(ev->type),
                 addr);
        break;
    }
}

static void core_event(void *ud, const sl_swim_event *ev)
{
    sl__agent *a = ud;
    log_event(ev);
    sl__rpc_event(a, ev);
    if (a->runtime)
        sl__runtime_member_event(a->runtime, ev);
    if (ev->type != SL_EVENT_SUSPECT && ev->type != SL_EVENT_CONFLICT)
        sl__agent_peers_changed(a);
}

/* The runtime's catalog and reports ride the core's packets and states;
 * keyring operations and their answers go to keys.c before the runtime. */
static int core_user_msg(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    sl__agent *a = ud;
    int kind = sl_appmsg_kind(buf, len);
    if (kind == SL_APPMSG_KEYOP || kind == SL_APPMSG_KEYANSWER)
        return sl__keys_user_msg(a, buf, len);
    return a->runtime ? sl__runtime_user_msg(a->runtime, buf, len, now_ms) : 0;
}

static int core_user_state(void *ud, uint8_t **out, size_t *len)
{
    sl__agent *a = ud;
    return a->runtime ? sl__runtime_user_state(a->runtime, out, len) : SL_ESTATE;
}

static int core_user_merge(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    sl__agent *a = ud;
    return a->runtime ? sl__runtime_user_merge(a->runtime, buf, len, now_ms) : 0;
}

static void core_entropy(void *ud, uint8_t *buf, size_t len)
{
    (void)ud;
    randombytes_buf(buf, len);
}

static void core_pushpull(void *ud, const sl_addr *to, const char *name)
{
    sl__agent *a = ud;
    /* A few exchanges at a time: a state can be large, and the core asks
     * again at its next interval anyway. The seed turns (rejoin.h) use the
     * same cap. */
    if (a->leaving || a->streams.out >= SL_REJOIN_PP_MAX)
        return;
    char buf[SL_ADDR_STRLEN];
    sl__debug("push-pull with %s (%s)", name, sl_addr_format(to, buf, sizeof buf));
    sl__pp_start(a, NULL, to, false, NULL, NULL);
}

/* ---- UDP ---- */

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *from, unsigned flags)
{
    sl__agent *a = h->data;
    if (nread <= 0 || !from || a->stopping)
        return;
    if (flags & UV_UDP_PARTIAL)
        return; /* a datagram larger than 64 KiB is not ours */
    sl_addr src;
    if (sl__addr_from_sockaddr(from, &src) != 0)
        return;
    sl_swim_recv(a->swim, &src, (const uint8_t *)buf->base, (size_t)nread, sl__agent_now(a));
    sl__agent_rearm(a);
}

/* ---- peers file ---- */

static void save_peers(sl__agent *a)
{
    if (!a->cfg.data_dir[0] || !a->peers_dirty || !a->swim)
        return;
    size_t n = sl_swim_size(a->swim), k = 0;
    const char **names = calloc(n ? n : 1, sizeof *names);
    sl_addr *addrs = calloc(n ? n : 1, sizeof *addrs);
    if (!names || !addrs)
        goto out;
    for (size_t i = 0; i < n && k < SL__PEERS_MAX; i++) {
        sl_member_view v;
        if (sl_swim_member_at(a->swim, i, &v) != 0 || v.is_self || v.state == SL_MEMBER_LEFT)
            continue;
        names[k] = v.name;
        addrs[k++] = v.addr;
    }
    int rc = sl__datadir_save_peers(a->cfg.data_dir, names, addrs, k);
    if (rc != 0)
        sl__warn("cannot save peers in %s: %s", a->cfg.data_dir, sl_strerror(rc));
    else
        a->peers_dirty = false;
out:
    free(names);
    free(addrs);
}

static void on_save(uv_timer_t *t)
{
    save_peers(t->data);
}

void sl__agent_peers_changed(sl__agent *a)
{
    a->peers_dirty = true;
    if (a->cfg.data_dir[0] && !a->stopping && !uv_is_active((uv_handle_t *)&a->save))
        uv_timer_start(&a->save, on_save, 1000, 0);
}

/* ---- leaving and stopping ---- */

static void stop(sl__agent *a)
{
    if (a->stopping)
        return;
    save_peers(a);
    a->stopping = true;
    if (a->runtime) /* stops the replicas; the loop runs until they are gone */
        sl__runtime_close(a->runtime, SL__SUP_CLOSE_GRACEFUL, NULL, NULL);
    sl__stream_close_all(a);
    sl__rpc_close_all(a);
    sl__keys_close(a);
    uv_handle_t *own[] = {(uv_handle_t *)&a->udp,           (uv_handle_t *)&a->tick,
                          (uv_handle_t *)&a->seeding.timer, (uv_handle_t *)&a->save,
                          (uv_handle_t *)&a->leave,         (uv_handle_t *)&a->sigterm,
                          (uv_handle_t *)&a->sigint};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (!uv_is_closing(own[i]))
            uv_close(own[i], NULL);
}

static void on_leave_poll(uv_timer_t *t)
{
    sl__agent *a = t->data;
    uint64_t now = sl__agent_now(a);
    size_t pending = sl_swim_pending_broadcasts(a->swim);
    if (pending == 0 && a->leave_pp == 0) {
        sl__info("leave has spread; stopping");
        stop(a);
    } else if (now >= a->leave_deadline_ms) {
        sl__warn("stopping with %zu updates not fully spread", pending);
        stop(a);
    }
}

/* How long a leave may take to spread: the time the core needs to send the
 * update its full number of times (mult * ceil(log10(N+1)) gossip rounds),
 * doubled, and at least three seconds. */
static uint64_t leave_budget_ms(const sl__agent *a)
{
    const sl_swim_timing *t = sl_swim_get_timing(a->swim);
    size_t n = sl_swim_size(a->swim), rounds = 1;
    for (size_t x = 10; x <= n; x *= 10)
        rounds++;
    uint64_t ms = 2ull * t->retransmit_mult * rounds * t->gossip_interval_ms;
    return ms < 3000 ? 3000 : ms > 15000 ? 15000 : ms;
}

static void on_leave_pp(void *ud, int status)
{
    sl__agent *a = ud;
    a->leave_pp--;
    if (status != 0)
        sl__debug("could not hand our leave to a peer over TCP: %s", uv_strerror(status));
}

/* Gossip may spend the leave's few retransmissions on members that cannot
 * hear them (the dead, within gossip_to_dead). So we also hand our final state,
 * which says we left, to a few live members over TCP: a push-pull each. */
static void push_leave(sl__agent *a)
{
    size_t n = sl_swim_size(a->swim);
    if (n < 2)
        return;
    uint32_t start = randombytes_uniform((uint32_t)n);
    for (size_t i = 0; i < n && a->leave_pp < 3; i++) {
        sl_member_view v;
        if (sl_swim_member_at(a->swim, (start + i) % n, &v) != 0 || v.is_self ||
            v.state != SL_MEMBER_ALIVE)
            continue;
        if (sl__pp_start(a, NULL, &v.addr, false, on_leave_pp, a) == 0)
            a->leave_pp++;
    }
}

void sl__agent_leave(sl__agent *a, const char *why)
{
    if (a->stopping)
        return;
    if (a->leaving) {
        sl__warn("%s again: stopping now", why);
        stop(a);
        return;
    }
    a->leaving = true;
    uint64_t budget = leave_budget_ms(a);
    sl__info("%s: leaving the cluster (waiting up to %llu ms for the news to spread)", why,
             (unsigned long long)budget);
    uint64_t now = sl__agent_now(a);
    a->leave_deadline_ms = now + budget;
    uv_timer_stop(&a->seeding.timer);
    sl_swim_leave(a->swim, now);
    sl__agent_rearm(a);
    push_leave(a);
    /* Alone, there is nobody to tell. */
    if (sl_swim_live_peers(a->swim) == 0) {
        stop(a);
        return;
    }
    uv_timer_start(&a->leave, on_leave_poll, 50, 50);
}

static void on_signal(uv_signal_t *s, int signum)
{
    sl__agent_leave(s->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- start ---- */

static int pick_advertise(sl__agent *a)
{
    sl__agent_config *c = &a->cfg;
    char buf[SL_ADDR_STRLEN];
    if (c->advertise.family)
        return 0;
    if (!sl_addr_is_unspecified(&c->bind)) {
        c->advertise = c->bind;
        return 0;
    }
    if (sl__addr_pick_local(c->bind.family, &c->advertise) != 0) {
        fprintf(stderr,
                "starling agent: binding %s but found no non-loopback address to advertise; "
                "pass --advertise HOST:PORT\n",
                sl_addr_format(&c->bind, buf, sizeof buf));
        return -1;
    }
    c->advertise.port = c->bind.port;
    return 0;
}

/* The data dir, or a private directory of our own without one. */
static int open_state_dir(sl__agent *a)
{
    if (a->cfg.data_dir[0]) {
        snprintf(a->state_dir, sizeof a->state_dir, "%s", a->cfg.data_dir);
        return 0;
    }
    int rc = sl__datadir_make_private(a->cfg.name, a->state_dir, sizeof a->state_dir);
    if (rc != 0) {
        fprintf(stderr, "starling agent: cannot create a private directory in %s: %s\n",
                getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", sl_strerror(rc));
        return -1;
    }
    a->state_dir_private = true;
    return 0;
}

/* The keyring (the data dir's file, then --encrypt as the primary key) and
 * the trusted operator keys (--operator-key, then the data dir's file). */
static int load_keys(sl__agent *a)
{
    char err[512];
    const char *dir = a->cfg.data_dir[0] ? a->cfg.data_dir : NULL;
    sl_keyring_init(&a->keyring);
    if (dir && sl__keyring_file_load(dir, &a->keyring, err, sizeof err) != 0) {
        fprintf(stderr, "starling agent: %s\n", err);
        return -1;
    }
    if (a->cfg.have_encrypt) {
        bool known = sl_keyring_find(&a->keyring, a->cfg.encrypt) >= 0;
        if (sl_keyring_install(&a->keyring, a->cfg.encrypt) < 0) {
            fprintf(stderr, "starling agent: the keyring is full (%d keys): remove one first\n",
                    SL_KEYRING_MAX);
            return -1;
        }
        sl_keyring_use(&a->keyring, a->cfg.encrypt);
        int rc = dir ? sl__keyring_file_save(dir, &a->keyring) : 0;
        if (rc != 0) {
            fprintf(stderr, "starling agent: cannot write %s/%s: %s\n", dir, SL__KEYRING_FILE,
                    sl_strerror(rc));
            return -1;
        }
        if (!known && dir && a->keyring.n > 1)
            sl__info("--encrypt: the key is now the primary of the %u keys in %s/%s", a->keyring.n,
                     dir, SL__KEYRING_FILE);
    }
    memcpy(a->operator_keys, a->cfg.operator_keys, sizeof a->operator_keys);
    a->noperator_keys = a->cfg.noperator_keys;
    if (dir && sl__operator_keys_load(dir, a->operator_keys, &a->noperator_keys,
                                      SL_CATALOG_TRUST_MAX, err, sizeof err) != 0) {
        fprintf(stderr, "starling agent: %s\n", err);
        return -1;
    }
    return 0;
}

static int pick_generation(sl__agent *a)
{
    if (!a->cfg.data_dir[0]) {
        /* Without a data dir the wall clock stands in for a persisted counter:
         * a restart a second or more later starts with a larger generation. */
        a->generation = (uint32_t)time(NULL);
        return 0;
    }
    long holder = 0;
    int rc = sl__datadir_open(a->cfg.data_dir);
    if (rc == 0 && (rc = sl__datadir_lock(a->cfg.data_dir, &holder)) >= 0) {
        a->lock_fd = rc;
        rc = sl__datadir_next_generation(a->cfg.data_dir, &a->generation);
    }
    if (rc == -EBUSY) {
        fprintf(stderr, "starling agent: data dir %s is in use by another agent (pid %ld)\n",
                a->cfg.data_dir, holder);
        return -1;
    }
    if (rc == -EOVERFLOW) {
        fprintf(stderr,
                "starling agent: the boot generation in %s/generation is exhausted (2^32-1); "
                "this member name can no longer win over its past: use a new --name or a new "
                "data dir\n",
                a->cfg.data_dir);
        return -1;
    }
    if (rc != 0) {
        fprintf(stderr, "starling agent: cannot use data dir %s: %s\n", a->cfg.data_dir,
                sl_strerror(rc));
        return -1;
    }
    a->nknown = 0;
    a->known = calloc(SL__PEERS_MAX, sizeof *a->known);
    if (a->known)
        a->nknown = sl__datadir_load_peers(a->cfg.data_dir, a->known, SL__PEERS_MAX);
    /* Keep only what was read. */
    if (a->nknown == 0) {
        free(a->known);
        a->known = NULL;
    } else {
        sl_addr *fit = realloc(a->known, a->nknown * sizeof *fit);
        if (fit)
            a->known = fit;
    }
    return 0;
}

static int bind_error(const char *what, const sl_addr *addr, int rc)
{
    char buf[SL_ADDR_STRLEN], msg[128];
    fprintf(stderr, "starling agent: cannot bind %s %s: %s\n", what,
            sl_addr_format(addr, buf, sizeof buf), sl__lc_first(uv_strerror(rc), msg, sizeof msg));
    return -1;
}

/* Initialises every handle, then binds the sockets. On failure the handles
 * are left for teardown() to close. */
static int open_handles(sl__agent *a)
{
    uv_loop_t *l = &a->loop;
    struct sockaddr_storage ss;
    uv_udp_init(l, &a->udp);
    uv_tcp_init(l, &a->gossip_tcp);
    uv_tcp_init(l, &a->rpc_tcp);
    uv_timer_init(l, &a->tick);
    uv_timer_init(l, &a->seeding.timer);
    uv_timer_init(l, &a->save);
    uv_timer_init(l, &a->leave);
    uv_signal_init(l, &a->sigterm);
    uv_signal_init(l, &a->sigint);
    uv_handle_t *all[] = {
        (uv_handle_t *)&a->udp,   (uv_handle_t *)&a->gossip_tcp,    (uv_handle_t *)&a->rpc_tcp,
        (uv_handle_t *)&a->tick,  (uv_handle_t *)&a->seeding.timer, (uv_handle_t *)&a->save,
        (uv_handle_t *)&a->leave, (uv_handle_t *)&a->sigterm,       (uv_handle_t *)&a->sigint};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        all[i]->data = a;

    sl__addr_to_sockaddr(&a->cfg.bind, &ss);
    int rc = uv_udp_bind(&a->udp, (const struct sockaddr *)&ss, 0);
    if (rc != 0)
        return bind_error("gossip UDP", &a->cfg.bind, rc);
    rc = uv_tcp_bind(&a->gossip_tcp, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = sl__stream_listen(a);
    if (rc != 0)
        return bind_error("gossip TCP", &a->cfg.bind, rc);
    sl__addr_to_sockaddr(&a->cfg.rpc, &ss);
    rc = uv_tcp_bind(&a->rpc_tcp, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = sl__rpc_listen(a);
    if (rc != 0)
        return bind_error("RPC", &a->cfg.rpc, rc);
    return 0;
}

/* Our metadata: the zone and tags of the flags, and SL__RPC_TAG, where the
 * CLI reaches our RPC (our advertised IP when the RPC listens on every
 * address), so that `starling logs` can follow a replica to its agent. */
static int encode_meta(const sl__agent *a, uint8_t *buf, size_t cap)
{
    sl_meta m = a->cfg.meta;
    sl_addr rpc = a->cfg.rpc;
    if (sl_addr_is_unspecified(&rpc) && a->cfg.advertise.family) {
        uint16_t port = rpc.port;
        rpc = a->cfg.advertise;
        rpc.port = port;
    }
    char text[SL_ADDR_STRLEN];
    sl_meta_set_tag(&m, SL__RPC_TAG, sl_addr_format(&rpc, text, sizeof text));
    return sl_meta_encode(&m, buf, cap);
}

static int new_core(sl__agent *a)
{
    uint8_t meta[SL_SWIM_META_MAX];
    int mlen = encode_meta(a, meta, sizeof meta);
    if (mlen < 0) {
        fprintf(stderr, "starling agent: zone and tags do not fit %d bytes of metadata\n",
                SL_SWIM_META_MAX);
        return -1;
    }
    uint64_t seed;
    randombytes_buf(&seed, sizeof seed);
    sl_swim_config sc = {
        .name = a->cfg.name,
        .addr = a->cfg.advertise,
        .cluster = a->cfg.cluster,
        .generation = a->generation,
        .seed = seed,
        .timing = a->cfg.timing,
        .meta = meta,
        .meta_len = (size_t)mlen,
        .cb = {.send = core_send,
               .event = core_event,
               .pushpull = core_pushpull,
               .user_msg = core_user_msg,
               .user_state = core_user_state,
               .user_merge = core_user_merge,
               .entropy = core_entropy,
               .ud = a},
        .keyring = &a->keyring,
        .max_members = a->cfg.max_members,
        .max_meta = a->cfg.max_meta,
        .max_state = a->cfg.max_state_bytes,
    };
    int rc = sl_swim_new(&sc, sl__agent_now(a), &a->swim);
    if (rc != 0) {
        fprintf(stderr, "starling agent: cannot start the gossip core: %s\n", sl_strerror(rc));
        return -1;
    }
    set_gen_limit(a);
    return 0;
}

static void teardown(sl__agent *a)
{
    stop(a);
    uv_handle_t *tcp[] = {(uv_handle_t *)&a->gossip_tcp, (uv_handle_t *)&a->rpc_tcp};
    for (size_t i = 0; i < 2; i++)
        if (!uv_is_closing(tcp[i]))
            uv_close(tcp[i], NULL);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&a->loop) != 0)
        sl__warn("the loop still had handles open at exit");
    sl__runtime_free(a->runtime);
    sl__keys_free(a);
    sl_swim_free(a->swim);
    sodium_memzero(&a->rpc_auth, sizeof a->rpc_auth);
    if (a->state_dir_private)
        sl__datadir_remove_private(a->state_dir);
    sl_keyring_wipe(&a->keyring);
    if (a->lock_fd >= 0)
        close(a->lock_fd);
    free(a->known);
    free(a);
}

/* Starts the runtime: replicas bind the advertised IP, spawn through this
 * very binary (the `_exec` shim), and the catalog lives in the data dir. */
static int new_runtime(sl__agent *a)
{
    char shim[4096], host[SL_ADDR_STRLEN];
    ssize_t n = readlink("/proc/self/exe", shim, sizeof shim - 1);
    if (n <= 0) {
        fprintf(stderr, "starling agent: cannot find its own executable: %s\n", strerror(errno));
        return -1;
    }
    shim[n] = 0;
    sl_addr ip = a->cfg.advertise;
    ip.port = 0;
    sl_addr_format(&ip, host, sizeof host);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = 0;
    if (host[0] == '[') { /* "[::1]" -> "::1" */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    sl__runtime_config rc = {.node = a->cfg.name,
                             .host = host,
                             .data_dir = a->cfg.data_dir[0] ? a->cfg.data_dir : NULL,
                             .state_dir = a->state_dir,
                             .shim = shim,
                             .generation = a->generation,
                             .debounce_ms = SL_APP_DEBOUNCE_MS,
                             .handoff_ms = SL_RC_HANDOFF_MS,
                             .grace_ms = 5000,
                             .log_max = (uint64_t)a->cfg.log_max_mb << 20,
                             .cluster = a->cfg.cluster,
                             .operator_keys =
                                 (const uint8_t(*)[SL_OPERATOR_PUB_BYTES])a->operator_keys,
                             .noperator_keys = (size_t)a->noperator_keys,
                             .skew_ms = a->cfg.clock_skew_ms,
                             .horizon_ms = a->cfg.tombstone_ttl_ms,
                             .max_services = a->cfg.max_services,
                             .max_catalog_bytes = a->cfg.max_state_bytes,
                             .sync_grace_ms = 2 * a->cfg.timing.pushpull_interval_ms + 60000,
                             .alone = a->cfg.nseeds == 0 && a->nknown == 0,
                             .no_cgroups = a->cfg.no_cgroups};
    if (sl__runtime_new(&a->loop, &rc, &a->runtime) != 0) {
        fprintf(stderr, "starling agent: cannot start the runtime (see the log above)\n");
        return -1;
    }
    return 0;
}

/* Says, loudly when it is weak, how this peer is protected. */
static void log_security(sl__agent *a)
{
    if (a->keyring.n)
        sl__info("gossip is sealed (XChaCha20-Poly1305), %u key%s in the keyring", a->keyring.n,
                 a->keyring.n == 1 ? "" : "s");
    else
        sl__warn("gossip is NOT sealed: anyone who can reach %s can join this cluster and read "
                 "its state; start every peer with --encrypt KEY (see `starling keygen`)",
                 a->cfg.bind.port ? "the gossip port" : "us");
    if (a->noperator_keys)
        sl__info("catalog writes must be signed by one of %d trusted operator key%s",
                 a->noperator_keys, a->noperator_keys == 1 ? "" : "s");
    else
        sl__warn("NO operator key is configured: this peer runs unsigned catalog writes, so any "
                 "holder of the gossip key (or anyone, without one) can run commands here; pass "
                 "--operator-key PUB (see `starling operator-keygen`)");
}

static void log_start(sl__agent *a)
{
    char adv[SL_ADDR_STRLEN], bind[SL_ADDR_STRLEN], rpc[SL_ADDR_STRLEN];
    sl__info("starling agent %s starting: gossip on %s (advertised %s), RPC on %s, profile %s, "
             "generation %u%s%s",
             a->cfg.name, sl_addr_format(&a->cfg.bind, bind, sizeof bind),
             sl_addr_format(&a->cfg.advertise, adv, sizeof adv),
             sl_addr_format(&a->cfg.rpc, rpc, sizeof rpc), a->cfg.profile, a->generation,
             a->cfg.cluster[0] ? ", cluster " : "", a->cfg.cluster);
}

int sl__agent_run(const sl__agent_config *cfg)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "starling agent: cannot initialise libsodium\n");
        return 1;
    }
    sl__agent *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "starling agent: out of memory\n");
        return 1;
    }
    a->cfg = *cfg;
    a->lock_fd = -1;
    /* A peer that vanishes mid-write must cost an error code, not the process. */
    signal(SIGPIPE, SIG_IGN);
    sl__log_set_level(cfg->log_level);
    if (sl__rpc_token_check_exposure(&a->cfg) != 0 || pick_advertise(a) != 0 ||
        pick_generation(a) != 0 || open_state_dir(a) != 0 || load_keys(a) != 0 ||
        sl__rpc_token_agent(&a->cfg, a->state_dir, a->rpc_auth.key, a->rpc_auth.source,
                            sizeof a->rpc_auth.source, &a->rpc_auth.created) != 0) {
        if (a->state_dir_private)
            sl__datadir_remove_private(a->state_dir);
        if (a->lock_fd >= 0)
            close(a->lock_fd);
        sl_keyring_wipe(&a->keyring);
        sodium_memzero(&a->rpc_auth, sizeof a->rpc_auth);
        free(a->known);
        free(a);
        return 1;
    }
    uv_loop_init(&a->loop);
    a->loop.data = a;
    int rc = open_handles(a) == 0 && new_runtime(a) == 0 && new_core(a) == 0 ? 0 : 1;
    if (rc == 0 && sl__keys_new(a) != 0) {
        fprintf(stderr, "starling agent: out of memory\n");
        rc = 1;
    }
    if (rc == 0) {
        sl__runtime_attach(a->runtime, a->swim);
        a->started_ms = sl__agent_now(a);
        uv_udp_recv_start(&a->udp, sl__agent_alloc, on_udp_recv);
        uv_signal_start(&a->sigterm, on_signal, SIGTERM);
        uv_signal_start(&a->sigint, on_signal, SIGINT);
        log_start(a);
        log_security(a);
        sl__rpc_log_token(a);
        sl__seeds_start(a);
        sl__agent_rearm(a);
        uv_run(&a->loop, UV_RUN_DEFAULT);
        sl__info("stopped");
    }
    teardown(a);
    return rc;
}
