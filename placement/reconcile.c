/* The reconcile step: see include/starling/reconcile.h.
 *
 * State kept between steps, per local replica (one table, keyed by service
 * and replica index):
 *
 *   started   the spec hash the replica was last started with, so that a
 *             redeploy with another command restarts it;
 *   handoff   when a hand-off began, who the successor is, and when we first
 *             saw the successor report the replica running.
 *
 * Entries go when the caller says the replica is gone
 * (sl_reconciler_forget) or when it no longer appears among the local
 * replicas. Lookups are linear: a peer holds tens of replicas, rarely
 * thousands, and each step is O(local + placed here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/reconcile.h"

typedef struct entry {
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t replica;
    bool has_spec;
    uint64_t spec_hash;
    bool handing;                  /* a hand-off is in flight */
    uint64_t since_ms;             /* it began then */
    uint64_t successor_running_ms; /* we first saw the successor run it, or 0 */
    char successor[SL_SVC_WRITER_MAX + 1];
    bool seen; /* among the local replicas in this step */
} entry;

struct sl_reconciler {
    uint32_t handoff_ms;
    entry *e;
    size_t n, cap;
    sl_rc_action *act;
    size_t nact, act_cap;
    sl_placement_cache *pc; /* the last step's placement input: incremental */
};

sl_reconciler *sl_reconciler_new(uint32_t handoff_ms)
{
    sl_reconciler *rc = calloc(1, sizeof *rc);
    if (!rc)
        return NULL;
    rc->handoff_ms = handoff_ms ? handoff_ms : SL_RC_HANDOFF_MS;
    rc->pc = sl_placement_cache_new();
    if (!rc->pc) {
        free(rc);
        return NULL;
    }
    return rc;
}

void sl_reconciler_free(sl_reconciler *rc)
{
    if (!rc)
        return;
    free(rc->e);
    free(rc->act);
    sl_placement_cache_free(rc->pc);
    free(rc);
}

uint64_t sl_service_spec_hash(const sl_service *svc)
{
    uint64_t h = 0xcbf29ce484222325ull;
    char *const *lists[] = {svc->argv, svc->env};
    uint32_t counts[] = {svc->argc, svc->envc};
    for (int l = 0; l < 2; l++) {
        for (uint32_t i = 0; i < counts[l]; i++)
            for (const char *c = lists[l][i];; c++) {
                h = (h ^ (uint8_t)*c) * 0x100000001b3ull; /* the NUL separates */
                if (!*c)
                    break;
            }
        h = (h ^ 0xff) * 0x100000001b3ull;
    }
    /* The health check, only when one is given, so that the hash of a
     * service without one is what it was before checks existed. */
    const sl_check *c = &svc->check;
    if (c->kind != SL_CHECK_DEFAULT) {
        uint32_t nums[] = {c->kind, c->interval_ms, c->timeout_ms, c->failures};
        for (int i = 0; i < 4; i++)
            h = (h ^ nums[i]) * 0x100000001b3ull;
        for (const char *p = c->arg; *p; p++)
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    }
    /* The user, only when one is given (same reason): a marker first, so
     * that no check argument followed by a user hashes as another split. */
    if (svc->user[0]) {
        h = (h ^ 0xfe) * 0x100000001b3ull;
        for (const char *p = svc->user; *p; p++)
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    }
    return h;
}

static entry *find(sl_reconciler *rc, const char *service, uint32_t replica)
{
    for (size_t i = 0; i < rc->n; i++)
        if (rc->e[i].replica == replica && !strcmp(rc->e[i].service, service))
            return &rc->e[i];
    return NULL;
}

/* Makes room for one more element in a growable array of n elements of
 * `size` bytes (*arr, capacity *cap), doubling it. Returns 0 or SL_ENOMEM. */
static int room_for_one(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t grown = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, grown * size);
    if (!p)
        return SL_ENOMEM;
    *arr = p;
    *cap = grown;
    return 0;
}

static entry *find_or_add(sl_reconciler *rc, const char *service, uint32_t replica)
{
    entry *x = find(rc, service, replica);
    if (x)
        return x;
    if (room_for_one((void **)&rc->e, &rc->cap, rc->n, sizeof *rc->e) != 0)
        return NULL;
    x = &rc->e[rc->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->service, sizeof x->service, "%s", service);
    x->replica = replica;
    return x;
}

void sl_reconciler_forget(sl_reconciler *rc, const char *service, uint32_t replica)
{
    entry *x = find(rc, service, replica);
    if (x)
        *x = rc->e[--rc->n];
}

size_t sl_reconciler_handoffs(const sl_reconciler *rc)
{
    size_t k = 0;
    for (size_t i = 0; i < rc->n; i++)
        k += rc->e[i].handing;
    return k;
}

static int emit(sl_reconciler *rc, sl_rc_action a)
{
    int e = room_for_one((void **)&rc->act, &rc->act_cap, rc->nact, sizeof *rc->act);
    if (e)
        return e;
    rc->act[rc->nact++] = a;
    return 0;
}

static size_t find_service(const sl_reconcile_input *in, const char *name)
{
    for (size_t i = 0; i < in->nsvc; i++)
        if (!strcmp(in->svc[i]->name, name))
            return i;
    return SIZE_MAX;
}

static const sl_rc_local *find_local(const sl_reconcile_input *in, const char *service,
                                     uint32_t replica)
{
    for (size_t i = 0; i < in->nlocal; i++)
        if (in->local[i].replica == replica && !strcmp(in->local[i].service, service))
            return &in->local[i];
    return NULL;
}

/* Starts what is placed here and not running (or running an older spec). */
static int start_owned(sl_reconciler *rc, const sl_reconcile_input *in, const sl_placement *p)
{
    for (size_t s = 0; s < in->nsvc && in->self >= 0; s++) {
        const sl_service *svc = in->svc[s];
        uint64_t h = 0;
        bool hashed = false;
        for (uint32_t r = 0; r < svc->replicas; r++) {
            if (sl_placement_node(p, s, r) != in->self)
                continue;
            if (!hashed) {
                h = sl_service_spec_hash(svc);
                hashed = true;
            }
            const sl_rc_local *l = find_local(in, svc->name, r);
            entry *x = find_or_add(rc, svc->name, r);
            if (!x)
                return SL_ENOMEM;
            x->handing = false; /* ours again */
            x->seen = true;
            sl_rc_kind k;
            if (!l || l->status == SL_REPLICA_STOPPING)
                k = SL_RC_START; /* the supervisor restarts a stopping one once stopped */
            else if (x->has_spec && x->spec_hash != h)
                k = SL_RC_RESTART;
            else if (!x->has_spec) {
                x->has_spec = true; /* held before we knew (a restart of the driver) */
                x->spec_hash = h;
                continue;
            } else
                continue;
            x->has_spec = true;
            x->spec_hash = h;
            int e =
                emit(rc, (sl_rc_action){.kind = k, .service = svc->name, .replica = r, .svc = svc});
            if (e)
                return e;
        }
    }
    return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Decides, for each local replica placement does not give us, whether to
 * keep it or stop it now. */
static int give_up_foreign(sl_reconciler *rc, const sl_reconcile_input *in, const sl_placement *p,
                           sl_reconcile_result *out)
{
    uint64_t now = in->now_ms;
    for (size_t i = 0; i < in->nlocal; i++) {
        const sl_rc_local *l = &in->local[i];
        if (l->status == SL_REPLICA_STOPPING)
            continue;
        size_t s = find_service(in, l->service);
        int32_t owner = s == SIZE_MAX || l->replica >= in->svc[s]->replicas
                            ? -2 /* deleted or scaled down: nobody */
                            : sl_placement_node(p, s, l->replica);
        if (owner >= 0 && owner == in->self)
            continue; /* start_owned saw it */
        entry *x = find_or_add(rc, l->service, l->replica);
        if (!x)
            return SL_ENOMEM;
        x->seen = true;
        if (owner == -1) { /* unplaceable: keep what we have */
            x->handing = false;
            continue;
        }
        sl_rc_action a = {.kind = SL_RC_STOP, .service = l->service, .replica = l->replica};
        if (owner == -2) {
            a.why = SL_RC_STOP_GONE;
        } else {
            const char *succ = in->members[owner].name;
            if (!x->handing || strcmp(x->successor, succ)) {
                x->handing = true;
                x->since_ms = now;
                x->successor_running_ms = 0;
                snprintf(x->successor, sizeof x->successor, "%s", succ);
                if (!out->handoffs_begun++) {
                    out->first_begun_service = l->service;
                    out->first_begun_replica = l->replica;
                    out->first_begun_successor = succ;
                }
            }
            /* The successor must run it now, and must have run it for the
             * whole linger: a successor that stopped running it (it crashed,
             * it gave it up) starts the linger again when it runs again. */
            bool runs = in->runs && in->runs(in->runs_ud, succ, l->service, l->replica);
            if (!runs)
                x->successor_running_ms = 0;
            else if (!x->successor_running_ms)
                x->successor_running_ms = now ? now : 1;
            bool trying =
                !runs && in->trying && in->trying(in->trying_ud, succ, l->service, l->replica);
            if (runs && now - x->successor_running_ms >= SL_RC_LINGER_MS)
                a.why = SL_RC_STOP_HANDED;
            else if (!runs && !trying && now - x->since_ms >= rc->handoff_ms)
                a.why = SL_RC_STOP_TIMEOUT;
            else {
                uint64_t at = runs     ? x->successor_running_ms + SL_RC_LINGER_MS
                              : trying ? now + SL_RC_POLL_MS
                                       : min_u64(now + SL_RC_POLL_MS, x->since_ms + rc->handoff_ms);
                out->next_ms = min_u64(out->next_ms, at);
                out->handoffs++;
                continue;
            }
            a.successor = succ;
        }
        x->handing = false;
        int e = emit(rc, a);
        if (e)
            return e;
    }
    return 0;
}

int sl_reconcile_placed(sl_reconciler *rc, const sl_reconcile_input *in, const sl_placement *p,
                        sl_reconcile_result *out)
{
    memset(out, 0, sizeof *out);
    out->next_ms = UINT64_MAX;
    rc->nact = 0;
    for (size_t i = 0; i < rc->n; i++)
        rc->e[i].seen = false;
    int e = start_owned(rc, in, p);
    if (!e)
        e = give_up_foreign(rc, in, p, out);
    if (e)
        return e;
    /* Entries of replicas that neither run here nor are placed here. */
    for (size_t i = 0; i < rc->n;)
        if (!rc->e[i].seen)
            rc->e[i] = rc->e[--rc->n];
        else
            i++;
    out->actions = rc->act;
    out->n = rc->nact;
    return 0;
}

int sl_reconcile(sl_reconciler *rc, const sl_reconcile_input *in, sl_reconcile_result *out)
{
    sl_placement *p = NULL;
    int e =
        sl_placement_cache_compute(rc->pc, in->members, in->nmembers, in->ps, in->nsvc, NULL, &p);
    if (e)
        return e;
    e = sl_reconcile_placed(rc, in, p, out);
    sl_placement_free(p);
    return e;
}

void sl_reconciler_placement_stats(const sl_reconciler *rc, sl_placement_cache_stats *out)
{
    sl_placement_cache_stats_get(rc->pc, out);
}

int sl_rc_locals_init(sl_rc_locals *l, size_t cap)
{
    memset(l, 0, sizeof *l);
    l->a = calloc(cap ? cap : 1, sizeof *l->a);
    l->names = calloc(cap ? cap : 1, sizeof *l->names);
    if (!l->a || !l->names) {
        sl_rc_locals_free(l);
        return SL_ENOMEM;
    }
    l->cap = cap;
    return 0;
}

void sl_rc_locals_add(sl_rc_locals *l, const char *service, uint32_t replica,
                      sl_replica_status status)
{
    if (l->n == l->cap)
        return;
    snprintf(l->names[l->n], sizeof l->names[l->n], "%s", service);
    l->a[l->n] = (sl_rc_local){l->names[l->n], replica, status};
    l->n++;
}

void sl_rc_locals_free(sl_rc_locals *l)
{
    free(l->a);
    free(l->names);
    memset(l, 0, sizeof *l);
}
