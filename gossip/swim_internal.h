/* Internal: the structures behind sl_swim, shared by the files of gossip/
 * that implement it (swim.c, swim_update.c, swim_state.c, members.c,
 * broadcast.c, suspicion.c). Nothing here is a public contract. */
#ifndef STARLING_GOSSIP_SWIM_INTERNAL_H
#define STARLING_GOSSIP_SWIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "starling/rng.h"
#include "starling/swim.h"
#include "starling/wire.h"

#define SL__NO_INDEX UINT32_MAX
#define SL__BCAST_BUCKETS 64 /* transmit counts tracked; limits are capped below this */

/* One queued update. Lives in a doubly linked list per transmit count
 * (bucket), newest first, so picking "least sent, newest first" is O(1). */
typedef struct sl__bcast {
    struct sl__bcast *prev, *next;
    uint32_t member;    /* index of the member it is about, or SL__NO_INDEX */
    uint64_t key;       /* application messages: what it is about */
    uint16_t transmits; /* times sent so far */
    uint16_t len;
    uint8_t msg[]; /* the encoded message */
} sl__bcast;

typedef struct sl__bcast_queue {
    sl__bcast *head[SL__BCAST_BUCKETS];
    sl__bcast *tail[SL__BCAST_BUCKETS];
    size_t count;
} sl__bcast_queue;

/* Suspicion of one member: when it started, its bounds, and the independent
 * confirmations received (Lifeguard's "suspicion with confirmations"). */
typedef struct sl__suspicion {
    uint64_t start_ms;
    uint32_t min_ms, max_ms;
    uint32_t k;             /* confirmations that shrink the timeout to min_ms */
    uint32_t n;             /* confirmations so far */
    uint64_t confirmers[8]; /* hashes of who confirmed; bounded */
} sl__suspicion;

typedef struct sl__member {
    char *name;          /* owned, NUL-terminated */
    uint8_t *meta;       /* owned, may be NULL */
    sl__suspicion *susp; /* owned while suspect */
    sl__bcast *bcast;    /* our queued update about this member, if any */
    sl_addr addr;
    sl_incarnation inc;
    uint64_t since_ms; /* when it entered its state */
    uint32_t hash;
    uint16_t meta_len;
    uint8_t state; /* sl_member_state */
    uint8_t conflict_reported;
} sl__member;

/* A member that was reaped: remembered for another reap period so that stale
 * gossip cannot bring it back. */
typedef struct sl__forgotten {
    uint64_t hash;
    sl_incarnation inc;
    uint64_t until_ms;
} sl__forgotten;

/* A ping we relay for someone else's ping-req. */
typedef struct sl__relay {
    uint32_t our_seq;
    uint32_t their_seq;
    sl_addr requester;
    uint64_t expires_ms;
} sl__relay;

struct sl_swim {
    sl_swim_timing t;
    sl_swim_callbacks cb;
    char cluster[SL_SWIM_CLUSTER_MAX + 1];
    sl_rng rng;
    sl_swim_stats stats;
    bool left;

    /* Members: a dense array (index 0 is us) and an open-addressing index of
     * member positions keyed by name. */
    sl__member *m;
    uint32_t nm, cap;
    uint32_t *index; /* position + 1, 0 = empty */
    uint32_t index_mask;
    uint32_t nlive; /* alive + suspect, ourselves included */

    sl__forgotten *forgotten;
    uint32_t nforgotten, forgotten_cap;

    /* Probing: a shuffled round-robin order of member positions. */
    uint32_t *order;
    uint32_t norder, order_pos;
    uint32_t seq;
    struct {
        bool active, acked, indirect_sent;
        uint32_t seq;
        uint32_t target; /* position at send time */
        uint64_t hash;   /* name hash, to recheck the target after changes */
        uint64_t sent_ms;
    } probe;
    sl__relay relays[32];
    uint32_t nrelays;
    char probe_name[SL_SWIM_NAME_MAX + 1];
    uint32_t *susp_pos; /* positions of suspect members */
    uint32_t nsusp, susp_cap;

    uint64_t next_probe_ms, next_gossip_ms, next_pushpull_ms;
    uint64_t next_reap_ms;         /* no tombstone is due before this (sl__reap) */
    uint64_t next_unknown_sync_ms; /* rate limit of syncs with unknown probers */

    sl__bcast_queue bq;
    uint8_t *pkt;    /* scratch packet buffer, t.max_packet bytes */
    uint8_t hdr_len; /* length of the encoded packet header */
};

/* members.c */
uint64_t sl__name_hash(const char *name, size_t len);
sl__member *sl__member_find(const sl_swim *s, const char *name, size_t len);
sl__member *sl__member_add(sl_swim *s, const char *name, size_t len);
void sl__member_remove(sl_swim *s, sl__member *m);
int sl__member_set_meta(sl__member *m, const uint8_t *meta, size_t len);
static inline uint32_t sl__member_pos(const sl_swim *s, const sl__member *m)
{
    return (uint32_t)(m - s->m);
}
static inline bool sl__member_is_live(const sl__member *m)
{
    return m->state == SL_MEMBER_ALIVE || m->state == SL_MEMBER_SUSPECT;
}

/* broadcast.c */
/* Queues an encoded message about member `about` (or SL__NO_INDEX),
 * replacing any older one about the same member. Returns 0 or SL_ENOMEM. */
int sl__bcast_push(sl_swim *s, uint32_t about, const uint8_t *msg, size_t len);
/* Appends as many queued messages as fit in buf[len..cap), least sent and
 * newest first, counting one transmission each. Returns the new length. */
/* Queues an application message, replacing a queued one with the same key. */
int sl__bcast_push_keyed(sl_swim *s, uint64_t key, const uint8_t *msg, size_t len);
size_t sl__bcast_fill(sl_swim *s, uint8_t *buf, size_t len, size_t cap);
void sl__bcast_drop_member(sl_swim *s, uint32_t pos);
void sl__bcast_moved(sl_swim *s, uint32_t from, uint32_t to);
void sl__bcast_clear(sl_swim *s);
uint32_t sl__retransmit_limit(const sl_swim *s);

/* suspicion.c */
sl__suspicion *sl__suspicion_new(const sl_swim *s, uint64_t now_ms, uint64_t from_hash);
/* Adds a confirmation from `from_hash`; returns true if it was new. */
bool sl__suspicion_confirm(sl__suspicion *sp, uint64_t from_hash);
uint64_t sl__suspicion_deadline(const sl__suspicion *sp);

/* swim.c */
void sl__emit(sl_swim *s, sl_swim_event_type type, const sl__member *m, const char *from);
void sl__drop(sl_swim *s, sl_swim_drop why);
/* Encodes an update about member m (alive/suspect/dead/left per its state)
 * and queues it. from names the declarer for suspect/dead. */
void sl__broadcast_member(sl_swim *s, sl__member *m, const char *from);

/* swim_update.c: the state machine. quiet suppresses re-broadcast. */
void sl__on_alive(sl_swim *s, const sl_msg *m, uint64_t now_ms, bool quiet);
void sl__on_suspect(sl_swim *s, const sl_msg *m, uint64_t now_ms);
void sl__on_dead(sl_swim *s, const sl_msg *m, uint64_t now_ms);
void sl__refute(sl_swim *s, sl_incarnation seen, uint64_t now_ms);
void sl__declare_dead(sl_swim *s, sl__member *m, uint64_t now_ms);
void sl__reap(sl_swim *s, uint64_t now_ms);

#endif
