/* What the fuzz targets share (see fuzz.h). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../gossip/mp.h"
#include "fuzz.h"
#include "starling/error.h"

_Noreturn void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: property failed: %s\n", file, line, what);
    abort();
}

/* ---- the application behind a core ---- */

static void on_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    fuzz_app *a = ud;
    (void)to;
    a->sent++;
    FUZZ_CHECK(len <= a->max_packet);
    if (len <= sizeof a->last) {
        memcpy(a->last, buf, len);
        a->last_len = len;
    }
    if (a->must_seal && a->must_seal->n) {
        /* A core that holds a key never sends a byte in the clear. */
        uint8_t plain[1500];
        FUZZ_CHECK(sl_is_sealed(buf, len));
        FUZZ_CHECK(
            sl_open(a->must_seal, SL_SEAL_PACKET, a->cluster, buf, len, plain, sizeof plain) >= 0);
    }
}

static void on_entropy(void *ud, uint8_t *buf, size_t len)
{
    fuzz_app *a = ud;
    for (size_t i = 0; i < len; i++) {
        uint64_t z = (a->entropy += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        buf[i] = (uint8_t)(z ^ (z >> 31));
    }
}

static int on_user_msg(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    fuzz_app *a = ud;
    int kind = sl_appmsg_kind(buf, len);
    if (kind == SL_APPMSG_SERVICE)
        return sl_catalog_apply(a->cat, buf, len, now_ms) < 0 ? -1 : 0;
    return sl_reports_apply(a->rep, buf, len, NULL, NULL) < 0 ? -1 : 0;
}

/* The agent's application state: [catalog, reports, sync]. */
static int on_user_state(void *ud, uint8_t **out, size_t *len)
{
    fuzz_app *a = ud;
    uint8_t *cat = NULL, *rep = NULL;
    size_t cl = 0, rl = 0;
    if (sl_catalog_encode(a->cat, &cat, &cl) != 0 || sl_reports_encode(a->rep, &rep, &rl) != 0) {
        free(cat);
        return SL_ENOMEM;
    }
    size_t cap = cl + rl + 32;
    uint8_t *buf = malloc(cap);
    if (!buf)
        abort();
    sl__mp_writer w;
    sl__mp_writer_init(&w, buf, cap);
    msgpack_pack_array(&w.pk, 3);
    sl__mp_put_bin(&w, cat, cl);
    sl__mp_put_bin(&w, rep, rl);
    msgpack_pack_uint8(&w.pk, (uint8_t)sl_catalog_get_sync(a->cat));
    free(cat);
    free(rep);
    FUZZ_CHECK(!w.overflow);
    *out = buf;
    *len = w.len;
    return 0;
}

static int on_user_merge(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    fuzz_app *a = ud;
    if (a->layout == FUZZ_APP_CATALOG)
        return sl_catalog_merge(a->cat, buf, len, now_ms, SL_CATALOG_CURRENT) < 0 ? -1 : 0;
    /* As sl__runtime_user_merge reads it. */
    sl__mp_reader r;
    uint32_t n, cl, rl;
    uint64_t sync = SL_CATALOG_CURRENT;
    const uint8_t *cat, *rep;
    sl__mp_reader_init(&r, buf, len);
    if (sl__mp_read_array(&r, &n) || n < 2 || sl__mp_read_bin(&r, &cat, &cl) ||
        sl__mp_read_bin(&r, &rep, &rl) || (n >= 3 && sl__mp_read_uint(&r, &sync)) ||
        sync > SL_CATALOG_RETURNING)
        return SL_EMALFORMED;
    int c = sl_catalog_merge(a->cat, cat, cl, now_ms, (sl_catalog_sync)sync);
    int m = sl_reports_merge(a->rep, rep, rl);
    return c < 0 || m < 0 ? SL_EMALFORMED : 0;
}

void fuzz_app_init(fuzz_app *a, fuzz_appstate layout)
{
    memset(a, 0, sizeof *a);
    a->layout = layout;
    a->cat = sl_catalog_new();
    a->rep = sl_reports_new();
    if (!a->cat || !a->rep)
        abort();
}

void fuzz_app_free(fuzz_app *a)
{
    sl_catalog_free(a->cat);
    sl_reports_free(a->rep);
}

sl_swim *fuzz_core(const char *name, const char *ip, const char *cluster, const sl_keyring *kr,
                   fuzz_app *a)
{
    sl_swim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = name;
    cfg.cluster = cluster;
    cfg.generation = 7;
    cfg.seed = 42;
    cfg.keyring = kr;
    cfg.max_members = a->max_members;
    if (sl_addr_parse(ip, 7946, &cfg.addr) != 0 || sl_swim_profile("lan", &cfg.timing) != 0)
        abort();
    cfg.cb = (sl_swim_callbacks){.send = on_send,
                                 .user_msg = on_user_msg,
                                 .user_state = a->layout == FUZZ_APP_AGENT ? on_user_state : NULL,
                                 .user_merge = on_user_merge,
                                 .entropy = on_entropy,
                                 .ud = a};
    a->must_seal = kr;
    snprintf(a->cluster, sizeof a->cluster, "%s", cluster);
    sl_swim *s = NULL;
    if (sl_swim_new(&cfg, 1000, &s) != 0)
        abort();
    a->max_packet = sl_swim_get_timing(s)->max_packet;
    return s;
}

/* ---- fixed keys ---- */

void fuzz_cluster_key(int i, uint8_t key[SL_KEY_BYTES])
{
    for (int k = 0; k < SL_KEY_BYTES; k++)
        key[k] = (uint8_t)(0x40 + 17 * i + k);
}

void fuzz_keyring(sl_keyring *kr)
{
    uint8_t k[SL_KEY_BYTES];
    sl_keyring_init(kr);
    for (int i = 0; i < 2; i++) {
        fuzz_cluster_key(i, k);
        if (sl_keyring_install(kr, k) != 1)
            abort();
    }
}

void fuzz_operator_key(int i, uint8_t pub[SL_OPERATOR_PUB_BYTES],
                       uint8_t sec[SL_OPERATOR_SEC_BYTES])
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    memset(seed, 0x11 * (i + 1), sizeof seed);
    if (sodium_init() < 0 || crypto_sign_seed_keypair(pub, sec, seed) != 0)
        abort();
}

/* ---- a membership to start from ---- */

uint8_t *fuzz_known_state(fuzz_appstate layout, size_t *len)
{
    fuzz_app a[3];
    sl_swim *c[3];
    static const char *names[] = {"alpha", "beta", "gamma"};
    static const char *ips[] = {"127.0.0.1", "127.0.0.2", "127.0.0.5"};
    for (int i = 0; i < 3; i++) {
        fuzz_app_init(&a[i], layout);
        c[i] = fuzz_core(names[i], ips[i], "", NULL, &a[i]);
    }
    if (layout == FUZZ_APP_AGENT) {
        /* What alpha's peers learn about the cluster's services. */
        char *argv[] = {"/bin/sleep", "1000"}, *env[] = {"MODE=fuzz"};
        sl_service spec = {
            .name = "web", .replicas = 2, .argc = 2, .argv = argv, .envc = 1, .env = env};
        sl_report r = {.node = "beta", .service = "web", .version = 3, .n = 1};
        r.replicas[0] =
            (sl_replica_report){.replica = 1, .status = SL_REPLICA_RUNNING, .port = 20001};
        uint8_t msg[SL_SVC_RECORD_MAX];
        size_t n;
        if (sl_catalog_put(a[0].cat, &spec, "alpha", 1000, msg, sizeof msg, &n) != 0 ||
            sl_reports_put(a[0].rep, &r, msg, sizeof msg, &n) != 0)
            abort();
        sl_catalog_set_sync(a[0].cat, SL_CATALOG_CURRENT);
    }
    for (int i = 1; i < 3; i++) {
        uint8_t *buf = NULL;
        size_t n = 0;
        bool join;
        if (sl_swim_encode_state(c[i], true, &buf, &n) != 0 ||
            sl_swim_merge_state(c[0], buf, n, 1000, &join) != 0)
            abort();
        free(buf);
    }
    uint8_t *state = NULL;
    if (sl_swim_encode_state(c[0], false, &state, len) != 0)
        abort();
    for (int i = 0; i < 3; i++) {
        sl_swim_free(c[i]);
        fuzz_app_free(&a[i]);
    }
    return state;
}

/* ---- properties ---- */

void fuzz_check_state_round_trip(sl_swim *s, const char *cluster, const sl_keyring *kr,
                                 fuzz_appstate layout)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    FUZZ_CHECK(sl_swim_encode_state(s, false, &buf, &len) == 0);
    fuzz_app b;
    fuzz_app_init(&b, layout);
    sl_swim *t = fuzz_core("checker", "127.0.0.99", cluster, kr, &b);
    bool join = false;
    FUZZ_CHECK(sl_swim_merge_state(t, buf, len, 2000, &join) == 0);
    sl_swim_free(t);
    if (kr && kr->n) {
        /* Sealed: a core without the key learns nothing from it. */
        FUZZ_CHECK(sl_is_sealed(buf, len));
        t = fuzz_core("checker", "127.0.0.99", cluster, NULL, &b);
        FUZZ_CHECK(sl_swim_merge_state(t, buf, len, 2000, &join) == SL_EAUTH);
        FUZZ_CHECK(sl_swim_size(t) == 1);
        sl_swim_free(t);
    }
    fuzz_app_free(&b);
    free(buf);
}

void fuzz_check_catalog_round_trip(const sl_catalog *c)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    FUZZ_CHECK(sl_catalog_encode(c, &buf, &len) == 0);
    sl_catalog *d = sl_catalog_new();
    FUZZ_CHECK(d && sl_catalog_merge(d, buf, len, 1000, SL_CATALOG_CURRENT) >= 0);
    FUZZ_CHECK(sl_catalog_size(d) == sl_catalog_size(c));
    sl_catalog_free(d);
    free(buf);
}

void fuzz_check_reports_round_trip(const sl_reports *r)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    FUZZ_CHECK(sl_reports_encode(r, &buf, &len) == 0);
    sl_reports *d = sl_reports_new();
    FUZZ_CHECK(d && sl_reports_merge(d, buf, len) >= 0);
    sl_reports_free(d);
    free(buf);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t fuzz_view_digest(const sl_swim *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t n = sl_swim_size(s);
    h = fnv(h, &n, sizeof n);
    for (size_t i = 0; i < n; i++) {
        sl_member_view v;
        FUZZ_CHECK(sl_swim_member_at(s, i, &v) == 0);
        uint32_t st = (uint32_t)v.state;
        h = fnv(h, v.name, strlen(v.name) + 1);
        h = fnv(h, &v.addr.family, 1);
        h = fnv(h, v.addr.ip, sizeof v.addr.ip);
        h = fnv(h, &v.addr.port, sizeof v.addr.port);
        h = fnv(h, &v.inc.gen, sizeof v.inc.gen);
        h = fnv(h, &v.inc.ctr, sizeof v.inc.ctr);
        h = fnv(h, &st, sizeof st);
        h = fnv(h, &v.meta_len, sizeof v.meta_len);
        if (v.meta_len)
            h = fnv(h, v.meta, v.meta_len);
    }
    return h;
}

/* ---- seeds ---- */

void fuzz_write_seed(const char *dir, const char *name, const uint8_t *prefix, size_t plen,
                     const uint8_t *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    if (plen)
        fwrite(prefix, 1, plen, f);
    if (len)
        fwrite(buf, 1, len, f);
    fclose(f);
}

/* ---- turning fuzz bytes into values ---- */

uint8_t fuzz_u8(fuzz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

uint32_t fuzz_u32(fuzz_in *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | fuzz_u8(in);
    return v;
}

uint64_t fuzz_u64(fuzz_in *in)
{
    uint64_t hi = fuzz_u32(in);
    return (hi << 32) | fuzz_u32(in);
}

size_t fuzz_str(fuzz_in *in, char *out, size_t max, const char *alphabet)
{
    size_t len = fuzz_u8(in) % (max + 1), k = alphabet ? strlen(alphabet) : 0, i;
    for (i = 0; i < len && in->n; i++) {
        uint8_t b = fuzz_u8(in);
        out[i] = alphabet ? alphabet[b % k] : (char)b;
    }
    out[i] = 0;
    return i;
}
