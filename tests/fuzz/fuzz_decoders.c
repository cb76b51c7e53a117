/* libFuzzer harness for everything that decodes bytes from the network or
 * the disk: in gossip/, datagrams (sl_swim_recv), push-pull states
 * (sl_swim_merge_state), catalog records and whole catalogs, node reports
 * and whole report tables, keyring operations and their answers; in node/,
 * the stream framing (frame.c) and the RPC payloads (msgpack to JSON,
 * mpjson.c). `make fuzz` builds it with clang and runs it.
 *
 * The first input byte picks the decoder; the rest is the payload. Beyond
 * "never crash, never leak" (ASan, UBSan, LSan), it checks one property:
 * whatever a decoder accepted, we can encode again, and a fresh instance
 * accepts that encoding. Application messages reaching the SWIM core go to a
 * catalog and a report table, as in the agent.
 *
 * Seeds: with FUZZ_SEEDS=DIR, initialisation writes valid inputs of every
 * kind into DIR (a packet with piggybacked news, a join state, a service
 * record, a catalog, a report, a report table), so the fuzzer starts from
 * real structures rather than from nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../node/frame.h"
#include "../../node/mpjson.h"
#include "starling/catalog.h"
#include "starling/keyops.h"
#include "starling/reports.h"
#include "starling/swim.h"

enum {
    T_RECV,
    T_MERGE_STATE,
    T_CAT_APPLY,
    T_CAT_MERGE,
    T_REP_APPLY,
    T_REP_MERGE,
    T_FRAMES,
    T_MPJSON,
    T_KEYOPS,
    T_COUNT
};

typedef struct app {
    sl_catalog *cat;
    sl_reports *rep;
    uint8_t last[1500]; /* the last datagram sent, for the seeds */
    size_t last_len;
} app;

static void on_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    app *a = ud;
    (void)to;
    if (len <= sizeof a->last) {
        memcpy(a->last, buf, len);
        a->last_len = len;
    }
}

static int on_user_msg(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    app *a = ud;
    int kind = sl_appmsg_kind(buf, len);
    if (kind == SL_APPMSG_SERVICE)
        return sl_catalog_apply(a->cat, buf, len, now_ms) < 0 ? -1 : 0;
    return sl_reports_apply(a->rep, buf, len) < 0 ? -1 : 0;
}

static int on_user_merge(void *ud, const uint8_t *buf, size_t len, uint64_t now_ms)
{
    app *a = ud;
    return sl_catalog_merge(a->cat, buf, len, now_ms, SL_CATALOG_CURRENT) < 0 ? -1 : 0;
}

static sl_swim *core(const char *name, const char *ip, app *a)
{
    sl_swim_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = name;
    cfg.cluster = "";
    cfg.generation = 7;
    cfg.seed = 42;
    if (sl_addr_parse(ip, 7946, &cfg.addr) != 0 || sl_swim_profile("lan", &cfg.timing) != 0)
        abort();
    cfg.cb = (sl_swim_callbacks){
        .send = on_send, .user_msg = on_user_msg, .user_merge = on_user_merge, .ud = a};
    sl_swim *s = NULL;
    if (sl_swim_new(&cfg, 1000, &s) != 0)
        abort();
    return s;
}

static void app_init(app *a)
{
    memset(a, 0, sizeof *a);
    a->cat = sl_catalog_new();
    a->rep = sl_reports_new();
    if (!a->cat || !a->rep)
        abort();
}

static void app_free(app *a)
{
    sl_catalog_free(a->cat);
    sl_reports_free(a->rep);
}

/* Whatever s now holds encodes into a state that a fresh core merges. */
static void check_state_round_trip(sl_swim *s)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (sl_swim_encode_state(s, false, &buf, &len) != 0)
        abort();
    app b;
    app_init(&b);
    sl_swim *t = core("checker", "127.0.0.99", &b);
    bool join = false;
    if (sl_swim_merge_state(t, buf, len, 2000, &join) != 0)
        abort();
    sl_swim_free(t);
    app_free(&b);
    free(buf);
}

static void check_catalog_round_trip(const sl_catalog *c)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (sl_catalog_encode(c, &buf, &len) != 0)
        abort();
    sl_catalog *d = sl_catalog_new();
    if (!d || sl_catalog_merge(d, buf, len, 1000, SL_CATALOG_CURRENT) < 0 ||
        sl_catalog_size(d) != sl_catalog_size(c))
        abort();
    sl_catalog_free(d);
    free(buf);
}

static void check_reports_round_trip(const sl_reports *r)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (sl_reports_encode(r, &buf, &len) != 0)
        abort();
    sl_reports *d = sl_reports_new();
    if (!d || sl_reports_merge(d, buf, len) < 0)
        abort();
    sl_reports_free(d);
    free(buf);
}

/* A key operation or answer that decodes encodes again to the same bytes
 * when it came in our own canonical form, and always to one that decodes to
 * the same value. */
static void fuzz_keyops(const uint8_t *p, size_t n)
{
    sl_keyop op, op2;
    sl_keyanswer ans, ans2;
    uint8_t buf[SL_KEYOP_MSG_MAX];
    if (sl_keyop_decode(p, n, &op) == 0) {
        int len = sl_keyop_encode(&op, buf, sizeof buf);
        if (len < 0 || sl_keyop_decode(buf, (size_t)len, &op2) != 0 ||
            memcmp(&op, &op2, sizeof op) != 0)
            abort();
    }
    if (sl_keyanswer_decode(p, n, &ans) == 0) {
        int len = sl_keyanswer_encode(&ans, buf, sizeof buf);
        if (len < 0 || sl_keyanswer_decode(buf, (size_t)len, &ans2) != 0 ||
            memcmp(&ans, &ans2, sizeof ans) != 0)
            abort();
    }
}

/* ---- seeds ---- */

static void write_seed(const char *dir, const char *name, int kind, const uint8_t *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    uint8_t k = (uint8_t)kind;
    fwrite(&k, 1, 1, f);
    fwrite(buf, 1, len, f);
    fclose(f);
}

static void write_seeds(const char *dir)
{
    app a, b;
    app_init(&a);
    app_init(&b);
    sl_swim *x = core("alpha", "127.0.0.1", &a), *y = core("beta", "127.0.0.2", &b);

    /* A service record, a catalog, a report and a report table. */
    char *argv[] = {"/bin/echo", "hello"}, *env[] = {"A=1"};
    sl_service spec = {
        .name = "web", .replicas = 3, .argc = 2, .argv = argv, .envc = 1, .env = env};
    uint8_t msg[SL_SVC_RECORD_MAX];
    size_t n = 0;
    if (sl_catalog_put(a.cat, &spec, "alpha", 0, msg, sizeof msg, &n) == 0) {
        write_seed(dir, "service-record", T_CAT_APPLY, msg, n);
        sl_swim_broadcast(x, 1, msg, n);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (sl_catalog_encode(a.cat, &buf, &len) == 0)
        write_seed(dir, "catalog", T_CAT_MERGE, buf, len);
    free(buf);
    sl_report r = {.node = "alpha", .service = "web", .version = 5, .n = 1};
    r.replicas[0] = (sl_replica_report){.replica = 0, .status = SL_REPLICA_RUNNING, .port = 20000};
    uint8_t rmsg[512];
    if (sl_reports_put(a.rep, &r, rmsg, sizeof rmsg, &n) == 0) {
        write_seed(dir, "report", T_REP_APPLY, rmsg, n);
        sl_swim_broadcast(x, 2, rmsg, n);
    }
    buf = NULL;
    if (sl_reports_encode(a.rep, &buf, &len) == 0)
        write_seed(dir, "report-table", T_REP_MERGE, buf, len);
    free(buf);

    /* A key operation and an answer. */
    sl_keyop op = {.id = 7, .origin = "alpha", .type = SL_KEYOP_INSTALL, .stamp_ms = 1000};
    sl_keyanswer ans = {.id = 7, .node = "beta", .nkeys = 2};
    memset(op.key, 1, sizeof op.key);
    memset(ans.keys[0], 1, sizeof ans.keys[0]);
    memset(ans.keys[1], 2, sizeof ans.keys[1]);
    uint8_t kmsg[SL_KEYOP_MSG_MAX];
    int kn = sl_keyop_encode(&op, kmsg, sizeof kmsg);
    if (kn > 0)
        write_seed(dir, "keyop", T_KEYOPS, kmsg, (size_t)kn);
    kn = sl_keyanswer_encode(&ans, kmsg, sizeof kmsg);
    if (kn > 0)
        write_seed(dir, "keyanswer", T_KEYOPS, kmsg, (size_t)kn);

    /* A join state, then a ping with piggybacked news once x knows y. */
    buf = NULL;
    if (sl_swim_encode_state(y, true, &buf, &len) == 0) {
        write_seed(dir, "join-state", T_MERGE_STATE, buf, len);
        bool join;
        sl_swim_merge_state(x, buf, len, 1000, &join);
    }
    free(buf);
    for (uint64_t t = 1000; t < 4000 && a.last_len == 0; t += 100)
        sl_swim_tick(x, t);
    if (a.last_len)
        write_seed(dir, "packet", T_RECV, a.last, a.last_len);
    sl_swim_free(x);
    sl_swim_free(y);
    app_free(&a);
    app_free(&b);
}

/* A state naming three members (alpha, beta, gamma) that every fuzzed core
 * merges first, so that news about known members reaches the deeper states
 * of the membership machine, not only "unknown member". */
static uint8_t *known_state;
static size_t known_len;

static void make_known_state(void)
{
    app a[3];
    sl_swim *c[3];
    static const char *names[] = {"alpha", "beta", "gamma"};
    static const char *ips[] = {"127.0.0.1", "127.0.0.2", "127.0.0.5"};
    for (int i = 0; i < 3; i++) {
        app_init(&a[i]);
        c[i] = core(names[i], ips[i], &a[i]);
    }
    for (int i = 1; i < 3; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        bool join;
        if (sl_swim_encode_state(c[i], true, &buf, &len) != 0 ||
            sl_swim_merge_state(c[0], buf, len, 1000, &join) != 0)
            abort();
        free(buf);
    }
    if (sl_swim_encode_state(c[0], false, &known_state, &known_len) != 0)
        abort();
    for (int i = 0; i < 3; i++) {
        sl_swim_free(c[i]);
        app_free(&a[i]);
    }
}

/* Feeds p to a frame reader (64 KiB bound) in chunks whose sizes come from
 * the input itself; every frame it returns must lie within the bytes fed. */
static void fuzz_frames(const uint8_t *p, size_t n)
{
    sl__frame f;
    sl__frame_init(&f, 64 << 10);
    size_t fed = 0, out = 0;
    while (n > 0) {
        size_t chunk = 1 + p[0] % 64;
        if (chunk > n)
            chunk = n;
        const uint8_t *q = p;
        size_t m = chunk;
        while (m > 0) {
            int rc = sl__frame_feed(&f, &q, &m);
            if (rc < 0)
                goto done; /* over the bound: the connection would be closed */
            if (rc == 1) {
                out += 4 + f.want;
                if (out > fed + chunk - m)
                    abort(); /* a frame made of bytes never fed */
                sl__frame_reset(&f);
            }
        }
        fed += chunk;
        p += chunk;
        n -= chunk;
    }
done:
    sl__frame_deinit(&f);
}

/* Whatever msgpack decodes to JSON encodes back to msgpack that decodes to
 * an equal JSON value. */
static void fuzz_mpjson(const uint8_t *p, size_t n)
{
    json_t *v = NULL, *w = NULL;
    if (sl__mpjson_decode(p, n, &v) != 0)
        return;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (sl__mpjson_encode(v, &buf, &len) != 0 || sl__mpjson_decode(buf, len, &w) != 0 ||
        !json_equal(v, w))
        abort();
    json_decref(v);
    json_decref(w);
    free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    make_known_state();
    const char *dir = getenv("FUZZ_SEEDS");
    if (dir && *dir)
        write_seeds(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int kind = data[0] % T_COUNT;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    app a;
    app_init(&a);
    switch (kind) {
    case T_RECV:
    case T_MERGE_STATE: {
        sl_swim *s = core("fuzz", "127.0.0.3", &a);
        bool join = false;
        if (sl_swim_merge_state(s, known_state, known_len, 1000, &join) != 0)
            abort();
        sl_addr from;
        sl_addr_parse("127.0.0.2", 7946, &from);
        if (kind == T_RECV) {
            sl_swim_recv(s, &from, p, n, 1500);
        } else {
            sl_swim_merge_state(s, p, n, 1500, &join);
        }
        /* Probes and gossip, then suspicion timeouts, then reaping, over
         * whatever came in. */
        static const uint64_t at[] = {3000, 60000, 1000000};
        for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
            sl_swim_tick(s, at[i]);
        check_state_round_trip(s);
        sl_swim_free(s);
        break;
    }
    case T_CAT_APPLY:
    case T_CAT_MERGE:
        if (kind == T_CAT_APPLY)
            sl_catalog_apply(a.cat, p, n, 1000);
        else
            sl_catalog_merge(a.cat, p, n, 1000, SL_CATALOG_CURRENT);
        check_catalog_round_trip(a.cat);
        break;
    case T_REP_APPLY:
    case T_REP_MERGE:
        if (kind == T_REP_APPLY)
            sl_reports_apply(a.rep, p, n);
        else
            sl_reports_merge(a.rep, p, n);
        check_reports_round_trip(a.rep);
        break;
    case T_FRAMES: fuzz_frames(p, n); break;
    case T_MPJSON: fuzz_mpjson(p, n); break;
    case T_KEYOPS: fuzz_keyops(p, n); break;
    }
    app_free(&a);
    return 0;
}
