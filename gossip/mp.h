/* Internal: a strict msgpack cursor reader and a bounded msgpack writer.
 *
 * Reading: untrusted bytes never reach msgpack-c's object unpacker, which
 * allocates from a container's *declared* size before reading its elements
 * (see DESIGN.md: 5 bytes can ask it for 2 GB). This reader allocates
 * nothing: it walks the bytes with a cursor, checks every length against what
 * remains, and rejects any container that claims more elements than there are
 * bytes left. Every function returns 0 on success or SL_EMALFORMED, and on
 * failure leaves the cursor where it was.
 *
 * Writing: msgpack-c's packer with a write callback that appends to a
 * caller-owned fixed buffer and refuses to overflow it. */
#ifndef STARLING_GOSSIP_MP_H
#define STARLING_GOSSIP_MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl__mp_reader {
    const uint8_t *p;
    const uint8_t *end;
} sl__mp_reader;

static inline void sl__mp_reader_init(sl__mp_reader *r, const uint8_t *buf, size_t len)
{
    r->p = buf;
    r->end = buf + len;
}

static inline size_t sl__mp_remaining(const sl__mp_reader *r)
{
    return (size_t)(r->end - r->p);
}

int sl__mp_read_array(sl__mp_reader *r, uint32_t *n);
int sl__mp_read_map(sl__mp_reader *r, uint32_t *n);
int sl__mp_read_uint(sl__mp_reader *r, uint64_t *v);
/* Reads an unsigned integer that fits 32 bits. */
int sl__mp_read_u32(sl__mp_reader *r, uint32_t *v);
/* Reads a str of at most max bytes without NUL bytes into out (capacity
 * max + 1), NUL-terminated. */
int sl__mp_read_cstr(sl__mp_reader *r, char *out, size_t max);
int sl__mp_read_bool(sl__mp_reader *r, bool *v);
/* Reads a nil. */
int sl__mp_read_nil(sl__mp_reader *r);
/* Reads a str; *s points into the input and is not NUL-terminated. */
int sl__mp_read_str(sl__mp_reader *r, const char **s, uint32_t *len);
/* Reads a bin (a str is refused). */
int sl__mp_read_bin(sl__mp_reader *r, const uint8_t **b, uint32_t *len);
/* Skips one value of any type, nested containers included, up to a fixed
 * depth. */
int sl__mp_skip(sl__mp_reader *r);

/* Bounded writer. */
typedef struct sl__mp_writer {
    msgpack_packer pk;
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool overflow;
} sl__mp_writer;

void sl__mp_writer_init(sl__mp_writer *w, uint8_t *buf, size_t cap);

/* Convenience packers; errors surface as w->overflow. */
void sl__mp_put_str(sl__mp_writer *w, const char *s, size_t len);
void sl__mp_put_bin(sl__mp_writer *w, const void *b, size_t len);

#endif
