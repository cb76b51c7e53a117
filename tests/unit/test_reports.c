/* Node reports: the spec version of each replica on the wire (an optional
 * trailing element of a replica entry), read back with sl_reports_replica(),
 * old entries without it, bad ones, and the bound of a report message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "starling/error.h"
#include "starling/reports.h"

/* A report of node "a" about "web": replica 0 running at version v0,
 * replica 1 given up (FAILED) at v1, replica 2 starting at version 0. */
static sl_report three(uint64_t version, uint32_t v0, uint32_t v1)
{
    sl_report r = {.version = version, .n = 3};
    strcpy(r.node, "a");
    strcpy(r.service, "web");
    r.replicas[0] = (sl_replica_report){0, SL_REPLICA_RUNNING, 20001, 0, false, v0};
    r.replicas[1] = (sl_replica_report){1, SL_REPLICA_FAILED, 0, 4, true, v1};
    r.replicas[2] = (sl_replica_report){2, SL_REPLICA_STARTING, 20003, 1, false, 0};
    return r;
}

static void assert_replica(const sl_reports *t, uint32_t replica, uint32_t status, uint32_t port,
                           uint32_t restarts, bool gave_up, uint32_t version)
{
    sl_replica_report x;
    assert_true(sl_reports_replica(t, "a", "web", replica, &x));
    assert_int_equal(x.replica, replica);
    assert_int_equal(x.status, status);
    assert_int_equal(x.port, port);
    assert_int_equal(x.restarts, restarts);
    assert_int_equal(x.gave_up, gave_up);
    assert_int_equal(x.version, version);
}

/* Versions travel in a report message and in a push-pull of the table. */
static void versions_round_trip(void **state)
{
    (void)state;
    sl_reports *a = sl_reports_new(), *b = sl_reports_new(), *c = sl_reports_new();
    sl_report r = three(7, 0xdeadbeefu, UINT32_MAX);
    uint8_t msg[SL_REPORT_MSG_MAX];
    size_t len;
    assert_int_equal(sl_reports_put(a, &r, msg, sizeof msg, &len), 0);
    assert_int_equal(sl_reports_apply(b, msg, len, NULL, NULL), 1);
    assert_replica(b, 0, SL_REPLICA_RUNNING, 20001, 0, false, 0xdeadbeefu);
    assert_replica(b, 1, SL_REPLICA_FAILED, 0, 4, true, UINT32_MAX);
    assert_replica(b, 2, SL_REPLICA_STARTING, 20003, 1, false, 0);
    assert_int_equal(sl_reports_replica_status(b, "a", "web", 1), SL_REPLICA_FAILED);

    uint8_t *enc;
    size_t elen;
    assert_int_equal(sl_reports_encode(b, &enc, &elen), 0);
    assert_int_equal(sl_reports_merge(c, enc, elen), 1);
    free(enc);
    assert_replica(c, 0, SL_REPLICA_RUNNING, 20001, 0, false, 0xdeadbeefu);
    assert_replica(c, 1, SL_REPLICA_FAILED, 0, 4, true, UINT32_MAX);
    assert_replica(c, 2, SL_REPLICA_STARTING, 20003, 1, false, 0);

    /* A newer report replaces the versions. */
    r = three(8, 0x1234u, 0);
    assert_int_equal(sl_reports_put(a, &r, msg, sizeof msg, &len), 0);
    assert_int_equal(sl_reports_apply(b, msg, len, NULL, NULL), 1);
    assert_replica(b, 0, SL_REPLICA_RUNNING, 20001, 0, false, 0x1234u);
    assert_replica(b, 1, SL_REPLICA_FAILED, 0, 4, true, 0);
    sl_reports_free(a);
    sl_reports_free(b);
    sl_reports_free(c);
}

/* sl_reports_replica answers false for what no report lists, and takes a
 * NULL out. */
static void the_reader_answers_only_for_listed_replicas(void **state)
{
    (void)state;
    sl_reports *t = sl_reports_new();
    sl_report r = three(1, 5, 6);
    uint8_t msg[SL_REPORT_MSG_MAX];
    size_t len;
    assert_false(sl_reports_replica(t, "a", "web", 0, NULL));
    assert_int_equal(sl_reports_put(t, &r, msg, sizeof msg, &len), 0);
    assert_true(sl_reports_replica(t, "a", "web", 2, NULL));
    sl_replica_report x = {.version = 99};
    assert_false(sl_reports_replica(t, "a", "web", 3, &x));
    assert_int_equal(x.version, 99); /* untouched */
    assert_false(sl_reports_replica(t, "b", "web", 0, &x));
    assert_false(sl_reports_replica(t, "a", "db", 0, &x));
    assert_int_equal(sl_reports_replica_status(t, "a", "web", 3), -1);
    sl_reports_free(t);
}

/* How a hand-made replica entry ends. */
typedef enum tail {
    TAIL_NONE,          /* [replica, status, port, restarts]: before gave_up */
    TAIL_GAVE_UP,       /* ..., 1: before the spec version */
    TAIL_VERSION,       /* ..., 0, 77 */
    TAIL_MORE,          /* ..., 0, 77, "later": a newer peer appended one */
    TAIL_VERSION_STR,   /* ..., 0, "x": a bad type */
    TAIL_VERSION_NEG,   /* ..., 0, -1 */
    TAIL_VERSION_BIG,   /* ..., 0, 2^32 */
    TAIL_VERSION_FLOAT, /* ..., 0, 1.5 */
    TAIL_VERSION_NIL,   /* ..., 0, nil */
} tail;

/* Packs one replica entry ending as `t` into pk. */
static void pack_entry(msgpack_packer *pk, tail t)
{
    uint32_t n = t == TAIL_NONE ? 4 : t == TAIL_GAVE_UP ? 5 : t == TAIL_MORE ? 7 : 6;
    msgpack_pack_array(pk, n);
    msgpack_pack_uint32(pk, 0);
    msgpack_pack_uint32(pk, t == TAIL_GAVE_UP ? SL_REPLICA_FAILED : SL_REPLICA_RUNNING);
    msgpack_pack_uint32(pk, 20001);
    msgpack_pack_uint32(pk, 2);
    if (n >= 5)
        msgpack_pack_uint8(pk, t == TAIL_GAVE_UP ? 1 : 0);
    switch (t) {
    case TAIL_VERSION: msgpack_pack_uint32(pk, 77); break;
    case TAIL_MORE:
        msgpack_pack_uint32(pk, 77);
        msgpack_pack_str_with_body(pk, "later", 5);
        break;
    case TAIL_VERSION_STR: msgpack_pack_str_with_body(pk, "x", 1); break;
    case TAIL_VERSION_NEG: msgpack_pack_int64(pk, -1); break;
    case TAIL_VERSION_BIG: msgpack_pack_uint64(pk, (uint64_t)UINT32_MAX + 1); break;
    case TAIL_VERSION_FLOAT: msgpack_pack_double(pk, 1.5); break;
    case TAIL_VERSION_NIL: msgpack_pack_nil(pk); break;
    default: break;
    }
}

/* A report message of "a" about "web" with one entry ending as `t`. */
static void pack_report(msgpack_packer *pk, tail t)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_uint8(pk, SL_APPMSG_REPORT);
    msgpack_pack_str_with_body(pk, "a", 1);
    msgpack_pack_str_with_body(pk, "web", 3);
    msgpack_pack_uint64(pk, 3);
    msgpack_pack_array(pk, 1);
    pack_entry(pk, t);
}

/* Applies a report whose entry ends as `t` to a new table, and also merges
 * it as a push-pull of one report; both must agree. Returns what apply
 * returned; *out gets the entry when it was stored. */
static int apply_tail(tail t, sl_replica_report *out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_report(&pk, t);
    sl_reports *x = sl_reports_new();
    int rc = sl_reports_apply(x, (const uint8_t *)sb.data, sb.size, NULL, NULL);
    if (rc == 1)
        assert_true(sl_reports_replica(x, "a", "web", 0, out));
    sl_reports_free(x);

    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 1);
    pack_report(&pk, t);
    sl_reports *y = sl_reports_new();
    int m = sl_reports_merge(y, (const uint8_t *)sb.data, sb.size);
    assert_int_equal(m, rc == 1 ? 1 : SL_EMALFORMED);
    assert_int_equal(sl_reports_size(y), rc == 1 ? 1 : 0);
    sl_reports_free(y);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Entries from older peers (without the element) decode with version 0; a
 * newer peer's further trailing elements are skipped. */
static void old_and_newer_entries_decode(void **state)
{
    (void)state;
    sl_replica_report x;
    assert_int_equal(apply_tail(TAIL_NONE, &x), 1);
    assert_int_equal(x.version, 0);
    assert_false(x.gave_up);
    assert_int_equal(x.restarts, 2);
    assert_int_equal(apply_tail(TAIL_GAVE_UP, &x), 1);
    assert_int_equal(x.version, 0);
    assert_true(x.gave_up);
    assert_int_equal(apply_tail(TAIL_VERSION, &x), 1);
    assert_int_equal(x.version, 77);
    assert_false(x.gave_up);
    assert_int_equal(apply_tail(TAIL_MORE, &x), 1);
    assert_int_equal(x.version, 77);
    assert_int_equal(x.port, 20001);
}

/* A version that is not a uint32 makes the whole report malformed. */
static void a_bad_version_is_refused(void **state)
{
    (void)state;
    tail bad[] = {TAIL_VERSION_STR, TAIL_VERSION_NEG, TAIL_VERSION_BIG, TAIL_VERSION_FLOAT,
                  TAIL_VERSION_NIL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(apply_tail(bad[i], NULL), SL_EMALFORMED);
}

/* What an older decoder (one that knows gave_up but not the version) reads
 * of a new entry: the version is written after a gave_up element of 0 or
 * 1, never anything else there, so such a decoder accepts it. */
static void new_entries_keep_the_gave_up_slot_valid(void **state)
{
    (void)state;
    sl_reports *t = sl_reports_new();
    sl_report r = three(1, 0xabcdu, 0);
    uint8_t msg[SL_REPORT_MSG_MAX];
    size_t len;
    assert_int_equal(sl_reports_put(t, &r, msg, sizeof msg, &len), 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, (const char *)msg, len, NULL), MSGPACK_UNPACK_SUCCESS);
    msgpack_object reps = u.data.via.array.ptr[4];
    assert_int_equal(reps.via.array.size, 3);
    msgpack_object e0 = reps.via.array.ptr[0], e1 = reps.via.array.ptr[1],
                   e2 = reps.via.array.ptr[2];
    assert_int_equal(e0.via.array.size, 6); /* a version: gave_up 0 written before it */
    assert_int_equal(e0.via.array.ptr[4].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(e0.via.array.ptr[4].via.u64, 0);
    assert_int_equal(e0.via.array.ptr[5].via.u64, 0xabcdu);
    assert_int_equal(e1.via.array.size, 5); /* gave up, no version: as before */
    assert_int_equal(e1.via.array.ptr[4].via.u64, 1);
    assert_int_equal(e2.via.array.size, 4); /* neither: as before */
    msgpack_unpacked_destroy(&u);
    sl_reports_free(t);
}

/* The longest report there can be: every field at the largest size the
 * checks accept. */
static sl_report longest(void)
{
    sl_report r = {.version = UINT64_MAX, .n = SL_REPORT_REPLICAS_MAX};
    memset(r.node, 'n', SL_SWIM_NAME_MAX);
    memset(r.service, 's', SL_SVC_NAME_MAX);
    for (uint32_t i = 0; i < r.n; i++)
        r.replicas[i] = (sl_replica_report){
            SL_SVC_REPLICAS_MAX - 1 - i, SL_REPLICA_UNHEALTHY, 65535, UINT32_MAX, true, UINT32_MAX};
    return r;
}

/* It fits SL_REPORT_MSG_MAX, and is as long as reports.h derives (so the
 * derivation there stays true when a field is added). */
static void the_longest_report_fits_its_bound(void **state)
{
    (void)state;
    sl_reports *t = sl_reports_new();
    sl_report r = longest();
    uint8_t m[SL_REPORT_MSG_MAX];
    size_t len = 0;
    assert_int_equal(sl_reports_put(t, &r, m, sizeof m, &len), 0);
    assert_int_equal(len, 449);
    assert_true(len <= SL_REPORT_MSG_MAX);
    sl_reports *u = sl_reports_new();
    assert_int_equal(sl_reports_apply(u, m, len, NULL, NULL), 1);
    sl_report back;
    assert_true(sl_reports_find(u, r.node, r.service, &back));
    assert_memory_equal(back.replicas, r.replicas, sizeof r.replicas);
    sl_reports_free(t);
    sl_reports_free(u);
}

/* A push-pull of many longest reports encodes (its buffer is sized from
 * the per-replica bound) and merges back whole. */
static void a_table_of_longest_reports_encodes(void **state)
{
    (void)state;
    sl_reports *t = sl_reports_new(), *u = sl_reports_new();
    sl_report r = longest();
    uint8_t m[SL_REPORT_MSG_MAX];
    size_t len;
    for (int i = 0; i < 50; i++) {
        snprintf(r.service + SL_SVC_NAME_MAX - 2, 3, "%02u", (unsigned)i % 100u);
        assert_int_equal(sl_reports_put(t, &r, m, sizeof m, &len), 0);
    }
    uint8_t *enc;
    size_t elen;
    assert_int_equal(sl_reports_encode(t, &enc, &elen), 0);
    assert_int_equal(sl_reports_merge(u, enc, elen), 50);
    free(enc);
    sl_replica_report x;
    assert_true(sl_reports_replica(u, r.node, r.service, SL_SVC_REPLICAS_MAX - 1, &x));
    assert_int_equal(x.version, UINT32_MAX);
    sl_reports_free(t);
    sl_reports_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(versions_round_trip),
        cmocka_unit_test(the_reader_answers_only_for_listed_replicas),
        cmocka_unit_test(old_and_newer_entries_decode),
        cmocka_unit_test(a_bad_version_is_refused),
        cmocka_unit_test(new_entries_keep_the_gave_up_slot_valid),
        cmocka_unit_test(the_longest_report_fits_its_bound),
        cmocka_unit_test(a_table_of_longest_reports_encodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
