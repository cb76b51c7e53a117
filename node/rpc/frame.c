/* Length-prefixed frames: see frame.h. */
#include <stdlib.h>
#include <string.h>

#include "rpc/frame.h"
#include "starling/error.h"

/* Buffers up to this size are kept between frames; larger ones are freed so
 * that one big push-pull does not pin memory for the life of a connection. */
#define KEEP_CAP 4096

void sl__frame_init(sl__frame *f, size_t max)
{
    memset(f, 0, sizeof *f);
    f->max = max;
}

void sl__frame_deinit(sl__frame *f)
{
    free(f->data);
    f->data = NULL;
    f->cap = 0;
}

void sl__frame_reset(sl__frame *f)
{
    f->hdr_got = 0;
    f->want = 0;
    f->got = 0;
    if (f->cap > KEEP_CAP)
        sl__frame_deinit(f);
}

void sl__frame_header(uint8_t hdr[4], size_t len)
{
    hdr[0] = (uint8_t)(len >> 24);
    hdr[1] = (uint8_t)(len >> 16);
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
}

/* Makes room for at least `need` bytes, growing geometrically but never past
 * the declared length of the frame. */
static int reserve(sl__frame *f, size_t need)
{
    if (need <= f->cap)
        return 0;
    size_t cap = f->cap ? f->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > f->want)
        cap = f->want;
    uint8_t *d = realloc(f->data, cap);
    if (!d)
        return SL_ENOMEM;
    f->data = d;
    f->cap = cap;
    return 0;
}

int sl__frame_feed(sl__frame *f, const uint8_t **p, size_t *n)
{
    while (f->hdr_got < 4) {
        if (*n == 0)
            return 0;
        f->hdr[f->hdr_got++] = **p;
        (*p)++;
        (*n)--;
        if (f->hdr_got == 4) {
            f->want = (size_t)f->hdr[0] << 24 | (size_t)f->hdr[1] << 16 | (size_t)f->hdr[2] << 8 |
                      f->hdr[3];
            if (f->want > f->max)
                return SL_ETOOBIG;
            f->got = 0;
            if (f->want == 0)
                return 1;
        }
    }
    size_t take = f->want - f->got;
    if (take > *n)
        take = *n;
    if (take) {
        if (reserve(f, f->got + take) != 0)
            return SL_ENOMEM;
        memcpy(f->data + f->got, *p, take);
        f->got += take;
        *p += take;
        *n -= take;
    }
    return f->got == f->want ? 1 : 0;
}
