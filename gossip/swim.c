/* SWIM: failure detection and membership by gossip, without I/O.
 *
 * Why SWIM. Heart-beating every member to every other costs O(N^2) messages
 * and grows with the cluster; SWIM (Das, Gupta, Motivala, 2002) separates
 * the two jobs. Failure detection: each protocol period, every member pings
 * one other member, chosen in a shuffled round-robin order so that each is
 * probed within N periods at worst and e/(e-1) periods on average. A missed
 * ack is not trusted alone: k other members are asked to ping the target
 * (ping-req), so one bad link does not condemn it. Still no ack: the target
 * becomes *suspect*, not dead. Dissemination: every change (alive, suspect,
 * dead, left, new metadata) rides piggyback on the packets already being
 * sent, and spreads like an epidemic in O(log N) rounds.
 *
 * Why suspicion and incarnations. A suspect that is alive hears the rumour
 * about itself and refutes it by raising its incarnation: newer incarnations
 * win over older ones, and for one incarnation, dead beats suspect beats
 * alive. The incarnation is {generation, counter}: a member that restarts
 * comes back with a higher generation and wins over its own old death at
 * once. A suspicion that nobody refutes turns into death after a timeout
 * (suspicion.c), which shrinks as more members independently confirm it.
 *
 * Why push-pull. Gossip is probabilistic and bounded; a member that was cut
 * off for a while misses news for good. Periodically, and when joining, two
 * members exchange their whole state over a stream (swim_state.c). The same
 * mechanism heals partitions: we keep syncing with members we believe dead
 * until they are reaped.
 *
 * Why sans-IO. This file never reads a clock or touches a socket: time comes
 * in as now_ms, datagrams in through sl_swim_recv() and out through the send
 * callback, and sl_swim_next_deadline() says when to call sl_swim_tick().
 * The agent drives it with libuv, the simulator with a virtual clock, and
 * both run exactly this code.
 *
 * The layers: swim.c (this file) owns the core's life (new, free, leave,
 * metadata, application broadcasts) and its packets in and out (sealing,
 * decoding, dispatch, piggybacking); swim_timers.c runs the timers (probe
 * rounds, gossip, push-pull scheduling, suspicion expiry, reaping) and
 * answers the next deadline; probe.c is the probe state machine (ping,
 * ping-req, ack, relays); swim_update.c is the state machine that applies
 * alive/suspect/dead/left news; swim_state.c encodes and merges push-pull
 * states; swim_query.c answers the read-only queries; members.c is the
 * member table; broadcast.c the piggyback queue; suspicion.c the suspicion
 * timer and the suspect list; wire.c the codec. */
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "swim_internal.h"

int sl_incarnation_cmp(sl_incarnation a, sl_incarnation b)
{
    if (a.gen != b.gen)
        return a.gen < b.gen ? -1 : 1;
    if (a.ctr != b.ctr)
        return a.ctr < b.ctr ? -1 : 1;
    return 0;
}

const char *sl_member_state_name(sl_member_state st)
{
    static const char *names[] = {"alive", "suspect", "dead", "left"};
    return (unsigned)st < 4 ? names[st] : "unknown";
}

const char *sl_swim_event_name(sl_swim_event_type t)
{
    static const char *names[] = {"joined", "updated", "suspect", "alive-again",
                                  "failed", "left",    "reaped",  "conflict"};
    return (unsigned)t < SL_EVENT__COUNT ? names[t] : "unknown";
}

const char *sl_swim_drop_name(sl_swim_drop d)
{
    static const char *names[] = {
        "malformed",   "version",   "cluster", "unknown_type", "conflict", "stale", "not_for_us",
        "unknown_ack", "too_large", "user",    "unsealed",     "key",      "full",  "future"};
    return (unsigned)d < SL_DROP__COUNT ? names[d] : "unknown";
}

int sl_swim_profile(const char *name, sl_swim_timing *t)
{
    /* memberlist's DefaultLANConfig, DefaultLocalConfig and DefaultWANConfig.
     * Reaping follows Serf rather than memberlist: tombstones are kept long
     * enough for partitions to heal by push-pull with the dead. */
    static const struct {
        const char *name;
        sl_swim_timing t;
    } profiles[] = {
        {"lan", {1000, 500, 3, 200, 3, 4, 4, 6, 30000, 30000, 15 * 60000, 1400, false}},
        {"local", {1000, 200, 1, 100, 3, 2, 3, 6, 15000, 15000, 5 * 60000, 1400, false}},
        {"wan", {5000, 3000, 3, 500, 4, 4, 6, 6, 60000, 60000, 60 * 60000, 1400, false}},
    };
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (name && !strcmp(name, profiles[i].name)) {
            *t = profiles[i].t;
            return 0;
        }
    return SL_EINVAL;
}

void sl__drop(sl_swim *s, sl_swim_drop why)
{
    s->stats.drops[why]++;
}

void sl__emit(sl_swim *s, sl_swim_event_type type, const sl__member *m, const char *from)
{
    s->stats.events[type]++;
    if (!s->cb.event)
        return;
    sl_swim_event ev = {.type = type,
                        .name = sl__member_name(m),
                        .addr = sl__member_addr(s, m),
                        .inc = m->inc,
                        .state = (sl_member_state)m->state,
                        .from = from};
    s->cb.event(s->cb.ud, &ev);
}

void sl__send_packet(sl_swim *s, const sl_addr *to, const sl_msg *primary, const sl_msg *extra)
{
    size_t cap = s->budget, len = s->hdr_len;
    const sl_msg *msgs[2] = {primary, extra};
    for (int i = 0; i < 2; i++) {
        if (!msgs[i])
            continue;
        int n = sl_wire_put_msg(s->pkt + len, cap - len, msgs[i]);
        if (n < 0) {
            sl__drop(s, SL_DROP_TOO_LARGE);
            return;
        }
        len += (size_t)n;
        s->stats.msgs_out++;
    }
    len = sl__bcast_fill(s, s->pkt, len, cap);
    if (len == s->hdr_len)
        return;
    const uint8_t *out = s->pkt;
    if (sl_swim_sealed(s)) {
        uint8_t nonce[SL_SEAL_NONCE];
        s->cb.entropy(s->cb.ud, nonce, sizeof nonce);
        int n = sl_seal(s->keyring, SL_SEAL_PACKET, s->cluster, nonce, s->pkt, len, s->spkt,
                        s->t.max_packet);
        if (n < 0) {
            sl__drop(s, SL_DROP_TOO_LARGE);
            return;
        }
        out = s->spkt;
        len = (size_t)n;
    }
    s->stats.packets_out++;
    s->stats.bytes_out += len;
    s->cb.send(s->cb.ud, to, out, len);
}

bool sl_swim_sealed(const sl_swim *s)
{
    return s->keyring && s->keyring->n > 0;
}

void sl_swim_set_gen_limit(sl_swim *s, uint32_t max_gen)
{
    s->gen_limit = max_gen < UINT32_MAX ? max_gen : UINT32_MAX - 1;
}

void sl__broadcast_member(sl_swim *s, sl__member *m, const char *from)
{
    uint8_t buf[SL__MEMBER_MSG_MAX];
    sl_msg msg = {.name = sl__member_name(m), .name_len = m->name_len, .inc = m->inc};
    uint16_t meta_len;
    switch (m->state) {
    case SL_MEMBER_ALIVE:
        msg.type = SL_MSG_ALIVE;
        msg.addr = sl__member_addr(s, m);
        msg.meta = sl__member_meta(s, m, &meta_len);
        msg.meta_len = meta_len;
        break;
    case SL_MEMBER_SUSPECT:
    case SL_MEMBER_DEAD:
        msg.type = m->state == SL_MEMBER_SUSPECT ? SL_MSG_SUSPECT : SL_MSG_DEAD;
        msg.from = from ? from : sl__member_name(&s->m[0]);
        msg.from_len = (uint32_t)strlen(msg.from);
        break;
    default: msg.type = SL_MSG_LEFT; break;
    }
    int n = sl_wire_put_msg(buf, sizeof buf, &msg);
    if (n < 0 || (size_t)n > s->budget - s->hdr_len) {
        s->stats.broadcasts_refused++;
        return;
    }
    sl__bcast_push(s, sl__member_pos(s, m), buf, (size_t)n);
}

/* Whether the encoded message m fits one packet together with any ping
 * (both names of SL_SWIM_NAME_MAX bytes). A message that does not encode
 * is let through: sl__broadcast_member refuses it. */
static bool fits_with_ping(const sl_swim *s, const sl_msg *m)
{
    uint8_t buf[SL__MEMBER_MSG_MAX];
    int n = sl_wire_put_msg(buf, sizeof buf, m);
    return n + s->hdr_len + 2 * SL_SWIM_NAME_MAX + SL__PING_FIXED_MAX <= (int)s->budget;
}

static bool timing_ok(const sl_swim_timing *t)
{
    return t->probe_interval_ms > 0 && t->probe_timeout_ms > 0 &&
           t->probe_timeout_ms < t->probe_interval_ms && t->gossip_interval_ms > 0 &&
           t->retransmit_mult > 0 && t->suspicion_mult > 0 && t->suspicion_max_mult >= 1 &&
           t->max_packet >= SL_SWIM_PACKET_MIN && t->max_packet <= 65507;
}

int sl_swim_new(const sl_swim_config *cfg, uint64_t now_ms, sl_swim **out)
{
    size_t nl = cfg->name ? strlen(cfg->name) : 0;
    const char *cluster = cfg->cluster ? cfg->cluster : "";
    if (nl == 0 || nl > SL_SWIM_NAME_MAX || strlen(cluster) > SL_SWIM_CLUSTER_MAX ||
        !timing_ok(&cfg->timing) || cfg->meta_len > SL_SWIM_META_MAX || !cfg->cb.send ||
        (cfg->keyring && !cfg->cb.entropy) || cfg->max_members > SL__MEMBERS_MAX ||
        cfg->max_state > SL_SWIM_STATE_MAX || cfg->max_meta > SL_SWIM_META_MAX ||
        (cfg->max_meta && cfg->meta_len > cfg->max_meta))
        return SL_EINVAL;
    sl_swim *s = calloc(1, sizeof *s);
    if (!s)
        return SL_ENOMEM;
    s->t = cfg->timing;
    s->cb = cfg->cb;
    strcpy(s->cluster, cluster);
    sl_rng_seed(&s->rng, cfg->seed);
    s->index = calloc(16, sizeof *s->index);
    s->index_mask = 15;
    s->keyring = cfg->keyring;
    s->max_members = cfg->max_members ? cfg->max_members : SL_SWIM_MEMBERS_DEFAULT;
    if (s->max_members > SL__MEMBERS_MAX)
        s->max_members = SL__MEMBERS_MAX;
    s->max_state = cfg->max_state ? cfg->max_state : SL_SWIM_STATE_MAX;
    s->max_meta = cfg->max_meta ? cfg->max_meta : SL_SWIM_META_MAX;
    s->gen_limit = UINT32_MAX - 1;
    /* Every packet leaves room for a seal, keyed or not, so that the limits
     * on what fits one packet do not depend on the keyring of the moment. */
    s->budget = s->t.max_packet - SL_SEAL_OVERHEAD;
    s->pkt = malloc(3 * (size_t)s->t.max_packet);
    s->spkt = s->pkt ? s->pkt + s->t.max_packet : NULL;
    s->rpkt = s->pkt ? s->spkt + s->t.max_packet : NULL;
    sl__member *self = s->index && s->pkt ? sl__member_add(s, cfg->name, nl) : NULL;
    if (!self || sl__member_set_meta(s, self, cfg->meta, cfg->meta_len) < 0 ||
        sl__member_set_addr(s, self, &cfg->addr) != 0) {
        sl_swim_free(s);
        return SL_ENOMEM;
    }
    self->inc.gen = cfg->generation;
    self->state = SL_MEMBER_ALIVE;
    self->since_ms = now_ms;
    s->nlive = 1;
    s->hdr_len = (uint8_t)sl_wire_put_header(s->pkt, s->t.max_packet, s->cluster);
    /* The first probe, gossip round and push-pull come at a random point of
     * their first interval, as memberlist staggers its timers: members started
     * together (a cluster booting, or a simulation) would otherwise probe in
     * lockstep and all exchange full states at once. */
    s->next_probe_ms = now_ms + 1 + sl_rng_below(&s->rng, s->t.probe_interval_ms);
    s->next_gossip_ms = now_ms + 1 + sl_rng_below(&s->rng, s->t.gossip_interval_ms);
    s->next_pushpull_ms = s->t.pushpull_interval_ms
                              ? now_ms + 1 + sl_rng_below(&s->rng, s->t.pushpull_interval_ms)
                              : UINT64_MAX;
    /* An alive message about us must always fit a packet with a ping. */
    sl_msg a = {.type = SL_MSG_ALIVE,
                .name = cfg->name,
                .name_len = (uint32_t)nl,
                .addr = cfg->addr,
                .meta = cfg->meta,
                .meta_len = (uint32_t)cfg->meta_len};
    if (!fits_with_ping(s, &a)) {
        sl_swim_free(s);
        return SL_ETOOBIG;
    }
    /* Announce ourselves, as memberlist does: whoever we meet first passes
     * our arrival on. */
    sl__broadcast_member(s, self, NULL);
    *out = s;
    return 0;
}

void sl_swim_free(sl_swim *s)
{
    if (!s)
        return;
    sl__bcast_clear(s);
    sl__members_free(s);
    free(s->forgotten);
    free(s->pkt);
    free(s);
}

static void dispatch(sl_swim *s, const sl_addr *from, const sl_msg *m, uint64_t now_ms)
{
    s->stats.msgs_in++;
    switch (m->type) {
    case SL_MSG_PING: sl__on_ping(s, from, m, now_ms); break;
    case SL_MSG_PING_REQ: sl__on_ping_req(s, from, m, now_ms); break;
    case SL_MSG_ACK: sl__on_ack(s, m); break;
    case SL_MSG_NACK: sl__on_nack(s, m); break;
    case SL_MSG_ALIVE: sl__on_alive(s, m, now_ms, false, false); break;
    case SL_MSG_SUSPECT: sl__on_suspect(s, m, now_ms); break;
    case SL_MSG_DEAD:
    case SL_MSG_LEFT: sl__on_dead(s, m, now_ms); break;
    case SL_MSG_USER:
        if (!s->cb.user_msg || s->cb.user_msg(s->cb.ud, m->meta, m->meta_len, now_ms) < 0)
            sl__drop(s, SL_DROP_USER);
        break;
    default: sl__drop(s, SL_DROP_UNKNOWN_TYPE); break;
    }
}

#define RECV_BATCH 32

static bool about_member(const sl_msg *m)
{
    return m->type == SL_MSG_ALIVE || m->type == SL_MSG_SUSPECT || m->type == SL_MSG_DEAD ||
           m->type == SL_MSG_LEFT;
}

void sl_swim_recv(sl_swim *s, const sl_addr *from, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    const char *cluster;
    uint32_t cl;
    sl_wire_iter it;
    s->stats.packets_in++;
    s->stats.bytes_in += len;
    if (sl_swim_sealed(s) || sl_is_sealed(buf, len)) {
        if (!sl_swim_sealed(s) || !sl_is_sealed(buf, len)) {
            sl__drop(s, sl_swim_sealed(s) ? SL_DROP_UNSEALED : SL_DROP_KEY);
            return;
        }
        int n = sl_open(s->keyring, SL_SEAL_PACKET, s->cluster, buf, len, s->rpkt, s->t.max_packet);
        if (n < 0) {
            sl__drop(s, n == SL_EMALFORMED ? SL_DROP_MALFORMED : SL_DROP_KEY);
            return;
        }
        buf = s->rpkt;
        len = (size_t)n;
    }
    int rc = sl_wire_open(buf, len, &cluster, &cl, &it);
    if (rc != 0) {
        sl__drop(s, rc == SL_EVERSION ? SL_DROP_VERSION : SL_DROP_MALFORMED);
        return;
    }
    if (cl != strlen(s->cluster) || memcmp(cluster, s->cluster, cl) != 0) {
        sl__drop(s, SL_DROP_CLUSTER);
        return;
    }
    /* Messages are decoded in batches and the members they are about are
     * prefetched before any is handled: with thousands of members (every
     * simulated node holds the whole cluster) each lookup is two cache
     * misses, and a packet carries dozens of updates. Handling is in order,
     * as before; a prefetch is only a hint. */
    sl_msg batch[RECV_BATCH];
    do {
        uint32_t n = 0;
        while (n < RECV_BATCH && (rc = sl_wire_next(&it, &batch[n])) == 1) {
            if (about_member(&batch[n]))
                sl__member_prefetch(s, batch[n].name, batch[n].name_len, 0);
            n++;
        }
        for (uint32_t i = 0; i < n; i++)
            if (about_member(&batch[i]))
                sl__member_prefetch(s, batch[i].name, batch[i].name_len, 1);
        for (uint32_t i = 0; i < n; i++)
            dispatch(s, from, &batch[i], now_ms);
    } while (rc == 1);
    if (rc < 0)
        sl__drop(s, SL_DROP_MALFORMED);
}

int sl_swim_set_meta(sl_swim *s, const uint8_t *meta, size_t len, uint64_t now_ms)
{
    (void)now_ms; /* not used (swim.h) */
    if (len > SL_SWIM_META_MAX)
        return SL_EINVAL;
    sl__member *self = &s->m[0];
    sl_msg a = {.type = SL_MSG_ALIVE,
                .name = sl__member_name(self),
                .name_len = self->name_len,
                .addr = sl__member_addr(s, self),
                .meta = meta,
                .meta_len = (uint32_t)len};
    if (!fits_with_ping(s, &a))
        return SL_ETOOBIG;
    int rc = sl__member_set_meta(s, self, meta, len);
    if (rc <= 0)
        return rc;
    sl__bump_incarnation(s);
    if (!s->left)
        sl__broadcast_member(s, self, NULL);
    return 0;
}

int sl_swim_broadcast(sl_swim *s, uint64_t key, const uint8_t *buf, size_t len)
{
    uint8_t msg[SL_SWIM_USER_MAX + 16];
    if (len > SL_SWIM_USER_MAX)
        return SL_ETOOBIG;
    sl_msg m = {.type = SL_MSG_USER, .meta = buf, .meta_len = (uint32_t)len};
    int n = sl_wire_put_msg(msg, sizeof msg, &m);
    if (n < 0)
        return SL_ETOOBIG;
    return sl__bcast_push_keyed(s, key, msg, (size_t)n);
}

void sl_swim_leave(sl_swim *s, uint64_t now_ms)
{
    if (s->left)
        return;
    s->left = true;
    sl__member *self = &s->m[0];
    self->state = SL_MEMBER_LEFT;
    self->since_ms = now_ms;
    s->nlive--;
    s->probe.active = false;
    sl__broadcast_member(s, self, NULL);
    sl__emit(s, SL_EVENT_LEFT, self, sl__member_name(self));
}
