/* The strict msgpack cursor reader and bounded writer (see mp.h). */
#include <string.h>

#include "mp.h"
#include "starling/error.h"

#define MP_MAX_DEPTH 16

static int need(const sl__mp_reader *r, size_t n)
{
    return sl__mp_remaining(r) >= n ? 0 : SL_EMALFORMED;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads a container header. fix_base/fix_mask describe the fix form; b16/b32
 * are the 16- and 32-bit forms. Each element takes at least one byte (a map
 * entry two), so a count beyond the remaining bytes is malformed. */
static int read_container(sl__mp_reader *r, uint32_t *n, uint8_t fix_base, uint8_t b16, uint8_t b32,
                          uint32_t bytes_per_elem)
{
    if (need(r, 1))
        return SL_EMALFORMED;
    uint8_t t = r->p[0];
    uint64_t count;
    size_t hdr;
    if ((t & 0xf0) == fix_base) {
        count = t & 0x0f;
        hdr = 1;
    } else if (t == b16) {
        if (need(r, 3))
            return SL_EMALFORMED;
        count = be(r->p + 1, 2);
        hdr = 3;
    } else if (t == b32) {
        if (need(r, 5))
            return SL_EMALFORMED;
        count = be(r->p + 1, 4);
        hdr = 5;
    } else {
        return SL_EMALFORMED;
    }
    if (count * bytes_per_elem > sl__mp_remaining(r) - hdr)
        return SL_EMALFORMED;
    r->p += hdr;
    *n = (uint32_t)count;
    return 0;
}

int sl__mp_read_array(sl__mp_reader *r, uint32_t *n)
{
    return read_container(r, n, 0x90, 0xdc, 0xdd, 1);
}

int sl__mp_read_map(sl__mp_reader *r, uint32_t *n)
{
    return read_container(r, n, 0x80, 0xde, 0xdf, 2);
}

int sl__mp_read_uint(sl__mp_reader *r, uint64_t *v)
{
    if (need(r, 1))
        return SL_EMALFORMED;
    uint8_t t = r->p[0];
    int n;
    if (t <= 0x7f) {
        *v = t;
        r->p++;
        return 0;
    }
    switch (t) {
    case 0xcc: n = 1; break;
    case 0xcd: n = 2; break;
    case 0xce: n = 4; break;
    case 0xcf: n = 8; break;
    default: return SL_EMALFORMED;
    }
    if (need(r, 1 + (size_t)n))
        return SL_EMALFORMED;
    *v = be(r->p + 1, n);
    r->p += 1 + n;
    return 0;
}

int sl__mp_read_u32(sl__mp_reader *r, uint32_t *v)
{
    const uint8_t *save = r->p;
    uint64_t x;
    if (sl__mp_read_uint(r, &x) != 0)
        return SL_EMALFORMED;
    if (x > UINT32_MAX) {
        r->p = save;
        return SL_EMALFORMED;
    }
    *v = (uint32_t)x;
    return 0;
}

int sl__mp_read_cstr(sl__mp_reader *r, char *out, size_t max)
{
    const uint8_t *save = r->p;
    const char *s;
    uint32_t n;
    if (sl__mp_read_str(r, &s, &n) != 0)
        return SL_EMALFORMED;
    if (n > max || memchr(s, 0, n)) {
        r->p = save;
        return SL_EMALFORMED;
    }
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

int sl__mp_read_bool(sl__mp_reader *r, bool *v)
{
    if (need(r, 1) || (r->p[0] != 0xc2 && r->p[0] != 0xc3))
        return SL_EMALFORMED;
    *v = r->p[0] == 0xc3;
    r->p++;
    return 0;
}

int sl__mp_read_nil(sl__mp_reader *r)
{
    if (need(r, 1) || r->p[0] != 0xc0)
        return SL_EMALFORMED;
    r->p++;
    return 0;
}

/* Reads a str (is_str) or bin header and body. */
static int read_bytes(sl__mp_reader *r, bool is_str, const uint8_t **b, uint32_t *len)
{
    if (need(r, 1))
        return SL_EMALFORMED;
    uint8_t t = r->p[0];
    uint64_t n;
    size_t hdr;
    if (is_str && (t & 0xe0) == 0xa0) {
        n = t & 0x1f;
        hdr = 1;
    } else if (t == (is_str ? 0xd9 : 0xc4)) {
        if (need(r, 2))
            return SL_EMALFORMED;
        n = r->p[1];
        hdr = 2;
    } else if (t == (is_str ? 0xda : 0xc5)) {
        if (need(r, 3))
            return SL_EMALFORMED;
        n = be(r->p + 1, 2);
        hdr = 3;
    } else if (t == (is_str ? 0xdb : 0xc6)) {
        if (need(r, 5))
            return SL_EMALFORMED;
        n = be(r->p + 1, 4);
        hdr = 5;
    } else {
        return SL_EMALFORMED;
    }
    if (need(r, hdr + n))
        return SL_EMALFORMED;
    *b = r->p + hdr;
    *len = (uint32_t)n;
    r->p += hdr + n;
    return 0;
}

int sl__mp_read_str(sl__mp_reader *r, const char **s, uint32_t *len)
{
    const uint8_t *b;
    int rc = read_bytes(r, true, &b, len);
    if (rc == 0)
        *s = (const char *)b;
    return rc;
}

int sl__mp_read_bin(sl__mp_reader *r, const uint8_t **b, uint32_t *len)
{
    return read_bytes(r, false, b, len);
}

static int skip(sl__mp_reader *r, int depth)
{
    if (depth > MP_MAX_DEPTH || need(r, 1))
        return SL_EMALFORMED;
    uint8_t t = r->p[0];
    const uint8_t *save = r->p;
    uint32_t n;
    const uint8_t *b;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
        r->p++;
        return 0;
    }
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd || (t & 0xf0) == 0x80 || t == 0xde ||
        t == 0xdf) {
        bool map = (t & 0xf0) == 0x80 || t == 0xde || t == 0xdf;
        if ((map ? sl__mp_read_map(r, &n) : sl__mp_read_array(r, &n)) != 0)
            return SL_EMALFORMED;
        uint64_t items = map ? 2ull * n : n;
        for (uint64_t i = 0; i < items; i++)
            if (skip(r, depth + 1) != 0) {
                r->p = save;
                return SL_EMALFORMED;
            }
        return 0;
    }
    if ((t & 0xe0) == 0xa0 || t == 0xd9 || t == 0xda || t == 0xdb)
        return read_bytes(r, true, &b, &n);
    if (t == 0xc4 || t == 0xc5 || t == 0xc6)
        return read_bytes(r, false, &b, &n);
    size_t fixed = 0;
    switch (t) {
    case 0xcc:
    case 0xd0: fixed = 2; break;
    case 0xcd:
    case 0xd1:
    case 0xd4: fixed = 3; break;
    case 0xce:
    case 0xd2:
    case 0xca: fixed = 5; break;
    case 0xcf:
    case 0xd3:
    case 0xcb: fixed = 9; break;
    case 0xd5: fixed = 4; break;
    case 0xd6: fixed = 6; break;
    case 0xd7: fixed = 10; break;
    case 0xd8: fixed = 18; break;
    case 0xc7:
    case 0xc8:
    case 0xc9: {
        int ln = t == 0xc7 ? 1 : t == 0xc8 ? 2 : 4;
        if (need(r, 1 + (size_t)ln))
            return SL_EMALFORMED;
        fixed = 1 + (size_t)ln + 1 + be(r->p + 1, ln);
        break;
    }
    default: return SL_EMALFORMED; /* 0xc1 is never used */
    }
    if (need(r, fixed))
        return SL_EMALFORMED;
    r->p += fixed;
    return 0;
}

int sl__mp_skip(sl__mp_reader *r)
{
    return skip(r, 0);
}

static int writer_cb(void *data, const char *buf, size_t len)
{
    sl__mp_writer *w = data;
    if (len == 0)
        return 0;
    if (w->overflow || len > w->cap - w->len) {
        w->overflow = true;
        return -1;
    }
    memcpy(w->buf + w->len, buf, len);
    w->len += len;
    return 0;
}

void sl__mp_writer_init(sl__mp_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = false;
    msgpack_packer_init(&w->pk, w, writer_cb);
}

void sl__mp_put_str(sl__mp_writer *w, const char *s, size_t len)
{
    msgpack_pack_str(&w->pk, len);
    msgpack_pack_str_body(&w->pk, s, len);
}

void sl__mp_put_bin(sl__mp_writer *w, const void *b, size_t len)
{
    msgpack_pack_bin(&w->pk, len);
    msgpack_pack_bin_body(&w->pk, b, len);
}
