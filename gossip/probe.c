/* The probe state machine: SWIM's failure detector. Each probe period we
 * ping the next member of a shuffled round-robin order (sl__probe_start);
 * when no ack came within the probe timeout we ask k other members to ping
 * it for us (sl__probe_indirect, ping-req); when the period ends without an
 * ack, direct or relayed, we suspect it (sl__probe_end). The other side of
 * the machine answers pings with acks, relays the pings asked of us by a
 * ping-req, and passes their acks back (sl__on_ping, sl__on_ping_req,
 * sl__on_ack). swim_timers.c says when each step runs. */
#include <string.h>

#include "swim_internal.h"

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
    if (suspect && suspect->state == SL_MEMBER_SUSPECT && !s->t.plain_swim) {
        sus = (sl_msg){.type = SL_MSG_SUSPECT,
                       .name = sl__member_name(suspect),
                       .name_len = suspect->name_len,
                       .inc = suspect->inc,
                       .from = sl__member_name(&s->m[0]),
                       .from_len = s->m[0].name_len};
    }
    sl__send_packet(s, to, &ping, sus.type ? &sus : NULL);
}

void sl__probe_start(sl_swim *s, uint64_t now_ms)
{
    uint32_t p = next_probe_target(s);
    if (p == SL__NO_INDEX)
        return;
    sl__member *m = &s->m[p];
    s->probe.active = true;
    s->probe.acked = false;
    s->probe.indirect_sent = false;
    s->probe.relays_asked = 0;
    s->probe.nacks = 0;
    s->probe.seq = ++s->seq;
    s->probe.sent_ms = now_ms;
    strcpy(s->probe_name, sl__member_name(m));
    s->stats.probes++;
    send_ping(s, (const sl_addr[]){sl__member_addr(s, m)}, s->probe_name, s->probe.seq, m);
}

/* The direct ping went unanswered: ask k other members to try. */
void sl__probe_indirect(sl_swim *s, uint64_t now_ms)
{
    s->probe.indirect_sent = true;
    sl__member *target = sl__member_find(s, s->probe_name, strlen(s->probe_name));
    if (!target || !sl__member_is_live(target))
        return;
    uint32_t tpos = sl__member_pos(s, target), chosen[16];
    uint32_t k = s->t.indirect_checks < 16 ? s->t.indirect_checks : 16, n = 0;
    for (uint32_t tries = 0; n < k && tries < 4 * k; tries++) {
        uint32_t p = sl__random_member(s, sl__pick_live, now_ms);
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
        sl__send_packet(s, (const sl_addr[]){sl__member_addr(s, &s->m[chosen[i]])}, &req, NULL);
    }
    s->probe.relays_asked = n;
}

/* The probe period is over: no ack, direct or indirect, means suspicion. */
void sl__probe_end(sl_swim *s, uint64_t now_ms)
{
    s->probe.active = false;
    /* Our own health (health.c): an ack in time says we are fine; none at
     * all counts against us, once per relay that did not even nack (or once
     * when no relay was asked). An indirect ack changes nothing. */
    if (s->probe.acked) {
        if (!s->probe.indirect_sent)
            sl__health_apply(s, -1);
        return;
    }
    uint32_t asked = s->probe.relays_asked, nacks = s->probe.nacks;
    sl__health_apply(s, asked ? (int)(asked - (nacks < asked ? nacks : asked)) : 1);
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

void sl__on_ping(sl_swim *s, const sl_addr *from, const sl_msg *m, uint64_t now_ms)
{
    const char *me = sl__member_name(&s->m[0]);
    if (m->name_len != strlen(me) || memcmp(m->name, me, m->name_len) != 0) {
        sl__drop(s, SL_DROP_NOT_FOR_US);
        return;
    }
    sl_msg ack = {.type = SL_MSG_ACK, .seq = m->seq};
    sl__send_packet(s, from, &ack, NULL);
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

void sl__on_ping_req(sl_swim *s, const sl_addr *from, const sl_msg *m, uint64_t now_ms)
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
    /* The nack goes out at 80% of the probe timeout (as in the Lifeguard
     * paper), so that it reaches the requester within its probe period. */
    r->nack_ms = now_ms + s->t.probe_timeout_ms * 4 / 5;
    r->nacked = s->t.plain_swim; /* plain SWIM sends no nacks */
    send_ping(s, &m->addr, target, r->our_seq, NULL);
}

void sl__on_ack(sl_swim *s, const sl_msg *m)
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
            sl__send_packet(s, &to, &ack, NULL);
            return;
        }
    sl__drop(s, SL_DROP_UNKNOWN_ACK);
}

void sl__on_nack(sl_swim *s, const sl_msg *m)
{
    if (s->probe.active && m->seq == s->probe.seq && s->probe.indirect_sent &&
        s->probe.nacks < s->probe.relays_asked) {
        s->probe.nacks++;
        s->stats.nacks_in++;
        return;
    }
    sl__drop(s, SL_DROP_UNKNOWN_ACK);
}

void sl__relays_nack(sl_swim *s, uint64_t now_ms)
{
    for (uint32_t i = 0; i < s->nrelays; i++) {
        sl__relay *r = &s->relays[i];
        if (r->nacked || r->nack_ms > now_ms)
            continue;
        r->nacked = true; /* sent now, or never: too late once expired */
        if (r->expires_ms <= now_ms)
            continue;
        sl_msg nack = {.type = SL_MSG_NACK, .seq = r->their_seq};
        s->stats.nacks_out++;
        sl__send_packet(s, &r->requester, &nack, NULL);
    }
}

uint64_t sl__relays_next_nack(const sl_swim *s)
{
    uint64_t d = UINT64_MAX;
    for (uint32_t i = 0; i < s->nrelays; i++)
        if (!s->relays[i].nacked && s->relays[i].nack_ms < d)
            d = s->relays[i].nack_ms;
    return d;
}
