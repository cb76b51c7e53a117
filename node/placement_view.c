/* The members placement sees: see placement_view.h. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "placement_view.h"
#include "starling/error.h"

static bool is_draining(const sl_meta *m)
{
    for (uint32_t i = 0; i < m->ntags; i++)
        if (!strcmp(m->tags[i].key, SL__TAG_DRAINING))
            return strcmp(m->tags[i].value, "1") == 0;
    return false;
}

int sl__placement_view_build(const sl_swim *swim, sl__placement_view *v)
{
    size_t n = sl_swim_size(swim);
    memset(v, 0, sizeof *v);
    v->pm = calloc(n ? n : 1, sizeof *v->pm);
    v->meta = calloc(n ? n : 1, sizeof *v->meta);
    if (!v->pm || !v->meta)
        return SL_ENOMEM;
    v->self = -1;
    for (size_t i = 0; i < n; i++) {
        sl_member_view mv;
        sl_swim_member_at(swim, i, &mv);
        if (mv.state != SL_MEMBER_ALIVE && mv.state != SL_MEMBER_SUSPECT)
            continue;
        sl_meta *m = &v->meta[v->n];
        if (sl_meta_decode(mv.meta, mv.meta_len, m) != 0 || m->slots > SL_PLACEMENT_WEIGHT_MAX) {
            if (!v->invalid++)
                v->first_invalid = mv.name;
            continue;
        }
        sl_placement_member *p = &v->pm[v->n];
        p->name = mv.name;
        p->zone = m->zone;
        p->weight = m->slots ? m->slots : 1;
        p->cpu_milli = m->cpu_milli;
        p->mem_mb = m->mem_mb;
        p->state = is_draining(m)                  ? SL_PLACEMENT_DRAINING
                   : mv.state == SL_MEMBER_SUSPECT ? SL_PLACEMENT_SUSPECT
                                                   : SL_PLACEMENT_ALIVE;
        if (mv.is_self)
            v->self = (int)v->n;
        v->n++;
    }
    return 0;
}

void sl__placement_view_free(sl__placement_view *v)
{
    free(v->pm);
    free(v->meta);
    memset(v, 0, sizeof *v);
}
