/* The virtual supervisor: node/runtime/supervisor.c's status machine on virtual time.
 *
 * Each replica is one heap block, owned by the supervisor from start() until
 * it is removed. Two indexes point at the blocks:
 *
 *   - `by_key`, an array of pointers sorted by (service, replica): find() is a
 *     binary search, foreach() a walk, foreach_of() a lower bound and a walk
 *     while the service matches. Adding or removing a replica moves the
 *     pointers after it (a memmove: a few microseconds for 10,000 replicas).
 *   - `heap`, a binary min-heap of the replicas that wait for something,
 *     ordered by (due time, sequence number of the scheduling), so that two
 *     transitions due at the same time run in the order they were scheduled.
 *     Each replica holds its own position in it (`hpos`), so that a deadline
 *     is cancelled in O(log n). A replica waits for at most one thing at a
 *     time, and what it waits for follows from its status:
 *
 *       STARTING  its start-up delay: RUNNING then; or, if its service was
 *                 failing to start when it was spawned (`doomed`), it is due
 *                 at once and becomes FAILED, a run of length 0.
 *       STARTING  (with a health check) its next check, every
 *                 SL_REPLICA_CHECK_STARTING_MS: RUNNING once one passes.
 *       RUNNING   nothing: only crash() and stop() change it; with a health
 *                 check, its next check, every interval: UNHEALTHY after
 *                 `failures` in a row.
 *       FAILED    (and UNHEALTHY) its backoff: it is spawned again, STARTING, restarts + 1.
 *       STOPPING  its stop delay: removed then (on_removed), or STARTING
 *                 again if start() asked for it meanwhile.
 *
 * Backoff, as in the real supervisor: `backoff_ms` is the delay of the next
 * retry; each failure takes it and doubles it, up to backoff_max_ms. A
 * failure after having been RUNNING for at least healthy_after_ms first puts
 * it back to backoff_base_ms: the check is made when the failure happens, by
 * comparing times, so that a healthy run costs no timer.
 *
 * Ports are 20000 + a slot; a replica holds its slot from start() until it
 * is removed (across its restarts, as the real supervisor keeps a port while
 * it is free), and a new replica takes the lowest free slot, from a min-heap
 * of the freed ones below `next_slot`.
 *
 * Callbacks may call start() and stop() again. So every transition first
 * brings the supervisor into a consistent state (status set, deadline
 * scheduled or cancelled, the block unlinked when removed), then copies the
 * replica, its service name included, into the caller's stack frame and
 * hands that copy to the callback; after a callback nothing touches the
 * replica's block again, which the callback may have freed. */
#include "vsup.h"

#include <stdlib.h>
#include <string.h>

#include "starling/catalog.h"
#include "starling/error.h"
#include "starling/replica_check.h"
#include "starling/rng.h"

#define NO_POS SIZE_MAX
#define SLOTS_MAX (65535u - SL_VSUP_PORT_BASE + 1u) /* ports up to 65535 */

typedef struct vrep {
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t replica;
    sl_replica_status status;
    uint32_t slot;
    uint32_t restarts;
    uint64_t at_ms;
    uint64_t backoff_ms;   /* the delay of the next retry */
    bool doomed;           /* STARTING, but it failed to start: FAILED when due */
    bool start_after_stop; /* STOPPING, and start() was called since */
    uint32_t version;      /* spec version of the current run */
    uint32_t next_version; /* of the start() that start_after_stop remembers */
    /* The health check of the current run, copied at spawn (kind DEFAULT:
     * none; its arg is not kept: virtual checks need none). */
    sl_check_kind chk_kind;
    uint32_t chk_interval_ms, chk_failures;
    sl_replica_check_state chk;
    uint64_t ready_ms; /* STARTING with a check: when its start-up delay ends */
    uint64_t born;         /* creation number, for crash_service's snapshot */
    size_t hpos;           /* position in the heap, or NO_POS */
    uint64_t due_ms, seq;  /* heap key when hpos != NO_POS */
} vrep;

struct sl_vsup {
    sl_vsup_config cfg;
    sl_rng rng;
    vrep **by_key; /* sorted by (service, replica) */
    size_t n, cap;
    vrep **heap; /* capacity cap: at most one entry per replica */
    size_t nheap;
    uint64_t seq, born;
    uint32_t *free_slots; /* min-heap of freed slots < next_slot; capacity slot_cap */
    size_t nfree, slot_cap;
    uint32_t next_slot;
    sl_vsup_stats stats;
};

/* A replica as the callbacks and readers see it, with its own copy of the
 * service name so that it outlives the replica. */
typedef struct view {
    sl_vsup_replica r;
    char service[SL_SVC_NAME_MAX + 1];
} view;

/* ---- the sorted index -------------------------------------------------- */

static int key_cmp(const vrep *r, const char *service, uint32_t replica)
{
    int c = strcmp(r->service, service);
    if (c)
        return c;
    return r->replica < replica ? -1 : r->replica > replica;
}

/* The position of the first replica not below (service, replica). */
static size_t lower_bound(const sl_vsup *s, const char *service, uint32_t replica)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(s->by_key[mid], service, replica) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static vrep *lookup(const sl_vsup *s, const char *service, uint32_t replica)
{
    if (!service)
        return NULL;
    size_t i = lower_bound(s, service, replica);
    if (i < s->n && !key_cmp(s->by_key[i], service, replica))
        return s->by_key[i];
    return NULL;
}

/* ---- the heap of deadlines --------------------------------------------- */

static bool before(const vrep *a, const vrep *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_set(sl_vsup *s, size_t i, vrep *r)
{
    s->heap[i] = r;
    r->hpos = i;
}

static void heap_up(sl_vsup *s, size_t i)
{
    vrep *r = s->heap[i];
    while (i > 0 && before(r, s->heap[(i - 1) / 2])) {
        heap_set(s, i, s->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(s, i, r);
}

static void heap_down(sl_vsup *s, size_t i)
{
    vrep *r = s->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap && before(s->heap[c + 1], s->heap[c]))
            c++;
        if (!before(s->heap[c], r))
            break;
        heap_set(s, i, s->heap[c]);
        i = c;
    }
    heap_set(s, i, r);
}

static void unschedule(sl_vsup *s, vrep *r)
{
    size_t i = r->hpos;
    if (i == NO_POS)
        return;
    r->hpos = NO_POS;
    vrep *last = s->heap[--s->nheap];
    if (i == s->nheap)
        return;
    heap_set(s, i, last);
    heap_up(s, i);
    heap_down(s, last->hpos);
}

/* Schedules r's next transition at due_ms, replacing any other. Never fails:
 * the heap has room for every replica. */
static void schedule(sl_vsup *s, vrep *r, uint64_t due_ms)
{
    unschedule(s, r);
    r->due_ms = due_ms;
    r->seq = s->seq++;
    heap_set(s, s->nheap++, r);
    heap_up(s, r->hpos);
}

/* ---- slots ------------------------------------------------------------- */

static uint32_t slot_take(sl_vsup *s)
{
    if (!s->nfree)
        return s->next_slot++;
    uint32_t *h = s->free_slots, top = h[0], x = h[--s->nfree];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nfree)
            break;
        if (c + 1 < s->nfree && h[c + 1] < h[c])
            c++;
        if (h[c] >= x)
            break;
        h[i] = h[c];
        i = c;
    }
    if (s->nfree)
        h[i] = x;
    return top;
}

/* Never fails: free_slots has room for every slot below next_slot. */
static void slot_give(sl_vsup *s, uint32_t slot)
{
    uint32_t *h = s->free_slots;
    size_t i = s->nfree++;
    while (i > 0 && h[(i - 1) / 2] > slot) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = slot;
}

/* ---- transitions ------------------------------------------------------- */

/* The public form of r, naming its service by `service`. */
static sl_vsup_replica public_of(const vrep *r, const char *service)
{
    return (sl_vsup_replica){
        .service = service,
        .replica = r->replica,
        .status = r->status,
        .port = (uint16_t)(SL_VSUP_PORT_BASE + r->slot),
        .restarts = r->restarts,
        .at_ms = r->at_ms,
        .version = r->version,
    };
}

static void view_of(const vrep *r, view *v)
{
    memcpy(v->service, r->service, sizeof v->service);
    v->r = public_of(r, v->service);
}

/* Reports r's new status. r may be gone when this returns. */
static void changed(sl_vsup *s, const vrep *r)
{
    if (!s->cfg.on_change)
        return;
    view v;
    view_of(r, &v);
    s->cfg.on_change(s->cfg.ud, &v.r);
}

/* A delay of mean plus or minus a uniform jitter, clamped at 0. */
static uint64_t draw(sl_vsup *s, uint32_t mean, uint32_t jitter)
{
    if (!jitter)
        return mean;
    int64_t d = (int64_t)mean - jitter + (int64_t)sl_rng_below(&s->rng, 2 * (uint64_t)jitter + 1);
    return d < 0 ? 0 : (uint64_t)d;
}

/* Spawns r's process at now_ms: STARTING, with the deadline that ends it.
 * The caller reports the change. */
static void spawn(sl_vsup *s, vrep *r, uint64_t now_ms)
{
    r->status = SL_REPLICA_STARTING;
    r->at_ms = now_ms;
    r->doomed = s->cfg.fails && s->cfg.fails(s->cfg.ud, r->service);
    const sl_check *c = s->cfg.check_of ? s->cfg.check_of(s->cfg.ud, r->service) : NULL;
    r->chk_kind = c ? c->kind : SL_CHECK_DEFAULT;
    r->chk_interval_ms = c ? c->interval_ms : 0;
    r->chk_failures = c ? c->failures : 0;
    r->chk.fails = 0;
    uint64_t delay = r->doomed ? 0 : draw(s, s->cfg.startup_ms, s->cfg.startup_jitter_ms);
    if (r->chk_kind == SL_CHECK_DEFAULT || r->doomed) {
        schedule(s, r, now_ms + delay);
        return;
    }
    r->ready_ms = now_ms + delay;
    schedule(s, r, now_ms + SL_REPLICA_CHECK_STARTING_MS);
}

/* r's check as the core reads it. */
static sl_check check_of(const vrep *r)
{
    return (sl_check){
        .kind = r->chk_kind, .interval_ms = r->chk_interval_ms, .failures = r->chk_failures};
}

/* r's process is gone at now_ms while STARTING or RUNNING: `to` (FAILED: it
 * exited by itself; UNHEALTHY: it failed its checks and was stopped), its
 * retry scheduled after the backoff. */
static void fail_as(sl_vsup *s, vrep *r, uint64_t now_ms, sl_replica_status to)
{
    if (r->status == SL_REPLICA_RUNNING && now_ms - r->at_ms >= s->cfg.healthy_after_ms)
        r->backoff_ms = s->cfg.backoff_base_ms;
    uint64_t delay = r->backoff_ms;
    r->backoff_ms = delay >= s->cfg.backoff_max_ms / 2 ? s->cfg.backoff_max_ms : delay * 2;
    r->status = to;
    r->at_ms = now_ms;
    r->doomed = false;
    if (to == SL_REPLICA_UNHEALTHY)
        s->stats.unhealthy++;
    else
        s->stats.failures++;
    schedule(s, r, now_ms + delay);
    changed(s, r);
}

static void fail(sl_vsup *s, vrep *r, uint64_t now_ms)
{
    fail_as(s, r, now_ms, SL_REPLICA_FAILED);
}

/* One virtual health check of r at `at` (STARTING or RUNNING, with a
 * check): it passes once the start-up delay is over, unless the service's
 * checks fail now; the core decides what the result means. */
static void check(sl_vsup *s, vrep *r, uint64_t at)
{
    sl_check c = check_of(r);
    bool passed = at >= r->ready_ms && !(s->cfg.check_fails && s->cfg.check_fails(s->cfg.ud, r->service));
    s->stats.checks++;
    switch (sl_replica_check_observe(&r->chk, &c, r->status, passed)) {
    case SL_REPLICA_CHECK_READY:
        r->status = SL_REPLICA_RUNNING;
        r->at_ms = at;
        schedule(s, r, at + sl_replica_check_period_ms(&c, r->status));
        changed(s, r);
        return;
    case SL_REPLICA_CHECK_UNHEALTHY:
        fail_as(s, r, at, SL_REPLICA_UNHEALTHY);
        return;
    case SL_REPLICA_CHECK_NOTHING: break;
    }
    uint32_t period = sl_replica_check_period_ms(&c, r->status);
    if (period)
        schedule(s, r, at + period);
}

/* Unlinks r, frees it, then reports it gone (status STOPPING). */
static void remove_replica(sl_vsup *s, vrep *r, uint64_t now_ms)
{
    unschedule(s, r);
    size_t i = lower_bound(s, r->service, r->replica);
    memmove(s->by_key + i, s->by_key + i + 1, (s->n - i - 1) * sizeof *s->by_key);
    s->n--;
    slot_give(s, r->slot);
    s->stats.removed++;
    r->status = SL_REPLICA_STOPPING;
    r->at_ms = now_ms;
    view v;
    view_of(r, &v);
    free(r);
    if (s->cfg.on_removed)
        s->cfg.on_removed(s->cfg.ud, &v.r);
}

/* r's process is gone at now_ms while STOPPING: removed, or started again. */
static void stopped(sl_vsup *s, vrep *r, uint64_t now_ms)
{
    if (!r->start_after_stop) {
        remove_replica(s, r, now_ms);
        return;
    }
    r->start_after_stop = false;
    r->version = r->next_version;
    r->restarts = 0;
    r->backoff_ms = s->cfg.backoff_base_ms;
    s->stats.restarts++;
    spawn(s, r, now_ms);
    changed(s, r);
}

/* Performs r's due transition at its own time. */
static void due(sl_vsup *s, vrep *r)
{
    uint64_t at = r->due_ms;
    switch (r->status) {
    case SL_REPLICA_STARTING:
        if (r->doomed) {
            fail(s, r, at);
            return;
        }
        if (r->chk_kind != SL_CHECK_DEFAULT) {
            check(s, r, at);
            return;
        }
        r->status = SL_REPLICA_RUNNING;
        r->at_ms = at;
        changed(s, r);
        return;
    case SL_REPLICA_OOM:       /* never set here: waits to restart like FAILED */
    case SL_REPLICA_UNHEALTHY: /* failed its checks: waits to restart like FAILED */
    case SL_REPLICA_FAILED:
        r->restarts++;
        s->stats.restarts++;
        spawn(s, r, at);
        changed(s, r);
        return;
    case SL_REPLICA_STOPPING: stopped(s, r, at); return;
    case SL_REPLICA_RUNNING: /* scheduled only with a check */
        check(s, r, at);
        return;
    }
}

/* ---- the API ----------------------------------------------------------- */

sl_vsup *sl_vsup_new(const sl_vsup_config *cfg)
{
    sl_vsup *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (cfg)
        s->cfg = *cfg;
    if (!s->cfg.backoff_base_ms)
        s->cfg.backoff_base_ms = SL_VSUP_BACKOFF_BASE_MS;
    if (!s->cfg.backoff_max_ms)
        s->cfg.backoff_max_ms = SL_VSUP_BACKOFF_MAX_MS;
    if (s->cfg.backoff_max_ms < s->cfg.backoff_base_ms)
        s->cfg.backoff_max_ms = s->cfg.backoff_base_ms;
    if (!s->cfg.healthy_after_ms)
        s->cfg.healthy_after_ms = SL_VSUP_HEALTHY_AFTER_MS;
    sl_rng_seed(&s->rng, s->cfg.seed);
    return s;
}

void sl_vsup_free(sl_vsup *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->by_key[i]);
    free(s->by_key);
    free(s->heap);
    free(s->free_slots);
    free(s);
}

static bool name_ok(const char *service)
{
    return service && *service && strlen(service) <= SL_SVC_NAME_MAX;
}

/* Makes room for one more replica in every array. */
static int reserve(sl_vsup *s)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        vrep **k = realloc(s->by_key, cap * sizeof *k);
        if (!k)
            return SL_ENOMEM;
        s->by_key = k;
        vrep **h = realloc(s->heap, cap * sizeof *h);
        if (!h)
            return SL_ENOMEM;
        s->heap = h;
        s->cap = cap;
    }
    if (!s->nfree && s->next_slot == s->slot_cap) {
        size_t cap = s->slot_cap ? 2 * s->slot_cap : 16;
        uint32_t *f = realloc(s->free_slots, cap * sizeof *f);
        if (!f)
            return SL_ENOMEM;
        s->free_slots = f;
        s->slot_cap = cap;
    }
    return 0;
}

int sl_vsup_start(sl_vsup *s, const char *service, uint32_t replica, uint64_t now_ms)
{
    return sl_vsup_start_version(s, service, replica, 0, now_ms);
}

int sl_vsup_start_version(sl_vsup *s, const char *service, uint32_t replica, uint32_t version,
                          uint64_t now_ms)
{
    if (!name_ok(service))
        return SL_EINVAL;
    size_t i = lower_bound(s, service, replica);
    if (i < s->n && !key_cmp(s->by_key[i], service, replica)) {
        vrep *old = s->by_key[i];
        if (old->status == SL_REPLICA_STOPPING) {
            old->start_after_stop = true;
            old->next_version = version;
        }
        return 0;
    }
    if (!s->nfree && s->next_slot >= SLOTS_MAX)
        return SL_EFULL;
    int err = reserve(s);
    if (err)
        return err;
    vrep *r = calloc(1, sizeof *r);
    if (!r)
        return SL_ENOMEM;
    memcpy(r->service, service, strlen(service) + 1);
    r->replica = replica;
    r->version = version;
    r->slot = slot_take(s);
    r->backoff_ms = s->cfg.backoff_base_ms;
    r->born = s->born++;
    r->hpos = NO_POS;
    memmove(s->by_key + i + 1, s->by_key + i, (s->n - i) * sizeof *s->by_key);
    s->by_key[i] = r;
    s->n++;
    s->stats.starts++;
    spawn(s, r, now_ms);
    changed(s, r);
    return 0;
}

int sl_vsup_stop(sl_vsup *s, const char *service, uint32_t replica, uint64_t now_ms)
{
    vrep *r = lookup(s, service, replica);
    if (!r)
        return SL_ENOTFOUND;
    switch (r->status) {
    case SL_REPLICA_STOPPING: r->start_after_stop = false; return 0;
    case SL_REPLICA_OOM:
    case SL_REPLICA_UNHEALTHY: /* no process: like FAILED */
    case SL_REPLICA_FAILED:
        s->stats.stops++;
        remove_replica(s, r, now_ms);
        return 0;
    case SL_REPLICA_STARTING:
    case SL_REPLICA_RUNNING:
        s->stats.stops++;
        r->status = SL_REPLICA_STOPPING;
        r->at_ms = now_ms;
        r->doomed = false;
        r->start_after_stop = false;
        schedule(s, r, now_ms + draw(s, s->cfg.stopping_ms, s->cfg.stopping_jitter_ms));
        changed(s, r);
        return 0;
    }
    return 0;
}

/* Crashes r at now_ms. Returns whether it was starting or running. */
static bool crash(sl_vsup *s, vrep *r, uint64_t now_ms)
{
    switch (r->status) {
    case SL_REPLICA_STARTING:
    case SL_REPLICA_RUNNING: fail(s, r, now_ms); return true;
    case SL_REPLICA_STOPPING: stopped(s, r, now_ms); return false;
    case SL_REPLICA_OOM:
    case SL_REPLICA_UNHEALTHY: /* no process: like FAILED */
    case SL_REPLICA_FAILED: return false; /* no process to crash */
    }
    return false;
}

int sl_vsup_crash(sl_vsup *s, const char *service, uint32_t replica, uint64_t now_ms)
{
    vrep *r = lookup(s, service, replica);
    if (!r)
        return SL_ENOTFOUND;
    crash(s, r, now_ms);
    return 0;
}

size_t sl_vsup_crash_service(sl_vsup *s, const char *service, uint64_t now_ms)
{
    if (!name_ok(service))
        return 0;
    /* The name may belong to a replica that a callback removes: copy it. The
     * replicas crashed are those known now; ones that callbacks start are
     * left alone (born later). The index is searched again after every
     * crash, as callbacks may have moved it. */
    char name[SL_SVC_NAME_MAX + 1];
    memcpy(name, service, strlen(service) + 1);
    uint64_t born_before = s->born;
    size_t crashed = 0;
    uint32_t next = 0;
    for (;;) {
        size_t i = lower_bound(s, name, next);
        if (i >= s->n || strcmp(s->by_key[i]->service, name))
            break;
        vrep *r = s->by_key[i];
        uint32_t replica = r->replica;
        if (r->born < born_before && r->status != SL_REPLICA_STOPPING && crash(s, r, now_ms))
            crashed++;
        if (replica == UINT32_MAX)
            break;
        next = replica + 1;
    }
    return crashed;
}

uint64_t sl_vsup_deadline(const sl_vsup *s)
{
    return s->nheap ? s->heap[0]->due_ms : UINT64_MAX;
}

void sl_vsup_tick(sl_vsup *s, uint64_t now_ms)
{
    while (s->nheap && s->heap[0]->due_ms <= now_ms) {
        vrep *r = s->heap[0];
        unschedule(s, r);
        due(s, r);
    }
}

int sl_vsup_find(const sl_vsup *s, const char *service, uint32_t replica, sl_vsup_replica *out)
{
    const vrep *r = lookup(s, service, replica);
    if (!r)
        return SL_ENOTFOUND;
    if (out)
        *out = public_of(r, r->service);
    return 0;
}

size_t sl_vsup_count(const sl_vsup *s)
{
    return s->n;
}

static void call(const vrep *r, void (*fn)(void *ud, const sl_vsup_replica *r), void *ud)
{
    sl_vsup_replica out = public_of(r, r->service);
    fn(ud, &out);
}

void sl_vsup_foreach(const sl_vsup *s, void (*fn)(void *ud, const sl_vsup_replica *r), void *ud)
{
    for (size_t i = 0; i < s->n; i++)
        call(s->by_key[i], fn, ud);
}

void sl_vsup_foreach_of(const sl_vsup *s, const char *service,
                        void (*fn)(void *ud, const sl_vsup_replica *r), void *ud)
{
    if (!service)
        return;
    for (size_t i = lower_bound(s, service, 0); i < s->n && !strcmp(s->by_key[i]->service, service);
         i++)
        call(s->by_key[i], fn, ud);
}

const sl_vsup_stats *sl_vsup_get_stats(const sl_vsup *s)
{
    return &s->stats;
}
