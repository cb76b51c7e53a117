/* Push-pull: the whole membership view as one message, for joins and for
 * the periodic anti-entropy that repairs what gossip missed.
 *
 *   state  := 0x01 [cluster, join, sender, [member*], user]
 *   user   := bin (the application's state, sl_swim_callbacks.user_state)
 *   member := [name, addr, gen, ctr, state, meta]
 *
 * Merging applies each member as if it had been gossiped, with two twists
 * taken from memberlist. A remote "dead" is merged as a suspicion: the peer
 * may be on the far side of a partition, and suspicion gives the member the
 * chance to refute. And news learned this way is not re-broadcast, except
 * news about the sender itself (a joiner's arrival must spread) and changes
 * of state of members we already knew (a healed partition's news must): the
 * bulk of a state is what everyone already knows.
 *
 * With a key, the whole state travels sealed (keyring.h, domain
 * SL_SEAL_STATE): a state that does not open is refused before a byte of it
 * is parsed, so a peer without the key learns nothing and changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "starling/error.h"
#include "swim_internal.h"
#include "wire_internal.h"

/* Upper bound of one encoded member besides its name and metadata: array,
 * string and bin headers, addr, incarnation, state. */
#define MEMBER_OVERHEAD_BYTES 48

int sl_swim_encode_state(sl_swim *s, bool join, uint8_t **out, size_t *len)
{
    /* Sized for these members, not the worst case: in the simulator's join
     * storm thousands of states are in flight at once. */
    size_t cap = 1 + 16 + SL_SWIM_CLUSTER_MAX + SL_SWIM_NAME_MAX;
    for (uint32_t i = 0; i < s->nm; i++) {
        uint16_t meta_len;
        sl__member_meta(s, &s->m[i], &meta_len);
        cap += s->m[i].name_len + meta_len + MEMBER_OVERHEAD_BYTES;
    }
    uint8_t *user = NULL;
    size_t user_len = 0;
    if (s->cb.user_state && s->cb.user_state(s->cb.ud, &user, &user_len) != 0) {
        user = NULL;
        user_len = 0;
    }
    cap += user_len + 8;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        free(user);
        return SL_ENOMEM;
    }
    buf[0] = SL_WIRE_VERSION;
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf + 1, cap - 1);
    msgpack_pack_array(&w.pk, 5);
    sl__mp_put_str(&w, s->cluster, strlen(s->cluster));
    if (join)
        msgpack_pack_true(&w.pk);
    else
        msgpack_pack_false(&w.pk);
    sl__mp_put_str(&w, sl__member_name(&s->m[0]), s->m[0].name_len);
    msgpack_pack_array(&w.pk, s->nm);
    for (uint32_t i = 0; i < s->nm; i++) {
        const sl__member *m = &s->m[i];
        sl_addr addr = sl__member_addr(s, m);
        msgpack_pack_array(&w.pk, 6);
        sl__mp_put_str(&w, sl__member_name(m), m->name_len);
        sl__wire_put_addr(&w, &addr);
        msgpack_pack_uint32(&w.pk, m->inc.gen);
        msgpack_pack_uint32(&w.pk, m->inc.ctr);
        msgpack_pack_uint8(&w.pk, m->state);
        uint16_t meta_len;
        const uint8_t *meta = sl__member_meta(s, m, &meta_len);
        sl__mp_put_bin(&w, meta, meta_len);
    }
    sl__mp_put_bin(&w, user, user_len);
    free(user);
    if (w.overflow || w.len + 1 > SL_SWIM_STATE_MAX) {
        free(buf);
        return SL_ENOMEM;
    }
    if (!sl_swim_sealed(s)) {
        *out = buf;
        *len = w.len + 1;
        return 0;
    }
    size_t slen = w.len + 1 + SL_SEAL_OVERHEAD;
    uint8_t *sealed = malloc(slen), nonce[SL_SEAL_NONCE];
    int n = SL_ENOMEM;
    if (sealed) {
        s->cb.entropy(s->cb.ud, nonce, sizeof nonce);
        n = sl_seal(s->keyring, SL_SEAL_STATE, s->cluster, nonce, buf, w.len + 1, sealed, slen);
    }
    free(buf);
    if (n < 0) {
        free(sealed);
        return SL_ENOMEM;
    }
    *out = sealed;
    *len = (size_t)n;
    return 0;
}

/* One decoded member of a state; strings point into the state buffer. */
typedef struct remote_member {
    sl_msg msg; /* name, addr, inc, meta as an ALIVE message would carry */
    uint64_t state;
} remote_member;

static int read_member(sl__mp_reader *r, remote_member *rm)
{
    uint32_t n;
    uint64_t gen, ctr;
    memset(rm, 0, sizeof *rm);
    if (sl__mp_read_array(r, &n) || n < 6 ||
        sl__wire_read_name(r, &rm->msg.name, &rm->msg.name_len) ||
        sl__wire_read_addr(r, &rm->msg.addr) || sl__mp_read_uint(r, &gen) || gen > UINT32_MAX ||
        sl__mp_read_uint(r, &ctr) || ctr > UINT32_MAX || sl__mp_read_uint(r, &rm->state) ||
        rm->state > SL_MEMBER_LEFT || sl__mp_read_bin(r, &rm->msg.meta, &rm->msg.meta_len) ||
        rm->msg.meta_len > SL_SWIM_META_MAX)
        return SL_EMALFORMED;
    for (uint32_t i = 6; i < n; i++)
        if (sl__mp_skip(r))
            return SL_EMALFORMED;
    rm->msg.inc.gen = (uint32_t)gen;
    rm->msg.inc.ctr = (uint32_t)ctr;
    return 0;
}

/* Validates the header and every member before anything is merged, so that
 * a bad state changes nothing. Leaves r at the first member. */
typedef struct state_header {
    bool join;
    const char *sender;
    uint32_t sender_len;
    uint32_t count;      /* members */
    const uint8_t *user; /* application state, may be NULL */
    uint32_t user_len;
} state_header;

static int open_state(sl_swim *s, const uint8_t *buf, size_t len, sl__mp_reader *r, state_header *h)
{
    uint32_t n, cl;
    const char *cluster;
    if (len < 1 || len > SL_SWIM_STATE_MAX)
        return SL_EMALFORMED;
    if (buf[0] != SL_WIRE_VERSION)
        return SL_EVERSION;
    sl__mp_reader_init(r, buf + 1, len - 1);
    memset(h, 0, sizeof *h);
    if (sl__mp_read_array(r, &n) || n < 4 || sl__mp_read_str(r, &cluster, &cl) ||
        sl__mp_read_bool(r, &h->join) || sl__mp_read_str(r, &h->sender, &h->sender_len))
        return SL_EMALFORMED;
    if (cl != strlen(s->cluster) || memcmp(cluster, s->cluster, cl) != 0)
        return SL_ECLUSTER;
    if (sl__mp_read_array(r, &h->count))
        return SL_EMALFORMED;
    if (h->count > s->max_members)
        return SL_EFULL;
    sl__mp_reader check = *r;
    remote_member rm;
    for (uint32_t i = 0; i < h->count; i++)
        if (read_member(&check, &rm))
            return SL_EMALFORMED;
    if (n >= 5 && sl__mp_read_bin(&check, &h->user, &h->user_len))
        return SL_EMALFORMED;
    for (uint32_t i = 5; i < n; i++)
        if (sl__mp_skip(&check))
            return SL_EMALFORMED;
    return 0;
}

static void merge_one(sl_swim *s, remote_member *rm, bool from_sender, uint64_t now_ms)
{
    sl__member *known = sl__member_find(s, rm->msg.name, rm->msg.name_len);
    /* The bulk of a state is news we already have: decide that here, with
     * the rule sl__on_alive and sl__on_suspect apply, without their second
     * lookup. */
    if (known && known != &s->m[0] &&
        sl__news_is_stale(s, known, (sl_member_state)rm->state, &rm->msg.addr, rm->msg.inc)) {
        sl__drop(s, SL_DROP_STALE);
        return;
    }
    bool quiet = !from_sender && !known;
    switch (rm->state) {
    case SL_MEMBER_ALIVE:
        rm->msg.type = SL_MSG_ALIVE;
        sl__on_alive(s, &rm->msg, now_ms, quiet, true);
        break;
    case SL_MEMBER_SUSPECT:
    case SL_MEMBER_DEAD:
        rm->msg.type = SL_MSG_SUSPECT;
        rm->msg.from = sl__member_name(&s->m[0]);
        rm->msg.from_len = s->m[0].name_len;
        sl__on_suspect(s, &rm->msg, now_ms);
        break;
    default:
        rm->msg.type = SL_MSG_LEFT;
        sl__on_dead(s, &rm->msg, now_ms);
        break;
    }
}

/* Opens a sealed state into a new buffer (*plain, freed by the caller), or
 * checks that a plain one may be taken as it is (*plain = NULL). Returns 0,
 * SL_EAUTH (counted) or SL_ENOMEM. */
static int unseal_state(sl_swim *s, const uint8_t *buf, size_t len, uint8_t **plain, size_t *plen)
{
    *plain = NULL;
    if (!sl_swim_sealed(s) && !sl_is_sealed(buf, len))
        return 0;
    if (!sl_swim_sealed(s) || !sl_is_sealed(buf, len)) {
        sl__drop(s, sl_swim_sealed(s) ? SL_DROP_UNSEALED : SL_DROP_KEY);
        return SL_EAUTH;
    }
    if (len < SL_SEAL_OVERHEAD) {
        sl__drop(s, SL_DROP_MALFORMED);
        return SL_EMALFORMED;
    }
    if (!(*plain = malloc(len)))
        return SL_ENOMEM;
    int n = sl_open(s->keyring, SL_SEAL_STATE, s->cluster, buf, len, *plain, len);
    if (n < 0) {
        free(*plain);
        *plain = NULL;
        sl__drop(s, n == SL_EMALFORMED ? SL_DROP_MALFORMED : SL_DROP_KEY);
        return n == SL_EMALFORMED ? SL_EMALFORMED : SL_EAUTH;
    }
    *plen = (size_t)n;
    return 0;
}

int sl_swim_merge_state(sl_swim *s, const uint8_t *buf, size_t len, uint64_t now_ms, bool *is_join)
{
    sl__mp_reader r;
    state_header h;
    uint8_t *plain;
    size_t plen = 0;
    if (len > (size_t)s->max_state + SL_SEAL_OVERHEAD) {
        sl__drop(s, SL_DROP_FULL);
        return SL_EFULL;
    }
    int rc = unseal_state(s, buf, len, &plain, &plen);
    if (rc != 0)
        return rc;
    if (plain) {
        buf = plain;
        len = plen;
    }
    rc = open_state(s, buf, len, &r, &h);
    if (rc != 0) {
        sl__drop(s, rc == SL_EVERSION   ? SL_DROP_VERSION
                    : rc == SL_ECLUSTER ? SL_DROP_CLUSTER
                    : rc == SL_EFULL    ? SL_DROP_FULL
                                        : SL_DROP_MALFORMED);
        free(plain);
        return rc;
    }
    for (uint32_t i = 0; i < h.count; i++) {
        remote_member rm;
        read_member(&r, &rm); /* validated by open_state */
        bool from_sender =
            rm.msg.name_len == h.sender_len && memcmp(rm.msg.name, h.sender, h.sender_len) == 0;
        merge_one(s, &rm, from_sender, now_ms);
    }
    if (h.user_len && s->cb.user_merge &&
        s->cb.user_merge(s->cb.ud, h.user, h.user_len, now_ms) < 0)
        sl__drop(s, SL_DROP_USER);
    s->stats.pushpull_merged++;
    if (is_join)
        *is_join = h.join;
    free(plain);
    return 0;
}
