/* The gossip wire codec (see wire.h for the layout).
 *
 * Encoding uses msgpack-c's packer into a bounded buffer. Decoding uses our
 * allocation-free cursor reader (mp.c): a datagram comes from anyone, so no
 * length, count or nesting in it is trusted before it is checked against the
 * bytes that are really there and against our own limits (names of at most
 * SL_SWIM_NAME_MAX bytes, metadata of at most SL_SWIM_META_MAX).
 *
 * The codecs of a name and of an address are shared with the push-pull
 * state (swim_state.c) through wire_internal.h: this file is their one
 * place. */
#include <string.h>

#include "mp.h"
#include "starling/error.h"
#include "wire.h"
#include "wire_internal.h"

int sl_wire_open(const uint8_t *buf, size_t len, const char **cluster, uint32_t *cluster_len,
                 sl_wire_iter *it)
{
    if (len < 1)
        return SL_EMALFORMED;
    if (buf[0] != SL_WIRE_VERSION)
        return SL_EVERSION;
    sl__mp_reader r;
    sl__mp_reader_init(&r, buf + 1, len - 1);
    if (sl__mp_read_str(&r, cluster, cluster_len) != 0 || *cluster_len > SL_SWIM_CLUSTER_MAX)
        return SL_EMALFORMED;
    it->p = r.p;
    it->end = r.end;
    return 0;
}

int sl__wire_read_name(sl__mp_reader *r, const char **s, uint32_t *len)
{
    if (sl__mp_read_str(r, s, len) != 0 || *len == 0 || *len > SL_SWIM_NAME_MAX ||
        memchr(*s, 0, *len))
        return SL_EMALFORMED;
    return 0;
}

int sl__wire_read_addr(sl__mp_reader *r, sl_addr *a)
{
    const uint8_t *b;
    uint32_t n;
    if (sl__mp_read_bin(r, &b, &n) != 0 || (n != 6 && n != 18))
        return SL_EMALFORMED;
    memset(a, 0, sizeof *a);
    size_t iplen = n - 2;
    a->family = n == 6 ? SL_ADDR_V4 : SL_ADDR_V6;
    memcpy(a->ip, b, iplen);
    a->port = (uint16_t)((b[iplen] << 8) | b[iplen + 1]);
    return 0;
}

static int read_inc(sl__mp_reader *r, sl_incarnation *inc)
{
    return sl__mp_read_u32(r, &inc->gen) || sl__mp_read_u32(r, &inc->ctr) ? SL_EMALFORMED : 0;
}

/* Decodes the fields of a known type; returns how many fields it read or
 * SL_EMALFORMED. */
static int read_fields(sl__mp_reader *r, sl_msg *m, uint32_t nfields)
{
    switch (m->type) {
    case SL_MSG_PING:
        if (nfields < 4 || sl__mp_read_u32(r, &m->seq) ||
            sl__wire_read_name(r, &m->name, &m->name_len) ||
            sl__wire_read_name(r, &m->from, &m->from_len) || sl__wire_read_addr(r, &m->addr))
            return SL_EMALFORMED;
        return 4;
    case SL_MSG_PING_REQ:
        if (nfields < 3 || sl__mp_read_u32(r, &m->seq) ||
            sl__wire_read_name(r, &m->name, &m->name_len) || sl__wire_read_addr(r, &m->addr))
            return SL_EMALFORMED;
        return 3;
    case SL_MSG_ACK:
    case SL_MSG_NACK:
        if (nfields < 1 || sl__mp_read_u32(r, &m->seq))
            return SL_EMALFORMED;
        return 1;
    case SL_MSG_ALIVE:
        if (nfields < 5 || sl__wire_read_name(r, &m->name, &m->name_len) ||
            sl__wire_read_addr(r, &m->addr) || read_inc(r, &m->inc) ||
            sl__mp_read_bin(r, &m->meta, &m->meta_len) || m->meta_len > SL_SWIM_META_MAX)
            return SL_EMALFORMED;
        return 5;
    case SL_MSG_SUSPECT:
    case SL_MSG_DEAD:
        if (nfields < 4 || sl__wire_read_name(r, &m->name, &m->name_len) || read_inc(r, &m->inc) ||
            sl__wire_read_name(r, &m->from, &m->from_len))
            return SL_EMALFORMED;
        return 4;
    case SL_MSG_LEFT:
        if (nfields < 3 || sl__wire_read_name(r, &m->name, &m->name_len) || read_inc(r, &m->inc))
            return SL_EMALFORMED;
        return 3;
    case SL_MSG_USER:
        if (nfields < 1 || sl__mp_read_bin(r, &m->meta, &m->meta_len) ||
            m->meta_len > SL_SWIM_USER_MAX)
            return SL_EMALFORMED;
        return 1;
    default: return 0; /* unknown: every field is skipped */
    }
}

int sl_wire_next(sl_wire_iter *it, sl_msg *m)
{
    if (it->p >= it->end)
        return 0;
    sl__mp_reader r;
    sl__mp_reader_init(&r, it->p, (size_t)(it->end - it->p));
    uint32_t n;
    uint64_t type;
    memset(m, 0, sizeof *m);
    if (sl__mp_read_array(&r, &n) != 0 || n < 1 || sl__mp_read_uint(&r, &type) != 0 ||
        type > UINT32_MAX)
        goto bad;
    m->type = (uint32_t)type;
    int got = read_fields(&r, m, n - 1);
    if (got < 0)
        goto bad;
    for (uint32_t i = (uint32_t)got; i < n - 1; i++)
        if (sl__mp_skip(&r) != 0)
            goto bad;
    it->p = r.p;
    return 1;
bad:
    it->p = it->end;
    return SL_EMALFORMED;
}

int sl_wire_put_header(uint8_t *buf, size_t cap, const char *cluster)
{
    if (cap < 1)
        return SL_ESPACE;
    buf[0] = SL_WIRE_VERSION;
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf + 1, cap - 1);
    sl__mp_put_str(&w, cluster, strlen(cluster));
    return w.overflow ? SL_ESPACE : (int)w.len + 1;
}

void sl__wire_put_addr(sl__mp_writer *w, const sl_addr *a)
{
    uint8_t b[18];
    size_t iplen = a->family == SL_ADDR_V6 ? 16 : 4;
    memcpy(b, a->ip, iplen);
    b[iplen] = (uint8_t)(a->port >> 8);
    b[iplen + 1] = (uint8_t)(a->port & 0xff);
    sl__mp_put_bin(w, b, iplen + 2);
}

int sl_wire_put_msg(uint8_t *buf, size_t cap, const sl_msg *m)
{
    sl__mp_writer w;
    msgpack_packer *pk = &w.pk;
    sl__mp_writer_init(&w, buf, cap);
    switch (m->type) {
    case SL_MSG_PING:
        msgpack_pack_array(pk, 5);
        msgpack_pack_uint32(pk, m->type);
        msgpack_pack_uint32(pk, m->seq);
        sl__mp_put_str(&w, m->name, m->name_len);
        sl__mp_put_str(&w, m->from, m->from_len);
        sl__wire_put_addr(&w, &m->addr);
        break;
    case SL_MSG_PING_REQ:
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint32(pk, m->type);
        msgpack_pack_uint32(pk, m->seq);
        sl__mp_put_str(&w, m->name, m->name_len);
        sl__wire_put_addr(&w, &m->addr);
        break;
    case SL_MSG_ACK:
    case SL_MSG_NACK:
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint32(pk, m->type);
        msgpack_pack_uint32(pk, m->seq);
        break;
    case SL_MSG_ALIVE:
        msgpack_pack_array(pk, 6);
        msgpack_pack_uint32(pk, m->type);
        sl__mp_put_str(&w, m->name, m->name_len);
        sl__wire_put_addr(&w, &m->addr);
        msgpack_pack_uint32(pk, m->inc.gen);
        msgpack_pack_uint32(pk, m->inc.ctr);
        sl__mp_put_bin(&w, m->meta, m->meta_len);
        break;
    case SL_MSG_SUSPECT:
    case SL_MSG_DEAD:
        msgpack_pack_array(pk, 5);
        msgpack_pack_uint32(pk, m->type);
        sl__mp_put_str(&w, m->name, m->name_len);
        msgpack_pack_uint32(pk, m->inc.gen);
        msgpack_pack_uint32(pk, m->inc.ctr);
        sl__mp_put_str(&w, m->from, m->from_len);
        break;
    case SL_MSG_LEFT:
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint32(pk, m->type);
        sl__mp_put_str(&w, m->name, m->name_len);
        msgpack_pack_uint32(pk, m->inc.gen);
        msgpack_pack_uint32(pk, m->inc.ctr);
        break;
    case SL_MSG_USER:
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint32(pk, m->type);
        sl__mp_put_bin(&w, m->meta, m->meta_len);
        break;
    default: return SL_EINVAL;
    }
    return w.overflow ? SL_ESPACE : (int)w.len;
}
