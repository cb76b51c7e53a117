/* The wire codec and every decoder facing untrusted bytes: round trips,
 * strictness, the cluster label, packet size bounds, and 100k random and
 * truncated inputs that must decode to messages or errors, never crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "starling/error.h"
#include "starling/meta.h"
#include "starling/rng.h"
#include "starling/swim.h"
#include "../../gossip/wire.h"

static void roundtrip_every_message_type(void **state)
{
    (void)state;
    uint8_t meta[] = {1, 2, 3};
    sl_msg in[] = {
        {.type = SL_MSG_PING,
         .seq = 7,
         .name = "target",
         .name_len = 6,
         .from = "me",
         .from_len = 2,
         .addr = sl_addr_v4(127, 0, 0, 1, 7946)},
        {.type = SL_MSG_PING_REQ,
         .seq = 8,
         .name = "t",
         .name_len = 1,
         .addr = sl_addr_v4(127, 0, 0, 2, 1)},
        {.type = SL_MSG_ACK, .seq = 4000000000u},
        {.type = SL_MSG_ALIVE,
         .name = "n1",
         .name_len = 2,
         .addr = sl_addr_v4(10, 0, 0, 1, 65535),
         .inc = {3, 9},
         .meta = meta,
         .meta_len = 3},
        {.type = SL_MSG_SUSPECT,
         .name = "n2",
         .name_len = 2,
         .inc = {1, 2},
         .from = "n3",
         .from_len = 2},
        {.type = SL_MSG_DEAD,
         .name = "n2",
         .name_len = 2,
         .inc = {1, 2},
         .from = "n3",
         .from_len = 2},
        {.type = SL_MSG_LEFT, .name = "n9", .name_len = 2, .inc = {5, 0}},
    };
    uint8_t pkt[1400];
    int len = sl_wire_put_header(pkt, sizeof pkt, "prod");
    assert_true(len > 0);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        int n = sl_wire_put_msg(pkt + len, sizeof pkt - (size_t)len, &in[i]);
        assert_true(n > 0);
        len += n;
    }
    const char *cluster;
    uint32_t cl;
    sl_wire_iter it;
    assert_int_equal(sl_wire_open(pkt, (size_t)len, &cluster, &cl, &it), 0);
    assert_int_equal(cl, 4);
    assert_memory_equal(cluster, "prod", 4);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        sl_msg out;
        assert_int_equal(sl_wire_next(&it, &out), 1);
        assert_int_equal(out.type, in[i].type);
        assert_int_equal(out.seq, in[i].seq);
        assert_int_equal(out.name_len, in[i].name_len);
        if (in[i].name_len)
            assert_memory_equal(out.name, in[i].name, in[i].name_len);
        assert_int_equal(out.from_len, in[i].from_len);
        assert_int_equal(out.inc.gen, in[i].inc.gen);
        assert_int_equal(out.inc.ctr, in[i].inc.ctr);
        assert_int_equal(out.meta_len, in[i].meta_len);
        if (in[i].type == SL_MSG_ALIVE || in[i].type == SL_MSG_PING)
            assert_true(sl_addr_eq(&out.addr, &in[i].addr));
    }
    sl_msg out;
    assert_int_equal(sl_wire_next(&it, &out), 0);
}

static void strict_decoding_rejects_bad_fields(void **state)
{
    (void)state;
    const char *cluster;
    uint32_t cl;
    sl_wire_iter it;
    sl_msg m;
    /* Wrong version. */
    uint8_t v2[] = {2, 0xa0};
    assert_int_equal(sl_wire_open(v2, sizeof v2, &cluster, &cl, &it), SL_EVERSION);
    /* msgpack-c's trap: an array that claims 64M elements in 5 bytes. */
    uint8_t trap[] = {1, 0xa0, 0xdd, 0x04, 0x00, 0x00, 0x00};
    assert_int_equal(sl_wire_open(trap, sizeof trap, &cluster, &cl, &it), 0);
    assert_int_equal(sl_wire_next(&it, &m), SL_EMALFORMED);
    /* An ALIVE whose name is an integer. */
    uint8_t badname[] = {1, 0xa0, 0x96, 4, 5, 0xc4, 6, 1, 2, 3, 4, 0, 1, 0, 0, 0xc4, 0};
    assert_int_equal(sl_wire_open(badname, sizeof badname, &cluster, &cl, &it), 0);
    assert_int_equal(sl_wire_next(&it, &m), SL_EMALFORMED);
    /* An address of the wrong size. */
    uint8_t badaddr[] = {1, 0xa0, 0x96, 4, 0xa1, 'x', 0xc4, 3, 1, 2, 3, 0, 0, 0xc4, 0};
    assert_int_equal(sl_wire_open(badaddr, sizeof badaddr, &cluster, &cl, &it), 0);
    assert_int_equal(sl_wire_next(&it, &m), SL_EMALFORMED);
    /* An unknown type is skipped, fields and all, and what follows decodes. */
    uint8_t unknown[] = {1, 0xa0, 0x93, 99, 0x91, 0xc0, 0xa1, 'z', 0x92, 3, 5};
    assert_int_equal(sl_wire_open(unknown, sizeof unknown, &cluster, &cl, &it), 0);
    assert_int_equal(sl_wire_next(&it, &m), 1);
    assert_int_equal(m.type, 99);
    assert_int_equal(sl_wire_next(&it, &m), 1);
    assert_int_equal(m.type, SL_MSG_ACK);
    assert_int_equal(m.seq, 5);
}

typedef struct capture {
    size_t packets, max_len;
    uint8_t last[2048];
    size_t last_len;
} capture;

static void capture_send(void *ud, const sl_addr *to, const uint8_t *buf, size_t len)
{
    (void)to;
    capture *c = ud;
    c->packets++;
    if (len > c->max_len)
        c->max_len = len;
    if (len <= sizeof c->last) {
        memcpy(c->last, buf, len);
        c->last_len = len;
    }
}

static sl_swim *make_core(const char *name, const char *cluster, uint8_t host, capture *c)
{
    sl_swim_config cfg = {.name = name,
                          .addr = sl_addr_v4(127, 0, 0, host, 7946),
                          .cluster = cluster,
                          .generation = 1,
                          .seed = host,
                          .cb = {.send = capture_send, .ud = c}};
    assert_int_equal(sl_swim_profile("lan", &cfg.timing), 0);
    sl_swim *s;
    assert_int_equal(sl_swim_new(&cfg, 0, &s), 0);
    return s;
}

static void wrong_cluster_label_is_dropped_and_counted(void **state)
{
    (void)state;
    capture ca = {0}, cb = {0};
    sl_swim *a = make_core("a", "blue", 1, &ca);
    sl_swim *b = make_core("b", "green", 2, &cb);
    /* An alive about "x" sent under b's label never reaches a's table. */
    uint8_t pkt[256];
    int len = sl_wire_put_header(pkt, sizeof pkt, "green");
    sl_msg alive = {.type = SL_MSG_ALIVE,
                    .name = "x",
                    .name_len = 1,
                    .addr = sl_addr_v4(127, 0, 0, 9, 1),
                    .inc = {1, 0}};
    len += sl_wire_put_msg(pkt + len, sizeof pkt - (size_t)len, &alive);
    sl_addr from = sl_addr_v4(127, 0, 0, 2, 7946);
    sl_swim_recv(a, &from, pkt, (size_t)len, 10);
    sl_member_view v;
    assert_int_equal(sl_swim_find(a, "x", &v), SL_ENOTFOUND);
    assert_int_equal(sl_swim_get_stats(a)->drops[SL_DROP_CLUSTER], 1);
    /* The same packet under a's label is accepted. */
    len = sl_wire_put_header(pkt, sizeof pkt, "blue");
    len += sl_wire_put_msg(pkt + len, sizeof pkt - (size_t)len, &alive);
    sl_swim_recv(a, &from, pkt, (size_t)len, 20);
    assert_int_equal(sl_swim_find(a, "x", &v), 0);
    /* A push-pull state from another cluster is refused whole. */
    uint8_t *st;
    size_t stlen;
    assert_int_equal(sl_swim_encode_state(b, true, &st, &stlen), 0);
    assert_int_equal(sl_swim_merge_state(a, st, stlen, 30, NULL), SL_ECLUSTER);
    assert_int_equal(sl_swim_find(a, "b", &v), SL_ENOTFOUND);
    assert_int_equal(sl_swim_get_stats(a)->drops[SL_DROP_CLUSTER], 2);
    free(st);
    sl_swim_free(a);
    sl_swim_free(b);
}

/* With far more updates queued than fit, no packet exceeds max_packet, and
 * every update still goes out. */
static void packets_never_exceed_max_size(void **state)
{
    (void)state;
    capture c = {0};
    sl_swim *s = make_core("self", "", 1, &c);
    uint8_t pkt[1400], meta[400];
    memset(meta, 'm', sizeof meta);
    for (int i = 0; i < 200; i++) {
        char name[16];
        int nl = snprintf(name, sizeof name, "member-%d", i);
        int len = sl_wire_put_header(pkt, sizeof pkt, "");
        sl_msg alive = {.type = SL_MSG_ALIVE,
                        .name = name,
                        .name_len = (uint32_t)nl,
                        .addr = sl_addr_v4(127, 1, (uint8_t)(i >> 8), (uint8_t)i, 7946),
                        .inc = {1, 0},
                        .meta = meta,
                        .meta_len = (uint32_t)(i % 2 ? 400 : 10)};
        len += sl_wire_put_msg(pkt + len, sizeof pkt - (size_t)len, &alive);
        sl_swim_recv(s, &alive.addr, pkt, (size_t)len, 1);
    }
    assert_int_equal(sl_swim_size(s), 201);
    assert_true(sl_swim_pending_broadcasts(s) >= 200);
    for (uint64_t t = 0; t < 60000 && sl_swim_pending_broadcasts(s); t += 100)
        sl_swim_tick(s, t);
    assert_int_equal(sl_swim_pending_broadcasts(s), 0);
    assert_true(c.packets > 0);
    assert_true(c.max_len <= 1400);
    assert_true(c.max_len > 1000); /* packets were filled, not sent one by one */
    sl_swim_free(s);
}

static void fuzz_one(sl_swim *s, const uint8_t *buf, size_t len, uint64_t now)
{
    const char *cluster;
    uint32_t cl;
    sl_wire_iter it;
    sl_msg m;
    if (sl_wire_open(buf, len, &cluster, &cl, &it) == 0)
        for (int i = 0; i < 1000 && sl_wire_next(&it, &m) == 1; i++)
            ;
    sl_addr from = sl_addr_v4(127, 0, 0, 3, 7946);
    sl_swim_recv(s, &from, buf, len, now);
    sl_swim_merge_state(s, buf, len, now, NULL);
    sl_meta meta;
    sl_meta_decode(buf, len, &meta);
}

/* 100,000 inputs: valid packets and states cut at every length, with random
 * bytes flipped, and pure noise with a valid version byte. The core must
 * survive all of them (AddressSanitizer watches under SANITIZE=1) and keep
 * its own identity. */
static void decoders_survive_random_and_truncated_input(void **state)
{
    (void)state;
    capture c = {0};
    sl_swim *s = make_core("fuzz", "", 1, &c);
    sl_swim *peer = make_core("peer", "", 2, &c);
    uint8_t *st;
    size_t stlen;
    uint8_t meta[64];
    sl_meta mv = {.slots = 2};
    strcpy(mv.zone, "z1");
    sl_meta_set_tag(&mv, "k", "v");
    int ml = sl_meta_encode(&mv, meta, sizeof meta);
    assert_true(ml > 0);
    assert_int_equal(sl_swim_set_meta(peer, meta, (size_t)ml, 0), 0);
    assert_int_equal(sl_swim_encode_state(peer, false, &st, &stlen), 0);
    uint8_t pkt[512];
    int plen = sl_wire_put_header(pkt, sizeof pkt, "");
    sl_msg msgs[] = {
        {.type = SL_MSG_PING,
         .seq = 1,
         .name = "fuzz",
         .name_len = 4,
         .from = "p",
         .from_len = 1,
         .addr = sl_addr_v4(127, 0, 0, 3, 7946)},
        {.type = SL_MSG_ALIVE,
         .name = "zz",
         .name_len = 2,
         .addr = sl_addr_v4(127, 0, 0, 4, 1),
         .inc = {1, 1},
         .meta = meta,
         .meta_len = (uint32_t)ml},
        {.type = SL_MSG_SUSPECT,
         .name = "zz",
         .name_len = 2,
         .inc = {1, 1},
         .from = "p",
         .from_len = 1},
    };
    for (size_t i = 0; i < 3; i++)
        plen += sl_wire_put_msg(pkt + plen, sizeof pkt - (size_t)plen, &msgs[i]);
    const uint8_t *seeds[] = {pkt, st, meta};
    size_t seed_len[] = {(size_t)plen, stlen, (size_t)ml};
    sl_rng rng;
    sl_rng_seed(&rng, 42);
    uint8_t buf[1024];
    int runs = 0;
    for (; runs < 100000; runs++) {
        int kind = runs % 4;
        size_t len;
        if (kind < 3) {
            const uint8_t *src = seeds[kind];
            len = (size_t)sl_rng_below(&rng, seed_len[kind] + 1); /* truncated */
            if (len > sizeof buf)
                len = sizeof buf;
            memcpy(buf, src, len);
            int flips = (int)sl_rng_below(&rng, 4);
            for (int f = 0; f < flips && len; f++)
                buf[sl_rng_below(&rng, len)] = (uint8_t)sl_rng_next(&rng);
        } else {
            len = (size_t)sl_rng_below(&rng, sizeof buf);
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)sl_rng_next(&rng);
            if (len)
                buf[0] = 1;
        }
        fuzz_one(s, buf, len, (uint64_t)runs);
    }
    assert_int_equal(runs, 100000);
    assert_string_equal(sl_swim_name(s), "fuzz");
    sl_member_view self;
    assert_int_equal(sl_swim_find(s, "fuzz", &self), 0);
    assert_true(self.is_self);
    const sl_swim_stats *stats = sl_swim_get_stats(s);
    assert_true(stats->drops[SL_DROP_MALFORMED] > 1000);
    free(st);
    sl_swim_free(s);
    sl_swim_free(peer);
}

/* A peer for the application-message test: what it sent and what its
 * application handlers saw. */
typedef struct peer {
    capture out;
    int msgs;
    size_t last_len;
    int merges;
    size_t merged_len;
} peer;

static int app_msg(void *ud, const uint8_t *buf, size_t len, uint64_t now)
{
    (void)now;
    peer *p = ud;
    p->msgs++;
    p->last_len = len;
    return len && buf[0] == 'x' ? SL_EMALFORMED : 0;
}

static int app_state(void *ud, uint8_t **out, size_t *len)
{
    (void)ud;
    *out = malloc(3);
    memcpy(*out, "abc", 3);
    *len = 3;
    return 0;
}

static int app_merge(void *ud, const uint8_t *buf, size_t len, uint64_t now)
{
    (void)now;
    peer *p = ud;
    p->merges++;
    p->merged_len = len;
    return len == 3 && !memcmp(buf, "abc", 3) ? 0 : SL_EMALFORMED;
}

static sl_swim *make_app_core(const char *name, uint8_t host, peer *p)
{
    sl_swim_config cfg = {.name = name,
                          .addr = sl_addr_v4(127, 0, 0, host, 7946),
                          .generation = 1,
                          .cb = {.send = capture_send, /* capture is peer's first field */
                                 .user_msg = app_msg,
                                 .user_state = app_state,
                                 .user_merge = app_merge,
                                 .ud = p}};
    assert_int_equal(sl_swim_profile("lan", &cfg.timing), 0);
    sl_swim *s;
    assert_int_equal(sl_swim_new(&cfg, 0, &s), 0);
    return s;
}

/* Application messages ride the packets and push-pulls of the core: a
 * newer message with the same key replaces the queued one, the receiver's
 * handler sees what was sent, and a refused one is counted. */
static void application_messages_ride_gossip_and_pushpull(void **state)
{
    (void)state;
    peer pa = {0}, pb = {0};
    sl_swim *a = make_app_core("a", 1, &pa);
    sl_swim *b = make_app_core("b", 2, &pb);
    uint8_t *st;
    size_t stlen;
    /* b joins a; b's application state reaches a's merge handler. */
    assert_int_equal(sl_swim_encode_state(b, true, &st, &stlen), 0);
    assert_int_equal(sl_swim_merge_state(a, st, stlen, 1, NULL), 0);
    free(st);
    assert_int_equal(pa.merges, 1);
    assert_int_equal(pa.merged_len, 3);
    assert_int_equal(sl_swim_broadcast(a, 7, (const uint8_t *)"old", 3), 0);
    assert_int_equal(sl_swim_broadcast(a, 7, (const uint8_t *)"new!", 4), 0);
    assert_int_equal(sl_swim_broadcast(a, 8, (const uint8_t *)"x-bad", 5), 0);
    uint8_t big[SL_SWIM_USER_MAX + 1] = {0};
    assert_int_equal(sl_swim_broadcast(a, 9, big, sizeof big), SL_ETOOBIG);
    pa.out.packets = 0;
    for (uint64_t t = 0; t < 1000 && pa.out.packets == 0; t += 50)
        sl_swim_tick(a, t);
    assert_true(pa.out.packets > 0);
    sl_addr from = sl_addr_v4(127, 0, 0, 1, 7946);
    sl_swim_recv(b, &from, pa.out.last, pa.out.last_len, 1000);
    assert_int_equal(pb.msgs, 2); /* "new!" and "x-bad"; "old" was replaced */
    assert_int_equal(sl_swim_get_stats(b)->drops[SL_DROP_USER], 1);
    sl_swim_free(a);
    sl_swim_free(b);
}

static void profiles_match_memberlist(void **state)
{
    (void)state;
    sl_swim_timing t;
    assert_int_equal(sl_swim_profile("lan", &t), 0);
    assert_int_equal(t.probe_interval_ms, 1000);
    assert_int_equal(t.probe_timeout_ms, 500);
    assert_int_equal(t.indirect_checks, 3);
    assert_int_equal(t.gossip_interval_ms, 200);
    assert_int_equal(t.gossip_nodes, 3);
    assert_int_equal(t.retransmit_mult, 4);
    assert_int_equal(t.suspicion_mult, 4);
    assert_int_equal(t.pushpull_interval_ms, 30000);
    assert_int_equal(t.max_packet, 1400);
    assert_int_equal(sl_swim_profile("local", &t), 0);
    assert_int_equal(t.probe_timeout_ms, 200);
    assert_int_equal(t.gossip_interval_ms, 100);
    assert_int_equal(sl_swim_profile("wan", &t), 0);
    assert_int_equal(t.probe_interval_ms, 5000);
    assert_int_equal(sl_swim_profile("moon", &t), SL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip_every_message_type),
        cmocka_unit_test(strict_decoding_rejects_bad_fields),
        cmocka_unit_test(wrong_cluster_label_is_dropped_and_counted),
        cmocka_unit_test(packets_never_exceed_max_size),
        cmocka_unit_test(decoders_survive_random_and_truncated_input),
        cmocka_unit_test(application_messages_ride_gossip_and_pushpull),
        cmocka_unit_test(profiles_match_memberlist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
