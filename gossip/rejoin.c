/* Rejoin: the joining policy of a peer, as a state machine (see the essay in
 * include/starling/rejoin.h).
 *
 * Three things happen here and nowhere else:
 *
 *   - the backoff of failed join rounds (1 s doubling to a cap, reset by a
 *     success),
 *   - the choice of whom a round tries (every seed, or a window of the
 *     remembered peers from a random start drawn with the caller-seeded
 *     generator),
 *   - the seed push-pull turns while joined.
 *
 * The caller owns every effect: it starts the rounds and the exchanges, it
 * logs, and it calls sl_rejoin_step() again no later than the returned
 * next_ms. The live peer count is polled (an input of every step), which is
 * why a step never asks to sleep longer than SL_REJOIN_CHECK_MS while it may
 * have to react to it. */
#include "starling/rejoin.h"

#include <string.h>

const char *const sl_rejoin_kind_names[SL_REJOIN_KIND_COUNT] = {
    [SL_REJOIN_NONE] = "none",
    [SL_REJOIN_JOIN_SEEDS] = "join-seeds",
    [SL_REJOIN_JOIN_KNOWN] = "join-known",
    [SL_REJOIN_PUSHPULL] = "pushpull",
};

uint32_t sl_rejoin_backoff_max_ms(const char *profile)
{
    return profile && !strcmp(profile, "local") ? SL_REJOIN_BACKOFF_MAX_LOCAL_MS
                                                : SL_REJOIN_BACKOFF_MAX_MS;
}

bool sl_rejoin_seed_is_self(const char *seed, const sl_addr *advertise)
{
    sl_addr addr;
    char self[SL_ADDR_STRLEN], other[SL_ADDR_STRLEN];
    /* Compared as formatted strings, as node/agent/seeds.c always did: the same
     * address in two spellings (say a zero-padded port) counts as one. */
    return sl_addr_parse(seed, 0, &addr) == 0 &&
           !strcmp(sl_addr_format(&addr, other, sizeof other),
                   sl_addr_format(advertise, self, sizeof self));
}

void sl_rejoin_init(sl_rejoin *r, const sl_rejoin_config *cfg)
{
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    if (r->cfg.nseeds < 0)
        r->cfg.nseeds = 0;
    if (r->cfg.nseeds > SL_REJOIN_SEEDS_MAX)
        r->cfg.nseeds = SL_REJOIN_SEEDS_MAX;
    if (r->cfg.backoff_max_ms < SL_REJOIN_BACKOFF_MIN_MS)
        r->cfg.backoff_max_ms = SL_REJOIN_BACKOFF_MIN_MS;
    sl_rng_seed(&r->rng, cfg->rng_seed);
}

bool sl_rejoin_enabled(const sl_rejoin *r)
{
    return r->cfg.nseeds > 0 || r->cfg.nknown > 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* A join round: every seed, or a window of the remembered peers. */
static sl_rejoin_action join(sl_rejoin *r, uint64_t now)
{
    sl_rejoin_action act = {.kind = SL_REJOIN_JOIN_SEEDS, .seed = -1};
    act.lost_all = r->joined_once;
    r->joined_once = false;
    if (r->cfg.nseeds == 0) {
        act.kind = SL_REJOIN_JOIN_KNOWN;
        act.start = (size_t)sl_rng_below(&r->rng, r->cfg.nknown);
        act.count = r->cfg.nknown < SL_REJOIN_ROUND_MAX ? r->cfg.nknown : SL_REJOIN_ROUND_MAX;
    }
    act.next_ms = now + SL_REJOIN_CHECK_MS;
    return act;
}

/* While joined: the seed push-pull turn, if it is due. */
static sl_rejoin_action pushpull(sl_rejoin *r, const sl_rejoin_input *in)
{
    uint64_t now = in->now_ms, interval = in->pushpull_interval_ms;
    sl_rejoin_action act = {.kind = SL_REJOIN_NONE, .seed = -1};
    act.next_ms = now + SL_REJOIN_CHECK_MS;
    if (!interval || r->cfg.nseeds == 0)
        return act;
    if (now < r->next_ms) {
        act.next_ms = min_u64(r->next_ms, act.next_ms);
        return act;
    }
    r->next_ms = now + interval;
    act.next_ms = min_u64(r->next_ms, act.next_ms);
    int i = (int)((now / interval) % (uint64_t)r->cfg.nseeds);
    if (r->cfg.self_seeds >> i & 1)
        return act; /* we are that seed: the turn passes */
    if (in->pp_out >= SL_REJOIN_PP_MAX)
        return act; /* enough of ours in flight: the turn passes */
    act.kind = SL_REJOIN_PUSHPULL;
    act.seed = i;
    return act;
}

sl_rejoin_action sl_rejoin_step(sl_rejoin *r, const sl_rejoin_input *in)
{
    uint64_t now = in->now_ms;
    sl_rejoin_action act = {.kind = SL_REJOIN_NONE, .seed = -1, .next_ms = SL_REJOIN_NEVER};
    if (!sl_rejoin_enabled(r))
        return act;
    if (!r->started) {
        r->started = true;
        r->next_ms = now;
        return join(r, now);
    }
    if (in->round_in_flight) {
        act.next_ms = now + SL_REJOIN_CHECK_MS;
        return act;
    }
    if (in->live_peers > 0)
        return pushpull(r, in);
    if (now < r->next_ms) {
        /* Alone and backing off (or waiting for the push-pull turn): nothing
         * changes before next_ms whatever the live count does meanwhile. */
        act.next_ms = r->next_ms;
        return act;
    }
    return join(r, now);
}

sl_rejoin_done sl_rejoin_round_done(sl_rejoin *r, uint64_t now_ms, int ok)
{
    sl_rejoin_done d = {.joined = ok > 0};
    if (ok > 0) {
        r->joined_once = true;
        r->backoff_ms = 0;
        r->next_ms = now_ms;
        return d;
    }
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : SL_REJOIN_BACKOFF_MIN_MS;
    if (r->backoff_ms > r->cfg.backoff_max_ms)
        r->backoff_ms = r->cfg.backoff_max_ms;
    r->next_ms = now_ms + r->backoff_ms;
    d.retry_ms = r->backoff_ms;
    return d;
}
