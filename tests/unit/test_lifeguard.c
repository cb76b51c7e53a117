/* Lifeguard in the SWIM core (gossip/health.c, probe.c), through the fake
 * world: nacks from relays that cannot reach the target either, the local
 * health score that a member which cannot be heard builds up and that
 * stretches its own probing, and the switch that turns all of it off
 * (timing.plain_swim). Virtual time; nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "../../gossip/wire.h"
#include "../../sim/world.h"
#include "starling/swim.h"

static sl_world *world(bool plain, uint64_t seed)
{
    sl_world_config cfg = {.seed = seed, .latency_us = 1000, .jitter_us = 500};
    assert_int_equal(sl_swim_profile("lan", &cfg.timing), 0);
    cfg.timing.plain_swim = plain;
    sl_world *w = sl_world_new(&cfg);
    assert_non_null(w);
    return w;
}

static void add_nodes(sl_world *w, int n)
{
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(sl_world_add_node(w, name, NULL, 0, i == 0 ? -1 : 0), i);
    }
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 20000));
}

static uint64_t sum_stat(sl_world *w, int n, size_t offset)
{
    uint64_t t = 0;
    for (int i = 0; i < n; i++)
        t += *(const uint64_t *)((const char *)sl_swim_get_stats(sl_world_core(w, i)) + offset);
    return t;
}

/* n4 is cut off from everyone, both ways: every probe of it fails, and the
 * members asked to probe it for us fail too and say so with a nack; the
 * nacks keep the prober's own health at 0 (the failure is not its own). With
 * Lifeguard off no nack is sent. */
static void relays_that_cannot_reach_the_target_nack(void **state)
{
    (void)state;
    for (int plain = 0; plain <= 1; plain++) {
        sl_world *w = world(plain, 21);
        add_nodes(w, 5);
        for (int i = 0; i < 4; i++) {
            sl_world_set_cut(w, i, 4, true);
            sl_world_set_cut(w, 4, i, true);
        }
        sl_world_run_until(w, sl_world_now(w) + 6000);
        uint64_t out = sum_stat(w, 4, offsetof(sl_swim_stats, nacks_out));
        uint64_t in = sum_stat(w, 4, offsetof(sl_swim_stats, nacks_in));
        if (plain) {
            assert_int_equal(out, 0);
            assert_int_equal(in, 0);
        } else {
            assert_true(out > 0);
            assert_true(in > 0);
            assert_true(in <= out);
        }
        for (int i = 0; i < 4; i++)
            assert_int_equal(sl_swim_health(sl_world_core(w, i)), 0);
        sl_world_free(w);
    }
}

static bool at_max_health(sl_world *w, void *ud)
{
    (void)ud;
    return sl_swim_health(sl_world_core(w, 0)) == SL_SWIM_HEALTH_MAX;
}

/* n0 can hear but cannot be heard (every packet it sends is lost): none of
 * its probes is acked and no relay even nacks, so within a few probes its
 * health is at the maximum and it probes less often; once it can be heard
 * again, acks bring it back to 0. With Lifeguard off it stays at 0 and
 * keeps probing once a second (until it has declared everyone dead). */
static void a_member_that_cannot_be_heard_loses_health_and_probes_less(void **state)
{
    (void)state;
    uint64_t probes[2];
    for (int plain = 0; plain <= 1; plain++) {
        sl_world *w = world(plain, 22);
        add_nodes(w, 6);
        sl_swim *c0 = sl_world_core(w, 0);
        for (int i = 1; i < 6; i++)
            sl_world_set_cut(w, 0, i, true);
        uint64_t p0 = sl_swim_get_stats(c0)->probes;
        sl_world_run_until(w, sl_world_now(w) + 8000);
        probes[plain] = sl_swim_get_stats(c0)->probes - p0;
        if (plain) {
            assert_int_equal(sl_swim_health(c0), 0);
        } else {
            assert_true(sl_swim_health(c0) >= 4);
            assert_true(sl_world_run_until_pred(w, at_max_health, NULL, sl_world_now(w) + 30000));
        }
        for (int i = 1; i < 6; i++)
            sl_world_set_cut(w, 0, i, false);
        sl_world_run_until(w, sl_world_now(w) + 120000);
        assert_int_equal(sl_swim_health(c0), 0);
        sl_world_free(w);
    }
    /* 8 probe periods of 1 s with Lifeguard off; on, the first failure
     * (3 relays, no nack) already stretches the next period to 4 s. */
    assert_true(probes[1] >= 7);
    assert_true(probes[0] * 2 < probes[1]);
}

/* Refuting a suspicion about ourselves counts against our health (others
 * could not hear us); with Lifeguard off the refutation costs nothing. */
static void refuting_a_suspicion_costs_health(void **state)
{
    (void)state;
    for (int plain = 0; plain <= 1; plain++) {
        sl_world *w = world(plain, 23);
        add_nodes(w, 3);
        sl_swim *c0 = sl_world_core(w, 0);
        uint64_t r0 = sl_swim_get_stats(c0)->refutes;
        uint32_t h0 = sl_swim_health(c0);
        uint8_t pkt[256];
        int hl = sl_wire_put_header(pkt, sizeof pkt, "");
        sl_msg sus = {.type = SL_MSG_SUSPECT,
                      .name = "n0",
                      .name_len = 2,
                      .inc = sl_swim_incarnation(c0),
                      .from = "n1",
                      .from_len = 2};
        int ml = sl_wire_put_msg(pkt + hl, sizeof pkt - (size_t)hl, &sus);
        assert_true(hl > 0 && ml > 0);
        sl_member_view v;
        assert_int_equal(sl_swim_find(c0, "n1", &v), 0);
        sl_swim_recv(c0, &v.addr, pkt, (size_t)(hl + ml), sl_world_now(w));
        assert_int_equal(sl_swim_get_stats(c0)->refutes, r0 + 1);
        assert_int_equal(sl_swim_health(c0), plain ? 0 : h0 + 1);
        sl_world_free(w);
    }
}

/* A relay asked to probe for someone, then stalled past the end of that
 * probe period, sends no nack any more, and its next deadline is in the
 * future: an overdue nack once kept it in the past (the world looped on the
 * same instant). */
static void an_expired_relay_neither_nacks_nor_stalls_the_clock(void **state)
{
    (void)state;
    sl_world *w = world(false, 24);
    add_nodes(w, 3);
    sl_swim *c1 = sl_world_core(w, 1);
    sl_member_view n0, n2;
    assert_int_equal(sl_swim_find(c1, "n0", &n0), 0);
    assert_int_equal(sl_swim_find(c1, "n2", &n2), 0);
    sl_world_set_cut(w, 1, 2, true); /* the relay's ping to n2 goes nowhere */
    uint8_t pkt[256];
    int hl = sl_wire_put_header(pkt, sizeof pkt, "");
    sl_msg req = {.type = SL_MSG_PING_REQ, .seq = 77, .name = "n2", .name_len = 2, .addr = n2.addr};
    int ml = sl_wire_put_msg(pkt + hl, sizeof pkt - (size_t)hl, &req);
    assert_true(hl > 0 && ml > 0);
    uint64_t now = sl_world_now(w);
    uint64_t nacks = sl_swim_get_stats(c1)->nacks_out;
    sl_swim_recv(c1, &n0.addr, pkt, (size_t)(hl + ml), now);
    uint64_t later = now + 2000; /* past the relay's probe period */
    sl_swim_tick(c1, later);
    assert_int_equal(sl_swim_get_stats(c1)->nacks_out, nacks);
    assert_true(sl_swim_next_deadline(c1) > later);
    sl_world_free(w);
}

/* The simulator's two stalls of n0, ten times each, plain SWIM (so that no
 * health stretches the probing): a pause at an arbitrary instant seldom finds
 * a probe in flight (the ack is back within milliseconds), a pause that
 * waits for n0's next probe always does, and on resume n0 suspects the
 * healthy peer it was probing: a late suspicion. Only n0 stalls, so every
 * suspicion n0 reports is its own. */
static void a_stall_at_a_probe_makes_a_late_suspicion(void **state)
{
    (void)state;
    uint64_t late[2];
    for (int at_probe = 0; at_probe <= 1; at_probe++) {
        sl_world *w = world(true, 25);
        add_nodes(w, 5);
        uint64_t before = sl_swim_get_stats(sl_world_core(w, 0))->events[SL_EVENT_SUSPECT];
        for (int i = 0; i < 10; i++) {
            if (at_probe)
                sl_world_pause_at_probe(w, 0, 1500, 1000);
            else
                sl_world_pause(w, 0, 1500);
            sl_world_run_until(w, sl_world_now(w) + 3700); /* not a whole number of probes */
        }
        late[at_probe] = sl_swim_get_stats(sl_world_core(w, 0))->events[SL_EVENT_SUSPECT] - before;
        sl_world_free(w);
    }
    assert_true(late[0] <= 2);
    assert_true(late[1] >= 9);
}

/* The same stalls with Lifeguard on: n0 sees on resume that its timers fell
 * due long ago (gossip/health.c), so it does not trust the probe that
 * "timed out" while it was stopped; it reads the ack that waited in its
 * backlog instead of suspecting the healthy peer, and its health score says
 * it was slow. */
static void a_stalled_member_does_not_trust_its_late_probes(void **state)
{
    (void)state;
    sl_world *w = world(false, 25);
    add_nodes(w, 5);
    uint64_t before = sl_swim_get_stats(sl_world_core(w, 0))->events[SL_EVENT_SUSPECT];
    uint32_t sick = 0;
    for (int i = 0; i < 10; i++) {
        sl_world_pause_at_probe(w, 0, 1500, 1000);
        sl_world_run_until(w, sl_world_now(w) + 1000 + 1500 + 50); /* just resumed */
        sick += sl_swim_health(sl_world_core(w, 0)) > 0;
        sl_world_run_until(w, sl_world_now(w) + 1150);
    }
    uint64_t late = sl_swim_get_stats(sl_world_core(w, 0))->events[SL_EVENT_SUSPECT] - before;
    sl_world_free(w);
    assert_true(late <= 1);
    assert_true(sick >= 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relays_that_cannot_reach_the_target_nack),
        cmocka_unit_test(a_member_that_cannot_be_heard_loses_health_and_probes_less),
        cmocka_unit_test(refuting_a_suspicion_costs_health),
        cmocka_unit_test(an_expired_relay_neither_nacks_nor_stalls_the_clock),
        cmocka_unit_test(a_stall_at_a_probe_makes_a_late_suspicion),
        cmocka_unit_test(a_stalled_member_does_not_trust_its_late_probes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
