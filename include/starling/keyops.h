/* Cluster-wide keyring operations: the messages and their rules. Sans-IO.
 *
 * `starling keys install|use|remove KEY` and `keys list` change (or read)
 * the keyring of every live member at once, as Serf's keyring commands do.
 * The peer the CLI talks to, the origin, applies the operation to its own
 * keyring first, then spreads it as an application message of the SWIM core
 * (sl_swim_broadcast); every peer that receives it applies it once, passes
 * it on, and broadcasts its answer, which the origin collects. Both messages
 * ride sealed gossip only: a peer that holds no key neither sends nor
 * accepts them, so only holders of a current key can read or start one.
 *
 *   operation := [3, id, origin, op, key, stamp]
 *     id      u64, random, never 0: what peers dedupe on
 *     origin  str, 1..SL_SWIM_NAME_MAX bytes: the member that started it
 *     op      u8, sl_keyop_type
 *     key     bin 32 for install, use and remove; nil for list
 *     stamp   u64, the origin's wall clock in ms when it started: peers
 *             refuse an operation stamped more than SL_KEYOP_WINDOW_MS away
 *             from their own clock (a replay, or a clock far off)
 *
 *   answer := [4, id, node, error, [key...]]
 *     id      the operation's id
 *     node    str, 1..SL_SWIM_NAME_MAX bytes: the member answering
 *     error   str, 0..SL_KEYOP_ERROR_MAX bytes: "" when it applied
 *     keys    0..SL_KEYRING_MAX distinct bin 32: the keys it now holds, its
 *             primary first
 *
 * Decoders are strict and bounded (the allocation-free cursor of
 * gossip/mp.h): every field is checked, an unknown op or a key of the wrong
 * size is refused, and trailing fields after the known ones are skipped so
 * that a later version may append some. Wire values are append only.
 *
 * Memory: every structure here is a plain value the caller owns. */
#ifndef STARLING_KEYOPS_H
#define STARLING_KEYOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "starling/keyring.h"
#include "starling/swim.h"

#define SL_APPMSG_KEYOP 3     /* application message kind of a key operation */
#define SL_APPMSG_KEYANSWER 4 /* application message kind of a peer's answer */
#define SL_KEYOP_ERROR_MAX 160
#define SL_KEYOP_WINDOW_MS (5 * 60 * 1000ull) /* stamps further from our clock are refused */
/* Encoded, an answer takes at most 1 + 1 + 9 + 66 + 162 + 3 + 16 * 34 = 786
 * bytes (array, kind, id, node, error, keys) and an operation at most
 * 1 + 1 + 9 + 66 + 1 + 34 + 9 = 121: both fit a gossip message
 * (SL_SWIM_USER_MAX). */
#define SL_KEYOP_MSG_MAX 800

/* Operations. Wire values: append only. */
typedef enum sl_keyop_type {
    SL_KEYOP_INSTALL = 1, /* add the key; the primary stays */
    SL_KEYOP_USE = 2,     /* make the (installed) key the primary */
    SL_KEYOP_REMOVE = 3,  /* remove the key, unless it is the primary */
    SL_KEYOP_LIST = 4,    /* change nothing; the answers tell the keys */
} sl_keyop_type;

/* Returns "install", "use", "remove", "list", or "unknown". */
const char *sl_keyop_type_name(int type);

/* Parses one of those names. Returns the sl_keyop_type, or SL_EINVAL. */
int sl_keyop_type_parse(const char *name);

typedef struct sl_keyop {
    uint64_t id;
    char origin[SL_SWIM_NAME_MAX + 1];
    int type;                  /* sl_keyop_type */
    uint8_t key[SL_KEY_BYTES]; /* all zero for SL_KEYOP_LIST */
    uint64_t stamp_ms;
} sl_keyop;

typedef struct sl_keyanswer {
    uint64_t id;
    char node[SL_SWIM_NAME_MAX + 1];
    char error[SL_KEYOP_ERROR_MAX + 1]; /* "" when the operation applied */
    uint32_t nkeys;
    uint8_t keys[SL_KEYRING_MAX][SL_KEY_BYTES]; /* keys[0] is the primary */
} sl_keyanswer;

/* Encodes op into buf (capacity cap; SL_KEYOP_MSG_MAX is always enough).
 * Returns the length, SL_EINVAL (id 0, a bad origin or op) or SL_ESPACE. */
int sl_keyop_encode(const sl_keyop *op, uint8_t *buf, size_t cap);

/* Decodes an operation filling buf[0..len) exactly. Returns 0 with *out
 * set, or SL_EMALFORMED (not an operation, a field out of its bounds, an
 * unknown op, a key missing, present for list, or not 32 bytes). */
int sl_keyop_decode(const uint8_t *buf, size_t len, sl_keyop *out);

/* Encodes ans into buf (capacity cap; SL_KEYOP_MSG_MAX is always enough).
 * Returns the length, SL_EINVAL (id 0, a bad node name, an error string
 * too long, too many or repeated keys) or SL_ESPACE. */
int sl_keyanswer_encode(const sl_keyanswer *ans, uint8_t *buf, size_t cap);

/* Decodes an answer filling buf[0..len) exactly. Returns 0 with *out set,
 * or SL_EMALFORMED. */
int sl_keyanswer_decode(const uint8_t *buf, size_t len, sl_keyanswer *out);

/* Checks op's stamp against the caller's wall clock. Returns 0, SL_EFUTURE
 * (more than SL_KEYOP_WINDOW_MS ahead) or SL_EEXPIRED (more than that
 * behind). */
int sl_keyop_check_stamp(const sl_keyop *op, uint64_t wall_ms);

/* Applies op to kr and fills *ans for member `node`: its id, node, the keys
 * kr now holds and, when it was refused, one line saying why. Install adds
 * the key (already there is fine; a full keyring is refused); use makes it
 * the primary (refused when it is not installed); remove takes it out (not
 * installed is fine; the primary is refused); list changes nothing. Returns
 * 1 when kr changed, 0 when it did not, or a negative code when refused:
 * SL_EFULL, SL_ENOTFOUND (use), SL_ESTATE (remove of the primary), or
 * SL_EINVAL (an unknown op). */
int sl_keyop_apply(sl_keyring *kr, const sl_keyop *op, const char *node, sl_keyanswer *ans);

/* Fills ans->keys and ans->nkeys with the keys of kr, primary first. */
void sl_keyanswer_set_keys(sl_keyanswer *ans, const sl_keyring *kr);

/* A small bounded memory of what was seen (operation ids, or digests of
 * answers), so that each is acted on once. It remembers the last
 * SL_KEYOP_SEEN_MAX values; older ones are forgotten, which is safe because
 * gossip stops retransmitting within seconds and stamps outside the window
 * are refused anyway. */
#define SL_KEYOP_SEEN_MAX 1024
typedef struct sl_keyop_seen {
    uint64_t v[SL_KEYOP_SEEN_MAX];
    uint32_t next, n;
} sl_keyop_seen;

/* Empties the memory. */
void sl_keyop_seen_init(sl_keyop_seen *s);

/* Returns true when v is remembered. */
bool sl_keyop_seen_has(const sl_keyop_seen *s, uint64_t v);

/* Remembers v (forgetting the oldest value when full) unless it is already
 * there. Returns true when it was already there. */
bool sl_keyop_seen_add(sl_keyop_seen *s, uint64_t v);

/* A digest of (id, node) for remembering answers: one answer per member
 * and operation is acted on. */
uint64_t sl_keyanswer_digest(uint64_t id, const char *node);

#endif
