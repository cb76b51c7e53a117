/* The fake world's event heap: a binary min-heap of events ordered by (time
 * in microseconds, insertion sequence). The sequence, taken from the world's
 * counter at each push, breaks ties, so that events due at the same time pop
 * in the order they were pushed and two runs with the same seed pop the
 * same events in the same order. */
#include <stdlib.h>

#include "world.h"
#include "world_internal.h"

static bool ev_less(const sl__world_event *a, const sl__world_event *b)
{
    return a->at_us < b->at_us || (a->at_us == b->at_us && a->seq < b->seq);
}

void sl__world_heap_push(sl_world *w, sl__world_event ev)
{
    if (w->nheap == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 1024;
        sl__world_event *h = realloc(w->heap, cap * sizeof *h);
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

sl__world_event sl__world_heap_pop(sl_world *w)
{
    sl__world_event top = w->heap[0];
    sl__world_event last = w->heap[--w->nheap];
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

bool sl__world_heap_due(const sl_world *w, uint64_t limit_us)
{
    return w->nheap != 0 && w->heap[0].at_us <= limit_us;
}

void sl__world_heap_free(sl_world *w)
{
    for (size_t i = 0; i < w->nheap; i++)
        free(w->heap[i].data);
    free(w->heap);
}
