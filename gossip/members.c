/* The member table: a dense array of members (position 0 is ourselves) and
 * an open-addressing index from name to position with linear probing.
 *
 * Dense, because the prober, the gossip fan-out and the push-pull encoder all
 * walk or sample the members, and because every simulated node holds the
 * whole table: a compact array is both the fastest and the smallest layout.
 * A member is 56 bytes (swim_internal.h): names of up to SL__NAME_INLINE
 * bytes are stored in the record, metadata is interned per core (members
 * with the same blob, most of them in a zoned cluster, share one refcounted
 * copy), an IPv4 address is inline (IPv6 ones live in a side table), and
 * the rarely used suspicion and queued update live in side tables. The array grows by 1/8 per step
 * (large blocks are remapped, not copied), so that its slack stays small.
 *
 * An index slot holds the position (24 bits) and 8 more bits of the name's
 * hash, so a lookup reads the member only when those match: one cache miss
 * in the index, one in the member (whose name is inline), at a load factor
 * of at most 3/4.
 *
 * Removal swaps the last member into the hole and fixes the index; the
 * probe order tolerates positions that moved (it is reshuffled every round
 * and each pick is re-checked). */
#include <stdlib.h>
#include <string.h>

#include "starling/error.h"
#include "starling/rng.h"
#include "swim_internal.h"

#define POS_MASK 0xffffffu

_Static_assert(sizeof(sl__member) <= 56, "a member is at most 56 bytes (swim_internal.h)");

uint64_t sl__name_hash(const char *name, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 0x100000001b3ull;
    return sl_mix64(h);
}

/* The index slot for position pos of a name with hash h. */
static inline uint32_t slot_of(uint32_t h, uint32_t pos)
{
    return (h & 0xff000000u) | (pos + 1);
}

static uint32_t member_hash(const sl__member *m)
{
    return (uint32_t)sl__name_hash(sl__member_name(m), m->name_len);
}

sl__member *sl__member_find(const sl_swim *s, const char *name, size_t len)
{
    uint32_t h = (uint32_t)sl__name_hash(name, len);
    uint32_t tag = h & 0xff000000u;
    for (uint32_t i = h & s->index_mask;; i = (i + 1) & s->index_mask) {
        uint32_t slot = s->index[i];
        if (slot == 0)
            return NULL;
        if ((slot & 0xff000000u) != tag)
            continue;
        sl__member *m = &s->m[(slot & POS_MASK) - 1];
        if (m->name_len == len && memcmp(sl__member_name(m), name, len) == 0)
            return m;
    }
}

void sl__member_prefetch(const sl_swim *s, const char *name, size_t len, int stage)
{
    uint32_t h = (uint32_t)sl__name_hash(name, len);
    const uint32_t *slot = &s->index[h & s->index_mask];
    if (stage == 0) {
        __builtin_prefetch(slot);
    } else if ((*slot & 0xff000000u) == (h & 0xff000000u)) {
        __builtin_prefetch(&s->m[(*slot & POS_MASK) - 1]);
    }
}

static void index_insert(sl_swim *s, uint32_t h, uint32_t pos)
{
    for (uint32_t i = h & s->index_mask;; i = (i + 1) & s->index_mask)
        if (s->index[i] == 0) {
            s->index[i] = slot_of(h, pos);
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
        index_insert(s, member_hash(&s->m[p]), p);
    return 0;
}

static sl__member *add_failed(sl_swim *s)
{
    s->stats.alloc_failures++;
    return NULL;
}

sl__member *sl__member_add(sl_swim *s, const char *name, size_t len)
{
    if (s->nm >= SL__MEMBERS_MAX)
        return add_failed(s);
    if (s->nm == s->cap) {
        uint32_t cap = s->cap + s->cap / 8 + 16;
        sl__member *m = realloc(s->m, (size_t)cap * sizeof *m);
        if (!m)
            return add_failed(s);
        s->m = m;
        s->cap = cap;
    }
    if ((uint64_t)(s->nm + 1) * 4 > (uint64_t)(s->index_mask + 1) * 3 && index_grow(s) != 0)
        return add_failed(s);
    sl__member *m = &s->m[s->nm];
    memset(m, 0, sizeof *m);
    if (len <= SL__NAME_INLINE) {
        memcpy(m->name, name, len);
    } else {
        char *copy = malloc(len + 1);
        if (!copy)
            return add_failed(s);
        memcpy(copy, name, len);
        copy[len] = 0;
        memcpy(m->name, &copy, sizeof copy);
    }
    m->name_len = (uint8_t)len;
    index_insert(s, (uint32_t)sl__name_hash(name, len), s->nm);
    s->nm++;
    return m;
}

/* Removes position pos (whose name hashes to h) from the index, shifting
 * later entries of the same probe run back so that lookups never stop
 * early. */
static void index_remove(sl_swim *s, uint32_t h, uint32_t pos)
{
    uint32_t i = h & s->index_mask;
    while ((s->index[i] & POS_MASK) != pos + 1)
        i = (i + 1) & s->index_mask;
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & s->index_mask; s->index[j]; j = (j + 1) & s->index_mask) {
        uint32_t want = member_hash(&s->m[(s->index[j] & POS_MASK) - 1]) & s->index_mask;
        /* Move j into the hole if its home is not between hole and j. */
        bool between = hole <= j ? (hole < want && want <= j) : (hole < want || want <= j);
        if (!between) {
            s->index[hole] = s->index[j];
            hole = j;
        }
    }
    s->index[hole] = 0;
}

static void index_repoint(sl_swim *s, uint32_t h, uint32_t from, uint32_t to)
{
    uint32_t i = h & s->index_mask;
    while ((s->index[i] & POS_MASK) != from + 1)
        i = (i + 1) & s->index_mask;
    s->index[i] = slot_of(h, to);
}

static void meta_unref(sl_swim *s, uint32_t id);

static void addr6_release(sl_swim *s, sl__member *m)
{
    if (m->family != SL_ADDR_V6)
        return;
    memcpy(s->addr6[m->ip], &s->addr6_free, sizeof s->addr6_free);
    s->addr6_free = m->ip + 1;
    m->family = 0;
}

int sl__member_set_addr(sl_swim *s, sl__member *m, const sl_addr *a)
{
    if (a->family != SL_ADDR_V6) {
        addr6_release(s, m);
        memcpy(&m->ip, a->ip, 4);
    } else if (m->family != SL_ADDR_V6) {
        uint32_t slot;
        if (s->addr6_free) {
            slot = s->addr6_free - 1;
            memcpy(&s->addr6_free, s->addr6[slot], sizeof s->addr6_free);
        } else {
            if (s->naddr6 == s->addr6_cap) {
                uint32_t cap = s->addr6_cap ? s->addr6_cap * 2 : 8;
                uint8_t(*t)[16] = realloc(s->addr6, (size_t)cap * sizeof *t);
                if (!t) {
                    s->stats.alloc_failures++;
                    return SL_ENOMEM;
                }
                s->addr6 = t;
                s->addr6_cap = cap;
            }
            slot = s->naddr6++;
        }
        memcpy(s->addr6[slot], a->ip, 16);
        m->ip = slot;
    } else {
        memcpy(s->addr6[m->ip], a->ip, 16);
    }
    m->family = a->family;
    m->port = a->port;
    return 0;
}

void sl__member_remove(sl_swim *s, sl__member *m)
{
    uint32_t pos = sl__member_pos(s, m);
    uint32_t last = s->nm - 1;
    sl__bcast_drop_member(s, pos);
    index_remove(s, member_hash(m), pos);
    if (m->name_len > SL__NAME_INLINE)
        free((char *)sl__member_name(m));
    meta_unref(s, m->meta);
    addr6_release(s, m);
    sl__susp_remove(s, pos);
    if (pos != last) {
        s->m[pos] = s->m[last];
        index_repoint(s, member_hash(&s->m[pos]), last, pos);
        sl__bcast_moved(s, last, pos);
        sl__susp_moved(s, last, pos);
    }
    s->nm--;
}

/* Interned metadata: an array of refcounted blobs by id, and an open-
 * addressing index of the ids by content hash (load at most 1/2). */

static uint32_t meta_hash(const uint8_t *p, size_t len)
{
    return (uint32_t)sl__name_hash((const char *)p, len);
}

static void meta_index_insert(sl_swim *s, uint32_t id)
{
    for (uint32_t i = s->metas[id - 1]->hash & s->meta_index_mask;;
         i = (i + 1) & s->meta_index_mask)
        if (s->meta_index[i] == 0) {
            s->meta_index[i] = id;
            return;
        }
}

static void meta_index_remove(sl_swim *s, uint32_t id)
{
    uint32_t mask = s->meta_index_mask, i = s->metas[id - 1]->hash & mask;
    while (s->meta_index[i] != id)
        i = (i + 1) & mask;
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & mask; s->meta_index[j]; j = (j + 1) & mask) {
        uint32_t want = s->metas[s->meta_index[j] - 1]->hash & mask;
        bool between = hole <= j ? (hole < want && want <= j) : (hole < want || want <= j);
        if (!between) {
            s->meta_index[hole] = s->meta_index[j];
            hole = j;
        }
    }
    s->meta_index[hole] = 0;
}

static void meta_unref(sl_swim *s, uint32_t id)
{
    if (id == 0 || --s->metas[id - 1]->refs > 0)
        return;
    meta_index_remove(s, id);
    free(s->metas[id - 1]);
    s->metas[id - 1] = NULL;
    s->meta_free[s->nmeta_free++] = id;
}

/* Returns the id of an interned copy of meta[0..len), with one more
 * reference, or 0 when out of memory. */
static uint32_t meta_intern(sl_swim *s, const uint8_t *meta, size_t len)
{
    uint32_t h = meta_hash(meta, len);
    if (s->meta_index) {
        for (uint32_t i = h & s->meta_index_mask; s->meta_index[i];
             i = (i + 1) & s->meta_index_mask) {
            sl__meta *b = s->metas[s->meta_index[i] - 1];
            if (b->hash == h && b->len == len && memcmp(b->data, meta, len) == 0) {
                b->refs++;
                return s->meta_index[i];
            }
        }
    }
    if (!s->nmeta_free && s->nmetas == s->metas_cap) {
        uint32_t cap = s->metas_cap ? s->metas_cap * 2 : 8;
        sl__meta **a = realloc(s->metas, cap * sizeof *a);
        if (!a)
            return 0;
        s->metas = a;
        uint32_t *f = realloc(s->meta_free, cap * sizeof *f);
        if (!f)
            return 0;
        s->meta_free = f;
        s->metas_cap = cap;
    }
    uint32_t live = s->nmetas - s->nmeta_free + 1;
    if (!s->meta_index || live * 2 > s->meta_index_mask + 1) {
        uint32_t size = s->meta_index ? (s->meta_index_mask + 1) * 2 : 16;
        uint32_t *ix = calloc(size, sizeof *ix);
        if (!ix)
            return 0;
        free(s->meta_index);
        s->meta_index = ix;
        s->meta_index_mask = size - 1;
        for (uint32_t i = 1; i <= s->nmetas; i++)
            if (s->metas[i - 1])
                meta_index_insert(s, i);
    }
    sl__meta *b = malloc(sizeof *b + len);
    if (!b)
        return 0;
    b->refs = 1;
    b->hash = h;
    b->len = (uint16_t)len;
    memcpy(b->data, meta, len);
    uint32_t id = s->nmeta_free ? s->meta_free[--s->nmeta_free] : ++s->nmetas;
    s->metas[id - 1] = b;
    meta_index_insert(s, id);
    return id;
}

int sl__member_set_meta(sl_swim *s, sl__member *m, const uint8_t *meta, size_t len)
{
    uint16_t old_len;
    const uint8_t *old = sl__member_meta(s, m, &old_len);
    if (len == old_len && (len == 0 || memcmp(meta, old, len) == 0))
        return 0;
    uint32_t id = 0;
    if (len && !(id = meta_intern(s, meta, len))) {
        s->stats.alloc_failures++;
        return SL_ENOMEM;
    }
    meta_unref(s, m->meta);
    m->meta = id;
    return 1;
}

void sl__members_free(sl_swim *s)
{
    for (uint32_t i = 0; i < s->nm; i++)
        if (s->m[i].name_len > SL__NAME_INLINE)
            free((char *)sl__member_name(&s->m[i]));
    for (uint32_t i = 0; i < s->nmetas; i++)
        free(s->metas[i]);
    sl__susp_free(s);
    free(s->addr6);
    free(s->metas);
    free(s->meta_free);
    free(s->meta_index);
    free(s->m);
    free(s->index);
}
