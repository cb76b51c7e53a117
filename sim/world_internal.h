/* Internal to the fake world (sim/world*.c): the structs its files share and
 * the functions one of them calls in another. Nothing outside those files
 * includes this; the world's interface is sim/world.h. */
#ifndef STARLING_SIM_WORLD_INTERNAL_H
#define STARLING_SIM_WORLD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/keyring.h"
#include "starling/rejoin.h"
#include "starling/rng.h"
#include "starling/swim.h"
#include "world.h"

/* The kinds of event (sl__world_event.type). */
enum {
    SL__WORLD_EV_TICK,
    SL__WORLD_EV_DELIVER,
    SL__WORLD_EV_PP_REQUEST,
    SL__WORLD_EV_PP_REPLY,
    SL__WORLD_EV_RESUME,
    SL__WORLD_EV_APP,
    SL__WORLD_EV_REJOIN,
    SL__WORLD_EV_ROUND_END,
    SL__WORLD_EV_STALL /* a stall waiting for a probe starts without one */
};

#define SL__WORLD_BACKLOG_MAX 512 /* datagrams kept for a paused node */

typedef struct sl__world_event {
    uint64_t at_us;
    uint64_t seq;
    uint32_t type;
    int node;           /* the node the event happens at */
    int from;           /* DELIVER/PP_*: the sender's index */
    uint32_t life;      /* TICK/PP_REPLY/RESUME (and APP, REJOIN, ROUND_END): the life it is for */
    uint32_t from_life; /* PP_REPLY: the life of the node that replies */
    uint32_t round;     /* PP_*, ROUND_END: the join round it belongs to, 0 for none */
    uint8_t *data;
    size_t len;
} sl__world_event;

typedef struct sl__world_packet {
    int from;
    uint8_t *data;
    size_t len;
} sl__world_packet;

typedef struct sl__world_node {
    struct sl_world *w;
    int index;
    char *name;
    sl_swim *core;
    sl_addr addr;
    uint32_t gen;
    uint32_t life;
    uint64_t timer_us;     /* pending TICK time, UINT64_MAX if none */
    uint64_t app_timer_us; /* pending APP time, UINT64_MAX if none */
    bool paused;
    /* A stall waiting for the node's next probe (sl_world_pause_at_probe):
     * its length, 0 if none, and the time it starts even without a probe. */
    uint64_t stall_ms;
    uint64_t stall_by_us;
    double loss;
    sl__world_packet *backlog;
    uint32_t nbacklog;
    uint8_t *meta;
    size_t meta_len;
    sl_keyring *keyring; /* this node's own, borrowed by its core; NULL: plain */
    /* With seeds (sl_world_set_seeds): the agent's joining policy. */
    sl_rejoin rejoin;
    uint64_t rejoin_timer_us; /* pending SL__WORLD_EV_REJOIN time, UINT64_MAX if none */
    uint32_t round;           /* the current or last join round, 1 up */
    bool round_open;
    int round_pending, round_ok;
} sl__world_node;

struct sl_world {
    sl_world_config cfg;
    sl_keyring keyring; /* every node starts with a copy when cfg.sealed */
    char cluster[SL_SWIM_CLUSTER_MAX + 1];
    sl_rng rng;
    uint64_t now_us;
    uint64_t seq;
    sl__world_event *heap;
    size_t nheap, heap_cap;
    sl__world_node **nodes;
    int nnodes, nodes_cap;
    uint64_t *cuts; /* open addressing set of (from << 32 | to) + 1 */
    size_t cuts_mask, ncuts;
    int **parts; /* partitions: per node a group label, 0 for none */
    int *parts_len;
    size_t nparts;
    sl_world_event_fn on_event;
    void *on_event_ud;
    sl_world_app app;
    bool has_app;
    int *seeds; /* sl_world_set_seeds(); NULL: joins only when told */
    int nseeds;
    uint32_t seed_backoff_max_ms, seed_timeout_ms;
    sl_world_rejoin_stats rejoin_stats;
    uint64_t packets_sent, bytes_sent, events_processed;
};

/* ---- world_heap.c ----------------------------------------------------- */

/* Pushes ev, stamped with the next sequence number. When out of memory the
 * event is dropped and its data freed. */
void sl__world_heap_push(sl_world *w, sl__world_event ev);

/* Removes and returns the earliest event; the heap must not be empty. */
sl__world_event sl__world_heap_pop(sl_world *w);

/* Whether the earliest event is due at or before limit_us. */
bool sl__world_heap_due(const sl_world *w, uint64_t limit_us);

/* Frees every pending event's data and the heap. */
void sl__world_heap_free(sl_world *w);

/* ---- world_net.c ------------------------------------------------------ */

/* The core's send callback (ud: the node): a datagram into the network. */
void sl__world_net_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len);

/* The core's push-pull callback (ud: the node): starts an exchange. */
void sl__world_net_pushpull(void *ud, const sl_addr *to, const char *name);

/* The core's entropy callback (ud: the node): nonces for sealing, from the
 * world's own generator, so deterministic. */
void sl__world_net_entropy(void *ud, uint8_t *buf, size_t len);

/* Starts a push-pull from src to node dst (a join when `join`), part of join
 * round `round` (0: none), unless it cannot pass. */
void sl__world_start_pushpull(sl_world *w, sl__world_node *src, int dst, bool join, uint32_t round);

/* The three network events: a datagram arrives, a push-pull request
 * arrives, its reply arrives. */
void sl__world_on_deliver(sl_world *w, sl__world_event *ev);
void sl__world_on_pp_request(sl_world *w, sl__world_event *ev);
void sl__world_on_pp_reply(sl_world *w, sl__world_event *ev);

/* Frees the cuts and the partitions. */
void sl__world_net_free(sl_world *w);

/* ---- world.c ---------------------------------------------------------- */

/* Makes sure a TICK is pending at or before n's core's next deadline. */
void sl__world_schedule(sl_world *w, sl__world_node *n);

/* Ends n's open join round with the answers it got. */
void sl__world_round_end(sl_world *w, sl__world_node *n);

#endif
