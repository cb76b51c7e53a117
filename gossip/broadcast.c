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
 * it, so stale news never outlives fresh news; an application message
 * replaces the queued one with the same key, found through a hash index
 * (there can be a thousand of them: one per report). */
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

/* ---- linked updates by length: how many might fit in a packet's room ---- */

static uint32_t len_index(size_t len)
{
    return len < 1 ? 1 : len < SL__BCAST_LENS ? (uint32_t)len : SL__BCAST_LENS;
}

static void by_len_add(sl__bcast_queue *q, size_t len, uint32_t d)
{
    if (q->by_len)
        for (uint32_t i = len_index(len); i <= SL__BCAST_LENS; i += i & -i)
            q->by_len[i] += d; /* d is 1 or (uint32_t)-1 */
}

/* Linked updates of at most `room` bytes (longer ones than the tree counts
 * exactly are counted as SL__BCAST_LENS: never fewer than fit). */
static uint32_t might_fit(const sl__bcast_queue *q, size_t room)
{
    uint32_t n = 0;
    for (uint32_t i = room < SL__BCAST_LENS ? (uint32_t)room : SL__BCAST_LENS; i; i -= i & -i)
        n += q->by_len[i];
    return n;
}

/* Starts counting by length (once the first application message comes). */
static void by_len_start(sl__bcast_queue *q)
{
    q->by_len = calloc(SL__BCAST_LENS + 1, sizeof *q->by_len);
    if (!q->by_len)
        return; /* fill scans everything, as it can */
    for (uint32_t t = 0; t < SL__BCAST_BUCKETS; t++)
        for (sl__bcast *b = q->head[t]; b; b = b->next)
            by_len_add(q, b->len, 1);
}

static void unlink_b(sl__bcast_queue *q, sl__bcast *b)
{
    by_len_add(q, b->len, (uint32_t)-1);
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
    by_len_add(q, b->len, 1);
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
    by_len_add(q, b->len, 1);
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

/* ---- the index of application messages by key ---- */

static uint32_t key_home(uint64_t key, uint32_t cap)
{
    key ^= key >> 31;
    key *= 0x7fb5d329728ea185ull;
    key ^= key >> 27;
    return (uint32_t)key & (cap - 1);
}

static sl__bcast *keyed_find(const sl__bcast_queue *q, uint64_t key)
{
    if (!q->keyed_cap)
        return NULL;
    for (uint32_t i = key_home(key, q->keyed_cap);; i = (i + 1) & (q->keyed_cap - 1)) {
        if (!q->keyed[i])
            return NULL;
        if (q->keyed[i]->key == key)
            return q->keyed[i];
    }
}

static void keyed_place(sl__bcast **t, uint32_t cap, sl__bcast *b)
{
    uint32_t i = key_home(b->key, cap);
    while (t[i])
        i = (i + 1) & (cap - 1);
    t[i] = b;
}

/* Indexes b (whose key is not indexed yet). */
static int keyed_add(sl__bcast_queue *q, sl__bcast *b)
{
    if ((q->nkeyed + 1) * 2 > q->keyed_cap) {
        uint32_t cap = q->keyed_cap ? 2 * q->keyed_cap : 64;
        sl__bcast **t = calloc(cap, sizeof *t);
        if (!t)
            return SL_ENOMEM;
        for (uint32_t i = 0; i < q->keyed_cap; i++)
            if (q->keyed[i])
                keyed_place(t, cap, q->keyed[i]);
        free(q->keyed);
        q->keyed = t;
        q->keyed_cap = cap;
    }
    keyed_place(q->keyed, q->keyed_cap, b);
    q->nkeyed++;
    return 0;
}

/* Removes b from the index, shifting back the entries that probed past it. */
static void keyed_del(sl__bcast_queue *q, const sl__bcast *b)
{
    if (!q->keyed_cap)
        return;
    uint32_t mask = q->keyed_cap - 1, i = key_home(b->key, q->keyed_cap);
    while (q->keyed[i] != b) {
        if (!q->keyed[i])
            return; /* not indexed */
        i = (i + 1) & mask;
    }
    q->keyed[i] = NULL;
    q->nkeyed--;
    for (uint32_t j = (i + 1) & mask; q->keyed[j]; j = (j + 1) & mask) {
        uint32_t home = key_home(q->keyed[j]->key, q->keyed_cap);
        /* j's entry may move to the hole i when its home is not in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            q->keyed[i] = q->keyed[j];
            q->keyed[j] = NULL;
            i = j;
        }
    }
}

/* Frees b, which is not linked, and its member's reference to it. */
static void release(sl_swim *s, sl__bcast *b)
{
    if (b->member == SL__NO_INDEX)
        keyed_del(&s->bq, b);
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
    if (!s->bq.by_len)
        by_len_start(&s->bq);
    sl__bcast *old = keyed_find(&s->bq, key);
    if (old)
        forget(s, old);
    sl__bcast *b = malloc(sizeof *b + len);
    if (!b || keyed_add(&s->bq, (b->key = key, b)) != 0) {
        free(b);
        s->stats.alloc_failures++;
        return SL_ENOMEM;
    }
    b->member = SL__NO_INDEX;
    b->transmits = 0;
    b->len = (uint16_t)len;
    memcpy(b->msg, msg, len);
    push_head(&s->bq, b);
    bound(s);
    return 0;
}

size_t sl__bcast_fill(sl_swim *s, uint8_t *buf, size_t len, size_t cap)
{
    if (s->bq.count == 0)
        return len;
    uint32_t limit = sl__retransmit_limit(s);
    sl__bcast *sent[64];
    size_t nsent = 0;
    /* Picked updates leave the queue at once, and the scan stops when no
     * update left fits (counted by length): with a thousand application
     * messages queued, each packet would otherwise walk them all. The
     * updates sent, and their order, are those of a full scan. */
    bool counted = s->bq.by_len != NULL;
    uint32_t fit = counted ? might_fit(&s->bq, cap - len) : 1;
    for (uint32_t t = 0; t < SL__BCAST_BUCKETS && nsent < 64 && fit; t++) {
        sl__bcast *next;
        for (sl__bcast *b = s->bq.head[t]; b && nsent < 64; b = next) {
            next = b->next;
            if (cap - len < 8) /* no message is smaller than this */
                goto done;
            if (b->len > cap - len)
                continue;
            memcpy(buf + len, b->msg, b->len);
            len += b->len;
            unlink_b(&s->bq, b);
            sent[nsent++] = b;
            if (counted && !(fit = might_fit(&s->bq, cap - len)))
                goto done;
        }
    }
done:
    /* Move what we sent to the next transmit class, or retire it. */
    for (size_t i = 0; i < nsent; i++) {
        sl__bcast *b = sent[i];
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
    free(s->bq.keyed);
    s->bq.keyed = NULL;
    free(s->bq.by_len);
    s->bq.by_len = NULL;
    s->bq.nkeyed = s->bq.keyed_cap = 0;
    free(s->bq.slot);
    s->bq.slot = NULL;
    s->bq.nslots = s->bq.slot_cap = s->bq.free_slot = 0;
}
