/* Internal: length-prefixed frames on byte streams.
 *
 * Every stream the agent speaks (push-pull and joins on the gossip port, RPC
 * on the RPC port) carries frames: a 4-byte big-endian length, then that many
 * bytes. The reader below accumulates one frame from arbitrary read chunks.
 * It never trusts the declared length for allocation: the buffer grows with
 * the bytes that actually arrive, and a declared length over the reader's
 * bound is refused before anything is allocated. */
#ifndef STARLING_NODE_FRAME_H
#define STARLING_NODE_FRAME_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl__frame {
    uint8_t hdr[4];
    size_t hdr_got;
    size_t want; /* declared length of the frame being read */
    size_t got;  /* bytes of it read so far */
    size_t cap;  /* allocated bytes of data */
    uint8_t *data;
    size_t max; /* largest frame accepted */
} sl__frame;

/* Prepares an empty reader that accepts frames up to max bytes. */
void sl__frame_init(sl__frame *f, size_t max);

/* Frees the reader's buffer. */
void sl__frame_deinit(sl__frame *f);

/* Consumes bytes from *p (advancing *p and decreasing *n). Returns 1 when a
 * whole frame is ready (f->data, f->want bytes; call sl__frame_reset before
 * feeding more), 0 when more bytes are needed (all of *n consumed),
 * SL_ETOOBIG for a frame over the bound, or SL_ENOMEM. */
int sl__frame_feed(sl__frame *f, const uint8_t **p, size_t *n);

/* Forgets the frame just read, keeping the buffer for the next one when it is
 * small. */
void sl__frame_reset(sl__frame *f);

/* Writes the 4-byte big-endian header for a payload of len bytes. */
void sl__frame_header(uint8_t hdr[4], size_t len);

#endif
