/* Read-only queries of the SWIM core: members by position or name, counts
 * by state, our own name and incarnation, statistics and timing. Nothing
 * here changes the core; views point into it and stay valid until the next
 * call that does (swim.h). */
#include <string.h>

#include "starling/error.h"
#include "swim_internal.h"

size_t sl_swim_pending_broadcasts(const sl_swim *s)
{
    return s->bq.count;
}

size_t sl_swim_size(const sl_swim *s)
{
    return s->nm;
}

static void view(const sl_swim *s, const sl__member *m, sl_member_view *out)
{
    uint16_t meta_len;
    out->name = sl__member_name(m);
    out->addr = sl__member_addr(s, m);
    out->inc = m->inc;
    out->state = (sl_member_state)m->state;
    out->meta = sl__member_meta(s, m, &meta_len);
    out->meta_len = meta_len;
    out->state_since_ms = m->since_ms;
    out->is_self = m == &s->m[0];
}

int sl_swim_member_at(const sl_swim *s, size_t i, sl_member_view *out)
{
    if (i >= s->nm)
        return SL_EINVAL;
    view(s, &s->m[i], out);
    return 0;
}

int sl_swim_find(const sl_swim *s, const char *name, sl_member_view *out)
{
    const sl__member *m = sl__member_find(s, name, strlen(name));
    if (!m)
        return SL_ENOTFOUND;
    view(s, m, out);
    return 0;
}

size_t sl_swim_count(const sl_swim *s, sl_member_state st)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->nm; i++)
        n += s->m[i].state == st;
    return n;
}

size_t sl_swim_live_peers(const sl_swim *s)
{
    /* nlive counts ourselves until we leave */
    return s->nlive - (s->left ? 0u : 1u);
}

const char *sl_swim_name(const sl_swim *s)
{
    return sl__member_name(&s->m[0]);
}

sl_incarnation sl_swim_incarnation(const sl_swim *s)
{
    return s->m[0].inc;
}

const sl_swim_stats *sl_swim_get_stats(const sl_swim *s)
{
    return &s->stats;
}

const sl_swim_timing *sl_swim_get_timing(const sl_swim *s)
{
    return &s->t;
}
