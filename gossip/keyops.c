/* Keyring operations spread by gossip (see include/starling/keyops.h).
 *
 * Why gossip and not a direct call to every member. A masterless cluster has
 * no one who knows for sure who is in it; the members a peer believes alive
 * are what it has. So a key operation travels the way everything else does:
 * as an application message on the SWIM packets, relayed by every peer that
 * sees it for the first time, so that it reaches everyone with high
 * probability even when the origin cannot reach some member directly. The
 * answers travel the same way back to the origin, which is the only one that
 * waits for them (node/agent/keys.c). The same message kinds ride the simulator
 * and the agent alike; this file holds only their codec and the rules a peer
 * applies, with no clock, socket or randomness: the caller passes its wall
 * clock in and draws the ids.
 *
 * Why apply at most once, and why a stamp. An operation is retransmitted and
 * relayed, so each peer sees it several times: `sl_keyop_seen` remembers the
 * ids acted on. A peer that restarted has forgotten them, and an attacker
 * who recorded a sealed operation could play it back later (a `use` of a key
 * since retired, say); the origin's wall-clock stamp bounds both: nothing
 * more than SL_KEYOP_WINDOW_MS away from the receiver's clock is applied.
 * Within the window, the memory of ids (a ring far larger than the number of
 * operations an operator runs in five minutes) does the rest.
 *
 * What each operation means, and why the refusals. Install and remove are
 * idempotent (installing a held key, or removing one not held, is success),
 * so a rotation can be re-run after a partial failure. `use` of a key not
 * installed is refused: a peer that sealed with a key the others lack would
 * cut itself off. Removing the primary is refused: a peer must always hold
 * the key it seals with. The answer always lists the keys the peer holds
 * after the operation, primary first, so that `keys list` and the table
 * every command prints come from the same data. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "mp.h"
#include "starling/error.h"
#include "starling/keyops.h"

#define OP_FIELDS 6
#define ANSWER_FIELDS 5

const char *sl_keyop_type_name(int type)
{
    switch (type) {
    case SL_KEYOP_INSTALL: return "install";
    case SL_KEYOP_USE: return "use";
    case SL_KEYOP_REMOVE: return "remove";
    case SL_KEYOP_LIST: return "list";
    default: return "unknown";
    }
}

int sl_keyop_type_parse(const char *name)
{
    for (int t = SL_KEYOP_INSTALL; t <= SL_KEYOP_LIST; t++)
        if (name && !strcmp(name, sl_keyop_type_name(t)))
            return t;
    return SL_EINVAL;
}

static bool type_valid(uint64_t t)
{
    return t >= SL_KEYOP_INSTALL && t <= SL_KEYOP_LIST;
}

static bool name_valid(const char *s)
{
    size_t n = strnlen(s, SL_SWIM_NAME_MAX + 1);
    return n >= 1 && n <= SL_SWIM_NAME_MAX;
}

/* True when keys[0..n) holds no key twice. */
static bool keys_distinct(const uint8_t (*keys)[SL_KEY_BYTES], uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = i + 1; j < n; j++)
            if (sodium_memcmp(keys[i], keys[j], SL_KEY_BYTES) == 0)
                return false;
    return true;
}

int sl_keyop_encode(const sl_keyop *op, uint8_t *buf, size_t cap)
{
    if (op->id == 0 || !name_valid(op->origin) || !type_valid((uint64_t)op->type))
        return SL_EINVAL;
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, cap);
    msgpack_pack_array(&w.pk, OP_FIELDS);
    msgpack_pack_uint8(&w.pk, SL_APPMSG_KEYOP);
    msgpack_pack_uint64(&w.pk, op->id);
    sl__mp_put_str(&w, op->origin, strlen(op->origin));
    msgpack_pack_uint8(&w.pk, (uint8_t)op->type);
    if (op->type == SL_KEYOP_LIST)
        msgpack_pack_nil(&w.pk);
    else
        sl__mp_put_bin(&w, op->key, SL_KEY_BYTES);
    msgpack_pack_uint64(&w.pk, op->stamp_ms);
    return w.overflow ? SL_ESPACE : (int)w.len;
}

/* Skips the fields of an array past the `known` ones. */
static int skip_rest(sl__mp_reader *r, uint32_t n, uint32_t known)
{
    for (uint32_t i = known; i < n; i++)
        if (sl__mp_skip(r))
            return SL_EMALFORMED;
    return 0;
}

int sl_keyop_decode(const uint8_t *buf, size_t len, sl_keyop *out)
{
    sl__mp_reader r;
    uint32_t n, klen;
    uint64_t kind, type;
    const uint8_t *key;
    memset(out, 0, sizeof *out);
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_array(&r, &n) || n < OP_FIELDS || sl__mp_read_uint(&r, &kind) ||
        kind != SL_APPMSG_KEYOP || sl__mp_read_uint(&r, &out->id) || out->id == 0 ||
        sl__mp_read_cstr(&r, out->origin, SL_SWIM_NAME_MAX) || !out->origin[0] ||
        sl__mp_read_uint(&r, &type) || !type_valid(type))
        goto bad;
    out->type = (int)type;
    if (out->type == SL_KEYOP_LIST) {
        if (sl__mp_read_nil(&r))
            goto bad;
    } else if (sl__mp_read_bin(&r, &key, &klen) || klen != SL_KEY_BYTES) {
        goto bad;
    } else {
        memcpy(out->key, key, SL_KEY_BYTES);
    }
    if (sl__mp_read_uint(&r, &out->stamp_ms) || skip_rest(&r, n, OP_FIELDS) ||
        sl__mp_remaining(&r) != 0)
        goto bad;
    return 0;
bad:
    sodium_memzero(out, sizeof *out);
    return SL_EMALFORMED;
}

int sl_keyanswer_encode(const sl_keyanswer *ans, uint8_t *buf, size_t cap)
{
    size_t elen = strnlen(ans->error, SL_KEYOP_ERROR_MAX + 1);
    if (ans->id == 0 || !name_valid(ans->node) || elen > SL_KEYOP_ERROR_MAX ||
        ans->nkeys > SL_KEYRING_MAX ||
        !keys_distinct((const uint8_t(*)[SL_KEY_BYTES])ans->keys, ans->nkeys))
        return SL_EINVAL;
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, cap);
    msgpack_pack_array(&w.pk, ANSWER_FIELDS);
    msgpack_pack_uint8(&w.pk, SL_APPMSG_KEYANSWER);
    msgpack_pack_uint64(&w.pk, ans->id);
    sl__mp_put_str(&w, ans->node, strlen(ans->node));
    sl__mp_put_str(&w, ans->error, elen);
    msgpack_pack_array(&w.pk, ans->nkeys);
    for (uint32_t i = 0; i < ans->nkeys; i++)
        sl__mp_put_bin(&w, ans->keys[i], SL_KEY_BYTES);
    return w.overflow ? SL_ESPACE : (int)w.len;
}

int sl_keyanswer_decode(const uint8_t *buf, size_t len, sl_keyanswer *out)
{
    sl__mp_reader r;
    uint32_t n, nkeys, klen;
    uint64_t kind;
    const uint8_t *key;
    memset(out, 0, sizeof *out);
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_array(&r, &n) || n < ANSWER_FIELDS || sl__mp_read_uint(&r, &kind) ||
        kind != SL_APPMSG_KEYANSWER || sl__mp_read_uint(&r, &out->id) || out->id == 0 ||
        sl__mp_read_cstr(&r, out->node, SL_SWIM_NAME_MAX) || !out->node[0] ||
        sl__mp_read_cstr(&r, out->error, SL_KEYOP_ERROR_MAX) || sl__mp_read_array(&r, &nkeys) ||
        nkeys > SL_KEYRING_MAX)
        goto bad;
    for (uint32_t i = 0; i < nkeys; i++) {
        if (sl__mp_read_bin(&r, &key, &klen) || klen != SL_KEY_BYTES)
            goto bad;
        memcpy(out->keys[i], key, SL_KEY_BYTES);
    }
    out->nkeys = nkeys;
    if (!keys_distinct((const uint8_t(*)[SL_KEY_BYTES])out->keys, nkeys) ||
        skip_rest(&r, n, ANSWER_FIELDS) || sl__mp_remaining(&r) != 0)
        goto bad;
    return 0;
bad:
    sodium_memzero(out, sizeof *out);
    return SL_EMALFORMED;
}

int sl_keyop_check_stamp(const sl_keyop *op, uint64_t wall_ms)
{
    if (op->stamp_ms > wall_ms && op->stamp_ms - wall_ms > SL_KEYOP_WINDOW_MS)
        return SL_EFUTURE;
    if (op->stamp_ms < wall_ms && wall_ms - op->stamp_ms > SL_KEYOP_WINDOW_MS)
        return SL_EEXPIRED;
    return 0;
}

void sl_keyanswer_set_keys(sl_keyanswer *ans, const sl_keyring *kr)
{
    uint32_t n = kr->n < SL_KEYRING_MAX ? kr->n : SL_KEYRING_MAX;
    memcpy(ans->keys, kr->key, (size_t)n * SL_KEY_BYTES);
    ans->nkeys = n;
}

int sl_keyop_apply(sl_keyring *kr, const sl_keyop *op, const char *node, sl_keyanswer *ans)
{
    int rc;
    const char *why = "";
    memset(ans, 0, sizeof *ans);
    ans->id = op->id;
    snprintf(ans->node, sizeof ans->node, "%s", node);
    switch (op->type) {
    case SL_KEYOP_INSTALL:
        rc = sl_keyring_install(kr, op->key);
        if (rc < 0)
            why = "the keyring is full (16 keys): remove a key first";
        break;
    case SL_KEYOP_USE:
        rc = sl_keyring_find(kr, op->key);
        if (rc < 0) {
            rc = SL_ENOTFOUND;
            why = "the key is not installed here: install it first";
        } else {
            rc = rc > 0; /* already the primary: nothing changes */
            sl_keyring_use(kr, op->key);
        }
        break;
    case SL_KEYOP_REMOVE:
        rc = sl_keyring_remove(kr, op->key);
        if (rc == SL_ENOTFOUND) {
            rc = 0; /* not held: already what was asked */
        } else if (rc == SL_ESTATE) {
            why = "the key is the primary here: make another key the primary first";
        } else {
            rc = 1;
        }
        break;
    case SL_KEYOP_LIST: rc = 0; break;
    default:
        rc = SL_EINVAL;
        why = "unknown key operation";
        break;
    }
    snprintf(ans->error, sizeof ans->error, "%s", rc < 0 ? why : "");
    sl_keyanswer_set_keys(ans, kr);
    return rc;
}

void sl_keyop_seen_init(sl_keyop_seen *s)
{
    memset(s, 0, sizeof *s);
}

bool sl_keyop_seen_has(const sl_keyop_seen *s, uint64_t v)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i] == v)
            return true;
    return false;
}

bool sl_keyop_seen_add(sl_keyop_seen *s, uint64_t v)
{
    if (sl_keyop_seen_has(s, v))
        return true;
    s->v[s->next] = v;
    s->next = (s->next + 1) % SL_KEYOP_SEEN_MAX;
    if (s->n < SL_KEYOP_SEEN_MAX)
        s->n++;
    return false;
}

uint64_t sl_keyanswer_digest(uint64_t id, const char *node)
{
    /* FNV-1a over the id's bytes, a separator and the name: a dedupe key,
     * not a secret (whoever could forge a collision holds a key anyway). */
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; i++)
        h = (h ^ (uint8_t)(id >> (8 * i))) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;
    for (const char *p = node; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return h;
}
