/* The fake world's network model: what happens between two nodes.
 *
 * A datagram takes a one-way latency plus uniform jitter and is lost with a
 * probability drawn from the world's own generator: the highest of the
 * global loss, the sender's and the receiver's. A push-pull travels as a
 * reliable stream with the same latency: its request leg carries the
 * initiator's state and its reply leg the answer; random loss does not touch
 * it. One-way cuts (a hash set of (from, to) pairs) and partitions (groups
 * of nodes) stop both. A datagram that reaches a paused node waits in its
 * backlog, up to SL__WORLD_BACKLOG_MAX, and is read on resume. The node's
 * addresses are fake (127.a.b.c:7946): the node's index is in them. */
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/rng.h"
#include "world.h"
#include "world_internal.h"

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

void sl__world_net_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    sl__world_node *src = ud;
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
    sl__world_heap_push(w, (sl__world_event){.at_us = w->now_us + latency_us(w),
                                             .type = SL__WORLD_EV_DELIVER,
                                             .node = dst,
                                             .from = src->index,
                                             .data = copy,
                                             .len = len});
}

void sl__world_start_pushpull(sl_world *w, sl__world_node *src, int dst, bool join, uint32_t round)
{
    if (!src->core || dst < 0 || dst >= w->nnodes || dst == src->index ||
        !reachable(w, src->index, dst))
        return;
    uint8_t *state;
    size_t len;
    if (sl_swim_encode_state(src->core, join, &state, &len) != 0)
        return;
    sl__world_heap_push(w, (sl__world_event){.at_us = w->now_us + latency_us(w),
                                             .type = SL__WORLD_EV_PP_REQUEST,
                                             .node = dst,
                                             .from = src->index,
                                             .life = src->life,
                                             .round = round,
                                             .data = state,
                                             .len = len});
}

void sl__world_net_pushpull(void *ud, const sl_addr *to, const char *name)
{
    (void)name;
    sl__world_node *src = ud;
    sl__world_start_pushpull(src->w, src, addr_to_index(src->w, to), false, 0);
}

/* Nonces for sealing, from the world's own generator: deterministic. */
void sl__world_net_entropy(void *ud, uint8_t *buf, size_t len)
{
    sl__world_node *n = ud;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = sl_rng_next(&n->w->rng);
        memcpy(buf + i, &r, len - i < 8 ? len - i : 8);
    }
}

/* ---- loss and healing ---- */

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

/* ---- arrivals: datagrams and the two legs of a push-pull ---- */

static void deliver(sl_world *w, sl__world_node *n, int from, const uint8_t *data, size_t len)
{
    sl_swim_recv(n->core, &w->nodes[from]->addr, data, len, w->now_us / 1000);
    sl__world_schedule(w, n);
}

void sl__world_on_deliver(sl_world *w, sl__world_event *ev)
{
    sl__world_node *n = w->nodes[ev->node];
    if (!n->core)
        return;
    if (n->paused) {
        if (n->nbacklog < SL__WORLD_BACKLOG_MAX) {
            sl__world_packet *b = realloc(n->backlog, (n->nbacklog + 1) * sizeof *b);
            if (b) {
                n->backlog = b;
                b[n->nbacklog++] = (sl__world_packet){ev->from, ev->data, ev->len};
                ev->data = NULL;
            }
        }
        return;
    }
    deliver(w, n, ev->from, ev->data, ev->len);
}

void sl__world_on_pp_request(sl_world *w, sl__world_event *ev)
{
    sl__world_node *n = w->nodes[ev->node];
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
    sl__world_schedule(w, n);
    sl__world_node *src = w->nodes[ev->from];
    if (!reachable(w, n->index, src->index)) {
        free(reply);
        return;
    }
    /* The reply is encoded when it is delivered (sl__world_on_pp_reply), not now: in
     * a join storm thousands of full states would otherwise be in flight at
     * once (N^2/2 members when every node joins through one seed). */
    sl__world_heap_push(w, (sl__world_event){.at_us = w->now_us + latency_us(w),
                                             .type = SL__WORLD_EV_PP_REPLY,
                                             .node = src->index,
                                             .from = n->index,
                                             .life = ev->life,
                                             .from_life = n->life,
                                             .round = ev->round,
                                             .data = reply, /* reply-before-merge: encoded above */
                                             .len = reply_len});
}

void sl__world_on_pp_reply(sl_world *w, sl__world_event *ev)
{
    sl__world_node *n = w->nodes[ev->node], *peer = w->nodes[ev->from];
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
        sl__world_schedule(w, n);
    if (rc == 0 && ev->round && n->round_open && ev->round == n->round) {
        n->round_ok++; /* a join exchange succeeds when the answer merges */
        if (--n->round_pending == 0)
            sl__world_round_end(w, n);
    }
}

void sl__world_net_free(sl_world *w)
{
    free(w->cuts);
    parts_clear(w);
}
