/* The suspicion timer, as memberlist and Lifeguard define it.
 *
 * A suspect member is declared dead when its timer runs out. The timeout
 * scales with the cluster: min = suspicion_mult * log10(max(N, 10)) *
 * probe_interval (at least one full log10 step, so tiny clusters are not
 * hasty), and starts at max = suspicion_max_mult * min. Every independent
 * confirmation (another member suspecting the same incarnation) shrinks it
 * towards min on a logarithmic curve:
 *
 *   timeout(c) = max(min, max - (max - min) * log(c + 1) / log(k + 1))
 *
 * where k = suspicion_mult - 2 confirmations are expected. So a member that
 * many others independently fail to reach is declared dead quickly, while a
 * lone suspicion (perhaps from a member with a bad link) waits longer,
 * giving the suspect time to refute. With timing.plain_swim (Lifeguard off)
 * the timeout is fixed at min.
 *
 * This file also owns the suspect list (sl_swim.susp): which members are
 * suspect and the suspicion of each. swim_update.c adds and removes members
 * as their state changes, members.c follows a member's move or removal,
 * swim.c walks it for deadlines; none of them touches the array itself. */
#include <math.h>
#include <stdlib.h>

#include "swim_internal.h"

sl__suspicion *sl__suspicion_new(const sl_swim *s, uint64_t now_ms, uint64_t from_hash)
{
    sl__suspicion *sp = calloc(1, sizeof *sp);
    if (!sp)
        return NULL;
    double n = s->nlive > 10 ? (double)s->nlive : 10.0;
    double min = s->t.suspicion_mult * log10(n) * s->t.probe_interval_ms;
    sp->start_ms = now_ms;
    sp->min_ms = (uint32_t)min;
    sp->max_ms = (uint32_t)(min * s->t.suspicion_max_mult);
    sp->k = s->t.suspicion_mult > 2 ? s->t.suspicion_mult - 2 : 0;
    if (s->nlive < sp->k + 2)
        sp->k = 0;         /* too few members to expect confirmations */
    if (s->t.plain_swim) { /* Lifeguard off: a fixed timeout at the minimum */
        sp->max_ms = sp->min_ms;
        sp->k = 0;
    }
    sp->confirmers[0] = from_hash;
    sp->n = 0;
    return sp;
}

bool sl__suspicion_confirm(sl__suspicion *sp, uint64_t from_hash)
{
    if (sp->n >= sp->k)
        return false;
    size_t known = sp->n + 1;
    for (size_t i = 0; i < known && i < 8; i++)
        if (sp->confirmers[i] == from_hash)
            return false;
    if (known < 8)
        sp->confirmers[known] = from_hash;
    sp->n++;
    return true;
}

uint64_t sl__suspicion_deadline(const sl__suspicion *sp)
{
    if (sp->k == 0)
        return sp->start_ms + sp->min_ms;
    double frac = log((double)sp->n + 1.0) / log((double)sp->k + 1.0);
    double t = sp->max_ms - (sp->max_ms - sp->min_ms) * frac;
    if (t < sp->min_ms)
        t = sp->min_ms;
    return sp->start_ms + (uint64_t)t;
}

void sl__susp_add(sl_swim *s, uint32_t pos)
{
    sl__suspect_list *l = &s->susp;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 8;
        sl__suspect *p = realloc(l->v, cap * sizeof *p);
        if (!p) {
            s->stats.alloc_failures++; /* its suspicion will not run out */
            return;
        }
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = (sl__suspect){.pos = pos, .sp = NULL};
}

static sl__suspect *susp_entry(const sl_swim *s, uint32_t pos)
{
    for (uint32_t i = 0; i < s->susp.n; i++)
        if (s->susp.v[i].pos == pos)
            return &s->susp.v[i];
    return NULL;
}

void sl__susp_remove(sl_swim *s, uint32_t pos)
{
    sl__suspect *e = susp_entry(s, pos);
    if (!e)
        return;
    free(e->sp);
    *e = s->susp.v[--s->susp.n];
}

void sl__susp_set(sl_swim *s, uint32_t pos, sl__suspicion *sp)
{
    sl__suspect *e = susp_entry(s, pos);
    if (!e) {
        free(sp);
        return;
    }
    free(e->sp);
    e->sp = sp;
}

sl__suspicion *sl__susp_find(const sl_swim *s, uint32_t pos)
{
    const sl__suspect *e = susp_entry(s, pos);
    return e ? e->sp : NULL;
}

void sl__susp_moved(sl_swim *s, uint32_t from, uint32_t to)
{
    sl__suspect *e = susp_entry(s, from);
    if (e)
        e->pos = to;
}

uint64_t sl__susp_next_deadline(const sl_swim *s)
{
    uint64_t d = UINT64_MAX;
    for (uint32_t i = 0; i < s->susp.n; i++) {
        const sl__suspicion *sp = s->susp.v[i].sp;
        if (sp && sl__suspicion_deadline(sp) < d)
            d = sl__suspicion_deadline(sp);
    }
    return d;
}

void sl__susp_free(sl_swim *s)
{
    for (uint32_t i = 0; i < s->susp.n; i++)
        free(s->susp.v[i].sp);
    free(s->susp.v);
    s->susp = (sl__suspect_list){0};
}
