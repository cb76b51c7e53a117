/* Joining and re-joining: the I/O half.
 *
 * A join round tries a set of peers at once (a join exchange with each, see
 * stream.c) and reports how many answered. The RPC's `join` command uses
 * rounds too.
 *
 * When to start a round and with whom, the backoff, the rejoin when no live
 * peer is left and the seed push-pull turns are decided by the sans-IO
 * policy in gossip/rejoin.c (include/starling/rejoin.h says what it does).
 * The seed timer here only feeds it the clock, the live peer count and what
 * is in flight, performs the action it returns (a round through
 * sl__join_start(), a push-pull through sl__pp_start()), logs, and fires
 * again at the time it asks for. */
#include <sodium.h>
#include <stdlib.h>

#include "agent/agent.h"
#include "agent/log.h"

struct sl__join {
    sl__agent *a;
    int pending;
    int ok;
    int first_error;
    sl__join_done done;
    void *ud;
};

static void one_done(void *ud, int status)
{
    sl__join *j = ud;
    if (status == 0)
        j->ok++;
    else if (!j->first_error)
        j->first_error = status;
    if (--j->pending > 0)
        return;
    if (j->done)
        j->done(j->ud, j->ok, j->first_error);
    free(j);
}

sl__join *sl__join_start(sl__agent *a, const char *const *hosts, const sl_addr *addrs, size_t n,
                         sl__join_done done, void *ud)
{
    sl__join *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->a = a;
    j->done = done;
    j->ud = ud;
    for (size_t i = 0; i < n; i++) {
        int rc =
            sl__pp_start(a, hosts ? hosts[i] : NULL, addrs ? &addrs[i] : NULL, true, one_done, j);
        if (rc == 0)
            j->pending++;
        else if (!j->first_error)
            j->first_error = rc;
    }
    if (j->pending == 0) {
        free(j);
        return NULL;
    }
    return j;
}

void sl__join_detach(sl__join *j)
{
    j->done = NULL;
}

static void seed_round_done(void *ud, int ok, int first_error)
{
    sl__agent *a = ud;
    a->seeding.join = NULL;
    if (a->stopping || a->leaving)
        return;
    a->ctr.joins_ok += (uint64_t)ok;
    a->ctr.joins_failed += ok > 0 ? 0 : 1;
    sl_rejoin_done d = sl_rejoin_round_done(&a->seeding.rejoin, sl__agent_now(a), ok);
    const char *what = a->cfg.nseeds ? "seeds" : "remembered peers";
    if (d.joined)
        sl__info("joined the cluster through %d of the %s (%zu live peers)", ok, what,
                 sl_swim_live_peers(a->swim));
    else
        sl__warn("cannot join any of the %s (%s); retrying in %u ms", what,
                 first_error ? uv_strerror(first_error) : "no answer", d.retry_ms);
    /* The seed timer is due within SL_REJOIN_CHECK_MS (it polls while a round
     * is in flight) and acts on the new state then. */
}

/* Starts the round act asks for: every seed, or the window act->start,
 * act->count of the remembered peers. */
static void join_round(sl__agent *a, const sl_rejoin_action *act)
{
    const char *hosts[SL__SEEDS_MAX];
    sl_addr picked[SL_REJOIN_ROUND_MAX];
    size_t n = 0;
    if (act->lost_all)
        sl__info("no live peer left; rejoining");
    if (act->kind == SL_REJOIN_JOIN_SEEDS) {
        for (int i = 0; i < a->cfg.nseeds; i++)
            hosts[n++] = a->cfg.seeds[i];
        a->seeding.join = sl__join_start(a, hosts, NULL, n, seed_round_done, a);
        return;
    }
    for (size_t i = 0; i < act->count && i < SL_REJOIN_ROUND_MAX && a->nknown; i++)
        picked[n++] = a->known[(act->start + i) % a->nknown];
    a->seeding.join = sl__join_start(a, NULL, picked, n, seed_round_done, a);
}

static void on_seed_timer(uv_timer_t *t);

/* Performs what the policy decided at now and arms the timer for its next
 * step. */
static void seed_step(sl__agent *a, uint64_t now)
{
    sl_rejoin_input in = {
        .now_ms = now,
        .live_peers = sl_swim_live_peers(a->swim),
        .round_in_flight = a->seeding.join != NULL,
        .pp_out = a->streams.out,
        .pushpull_interval_ms = sl_swim_get_timing(a->swim)->pushpull_interval_ms,
    };
    sl_rejoin_action act = sl_rejoin_step(&a->seeding.rejoin, &in);
    switch (act.kind) {
    case SL_REJOIN_JOIN_SEEDS:
    case SL_REJOIN_JOIN_KNOWN: join_round(a, &act); break;
    case SL_REJOIN_PUSHPULL:
        sl__pp_start(a, a->cfg.seeds[act.seed], NULL, false, NULL, NULL);
        break;
    case SL_REJOIN_NONE:
    case SL_REJOIN_KIND_COUNT: break;
    }
    if (act.next_ms == SL_REJOIN_NEVER)
        return;
    uv_timer_start(&a->seeding.timer, on_seed_timer, act.next_ms > now ? act.next_ms - now : 0, 0);
}

static void on_seed_timer(uv_timer_t *t)
{
    sl__agent *a = t->data;
    if (a->leaving || a->stopping)
        return; /* both end the agent: no more joining */
    seed_step(a, sl__agent_now(a));
}

void sl__seeds_start(sl__agent *a)
{
    sl_rejoin_config cfg = {
        .nseeds = a->cfg.nseeds,
        .nknown = a->nknown,
        .backoff_max_ms = sl_rejoin_backoff_max_ms(a->cfg.profile),
    };
    for (int i = 0; i < a->cfg.nseeds && i < SL_REJOIN_SEEDS_MAX; i++)
        if (sl_rejoin_seed_is_self(a->cfg.seeds[i], &a->cfg.advertise))
            cfg.self_seeds |= (uint64_t)1 << i;
    randombytes_buf(&cfg.rng_seed, sizeof cfg.rng_seed);
    sl_rejoin_init(&a->seeding.rejoin, &cfg);
    if (!sl_rejoin_enabled(&a->seeding.rejoin))
        return; /* the first peer of a new cluster waits to be joined */
    if (!a->cfg.nseeds)
        sl__info("rejoining %zu remembered peers", a->nknown);
    seed_step(a, sl__agent_now(a));
}
