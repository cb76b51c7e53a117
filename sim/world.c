/* The fake world: a discrete-event driver for many sl_swim cores.
 *
 * Everything happens in a heap of events ordered by (time in microseconds,
 * insertion sequence): the sequence breaks ties so that two runs with the
 * same seed pop events in exactly the same order. Four kinds of event:
 * a node's timer (call sl_swim_tick), a datagram delivery (sl_swim_recv), a
 * push-pull leg (merge a state, maybe reply), and the end of a pause.
 *
 * Each node's timer is kept as one pending TICK event at the core's next
 * deadline. After every call into a core we ask for its deadline again and
 * push a new TICK only when it is earlier than the one pending; a TICK that
 * pops at a time other than the node's current timer is stale and ignored.
 *
 * Every node has a life counter, bumped on crash and restart, so that timers
 * and stream replies meant for a dead process never reach its successor.
 * Datagrams in flight do reach a restarted node, as they would on a network.
 *
 * The network: one-way latency plus uniform jitter, loss drawn from the
 * world's own generator (global, per node, and not at all for streams),
 * one-way cuts kept in a hash set of (from, to) pairs. */
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/rejoin.h"
#include "starling/rng.h"
#include "world.h"

enum {
    EV_TICK,
    EV_DELIVER,
    EV_PP_REQUEST,
    EV_PP_REPLY,
    EV_RESUME,
    EV_APP,
    EV_REJOIN,
    EV_ROUND_END
};

#define BACKLOG_MAX 512

typedef struct event {
    uint64_t at_us;
    uint64_t seq;
    uint32_t type;
    int node;           /* the node the event happens at */
    int from;           /* EV_DELIVER/EV_PP_*: the sender's index */
    uint32_t life;      /* EV_TICK/EV_PP_REPLY/EV_RESUME: the life it is for */
    uint32_t from_life; /* EV_PP_REPLY: the life of the node that replies */
    uint32_t round;     /* EV_PP_*, EV_ROUND_END: the join round it belongs to, 0 for none */
    uint8_t *data;
    size_t len;
} event;

typedef struct packet {
    int from;
    uint8_t *data;
    size_t len;
} packet;

typedef struct node {
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
    double loss;
    packet *backlog;
    uint32_t nbacklog;
    uint8_t *meta;
    size_t meta_len;
    sl_keyring *keyring; /* this node's own, borrowed by its core; NULL: plain */
    /* With seeds (sl_world_set_seeds): the agent's joining policy. */
    sl_rejoin rejoin;
    uint64_t rejoin_timer_us; /* pending EV_REJOIN time, UINT64_MAX if none */
    uint32_t round;           /* the current or last join round, 1 up */
    bool round_open;
    int round_pending, round_ok;
} node;

struct sl_world {
    sl_world_config cfg;
    sl_keyring keyring; /* every node starts with a copy when cfg.sealed */
    char cluster[SL_SWIM_CLUSTER_MAX + 1];
    sl_rng rng;
    uint64_t now_us;
    uint64_t seq;
    event *heap;
    size_t nheap, heap_cap;
    node **nodes;
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

/* ---- the event heap ---- */

static bool ev_less(const event *a, const event *b)
{
    return a->at_us < b->at_us || (a->at_us == b->at_us && a->seq < b->seq);
}

static void heap_push(sl_world *w, event ev)
{
    if (w->nheap == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 1024;
        event *h = realloc(w->heap, cap * sizeof *h);
        if (!h) {
            free(ev.data);
            return;
        }
        w->heap = h;
        w->heap_cap = cap;
    }
    ev.seq = w->seq++;
    size_t i = w->nheap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_less(&ev, &w->heap[parent]))
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = ev;
}

static event heap_pop(sl_world *w)
{
    event top = w->heap[0];
    event last = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_less(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!ev_less(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n)
        w->heap[i] = last;
    return top;
}

/* ---- cuts ---- */

static uint64_t cut_key(int from, int to)
{
    return (((uint64_t)(uint32_t)from << 32) | (uint32_t)to) + 1;
}

static size_t cut_slot(const sl_world *w, uint64_t key)
{
    size_t i = sl_mix64(key) & w->cuts_mask;
    while (w->cuts[i] && w->cuts[i] != key)
        i = (i + 1) & w->cuts_mask;
    return i;
}

static bool is_cut(const sl_world *w, int from, int to)
{
    return w->ncuts && w->cuts[cut_slot(w, cut_key(from, to))] != 0;
}

static void cuts_rebuild(sl_world *w, size_t size)
{
    uint64_t *old = w->cuts;
    size_t old_size = w->cuts ? w->cuts_mask + 1 : 0;
    w->cuts = calloc(size, sizeof *w->cuts);
    w->cuts_mask = size - 1;
    for (size_t i = 0; i < old_size; i++)
        if (old[i] && old[i] != UINT64_MAX)
            w->cuts[cut_slot(w, old[i])] = old[i];
    free(old);
}

void sl_world_set_cut(sl_world *w, int from, int to, bool cut)
{
    if (!w->cuts)
        cuts_rebuild(w, 1024);
    uint64_t key = cut_key(from, to);
    size_t i = cut_slot(w, key);
    if (cut && !w->cuts[i]) {
        w->cuts[i] = key;
        if (++w->ncuts * 2 > w->cuts_mask + 1)
            cuts_rebuild(w, (w->cuts_mask + 1) * 2);
    } else if (!cut && w->cuts[i]) {
        /* Rebuild without the key: simple, and cuts change rarely. */
        w->cuts[i] = UINT64_MAX;
        w->ncuts--;
        cuts_rebuild(w, w->cuts_mask + 1);
    }
}

/* ---- the network ---- */

static int addr_to_index(const sl_world *w, const sl_addr *a)
{
    if (a->family != SL_ADDR_V4 || a->ip[0] != 127)
        return -1;
    int i = (a->ip[1] << 16) | (a->ip[2] << 8) | a->ip[3];
    return i < w->nnodes ? i : -1;
}

static uint64_t latency_us(sl_world *w)
{
    uint64_t j = w->cfg.jitter_us ? sl_rng_below(&w->rng, (uint64_t)w->cfg.jitter_us + 1) : 0;
    return w->cfg.latency_us + j;
}

/* Whether two nodes sit in different groups of some partition. */
static bool partitioned(const sl_world *w, int a, int b)
{
    for (size_t p = 0; p < w->nparts; p++) {
        int n = w->parts_len[p];
        int ga = a < n ? w->parts[p][a] : 0, gb = b < n ? w->parts[p][b] : 0;
        if (ga && gb && ga != gb)
            return true;
    }
    return false;
}

/* Whether a stream or datagram from -> to can pass (cuts and partitions). */
static bool reachable(const sl_world *w, int from, int to)
{
    return !is_cut(w, from, to) && !partitioned(w, from, to);
}

int sl_world_partition(sl_world *w, const int *group, int n)
{
    int **parts = realloc(w->parts, (w->nparts + 1) * sizeof *parts);
    if (parts)
        w->parts = parts;
    int *lens = realloc(w->parts_len, (w->nparts + 1) * sizeof *lens);
    if (lens)
        w->parts_len = lens;
    int *copy = n > 0 ? malloc((size_t)n * sizeof *copy) : NULL;
    if (!parts || !lens || !copy) {
        free(copy);
        return SL_ENOMEM;
    }
    memcpy(copy, group, (size_t)n * sizeof *copy);
    w->parts[w->nparts] = copy;
    w->parts_len[w->nparts++] = n;
    return 0;
}

static void parts_clear(sl_world *w)
{
    for (size_t p = 0; p < w->nparts; p++)
        free(w->parts[p]);
    free(w->parts);
    free(w->parts_len);
    w->parts = NULL;
    w->parts_len = NULL;
    w->nparts = 0;
}

static void net_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    node *src = ud;
    sl_world *w = src->w;
    w->packets_sent++;
    w->bytes_sent += len;
    int dst = addr_to_index(w, to);
    if (dst < 0 || !reachable(w, src->index, dst))
        return;
    double loss = w->cfg.loss;
    if (src->loss > loss)
        loss = src->loss;
    if (w->nodes[dst]->loss > loss)
        loss = w->nodes[dst]->loss;
    if (loss > 0 && sl_rng_unit(&w->rng) < loss)
        return;
    uint8_t *copy = malloc(len);
    if (!copy)
        return;
    memcpy(copy, buf, len);
    heap_push(w, (event){.at_us = w->now_us + latency_us(w),
                         .type = EV_DELIVER,
                         .node = dst,
                         .from = src->index,
                         .data = copy,
                         .len = len});
}

static void start_pushpull(sl_world *w, node *src, int dst, bool join, uint32_t round)
{
    if (!src->core || dst < 0 || dst >= w->nnodes || dst == src->index ||
        !reachable(w, src->index, dst))
        return;
    uint8_t *state;
    size_t len;
    if (sl_swim_encode_state(src->core, join, &state, &len) != 0)
        return;
    heap_push(w, (event){.at_us = w->now_us + latency_us(w),
                         .type = EV_PP_REQUEST,
                         .node = dst,
                         .from = src->index,
                         .life = src->life,
                         .round = round,
                         .data = state,
                         .len = len});
}

static void net_pushpull(void *ud, const sl_addr *to, const char *name)
{
    (void)name;
    node *src = ud;
    start_pushpull(src->w, src, addr_to_index(src->w, to), false, 0);
}

/* Nonces for sealing, from the world's own generator: deterministic. */
static void net_entropy(void *ud, uint8_t *buf, size_t len)
{
    node *n = ud;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = sl_rng_next(&n->w->rng);
        memcpy(buf + i, &r, len - i < 8 ? len - i : 8);
    }
}

static void schedule_app(sl_world *w, node *n);

static void net_event(void *ud, const sl_swim_event *ev)
{
    node *n = ud;
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
    node *n = ud;
    int rc = n->w->app.user_msg(n->w->app.ud, n->index, buf, len, now_ms);
    schedule_app(n->w, n);
    return rc;
}

static int app_user_state(void *ud, uint8_t **out, size_t *len)
{
    node *n = ud;
    return n->w->app.user_state(n->w->app.ud, n->index, out, len);
}

static int app_user_merge(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    node *n = ud;
    int rc = n->w->app.user_merge(n->w->app.ud, n->index, buf, len, now_ms);
    schedule_app(n->w, n);
    return rc;
}

/* ---- nodes ---- */

/* Makes sure a TICK is pending at or before the core's next deadline. */
static void schedule(sl_world *w, node *n)
{
    if (!n->core || n->paused)
        return;
    uint64_t d = sl_swim_next_deadline(n->core) * 1000;
    if (d < w->now_us)
        d = w->now_us;
    if (d >= n->timer_us)
        return;
    n->timer_us = d;
    heap_push(w, (event){.at_us = d, .type = EV_TICK, .node = n->index, .life = n->life});
}

/* Makes sure an APP event is pending at or before the application's next
 * deadline on node n. */
static void schedule_app(sl_world *w, node *n)
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
    heap_push(w, (event){.at_us = d, .type = EV_APP, .node = n->index, .life = n->life});
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

static void rejoin_step(sl_world *w, node *n);

/* Ends n's open join round with the answers it got. The next step, pending
 * within SL_REJOIN_CHECK_MS, acts on it, as in the agent (node/agent/seeds.c). */
static void round_end(sl_world *w, node *n)
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
static void round_start(sl_world *w, node *n)
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
        start_pushpull(w, n, w->seeds[i], true, n->round);
        n->round_pending++;
    }
    if (n->round_pending == 0) {
        round_end(w, n);
        return;
    }
    heap_push(w, (event){.at_us = w->now_us + (uint64_t)w->seed_timeout_ms * 1000,
                         .type = EV_ROUND_END,
                         .node = n->index,
                         .life = n->life,
                         .round = n->round});
}

/* Asks the policy what to do now, does it, and sets the timer for the time
 * it asks for. Calling it early is harmless: the step decides by the time. */
static void rejoin_step(sl_world *w, node *n)
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
        start_pushpull(w, n, w->seeds[act.seed], false, 0);
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
    heap_push(w, (event){.at_us = at, .type = EV_REJOIN, .node = n->index, .life = n->life});
}

/* A fresh process's policy: what `starling agent --join SEEDS` starts with. */
static void rejoin_boot(sl_world *w, node *n)
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

static int boot(sl_world *w, node *n, bool restart)
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
        .cb = {.send = net_send,
               .event = net_event,
               .pushpull = net_pushpull,
               .entropy = net_entropy,
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
    schedule(w, n);
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
        node **ns = realloc(w->nodes, (size_t)cap * sizeof *ns);
        if (!ns)
            return SL_ENOMEM;
        w->nodes = ns;
        w->nodes_cap = cap;
    }
    node *n = calloc(1, sizeof *n);
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
    start_pushpull(w, w->nodes[index], seed, true, 0);
}

static void drop_backlog(node *n)
{
    for (uint32_t i = 0; i < n->nbacklog; i++)
        free(n->backlog[i].data);
    n->nbacklog = 0;
}

void sl_world_crash(sl_world *w, int index)
{
    if (index < 0 || index >= w->nnodes)
        return;
    node *n = w->nodes[index];
    if (w->has_app && n->core)
        w->app.crash(w->app.ud, index);
    sl_swim_free(n->core);
    n->core = NULL;
    n->paused = false;
    n->life++;
    n->timer_us = UINT64_MAX;
    n->app_timer_us = UINT64_MAX;
    drop_backlog(n);
}

void sl_world_restart(sl_world *w, int index, int seed)
{
    if (index < 0 || index >= w->nnodes)
        return;
    node *n = w->nodes[index];
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
    node *n = w->nodes[index];
    sl_swim_leave(n->core, w->now_us / 1000);
    schedule(w, n);
}

void sl_world_pause(sl_world *w, int index, uint64_t duration_ms)
{
    if (index < 0 || index >= w->nnodes || !w->nodes[index]->core || w->nodes[index]->paused)
        return;
    node *n = w->nodes[index];
    n->paused = true;
    n->timer_us = UINT64_MAX;
    heap_push(w, (event){.at_us = w->now_us + duration_ms * 1000,
                         .type = EV_RESUME,
                         .node = index,
                         .life = n->life});
}

void sl_world_set_node_loss(sl_world *w, int index, double loss)
{
    if (index >= 0 && index < w->nnodes)
        w->nodes[index]->loss = loss;
}

void sl_world_heal(sl_world *w)
{
    for (int i = 0; i < w->nnodes; i++)
        w->nodes[i]->loss = 0;
    free(w->cuts);
    w->cuts = NULL;
    w->ncuts = 0;
    w->cuts_mask = 0;
    parts_clear(w);
}

/* ---- running ---- */

static void deliver(sl_world *w, node *n, int from, const uint8_t *data, size_t len)
{
    sl_swim_recv(n->core, &w->nodes[from]->addr, data, len, w->now_us / 1000);
    schedule(w, n);
}

static void on_pp_request(sl_world *w, event *ev)
{
    node *n = w->nodes[ev->node];
    if (!n->core || n->paused)
        return; /* connection refused or timed out */
    uint8_t *reply = NULL;
    size_t reply_len = 0;
    if (w->cfg.pp_reply_before_merge &&
        sl_swim_encode_state(n->core, false, &reply, &reply_len) != 0)
        return;
    if (sl_swim_merge_state(n->core, ev->data, ev->len, w->now_us / 1000, NULL) != 0) {
        free(reply);
        return;
    }
    schedule(w, n);
    node *src = w->nodes[ev->from];
    if (!reachable(w, n->index, src->index)) {
        free(reply);
        return;
    }
    /* The reply is encoded when it is delivered (on_pp_reply), not now: in
     * a join storm thousands of full states would otherwise be in flight at
     * once (N^2/2 members when every node joins through one seed). */
    heap_push(w, (event){.at_us = w->now_us + latency_us(w),
                         .type = EV_PP_REPLY,
                         .node = src->index,
                         .from = n->index,
                         .life = ev->life,
                         .from_life = n->life,
                         .round = ev->round,
                         .data = reply, /* reply-before-merge: encoded above */
                         .len = reply_len});
}

static void on_pp_reply(sl_world *w, event *ev)
{
    node *n = w->nodes[ev->node], *peer = w->nodes[ev->from];
    if (n->life != ev->life || !n->core || n->paused)
        return;
    if (peer->life != ev->from_life || !peer->core)
        return; /* the replying process is gone: so is its stream */
    int rc;
    if (ev->data) { /* encoded before the merge */
        rc = sl_swim_merge_state(n->core, ev->data, ev->len, w->now_us / 1000, NULL);
    } else {
        uint8_t *state;
        size_t len;
        if (sl_swim_encode_state(peer->core, false, &state, &len) != 0)
            return;
        rc = sl_swim_merge_state(n->core, state, len, w->now_us / 1000, NULL);
        free(state);
    }
    if (rc == 0)
        schedule(w, n);
    if (rc == 0 && ev->round && n->round_open && ev->round == n->round) {
        n->round_ok++; /* a join exchange succeeds when the answer merges */
        if (--n->round_pending == 0)
            round_end(w, n);
    }
}

static void on_resume(sl_world *w, node *n)
{
    n->paused = false;
    for (uint32_t i = 0; i < n->nbacklog && n->core; i++)
        sl_swim_recv(n->core, &w->nodes[n->backlog[i].from]->addr, n->backlog[i].data,
                     n->backlog[i].len, w->now_us / 1000);
    drop_backlog(n);
    if (n->core) {
        sl_swim_tick(n->core, w->now_us / 1000);
        schedule(w, n);
        n->app_timer_us = UINT64_MAX; /* ticks that popped during the pause were dropped */
        schedule_app(w, n);
        rejoin_step(w, n); /* so was its rejoin timer */
    }
}

static void process(sl_world *w, event *ev)
{
    node *n = w->nodes[ev->node];
    switch (ev->type) {
    case EV_TICK:
        if (n->life != ev->life || n->timer_us != ev->at_us || !n->core || n->paused)
            break;
        n->timer_us = UINT64_MAX;
        sl_swim_tick(n->core, w->now_us / 1000);
        schedule(w, n);
        break;
    case EV_DELIVER:
        if (!n->core)
            break;
        if (n->paused) {
            if (n->nbacklog < BACKLOG_MAX) {
                packet *b = realloc(n->backlog, (n->nbacklog + 1) * sizeof *b);
                if (b) {
                    n->backlog = b;
                    b[n->nbacklog++] = (packet){ev->from, ev->data, ev->len};
                    ev->data = NULL;
                }
            }
            break;
        }
        deliver(w, n, ev->from, ev->data, ev->len);
        break;
    case EV_PP_REQUEST: on_pp_request(w, ev); break;
    case EV_PP_REPLY: on_pp_reply(w, ev); break;
    case EV_RESUME:
        if (n->life == ev->life)
            on_resume(w, n);
        break;
    case EV_APP:
        if (n->life != ev->life || n->app_timer_us != ev->at_us || !n->core || n->paused)
            break;
        n->app_timer_us = UINT64_MAX;
        w->app.tick(w->app.ud, n->index, w->now_us / 1000);
        schedule_app(w, n);
        break;
    case EV_REJOIN:
        if (n->life != ev->life || n->rejoin_timer_us != ev->at_us || !n->core || n->paused)
            break;
        n->rejoin_timer_us = UINT64_MAX;
        rejoin_step(w, n);
        break;
    case EV_ROUND_END: /* the exchanges not answered by now failed */
        if (n->life == ev->life && n->core && n->round_open && n->round == ev->round)
            round_end(w, n);
        break;
    }
}

static bool step(sl_world *w, uint64_t limit_us)
{
    if (w->nheap == 0 || w->heap[0].at_us > limit_us)
        return false;
    event ev = heap_pop(w);
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
        node *n = w->nodes[i];
        sl_swim_free(n->core);
        drop_backlog(n);
        free(n->backlog);
        free(n->meta);
        free(n->name);
        free(n->keyring);
        free(n);
    }
    for (size_t i = 0; i < w->nheap; i++)
        free(w->heap[i].data);
    free(w->heap);
    free(w->nodes);
    free(w->cuts);
    free(w->seeds);
    parts_clear(w);
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
        node *n = w->nodes[i];
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
