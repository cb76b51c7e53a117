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
 * The layers: swim.c (this file) runs the timers (probing, gossip, push-pull
 * scheduling, reaping) and dispatches packets; swim_update.c is the state
 * machine that applies alive/suspect/dead/left news; swim_state.c encodes
 * and merges push-pull states; members.c is the member table; broadcast.c
 * the piggyback queue; suspicion.c the suspicion timer; wire.c the codec. */
#include <math.h>
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
        {"lan", {1000, 500, 3, 200, 3, 4, 4, 6, 30000, 30000, 15 * 60000, 1400}},
        {"local", {1000, 200, 1, 100, 3, 2, 3, 6, 15000, 15000, 5 * 60000, 1400}},
        {"wan", {5000, 3000, 3, 500, 4, 4, 6, 6, 60000, 60000, 60 * 60000, 1400}},
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

/* Sends one packet to `to`: the header, the primary message (if any), then
 * as many piggybacked updates as fit. A packet with nothing in it is not
 * sent. */
static void send_packet(sl_swim *s, const sl_addr *to, const sl_msg *primary, const sl_msg *extra)
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

/* Picks a random member other than us that `ok` accepts, by rejection
 * sampling with a bounded number of tries. Returns its position or
 * SL__NO_INDEX. */
static uint32_t random_member(sl_swim *s, bool (*ok)(const sl_swim *, const sl__member *, uint64_t),
                              uint64_t now_ms)
{
    if (s->nm < 2)
        return SL__NO_INDEX;
    for (int tries = 0; tries < 16; tries++) {
        uint32_t p = 1 + (uint32_t)sl_rng_below(&s->rng, s->nm - 1);
        if (ok(s, &s->m[p], now_ms))
            return p;
    }
    /* Few acceptable members: scan from a random start. */
    uint32_t start = (uint32_t)sl_rng_below(&s->rng, s->nm - 1);
    for (uint32_t i = 0; i < s->nm - 1; i++) {
        uint32_t p = 1 + (start + i) % (s->nm - 1);
        if (ok(s, &s->m[p], now_ms))
            return p;
    }
    return SL__NO_INDEX;
}

static bool is_live(const sl_swim *s, const sl__member *m, uint64_t now_ms)
{
    (void)s;
    (void)now_ms;
    return sl__member_is_live(m);
}

static bool is_gossip_target(const sl_swim *s, const sl__member *m, uint64_t now_ms)
{
    return sl__member_is_live(m) || now_ms - m->since_ms < s->t.gossip_to_dead_ms;
}

static bool is_dead(const sl_swim *s, const sl__member *m, uint64_t now_ms)
{
    (void)s;
    (void)now_ms;
    return m->state == SL_MEMBER_DEAD;
}

static uint32_t gcd32(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Starts a new probe round: every member position but ours, in the order
 * 1 + (start + i * stride) mod n for i < n, with a random start and a random
 * stride coprime with n, so that each position comes exactly once. A
 * permutation array would cost 4 bytes per member on every node. */
static int reshuffle(sl_swim *s)
{
    uint32_t n = s->nm - 1;
    s->norder = n;
    s->order_pos = 0;
    if (n == 0)
        return 0;
    s->order_start = (uint32_t)sl_rng_below(&s->rng, n);
    uint32_t c = n > 1 ? 1 + (uint32_t)sl_rng_below(&s->rng, n - 1) : 1;
    while (gcd32(c, n) != 1)
        c = c % (n - 1) + 1; /* 1..n-1; 1 is coprime, so this ends */
    s->order_stride = c;
    return 0;
}

/* Returns the next live member in the round-robin order, or SL__NO_INDEX. */
static uint32_t next_probe_target(sl_swim *s)
{
    for (int round = 0; round < 2; round++) {
        while (s->order_pos < s->norder) {
            uint32_t p =
                1 + (uint32_t)((s->order_start + (uint64_t)s->order_pos++ * s->order_stride) %
                               s->norder);
            if (p < s->nm && p != 0 && sl__member_is_live(&s->m[p]))
                return p;
        }
        if (s->nlive < 2 || reshuffle(s) != 0)
            return SL__NO_INDEX;
    }
    return SL__NO_INDEX;
}

/* Pings `target`. When we hold it suspect, the ping carries the suspicion
 * too (Lifeguard's buddy system): the member learns at once that it must
 * refute, rather than waiting for the rumour to reach it by chance. */
static void send_ping(sl_swim *s, const sl_addr *to, const char *target, uint32_t seq,
                      const sl__member *suspect)
{
    sl_msg ping = {.type = SL_MSG_PING,
                   .seq = seq,
                   .name = target,
                   .name_len = (uint32_t)strlen(target),
                   .from = sl__member_name(&s->m[0]),
                   .from_len = s->m[0].name_len,
                   .addr = sl__member_addr(s, &s->m[0])};
    sl_msg sus = {0};
    if (suspect && suspect->state == SL_MEMBER_SUSPECT) {
        sus = (sl_msg){.type = SL_MSG_SUSPECT,
                       .name = sl__member_name(suspect),
                       .name_len = suspect->name_len,
                       .inc = suspect->inc,
                       .from = sl__member_name(&s->m[0]),
                       .from_len = s->m[0].name_len};
    }
    send_packet(s, to, &ping, sus.type ? &sus : NULL);
}

static void probe_start(sl_swim *s, uint64_t now_ms)
{
    uint32_t p = next_probe_target(s);
    if (p == SL__NO_INDEX)
        return;
    sl__member *m = &s->m[p];
    s->probe.active = true;
    s->probe.acked = false;
    s->probe.indirect_sent = false;
    s->probe.seq = ++s->seq;
    s->probe.sent_ms = now_ms;
    strcpy(s->probe_name, sl__member_name(m));
    s->stats.probes++;
    send_ping(s, (const sl_addr[]){sl__member_addr(s, m)}, s->probe_name, s->probe.seq, m);
}

/* The direct ping went unanswered: ask k other members to try. */
static void probe_indirect(sl_swim *s, uint64_t now_ms)
{
    s->probe.indirect_sent = true;
    sl__member *target = sl__member_find(s, s->probe_name, strlen(s->probe_name));
    if (!target || !sl__member_is_live(target))
        return;
    uint32_t tpos = sl__member_pos(s, target), chosen[16];
    uint32_t k = s->t.indirect_checks < 16 ? s->t.indirect_checks : 16, n = 0;
    for (uint32_t tries = 0; n < k && tries < 4 * k; tries++) {
        uint32_t p = random_member(s, is_live, now_ms);
        if (p == SL__NO_INDEX)
            break;
        bool dup = p == tpos;
        for (uint32_t i = 0; i < n; i++)
            dup |= chosen[i] == p;
        if (!dup)
            chosen[n++] = p;
    }
    sl_msg req = {.type = SL_MSG_PING_REQ,
                  .seq = s->probe.seq,
                  .name = sl__member_name(target),
                  .name_len = target->name_len,
                  .addr = sl__member_addr(s, target)};
    for (uint32_t i = 0; i < n; i++) {
        s->stats.indirect_probes++;
        send_packet(s, (const sl_addr[]){sl__member_addr(s, &s->m[chosen[i]])}, &req, NULL);
    }
}

/* The probe period is over: no ack, direct or indirect, means suspicion. */
static void probe_end(sl_swim *s, uint64_t now_ms)
{
    s->probe.active = false;
    if (s->probe.acked)
        return;
    sl__member *m = sl__member_find(s, s->probe_name, strlen(s->probe_name));
    if (!m || !sl__member_is_live(m))
        return; /* dead, left or forgotten meanwhile: nothing to suspect */
    sl_msg sus = {.type = SL_MSG_SUSPECT,
                  .name = sl__member_name(m),
                  .name_len = m->name_len,
                  .inc = m->inc,
                  .from = sl__member_name(&s->m[0]),
                  .from_len = s->m[0].name_len};
    sl__on_suspect(s, &sus, now_ms);
}

static void on_ping(sl_swim *s, const sl_addr *from, const sl_msg *m, uint64_t now_ms)
{
    const char *me = sl__member_name(&s->m[0]);
    if (m->name_len != strlen(me) || memcmp(m->name, me, m->name_len) != 0) {
        sl__drop(s, SL_DROP_NOT_FOR_US);
        return;
    }
    sl_msg ack = {.type = SL_MSG_ACK, .seq = m->seq};
    send_packet(s, from, &ack, NULL);
    /* Someone knows us whom we do not know: members that joined at the same
     * moment can miss each other's news. Rather than wait for the periodic
     * push-pull, sync with the prober now (at most once per probe period). */
    /* Only when traffic is sealed: the prober then holds the cluster key.
     * Without a key, anyone could make us push our whole state to an address
     * of their choosing; we sync only with members we heard of. */
    if (s->cb.pushpull && sl_swim_sealed(s) && !s->left && now_ms >= s->next_unknown_sync_ms &&
        !sl__member_find(s, m->from, m->from_len)) {
        char name[SL_SWIM_NAME_MAX + 1];
        memcpy(name, m->from, m->from_len);
        name[m->from_len] = 0;
        s->next_unknown_sync_ms = now_ms + s->t.probe_interval_ms;
        s->cb.pushpull(s->cb.ud, &m->addr, name);
    }
}

static void on_ping_req(sl_swim *s, const sl_addr *from, const sl_msg *m, uint64_t now_ms)
{
    /* Expire old relays first; the table is small and bounded. */
    uint32_t j = 0;
    for (uint32_t i = 0; i < s->nrelays; i++)
        if (s->relays[i].expires_ms > now_ms)
            s->relays[j++] = s->relays[i];
    s->nrelays = j;
    if (s->nrelays == sizeof s->relays / sizeof s->relays[0])
        return; /* too many outstanding relays: the requester has others */
    char target[SL_SWIM_NAME_MAX + 1];
    memcpy(target, m->name, m->name_len);
    target[m->name_len] = 0;
    sl__relay *r = &s->relays[s->nrelays++];
    r->our_seq = ++s->seq;
    r->their_seq = m->seq;
    r->requester = *from;
    r->expires_ms = now_ms + s->t.probe_interval_ms;
    send_ping(s, &m->addr, target, r->our_seq, NULL);
}

static void on_ack(sl_swim *s, const sl_msg *m)
{
    if (s->probe.active && m->seq == s->probe.seq) {
        s->probe.acked = true;
        s->stats.acks_in++;
        return;
    }
    for (uint32_t i = 0; i < s->nrelays; i++)
        if (s->relays[i].our_seq == m->seq) {
            sl_msg ack = {.type = SL_MSG_ACK, .seq = s->relays[i].their_seq};
            sl_addr to = s->relays[i].requester;
            s->relays[i] = s->relays[--s->nrelays];
            send_packet(s, &to, &ack, NULL);
            return;
        }
    sl__drop(s, SL_DROP_UNKNOWN_ACK);
}

static void dispatch(sl_swim *s, const sl_addr *from, const sl_msg *m, uint64_t now_ms)
{
    s->stats.msgs_in++;
    switch (m->type) {
    case SL_MSG_PING: on_ping(s, from, m, now_ms); break;
    case SL_MSG_PING_REQ: on_ping_req(s, from, m, now_ms); break;
    case SL_MSG_ACK: on_ack(s, m); break;
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

/* Gossips to gossip_nodes distinct members: live ones, and dead ones for a
 * while (gossip_to_dead_ms), which may only be cut off. Distinct, because in
 * a small cluster a few draws with replacement can miss a member entirely
 * while an update's few retransmissions run out. */
static void gossip(sl_swim *s, uint64_t now_ms)
{
    uint32_t chosen[16], n = 0, k = s->t.gossip_nodes < 16 ? s->t.gossip_nodes : 16;
    if (s->bq.count == 0)
        return;
    for (uint32_t tries = 0; n < k && tries < 4 * k && s->bq.count; tries++) {
        uint32_t p = random_member(s, is_gossip_target, now_ms);
        if (p == SL__NO_INDEX)
            return;
        bool dup = false;
        for (uint32_t i = 0; i < n; i++)
            dup |= chosen[i] == p;
        if (dup)
            continue;
        chosen[n++] = p;
        send_packet(s, (const sl_addr[]){sl__member_addr(s, &s->m[p])}, NULL, NULL);
    }
}

/* memberlist's push-pull scaling: past 32 members, sync less often so that
 * the total stream traffic stays flat as the cluster grows. */
static uint64_t pushpull_interval(const sl_swim *s)
{
    uint64_t iv = s->t.pushpull_interval_ms;
    if (s->nlive <= 32)
        return iv;
    double mult = ceil(log2((double)s->nlive) - log2(32.0)) + 1.0;
    return (uint64_t)(iv * mult);
}

static void pushpull(sl_swim *s, uint64_t now_ms)
{
    if (!s->cb.pushpull || s->left)
        return;
    uint32_t p = random_member(s, is_live, now_ms);
    if (p != SL__NO_INDEX)
        s->cb.pushpull(s->cb.ud, (const sl_addr[]){sl__member_addr(s, &s->m[p])},
                       sl__member_name(&s->m[p]));
    /* Keep reaching for the members we believe dead: if they are only on the
     * other side of a partition, this is how the two sides find each other. */
    uint32_t d = random_member(s, is_dead, now_ms);
    if (d != SL__NO_INDEX)
        s->cb.pushpull(s->cb.ud, (const sl_addr[]){sl__member_addr(s, &s->m[d])},
                       sl__member_name(&s->m[d]));
}

static void check_suspicions(sl_swim *s, uint64_t now_ms)
{
    const sl__suspect *e;
    for (uint32_t i = 0; (e = sl__susp_at(s, i));) {
        if (e->sp && sl__suspicion_deadline(e->sp) <= now_ms)
            sl__declare_dead(s, &s->m[e->pos], now_ms); /* removes entry i */
        else
            i++;
    }
}

void sl_swim_tick(sl_swim *s, uint64_t now_ms)
{
    check_suspicions(s, now_ms);
    if (s->probe.active && !s->probe.acked && !s->probe.indirect_sent &&
        now_ms >= s->probe.sent_ms + s->t.probe_timeout_ms)
        probe_indirect(s, now_ms);
    if (now_ms >= s->next_probe_ms) {
        if (s->probe.active)
            probe_end(s, now_ms);
        if (!s->left)
            probe_start(s, now_ms);
        sl__reap(s, now_ms);
        s->next_probe_ms = now_ms + s->t.probe_interval_ms;
    }
    if (now_ms >= s->next_gossip_ms) {
        gossip(s, now_ms);
        s->next_gossip_ms = now_ms + s->t.gossip_interval_ms;
    }
    if (now_ms >= s->next_pushpull_ms) {
        pushpull(s, now_ms);
        s->next_pushpull_ms = now_ms + pushpull_interval(s);
    }
}

uint64_t sl_swim_next_deadline(const sl_swim *s)
{
    uint64_t d = s->next_probe_ms;
    if (s->next_gossip_ms < d)
        d = s->next_gossip_ms;
    if (s->next_pushpull_ms < d)
        d = s->next_pushpull_ms;
    if (s->probe.active && !s->probe.acked && !s->probe.indirect_sent &&
        s->probe.sent_ms + s->t.probe_timeout_ms < d)
        d = s->probe.sent_ms + s->t.probe_timeout_ms;
    uint64_t sd = sl__susp_next_deadline(s);
    return sd < d ? sd : d;
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

size_t sl_swim_pending_broadcasts(const sl_swim *s)
{
    return s->bq.count;
}

size_t sl_swim_size(const sl_swim *s)
{
    return s->nm;
}

static void view(const sl_swim *s, const sl__member *m, sl_member_view *out)
{
    uint16_t meta_len;
    out->name = sl__member_name(m);
    out->addr = sl__member_addr(s, m);
    out->inc = m->inc;
    out->state = (sl_member_state)m->state;
    out->meta = sl__member_meta(s, m, &meta_len);
    out->meta_len = meta_len;
    out->state_since_ms = m->since_ms;
    out->is_self = m == &s->m[0];
}

int sl_swim_member_at(const sl_swim *s, size_t i, sl_member_view *out)
{
    if (i >= s->nm)
        return SL_EINVAL;
    view(s, &s->m[i], out);
    return 0;
}

int sl_swim_find(const sl_swim *s, const char *name, sl_member_view *out)
{
    const sl__member *m = sl__member_find(s, name, strlen(name));
    if (!m)
        return SL_ENOTFOUND;
    view(s, m, out);
    return 0;
}

size_t sl_swim_count(const sl_swim *s, sl_member_state st)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->nm; i++)
        n += s->m[i].state == st;
    return n;
}

size_t sl_swim_live_peers(const sl_swim *s)
{
    /* nlive counts ourselves until we leave */
    return s->nlive - (s->left ? 0u : 1u);
}

const char *sl_swim_name(const sl_swim *s)
{
    return sl__member_name(&s->m[0]);
}

sl_incarnation sl_swim_incarnation(const sl_swim *s)
{
    return s->m[0].inc;
}

const sl_swim_stats *sl_swim_get_stats(const sl_swim *s)
{
    return &s->stats;
}

const sl_swim_timing *sl_swim_get_timing(const sl_swim *s)
{
    return &s->t;
}
