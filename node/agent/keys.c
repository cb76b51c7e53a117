/* Cluster-wide keyring operations, the agent's side (see keys.h; the wire
 * format and the rules are in include/starling/keyops.h).
 *
 * Receiving. An operation that arrives by gossip is acted on once (its id
 * is remembered): applied to the keyring the SWIM core borrows (so it takes
 * effect on the next packet), persisted in DATA_DIR/keyring when the keyring
 * changed, passed on, and answered; the answer is broadcast and relayed by
 * every peer that sees it first, until it reaches the origin. One stamped
 * more than five minutes away from our wall clock is neither applied nor
 * passed on, only answered with the reason. An answer may
 * reach a peer before the operation does (it took another path): it is
 * relayed all the same, since only the origin acts on answers.
 *
 * Starting. `starling keys ...` reaches sl__keys_start() through the RPC.
 * The origin applies the operation to itself first, so that on a peer with
 * no live member (one that was offline during a rotation) it completes at
 * once, then spreads it and waits for an answer from every member that was
 * alive or suspect when it started. Gossip is probabilistic and the local
 * profile retransmits each message only twice, so while answers are missing
 * the origin gossips the operation again every half second; a peer that
 * already applied it does not apply it again but passes it on and gives its
 * answer again (see give_again). The wait ends when everyone answered or at the
 * deadline, and the RPC gets how many members hold each key, which did not
 * answer and which answered with an error.
 *
 * Refusals at the origin. Removing the origin's own primary key is refused
 * before anything spreads: peers would remove a key the origin still seals
 * with, and cut it off. Peers without a key (plain gossip) neither start nor
 * accept operations: anyone could send one.
 *
 * Secrets. Keys are never logged: log lines name a key by a fingerprint
 * (the first 4 bytes of its BLAKE2b hash). Buffers that held keys are wiped
 * with sodium_memzero before they are freed. The RPC reply carries the keys
 * themselves, as Serf's `keys -list` does: whoever can reach the RPC holds
 * them anyway. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/keys.h"
#include "agent/log.h"
#include "agent/security.h"
#include "starling/error.h"
#include "starling/keyops.h"

#define RETRY_MS 500    /* the origin gossips a waiting operation again this often */
#define RELAY_MS 400    /* a peer passes the same operation on again at most this often */
#define REANSWER_MS 250 /* a peer gives the same answer again at most this often */
#define GIVEN_MAX 16    /* answers remembered to give again */
#define LATE_MAX 64     /* answers kept from members not live at the start */
#define KEYS_COUNTED 64 /* distinct keys counted over all answers */
#define REFUSED_LOG_MS 10000

/* An answer this peer gave, kept to give it again when the origin retries,
 * and when it last passed the operation on. */
typedef struct given {
    uint64_t id;
    uint64_t sent_ms, relayed_ms;
    bool relay; /* false for an operation we refused: it is not passed on */
    size_t len;
    uint8_t msg[SL_KEYOP_MSG_MAX];
} given;

struct sl__keys {
    sl_keyop_seen ops;     /* operation ids acted on */
    sl_keyop_seen answers; /* sl_keyanswer_digest of answers relayed */
    given given[GIVEN_MAX];
    uint32_t given_next;
    sl__keys_wait *waits;
    int nwaits;
    uint64_t refused, refused_log_ms;
};

typedef struct member_answer {
    char name[SL_SWIM_NAME_MAX + 1];
    bool live; /* alive or suspect when the operation started */
    bool answered;
    char *error; /* NULL when it answered without one */
} member_answer;

typedef struct key_count {
    uint8_t key[SL_KEY_BYTES];
    uint32_t holders, primary;
} key_count;

struct sl__keys_wait {
    sl__agent *a;
    sl__keys_wait *next;
    uv_timer_t timer;
    sl_keyop op;
    uint8_t msg[SL_KEYOP_MSG_MAX]; /* the encoded operation, gossiped again on retries */
    size_t msg_len;
    uint64_t started_ms, deadline_ms;
    member_answer *m; /* the live members at the start, sorted by name */
    size_t nm, answered;
    member_answer late[LATE_MAX]; /* answers from others (joined since) */
    size_t nlate;
    key_count keys[KEYS_COUNTED];
    size_t nkeys;
    sl__keys_done done;
    void *ud;
    bool finished;
};

static uint64_t wall_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A key's fingerprint for the log: 8 hex digits of its BLAKE2b hash. */
static char *fingerprint(const uint8_t key[SL_KEY_BYTES], char out[9])
{
    uint8_t h[16];
    crypto_generichash(h, sizeof h, key, SL_KEY_BYTES, NULL, 0);
    snprintf(out, 9, "%02x%02x%02x%02x", h[0], h[1], h[2], h[3]);
    return out;
}

static void broadcast(sl__agent *a, uint64_t key, const uint8_t *buf, size_t len)
{
    if (sl_swim_broadcast(a->swim, key, buf, len) != 0)
        sl__warn("keys: cannot gossip a %zu-byte key message", len);
}

/* The dissemination key of an operation: the digest of its id with an
 * empty name, which no answer has (names are never empty). */
static uint64_t op_bcast_key(uint64_t id)
{
    return sl_keyanswer_digest(id, "");
}

int sl__keys_new(sl__agent *a)
{
    a->keys = calloc(1, sizeof *a->keys);
    if (!a->keys)
        return SL_ENOMEM;
    sl_keyop_seen_init(&a->keys->ops);
    sl_keyop_seen_init(&a->keys->answers);
    return 0;
}

/* ---- applying an operation here ---- */

/* Applies op to our keyring, saves it when it changed, fills *ans and logs
 * what happened (never the key). */
static void apply_here(sl__agent *a, const sl_keyop *op, sl_keyanswer *ans)
{
    char fp[9], pfp[9];
    int rc = sl_keyop_apply(&a->keyring, op, a->cfg.name, ans);
    const char *name = sl_keyop_type_name(op->type);
    if (op->type != SL_KEYOP_LIST)
        fingerprint(op->key, fp);
    else
        snprintf(fp, sizeof fp, "-");
    if (rc == 1 && a->cfg.data_dir[0]) {
        int src = sl__keyring_file_save(a->cfg.data_dir, &a->keyring);
        if (src != 0) {
            snprintf(ans->error, sizeof ans->error,
                     "applied, but the keyring file cannot be saved: %s", sl_strerror(src));
            sl__error("keys: cannot save %s/%s: %s", a->cfg.data_dir, SL__KEYRING_FILE,
                      sl_strerror(src));
        }
    }
    if (rc < 0)
        sl__warn("keys: refused '%s' of key %s from %s: %s", name, fp, op->origin, ans->error);
    else if (rc == 1)
        sl__info("keys: '%s' of key %s from %s applied: %u key%s, primary %s", name, fp, op->origin,
                 a->keyring.n, a->keyring.n == 1 ? "" : "s", fingerprint(a->keyring.key[0], pfp));
    else
        sl__debug("keys: '%s' of key %s from %s: nothing to change", name, fp, op->origin);
}

/* Gives our answer: remembered (to give again), marked as seen, broadcast.
 * relay: whether the operation may be passed on when it comes again. */
static void give_answer(sl__agent *a, const sl_keyanswer *ans, bool relay)
{
    sl__keys *k = a->keys;
    given *g = &k->given[k->given_next++ % GIVEN_MAX];
    sodium_memzero(g, sizeof *g);
    int n = sl_keyanswer_encode(ans, g->msg, sizeof g->msg);
    if (n < 0) {
        sl__warn("keys: cannot encode our answer: %s", sl_strerror(n));
        return;
    }
    g->id = ans->id;
    g->relay = relay;
    g->len = (size_t)n;
    g->sent_ms = g->relayed_ms = sl__agent_now(a);
    uint64_t d = sl_keyanswer_digest(ans->id, ans->node);
    sl_keyop_seen_add(&k->answers, d);
    broadcast(a, d, g->msg, g->len);
}

/* An operation we already applied arrives again: the origin is still
 * waiting for answers and gossips it again, or another peer relayed it. We
 * give the same answer again and pass the operation on again, each at most
 * every REANSWER_MS / RELAY_MS, so that a retry reaches everyone and every
 * answer gets another chance to reach the origin, while the copies of one
 * wave of gossip cost nothing. */
static void give_again(sl__agent *a, const uint8_t *buf, size_t len, uint64_t id)
{
    sl__keys *k = a->keys;
    uint64_t now = sl__agent_now(a);
    for (int i = 0; i < GIVEN_MAX; i++) {
        given *g = &k->given[i];
        if (!g->len || g->id != id)
            continue;
        if (g->relay && now - g->relayed_ms >= RELAY_MS) {
            g->relayed_ms = now;
            broadcast(a, op_bcast_key(id), buf, len);
        }
        if (now - g->sent_ms >= REANSWER_MS) {
            g->sent_ms = now;
            broadcast(a, sl_keyanswer_digest(id, a->cfg.name), g->msg, g->len);
        }
    }
}

/* An operation stamped too far from our clock: a replay, or clocks that
 * disagree. It is not applied and not passed on, but answered with the
 * reason, so that the operator sees why this member refused. */
static void refuse(sl__agent *a, const sl_keyop *op, int rc, uint64_t now_wall)
{
    sl__keys *k = a->keys;
    sl_keyanswer ans;
    uint64_t now = sl__agent_now(a);
    uint64_t off = rc == SL_EFUTURE ? op->stamp_ms - now_wall : now_wall - op->stamp_ms;
    memset(&ans, 0, sizeof ans);
    ans.id = op->id;
    snprintf(ans.node, sizeof ans.node, "%s", a->cfg.name);
    snprintf(ans.error, sizeof ans.error,
             "refused: stamped %llu s %s this member's clock (more than %llu s: a replay, or a "
             "clock off)",
             (unsigned long long)(off / 1000), rc == SL_EFUTURE ? "ahead of" : "behind",
             (unsigned long long)(SL_KEYOP_WINDOW_MS / 1000));
    sl_keyanswer_set_keys(&ans, &a->keyring);
    give_answer(a, &ans, false);
    sodium_memzero(&ans, sizeof ans);
    k->refused++;
    if (k->refused_log_ms && now - k->refused_log_ms < REFUSED_LOG_MS)
        return;
    k->refused_log_ms = now;
    sl__warn("keys: refused a '%s' operation from %s, stamped %llu s %s our clock (%llu refused "
             "so far)",
             sl_keyop_type_name(op->type), op->origin, (unsigned long long)(off / 1000),
             rc == SL_EFUTURE ? "ahead of" : "behind", (unsigned long long)k->refused);
}

static void record(sl__keys_wait *w, const sl_keyanswer *ans);

static int on_operation(sl__agent *a, const uint8_t *buf, size_t len)
{
    sl__keys *k = a->keys;
    sl_keyop op;
    sl_keyanswer ans;
    int rc = 0;
    uint64_t now_wall = wall_ms();
    if (sl_keyop_decode(buf, len, &op) != 0)
        return SL_EMALFORMED;
    if (sl_keyop_seen_has(&k->ops, op.id)) {
        give_again(a, buf, len, op.id);
    } else if ((rc = sl_keyop_check_stamp(&op, now_wall)) != 0) {
        sl_keyop_seen_add(&k->ops, op.id);
        refuse(a, &op, rc, now_wall);
    } else {
        sl_keyop_seen_add(&k->ops, op.id);
        apply_here(a, &op, &ans);
        broadcast(a, op_bcast_key(op.id), buf, len); /* pass it on */
        give_answer(a, &ans, true);
        sodium_memzero(&ans, sizeof ans);
    }
    sodium_memzero(&op, sizeof op);
    return rc;
}

static int on_answer(sl__agent *a, const uint8_t *buf, size_t len)
{
    sl__keys *k = a->keys;
    sl_keyanswer ans;
    if (sl_keyanswer_decode(buf, len, &ans) != 0)
        return SL_EMALFORMED;
    uint64_t d = sl_keyanswer_digest(ans.id, ans.node);
    if (!sl_keyop_seen_add(&k->answers, d)) {
        bool ours = false;
        for (sl__keys_wait *w = k->waits; w; w = w->next)
            if (w->op.id == ans.id) {
                record(w, &ans);
                ours = true;
            }
        if (!ours)
            broadcast(a, d, buf, len); /* on its way to the origin */
    }
    sodium_memzero(&ans, sizeof ans);
    return 0;
}

int sl__keys_user_msg(sl__agent *a, const uint8_t *buf, size_t len)
{
    if (!a->keys || a->stopping)
        return SL_ESTATE;
    /* Plain gossip: anyone could have sent it. */
    if (!sl_swim_sealed(a->swim))
        return SL_EAUTH;
    int kind = sl_appmsg_kind(buf, len);
    if (kind == SL_APPMSG_KEYOP)
        return on_operation(a, buf, len);
    if (kind == SL_APPMSG_KEYANSWER)
        return on_answer(a, buf, len);
    return SL_EMALFORMED;
}

/* ---- waiting for the answers ---- */

static int by_name(const void *x, const void *y)
{
    return strcmp(((const member_answer *)x)->name, ((const member_answer *)y)->name);
}

static member_answer *find_member(sl__keys_wait *w, const char *name)
{
    member_answer probe;
    snprintf(probe.name, sizeof probe.name, "%s", name);
    member_answer *m = bsearch(&probe, w->m, w->nm, sizeof *w->m, by_name);
    if (m)
        return m;
    for (size_t i = 0; i < w->nlate; i++)
        if (!strcmp(w->late[i].name, name))
            return &w->late[i];
    if (w->nlate == LATE_MAX)
        return NULL;
    m = &w->late[w->nlate++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    return m;
}

static void count_key(sl__keys_wait *w, const uint8_t key[SL_KEY_BYTES], bool primary)
{
    size_t i = 0;
    while (i < w->nkeys && sodium_memcmp(w->keys[i].key, key, SL_KEY_BYTES) != 0)
        i++;
    if (i == w->nkeys) {
        if (w->nkeys == KEYS_COUNTED)
            return;
        memcpy(w->keys[w->nkeys++].key, key, SL_KEY_BYTES);
    }
    w->keys[i].holders++;
    w->keys[i].primary += primary;
}

static void on_timer(uv_timer_t *t);

/* Notes one member's answer; the first one per member counts. */
static void record(sl__keys_wait *w, const sl_keyanswer *ans)
{
    member_answer *m = find_member(w, ans->node);
    if (!m || m->answered || w->finished)
        return;
    m->answered = true;
    if (m->live)
        w->answered++;
    if (ans->error[0])
        m->error = strdup(ans->error);
    for (uint32_t i = 0; i < ans->nkeys; i++)
        count_key(w, ans->keys[i], i == 0);
    if (w->answered == w->nm) /* everyone: end on the next loop turn */
        uv_timer_start(&w->timer, on_timer, 0, 0);
}

/* A JSON string for text from the network (JSON wants UTF-8: any other
 * byte becomes '?'). */
static json_t *text_json(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char buf[SL_KEYOP_ERROR_MAX + 1];
    size_t i = 0;
    for (; s[i] && i < sizeof buf - 1; i++)
        buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    buf[i] = 0;
    return json_string(buf);
}

static int by_holders(const void *x, const void *y)
{
    const key_count *a = x, *b = y;
    if (a->holders != b->holders)
        return a->holders > b->holders ? -1 : 1;
    if (a->primary != b->primary)
        return a->primary > b->primary ? -1 : 1;
    return memcmp(a->key, b->key, SL_KEY_BYTES);
}

static void add_errors(json_t *errors, const member_answer *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].answered && m[i].error)
            json_array_append_new(errors, json_pack("{s:o, s:o}", "node", text_json(m[i].name),
                                                    "error", text_json(m[i].error)));
}

static json_t *reply_json(sl__keys_wait *w)
{
    json_t *keys = json_array(), *missing = json_array(), *errors = json_array();
    char b64[SL_KEY_B64_LEN], id[17];
    qsort(w->keys, w->nkeys, sizeof w->keys[0], by_holders);
    for (size_t i = 0; i < w->nkeys; i++) {
        json_array_append_new(keys, json_pack("{s:s, s:I, s:I}", "key",
                                              sl_key_encode(w->keys[i].key, b64, sizeof b64),
                                              "holders", (json_int_t)w->keys[i].holders, "primary",
                                              (json_int_t)w->keys[i].primary));
        sodium_memzero(b64, sizeof b64);
    }
    for (size_t i = 0; i < w->nm; i++)
        if (!w->m[i].answered)
            json_array_append_new(missing, text_json(w->m[i].name));
    add_errors(errors, w->m, w->nm);
    add_errors(errors, w->late, w->nlate);
    snprintf(id, sizeof id, "%016llx", (unsigned long long)w->op.id);
    return json_pack(
        "{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:I}", "op", sl_keyop_type_name(w->op.type), "id", id,
        "total", (json_int_t)(w->nm + w->nlate), "answered", (json_int_t)(w->answered + w->nlate),
        "keys", keys, "missing", missing, "errors", errors, "elapsed_ms",
        (json_int_t)(sl__agent_now(w->a) - w->started_ms));
}

static void free_members(member_answer *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].error);
}

static void on_wait_closed(uv_handle_t *h)
{
    sl__keys_wait *w = h->data;
    free_members(w->m, w->nm);
    free_members(w->late, w->nlate);
    free(w->m);
    sodium_memzero(w, sizeof *w);
    free(w);
}

/* Takes w off the list and closes it; its memory goes in the close callback. */
static void unlink_wait(sl__keys_wait *w)
{
    sl__keys *k = w->a->keys;
    for (sl__keys_wait **p = &k->waits; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            k->nwaits--;
            break;
        }
    w->finished = true;
    uv_close((uv_handle_t *)&w->timer, on_wait_closed);
}

static void finish(sl__keys_wait *w)
{
    json_t *reply = reply_json(w);
    sl__keys_done done = w->done;
    void *ud = w->ud;
    sl__info("keys: '%s' (operation %016llx) ended: %zu of %zu live members answered",
             sl_keyop_type_name(w->op.type), (unsigned long long)w->op.id, w->answered, w->nm);
    unlink_wait(w);
    if (done)
        done(ud, reply);
    else
        json_decref(reply);
}

static void on_timer(uv_timer_t *t)
{
    sl__keys_wait *w = t->data;
    uint64_t now = sl__agent_now(w->a);
    if (w->answered == w->nm || now >= w->deadline_ms) {
        finish(w);
        return;
    }
    broadcast(w->a, op_bcast_key(w->op.id), w->msg, w->msg_len);
    sl__agent_rearm(w->a);
    uint64_t next = w->deadline_ms - now < RETRY_MS ? w->deadline_ms - now : RETRY_MS;
    uv_timer_start(&w->timer, on_timer, next, 0);
}

/* Lists the members alive or suspect now, ourselves included, by name. */
static int collect_live(sl__keys_wait *w)
{
    sl_swim *s = w->a->swim;
    size_t n = sl_swim_size(s);
    w->m = calloc(n ? n : 1, sizeof *w->m);
    if (!w->m)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        sl_member_view v;
        if (sl_swim_member_at(s, i, &v) != 0 ||
            (v.state != SL_MEMBER_ALIVE && v.state != SL_MEMBER_SUSPECT && !v.is_self))
            continue;
        snprintf(w->m[w->nm].name, sizeof w->m[w->nm].name, "%s", v.name);
        w->m[w->nm++].live = true;
    }
    qsort(w->m, w->nm, sizeof *w->m, by_name);
    return 0;
}

/* Reads the request into op and the timeout. Returns 0 or -1 with err. */
static int parse_request(sl__agent *a, json_t *req, sl_keyop *op, uint64_t *timeout_ms, char *err,
                         size_t errcap)
{
    const char *name = json_string_value(json_object_get(req, "op"));
    json_t *t = json_object_get(req, "timeout_ms");
    op->type = sl_keyop_type_parse(name);
    if (op->type < 0) {
        snprintf(err, errcap, "keys wants an op: install, use, remove or list");
        return -1;
    }
    if (op->type != SL_KEYOP_LIST &&
        sl_key_decode(json_string_value(json_object_get(req, "key")), op->key) != 0) {
        snprintf(err, errcap, "keys %s wants a 32-byte key in base64 (see `starling keygen`)",
                 name);
        return -1;
    }
    *timeout_ms = strcmp(a->cfg.profile, "local") ? 15000 : 5000;
    if (t && !json_is_null(t)) {
        if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > 3600000) {
            snprintf(err, errcap, "keys: timeout_ms must be 1..3600000");
            return -1;
        }
        *timeout_ms = (uint64_t)json_integer_value(t);
    }
    return 0;
}

/* Refuses what cannot start here. Returns 0 or -1 with err. */
static int may_start(sl__agent *a, const sl_keyop *op, char *err, size_t errcap)
{
    if (!a->keys || a->stopping || a->leaving)
        snprintf(err, errcap, "this peer is stopping");
    else if (!sl_swim_sealed(a->swim))
        snprintf(err, errcap,
                 "gossip is not sealed on this peer (it holds no key): keyring operations need "
                 "every peer started with --encrypt KEY");
    else if (a->keys->nwaits >= SL__KEYS_WAITS_MAX)
        snprintf(err, errcap, "%d key operations are already in progress here: try again soon",
                 SL__KEYS_WAITS_MAX);
    else if (op->type == SL_KEYOP_REMOVE && sl_keyring_find(&a->keyring, op->key) == 0)
        snprintf(err, errcap,
                 "cannot remove the primary key: make another key the primary first (`starling "
                 "keys use NEWKEY`)");
    else
        return 0;
    return -1;
}

sl__keys_wait *sl__keys_start(sl__agent *a, json_t *req, sl__keys_done done, void *ud, char *err,
                              size_t errcap)
{
    sl_keyop op;
    sl_keyanswer ans;
    uint64_t timeout_ms;
    memset(&op, 0, sizeof op);
    if (parse_request(a, req, &op, &timeout_ms, err, errcap) != 0 ||
        may_start(a, &op, err, errcap) != 0) {
        sodium_memzero(&op, sizeof op);
        return NULL;
    }
    sl__keys_wait *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errcap, "out of memory");
        sodium_memzero(&op, sizeof op);
        return NULL;
    }
    do
        randombytes_buf(&op.id, sizeof op.id);
    while (op.id == 0);
    snprintf(op.origin, sizeof op.origin, "%s", a->cfg.name);
    op.stamp_ms = wall_ms();
    w->a = a;
    w->op = op;
    sodium_memzero(&op, sizeof op);
    int n = sl_keyop_encode(&w->op, w->msg, sizeof w->msg);
    if (n < 0 || collect_live(w) != 0) {
        snprintf(err, errcap, "cannot start the operation: %s", sl_strerror(n < 0 ? n : SL_ENOMEM));
        free(w->m);
        sodium_memzero(w, sizeof *w);
        free(w);
        return NULL;
    }
    w->msg_len = (size_t)n;
    w->done = done;
    w->ud = ud;
    w->started_ms = sl__agent_now(a);
    w->deadline_ms = w->started_ms + timeout_ms;
    uv_timer_init(&a->loop, &w->timer);
    w->timer.data = w;
    w->next = a->keys->waits;
    a->keys->waits = w;
    a->keys->nwaits++;
    sl__info("keys: starting '%s' (operation %016llx) with %zu live members, for up to %llu ms",
             sl_keyop_type_name(w->op.type), (unsigned long long)w->op.id, w->nm,
             (unsigned long long)timeout_ms);

    /* Here first, then everyone else. */
    sl_keyop_seen_add(&a->keys->ops, w->op.id);
    sl_keyop_seen_add(&a->keys->answers, sl_keyanswer_digest(w->op.id, a->cfg.name));
    apply_here(a, &w->op, &ans);
    record(w, &ans);
    sodium_memzero(&ans, sizeof ans);
    broadcast(a, op_bcast_key(w->op.id), w->msg, w->msg_len);
    sl__agent_rearm(a);
    if (!uv_is_active((uv_handle_t *)&w->timer))
        uv_timer_start(&w->timer, on_timer, timeout_ms < RETRY_MS ? timeout_ms : RETRY_MS, 0);
    return w;
}

void sl__keys_detach(sl__keys_wait *w)
{
    w->done = NULL;
    w->ud = NULL;
}

void sl__keys_close(sl__agent *a)
{
    if (!a->keys)
        return;
    while (a->keys->waits) {
        sl__keys_wait *w = a->keys->waits;
        w->done = NULL;
        unlink_wait(w);
    }
}

void sl__keys_free(sl__agent *a)
{
    if (!a->keys)
        return;
    sodium_memzero(a->keys, sizeof *a->keys);
    free(a->keys);
    a->keys = NULL;
}
