/* The SWIM core, tested through the fake world: several real cores on a
 * virtual clock and a simulated network. Every wait is a predicate with a
 * virtual deadline; nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../sim/world.h"
#include "starling/error.h"
#include "starling/meta.h"
#include "starling/swim.h"
#include "../../gossip/wire.h"

/* Counts events per type about one subject, across all observers. */
typedef struct watch {
    const char *subject;
    uint64_t count[SL_EVENT__COUNT];
    uint64_t first_ms[SL_EVENT__COUNT];
    uint64_t last_ms[SL_EVENT__COUNT];
} watch;

static void on_event(void *ud, int node, uint64_t now_ms, const sl_swim_event *ev)
{
    (void)node;
    watch *wt = ud;
    if (!wt || !wt->subject || strcmp(ev->name, wt->subject) != 0)
        return;
    if (wt->count[ev->type]++ == 0)
        wt->first_ms[ev->type] = now_ms;
    wt->last_ms[ev->type] = now_ms;
}

/* Nodes that join at the same moment may miss each other's arrival in the
 * gossip (a small cluster retransmits each update only a few times); a
 * member probed by someone it does not know syncs with the prober, so a cold
 * start converges within a few probe rounds, long before the periodic
 * push-pull (30 s). */
static sl_world *make_world(const char *profile, uint64_t seed, watch *wt)
{
    sl_world_config cfg = {.seed = seed, .latency_us = 1000, .jitter_us = 500};
    assert_int_equal(sl_swim_profile(profile, &cfg.timing), 0);
    sl_world *w = sl_world_new(&cfg);
    assert_non_null(w);
    sl_world_on_event(w, on_event, wt);
    return w;
}

static void add_nodes(sl_world *w, int n)
{
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(sl_world_add_node(w, name, NULL, 0, i == 0 ? -1 : 0), i);
    }
}

typedef struct seen {
    const char *name;
    sl_member_state st;
} seen;

static bool all_see(sl_world *w, void *ud)
{
    seen *s = ud;
    return sl_world_all_see(w, s->name, s->st);
}

static void wait_all_see(sl_world *w, const char *name, sl_member_state st, uint64_t within_ms)
{
    seen s = {name, st};
    if (!sl_world_run_until_pred(w, all_see, &s, sl_world_now(w) + within_ms))
        fail_msg("not every node sees %s as %s within %llu ms", name, sl_member_state_name(st),
                 (unsigned long long)within_ms);
}

static void five_nodes_converge(void **state)
{
    (void)state;
    sl_world *w = make_world("lan", 1, NULL);
    add_nodes(w, 5);
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 10000));
    for (int i = 0; i < 5; i++)
        assert_int_equal(sl_swim_count(sl_world_core(w, i), SL_MEMBER_ALIVE), 5);
    sl_world_free(w);
}

static void crashed_node_is_declared_dead_by_all(void **state)
{
    (void)state;
    watch wt = {.subject = "n3"};
    sl_world *w = make_world("lan", 2, &wt);
    add_nodes(w, 5);
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 10000));
    sl_world_crash(w, 3);
    wait_all_see(w, "n3", SL_MEMBER_DEAD, 60000);
    assert_true(wt.count[SL_EVENT_SUSPECT] >= 1);
    assert_int_equal(wt.count[SL_EVENT_FAILED], 4);
    assert_int_equal(wt.count[SL_EVENT_LEFT], 0);
    sl_world_free(w);
}

/* n2 is cut off from everyone long enough to be suspected but not declared
 * dead; once reachable it hears the rumour and refutes it. */
static void suspected_alive_node_refutes(void **state)
{
    (void)state;
    watch wt = {.subject = "n2"};
    sl_world *w = make_world("lan", 3, &wt);
    add_nodes(w, 5);
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 10000));
    sl_incarnation before = sl_swim_incarnation(sl_world_core(w, 2));
    for (int i = 0; i < 5; i++)
        if (i != 2)
            sl_world_set_cut(w, i, 2, true);
    uint64_t cut_at = sl_world_now(w);
    /* Wait for the first suspicion (not death: the timeout is >= 5 s). */
    while (wt.count[SL_EVENT_SUSPECT] == 0 && sl_world_now(w) < cut_at + 10000)
        sl_world_run_until(w, sl_world_now(w) + 100);
    assert_true(wt.count[SL_EVENT_SUSPECT] >= 1);
    assert_int_equal(wt.count[SL_EVENT_FAILED], 0);
    sl_world_heal(w);
    wait_all_see(w, "n2", SL_MEMBER_ALIVE, 10000);
    assert_int_equal(wt.count[SL_EVENT_FAILED], 0);
    assert_true(wt.count[SL_EVENT_ALIVE_AGAIN] >= 1);
    sl_incarnation after = sl_swim_incarnation(sl_world_core(w, 2));
    assert_true(sl_incarnation_cmp(after, before) > 0);
    assert_true(sl_swim_get_stats(sl_world_core(w, 2))->refutes >= 1);
    sl_world_free(w);
}

static void leave_spreads_as_left_not_failed(void **state)
{
    (void)state;
    watch wt = {.subject = "n4"};
    sl_world *w = make_world("lan", 4, &wt);
    add_nodes(w, 6);
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 10000));
    sl_world_leave(w, 4);
    wait_all_see(w, "n4", SL_MEMBER_LEFT, 10000);
    /* Give it time: a left member must never turn into a failed one. */
    sl_world_run_until(w, sl_world_now(w) + 60000);
    assert_true(sl_world_all_see(w, "n4", SL_MEMBER_LEFT));
    assert_int_equal(wt.count[SL_EVENT_FAILED], 0);
    assert_int_equal(wt.count[SL_EVENT_LEFT], 6); /* five others and n4 itself */
    sl_world_free(w);
}

static void restart_under_same_name_comes_back_alive(void **state)
{
    (void)state;
    watch wt = {.subject = "n1"};
    sl_world *w = make_world("lan", 5, &wt);
    add_nodes(w, 5);
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 10000));
    sl_world_crash(w, 1);
    wait_all_see(w, "n1", SL_MEMBER_DEAD, 60000);
    sl_world_restart(w, 1, 0);
    wait_all_see(w, "n1", SL_MEMBER_ALIVE, 10000);
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, sl_world_now(w) + 10000));
    /* The new life never had to refute its old death: its generation won. */
    assert_int_equal(sl_swim_get_stats(sl_world_core(w, 1))->refutes, 0);
    assert_int_equal(wt.count[SL_EVENT_ALIVE_AGAIN], 4);
    sl_world_free(w);
}

static void partition(sl_world *w, int split, int n, bool cut)
{
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            if ((a < split) != (b < split))
                sl_world_set_cut(w, a, b, cut);
}

static void two_way_partition_heals_through_pushpull(void **state)
{
    (void)state;
    sl_world *w = make_world("lan", 6, NULL);
    add_nodes(w, 6);
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 10000));
    partition(w, 3, 6, true);
    /* Each side declares the other dead. */
    uint64_t t0 = sl_world_now(w);
    bool split = false;
    while (!split && sl_world_now(w) < t0 + 120000) {
        sl_world_run_until(w, sl_world_now(w) + 1000);
        split = true;
        for (int a = 0; a < 6 && split; a++)
            for (int b = 0; b < 6 && split; b++) {
                sl_member_state st;
                if ((a < 3) != (b < 3))
                    split = sl_world_state_of(w, a, sl_world_name(w, b), &st) == 0 &&
                            st == SL_MEMBER_DEAD;
            }
    }
    assert_true(split);
    partition(w, 3, 6, false);
    /* Gossip alone cannot cross (each side gossips only to its live ones);
     * push-pull with the dead is what brings the two halves together. */
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, sl_world_now(w) + 120000));
    uint64_t merged = 0;
    for (int i = 0; i < 6; i++)
        merged += sl_swim_get_stats(sl_world_core(w, i))->pushpull_merged;
    assert_true(merged > 0);
    sl_world_free(w);
}

/* Adds n nodes started as `starling agent --join s1,s2` (node indices), each
 * joining on its own through the seeds, and waits until they converge. */
static void add_seeded_nodes(sl_world *w, int n, int s1, int s2)
{
    int seeds[] = {s1, s2};
    sl_world_seeds cfg = {
        .seeds = seeds, .nseeds = 2, .backoff_max_ms = 30000, .timeout_ms = 10000};
    assert_int_equal(sl_world_set_seeds(w, &cfg), 0);
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        assert_int_equal(sl_world_add_node(w, name, NULL, 0, -1), i);
    }
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 20000));
}

/* Nodes started as `starling agent --join n0,n3` join through the seeds on
 * their own (no sl_world_join), even those that boot before a seed does. */
static void nodes_join_through_seeds(void **state)
{
    (void)state;
    sl_world *w = make_world("lan", 12, NULL);
    add_seeded_nodes(w, 6, 3, 0);
    /* One round each; those of n0..n2 also tried n3 before it existed, and
     * end when that exchange times out, answered by the other seed (or by
     * themselves: n0 is a seed). */
    sl_world_run_until(w, 12000);
    const sl_world_rejoin_stats *st = sl_world_rejoin(w);
    assert_int_equal(st->rounds, 6);
    assert_int_equal(st->rounds_failed, 0);
    /* Crashed and restarted, a node comes back through the seeds too. */
    sl_world_crash(w, 5);
    wait_all_see(w, "n5", SL_MEMBER_DEAD, 60000);
    uint64_t rounds = st->rounds;
    sl_world_restart(w, 5, -1);
    wait_all_see(w, "n5", SL_MEMBER_ALIVE, 20000);
    assert_true(st->rounds > rounds);
    sl_world_free(w);
}

/* No node of n0..n2 knows any of n3..n5, nor the other way round. */
static bool sides_forgot_each_other(sl_world *w, void *ud)
{
    (void)ud;
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 6; b++) {
            sl_member_state st;
            if ((a < 3) != (b < 3) &&
                sl_world_state_of(w, a, sl_world_name(w, b), &st) != SL_ENOTFOUND)
                return false;
        }
    return true;
}

/* A partition that outlasts the reap time: each side has forgotten the
 * other when the network heals. The seeds' push-pull turns bring the sides
 * together within about one push-pull interval; the other side's members,
 * forgotten at the incarnation they still have, are taken from a push-pull
 * state (a live peer's view) though not from gossip. Before, the sides
 * stayed apart until the forgotten entries expired, another reap period. */
static void a_partition_longer_than_the_reap_time_heals(void **state)
{
    (void)state;
    sl_world_config wc = {.seed = 13, .latency_us = 1000, .jitter_us = 500};
    assert_int_equal(sl_swim_profile("lan", &wc.timing), 0);
    wc.timing.reap_ms = 120000;
    sl_world *w = sl_world_new(&wc);
    add_seeded_nodes(w, 6, 0, 3);
    partition(w, 3, 6, true);
    uint64_t cut_at = sl_world_now(w);
    /* Each side forgets the other: nobody knows anyone across (a reap time
     * after each side declared the other dead). */
    assert_true(sl_world_run_until_pred(w, sides_forgot_each_other, NULL, cut_at + 400000));
    partition(w, 3, 6, false);
    uint64_t healed = sl_world_now(w);
    /* Nodes of one side push-pull with the seed across every other
     * interval (2 x 30 s); the forgotten entries last another reap time,
     * until healed + 120 s. */
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, healed + 70000));
    sl_world_free(w);
}

static void metadata_update_reaches_everyone(void **state)
{
    (void)state;
    watch wt = {.subject = "n2"};
    sl_world *w = make_world("lan", 7, &wt);
    add_nodes(w, 8);
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 10000));
    sl_meta meta = {.slots = 4};
    strcpy(meta.zone, "zone-b");
    assert_int_equal(sl_meta_set_tag(&meta, "rack", "r7"), 0);
    uint8_t buf[SL_SWIM_META_MAX];
    int len = sl_meta_encode(&meta, buf, sizeof buf);
    assert_true(len > 0);
    assert_int_equal(sl_swim_set_meta(sl_world_core(w, 2), buf, (size_t)len, sl_world_now(w)), 0);
    uint64_t deadline = sl_world_now(w) + 10000;
    bool everywhere = false;
    while (!everywhere && sl_world_now(w) < deadline) {
        sl_world_run_until(w, sl_world_now(w) + 100);
        everywhere = true;
        for (int i = 0; i < 8; i++) {
            sl_member_view v;
            sl_meta got;
            assert_int_equal(sl_swim_find(sl_world_core(w, i), "n2", &v), 0);
            everywhere &= sl_meta_decode(v.meta, v.meta_len, &got) == 0 &&
                          !strcmp(got.zone, "zone-b") && got.slots == 4 && got.ntags == 1 &&
                          !strcmp(got.tags[0].value, "r7");
        }
    }
    assert_true(everywhere);
    assert_int_equal(wt.count[SL_EVENT_UPDATED], 7);
    /* Metadata too large for the core is refused at the source. */
    uint8_t big[SL_SWIM_META_MAX + 1] = {0};
    assert_int_equal(sl_swim_set_meta(sl_world_core(w, 2), big, sizeof big, sl_world_now(w)),
                     SL_EINVAL);
    sl_world_free(w);
}

/* Detection bound for 100 nodes, lan profile (probe 1 s, suspicion mult 4):
 *  - first probe of the crashed node: each of 99 members probes it once per
 *    round in a random place, so some member probes it within about one
 *    period (SWIM's e/(e-1) = 1.58 periods for random targets); plus the
 *    ping-req window closes one period later: allow 3 s;
 *  - suspicion timeout: 4 * log10(100) * 1 s = 8 s once k = 2 independent
 *    confirmations arrive, which other members' failed probes supply within
 *    a few seconds (about one probe of it per second);
 *  - dissemination of "dead": mult * ceil(log10(101)) = 12 transmissions per
 *    member, in gossip rounds of 200 ms to 3 members: O(log N) rounds, about
 *    1-2 s; allow 4 s.
 * Bound: 3 + 8 + 4 = 15 s from the crash until every member knows. */
static void hundred_nodes_converge_and_detect_within_bound(void **state)
{
    (void)state;
    watch wt = {.subject = "n42"};
    sl_world *w = make_world("lan", 8, &wt);
    add_nodes(w, 100);
    /* 99 simultaneous joins through one seed leave a few members unaware of
     * a few others (each update is retransmitted few times while everyone
     * still believes the cluster small); the periodic push-pull at 30 s
     * completes the picture. */
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 35000));
    uint64_t crash_at = sl_world_now(w);
    sl_world_crash(w, 42);
    wait_all_see(w, "n42", SL_MEMBER_DEAD, 15000);
    uint64_t all_ms = sl_world_now(w) - crash_at;
    print_message("100 nodes: first suspicion %llu ms, first dead %llu ms, all dead %llu ms\n",
                  (unsigned long long)(wt.first_ms[SL_EVENT_SUSPECT] - crash_at),
                  (unsigned long long)(wt.first_ms[SL_EVENT_FAILED] - crash_at),
                  (unsigned long long)all_ms);
    assert_true(all_ms <= 15000);
    assert_int_equal(wt.count[SL_EVENT_FAILED], 99);
    sl_world_free(w);
}

/* Two cores that share the same name from different addresses: reported as
 * a conflict, and the first owner keeps its place everywhere. */
static void name_conflict_is_reported_not_flapping(void **state)
{
    (void)state;
    watch wt = {.subject = "n1"};
    sl_world *w = make_world("lan", 9, &wt);
    add_nodes(w, 4);
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 10000));
    sl_member_view orig;
    assert_int_equal(sl_swim_find(sl_world_core(w, 0), "n1", &orig), 0);
    assert_int_equal(sl_world_add_node(w, "n1", NULL, 0, 0), 4);
    sl_world_run_until(w, sl_world_now(w) + 30000);
    assert_true(wt.count[SL_EVENT_CONFLICT] >= 1);
    assert_true(wt.count[SL_EVENT_CONFLICT] <= 10); /* reported, not repeated */
    for (int i = 0; i < 4; i++) {
        sl_member_view v;
        if (i == 1)
            continue;
        assert_int_equal(sl_swim_find(sl_world_core(w, i), "n1", &v), 0);
        assert_true(sl_addr_eq(&v.addr, &orig.addr));
        assert_int_equal(v.state, SL_MEMBER_ALIVE);
    }
    sl_world_free(w);
}

/* A reaped member never comes back from stale gossip. */
static void reaped_member_is_not_resurrected(void **state)
{
    (void)state;
    watch wt = {.subject = "n3"};
    sl_world_config cfg = {.seed = 10, .latency_us = 1000};
    assert_int_equal(sl_swim_profile("local", &cfg.timing), 0);
    cfg.timing.reap_ms = 20000;
    sl_world *w = sl_world_new(&cfg);
    sl_world_on_event(w, on_event, &wt);
    add_nodes(w, 5);
    assert_true(sl_world_run_until_pred(w, sl_world_converged, NULL, 10000));
    /* A stale alive about n3, captured now, to be replayed later. */
    sl_member_view v;
    assert_int_equal(sl_swim_find(sl_world_core(w, 0), "n3", &v), 0);
    sl_incarnation old = v.inc;
    sl_addr old_addr = v.addr;
    sl_world_crash(w, 3);
    wait_all_see(w, "n3", SL_MEMBER_DEAD, 60000);
    sl_world_run_until(w, sl_world_now(w) + 25000);
    assert_int_equal(wt.count[SL_EVENT_REAPED], 4);
    assert_int_equal(sl_swim_find(sl_world_core(w, 0), "n3", &v), SL_ENOTFOUND);
    /* Replay the stale alive as if a straggler gossiped it. */
    uint8_t pkt[256];
    int hl = sl_wire_put_header(pkt, sizeof pkt, "");
    sl_msg alive = {
        .type = SL_MSG_ALIVE, .name = "n3", .name_len = 2, .addr = old_addr, .inc = old};
    int ml = sl_wire_put_msg(pkt + hl, sizeof pkt - (size_t)hl, &alive);
    assert_true(hl > 0 && ml > 0);
    sl_swim *c0 = sl_world_core(w, 0);
    sl_swim_recv(c0, &old_addr, pkt, (size_t)(hl + ml), sl_world_now(w));
    assert_int_equal(sl_swim_find(c0, "n3", &v), SL_ENOTFOUND);
    assert_int_equal(wt.count[SL_EVENT_JOINED] - 4, 0); /* only the first joins */
    /* A real restart (a new generation) is welcome. */
    sl_world_restart(w, 3, 0);
    wait_all_see(w, "n3", SL_MEMBER_ALIVE, 10000);
    sl_world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(five_nodes_converge),
        cmocka_unit_test(crashed_node_is_declared_dead_by_all),
        cmocka_unit_test(suspected_alive_node_refutes),
        cmocka_unit_test(leave_spreads_as_left_not_failed),
        cmocka_unit_test(restart_under_same_name_comes_back_alive),
        cmocka_unit_test(two_way_partition_heals_through_pushpull),
        cmocka_unit_test(nodes_join_through_seeds),
        cmocka_unit_test(a_partition_longer_than_the_reap_time_heals),
        cmocka_unit_test(metadata_update_reaches_everyone),
        cmocka_unit_test(hundred_nodes_converge_and_detect_within_bound),
        cmocka_unit_test(name_conflict_is_reported_not_flapping),
        cmocka_unit_test(reaped_member_is_not_resurrected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
