/* The fake world: many sl_swim cores on one virtual clock.
 *
 * A deterministic discrete-event driver for the sans-IO membership core. The
 * clock is a heap of events ordered by (time, sequence); nothing here reads a
 * real clock, opens a socket or draws randomness other than from the world's
 * own seeded generator. The same calls with the same seed give the same run,
 * bit for bit. Used by the core's unit tests and by starling-sim.
 *
 * Nodes are numbered from 0 in the order they are added. Each has a fake
 * IPv4 address (127.a.b.c:7946, never used for real I/O). The network
 * delivers datagrams after a one-way latency plus uniform jitter, loses them
 * with a probability (global, per node, per link), and honours one-way cuts.
 * Push-pull exchanges travel as reliable streams with the same latency: a cut
 * or partition stops them, random loss does not. */
#ifndef STARLING_SIM_WORLD_H
#define STARLING_SIM_WORLD_H

#include <stdbool.h>
#include <stdint.h>

#include "starling/keyring.h"
#include "starling/swim.h"

typedef struct sl_world sl_world;

typedef struct sl_world_config {
    uint64_t seed;
    sl_swim_timing timing; /* used by every node; fill with sl_swim_profile() */
    const char *cluster;   /* cluster label; NULL means "" */
    uint32_t latency_us;   /* one-way base latency */
    uint32_t jitter_us;    /* uniform extra latency in [0, jitter_us] */
    double loss;           /* probability that any datagram is lost */
    /* Seal every datagram and state with one cluster key (derived from the
     * seed), nonces drawn from the world's generator: the agent's sealing
     * code, run by every node. Off is faster. */
    bool sealed;
    /* How a node answers a push-pull. Set: the answer is encoded before the
     * request is merged (memberlist's order). Off (the default): it is
     * encoded when it is delivered, after the merge and whatever else the
     * node learnt meanwhile (cheaper in a join storm: no state in flight).
     * The agent (node/agent/stream.c) merges first and answers at once, between
     * the two. It changes convergence after joins, restarts and heals. */
    bool pp_reply_before_merge;
} sl_world_config;

/* Called for every membership event any node reports, with the node's index
 * and the virtual time. */
typedef void (*sl_world_event_fn)(void *ud, int node, uint64_t now_ms, const sl_swim_event *ev);

/* Creates an empty world at time 0. Returns NULL when out of memory. */
sl_world *sl_world_new(const sl_world_config *cfg);

/* Frees the world, its nodes and pending events. */
void sl_world_free(sl_world *w);

/* Sets the event observer (NULL to clear). */
void sl_world_on_event(sl_world *w, sl_world_event_fn fn, void *ud);

/* The application on every node (the runtime core, sim/runtime.c): the
 * world hands it the core's user callbacks and membership events, calls
 * `tick` at the time `deadline` asks for, and tells it when a node boots
 * (first start or restart, with its new core) and when it crashes (before
 * the core is freed). Every callback gets the node's index. A paused node's
 * application is paused too: its ticks wait for the resume. */
typedef struct sl_world_app {
    void (*boot)(void *ud, int node, sl_swim *core, bool restart, uint64_t now_ms);
    void (*crash)(void *ud, int node);
    int (*user_msg)(void *ud, int node, const uint8_t *buf, size_t len, uint64_t now_ms);
    int (*user_state)(void *ud, int node, uint8_t **out, size_t *len);
    int (*user_merge)(void *ud, int node, const uint8_t *buf, size_t len, uint64_t now_ms);
    void (*event)(void *ud, int node, const sl_swim_event *ev, uint64_t now_ms);
    void (*tick)(void *ud, int node, uint64_t now_ms);
    uint64_t (*deadline)(void *ud, int node); /* UINT64_MAX: none */
    void *ud;
} sl_world_app;

/* Installs the application (copied) before any node is added. */
void sl_world_set_app(sl_world *w, const sl_world_app *app);

/* Asks the world to look at node i's application deadline again, after the
 * caller changed its state outside a callback (a scenario's write). */
void sl_world_app_changed(sl_world *w, int index);

/* Adds a node named `name` (copied) with optional metadata, started now.
 * When seed >= 0 it joins through node `seed` with a push-pull. Returns the
 * new node's index, or a negative SL_E* code. */
int sl_world_add_node(sl_world *w, const char *name, const uint8_t *meta, size_t meta_len,
                      int seed);

/* Like sl_world_add_node, with a keyring of its own (copied; NULL: the node
 * sends and accepts only plain traffic), whatever cfg.sealed says: an
 * intruder with another key, or none. */
int sl_world_add_node_keyed(sl_world *w, const char *name, const uint8_t *meta, size_t meta_len,
                            int seed, const sl_keyring *keys);

/* The node's own keyring, which its core reads on every packet: change it
 * to rotate keys. NULL for a node without one. */
sl_keyring *sl_world_keyring(sl_world *w, int node);

/* Joining as the agent does with `--join SEEDS`. From this call on, every
 * node that boots (added or restarted) runs the agent's joining policy,
 * gossip/rejoin.c: a join round with every seed at once, retried with the
 * agent's backoff (1 s doubling to backoff_max_ms) while none answers, a
 * push-pull with one seed per push-pull interval while joined, and a new
 * round whenever no live peer is left. A round's exchange with a seed that
 * does not answer (down, paused, partitioned away, not started yet) fails
 * after timeout_ms (the agent's stream timeout, 10 s on lan and wan, 3 s
 * on local; 0 means 10 s); one with ourselves answers at once. The model
 * has no remembered peers and does not cap push-pulls in flight. seeds are
 * node indices (copied; nodes that do not exist yet are fine), at most
 * SL_REJOIN_SEEDS_MAX. Returns 0, SL_EINVAL or SL_ENOMEM. */
typedef struct sl_world_seeds {
    const int *seeds;
    int nseeds;
    uint32_t backoff_max_ms; /* sl_rejoin_backoff_max_ms(profile) */
    uint32_t timeout_ms;
} sl_world_seeds;
int sl_world_set_seeds(sl_world *w, const sl_world_seeds *s);

/* What the joining policy did over the run, all nodes together. */
typedef struct sl_world_rejoin_stats {
    uint64_t rounds;         /* join rounds ended */
    uint64_t rounds_failed;  /* of which no seed answered */
    uint64_t seed_pushpulls; /* push-pulls with a seed while joined */
    uint64_t lost_all;       /* rounds started because every live peer was gone */
} sl_world_rejoin_stats;
const sl_world_rejoin_stats *sl_world_rejoin(const sl_world *w);

/* Makes `node` join through `seed` with a push-pull exchange. */
void sl_world_join(sl_world *w, int node, int seed);

/* Stops a node at once, silently (a machine lost): its core is freed. */
void sl_world_crash(sl_world *w, int node);

/* Starts a fresh core under the same name and address with a higher
 * generation, joining through `seed` (if >= 0). Crashes it first if it still
 * runs. */
void sl_world_restart(sl_world *w, int node, int seed);

/* Asks a node to leave gracefully; it keeps running so the news spreads. */
void sl_world_leave(sl_world *w, int node);

/* Stalls a node for duration_ms: no receive, no timers. Datagrams that
 * arrive meanwhile wait in a bounded backlog, as in a socket buffer. */
void sl_world_pause(sl_world *w, int node, uint64_t duration_ms);

/* Like sl_world_pause(), but the stall starts just after the node's next
 * tick that sends a probe, or within_ms from now without one: a CPU-starved
 * process loses the CPU while it runs, and it runs when a timer wakes it,
 * so its probe is out when it stops and the ack waits in the backlog. A
 * node that probes less often (Lifeguard's health) is caught probing less
 * often. Ignored while the node is down, paused or already waiting. */
void sl_world_pause_at_probe(sl_world *w, int node, uint64_t duration_ms, uint64_t within_ms);

/* Cuts (or restores) the one-way link from -> to. */
void sl_world_set_cut(sl_world *w, int from, int to, bool cut);

/* Partitions the network: group[i] (0 <= i < n) is node i's group label, 0
 * for a node outside the partition. Datagrams and streams between nodes of
 * two different non-zero groups are lost, both ways, until sl_world_heal().
 * Partitions stack; the array is copied. Costs O(n) memory, where cutting
 * every pair with sl_world_set_cut() would cost O(n^2). Returns 0 or
 * SL_ENOMEM. */
int sl_world_partition(sl_world *w, const int *group, int n);

/* Sets the loss probability on every link of `node` (both directions). */
void sl_world_set_node_loss(sl_world *w, int node, double loss);

/* Lifts every cut, partition and per-node loss. */
void sl_world_heal(sl_world *w);

/* Runs events until virtual time t (inclusive); the clock then reads t. */
void sl_world_run_until(sl_world *w, uint64_t t_ms);

/* Runs until pred(w, ud) is true, checking after every event, or until
 * deadline_ms. Returns true when pred became true. */
bool sl_world_run_until_pred(sl_world *w, bool (*pred)(sl_world *w, void *ud), void *ud,
                             uint64_t deadline_ms);

/* Current virtual time. */
uint64_t sl_world_now(const sl_world *w);

/* Number of nodes ever added (crashed ones included). */
int sl_world_size(const sl_world *w);

/* The node's core, or NULL if it is crashed. Do not free it. */
sl_swim *sl_world_core(sl_world *w, int node);

/* Returns true when the node runs (not crashed; a paused node runs). */
bool sl_world_is_up(const sl_world *w, int node);

/* The node's name. */
const char *sl_world_name(const sl_world *w, int node);

/* What `observer` believes about `name`: 0 and *st, or SL_ENOTFOUND when it
 * does not know it (or the observer is down). */
int sl_world_state_of(sl_world *w, int observer, const char *name, sl_member_state *st);

/* Returns true when every running node other than the subject (and other
 * than nodes that have left) sees `name` in state st. */
bool sl_world_all_see(sl_world *w, const char *name, sl_member_state st);

/* Whether every running node holds every running node alive: a predicate
 * for sl_world_run_until_pred() (ud unused). O(n^2); for tests. */
bool sl_world_converged(sl_world *w, void *ud);

/* Total datagrams and bytes sent by all nodes so far. */
uint64_t sl_world_packets_sent(const sl_world *w);
uint64_t sl_world_bytes_sent(const sl_world *w);

/* Number of events processed so far. */
uint64_t sl_world_events_processed(const sl_world *w);

#endif
