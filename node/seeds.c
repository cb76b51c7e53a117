/* Joining and re-joining.
 *
 * A join round tries a set of peers at once (a join exchange with each, see
 * stream.c) and reports how many answered. The seed timer uses rounds to:
 *
 *   - join the --join seeds at start, retrying with exponential backoff until
 *     one answers;
 *   - without --join, rejoin the peers remembered in the data dir;
 *   - join again whenever we find ourselves without a single live peer (every
 *     other member dead or reaped: a partition, or a cluster restart);
 *   - while joined, push-pull now and then with a seed, so that two halves of
 *     a partition find each other again even after they have reaped each
 *     other (the core itself keeps trying the members it believes dead until
 *     it reaps them).
 *
 * The RPC's `join` command uses rounds too. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"

/* Peers tried in one round when rejoining remembered peers. */
#define ROUND_MAX 8
/* How often the seed timer looks at the membership. */
#define CHECK_MS 500

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

static uint32_t backoff_max_ms(const sl__agent *a)
{
    return strcmp(a->cfg.profile, "local") ? 30000 : 5000;
}

static void seed_round_done(void *ud, int ok, int first_error)
{
    sl__agent *a = ud;
    a->seed_join = NULL;
    if (a->stopping || a->leaving)
        return;
    a->ctr.joins_ok += (uint64_t)ok;
    a->ctr.joins_failed += ok > 0 ? 0 : 1;
    uint64_t now = sl__agent_now(a);
    const char *what = a->cfg.nseeds ? "seeds" : "remembered peers";
    if (ok > 0) {
        sl__info("joined the cluster through %d of the %s (%zu live peers)", ok, what,
                 sl__agent_live_peers(a));
        a->joined_once = true;
        a->seed_backoff_ms = 0;
        a->seed_next_ms = now;
        return;
    }
    a->seed_backoff_ms = a->seed_backoff_ms ? a->seed_backoff_ms * 2 : 1000;
    if (a->seed_backoff_ms > backoff_max_ms(a))
        a->seed_backoff_ms = backoff_max_ms(a);
    a->seed_next_ms = now + a->seed_backoff_ms;
    sl__warn("cannot join any of the %s (%s); retrying in %u ms", what,
             first_error ? uv_strerror(first_error) : "no answer", a->seed_backoff_ms);
}

/* Starts a join round with the seeds, or with up to ROUND_MAX remembered
 * peers: consecutive ones from a random start. */
static void join_round(sl__agent *a)
{
    const char *hosts[SL__SEEDS_MAX];
    sl_addr picked[ROUND_MAX];
    size_t n = 0;
    if (a->cfg.nseeds) {
        for (int i = 0; i < a->cfg.nseeds; i++)
            hosts[n++] = a->cfg.seeds[i];
        a->seed_join = sl__join_start(a, hosts, NULL, n, seed_round_done, a);
        return;
    }
    /* ROUND_MAX consecutive peers from a random start: a round tries a
     * random window of the list, and rounds together reach every peer. */
    size_t start = a->nknown ? randombytes_uniform((uint32_t)a->nknown) : 0;
    for (size_t i = 0; i < a->nknown && n < ROUND_MAX; i++)
        picked[n++] = a->known[(start + i) % a->nknown];
    a->seed_join = sl__join_start(a, NULL, picked, n, seed_round_done, a);
}

/* While joined: one push-pull with a seed per push-pull interval. The
 * exchange is cheap, and it is what reunites two halves that have reaped
 * each other. */
static void seed_pushpull(sl__agent *a, uint64_t now)
{
    uint32_t interval = sl_swim_get_timing(a->swim)->pushpull_interval_ms;
    if (!interval || !a->cfg.nseeds || now < a->seed_next_ms)
        return;
    a->seed_next_ms = now + interval;
    const char *seed = a->cfg.seeds[(now / interval) % (uint64_t)a->cfg.nseeds];
    sl_addr addr;
    char self[SL_ADDR_STRLEN], other[SL_ADDR_STRLEN];
    if (sl_addr_parse(seed, 0, &addr) == 0 &&
        !strcmp(sl_addr_format(&addr, other, sizeof other),
                sl_addr_format(&a->cfg.advertise, self, sizeof self)))
        return; /* we are that seed */
    if (a->pp_out < 4)
        sl__pp_start(a, seed, NULL, false, NULL, NULL);
}

static void on_seed_timer(uv_timer_t *t)
{
    sl__agent *a = t->data;
    if (a->leaving || a->stopping || a->seed_join)
        return;
    uint64_t now = sl__agent_now(a);
    if (sl__agent_live_peers(a) > 0) {
        seed_pushpull(a, now);
        return;
    }
    if (now < a->seed_next_ms)
        return;
    if (a->joined_once)
        sl__info("no live peer left; rejoining");
    a->joined_once = false;
    join_round(a);
}

void sl__seeds_start(sl__agent *a)
{
    if (!a->cfg.nseeds && !a->nknown)
        return; /* the first peer of a new cluster waits to be joined */
    if (!a->cfg.nseeds)
        sl__info("rejoining %zu remembered peers", a->nknown);
    a->seed_next_ms = sl__agent_now(a);
    join_round(a);
    uv_timer_start(&a->seeds, on_seed_timer, CHECK_MS, CHECK_MS);
}
