/* The fake world: a discrete-event driver for many sl_swim cores.
 *
 * The world is three files, sharing the structs and the cross-file
 * functions of sim/world_internal.h:
 *
 *   world.c       this file: the world and its nodes, the node driver (boot,
 *                 crash, restart, leave, pause, timers, the application's
 *                 hooks, the seeds' joining policy), running, and queries;
 *   world_heap.c  the event heap, the virtual clock's order;
 *   world_net.c   the network model: latency, loss, cuts, partitions,
 *                 datagram delivery and the two legs of a push-pull.
 *
 * Everything happens in a heap of events ordered by (time in microseconds,
 * insertion sequence), so that two runs with the same seed pop events in
 * exactly the same order. Kinds of event: a node's timer (call
 * sl_swim_tick), a datagram delivery (sl_swim_recv), a push-pull leg (merge
 * a state, maybe reply), the end of a pause, the application's timer, the
 * joining policy's timer, and the end of a join round.
 *
 * Each node's timer is kept as one pending TICK event at the core's next
 * deadline. After every call into a core we ask for its deadline again and
 * push a new TICK only when it is earlier than the one pending; a TICK that
 * pops at a time other than the node's current timer is stale and ignored.
 * The application's timer (APP) and the joining policy's (REJOIN) work the
 * same way.
 *
 * Every node has a life counter, bumped on crash and restart, so that timers
 * and stream replies meant for a dead process never reach its successor.
 * Datagrams in flight do reach a restarted node, as they would on a network. */
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/rejoin.h"
#include "starling/rng.h"
#include "world.h"
#include "world_internal.h"

/* ---- membership events and the core's callbacks to the application ---- */

static void schedule_app(sl_world *w, sl__world_node *n);

static void net_event(void *ud, const sl_swim_event *ev)
{
    sl__world_node *n = ud;
    if (n->w->on_event)
        n->w->on_event(n->w->on_event_ud, n->index, n->w->now_us / 1000, ev);
    if (n->w->has_app && n->w->app.event) {
        n->w->app.event(n->w->app.ud, n->index, ev, n->w->now_us / 1000);
        schedule_app(n->w, n);
    }
}

/* The core's user callbacks, passed to the application. */
static int app_user_msg(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    sl__world_node *n = ud;
    int rc = n->w->app.user_msg(n->w->app.ud, n->index, buf, len, now_ms);
    schedule_app(n->w, n);
    return rc;
}

static int app_user_state(void *ud, uint8_t **out, size_t *len)
{
    sl__world_node *n = ud;
    return n->w->app.user_state(n->w->app.ud, n->index, out, len);
}

static int app_user_merge(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    sl__world_node *n = ud;
    int rc = n->w->app.user_merge(n->w->app.ud, n->index, buf, len, now_ms);
    schedule_app(n->w, n);
    return rc;
}

/* ---- nodes ---- */

/* Makes sure a TICK is pending at or before the core's next deadline. */
void sl__world_schedule(sl_world *w, sl__world_node *n)
{
    if (!n->core || n->paused)
        return;
    uint64_t d = sl_swim_next_deadline(n->core) * 1000;
    if (d < w->now_us)
        d = w->now_us;
    if (d >= n->timer_us)
        return;
    n->timer_us = d;
    sl__world_heap_push(
        w, (sl__world_event){
               .at_us = d, .type = SL__WORLD_EV_TICK, .node = n->index, .life = n->life});
}

/* Makes sure an APP event is pending at or before the application's next
 * deadline on node n. */
static void schedule_app(sl_world *w, sl__world_node *n)
{
    if (!w->has_app || !n->core || n->paused)
        return;
    uint64_t d = w->app.deadline(w->app.ud, n->index);
    if (d == UINT64_MAX)
        return;
    d = d > UINT64_MAX / 1000 ? UINT64_MAX : d * 1000;
    if (d < w->now_us)
        d = w->now_us;
    if (d >= n->app_timer_us)
        return;
    n->app_timer_us = d;
    sl__world_heap_push(
        w,
        (sl__world_event){.at_us = d, .type = SL__WORLD_EV_APP, .node = n->index, .life = n->life});
}

void sl_world_set_app(sl_world *w, const sl_world_app *app)
{
    w->app = *app;
    w->has_app = true;
}

void sl_world_app_changed(sl_world *w, int index)
{
    if (index >= 0 && index < w->nnodes)
        schedule_app(w, w->nodes[index]);
}

/* ---- joining through seeds: the agent's policy, gossip/rejoin.c ---- */

static void rejoin_step(sl_world *w, sl__world_node *n);

/* Ends n's open join round with the answers it got. The next step, pending
 * within SL_REJOIN_CHECK_MS, acts on it, as in the agent (node/agent/seeds.c). */
void sl__world_round_end(sl_world *w, sl__world_node *n)
{
    n->round_open = false;
    sl_rejoin_done d = sl_rejoin_round_done(&n->rejoin, w->now_us / 1000, n->round_ok);
    w->rejoin_stats.rounds++;
    if (!d.joined)
        w->rejoin_stats.rounds_failed++;
}

/* A join exchange with every seed at once. An exchange with ourselves
 * answers at once, as the agent's exchange with its own address does; one
 * with a seed that is down, paused, partitioned away or not started yet is
 * never answered and fails when the round times out (the agent's stream
 * timeout; a real refusal would end it sooner). */
static void round_start(sl_world *w, sl__world_node *n)
{
    n->round++;
    n->round_open = true;
    n->round_ok = 0;
    n->round_pending = 0;
    for (int i = 0; i < w->nseeds; i++) {
        if (w->seeds[i] == n->index) {
            n->round_ok++;
            continue;
        }
        sl__world_start_pushpull(w, n, w->seeds[i], true, n->round);
        n->round_pending++;
    }
    if (n->round_pending == 0) {
        sl__world_round_end(w, n);
        return;
    }
    sl__world_heap_push(w,
                        (sl__world_event){.at_us = w->now_us + (uint64_t)w->seed_timeout_ms * 1000,
                                          .type = SL__WORLD_EV_ROUND_END,
                                          .node = n->index,
                                          .life = n->life,
                                          .round = n->round});
}

/* Asks the policy what to do now, does it, and sets the timer for the time
 * it asks for. Calling it early is harmless: the step decides by the time. */
static void rejoin_step(sl_world *w, sl__world_node *n)
{
    if (!w->nseeds || !n->core || n->paused)
        return;
    sl_rejoin_input in = {
        .now_ms = w->now_us / 1000,
        .live_peers = sl_swim_live_peers(n->core),
        .round_in_flight = n->round_open,
        .pp_out = 0, /* the model does not cap push-pulls in flight */
        .pushpull_interval_ms = sl_swim_get_timing(n->core)->pushpull_interval_ms,
    };
    sl_rejoin_action act = sl_rejoin_step(&n->rejoin, &in);
    switch (act.kind) {
    case SL_REJOIN_JOIN_SEEDS: round_start(w, n); break;
    case SL_REJOIN_PUSHPULL:
        w->rejoin_stats.seed_pushpulls++;
        sl__world_start_pushpull(w, n, w->seeds[act.seed], false, 0);
        break;
    case SL_REJOIN_JOIN_KNOWN: /* the model has no remembered peers */
    case SL_REJOIN_NONE:
    case SL_REJOIN_KIND_COUNT: break;
    }
    if (act.lost_all)
        w->rejoin_stats.lost_all++;
    if (act.next_ms == SL_REJOIN_NEVER || !n->core)
        return;
    uint64_t at = act.next_ms > UINT64_MAX / 1000 ? UINT64_MAX : act.next_ms * 1000;
    if (at < w->now_us)
        at = w->now_us;
    n->rejoin_timer_us = at;
    sl__world_heap_push(
        w, (sl__world_event){
               .at_us = at, .type = SL__WORLD_EV_REJOIN, .node = n->index, .life = n->life});
}

/* A fresh process's policy: what `starling agent --join SEEDS` starts with. */
static void rejoin_boot(sl_world *w, sl__world_node *n)
{
    n->rejoin_timer_us = UINT64_MAX;
    n->round_open = false;
    if (!w->nseeds)
        return;
    sl_rejoin_config cfg = {
        .nseeds = w->nseeds,
        .backoff_max_ms = w->seed_backoff_max_ms,
        .rng_seed = sl_mix64(w->cfg.seed ^ 0x7365656473ull ^ ((uint64_t)n->index << 24) ^ n->gen),
    };
    for (int i = 0; i < w->nseeds; i++)
        if (w->seeds[i] == n->index)
            cfg.self_seeds |= (uint64_t)1 << i;
    sl_rejoin_init(&n->rejoin, &cfg);
    rejoin_step(w, n);
}

int sl_world_set_seeds(sl_world *w, const sl_world_seeds *s)
{
    if (s->nseeds < 0 || s->nseeds > SL_REJOIN_SEEDS_MAX)
        return SL_EINVAL;
    int *copy = NULL;
    if (s->nseeds) {
        copy = malloc((size_t)s->nseeds * sizeof *copy);
        if (!copy)
            return SL_ENOMEM;
        memcpy(copy, s->seeds, (size_t)s->nseeds * sizeof *copy);
    }
    free(w->seeds);
    w->seeds = copy;
    w->nseeds = s->nseeds;
    w->seed_backoff_max_ms = s->backoff_max_ms;
    w->seed_timeout_ms = s->timeout_ms ? s->timeout_ms : 10000;
    return 0;
}

const sl_world_rejoin_stats *sl_world_rejoin(const sl_world *w)
{
    return &w->rejoin_stats;
}

static int boot(sl_world *w, sl__world_node *n, bool restart)
{
    sl_swim_config cfg = {
        .name = n->name,
        .addr = n->addr,
        .cluster = w->cluster,
        .generation = n->gen,
        .seed = sl_mix64(w->cfg.seed ^ sl_mix64(((uint64_t)n->index << 20) ^ n->gen)),
        .timing = w->cfg.timing,
        .meta = n->meta,
        .meta_len = n->meta_len,
        .cb = {.send = sl__world_net_send,
               .event = net_event,
               .pushpull = sl__world_net_pushpull,
               .entropy = sl__world_net_entropy,
               .ud = n},
        .keyring = n->keyring,
    };
    if (w->has_app) {
        cfg.cb.user_msg = app_user_msg;
        cfg.cb.user_state = app_user_state;
        cfg.cb.user_merge = app_user_merge;
    }
    int rc = sl_swim_new(&cfg, w->now_us / 1000, &n->core);
    if (rc != 0)
        return rc;
    n->timer_us = UINT64_MAX;
    n->app_timer_us = UINT64_MAX;
    if (w->has_app)
        w->app.boot(w->app.ud, n->index, n->core, restart, w->now_us / 1000);
    sl__world_schedule(w, n);
    schedule_app(w, n);
    rejoin_boot(w, n);
    return 0;
}

int sl_world_add_node(sl_world *w, const char *name, const uint8_t *meta, size_t meta_len, int seed)
{
    return sl_world_add_node_keyed(w, name, meta, meta_len, seed,
                                   w->cfg.sealed ? &w->keyring : NULL);
}

int sl_world_add_node_keyed(sl_world *w, const char *name, const uint8_t *meta, size_t meta_len,
                            int seed, const sl_keyring *keys)
{
    if (w->nnodes >= (1 << 24))
        return SL_EINVAL;
    if (w->nnodes == w->nodes_cap) {
        int cap = w->nodes_cap ? w->nodes_cap * 2 : 64;
        sl__world_node **ns = realloc(w->nodes, (size_t)cap * sizeof *ns);
        if (!ns)
            return SL_ENOMEM;
        w->nodes = ns;
        w->nodes_cap = cap;
    }
    sl__world_node *n = calloc(1, sizeof *n);
    if (!n || !(n->name = strdup(name)) || (keys && !(n->keyring = malloc(sizeof *n->keyring)))) {
        if (n)
            free(n->name);
        free(n);
        return SL_ENOMEM;
    }
    if (keys)
        *n->keyring = *keys;
    n->w = w;
    n->index = w->nnodes;
    n->addr = sl_addr_v4(127, (uint8_t)(n->index >> 16), (uint8_t)(n->index >> 8),
                         (uint8_t)n->index, 7946);
    n->gen = 1;
    if (meta_len) {
        n->meta = malloc(meta_len);
        if (n->meta)
            memcpy(n->meta, meta, meta_len);
        n->meta_len = n->meta ? meta_len : 0;
    }
    w->nodes[w->nnodes++] = n; /* before boot: the application may look it up */
    int rc = boot(w, n, false);
    if (rc != 0) {
        w->nnodes--;
        free(n->keyring);
        free(n->meta);
        free(n->name);
        free(n);
        return rc;
    }
    if (seed >= 0)
        sl_world_join(w, n->index, seed);
    return n->index;
}

void sl_world_join(sl_world *w, int index, int seed)
{
    if (index < 0 || index >= w->nnodes || seed < 0 || seed >= w->nnodes)
        return;
    sl__world_start_pushpull(w, w->nodes[index], seed, true, 0);
}

static void drop_backlog(sl__world_node *n)
{
    for (uint32_t i = 0; i < n->nbacklog; i++)
        free(n->backlog[i].data);
    n->nbacklog = 0;
}

void sl_world_crash(sl_world *w, int index)
{
    if (index < 0 || index >= w->nnodes)
        return;
    sl__world_node *n = w->nodes[index];
    if (w->has_app && n->core)
        w->app.crash(w->app.ud, index);
    sl_swim_free(n->core);
    n->core = NULL;
    n->paused = false;
    n->stall_ms = 0;
    n->life++;
    n->timer_us = UINT64_MAX;
    n->app_timer_us = UINT64_MAX;
    drop_backlog(n);
}

void sl_world_restart(sl_world *w, int index, int seed)
{
    if (index < 0 || index >= w->nnodes)
        return;
    sl__world_node *n = w->nodes[index];
    if (n->core)
        sl_world_crash(w, index);
    n->gen++;
    if (boot(w, n, true) == 0 && seed >= 0 && seed != index)
        sl_world_join(w, index, seed);
}

void sl_world_leave(sl_world *w, int index)
{
    if (index < 0 || index >= w->nnodes || !w->nodes[index]->core)
        return;
    sl__world_node *n = w->nodes[index];
    sl_swim_leave(n->core, w->now_us / 1000);
    sl__world_schedule(w, n);
}

void sl_world_pause(sl_world *w, int index, uint64_t duration_ms)
{
    if (index < 0 || index >= w->nnodes || !w->nodes[index]->core || w->nodes[index]->paused)
        return;
    sl__world_node *n = w->nodes[index];
    n->paused = true;
    n->timer_us = UINT64_MAX;
    sl__world_heap_push(w, (sl__world_event){.at_us = w->now_us + duration_ms * 1000,
                                             .type = SL__WORLD_EV_RESUME,
                                             .node = index,
                                             .life = n->life});
}

void sl_world_pause_at_probe(sl_world *w, int index, uint64_t duration_ms, uint64_t within_ms)
{
    if (index < 0 || index >= w->nnodes || !w->nodes[index]->core || w->nodes[index]->paused ||
        w->nodes[index]->stall_ms || duration_ms == 0)
        return;
    sl__world_node *n = w->nodes[index];
    n->stall_ms = duration_ms;
    n->stall_by_us = w->now_us + within_ms * 1000;
    sl__world_heap_push(w, (sl__world_event){.at_us = n->stall_by_us,
                                             .type = SL__WORLD_EV_STALL,
                                             .node = index,
                                             .life = n->life});
}

static void start_stall(sl_world *w, sl__world_node *n)
{
    uint64_t d = n->stall_ms;
    n->stall_ms = 0;
    sl_world_pause(w, n->index, d);
}

/* ---- running ---- */

static void on_resume(sl_world *w, sl__world_node *n)
{
    n->paused = false;
    /* As libuv does after a SIGSTOP: the timers that fell due run first,
     * then the sockets are read. So a stalled member's probe times out
     * before it reads the ack that came meanwhile (Lifeguard's late
     * suspicions). */
    if (n->core)
        sl_swim_tick(n->core, w->now_us / 1000);
    for (uint32_t i = 0; i < n->nbacklog && n->core; i++)
        sl_swim_recv(n->core, &w->nodes[n->backlog[i].from]->addr, n->backlog[i].data,
                     n->backlog[i].len, w->now_us / 1000);
    drop_backlog(n);
    if (n->core) {
        sl__world_schedule(w, n);
        n->app_timer_us = UINT64_MAX; /* ticks that popped during the pause were dropped */
        schedule_app(w, n);
        rejoin_step(w, n); /* so was its rejoin timer */
    }
}

static void process(sl_world *w, sl__world_event *ev)
{
    sl__world_node *n = w->nodes[ev->node];
    switch (ev->type) {
    case SL__WORLD_EV_TICK:
        if (n->life != ev->life || n->timer_us != ev->at_us || !n->core || n->paused)
            break;
        n->timer_us = UINT64_MAX;
        uint64_t probes = sl_swim_get_stats(n->core)->probes;
        sl_swim_tick(n->core, w->now_us / 1000);
        sl__world_schedule(w, n);
        if (n->stall_ms && sl_swim_get_stats(n->core)->probes > probes)
            start_stall(w, n); /* the ping is out: the stall catches it in flight */
        break;
    case SL__WORLD_EV_DELIVER: sl__world_on_deliver(w, ev); break;
    case SL__WORLD_EV_PP_REQUEST: sl__world_on_pp_request(w, ev); break;
    case SL__WORLD_EV_PP_REPLY: sl__world_on_pp_reply(w, ev); break;
    case SL__WORLD_EV_RESUME:
        if (n->life == ev->life)
            on_resume(w, n);
        break;
    case SL__WORLD_EV_APP:
        if (n->life != ev->life || n->app_timer_us != ev->at_us || !n->core || n->paused)
            break;
        n->app_timer_us = UINT64_MAX;
        w->app.tick(w->app.ud, n->index, w->now_us / 1000);
        schedule_app(w, n);
        break;
    case SL__WORLD_EV_REJOIN:
        if (n->life != ev->life || n->rejoin_timer_us != ev->at_us || !n->core || n->paused)
            break;
        n->rejoin_timer_us = UINT64_MAX;
        rejoin_step(w, n);
        break;
    case SL__WORLD_EV_STALL:
        if (n->life == ev->life && n->core && !n->paused && n->stall_ms &&
            n->stall_by_us == ev->at_us)
            start_stall(w, n);
        break;
    case SL__WORLD_EV_ROUND_END: /* the exchanges not answered by now failed */
        if (n->life == ev->life && n->core && n->round_open && n->round == ev->round)
            sl__world_round_end(w, n);
        break;
    }
}

static bool step(sl_world *w, uint64_t limit_us)
{
    if (!sl__world_heap_due(w, limit_us))
        return false;
    sl__world_event ev = sl__world_heap_pop(w);
    w->now_us = ev.at_us;
    w->events_processed++;
    process(w, &ev);
    free(ev.data);
    return true;
}

void sl_world_run_until(sl_world *w, uint64_t t_ms)
{
    uint64_t limit = t_ms * 1000;
    while (step(w, limit))
        ;
    if (w->now_us < limit)
        w->now_us = limit;
}

bool sl_world_run_until_pred(sl_world *w, bool (*pred)(sl_world *w, void *ud), void *ud,
                             uint64_t deadline_ms)
{
    uint64_t limit = deadline_ms * 1000;
    if (pred(w, ud))
        return true;
    while (step(w, limit))
        if (pred(w, ud))
            return true;
    if (w->now_us < limit)
        w->now_us = limit;
    return pred(w, ud);
}

/* ---- creation and queries ---- */

sl_world *sl_world_new(const sl_world_config *cfg)
{
    sl_world *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cfg = *cfg;
    const char *cluster = cfg->cluster ? cfg->cluster : "";
    strncpy(w->cluster, cluster, SL_SWIM_CLUSTER_MAX);
    w->cfg.cluster = w->cluster;
    sl_rng_seed(&w->rng, cfg->seed);
    sl_keyring_init(&w->keyring);
    if (cfg->sealed) {
        uint8_t key[SL_KEY_BYTES];
        for (int i = 0; i < SL_KEY_BYTES / 8; i++) {
            uint64_t k = sl_mix64(cfg->seed ^ (0x6b6579ull + (uint64_t)i));
            memcpy(key + 8 * i, &k, 8);
        }
        sl_keyring_install(&w->keyring, key);
    }
    return w;
}

void sl_world_free(sl_world *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->nnodes; i++) {
        sl__world_node *n = w->nodes[i];
        sl_swim_free(n->core);
        drop_backlog(n);
        free(n->backlog);
        free(n->meta);
        free(n->name);
        free(n->keyring);
        free(n);
    }
    sl__world_heap_free(w);
    free(w->nodes);
    free(w->seeds);
    sl__world_net_free(w);
    free(w);
}

void sl_world_on_event(sl_world *w, sl_world_event_fn fn, void *ud)
{
    w->on_event = fn;
    w->on_event_ud = ud;
}

uint64_t sl_world_now(const sl_world *w)
{
    return w->now_us / 1000;
}

int sl_world_size(const sl_world *w)
{
    return w->nnodes;
}

sl_keyring *sl_world_keyring(sl_world *w, int index)
{
    return index >= 0 && index < w->nnodes ? w->nodes[index]->keyring : NULL;
}

sl_swim *sl_world_core(sl_world *w, int index)
{
    return index >= 0 && index < w->nnodes ? w->nodes[index]->core : NULL;
}

bool sl_world_is_up(const sl_world *w, int index)
{
    return index >= 0 && index < w->nnodes && w->nodes[index]->core;
}

const char *sl_world_name(const sl_world *w, int index)
{
    return index >= 0 && index < w->nnodes ? w->nodes[index]->name : NULL;
}

int sl_world_state_of(sl_world *w, int observer, const char *name, sl_member_state *st)
{
    sl_swim *c = sl_world_core(w, observer);
    sl_member_view v;
    if (!c || sl_swim_find(c, name, &v) != 0)
        return SL_ENOTFOUND;
    *st = v.state;
    return 0;
}

bool sl_world_all_see(sl_world *w, const char *name, sl_member_state st)
{
    for (int i = 0; i < w->nnodes; i++) {
        sl__world_node *n = w->nodes[i];
        if (!n->core || !strcmp(n->name, name))
            continue;
        sl_member_view self;
        sl_swim_find(n->core, n->name, &self);
        if (self.state == SL_MEMBER_LEFT)
            continue;
        sl_member_state seen;
        if (sl_world_state_of(w, i, name, &seen) != 0 || seen != st)
            return false;
    }
    return true;
}

bool sl_world_converged(sl_world *w, void *ud)
{
    (void)ud;
    for (int i = 0; i < w->nnodes; i++)
        if (w->nodes[i]->core && !sl_world_all_see(w, w->nodes[i]->name, SL_MEMBER_ALIVE))
            return false;
    return true;
}

uint64_t sl_world_packets_sent(const sl_world *w)
{
    return w->packets_sent;
}

uint64_t sl_world_bytes_sent(const sl_world *w)
{
    return w->bytes_sent;
}

uint64_t sl_world_events_processed(const sl_world *w)
{
    return w->events_processed;
}
