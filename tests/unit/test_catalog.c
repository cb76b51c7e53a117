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
#include <msgpack.h>
#include <sodium.h>

#include "starling/catalog.h"
#include "starling/reconcile.h"
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

/* A record with a health check: it round-trips, old records keep their
 * bytes, signatures cover the options, an option of a newer version is kept
 * verbatim, and bad options are refused. */
/* The user option (key 8): round trip, signed, bounded, checked on decode. */
static void the_user_option_round_trips_and_is_checked(void **state)
{
    (void)state;
    uint8_t b[SL_SVC_RECORD_MAX], b2[SL_SVC_RECORD_MAX];
    sl_service s = web_spec(1), got;
    strcpy(s.writer, "n1");
    s.stamp = 7;
    strcpy(s.user, "nobody");
    int n = sl_service_encode(&s, b, sizeof b);
    assert_true(n > 0);
    assert_int_equal(b[0], 0x9c); /* twelve: the options map last */
    assert_int_equal(sl_service_decode(b, (size_t)n, &got), 0);
    assert_string_equal(got.user, "nobody");
    assert_int_equal(sl_service_encode(&got, b2, sizeof b2), n);
    assert_memory_equal(b, b2, (size_t)n);
    sl_service_clear(&got);
    /* Absent means the agent's user, and writes no option. */
    s.user[0] = 0;
    n = sl_service_encode(&s, b, sizeof b);
    assert_int_equal(b[0], 0x9b);
    assert_int_equal(sl_service_decode(b, (size_t)n, &got), 0);
    assert_string_equal(got.user, "");
    sl_service_clear(&got);

    /* Signed: changing or removing the user breaks the signature. */
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    strcpy(s.user, "www-data");
    assert_int_equal(sl_service_sign(&s, "c1", sk), 0);
    n = sl_service_encode(&s, b, sizeof b);
    assert_int_equal(sl_service_decode(b, (size_t)n, &got), 0);
    assert_true(sl_service_verify(&got, "c1"));
    strcpy(got.user, "root");
    assert_false(sl_service_verify(&got, "c1"));
    got.user[0] = 0;
    assert_false(sl_service_verify(&got, "c1"));
    sl_service_clear(&got);
    s.is_signed = false;

    /* What a replica runs includes the user: changing it restarts them. */
    uint64_t as_www = sl_service_spec_hash(&s);
    strcpy(s.user, "nobody");
    assert_true(sl_service_spec_hash(&s) != as_www);
    s.user[0] = 0;
    assert_true(sl_service_spec_hash(&s) != as_www);

    /* Names: the POSIX portable set, 1..32 bytes, no leading '-'. */
    const char *good[] = {"nobody", "a", "_x", "svc.web-1", "A0",
                          "abcdefghijklmnopqrstuvwxyz012345"};
    const char *badn[] = {"",     "-x",    "a b",   "a:b", "a/b", "ro\not", "\xc3\xa9",
                          "abcdefghijklmnopqrstuvwxyz0123456"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(sl_service_user_check(good[i]), 0);
    for (size_t i = 0; i < sizeof badn / sizeof *badn; i++) {
        assert_int_equal(sl_service_user_check(badn[i]), SL_EINVAL);
        snprintf(s.user, sizeof s.user, "%s", badn[i]);
        if (badn[i][0] && strlen(badn[i]) <= SL_SVC_USER_MAX) /* "": the default */
            assert_int_equal(sl_service_encode(&s, b, sizeof b), SL_EINVAL);
    }

    /* On decode: a bad name, an empty one, a long one, a non-string. */
    const char *wire[] = {"a b", "", "-x", "abcdefghijklmnopqrstuvwxyz0123456"};
    for (int k = 0; k < 5; k++) {
        strcpy(s.user, "nobody");
        n = sl_service_encode(&s, b, sizeof b);
        assert_true(n > 0);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_sbuffer_write(&sb, (const char *)b, (size_t)n - 7); /* up to the map */
        assert_int_equal((uint8_t)sb.data[sb.size - 2], 0x81); /* one entry */
        assert_int_equal(sb.data[sb.size - 1], 8);              /* key 8 */
        msgpack_packer pk2;
        msgpack_packer_init(&pk2, &sb, msgpack_sbuffer_write);
        if (k < 4)
            msgpack_pack_str_with_body(&pk2, wire[k], strlen(wire[k]));
        else
            msgpack_pack_uint32(&pk2, 65534);
        assert_int_equal(sl_service_decode((uint8_t *)sb.data, sb.size, &got), SL_EMALFORMED);
        msgpack_sbuffer_destroy(&sb);
    }
}

static void options_round_trip_and_are_signed(void **state)
{
    (void)state;
    uint8_t b[SL_SVC_RECORD_MAX], b2[SL_SVC_RECORD_MAX];
    sl_service s = web_spec(2), got;
    strcpy(s.writer, "n1");
    s.stamp = 7;
    int plain = sl_service_encode(&s, b, sizeof b);
    assert_true(plain > 0);
    assert_int_equal(b[0], 0x9b); /* no options: the eleven fields, as before */
    assert_int_equal(sl_check_parse("http:/healthz", &s.check), 0);
    s.check.interval_ms = 250;
    s.check.failures = 2;
    int n = sl_service_encode(&s, b, sizeof b);
    assert_true(n > plain);
    assert_int_equal(b[0], 0x9c); /* twelve: the options map last */
    assert_int_equal(sl_service_decode(b, (size_t)n, &got), 0);
    assert_int_equal(got.check.kind, SL_CHECK_HTTP);
    assert_string_equal(got.check.arg, "/healthz");
    assert_int_equal(got.check.interval_ms, 250);
    assert_int_equal(got.check.timeout_ms, 0);
    assert_int_equal(sl_check_timeout_ms(&got.check), SL_CHECK_TIMEOUT_MS);
    assert_int_equal(got.check.failures, 2);
    assert_int_equal(sl_service_encode(&got, b2, sizeof b2), n);
    assert_memory_equal(b, b2, (size_t)n);
    sl_service_clear(&got);

    /* Signed: the signature covers the options. */
    uint8_t pk[32], sk[64];
    crypto_sign_keypair(pk, sk);
    assert_int_equal(sl_service_sign(&s, "c1", sk), 0);
    assert_true(sl_service_verify(&s, "c1"));
    n = sl_service_encode(&s, b, sizeof b);
    assert_int_equal(b[0], 0x9e); /* 11 + signer + sig + opts */
    assert_int_equal(sl_service_decode(b, (size_t)n, &got), 0);
    assert_true(got.is_signed);
    assert_true(sl_service_verify(&got, "c1"));
    got.check.failures = 9; /* an option changed after signing */
    assert_false(sl_service_verify(&got, "c1"));
    got.check.failures = 2;
    got.check.kind = SL_CHECK_DEFAULT; /* or removed */
    got.check.arg[0] = 0;
    got.check.interval_ms = got.check.failures = 0;
    assert_false(sl_service_verify(&got, "c1"));
    sl_service_clear(&got);

    /* An option of a newer version (key 40, a string) is kept verbatim. */
    s.is_signed = false;
    n = sl_service_encode(&s, b, sizeof b);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_write(&sb, (const char *)b, (size_t)n);
    /* Rewrite: the map header of 4 entries (0x84) becomes 5, then append. */
    char *map = memchr(sb.data, 0x84, sb.size);
    assert_non_null(map);
    *map = (char)0x85;
    msgpack_packer pk2;
    msgpack_packer_init(&pk2, &sb, msgpack_sbuffer_write);
    msgpack_pack_uint32(&pk2, 40);
    msgpack_pack_str_with_body(&pk2, "alice", 5);
    assert_int_equal(sl_service_decode((uint8_t *)sb.data, sb.size, &got), 0);
    assert_int_equal(got.opts_extra_n, 1);
    assert_int_equal(sl_service_encode(&got, b2, sizeof b2), (int)sb.size);
    assert_memory_equal(sb.data, b2, sb.size);
    sl_service_clear(&got);
    /* A nested value, a key out of order, a default written: refused. */
    sb.data[sb.size - 6] = (char)0x90; /* the value's place: an array */
    sb.size -= 5;
    assert_int_equal(sl_service_decode((uint8_t *)sb.data, sb.size, &got), SL_EMALFORMED);
    msgpack_sbuffer_destroy(&sb);

    /* Checks that do not parse or validate. */
    sl_check c = {0};
    assert_int_equal(sl_check_parse("http:healthz", &c), SL_EINVAL);
    assert_int_equal(sl_check_parse("http:/a b", &c), SL_EINVAL);
    assert_int_equal(sl_check_parse("exec:", &c), SL_EINVAL);
    assert_int_equal(sl_check_parse("udp", &c), SL_EINVAL);
    assert_int_equal(sl_check_parse("exec:test -e /tmp/x", &c), 0);
    assert_int_equal(c.kind, SL_CHECK_EXEC);
    char txt[300];
    sl_check_format(&c, txt, sizeof txt);
    assert_string_equal(txt, "exec:test -e /tmp/x");
    c.failures = SL_CHECK_FAILURES_MAX + 1;
    assert_int_equal(sl_check_validate(&c), SL_EINVAL);
    s = web_spec(1);
    strcpy(s.writer, "n1");
    s.check.interval_ms = 5; /* without a kind */
    assert_int_equal(sl_service_encode(&s, b, sizeof b), SL_EINVAL);
}

static void put_and_find(void **state)
{
    (void)state;
    sl_catalog *c = sl_catalog_new();
    msg m;
    sl_service spec = web_spec(3);
    assert_int_equal(sl_catalog_put(c, &spec, "n1", 0, m.b, sizeof m.b, &m.len), 0);
    const sl_service *got = sl_catalog_find(c, "web");
    assert_non_null(got);
    assert_int_equal(got->replicas, 3);
    assert_int_equal(got->argc, 3);
    assert_string_equal(got->argv[2], "$PORT");
    assert_string_equal(got->env[0], "MODE=prod");
    assert_string_equal(got->writer, "n1");
    assert_int_equal(got->stamp, 1);
    assert_int_equal(sl_appmsg_kind(m.b, m.len), SL_APPMSG_SERVICE);
    /* A second peer applies the record and holds the same thing. */
    sl_catalog *d = sl_catalog_new();
    assert_int_equal(sl_catalog_apply(d, m.b, m.len, 20), 1);
    assert_int_equal(sl_catalog_apply(d, m.b, m.len, 21), 0); /* already known */
    assert_int_equal(sl_catalog_find(d, "web")->replicas, 3);
    assert_int_equal(sl_catalog_scale(d, "web", 5, "n2", 0, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_find(d, "web")->stamp, 2);
    assert_int_equal(sl_catalog_apply(c, m.b, m.len, 40), 1);
    assert_int_equal(sl_catalog_find(c, "web")->replicas, 5);
    assert_int_equal(sl_catalog_scale(c, "nope", 5, "n2", 0, m.b, sizeof m.b, &m.len),
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
    assert_int_equal(sl_catalog_put(a, &s3, "alpha", 0, ma.b, sizeof ma.b, &ma.len), 0);
    assert_int_equal(sl_catalog_put(b, &s7, "bravo", 0, mb.b, sizeof mb.b, &mb.len), 0);
    assert_int_equal(sl_catalog_apply(a, mb.b, mb.len, 2), 1);
    assert_int_equal(sl_catalog_apply(b, ma.b, ma.len, 2), 0);
    assert_int_equal(sl_catalog_find(a, "web")->replicas, 7);
    assert_int_equal(sl_catalog_find(b, "web")->replicas, 7);
    assert_string_equal(sl_catalog_find(a, "web")->writer, "bravo");
    /* A write made after seeing both wins over both. */
    assert_int_equal(sl_catalog_scale(a, "web", 2, "alpha", 0, ma.b, sizeof ma.b, &ma.len), 0);
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
    assert_int_equal(sl_catalog_put(a, &s, "zulu", 1000, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_apply(b, m.b, m.len, 1), 1);
    assert_int_equal(
        sl_catalog_scale(a, "web", 1, "zulu", 5000, scale.b, sizeof scale.b, &scale.len), 0);
    assert_int_equal(sl_catalog_delete(b, "web", "alpha", 5500, rm.b, sizeof rm.b, &rm.len), 0);
    assert_int_equal(sl_catalog_apply(a, rm.b, rm.len, 3), 1);
    assert_int_equal(sl_catalog_apply(b, scale.b, scale.len, 3), 0);
    assert_null(sl_catalog_find(a, "web"));
    assert_null(sl_catalog_find(b, "web"));

    /* b's clock runs 10 s ahead: its deploy is stamped in the future. a,
     * having seen it, writes after it although a's own clock is behind. */
    assert_int_equal(sl_catalog_put(b, &s, "alpha", 16000, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_apply(a, m.b, m.len, 4), 1);
    assert_int_equal(
        sl_catalog_scale(a, "web", 2, "zulu", 6000, scale.b, sizeof scale.b, &scale.len), 0);
    assert_int_equal(sl_catalog_apply(b, scale.b, scale.len, 5), 1);
    assert_int_equal(sl_catalog_find(b, "web")->replicas, 2);
    assert_true(sl_catalog_find(b, "web")->stamp > 16000ull * SL_CATALOG_TICKS_PER_MS);
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
            assert_int_equal(
                sl_catalog_delete(c, s.name, writer, 0, recs[i].b, sizeof recs[i].b, &recs[i].len),
                0);
        else
            assert_int_equal(
                sl_catalog_put(c, &s, writer, 0, recs[i].b, sizeof recs[i].b, &recs[i].len), 0);
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

/* A wall clock for the tests: 2023-11-14, in ms. */
#define T0 1700000000000ull

/* A policy that trusts no key may leave `trusted` NULL (as most callers
 * do): it is not read. UBSan caught memcpy(dst, NULL, 0) here. */
static void a_policy_without_keys_may_leave_trusted_null(void **state)
{
    (void)state;
    sl_catalog *c = sl_catalog_new();
    sl_catalog_policy pol = {.trusted = NULL, .ntrusted = 0, .cluster = "prod"};
    assert_int_equal(sl_catalog_set_policy(c, &pol), 0);
    assert_false(sl_catalog_requires_signatures(c));
    msg put;
    sl_service s = web_spec(1);
    assert_int_equal(sl_catalog_put(c, &s, "n1", T0, put.b, sizeof put.b, &put.len), 0);
    sl_catalog_free(c);
}

static void tombstones_hold_then_are_collected(void **state)
{
    (void)state;
    sl_catalog *a = sl_catalog_new(), *b = sl_catalog_new();
    sl_catalog_policy pol = {.horizon_ms = 60000};
    assert_int_equal(sl_catalog_set_policy(a, &pol), 0);
    assert_int_equal(sl_catalog_set_policy(b, &pol), 0);
    msg put, del;
    sl_service s = web_spec(3);
    assert_int_equal(sl_catalog_put(a, &s, "n1", T0, put.b, sizeof put.b, &put.len), 0);
    assert_int_equal(sl_catalog_delete(a, "web", "n1", T0 + 100, del.b, sizeof del.b, &del.len), 0);
    assert_null(sl_catalog_find(a, "web"));
    assert_int_equal(sl_catalog_size(a), 1); /* the tombstone */
    assert_int_equal(sl_catalog_delete(a, "web", "n1", T0 + 100, del.b, sizeof del.b, &del.len),
                     SL_ENOTFOUND);
    /* b hears the delete first, then the stale put: it stays deleted. */
    assert_int_equal(sl_catalog_apply(b, del.b, del.len, T0 + 200), 1);
    assert_int_equal(sl_catalog_apply(b, put.b, put.len, T0 + 201), 0);
    assert_null(sl_catalog_find(b, "web"));
    /* Collected by the age of its stamp, not of its arrival. */
    assert_int_equal(sl_catalog_gc(b, T0 + 30000), 0);
    assert_int_equal(sl_catalog_gc(b, T0 + 100 + 60001), 1);
    assert_int_equal(sl_catalog_size(b), 0);
    /* A new deploy after the delete is a newer write and lives. */
    assert_int_equal(sl_catalog_put(a, &s, "n2", T0 + 300, put.b, sizeof put.b, &put.len), 0);
    assert_non_null(sl_catalog_find(a, "web"));
    sl_catalog_free(a);
    sl_catalog_free(b);
}

/* The bug this replaces: records loaded from disk were stamped with the
 * local monotonic clock's zero, so on a host up for more than the horizon a
 * restarted peer dropped every saved tombstone at its first collection. */
static void loaded_tombstones_age_by_their_stamp(void **state)
{
    (void)state;
    sl_catalog_policy pol = {.horizon_ms = 24 * 3600 * 1000ull};
    sl_catalog *before = sl_catalog_new(), *after = sl_catalog_new();
    sl_catalog_set_policy(before, &pol);
    sl_catalog_set_policy(after, &pol);
    msg m;
    sl_service s = web_spec(1);
    assert_int_equal(sl_catalog_put(before, &s, "n1", T0, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_delete(before, "web", "n1", T0 + 1000, m.b, sizeof m.b, &m.len), 0);
    uint8_t *file;
    size_t len;
    assert_int_equal(sl_catalog_encode(before, &file, &len), 0);
    /* Restarted two hours later, on a host up for weeks. */
    assert_int_equal(sl_catalog_merge(after, file, len, T0 + 2 * 3600000, SL_CATALOG_CURRENT), 1);
    assert_int_equal(sl_catalog_gc(after, T0 + 2 * 3600000 + 60000), 0);
    assert_non_null(sl_catalog_find_any(after, "web"));
    /* The old live record, gossiped by a straggler, stays dead. */
    sl_catalog *straggler = sl_catalog_new();
    assert_int_equal(sl_catalog_put(straggler, &s, "n1", T0, m.b, sizeof m.b, &m.len), 0);
    sl_catalog_free(straggler);
    assert_int_equal(sl_catalog_apply(after, m.b, m.len, T0 + 3 * 3600000), 0);
    assert_null(sl_catalog_find(after, "web"));
    /* A day after the delete, the tombstone goes. */
    assert_int_equal(sl_catalog_gc(after, T0 + 1000 + 24 * 3600000ull + 1), 1);
    free(file);
    sl_catalog_free(before);
    sl_catalog_free(after);
}

/* Encodes a record of web stamped `stamp` by `writer`, signed with sk when
 * given. */
static size_t forged(uint8_t *buf, size_t cap, uint64_t stamp, const char *writer,
                     const uint8_t *sk, const char *cluster, uint32_t replicas)
{
    sl_service r = web_spec(replicas);
    r.stamp = stamp;
    snprintf(r.writer, sizeof r.writer, "%s", writer);
    if (sk)
        assert_int_equal(sl_service_sign(&r, cluster, sk), 0);
    int n = sl_service_encode(&r, buf, cap);
    assert_true(n > 0);
    return (size_t)n;
}

/* A stamp at the top would win forever (its +1 wrapped to 0); one far ahead
 * of the clock would win every later write until the clocks caught up. */
static void stamps_cannot_run_away(void **state)
{
    (void)state;
    sl_catalog *c = sl_catalog_new();
    uint8_t b[SL_SVC_RECORD_MAX];
    msg m;
    size_t n = forged(b, sizeof b, UINT64_MAX, "evil", NULL, NULL, 9);
    assert_int_equal(sl_catalog_apply(c, b, n, 0), SL_EFUTURE); /* even without a clock */
    n = forged(b, sizeof b, (T0 + 10 * 60000) * SL_CATALOG_TICKS_PER_MS, "evil", NULL, NULL, 9);
    assert_int_equal(sl_catalog_apply(c, b, n, T0), SL_EFUTURE); /* 10 min ahead */
    assert_int_equal(sl_catalog_get_stats(c)->future, 2);
    assert_null(sl_catalog_find(c, "web"));
    n = forged(b, sizeof b, (T0 + 60000) * SL_CATALOG_TICKS_PER_MS, "fast", NULL, NULL, 2);
    assert_int_equal(sl_catalog_apply(c, b, n, T0), 1); /* 1 min ahead: a skewed clock */
    /* A later local write still wins: the clock follows the stamps seen. */
    sl_service s = web_spec(4);
    assert_int_equal(sl_catalog_put(c, &s, "n1", T0 + 1000, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_find(c, "web")->replicas, 4);
    /* Saturation: the stamps stop growing below the refused ones, and a write
     * that cannot win says so instead of claiming success. */
    sl_catalog *d = sl_catalog_new();
    n = forged(b, sizeof b, UINT64_MAX >> 1, "zzz", NULL, NULL, 7);
    assert_int_equal(sl_catalog_apply(d, b, n, 0), 1);
    assert_int_equal(sl_catalog_put(d, &s, "n1", T0, m.b, sizeof m.b, &m.len), SL_ESTALE);
    assert_int_equal(sl_catalog_find(d, "web")->replicas, 7);
    assert_int_equal(sl_catalog_next_stamp(UINT64_MAX >> 1, T0), UINT64_MAX >> 1);
    assert_int_equal(sl_catalog_next_stamp(UINT64_MAX, UINT64_MAX), UINT64_MAX >> 1);
    sl_catalog_free(c);
    sl_catalog_free(d);
}

static void signed_writes_only(void **state)
{
    (void)state;
    uint8_t pk[SL_OPERATOR_PUB_BYTES], sk[SL_OPERATOR_SEC_BYTES];
    uint8_t pk2[SL_OPERATOR_PUB_BYTES], sk2[SL_OPERATOR_SEC_BYTES];
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(pk2, sk2);
    const uint8_t(*trusted)[SL_OPERATOR_PUB_BYTES] = (const uint8_t(*)[SL_OPERATOR_PUB_BYTES])pk;
    sl_catalog_policy pol = {.trusted = trusted, .ntrusted = 1, .cluster = "prod"};
    sl_catalog *c = sl_catalog_new(), *open = sl_catalog_new();
    assert_int_equal(sl_catalog_set_policy(c, &pol), 0);
    assert_true(sl_catalog_requires_signatures(c));
    msg m;
    sl_service s = web_spec(3);
    /* The agent cannot write on its own authority. */
    assert_int_equal(sl_catalog_put(c, &s, "n1", T0, m.b, sizeof m.b, &m.len), SL_EAUTH);
    uint8_t b[SL_SVC_RECORD_MAX];
    size_t n = forged(b, sizeof b, T0 * SL_CATALOG_TICKS_PER_MS, "n1", NULL, NULL, 3);
    assert_int_equal(sl_catalog_apply(c, b, n, T0), SL_EAUTH); /* unsigned */
    n = forged(b, sizeof b, T0 * SL_CATALOG_TICKS_PER_MS, "n1", sk2, "prod", 3);
    assert_int_equal(sl_catalog_apply(c, b, n, T0), SL_EAUTH); /* an untrusted operator */
    n = forged(b, sizeof b, T0 * SL_CATALOG_TICKS_PER_MS, "n1", sk, "dev", 3);
    assert_int_equal(sl_catalog_apply(c, b, n, T0), SL_EAUTH); /* another cluster's */
    n = forged(b, sizeof b, T0 * SL_CATALOG_TICKS_PER_MS, "n1", sk, "prod", 3);
    /* Tampered: one byte of the command changed after signing. */
    uint8_t t[SL_SVC_RECORD_MAX];
    memcpy(t, b, n);
    uint8_t *at = memmem(t, n, "/bin/web", 8);
    assert_non_null(at);
    at[5] = 'X';
    assert_int_equal(sl_catalog_apply(c, t, n, T0), SL_EAUTH);
    const sl_catalog_stats *st = sl_catalog_get_stats(c);
    assert_int_equal(st->unsigned_, 1);
    assert_int_equal(st->bad_signature, 3);
    assert_int_equal(sl_catalog_size(c), 0); /* nothing refused was stored */
    assert_int_equal(sl_catalog_apply(c, b, n, T0), 1);
    const sl_service *got = sl_catalog_find(c, "web");
    assert_non_null(got);
    assert_true(got->is_signed);
    assert_memory_equal(got->signer, pk, sizeof pk);
    /* What was stored re-encodes to a record that still verifies: a catalog
     * passed on whole keeps every signature. */
    uint8_t *enc;
    size_t len;
    assert_int_equal(sl_catalog_encode(c, &enc, &len), 0);
    sl_catalog *d = sl_catalog_new();
    sl_catalog_set_policy(d, &pol);
    assert_int_equal(sl_catalog_merge(d, enc, len, T0, SL_CATALOG_CURRENT), 1);
    free(enc);
    /* A catalog mixing good and bad records: the bad ones are skipped. */
    sl_catalog_apply(open, b, n, T0); /* a peer that trusts nobody takes all */
    uint8_t u[SL_SVC_RECORD_MAX];
    sl_service other = web_spec(1);
    strcpy(other.name, "other");
    assert_int_equal(sl_catalog_put(open, &other, "n2", T0, u, sizeof u, &len), 0);
    assert_int_equal(sl_catalog_size(open), 2);
    assert_int_equal(sl_catalog_encode(open, &enc, &len), 0);
    sl_catalog *e = sl_catalog_new();
    sl_catalog_set_policy(e, &pol);
    assert_int_equal(sl_catalog_merge(e, enc, len, T0, SL_CATALOG_CURRENT), 1);
    assert_non_null(sl_catalog_find(e, "web"));
    assert_null(sl_catalog_find(e, "other"));
    assert_int_equal(sl_catalog_get_stats(e)->unsigned_, 1);
    free(enc);
    sl_catalog_free(c);
    sl_catalog_free(d);
    sl_catalog_free(e);
    sl_catalog_free(open);
}

/* One 16 KB record, each field within its own bound: it used to be
 * accepted, and then every save and push-pull of the catalog failed. */
static void the_record_limit_holds_on_decode(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char big[SL_SVC_STR_MAX];
    memset(big, 'a', sizeof big);
    msgpack_pack_array(&pk, 11);
    msgpack_pack_uint8(&pk, SL_APPMSG_SERVICE);
    msgpack_pack_str_with_body(&pk, "web", 3);
    msgpack_pack_uint64(&pk, 5);
    msgpack_pack_str_with_body(&pk, "n1", 2);
    msgpack_pack_false(&pk);
    for (int i = 0; i < 4; i++)
        msgpack_pack_uint32(&pk, i == 0 ? 1 : 0);
    msgpack_pack_array(&pk, SL_SVC_ARGS_MAX);
    for (int i = 0; i < SL_SVC_ARGS_MAX; i++)
        msgpack_pack_str_with_body(&pk, big, sizeof big);
    msgpack_pack_array(&pk, SL_SVC_ENV_MAX);
    big[0] = 'K';
    big[1] = '=';
    for (int i = 0; i < SL_SVC_ENV_MAX; i++)
        msgpack_pack_str_with_body(&pk, big, sizeof big);
    assert_true(sb.size > 16000);
    sl_catalog *c = sl_catalog_new();
    assert_int_equal(sl_catalog_apply(c, (uint8_t *)sb.data, sb.size, 0), SL_EMALFORMED);
    sl_service out;
    assert_int_equal(sl_service_decode((uint8_t *)sb.data, sb.size, &out), SL_EMALFORMED);
    /* Inside a whole catalog, it makes the catalog malformed. */
    msgpack_sbuffer whole;
    msgpack_sbuffer_init(&whole);
    msgpack_packer_init(&pk, &whole, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    msgpack_sbuffer_write(&whole, sb.data, sb.size);
    assert_int_equal(sl_catalog_merge(c, (uint8_t *)whole.data, whole.size, 0, SL_CATALOG_CURRENT),
                     SL_EMALFORMED);
    assert_int_equal(sl_catalog_size(c), 0);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&whole);
    sl_catalog_free(c);
}

/* Records older than the horizon: believed from a current peer's whole
 * catalog, not alone and not from a peer back from a long absence; and such
 * a peer learns from a current one what was deleted while it was away. */
static void the_horizon_keeps_the_dead_dead(void **state)
{
    (void)state;
    sl_catalog_policy pol = {.horizon_ms = 60000};
    uint64_t now = T0 + 3600000; /* an hour after T0 */
    uint8_t b[SL_SVC_RECORD_MAX];
    size_t n = forged(b, sizeof b, T0 * SL_CATALOG_TICKS_PER_MS, "n1", NULL, NULL, 3);
    sl_catalog *c = sl_catalog_new();
    sl_catalog_set_policy(c, &pol);
    assert_int_equal(sl_catalog_apply(c, b, n, now), SL_EEXPIRED); /* a lone old message */
    assert_int_equal(sl_catalog_get_stats(c)->expired, 1);
    /* The returning peer: it holds web (deployed at T0) and db; while it
     * was away web was deleted and the tombstone collected. */
    sl_catalog *back = sl_catalog_new(), *cur = sl_catalog_new();
    sl_catalog_set_policy(back, &pol);
    sl_catalog_set_policy(cur, &pol);
    assert_int_equal(sl_catalog_merge(back, b, 0, now, SL_CATALOG_CURRENT), SL_EMALFORMED);
    sl_service web = web_spec(3), db = web_spec(1);
    strcpy(db.name, "db");
    msg m;
    assert_int_equal(sl_catalog_put(back, &web, "n1", T0, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_put(back, &db, "n1", T0, m.b, sizeof m.b, &m.len), 0);
    assert_int_equal(sl_catalog_apply(cur, m.b, m.len, T0), 1); /* cur holds db only */
    sl_catalog_set_sync(back, SL_CATALOG_RETURNING);
    sl_catalog_set_sync(cur, SL_CATALOG_CURRENT);
    uint8_t *enc;
    size_t len;
    /* The current peer does not take the returning one's old web... */
    assert_int_equal(sl_catalog_encode(back, &enc, &len), 0);
    assert_int_equal(sl_catalog_merge(cur, enc, len, now, SL_CATALOG_RETURNING), 0);
    assert_null(sl_catalog_find(cur, "web"));
    free(enc);
    /* ...and the returning one, hearing from the current one, drops it. */
    assert_int_equal(sl_catalog_encode(cur, &enc, &len), 0);
    assert_int_equal(sl_catalog_merge(back, enc, len, now, SL_CATALOG_CURRENT), 0);
    free(enc);
    assert_null(sl_catalog_find_any(back, "web"));
    assert_non_null(sl_catalog_find(back, "db"));
    assert_int_equal(sl_catalog_get_stats(back)->dropped_stale, 1);
    assert_int_equal(sl_catalog_get_sync(back), SL_CATALOG_CURRENT);
    /* A new peer takes old records from a current peer's whole catalog. */
    sl_catalog *fresh = sl_catalog_new();
    sl_catalog_set_policy(fresh, &pol);
    assert_int_equal(sl_catalog_encode(cur, &enc, &len), 0);
    assert_int_equal(sl_catalog_merge(fresh, enc, len, now, SL_CATALOG_CURRENT), 1);
    assert_non_null(sl_catalog_find(fresh, "db"));
    assert_int_equal(sl_catalog_get_sync(fresh), SL_CATALOG_CURRENT);
    free(enc);
    sl_catalog_free(c);
    sl_catalog_free(back);
    sl_catalog_free(cur);
    sl_catalog_free(fresh);
}

static void bad_specs_get_clear_errors(void **state)
{
    (void)state;
    sl_catalog *c = sl_catalog_new();
    msg m;
    sl_service s = web_spec(3);
    strcpy(s.name, "bad name");
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, m.b, sizeof m.b, &m.len), SL_EINVAL);
    s = web_spec(SL_SVC_REPLICAS_MAX + 1);
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, m.b, sizeof m.b, &m.len), SL_EINVAL);
    s = web_spec(1);
    s.argc = 0;
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, m.b, sizeof m.b, &m.len), SL_EINVAL);
    char *bad_env[] = {"NOEQUALS"};
    s = web_spec(1);
    s.env = bad_env;
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, m.b, sizeof m.b, &m.len), SL_EINVAL);
    /* Many long arguments: valid one by one, too large as one record. */
    char arg[SL_SVC_STR_MAX + 1];
    memset(arg, 'a', SL_SVC_STR_MAX);
    arg[SL_SVC_STR_MAX] = 0;
    char *many[8] = {arg, arg, arg, arg, arg, arg, arg, arg};
    s = web_spec(1);
    s.argv = many;
    s.argc = 8;
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, m.b, sizeof m.b, &m.len), SL_ETOOBIG);
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
    r.replicas[0] = (sl_replica_report){0, SL_REPLICA_RUNNING, 20001, 0, false, 0};
    r.replicas[1] = (sl_replica_report){2, SL_REPLICA_STARTING, 20002, 1, false, 0};
    assert_int_equal(sl_reports_put(a, &r, m1, sizeof m1, &l1), 0);
    r.version++;
    r.replicas[1].status = SL_REPLICA_RUNNING;
    assert_int_equal(sl_reports_put(a, &r, m2, sizeof m2, &l2), 0);
    assert_int_equal(sl_appmsg_kind(m1, l1), SL_APPMSG_REPORT);
    assert_int_equal(sl_reports_apply(b, m2, l2, NULL, NULL), 1);
    assert_int_equal(sl_reports_apply(b, m1, l1, NULL, NULL), 0); /* older */
    sl_report got;
    assert_true(sl_reports_find(b, "n1", "web", &got));
    assert_string_equal(got.node, "n1");
    assert_string_equal(got.service, "web");
    assert_int_equal(got.version, r.version);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.replicas[1].status, SL_REPLICA_RUNNING);
    assert_int_equal(got.replicas[1].port, 20002);
    assert_int_equal(sl_reports_replica_status(b, "n1", "web", 2), SL_REPLICA_RUNNING);
    assert_int_equal(sl_reports_replica_status(b, "n1", "web", 1), -1);
    /* Push-pull of the whole table. */
    uint8_t *enc;
    size_t len;
    sl_reports *c = sl_reports_new();
    assert_int_equal(sl_reports_encode(b, &enc, &len), 0);
    assert_int_equal(sl_reports_merge(c, enc, len), 1);
    free(enc);
    assert_true(sl_reports_find(c, "n1", "web", NULL));
    sl_reports_forget_node(c, "n1");
    assert_int_equal(sl_reports_size(c), 0);
    sl_reports_free(a);
    sl_reports_free(b);
    sl_reports_free(c);
}

/* An OOM-killed replica's status (appended to the wire values) travels and
 * is named; a value past the last one is refused (the same check decodes). */
static void an_oom_status_travels(void **state)
{
    (void)state;
    sl_reports *a = sl_reports_new(), *b = sl_reports_new();
    uint8_t m[512];
    size_t len;
    sl_report r = {.version = 1, .n = 1};
    strcpy(r.node, "n1");
    strcpy(r.service, "big");
    r.replicas[0] = (sl_replica_report){0, SL_REPLICA_OOM, 20001, 3, false, 0};
    assert_int_equal(sl_reports_put(a, &r, m, sizeof m, &len), 0);
    assert_int_equal(sl_reports_apply(b, m, len, NULL, NULL), 1);
    assert_int_equal(sl_reports_replica_status(b, "n1", "big", 0), SL_REPLICA_OOM);
    assert_string_equal(sl_replica_status_name(SL_REPLICA_OOM), "oom");
    assert_string_equal(sl_replica_status_name(SL_REPLICA_STATUS_LAST + 1), "unknown");
    r.version++;
    r.replicas[0].status = SL_REPLICA_STATUS_LAST + 1;
    assert_int_equal(sl_reports_put(a, &r, m, sizeof m, &len), SL_EINVAL);
    sl_reports_free(a);
    sl_reports_free(b);
}

static bool only_n1(void *ud, const char *node)
{
    (void)ud;
    return strcmp(node, "n1") == 0;
}

/* Reports about names that never were members are forgotten, and a report's
 * node can be read before anything is stored. */
static void reports_of_strangers_are_forgotten(void **state)
{
    (void)state;
    sl_reports *t = sl_reports_new();
    uint8_t m[512];
    size_t l;
    const char *nodes[] = {"n1", "ghost", "n1", "ghost2"};
    const char *svcs[] = {"web", "web", "api", "api"};
    for (int i = 0; i < 4; i++) {
        sl_report r = {.version = 1, .n = 0};
        strcpy(r.node, nodes[i]);
        strcpy(r.service, svcs[i]);
        assert_int_equal(sl_reports_put(t, &r, m, sizeof m, &l), 0);
        char node[65], service[SL_SVC_NAME_MAX + 1];
        uint64_t version = 0;
        assert_int_equal(sl_reports_peek(m, l, node, service, &version), 0);
        assert_string_equal(node, nodes[i]);
        assert_string_equal(service, svcs[i]);
        assert_int_equal(version, 1);
    }
    char node[65], service[SL_SVC_NAME_MAX + 1];
    uint64_t version;
    assert_int_equal(sl_reports_peek(m, 3, node, service, &version), SL_EMALFORMED);
    assert_int_equal(sl_reports_forget_unless(t, only_n1, NULL), 2);
    assert_int_equal(sl_reports_size(t), 2);
    assert_true(sl_reports_find(t, "n1", "web", NULL));
    assert_true(sl_reports_find(t, "n1", "api", NULL));
    sl_reports_free(t);
}

/* A report whose replicas outgrow the room it was stored with is still
 * found, in order, with its newest replicas, and encodes and merges whole;
 * one that shrinks keeps its place too. */
static void a_report_that_grows_and_shrinks_keeps_its_place(void **state)
{
    (void)state;
    sl_reports *t = sl_reports_new();
    uint8_t m[512];
    size_t l;
    const char *nodes[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        sl_report r = {.version = 1, .n = 1};
        strcpy(r.node, nodes[i]);
        strcpy(r.service, "web");
        r.replicas[0] = (sl_replica_report){0, SL_REPLICA_STARTING, 0, 0, false, 0};
        assert_int_equal(sl_reports_put(t, &r, m, sizeof m, &l), 0);
    }
    sl_report big = {.version = 2, .n = SL_REPORT_REPLICAS_MAX};
    strcpy(big.node, "b");
    strcpy(big.service, "web");
    for (uint32_t i = 0; i < big.n; i++)
        big.replicas[i] = (sl_replica_report){i, SL_REPLICA_RUNNING, 20000 + i, i, false, 0};
    assert_int_equal(sl_reports_put(t, &big, m, sizeof m, &l), 0);
    sl_report got;
    assert_true(sl_reports_find(t, "b", "web", &got));
    assert_int_equal(got.n, SL_REPORT_REPLICAS_MAX);
    assert_int_equal(got.replicas[15].port, 20015);
    assert_int_equal(sl_reports_replica_status(t, "b", "web", 15), SL_REPLICA_RUNNING);
    assert_true(sl_reports_at(t, 1, &got));
    assert_string_equal(got.node, "b");
    assert_int_equal(got.version, 2);
    assert_false(sl_reports_at(t, 3, &got));
    big.version = 3;
    big.n = 0;
    assert_int_equal(sl_reports_put(t, &big, m, sizeof m, &l), 0);
    big.version = 4;
    big.n = 2;
    assert_int_equal(sl_reports_put(t, &big, m, sizeof m, &l), 0);
    uint8_t *enc;
    size_t len;
    sl_reports *c = sl_reports_new();
    assert_int_equal(sl_reports_encode(t, &enc, &len), 0);
    assert_int_equal(sl_reports_merge(c, enc, len), 3);
    free(enc);
    for (size_t i = 0; i < 3; i++) {
        sl_report x, y;
        assert_true(sl_reports_at(t, i, &x));
        assert_true(sl_reports_at(c, i, &y));
        assert_memory_equal(&x, &y, sizeof x);
    }
    assert_true(sl_reports_find(c, "b", "web", &got));
    assert_int_equal(got.version, 4);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.replicas[1].restarts, 1);
    assert_int_equal(sl_reports_replica_status(c, "b", "web", 2), -1);
    sl_reports_free(t);
    sl_reports_free(c);
}

/* The longest report there can be fits SL_REPORT_MSG_MAX. */
static void the_longest_report_fits_its_bound(void **state)
{
    (void)state;
    sl_reports *t = sl_reports_new();
    sl_report r = {.version = UINT64_MAX, .n = SL_REPORT_REPLICAS_MAX};
    memset(r.node, 'n', 64);
    memset(r.service, 's', SL_SVC_NAME_MAX);
    for (uint32_t i = 0; i < r.n; i++)
        r.replicas[i] = (sl_replica_report){
            SL_SVC_REPLICAS_MAX - 1 - i, SL_REPLICA_STOPPING, 65535, UINT32_MAX, false, 0};
    uint8_t m[SL_REPORT_MSG_MAX];
    size_t len = 0;
    assert_int_equal(sl_reports_put(t, &r, m, sizeof m, &len), 0);
    assert_true(len > 0 && len <= SL_REPORT_MSG_MAX);
    sl_reports_free(t);
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
    assert_int_equal(sl_catalog_put(c, &s, "n1", 0, m.b, sizeof m.b, &m.len), 0);
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
        sl_catalog_merge(victim, buf, len, 0, SL_CATALOG_CURRENT);
        sl_reports_apply(rvictim, buf, len, NULL, NULL);
        sl_reports_merge(rvictim, buf, len);
        sl_appmsg_kind(buf, len);
    }
    /* A truncated whole catalog is refused whole. */
    sl_catalog *empty = sl_catalog_new();
    assert_int_equal(sl_catalog_merge(empty, cat, cat_len - 1, 0, SL_CATALOG_CURRENT),
                     SL_EMALFORMED);
    assert_int_equal(sl_catalog_size(empty), 0);
    assert_int_equal(sl_catalog_merge(empty, cat, cat_len, 0, SL_CATALOG_CURRENT), 1);
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
        cmocka_unit_test(options_round_trip_and_are_signed),
        cmocka_unit_test(the_user_option_round_trips_and_is_checked),
        cmocka_unit_test(concurrent_writes_converge_to_one_winner),
        cmocka_unit_test(the_later_of_two_unseen_writes_wins),
        cmocka_unit_test(any_order_gives_the_same_catalog),
        cmocka_unit_test(tombstones_hold_then_are_collected),
        cmocka_unit_test(loaded_tombstones_age_by_their_stamp),
        cmocka_unit_test(stamps_cannot_run_away),
        cmocka_unit_test(signed_writes_only),
        cmocka_unit_test(the_record_limit_holds_on_decode),
        cmocka_unit_test(the_horizon_keeps_the_dead_dead),
        cmocka_unit_test(bad_specs_get_clear_errors),
        cmocka_unit_test(reports_newest_version_wins),
        cmocka_unit_test(an_oom_status_travels),
        cmocka_unit_test(reports_of_strangers_are_forgotten),
        cmocka_unit_test(a_report_that_grows_and_shrinks_keeps_its_place),
        cmocka_unit_test(the_longest_report_fits_its_bound),
        cmocka_unit_test(decoders_survive_garbage),
        cmocka_unit_test(a_policy_without_keys_may_leave_trusted_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
