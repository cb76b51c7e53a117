/* The SWIM core's timers: what sl_swim_tick() does and when it wants to be
 * called again (sl_swim_next_deadline()). Once per probe interval a probe
 * period ends and the next begins (probe.c) and due tombstones are reaped
 * (swim_update.c); once per gossip interval queued updates go to a few
 * random members; once per push-pull interval (scaled with the cluster) the
 * driver is asked to sync with a live member and with a dead one; and
 * suspicions whose time ran out become deaths. Also the random choice of a
 * member that probing, gossip and push-pull share. Like the rest of the core
 * it reads no clock: now_ms is given. */
#include <math.h>

#include "swim_internal.h"

uint32_t sl__random_member(sl_swim *s, sl__member_pred ok, uint64_t now_ms)
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

bool sl__pick_live(const sl_swim *s, const sl__member *m, uint64_t now_ms)
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
        uint32_t p = sl__random_member(s, is_gossip_target, now_ms);
        if (p == SL__NO_INDEX)
            return;
        bool dup = false;
        for (uint32_t i = 0; i < n; i++)
            dup |= chosen[i] == p;
        if (dup)
            continue;
        chosen[n++] = p;
        sl__send_packet(s, (const sl_addr[]){sl__member_addr(s, &s->m[p])}, NULL, NULL);
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
    uint32_t p = sl__random_member(s, sl__pick_live, now_ms);
    if (p != SL__NO_INDEX)
        s->cb.pushpull(s->cb.ud, (const sl_addr[]){sl__member_addr(s, &s->m[p])},
                       sl__member_name(&s->m[p]));
    /* Keep reaching for the members we believe dead: if they are only on the
     * other side of a partition, this is how the two sides find each other. */
    uint32_t d = sl__random_member(s, is_dead, now_ms);
    if (d != SL__NO_INDEX)
        s->cb.pushpull(s->cb.ud, (const sl_addr[]){sl__member_addr(s, &s->m[d])},
                       sl__member_name(&s->m[d]));
}

static void check_suspicions(sl_swim *s, uint64_t now_ms)
{
    const sl__suspect *e;
    for (uint32_t i = 0; (e = sl__susp_at(s, i));) {
        if (e->sp && sl__suspicion_deadline(e->sp) <= now_ms && now_ms >= s->lag_until_ms)
            sl__declare_dead(s, &s->m[e->pos], now_ms); /* removes entry i */
        else
            i++;
    }
}

void sl_swim_tick(sl_swim *s, uint64_t now_ms)
{
    sl__health_check_lag(s, now_ms); /* Lifeguard: were we stalled? (health.c) */
    check_suspicions(s, now_ms);
    sl__relays_nack(s, now_ms);
    if (s->probe.active && !s->probe.acked && !s->probe.indirect_sent &&
        now_ms >= sl__probe_timeout_at(s))
        sl__probe_indirect(s, now_ms);
    if (now_ms >= s->next_probe_ms) {
        if (s->probe.active)
            sl__probe_end(s, now_ms);
        if (!s->left)
            sl__probe_start(s, now_ms);
        sl__reap(s, now_ms);
        /* Lifeguard: a member in poor health probes less often (health.c). */
        s->next_probe_ms = now_ms + sl__health_scale(s, s->t.probe_interval_ms);
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
        sl__probe_timeout_at(s) < d)
        d = sl__probe_timeout_at(s);
    uint64_t nd = sl__relays_next_nack(s);
    if (nd < d)
        d = nd;
    uint64_t sd = sl__susp_next_deadline(s);
    if (sd != UINT64_MAX && sd < s->lag_until_ms)
        sd = s->lag_until_ms; /* held off after a stall (health.c) */
    return sd < d ? sd : d;
}
