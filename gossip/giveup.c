/* Giving up a replica that cannot start here: see include/starling/giveup.h.
 *
 * One entry per local replica that is starting, failing to start, or given
 * up: its run of failed starts, the last status seen (a FAILED right after
 * STARTING is a failed start; after RUNNING, a crash), and, once given up,
 * until when and under which spec stamp. RUNNING and removal drop the
 * entry (a give-up stays until it ends). A peer holds few such entries
 * (replicas on their way up, or failing), so the table is a plain array
 * searched linearly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "starling/catalog.h"
#include "starling/giveup.h"

typedef struct gentry {
    char service[SL_SVC_NAME_MAX + 1];
    uint32_t replica;
    uint32_t fails;      /* failed starts in a row */
    uint32_t last;       /* the last status noted */
    bool given_up;       /* until `until` */
    uint64_t until;      /* monotonic ms */
    uint64_t spec_stamp; /* of the service when given up */
} gentry;

struct sl_giveup {
    uint32_t after, for_ms;
    gentry *e;
    size_t n, cap;
};

sl_giveup *sl_giveup_new(uint32_t after, uint32_t for_ms)
{
    if (after > SL_GIVEUP_AFTER_MAX || for_ms > SL_GIVEUP_FOR_MAX_MS)
        return NULL;
    sl_giveup *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->after = after ? after : SL_GIVEUP_AFTER;
    g->for_ms = for_ms ? for_ms : SL_GIVEUP_FOR_MS;
    return g;
}

void sl_giveup_free(sl_giveup *g)
{
    if (!g)
        return;
    free(g->e);
    free(g);
}

static gentry *find(const sl_giveup *g, const char *service, uint32_t replica)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->e[i].replica == replica && !strcmp(g->e[i].service, service))
            return &g->e[i];
    return NULL;
}

static void drop(sl_giveup *g, gentry *x)
{
    *x = g->e[--g->n];
}

/* Adds an entry, or returns NULL when out of memory (the count is then
 * lost: the replica is retried as before, never given up wrongly). */
static gentry *add(sl_giveup *g, const char *service, uint32_t replica)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        gentry *e = realloc(g->e, cap * sizeof *e);
        if (!e)
            return NULL;
        g->e = e;
        g->cap = cap;
    }
    gentry *x = &g->e[g->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->service, sizeof x->service, "%s", service);
    x->replica = replica;
    x->last = SL_REPLICA_STARTING;
    return x;
}

bool sl_giveup_note(sl_giveup *g, const char *service, uint32_t replica, sl_replica_status st,
                    uint64_t spec_stamp, uint64_t now_ms)
{
    gentry *x = find(g, service, replica);
    if (st == SL_REPLICA_RUNNING) { /* it runs: whatever failed before, a give-up too, is over */
        if (x)
            drop(g, x);
        return false;
    }
    if (x && x->given_up)
        return false; /* placed here again as a last resort (placement.h): it retries */
    if (st == SL_REPLICA_STARTING) {
        if (!x && !(x = add(g, service, replica)))
            return false;
        x->last = st;
        return false;
    }
    if (st != SL_REPLICA_FAILED && st != SL_REPLICA_OOM) {
        if (x)
            x->last = st;
        return false;
    }
    /* Only an exit (FAILED, or OOM) seen right after STARTING is a failed
     * start: without an entry, the replica was running (RUNNING drops it):
     * a crash. */
    bool start_failed = x && x->last == SL_REPLICA_STARTING;
    if (x)
        x->last = st;
    if (!start_failed)
        return false;
    if (++x->fails < g->after)
        return false;
    x->given_up = true;
    x->until = now_ms + g->for_ms;
    x->spec_stamp = spec_stamp;
    return true;
}

void sl_giveup_gone(sl_giveup *g, const char *service, uint32_t replica)
{
    gentry *x = find(g, service, replica);
    if (x && !x->given_up)
        drop(g, x);
}

bool sl_giveup_active(const sl_giveup *g, const char *service, uint32_t replica)
{
    const gentry *x = find(g, service, replica);
    return x && x->given_up;
}

uint32_t sl_giveup_annotate(const sl_giveup *g, const char *service, sl_replica_report *reps,
                            uint32_t n, uint32_t cap)
{
    for (size_t i = 0; i < g->n; i++) {
        const gentry *x = &g->e[i];
        if (!x->given_up || strcmp(x->service, service))
            continue;
        uint32_t k = 0;
        while (k < n && reps[k].replica != x->replica)
            k++;
        if (k == n) {
            if (n == cap)
                continue;
            reps[n++] = (sl_replica_report){.replica = x->replica, .status = SL_REPLICA_FAILED};
        }
        if (reps[k].status != SL_REPLICA_RUNNING) /* never: RUNNING ends the give-up */
            reps[k].gave_up = true;
    }
    return n;
}

uint64_t sl_giveup_deadline(const sl_giveup *g)
{
    uint64_t d = UINT64_MAX;
    for (size_t i = 0; i < g->n; i++)
        if (g->e[i].given_up && g->e[i].until < d)
            d = g->e[i].until;
    return d;
}

size_t sl_giveup_expire(sl_giveup *g, uint64_t now_ms,
                        uint64_t (*spec_of)(void *ud, const char *service),
                        void (*ended)(void *ud, const char *service), void *ud)
{
    size_t k = 0;
    for (size_t i = 0; i < g->n;) {
        gentry *x = &g->e[i];
        if (!x->given_up ||
            (now_ms < x->until && (!spec_of || spec_of(ud, x->service) == x->spec_stamp))) {
            i++;
            continue;
        }
        char service[SL_SVC_NAME_MAX + 1];
        memcpy(service, x->service, sizeof service);
        drop(g, x);
        k++;
        if (ended)
            ended(ud, service);
    }
    return k;
}

size_t sl_giveup_count(const sl_giveup *g)
{
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        k += g->e[i].given_up;
    return k;
}
