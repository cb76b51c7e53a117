/* The replicated desired state (service catalog) and actual state (node
 * reports): last-writer-wins that every peer agrees on whatever the order,
 * tombstones that hold, strict bounded decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "starling/catalog.h"
#include "starling/error.h"
#include "starling/reports.h"
#include "starling/rng.h"

static char *web_argv[] = {"/bin/web", "--port", "$PORT"};
static char *web_env[] = {"MODE=prod"};

static sl_service web_spec(uint32_t replicas)
{
    sl_service s = {.replicas = replicas, .argc = 3, .argv = web_argv, .envc = 1, .env = web_env};
    strcpy(s.name, "web");
    return s;
}

typedef struct msg {
    uint8_t b[SL_SVC_RECORD_MAX];
    size_t len;
} msg;

static void put_and_find(void **state)
{
    (void)state;
    sl_catalog *c = sl_catalog_new();
    msg m;
    sl_service spec = web_spec(3);
    assert_int_equal(sl_catalog_put(c, &spec, "n1", 10, 0, m.b, sizeof m.b, &m.len), 0);
    const sl_service *got = sl_catalog_find(c, "web");
    assert_non_null(got);
    assert_int_equal(got->replicas, 3);
    assert_int_equal(got->argc, 3);
    assert_string_equal(got->argv[2], "$PORT");
    assert_string_equal(got->env[0], "MODE=prod");
    assert_string_equal(got->writer, "n1");
    assert_int_equal(got->lamport, 1);
    assert_int_equal(sl_appmsg_kind(m.b, m.len), SL_APPMSG_SERVICE);
    /* A second peer applies the record and holds the same thing. */
    sl_catalog *d = sl_catalog_new();
    assert_int_equal(sl_catalog_apply(d, m.b, m.len, 20), 1);
    assert_int_equal(sl_catalog_apply(d, m.b, m.len, 21), 0); /* already known */
    assert_int_equal(sl_catalog_find(d, "web")->replicas, 3);
    assert_int_equal(sl_catalog_scale(d, "web", 5, "n2", 30, 0, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_find(d, "web")->lamport, 2);
    assert_int_equal(sl_catalog_apply(c, m.b, m.len, 40), 1);
    assert_int_equal(sl_catalog_find(c, "web")->replicas, 5);
    assert_int_equal(sl_catalog_scale(c, "nope", 5, "n2", 30, 0, m.b, sizeof m.b, &m.len),
                     SL_ENOTFOUND);
    sl_catalog_free(c);
    sl_catalog_free(d);
}

/* Two peers write the same service at the same time: after exchanging
 * their records, in either order, both hold the same winner. */
static void concurrent_writes_converge_to_one_winner(void **state)
{
    (void)state;
    sl_catalog *a = sl_catalog_new(), *b = sl_catalog_new();
    msg ma, mb;
    sl_service s3 = web_spec(3), s7 = web_spec(7);
    assert_int_equal(sl_catalog_put(a, &s3, "alpha", 1, 0, ma.b, sizeof ma.b, &ma.len), 0);
    assert_int_equal(sl_catalog_put(b, &s7, "bravo", 1, 0, mb.b, sizeof mb.b, &mb.len), 0);
    assert_int_equal(sl_catalog_apply(a, mb.b, mb.len, 2), 1);
    assert_int_equal(sl_catalog_apply(b, ma.b, ma.len, 2), 0);
    assert_int_equal(sl_catalog_find(a, "web")->replicas, 7);
    assert_int_equal(sl_catalog_find(b, "web")->replicas, 7);
    assert_string_equal(sl_catalog_find(a, "web")->writer, "bravo");
    /* A write made after seeing both wins over both. */
    assert_int_equal(sl_catalog_scale(a, "web", 2, "alpha", 3, 0, ma.b, sizeof ma.b, &ma.len), 0);
    assert_int_equal(sl_catalog_apply(b, ma.b, ma.len, 4), 1);
    assert_int_equal(sl_catalog_find(b, "web")->replicas, 2);
    sl_catalog_free(a);
    sl_catalog_free(b);
}

/* `scale` on one peer, then `rm` on another before the scale's news got
 * there: the two writes have not seen each other, and the later one by the
 * writers' wall clocks wins on both peers, whatever the writers' names. A
 * write made after seeing a record stamped ahead of the writer's own clock
 * still wins over it. */
static void the_later_of_two_unseen_writes_wins(void **state)
{
    (void)state;
    sl_catalog *a = sl_catalog_new(), *b = sl_catalog_new();
    msg m, scale, rm;
    sl_service s = web_spec(3);
    assert_int_equal(sl_catalog_put(a, &s, "zulu", 1, 1000, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_apply(b, m.b, m.len, 1), 1);
    assert_int_equal(
        sl_catalog_scale(a, "web", 1, "zulu", 2, 5000, scale.b, sizeof scale.b, &scale.len), 0);
    assert_int_equal(sl_catalog_delete(b, "web", "alpha", 2, 5500, rm.b, sizeof rm.b, &rm.len), 0);
    assert_int_equal(sl_catalog_apply(a, rm.b, rm.len, 3), 1);
    assert_int_equal(sl_catalog_apply(b, scale.b, scale.len, 3), 0);
    assert_null(sl_catalog_find(a, "web"));
    assert_null(sl_catalog_find(b, "web"));

    /* b's clock runs 10 s ahead: its deploy is stamped in the future. a,
     * having seen it, writes after it although a's own clock is behind. */
    assert_int_equal(sl_catalog_put(b, &s, "alpha", 4, 16000, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_apply(a, m.b, m.len, 4), 1);
    assert_int_equal(
        sl_catalog_scale(a, "web", 2, "zulu", 5, 6000, scale.b, sizeof scale.b, &scale.len), 0);
    assert_int_equal(sl_catalog_apply(b, scale.b, scale.len, 5), 1);
    assert_int_equal(sl_catalog_find(b, "web")->replicas, 2);
    assert_true(sl_catalog_find(b, "web")->lamport > 16000ull * SL_CATALOG_TICKS_PER_MS);
    sl_catalog_free(a);
    sl_catalog_free(b);
}

/* Applying the same set of records in random orders gives identical
 * catalogs, byte for byte. */
static void any_order_gives_the_same_catalog(void **state)
{
    (void)state;
    enum { N = 40 };
    msg recs[N];
    sl_catalog *src[4];
    for (int w = 0; w < 4; w++)
        src[w] = sl_catalog_new();
    sl_rng rng;
    sl_rng_seed(&rng, 5);
    for (int i = 0; i < N; i++) {
        sl_catalog *c = src[i % 4];
        char writer[8];
        snprintf(writer, sizeof writer, "w%d", i % 4);
        sl_service s = web_spec((uint32_t)sl_rng_below(&rng, 10));
        snprintf(s.name, sizeof s.name, "svc%d", (int)sl_rng_below(&rng, 6));
        if (i % 7 == 6 && sl_catalog_find(c, s.name))
            assert_int_equal(sl_catalog_delete(c, s.name, writer, (uint64_t)i, 0, recs[i].b,
                                               sizeof recs[i].b, &recs[i].len),
                             0);
        else
            assert_int_equal(sl_catalog_put(c, &s, writer, (uint64_t)i, 0, recs[i].b, sizeof recs[i].b,
                                            &recs[i].len),
                             0);
    }
    uint8_t *first = NULL;
    size_t first_len = 0;
    for (int round = 0; round < 20; round++) {
        int order[N];
        for (int i = 0; i < N; i++)
            order[i] = i;
        for (int i = N; i > 1; i--) {
            int j = (int)sl_rng_below(&rng, (uint64_t)i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        sl_catalog *c = sl_catalog_new();
        for (int i = 0; i < N; i++)
            assert_true(sl_catalog_apply(c, recs[order[i]].b, recs[order[i]].len, 0) >= 0);
        uint8_t *enc;
        size_t len;
        assert_int_equal(sl_catalog_encode(c, &enc, &len), 0);
        if (!first) {
            first = enc;
            first_len = len;
        } else {
            assert_int_equal(len, first_len);
            assert_memory_equal(enc, first, len);
            free(enc);
        }
        sl_catalog_free(c);
    }
    free(first);
    for (int w = 0; w < 4; w++)
        sl_catalog_free(src[w]);
}

static void tombstones_hold_then_are_collected(void **state)
{
    (void)state;
    sl_catalog *a = sl_catalog_new(), *b = sl_catalog_new();
    msg put, del;
    sl_service s = web_spec(3);
    assert_int_equal(sl_catalog_put(a, &s, "n1", 0, 0, put.b, sizeof put.b, &put.len), 0);
    assert_int_equal(sl_catalog_delete(a, "web", "n1", 100, 0, del.b, sizeof del.b, &del.len), 0);
    assert_null(sl_catalog_find(a, "web"));
    assert_int_equal(sl_catalog_size(a), 1); /* the tombstone */
    assert_int_equal(sl_catalog_delete(a, "web", "n1", 100, 0, del.b, sizeof del.b, &del.len),
                     SL_ENOTFOUND);
    /* b hears the delete first, then the stale put: it stays deleted. */
    assert_int_equal(sl_catalog_apply(b, del.b, del.len, 200), 1);
    assert_int_equal(sl_catalog_apply(b, put.b, put.len, 201), 0);
    assert_null(sl_catalog_find(b, "web"));
    assert_int_equal(sl_catalog_gc(b, 1000, 5000), 0);
    assert_int_equal(sl_catalog_gc(b, 6000, 5000), 1);
    assert_int_equal(sl_catalog_size(b), 0);
    /* A new deploy after the delete is a newer write and lives. */
    assert_int_equal(sl_catalog_put(a, &s, "n2", 300, 0, put.b, sizeof put.b, &put.len), 0);
    assert_non_null(sl_catalog_find(a, "web"));
    sl_catalog_free(a);
    sl_catalog_free(b);
}

static void bad_specs_get_clear_errors(void **state)
{
    (void)state;
    sl_catalog *c = sl_catalog_new();
    msg m;
    sl_service s = web_spec(3);
    strcpy(s.name, "bad name");
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, 0, m.b, sizeof m.b, &m.len), SL_EINVAL);
    s = web_spec(SL_SVC_REPLICAS_MAX + 1);
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, 0, m.b, sizeof m.b, &m.len), SL_EINVAL);
    s = web_spec(1);
    s.argc = 0;
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, 0, m.b, sizeof m.b, &m.len), SL_EINVAL);
    char *bad_env[] = {"NOEQUALS"};
    s = web_spec(1);
    s.env = bad_env;
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, 0, m.b, sizeof m.b, &m.len), SL_EINVAL);
    /* Many long arguments: valid one by one, too large as one record. */
    char arg[SL_SVC_STR_MAX + 1];
    memset(arg, 'a', SL_SVC_STR_MAX);
    arg[SL_SVC_STR_MAX] = 0;
    char *many[8] = {arg, arg, arg, arg, arg, arg, arg, arg};
    s = web_spec(1);
    s.argv = many;
    s.argc = 8;
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, 0, m.b, sizeof m.b, &m.len), SL_ETOOBIG);
    assert_int_equal(sl_catalog_size(c), 0);
    sl_catalog_free(c);
}

static void reports_newest_version_wins(void **state)
{
    (void)state;
    sl_reports *a = sl_reports_new(), *b = sl_reports_new();
    uint8_t m1[512], m2[512];
    size_t l1, l2;
    sl_report r = {.version = (1ull << 32) | 1, .n = 2};
    strcpy(r.node, "n1");
    strcpy(r.service, "web");
    r.replicas[0] = (sl_replica_report){0, SL_REPLICA_RUNNING, 20001, 0};
    r.replicas[1] = (sl_replica_report){2, SL_REPLICA_STARTING, 20002, 1};
    assert_int_equal(sl_reports_put(a, &r, m1, sizeof m1, &l1), 0);
    r.version++;
    r.replicas[1].status = SL_REPLICA_RUNNING;
    assert_int_equal(sl_reports_put(a, &r, m2, sizeof m2, &l2), 0);
    assert_int_equal(sl_appmsg_kind(m1, l1), SL_APPMSG_REPORT);
    assert_int_equal(sl_reports_apply(b, m2, l2), 1);
    assert_int_equal(sl_reports_apply(b, m1, l1), 0); /* older */
    const sl_report *got = sl_reports_find(b, "n1", "web");
    assert_non_null(got);
    assert_int_equal(got->n, 2);
    assert_int_equal(got->replicas[1].status, SL_REPLICA_RUNNING);
    assert_int_equal(got->replicas[1].port, 20002);
    /* Push-pull of the whole table. */
    uint8_t *enc;
    size_t len;
    sl_reports *c = sl_reports_new();
    assert_int_equal(sl_reports_encode(b, &enc, &len), 0);
    assert_int_equal(sl_reports_merge(c, enc, len), 1);
    free(enc);
    assert_non_null(sl_reports_find(c, "n1", "web"));
    sl_reports_forget_node(c, "n1");
    assert_int_equal(sl_reports_size(c), 0);
    sl_reports_free(a);
    sl_reports_free(b);
    sl_reports_free(c);
}

/* Random and truncated bytes never crash the decoders, and a malformed
 * whole-state merge changes nothing. */
static void decoders_survive_garbage(void **state)
{
    (void)state;
    sl_catalog *c = sl_catalog_new();
    sl_reports *t = sl_reports_new();
    msg m;
    sl_service s = web_spec(3);
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, 0, m.b, sizeof m.b, &m.len), 0);
    uint8_t *cat;
    size_t cat_len;
    assert_int_equal(sl_catalog_encode(c, &cat, &cat_len), 0);
    uint8_t rep[512];
    size_t rep_len;
    sl_report r = {.version = 1, .n = 1};
    strcpy(r.node, "n1");
    strcpy(r.service, "web");
    assert_int_equal(sl_reports_put(t, &r, rep, sizeof rep, &rep_len), 0);
    sl_catalog *victim = sl_catalog_new();
    sl_reports *rvictim = sl_reports_new();
    sl_rng rng;
    sl_rng_seed(&rng, 9);
    uint8_t buf[2048];
    for (int i = 0; i < 50000; i++) {
        const uint8_t *src = i % 3 == 0 ? cat : i % 3 == 1 ? m.b : rep;
        size_t src_len = i % 3 == 0 ? cat_len : i % 3 == 1 ? m.len : rep_len;
        size_t len = (size_t)sl_rng_below(&rng, src_len + 1);
        memcpy(buf, src, len);
        for (int f = (int)sl_rng_below(&rng, 3); f > 0 && len; f--)
            buf[sl_rng_below(&rng, len)] = (uint8_t)sl_rng_next(&rng);
        sl_catalog_apply(victim, buf, len, 0);
        sl_catalog_merge(victim, buf, len, 0);
        sl_reports_apply(rvictim, buf, len);
        sl_reports_merge(rvictim, buf, len);
        sl_appmsg_kind(buf, len);
    }
    /* A truncated whole catalog is refused whole. */
    sl_catalog *empty = sl_catalog_new();
    assert_int_equal(sl_catalog_merge(empty, cat, cat_len - 1, 0), SL_EMALFORMED);
    assert_int_equal(sl_catalog_size(empty), 0);
    assert_int_equal(sl_catalog_merge(empty, cat, cat_len, 0), 1);
    free(cat);
    sl_catalog_free(empty);
    sl_catalog_free(victim);
    sl_reports_free(rvictim);
    sl_catalog_free(c);
    sl_reports_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_and_find),
        cmocka_unit_test(concurrent_writes_converge_to_one_winner),
        cmocka_unit_test(the_later_of_two_unseen_writes_wins),
        cmocka_unit_test(any_order_gives_the_same_catalog),
        cmocka_unit_test(tombstones_hold_then_are_collected),
        cmocka_unit_test(bad_specs_get_clear_errors),
        cmocka_unit_test(reports_newest_version_wins),
        cmocka_unit_test(decoders_survive_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
