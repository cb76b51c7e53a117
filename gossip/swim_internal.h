/* Internal: the structures behind sl_swim, shared by the files of gossip/
 * that implement it (swim.c, swim_timers.c, probe.c, swim_query.c,
 * swim_update.c, swim_state.c, members.c, broadcast.c, suspicion.c).
 * Nothing here is a public contract. */
#ifndef STARLING_GOSSIP_SWIM_INTERNAL_H
#define STARLING_GOSSIP_SWIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "starling/rng.h"
#include "starling/swim.h"
#include "wire.h"

#define SL__NO_INDEX UINT32_MAX
#define SL__BCAST_QUEUE_MAX 1024 /* queued updates kept at most (see bound()) */
#define SL__BCAST_BUCKETS 64     /* transmit counts tracked; limits are capped below this */
#define SL__BCAST_LENS 2048      /* queued updates counted by length (see fill); longer: last */
/* Room for one encoded membership message: an alive message holds a name,
 * the metadata and under 40 bytes of headers, address and incarnation; a
 * suspect or dead one two names and under 30. */
#define SL__MEMBER_MSG_MAX (SL_SWIM_META_MAX + 2 * SL_SWIM_NAME_MAX + 64)
/* Bytes of a ping besides its two names, at most: array and type (2), seq
 * (5), two str headers (2 each), the address bin (2 + 18) = 31, rounded up.
 * An alive message about us must fit one packet with a ping (sl_swim_new,
 * sl_swim_set_meta), so that our alive news can ride on any ping. */
#define SL__PING_FIXED_MAX 40

/* One queued update. Lives in a doubly linked list per transmit count
 * (bucket), newest first, so picking "least sent, newest first" is O(1). */
typedef struct sl__bcast {
    struct sl__bcast *prev, *next;
    uint32_t member;    /* index of the member it is about, or SL__NO_INDEX */
    uint32_t slot;      /* its slot in sl__bcast_queue.slot, if about a member */
    uint64_t key;       /* application messages: what it is about */
    uint16_t transmits; /* times sent so far */
    uint16_t len;
    uint8_t msg[]; /* the encoded message */
} sl__bcast;

typedef struct sl__bcast_queue {
    sl__bcast *head[SL__BCAST_BUCKETS];
    sl__bcast *tail[SL__BCAST_BUCKETS];
    size_t count;
    /* Slots of the updates that are about a member (sl__member.bq - 1);
     * free slots are chained through their `member` field. */
    sl__bcast **slot;
    uint32_t nslots, slot_cap, free_slot; /* free_slot: slot + 1, 0 = none */
    /* Application messages by key: open addressing, linear probing,
     * capacity a power of two at least twice their number. */
    sl__bcast **keyed;
    uint32_t nkeyed, keyed_cap;
    /* Linked updates by length, a Fenwick tree over 1..SL__BCAST_LENS,
     * kept once application messages are queued (NULL before). */
    uint32_t *by_len;
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

/* Names up to this many bytes live inside the member record; a longer one
 * is a separate allocation whose pointer is stored in name[] instead. */
#define SL__NAME_INLINE 16

/* One member: 56 bytes, as every simulated node holds one per member of the
 * cluster (10^8 of them at 10,000 nodes). What few members need lives in
 * side tables: suspicions in sl_swim.susp, queued updates in the broadcast
 * queue's slots (bq), metadata interned per core (meta). */
typedef struct sl__member {
    sl_incarnation inc;
    uint64_t since_ms; /* when it entered its state */
    /* Its address (sl__member_addr): an IPv4 address inline, an IPv6 one in
     * the side table sl_swim.addr6, where ip is its slot. */
    uint32_t ip;    /* IPv4 bytes in network order, or the IPv6 slot */
    uint16_t port;  /* host byte order */
    uint8_t family; /* SL_ADDR_V4, SL_ADDR_V6 or 0 */
    uint8_t conflict_reported;
    uint32_t meta;                  /* interned metadata id (sl_swim.metas), 0 = none */
    uint32_t bq;                    /* slot + 1 of our queued update about it, 0 = none */
    char name[SL__NAME_INLINE + 1]; /* NUL-terminated, or a char * if longer */
    uint8_t name_len;
    uint8_t state; /* sl_member_state */
} sl__member;

/* Interned metadata: members with the same blob share one copy. */
typedef struct sl__meta {
    uint32_t refs;
    uint32_t hash;
    uint16_t len;
    uint8_t data[];
} sl__meta;

/* A suspect member: its position and its suspicion. */
typedef struct sl__suspect {
    uint32_t pos;
    sl__suspicion *sp; /* owned */
} sl__suspect;

/* The suspect members, in no particular order. Owned by suspicion.c: read
 * and change it only through sl__susp_*(). */
typedef struct sl__suspect_list {
    sl__suspect *v;
    uint32_t n, cap;
} sl__suspect_list;

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
    uint64_t nack_ms; /* Lifeguard: no ack by then, the requester gets a nack */
    bool nacked;
} sl__relay;

struct sl_swim {
    sl_swim_timing t;
    sl_swim_callbacks cb;
    char cluster[SL_SWIM_CLUSTER_MAX + 1];
    sl_rng rng;
    sl_swim_stats stats;
    bool left;

    /* Members: a dense array (index 0 is us) and an open-addressing index of
     * member positions keyed by name. A slot holds position + 1 in its low
     * 24 bits and 8 more bits of the name's hash above, so that a lookup
     * touches the member array only when those match. */
    sl__member *m;
    uint32_t nm, cap;
    uint32_t *index; /* 0 = empty */
    uint32_t index_mask;
    sl__meta **metas; /* interned metadata by id - 1; NULL = free */
    uint32_t nmetas, metas_cap;
    uint32_t *meta_free; /* ids of free entries in metas, metas_cap of them */
    uint32_t nmeta_free;
    uint32_t *meta_index; /* open addressing: id, 0 = empty */
    uint32_t meta_index_mask;
    uint32_t nlive; /* alive + suspect, ourselves included */
    /* IPv6 addresses of members (sl__member.ip), by slot; free slots are
     * chained through their first 4 bytes, addr6_free = slot + 1. */
    uint8_t (*addr6)[16];
    uint32_t naddr6, addr6_cap, addr6_free;

    sl__forgotten *forgotten;
    uint32_t nforgotten, forgotten_cap;

    /* Probing: a shuffled round-robin order of member positions, the
     * permutation 1 + (order_start + i * order_stride) mod norder. */
    uint32_t norder, order_pos, order_start, order_stride;
    uint32_t seq;
    uint32_t health;       /* Lifeguard's local health score (health.c) */
    uint64_t lag_until_ms; /* after a stall, no verdict before this (health.c) */
    struct {
        bool active, acked, indirect_sent;
        uint32_t relays_asked, nacks; /* ping-reqs sent, nacks received */
        uint32_t seq;
        uint32_t target; /* position at send time */
        uint64_t hash;   /* name hash, to recheck the target after changes */
        uint64_t sent_ms;
    } probe;
    sl__relay relays[32];
    uint32_t nrelays;
    char probe_name[SL_SWIM_NAME_MAX + 1];
    sl__suspect_list susp; /* the suspect members (suspicion.c) */

    uint64_t next_probe_ms, next_gossip_ms, next_pushpull_ms;
    uint64_t next_reap_ms;         /* no tombstone is due before this (sl__reap) */
    uint64_t next_unknown_sync_ms; /* rate limit of syncs with unknown probers */

    sl__bcast_queue bq;
    uint8_t *pkt;    /* scratch packet buffer, t.max_packet bytes (owns spkt, rpkt) */
    uint8_t *spkt;   /* the sealed packet we send, t.max_packet bytes */
    uint8_t *rpkt;   /* the opened packet we received, t.max_packet bytes */
    uint32_t budget; /* bytes of a packet before sealing: max_packet - SL_SEAL_OVERHEAD */
    uint8_t hdr_len; /* length of the encoded packet header */

    const sl_keyring *keyring; /* borrowed; NULL or empty: plain traffic */
    uint32_t max_members;      /* members held at most */
    uint32_t max_meta;         /* bytes of a member's metadata accepted */
    uint32_t max_state;        /* bytes of a push-pull state accepted */
    uint32_t gen_limit;        /* news with a later generation is dropped */
};

/* members.c */
#define SL__MEMBERS_MAX ((1u << 24) - 2) /* positions fit the index's 24 bits */
uint64_t sl__name_hash(const char *name, size_t len);
static inline const char *sl__member_name(const sl__member *m)
{
    if (m->name_len <= SL__NAME_INLINE)
        return m->name;
    char *p;
    memcpy(&p, m->name, sizeof p);
    return p;
}
static inline const uint8_t *sl__member_meta(const sl_swim *s, const sl__member *m, uint16_t *len)
{
    const sl__meta *b = m->meta ? s->metas[m->meta - 1] : NULL;
    *len = b ? b->len : 0;
    return b ? b->data : NULL;
}
static inline sl_addr sl__member_addr(const sl_swim *s, const sl__member *m)
{
    sl_addr a = {.family = m->family, .port = m->port};
    if (m->family == SL_ADDR_V6)
        memcpy(a.ip, s->addr6[m->ip], 16);
    else
        memcpy(a.ip, &m->ip, 4);
    return a;
}
static inline bool sl__member_addr_eq(const sl_swim *s, const sl__member *m, const sl_addr *a)
{
    if (a->family != m->family || a->port != m->port)
        return false;
    return m->family == SL_ADDR_V6 ? memcmp(s->addr6[m->ip], a->ip, 16) == 0
                                   : memcmp(&m->ip, a->ip, 4) == 0;
}
/* Sets the address of m. Returns 0 or SL_ENOMEM (m keeps its address). */
int sl__member_set_addr(sl_swim *s, sl__member *m, const sl_addr *a);
sl__member *sl__member_find(const sl_swim *s, const char *name, size_t len);
/* A hint that name will be looked up soon: stage 0 fetches its index slot,
 * stage 1 (once that slot is likely cached) the member it points to. */
void sl__member_prefetch(const sl_swim *s, const char *name, size_t len, int stage);
sl__member *sl__member_add(sl_swim *s, const char *name, size_t len);
void sl__member_remove(sl_swim *s, sl__member *m);
/* Returns 1 if the metadata changed, 0 if not, SL_ENOMEM. */
int sl__member_set_meta(sl_swim *s, sl__member *m, const uint8_t *meta, size_t len);
void sl__members_free(sl_swim *s);
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
/* The suspect list (sl_swim.susp). Suspects are few, so it is scanned; each
 * member position is in it at most once. */
/* Adds the member at pos, with no suspicion yet (sl__susp_set gives it one).
 * Out of memory, it is counted and not added: its suspicion never runs out. */
void sl__susp_add(sl_swim *s, uint32_t pos);
/* Removes the member at pos, if listed, and frees its suspicion. The last
 * entry takes its place (see sl__susp_at). */
void sl__susp_remove(sl_swim *s, uint32_t pos);
/* Replaces the suspicion of the member at pos (freeing the old one), or
 * frees sp when pos is not listed. Takes ownership of sp (may be NULL). */
void sl__susp_set(sl_swim *s, uint32_t pos, sl__suspicion *sp);
/* The suspicion of the member at pos, or NULL (not listed, or none). */
sl__suspicion *sl__susp_find(const sl_swim *s, uint32_t pos);
/* The member at position `from` moved to `to` (members.c's removal). */
void sl__susp_moved(sl_swim *s, uint32_t from, uint32_t to);
/* Entry i of the list, or NULL past its end: for (i = 0; (e = at(s, i));).
 * Removing entry i moves the last one into i. */
static inline const sl__suspect *sl__susp_at(const sl_swim *s, uint32_t i)
{
    return i < s->susp.n ? &s->susp.v[i] : NULL;
}
/* The earliest deadline of a listed suspicion, or UINT64_MAX. */
uint64_t sl__susp_next_deadline(const sl_swim *s);
/* Frees the list and every suspicion in it. */
void sl__susp_free(sl_swim *s);

/* swim.c */
/* Sends one packet to `to`: the header, the primary message (if any), then
 * as many piggybacked updates as fit. A packet with nothing in it is not
 * sent. */
void sl__send_packet(sl_swim *s, const sl_addr *to, const sl_msg *primary, const sl_msg *extra);
void sl__emit(sl_swim *s, sl_swim_event_type type, const sl__member *m, const char *from);
void sl__drop(sl_swim *s, sl_swim_drop why);
/* Encodes an update about member m (alive/suspect/dead/left per its state)
 * and queues it. from names the declarer for suspect/dead. */
void sl__broadcast_member(sl_swim *s, sl__member *m, const char *from);

/* swim_timers.c */
typedef bool (*sl__member_pred)(const sl_swim *s, const sl__member *m, uint64_t now_ms);
/* Picks a random member other than us that `ok` accepts, by rejection
 * sampling with a bounded number of tries. Returns its position or
 * SL__NO_INDEX. */
uint32_t sl__random_member(sl_swim *s, sl__member_pred ok, uint64_t now_ms);
/* An sl__member_pred: alive or suspect. */
bool sl__pick_live(const sl_swim *s, const sl__member *m, uint64_t now_ms);

/* health.c: Lifeguard's local health awareness. */
/* Adds delta to the health score, within 0..SL_SWIM_HEALTH_MAX (never moves
 * with timing.plain_swim). */
void sl__health_apply(sl_swim *s, int delta);
/* ms stretched by the health score: ms * (score + 1). */
uint64_t sl__health_scale(const sl_swim *s, uint64_t ms);
/* Called first by every tick: when the tick comes long after our own
 * gossip timer fell due, we were stalled; raises the health score and holds
 * off the verdicts that the stall made untrustworthy (health.c). */
void sl__health_check_lag(sl_swim *s, uint64_t now_ms);
/* When the direct ping of the current probe times out. */
uint64_t sl__probe_timeout_at(const sl_swim *s);

/* probe.c: the probe state machine (driven by sl_swim_tick). */
/* Pings the next live member of the round-robin order, if any. */
void sl__probe_start(sl_swim *s, uint64_t now_ms);
/* The probe timeout passed without an ack: sends ping-reqs. */
void sl__probe_indirect(sl_swim *s, uint64_t now_ms);
/* The probe period is over: suspects the target unless it acked. */
void sl__probe_end(sl_swim *s, uint64_t now_ms);
void sl__on_ping(sl_swim *s, const sl_addr *from, const sl_msg *m, uint64_t now_ms);
void sl__on_ping_req(sl_swim *s, const sl_addr *from, const sl_msg *m, uint64_t now_ms);
void sl__on_ack(sl_swim *s, const sl_msg *m);
/* A relay's nack for our current probe (Lifeguard): counted for our health. */
void sl__on_nack(sl_swim *s, const sl_msg *m);
/* Sends the nacks due: relays whose own ping got no ack within the probe
 * timeout tell the requester so (not with timing.plain_swim). */
void sl__relays_nack(sl_swim *s, uint64_t now_ms);
/* The earliest nack due, or UINT64_MAX. */
uint64_t sl__relays_next_nack(const sl_swim *s);

/* swim_update.c: the state machine. quiet suppresses re-broadcast. */
/* in_state: the news is an entry of a push-pull state (a live peer's whole
 * view), not gossip: it may bring back a member forgotten at the same
 * incarnation (see forgotten_blocks in swim_update.c). */
/* Whether news that the known member m (not us) is in state st at inc
 * (from addr, for alive news) is stale, judged from m alone: alive news from
 * m's address at an incarnation not newer than m's, or suspect or dead news
 * about a member we hold dead or left. False for left news (a leave may still
 * upgrade a dead member), and false does not mean the news applies: the
 * sl__on_*() handlers check the rest. Used by them and by the push-pull merge
 * (swim_state.c) to skip the news it already has. */
bool sl__news_is_stale(const sl_swim *s, const sl__member *m, sl_member_state st,
                       const sl_addr *addr, sl_incarnation inc);
void sl__on_alive(sl_swim *s, const sl_msg *m, uint64_t now_ms, bool quiet, bool in_state);
void sl__on_suspect(sl_swim *s, const sl_msg *m, uint64_t now_ms);
void sl__on_dead(sl_swim *s, const sl_msg *m, uint64_t now_ms);
void sl__refute(sl_swim *s, sl_incarnation seen, uint64_t now_ms);
/* Raises our incarnation by one: the counter, or when it is exhausted the
 * generation (a new life), never wrapping. Returns false (and counts it)
 * when both are at their limit. */
bool sl__bump_incarnation(sl_swim *s);
/* Returns true when inc is believable: its generation within the limit. */
static inline bool sl__inc_ok(const sl_swim *s, sl_incarnation inc)
{
    return inc.gen <= s->gen_limit;
}
void sl__declare_dead(sl_swim *s, sl__member *m, uint64_t now_ms);
void sl__reap(sl_swim *s, uint64_t now_ms);

#endif
