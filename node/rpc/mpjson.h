/* Internal: the RPC's values, msgpack on the wire and jansson in memory.
 *
 * RPC requests and replies are msgpack maps. Both ends build and read them as
 * jansson values, converted here. Decoding is strict and bounded: the bytes
 * are walked with a cursor, a container that claims more elements than bytes
 * remain is refused before anything is allocated, nesting is limited, and
 * only the types the RPC uses are accepted (nil, bool, integers, floats,
 * strings, arrays, maps with string keys). Untrusted bytes never reach
 * msgpack-c's unpacker (see DESIGN.md, "a measured trap"). */
#ifndef STARLING_NODE_MPJSON_H
#define STARLING_NODE_MPJSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting accepted by the decoder. */
#define SL__MPJSON_DEPTH 16

/* Encodes v as msgpack into a new buffer (*out, *len), freed by the caller
 * with free(). Returns 0, or -1 when out of memory or v holds a type msgpack
 * cannot carry. */
int sl__mpjson_encode(const json_t *v, uint8_t **out, size_t *len);

/* Decodes exactly one msgpack value filling buf[0..len) into *out (a new
 * reference). Returns 0, or -1 for bytes that are malformed, too deep, of an
 * unsupported type, followed by trailing bytes, or when out of memory. */
int sl__mpjson_decode(const uint8_t *buf, size_t len, json_t **out);

#endif
