/* Rejoin: when and whom a peer joins, rejoins and push-pulls with on its own.
 *
 * A join round tries a set of peers at once (a join exchange with each) and
 * ends with the number that answered. This module decides when to start one
 * and with whom, and when to push-pull with a seed; it performs nothing: no
 * sockets, no timers, no clock, no global randomness. The agent (node/agent/seeds.c)
 * starts the rounds and exchanges it asks for, logs, and calls again at the
 * time it asks for.
 *
 * The policy:
 *
 *   - At start, join the --join seeds, all of them in one round. A round in
 *     which none answered is retried after a backoff: 1 s, doubled after
 *     every failed round, at most backoff_max_ms (SL_REJOIN_BACKOFF_MAX_MS,
 *     or SL_REJOIN_BACKOFF_MAX_LOCAL_MS on the `local` profile). A round in
 *     which one answered resets the backoff.
 *   - Without seeds, rejoin the peers remembered in the data dir: a round
 *     tries SL_REJOIN_ROUND_MAX of them, consecutive in the list (wrapping),
 *     from a start drawn uniformly at random for every round. There is no
 *     stride: a round is one window, and a peer is in a given round's window
 *     with probability min(1, ROUND_MAX / nknown); over rounds every peer is
 *     tried with a probability that goes to 1, but no fixed number of rounds
 *     guarantees it.
 *   - Join again whenever no live peer is left (every other member dead or
 *     reaped: a partition, or a cluster restart). When that happens after a
 *     round had succeeded, the action says so (`lost_all`), for the log.
 *   - While live peers exist and seeds were given: one push-pull with a seed
 *     per push-pull interval, the seed (now / interval) % nseeds, so that two
 *     halves of a partition that have reaped each other find each other
 *     again. A turn that falls on ourselves is skipped, as is one while
 *     SL_REJOIN_PP_MAX push-pulls of ours are in flight; both use up the turn.
 *
 * One deadline serves both the join retries and the seed push-pull turns, as
 * it always did in node/agent/seeds.c: a successful round sets it to `now`, and
 * every seed push-pull turn moves it one interval on. So with seeds, a peer
 * that loses every live peer rejoins at its next push-pull turn (up to one
 * interval later), not at once; without seeds (no turns) it rejoins at once.
 *
 * The live peer count is not an event the caller reports but an input of
 * every step, so the module asks to be called again at least every
 * SL_REJOIN_CHECK_MS while it may have to react to it.
 *
 * Why in gossip/: it is the membership's own joining policy, beside the
 * push-pull it drives, and needs nothing of placement. */
#ifndef STARLING_REJOIN_H
#define STARLING_REJOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/addr.h"
#include "starling/rng.h"

#define SL_REJOIN_ROUND_MAX 8                /* remembered peers tried in one round */
#define SL_REJOIN_CHECK_MS 500               /* how often the live count is looked at */
#define SL_REJOIN_BACKOFF_MIN_MS 1000u       /* the first retry, then doubled */
#define SL_REJOIN_BACKOFF_MAX_MS 30000u      /* the backoff's cap, lan and wan */
#define SL_REJOIN_BACKOFF_MAX_LOCAL_MS 5000u /* the cap on the `local` profile */
#define SL_REJOIN_PP_MAX 4                   /* our own push-pulls in flight, at most */
#define SL_REJOIN_SEEDS_MAX 64               /* seeds, at most (one bit each in self_seeds) */
#define SL_REJOIN_NEVER UINT64_MAX           /* next_ms when nothing will ever happen */

typedef struct sl_rejoin_config {
    int nseeds;              /* --join seeds, 0 to SL_REJOIN_SEEDS_MAX */
    uint64_t self_seeds;     /* bit i set: seed i is ourselves */
    size_t nknown;           /* remembered peers (used only without seeds) */
    uint32_t backoff_max_ms; /* see sl_rejoin_backoff_max_ms() */
    uint64_t rng_seed;       /* seeds the generator of the remembered windows' starts */
} sl_rejoin_config;

/* The state. In place, no heap memory: _init, no _deinit. */
typedef struct sl_rejoin {
    sl_rejoin_config cfg;
    sl_rng rng;
    uint64_t next_ms;    /* the next join retry or seed push-pull turn */
    uint32_t backoff_ms; /* the last backoff, 0 after a success */
    bool joined_once;    /* a round succeeded since the last rejoin began */
    bool started;        /* the first round was asked for */
} sl_rejoin;

/* What a step reads. */
typedef struct sl_rejoin_input {
    uint64_t now_ms;               /* monotonic */
    size_t live_peers;             /* live members other than ourselves (alive or suspect) */
    bool round_in_flight;          /* a round started by us has not ended yet */
    int pp_out;                    /* our own periodic push-pulls in flight */
    uint32_t pushpull_interval_ms; /* the core's push-pull interval, 0 for none */
} sl_rejoin_input;

typedef enum sl_rejoin_kind {
    SL_REJOIN_NONE,       /* nothing to do now */
    SL_REJOIN_JOIN_SEEDS, /* start a join round with every seed */
    SL_REJOIN_JOIN_KNOWN, /* start one with the remembered peers start .. start+count-1 */
    SL_REJOIN_PUSHPULL,   /* push-pull (not a join) with seed `seed` */
    SL_REJOIN_KIND_COUNT,
} sl_rejoin_kind;

/* Printable names of sl_rejoin_kind, indexed by it. */
extern const char *const sl_rejoin_kind_names[SL_REJOIN_KIND_COUNT];

/* What a step decided. */
typedef struct sl_rejoin_action {
    sl_rejoin_kind kind;
    size_t start, count; /* JOIN_KNOWN: the window, indices modulo nknown */
    int seed;            /* PUSHPULL: the seed's index; otherwise -1 */
    bool lost_all;       /* a join that starts because every live peer is gone
                          * after a successful round: worth a log line */
    uint64_t next_ms;    /* call sl_rejoin_step() again at this time */
} sl_rejoin_action;

/* What the end of a round changed, for the log. */
typedef struct sl_rejoin_done {
    bool joined;       /* at least one peer answered */
    uint32_t retry_ms; /* when not: the backoff before the next round */
} sl_rejoin_done;

/* Returns the backoff cap of a profile ("local", "lan", "wan"; NULL is lan). */
uint32_t sl_rejoin_backoff_max_ms(const char *profile);

/* Returns true when seed (HOST:PORT as given to --join) is the address we
 * advertise. Names are not resolved: a seed given by name is never ourselves.
 * Both are borrowed for the call. */
bool sl_rejoin_seed_is_self(const char *seed, const sl_addr *advertise);

/* Initialises r with cfg (copied; nseeds is clamped to 0..SEEDS_MAX).
 * Decides nothing yet. */
void sl_rejoin_init(sl_rejoin *r, const sl_rejoin_config *cfg);

/* Returns true when there is anything to join at all: seeds or remembered
 * peers. Without either, the first peer of a new cluster waits to be joined,
 * and sl_rejoin_step() always answers NONE with next_ms SL_REJOIN_NEVER. */
bool sl_rejoin_enabled(const sl_rejoin *r);

/* Decides what to do at in->now_ms (borrowed) and returns it. The first step
 * after init starts a join round whatever the inputs say (when enabled). A
 * join action is given once: the caller starts the round and reports
 * round_in_flight until it ends (sl_rejoin_round_done()); if it could not
 * start it at all, it reports nothing and the next step, SL_REJOIN_CHECK_MS
 * later, asks again. Nothing is asked for while a round is in flight. */
sl_rejoin_action sl_rejoin_step(sl_rejoin *r, const sl_rejoin_input *in);

/* Records that the round of the last join action ended at now_ms with ok
 * peers joined: resets the backoff on success, otherwise backs off. Returns
 * what changed. The step the caller has pending (at most SL_REJOIN_CHECK_MS
 * away while a round is in flight) acts on it; it need not call sooner. */
sl_rejoin_done sl_rejoin_round_done(sl_rejoin *r, uint64_t now_ms, int ok);

#endif
