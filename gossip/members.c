/* The member table: a dense array of members (position 0 is ourselves) and
 * an open-addressing index from name to position with linear probing.
 *
 * Dense, because the prober, the gossip fan-out and the push-pull encoder all
 * walk or sample the members, and because every simulated node holds the
 * whole table: a compact array is both the fastest and the smallest layout.
 * Removal swaps the last member into the hole and fixes the index; the
 * probe order tolerates positions that moved (it is reshuffled every round
 * and each pick is re-checked). */
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/rng.h"
#include "swim_internal.h"

uint64_t sl__name_hash(const char *name, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 0x100000001b3ull;
    return sl_mix64(h);
}

static bool name_is(const sl__member *m, const char *name, size_t len)
{
    return strncmp(m->name, name, len) == 0 && m->name[len] == 0;
}

sl__member *sl__member_find(const sl_swim *s, const char *name, size_t len)
{
    uint32_t h = (uint32_t)sl__name_hash(name, len);
    for (uint32_t i = h & s->index_mask;; i = (i + 1) & s->index_mask) {
        uint32_t slot = s->index[i];
        if (slot == 0)
            return NULL;
        sl__member *m = &s->m[slot - 1];
        if (m->hash == h && name_is(m, name, len))
            return m;
    }
}

static void index_insert(sl_swim *s, uint32_t pos)
{
    for (uint32_t i = s->m[pos].hash & s->index_mask;; i = (i + 1) & s->index_mask)
        if (s->index[i] == 0) {
            s->index[i] = pos + 1;
            return;
        }
}

static int index_grow(sl_swim *s)
{
    uint32_t size = (s->index_mask + 1) * 2;
    uint32_t *ix = calloc(size, sizeof *ix);
    if (!ix)
        return SL_ENOMEM;
    free(s->index);
    s->index = ix;
    s->index_mask = size - 1;
    for (uint32_t p = 0; p < s->nm; p++)
        index_insert(s, p);
    return 0;
}

sl__member *sl__member_add(sl_swim *s, const char *name, size_t len)
{
    if (s->nm == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 16;
        sl__member *m = realloc(s->m, (size_t)cap * sizeof *m);
        if (!m)
            return NULL;
        s->m = m;
        s->cap = cap;
    }
    if ((s->nm + 1) * 2 > s->index_mask + 1 && index_grow(s) != 0)
        return NULL;
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, name, len);
    copy[len] = 0;
    sl__member *m = &s->m[s->nm];
    memset(m, 0, sizeof *m);
    m->name = copy;
    m->hash = (uint32_t)sl__name_hash(name, len);
    index_insert(s, s->nm);
    s->nm++;
    return m;
}

/* Removes position pos from the index, shifting later entries of the same
 * probe run back so that lookups never stop early. */
static void index_remove(sl_swim *s, uint32_t pos)
{
    uint32_t i = s->m[pos].hash & s->index_mask;
    while (s->index[i] != pos + 1)
        i = (i + 1) & s->index_mask;
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & s->index_mask; s->index[j]; j = (j + 1) & s->index_mask) {
        uint32_t want = s->m[s->index[j] - 1].hash & s->index_mask;
        /* Move j into the hole if its home is not between hole and j. */
        bool between = hole <= j ? (hole < want && want <= j) : (hole < want || want <= j);
        if (!between) {
            s->index[hole] = s->index[j];
            hole = j;
        }
    }
    s->index[hole] = 0;
}

static void index_repoint(sl_swim *s, uint32_t from, uint32_t to)
{
    uint32_t i = s->m[to].hash & s->index_mask;
    while (s->index[i] != from + 1)
        i = (i + 1) & s->index_mask;
    s->index[i] = to + 1;
}

void sl__member_remove(sl_swim *s, sl__member *m)
{
    uint32_t pos = sl__member_pos(s, m);
    uint32_t last = s->nm - 1;
    sl__bcast_drop_member(s, pos);
    index_remove(s, pos);
    free(m->name);
    free(m->meta);
    free(m->susp);
    if (pos != last) {
        s->m[pos] = s->m[last];
        index_repoint(s, last, pos);
        sl__bcast_moved(s, last, pos);
        for (uint32_t i = 0; i < s->nsusp; i++)
            if (s->susp_pos[i] == last)
                s->susp_pos[i] = pos;
    }
    s->nm--;
}

int sl__member_set_meta(sl__member *m, const uint8_t *meta, size_t len)
{
    if (len == m->meta_len && (len == 0 || memcmp(meta, m->meta, len) == 0))
        return 0;
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return SL_ENOMEM;
        memcpy(copy, meta, len);
    }
    free(m->meta);
    m->meta = copy;
    m->meta_len = (uint16_t)len;
    return 1;
}
