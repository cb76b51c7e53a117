/* libFuzzer target: everything that decodes bytes from the network or the
 * disk, without keys: in gossip/, datagrams (sl_swim_recv), push-pull states
 * (sl_swim_merge_state), catalog records and whole catalogs, node reports
 * and whole report tables, keyring operations and their answers; in node/,
 * the stream framing (frame.c) and the
 * RPC payloads (msgpack to JSON, mpjson.c). Sealed traffic is
 * fuzz_sealed.c's, signed records fuzz_signed.c's. `make fuzz` builds and
 * runs it with the others (tests/fuzz/run.sh).
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
 * real structures rather than from nothing; tests/fuzz/corpus/decoders/
 * holds them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rpc/frame.h"
#include "rpc/mpjson.h"
#include "fuzz.h"
#include "starling/keyops.h"

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

static void write_seed(const char *dir, const char *name, int kind, const uint8_t *buf, size_t len)
{
    uint8_t k = (uint8_t)kind;
    fuzz_write_seed(dir, name, &k, 1, buf, len);
}

static void write_seeds(const char *dir)
{
    fuzz_app a, b;
    fuzz_app_init(&a, FUZZ_APP_CATALOG);
    fuzz_app_init(&b, FUZZ_APP_CATALOG);
    sl_swim *x = fuzz_core("alpha", "127.0.0.1", "", NULL, &a);
    sl_swim *y = fuzz_core("beta", "127.0.0.2", "", NULL, &b);

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
    /* One with options (a health check). */
    sl_service checked = spec;
    snprintf(checked.name, sizeof checked.name, "api");
    checked.check =
        (sl_check){.kind = SL_CHECK_HTTP, .arg = "/healthz", .interval_ms = 500, .failures = 2};
    if (sl_catalog_put(a.cat, &checked, "alpha", 0, msg, sizeof msg, &n) == 0)
        write_seed(dir, "service-record-check", T_CAT_APPLY, msg, n);
    /* One with rollout options and a previous version (api redeployed). */
    char *argv2[] = {"/bin/echo", "v2"};
    sl_service rolled = checked;
    rolled.argv = argv2;
    rolled.rollout = (sl_rollout){.surge_set = true,
                                  .max_surge = 0,
                                  .max_unavailable = 1,
                                  .min_healthy_ms = 500,
                                  .deadline_ms = 60000,
                                  .auto_revert = true};
    if (sl_catalog_put(a.cat, &rolled, "alpha", 0, msg, sizeof msg, &n) == 0)
        write_seed(dir, "service-record-prev", T_CAT_APPLY, msg, n);
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
    fuzz_app_free(&a);
    fuzz_app_free(&b);
}

/* A state naming three members (alpha, beta, gamma) that every fuzzed core
 * merges first, so that news about known members reaches the deeper states
 * of the membership machine, not only "unknown member". */
static uint8_t *known_state;
static size_t known_len;

/* Feeds p to a frame reader (64 KiB bound) in chunks whose sizes come from
 * the input itself; every frame it returns must lie within the bytes fed. */
/* A key operation or answer that decodes encodes again to one that decodes
 * to the same value. */
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

static void write_keyop_seeds(const char *dir)
{
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
}

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
                FUZZ_CHECK(out <= fed + chunk - m); /* never a frame of bytes not fed */
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
    FUZZ_CHECK(sl__mpjson_encode(v, &buf, &len) == 0 && sl__mpjson_decode(buf, len, &w) == 0 &&
               json_equal(v, w));
    json_decref(v);
    json_decref(w);
    free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    known_state = fuzz_known_state(FUZZ_APP_CATALOG, &known_len);
    const char *dir = getenv("FUZZ_SEEDS");
    if (dir && *dir) {
        write_seeds(dir);
        write_keyop_seeds(dir);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int kind = data[0] % T_COUNT;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    fuzz_app a;
    fuzz_app_init(&a, FUZZ_APP_CATALOG);
    switch (kind) {
    case T_RECV:
    case T_MERGE_STATE: {
        sl_swim *s = fuzz_core("fuzz", "127.0.0.3", "", NULL, &a);
        bool join = false;
        FUZZ_CHECK(sl_swim_merge_state(s, known_state, known_len, 1000, &join) == 0);
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
        fuzz_check_state_round_trip(s, "", NULL, FUZZ_APP_CATALOG);
        sl_swim_free(s);
        break;
    }
    case T_CAT_APPLY:
    case T_CAT_MERGE:
        if (kind == T_CAT_APPLY)
            sl_catalog_apply(a.cat, p, n, 1000);
        else
            sl_catalog_merge(a.cat, p, n, 1000, SL_CATALOG_CURRENT);
        fuzz_check_catalog_round_trip(a.cat);
        break;
    case T_REP_APPLY:
    case T_REP_MERGE:
        if (kind == T_REP_APPLY)
            sl_reports_apply(a.rep, p, n, NULL, NULL);
        else
            sl_reports_merge(a.rep, p, n);
        fuzz_check_reports_round_trip(a.rep);
        break;
    case T_FRAMES: fuzz_frames(p, n); break;
    case T_MPJSON: fuzz_mpjson(p, n); break;
    case T_KEYOPS: fuzz_keyops(p, n); break;
    }
    fuzz_app_free(&a);
    return 0;
}
