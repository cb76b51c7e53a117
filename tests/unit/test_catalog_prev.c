/* Rolling updates in the catalog record (issue 15): the rollout options and
 * the previous version of the spec, their codec and bounds, what deploy,
 * scale and rm do with the previous version, how it merges when a scale
 * races a deploy, and rollback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>
#include <sodium.h>

#include "starling/catalog.h"
#include "starling/error.h"

#define T0 1700000000000ull /* a wall clock for the tests: 2023-11-14, in ms */

static char *v0_argv[] = {"/bin/web", "--v0"};
static char *v1_argv[] = {"/bin/web", "--v1"};
static char *v2_argv[] = {"/bin/web", "--v2"};
static char *env1[] = {"A=1", "B=2"};

typedef struct msg {
    uint8_t b[SL_SVC_RECORD_MAX];
    size_t len;
} msg;

static sl_service spec(const char *name, char **argv, uint32_t replicas)
{
    sl_service s = {.replicas = replicas, .argc = 2, .argv = argv};
    snprintf(s.name, sizeof s.name, "%s", name);
    return s;
}

/* Deploys argv x replicas of web into c at wall clock t. */
static void deploy(sl_catalog *c, char **argv, uint32_t replicas, uint64_t t, msg *m)
{
    msg local;
    sl_service s = spec("web", argv, replicas);
    if (!m)
        m = &local;
    assert_int_equal(sl_catalog_put(c, &s, "alpha", t, m->b, sizeof m->b, &m->len), 0);
}

static const sl_service *web(const sl_catalog *c)
{
    const sl_service *s = sl_catalog_find(c, "web");
    assert_non_null(s);
    return s;
}

/* web's command is argv[1] == arg, and its previous one prev_arg (NULL:
 * none). */
static void assert_web(const sl_catalog *c, const char *arg, const char *prev_arg)
{
    const sl_service *s = web(c);
    assert_string_equal(s->argv[1], arg);
    if (!prev_arg) {
        assert_false(s->prev.has);
        return;
    }
    assert_true(s->prev.has);
    assert_int_equal(s->prev.argc, 2);
    assert_string_equal(s->prev.argv[1], prev_arg);
}

/* A record with every new option set: a rollout and a previous version. */
static sl_service full_record(void)
{
    sl_service s = spec("web", v2_argv, 4);
    s.envc = 2;
    s.env = env1;
    s.stamp = 7000;
    strcpy(s.writer, "alpha");
    s.rollout = (sl_rollout){.surge_set = true,
                             .max_surge = 0,
                             .max_unavailable = 2,
                             .min_healthy_ms = 500,
                             .deadline_ms = 60000,
                             .auto_revert = true};
    s.prev = (sl_service_prev){.has = true, .argc = 2, .argv = v1_argv, .envc = 1, .env = env1};
    s.prev.check = (sl_check){.kind = SL_CHECK_HTTP, .interval_ms = 250, .failures = 4};
    strcpy(s.prev.check.arg, "/healthz");
    strcpy(s.prev.user, "nobody");
    return s;
}

static void encode_decode_round_trip(void **state)
{
    (void)state;
    sl_service s = full_record();
    msg m, m2;
    int n = sl_service_encode(&s, m.b, sizeof m.b);
    assert_true(n > 0);
    sl_service out;
    assert_int_equal(sl_service_decode(m.b, (size_t)n, &out), 0);
    assert_true(out.rollout.surge_set);
    assert_int_equal(out.rollout.max_surge, 0);
    assert_int_equal(out.rollout.max_unavailable, 2);
    assert_int_equal(out.rollout.min_healthy_ms, 500);
    assert_int_equal(out.rollout.deadline_ms, 60000);
    assert_true(out.rollout.auto_revert);
    assert_true(out.prev.has);
    assert_int_equal(out.prev.argc, 2);
    assert_string_equal(out.prev.argv[1], "--v1");
    assert_int_equal(out.prev.envc, 1);
    assert_string_equal(out.prev.env[0], "A=1");
    assert_int_equal(out.prev.check.kind, SL_CHECK_HTTP);
    assert_string_equal(out.prev.check.arg, "/healthz");
    assert_int_equal(out.prev.check.interval_ms, 250);
    assert_int_equal(out.prev.check.timeout_ms, 0);
    assert_int_equal(out.prev.check.failures, 4);
    assert_string_equal(out.prev.user, "nobody");
    assert_true(sl_service_same_spec(&out, &s));
    /* One encoding: the decoded record encodes to the same bytes. */
    assert_int_equal(sl_service_encode(&out, m2.b, sizeof m2.b), n);
    assert_memory_equal(m.b, m2.b, (size_t)n);
    sl_service_clear(&out);
    assert_false(out.prev.has);
    assert_null(out.prev.argv);
    /* The defaults filled in, and a default rollout's. */
    assert_int_equal(sl_rollout_max_surge(&s.rollout), 0);
    assert_int_equal(sl_rollout_min_healthy_ms(&s.rollout), 500);
    sl_rollout zero = {0};
    assert_int_equal(sl_rollout_max_surge(&zero), SL_ROLL_SURGE);
    assert_int_equal(sl_rollout_min_healthy_ms(&zero), SL_ROLL_MIN_HEALTHY_MS);
    assert_int_equal(sl_rollout_deadline_ms(&zero), SL_ROLL_DEADLINE_MS);
    assert_int_equal(sl_rollout_validate(&zero), 0);
}

static void a_signed_record_with_the_options_verifies(void **state)
{
    (void)state;
    uint8_t pk[SL_OPERATOR_PUB_BYTES], sk[SL_OPERATOR_SEC_BYTES];
    crypto_sign_keypair(pk, sk);
    sl_service s = full_record();
    assert_int_equal(sl_service_sign(&s, "prod", sk), 0);
    msg m;
    int n = sl_service_encode(&s, m.b, sizeof m.b);
    assert_true(n > 0);
    sl_service out;
    assert_int_equal(sl_service_decode(m.b, (size_t)n, &out), 0);
    assert_true(out.is_signed);
    assert_true(sl_service_verify(&out, "prod"));
    assert_false(sl_service_verify(&out, "staging"));
    /* The signature covers the previous version and the rollout. */
    out.prev.argv[1][3] = 'X';
    assert_false(sl_service_verify(&out, "prod"));
    out.prev.argv[1][3] = '1';
    assert_true(sl_service_verify(&out, "prod"));
    out.rollout.auto_revert = false;
    assert_false(sl_service_verify(&out, "prod"));
    out.rollout.auto_revert = true;
    out.rollout.max_surge = 1;
    assert_false(sl_service_verify(&out, "prod"));
    sl_service_clear(&out);
    /* And a catalog that trusts the key takes it. */
    sl_catalog_policy pol = {
        .trusted = (const uint8_t(*)[SL_OPERATOR_PUB_BYTES])pk, .ntrusted = 1, .cluster = "prod"};
    sl_catalog *c = sl_catalog_new();
    assert_int_equal(sl_catalog_set_policy(c, &pol), 0);
    assert_int_equal(sl_catalog_apply(c, m.b, (size_t)n, 0), 1);
    assert_web(c, "--v2", "--v1");
    sl_catalog_free(c);
}

/* Packs the eleven content fields of an unsigned record of web (stamp 7000,
 * writer alpha, 4 replicas, argv v2, env env1), as an array of `fields`. */
static void pack_content(msgpack_packer *pk, uint32_t fields)
{
    msgpack_pack_array(pk, fields);
    msgpack_pack_uint8(pk, SL_APPMSG_SERVICE);
    msgpack_pack_str_with_body(pk, "web", 3);
    msgpack_pack_uint64(pk, 7000);
    msgpack_pack_str_with_body(pk, "alpha", 5);
    msgpack_pack_false(pk);
    msgpack_pack_uint32(pk, 4);
    msgpack_pack_uint32(pk, 0);
    msgpack_pack_uint32(pk, 0);
    msgpack_pack_uint32(pk, 0);
    msgpack_pack_array(pk, 2);
    msgpack_pack_str_with_body(pk, "/bin/web", 8);
    msgpack_pack_str_with_body(pk, "--v2", 4);
    msgpack_pack_array(pk, 2);
    msgpack_pack_str_with_body(pk, "A=1", 3);
    msgpack_pack_str_with_body(pk, "B=2", 3);
}

static void defaults_are_not_written(void **state)
{
    (void)state;
    sl_service s = full_record();
    s.rollout = (sl_rollout){0};
    s.prev = (sl_service_prev){0};
    msg m;
    int n = sl_service_encode(&s, m.b, sizeof m.b);
    /* Byte for byte what a record without options always was: eleven
     * fields, no map. */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_content(&pk, 11);
    assert_int_equal(n, (int)sb.size);
    assert_memory_equal(m.b, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    /* Only what was given: a surge given as 1 (key 9) and an unavailable of
     * 0 (the default: no key 10). */
    s.rollout = (sl_rollout){.surge_set = true, .max_surge = 1};
    n = sl_service_encode(&s, m.b, sizeof m.b);
    msgpack_sbuffer_init(&sb);
    pack_content(&pk, 12);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_uint32(&pk, 9);
    msgpack_pack_uint32(&pk, 1);
    assert_int_equal(n, (int)sb.size);
    assert_memory_equal(m.b, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

typedef enum bad_opt {
    BAD_PREV_ARGS,      /* 33 arguments */
    BAD_PREV_NO_ARGS,   /* none */
    BAD_PREV_EMPTY_CMD, /* the first is "" */
    BAD_PREV_ENV,       /* "1A=x" */
    BAD_PREV_SHORT,     /* an array of 7 */
    BAD_PREV_CHECK,     /* kind 4 */
    BAD_PREV_HTTP,      /* http check without a path */
    BAD_PREV_USER,      /* "-x" */
    BAD_PREV_LONG_ARG,  /* 257 bytes */
    BAD_ZERO_UNAVAIL,   /* key 10 with the default 0 */
    BAD_REVERT_FALSE,   /* key 13 false */
    BAD_NO_STEP,        /* surge 0 and no unavailable */
    BAD_LONG_DEADLINE,  /* over 24 h */
    BAD_SURGE_MAX,      /* 1001 */
    GOOD_PREV,          /* the control: decodes */
    BAD_COUNT
} bad_opt;

/* Packs a record whose options map holds one option broken as `what`. */
static void pack_bad(msgpack_sbuffer *sb, bad_opt what)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pack_content(&pk, 12);
    msgpack_pack_map(&pk, 1);
    static char arg[SL_SVC_STR_MAX + 1];
    memset(arg, 'a', sizeof arg);
    switch (what) {
    case BAD_ZERO_UNAVAIL: msgpack_pack_uint32(&pk, 10), msgpack_pack_uint32(&pk, 0); return;
    case BAD_REVERT_FALSE: msgpack_pack_uint32(&pk, 13), msgpack_pack_false(&pk); return;
    case BAD_NO_STEP: msgpack_pack_uint32(&pk, 9), msgpack_pack_uint32(&pk, 0); return;
    case BAD_LONG_DEADLINE:
        msgpack_pack_uint32(&pk, 12), msgpack_pack_uint32(&pk, SL_ROLL_TIME_MAX_MS + 1);
        return;
    case BAD_SURGE_MAX:
        msgpack_pack_uint32(&pk, 9), msgpack_pack_uint32(&pk, SL_SVC_REPLICAS_MAX + 1);
        return;
    default: break;
    }
    msgpack_pack_uint32(&pk, 14);
    msgpack_pack_array(&pk, what == BAD_PREV_SHORT ? 7 : 8);
    uint32_t nargs = what == BAD_PREV_ARGS ? SL_SVC_ARGS_MAX + 1 : what == BAD_PREV_NO_ARGS ? 0 : 2;
    msgpack_pack_array(&pk, nargs);
    for (uint32_t i = 0; i < nargs; i++) {
        if (i == 0 && what == BAD_PREV_EMPTY_CMD)
            msgpack_pack_str_with_body(&pk, "", 0);
        else if (i == 1 && what == BAD_PREV_LONG_ARG)
            msgpack_pack_str_with_body(&pk, arg, sizeof arg);
        else
            msgpack_pack_str_with_body(&pk, "/bin/old", 8);
    }
    msgpack_pack_array(&pk, 1);
    msgpack_pack_str_with_body(&pk, what == BAD_PREV_ENV ? "1A=x" : "A=x",
                               what == BAD_PREV_ENV ? 4 : 3);
    msgpack_pack_uint32(&pk, what == BAD_PREV_CHECK  ? 4
                             : what == BAD_PREV_HTTP ? SL_CHECK_HTTP
                                                     : 0);
    msgpack_pack_str_with_body(&pk, "", 0);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_uint32(&pk, 0);
    if (what != BAD_PREV_SHORT)
        msgpack_pack_str_with_body(&pk, what == BAD_PREV_USER ? "-x" : "",
                                   what == BAD_PREV_USER ? 2 : 0);
}

static void every_field_is_bounded_on_decode(void **state)
{
    (void)state;
    for (int what = 0; what < BAD_COUNT; what++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        pack_bad(&sb, (bad_opt)what);
        sl_service out;
        int rc = sl_service_decode((const uint8_t *)sb.data, sb.size, &out);
        if (what == GOOD_PREV) {
            assert_int_equal(rc, 0);
            assert_true(out.prev.has);
            assert_string_equal(out.prev.argv[0], "/bin/old");
            sl_service_clear(&out);
        } else if (rc != SL_EMALFORMED) {
            fail_msg("option case %d decoded (rc %d)", what, rc);
        }
        /* A catalog counts it as malformed. */
        sl_catalog *c = sl_catalog_new();
        int applied = sl_catalog_apply(c, (const uint8_t *)sb.data, sb.size, 0);
        assert_int_equal(applied, what == GOOD_PREV ? 1 : SL_EMALFORMED);
        sl_catalog_free(c);
        msgpack_sbuffer_destroy(&sb);
    }
    /* And on encode: a previous version with too many arguments, or on a
     * tombstone. */
    char *many[SL_SVC_ARGS_MAX + 1];
    for (int i = 0; i <= SL_SVC_ARGS_MAX; i++)
        many[i] = "x";
    sl_service s = full_record();
    msg m;
    s.prev.argc = SL_SVC_ARGS_MAX + 1;
    s.prev.argv = many;
    assert_int_equal(sl_service_encode(&s, m.b, sizeof m.b), SL_EINVAL);
    s = full_record();
    s.deleted = true;
    assert_int_equal(sl_service_encode(&s, m.b, sizeof m.b), SL_EINVAL);
    s = full_record();
    s.rollout.max_unavailable = 0;
    assert_int_equal(sl_service_encode(&s, m.b, sizeof m.b), SL_EINVAL); /* surge 0 too */
    s.rollout.max_surge = 3;
    assert_true(sl_service_encode(&s, m.b, sizeof m.b) > 0);
    s.rollout.min_healthy_ms = SL_ROLL_TIME_MAX_MS + 1;
    assert_int_equal(sl_service_encode(&s, m.b, sizeof m.b), SL_EINVAL);
}

static void same_spec_is_command_env_check_and_user(void **state)
{
    (void)state;
    sl_service a = full_record(), b = full_record();
    assert_true(sl_service_same_spec(&a, &b));
    b.replicas = 9;
    b.cpu_milli = 100;
    b.rollout = (sl_rollout){0};
    b.prev = (sl_service_prev){0};
    assert_true(sl_service_same_spec(&a, &b)); /* none of these is the spec */
    b.argv = v1_argv;
    assert_false(sl_service_same_spec(&a, &b));
    b = full_record();
    b.envc = 1;
    assert_false(sl_service_same_spec(&a, &b));
    b = full_record();
    b.check.kind = SL_CHECK_TCP;
    assert_false(sl_service_same_spec(&a, &b));
    b = full_record();
    b.check.failures = 1;
    assert_false(sl_service_same_spec(&a, &b));
    b = full_record();
    strcpy(b.user, "www");
    assert_false(sl_service_same_spec(&a, &b));
}

/* Deploy a new command: prev is the old one; the same command: prev kept;
 * scale keeps prev and the rollout; rm then deploy: no prev. */
static void deploy_scale_and_rm_carry_prev(void **state)
{
    (void)state;
    sl_catalog *c = sl_catalog_new();
    msg m;
    deploy(c, v1_argv, 3, T0, NULL);
    assert_web(c, "--v1", NULL);
    deploy(c, v2_argv, 3, T0 + 1000, NULL);
    assert_web(c, "--v2", "--v1");
    /* The same command with another count and rollout: prev kept. */
    sl_service s = spec("web", v2_argv, 5);
    s.rollout = (sl_rollout){.max_unavailable = 1, .auto_revert = true};
    assert_int_equal(sl_catalog_put(c, &s, "alpha", T0 + 2000, m.b, sizeof m.b, &m.len), 0);
    assert_web(c, "--v2", "--v1");
    assert_int_equal(web(c)->replicas, 5);
    /* The record as gossiped carries it too. */
    sl_service out;
    assert_int_equal(sl_service_decode(m.b, m.len, &out), 0);
    assert_true(out.prev.has);
    assert_string_equal(out.prev.argv[1], "--v1");
    sl_service_clear(&out);
    /* A scale keeps prev and the rollout. */
    assert_int_equal(sl_catalog_scale(c, "web", 2, "bravo", T0 + 3000, m.b, sizeof m.b, &m.len), 0);
    assert_web(c, "--v2", "--v1");
    assert_int_equal(web(c)->replicas, 2);
    assert_int_equal(web(c)->rollout.max_unavailable, 1);
    assert_true(web(c)->rollout.auto_revert);
    /* Whatever the caller puts in spec.prev, put decides it. */
    s = spec("web", v0_argv, 2);
    s.prev = (sl_service_prev){.has = true, .argc = 2, .argv = v2_argv};
    sl_catalog *d = sl_catalog_new();
    assert_int_equal(sl_catalog_put(d, &s, "alpha", T0, m.b, sizeof m.b, &m.len), 0);
    assert_web(d, "--v0", NULL);
    sl_catalog_free(d);
    /* An env change or a check change is a new spec too. */
    s = spec("web", v2_argv, 2);
    s.envc = 1;
    s.env = env1;
    assert_int_equal(sl_catalog_put(c, &s, "alpha", T0 + 4000, m.b, sizeof m.b, &m.len), 0);
    assert_true(web(c)->prev.has);
    assert_int_equal(web(c)->prev.envc, 0);
    assert_string_equal(web(c)->prev.argv[1], "--v2");
    s.check.kind = SL_CHECK_TCP;
    assert_int_equal(sl_catalog_put(c, &s, "alpha", T0 + 5000, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(web(c)->prev.envc, 1);
    assert_int_equal(web(c)->prev.check.kind, SL_CHECK_DEFAULT);
    /* rm, then deploy: nothing to go back to. */
    assert_int_equal(sl_catalog_delete(c, "web", "alpha", T0 + 6000, m.b, sizeof m.b, &m.len), 0);
    assert_false(sl_catalog_find_any(c, "web")->prev.has);
    deploy(c, v1_argv, 3, T0 + 7000, NULL);
    assert_web(c, "--v1", NULL);
    sl_catalog_free(c);
}

static void encode_catalog(const sl_catalog *c, uint8_t **enc, size_t *len)
{
    assert_int_equal(sl_catalog_encode(c, enc, len), 0);
}

/* v0 then v1 everywhere; then a deploys v2 (its record: prev v1) while b,
 * which has not seen it, scales to 5 (its record: v1's spec, prev v0). In
 * both orders by the clocks the view is v2, prev v1, 5 replicas, on both
 * peers and after a push-pull: prev follows the spec group. */
static void prev_follows_the_spec_group(void **state)
{
    (void)state;
    for (int later = 0; later < 2; later++) {
        sl_catalog *a = sl_catalog_new(), *b = sl_catalog_new();
        msg m0, m1, dep, sc;
        deploy(a, v0_argv, 3, T0, &m0);
        deploy(a, v1_argv, 3, T0 + 100, &m1);
        assert_int_equal(sl_catalog_apply(b, m0.b, m0.len, T0 + 200), 1);
        assert_int_equal(sl_catalog_apply(b, m1.b, m1.len, T0 + 200), 1);
        assert_web(b, "--v1", "--v0");
        uint64_t t_dep = later ? T0 + 2000 : T0 + 1000, t_sc = later ? T0 + 1000 : T0 + 2000;
        deploy(a, v2_argv, 3, t_dep, &dep);
        assert_int_equal(sl_catalog_scale(b, "web", 5, "bravo", t_sc, sc.b, sizeof sc.b, &sc.len),
                         0);
        assert_web(b, "--v1", "--v0");
        assert_int_equal(sl_catalog_apply(a, sc.b, sc.len, T0 + 3000), 1);
        assert_int_equal(sl_catalog_apply(b, dep.b, dep.len, T0 + 3000), 1);
        assert_web(a, "--v2", "--v1");
        assert_web(b, "--v2", "--v1");
        assert_int_equal(web(a)->replicas, 5);
        assert_int_equal(web(b)->replicas, 5);
        uint8_t *ea, *eb;
        size_t la, lb;
        encode_catalog(a, &ea, &la);
        encode_catalog(b, &eb, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(ea, eb, la);
        sl_catalog *c = sl_catalog_new();
        assert_true(sl_catalog_merge(c, ea, la, T0 + 4000, SL_CATALOG_CURRENT) >= 1);
        assert_web(c, "--v2", "--v1");
        assert_int_equal(web(c)->replicas, 5);
        /* A rollback on the merged view: v1 again, 5 replicas kept. */
        msg rb;
        assert_int_equal(
            sl_catalog_rollback(c, "web", "charlie", T0 + 5000, rb.b, sizeof rb.b, &rb.len), 0);
        assert_web(c, "--v1", "--v2");
        assert_int_equal(web(c)->replicas, 5);
        assert_int_equal(sl_catalog_apply(a, rb.b, rb.len, T0 + 5000), 1);
        assert_web(a, "--v1", "--v2");
        assert_int_equal(web(a)->replicas, 5);
        free(ea);
        free(eb);
        sl_catalog_free(a);
        sl_catalog_free(b);
        sl_catalog_free(c);
    }
}

static void rollback_swaps_and_twice_is_back(void **state)
{
    (void)state;
    sl_catalog *c = sl_catalog_new(), *peer = sl_catalog_new();
    msg m;
    assert_int_equal(sl_catalog_rollback(c, "web", "alpha", T0, m.b, sizeof m.b, &m.len),
                     SL_ENOTFOUND);
    deploy(c, v1_argv, 3, T0, NULL);
    assert_int_equal(sl_catalog_rollback(c, "web", "alpha", T0, m.b, sizeof m.b, &m.len),
                     SL_ESTATE);
    sl_service s = spec("web", v2_argv, 4);
    s.envc = 2;
    s.env = env1;
    s.cpu_milli = 250;
    s.check.kind = SL_CHECK_TCP;
    strcpy(s.user, "www");
    s.rollout = (sl_rollout){.surge_set = true, .max_surge = 2, .deadline_ms = 30000};
    assert_int_equal(sl_catalog_put(c, &s, "alpha", T0 + 1000, m.b, sizeof m.b, &m.len), 0);
    assert_web(c, "--v2", "--v1");
    assert_int_equal(sl_catalog_rollback(c, "web", "bravo", T0 + 2000, m.b, sizeof m.b, &m.len), 0);
    const sl_service *w = web(c);
    assert_web(c, "--v1", "--v2");
    assert_int_equal(w->envc, 0);
    assert_int_equal(w->check.kind, SL_CHECK_DEFAULT);
    assert_string_equal(w->user, "");
    assert_int_equal(w->prev.envc, 2);
    assert_int_equal(w->prev.check.kind, SL_CHECK_TCP);
    assert_string_equal(w->prev.user, "www");
    /* Count, requests and rollout kept; the spec group is the rollback's. */
    assert_int_equal(w->replicas, 4);
    assert_int_equal(w->cpu_milli, 250);
    assert_int_equal(w->rollout.max_surge, 2);
    assert_int_equal(w->rollout.deadline_ms, 30000);
    assert_string_equal(w->writer, "bravo");
    assert_int_equal(w->spec_stamp, w->stamp);
    /* The message is the record: a peer that applies it holds the same. */
    sl_service out;
    assert_int_equal(sl_service_decode(m.b, m.len, &out), 0);
    assert_string_equal(out.argv[1], "--v1");
    assert_string_equal(out.prev.argv[1], "--v2");
    sl_service_clear(&out);
    /* Twice: back to the start. */
    assert_int_equal(sl_catalog_rollback(c, "web", "bravo", T0 + 3000, m.b, sizeof m.b, &m.len), 0);
    w = web(c);
    assert_web(c, "--v2", "--v1");
    assert_int_equal(w->envc, 2);
    assert_int_equal(w->check.kind, SL_CHECK_TCP);
    assert_string_equal(w->user, "www");
    assert_int_equal(w->replicas, 4);
    assert_int_equal(sl_catalog_apply(peer, m.b, m.len, T0 + 3000), 1);
    assert_web(peer, "--v2", "--v1");
    /* A deleted service has nothing to roll back. */
    assert_int_equal(sl_catalog_delete(c, "web", "alpha", T0 + 4000, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_rollback(c, "web", "alpha", T0 + 5000, m.b, sizeof m.b, &m.len),
                     SL_ENOTFOUND);
    sl_catalog_free(c);
    sl_catalog_free(peer);
}

/* The pure function: owns its copies, leaves cur alone; signed, it
 * verifies. */
static void rollback_of_builds_a_record(void **state)
{
    (void)state;
    sl_service cur = full_record(), rb;
    assert_int_equal(sl_service_rollback_of(&cur, &rb), 0);
    assert_string_equal(rb.argv[1], "--v1");
    assert_true(rb.argv != cur.prev.argv);
    assert_int_equal(rb.check.kind, SL_CHECK_HTTP);
    assert_string_equal(rb.user, "nobody");
    assert_true(rb.prev.has);
    assert_string_equal(rb.prev.argv[1], "--v2");
    assert_int_equal(rb.prev.envc, 2);
    assert_int_equal(rb.replicas, cur.replicas);
    assert_true(rb.rollout.auto_revert);
    assert_false(rb.is_signed);
    /* Stamped and signed as the CLI does. */
    uint8_t pk[SL_OPERATOR_PUB_BYTES], sk[SL_OPERATOR_SEC_BYTES];
    crypto_sign_keypair(pk, sk);
    sl_service_stamp_write(&rb, &cur, cur.stamp + 1, true);
    assert_int_equal(sl_service_sign(&rb, "prod", sk), 0);
    msg m;
    int n = sl_service_encode(&rb, m.b, sizeof m.b);
    assert_true(n > 0);
    sl_service out;
    assert_int_equal(sl_service_decode(m.b, (size_t)n, &out), 0);
    assert_true(sl_service_verify(&out, "prod"));
    /* Of the rollback: the original spec. */
    sl_service again;
    assert_int_equal(sl_service_rollback_of(&out, &again), 0);
    assert_true(sl_service_same_spec(&again, &cur));
    sl_service_clear(&again);
    sl_service_clear(&out);
    sl_service_clear(&rb);
    assert_string_equal(cur.argv[1], "--v2"); /* untouched */
    cur.prev.has = false;
    assert_int_equal(sl_service_rollback_of(&cur, &rb), SL_ESTATE);
    assert_null(rb.argv);
    cur = full_record();
    cur.deleted = true;
    assert_int_equal(sl_service_rollback_of(&cur, &rb), SL_ESTATE);
}

/* A deploy whose record would be too large with its previous version is
 * written without it; rollback then has nothing. */
static void a_prev_that_does_not_fit_is_dropped(void **state)
{
    (void)state;
    static char big1[SL_SVC_STR_MAX + 1], big2[SL_SVC_STR_MAX + 1];
    memset(big1, 'a', 200);
    memset(big2, 'b', 200);
    char *a1[] = {"/bin/web", big1, big1}, *a2[] = {"/bin/web", big2, big2};
    sl_catalog *c = sl_catalog_new();
    msg m;
    sl_service s = spec("web", a1, 3);
    s.argc = 3;
    assert_int_equal(sl_catalog_put(c, &s, "alpha", T0, m.b, sizeof m.b, &m.len), 0);
    s.argv = a2;
    assert_int_equal(sl_catalog_put(c, &s, "alpha", T0 + 1000, m.b, sizeof m.b, &m.len), 0);
    assert_string_equal(web(c)->argv[1], big2);
    assert_false(web(c)->prev.has);
    assert_int_equal(sl_catalog_rollback(c, "web", "alpha", T0 + 2000, m.b, sizeof m.b, &m.len),
                     SL_ESTATE);
    /* A short one after it keeps the big one (the pair fits). */
    s = spec("web", v1_argv, 3);
    assert_int_equal(sl_catalog_put(c, &s, "alpha", T0 + 3000, m.b, sizeof m.b, &m.len), 0);
    assert_true(web(c)->prev.has);
    assert_string_equal(web(c)->prev.argv[1], big2);
    /* ... and whatever it keeps, the rollback fits, as does a scale of
     * that by a writer with the longest name. */
    assert_int_equal(sl_catalog_rollback(c, "web", "alpha", T0 + 4000, m.b, sizeof m.b, &m.len), 0);
    char longname[SL_SVC_WRITER_MAX + 1];
    memset(longname, 'z', SL_SVC_WRITER_MAX);
    longname[SL_SVC_WRITER_MAX] = 0;
    assert_int_equal(sl_catalog_scale(c, "web", 1000, longname, T0 + 5000, m.b, sizeof m.b, &m.len),
                     0);
    assert_int_equal(sl_catalog_rollback(c, "web", longname, T0 + 6000, m.b, sizeof m.b, &m.len),
                     0);
    assert_string_equal(web(c)->argv[1], "--v1");
    assert_int_equal(web(c)->prev.argc, 3);
    assert_string_equal(web(c)->prev.argv[1], big2);
    sl_catalog_free(c);
}

/* Signs rec the way `deploy --auto-revert --operator-secret` does: first
 * the revert of rec (its signature into revert_sig), then rec itself. */
static int sign_with_revert(sl_service *rec, const uint8_t sk[SL_OPERATOR_SEC_BYTES], msg *m)
{
    sl_service rv;
    assert_int_equal(sl_service_revert_of(rec, &rv), 0);
    assert_int_equal(sl_service_sign(&rv, "prod", sk), 0);
    rec->has_revert_sig = true;
    memcpy(rec->revert_sig, rv.sig, sizeof rec->revert_sig);
    sl_service_clear(&rv);
    assert_int_equal(sl_service_sign(rec, "prod", sk), 0);
    int n = sl_service_encode(rec, m->b, sizeof m->b);
    assert_true(n > 0);
    m->len = (size_t)n;
    return n;
}

/* What a peer writes when the rollout of cur's spec misses its deadline. */
static int revert_record(const sl_service *cur, msg *m, bool with_sig)
{
    sl_service rv;
    int rc = sl_service_revert_of(cur, &rv);
    if (rc != 0)
        return rc;
    if (with_sig) {
        rv.is_signed = true;
        memcpy(rv.signer, cur->signer, sizeof rv.signer);
        memcpy(rv.sig, cur->revert_sig, sizeof rv.sig);
    }
    int n = sl_service_encode(&rv, m->b, sizeof m->b);
    sl_service_clear(&rv);
    assert_true(n > 0);
    m->len = (size_t)n;
    return 0;
}

/* The signed revert: a catalog that runs only signed records takes the
 * revert a peer builds from the deploy (or from a scale over it: the same
 * bytes) with the signature the deploy carries; the spec goes back, the
 * count stays the scale's, auto-revert is off, the writer says so; the
 * same revert twice changes nothing; a revert signature that does not
 * match is refused; the option round-trips and its length is checked. */
static void a_signed_revert_applies_where_only_signed_records_run(void **state)
{
    (void)state;
    uint8_t pk[SL_OPERATOR_PUB_BYTES], sk[SL_OPERATOR_SEC_BYTES];
    crypto_sign_keypair(pk, sk);
    sl_catalog_policy pol = {
        .trusted = (const uint8_t(*)[SL_OPERATOR_PUB_BYTES])pk, .ntrusted = 1, .cluster = "prod"};
    sl_catalog *c = sl_catalog_new();
    assert_int_equal(sl_catalog_set_policy(c, &pol), 0);
    sl_service dep = full_record(); /* v2 over v1, auto-revert */
    dep.stamp = (T0 + 1000) * SL_CATALOG_TICKS_PER_MS;
    msg m;
    sign_with_revert(&dep, sk, &m);
    assert_int_equal(sl_catalog_apply(c, m.b, m.len, T0 + 1000), 1);
    sl_service back;
    assert_int_equal(sl_service_decode(m.b, m.len, &back), 0); /* the option round-trips */
    assert_true(back.has_revert_sig);
    assert_memory_equal(back.revert_sig, dep.revert_sig, SL_OPERATOR_SIG_BYTES);
    sl_service_clear(&back);
    /* A signed scale over it, as the CLI writes one (it keeps the options). */
    sl_service sc = dep;
    sc.is_signed = false;
    sc.replicas = 9;
    sl_service_stamp_write(&sc, &dep, dep.stamp + 5000, false);
    assert_int_equal(sl_service_sign(&sc, "prod", sk), 0);
    msg ms;
    ms.len = (size_t)sl_service_encode(&sc, ms.b, sizeof ms.b);
    assert_int_equal(sl_catalog_apply(c, ms.b, ms.len, T0 + 2000), 1);
    /* The revert from the record holding the spec equals the one from the deploy. */
    const sl_service *holder = sl_catalog_find_spec_record(c, "web");
    assert_non_null(holder);
    msg r1, r2;
    assert_int_equal(revert_record(&dep, &r1, true), 0);
    assert_int_equal(revert_record(holder, &r2, true), 0);
    assert_int_equal(r1.len, r2.len);
    assert_memory_equal(r1.b, r2.b, r1.len);
    /* Unsigned, it is refused here; signed with the deploy's revert signature, taken. */
    msg ru;
    assert_int_equal(revert_record(holder, &ru, false), 0);
    assert_int_equal(sl_catalog_apply(c, ru.b, ru.len, T0 + 3000), SL_EAUTH);
    assert_int_equal(sl_catalog_apply(c, r2.b, r2.len, T0 + 3000), 1);
    const sl_service *now = web(c);
    assert_string_equal(now->argv[1], "--v1"); /* the spec went back */
    assert_string_equal(now->prev.argv[1], "--v2");
    assert_int_equal(now->replicas, 9); /* the scale's count stayed */
    assert_false(now->rollout.auto_revert);
    assert_false(now->has_revert_sig);
    assert_int_equal(now->rollout.max_unavailable, 2);
    assert_int_equal(sl_catalog_apply(c, r1.b, r1.len, T0 + 3000), 0); /* the same: nothing */
    const sl_service *spec_rec = sl_catalog_find_spec_record(c, "web");
    assert_string_equal(spec_rec->writer, SL_REVERT_WRITER);
    /* A revert signature that is not the revert's: refused. */
    sl_catalog *c2 = sl_catalog_new();
    assert_int_equal(sl_catalog_set_policy(c2, &pol), 0);
    sl_service bad = full_record();
    bad.stamp = (T0 + 1000) * SL_CATALOG_TICKS_PER_MS;
    sign_with_revert(&bad, sk, &m);
    bad.revert_sig[0] ^= 1;
    assert_int_equal(sl_service_sign(&bad, "prod", sk), 0); /* the deploy itself verifies */
    m.len = (size_t)sl_service_encode(&bad, m.b, sizeof m.b);
    assert_int_equal(sl_catalog_apply(c2, m.b, m.len, T0 + 1000), 1);
    assert_int_equal(revert_record(sl_catalog_find_spec_record(c2, "web"), &r1, true), 0);
    assert_int_equal(sl_catalog_apply(c2, r1.b, r1.len, T0 + 3000), SL_EAUTH);
    assert_string_equal(web(c2)->argv[1], "--v2");
    /* A manual rollback does not carry the deploy's revert signature. */
    sl_service rb;
    assert_int_equal(sl_service_rollback_of(&dep, &rb), 0);
    assert_false(rb.has_revert_sig);
    sl_service_clear(&rb);
    /* The option's length is checked on decode. */
    sl_service x = full_record();
    x.has_revert_sig = true;
    int n = sl_service_encode(&x, m.b, sizeof m.b);
    assert_true(n > 66);
    uint8_t *hdr = memmem(m.b, (size_t)n, "\x0f\xc4\x40", 3); /* key 15, bin 8 of 64 */
    assert_non_null(hdr);
    hdr[2] = 63;
    assert_int_equal(sl_service_decode(m.b, (size_t)n, &back), SL_EMALFORMED);
    sl_catalog_free(c);
    sl_catalog_free(c2);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_decode_round_trip),
        cmocka_unit_test(a_signed_record_with_the_options_verifies),
        cmocka_unit_test(defaults_are_not_written),
        cmocka_unit_test(every_field_is_bounded_on_decode),
        cmocka_unit_test(same_spec_is_command_env_check_and_user),
        cmocka_unit_test(deploy_scale_and_rm_carry_prev),
        cmocka_unit_test(prev_follows_the_spec_group),
        cmocka_unit_test(rollback_swaps_and_twice_is_back),
        cmocka_unit_test(rollback_of_builds_a_record),
        cmocka_unit_test(a_prev_that_does_not_fit_is_dropped),
        cmocka_unit_test(a_signed_revert_applies_where_only_signed_records_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
