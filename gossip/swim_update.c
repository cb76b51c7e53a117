/* The membership state machine: what to do with news about a member.
 *
 * News is ordered by incarnation. For one incarnation, the precedence is
 * left/dead > suspect > alive, so an alive message must carry a strictly
 * newer incarnation to overturn anything. News about ourselves is special:
 * a suspicion or death we hear of is refuted by raising our incarnation past
 * it (unless we have left), and news with another address than ours means
 * someone else uses our name: a conflict, reported, never fought over (two
 * members refuting each other forever would flap).
 *
 * Accepted news is re-broadcast (piggybacked) so it spreads, except where
 * the caller says it is quiet: merging a push-pull state teaches us what the
 * peer already spreads, and re-broadcasting a whole cluster's state on every
 * join would flood every queue.
 *
 * Dead and left members stay as tombstones for timing.reap_ms, then are
 * forgotten. A forgotten member's last incarnation is remembered for one more
 * reap period, so stale alive gossip from a straggler cannot raise a ghost;
 * a real restart comes with a newer generation and passes, and so does a
 * push-pull state that holds the member alive at that incarnation (the
 * other side of a partition longer than the reap time: forgotten_blocks). */
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "swim_internal.h"

/* Moves member m into state st at now_ms, keeping the live count and the
 * suspect list in step. */
static void set_state(sl_swim *s, sl__member *m, sl_member_state st, uint64_t now_ms)
{
    bool was_live = sl__member_is_live(m), live = st == SL_MEMBER_ALIVE || st == SL_MEMBER_SUSPECT;
    if (m->state == SL_MEMBER_SUSPECT && st != SL_MEMBER_SUSPECT) {
        sl__susp_remove(s, sl__member_pos(s, m));
    }
    if (st == SL_MEMBER_SUSPECT && m->state != SL_MEMBER_SUSPECT)
        sl__susp_add(s, sl__member_pos(s, m));
    if (was_live && !live)
        s->nlive--;
    else if (!was_live && live)
        s->nlive++;
    if (m->state != st)
        m->since_ms = now_ms;
    if (!live && m->state != st && now_ms + s->t.reap_ms < s->next_reap_ms)
        s->next_reap_ms = now_ms + s->t.reap_ms; /* a new tombstone to reap then */
    m->state = (uint8_t)st;
    m->conflict_reported = 0;
}

static char *copy_name(char *buf, const char *s, uint32_t len)
{
    memcpy(buf, s, len);
    buf[len] = 0;
    return buf;
}

static bool is_self(const sl_swim *s, const char *name, uint32_t len)
{
    return s->m[0].name_len == len && memcmp(sl__member_name(&s->m[0]), name, len) == 0;
}

/* The incarnation after base: the counter plus one or, when the counter is
 * exhausted, the next generation (a new life) from 0. Never wraps. Returns
 * false when the generation is at the limit too. */
static bool next_incarnation(const sl_swim *s, sl_incarnation base, sl_incarnation *out)
{
    if (base.ctr < UINT32_MAX) {
        *out = (sl_incarnation){base.gen, base.ctr + 1};
        return true;
    }
    if (base.gen >= s->gen_limit)
        return false;
    *out = (sl_incarnation){base.gen + 1, 0};
    return true;
}

bool sl__bump_incarnation(sl_swim *s)
{
    sl_incarnation next;
    if (!next_incarnation(s, s->m[0].inc, &next)) {
        s->stats.incarnation_exhausted++;
        return false;
    }
    s->m[0].inc = next;
    return true;
}

/* Moves our incarnation past `seen` and says so. When that is impossible (a
 * forged incarnation at the generation limit: the limit grows with the
 * driver's clock, so a later attempt succeeds), nothing changes and the
 * attempt is counted, so that the next such news tries again. */
void sl__refute(sl_swim *s, sl_incarnation seen, uint64_t now_ms)
{
    (void)now_ms;
    sl__member *self = &s->m[0];
    sl_incarnation base = sl_incarnation_cmp(seen, self->inc) > 0 ? seen : self->inc, next;
    if (!next_incarnation(s, base, &next)) {
        s->stats.incarnation_exhausted++;
        return;
    }
    self->inc = next;
    s->stats.refutes++;
    sl__broadcast_member(s, self, NULL);
}

/* Someone suspects us or declares us dead. News about our current (or a
 * later) incarnation is refuted by raising ours. Older news means someone
 * missed our refutation: we say again that we are alive, at the same
 * incarnation, unless that is already queued. */
static void on_death_news_about_self(sl_swim *s, const sl_msg *msg, uint64_t now_ms)
{
    if (s->left) {
        sl__drop(s, SL_DROP_STALE);
    } else if (sl_incarnation_cmp(msg->inc, s->m[0].inc) >= 0) {
        sl__refute(s, msg->inc, now_ms);
        sl__health_apply(s, 1); /* Lifeguard: others cannot hear us (health.c) */
    } else {
        sl__drop(s, SL_DROP_STALE);
        if (!s->m[0].bq)
            sl__broadcast_member(s, &s->m[0], NULL);
    }
}

static void report_conflict(sl_swim *s, sl__member *m, const sl_addr *other)
{
    sl__drop(s, SL_DROP_CONFLICT);
    if (m->conflict_reported)
        return;
    m->conflict_reported = 1;
    s->stats.events[SL_EVENT_CONFLICT]++;
    if (!s->cb.event)
        return;
    sl_swim_event ev = {.type = SL_EVENT_CONFLICT,
                        .name = sl__member_name(m),
                        .addr = sl__member_addr(s, m),
                        .other_addr = *other,
                        .inc = m->inc,
                        .state = (sl_member_state)m->state};
    s->cb.event(s->cb.ud, &ev);
}

/* Whether alive news about a member we forgot must be refused. Gossip at
 * the incarnation it died with, or older, is a straggler's stale news: a
 * ghost if taken. A push-pull state is a live peer's whole current view, and
 * one that still holds the member alive at that incarnation after we reaped
 * it has not been able to see it die for a whole reap period: it is on the
 * other side of a partition that lasted longer than that, and so is the
 * member, alive. Refusing it would keep such a partition apart until the
 * forgotten entry expires, another reap period after the network healed
 * (found by starling-sim with `seeds`); if the member is in fact gone, our
 * probes declare it dead again. Only older news is refused from a state. */
static bool forgotten_blocks(sl_swim *s, const sl_msg *msg, uint64_t now_ms, bool in_state)
{
    uint64_t h = sl__name_hash(msg->name, msg->name_len);
    for (uint32_t i = 0; i < s->nforgotten; i++)
        if (s->forgotten[i].hash == h && s->forgotten[i].until_ms > now_ms) {
            int c = sl_incarnation_cmp(msg->inc, s->forgotten[i].inc);
            return in_state ? c < 0 : c <= 0;
        }
    return false;
}

static void on_alive_self(sl_swim *s, const sl_msg *msg, uint64_t now_ms)
{
    sl__member *self = &s->m[0];
    if (!sl__member_addr_eq(s, self, &msg->addr)) {
        report_conflict(s, self, &msg->addr);
        return;
    }
    /* An older life of ours may still be gossiped about with a counter
     * above ours: move past it so that our news wins. */
    if (sl_incarnation_cmp(msg->inc, self->inc) > 0 && !s->left)
        sl__refute(s, msg->inc, now_ms);
    else
        sl__drop(s, SL_DROP_STALE);
}

bool sl__news_is_stale(const sl_swim *s, const sl__member *m, sl_member_state st,
                       const sl_addr *addr, sl_incarnation inc)
{
    switch (st) {
    case SL_MEMBER_ALIVE:
        /* Only a newer incarnation overturns anything; from another address
         * it is a conflict or a move, which sl__on_alive tells apart. */
        return sl__member_addr_eq(s, m, addr) && sl_incarnation_cmp(inc, m->inc) <= 0;
    case SL_MEMBER_SUSPECT:
    case SL_MEMBER_DEAD:
        /* Nothing but a leave overturns a tombstone (sl__on_dead). */
        return !sl__member_is_live(m);
    default: return false; /* a leave may upgrade a dead member: sl__on_dead decides */
    }
}

void sl__on_alive(sl_swim *s, const sl_msg *msg, uint64_t now_ms, bool quiet, bool in_state)
{
    if (!sl__inc_ok(s, msg->inc)) {
        sl__drop(s, SL_DROP_FUTURE);
        return;
    }
    if (is_self(s, msg->name, msg->name_len)) {
        on_alive_self(s, msg, now_ms);
        return;
    }
    if (msg->meta_len > s->max_meta) {
        sl__drop(s, SL_DROP_FULL); /* over the configured metadata size */
        return;
    }
    sl__member *m = sl__member_find(s, msg->name, msg->name_len);
    if (!m) {
        if (forgotten_blocks(s, msg, now_ms, in_state)) {
            sl__drop(s, SL_DROP_STALE);
            return;
        }
        if (s->nm >= s->max_members) {
            sl__drop(s, SL_DROP_FULL);
            return;
        }
        m = sl__member_add(s, msg->name, msg->name_len);
        if (!m)
            return;
        if (sl__member_set_addr(s, m, &msg->addr) != 0) {
            sl__member_remove(s, m);
            return;
        }
        m->state = SL_MEMBER_DEAD; /* set_state below counts it as new life */
        m->inc = msg->inc;
        sl__member_set_meta(s, m, msg->meta, msg->meta_len);
        set_state(s, m, SL_MEMBER_ALIVE, now_ms);
        sl__emit(s, SL_EVENT_JOINED, m, NULL);
        if (!quiet)
            sl__broadcast_member(s, m, NULL);
        return;
    }
    if (sl__news_is_stale(s, m, SL_MEMBER_ALIVE, &msg->addr, msg->inc)) {
        sl__drop(s, SL_DROP_STALE);
        return;
    }
    /* Newer, or from another address: while the member lives, another
     * address is someone else using its name; otherwise only newer news
     * moves it (a restart elsewhere). */
    bool same_addr = sl__member_addr_eq(s, m, &msg->addr);
    if (!same_addr && sl__member_is_live(m)) {
        report_conflict(s, m, &msg->addr);
        return;
    }
    if (sl_incarnation_cmp(msg->inc, m->inc) <= 0) {
        sl__drop(s, SL_DROP_STALE);
        return;
    }
    if (!same_addr && sl__member_set_addr(s, m, &msg->addr) != 0)
        return;
    sl_member_state old = (sl_member_state)m->state;
    int meta_changed = sl__member_set_meta(s, m, msg->meta, msg->meta_len);
    m->inc = msg->inc;
    set_state(s, m, SL_MEMBER_ALIVE, now_ms);
    if (old != SL_MEMBER_ALIVE)
        sl__emit(s, SL_EVENT_ALIVE_AGAIN, m, NULL);
    else if (meta_changed > 0 || !same_addr)
        sl__emit(s, SL_EVENT_UPDATED, m, NULL);
    if (!quiet)
        sl__broadcast_member(s, m, NULL);
}

void sl__on_suspect(sl_swim *s, const sl_msg *msg, uint64_t now_ms)
{
    if (!sl__inc_ok(s, msg->inc)) {
        sl__drop(s, SL_DROP_FUTURE);
        return;
    }
    if (is_self(s, msg->name, msg->name_len)) {
        on_death_news_about_self(s, msg, now_ms);
        return;
    }
    sl__member *m = sl__member_find(s, msg->name, msg->name_len);
    if (!m || sl__news_is_stale(s, m, SL_MEMBER_SUSPECT, NULL, msg->inc) ||
        sl_incarnation_cmp(msg->inc, m->inc) < 0) {
        sl__drop(s, SL_DROP_STALE);
        return;
    }
    char from[SL_SWIM_NAME_MAX + 1];
    copy_name(from, msg->from, msg->from_len);
    uint64_t from_hash = sl__name_hash(msg->from, msg->from_len);
    if (m->state == SL_MEMBER_SUSPECT && sl_incarnation_cmp(msg->inc, m->inc) == 0) {
        /* Another member suspects it independently: that confirms. */
        sl__suspicion *sp = sl__susp_find(s, sl__member_pos(s, m));
        if (sp && sl__suspicion_confirm(sp, from_hash))
            sl__broadcast_member(s, m, from);
        else
            sl__drop(s, SL_DROP_STALE);
        return;
    }
    m->inc = msg->inc;
    set_state(s, m, SL_MEMBER_SUSPECT, now_ms);
    /* Replaces a suspicion of an older incarnation, if it was suspect. */
    sl__suspicion *sp = sl__suspicion_new(s, now_ms, from_hash);
    if (!sp)
        s->stats.alloc_failures++;
    sl__susp_set(s, sl__member_pos(s, m), sp);
    sl__emit(s, SL_EVENT_SUSPECT, m, from);
    sl__broadcast_member(s, m, from);
}

void sl__on_dead(sl_swim *s, const sl_msg *msg, uint64_t now_ms)
{
    bool leave = msg->type == SL_MSG_LEFT;
    if (!sl__inc_ok(s, msg->inc)) {
        sl__drop(s, SL_DROP_FUTURE);
        return;
    }
    if (is_self(s, msg->name, msg->name_len)) {
        on_death_news_about_self(s, msg, now_ms);
        return;
    }
    sl__member *m = sl__member_find(s, msg->name, msg->name_len);
    int cmp = m ? sl_incarnation_cmp(msg->inc, m->inc) : -1;
    /* A dead member may still turn out to have left (leave is the better
     * news); nothing else overturns a tombstone of the same incarnation. */
    bool upgrade = m && leave && m->state == SL_MEMBER_DEAD && cmp >= 0;
    if (!m || cmp < 0 || (!sl__member_is_live(m) && !upgrade)) {
        sl__drop(s, SL_DROP_STALE);
        return;
    }
    char from[SL_SWIM_NAME_MAX + 1];
    if (!leave)
        copy_name(from, msg->from, msg->from_len);
    m->inc = msg->inc;
    set_state(s, m, leave ? SL_MEMBER_LEFT : SL_MEMBER_DEAD, now_ms);
    sl__emit(s, leave ? SL_EVENT_LEFT : SL_EVENT_FAILED, m, leave ? sl__member_name(m) : from);
    sl__broadcast_member(s, m, leave ? NULL : from);
}

void sl__declare_dead(sl_swim *s, sl__member *m, uint64_t now_ms)
{
    set_state(s, m, SL_MEMBER_DEAD, now_ms);
    sl__emit(s, SL_EVENT_FAILED, m, sl__member_name(&s->m[0]));
    sl__broadcast_member(s, m, NULL);
}

static void remember_forgotten(sl_swim *s, const sl__member *m, uint64_t now_ms)
{
    /* Drop expired entries, then append. */
    uint32_t j = 0;
    for (uint32_t i = 0; i < s->nforgotten; i++)
        if (s->forgotten[i].until_ms > now_ms)
            s->forgotten[j++] = s->forgotten[i];
    s->nforgotten = j;
    if (s->nforgotten == s->forgotten_cap) {
        uint32_t cap = s->forgotten_cap ? s->forgotten_cap * 2 : 8;
        sl__forgotten *f = realloc(s->forgotten, cap * sizeof *f);
        if (!f)
            return;
        s->forgotten = f;
        s->forgotten_cap = cap;
    }
    sl__forgotten *f = &s->forgotten[s->nforgotten++];
    f->hash = sl__name_hash(sl__member_name(m), m->name_len);
    f->inc = m->inc;
    f->until_ms = now_ms + s->t.reap_ms;
}

/* Forgets the tombstones that are due. Called every probe interval, it scans
 * the members only when next_reap_ms (the earliest time a tombstone can be
 * due, kept by set_state) has come: with every simulated node holding the
 * whole cluster, a scan per tick was a quarter of the simulator's time. */
void sl__reap(sl_swim *s, uint64_t now_ms)
{
    if (now_ms < s->next_reap_ms)
        return;
    s->next_reap_ms = UINT64_MAX;
    for (uint32_t p = 1; p < s->nm;) {
        sl__member *m = &s->m[p];
        if (sl__member_is_live(m) || now_ms - m->since_ms < s->t.reap_ms) {
            if (!sl__member_is_live(m) && m->since_ms + s->t.reap_ms < s->next_reap_ms)
                s->next_reap_ms = m->since_ms + s->t.reap_ms;
            p++;
            continue;
        }
        remember_forgotten(s, m, now_ms);
        sl__emit(s, SL_EVENT_REAPED, m, NULL);
        sl__member_remove(s, m); /* the last member moves into p */
    }
}
