/* The SWIM membership core: sans-IO.
 *
 * One sl_swim is one member's view of the cluster. It never reads a clock,
 * touches a socket or draws global randomness: the driver (the agent on libuv,
 * or the simulator on a virtual clock) passes the time into every call, hands
 * it the packets that arrive, and receives the packets to send through the
 * send callback. sl_swim_next_deadline() says when sl_swim_tick() must be
 * called again. Two drivers, one protocol: a bug seen in simulation is a bug
 * in the code that ships.
 *
 * Callbacks are called synchronously from inside sl_swim_recv(),
 * sl_swim_tick(), sl_swim_merge_state() and friends. A callback must not call
 * back into the same sl_swim except for the read-only queries. Every pointer
 * a callback receives is valid only for the duration of that call. */
#ifndef STARLING_SWIM_H
#define STARLING_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/addr.h"
#include "starling/keyring.h"

#define SL_SWIM_NAME_MAX 64            /* bytes, without the terminator */
#define SL_SWIM_CLUSTER_MAX 64         /* bytes of the cluster label */
#define SL_SWIM_META_MAX 512           /* bytes of opaque member metadata */
#define SL_SWIM_PACKET_MIN 1024        /* smallest max_packet we accept */
#define SL_SWIM_STATE_MAX (64u << 20)  /* largest push-pull state accepted */
#define SL_SWIM_USER_MAX 1024          /* largest application message (sl_swim_broadcast) */
#define SL_SWIM_MEMBERS_DEFAULT 100000 /* members held at most unless configured */

/* An incarnation orders what a member says about itself. gen is a boot
 * generation that the driver makes grow across restarts (the agent persists a
 * counter; the simulator counts restarts); ctr grows within one life when the
 * member refutes a suspicion or changes its metadata. Compared as (gen, ctr). */
typedef struct sl_incarnation {
    uint32_t gen;
    uint32_t ctr;
} sl_incarnation;

/* Returns <0, 0 or >0 as a is older than, equal to or newer than b. */
int sl_incarnation_cmp(sl_incarnation a, sl_incarnation b);

/* Member states. Wire values: append only. */
typedef enum sl_member_state {
    SL_MEMBER_ALIVE = 0,
    SL_MEMBER_SUSPECT = 1,
    SL_MEMBER_DEAD = 2,
    SL_MEMBER_LEFT = 3,
} sl_member_state;

/* Returns "alive", "suspect", "dead" or "left". */
const char *sl_member_state_name(sl_member_state s);

typedef enum sl_swim_event_type {
    SL_EVENT_JOINED,      /* a member we did not know is alive */
    SL_EVENT_UPDATED,     /* an alive member changed address or metadata */
    SL_EVENT_SUSPECT,     /* a member became suspect */
    SL_EVENT_ALIVE_AGAIN, /* a suspect, dead or left member is alive again */
    SL_EVENT_FAILED,      /* a member was declared dead */
    SL_EVENT_LEFT,        /* a member left gracefully */
    SL_EVENT_REAPED,      /* a dead or left member was forgotten */
    SL_EVENT_CONFLICT,    /* another address claims a live member's name */
    SL_EVENT__COUNT
} sl_swim_event_type;

/* Returns "joined", "updated", "suspect", ... */
const char *sl_swim_event_name(sl_swim_event_type t);

typedef struct sl_swim_event {
    sl_swim_event_type type;
    const char *name;      /* the member the event is about */
    sl_addr addr;          /* its address */
    sl_addr other_addr;    /* SL_EVENT_CONFLICT: the address that also claims it */
    sl_incarnation inc;    /* its incarnation after the event */
    sl_member_state state; /* its state after the event */
    const char *from;      /* SUSPECT/FAILED: who declared it, when known */
} sl_swim_event;

/* Reasons a packet or a message is dropped. Each is counted. */
typedef enum sl_swim_drop {
    SL_DROP_MALFORMED,    /* bytes that do not decode */
    SL_DROP_VERSION,      /* an unknown wire version */
    SL_DROP_CLUSTER,      /* a packet for another cluster label */
    SL_DROP_UNKNOWN_TYPE, /* a message type we do not know (skipped) */
    SL_DROP_CONFLICT,     /* an update that conflicts with a live member's address */
    SL_DROP_STALE,        /* an update older than what we hold, or about a forgotten member */
    SL_DROP_NOT_FOR_US,   /* a ping addressed to another name */
    SL_DROP_UNKNOWN_ACK,  /* an ack for no outstanding probe */
    SL_DROP_TOO_LARGE,    /* a message we cannot relay within max_packet */
    SL_DROP_USER,         /* an application message its handler refused */
    SL_DROP_UNSEALED,     /* a plain packet or state while we hold a key */
    SL_DROP_KEY,    /* sealed with a key we do not hold, tampered, or sealed while we hold none */
    SL_DROP_FULL,   /* news of a new member while we hold max_members */
    SL_DROP_FUTURE, /* an incarnation whose generation is past the driver's limit */
    SL_DROP__COUNT
} sl_swim_drop;

/* Returns a short name for a drop reason ("malformed", "cluster", ...). */
const char *sl_swim_drop_name(sl_swim_drop d);

typedef struct sl_swim_stats {
    uint64_t packets_in, packets_out, bytes_in, bytes_out;
    uint64_t msgs_in, msgs_out; /* messages, piggybacked updates included */
    uint64_t probes, indirect_probes, acks_in;
    uint64_t nacks_in, nacks_out;   /* Lifeguard's nacks, received and sent */
    uint64_t refutes;               /* times we raised our incarnation to refute */
    uint64_t pushpull_merged;       /* push-pull states merged */
    uint64_t broadcasts_refused;    /* updates too large to ever fit a packet */
    uint64_t broadcasts_dropped;    /* queued updates dropped when the queue was full */
    uint64_t alloc_failures;        /* allocations that failed: news lost, view incomplete */
    uint64_t incarnation_exhausted; /* refutations impossible: incarnation at its limit */
    uint64_t events[SL_EVENT__COUNT];
    uint64_t drops[SL_DROP__COUNT];
} sl_swim_stats;

/* Protocol timing and sizes. Use sl_swim_profile() to fill one. */
typedef struct sl_swim_timing {
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t indirect_checks; /* k: members asked to ping-req */
    uint32_t gossip_interval_ms;
    uint32_t gossip_nodes;    /* members gossiped to per interval */
    uint32_t retransmit_mult; /* each update is sent mult*ceil(log10(N+1)) times */
    /* The lower suspicion timeout is mult * log10(max(N, 10)) * probe_interval,
     * N the live members we know (ourselves included, until we leave) when the
     * suspicion starts: never below one full log10 step (gossip/suspicion.c). */
    uint32_t suspicion_mult;
    uint32_t suspicion_max_mult;   /* upper timeout = max_mult * lower timeout */
    uint32_t pushpull_interval_ms; /* 0 disables periodic push-pull */
    uint32_t gossip_to_dead_ms;    /* dead members still receive gossip this long */
    uint32_t reap_ms;              /* dead/left members are forgotten after this */
    uint32_t max_packet;           /* bytes; every packet we send is at most this */
    /* Lifeguard (Dadgar et al., 2017) is on unless this is set: local health
     * awareness (a health score 0..SL_SWIM_HEALTH_MAX that stretches our own
     * probe interval and timeout by score + 1), nacks from the members we
     * ask to probe for us, the dynamic suspicion timeout (from max down to
     * min with confirmations) and the buddy system (a ping to a suspect
     * carries the suspicion), and, in Lifeguard's spirit (not in the paper
     * nor memberlist), the stall check: a core whose timers run more than a
     * probe timeout late knows it was stopped, raises its score, restarts
     * the probe under way and declares no suspect dead until a probe timeout
     * after it resumed. Set, it is plain SWIM: a fixed suspicion timeout at
     * the minimum, no buddy, no awareness, no nacks, no stall check. For
     * measuring what Lifeguard buys (`--lifeguard off`, `lifeguard off`). */
    bool plain_swim;
} sl_swim_timing;

#define SL_SWIM_HEALTH_MAX                                                                         \
    8 /* the health score saturates here (memberlist's AwarenessMaxMultiplier - 1) */

/* Fills *t with the named profile: "lan" (memberlist's DefaultLANConfig),
 * "local" (DefaultLocalConfig, for loopback) or "wan" (DefaultWANConfig).
 * Returns 0, or SL_EINVAL for an unknown name (and leaves *t unchanged). */
int sl_swim_profile(const char *name, sl_swim_timing *t);

typedef struct sl_swim_callbacks {
    /* Sends one datagram (at most timing.max_packet bytes) to `to`. Required. */
    void (*send)(void *ud, const sl_addr *to, const uint8_t *buf, size_t len);
    /* Reports a membership event. Optional. */
    void (*event)(void *ud, const sl_swim_event *ev);
    /* Asks the driver to start a push-pull state exchange with `to` (a stream
     * in the agent): send sl_swim_encode_state(), then merge the reply with
     * sl_swim_merge_state(). Optional; without it there is no periodic sync. */
    void (*pushpull)(void *ud, const sl_addr *to, const char *name);
    /* Application messages, as memberlist's delegate: the catalog and node
     * reports ride the same packets and push-pulls as membership.
     * user_msg receives one message queued by some member's
     * sl_swim_broadcast(); it may call sl_swim_broadcast() to pass news on.
     * It returns 0, or a negative code to have it counted as SL_DROP_USER. */
    int (*user_msg)(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms);
    /* Encodes the application's whole state for a push-pull into a buffer
     * allocated with malloc(), which the core frees. Returns 0 or an error
     * (the push-pull then carries no application state). */
    int (*user_state)(void *ud, uint8_t **out, size_t *len);
    /* Merges an application state received in a push-pull. Returns 0 or a
     * negative code (counted as SL_DROP_USER). */
    int (*user_merge)(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms);
    /* Fills buf with len random bytes (nonces for sealing). Required when a
     * keyring is configured: the agent uses libsodium's randombytes_buf, the
     * simulator its seeded generator. */
    void (*entropy)(void *ud, uint8_t *buf, size_t len);
    void *ud;
} sl_swim_callbacks;

typedef struct sl_swim_config {
    const char *name;    /* this member's unique name, 1..SL_SWIM_NAME_MAX bytes */
    sl_addr addr;        /* the address others reach us at (advertised) */
    const char *cluster; /* cluster label, may be "" */
    uint32_t generation; /* boot generation, must grow across restarts */
    uint64_t seed;       /* seeds the core's private random generator */
    sl_swim_timing timing;
    const uint8_t *meta; /* initial metadata, copied; may be NULL */
    size_t meta_len;
    sl_swim_callbacks cb;
    /* The cluster keyring, borrowed: it must outlive the core, and the driver
     * may change it between calls (a rotation). NULL, or no key in it, means
     * plain traffic. With a key, every datagram and state we send is sealed
     * with the primary key, and whatever arrives must open with one of the
     * keys or it is dropped and counted (SL_DROP_UNSEALED, SL_DROP_KEY). */
    const sl_keyring *keyring;
    uint32_t max_members; /* members held at most; 0: SL_SWIM_MEMBERS_DEFAULT */
    uint32_t max_state;   /* bytes of a push-pull state accepted; 0: SL_SWIM_STATE_MAX */
    uint32_t max_meta;    /* bytes of another member's metadata accepted; 0: SL_SWIM_META_MAX */
} sl_swim_config;

typedef struct sl_swim sl_swim;

/* Creates a core. Copies everything it needs from cfg. Returns 0 and sets
 * *out, or SL_EINVAL (bad name, label, timing or metadata size), SL_ETOOBIG
 * (metadata that can never fit a packet) or SL_ENOMEM. */
int sl_swim_new(const sl_swim_config *cfg, uint64_t now_ms, sl_swim **out);

/* Frees the core and everything it owns. NULL is fine. */
void sl_swim_free(sl_swim *s);

/* Feeds one datagram received from `from` at now_ms. Never fails: bad input
 * is dropped and counted in the stats. The bytes are not retained. */
void sl_swim_recv(sl_swim *s, const sl_addr *from, const uint8_t *buf, size_t len, uint64_t now_ms);

/* Runs every timer due at or before now_ms (probes, gossip, suspicion
 * timeouts, reaping, push-pull). */
void sl_swim_tick(sl_swim *s, uint64_t now_ms);

/* Returns the earliest time at which sl_swim_tick() has work to do. */
uint64_t sl_swim_next_deadline(const sl_swim *s);

/* Encodes our whole membership view for a push-pull or a join into a newly
 * allocated buffer (*out, *len), sealed when a key is set; the caller frees
 * it with free(). Returns 0 or SL_ENOMEM. */
int sl_swim_encode_state(sl_swim *s, bool join, uint8_t **out, size_t *len);

/* Merges a state received from a peer through a push-pull or a join. Returns
 * 0, or SL_EMALFORMED/SL_EVERSION/SL_ECLUSTER/SL_EAUTH (not sealed with one
 * of our keys, or sealed while we hold none)/SL_EFULL (more members than
 * max_members, or more bytes than max_state), also counted as drops, for a
 * state that is not acceptable; nothing is merged then. *is_join tells
 * whether the peer sent it as a join (may be NULL). */
int sl_swim_merge_state(sl_swim *s, const uint8_t *buf, size_t len, uint64_t now_ms, bool *is_join);

/* Sets the largest generation believed: news about any member with a later
 * one is dropped (SL_DROP_FUTURE), so that a forged incarnation cannot get so
 * far ahead that the member it names can never refute it. The agent passes
 * its wall clock in seconds plus a day (generations are boot times in
 * seconds); the default is UINT32_MAX - 1. A generation of UINT32_MAX is
 * never accepted: there must always be room to refute. */
void sl_swim_set_gen_limit(sl_swim *s, uint32_t max_gen);

/* Returns true when traffic is sealed (a keyring with a key is configured). */
bool sl_swim_sealed(const sl_swim *s);

/* Replaces our metadata, raises our incarnation and spreads the change (not
 * after we left: then the new incarnation is kept but not announced). The
 * same metadata again changes nothing. Returns 0, SL_EINVAL (over
 * SL_SWIM_META_MAX), SL_ETOOBIG (would never fit a packet) or SL_ENOMEM.
 * now_ms is not used: a change of metadata starts no timer and leaves our
 * state and its state_since_ms as they are; it is taken, as by every call
 * that changes the core, so that a later use needs no change of callers. */
int sl_swim_set_meta(sl_swim *s, const uint8_t *meta, size_t len, uint64_t now_ms);

/* Queues an application message to ride piggyback on our packets, like a
 * membership update, retransmitted about mult*ceil(log10(N+1)) times. The
 * core only compares keys: a message replaces any still queued with the
 * same key (that one stops spreading), so the caller picks keys that name
 * what a message is about and lets only its newest version spread. The
 * runtime (gossip/appstate.c) keys a catalog record by its service and a
 * node report by its (node, service); the agent's key operations
 * (node/keys.c) by the operation's id. Keys of application messages never
 * replace membership updates. May be called from the user_msg callback.
 * Returns 0, SL_ETOOBIG (over SL_SWIM_USER_MAX: it could never fit a packet)
 * or SL_ENOMEM. */
int sl_swim_broadcast(sl_swim *s, uint64_t key, const uint8_t *buf, size_t len);

/* Announces a graceful leave: we become "left" and the news spreads as a
 * leave, not a failure. The core stops probing but keeps gossiping so the
 * news gets out; sl_swim_pending_broadcasts() tells when it has. */
void sl_swim_leave(sl_swim *s, uint64_t now_ms);

/* Returns how many updates still wait to be retransmitted. */
size_t sl_swim_pending_broadcasts(const sl_swim *s);

/* A read-only view of one member; pointers stay valid until the next call
 * that changes the core (recv, tick, merge, set_meta, leave). */
typedef struct sl_member_view {
    const char *name;
    sl_addr addr;
    sl_incarnation inc;
    sl_member_state state;
    const uint8_t *meta;
    size_t meta_len;
    uint64_t state_since_ms; /* when it entered its current state */
    bool is_self;
} sl_member_view;

/* Returns how many members we know (ourselves and tombstones included,
 * forgotten members excluded). */
size_t sl_swim_size(const sl_swim *s);

/* Fills *out with member i, 0 <= i < sl_swim_size(). The order is stable
 * between changes but otherwise unspecified. Returns 0 or SL_EINVAL. */
int sl_swim_member_at(const sl_swim *s, size_t i, sl_member_view *out);

/* Looks a member up by name. Returns 0 or SL_ENOTFOUND. */
int sl_swim_find(const sl_swim *s, const char *name, sl_member_view *out);

/* Returns how many known members are in state st (ourselves included). */
size_t sl_swim_count(const sl_swim *s, sl_member_state st);

/* Returns how many members other than ourselves are live (alive or
 * suspect). Constant time: the core keeps the count. */
size_t sl_swim_live_peers(const sl_swim *s);

/* Returns our own name and current incarnation. */
const char *sl_swim_name(const sl_swim *s);
sl_incarnation sl_swim_incarnation(const sl_swim *s);

/* Returns the counters. */
const sl_swim_stats *sl_swim_get_stats(const sl_swim *s);

/* Returns the local health score, 0 (healthy) .. SL_SWIM_HEALTH_MAX: how
 * many times over our own probe interval and timeout are stretched, less
 * one. Always 0 with timing.plain_swim. */
uint32_t sl_swim_health(const sl_swim *s);

/* Returns the timing the core runs with. */
const sl_swim_timing *sl_swim_get_timing(const sl_swim *s);

#endif
