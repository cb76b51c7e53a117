/* Field groups in the catalog: concurrent writes that change different
 * fields (a scale and a deploy, a scale and an rm) both keep their intent,
 * on every peer, whatever the order, through push-pull, disk and
 * signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "starling/catalog.h"
#include "starling/error.h"
#include "starling/rng.h"

#define T0 1700000000000ull /* a wall clock for the tests: 2023-11-14, in ms */

static char *v1_argv[] = {"/bin/web", "--v1"};
static char *v2_argv[] = {"/bin/web", "--v2"};
static char *v3_argv[] = {"/bin/web", "--v3"};

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

/* Two peers that hold v1 x 3. */
static void two_peers(sl_catalog **a, sl_catalog **b)
{
    *a = sl_catalog_new();
    *b = sl_catalog_new();
    msg m;
    sl_service s = spec("web", v1_argv, 3);
    assert_int_equal(sl_catalog_put(*a, &s, "alpha", T0, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_apply(*b, m.b, m.len, T0), 1);
}

static void assert_view(const sl_catalog *c, const char *arg, uint32_t replicas)
{
    const sl_service *s = sl_catalog_find(c, "web");
    assert_non_null(s);
    assert_string_equal(s->argv[1], arg);
    assert_int_equal(s->replicas, replicas);
}

/* Encodes a, merges it into a fresh catalog (a push-pull to a new peer, or
 * a save and load), and returns that. */
static sl_catalog *copy_of(const sl_catalog *a)
{
    uint8_t *enc;
    size_t len;
    assert_int_equal(sl_catalog_encode(a, &enc, &len), 0);
    sl_catalog *c = sl_catalog_new();
    assert_true(sl_catalog_merge(c, enc, len, T0 + 10000, SL_CATALOG_CURRENT) >= 1);
    free(enc);
    return c;
}

/* The catalogs hold the same thing, byte for byte. */
static void assert_same(const sl_catalog *a, const sl_catalog *b)
{
    uint8_t *ea, *eb;
    size_t la, lb;
    assert_int_equal(sl_catalog_encode(a, &ea, &la), 0);
    assert_int_equal(sl_catalog_encode(b, &eb, &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(ea, eb, la);
    free(ea);
    free(eb);
}

/* `deploy` of v2 on one peer and `scale 5` on another, neither having seen
 * the other: both survive, whichever is later by the clocks, in either
 * order of arrival, and a third peer that learns everything by push-pull,
 * or a peer that saved and reloaded its catalog, holds the same. */
static void a_scale_racing_a_deploy_keeps_both(void **state)
{
    (void)state;
    for (int later = 0; later < 2; later++) {
        sl_catalog *a, *b;
        two_peers(&a, &b);
        msg dep, sc;
        sl_service s2 = spec("web", v2_argv, 3);
        uint64_t t_dep = later ? T0 + 2000 : T0 + 1000, t_sc = later ? T0 + 1000 : T0 + 2000;
        assert_int_equal(sl_catalog_put(a, &s2, "alpha", t_dep, dep.b, sizeof dep.b, &dep.len), 0);
        assert_int_equal(sl_catalog_scale(b, "web", 5, "bravo", t_sc, sc.b, sizeof sc.b, &sc.len),
                         0);
        assert_int_equal(sl_catalog_apply(a, sc.b, sc.len, T0 + 3000), 1);
        assert_int_equal(sl_catalog_apply(b, dep.b, dep.len, T0 + 3000), 1);
        assert_view(a, "--v2", 5);
        assert_view(b, "--v2", 5);
        assert_same(a, b);
        /* Applying either again changes nothing. */
        assert_int_equal(sl_catalog_apply(a, sc.b, sc.len, T0 + 3000), 0);
        assert_int_equal(sl_catalog_apply(a, dep.b, dep.len, T0 + 3000), 0);
        sl_catalog *c = copy_of(a);
        assert_view(c, "--v2", 5);
        assert_same(a, c);
        /* A later deploy that changes the count too wins the count. */
        sl_service s3 = spec("web", v3_argv, 2);
        assert_int_equal(
            sl_catalog_put(c, &s3, "charlie", T0 + 4000, dep.b, sizeof dep.b, &dep.len), 0);
        assert_int_equal(sl_catalog_apply(a, dep.b, dep.len, T0 + 5000), 1);
        assert_view(a, "--v3", 2);
        sl_catalog_free(a);
        sl_catalog_free(b);
        sl_catalog_free(c);
    }
}

/* A deploy that leaves the count as it was does not claim it: a scale made
 * before it by the clocks, not yet seen by the deployer, still wins the
 * count. Two scales race: the later one wins. */
static void a_deploy_claims_only_what_it_changes(void **state)
{
    (void)state;
    sl_catalog *a, *b;
    two_peers(&a, &b);
    msg sc1, sc2, dep;
    assert_int_equal(
        sl_catalog_scale(b, "web", 7, "bravo", T0 + 100, sc1.b, sizeof sc1.b, &sc1.len), 0);
    sl_service s2 = spec("web", v2_argv, 3);
    assert_int_equal(sl_catalog_put(a, &s2, "alpha", T0 + 900, dep.b, sizeof dep.b, &dep.len), 0);
    assert_int_equal(
        sl_catalog_scale(a, "web", 4, "alpha", T0 + 950, sc2.b, sizeof sc2.b, &sc2.len), 0);
    /* b: its scale 7 (T0+100), then a's deploy and a's scale 4 (T0+950). */
    assert_int_equal(sl_catalog_apply(b, dep.b, dep.len, T0 + 1000), 1);
    assert_view(b, "--v2", 7);
    assert_int_equal(sl_catalog_apply(b, sc2.b, sc2.len, T0 + 1000), 1);
    assert_view(b, "--v2", 4);
    /* a: the old scale 7 comes last and loses the count to scale 4. */
    assert_int_equal(sl_catalog_apply(a, sc1.b, sc1.len, T0 + 1000), 0);
    assert_view(a, "--v2", 4);
    assert_same(a, b);
    sl_catalog_free(a);
    sl_catalog_free(b);
}

/* rm on one peer, scale on another: the service stays deleted whichever
 * write is later (deleted belongs to the spec, which the scale does not
 * change), on both peers; a deploy after the rm brings it back. */
static void a_scale_racing_an_rm_stays_deleted(void **state)
{
    (void)state;
    for (int later = 0; later < 2; later++) {
        sl_catalog *a, *b;
        two_peers(&a, &b);
        msg rm, sc, dep;
        uint64_t t_rm = later ? T0 + 2000 : T0 + 1000, t_sc = later ? T0 + 1000 : T0 + 2000;
        assert_int_equal(sl_catalog_delete(a, "web", "alpha", t_rm, rm.b, sizeof rm.b, &rm.len), 0);
        assert_int_equal(sl_catalog_scale(b, "web", 5, "bravo", t_sc, sc.b, sizeof sc.b, &sc.len),
                         0);
        assert_true(sl_catalog_apply(a, sc.b, sc.len, T0 + 3000) >= 0);
        assert_int_equal(sl_catalog_apply(b, rm.b, rm.len, T0 + 3000), 1);
        assert_null(sl_catalog_find(a, "web"));
        assert_null(sl_catalog_find(b, "web"));
        assert_same(a, b);
        sl_catalog *c = copy_of(b);
        assert_null(sl_catalog_find(c, "web"));
        sl_service s2 = spec("web", v2_argv, 2);
        assert_int_equal(
            sl_catalog_put(c, &s2, "charlie", T0 + 4000, dep.b, sizeof dep.b, &dep.len), 0);
        assert_int_equal(sl_catalog_apply(a, dep.b, dep.len, T0 + 5000), 1);
        assert_view(a, "--v2", 2);
        sl_catalog_free(a);
        sl_catalog_free(b);
        sl_catalog_free(c);
    }
}

/* Four writers deploy, scale and rm three services, each from its own,
 * partly stale view; every permutation of the records, applied one by one
 * or merged in two halves in either order, gives the same catalog byte for
 * byte, and applying everything again changes nothing. */
static void any_order_of_mixed_writes_gives_the_same_catalog(void **state)
{
    (void)state;
    enum { N = 60, W = 4 };
    static msg recs[N];
    sl_catalog *src[W];
    for (int w = 0; w < W; w++)
        src[w] = sl_catalog_new();
    sl_rng rng;
    sl_rng_seed(&rng, 11);
    char **argvs[] = {v1_argv, v2_argv, v3_argv};
    for (int i = 0; i < N; i++) {
        int w = (int)sl_rng_below(&rng, W);
        sl_catalog *c = src[w];
        char writer[8], name[8];
        snprintf(writer, sizeof writer, "w%d", w);
        snprintf(name, sizeof name, "svc%d", (int)sl_rng_below(&rng, 3));
        uint64_t wall = T0 + (uint64_t)i * 10 + sl_rng_below(&rng, 40);
        int op = (int)sl_rng_below(&rng, 10);
        int rc;
        if (op < 5 && sl_catalog_find(c, name))
            rc = sl_catalog_scale(c, name, 1 + (uint32_t)sl_rng_below(&rng, 9), writer, wall,
                                  recs[i].b, sizeof recs[i].b, &recs[i].len);
        else if (op == 5 && sl_catalog_find(c, name))
            rc =
                sl_catalog_delete(c, name, writer, wall, recs[i].b, sizeof recs[i].b, &recs[i].len);
        else {
            sl_service s =
                spec(name, argvs[sl_rng_below(&rng, 3)], 1 + (uint32_t)sl_rng_below(&rng, 3));
            rc = sl_catalog_put(c, &s, writer, wall, recs[i].b, sizeof recs[i].b, &recs[i].len);
        }
        assert_int_equal(rc, 0);
        /* Writers see each other's news now and then, not always. */
        int to = (int)sl_rng_below(&rng, W);
        if (to != w && sl_rng_below(&rng, 2))
            assert_true(sl_catalog_apply(src[to], recs[i].b, recs[i].len, T0 + 10000) >= 0);
    }
    sl_catalog *first = NULL;
    for (int round = 0; round < 30; round++) {
        int order[N];
        for (int i = 0; i < N; i++)
            order[i] = i;
        for (int i = N; i > 1; i--) {
            int j = (int)sl_rng_below(&rng, (uint64_t)i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        sl_catalog *c = sl_catalog_new();
        if (round % 3 == 2) { /* two halves, then a push-pull of one into the other */
            sl_catalog *h = sl_catalog_new();
            for (int i = 0; i < N; i++)
                assert_true(sl_catalog_apply(i < N / 2 ? c : h, recs[order[i]].b,
                                             recs[order[i]].len, T0 + 10000) >= 0);
            uint8_t *enc;
            size_t len;
            assert_int_equal(sl_catalog_encode(h, &enc, &len), 0);
            assert_true(sl_catalog_merge(c, enc, len, T0 + 10000, SL_CATALOG_CURRENT) >= 0);
            free(enc);
            sl_catalog_free(h);
        } else {
            for (int i = 0; i < N; i++)
                assert_true(sl_catalog_apply(c, recs[order[i]].b, recs[order[i]].len, T0 + 10000) >=
                            0);
        }
        for (int i = 0; i < N; i++)
            assert_int_equal(sl_catalog_apply(c, recs[i].b, recs[i].len, T0 + 10000), 0);
        if (!first) {
            first = c;
            continue;
        }
        assert_same(first, c);
        sl_catalog_free(c);
    }
    /* And every writer, once it has every record, agrees too. */
    for (int w = 0; w < W; w++) {
        for (int i = 0; i < N; i++)
            assert_true(sl_catalog_apply(src[w], recs[i].b, recs[i].len, T0 + 10000) >= 0);
        assert_same(first, src[w]);
        sl_catalog_free(src[w]);
    }
    /* The test means something: some services ended up merged from two
     * records (their encoding holds more records than services). */
    uint8_t *enc;
    size_t len;
    assert_int_equal(sl_catalog_encode(first, &enc, &len), 0);
    assert_true(enc[0] > 0x90 + sl_catalog_size(first));
    free(enc);
    sl_catalog_free(first);
}

/* Signed: an operator's deploy and another operator's concurrent scale
 * both survive in a catalog that trusts both keys, and a peer that learns
 * them by push-pull verifies each record as it was signed. Moving a signed
 * scale's spec stamp forward (to make its stale spec win) breaks the
 * signature. A deploy or rm record is what older versions wrote: eleven
 * fields (twelve after a scale). */
static void signed_groups_keep_their_signatures(void **state)
{
    (void)state;
    uint8_t pk[2][SL_OPERATOR_PUB_BYTES], sk[2][SL_OPERATOR_SEC_BYTES];
    crypto_sign_keypair(pk[0], sk[0]);
    crypto_sign_keypair(pk[1], sk[1]);
    sl_catalog_policy pol = {
        .trusted = (const uint8_t(*)[SL_OPERATOR_PUB_BYTES])pk, .ntrusted = 2, .cluster = "prod"};
    sl_catalog *a = sl_catalog_new(), *b = sl_catalog_new();
    assert_int_equal(sl_catalog_set_policy(a, &pol), 0);
    assert_int_equal(sl_catalog_set_policy(b, &pol), 0);
    msg m1, m2, m3;
    /* v1 x 3, signed by operator 0. */
    sl_service d1 = spec("web", v1_argv, 3);
    strcpy(d1.writer, "op0");
    sl_service_stamp_write(&d1, NULL, sl_catalog_next_stamp(0, T0), true);
    assert_int_equal(sl_service_sign(&d1, "prod", sk[0]), 0);
    m1.len = (size_t)sl_service_encode(&d1, m1.b, sizeof m1.b);
    assert_int_equal(m1.b[0], 0x90 + 13); /* eleven fields and the signature */
    assert_int_equal(sl_catalog_apply(a, m1.b, m1.len, T0), 1);
    assert_int_equal(sl_catalog_apply(b, m1.b, m1.len, T0), 1);
    /* Operator 0 deploys v2 through a; operator 1 scales to 5 through b. */
    const sl_service *cur = sl_catalog_find(a, "web");
    sl_service d2 = spec("web", v2_argv, 3);
    strcpy(d2.writer, "op0");
    sl_service_stamp_write(&d2, cur, sl_catalog_next_stamp(sl_catalog_clock(a), T0 + 2000), true);
    assert_int_equal(sl_service_sign(&d2, "prod", sk[0]), 0);
    m2.len = (size_t)sl_service_encode(&d2, m2.b, sizeof m2.b);
    cur = sl_catalog_find(b, "web");
    sl_service s5 = *cur;
    s5.replicas = 5;
    s5.is_signed = false;
    strcpy(s5.writer, "op1");
    sl_service_stamp_write(&s5, cur, sl_catalog_next_stamp(sl_catalog_clock(b), T0 + 1000), false);
    assert_int_equal(sl_service_sign(&s5, "prod", sk[1]), 0);
    m3.len = (size_t)sl_service_encode(&s5, m3.b, sizeof m3.b);
    assert_int_equal(m3.b[0], 0x90 + 14); /* and the group stamps */
    /* The forgery: the scale's spec (v1) stamped as new as the scale. */
    sl_service forged = s5; /* borrows b's vectors: encoded before b changes */
    forged.spec_stamp = forged.stamp;
    forged.replicas_stamp = forged.stamp;
    msg bad;
    bad.len = (size_t)sl_service_encode(&forged, bad.b, sizeof bad.b);
    assert_int_equal(sl_catalog_apply(a, m2.b, m2.len, T0 + 3000), 1); /* each its own */
    assert_int_equal(sl_catalog_apply(b, m3.b, m3.len, T0 + 3000), 1);
    assert_int_equal(sl_catalog_apply(a, m3.b, m3.len, T0 + 3000), 1); /* then the other's */
    assert_int_equal(sl_catalog_apply(b, m2.b, m2.len, T0 + 3000), 1);
    assert_view(a, "--v2", 5);
    assert_view(b, "--v2", 5);
    assert_false(sl_catalog_find(a, "web")->is_signed); /* a merge of two signed records */
    sl_catalog *c = sl_catalog_new();
    assert_int_equal(sl_catalog_set_policy(c, &pol), 0);
    uint8_t *enc;
    size_t len;
    assert_int_equal(sl_catalog_encode(a, &enc, &len), 0);
    assert_int_equal(sl_catalog_merge(c, enc, len, T0 + 3000, SL_CATALOG_CURRENT), 2);
    free(enc);
    assert_int_equal(sl_catalog_get_stats(c)->bad_signature, 0);
    assert_view(c, "--v2", 5);
    assert_same(a, c);
    sl_catalog *d = sl_catalog_new();
    assert_int_equal(sl_catalog_set_policy(d, &pol), 0);
    assert_int_equal(sl_catalog_apply(d, m2.b, m2.len, T0 + 3000), 1);
    assert_int_equal(sl_catalog_apply(d, bad.b, bad.len, T0 + 3000), SL_EAUTH);
    assert_view(d, "--v2", 3);
    sl_catalog_free(a);
    sl_catalog_free(b);
    sl_catalog_free(c);
    sl_catalog_free(d);
}

/* Group stamps are checked on decode: never above the record's stamp,
 * never 0. */
static void group_stamps_are_bounded_on_decode(void **state)
{
    (void)state;
    sl_service s = spec("web", v1_argv, 3);
    strcpy(s.writer, "n1");
    s.stamp = 100;
    s.spec_stamp = 50;
    s.replicas_stamp = 100;
    msg m;
    int n = sl_service_encode(&s, m.b, sizeof m.b);
    assert_true(n > 0);
    sl_service out;
    assert_int_equal(sl_service_decode(m.b, (size_t)n, &out), 0);
    assert_int_equal(out.spec_stamp, 50);
    assert_int_equal(out.replicas_stamp, 100);
    sl_service_clear(&out);
    /* The encoding ends with the options map {6: 50} (the count stamp is
     * the record's own: not written): 0x81 0x06 0x32. Make 50 into 101 (above
     * the stamp), 100 (the default, never written) and 0: all refused. */
    assert_int_equal(m.b[n - 3], 0x81);
    assert_int_equal(m.b[n - 2], 6);
    assert_int_equal(m.b[n - 1], 50);
    m.b[n - 1] = 101;
    assert_int_equal(sl_service_decode(m.b, (size_t)n, &out), SL_EMALFORMED);
    m.b[n - 1] = 100;
    assert_int_equal(sl_service_decode(m.b, (size_t)n, &out), SL_EMALFORMED);
    m.b[n - 1] = 0;
    assert_int_equal(sl_service_decode(m.b, (size_t)n, &out), SL_EMALFORMED);
    /* With a health check, the group stamp follows its options (keys 1..5,
     * then 6), and both come back. */
    s.check = (sl_check){.kind = SL_CHECK_HTTP, .interval_ms = 500};
    strcpy(s.check.arg, "/healthz");
    n = sl_service_encode(&s, m.b, sizeof m.b);
    assert_true(n > 0);
    assert_int_equal(sl_service_decode(m.b, (size_t)n, &out), 0);
    assert_int_equal(out.spec_stamp, 50);
    assert_int_equal(out.replicas_stamp, 100);
    assert_int_equal(out.check.kind, SL_CHECK_HTTP);
    assert_string_equal(out.check.arg, "/healthz");
    assert_int_equal(out.check.interval_ms, 500);
    sl_service_clear(&out);
    s.check = (sl_check){0};
    /* And on encode. */
    s.spec_stamp = 101;
    assert_int_equal(sl_service_encode(&s, m.b, sizeof m.b), SL_EINVAL);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_scale_racing_a_deploy_keeps_both),
        cmocka_unit_test(a_deploy_claims_only_what_it_changes),
        cmocka_unit_test(a_scale_racing_an_rm_stays_deleted),
        cmocka_unit_test(any_order_of_mixed_writes_gives_the_same_catalog),
        cmocka_unit_test(signed_groups_keep_their_signatures),
        cmocka_unit_test(group_stamps_are_bounded_on_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
