/* The gossip wire format: one UDP datagram is a version byte, the cluster
 * label, then one or more messages (the primary one first, then piggybacked
 * updates), each a msgpack array [type, fields...].
 *
 *   packet  := 0x01  str(cluster)  msg*
 *   PING     [1, seq, target, from, from_addr]
 *   PING_REQ [2, seq, target, target_addr]
 *   ACK      [3, seq]
 *   ALIVE    [4, name, addr, gen, ctr, meta]
 *   SUSPECT  [5, name, gen, ctr, from]
 *   DEAD     [6, name, gen, ctr, from]
 *   LEFT     [7, name, gen, ctr]
 *   USER     [8, payload]          (an application message, opaque here)
 *   NACK     [9, seq]              (Lifeguard: the relay's own ping timed out)
 *   addr    := bin(6: IPv4 + port) | bin(18: IPv6 + port), big endian
 *
 * Decoding is strict and allocation-free: decoded messages point into the
 * packet. Every field is type- and bounds-checked; any byte string decodes
 * to messages or to an error. Extra trailing fields are skipped, and unknown
 * message types are reported as such (so that versions can be mixed). */
/* Internal to gossip/ (it was a public header; nothing outside the core
 * speaks the wire but the core's tests). */
#ifndef STARLING_WIRE_H
#define STARLING_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/addr.h"
#include "starling/swim.h"

#define SL_WIRE_VERSION 1

/* Message types. Wire values: ONLY APPEND. */
typedef enum sl_msg_type {
    SL_MSG_PING = 1,
    SL_MSG_PING_REQ = 2,
    SL_MSG_ACK = 3,
    SL_MSG_ALIVE = 4,
    SL_MSG_SUSPECT = 5,
    SL_MSG_DEAD = 6,
    SL_MSG_LEFT = 7,
    SL_MSG_USER = 8,
    SL_MSG_NACK = 9, /* [9, seq]: a relay's ping to the target went unanswered */
} sl_msg_type;

/* A decoded message; strings are not NUL-terminated and point into the
 * packet, valid as long as the packet buffer is. */
typedef struct sl_msg {
    uint32_t type; /* an sl_msg_type, or an unknown value when skipped */
    uint32_t seq;
    const char *name; /* subject (ALIVE..LEFT) or ping target */
    uint32_t name_len;
    const char *from; /* PING sender, SUSPECT/DEAD declarer */
    uint32_t from_len;
    sl_addr addr; /* ALIVE: member; PING: sender; PING_REQ: target */
    sl_incarnation inc;
    const uint8_t *meta; /* ALIVE: metadata; USER: the payload */
    uint32_t meta_len;
} sl_msg;

/* Iterates the messages of one packet. */
typedef struct sl_wire_iter {
    const uint8_t *p;
    const uint8_t *end;
} sl_wire_iter;

/* Checks the version byte and reads the cluster label (pointing into buf).
 * Returns 0 and prepares *it, or SL_EVERSION / SL_EMALFORMED. */
int sl_wire_open(const uint8_t *buf, size_t len, const char **cluster, uint32_t *cluster_len,
                 sl_wire_iter *it);

/* Decodes the next message. Returns 1 with *m filled (m->type may be an
 * unknown type whose fields were skipped), 0 at the end of the packet, or
 * SL_EMALFORMED (the rest of the packet is then unusable). */
int sl_wire_next(sl_wire_iter *it, sl_msg *m);

/* Writes the packet header (version, cluster) into buf. Returns the length
 * or SL_ESPACE. */
int sl_wire_put_header(uint8_t *buf, size_t cap, const char *cluster);

/* Encodes one message into buf. Returns the length, or SL_ESPACE when it does
 * not fit cap. */
int sl_wire_put_msg(uint8_t *buf, size_t cap, const sl_msg *m);

#endif
