/* msgpack <-> jansson for the RPC: see mpjson.h.
 *
 * The encoder packs with msgpack-c into a growing buffer: the values are our
 * own, so only memory bounds them. The decoder is a small cursor reader of
 * its own rather than gossip/mp.h's, because it must accept any shape (the
 * RPC is self-describing) where the gossip reader expects known fields. */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/mpjson.h"

static int pack(msgpack_packer *pk, const json_t *v, int depth)
{
    if (depth > SL__MPJSON_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_NULL: return msgpack_pack_nil(pk);
    case JSON_TRUE: return msgpack_pack_true(pk);
    case JSON_FALSE: return msgpack_pack_false(pk);
    case JSON_INTEGER: return msgpack_pack_int64(pk, json_integer_value(v));
    case JSON_REAL: return msgpack_pack_double(pk, json_real_value(v));
    case JSON_STRING: {
        size_t n = json_string_length(v);
        if (msgpack_pack_str(pk, n) != 0)
            return -1;
        return msgpack_pack_str_body(pk, json_string_value(v), n);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        if (msgpack_pack_array(pk, json_array_size(v)) != 0)
            return -1;
        json_array_foreach(v, i, e) if (pack(pk, e, depth + 1) != 0) return -1;
        return 0;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        if (msgpack_pack_map(pk, json_object_size(v)) != 0)
            return -1;
        json_object_foreach((json_t *)v, k, e)
        {
            size_t n = strlen(k);
            if (msgpack_pack_str(pk, n) != 0 || msgpack_pack_str_body(pk, k, n) != 0 ||
                pack(pk, e, depth + 1) != 0)
                return -1;
        }
        return 0;
    }
    }
    return -1;
}

int sl__mpjson_encode(const json_t *v, uint8_t **out, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (pack(&pk, v, 0) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return -1;
    }
    *out = (uint8_t *)sb.data;
    *len = sb.size;
    if (!sb.data) {
        *out = malloc(1);
        if (!*out)
            return -1;
    }
    return 0;
}

typedef struct cursor {
    const uint8_t *p;
    const uint8_t *end;
} cursor;

static int take(cursor *c, size_t n, const uint8_t **at)
{
    if ((size_t)(c->end - c->p) < n)
        return -1;
    *at = c->p;
    c->p += n;
    return 0;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads an n-byte big-endian unsigned number. */
static int read_be(cursor *c, int n, uint64_t *v)
{
    const uint8_t *at;
    if (take(c, (size_t)n, &at) != 0)
        return -1;
    *v = be(at, n);
    return 0;
}

static json_t *decode(cursor *c, int depth);

static json_t *decode_str(cursor *c, uint64_t n)
{
    const uint8_t *at;
    if (take(c, n, &at) != 0)
        return NULL;
    return json_stringn((const char *)at, n); /* NULL for invalid UTF-8 */
}

static json_t *decode_array(cursor *c, uint64_t n, int depth)
{
    if (n > (uint64_t)(c->end - c->p))
        return NULL;
    json_t *a = json_array();
    for (uint64_t i = 0; a && i < n; i++) {
        json_t *e = decode(c, depth + 1);
        if (!e || json_array_append_new(a, e) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *decode_map(cursor *c, uint64_t n, int depth)
{
    if (n > (uint64_t)(c->end - c->p) / 2)
        return NULL;
    json_t *m = json_object();
    for (uint64_t i = 0; m && i < n; i++) {
        json_t *k = decode(c, depth + 1);
        json_t *v = k && json_is_string(k) ? decode(c, depth + 1) : NULL;
        /* jansson keys are C strings: a key with a NUL byte is refused. */
        if (!v || strlen(json_string_value(k)) != json_string_length(k) ||
            json_object_set_new(m, json_string_value(k), v) != 0) {
            json_decref(v);
            json_decref(k);
            json_decref(m);
            return NULL;
        }
        json_decref(k);
    }
    return m;
}

/* Decodes the value whose first byte is b (already consumed) when b starts a
 * variable-length form; returns NULL for malformed or unsupported input. */
static json_t *decode_long(cursor *c, uint8_t b, int depth)
{
    uint64_t n;
    switch (b) {
    case 0xc0: return json_null();
    case 0xc2: return json_false();
    case 0xc3: return json_true();
    case 0xca:
    case 0xcb: {
        if (read_be(c, b == 0xca ? 4 : 8, &n) != 0)
            return NULL;
        if (b == 0xca) {
            uint32_t u = (uint32_t)n;
            float f;
            memcpy(&f, &u, 4);
            return json_real(f);
        }
        double d;
        memcpy(&d, &n, 8);
        return json_real(d);
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: {
        int w = 1 << (b - 0xcc);
        if (read_be(c, w, &n) != 0 || n > INT64_MAX)
            return NULL;
        return json_integer((json_int_t)n);
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        int w = 1 << (b - 0xd0);
        if (read_be(c, w, &n) != 0)
            return NULL;
        int64_t s =
            w == 8 ? (int64_t)n : (int64_t)(n ^ (1ull << (8 * w - 1))) - (1ll << (8 * w - 1));
        return json_integer(s);
    }
    case 0xd9:
    case 0xda:
    case 0xdb:
        if (read_be(c, 1 << (b - 0xd9), &n) != 0)
            return NULL;
        return decode_str(c, n);
    case 0xdc:
    case 0xdd:
        if (read_be(c, b == 0xdc ? 2 : 4, &n) != 0)
            return NULL;
        return decode_array(c, n, depth);
    case 0xde:
    case 0xdf:
        if (read_be(c, b == 0xde ? 2 : 4, &n) != 0)
            return NULL;
        return decode_map(c, n, depth);
    }
    return NULL; /* bin, ext and the reserved byte are not used by the RPC */
}

static json_t *decode(cursor *c, int depth)
{
    const uint8_t *at;
    if (depth > SL__MPJSON_DEPTH || take(c, 1, &at) != 0)
        return NULL;
    uint8_t b = *at;
    if (b <= 0x7f)
        return json_integer(b);
    if (b >= 0xe0)
        return json_integer((int8_t)b);
    if ((b & 0xe0) == 0xa0)
        return decode_str(c, b & 0x1f);
    if ((b & 0xf0) == 0x90)
        return decode_array(c, b & 0x0f, depth);
    if ((b & 0xf0) == 0x80)
        return decode_map(c, b & 0x0f, depth);
    return decode_long(c, b, depth);
}

int sl__mpjson_decode(const uint8_t *buf, size_t len, json_t **out)
{
    cursor c = {buf, buf + len};
    json_t *v = decode(&c, 0);
    if (!v)
        return -1;
    if (c.p != c.end) {
        json_decref(v);
        return -1;
    }
    *out = v;
    return 0;
}
