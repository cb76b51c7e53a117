/* The avoided (service, node) pairs: see avoid.h.
 *
 * Almost always empty: a pair exists only while a node says it gave a
 * replica up. Updates from single reports are a binary search; a rebuild
 * (after a push-pull merge or when reports are forgotten) scans every
 * report, and happens only when a report listing a give-up was stored since
 * the last one or pairs are held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avoid.h"

void sl__avoid_free(sl__avoid *a)
{
    free(a->p);
    memset(a, 0, sizeof *a);
}

static int pair_cmp(const sl__avoid_pair *p, const char *service, const char *node)
{
    int c = strcmp(p->service, service);
    return c ? c : strcmp(p->node, node);
}

static size_t lower_bound(const sl__avoid *a, const char *service, const char *node)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (pair_cmp(&a->p[mid], service, node) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool lists_gave_up(const sl_report *r)
{
    for (uint32_t i = 0; r && i < r->n; i++)
        if (r->replicas[i].gave_up)
            return true;
    return false;
}

bool sl__avoid_update(sl__avoid *a, const char *node, const char *service, const sl_report *r)
{
    bool on = lists_gave_up(r);
    size_t pos = lower_bound(a, service, node);
    bool held = pos < a->n && pair_cmp(&a->p[pos], service, node) == 0;
    if (on == held)
        return false;
    if (!on) {
        memmove(&a->p[pos], &a->p[pos + 1], (a->n - pos - 1) * sizeof *a->p);
        a->n--;
        return true;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        sl__avoid_pair *p = realloc(a->p, cap * sizeof *p);
        if (!p)
            return false;
        a->p = p;
        a->cap = cap;
    }
    memmove(&a->p[pos + 1], &a->p[pos], (a->n - pos) * sizeof *a->p);
    memset(&a->p[pos], 0, sizeof a->p[pos]);
    snprintf(a->p[pos].service, sizeof a->p[pos].service, "%s", service);
    snprintf(a->p[pos].node, sizeof a->p[pos].node, "%s", node);
    a->n++;
    return true;
}

bool sl__avoid_refresh(sl__avoid *a, const sl_reports *t, bool changed)
{
    uint64_t stored = sl_reports_gave_up_stored(t);
    if (stored == a->seen && !(changed && a->n))
        return false;
    a->seen = stored;
    sl__avoid fresh = {0};
    sl_report r;
    for (size_t i = 0; sl_reports_at(t, i, &r); i++)
        if (lists_gave_up(&r))
            sl__avoid_update(&fresh, r.node, r.service, &r);
    bool differs = fresh.n != a->n || (a->n && memcmp(fresh.p, a->p, a->n * sizeof *a->p) != 0);
    free(a->p);
    a->p = fresh.p;
    a->n = fresh.n;
    a->cap = fresh.cap;
    return differs;
}

size_t sl__avoid_range(const sl__avoid *a, const char *service, size_t *first)
{
    size_t pos = lower_bound(a, service, ""), k = pos;
    while (k < a->n && strcmp(a->p[k].service, service) == 0)
        k++;
    *first = pos;
    return k - pos;
}
