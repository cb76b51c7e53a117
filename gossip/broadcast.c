/* The dissemination queue: updates that ride piggyback on every packet.
 *
 * SWIM spreads membership changes epidemically: each update is attached to
 * the packets we send anyway (pings, acks, gossip) and retransmitted a
 * limited number of times, mult * ceil(log10(N + 1)), enough for it to reach
 * everyone with high probability. Which updates go first matters when there
 * are more than fit in a packet: the least sent first (new news travels
 * fastest), and among equals the newest first.
 *
 * The queue keeps one list per transmit count, newest at the head, so the
 * pick is O(1) and a send moves an update to the tail of the next list (it
 * is then the oldest of its new class, which keeps newest-first order within
 * each list). A member has at most one queued update: a newer one replaces
 * it, so stale news never outlives fresh news. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "swim_internal.h"

uint32_t sl__retransmit_limit(const sl_swim *s)
{
    uint32_t lim = s->t.retransmit_mult * (uint32_t)ceil(log10((double)s->nlive + 1.0));
    if (lim < 1)
        lim = 1;
    return lim < SL__BCAST_BUCKETS - 1 ? lim : SL__BCAST_BUCKETS - 1;
}

static void unlink_b(sl__bcast_queue *q, sl__bcast *b)
{
    uint32_t t = b->transmits;
    if (b->prev)
        b->prev->next = b->next;
    else
        q->head[t] = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        q->tail[t] = b->prev;
    b->prev = b->next = NULL;
    q->count--;
}

static void push_head(sl__bcast_queue *q, sl__bcast *b)
{
    uint32_t t = b->transmits;
    b->prev = NULL;
    b->next = q->head[t];
    if (q->head[t])
        q->head[t]->prev = b;
    else
        q->tail[t] = b;
    q->head[t] = b;
    q->count++;
}

static void push_tail(sl__bcast_queue *q, sl__bcast *b)
{
    uint32_t t = b->transmits;
    b->next = NULL;
    b->prev = q->tail[t];
    if (q->tail[t])
        q->tail[t]->next = b;
    else
        q->head[t] = b;
    q->tail[t] = b;
    q->count++;
}

/* The slot table: member.bq - 1 names the slot that points at the member's
 * queued update, so that the member record holds 4 bytes, not a pointer. */
static int slot_take(sl__bcast_queue *q, sl__bcast *b)
{
    uint32_t i;
    if (q->free_slot) {
        i = q->free_slot - 1;
        q->free_slot = (uint32_t)(uintptr_t)q->slot[i];
    } else {
        if (q->nslots == q->slot_cap) {
            uint32_t cap = q->slot_cap ? q->slot_cap + q->slot_cap / 2 : 16;
            sl__bcast **a = realloc(q->slot, cap * sizeof *a);
            if (!a)
                return SL_ENOMEM;
            q->slot = a;
            q->slot_cap = cap;
        }
        i = q->nslots++;
    }
    q->slot[i] = b;
    b->slot = i;
    return 0;
}

static void slot_free(sl__bcast_queue *q, uint32_t i)
{
    q->slot[i] = (sl__bcast *)(uintptr_t)q->free_slot;
    q->free_slot = i + 1;
}

/* Frees b, which is not linked, and its member's reference to it. */
static void release(sl_swim *s, sl__bcast *b)
{
    if (b->member != SL__NO_INDEX) {
        if (b->member < s->nm && s->m[b->member].bq == b->slot + 1)
            s->m[b->member].bq = 0;
        slot_free(&s->bq, b->slot);
    }
    free(b);
}

static void forget(sl_swim *s, sl__bcast *b)
{
    unlink_b(&s->bq, b);
    release(s, b);
}

/* Keeps the queue within SL__BCAST_QUEUE_MAX, as Serf bounds its queues: a
 * join storm would otherwise queue an update about every member on every
 * member. Drops the most sent first, oldest first among equals; what is
 * dropped still spreads from the members that queued it later, and by
 * push-pull. */
static void bound(sl_swim *s)
{
    for (uint32_t t = SL__BCAST_BUCKETS; t-- > 0 && s->bq.count > SL__BCAST_QUEUE_MAX;)
        while (s->bq.tail[t] && s->bq.count > SL__BCAST_QUEUE_MAX) {
            forget(s, s->bq.tail[t]);
            s->stats.broadcasts_dropped++;
        }
}

int sl__bcast_push(sl_swim *s, uint32_t about, const uint8_t *msg, size_t len)
{
    sl__bcast *b = malloc(sizeof *b + len);
    if (!b) {
        s->stats.alloc_failures++;
        return SL_ENOMEM;
    }
    b->member = about;
    b->key = 0;
    b->transmits = 0;
    b->len = (uint16_t)len;
    memcpy(b->msg, msg, len);
    if (about != SL__NO_INDEX) {
        if (s->m[about].bq)
            forget(s, s->bq.slot[s->m[about].bq - 1]);
        if (slot_take(&s->bq, b) != 0) {
            free(b);
            s->stats.alloc_failures++;
            return SL_ENOMEM;
        }
        s->m[about].bq = b->slot + 1;
    }
    push_head(&s->bq, b);
    bound(s);
    return 0;
}

int sl__bcast_push_keyed(sl_swim *s, uint64_t key, const uint8_t *msg, size_t len)
{
    /* Application messages are few; a scan finds the one this replaces. */
    for (uint32_t t = 0; t < SL__BCAST_BUCKETS; t++)
        for (sl__bcast *b = s->bq.head[t]; b; b = b->next)
            if (b->member == SL__NO_INDEX && b->key == key) {
                forget(s, b);
                goto push;
            }
push:
    if (sl__bcast_push(s, SL__NO_INDEX, msg, len) != 0)
        return SL_ENOMEM;
    s->bq.head[0]->key = key;
    return 0;
}

size_t sl__bcast_fill(sl_swim *s, uint8_t *buf, size_t len, size_t cap)
{
    if (s->bq.count == 0)
        return len;
    uint32_t limit = sl__retransmit_limit(s);
    sl__bcast *sent[64];
    size_t nsent = 0;
    for (uint32_t t = 0; t < SL__BCAST_BUCKETS && nsent < 64; t++) {
        for (sl__bcast *b = s->bq.head[t]; b && nsent < 64; b = b->next) {
            if (cap - len < 8) /* no message is smaller than this */
                goto done;
            if (b->len > cap - len)
                continue;
            memcpy(buf + len, b->msg, b->len);
            len += b->len;
            sent[nsent++] = b;
        }
    }
done:
    /* Move what we sent to the next transmit class, or retire it. */
    for (size_t i = 0; i < nsent; i++) {
        sl__bcast *b = sent[i];
        unlink_b(&s->bq, b);
        b->transmits++;
        s->stats.msgs_out++;
        if (b->transmits < limit) {
            push_tail(&s->bq, b);
            continue;
        }
        release(s, b);
    }
    return len;
}

void sl__bcast_drop_member(sl_swim *s, uint32_t pos)
{
    if (s->m[pos].bq)
        forget(s, s->bq.slot[s->m[pos].bq - 1]);
}

void sl__bcast_moved(sl_swim *s, uint32_t from, uint32_t to)
{
    (void)from;
    if (s->m[to].bq)
        s->bq.slot[s->m[to].bq - 1]->member = to;
}

void sl__bcast_clear(sl_swim *s)
{
    for (uint32_t t = 0; t < SL__BCAST_BUCKETS; t++) {
        sl__bcast *b = s->bq.head[t];
        while (b) {
            sl__bcast *next = b->next;
            release(s, b);
            b = next;
        }
        s->bq.head[t] = s->bq.tail[t] = NULL;
    }
    s->bq.count = 0;
    free(s->bq.slot);
    s->bq.slot = NULL;
    s->bq.nslots = s->bq.slot_cap = s->bq.free_slot = 0;
}
