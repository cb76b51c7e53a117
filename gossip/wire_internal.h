/* Internal: the field codecs of the gossip wire (wire.c) that the push-pull
 * state codec (swim_state.c) shares, so that a name or an address has one
 * encoding and one set of checks wherever it travels. */
#ifndef STARLING_GOSSIP_WIRE_INTERNAL_H
#define STARLING_GOSSIP_WIRE_INTERNAL_H

#include "mp.h"
#include "wire.h"

/* Reads a member name: a str of 1..SL_SWIM_NAME_MAX bytes without a NUL.
 * *s points into the input, not NUL-terminated. Returns 0 or SL_EMALFORMED. */
int sl__wire_read_name(sl__mp_reader *r, const char **s, uint32_t *len);
/* Reads an address: a bin of the IPv4 (4) or IPv6 (16) bytes, then the port
 * in network order. Returns 0 or SL_EMALFORMED. */
int sl__wire_read_addr(sl__mp_reader *r, sl_addr *a);
/* Writes an address as sl__wire_read_addr reads it; overflow sets
 * w->overflow. */
void sl__wire_put_addr(sl__mp_writer *w, const sl_addr *a);

#endif
