/* The rejoin policy (gossip/rejoin.c) on a fake clock: the backoff of failed
 * join rounds per profile, its reset, the rejoin when no live peer is left,
 * the seed push-pull turns, the windows over remembered peers, nothing while
 * a round is in flight, and the same actions from the same seed. No sleeps:
 * the tests pass the time in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "starling/rejoin.h"

/* The inputs of one step. */
typedef struct fake {
    uint64_t now;
    size_t live;
    bool in_flight;
    int pp_out;
    uint32_t interval;
} fake;

static sl_rejoin_action step(sl_rejoin *r, const fake *f)
{
    sl_rejoin_input in = {.now_ms = f->now,
                          .live_peers = f->live,
                          .round_in_flight = f->in_flight,
                          .pp_out = f->pp_out,
                          .pushpull_interval_ms = f->interval};
    return sl_rejoin_step(r, &in);
}

static void init(sl_rejoin *r, int nseeds, size_t nknown, const char *profile, uint64_t seed)
{
    sl_rejoin_config cfg = {.nseeds = nseeds,
                            .nknown = nknown,
                            .backoff_max_ms = sl_rejoin_backoff_max_ms(profile),
                            .rng_seed = seed};
    sl_rejoin_init(r, &cfg);
}

/* Fails rounds one after another from the start and checks each backoff, and
 * that the next round starts exactly when it ends and not a millisecond
 * before. */
static void check_backoffs(const char *profile, const uint32_t *want, size_t n)
{
    sl_rejoin r;
    init(&r, 2, 0, profile, 1);
    fake f = {.now = 10000, .interval = 30000};
    sl_rejoin_action a = step(&r, &f);
    assert_int_equal(a.kind, SL_REJOIN_JOIN_SEEDS);
    for (size_t i = 0; i < n; i++) {
        f.now += 123; /* the round took a while */
        sl_rejoin_done d = sl_rejoin_round_done(&r, f.now, 0);
        assert_false(d.joined);
        assert_int_equal(d.retry_ms, want[i]);
        uint64_t due = f.now + want[i];
        f.now = due - 1;
        a = step(&r, &f);
        assert_int_equal(a.kind, SL_REJOIN_NONE);
        assert_int_equal(a.next_ms, due);
        f.now = due;
        a = step(&r, &f);
        assert_int_equal(a.kind, SL_REJOIN_JOIN_SEEDS);
        assert_false(a.lost_all); /* never joined yet */
    }
}

static void backoff_doubles_to_30s_on_lan(void **state)
{
    static const uint32_t want[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    assert_int_equal(sl_rejoin_backoff_max_ms("lan"), 30000);
    assert_int_equal(sl_rejoin_backoff_max_ms("wan"), 30000);
    assert_int_equal(sl_rejoin_backoff_max_ms(NULL), 30000);
    check_backoffs("lan", want, sizeof want / sizeof want[0]);
}

static void backoff_doubles_to_5s_on_local(void **state)
{
    static const uint32_t want[] = {1000, 2000, 4000, 5000, 5000};
    assert_int_equal(sl_rejoin_backoff_max_ms("local"), 5000);
    check_backoffs("local", want, sizeof want / sizeof want[0]);
}

static void success_resets_the_backoff(void **state)
{
    sl_rejoin r;
    init(&r, 1, 0, "lan", 1);
    fake f = {.now = 0, .interval = 0}; /* no seed push-pulls: rejoins at once */
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_JOIN_SEEDS);
    assert_int_equal(sl_rejoin_round_done(&r, f.now, 0).retry_ms, 1000);
    f.now += 1000;
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_JOIN_SEEDS);
    assert_int_equal(sl_rejoin_round_done(&r, f.now, 0).retry_ms, 2000);
    f.now += 2000;
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_JOIN_SEEDS);
    sl_rejoin_done d = sl_rejoin_round_done(&r, f.now, 1);
    assert_true(d.joined);
    assert_int_equal(d.retry_ms, 0);
    f.now += 500;
    f.live = 0; /* lost them again */
    sl_rejoin_action a = step(&r, &f);
    assert_int_equal(a.kind, SL_REJOIN_JOIN_SEEDS);
    assert_int_equal(sl_rejoin_round_done(&r, f.now, 0).retry_ms, 1000); /* from 1 s again */
}

static void rejoins_when_no_live_peer_is_left(void **state)
{
    /* Remembered peers, no seeds: no push-pull turns, so at once. */
    sl_rejoin r;
    init(&r, 0, 5, "lan", 7);
    fake f = {.now = 0, .interval = 30000};
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_JOIN_KNOWN);
    sl_rejoin_round_done(&r, 100, 2);
    f.live = 3;
    for (f.now = 500; f.now <= 60000; f.now += 500) {
        sl_rejoin_action a = step(&r, &f);
        assert_int_equal(a.kind, SL_REJOIN_NONE);
        assert_true(a.next_ms <= f.now + SL_REJOIN_CHECK_MS); /* keeps looking */
    }
    f.live = 0;
    sl_rejoin_action a = step(&r, &f);
    assert_int_equal(a.kind, SL_REJOIN_JOIN_KNOWN);
    assert_true(a.lost_all);
    /* The round fails: backing off, and no second "lost all". */
    sl_rejoin_round_done(&r, f.now, 0);
    f.now += 1000;
    a = step(&r, &f);
    assert_int_equal(a.kind, SL_REJOIN_JOIN_KNOWN);
    assert_false(a.lost_all);
}

static void with_seeds_rejoins_at_the_next_pushpull_turn(void **state)
{
    /* The one deadline of seeds.c: the turn after a push-pull is also when a
     * peer left alone rejoins. */
    sl_rejoin r;
    init(&r, 2, 0, "lan", 7);
    fake f = {.now = 0, .interval = 30000};
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_JOIN_SEEDS);
    sl_rejoin_round_done(&r, 100, 1);
    f.now = 500;
    f.live = 1;
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_PUSHPULL); /* due since the join */
    f.now = 1000;
    f.live = 0;
    sl_rejoin_action a = step(&r, &f);
    assert_int_equal(a.kind, SL_REJOIN_NONE);
    assert_int_equal(a.next_ms, 30500);
    f.now = 30500;
    a = step(&r, &f);
    assert_int_equal(a.kind, SL_REJOIN_JOIN_SEEDS);
    assert_true(a.lost_all);
}

static void pushpull_rotates_over_the_seeds_and_skips_us(void **state)
{
    sl_rejoin r;
    sl_rejoin_config cfg = {.nseeds = 3, .self_seeds = 1u << 1, .backoff_max_ms = 30000};
    sl_rejoin_init(&r, &cfg);
    fake f = {.now = 0, .interval = 1000};
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_JOIN_SEEDS);
    sl_rejoin_round_done(&r, 0, 1);
    f.live = 4;
    int seen[3] = {0}, turns = 0;
    for (f.now = 1000; f.now < 1000 + 30 * 1000; f.now += 250) {
        sl_rejoin_action a = step(&r, &f);
        if (f.now % 1000 == 0) {
            int want = (int)((f.now / 1000) % 3);
            turns++;
            if (want == 1) {
                assert_int_equal(a.kind, SL_REJOIN_NONE); /* ourselves */
            } else {
                assert_int_equal(a.kind, SL_REJOIN_PUSHPULL);
                assert_int_equal(a.seed, want);
                seen[a.seed]++;
            }
            assert_int_equal(a.next_ms, f.now + 500); /* the live count poll */
        } else {
            assert_int_equal(a.kind, SL_REJOIN_NONE); /* one per interval */
        }
    }
    assert_int_equal(turns, 30);
    assert_int_equal(seen[0], 10);
    assert_int_equal(seen[1], 0);
    assert_int_equal(seen[2], 10);
}

static void pushpull_respects_the_cap(void **state)
{
    sl_rejoin r;
    init(&r, 1, 0, "lan", 1);
    fake f = {.now = 0, .interval = 2000};
    step(&r, &f);
    sl_rejoin_round_done(&r, 0, 1);
    f.live = 1;
    f.pp_out = SL_REJOIN_PP_MAX;
    f.now = 100;
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_NONE);
    f.pp_out = SL_REJOIN_PP_MAX - 1;
    f.now = 200;
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_NONE); /* the turn was used up */
    f.now = 2100;
    sl_rejoin_action a = step(&r, &f);
    assert_int_equal(a.kind, SL_REJOIN_PUSHPULL);
    assert_int_equal(a.seed, 0);
}

static void windows_over_remembered_peers_reach_every_one(void **state)
{
    enum { N = 20 };
    sl_rejoin r;
    init(&r, 0, N, "local", 42);
    fake f = {.now = 0, .interval = 30000};
    bool tried[N] = {false};
    size_t starts = 0;
    bool start_seen[N] = {false};
    for (int round = 0; round < 40; round++) {
        sl_rejoin_action a = step(&r, &f);
        assert_int_equal(a.kind, SL_REJOIN_JOIN_KNOWN);
        assert_int_equal(a.count, SL_REJOIN_ROUND_MAX);
        assert_true(a.start < N);
        if (!start_seen[a.start])
            starts++;
        start_seen[a.start] = true;
        for (size_t i = 0; i < a.count; i++)
            tried[(a.start + i) % N] = true;
        sl_rejoin_done d = sl_rejoin_round_done(&r, f.now, 0);
        f.now += d.retry_ms;
    }
    for (int i = 0; i < N; i++)
        assert_true(tried[i]);
    assert_true(starts > 5); /* the start moves, it is not one window */

    /* Fewer than ROUND_MAX: every one of them in every round. */
    init(&r, 0, 3, "lan", 42);
    f.now = 0;
    sl_rejoin_action a = step(&r, &f);
    assert_int_equal(a.kind, SL_REJOIN_JOIN_KNOWN);
    assert_int_equal(a.count, 3);
    assert_true(a.start < 3);
}

static void nothing_while_a_round_is_in_flight(void **state)
{
    sl_rejoin r;
    init(&r, 1, 0, "lan", 1);
    fake f = {.now = 0, .interval = 1000};
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_JOIN_SEEDS);
    f.in_flight = true;
    for (f.now = 500; f.now < 100000; f.now += 500) {
        f.live = (f.now / 500) % 2; /* alone or not, nothing starts */
        sl_rejoin_action a = step(&r, &f);
        assert_int_equal(a.kind, SL_REJOIN_NONE);
        assert_int_equal(a.next_ms, f.now + SL_REJOIN_CHECK_MS);
    }
    /* A round that could not start at all: asked for again at the next step. */
    f.in_flight = false;
    f.live = 0;
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_JOIN_SEEDS);
    f.now += SL_REJOIN_CHECK_MS;
    assert_int_equal(step(&r, &f).kind, SL_REJOIN_JOIN_SEEDS);
}

static void nothing_to_join_never_calls_back(void **state)
{
    sl_rejoin r;
    init(&r, 0, 0, "lan", 1);
    assert_false(sl_rejoin_enabled(&r));
    fake f = {.now = 0, .interval = 1000};
    sl_rejoin_action a = step(&r, &f);
    assert_int_equal(a.kind, SL_REJOIN_NONE);
    assert_true(a.next_ms == SL_REJOIN_NEVER);
}

/* Runs a fixed script of inputs and writes every action into out. */
static void script(uint64_t seed, sl_rejoin_action *out, int n)
{
    sl_rejoin r;
    init(&r, 0, 50, "lan", seed);
    fake f = {.now = 0, .interval = 30000};
    for (int i = 0; i < n; i++) {
        out[i] = step(&r, &f);
        if (out[i].kind == SL_REJOIN_JOIN_KNOWN)
            f.now += sl_rejoin_round_done(&r, f.now, i % 3 == 2).retry_ms;
        f.live = i % 3 == 2 && i % 5 ? 1 : 0;
        f.now += 500;
    }
}

static void same_seed_same_actions(void **state)
{
    enum { N = 200 };
    static sl_rejoin_action a[N], b[N], c[N];
    script(99, a, N);
    script(99, b, N);
    script(100, c, N);
    for (int i = 0; i < N; i++) { /* field by field: the padding may differ */
        assert_int_equal(a[i].kind, b[i].kind);
        assert_int_equal(a[i].start, b[i].start);
        assert_int_equal(a[i].count, b[i].count);
        assert_int_equal(a[i].seed, b[i].seed);
        assert_int_equal(a[i].lost_all, b[i].lost_all);
        assert_int_equal(a[i].next_ms, b[i].next_ms);
    }
    bool differ = false;
    for (int i = 0; i < N; i++)
        differ |= a[i].kind == SL_REJOIN_JOIN_KNOWN && a[i].start != c[i].start;
    assert_true(differ);
}

static void a_seed_at_our_address_is_us(void **state)
{
    sl_addr adv = sl_addr_v4(127, 0, 0, 1, 7946);
    assert_true(sl_rejoin_seed_is_self("127.0.0.1:7946", &adv));
    assert_false(sl_rejoin_seed_is_self("127.0.0.1:7947", &adv));
    assert_false(sl_rejoin_seed_is_self("127.0.0.2:7946", &adv));
    assert_false(sl_rejoin_seed_is_self("localhost:7946", &adv)); /* names are not resolved */
    assert_string_equal(sl_rejoin_kind_names[SL_REJOIN_PUSHPULL], "pushpull");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_doubles_to_30s_on_lan),
        cmocka_unit_test(backoff_doubles_to_5s_on_local),
        cmocka_unit_test(success_resets_the_backoff),
        cmocka_unit_test(rejoins_when_no_live_peer_is_left),
        cmocka_unit_test(with_seeds_rejoins_at_the_next_pushpull_turn),
        cmocka_unit_test(pushpull_rotates_over_the_seeds_and_skips_us),
        cmocka_unit_test(pushpull_respects_the_cap),
        cmocka_unit_test(windows_over_remembered_peers_reach_every_one),
        cmocka_unit_test(nothing_while_a_round_is_in_flight),
        cmocka_unit_test(nothing_to_join_never_calls_back),
        cmocka_unit_test(same_seed_same_actions),
        cmocka_unit_test(a_seed_at_our_address_is_us),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
