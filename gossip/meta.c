/* Node metadata codec: a msgpack map {"zone": str, "slots": uint, "cpu": uint,
 * "mem": uint, "tags": {str: str}}. Unknown keys are skipped so that newer
 * peers can add fields; known keys are checked strictly. */
#include <string.h>

#include "mp.h"
#include "starling/error.h"
#include "starling/meta.h"

int sl_meta_encode(const sl_meta *m, uint8_t *buf, size_t cap)
{
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, cap);
    msgpack_pack_map(&w.pk, 5);
    sl__mp_put_str(&w, "zone", 4);
    sl__mp_put_str(&w, m->zone, strlen(m->zone));
    sl__mp_put_str(&w, "slots", 5);
    msgpack_pack_uint32(&w.pk, m->slots);
    sl__mp_put_str(&w, "cpu", 3);
    msgpack_pack_uint32(&w.pk, m->cpu_milli);
    sl__mp_put_str(&w, "mem", 3);
    msgpack_pack_uint32(&w.pk, m->mem_mb);
    sl__mp_put_str(&w, "tags", 4);
    msgpack_pack_map(&w.pk, m->ntags);
    for (uint32_t i = 0; i < m->ntags && i < SL_META_TAGS_MAX; i++) {
        sl__mp_put_str(&w, m->tags[i].key, strlen(m->tags[i].key));
        sl__mp_put_str(&w, m->tags[i].value, strlen(m->tags[i].value));
    }
    return w.overflow ? SL_ETOOBIG : (int)w.len;
}

static int read_tags(sl__mp_reader *r, sl_meta *m)
{
    uint32_t n;
    if (sl__mp_read_map(r, &n) != 0 || n > SL_META_TAGS_MAX)
        return SL_EMALFORMED;
    for (uint32_t i = 0; i < n; i++)
        if (sl__mp_read_cstr(r, m->tags[i].key, SL_META_TAG_KEY_MAX) ||
            sl__mp_read_cstr(r, m->tags[i].value, SL_META_TAG_VALUE_MAX))
            return SL_EMALFORMED;
    m->ntags = n;
    return 0;
}

int sl_meta_decode(const uint8_t *buf, size_t len, sl_meta *m)
{
    memset(m, 0, sizeof *m);
    if (len == 0)
        return 0;
    sl__mp_reader r;
    uint32_t n;
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_map(&r, &n) != 0)
        return SL_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        int rc;
        if (sl__mp_read_str(&r, &k, &kl) != 0)
            return SL_EMALFORMED;
        if (kl == 4 && !memcmp(k, "zone", 4))
            rc = sl__mp_read_cstr(&r, m->zone, SL_META_ZONE_MAX);
        else if (kl == 5 && !memcmp(k, "slots", 5))
            rc = sl__mp_read_u32(&r, &m->slots);
        else if (kl == 3 && !memcmp(k, "cpu", 3))
            rc = sl__mp_read_u32(&r, &m->cpu_milli);
        else if (kl == 3 && !memcmp(k, "mem", 3))
            rc = sl__mp_read_u32(&r, &m->mem_mb);
        else if (kl == 4 && !memcmp(k, "tags", 4))
            rc = read_tags(&r, m);
        else
            rc = sl__mp_skip(&r);
        if (rc != 0)
            return SL_EMALFORMED;
    }
    return sl__mp_remaining(&r) == 0 ? 0 : SL_EMALFORMED;
}

int sl_meta_set_tag(sl_meta *m, const char *key, const char *value)
{
    if (!*key || strlen(key) > SL_META_TAG_KEY_MAX || strlen(value) > SL_META_TAG_VALUE_MAX)
        return SL_EINVAL;
    uint32_t i;
    for (i = 0; i < m->ntags; i++)
        if (!strcmp(m->tags[i].key, key))
            break;
    if (i == m->ntags) {
        if (m->ntags == SL_META_TAGS_MAX)
            return SL_ETOOBIG;
        m->ntags++;
    }
    strcpy(m->tags[i].key, key);
    strcpy(m->tags[i].value, value);
    return 0;
}
